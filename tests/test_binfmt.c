/*
 * test_binfmt.c — the binary dataset format (src/binfmt.c) and `cufactor convert`:
 * a text file and its binary form load to the same dataset (ratings in order, both ID
 * maps in order), also as the test part of a dataset with IDs of its own; a truncated
 * file (every length), a bad magic, a bad version, a damaged header, a damaged payload
 * (checksum), out-of-range indices and unsorted ratings each give CF_ERR_PARSE naming
 * the file and the problem, never a crash, and add no ratings; every single-byte
 * change of a small file is caught; convert writes atomically and train on the binary
 * file saves the same model as on the text file.
 */
#include <criterion/criterion.h>

#include "binfmt.h"
#include "common.h"
#include "cufactor.h"
#include "dataset.h"
#include "hash64.h"
#include "helpers.h"
#include "idmap.h"
#include "read.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

CF_TEST_SUITE_WITH_TMPDIR(binfmt, 300);

static const char *text =
    "userId,movieId,rating,timestamp\n"
    "u1,\"The Item\",4.5,1\n"
    "u2,i2,3,2\n"
    "u1,i2,2,3\n"
    "zz,i9,1.25,4\n"
    "u2,i2,5,5\n" /* a duplicate: the last one is kept */
    "u3,\"The Item\",0.5,6\n";

static cf_dataset *read_ok(const char *path) {
    cf_dataset *ds = NULL;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(cf_dataset_read(path, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    return ds;
}

static void same_dataset(const cf_dataset *a, const cf_dataset *b) {
    cr_assert_eq(a->all.n, b->all.n);
    cr_assert_eq(memcmp(a->all.u, b->all.u, (size_t)a->all.n * 4), 0);
    cr_assert_eq(memcmp(a->all.i, b->all.i, (size_t)a->all.n * 4), 0);
    cr_assert_eq(memcmp(a->all.r, b->all.r, (size_t)a->all.n * 4), 0);
    cr_assert_eq(memcmp(a->is_test, b->is_test, (size_t)a->all.n), 0);
    for (int m = 0; m < 2; m++) {
        const cf_idmap *x = m ? a->items : a->users, *y = m ? b->items : b->users;
        cr_assert_eq(cf_idmap_size(x), cf_idmap_size(y));
        for (int64_t k = 0; k < cf_idmap_size(x); k++)
            cr_assert_str_eq(cf_idmap_name(x, (uint32_t)k, NULL), cf_idmap_name(y, (uint32_t)k, NULL));
    }
}

/* text → dir/d.csv → dir/d.cfd; returns the binary's path and its bytes in *bytes. */
static char *make_binary(char **bytes, size_t *len) {
    char *csv = cf_test_write(dir, "d.csv", text, (size_t)-1), *bin = cf_test_path(dir, "d.cfd");
    cf_dataset *ds = read_ok(csv);
    cf_error err;
    cr_assert_eq(cf_dataset_write_binary(ds, bin, 2, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    free(csv);
    if (bytes) *bytes = cf_test_read(bin, len);
    return bin;
}

Test(binfmt, round_trip_is_the_same_dataset) {
    char *csv = cf_test_write(dir, "d.csv", text, (size_t)-1);
    char *bin = make_binary(NULL, NULL);
    cf_dataset *a = read_ok(csv), *b = NULL;
    cf_read_report rep;
    cf_error err;
    for (int threads = 1; threads <= 3; threads++) {
        cf_read_options o;
        cf_read_options_default(&o);
        o.threads = threads;
        cr_assert_eq(cf_dataset_read(bin, &o, &b, &rep, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(rep.format, CF_FORMAT_BINARY);
        cr_assert_eq(rep.ratings, 5);
        same_dataset(a, b);
        cf_dataset_destroy(&b);
    }
    /* a forced text format reads the bytes as text (and fails: they are not text) */
    cf_read_options o;
    cf_read_options_default(&o);
    o.format = CF_FORMAT_DELIM;
    cr_assert_neq(cf_dataset_read(bin, &o, &b, &rep, &err), CF_OK);
    cf_dataset_destroy(&a);
    free(csv);
    free(bin);
}

Test(binfmt, test_part_maps_ids_through_the_training_maps) {
    char *bin = make_binary(NULL, NULL);
    char *csv = cf_test_write(dir, "d.csv", text, (size_t)-1);
    const char *train = "zz\tother\t3\nnew\ti2\t4\n";
    char *tr = cf_test_write(dir, "train.tsv", train, (size_t)-1);
    cf_dataset *a = read_ok(tr), *b = read_ok(tr);
    cf_error err;
    cr_assert_eq(cf_dataset_read_test(a, csv, NULL, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_read_test(b, bin, NULL, NULL, &err), CF_OK, "%s", err.msg);
    /* the same maps (IDs in first-seen order) and the same ratings (the text reader sorts
     * the appended range by the dataset's indices, the binary keeps the file's order) */
    cr_assert_eq(a->all.n, b->all.n);
    for (int m = 0; m < 2; m++) {
        const cf_idmap *x = m ? a->items : a->users, *y = m ? b->items : b->users;
        cr_assert_eq(cf_idmap_size(x), cf_idmap_size(y));
        for (int64_t k = 0; k < cf_idmap_size(x); k++)
            cr_assert_str_eq(cf_idmap_name(x, (uint32_t)k, NULL), cf_idmap_name(y, (uint32_t)k, NULL));
    }
    for (int64_t k = 0; k < a->all.n; k++) {
        int found = 0;
        for (int64_t j = 0; j < b->all.n; j++)
            found += a->all.u[k] == b->all.u[j] && a->all.i[k] == b->all.i[j] && a->all.r[k] == b->all.r[j] &&
                     a->is_test[k] == b->is_test[j];
        cr_assert_eq(found, 1, "rating %lld found %d times in the binary's dataset", (long long)k, found);
    }
    cf_dataset_destroy(&a);
    cf_dataset_destroy(&b);
    free(bin), free(csv), free(tr);
}

/* Loads `bytes` as file `name`; expects CF_ERR_PARSE whose message starts with the path
 * and contains `want` (NULL: any), and no dataset. */
static void expect_bad(const char *name, const char *bytes, size_t len, const char *want) {
    char *path = cf_test_write(dir, name, bytes, len);
    cf_dataset *ds = NULL;
    cf_read_report rep;
    cf_error err;
    cf_status st = cf_dataset_read(path, NULL, &ds, &rep, &err);
    cr_assert_eq(st, CF_ERR_PARSE, "%s (%zu bytes): %s: %s", name, len, cf_status_name(st), err.msg);
    cr_assert_null(ds);
    cr_assert_eq(strncmp(err.msg, path, strlen(path)), 0, "message '%s' does not start with the path", err.msg);
    if (want) cr_assert(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
    /* into the test part of a dataset: nothing added */
    cf_dataset *t = cf_dataset_create();
    cr_assert_eq(cf_read_memory(t, 0, "seed", "a\tb\t1\n", 6, NULL, NULL, &err), CF_OK);
    cr_assert_eq(cf_dataset_read_test(t, path, NULL, NULL, &err), CF_ERR_PARSE);
    cr_assert_eq(t->all.n, 1);
    cf_dataset_destroy(&t);
    free(path);
}

Test(binfmt, truncated_at_every_length) {
    char *bytes;
    size_t len;
    char *bin = make_binary(&bytes, &len);
    cr_assert_gt(len, CF_BIN_HEADER);
    for (size_t cut = CF_BIN_MAGIC_LEN; cut < len; cut++)
        expect_bad("cut.cfd", bytes, cut, cut < CF_BIN_HEADER ? "shorter than its 80-byte header" : "truncated");
    free(bytes);
    free(bin);
}

static void put32(char *p, uint32_t v) {
    for (int k = 0; k < 4; k++) p[k] = (char)(v >> (8 * k));
}

Test(binfmt, bad_magic_version_header_and_checksum) {
    char *bytes;
    size_t len;
    char *bin = make_binary(&bytes, &len);
    char *b = malloc(len);
    memcpy(b, bytes, len);
    b[0] = 'X'; /* no magic: read as text, which this is not */
    expect_bad("magic.cfd", b, len, NULL);
    memcpy(b, bytes, len);
    put32(b + 8, 3);
    expect_bad("version.cfd", b, len, "version 3; this cufactor reads versions 1 and 2");
    memcpy(b, bytes, len);
    put32(b + 8, 2); /* a version-1 header read as version 2: its checksum is elsewhere */
    expect_bad("version2.cfd", b, len, "header checksum mismatch");
    memcpy(b, bytes, len);
    b[20] ^= 1; /* the rating count */
    expect_bad("header.cfd", b, len, "header checksum mismatch");
    memcpy(b, bytes, len);
    b[len - 2] ^= 0x20; /* a letter of the last item name */
    expect_bad("payload.cfd", b, len, "checksum mismatch");
    memcpy(b, bytes, len);
    b[CF_BIN_HEADER + 3] ^= 1; /* a user index */
    expect_bad("index.cfd", b, len, "checksum mismatch");
    free(b);
    free(bytes);
    free(bin);
}

/* Files that pass the checksum but hold an impossible dataset, written by cf_bin_write
 * from a dataset doctored in memory. */
Test(binfmt, checked_contents_behind_a_valid_checksum) {
    char *csv = cf_test_write(dir, "d.csv", text, (size_t)-1), *bad = cf_test_path(dir, "bad.cfd");
    cf_error err;
    cf_dataset *ds = read_ok(csv);
    ds->all.u[ds->all.n - 1] = 77; /* past the 3 users, still sorted */
    cr_assert_eq(cf_dataset_write_binary(ds, bad, 1, &err), CF_OK, "%s", err.msg);
    size_t len;
    char *b = cf_test_read(bad, &len);
    expect_bad("range.cfd", b, len, "user index out of range");
    free(b);
    cf_dataset_destroy(&ds);
    ds = read_ok(csv);
    ds->all.r[1] = 0.0f / 0.0f;
    cr_assert_eq(cf_dataset_write_binary(ds, bad, 1, &err), CF_OK, "%s", err.msg);
    b = cf_test_read(bad, &len);
    expect_bad("nan.cfd", b, len, "rating not finite");
    free(b);
    /* a device or a directory is never replaced */
    char *fifo = cf_test_path(dir, "fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(cf_dataset_write_binary(ds, fifo, 1, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
    struct stat sb;
    cr_assert(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced");
    free(fifo);
    cr_assert_eq(cf_dataset_write_binary(ds, dir, 1, &err), CF_ERR_IO);
    /* unsorted ratings are refused by the writer */
    uint32_t t = ds->all.u[0];
    ds->all.u[0] = ds->all.u[ds->all.n - 1], ds->all.u[ds->all.n - 1] = t;
    cr_assert_eq(cf_dataset_write_binary(ds, bad, 1, &err), CF_ERR_INVALID);
    cf_dataset_destroy(&ds);
    free(csv), free(bad);
}

/* Version 2 (unsorted, the writer's order kept): loads through cf_bin_load in that
 * order; an unknown flag bit behind a valid header checksum is refused by name. */
Test(binfmt, version_2_keeps_the_order_and_refuses_unknown_flags) {
    char *csv = cf_test_write(dir, "d2.csv", text, (size_t)-1), *v2 = cf_test_path(dir, "v2.cfd");
    cf_error err;
    cf_dataset *ds = read_ok(csv);
    cr_assert_geq(ds->all.n, 2);
    uint32_t tu = ds->all.u[0], ti = ds->all.i[0];
    float tr = ds->all.r[0];
    int64_t last = ds->all.n - 1;
    ds->all.u[0] = ds->all.u[last], ds->all.i[0] = ds->all.i[last], ds->all.r[0] = ds->all.r[last];
    ds->all.u[last] = tu, ds->all.i[last] = ti, ds->all.r[last] = tr;
    cr_assert_eq(cf_bin_write_ordered(ds, v2, 1, 1, &err), CF_OK, "%s", err.msg);
    size_t len;
    char *b = cf_test_read(v2, &len);
    cr_assert(len > CF_BIN_HEADER2 && b[8] == 2);
    for (int threads = 1; threads <= 3; threads++) {
        cf_dataset *got = cf_dataset_create();
        cf_read_report rep;
        int sorted = -1;
        cr_assert_eq(cf_bin_load(got, 0, "v2.cfd", b, len, threads, &rep, &sorted, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(sorted, 0);
        cr_assert_eq(got->all.n, ds->all.n);
        cr_assert(!memcmp(got->all.u, ds->all.u, 4 * (size_t)ds->all.n) &&
                  !memcmp(got->all.i, ds->all.i, 4 * (size_t)ds->all.n) &&
                  !memcmp(got->all.r, ds->all.r, 4 * (size_t)ds->all.n), "%d threads: not the writer's order", threads);
        cf_dataset_destroy(&got);
    }
    b[72] |= 4; /* an unknown flag, the header checksum made valid again */
    cf_hash64 h;
    cf_hash64_init(&h);
    cf_hash64_update(&h, b, 80);
    uint64_t sum = cf_hash64_final(&h);
    for (int k = 0; k < 8; k++) b[80 + k] = (char)(sum >> (8 * k));
    expect_bad("flags.cfd", b, len, "flags 5 this cufactor does not know");
    free(b);
    cf_dataset_destroy(&ds);
    free(csv), free(v2);
}

/* Every byte of a small file changed in turn (three ways): an error naming the file or,
 * never, a different dataset that loads; no crash (the sanitizer build checks reads). */
Test(binfmt, every_single_byte_change_is_caught) {
    char *bytes;
    size_t len;
    char *bin = make_binary(&bytes, &len);
    char *b = malloc(len);
    static const unsigned char flips[] = {0x01, 0x80, 0xff};
    for (size_t at = 0; at < len; at++)
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(b, bytes, len);
            b[at] = (char)(b[at] ^ flips[f]);
            cf_dataset *ds = cf_dataset_create();
            cf_error err;
            cf_status st = cf_read_memory(ds, 0, "mut.cfd", b, len, NULL, NULL, &err);
            cr_assert_neq(st, CF_OK, "byte %zu ^ %02x loaded", at, flips[f]);
            cr_assert_eq(strncmp(err.msg, "mut.cfd", 7), 0, "byte %zu: message '%s'", at, err.msg);
            cr_assert_eq(ds->all.n, 0);
            cf_dataset_destroy(&ds);
        }
    free(b);
    free(bytes);
    free(bin);
}

static int run_cli(const char *const *argv, char **out, char **errs) { return cf_test_spawn(dir, argv, out, errs); }

Test(binfmt, cli_convert_then_train_and_eval_give_the_text_results) {
    char *csv = cf_test_write(dir, "d.csv", text, (size_t)-1);
    char *bin = cf_test_path(dir, "d.cfd");
    char *out = NULL, *errs = NULL;
    const char *conv[] = {CF_CLI_PATH, "convert", csv, bin, NULL};
    cr_assert_eq(run_cli(conv, &out, &errs), 0, "%s", errs);
    cr_assert(strstr(errs, "wrote"), "%s", errs);
    cr_assert_eq(cf_test_count_entries(dir, ".tmp"), 0, "a temporary file was left");
    free(out), free(errs);
    char *ma = cf_test_path(dir, "a.cfm"), *mb = cf_test_path(dir, "b.cfm");
    const char *ta[] = {CF_CLI_PATH, "train", csv, "--iters", "2", "--factors", "2", "--test-ratio", "0",
                        "--model", ma, "--quiet", NULL};
    const char *tb[] = {CF_CLI_PATH, "train", bin, "--iters", "2", "--factors", "2", "--test-ratio", "0",
                        "--model", mb, "--quiet", NULL};
    cr_assert_eq(run_cli(ta, &out, &errs), 0, "%s", errs);
    free(out), free(errs);
    cr_assert_eq(run_cli(tb, &out, &errs), 0, "%s", errs);
    free(out), free(errs);
    size_t la, lb;
    char *a = cf_test_read(ma, &la), *b = cf_test_read(mb, &lb);
    cr_assert(a && b && la == lb && memcmp(a, b, la) == 0, "the models differ");
    free(a), free(b);
    const char *ea[] = {CF_CLI_PATH, "eval", ma, csv, "--json", NULL}, *eb[] = {CF_CLI_PATH, "eval", ma, bin, "--json", NULL};
    char *oa, *ob;
    cr_assert_eq(run_cli(ea, &oa, &errs), 0, "%s", errs);
    free(errs);
    cr_assert_eq(run_cli(eb, &ob, &errs), 0, "%s", errs);
    free(errs);
    /* the same numbers; only the "data" path differs */
    cr_assert_str_eq(strstr(oa, "\"rmse\""), strstr(ob, "\"rmse\""));
    free(oa), free(ob);
    /* the phase times: every phase present, non-negative, the library's within its total */
    const char *tj[] = {CF_CLI_PATH, "train", bin, "--iters", "2", "--factors", "2", "--json", "--quiet", "--model", mb, NULL};
    cr_assert_eq(run_cli(tj, &out, &errs), 0, "%s", errs);
    double total = -1, ph[6];
    const char *names[6] = {"read", "prepare", "upload", "iterations", "evaluation", "save"};
    const char *sec = strstr(out, "\"seconds\":");
    cr_assert(sec && sscanf(sec, "\"seconds\":%lf", &total) == 1, "%s", out);
    const char *ps = strstr(out, "\"phase_seconds\":{");
    cr_assert(ps, "no phase_seconds in %s", out);
    for (int k = 0; k < 6; k++) {
        char key[32];
        snprintf(key, sizeof key, "\"%s\":", names[k]);
        const char *at = strstr(ps, key);
        cr_assert(at && sscanf(at + strlen(key), "%lf", &ph[k]) == 1 && ph[k] >= 0, "phase %s in %s", names[k], out);
    }
    cr_assert_leq(ph[1] + ph[2] + ph[3] + ph[4], total * 1.0001 + 1e-6, "the phases exceed the total: %s", out);
    free(out), free(errs);
    /* a damaged file: exit 1, the message names it */
    size_t len;
    char *bytes = cf_test_read(bin, &len);
    bytes[len - 1] ^= 1;
    char *dam = cf_test_write(dir, "dam.cfd", bytes, len);
    const char *td[] = {CF_CLI_PATH, "train", dam, "--iters", "1", "--quiet", NULL};
    cr_assert_eq(run_cli(td, &out, &errs), 1, "%s", errs);
    cr_assert(strstr(errs, "dam.cfd: corrupt binary dataset: checksum mismatch"), "%s", errs);
    free(out), free(errs), free(bytes), free(dam);
    free(csv), free(bin), free(ma), free(mb);
}

/* A dataset of n ratings, sorted by (user, item), without repeated pairs. */
static cf_dataset *big_dataset(int64_t n) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert_not_null(ds);
    char nm[32];
    uint32_t idx;
    for (int64_t k = 0; k < n; k++) {
        snprintf(nm, sizeof nm, "u%lld", (long long)(k / 3));
        cr_assert_eq(cf_idmap_intern(ds->users, nm, strlen(nm), &idx, NULL), 0);
        uint32_t u = idx;
        snprintf(nm, sizeof nm, "i%lld", (long long)(k % 3 + 3 * (k / 3 % 50)));
        cr_assert_eq(cf_idmap_intern(ds->items, nm, strlen(nm), &idx, NULL), 0);
        cr_assert_eq(cf_dataset_push(ds, u, idx, (float)(k % 5) + 1, 0), 0);
    }
    return ds;
}

/* ds doctored in memory, written (in its order), loaded on 1..3 threads: the message
 * names the first bad rating, whichever block and piece of the parallel check it is in. */
static void expect_first_bad(cf_dataset *ds, const char *want) {
    char *bad = cf_test_path(dir, "big.cfd");
    cf_error err;
    cr_assert_eq(cf_bin_write_ordered(ds, bad, 2, 1, &err), CF_OK, "%s", err.msg);
    size_t len;
    char *b = cf_test_read(bad, &len);
    for (int threads = 1; threads <= 3; threads++) {
        cf_dataset *got = cf_dataset_create();
        cf_read_report rep;
        cr_assert_eq(cf_bin_load(got, 0, "big.cfd", b, len, threads, &rep, NULL, &err), CF_ERR_PARSE);
        cr_assert(strstr(err.msg, want), "%d threads: '%s' lacks '%s'", threads, err.msg, want);
        cr_assert_eq(got->all.n, 0);
        cf_dataset_destroy(&got);
    }
    free(b), free(bad);
}

Test(binfmt, the_first_bad_rating_is_named_across_blocks_and_pieces) {
    const int64_t n = 700000; /* three 1 MiB blocks of 262144 ratings, pieces of 4096 */
    cf_dataset *ds = big_dataset(n);
    char *ok = cf_test_path(dir, "ok.cfd");
    cf_error err;
    cr_assert_eq(cf_dataset_write_binary(ds, ok, 2, &err), CF_OK, "%s", err.msg);
    cf_dataset *back = NULL;
    cr_assert_eq(cf_dataset_read(ok, NULL, &back, NULL, &err), CF_OK, "%s", err.msg);
    same_dataset(ds, back);
    cf_dataset_destroy(&back);
    free(ok);
    /* a correct file of several blocks loads (the order checked across pieces and blocks) */
    ds->all.i[600001] = 1000000, ds->all.r[300000] = 0.0f / 0.0f;
    expect_first_bad(ds, "rating 300000: rating not finite");
    ds->all.r[300000] = 1;
    expect_first_bad(ds, "rating 600001: item index out of range");
    cf_dataset_destroy(&ds);
}
