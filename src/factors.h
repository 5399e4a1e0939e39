/*
 * factors.h — the trainable state: P (n_users × K), Q (n_items × K), row-major, the
 * biases b_u, b_i and the fixed global mean μ, all in double precision on the host.
 * Backends receive it at open and give it back at download.
 *   r̂(u,i) = μ + b_u + b_i + p_u·q_i      (bias = 1)
 *   r̂(u,i) = p_u·q_i                      (bias = 0: b = 0; μ is then 0 or, in a model,
 *                                           the training mean, the prediction of an unseen pair)
 */
#ifndef CF_FACTORS_H
#define CF_FACTORS_H

#include "cufactor.h"

#include <stdint.h>

typedef struct cf_factors {
    int64_t n_users, n_items;
    int32_t k;
    int bias;
    double mu;
    double *P, *Q;     /* n_users*k, n_items*k */
    double *bu, *bi;   /* n_users, n_items (zeros when bias = 0) */
} cf_factors;

cf_status cf_factors_alloc(cf_factors *f, int64_t n_users, int64_t n_items, int32_t k, int bias,
                           cf_error *err);
void cf_factors_free(cf_factors *f);
cf_status cf_factors_copy(cf_factors *dst, const cf_factors *src, cf_error *err);

/* Seeded initialization shared by every backend: P, Q ~ N(0, scale²/K) from one
 * stream (P first, then Q), biases 0. Without biases (f->bias = 0) the absolute values
 * |N(0, scale²/K)|: r̂ = p·q then starts positive, on the side of the ratings. */
void cf_factors_init_random(cf_factors *f, double scale, uint64_t seed);
/* The same on `threads` threads (0: all cores): the same values whatever the count. */
void cf_factors_init_random_threads(cf_factors *f, double scale, uint64_t seed, int threads);

/* r̂(u, i) */
double cf_predict(const cf_factors *f, uint32_t u, uint32_t i);
/* The same for rows that may be unknown (u or i −1): r̂ when both are known, else zero
 * factors for the unknown side, i.e. μ plus whichever bias is known (μ alone without
 * biases) — how evaluate, predict and train score an unseen pair. */
double cf_predict_or_mean(const cf_factors *f, int64_t u, int64_t i);
/* Scores of a few users for a block of items, as recommend's ranking needs them:
 * out[a·CF_SCORE_ITEMS + j] = cf_predict(f, users[a], i0 + j) for a < m, j < n
 * (n ≤ CF_SCORE_ITEMS), bit for bit — each dot product summed in cf_predict's order
 * (k = 0, 1, ...; a multiply, then an add: no fused multiply-add), only many at once.
 * The block of Q is first copied k-major into qt (cf_score_qt_doubles(f) doubles), then
 * four users × eight items at a time run 32 independent chains, each element of q and p
 * loaded once for several products (AVX2 where the CPU has it, chosen at run time). One
 * user at a time over all items was one chain of adds, latency-bound, and streamed Q
 * from memory for every user: 1.3 G products/s here against ≈ 10 G. Work: 2·m·n·K flops,
 * K·n·8 bytes of Q copied once for the m users (use m ≥ 8 to amortize it). */
#define CF_SCORE_ITEMS 256
size_t cf_score_qt_doubles(const cf_factors *f);
void cf_score_block(const cf_factors *f, const uint32_t *users, int m, int64_t i0, int64_t n, double *qt,
                    double *out);

/* Index of the first non-finite value, as "P row 12" etc. into buf; 0 if all finite. */
int cf_factors_check_finite(const cf_factors *f, char *buf, size_t len);

/* Largest |r̂| a model file may imply. The bound
 *     |r̂(u,i)| ≤ |μ| + max|b_u| + max|b_i| + K · max|P| · max|Q|
 * holds for every pair and every partial sum of the dot product, so below this limit no
 * prediction overflows, nor does a sum of squared errors against float ratings over any
 * number of ratings (1e200 · 2^63 < DBL_MAX). Trained models are many orders below it. */
#define CF_PREDICTION_LIMIT 1e100

/* The bound above for finite factors (+inf when it overflows). */
double cf_factors_prediction_bound(const cf_factors *f);

#endif
