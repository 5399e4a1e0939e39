/*
 * bench_als.c — GPU ALS on Netflix-shaped synthetic data (issue 4):
 *
 *   480 189 users × 17 770 items, 100 M ratings, power-law popularity (cf_generate),
 *   K = 100 and 128, biases on, weighted λ = 0.05.
 *
 * Per K it reports the seconds of one full ALS iteration (users then items half-step,
 * the fused total by wall clock) and how CUDA events attribute it: `gram` is the fused
 * pass that forms the Gram matrices and the right-hand sides together (kernels/gram.cu,
 * with the long rows' segment reduction), `rhs` is 0 since that pass (the field stays so
 * that the nightly records keep their gram / rhs / solve fields; "rhs_in_gram": true
 * says so), `solve` the batched potrf/potrs and the scatter. The fused pass's GFLOP/s
 * (useful flops Σ n_r·(d(d+1) + 2d), d = K+1: Gram lower triangle and RHS, both sides)
 * and its share of the device's FP32 and TF32 rates measured in the same run by a cuBLAS
 * SGEMM (the pass runs on the FP32 pipe; the TF32 share is what a tensor-core Gram, issue
 * 14 item 4, would be measured against), peak device memory, and
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
 * --als-solver cusolver|fused (default cusolver, as cf_config) chooses the GPU solve
 * (docs/USAGE.md "GPU ALS solver"); the JSON records it as "als_solver" and the path the half-steps
 * took as "solve_fused" (fused falls back to cuSOLVER beyond d = 129).
 *
 * --als-gram simt|tc (default simt, as cf_config) chooses the Gram kernel (docs/USAGE.md "GPU ALS
 * Gram"): tc is the 3×TF32 tensor-core kernel (kernels/gram_tc.cu). The JSON records it as
 * "als_gram" and the kernel that ran as "gram_tc" (tc falls back to simt below sm_80).
 * With tc it also reports the tensor-core FLOPs the kernel executes ("gram_executed_gflops":
 * 3 mma per product over the upper block triangle of 16 × 16 tiles, 1536 FLOP per tile and
 * entry, see gram_tc.cu) and their share of the TF32 rate: the useful rate against the FP32
 * and TF32 ceilings says what the user gets, the executed rate how busy the tensor cores are.
 *
 * Usage: bench_als [--factors 100,128] [--iters N] [--cpu-scale F] [--no-cpu]
 *                  [--als-solver cusolver|fused] [--als-gram simt|tc]
 *                  [the data, device and output options of bench_common.h: --users N
 *                  --items N --ratings N --zipf Z --seed S --gpu-id N --json FILE
 *                  --commit SHA --cache DIR --no-cache --suites FILE]
 *
 * The data come through the bench cache (bench/cache; the Netflix shape is the nightly
 * suite's `netflix` set), all of it training data (no test part).
 */
#include "bench_common.h"

#include "bench/bench_impl.h"
#include "common.h"
#include "gpu/gpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct als_opts {
    const char *factors_list; /* "100,128" */
    int factors[8], n_factors;
    int32_t iters;
    double cpu_scale;
    int no_cpu;
    const char *solver_name; /* --als-solver */
    cf_als_solver solver;
    const char *gram_name; /* --als-gram */
    cf_als_gram gram;
} als_opts;

static void parse(int argc, char **argv, bench_common *c, als_opts *o) {
    o->factors_list = "100,128", o->iters = 5, o->cpu_scale = 0.05, o->no_cpu = 0;
    cf_config dflt;
    cf_config_default(&dflt);
    o->solver = dflt.als_solver, o->solver_name = cf_als_solver_name(dflt.als_solver);
    o->gram = dflt.als_gram, o->gram_name = dflt.als_gram == CF_ALS_GRAM_TC ? "tc" : "simt";
    const bench_opt own[] = {
        {"factors", BOPT_STR, &o->factors_list, 0, 0, 0, "K[,K...]", "latent dimensions, up to 8"},
        {"iters", BOPT_I32, &o->iters, 1, 1000, 0, "N", "timed iterations (after one warm-up)"},
        {"cpu-scale", BOPT_DOUBLE, &o->cpu_scale, 0, 1, 0, "F", "fraction of users and ratings the CPU runs on"},
        {"no-cpu", BOPT_FLAG, &o->no_cpu, 0, 0, 1, NULL, "no CPU reference (--cpu-scale 0)"},
        {"als-solver", BOPT_STR, &o->solver_name, 0, 0, 0, "cusolver|fused",
         "GPU solve: cuSOLVER batched potrf/potrs, or the fused shared-memory Cholesky"},
        {"als-gram", BOPT_STR, &o->gram_name, 0, 0, 0, "simt|tc",
         "GPU Gram: the FP32 SIMT kernel, or 3xTF32 on tensor cores (sm_80+)"},
    };
    bench_parse(c, "bench_als", "GPU ALS on Netflix-shaped synthetic data (issue 4): seconds per iteration by phase,\n"
                "Gram GFLOP/s against the SGEMM rate, peak memory, speed-up over the CPU reference.",
                own, (int)(sizeof own / sizeof *own), argc, argv);
    if (o->no_cpu) o->cpu_scale = 0;
    if (cf_als_solver_parse(o->solver_name, &o->solver) != 0) {
        fprintf(stderr, "bench_als: --als-solver: '%s': use cusolver or fused\n", o->solver_name);
        exit(2);
    }
    if (strcmp(o->gram_name, "simt") == 0)
        o->gram = CF_ALS_GRAM_SIMT;
    else if (strcmp(o->gram_name, "tc") == 0)
        o->gram = CF_ALS_GRAM_TC;
    else {
        fprintf(stderr, "bench_als: --als-gram: '%s': use simt or tc\n", o->gram_name);
        exit(2);
    }
    o->n_factors = bench_int_list("bench_als", "factors", o->factors_list, 1, 1024, 8, "values", o->factors);
}

#ifdef CUFACTOR_HAVE_CUDA

static cf_config config_for(const bench_common *bc, const als_opts *o, int K) {
    cf_config c;
    cf_config_default(&c);
    c.factors = K, c.bias = 1, c.reg = CF_REG_WEIGHTED, c.lambda = 0.05, c.gpu_id = bc->gpu_id;
    c.als_solver = o->solver;
    c.als_gram = o->gram;
    return c;
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

typedef struct gpu_result {
    double iter_s, gram_s, rhs_s, solve_s, gram_gflops, train_rmse, objective, residual;
    cf_gpu_stats stats;
    char device[128];
} gpu_result;

/* Opens the GPU backend, validates the first user half-step, warms up, times `iters`
 * iterations. `ceil` (may be NULL) receives the device's ceilings (measured once). */
static void run_gpu(const bench_common *bc, const cf_ratings *R, const cf_config *c, int iters, int validate,
                    cf_bench_ceilings *ceil, gpu_result *out) {
    cf_error err = {0};
    cf_factors init, after;
    bench_init_factors(bc, R, c, &init);
    cf_gpu_tuning t;
    cf_gpu_tuning_default(&t);
    t.timing = 1;
    cf_backend *b = NULL;
    const cf_backend_ops *ops = cf_gpu_backend();
    memset(out, 0, sizeof *out);
    double t0 = cf_now();
    if (cf_gpu_open_tuned(R, NULL, c, &init, &t, &b, &err)) bench_die(bc, "gpu open", &err);
    double open_s = cf_now() - t0;
    snprintf(out->device, sizeof out->device, "%s", ops->device_name(b));

    /* Validation of the first user half-step, then the warm-up iteration's item half. */
    if (ops->als_half(b, CF_SIDE_USERS, &err)) bench_die(bc, "gpu als_half (users)", &err);
    out->residual = NAN;
    if (validate) {
        if (cf_factors_alloc(&after, R->n_users, R->n_items, c->factors, 1, &err)) bench_die(bc, "factors", &err);
        if (ops->download(b, &after, &err)) bench_die(bc, "gpu download", &err);
        out->residual = sampled_residual(R, c, &init, &after);
        cf_factors_free(&after);
        if (!(out->residual <= 1e-4)) {
            fprintf(stderr, "bench_als: validation failed: GPU user half-step residual %.3g > 1e-4\n",
                    out->residual);
            exit(1);
        }
    }
    if (ops->als_half(b, CF_SIDE_ITEMS, &err)) bench_die(bc, "gpu als_half (items)", &err);

    double *it = calloc((size_t)iters * 4, sizeof(double));
    if (!it) bench_die(bc, "out of memory", NULL);
    for (int j = 0; j < iters; j++) {
        cf_gpu_stats_reset_timers(b);
        double s0 = cf_now();
        if (ops->als_half(b, CF_SIDE_USERS, &err)) bench_die(bc, "gpu als_half (users)", &err);
        if (ops->als_half(b, CF_SIDE_ITEMS, &err)) bench_die(bc, "gpu als_half (items)", &err);
        it[j] = cf_now() - s0;
        cf_gpu_stats s;
        cf_gpu_stats_get(b, &s);
        it[iters + j] = s.gram_ms * 1e-3;
        it[2 * iters + j] = s.rhs_ms * 1e-3;
        it[3 * iters + j] = s.solve_ms * 1e-3;
    }
    out->iter_s = bench_median(it, iters);
    out->gram_s = bench_median(it + iters, iters);
    out->rhs_s = bench_median(it + 2 * iters, iters);
    out->solve_s = bench_median(it + 3 * iters, iters);
    /* useful flops of the fused pass in one iteration, both sides, d = K + 1:
     * Σ_rows n_r·d(d+1) (Gram, lower triangle) + Σ_rows n_r·2d (right-hand sides) */
    const double d = c->factors + 1.0;
    out->gram_gflops = 2.0 * (double)R->nnz * (d * (d + 1.0) + 2.0 * d) / out->gram_s / 1e9;
    free(it);

    cf_eval e;
    if (ops->evaluate(b, CF_EVAL_TRAIN, &e, &err)) bench_die(bc, "gpu evaluate", &err);
    out->train_rmse = sqrt(e.sse / (double)e.n);
    out->objective = e.sse + e.reg;
    cf_gpu_stats_get(b, &out->stats); /* before the ceiling buffers count */
    if (ceil) bench_gpu_ceilings(bc, b, ceil);
    printf("  gpu open (upload + plan) %.2f s; %d + %d batches; segment %lld\n", open_s,
           out->stats.batches_users, out->stats.batches_items, (long long)out->stats.segment);
    ops->close(b);
    cf_factors_free(&init);
}

/* One timed CPU iteration (after none: the CPU has nothing to warm up). */
static double run_cpu(const bench_common *bc, const cf_ratings *R, const cf_config *c, char *name,
                      size_t name_len) {
    cf_error err = {0};
    cf_factors init;
    bench_init_factors(bc, R, c, &init);
    cf_backend *b = NULL;
    if (cf_cpu_backend.open(R, NULL, c, &init, &b, &err)) bench_die(bc, "cpu open", &err);
    snprintf(name, name_len, "%s", cf_cpu_backend.device_name(b));
    double t0 = cf_now();
    if (cf_cpu_backend.als_half(b, CF_SIDE_USERS, &err)) bench_die(bc, "cpu als_half (users)", &err);
    if (cf_cpu_backend.als_half(b, CF_SIDE_ITEMS, &err)) bench_die(bc, "cpu als_half (items)", &err);
    double s = cf_now() - t0;
    cf_cpu_backend.close(b);
    cf_factors_free(&init);
    return s;
}

static int run(bench_common *bc, const als_opts *o) {
    bench_start(bc);
    cf_bench_data *data = bench_data(bc, bc->users, bc->ratings, 0.0, bc->seed + 1), *small = NULL;
    const cf_ratings *R = cf_bench_data_train(data), *Rs = NULL;
    int64_t su = (int64_t)llround((double)bc->users * o->cpu_scale);
    int64_t sr = (int64_t)llround((double)bc->ratings * o->cpu_scale);
    if (o->cpu_scale > 0) {
        small = bench_data(bc, su < 1 ? 1 : su, sr < 1 ? 1 : sr, 0.0, bc->seed + 1);
        Rs = cf_bench_data_train(small);
    }
    cf_bench_ceilings ceil = {0};
    printf("ALS solver: %s; Gram: %s\n", cf_als_solver_name(o->solver), o->gram_name);
    printf("%-4s %10s %10s %9s %9s %11s %11s %7s %11s %7s %10s %9s %9s\n", "K", "s/iter", "gram+rhs s", "rhs s",
           "solve s", "gram GF/s", "fp32 GF/s", "share", "tf32 GF/s", "share", "peak GiB", "cpu s/it", "speed-up");
    for (int j = 0; j < o->n_factors; j++) {
        const int K = o->factors[j];
        cf_config c = config_for(bc, o, K);
        gpu_result g, gs;
        run_gpu(bc, R, &c, o->iters, 1, &ceil, &g);
        double cpu_s = NAN, speed_same = NAN, speed_proj = NAN;
        char cpu_name[64] = "";
        if (Rs) {
            run_gpu(bc, Rs, &c, o->iters, 0, NULL, &gs);
            cpu_s = run_cpu(bc, Rs, &c, cpu_name, sizeof cpu_name);
            speed_same = cpu_s / gs.iter_s;
            speed_proj = cpu_s / (double)Rs->nnz * (double)R->nnz / g.iter_s;
        }
        double share = g.gram_gflops / ceil.gemm_gflops, share_tf32 = g.gram_gflops / ceil.tf32_gflops;
        double peak_gib = (double)g.stats.device_used_peak_bytes / (double)(1ULL << 30);
        printf("%-4d %10.4f %10.4f %9.4f %9.4f %11.1f %11.1f %6.1f%% %11.1f %6.1f%% %10.2f %9.3f %8.1fx\n", K,
               g.iter_s, g.gram_s, g.rhs_s, g.solve_s, g.gram_gflops, ceil.gemm_gflops, 100 * share,
               ceil.tf32_gflops, 100 * share_tf32, peak_gib, cpu_s, speed_same);
        /* the tensor-core kernel's executed FLOPs (gram_tc.cu): 1536 per 16 × 16 tile of the
         * upper block triangle per entry, tiles over S = 16·⌈(d+1)/16⌉, both sides */
        const int nt = (K + 1 + 1 + 15) / 16;
        const double exec_gflops = g.stats.gram_tc
                                       ? 2.0 * (double)R->nnz * 1536.0 * (nt * (nt + 1) / 2) / g.gram_s / 1e9
                                       : NAN;
        if (g.stats.gram_tc)
            printf("  gram on tensor cores (3xTF32): executed %.1f GFLOP/s = %.1f%% of the TF32 rate; useful %.1f%% of "
                   "TF32/3 (%.1f GFLOP/s, the fp32-grade ceiling of the split)\n",
                   exec_gflops, 100 * exec_gflops / ceil.tf32_gflops, 300 * g.gram_gflops / ceil.tf32_gflops,
                   ceil.tf32_gflops / 3);
        else if (o->gram == CF_ALS_GRAM_TC)
            printf("  --als-gram tc did not run (the device has no TF32 tensor cores): the SIMT Gram was timed\n");
        printf("  gram+rhs: one fused pass (Gram and right-hand sides, segment reduction); rhs 0: formed in it; "
               "other %.4f s (s/iter − gram − solve: launches, host syncs)\n",
               g.iter_s - g.gram_s - g.rhs_s - g.solve_s);
        bench_json jb;
        bench_json_begin(&jb, bc, "als", g.device, data, &ceil);
        bench_json_raw(&jb, "\"algo\":\"als\",\"K\":%d,\"bias\":1,\"reg\":\"weighted\",\"lambda\":0.05,"
                            "\"iters_timed\":%d,\"als_solver\":\"%s\",\"solve_fused\":%d,\"als_gram\":\"%s\","
                            "\"gram_tc\":%d,",
                       K, o->iters, cf_als_solver_name(o->solver), g.stats.solve_fused, o->gram_name,
                       g.stats.gram_tc);
        bench_json_num(&jb, "seconds_per_iter", g.iter_s);
        bench_json_num(&jb, "gram_s", g.gram_s);
        bench_json_num(&jb, "rhs_s", g.rhs_s);
        bench_json_raw(&jb, "\"rhs_in_gram\":true,");
        bench_json_num(&jb, "solve_s", g.solve_s);
        bench_json_num(&jb, "ratings_per_sec", (double)R->nnz / g.iter_s);
        bench_json_num(&jb, "gram_gflops", g.gram_gflops);
        bench_json_num(&jb, "gram_share_fp32", share);
        bench_json_num(&jb, "gram_share_tf32", share_tf32);
        bench_json_num(&jb, "gram_executed_gflops", exec_gflops);
        bench_json_num(&jb, "gram_executed_share_tf32", exec_gflops / ceil.tf32_gflops);
        bench_json_raw(&jb, "\"batches_users\":%d,\"batches_items\":%d,\"alloc_peak_bytes\":%zu,"
                            "\"device_used_peak_bytes\":%zu,",
                       g.stats.batches_users, g.stats.batches_items, g.stats.alloc_peak_bytes,
                       g.stats.device_used_peak_bytes);
        bench_json_num(&jb, "validation_residual", g.residual);
        bench_json_num(&jb, "train_rmse", g.train_rmse);
        bench_json_num(&jb, "objective", g.objective);
        bench_json_raw(&jb, "\"cpu\":{\"device\":\"%s\",\"scale\":%g,\"users\":%lld,\"nnz\":%lld,", cpu_name,
                       o->cpu_scale, (long long)(Rs ? Rs->n_users : 0), (long long)(Rs ? Rs->nnz : 0));
        bench_json_num(&jb, "seconds_per_iter", cpu_s);
        bench_json_num(&jb, "gpu_seconds_per_iter_same_data", Rs ? gs.iter_s : NAN);
        jb.n--; /* the last comma */
        bench_json_raw(&jb, "},");
        bench_json_num(&jb, "speedup_same_data", speed_same);
        bench_json_num(&jb, "speedup_projected_full", speed_proj);
        bench_json_end(&jb, bc);
        if (Rs)
            printf("  cpu (%s) on %lld users / %lld ratings: %.3f s per iteration; GPU on the same data %.4f s "
                   "(%.1fx); projected to %lld ratings: %.1fx\n",
                   cpu_name, (long long)Rs->n_users, (long long)Rs->nnz, cpu_s, gs.iter_s, speed_same,
                   (long long)R->nnz, speed_proj);
    }
    bench_finish(bc);
    cf_bench_data_destroy(&small);
    cf_bench_data_destroy(&data);
    return 0;
}

#endif /* CUFACTOR_HAVE_CUDA */

int main(int argc, char **argv) {
    bench_common bc;
    als_opts o;
    parse(argc, argv, &bc, &o);
    if (bc.data_only) {
        cf_bench_data *d = bench_data(&bc, bc.users, bc.ratings, 0.0, bc.seed + 1);
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
