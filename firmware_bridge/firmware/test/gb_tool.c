/* Host-side test tool for the firmware's protocol code; the Python tests drive it through pipes
 * and compare its answers with the golden vectors and with the Python twin of the core.
 *
 *   gb_tool decode        hex frame per line  -> "ok TYPE seq=N field=value ..." | "err REASON"
 *   gb_tool encode        "TYPE seq=N field=value ..." per line -> hex wire frame
 *   gb_tool cobs-encode   hex per line -> hex
 *   gb_tool cobs-decode   hex per line -> hex | "err cobs"
 *   gb_tool crc           hex per line -> CRC-16 as 4 hex digits
 *   gb_tool core          a script (see run_core) -> one "out HEX" line per step
 * Field names and reasons are the Python ones (firmware_bridge/messages.py, FrameError). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gb_cobs.h"
#include "gb_core.h"
#include "gb_crc16.h"
#include "gb_messages.h"

#define LINE 8192

static int from_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    while (*s && *s != '\n' && *s != ' ') {
        unsigned v;
        if (n >= cap || !isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) ||
            sscanf(s, "%2x", &v) != 1)
            return -1;
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return (int)n;
}

static void print_hex(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", d[i]);
}

static const char *type_name(uint8_t t)
{
    switch (t) {
    case GB_MSG_HELLO: return "HELLO";
    case GB_MSG_HEARTBEAT: return "HEARTBEAT";
    case GB_MSG_DRIVE: return "DRIVE";
    case GB_MSG_WATER: return "WATER";
    case GB_MSG_STOP: return "STOP";
    case GB_MSG_HELLO_REPLY: return "HELLO_REPLY";
    case GB_MSG_TELEMETRY: return "TELEMETRY";
    case GB_MSG_ACK: return "ACK";
    case GB_MSG_NAK: return "NAK";
    default: return NULL;
    }
}

static void print_msg(const gb_msg_t *m)
{
    printf("ok %s seq=%u", type_name(m->type), m->seq);
    switch (m->type) {
    case GB_MSG_HEARTBEAT:
        printf(" estop_action=%u", m->u.heartbeat.estop_action);
        break;
    case GB_MSG_DRIVE:
        printf(" v_mmps=%d omega_mradps=%d ttl_ms=%u", m->u.drive.v_mmps, m->u.drive.omega_mradps,
               m->u.drive.ttl_ms);
        break;
    case GB_MSG_WATER:
        printf(" zone=%u duration_ms=%u", m->u.water.zone, m->u.water.duration_ms);
        break;
    case GB_MSG_HELLO_REPLY: {
        const gb_hello_reply_t *h = &m->u.hello_reply;
        printf(" hello_seq=%u protocol_version=%u board=%u firmware_version=%u uptime_ms=%lu"
               " heartbeat_timeout_ms=%u drive_ttl_max_ms=%u max_wheel_speed_mmps=%u"
               " pump_max_on_ms=%u telemetry_period_ms=%u",
               h->hello_seq, h->protocol_version, h->board, h->firmware_version,
               (unsigned long)h->uptime_ms, h->heartbeat_timeout_ms, h->drive_ttl_max_ms,
               h->max_wheel_speed_mmps, h->pump_max_on_ms, h->telemetry_period_ms);
        break;
    }
    case GB_MSG_TELEMETRY: {
        const gb_telemetry_t *t = &m->u.telemetry;
        printf(" uptime_ms=%lu left_ticks=%ld right_ticks=%ld motor_left_mmps=%d"
               " motor_right_mmps=%d current_left_ma=%u current_right_ma=%u bumper_bits=%u"
               " pump_zone=%u pump_remaining_ms=%u pump_budget_ms=%u moisture_permille=",
               (unsigned long)t->uptime_ms, (long)t->left_ticks, (long)t->right_ticks,
               t->motor_left_mmps, t->motor_right_mmps, t->current_left_ma, t->current_right_ma,
               t->bumper_bits, t->pump_zone, t->pump_remaining_ms, t->pump_budget_ms);
        for (int i = 0; i < GB_N_MOISTURE; i++)
            printf(i ? ",%u" : "%u", t->moisture_permille[i]);
        printf(" battery_mv=%u estop_latched=%u estop_reasons=%u fault_flags=%u"
               " failsafe_count=%u failsafe_age_ms=%u rx_errors=%u",
               t->battery_mv, t->estop_latched, t->estop_reasons, t->fault_flags,
               t->failsafe_count, t->failsafe_age_ms, t->rx_errors);
        break;
    }
    case GB_MSG_ACK:
        printf(" acked_seq=%u acked_type=%u", m->u.ack.acked_seq, m->u.ack.acked_type);
        break;
    case GB_MSG_NAK:
        printf(" acked_seq=%u acked_type=%u error=%u", m->u.nak.acked_seq, m->u.nak.acked_type,
               m->u.nak.error);
        break;
    default:
        break;
    }
    printf("\n");
}

static void decode_line(const char *line)
{
    uint8_t buf[LINE / 2];
    int n = from_hex(line, buf, sizeof buf);
    if (n < 0) {
        printf("err hex\n");
        return;
    }
    if (n > 0 && buf[n - 1] == 0) /* the delimiter is optional */
        n--;
    for (int i = 0; i < n; i++) {
        if (buf[i] == 0) {
            printf("err cobs\n");
            return;
        }
    }
    if (n > GB_MAX_ENCODED_SIZE) {
        printf("err overflow\n");
        return;
    }
    gb_frame_t f;
    switch (gb_frame_decode(buf, (size_t)n, &f)) {
    case GB_FRAME_OK: break;
    case GB_FRAME_COBS: printf("err cobs\n"); return;
    case GB_FRAME_SHORT: printf("err short\n"); return;
    case GB_FRAME_BAD_CRC: printf("err bad_crc\n"); return;
    case GB_FRAME_BAD_VERSION: printf("err bad_version\n"); return;
    }
    gb_msg_t m;
    uint8_t st = gb_msg_parse(&f, &m);
    if (st == GB_NAK_UNKNOWN_TYPE)
        printf("err unknown_type\n");
    else if (st == GB_NAK_BAD_LENGTH)
        printf("err bad_length\n");
    else
        print_msg(&m);
}

/* --- encode: "TYPE seq=N name=value ..." ------------------------------------------------- */

#define MAX_KV 32
static char kv_name[MAX_KV][64];
static char kv_value[MAX_KV][128];
static int kv_used[MAX_KV], kv_n;
static int kv_error;

static long long get(const char *name)
{
    for (int i = 0; i < kv_n; i++) {
        if (strcmp(kv_name[i], name) == 0) {
            kv_used[i] = 1;
            return strtoll(kv_value[i], NULL, 0);
        }
    }
    fprintf(stderr, "missing field %s\n", name);
    kv_error = 1;
    return 0;
}

static void get_list(const char *name, uint16_t *out, int count)
{
    for (int i = 0; i < kv_n; i++) {
        if (strcmp(kv_name[i], name) == 0) {
            kv_used[i] = 1;
            char *p = kv_value[i];
            for (int k = 0; k < count; k++) {
                out[k] = (uint16_t)strtol(p, &p, 0);
                if (*p == ',')
                    p++;
            }
            return;
        }
    }
    fprintf(stderr, "missing field %s\n", name);
    kv_error = 1;
}

static void encode_line(char *line)
{
    char *save = NULL;
    char *tok = strtok_r(line, " \n", &save);
    gb_msg_t m;
    memset(&m, 0, sizeof m);
    int type = -1;
    for (int t = 1; t < 256; t++)
        if (type_name((uint8_t)t) && tok && strcmp(type_name((uint8_t)t), tok) == 0)
            type = t;
    if (type < 0) {
        printf("err type\n");
        return;
    }
    kv_n = 0;
    kv_error = 0;
    while ((tok = strtok_r(NULL, " \n", &save)) && kv_n < MAX_KV) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        snprintf(kv_name[kv_n], sizeof kv_name[0], "%s", tok);
        snprintf(kv_value[kv_n], sizeof kv_value[0], "%s", eq + 1);
        kv_used[kv_n++] = 0;
    }
    m.type = (uint8_t)type;
    m.seq = (uint16_t)get("seq");
    switch (m.type) {
    case GB_MSG_HEARTBEAT:
        m.u.heartbeat.estop_action = (uint8_t)get("estop_action");
        break;
    case GB_MSG_DRIVE:
        m.u.drive.v_mmps = (int16_t)get("v_mmps");
        m.u.drive.omega_mradps = (int16_t)get("omega_mradps");
        m.u.drive.ttl_ms = (uint16_t)get("ttl_ms");
        break;
    case GB_MSG_WATER:
        m.u.water.zone = (uint8_t)get("zone");
        m.u.water.duration_ms = (uint16_t)get("duration_ms");
        break;
    case GB_MSG_HELLO_REPLY: {
        gb_hello_reply_t *h = &m.u.hello_reply;
        h->hello_seq = (uint16_t)get("hello_seq");
        h->protocol_version = (uint8_t)get("protocol_version");
        h->board = (uint8_t)get("board");
        h->firmware_version = (uint16_t)get("firmware_version");
        h->uptime_ms = (uint32_t)get("uptime_ms");
        h->heartbeat_timeout_ms = (uint16_t)get("heartbeat_timeout_ms");
        h->drive_ttl_max_ms = (uint16_t)get("drive_ttl_max_ms");
        h->max_wheel_speed_mmps = (uint16_t)get("max_wheel_speed_mmps");
        h->pump_max_on_ms = (uint16_t)get("pump_max_on_ms");
        h->telemetry_period_ms = (uint16_t)get("telemetry_period_ms");
        break;
    }
    case GB_MSG_TELEMETRY: {
        gb_telemetry_t *t = &m.u.telemetry;
        t->uptime_ms = (uint32_t)get("uptime_ms");
        t->left_ticks = (int32_t)get("left_ticks");
        t->right_ticks = (int32_t)get("right_ticks");
        t->motor_left_mmps = (int16_t)get("motor_left_mmps");
        t->motor_right_mmps = (int16_t)get("motor_right_mmps");
        t->current_left_ma = (uint16_t)get("current_left_ma");
        t->current_right_ma = (uint16_t)get("current_right_ma");
        t->bumper_bits = (uint8_t)get("bumper_bits");
        t->pump_zone = (uint8_t)get("pump_zone");
        t->pump_remaining_ms = (uint16_t)get("pump_remaining_ms");
        t->pump_budget_ms = (uint16_t)get("pump_budget_ms");
        get_list("moisture_permille", t->moisture_permille, GB_N_MOISTURE);
        t->battery_mv = (uint16_t)get("battery_mv");
        t->estop_latched = (uint8_t)get("estop_latched");
        t->estop_reasons = (uint8_t)get("estop_reasons");
        t->fault_flags = (uint8_t)get("fault_flags");
        t->failsafe_count = (uint16_t)get("failsafe_count");
        t->failsafe_age_ms = (uint16_t)get("failsafe_age_ms");
        t->rx_errors = (uint16_t)get("rx_errors");
        break;
    }
    case GB_MSG_ACK:
        m.u.ack.acked_seq = (uint16_t)get("acked_seq");
        m.u.ack.acked_type = (uint8_t)get("acked_type");
        break;
    case GB_MSG_NAK:
        m.u.nak.acked_seq = (uint16_t)get("acked_seq");
        m.u.nak.acked_type = (uint8_t)get("acked_type");
        m.u.nak.error = (uint8_t)get("error");
        break;
    default:
        break;
    }
    for (int i = 0; i < kv_n; i++) {
        if (!kv_used[i]) {
            fprintf(stderr, "unknown field %s\n", kv_name[i]);
            kv_error = 1;
        }
    }
    if (kv_error) {
        printf("err fields\n");
        return;
    }
    uint8_t payload[GB_MAX_PAYLOAD_SIZE], frame[GB_MAX_FRAME_SIZE];
    uint8_t n = gb_msg_pack(&m, payload);
    uint8_t len = gb_frame_encode(m.type, m.seq, payload, n, frame);
    print_hex(frame, len);
    printf("\n");
}

/* --- core: drive gb_core through a script ---------------------------------------------------
 *   boot BOARD NOW          init and announce
 *   sensors L R CL CR BUMPER M0 M1 M2 M3 BATT OVERFLOW
 *   rx NOW HEX              bytes arriving at NOW
 *   tick NOW
 * Every line answers "out HEX" with the bytes the core sent (possibly none). */

static uint8_t out_buf[4096];
static size_t out_len;
static void collect(const uint8_t *d, uint8_t n, void *ctx)
{
    (void)ctx;
    if (out_len + n <= sizeof out_buf) {
        memcpy(out_buf + out_len, d, n);
        out_len += n;
    }
}

static void run_core(void)
{
    static gb_core_t core;
    gb_sensors_t s;
    memset(&s, 0, sizeof s);
    char line[LINE];
    while (fgets(line, sizeof line, stdin)) {
        out_len = 0;
        unsigned long now = 0, board = 0;
        if (sscanf(line, "boot %lu %lu", &board, &now) == 2) {
            gb_core_init(&core, (uint8_t)board, (uint32_t)now, collect, NULL);
            gb_core_announce(&core);
        } else if (strncmp(line, "sensors ", 8) == 0) {
            long v[12];
            if (sscanf(line + 8, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1],
                       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10]) != 11) {
                printf("err sensors\n");
                fflush(stdout);
                continue;
            }
            s.left_ticks = (int32_t)v[0];
            s.right_ticks = (int32_t)v[1];
            s.current_left_ma = (uint16_t)v[2];
            s.current_right_ma = (uint16_t)v[3];
            s.bumper_bits = (uint8_t)v[4];
            for (int i = 0; i < GB_N_MOISTURE; i++)
                s.moisture_permille[i] = (uint16_t)v[5 + i];
            s.battery_mv = (uint16_t)v[9];
            s.rx_overflow = (uint8_t)v[10];
        } else if (sscanf(line, "rx %lu", &now) == 1) {
            static uint8_t data[LINE / 2];
            char *hex = strchr(line + 3, ' ');
            int n = hex ? from_hex(hex + 1, data, sizeof data) : 0;
            if (n > 0)
                gb_core_rx(&core, data, (size_t)n, (uint32_t)now);
        } else if (sscanf(line, "tick %lu", &now) == 1) {
            gb_core_tick(&core, (uint32_t)now, &s);
        } else {
            printf("err line\n");
            fflush(stdout);
            continue;
        }
        printf("out ");
        print_hex(out_buf, out_len);
        printf("\n");
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "core") == 0) {
        run_core();
        return 0;
    }
    char line[LINE];
    while (fgets(line, sizeof line, stdin)) {
        uint8_t in[LINE / 2], out[LINE];
        if (strcmp(mode, "decode") == 0) {
            decode_line(line);
        } else if (strcmp(mode, "encode") == 0) {
            encode_line(line);
        } else if (strcmp(mode, "cobs-encode") == 0) {
            int n = from_hex(line, in, sizeof in);
            print_hex(out, gb_cobs_encode(in, n < 0 ? 0 : (size_t)n, out));
            printf("\n");
        } else if (strcmp(mode, "cobs-decode") == 0) {
            int n = from_hex(line, in, sizeof in);
            int m = n < 0 ? -1 : gb_cobs_decode(in, (size_t)n, out, sizeof out);
            if (m < 0)
                printf("err cobs\n");
            else {
                print_hex(out, (size_t)m);
                printf("\n");
            }
        } else if (strcmp(mode, "crc") == 0) {
            int n = from_hex(line, in, sizeof in);
            printf("%04x\n", gb_crc16(in, n < 0 ? 0 : (size_t)n, GB_CRC16_INIT));
        } else {
            fprintf(stderr, "usage: %s decode|encode|cobs-encode|cobs-decode|crc|core\n", argv[0]);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}
