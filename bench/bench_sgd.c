/*
 * bench_sgd.c — GPU SGD on Netflix-shaped synthetic data (issue 5):
 *
 *   480 189 users × 17 770 items, 100 M ratings, power-law popularity (cf_generate),
 *   K = 128, biases on, weighted λ = 0.05, lr 0.005.
 *
 * For each (schedule, precision) of {hogwild, blocks} × {fp32, fp16} it reports updates
 * per second of the update kernels (CUDA events around them), seconds per epoch (wall
 * clock of the whole epoch: kernels, fp16 conversions, NaN guard), the bytes one update
 * moves by the kernel's own count (cf_gpu_sgd_bytes_per_update) and the achieved GB/s as
 * a share of the device-to-device copy bandwidth measured in the same run
 * (cf_gpu_copy_bandwidth, 1 GiB copies), and the test RMSE (1 % split) after every epoch.
 *
 * Validation before timing: the first epoch of `blocks` fp32 on a 1 % sample of the
 * users is compared with the CPU reference from the same start (max per-factor
 * relative difference must be ≤ 1e-4, else exit 1).
 *
 * Output: a table, and one JSON object per (schedule, precision) on stdout (lines
 * starting with '{'), also appended to --json FILE. Without a usable GPU (or built
 * without CUDA) it says so and exits 0.
 *
 * Usage: bench_sgd [--users N] [--items N] [--ratings N] [--factors K] [--epochs N]
 *                  [--blocks B] [--gpu-id N] [--seed S] [--json FILE]
 */
#include "backend.h"
#include "cufactor_bench.h"
#include "common.h"
#include "dataset.h"
#include "factors.h"
#include "gpu/gpu.h"
#include "ratings.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef CUFACTOR_HAVE_CUDA
int main(void) {
    char why[256] = "";
    cf_gpu_available(why, sizeof why);
    printf("bench_sgd: no usable GPU (%s): nothing to measure\n", why);
    return 0;
}
#else

typedef struct bench_opts {
    int64_t users, items, ratings;
    int factors, epochs, blocks, gpu_id;
    uint64_t seed;
    const char *json;
} bench_opts;

static void die(const char *what, const cf_error *err) {
    fprintf(stderr, "bench_sgd: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void usage(void) {
    fprintf(stderr, "usage: bench_sgd [--users N (480189)] [--items N (17770)] [--ratings N (100000000)]\n"
                    "                 [--factors K (128)] [--epochs N (5)] [--blocks B (1024)] [--gpu-id N (0)]\n"
                    "                 [--seed S (1)] [--json FILE]\n");
    exit(2);
}

static void parse(int argc, char **argv, bench_opts *o) {
    o->users = 480189, o->items = 17770, o->ratings = 100000000;
    o->factors = 128, o->epochs = 5, o->blocks = 1024, o->gpu_id = 0, o->seed = 1, o->json = NULL;
    for (int a = 1; a < argc; a++) {
        const char *k = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!v) usage();
        if (!strcmp(k, "--users")) o->users = atoll(v);
        else if (!strcmp(k, "--items")) o->items = atoll(v);
        else if (!strcmp(k, "--ratings")) o->ratings = atoll(v);
        else if (!strcmp(k, "--factors")) o->factors = atoi(v);
        else if (!strcmp(k, "--epochs")) o->epochs = atoi(v);
        else if (!strcmp(k, "--blocks")) o->blocks = atoi(v);
        else if (!strcmp(k, "--gpu-id")) o->gpu_id = atoi(v);
        else if (!strcmp(k, "--seed")) o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--json")) o->json = v;
        else usage();
        a++;
    }
    if (o->users < 1 || o->items < 1 || o->ratings < 1 || o->factors < 1 || o->factors > 1024 ||
        o->epochs < 1 || o->blocks < 1 || o->blocks > 4096)
        usage();
}

/* Synthetic Netflix-shaped ratings, train (99 %) and test (1 %). */
static void make_data(const bench_opts *o, int64_t users, int64_t ratings, cf_ratings *R, cf_triplets *test) {
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = users, g.items = o->items, g.ratings = ratings;
    g.rank = 10, g.noise = 0.5, g.seed = o->seed, g.round = 1;
    cf_error err = {0};
    cf_dataset *ds = NULL;
    double t0 = cf_now();
    if (cf_generate(&g, &ds, &err)) die("cf_generate", &err);
    if (cf_dataset_split(ds, 0.01, o->seed + 1, &err)) die("cf_dataset_split", &err);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cf_triplets t = {0};
    if (cf_dataset_part(ds, 0, &t, &err) || cf_dataset_part(ds, 1, test, &err)) die("cf_dataset_part", &err);
    if (cf_ratings_build(&t, info.n_users, info.n_items, R, &err)) die("cf_ratings_build", &err);
    cf_triplets_free(&t);
    cf_dataset_destroy(&ds);
    printf("data: %lld users × %lld items, %lld train + %lld test ratings, generated in %.1f s\n",
           (long long)R->n_users, (long long)R->n_items, (long long)R->nnz, (long long)test->n,
           cf_now() - t0);
}

static cf_config config_for(const bench_opts *o, cf_sgd_schedule s, cf_precision p) {
    cf_config c;
    cf_config_default(&c);
    c.algo = CF_ALGO_SGD, c.factors = o->factors, c.bias = 1, c.reg = CF_REG_WEIGHTED, c.lambda = 0.05;
    c.lr = 0.005, c.schedule = s, c.blocks = o->blocks, c.precision = p, c.gpu_id = o->gpu_id;
    c.device = CF_DEVICE_GPU, c.seed = o->seed;
    return c;
}

static void init_for(const cf_ratings *R, const cf_config *c, cf_factors *f) {
    cf_error err = {0};
    if (cf_factors_alloc(f, R->n_users, R->n_items, c->factors, c->bias, &err)) die("factors", &err);
    cf_factors_init_random(f, c->init_scale, c->seed);
    f->mu = R->mean;
}

/* One blocks fp32 epoch on GPU and CPU from the same start: max relative difference of
 * the factors whose magnitude is above 1e-3 of the largest. */
static double validate(const bench_opts *o) {
    cf_ratings R;
    cf_triplets test = {0};
    int64_t users = o->users / 100 > 1000 ? o->users / 100 : 1000;
    make_data(o, users, o->ratings / 100 > 20000 ? o->ratings / 100 : 20000, &R, &test);
    cf_config c = config_for(o, CF_SCHED_BLOCKS, CF_PRECISION_FP32);
    c.blocks = 16;
    cf_factors init, out[2];
    init_for(&R, &c, &init);
    const cf_backend_ops *ops[2] = {cf_gpu_backend(), &cf_cpu_backend};
    cf_error err = {0};
    for (int k = 0; k < 2; k++) {
        cf_backend *b = NULL;
        cf_config ck = c;
        if (k) ck.device = CF_DEVICE_CPU;
        if (ops[k]->open(&R, &test, &ck, &init, &b, &err) || ops[k]->sgd_epoch(b, 0, c.lr, &err))
            die(ops[k]->name, &err);
        if (cf_factors_alloc(&out[k], R.n_users, R.n_items, c.factors, 1, &err) || ops[k]->download(b, &out[k], &err))
            die("download", &err);
        ops[k]->close(b);
    }
    double scale = 0, worst = 0;
    size_t np = (size_t)R.n_users * (size_t)c.factors, nq = (size_t)R.n_items * (size_t)c.factors;
    for (size_t j = 0; j < np; j++) scale = fmax(scale, fabs(out[1].P[j]));
    for (size_t j = 0; j < nq; j++) scale = fmax(scale, fabs(out[1].Q[j]));
    for (size_t j = 0; j < np + nq; j++) {
        double g = j < np ? out[0].P[j] : out[0].Q[j - np], r = j < np ? out[1].P[j] : out[1].Q[j - np];
        if (fabs(r) > 1e-3 * scale) worst = fmax(worst, fabs(g - r) / fabs(r));
    }
    cf_factors_free(&init), cf_factors_free(&out[0]), cf_factors_free(&out[1]);
    cf_ratings_free(&R), cf_triplets_free(&test);
    return worst;
}

int main(int argc, char **argv) {
    bench_opts o;
    parse(argc, argv, &o);
    char why[256] = "";
    if (!cf_gpu_available(why, sizeof why)) {
        printf("bench_sgd: no usable GPU (%s): nothing to measure\n", why);
        return 0;
    }
    char commit[64], date[32];
    cf_bench_git_commit(commit, sizeof commit);
    cf_bench_utc_now(date, sizeof date);
    FILE *jf = o.json ? fopen(o.json, "a") : NULL;
    if (o.json && !jf) {
        fprintf(stderr, "bench_sgd: cannot open %s for appending\n", o.json);
        return 1;
    }

    double v = validate(&o);
    printf("validation: blocks fp32, one epoch, GPU vs CPU: max relative difference %.3g\n", v);
    if (!(v <= 1e-4)) {
        fprintf(stderr, "bench_sgd: validation failed (%.3g > 1e-4): not timing\n", v);
        return 1;
    }

    cf_ratings R;
    cf_triplets test = {0};
    make_data(&o, o.users, o.ratings, &R, &test);
    const cf_sgd_schedule scheds[2] = {CF_SCHED_HOGWILD, CF_SCHED_BLOCKS};
    const cf_precision precs[2] = {CF_PRECISION_FP32, CF_PRECISION_FP16};
    double copy_gbps = 0;
    printf("%-8s %-5s %12s %10s %9s %9s %8s  test RMSE per epoch\n", "schedule", "prec", "updates/s",
           "s/epoch", "B/update", "GB/s", "of copy");
    for (int si = 0; si < 2; si++)
        for (int pi = 0; pi < 2; pi++) {
            cf_config c = config_for(&o, scheds[si], precs[pi]);
            cf_factors init;
            init_for(&R, &c, &init);
            cf_gpu_tuning tune;
            cf_gpu_tuning_default(&tune);
            tune.timing = 1;
            cf_backend *b = NULL;
            cf_error err = {0};
            if (cf_gpu_open_tuned(&R, &test, &c, &init, &tune, &b, &err)) die("gpu open", &err);
            if (copy_gbps == 0 && cf_gpu_copy_bandwidth(b, (size_t)1 << 30, 9, &copy_gbps, &err))
                die("copy bandwidth", &err);
            /* warm-up epoch (state upload, first launches), then reset the timers */
            if (cf_gpu_backend()->sgd_epoch(b, 0, c.lr, &err)) die("warm-up epoch", &err);
            cf_gpu_stats st0;
            cf_gpu_stats_get(b, &st0);
            double rmse[64], wall = 0;
            int ne = o.epochs < 64 ? o.epochs : 64;
            for (int e = 0; e < ne; e++) {
                double t0 = cf_now();
                if (cf_gpu_backend()->sgd_epoch(b, e + 1, c.lr, &err)) die("epoch", &err);
                wall += cf_now() - t0;
                cf_eval ev;
                if (cf_gpu_backend()->evaluate(b, CF_EVAL_TEST, &ev, &err)) die("evaluate", &err);
                rmse[e] = sqrt(ev.sse / (double)ev.n);
            }
            cf_gpu_stats st;
            cf_gpu_stats_get(b, &st);
            double ms = st.sgd_ms - st0.sgd_ms, upd = (double)(st.sgd_updates - st0.sgd_updates);
            double ups = upd / (ms * 1e-3);
            double bpu = cf_gpu_sgd_bytes_per_update(c.factors, pi, 1), gbps = ups * bpu / 1e9;
            printf("%-8s %-5s %12.4g %10.4f %9.0f %9.1f %7.1f%% ", si ? "blocks" : "hogwild",
                   cf_precision_name(precs[pi]), ups, wall / ne, bpu, gbps, 100.0 * gbps / copy_gbps);
            for (int e = 0; e < ne; e++) printf(" %.4f", rmse[e]);
            printf("\n");
            char line[2048];
            int n = snprintf(line, sizeof line,
                             "{\"bench\":\"sgd\",\"date\":\"%s\",\"commit\":\"%s\",\"device\":\"%s\","
                             "\"dataset\":{\"name\":\"netflix-shaped synthetic\",\"users\":%lld,\"items\":%lld,"
                             "\"nnz\":%lld},\"algo\":\"sgd\",\"schedule\":\"%s\",\"blocks\":%d,\"precision\":\"%s\","
                             "\"K\":%d,\"updates_per_sec\":%.6g,\"seconds_per_epoch\":%.6g,\"kernel_ms_per_epoch\":%.6g,"
                             "\"bytes_per_update\":%.0f,\"achieved_gbps\":%.6g,\"copy_gbps\":%.6g,"
                             "\"warps_per_sm\":%d,\"test_rmse\":[",
                             date, commit, cf_gpu_backend()->device_name(b), (long long)R.n_users,
                             (long long)R.n_items, (long long)R.nnz, si ? "blocks" : "hogwild", c.blocks,
                             cf_precision_name(precs[pi]), c.factors, ups, wall / ne, ms / ne, bpu, gbps,
                             copy_gbps, st.sgd_warps_per_sm);
            for (int e = 0; e < ne && n < (int)sizeof line - 32; e++)
                n += snprintf(line + n, sizeof line - (size_t)n, "%s%.6g", e ? "," : "", rmse[e]);
            snprintf(line + n, sizeof line - (size_t)n, "]}");
            printf("%s\n", line);
            if (jf) fprintf(jf, "%s\n", line);
            cf_gpu_backend()->close(b);
            cf_factors_free(&init);
        }
    if (jf) fclose(jf);
    cf_ratings_free(&R), cf_triplets_free(&test);
    return 0;
}

#endif /* CUFACTOR_HAVE_CUDA */
