/*
 * cpu32.h — the fp32 CPU backend ("cpu-fp32", cf_cpu32_backend): the fast CPU path,
 * the default of --device cpu and of --device auto without a GPU (--precision fp32, the
 * default; --precision fp64 selects the double-precision reference of cpu.h instead).
 *
 * It fills the same backend table (backend.h) for ALS and SGD and leaves the others NULL:
 * gd, minibatch, alsgd and ccd train on the fp64 reference (the trainer picks it, with a
 * notice; cf_cpu_backend_for in train.h). Factors live in fp32 rows padded to ld floats
 * (simd_f32.h), biases in fp32; evaluation forms each residual in double and sums in
 * double over fixed chunks; the kernels are SIMD (AVX-512, AVX2 or scalar, chosen at open).
 *
 * Promises, as the reference's: the same seed gives bit-identical factors for any thread
 * count (on one machine and SIMD level); a checkpointed run resumes bit-identically (the
 * factors go to the checkpoint as the exact doubles of the fp32 values and come back
 * unchanged; ALS and SGD keep no other state).
 *
 * Files: backend_f32.c (this table: open, evaluate, download, upload, close), sgd_f32.c,
 * als_f32.c, kernels_f32.c (the vector kernels).
 */
#ifndef CF_CPU32_H
#define CF_CPU32_H

#include "backend.h"
#include "stop.h"
#include "cpu32_api.h"
#include "simd_f32.h"

struct cf_backend {
    const cf_ratings *R;     /* training matrix (borrowed) */
    const cf_triplets *test; /* test ratings (borrowed, may be empty) */
    cf_config cfg;
    int threads;
    char name[64];
    int64_t n_users, n_items;
    int32_t K, ld;           /* factors, padded row length */
    int bias;
    double mu;
    float *P, *Q;            /* n_users × ld, n_items × ld, 64-byte aligned, pads 0 */
    float *bu, *bi;          /* biases (0 when bias = 0) */
    const cf_f32_kernels *kern;
    /* per-algorithm state (sgd_f32.c, als_f32.c), freed at close */
    void *solver_state;
    void (*solver_free)(void *state);
    const volatile sig_atomic_t *stop;
};

/* The solver state of b if made by the solver whose free function is free_fn, else NULL
 * (another solver's state is freed first); and installing one. */
void *cf_cpu32_state_get(cf_backend *b, void (*free_fn)(void *));
void cf_cpu32_state_set(cf_backend *b, void *state, void (*free_fn)(void *));

/* Rows without training ratings get zero factors and bias (as in the reference). */
void cf_cpu32_zero_empty_rows(cf_backend *b);
/* CF_ERR_NUMERIC naming the first non-finite factor ("<algo>: non-finite value at <unit>
 * <iter> in P row 12; <hint>"), else CF_OK. */
cf_status cf_cpu32_check_finite(const cf_backend *b, const char *algo, const char *unit, int64_t iter,
                                const char *hint, cf_error *err);

cf_status cf_cpu32_sgd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err);
cf_status cf_cpu32_als_half(cf_backend *b, cf_side side, cf_error *err);

#endif
