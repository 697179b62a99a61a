#include "gb_messages.h"

/* Little-endian field access, byte by byte: no struct overlays, no alignment or endianness
 * assumptions, so the same code runs on the AVR and on the host. */
typedef struct {
    uint8_t *p;
} wr_t;
typedef struct {
    const uint8_t *p;
} rd_t;

static void put8(wr_t *w, uint8_t v) { *w->p++ = v; }
static void put16(wr_t *w, uint16_t v)
{
    put8(w, (uint8_t)v);
    put8(w, (uint8_t)(v >> 8));
}
static void put32(wr_t *w, uint32_t v)
{
    put16(w, (uint16_t)v);
    put16(w, (uint16_t)(v >> 16));
}
static uint8_t get8(rd_t *r) { return *r->p++; }
static uint16_t get16(rd_t *r)
{
    uint16_t lo = get8(r);
    return (uint16_t)(lo | (uint16_t)get8(r) << 8);
}
static uint32_t get32(rd_t *r)
{
    uint32_t lo = get16(r);
    return lo | (uint32_t)get16(r) << 16;
}

int gb_payload_size(uint8_t type)
{
    switch (type) {
    case GB_MSG_HELLO: return GB_PAYLOAD_SIZE_HELLO;
    case GB_MSG_HEARTBEAT: return GB_PAYLOAD_SIZE_HEARTBEAT;
    case GB_MSG_DRIVE: return GB_PAYLOAD_SIZE_DRIVE;
    case GB_MSG_WATER: return GB_PAYLOAD_SIZE_WATER;
    case GB_MSG_STOP: return GB_PAYLOAD_SIZE_STOP;
    case GB_MSG_HELLO_REPLY: return GB_PAYLOAD_SIZE_HELLO_REPLY;
    case GB_MSG_TELEMETRY: return GB_PAYLOAD_SIZE_TELEMETRY;
    case GB_MSG_ACK: return GB_PAYLOAD_SIZE_ACK;
    case GB_MSG_NAK: return GB_PAYLOAD_SIZE_NAK;
    default: return -1;
    }
}

uint8_t gb_msg_parse(const gb_frame_t *f, gb_msg_t *m)
{
    int size = gb_payload_size(f->type);
    if (size < 0)
        return GB_NAK_UNKNOWN_TYPE;
    if (size != f->payload_len)
        return GB_NAK_BAD_LENGTH;
    rd_t r = {f->payload};
    m->type = f->type;
    m->seq = f->seq;
    switch (f->type) {
    case GB_MSG_HEARTBEAT:
        m->u.heartbeat.estop_action = get8(&r);
        break;
    case GB_MSG_DRIVE:
        m->u.drive.v_mmps = (int16_t)get16(&r);
        m->u.drive.omega_mradps = (int16_t)get16(&r);
        m->u.drive.ttl_ms = get16(&r);
        break;
    case GB_MSG_WATER:
        m->u.water.zone = get8(&r);
        m->u.water.duration_ms = get16(&r);
        break;
    case GB_MSG_HELLO_REPLY: {
        gb_hello_reply_t *h = &m->u.hello_reply;
        h->hello_seq = get16(&r);
        h->protocol_version = get8(&r);
        h->board = get8(&r);
        h->firmware_version = get16(&r);
        h->uptime_ms = get32(&r);
        h->heartbeat_timeout_ms = get16(&r);
        h->drive_ttl_max_ms = get16(&r);
        h->max_wheel_speed_mmps = get16(&r);
        h->pump_max_on_ms = get16(&r);
        h->telemetry_period_ms = get16(&r);
        break;
    }
    case GB_MSG_TELEMETRY: {
        gb_telemetry_t *t = &m->u.telemetry;
        t->uptime_ms = get32(&r);
        t->left_ticks = (int32_t)get32(&r);
        t->right_ticks = (int32_t)get32(&r);
        t->motor_left_mmps = (int16_t)get16(&r);
        t->motor_right_mmps = (int16_t)get16(&r);
        t->current_left_ma = get16(&r);
        t->current_right_ma = get16(&r);
        t->bumper_bits = get8(&r);
        t->pump_zone = get8(&r);
        t->pump_remaining_ms = get16(&r);
        t->pump_budget_ms = get16(&r);
        for (uint8_t i = 0; i < GB_N_MOISTURE; i++)
            t->moisture_permille[i] = get16(&r);
        t->battery_mv = get16(&r);
        t->estop_latched = get8(&r);
        t->estop_reasons = get8(&r);
        t->fault_flags = get8(&r);
        t->failsafe_count = get16(&r);
        t->failsafe_age_ms = get16(&r);
        t->rx_errors = get16(&r);
        break;
    }
    case GB_MSG_ACK:
        m->u.ack.acked_seq = get16(&r);
        m->u.ack.acked_type = get8(&r);
        break;
    case GB_MSG_NAK:
        m->u.nak.acked_seq = get16(&r);
        m->u.nak.acked_type = get8(&r);
        m->u.nak.error = get8(&r);
        break;
    default: /* HELLO, STOP: no payload */
        break;
    }
    return 0;
}

uint8_t gb_msg_pack(const gb_msg_t *m, uint8_t *out)
{
    wr_t w = {out};
    switch (m->type) {
    case GB_MSG_HEARTBEAT:
        put8(&w, m->u.heartbeat.estop_action);
        break;
    case GB_MSG_DRIVE:
        put16(&w, (uint16_t)m->u.drive.v_mmps);
        put16(&w, (uint16_t)m->u.drive.omega_mradps);
        put16(&w, m->u.drive.ttl_ms);
        break;
    case GB_MSG_WATER:
        put8(&w, m->u.water.zone);
        put16(&w, m->u.water.duration_ms);
        break;
    case GB_MSG_HELLO_REPLY: {
        const gb_hello_reply_t *h = &m->u.hello_reply;
        put16(&w, h->hello_seq);
        put8(&w, h->protocol_version);
        put8(&w, h->board);
        put16(&w, h->firmware_version);
        put32(&w, h->uptime_ms);
        put16(&w, h->heartbeat_timeout_ms);
        put16(&w, h->drive_ttl_max_ms);
        put16(&w, h->max_wheel_speed_mmps);
        put16(&w, h->pump_max_on_ms);
        put16(&w, h->telemetry_period_ms);
        break;
    }
    case GB_MSG_TELEMETRY: {
        const gb_telemetry_t *t = &m->u.telemetry;
        put32(&w, t->uptime_ms);
        put32(&w, (uint32_t)t->left_ticks);
        put32(&w, (uint32_t)t->right_ticks);
        put16(&w, (uint16_t)t->motor_left_mmps);
        put16(&w, (uint16_t)t->motor_right_mmps);
        put16(&w, t->current_left_ma);
        put16(&w, t->current_right_ma);
        put8(&w, t->bumper_bits);
        put8(&w, t->pump_zone);
        put16(&w, t->pump_remaining_ms);
        put16(&w, t->pump_budget_ms);
        for (uint8_t i = 0; i < GB_N_MOISTURE; i++)
            put16(&w, t->moisture_permille[i]);
        put16(&w, t->battery_mv);
        put8(&w, t->estop_latched);
        put8(&w, t->estop_reasons);
        put8(&w, t->fault_flags);
        put16(&w, t->failsafe_count);
        put16(&w, t->failsafe_age_ms);
        put16(&w, t->rx_errors);
        break;
    }
    case GB_MSG_ACK:
        put16(&w, m->u.ack.acked_seq);
        put8(&w, m->u.ack.acked_type);
        break;
    case GB_MSG_NAK:
        put16(&w, m->u.nak.acked_seq);
        put8(&w, m->u.nak.acked_type);
        put8(&w, m->u.nak.error);
        break;
    default:
        break;
    }
    return (uint8_t)(w.p - out);
}
