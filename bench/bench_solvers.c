/*
 * bench_solvers.c — runs every CPU solver through the CPU backend tables (the entry
 * points the trainer calls: open, one update per iteration, evaluate) on one synthetic
 * planted data set and prints, per algorithm and CPU path, the seconds per iteration
 * (update only, the median over the iterations: robust to a busy shared machine) and the
 * final train / test RMSE and objective. ALS, ALS+GD and CCD do not use the learning rate.
 * Paths (--precision): fp64, the double-precision reference (every algorithm); fp32, the
 * SIMD path (ALS and SGD); both (the default): the two one after the other on each row, so
 * that they see the same machine load, and the fp32 row shows its speed-up.
 *
 * Data: r = μ + b_u + b_i + p*_u·q*_i + N(0, σ²), unclipped, planted rank `rank`,
 * users and items drawn with power-law popularity (weight ∝ (rank+1)^−0.8), a pair
 * drawn again is redrawn (n distinct ratings), 10% held out.
 *
 * Usage: bench_solvers [--ratings N] [--users U] [--items I] [--factors K] [--threads T]
 *                      [--only LABEL[,LABEL...]] [--lr ETA] [--iters N] [--lambda L]
 *                      [--precision fp64|fp32|both]
 * (--lr and --iters override the built-in choice of every run selected; λ is the
 * weighted-mode λ of every run, default 0.05).
 */
#include "backend.h"
#include "common.h"
#include "cpu/cpu.h"
#include "dataset.h"
#include "factors.h"
#include "idmap.h"
#include "ratings.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct run {
    const char *label;
    cf_algo algo;
    int32_t iters;
    double lr;
    cf_sgd_schedule schedule;
    cf_optimizer optimizer;
    int64_t batch;
} run;

/* Index drawn with probability ∝ (j+1)^−s from the cumulative table cdf[0..n). */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 1 if `label` is one of the comma-separated names in `list`. */
static int listed(const char *list, const char *label) {
    size_t n = strlen(label);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, label, n)) return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static int64_t draw(cf_rng *rng, const double *cdf, int64_t n) {
    double x = cf_rng_uniform(rng) * cdf[n - 1];
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (cdf[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static double *powerlaw_cdf(int64_t n, double s) {
    double *c = malloc((size_t)n * sizeof *c), acc = 0;
    for (int64_t j = 0; j < n; j++) c[j] = acc += pow((double)(j + 1), -s);
    return c;
}

static cf_dataset *make_data(int64_t n, int64_t users, int64_t items, int rank, double sigma) {
    if (users < 1 || items < 1 || rank < 1) abort();
    cf_dataset *ds = cf_dataset_create();
    char tok[32];
    for (int64_t u = 0; u < users; u++) {
        int len = snprintf(tok, sizeof tok, "u%lld", (long long)u);
        uint32_t idx;
        if (cf_idmap_intern(ds->users, tok, (size_t)len, &idx, NULL)) abort();
    }
    for (int64_t i = 0; i < items; i++) {
        int len = snprintf(tok, sizeof tok, "i%lld", (long long)i);
        uint32_t idx;
        if (cf_idmap_intern(ds->items, tok, (size_t)len, &idx, NULL)) abort();
    }
    cf_rng rng;
    cf_rng_seed(&rng, 2024);
    double *P = malloc((size_t)(users * rank) * sizeof *P), *Q = malloc((size_t)(items * rank) * sizeof *Q);
    double *bu = malloc((size_t)users * sizeof *bu), *bi = malloc((size_t)items * sizeof *bi);
    double sd = 1.0 / sqrt(sqrt((double)rank));
    for (int64_t j = 0; j < users * rank; j++) P[j] = sd * cf_rng_normal(&rng);
    for (int64_t j = 0; j < items * rank; j++) Q[j] = sd * cf_rng_normal(&rng);
    for (int64_t j = 0; j < users; j++) bu[j] = 0.3 * cf_rng_normal(&rng);
    for (int64_t j = 0; j < items; j++) bi[j] = 0.4 * cf_rng_normal(&rng);
    double *cu = powerlaw_cdf(users, 0.8), *ci = powerlaw_cdf(items, 0.8);
    /* distinct (u, i) pairs: an open-addressing set of u·items + i + 1 (0 = empty) */
    uint64_t cap = 1;
    while (cap < 2 * (uint64_t)n) cap <<= 1;
    uint64_t *set = calloc(cap, sizeof *set);
    for (int64_t k = 0; k < n;) {
        int64_t u = draw(&rng, cu, users), i = draw(&rng, ci, items);
        uint64_t key = (uint64_t)(u * items + i) + 1, h = key * 0x9e3779b97f4a7c15ULL;
        uint64_t slot = h >> 20 & (cap - 1);
        while (set[slot] && set[slot] != key) slot = (slot + 1) & (cap - 1);
        if (set[slot]) continue; /* a duplicate pair: draw again */
        set[slot] = key;
        k++;
        double r = 3.5 + bu[u] + bi[i] + sigma * cf_rng_normal(&rng);
        for (int x = 0; x < rank; x++) r += P[u * rank + x] * Q[i * rank + x];
        if (cf_dataset_push(ds, (uint32_t)u, (uint32_t)i, (float)r, 0)) abort();
    }
    free(set);
    cf_error err;
    if (cf_dataset_split(ds, 0.1, 7, &err)) {
        fprintf(stderr, "bench_solvers: %s\n", err.msg);
        exit(1);
    }
    free(P), free(Q), free(bu), free(bi), free(cu), free(ci);
    return ds;
}

int main(int argc, char **argv) {
    int64_t n = 1000000, users = 20000, items = 5000;
    int32_t K = 32, threads = 0, iters = 0;
    double lr = 0, lambda = 0.05;
    const char *only = NULL, *precision = "both";
    for (int a = 1; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--ratings")) n = atoll(argv[a + 1]);
        else if (!strcmp(argv[a], "--users")) users = atoll(argv[a + 1]);
        else if (!strcmp(argv[a], "--items")) items = atoll(argv[a + 1]);
        else if (!strcmp(argv[a], "--factors")) K = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--threads")) threads = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--only")) only = argv[a + 1];
        else if (!strcmp(argv[a], "--lr")) lr = atof(argv[a + 1]);
        else if (!strcmp(argv[a], "--lambda")) lambda = atof(argv[a + 1]);
        else if (!strcmp(argv[a], "--iters")) iters = atoi(argv[a + 1]);
        else if (!strcmp(argv[a], "--precision")) precision = argv[a + 1];
        else {
            fprintf(stderr, "bench_solvers: unknown option %s\n", argv[a]);
            return 2;
        }
    }
    const int want64 = strcmp(precision, "fp32") != 0, want32 = strcmp(precision, "fp64") != 0;
    if (!want64 && !want32) return 2;
    if (strcmp(precision, "fp32") && strcmp(precision, "fp64") && strcmp(precision, "both")) {
        fprintf(stderr, "bench_solvers: --precision: give fp64, fp32 or both\n");
        return 2;
    }
    if (n < 1 || users < 1 || items < 1 || users > (1 << 30) || items > (1 << 30) || K < 1 ||
        n > users * items / 2) {
        fprintf(stderr, "bench_solvers: need 1 <= ratings <= users*items/2, users and items in 1..2^30, K >= 1\n");
        return 2;
    }
    const double sigma = 0.5;
    cf_dataset *ds = make_data(n, users, items, 8, sigma);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    printf("data: %lld users, %lld items, %lld train, %lld test (%lld unseen), planted rank 8, sigma %.2f; K = %d\n",
           (long long)info.n_users, (long long)info.n_items, (long long)info.n_train, (long long)info.n_test,
           (long long)info.test_unseen, sigma, K);

    const run runs[] = {
        {"als", CF_ALGO_ALS, 10, 0, CF_SCHED_SHUFFLE, CF_OPT_PLAIN, 0},
        {"sgd-shuffle", CF_ALGO_SGD, 30, 0.02, CF_SCHED_SHUFFLE, CF_OPT_PLAIN, 0},
        {"sgd-blocks", CF_ALGO_SGD, 30, 0.02, CF_SCHED_BLOCKS, CF_OPT_PLAIN, 0},
        {"gd", CF_ALGO_GD, 300, 4e-5, CF_SCHED_SHUFFLE, CF_OPT_PLAIN, 0},
        {"gd-adam", CF_ALGO_GD, 300, 0.01, CF_SCHED_SHUFFLE, CF_OPT_ADAM, 0},
        {"minibatch", CF_ALGO_MINIBATCH, 30, 0.005, CF_SCHED_SHUFFLE, CF_OPT_PLAIN, 10000},
        {"minibatch-adam", CF_ALGO_MINIBATCH, 30, 0.002, CF_SCHED_SHUFFLE, CF_OPT_ADAM, 10000},
        {"alsgd", CF_ALGO_ALSGD, 10, 0, CF_SCHED_SHUFFLE, CF_OPT_PLAIN, 0},
        {"ccd", CF_ALGO_CCD, 10, 0, CF_SCHED_SHUFFLE, CF_OPT_PLAIN, 0},
    };
    cf_triplets train = {0}, test = {0};
    cf_ratings R;
    cf_error err;
    if (cf_dataset_part(ds, 0, &train, &err) || cf_dataset_part(ds, 1, &test, &err) ||
        cf_ratings_build(&train, info.n_users, info.n_items, &R, &err)) {
        fprintf(stderr, "bench_solvers: %s\n", err.msg);
        return 1;
    }
    printf("%-16s %-5s %6s %10s %10s %8s %10s %10s %14s\n", "algo", "path", "iters", "lr", "s/iter", "speed-up",
           "train", "test", "objective");
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        if (only && !listed(only, runs[r].label)) continue;
        double secs64 = 0;
        for (int path = 0; path < 2; path++) {
            const cf_backend_ops *ops = path ? &cf_cpu32_backend : &cf_cpu_backend;
            if ((path ? !want32 : !want64) || !cf_backend_implements(ops, runs[r].algo)) continue;
            cf_config c;
            cf_config_default(&c);
            c.algo = runs[r].algo, c.factors = K, c.iters = runs[r].iters, c.threads = threads;
            c.device = CF_DEVICE_CPU, c.schedule = runs[r].schedule, c.optimizer = runs[r].optimizer;
            if (runs[r].lr > 0) c.lr = runs[r].lr;
            if (runs[r].batch > 0) c.batch = runs[r].batch;
            if (lr > 0) c.lr = lr;
            c.lambda = lambda; /* weighted */
            if (iters > 0) c.iters = iters;
            cf_factors init;
            cf_backend *b = NULL;
            if (cf_factors_alloc(&init, R.n_users, R.n_items, K, 1, &err)) return 1;
            cf_factors_init_random(&init, c.init_scale, c.seed);
            init.mu = R.mean;
            if (ops->open(&R, &test, &c, &init, &b, &err)) return 1;
            cf_factors_free(&init);
            double *secs = calloc((size_t)c.iters, sizeof *secs);
            cf_status st = CF_OK;
            int32_t it;
            for (it = 0; it < c.iters && st == CF_OK; it++) {
                double t0 = cf_now();
                st = cf_train_step(ops, b, &c, it, &err);
                secs[it] = cf_now() - t0;
            }
            if (st) {
                printf("%-16s %-5s error: %s\n", runs[r].label, path ? "fp32" : "fp64", err.msg);
            } else {
                cf_eval tr, te;
                ops->evaluate(b, CF_EVAL_TRAIN, &tr, &err);
                ops->evaluate(b, CF_EVAL_TEST, &te, &err);
                qsort(secs, (size_t)it, sizeof *secs, cmp_double);
                double med = secs[it / 2];
                char up[16] = "";
                if (path == 0) secs64 = med;
                else if (secs64 > 0) snprintf(up, sizeof up, "%.2fx", secs64 / med);
                printf("%-16s %-5s %6d %10g %10.4f %8s %10.4f %10.4f %14.6g\n", runs[r].label, path ? "fp32" : "fp64",
                       it, c.lr, med, up, sqrt(tr.sse / (double)tr.n), sqrt(te.sse / (double)te.n), tr.sse + tr.reg);
            }
            fflush(stdout);
            free(secs);
            ops->close(b);
        }
    }
    cf_ratings_free(&R);
    cf_triplets_free(&train);
    cf_triplets_free(&test);
    cf_dataset_destroy(&ds);
    return 0;
}
