/* dataset.c — the rating set with its ID maps: append, deduplicate, split, query. */
#include "dataset.h"
#include "ratings.h"

#include "common.h"
#include "progress.h"

#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

cf_dataset *cf_dataset_create(void) {
    cf_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->users = cf_idmap_create();
    ds->items = cf_idmap_create();
    if (!ds->users || !ds->items) cf_dataset_destroy(&ds);
    return ds;
}

void cf_triplets_free(cf_triplets *t) {
    if (!t) return;
    free(t->u);
    free(t->i);
    free(t->r);
    free(t->t);
    memset(t, 0, sizeof *t);
}

void cf_dataset_destroy(cf_dataset **pds) {
    if (!pds || !*pds) return;
    cf_dataset *ds = *pds;
    cf_idmap_destroy(&ds->users);
    cf_idmap_destroy(&ds->items);
    cf_triplets_free(&ds->all);
    free(ds->is_test);
    free(ds);
    *pds = NULL;
}

static int reserve(cf_dataset *ds, int64_t need) {
    cf_triplets *t = &ds->all;
    if (need <= t->cap) return 0;
    int64_t cap = t->cap ? t->cap : 1024;
    while (cap < need) cap += cap / 2 + 1;
    uint32_t *u = realloc(t->u, (size_t)cap * sizeof *u);
    if (!u) return -1;
    t->u = u;
    uint32_t *i = realloc(t->i, (size_t)cap * sizeof *i);
    if (!i) return -1;
    t->i = i;
    float *r = realloc(t->r, (size_t)cap * sizeof *r);
    if (!r) return -1;
    t->r = r;
    if (ds->timed) {
        int64_t *ts = realloc(t->t, (size_t)cap * sizeof *ts);
        if (!ts) return -1;
        t->t = ts;
    }
    uint8_t *p = realloc(ds->is_test, (size_t)cap);
    if (!p) return -1;
    ds->is_test = p;
    t->cap = cap;
    /* a binary load writes 13 bytes per rating into these fresh pages */
    cf_hint_huge_pages(t->u, (size_t)cap * sizeof *u), cf_hint_huge_pages(t->i, (size_t)cap * sizeof *i);
    cf_hint_huge_pages(t->r, (size_t)cap * sizeof *r), cf_hint_huge_pages(ds->is_test, (size_t)cap);
    return 0;
}

int cf_dataset_reserve(cf_dataset *ds, int64_t need) { return reserve(ds, need); }

int cf_dataset_push_timed(cf_dataset *ds, uint32_t u, uint32_t i, float r, int64_t ts, int part) {
    if (ds->all.n == ds->all.cap && reserve(ds, ds->all.n + 1)) return -1;
    int64_t k = ds->all.n++;
    ds->all.u[k] = u;
    ds->all.i[k] = i;
    ds->all.r[k] = r;
    if (ds->timed) ds->all.t[k] = ts;
    ds->is_test[k] = (uint8_t)(part != 0);
    return 0;
}

int cf_dataset_push(cf_dataset *ds, uint32_t u, uint32_t i, float r, int part) {
    return cf_dataset_push_timed(ds, u, i, r, 0, part);
}

int cf_dataset_set_timed(cf_dataset *ds) {
    if (ds->timed) return 0;
    if (ds->all.n > 0) return -1;
    if (ds->all.cap > 0) {
        ds->all.t = malloc((size_t)ds->all.cap * sizeof *ds->all.t);
        if (!ds->all.t) return -1;
    }
    ds->timed = 1;
    return 0;
}

/* Stable counting sort of the ratings at from.. by user, moving them: afterwards the
 * range is grouped by user in index order, each user's ratings still in file order. On
 * `threads` threads (0: all cores) through cf_bucket_sort_threads, the same bytes for
 * any count: a file not grouped by user (item-grouped, shuffled) was one serial scatter
 * of every rating here. 0 ok, -1 out of memory. */
static int group_by_user(cf_dataset *ds, int64_t from, int threads) {
    cf_triplets *t = &ds->all;
    const int64_t m = t->n - from, nkeys = cf_idmap_size(ds->users);
    uint32_t *it = malloc((size_t)m * sizeof *it);
    float *r = malloc((size_t)m * sizeof *r);
    uint8_t *p = malloc((size_t)m);
    int64_t *ptr = malloc(((size_t)nkeys + 1) * sizeof *ptr);
    int64_t *ts = ds->timed ? malloc((size_t)m * sizeof *ts) : NULL; /* the timestamps ride as `in` */
    cf_error err;
    const cf_bucket_move mv = {.in = ds->timed ? t->t + from : NULL, .out = ts, .carry = t->i + from,
                               .carry_out = it, .val = t->r + from, .val_out = r, .byte = ds->is_test + from,
                               .byte_out = p};
    const int T = m < ((int64_t)1 << 16) ? 1 : threads > 0 ? threads : omp_get_num_procs();
    if (!it || !r || !p || !ptr || (ds->timed && !ts) ||
        cf_bucket_sort_threads(m, t->u + from, NULL, nkeys, &mv, T, ptr, &err)) {
        free(it), free(r), free(p), free(ptr), free(ts);
        return -1;
    }
    /* the users are the buckets, in order; the rest copied back */
#pragma omp parallel num_threads(T)
    {
#pragma omp for schedule(dynamic, 4096) nowait
        for (int64_t u = 0; u < nkeys; u++)
            for (int64_t x = ptr[u]; x < ptr[u + 1]; x++) t->u[from + x] = (uint32_t)u;
#pragma omp for schedule(static)
        for (int64_t x = 0; x < m; x++) t->i[from + x] = it[x], t->r[from + x] = r[x], ds->is_test[from + x] = p[x];
    }
    if (ts) memcpy(t->t + from, ts, (size_t)m * sizeof *ts);
    free(it), free(r), free(p), free(ptr), free(ts);
    return 0;
}

/* Sorts keys[0..m) ascending (keys are distinct): insertion sort on chunks of 32, then
 * bottom-up merges through tmp[0..m). */
static void sort_u64(uint64_t *keys, uint64_t *tmp, int64_t m) {
    for (int64_t c = 0; c < m; c += 32) {
        int64_t e = c + 32 < m ? c + 32 : m;
        for (int64_t k = c + 1; k < e; k++) {
            uint64_t x = keys[k];
            int64_t j = k;
            for (; j > c && keys[j - 1] > x; j--) keys[j] = keys[j - 1];
            keys[j] = x;
        }
    }
    uint64_t *a = keys, *b = tmp;
    for (int64_t w = 32; w < m; w *= 2) {
        for (int64_t lo = 0; lo < m; lo += 2 * w) {
            int64_t mid = lo + w < m ? lo + w : m, hi = lo + 2 * w < m ? lo + 2 * w : m;
            int64_t x = lo, y = mid, o = lo;
            while (x < mid && y < hi) b[o++] = a[x] < a[y] ? a[x++] : a[y++];
            while (x < mid) b[o++] = a[x++];
            while (y < hi) b[o++] = a[y++];
        }
        uint64_t *s = a;
        a = b, b = s;
    }
    if (a != keys) memcpy(keys, a, (size_t)m * sizeof *keys);
}

/* The same order for a run built in position order (key = item << 32 | position, the
 * positions increasing): a stable LSD radix sort on the item, 8 bits a pass over the
 * `item_bits` the items need, through tmp; runs under RADIX_MIN keep sort_u64. A stable
 * sort by item of keys in position order is their ascending order, so the bytes are the
 * same; for a Netflix-sized user (≈ 200 ratings, 15-bit items) two counting passes replace
 * ≈ 3 merge passes of unpredictable branches (sort_u64 was half of loading a 100 M-rating
 * file with unsorted users). */
#define RADIX_MIN 96
static void sort_run(uint64_t *keys, uint64_t *tmp, int64_t m, int item_bits) {
    if (m < RADIX_MIN) {
        sort_u64(keys, tmp, m);
        return;
    }
    uint64_t *a = keys, *b = tmp;
    for (int shift = 32; shift < 32 + item_bits; shift += 8) {
        int64_t cnt[257] = {0};
        for (int64_t k = 0; k < m; k++) cnt[((a[k] >> shift) & 255) + 1]++;
        for (int d = 0; d < 256; d++) cnt[d + 1] += cnt[d];
        for (int64_t k = 0; k < m; k++) b[cnt[(a[k] >> shift) & 255]++] = a[k];
        uint64_t *t = a;
        a = b, b = t;
    }
    if (a != keys) memcpy(keys, a, (size_t)m * sizeof *keys);
}

/* Dedup of a range grouped by user in nondecreasing index order (a file grouped by
 * user read into fresh maps is already; group_by_user makes any range so): each user's
 * run is put in item order on its own (key = item << 32 | position in the run, so equal
 * items keep file order) and the last of equal items kept. Cache-friendly, temporaries
 * only of the longest run. Returns the count removed, -1 when out of memory. */
/* The shared progress of a parallel dedup: segments publish the ratings they checked;
 * the calling thread calls the callback with the sum; a cancel stops every segment. */
typedef struct dedup_par {
    cf_progress *pg;
    _Atomic int64_t done;
    _Atomic int cancel;
} dedup_par;

#define DEDUP_PUBLISH ((int64_t)1 << 16)

/* Dedups the user runs of [s0, e0) (whole runs) in place, compacting to s0; returns the
 * end of the kept ratings, -1 out of memory, -2 cancelled. Serial: par NULL, progress
 * through pg (offsets from `from`). */
static int64_t dedup_segment(cf_dataset *ds, int64_t from, int64_t s0, int64_t e0, cf_progress *pg, dedup_par *par,
                             int master) {
    cf_triplets *t = &ds->all;
    uint64_t *key = NULL, *tmp = NULL;
    float *r = NULL;
    uint8_t *p = NULL;
    int64_t *ts = NULL; /* a timed dataset's timestamps ride along */
    int64_t cap = 0, out = s0, published = s0, next_pub = s0 + DEDUP_PUBLISH;
    for (int64_t s = s0; s < e0;) {
        if (!par && pg && cf_progress_at(pg, s - from)) {
            free(key), free(tmp), free(r), free(p), free(ts);
            return -2;
        }
        if (par && s >= next_pub) {
            atomic_fetch_add_explicit(&par->done, s - published, memory_order_relaxed);
            published = s, next_pub = s + DEDUP_PUBLISH;
            int stop = atomic_load_explicit(&par->cancel, memory_order_relaxed);
            if (!stop && master && par->pg) {
                int64_t d = atomic_load_explicit(&par->done, memory_order_relaxed);
                if (d < par->pg->total && cf_progress_at(par->pg, d)) stop = 1, atomic_store(&par->cancel, 1);
            }
            if (stop) {
                free(key), free(tmp), free(r), free(p), free(ts);
                return -2;
            }
        }
        int64_t e = s + 1;
        int sorted = 1;
        for (; e < e0 && t->u[e] == t->u[s]; e++) sorted &= t->i[e] > t->i[e - 1];
        int64_t m = e - s;
        if (sorted) { /* strictly increasing items: no duplicate, already in order */
            if (out != s) {
                memmove(t->u + out, t->u + s, (size_t)m * sizeof *t->u);
                memmove(t->i + out, t->i + s, (size_t)m * sizeof *t->i);
                memmove(t->r + out, t->r + s, (size_t)m * sizeof *t->r);
                memmove(ds->is_test + out, ds->is_test + s, (size_t)m);
                if (ds->timed) memmove(t->t + out, t->t + s, (size_t)m * sizeof *t->t);
            }
            out += m, s = e;
            continue;
        }
        if (m > cap) {
            free(key), free(tmp), free(r), free(p), free(ts);
            cap = m * 2;
            key = malloc((size_t)cap * sizeof *key), tmp = malloc((size_t)cap * sizeof *tmp);
            r = malloc((size_t)cap * sizeof *r), p = malloc((size_t)cap);
            ts = ds->timed ? malloc((size_t)cap * sizeof *ts) : NULL;
            if (!key || !tmp || !r || !p || (ds->timed && !ts)) {
                free(key), free(tmp), free(r), free(p), free(ts);
                return -1;
            }
        }
        uint32_t any = 0; /* the items' bits, for the radix passes */
        for (int64_t k = 0; k < m; k++) {
            key[k] = (uint64_t)t->i[s + k] << 32 | (uint64_t)k;
            any |= t->i[s + k];
            r[k] = t->r[s + k];
            p[k] = ds->is_test[s + k];
            if (ts) ts[k] = t->t[s + k];
        }
        sort_run(key, tmp, m, any ? 32 - __builtin_clz(any) : 0);
        uint32_t u = t->u[s];
        for (int64_t k = 0; k < m; k++) {
            if (k + 1 < m && key[k + 1] >> 32 == key[k] >> 32) continue; /* a later one wins */
            uint32_t pos = (uint32_t)key[k];
            t->u[out] = u, t->i[out] = (uint32_t)(key[k] >> 32), t->r[out] = r[pos];
            ds->is_test[out] = p[pos];
            if (ts) t->t[out] = ts[pos];
            out++;
        }
        s = e;
    }
    free(key), free(tmp), free(r), free(p), free(ts);
    if (par) atomic_fetch_add_explicit(&par->done, e0 - published, memory_order_relaxed);
    return out;
}

/* dedup_segment over the whole range, on `threads` threads: the range cut into segments
 * at user boundaries, each compacted in place, then the segments moved together in order.
 * Each user's run is handled exactly as serially, so the result does not depend on the
 * thread count. Progress (when pg has a callback) from the calling thread with the sum
 * of what the segments checked. */
static int64_t dedup_user_grouped(cf_dataset *ds, int64_t from, cf_progress *pg, int threads) {
    cf_triplets *t = &ds->all;
    const int64_t m = t->n - from;
    int T = threads > 0 ? threads : omp_get_num_procs();
    if (T > 64) T = 64;
    if (m < ((int64_t)1 << 16) * T) T = (int)(m >> 16);
    if (T < 2) {
        int64_t out = dedup_segment(ds, from, from, t->n, pg, NULL, 1);
        if (out < 0) return out;
        int64_t removed = t->n - out;
        t->n = out;
        return removed;
    }
    int64_t b[65], o[64];
    b[0] = from;
    for (int k = 1; k < T; k++) {
        int64_t x = from + m / T * k;
        if (x < b[k - 1]) x = b[k - 1];
        while (x < t->n && x > from && t->u[x] == t->u[x - 1]) x++;
        b[k] = x;
    }
    b[T] = t->n;
    dedup_par par = {.pg = pg && pg->fn ? pg : NULL};
    atomic_init(&par.done, 0);
    atomic_init(&par.cancel, 0);
#pragma omp parallel for num_threads(T) schedule(static, 1)
    for (int k = 0; k < T; k++) o[k] = dedup_segment(ds, from, b[k], b[k + 1], NULL, &par, omp_get_thread_num() == 0);
    int64_t out = o[0];
    for (int k = 0; k < T; k++)
        if (o[k] < 0) return o[k] == -2 || atomic_load(&par.cancel) ? -2 : -1;
    for (int k = 1; k < T; k++) {
        int64_t len = o[k] - b[k];
        if (out != b[k] && len > 0) {
            memmove(t->u + out, t->u + b[k], (size_t)len * sizeof *t->u);
            memmove(t->i + out, t->i + b[k], (size_t)len * sizeof *t->i);
            memmove(t->r + out, t->r + b[k], (size_t)len * sizeof *t->r);
            memmove(ds->is_test + out, ds->is_test + b[k], (size_t)len);
            if (ds->timed) memmove(t->t + out, t->t + b[k], (size_t)len * sizeof *t->t);
        }
        out += len;
    }
    int64_t removed = t->n - out;
    t->n = out;
    return removed;
}

int64_t cf_dataset_dedup(cf_dataset *ds, int64_t from, cf_error *err) {
    return cf_dataset_dedup_progress(ds, from, NULL, err);
}

int64_t cf_dataset_dedup_progress(cf_dataset *ds, int64_t from, cf_progress *pg, cf_error *err) {
    return cf_dataset_dedup_threads(ds, from, pg, 1, err);
}

int64_t cf_dataset_dedup_threads(cf_dataset *ds, int64_t from, cf_progress *pg, int threads, cf_error *err) {
    cf_triplets *t = &ds->all;
    int64_t m = t->n - from;
    if (m <= 1) return 0;
    if (m > (int64_t)UINT32_MAX) {
        /* positions are 32-bit here; 4G ratings from one file would need a wider sort */
        cf_fail(err, CF_ERR_INVALID, "more than %u ratings in one file are not supported", UINT32_MAX);
        return -1;
    }
    /* (user, item, file position) order: group by user first unless the file already
     * is (one stable scatter pass), then sort each user's run by item on its own */
    int64_t k = from + 1;
    while (k < t->n && t->u[k] >= t->u[k - 1]) k++;
    int64_t removed = k < t->n && group_by_user(ds, from, threads) ? -1 : dedup_user_grouped(ds, from, pg, threads);
    if (removed == -1)
        cf_fail(err, CF_ERR_NOMEM, "out of memory removing duplicate ratings (%lld ratings)", (long long)m);
    return removed;
}

/* The part's ratings in index order, on T threads: each thread counts its range of the
 * ratings, the counts' prefix gives its place in out, each copies its range. The same
 * bytes whatever T. Bytes: is_test read twice, 12 bytes per copied rating read and
 * written; bound by memory bandwidth, on every core. */
/* The ratings of part `part` into out, in index order, their timestamps too when
 * with_t (ds timed); the same bytes for any thread count. */
static cf_status copy_part(const cf_dataset *ds, int part, int threads, int with_t, cf_triplets *out, cf_error *err) {
    memset(out, 0, sizeof *out);
    const uint8_t want = (uint8_t)(part != 0);
    const int64_t n = ds->all.n;
    int T = cf_threads(threads);
    if (n < ((int64_t)1 << 16)) T = 1;
    int64_t *cnt = calloc((size_t)T + 1, sizeof *cnt);
    if (!cnt) return cf_fail(err, CF_ERR_NOMEM, "out of memory for the ratings part");
#pragma omp parallel for num_threads(T) schedule(static)
    for (int t = 0; t < T; t++) { /* range t of T, whatever the team's size */
        int64_t m = 0;
        for (int64_t k = n * t / T; k < n * (t + 1) / T; k++) m += ds->is_test[k] == want;
        cnt[t + 1] = m;
    }
    for (int t = 0; t < T; t++) cnt[t + 1] += cnt[t];
    const int64_t m = cnt[T];
    out->u = cf_malloc((size_t)m * sizeof *out->u, err, "ratings part");
    out->i = cf_malloc((size_t)m * sizeof *out->i, err, "ratings part");
    out->r = cf_malloc((size_t)m * sizeof *out->r, err, "ratings part");
    if (with_t) out->t = cf_malloc((size_t)m * sizeof *out->t, err, "ratings part");
    if (!out->u || !out->i || !out->r || (with_t && !out->t)) {
        free(cnt);
        cf_triplets_free(out);
        return CF_ERR_NOMEM;
    }
#pragma omp parallel for num_threads(T) schedule(static)
    for (int t = 0; t < T; t++) {
        int64_t j = cnt[t];
        for (int64_t k = n * t / T; k < n * (t + 1) / T; k++) {
            if (ds->is_test[k] != want) continue;
            out->u[j] = ds->all.u[k], out->i[j] = ds->all.i[k], out->r[j] = ds->all.r[k];
            if (with_t) out->t[j] = ds->all.t[k];
            j++;
        }
    }
    free(cnt);
    out->n = out->cap = m;
    return CF_OK;
}

cf_status cf_dataset_part_threads(const cf_dataset *ds, int part, int threads, cf_triplets *out, cf_error *err) {
    return copy_part(ds, part, threads, 0, out, err);
}

cf_status cf_dataset_train_copy(const cf_dataset *ds, int threads, cf_dataset **out, cf_error *err) {
    *out = NULL;
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_train_copy: dataset is NULL");
    cf_dataset *c = calloc(1, sizeof *c);
    if (!c) return cf_fail(err, CF_ERR_NOMEM, "out of memory copying the training part");
    c->users = cf_idmap_clone(ds->users);
    c->items = cf_idmap_clone(ds->items);
    c->timed = ds->timed;
    cf_status st = c->users && c->items ? CF_OK : cf_fail(err, CF_ERR_NOMEM, "out of memory copying the ID maps");
    if (st == CF_OK) st = copy_part(ds, 0, threads, ds->timed, &c->all, err);
    if (st == CF_OK && !(c->is_test = calloc((size_t)(c->all.cap > 0 ? c->all.cap : 1), 1)))
        st = cf_fail(err, CF_ERR_NOMEM, "out of memory copying the training part");
    if (st) {
        cf_dataset_destroy(&c);
        return st;
    }
    *out = c;
    return CF_OK;
}

cf_status cf_dataset_part(const cf_dataset *ds, int part, cf_triplets *out, cf_error *err) {
    return cf_dataset_part_threads(ds, part, 0, out, err);
}

cf_status cf_dataset_split(cf_dataset *ds, double ratio, uint64_t seed, cf_error *err) {
    return cf_dataset_split_threads(ds, ratio, seed, 0, err);
}

static cf_status check_ratio(double ratio, cf_error *err) {
    if (!(ratio >= 0.0 && ratio < 1.0))
        return cf_fail(err, CF_ERR_INVALID, "test ratio %g: must be in [0, 1)", ratio);
    return CF_OK;
}

/* The training ratings' indices in order, gathered on T threads (ranges counted into
 * cnt[0..T], then filled at their prefix: the serial order), for the splits that pick
 * among them. train_count returns n_train; train_gather fills idx (n_train entries). */
static int64_t train_count(const cf_dataset *ds, int T, int64_t *cnt) {
    const int64_t n = ds->all.n;
    cnt[0] = 0;
#pragma omp parallel for num_threads(T) schedule(static)
    for (int t = 0; t < T; t++) { /* range t of T, whatever the team's size */
        int64_t m = 0;
        for (int64_t k = n * t / T; k < n * (t + 1) / T; k++) m += !ds->is_test[k];
        cnt[t + 1] = m;
    }
    for (int t = 0; t < T; t++) cnt[t + 1] += cnt[t];
    return cnt[T];
}

static void train_gather(const cf_dataset *ds, int T, const int64_t *cnt, uint32_t *idx) {
    const int64_t n = ds->all.n;
#pragma omp parallel for num_threads(T) schedule(static)
    for (int t = 0; t < T; t++) {
        int64_t j = cnt[t];
        for (int64_t k = n * t / T; k < n * (t + 1) / T; k++)
            if (!ds->is_test[k]) idx[j++] = (uint32_t)k;
    }
}

cf_status cf_dataset_split_threads(cf_dataset *ds, double ratio, uint64_t seed, int threads, cf_error *err) {
    cf_status st = check_ratio(ratio, err);
    if (st) return st;
    const int64_t n = ds->all.n;
    const int T = n < ((int64_t)1 << 16) ? 1 : cf_threads(threads);
    int64_t cnt[T + 1];
    const int64_t n_train = train_count(ds, T, cnt);
    int64_t want = (int64_t)llround(ratio * (double)n_train);
    if (want == 0) return CF_OK;
    /* 32-bit positions: half the bytes to fault in, gather and swap at random (a file
     * holds at most 2^32 − 1 ratings, read.c) */
    if (n > (int64_t)UINT32_MAX)
        return cf_fail(err, CF_ERR_INVALID, "split: %lld ratings; a random split takes at most %u",
                       (long long)n, UINT32_MAX);
    uint32_t *idx = cf_malloc((size_t)n_train * sizeof *idx, err, "split");
    if (!idx) return CF_ERR_NOMEM;
    train_gather(ds, T, cnt, idx);
    /* partial Fisher–Yates: the first `want` positions become a uniform random subset.
     * Serial: one seeded stream of draws, each swap depending on the ones before; this
     * is what keeps every seeded split (and result) of earlier versions. */
    /* The draws depend only on the stream, not on idx: drawn 64 ahead, their targets
     * prefetched, then swapped in the same order (the same result, its random accesses
     * overlapped instead of one miss after another); the flags set afterwards, on all
     * threads (the same set). */
    cf_rng rng;
    cf_rng_seed(&rng, seed ^ 0x5eed5b1177ULL);
    int64_t draw[64];
    for (int64_t k0 = 0; k0 < want; k0 += 64) {
        const int nb = want - k0 < 64 ? (int)(want - k0) : 64;
        for (int j = 0; j < nb; j++) {
            draw[j] = k0 + j + (int64_t)cf_rng_below(&rng, (uint64_t)(n_train - k0 - j));
            __builtin_prefetch(&idx[draw[j]], 1);
        }
        for (int j = 0; j < nb; j++) {
            const int64_t k = k0 + j, s = draw[j];
            const uint32_t tmp = idx[k];
            idx[k] = idx[s];
            idx[s] = tmp;
        }
    }
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t k = 0; k < want; k++) ds->is_test[idx[k]] = 1;
    free(idx);
    return CF_OK;
}

cf_status cf_dataset_each_user(const cf_dataset *ds, int train_only, int threads, const char *what, cf_user_fn fn,
                               void *ctx, cf_error *err) {
    const int64_t n = ds->all.n, nu = cf_idmap_size(ds->users);
    if (n > (int64_t)UINT32_MAX)
        return cf_fail(err, CF_ERR_INVALID, "%s: %lld ratings; at most %u", what, (long long)n, UINT32_MAX);
    /* end[u]: after the fill, where user u's run ends (it starts at end[u − 1], 0 for u = 0) */
    int64_t *end = cf_calloc((size_t)nu + 1, sizeof *end, err, what);
    uint32_t *idx = end ? cf_malloc((size_t)(n > 0 ? n : 1) * sizeof *idx, err, what) : NULL;
    if (!idx) {
        free(end);
        return CF_ERR_NOMEM;
    }
    const uint32_t *U = ds->all.u;
    for (int64_t k = 0; k < n; k++) end[U[k] + 1] += !(train_only && ds->is_test[k]);
    for (int64_t u = 0; u < nu; u++) end[u + 1] += end[u];
    for (int64_t k = 0; k < n; k++)
        if (!(train_only && ds->is_test[k])) idx[end[U[k]]++] = (uint32_t)k;
    const int T = n < ((int64_t)1 << 16) ? 1 : cf_threads(threads);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1024)
    for (int64_t u = 0; u < nu; u++) {
        const int64_t lo = u ? end[u - 1] : 0;
        fn(u, idx + lo, end[u] - lo, ctx);
    }
    free(idx), free(end);
    return CF_OK;
}

/* The per-user holdout. User u's n_u training ratings, in index order, are dealt from its
 * own stream (seeded by seed and u, so users are independent and any thread count gives
 * the same split): h_u = ⌊ratio·n_u + U_u⌋ of them (U_u uniform on [0, 1): stochastic
 * rounding, E[h_u] = ratio·n_u), at most n_u − 1, chosen by a partial Fisher–Yates
 * shuffle of the user's list. Grouping the ratings by user is a counting sort, serial
 * (two passes over the ratings); the users are dealt in parallel: 0.07 s for 10 M ratings
 * of 480 k users on this 2-core machine, twice cf_dataset_split_threads's 0.03 s. */
typedef struct holdout {
    double ratio;
    uint64_t seed;
    uint8_t *is_test;
    const int64_t *time; /* the time split: the user's latest ratings, not random ones */
} holdout;

int cf_by_time(const void *a, const void *b, void *ctx) {
    const int64_t *t = ctx;
    const uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return t[x] != t[y] ? (t[x] < t[y] ? -1 : 1) : (x > y) - (x < y);
}

void cf_sort_by_time(uint32_t *x, int64_t m, const int64_t *t) {
    qsort_r(x, (size_t)m, sizeof *x, cf_by_time, (void *)t);
}

static void hold_out_user(int64_t u, uint32_t *x, int64_t m, void *ctx) {
    const holdout *h = ctx;
    if (m < 2) return; /* a user keeps at least one training rating */
    cf_rng rng;
    cf_rng_seed_stream(&rng, h->seed, (uint64_t)u ^ 0x5e7d05e711ULL);
    int64_t take = (int64_t)(h->ratio * (double)m + cf_rng_uniform(&rng));
    if (take > m - 1) take = m - 1;
    if (h->time) { /* the same count; the latest `take` in (time, index) order */
        if (take == 0) return;
        cf_sort_by_time(x, m, h->time);
        for (int64_t j = m - take; j < m; j++) h->is_test[x[j]] = 1;
        return;
    }
    for (int64_t j = 0; j < take; j++) {
        const int64_t s = j + (int64_t)cf_rng_below(&rng, (uint64_t)(m - j));
        const uint32_t t = x[j];
        x[j] = x[s], x[s] = t;
        h->is_test[x[j]] = 1;
    }
}

cf_status cf_dataset_split_per_user(cf_dataset *ds, double ratio, uint64_t seed, int threads, cf_error *err) {
    cf_status st = check_ratio(ratio, err);
    if (st || ratio == 0.0 || ds->all.n == 0) return st;
    holdout h = {ratio, seed, ds->is_test, NULL};
    return cf_dataset_each_user(ds, 1, threads, "per-user split", hold_out_user, &h, err);
}

int cf_dataset_has_timestamps(const cf_dataset *ds) { return ds && ds->timed; }

cf_status cf_dataset_need_times(const cf_dataset *ds, const char *what, cf_error *err) {
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "%s: dataset is NULL", what);
    if (!ds->timed)
        return cf_fail(err, CF_ERR_INVALID,
                       "%s: the dataset has no timestamps (read it with cf_read_options.timestamps = 1: "
                       "a fourth column of integer times)", what);
    return CF_OK;
}

static cf_status need_time(const cf_dataset *ds, double ratio, const char *what, cf_error *err) {
    if (ds && check_ratio(ratio, err)) return CF_ERR_INVALID;
    return cf_dataset_need_times(ds, what, err);
}

cf_status cf_dataset_split_per_user_time(cf_dataset *ds, double ratio, uint64_t seed, int threads, cf_error *err) {
    cf_status st = need_time(ds, ratio, "per-user time split", err);
    if (st || ratio == 0.0 || ds->all.n == 0) return st;
    holdout h = {ratio, seed, ds->is_test, ds->all.t};
    return cf_dataset_each_user(ds, 1, threads, "per-user time split", hold_out_user, &h, err);
}

/* The global time split. The test part is the `want` largest (time, index) keys of the
 * training ratings: a unique set, found by a quickselect (pivots drawn from a fixed
 * stream: expected O(n) on any order, time-sorted files included) that leaves position
 * k = n_train − want holding the k-th smallest key and the larger ones after it. */
void cf_select_by_time(uint32_t *x, int64_t n, int64_t k, const int64_t *t) {
    cf_rng rng;
    cf_rng_seed(&rng, 0x7133c07ULL);
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        const int64_t pick = lo + (int64_t)cf_rng_below(&rng, (uint64_t)(hi - lo + 1));
        uint32_t tmp = x[pick];
        x[pick] = x[hi], x[hi] = tmp;
        const uint32_t piv = x[hi];
        int64_t store = lo; /* Lomuto: [lo, store) below the pivot */
        for (int64_t j = lo; j < hi; j++)
            if (cf_by_time(&x[j], &piv, (void *)t) < 0) tmp = x[j], x[j] = x[store], x[store++] = tmp;
        x[hi] = x[store], x[store] = piv;
        if (store == k) return;
        if (store < k) lo = store + 1;
        else hi = store - 1;
    }
}

cf_status cf_dataset_split_time(cf_dataset *ds, double ratio, int threads, int64_t *cutoff, cf_error *err) {
    if (cutoff) *cutoff = INT64_MAX;
    cf_status st = need_time(ds, ratio, "time split", err);
    if (st) return st;
    const int64_t n = ds->all.n;
    if (n > (int64_t)UINT32_MAX)
        return cf_fail(err, CF_ERR_INVALID, "time split: %lld ratings; at most %u", (long long)n, UINT32_MAX);
    const int T = n < ((int64_t)1 << 16) ? 1 : cf_threads(threads);
    int64_t cnt[T + 1];
    const int64_t n_train = train_count(ds, T, cnt);
    const int64_t want = (int64_t)llround(ratio * (double)n_train);
    if (want == 0) return CF_OK;
    uint32_t *idx = cf_malloc((size_t)n_train * sizeof *idx, err, "time split");
    if (!idx) return CF_ERR_NOMEM;
    train_gather(ds, T, cnt, idx);
    const int64_t first = n_train - want;
    cf_select_by_time(idx, n_train, first, ds->all.t);
    if (cutoff) *cutoff = ds->all.t[idx[first]];
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t k = first; k < n_train; k++) ds->is_test[idx[k]] = 1;
    free(idx);
    return CF_OK;
}

void cf_dataset_info_get(const cf_dataset *ds, cf_dataset_info *info) { cf_dataset_info_get_threads(ds, 0, info); }

/* Two passes over the ratings: the training ones counted and their users and items
 * marked (a byte a row: relaxed atomic stores of 1, which any order leaves the same; a
 * byte already set is not stored again, or the threads would pass its line back and forth),
 * then the test ones whose user or item is unmarked counted. Sums of integers: the same
 * whatever the thread count. 0.27 s for 100 M ratings on one core, and train asks twice. */
void cf_dataset_info_get_threads(const cf_dataset *ds, int threads, cf_dataset_info *info) {
    memset(info, 0, sizeof *info);
    info->n_users = cf_idmap_size(ds->users);
    info->n_items = cf_idmap_size(ds->items);
    _Atomic unsigned char *seen_u = calloc((size_t)info->n_users + 1, 1);
    _Atomic unsigned char *seen_i = calloc((size_t)info->n_items + 1, 1);
    const int64_t n = ds->all.n;
    const int T = n < ((int64_t)1 << 16) ? 1 : cf_threads(threads);
    int64_t n_test = 0, unseen = 0;
#pragma omp parallel for num_threads(T) schedule(static) reduction(+ : n_test)
    for (int64_t k = 0; k < n; k++) {
        if (ds->is_test[k]) {
            n_test++;
        } else if (seen_u && seen_i) { /* stored only when not yet set: the lines stay shared */
            _Atomic unsigned char *a = &seen_u[ds->all.u[k]], *b = &seen_i[ds->all.i[k]];
            if (!atomic_load_explicit(a, memory_order_relaxed)) atomic_store_explicit(a, 1, memory_order_relaxed);
            if (!atomic_load_explicit(b, memory_order_relaxed)) atomic_store_explicit(b, 1, memory_order_relaxed);
        }
    }
    if (seen_u && seen_i) {
#pragma omp parallel for num_threads(T) schedule(static) reduction(+ : unseen)
        for (int64_t k = 0; k < n; k++)
            if (ds->is_test[k] && (!atomic_load_explicit(&seen_u[ds->all.u[k]], memory_order_relaxed) ||
                                   !atomic_load_explicit(&seen_i[ds->all.i[k]], memory_order_relaxed)))
                unseen++;
    }
    info->n_test = n_test, info->n_train = n - n_test, info->test_unseen = unseen;
    free((void *)seen_u);
    free((void *)seen_i);
}

cf_status cf_dataset_transpose(const cf_dataset *ds, cf_dataset **out, cf_error *err) {
    if (!out) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_transpose: out is NULL");
    *out = NULL;
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_transpose: dataset is NULL");
    const int64_t n = ds->all.n, nu = cf_idmap_size(ds->items), ni = cf_idmap_size(ds->users);
    cf_dataset *t = calloc(1, sizeof *t);
    int64_t *cnt = calloc((size_t)(nu > ni ? nu : ni) + 1, sizeof *cnt);
    int64_t *tmp = malloc(sizeof *tmp * (size_t)(n > 0 ? n : 1)), *ord = malloc(sizeof *ord * (size_t)(n > 0 ? n : 1));
    if (!t || !cnt || !tmp || !ord || !(t->users = cf_idmap_clone(ds->items)) || !(t->items = cf_idmap_clone(ds->users)) ||
        cf_dataset_reserve(t, n) != 0) {
        free(cnt), free(tmp), free(ord);
        cf_dataset_destroy(&t);
        return cf_fail(err, CF_ERR_NOMEM, "cf_dataset_transpose: out of memory for %lld ratings", (long long)n);
    }
    /* sorted by (new user, new item) = (old item, old user): a stable counting sort by the
     * old user, then one by the old item */
    for (int64_t e = 0; e < n; e++) cnt[ds->all.u[e] + 1]++;
    for (int64_t k = 0; k < ni; k++) cnt[k + 1] += cnt[k];
    for (int64_t e = 0; e < n; e++) tmp[cnt[ds->all.u[e]]++] = e;
    memset(cnt, 0, sizeof *cnt * (size_t)((nu > ni ? nu : ni) + 1));
    for (int64_t e = 0; e < n; e++) cnt[ds->all.i[e] + 1]++;
    for (int64_t k = 0; k < nu; k++) cnt[k + 1] += cnt[k];
    for (int64_t j = 0; j < n; j++) ord[cnt[ds->all.i[tmp[j]]]++] = tmp[j];
    for (int64_t j = 0; j < n; j++) {
        const int64_t e = ord[j];
        t->all.u[j] = ds->all.i[e], t->all.i[j] = ds->all.u[e], t->all.r[j] = ds->all.r[e];
        t->is_test[j] = ds->is_test[e];
    }
    t->all.n = n;
    free(cnt), free(tmp), free(ord);
    *out = t;
    return CF_OK;
}
