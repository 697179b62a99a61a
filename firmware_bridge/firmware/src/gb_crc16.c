#include "gb_crc16.h"

/* Bitwise: a few bytes of flash instead of a 512-byte table; fast enough for 70-byte frames. */
uint16_t gb_crc16(const uint8_t *data, size_t len, uint16_t crc)
{
    while (len--) {
        crc = (uint16_t)(crc ^ ((uint16_t)*data++ << 8));
        for (uint8_t bit = 0; bit < 8; bit++) {
            if (crc & 0x8000u)
                crc = (uint16_t)((uint16_t)(crc << 1) ^ 0x1021u);
            else
                crc = (uint16_t)(crc << 1);
        }
    }
    return crc;
}
