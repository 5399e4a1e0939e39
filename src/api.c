/*
 * api.c — the array interface for bindings (cufactor.h, "arrays"): datasets from ID and
 * rating arrays, the IDs and parameters of a model copied out, batched predict and
 * recommend.
 *
 * cf_dataset_add makes what the reader makes from the same ratings in the same order:
 * IDs interned in order of first appearance, then cf_dataset_dedup on the added range
 * (last rating of a repeated pair kept, the range sorted by (user, item)). Integer IDs
 * are interned as their decimal form, the token a file holds.
 *
 * cf_model_recommend_batch (and cf_model_recommend, model.c, for its one user, through
 * cf_model_recommend_rows): the items each user rated in `exclude` are gathered once, as
 * a CSR of the call's users → model item rows (cf_exclusion_csr); then the users' top n are
 * cf_model_topn's (model.c), sixteen users scored together. cf_model_similar_items
 * ranks items by cosine through the same path (unit item rows as both sides).
 */
#include "common.h"
#include "dataset.h"
#include "model.h"
#include "ratings.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID_LEN 65535 /* cf_idmap's limit on a token, as in read_text.c */

/* ---------------------------------------------------------------- IDs */

/* The token of ID k of `ids`: into buf (decimal) for integers, else a pointer into chars. */
static const char *id_token(const cf_ids *ids, int64_t k, char buf[24], size_t *len) {
    if (ids->ints) {
        int n = snprintf(buf, 24, "%" PRId64, ids->ints[k]);
        *len = (size_t)n;
        return buf;
    }
    *len = (size_t)(ids->offsets[k + 1] - ids->offsets[k]);
    return ids->chars + ids->offsets[k];
}

/* Checks the shape of `ids` (named `what` in messages) for n entries. */
static cf_status check_ids(const cf_ids *ids, const char *what, int64_t n, cf_error *err) {
    if (!ids) return cf_fail(err, CF_ERR_INVALID, "%s: NULL", what);
    if (ids->n != n) return cf_fail(err, CF_ERR_INVALID, "%s: %" PRId64 " IDs, expected %" PRId64, what, ids->n, n);
    if (ids->n < 0) return cf_fail(err, CF_ERR_INVALID, "%s: negative count %" PRId64, what, ids->n);
    if (ids->ints) return CF_OK;
    if (!ids->offsets || (!ids->chars && ids->n > 0))
        return cf_fail(err, CF_ERR_INVALID, "%s: neither integer IDs nor string IDs (chars and offsets) given", what);
    if (ids->offsets[0] != 0) return cf_fail(err, CF_ERR_INVALID, "%s: offsets[0] = %" PRId64 ", must be 0", what, ids->offsets[0]);
    for (int64_t k = 0; k < ids->n; k++) {
        int64_t len = ids->offsets[k + 1] - ids->offsets[k];
        if (len < 0)
            return cf_fail(err, CF_ERR_INVALID, "%s: offsets decrease at %" PRId64 " (%" PRId64 " then %" PRId64 ")", what,
                           k, ids->offsets[k], ids->offsets[k + 1]);
        if (len == 0) return cf_fail(err, CF_ERR_INVALID, "%s[%" PRId64 "]: empty ID", what, k);
        if (len > MAX_ID_LEN)
            return cf_fail(err, CF_ERR_INVALID, "%s[%" PRId64 "]: ID longer than %d bytes (%" PRId64 ")", what, k,
                           MAX_ID_LEN, len);
    }
    return CF_OK;
}

static const cf_idmap *side_map(const cf_idmap *users, const cf_idmap *items, cf_which side) {
    return side == CF_ITEMS ? items : users;
}

static cf_status copy_ids(const cf_idmap *map, char *chars, size_t cap, int64_t *offsets, size_t *bytes,
                          cf_error *err) {
    int64_t n = cf_idmap_size(map);
    size_t total = 0;
    for (int64_t k = 0; k < n; k++) {
        size_t len;
        cf_idmap_name(map, (uint32_t)k, &len);
        total += len;
    }
    if (bytes) *bytes = total;
    if (!chars) return CF_OK;
    if (cap < total) return cf_fail(err, CF_ERR_INVALID, "IDs: %zu bytes of room for %zu bytes of IDs", cap, total);
    if (!offsets) return cf_fail(err, CF_ERR_INVALID, "IDs: offsets is NULL");
    size_t at = 0;
    offsets[0] = 0;
    for (int64_t k = 0; k < n; k++) {
        size_t len;
        const char *name = cf_idmap_name(map, (uint32_t)k, &len);
        memcpy(chars + at, name, len);
        at += len;
        offsets[k + 1] = (int64_t)at;
    }
    return CF_OK;
}

/* 1 when tok is the decimal form "%lld" prints for some int64 (stored in *v). */
static int canonical_int(const char *tok, size_t len, int64_t *v) {
    char buf[24], back[24];
    if (len == 0 || len > 20) return 0;
    memcpy(buf, tok, len);
    buf[len] = 0;
    if (!(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9'))) return 0;
    errno = 0;
    char *end = NULL;
    long long x = strtoll(buf, &end, 10);
    if (errno || *end) return 0;
    snprintf(back, sizeof back, "%lld", x);
    if (strcmp(back, buf) != 0) return 0;
    *v = (int64_t)x;
    return 1;
}

static cf_status ids_int(const cf_idmap *map, const char *what, int64_t *out, cf_error *err) {
    int64_t n = cf_idmap_size(map);
    for (int64_t k = 0; k < n; k++) {
        size_t len;
        const char *name = cf_idmap_name(map, (uint32_t)k, &len);
        if (!canonical_int(name, len, &out[k])) {
            char shown[CF_SHOW_CAP];
            return cf_fail(err, CF_ERR_INVALID, "%s ID %" PRId64 " '%s' is not an integer in decimal form", what, k,
                           cf_text_show(shown, sizeof shown, name, len));
        }
    }
    return CF_OK;
}

/* ---------------------------------------------------------------- dataset */

cf_status cf_dataset_new(cf_dataset **out, cf_error *err) {
    if (!out) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_new: out is NULL");
    *out = cf_dataset_create();
    if (!*out) return cf_fail(err, CF_ERR_NOMEM, "out of memory for an empty dataset");
    return CF_OK;
}

cf_status cf_dataset_add(cf_dataset *ds, const cf_ids *users, const cf_ids *items, const float *ratings,
                         int part, cf_error *err) {
    return cf_dataset_add_timed(ds, users, items, ratings, NULL, part, err);
}

cf_status cf_dataset_add_timed(cf_dataset *ds, const cf_ids *users, const cf_ids *items, const float *ratings,
                               const int64_t *times, int part, cf_error *err) {
    cf_error_clear(err);
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_add: dataset is NULL");
    if (!times && ds->timed)
        return cf_fail(err, CF_ERR_INVALID, "times: NULL, but the dataset has a timestamp for every rating");
    if (times && !ds->timed && ds->all.n > 0)
        return cf_fail(err, CF_ERR_INVALID, "times: the dataset's ratings have no timestamps; add these without");
    if (part != 0 && part != 1) return cf_fail(err, CF_ERR_INVALID, "part: %d, must be 0 (training) or 1 (test)", part);
    if (!users) return cf_fail(err, CF_ERR_INVALID, "users: NULL");
    int64_t n = users->n;
    cf_status st = check_ids(users, "users", n, err);
    if (!st) st = check_ids(items, "items", n, err);
    if (st) return st;
    if (n > 0 && !ratings) return cf_fail(err, CF_ERR_INVALID, "ratings: NULL");
    if (times && cf_dataset_set_timed(ds) != 0) return cf_fail(err, CF_ERR_NOMEM, "out of memory for the timestamps");
    for (int64_t k = 0; k < n; k++)
        if (!isfinite(ratings[k]))
            return cf_fail(err, CF_ERR_INVALID, "ratings[%" PRId64 "]: not finite (%g)", k, (double)ratings[k]);
    const int64_t from = ds->all.n;
    if (cf_dataset_reserve(ds, from + n) != 0)
        return cf_fail(err, CF_ERR_NOMEM, "out of memory for %" PRId64 " more ratings", n);
    for (int64_t k = 0; k < n; k++) {
        char bu[24], bi[24];
        size_t lu, li;
        const char *tu = id_token(users, k, bu, &lu), *ti = id_token(items, k, bi, &li);
        uint32_t u, i;
        if (cf_idmap_intern(ds->users, tu, lu, &u, NULL) != 0 || cf_idmap_intern(ds->items, ti, li, &i, NULL) != 0 ||
            cf_dataset_push_timed(ds, u, i, ratings[k], times ? times[k] : 0, part) != 0) {
            ds->all.n = from;
            return cf_fail(err, CF_ERR_NOMEM, "out of memory adding rating %" PRId64 " of %" PRId64, k, n);
        }
    }
    if (cf_dataset_dedup(ds, from, err) < 0) {
        ds->all.n = from;
        return err ? err->status : CF_ERR_NOMEM;
    }
    return CF_OK;
}

cf_status cf_dataset_add_ids(cf_dataset *ds, cf_which side, const cf_ids *ids, cf_error *err) {
    cf_error_clear(err);
    if (!ds || !ids) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_add_ids: %s is NULL", !ds ? "dataset" : "ids");
    const char *what = side == CF_ITEMS ? "items" : "users";
    cf_status st = check_ids(ids, what, ids->n, err);
    if (st) return st;
    cf_idmap *map = side == CF_ITEMS ? ds->items : ds->users;
    for (int64_t k = 0; k < ids->n; k++) {
        char buf[24];
        size_t len;
        const char *tok = id_token(ids, k, buf, &len);
        uint32_t idx;
        if (cf_idmap_intern(map, tok, len, &idx, NULL) != 0)
            return cf_fail(err, CF_ERR_NOMEM, "out of memory interning %s[%" PRId64 "]", what, k);
    }
    return CF_OK;
}

cf_status cf_dataset_times(const cf_dataset *ds, int part, int64_t *times, cf_error *err) {
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_times: dataset is NULL");
    if (part != 0 && part != 1) return cf_fail(err, CF_ERR_INVALID, "part: %d, must be 0 (training) or 1 (test)", part);
    if (!ds->timed) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_times: the dataset has no timestamps");
    int64_t j = 0;
    for (int64_t k = 0; times && k < ds->all.n; k++)
        if ((ds->is_test[k] != 0) == part) times[j++] = ds->all.t[k];
    return CF_OK;
}

cf_status cf_dataset_ratings(const cf_dataset *ds, int part, int64_t *users, int64_t *items, float *ratings,
                             cf_error *err) {
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_ratings: dataset is NULL");
    if (part != 0 && part != 1) return cf_fail(err, CF_ERR_INVALID, "part: %d, must be 0 (training) or 1 (test)", part);
    int64_t j = 0;
    for (int64_t k = 0; k < ds->all.n; k++) {
        if ((ds->is_test[k] != 0) != part) continue;
        if (users) users[j] = ds->all.u[k];
        if (items) items[j] = ds->all.i[k];
        if (ratings) ratings[j] = ds->all.r[k];
        j++;
    }
    return CF_OK;
}

cf_status cf_dataset_ids(const cf_dataset *ds, cf_which side, char *chars, size_t cap, int64_t *offsets,
                         size_t *bytes, cf_error *err) {
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_ids: dataset is NULL");
    return copy_ids(side_map(ds->users, ds->items, side), chars, cap, offsets, bytes, err);
}

cf_status cf_dataset_ids_int(const cf_dataset *ds, cf_which side, int64_t *out, cf_error *err) {
    if (!ds || !out) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_ids_int: %s is NULL", !ds ? "dataset" : "out");
    return ids_int(side_map(ds->users, ds->items, side), side == CF_ITEMS ? "item" : "user", out, err);
}

/* ---------------------------------------------------------------- model */

cf_status cf_model_ids(const cf_model *m, cf_which side, char *chars, size_t cap, int64_t *offsets, size_t *bytes,
                       cf_error *err) {
    if (!m) return cf_fail(err, CF_ERR_INVALID, "cf_model_ids: model is NULL");
    return copy_ids(side_map(m->users, m->items, side), chars, cap, offsets, bytes, err);
}

cf_status cf_model_ids_int(const cf_model *m, cf_which side, int64_t *out, cf_error *err) {
    if (!m || !out) return cf_fail(err, CF_ERR_INVALID, "cf_model_ids_int: %s is NULL", !m ? "model" : "out");
    return ids_int(side_map(m->users, m->items, side), side == CF_ITEMS ? "item" : "user", out, err);
}

void cf_model_params(const cf_model *m, double *P, double *Q, double *bu, double *bi) {
    if (!m) return;
    const cf_factors *f = &m->f;
    size_t k = (size_t)f->k;
    if (P && f->n_users) memcpy(P, f->P, (size_t)f->n_users * k * sizeof *P);
    if (Q && f->n_items) memcpy(Q, f->Q, (size_t)f->n_items * k * sizeof *Q);
    for (int64_t u = 0; bu && u < f->n_users; u++) bu[u] = f->bias && f->bu ? f->bu[u] : 0.0;
    for (int64_t i = 0; bi && i < f->n_items; i++) bi[i] = f->bias && f->bi ? f->bi[i] : 0.0;
}

const cf_config *cf_model_config(const cf_model *m) { return m ? &m->config : NULL; }

/* Row of ID k of `ids` in `map`, -1 when unknown. */
static int64_t find_row(const cf_idmap *map, const cf_ids *ids, int64_t k) {
    char buf[24];
    size_t len;
    const char *tok = id_token(ids, k, buf, &len);
    return cf_idmap_find(map, tok, len);
}

static cf_status unknown_id(cf_error *err, const char *where, int64_t k, const char *what, const cf_ids *ids) {
    char buf[24], shown[CF_SHOW_CAP];
    size_t len;
    const char *tok = id_token(ids, k, buf, &len);
    return cf_fail(err, CF_ERR_NOT_FOUND, "%s %" PRId64 ": unknown %s ID '%s'", where, k, what,
                   cf_text_show(shown, sizeof shown, tok, len));
}

cf_status cf_model_predict_batch(const cf_model *m, const cf_ids *users, const cf_ids *items, cf_unknown unknown,
                                 double *out, uint8_t *unseen, cf_error *err) {
    cf_error_clear(err);
    if (!m || !users || !out)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_predict_batch: %s is NULL", !m ? "model" : !users ? "users" : "out");
    if (unknown != CF_UNKNOWN_MEAN && unknown != CF_UNKNOWN_ERROR)
        return cf_fail(err, CF_ERR_INVALID, "unknown: %d is not a cf_unknown", (int)unknown);
    int64_t n = users->n;
    cf_status st = check_ids(users, "users", n, err);
    if (!st) st = check_ids(items, "items", n, err);
    if (st) return st;
    const cf_factors *f = &m->f;
    for (int64_t k = 0; k < n; k++) {
        int64_t u = find_row(m->users, users, k), i = find_row(m->items, items, k);
        if (unseen) unseen[k] = u < 0 || i < 0;
        if ((u < 0 || i < 0) && unknown == CF_UNKNOWN_ERROR)
            return unknown_id(err, "pair", k, u < 0 ? "user" : "item", u < 0 ? users : items);
        out[k] = cf_predict_or_mean(f, u, i);
    }
    return CF_OK;
}

/* The model item rows that each of the call's users rated in ds, as a CSR over the
 * users' positions k (drow[k]: the user's index in ds, -1 when absent): row k is
 * x[p[k] .. p[k+1]). A dataset sorted by user (what the reader and cf_dataset_add leave:
 * one sorted range) is checked in one sequential pass and each user's ratings found by
 * binary search, so a call costs O(nnz) reads plus its users' ratings, and the CLI's
 * batches of a large --exclude stay cheap; another order takes a counting pass over all
 * ratings by ds user first. */
static int64_t lower_u(const uint32_t *u, int64_t n, uint32_t v) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (u[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

cf_status cf_exclusion_csr(const cf_model *m, const cf_dataset *ds, int part, const int64_t *drow, int64_t nq,
                           int64_t **ptr, int64_t **idx, cf_error *err) {
    const int64_t nu = cf_idmap_size(ds->users), nr = ds->all.n;
    const uint32_t *U = ds->all.u, *I = ds->all.i;
    int sorted = 1;
    for (int64_t k = 1; k < nr && sorted; k++) sorted = U[k - 1] <= U[k];
    int64_t *to = cf_idmap_translate(ds->items, m->items, err, "recommend item map");
    int64_t *p = cf_calloc((size_t)nq + 1, sizeof *p, err, "recommend exclusion rows");
    /* each ds user's ratings: [first[du], first[du+1]) of ds->all when sorted, else of
     * `order` (the ratings' positions by ds user: the project's stable counting sort) */
    int64_t *first = cf_calloc((size_t)(sorted ? 1 : nu + 1), sizeof *first, err, "recommend exclusion users");
    int64_t *order = sorted ? NULL : cf_malloc((size_t)(nr > 0 ? nr : 1) * sizeof *order, err, "recommend exclusion order");
    cf_status st = !to || !p || !first || (!sorted && !order) ? CF_ERR_NOMEM : CF_OK;
    if (!st && !sorted) st = cf_bucket_sort_threads(nr, U, NULL, nu, &(cf_bucket_move){.out = order}, 1, first, err);
    if (st) {
        free(to), free(p), free(first), free(order);
        return st;
    }
    /* rows k: their ratings' range (twice: count, then fill) */
    int64_t *lo = cf_malloc((size_t)(nq > 0 ? 2 * nq : 1) * sizeof *lo, err, "recommend exclusion ranges");
    if (!lo) {
        free(to), free(p), free(first), free(order);
        return CF_ERR_NOMEM;
    }
    int64_t *hi = lo + nq;
    for (int64_t k = 0; k < nq; k++) {
        const int64_t du = drow[k];
        if (du < 0) lo[k] = hi[k] = 0;
        else if (sorted) lo[k] = lower_u(U, nr, (uint32_t)du), hi[k] = lower_u(U, nr, (uint32_t)du + 1);
        else lo[k] = first[du], hi[k] = first[du + 1];
        for (int64_t e = lo[k]; e < hi[k]; e++) {
            const int64_t t = sorted ? e : order[e];
            p[k + 1] += to[I[t]] >= 0 && (part < 0 || ds->is_test[t] == part);
        }
    }
    for (int64_t k = 0; k < nq; k++) p[k + 1] += p[k];
    int64_t *x = cf_malloc((size_t)(p[nq] > 0 ? p[nq] : 1) * sizeof *x, err, "recommend exclusions");
    if (!x) {
        free(to), free(p), free(first), free(order), free(lo);
        return CF_ERR_NOMEM;
    }
    for (int64_t k = 0, w = 0; k < nq; k++)
        for (int64_t e = lo[k]; e < hi[k]; e++) {
            const int64_t t = sorted ? e : order[e], i = to[I[t]];
            if (i >= 0 && (part < 0 || ds->is_test[t] == part)) x[w++] = i;
        }
    free(to), free(first), free(order), free(lo);
    *ptr = p, *idx = x;
    return CF_OK;
}

cf_status cf_model_recommend_batch(const cf_model *m, const cf_ids *users, int32_t n, const cf_dataset *exclude,
                                   cf_unknown unknown, int threads, int64_t *items, double *scores,
                                   int32_t *counts, cf_error *err) {
    cf_error_clear(err);
    if (!m || !users || !items || !scores)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_recommend_batch: %s is NULL",
                       !m ? "model" : !users ? "users" : !items ? "items" : "scores");
    if (n < 1) return cf_fail(err, CF_ERR_INVALID, "n: %d, must be >= 1", (int)n);
    if (unknown != CF_UNKNOWN_MEAN && unknown != CF_UNKNOWN_ERROR)
        return cf_fail(err, CF_ERR_INVALID, "unknown: %d is not a cf_unknown", (int)unknown);
    if (threads < 0) return cf_fail(err, CF_ERR_INVALID, "threads: %d, must be >= 0 (0 = all cores)", threads);
    const int64_t nq = users->n;
    cf_status st = check_ids(users, "users", nq, err);
    if (st) return st;

    /* rows first, serially: an unknown user is reported as the first one */
    int64_t *row = cf_malloc((size_t)(nq > 0 ? nq : 1) * 2 * sizeof *row, err, "recommend user rows");
    if (!row) return CF_ERR_NOMEM;
    int64_t *drow = row + nq; /* the user's index in `exclude`, -1 when absent */
    for (int64_t k = 0; k < nq; k++) {
        row[k] = find_row(m->users, users, k);
        drow[k] = exclude ? find_row(exclude->users, users, k) : -1;
        if (row[k] < 0 && unknown == CF_UNKNOWN_ERROR) {
            free(row);
            return unknown_id(err, "users", k, "user", users);
        }
    }
    st = cf_model_recommend_rows(m, row, drow, nq, n, exclude, threads, items, scores, counts, err);
    free(row);
    return st;
}

cf_status cf_model_recommend_rows(const cf_model *m, const int64_t *row, const int64_t *drow, int64_t nq, int32_t n,
                                  const cf_dataset *exclude, int threads, int64_t *items, double *scores,
                                  int32_t *counts, cf_error *err) {
    int64_t *eptr = NULL, *eidx = NULL; /* row k: the model items users[k] rated in exclude */
    cf_status st;
    if (exclude && (st = cf_exclusion_csr(m, exclude, -1, drow, nq, &eptr, &eidx, err)) != CF_OK) return st;
    st = cf_model_topn_rows(m, row, nq, n, eptr, eidx, threads, items, scores, counts, err);
    free(eptr), free(eidx);
    return st;
}

cf_status cf_model_topn_rows(const cf_model *m, const int64_t *row, int64_t nq, int32_t n, const int64_t *eptr,
                             const int64_t *eidx, int threads, int64_t *items, double *scores, int32_t *counts,
                             cf_error *err) {
    const int64_t n_items = m->f.n_items, cap = n < n_items ? n : n_items;
    const int64_t G = CF_TOPN_GROUP, groups = (nq + G - 1) / G;
    int nt = cf_threads(threads);
    if (nt > groups) nt = groups > 0 ? (int)groups : 1;
    /* per thread, for a group of G users scored together (cf_model_topn): the scoring's
     * doubles, G rows of cap scores, G exclusion masks (n_items bytes each, rounded up to
     * keep what follows aligned), G heaps of cap candidates, G rows of cap items (before
     * widening to int64) */
    const size_t cells = (size_t)(cap > 0 ? cap : 1);
    const size_t dbl = (cf_model_topn_scratch(&m->f) + (size_t)G * cells) * sizeof(double);
    const size_t hoff = ((size_t)n_items + 15) / 16 * 16;
    const size_t per = (dbl + (size_t)G * (hoff + cells * (sizeof(cf_topn_cand) + sizeof(uint32_t))) + 15) / 16 * 16;
    unsigned char *scratch = cf_calloc((size_t)nt, per, err, "recommend scratch");
    if (!scratch) return CF_ERR_NOMEM;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t g = 0; g < groups; g++) {
        unsigned char *s = scratch + (size_t)omp_get_thread_num() * per;
        double *dscratch = (double *)(void *)s, *got_scores = dscratch + cf_model_topn_scratch(&m->f);
        uint8_t *masks = s + dbl;
        cf_topn_cand *heaps = (cf_topn_cand *)(void *)(masks + (size_t)G * hoff);
        uint32_t *got_items = (uint32_t *)(void *)(heaps + (size_t)G * cells);
        const int64_t k0 = g * G;
        const int mg = (int)(nq - k0 < G ? nq - k0 : G);
        const uint8_t *excl[CF_TOPN_GROUP];
        int64_t got[CF_TOPN_GROUP];
        for (int a = 0; a < mg; a++) {
            uint8_t *mask = masks + (size_t)a * hoff;
            for (int64_t e = eptr ? eptr[k0 + a] : 0; eptr && e < eptr[k0 + a + 1]; e++) mask[eidx[e]] = 1;
            excl[a] = eptr ? mask : NULL;
        }
        cf_model_topn(&m->f, row + k0, mg, excl, cap, heaps, got_items, got_scores, (int64_t)cells, got, dscratch);
        for (int a = 0; a < mg; a++) {
            const int64_t k = k0 + a;
            double *srow = scores + k * (int64_t)n;
            int64_t *irow = items + k * (int64_t)n;
            const uint32_t *gi = got_items + (size_t)a * cells;
            const double *gs = got_scores + (size_t)a * cells;
            for (int64_t j = 0; j < got[a]; j++) irow[j] = gi[j], srow[j] = gs[j];
            for (int64_t j = got[a]; j < n; j++) irow[j] = -1, srow[j] = NAN;
            if (counts) counts[k] = (int32_t)got[a];
            for (int64_t e = eptr ? eptr[k] : 0; eptr && e < eptr[k + 1]; e++) masks[(size_t)a * hoff + eidx[e]] = 0;
        }
    }
    free(scratch);
    return CF_OK;
}

/* ---------------------------------------------------------------- similar items */

/* cos(q_i, q_j) through the ranking of recommend: a cf_factors whose "users" are the unit
 * rows q_i / ‖q_i‖ of every item (a zero row stays zero: similarity 0 to every item) and
 * whose items are those of the candidates, without biases, so that cf_score_block's score
 * is the dot product of unit rows; each query that is a candidate excludes itself (a
 * one-entry exclusion CSR), and the candidates' positions are mapped back to item rows. */
cf_status cf_model_similar_items_among(const cf_model *m, const cf_ids *items, int32_t n, const uint8_t *candidates,
                                       int threads, int64_t *out, double *scores, int32_t *counts, cf_error *err) {
    cf_error_clear(err);
    if (!m || !items || !out || !scores)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_similar_items: %s is NULL",
                       !m ? "model" : !items ? "items" : !out ? "out" : "scores");
    if (n < 1) return cf_fail(err, CF_ERR_INVALID, "n: %d, must be >= 1", (int)n);
    if (threads < 0) return cf_fail(err, CF_ERR_INVALID, "threads: %d, must be >= 0 (0 = all cores)", threads);
    const int64_t nq = items->n, ni = m->f.n_items, K = m->f.k;
    cf_status st = check_ids(items, "items", nq, err);
    if (st) return st;
    int64_t nc = 0; /* the candidates: pos[i] their index (-1: not one), cand[c] their rows */
    for (int64_t i = 0; i < ni; i++) nc += !candidates || candidates[i];
    int64_t *row = cf_malloc((size_t)(3 * nq + 1 + 2 * ni + 1) * sizeof *row, err, "similar item rows");
    double *unit = cf_malloc((size_t)(ni * K > 0 ? ni * K : 1) * sizeof *unit, err, "similar unit rows");
    double *cunit = candidates ? cf_malloc((size_t)(nc * K > 0 ? nc * K : 1) * sizeof *cunit, err, "similar candidates")
                               : unit;
    if (!row || !unit || !cunit) {
        free(row), free(unit);
        if (candidates) free(cunit);
        return CF_ERR_NOMEM;
    }
    int64_t *eptr = row + nq, *eidx = eptr + nq + 1, *pos = eidx + nq, *cand = pos + ni;
    for (int64_t i = 0, c = 0; i < ni; i++) {
        pos[i] = !candidates || candidates[i] ? c : -1;
        if (pos[i] >= 0) cand[c++] = i;
    }
    eptr[0] = 0;
    for (int64_t k = 0; k < nq; k++) {
        row[k] = find_row(m->items, items, k);
        if (row[k] < 0) {
            free(row), free(unit);
            if (candidates) free(cunit);
            return unknown_id(err, "items", k, "item", items);
        }
        eptr[k + 1] = eptr[k];
        if (pos[row[k]] >= 0) eidx[eptr[k + 1]++] = pos[row[k]];
    }
    for (int64_t i = 0; i < ni; i++) {
        const double *q = m->f.Q + i * K;
        double ss = 0;
        for (int64_t d = 0; d < K; d++) ss += q[d] * q[d];
        const double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (int64_t d = 0; d < K; d++) unit[i * K + d] = q[d] * inv;
    }
    if (candidates)
        for (int64_t c = 0; c < nc; c++) memcpy(cunit + c * K, unit + cand[c] * K, (size_t)K * sizeof *cunit);
    cf_model view = *m;
    view.f = (cf_factors){.n_users = ni, .n_items = nc, .k = m->f.k, .bias = 0, .mu = 0, .P = unit, .Q = cunit};
    st = cf_model_topn_rows(&view, row, nq, n, eptr, eidx, threads, out, scores, counts, err);
    for (int64_t e = 0; st == CF_OK && candidates && e < nq * (int64_t)n; e++)
        if (out[e] >= 0) out[e] = cand[out[e]];
    free(row), free(unit);
    if (candidates) free(cunit);
    return st;
}

cf_status cf_model_similar_items(const cf_model *m, const cf_ids *items, int32_t n, int threads, int64_t *out,
                                 double *scores, int32_t *counts, cf_error *err) {
    return cf_model_similar_items_among(m, items, n, NULL, threads, out, scores, counts, err);
}

/* ---------------------------------------------------------------- layouts */

size_t cf_struct_size(const char *name) {
    static const struct {
        const char *name;
        size_t size;
    } t[] = {
        {"cf_error", sizeof(cf_error)},
        {"cf_iter_info", sizeof(cf_iter_info)},
        {"cf_train_report", sizeof(cf_train_report)},
        {"cf_read_report", sizeof(cf_read_report)},
        {"cf_train_options", sizeof(cf_train_options)},
        {"cf_read_options", sizeof(cf_read_options)},
        {"cf_model_info", sizeof(cf_model_info)},
        {"cf_dataset_info", sizeof(cf_dataset_info)},
        {"cf_rank_report", sizeof(cf_rank_report)},
        {"cf_fold_in_report", sizeof(cf_fold_in_report)},
        {"cf_fold_in_options", sizeof(cf_fold_in_options)},
        {"cf_explanation", sizeof(cf_explanation)},
        {"cf_explain_term", sizeof(cf_explain_term)},
        {"cf_eval_report", sizeof(cf_eval_report)},
        {"cf_compare_report", sizeof(cf_compare_report)},
    };
    for (size_t k = 0; name && k < sizeof t / sizeof *t; k++)
        if (strcmp(name, t[k].name) == 0) return t[k].size;
    return 0;
}
