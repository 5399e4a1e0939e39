/*
 * dataset.h — the cf_dataset behind the public handle: triplets (u, i, r) in dense
 * indices, a part flag per rating (train/test), and the two ID maps.
 */
#ifndef CF_DATASET_H
#define CF_DATASET_H

#include "cufactor.h"
#include "idmap.h"

#include <stdint.h>

typedef struct cf_triplets {
    int64_t n, cap;
    uint32_t *u;   /* user index */
    uint32_t *i;   /* item index */
    float *r;      /* rating */
    int64_t *t;    /* timestamp (the dataset's `all` when it is timed; else NULL) */
} cf_triplets;

struct cf_dataset {
    cf_idmap *users, *items;
    cf_triplets all;     /* every rating, train and test */
    uint8_t *is_test;    /* all.cap entries: 1 = test part */
    int timed;           /* 1: all.t holds a timestamp per rating (cf_dataset_set_timed) */
};

/* An empty dataset with empty maps; NULL when out of memory. */
cf_dataset *cf_dataset_create(void);

/* Room for `need` ratings in all (and is_test) without a reallocation. 0 ok, -1 out of memory. */
int cf_dataset_reserve(cf_dataset *ds, int64_t need);

/* Appends one rating (part = 0 train, 1 test), at time 0 in a timed dataset. 0 ok, -1
 * out of memory. */
int cf_dataset_push(cf_dataset *ds, uint32_t u, uint32_t i, float r, int part);
/* The same with its timestamp ts (kept only when ds is timed). */
int cf_dataset_push_timed(cf_dataset *ds, uint32_t u, uint32_t i, float r, int64_t ts, int part);

/* Makes an empty dataset timed (a timed one stays so): from now on every rating carries a timestamp (all.t),
 * which deduplication, the binary format and the time splits keep. 0 ok, -1 out of
 * memory or ratings already there. */
int cf_dataset_set_timed(cf_dataset *ds);

/* Removes duplicate (user, item) pairs within the ratings of `part` appended at or
 * after index `from`, keeping the last one in file order; returns how many were removed.
 * A stable counting sort by user (skipped when the range is already grouped by user in
 * index order, as a user-grouped file is), then each user's run sorted by item:
 * O(n + users + Σ run·log run). The surviving ratings of that range end up sorted by
 * (user, item). -1 when out of memory. */
int64_t cf_dataset_dedup(cf_dataset *ds, int64_t from, cf_error *err);

/* The same, reporting through pg (progress.h, units: ratings of the range checked;
 * the caller has started the phase and ends it). -2 (err untouched) when the callback
 * cancels: the range is then in no useful order and the caller drops it. */
struct cf_progress;
int64_t cf_dataset_dedup_progress(cf_dataset *ds, int64_t from, struct cf_progress *pg, cf_error *err);
/* The same on `threads` threads (0: all cores): the per-user sorting and compaction run
 * on segments of whole users; the result is the serial one whatever the count. */
int64_t cf_dataset_dedup_threads(cf_dataset *ds, int64_t from, struct cf_progress *pg, int threads, cf_error *err);

/* Copies the ratings of one part (0 train, 1 test) into `out` (owned by the caller), in
 * index order, on omp_get_max_threads() threads (_threads: `threads`, 0 the same; the
 * same bytes for any count). */
cf_status cf_dataset_part(const cf_dataset *ds, int part, cf_triplets *out, cf_error *err);
cf_status cf_dataset_part_threads(const cf_dataset *ds, int part, int threads, cf_triplets *out, cf_error *err);

void cf_triplets_free(cf_triplets *t);

/* Calls fn(u, x, m, ctx) once for every user u, x the indices of its m ratings (the
 * training part's only when train_only, else every rating) in index order, which fn may
 * permute. Users run in parallel on `threads` threads (0: all cores; one below 2^16
 * ratings), so fn touches only what belongs to its user's ratings. The grouping is a
 * serial counting sort (two passes over the ratings). `what` names the caller in the
 * errors: more than 2^32 − 1 ratings (the indices are 32-bit), out of memory. */
typedef void (*cf_user_fn)(int64_t u, uint32_t *x, int64_t m, void *ctx);
cf_status cf_dataset_each_user(const cf_dataset *ds, int train_only, int threads, const char *what, cf_user_fn fn,
                               void *ctx, cf_error *err);

/* CF_OK when ds is timed; else CF_ERR_INVALID "WHAT: the dataset has no timestamps (read
 * it with cf_read_options.timestamps = 1 ...)" — the check of every time split and fold. */
cf_status cf_dataset_need_times(const cf_dataset *ds, const char *what, cf_error *err);

/* Time order of rating indices (t: the timed dataset's all.t). cf_by_time is the qsort_r
 * comparison of two uint32_t indices by (time, index): ratings of the same second in
 * index order, so the order is total and any sort gives one result. cf_sort_by_time sorts
 * x[0..m) by it; cf_select_by_time is a quickselect (pivots from a fixed stream: expected
 * O(n) on any order, time-sorted input included) that leaves x[k] the k-th smallest of
 * x[0..n) with the smaller ones before it and the larger after. */
int cf_by_time(const void *a, const void *b, void *t);
void cf_sort_by_time(uint32_t *x, int64_t m, const int64_t *t);
void cf_select_by_time(uint32_t *x, int64_t n, int64_t k, const int64_t *t);

#endif
