/*
 * test_api.c — the array interface for bindings (cufactor.h, "arrays"): datasets from
 * arrays against the reader on the same ratings, the ID and parameter copies, batched
 * predict against cf_model_predict_or_mean pair by pair, batched recommend against a
 * reference that scores every item and sorts, similar items against every cosine, and
 * cf_config_set / cf_config_get.
 */
#include <criterion/criterion.h>

#include "cufactor.h"
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CF_TEST_SUITE_WITH_TMPDIR(api, 120);

/* ------------------------------------------------------------------ fixtures */

/* n ratings of a small random set with repeated pairs, users and items in no order */
typedef struct triples {
    int64_t n;
    int64_t *u, *i;
    float *r;
} triples;

static triples make_triples(int64_t n, int n_users, int n_items, uint64_t seed) {
    triples t = {n, malloc((size_t)n * sizeof(int64_t)), malloc((size_t)n * sizeof(int64_t)),
                 malloc((size_t)n * sizeof(float))};
    uint64_t s = seed;
    for (int64_t k = 0; k < n; k++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        t.u[k] = (int64_t)((s >> 33) % (uint64_t)n_users) * 7 - 20; /* negative IDs too */
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        t.i[k] = (int64_t)((s >> 33) % (uint64_t)n_items) * 13 + 1000;
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        t.r[k] = 1.0f + (float)((s >> 33) % 9) * 0.5f;
    }
    return t;
}

static void free_triples(triples *t) {
    free(t->u), free(t->i), free(t->r);
}

static cf_ids int_ids(int64_t n, const int64_t *v) {
    return (cf_ids){.n = n, .ints = v};
}

static char *write_triples(const triples *t) {
    char *path = cf_test_path(dir, "ratings.tsv");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int64_t k = 0; k < t->n; k++) fprintf(f, "%lld\t%lld\t%.1f\n", (long long)t->u[k], (long long)t->i[k], t->r[k]);
    fclose(f);
    return path;
}

static cf_model *train(const cf_dataset *ds, int iters) {
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = 4;
    cfg.iters = iters;
    cfg.device = CF_DEVICE_CPU;
    cfg.threads = 2;
    cf_model *m = NULL;
    cf_error err = {0};
    cf_status st = cf_train(ds, &cfg, NULL, NULL, &m, NULL, &err);
    cr_assert_eq(st, CF_OK, "%s", err.msg);
    return m;
}

/* every rating of a part and both ID maps, as the public API shows them */
static void assert_same_dataset(const cf_dataset *a, const cf_dataset *b) {
    cf_dataset_info ia, ib;
    cf_dataset_info_get(a, &ia);
    cf_dataset_info_get(b, &ib);
    cr_assert_eq(ia.n_users, ib.n_users);
    cr_assert_eq(ia.n_items, ib.n_items);
    cr_assert_eq(ia.n_train, ib.n_train);
    cr_assert_eq(ia.n_test, ib.n_test);
    for (int side = 0; side < 2; side++) {
        int64_t n = side ? ia.n_items : ia.n_users;
        size_t ba = 0, bb = 0;
        cr_assert_eq(cf_dataset_ids(a, (cf_which)side, NULL, 0, NULL, &ba, NULL), CF_OK);
        cr_assert_eq(cf_dataset_ids(b, (cf_which)side, NULL, 0, NULL, &bb, NULL), CF_OK);
        cr_assert_eq(ba, bb);
        char *ca = malloc(ba + 1), *cb = malloc(bb + 1);
        int64_t *oa = malloc((size_t)(n + 1) * sizeof *oa), *ob = malloc((size_t)(n + 1) * sizeof *ob);
        cr_assert_eq(cf_dataset_ids(a, (cf_which)side, ca, ba, oa, &ba, NULL), CF_OK);
        cr_assert_eq(cf_dataset_ids(b, (cf_which)side, cb, bb, ob, &bb, NULL), CF_OK);
        cr_assert(memcmp(ca, cb, ba) == 0 && memcmp(oa, ob, (size_t)(n + 1) * sizeof *oa) == 0,
                  "the %s maps differ", side ? "item" : "user");
        free(ca), free(cb), free(oa), free(ob);
    }
    for (int part = 0; part < 2; part++) {
        int64_t n = part ? ia.n_test : ia.n_train;
        int64_t *ua = malloc((size_t)(n + 1) * 8), *ub = malloc((size_t)(n + 1) * 8);
        int64_t *ja = malloc((size_t)(n + 1) * 8), *jb = malloc((size_t)(n + 1) * 8);
        float *ra = malloc((size_t)(n + 1) * 4), *rb = malloc((size_t)(n + 1) * 4);
        cr_assert_eq(cf_dataset_ratings(a, part, ua, ja, ra, NULL), CF_OK);
        cr_assert_eq(cf_dataset_ratings(b, part, ub, jb, rb, NULL), CF_OK);
        for (int64_t k = 0; k < n; k++)
            cr_assert(ua[k] == ub[k] && ja[k] == jb[k] && ra[k] == rb[k],
                      "part %d rating %lld: (%lld, %lld, %g) against (%lld, %lld, %g)", part, (long long)k,
                      (long long)ua[k], (long long)ja[k], ra[k], (long long)ub[k], (long long)jb[k], rb[k]);
        free(ua), free(ub), free(ja), free(jb), free(ra), free(rb);
    }
}

/* ------------------------------------------------------------------ datasets */

Test(api, arrays_make_the_readers_dataset_and_the_same_model) {
    /* 3000 draws over 60 × 40 pairs: about half the pairs repeat, in no order */
    triples t = make_triples(3000, 60, 40, 7);
    char *path = write_triples(&t);
    cf_dataset *file = NULL, *arr = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_dataset_read(path, NULL, &file, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_new(&arr, &err), CF_OK);
    cf_ids u = int_ids(t.n, t.u), i = int_ids(t.n, t.i);
    cr_assert_eq(cf_dataset_add(arr, &u, &i, t.r, 0, &err), CF_OK, "%s", err.msg);
    assert_same_dataset(file, arr);

    /* the same dataset trains the same model, bit for bit on the CPU */
    cf_model *mf = train(file, 3), *ma = train(arr, 3);
    cf_model_info info;
    cf_model_info_get(mf, &info);
    size_t np = (size_t)(info.n_users * info.factors), nq = (size_t)(info.n_items * info.factors);
    double *pf = malloc(np * 8), *pa = malloc(np * 8), *qf = malloc(nq * 8), *qa = malloc(nq * 8);
    cf_model_params(mf, pf, qf, NULL, NULL);
    cf_model_params(ma, pa, qa, NULL, NULL);
    cr_assert(memcmp(pf, pa, np * 8) == 0 && memcmp(qf, qa, nq * 8) == 0, "the factors differ");
    free(pf), free(pa), free(qf), free(qa);
    cf_model_destroy(&mf), cf_model_destroy(&ma);

    /* a test part added to both: the reader's cf_dataset_read_test and part 1 */
    triples t2 = make_triples(500, 80, 50, 99);
    char *p2 = write_triples(&t2);
    cr_assert_eq(cf_dataset_read_test(file, p2, NULL, NULL, &err), CF_OK, "%s", err.msg);
    cf_ids u2 = int_ids(t2.n, t2.u), i2 = int_ids(t2.n, t2.i);
    cr_assert_eq(cf_dataset_add(arr, &u2, &i2, t2.r, 1, &err), CF_OK, "%s", err.msg);
    assert_same_dataset(file, arr);

    /* the file's IDs declared first, then its ratings in another order (the dataset's
     * own, sorted): the same dataset again */
    cf_dataset *re = NULL;
    cr_assert_eq(cf_dataset_new(&re, &err), CF_OK);
    cf_dataset_info fi;
    cf_dataset_info_get(file, &fi);
    for (int side = 0; side < 2; side++) {
        int64_t n = side ? fi.n_items : fi.n_users, *ids = malloc((size_t)n * 8);
        cr_assert_eq(cf_dataset_ids_int(file, (cf_which)side, ids, &err), CF_OK, "%s", err.msg);
        cf_ids d = int_ids(n, ids);
        cr_assert_eq(cf_dataset_add_ids(re, (cf_which)side, &d, &err), CF_OK, "%s", err.msg);
        free(ids);
    }
    for (int part = 0; part < 2; part++) {
        int64_t n = part ? fi.n_test : fi.n_train;
        int64_t *ur = malloc((size_t)n * 8), *ir = malloc((size_t)n * 8), *uid = malloc((size_t)fi.n_users * 8),
                *iid = malloc((size_t)fi.n_items * 8);
        float *rr = malloc((size_t)n * 4);
        cr_assert_eq(cf_dataset_ratings(file, part, ur, ir, rr, &err), CF_OK);
        cr_assert_eq(cf_dataset_ids_int(file, CF_USERS, uid, &err), CF_OK);
        cr_assert_eq(cf_dataset_ids_int(file, CF_ITEMS, iid, &err), CF_OK);
        for (int64_t k = 0; k < n; k++) ur[k] = uid[ur[k]], ir[k] = iid[ir[k]];
        cf_ids du = int_ids(n, ur), di = int_ids(n, ir);
        cr_assert_eq(cf_dataset_add(re, &du, &di, rr, part, &err), CF_OK, "%s", err.msg);
        free(ur), free(ir), free(rr), free(uid), free(iid);
    }
    assert_same_dataset(file, re);
    cf_dataset_destroy(&re);

    cf_dataset_destroy(&file), cf_dataset_destroy(&arr);
    free(path), free(p2);
    free_triples(&t), free_triples(&t2);
}

Test(api, string_ids_last_duplicate_kept) {
    const char chars[] = "alicebobalice" "xyx";
    int64_t uo[] = {0, 5, 8, 13}, io[] = {0, 1, 2, 3};
    cf_ids u = {.n = 3, .chars = chars, .offsets = uo}, i = {.n = 3, .chars = chars + 13, .offsets = io};
    float r[] = {1, 2, 4}; /* (alice, x) twice: 4 is kept */
    cf_dataset *ds = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_dataset_new(&ds, &err), CF_OK);
    cr_assert_eq(cf_dataset_add(ds, &u, &i, r, 0, &err), CF_OK, "%s", err.msg);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_train, 2);
    cr_assert_eq(info.n_users, 2);
    cr_assert_eq(info.n_items, 2);
    int64_t uu[2], ii[2];
    float rr[2];
    cr_assert_eq(cf_dataset_ratings(ds, 0, uu, ii, rr, &err), CF_OK);
    /* sorted by (user, item): alice-x 4, bob-y 2 */
    cr_assert(uu[0] == 0 && ii[0] == 0 && rr[0] == 4.0f);
    cr_assert(uu[1] == 1 && ii[1] == 1 && rr[1] == 2.0f);
    /* string IDs are not integers */
    int64_t ints[2];
    cr_assert_eq(cf_dataset_ids_int(ds, CF_USERS, ints, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "'alice'"), "%s", err.msg);
    cf_dataset_destroy(&ds);
}

Test(api, bad_arrays_named) {
    cf_dataset *ds = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_dataset_new(&ds, &err), CF_OK);
    int64_t a[] = {1, 2, 3}, b[] = {4, 5};
    float r[] = {1, NAN, 3};
    cf_ids u = int_ids(3, a), i = int_ids(2, b), i3 = int_ids(3, a);
    cr_assert_eq(cf_dataset_add(ds, &u, &i, r, 0, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "items: 2 IDs, expected 3"), "%s", err.msg);
    cr_assert_eq(cf_dataset_add(ds, &u, &i3, r, 0, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "ratings[1]: not finite"), "%s", err.msg);
    cr_assert_eq(cf_dataset_add(ds, &u, &i3, r, 2, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "part: 2"), "%s", err.msg);
    int64_t off[] = {0, 1, 1};
    cf_ids s = {.n = 2, .chars = "ab", .offsets = off};
    float r2[] = {1, 2};
    cf_ids i2 = int_ids(2, b);
    cr_assert_eq(cf_dataset_add(ds, &s, &i2, r2, 0, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "users[1]: empty ID"), "%s", err.msg);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_train, 0, "a failed add left ratings");
    cf_dataset_destroy(&ds);
}

Test(api, integer_ids_only_in_decimal_form) {
    int64_t off[] = {0, 2, 5};
    cf_ids s = {.n = 2, .chars = "17007", .offsets = off}; /* "17", "007" */
    int64_t items[] = {1, 2};
    cf_ids i = int_ids(2, items);
    float r[] = {1, 2};
    cf_dataset *ds = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_dataset_new(&ds, &err), CF_OK);
    cr_assert_eq(cf_dataset_add(ds, &s, &i, r, 0, &err), CF_OK, "%s", err.msg);
    int64_t out[2];
    cr_assert_eq(cf_dataset_ids_int(ds, CF_USERS, out, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "'007'"), "%s", err.msg);
    cr_assert_eq(cf_dataset_ids_int(ds, CF_ITEMS, out, &err), CF_OK, "%s", err.msg);
    cr_assert(out[0] == 1 && out[1] == 2);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ model */

/* a trained model on make_triples(2000, 50, 30) and its dataset */
static cf_model *fixture_model(cf_dataset **ds_out, triples *t) {
    *t = make_triples(2000, 50, 30, 3);
    cf_dataset *ds = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_dataset_new(&ds, &err), CF_OK);
    cf_ids u = int_ids(t->n, t->u), i = int_ids(t->n, t->i);
    cr_assert_eq(cf_dataset_add(ds, &u, &i, t->r, 0, &err), CF_OK, "%s", err.msg);
    *ds_out = ds;
    return train(ds, 2);
}

Test(api, params_and_ids_give_the_predictions) {
    triples t;
    cf_dataset *ds;
    cf_model *m = fixture_model(&ds, &t);
    cf_model_info info;
    cf_model_info_get(m, &info);
    int64_t nu = info.n_users, ni = info.n_items, k = info.factors;
    double *P = malloc((size_t)(nu * k) * 8), *Q = malloc((size_t)(ni * k) * 8);
    double *bu = malloc((size_t)nu * 8), *bi = malloc((size_t)ni * 8);
    int64_t *uid = malloc((size_t)nu * 8), *iid = malloc((size_t)ni * 8);
    cf_model_params(m, P, Q, bu, bi);
    cf_error err = {0};
    cr_assert_eq(cf_model_ids_int(m, CF_USERS, uid, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_ids_int(m, CF_ITEMS, iid, &err), CF_OK, "%s", err.msg);
    /* r̂ = μ + b_u + b_i + p·q from the copies, in cf_predict's order of summation: equal */
    for (int64_t u = 0; u < nu; u += 7)
        for (int64_t i = 0; i < ni; i += 3) {
            double dot = 0;
            for (int64_t j = 0; j < k; j++) dot += P[u * k + j] * Q[i * k + j];
            char su[24], si[24];
            snprintf(su, sizeof su, "%lld", (long long)uid[u]);
            snprintf(si, sizeof si, "%lld", (long long)iid[i]);
            double want;
            cr_assert_eq(cf_model_predict(m, su, si, &want, &err), CF_OK, "%s", err.msg);
            cr_assert_eq(info.mu + bu[u] + bi[i] + dot, want, "user row %lld item row %lld", (long long)u,
                         (long long)i);
        }
    free(P), free(Q), free(bu), free(bi), free(uid), free(iid);
    cf_model_destroy(&m), cf_dataset_destroy(&ds), free_triples(&t);
}

Test(api, predict_batch_is_predict_or_mean_per_pair) {
    triples t;
    cf_dataset *ds;
    cf_model *m = fixture_model(&ds, &t);
    /* known pairs plus unknown users (-999) and items (5) mixed in */
    enum { N = 300 };
    int64_t us[N], is[N];
    for (int k = 0; k < N; k++) {
        us[k] = k % 17 == 0 ? -999 : t.u[k];
        is[k] = k % 23 == 0 ? 5 : t.i[(k * 7) % t.n];
    }
    cf_ids u = int_ids(N, us), i = int_ids(N, is);
    double out[N];
    uint8_t unseen[N];
    cf_error err = {0};
    cr_assert_eq(cf_model_predict_batch(m, &u, &i, CF_UNKNOWN_MEAN, out, unseen, &err), CF_OK, "%s", err.msg);
    int n_unseen = 0;
    for (int k = 0; k < N; k++) {
        char su[24], si[24];
        snprintf(su, sizeof su, "%lld", (long long)us[k]);
        snprintf(si, sizeof si, "%lld", (long long)is[k]);
        double want;
        int un;
        cr_assert_eq(cf_model_predict_or_mean(m, su, si, &want, &un, &err), CF_OK);
        cr_assert_eq(out[k], want, "pair %d", k);
        cr_assert_eq(unseen[k], un, "pair %d", k);
        n_unseen += un;
    }
    cr_assert_gt(n_unseen, 20, "the fixture has unknown IDs");
    cr_assert_eq(cf_model_predict_batch(m, &u, &i, CF_UNKNOWN_ERROR, out, NULL, &err), CF_ERR_NOT_FOUND);
    cr_assert_str_eq(err.msg, "pair 0: unknown user ID '-999'");
    us[0] = t.u[0];
    cr_assert_eq(cf_model_predict_batch(m, &u, &i, CF_UNKNOWN_ERROR, out, NULL, &err), CF_ERR_NOT_FOUND);
    cr_assert_str_eq(err.msg, "pair 0: unknown item ID '5'");
    cf_model_destroy(&m), cf_dataset_destroy(&ds), free_triples(&t);
}

/* The reference recommendation: every item scored with cf_model_predict_or_mean, the
 * ones the user rated in ds dropped, sorted by score (higher first, lower row on ties). */
typedef struct scored {
    double s;
    int64_t row;
} scored;
static int by_rank(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}
static int64_t reference_top(const cf_model *m, const int64_t *iid, int64_t ni, int64_t user, const triples *seen,
                             scored *out) {
    int64_t c = 0;
    for (int64_t i = 0; i < ni; i++) {
        int rated = 0;
        for (int64_t k = 0; seen && k < seen->n && !rated; k++) rated = seen->u[k] == user && seen->i[k] == iid[i];
        if (rated) continue;
        char su[24], si[24];
        snprintf(su, sizeof su, "%lld", (long long)user);
        snprintf(si, sizeof si, "%lld", (long long)iid[i]);
        cr_assert_eq(cf_model_predict_or_mean(m, su, si, &out[c].s, NULL, NULL), CF_OK);
        out[c++].row = i;
    }
    qsort(out, (size_t)c, sizeof *out, by_rank);
    return c;
}

Test(api, recommend_batch_against_sorting_every_item) {
    triples t;
    cf_dataset *ds;
    cf_model *m = fixture_model(&ds, &t);
    cf_model_info info;
    cf_model_info_get(m, &info);
    int64_t ni = info.n_items;
    int64_t *iid = malloc((size_t)ni * 8);
    cr_assert_eq(cf_model_ids_int(m, CF_ITEMS, iid, NULL), CF_OK);
    /* N > items a user has left: the rows are padded; 37 users: groups of 16 scored
     * together (cf_model_topn), the last one short, unknown users inside two of them */
    enum { NQ = 37, N = 40 };
    int64_t users[NQ];
    for (int k = 0; k < NQ; k++) users[k] = k == 5 || k == 20 ? 123456 + k : t.u[k * 53];
    cf_ids u = int_ids(NQ, users);
    int64_t items1[NQ * N], items2[NQ * N];
    double scores1[NQ * N], scores2[NQ * N];
    int32_t counts[NQ];
    cf_error err = {0};
    /* the same ratings added in two halves: two sorted ranges, not sorted by user as a
     * whole (the exclusion's other path) */
    cf_dataset *halves = NULL;
    cr_assert_eq(cf_dataset_new(&halves, &err), CF_OK);
    const int64_t h = t.n / 2;
    cf_ids u1 = int_ids(h, t.u), i1 = int_ids(h, t.i), u2 = int_ids(t.n - h, t.u + h), i2 = int_ids(t.n - h, t.i + h);
    cr_assert_eq(cf_dataset_add(halves, &u1, &i1, t.r, 0, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_add(halves, &u2, &i2, t.r + h, 0, &err), CF_OK, "%s", err.msg);
    for (int excl = 0; excl < 3; excl++) {
        const cf_dataset *ex = excl == 0 ? NULL : excl == 1 ? ds : halves;
        cr_assert_eq(cf_model_recommend_batch(m, &u, N, ex, CF_UNKNOWN_MEAN, 1, items1, scores1, counts, &err), CF_OK,
                     "%s", err.msg);
        cr_assert_eq(cf_model_recommend_batch(m, &u, N, ex, CF_UNKNOWN_MEAN, 3, items2, scores2, NULL, &err), CF_OK,
                     "%s", err.msg);
        cr_assert(memcmp(items1, items2, sizeof items1) == 0, "the thread count changed the result");
        scored *ref = malloc((size_t)ni * sizeof *ref);
        for (int q = 0; q < NQ; q++) {
            int64_t c = reference_top(m, iid, ni, users[q], ex ? &t : NULL, ref);
            int64_t want = c < N ? c : N;
            cr_assert_eq(counts[q], want, "user %lld: %d items, expected %lld", (long long)users[q], counts[q],
                         (long long)want);
            for (int j = 0; j < N; j++) {
                if (j < want) {
                    cr_assert_eq(items1[q * N + j], ref[j].row, "user %lld rank %d", (long long)users[q], j);
                    cr_assert_eq(scores1[q * N + j], ref[j].s, "user %lld rank %d", (long long)users[q], j);
                } else {
                    cr_assert(items1[q * N + j] == -1 && isnan(scores1[q * N + j]), "padding at rank %d", j);
                }
            }
        }
        free(ref);
    }
    cr_assert_eq(cf_model_recommend_batch(m, &u, N, NULL, CF_UNKNOWN_ERROR, 0, items1, scores1, NULL, &err),
                 CF_ERR_NOT_FOUND);
    cr_assert_str_eq(err.msg, "users 5: unknown user ID '123461'");
    cr_assert_eq(cf_model_recommend_batch(m, &u, 0, NULL, CF_UNKNOWN_MEAN, 0, items1, scores1, NULL, &err),
                 CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "n: 0"), "%s", err.msg);
    free(iid);
    cf_model_destroy(&m), cf_dataset_destroy(&ds), cf_dataset_destroy(&halves), free_triples(&t);
}

/* cf_model_similar_items against every pair's cosine computed here: the unit rows
 * q_i·(1/‖q_i‖) and their dot products in k order give the library's doubles bit for bit
 * (its scoring is cf_predict's chain); the textbook q_i·q_j/(‖q_i‖‖q_j‖) within 1e-12. */
Test(api, similar_items_against_every_cosine) {
    triples t;
    cf_dataset *ds;
    cf_model *m = fixture_model(&ds, &t);
    cf_model_info info;
    cf_model_info_get(m, &info);
    const int64_t ni = info.n_items, K = info.factors;
    int64_t *iid = malloc((size_t)ni * 8);
    double *Q = malloc((size_t)(ni * K) * sizeof *Q), *U = malloc((size_t)(ni * K) * sizeof *U);
    cr_assert_eq(cf_model_ids_int(m, CF_ITEMS, iid, NULL), CF_OK);
    cf_model_params(m, NULL, Q, NULL, NULL);
    for (int64_t i = 0; i < ni; i++) {
        double ss = 0;
        for (int64_t d = 0; d < K; d++) ss += Q[i * K + d] * Q[i * K + d];
        for (int64_t d = 0; d < K; d++) U[i * K + d] = Q[i * K + d] * (1.0 / sqrt(ss));
    }
    enum { NQ = 19, N = 35 }; /* N > ni - 1: padded rows; 19 queries: a short group of 16 */
    int64_t query[NQ], out1[NQ * N], out2[NQ * N];
    double sc1[NQ * N], sc2[NQ * N];
    int32_t counts[NQ];
    for (int q = 0; q < NQ; q++) query[q] = iid[(q * 7) % ni];
    cf_ids ids = int_ids(NQ, query);
    cf_error err = {0};
    cr_assert_eq(cf_model_similar_items(m, &ids, N, 1, out1, sc1, counts, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_similar_items(m, &ids, N, 2, out2, sc2, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert(memcmp(out1, out2, sizeof out1) == 0 && memcmp(sc1, sc2, sizeof sc1) == 0, "1 and 2 threads differ");
    scored *ref = malloc((size_t)ni * sizeof *ref);
    for (int q = 0; q < NQ; q++) {
        const int64_t a = (q * 7) % ni;
        int64_t c = 0;
        for (int64_t j = 0; j < ni; j++) {
            if (j == a) continue;
            double dot = 0, qq = 0, aa = 0, jj = 0;
            for (int64_t d = 0; d < K; d++) dot += U[a * K + d] * U[j * K + d];
            for (int64_t d = 0; d < K; d++)
                qq += Q[a * K + d] * Q[j * K + d], aa += Q[a * K + d] * Q[a * K + d], jj += Q[j * K + d] * Q[j * K + d];
            cr_assert(fabs(dot - qq / sqrt(aa * jj)) <= 1e-12, "cosine %.17g vs %.17g", dot, qq / sqrt(aa * jj));
            ref[c].s = dot, ref[c++].row = j;
        }
        qsort(ref, (size_t)c, sizeof *ref, by_rank);
        cr_assert_eq(counts[q], ni - 1, "every other item is a candidate");
        for (int j = 0; j < N; j++) {
            if (j < ni - 1) {
                cr_assert_eq(out1[q * N + j], ref[j].row, "query %d rank %d", q, j);
                cr_assert_eq(sc1[q * N + j], ref[j].s, "query %d rank %d", q, j);
            } else {
                cr_assert(out1[q * N + j] == -1 && isnan(sc1[q * N + j]), "padding at rank %d", j);
            }
        }
    }
    const int64_t bad[2] = {iid[0], 99999};
    cf_ids b = int_ids(2, bad);
    cr_assert_eq(cf_model_similar_items(m, &b, 3, 0, out1, sc1, NULL, &err), CF_ERR_NOT_FOUND);
    cr_assert_str_eq(err.msg, "items 1: unknown item ID '99999'");
    cr_assert_eq(cf_model_similar_items(m, &ids, 0, 0, out1, sc1, NULL, &err), CF_ERR_INVALID);
    free(ref), free(iid), free(Q), free(U);
    cf_model_destroy(&m), cf_dataset_destroy(&ds), free_triples(&t);
}

/* ------------------------------------------------------------------ config by name */

Test(api, config_set_get_round_trip) {
    cf_config *c = cf_config_new();
    cr_assert_not_null(c);
    cf_error err = {0};
    static const char *const set[][2] = {
        {"algo", "sgd"},     {"factors", "17"},   {"iters", "3"},        {"lambda", "0.25"},  {"reg", "plain"},
        {"bias", "0"},       {"seed", "18446744073709551615"},            {"lr", "0.125"},     {"schedule", "blocks"},
        {"lr-schedule", "invscale"},              {"optimizer", "adam"}, {"batch", "123456789012"},
        {"precision", "fp16"}, {"device", "cpu"}, {"als-solver", "fused"}, {"gpu-mem-limit", "1048576"},
        {"als-gram", "tc"}, {"bias-lambda", "2.5"}, {"bias-reg", "plain"},
    };
    for (size_t k = 0; k < sizeof set / sizeof *set; k++) {
        cr_assert_eq(cf_config_set(c, set[k][0], set[k][1], &err), CF_OK, "%s", err.msg);
        char buf[64];
        cr_assert_eq(cf_config_get(c, set[k][0], buf, sizeof buf, &err), CF_OK);
        cr_assert_str_eq(buf, set[k][1], "field %s", set[k][0]);
    }
    cr_assert_eq(c->algo, CF_ALGO_SGD);
    cr_assert_eq(c->factors, 17);
    cr_assert_eq(c->lambda, 0.25);
    cr_assert_eq(c->bias, 0);
    cr_assert_eq(c->seed, UINT64_MAX);
    cr_assert_eq(c->schedule, CF_SCHED_BLOCKS);
    cr_assert_eq(c->batch, 123456789012LL);
    cr_assert_eq(c->als_gram, CF_ALS_GRAM_TC);
    cr_assert_eq(cf_config_set(c, "als-gram", "wmma", &err), CF_ERR_INVALID);
    cr_assert_str_eq(err.msg, "als-gram: 'wmma' is not one of simt, tc");
    cr_assert_eq(cf_config_set(c, "factors", "12x", &err), CF_ERR_INVALID);
    cr_assert_str_eq(err.msg, "factors: '12x' is not a 32-bit integer");
    cr_assert_eq(cf_config_set(c, "factors", "4294967296", &err), CF_ERR_INVALID);
    cr_assert_eq(cf_config_set(c, "lambda", "nan", &err), CF_ERR_INVALID);
    cr_assert_eq(cf_config_set(c, "algo", "svd", &err), CF_ERR_INVALID);
    cr_assert_str_eq(err.msg, "algo: 'svd' is not one of als, sgd, gd, minibatch, alsgd, ccd");
    cr_assert_eq(cf_config_set(c, "schedule", "random", &err), CF_ERR_INVALID);
    cr_assert_str_eq(err.msg, "schedule: 'random' is not one of shuffle, blocks, hogwild");
    cr_assert_eq(cf_config_set(c, "bias", "2", &err), CF_ERR_INVALID);
    cr_assert_eq(cf_config_set(c, "seed", "-1", &err), CF_ERR_INVALID);
    cr_assert_eq(cf_config_set(c, "colour", "1", &err), CF_ERR_INVALID);
    cr_assert_str_eq(err.msg, "unknown configuration field 'colour'");
    cf_config_destroy(&c);
    cr_assert_null(c);
}

/* cf_config_field lists the 26 documented names once each, and a configuration with every
 * one of them off its default, copied into a default one field by field through
 * cf_config_get / cf_config_set, is the same bytes (values round-trip exactly;
 * cf_config_default zeroes padding). */
Test(api, config_fields_list_every_field) {
    cf_config *a = cf_config_new(), *b = cf_config_new();
    cr_assert(a && b);
    cf_error err = {0};
    static const char *const set[][2] = {
        {"algo", "ccd"}, {"factors", "17"}, {"iters", "3"}, {"lambda", "0.25"}, {"reg", "mean"}, {"bias", "0"},
        {"tol", "1e-05"}, {"seed", "99"}, {"threads", "3"}, {"init-scale", "0.5"}, {"device", "gpu"},
        {"gpu-id", "2"}, {"gpu-mem-limit", "1048576"}, {"lr", "0.125"}, {"lr-schedule", "invscale"},
        {"lr-decay", "0.3"}, {"schedule", "hogwild"}, {"blocks", "7"}, {"batch", "12345"}, {"optimizer", "adam"},
        {"inner", "4"}, {"early-stop", "2"}, {"restarts", "3"}, {"precision", "fp16"}, {"als-solver", "fused"},
        {"als-gram", "tc"}, {"bias-lambda", "2.5"}, {"bias-reg", "plain"},
    };
    for (size_t k = 0; k < sizeof set / sizeof *set; k++)
        cr_assert_eq(cf_config_set(a, set[k][0], set[k][1], &err), CF_OK, "%s", err.msg);
    int n = 0;
    for (const char *name; (name = cf_config_field(n)) != NULL; n++) {
        char buf[64];
        cr_assert_eq(cf_config_get(a, name, buf, sizeof buf, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(cf_config_set(b, name, buf, &err), CF_OK, "%s: %s", name, err.msg);
        for (int k = 0; k < n; k++) cr_assert_str_neq(cf_config_field(k), name, "listed twice");
    }
    cr_assert_eq(n, (int)(sizeof set / sizeof *set));
    cr_assert(memcmp(a, b, sizeof *a) == 0, "a value did not round-trip through get and set");
    cr_assert_null(cf_config_field(-1));
    /* the biases' defaults read "same" and set back to it (NaN, CF_REG_SAME) */
    cf_config *d = cf_config_new();
    char buf[64];
    cr_assert(d && cf_config_get(d, "bias-lambda", buf, sizeof buf, &err) == CF_OK && !strcmp(buf, "same"), "%s", buf);
    cr_assert(cf_config_get(d, "bias-reg", buf, sizeof buf, &err) == CF_OK && !strcmp(buf, "same"), "%s", buf);
    cr_assert_eq(cf_config_set(a, "bias-lambda", "same", &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_config_set(a, "bias-reg", "same", &err), CF_OK, "%s", err.msg);
    cr_assert(isnan(a->bias_lambda) && a->bias_reg == CF_REG_SAME);
    cr_assert_eq(cf_config_set(a, "reg", "same", &err), CF_ERR_INVALID, "reg itself has no 'same'");
    cr_assert_eq(cf_config_set(a, "bias-lambda", "x", &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "a finite number or 'same'"), "%s", err.msg);
    cf_config_destroy(&d);
    cf_config_destroy(&a), cf_config_destroy(&b);
}

Test(api, struct_sizes) {
    cr_assert_eq(cf_struct_size("cf_train_report"), sizeof(cf_train_report));
    cr_assert_eq(cf_struct_size("cf_iter_info"), sizeof(cf_iter_info));
    cr_assert_eq(cf_struct_size("cf_nothing"), 0);
}
