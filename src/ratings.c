/* ratings.c — CSR (by user) and CSC (by item) from triplets, by counting sort. */
#include "ratings.h"

#include "common.h"

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

cf_status cf_ratings_build(const cf_triplets *t, int64_t n_users, int64_t n_items, cf_ratings *out,
                           cf_error *err) {
    memset(out, 0, sizeof *out);
    for (int64_t k = 0; k < t->n; k++)
        if ((int64_t)t->u[k] >= n_users || (int64_t)t->i[k] >= n_items)
            return cf_fail(err, CF_ERR_INVALID,
                           "rating %lld: index (%u, %u) outside the %lld × %lld matrix",
                           (long long)k, t->u[k], t->i[k], (long long)n_users, (long long)n_items);
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
    compress(t->u, t->i, t->r, t->n, n_users, out->row_ptr, out->row_col, out->row_val);
    compress(t->i, t->u, t->r, t->n, n_items, out->col_ptr, out->col_row, out->col_val);
    double s = 0;
    for (int64_t k = 0; k < t->n; k++) s += t->r[k];
    out->mean = t->n ? s / (double)t->n : 0.0;
    return CF_OK;
}
