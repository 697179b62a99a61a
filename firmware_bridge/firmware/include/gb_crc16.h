/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xor-out 0, check 0x29B1. */
#ifndef GB_CRC16_H
#define GB_CRC16_H

#include <stddef.h>
#include <stdint.h>

#define GB_CRC16_INIT 0xFFFFu

uint16_t gb_crc16(const uint8_t *data, size_t len, uint16_t crc);

#endif
