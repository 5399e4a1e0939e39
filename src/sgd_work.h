/*
 * sgd_work.h — the host side of the GPU's SGD and mini-batch GD: the ratings laid out in
 * the order a schedule visits them, as parallel arrays (user, item, rating) that the
 * device streams coalesced. Plain C, built without CUDA too, so that CI tests it.
 *
 * hogwild: the CSR entries in the order of the CPU's shuffle of epoch 0 (schedule.h,
 *   stream (seed, CF_STREAM_SHUFFLE, 0)); the device keeps that order for every epoch
 *   and lets its warps take runs of consecutive ratings from it, so the order actually
 *   applied is an interleaving of those runs (lock-free, not reproducible).
 * blocks: the ratings of cf_blocks (schedule.h) in its order: block (a, c) at
 *   [block_ptr[a·B+c], block_ptr[a·B+c+1]), each block in its fixed order, so that one
 *   warp per block applies exactly the CPU reference's sequence of updates.
 * mini-batch: epoch t's batches (the permutation of stream (seed, CF_STREAM_MINIBATCH,
 *   t) cut into runs of `batch`, as the CPU's gd.c) as COO, batch k at [k·batch, ...),
 *   the entries of each batch in CSR order (sorted by user, then as in the CSR), which
 *   is the layout cuSPARSE's COO SpMM expects. A batch's gradient is a sum over its
 *   ratings, so reordering within a batch changes only rounding.
 *   Optionally the same batches sorted by item (then by CSR entry) into a second list:
 *   the COO of E_Sᵀ, so that the device forms Eᵀ·P with a non-transposed SpMM (the
 *   layout cuSPARSE documents for row-major operands) instead of opA = TRANSPOSE.
 */
#ifndef CF_SGD_WORK_H
#define CF_SGD_WORK_H

#include "common.h"
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
/* The blocks order of `bl` (built from R). On failure *out is zeroed. */
cf_status cf_sgd_work_blocks(const cf_ratings *R, const cf_blocks *bl, cf_sgd_work *out,
                             cf_error *err);
void cf_sgd_work_free(cf_sgd_work *w); /* accepts NULL and a zeroed struct */

/* The CSR entries sorted by item, ties in entry order (a stable counting sort):
 * out[0..nnz). For cf_minibatch_coo's item-sorted batches; fixed for a matrix. */
cf_status cf_entries_by_item(const cf_ratings *R, int64_t *out, cf_error *err);

/* Epoch `epoch`'s mini-batches into w (allocated with n = R->nnz by the caller, e.g. by a
 * previous call; pass a zeroed w the first time and it is allocated). `scratch` holds
 * 2·nnz int64 (caller-owned). entry_user[e] is the user of CSR entry e.
 * With by_item and item_order (cf_entries_by_item) not NULL, also the same batches, at
 * the same slots, each sorted by item (ties in entry order), into by_item (allocated like
 * w). Either both are NULL or neither. */
cf_status cf_minibatch_coo(const cf_ratings *R, const uint32_t *entry_user, uint64_t seed,
                           int32_t epoch, int64_t batch, int64_t *scratch, cf_sgd_work *w,
                           const int64_t *item_order, cf_sgd_work *by_item, cf_error *err);

#endif
