/*
 * progress.h — the pacing of a read's progress callback (cf_read_progress_fn in
 * cufactor.h), shared by the parsers (read*.c) and the duplicate removal (dataset.c).
 *
 * A phase of `total` units calls fn once with 0, then whenever the caller reaches
 * `next` (at least max(total / 100, 2^22) units after the previous call), then once
 * with total. Without a callback `next` is INT64_MAX, so the per-line check
 * `done >= next` never fires and costs one predictable compare.
 */
#ifndef CF_PROGRESS_H
#define CF_PROGRESS_H

#include "cufactor.h"

#include <stdint.h>

#define CF_PROGRESS_MIN_STEP ((int64_t)1 << 22)

typedef struct cf_progress {
    cf_read_progress_fn fn; /* NULL: no calls */
    void *user;
    const char *phase;
    int64_t total, step, next;
    int64_t last; /* done of the latest call (for messages) */
} cf_progress;

/* Calls fn(phase, done, total): returns its answer (non-zero: cancel) and sets the
 * next point to done + step. */
static inline int cf_progress_call(cf_progress *pg, int64_t done) {
    pg->next = done + pg->step;
    pg->last = done;
    return pg->fn(pg->phase, done, pg->total, pg->user);
}

/* Starts a phase (the call with 0). Returns non-zero when the callback cancels. */
static inline int cf_progress_start(cf_progress *pg, cf_read_progress_fn fn, void *user, const char *phase,
                                    int64_t total) {
    pg->fn = fn, pg->user = user, pg->phase = phase, pg->total = total;
    pg->step = total / 100 > CF_PROGRESS_MIN_STEP ? total / 100 : CF_PROGRESS_MIN_STEP;
    pg->next = INT64_MAX;
    pg->last = 0;
    return fn ? cf_progress_call(pg, 0) : 0;
}

/* At `done` units (done < total): calls fn when the next point is reached. */
static inline int cf_progress_at(cf_progress *pg, int64_t done) {
    return done >= pg->next ? cf_progress_call(pg, done) : 0;
}

/* The phase is complete (the call with total). */
static inline int cf_progress_end(cf_progress *pg) {
    if (!pg->fn) return 0;
    pg->next = INT64_MAX;
    pg->last = pg->total;
    return pg->fn(pg->phase, pg->total, pg->total, pg->user);
}

#endif
