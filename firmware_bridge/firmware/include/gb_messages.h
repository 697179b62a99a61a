/* The typed message set: one struct per message type; every field name carries its unit.
 * Payloads are packed little-endian in field order (docs/protocol.md, "Messages"). */
#ifndef GB_MESSAGES_H
#define GB_MESSAGES_H

#include <stdint.h>

#include "gb_constants.h"
#include "gb_frame.h"

typedef struct { uint8_t estop_action; } gb_heartbeat_t;

typedef struct {
    int16_t v_mmps;
    int16_t omega_mradps;
    uint16_t ttl_ms;
} gb_drive_t;

typedef struct {
    uint8_t zone;
    uint16_t duration_ms;
} gb_water_t;

typedef struct {
    uint16_t hello_seq;
    uint8_t protocol_version;
    uint8_t board;
    uint16_t firmware_version;
    uint32_t uptime_ms;
    uint16_t heartbeat_timeout_ms;
    uint16_t drive_ttl_max_ms;
    uint16_t max_wheel_speed_mmps;
    uint16_t pump_max_on_ms;
    uint16_t telemetry_period_ms;
} gb_hello_reply_t;

typedef struct {
    uint32_t uptime_ms;
    int32_t left_ticks;
    int32_t right_ticks;
    int16_t motor_left_mmps;
    int16_t motor_right_mmps;
    uint16_t current_left_ma;
    uint16_t current_right_ma;
    uint8_t bumper_bits;
    uint8_t pump_zone;
    uint16_t pump_remaining_ms;
    uint16_t pump_budget_ms;
    uint16_t moisture_permille[GB_N_MOISTURE];
    uint16_t battery_mv;
    uint8_t estop_latched;
    uint8_t estop_reasons;
    uint8_t fault_flags;
    uint16_t failsafe_count;
    uint16_t failsafe_age_ms;
    uint16_t rx_errors;
} gb_telemetry_t;

typedef struct {
    uint16_t acked_seq;
    uint8_t acked_type;
} gb_ack_t;

typedef struct {
    uint16_t acked_seq;
    uint8_t acked_type;
    uint8_t error;
} gb_nak_t;

typedef struct {
    uint8_t type;
    uint16_t seq;
    union {
        gb_heartbeat_t heartbeat;
        gb_drive_t drive;
        gb_water_t water;
        gb_hello_reply_t hello_reply;
        gb_telemetry_t telemetry;
        gb_ack_t ack;
        gb_nak_t nak;
    } u;
} gb_msg_t;

/* Payload size of a message type, or -1 for an unknown type. */
int gb_payload_size(uint8_t type);

/* Parse a checked frame. Returns 0, GB_NAK_UNKNOWN_TYPE or GB_NAK_BAD_LENGTH. */
uint8_t gb_msg_parse(const gb_frame_t *f, gb_msg_t *m);

/* Pack m's payload into out (GB_MAX_PAYLOAD_SIZE bytes); returns its length. */
uint8_t gb_msg_pack(const gb_msg_t *m, uint8_t *out);

#endif
