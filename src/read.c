/*
 * read.c — the ratings file readers: delimited text and Matrix Market coordinate
 * files into a cf_dataset (cf_dataset_read, cf_dataset_read_test). This file holds the
 * driver (options, format detection, cf_read_memory and the path readers), the file in
 * memory and what a bad line does; the formats and the parallel reading are in
 * read_text.c, read_mm.c and read_par.c, which share read_impl.h (the reader state and
 * a map of the files).
 *
 * Formats (CF_FORMAT_AUTO: Matrix Market when the first line starts with
 * "%%MatrixMarket", else delimited): delimited text `user item rating [ignored
 * columns...]` (read_text.c) and Matrix Market coordinate (read_mm.c); the top of each
 * file says what it accepts. A UTF-8 byte-order mark at the start is ignored. With
 * cf_read_options.timestamps the fourth delimited field is kept as each rating's time
 * (the dataset becomes timed: time_setup below; Matrix Market has none).
 *
 * cf_read_memory (read.h) runs the same parsers on bytes already in memory: the path
 * readers map their file and call it, so tests and fuzz targets that feed bytes exercise
 * exactly what files get.
 *
 * Speed: the file is mmap'ed (read() into a buffer for pipes and the like). Plain
 * tab/comma lines shorter than 32 bytes are split with two SSE2 compares (fast_line,
 * read_text.c); every other line goes through the general path (memchr for the line end,
 * byte loops for the fields), which is also the one that reports errors. Numbers go
 * through the hand-written parser of read_num.h; IDs through two caches before the hash
 * map (read_impl.h): the previous line's user token (files are usually grouped by user)
 * and, for canonical decimal tokens below 2^23, a direct array from the number to its
 * index. Files of 2 MiB and more are parsed by cf_read_options.threads threads (0: all
 * cores) in chunks merged in file order, with the one-thread result (read_par.c); the
 * duplicate removal runs on segments of whole users, also deterministic.
 * A file that starts with the binary dataset's magic (binfmt.h) is loaded, not parsed,
 * under CF_FORMAT_AUTO.
 *
 * Progress (cf_read_options.progress, paced by progress.h): phase "reading" in bytes,
 * checked at the start of each line (one compare when there is no callback), then
 * phase "deduplicating" in ratings, from cf_dataset_dedup_threads. A cancel is
 * CF_ERR_INTERRUPTED and, like any failure, leaves no ratings behind.
 *
 * Errors: CF_ERR_PARSE "FILE:LINE: reason: <the line, escaped, cut to ~80 bytes>",
 * CF_ERR_IO "FILE: strerror". With skip_bad_lines, malformed lines (over-long ones
 * included) are counted in rep->skipped instead; structural errors (Matrix Market
 * banner, size line, truncated body) and an empty result stay errors. A failed read
 * leaves no ratings behind (see read_into).
 */
#include "binfmt.h"
#include "gz.h"
#include "read_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

void cf_read_options_default(cf_read_options *opt) {
    if (!opt) return;
    opt->format = CF_FORMAT_AUTO;
    opt->skip_bad_lines = 0;
    opt->max_line = 65536;
    opt->progress = NULL;
    opt->progress_user = NULL;
    opt->threads = 0;
    opt->timestamps = 0;
}

/* ------------------------------------------------------------------ file in memory */

typedef struct file_buf {
    const char *data;
    size_t size;
    void *map;       /* mmap'ed region (size bytes), or NULL */
    char *heap;      /* read() buffer, or NULL */
} file_buf;

static void file_close(file_buf *fb) {
    if (fb->map) munmap(fb->map, fb->size);
    free(fb->heap);
    memset(fb, 0, sizeof *fb);
}

static cf_status io_fail(cf_error *err, const char *path, const char *what, int e) {
    char buf[128];
    const char *msg = strerror_r(e, buf, sizeof buf); /* GNU strerror_r (_GNU_SOURCE) */
    return cf_fail(err, CF_ERR_IO, "%s: %s: %s", path, what, msg);
}

/* A blocking open() or read() came back with EINTR (a signal handler installed without
 * SA_RESTART ran): asks the progress callback (phase "waiting", `got` bytes so far)
 * whether to give up. 1: cancel (err filled with CF_ERR_INTERRUPTED), 0: retry. */
static int wait_cancelled(const cf_read_options *opt, const char *path, int64_t got, cf_error *err) {
    if (!opt || !opt->progress || !opt->progress("waiting", got, -1, opt->progress_user)) return 0;
    cf_fail(err, CF_ERR_INTERRUPTED, "reading %s: cancelled while waiting for input (%lld bytes received)", path,
            (long long)got);
    return 1;
}

/* Maps a regular file, or reads anything else (pipe, FIFO, /proc file) into memory. A
 * signal that interrupts a blocking open() or read() asks the callback (wait_cancelled). */
static cf_status file_open(const char *path, const cf_read_options *opt, file_buf *fb, cf_error *err) {
    memset(fb, 0, sizeof *fb);
    int fd;
    while ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == EINTR)
        if (wait_cancelled(opt, path, 0, err)) return CF_ERR_INTERRUPTED;
    if (fd < 0) return io_fail(err, path, "cannot open", errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return io_fail(err, path, "cannot stat", e);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return io_fail(err, path, "cannot read", EISDIR);
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (m != MAP_FAILED) {
            madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            fb->map = m;
            fb->data = m;
            fb->size = (size_t)st.st_size;
            close(fd);
            return CF_OK;
        }
        /* not mappable (some file systems): read it instead */
    }
    size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory allocating %zu bytes to read it", path, cap);
    }
    for (;;) {
        if (n == cap) {
            char *b = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!b) {
                free(buf);
                close(fd);
                return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory reading it (%zu bytes so far)", path, n);
            }
            buf = b;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0) {
            if (errno == EINTR) {
                if (!wait_cancelled(opt, path, (int64_t)n, err)) continue;
                free(buf);
                close(fd);
                return CF_ERR_INTERRUPTED;
            }
            int e = errno;
            free(buf);
            close(fd);
            return io_fail(err, path, "cannot read", e);
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    close(fd);
    fb->heap = buf;
    fb->data = buf;
    fb->size = n;
    return CF_OK;
}

/* ------------------------------------------------------------------ bad lines */

/* rep->first_bad = "FILE:LINE: reason", cut to the field (it is a summary). */
void cf_read_set_first_bad(cf_read_report *rep, const char *path, int64_t line, const char *reason) {
    char *fb = rep->first_bad;
    size_t cap = sizeof rep->first_bad;
    int n = snprintf(fb, cap, "%s:%lld: ", path, (long long)line);
    if (n >= 0 && (size_t)n < cap) {
        size_t room = cap - (size_t)n - 1, len = strlen(reason);
        memcpy(fb + n, reason, len < room ? len : room);
        fb[(size_t)n + (len < room ? len : room)] = '\0';
    }
}

/* cf_read_bad_line in a chunk: the skip counted in the chunk, or the error kept there
 * with the chunk's own line number (the merge, read_par.c, reports the file's first). */
static int chunk_bad_line(reader *r, const char *ls, size_t ll, const char *reason) {
    chunk *c = r->ck;
    if (r->opt->skip_bad_lines) {
        if (c->skipped++ == 0) {
            c->first_bad_line = r->line;
            snprintf(c->first_bad_reason, sizeof c->first_bad_reason, "%s", reason);
        }
        return 0;
    }
    char shown[SHOW_MAX * 4 + 8];
    cf_text_show(shown, sizeof shown, ls, ll);
    c->st = CF_ERR_PARSE;
    c->err_line = r->line;
    snprintf(c->err_text, sizeof c->err_text, "%s: %s", reason, shown);
    return -1;
}

int cf_read_bad_line(reader *r, const char *ls, size_t ll, const char *reason) {
    if (r->ck) return chunk_bad_line(r, ls, ll, reason);
    if (r->opt->skip_bad_lines) {
        if (r->rep->skipped++ == 0) cf_read_set_first_bad(r->rep, r->path, r->line, reason);
        return 0;
    }
    char shown[SHOW_MAX * 4 + 8];
    cf_text_show(shown, sizeof shown, ls, ll);
    cf_fail(r->err, CF_ERR_PARSE, "%s:%lld: %s: %s", r->path, (long long)r->line, reason, shown);
    return -1;
}

/* The progress callback asked to stop at byte `at`. */
cf_status cf_read_cancelled(reader *r, int64_t at) {
    return cf_fail(r->err, CF_ERR_INTERRUPTED, "reading %s: cancelled at byte %lld", r->path, (long long)at);
}

static cf_status chunk_nomem(reader *r) {
    r->ck->st = CF_ERR_NOMEM;
    r->ck->err_line = r->line;
    return CF_ERR_NOMEM;
}

cf_status cf_read_nomem(reader *r) {
    if (r->ck) return chunk_nomem(r);
    return cf_fail(r->err, CF_ERR_NOMEM, "%s:%lld: out of memory storing the ratings", r->path,
                   (long long)r->line);
}

/* ------------------------------------------------------------------ driver */

static cf_status check_options(const cf_read_options *opt, cf_error *err) {
    if (opt->format != CF_FORMAT_AUTO && opt->format != CF_FORMAT_DELIM && opt->format != CF_FORMAT_MM)
        return cf_fail(err, CF_ERR_INVALID, "read options: format %d is not a cf_format", (int)opt->format);
    if (opt->max_line < 1)
        return cf_fail(err, CF_ERR_INVALID, "read options: max_line must be at least 1");
    return CF_OK;
}

/* A binary dataset (binfmt.h), with the two phases' first and last progress calls. */
static cf_status read_binary(cf_dataset *ds, int part, const char *name, const char *data, size_t size,
                             const cf_read_options *opt, cf_read_report *rep, cf_error *err) {
    cf_progress pg;
    if (cf_progress_start(&pg, opt->progress, opt->progress_user, "reading", (int64_t)size))
        return cf_fail(err, CF_ERR_INTERRUPTED, "reading %s: cancelled at byte 0", name);
    const int64_t from = ds->all.n;
    int sorted = 1;
    cf_status st = cf_bin_load(ds, part, name, data, size, opt->threads, rep, &sorted, err);
    if (st) return st;
    if (cf_progress_end(&pg) ||
        cf_progress_start(&pg, opt->progress, opt->progress_user, "deduplicating", ds->all.n - from)) {
        ds->all.n = from;
        return cf_fail(err, CF_ERR_INTERRUPTED, "reading %s: cancelled at byte %zu", name, size);
    }
    if (!sorted) { /* a version-2 file in its writer's order: sorted and deduplicated as text would be */
        int64_t dup = cf_dataset_dedup_threads(ds, from, &pg, opt->threads, err);
        if (dup < 0) {
            ds->all.n = from;
            return dup == -2 ? cf_fail(err, CF_ERR_INTERRUPTED, "reading %s: cancelled while removing duplicates", name)
                             : cf_fail(err, CF_ERR_NOMEM, "reading %s: out of memory removing duplicates", name);
        }
        rep->duplicates = dup;
        rep->ratings = ds->all.n - from;
    }
    if (cf_progress_end(&pg)) {
        ds->all.n = from;
        return cf_fail(err, CF_ERR_INTERRUPTED, "reading %s: cancelled at byte %zu", name, size);
    }
    return CF_OK;
}

/* Timestamps asked for (opt->timestamps) and kept (ds->timed) agree: an empty dataset
 * becomes timed when asked; otherwise a mismatch is an error, as is asking a Matrix
 * Market file, which has no timestamp column. */
static cf_status time_setup(cf_dataset *ds, const char *name, const cf_read_options *opt, cf_format fmt,
                            cf_error *err) {
    if (opt->timestamps && fmt == CF_FORMAT_MM)
        return cf_fail(err, CF_ERR_PARSE, "%s: a Matrix Market file has no timestamps (a time split needs them)", name);
    if (!opt->timestamps && ds->timed)
        return cf_fail(err, CF_ERR_INVALID, "%s: the dataset has timestamps: read this file with them too "
                       "(cf_read_options.timestamps = 1)", name);
    if (opt->timestamps && !ds->timed && ds->all.n > 0)
        return cf_fail(err, CF_ERR_INVALID, "%s: the dataset's ratings were read without timestamps: read this "
                       "file without them too", name);
    if (opt->timestamps && cf_dataset_set_timed(ds))
        return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory for the timestamps", name);
    return CF_OK;
}

/* The readers proper, on bytes in memory (see read.h). On failure ds->all is cut back to
 * the ratings it had before, so no half-read file remains; IDs interned on the way stay
 * in the maps (a map entry without ratings is harmless: it is an ID with no ratings,
 * like an unseen test ID). */
static cf_status read_plain(cf_dataset *ds, int part, const char *name, const char *data, size_t size,
                            const cf_read_options *opt, cf_read_report *rep, cf_error *err) {
    rep->bytes = (int64_t)size;
    cf_read_last_chunks = 0;
    if (opt->format == CF_FORMAT_AUTO && cf_bin_is(data, size)) {
        cf_status st = time_setup(ds, name, opt, CF_FORMAT_BINARY, err);
        return st ? st : read_binary(ds, part, name, data, size, opt, rep, err);
    }
    const char *p = data, *end = data + size;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* UTF-8 byte-order mark */
    cf_format fmt = opt->format;
    if (fmt == CF_FORMAT_AUTO)
        fmt = (end - p >= 14 && strncasecmp(p, "%%MatrixMarket", 14) == 0) ? CF_FORMAT_MM : CF_FORMAT_DELIM;
    rep->format = fmt;
    cf_status tst = time_setup(ds, name, opt, fmt, err);
    if (tst) return tst;

    reader r = {.path = name, .opt = opt, .rep = rep, .err = err, .ds = ds, .part = part, .base = data,
                .users = ds->users, .items = ds->items};
    const int64_t from = ds->all.n;
    cf_status st = CF_OK;
    if (cf_progress_start(&r.pg, opt->progress, opt->progress_user, "reading", (int64_t)size))
        st = cf_read_cancelled(&r, 0);
    const char *other = st == CF_OK ? cf_compressed_other(data, size) : NULL; /* ZIP, xz, ...: named, not parsed */
    if (other) st = cf_fail(err, CF_ERR_PARSE, "%s: %s", name, other);
    if (st == CF_OK) {
        const char *body = end;
        if (fmt == CF_FORMAT_MM) {
            mm_state m = {0};
            st = cf_read_parse_mm(&r, p, end, &m, 1, &body);
            if (st == CF_OK) st = cf_read_parse_body(&r, body, end, 1, 0, D_SPACE, &m);
            if (st == CF_OK) st = cf_read_mm_finish(&r, &m);
        } else {
            int have = 0;
            enum delim d = D_SPACE;
            st = cf_read_parse_delim(&r, p, end, &have, &d, 1, &body);
            if (st == CF_OK) st = cf_read_parse_body(&r, body, end, 0, have, d, NULL);
        }
    }
    if (st == CF_OK && cf_progress_end(&r.pg)) st = cf_read_cancelled(&r, (int64_t)size);
    rep->lines = r.line;
    free(r.ucache.slot);
    free(r.icache.slot);
    if (st == CF_OK && ds->all.n == from) {
        if (rep->skipped)
            st = cf_fail(err, CF_ERR_PARSE, "%s: no ratings: all %lld data lines are malformed; first: %s", name,
                         (long long)rep->skipped, rep->first_bad);
        else if (rep->header) /* "1\t2\tx" alone is no header, but it reads as one */
            st = cf_fail(err, CF_ERR_PARSE,
                         "%s: no ratings: its only data line was read as a header (its rating field is not a number)",
                         name);
        else if (rep->lines > 0)
            st = cf_fail(err, CF_ERR_PARSE, "%s: no ratings: %lld line%s, all blank or comments", name,
                         (long long)rep->lines, rep->lines == 1 ? "" : "s");
        else
            st = cf_fail(err, CF_ERR_PARSE, "%s: empty file: no ratings", name);
    }
    if (st == CF_OK) { /* phase "deduplicating", in ratings */
        cf_progress dp;
        cf_error local; /* the failure's own status even when the caller passed no err */
        cf_error *e = err ? err : &local;
        int64_t dup = -2;
        if (!cf_progress_start(&dp, opt->progress, opt->progress_user, "deduplicating", ds->all.n - from)) {
            dup = cf_dataset_dedup_threads(ds, from, &dp, opt->threads, e);
            if (dup >= 0 && cf_progress_end(&dp)) dup = -2;
        }
        if (dup == -2)
            st = cf_fail(err, CF_ERR_INTERRUPTED,
                         "reading %s: cancelled while removing duplicates (%lld of %lld ratings checked)", name,
                         (long long)dp.last, (long long)dp.total);
        else if (dup < 0)
            st = e->status;
        else
            rep->duplicates = dup;
    }
    if (st != CF_OK) {
        ds->all.n = from;
        return st;
    }
    rep->ratings = ds->all.n - from;
    return CF_OK;
}

/* read_plain, on the text (or binary dataset) inside when data is gzip-compressed. */
static cf_status read_bytes(cf_dataset *ds, int part, const char *name, const char *data, size_t size,
                            const cf_read_options *opt, cf_read_report *rep, cf_error *err) {
    if (!cf_gz_is(data, size)) return read_plain(ds, part, name, data, size, opt, rep, err);
    char *text;
    size_t n;
    cf_status st = cf_gunzip(name, data, size, opt->threads, opt->progress, opt->progress_user, &text, &n, err);
    if (st) return st;
    st = read_plain(ds, part, name, text, n, opt, rep, err);
    rep->compressed = (int64_t)size;
    free(text);
    return st;
}

/* The public readers' options (NULL: defaults, put in *defaults) and report (NULL: *local),
 * the report zeroed and err cleared; then the options checked. */
static cf_status read_setup(const cf_read_options **opt, cf_read_options *defaults, cf_read_report **rep,
                            cf_read_report *local, cf_error *err) {
    if (!*opt) {
        cf_read_options_default(defaults);
        *opt = defaults;
    }
    if (!*rep) *rep = local;
    memset(*rep, 0, sizeof **rep);
    cf_error_clear(err);
    return check_options(*opt, err);
}

cf_status cf_read_memory(cf_dataset *ds, int part, const char *name, const void *data, size_t size,
                         const cf_read_options *opt, cf_read_report *rep, cf_error *err) {
    if (!ds || !name || (!data && size))
        return cf_fail(err, CF_ERR_INVALID, "cf_read_memory: %s is NULL", !ds ? "ds" : !name ? "name" : "data");
    if (part != 0 && part != 1) return cf_fail(err, CF_ERR_INVALID, "cf_read_memory: part %d is not 0 or 1", part);
    cf_read_options defaults;
    cf_read_report local;
    cf_status st = read_setup(&opt, &defaults, &rep, &local, err);
    if (st) return st;
    return read_bytes(ds, part, name, size ? data : "", size, opt, rep, err);
}

/* Reads `path` into part `part` of ds: the file mapped (or read) into memory, then read_bytes. */
static cf_status read_into(cf_dataset *ds, int part, const char *path, const cf_read_options *opt,
                           cf_read_report *rep, cf_error *err) {
    cf_read_options defaults;
    cf_read_report local;
    cf_status st = read_setup(&opt, &defaults, &rep, &local, err);
    if (st) return st;
    file_buf fb;
    st = file_open(path, opt, &fb, err);
    if (st) return st;
    st = read_bytes(ds, part, path, fb.size ? fb.data : "", fb.size, opt, rep, err);
    file_close(&fb);
    return st;
}

cf_status cf_dataset_read(const char *path, const cf_read_options *opt, cf_dataset **out,
                          cf_read_report *rep, cf_error *err) {
    if (out) *out = NULL;
    if (!path || !out) return cf_fail(err, CF_ERR_INVALID, "cf_dataset_read: %s is NULL", !path ? "path" : "out");
    cf_dataset *ds = cf_dataset_create();
    if (!ds) return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory creating the dataset", path);
    cf_status st = read_into(ds, 0, path, opt, rep, err);
    if (st != CF_OK) {
        cf_dataset_destroy(&ds);
        return st;
    }
    *out = ds;
    return CF_OK;
}

cf_status cf_dataset_read_test(cf_dataset *ds, const char *path, const cf_read_options *opt,
                               cf_read_report *rep, cf_error *err) {
    if (!ds || !path)
        return cf_fail(err, CF_ERR_INVALID, "cf_dataset_read_test: %s is NULL", !ds ? "ds" : "path");
    return read_into(ds, 1, path, opt, rep, err);
}
