/*
 * sgd_work.h — the host side of the GPU's SGD and mini-batch GD: the ratings laid out in
 * the order a schedule visits them, as parallel arrays (user, item, rating) that the
 * device streams coalesced. Plain C, built without CUDA too, so that CI tests it.
 *
 * hogwild: the CSR entries by user (users in CSR order, each user's ratings in a seeded
 *   random order: Fisher–Yates from the top over the user's own stream
 *   (seed, CF_STREAM_USER_ORDER, u), so that users are shuffled on any thread), so that consecutive ratings share the user's row (the device
 *   keeps it in registers). Each epoch the device applies the list as cf_hogwild_epoch orders it:
 *   rotated by a random offset, cut into runs of consecutive ratings, the runs taken in a
 *   fresh random permutation by `warps` concurrent warps (lock-free, not reproducible).
 * blocks: the ratings of cf_blocks (schedule.h) in its order: block (a, c) at
 *   [block_ptr[a·B+c], block_ptr[a·B+c+1]), each block in its fixed order, so that one
 *   warp per block applies exactly the CPU reference's sequence of updates.
 * mini-batch: epoch t's batches (the scatter permutation, schedule.h, of stream (seed,
 *   CF_STREAM_MINIBATCH, t) cut into runs of `batch`, as the CPU's gd.c) as COO, batch k at [k·batch, ...),
 *   the entries of each batch in CSR order (sorted by user, then as in the CSR), which
 *   is the layout cuSPARSE's COO SpMM expects. A batch's gradient is a sum over its
 *   ratings, so reordering within a batch changes only rounding.
 *   Optionally the same batches sorted by item (then by CSR entry) into a second list:
 *   the COO of E_Sᵀ, so that the device forms Eᵀ·P with a non-transposed SpMM (the
 *   layout cuSPARSE documents for row-major operands) instead of opA = TRANSPOSE.
 *
 * Threads: the _threads forms run on `threads` threads (0: omp_get_max_threads()) and
 * give the same bytes whatever the count; the plain forms are the _threads forms with 0.
 */
#ifndef CF_SGD_WORK_H
#define CF_SGD_WORK_H

#include "common.h"
#include "kernels.h" /* cf_sgd_hogwild_order */
#include "ratings.h"
#include "schedule.h"

#include <stdint.h>

typedef struct cf_sgd_work {
    int64_t n;          /* ratings (= nnz) */
    uint32_t *u, *i;    /* n users, n items */
    float *r;           /* n ratings */
} cf_sgd_work;

/* The hogwild order (see above). On failure *out is zeroed. */
cf_status cf_sgd_work_hogwild(const cf_ratings *R, uint64_t seed, cf_sgd_work *out, cf_error *err);
cf_status cf_sgd_work_hogwild_threads(const cf_ratings *R, uint64_t seed, int threads, cf_sgd_work *out,
                                      cf_error *err);
/* The hogwild launch shape for a matrix of nnz ratings over n_users × n_items rows on a
 * device that holds `resident` warps of the kernel at once (0: unknown, taken as 1):
 *
 *   warps = min(resident, ⌊min(n_users, n_items) / rows_per_warp⌋,
 *               ⌊nnz / CF_HOGWILD_RATINGS_PER_WARP⌋, runs), at least 1;
 *   run   = nnz / (8 · warps) rounded down to a multiple of 32, within [32, 256].
 *
 * Why the row bound: a warp's update of q_i is a read-modify-write of about a
 * microsecond; another warp's update of the same row inside that window is lost (the
 * accepted race of Hogwild!). With W warps at once, a row of the smaller side is under
 * concurrent update about W / n_rows of the time for uniform popularity, more for popular
 * rows. A device holds thousands of warps (H200: 132 SMs × up to 48), so on a small set
 * (300 × 200 ratings matrix: ≈ 27 runs of 256 ratings, all at once) nearly every update
 * would race, and the model suffers; on the Netflix shape (17,770 items) the bound is
 * ≈ 2,200 warps at rows_per_warp 8 against ≈ 4,700 resident. rows_per_warp ≤ 0 means
 * CF_HOGWILD_ROWS_PER_WARP.
 *
 * Why the ratings bound: the row bound alone left small sets far from the CPU once the
 * simulation ran the launch's blocks at once (cf_sim_set_resident, every warp interleaved
 * at each collective, as co-resident on a GPU): the test RMSE gap to the CPU's shuffle
 * grew with the warps, ≈ 0.08 % a warp on the 300 × 200 test fixture (6,700 ratings:
 * 0.6 % at 8 warps, 3.2 % at 25) and ≈ 0.6 % at 117 warps on MovieLens-100k's shape
 * (90 k training ratings), i.e. ≈ 450 % × warps / ratings on both. Each warp taking at
 * least 2,048 ratings an epoch keeps that ≈ 0.2 %, under issue 15's 0.5 %. It binds only
 * on small sets, where thousands of warps buy nothing: the Netflix shape (99 M ratings)
 * stays at the row bound's 2,221 warps (≈ 0.01 % by the same fit). Runs: at least 8 per
 * warp, so the permutation of runs mixes the order over the epoch, and 32..256 ratings
 * long (a user's row reused across the run of its ratings). Sets n, run, n_runs, warps of
 * *o (the epoch's fields zero). */
#define CF_HOGWILD_ROWS_PER_WARP 8
#define CF_HOGWILD_RATINGS_PER_WARP 2048
void cf_hogwild_plan(int64_t nnz, int64_t n_users, int64_t n_items, int64_t resident, int rows_per_warp,
                     cf_sgd_hogwild_order *o);
/* Epoch `epoch`'s order of a planned *o, from stream (seed, CF_STREAM_SHUFFLE, epoch):
 * off uniform in [0, n), perm_a uniform among the values in [1, n_runs) coprime to n_runs
 * (1 when n_runs ≤ 2), perm_b uniform in [0, n_runs); then, when o->n_heavy > 0, heavy_a
 * and heavy_b the same way for n_heavy (so the draws above do not depend on it). */
void cf_hogwild_epoch(cf_sgd_hogwild_order *o, uint64_t seed, int32_t epoch);

/* Whole users: the heavy users' threshold for a planned *o, the most ratings a run may
 * take with its users: max(run, ⌊n / (16·warps)⌋), a sixteenth of the mean warp's share.
 *
 * Why: with whole users a warp applies the users that start in its run, each to its end;
 * the warp that draws a user of many ratings works that much longer, and the epoch lasts
 * as long as its slowest warp. Users above the threshold are items of their own, taken
 * first, so they run while the rest fills in around them; the warps take every item from
 * a counter as they finish (cf_sgd_hogwild_order). bench/hogwild_balance.py models the
 * slowest warp against the mean on the bench's shapes (its figures, per way of handing
 * out the work: bench/gpu_sgd_notes.md "Session 12"): 1.06× on the Netflix shape; where
 * one user alone holds more than a warp's share nothing does better than that user's
 * length, and whole users cost epoch time for accuracy (CF_SGD_WHOLE_USERS_MAX_NNZ,
 * src/gpu/gpu.h). */
int64_t cf_hogwild_heavy_min(const cf_sgd_hogwild_order *o);
/* The users of more than heavy_min ratings (user u: ptr[u+1] − ptr[u]) in user order into
 * out (NULL: count only); returns their number. */
int64_t cf_hogwild_heavy_users(const int64_t *ptr, int64_t n_users, int64_t heavy_min, uint32_t *out);

/* The blocks order of `bl` (built from R). On failure *out is zeroed. */
cf_status cf_sgd_work_blocks(const cf_ratings *R, const cf_blocks *bl, cf_sgd_work *out,
                             cf_error *err);
cf_status cf_sgd_work_blocks_threads(const cf_ratings *R, const cf_blocks *bl, int threads, cf_sgd_work *out,
                                     cf_error *err);
void cf_sgd_work_free(cf_sgd_work *w); /* accepts NULL and a zeroed struct */

/* The CSR entries sorted by item, ties in entry order (a stable counting sort):
 * out[0..nnz). For cf_minibatch_entries' item-sorted batches; fixed for a matrix. */
cf_status cf_entries_by_item(const cf_ratings *R, int64_t *out, cf_error *err);
cf_status cf_entries_by_item_threads(const cf_ratings *R, int threads, int64_t *out, cf_error *err);

/* Epoch `epoch`'s mini-batches as CSR entry numbers: by_user[t] (nnz slots, caller-owned)
 * is the entry at slot t, batch k holding slots [k·batch, (k+1)·batch) — the entries of
 * batch k of the CPU's order (gd.c: the scatter permutation of (seed, MINIBATCH, epoch))
 * in entry order, so sorted by user. With by_item and item_order (cf_entries_by_item) not
 * NULL, also the same batches at the same slots, each sorted by item (ties in entry
 * order), into by_item; either both are NULL or neither. `scratch` holds 2·nnz int64
 * (caller-owned). On `threads` threads (0: omp_get_max_threads()), the same bytes
 * whatever the count. The GPU uploads these (4 bytes a rating and list) and gathers the
 * users, items and ratings on the device. */
cf_status cf_minibatch_entries(const cf_ratings *R, uint64_t seed, int32_t epoch, int64_t batch, int threads,
                               int64_t *scratch, uint32_t *by_user, const int64_t *item_order, uint32_t *by_item,
                               cf_error *err);

#endif
