/*
 * half.h — IEEE-754 binary16 ("half", fp16) conversions on the host, bit-compatible with
 * CUDA's __float2half_rn / __half2float for every non-NaN value: round to nearest, ties
 * to even; values from 65520 up round to infinity; below 2^-14 the result is subnormal
 * (steps of 2^-24). A NaN stays a NaN (payload not kept as CUDA does).
 *
 * The GPU SGD path stores factors in fp16 when cfg.precision = CF_PRECISION_FP16 and
 * converts on the device; these helpers let tests and benchmarks predict exactly what
 * that storage holds (e.g. that an upload rounds each factor to this value).
 */
#ifndef CF_HALF_H
#define CF_HALF_H

#include <stdint.h>

uint16_t cf_half_from_float(float f);
float cf_half_to_float(uint16_t h);

/* x rounded to fp16 and back. */
static inline float cf_half_round(float x) { return cf_half_to_float(cf_half_from_float(x)); }

#endif
