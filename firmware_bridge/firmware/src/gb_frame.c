#include "gb_frame.h"

#include <string.h>

#include "gb_cobs.h"
#include "gb_crc16.h"

gb_frame_status_t gb_frame_decode(uint8_t *chunk, size_t len, gb_frame_t *f)
{
    int n = gb_cobs_decode(chunk, len, chunk, len);
    if (n < 0)
        return GB_FRAME_COBS;
    if (n < GB_HEADER_SIZE + GB_CRC_SIZE)
        return GB_FRAME_SHORT;
    f->type = chunk[1];
    f->seq = (uint16_t)(chunk[2] | (uint16_t)chunk[3] << 8);
    /* Running the CRC over the CRC bytes too leaves 0 for an intact frame (no xor-out). */
    if (gb_crc16(chunk, (size_t)n, GB_CRC16_INIT) != 0)
        return GB_FRAME_BAD_CRC;
    if (chunk[0] != GB_PROTOCOL_VERSION)
        return GB_FRAME_BAD_VERSION;
    f->payload = chunk + GB_HEADER_SIZE;
    f->payload_len = (uint8_t)(n - GB_HEADER_SIZE - GB_CRC_SIZE);
    return GB_FRAME_OK;
}

uint8_t gb_frame_encode(uint8_t type, uint16_t seq, const uint8_t *payload, uint8_t payload_len,
                        uint8_t *out)
{
    uint8_t body[GB_MAX_BODY_SIZE];
    uint8_t n = 0;
    body[n++] = GB_PROTOCOL_VERSION;
    body[n++] = type;
    body[n++] = (uint8_t)(seq & 0xFF);
    body[n++] = (uint8_t)(seq >> 8);
    memcpy(body + n, payload, payload_len);
    n = (uint8_t)(n + payload_len);
    uint16_t crc = gb_crc16(body, n, GB_CRC16_INIT);
    body[n++] = (uint8_t)(crc >> 8);
    body[n++] = (uint8_t)(crc & 0xFF);
    uint8_t len = (uint8_t)gb_cobs_encode(body, n, out);
    out[len++] = 0;
    return len;
}
