/*
 * bench_als.c — GPU ALS on Netflix-shaped synthetic data (issue 4):
 *
 *   480 189 users × 17 770 items, 100 M ratings, power-law popularity (cf_generate),
 *   K = 100 and 128, biases on, weighted λ = 0.05.
 *
 * Per K it reports the seconds of one full ALS iteration (users then items half-step)
 * split into Gram / RHS / solve by CUDA events, the Gram step's GFLOP/s (useful flops
 * Σ n_r·d(d+1), d = K+1) and its share of the device's FP32 rate measured in the same
 * run by a cuBLAS SGEMM (and of the TF32 rate, for reference), peak device memory, and
 * the same iteration on the CPU reference for the speed-up. The CPU runs on a smaller
 * problem (--cpu-scale, default 0.05: that fraction of the users and ratings, all the
 * items); the GPU is timed on that problem too, so the speed-up is measured on the same
 * data, and a projected full-size speed-up (CPU time per rating × 100 M) is printed
 * beside it.
 *
 * Before anything is timed, the first user half-step is validated: for 256 sampled
 * users the GPU solution's residual ‖b − A x‖/(‖A‖_F‖x‖) in the normal equations formed
 * here in double must be ≤ 1e-4, else the bench exits 1. One warm-up iteration, then
 * --iters timed iterations (median per phase).
 *
 * Output: a table, and one JSON object per K on stdout (lines starting with '{'), also
 * appended to --json FILE. Without a usable GPU (or built without CUDA) it says so and
 * exits 0.
 *
 * Usage: bench_als [--users N] [--items N] [--ratings N] [--factors 100,128] [--iters N]
 *                  [--cpu-scale F] [--no-cpu] [--gpu-id N] [--zipf Z] [--seed S]
 *                  [--json FILE]
 */
#include "backend.h"
#include "cufactor_bench.h"
#include "common.h"
#include "dataset.h"
#include "factors.h"
#include "gpu/gpu.h"
#include "ratings.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef CUFACTOR_HAVE_CUDA
int main(void) {
    char why[256] = "";
    cf_gpu_available(why, sizeof why);
    printf("bench_als: no usable GPU (%s): nothing to measure\n", why);
    return 0;
}
#else

typedef struct bench_opts {
    int64_t users, items, ratings;
    int factors[8], n_factors;
    int iters;
    double cpu_scale;
    int gpu_id;
    double zipf;
    uint64_t seed;
    const char *json;
} bench_opts;

static void die(const char *what, const cf_error *err) {
    fprintf(stderr, "bench_als: %s: %s\n", what, err->msg);
    exit(1);
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_als [--users N (480189)] [--items N (17770)] [--ratings N (100000000)]\n"
            "                 [--factors K[,K...] (100,128)] [--iters N (5)] [--cpu-scale F (0.05)]\n"
            "                 [--no-cpu] [--gpu-id N (0)] [--zipf Z (0.8)] [--seed S (1)] [--json FILE]\n");
    exit(2);
}

static void parse(int argc, char **argv, bench_opts *o) {
    o->users = 480189, o->items = 17770, o->ratings = 100000000;
    o->factors[0] = 100, o->factors[1] = 128, o->n_factors = 2;
    o->iters = 5, o->cpu_scale = 0.05, o->gpu_id = 0, o->zipf = 0.8, o->seed = 1, o->json = NULL;
    for (int a = 1; a < argc; a++) {
        const char *k = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(k, "--no-cpu")) {
            o->cpu_scale = 0;
            continue;
        }
        if (!v) usage();
        a++;
        if (!strcmp(k, "--users")) o->users = atoll(v);
        else if (!strcmp(k, "--items")) o->items = atoll(v);
        else if (!strcmp(k, "--ratings")) o->ratings = atoll(v);
        else if (!strcmp(k, "--iters")) o->iters = atoi(v);
        else if (!strcmp(k, "--cpu-scale")) o->cpu_scale = atof(v);
        else if (!strcmp(k, "--gpu-id")) o->gpu_id = atoi(v);
        else if (!strcmp(k, "--zipf")) o->zipf = atof(v);
        else if (!strcmp(k, "--seed")) o->seed = (uint64_t)atoll(v);
        else if (!strcmp(k, "--json")) o->json = v;
        else if (!strcmp(k, "--factors")) {
            o->n_factors = 0;
            for (const char *p = v; *p && o->n_factors < 8;) {
                o->factors[o->n_factors++] = atoi(p);
                p = strchr(p, ',');
                if (!p) break;
                p++;
            }
        } else
            usage();
    }
    if (o->users < 1 || o->items < 1 || o->ratings < 1 || o->iters < 1 || o->cpu_scale < 0 ||
        o->cpu_scale > 1)
        usage();
    for (int j = 0; j < o->n_factors; j++)
        if (o->factors[j] < 1 || o->factors[j] > 1024) usage();
}

/* Synthetic Netflix-shaped ratings as a CSR/CSC matrix. */
static void make_ratings(const bench_opts *o, int64_t users, int64_t ratings, cf_ratings *R) {
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = users, g.items = o->items, g.ratings = ratings;
    g.rank = 10, g.noise = 0.5, g.zipf = o->zipf, g.seed = o->seed, g.round = 1;
    cf_error err = {0};
    cf_dataset *ds = NULL;
    double t0 = cf_now();
    if (cf_generate(&g, &ds, &err)) die("cf_generate", &err);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cf_triplets t = {0};
    if (cf_dataset_part(ds, 0, &t, &err)) die("cf_dataset_part", &err);
    if (cf_ratings_build(&t, info.n_users, info.n_items, R, &err)) die("cf_ratings_build", &err);
    cf_triplets_free(&t);
    cf_dataset_destroy(&ds);
    int64_t umax = 0, imax = 0;
    for (int64_t u = 0; u < R->n_users; u++)
        if (R->row_ptr[u + 1] - R->row_ptr[u] > umax) umax = R->row_ptr[u + 1] - R->row_ptr[u];
    for (int64_t i = 0; i < R->n_items; i++)
        if (R->col_ptr[i + 1] - R->col_ptr[i] > imax) imax = R->col_ptr[i + 1] - R->col_ptr[i];
    printf("data: %lld users × %lld items, %lld ratings (longest user %lld, longest item %lld), "
           "generated in %.1f s\n",
           (long long)R->n_users, (long long)R->n_items, (long long)R->nnz, (long long)umax,
           (long long)imax, cf_now() - t0);
}

static cf_config config_for(int K, int gpu_id) {
    cf_config c;
    cf_config_default(&c);
    c.factors = K, c.bias = 1, c.reg = CF_REG_WEIGHTED, c.lambda = 0.05, c.gpu_id = gpu_id;
    return c;
}

static void init_for(const cf_ratings *R, const cf_config *c, cf_factors *f) {
    cf_error err = {0};
    if (cf_factors_alloc(f, R->n_users, R->n_items, c->factors, c->bias, &err)) die("factors", &err);
    cf_factors_init_random(f, c->init_scale, c->seed);
    f->mu = R->mean;
}

/* Max over 256 sampled users of ‖b − A x‖/(‖A‖_F‖x‖), A and b formed in double from `init`
 * and x = the GPU's solution in `after`. */
static double sampled_residual(const cf_ratings *R, const cf_config *c, const cf_factors *init,
                               const cf_factors *after) {
    const int K = c->factors, d = K + 1;
    double *A = malloc(sizeof(double) * (size_t)d * (size_t)d), *b = malloc(sizeof(double) * (size_t)d);
    double *z = malloc(sizeof(double) * (size_t)d), *x = malloc(sizeof(double) * (size_t)d);
    if (!A || !b || !z || !x) {
        fprintf(stderr, "bench_als: out of memory\n");
        exit(1);
    }
    cf_rng rng;
    cf_rng_seed(&rng, 77);
    double worst = 0;
    for (int s = 0; s < 256; s++) {
        int64_t u = (int64_t)cf_rng_below(&rng, (uint64_t)R->n_users);
        int64_t n = R->row_ptr[u + 1] - R->row_ptr[u];
        if (n == 0) continue;
        memset(A, 0, sizeof(double) * (size_t)d * (size_t)d);
        memset(b, 0, sizeof(double) * (size_t)d);
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
            uint32_t i = R->row_col[e];
            for (int k = 0; k < K; k++) z[k] = init->Q[(size_t)i * K + k];
            z[K] = 1.0;
            double t = R->row_val[e] - init->mu - init->bi[i];
            for (int p = 0; p < d; p++) {
                b[p] += t * z[p];
                for (int q = 0; q <= p; q++) A[p * d + q] += z[p] * z[q];
            }
        }
        double lam = cf_reg_lambda(c->reg, c->lambda, n, R->nnz);
        for (int p = 0; p < d; p++) {
            A[p * d + p] += lam;
            for (int q = p + 1; q < d; q++) A[p * d + q] = A[q * d + p];
        }
        for (int k = 0; k < K; k++) x[k] = after->P[(size_t)u * K + k];
        x[K] = after->bu[u];
        double rn = 0, an = 0, xn = 0;
        for (int p = 0; p < d; p++) {
            double r = b[p];
            for (int q = 0; q < d; q++) r -= A[p * d + q] * x[q], an += A[p * d + q] * A[p * d + q];
            rn += r * r, xn += x[p] * x[p];
        }
        double res = sqrt(rn) / (sqrt(an) * sqrt(xn));
        if (!(res <= worst)) worst = res; /* NaN sticks */
    }
    free(A), free(b), free(z), free(x);
    return worst;
}

/* A JSON line under construction; numbers that are not finite are written as null. */
typedef struct jbuf {
    char s[4096];
    size_t n;
} jbuf;

static void jraw(jbuf *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(j->s + j->n, sizeof j->s - j->n, fmt, ap);
    va_end(ap);
    if (w > 0) j->n += (size_t)w < sizeof j->s - j->n ? (size_t)w : sizeof j->s - j->n - 1;
}

static void jnum(jbuf *j, const char *key, double v) {
    if (isfinite(v))
        jraw(j, "\"%s\":%.6g,", key, v);
    else
        jraw(j, "\"%s\":null,", key);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct gpu_result {
    double iter_s, gram_s, rhs_s, solve_s, gram_gflops, train_rmse, objective, residual;
    cf_gpu_stats stats;
    char device[128];
} gpu_result;

/* Opens the GPU backend, validates the first user half-step, warms up, times `iters`
 * iterations. `sgemm` (may be NULL) receives the FP32 and TF32 SGEMM rates. */
static void run_gpu(const cf_ratings *R, const cf_config *c, int iters, int validate,
                    double sgemm[2], gpu_result *out) {
    cf_error err = {0};
    cf_factors init, after;
    init_for(R, c, &init);
    cf_gpu_tuning t;
    cf_gpu_tuning_default(&t);
    t.timing = 1;
    cf_backend *b = NULL;
    const cf_backend_ops *ops = cf_gpu_backend();
    memset(out, 0, sizeof *out);
    double t0 = cf_now();
    if (cf_gpu_open_tuned(R, NULL, c, &init, &t, &b, &err)) die("gpu open", &err);
    double open_s = cf_now() - t0;
    snprintf(out->device, sizeof out->device, "%s", ops->device_name(b));

    /* Validation of the first user half-step, then the warm-up iteration's item half. */
    if (ops->als_half(b, CF_SIDE_USERS, &err)) die("gpu als_half (users)", &err);
    out->residual = NAN;
    if (validate) {
        if (cf_factors_alloc(&after, R->n_users, R->n_items, c->factors, 1, &err)) die("factors", &err);
        if (ops->download(b, &after, &err)) die("gpu download", &err);
        out->residual = sampled_residual(R, c, &init, &after);
        cf_factors_free(&after);
        if (!(out->residual <= 1e-4)) {
            fprintf(stderr, "bench_als: validation failed: GPU user half-step residual %.3g > 1e-4\n",
                    out->residual);
            exit(1);
        }
    }
    if (ops->als_half(b, CF_SIDE_ITEMS, &err)) die("gpu als_half (items)", &err);

    double *it = calloc((size_t)iters * 4, sizeof(double));
    if (!it) exit(1);
    for (int j = 0; j < iters; j++) {
        cf_gpu_stats_reset_timers(b);
        double s0 = cf_now();
        if (ops->als_half(b, CF_SIDE_USERS, &err)) die("gpu als_half (users)", &err);
        if (ops->als_half(b, CF_SIDE_ITEMS, &err)) die("gpu als_half (items)", &err);
        it[j] = cf_now() - s0;
        cf_gpu_stats s;
        cf_gpu_stats_get(b, &s);
        it[iters + j] = s.gram_ms * 1e-3;
        it[2 * iters + j] = s.rhs_ms * 1e-3;
        it[3 * iters + j] = s.solve_ms * 1e-3;
    }
    out->iter_s = median(it, iters);
    out->gram_s = median(it + iters, iters);
    out->rhs_s = median(it + 2 * iters, iters);
    out->solve_s = median(it + 3 * iters, iters);
    /* useful Gram flops of one iteration: Σ_rows n_r·d(d+1) over both sides, d = K + 1 */
    out->gram_gflops = 2.0 * (double)R->nnz * (c->factors + 1) * (c->factors + 2) / out->gram_s / 1e9;
    free(it);

    cf_eval e;
    if (ops->evaluate(b, CF_EVAL_TRAIN, &e, &err)) die("gpu evaluate", &err);
    out->train_rmse = sqrt(e.sse / (double)e.n);
    out->objective = e.sse + e.reg;
    if (sgemm) {
        if (cf_gpu_sgemm_gflops(b, 8192, 9, 0, &sgemm[0], &err)) die("sgemm fp32", &err);
        if (cf_gpu_sgemm_gflops(b, 8192, 9, 1, &sgemm[1], &err)) die("sgemm tf32", &err);
    }
    cf_gpu_stats_get(b, &out->stats);
    printf("  gpu open (upload + plan) %.2f s; %d + %d batches; segment %lld\n", open_s,
           out->stats.batches_users, out->stats.batches_items, (long long)out->stats.segment);
    ops->close(b);
    cf_factors_free(&init);
}

/* One timed CPU iteration (after none: the CPU has nothing to warm up). */
static double run_cpu(const cf_ratings *R, const cf_config *c, char *name, size_t name_len) {
    cf_error err = {0};
    cf_factors init;
    init_for(R, c, &init);
    cf_backend *b = NULL;
    if (cf_cpu_backend.open(R, NULL, c, &init, &b, &err)) die("cpu open", &err);
    snprintf(name, name_len, "%s", cf_cpu_backend.device_name(b));
    double t0 = cf_now();
    if (cf_cpu_backend.als_half(b, CF_SIDE_USERS, &err)) die("cpu als_half (users)", &err);
    if (cf_cpu_backend.als_half(b, CF_SIDE_ITEMS, &err)) die("cpu als_half (items)", &err);
    double s = cf_now() - t0;
    cf_cpu_backend.close(b);
    cf_factors_free(&init);
    return s;
}

int main(int argc, char **argv) {
    bench_opts o;
    parse(argc, argv, &o);
    char why[256] = "";
    if (!cf_gpu_available(why, sizeof why)) {
        printf("bench_als: no usable GPU (%s): nothing to measure\n", why);
        return 0;
    }
    char commit[64], date[32];
    cf_bench_git_commit(commit, sizeof commit);
    cf_bench_utc_now(date, sizeof date);

    cf_ratings R, Rs;
    memset(&Rs, 0, sizeof Rs);
    make_ratings(&o, o.users, o.ratings, &R);
    int64_t su = (int64_t)llround(o.users * o.cpu_scale), sr = (int64_t)llround(o.ratings * o.cpu_scale);
    if (o.cpu_scale > 0) make_ratings(&o, su < 1 ? 1 : su, sr < 1 ? 1 : sr, &Rs);

    FILE *jf = o.json ? fopen(o.json, "a") : NULL;
    if (o.json && !jf) {
        fprintf(stderr, "bench_als: cannot open %s for appending\n", o.json);
        return 1;
    }
    printf("%-4s %10s %9s %9s %9s %11s %11s %7s %10s %9s %9s\n", "K", "s/iter", "gram s", "rhs s",
           "solve s", "gram GF/s", "fp32 GF/s", "share", "peak GiB", "cpu s/it", "speed-up");
    for (int j = 0; j < o.n_factors; j++) {
        const int K = o.factors[j];
        cf_config c = config_for(K, o.gpu_id);
        gpu_result g, gs;
        double sgemm[2] = {0, 0};
        run_gpu(&R, &c, o.iters, 1, sgemm, &g);
        double cpu_s = NAN, speed_same = NAN, speed_proj = NAN;
        char cpu_name[64] = "";
        if (o.cpu_scale > 0) {
            run_gpu(&Rs, &c, o.iters, 0, NULL, &gs);
            cpu_s = run_cpu(&Rs, &c, cpu_name, sizeof cpu_name);
            speed_same = cpu_s / gs.iter_s;
            speed_proj = cpu_s / (double)Rs.nnz * (double)R.nnz / g.iter_s;
        }
        double share = g.gram_gflops / sgemm[0];
        double peak_gib = (double)g.stats.device_used_peak_bytes / (double)(1ULL << 30);
        printf("%-4d %10.4f %9.4f %9.4f %9.4f %11.1f %11.1f %6.1f%% %10.2f %9.3f %8.1fx\n", K,
               g.iter_s, g.gram_s, g.rhs_s, g.solve_s, g.gram_gflops, sgemm[0], 100 * share,
               peak_gib, cpu_s, speed_same);
        jbuf jb = {.n = 0};
        jraw(&jb, "{\"bench\":\"als\",\"date\":\"%s\",\"commit\":\"%s\",\"device\":\"%s\",", date,
             commit, g.device);
        jraw(&jb, "\"dataset\":{\"name\":\"netflix-shaped synthetic\",\"users\":%lld,\"items\":%lld,"
                  "\"nnz\":%lld,\"zipf\":%g,\"seed\":%llu},",
             (long long)R.n_users, (long long)R.n_items, (long long)R.nnz, o.zipf,
             (unsigned long long)o.seed);
        jraw(&jb, "\"algo\":\"als\",\"K\":%d,\"bias\":1,\"reg\":\"weighted\",\"lambda\":0.05,"
                  "\"iters_timed\":%d,",
             K, o.iters);
        jnum(&jb, "seconds_per_iter", g.iter_s);
        jnum(&jb, "gram_s", g.gram_s);
        jnum(&jb, "rhs_s", g.rhs_s);
        jnum(&jb, "solve_s", g.solve_s);
        jnum(&jb, "ratings_per_sec", (double)R.nnz / g.iter_s);
        jnum(&jb, "gram_gflops", g.gram_gflops);
        jnum(&jb, "sgemm_fp32_gflops", sgemm[0]);
        jnum(&jb, "sgemm_tf32_gflops", sgemm[1]);
        jnum(&jb, "gram_share_fp32", share);
        jraw(&jb, "\"batches_users\":%d,\"batches_items\":%d,\"alloc_peak_bytes\":%zu,"
                  "\"device_used_peak_bytes\":%zu,",
             g.stats.batches_users, g.stats.batches_items, g.stats.alloc_peak_bytes,
             g.stats.device_used_peak_bytes);
        jnum(&jb, "validation_residual", g.residual);
        jnum(&jb, "train_rmse", g.train_rmse);
        jnum(&jb, "objective", g.objective);
        jraw(&jb, "\"cpu\":{\"device\":\"%s\",\"scale\":%g,\"users\":%lld,\"nnz\":%lld,", cpu_name,
             o.cpu_scale, (long long)Rs.n_users, (long long)Rs.nnz);
        jnum(&jb, "seconds_per_iter", cpu_s);
        jnum(&jb, "gpu_seconds_per_iter_same_data", o.cpu_scale > 0 ? gs.iter_s : NAN);
        jb.n--; /* the last comma */
        jraw(&jb, "},");
        jnum(&jb, "speedup_same_data", speed_same);
        jnum(&jb, "speedup_projected_full", speed_proj);
        jb.n--;
        jraw(&jb, "}");
        puts(jb.s);
        if (jf) fprintf(jf, "%s\n", jb.s);
        if (o.cpu_scale > 0)
            printf("  cpu (%s) on %lld users / %lld ratings: %.3f s per iteration; GPU on the same "
                   "data %.4f s (%.1fx); projected to %lld ratings: %.1fx\n",
                   cpu_name, (long long)Rs.n_users, (long long)Rs.nnz, cpu_s, gs.iter_s, speed_same,
                   (long long)R.nnz, speed_proj);
    }
    if (jf) fclose(jf);
    cf_ratings_free(&R);
    cf_ratings_free(&Rs);
    return 0;
}
#endif /* CUFACTOR_HAVE_CUDA */
