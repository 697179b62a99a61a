/* A widening multiply that every emulator we test on can run. */
#ifndef GB_MUL_H
#define GB_MUL_H

#include <stdint.h>

/* a * b as a 32-bit value, without avr-gcc's signed multiply helpers.
 *
 * avr-gcc compiles `(int32_t)i16 * u16` (and i16 * i16) to calls of __usmulhisi3 / __mulhisi3,
 * which end in `sbrs r27, 7; ret`. QEMU 7.2 cannot run a skip over a ret (docs/protocol.md,
 * section 8): the QEMU build froze on the first Drive that turned or reversed. Here the magnitude
 * is multiplied unsigned (__umulhisi3, no skip) and the sign applied after. The product fits:
 * 32768 * 65535 < 2^31. */
static inline int32_t gb_mul_i16_u16(int16_t a, uint16_t b)
{
    uint16_t magnitude = a < 0 ? (uint16_t)(-(int32_t)a) : (uint16_t)a;
    int32_t product = (int32_t)((uint32_t)magnitude * b);
    return a < 0 ? -product : product;
}

#endif
