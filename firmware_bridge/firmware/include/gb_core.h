/* The MCU's behaviour as a state machine with no hardware in it: bytes and times in, bytes out.
 * The Python emulator (firmware_bridge/emulator/core.py) is its twin; a differential test feeds
 * both the same scripts and compares every byte they send. */
#ifndef GB_CORE_H
#define GB_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "gb_constants.h"
#include "gb_frame.h"

typedef struct {
    int32_t left_ticks;
    int32_t right_ticks;
    uint16_t current_left_ma;
    uint16_t current_right_ma;
    uint8_t bumper_bits; /* bit 0 left, bit 1 right */
    uint16_t moisture_permille[GB_N_MOISTURE];
    uint16_t battery_mv;
    uint8_t rx_overflow; /* the UART receive buffer overflowed since the last reading */
} gb_sensors_t;

typedef void (*gb_tx_fn)(const uint8_t *data, uint8_t len, void *ctx);

typedef struct {
    uint16_t seq;
    uint8_t type;
    uint8_t error; /* 0: answered Ack */
} gb_answer_t;

/* An acknowledged command, remembered to recognise its retransmission: the same seq, type and
 * payload bytes (whose length follows from the type). */
typedef struct {
    uint16_t seq;
    uint8_t type;
    uint8_t payload[GB_MAX_COMMAND_PAYLOAD_SIZE];
    uint32_t at_ms; /* when it was acknowledged: remembered for GB_DEDUPE_MAX_AGE_MS */
} gb_remembered_t;

typedef struct {
    uint8_t board;
    uint32_t boot_ms;
    uint32_t last_ms;
    uint16_t tx_seq;
    uint8_t estop_latched;
    uint8_t estop_reasons;
    uint32_t last_hb_ms; /* the failsafe watches it while the latch is clear */
    int16_t motor_left_mmps;
    int16_t motor_right_mmps;
    uint32_t drive_until_ms;
    uint8_t pump_zone;
    uint32_t pump_until_ms;
    uint32_t pump_budget; /* in 1/GB_PUMP_REFILL_DIVISOR ms */
    uint16_t failsafe_count;
    uint16_t failsafe_age_ms;
    uint16_t rx_errors;
    uint8_t rx_overflow;
    uint32_t telemetry_due_ms;
    gb_remembered_t remembered[GB_DEDUPE_DEPTH];
    uint8_t remembered_count;
    uint8_t remembered_next;
    uint8_t rx_buf[GB_MAX_ENCODED_SIZE];
    uint8_t rx_len;
    uint8_t rx_discarding;
    gb_tx_fn tx;
    void *tx_ctx;
} gb_core_t;

void gb_core_init(gb_core_t *c, uint8_t board, uint32_t now_ms, gb_tx_fn tx, void *tx_ctx);

/* Send the unasked HelloReply of a fresh boot. */
void gb_core_announce(gb_core_t *c);

/* Bytes that arrived at now_ms. */
void gb_core_rx(gb_core_t *c, const uint8_t *data, size_t len, uint32_t now_ms);

/* Apply the time-based rules at now_ms and send Telemetry when due. Call at least every ms. */
void gb_core_tick(gb_core_t *c, uint32_t now_ms, const gb_sensors_t *s);

#endif
