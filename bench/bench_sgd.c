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
 * --schedule and --precision run a part of that grid (a GPU session times hogwild alone and
 * blocks, the slow one, last under its own limit: bench/gpu_session.sh).
 *
 * Usage: bench_sgd [--factors K] [--epochs N] [--blocks B] [--schedule hogwild|blocks|all]
 *                  [--precision fp32|fp16|all]
 *                  [the data, device and output options of bench_common.h: --users N
 *                  --items N --ratings N --zipf Z --seed S --gpu-id N --json FILE
 *                  --commit SHA --cache DIR --no-cache --suites FILE]
 *
 * The data come through the bench cache (bench/cache; the Netflix shape is the nightly
 * suite's `netflix` set).
 */
#include "bench_common.h"

#include "bench/bench_impl.h"
#include "common.h"
#include "gpu/gpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sgd_opts {
    int32_t factors, epochs, blocks;
    const char *schedule, *precision; /* "hogwild" / "blocks" / "all", "fp32" / "fp16" / "all" */
    int sched_on[2], prec_on[2];      /* {hogwild, blocks}, {fp32, fp16} */
} sgd_opts;

/* "all" or one of the two names: which of the pair to run; -1 when it is neither. */
static int pick(const char *v, const char *a, const char *b, int on[2]) {
    on[0] = !strcmp(v, "all") || !strcmp(v, a);
    on[1] = !strcmp(v, "all") || !strcmp(v, b);
    return on[0] || on[1] ? 0 : -1;
}

static void parse(int argc, char **argv, bench_common *c, sgd_opts *o) {
    o->factors = 128, o->epochs = 5, o->blocks = 1024, o->schedule = "all", o->precision = "all";
    const bench_opt own[] = {
        {"factors", BOPT_I32, &o->factors, 1, 1024, 0, "K", "latent dimension"},
        {"epochs", BOPT_I32, &o->epochs, 1, 64, 0, "N", "timed epochs (after one warm-up)"},
        {"blocks", BOPT_I32, &o->blocks, 1, 4096, 0, "B", "grid of the blocks schedule (B × B)"},
        {"schedule", BOPT_STR, &o->schedule, 0, 0, 0, "S", "hogwild, blocks or all"},
        {"precision", BOPT_STR, &o->precision, 0, 0, 0, "P", "factor storage: fp32, fp16 or all"},
    };
    bench_parse(c, "bench_sgd", "GPU SGD on Netflix-shaped synthetic data (issue 5): updates per second and GB/s\n"
                "against the copy bandwidth, hogwild and blocks, fp32 and fp16 storage.",
                own, (int)(sizeof own / sizeof *own), argc, argv);
    if (pick(o->schedule, "hogwild", "blocks", o->sched_on)) {
        fprintf(stderr, "bench_sgd: --schedule: '%s': give hogwild, blocks or all\n", o->schedule);
        exit(2);
    }
    if (pick(o->precision, "fp32", "fp16", o->prec_on)) {
        fprintf(stderr, "bench_sgd: --precision: '%s': give fp32, fp16 or all\n", o->precision);
        exit(2);
    }
}

#ifdef CUFACTOR_HAVE_CUDA

static cf_config config_for(const bench_common *bc, const sgd_opts *o, cf_sgd_schedule s, cf_precision p) {
    cf_config c;
    cf_config_default(&c);
    c.algo = CF_ALGO_SGD, c.factors = o->factors, c.bias = 1, c.reg = CF_REG_WEIGHTED, c.lambda = 0.05;
    c.lr = 0.005, c.schedule = s, c.blocks = o->blocks, c.precision = p, c.gpu_id = bc->gpu_id;
    c.device = CF_DEVICE_GPU, c.seed = bc->seed;
    return c;
}

/* One blocks fp32 epoch on GPU and CPU from the same start, on a 1 % sample of the shape
 * (at least 1000 users, 20 000 ratings): max relative difference of the factors whose
 * magnitude is above 1e-3 of the largest. */
static double validate(const bench_common *bc, const sgd_opts *o) {
    int64_t users = bc->users / 100 > 1000 ? bc->users / 100 : 1000;
    cf_bench_data *d = bench_data(bc, users, bc->ratings / 100 > 20000 ? bc->ratings / 100 : 20000, 0.01, bc->seed + 1);
    const cf_ratings *R = cf_bench_data_train(d);
    const cf_triplets *test = cf_bench_data_test(d);
    cf_config c = config_for(bc, o, CF_SCHED_BLOCKS, CF_PRECISION_FP32);
    c.blocks = 16;
    cf_factors init, out[2];
    bench_init_factors(bc, R, &c, &init);
    const cf_backend_ops *ops[2] = {cf_gpu_backend(), &cf_cpu_backend};
    cf_error err = {0};
    for (int k = 0; k < 2; k++) {
        cf_backend *b = NULL;
        cf_config ck = c;
        if (k) ck.device = CF_DEVICE_CPU;
        if (ops[k]->open(R, test, &ck, &init, &b, &err) || ops[k]->sgd_epoch(b, 0, c.lr, &err))
            bench_die(bc, ops[k]->name, &err);
        if (cf_factors_alloc(&out[k], R->n_users, R->n_items, c.factors, 1, &err) || ops[k]->download(b, &out[k], &err))
            bench_die(bc, "download", &err);
        ops[k]->close(b);
    }
    double scale = 0, worst = 0;
    size_t np = (size_t)R->n_users * (size_t)c.factors, nq = (size_t)R->n_items * (size_t)c.factors;
    for (size_t j = 0; j < np; j++) scale = fmax(scale, fabs(out[1].P[j]));
    for (size_t j = 0; j < nq; j++) scale = fmax(scale, fabs(out[1].Q[j]));
    for (size_t j = 0; j < np + nq; j++) {
        double g = j < np ? out[0].P[j] : out[0].Q[j - np], r = j < np ? out[1].P[j] : out[1].Q[j - np];
        if (fabs(r) > 1e-3 * scale) worst = fmax(worst, fabs(g - r) / fabs(r));
    }
    cf_factors_free(&init), cf_factors_free(&out[0]), cf_factors_free(&out[1]);
    cf_bench_data_destroy(&d);
    return worst;
}

static int run(bench_common *bc, const sgd_opts *o) {
    bench_start(bc);
    double v = validate(bc, o);
    printf("validation: blocks fp32, one epoch, GPU vs CPU: max relative difference %.3g\n", v);
    if (!(v <= 1e-4)) {
        fprintf(stderr, "bench_sgd: validation failed (%.3g > 1e-4): not timing\n", v);
        return 1;
    }

    cf_bench_data *data = bench_data(bc, bc->users, bc->ratings, 0.01, bc->seed + 1);
    const cf_ratings *R = cf_bench_data_train(data);
    const cf_triplets *test = cf_bench_data_test(data);
    const cf_sgd_schedule scheds[2] = {CF_SCHED_HOGWILD, CF_SCHED_BLOCKS};
    const cf_precision precs[2] = {CF_PRECISION_FP32, CF_PRECISION_FP16};
    cf_bench_ceilings ceil = {0};
    printf("%-8s %-5s %12s %10s %9s %9s %8s  test RMSE per epoch\n", "schedule", "prec", "updates/s", "s/epoch",
           "B/update", "GB/s", "of copy");
    for (int si = 0; si < 2; si++)
        for (int pi = 0; pi < 2; pi++) {
            if (!o->sched_on[si] || !o->prec_on[pi]) continue;
            cf_config c = config_for(bc, o, scheds[si], precs[pi]);
            cf_factors init;
            bench_init_factors(bc, R, &c, &init);
            cf_gpu_tuning tune;
            cf_gpu_tuning_default(&tune);
            tune.timing = 1;
            cf_backend *b = NULL;
            cf_error err = {0};
            if (cf_gpu_open_tuned(R, test, &c, &init, &tune, &b, &err)) bench_die(bc, "gpu open", &err);
            bench_gpu_ceilings(bc, b, &ceil);
            /* warm-up epoch (state upload, first launches), then reset the timers */
            if (cf_gpu_backend()->sgd_epoch(b, 0, c.lr, &err)) bench_die(bc, "warm-up epoch", &err);
            cf_gpu_stats st0;
            cf_gpu_stats_get(b, &st0);
            double rmse[64], wall = 0;
            const int ne = o->epochs;
            for (int e = 0; e < ne; e++) {
                double t0 = cf_now();
                if (cf_gpu_backend()->sgd_epoch(b, e + 1, c.lr, &err)) bench_die(bc, "epoch", &err);
                wall += cf_now() - t0;
                cf_eval ev;
                if (cf_gpu_backend()->evaluate(b, CF_EVAL_TEST, &ev, &err)) bench_die(bc, "evaluate", &err);
                rmse[e] = sqrt(ev.sse / (double)ev.n);
            }
            cf_gpu_stats st;
            cf_gpu_stats_get(b, &st);
            double ms = st.sgd_ms - st0.sgd_ms, upd = (double)(st.sgd_updates - st0.sgd_updates);
            double ups = upd / (ms * 1e-3);
            double bpu = cf_gpu_sgd_bytes_per_update(c.factors, pi, 1), gbps = ups * bpu / 1e9;
            printf("%-8s %-5s %12.4g %10.4f %9.0f %9.1f %7.1f%% ", si ? "blocks" : "hogwild",
                   cf_precision_name(precs[pi]), ups, wall / ne, bpu, gbps, 100.0 * gbps / ceil.copy_gbps);
            for (int e = 0; e < ne; e++) printf(" %.4f", rmse[e]);
            printf("\n");
            bench_json jb;
            bench_json_begin(&jb, bc, "sgd", cf_gpu_backend()->device_name(b), data, &ceil);
            bench_json_raw(&jb, "\"algo\":\"sgd\",\"schedule\":\"%s\",\"blocks\":%d,\"precision\":\"%s\",\"K\":%d,",
                           si ? "blocks" : "hogwild", c.blocks, cf_precision_name(precs[pi]), c.factors);
            bench_json_num(&jb, "updates_per_sec", ups);
            bench_json_num(&jb, "seconds_per_epoch", wall / ne);
            bench_json_num(&jb, "kernel_ms_per_epoch", ms / ne);
            bench_json_num(&jb, "bytes_per_update", bpu);
            bench_json_num(&jb, "achieved_gbps", gbps);
            bench_json_num(&jb, "share_of_copy", gbps / ceil.copy_gbps);
            bench_json_raw(&jb, "\"warps_per_sm\":%d,\"test_rmse\":[", st.sgd_warps_per_sm);
            for (int e = 0; e < ne; e++) bench_json_raw(&jb, "%s%.6g", e ? "," : "", rmse[e]);
            bench_json_raw(&jb, "]");
            bench_json_end(&jb, bc);
            cf_gpu_backend()->close(b);
            cf_factors_free(&init);
        }
    bench_finish(bc);
    cf_bench_data_destroy(&data);
    return 0;
}

#endif /* CUFACTOR_HAVE_CUDA */

int main(int argc, char **argv) {
    bench_common bc;
    sgd_opts o;
    parse(argc, argv, &bc, &o);
    if (bc.data_only) {
        cf_bench_data *d = bench_data(&bc, bc.users, bc.ratings, 0.01, bc.seed + 1);
        cf_bench_data_destroy(&d);
        return 0;
    }
    bench_require_gpu(&bc); /* exits 0 where none is usable, and always without CUDA */
#ifdef CUFACTOR_HAVE_CUDA
    return run(&bc, &o);
#else
    return 0;
#endif
}
