/*
 * common.h — small shared helpers of the library: error filling, checked allocation,
 * a seeded RNG (splitmix64 + xoshiro256**), a wall clock, and the regularization
 * weight of DESIGN.md §1 that every backend uses.
 */
#ifndef CF_COMMON_H
#define CF_COMMON_H

#include "cufactor.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

/* Fills err (if not NULL) with status and a printf-style message; returns status. */
cf_status cf_fail(cf_error *err, cf_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears err to CF_OK / "". */
void cf_error_clear(cf_error *err);

/* malloc/calloc that fill err with CF_ERR_NOMEM and the byte count on failure. */
void *cf_malloc(size_t bytes, cf_error *err, const char *what);

/* Asks for transparent huge pages over a large array about to be filled (a hint, for
 * arrays of 8 MiB and more; THP in "madvise" mode, the usual default, gives them only on
 * request): first-touch page faults drop from one per 4 KiB to one per 2 MiB, a large
 * share of the cost of filling a fresh array at memory speed. */
void cf_hint_huge_pages(void *p, size_t bytes);
/* Reads exactly n bytes from fd (in chunks of at most 1 GiB, retrying on EINTR):
 * 0 done, 1 end of file first, -1 read error (errno set). */
int cf_read_full(int fd, void *buf, size_t n);
void *cf_calloc(size_t n, size_t size, cf_error *err, const char *what);

/* ---- RNG: xoshiro256** seeded by splitmix64. Deterministic across platforms. */
typedef struct cf_rng { uint64_t s[4]; } cf_rng;
void cf_rng_seed(cf_rng *r, uint64_t seed);
/* One of many independent seeded streams (a user's draws in the per-user split and
 * folds): seeded with seed ^ splitmix64(stream), so a stream's draws depend on the seed
 * and its number only, not on which thread makes them. */
void cf_rng_seed_stream(cf_rng *r, uint64_t seed, uint64_t stream);
/* xoshiro256** (Blackman & Vigna): inline, as the draws of the initialization and the
 * split run serially, about a nanosecond each. */
static inline uint64_t cf_rng_next(cf_rng *r) {
    uint64_t *s = r->s;
    const uint64_t x = s[1] * 5, result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}
double cf_rng_uniform(cf_rng *r);              /* [0, 1) with 53 random bits */
double cf_rng_normal(cf_rng *r);               /* N(0, 1), Box–Muller */
/* cf_rng_normal's value from its two generator outputs a then b (the same function:
 * a stream's normals can be computed apart from drawing its outputs). */
double cf_normal_from_bits(uint64_t a, uint64_t b);
uint64_t cf_rng_below(cf_rng *r, uint64_t n);  /* uniform in [0, n), unbiased; n > 0 */
/* splitmix64 step, also usable as a hash of a 64-bit value. */
uint64_t cf_splitmix64(uint64_t *state);

/* ---- wall clock in seconds (monotonic). */
double cf_now(void);
/* The thread count a `threads` argument means (--threads, cfg.threads, the _threads
 * functions): itself when > 0, else omp_get_max_threads() (all cores, or OMP_NUM_THREADS). */
int cf_threads(int threads);

/* ---- regularization: the effective λ·w of one row (DESIGN.md §1).
 *   plain:    λ
 *   weighted: λ · n_row
 *   mean:     λ · |Ω|   (nnz = |Ω|, the number of training ratings)          */
double cf_reg_lambda(cf_reg reg, double lambda, int64_t n_row, int64_t nnz);
/* The biases' λ and mode (cf_config.bias_lambda, bias_reg: λ and reg where left "same"),
 * and their effective Λ_b = cf_reg_lambda(bias mode, λ_b, n_row, nnz) for one row: what
 * b_u² (b_i²) is charged where ‖p_u‖² is charged cf_reg_lambda(reg, λ, ...). */
double cf_bias_lambda(const cf_config *cfg);
cf_reg cf_bias_reg(const cf_config *cfg);
double cf_bias_reg_lambda(const cf_config *cfg, int64_t n_row, int64_t nnz);
/* 1 when the biases are regularized as the factors are (Λ_b = Λ for every row). */
int cf_bias_reg_same(const cf_config *cfg);
/* ", λ_b = 25 with --bias-reg plain" where the biases are on (bias) and regularized apart,
 * else "": what an ALS not-positive-definite message adds after λ (buf of cap bytes). */
const char *cf_bias_reg_note(const cf_config *cfg, int bias, char *buf, size_t cap);

#endif
