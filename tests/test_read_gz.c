/*
 * test_read_gz.c — gzip-compressed input (src/gz.c): a compressed file reads as the
 * text (or binary dataset) inside — the same ratings, ID maps, parts and report but for
 * `compressed` — in one member (gzip) and in many (pigz / bgzip style, cut anywhere,
 * even inside a line), with 1 and 2 threads; zero padding after the last member is
 * accepted; trailing data, a truncated file and a corrupt one are errors that name the
 * file and the member's byte and add no ratings; ZIP, xz, zstd and bzip2 are named; the progress phases and a cancel while
 * decompressing; cf_text_open for the CLI's line readers; and the outputs named *.gz
 * (cf_output), written as gzip members. The test data is compressed
 * here with libdeflate's compressor, the round trip checked against the plain bytes.
 */
#include <criterion/criterion.h>

#include "cufactor.h"
#include "dataset.h"
#include "gz.h"
#include "helpers.h"
#include "idmap.h"
#include "read.h"

#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

CF_TEST_SUITE_WITH_TMPDIR(gz, 60);

static char *gz_members(const char *data, size_t len, int members, size_t *out_len) {
    return cf_test_gzip(data, len, members, 6, out_len);
}

typedef struct outcome {
    cf_status st;
    char msg[sizeof ((cf_error *)0)->msg];
    cf_read_report rep;
    cf_dataset *ds;
} outcome;

static outcome read_bytes(const char *data, size_t len, int threads) {
    outcome o;
    memset(&o, 0, sizeof o);
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.threads = threads;
    cf_error err = {0};
    o.ds = cf_dataset_create();
    cr_assert(o.ds);
    o.st = cf_read_memory(o.ds, 0, "r.gz", data, len, &opt, &o.rep, &err);
    memcpy(o.msg, err.msg, sizeof o.msg);
    return o;
}

static void same_map(const cf_idmap *a, const cf_idmap *b) {
    cr_assert_eq(cf_idmap_size(a), cf_idmap_size(b));
    for (int64_t k = 0; k < cf_idmap_size(a); k++) {
        size_t la, lb;
        const char *na = cf_idmap_name(a, (uint32_t)k, &la), *nb = cf_idmap_name(b, (uint32_t)k, &lb);
        cr_assert(la == lb && memcmp(na, nb, la) == 0, "ID %lld: '%s' vs '%s'", (long long)k, na, nb);
    }
}

/* The compressed read equals the plain one: ratings in order, maps, report but for
 * `compressed`, which is the compressed size. */
static void expect_same(outcome *plain, outcome *z, size_t zlen, const char *what) {
    cr_assert_eq(plain->st, CF_OK, "%s: plain read: %s", what, plain->msg);
    cr_assert_eq(z->st, CF_OK, "%s: compressed read: %s", what, z->msg);
    cr_assert_eq(plain->rep.compressed, 0);
    cr_assert_eq(z->rep.compressed, (int64_t)zlen, "%s: compressed %lld, the input is %zu bytes", what,
                 (long long)z->rep.compressed, zlen);
    cf_read_report r = z->rep;
    r.compressed = 0;
    cr_assert_eq(memcmp(&r, &plain->rep, sizeof r), 0, "%s: the reports differ (bytes %lld / %lld, ratings %lld / %lld)",
                 what, (long long)r.bytes, (long long)plain->rep.bytes, (long long)r.ratings,
                 (long long)plain->rep.ratings);
    const cf_triplets *a = &plain->ds->all, *b = &z->ds->all;
    cr_assert_eq(a->n, b->n, "%s", what);
    cr_assert_gt(a->n, 0);
    cr_assert_eq(memcmp(a->u, b->u, (size_t)a->n * sizeof *a->u), 0, "%s: users differ", what);
    cr_assert_eq(memcmp(a->i, b->i, (size_t)a->n * sizeof *a->i), 0, "%s: items differ", what);
    cr_assert_eq(memcmp(a->r, b->r, (size_t)a->n * sizeof *a->r), 0, "%s: ratings differ", what);
    same_map(plain->ds->users, z->ds->users);
    same_map(plain->ds->items, z->ds->items);
}

/* A delimited text of about `lines` ratings with string and decimal IDs, a header and a
 * comment, so that the parallel reader's paths all run. */
static char *text_of(int lines, size_t *len) {
    size_t cap = (size_t)lines * 40 + 256, n = 0;
    char *t = malloc(cap);
    cr_assert(t);
    n += (size_t)sprintf(t + n, "user,item,rating\n# a comment\n");
    uint64_t s = 7;
    for (int l = 0; l < lines; l++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int u = (int)((s >> 33) % 300), i = (int)((s >> 13) % 200), r = 1 + (int)((s >> 45) % 5);
        n += (size_t)sprintf(t + n, u % 3 ? "%d,i%d,%d\n" : "u%d,%d,%d.5\n", u, i, r);
    }
    *len = n;
    return t;
}

Test(gz, one_and_many_members_read_as_the_text_inside) {
    size_t len;
    char *text = text_of(40000, &len);
    const int members[] = {1, 2, 7, 64};
    for (size_t m = 0; m < sizeof members / sizeof *members; m++) {
        size_t zlen;
        char *z = gz_members(text, len, members[m], &zlen);
        cr_assert_lt(zlen, len / 2, "the test text should compress");
        for (int threads = 1; threads <= 2; threads++) {
            outcome plain = read_bytes(text, len, threads), gz = read_bytes(z, zlen, threads);
            char what[64];
            snprintf(what, sizeof what, "%d members, %d threads", members[m], threads);
            expect_same(&plain, &gz, zlen, what);
            cf_dataset_destroy(&plain.ds), cf_dataset_destroy(&gz.ds);
        }
        free(z);
    }
    free(text);
}

Test(gz, matrix_market_and_the_binary_dataset_inside) {
    const char *mm = "%%MatrixMarket matrix coordinate real general\n% c\n3 4 3\n1 1 4.5\n2 3 1\n3 4 2\n";
    size_t zlen;
    char *z = gz_members(mm, strlen(mm), 1, &zlen);
    outcome plain = read_bytes(mm, strlen(mm), 1), gz = read_bytes(z, zlen, 1);
    cr_assert_eq(gz.rep.format, CF_FORMAT_MM);
    expect_same(&plain, &gz, zlen, "Matrix Market");
    free(z);

    /* a binary dataset of the plain text's dataset, compressed: the same again */
    char *bin = cf_test_path(dir, "d.cfd");
    cf_error err;
    cr_assert_eq(cf_dataset_write_binary(plain.ds, bin, 1, &err), CF_OK, "%s", err.msg);
    size_t blen;
    char *b = cf_test_read(bin, &blen);
    cr_assert(b);
    z = gz_members(b, blen, 3, &zlen);
    outcome fromb = read_bytes(b, blen, 2), gzb = read_bytes(z, zlen, 2);
    cr_assert_eq(gzb.rep.format, CF_FORMAT_BINARY);
    expect_same(&fromb, &gzb, zlen, "binary dataset");
    free(z), free(b), free(bin);
    cf_dataset_destroy(&plain.ds), cf_dataset_destroy(&gz.ds), cf_dataset_destroy(&fromb.ds),
        cf_dataset_destroy(&gzb.ds);
}

/* A text that compresses far beyond the first guess of room (4 × the compressed size)
 * in a file whose last member is small (its length says nothing of the others'): the
 * buffer grows and the member is decompressed again. */
Test(gz, output_far_larger_than_the_guess) {
    size_t len = 4u << 20;
    char *text = malloc(len);
    cr_assert(text);
    for (size_t k = 0; k < len; k += 8) memcpy(text + k, "1\t2\t3.5\n", 8);
    size_t zlen;
    char *z = gz_members(text, len, 2, &zlen);
    cr_assert_lt(zlen * 100, len);
    outcome plain = read_bytes(text, len, 2), gz = read_bytes(z, zlen, 2);
    expect_same(&plain, &gz, zlen, "high ratio");
    cr_assert_eq(gz.rep.duplicates, (int64_t)(len / 8) - 1);
    free(z), free(text);
    cf_dataset_destroy(&plain.ds), cf_dataset_destroy(&gz.ds);
}

/* A failed read: the status, the message's parts, and a dataset left as it was. */
static void expect_fail(const char *data, size_t len, cf_status want, const char *a, const char *b) {
    outcome o = read_bytes(data, len, 2);
    cr_assert_eq(o.st, want, "status %s (%s)", cf_status_name(o.st), o.msg);
    cr_assert(strstr(o.msg, a), "message '%s' lacks '%s'", o.msg, a);
    if (b) cr_assert(strstr(o.msg, b), "message '%s' lacks '%s'", o.msg, b);
    cr_assert_eq(o.ds->all.n, 0, "a failed read added %lld ratings", (long long)o.ds->all.n);
    cf_dataset_destroy(&o.ds);
}

Test(gz, padding_trailing_data_truncation_and_corruption) {
    size_t len;
    char *text = text_of(3000, &len);
    size_t zlen;
    char *z = gz_members(text, len, 3, &zlen);
    char *w = malloc(zlen + 64);
    cr_assert(w);

    memcpy(w, z, zlen), memset(w + zlen, 0, 64); /* zero padding: accepted */
    outcome plain = read_bytes(text, len, 1), padded = read_bytes(w, zlen + 64, 2);
    expect_same(&plain, &padded, zlen + 64, "zero padding");
    cf_dataset_destroy(&plain.ds), cf_dataset_destroy(&padded.ds);

    memcpy(w + zlen, "junk\n", 5); /* anything else after the last member: an error */
    char at[64];
    snprintf(at, sizeof at, "r.gz: byte %zu: not a gzip member after the 3 before it", zlen);
    expect_fail(w, zlen + 5, CF_ERR_PARSE, at, "trailing data");

    /* cut anywhere after the magic: truncated; the member named is the one cut */
    const size_t cuts[] = {3, 10, zlen / 3, zlen / 2, zlen - 8, zlen - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++)
        expect_fail(z, cuts[c], CF_ERR_PARSE, "r.gz: byte ", "corrupt or truncated gzip data");

    memcpy(w, z, zlen); /* the last member's CRC-32 (its trailer's first 4 bytes) changed */
    w[zlen - 8] ^= 0x5a;
    expect_fail(w, zlen, CF_ERR_PARSE, "corrupt or truncated gzip data", "CRC-32");
    memcpy(w, z, zlen); /* a byte of the first member's compressed data */
    w[40] ^= 0x20;
    expect_fail(w, zlen, CF_ERR_PARSE, "r.gz: byte 0: corrupt or truncated gzip data", NULL);
    memcpy(w, z, zlen); /* a length field of 4 GiB - 1 in the last trailer: the member's check fails (that no
                          * 4 GiB buffer is allocated for it, only the fuzzers' malloc limit sees) */
    memset(w + zlen - 4, 0xff, 4);
    expect_fail(w, zlen, CF_ERR_PARSE, "corrupt or truncated gzip data", NULL);
    free(w), free(z), free(text);
}

/* ZIP, xz, zstd and bzip2 are recognized and named, with what to do, instead of read as
 * text full of binary; a text that merely starts like bzip2's magic stays text. */
Test(gz, other_compressions_are_named) {
    static const struct {
        const char *bytes;
        size_t len;
        const char *want;
    } cases[] = {
        {"PK\x03\x04\x14\x00\x00\x00", 8, "r.gz: a ZIP archive, which is not read: extract"},
        {"\xfd\x37\x7a\x58\x5a\x00\x00\x04", 8, "r.gz: xz-compressed, which is not read"},
        {"\x28\xb5\x2f\xfd\x24\x00", 6, "r.gz: zstd-compressed, which is not read"},
        {"BZh91AY&SY\x00\x01", 12, "r.gz: bzip2-compressed, which is not read"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        expect_fail(cases[k].bytes, cases[k].len, CF_ERR_PARSE, cases[k].want, k ? "compress it with gzip" : "unzip -p");
    const char *text = "BZh1\t1\t3\n";
    outcome o = read_bytes(text, strlen(text), 1);
    cr_assert_eq(o.st, CF_OK, "%s", o.msg);
    cr_assert_eq(o.rep.ratings, 1);
    cf_dataset_destroy(&o.ds);
    char *zip = cf_test_write(dir, "x.zip", cases[0].bytes, cases[0].len);
    FILE *f;
    cf_error err;
    cr_assert_eq(cf_text_open(zip, &f, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "x.zip: a ZIP archive"), "%s", err.msg);
    free(zip);
}

/* text as a BGZF file, as this library writes one (cf_gz_blocks, the end marker). */
static char *bgzf_of(const char *text, size_t len, size_t *zlen) {
    unsigned char *z = NULL;
    size_t cap = 0;
    const size_t n = cf_gz_blocks(text, len, &z, &cap);
    cr_assert_gt(n, 0);
    z = realloc(z, n + CF_GZ_EOF_SIZE);
    memcpy(z + n, cf_gz_eof, CF_GZ_EOF_SIZE);
    *zlen = n + CF_GZ_EOF_SIZE;
    return (char *)z;
}

/* The byte where BGZF block k starts (its header's size field). */
static size_t bgzf_at(const char *z, int k) {
    size_t at = 0;
    for (int j = 0; j < k; j++) at += (size_t)((unsigned char)z[at + 16] | (unsigned char)z[at + 17] << 8) + 1;
    return at;
}

/* BGZF (bgzip's format, this library's .gz outputs): decompressed on all threads into
 * place, the same text as the serial path and the plain file, with 1 and 2 threads; two
 * corrupt members: the first in file order is named, whatever thread met it first; a file
 * cut inside a member, or one with a plain gzip member after the blocks, goes the serial
 * way (still read, or the cut named); a cancel between batches. */
Test(gz, bgzf_decompressed_in_parallel) {
    size_t len, zlen;
    char *text = text_of(40000, &len), *z = bgzf_of(text, len, &zlen);
    for (int threads = 1; threads <= 2; threads++) {
        outcome plain = read_bytes(text, len, threads), gz = read_bytes(z, zlen, threads);
        cr_assert_eq(cf_gz_last_bgzf, (len + 65279) / 65280 + 1, "the parallel path took %zu blocks",
                     cf_gz_last_bgzf);
        expect_same(&plain, &gz, zlen, threads == 1 ? "BGZF, 1 thread" : "BGZF, 2 threads");
        cf_dataset_destroy(&plain.ds), cf_dataset_destroy(&gz.ds);
    }
    char *w = malloc(zlen + 40);
    const size_t b2 = bgzf_at(z, 2), b5 = bgzf_at(z, 5);
    cr_assert_lt(b5, zlen - 100);
    memcpy(w, z, zlen);
    w[b5 + 30] ^= 0x11, w[b2 + 40] ^= 0x22; /* blocks 5 and 2: 2 is named */
    char want[64];
    snprintf(want, sizeof want, "r.gz: byte %zu: corrupt or truncated gzip data", b2);
    expect_fail(w, zlen, CF_ERR_PARSE, want, NULL);
    memcpy(w, z, zlen);
    w[b5 + 30] ^= 0x11;
    snprintf(want, sizeof want, "r.gz: byte %zu: corrupt or truncated gzip data", b5);
    expect_fail(w, zlen, CF_ERR_PARSE, want, NULL);
    snprintf(want, sizeof want, "r.gz: byte %zu: corrupt or truncated", b5); /* cut inside block 5 */
    expect_fail(z, b5 + 100, CF_ERR_PARSE, want, NULL);
    memcpy(w, z, zlen); /* block 5 says it holds 16 MiB of text: not BGZF, and its check fails */
    const size_t b6 = bgzf_at(z, 6);
    w[b6 - 1] = 1;
    expect_fail(w, zlen, CF_ERR_PARSE, want, NULL);
    cr_assert_eq(cf_gz_last_bgzf, 0);

    /* a plain gzip member after the blocks (and the end marker): read member by member */
    const char *more = "extra,1,2\n";
    size_t mlen;
    char *mz = gz_members(more, strlen(more), 1, &mlen);
    char *cat = malloc(zlen + mlen), *both = malloc(len + strlen(more));
    memcpy(cat, z, zlen), memcpy(cat + zlen, mz, mlen);
    memcpy(both, text, len), memcpy(both + len, more, strlen(more));
    outcome plain = read_bytes(both, len + strlen(more), 2), gz = read_bytes(cat, zlen + mlen, 2);
    cr_assert_eq(cf_gz_last_bgzf, 0);
    expect_same(&plain, &gz, zlen + mlen, "BGZF then gzip");
    cf_dataset_destroy(&plain.ds), cf_dataset_destroy(&gz.ds);
    free(w), free(mz), free(cat), free(both), free(z), free(text);
}

/* Progress: "decompressing" in compressed bytes (0 first, non-decreasing, total last),
 * then "reading" over the text's bytes; a cancel returned while decompressing. */
typedef struct seen {
    int calls[2];
    int64_t last[2], total[2];
    int order_ok, cancel_at; /* cancel_at: cancel at this "decompressing" call (-1 never) */
} seen;

static int on_progress(const char *phase, int64_t done, int64_t total, void *user) {
    seen *s = user;
    int p = strcmp(phase, "decompressing") == 0 ? 0 : strcmp(phase, "reading") == 0 ? 1 : -1;
    if (p < 0) return 0;
    if (p == 0 && s->calls[1]) s->order_ok = 0; /* decompressing after reading began */
    if (s->calls[p] == 0 && done != 0) s->order_ok = 0;
    if (done < s->last[p] || done > total) s->order_ok = 0;
    s->last[p] = done, s->total[p] = total;
    return s->calls[p]++ == s->cancel_at && p == 0;
}

Test(gz, progress_phases_and_cancel) {
    size_t len;
    char *text = text_of(1300000, &len);
    size_t zlen; /* stored, so that the compressed bytes pass several steps of 2^22 */
    char *z = cf_test_gzip(text, len, 400, 0, &zlen);
    cr_assert_gt(zlen, (size_t)3 << 22);
    cf_read_options opt;
    cf_read_options_default(&opt);
    opt.progress = on_progress;
    seen s = {.order_ok = 1, .cancel_at = -1};
    opt.progress_user = &s;
    cf_dataset *ds = NULL;
    cf_error err;
    char *path = cf_test_write(dir, "r.tsv.gz", z, zlen);
    cr_assert_eq(cf_dataset_read(path, &opt, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert(s.order_ok);
    cr_assert_gt(s.calls[0], 3, "only %d decompressing calls over 400 members", s.calls[0]);
    cr_assert_eq(s.last[0], (int64_t)zlen);
    cr_assert_eq(s.total[0], (int64_t)zlen);
    cr_assert_eq(s.last[1], (int64_t)len);
    cr_assert_eq(s.total[1], (int64_t)len);
    cf_dataset_destroy(&ds);

    s = (seen){.order_ok = 1, .cancel_at = 1};
    cr_assert_eq(cf_dataset_read(path, &opt, &ds, NULL, &err), CF_ERR_INTERRUPTED);
    cr_assert_null(ds);
    cr_assert(strstr(err.msg, "cancelled while decompressing"), "%s", err.msg);
    cr_assert_eq(s.calls[1], 0, "reading began after a cancel");
    free(path), free(z);

    /* the same text as BGZF: progress between the parallel batches, and a cancel there */
    z = bgzf_of(text, len, &zlen);
    cr_assert_gt(zlen, (size_t)1 << 22, "one batch boundary at least");
    path = cf_test_write(dir, "r.bgz", z, zlen);
    s = (seen){.order_ok = 1, .cancel_at = -1};
    cr_assert_eq(cf_dataset_read(path, &opt, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_gt(cf_gz_last_bgzf, 0);
    cr_assert(s.order_ok);
    cr_assert_gt(s.calls[0], 2);
    cr_assert_eq(s.last[0], (int64_t)zlen);
    cr_assert_eq(s.last[1], (int64_t)len);
    cf_dataset_destroy(&ds);
    s = (seen){.order_ok = 1, .cancel_at = 1};
    cr_assert_eq(cf_dataset_read(path, &opt, &ds, NULL, &err), CF_ERR_INTERRUPTED);
    cr_assert(strstr(err.msg, "cancelled while decompressing"), "%s", err.msg);
    cr_assert_eq(s.calls[1], 0, "reading began after a cancel");
    free(path), free(z), free(text);
}

Test(gz, a_file_on_disk_and_its_report) {
    size_t len;
    char *text = text_of(5000, &len);
    size_t zlen;
    char *z = gz_members(text, len, 1, &zlen);
    char *path = cf_test_write(dir, "ratings.csv.gz", z, zlen);
    cf_dataset *ds = NULL;
    cf_read_report rep;
    cf_error err;
    cr_assert_eq(cf_dataset_read(path, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.compressed, (int64_t)zlen);
    cr_assert_eq(rep.bytes, (int64_t)len);
    cr_assert(rep.header);
    cr_assert_str_eq(rep.delimiter, ",");
    /* and as a test file into that dataset: the same pairs, so nothing unseen */
    cr_assert_eq(cf_dataset_read_test(ds, path, NULL, &rep, &err), CF_OK, "%s", err.msg);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_test, info.n_train);
    cr_assert_eq(info.test_unseen, 0);
    cf_dataset_destroy(&ds);
    free(path), free(z), free(text);
}

Test(gz, text_open_plain_compressed_and_errors) {
    const char *text = "u1\ti1\nu2\ti2\n";
    size_t zlen;
    char *z = gz_members(text, strlen(text), 2, &zlen);
    char *plain = cf_test_write(dir, "p.tsv", text, strlen(text));
    char *gz = cf_test_write(dir, "p.tsv.gz", z, zlen);
    char *bad = cf_test_write(dir, "bad.gz", z, zlen - 3);
    char *short1 = cf_test_write(dir, "s.tsv", "x", 1); /* shorter than the magic */
    const char *files[] = {plain, gz};
    for (int k = 0; k < 2; k++) {
        size_t n;
        char *got = cf_test_read_text(files[k], &n);
        cr_assert_eq(n, strlen(text), "%s: %zu bytes", files[k], n);
        cr_assert_eq(memcmp(got, text, n), 0);
        free(got);
    }
    /* a pipe (not seekable): the plain text through the bytes read to look for the magic,
     * the compressed one decompressed */
    for (int k = 0; k < 2; k++) {
        int fd[2];
        cr_assert_eq(pipe(fd), 0);
        const char *data = k ? z : text;
        const size_t n = k ? zlen : strlen(text);
        cr_assert_eq(write(fd[1], data, n), (ssize_t)n);
        close(fd[1]);
        char name[32];
        snprintf(name, sizeof name, "/dev/fd/%d", fd[0]);
        size_t got_n;
        char *got = cf_test_read_text(name, &got_n);
        cr_assert_eq(got_n, strlen(text), "pipe %d: %zu bytes", k, got_n);
        cr_assert_eq(memcmp(got, text, got_n), 0);
        close(fd[0]);
        free(got);
    }
    FILE *f;
    cf_error err;
    cr_assert_eq(cf_text_open(short1, &f, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(fgetc(f), 'x');
    cr_assert_eq(fgetc(f), EOF);
    fclose(f);
    cr_assert_eq(cf_text_open(bad, &f, &err), CF_ERR_PARSE);
    cr_assert_null(f);
    cr_assert(strstr(err.msg, "bad.gz: byte ") && strstr(err.msg, "corrupt or truncated"), "%s", err.msg);
    char *none = cf_test_path(dir, "none.tsv");
    cr_assert_eq(cf_text_open(none, &f, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, "none.tsv: cannot open: "), "%s", err.msg);
    cr_assert_eq(cf_text_open(NULL, &f, &err), CF_ERR_INVALID);
    free(none), free(plain), free(gz), free(bad), free(short1), free(z);
}

/* The members of a gzip file and its text (libdeflate, member by member, as a plain
 * gzip reader sees them), each checked to be a BGZF block: the 'BC' subfield giving its
 * size, at most 64 KiB. */
static int members_of(const char *z, size_t zlen, char *text, size_t cap, size_t *n) {
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    int m = 0;
    size_t at = 0;
    *n = 0;
    while (at < zlen) {
        size_t used, got;
        cr_assert_eq(libdeflate_gzip_decompress_ex(d, z + at, zlen - at, text + *n, cap - *n, &used, &got),
                     LIBDEFLATE_SUCCESS, "member %d at byte %zu", m, at);
        const unsigned char *h = (const unsigned char *)z + at;
        cr_assert(h[3] == 4 && h[10] == 6 && h[11] == 0 && h[12] == 'B' && h[13] == 'C' &&
                      (size_t)(h[16] | h[17] << 8) + 1 == used && used <= 65536,
                  "member %d at byte %zu is no BGZF block", m, at);
        at += used, *n += got, m++;
    }
    libdeflate_free_decompressor(d);
    return m;
}

/* cf_output (predict --out, recommend --out, ...) to a name ending in ".gz": the text in
 * BGZF blocks (gzip members of at most 65,280 bytes of text, sizes in their headers),
 * compressed as it goes, then BGZF's end marker; an empty output is that marker alone (a
 * valid gzip file); an abort leaves nothing. Read back it is the text, on 1 and 2
 * threads (the parallel path). */
Test(gz, outputs_named_gz_are_written_compressed) {
    char *path = cf_test_path(dir, "out.tsv.gz");
    cf_output *o;
    FILE *f;
    cf_error err;
    cr_assert_eq(cf_output_open(path, &o, &f, &err), CF_OK, "%s", err.msg);
    size_t want = 0;
    for (int k = 0; k < 700000; k++) want += (size_t)fprintf(f, "user%d\titem%d\t%d.5\n", k, k % 977, k % 5);
    cr_assert_gt(want, (size_t)9 << 20);
    cr_assert_eq(cf_output_commit(&o, &err), CF_OK, "%s", err.msg);
    size_t zlen, n;
    char *z = cf_test_read(path, &zlen);
    char *text = malloc(want + 1);
    cr_assert(z && text);
    const int m = members_of(z, zlen, text, want + 1, &n);
    cr_assert_eq(n, want);
    cr_assert_geq(m, (int)(want / 65280) + 1, "%d members for %zu bytes", m, want);
    cr_assert_eq(memcmp(z + zlen - CF_GZ_EOF_SIZE, cf_gz_eof, CF_GZ_EOF_SIZE), 0, "no end marker");
    for (int threads = 1; threads <= 2; threads++) {
        outcome r = read_bytes(z, zlen, threads);
        cr_assert_eq(r.st, CF_OK, "%s", r.msg);
        cr_assert_eq(r.rep.bytes, (int64_t)want);
        cr_assert_eq(r.rep.ratings, 700000);
        cf_dataset_destroy(&r.ds);
    }
    cr_assert_eq(memcmp(text, "user0\titem0\t0.5\nuser1\t", 22), 0);
    char last[64];
    const int ll = snprintf(last, sizeof last, "user%d\titem%d\t%d.5\n", 699999, 699999 % 977, 699999 % 5);
    cr_assert_eq(memcmp(text + n - ll, last, (size_t)ll), 0, "%.*s", ll, text + n - ll);
    free(z), free(text);

    cr_assert_eq(cf_output_open(path, &o, &f, &err), CF_OK, "%s", err.msg); /* nothing written */
    cr_assert_eq(cf_output_commit(&o, &err), CF_OK, "%s", err.msg);
    z = cf_test_read(path, &zlen);
    char none[4];
    cr_assert_eq(members_of(z, zlen, none, sizeof none, &n), 1);
    cr_assert_eq(n, 0);
    cr_assert(zlen == CF_GZ_EOF_SIZE && memcmp(z, cf_gz_eof, zlen) == 0);
    free(z);

    char *other = cf_test_path(dir, "gone.gz");
    cr_assert_eq(cf_output_open(other, &o, &f, &err), CF_OK, "%s", err.msg);
    for (int k = 0; k < 400000; k++) fprintf(f, "%d\n", k); /* past a block: a member reached the file */
    cf_output_abort(&o);
    cr_assert_eq(cf_test_count_entries(dir, "gone"), 0);
    free(other), free(path);
}

/* The binary outputs are written uncompressed: a model, a checkpoint or a binary dataset
 * named *.gz is refused (CF_ERR_INVALID, the name and the reason), nothing written. */
Test(gz, binary_outputs_named_gz_are_refused) {
    const char *text = "u1\ti1\t4\nu2\ti2\t3\nu1\ti2\t5\n";
    outcome o = read_bytes(text, strlen(text), 1);
    cr_assert_eq(o.st, CF_OK, "%s", o.msg);
    cf_error err;
    char *bin = cf_test_path(dir, "d.cfd.gz");
    cr_assert_eq(cf_dataset_write_binary(o.ds, bin, 1, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "d.cfd.gz: a binary dataset is written uncompressed"), "%s", err.msg);
    cf_config c;
    cf_config_default(&c);
    c.factors = 2, c.iters = 1, c.device = CF_DEVICE_CPU, c.threads = 1;
    cf_model *m = NULL;
    cr_assert_eq(cf_train(o.ds, &c, NULL, NULL, &m, NULL, &err), CF_OK, "%s", err.msg);
    char *mp = cf_test_path(dir, "m.cfm.gz");
    cr_assert_eq(cf_model_save(m, mp, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "m.cfm.gz: a model is written uncompressed") && strstr(err.msg, "without .gz"), "%s",
              err.msg);
    cr_assert_eq(cf_test_count_entries(dir, ".gz"), 0);
    cf_model_destroy(&m);
    cf_dataset_destroy(&o.ds);
    free(bin), free(mp);
}
