/* COBS framing (Cheshire & Baker): removes every 0x00 so 0x00 can delimit frames. */
#ifndef GB_COBS_H
#define GB_COBS_H

#include <stddef.h>
#include <stdint.h>

/* Encode len bytes of src into dst (room for len + len / 254 + 1 bytes); returns the length.
 * Canonical encoding: a final full 254-byte block is not followed by an empty group. */
size_t gb_cobs_encode(const uint8_t *src, size_t len, uint8_t *dst);

/* Decode len bytes (no 0x00 among them) into dst of capacity cap. Returns the decoded length,
 * or -1 if the input is malformed or does not fit. dst may equal src (decodes in place). */
int gb_cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

#endif
