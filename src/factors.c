/* factors.c — allocation, seeded initialization and prediction of the factor state. */
#include "factors.h"

#include "common.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cf_status cf_factors_alloc(cf_factors *f, int64_t n_users, int64_t n_items, int32_t k, int bias,
                           cf_error *err) {
    memset(f, 0, sizeof *f);
    f->n_users = n_users, f->n_items = n_items, f->k = k, f->bias = bias;
    f->P = cf_calloc((size_t)n_users * (size_t)k, sizeof(double), err, "user factors P");
    f->Q = cf_calloc((size_t)n_items * (size_t)k, sizeof(double), err, "item factors Q");
    f->bu = cf_calloc((size_t)n_users, sizeof(double), err, "user biases");
    f->bi = cf_calloc((size_t)n_items, sizeof(double), err, "item biases");
    if (!f->P || !f->Q || !f->bu || !f->bi) {
        cf_factors_free(f);
        return CF_ERR_NOMEM;
    }
    return CF_OK;
}

void cf_factors_free(cf_factors *f) {
    if (!f) return;
    free(f->P), free(f->Q), free(f->bu), free(f->bi);
    f->P = f->Q = f->bu = f->bi = NULL;
}

cf_status cf_factors_copy(cf_factors *dst, const cf_factors *src, cf_error *err) {
    cf_status st = cf_factors_alloc(dst, src->n_users, src->n_items, src->k, src->bias, err);
    if (st) return st;
    dst->mu = src->mu;
    memcpy(dst->P, src->P, (size_t)src->n_users * (size_t)src->k * sizeof(double));
    memcpy(dst->Q, src->Q, (size_t)src->n_items * (size_t)src->k * sizeof(double));
    memcpy(dst->bu, src->bu, (size_t)src->n_users * sizeof(double));
    memcpy(dst->bi, src->bi, (size_t)src->n_items * sizeof(double));
    return CF_OK;
}

void cf_factors_init_random(cf_factors *f, double scale, uint64_t seed) {
    cf_factors_init_random_threads(f, scale, seed, 0);
}

/* dst[j] = sd · N_j (|N_j| when absval) for j < n, N_j = cf_rng_normal's value from the
 * generator's next two outputs: the stream cf_rng_normal would give. The normals (log,
 * sqrt, cos: ≈ 25 ns each, 1.3 s for the Netflix shape at K = 100 on one core) are
 * computed by T threads from blocks of outputs drawn serially (≈ 0.8 ns an output):
 * thread 0 draws block b + 1 into the other half of bits (2 × 2·block outputs) while the
 * rest start on block b, then joins them. The same values whatever T and block. */
static void draw_bits(cf_rng *rng, uint64_t *bits, size_t m) {
    cf_rng r = *rng; /* in registers: *rng may share a cache line with what the other threads read */
    for (size_t j = 0; j < 2 * m; j++) bits[j] = cf_rng_next(&r);
    *rng = r;
}

static void normals_team(double *dst, size_t n, cf_rng *rng, double sd, int absval, uint64_t *bits, size_t block) {
    /* fresh memory: its pages first touched by the threads in contiguous ranges, each
     * faulting (zeroing) its own, rather than all of them waiting on the page that the
     * interleaved chunks below share */
#pragma omp for schedule(static)
    for (size_t j = 0; j < n; j += 512) dst[j] = 0.0;
    const size_t nb = (n + block - 1) / block;
    for (size_t b = 0; b < nb; b++) {
        const size_t from = b * block, m = n - from < block ? n - from : block;
        const uint64_t *cur = bits + (b & 1) * 2 * block;
        if (b + 1 < nb && omp_get_thread_num() == 0) {
            const size_t next = n - from - m < block ? n - from - m : block;
            draw_bits(rng, bits + ((b + 1) & 1) * 2 * block, next);
        }
#pragma omp for schedule(dynamic, 4096)
        for (size_t j = 0; j < m; j++) {
            const double z = cf_normal_from_bits(cur[2 * j], cur[2 * j + 1]);
            dst[from + j] = absval ? sd * fabs(z) : sd * z;
        }
    }
}

static void fill_normals(double *dst, size_t n, cf_rng *rng, double sd, int absval, int T, uint64_t *bits,
                         size_t block) {
    if (n == 0) return;
    draw_bits(rng, bits, n < block ? n : block);
#pragma omp parallel num_threads(n < 65536 ? 1 : T)
    normals_team(dst, n, rng, sd, absval, bits, block);
}

void cf_factors_init_random_threads(cf_factors *f, double scale, uint64_t seed, int threads) {
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    double sd = scale / sqrt((double)f->k);
    size_t np = (size_t)f->n_users * (size_t)f->k, nq = (size_t)f->n_items * (size_t)f->k;
    /* blocks of up to 2^20 values (two of 16 MB of outputs): few enough that a loaded
     * machine, where a barrier can cost a time slice, does not pay one per small block;
     * of 128 on the stack without that memory */
    size_t block = np > nq ? np : nq;
    block = block < 128 ? 128 : block > ((size_t)1 << 20) ? (size_t)1 << 20 : block;
    uint64_t small[4 * 128], *bits = malloc(4 * block * sizeof *bits);
    if (!bits) bits = small, block = 128;
    /* without biases, p·q alone must reach the ratings' (positive) level: factors of one
     * sign start it there instead of at the saddle p·q ≈ 0 of a symmetric start */
    fill_normals(f->P, np, &rng, sd, !f->bias, cf_threads(threads), bits, block);
    fill_normals(f->Q, nq, &rng, sd, !f->bias, cf_threads(threads), bits, block);
    if (bits != small) free(bits);
    memset(f->bu, 0, (size_t)f->n_users * sizeof(double));
    memset(f->bi, 0, (size_t)f->n_items * sizeof(double));
}

double cf_predict(const cf_factors *f, uint32_t u, uint32_t i) {
    const double *p = f->P + (size_t)u * (size_t)f->k, *q = f->Q + (size_t)i * (size_t)f->k;
    double dot = 0;
    for (int32_t k = 0; k < f->k; k++) dot += p[k] * q[k];
    return f->bias ? f->mu + f->bu[u] + f->bi[i] + dot : dot;
}

double cf_predict_or_mean(const cf_factors *f, int64_t u, int64_t i) {
    if (u >= 0 && i >= 0) return cf_predict(f, (uint32_t)u, (uint32_t)i);
    return f->mu + (f->bias && u >= 0 ? f->bu[u] : 0.0) + (f->bias && i >= 0 ? f->bi[i] : 0.0);
}

size_t cf_score_qt_doubles(const cf_factors *f) { return (size_t)(f->k > 0 ? f->k : 1) * CF_SCORE_ITEMS; }

/* acc[a][b] = Σ_k p_a[k] · qt[k·ld + b] for four users and eight items of a k-major
 * block, k in order: the kernel of cf_score_block, in vectors of four doubles (GCC's
 * vector extension: AVX2 registers in the "avx2" clone, pairs of SSE2 ones in the
 * baseline; the clone is chosen when the program loads). Eight accumulators, each lane
 * its own chain; multiply and add stay separate (ISO C mode does not contract them), so
 * every lane computes cf_predict's sum exactly. */
typedef double cf_v4d __attribute__((vector_size(32)));

__attribute__((target_clones("avx2", "default"))) static void score_4x8(const double *const p[4], const double *qt,
                                                                        size_t K, size_t ld, double acc[4][8]) {
    cf_v4d a00 = {0}, a01 = {0}, a10 = {0}, a11 = {0}, a20 = {0}, a21 = {0}, a30 = {0}, a31 = {0};
    const double *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
    for (size_t k = 0; k < K; k++) {
        cf_v4d q0, q1;
        memcpy(&q0, qt + k * ld, sizeof q0), memcpy(&q1, qt + k * ld + 4, sizeof q1);
        const cf_v4d x0 = {p0[k], p0[k], p0[k], p0[k]}, x1 = {p1[k], p1[k], p1[k], p1[k]};
        const cf_v4d x2 = {p2[k], p2[k], p2[k], p2[k]}, x3 = {p3[k], p3[k], p3[k], p3[k]};
        a00 += x0 * q0, a01 += x0 * q1, a10 += x1 * q0, a11 += x1 * q1;
        a20 += x2 * q0, a21 += x2 * q1, a30 += x3 * q0, a31 += x3 * q1;
    }
    memcpy(acc[0], &a00, 32), memcpy(acc[0] + 4, &a01, 32), memcpy(acc[1], &a10, 32), memcpy(acc[1] + 4, &a11, 32);
    memcpy(acc[2], &a20, 32), memcpy(acc[2] + 4, &a21, 32), memcpy(acc[3], &a30, 32), memcpy(acc[3] + 4, &a31, 32);
}

void cf_score_block(const cf_factors *f, const uint32_t *users, int m, int64_t i0, int64_t n, double *qt,
                    double *out) {
    const size_t K = (size_t)f->k, ld = CF_SCORE_ITEMS;
    const int64_t n8 = (n + 7) / 8 * 8;
    /* Q's rows i0 .. i0 + n as columns, in tiles of 8 rows (each row read in order, each
     * column of qt written 8 values at a time); zeros past n */
    for (int64_t j0 = 0; j0 < n8; j0 += 8) {
        const double *q[8];
        for (int b = 0; b < 8; b++) q[b] = f->Q + (size_t)(i0 + (j0 + b < n ? j0 + b : j0)) * K;
        double *t = qt + j0;
        if (j0 + 8 <= n)
            for (size_t k = 0; k < K; k++)
                for (int b = 0; b < 8; b++) t[k * ld + (size_t)b] = q[b][k];
        else
            for (size_t k = 0; k < K; k++)
                for (int b = 0; b < 8; b++) t[k * ld + (size_t)b] = j0 + b < n ? q[b][k] : 0.0;
    }
    for (int a0 = 0; a0 < m; a0 += 4) {
        const double *p[4];
        for (int a = 0; a < 4; a++) p[a] = f->P + (size_t)users[a0 + a < m ? a0 + a : a0] * K; /* past m: repeats */
        for (int64_t j = 0; j < n8; j += 8) {
            double acc[4][8];
            score_4x8(p, qt + j, K, ld, acc);
            for (int a = 0; a < 4 && a0 + a < m; a++) memcpy(out + (size_t)(a0 + a) * ld + j, acc[a], sizeof acc[a]);
        }
    }
    if (!f->bias) return;
    /* cf_predict's ((μ + b_u) + b_i) + p·q, the first sum once per user */
    const double *bi = f->bi + i0;
    for (int a = 0; a < m; a++) {
        const double mb = f->mu + f->bu[users[a]];
        double *o = out + (size_t)a * ld;
        for (int64_t j = 0; j < n; j++) o[j] = mb + bi[j] + o[j];
    }
}

/* Both scans below run over every factor of a model before each save and after each
 * load (8 bytes per value read once, nothing written): written on the bits, branch-free
 * in blocks, so that they vectorize and run at memory speed rather than a compare and
 * a branch (or a libm call) per value. Exact: the same answers as isfinite / fmax. */
#define EXP_BITS 0x7ff0000000000000ULL
#define ABS_BITS 0x7fffffffffffffffULL

static int64_t first_nonfinite(const double *a, int64_t n) {
    for (int64_t b = 0; b < n; b += 4096) {
        int64_t e = n - b < 4096 ? n : b + 4096;
        uint64_t bad = 0;
        for (int64_t k = b; k < e; k++) {
            uint64_t x;
            memcpy(&x, &a[k], 8);
            bad |= (uint64_t)((x & EXP_BITS) == EXP_BITS);
        }
        if (bad)
            for (int64_t k = b; k < e; k++)
                if (!isfinite(a[k])) return k;
    }
    return -1;
}

int cf_factors_check_finite(const cf_factors *f, char *buf, size_t len) {
    int64_t k = f->k, at;
    if ((at = first_nonfinite(f->P, f->n_users * k)) >= 0)
        return snprintf(buf, len, "user factor row %lld", (long long)(at / k)), 1;
    if ((at = first_nonfinite(f->Q, f->n_items * k)) >= 0)
        return snprintf(buf, len, "item factor row %lld", (long long)(at / k)), 1;
    if ((at = first_nonfinite(f->bu, f->n_users)) >= 0)
        return snprintf(buf, len, "user bias row %lld", (long long)at), 1;
    if ((at = first_nonfinite(f->bi, f->n_items)) >= 0)
        return snprintf(buf, len, "item bias row %lld", (long long)at), 1;
    if (!isfinite(f->mu)) return snprintf(buf, len, "global mean"), 1;
    return 0;
}

/* max |a[k]| ignoring NaNs, as fmax(m, fabs(a[k])) from 0 gives: for non-NaN doubles
 * the magnitude order is the unsigned order of the bits without the sign. */
static double max_abs(const double *a, int64_t n) {
    uint64_t m = 0;
    for (int64_t k = 0; k < n; k++) {
        uint64_t x;
        memcpy(&x, &a[k], 8);
        x &= ABS_BITS;
        x = x > EXP_BITS ? 0 : x; /* a NaN counts as nothing */
        m = x > m ? x : m;
    }
    double d;
    memcpy(&d, &m, 8);
    return d;
}

double cf_factors_prediction_bound(const cf_factors *f) {
    int64_t k = f->k;
    double dot = (double)k * max_abs(f->P, f->n_users * k) * max_abs(f->Q, f->n_items * k);
    if (!f->bias) return dot;
    return fabs(f->mu) + max_abs(f->bu, f->n_users) + max_abs(f->bi, f->n_items) + dot;
}
