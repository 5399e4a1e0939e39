/*
 * test_read_par.c — the parallel reader (src/read_par.c): for every supported format and
 * quirk (tab, comma, spaces, "::", Matrix Market, header, quoted fields, BOM, CRLF,
 * comments, blank lines, duplicates), for good files, files with bad lines (strict and
 * skip_bad_lines), Matrix Market bodies with too many or too few entries, and a read
 * into the test part of a dataset that already has IDs, the result of 2, 3 and 7
 * threads — the status, the message, the whole report, the ratings in order, the part
 * flags and both ID maps in order — is byte for byte the result of 1 thread; and so are
 * the timestamps of a read that keeps them (cf_read_options.timestamps).
 * cf_read_chunk_min is set to 1 so that these small files really are cut into four
 * chunks per thread (a check below makes sure the cuts happen).
 */
#include <criterion/criterion.h>

#include "common.h"
#include "cufactor.h"
#include "dataset.h"
#include "helpers.h"
#include "idmap.h"
#include "read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct outcome {
    cf_status st;
    char msg[sizeof ((cf_error *)0)->msg];
    cf_read_report rep;
    cf_dataset *ds;
    int chunks; /* the body's chunks (cf_read_last_chunks) */
} outcome;

/* 1: the reads keep timestamps (and make() writes them in every delimited format). */
static int timed;

/* A dataset that already holds some IDs and training ratings (the read_test case). */
static cf_dataset *seeded(void) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert(ds);
    cf_error err;
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.timestamps = timed;
    const char *text = "u7\tx1\t1\t5\nu3\tx9\t2\t6\n42\t17\t3\t7\n";
    cr_assert_eq(cf_read_memory(ds, 0, "seed", text, strlen(text), &opt, NULL, &err), CF_OK, "%s", err.msg);
    return ds;
}

static void run(outcome *o, const char *text, size_t len, int threads, int skip, int part) {
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.threads = threads;
    opt.skip_bad_lines = skip;
    opt.timestamps = timed;
    cf_error err;
    memset(&err, 0, sizeof err);
    o->ds = part ? seeded() : cf_dataset_create();
    cr_assert(o->ds);
    o->st = cf_read_memory(o->ds, part, "data.txt", text, len, &opt, &o->rep, &err);
    o->chunks = cf_read_last_chunks;
    memcpy(o->msg, err.msg, sizeof o->msg);
}

static void same_map(const cf_idmap *a, const cf_idmap *b, const char *what, int threads) {
    cr_assert_eq(cf_idmap_size(a), cf_idmap_size(b), "%s: %d threads: %lld IDs, 1 thread: %lld", what, threads,
                 (long long)cf_idmap_size(b), (long long)cf_idmap_size(a));
    for (int64_t k = 0; k < cf_idmap_size(a); k++) {
        size_t la, lb;
        const char *na = cf_idmap_name(a, (uint32_t)k, &la), *nb = cf_idmap_name(b, (uint32_t)k, &lb);
        cr_assert(la == lb && memcmp(na, nb, la) == 0, "%s %lld: '%s' with %d threads, '%s' with 1", what,
                  (long long)k, nb, threads, na);
    }
}

/* Reads text with 1 thread and with 2, 3 and 7 and compares everything; returns the
 * 1-thread status. */
static cf_status same_for_all_threads(const char *text, size_t len, int skip, int part) {
    outcome one;
    run(&one, text, len, 1, skip, part);
    static const int counts[] = {2, 3, 7};
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        outcome o;
        run(&o, text, len, counts[c], skip, part);
        if (cf_read_chunk_min == 1 && o.chunks) /* 0: the head failed, no body was read */
            cr_assert_eq(o.chunks, 4 * counts[c], "%d threads: the body was cut in %d chunks", counts[c], o.chunks);
        if (one.st == CF_OK) cr_assert_gt(o.chunks, 0, "%d threads: a good file but no body read", counts[c]);
        cr_assert_eq(o.st, one.st, "%d threads: status %s, 1 thread %s (%s | %s)", counts[c], cf_status_name(o.st),
                     cf_status_name(one.st), o.msg, one.msg);
        if (one.st != CF_OK)
            cr_assert_str_eq(o.msg, one.msg, "%d threads: the message differs", counts[c]);
        cr_assert_eq(memcmp(&o.rep, &one.rep, sizeof o.rep), 0,
                     "%d threads: the report differs (lines %lld/%lld ratings %lld/%lld skipped %lld/%lld dup "
                     "%lld/%lld first_bad '%s'/'%s')",
                     counts[c], (long long)o.rep.lines, (long long)one.rep.lines, (long long)o.rep.ratings,
                     (long long)one.rep.ratings, (long long)o.rep.skipped, (long long)one.rep.skipped,
                     (long long)o.rep.duplicates, (long long)one.rep.duplicates, o.rep.first_bad, one.rep.first_bad);
        const cf_triplets *a = &one.ds->all, *b = &o.ds->all;
        cr_assert_eq(a->n, b->n, "%d threads: %lld ratings, 1 thread %lld", counts[c], (long long)b->n, (long long)a->n);
        if (a->n) {
            cr_assert_eq(memcmp(a->u, b->u, (size_t)a->n * sizeof *a->u), 0, "%d threads: user indices differ", counts[c]);
            cr_assert_eq(memcmp(a->i, b->i, (size_t)a->n * sizeof *a->i), 0, "%d threads: item indices differ", counts[c]);
            cr_assert_eq(memcmp(a->r, b->r, (size_t)a->n * sizeof *a->r), 0, "%d threads: ratings differ", counts[c]);
            cr_assert_eq(memcmp(one.ds->is_test, o.ds->is_test, (size_t)a->n), 0, "%d threads: parts differ", counts[c]);
            cr_assert_eq(!a->t, !timed);
            if (timed)
                cr_assert_eq(memcmp(a->t, b->t, (size_t)a->n * sizeof *a->t), 0, "%d threads: times differ", counts[c]);
        }
        same_map(one.ds->users, o.ds->users, "user", counts[c]);
        same_map(one.ds->items, o.ds->items, "item", counts[c]);
        cf_dataset_destroy(&o.ds);
    }
    cf_dataset_destroy(&one.ds);
    return one.st;
}

typedef enum { K_TAB, K_COMMA, K_SPACE, K_COLONS, K_MM } kind;

/* About `lines` ratings in format `kind` with the quirks each format allows; `bad`: the
 * line numbers (data lines, 0-based, -1 ends) replaced by a malformed line; `mm_extra`:
 * Matrix Market size line's NNZ minus the entries written. malloc'ed, *len its size. */
static char *make(kind k, int lines, const int *bad, int bom, int crlf, int header, int mm_extra, size_t *len) {
    size_t cap = (size_t)lines * 64 + 512, n = 0;
    char *t = malloc(cap);
    cr_assert(t);
    const char *eol = crlf ? "\r\n" : "\n";
    if (bom) n += (size_t)sprintf(t + n, "\xEF\xBB\xBF");
    if (k == K_MM)
        n += (size_t)sprintf(t + n, "%%%%MatrixMarket matrix coordinate real general%s%% comment%s50 40 %d%s", eol, eol,
                             lines + mm_extra, eol);
    else if (header)
        n += (size_t)sprintf(t + n, k == K_COMMA ? "userId,movieId,rating%s" : k == K_TAB ? "user\titem\trating%s"
                                    : k == K_COLONS ? "user::item::rating%s" : "user item rating%s", eol);
    uint64_t s = 99;
    for (int l = 0; l < lines; l++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int u = 1 + (int)((s >> 33) % 50), i = 1 + (int)((s >> 13) % 40), r = 1 + (int)((s >> 45) % 5);
        int is_bad = 0;
        for (const int *b = bad; b && *b >= 0; b++) is_bad |= *b == l;
        if (l % 17 == 5 && k != K_MM) n += (size_t)sprintf(t + n, "# comment%s%s", eol, eol);
        if (is_bad) {
            if (k == K_MM) n += (size_t)sprintf(t + n, "%d %d x%s", u, i, eol);   /* value is not a number */
            else if (k == K_COMMA) n += (size_t)sprintf(t + n, "%d,%d,oops%s", u, i, eol); /* rating is not ... */
            else n += (size_t)sprintf(t + n, "%d%s", u, eol);                    /* missing item field */
            continue;
        }
        const long long ts = 881250949 + (long long)((s >> 20) % 100000); /* a time; repeats too */
        char tc[32] = "", tsp[32] = "";
        if (timed) snprintf(tc, sizeof tc, ",%lld", ts), snprintf(tsp, sizeof tsp, " %lld", ts);
        switch (k) {
        case K_TAB: n += (size_t)sprintf(t + n, "%d\tm%d\t%d\t%lld%s", u, i, r, ts, eol); break;
        case K_COMMA:
            n += (size_t)(l % 3 ? sprintf(t + n, "u%d,\"it %d\",%d.5%s%s", u, i, r, tc, eol)
                                : sprintf(t + n, "\"u%d\",%d,%d%s%s", u, i, r, tc, eol));
            break;
        case K_SPACE: n += (size_t)sprintf(t + n, "%d  %d %d%s%s", u, i, r, tsp, eol); break;
        case K_COLONS: n += (size_t)sprintf(t + n, "%d::%d::%d::%lld%s", u, i, r, ts, eol); break;
        case K_MM: n += (size_t)sprintf(t + n, "%d %d %d.25%s", u, i, r, eol); break;
        }
    }
    *len = n;
    return t;
}

static const char *const kind_name[] = {"tab", "comma", "space", "colons", "mm"};

static void setup(void) { cf_read_chunk_min = 1; }

TestSuite(read_par, .init = setup, .timeout = 300);

/* Every format from tab to `last` with every combination of BOM, CRLF and header:
 * identical and OK, into a new dataset and into the test part of one with ratings. */
static void every_good_file(kind last) {
    for (int k = K_TAB; k <= (int)last; k++)
        for (int q = 0; q < 8; q++) {
            size_t len;
            char *t = make((kind)k, 300, NULL, q & 1, q & 2, q & 4, 0, &len);
            cr_assert_eq(same_for_all_threads(t, len, 0, 0), CF_OK, "%s q=%d", kind_name[k], q);
            cr_assert_eq(same_for_all_threads(t, len, 0, 1), CF_OK, "%s q=%d into the test part", kind_name[k], q);
            free(t);
        }
}

Test(read_par, good_files_of_every_format_are_identical) { every_good_file(K_MM); }

/* The same with timestamps kept: every delimited format (good files, files with bad
 * lines strict and skipped, into the test part of a timed dataset), the times in order
 * the same bytes on any thread count; Matrix Market the same error. */
Test(read_par, timestamps_are_identical) {
    timed = 1;
    every_good_file(K_COLONS);
    static const int bad[] = {3, 150, 151, 299, -1};
    for (int k = K_TAB; k <= K_COLONS; k++)
        for (int q = 0; q < 8; q++) {
            size_t len;
            char *t = make((kind)k, 300, bad, q & 1, q & 2, q & 4, 0, &len);
            cr_assert_eq(same_for_all_threads(t, len, 0, 0), CF_ERR_PARSE, "%s q=%d with bad lines", kind_name[k], q);
            cr_assert_eq(same_for_all_threads(t, len, 1, 0), CF_OK, "%s q=%d bad lines skipped", kind_name[k], q);
            free(t);
        }
    size_t len;
    char *t = make(K_MM, 300, NULL, 0, 0, 0, 0, &len);
    cr_assert_eq(same_for_all_threads(t, len, 0, 0), CF_ERR_PARSE, "Matrix Market has no timestamps");
    free(t);
    timed = 0;
}

/* IDs of every kind, lines in no order (every chunk meets most IDs, and again after other
 * chunks met them): canonical decimals (a chunk keeps them out of its map), "u7"-style
 * strings, decimals with a leading zero and decimals past the reader's numeric cache
 * (both kept as strings), "0" itself; the same result on any thread count, also into the
 * test part of a dataset that already holds decimal and string IDs. */
Test(read_par, id_kinds_mixed_in_a_shuffled_file) {
    size_t cap = 4000 * 48, n = 0;
    char *t = malloc(cap);
    cr_assert(t);
    uint64_t s = 12345;
    for (int l = 0; l < 4000; l++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        const int u = (int)((s >> 33) % 300), i = (int)((s >> 13) % 200);
        char ut[24], it[24];
        static const char *const fmt[] = {"%d", "u%d", "0%d", "%d"};
        snprintf(ut, sizeof ut, fmt[u % 4], u % 4 == 3 ? 8388608 + u : u);
        snprintf(it, sizeof it, fmt[i % 4], i % 4 == 3 ? 9000000 + i : i);
        n += (size_t)snprintf(t + n, cap - n, "%s\t%s\t%d\n", ut, it, 1 + l % 5);
    }
    cr_assert_eq(same_for_all_threads(t, n, 0, 0), CF_OK);
    cr_assert_eq(same_for_all_threads(t, n, 0, 1), CF_OK, "into the test part");
    free(t);
}

/* A bad line at each position (and a second one later): the same first bad line,
 * file:line and text, whatever the thread count; with skip_bad_lines the same counts. */
Test(read_par, first_bad_line_in_file_order_whatever_the_cuts) {
    for (int k = K_TAB; k <= K_MM; k++)
        for (int at = 0; at < 60; at += 3) {
            int bad[] = {at, at + 25, -1};
            size_t len;
            char *t = make((kind)k, 60, bad, at & 1, at & 2, 0, 0, &len);
            cf_status st = same_for_all_threads(t, len, 0, 0);
            cr_assert_eq(st, CF_ERR_PARSE, "%s bad at %d: %s", kind_name[k], at, cf_status_name(st));
            st = same_for_all_threads(t, len, 1, 0);
            /* a bad first data line fixes the wrong delimiter for "::" (then nothing parses) */
            cr_assert(st == CF_OK || (at == 0 && k == K_COLONS), "%s skip, bad at %d: %s", kind_name[k], at,
                      cf_status_name(st));
            free(t);
        }
}

/* Matrix Market with more entries than NNZ (the check the merge makes) and fewer. */
Test(read_par, matrix_market_entry_count_errors) {
    for (int extra = -3; extra <= 3; extra++) {
        size_t len;
        char *t = make(K_MM, 80, NULL, 0, 0, 0, extra, &len);
        cf_status st = same_for_all_threads(t, len, 0, 0);
        cr_assert_eq(st, extra == 0 ? CF_OK : CF_ERR_PARSE, "extra %d: %s", extra, cf_status_name(st));
        same_for_all_threads(t, len, 1, 0);
        int bad[] = {10, -1};
        free(t);
        t = make(K_MM, 80, bad, 0, 0, 0, extra, &len);
        same_for_all_threads(t, len, 0, 0);
        same_for_all_threads(t, len, 1, 0);
        free(t);
    }
}

/* Over-long lines and a file without a final newline, cut at every thread count. */
Test(read_par, long_lines_and_no_final_newline) {
    char *t = malloc(1 << 18);
    size_t n = 0;
    for (int l = 0; l < 40; l++) {
        if (l == 20) {
            memset(t + n, 'x', 70000); /* over max_line (65536) */
            n += 70000;
            n += (size_t)sprintf(t + n, "\t1\t2\n");
        } else {
            n += (size_t)sprintf(t + n, "%d\t%d\t%d\n", l % 7, l % 5, l % 5 + 1);
        }
    }
    n--; /* no final newline */
    cr_assert_eq(same_for_all_threads(t, n, 0, 0), CF_ERR_PARSE);
    cr_assert_eq(same_for_all_threads(t, n, 1, 0), CF_OK);
    free(t);
}

/* The cuts really happen: a file big enough for the default chunk size read with 2
 * threads gives the same dataset as 1 thread (the default cf_read_chunk_min). */
Test(read_par, default_chunk_size_file) {
    cf_read_chunk_min = (size_t)1 << 20;
    size_t len;
    char *t = make(K_TAB, 150000, NULL, 0, 0, 1, 0, &len);
    cr_assert_gt(len, 2u << 20, "the file (%zu bytes) must exceed two chunks", len);
    cr_assert_eq(same_for_all_threads(t, len, 0, 0), CF_OK);
    outcome o;
    run(&o, t, len, 2, 0, 0);
    cr_assert_eq(o.chunks, (int)(len >> 20), "a %zu-byte file with 2 threads: %d chunks of >= 1 MiB", len, o.chunks);
    cf_dataset_destroy(&o.ds);
    free(t);
}

/* The parallel duplicate removal: 1, 2, 3 and 5 threads keep the same ratings in the
 * same order, grouped input (segments cut inside the range) and ungrouped alike. */
Test(read_par, dedup_threads_agree) {
    for (int grouped = 0; grouped < 2; grouped++) {
        cf_dataset *ref = NULL;
        int64_t ref_removed = -1;
        static const int counts[] = {1, 2, 3, 5};
        for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
            cf_dataset *ds = cf_dataset_create();
            uint64_t s = 7;
            for (int k = 0; k < 400000; k++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                uint32_t u = grouped ? (uint32_t)(k / 37) : (uint32_t)((s >> 40) % 9000);
                uint32_t i = (uint32_t)((s >> 20) % 60);
                cr_assert_eq(cf_dataset_push(ds, u, i, (float)(k % 11), k % 3 == 0), 0);
            }
            for (uint32_t k = 0; k < 11000; k++) { /* the maps only need the sizes */
                char name[16];
                uint32_t idx;
                snprintf(name, sizeof name, "%u", k);
                cr_assert_eq(cf_idmap_intern(ds->users, name, strlen(name), &idx, NULL), 0);
            }
            cf_error err;
            int64_t removed = cf_dataset_dedup_threads(ds, 0, NULL, counts[c], &err);
            cr_assert_geq(removed, 0, "%s", err.msg);
            if (!ref) {
                ref = ds, ref_removed = removed;
                cr_assert_gt(removed, 0);
                continue;
            }
            cr_assert_eq(removed, ref_removed, "%d threads removed %lld, 1 thread %lld", counts[c], (long long)removed,
                         (long long)ref_removed);
            cr_assert_eq(memcmp(ds->all.u, ref->all.u, (size_t)ds->all.n * 4), 0, "%d threads: users differ", counts[c]);
            cr_assert_eq(memcmp(ds->all.i, ref->all.i, (size_t)ds->all.n * 4), 0, "%d threads: items differ", counts[c]);
            cr_assert_eq(memcmp(ds->all.r, ref->all.r, (size_t)ds->all.n * 4), 0, "%d threads: ratings differ", counts[c]);
            cr_assert_eq(memcmp(ds->is_test, ref->is_test, (size_t)ds->all.n), 0, "%d threads: parts differ", counts[c]);
            cf_dataset_destroy(&ds);
        }
        cf_dataset_destroy(&ref);
    }
}
