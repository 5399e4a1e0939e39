/*
 * schedule.c — seeded streams, permutations and the `blocks` SGD schedule
 * (the definition and its math are in schedule.h), built on `threads` threads with the
 * same bytes whatever the count: the random draws are per item (one stream each, not
 * one stream in sequence over all entries) and the sorts are stable parallel counting
 * sorts (cf_bucket_sort_threads, ratings.h).
 */
#include "schedule.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

uint64_t cf_sched_seed(uint64_t seed, uint64_t tag, uint64_t index) {
    uint64_t s = seed;
    uint64_t h = cf_splitmix64(&s);
    s = h ^ (tag * 0xd6e8feb86659fd93ULL);
    h = cf_splitmix64(&s);
    s = h ^ (index * 0x9e3779b97f4a7c15ULL);
    return cf_splitmix64(&s);
}

/* Fisher–Yates from the top (schedule.h). The draws do not depend on the array, so they
 * are made FY_AHEAD swaps early, in the same order, and the slot each will swap with is
 * prefetched: over a large array every swap is a cache miss at a random place, and this
 * keeps FY_AHEAD of them in flight instead of one: the same permutation, byte for byte,
 * in 0.09 s instead of 0.28 s for 9 M entries and 1.4 s instead of 3.6 s for 100 M (one
 * core of the 2-core VM). It is every epoch's order of the CPU's `shuffle` SGD, and each
 * bucket's order of the scatter permutation (mini-batch GD). */
#define FY_AHEAD 16
void cf_sched_permutation(int64_t *a, int64_t n, uint64_t stream_seed) {
    for (int64_t j = 0; j < n; j++) a[j] = j;
    cf_sched_shuffle(a, n, stream_seed);
}

void cf_sched_shuffle(int64_t *a, int64_t n, uint64_t stream_seed) {
    cf_rng rng;
    cf_rng_seed(&rng, stream_seed);
    int64_t ahead[FY_AHEAD]; /* the draw of step j is in ahead[(n − 1 − j) % FY_AHEAD] */
    for (int64_t w = 0; w < FY_AHEAD && n - 1 - w > 0; w++) {
        ahead[w] = (int64_t)cf_rng_below(&rng, (uint64_t)(n - 1 - w) + 1);
        __builtin_prefetch(a + ahead[w], 1);
    }
    for (int64_t j = n - 1; j > 0; j--) {
        const int slot = (int)((n - 1 - j) % FY_AHEAD);
        const int64_t k = ahead[slot];
        if (j - FY_AHEAD > 0) { /* the draw of step j − FY_AHEAD, in its turn */
            ahead[slot] = (int64_t)cf_rng_below(&rng, (uint64_t)(j - FY_AHEAD) + 1);
            __builtin_prefetch(a + ahead[slot], 1);
        }
        int64_t t = a[j];
        a[j] = a[k];
        a[k] = t;
    }
}

/* The scatter permutation (schedule.h). Chunk c's draws (the bucket of each of its
 * indices, in index order, from the chunk's own stream) are made twice, a count pass and
 * the scatter, so that nothing of size n is stored beside a. */
/* Chunk c of the scatter permutation, indices [c·L, min((c+1)·L, n)), each drawing its
 * bucket b in index order: counted (a NULL: slot[b]++) or placed (a[slot[b]++] = j). */
static void scatter_chunk(int64_t *a, int64_t *slot, int64_t c, int64_t L, int64_t n, int64_t P,
                          uint64_t stream_seed) {
    cf_rng rng;
    cf_rng_seed(&rng, cf_sched_seed(stream_seed, CF_STREAM_SCATTER_CHUNK, (uint64_t)c));
    const int64_t hi = (c + 1) * L < n ? (c + 1) * L : n;
    for (int64_t j = c * L; j < hi; j++) {
        const uint64_t b = cf_rng_below(&rng, (uint64_t)P);
        if (a) a[slot[b]++] = j;
        else slot[b]++;
    }
}

cf_status cf_sched_scatter_permutation(int64_t *a, int64_t n, uint64_t stream_seed, int threads, cf_error *err) {
    int64_t P = (n + CF_SCATTER_BUCKET - 1) / CF_SCATTER_BUCKET; /* buckets */
    if (P > CF_SCATTER_MAX_BUCKETS) P = CF_SCATTER_MAX_BUCKETS;
    if (P <= 1) {
        cf_sched_permutation(a, n, stream_seed);
        return CF_OK;
    }
    int64_t L = (n + CF_SCATTER_MAX_CHUNKS - 1) / CF_SCATTER_MAX_CHUNKS; /* chunk length */
    if (L < CF_SCATTER_CHUNK) L = CF_SCATTER_CHUNK;
    const int64_t C = (n + L - 1) / L; /* chunks */
    /* slot[c·P + b]: first chunk c's count of bucket b, then the place of its next index
     * there (buckets in order, chunks in order within a bucket) */
    int64_t *slot = cf_calloc((size_t)(C * P), sizeof *slot, err, "scatter permutation");
    int64_t *start = cf_malloc((size_t)(P + 1) * sizeof *start, err, "scatter permutation");
    if (!slot || !start) {
        free(slot), free(start);
        return CF_ERR_NOMEM;
    }
    const int T = cf_threads(threads);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t c = 0; c < C; c++) scatter_chunk(NULL, slot + c * P, c, L, n, P, stream_seed);
    int64_t at = 0;
    for (int64_t b = 0; b < P; b++) {
        start[b] = at;
        for (int64_t c = 0; c < C; c++) {
            const int64_t k = slot[c * P + b];
            slot[c * P + b] = at;
            at += k;
        }
    }
    start[P] = at;
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t c = 0; c < C; c++) scatter_chunk(a, slot + c * P, c, L, n, P, stream_seed);
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int64_t b = 0; b < P; b++)
        cf_sched_shuffle(a + start[b], start[b + 1] - start[b],
                         cf_sched_seed(stream_seed, CF_STREAM_SCATTER_BUCKET, (uint64_t)b));
    free(slot), free(start);
    return CF_OK;
}

/* band[r] = ⌊perm[r]·B / n⌋ for a seeded permutation perm of 0..n−1. */
static cf_status make_bands(int64_t n, int32_t B, uint64_t stream_seed, uint32_t *band,
                            cf_error *err) {
    int64_t *perm = cf_malloc((size_t)n * sizeof *perm, err, "band permutation");
    if (!perm) return CF_ERR_NOMEM;
    cf_sched_permutation(perm, n, stream_seed);
    for (int64_t r = 0; r < n; r++) band[r] = (uint32_t)(perm[r] * (int64_t)B / n);
    free(perm);
    return CF_OK;
}

void cf_blocks_free(cf_blocks *s) {
    if (!s) return;
    free(s->user_band), free(s->item_band), free(s->block_ptr), free(s->entry), free(s->user);
    memset(s, 0, sizeof *s);
}

cf_status cf_blocks_build(const cf_ratings *R, int32_t B, uint64_t seed, cf_blocks *out,
                          cf_error *err) {
    return cf_blocks_build_threads(R, B, seed, 0, out, err);
}

cf_status cf_blocks_build_threads(const cf_ratings *R, int32_t B, uint64_t seed, int threads,
                                  cf_blocks *out, cf_error *err) {
    memset(out, 0, sizeof *out);
    if (B < 1) return cf_fail(err, CF_ERR_INVALID, "blocks: %d, must be >= 1", B);
    const int T = cf_threads(threads);
    cf_blocks s = {.B = B, .n_users = R->n_users, .n_items = R->n_items, .nnz = R->nnz,
                   .seed = seed};
    const int64_t nnz = R->nnz, n_items = R->n_items;
    const size_t nblk = (size_t)B * (size_t)B;
    int64_t *list = NULL, *item_at = NULL, *band_at = NULL;
    uint32_t *entry_user = NULL, *item_rank = NULL;
    s.user_band = cf_malloc((size_t)R->n_users * sizeof *s.user_band, err, "user bands");
    s.item_band = cf_malloc((size_t)n_items * sizeof *s.item_band, err, "item bands");
    s.block_ptr = cf_calloc(nblk + 1, sizeof *s.block_ptr, err, "block offsets");
    s.entry = cf_malloc((size_t)nnz * sizeof *s.entry, err, "block schedule entries");
    s.user = cf_malloc((size_t)nnz * sizeof *s.user, err, "block schedule users");
    list = cf_malloc((size_t)nnz * sizeof *list, err, "block schedule list");
    entry_user = cf_malloc((size_t)nnz * sizeof *entry_user, err, "block schedule entry users");
    item_rank = cf_malloc(((size_t)n_items + 1) * sizeof *item_rank, err, "block schedule item ranks");
    item_at = cf_malloc(((size_t)n_items + 1) * sizeof *item_at, err, "block schedule item offsets");
    cf_status st = CF_ERR_NOMEM;
    if (!s.user_band || !s.item_band || !s.block_ptr || !s.entry || !s.user || !list ||
        !entry_user || !item_rank || !item_at)
        goto fail;

    /* 1. bands (one permutation of the rows each: serial, O(rows)) */
    if ((st = make_bands(R->n_users, B, cf_sched_seed(seed, CF_STREAM_USER_BANDS, 0),
                         s.user_band, err)))
        goto fail;
    if ((st = make_bands(n_items, B, cf_sched_seed(seed, CF_STREAM_ITEM_BANDS, 0),
                         s.item_band, err)))
        goto fail;

    /* 2. item_rank[i] = rank of item i in the order (item band, item): a counting sort of
     * the items by band (serial, O(items + B)) */
    {
        int64_t *at = cf_calloc((size_t)B + 1, sizeof *at, err, "item band offsets");
        if (!at) goto fail;
        for (int64_t i = 0; i < n_items; i++) at[s.item_band[i] + 1]++;
        for (int32_t c = 0; c < B; c++) at[c + 1] += at[c];
        for (int64_t i = 0; i < n_items; i++) item_rank[i] = (uint32_t)at[s.item_band[i]]++;
        free(at);
    }
    cf_ratings_entry_users(R, T, entry_user);

    /* 3. list = the entries sorted by (item band, item), ties in entry order; item_at[r] =
     * the first slot of the item of rank r */
    {
        const cf_bucket_move mv = {.out = list};
        if ((st = cf_bucket_sort_threads(nnz, R->row_col, item_rank, n_items, &mv, T, item_at, err))) goto fail;
    }
    /* 4. each item's ratings in a seeded random order: Fisher–Yates from the top over
     * stream (seed, BLOCK_ORDER, item), item by item on any thread */
#pragma omp parallel for num_threads(T) schedule(dynamic, 64)
    for (int64_t r = 0; r < n_items; r++) {
        const int64_t b = item_at[r], m = item_at[r + 1] - b;
        if (m < 2) continue; /* (an item without ratings has no list[b] to read) */
        const uint64_t item = R->row_col[list[b]];
        cf_sched_shuffle(list + b, m, cf_sched_seed(seed, CF_STREAM_BLOCK_ORDER, item));
    }
    /* 5. blocks: the list sorted stably by user band a. Band a's segment keeps the order
     * (item band c, item, draw), so it holds blocks (a, 0), (a, 1), ... one after the other,
     * each by item (schedule.h step 2). The users are gathered once in list order (into
     * s.user) and carried by the sort (into entry_user), then the two buffers swap. */
    band_at = cf_malloc(((size_t)B + 1) * sizeof *band_at, err, "user band offsets");
    if (!band_at) goto fail;
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < nnz; t++) s.user[t] = entry_user[list[t]];
    {
        const cf_bucket_move mv = {.in = list, .out = s.entry, .carry = s.user, .carry_out = entry_user};
        if ((st = cf_bucket_sort_threads(nnz, s.user, s.user_band, B, &mv, T, band_at, err))) goto fail;
    }
    {
        uint32_t *x = s.user;
        s.user = entry_user, entry_user = x;
    }
    /* block_ptr: band a's block sizes counted in its segment, then the offsets */
#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
    for (int32_t a = 0; a < B; a++) {
        int64_t *cnt = s.block_ptr + (size_t)a * (size_t)B + 1;
        for (int64_t t = band_at[a]; t < band_at[a + 1]; t++) cnt[s.item_band[R->row_col[s.entry[t]]]]++;
    }
    for (size_t k = 0; k < nblk; k++) s.block_ptr[k + 1] += s.block_ptr[k];

    free(list), free(entry_user), free(item_rank), free(item_at), free(band_at);
    *out = s;
    return CF_OK;
fail:
    free(list), free(entry_user), free(item_rank), free(item_at), free(band_at);
    cf_blocks_free(&s);
    return st;
}

int64_t cf_blocks_chain(const cf_blocks *s) {
    int64_t chain = 0;
    for (int32_t shift = 0; shift < s->B; shift++) {
        int64_t longest = 0;
        for (int32_t a = 0; a < s->B; a++) {
            const int64_t blk = cf_blocks_wave_block(s, shift, a);
            const int64_t len = s->block_ptr[blk + 1] - s->block_ptr[blk];
            if (len > longest) longest = len;
        }
        chain += longest;
    }
    return chain;
}

void cf_blocks_epoch_shifts(const cf_blocks *s, int32_t epoch, int32_t *shift) {
    /* the same Fisher–Yates as cf_sched_permutation, on 32-bit values */
    cf_rng rng;
    cf_rng_seed(&rng, cf_sched_seed(s->seed, CF_STREAM_WAVES, (uint64_t)epoch));
    for (int32_t w = 0; w < s->B; w++) shift[w] = w;
    for (int32_t j = s->B - 1; j > 0; j--) {
        int32_t k = (int32_t)cf_rng_below(&rng, (uint64_t)j + 1);
        int32_t t = shift[j];
        shift[j] = shift[k];
        shift[k] = t;
    }
}
