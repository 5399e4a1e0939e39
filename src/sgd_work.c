/* sgd_work.c — schedule orders as device work lists (sgd_work.h). The hogwild and
 * blocks lists and the by-item order are built on `threads` threads (0: all), the same
 * bytes for every count: a user's shuffle draws from that user's own stream, the sort by
 * item is cf_bucket_sort_threads (ratings.h). The per-epoch mini-batch COO is serial. */
#include "sgd_work.h"

#include <omp.h>
#include <string.h>

void cf_sgd_work_free(cf_sgd_work *w) {
    if (!w) return;
    free(w->u), free(w->i), free(w->r);
    memset(w, 0, sizeof *w);
}

static cf_status work_alloc(cf_sgd_work *w, int64_t n, cf_error *err) {
    memset(w, 0, sizeof *w);
    size_t m = (size_t)(n > 0 ? n : 1);
    w->u = cf_malloc(m * sizeof *w->u, err, "SGD work list users");
    w->i = cf_malloc(m * sizeof *w->i, err, "SGD work list items");
    w->r = cf_malloc(m * sizeof *w->r, err, "SGD work list ratings");
    if (!w->u || !w->i || !w->r) {
        cf_sgd_work_free(w);
        return CF_ERR_NOMEM;
    }
    w->n = n;
    return CF_OK;
}

cf_status cf_sgd_work_hogwild(const cf_ratings *R, uint64_t seed, cf_sgd_work *out, cf_error *err) {
    return cf_sgd_work_hogwild_threads(R, seed, 0, out, err);
}

cf_status cf_sgd_work_hogwild_threads(const cf_ratings *R, uint64_t seed, int threads, cf_sgd_work *out,
                                      cf_error *err) {
    cf_status st = work_alloc(out, R->nnz, err);
    if (st) return st;
    const int T = cf_threads(threads);
    /* each user's ratings in a seeded random order (Fisher–Yates from the top over the
     * user's stream (seed, USER_ORDER, u)) instead of by item; users are independent, so
     * any thread may take any user */
#pragma omp parallel for num_threads(T) schedule(dynamic, 256)
    for (int64_t u = 0; u < R->n_users; u++) {
        const int64_t b = R->row_ptr[u], m = R->row_ptr[u + 1] - b;
        for (int64_t e = b; e < b + m; e++)
            out->u[e] = (uint32_t)u, out->i[e] = R->row_col[e], out->r[e] = R->row_val[e];
        if (m < 2) continue;
        cf_rng rng;
        cf_rng_seed(&rng, cf_sched_seed(seed, CF_STREAM_USER_ORDER, (uint64_t)u));
        for (int64_t j = m - 1; j > 0; j--) {
            const int64_t k = (int64_t)cf_rng_below(&rng, (uint64_t)j + 1);
            uint32_t ti = out->i[b + j];
            float tr = out->r[b + j];
            out->i[b + j] = out->i[b + k], out->r[b + j] = out->r[b + k];
            out->i[b + k] = ti, out->r[b + k] = tr;
        }
    }
    return CF_OK;
}

void cf_hogwild_plan(int64_t nnz, int64_t n_users, int64_t n_items, int64_t resident, int rows_per_warp,
                     cf_sgd_hogwild_order *o) {
    memset(o, 0, sizeof *o);
    if (rows_per_warp <= 0) rows_per_warp = CF_HOGWILD_ROWS_PER_WARP;
    const int64_t rows = n_users < n_items ? n_users : n_items;
    int64_t w = resident > 0 ? resident : 1;
    if (rows / rows_per_warp < w) w = rows / rows_per_warp;
    if (nnz / CF_HOGWILD_RATINGS_PER_WARP < w) w = nnz / CF_HOGWILD_RATINGS_PER_WARP;
    if (w < 1) w = 1;
    int64_t run = nnz / (8 * w) / 32 * 32;
    run = run < 32 ? 32 : run > 256 ? 256 : run;
    o->n = nnz > 0 ? nnz : 0;
    o->run = run;
    o->n_runs = (o->n + run - 1) / run;
    o->warps = w < o->n_runs ? w : o->n_runs > 0 ? o->n_runs : 1;
}

static uint64_t gcd64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

/* A random affine permutation x ↦ (a·x + b) mod m of [0, m): a uniform among the values
 * in [1, m) coprime to m (1 when m ≤ 2), b uniform in [0, m). */
static void affine_perm(cf_rng *rng, uint64_t m, uint64_t *a, uint64_t *b) {
    *a = 1;
    if (m > 2)
        do *a = 1 + cf_rng_below(rng, m - 1);
        while (gcd64(*a, m) != 1);
    *b = cf_rng_below(rng, m);
}

void cf_hogwild_epoch(cf_sgd_hogwild_order *o, uint64_t seed, int32_t epoch) {
    cf_rng rng;
    cf_rng_seed(&rng, cf_sched_seed(seed, CF_STREAM_SHUFFLE, (uint64_t)epoch));
    o->off = o->n > 1 ? (int64_t)cf_rng_below(&rng, (uint64_t)o->n) : 0;
    affine_perm(&rng, o->n_runs > 0 ? (uint64_t)o->n_runs : 1, &o->perm_a, &o->perm_b);
    o->heavy_a = 1, o->heavy_b = 0;
    if (o->n_heavy > 0) affine_perm(&rng, (uint64_t)o->n_heavy, &o->heavy_a, &o->heavy_b);
}

int64_t cf_hogwild_heavy_min(const cf_sgd_hogwild_order *o) {
    const int64_t share = o->warps > 0 ? o->n / (16 * o->warps) : o->n;
    return share > o->run ? share : o->run;
}

int64_t cf_hogwild_heavy_users(const int64_t *ptr, int64_t n_users, int64_t heavy_min, uint32_t *out) {
    int64_t h = 0;
    for (int64_t u = 0; u < n_users; u++)
        if (ptr[u + 1] - ptr[u] > heavy_min) {
            if (out) out[h] = (uint32_t)u;
            h++;
        }
    return h;
}

cf_status cf_sgd_work_blocks(const cf_ratings *R, const cf_blocks *bl, cf_sgd_work *out,
                             cf_error *err) {
    return cf_sgd_work_blocks_threads(R, bl, 0, out, err);
}

cf_status cf_sgd_work_blocks_threads(const cf_ratings *R, const cf_blocks *bl, int threads, cf_sgd_work *out,
                                     cf_error *err) {
    if (bl->nnz != R->nnz || bl->n_users != R->n_users || bl->n_items != R->n_items) {
        memset(out, 0, sizeof *out);
        return cf_fail(err, CF_ERR_INVALID,
                       "sgd work list: the blocks schedule was built for %lld × %lld with %lld "
                       "ratings, the matrix is %lld × %lld with %lld",
                       (long long)bl->n_users, (long long)bl->n_items, (long long)bl->nnz,
                       (long long)R->n_users, (long long)R->n_items, (long long)R->nnz);
    }
    cf_status st = work_alloc(out, R->nnz, err);
    if (st) return st;
    const int T = cf_threads(threads);
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < R->nnz; t++) {
        int64_t e = bl->entry[t];
        out->u[t] = bl->user[t], out->i[t] = R->row_col[e], out->r[t] = R->row_val[e];
    }
    return CF_OK;
}

cf_status cf_entries_by_item(const cf_ratings *R, int64_t *out, cf_error *err) {
    return cf_entries_by_item_threads(R, 0, out, err);
}

cf_status cf_entries_by_item_threads(const cf_ratings *R, int threads, int64_t *out, cf_error *err) {
    const cf_bucket_move mv = {.out = out};
    return cf_bucket_sort_threads(R->nnz, R->row_col, NULL, R->n_items, &mv, threads, NULL, err);
}

/* The stable counting sort by batch of the entries taken in the order of `take`
 * (NULL: CSR order 0..n−1): batch k's slots are [k·batch, …), filled with the entries'
 * numbers in the order they are taken. With T > 1, each thread takes a contiguous range
 * of that order, so the table holds T counts per batch: next[t·nb + k] is thread t's
 * next slot in batch k (ranges in order within a batch: the same slots as one thread). */
static void batch_scatter(int64_t n, const int64_t *take, const int64_t *cursor, int64_t nb, int64_t batch, int T,
                          int64_t *next, uint32_t *out) {
#pragma omp parallel num_threads(T)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t lo = n / nt * t, hi = t == nt - 1 ? n : n / nt * (t + 1);
        int64_t *mine = next + (int64_t)t * nb;
        memset(mine, 0, (size_t)nb * sizeof *mine);
        for (int64_t x = lo; x < hi; x++) mine[cursor[take ? take[x] : x]]++;
#pragma omp barrier
#pragma omp single
        for (int64_t k = 0; k < nb; k++) {
            int64_t at = k * batch;
            for (int q = 0; q < nt; q++) {
                const int64_t c = next[(int64_t)q * nb + k];
                next[(int64_t)q * nb + k] = at;
                at += c;
            }
        }
        for (int64_t x = lo; x < hi; x++) {
            const int64_t e = take ? take[x] : x;
            out[mine[cursor[e]]++] = (uint32_t)e;
        }
    }
}

cf_status cf_minibatch_entries(const cf_ratings *R, uint64_t seed, int32_t epoch, int64_t batch, int threads,
                               int64_t *scratch, uint32_t *by_user, const int64_t *item_order, uint32_t *by_item,
                               cf_error *err) {
    if (batch < 1) return cf_fail(err, CF_ERR_INVALID, "batch: %lld, must be >= 1", (long long)batch);
    if (!item_order != !by_item)
        return cf_fail(err, CF_ERR_INVALID, "mini-batch lists: item_order and by_item go together");
    const int64_t n = R->nnz;
    if (n > (int64_t)UINT32_MAX)
        return cf_fail(err, CF_ERR_INVALID, "mini-batch lists: %lld ratings, at most 2^32 − 1 (32-bit entries)",
                       (long long)n);
    int64_t *order = scratch, *cursor = scratch + n;
    /* the CPU's order of this epoch (gd.c), batch k = order[k·batch .. (k+1)·batch) */
    cf_status st = cf_sched_scatter_permutation(order, n, cf_sched_seed(seed, CF_STREAM_MINIBATCH, (uint64_t)epoch),
                                                threads, err);
    if (st) return st;
    int T = cf_threads(threads);
    /* batch of each entry, in place of its position: cursor[e] = ⌊pos(e)/batch⌋ */
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < n; t++) cursor[order[t]] = t / batch;
    /* the permutation is no longer needed: its n int64 hold the sort's table of T counts
     * per batch (one thread where there are too many batches for that) */
    const int64_t nb = n ? (n + batch - 1) / batch : 0;
    if (T > 1 && (nb * T > n || n < 4 * (int64_t)T)) T = 1;
    batch_scatter(n, NULL, cursor, nb, batch, T, order, by_user);
    if (!by_item) return CF_OK;
    /* small batches (nb·n_items ≥ n, asked without the product): the entries gathered in
     * item order */
    if (R->n_items == 0 || nb >= (n + R->n_items - 1) / R->n_items) {
        batch_scatter(n, item_order, cursor, nb, batch, T, order, by_item);
        return CF_OK;
    }
    /* Each batch of by_user (in entry order) sorted by item on its own, stably: the same
     * list, read in sequence instead of gathered at random through item_order (four cache
     * misses a rating: 1.45 of 2.25 s at 30 M ratings on one core). The batch's items are
     * gathered into the cursors' space (no longer needed), the bucket offsets go into the
     * permutation's (n_items + 1 < n). */
    uint32_t *items = (uint32_t *)cursor;
    for (int64_t k = 0; k < nb; k++) {
        const int64_t off = k * batch, m = n - off < batch ? n - off : batch;
#pragma omp parallel for num_threads(cf_threads(threads)) schedule(static)
        for (int64_t x = 0; x < m; x++) items[x] = R->row_col[by_user[off + x]];
        const cf_bucket_move mv = {.carry = by_user + off, .carry_out = by_item + off};
        if ((st = cf_bucket_sort_threads(m, items, NULL, R->n_items, &mv, threads, order, err))) return st;
    }
    return CF_OK;
}
