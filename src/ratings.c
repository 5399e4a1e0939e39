/* ratings.c — CSR (by user) and CSC (by item) from triplets, by counting sort (the one
 * stable counting sort of the project: cf_bucket_sort_threads). */
#include "ratings.h"

#include "common.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void cf_ratings_free(cf_ratings *r) {
    if (!r) return;
    free(r->row_ptr), free(r->row_col), free(r->row_val);
    free(r->col_ptr), free(r->col_row), free(r->col_val);
    memset(r, 0, sizeof *r);
}

void cf_ratings_entry_users(const cf_ratings *R, int threads, uint32_t *out) {
#pragma omp parallel for num_threads(cf_threads(threads)) schedule(dynamic, 1024)
    for (int64_t u = 0; u < R->n_users; u++)
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) out[e] = (uint32_t)u;
}

void cf_ratings_offsets(int64_t *ptr, int64_t n) {
    for (int64_t c = 0; c < n; c++) ptr[c + 1] += ptr[c];
}

static inline int64_t bucket_of(const uint32_t *key, const uint32_t *map, int64_t t) {
    return map ? map[key[t]] : key[t];
}

/* The sort on T threads: the list cut into T equal ranges, each thread counts its range's
 * buckets (cnt[t][b]); the counts become, bucket by bucket and within a bucket range by
 * range, each range's first slot in the bucket (the serial pass's slots); each thread
 * scatters its range. Bytes: the keys read twice, the moved arrays once, written at
 * random places of the output: bound by the scatter's cache misses, on every core.
 * Returns -1 when out of memory for the counts. */
static int bucket_par(int64_t n, const uint32_t *key, const uint32_t *map, int64_t nb, const cf_bucket_move *mv,
                      int T, int64_t *ptr) {
    int64_t *cnt = calloc((size_t)T * (size_t)nb + 1, sizeof *cnt);
    int64_t *base = malloc(((size_t)nb + 1) * sizeof *base);
    if (!cnt || !base) {
        free(cnt), free(base);
        return -1;
    }
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t k0 = n * t / nt, k1 = n * (t + 1) / nt;
        int64_t *c = cnt + (size_t)t * (size_t)nb;
        if (mv->sel) {
            for (int64_t k = k0; k < k1; k++) c[bucket_of(key, map, k)] += mv->sel[k] == mv->sel_want;
        } else {
            for (int64_t k = k0; k < k1; k++) c[bucket_of(key, map, k)]++;
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t g = 0; g < nb; g++) {
            int64_t run = 0;
            for (int j = 0; j < nt; j++) {
                int64_t *x = cnt + (size_t)j * (size_t)nb + g, v = *x;
                *x = run, run += v;
            }
            base[g + 1] = run;
        }
#pragma omp single
        {
            base[0] = 0;
            cf_ratings_offsets(base, nb);
        }
        for (int64_t k = k0; k < k1; k++) {
            if (mv->sel && mv->sel[k] != mv->sel_want) continue;
            const int64_t g = bucket_of(key, map, k), dst = base[g] + c[g]++;
            if (mv->out) mv->out[dst] = mv->in ? mv->in[k] : k;
            if (mv->carry) mv->carry_out[dst] = mv->carry[k];
            if (mv->val) mv->val_out[dst] = mv->val[k];
            if (mv->byte) mv->byte_out[dst] = mv->byte[k];
        }
    }
    if (ptr) memcpy(ptr, base, ((size_t)nb + 1) * sizeof *ptr);
    free(cnt), free(base);
    return 0;
}

cf_status cf_bucket_sort_threads(int64_t n, const uint32_t *key, const uint32_t *map, int64_t nb,
                                 const cf_bucket_move *mv, int threads, int64_t *ptr, cf_error *err) {
    const int T = cf_threads(threads);
    if (T > 1 && !bucket_par(n, key, map, nb, mv, T, ptr)) return CF_OK;
    if (bucket_par(n, key, map, nb, mv, 1, ptr))
        return cf_fail(err, CF_ERR_NOMEM, "out of memory for %lld bucket counts", (long long)nb);
    return CF_OK;
}

cf_status cf_ratings_build(const cf_triplets *t, int64_t n_users, int64_t n_items, cf_ratings *out,
                           cf_error *err) {
    return cf_ratings_build_threads(t, n_users, n_items, 0, out, err);
}

cf_status cf_ratings_build_threads(const cf_triplets *t, int64_t n_users, int64_t n_items, int threads,
                                   cf_ratings *out, cf_error *err) {
    return cf_ratings_build_part(t, NULL, 0, n_users, n_items, threads, out, err);
}

/* Σ r over the ratings of the part (part NULL: all), m of them: what one serial double
 * sum in index order gives, as ever (a sum rounded in another order would move every
 * seeded result). When every rating is a multiple of 2^-8 of magnitude ≤ 4096 (stars,
 * halves, percentages) and m < 2^33, every partial sum in any order is a multiple of
 * 2^-8 below 2^45, exact in a double; the threads' sums then add up to the serial sum
 * bit for bit, and are used. Otherwise the serial sum (adding 0 for a rating of the
 * other part leaves it as it was). */
static double part_sum(const cf_triplets *t, const uint8_t *part, uint8_t want, int64_t m, int T) {
    double s = 0;
    int exact = m < ((int64_t)1 << 33);
    if (T > 1 && exact) {
#pragma omp parallel for num_threads(T) schedule(static) reduction(+ : s) reduction(& : exact)
        for (int64_t k = 0; k < t->n; k++) {
            const float r = part && part[k] != want ? 0.0f : t->r[k];
            const float x = fabsf(r) <= 4096.0f ? r * 256.0f : 0.5f; /* 0.5: out of range, or NaN */
            exact &= (float)(int32_t)x == x;
            s += r;
        }
        if (exact) return s;
        s = 0;
    }
    for (int64_t k = 0; k < t->n; k++) s += part && part[k] != want ? 0.0f : t->r[k];
    return s;
}

cf_status cf_ratings_build_part(const cf_triplets *t, const uint8_t *part, uint8_t want, int64_t n_users,
                                int64_t n_items, int threads, cf_ratings *out, cf_error *err) {
    memset(out, 0, sizeof *out);
    int T = cf_threads(threads);
    if (t->n < ((int64_t)1 << 16)) T = 1; /* small: not worth a team */
    /* the first index out of range, and the part's size (index k of the part: m_k) */
    int64_t first_bad = INT64_MAX, m = 0;
#pragma omp parallel for num_threads(T) schedule(static) reduction(min : first_bad) reduction(+ : m)
    for (int64_t k = 0; k < t->n; k++) {
        if (part && part[k] != want) continue;
        m++;
        if (((int64_t)t->u[k] >= n_users || (int64_t)t->i[k] >= n_items) && k < first_bad) first_bad = k;
    }
    if (first_bad != INT64_MAX) {
        int64_t k = first_bad, j = 0; /* named by its place in the part, as when built from a copy */
        if (part)
            for (int64_t x = 0; x < k; x++) j += part[x] == want;
        else
            j = k;
        return cf_fail(err, CF_ERR_INVALID,
                       "rating %lld: index (%u, %u) outside the %lld × %lld matrix",
                       (long long)j, t->u[k], t->i[k], (long long)n_users, (long long)n_items);
    }
    out->n_users = n_users;
    out->n_items = n_items;
    out->nnz = m;
    size_t nnz = (size_t)m;
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
    /* CSR: grouped by user, carrying item and value; CSC: by item, carrying user and value */
    const cf_bucket_move by_user = {.carry = t->i, .carry_out = out->row_col, .val = t->r, .val_out = out->row_val,
                                    .sel = part, .sel_want = want};
    const cf_bucket_move by_item = {.carry = t->u, .carry_out = out->col_row, .val = t->r, .val_out = out->col_val,
                                    .sel = part, .sel_want = want};
    cf_status st;
    if ((st = cf_bucket_sort_threads(t->n, t->u, NULL, n_users, &by_user, T, out->row_ptr, err)) ||
        (st = cf_bucket_sort_threads(t->n, t->i, NULL, n_items, &by_item, T, out->col_ptr, err))) {
        cf_ratings_free(out);
        return st;
    }
    out->mean = m ? part_sum(t, part, want, m, T) / (double)m : 0.0;
    return CF_OK;
}
