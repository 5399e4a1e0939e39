/* test_solvers.c — the CPU gradient and coordinate solvers (SGD, GD, mini-batch, Adam,
 * ALS+GD, CCD): recovery of a planted model with a decreasing objective, a hand-computed
 * SGD update, the GD gradient against finite differences, ALS+GD against the exact block
 * solve (LAPACK), one CCD sweep against brute-force coordinate minimization, thread-count
 * invariance, and the non-finite guard; each of the exact checks also with the biases'
 * own λ_b, and per solver: the default bit for bit an explicit λ_b = λ, and a large λ_b
 * shrinking every bias. The expectations are computed here from the formulas of
 * DESIGN.md §1–2, independently of the solvers. */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "common.h"
#include "cpu/cpu.h"
#include "cpu/solvers.h"
#include "helpers.h"
#include "schedule.h"

static cf_config cfg_with(cf_algo algo, int K, double lambda, cf_reg reg, int bias, int threads) {
    cf_config c;
    cf_config_default(&c);
    c.algo = algo, c.factors = K, c.lambda = lambda, c.reg = reg, c.bias = bias, c.threads = threads;
    /* these tests are about the solvers at a given step: pin what cf_train would choose */
    c.iters = 15, c.lr = 0.01, c.batch = 10000, c.optimizer = CF_OPT_PLAIN;
    return c;
}

static cf_backend *open_with(const cf_ratings *R, const cf_triplets *test, const cf_config *c,
                             const cf_factors *init) {
    cf_backend *b = NULL;
    cf_error err;
    cr_assert_eq(cf_cpu_backend.open(R, test, c, init, &b, &err), CF_OK, "%s", err.msg);
    return b;
}

static cf_backend *open_cpu(const cf_ratings *R, const cf_triplets *test, const cf_config *c,
                            uint64_t seed) {
    cf_factors init;
    cr_assert_eq(cf_factors_alloc(&init, R->n_users, R->n_items, c->factors, c->bias, NULL), CF_OK);
    cf_factors_init_random(&init, c->init_scale, seed);
    init.mu = c->bias ? R->mean : 0.0;
    cf_backend *b = open_with(R, test, c, &init);
    cf_factors_free(&init);
    return b;
}

/* L of DESIGN.md §1 written out from its definition. */
static double objective_direct(const cf_ratings *R, const cf_factors *f, const cf_config *c) {
    double L = 0;
    for (int64_t u = 0; u < R->n_users; u++)
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
            double d = R->row_val[e] - cf_predict(f, (uint32_t)u, R->row_col[e]);
            L += d * d;
        }
    /* Λ ‖x‖² + Λb b², Λb the biases' own (bias_reg, bias_lambda; Λ where "same") */
    for (int64_t u = 0; u < R->n_users; u++) {
        int64_t n = R->row_ptr[u + 1] - R->row_ptr[u];
        double lam = cf_reg_lambda(c->reg, c->lambda, n, R->nnz), lamb = cf_bias_reg_lambda(c, n, R->nnz);
        double s = 0;
        for (int k = 0; k < f->k; k++) s += f->P[u * f->k + k] * f->P[u * f->k + k];
        L += lam * s + lamb * f->bu[u] * f->bu[u];
    }
    for (int64_t i = 0; i < R->n_items; i++) {
        int64_t n = R->col_ptr[i + 1] - R->col_ptr[i];
        double lam = cf_reg_lambda(c->reg, c->lambda, n, R->nnz), lamb = cf_bias_reg_lambda(c, n, R->nnz);
        double s = 0;
        for (int k = 0; k < f->k; k++) s += f->Q[i * f->k + k] * f->Q[i * f->k + k];
        L += lam * s + lamb * f->bi[i] * f->bi[i];
    }
    return L;
}

static double test_rmse(const cf_triplets *t, const cf_factors *f) {
    double s = 0;
    for (int64_t e = 0; e < t->n; e++) {
        double d = t->r[e] - cf_predict(f, t->u[e], t->i[e]);
        s += d * d;
    }
    return sqrt(s / (double)t->n);
}

/* One iteration of c->algo through the solver entry points. */
static cf_status iterate(cf_backend *b, int32_t it, double lr, cf_error *err) {
    cf_status st;
    switch (b->cfg.algo) {
    case CF_ALGO_SGD: return cf_cpu_sgd_epoch(b, it, lr, err);
    case CF_ALGO_GD:
    case CF_ALGO_MINIBATCH: return cf_cpu_gd_epoch(b, it, lr, err);
    case CF_ALGO_ALSGD:
        if ((st = cf_cpu_alsgd_half(b, CF_SIDE_USERS, lr, err))) return st;
        return cf_cpu_alsgd_half(b, CF_SIDE_ITEMS, lr, err);
    case CF_ALGO_CCD: return cf_cpu_ccd_sweep(b, err);
    default: return cf_cpu_als_half(b, CF_SIDE_USERS, err);
    }
}

static int same_factors(const cf_factors *a, const cf_factors *b) {
    size_t np = (size_t)a->n_users * (size_t)a->k, nq = (size_t)a->n_items * (size_t)a->k;
    return !memcmp(a->P, b->P, np * sizeof(double)) && !memcmp(a->Q, b->Q, nq * sizeof(double)) &&
           !memcmp(a->bu, b->bu, (size_t)a->n_users * sizeof(double)) &&
           !memcmp(a->bi, b->bi, (size_t)a->n_items * sizeof(double));
}

/* ------------------------------------------------------------------ recovery */

/* 300 × 200, rank 4, ~30% observed, unclipped, σ = 0.1, 10% held out. */
static const cf_test_planted planted = {.n_users = 300, .n_items = 200, .rank = 4, .density = 0.3,
                                        .sigma = 0.1, .mu = 3.5, .test_ratio = 0.1, .bias = 1,
                                        .seed = 11};

/* Runs `iters` iterations from a small random start; asserts that L goes down (at every
 * iteration when `monotone`, else from start to end and over the last quarter on
 * average) and that the held-out RMSE reaches 1.2 σ. */
static void check_recovery(cf_config c, int32_t iters, double lr, int monotone) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&planted, &R, &test);
    cf_backend *b = open_cpu(&R, &test, &c, 5);
    cf_error err;
    double L0 = objective_direct(&R, &b->f, &c), prev = L0, at_3q = NAN;
    for (int32_t it = 0; it < iters; it++) {
        cr_assert_eq(iterate(b, it, lr, &err), CF_OK, "%s", err.msg);
        double L = objective_direct(&R, &b->f, &c);
        if (monotone) cr_assert_leq(L, prev * (1 + 1e-12), "%s: L rose from %.10g to %.10g at iteration %d",
                                    cf_algo_name(c.algo), prev, L, it + 1);
        if (it == 3 * iters / 4) at_3q = L;
        prev = L;
    }
    double rmse = test_rmse(&test, &b->f);
    cr_assert_lt(prev, 0.05 * L0, "%s: L went from %g only to %g", cf_algo_name(c.algo), L0, prev);
    cr_assert_leq(prev, at_3q, "%s: L rose over the last quarter (%g -> %g)", cf_algo_name(c.algo),
                  at_3q, prev);
    cr_assert_leq(rmse, 1.2 * planted.sigma, "%s: held-out RMSE %g > 1.2 σ = %g", cf_algo_name(c.algo),
                  rmse, 1.2 * planted.sigma);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(recovery, sgd_shuffle) {
    check_recovery(cfg_with(CF_ALGO_SGD, 4, 0.005, CF_REG_WEIGHTED, 1, 1), 60, 0.01, 0);
}
Test(recovery, sgd_blocks) {
    cf_config c = cfg_with(CF_ALGO_SGD, 4, 0.005, CF_REG_WEIGHTED, 1, 2);
    c.schedule = CF_SCHED_BLOCKS, c.blocks = 4;
    check_recovery(c, 60, 0.01, 0);
}
Test(recovery, gd_full_batch) {
    check_recovery(cfg_with(CF_ALGO_GD, 4, 0.005, CF_REG_WEIGHTED, 1, 2), 300, 0.003, 0);
}
Test(recovery, gd_adam) {
    cf_config c = cfg_with(CF_ALGO_GD, 4, 0.005, CF_REG_WEIGHTED, 1, 2);
    c.optimizer = CF_OPT_ADAM;
    check_recovery(c, 300, 0.03, 0);
}
Test(recovery, minibatch) {
    cf_config c = cfg_with(CF_ALGO_MINIBATCH, 4, 0.005, CF_REG_WEIGHTED, 1, 2);
    c.batch = 1000;
    check_recovery(c, 80, 0.005, 0);
}
Test(recovery, minibatch_adam) {
    cf_config c = cfg_with(CF_ALGO_MINIBATCH, 4, 0.005, CF_REG_WEIGHTED, 1, 2);
    c.batch = 1000, c.optimizer = CF_OPT_ADAM;
    check_recovery(c, 60, 0.005, 0);
}
Test(recovery, alsgd_never_increases_L) {
    cf_config c = cfg_with(CF_ALGO_ALSGD, 4, 0.005, CF_REG_WEIGHTED, 1, 2);
    c.inner = 5;
    check_recovery(c, 30, 0.01, 1);
}
Test(recovery, ccd_never_increases_L) {
    check_recovery(cfg_with(CF_ALGO_CCD, 4, 0.005, CF_REG_WEIGHTED, 1, 2), 30, 0, 1);
}
Test(recovery, ccd_no_bias_plain) {
    cf_test_planted p = planted;
    p.bias = 0;
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&p, &R, &test);
    cf_config c = cfg_with(CF_ALGO_CCD, 4, 0.3, CF_REG_PLAIN, 0, 2);
    cf_backend *b = open_cpu(&R, &test, &c, 5);
    cf_error err;
    double prev = objective_direct(&R, &b->f, &c);
    for (int it = 0; it < 30; it++) {
        cr_assert_eq(cf_cpu_ccd_sweep(b, &err), CF_OK, "%s", err.msg);
        double L = objective_direct(&R, &b->f, &c);
        cr_assert_leq(L, prev * (1 + 1e-12));
        prev = L;
    }
    for (int64_t u = 0; u < R.n_users; u++) cr_assert_eq(b->f.bu[u], 0.0);
    cr_assert_leq(test_rmse(&test, &b->f), 1.2 * p.sigma);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ------------------------------------------------------------------ SGD by hand */

/* A 2 × 2 matrix with one missing entry: user 0 rated items 0 and 1, user 1 item 0. */
static void tiny_ratings(cf_ratings *R) {
    uint32_t us[] = {0, 0, 1}, is[] = {0, 1, 0};
    float rs[] = {4.0f, 2.5f, 1.0f};
    cf_triplets t = {.n = 3, .cap = 3, .u = us, .i = is, .r = rs};
    cr_assert_eq(cf_ratings_build(&t, 2, 2, R, NULL), CF_OK);
}

static void tiny_factors(cf_factors *f, int bias, double mu) {
    cr_assert_eq(cf_factors_alloc(f, 2, 2, 2, bias, NULL), CF_OK);
    const double P[] = {0.3, -0.2, 0.5, 0.1}, Q[] = {0.4, 0.7, -0.6, 0.2};
    memcpy(f->P, P, sizeof P), memcpy(f->Q, Q, sizeof Q);
    f->mu = mu;
    if (bias) f->bu[0] = 0.1, f->bu[1] = -0.3, f->bi[0] = 0.2, f->bi[1] = 0.05;
}

/* The SGD rule of DESIGN.md §2 with per-rating λ' = Λ_row / n_row (the biases' λ'b =
 * Λb_row / n_row), written for K = 2. */
static void hand_sgd(double *pu, double *qi, double *bu, double *bi, double mu, int bias, double r,
                     double eta, double lu, double li, double lbu, double lbi) {
    double pred = pu[0] * qi[0] + pu[1] * qi[1] + (bias ? mu + *bu + *bi : 0.0);
    double e = r - pred;
    double p0 = pu[0], p1 = pu[1];
    if (bias) {
        *bu = *bu + eta * (e - lbu * *bu);
        *bi = *bi + eta * (e - lbi * *bi);
    }
    pu[0] = p0 + eta * (e * qi[0] - lu * p0);
    pu[1] = p1 + eta * (e * qi[1] - lu * p1);
    qi[0] = qi[0] + eta * (e * p0 - li * qi[0]);
    qi[1] = qi[1] + eta * (e * p1 - li * qi[1]);
}

/* Λ of a row with n ratings out of |Ω| = 3, written out per mode. */
static double hand_lambda(cf_reg reg, double lambda, double n) {
    return reg == CF_REG_PLAIN ? lambda : reg == CF_REG_WEIGHTED ? lambda * n : lambda * 3;
}

/* bias_lambda NaN and bias_reg CF_REG_SAME: the biases' λ and mode are the factors'. */
static void check_sgd_by_hand(cf_reg reg, double lambda, int bias, double bias_lambda, cf_reg bias_reg) {
    cf_ratings R;
    tiny_ratings(&R);
    cf_factors init;
    tiny_factors(&init, bias, bias ? 2.5 : 0.0);
    cf_config c = cfg_with(CF_ALGO_SGD, 2, lambda, reg, bias, 1);
    c.bias_lambda = bias_lambda, c.bias_reg = bias_reg;
    const double lb = isnan(bias_lambda) ? lambda : bias_lambda;
    const cf_reg rb = bias_reg == CF_REG_SAME ? reg : bias_reg;
    cf_backend *b = open_with(&R, NULL, &c, &init);
    const double eta = 0.07;
    cf_error err;
    cr_assert_eq(cf_cpu_sgd_epoch(b, 0, eta, &err), CF_OK, "%s", err.msg);

    /* expectation: the three ratings in the epoch-0 order of schedule.h */
    int64_t order[3];
    cf_sched_permutation(order, 3, cf_sched_seed(c.seed, CF_STREAM_SHUFFLE, 0));
    /* CSR entries: 0 → (0,0,4), 1 → (0,1,2.5), 2 → (1,0,1); counts n_u = {2,1}, n_i = {2,1} */
    const uint32_t eu[] = {0, 0, 1}, ei[] = {0, 1, 0};
    const double er[] = {4.0, 2.5, 1.0}, nu[] = {2, 1}, ni[] = {2, 1};
    double P[4], Q[4], bu[2], bi[2];
    memcpy(P, init.P, sizeof P), memcpy(Q, init.Q, sizeof Q);
    memcpy(bu, init.bu, sizeof bu), memcpy(bi, init.bi, sizeof bi);
    for (int t = 0; t < 3; t++) {
        int64_t e = order[t];
        uint32_t u = eu[e], i = ei[e];
        double Lu = hand_lambda(reg, lambda, nu[u]), Li = hand_lambda(reg, lambda, ni[i]);
        double Lbu = hand_lambda(rb, lb, nu[u]), Lbi = hand_lambda(rb, lb, ni[i]);
        hand_sgd(P + 2 * u, Q + 2 * i, bu + u, bi + i, init.mu, bias, er[e], eta, Lu / nu[u], Li / ni[i],
                 Lbu / nu[u], Lbi / ni[i]);
    }
    for (int k = 0; k < 4; k++) {
        cr_assert_float_eq(b->f.P[k], P[k], 1e-12, "P[%d]: %.17g vs %.17g", k, b->f.P[k], P[k]);
        cr_assert_float_eq(b->f.Q[k], Q[k], 1e-12, "Q[%d]: %.17g vs %.17g", k, b->f.Q[k], Q[k]);
    }
    for (int k = 0; k < 2; k++) {
        cr_assert_float_eq(b->f.bu[k], bu[k], 1e-12);
        cr_assert_float_eq(b->f.bi[k], bi[k], 1e-12);
    }
    /* and the step moved every parameter the ratings touch */
    cr_assert(fabs(b->f.P[0] - init.P[0]) > 1e-3 && fabs(b->f.Q[2] - init.Q[2]) > 1e-3);
    cf_cpu_backend.close(b);
    cf_factors_free(&init);
    cf_ratings_free(&R);
}

Test(sgd, update_matches_hand_computation_plain_bias) { check_sgd_by_hand(CF_REG_PLAIN, 0.3, 1, NAN, CF_REG_SAME); }
Test(sgd, update_matches_hand_computation_weighted_bias) {
    check_sgd_by_hand(CF_REG_WEIGHTED, 0.2, 1, NAN, CF_REG_SAME);
}
Test(sgd, update_matches_hand_computation_mean_nobias) { check_sgd_by_hand(CF_REG_MEAN, 0.1, 0, NAN, CF_REG_SAME); }
/* the biases' own λ_b and mode: b moves by η(e − λ'b b), the factors still by λ' */
Test(sgd, update_matches_hand_computation_bias_lambda) {
    check_sgd_by_hand(CF_REG_WEIGHTED, 0.2, 1, 3.0, CF_REG_PLAIN);
}

/* On the CPU, hogwild is the shuffle order (sgd.c): the same factors, bit for bit. */
Test(sgd, hogwild_on_cpu_is_the_shuffle_order) {
    cf_ratings R;
    tiny_ratings(&R);
    cf_factors out[2];
    for (int k = 0; k < 2; k++) {
        cf_config c = cfg_with(CF_ALGO_SGD, 2, 0.1, CF_REG_PLAIN, 1, 1);
        c.schedule = k ? CF_SCHED_HOGWILD : CF_SCHED_SHUFFLE;
        cf_backend *b = open_cpu(&R, NULL, &c, 1);
        cf_error err;
        for (int e = 0; e < 3; e++) cr_assert_eq(cf_cpu_sgd_epoch(b, e, 0.05, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(cf_factors_alloc(&out[k], R.n_users, R.n_items, 2, 1, &err), CF_OK);
        cr_assert_eq(cf_cpu_backend.download(b, &out[k], &err), CF_OK);
        cf_cpu_backend.close(b);
    }
    size_t np = (size_t)R.n_users * 2, nq = (size_t)R.n_items * 2;
    cr_assert_eq(memcmp(out[0].P, out[1].P, np * sizeof(double)), 0);
    cr_assert_eq(memcmp(out[0].Q, out[1].Q, nq * sizeof(double)), 0);
    cr_assert_eq(memcmp(out[0].bu, out[1].bu, (size_t)R.n_users * sizeof(double)), 0);
    cr_assert_eq(memcmp(out[0].bi, out[1].bi, (size_t)R.n_items * sizeof(double)), 0);
    /* and the epochs did move the factors */
    cf_factors init;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&init, R.n_users, R.n_items, 2, 1, &err), CF_OK);
    cf_factors_init_random(&init, 0.1, 1);
    cr_assert(memcmp(init.P, out[0].P, np * sizeof(double)) != 0);
    cf_factors_free(&init), cf_factors_free(&out[0]), cf_factors_free(&out[1]);
    cf_ratings_free(&R);
}

Test(sgd, fp16_is_refused_on_the_cpu) {
    cf_ratings R;
    tiny_ratings(&R);
    cf_config c = cfg_with(CF_ALGO_SGD, 2, 0.1, CF_REG_PLAIN, 1, 1);
    c.precision = CF_PRECISION_FP16;
    cf_error err;
    cr_assert_eq(cf_config_validate(&c, &err), CF_OK, "fp16 SGD with device auto is a valid config");
    cf_factors init;
    cr_assert_eq(cf_factors_alloc(&init, R.n_users, R.n_items, 2, 1, &err), CF_OK);
    cf_backend *b = NULL;
    cr_assert_eq(cf_cpu_backend.open(&R, NULL, &c, &init, &b, &err), CF_ERR_UNSUPPORTED);
    cr_assert_null(b);
    cr_assert(strstr(err.msg, "fp16") && strstr(err.msg, "GPU"), "%s", err.msg);
    c.device = CF_DEVICE_CPU;
    cr_assert_eq(cf_config_validate(&c, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "precision"), "%s", err.msg);
    c.device = CF_DEVICE_AUTO;
    c.algo = CF_ALGO_GD;
    cr_assert_eq(cf_config_validate(&c, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "precision") && strstr(err.msg, "gd"), "%s", err.msg);
    c.algo = CF_ALGO_SGD;
    c.precision = (cf_precision)7;
    cr_assert_eq(cf_config_validate(&c, &err), CF_ERR_INVALID);
    cf_precision p;
    cr_assert_eq(cf_precision_parse("fp16", &p), 0);
    cr_assert_eq(p, CF_PRECISION_FP16);
    cr_assert_str_eq(cf_precision_name(CF_PRECISION_FP32), "fp32");
    cr_assert_eq(cf_precision_parse("fp64", &p), 0);
    cr_assert_eq(p, CF_PRECISION_FP64);
    cr_assert_eq(cf_precision_parse("fp8", &p), -1);
    /* the fp32 CPU path refuses fp16 too */
    c.precision = CF_PRECISION_FP16;
    cr_assert_eq(cf_cpu32_backend.open(&R, NULL, &c, &init, &b, &err), CF_ERR_UNSUPPORTED);
    cr_assert_null(b);
    cr_assert(strstr(err.msg, "fp16") && strstr(err.msg, "GPU"), "%s", err.msg);
    cf_factors_free(&init);
    cf_ratings_free(&R);
}

/* ------------------------------------------------------------------ GD gradient */

/* A 20 × 15 problem with user 19 and item 14 left empty, non-zero biases everywhere. */
static void gradient_problem(cf_ratings *R, cf_factors *f, int K, int bias) {
    cf_rng rng;
    cf_rng_seed(&rng, 99);
    cf_triplets t = {0};
    t.u = malloc(300 * sizeof *t.u), t.i = malloc(300 * sizeof *t.i), t.r = malloc(300 * sizeof *t.r);
    for (uint32_t u = 0; u < 19; u++)
        for (uint32_t i = 0; i < 14; i++)
            if (cf_rng_uniform(&rng) < 0.4 || u == i) {
                t.u[t.n] = u, t.i[t.n] = i, t.r[t.n] = (float)(1 + 4 * cf_rng_uniform(&rng));
                t.n++;
            }
    t.cap = t.n;
    cr_assert_eq(cf_ratings_build(&t, 20, 15, R, NULL), CF_OK);
    cf_triplets_free(&t);
    cr_assert_eq(cf_factors_alloc(f, 20, 15, K, bias, NULL), CF_OK);
    cf_factors_init_random(f, 1.0, 5);
    f->mu = bias ? R->mean : 0.0;
    for (int u = 0; bias && u < 20; u++) f->bu[u] = 0.5 * cf_rng_normal(&rng);
    for (int i = 0; bias && i < 15; i++) f->bi[i] = 0.5 * cf_rng_normal(&rng);
}

static void check_gradient(cf_reg reg, double lambda, int bias, double bias_lambda, cf_reg bias_reg) {
    const int K = 3;
    cf_ratings R;
    cf_factors f;
    gradient_problem(&R, &f, K, bias);
    cf_config c = cfg_with(CF_ALGO_GD, K, lambda, reg, bias, 2);
    c.bias_lambda = bias_lambda, c.bias_reg = bias_reg;
    cf_backend *b = open_with(&R, NULL, &c, &f);
    cf_factors g;
    cr_assert_eq(cf_factors_alloc(&g, 20, 15, K, bias, NULL), CF_OK);
    cf_error err;
    cr_assert_eq(cf_cpu_gd_gradient(b, &g, &err), CF_OK, "%s", err.msg);

    /* central differences of L over every parameter */
    double *params[] = {f.P, f.Q, f.bu, f.bi}, *grads[] = {g.P, g.Q, g.bu, g.bi};
    const char *names[] = {"P", "Q", "b_u", "b_i"};
    int64_t sizes[] = {20 * K, 15 * K, bias ? 20 : 0, bias ? 15 : 0};
    double gmax = 0;
    for (int a = 0; a < 2; a++)
        for (int64_t j = 0; j < sizes[a]; j++) gmax = fmax(gmax, fabs(grads[a][j]));
    const double h = 1e-5;
    for (int a = 0; a < 4; a++)
        for (int64_t j = 0; j < sizes[a]; j++) {
            double keep = params[a][j];
            params[a][j] = keep + h;
            double Lp = objective_direct(&R, &f, &c);
            params[a][j] = keep - h;
            double Lm = objective_direct(&R, &f, &c);
            params[a][j] = keep;
            double fd = (Lp - Lm) / (2 * h), an = grads[a][j];
            cr_assert_leq(fabs(an - fd), 1e-6 * fmax(fabs(fd), 1e-2 * gmax),
                          "∇%s[%lld]: analytic %.12g, finite difference %.12g", names[a], (long long)j, an, fd);
        }
    /* without biases their gradient is zero */
    for (int u = 0; !bias && u < 20; u++) cr_assert_eq(g.bu[u], 0.0);
    cf_cpu_backend.close(b);
    cf_factors_free(&g);
    cf_factors_free(&f);
    cf_ratings_free(&R);
}

Test(gd, gradient_matches_finite_differences_weighted) { check_gradient(CF_REG_WEIGHTED, 0.1, 1, NAN, CF_REG_SAME); }
Test(gd, gradient_matches_finite_differences_plain) { check_gradient(CF_REG_PLAIN, 0.7, 1, NAN, CF_REG_SAME); }
Test(gd, gradient_matches_finite_differences_mean_nobias) {
    check_gradient(CF_REG_MEAN, 0.002, 0, NAN, CF_REG_SAME);
}
/* ∇b = −2 Σ e + 2 Λb b with the biases' own Λb (plain 5 beside weighted 0.1 factors) */
Test(gd, gradient_matches_finite_differences_bias_lambda) {
    check_gradient(CF_REG_WEIGHTED, 0.1, 1, 5.0, CF_REG_PLAIN);
}

/* One full-batch epoch is θ − η ∇L(θ); one Adam epoch from fresh moments is
 * θ − η g/(|g| + ε) (m̂ = g, v̂ = g² after bias correction). */
static void check_one_step(cf_optimizer opt) {
    const int K = 3;
    cf_ratings R;
    cf_factors f;
    gradient_problem(&R, &f, K, 1);
    cf_config c = cfg_with(CF_ALGO_GD, K, 0.1, CF_REG_WEIGHTED, 1, 2);
    c.optimizer = opt;
    cf_backend *b = open_with(&R, NULL, &c, &f);
    cf_factors g;
    cr_assert_eq(cf_factors_alloc(&g, 20, 15, K, 1, NULL), CF_OK);
    cf_error err;
    cr_assert_eq(cf_cpu_gd_gradient(b, &g, &err), CF_OK, "%s", err.msg);
    const double eta = 0.01;
    cr_assert_eq(cf_cpu_gd_epoch(b, 0, eta, &err), CF_OK, "%s", err.msg);
    /* empty rows were zeroed first; their gradient at zero is zero */
    for (int k = 0; k < K; k++) f.P[19 * K + k] = 0, f.Q[14 * K + k] = 0, g.P[19 * K + k] = 0, g.Q[14 * K + k] = 0;
    f.bu[19] = f.bi[14] = g.bu[19] = g.bi[14] = 0;
    double *th[] = {f.P, f.Q, f.bu, f.bi}, *gr[] = {g.P, g.Q, g.bu, g.bi};
    double *now[] = {b->f.P, b->f.Q, b->f.bu, b->f.bi};
    int64_t sizes[] = {20 * K, 15 * K, 20, 15};
    for (int a = 0; a < 4; a++)
        for (int64_t j = 0; j < sizes[a]; j++) {
            double step = opt == CF_OPT_ADAM ? gr[a][j] / (fabs(gr[a][j]) + 1e-8) : gr[a][j];
            double want = th[a][j] - eta * step;
            cr_assert_float_eq(now[a][j], want, 1e-12 * (1 + fabs(want)), "array %d [%lld]: %.17g vs %.17g",
                               a, (long long)j, now[a][j], want);
        }
    cf_cpu_backend.close(b);
    cf_factors_free(&g);
    cf_factors_free(&f);
    cf_ratings_free(&R);
}

Test(gd, full_batch_epoch_is_one_gradient_step) { check_one_step(CF_OPT_PLAIN); }
Test(gd, first_adam_step_is_sign_of_gradient) { check_one_step(CF_OPT_ADAM); }

/* With one batch covering all ratings, mini-batch GD is full-batch GD (the data terms are
 * only summed in another order). */
Test(gd, minibatch_with_one_batch_is_full_batch) {
    cf_ratings R;
    cf_triplets test;
    cf_test_planted p = planted;
    p.n_users = 60, p.n_items = 40;
    cf_test_make_planted(&p, &R, &test);
    cf_config c = cfg_with(CF_ALGO_GD, 4, 0.05, CF_REG_WEIGHTED, 1, 2);
    cf_backend *full = open_cpu(&R, &test, &c, 8);
    c.algo = CF_ALGO_MINIBATCH, c.batch = R.nnz + 5;
    cf_backend *mini = open_cpu(&R, &test, &c, 8);
    cf_error err;
    for (int it = 0; it < 3; it++) {
        cr_assert_eq(cf_cpu_gd_epoch(full, it, 0.002, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(cf_cpu_gd_epoch(mini, it, 0.002, &err), CF_OK, "%s", err.msg);
    }
    for (int64_t j = 0; j < R.n_users * 4; j++)
        cr_assert_float_eq(mini->f.P[j], full->f.P[j], 1e-12);
    for (int64_t j = 0; j < R.n_items; j++) cr_assert_float_eq(mini->f.bi[j], full->f.bi[j], 1e-12);
    cf_cpu_backend.close(full);
    cf_cpu_backend.close(mini);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ------------------------------------------------------------------ ALS+GD */

/* After a half-step with many inner steps, each row equals the exact block solve
 * (ZᵀZ + diag(Λ, …, Λ, Λb)) x = Zᵀ t, solved here with LAPACK; Λ weighted 0.05, Λb = Λ or
 * (bias_lambda > 0) plain bias_lambda. */
static void check_alsgd_exact(cf_side side, int bias, double bias_lambda) {
    const int K = 3, D = K + bias;
    cf_test_planted p = {.n_users = 40, .n_items = 30, .rank = 3, .density = 0.4, .sigma = 0.1,
                         .mu = 3.0, .test_ratio = 0, .bias = bias, .seed = 21};
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&p, &R, &test);
    cf_config c = cfg_with(CF_ALGO_ALSGD, K, 0.05, CF_REG_WEIGHTED, bias, 2);
    c.init_scale = 1.0, c.inner = 4000;
    if (bias_lambda > 0) c.bias_lambda = bias_lambda, c.bias_reg = CF_REG_PLAIN;
    cf_backend *b = open_cpu(&R, &test, &c, 4);
    for (int64_t u = 0; bias && u < R.n_users; u++) b->f.bu[u] = 0.1 * (double)(u % 5) - 0.2;
    for (int64_t i = 0; bias && i < R.n_items; i++) b->f.bi[i] = 0.05 * (double)(i % 7) - 0.15;
    cf_factors before;
    cr_assert_eq(cf_factors_copy(&before, &b->f, NULL), CF_OK);
    cf_error err;
    cr_assert_eq(cf_cpu_alsgd_half(b, side, 0.0, &err), CF_OK, "%s", err.msg);

    cf_side_view v = cf_cpu_side(b, side);
    const double *Y = side == CF_SIDE_USERS ? before.Q : before.P;
    const double *by = side == CF_SIDE_USERS ? before.bi : before.bu;
    double worst = 0;
    for (int64_t r = 0; r < v.n_rows; r++) {
        int64_t lo = v.ptr[r], hi = v.ptr[r + 1];
        cr_assert_gt(hi, lo, "row %lld has no ratings", (long long)r);
        double A[16] = {0}, rhs[4] = {0}, lam = 0.05 * (double)(hi - lo);
        for (int64_t e = lo; e < hi; e++) {
            double z[4] = {0}, t = v.val[e] - (bias ? before.mu + by[v.idx[e]] : 0.0);
            for (int k = 0; k < K; k++) z[k] = Y[v.idx[e] * K + k];
            if (bias) z[K] = 1.0;
            for (int x = 0; x < D; x++) {
                rhs[x] += t * z[x];
                for (int y = 0; y < D; y++) A[x * D + y] += z[x] * z[y];
            }
        }
        for (int x = 0; x < K; x++) A[x * D + x] += lam;
        if (bias) A[K * D + K] += bias_lambda > 0 ? bias_lambda : lam;
        cr_assert_eq(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', D, 1, A, D, rhs, 1), 0);
        double num = 0, den = 0;
        for (int x = 0; x < D; x++) {
            double got = x < K ? v.X[r * K + x] : v.bx[r];
            num += (got - rhs[x]) * (got - rhs[x]);
            den += rhs[x] * rhs[x];
        }
        worst = fmax(worst, sqrt(num / den));
    }
    cr_assert_leq(worst, 1e-6, "worst relative row error %g", worst);
    /* the other side did not move */
    const double *Yafter = side == CF_SIDE_USERS ? b->f.Q : b->f.P;
    int64_t n_other = side == CF_SIDE_USERS ? R.n_items : R.n_users;
    cr_assert_eq(memcmp(Y, Yafter, (size_t)(n_other * K) * sizeof(double)), 0);
    cf_cpu_backend.close(b);
    cf_factors_free(&before);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(alsgd, many_inner_steps_reach_exact_block_solve_users) { check_alsgd_exact(CF_SIDE_USERS, 1, 0); }
Test(alsgd, many_inner_steps_reach_exact_block_solve_items) { check_alsgd_exact(CF_SIDE_ITEMS, 1, 0); }
Test(alsgd, many_inner_steps_reach_exact_block_solve_nobias) { check_alsgd_exact(CF_SIDE_USERS, 0, 0); }
/* a plain Λb on the bias beside Λ = 0.05·n on the factors: 8 (the step's max(Λ, Λb) is
 * Λb), 1e4 (the rescaled bias, s² < 1) */
Test(alsgd, many_inner_steps_reach_exact_block_solve_bias_lambda) {
    check_alsgd_exact(CF_SIDE_USERS, 1, 8.0);
}
Test(alsgd, many_inner_steps_reach_exact_block_solve_large_bias_lambda) {
    check_alsgd_exact(CF_SIDE_ITEMS, 1, 1e4);
}

/* ------------------------------------------------------------------ CCD */

/* L as a function of one parameter is a quadratic: fit it from three evaluations of
 * the whole objective and return its minimizer. */
static double brute_min(const cf_ratings *R, cf_factors *f, const cf_config *c, double *x) {
    double keep = *x;
    *x = 0;
    double L0 = objective_direct(R, f, c);
    *x = 1;
    double L1 = objective_direct(R, f, c);
    *x = -1;
    double Lm = objective_direct(R, f, c);
    *x = keep;
    double a = (L1 + Lm - 2 * L0) / 2, bcoef = (L1 - Lm) / 2;
    return a > 1e-12 ? -bcoef / (2 * a) : 0.0;
}

static void check_ccd_sweep(cf_reg reg, double lambda, int bias, double bias_lambda, cf_reg bias_reg) {
    const int K = 2;
    /* 5 users × 4 items, user 4 without ratings */
    uint32_t us[] = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 0};
    uint32_t is[] = {0, 1, 3, 1, 2, 0, 2, 3, 0, 1, 2, 2};
    float rs[] = {4, 2, 5, 3.5f, 1, 2.5f, 4.5f, 3, 1.5f, 4, 2, 3};
    cf_triplets t = {.n = 12, .cap = 12, .u = us, .i = is, .r = rs};
    cf_ratings R;
    cr_assert_eq(cf_ratings_build(&t, 5, 4, &R, NULL), CF_OK);
    cf_config c = cfg_with(CF_ALGO_CCD, K, lambda, reg, bias, 2);
    c.init_scale = 1.0, c.bias_lambda = bias_lambda, c.bias_reg = bias_reg;
    cf_backend *b = open_cpu(&R, NULL, &c, 17);
    for (int u = 0; bias && u < 5; u++) b->f.bu[u] = 0.1 * u - 0.2;
    for (int i = 0; bias && i < 4; i++) b->f.bi[i] = 0.3 - 0.1 * i;
    cf_factors f;
    cr_assert_eq(cf_factors_copy(&f, &b->f, NULL), CF_OK);
    cf_error err;
    cr_assert_eq(cf_cpu_ccd_sweep(b, &err), CF_OK, "%s", err.msg);

    /* brute force, in the sweep's order: users (p_u1..p_uK, b_u), then items */
    for (int u = 0; u < 5; u++) {
        for (int k = 0; k < K; k++) f.P[u * K + k] = brute_min(&R, &f, &c, &f.P[u * K + k]);
        if (bias) f.bu[u] = brute_min(&R, &f, &c, &f.bu[u]);
    }
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < K; k++) f.Q[i * K + k] = brute_min(&R, &f, &c, &f.Q[i * K + k]);
        if (bias) f.bi[i] = brute_min(&R, &f, &c, &f.bi[i]);
    }
    for (int j = 0; j < 5 * K; j++) cr_assert_float_eq(b->f.P[j], f.P[j], 1e-9, "P[%d] %.15g vs %.15g", j, b->f.P[j], f.P[j]);
    for (int j = 0; j < 4 * K; j++) cr_assert_float_eq(b->f.Q[j], f.Q[j], 1e-9, "Q[%d] %.15g vs %.15g", j, b->f.Q[j], f.Q[j]);
    for (int j = 0; j < 5; j++) cr_assert_float_eq(b->f.bu[j], f.bu[j], 1e-9);
    for (int j = 0; j < 4; j++) cr_assert_float_eq(b->f.bi[j], f.bi[j], 1e-9);
    for (int k = 0; k < K; k++) cr_assert_eq(b->f.P[4 * K + k], 0.0); /* the empty user */
    cf_cpu_backend.close(b);
    cf_factors_free(&f);
    cf_ratings_free(&R);
}

Test(ccd, sweep_equals_brute_force_minimizers_plain_bias) {
    check_ccd_sweep(CF_REG_PLAIN, 0.4, 1, NAN, CF_REG_SAME);
}
Test(ccd, sweep_equals_brute_force_minimizers_weighted_bias) {
    check_ccd_sweep(CF_REG_WEIGHTED, 0.1, 1, NAN, CF_REG_SAME);
}
Test(ccd, sweep_equals_brute_force_minimizers_mean_nobias) {
    check_ccd_sweep(CF_REG_MEAN, 0.05, 0, NAN, CF_REG_SAME);
}
/* b ← (Σ e + n b)/(Λb + n) with the biases' own Λb (plain 2 beside weighted 0.1) */
Test(ccd, sweep_equals_brute_force_minimizers_bias_lambda) {
    check_ccd_sweep(CF_REG_WEIGHTED, 0.1, 1, 2.0, CF_REG_PLAIN);
}

/* ------------------------------------------------------------------ threads */

static void check_threads(cf_config c, double lr) {
    cf_ratings R;
    cf_triplets test;
    cf_test_planted p = planted;
    p.n_users = 80, p.n_items = 60;
    cf_test_make_planted(&p, &R, &test);
    c.threads = 1;
    cf_backend *one = open_cpu(&R, &test, &c, 3);
    c.threads = 2;
    cf_backend *two = open_cpu(&R, &test, &c, 3);
    cf_error err;
    for (int it = 0; it < 3; it++) {
        cr_assert_eq(iterate(one, it, lr, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(iterate(two, it, lr, &err), CF_OK, "%s", err.msg);
    }
    cr_assert(same_factors(&one->f, &two->f), "%s: 1 and 2 threads differ", cf_algo_name(c.algo));
    cf_cpu_backend.close(one);
    cf_cpu_backend.close(two);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(threads, gd_same_for_one_and_two) { check_threads(cfg_with(CF_ALGO_GD, 4, 0.05, CF_REG_WEIGHTED, 1, 1), 0.002); }
Test(threads, minibatch_adam_same_for_one_and_two) {
    cf_config c = cfg_with(CF_ALGO_MINIBATCH, 4, 0.05, CF_REG_WEIGHTED, 1, 1);
    c.batch = 100, c.optimizer = CF_OPT_ADAM;
    check_threads(c, 0.01);
}
Test(threads, alsgd_same_for_one_and_two) { check_threads(cfg_with(CF_ALGO_ALSGD, 4, 0.05, CF_REG_WEIGHTED, 1, 1), 0); }
Test(threads, ccd_same_for_one_and_two) { check_threads(cfg_with(CF_ALGO_CCD, 4, 0.05, CF_REG_WEIGHTED, 1, 1), 0); }

/* ------------------------------------------------------------------ non-finite guard */

static void check_diverges(cf_config c, double lr, const char *want) {
    cf_ratings R;
    cf_triplets test;
    cf_test_planted p = planted;
    p.n_users = 60, p.n_items = 40;
    cf_test_make_planted(&p, &R, &test);
    cf_backend *b = open_cpu(&R, &test, &c, 3);
    cf_error err;
    cf_status st = CF_OK;
    int it;
    for (it = 0; it < 200 && st == CF_OK; it++) st = iterate(b, it, lr, &err);
    cr_assert_eq(st, CF_ERR_NUMERIC, "%s with lr %g did not stop on a non-finite value", cf_algo_name(c.algo), lr);
    cr_assert(strstr(err.msg, want), "message: %s", err.msg);
    cr_assert(strstr(err.msg, "row "), "message names no row: %s", err.msg);
    char epoch[32];
    snprintf(epoch, sizeof epoch, "epoch %d ", it);
    cr_assert(strstr(err.msg, epoch), "message names no %s: %s", epoch, err.msg);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(guard, sgd_large_lr_is_a_numeric_error) {
    check_diverges(cfg_with(CF_ALGO_SGD, 4, 0.05, CF_REG_WEIGHTED, 1, 1), 5.0,
                   "sgd: non-finite value at epoch");
}
Test(guard, sgd_blocks_large_lr_is_a_numeric_error) {
    cf_config c = cfg_with(CF_ALGO_SGD, 4, 0.05, CF_REG_WEIGHTED, 1, 2);
    c.schedule = CF_SCHED_BLOCKS;
    check_diverges(c, 5.0, "try a smaller --lr");
}
Test(guard, gd_large_lr_is_a_numeric_error) {
    check_diverges(cfg_with(CF_ALGO_GD, 4, 0.05, CF_REG_WEIGHTED, 1, 2), 1.0,
                   "gd: non-finite value at epoch");
}
Test(guard, minibatch_large_lr_is_a_numeric_error) {
    cf_config c = cfg_with(CF_ALGO_MINIBATCH, 4, 0.05, CF_REG_WEIGHTED, 1, 2);
    c.batch = 50;
    check_diverges(c, 1.0, "minibatch: non-finite value at epoch");
}

/* ------------------------------------------------------------------ the biases' own λ */

static double max_abs_bias(const cf_factors *f) {
    double m = 0;
    for (int64_t u = 0; u < f->n_users; u++) m = fmax(m, fabs(f->bu[u]));
    for (int64_t i = 0; i < f->n_items; i++) m = fmax(m, fabs(f->bi[i]));
    return m;
}

static cf_backend *trained(cf_config c, const cf_ratings *R, const cf_triplets *test, int iters, double lr) {
    cf_backend *b = open_cpu(R, test, &c, 5);
    cf_error err;
    for (int it = 0; it < iters; it++) cr_assert_eq(iterate(b, it, lr, &err), CF_OK, "%s", err.msg);
    return b;
}

/* The default (bias λ and mode "same") trains bit for bit as an explicit bias_lambda = λ,
 * bias_reg = reg; and reg mean λ as bias_reg plain λ·|Ω|, the same Λb through the
 * solvers' separate per-bias path (cf_bias_reg_same is false there). */
static void check_bias_same(cf_config c, int iters, double lr) {
    cf_ratings R;
    cf_triplets test;
    cf_test_planted p = planted;
    p.n_users = 80, p.n_items = 60;
    cf_test_make_planted(&p, &R, &test);
    cr_assert(isnan(c.bias_lambda) && c.bias_reg == CF_REG_SAME, "cfg_with leaves the defaults");
    cf_backend *def = trained(c, &R, &test, iters, lr);
    cf_config e = c;
    e.bias_lambda = c.lambda, e.bias_reg = c.reg;
    cf_backend *expl = trained(e, &R, &test, iters, lr);
    cr_assert(same_factors(&def->f, &expl->f), "%s: explicit λ_b = λ, bias_reg = reg differs from the default",
              cf_algo_name(c.algo));
    cf_config m = c;
    m.reg = CF_REG_MEAN, m.lambda = 1e-4;
    cf_backend *mean = trained(m, &R, &test, iters, lr);
    m.bias_reg = CF_REG_PLAIN, m.bias_lambda = 1e-4 * (double)R.nnz;
    cf_backend *plain = trained(m, &R, &test, iters, lr);
    cr_assert(same_factors(&mean->f, &plain->f), "%s: biases plain λ|Ω| differ from mean λ", cf_algo_name(c.algo));
    cr_assert(!same_factors(&def->f, &mean->f), "the two λ gave the same factors: the check tells nothing");
    cf_cpu_backend.close(def), cf_cpu_backend.close(expl), cf_cpu_backend.close(mean), cf_cpu_backend.close(plain);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(bias_lambda, sgd_default_is_explicit_same) {
    check_bias_same(cfg_with(CF_ALGO_SGD, 4, 0.05, CF_REG_WEIGHTED, 1, 1), 3, 0.01);
}
Test(bias_lambda, sgd_blocks_default_is_explicit_same) {
    cf_config c = cfg_with(CF_ALGO_SGD, 4, 0.05, CF_REG_WEIGHTED, 1, 2);
    c.schedule = CF_SCHED_BLOCKS, c.blocks = 4;
    check_bias_same(c, 3, 0.01);
}
Test(bias_lambda, gd_default_is_explicit_same) {
    check_bias_same(cfg_with(CF_ALGO_GD, 4, 0.05, CF_REG_WEIGHTED, 1, 2), 3, 0.002);
}
Test(bias_lambda, minibatch_adam_default_is_explicit_same) {
    cf_config c = cfg_with(CF_ALGO_MINIBATCH, 4, 0.05, CF_REG_WEIGHTED, 1, 2);
    c.batch = 100, c.optimizer = CF_OPT_ADAM;
    check_bias_same(c, 3, 0.01);
}
Test(bias_lambda, alsgd_default_is_explicit_same) {
    check_bias_same(cfg_with(CF_ALGO_ALSGD, 4, 0.05, CF_REG_WEIGHTED, 1, 2), 3, 0);
}
Test(bias_lambda, ccd_default_is_explicit_same) {
    check_bias_same(cfg_with(CF_ALGO_CCD, 4, 0.05, CF_REG_WEIGHTED, 1, 2), 3, 0);
}

/* Training with a large Λb shrinks every bias toward 0: max |b| < ratio · max |b| with
 * Λb = Λ. At a minimizer of L, b_u = Σ_i (r − μ − b_i − p·q)/(n_u + Λb_u), so a Λb far
 * above n_u scales b by about n_u/(n_u + Λb); the ratio asked of each solver is that
 * with a margin, or what its fixed step allows (see the calls). A diverged run cannot
 * pass with b = 0: the solvers' non-finite guard fails the iteration. */
static void check_bias_shrinks(cf_config c, int iters, double lr, double bias_lambda, cf_reg bias_reg, double ratio) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&planted, &R, &test);
    cf_backend *same = trained(c, &R, &test, iters, lr);
    c.bias_lambda = bias_lambda, c.bias_reg = bias_reg;
    cf_backend *own = trained(c, &R, &test, iters, lr);
    double m0 = max_abs_bias(&same->f), m1 = max_abs_bias(&own->f);
    double t0 = test_rmse(&test, &same->f), t1 = test_rmse(&test, &own->f);
    cr_log_info("%s: max |b| %.4g with λ_b = λ, %.4g with λ_b = %g %s (ratio %.3g); test RMSE %.4f, %.4f",
                cf_algo_name(c.algo), m0, m1, bias_lambda, cf_reg_name(bias_reg), m1 / m0, t0, t1);
    cr_assert_gt(m0, 0.1, "%s: the biases did not move with λ_b = λ (max |b| %g)", cf_algo_name(c.algo), m0);
    cr_assert_lt(m1, ratio * m0, "%s: max |b| %g with λ_b = %g, %g with λ_b = λ: ratio %g, want < %g",
                 cf_algo_name(c.algo), m1, bias_lambda, m0, m1 / m0, ratio);
    cf_cpu_backend.close(same), cf_cpu_backend.close(own);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ηλ'b = 1 (weighted λ_b = 1/η): each update sets b = η e, so |b| ≤ η max |e| ≈ 0.01·1.5
 * against max |b| ≈ 0.9 with λ_b = λ: expected ≈ 0.02 */
Test(bias_lambda, sgd_large_lambda_shrinks_biases) {
    check_bias_shrinks(cfg_with(CF_ALGO_SGD, 4, 0.005, CF_REG_WEIGHTED, 1, 1), 60, 0.01, 100, CF_REG_WEIGHTED, 0.05);
}
/* the step η = 0.003 bounds Λb (the bias's step is stable for 2η(n + Λb) < 2, n ≤ ~110):
 * plain 100, expected n/(n + Λb) ≤ 0.5 */
Test(bias_lambda, gd_large_lambda_shrinks_biases) {
    check_bias_shrinks(cfg_with(CF_ALGO_GD, 4, 0.005, CF_REG_WEIGHTED, 1, 2), 300, 0.003, 100, CF_REG_PLAIN, 0.6);
}
/* a batch's share of Λb, (|S|/|Ω|) Λb ≈ 60, is what the step must handle: plain 1000,
 * expected n/(n + Λb) ≤ 0.1 */
Test(bias_lambda, minibatch_large_lambda_shrinks_biases) {
    cf_config c = cfg_with(CF_ALGO_MINIBATCH, 4, 0.005, CF_REG_WEIGHTED, 1, 2);
    c.batch = 1000;
    check_bias_shrinks(c, 80, 0.005, 1000, CF_REG_PLAIN, 0.2);
}
/* exact block steps (ccd) or ones that fit any Λb (alsgd): plain 1e6, expected n/Λb ≈ 1e-4 */
Test(bias_lambda, alsgd_large_lambda_shrinks_biases) {
    cf_config c = cfg_with(CF_ALGO_ALSGD, 4, 0.005, CF_REG_WEIGHTED, 1, 2);
    c.inner = 5;
    check_bias_shrinks(c, 30, 0, 1e6, CF_REG_PLAIN, 1e-3);
}
Test(bias_lambda, ccd_large_lambda_shrinks_biases) {
    check_bias_shrinks(cfg_with(CF_ALGO_CCD, 4, 0.005, CF_REG_WEIGHTED, 1, 2), 30, 0, 1e6, CF_REG_PLAIN, 1e-3);
}
