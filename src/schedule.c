/*
 * schedule.c — seeded streams, permutations and the `blocks` SGD schedule
 * (the definition and its math are in schedule.h).
 */
#include "schedule.h"

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

void cf_sched_permutation(int64_t *a, int64_t n, uint64_t stream_seed) {
    cf_rng rng;
    cf_rng_seed(&rng, stream_seed);
    for (int64_t j = 0; j < n; j++) a[j] = j;
    for (int64_t j = n - 1; j > 0; j--) {
        int64_t k = (int64_t)cf_rng_below(&rng, (uint64_t)j + 1);
        int64_t t = a[j];
        a[j] = a[k];
        a[k] = t;
    }
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
    memset(out, 0, sizeof *out);
    if (B < 1) return cf_fail(err, CF_ERR_INVALID, "blocks: %d, must be >= 1", B);
    cf_blocks s = {.B = B, .n_users = R->n_users, .n_items = R->n_items, .nnz = R->nnz,
                   .seed = seed};
    size_t nnz = (size_t)R->nnz, nblk = (size_t)B * (size_t)B;
    int64_t *order = NULL;
    uint32_t *entry_user = NULL;
    s.user_band = cf_malloc((size_t)R->n_users * sizeof *s.user_band, err, "user bands");
    s.item_band = cf_malloc((size_t)R->n_items * sizeof *s.item_band, err, "item bands");
    s.block_ptr = cf_calloc(nblk + 1, sizeof *s.block_ptr, err, "block offsets");
    s.entry = cf_malloc(nnz * sizeof *s.entry, err, "block schedule entries");
    s.user = cf_malloc(nnz * sizeof *s.user, err, "block schedule users");
    order = cf_malloc(nnz * sizeof *order, err, "block schedule order");
    entry_user = cf_malloc(nnz * sizeof *entry_user, err, "block schedule entry users");
    cf_status st = CF_ERR_NOMEM;
    if (!s.user_band || !s.item_band || !s.block_ptr || !s.entry || !s.user || !order ||
        !entry_user)
        goto fail;

    /* 1. bands */
    if ((st = make_bands(R->n_users, B, cf_sched_seed(seed, CF_STREAM_USER_BANDS, 0),
                         s.user_band, err)))
        goto fail;
    if ((st = make_bands(R->n_items, B, cf_sched_seed(seed, CF_STREAM_ITEM_BANDS, 0),
                         s.item_band, err)))
        goto fail;

    /* 2. blocks: a stable counting sort, by block, of the seeded list of entries */
    for (int64_t u = 0; u < R->n_users; u++)
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) entry_user[e] = (uint32_t)u;
    cf_sched_permutation(order, R->nnz, cf_sched_seed(seed, CF_STREAM_BLOCK_ORDER, 0));
    /* the list sorted by item, stably (ties keep the permutation's order), through
     * s.entry as scratch: the bucketing below keeps it, so a block holds its items'
     * ratings one item after the other (schedule.h step 2) */
    {
        int64_t *at = cf_calloc((size_t)R->n_items + 1, sizeof *at, err, "block schedule item offsets");
        if (!at) goto fail;
        for (size_t t = 0; t < nnz; t++) at[R->row_col[order[t]] + 1]++;
        for (int64_t i = 0; i < R->n_items; i++) at[i + 1] += at[i];
        for (size_t t = 0; t < nnz; t++) s.entry[at[R->row_col[order[t]]]++] = order[t];
        if (nnz) memcpy(order, s.entry, nnz * sizeof *order);
        free(at);
    }
#define BLOCK_OF(e) ((size_t)s.user_band[entry_user[e]] * (size_t)B + s.item_band[R->row_col[e]])
    for (size_t e = 0; e < nnz; e++) s.block_ptr[BLOCK_OF(e) + 1]++;
    for (size_t k = 0; k < nblk; k++) s.block_ptr[k + 1] += s.block_ptr[k];
    /* block_ptr[k] serves as block k's write cursor, then is shifted back */
    for (size_t t = 0; t < nnz; t++) {
        int64_t e = order[t];
        int64_t dst = s.block_ptr[BLOCK_OF(e)]++;
        s.entry[dst] = e;
        s.user[dst] = entry_user[e];
    }
#undef BLOCK_OF
    for (size_t k = nblk; k > 0; k--) s.block_ptr[k] = s.block_ptr[k - 1];
    s.block_ptr[0] = 0;

    free(order), free(entry_user);
    *out = s;
    return CF_OK;
fail:
    free(order), free(entry_user);
    cf_blocks_free(&s);
    return st;
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
