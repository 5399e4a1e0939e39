/* test_als.c — the CPU ALS reference: optimality of a half-step, monotone objective,
 * recovery of a planted model, thread-count invariance, empty rows, all λ modes, the
 * biases' own λ_b (against a dense solve written here); BLAS sequential with no pool of
 * its own beside ours. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <string.h>

#include "backend.h"
#include "common.h"
#include "cpu/cpu.h"
#include "helpers.h"

static cf_config cfg_with(int K, double lambda, cf_reg reg, int bias, int threads) {
    cf_config c;
    cf_config_default(&c);
    c.factors = K, c.lambda = lambda, c.reg = reg, c.bias = bias, c.threads = threads;
    return c;
}

static cf_backend *open_cpu(const cf_ratings *R, const cf_triplets *test, const cf_config *c, uint64_t seed) {
    cf_factors init;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&init, R->n_users, R->n_items, c->factors, c->bias, &err), CF_OK);
    cf_factors_init_random(&init, c->init_scale, seed);
    init.mu = c->bias ? R->mean : 0.0;
    cf_backend *b = NULL;
    cr_assert_eq(cf_cpu_backend.open(R, test, c, &init, &b, &err), CF_OK, "%s", err.msg);
    cf_factors_free(&init);
    return b;
}

static double objective(cf_backend *b) {
    cf_eval e;
    cf_error err;
    cr_assert_eq(cf_cpu_backend.evaluate(b, CF_EVAL_TRAIN, &e, &err), CF_OK);
    return e.sse + e.reg;
}

/* L written out directly from its definition, independent of the backend's evaluate. */
static double objective_direct(const cf_backend *b) {
    const cf_ratings *R = b->R;
    const cf_factors *f = &b->f;
    double L = 0;
    for (int64_t u = 0; u < R->n_users; u++)
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
            double d = R->row_val[e] - cf_predict(f, (uint32_t)u, R->row_col[e]);
            L += d * d;
        }
    /* Λ ‖x‖² + Λb b² (Λb: the biases' own bias_reg / bias_lambda, Λ where "same") */
    for (int64_t u = 0; u < R->n_users; u++) {
        int64_t n = R->row_ptr[u + 1] - R->row_ptr[u];
        double lam = cf_reg_lambda(b->cfg.reg, b->cfg.lambda, n, R->nnz);
        double lamb = cf_bias_reg_lambda(&b->cfg, n, R->nnz);
        double s = 0;
        for (int k = 0; k < f->k; k++) s += f->P[u * f->k + k] * f->P[u * f->k + k];
        L += lam * s + lamb * f->bu[u] * f->bu[u];
    }
    for (int64_t i = 0; i < R->n_items; i++) {
        int64_t n = R->col_ptr[i + 1] - R->col_ptr[i];
        double lam = cf_reg_lambda(b->cfg.reg, b->cfg.lambda, n, R->nnz);
        double lamb = cf_bias_reg_lambda(&b->cfg, n, R->nnz);
        double s = 0;
        for (int k = 0; k < f->k; k++) s += f->Q[i * f->k + k] * f->Q[i * f->k + k];
        L += lam * s + lamb * f->bi[i] * f->bi[i];
    }
    return L;
}

static const cf_test_planted small = {.n_users = 120, .n_items = 90, .rank = 3, .density = 0.25,
                                      .sigma = 0.1, .mu = 3.5, .test_ratio = 0.1, .bias = 1, .seed = 7};

/* ∂L/∂x_u = −2 Σ_i (r_ui − r̂_ui) z_i + 2 Λ_u x_u must vanish after the user half-step. */
static void check_stationary(cf_reg reg, int bias, double lambda) {
    cf_test_planted p = small;
    p.bias = bias;
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&p, &R, &test);
    cf_config c = cfg_with(5, lambda, reg, bias, 2);
    cf_backend *b = open_cpu(&R, &test, &c, 3);
    cf_error err;
    cr_assert_eq(cf_cpu_als_half(b, CF_SIDE_USERS, &err), CF_OK, "%s", err.msg);
    const cf_factors *f = &b->f;
    int K = f->k;
    double worst = 0;
    for (int64_t u = 0; u < R.n_users; u++) {
        int64_t n = R.row_ptr[u + 1] - R.row_ptr[u];
        double lam = cf_reg_lambda(reg, lambda, n, R.nnz);
        double g[8] = {0}, scale = 0;
        for (int64_t e = R.row_ptr[u]; e < R.row_ptr[u + 1]; e++) {
            uint32_t i = R.row_col[e];
            double res = R.row_val[e] - cf_predict(f, (uint32_t)u, i);
            for (int k = 0; k < K; k++) g[k] += -2 * res * f->Q[i * K + k], scale += fabs(res * f->Q[i * K + k]);
            if (bias) g[K] += -2 * res, scale += fabs(res);
        }
        for (int k = 0; k < K; k++) g[k] += 2 * lam * f->P[u * K + k], scale += fabs(lam * f->P[u * K + k]);
        if (bias) g[K] += 2 * lam * f->bu[u];
        double gn = 0;
        for (int k = 0; k < K + bias; k++) gn += g[k] * g[k];
        double rel = sqrt(gn) / (scale + 1e-12);
        if (rel > worst) worst = rel;
    }
    cr_log_info("stationarity (reg %s, bias %d): worst relative gradient %.3g", cf_reg_name(reg), bias, worst);
    cr_assert_lt(worst, 1e-9, "gradient after the exact block solve is not ~0: %.3g", worst);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* The threads of this process (Linux: the entries of /proc/self/task). */
static int os_threads(void) {
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* cpu/backend.c makes BLAS sequential when the library loads and stops OpenBLAS's pool of
 * workers; a CPU run must not start it again (OpenBLAS's pthread build restarts it on any
 * openblas_set_num_threads, even to 1). One thread of ours, so that the count of the
 * process's threads changes only if BLAS adds some. Neither check can fail on one core. */
Test(als, blas_is_sequential_and_a_cpu_run_starts_no_blas_threads) {
    cr_assert_eq(openblas_get_num_threads(), 1, "BLAS on %d threads after the library's load",
                 openblas_get_num_threads());
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&small, &R, &test);
    const int before = os_threads();
    cf_config c = cfg_with(6, 0.05, CF_REG_WEIGHTED, 1, 1);
    cf_backend *b = open_cpu(&R, &test, &c, 11);
    cf_error err;
    for (int s = 0; s < 2; s++) cr_assert_eq(cf_cpu_als_half(b, (cf_side)s, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(os_threads(), before, "%d threads after an ALS iteration on one thread, %d before", os_threads(),
                 before);
    cr_assert_eq(openblas_get_num_threads(), 1);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(als, half_step_is_stationary_weighted_bias) { check_stationary(CF_REG_WEIGHTED, 1, 0.05); }
Test(als, half_step_is_stationary_plain_bias) { check_stationary(CF_REG_PLAIN, 1, 0.5); }
Test(als, half_step_is_stationary_mean_nobias) { check_stationary(CF_REG_MEAN, 0, 1e-4); }

Test(als, objective_never_increases) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&small, &R, &test);
    for (int reg = CF_REG_PLAIN; reg <= CF_REG_MEAN; reg++) {
        cf_config c = cfg_with(6, reg == CF_REG_MEAN ? 1e-4 : 0.05, (cf_reg)reg, 1, 2);
        cf_backend *b = open_cpu(&R, &test, &c, 11);
        cf_error err;
        double prev = INFINITY;
        for (int it = 0; it < 8; it++) {
            for (int s = 0; s < 2; s++) {
                cr_assert_eq(cf_cpu_als_half(b, (cf_side)s, &err), CF_OK, "%s", err.msg);
                double L = objective(b);
                cr_assert_float_eq(L, objective_direct(b), 1e-9 * L, "evaluate disagrees with the definition of L");
                cr_assert_leq(L, prev * (1 + 1e-12), "reg %s, sweep %d side %d: L rose from %.12g to %.12g",
                              cf_reg_name((cf_reg)reg), it, s, prev, L);
                prev = L;
            }
        }
        cf_cpu_backend.close(b);
    }
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(als, recovers_planted_model) {
    const double sigma = 0.1;
    cf_test_planted p = {.n_users = 500, .n_items = 400, .rank = 3, .density = 0.3, .sigma = sigma,
                         .mu = 3.5, .test_ratio = 0.1, .bias = 1, .seed = 2024};
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&p, &R, &test);
    cf_config c = cfg_with(3, 0.002, CF_REG_WEIGHTED, 1, 2);
    cf_backend *b = open_cpu(&R, &test, &c, 5);
    cf_error err;
    for (int it = 0; it < 15; it++) {
        cr_assert_eq(cf_cpu_als_half(b, CF_SIDE_USERS, &err), CF_OK);
        cr_assert_eq(cf_cpu_als_half(b, CF_SIDE_ITEMS, &err), CF_OK);
    }
    cf_eval e;
    cr_assert_eq(cf_cpu_backend.evaluate(b, CF_EVAL_TEST, &e, &err), CF_OK);
    double rmse = sqrt(e.sse / (double)e.n);
    cr_log_info("planted rank-3, σ = %.2f: held-out RMSE %.4f over %lld ratings", sigma, rmse, (long long)e.n);
    cr_assert_gt(e.n, 1000);
    cr_assert_leq(rmse, 1.1 * sigma, "held-out RMSE %.4f > 1.1σ", rmse);
    cr_assert_geq(rmse, 0.8 * sigma, "held-out RMSE %.4f below the noise floor: test leaks into training?", rmse);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(als, same_result_for_one_and_two_threads) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&small, &R, &test);
    cf_backend *b[2];
    for (int t = 0; t < 2; t++) {
        cf_config c = cfg_with(7, 0.05, CF_REG_WEIGHTED, 1, t + 1);
        b[t] = open_cpu(&R, &test, &c, 99);
        cf_error err;
        for (int it = 0; it < 3; it++) {
            cr_assert_eq(cf_cpu_als_half(b[t], CF_SIDE_USERS, &err), CF_OK);
            cr_assert_eq(cf_cpu_als_half(b[t], CF_SIDE_ITEMS, &err), CF_OK);
        }
    }
    size_t np = (size_t)R.n_users * 7, nq = (size_t)R.n_items * 7;
    cr_assert(memcmp(b[0]->f.P, b[1]->f.P, np * sizeof(double)) == 0, "P differs between 1 and 2 threads");
    cr_assert(memcmp(b[0]->f.Q, b[1]->f.Q, nq * sizeof(double)) == 0, "Q differs between 1 and 2 threads");
    cr_assert(memcmp(b[0]->f.bu, b[1]->f.bu, (size_t)R.n_users * sizeof(double)) == 0);
    cr_assert(memcmp(b[0]->f.bi, b[1]->f.bi, (size_t)R.n_items * sizeof(double)) == 0);
    cr_assert_eq(objective(b[0]), objective(b[1]));
    for (int t = 0; t < 2; t++) cf_cpu_backend.close(b[t]);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* A 3-user × 2-item problem solved by hand: user 0 rated both items, user 1 one, user 2
 * none. With Q fixed and no biases, x_u = (Σ q qᵀ + Λ I)⁻¹ Σ r q. */
Test(als, hand_solved_rows_and_empty_row) {
    cf_triplets t = {0};
    uint32_t u[] = {0, 0, 1};
    uint32_t i[] = {0, 1, 1};
    float r[] = {4.0f, 2.0f, 3.0f};
    t.u = u, t.i = i, t.r = r, t.n = 3;
    cf_ratings R;
    cf_error err;
    cr_assert_eq(cf_ratings_build(&t, 3, 2, &R, &err), CF_OK);
    cf_config c = cfg_with(2, 0.5, CF_REG_PLAIN, 0, 1);
    cf_backend *b = open_cpu(&R, NULL, &c, 1);
    double Q[] = {1.0, 0.0, 1.0, 2.0}; /* q_0 = (1, 0), q_1 = (1, 2) */
    memcpy(b->f.Q, Q, sizeof Q);
    b->f.P[4] = b->f.P[5] = 9.0; /* the empty row must come back zero */
    cr_assert_eq(cf_cpu_als_half(b, CF_SIDE_USERS, &err), CF_OK);
    /* user 0: A = [[2.5, 2], [2, 4.5]], rhs = 4·(1,0) + 2·(1,2) = (6, 4); det = 7.25 */
    cr_assert_float_eq(b->f.P[0], (4.5 * 6 - 2 * 4) / 7.25, 1e-12);
    cr_assert_float_eq(b->f.P[1], (2.5 * 4 - 2 * 6) / 7.25, 1e-12);
    /* user 1: A = [[1.5, 2], [2, 4.5]], rhs = (3, 6); det = 2.75 */
    cr_assert_float_eq(b->f.P[2], (4.5 * 3 - 2 * 6) / 2.75, 1e-12);
    cr_assert_float_eq(b->f.P[3], (1.5 * 6 - 2 * 3) / 2.75, 1e-12);
    cr_assert_eq(b->f.P[4], 0.0);
    cr_assert_eq(b->f.P[5], 0.0);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
}

Test(als, singular_system_is_an_error_naming_the_row) {
    cf_triplets t = {0};
    uint32_t u[] = {0, 1};
    uint32_t i[] = {0, 0};
    float r[] = {4.0f, 2.0f};
    t.u = u, t.i = i, t.r = r, t.n = 2;
    cf_ratings R;
    cf_error err;
    cr_assert_eq(cf_ratings_build(&t, 2, 1, &R, &err), CF_OK);
    cf_config c = cfg_with(3, 0.0, CF_REG_PLAIN, 1, 1); /* λ = 0 and one rating: rank 1 < 4 */
    cf_backend *b = open_cpu(&R, NULL, &c, 1);
    cr_assert_eq(cf_cpu_als_half(b, CF_SIDE_USERS, &err), CF_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "user row 0") != NULL, "message: %s", err.msg);
    cr_assert(strstr(err.msg, "--lambda") != NULL, "message: %s", err.msg);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
}

/* ------------------------------------------------------------------ the biases' own λ_b */

/* One half-step with λ 0.1 weighted on the factors and λ_b 25 plain on the biases: each
 * row x = [p; b] solves (Σ z zᵀ + diag(Λ, …, Λ, Λb)) x = Σ (r − μ − b_other) z, Λ = 0.1·n,
 * Λb = 25. Checked (1) against that system formed and solved densely here, per row
 * relative 2-norm difference ≤ 1e-10: both in double, the systems' condition numbers are
 * at most ~1e3 here (eigenvalues from Λ ≈ 2 up to n(1 + ‖q‖²) ≈ 100), so the two solves
 * agree to ~κ·u ≈ 1e-13; (2) by the bias's own stationarity
 *     (n + Λb) b = Σ_j (r_j − μ − b_j − p·y_j)
 * to 1e-10 relative to Σ |terms|, the same rounding argument; (3) the bias differs from
 * the Λb = Λ solve (the check would not tell otherwise). Then the objective as evaluate
 * reports it equals Σ(r − r̂)² + Σ (Λ‖x‖² + Λb b²) written out here (1e-12 relative: sums
 * of the same ~3000 positive terms in another order), and never rises over ALS sweeps. */
static void check_bias_lambda_half(cf_side side) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&small, &R, &test);
    const int K = 5, d = K + 1;
    cf_config c = cfg_with(K, 0.1, CF_REG_WEIGHTED, 1, 2);
    c.bias_lambda = 25, c.bias_reg = CF_REG_PLAIN;
    cf_backend *b = open_cpu(&R, &test, &c, 3), *same;
    cf_config cs = cfg_with(K, 0.1, CF_REG_WEIGHTED, 1, 2);
    same = open_cpu(&R, &test, &cs, 3);
    cf_error err;
    /* a first sweep so that the fixed side has non-zero biases */
    cr_assert_eq(cf_cpu_als_half(b, CF_SIDE_USERS, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_cpu_als_half(b, CF_SIDE_ITEMS, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_cpu_backend.upload(same, &b->f, &err), CF_OK);
    cr_assert_eq(cf_cpu_als_half(b, side, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_cpu_als_half(same, side, &err), CF_OK, "%s", err.msg);
    const cf_side_view v = cf_cpu_side(b, side), vs = cf_cpu_side(same, side);
    double worst_x = 0, worst_b = 0, least_moved = INFINITY;
    for (int64_t r = 0; r < v.n_rows; r++) {
        const int64_t lo = v.ptr[r], n = v.ptr[r + 1] - lo;
        cr_assert_gt(n, 0);
        const double lam = 0.1 * (double)n, lamb = 25.0;
        double A[36] = {0}, rhs[6] = {0};
        for (int64_t e = lo; e < lo + n; e++) {
            const uint32_t j = v.idx[e];
            double z[6], t = (double)v.val[e] - b->f.mu - v.by[j];
            for (int k = 0; k < K; k++) z[k] = v.Y[(size_t)j * K + k];
            z[K] = 1.0;
            for (int p = 0; p < d; p++) {
                rhs[p] += t * z[p];
                for (int q = 0; q < d; q++) A[p * d + q] += z[p] * z[q];
            }
        }
        for (int k = 0; k < K; k++) A[k * d + k] += lam;
        A[K * d + K] += lamb;
        cf_test_gauss_solve(A, rhs, d); /* independent of the solver's dsyrk / dposv */
        double num = 0, den = 0;
        for (int p = 0; p < d; p++) {
            const double got = p < K ? v.X[(size_t)r * K + p] : v.bx[r];
            num += (got - rhs[p]) * (got - rhs[p]), den += rhs[p] * rhs[p];
        }
        worst_x = fmax(worst_x, sqrt(num / den));
        /* (n + Λb) b = Σ (r − μ − b_j − p·y_j) */
        double sum = 0, mag = 0;
        for (int64_t e = lo; e < lo + n; e++) {
            const uint32_t j = v.idx[e];
            double dot = 0;
            for (int k = 0; k < K; k++) dot += v.X[(size_t)r * K + k] * v.Y[(size_t)j * K + k];
            const double term = (double)v.val[e] - b->f.mu - v.by[j] - dot;
            sum += term, mag += fabs(term);
        }
        const double lhs = ((double)n + lamb) * v.bx[r];
        worst_b = fmax(worst_b, fabs(lhs - sum) / (mag + fabs(lhs)));
        least_moved = fmin(least_moved, fabs(v.bx[r] - vs.bx[r]) / (fabs(vs.bx[r]) + 1e-300));
    }
    cr_log_info("%s half-step, λ 0.1 weighted, λ_b 25 plain: worst relative difference from the dense solve %.3g, "
                "worst bias stationarity %.3g; the least relative change of a bias against λ_b = λ %.3g",
                side == CF_SIDE_USERS ? "user" : "item", worst_x, worst_b, least_moved);
    cr_assert_leq(worst_x, 1e-10, "the half-step's rows differ from the dense solve by %g", worst_x);
    cr_assert_leq(worst_b, 1e-10, "(n + Λb) b ≠ Σ residuals: %g", worst_b);
    cr_assert_gt(least_moved, 1e-6, "some bias is the same as with λ_b = λ");
    /* the objective with Λb, and ALS never raising it */
    double prev = INFINITY;
    for (int it = 0; it < 4; it++)
        for (int s = 0; s < 2; s++) {
            cr_assert_eq(cf_cpu_als_half(b, (cf_side)s, &err), CF_OK, "%s", err.msg);
            const double L = objective(b);
            cr_assert_float_eq(L, objective_direct(b), 1e-12 * L, "evaluate disagrees with L written out");
            cr_assert_leq(L, prev * (1 + 1e-12), "sweep %d side %d: L rose from %.12g to %.12g", it, s, prev, L);
            prev = L;
        }
    cf_cpu_backend.close(b), cf_cpu_backend.close(same);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(als, bias_lambda_users_solve_their_normal_equations) { check_bias_lambda_half(CF_SIDE_USERS); }
Test(als, bias_lambda_items_solve_their_normal_equations) { check_bias_lambda_half(CF_SIDE_ITEMS); }

/* The part of the ALS not-positive-definite messages (CPU fp64, fp32 and GPU) that names
 * the biases' own regularization: present only with biases on and a λ_b or mode of their
 * own, "same" resolved to λ's and reg's. */
Test(als, bias_note_of_the_not_positive_definite_messages) {
    cf_config c;
    cf_config_default(&c);
    char buf[96];
    cr_assert_str_empty(cf_bias_reg_note(&c, 1, buf, sizeof buf), "default: the biases as the factors");
    c.bias_lambda = c.lambda, c.bias_reg = c.reg;
    cr_assert_str_empty(cf_bias_reg_note(&c, 1, buf, sizeof buf), "explicit, but the factors' values");
    c.bias_lambda = 25.0, c.bias_reg = CF_REG_PLAIN;
    cr_assert_str_eq(cf_bias_reg_note(&c, 1, buf, sizeof buf), ", λ_b = 25 with --bias-reg plain");
    cr_assert_str_empty(cf_bias_reg_note(&c, 0, buf, sizeof buf), "no biases: nothing to name");
    c.bias_lambda = NAN, c.bias_reg = CF_REG_MEAN; /* λ_b "same": λ's value, its own mode */
    cr_assert_str_eq(cf_bias_reg_note(&c, 1, buf, sizeof buf), ", λ_b = 0.1 with --bias-reg mean");
}
