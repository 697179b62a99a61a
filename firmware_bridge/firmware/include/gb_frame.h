/* Frames: COBS(version u8, type u8, seq u16 LE, payload, CRC-16 BE) followed by 0x00. */
#ifndef GB_FRAME_H
#define GB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "gb_constants.h"

/* Longest COBS-encoded frame without its delimiter; a longer run is an overflow. */
#define GB_MAX_ENCODED_SIZE (GB_MAX_FRAME_SIZE - 1)

typedef enum {
    GB_FRAME_OK = 0,
    GB_FRAME_COBS,        /* not valid COBS */
    GB_FRAME_SHORT,       /* fewer than header + CRC bytes */
    GB_FRAME_BAD_CRC,     /* seq and type are as read, unreliable */
    GB_FRAME_BAD_VERSION, /* CRC fine, another protocol version */
} gb_frame_status_t;

typedef struct {
    uint8_t type;
    uint16_t seq;
    const uint8_t *payload;
    uint8_t payload_len;
} gb_frame_t;

/* Check an encoded chunk (between delimiters), decoding it in place. On OK and on BAD_CRC /
 * BAD_VERSION, f->type and f->seq are filled; f->payload points into chunk. */
gb_frame_status_t gb_frame_decode(uint8_t *chunk, size_t len, gb_frame_t *f);

/* Build a complete wire frame (COBS + delimiter) into out (GB_MAX_FRAME_SIZE bytes). Returns its
 * length. payload_len must not exceed GB_MAX_PAYLOAD_SIZE. */
uint8_t gb_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, uint8_t payload_len,
                        uint8_t *out);

#endif
