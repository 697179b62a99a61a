#include "gb_core.h"

#include <string.h>

#include "gb_messages.h"
#include "gb_mul.h"

#define PUMP_BUDGET_FULL ((uint32_t)GB_PUMP_MAX_ON_MS * GB_PUMP_REFILL_DIVISOR)

/* Time comparisons survive the 49-day wrap of a 32-bit millisecond clock. */
static int32_t since(uint32_t now, uint32_t then) { return (int32_t)(now - then); }

static void send(gb_core_t *c, const gb_msg_t *m)
{
    uint8_t payload[GB_MAX_PAYLOAD_SIZE];
    uint8_t frame[GB_MAX_FRAME_SIZE];
    uint8_t n = gb_msg_pack(m, payload);
    uint8_t len = gb_frame_encode(m->type, c->tx_seq++, payload, n, frame);
    c->tx(frame, len, c->tx_ctx);
}

static void send_answer(gb_core_t *c, const gb_answer_t *a)
{
    gb_msg_t m;
    if (a->error == 0) {
        m.type = GB_MSG_ACK;
        m.u.ack.acked_seq = a->seq;
        m.u.ack.acked_type = a->type;
    } else {
        m.type = GB_MSG_NAK;
        m.u.nak.acked_seq = a->seq;
        m.u.nak.acked_type = a->type;
        m.u.nak.error = a->error;
    }
    send(c, &m);
}

static void answer(gb_core_t *c, uint16_t seq, uint8_t type, uint8_t error)
{
    gb_answer_t a = {seq, type, error};
    send_answer(c, &a);
}

static void reject(gb_core_t *c, uint16_t seq, uint8_t type, uint8_t error)
{
    c->rx_errors++;
    answer(c, seq, type, error);
}

static void send_hello_reply(gb_core_t *c, uint16_t hello_seq)
{
    gb_msg_t m;
    gb_hello_reply_t *h = &m.u.hello_reply;
    m.type = GB_MSG_HELLO_REPLY;
    h->hello_seq = hello_seq;
    h->protocol_version = GB_PROTOCOL_VERSION;
    h->board = c->board;
    h->firmware_version = GB_FIRMWARE_VERSION;
    h->uptime_ms = c->last_ms - c->boot_ms;
    h->heartbeat_timeout_ms = GB_HEARTBEAT_TIMEOUT_MS;
    h->drive_ttl_max_ms = GB_DRIVE_TTL_MAX_MS;
    h->max_wheel_speed_mmps = GB_MAX_WHEEL_SPEED_MMPS;
    h->pump_max_on_ms = GB_PUMP_MAX_ON_MS;
    h->telemetry_period_ms = GB_TELEMETRY_PERIOD_MS;
    send(c, &m);
}

static void halt(gb_core_t *c)
{
    c->motor_left_mmps = 0;
    c->motor_right_mmps = 0;
    c->drive_until_ms = c->last_ms;
    c->pump_zone = GB_PUMP_CLOSED;
}

void gb_core_init(gb_core_t *c, uint8_t board, uint32_t now_ms, gb_tx_fn tx, void *tx_ctx)
{
    memset(c, 0, sizeof *c);
    c->board = board;
    c->boot_ms = c->last_ms = c->last_hb_ms = now_ms;
    c->estop_latched = 1;
    c->estop_reasons = GB_ESTOP_REASON_BOOT;
    c->pump_zone = GB_PUMP_CLOSED;
    c->pump_budget = PUMP_BUDGET_FULL;
    c->telemetry_due_ms = now_ms + GB_TELEMETRY_PERIOD_MS;
    c->tx = tx;
    c->tx_ctx = tx_ctx;
}

void gb_core_announce(gb_core_t *c) { send_hello_reply(c, (uint16_t)GB_NO_SEQ); }

/* Let time pass: pump budget, heartbeat failsafe, Drive and pump expiry. */
static void advance(gb_core_t *c, uint32_t now)
{
    int32_t dt = since(now, c->last_ms);
    if (dt < 0)
        return;
    uint32_t prev = c->last_ms;
    c->last_ms = now;

    uint32_t on = 0;
    if (c->pump_zone != GB_PUMP_CLOSED)
        on = (since(c->pump_until_ms, now) < 0 ? c->pump_until_ms : now) - prev;
    uint32_t cost = on * GB_PUMP_REFILL_DIVISOR;
    uint32_t budget = c->pump_budget > cost ? c->pump_budget - cost : 0;
    budget += (uint32_t)dt - on;
    c->pump_budget = budget > PUMP_BUDGET_FULL ? PUMP_BUDGET_FULL : budget;

    /* Watched only while unlatched: latched, everything is off already. The release that
     * clears the latch is itself a Heartbeat, so the watch starts fresh. */
    if (!c->estop_latched && since(now, c->last_hb_ms) >= GB_HEARTBEAT_TIMEOUT_MS) {
        uint32_t age = now - c->last_hb_ms;
        c->estop_latched = 1;
        c->estop_reasons |= GB_ESTOP_REASON_HEARTBEAT_LOST;
        c->failsafe_count++;
        c->failsafe_age_ms = age > 0xFFFFu ? 0xFFFFu : (uint16_t)age;
    }
    if (since(now, c->drive_until_ms) >= 0) {
        c->motor_left_mmps = 0;
        c->motor_right_mmps = 0;
    }
    if (c->pump_zone != GB_PUMP_CLOSED && since(now, c->pump_until_ms) >= 0)
        c->pump_zone = GB_PUMP_CLOSED;
    if (c->estop_latched)
        halt(c);
}

/* How much faster the right wheel turns than the middle of the axle, and the left one slower:
 * omega * TRACK_WIDTH_MM / 2000, rounded toward zero. */
static int32_t turn_mmps(int16_t omega_mradps)
{
    return gb_mul_i16_u16(omega_mradps, GB_TRACK_WIDTH_MM) / 2000;
}

static uint8_t out_of_range(const gb_msg_t *m)
{
    switch (m->type) {
    case GB_MSG_HEARTBEAT:
        return m->u.heartbeat.estop_action > GB_ESTOP_ACTION_RELEASE;
    case GB_MSG_DRIVE: {
        const gb_drive_t *d = &m->u.drive;
        if (d->ttl_ms < 1 || d->ttl_ms > GB_DRIVE_TTL_MAX_MS)
            return 1;
        int32_t turn = turn_mmps(d->omega_mradps);
        int32_t left = d->v_mmps - turn, right = d->v_mmps + turn;
        return left > GB_MAX_WHEEL_SPEED_MMPS || left < -GB_MAX_WHEEL_SPEED_MMPS ||
               right > GB_MAX_WHEEL_SPEED_MMPS || right < -GB_MAX_WHEEL_SPEED_MMPS;
    }
    case GB_MSG_WATER:
        return m->u.water.zone >= GB_N_ZONES || m->u.water.duration_ms < 1 ||
               m->u.water.duration_ms > GB_PUMP_MAX_ON_MS;
    default:
        return 0;
    }
}

/* Run a command; returns 1 and fills *a if it must be answered. */
static uint8_t execute(gb_core_t *c, const gb_msg_t *m, uint32_t now, gb_answer_t *a)
{
    a->seq = m->seq;
    a->type = m->type;
    a->error = 0;
    if (out_of_range(m)) {
        a->error = GB_NAK_OUT_OF_RANGE;
        return 1;
    }
    switch (m->type) {
    case GB_MSG_HEARTBEAT:
        c->last_hb_ms = now;
        if (m->u.heartbeat.estop_action == GB_ESTOP_ACTION_NONE)
            return 0;
        if (m->u.heartbeat.estop_action == GB_ESTOP_ACTION_REQUEST) {
            c->estop_latched = 1;
            c->estop_reasons |= GB_ESTOP_REASON_HOST_REQUEST;
            halt(c);
        } else {
            c->estop_latched = 0;
            c->estop_reasons = 0;
        }
        return 1;
    case GB_MSG_DRIVE: {
        if (c->estop_latched) {
            a->error = GB_NAK_ESTOP_LATCHED;
            return 1;
        }
        int16_t turn = (int16_t)turn_mmps(m->u.drive.omega_mradps); /* in range: checked */
        c->motor_left_mmps = (int16_t)(m->u.drive.v_mmps - turn);
        c->motor_right_mmps = (int16_t)(m->u.drive.v_mmps + turn);
        c->drive_until_ms = now + m->u.drive.ttl_ms;
        return 1;
    }
    case GB_MSG_WATER:
        if (c->estop_latched) {
            a->error = GB_NAK_ESTOP_LATCHED;
        } else if (c->pump_zone != GB_PUMP_CLOSED ||
                   (uint32_t)m->u.water.duration_ms * GB_PUMP_REFILL_DIVISOR > c->pump_budget) {
            a->error = GB_NAK_BUSY;
        } else {
            c->pump_zone = m->u.water.zone;
            c->pump_until_ms = now + m->u.water.duration_ms;
        }
        return 1;
    case GB_MSG_STOP:
        halt(c);
        return 1;
    default:
        return 0;
    }
}

/* Whether the answer memory applies to m. Not to a Stop or an e-stop request: they act every
 * time (stopping twice is harmless; a Stop that does not stop is not). Not to a plain Heartbeat,
 * which is not answered. Not to NO_SEQ, which has nothing to recognise a retransmission by. */
static uint8_t memorable(const gb_msg_t *m)
{
    if (m->seq == GB_NO_SEQ || m->type == GB_MSG_STOP)
        return 0;
    if (m->type == GB_MSG_HEARTBEAT)
        return m->u.heartbeat.estop_action != GB_ESTOP_ACTION_NONE &&
               m->u.heartbeat.estop_action != GB_ESTOP_ACTION_REQUEST;
    return 1;
}

/* The remembered command with this seq, if one is young enough; at most one is (a second
 * command under a remembered seq is refused, never remembered). */
static const gb_remembered_t *recall(const gb_core_t *c, uint16_t seq, uint32_t now)
{
    for (uint8_t i = 0; i < c->remembered_count; i++) {
        const gb_remembered_t *r = &c->remembered[i];
        if (r->seq == seq && since(now, r->at_ms) <= GB_DEDUPE_MAX_AGE_MS)
            return r;
    }
    return 0;
}

static void remember(gb_core_t *c, const gb_frame_t *f, uint32_t now)
{
    gb_remembered_t *r = &c->remembered[c->remembered_next];
    r->seq = f->seq;
    r->type = f->type;
    memcpy(r->payload, f->payload, f->payload_len); /* parsed: at most the longest command */
    r->at_ms = now;
    c->remembered_next = (uint8_t)((c->remembered_next + 1) % GB_DEDUPE_DEPTH);
    if (c->remembered_count < GB_DEDUPE_DEPTH)
        c->remembered_count++;
}

static void handle_chunk(gb_core_t *c, uint32_t now)
{
    gb_frame_t f;
    gb_msg_t m;
    switch (gb_frame_decode(c->rx_buf, c->rx_len, &f)) {
    case GB_FRAME_OK:
        break;
    case GB_FRAME_BAD_CRC:
        reject(c, f.seq, f.type, GB_NAK_BAD_CRC);
        return;
    case GB_FRAME_BAD_VERSION:
        reject(c, f.seq, f.type, GB_NAK_BAD_VERSION);
        return;
    default: /* nothing readable to answer to */
        c->rx_errors++;
        return;
    }
    if (f.type >= 0x80 || gb_payload_size(f.type) < 0) {
        reject(c, f.seq, f.type, GB_NAK_UNKNOWN_TYPE);
        return;
    }
    if (gb_msg_parse(&f, &m) != 0) {
        reject(c, f.seq, f.type, GB_NAK_BAD_LENGTH);
        return;
    }
    if (m.type == GB_MSG_HELLO) {
        c->remembered_count = 0;
        c->remembered_next = 0;
        send_hello_reply(c, m.seq);
        return;
    }
    uint8_t memo = memorable(&m);
    if (memo) {
        const gb_remembered_t *r = recall(c, m.seq, now);
        if (r && r->type == f.type && memcmp(r->payload, f.payload, f.payload_len) == 0) {
            answer(c, m.seq, m.type, 0); /* a retransmission: answer again, do nothing again */
            return;
        }
        if (r) {
            answer(c, m.seq, m.type, GB_NAK_SEQ_REUSED); /* another command: run neither twice */
            return;
        }
    }
    gb_answer_t a;
    if (!execute(c, &m, now, &a))
        return;
    if (memo && a.error == 0) /* a refusal changed nothing: a retransmission is judged again */
        remember(c, &f, now);
    send_answer(c, &a);
}

void gb_core_rx(gb_core_t *c, const uint8_t *data, size_t len, uint32_t now_ms)
{
    advance(c, now_ms);
    for (size_t i = 0; i < len; i++) {
        uint8_t b = data[i];
        if (b == 0) {
            if (c->rx_discarding)
                c->rx_discarding = 0;
            else if (c->rx_len)
                handle_chunk(c, now_ms);
            c->rx_len = 0;
        } else if (!c->rx_discarding) {
            if (c->rx_len == GB_MAX_ENCODED_SIZE) {
                c->rx_errors++; /* overflow: drop everything up to the next delimiter */
                c->rx_discarding = 1;
                c->rx_len = 0;
            } else {
                c->rx_buf[c->rx_len++] = b;
            }
        }
    }
}

void gb_core_tick(gb_core_t *c, uint32_t now_ms, const gb_sensors_t *s)
{
    advance(c, now_ms);
    c->rx_overflow |= s->rx_overflow; /* reported once, in the next Telemetry */
    if (since(now_ms, c->telemetry_due_ms) < 0)
        return;
    c->telemetry_due_ms += GB_TELEMETRY_PERIOD_MS;
    if (since(c->telemetry_due_ms, now_ms) <= 0)
        c->telemetry_due_ms = now_ms + GB_TELEMETRY_PERIOD_MS;

    gb_msg_t m;
    gb_telemetry_t *t = &m.u.telemetry;
    m.type = GB_MSG_TELEMETRY;
    t->uptime_ms = now_ms - c->boot_ms;
    t->left_ticks = s->left_ticks;
    t->right_ticks = s->right_ticks;
    t->motor_left_mmps = c->motor_left_mmps;
    t->motor_right_mmps = c->motor_right_mmps;
    t->current_left_ma = s->current_left_ma;
    t->current_right_ma = s->current_right_ma;
    t->bumper_bits = s->bumper_bits;
    t->pump_zone = c->pump_zone;
    t->pump_remaining_ms =
        c->pump_zone != GB_PUMP_CLOSED ? (uint16_t)(c->pump_until_ms - now_ms) : 0;
    t->pump_budget_ms = (uint16_t)(c->pump_budget / GB_PUMP_REFILL_DIVISOR);
    for (uint8_t i = 0; i < GB_N_MOISTURE; i++)
        t->moisture_permille[i] = s->moisture_permille[i];
    t->battery_mv = s->battery_mv;
    t->estop_latched = c->estop_latched;
    t->estop_reasons = c->estop_reasons;
    t->fault_flags = 0;
    if (s->current_left_ma >= GB_OVERCURRENT_MA)
        t->fault_flags |= GB_FAULT_OVERCURRENT_LEFT;
    if (s->current_right_ma >= GB_OVERCURRENT_MA)
        t->fault_flags |= GB_FAULT_OVERCURRENT_RIGHT;
    if (s->battery_mv < GB_LOW_BATTERY_MV)
        t->fault_flags |= GB_FAULT_LOW_BATTERY;
    if (c->rx_overflow)
        t->fault_flags |= GB_FAULT_RX_OVERFLOW;
    c->rx_overflow = 0;
    t->failsafe_count = c->failsafe_count;
    t->failsafe_age_ms = c->failsafe_age_ms;
    t->rx_errors = c->rx_errors;
    send(c, &m);
}
