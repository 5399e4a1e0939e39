/*
 * schedule.h — the seeded orders in which the SGD solvers visit the ratings, defined
 * once as plain data so that the CPU reference and the GPU backend run exactly the
 * same order.
 *
 * Seeds. Every random stream is derived from the user's seed (cfg.seed), a stream tag
 * and an index (e.g. the epoch) by cf_sched_seed(); a stream is a cf_rng (common.h)
 * seeded with it, and a permutation of 0..n−1 is the identity shuffled by
 * Fisher–Yates from the top with cf_rng_below(): for j = n−1 down to 1, swap a[j]
 * with a[cf_rng_below(j + 1)] (cf_sched_permutation()).
 *
 * The `shuffle` order (SGD's plain reference): epoch t visits the CSR entries in the
 * order of the permutation of 0..nnz−1 drawn from stream (seed, CF_STREAM_SHUFFLE, t).
 *
 * The `blocks` order (B = cfg.blocks), reproducible and parallel:
 *   1. Bands. perm_u = permutation of 0..n_users−1 from (seed, CF_STREAM_USER_BANDS, 0),
 *      user u lies in band  band_u(u) = ⌊perm_u[u] · B / n_users⌋;  likewise items
 *      from (seed, CF_STREAM_ITEM_BANDS, 0):  band_i(i) = ⌊perm_i[i] · B / n_items⌋.
 *      Each band holds ⌊n/B⌋ or ⌈n/B⌉ rows. Block (a, c) holds the ratings whose user
 *      is in band a and item in band c.
 *   2. Order within a block. Each item's CSR entries (in entry order) are shuffled by
 *      Fisher–Yates from the top over its own stream (seed, CF_STREAM_BLOCK_ORDER, item);
 *      each block keeps its entries sorted by item, the entries of one item in the order
 *      of that item's shuffled list (a uniformly random order of the item's ratings in
 *      the block: the distribution the former single permutation of all nnz entries
 *      gave, but drawn item by item, so that the build runs on any number of threads
 *      with the same result). (By item: the updates of one item come one after the other, so the GPU
 *      keeps q_i in registers across them instead of a memory round trip per update —
 *      the dependent chain of the busiest item is what bounds a `blocks` epoch.) Bands
 *      and within-block orders are fixed for the whole training.
 *   3. Waves. Epoch t has B waves. σ_t = the permutation of 0..B−1 from
 *      (seed, CF_STREAM_WAVES, t). Wave w (0 ≤ w < B) processes the B blocks
 *      (a, (a + σ_t[w]) mod B) for a = 0..B−1. No two blocks of a wave share a user
 *      band or an item band, so they touch disjoint rows of P and Q and may run in
 *      any order or in parallel with the same result; over the B waves every block,
 *      hence every rating, is visited exactly once per epoch.
 *   Within a block the ratings are processed one after the other, in block order.
 *
 * As data (cf_blocks): block_ptr (B·B + 1 offsets, block (a, c) at a·B + c) into
 * `entry` (the CSR entry index of each rating, so its item is R->row_col[entry] and
 * its rating R->row_val[entry]) and `user` (its user). The GPU uploads these three
 * arrays once and, per epoch, the B wave shifts of cf_blocks_epoch_shifts().
 *
 * Threads. cf_blocks_build_threads and the work lists of sgd_work.h run on `threads`
 * threads (0: omp_get_max_threads()) and give the same bytes for every count: random
 * draws come from per-row streams, and the sorts are stable counting sorts done on
 * contiguous ranges of the list per thread (cf_bucket_sort_threads, ratings.h). Only the bands
 * (one permutation of the users, one of the items: O(rows), not O(ratings)) stay serial.
 */
#ifndef CF_SCHEDULE_H
#define CF_SCHEDULE_H

#include "common.h"
#include "ratings.h"

#include <stdint.h>

/* Stream tags of cf_sched_seed(). */
enum {
    CF_STREAM_SHUFFLE = 1,     /* SGD shuffle order, index = epoch */
    CF_STREAM_USER_BANDS = 2,  /* blocks: user permutation */
    CF_STREAM_ITEM_BANDS = 3,  /* blocks: item permutation */
    CF_STREAM_BLOCK_ORDER = 4, /* blocks: an item's ratings within blocks, index = item */
    CF_STREAM_WAVES = 5,       /* blocks: wave shifts σ_t, index = epoch */
    CF_STREAM_MINIBATCH = 6,   /* mini-batch GD order, index = epoch */
    CF_STREAM_USER_ORDER = 7,  /* hogwild work list: a user's ratings, index = user */
    /* sub-streams of one scatter permutation, seeded from its stream's seed: */
    CF_STREAM_SCATTER_CHUNK = 8,  /* the buckets of a chunk's indices, index = chunk */
    CF_STREAM_SCATTER_BUCKET = 9  /* the order inside a bucket, index = bucket */
};

/* The seed of stream (seed, tag, index): splitmix64 applied three times, mixing in the
 * tag and the index in turn. */
uint64_t cf_sched_seed(uint64_t seed, uint64_t tag, uint64_t index);

/* a[0..n) = a permutation of 0..n−1 drawn from the stream seeded with `stream_seed`. */
void cf_sched_permutation(int64_t *a, int64_t n, uint64_t stream_seed);
/* a[0..n) shuffled in place by the same Fisher–Yates from the top (what
 * cf_sched_permutation applies to the identity; the blocks build applies it to each
 * item's ratings). */
void cf_sched_shuffle(int64_t *a, int64_t n, uint64_t stream_seed);

/* The scatter permutation: a uniformly random permutation of 0..n−1 drawn on `threads`
 * threads (0: omp_get_max_threads()) with the same bytes for every count (Sanders,
 * "Random permutations on distributed, external and hierarchical memory", 1998). It is
 * mini-batch GD's order of each epoch, on the CPU and on the GPU's host side, where one
 * Fisher–Yates over all ratings (1.4 s for 100 M on one core) would be most of an epoch.
 * With P = min(⌈n / CF_SCATTER_BUCKET⌉, CF_SCATTER_MAX_BUCKETS) buckets:
 *   - P = 1 (n ≤ 65 536): the permutation of cf_sched_permutation(a, n, stream_seed);
 *   - else the indices are cut into chunks of L = max(CF_SCATTER_CHUNK,
 *     ⌈n / CF_SCATTER_MAX_CHUNKS⌉) consecutive indices; chunk c draws the bucket of each of
 *     its indices in index order, cf_rng_below(P) from stream (stream_seed,
 *     CF_STREAM_SCATTER_CHUNK, c) (cf_sched_seed with stream_seed as the seed);
 *   - a holds bucket 0's indices, then bucket 1's, …, each bucket's in index order, and
 *     then each bucket's segment is shuffled by cf_sched_shuffle from stream (stream_seed,
 *     CF_STREAM_SCATTER_BUCKET, b).
 * Uniform: the buckets are drawn independently for every index and a bucket's order is
 * uniform whatever its contents, so the law of the result does not change when the
 * indices are relabelled; every permutation is equally likely. A bucket holds ≈ 64 k
 * indices (512 KB: its Fisher–Yates runs in cache). The chunk × bucket table is at most
 * 1 024 × 4 096 int64 (32 MB; 4.6 MB for n = 100 M). CF_ERR_NOMEM when it cannot be had. */
#define CF_SCATTER_BUCKET ((int64_t)1 << 16)
#define CF_SCATTER_MAX_BUCKETS 4096
#define CF_SCATTER_CHUNK ((int64_t)1 << 18)
#define CF_SCATTER_MAX_CHUNKS 1024
cf_status cf_sched_scatter_permutation(int64_t *a, int64_t n, uint64_t stream_seed, int threads, cf_error *err);

typedef struct cf_blocks {
    int32_t B;
    int64_t n_users, n_items, nnz;
    uint64_t seed;          /* the user's seed the schedule was built from */
    uint32_t *user_band;    /* n_users: band_u(u) */
    uint32_t *item_band;    /* n_items: band_i(i) */
    int64_t *block_ptr;     /* B·B + 1: block (a, c) is [block_ptr[a·B+c], block_ptr[a·B+c+1]) */
    int64_t *entry;         /* nnz: CSR entry index of each scheduled rating */
    uint32_t *user;         /* nnz: its user */
} cf_blocks;

/* Builds the bands and blocks of R for B blocks per side (1 ≤ B) from `seed`, on
 * omp_get_max_threads() threads. On failure *out is left zeroed (cf_blocks_free is still
 * safe). */
cf_status cf_blocks_build(const cf_ratings *R, int32_t B, uint64_t seed, cf_blocks *out,
                          cf_error *err);
/* The same on `threads` threads (0: omp_get_max_threads()): byte for byte the same
 * schedule whatever the count. */
cf_status cf_blocks_build_threads(const cf_ratings *R, int32_t B, uint64_t seed, int threads,
                                  cf_blocks *out, cf_error *err);
void cf_blocks_free(cf_blocks *s); /* accepts NULL and a zeroed struct */

/* shift[0..B) = σ_t of epoch t: wave w processes blocks (a, (a + shift[w]) mod B). */
void cf_blocks_epoch_shifts(const cf_blocks *s, int32_t epoch, int32_t *shift);

/* The ratings on the critical path of a `blocks` epoch run wave by wave: Σ over the B
 * wave shifts of the largest block of the wave (the same for every epoch: an epoch runs
 * every shift once). A GPU epoch takes about this many dependent updates one after the
 * other, whatever the number of warps (bench_sgd divides the epoch's time by it). */
int64_t cf_blocks_chain(const cf_blocks *s);

/* Index (a·B + c) of the block that user band a processes in a wave of shift `shift`. */
static inline int64_t cf_blocks_wave_block(const cf_blocks *s, int32_t shift, int32_t a) {
    return (int64_t)a * s->B + (a + shift) % s->B;
}

#endif
