/*
 * test_time.c — timestamps: the readers' fourth column (cf_read_options.timestamps),
 * kept through deduplication, the binary format and the text writer, and the two time
 * splits (cf_dataset_split_time, cf_dataset_split_per_user_time), through the library
 * and the CLI (train --test-split time|user-time, convert --timestamps).
 *
 * The splits are checked against their definitions, not against recorded results: the
 * global split moves exactly llround(ratio·n_train) ratings and every training key
 * (time, index) is below every test key; the per-user split moves, per user, exactly as
 * many as the per-user random split at the same seed, and each user's training keys are
 * below its test keys.
 */
#include <criterion/criterion.h>

#include "binfmt.h"
#include "common.h"
#include "cufactor.h"
#include "dataset.h"
#include "helpers.h"
#include "idmap.h"
#include "read.h"
#include "read_num.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CF_TEST_SUITE_WITH_TMPDIR(time, 300);

static cf_read_options timed_opts(int threads) {
    cf_read_options o;
    cf_read_options_default(&o);
    o.timestamps = 1;
    o.threads = threads;
    return o;
}

/* Reads text (as file `name`) with timestamps; asserts success. */
static cf_dataset *read_timed(const char *name, const char *text, size_t len, int threads, cf_read_report *rep) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert(ds);
    cf_read_options o = timed_opts(threads);
    cf_error err;
    cr_assert_eq(cf_read_memory(ds, 0, name, text, len, &o, rep, &err), CF_OK, "%s: %s", name, err.msg);
    cr_assert(cf_dataset_has_timestamps(ds));
    return ds;
}

/* The timestamp of (user, item) in ds; fails when the pair is absent. */
static int64_t time_of(const cf_dataset *ds, const char *user, const char *item) {
    const int64_t u = cf_idmap_find(ds->users, user, strlen(user)), i = cf_idmap_find(ds->items, item, strlen(item));
    cr_assert(u >= 0 && i >= 0, "(%s, %s) has no IDs", user, item);
    for (int64_t k = 0; k < ds->all.n; k++)
        if (ds->all.u[k] == (uint32_t)u && ds->all.i[k] == (uint32_t)i) return ds->all.t[k];
    cr_assert_fail("(%s, %s) missing", user, item);
    return 0;
}

/* ------------------------------------------------------------------ the number parser */

Test(time, parse_time_takes_integers_only) {
    static const struct {
        const char *s;
        int64_t v;
    } ok[] = {{"0", 0}, {"881250949", 881250949}, {"-5", -5}, {"+7", 7}, {"12.000", 12}, {"12.", 12},
              {"9223372036854775807", INT64_MAX}, {"-9223372036854775808", INT64_MIN}, {"007", 7}};
    for (size_t k = 0; k < sizeof ok / sizeof *ok; k++) {
        int64_t v = -1;
        cr_assert_eq(cf_parse_time(ok[k].s, strlen(ok[k].s), &v), CF_NUM_OK, "'%s'", ok[k].s);
        cr_assert_eq(v, ok[k].v, "'%s' read as %lld", ok[k].s, (long long)v);
    }
    static const char *const bad[] = {"", "-", "+", "1e9", "12.5", "12.01", "9223372036854775808",
                                      "-9223372036854775809", "99999999999999999999", "abc", "1 ", " 1", "0x10",
                                      ".5", "1,5"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int64_t v = 42;
        cr_assert_eq(cf_parse_time(bad[k], strlen(bad[k]), &v), CF_NUM_SYNTAX, "'%s' accepted", bad[k]);
        cr_assert_eq(v, 42, "'%s': the output changed on an error", bad[k]);
    }
}

/* ------------------------------------------------------------------ the readers */

/* Every delimiter, the SSE2 fast path (short tab and comma lines) and the general path
 * (long IDs, quotes, spaces, CRLF), a header, a fifth column ignored: each rating's own
 * time. Without the option the same files read as before, with no timestamps. */
Test(time, the_fourth_column_of_every_delimiter) {
    static const char *const files[] = {
        "1\t10\t4\t100\n2\t11\t3\t-200\n3\t12\t5\t300\textra\n",
        "userId,movieId,rating,timestamp\n1,10,4,100\n2,11,3,-200\n3,12,5,300,extra\n",
        "1::10::4::100\n2::11::3::-200\n3::12::5::300::x\n",
        "1 10 4 100\n2  11\t3  -200\n3 12 5 300 extra\n",
        "1,\"10\",4,100\r\n\"2\" , 11 ,3, -200 \r\n3,12,5.0,300.0\r\n",
    };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        cf_read_report rep;
        cf_dataset *ds = read_timed("t.txt", files[f], strlen(files[f]), 1, &rep);
        cr_assert_eq(ds->all.n, 3, "file %zu", f);
        cr_assert_eq(time_of(ds, "1", "10"), 100, "file %zu", f);
        cr_assert_eq(time_of(ds, "2", "11"), -200, "file %zu", f);
        cr_assert_eq(time_of(ds, "3", "12"), 300, "file %zu", f);
        cf_dataset_destroy(&ds);
        ds = cf_dataset_create();
        cf_error err;
        cr_assert_eq(cf_read_memory(ds, 0, "t.txt", files[f], strlen(files[f]), NULL, NULL, &err), CF_OK, "%s",
                     err.msg);
        cr_assert(!cf_dataset_has_timestamps(ds) && ds->all.t == NULL, "file %zu: timestamps kept unasked", f);
        cr_assert_eq(ds->all.n, 3);
        cf_dataset_destroy(&ds);
    }
    /* long lines past the fast path's 32 bytes, and lines the fast path takes, mixed */
    char text[4096];
    size_t n = 0;
    for (int k = 0; k < 40; k++)
        n += (size_t)(k % 2 ? sprintf(text + n, "user-with-a-long-name-%d\titem-%d\t3\t%d\n", k, k, 1000 + k)
                            : sprintf(text + n, "%d\t%d\t4\t%d\n", k, k, 1000 + k));
    cf_dataset *ds = read_timed("mixed.tsv", text, n, 1, NULL);
    for (int k = 0; k < 40; k++) {
        char u[64], i[32];
        snprintf(u, sizeof u, k % 2 ? "user-with-a-long-name-%d" : "%d", k);
        snprintf(i, sizeof i, k % 2 ? "item-%d" : "%d", k);
        cr_assert_eq(time_of(ds, u, i), 1000 + k, "line %d", k + 1);
    }
    cf_dataset_destroy(&ds);
}

/* A missing, empty or non-integer timestamp is a bad line naming file, line and field
 * (strict), or a skipped and counted one (skip_bad_lines); a Matrix Market file has no
 * timestamps at all. */
Test(time, bad_timestamps_name_file_line_and_field) {
    static const struct {
        const char *text, *why;
        int line;
    } cases[] = {
        {"1\t2\t3\t10\n1\t3\t4\n", "missing timestamp field (the fourth)", 2},
        {"1,2,3,10\n1,3,4,\n", "missing timestamp field (the fourth)", 2},
        {"1\t2\t3\t10\n\n# c\n1\t3\t4\t12.5\n", "timestamp is not an integer", 4},
        {"1::2::3::x\n", "timestamp is not an integer", 1},
        {"1 2 3 99999999999999999999\n", "timestamp is not an integer", 1},
        {"1\t2\t3\t2020-01-01\n", "timestamp is not an integer", 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        cf_dataset *ds = cf_dataset_create();
        cf_read_options o = timed_opts(1);
        cf_error err;
        cr_assert_eq(cf_read_memory(ds, 0, "bad.tsv", cases[c].text, strlen(cases[c].text), &o, NULL, &err),
                     CF_ERR_PARSE, "case %zu read", c);
        char where[64];
        snprintf(where, sizeof where, "bad.tsv:%d: %s", cases[c].line, cases[c].why);
        cr_assert(strstr(err.msg, where), "case %zu: '%s' lacks '%s'", c, err.msg, where);
        cr_assert_eq(ds->all.n, 0, "case %zu: ratings left behind", c);
        cf_dataset_destroy(&ds);
    }
    const char *text = "1\t2\t3\t10\n1\t3\t4\n2\t2\t5\t11\n2\t3\t1\tnever\n";
    cf_dataset *ds = cf_dataset_create();
    cf_read_options o = timed_opts(1);
    o.skip_bad_lines = 1;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(cf_read_memory(ds, 0, "skip.tsv", text, strlen(text), &o, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.skipped, 2);
    cr_assert_eq(ds->all.n, 2);
    cr_assert(strstr(rep.first_bad, "skip.tsv:2: missing timestamp"), "%s", rep.first_bad);
    cf_dataset_destroy(&ds);

    const char *mm = "%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 5\n";
    ds = cf_dataset_create();
    cr_assert_eq(cf_read_memory(ds, 0, "m.mtx", mm, strlen(mm), &o, NULL, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "m.mtx: a Matrix Market file has no timestamps"), "%s", err.msg);
    cf_dataset_destroy(&ds);
}

/* A dataset has timestamps for all its ratings or for none: a test file read into it
 * must ask as its first read did. */
Test(time, a_dataset_is_timed_or_not) {
    const char *timed = "1\t2\t3\t10\n", *plain = "1\t2\t3\n";
    cf_dataset *ds = read_timed("a.tsv", timed, strlen(timed), 1, NULL);
    cf_error err;
    cr_assert_eq(cf_read_memory(ds, 1, "b.tsv", plain, strlen(plain), NULL, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "b.tsv: the dataset has timestamps"), "%s", err.msg);
    cf_read_options o = timed_opts(1);
    const char *more = "5\t6\t1\t20\n";
    cr_assert_eq(cf_read_memory(ds, 1, "c.tsv", more, strlen(more), &o, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ds->all.n, 2);
    cr_assert_eq(time_of(ds, "5", "6"), 20);
    cr_assert_eq(ds->is_test[1], 1);
    cf_dataset_destroy(&ds);

    ds = cf_dataset_create();
    cr_assert_eq(cf_read_memory(ds, 0, "a.tsv", plain, strlen(plain), NULL, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_read_memory(ds, 1, "c.tsv", more, strlen(more), &o, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "c.tsv: the dataset's ratings were read without timestamps"), "%s", err.msg);
    cr_assert_eq(ds->all.n, 1);
    cf_dataset_destroy(&ds);
}

/* Duplicates keep the last rating in file order, and its time, on both paths of the
 * deduplication (a file grouped by user, and one that is not), serially and on threads:
 * a file of 200 k lines where line L rates (u, i) L mod 5 + 1 at time L, with many pairs
 * repeated, read with 1 and 2 threads — the same bytes, and each kept pair's time is the
 * line of its last occurrence. */
Test(time, duplicates_keep_the_last_time) {
    const char *grouped = "1\t1\t1\t10\n1\t2\t2\t11\n1\t1\t3\t12\n2\t1\t4\t13\n2\t1\t5\t9\n";
    const char *mixed = "1\t1\t1\t10\n2\t1\t4\t13\n1\t2\t2\t11\n2\t1\t5\t9\n1\t1\t3\t12\n";
    for (int f = 0; f < 2; f++) {
        const char *t = f ? mixed : grouped;
        cf_read_report rep;
        cf_dataset *ds = read_timed("dup.tsv", t, strlen(t), 1, &rep);
        cr_assert_eq(rep.duplicates, 2);
        cr_assert_eq(time_of(ds, "1", "1"), 12);
        cr_assert_eq(time_of(ds, "1", "2"), 11);
        cr_assert_eq(time_of(ds, "2", "1"), 9, "the last in the file, not the latest");
        cf_dataset_destroy(&ds);
    }
    enum { LINES = 200000, USERS = 3000, ITEMS = 50 };
    char *text = malloc((size_t)LINES * 32);
    int64_t *last = calloc((size_t)USERS * ITEMS, sizeof *last);
    cr_assert(text && last);
    size_t n = 0;
    uint64_t s = 7;
    for (int64_t l = 1; l <= LINES; l++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        const int u = (int)((s >> 33) % USERS), i = (int)((s >> 17) % ITEMS);
        n += (size_t)sprintf(text + n, "%d\t%d\t%d\t%lld\n", u, i, (int)(l % 5 + 1), (long long)l);
        last[(int64_t)u * ITEMS + i] = l;
    }
    cf_dataset *one = read_timed("big.tsv", text, n, 1, NULL), *two = read_timed("big.tsv", text, n, 2, NULL);
    cr_assert_eq(one->all.n, two->all.n);
    cr_assert_eq(memcmp(one->all.t, two->all.t, (size_t)one->all.n * sizeof *one->all.t), 0, "1 vs 2 threads");
    cr_assert_eq(memcmp(one->all.u, two->all.u, (size_t)one->all.n * sizeof *one->all.u), 0);
    cr_assert_eq(memcmp(one->all.i, two->all.i, (size_t)one->all.n * sizeof *one->all.i), 0);
    for (int64_t k = 0; k < one->all.n; k++) {
        const int u = atoi(cf_idmap_name(one->users, one->all.u[k], NULL));
        const int i = atoi(cf_idmap_name(one->items, one->all.i[k], NULL));
        const int64_t l = last[(int64_t)u * ITEMS + i];
        cr_assert_eq(one->all.t[k], l, "(%d, %d): time %lld, its last line %lld", u, i, (long long)one->all.t[k],
                     (long long)l);
        cr_assert_eq(one->all.r[k], (float)(l % 5 + 1), "(%d, %d): the rating of another line", u, i);
    }
    cf_dataset_destroy(&one), cf_dataset_destroy(&two);
    free(text), free(last);
}

/* The arrays door (bindings): cf_dataset_add_timed makes an empty dataset timed, keeps
 * the last time of a repeated pair, refuses to mix; cf_dataset_times copies a part's
 * times out in cf_dataset_ratings' order. */
Test(time, arrays_add_and_copy_out_times) {
    const int64_t us[] = {7, 7, 8, 7}, is[] = {1, 2, 1, 1}, ts[] = {100, 200, 300, 400};
    const float rs[] = {1, 2, 3, 4};
    const cf_ids U = {.n = 4, .ints = us}, I = {.n = 4, .ints = is};
    cf_dataset *ds = NULL;
    cf_error err;
    cr_assert_eq(cf_dataset_new(&ds, &err), CF_OK);
    cr_assert_eq(cf_dataset_add_timed(ds, &U, &I, rs, ts, 0, &err), CF_OK, "%s", err.msg);
    cr_assert(cf_dataset_has_timestamps(ds));
    int64_t u[3], i[3], t[3];
    float r[3];
    cr_assert_eq(cf_dataset_ratings(ds, 0, u, i, r, &err), CF_OK);
    cr_assert_eq(cf_dataset_times(ds, 0, t, &err), CF_OK, "%s", err.msg);
    /* sorted by (user, item): (7,1) its last rating 4 at 400, (7,2) 2 at 200, (8,1) 3 at 300 */
    cr_assert(r[0] == 4 && t[0] == 400 && r[1] == 2 && t[1] == 200 && r[2] == 3 && t[2] == 300,
              "%g@%lld %g@%lld %g@%lld", r[0], (long long)t[0], r[1], (long long)t[1], r[2], (long long)t[2]);
    cr_assert_eq(cf_dataset_add(ds, &U, &I, rs, 1, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "times: NULL, but the dataset has a timestamp for every rating"), "%s", err.msg);
    cr_assert_eq(cf_dataset_times(ds, 2, t, &err), CF_ERR_INVALID);
    cf_dataset_destroy(&ds);
    cr_assert_eq(cf_dataset_new(&ds, &err), CF_OK);
    cr_assert_eq(cf_dataset_add(ds, &U, &I, rs, 0, &err), CF_OK);
    cr_assert_eq(cf_dataset_add_timed(ds, &U, &I, rs, ts, 1, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "times: the dataset's ratings have no timestamps"), "%s", err.msg);
    cr_assert_eq(cf_dataset_times(ds, 0, t, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "the dataset has no timestamps"), "%s", err.msg);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ the binary format and the text writer */

/* A timed dataset through convert's format: the times come back (with the option), or
 * are skipped (without it, still under the checksum); a file without them refuses a timed
 * read; a changed timestamp byte is a checksum mismatch. The text writer writes the
 * fourth column, which reads back to the same times. */
Test(time, binary_format_and_text_writer_keep_times) {
    const char *text = "u1\ti1\t4\t1000\nu1\ti2\t3\t999\nu2\ti1\t5\t-3\nu3\ti3\t2\t1234567890123\n";
    cf_dataset *ds = read_timed("t.tsv", text, strlen(text), 1, NULL);
    char *cfd = cf_test_path(dir, "t.cfd"), *plain = cf_test_path(dir, "p.cfd"), *tsv = cf_test_path(dir, "w.tsv");
    cf_error err;
    cr_assert_eq(cf_dataset_write_binary(ds, cfd, 1, &err), CF_OK, "%s", err.msg);
    cf_read_options o = timed_opts(2);
    cf_dataset *back = NULL;
    cr_assert_eq(cf_dataset_read(cfd, &o, &back, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(back->all.n, ds->all.n);
    cr_assert_eq(memcmp(back->all.t, ds->all.t, (size_t)ds->all.n * sizeof *ds->all.t), 0);
    cr_assert_eq(memcmp(back->all.u, ds->all.u, (size_t)ds->all.n * sizeof *ds->all.u), 0);
    cf_dataset_destroy(&back);
    cr_assert_eq(cf_dataset_read(cfd, NULL, &back, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert(!cf_dataset_has_timestamps(back));
    cr_assert_eq(memcmp(back->all.r, ds->all.r, (size_t)ds->all.n * sizeof *ds->all.r), 0);
    cf_dataset_destroy(&back);

    cr_assert_eq(cf_dataset_write(ds, tsv, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_read(tsv, &o, &back, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(time_of(back, "u3", "i3"), 1234567890123LL);
    cr_assert_eq(time_of(back, "u2", "i1"), -3);
    cf_dataset_destroy(&back);

    cf_dataset *untimed = NULL;
    cr_assert_eq(cf_dataset_read(tsv, NULL, &untimed, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_write_binary(untimed, plain, 1, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_read(plain, &o, &back, NULL, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "binary dataset without timestamps (convert it again with --timestamps)"), "%s",
              err.msg);
    cf_dataset_destroy(&untimed);

    size_t len;
    char *bytes = cf_test_read(cfd, &len);
    cr_assert(bytes && len > 16);
    bytes[len - 3] ^= 1; /* in the last timestamp */
    cf_dataset *hurt = cf_dataset_create();
    cr_assert_eq(cf_read_memory(hurt, 0, "hurt.cfd", bytes, len, &o, NULL, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "checksum mismatch"), "%s", err.msg);
    cr_assert_eq(hurt->all.n, 0);
    cf_dataset_destroy(&hurt);
    free(bytes);
    cf_dataset_destroy(&ds);
    free(cfd), free(plain), free(tsv);
}

/* The writer's order (version 2, unsorted: the bench cache's kind) with timestamps: the
 * load deduplicates and sorts, and each rating keeps its time. */
Test(time, unsorted_binary_keeps_times_through_the_sort) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert(ds && cf_dataset_set_timed(ds) == 0);
    uint32_t idx;
    for (int k = 0; k < 3; k++) {
        char name[8];
        snprintf(name, sizeof name, "%d", k);
        cr_assert_eq(cf_idmap_intern(ds->users, name, strlen(name), &idx, NULL), 0);
        cr_assert_eq(cf_idmap_intern(ds->items, name, strlen(name), &idx, NULL), 0);
    }
    cr_assert_eq(cf_dataset_push_timed(ds, 2, 1, 5, 21, 0), 0);
    cr_assert_eq(cf_dataset_push_timed(ds, 0, 2, 4, 2, 0), 0);
    cr_assert_eq(cf_dataset_push_timed(ds, 0, 0, 3, 0, 0), 0);
    cr_assert_eq(cf_dataset_push_timed(ds, 1, 1, 2, 11, 0), 0);
    char *path = cf_test_path(dir, "u.cfd");
    cf_error err;
    cr_assert_eq(cf_bin_write_ordered(ds, path, 1, 1, &err), CF_OK, "%s", err.msg);
    cf_read_options o = timed_opts(1);
    cf_dataset *back = NULL;
    cr_assert_eq(cf_dataset_read(path, &o, &back, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(back->all.n, 4);
    static const int64_t want[] = {0, 2, 11, 21}; /* (0,0), (0,2), (1,1), (2,1) */
    for (int k = 0; k < 4; k++) cr_assert_eq(back->all.t[k], want[k], "rating %d: time %lld", k, (long long)back->all.t[k]);
    cf_dataset_destroy(&back), cf_dataset_destroy(&ds);
    free(path);
}

/* ------------------------------------------------------------------ the splits */

static cf_dataset *copy_of(const cf_dataset *ds) {
    cf_dataset *c = cf_dataset_create();
    cr_assert(c && cf_dataset_set_timed(c) == 0 && cf_dataset_reserve(c, ds->all.n) == 0);
    cf_idmap_destroy(&c->users), cf_idmap_destroy(&c->items);
    c->users = cf_idmap_clone(ds->users), c->items = cf_idmap_clone(ds->items);
    for (int64_t k = 0; k < ds->all.n; k++)
        cr_assert_eq(cf_dataset_push_timed(c, ds->all.u[k], ds->all.i[k], ds->all.r[k], ds->all.t[k], ds->is_test[k]), 0);
    return c;
}

/* (time, index) of a below b. */
static int key_below(const cf_dataset *ds, int64_t a, int64_t b) {
    return ds->all.t[a] < ds->all.t[b] || (ds->all.t[a] == ds->all.t[b] && a < b);
}

/* The global split: llround(ratio·n_train) moved, every training key below every newly
 * moved test key, the cutoff the earliest moved time; the ratings already in the test
 * part stay there and are not counted; the same on 1 and 2 threads; a time-sorted set
 * holds out its tail. */
Test(time, split_time_holds_out_the_latest) {
    for (int pre = 0; pre < 2; pre++) {
        cf_dataset *ds = cf_test_generate_timed(100000, 500, pre, 3 + (uint64_t)pre), *two = copy_of(ds);
        uint8_t *before = malloc((size_t)ds->all.n);
        memcpy(before, ds->is_test, (size_t)ds->all.n);
        int64_t n_train = 0;
        for (int64_t k = 0; k < ds->all.n; k++) n_train += !before[k];
        int64_t cutoff = -1, cutoff2 = -1;
        cf_error err;
        cr_assert_eq(cf_dataset_split_time(ds, 0.2, 1, &cutoff, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(cf_dataset_split_time(two, 0.2, 2, &cutoff2, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(memcmp(ds->is_test, two->is_test, (size_t)ds->all.n), 0, "1 vs 2 threads");
        cr_assert_eq(cutoff, cutoff2);
        int64_t moved = 0, max_train = -1, min_test = -1;
        for (int64_t k = 0; k < ds->all.n; k++) {
            if (before[k]) {
                cr_assert(ds->is_test[k], "a test rating left the test part");
                continue;
            }
            if (ds->is_test[k]) {
                moved++;
                if (min_test < 0 || key_below(ds, k, min_test)) min_test = k;
            } else if (max_train < 0 || key_below(ds, max_train, k)) {
                max_train = k;
            }
        }
        cr_assert_eq(moved, llround(0.2 * (double)n_train), "pre %d: %lld moved", pre, (long long)moved);
        cr_assert(key_below(ds, max_train, min_test), "pre %d: a training rating after a test one", pre);
        cr_assert_eq(cutoff, ds->all.t[min_test]);
        cr_assert(ds->all.t[max_train] <= cutoff);
        free(before);
        cf_dataset_destroy(&ds), cf_dataset_destroy(&two);
    }
    /* time = index: the last 10 % */
    cf_dataset *ds = cf_dataset_create();
    cr_assert(ds && cf_dataset_set_timed(ds) == 0);
    uint32_t idx;
    cr_assert_eq(cf_idmap_intern(ds->users, "u", 1, &idx, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "i", 1, &idx, NULL), 0);
    for (int k = 0; k < 1000; k++) cr_assert_eq(cf_dataset_push_timed(ds, 0, 0, 1, 5000 + k, 0), 0);
    int64_t cutoff;
    cf_error err;
    cr_assert_eq(cf_dataset_split_time(ds, 0.1, 1, &cutoff, &err), CF_OK, "%s", err.msg);
    for (int k = 0; k < 1000; k++) cr_assert_eq(ds->is_test[k], k >= 900, "rating %d", k);
    cr_assert_eq(cutoff, 5900);
    cf_dataset_destroy(&ds);
}

/* The per-user split: per user as many as cf_dataset_split_per_user moves at the same
 * seed, each user's training keys below its test keys, one-rating users untouched; the
 * same on 1, 2 and 3 threads (past the 2^16 ratings where users go parallel). */
Test(time, split_per_user_time_holds_out_each_users_latest) {
    cf_dataset *ds = cf_test_generate_timed(90000, 50, 0, 9), *rnd = copy_of(ds);
    cf_error err;
    cr_assert_eq(cf_dataset_split_per_user_time(ds, 0.25, 17, 1, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_split_per_user(rnd, 0.25, 17, 1, &err), CF_OK, "%s", err.msg);
    for (int T = 2; T <= 3; T++) {
        cf_dataset *c = copy_of(rnd);
        memset(c->is_test, 0, (size_t)c->all.n);
        cr_assert_eq(cf_dataset_split_per_user_time(c, 0.25, 17, T, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(memcmp(c->is_test, ds->is_test, (size_t)ds->all.n), 0, "%d threads", T);
        cf_dataset_destroy(&c);
    }
    const int64_t nu = cf_idmap_size(ds->users);
    int64_t *n = calloc((size_t)nu, sizeof *n), *held = calloc((size_t)nu, sizeof *held);
    int64_t *held_rnd = calloc((size_t)nu, sizeof *held_rnd), *last_train = malloc((size_t)nu * sizeof *last_train);
    int64_t *first_test = malloc((size_t)nu * sizeof *first_test);
    for (int64_t u = 0; u < nu; u++) last_train[u] = first_test[u] = -1;
    int64_t total = 0;
    for (int64_t k = 0; k < ds->all.n; k++) {
        const uint32_t u = ds->all.u[k];
        n[u]++, held_rnd[u] += rnd->is_test[k];
        if (ds->is_test[k]) {
            held[u]++, total++;
            if (first_test[u] < 0 || key_below(ds, k, first_test[u])) first_test[u] = k;
        } else if (last_train[u] < 0 || key_below(ds, last_train[u], k)) {
            last_train[u] = k;
        }
    }
    cr_assert_gt(total, 0);
    for (int64_t u = 0; u < nu; u++) {
        cr_assert_eq(held[u], held_rnd[u], "user %lld: %lld held out, the random per-user split %lld", (long long)u,
                     (long long)held[u], (long long)held_rnd[u]);
        if (n[u] > 0) cr_assert_lt(held[u], n[u], "user %lld lost every training rating", (long long)u);
        if (held[u]) cr_assert(key_below(ds, last_train[u], first_test[u]), "user %lld: a training rating after a test one",
                               (long long)u);
    }
    free(n), free(held), free(held_rnd), free(last_train), free(first_test);
    cf_dataset_destroy(&ds), cf_dataset_destroy(&rnd);
}

Test(time, splits_need_timestamps_and_a_ratio) {
    const char *text = "1\t2\t3\n1\t3\t4\n";
    cf_dataset *ds = cf_dataset_create();
    cf_error err;
    cr_assert_eq(cf_read_memory(ds, 0, "p.tsv", text, strlen(text), NULL, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_split_time(ds, 0.5, 1, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "time split: the dataset has no timestamps"), "%s", err.msg);
    cr_assert_eq(cf_dataset_split_per_user_time(ds, 0.5, 1, 1, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "per-user time split: the dataset has no timestamps"), "%s", err.msg);
    cf_dataset_destroy(&ds);
    const char *t = "1\t2\t3\t5\n1\t3\t4\t6\n";
    ds = read_timed("t.tsv", t, strlen(t), 1, NULL);
    cr_assert_eq(cf_dataset_split_time(ds, 1.0, 1, NULL, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_dataset_split_per_user_time(ds, -0.1, 1, 1, &err), CF_ERR_INVALID);
    int64_t cutoff = 0;
    cr_assert_eq(cf_dataset_split_time(ds, 0.0, 1, &cutoff, &err), CF_OK);
    cr_assert_eq(cutoff, INT64_MAX, "nothing moved: no cutoff");
    cr_assert_eq(ds->is_test[0] + ds->is_test[1], 0);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ the CLI */

/* train --test-split time: the library's split (n_test, cutoff) in the JSON and the
 * "split:" line; the same from the binary file convert --timestamps writes; user-time
 * holds out as many as user; info --timestamps names the span and the default cut; a
 * file without the column is an error naming line and field. */
Test(time, cli_time_splits, .timeout = 120) {
    char *data = cf_test_path(dir, "d.tsv"), *bin = cf_test_path(dir, "d.cfd");
    cf_dataset *ds = cf_test_generate_timed(20000, 1000000, 0, 5);
    cf_error err;
    cr_assert_eq(cf_dataset_write(ds, data, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    cf_read_options o = timed_opts(1);
    cr_assert_eq(cf_dataset_read(data, &o, &ds, NULL, &err), CF_OK, "%s", err.msg);
    int64_t cutoff;
    cr_assert_eq(cf_dataset_split_time(ds, 0.2, 1, &cutoff, &err), CF_OK, "%s", err.msg);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cf_dataset_destroy(&ds);

    cf_test_run r = cf_test_cli(dir, "train", data, "--test-split", "time", "--test-ratio", "0.2", "--factors", "2",
                                "--iters", "2", "--device", "cpu", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"test_split\":\"time\""), "%s", r.out);
    cr_assert_eq((int64_t)cf_test_json_num(r.out, "test_cutoff"), cutoff);
    cr_assert_eq((int64_t)cf_test_json_num(r.out, "n_test"), info.n_test);
    const double rmse = cf_test_json_num(r.out, "test_rmse");
    char line[160];
    snprintf(line, sizeof line, "split: %lld train, %lld test (the latest 0.2: from time %lld on)",
             (long long)info.n_train, (long long)info.n_test, (long long)cutoff);
    cr_assert(strstr(r.err, line), "want '%s' in %s", line, r.err);
    cf_test_run_free(&r);

    r = cf_test_cli(dir, "convert", data, bin, "--timestamps", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "ratings with timestamps"), "%s", r.err);
    cf_test_run_free(&r);
    r = cf_test_cli(dir, "train", bin, "--test-split", "time", "--test-ratio", "0.2", "--factors", "2", "--iters", "2",
                    "--device", "cpu", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq((int64_t)cf_test_json_num(r.out, "test_cutoff"), cutoff);
    cr_assert_eq(cf_test_json_num(r.out, "test_rmse"), rmse, "the binary file trains as the text");
    cf_test_run_free(&r);

    r = cf_test_cli(dir, "train", data, "--test-split", "user-time", "--factors", "2", "--iters", "2", "--seed", "3",
                    "--device", "cpu", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"test_split\":\"user-time\""), "%s", r.out);
    cr_assert(!strstr(r.out, "test_cutoff"), "%s", r.out);
    cr_assert_eq(cf_test_json_num(r.out, "test_unseen"), 0, "every user-time test user is known");
    const double n_user_time = cf_test_json_num(r.out, "n_test");
    cf_test_run_free(&r);
    r = cf_test_cli(dir, "train", data, "--test-split", "user", "--factors", "2", "--iters", "2", "--seed", "3",
                    "--device", "cpu", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(cf_test_json_num(r.out, "n_test"), n_user_time, "user-time holds out as many as user");
    cf_test_run_free(&r);

    /* info --timestamps: the span, and where the default time split (0.1) cuts */
    cr_assert_eq(cf_dataset_read(data, &o, &ds, NULL, &err), CF_OK, "%s", err.msg);
    int64_t first = INT64_MAX, last = INT64_MIN, tenth;
    for (int64_t k = 0; k < ds->all.n; k++)
        first = ds->all.t[k] < first ? ds->all.t[k] : first, last = ds->all.t[k] > last ? ds->all.t[k] : last;
    cr_assert_eq(cf_dataset_split_time(ds, 0.1, 1, &tenth, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    r = cf_test_cli(dir, "info", data, "--timestamps", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[160];
    snprintf(want, sizeof want, "\"times\":{\"first\":%lld,\"last\":%lld,\"latest_tenth_from\":%lld}",
             (long long)first, (long long)last, (long long)tenth);
    cr_assert(strstr(r.out, want), "want %s in %s", want, r.out);
    cf_test_run_free(&r);

    const char *three = "1\t2\t3\n2\t2\t4\n";
    char *p3 = cf_test_write(dir, "three.tsv", three, strlen(three));
    r = cf_test_cli(dir, "train", p3, "--test-split", "time", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "three.tsv:1: missing timestamp field (the fourth)"), "%s", r.err);
    cf_test_run_free(&r);
    free(data), free(bin), free(p3);
}
