/*
 * kernels_f32.c — the fp32 CPU path's kernels (kernels_f32.inc) instantiated for AVX-512,
 * AVX2 + FMA and portable scalar code, and the run-time choice among them (simd_f32.h).
 */
#include "simd_f32.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define CF_HAVE_X86 1
#include <immintrin.h>
#else
#define CF_HAVE_X86 0
#endif

/* ------------------------------------------------------------------ scalar */
#define KN(name) name##_scalar
#define KT
#define KISA CF_SIMD_SCALAR
#define VW 1
typedef float vf_scalar;
#define vf vf_scalar
#define vload(p) (*(p))
#define vstore(p, v) (*(p) = (v))
#define vset1(x) (x)
#define vzero() 0.0f
#define vfma(a, b, c) fmaf(a, b, c)
#define vmul(a, b) ((a) * (b))
#define vadd(a, b) ((a) + (b))
#define vhsum(v) (v)
#define vfold_store(g, v) (*(g) = (double)(v))
#define vfold_add(g, v) (*(g) += (double)(v))
#define VDW 1
typedef double vd_scalar;
#define vd vd_scalar
#define vdloadu(p) (*(p))
#define vdstoreu(p, v) (*(p) = (v))
#define vdset1(x) (x)
#define vdfma(a, b, c) fma(a, b, c)
#define vdadd(a, b) ((a) + (b))
#define vd_from_f(p) ((double)*(p))
#define vdhsum(v) (v)
#define GR 4
#include "kernels_f32.inc" /* undefines the parameters above */

#if CF_HAVE_X86
/* ------------------------------------------------------------------ AVX2 + FMA */
#define KN(name) name##_avx2
#define KT __attribute__((target("avx2,fma")))
#define KISA CF_SIMD_AVX2
#define VW 8
#define vf __m256
#define vload(p) _mm256_load_ps(p)
#define vstore(p, v) _mm256_store_ps(p, v)
#define vset1(x) _mm256_set1_ps(x)
#define vzero() _mm256_setzero_ps()
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vmul(a, b) _mm256_mul_ps(a, b)
#define vadd(a, b) _mm256_add_ps(a, b)
KT static inline float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#define vhsum(v) hsum_avx2(v)
KT static inline void fold_avx2(double *g, __m256 v, int add) {
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
    if (add) lo = _mm256_add_pd(lo, _mm256_loadu_pd(g)), hi = _mm256_add_pd(hi, _mm256_loadu_pd(g + 4));
    _mm256_storeu_pd(g, lo), _mm256_storeu_pd(g + 4, hi);
}
#define vfold_store(g, v) fold_avx2(g, v, 0)
#define vfold_add(g, v) fold_avx2(g, v, 1)
#define VDW 4
#define vd __m256d
#define vdloadu(p) _mm256_loadu_pd(p)
#define vdstoreu(p, v) _mm256_storeu_pd(p, v)
#define vdset1(x) _mm256_set1_pd(x)
#define vdfma(a, b, c) _mm256_fmadd_pd(a, b, c)
#define vdadd(a, b) _mm256_add_pd(a, b)
#define vd_from_f(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
KT static inline double dhsum_avx2(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
#define vdhsum(v) dhsum_avx2(v)
#define GR 4
#include "kernels_f32.inc" /* undefines the parameters above */

/* ------------------------------------------------------------------ AVX-512 (F + DQ) */
#define KN(name) name##_avx512
#define KT __attribute__((target("avx512f,avx512dq,avx2,fma")))
#define KISA CF_SIMD_AVX512
#define VW 16
#define vf __m512
#define vload(p) _mm512_load_ps(p)
#define vstore(p, v) _mm512_store_ps(p, v)
#define vset1(x) _mm512_set1_ps(x)
#define vzero() _mm512_setzero_ps()
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vmul(a, b) _mm512_mul_ps(a, b)
#define vadd(a, b) _mm512_add_ps(a, b)
#define vhsum(v) _mm512_reduce_add_ps(v)
KT static inline void fold_avx512(double *g, __m512 v, int add) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v)), hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    if (add) lo = _mm512_add_pd(lo, _mm512_loadu_pd(g)), hi = _mm512_add_pd(hi, _mm512_loadu_pd(g + 8));
    _mm512_storeu_pd(g, lo), _mm512_storeu_pd(g + 8, hi);
}
#define vfold_store(g, v) fold_avx512(g, v, 0)
#define vfold_add(g, v) fold_avx512(g, v, 1)
#define VDW 8
#define vd __m512d
#define vdloadu(p) _mm512_loadu_pd(p)
#define vdstoreu(p, v) _mm512_storeu_pd(p, v)
#define vdset1(x) _mm512_set1_pd(x)
#define vdfma(a, b, c) _mm512_fmadd_pd(a, b, c)
#define vdadd(a, b) _mm512_add_pd(a, b)
#define vd_from_f(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define vdhsum(v) _mm512_reduce_add_pd(v)
#define GR 8
#include "kernels_f32.inc"
#endif

static const char *const simd_names[] = {"scalar", "avx2", "avx512"};

const char *cf_simd_name(cf_simd s) { return (unsigned)s <= CF_SIMD_AVX512 ? simd_names[s] : "?"; }

int cf_simd_parse(const char *s, cf_simd *out) {
    for (int k = 0; s && k <= CF_SIMD_AVX512; k++)
        if (!strcmp(s, simd_names[k])) {
            *out = (cf_simd)k;
            return 0;
        }
    return -1;
}

static cf_simd cpu_best(void) {
#if CF_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return CF_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CF_SIMD_AVX2;
#endif
    return CF_SIMD_SCALAR;
}

cf_simd cf_simd_best(void) {
    cf_simd best = cpu_best(), cap;
    const char *env = getenv("CUFACTOR_SIMD");
    if (env && *env && cf_simd_parse(env, &cap) == 0 && cap < best) best = cap;
    return best;
}

const cf_f32_kernels *cf_f32_kernels_get(cf_simd s) {
#if CF_HAVE_X86
    if (s == CF_SIMD_AVX512) return &table_avx512;
    if (s == CF_SIMD_AVX2) return &table_avx2;
#else
    (void)s;
#endif
    return &table_scalar;
}
