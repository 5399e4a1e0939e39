/* cuda_fp16.h — stand-in for the toolkit's header in the CPU simulation build: __half as
 * IEEE binary16 storage and the conversions the kernels use, bit-exact with CUDA's
 * (round to nearest even; src/half.c, which the host code and tests use as well). */
#ifndef CF_GPUSIM_CUDA_FP16_H
#define CF_GPUSIM_CUDA_FP16_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
#include "half.h" /* cf_half_from_float, cf_half_to_float (src/half.c) */
#ifdef __cplusplus
}

/* A distinct type (no implicit conversion from float), like __half under
 * __CUDA_NO_HALF_CONVERSIONS__: every rounding in a kernel is written out. */
struct alignas(2) __half {
    uint16_t x;
};
struct alignas(4) __half2 {
    __half x, y;
};
static inline __half __float2half_rn(float f) { return __half{cf_half_from_float(f)}; }
static inline __half __float2half(float f) { return __float2half_rn(f); }
static inline float __half2float(__half h) { return cf_half_to_float(h.x); }
static inline __half2 __floats2half2_rn(float a, float b) { return __half2{__float2half_rn(a), __float2half_rn(b)}; }
static inline float __low2float(__half2 h) { return __half2float(h.x); }
static inline float __high2float(__half2 h) { return __half2float(h.y); }
/* The half atomics as the hardware computes them (the sum rounded to nearest once; atomic
 * because the simulation's threads switch only at barriers and collectives). */
static inline __half atomicAdd(__half *a, __half v) {
    const __half old = *a;
    *a = __float2half_rn(__half2float(old) + __half2float(v));
    return old;
}
static inline __half2 atomicAdd(__half2 *a, __half2 v) {
    const __half2 old = *a;
    *a = __half2{__float2half_rn(__half2float(old.x) + __half2float(v.x)),
                 __float2half_rn(__half2float(old.y) + __half2float(v.y))};
    return old;
}
#endif
#endif
