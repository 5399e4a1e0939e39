/*
 * rank.c — top-n ranking quality of a model on held-out ratings (cf_model_rank_evaluate;
 * the measures are defined in cufactor.h above cf_rank_report).
 *
 * For each evaluated user u, with L_u its list of at most n items and R_u its relevant
 * items (h = |L_u ∩ R_u|, m = min(n, |R_u|), positions j from 0):
 *
 *   precision = h / n,   recall = h / |R_u|,   hit_rate = [h > 0]
 *   ndcg = DCG / IDCG,   DCG = Σ_{j: L_u[j] ∈ R_u} 1/log2(j + 2),   IDCG = Σ_{j<m} 1/log2(j + 2)
 *   map  = (1/m) Σ_{j: L_u[j] ∈ R_u} (hits among L_u[0..j]) / (j + 1)
 *
 * and each reported figure is the mean over the evaluated users, with its standard error
 * s/√U (s the sample standard deviation of the per-user values over the U users: each user
 * is one independent draw), and that of the paired per-user difference model − popular.
 *
 * 1. Relevant sets: the test ratings grouped by test user (the project's counting sort),
 *    users and items mapped to model rows (item -1: unknown, kept: it counts in |R_u| and
 *    can never be hit), kept when r >= relevant_min.
 * 2. Batches of users: their exclusions (cf_exclusion_csr, as recommend builds them),
 *    relevant items that exclude also holds dropped from R_u, the model's lists
 *    (cf_model_topn_rows: the same lists as cf_model_recommend_batch) and the popularity
 *    baseline's, each user's measures into the batch's arrays.
 * 3. The measures summed in user order after each batch, so the report is the same
 *    whatever the thread count.
 */
#include "common.h"
#include "dataset.h"
#include "model.h"
#include "ratings.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { M_PRECISION, M_RECALL, M_NDCG, M_MAP, M_HIT, M_COUNT };

static int has_item(const int64_t *rel, int64_t nrel, int64_t item) {
    int64_t lo = 0, hi = nrel; /* rel sorted ascending */
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (rel[mid] < item) lo = mid + 1;
        else hi = mid;
    }
    return lo < nrel && rel[lo] == item;
}

/* The measures of one list (cnt real entries of a list of length n) against R (sorted). */
static void measure(const int64_t *list, int64_t cnt, int32_t n, const int64_t *rel, int64_t nrel,
                    double out[M_COUNT]) {
    double dcg = 0, ap = 0, idcg = 0;
    int64_t h = 0;
    for (int64_t j = 0; j < cnt; j++)
        if (list[j] >= 0 && has_item(rel, nrel, list[j])) {
            h++;
            dcg += 1.0 / log2((double)j + 2.0);
            ap += (double)h / (double)(j + 1);
        }
    const int64_t m = nrel < n ? nrel : n;
    for (int64_t j = 0; j < m; j++) idcg += 1.0 / log2((double)j + 2.0);
    out[M_PRECISION] = (double)h / (double)n;
    out[M_RECALL] = (double)h / (double)nrel;
    out[M_NDCG] = dcg / idcg;
    out[M_MAP] = ap / (double)m;
    out[M_HIT] = h > 0;
}

static int cmp_i64(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct pop_item {
    int64_t count, row;
} pop_item;

/* more ratings first, the lower row on ties */
static int cmp_pop(const void *a, const void *b) {
    const pop_item *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return (x->row > y->row) - (x->row < y->row);
}

/* The model's items by their number of ratings in ds (of `part`, < 0: both; the
 * popularity baseline's order). */
static int64_t *popular_order(const cf_model *m, const cf_dataset *ds, int part, cf_error *err) {
    const int64_t ni = m->f.n_items;
    int64_t *to = cf_idmap_translate(ds->items, m->items, err, "rank popularity item map");
    pop_item *p = cf_calloc((size_t)(ni > 0 ? ni : 1), sizeof *p, err, "rank popularity counts");
    int64_t *order = cf_malloc((size_t)(ni > 0 ? ni : 1) * sizeof *order, err, "rank popularity order");
    if (!to || !p || !order) {
        free(to), free(p), free(order);
        return NULL;
    }
    for (int64_t i = 0; i < ni; i++) p[i].row = i;
    for (int64_t k = 0; k < ds->all.n; k++) {
        const int64_t i = to[ds->all.i[k]];
        if (i >= 0 && (part < 0 || ds->is_test[k] == part)) p[i].count++;
    }
    qsort(p, (size_t)ni, sizeof *p, cmp_pop);
    for (int64_t i = 0; i < ni; i++) order[i] = p[i].row;
    free(to), free(p);
    return order;
}

cf_status cf_rank_parts(const cf_model *m, const cf_dataset *test, int tpart, const cf_dataset *exclude, int xpart,
                        int32_t n, double relevant_min, int threads, int64_t batch, cf_read_progress_fn progress,
                        void *progress_user, cf_rank_report *rep, cf_error *err) {
    cf_rank_report r = {.n = n};
    const int64_t nu = cf_idmap_size(test->users), nr = test->all.n, n_items = m->f.n_items;
    const int all_relevant = isnan(relevant_min);
#define RELEVANT(t) ((tpart < 0 || test->is_test[t] == tpart) && (all_relevant || test->all.r[t] >= relevant_min))
    cf_status st = CF_OK;
    int64_t *urow = NULL, *irow = NULL, *first = NULL, *order = NULL, *eu = NULL, *rptr = NULL, *ritem = NULL;
    int64_t *pop = NULL, *eptr = NULL, *eidx = NULL, *lists = NULL, *plists = NULL, *drow = NULL, *rows = NULL;
    double *scores = NULL, *vals = NULL;
    int32_t *counts = NULL;
    uint8_t *masks = NULL, *seen = NULL, *pseen = NULL;
    int64_t *nrel = NULL, *excl_n = NULL;

    /* 1. relevant sets of the users the model knows, in test user order */
    urow = cf_idmap_translate(test->users, m->users, err, "rank user map");
    irow = cf_idmap_translate(test->items, m->items, err, "rank item map");
    first = cf_calloc((size_t)nu + 1, sizeof *first, err, "rank user offsets");
    order = cf_malloc((size_t)(nr > 0 ? nr : 1) * sizeof *order, err, "rank rating order");
    if (!urow || !irow || !first || !order) goto nomem;
    if ((st = cf_bucket_sort_threads(nr, test->all.u, NULL, nu, &(cf_bucket_move){.out = order}, threads, first,
                                     err)) != CF_OK)
        goto done;
    int64_t ne = 0, nrel_all = 0; /* users with a relevant rating the model knows; their relevant ratings */
    for (int64_t du = 0; du < nu; du++) {
        int64_t c = 0;
        for (int64_t e = first[du]; e < first[du + 1]; e++) c += RELEVANT(order[e]);
        if (c == 0) {
            r.users_no_relevant += urow[du] >= 0;
            continue;
        }
        if (urow[du] < 0) {
            r.users_unknown++;
            continue;
        }
        ne++, nrel_all += c;
    }
    eu = cf_malloc((size_t)(ne > 0 ? ne : 1) * sizeof *eu, err, "rank users");
    rptr = cf_malloc((size_t)(ne + 1) * sizeof *rptr, err, "rank relevant offsets");
    ritem = cf_malloc((size_t)(nrel_all > 0 ? nrel_all : 1) * sizeof *ritem, err, "rank relevant items");
    if (!eu || !rptr || !ritem) goto nomem;
    rptr[0] = 0;
    for (int64_t du = 0, k = 0, w = 0; du < nu; du++) {
        if (urow[du] < 0) continue;
        const int64_t w0 = w;
        for (int64_t e = first[du]; e < first[du + 1]; e++)
            if (RELEVANT(order[e])) ritem[w++] = irow[test->all.i[order[e]]];
        if (w == w0) continue;
        qsort(ritem + w0, (size_t)(w - w0), sizeof *ritem, cmp_i64);
        /* an item counts once (a pair in both parts of a dataset read whole); unknown
         * items (-1) are distinct IDs and all stay */
        int64_t u = w0;
        for (int64_t j = w0; j < w; j++)
            if (ritem[j] < 0 || j == w0 || ritem[j] != ritem[j - 1]) ritem[u++] = ritem[j];
        w = u;
        eu[k++] = du, rptr[k] = w;
    }
    free(first), free(order), free(irow);
    first = order = irow = NULL;

    /* 2. batches: about twenty (progress steps; each batch's cf_exclusion_csr reads all
     * of `exclude` once, so a fixed small batch would read it once per few thousand users),
     * at least 4,096 users, and the lists within about 64 MiB */
    /* the lists hold ld = min(n, items) entries: a longer list is padding (precision still
     * divides by n) */
    const int64_t ld = n < n_items ? n : n_items > 0 ? n_items : 1;
    const int64_t by_mem = ((int64_t)1 << 26) / (24 * ld), twentieth = (ne + 19) / 20;
    int64_t B = twentieth > 4096 ? twentieth : 4096;
    if (B > by_mem) B = by_mem;
    if (B < 64) B = 64;
    if (batch > 0) B = batch;
    if (B > ne) B = ne > 0 ? ne : 1;
    const int nt = cf_threads(threads);
    const size_t hoff = ((size_t)n_items + 15) / 16 * 16;
    drow = cf_malloc((size_t)B * 2 * sizeof *drow, err, "rank batch rows");
    lists = cf_malloc((size_t)(B * ld) * 2 * sizeof *lists, err, "rank lists");
    scores = cf_malloc((size_t)(B * ld) * sizeof *scores, err, "rank scores");
    counts = cf_malloc((size_t)B * sizeof *counts, err, "rank list lengths");
    vals = cf_malloc((size_t)B * 2 * M_COUNT * sizeof *vals, err, "rank measures");
    nrel = cf_malloc((size_t)B * 2 * sizeof *nrel, err, "rank relevant counts");
    masks = cf_calloc((size_t)nt, hoff > 0 ? hoff : 16, err, "rank exclusion masks");
    seen = cf_calloc((size_t)(n_items > 0 ? n_items : 1) * 2, 1, err, "rank coverage");
    if (!drow || !lists || !scores || !counts || !vals || !nrel || !masks || !seen) goto nomem;
    rows = drow + B, plists = lists + B * ld, excl_n = nrel + B, pseen = seen + (n_items > 0 ? n_items : 1);
    if (exclude && !(pop = popular_order(m, exclude, xpart, err))) goto nomem;

    int64_t done_users = 0; /* progress: once at the start, then after every batch */
    if (progress && progress("rank", 0, ne, progress_user)) goto cancelled;
    double sum[3][M_COUNT] = {{0}}, sq[3][M_COUNT] = {{0}}; /* model, popular, model − popular */
    for (int64_t b0 = 0; b0 < ne; b0 += B) {
        const int64_t nb = ne - b0 < B ? ne - b0 : B;
        for (int64_t k = 0; k < nb; k++) {
            size_t len;
            const char *name = cf_idmap_name(test->users, (uint32_t)eu[b0 + k], &len);
            rows[k] = urow[eu[b0 + k]];
            drow[k] = exclude ? cf_idmap_find(exclude->users, name, len) : -1;
        }
        if (exclude && (st = cf_exclusion_csr(m, exclude, xpart, drow, nb, &eptr, &eidx, err)) != CF_OK) goto done;
        if ((st = cf_model_topn_rows(m, rows, nb, (int32_t)ld, eptr, eidx, threads, lists, scores, counts, err)) != CF_OK)
            goto done;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16)
        for (int64_t k = 0; k < nb; k++) {
            uint8_t *mask = masks + (size_t)omp_get_thread_num() * hoff;
            int64_t *rel = ritem + rptr[b0 + k];
            int64_t c = rptr[b0 + k + 1] - rptr[b0 + k], drop = 0;
            for (int64_t e = eptr ? eptr[k] : 0; eptr && e < eptr[k + 1]; e++) mask[eidx[e]] = 1;
            /* relevant items the user also rated in exclude cannot be recommended: out of R_u */
            for (int64_t j = 0; j < c; j++)
                if (rel[j] >= 0 && mask[rel[j]]) drop++;
                else rel[j - drop] = rel[j];
            c -= drop;
            nrel[k] = c, excl_n[k] = drop;
            double *v = vals + (size_t)k * 2 * M_COUNT;
            if (c > 0) measure(lists + k * ld, counts[k], n, rel, c, v);
            if (c > 0 && pop) {
                int64_t *pl = plists + k * ld, got = 0;
                for (int64_t t = 0; t < n_items && got < ld; t++)
                    if (!mask[pop[t]]) pl[got++] = pop[t];
                measure(pl, got, n, rel, c, v + M_COUNT);
                for (int64_t t = got; t < ld; t++) pl[t] = -1;
            }
            for (int64_t e = eptr ? eptr[k] : 0; eptr && e < eptr[k + 1]; e++) mask[eidx[e]] = 0;
        }
        free(eptr), free(eidx);
        eptr = eidx = NULL;
        /* 3. in user order */
        for (int64_t k = 0; k < nb; k++) {
            r.relevant_excluded += excl_n[k];
            if (nrel[k] == 0) {
                r.users_no_relevant++;
                continue;
            }
            r.users++;
            r.relevant += nrel[k];
            const int64_t *rel = ritem + rptr[b0 + k];
            for (int64_t j = 0; j < nrel[k]; j++) r.relevant_unknown += rel[j] < 0;
            const double *v = vals + (size_t)k * 2 * M_COUNT;
            for (int q = 0; q < M_COUNT; q++) {
                const double x[3] = {v[q], pop ? v[M_COUNT + q] : 0, pop ? v[q] - v[M_COUNT + q] : 0};
                for (int s = 0; s < 3; s++) sum[s][q] += x[s], sq[s][q] += x[s] * x[s];
            }
            for (int64_t j = 0; j < counts[k]; j++) seen[lists[k * ld + j]] = 1;
            for (int64_t j = 0; pop && j < ld && plists[k * ld + j] >= 0; j++) pseen[plists[k * ld + j]] = 1;
        }
        done_users = b0 + nb;
        if (progress && progress("rank", done_users, ne, progress_user)) goto cancelled;
    }

    cf_rank_metrics *out[2] = {&r.model, &r.popular}, *se[3] = {&r.model_se, &r.popular_se, &r.difference_se};
    const double U = (double)r.users;
    for (int s = 0; s < 3; s++) {
        const int have = r.users > 0 && (s == 0 || pop);
        double *o[M_COUNT] = {&se[s]->precision, &se[s]->recall, &se[s]->ndcg, &se[s]->map, &se[s]->hit_rate};
        for (int q = 0; q < M_COUNT; q++) { /* s/√U; the variance from the sums, never below 0 */
            const double var = (sq[s][q] - sum[s][q] * sum[s][q] / U) / (U - 1);
            *o[q] = have && r.users > 1 ? sqrt(var > 0 ? var : 0) / sqrt(U) : NAN;
        }
        se[s]->coverage = NAN; /* a share of the items, not a mean over users */
        if (s == 2) break;
        double *m[M_COUNT] = {&out[s]->precision, &out[s]->recall, &out[s]->ndcg, &out[s]->map, &out[s]->hit_rate};
        for (int q = 0; q < M_COUNT; q++) *m[q] = have ? sum[s][q] / U : NAN;
        int64_t covered = 0;
        for (int64_t i = 0; i < n_items; i++) covered += (s ? pseen : seen)[i];
        out[s]->coverage = have && n_items > 0 ? (double)covered / (double)n_items : NAN;
    }
    *rep = r;
    goto done;

cancelled:
    st = cf_fail(err, CF_ERR_INTERRUPTED, "ranking cancelled after %lld of %lld users", (long long)done_users,
                 (long long)ne);
    goto done;
nomem:
    st = CF_ERR_NOMEM;
done:
    free(urow), free(irow), free(first), free(order), free(eu), free(rptr), free(ritem), free(pop), free(eptr);
    free(eidx), free(drow), free(lists), free(scores), free(counts), free(vals), free(nrel), free(masks), free(seen);
    return st;
#undef RELEVANT
}

cf_status cf_rank_check(int32_t n, double relevant_min, int threads, cf_error *err) {
    if (n < 1) return cf_fail(err, CF_ERR_INVALID, "n: %d, must be >= 1", (int)n);
    if (threads < 0) return cf_fail(err, CF_ERR_INVALID, "threads: %d, must be >= 0 (0 = all cores)", threads);
    if (isinf(relevant_min) && relevant_min > 0)
        return cf_fail(err, CF_ERR_INVALID, "relevant_min: +inf leaves no rating relevant");
    return CF_OK;
}

static cf_status check_args(const char *fn, const cf_model *m, const cf_dataset *test, int32_t n, double relevant_min,
                            int threads, const cf_rank_report *rep, cf_error *err) {
    cf_error_clear(err);
    if (!m || !test || !rep)
        return cf_fail(err, CF_ERR_INVALID, "%s: %s is NULL", fn, !m ? "model" : !test ? "dataset" : "report");
    return cf_rank_check(n, relevant_min, threads, err);
}

cf_status cf_model_rank_evaluate(const cf_model *m, const cf_dataset *test, const cf_dataset *exclude, int32_t n,
                                 double relevant_min, int threads, cf_read_progress_fn progress,
                                 void *progress_user, cf_rank_report *rep, cf_error *err) {
    const cf_status st = check_args("cf_model_rank_evaluate", m, test, n, relevant_min, threads, rep, err);
    return st ? st
              : cf_rank_parts(m, test, -1, exclude, -1, n, relevant_min, threads, 0, progress, progress_user, rep, err);
}

cf_status cf_model_rank_evaluate_split(const cf_model *m, const cf_dataset *ds, int32_t n, double relevant_min,
                                       int threads, cf_read_progress_fn progress, void *progress_user,
                                       cf_rank_report *rep, cf_error *err) {
    const cf_status st = check_args("cf_model_rank_evaluate_split", m, ds, n, relevant_min, threads, rep, err);
    return st ? st : cf_rank_parts(m, ds, 1, ds, 0, n, relevant_min, threads, 0, progress, progress_user, rep, err);
}
