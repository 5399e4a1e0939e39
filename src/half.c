/* half.c — binary16 conversions (half.h). */
#include "half.h"

#include <math.h>
#include <string.h>

uint16_t cf_half_from_float(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN: a quiet NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* ≥ 65520 (and inf): inf */
    if (ax < 0x38800000u) {
        /* below 2^-14: a multiple of 2^-24 (subnormal, or 0x400 = 2^-14 when it rounds up);
         * a·2^24 is exact and rintf rounds to nearest even in the default mode */
        float a;
        memcpy(&a, &ax, 4);
        return (uint16_t)(sign | (uint16_t)rintf(a * 16777216.0f));
    }
    /* normal: rebias the exponent (127 → 15), keep 10 of the 23 mantissa bits, round the
     * 13 dropped bits to nearest even (a carry moves into the exponent, as it should) */
    uint32_t h = (((ax >> 23) - 112u) << 10) | ((ax & 0x7fffffu) >> 13);
    const uint32_t rest = ax & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

float cf_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    uint32_t x;
    if (e == 0) {
        float v = ldexpf((float)m, -24); /* zero or subnormal */
        return sign ? -v : v;
    }
    if (e == 31)
        x = sign | 0x7f800000u | (m << 13); /* inf or NaN */
    else
        x = sign | ((e + 112u) << 23) | (m << 13);
    float v;
    memcpy(&v, &x, 4);
    return v;
}
