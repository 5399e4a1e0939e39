/*
 * harness.c — the fuzz target bodies (see harness.h). Every check writes what broke into
 * o->violation and stops; nothing here aborts, so the Criterion regression test can
 * report the broken invariant as a normal failure.
 */
#include "harness.h"

#include "dataset.h"
#include "idmap.h"
#include "model.h"
#include "binfmt.h"
#include "checkpoint.h"
#include "hash64.h"
#include "read.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int violated(cf_fuzz_outcome *o, const char *fmt, ...) {
    if (o->violation[0]) return 1; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->violation, sizeof o->violation, fmt, ap);
    va_end(ap);
    return 1;
}

void cf_fuzz_check(const cf_fuzz_outcome *o) {
    if (!o->violation[0]) return;
    fprintf(stderr, "fuzz invariant broken: %s\n  (status %s, message: %s)\n", o->violation,
            cf_status_name(o->status), o->msg);
    abort();
}

/* A failed call: an expected status and a message that starts with the input's name. */
static int check_error_named(cf_fuzz_outcome *o, const char *what, cf_status st, const cf_error *err,
                             cf_status expected, const char *name) {
    if (st != expected && st != CF_ERR_NOMEM)
        return violated(o, "%s: status %s, expected OK, %s or NOMEM", what, cf_status_name(st),
                        cf_status_name(expected));
    if (err->status != st) return violated(o, "%s: returned %s but err says %s", what, cf_status_name(st),
                                           cf_status_name(err->status));
    size_t n = strnlen(err->msg, sizeof err->msg);
    if (n == 0 || n == sizeof err->msg) return violated(o, "%s: empty or unterminated message", what);
    if (strncmp(err->msg, name, strlen(name)) != 0)
        return violated(o, "%s: message does not start with the file name: %s", what, err->msg);
    return 0;
}

static int check_error(cf_fuzz_outcome *o, const char *what, cf_status st, const cf_error *err,
                       cf_status expected) {
    return check_error_named(o, what, st, err, expected, CF_FUZZ_NAME);
}

/* ------------------------------------------------------------------ readers */

/* Every ID without NUL, non-empty unless allowed (a model file may hold an empty ID; the
 * readers refuse one), and found again under its own name. */
static int check_ids(cf_fuzz_outcome *o, const char *what, const cf_idmap *m, int allow_empty) {
    int64_t n = cf_idmap_size(m);
    for (int64_t k = 0; k < n; k++) {
        size_t len;
        const char *name = cf_idmap_name(m, (uint32_t)k, &len);
        if ((len == 0 && !allow_empty) || strlen(name) != len)
            return violated(o, "%s ID %lld: length %zu, strlen %zu", what, (long long)k, len, strlen(name));
        if (cf_idmap_find(m, name, len) != k)
            return violated(o, "%s ID %lld is not found under its own name", what, (long long)k);
    }
    return 0;
}

/* The ratings [from, n) of part `part` after a successful read. */
static int check_read_ok(cf_fuzz_outcome *o, const char *what, const cf_dataset *ds, int64_t from, int part,
                         const cf_read_report *rep, cf_format fmt) {
    const cf_triplets *t = &ds->all;
    int64_t nu = cf_idmap_size(ds->users), ni = cf_idmap_size(ds->items);
    if (t->n <= from) return violated(o, "%s: success without a rating", what);
    if (rep->ratings != t->n - from)
        return violated(o, "%s: report says %lld ratings, dataset has %lld", what, (long long)rep->ratings,
                        (long long)(t->n - from));
    if (fmt != CF_FORMAT_AUTO && rep->format != fmt) return violated(o, "%s: format %d, forced %d", what, (int)rep->format, (int)fmt);
    for (int64_t k = from; k < t->n; k++) {
        if (t->u[k] >= nu || t->i[k] >= ni)
            return violated(o, "%s: rating %lld has index (%u, %u) outside %lld × %lld", what, (long long)k,
                            t->u[k], t->i[k], (long long)nu, (long long)ni);
        if (!isfinite(t->r[k])) return violated(o, "%s: rating %lld is not finite", what, (long long)k);
        if (ds->is_test[k] != part) return violated(o, "%s: rating %lld in the wrong part", what, (long long)k);
        /* dedup leaves the range sorted by (user, item) without repeats */
        if (k > from && (t->u[k - 1] > t->u[k] || (t->u[k - 1] == t->u[k] && t->i[k - 1] >= t->i[k])))
            return violated(o, "%s: ratings %lld and %lld not in strict (user, item) order", what,
                            (long long)k - 1, (long long)k);
    }
    return check_ids(o, "user", ds->users, 0) || check_ids(o, "item", ds->items, 0);
}

/* One read of the bytes into part `part` of ds; checks the outcome either way. */
static int one_read(cf_fuzz_outcome *o, const char *what, cf_dataset *ds, int part, const uint8_t *data,
                    size_t size, const cf_read_options *opt, cf_read_report *rep, cf_status *st_out) {
    cf_error err;
    int64_t before = ds->all.n;
    cf_status st = cf_read_memory(ds, part, CF_FUZZ_NAME, data, size, opt, rep, &err);
    *st_out = st;
    if (st != CF_OK) {
        if (check_error(o, what, st, &err, CF_ERR_PARSE)) return 1;
        if (ds->all.n != before)
            return violated(o, "%s: failed but left %lld ratings behind", what, (long long)(ds->all.n - before));
        return 0;
    }
    if (!opt->skip_bad_lines && rep->skipped) return violated(o, "%s: strict read skipped lines", what);
    return check_read_ok(o, what, ds, before, part, rep, opt->format);
}

/* The first n ratings of a and b agree (and their timestamps, where both have them). */
static int same_triplets(const cf_triplets *a, const cf_triplets *b, int64_t n) {
    return n == 0 || (memcmp(a->u, b->u, (size_t)n * 4) == 0 && memcmp(a->i, b->i, (size_t)n * 4) == 0 &&
                      memcmp(a->r, b->r, (size_t)n * 4) == 0 &&
                      (!a->t || !b->t || memcmp(a->t, b->t, (size_t)n * sizeof *a->t) == 0));
}

/* ------------------------------------------------------------------ cancel */

/* A progress callback that counts its calls and cancels at call `cancel_at` (1-based;
 * 0: never); a call after the cancelling one is a broken contract. */
typedef struct cancel_at {
    int calls, cancel_at, after_cancel;
} cancel_at;

static int cancel_progress(const char *phase, int64_t done, int64_t total, void *user) {
    (void)phase, (void)done, (void)total;
    cancel_at *c = user;
    if (c->cancel_at && c->calls >= c->cancel_at) c->after_cancel = 1;
    return ++c->calls == c->cancel_at;
}

static uint64_t fnv1a(const uint8_t *data, size_t size) {
    uint64_t h = 1469598103934665603ull;
    for (size_t k = 0; k < size; k++) h = (h ^ data[k]) * 1099511628211ull;
    return h;
}

/* A read cancelled at call N: CF_ERR_INTERRUPTED with the reader's message, ds's ratings
 * and parts exactly as before (IDs may stay in the maps: read.c documents it). */
static int check_cancelled(cf_fuzz_outcome *o, const char *what, cf_status st, const cf_error *err,
                           const cancel_at *c, const cf_dataset *ds, const cf_triplets *before,
                           const uint8_t *is_test_before) {
    if (c->after_cancel) return violated(o, "%s: progress called again after cancelling", what);
    if (st != CF_ERR_INTERRUPTED)
        return violated(o, "%s: cancelled at call %d of %d, status %s", what, c->cancel_at, c->calls,
                        cf_status_name(st));
    if (err->status != st) return violated(o, "%s: err says %s", what, cf_status_name(err->status));
    if (strncmp(err->msg, "reading " CF_FUZZ_NAME ": cancelled ", strlen("reading " CF_FUZZ_NAME ": cancelled ")))
        return violated(o, "%s: message: %s", what, err->msg);
    if (ds->all.n != before->n || !same_triplets(&ds->all, before, before->n) ||
        (before->n && memcmp(ds->is_test, is_test_before, (size_t)before->n) != 0))
        return violated(o, "%s: the dataset changed (%lld ratings, were %lld)", what, (long long)ds->all.n,
                        (long long)before->n);
    return 0;
}

/* 5.-7.: the strict read again with a callback that never cancels (the same outcome; it
 * counts the C calls), then cancelled at call N = 1 + hash % (C + 1) (N = C + 1: no
 * cancel, the same outcome again), and when the strict read succeeded, a read of the
 * same bytes into the test part of `full` (holding the strict read's ratings)
 * cancelled at call 1 + (hash >> 32) % C, which must leave `full` as it was. */
static void cancel_reads(cf_fuzz_outcome *o, const uint8_t *data, size_t size, cf_format fmt,
                         const cf_dataset *strict_ref, cf_dataset *full) {
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.format = fmt;
    opt.progress = cancel_progress;
    cf_dataset *a = cf_dataset_create(), *b = cf_dataset_create();
    uint8_t *is_test = NULL;
    cf_triplets snap = {0};
    if (!a || !b) {
        violated(o, "out of memory creating datasets");
        goto done;
    }
    cf_read_report rep;
    cf_error err;
    cancel_at count = {0, 0, 0};
    opt.progress_user = &count;
    cf_status st = cf_read_memory(a, 0, CF_FUZZ_NAME, data, size, &opt, &rep, &err);
    if (st != o->status || (st != CF_OK && strcmp(err.msg, o->msg) != 0) || a->all.n != strict_ref->all.n ||
        !same_triplets(&a->all, &strict_ref->all, a->all.n)) {
        violated(o, "read with a progress callback: %s (%s), %lld ratings; without: %s, %lld", cf_status_name(st),
                 st ? err.msg : "", (long long)a->all.n, cf_status_name(o->status), (long long)strict_ref->all.n);
        goto done;
    }
    if (count.calls < 1) {
        violated(o, "read with a progress callback: no call");
        goto done;
    }
    uint64_t h = fnv1a(data, size);
    int c_calls = count.calls;
    cancel_at cut = {0, 1 + (int)(h % (uint64_t)(c_calls + 1)), 0};
    opt.progress_user = &cut;
    st = cf_read_memory(b, 0, CF_FUZZ_NAME, data, size, &opt, &rep, &err);
    if (cut.cancel_at <= c_calls) {
        cf_triplets none = {0};
        if (check_cancelled(o, "cancelled read", st, &err, &cut, b, &none, NULL)) goto done;
    } else if (st != o->status || b->all.n != strict_ref->all.n || !same_triplets(&b->all, &strict_ref->all, b->all.n)) {
        violated(o, "read with a callback that never cancels: %s, %lld ratings", cf_status_name(st),
                 (long long)b->all.n);
        goto done;
    }
    if (o->status != CF_OK || !full) goto done;

    /* the test part of a dataset that has ratings: cancelled, it keeps them all */
    int64_t n = full->all.n, nu = cf_idmap_size(full->users), ni = cf_idmap_size(full->items);
    snap.n = n;
    snap.u = malloc((size_t)n * 4), snap.i = malloc((size_t)n * 4), snap.r = malloc((size_t)n * 4);
    is_test = malloc((size_t)n);
    if (!snap.u || !snap.i || !snap.r || !is_test) {
        violated(o, "out of memory for a snapshot");
        goto done;
    }
    memcpy(snap.u, full->all.u, (size_t)n * 4), memcpy(snap.i, full->all.i, (size_t)n * 4);
    memcpy(snap.r, full->all.r, (size_t)n * 4), memcpy(is_test, full->is_test, (size_t)n);
    cancel_at cut2 = {0, 1 + (int)((h >> 32) % (uint64_t)c_calls), 0};
    opt.progress_user = &cut2;
    st = cf_read_memory(full, 1, CF_FUZZ_NAME, data, size, &opt, &rep, &err);
    if (check_cancelled(o, "cancelled test-part read", st, &err, &cut2, full, &snap, is_test)) goto done;
    if (cf_idmap_size(full->users) != nu || cf_idmap_size(full->items) != ni)
        violated(o, "cancelled test-part read: maps %lld × %lld, were %lld × %lld (the same IDs)",
                 (long long)cf_idmap_size(full->users), (long long)cf_idmap_size(full->items), (long long)nu,
                 (long long)ni);
done:
    free(snap.u), free(snap.i), free(snap.r), free(is_test);
    cf_dataset_destroy(&a);
    cf_dataset_destroy(&b);
}

/* The read of `ref` (made with 1 thread, options opt) again with 3 threads, the body cut
 * into 3 chunks whatever its size: the same status, message, report, ratings and maps. */
static int same_with_threads(cf_fuzz_outcome *o, const char *what, const uint8_t *data, size_t size,
                             const cf_read_options *opt, const cf_dataset *ref, cf_status ref_st, const char *ref_msg,
                             const cf_read_report *ref_rep) {
    cf_read_options o3 = *opt;
    o3.threads = 3;
    size_t keep = cf_read_chunk_min;
    cf_read_chunk_min = 1;
    cf_dataset *ds = cf_dataset_create();
    if (!ds) return violated(o, "out of memory creating a dataset");
    cf_read_report rep;
    cf_error err;
    cf_status st = cf_read_memory(ds, 0, CF_FUZZ_NAME, data, size, &o3, &rep, &err);
    cf_read_chunk_min = keep;
    int bad = 0;
    if (st != ref_st || (st != CF_OK && strcmp(err.msg, ref_msg) != 0))
        bad = violated(o, "%s with 3 threads: %s (%s); with 1: %s (%s)", what, cf_status_name(st), st ? err.msg : "",
                       cf_status_name(ref_st), ref_st ? ref_msg : "");
    else if (memcmp(&rep, ref_rep, sizeof rep) != 0)
        bad = violated(o, "%s with 3 threads: the report differs (lines %lld vs %lld, skipped %lld vs %lld)", what,
                       (long long)rep.lines, (long long)ref_rep->lines, (long long)rep.skipped,
                       (long long)ref_rep->skipped);
    else if (ds->all.n != ref->all.n || ds->timed != ref->timed || !same_triplets(&ds->all, &ref->all, ds->all.n))
        bad = violated(o, "%s with 3 threads: %lld ratings differ from 1 thread's %lld", what, (long long)ds->all.n,
                       (long long)ref->all.n);
    else if (cf_idmap_size(ds->users) != cf_idmap_size(ref->users) || cf_idmap_size(ds->items) != cf_idmap_size(ref->items))
        bad = violated(o, "%s with 3 threads: maps %lld × %lld, with 1: %lld × %lld", what,
                       (long long)cf_idmap_size(ds->users), (long long)cf_idmap_size(ds->items),
                       (long long)cf_idmap_size(ref->users), (long long)cf_idmap_size(ref->items));
    for (int m = 0; m < 2 && !bad; m++) {
        const cf_idmap *a = m ? ds->items : ds->users, *b = m ? ref->items : ref->users;
        for (int64_t k = 0; k < cf_idmap_size(a) && !bad; k++) {
            size_t la, lb;
            const char *na = cf_idmap_name(a, (uint32_t)k, &la), *nb = cf_idmap_name(b, (uint32_t)k, &lb);
            if (la != lb || memcmp(na, nb, la) != 0)
                bad = violated(o, "%s with 3 threads: %s %lld is '%s', with 1 '%s'", what, m ? "item" : "user",
                               (long long)k, na, nb);
        }
    }
    cf_dataset_destroy(&ds);
    return bad;
}

void cf_fuzz_read(const uint8_t *data, size_t size, cf_format fmt, cf_fuzz_outcome *o) {
    memset(o, 0, sizeof *o);
    cf_dataset *strict = cf_dataset_create(), *lenient = cf_dataset_create(), *shortl = cf_dataset_create();
    if (!strict || !lenient || !shortl) {
        violated(o, "out of memory creating datasets");
        goto done;
    }
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.format = fmt;
    opt.threads = 1; /* same_with_threads compares 3 threads with it */
    cf_read_report rep, rep2, rep3;

    /* 1. strict: the default options */
    cf_error err;
    o->status = cf_read_memory(strict, 0, CF_FUZZ_NAME, data, size, &opt, &rep, &err);
    if (o->status != CF_OK) snprintf(o->msg, sizeof o->msg, "%s", err.msg);
    if (same_with_threads(o, "strict read", data, size, &opt, strict, o->status, o->msg, &rep)) goto done;
    if (o->status != CF_OK ? check_error(o, "strict read", o->status, &err, CF_ERR_PARSE) ||
                                 (strict->all.n && violated(o, "strict read failed but kept ratings"))
                           : rep.skipped ? violated(o, "strict read skipped lines")
                                         : check_read_ok(o, "strict read", strict, 0, 0, &rep, fmt))
        goto done;
    o->count = strict->all.n;

    /* 2. skip_bad_lines: succeeds whenever strict does, with the same ratings; turns a
     *    strict failure into success only by skipping a line */
    opt.skip_bad_lines = 1;
    if (one_read(o, "lenient read", lenient, 0, data, size, &opt, &rep2, &o->status2)) goto done;
    if (o->status2 == CF_OK && same_with_threads(o, "lenient read", data, size, &opt, lenient, CF_OK, "", &rep2))
        goto done;
    if (o->status == CF_OK) {
        if (o->status2 != CF_OK) {
            violated(o, "strict read succeeded, lenient read failed (%s)", cf_status_name(o->status2));
            goto done;
        }
        if (rep2.skipped || lenient->all.n != strict->all.n || !same_triplets(&lenient->all, &strict->all, strict->all.n)) {
            violated(o, "lenient read differs from the strict one (%lld vs %lld ratings, %lld skipped)",
                     (long long)lenient->all.n, (long long)strict->all.n, (long long)rep2.skipped);
            goto done;
        }
    } else if (o->status == CF_ERR_PARSE && o->status2 == CF_OK && rep2.skipped == 0) {
        violated(o, "strict read failed (%s) but the lenient one skipped nothing", o->msg);
        goto done;
    }

    /* 3. skip_bad_lines with a short max_line: the over-long-line paths */
    opt.max_line = 24;
    cf_status st3;
    if (one_read(o, "short-line read", shortl, 0, data, size, &opt, &rep3, &st3)) goto done;

    /* 4. the same bytes as the test part of the strict dataset: the same ratings again,
     *    the same IDs, and the training part untouched */
    if (o->status == CF_OK) {
        opt.skip_bad_lines = 0;
        opt.max_line = 65536;
        int64_t n0 = strict->all.n, nu = cf_idmap_size(strict->users), ni = cf_idmap_size(strict->items);
        cf_status st4;
        if (one_read(o, "test-part read", strict, 1, data, size, &opt, &rep3, &st4)) goto done;
        if (st4 != CF_OK || strict->all.n != 2 * n0 || cf_idmap_size(strict->users) != nu ||
            cf_idmap_size(strict->items) != ni || !same_triplets(&strict->all, &lenient->all, n0))
            violated(o, "test-part read: status %s, %lld ratings (expected %lld), maps %lld × %lld (were %lld × %lld)",
                     cf_status_name(st4), (long long)strict->all.n, (long long)(2 * n0),
                     (long long)cf_idmap_size(strict->users), (long long)cf_idmap_size(strict->items),
                     (long long)nu, (long long)ni);
    }
    if (!o->violation[0]) cancel_reads(o, data, size, fmt, o->status == CF_OK ? lenient : strict, strict);
    /* 6. timestamps kept (cf_read_options.timestamps): 3 threads give the 1-thread result,
     *    times included; a timed read that succeeds holds exactly the strict read's
     *    ratings (the fourth field changes nothing in the first three) */
    if (!o->violation[0]) {
        cf_dataset *td = cf_dataset_create();
        if (!td) {
            violated(o, "out of memory creating a dataset");
            goto done;
        }
        opt.skip_bad_lines = 0;
        opt.max_line = 65536;
        opt.timestamps = 1;
        cf_read_report trep;
        cf_status tst = cf_read_memory(td, 0, CF_FUZZ_NAME, data, size, &opt, &trep, &err);
        char tmsg[sizeof err.msg];
        snprintf(tmsg, sizeof tmsg, "%s", tst ? err.msg : "");
        if (!same_with_threads(o, "timed read", data, size, &opt, td, tst, tmsg, &trep)) {
            if (tst != CF_OK) check_error(o, "timed read", tst, &err, CF_ERR_PARSE);
            else if (o->status != CF_OK)
                violated(o, "timed read succeeded, the strict read failed (%s)", o->msg);
            else if (!td->timed || td->all.n != lenient->all.n || !same_triplets(&td->all, &lenient->all, td->all.n))
                violated(o, "timed read: %lld ratings differ from the strict read's %lld", (long long)td->all.n,
                         (long long)lenient->all.n);
        }
        cf_dataset_destroy(&td);
    }
    /* 5. bytes that start with the binary dataset's magic, read under CF_FORMAT_AUTO, go to
     *    its loader: a clean error naming the input and no ratings, or a valid dataset,
     *    with 1 thread and with 3 alike */
    if (!o->violation[0] && cf_bin_is(data, size)) {
        for (int threads = 1; threads <= 3 && !o->violation[0]; threads += 2) {
            cf_dataset *bd = cf_dataset_create();
            if (!bd) {
                violated(o, "out of memory creating a dataset");
                break;
            }
            cf_read_options bo;
            cf_read_options_default(&bo);
            bo.threads = threads;
            cf_status bst;
            cf_read_report brep;
            if (!one_read(o, "binary read", bd, 0, data, size, &bo, &brep, &bst) && bst == CF_OK &&
                brep.format != CF_FORMAT_BINARY)
                violated(o, "binary read: format %d", (int)brep.format);
            cf_dataset_destroy(&bd);
        }
    }
done:
    cf_dataset_destroy(&strict);
    cf_dataset_destroy(&lenient);
    cf_dataset_destroy(&shortl);
}

/* ------------------------------------------------------------------ model loader */

/* A loaded model: consistent dimensions, finite values, a valid config, IDs that find
 * their rows, and a finite prediction for the first user and item. */
static int check_model(cf_fuzz_outcome *o, const char *what, const cf_model *m) {
    cf_model_info info;
    cf_model_info_get(m, &info);
    if (info.n_users != cf_idmap_size(m->users) || info.n_items != cf_idmap_size(m->items))
        return violated(o, "%s: %lld × %lld model with %lld and %lld IDs", what, (long long)info.n_users,
                        (long long)info.n_items, (long long)cf_idmap_size(m->users),
                        (long long)cf_idmap_size(m->items));
    if (info.factors < 1) return violated(o, "%s: K = %d", what, (int)info.factors);
    char where[96];
    if (cf_factors_check_finite(&m->f, where, sizeof where))
        return violated(o, "%s: non-finite value in %s", what, where);
    cf_error err;
    if (cf_config_validate(&info.config, &err)) return violated(o, "%s: config invalid: %s", what, err.msg);
    if (check_ids(o, "user", m->users, 1) || check_ids(o, "item", m->items, 1)) return 1;
    if (info.n_users > 0 && info.n_items > 0) {
        const char *u = cf_idmap_name(m->users, 0, NULL), *i = cf_idmap_name(m->items, 0, NULL);
        double r;
        cf_status st = cf_model_predict(m, u, i, &r, &err);
        if (st != CF_OK || !isfinite(r))
            return violated(o, "%s: predict(first user, first item): %s, %g", what, cf_status_name(st), r);
        /* every pair of a small model (the loader bounds |r̂| by CF_PREDICTION_LIMIT) */
        for (int64_t a = 0; a < info.n_users && a * info.n_items <= 4096; a++)
            for (int64_t b = 0; b < info.n_items; b++)
                if (!(fabs(cf_predict(&m->f, (uint32_t)a, (uint32_t)b)) <= CF_PREDICTION_LIMIT))
                    return violated(o, "%s: r̂(%lld, %lld) = %g beyond the limit", what, (long long)a,
                                    (long long)b, cf_predict(&m->f, (uint32_t)a, (uint32_t)b));
        /* top 3 for the first user: finite scores, best first */
        cf_recommendation rec[3];
        int32_t nrec = -1;
        st = cf_model_recommend(m, u, 3, NULL, rec, &nrec, &err);
        if (st != CF_OK || nrec != (info.n_items < 3 ? (int32_t)info.n_items : 3))
            return violated(o, "%s: recommend: %s, %d items", what, cf_status_name(st), (int)nrec);
        for (int32_t k = 0; k < nrec; k++)
            if (!isfinite(rec[k].score) || (k > 0 && rec[k].score > rec[k - 1].score) ||
                cf_idmap_find(m->items, rec[k].item, strlen(rec[k].item)) < 0)
                return violated(o, "%s: recommendation %d: '%s' %g", what, (int)k, rec[k].item, rec[k].score);
    }
    return 0;
}

/* Saves m to tmpdir and compares the file with the bytes it was loaded from. */
static int check_roundtrip(cf_fuzz_outcome *o, const cf_model *m, const uint8_t *data, size_t size,
                           const char *tmpdir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/roundtrip.cfm", tmpdir);
    cf_error err;
    if (cf_model_save(m, path, &err) != CF_OK) return violated(o, "round trip: save failed: %s", err.msg);
    FILE *f = fopen(path, "rb");
    if (!f) return violated(o, "round trip: cannot open %s", path);
    uint8_t *back = malloc(size + 1);
    size_t n = back ? fread(back, 1, size + 1, f) : 0;
    fclose(f);
    unlink(path);
    int differs = !back || n != size || memcmp(back, data, size) != 0;
    free(back);
    return differs ? violated(o, "round trip: the saved file (%zu bytes) differs from the loaded one (%zu)", n, size)
                   : 0;
}

/* One load; checks the outcome either way. */
static int one_load(cf_fuzz_outcome *o, const char *what, const uint8_t *data, size_t size, const char *tmpdir,
                    cf_status *st_out, int64_t *count) {
    cf_model *m = NULL;
    cf_error err;
    cf_status st = cf_model_load_memory(CF_FUZZ_NAME, data, size, &m, &err);
    *st_out = st;
    if (st != CF_OK) {
        if (m) return violated(o, "%s: failed but returned a model", what);
        if (o->msg[0] == '\0') snprintf(o->msg, sizeof o->msg, "%s", err.msg);
        return check_error(o, what, st, &err, CF_ERR_CORRUPT);
    }
    int bad = !m ? violated(o, "%s: success without a model", what) : check_model(o, what, m);
    if (!bad && count) *count = cf_idmap_size(m->users) + cf_idmap_size(m->items);
    if (!bad && tmpdir) bad = check_roundtrip(o, m, data, size, tmpdir);
    cf_model_destroy(&m);
    return bad;
}

/* A copy of the input whose last 8 bytes are the checksum of the rest (hash64.h, the
 * .cfm's and the .cfc's), so that mutations reach the checks behind it; NULL (and a
 * violation) when out of memory. size >= 8. */
static uint8_t *with_own_checksum(cf_fuzz_outcome *o, const uint8_t *data, size_t size) {
    uint8_t *fixed = malloc(size);
    if (!fixed) {
        violated(o, "out of memory copying the input");
        return NULL;
    }
    memcpy(fixed, data, size);
    cf_hash64 h;
    cf_hash64_init(&h);
    cf_hash64_update(&h, fixed, size - 8);
    uint64_t sum = cf_hash64_final(&h);
    memcpy(fixed + size - 8, &sum, 8);
    return fixed;
}

void cf_fuzz_model(const uint8_t *data, size_t size, const char *tmpdir, cf_fuzz_outcome *o) {
    memset(o, 0, sizeof *o);
    if (one_load(o, "load", data, size, tmpdir, &o->status, &o->count)) return;
    o->status2 = o->status;
    uint8_t *fixed = size >= 8 ? with_own_checksum(o, data, size) : NULL;
    if (!fixed) return;
    if (!one_load(o, "load with the checksum fixed", fixed, size, tmpdir, &o->status2, NULL) &&
        o->status == CF_OK && o->status2 != CF_OK)
        violated(o, "loads as given, but not with its own checksum rewritten");
    free(fixed);
}

/* ------------------------------------------------------------------ checkpoint loader */

/* The bytes of a file at `path`, at most cap + 1 of them (to see a longer file); -1 when
 * it cannot be read. */
static long read_back(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap + 1, f);
    fclose(f);
    return (long)n;
}

/* What a loaded checkpoint promises: counters in range, the factor sets of its flags with
 * the header's dimensions; saved again, the same bytes (version 2: one encoding per
 * state), or for version 1 a version 2 file that loads. */
static int check_state(cf_fuzz_outcome *o, const char *what, const cf_train_state *s, const uint8_t *data,
                       size_t size, const char *dir) {
    const cf_factors *f = &s->cur;
    if (f->n_users < 0 || f->n_items < 0 || f->k != s->cfg.factors || f->bias != s->cfg.bias)
        return violated(o, "%s: current factors %lld x %lld, K %d, bias %d against the config's K %d, bias %d", what,
                        (long long)f->n_users, (long long)f->n_items, (int)f->k, f->bias, (int)s->cfg.factors,
                        s->cfg.bias);
    if (s->restart < 0 || s->restart >= s->cfg.restarts || s->iter < 0 || s->iter > s->cfg.iters)
        return violated(o, "%s: run %d of %d, iteration %d of %d", what, (int)s->restart, (int)s->cfg.restarts,
                        (int)s->iter, (int)s->cfg.iters);
    if (s->have_result != (s->restart > 0) || (s->have_result && !s->result.P && f->n_users > 0))
        return violated(o, "%s: kept run %d with restart %d", what, s->have_result, (int)s->restart);
    if (s->result_last.restart < -1 || (s->have_result && s->result_last.restart >= s->restart))
        return violated(o, "%s: kept run index %d with restart %d", what, (int)s->result_last.restart,
                        (int)s->restart);
    const cf_factors *sets[4] = {s->have_result ? &s->result : NULL, s->have_best ? &s->best : NULL,
                                 s->solver.has_moments ? &s->solver.m : NULL,
                                 s->solver.has_moments ? &s->solver.v : NULL};
    for (int k = 0; k < 4; k++)
        if (sets[k] && (sets[k]->n_users != f->n_users || sets[k]->n_items != f->n_items || sets[k]->k != f->k))
            return violated(o, "%s: factor set %d has other dimensions", what, k);
    char path[4096];
    snprintf(path, sizeof path, "%s/resaved.cfc", dir);
    cf_error err;
    if (cf_checkpoint_save(s, path, &err) != CF_OK) return violated(o, "%s: saving it again failed: %s", what, err.msg);
    uint32_t version;
    memcpy(&version, data + 8, 4); /* a loaded file has its header */
    int bad = 0;
    if (version != 1) {
        uint8_t *back = malloc(size + 1);
        long n = back ? read_back(path, back, size) : -1;
        if (n != (long)size || memcmp(back, data, size) != 0)
            bad = violated(o, "%s: saved again, %ld bytes that differ from the %zu loaded", what, n, size);
        free(back);
    } else {
        cf_train_state again;
        if (cf_checkpoint_load(path, &again, &err) != CF_OK)
            bad = violated(o, "%s: a version 1 file saved as version 2 does not load: %s", what, err.msg);
        else
            cf_train_state_free(&again);
    }
    unlink(path);
    return bad;
}

static int one_checkpoint(cf_fuzz_outcome *o, const char *what, const uint8_t *data, size_t size, const char *dir,
                          cf_status *st_out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/" CF_FUZZ_NAME, dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        if (f) fclose(f);
        return violated(o, "%s: cannot write the input to %s", what, path);
    }
    cf_train_state s;
    cf_error err;
    cf_status st = cf_checkpoint_load(path, &s, &err);
    *st_out = st;
    int bad;
    if (st != CF_OK) {
        if (o->msg[0] == '\0') snprintf(o->msg, sizeof o->msg, "%s", err.msg);
        bad = check_error_named(o, what, st, &err, CF_ERR_CORRUPT, path);
        if (!bad && (s.cur.P || s.result.P || s.best.P || s.solver.m.P))
            bad = violated(o, "%s: failed but left factors allocated", what);
    } else {
        bad = check_state(o, what, &s, data, size, dir);
        cf_train_state_free(&s);
    }
    unlink(path);
    return bad;
}

void cf_fuzz_checkpoint(const uint8_t *data, size_t size, const char *dir, cf_fuzz_outcome *o) {
    memset(o, 0, sizeof *o);
    if (one_checkpoint(o, "load", data, size, dir, &o->status)) return;
    o->status2 = o->status;
    uint8_t *fixed = size >= 8 ? with_own_checksum(o, data, size) : NULL;
    if (!fixed) return;
    if (!one_checkpoint(o, "load with the checksum fixed", fixed, size, dir, &o->status2) && o->status == CF_OK &&
        o->status2 != CF_OK)
        violated(o, "loads as given, but not with its own checksum rewritten");
    free(fixed);
}
