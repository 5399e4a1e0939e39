/*
 * test_metrics.c — RMSE and MAE with their standard errors clustered by user
 * (cf_model_evaluate), the paired comparison of two models (cf_model_compare), and
 * `cufactor eval --compare`.
 *
 * The standard errors are checked three ways: against the formula of metrics.c written
 * out here per user on a small hand-made set; against the textbook s/√n when every user
 * has one rating; and by calibration: over 400 test sets drawn afresh from one
 * population (100 of 2000 users, whose ratings share an offset the models do not know,
 * so a user's errors go together), the spread of the RMSEs and of the paired differences must match
 * the reported standard errors (ratio within 0.8–1.25; the sampling error of a standard
 * deviation over 400 draws is 3.5 %), while the standard error that treats ratings as
 * independent falls short by more than 1.5× (so the check can tell them apart).
 */
#include <criterion/criterion.h>

#include "common.h"
#include "cufactor.h"
#include "dataset.h"
#include "factors.h"
#include "helpers.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CF_TEST_SUITE_WITH_TMPDIR(metrics, 120);

enum { NU = 2000, NI = 40, K = 2 }; /* the population of users the test sets draw from */

/* A model of users and items "0".."n-1": μ = 3, biases on, factors and biases from a
 * seeded stream of the given scale. */
static cf_model *model_of(uint64_t seed, double scale) {
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, NU, NI, K, 1, &err), CF_OK);
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    f.mu = 3;
    for (int64_t j = 0; j < NU * K; j++) f.P[j] = scale * cf_rng_normal(&rng);
    for (int64_t j = 0; j < NI * K; j++) f.Q[j] = scale * cf_rng_normal(&rng);
    for (int64_t j = 0; j < NU; j++) f.bu[j] = 0.3 * cf_rng_normal(&rng);
    for (int64_t j = 0; j < NI; j++) f.bi[j] = 0.3 * cf_rng_normal(&rng);
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = K;
    cf_model *m = cf_model_wrap(&f, cf_test_decimal_map(NU), cf_test_decimal_map(NI), &cfg);
    cr_assert_not_null(m);
    return m;
}

/* An empty dataset over the same IDs, to push ratings into. */
static cf_dataset *empty_set(void) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert(ds);
    cf_idmap_destroy(&ds->users), cf_idmap_destroy(&ds->items);
    ds->users = cf_test_decimal_map(NU), ds->items = cf_test_decimal_map(NI);
    return ds;
}

/* `users` distinct users drawn from the NU, each with m_u ~ U{1..per} ratings of random
 * items: r = r̂_truth + a_u + ε, a_u ~ N(0, offset²) the user's shared offset, ε ~ N(0, 0.3²). */
static cf_dataset *draw_set(const cf_model *truth, int users, int per, double offset, cf_rng *rng) {
    cf_dataset *ds = empty_set();
    uint32_t pick[NU];
    for (uint32_t u = 0; u < NU; u++) pick[u] = u;
    for (int j = 0; j < users; j++) {
        const uint32_t s = j + (uint32_t)cf_rng_below(rng, (uint64_t)(NU - j)), u = pick[s];
        pick[s] = pick[j], pick[j] = u;
        const double a = offset * cf_rng_normal(rng);
        const int m = 1 + (int)cf_rng_below(rng, (uint64_t)per);
        for (int k = 0; k < m; k++) {
            const uint32_t i = (uint32_t)cf_rng_below(rng, NI);
            const double r = cf_predict(&truth->f, u, i) + a + 0.3 * cf_rng_normal(rng);
            cr_assert_eq(cf_dataset_push(ds, u, i, (float)r, (k + u) % 3 == 0), 0);
        }
    }
    return ds;
}

/* The clustered variance of metrics.c's header, written out: per user the sum of
 * x_k − x̄ over its ratings, squared, summed, times G/(G−1), over n². */
static double clustered_var_by_hand(const cf_dataset *ds, const double *x, double mean) {
    double acc = 0;
    int64_t G = 0;
    for (uint32_t g = 0; g < NU; g++) {
        double d = 0;
        int any = 0;
        for (int64_t k = 0; k < ds->all.n; k++)
            if (ds->all.u[k] == g) d += x[k] - mean, any = 1;
        acc += d * d, G += any;
    }
    const double n = (double)ds->all.n;
    return (double)G / (double)(G - 1) * acc / (n * n);
}

/* The n values x_k = e_k² (squared) or |e_k| taken as independent: their mean into *mean,
 * and the textbook standard error of it, s/√n with s² the sample variance (n − 1). */
static double iid_se(const double *e, int64_t n, int squared, double *mean) {
    double m = 0, v = 0;
    for (int64_t k = 0; k < n; k++) m += (squared ? e[k] * e[k] : fabs(e[k])) / n;
    for (int64_t k = 0; k < n; k++) {
        const double d = (squared ? e[k] * e[k] : fabs(e[k])) - m;
        v += d * d / (n - 1);
    }
    *mean = m;
    return sqrt(v / n);
}

static void errors_of(const cf_model *m, const cf_dataset *ds, double *e) {
    for (int64_t k = 0; k < ds->all.n; k++) e[k] = ds->all.r[k] - cf_predict(&m->f, ds->all.u[k], ds->all.i[k]);
}

Test(metrics, standard_errors_follow_the_definition) {
    cf_model *truth = model_of(1, 0.5), *a = model_of(2, 0.5);
    cf_rng rng;
    cf_rng_seed(&rng, 3);
    cf_dataset *ds = draw_set(truth, 60, 7, 0.4, &rng);
    const int64_t n = ds->all.n;
    double *e = malloc((size_t)n * sizeof *e), *x = malloc((size_t)n * sizeof *x);
    errors_of(a, ds, e);
    double sse = 0, sae = 0;
    for (int64_t k = 0; k < n; k++) sse += e[k] * e[k], sae += fabs(e[k]);
    const double mse = sse / (double)n, rmse = sqrt(mse), mae = sae / (double)n;
    for (int64_t k = 0; k < n; k++) x[k] = e[k] * e[k];
    const double rmse_se = sqrt(clustered_var_by_hand(ds, x, mse)) / (2 * rmse);
    for (int64_t k = 0; k < n; k++) x[k] = fabs(e[k]);
    const double mae_se = sqrt(clustered_var_by_hand(ds, x, mae));

    cf_eval_report rep;
    cf_error err;
    cr_assert_eq(cf_model_evaluate(a, ds, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.count, n);
    cr_assert_eq(rep.users, 60);
    cr_assert_eq(rep.unseen, 0);
    cr_assert_float_eq(rep.rmse, rmse, 1e-12 * rmse);
    cr_assert_float_eq(rep.mae, mae, 1e-12 * mae);
    cr_assert_float_eq(rep.rmse_se, rmse_se, 1e-9 * rmse_se, "%.17g vs %.17g", rep.rmse_se, rmse_se);
    cr_assert_float_eq(rep.mae_se, mae_se, 1e-9 * mae_se, "%.17g vs %.17g", rep.mae_se, mae_se);

    /* the paired difference with a second model, by hand */
    cf_model *b = model_of(4, 0.5);
    double *eb = malloc((size_t)n * sizeof *eb);
    errors_of(b, ds, eb);
    double sseb = 0;
    for (int64_t k = 0; k < n; k++) sseb += eb[k] * eb[k], x[k] = eb[k] * eb[k] - e[k] * e[k];
    const double rmseb = sqrt(sseb / (double)n);
    const double diff_se = sqrt(clustered_var_by_hand(ds, x, (sseb - sse) / (double)n)) / (rmse + rmseb);
    cf_compare_report c;
    cr_assert_eq(cf_model_compare(a, b, ds, &c, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(memcmp(&c.a, &rep, sizeof rep), 0, "compare's report of a is evaluate's");
    cr_assert_float_eq(c.b.rmse, rmseb, 1e-12 * rmseb);
    cr_assert_float_eq(c.rmse_diff, rmseb - rmse, 1e-12);
    cr_assert_float_eq(c.rmse_diff_se, diff_se, 1e-9 * diff_se, "%.17g vs %.17g", c.rmse_diff_se, diff_se);
    /* swapped: the difference changes sign, its error does not */
    cf_compare_report s;
    cr_assert_eq(cf_model_compare(b, a, ds, &s, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(s.rmse_diff, -c.rmse_diff);
    cr_assert_float_eq(s.rmse_diff_se, c.rmse_diff_se, 1e-12 * diff_se);
    /* a model against itself: no difference and no error */
    cr_assert_eq(cf_model_compare(a, a, ds, &s, &err), CF_OK, "%s", err.msg);
    cr_assert(s.rmse_diff == 0 && s.rmse_diff_se == 0, "%g ± %g", s.rmse_diff, s.rmse_diff_se);
    free(e), free(eb), free(x);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&truth), cf_model_destroy(&a), cf_model_destroy(&b);
}

/* One rating a user: the clustered error is the textbook one, s/√n with s² the sample
 * variance (n − 1), through the delta method for the RMSE. One user: NaN. */
Test(metrics, one_rating_a_user_is_the_textbook_error) {
    cf_model *truth = model_of(5, 0.5), *a = model_of(6, 0.5);
    cf_rng rng;
    cf_rng_seed(&rng, 7);
    cf_dataset *ds = draw_set(truth, 100, 1, 0.4, &rng);
    const int64_t n = ds->all.n;
    cr_assert_eq(n, 100);
    double *e = malloc((size_t)n * sizeof *e);
    errors_of(a, ds, e);
    double m2, m1;
    const double se2 = iid_se(e, n, 1, &m2), se1 = iid_se(e, n, 0, &m1);
    cf_eval_report rep;
    cf_error err;
    cr_assert_eq(cf_model_evaluate(a, ds, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_float_eq(rep.rmse_se, se2 / (2 * sqrt(m2)), 1e-9 * rep.rmse_se);
    cr_assert_float_eq(rep.mae_se, se1, 1e-9 * rep.mae_se);
    free(e);
    cf_dataset_destroy(&ds);

    ds = empty_set();
    cr_assert_eq(cf_dataset_push(ds, 0, 1, 4, 0), 0);
    cr_assert_eq(cf_dataset_push(ds, 0, 2, 2, 0), 0);
    cr_assert_eq(cf_model_evaluate(a, ds, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert(isfinite(rep.rmse) && isnan(rep.rmse_se) && isnan(rep.mae_se), "one user: no standard error");
    cf_compare_report c;
    cr_assert_eq(cf_model_compare(a, truth, ds, &c, &err), CF_OK, "%s", err.msg);
    cr_assert(isfinite(c.rmse_diff) && isnan(c.rmse_diff_se));
    cr_assert_eq(cf_model_compare(a, NULL, ds, &c, &err), CF_ERR_INVALID);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&truth), cf_model_destroy(&a);
}

/* Calibration (see the header): 400 sets of 100 users with 1–20 ratings each (the ratios
 * were 0.95–1.06 for the two standard errors and 1.9–2.1 for the independent one over
 * eight seeds). */
Test(metrics, standard_errors_match_the_spread_over_fresh_test_sets) {
    enum { R = 400 };
    cf_model *truth = model_of(8, 0.5), *a = model_of(9, 0.5), *b = model_of(10, 0.5);
    /* b: a's factors nudged toward the truth, so the two differ by a little */
    for (int64_t j = 0; j < NU * K; j++) b->f.P[j] = 0.8 * a->f.P[j] + 0.2 * truth->f.P[j];
    memcpy(b->f.Q, a->f.Q, sizeof(double) * NI * K);
    memcpy(b->f.bu, a->f.bu, sizeof(double) * NU), memcpy(b->f.bi, a->f.bi, sizeof(double) * NI);
    cf_rng rng;
    cf_rng_seed(&rng, 11);
    double s_rmse = 0, s2_rmse = 0, s_diff = 0, s2_diff = 0, se_rmse = 0, se_diff = 0, se_iid = 0;
    for (int r = 0; r < R; r++) {
        cf_dataset *ds = draw_set(truth, 100, 20, 0.5, &rng);
        cf_compare_report c;
        cf_error err;
        cr_assert_eq(cf_model_compare(a, b, ds, &c, &err), CF_OK, "%s", err.msg);
        s_rmse += c.a.rmse, s2_rmse += c.a.rmse * c.a.rmse, se_rmse += c.a.rmse_se;
        s_diff += c.rmse_diff, s2_diff += c.rmse_diff * c.rmse_diff, se_diff += c.rmse_diff_se;
        /* the error that treats the ratings as independent: s(e²)/√n/(2·RMSE) */
        const int64_t n = ds->all.n;
        double *e = malloc((size_t)n * sizeof *e), m2;
        errors_of(a, ds, e);
        se_iid += iid_se(e, n, 1, &m2) / (2 * sqrt(m2));
        free(e);
        cf_dataset_destroy(&ds);
    }
    const double sd_rmse = sqrt((s2_rmse - s_rmse * s_rmse / R) / (R - 1));
    const double sd_diff = sqrt((s2_diff - s_diff * s_diff / R) / (R - 1));
    const double ratio_rmse = sd_rmse / (se_rmse / R), ratio_diff = sd_diff / (se_diff / R),
                 ratio_iid = sd_rmse / (se_iid / R);
    cr_assert(ratio_rmse > 0.8 && ratio_rmse < 1.25, "RMSE: spread %.5f, mean standard error %.5f", sd_rmse,
              se_rmse / R);
    cr_assert(ratio_diff > 0.8 && ratio_diff < 1.25, "difference: spread %.6f, mean standard error %.6f", sd_diff,
              se_diff / R);
    cr_assert_gt(ratio_iid, 1.5, "the data must be clustered: independent ratings' error %.5f vs spread %.5f",
                 se_iid / R, sd_rmse);
    cr_assert_lt(se_diff, se_rmse, "pairing makes the difference's error smaller than the RMSE's");
    cf_model_destroy(&truth), cf_model_destroy(&a), cf_model_destroy(&b);
}

/* After cf_train on a split dataset, the test part's evaluation is the trainer's test
 * RMSE (the CPU reference: the same sums), so train's standard error belongs to the RMSE
 * it prints; −1 is every rating, as cf_model_evaluate. */
Test(metrics, evaluate_part_is_the_trainers_test_rmse) {
    cf_dataset *ds = cf_test_generate(300, 100, 6000, 3, 0.3, 17, 1);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.2, 3, &err), CF_OK, "%s", err.msg);
    cf_config c;
    cf_config_default(&c);
    c.device = CF_DEVICE_CPU, c.threads = 1, c.iters = 4, c.factors = 3;
    cf_model *m = NULL;
    cf_train_report rep;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cf_eval_report te, all, whole;
    cr_assert_eq(cf_model_evaluate_part(m, ds, 1, &te, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(te.count, rep.n_test);
    cr_assert_eq(te.unseen, rep.test_unseen);
    cr_assert_float_eq(te.rmse, rep.test_rmse, 1e-12 * rep.test_rmse, "%.17g vs %.17g", te.rmse, rep.test_rmse);
    cr_assert(te.rmse_se > 0 && te.rmse_se < 0.1 * te.rmse, "%g", te.rmse_se);
    cr_assert_eq(cf_model_evaluate_part(m, ds, -1, &all, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_evaluate(m, ds, &whole, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(memcmp(&all, &whole, sizeof all), 0);
    cr_assert_eq(cf_model_evaluate_part(m, ds, 2, &te, &err), CF_ERR_INVALID);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

/* eval --compare: the library's figures in the JSON and the table; the verdict line;
 * --compare with --fold-in is a usage error; a missing model an error naming it. */
Test(metrics, cli_eval_compare, .timeout = 60) {
    cf_model *truth = model_of(12, 0.5), *a = model_of(13, 0.5), *b = model_of(14, 0.5);
    cf_rng rng;
    cf_rng_seed(&rng, 15);
    cf_dataset *ds = draw_set(truth, 100, 9, 0.3, &rng);
    char *data = cf_test_path(dir, "d.tsv"), *pa = cf_test_path(dir, "a.cfm"), *pb = cf_test_path(dir, "b.cfm");
    cf_error err;
    cr_assert_eq(cf_dataset_write(ds, data, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_save(a, pa, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_save(b, pb, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    cf_read_options ro;
    cf_read_options_default(&ro);
    cr_assert_eq(cf_dataset_read(data, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cf_model *la = NULL, *lb = NULL;
    cr_assert_eq(cf_model_load(pa, &la, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_load(pb, &lb, &err), CF_OK, "%s", err.msg);
    cf_compare_report c;
    cr_assert_eq(cf_model_compare(la, lb, ds, &c, &err), CF_OK, "%s", err.msg);

    cf_test_run r = cf_test_cli(dir, "eval", pa, data, "--compare", pb, "--json", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_float_eq(cf_test_json_num(r.out, "rmse_se"), c.a.rmse_se, 1e-12);
    cr_assert_float_eq(cf_test_json_num(r.out, "mae_se"), c.a.mae_se, 1e-12);
    cr_assert_eq(cf_test_json_num(r.out, "users"), (double)c.a.users);
    const char *cmp = strstr(r.out, "\"compare\":{");
    cr_assert(cmp, "%s", r.out);
    cr_assert_float_eq(cf_test_json_num(cmp, "rmse"), c.b.rmse, 1e-12);
    cr_assert_float_eq(cf_test_json_num(cmp, "rmse_diff"), c.rmse_diff, 1e-12);
    cr_assert_float_eq(cf_test_json_num(cmp, "rmse_diff_se"), c.rmse_diff_se, 1e-12);
    cf_test_run_free(&r);

    r = cf_test_cli(dir, "eval", pa, data, "--compare", pb, "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[200];
    snprintf(want, sizeof want, "RMSE    %.6f ± %.6f\n", c.a.rmse, c.a.rmse_se);
    cr_assert(strstr(r.out, want), "want '%s' in %s", want, r.out);
    const double lo = c.rmse_diff - 1.96 * c.rmse_diff_se, hi = c.rmse_diff + 1.96 * c.rmse_diff_se;
    snprintf(want, sizeof want,
             "RMSE difference (it − MODEL) %+.6f ± %.6f (paired), 95 %% interval [%+.6f, %+.6f]: %s",
             c.rmse_diff, c.rmse_diff_se, lo, hi,
             hi < 0 ? "it predicts DATA better" : lo > 0 ? "it predicts DATA worse" : "no clear difference");
    cr_assert(strstr(r.out, want), "want '%s' in %s", want, r.out);
    cf_test_run_free(&r);

    r = cf_test_cli(dir, "eval", pa, data, "--compare", pb, "--fold-in", data, NULL);
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "--compare and --fold-in do not go together"), "%s", r.err);
    cf_test_run_free(&r);
    r = cf_test_cli(dir, "eval", pa, data, "--compare", "missing.cfm", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "missing.cfm"), "%s", r.err);
    cf_test_run_free(&r);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&truth), cf_model_destroy(&a), cf_model_destroy(&b), cf_model_destroy(&la), cf_model_destroy(&lb);
    free(data), free(pa), free(pb);
}
