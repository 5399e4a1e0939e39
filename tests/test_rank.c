/*
 * test_rank.c — the ranking measures of cf_model_rank_evaluate (cufactor.h, src/rank.c).
 *
 * A hand case whose lists and measures are worked out below from the numbers, every
 * counter of the report included; a seeded random case against a reference written
 * here the plain way (every item scored with cf_predict, sorted, the exclusions skipped,
 * each measure from its definition) at several n, thresholds and thread counts, also
 * through one dataset split in two parts (cf_model_rank_evaluate_split); the report the
 * same bit for bit for 1 and 2 threads and for batches of 7 users; cancelling; bad arguments.
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

/* K = 1, no biases: r̂(u, i) = P[u]·Q[i]. */
static cf_model *model_k1(const double *P, int64_t nu, const double *Q, int64_t ni) {
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, nu, ni, 1, 0, &err), CF_OK);
    memcpy(f.P, P, (size_t)nu * sizeof *P);
    memcpy(f.Q, Q, (size_t)ni * sizeof *Q);
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = 1;
    cfg.bias = 0;
    cf_model *m = cf_model_wrap(&f, cf_test_decimal_map(nu), cf_test_decimal_map(ni), &cfg);
    cr_assert_not_null(m);
    return m;
}

static cf_dataset *dataset_of(const int64_t *u, const int64_t *i, const float *r, int64_t n) {
    cf_dataset *ds;
    cf_error err;
    cr_assert_eq(cf_dataset_new(&ds, &err), CF_OK);
    const cf_ids U = {.n = n, .ints = u}, I = {.n = n, .ints = i};
    if (n) cr_assert_eq(cf_dataset_add(ds, &U, &I, r, 0, &err), CF_OK, "%s", err.msg);
    return ds;
}

#define NEAR(x, want) cr_assert_float_eq((x), (want), 1e-12, "%s = %.15g, want %.15g", #x, (double)(x), (double)(want))

/* Users 0, 1, 3 of the model, items 0..4, r̂ = P[u]·Q[i] with Q = (5, 4, 3, 2, 1):
 * user 0 (P 1) ranks 0 1 2 3 4, user 1 (P -1) 4 3 2 1 0, user 3 (P 0.5) as user 0.
 * exclude: 0 rated item 0; 1 and 3 rated item 2 → popularity counts i2 2, i0 1, others 0:
 * the baseline's order 2 0 1 3 4.
 * test (relevant: rating >= 4):
 *   user 0: i1 5, i3 2, i4 5, i0 5 (in exclude: dropped, relevant_excluded 1), i9 4 (the
 *           model has no item 9: stays in R, relevant_unknown 1) → R = {1, 4, 9}, |R| 3
 *   user 1: i0 4, i2 1 → R = {0}
 *   user 2: i1 5 → the model has no user 2 (users_unknown 1)
 *   user 3: i1 3 → no relevant rating (users_no_relevant 1)
 * n = 2, m = min(2, |R|); D(j) = 1/log2(j + 2): D(0) = 1, D(1) = 1/log2 3.
 *   model: user 0 L = (1, 2): hit at 0 → P 1/2, R 1/3, NDCG 1/(1 + D1), AP (1/1)/2, hit 1
 *          user 1 L = (4, 3) (2 excluded): no hit → 0 everywhere
 *          coverage {1, 2, 4, 3} = 4/5
 *   popular: user 0 L = (2, 1) (0 excluded): hit at 1 → P 1/2, R 1/3, NDCG D1/(1 + D1),
 *            AP (1/2)/2; user 1 L = (0, 1) (2 excluded): hit at 0, m 1 → P 1/2, R 1, NDCG 1,
 *            AP 1; coverage {2, 1, 0} = 3/5 */
Test(rank, hand_case_every_measure_and_counter) {
    const double Q[] = {5, 4, 3, 2, 1};
    cf_factors f; /* users "0", "1", "3": user 2 is unknown */
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, 3, 5, 1, 0, &err), CF_OK);
    f.P[0] = 1, f.P[1] = -1, f.P[2] = 0.5;
    memcpy(f.Q, Q, sizeof Q);
    cf_idmap *users = cf_idmap_create();
    uint32_t idx;
    cr_assert_eq(cf_idmap_intern(users, "0", 1, &idx, NULL), 0);
    cr_assert_eq(cf_idmap_intern(users, "1", 1, &idx, NULL), 0);
    cr_assert_eq(cf_idmap_intern(users, "3", 1, &idx, NULL), 0);
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = 1, cfg.bias = 0;
    cf_model *m = cf_model_wrap(&f, users, cf_test_decimal_map(5), &cfg);
    cr_assert_not_null(m);

    const int64_t tu[] = {0, 0, 0, 0, 0, 1, 1, 2, 3}, ti[] = {1, 3, 4, 0, 9, 0, 2, 1, 1};
    const float tr[] = {5, 2, 5, 5, 4, 4, 1, 5, 3};
    const int64_t xu[] = {0, 1, 3}, xi[] = {0, 2, 2};
    const float xr[] = {3, 3, 3};
    cf_dataset *test = dataset_of(tu, ti, tr, 9), *ex = dataset_of(xu, xi, xr, 3);
    for (int threads = 1; threads <= 2; threads++) {
        cf_rank_report r;
        cr_assert_eq(cf_model_rank_evaluate(m, test, ex, 2, 4.0, threads, NULL, NULL, &r, &err), CF_OK, "%s",
                     err.msg);
        cr_assert_eq(r.n, 2);
        cr_assert_eq(r.users, 2);
        cr_assert_eq(r.users_unknown, 1);
        cr_assert_eq(r.users_no_relevant, 1);
        cr_assert_eq(r.relevant, 4);
        cr_assert_eq(r.relevant_unknown, 1);
        cr_assert_eq(r.relevant_excluded, 1);
        const double D1 = 1.0 / log2(3.0);
        NEAR(r.model.precision, (0.5 + 0) / 2);
        NEAR(r.model.recall, (1.0 / 3 + 0) / 2);
        NEAR(r.model.ndcg, (1 / (1 + D1) + 0) / 2);
        NEAR(r.model.map, (0.5 + 0) / 2);
        NEAR(r.model.hit_rate, 0.5);
        NEAR(r.model.coverage, 0.8);
        NEAR(r.popular.precision, (0.5 + 0.5) / 2);
        NEAR(r.popular.recall, (1.0 / 3 + 1) / 2);
        NEAR(r.popular.ndcg, (D1 / (1 + D1) + 1) / 2);
        NEAR(r.popular.map, (0.25 + 1) / 2);
        NEAR(r.popular.hit_rate, 1.0);
        NEAR(r.popular.coverage, 0.6);
        /* standard errors s/√U: of two users' values a, b that is |a − b|/2 */
        NEAR(r.model_se.precision, 0.25);
        NEAR(r.model_se.recall, 1.0 / 6);
        NEAR(r.model_se.ndcg, 1 / (1 + D1) / 2);
        NEAR(r.model_se.hit_rate, 0.5);
        NEAR(r.popular_se.precision, 0);
        NEAR(r.popular_se.recall, (1 - 1.0 / 3) / 2);
        NEAR(r.popular_se.map, (1 - 0.25) / 2);
        /* the paired difference model − popular per user: user 0 (0, 0, (1 − D1)/(1 + D1), 0.25, 0),
         * user 1 (−1/2, −1, −1, −1, −1) */
        NEAR(r.difference_se.precision, 0.25);
        NEAR(r.difference_se.recall, 0.5);
        NEAR(r.difference_se.ndcg, ((1 - D1) / (1 + D1) + 1) / 2);
        NEAR(r.difference_se.map, (0.25 + 1) / 2);
        NEAR(r.difference_se.hit_rate, 0.5);
        cr_assert(isnan(r.model_se.coverage) && isnan(r.difference_se.coverage), "coverage: no standard error");
    }
    /* without exclude: nothing dropped, no baseline; user 0's R = {0, 1, 4, 9}, L = (0, 1):
     * hits at 0 and 1 → P 1, R 1/2, NDCG 1, AP (1 + 1)/2; user 1 L = (4, 3): none */
    cf_rank_report r;
    cr_assert_eq(cf_model_rank_evaluate(m, test, NULL, 2, 4.0, 0, NULL, NULL, &r, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(r.relevant_excluded, 0);
    cr_assert_eq(r.relevant, 5);
    NEAR(r.model.precision, 0.5);
    NEAR(r.model.recall, 0.25);
    NEAR(r.model.ndcg, 0.5);
    NEAR(r.model.map, 0.5);
    cr_assert(isnan(r.popular.precision) && isnan(r.popular.coverage), "no baseline without exclude");
    cr_assert(isnan(r.popular_se.precision) && isnan(r.difference_se.ndcg), "no baseline: no errors of it");
    NEAR(r.model_se.precision, 0.5); /* users 0 and 1: precision 1 and 0 */
    /* every rating relevant (NaN): user 3 is evaluated too (R = {1}, L = (0, 1): hit at 1) */
    cr_assert_eq(cf_model_rank_evaluate(m, test, NULL, 2, NAN, 0, NULL, NULL, &r, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(r.users, 3);
    cr_assert_eq(r.users_no_relevant, 0);
    cr_assert_eq(r.relevant, 5 + 2 + 1);
    /* a pair in both parts of one dataset, read whole: the item counts once in R */
    cf_dataset *dup = dataset_of(tu + 5, ti + 5, tr + 5, 1);
    const cf_ids U = {.n = 1, .ints = tu + 5}, I = {.n = 1, .ints = ti + 5};
    cr_assert_eq(cf_dataset_add(dup, &U, &I, tr + 5, 1, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_rank_evaluate(m, dup, NULL, 2, NAN, 0, NULL, NULL, &r, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(r.users, 1);
    cr_assert_eq(r.relevant, 1, "user 1's item 0 once, not once per part");
    NEAR(r.model.recall, 0.0);
    cf_dataset_destroy(&dup);
    cf_dataset_destroy(&test), cf_dataset_destroy(&ex);
    cf_model_destroy(&m);
}

/* ------------------------------------------------------------------ the reference */

typedef struct ref_item {
    double score;
    int64_t item;
} ref_item;

static int ref_cmp(const void *a, const void *b) {
    const ref_item *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->item > y->item) - (x->item < y->item);
}

/* rated[u * ni + i]: 1 when exclude has (u, i); rel[u * (ni + extra) + i]: test rating of
 * (u, i) relevant. Users and items by integer ID = model row. */
static void reference(const cf_model *m, int64_t nu, int64_t ni, int64_t ni_test, const uint8_t *rated,
                      const uint8_t *rel, const int64_t *pop_count, int32_t n, cf_rank_report *want) {
    memset(want, 0, sizeof *want);
    want->n = n;
    double sum[2][5] = {{0}};
    uint8_t *cov[2] = {calloc((size_t)ni, 1), calloc((size_t)ni, 1)};
    ref_item *c = malloc((size_t)ni * sizeof *c);
    for (int64_t u = 0; u < nu; u++) {
        int64_t size = 0;
        for (int64_t i = 0; i < ni_test; i++)
            if (rel[u * ni_test + i]) {
                if (i < ni && rated && rated[u * ni + i]) want->relevant_excluded++;
                else size++;
            }
        if (size == 0) continue;
        want->users++, want->relevant += size;
        for (int64_t i = ni; i < ni_test; i++) want->relevant_unknown += rel[u * ni_test + i];
        for (int s = 0; s < (pop_count ? 2 : 1); s++) {
            int64_t k = 0;
            for (int64_t i = 0; i < ni; i++)
                if (!rated || !rated[u * ni + i])
                    c[k].item = i, c[k++].score = s ? (double)pop_count[i] : cf_predict(&m->f, (uint32_t)u, (uint32_t)i);
            qsort(c, (size_t)k, sizeof *c, ref_cmp);
            const int64_t len = k < n ? k : n, mm = size < n ? size : n;
            double h = 0, dcg = 0, ap = 0, idcg = 0;
            for (int64_t j = 0; j < len; j++) {
                cov[s][c[j].item] = 1;
                if (rel[u * ni_test + c[j].item]) h++, dcg += 1 / log2(j + 2.0), ap += h / (double)(j + 1);
            }
            for (int64_t j = 0; j < mm; j++) idcg += 1 / log2(j + 2.0);
            sum[s][0] += h / n, sum[s][1] += h / (double)size, sum[s][2] += dcg / idcg, sum[s][3] += ap / (double)mm;
            sum[s][4] += h > 0;
        }
    }
    cf_rank_metrics *out[2] = {&want->model, &want->popular};
    for (int s = 0; s < 2; s++) {
        const int have = want->users && (s == 0 || pop_count);
        double *o[] = {&out[s]->precision, &out[s]->recall, &out[s]->ndcg, &out[s]->map, &out[s]->hit_rate};
        for (int q = 0; q < 5; q++) *o[q] = have ? sum[s][q] / (double)want->users : NAN;
        int64_t covered = 0;
        for (int64_t i = 0; i < ni; i++) covered += cov[s][i];
        out[s]->coverage = have ? (double)covered / (double)ni : NAN;
    }
    free(cov[0]), free(cov[1]), free(c);
}

static void same_measures(const cf_rank_metrics *got, const cf_rank_metrics *want, const char *what) {
    const double *g = &got->precision, *w = &want->precision;
    static const char *names[] = {"precision", "recall", "ndcg", "map", "hit_rate", "coverage"};
    for (int q = 0; q < 6; q++) {
        if (isnan(w[q])) {
            cr_assert(isnan(g[q]), "%s %s: %g, want NaN", what, names[q], g[q]);
            continue;
        }
        /* the same sums of the same terms; only the order of the per-user sums may differ */
        cr_assert(fabs(g[q] - w[q]) <= 1e-12 * (1 + fabs(w[q])), "%s %s: %.17g, want %.17g", what, names[q], g[q],
                  w[q]);
    }
}

Test(rank, random_models_agree_with_the_plain_reference) {
    const int64_t nu = 70, ni = 45, extra = 3, ni_test = ni + extra, K = 4;
    cf_rng rng;
    cf_rng_seed(&rng, 20261206);
    for (int round = 0; round < 4; round++) {
        cf_factors f;
        cf_error err;
        cr_assert_eq(cf_factors_alloc(&f, nu, ni, (int32_t)K, 1, &err), CF_OK);
        for (int64_t k = 0; k < nu * K; k++) f.P[k] = cf_rng_normal(&rng);
        for (int64_t k = 0; k < ni * K; k++) f.Q[k] = cf_rng_normal(&rng);
        for (int64_t k = 0; k < nu; k++) f.bu[k] = 0.3 * cf_rng_normal(&rng);
        /* round 3: ties everywhere (integer scores), the lower item first */
        for (int64_t k = 0; k < ni; k++) f.bi[k] = round == 3 ? 0 : 0.3 * cf_rng_normal(&rng);
        if (round == 3)
            for (int64_t k = 0; k < ni * K; k++) f.Q[k] = (double)(k % 3), f.P[k % (nu * K)] = 1;
        f.mu = 3.5;
        cf_config cfg;
        cf_config_default(&cfg);
        cfg.factors = (int32_t)K;
        cf_model *m = cf_model_wrap(&f, cf_test_decimal_map(nu), cf_test_decimal_map(ni), &cfg);
        cr_assert_not_null(m);

        /* test: each (u, i) with probability 0.12, users up to nu + 2 (two unknown), items
         * up to ni_test; exclude: each known pair with probability 0.3, in a shuffled order
         * for odd rounds (the unsorted exclusion path) */
        int64_t *tu = malloc(sizeof(int64_t) * (size_t)((nu + 2) * ni_test)), *ti = malloc(sizeof(int64_t) * (size_t)((nu + 2) * ni_test));
        float *tr = malloc(sizeof(float) * (size_t)((nu + 2) * ni_test));
        int64_t *xu = malloc(sizeof(int64_t) * (size_t)(nu * ni)), *xi = malloc(sizeof(int64_t) * (size_t)(nu * ni));
        float *xr = malloc(sizeof(float) * (size_t)(nu * ni));
        uint8_t *rated = calloc((size_t)(nu * ni), 1);
        float *rating = calloc((size_t)(nu * ni_test), sizeof(float));
        int64_t nt = 0, nx = 0, *pop = calloc((size_t)ni, sizeof *pop);
        for (int64_t u = 0; u < nu + 2; u++)
            for (int64_t i = 0; i < ni_test; i++)
                if (cf_rng_uniform(&rng) < 0.12) {
                    tu[nt] = u, ti[nt] = i, tr[nt] = (float)(1 + cf_rng_below(&rng, 5));
                    if (u < nu) rating[u * ni_test + i] = tr[nt];
                    nt++;
                }
        for (int64_t u = 0; u < nu; u++)
            for (int64_t i = 0; i < ni; i++)
                if (cf_rng_uniform(&rng) < 0.3) xu[nx] = u, xi[nx] = i, xr[nx++] = 3, rated[u * ni + i] = 1, pop[i]++;
        if (round % 2)
            for (int64_t k = nx; k > 1; k--) {
                const int64_t j = (int64_t)cf_rng_below(&rng, (uint64_t)k);
                int64_t t = xu[k - 1];
                xu[k - 1] = xu[j], xu[j] = t;
                t = xi[k - 1], xi[k - 1] = xi[j], xi[j] = t;
            }
        cf_dataset *test = dataset_of(tu, ti, tr, nt), *ex = dataset_of(xu, xi, xr, nx);
        /* the same as one dataset split in two parts (exclude: training, test: test), as
         * cf_train sees a file and its --test file: cf_model_rank_evaluate_split */
        cf_dataset *both = dataset_of(xu, xi, xr, nx);
        const cf_ids U = {.n = nt, .ints = tu}, I = {.n = nt, .ints = ti};
        cr_assert_eq(cf_dataset_add(both, &U, &I, tr, 1, &err), CF_OK, "%s", err.msg);
        uint8_t *rel = calloc((size_t)(nu * ni_test), 1);
        const double mins[] = {NAN, 4.0, 5.0};
        const int32_t ns[] = {1, 5, 60};
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                for (int use_ex = 0; use_ex < 2; use_ex++) {
                    for (int64_t k = 0; k < nu * ni_test; k++)
                        rel[k] = rating[k] > 0 && (isnan(mins[a]) || rating[k] >= mins[a]);
                    cf_rank_report want, got, got2;
                    reference(m, nu, ni, ni_test, use_ex ? rated : NULL, rel, use_ex ? pop : NULL, ns[b], &want);
                    cr_assert_eq(cf_model_rank_evaluate(m, test, use_ex ? ex : NULL, ns[b], mins[a], 1, NULL, NULL, &got,
                                                        &err),
                                 CF_OK, "%s", err.msg);
                    cr_assert_eq(cf_model_rank_evaluate(m, test, use_ex ? ex : NULL, ns[b], mins[a], 2, NULL, NULL,
                                                        &got2, &err),
                                 CF_OK, "%s", err.msg);
                    cr_assert_eq(memcmp(&got, &got2, sizeof got), 0, "1 and 2 threads: the same report, bit for bit");
                    /* batches of 7 users (the automatic size takes them all at once here) */
                    cf_rank_report got7;
                    cr_assert_eq(cf_rank_parts(m, test, -1, use_ex ? ex : NULL, -1, ns[b], mins[a], 2, 7, NULL, NULL,
                                               &got7, &err),
                                 CF_OK, "%s", err.msg);
                    cr_assert_eq(memcmp(&got, &got7, sizeof got), 0, "batches of 7 users: the same report, bit for bit");
                    char what[96];
                    snprintf(what, sizeof what, "round %d min %g n %d exclude %d", round, mins[a], (int)ns[b], use_ex);
                    cr_assert_eq(got.users, want.users, "%s: users", what);
                    cr_assert_eq(got.users_unknown > 0, 1, "%s: the two users the model lacks", what);
                    cr_assert_eq(got.relevant, want.relevant, "%s: relevant", what);
                    cr_assert_eq(got.relevant_unknown, want.relevant_unknown, "%s: relevant_unknown", what);
                    cr_assert_eq(got.relevant_excluded, want.relevant_excluded, "%s: relevant_excluded", what);
                    same_measures(&got.model, &want.model, what);
                    same_measures(&got.popular, &want.popular, what);
                    if (!use_ex) continue;
                    cf_rank_report split;
                    cr_assert_eq(cf_model_rank_evaluate_split(m, both, ns[b], mins[a], 2, NULL, NULL, &split, &err),
                                 CF_OK, "%s", err.msg);
                    cr_assert_eq(split.users, want.users, "%s: split users", what);
                    cr_assert_eq(split.users_unknown, got.users_unknown, "%s: split users_unknown", what);
                    cr_assert_eq(split.users_no_relevant, got.users_no_relevant, "%s: split users_no_relevant", what);
                    cr_assert_eq(split.relevant, want.relevant, "%s: split relevant", what);
                    cr_assert_eq(split.relevant_unknown, want.relevant_unknown, "%s: split relevant_unknown", what);
                    cr_assert_eq(split.relevant_excluded, want.relevant_excluded, "%s: split relevant_excluded", what);
                    same_measures(&split.model, &want.model, what);
                    same_measures(&split.popular, &want.popular, what);
                }
        free(tu), free(ti), free(tr), free(xu), free(xi), free(xr), free(rated), free(rating), free(pop), free(rel);
        cf_dataset_destroy(&test), cf_dataset_destroy(&ex), cf_dataset_destroy(&both);
        cf_model_destroy(&m);
    }
}

/* The progress callback sees ("rank", 0, users) first and (users, users) last; a non-zero
 * answer stops with CF_ERR_INTERRUPTED and leaves the report alone. */
typedef struct calls {
    int64_t first_done, last_done, total, count, stop_at;
} calls;

static int on_progress(const char *phase, int64_t done, int64_t total, void *user) {
    calls *c = user;
    cr_assert_str_eq(phase, "rank");
    if (c->count++ == 0) c->first_done = done;
    c->last_done = done, c->total = total;
    return c->stop_at >= 0 && c->count > c->stop_at;
}

Test(rank, progress_and_cancel) {
    const double P[] = {1, 2, 3}, Q[] = {1, 2};
    cf_model *m = model_k1(P, 3, Q, 2);
    const int64_t tu[] = {0, 1, 2}, ti[] = {0, 1, 0};
    const float tr[] = {5, 5, 5};
    cf_dataset *test = dataset_of(tu, ti, tr, 3);
    cf_error err;
    cf_rank_report r;
    calls c = {.stop_at = -1};
    cr_assert_eq(cf_model_rank_evaluate(m, test, NULL, 1, NAN, 1, on_progress, &c, &r, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(c.first_done, 0);
    cr_assert_eq(c.last_done, 3);
    cr_assert_eq(c.total, 3);
    cf_rank_report untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    r = untouched;
    c = (calls){.stop_at = 0};
    cr_assert_eq(cf_model_rank_evaluate(m, test, NULL, 1, NAN, 1, on_progress, &c, &r, &err), CF_ERR_INTERRUPTED);
    cr_assert(strstr(err.msg, "cancelled after 0 of 3 users"), "%s", err.msg);
    cr_assert_eq(memcmp(&r, &untouched, sizeof r), 0, "a cancelled call leaves the report alone");
    cf_dataset_destroy(&test);
    cf_model_destroy(&m);
}

Test(rank, bad_arguments) {
    const double P[] = {1}, Q[] = {1};
    cf_model *m = model_k1(P, 1, Q, 1);
    const int64_t u[] = {0}, i[] = {0};
    const float r1[] = {5};
    cf_dataset *test = dataset_of(u, i, r1, 1);
    cf_error err;
    cf_rank_report r;
    cr_assert_eq(cf_model_rank_evaluate(m, test, NULL, 0, NAN, 0, NULL, NULL, &r, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "n: 0"), "%s", err.msg);
    cr_assert_eq(cf_model_rank_evaluate_split(m, test, 0, NAN, 0, NULL, NULL, &r, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_model_rank_evaluate(m, test, NULL, 1, NAN, -1, NULL, NULL, &r, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_model_rank_evaluate(m, test, NULL, 1, INFINITY, 0, NULL, NULL, &r, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_model_rank_evaluate(NULL, test, NULL, 1, NAN, 0, NULL, NULL, &r, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_model_rank_evaluate(m, NULL, NULL, 1, NAN, 0, NULL, NULL, &r, &err), CF_ERR_INVALID);
    /* an empty test set: nothing to evaluate, measures NaN */
    cf_dataset *empty = dataset_of(NULL, NULL, NULL, 0);
    cr_assert_eq(cf_model_rank_evaluate(m, empty, NULL, 1, NAN, 0, NULL, NULL, &r, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(r.users, 0);
    cr_assert(isnan(r.model.precision) && isnan(r.model.coverage));
    cf_dataset_destroy(&empty), cf_dataset_destroy(&test);
    cf_model_destroy(&m);
}
