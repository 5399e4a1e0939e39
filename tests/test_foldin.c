/*
 * test_foldin.c — cf_model_fold_in (cufactor.h, src/foldin.c): rows for users from their
 * ratings with the model's items fixed.
 *
 * A hand case solved below on paper (plain and weighted λ giving the same Λ, a rating of
 * an unknown item, a user with none of known items, the model left as it was); the
 * fold-in is exactly ALS's user half-step: a model trained N iterations, its users folded
 * in from the training ratings, has the rows of the same training run N + 1 iterations,
 * bit for bit (biases on and off, both schemes, 1 and 2 threads), and the items folded in
 * after them (with merge) its item rows too; merge replaces, appends and keeps rows; the
 * item fold-in's hand case (the user one transposed); on random models with λ
 * overridden the rows satisfy the normal equations formed here the plain way; a singular
 * system names its user; cancelling; bad arguments. cf_model_explain: the hand case's terms
 * on paper; on random models the terms against z_jᵀ A⁻¹ z_i computed here by Gaussian
 * elimination, their sum against the score, the score against the fold-in model's.
 */
#include <criterion/criterion.h>

#include "common.h"
#include "dataset.h"
#include "factors.h"
#include "helpers.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A model of nu users and ni items "0".."n-1" with the given arrays (NULL: zeros). */
static cf_model *model_of(int64_t nu, int64_t ni, int K, int bias, double mu, const double *Q, const double *bi,
                          double lambda, cf_reg reg) {
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, nu, ni, K, bias, &err), CF_OK);
    f.mu = mu;
    if (Q) memcpy(f.Q, Q, sizeof(double) * (size_t)(ni * K));
    if (bi && bias) memcpy(f.bi, bi, sizeof(double) * (size_t)ni);
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = K, cfg.bias = bias, cfg.lambda = lambda, cfg.reg = reg;
    cf_model *m = cf_model_wrap(&f, cf_test_decimal_map(nu), cf_test_decimal_map(ni), &cfg);
    cr_assert_not_null(m);
    return m;
}

/* n strings as a cf_ids (chars and offsets malloc'ed into *buf, *offs). */
static cf_ids ids_of(const char *const *s, int64_t n, char **buf, int64_t **offs) {
    size_t total = 0;
    for (int64_t k = 0; k < n; k++) total += strlen(s[k]);
    *buf = malloc(total + 1), *offs = malloc(sizeof(int64_t) * (size_t)(n + 1));
    cr_assert(*buf && *offs);
    (*offs)[0] = 0;
    for (int64_t k = 0; k < n; k++) {
        const size_t l = strlen(s[k]);
        memcpy(*buf + (*offs)[k], s[k], l);
        (*offs)[k + 1] = (*offs)[k] + (int64_t)l;
    }
    return (cf_ids){.n = n, .chars = *buf, .offsets = *offs};
}

static cf_dataset *dataset_str(const char *const *u, const char *const *i, const float *r, int64_t n) {
    cf_dataset *ds;
    cf_error err;
    cr_assert_eq(cf_dataset_new(&ds, &err), CF_OK);
    char *ub, *ib;
    int64_t *uo, *io;
    const cf_ids U = ids_of(u, n, &ub, &uo), I = ids_of(i, n, &ib, &io);
    cr_assert_eq(cf_dataset_add(ds, &U, &I, r, 0, &err), CF_OK, "%s", err.msg);
    free(ub), free(uo), free(ib), free(io);
    return ds;
}

/* Items "0", "1" with q = (1, 2), b_i = (0.5, -0.5), μ = 3, K = 1, biases on.
 * User "a" rates item 0 with 4 and item 1 with 5 (and "x", unknown to the model, with 3):
 *   z_0 = (1, 1), t_0 = 4 - 3 - 0.5 = 0.5;  z_1 = (2, 1), t_1 = 5 - 3 + 0.5 = 2.5
 *   Λ = 1 (plain λ 1, or weighted λ 0.5 × 2 ratings):
 *   A = Σ z zᵀ + Λ I = [[6, 3], [3, 3]],  rhs = Σ t z = (5.5, 3)
 *   x = A⁻¹ rhs = (3·5.5 − 3·3, 6·3 − 3·5.5) / 9 = (7.5/9, 1.5/9): p_a = 5/6, b_a = 1/6.
 * User "b" rates only "x": a zero row. */
Test(fold_in, hand_case) {
    const double Q[] = {1, 2}, bi[] = {0.5, -0.5};
    const char *const u[] = {"a", "a", "a", "b"}, *const it[] = {"0", "x", "1", "x"};
    const float r[] = {4, 3, 5, 2};
    cf_dataset *ds = dataset_str(u, it, r, 4);
    for (int scheme = 0; scheme < 2; scheme++) {
        cf_model *m = model_of(3, 2, 1, 1, 3.0, Q, bi, scheme ? 0.5 : 1.0, scheme ? CF_REG_WEIGHTED : CF_REG_PLAIN);
        for (int threads = 1; threads <= 2; threads++) {
            cf_fold_in_options o;
            cf_fold_in_options_default(&o);
            o.threads = threads;
            cf_model *f = NULL;
            cf_fold_in_report rep;
            cf_error err = {0};
            cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, &rep, &err), CF_OK, "%s", err.msg);
            cr_assert_eq(rep.rows, 2);
            cr_assert_eq(rep.rows_empty, 1);
            cr_assert_eq(rep.rows_new, 2); /* the model's users are "0".."2" */
            cr_assert_eq(rep.ratings, 2);
            cr_assert_eq(rep.ratings_unknown, 2);
            cf_model_info mi;
            cf_model_info_get(f, &mi);
            cr_assert_eq(mi.n_users, 2);
            cr_assert_eq(mi.n_items, 2);
            cr_assert_eq(mi.mu, 3.0);
            cr_assert_eq(f->f.Q[1], 2.0);
            cr_assert_eq(f->f.bi[1], -0.5);
            cr_assert_float_eq(f->f.P[0], 5.0 / 6.0, 1e-14);
            cr_assert_float_eq(f->f.bu[0], 1.0 / 6.0, 1e-14);
            cr_assert_eq(f->f.P[1], 0.0);
            cr_assert_eq(f->f.bu[1], 0.0);
            double pred;
            cr_assert_eq(cf_model_predict(f, "a", "1", &pred, &err), CF_OK, "%s", err.msg);
            cr_assert_float_eq(pred, 3.0 + 1.0 / 6 - 0.5 + 2 * 5.0 / 6, 1e-13);
            cr_assert_eq(cf_model_predict(f, "b", "0", &pred, &err), CF_OK, "%s", err.msg);
            cr_assert_eq(pred, 3.5); /* μ + b_i: as a user the model never saw */
            cr_assert_eq(cf_model_predict(f, "0", "0", &pred, &err), CF_ERR_NOT_FOUND); /* only ds's users */
            cf_model_destroy(&f);
        }
        for (int k = 0; k < 3; k++) cr_assert_eq(m->f.P[k], 0.0, "the model itself is not changed");
        cf_model_destroy(&m);
    }
    cf_dataset_destroy(&ds);
}

/* A model trained N ALS iterations, its users folded in from the training ratings with
 * its own λ and scheme, has the user rows that iteration N + 1 computes: the same
 * system, solved the same way (cf_als_row_solve), bit for bit. */
Test(fold_in, is_the_als_user_half_step) {
    cf_dataset *ds = cf_test_generate(300, 200, 6000, 4, 0.3, 11, 1);
    cf_error err = {0};
    for (int bias = 0; bias <= 1; bias++)
        for (int mode = 0; mode <= 1 + bias; mode++) { /* plain, weighted, weighted with plain biases */
            const int weighted = mode >= 1;
            cf_config c;
            cf_config_default(&c);
            c.algo = CF_ALGO_ALS, c.factors = 6, c.bias = bias, c.device = CF_DEVICE_CPU;
            c.precision = CF_PRECISION_FP64, c.threads = 2;
            c.reg = weighted ? CF_REG_WEIGHTED : CF_REG_PLAIN, c.lambda = weighted ? 0.05 : 2.0;
            if (mode == 2) c.bias_lambda = 3.0, c.bias_reg = CF_REG_PLAIN;
            cf_model *m3 = NULL, *m4 = NULL;
            c.iters = 3;
            cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m3, NULL, &err), CF_OK, "%s", err.msg);
            c.iters = 4;
            cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m4, NULL, &err), CF_OK, "%s", err.msg);
            for (int threads = 1; threads <= 2; threads++) {
                cf_fold_in_options o;
                cf_fold_in_options_default(&o);
                o.threads = threads;
                cf_model *f = NULL;
                cf_fold_in_report rep;
                cr_assert_eq(cf_model_fold_in(m3, ds, &o, &f, &rep, &err), CF_OK, "%s", err.msg);
                cr_assert_eq(rep.rows, 300);
                cr_assert_eq(rep.rows_empty, 0);
                cr_assert_eq(rep.rows_new, 0);
                cr_assert_eq(rep.ratings, 6000);
                cr_assert_eq(rep.ratings_unknown, 0);
                cr_assert_eq(f->f.n_users, m4->f.n_users);
                for (int64_t u = 0; u < f->f.n_users; u++) {
                    size_t l1, l2;
                    const char *a = cf_idmap_name(f->users, (uint32_t)u, &l1), *b = cf_idmap_name(m4->users, (uint32_t)u, &l2);
                    cr_assert(l1 == l2 && memcmp(a, b, l1) == 0, "user row %lld: another ID", (long long)u);
                }
                cr_assert(memcmp(f->f.P, m4->f.P, sizeof(double) * (size_t)(f->f.n_users * 6)) == 0,
                          "P differs from ALS's next user half-step (bias %d, weighted %d, threads %d)", bias,
                          weighted, threads);
                cr_assert(memcmp(f->f.bu, m4->f.bu, sizeof(double) * (size_t)f->f.n_users) == 0, "b_u differs");
                cr_assert(memcmp(f->f.Q, m3->f.Q, sizeof(double) * (size_t)(f->f.n_items * 6)) == 0, "Q is m3's");
                cf_model_destroy(&f);
            }
            if (mode == 2) {
                /* another λ for the factors: the biases keep the model's Λb = 3 (plain), so each
                 * row's last normal equation, (n_u + 3) b_u = Σ_i (t_i − q_i·p_u), holds */
                cf_fold_in_options o;
                cf_fold_in_options_default(&o);
                o.lambda = 0.5;
                cf_model *f = NULL;
                cr_assert_eq(cf_model_fold_in(m3, ds, &o, &f, NULL, &err), CF_OK, "%s", err.msg);
                double *lhs = calloc((size_t)f->f.n_users, sizeof *lhs), *rhs = calloc((size_t)f->f.n_users, sizeof *rhs);
                cr_assert(lhs && rhs);
                int64_t *to = cf_idmap_translate(ds->items, f->items, &err, "test item map");
                cr_assert_not_null(to);
                for (int64_t t = 0; t < ds->all.n; t++) {
                    const int64_t u = ds->all.u[t], i = to[ds->all.i[t]]; /* f's users are ds's, in its order */
                    cr_assert_geq(i, 0);
                    double dot = 0;
                    for (int k = 0; k < 6; k++) dot += f->f.P[u * 6 + k] * f->f.Q[i * 6 + k];
                    rhs[u] += (double)ds->all.r[t] - f->f.mu - f->f.bi[i] - dot;
                    lhs[u] += f->f.bu[u];
                }
                for (int64_t u = 0; u < f->f.n_users; u++) {
                    lhs[u] += 3.0 * f->f.bu[u];
                    cr_assert(fabs(lhs[u] - rhs[u]) <= 1e-9 * (1 + fabs(rhs[u])), "user %lld: (n+Λb) b = %.17g, Σ = %.17g",
                              (long long)u, lhs[u], rhs[u]);
                }
                free(lhs), free(rhs), free(to);
                cf_model_destroy(&f);
            }
            cf_model_destroy(&m3), cf_model_destroy(&m4);
        }
    cf_dataset_destroy(&ds);
}

/* Under merge, a user of the ratings the model has gets its row replaced, a new one is
 * appended, one with no rating of a known item keeps its row; the rest stay. The hand
 * case's numbers: user "1" and the new "n" rate as "a" there (p = 5/6, b = 1/6); "2" rates
 * only the unknown "x". Without merge the same rows, alone. */
Test(fold_in, merge_replaces_appends_and_keeps) {
    const double Q[] = {1, 2}, bi[] = {0.5, -0.5};
    cf_model *m = model_of(3, 2, 1, 1, 3.0, Q, bi, 1.0, CF_REG_PLAIN);
    const double P0[] = {0.1, 0.2, 0.3}, bu0[] = {0.01, 0.02, 0.03};
    memcpy(m->f.P, P0, sizeof P0), memcpy(m->f.bu, bu0, sizeof bu0);
    const char *const u[] = {"1", "n", "1", "2", "n"}, *const it[] = {"0", "0", "1", "x", "1"};
    const float r[] = {4, 4, 5, 2, 5};
    cf_dataset *ds = dataset_str(u, it, r, 5);
    for (int merge = 0; merge <= 1; merge++)
        for (int threads = 1; threads <= 2; threads++) {
            cf_fold_in_options o;
            cf_fold_in_options_default(&o);
            o.threads = threads, o.merge = merge;
            cf_model *f = NULL;
            cf_fold_in_report rep;
            cf_error err = {0};
            cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, &rep, &err), CF_OK, "%s", err.msg);
            cr_assert(rep.rows == 3 && rep.rows_empty == 1 && rep.rows_new == 1 && rep.ratings == 4 &&
                      rep.ratings_unknown == 1);
            static const char *const merged[] = {"0", "1", "2", "n"}, *const alone[] = {"1", "n", "2"};
            const char *const *want = merge ? merged : alone;
            const int64_t n = merge ? 4 : 3;
            const double Pm[] = {0.1, 5.0 / 6, 0.3, 5.0 / 6}, bum[] = {0.01, 1.0 / 6, 0.03, 1.0 / 6};
            const double Pa[] = {5.0 / 6, 5.0 / 6, 0}, bua[] = {1.0 / 6, 1.0 / 6, 0};
            cr_assert_eq(f->f.n_users, n);
            cr_assert_eq(f->f.n_items, 2);
            for (int64_t k = 0; k < n; k++) {
                size_t len;
                const char *id = cf_idmap_name(f->users, (uint32_t)k, &len);
                cr_assert(len == strlen(want[k]) && memcmp(id, want[k], len) == 0, "row %lld (merge %d)",
                          (long long)k, merge);
                cr_assert_float_eq(f->f.P[k], (merge ? Pm : Pa)[k], 1e-14, "P row %lld (merge %d)", (long long)k,
                                   merge);
                cr_assert_float_eq(f->f.bu[k], (merge ? bum : bua)[k], 1e-14, "b_u row %lld (merge %d)",
                                   (long long)k, merge);
            }
            cr_assert(f->f.Q[1] == 2.0 && f->f.bi[1] == -0.5 && f->f.mu == 3.0);
            /* rating counts: m has none, so neither has its fold-in */
            cr_assert(!f->n_ratings[0] && !f->n_ratings[1]);
            cf_model_destroy(&f);
        }
    /* with counts (users 7, 8, 9; items 10, 11): a solved row's are its ratings of known
     * items ("1" and "n" two each, "2" none), a kept row (merge: "0", and "2", which had
     * nothing to solve from) keeps m's, the items keep theirs */
    int64_t *cu = malloc(3 * sizeof *cu), *ci = malloc(2 * sizeof *ci);
    cr_assert(cu && ci);
    cu[0] = 7, cu[1] = 8, cu[2] = 9, ci[0] = 10, ci[1] = 11;
    m->n_ratings[0] = cu, m->n_ratings[1] = ci;
    for (int merge = 0; merge <= 1; merge++) {
        cf_fold_in_options o;
        cf_fold_in_options_default(&o);
        o.merge = merge;
        cf_model *f = NULL;
        cf_error err = {0};
        cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, NULL, &err), CF_OK, "%s", err.msg);
        const int64_t wm[] = {7, 2, 9, 2}, wa[] = {2, 2, 0}; /* rows "0" "1" "2" "n" / "1" "n" "2" */
        for (int64_t k = 0; k < f->f.n_users; k++)
            cr_assert_eq(f->n_ratings[0][k], (merge ? wm : wa)[k], "user row %lld (merge %d)", (long long)k, merge);
        cr_assert(f->n_ratings[1][0] == 10 && f->n_ratings[1][1] == 11, "items keep theirs (merge %d)", merge);
        cf_model_destroy(&f);
    }
    cr_assert(memcmp(m->f.P, P0, sizeof P0) == 0 && memcmp(m->f.bu, bu0, sizeof bu0) == 0, "m is not changed");
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

/* With items the roles swap: the hand case transposed. Users "0", "1" with p = (1, 2),
 * b_u = (0.5, -0.5), μ = 3; new item "a" rated 4 by "0" and 5 by "1" (and 3 by "zz", whom
 * the model does not know): q_a = 5/6, b_a = 1/6 as p_a was. Item "b", rated only by "zz",
 * gets zeros. Merged: the model's item "0" first, its row kept. */
Test(fold_in, items_hand_case) {
    const double Q[] = {0.7};
    cf_model *m = model_of(2, 1, 1, 1, 3.0, Q, (const double[]){0.07}, 1.0, CF_REG_PLAIN);
    m->f.P[0] = 1, m->f.P[1] = 2, m->f.bu[0] = 0.5, m->f.bu[1] = -0.5;
    const char *const u[] = {"0", "zz", "1", "zz"}, *const it[] = {"a", "a", "a", "b"};
    const float r[] = {4, 3, 5, 1};
    cf_dataset *ds = dataset_str(u, it, r, 4);
    for (int merge = 0; merge <= 1; merge++) {
        cf_fold_in_options o;
        cf_fold_in_options_default(&o);
        o.items = 1, o.merge = merge;
        cf_model *f = NULL;
        cf_fold_in_report rep;
        cf_error err = {0};
        cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, &rep, &err), CF_OK, "%s", err.msg);
        cr_assert(rep.rows == 2 && rep.rows_empty == 1 && rep.rows_new == 2 && rep.ratings == 2 &&
                  rep.ratings_unknown == 2);
        const int64_t a = merge ? 1 : 0; /* item "a"'s row */
        cr_assert_eq(f->f.n_items, merge ? 3 : 2);
        cr_assert_eq(f->f.n_users, 2);
        cr_assert(f->f.P[1] == 2.0 && f->f.bu[1] == -0.5, "the users are the model's");
        cr_assert_float_eq(f->f.Q[a], 5.0 / 6, 1e-14);
        cr_assert_float_eq(f->f.bi[a], 1.0 / 6, 1e-14);
        cr_assert(f->f.Q[a + 1] == 0 && f->f.bi[a + 1] == 0, "item b: zeros");
        if (merge) cr_assert(f->f.Q[0] == 0.7 && f->f.bi[0] == 0.07, "item 0 kept");
        double pred;
        cr_assert_eq(cf_model_predict(f, "1", "a", &pred, &err), CF_OK, "%s", err.msg);
        cr_assert_float_eq(pred, 3.0 - 0.5 + 1.0 / 6 + 2 * 5.0 / 6, 1e-13);
        cr_assert_eq(cf_model_predict(f, "1", "0", &pred, &err), merge ? CF_OK : CF_ERR_NOT_FOUND);
        cf_model_destroy(&f);
    }
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

/* The users folded in (merged) and then the items (merged) from the training ratings is
 * one whole ALS iteration: the model trained N + 1 iterations, bit for bit. */
Test(fold_in, users_then_items_is_one_als_iteration) {
    cf_dataset *ds = cf_test_generate(300, 200, 6000, 4, 0.3, 12, 1);
    cf_error err = {0};
    for (int bias = 0; bias <= 2; bias++) { /* off, on, on with plain biases of their own */
        cf_config c;
        cf_config_default(&c);
        c.algo = CF_ALGO_ALS, c.factors = 5, c.bias = bias > 0, c.device = CF_DEVICE_CPU;
        c.precision = CF_PRECISION_FP64, c.threads = 2, c.reg = CF_REG_WEIGHTED, c.lambda = 0.05;
        if (bias == 2) c.bias_lambda = 3.0, c.bias_reg = CF_REG_PLAIN;
        cf_model *m2 = NULL, *m3 = NULL, *fu = NULL, *fi = NULL;
        c.iters = 2;
        cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m2, NULL, &err), CF_OK, "%s", err.msg);
        c.iters = 3;
        cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m3, NULL, &err), CF_OK, "%s", err.msg);
        cf_fold_in_options o;
        cf_fold_in_options_default(&o);
        o.merge = 1;
        cr_assert_eq(cf_model_fold_in(m2, ds, &o, &fu, NULL, &err), CF_OK, "%s", err.msg);
        o.items = 1;
        cf_fold_in_report rep;
        cr_assert_eq(cf_model_fold_in(fu, ds, &o, &fi, &rep, &err), CF_OK, "%s", err.msg);
        cr_assert(rep.rows == 200 && rep.rows_new == 0 && rep.ratings == 6000);
        const cf_factors *a = &fi->f, *b = &m3->f;
        cr_assert(a->n_users == b->n_users && a->n_items == b->n_items);
        cr_assert(memcmp(a->P, b->P, sizeof(double) * (size_t)(a->n_users * 5)) == 0, "P (bias %d)", bias);
        cr_assert(memcmp(a->bu, b->bu, sizeof(double) * (size_t)a->n_users) == 0, "b_u (bias %d)", bias);
        cr_assert(memcmp(a->Q, b->Q, sizeof(double) * (size_t)(a->n_items * 5)) == 0, "Q (bias %d)", bias);
        cr_assert(memcmp(a->bi, b->bi, sizeof(double) * (size_t)a->n_items) == 0, "b_i (bias %d)", bias);
        /* the rating counts: each row's training ratings (all of ds), counted here, which the
         * fold-in from those ratings gives again */
        for (int sd = 0; sd < 2; sd++) {
            const cf_idmap *dmap = sd ? ds->items : ds->users, *mmap = sd ? m3->items : m3->users;
            const uint32_t *key = sd ? ds->all.i : ds->all.u;
            const int64_t nd = cf_idmap_size(dmap), nm = cf_idmap_size(mmap);
            int64_t *want = calloc((size_t)nd, sizeof *want);
            cr_assert_not_null(want);
            for (int64_t t = 0; t < ds->all.n; t++) want[key[t]]++;
            for (int64_t r = 0; r < nm; r++) {
                size_t len;
                const char *id = cf_idmap_name(mmap, (uint32_t)r, &len);
                const int64_t d = cf_idmap_find(dmap, id, len);
                cr_assert(d >= 0 && m3->n_ratings[sd][r] == want[d], "side %d row %lld: %lld ratings, counted %lld",
                          sd, (long long)r, (long long)m3->n_ratings[sd][r], (long long)want[d]);
                cr_assert_eq(fi->n_ratings[sd][r], m3->n_ratings[sd][r], "fold-in's count, side %d row %lld", sd,
                             (long long)r);
            }
            free(want);
        }
        cf_model_destroy(&m2), cf_model_destroy(&m3), cf_model_destroy(&fu), cf_model_destroy(&fi);
    }
    cf_dataset_destroy(&ds);
}

static double urand(uint64_t *s) {
    return (double)(cf_splitmix64(s) >> 11) * 0x1.0p-53;
}

/* Random models (K 1..9, biases on and off), random users with ratings of known and
 * unknown items, λ and scheme given in the options: each row x solves
 * (Σ z zᵀ + Λ I) x = Σ t z, A and the right side formed here from the definitions, to a
 * residual of 1e-12 relative (double precision on a system with Λ ≥ 0.1: condition
 * numbers of a few hundred at most, so rounding leaves ~1e-14). */
Test(fold_in, rows_solve_the_normal_equations) {
    uint64_t s = 5;
    for (int trial = 0; trial < 12; trial++) {
        const int K = 1 + trial % 9, bias = trial % 2, ni = 30, nu = 20;
        double *Q = malloc(sizeof(double) * (size_t)(ni * K)), bi[30];
        for (int k = 0; k < ni * K; k++) Q[k] = urand(&s) - 0.5;
        for (int k = 0; k < ni; k++) bi[k] = urand(&s) - 0.5;
        cf_model *m = model_of(5, ni, K, bias, 3.2, Q, bi, 0.1, CF_REG_WEIGHTED);
        /* users "u0".."u19": 0..25 ratings each, items "0".."34" (30..34 unknown) */
        enum { CAP = 20 * 26 };
        char ubuf[CAP][8], ibuf[CAP][8];
        const char *us[CAP], *is[CAP];
        float rs[CAP];
        int64_t n = 0;
        for (int u = 0; u < nu; u++) {
            const int cnt = (int)(urand(&s) * 26);
            for (int k = 0; k < cnt; k++) {
                snprintf(ubuf[n], 8, "u%d", u);
                snprintf(ibuf[n], 8, "%d", (int)(urand(&s) * 35));
                us[n] = ubuf[n], is[n] = ibuf[n];
                rs[n] = (float)(1 + 4 * urand(&s));
                n++;
            }
        }
        cf_dataset *ds = dataset_str(us, is, rs, n);
        cf_fold_in_options o;
        cf_fold_in_options_default(&o);
        o.lambda = 0.1 + urand(&s), o.reg = trial % 3 == 0 ? CF_REG_PLAIN : CF_REG_WEIGHTED;
        cf_model *f = NULL;
        cf_error err = {0};
        cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, NULL, &err), CF_OK, "%s", err.msg);
        const int d = K + bias;
        for (int64_t u = 0; u < f->f.n_users; u++) {
            double A[100] = {0}, rhs[10] = {0}, x[10], z[10];
            for (int k = 0; k < K; k++) x[k] = f->f.P[u * K + k];
            if (bias) x[K] = f->f.bu[u];
            int64_t cnt = 0;
            for (int64_t t = 0; t < ds->all.n; t++) {
                if (ds->all.u[t] != u) continue;
                size_t len;
                const char *id = cf_idmap_name(ds->items, ds->all.i[t], &len);
                const int64_t i = cf_idmap_find(m->items, id, len);
                if (i < 0) continue;
                cnt++;
                for (int k = 0; k < K; k++) z[k] = Q[i * K + k];
                if (bias) z[K] = 1.0;
                const double tt = bias ? ds->all.r[t] - 3.2 - bi[i] : ds->all.r[t];
                for (int a = 0; a < d; a++) {
                    rhs[a] += tt * z[a];
                    for (int b = 0; b < d; b++) A[a * d + b] += z[a] * z[b];
                }
            }
            if (cnt == 0) {
                for (int a = 0; a < d; a++) cr_assert_eq(x[a], 0.0, "a user without known items: zeros");
                continue;
            }
            const double lam = o.reg == CF_REG_PLAIN ? o.lambda : o.lambda * (double)cnt;
            double res = 0, an = 0, xn = 0, bn = 0;
            for (int a = 0; a < d; a++) {
                double ax = lam * x[a];
                for (int b = 0; b < d; b++) ax += A[a * d + b] * x[b], an += A[a * d + b] * A[a * d + b];
                res += (ax - rhs[a]) * (ax - rhs[a]), xn += x[a] * x[a], bn += rhs[a] * rhs[a];
            }
            an = sqrt(an) + lam * sqrt((double)d);
            cr_assert_leq(sqrt(res), 1e-12 * (an * sqrt(xn) + sqrt(bn)), "trial %d user %lld: residual %g", trial,
                          (long long)u, sqrt(res));
        }
        cf_model_destroy(&f), cf_model_destroy(&m);
        cf_dataset_destroy(&ds);
        free(Q);
    }
}

/* K = 2 without biases, λ = 0: a user whose one item has q = (1, 0) has A = [[1, 0], [0, 0]],
 * singular; the error names the user. */
Test(fold_in, singular_system_names_the_user) {
    const double Q[] = {1, 0, 0, 1};
    cf_model *m = model_of(1, 2, 2, 0, 0.0, Q, NULL, 0.0, CF_REG_PLAIN);
    const char *const u[] = {"ok", "ok", "solo"}, *const it[] = {"0", "1", "0"};
    const float r[] = {1, 2, 3};
    cf_dataset *ds = dataset_str(u, it, r, 3);
    cf_model *f = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_model_fold_in(m, ds, NULL, &f, NULL, &err), CF_ERR_NUMERIC);
    cr_assert_null(f);
    cr_assert(strstr(err.msg, "user 'solo' (1 ratings of known items)") && strstr(err.msg, "larger lambda"), "%s",
              err.msg);
    cr_assert_null(strstr(err.msg, "λ_b"), "no biases, no note of theirs: %s", err.msg);
    cf_model_destroy(&m);
    /* with biases regularized apart (λ 0 plain on the factors, λ_b 5 plain on the bias):
     * A = z zᵀ + diag(0, 0, 5), z = (1, 0, 1), has a zero row; fold-in and explain name
     * the biases' regularization beside λ, as the ALS messages do */
    cf_factors fb;
    cr_assert_eq(cf_factors_alloc(&fb, 1, 2, 2, 1, &err), CF_OK);
    memcpy(fb.Q, Q, sizeof Q);
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = 2, cfg.lambda = 0.0, cfg.reg = CF_REG_PLAIN, cfg.bias_lambda = 5.0, cfg.bias_reg = CF_REG_PLAIN;
    m = cf_model_wrap(&fb, cf_test_decimal_map(1), cf_test_decimal_map(2), &cfg);
    cr_assert_not_null(m);
    cr_assert_eq(cf_model_fold_in(m, ds, NULL, &f, NULL, &err), CF_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "user 'solo'") && strstr(err.msg, "(λ = 0, plain, λ_b = 5 with --bias-reg plain)"), "%s",
              err.msg);
    cf_explain_term t[2];
    int32_t got;
    cf_explanation ex;
    cr_assert_eq(cf_model_explain(m, ds, NULL, "solo", "1", 2, t, &got, &ex, &err), CF_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "explain: ") && strstr(err.msg, "(λ = 0, plain, λ_b = 5 with --bias-reg plain)"), "%s",
              err.msg);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

static int stop_at_start(const char *phase, int64_t done, int64_t total, void *user) {
    (void)done, (void)total;
    cr_assert_str_eq(phase, "fold-in");
    ++*(int *)user;
    return 1;
}

Test(fold_in, cancel_and_bad_arguments) {
    const double Q[] = {1, 2};
    cf_model *m = model_of(1, 2, 1, 1, 3.0, Q, NULL, 0.1, CF_REG_MEAN);
    const char *const u[] = {"a"}, *const it[] = {"0"};
    const float r[] = {4};
    cf_dataset *ds = dataset_str(u, it, r, 1);
    cf_fold_in_options o;
    cf_fold_in_options_default(&o);
    cf_model *f = NULL;
    cf_error err = {0};
    /* the model's scheme is mean: the fold-in needs its own */
    cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "'mean'") && strstr(err.msg, "'plain'"), "%s", err.msg);
    o.reg = CF_REG_PLAIN;
    int calls = 0;
    o.progress = stop_at_start, o.progress_user = &calls;
    cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, NULL, &err), CF_ERR_INTERRUPTED);
    cr_assert_eq(calls, 1);
    cr_assert_null(f);
    o.progress = NULL;
    cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, NULL, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&f);
    const struct {
        double lambda;
        int reg, threads, items, merge;
        const char *msg;
    } bad[] = {
        {-1, 0, 0, 0, 0, "lambda -1"}, {INFINITY, 0, 0, 0, 0, "lambda inf"}, {0.1, 3, 0, 0, 0, "reg 3"},
        {0.1, -2, 0, 0, 0, "reg -2"},  {0.1, 0, -1, 0, 0, "threads -1"},      {0.1, 0, 0, 2, 0, "items 2"},
        {0.1, 0, 0, 0, -1, "merge -1"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        o.lambda = bad[k].lambda, o.reg = bad[k].reg, o.threads = bad[k].threads;
        o.items = bad[k].items, o.merge = bad[k].merge;
        cr_assert_eq(cf_model_fold_in(m, ds, &o, &f, NULL, &err), CF_ERR_INVALID, "%s", bad[k].msg);
        cr_assert(strstr(err.msg, bad[k].msg), "%s: %s", bad[k].msg, err.msg);
        cr_assert_null(f);
    }
    /* no ratings: a model of no users */
    cf_dataset *empty = NULL;
    cr_assert_eq(cf_dataset_new(&empty, &err), CF_OK);
    cf_fold_in_report rep;
    o.lambda = NAN, o.reg = CF_REG_PLAIN, o.threads = 0, o.items = o.merge = 0;
    cr_assert_eq(cf_model_fold_in(m, empty, &o, &f, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert(rep.rows == 0 && rep.ratings == 0 && f && f->f.n_users == 0 && f->f.n_items == 2);
    cf_model_destroy(&f);
    cf_dataset_destroy(&empty);
    cr_assert_eq(cf_model_fold_in(NULL, ds, NULL, &f, NULL, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_model_fold_in(m, NULL, NULL, &f, NULL, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_model_fold_in(m, ds, NULL, NULL, NULL, &err), CF_ERR_INVALID);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

/* The hand case: A = [[6, 3], [3, 3]], A⁻¹ = [[3, -3], [-3, 6]] / 9. Item "1" (z = (2, 1)):
 * w = A⁻¹ z = (1/3, 0); item 0's term t_0 · z_0·w = 0.5 · 1/3 = 1/6, item 1's 2.5 · 2/3 = 5/3;
 * their sum 11/6 = z_1·x = 2·5/6 + 1/6, and the score μ + b_1 + 11/6 = 2.5 + 11/6. */
Test(explain, hand_case) {
    const double Q[] = {1, 2}, bi[] = {0.5, -0.5};
    const char *const u[] = {"a", "a", "a", "b"}, *const it[] = {"0", "x", "1", "x"};
    const float r[] = {4, 3, 5, 2};
    cf_dataset *ds = dataset_str(u, it, r, 4);
    cf_model *m = model_of(3, 2, 1, 1, 3.0, Q, bi, 1.0, CF_REG_PLAIN);
    cf_explain_term t[3];
    int32_t got = -1;
    cf_explanation ex;
    cf_error err = {0};
    cr_assert_eq(cf_model_explain(m, ds, NULL, "a", "1", 3, t, &got, &ex, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(got, 2);
    cr_assert_eq(ex.ratings, 2);
    cr_assert_eq(ex.base, 2.5);
    cr_assert_float_eq(ex.score, 2.5 + 11.0 / 6, 1e-13);
    cr_assert_str_eq(t[0].item, "1");
    cr_assert_eq(t[0].rating, 5.0);
    cr_assert_float_eq(t[0].contribution, 5.0 / 3, 1e-14);
    cr_assert_str_eq(t[1].item, "0");
    cr_assert_float_eq(t[1].contribution, 1.0 / 6, 1e-14);
    /* n = 1: the largest term only */
    cr_assert_eq(cf_model_explain(m, ds, NULL, "a", "1", 1, t, &got, &ex, &err), CF_OK);
    cr_assert(got == 1 && strcmp(t[0].item, "1") == 0);
    /* "b" rated no known item: the base alone */
    cr_assert_eq(cf_model_explain(m, ds, NULL, "b", "0", 3, t, &got, &ex, &err), CF_OK);
    cr_assert(got == 0 && ex.ratings == 0 && ex.score == 3.5 && ex.base == 3.5);
    /* unknown user, unknown item, bad arguments */
    cr_assert_eq(cf_model_explain(m, ds, NULL, "zz", "0", 3, t, &got, &ex, &err), CF_ERR_NOT_FOUND);
    cr_assert(strstr(err.msg, "user 'zz'"), "%s", err.msg);
    cr_assert_eq(cf_model_explain(m, ds, NULL, "a", "x", 3, t, &got, &ex, &err), CF_ERR_NOT_FOUND);
    cr_assert(strstr(err.msg, "item ID 'x'"), "%s", err.msg);
    cr_assert_eq(cf_model_explain(m, ds, NULL, "a", "0", -1, t, &got, &ex, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_model_explain(m, ds, NULL, "a", "0", 3, NULL, &got, &ex, &err), CF_ERR_INVALID);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

/* Random models and users: every term equals t_j · z_jᵀ A⁻¹ z_i with A⁻¹ z_i by Gaussian
 * elimination here (1e-10 relative to the largest term: both double precision on systems
 * with Λ ≥ 0.1), the terms are sorted, their sum is score − base (1e-11 · the sum of their
 * magnitudes), and the score is the fold-in model's prediction bit for bit. */
Test(explain, terms_are_the_linear_split_of_the_score) {
    uint64_t s = 17;
    for (int trial = 0; trial < 10; trial++) {
        const int K = 1 + trial % 9, bias = trial % 2, ni = 25, d = K + bias;
        double *Q = malloc(sizeof(double) * (size_t)(ni * K)), bi[25];
        for (int k = 0; k < ni * K; k++) Q[k] = urand(&s) - 0.5;
        for (int k = 0; k < ni; k++) bi[k] = urand(&s) - 0.5;
        cf_model *m = model_of(2, ni, K, bias, 3.4, Q, bi, 0.1 + urand(&s), trial % 3 ? CF_REG_WEIGHTED : CF_REG_PLAIN);
        char ib[12][8];
        const char *us[12], *is[12];
        float rs[12];
        for (int k = 0; k < 12; k++) {
            snprintf(ib[k], 8, "%d", (k * 7 + trial) % 27); /* 25, 26: unknown items */
            us[k] = "u", is[k] = ib[k], rs[k] = (float)(1 + 4 * urand(&s));
        }
        cf_dataset *ds = dataset_str(us, is, rs, 12);
        cf_model *f = NULL;
        cf_error err = {0};
        cr_assert_eq(cf_model_fold_in(m, ds, NULL, &f, NULL, &err), CF_OK, "%s", err.msg);
        for (int target = 0; target < ni; target += 6) {
            char tid[8];
            snprintf(tid, sizeof tid, "%d", target);
            cf_explain_term t[12];
            int32_t got;
            cf_explanation ex;
            cr_assert_eq(cf_model_explain(m, ds, NULL, "u", tid, 12, t, &got, &ex, &err), CF_OK, "%s", err.msg);
            double want_score;
            cr_assert_eq(cf_model_predict(f, "u", tid, &want_score, &err), CF_OK);
            cr_assert_eq(ex.score, want_score, "trial %d item %d: score %.17g, fold-in model %.17g", trial, target,
                         ex.score, want_score);
            cr_assert_eq(ex.base, bias ? 3.4 + bi[target] : 0.0);
            cr_assert_eq(got, (int32_t)ex.ratings);
            /* A and A⁻¹ z_i the plain way */
            double A[100] = {0}, w[10];
            const double lam = trial % 3 ? cf_model_config(m)->lambda * (double)ex.ratings : cf_model_config(m)->lambda;
            for (int64_t j = 0; j < ds->all.n; j++) {
                size_t len;
                const char *id = cf_idmap_name(ds->items, ds->all.i[j], &len);
                const int64_t row = cf_idmap_find(m->items, id, len);
                if (row < 0) continue;
                double z[10];
                for (int k = 0; k < K; k++) z[k] = Q[row * K + k];
                if (bias) z[K] = 1;
                for (int a = 0; a < d; a++)
                    for (int b = 0; b < d; b++) A[a * d + b] += z[a] * z[b];
            }
            for (int a = 0; a < d; a++) A[a * d + a] += lam;
            for (int k = 0; k < K; k++) w[k] = Q[target * K + k];
            if (bias) w[K] = 1;
            cf_test_gauss_solve(A, w, d);
            double sum = 0, mag = 0, big = 0;
            for (int32_t j = 0; j < got; j++) big = fmax(big, fabs(t[j].contribution));
            for (int32_t j = 0; j < got; j++) {
                const int64_t row = cf_idmap_find(m->items, t[j].item, strlen(t[j].item));
                double zw = bias ? w[K] : 0;
                for (int k = 0; k < K; k++) zw += Q[row * K + k] * w[k];
                const double tj = bias ? t[j].rating - 3.4 - bi[row] : t[j].rating;
                cr_assert(fabs(t[j].contribution - tj * zw) <= 1e-10 * big, "trial %d item %d term %d: %.17g vs %.17g",
                          trial, target, (int)j, t[j].contribution, tj * zw);
                if (j) cr_assert_geq(t[j - 1].contribution, t[j].contribution);
                sum += t[j].contribution, mag += fabs(t[j].contribution);
            }
            cr_assert(fabs(sum - (ex.score - ex.base)) <= 1e-11 * (mag + 1), "trial %d: terms sum %.17g, score - base %.17g",
                      trial, sum, ex.score - ex.base);
        }
        cf_model_destroy(&f), cf_model_destroy(&m);
        cf_dataset_destroy(&ds);
        free(Q);
    }
}
