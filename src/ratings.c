/* ratings.c — CSR (by user) and CSC (by item) from triplets, by counting sort. */
#include "ratings.h"

#include "common.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

void cf_ratings_free(cf_ratings *r) {
    if (!r) return;
    free(r->row_ptr), free(r->row_col), free(r->row_val);
    free(r->col_ptr), free(r->col_row), free(r->col_val);
    memset(r, 0, sizeof *r);
}

void cf_ratings_offsets(int64_t *ptr, int64_t n) {
    for (int64_t c = 0; c < n; c++) ptr[c + 1] += ptr[c];
}

/* One compressed layout: entries grouped by key[] (stable), carrying other[] and val[]. */
static void compress(const uint32_t *key, const uint32_t *other, const float *val, int64_t nnz,
                     int64_t nkeys, int64_t *ptr, uint32_t *out_other, float *out_val) {
    memset(ptr, 0, (size_t)(nkeys + 1) * sizeof *ptr);
    for (int64_t k = 0; k < nnz; k++) ptr[key[k] + 1]++;
    cf_ratings_offsets(ptr, nkeys);
    /* ptr[c] is used as the write cursor of group c, then shifted back */
    for (int64_t k = 0; k < nnz; k++) {
        int64_t dst = ptr[key[k]]++;
        out_other[dst] = other[k];
        out_val[dst] = val[k];
    }
    for (int64_t c = nkeys; c > 0; c--) ptr[c] = ptr[c - 1];
    ptr[0] = 0;
}

/* The same on T threads, the identical result: the triplets cut into T equal ranges; each
 * thread counts its range's keys (cnt[t][c]), the per-key counts become each range's
 * start inside the key's group (ranges in order: what the serial pass gives), and each
 * thread scatters its range. Bytes: the triplets read twice (12 bytes per entry), 8 bytes
 * written per entry at random places of the output, T × nkeys × 8 of counts: bound by
 * the scatter's cache misses, as the serial pass is, but on every core. Returns -1 when
 * out of memory for the counts (the caller then uses the serial pass). */
static int compress_par(const uint32_t *key, const uint32_t *other, const float *val, int64_t nnz, int64_t nkeys,
                        int T, int64_t *ptr, uint32_t *out_other, float *out_val) {
    int64_t *cnt = calloc((size_t)T * (size_t)(nkeys + 1), sizeof *cnt);
    if (!cnt) return -1;
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t k0 = nnz * t / nt, k1 = nnz * (t + 1) / nt;
        int64_t *c = cnt + (size_t)t * (size_t)(nkeys + 1);
        for (int64_t k = k0; k < k1; k++) c[key[k]]++;
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t g = 0; g < nkeys; g++) {
            int64_t run = 0;
            for (int j = 0; j < nt; j++) {
                int64_t *x = cnt + (size_t)j * (size_t)(nkeys + 1) + g, v = *x;
                *x = run, run += v;
            }
            ptr[g + 1] = run;
        }
#pragma omp single
        {
            ptr[0] = 0;
            cf_ratings_offsets(ptr, nkeys);
        }
        for (int64_t k = k0; k < k1; k++) {
            int64_t dst = ptr[key[k]] + c[key[k]]++;
            out_other[dst] = other[k];
            out_val[dst] = val[k];
        }
    }
    free(cnt);
    return 0;
}

cf_status cf_ratings_build(const cf_triplets *t, int64_t n_users, int64_t n_items, cf_ratings *out,
                           cf_error *err) {
    return cf_ratings_build_threads(t, n_users, n_items, 0, out, err);
}

cf_status cf_ratings_build_threads(const cf_triplets *t, int64_t n_users, int64_t n_items, int threads,
                                   cf_ratings *out, cf_error *err) {
    memset(out, 0, sizeof *out);
    int T = cf_threads(threads);
    if (t->n < ((int64_t)1 << 16)) T = 1; /* small: not worth a team */
    int64_t first_bad = INT64_MAX;
#pragma omp parallel for num_threads(T) schedule(static) reduction(min : first_bad)
    for (int64_t k = 0; k < t->n; k++)
        if (((int64_t)t->u[k] >= n_users || (int64_t)t->i[k] >= n_items) && k < first_bad) first_bad = k;
    if (first_bad != INT64_MAX) {
        int64_t k = first_bad;
        return cf_fail(err, CF_ERR_INVALID,
                       "rating %lld: index (%u, %u) outside the %lld × %lld matrix",
                       (long long)k, t->u[k], t->i[k], (long long)n_users, (long long)n_items);
    }
    out->n_users = n_users;
    out->n_items = n_items;
    out->nnz = t->n;
    size_t nnz = (size_t)t->n;
    out->row_ptr = cf_malloc(((size_t)n_users + 1) * sizeof(int64_t), err, "CSR offsets");
    out->row_col = cf_malloc(nnz * sizeof(uint32_t), err, "CSR indices");
    out->row_val = cf_malloc(nnz * sizeof(float), err, "CSR values");
    out->col_ptr = cf_malloc(((size_t)n_items + 1) * sizeof(int64_t), err, "CSC offsets");
    out->col_row = cf_malloc(nnz * sizeof(uint32_t), err, "CSC indices");
    out->col_val = cf_malloc(nnz * sizeof(float), err, "CSC values");
    if (!out->row_ptr || !out->row_col || !out->row_val || !out->col_ptr || !out->col_row ||
        !out->col_val) {
        cf_ratings_free(out);
        return CF_ERR_NOMEM;
    }
    if (T == 1 || compress_par(t->u, t->i, t->r, t->n, n_users, T, out->row_ptr, out->row_col, out->row_val))
        compress(t->u, t->i, t->r, t->n, n_users, out->row_ptr, out->row_col, out->row_val);
    if (T == 1 || compress_par(t->i, t->u, t->r, t->n, n_items, T, out->col_ptr, out->col_row, out->col_val))
        compress(t->i, t->u, t->r, t->n, n_items, out->col_ptr, out->col_row, out->col_val);
    /* the mean: one serial sum in index order, as ever (a parallel sum would round
     * differently and move every seeded result) */
    double s = 0;
    for (int64_t k = 0; k < t->n; k++) s += t->r[k];
    out->mean = t->n ? s / (double)t->n : 0.0;
    return CF_OK;
}
