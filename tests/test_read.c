/*
 * test_read.c — the ratings readers (src/read*.c) and their number parser (read_num.h).
 *
 * Each format is read from a fixture string and checked triplet by triplet against the
 * (user token, item token, rating) written in the fixture, plus the report fields.
 * Each bad-input case checks the status and that the message names "file:LINE:" with
 * the right line and the reason. Numbers are checked against the C library's strtof.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "common.h"
#include "cufactor.h"
#include "dataset.h"
#include "helpers.h"
#include "factors.h"
#include "idmap.h"
#include "model.h"
#include "read_num.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

CF_TEST_SUITE_WITH_TMPDIR(read, 300);

typedef struct trip {
    const char *user, *item;
    float r;
} trip;

/* Writes `text` to dir/name and reads it; returns the status. */
static cf_status read_text(const char *name, const char *text, size_t len, const cf_read_options *opt,
                           cf_dataset **ds, cf_read_report *rep, cf_error *err) {
    char *path = cf_test_write(dir, name, text, len);
    cr_assert(path);
    cf_status st = cf_dataset_read(path, opt, ds, rep, err);
    free(path);
    return st;
}

/* The ratings of `part` are exactly `want` (in any order), compared by token and value. */
static void expect_triplets(const cf_dataset *ds, int part, const trip *want, int64_t n) {
    int64_t have = 0;
    for (int64_t k = 0; k < ds->all.n; k++) have += ds->is_test[k] == part;
    cr_assert_eq(have, n, "part %d has %lld ratings, expected %lld", part, (long long)have, (long long)n);
    for (int64_t w = 0; w < n; w++) {
        int found = 0;
        for (int64_t k = 0; k < ds->all.n; k++) {
            if (ds->is_test[k] != part) continue;
            const char *u = cf_idmap_name(ds->users, ds->all.u[k], NULL);
            const char *i = cf_idmap_name(ds->items, ds->all.i[k], NULL);
            if (strcmp(u, want[w].user) || strcmp(i, want[w].item)) continue;
            cr_assert(!found, "(%s, %s) appears twice", u, i);
            found = 1;
            cr_assert_eq(ds->all.r[k], want[w].r, "(%s, %s): rating %.9g, expected %.9g", u, i,
                         (double)ds->all.r[k], (double)want[w].r);
        }
        cr_assert(found, "(%s, %s) missing", want[w].user, want[w].item);
    }
}

/* Reads `text`, expects CF_ERR_PARSE with "name:line:" and `reason` in the message. */
static void expect_parse_error(const char *name, const char *text, const cf_read_options *opt, int line,
                               const char *reason) {
    cf_dataset *ds = (cf_dataset *)1;
    cf_read_report rep;
    cf_error err;
    cf_status st = read_text(name, text, (size_t)-1, opt, &ds, &rep, &err);
    cr_assert_eq(st, CF_ERR_PARSE, "%s: status %s, expected parse error (msg: %s)", name, cf_status_name(st),
                 err.msg);
    cr_assert_eq(err.status, CF_ERR_PARSE);
    cr_assert_null(ds, "a failed read must not return a dataset");
    char where[256];
    snprintf(where, sizeof where, "/%s:%d: ", name, line);
    cr_assert(strstr(err.msg, where), "message '%s' lacks '%s'", err.msg, where);
    cr_assert(strstr(err.msg, reason), "message '%s' lacks '%s'", err.msg, reason);
}

/* ------------------------------------------------------------------ formats */

Test(read, options_default) {
    cf_read_options o;
    memset(&o, 0xff, sizeof o);
    cf_read_options_default(&o);
    cr_assert_eq(o.format, CF_FORMAT_AUTO);
    cr_assert_eq(o.skip_bad_lines, 0);
    cr_assert_eq(o.max_line, 65536);
    cr_assert_null(o.progress);
    cr_assert_null(o.progress_user);
}

Test(read, movielens_udata_tab) {
    const char *text = "196\t242\t3\t881250949\n"
                       "186\t302\t3\t891717742\n"
                       "22\t377\t1\t878887116\n"
                       "244\t51\t2\t880606923\n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("u.data", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"196", "242", 3}, {"186", "302", 3}, {"22", "377", 1}, {"244", "51", 2}};
    expect_triplets(ds, 0, want, 4);
    cr_assert_eq(rep.format, CF_FORMAT_DELIM);
    cr_assert_str_eq(rep.delimiter, "\t");
    cr_assert_eq(rep.header, 0);
    cr_assert_eq(rep.bytes, (int64_t)strlen(text));
    cr_assert_eq(rep.lines, 4);
    cr_assert_eq(rep.ratings, 4);
    cr_assert_eq(rep.skipped, 0);
    cr_assert_eq(rep.duplicates, 0);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_users, 4);
    cr_assert_eq(info.n_items, 4);
    cr_assert_eq(info.n_train, 4);
    cr_assert_eq(info.n_test, 0);
    cf_dataset_destroy(&ds);
    cr_assert_null(ds);
}

Test(read, movielens_dat_double_colon) {
    const char *text = "1::1193::5::978300760\n"
                       "1::661::3::978302109\n"
                       "2::1193::4::978298413\n"
                       "10::a:b::2::978298413\n"; /* a single ':' belongs to the token */
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("ratings.dat", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "1193", 5}, {"1", "661", 3}, {"2", "1193", 4}, {"10", "a:b", 2}};
    expect_triplets(ds, 0, want, 4);
    cr_assert_str_eq(rep.delimiter, "::");
    cr_assert_eq(rep.header, 0);
    cr_assert_eq(rep.lines, 4);
    cf_dataset_destroy(&ds);
}

Test(read, movielens_csv_with_header) {
    const char *text = "userId,movieId,rating,timestamp\n"
                       "1,31,2.5,1260759144\n"
                       "1,1029,3.0,1260759179\n"
                       "2,10,4.0,835355493\n"
                       "7,31,0.5,835355493\n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("ratings.csv", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "31", 2.5f}, {"1", "1029", 3.0f}, {"2", "10", 4.0f}, {"7", "31", 0.5f}};
    expect_triplets(ds, 0, want, 4);
    cr_assert_str_eq(rep.delimiter, ",");
    cr_assert_eq(rep.header, 1);
    cr_assert_eq(rep.lines, 5);
    cr_assert_eq(rep.ratings, 4);
    cr_assert_eq(cf_idmap_find(ds->users, "userId", 6), -1, "the header is not an ID");
    cf_dataset_destroy(&ds);
}

Test(read, libmf_spaces) {
    const char *text = "0 0 4.5\n"
                       "0  3   2\n"
                       "  1 2 -1.25\n"
                       "1\t 7 \t 1e-1   \n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("libmf.txt", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"0", "0", 4.5f}, {"0", "3", 2.0f}, {"1", "2", -1.25f}, {"1", "7", 0.1f}};
    expect_triplets(ds, 0, want, 4);
    cr_assert_str_eq(rep.delimiter, " ");
    cr_assert_eq(rep.format, CF_FORMAT_DELIM);
    cf_dataset_destroy(&ds);
}

Test(read, matrix_market_real_with_comments) {
    const char *text = "%%MatrixMarket matrix coordinate real general\n"
                       "% a comment\n"
                       "%another\n"
                       "\n"
                       "3 4 4\n"
                       "1 1 2.5\n"
                       "3 4 -1e-1\n"
                       "% a comment in the body\n"
                       "2 2 5\n"
                       "  1\t4  3.25  \n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("m.mtx", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "1", 2.5f}, {"3", "4", -0.1f}, {"2", "2", 5.0f}, {"1", "4", 3.25f}};
    expect_triplets(ds, 0, want, 4);
    cr_assert_eq(rep.format, CF_FORMAT_MM);
    cr_assert_str_eq(rep.delimiter, "");
    cr_assert_eq(rep.lines, 10);
    cr_assert_eq(rep.ratings, 4);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_users, 3, "only the rows that occur are IDs");
    cr_assert_eq(info.n_items, 3);
    cf_dataset_destroy(&ds);
}

Test(read, matrix_market_integer_case_insensitive) {
    const char *text = "%%MatrixMarket MATRIX Coordinate INTEGER General\n"
                       "%\n"
                       "2 3 3\n"
                       "1 2 3\n"
                       "2 1 -4\n"
                       "02 3 +5\n"; /* "02" is index 2: the ID is its decimal "2" */
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("int.mtx", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "2", 3}, {"2", "1", -4}, {"2", "3", 5}};
    expect_triplets(ds, 0, want, 3);
    cr_assert_eq(rep.format, CF_FORMAT_MM);
    cf_dataset_destroy(&ds);
}

Test(read, string_ids) {
    const char *text = "alice\tThe Matrix (1999)\t5\n"
                       "bob\tinception\t4.5\n"
                       "alice\tinception\t3\n"
                       "\xc3\xa9mile\tinception\t1\n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("names.tsv", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"alice", "The Matrix (1999)", 5},
                   {"bob", "inception", 4.5f},
                   {"alice", "inception", 3},
                   {"\xc3\xa9mile", "inception", 1}};
    expect_triplets(ds, 0, want, 4);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_users, 3);
    cr_assert_eq(info.n_items, 2);
    cf_dataset_destroy(&ds);
}

Test(read, crlf_line_endings) {
    const char *text = "user,item,rating\r\n1,2,3\r\n1,3,4.5\r\n\r\n2,2,1\r\n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("crlf.csv", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "2", 3}, {"1", "3", 4.5f}, {"2", "2", 1}};
    expect_triplets(ds, 0, want, 3);
    cr_assert_eq(rep.header, 1);
    cr_assert_eq(rep.lines, 5);
    cf_dataset_destroy(&ds);
}

Test(read, quoted_csv_ids) {
    const char *text = "\"u 1\",\"item, the one\",4\n"
                       "\"u2\",i3,2.5\n"
                       " \"u2\" , \"i,4\" , \"1.5\" ,\"ignored, column\"\n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("quoted.csv", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"u 1", "item, the one", 4}, {"u2", "i3", 2.5f}, {"u2", "i,4", 1.5f}};
    expect_triplets(ds, 0, want, 3);
    cr_assert_str_eq(rep.delimiter, ",");
    cr_assert_eq(rep.header, 0);
    cf_dataset_destroy(&ds);
}

Test(read, comments_blank_lines_bom_and_no_final_newline) {
    const char *text = "\xEF\xBB\xBF# exported ratings\n"
                       "\n"
                       "1 2 3\n"
                       "   \n"
                       "# another\n"
                       "2 3 4"; /* no final newline */
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("c.txt", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "2", 3}, {"2", "3", 4}};
    expect_triplets(ds, 0, want, 2);
    cr_assert_eq(rep.lines, 6);
    cr_assert_eq(rep.header, 0);
    cf_dataset_destroy(&ds);
}

Test(read, forced_formats) {
    const char *udata = "1\t2\t3\t100\n4\t5\t1\t200\n";
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.format = CF_FORMAT_DELIM;
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("f.tsv", udata, (size_t)-1, &opt, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "2", 3}, {"4", "5", 1}};
    expect_triplets(ds, 0, want, 2);
    cr_assert_eq(rep.format, CF_FORMAT_DELIM);
    cf_dataset_destroy(&ds);

    /* forcing Matrix Market on a delimited file: its first line is not a banner */
    opt.format = CF_FORMAT_MM;
    expect_parse_error("g.tsv", udata, &opt, 1, "bad Matrix Market banner");

    /* forcing delimited text on a Matrix Market file: the banner is read as a header
     * line (its third word is not a number), then the size line "2 2 1" is a rating */
    opt.format = CF_FORMAT_DELIM;
    const char *mm = "%%MatrixMarket matrix coordinate real general\n2 2 1\n1 2 4\n";
    cr_assert_eq(read_text("h.mtx", mm, (size_t)-1, &opt, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want_mm[] = {{"2", "2", 1}, {"1", "2", 4}};
    expect_triplets(ds, 0, want_mm, 2);
    cr_assert_eq(rep.header, 1);
    cr_assert_eq(rep.format, CF_FORMAT_DELIM);
    cf_dataset_destroy(&ds);
}

Test(read, fifo_is_read_without_mmap) {
    char *path = cf_test_path(dir, "pipe");
    cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
    size_t cap = 5000 * 16, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int k = 0; k < 5000; k++)
        len += (size_t)snprintf(text + len, cap - len, "u%d\ti%d\t%d\n", k % 97, k % 89, 1 + k % 5);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) { /* the writer: only async-signal-safe calls (the test has threads) */
        int fd = open(path, O_WRONLY);
        for (size_t at = 0; fd >= 0 && at < len;) {
            ssize_t n = write(fd, text + at, len - at);
            if (n <= 0) _exit(1);
            at += (size_t)n;
        }
        _exit(fd < 0);
    }
    free(text);
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cf_status st = cf_dataset_read(path, NULL, &ds, &rep, &err);
    int wst;
    waitpid(pid, &wst, 0);
    cr_assert_eq(st, CF_OK, "%s", err.msg);
    /* k mod 97 and k mod 89 repeat together only every 97·89 > 5000: no duplicates */
    cr_assert_eq(rep.ratings, 5000);
    cr_assert_eq(rep.lines, 5000);
    int64_t u = cf_idmap_find(ds->users, "u12", 3), i = cf_idmap_find(ds->items, "i12", 3);
    cr_assert(u >= 0 && i >= 0);
    int found = 0;
    for (int64_t k = 0; k < ds->all.n; k++)
        if (ds->all.u[k] == (uint32_t)u && ds->all.i[k] == (uint32_t)i) {
            found = 1;
            cr_assert_eq(ds->all.r[k], 3.0f); /* k = 12: 1 + 12 % 5 */
        }
    cr_assert(found);
    cf_dataset_destroy(&ds);
    free(path);
}

/* A file grouped by user with numeric IDs (the readers' fast paths) gives the same
 * dataset as the same lines in reverse order. */
Test(read, numeric_and_user_caches_agree_with_plain_order) {
    size_t cap = 1 << 20, len = 0, rlen = 0;
    char *text = malloc(cap), *rev = malloc(cap);
    int n = 3000;
    char (*lines)[64] = malloc((size_t)n * sizeof *lines);
    for (int k = 0; k < n; k++) {
        /* users grouped, items spread; 9000000 is beyond the numeric cache */
        int u = k / 7, i = (k * 37) % 1001 + (k % 11 == 0 ? 9000000 : 0);
        snprintf(lines[k], sizeof lines[k], "%d\t%d\t%d.5\n", u, i, k % 5);
        len += (size_t)sprintf(text + len, "%s", lines[k]);
    }
    for (int k = n - 1; k >= 0; k--) rlen += (size_t)sprintf(rev + rlen, "%s", lines[k]);
    cf_dataset *a, *b;
    cf_read_report ra, rb;
    cf_error err;
    cr_assert_eq(read_text("fwd.tsv", text, len, NULL, &a, &ra, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(read_text("rev.tsv", rev, rlen, NULL, &b, &rb, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ra.ratings, n);
    cr_assert_eq(rb.ratings, n);
    for (int k = 0; k < n; k++) {
        int u = k / 7, i = (k * 37) % 1001 + (k % 11 == 0 ? 9000000 : 0);
        char us[16], is[16];
        int ul = snprintf(us, sizeof us, "%d", u), il = snprintf(is, sizeof is, "%d", i);
        for (int side = 0; side < 2; side++) {
            cf_dataset *ds = side ? b : a;
            int64_t ui = cf_idmap_find(ds->users, us, (size_t)ul), ii = cf_idmap_find(ds->items, is, (size_t)il);
            cr_assert(ui >= 0 && ii >= 0, "line %d: IDs missing", k);
            int hits = 0;
            for (int64_t j = 0; j < ds->all.n; j++)
                if (ds->all.u[j] == (uint32_t)ui && ds->all.i[j] == (uint32_t)ii) {
                    hits++;
                    cr_assert_eq(ds->all.r[j], (float)(k % 5) + 0.5f);
                }
            cr_assert_eq(hits, 1);
        }
    }
    cf_dataset_destroy(&a);
    cf_dataset_destroy(&b);
    free(text);
    free(rev);
    free(lines);
}

/* The fixtures in tests/data hold the same six ratings in three formats. */
Test(read, data_dir_fixtures_agree) {
    const char *files[] = {"tiny_u.data", "tiny_ratings.csv", "tiny.mtx"};
    trip want[] = {{"1", "10", 5}, {"1", "20", 3}, {"2", "10", 4}, {"3", "30", 1}, {"2", "20", 2.5f}, {"3", "10", 4.5f}};
    for (int k = 0; k < 3; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", CF_TEST_DATA_DIR, files[k]);
        cf_dataset *ds;
        cf_read_report rep;
        cf_error err;
        cr_assert_eq(cf_dataset_read(path, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
        expect_triplets(ds, 0, want, 6);
        cr_assert_eq(rep.format, k == 2 ? CF_FORMAT_MM : CF_FORMAT_DELIM);
        cr_assert_eq(rep.header, k == 1);
        cf_dataset_destroy(&ds);
    }
}

/* What cf_dataset_write writes, the reader reads back exactly: same IDs, same floats. */
Test(read, round_trip_with_the_dataset_writer) {
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = 300, g.items = 120, g.ratings = 4000, g.rank = 3, g.noise = 0.3, g.seed = 11;
    cf_dataset *src, *back;
    cf_error err;
    cr_assert_eq(cf_generate(&g, &src, &err), CF_OK, "%s", err.msg);
    char *path = cf_test_path(dir, "gen.tsv");
    cr_assert_eq(cf_dataset_write(src, path, &err), CF_OK, "%s", err.msg);
    cf_read_report rep;
    cr_assert_eq(cf_dataset_read(path, NULL, &back, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.ratings, src->all.n);
    cr_assert_eq(rep.duplicates, 0);
    for (int64_t k = 0; k < src->all.n; k++) {
        size_t ul, il;
        const char *u = cf_idmap_name(src->users, src->all.u[k], &ul);
        const char *i = cf_idmap_name(src->items, src->all.i[k], &il);
        int64_t bu = cf_idmap_find(back->users, u, ul), bi = cf_idmap_find(back->items, i, il);
        cr_assert(bu >= 0 && bi >= 0, "(%s, %s) missing", u, i);
        int64_t lo = 0, hi = back->all.n - 1; /* read ratings are sorted by (user, item) */
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (back->all.u[mid] < (uint32_t)bu || (back->all.u[mid] == (uint32_t)bu && back->all.i[mid] < (uint32_t)bi))
                lo = mid + 1;
            else
                hi = mid;
        }
        cr_assert(back->all.u[lo] == (uint32_t)bu && back->all.i[lo] == (uint32_t)bi, "(%s, %s) missing", u, i);
        cr_assert_eq(back->all.r[lo], src->all.r[k], "(%s, %s): %.9g read back as %.9g", u, i,
                     (double)src->all.r[k], (double)back->all.r[lo]);
    }
    cf_dataset_destroy(&src);
    cf_dataset_destroy(&back);
    free(path);
}

/* Tricky lines, read both where the SSE2 fast path sees them (32 readable bytes: a
 * long comment follows) and where it cannot (the line ends the file): same result,
 * and the expected one. */
Test(read, fast_and_general_paths_agree_on_tricky_lines) {
    struct {
        const char *first, *line;
        const char *user, *item; /* expected second rating, or NULL: none (comment) */
        float r;
        const char *reason;      /* expected error, or NULL */
    } cases[] = {
        {"1\t1\t1", "2\t3\t4\t", "2", "3", 4, NULL},
        {"1\t1\t1", "2\t3\t4\t\t", "2", "3", 4, NULL},
        {"1\t1\t1", "2\t3\t4\t99999999", "2", "3", 4, NULL},
        {"1\t1\t1", "2\t3\t\t5", NULL, NULL, 0, "missing rating field"},
        {"1\t1\t1", "\t3\t4", NULL, NULL, 0, "empty user ID"},
        {"1\t1\t1", "2\t\t4", NULL, NULL, 0, "empty item ID"},
        {"1\t1\t1", "2\t3", NULL, NULL, 0, "missing rating field"},
        {"1\t1\t1", "2#\t3\t4", "2#", "3", 4, NULL},
        {"1\t1\t1", "#2\t3\t4", NULL, NULL, 0, NULL},
        {"1\t1\t1", "2 \t 3\t4", "2", "3", 4, NULL},
        {"1\t1\t1", "2\t3\t4\r", "2", "3", 4, NULL},
        {"1\t1\t1", "2\t3\t4x", NULL, NULL, 0, "rating is not a number"},
        {"1\t1\t1", "2\t3\tnan", NULL, NULL, 0, "rating is not finite"},
        {"1\t1\t1", "a:b\t\"q\"\t4.5", "a:b", "\"q\"", 4.5f, NULL},
        {"1,1,1", "2,3,4,", "2", "3", 4, NULL},
        {"1,1,1", "\"2\",3,4", "2", "3", 4, NULL},
        {"1,1,1", "2,3,4\t", "2", "3", 4, NULL},
        {"1,1,1", "2,,4", NULL, NULL, 0, "empty item ID"},
        {"1,1,1", "2,3", NULL, NULL, 0, "missing rating field"},
        {"1,1,1", "2\t,3,4", "2\t", "3", 4, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        for (int fast = 0; fast < 2; fast++) {
            char text[256], name[32];
            snprintf(text, sizeof text, "%s\n%s\n%s", cases[k].first, cases[k].line,
                     fast ? "# padding so that 32 bytes are readable after the line\n" : "");
            snprintf(name, sizeof name, "t%zu_%d", k, fast);
            cf_dataset *ds;
            cf_read_report rep;
            cf_error err;
            cf_status st = read_text(name, text, (size_t)-1, NULL, &ds, &rep, &err);
            if (cases[k].reason) {
                cr_assert_eq(st, CF_ERR_PARSE, "case %zu fast %d: %s", k, fast, cf_status_name(st));
                char want[128];
                snprintf(want, sizeof want, "%s:2: %s", name, cases[k].reason);
                cr_assert(strstr(err.msg, want), "case %zu fast %d: '%s' lacks '%s'", k, fast, err.msg, want);
                continue;
            }
            cr_assert_eq(st, CF_OK, "case %zu fast %d: %s", k, fast, err.msg);
            trip want[2] = {{"1", "1", 1}, {cases[k].user, cases[k].item, cases[k].r}};
            expect_triplets(ds, 0, want, cases[k].user ? 2 : 1);
            cf_dataset_destroy(&ds);
        }
    }
}

/* ------------------------------------------------------------------ bad input */

Test(read, missing_item_field) { expect_parse_error("a.tsv", "1\t2\t3\n4\n", NULL, 2, "missing item field"); }

/* A file in a separator the reader does not know says so, not "missing item field"
 * (issue 17 item 16): on the first line, and on a later line that holds ';' or '|'. */
Test(read, unsupported_separator_is_named) {
    expect_parse_error("semi.csv", "u1;i1;4\nu2;i2;3\n", NULL, 1,
                       "no supported separator (tab, comma, space, ::); found ';'");
    expect_parse_error("pipe.txt", "u1|i1|4\n", NULL, 1, "no supported separator (tab, comma, space, ::); found '|'");
    expect_parse_error("one.txt", "u1\n", NULL, 1, "no supported separator (tab, comma, space, ::)");
    expect_parse_error("later.tsv", "u1\ti1\t4\nu2;i2;3\n", NULL, 2,
                       "no supported separator (tab, comma, space, ::); found ';'");
}

Test(read, missing_rating_field) {
    expect_parse_error("b.tsv", "1\t2\t3\n\n4\t5\n", NULL, 3, "missing rating field");
    expect_parse_error("b2.csv", "1,2,3\n4,5,\n", NULL, 2, "missing rating field");
}

Test(read, empty_ids) {
    expect_parse_error("e.csv", "1,2,3\n,5,4\n", NULL, 2, "empty user ID");
    expect_parse_error("e2.csv", "1,2,3\n4,\"\",4\n", NULL, 2, "empty item ID");
}

Test(read, rating_not_a_number) {
    expect_parse_error("c.csv", "1,2,3\n1,3,x4\n", NULL, 2, "rating is not a number");
    expect_parse_error("c2.csv", "1,2,3\n# c\n1,3,4x\n", NULL, 3, "rating is not a number");
    expect_parse_error("c3.csv", "1,2,3\n1,3,4.5.1\n", NULL, 2, "rating is not a number");
}

Test(read, non_finite_ratings) {
    const char *bad[] = {"nan", "NaN", "-nan", "inf", "-Infinity", "1e999", "-1e39", "3.5e38"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char text[128], name[32];
        snprintf(text, sizeof text, "1 2 3\n\n1 3 %s\n", bad[k]);
        snprintf(name, sizeof name, "nf%zu.txt", k);
        expect_parse_error(name, text, NULL, 3, "rating is not finite");
    }
}

Test(read, line_longer_than_max_line) {
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.max_line = 20;
    expect_parse_error("long.txt", "1 2 3\n1 2 3 xxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", &opt, 2, "longer than max_line");
    /* exactly max_line bytes is fine */
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("ok.txt", "1 2 3 xxxxxxxxxxxxxx\n", (size_t)-1, &opt, &ds, &rep, &err), CF_OK, "%s",
                 err.msg);
    cf_dataset_destroy(&ds);
}

Test(read, empty_files) {
    /* what the file holds instead of ratings, named */
    const char *texts[] = {"", "\n\n", "# only a comment\n", "userId,movieId,rating\n", "\xEF\xBB\xBF", "1\t2\tx\n"};
    const char *why[] = {"empty file: no ratings", "no ratings: 2 lines, all blank or comments",
                         "no ratings: 1 line, all blank or comments",
                         "no ratings: its only data line was read as a header (its rating field is not a number)",
                         "empty file: no ratings",
                         "no ratings: its only data line was read as a header (its rating field is not a number)"};
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        char name[32], want[4200];
        snprintf(name, sizeof name, "empty%zu.csv", k);
        cf_dataset *ds = (cf_dataset *)1;
        cf_read_report rep;
        cf_error err;
        cr_assert_eq(read_text(name, texts[k], (size_t)-1, NULL, &ds, &rep, &err), CF_ERR_PARSE);
        cr_assert_null(ds);
        snprintf(want, sizeof want, "%s/%s: %s", dir, name, why[k]);
        cr_assert_str_eq(err.msg, want);
    }
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.skip_bad_lines = 1;
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("empty.csv", "", 0, &opt, &ds, &rep, &err), CF_ERR_PARSE, "empty with skip");
    cr_assert(strstr(err.msg, "empty file: no ratings"));
}

Test(read, offending_text_is_escaped_and_cut) {
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("esc.tsv", "1\t2\t3\n1\t2\t\x01" "bad\\\n", (size_t)-1, NULL, &ds, &rep, &err),
                 CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "esc.tsv:2: rating is not a number: 1\\t2\\t\\x01bad\\\\"), "%s", err.msg);
    cr_assert(err.msg[strlen(err.msg) - 1] == '\\', "%s", err.msg);

    char text[400] = "1 2 3\n1 2 ";
    for (int k = 0; k < 200; k++) strcat(text, "y");
    strcat(text, "\n");
    cr_assert_eq(read_text("cut.txt", text, (size_t)-1, NULL, &ds, &rep, &err), CF_ERR_PARSE);
    const char *shown = strstr(err.msg, "number: ");
    cr_assert(shown, "%s", err.msg);
    shown += strlen("number: ");
    cr_assert_eq(strlen(shown), 83, "80 bytes and '...': %s", shown);
    cr_assert_str_eq(shown + 80, "...");
    cr_assert_eq(strncmp(shown, "1 2 yyyy", 8), 0);
}

Test(read, nul_byte_in_id) {
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("nul.tsv", "1\t2\t3\na\0b\t2\t3\n", 15, NULL, &ds, &rep, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "nul.tsv:2: NUL byte in a field: a\\x00b\\t2\\t3"), "%s", err.msg);
}

/* found by fuzz_delim: a NUL inside a quoted comma field went into the ID map, where the
 * NUL-terminated token no longer matched itself */
Test(read, nul_byte_in_quoted_id) {
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("nulq.csv", "1,2,3\n\"a\0b\",2,3\n", 16, NULL, &ds, &rep, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "nulq.csv:2: NUL byte in a field: \"a\\x00b\",2,3"), "%s", err.msg);
    cr_assert_null(ds);
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.skip_bad_lines = 1;
    cr_assert_eq(read_text("nulq.csv", "1,2,3\n\"a\0b\",2,3\n", 16, &opt, &ds, &rep, &err), CF_OK, "%s", err.msg);
    cr_expect_eq(rep.skipped, 1);
    cr_expect_eq(rep.ratings, 1);
    cf_dataset_destroy(&ds);
}

Test(read, unterminated_quote) {
    expect_parse_error("q.csv", "1,2,3\n\"abc,2,3\n", NULL, 2, "unterminated quoted field");
}

Test(read, io_errors) {
    cf_dataset *ds = (cf_dataset *)1;
    cf_read_report rep;
    cf_error err;
    char *path = cf_test_path(dir, "does-not-exist.csv");
    cr_assert_eq(cf_dataset_read(path, NULL, &ds, &rep, &err), CF_ERR_IO);
    cr_assert_null(ds);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert(strstr(err.msg, strerror(ENOENT)), "%s", err.msg);
    free(path);

    cr_assert_eq(cf_dataset_read(dir, NULL, &ds, &rep, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, strerror(EISDIR)), "%s", err.msg);

    if (geteuid() != 0) { /* root reads anything */
        path = cf_test_write(dir, "secret.csv", "1,2,3\n", (size_t)-1);
        chmod(path, 0);
        cr_assert_eq(cf_dataset_read(path, NULL, &ds, &rep, &err), CF_ERR_IO);
        cr_assert(strstr(err.msg, strerror(EACCES)), "%s", err.msg);
        free(path);
    }
}

Test(read, invalid_arguments) {
    cf_dataset *ds;
    cf_error err;
    cr_assert_eq(cf_dataset_read(NULL, NULL, &ds, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "path"));
    cr_assert_eq(cf_dataset_read("x", NULL, NULL, NULL, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_dataset_read_test(NULL, "x", NULL, NULL, &err), CF_ERR_INVALID);
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.max_line = 0;
    char *path = cf_test_write(dir, "ok.txt", "1 2 3\n", (size_t)-1);
    cr_assert_eq(cf_dataset_read(path, &opt, &ds, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "max_line"), "%s", err.msg);
    cf_read_options_default(&opt);
    opt.format = (cf_format)7;
    cr_assert_eq(cf_dataset_read(path, &opt, &ds, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "format"), "%s", err.msg);
    /* NULL report and NULL error are allowed */
    cr_assert_eq(cf_dataset_read(path, NULL, &ds, NULL, NULL), CF_OK);
    cf_dataset_destroy(&ds);
    free(path);
}

/* ------------------------------------------------------------------ Matrix Market errors */

#define BANNER "%%MatrixMarket matrix coordinate real general\n"

Test(read, mm_truncated_body) {
    expect_parse_error("t.mtx", BANNER "% c\n3 3 4\n1 1 1\n2 2 2\n\n", NULL, 6,
                       "truncated body: the size line promises 4 entries, found 2");
    expect_parse_error("t2.mtx", BANNER "3 3 1\n", NULL, 2,
                       "truncated body: the size line promises 1 entries, found 0");
}

Test(read, mm_more_entries_than_nnz) {
    expect_parse_error("x.mtx", BANNER "3 3 2\n1 1 1\n2 2 2\n3 3 3\n", NULL, 5, "more entries than the size line's NNZ (2)");
}

Test(read, mm_index_outside_size_line) {
    expect_parse_error("i.mtx", BANNER "2 3 2\n1 1 1\n3 1 5\n", NULL, 4, "row index '3' outside 1..2");
    expect_parse_error("j.mtx", BANNER "2 3 2\n1 4 1\n1 1 5\n", NULL, 3, "column index '4' outside 1..3");
    expect_parse_error("k.mtx", BANNER "2 3 1\n0 1 1\n", NULL, 3, "row index '0' outside 1..2");
    expect_parse_error("l.mtx", BANNER "2 3 1\n-1 1 1\n", NULL, 3, "row index '-1' outside 1..2");
}

Test(read, mm_bad_entries) {
    expect_parse_error("e1.mtx", BANNER "2 2 1\n1 1\n", NULL, 3, "missing value");
    expect_parse_error("e2.mtx", BANNER "2 2 1\n1\n", NULL, 3, "missing column index");
    expect_parse_error("e3.mtx", BANNER "2 2 1\n1 1 x\n", NULL, 3, "value is not a number");
    expect_parse_error("e4.mtx", BANNER "2 2 1\n1 1 inf\n", NULL, 3, "value is not finite");
    expect_parse_error("e5.mtx", BANNER "2 2 1\n1 1 1 1\n", NULL, 3, "extra field");
    expect_parse_error("e6.mtx", "%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 2.5\n", NULL, 3,
                       "value is not an integer");
}

Test(read, mm_bad_size_line) {
    expect_parse_error("s1.mtx", BANNER "% c\n2 x 3\n", NULL, 3, "bad size line");
    expect_parse_error("s2.mtx", BANNER "2 2\n", NULL, 2, "bad size line");
    expect_parse_error("s3.mtx", BANNER "2 2 1 1\n", NULL, 2, "bad size line");
    expect_parse_error("s4.mtx", BANNER "% only comments\n", NULL, 2, "missing size line");
}

Test(read, mm_bad_banner) {
    struct {
        const char *banner, *reason;
    } cases[] = {
        {"%%MatrixMarket matrix coordinate pattern general", "unsupported Matrix Market field 'pattern'"},
        {"%%MatrixMarket matrix coordinate complex general", "unsupported Matrix Market field 'complex'"},
        {"%%MatrixMarket matrix array real general", "unsupported Matrix Market format 'array'"},
        {"%%MatrixMarket matrix coordinate real symmetric", "unsupported Matrix Market symmetry 'symmetric'"},
        {"%%MatrixMarket matrix coordinate real skew-symmetric", "unsupported Matrix Market symmetry 'skew-symmetric'"},
        {"%%MatrixMarket vector coordinate real general", "unsupported Matrix Market object 'vector'"},
        {"%%MatrixMarket matrix coordinate", "bad Matrix Market banner"},
        {"%%MatrixMarketX matrix coordinate real general", "bad Matrix Market banner"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char text[256], name[32];
        snprintf(text, sizeof text, "%s\n2 2 1\n1 1 1\n", cases[k].banner);
        snprintf(name, sizeof name, "b%zu.mtx", k);
        expect_parse_error(name, text, NULL, 1, cases[k].reason);
    }
}

/* ------------------------------------------------------------------ skip_bad_lines */

Test(read, skip_bad_lines_counts_and_keeps_the_rest) {
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.skip_bad_lines = 1;
    opt.max_line = 40;
    const char *text = "1\t1\t1\n"
                       "2\n"                              /* line 2: missing item */
                       "1\t2\t2\n"
                       "1\t3\tnan\n"                      /* line 4: not finite */
                       "2\t1\t3\n"
                       "2\t2\t4\t0123456789012345678901234567890123456789\n" /* line 6: too long */
                       "3\t1\tfour\n"                     /* line 7: not a number */
                       "3\t3\t5\n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("skip.tsv", text, (size_t)-1, &opt, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "1", 1}, {"1", "2", 2}, {"2", "1", 3}, {"3", "3", 5}};
    expect_triplets(ds, 0, want, 4);
    cr_assert_eq(rep.skipped, 4);
    cr_assert_eq(rep.ratings, 4);
    cr_assert_eq(rep.lines, 8);
    char want_bad[4200];
    snprintf(want_bad, sizeof want_bad, "%s/skip.tsv:2: missing item field", dir);
    cr_assert_eq(strncmp(rep.first_bad, want_bad, sizeof rep.first_bad - 1), 0, "first_bad '%s'", rep.first_bad);
    cf_dataset_destroy(&ds);

    /* Matrix Market entries are skippable too; the skipped ones still count toward NNZ */
    opt.max_line = 100;
    const char *mm = BANNER "2 2 3\n1 1 1\n3 1 2\n2 2 2\n";
    cr_assert_eq(read_text("skip.mtx", mm, (size_t)-1, &opt, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want_mm[] = {{"1", "1", 1}, {"2", "2", 2}};
    expect_triplets(ds, 0, want_mm, 2);
    cr_assert_eq(rep.skipped, 1);
    cr_assert(strstr(rep.first_bad, "skip.mtx:4: row index '3' outside 1..2"), "%s", rep.first_bad);
    cf_dataset_destroy(&ds);
}

Test(read, skip_bad_lines_with_nothing_left_is_an_error) {
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.skip_bad_lines = 1;
    cf_dataset *ds = (cf_dataset *)1;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("allbad.tsv", "1\t2\t3\n1\tnan\n2\n", (size_t)-1, &opt, &ds, &rep, &err), CF_OK);
    cf_dataset_destroy(&ds);
    cr_assert_eq(read_text("allbad2.tsv", "1\t2\tinf\n1\t3\n2\n", (size_t)-1, &opt, &ds, &rep, &err),
                 CF_ERR_PARSE);
    cr_assert_null(ds);
    cr_assert_eq(rep.skipped, 3);
    cr_assert(strstr(err.msg, "no ratings"), "%s", err.msg);
    cr_assert(strstr(err.msg, "allbad2.tsv:1: rating is not finite"), "%s", err.msg);
}

Test(read, structural_mm_errors_are_not_skipped) {
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.skip_bad_lines = 1;
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("s.mtx", BANNER "2 2 3\n1 1 1\n", (size_t)-1, &opt, &ds, &rep, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "truncated body"), "%s", err.msg);
    cr_assert_eq(read_text("p.mtx", "%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1\n", (size_t)-1,
                           &opt, &ds, &rep, &err),
                 CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "'pattern'"), "%s", err.msg);
}

/* ------------------------------------------------------------------ duplicates */

Test(read, duplicates_keep_the_last_rating) {
    /* users not in nondecreasing order (the general dedup path) */
    const char *text = "1 1 1\n"
                       "2 1 4\n"
                       "1 2 2\n"
                       "1 1 3\n"
                       "2 1 4.5\n"
                       "1 1 5\n";
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("dup.txt", text, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want[] = {{"1", "1", 5}, {"1", "2", 2}, {"2", "1", 4.5f}};
    expect_triplets(ds, 0, want, 3);
    cr_assert_eq(rep.duplicates, 3);
    cr_assert_eq(rep.ratings, 3);
    cf_dataset_destroy(&ds);

    /* grouped by user (the fast path) */
    const char *grouped = "1 1 1\n1 2 2\n1 1 3\n1 1 5\n2 1 4\n2 1 4.5\n3 9 1\n";
    cr_assert_eq(read_text("dup2.txt", grouped, (size_t)-1, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    trip want2[] = {{"1", "1", 5}, {"1", "2", 2}, {"2", "1", 4.5f}, {"3", "9", 1}};
    expect_triplets(ds, 0, want2, 4);
    cr_assert_eq(rep.duplicates, 3);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ read_test */

Test(read, read_test_maps_ids_through_the_training_maps) {
    cf_dataset *ds;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("train.tsv", "a\tx\t1\na\ty\t2\nb\tx\t3\n", (size_t)-1, NULL, &ds, &rep, &err), CF_OK,
                 "%s", err.msg);
    char *test = cf_test_write(dir, "test.tsv", "a\ty\t4\nc\tx\t5\nb\tz\t2\nc\tq\t1\nb\ty\t3\nb\ty\t3.5\n", (size_t)-1);
    cr_assert_eq(cf_dataset_read_test(ds, test, NULL, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.ratings, 5);
    cr_assert_eq(rep.duplicates, 1);
    trip train[] = {{"a", "x", 1}, {"a", "y", 2}, {"b", "x", 3}};
    trip tst[] = {{"a", "y", 4}, {"c", "x", 5}, {"b", "z", 2}, {"c", "q", 1}, {"b", "y", 3.5f}};
    expect_triplets(ds, 0, train, 3);
    expect_triplets(ds, 1, tst, 5);
    /* the shared IDs map to the training indices */
    cr_assert_eq(cf_idmap_find(ds->users, "a", 1), 0);
    cr_assert_eq(cf_idmap_find(ds->items, "y", 1), 1);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_users, 3);
    cr_assert_eq(info.n_items, 4);
    cr_assert_eq(info.n_train, 3);
    cr_assert_eq(info.n_test, 5);
    cr_assert_eq(info.test_unseen, 3, "c x, b z, c q");
    free(test);

    /* a failing test file leaves the ratings as they were (lines 1-2 were read first) */
    test = cf_test_write(dir, "bad.tsv", "a\tx\t2\nd\tx\t1\nd\n", (size_t)-1);
    cr_assert_eq(cf_dataset_read_test(ds, test, NULL, &rep, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "bad.tsv:3: missing item field"), "%s", err.msg);
    expect_triplets(ds, 0, train, 3);
    expect_triplets(ds, 1, tst, 5);
    free(test);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ robustness */

/* Mutated fixtures (bytes flipped, cut, spliced): every read ends in OK or a parse error
 * with a "file:line:" or "file:" message, and a successful read holds finite ratings. */
Test(read, mutated_files_fail_cleanly) {
    const char *seeds[] = {"userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n\"a\",\"b,c\",3\n",
                           "1::1193::5::978300760\n2::661::3::978302109\n",
                           "%%MatrixMarket matrix coordinate real general\n% c\n3 3 2\n1 2 3.5\n3 3 1e1\n",
                           "196\t242\t3\t881250949\r\n186\t302\t3\t891717742\r\n"};
    const char alphabet[] = "0123456789.,:\t \n\r\"%#eE+-naif\x00\xff";
    uint64_t st = 7;
    for (int k = 0; k < 400; k++) {
        const char *seed = seeds[k % 4];
        char buf[256];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int edits = 1 + (int)(cf_splitmix64(&st) % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)(cf_splitmix64(&st) % len);
            switch (cf_splitmix64(&st) % 3) {
            case 0: buf[at] = alphabet[cf_splitmix64(&st) % (sizeof alphabet - 1)]; break;
            case 1: len = at + 1; break; /* cut */
            default: /* duplicate a span */
                if (len + 20 < sizeof buf) {
                    memmove(buf + at + 20, buf + at, len - at);
                    len += 20;
                }
            }
        }
        cf_read_options opt;
        cf_read_options_default(&opt);
        opt.skip_bad_lines = k & 1;
        char name[32];
        snprintf(name, sizeof name, "m%d", k);
        cf_dataset *ds;
        cf_read_report rep;
        cf_error err;
        cf_status s = read_text(name, buf, len, &opt, &ds, &rep, &err);
        cr_assert(s == CF_OK || s == CF_ERR_PARSE, "case %d: %s: %s", k, cf_status_name(s), err.msg);
        if (s == CF_OK) {
            cr_assert(rep.ratings > 0 && rep.ratings == ds->all.n);
            for (int64_t j = 0; j < ds->all.n; j++) cr_assert(isfinite(ds->all.r[j]));
            cf_dataset_destroy(&ds);
        } else {
            char where[64];
            snprintf(where, sizeof where, "/%s:", name);
            cr_assert(strstr(err.msg, where), "case %d: %s", k, err.msg);
            cr_assert_null(ds);
        }
    }
}

/* ------------------------------------------------------------------ number parser */

static float parse_ok(const char *s) {
    float v = -12345.0f;
    int st = cf_parse_float(s, strlen(s), &v);
    cr_assert_eq(st, CF_NUM_OK, "'%s': status %d", s, st);
    return v;
}

Test(read, number_parser_matches_strtof) {
    const char *exact[] = {"0",      "1",     "5",      "-3",    "+2",     "3.5",      "0.1",     "4.25",
                           "-0.5",   "1e3",   "1E-2",   "2.5e+1", ".5",    "5.",       "0.0001",  "123456789",
                           "3.14159265358979", "1e-30", "3.4e38", "-1.17549435e-38", "1e-45", "7e-46",
                           "0000012.50000", "99999999999999999999999", "0.000000000000000000000000000012345",
                           "16777217", "16777219", "0.30000001192092896"};
    for (size_t k = 0; k < sizeof exact / sizeof *exact; k++) {
        float want = strtof(exact[k], NULL);
        float got = parse_ok(exact[k]);
        cr_assert_eq(got, want, "'%s': %.9g, strtof %.9g", exact[k], (double)got, (double)want);
    }
    cr_assert(signbit(parse_ok("-0")), "-0 keeps its sign");

    /* up to 7 significant digits and |exponent| ≤ 10 (all real ratings): exactly strtof */
    uint64_t st7 = 5;
    for (int k = 0; k < 20000; k++) {
        char s[64];
        uint64_t m = cf_splitmix64(&st7) % 10000000;
        int ex = (int)(cf_splitmix64(&st7) % 21) - 10;
        snprintf(s, sizeof s, "%llue%d", (unsigned long long)m, ex);
        float want = strtof(s, NULL), got = parse_ok(s);
        cr_assert_eq(got, want, "'%s': %.9g, strtof %.9g", s, (double)got, (double)want);
    }

    /* random decimals: equal to strtof, or one float ulp away at most (double rounding) */
    uint64_t st = 12345;
    int off = 0;
    for (int k = 0; k < 20000; k++) {
        char s[64];
        uint64_t a = cf_splitmix64(&st), b = cf_splitmix64(&st);
        int digits = 1 + (int)(a % 12), point = (int)(b % 14), ex = (int)((a >> 20) % 81) - 40;
        int n = 0;
        if (b & 0x100) s[n++] = '-';
        for (int d = 0; d < digits; d++) {
            if (d == point) s[n++] = '.';
            s[n++] = (char)('0' + (cf_splitmix64(&st) % 10));
        }
        if (b & 0x200) n += sprintf(s + n, "e%d", ex);
        s[n] = '\0';
        float want = strtof(s, NULL), got;
        if (isinf(want)) { /* beyond the float range */
            cr_assert_eq(cf_parse_float(s, (size_t)n, &got), CF_NUM_NONFINITE, "'%s'", s);
            continue;
        }
        got = parse_ok(s);
        if (got != want) {
            off++;
            cr_assert(got == nextafterf(want, INFINITY) || got == nextafterf(want, -INFINITY),
                      "'%s': %.9g, strtof %.9g", s, (double)got, (double)want);
        }
    }
    cr_assert_lt(off, 20, "%d of 20000 one ulp off", off);
}

Test(read, number_parser_rejects) {
    const char *syntax[] = {"",    "+",    "-",   ".",   "1.2.3", "1e",  "1e+", "e5",   "0x10", "1,5",
                            "12a", " 1",   "1 ",  "--1", "1e5.5", "nanx", "in",  "abc", "1_000", "\xc2\xbd"};
    for (size_t k = 0; k < sizeof syntax / sizeof *syntax; k++) {
        float v;
        cr_assert_eq(cf_parse_float(syntax[k], strlen(syntax[k]), &v), CF_NUM_SYNTAX, "'%s'", syntax[k]);
    }
    const char *nonfinite[] = {"nan", "NAN", "-nan", "inf", "+INF", "infinity", "-Infinity", "1e39", "1e999",
                               "-1e100000000000", "3.5e38"};
    for (size_t k = 0; k < sizeof nonfinite / sizeof *nonfinite; k++) {
        float v;
        cr_assert_eq(cf_parse_float(nonfinite[k], strlen(nonfinite[k]), &v), CF_NUM_NONFINITE, "'%s'",
                     nonfinite[k]);
    }
    /* the length bounds the field: "3.5" followed by other bytes in memory */
    float v;
    cr_assert_eq(cf_parse_float("3.5\t1260759144", 3, &v), CF_NUM_OK);
    cr_assert_eq(v, 3.5f);
    cr_assert_eq(parse_ok("1e-99999"), 0.0f);
}

/* ------------------------------------------------------------------ huge and long IDs */

/* "<user>\t7\t4\n" with a user ID of `n` bytes 'a'..'z' repeating; returns the text. */
static char *line_with_id(size_t n, int item_side) {
    char *t = malloc(n + 16);
    cr_assert_not_null(t);
    size_t o = 0;
    if (item_side) memcpy(t, "7\t", 2), o = 2;
    for (size_t k = 0; k < n; k++) t[o++] = (char)('a' + k % 26);
    memcpy(t + o, item_side ? "\t4\n" : "\t7\t4\n", item_side ? 4 : 6);
    return t;
}

/* The default max_line is 65536 bytes. A line of exactly that many (the user ID takes
 * 65532 of them) is read, the ID whole; an ID of exactly the limit, or one byte more,
 * makes the line too long: the error names the file, the line and the field. */
Test(read, id_of_the_line_limit_and_one_over) {
    cf_read_options opt;
    cf_read_options_default(&opt);
    cr_assert_eq(opt.max_line, 65536u);
    char *ok = line_with_id(65532, 0); /* 65532 + "\t7\t4" = 65536 bytes before the '\n' */
    cr_assert_eq(strlen(ok), 65537u);
    cf_dataset *ds = NULL;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(read_text("ok.tsv", ok, (size_t)-1, &opt, &ds, &rep, &err), CF_OK, "%s", err.msg);
    size_t len = 0;
    const char *name = cf_idmap_name(ds->users, 0, &len);
    cr_assert_eq(len, 65532u);
    cr_assert_eq(memcmp(name, ok, len), 0);
    cf_dataset_destroy(&ds);
    free(ok);

    /* one byte over in the line (the rating crosses), the ID exactly the limit, one over;
     * each after a good line, so the error is on line 2; then an item ID, on line 1 */
    static const struct {
        size_t id_len;
        int item_side;
        const char *want;
    } cases[] = {
        {65533, 0, "line longer than max_line (65536 bytes, this one 65537): its longest field is the user ID (65533 "
                   "bytes)"},
        {65536, 0, "line longer than max_line (65536 bytes, this one 65540): its longest field is the user ID (65536 "
                   "bytes)"},
        {65537, 0, "line longer than max_line (65536 bytes, this one 65541): its longest field is the user ID (65537 "
                   "bytes)"},
        {65537, 1, "line longer than max_line (65536 bytes, this one 65541): its longest field is the item ID (65537 "
                   "bytes)"},
    };
    for (int k = 0; k < 4; k++) {
        char *bad = line_with_id(cases[k].id_len, cases[k].item_side);
        size_t n = strlen(bad);
        char *text = malloc(n + 16);
        memcpy(text, "u\t7\t4\n", 6);
        memcpy(text + 6, bad, n + 1);
        char name2[32];
        snprintf(name2, sizeof name2, "long%d.tsv", k);
        expect_parse_error(name2, cases[k].item_side ? bad : text, &opt, cases[k].item_side ? 1 : 2, cases[k].want);
        free(text), free(bad);
    }

    /* with max_line raised, cf_idmap's own limit of 65535 bytes per ID speaks */
    opt.max_line = 1 << 20;
    char *max_id = line_with_id(65535, 0);
    cr_assert_eq(read_text("max.tsv", max_id, (size_t)-1, &opt, &ds, &rep, &err), CF_OK, "%s", err.msg);
    cf_idmap_name(ds->users, 0, &len);
    cr_assert_eq(len, 65535u);
    cf_dataset_destroy(&ds);
    free(max_id);
    char *over = line_with_id(65536, 0);
    expect_parse_error("over.tsv", over, &opt, 1, "user ID longer than 65535 bytes (65536)");
    free(over);
    over = line_with_id(65536, 1);
    expect_parse_error("over_item.tsv", over, &opt, 1, "item ID longer than 65535 bytes (65536)");
    free(over);
}

/* Numeric IDs at and past the 64-bit limits are opaque tokens in every delimited format:
 * each maps to its own index, spelled byte for byte as in the file (no number is parsed,
 * so nothing overflows or wraps: "18446744073709551616" is not "0", "0018..." is not
 * "18..."). */
static const char *const huge_ids[] = {
    "9223372036854775807",  "9223372036854775808",  "18446744073709551615", "18446744073709551616",
    "-9223372036854775808", "-9223372036854775809", "99999999999999999999999999999999999999999",
    "018446744073709551616", "1e19",                "0",
};
#define N_HUGE (sizeof huge_ids / sizeof *huge_ids)

Test(read, huge_numeric_ids_are_opaque_tokens) {
    static const struct {
        const char *name, *sep, *header;
    } fmts[] = {
        {"ratings.dat", "::", ""},                          /* MovieLens 1M */
        {"u.data", "\t", ""},                               /* MovieLens 100K */
        {"ratings.csv", ",", "userId,movieId,rating,timestamp\n"}, /* MovieLens 20M, CSV */
        {"libmf.txt", " ", ""},                             /* LIBMF */
    };
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++) {
        char text[4096];
        size_t o = (size_t)snprintf(text, sizeof text, "%s", fmts[f].header);
        /* user huge_ids[k] rates item huge_ids[N-1-k] with k % 5 + 1 stars */
        for (size_t k = 0; k < N_HUGE; k++)
            o += (size_t)snprintf(text + o, sizeof text - o, "%s%s%s%s%zu%s\n", huge_ids[k], fmts[f].sep,
                                  huge_ids[N_HUGE - 1 - k], fmts[f].sep, k % 5 + 1,
                                  fmts[f].header[0] ? ",978300760" : "");
        cf_dataset *ds = NULL;
        cf_read_report rep;
        cf_error err;
        cr_assert_eq(read_text(fmts[f].name, text, o, NULL, &ds, &rep, &err), CF_OK, "%s: %s", fmts[f].name, err.msg);
        cr_assert_str_eq(rep.delimiter, fmts[f].sep, "%s", fmts[f].name);
        cr_assert_eq(cf_idmap_size(ds->users), (int64_t)N_HUGE, "%s", fmts[f].name);
        cr_assert_eq(cf_idmap_size(ds->items), (int64_t)N_HUGE, "%s", fmts[f].name);
        trip want[N_HUGE];
        for (size_t k = 0; k < N_HUGE; k++) {
            want[k] = (trip){huge_ids[k], huge_ids[N_HUGE - 1 - k], (float)(k % 5 + 1)};
            int64_t u = cf_idmap_find(ds->users, huge_ids[k], strlen(huge_ids[k]));
            cr_assert_eq(u, (int64_t)k, "%s: user %s has index %lld", fmts[f].name, huge_ids[k], (long long)u);
        }
        expect_triplets(ds, 0, want, (int64_t)N_HUGE);
        cf_dataset_destroy(&ds);
    }
}

/* Matrix Market IDs are indices, checked against the size line: past 2^63 or 2^64 they
 * are an error naming the file, the line and the index (never a wrap to a small one). */
Test(read, mm_huge_indices_are_errors) {
    expect_parse_error("h1.mtx", BANNER "2 2 1\n18446744073709551617 1 1\n", NULL, 3,
                       "row index '18446744073709551617' outside 1..2");
    expect_parse_error("h2.mtx", BANNER "2 2 1\n1 9223372036854775809 1\n", NULL, 3,
                       "column index '9223372036854775809' outside 1..2");
    expect_parse_error("h3.mtx", BANNER "2 2 1\n1 18446744073709551616 1\n", NULL, 3,
                       "column index '18446744073709551616' outside 1..2");
}

/* A million distinct IDs (20-digit numbers near 2^64, and "u<k>") survive a model save
 * and load: same count, every index spelled the same and found again. */
Test(read, million_ids_round_trip_through_the_model_file, .timeout = 60) {
    const int64_t nu = 1000000, ni = 1000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cf_idmap *users = cf_idmap_create(), *items = cf_idmap_create();
    cr_assert(users && items);
    char tok[32];
    uint32_t idx;
    int added;
    for (int64_t u = 0; u < nu; u++) {
        int len = u % 2 ? snprintf(tok, sizeof tok, "%llu", 18446744073709551615ULL - (unsigned long long)u * 7919)
                        : snprintf(tok, sizeof tok, "u%lld", (long long)u);
        cr_assert_eq(cf_idmap_intern(users, tok, (size_t)len, &idx, &added), 0);
        cr_assert(added && idx == (uint32_t)u, "%s", tok);
    }
    for (int64_t i = 0; i < ni; i++) {
        int len = snprintf(tok, sizeof tok, "%llu", 9223372036854775808ULL + (unsigned long long)i);
        cr_assert_eq(cf_idmap_intern(items, tok, (size_t)len, &idx, &added), 0);
    }
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, nu, ni, 2, 1, &err), CF_OK, "%s", err.msg);
    for (int64_t j = 0; j < nu * 2; j++) f.P[j] = (double)j;
    for (int64_t j = 0; j < ni * 2; j++) f.Q[j] = -(double)j;
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = 2;
    cf_model *m = cf_model_wrap(&f, users, items, &cfg);
    cr_assert_not_null(m);
    char *path = cf_test_path(dir, "million.cfm");
    cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
    cf_model *back = NULL;
    cr_assert_eq(cf_model_load(path, &back, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_idmap_size(back->users), nu);
    cr_assert_eq(cf_idmap_size(back->items), ni);
    for (int64_t u = 0; u < nu; u++) {
        size_t la, lb;
        const char *a = cf_idmap_name(m->users, (uint32_t)u, &la), *b = cf_idmap_name(back->users, (uint32_t)u, &lb);
        cr_assert(la == lb && memcmp(a, b, la) == 0, "user %lld: '%s' came back as '%s'", (long long)u, a, b);
        cr_assert_eq(cf_idmap_find(back->users, a, la), u, "user %s", a);
        cr_assert_eq(back->f.P[2 * u + 1], (double)(2 * u + 1));
    }
    for (int64_t i = 0; i < ni; i++) {
        size_t la;
        const char *a = cf_idmap_name(m->items, (uint32_t)i, &la);
        cr_assert_eq(cf_idmap_find(back->items, a, la), i, "item %s", a);
    }
    /* a prediction by the user's own ID: μ + b_u + b_i + p_u·q_i, by the numbers above */
    double r;
    snprintf(tok, sizeof tok, "%llu", 18446744073709551615ULL - 7919); /* user 1 */
    cr_assert_eq(cf_model_predict(back, tok, "9223372036854775809", &r, &err), CF_OK, "%s", err.msg);
    cr_assert_float_eq(r, back->f.mu + back->f.bu[1] + back->f.bi[1] + 2.0 * -2.0 + 3.0 * -3.0, 1e-9);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_log_info("a million IDs: build, save, load, check in %.2f s",
                (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    cf_model_destroy(&back);
    cf_model_destroy(&m);
    free(path);
}
