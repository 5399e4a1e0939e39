/*
 * cpu32_api.h — what the fp32 CPU backend (cpu32.h) shows outside its files without its
 * state struct: for the trainer, the benchmarks and the tests.
 */
#ifndef CF_CPU32_API_H
#define CF_CPU32_API_H

#include "backend.h"
#include "simd_f32.h"

/* The grid B of the SGD `shuffle` order on this path (sgd_f32.c): a function of the data
 * and K only, never of the thread count. */
int32_t cf_cpu32_sgd_grid(const cf_ratings *R, int32_t K);

/* The SIMD level a backend of this path runs (chosen at open: cf_simd_best). */
cf_simd cf_cpu32_simd(const cf_backend *b);

/* Test seam (als_f32.c): the normal equations of row `row` of `side` exactly as the
 * half-step forms them — A (d × d, all entries, row-major, d = K + bias, Λ on the
 * diagonal) and b (d) — in double, from the current fp32 factors. */
cf_status cf_cpu32_normal_equations(cf_backend *b, cf_side side, int64_t row, double *A, double *rhs,
                                    cf_error *err);

#endif
