/*
 * sumfile.h — the writer of cufactor's checksummed binary files (.cfm models,
 * .cfc checkpoints): an atomic file (atomic_file.h) whose bytes also feed the
 * cf_hash64 checksum (hash64.h), closed by that checksum as its last 8 bytes.
 * Writes are buffered and errors sticky, as for cf_afile: check once, at commit.
 */
#ifndef CF_SUMFILE_H
#define CF_SUMFILE_H

#include "atomic_file.h"
#include "factors.h"
#include "hash64.h"

typedef struct cf_sumfile {
    cf_afile f;
    cf_hash64 h;
} cf_sumfile;

static inline cf_status cf_sumfile_open(cf_sumfile *w, const char *path, cf_error *err) {
    cf_hash64_init(&w->h);
    return cf_afile_open(&w->f, path, 0, err);
}

static inline void cf_sumfile_write(cf_sumfile *w, const void *p, size_t n) {
    cf_hash64_update(&w->h, p, n);
    cf_afile_write(&w->f, p, n);
}

/* One factor set as both formats store it: P, Q (row-major), b_u, b_i, all f64. */
static inline void cf_sumfile_write_factors(cf_sumfile *w, const cf_factors *f) {
    const size_t k = (size_t)f->k;
    cf_sumfile_write(w, f->P, (size_t)f->n_users * k * sizeof(double));
    cf_sumfile_write(w, f->Q, (size_t)f->n_items * k * sizeof(double));
    cf_sumfile_write(w, f->bu, (size_t)f->n_users * sizeof(double));
    cf_sumfile_write(w, f->bi, (size_t)f->n_items * sizeof(double));
}

/* Appends the checksum of everything written, then publishes the file atomically. */
static inline cf_status cf_sumfile_commit(cf_sumfile *w, cf_error *err) {
    uint64_t sum = cf_hash64_final(&w->h);
    cf_afile_write(&w->f, &sum, 8);
    return cf_afile_commit(&w->f, err);
}

#endif
