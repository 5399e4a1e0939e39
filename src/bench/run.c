/*
 * run.c — one benchmark case through the backend table (the entry points the trainer
 * calls), the per-phase timers, the device ceilings and the flop/byte models.
 *
 * Protocol of a case: factors initialized from cfg.seed exactly as cf_train does;
 * iters iterations; after each, the train and test RMSE (not timed). The first
 * iters − repeats iterations are the warm-up; the last `repeats` are timed (wall
 * clock around the update only) and reported by their median. The check — test RMSE
 * after the last iteration within [rmse_lo, rmse_hi] — decides whether the times count.
 *
 * Phases. CPU, ALS and ALS+GD: the users half and the items half (wall clock around
 * each); other algorithms: one "epoch" phase. GPU ALS: the two halves by wall clock
 * and, inside them, gram / rhs / solve from the backend's CUDA events (cf_gpu_stats):
 * `gram` is the fused pass forming the Gram matrices and right-hand sides together,
 * `rhs` is 0 since that pass (kept so that the records keep their fields).
 *
 * Flop and byte models of one iteration (n = training ratings, m = users + items,
 * K factors, d = K + bias, s = bytes per element: 8 on the CPU, 4 on the GPU, 12 bytes
 * of (index, rating, offset share) per stored rating). They count the work the math
 * needs, not what a given implementation happens to do; the byte model assumes the
 * other side's vectors are gathered from memory once per rating (no cache reuse), so
 * GB/s can exceed the copy ceiling on data that fits in cache.
 *   ALS:    flops = 2·n·d(d+1)            Gram Σ z zᵀ, lower triangle, both sides
 *                 + 4·n·d                  right-hand sides Σ t z, both sides
 *                 + m·(d³/3 + 2d²)         Cholesky + two triangular solves per row
 *           bytes = 2·n·(d·s + 8) + m·d·s  gathers + index/rating, one write per row
 *           bound: compute
 *   ALS+GD: L = inner steps per side; per step and rating a residual (2d) and a
 *           gradient term (2d): flops = 8·L·n·d + 3·L·m·d,
 *           bytes = 2·L·n·(d·s + 8) + 2·L·m·d·s;  bound: memory
 *   SGD:    per rating a dot product (2K), two K-vector updates (5 flops an element)
 *           and the biases: flops = n·(12K + 10);
 *           bytes = n·(4·K·f + 4·s + 12) (read and write p_u, q_i, b_u, b_i), f = the
 *           factors' storage: s, or 2 with precision fp16 (the biases stay fp32; the
 *           first GPU records, 2026-12-04, counted f = 4 for fp16 too);  bound: memory.
 *           On the GPU (issue 15) the kernel's access pattern instead, as bench_sgd
 *           (bench_impl.h cf_bench_sgd_traffic_model, its assumptions there; the
 *           factors at their storage's size): bytes_per_iter = the DRAM bytes (the
 *           ratings, the user rows once per run of a user's ratings, a side that stays
 *           in L2 once per epoch), against the copy bandwidth; l2_bytes_per_iter = the
 *           bytes between the SMs and L2 (every row access), against the L2 read
 *           ceiling measured in the same run (cf_gpu_l2_bandwidth).
 * Shares: achieved rate / ceiling; one above 1 is not physically possible and means the
 * model does not describe the case (the CPU's no-reuse count on cached data): it is
 * recorded as null with share.over_ceiling, never as a share above 100 %
 * (cf_bench_set_shares).
 *   GD, mini-batch: residuals (2K + 4 per rating), the products E·Q and Eᵀ·P (2·2K per
 *           rating), the update (4 per factor): flops = n·(6K + 4) + 4·m·K;
 *           bytes = n·(2K·s + s + 12) + 2·n·(K·s + s + 8) + 3·m·K·s;  bound: memory
 *   CCD:    per coordinate (K + bias of them) and rating: numerator, denominator and
 *           residual update (6 flops), reading and writing the residual and reading the
 *           other side's coordinate (3s + 4 bytes), both sides, plus the residual
 *           recomputation at each side switch (2K + 4 flops, 2K·s + 12 bytes):
 *           flops = 12·n·d + 2·n·(2K + 4);  bytes = 2·n·d·(3s + 4) + 2·n·(2K·s + 12);  bound: memory
 */
#include "bench_impl.h"

#include "backend.h"
#include "common.h"
#include "factors.h"
#include "train.h"
#ifdef CUFACTOR_HAVE_CUDA
#include "gpu/gpu.h"
#endif

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cf_bench_model(const cf_config *c, const cf_ratings *R, int elem, double *flops, double *bytes,
                    const char **bound) {
    const double n = (double)R->nnz, m = (double)(R->n_users + R->n_items), K = c->factors,
                 d = K + (c->bias ? 1 : 0), s = elem, L = c->inner;
    switch (c->algo) {
    case CF_ALGO_ALS:
        *flops = 2 * n * d * (d + 1) + 4 * n * d + m * (d * d * d / 3 + 2 * d * d);
        *bytes = 2 * n * (d * s + 8) + m * d * s;
        *bound = "compute";
        return;
    case CF_ALGO_ALSGD:
        *flops = 8 * L * n * d + 3 * L * m * d;
        *bytes = 2 * L * n * (d * s + 8) + 2 * L * m * d * s;
        break;
    case CF_ALGO_SGD:
        *flops = n * (12 * K + 10);
        *bytes = n * (4 * K * (c->precision == CF_PRECISION_FP16 ? 2 : s) + 4 * s + 12);
        break;
    case CF_ALGO_GD:
    case CF_ALGO_MINIBATCH:
        *flops = n * (6 * K + 4) + 4 * m * K;
        *bytes = n * (2 * K * s + s + 12) + 2 * n * (K * s + s + 8) + 3 * m * K * s;
        break;
    case CF_ALGO_CCD:
        *flops = 12 * n * d + 2 * n * (2 * K + 4);
        *bytes = 2 * n * d * (3 * s + 4) + 2 * n * (2 * K * s + 12);
        break;
    default:
        *flops = *bytes = NAN;
    }
    *bound = "memory";
}

void cf_bench_sgd_traffic_model(int64_t nnz, int64_t n_users, int64_t n_items, int k, int fp16, int bias,
                                int64_t hogwild_run, int32_t blocks, double l2_budget, cf_bench_sgd_traffic *out) {
    const double n = nnz > 0 ? (double)nnz : 1.0, s = fp16 ? 2.0 : 4.0;
    const double row = 2.0 * k * s + (bias ? 8.0 : 0.0) + 4.0, rating = 12.0;
    double ur = 1.0, ir = 1.0;
    if (hogwild_run > 0) { /* users in runs, a fresh item every update */
        ur = (double)n_users / n + 1.0 / (double)hogwild_run;
    } else { /* blocks: items in runs inside a block */
        const double ipb = (double)n_items * (double)(blocks > 0 ? blocks : 1) / n;
        ir = ipb;
    }
    if (ur > 1.0) ur = 1.0;
    if (ir > 1.0) ir = 1.0;
    const double item_side = (double)n_items * k * s, user_side = (double)n_users * k * s;
    out->user_rows = ur, out->item_rows = ir;
    out->items_in_l2 = item_side <= l2_budget;
    out->users_in_l2 = user_side + (out->items_in_l2 ? item_side : 0.0) <= l2_budget;
    out->l2_bytes = rating + (ur + ir) * row;
    out->dram_bytes = rating + (out->users_in_l2 ? (double)n_users * row / n : ur * row) +
                      (out->items_in_l2 ? (double)n_items * row / n : ir * row);
}

/* rate / ceiling, NaN where either is missing; *over set when it exceeds 1 (then NaN). */
static double share_of(double rate, double ceiling, int *over) {
    if (!(isfinite(rate) && isfinite(ceiling) && ceiling > 0)) return NAN;
    const double x = rate / ceiling;
    if (x > 1.0) {
        *over = 1;
        return NAN;
    }
    return x;
}

void cf_bench_set_shares(cf_bench_result *res) {
    res->share_over_ceiling = 0;
    res->share_flops = share_of(res->gflops, res->ceil.gemm_gflops, &res->share_over_ceiling);
    res->share_bw = share_of(res->gbps, res->ceil.copy_gbps, &res->share_over_ceiling);
    res->share_l2 = share_of(res->l2_gbps, res->ceil.l2_gbps, &res->share_over_ceiling);
}

/* ------------------------------------------------------------------ host facts */

static void cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(buf, len, "%s", colon);
        break;
    }
    fclose(f);
}

/* Resets the peak resident set (VmHWM) of this process; Linux ≥ 4.0. */
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

/* VmHWM in bytes, -1 if unknown. */
static int64_t peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : (int64_t)kb * 1024;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (copied: the input keeps its order). */
static double median_of(const double *v, int n) {
    if (n < 1) return NAN;
    double *t = malloc(sizeof(double) * (size_t)n);
    if (!t) return NAN;
    memcpy(t, v, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    return m;
}

/* ------------------------------------------------------------------ CPU ceilings */

#define COPY_BYTES ((size_t)256 << 20)
#define GEMM_N 1024
#define CEIL_REPS 5

cf_status cf_bench_cpu_ceilings(int threads, cf_bench_ceilings *out, cf_error *err) {
    memset(out, 0, sizeof *out);
    if (threads <= 0) threads = omp_get_num_procs();
    if (threads < 1) threads = 1;
    double t[CEIL_REPS];
    /* Copy: 256 MiB → 256 MiB (far beyond the caches), one contiguous chunk per thread. */
    char *src = malloc(COPY_BYTES), *dst = malloc(COPY_BYTES);
    if (!src || !dst) {
        free(src), free(dst);
        return cf_fail(err, CF_ERR_NOMEM, "out of memory for the %zu-byte copy ceiling", COPY_BYTES);
    }
    memset(src, 1, COPY_BYTES);
    memset(dst, 0, COPY_BYTES);
    for (int r = -1; r < CEIL_REPS; r++) { /* r = -1: warm-up */
        double t0 = cf_now();
#pragma omp parallel num_threads(threads)
        {
            int nt = omp_get_num_threads(), me = omp_get_thread_num();
            size_t chunk = (COPY_BYTES + (size_t)nt - 1) / (size_t)nt, lo = chunk * (size_t)me;
            size_t hi = lo + chunk < COPY_BYTES ? lo + chunk : COPY_BYTES;
            if (lo < hi) memcpy(dst + lo, src + lo, hi - lo);
        }
        if (r >= 0) t[r] = cf_now() - t0;
    }
    out->copy_gbps = 2.0 * (double)COPY_BYTES / median_of(t, CEIL_REPS) / 1e9; /* read + write */
    free(src), free(dst);

    /* GEMM: C = A·B, n × n, random operands, OpenBLAS with `threads` threads. */
    const int n = GEMM_N;
    double *A = malloc(sizeof(double) * n * n), *C = malloc(sizeof(double) * n * n);
    float *As = malloc(sizeof(float) * n * n), *Cs = malloc(sizeof(float) * n * n);
    if (!A || !C || !As || !Cs) {
        free(A), free(C), free(As), free(Cs);
        return cf_fail(err, CF_ERR_NOMEM, "out of memory for the GEMM ceiling");
    }
    cf_rng rng;
    cf_rng_seed(&rng, 12345);
    for (int j = 0; j < n * n; j++) A[j] = 2 * cf_rng_uniform(&rng) - 1, As[j] = (float)A[j];
    /* only when it changes: OpenBLAS restarts its stopped pool on any call (cpu/backend.c) */
    if (openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
    for (int r = -1; r < CEIL_REPS; r++) {
        double t0 = cf_now();
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A, n, A, n, 0.0, C, n);
        if (r >= 0) t[r] = cf_now() - t0;
    }
    out->gemm_gflops = 2.0 * n * n * (double)n / median_of(t, CEIL_REPS) / 1e9;
    for (int r = -1; r < CEIL_REPS; r++) {
        double t0 = cf_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, As, n, As, n, 0.0f, Cs, n);
        if (r >= 0) t[r] = cf_now() - t0;
    }
    out->sgemm_gflops = 2.0 * n * n * (double)n / median_of(t, CEIL_REPS) / 1e9;
    if (threads != 1) openblas_set_num_threads(1); /* the CPU backend's setting: BLAS inside a row stays sequential */
    out->tf32_gflops = NAN;
    snprintf(out->gemm_name, sizeof out->gemm_name, "OpenBLAS DGEMM n=%d, %d thread%s", n, threads,
             threads == 1 ? "" : "s");
    free(A), free(C), free(As), free(Cs);
    out->threads = threads;
    out->measured = 1;
    return CF_OK;
}

/* ------------------------------------------------------------------ one case */

/* One iteration with per-phase wall times into ph[]. */
static cf_status step(const cf_backend_ops *ops, cf_backend *b, const cf_config *c, int32_t epoch, double *ph,
                      cf_error *err) {
    cf_status st;
    double t0 = cf_now();
    switch (c->algo) {
    case CF_ALGO_ALS:
    case CF_ALGO_ALSGD:
        st = c->algo == CF_ALGO_ALS ? ops->als_half(b, CF_SIDE_USERS, err)
                                    : ops->alsgd_half(b, CF_SIDE_USERS, cf_config_lr(c, epoch), err);
        if (st) return st;
        ph[0] = cf_now() - t0;
        t0 = cf_now();
        st = c->algo == CF_ALGO_ALS ? ops->als_half(b, CF_SIDE_ITEMS, err)
                                    : ops->alsgd_half(b, CF_SIDE_ITEMS, cf_config_lr(c, epoch), err);
        ph[1] = cf_now() - t0;
        return st;
    case CF_ALGO_SGD: st = ops->sgd_epoch(b, epoch, cf_config_lr(c, epoch), err); break;
    case CF_ALGO_GD:
    case CF_ALGO_MINIBATCH: st = ops->gd_epoch(b, epoch, cf_config_lr(c, epoch), err); break;
    case CF_ALGO_CCD: st = ops->ccd_sweep(b, err); break;
    default: return cf_fail(err, CF_ERR_INVALID, "algo: unknown value %d", (int)c->algo);
    }
    ph[0] = cf_now() - t0;
    return st;
}

static void skip(cf_bench_result *res, const char *fmt, const char *a, const char *b2) {
    res->status = CF_BENCH_SKIPPED;
    snprintf(res->reason, sizeof res->reason, fmt, a, b2);
}

void cf_bench_result_free(cf_bench_result *res) {
    if (!res) return;
    free(res->test_rmse), free(res->train_rmse), free(res->iter_seconds);
    res->test_rmse = res->train_rmse = res->iter_seconds = NULL;
}

cf_status cf_bench_run_case(const cf_bench_case *c, const cf_bench_data *data, cf_bench_ceilings *cpu_ceil,
                            cf_bench_result *res, cf_error *err) {
    memset(res, 0, sizeof *res);
    const cf_config *cfg = &c->cfg;
    const cf_ratings *R = cf_bench_data_train(data);
    const cf_triplets *test = cf_bench_data_test(data);
    const int gpu = cfg->device == CF_DEVICE_GPU;
    cpu_model(res->cpu_model, sizeof res->cpu_model);
    snprintf(res->device_kind, sizeof res->device_kind, "%s", gpu ? "gpu" : "cpu");
    res->device_peak_bytes = -1;
    res->iters = cfg->iters, res->repeats = c->repeats;
    res->threads = cfg->threads > 0 ? cfg->threads : omp_get_num_procs();
    res->check_rmse = NAN;
    res->ceil.tf32_gflops = NAN;
    res->ceil.l2_gbps = res->l2_bytes_per_iter = res->l2_gbps = res->share_l2 = NAN;
    cf_status st = cf_config_validate(cfg, err);
    if (st) return st;
    if (c->repeats < 1 || c->repeats >= cfg->iters)
        return cf_fail(err, CF_ERR_INVALID, "case '%s': repeats %d, must be in 1..iters-1 = %d", c->name,
                       c->repeats, cfg->iters - 1);

    const cf_backend_ops *ops = cf_cpu_backend_for(cfg); /* the case's precision: fp64 or fp32 */
    if (gpu) {
        char why[200] = "";
        ops = cf_gpu_backend();
        if (!ops || !cf_gpu_available(why, sizeof why)) {
            skip(res, "no usable GPU (%s)%s", why, "");
            return CF_OK;
        }
        if (!cf_backend_implements(ops, cfg->algo)) {
            skip(res, "the GPU backend does not implement --algo %s yet%s", cf_algo_name(cfg->algo), "");
            return CF_OK;
        }
    }
    res->test_rmse = cf_calloc((size_t)cfg->iters, sizeof(double), err, "RMSE per iteration");
    res->train_rmse = cf_calloc((size_t)cfg->iters, sizeof(double), err, "RMSE per iteration");
    res->iter_seconds = cf_calloc((size_t)c->repeats, sizeof(double), err, "iteration times");
    double *phase = cf_calloc((size_t)c->repeats * CF_BENCH_MAX_PHASES, sizeof(double), err, "phase times");
    cf_factors init = {0};
    cf_backend *b = NULL;
    if (!res->test_rmse || !res->train_rmse || !res->iter_seconds || !phase) {
        st = CF_ERR_NOMEM;
        goto done;
    }
    if ((st = cf_factors_alloc(&init, R->n_users, R->n_items, cfg->factors, cfg->bias, err))) goto done;
    cf_factors_init_random_threads(&init, cfg->init_scale, cfg->seed, cfg->threads); /* as cf_train's first run */
    init.mu = cfg->bias ? R->mean : 0.0;

    reset_peak_rss();
#ifdef CUFACTOR_HAVE_CUDA
    if (gpu) {
        cf_gpu_tuning tune;
        cf_gpu_tuning_default(&tune);
        tune.timing = 1;
        st = cf_gpu_open_tuned(R, test, cfg, &init, &tune, &b, err);
        cf_gpu_versions(&res->driver_version, &res->cuda_version);
        cf_bench_nvidia_driver(res->nvidia_driver, sizeof res->nvidia_driver);
    } else
#endif
        st = ops->open(R, test, cfg, &init, &b, err);
    if (st) goto done;
    snprintf(res->device_name, sizeof res->device_name, "%s", ops->device_name(b));

    const int32_t warm = cfg->iters - c->repeats;
    int split = cfg->algo == CF_ALGO_ALS || cfg->algo == CF_ALGO_ALSGD;
    res->n_phases = split ? 2 : 1;
    snprintf(res->phase_name[0], 16, "%s", split ? "users" : "epoch");
    if (split) snprintf(res->phase_name[1], 16, "items");
#ifdef CUFACTOR_HAVE_CUDA
    if (gpu && cfg->algo == CF_ALGO_ALS) {
        res->n_phases = 5;
        snprintf(res->phase_name[2], 16, "gram");
        snprintf(res->phase_name[3], 16, "rhs");
        snprintf(res->phase_name[4], 16, "solve");
    }
#endif
    for (int32_t it = 0; it < cfg->iters; it++) {
        double ph[CF_BENCH_MAX_PHASES] = {0};
#ifdef CUFACTOR_HAVE_CUDA
        if (gpu) cf_gpu_stats_reset_timers(b);
#endif
        double t0 = cf_now();
        if ((st = step(ops, b, cfg, it, ph, err))) goto done;
        double secs = cf_now() - t0;
#ifdef CUFACTOR_HAVE_CUDA
        if (gpu && cfg->algo == CF_ALGO_ALS) {
            cf_gpu_stats s;
            cf_gpu_stats_get(b, &s);
            ph[2] = s.gram_ms * 1e-3, ph[3] = s.rhs_ms * 1e-3, ph[4] = s.solve_ms * 1e-3;
        }
#endif
        cf_eval tr, te;
        if ((st = cf_train_evaluate(ops, b, &tr, &te, err)))
            goto done;
        res->train_rmse[it] = tr.n ? sqrt(tr.sse / (double)tr.n) : NAN;
        res->test_rmse[it] = te.n ? sqrt(te.sse / (double)te.n) : NAN;
        if (!isfinite(tr.sse + tr.reg)) {
            res->status = CF_BENCH_FAILED;
            snprintf(res->reason, sizeof res->reason, "diverged at iteration %d (non-finite objective)", it + 1);
            goto done;
        }
        if (it >= warm) {
            int j = it - warm;
            res->iter_seconds[j] = secs;
            for (int p = 0; p < res->n_phases; p++) phase[p * c->repeats + j] = ph[p];
        }
    }
    /* The check: only a result inside the stated range has its time reported. */
    res->check_rmse = res->test_rmse[cfg->iters - 1];
    if (!(res->check_rmse >= c->rmse_lo && res->check_rmse <= c->rmse_hi)) {
        res->status = CF_BENCH_FAILED;
        snprintf(res->reason, sizeof res->reason, "check failed: test RMSE %.6g after %d iterations is outside [%g, %g]",
                 res->check_rmse, cfg->iters, c->rmse_lo, c->rmse_hi);
        goto done;
    }
    res->sec_median = median_of(res->iter_seconds, c->repeats);
    res->sec_min = res->sec_max = res->iter_seconds[0];
    for (int j = 1; j < c->repeats; j++) {
        if (res->iter_seconds[j] < res->sec_min) res->sec_min = res->iter_seconds[j];
        if (res->iter_seconds[j] > res->sec_max) res->sec_max = res->iter_seconds[j];
    }
    for (int p = 0; p < res->n_phases; p++) res->phase_median[p] = median_of(phase + p * c->repeats, c->repeats);
    const int fp32 = gpu || cfg->precision == CF_PRECISION_FP32; /* fp16: the model's own case */
    cf_bench_model(cfg, R, fp32 || cfg->precision == CF_PRECISION_FP16 ? 4 : 8, &res->flops_per_iter,
                   &res->bytes_per_iter, &res->bound);
    res->updates_per_sec = (double)R->nnz / res->sec_median;
    res->gflops = res->flops_per_iter / res->sec_median / 1e9;
    res->gbps = res->bytes_per_iter / res->sec_median / 1e9;
    res->host_peak_bytes = peak_rss();

    /* Ceilings of the same device, in the same run. */
#ifdef CUFACTOR_HAVE_CUDA
    if (gpu) {
        cf_gpu_stats s;
        cf_gpu_stats_get(b, &s); /* before the ceiling buffers count */
        res->device_peak_bytes = (int64_t)(s.device_used_peak_bytes > s.alloc_peak_bytes ? s.device_used_peak_bytes
                                                                                        : s.alloc_peak_bytes);
        if (cfg->algo == CF_ALGO_SGD) { /* the kernel's access pattern (model above) */
            cf_bench_sgd_traffic t;
            cf_bench_sgd_traffic_model(R->nnz, R->n_users, R->n_items, cfg->factors,
                                       cfg->precision == CF_PRECISION_FP16, cfg->bias, s.sgd_hogwild_run,
                                       cfg->blocks, CF_BENCH_L2_BUDGET, &t);
            res->bytes_per_iter = (double)R->nnz * t.dram_bytes;
            res->l2_bytes_per_iter = (double)R->nnz * t.l2_bytes;
            res->gbps = res->bytes_per_iter / res->sec_median / 1e9;
            res->l2_gbps = res->l2_bytes_per_iter / res->sec_median / 1e9;
        }
        if ((st = cf_gpu_l2_bandwidth(b, (size_t)16 << 20, 20, &res->ceil.l2_gbps, err))) goto done;
        if ((st = cf_gpu_copy_bandwidth(b, (size_t)1 << 30, 9, &res->ceil.copy_gbps, err)) ||
            (st = cf_gpu_sgemm_gflops(b, 8192, 9, 0, &res->ceil.gemm_gflops, err)) ||
            (st = cf_gpu_sgemm_gflops(b, 8192, 9, 1, &res->ceil.tf32_gflops, err)))
            goto done;
        res->ceil.sgemm_gflops = res->ceil.gemm_gflops;
        snprintf(res->ceil.gemm_name, sizeof res->ceil.gemm_name, "cuBLAS SGEMM n=8192 (FP32, no tensor cores)");
        res->ceil.measured = 1;
    } else
#endif
    {
        if (!cpu_ceil->measured || cpu_ceil->threads != res->threads) /* once per thread count */
            if ((st = cf_bench_cpu_ceilings(res->threads, cpu_ceil, err))) goto done;
        res->ceil = *cpu_ceil;
        if (fp32) { /* the fp32 path's GEMM ceiling is SGEMM's */
            res->ceil.gemm_gflops = res->ceil.sgemm_gflops;
            char *dg = strstr(res->ceil.gemm_name, "DGEMM");
            if (dg) dg[0] = 'S';
        }
    }
    if (!gpu) res->ceil.l2_gbps = NAN;
    cf_bench_set_shares(res);
    res->status = CF_BENCH_OK;
done:
    if (b) ops->close(b);
    cf_factors_free(&init);
    free(phase);
    return st;
}
