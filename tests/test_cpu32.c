/* test_cpu32.c — the fp32 SIMD CPU path (src/cpu/cpu32.h, "cpu-fp32") against the fp64
 * reference (src/cpu/cpu.h), through the backend table:
 *   - ALS: one half-step from the same factors, per row relative difference
 *       rel(x) = ‖x32 − x64‖ / max(‖x32‖, ‖x64‖)
 *     median ≤ 1e-5, max ≤ 1e-3. Why: the fp32 path rounds the other side's factors to
 *     fp32 (u = 2⁻²⁴ ≈ 6e-8 relative) and sums each 64-rating chunk of the Gram in fp32
 *     (≈ u·√(64/3) ≈ 3e-7), then solves in double: the solution moves by about κ(A)
 *     times that, κ a few hundred at most on these planted sets (λ weighted 0.05): ≲ 1e-5
 *     typically; the max leaves room for the worst-conditioned row. Measured: see the
 *     cr_log_info lines (median ≈ 1e-7);
 *   - SGD blocks (the same order on both paths): after one epoch per-row median ≤ 1e-5 and
 *     max ≤ 1e-3 (each update's rounding is ≈ u relative, and the rows' errors grow over the
 *     ≈ 50 updates per row of the epoch, still far below these); after 10 epochs the test
 *     RMSEs and the train objectives within 1e-4 relative;
 *   - ALS and SGD with the biases' own λ_b (plain, beside weighted λ): the same bounds;
 *   - SGD in the fp32 path's default order (`shuffle`: blocks on its own grid) against the
 *     reference's sequential shuffle: another order, so the test RMSE after 15 epochs within
 *     1 % (the order's effect; rounding alone is ~1e-6);
 *   - bit-identical factors for 1, 2 and 3 threads (ALS, SGD in both orders), and a
 *     different seed giving other factors;
 *   - every SIMD level this CPU has (CUFACTOR_SIMD=scalar|avx2|avx512; each test runs in a
 *     process of its own) against the reference with the same bounds;
 *   - long rows (10 users, up to 500 000 ratings): the normal equations agree with fp64 to
 *     ≤ 1e-6 relative (median over rows) and ≤ 1e-5 (max), Frobenius for A and 2-norm for
 *     b, and the solve's residual ‖b − A x‖/(‖A‖_F‖x‖) in the double system ≤ 1e-5 (as the
 *     GPU's, tests/gpu/test_gpu_als.c gram_rhs_long_rows_fp64);
 *   - the option: which backend trains what, the notices, the errors. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "common.h"
#include "cpu/cpu32_api.h"
#include "helpers.h"
#include "model.h"
#include "train.h"
#include "verify.h"

CF_TEST_SUITE_WITH_TMPDIR(cpu32, 300);

static const cf_test_planted prob = {.n_users = 300, .n_items = 200, .rank = 4, .density = 0.15, .sigma = 0.3,
                                     .mu = 3.5, .test_ratio = 0.1, .bias = 1, .seed = 21};

static cf_config cfg_of(cf_algo algo, int K, int bias, int threads) {
    cf_config c;
    cf_config_default(&c);
    c.algo = algo, c.factors = K, c.bias = bias, c.threads = threads, c.lambda = 0.05, c.device = CF_DEVICE_CPU;
    c.lr = 0.02;
    return c;
}

static cf_backend *open_with(const cf_backend_ops *ops, const cf_ratings *R, const cf_triplets *test,
                             const cf_config *c, uint64_t seed) {
    cf_factors init;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&init, R->n_users, R->n_items, c->factors, c->bias, &err), CF_OK);
    cf_factors_init_random(&init, 0.5, seed);
    init.mu = c->bias ? R->mean : 0.0;
    cf_backend *b = NULL;
    cr_assert_eq(ops->open(R, test, c, &init, &b, &err), CF_OK, "%s: %s", ops->name, err.msg);
    cf_factors_free(&init);
    return b;
}

static void download(const cf_backend_ops *ops, cf_backend *b, const cf_ratings *R, int K, int bias, cf_factors *f) {
    cf_error err;
    cr_assert_eq(cf_factors_alloc(f, R->n_users, R->n_items, K, bias, &err), CF_OK);
    cr_assert_eq(ops->download(b, f, &err), CF_OK, "%s", err.msg);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median and max of the per-row relative differences (rows of P with b_u, of Q with b_i) */
static void row_diffs(const cf_factors *a, const cf_factors *b, double *median, double *max) {
    int64_t n = a->n_users + a->n_items;
    double *rel = malloc(sizeof(double) * (size_t)n);
    for (int64_t r = 0; r < n; r++) {
        int user = r < a->n_users;
        int64_t i = user ? r : r - a->n_users;
        const double *x = (user ? a->P : a->Q) + i * a->k, *y = (user ? b->P : b->Q) + i * a->k;
        double bx = user ? a->bu[i] : a->bi[i], by = user ? b->bu[i] : b->bi[i];
        double d = (bx - by) * (bx - by), nx = bx * bx, ny = by * by;
        for (int k = 0; k < a->k; k++) d += (x[k] - y[k]) * (x[k] - y[k]), nx += x[k] * x[k], ny += y[k] * y[k];
        double den = sqrt(nx > ny ? nx : ny);
        rel[r] = den > 0 ? sqrt(d) / den : 0;
    }
    qsort(rel, (size_t)n, sizeof *rel, cmp_double);
    *median = rel[n / 2], *max = rel[n - 1];
    free(rel);
}

static int same_factors(const cf_factors *a, const cf_factors *b) {
    size_t np = (size_t)a->n_users * (size_t)a->k, nq = (size_t)a->n_items * (size_t)a->k;
    return !memcmp(a->P, b->P, np * sizeof(double)) && !memcmp(a->Q, b->Q, nq * sizeof(double)) &&
           !memcmp(a->bu, b->bu, (size_t)a->n_users * sizeof(double)) &&
           !memcmp(a->bi, b->bi, (size_t)a->n_items * sizeof(double));
}

static double test_rmse(const cf_backend_ops *ops, cf_backend *b) {
    cf_eval e;
    cf_error err;
    cr_assert_eq(ops->evaluate(b, CF_EVAL_TEST, &e, &err), CF_OK);
    return sqrt(e.sse / (double)e.n);
}

/* ------------------------------------------------------------------ fp32 vs fp64 */

/* c.factors, c.bias: K and bias; the rest of cfg_of's, but any λ_b and bias mode. */
static void als_against_reference_cfg(cf_config c) {
    const int K = c.factors, bias = c.bias;
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_backend *r = open_with(&cf_cpu_backend, &R, &test, &c, 5), *f = open_with(&cf_cpu32_backend, &R, &test, &c, 5);
    cf_error err;
    for (int side = 0; side < 2; side++) {
        cr_assert_eq(cf_cpu_backend.als_half(r, (cf_side)side, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(cf_cpu32_backend.als_half(f, (cf_side)side, &err), CF_OK, "%s", err.msg);
    }
    cf_factors a, b;
    download(&cf_cpu_backend, r, &R, K, bias, &a);
    download(&cf_cpu32_backend, f, &R, K, bias, &b);
    double med, max;
    row_diffs(&a, &b, &med, &max);
    cr_log_info("als K=%d bias=%d λ_b %g %s (%s): per-row relative difference median %.3g max %.3g", K, bias,
                cf_bias_lambda(&c), cf_reg_name(cf_bias_reg(&c)), cf_cpu32_backend.device_name(f), med, max);
    cr_assert_leq(med, 1e-5, "median %g", med);
    cr_assert_leq(max, 1e-3, "max %g", max);
    cr_assert_gt(max, 0.0, "identical to the reference: is it the fp32 path?");
    /* the objective as each evaluates it */
    cf_eval ea, eb;
    cr_assert_eq(cf_cpu_backend.evaluate(r, CF_EVAL_TRAIN, &ea, &err), CF_OK);
    cr_assert_eq(cf_cpu32_backend.evaluate(f, CF_EVAL_TRAIN, &eb, &err), CF_OK);
    cr_assert_float_eq(eb.sse + eb.reg, ea.sse + ea.reg, 1e-5 * (ea.sse + ea.reg));
    cf_factors_free(&a), cf_factors_free(&b);
    cf_cpu_backend.close(r), cf_cpu32_backend.close(f);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

static void als_against_reference(int K, int bias) { als_against_reference_cfg(cfg_of(CF_ALGO_ALS, K, bias, 2)); }

Test(cpu32, als_matches_fp64_K8_bias) { als_against_reference(8, 1); }
Test(cpu32, als_matches_fp64_K33_nobias) { als_against_reference(33, 0); }
Test(cpu32, als_matches_fp64_K64_bias) { als_against_reference(64, 1); }

/* the biases' own λ_b (plain 25 beside λ 0.05 weighted: a bias of a row with n ≈ 27
 * ratings shrunk by about n/(n + 25)), the same bounds: the fp32 path forms the bias's
 * diagonal entry (ALS) and its per-rating share λ'b (SGD) in double as the reference does,
 * so only the rounding argued above is left; the train objectives (Λb b² included) within
 * 1e-5 after the ALS sweep, 1e-4 after the 10 SGD epochs (as the RMSEs). */
Test(cpu32, als_matches_fp64_bias_lambda) {
    cf_config c = cfg_of(CF_ALGO_ALS, 8, 1, 2);
    c.bias_lambda = 25, c.bias_reg = CF_REG_PLAIN;
    als_against_reference_cfg(c);
}

static void sgd_blocks_against_reference(cf_config c) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    c.schedule = CF_SCHED_BLOCKS, c.blocks = 5;
    cf_backend *r = open_with(&cf_cpu_backend, &R, &test, &c, 5), *f = open_with(&cf_cpu32_backend, &R, &test, &c, 5);
    cf_error err;
    cr_assert_eq(cf_cpu_backend.sgd_epoch(r, 0, 0.02, &err), CF_OK);
    cr_assert_eq(cf_cpu32_backend.sgd_epoch(f, 0, 0.02, &err), CF_OK);
    cf_factors a, b;
    download(&cf_cpu_backend, r, &R, 16, 1, &a);
    download(&cf_cpu32_backend, f, &R, 16, 1, &b);
    double med, max;
    row_diffs(&a, &b, &med, &max);
    cr_log_info("sgd blocks, λ_b %g %s, 1 epoch: per-row relative difference median %.3g max %.3g",
                cf_bias_lambda(&c), cf_reg_name(cf_bias_reg(&c)), med, max);
    cr_assert_leq(med, 1e-5, "median %g", med);
    cr_assert_leq(max, 1e-3, "max %g", max);
    for (int t = 1; t < 10; t++) {
        cr_assert_eq(cf_cpu_backend.sgd_epoch(r, t, 0.02, &err), CF_OK);
        cr_assert_eq(cf_cpu32_backend.sgd_epoch(f, t, 0.02, &err), CF_OK);
    }
    double ta = test_rmse(&cf_cpu_backend, r), tb = test_rmse(&cf_cpu32_backend, f);
    cr_log_info("sgd blocks, 10 epochs: test RMSE fp64 %.8f fp32 %.8f", ta, tb);
    cr_assert_float_eq(tb, ta, 1e-4 * ta);
    cf_eval ea, eb;
    cr_assert_eq(cf_cpu_backend.evaluate(r, CF_EVAL_TRAIN, &ea, &err), CF_OK);
    cr_assert_eq(cf_cpu32_backend.evaluate(f, CF_EVAL_TRAIN, &eb, &err), CF_OK);
    cr_assert_float_eq(eb.sse + eb.reg, ea.sse + ea.reg, 1e-4 * (ea.sse + ea.reg)); /* as the RMSEs */
    cf_factors_free(&a), cf_factors_free(&b);
    cf_cpu_backend.close(r), cf_cpu32_backend.close(f);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(cpu32, sgd_blocks_matches_fp64) { sgd_blocks_against_reference(cfg_of(CF_ALGO_SGD, 16, 1, 2)); }
Test(cpu32, sgd_blocks_matches_fp64_bias_lambda) {
    cf_config c = cfg_of(CF_ALGO_SGD, 16, 1, 2);
    c.bias_lambda = 25, c.bias_reg = CF_REG_PLAIN;
    sgd_blocks_against_reference(c);
}

Test(cpu32, sgd_default_order_reaches_the_reference_rmse) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_config c = cfg_of(CF_ALGO_SGD, 8, 1, 2); /* schedule shuffle (the default) */
    cf_backend *r = open_with(&cf_cpu_backend, &R, &test, &c, 5), *f = open_with(&cf_cpu32_backend, &R, &test, &c, 5);
    cf_error err;
    for (int t = 0; t < 15; t++) {
        cr_assert_eq(cf_cpu_backend.sgd_epoch(r, t, 0.02, &err), CF_OK);
        cr_assert_eq(cf_cpu32_backend.sgd_epoch(f, t, 0.02, &err), CF_OK);
    }
    double ta = test_rmse(&cf_cpu_backend, r), tb = test_rmse(&cf_cpu32_backend, f);
    cr_log_info("sgd, 15 epochs: reference shuffle %.6f, fp32 grid of %d: %.6f", ta, cf_cpu32_sgd_grid(&R, 8), tb);
    cr_assert_float_eq(tb, ta, 1e-2 * ta);
    cf_cpu_backend.close(r), cf_cpu32_backend.close(f);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ------------------------------------------------------------------ thread counts */

static void threads_identical(cf_algo algo, cf_sgd_schedule sched) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_factors out[4];
    for (int k = 0; k < 4; k++) {
        cf_config c = cfg_of(algo, 12, 1, k < 3 ? k + 1 : 2);
        c.schedule = sched, c.blocks = 4;
        if (k == 3) c.seed = 43;
        cf_backend *b = open_with(&cf_cpu32_backend, &R, &test, &c, 7);
        cf_error err;
        for (int t = 0; t < 3; t++)
            cr_assert_eq(cf_train_step(&cf_cpu32_backend, b, &c, t, &err), CF_OK, "%s", err.msg);
        download(&cf_cpu32_backend, b, &R, 12, 1, &out[k]);
        cf_cpu32_backend.close(b);
    }
    cr_assert(same_factors(&out[0], &out[1]), "1 and 2 threads differ");
    cr_assert(same_factors(&out[0], &out[2]), "1 and 3 threads differ");
    if (algo == CF_ALGO_SGD) cr_assert(!same_factors(&out[1], &out[3]), "seeds 42 and 43 gave the same factors");
    for (int k = 0; k < 4; k++) cf_factors_free(&out[k]);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(cpu32, als_same_factors_for_1_2_3_threads) { threads_identical(CF_ALGO_ALS, CF_SCHED_SHUFFLE); }
Test(cpu32, sgd_default_same_factors_for_1_2_3_threads) { threads_identical(CF_ALGO_SGD, CF_SCHED_SHUFFLE); }
Test(cpu32, sgd_blocks_same_factors_for_1_2_3_threads) { threads_identical(CF_ALGO_SGD, CF_SCHED_BLOCKS); }

/* The grid of the default order depends on the data only. */
Test(cpu32, sgd_grid_depends_on_the_data_only) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    int32_t B = cf_cpu32_sgd_grid(&R, 8);
    cr_assert(B >= 1 && B <= 256, "%d", B);
    cr_assert_leq((double)B * B, (double)R.nnz / 64.0 + 1, "blocks of fewer than ~64 ratings: B = %d", B);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ------------------------------------------------------------------ SIMD levels */

static void level_against_reference(const char *level) {
    cf_simd want;
    cr_assert_eq(cf_simd_parse(level, &want), 0);
    setenv("CUFACTOR_SIMD", level, 1);
    if (cf_simd_best() != want) cr_skip_test("this CPU has no %s", level);
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    for (int algo = 0; algo < 2; algo++) {
        cf_config c = cfg_of(algo ? CF_ALGO_SGD : CF_ALGO_ALS, 20, 1, 2);
        c.schedule = CF_SCHED_BLOCKS, c.blocks = 3;
        cf_backend *r = open_with(&cf_cpu_backend, &R, &test, &c, 9), *f = open_with(&cf_cpu32_backend, &R, &test, &c, 9);
        cr_assert_eq(cf_cpu32_simd(f), want);
        cr_assert(strstr(cf_cpu32_backend.device_name(f), level), "%s", cf_cpu32_backend.device_name(f));
        cf_error err;
        cr_assert_eq(cf_train_step(&cf_cpu_backend, r, &c, 0, &err), CF_OK);
        cr_assert_eq(cf_train_step(&cf_cpu32_backend, f, &c, 0, &err), CF_OK);
        cf_factors a, b;
        download(&cf_cpu_backend, r, &R, 20, 1, &a);
        download(&cf_cpu32_backend, f, &R, 20, 1, &b);
        double med, max;
        row_diffs(&a, &b, &med, &max);
        cr_log_info("%s %s: median %.3g max %.3g", level, cf_algo_name(c.algo), med, max);
        cr_assert_leq(med, 1e-5, "%s %s: median %g", level, cf_algo_name(c.algo), med);
        cr_assert_leq(max, 1e-3, "%s %s: max %g", level, cf_algo_name(c.algo), max);
        cf_eval ea, eb;
        cr_assert_eq(cf_cpu_backend.evaluate(r, CF_EVAL_TEST, &ea, &err), CF_OK);
        cr_assert_eq(cf_cpu32_backend.evaluate(f, CF_EVAL_TEST, &eb, &err), CF_OK);
        cr_assert_float_eq(eb.sse, ea.sse, 1e-5 * ea.sse);
        cf_factors_free(&a), cf_factors_free(&b);
        cf_cpu_backend.close(r), cf_cpu32_backend.close(f);
    }
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(cpu32, simd_scalar_matches_fp64) { level_against_reference("scalar"); }
Test(cpu32, simd_avx2_matches_fp64) { level_against_reference("avx2"); }
Test(cpu32, simd_avx512_matches_fp64) { level_against_reference("avx512"); }

/* ------------------------------------------------------------------ long rows */

/* The reference's normal equations of one row in double (all d² entries). */
static void normal_equations(const cf_ratings *R, const cf_factors *f, const cf_config *c, int64_t u, double *A,
                             double *b) {
    const int K = f->k, d = K + f->bias;
    memset(A, 0, sizeof(double) * (size_t)d * (size_t)d), memset(b, 0, sizeof(double) * (size_t)d);
    double z[65];
    for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
        const uint32_t i = R->row_col[e];
        for (int k = 0; k < K; k++) z[k] = f->Q[(size_t)i * K + k];
        if (f->bias) z[K] = 1;
        const double t = f->bias ? (double)R->row_val[e] - f->mu - f->bi[i] : (double)R->row_val[e];
        for (int p = 0; p < d; p++) {
            b[p] += t * z[p];
            for (int q = 0; q < d; q++) A[p * d + q] += z[p] * z[q];
        }
    }
    double lam = cf_reg_lambda(c->reg, c->lambda, R->row_ptr[u + 1] - R->row_ptr[u], R->nnz);
    for (int p = 0; p < d; p++) A[p * d + p] += lam;
}

#define LR_USERS CF_TEST_LR_USERS
#define LR_ITEMS CF_TEST_LR_ITEMS
static double noisy_rating(uint32_t u, uint32_t i, cf_rng *rng, void *ctx) {
    (void)u, (void)i, (void)ctx;
    return 3.6 + 0.8 * cf_rng_normal(rng);
}
Test(cpu32, long_rows_agree_with_fp64) {
    cf_rng rng;
    cf_rng_seed(&rng, 4242);
    cf_triplets t;
    cf_test_long_rows(&rng, noisy_rating, NULL, &t);
    cf_ratings R;
    cf_error err;
    cr_assert_eq(cf_ratings_build(&t, LR_USERS, LR_ITEMS, &R, &err), CF_OK, "%s", err.msg);
    cf_triplets_free(&t);
    cf_config c = cfg_of(CF_ALGO_ALS, 8, 1, 2);
    const int d = 9;
    cf_factors init;
    cr_assert_eq(cf_factors_alloc(&init, LR_USERS, LR_ITEMS, 8, 1, &err), CF_OK);
    /* factors of unit variance (so that the bias column's exact Σ1 = n does not dominate
     * ‖A‖ and hide the error of the other sums), random item biases */
    for (int64_t x = 0; x < (int64_t)LR_ITEMS * 8; x++) init.Q[x] = cf_rng_normal(&rng);
    for (int64_t x = 0; x < (int64_t)LR_USERS * 8; x++) init.P[x] = cf_rng_normal(&rng);
    for (int64_t x = 0; x < LR_ITEMS; x++) init.bi[x] = 0.4 * cf_rng_normal(&rng);
    init.mu = R.mean;
    cf_backend *b = NULL;
    cr_assert_eq(cf_cpu32_backend.open(&R, NULL, &c, &init, &b, &err), CF_OK, "%s", err.msg);
    double A[81], rhs[9], A32[81], b32[9], relA[LR_USERS], relb[LR_USERS], worst_plain = 0;
    for (int u = 0; u < LR_USERS; u++) {
        normal_equations(&R, &init, &c, u, A, rhs);
        cr_assert_eq(cf_cpu32_normal_equations(b, CF_SIDE_USERS, u, A32, b32, &err), CF_OK, "%s", err.msg);
        double ea = 0, na = 0, eb = 0, nb = 0;
        for (int x = 0; x < d * d; x++) ea += (A32[x] - A[x]) * (A32[x] - A[x]), na += A[x] * A[x];
        for (int p = 0; p < d; p++) eb += (b32[p] - rhs[p]) * (b32[p] - rhs[p]), nb += rhs[p] * rhs[p];
        relA[u] = sqrt(ea / na), relb[u] = sqrt(eb / nb);
        if (u == 0) { /* for comparison: a plain fp32 running sum of this row's Gram */
            double pe = 0;
            for (int p = 0; p < 8; p++)
                for (int q = 0; q < 8; q++) {
                    float s = 0.0f;
                    for (int64_t e = R.row_ptr[0]; e < R.row_ptr[1]; e++) {
                        const int64_t i = R.row_col[e];
                        s = fmaf((float)init.Q[i * 8 + p], (float)init.Q[i * 8 + q], s);
                    }
                    double ex = A[p * d + q] - (p == q ? cf_reg_lambda(c.reg, c.lambda, cf_test_lr_len[0], R.nnz) : 0.0);
                    pe += ((double)s - ex) * ((double)s - ex);
                }
            worst_plain = sqrt(pe / na);
        }
    }
    double sa[LR_USERS], sb[LR_USERS];
    memcpy(sa, relA, sizeof sa), memcpy(sb, relb, sizeof sb);
    qsort(sa, LR_USERS, sizeof *sa, cmp_double), qsort(sb, LR_USERS, sizeof *sb, cmp_double);
    cr_log_info("long rows (%s): Gram relative median %.3g max %.3g (user 0, 500 000 ratings: %.3g; a plain fp32 sum "
                "there: %.3g); RHS median %.3g max %.3g",
                cf_cpu32_backend.device_name(b), sa[LR_USERS / 2], sa[LR_USERS - 1], relA[0], worst_plain,
                sb[LR_USERS / 2], sb[LR_USERS - 1]);
    cr_expect_gt(worst_plain, 1e-5, "a plain fp32 sum is within the bound (%g): the test no longer tells", worst_plain);
    cr_expect_leq(sa[LR_USERS / 2], 1e-6);
    cr_expect_leq(sa[LR_USERS - 1], 1e-5);
    cr_expect_leq(sb[LR_USERS / 2], 1e-6);
    cr_expect_leq(sb[LR_USERS - 1], 1e-5);

    /* the solve: one user half-step, the residual in the double system */
    cr_assert_eq(cf_cpu32_backend.als_half(b, CF_SIDE_USERS, &err), CF_OK, "%s", err.msg);
    cf_factors g;
    download(&cf_cpu32_backend, b, &R, 8, 1, &g);
    double worst = 0;
    for (int u = 0; u < LR_USERS; u++) {
        normal_equations(&R, &init, &c, u, A, rhs);
        double x[9], rn = 0, an = 0, xn = 0;
        for (int k = 0; k < 8; k++) x[k] = g.P[u * 8 + k];
        x[8] = g.bu[u];
        for (int p = 0; p < d; p++) {
            double r = rhs[p];
            for (int q = 0; q < d; q++) r -= A[p * d + q] * x[q], an += A[p * d + q] * A[p * d + q];
            rn += r * r, xn += x[p] * x[p];
        }
        double res = sqrt(rn) / (sqrt(an) * sqrt(xn));
        if (res > worst) worst = res;
    }
    cr_log_info("long rows: worst solve residual %.3g", worst);
    cr_expect_leq(worst, 1e-5, "residual %g", worst);
    cf_factors_free(&g), cf_factors_free(&init);
    cf_cpu32_backend.close(b);
    cf_ratings_free(&R);
}

/* ------------------------------------------------------------------ the option */

static cf_dataset *small_set(void) {
    cf_dataset *ds = cf_test_generate(120, 80, 3000, 3, 0.3, 3, 0);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.1, 3, &err), CF_OK);
    return ds;
}

Test(cpu32, precision_picks_the_cpu_backend) {
    cf_config c;
    cf_config_default(&c);
    c.device = CF_DEVICE_CPU;
    static const cf_algo fp32_algos[] = {CF_ALGO_ALS, CF_ALGO_SGD};
    static const cf_algo fp64_algos[] = {CF_ALGO_GD, CF_ALGO_MINIBATCH, CF_ALGO_ALSGD, CF_ALGO_CCD};
    for (int k = 0; k < 2; k++) {
        c.algo = fp32_algos[k], c.precision = CF_PRECISION_FP32;
        cr_assert_eq(cf_cpu_backend_for(&c), &cf_cpu32_backend, "%s", cf_algo_name(c.algo));
        c.precision = CF_PRECISION_FP64;
        cr_assert_eq(cf_cpu_backend_for(&c), &cf_cpu_backend, "%s", cf_algo_name(c.algo));
    }
    for (int k = 0; k < 4; k++) {
        c.algo = fp64_algos[k], c.precision = CF_PRECISION_FP32;
        cr_assert_eq(cf_cpu_backend_for(&c), &cf_cpu_backend, "%s", cf_algo_name(c.algo));
    }
    cr_assert(cf_backend_is_cpu(&cf_cpu_backend) && cf_backend_is_cpu(&cf_cpu32_backend));
    cr_assert_str_eq(cf_cpu32_backend.name, "cpu-fp32");
    cr_assert_str_eq(cf_precision_name(CF_PRECISION_FP64), "fp64");

    /* through the trainer: the device names, and a notice where fp32 falls to fp64 */
    cf_dataset *ds = small_set();
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    c.factors = 4, c.iters = 2, c.threads = 2;
    c.algo = CF_ALGO_ALS, c.precision = CF_PRECISION_FP32;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert(strncmp(rep.device, "cpu fp32 ", 9) == 0, "%s", rep.device);
    cr_assert_str_eq(rep.notice, "");
    cf_model_destroy(&m);
    c.precision = CF_PRECISION_FP64;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert(strncmp(rep.device, "cpu (", 5) == 0, "%s", rep.device);
    cr_assert_str_eq(rep.notice, "");
    cf_model_destroy(&m);
    c.algo = CF_ALGO_CCD, c.precision = CF_PRECISION_FP32;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert(strncmp(rep.device, "cpu (", 5) == 0, "%s", rep.device);
    cr_assert(strstr(rep.notice, "--algo ccd trains on the fp64 reference"), "%s", rep.notice);
    cf_model_destroy(&m);
    /* auto without a GPU: the fp32 path, with the no-GPU notice */
    cf_gpu_seam none = {NULL, 0, "no GPU here"};
    c.algo = CF_ALGO_SGD, c.device = CF_DEVICE_AUTO;
    cr_assert_eq(cf_train_with(&none, ds, &c, NULL, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert(strncmp(rep.device, "cpu fp32 ", 9) == 0, "%s", rep.device);
    cr_assert(strstr(rep.notice, "no usable GPU (no GPU here): using the CPU"), "%s", rep.notice);
    cf_model_destroy(&m);
    /* auto with fp64 and alsgd: the reference, one notice, no fp32 remark */
    c.algo = CF_ALGO_ALSGD, c.precision = CF_PRECISION_FP64;
    cr_assert_eq(cf_train_with(&none, ds, &c, NULL, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_null(strstr(rep.notice, "fp32"), "%s", rep.notice);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

Test(cpu32, precision_errors) {
    cf_config c;
    cf_config_default(&c);
    cf_error err;
    c.precision = CF_PRECISION_FP64, c.device = CF_DEVICE_GPU;
    cr_assert_eq(cf_config_validate(&c, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "fp64") && strstr(err.msg, "--device cpu"), "%s", err.msg);
    c.device = CF_DEVICE_AUTO;
    cr_assert_eq(cf_config_validate(&c, &err), CF_OK, "%s", err.msg);
    c.device = CF_DEVICE_CPU;
    cr_assert_eq(cf_config_validate(&c, &err), CF_OK, "%s", err.msg);
    c.precision = (cf_precision)3;
    cr_assert_eq(cf_config_validate(&c, &err), CF_ERR_INVALID);
    /* verify: fp64 is the reference, not a GPU candidate */
    cf_dataset *ds = small_set();
    cf_config v;
    cf_config_default(&v);
    v.precision = CF_PRECISION_FP64, v.factors = 3, v.iters = 1;
    cf_verify_options o;
    cf_verify_options_default(&o);
    cr_assert_neq(cf_verify(ds, &v, &o, NULL, NULL, NULL, &err), CF_OK);
    cf_dataset_destroy(&ds);
}

/* A checkpoint written by one CPU path resumes only on that path; each path resumes
 * bit-identically (test_checkpoint.c runs every algorithm through the default path, fp32
 * for ALS and SGD; here both precisions for both). */
static void resume_case(cf_algo algo, cf_precision p) {
    cf_dataset *ds = small_set();
    cf_config c;
    cf_config_default(&c);
    c.algo = algo, c.precision = p, c.device = CF_DEVICE_CPU, c.threads = 2, c.factors = 6, c.iters = 6;
    c.lr_schedule = CF_LR_INVSCALE;
    cf_error err;
    cf_model *a = NULL, *b = NULL;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &a, NULL, &err), CF_OK, "%s", err.msg);
    char *path = cf_test_path(dir, "run.cfc");
    cf_train_options opt;
    cf_train_options_default(&opt);
    opt.checkpoint = path, opt.checkpoint_every = 3;
    cf_config c3 = c;
    c3.iters = 4; /* a checkpoint after iteration 3 */
    cr_assert_eq(cf_train_ex(ds, &c3, &opt, NULL, NULL, &b, NULL, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&b);
    cf_checkpoint_info ck;
    cr_assert_eq(cf_checkpoint_info_get(path, &ck, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ck.iter, 3);
    cr_assert_str_eq(ck.backend, p == CF_PRECISION_FP64 ? "cpu" : "cpu-fp32");
    cf_train_options ropt;
    cf_train_options_default(&ropt);
    ropt.resume = path;
    cf_config c1 = c;
    c1.threads = 1;
    cr_assert_eq(cf_train_ex(ds, &c1, &ropt, NULL, NULL, &b, NULL, &err), CF_OK, "%s", err.msg);
    size_t np = (size_t)(a->f.n_users * a->f.k), nq = (size_t)(a->f.n_items * a->f.k);
    cr_assert(memcmp(a->f.P, b->f.P, np * sizeof(double)) == 0, "P differs");
    cr_assert(memcmp(a->f.Q, b->f.Q, nq * sizeof(double)) == 0, "Q differs");
    cr_assert(memcmp(a->f.bu, b->f.bu, (size_t)a->f.n_users * sizeof(double)) == 0, "b_u differs");
    cf_model_destroy(&b);
    /* the other path refuses it, naming the precision to use */
    c1.precision = p == CF_PRECISION_FP64 ? CF_PRECISION_FP32 : CF_PRECISION_FP64;
    cr_assert_eq(cf_train_ex(ds, &c1, &ropt, NULL, NULL, &b, NULL, &err), CF_ERR_INVALID);
    cr_assert_null(b);
    cr_assert(strstr(err.msg, p == CF_PRECISION_FP64 ? "resume with --precision fp64" : "resume with --precision fp32"),
              "%s", err.msg);
    cf_model_destroy(&a);
    free(path);
    cf_dataset_destroy(&ds);
}

Test(cpu32, als_fp32_resume_bit_identical_and_fp64_refused) { resume_case(CF_ALGO_ALS, CF_PRECISION_FP32); }
Test(cpu32, sgd_fp32_resume_bit_identical_and_fp64_refused) { resume_case(CF_ALGO_SGD, CF_PRECISION_FP32); }
Test(cpu32, als_fp64_resume_bit_identical_and_fp32_refused) { resume_case(CF_ALGO_ALS, CF_PRECISION_FP64); }
Test(cpu32, sgd_fp64_resume_bit_identical_and_fp32_refused) { resume_case(CF_ALGO_SGD, CF_PRECISION_FP64); }
