/*
 * backend.c — the CPU reference backend's table: open / evaluate / download / upload /
 * close. The update steps live one per solver file (als.c, sgd.c, gd.c, alsgd.c, ccd.c).
 *
 * Evaluation (DESIGN.md §1):
 *   sse = Σ_{(u,i)} (r_ui − r̂_ui)²,  sae = Σ |r_ui − r̂_ui|
 *   reg = Σ_u (Λ_u ‖p_u‖² + Λb_u b_u²) + Σ_i (Λ_i ‖q_i‖² + Λb_i b_i²),
 *   Λ = cf_reg_lambda(reg, λ, n_row, |Ω|), Λb = cf_bias_reg_lambda(cfg, n_row, |Ω|)
 *   (a row with Λb = Λ, every row by default, is summed as Λ (‖x‖² + b²))
 * Sums are formed per fixed chunk of rows and the chunks added in order, so the result
 * does not depend on the number of threads.
 */
#include "cpu.h"
#include "train.h"

#include "common.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* BLAS in this library is called only inside our own parallel loops over rows (als.c),
 * so it runs on one thread, which also keeps every row's arithmetic the same whatever
 * the thread count. OpenBLAS's pthread build (Debian's default) starts a pool of
 * workers at load, one per core but one, and each worker spins (sched_yield) for ≈ 0.1 s
 * before it sleeps: the first parallel phases of a run competed with them for the cores.
 * On the 2-core VM, `cufactor train` of 100 k ratings spent 0.07–0.12 s instead of
 * 0.006 s preparing in 7 of 10 runs (perf: libgomp barriers and sched_yield), and 0.006–
 * 0.019 s with OPENBLAS_NUM_THREADS=1. So at load, before any of our threads, BLAS is
 * made sequential and the pool stopped (blas_thread_shutdown_, the call OpenBLAS makes
 * itself before a fork; weak, so another BLAS links too). Setting 1 again later must
 * not happen while it is 1: OpenBLAS would start the pool again. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

static void blas_sequential(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

__attribute__((constructor)) static void blas_pool_stop(void) {
    blas_sequential();
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}

cf_side_view cf_cpu_side(cf_backend *b, cf_side side) {
    const cf_ratings *R = b->R;
    cf_side_view v;
    if (side == CF_SIDE_USERS) {
        v.n_rows = R->n_users, v.n_other = R->n_items;
        v.ptr = R->row_ptr, v.idx = R->row_col, v.val = R->row_val;
        v.X = b->f.P, v.bx = b->f.bu, v.Y = b->f.Q, v.by = b->f.bi;
    } else {
        v.n_rows = R->n_items, v.n_other = R->n_users;
        v.ptr = R->col_ptr, v.idx = R->col_row, v.val = R->col_val;
        v.X = b->f.Q, v.bx = b->f.bi, v.Y = b->f.P, v.by = b->f.bu;
    }
    return v;
}

static cf_status cpu_open(const cf_ratings *train, const cf_triplets *test, const cf_config *cfg,
                          const cf_factors *init, cf_backend **out, cf_error *err) {
    *out = NULL;
    if (init->n_users != train->n_users || init->n_items != train->n_items ||
        init->k != cfg->factors)
        return cf_fail(err, CF_ERR_INVALID,
                       "cpu backend: initial factors %lld×%lld K=%d do not match the data %lld×%lld K=%d",
                       (long long)init->n_users, (long long)init->n_items, init->k,
                       (long long)train->n_users, (long long)train->n_items, cfg->factors);
    if (cfg->precision == CF_PRECISION_FP16)
        return cf_fail(err, CF_ERR_UNSUPPORTED,
                       "precision fp16: the CPU reference stores and computes in double; fp16 "
                       "factor storage is GPU-only (use --device gpu, or --precision fp32)");
    cf_backend *b = cf_calloc(1, sizeof *b, err, "cpu backend");
    if (!b) return CF_ERR_NOMEM;
    b->R = train;
    b->test = test;
    cf_config_resolve_ratings(cfg, train, &b->cfg); /* batch, optimizer left to be chosen */
    b->threads = cfg->threads > 0 ? cfg->threads : omp_get_num_procs();
    if (b->threads < 1) b->threads = 1;
    /* sequential again where a caller made BLAS parallel since (blas_pool_stop) */
    blas_sequential();
    snprintf(b->name, sizeof b->name, "cpu (%d thread%s)", b->threads, b->threads == 1 ? "" : "s");
    cf_status st = cf_factors_copy(&b->f, init, err);
    if (st) {
        free(b);
        return st;
    }
    *out = b;
    return CF_OK;
}

static void cpu_close(cf_backend *b) {
    if (!b) return;
    if (b->solver_free && b->solver_state) b->solver_free(b->solver_state);
    cf_factors_free(&b->f);
    free(b);
}

static const char *cpu_device_name(cf_backend *b) { return b->name; }

void (*cf_cpu_stop_poll_hook)(void) = NULL;

static void cpu_set_stop(cf_backend *b, const volatile sig_atomic_t *stop) { b->stop = stop; }

cf_status cf_cpu_interrupted(const volatile sig_atomic_t *stop, const char *algo, cf_error *err) {
    if (!stop || !*stop) return CF_OK;
    return cf_fail(err, CF_ERR_INTERRUPTED, "%s: interrupted inside the step", algo);
}

static cf_status cpu_download(cf_backend *b, cf_factors *out, cf_error *err) {
    if (out->n_users != b->f.n_users || out->n_items != b->f.n_items || out->k != b->f.k)
        return cf_fail(err, CF_ERR_INVALID, "cpu backend: download target has other dimensions");
    size_t np = (size_t)b->f.n_users * (size_t)b->f.k, nq = (size_t)b->f.n_items * (size_t)b->f.k;
    memcpy(out->P, b->f.P, np * sizeof(double));
    memcpy(out->Q, b->f.Q, nq * sizeof(double));
    memcpy(out->bu, b->f.bu, (size_t)b->f.n_users * sizeof(double));
    memcpy(out->bi, b->f.bi, (size_t)b->f.n_items * sizeof(double));
    out->mu = b->f.mu;
    out->bias = b->f.bias;
    return CF_OK;
}

static cf_status cpu_upload(cf_backend *b, const cf_factors *in, cf_error *err) {
    if (in->n_users != b->f.n_users || in->n_items != b->f.n_items || in->k != b->f.k)
        return cf_fail(err, CF_ERR_INVALID, "cpu backend: uploaded factors have other dimensions");
    size_t np = (size_t)in->n_users * (size_t)in->k, nq = (size_t)in->n_items * (size_t)in->k;
    memcpy(b->f.P, in->P, np * sizeof(double));
    memcpy(b->f.Q, in->Q, nq * sizeof(double));
    memcpy(b->f.bu, in->bu, (size_t)in->n_users * sizeof(double));
    memcpy(b->f.bi, in->bi, (size_t)in->n_items * sizeof(double));
    b->f.mu = in->mu;
    return CF_OK;
}

/* Σ_rows (Λ_row ‖x_row‖² + Λb_row b_row²) over one side, chunked for determinism. */
static double side_reg(cf_backend *b, cf_side side) {
    cf_side_view v = cf_cpu_side(b, side);
    int64_t K = b->f.k, nnz = b->R->nnz;
    double part[CF_CPU_REDUCE_CHUNKS] = {0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->threads)
    for (int c = 0; c < CF_CPU_REDUCE_CHUNKS; c++) {
        int64_t lo = v.n_rows * c / CF_CPU_REDUCE_CHUNKS, hi = v.n_rows * (c + 1) / CF_CPU_REDUCE_CHUNKS;
        double s = 0;
        for (int64_t r = lo; r < hi; r++) {
            double lam = cf_reg_lambda(b->cfg.reg, b->cfg.lambda, v.ptr[r + 1] - v.ptr[r], nnz);
            double lamb = cf_bias_reg_lambda(&b->cfg, v.ptr[r + 1] - v.ptr[r], nnz);
            const double *x = v.X + r * K;
            if (lamb == lam) { /* Λ (‖x‖² + b²) */
                double sq = v.bx[r] * v.bx[r];
                for (int64_t k = 0; k < K; k++) sq += x[k] * x[k];
                s += lam * sq;
            } else { /* Λ ‖x‖² + Λb b² */
                double sq = 0;
                for (int64_t k = 0; k < K; k++) sq += x[k] * x[k];
                s += lam * sq + lamb * (v.bx[r] * v.bx[r]);
            }
        }
        part[c] = s;
    }
    double s = 0;
    for (int c = 0; c < CF_CPU_REDUCE_CHUNKS; c++) s += part[c];
    return s;
}

static cf_status cpu_evaluate(cf_backend *b, cf_eval_set which, cf_eval *out, cf_error *err) {
    (void)err;
    memset(out, 0, sizeof *out);
    double sse[CF_CPU_REDUCE_CHUNKS] = {0}, sae[CF_CPU_REDUCE_CHUNKS] = {0};
    const cf_factors *f = &b->f;
    if (which == CF_EVAL_TRAIN) {
        const cf_ratings *R = b->R;
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->threads)
        for (int c = 0; c < CF_CPU_REDUCE_CHUNKS; c++) {
            int64_t lo = R->n_users * c / CF_CPU_REDUCE_CHUNKS, hi = R->n_users * (c + 1) / CF_CPU_REDUCE_CHUNKS;
            double s2 = 0, s1 = 0;
            for (int64_t u = lo; u < hi; u++)
                for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
                    double d = (double)R->row_val[e] - cf_predict(f, (uint32_t)u, R->row_col[e]);
                    s2 += d * d, s1 += fabs(d);
                }
            sse[c] = s2, sae[c] = s1;
        }
        out->n = R->nnz;
        out->reg = side_reg(b, CF_SIDE_USERS) + side_reg(b, CF_SIDE_ITEMS);
    } else {
        const cf_triplets *t = b->test;
        int64_t n = t ? t->n : 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(b->threads)
        for (int c = 0; c < CF_CPU_REDUCE_CHUNKS; c++) {
            int64_t lo = n * c / CF_CPU_REDUCE_CHUNKS, hi = n * (c + 1) / CF_CPU_REDUCE_CHUNKS;
            double s2 = 0, s1 = 0;
            for (int64_t e = lo; e < hi; e++) {
                double d = (double)t->r[e] - cf_predict(f, t->u[e], t->i[e]);
                s2 += d * d, s1 += fabs(d);
            }
            sse[c] = s2, sae[c] = s1;
        }
        out->n = n;
    }
    for (int c = 0; c < CF_CPU_REDUCE_CHUNKS; c++) out->sse += sse[c], out->sae += sae[c];
    return CF_OK;
}

/* Checkpoints: ALS and SGD keep nothing beyond the factors (their orders are drawn
 * from (seed, stream, epoch)); the others hand over to their solver file. */
static cf_status cpu_state_export(cf_backend *b, cf_solver_state *out, cf_error *err) {
    switch (b->cfg.algo) {
    case CF_ALGO_GD:
    case CF_ALGO_MINIBATCH: return cf_cpu_gd_state_export(b, out, err);
    case CF_ALGO_ALSGD: return cf_cpu_alsgd_state_export(b, out, err);
    case CF_ALGO_CCD: return cf_cpu_ccd_state_export(b, out, err);
    default: memset(out, 0, sizeof *out); return CF_OK;
    }
}

static cf_status cpu_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err) {
    switch (b->cfg.algo) {
    case CF_ALGO_GD:
    case CF_ALGO_MINIBATCH: return cf_cpu_gd_state_import(b, in, err);
    case CF_ALGO_ALSGD: return cf_cpu_alsgd_state_import(b, in, err);
    case CF_ALGO_CCD: return cf_cpu_ccd_state_import(b, in, err);
    default:
        if (in->counter != 0 || in->has_moments)
            return cf_fail(err, CF_ERR_INVALID, "cpu backend: %s keeps no solver state, the checkpoint has one",
                           cf_algo_name(b->cfg.algo));
        return CF_OK;
    }
}

const cf_backend_ops cf_cpu_backend = {
    .name = "cpu",
    .open = cpu_open,
    .als_half = cf_cpu_als_half,
    .alsgd_half = cf_cpu_alsgd_half,
    .sgd_epoch = cf_cpu_sgd_epoch,
    .gd_epoch = cf_cpu_gd_epoch,
    .ccd_sweep = cf_cpu_ccd_sweep,
    .evaluate = cpu_evaluate,
    .download = cpu_download,
    .upload = cpu_upload,
    .state_export = cpu_state_export,
    .state_import = cpu_state_import,
    .set_stop = cpu_set_stop,
    .device_name = cpu_device_name,
    .close = cpu_close,
};
