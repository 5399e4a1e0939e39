/*
 * backend_f32.c — the fp32 CPU backend's table (cpu32.h): open / evaluate / download /
 * upload / checkpoint state / close. The update steps are in sgd_f32.c and als_f32.c.
 *
 * Evaluation computes what the reference computes (DESIGN.md §1) from the fp32 factors:
 * each prediction's dot product in fp32 (simd_f32.h), the residual r − r̂ and every sum in
 * double; sums are formed per fixed chunk of rows (CF_CPU32_CHUNKS) and the chunks added in
 * order, so the result does not depend on the thread count.
 */
#include "cpu32.h"

#include "common.h"
#include "train.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CF_CPU32_CHUNKS 256

static void *alloc_rows(int64_t n, int32_t ld, cf_error *err, const char *what) {
    size_t bytes = (size_t)(n > 0 ? n : 1) * (size_t)ld * sizeof(float);
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes);
    if (!p) {
        cf_fail(err, CF_ERR_NOMEM, "cpu-fp32 backend: out of memory for the %s (%zu bytes)", what, bytes);
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

/* fp32 rows ← the doubles of f (rounded to nearest); pads stay 0. */
static void put_factors(cf_backend *b, const cf_factors *f) {
    const int32_t K = b->K, ld = b->ld;
    for (int64_t u = 0; u < b->n_users; u++)
        for (int32_t k = 0; k < K; k++) b->P[u * ld + k] = (float)f->P[u * K + k];
    for (int64_t i = 0; i < b->n_items; i++)
        for (int32_t k = 0; k < K; k++) b->Q[i * ld + k] = (float)f->Q[i * K + k];
    for (int64_t u = 0; u < b->n_users; u++) b->bu[u] = b->bias ? (float)f->bu[u] : 0.0f;
    for (int64_t i = 0; i < b->n_items; i++) b->bi[i] = b->bias ? (float)f->bi[i] : 0.0f;
}

static void cpu32_close(cf_backend *b) {
    if (!b) return;
    if (b->solver_free && b->solver_state) b->solver_free(b->solver_state);
    free(b->P), free(b->Q), free(b->bu), free(b->bi);
    free(b);
}

static cf_status cpu32_open(const cf_ratings *train, const cf_triplets *test, const cf_config *cfg,
                            const cf_factors *init, cf_backend **out, cf_error *err) {
    *out = NULL;
    if (init->n_users != train->n_users || init->n_items != train->n_items || init->k != cfg->factors)
        return cf_fail(err, CF_ERR_INVALID,
                       "cpu-fp32 backend: initial factors %lld×%lld K=%d do not match the data %lld×%lld K=%d",
                       (long long)init->n_users, (long long)init->n_items, init->k, (long long)train->n_users,
                       (long long)train->n_items, cfg->factors);
    if (cfg->precision == CF_PRECISION_FP16)
        return cf_fail(err, CF_ERR_UNSUPPORTED,
                       "precision fp16: fp16 factor storage is GPU-only; the CPU computes in fp32 "
                       "(--precision fp32) or double (fp64)");
    cf_backend *b = cf_calloc(1, sizeof *b, err, "cpu-fp32 backend");
    if (!b) return CF_ERR_NOMEM;
    b->R = train;
    b->test = test;
    cf_config_resolve_ratings(cfg, train, &b->cfg);
    b->threads = cfg->threads > 0 ? cfg->threads : omp_get_num_procs();
    if (b->threads < 1) b->threads = 1;
    b->n_users = train->n_users, b->n_items = train->n_items;
    b->K = init->k, b->ld = cf_f32_ld(init->k), b->bias = init->bias;
    b->mu = init->mu;
    b->kern = cf_f32_kernels_get(cf_simd_best());
    snprintf(b->name, sizeof b->name, "cpu fp32 %s (%d thread%s)", cf_simd_name(b->kern->isa), b->threads,
             b->threads == 1 ? "" : "s");
    if (!(b->P = alloc_rows(b->n_users, b->ld, err, "user factors")) ||
        !(b->Q = alloc_rows(b->n_items, b->ld, err, "item factors")) ||
        !(b->bu = cf_calloc((size_t)(b->n_users > 0 ? b->n_users : 1), sizeof(float), err, "user biases")) ||
        !(b->bi = cf_calloc((size_t)(b->n_items > 0 ? b->n_items : 1), sizeof(float), err, "item biases"))) {
        cpu32_close(b);
        return CF_ERR_NOMEM;
    }
    put_factors(b, init);
    *out = b;
    return CF_OK;
}

static const char *cpu32_device_name(cf_backend *b) { return b->name; }

static void cpu32_set_stop(cf_backend *b, const volatile sig_atomic_t *stop) { b->stop = stop; }

cf_simd cf_cpu32_simd(const cf_backend *b) { return b->kern->isa; }

void *cf_cpu32_state_get(cf_backend *b, void (*free_fn)(void *)) {
    if (b->solver_state && b->solver_free == free_fn) return b->solver_state;
    if (b->solver_state && b->solver_free) b->solver_free(b->solver_state);
    b->solver_state = NULL;
    b->solver_free = NULL;
    return NULL;
}

void cf_cpu32_state_set(cf_backend *b, void *state, void (*free_fn)(void *)) {
    b->solver_state = state;
    b->solver_free = free_fn;
}

void cf_cpu32_zero_empty_rows(cf_backend *b) {
    const cf_ratings *R = b->R;
    const size_t ld = (size_t)b->ld;
    for (int64_t u = 0; u < R->n_users; u++)
        if (R->row_ptr[u + 1] == R->row_ptr[u]) memset(b->P + (size_t)u * ld, 0, ld * sizeof(float)), b->bu[u] = 0;
    for (int64_t i = 0; i < R->n_items; i++)
        if (R->col_ptr[i + 1] == R->col_ptr[i]) memset(b->Q + (size_t)i * ld, 0, ld * sizeof(float)), b->bi[i] = 0;
}

cf_status cf_cpu32_check_finite(const cf_backend *b, const char *algo, const char *unit, int64_t iter,
                                const char *hint, cf_error *err) {
    for (int side = 0; side < 2; side++) {
        const int64_t n = side ? b->n_items : b->n_users;
        const float *F = side ? b->Q : b->P, *bias = side ? b->bi : b->bu;
        for (int64_t r = 0; r < n; r++) {
            int ok = isfinite(bias[r]);
            for (int32_t k = 0; ok && k < b->K; k++) ok = isfinite(F[(size_t)r * (size_t)b->ld + (size_t)k]);
            if (!ok)
                return cf_fail(err, CF_ERR_NUMERIC, "%s: non-finite value at %s %lld in %s row %lld; %s", algo, unit,
                               (long long)iter, side ? "Q" : "P", (long long)r, hint);
        }
    }
    return CF_OK;
}

static cf_status cpu32_download(cf_backend *b, cf_factors *out, cf_error *err) {
    if (out->n_users != b->n_users || out->n_items != b->n_items || out->k != b->K)
        return cf_fail(err, CF_ERR_INVALID, "cpu-fp32 backend: download target has other dimensions");
    const int32_t K = b->K, ld = b->ld;
    for (int64_t u = 0; u < b->n_users; u++)
        for (int32_t k = 0; k < K; k++) out->P[u * K + k] = (double)b->P[u * ld + k];
    for (int64_t i = 0; i < b->n_items; i++)
        for (int32_t k = 0; k < K; k++) out->Q[i * K + k] = (double)b->Q[i * ld + k];
    for (int64_t u = 0; u < b->n_users; u++) out->bu[u] = (double)b->bu[u];
    for (int64_t i = 0; i < b->n_items; i++) out->bi[i] = (double)b->bi[i];
    out->mu = b->mu;
    out->bias = b->bias;
    return CF_OK;
}

static cf_status cpu32_upload(cf_backend *b, const cf_factors *in, cf_error *err) {
    if (in->n_users != b->n_users || in->n_items != b->n_items || in->k != b->K)
        return cf_fail(err, CF_ERR_INVALID, "cpu-fp32 backend: uploaded factors have other dimensions");
    put_factors(b, in);
    b->mu = in->mu;
    return CF_OK;
}

/* Σ_rows (Λ_row ‖x_row‖² + Λb_row b_row²) over one side, in double, chunked (a row with
 * Λb = Λ, every row by default, summed as Λ (‖x‖² + b²)). */
static double side_reg(const cf_backend *b, cf_side side) {
    const cf_ratings *R = b->R;
    const int64_t n = side == CF_SIDE_USERS ? R->n_users : R->n_items;
    const int64_t *ptr = side == CF_SIDE_USERS ? R->row_ptr : R->col_ptr;
    const float *X = side == CF_SIDE_USERS ? b->P : b->Q, *bx = side == CF_SIDE_USERS ? b->bu : b->bi;
    double part[CF_CPU32_CHUNKS] = {0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->threads)
    for (int c = 0; c < CF_CPU32_CHUNKS; c++) {
        const int64_t lo = n * c / CF_CPU32_CHUNKS, hi = n * (c + 1) / CF_CPU32_CHUNKS;
        double s = 0;
        for (int64_t r = lo; r < hi; r++) {
            const double lam = cf_reg_lambda(b->cfg.reg, b->cfg.lambda, ptr[r + 1] - ptr[r], R->nnz);
            const double lamb = cf_bias_reg_lambda(&b->cfg, ptr[r + 1] - ptr[r], R->nnz);
            const float *x = X + (size_t)r * (size_t)b->ld;
            const double b2 = (double)bx[r] * (double)bx[r];
            double sq = lamb == lam ? b2 : 0.0; /* Λ (‖x‖² + b²), or Λ ‖x‖² + Λb b² */
            for (int32_t k = 0; k < b->K; k++) sq += (double)x[k] * (double)x[k];
            s += lamb == lam ? lam * sq : lam * sq + lamb * b2;
        }
        part[c] = s;
    }
    double s = 0;
    for (int c = 0; c < CF_CPU32_CHUNKS; c++) s += part[c];
    return s;
}

static cf_status cpu32_evaluate(cf_backend *b, cf_eval_set which, cf_eval *out, cf_error *err) {
    (void)err;
    memset(out, 0, sizeof *out);
    double sse[CF_CPU32_CHUNKS] = {0}, sae[CF_CPU32_CHUNKS] = {0};
    const cf_f32_kernels *kn = b->kern;
    const double mu = b->mu;
    if (which == CF_EVAL_TRAIN) {
        const cf_ratings *R = b->R;
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->threads)
        for (int c = 0; c < CF_CPU32_CHUNKS; c++) {
            const int64_t lo = R->n_users * c / CF_CPU32_CHUNKS, hi = R->n_users * (c + 1) / CF_CPU32_CHUNKS;
            for (int64_t u = lo; u < hi; u++) {
                const int64_t e0 = R->row_ptr[u];
                kn->eval_row(b->P + (size_t)u * (size_t)b->ld, b->bu[u], R->row_col + e0, R->row_val + e0,
                             R->row_ptr[u + 1] - e0, b->Q, b->bi, b->ld, mu, b->bias, &sse[c], &sae[c]);
            }
        }
        out->n = R->nnz;
        out->reg = side_reg(b, CF_SIDE_USERS) + side_reg(b, CF_SIDE_ITEMS);
    } else {
        const cf_triplets *t = b->test;
        const int64_t n = t ? t->n : 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->threads)
        for (int c = 0; c < CF_CPU32_CHUNKS; c++) {
            const int64_t lo = n * c / CF_CPU32_CHUNKS, hi = n * (c + 1) / CF_CPU32_CHUNKS;
            if (hi > lo)
                kn->eval_pairs(t->u + lo, t->i + lo, t->r + lo, hi - lo, b->P, b->Q, b->bu, b->bi, b->ld, mu,
                               b->bias, &sse[c], &sae[c]);
        }
        out->n = n;
    }
    for (int c = 0; c < CF_CPU32_CHUNKS; c++) out->sse += sse[c], out->sae += sae[c];
    return CF_OK;
}

/* ALS and SGD keep nothing beyond the factors: their orders come from (seed, stream, epoch). */
static cf_status cpu32_state_export(cf_backend *b, cf_solver_state *out, cf_error *err) {
    (void)b, (void)err;
    memset(out, 0, sizeof *out);
    return CF_OK;
}

static cf_status cpu32_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err) {
    if (in->counter != 0 || in->has_moments)
        return cf_fail(err, CF_ERR_INVALID, "cpu-fp32 backend: %s keeps no solver state, the checkpoint has one",
                       cf_algo_name(b->cfg.algo));
    return CF_OK;
}

const cf_backend_ops cf_cpu32_backend = {
    .name = "cpu-fp32",
    .open = cpu32_open,
    .als_half = cf_cpu32_als_half,
    .alsgd_half = NULL,
    .sgd_epoch = cf_cpu32_sgd_epoch,
    .gd_epoch = NULL,
    .ccd_sweep = NULL,
    .evaluate = cpu32_evaluate,
    .download = cpu32_download,
    .upload = cpu32_upload,
    .state_export = cpu32_state_export,
    .state_import = cpu32_state_import,
    .set_stop = cpu32_set_stop,
    .device_name = cpu32_device_name,
    .close = cpu32_close,
};
