"""CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740): poly 0x1021, init 0xFFFF, no reflection,
xor-out 0x0000, check value 0x29B1 over the ASCII bytes ``123456789``.

:func:`crc16` uses ``binascii.crc_hqx`` (the same CRC, computed in C); :func:`crc16_bitwise` is
the definition written out, kept as the oracle the tests compare against.
"""

from __future__ import annotations

import binascii

POLY = 0x1021
INIT = 0xFFFF
CHECK = 0x29B1


def crc16(data: bytes, crc: int = INIT) -> int:
    return binascii.crc_hqx(data, crc)


def crc16_bitwise(data: bytes, crc: int = INIT) -> int:
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ POLY) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc
