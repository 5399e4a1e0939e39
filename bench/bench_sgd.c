/*
 * bench_sgd.c — GPU SGD on Netflix-shaped synthetic data (issues 5 and 15):
 *
 *   480 189 users × 17 770 items, 100 M ratings, power-law popularity (cf_generate),
 *   K = 128, biases on, weighted λ = 0.05, lr 0.005 constant (all of it options).
 *
 * For each (schedule, precision) of {hogwild, blocks} × {fp32, fp16} it reports updates
 * per second of the update kernels (CUDA events around them), seconds per epoch (wall
 * clock of the whole epoch: kernels, fp16 conversions, NaN guard), the test RMSE (1 %
 * split) after every epoch, the epoch as `cufactor train` runs it (issue 15 item 4: the
 * trainer's own cf_train_step and then cf_train_evaluate — train sse/sae/n, reg of both
 * sides, test — each timed by wall clock, in the same process on the same data; printed
 * as "s/epoch + s evaluation = s, ratio× the bare epoch"; JSON eval_seconds_per_epoch,
 * train_seconds_per_epoch, train_over_bare, train_rmse), and the bytes one update moves
 * by the kernel's own accesses, modelled twice (src/bench/bench_impl.h
 * cf_bench_sgd_traffic_model, its assumptions there; `cufactor bench` uses the same):
 *   L2 bytes   (SM ↔ L2): the rating, the user and item rows once per run of ratings
 *              sharing them (hogwild: users in runs, items every update; blocks: items
 *              in runs, users every update);
 *              divided by the L2 read ceiling measured in the same run
 *              (cf_gpu_l2_bandwidth: a 16 MiB buffer read 20 times through L2);
 *   DRAM bytes: the rating, the user and item rows as above, except a side that stays
 *              in L2 (≤ 24 MiB of factors, about half the 40–60 MB L2 of an A100/H100/
 *              H200), read and written once per epoch; divided by the device-to-device
 *              copy bandwidth (1 GiB copies).
 * A share above 100 % means the model undercounts (e.g. cache hits it does not credit):
 * it is printed as measured, never clipped, and flagged.
 *
 * Validation before timing: the first epoch of `blocks` fp32 on a 1 % sample of the
 * users is compared with the CPU reference from the same start (max per-factor
 * relative difference must be ≤ 1e-4, else exit 1).
 *
 * --prefetch D[,D...] runs each case at each look-ahead depth of the kernels (1, 4 or 8
 * ratings; 0 the backend's default: blocks 8, hogwild 1), one after the other in the same
 * process, so the depths are compared side by side; for blocks it also prints the
 * epoch's critical path (cf_blocks_chain) and the time of one dependent update on it.
 *
 * Output: a table, and one JSON object per (schedule, precision, depth) on stdout (lines
 * starting with '{'), also appended to --json FILE. Without a usable GPU (or built
 * without CUDA) it says so and exits 0.
 *
 * --item-write add|store|all: how a hogwild warp writes an item row back (atomic adds of its
 * update, the default, or a store of its copy: cuMF_SGD's way); `all` runs each hogwild
 * case both ways, one after the other in the same process (blocks always stores).
 *
 * --runs fixed|users|all: how hogwild cuts its list into runs (a fixed length, the default
 * above 16 M ratings; or whole users, so that a heavy user's row is one warp's, at the cost
 * of that warp's longer run); `all` runs each hogwild case both ways.
 *
 * --schedule and --precision run a part of that grid (a GPU session times hogwild alone and
 * blocks, the slow one, last under its own limit: bench/gpu_session.sh). cuMF_SGD's
 * settings: --lr 0.08 --lr-schedule invscale --lr-beta 0.3 --no-bias (its rule
 * α/(1 + β·t^1.5) is `invscale`; t is the 0-based epoch, the warm-up epoch being t = 0).
 *
 * Usage: bench_sgd [--factors K] [--epochs N] [--blocks B] [--schedule hogwild|blocks|all]
 *                  [--precision fp32|fp16|all] [--lr A] [--lr-schedule const|invscale]
 *                  [--lr-beta B] [--no-bias] [--lambda L] [--rows-per-warp R] [--prefetch D[,D...]]
 *                  [--item-write add|store|all] [--runs fixed|users|all]
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
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sgd_opts {
    int32_t factors, epochs, blocks, rows_per_warp;
    const char *prefetch_list;        /* "0", "1,8": look-ahead depths, each case run at each */
    int prefetch[4], n_prefetch;
    const char *schedule, *precision; /* "hogwild" / "blocks" / "all", "fp32" / "fp16" / "all" */
    const char *item_write;           /* hogwild: "default", "store", "add" or "all" */
    int write_on[2];                  /* {store, add}; neither: the backend's default */
    const char *runs;                 /* hogwild: "default", "fixed", "users" or "all" */
    int runs_on[2];                   /* {fixed, users}; neither: the backend's default */
    int sched_on[2], prec_on[2];      /* {hogwild, blocks}, {fp32, fp16} */
    double lr, lr_beta, lambda;
    const char *lr_schedule;          /* "const" / "invscale" */
    int bias;
} sgd_opts;

/* "all" or one of the two names: which of the pair to run; -1 when it is neither. */
static int pick(const char *v, const char *a, const char *b, int on[2]) {
    on[0] = !strcmp(v, "all") || !strcmp(v, a);
    on[1] = !strcmp(v, "all") || !strcmp(v, b);
    return on[0] || on[1] ? 0 : -1;
}

/* A hogwild mode option: "default" (neither: the backend's), a, b or "all"; exit 2 otherwise. */
static void pick_mode(const char *opt, const char *v, const char *a, const char *b, int on[2]) {
    if (!strcmp(v, "default")) {
        on[0] = on[1] = 0;
    } else if (pick(v, a, b, on)) {
        fprintf(stderr, "bench_sgd: --%s: '%s': give %s, %s, all or default\n", opt, v, a, b);
        exit(2);
    }
}

static void parse(int argc, char **argv, bench_common *c, sgd_opts *o) {
    o->factors = 128, o->epochs = 5, o->blocks = 1024, o->schedule = "all", o->precision = "all";
    o->lr = 0.005, o->lr_beta = 0.1, o->lambda = 0.05, o->lr_schedule = "const", o->bias = 1, o->rows_per_warp = 0;
    o->prefetch_list = "0", o->item_write = "default", o->runs = "default";
    const bench_opt own[] = {
        {"lr", BOPT_DOUBLE, &o->lr, 1e-9, 10, 0, "A", "learning rate (of epoch 0)"},
        {"lr-schedule", BOPT_STR, &o->lr_schedule, 0, 0, 0, "S", "const, or invscale: A/(1 + B·t^1.5) (cuMF_SGD)"},
        {"lr-beta", BOPT_DOUBLE, &o->lr_beta, 0, 1e6, 0, "B", "β of invscale"},
        {"lambda", BOPT_DOUBLE, &o->lambda, 0, 1e6, 0, "L", "regularization λ (weighted)"},
        {"no-bias", BOPT_FLAG, &o->bias, 0, 0, 0, NULL, "no biases: r̂ = p·q (cuMF_SGD)"},
        {"rows-per-warp", BOPT_I32, &o->rows_per_warp, 0, 1 << 20, 0, "R",
         "hogwild: at most min(users, items)/R warps at once (0: the default, 8)"},
        {"prefetch", BOPT_STR, &o->prefetch_list, 0, 0, 0, "D[,D...]",
         "ratings the kernels fetch ahead: 1, 4 or 8 (0: the default, blocks 8, hogwild 1); a list runs each "
         "case at each depth, one after the other in the same process"},
        {"item-write", BOPT_STR, &o->item_write, 0, 0, 0, "W",
         "hogwild: how a warp writes an item row back: add (atomic adds of its update), store (its copy, "
         "cuMF_SGD's way), all (both, one after the other in the same process) or default (the backend's: add)"},
        {"runs", BOPT_STR, &o->runs, 0, 0, 0, "R",
         "hogwild: runs of a fixed length (fixed) or of whole users (users: a user's row is one warp's), all (both, "
         "one after the other) or default (the backend's: users up to 16 M ratings, fixed above)"},
        {"factors", BOPT_I32, &o->factors, 1, 1024, 0, "K", "latent dimension"},
        {"epochs", BOPT_I32, &o->epochs, 1, 64, 0, "N", "timed epochs (after one warm-up)"},
        {"blocks", BOPT_I32, &o->blocks, 1, 4096, 0, "B", "grid of the blocks schedule (B × B)"},
        {"schedule", BOPT_STR, &o->schedule, 0, 0, 0, "S", "hogwild, blocks or all"},
        {"precision", BOPT_STR, &o->precision, 0, 0, 0, "P", "factor storage: fp32, fp16 or all"},
    };
    bench_parse(c, "bench_sgd", "GPU SGD on Netflix-shaped synthetic data (issues 5, 15): updates per second, L2 and\n"
                "DRAM traffic against ceilings measured in the same run, test RMSE per epoch; hogwild and blocks,\n"
                "fp32 and fp16 storage.",
                own, (int)(sizeof own / sizeof *own), argc, argv);
    if (pick(o->schedule, "hogwild", "blocks", o->sched_on)) {
        fprintf(stderr, "bench_sgd: --schedule: '%s': give hogwild, blocks or all\n", o->schedule);
        exit(2);
    }
    if (strcmp(o->lr_schedule, "const") && strcmp(o->lr_schedule, "invscale")) {
        fprintf(stderr, "bench_sgd: --lr-schedule: '%s': give const or invscale\n", o->lr_schedule);
        exit(2);
    }
    if (pick(o->precision, "fp32", "fp16", o->prec_on)) {
        fprintf(stderr, "bench_sgd: --precision: '%s': give fp32, fp16 or all\n", o->precision);
        exit(2);
    }
    pick_mode("item-write", o->item_write, "store", "add", o->write_on);
    pick_mode("runs", o->runs, "fixed", "users", o->runs_on);
    o->n_prefetch = bench_int_list("bench_sgd", "prefetch", o->prefetch_list, 0, 8, 4, "depths", o->prefetch);
    if (!o->n_prefetch) o->prefetch[o->n_prefetch++] = 0;
}

#ifdef CUFACTOR_HAVE_CUDA

static cf_config config_for(const bench_common *bc, const sgd_opts *o, cf_sgd_schedule s, cf_precision p) {
    cf_config c;
    cf_config_default(&c);
    c.algo = CF_ALGO_SGD, c.factors = o->factors, c.bias = o->bias, c.reg = CF_REG_WEIGHTED, c.lambda = o->lambda;
    c.lr = o->lr, c.lr_decay = o->lr_beta, c.lr_schedule = strcmp(o->lr_schedule, "invscale") ? CF_LR_CONST : CF_LR_INVSCALE;
    c.schedule = s, c.blocks = o->blocks, c.precision = p, c.gpu_id = bc->gpu_id;
    c.device = CF_DEVICE_GPU, c.seed = bc->seed;
    return c;
}

/* One blocks fp32 epoch on GPU and CPU from the same start, on a 1 % sample of the shape
 * (at least 1000 users, 20 000 ratings): max relative difference of the factors whose
 * magnitude is above 1e-3 of the largest. */
static double validate(const bench_common *bc, const sgd_opts *o) {
    int64_t users = bc->users / 100 > 1000 ? bc->users / 100 : 1000;
    cf_bench_data *d = bench_data(bc, users, bc->ratings / 100 > 20000 ? bc->ratings / 100 : 20000, BENCH_SGD_TEST_RATIO,
                                  bc->seed + 1);
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
        if (cf_factors_alloc(&out[k], R->n_users, R->n_items, c.factors, c.bias, &err) ||
            ops[k]->download(b, &out[k], &err))
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

    cf_bench_data *data = bench_data(bc, bc->users, bc->ratings, BENCH_SGD_TEST_RATIO, bc->seed + 1);
    const cf_ratings *R = cf_bench_data_train(data);
    const cf_triplets *test = cf_bench_data_test(data);
    const cf_sgd_schedule scheds[2] = {CF_SCHED_HOGWILD, CF_SCHED_BLOCKS};
    const cf_precision precs[2] = {CF_PRECISION_FP32, CF_PRECISION_FP16};
    cf_bench_ceilings ceil = {0};
    double l2_gbps = 0.0;
    const double rpu = R->n_users ? (double)R->nnz / (double)R->n_users : 1.0;
    printf("lr %g (%s, β %g), biases %s, weighted λ %g, K %d; %.1f ratings per user\n", o->lr, o->lr_schedule,
           o->lr_beta, o->bias ? "on" : "off", o->lambda, o->factors, rpu);
    int header = 0;
    for (int si = 0; si < 2; si++)
        for (int pi = 0; pi < 2; pi++)
            for (int di = 0; di < o->n_prefetch; di++) /* the depths of a case one after the other */
            for (int wi = 0; wi < 2; wi++) /* hogwild's item writes: store, add (or the default once) */
            for (int ri = 0; ri < 2; ri++) { /* hogwild's runs: fixed, whole users (or the default once) */
            if (!o->sched_on[si] || !o->prec_on[pi]) continue;
            const int some_write = o->write_on[0] || o->write_on[1], some_runs = o->runs_on[0] || o->runs_on[1];
            if ((some_write && si == 0) ? !o->write_on[wi] : wi > 0) continue; /* blocks: once */
            if ((some_runs && si == 0) ? !o->runs_on[ri] : ri > 0) continue;
            cf_config c = config_for(bc, o, scheds[si], precs[pi]);
            cf_factors init;
            bench_init_factors(bc, R, &c, &init);
            cf_gpu_tuning tune;
            cf_gpu_tuning_default(&tune);
            tune.timing = 1;
            tune.sgd_rows_per_warp = o->rows_per_warp;
            tune.sgd_prefetch = o->prefetch[di];
            tune.sgd_item_write = (some_write && si == 0) ? (wi ? CF_SGD_ITEM_ADD : CF_SGD_ITEM_STORE) : 0;
            tune.sgd_runs = (some_runs && si == 0) ? (ri ? CF_SGD_RUNS_USERS : CF_SGD_RUNS_FIXED) : 0;
            cf_backend *b = NULL;
            cf_error err = {0};
            if (cf_gpu_open_tuned(R, test, &c, &init, &tune, &b, &err)) bench_die(bc, "gpu open", &err);
            if (!ceil.measured) {
                bench_gpu_ceilings(bc, b, &ceil);
                if (cf_gpu_l2_bandwidth(b, (size_t)16 << 20, 20, &l2_gbps, &err)) bench_die(bc, "L2 ceiling", &err);
                printf("ceiling: L2 read (16 MiB, ld.global.cg) %.1f GB/s\n", l2_gbps);
            }
            if (!header++)
                printf("%-23s %-5s %11s %9s %7s %8s %6s %7s %8s %6s  test RMSE per epoch\n", "schedule/D/write/runs", "prec",
                       "updates/s", "s/epoch", "L2 B/u", "L2 GB/s", "of L2", "DRAM B/u", "DRAM GB/s", "of copy");
            /* warm-up epoch (state upload, first launches), then reset the timers */
            if (cf_gpu_backend()->sgd_epoch(b, 0, cf_config_lr(&c, 0), &err)) bench_die(bc, "warm-up epoch", &err);
            cf_gpu_stats st0;
            cf_gpu_stats_get(b, &st0);
            /* each epoch as the trainer runs it (train.c): cf_train_step, then the
             * figures it reports, cf_train_evaluate; each timed on its own */
            double rmse[64], train_rmse[64], wall = 0, wall_eval = 0;
            const int ne = o->epochs;
            for (int e = 0; e < ne; e++) {
                double t0 = cf_now();
                if (cf_train_step(cf_gpu_backend(), b, &c, e + 1, &err)) bench_die(bc, "epoch", &err);
                double t1 = cf_now();
                wall += t1 - t0;
                cf_eval tr, te;
                if (cf_train_evaluate(cf_gpu_backend(), b, &tr, &te, &err)) bench_die(bc, "evaluate", &err);
                wall_eval += cf_now() - t1;
                rmse[e] = sqrt(te.sse / (double)te.n);
                train_rmse[e] = sqrt(tr.sse / (double)tr.n);
            }
            cf_gpu_stats st;
            cf_gpu_stats_get(b, &st);
            double ms = st.sgd_ms - st0.sgd_ms, upd = (double)(st.sgd_updates - st0.sgd_updates);
            double ups = upd / (ms * 1e-3);
            cf_bench_sgd_traffic tm; /* the model cufactor bench uses too (bench_impl.h) */
            cf_bench_sgd_traffic_model(R->nnz, R->n_users, R->n_items, c.factors, pi, c.bias,
                                       si == 0 ? (st.sgd_hogwild_run > 0 ? st.sgd_hogwild_run : 1) : 0, c.blocks,
                                       CF_BENCH_L2_BUDGET, &tm);
            const double l2b = tm.l2_bytes, drb = tm.dram_bytes;
            const double l2g = ups * l2b / 1e9, drg = ups * drb / 1e9;
            const double sh_l2 = l2g / l2_gbps, sh_dram = drg / ceil.copy_gbps;
            const char *wname = st.sgd_item_write == CF_SGD_ITEM_ADD ? "add" : "store";
            const char *rname = st.sgd_runs == CF_SGD_RUNS_USERS ? "users" : "fixed";
            char sched_d[40]; /* the schedule, the look-ahead depth the kernels ran, hogwild's item write and runs */
            if (si)
                snprintf(sched_d, sizeof sched_d, "blocks/%d", st.sgd_prefetch);
            else
                snprintf(sched_d, sizeof sched_d, "hogwild/%d/%s/%s", st.sgd_prefetch, wname, rname);
            printf("%-23s %-5s %11.4g %9.4f %7.0f %8.1f %5.1f%% %8.0f %9.1f %5.1f%% ", sched_d, cf_precision_name(precs[pi]), ups, wall / ne, l2b, l2g, 100.0 * sh_l2, drb, drg, 100.0 * sh_dram);
            for (int e = 0; e < ne; e++) printf(" %.4f", rmse[e]);
            printf("\n");
            if (sh_l2 > 1.0 || sh_dram > 1.0)
                printf("  (a share above 100 %%: the traffic model undercounts for this case, see gpu.h)\n");
            printf("  as cufactor train runs it: %.4f s/epoch + %.4f s evaluation (train, reg, test) = %.4f s, "
                   "%.3fx the bare epoch\n", wall / ne, wall_eval / ne, (wall + wall_eval) / ne,
                   (wall + wall_eval) / wall);
            if (si == 0)
                printf("  hogwild: %lld warps at once (device: %d per SM), runs of %lld ratings, look-ahead %d\n",
                       (long long)st.sgd_hogwild_warps, st.sgd_warps_per_sm, (long long)st.sgd_hogwild_run,
                       st.sgd_prefetch);
            if (si == 0 && st.sgd_runs == CF_SGD_RUNS_USERS)
                printf("  whole users: %lld users of more than %lld ratings first, each alone\n",
                       (long long)st.sgd_heavy_users, (long long)st.sgd_heavy_min);
            /* blocks: the epoch over its critical path, the time of one dependent update
             * (kernels/sgd.cu: ≈ 0.6–0.8 µs when each waits on a DRAM read, ≈ 0.1 µs when
             * the look-ahead hides it) */
            const double ns_chain = si == 1 && st.sgd_chain > 0 ? ms / ne * 1e6 / (double)st.sgd_chain : 0;
            if (si == 1)
                printf("  blocks: critical path %lld updates an epoch, %.0f ns each (look-ahead %d)\n",
                       (long long)st.sgd_chain, ns_chain, st.sgd_prefetch);
            bench_json jb;
            bench_json_begin(&jb, bc, "sgd", cf_gpu_backend()->device_name(b), data, &ceil);
            bench_json_raw(&jb, "\"algo\":\"sgd\",\"schedule\":\"%s\",\"blocks\":%d,\"precision\":\"%s\",\"K\":%d,",
                           si ? "blocks" : "hogwild", c.blocks, cf_precision_name(precs[pi]), c.factors);
            bench_json_raw(&jb, "\"lr\":%g,\"lr_schedule\":\"%s\",\"lr_beta\":%g,\"bias\":%d,\"lambda\":%g,", o->lr,
                           o->lr_schedule, o->lr_beta, c.bias, o->lambda);
            bench_json_num(&jb, "updates_per_sec", ups);
            bench_json_num(&jb, "seconds_per_epoch", wall / ne);
            bench_json_num(&jb, "kernel_ms_per_epoch", ms / ne);
            bench_json_num(&jb, "eval_seconds_per_epoch", wall_eval / ne);
            bench_json_num(&jb, "train_seconds_per_epoch", (wall + wall_eval) / ne);
            bench_json_num(&jb, "train_over_bare", (wall + wall_eval) / wall);
            bench_json_num(&jb, "l2_ceiling_gbps", l2_gbps);
            bench_json_num(&jb, "l2_bytes_per_update", l2b);
            bench_json_num(&jb, "l2_gbps", l2g);
            bench_json_num(&jb, "share_of_l2", sh_l2);
            bench_json_num(&jb, "dram_bytes_per_update", drb);
            bench_json_num(&jb, "dram_gbps", drg);
            bench_json_num(&jb, "share_of_copy", sh_dram);
            bench_json_raw(&jb, "\"warps_per_sm\":%d,\"hogwild_warps\":%lld,\"hogwild_run\":%lld,\"rows_per_warp\":%d,",
                           st.sgd_warps_per_sm, (long long)st.sgd_hogwild_warps, (long long)st.sgd_hogwild_run,
                           o->rows_per_warp);
            bench_json_raw(&jb, "\"item_write\":\"%s\",\"runs\":\"%s\",\"heavy_users\":%lld,\"heavy_min\":%lld,", wname,
                           rname, (long long)st.sgd_heavy_users, (long long)st.sgd_heavy_min);
            bench_json_raw(&jb, "\"prefetch\":%d,\"chain_updates\":%lld,", st.sgd_prefetch,
                           si == 1 ? (long long)st.sgd_chain : 0LL);
            if (si == 1) bench_json_num(&jb, "ns_per_chain_update", ns_chain);
            bench_json_raw(&jb, "\"test_rmse\":[");
            for (int e = 0; e < ne; e++) bench_json_raw(&jb, "%s%.6g", e ? "," : "", rmse[e]);
            bench_json_raw(&jb, "],\"train_rmse\":[");
            for (int e = 0; e < ne; e++) bench_json_raw(&jb, "%s%.6g", e ? "," : "", train_rmse[e]);
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
        cf_bench_data *d = bench_data(&bc, bc.users, bc.ratings, BENCH_SGD_TEST_RATIO, bc.seed + 1);
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
