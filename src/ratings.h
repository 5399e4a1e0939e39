/*
 * ratings.h — the training matrix R (n_users × n_items, nnz ratings) in both
 * compressed layouts: CSR by user (row u: its items and ratings) and CSC by item
 * (column i: its users and ratings). Offsets are 64-bit so > 2^31 ratings work;
 * indices are 32-bit. Built in O(nnz + n_users + n_items) by counting sort; within a
 * row (column) entries keep the order of the input triplets.
 */
#ifndef CF_RATINGS_H
#define CF_RATINGS_H

#include "cufactor.h"
#include "dataset.h"

#include <stdint.h>

typedef struct cf_ratings {
    int64_t n_users, n_items, nnz;
    /* CSR by user: row u's entries are [row_ptr[u], row_ptr[u+1]) */
    int64_t *row_ptr;  /* n_users + 1 */
    uint32_t *row_col; /* nnz item indices */
    float *row_val;    /* nnz ratings */
    /* CSC by item: column i's entries are [col_ptr[i], col_ptr[i+1]) */
    int64_t *col_ptr;  /* n_items + 1 */
    uint32_t *col_row; /* nnz user indices */
    float *col_val;    /* nnz ratings */
    double mean;       /* mean of all ratings (0 when nnz = 0) */
} cf_ratings;

/* Builds both layouts from triplets whose indices are < n_users, < n_items, on
 * omp_get_max_threads() threads. */
cf_status cf_ratings_build(const cf_triplets *t, int64_t n_users, int64_t n_items,
                           cf_ratings *out, cf_error *err);
/* The same on `threads` threads (0: omp_get_max_threads(); 1: the serial counting sort,
 * the reference): the result is byte for byte the same whatever the count. */
cf_status cf_ratings_build_threads(const cf_triplets *t, int64_t n_users, int64_t n_items, int threads,
                                   cf_ratings *out, cf_error *err);
/* The same from the ratings k of t with part[k] == want only (part NULL: all of them):
 * byte for byte what building from a copy of those ratings in index order gives (e.g.
 * cf_dataset_part's), without the copy. */
cf_status cf_ratings_build_part(const cf_triplets *t, const uint8_t *part, uint8_t want, int64_t n_users,
                                int64_t n_items, int threads, cf_ratings *out, cf_error *err);
void cf_ratings_free(cf_ratings *r);

/* The project's stable counting sort (CSR/CSC here; the SGD orders of schedule.c and
 * sgd_work.c): n elements into nb buckets on `threads` threads (0: all), the same bytes
 * whatever the count. Element t's bucket is map[key[t]] (map NULL: key[t]), < nb; it goes
 * to slot dst (by bucket, ties in element order) and takes along what `mv` names, each
 * pair NULL when not wanted: out[dst] = in ? in[t] : t, carry_out[dst] = carry[t],
 * val_out[dst] = val[t], byte_out[dst] = byte[t]. With `sel`, only the elements t with
 * sel[t] == sel_want take part (the others are neither counted nor moved; slots as if
 * the list held only those). ptr (NULL: not wanted) = the nb + 1 bucket offsets. Each thread
 * counts a contiguous range of the elements; the counts become offsets in (bucket, range)
 * order; each thread scatters its range. T × nb counts of memory (one thread when they do
 * not fit; CF_ERR_NOMEM when not even those of one do). */
typedef struct cf_bucket_move {
    const int64_t *in;
    int64_t *out;
    const uint32_t *carry;
    uint32_t *carry_out;
    const float *val;
    float *val_out;
    const uint8_t *byte;
    uint8_t *byte_out;
    const uint8_t *sel;
    uint8_t sel_want;
} cf_bucket_move;
cf_status cf_bucket_sort_threads(int64_t n, const uint32_t *key, const uint32_t *map, int64_t nb,
                                 const cf_bucket_move *mv, int threads, int64_t *ptr, cf_error *err);

/* out[e] = the user of CSR entry e (out holds nnz), on `threads` threads (0: all). */
void cf_ratings_entry_users(const cf_ratings *R, int threads, uint32_t *out);

/* The offsets step of the build: ptr[0..n] holds 0 and the n group counts (ptr[c + 1] =
 * entries of group c) and becomes the 64-bit offsets in place (ptr[c + 1] = Σ_{≤c} counts).
 * Separate so that > 2^31 ratings can be tested from counts alone. */
void cf_ratings_offsets(int64_t *ptr, int64_t n);

#endif
