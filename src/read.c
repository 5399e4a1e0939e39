/*
 * read.c — the ratings file readers: delimited text and Matrix Market coordinate
 * files into a cf_dataset (cf_dataset_read, cf_dataset_read_test).
 *
 * Formats (CF_FORMAT_AUTO: Matrix Market when the first line starts with
 * "%%MatrixMarket", else delimited):
 *   - delimited: `user item rating [ignored columns...]`. The delimiter comes from the
 *     first data line: "::" if present (MovieLens ratings.dat), else tab (u.data), else
 *     comma (ratings.csv), else runs of spaces/tabs (LIBMF text). If that line's rating
 *     field is not a number it is a header and is skipped. Blank lines and '#' lines are
 *     skipped, CRLF is accepted, a UTF-8 byte-order mark at the start is ignored. IDs
 *     are byte tokens (spaces around them trimmed; in comma files one pair of double
 *     quotes stripped).
 *   - Matrix Market: "%%MatrixMarket matrix coordinate real|integer general", '%'
 *     comments, the size line "M N NNZ", then NNZ entries "i j v" (1-based, checked
 *     against M and N). The IDs are the indices in decimal ("3" stays "3"; a written
 *     "03" is the same index and becomes "3").
 *
 * cf_read_memory (read.h) runs the same parsers on bytes already in memory: the path
 * readers map their file and call it, so tests and fuzz targets that feed bytes exercise
 * exactly what files get.
 *
 * Speed: the file is mmap'ed (read() into a buffer for pipes and the like). Plain
 * tab/comma lines shorter than 32 bytes are split with two SSE2 compares (fast_line);
 * every other line goes through the general path (memchr for the line end, byte loops
 * for the fields), which is also the one that reports errors. Numbers go through the
 * hand-written parser of read_num.h; IDs through two caches before the hash map: the
 * previous line's user token (files are usually grouped by user) and, for canonical
 * decimal tokens below 2^23, a direct array from the number to its index.
 * Files of 2 MiB and more are parsed by cf_read_options.threads threads (0: all cores)
 * in chunks merged in file order, with the one-thread result (see "parallel reading"
 * below); the duplicate removal runs on segments of whole users, also deterministic.
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
#include "common.h"
#include "dataset.h"
#include "idmap.h"
#include "progress.h"
#include "read.h"
#include "read_num.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdatomic.h>
#include <time.h>
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

/* ------------------------------------------------------------------ ID interning */

/* slot[v] = index + 1 of the decimal token v (0: not seen yet); grows on demand. */
typedef struct num_cache {
    uint32_t *slot;
    size_t cap;
} num_cache;

#define NUM_CACHE_MAX ((size_t)1 << 23)

/* Index of a token in `m`, through the numeric cache when the token is a canonical
 * decimal (no sign, no leading zero) below NUM_CACHE_MAX. 0 ok, -1 out of memory. */
static inline int intern(cf_idmap *m, num_cache *c, const char *tok, size_t len, uint32_t *idx) {
    if (len <= 7 && (tok[0] != '0' || len == 1)) {
        size_t v = 0, k = 0;
        for (; k < len; k++) {
            unsigned d = (unsigned)(unsigned char)tok[k] - '0';
            if (d > 9) break;
            v = v * 10 + d;
        }
        if (k == len && v < NUM_CACHE_MAX) {
            if (v < c->cap && c->slot[v]) {
                *idx = c->slot[v] - 1;
                return 0;
            }
            if (cf_idmap_intern(m, tok, len, idx, NULL)) return -1;
            if (v >= c->cap) {
                size_t cap = c->cap ? c->cap : 1024;
                while (cap <= v) cap *= 2;
                uint32_t *s = realloc(c->slot, cap * sizeof *s);
                if (!s) return 0; /* the cache is an optimization: carry on without it */
                memset(s + c->cap, 0, (cap - c->cap) * sizeof *s);
                c->slot = s;
                c->cap = cap;
            }
            c->slot[v] = *idx + 1;
            return 0;
        }
    }
    return cf_idmap_intern(m, tok, len, idx, NULL);
}

/* ------------------------------------------------------------------ reader state */

struct chunk;
struct par;

typedef struct reader {
    const char *path;
    const cf_read_options *opt;
    cf_read_report *rep;
    cf_error *err;
    cf_dataset *ds;
    int part;
    int64_t line;              /* 1-based number of the current line */
    num_cache ucache, icache;
    const char *prev_user;     /* previous line's user token (points into the file) */
    size_t prev_user_len;
    uint32_t prev_user_idx;
    const char *base;          /* the first byte of the file (progress counts from it) */
    cf_progress pg;            /* phase "reading", in bytes (in a chunk: only its `next`, the
                                * byte where the chunk next publishes its progress) */
    cf_idmap *users, *items;   /* where IDs are interned: ds's maps, or a chunk's own */
    int master;                /* in a chunk: parsed by the calling thread, the one that
                                * calls the progress callback */
    struct chunk *ck;          /* NULL: the serial reader; else the chunk being parsed */
    struct par *par;           /* the parallel read's shared state (chunks only) */
} reader;

#define SHOW_MAX 80

/* Writes the first SHOW_MAX bytes of s as printable ASCII ("\t", "\r", "\\", "\xNN"
 * for the rest), with "..." when cut. */
static void escape_text(char *dst, size_t cap, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, n = len < SHOW_MAX ? len : SHOW_MAX;
    for (size_t k = 0; k < n && o + 5 < cap; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '\t') {
            dst[o++] = '\\', dst[o++] = 't';
        } else if (c == '\r') {
            dst[o++] = '\\', dst[o++] = 'r';
        } else if (c == '\\') {
            dst[o++] = '\\', dst[o++] = '\\';
        } else if (c >= 0x20 && c < 0x7f) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\', dst[o++] = 'x', dst[o++] = hex[c >> 4], dst[o++] = hex[c & 15];
        }
    }
    if (n < len && o + 4 <= cap) memcpy(dst + o, "...", 3), o += 3;
    dst[o < cap ? o : cap - 1] = '\0';
}

/* A malformed line: skipped and counted (returns 0) with skip_bad_lines, else the
 * CF_ERR_PARSE "FILE:LINE: reason: text" error (returns -1). */
static int chunk_bad_line(reader *r, const char *ls, size_t ll, const char *reason);

/* rep->first_bad = "FILE:LINE: reason", cut to the field (it is a summary). */
static void set_first_bad(cf_read_report *rep, const char *path, int64_t line, const char *reason) {
    char *fb = rep->first_bad;
    size_t cap = sizeof rep->first_bad;
    int n = snprintf(fb, cap, "%s:%lld: ", path, (long long)line);
    if (n >= 0 && (size_t)n < cap) {
        size_t room = cap - (size_t)n - 1, len = strlen(reason);
        memcpy(fb + n, reason, len < room ? len : room);
        fb[(size_t)n + (len < room ? len : room)] = '\0';
    }
}

static int bad_line(reader *r, const char *ls, size_t ll, const char *reason) {
    if (r->ck) return chunk_bad_line(r, ls, ll, reason);
    if (r->opt->skip_bad_lines) {
        if (r->rep->skipped++ == 0) set_first_bad(r->rep, r->path, r->line, reason);
        return 0;
    }
    char shown[SHOW_MAX * 4 + 8];
    escape_text(shown, sizeof shown, ls, ll);
    cf_fail(r->err, CF_ERR_PARSE, "%s:%lld: %s: %s", r->path, (long long)r->line, reason, shown);
    return -1;
}

/* A structural error that skip_bad_lines does not skip. */
static cf_status fatal_line(reader *r, const char *ls, size_t ll, const char *reason) {
    char shown[SHOW_MAX * 4 + 8];
    escape_text(shown, sizeof shown, ls, ll);
    return cf_fail(r->err, CF_ERR_PARSE, "%s:%lld: %s: %s", r->path, (long long)r->line, reason, shown);
}

/* The progress callback asked to stop at byte `at`. */
static cf_status cancelled(reader *r, int64_t at) {
    return cf_fail(r->err, CF_ERR_INTERRUPTED, "reading %s: cancelled at byte %lld", r->path, (long long)at);
}

static cf_status chunk_progress(reader *r, int64_t at);

/* At the start of each line: the progress call (serial) or the chunk's publication of
 * its progress (parallel) when its point is reached; one compare otherwise. */
#define PROGRESS_AT(r, p)                                                        \
    do {                                                                         \
        int64_t at_ = (int64_t)((p) - (r)->base);                                \
        if (at_ >= (r)->pg.next) {                                               \
            if ((r)->ck) {                                                       \
                cf_status s_ = chunk_progress((r), at_);                         \
                if (s_) return s_;                                               \
            } else if (cf_progress_call(&(r)->pg, at_)) {                        \
                return cancelled((r), at_);                                      \
            }                                                                    \
        }                                                                        \
    } while (0)

static cf_status chunk_nomem(reader *r);

static cf_status nomem(reader *r) {
    if (r->ck) return chunk_nomem(r);
    return cf_fail(r->err, CF_ERR_NOMEM, "%s:%lld: out of memory storing the ratings", r->path,
                   (long long)r->line);
}

static int chunk_push(reader *r, uint32_t u, uint32_t i, float v);

/* Appends a rating in the reader's indices: to ds, or to the chunk's own triplets. */
static inline int push_rating(reader *r, uint32_t u, uint32_t i, float v) {
    return r->ck ? chunk_push(r, u, i, v) : cf_dataset_push(r->ds, u, i, v, r->part);
}

/* Interns user and item tokens and appends the rating. 0 ok, -1 out of memory. */
static inline int add_rating(reader *r, const char *ut, size_t ul, const char *it, size_t il, float v) {
    uint32_t u, i;
    if (r->prev_user && ul == r->prev_user_len && memcmp(ut, r->prev_user, ul) == 0) {
        u = r->prev_user_idx;
    } else {
        if (intern(r->users, &r->ucache, ut, ul, &u)) return -1;
        r->prev_user = ut, r->prev_user_len = ul, r->prev_user_idx = u;
    }
    if (intern(r->items, &r->icache, it, il, &i)) return -1;
    return push_rating(r, u, i, v);
}

/* Next line of [p, end): sets *ls and *ll to the line without its '\n' and trailing
 * whitespace ('\r', ' ', '\t'), returns the start of the following line. */
static inline const char *next_line(const char *p, const char *end, const char **ls, size_t *ll,
                                    size_t *raw_len) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    *raw_len = (size_t)(le - p);
    while (le > p && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t')) le--;
    *ls = p;
    *ll = (size_t)(le - p);
    return nl ? nl + 1 : end;
}

#define MAX_ID_LEN 65535 /* cf_idmap's limit on a token */

/* ------------------------------------------------------------------ delimited text */

enum delim { D_COLONS, D_TAB, D_COMMA, D_SPACE };
static const char *const delim_text[] = {"::", "\t", ",", " "};

static enum delim detect_delim(const char *s, size_t n) {
    int tab = 0, comma = 0;
    for (size_t k = 0; k < n; k++) {
        if (s[k] == ':' && k + 1 < n && s[k + 1] == ':') return D_COLONS;
        tab |= s[k] == '\t';
        comma |= s[k] == ',';
    }
    return tab ? D_TAB : comma ? D_COMMA : D_SPACE;
}

/* 1 when the line holds any separator the delimited reader knows. */
static int has_separator(const char *s, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (s[k] == '\t' || s[k] == ',' || s[k] == ' ' || (s[k] == ':' && k + 1 < n && s[k + 1] == ':')) return 1;
    return 0;
}

typedef struct fields {
    const char *s[3];
    size_t n[3];
    int count;           /* fields found, at most 3 */
    const char *error;   /* a quoting error, or NULL */
} fields;

/* Trims spaces around [*s, *s + *n) and, for comma files, one pair of double quotes. */
static inline void trim_field(const char **s, size_t *n, int quotes) {
    const char *a = *s, *b = *s + *n;
    while (a < b && a[0] == ' ') a++;
    while (b > a && b[-1] == ' ') b--;
    if (quotes && b - a >= 2 && a[0] == '"' && b[-1] == '"') a++, b--;
    *s = a;
    *n = (size_t)(b - a);
}

/* cf_idmap keeps tokens NUL-terminated, so a NUL inside an ID would never match itself:
 * a NUL byte in the first three fields is an error. */
#define NUL_FIELD "NUL byte in a field"

/* Splits a line (non-empty, no trailing whitespace) into its first three fields. */
static inline void split_fields(const char *p, const char *e, enum delim d, fields *f) {
    f->count = 0;
    f->error = NULL;
    if (d == D_SPACE) {
        while (f->count < 3) {
            while (p < e && (*p == ' ' || *p == '\t')) p++;
            if (p == e) return;
            const char *t = p;
            while (p < e && *p != ' ' && *p != '\t' && *p != '\0') p++;
            if (p < e && *p == '\0') {
                f->error = NUL_FIELD;
                return;
            }
            f->s[f->count] = t;
            f->n[f->count++] = (size_t)(p - t);
        }
        return;
    }
    const char c = d == D_COLONS ? ':' : d == D_TAB ? '\t' : ',';
    for (;;) {
        const char *t = p;
        if (d == D_COMMA) {
            /* a quoted field may hold commas: skip to its closing quote first */
            const char *q = t;
            while (q < e && *q == ' ') q++;
            if (q < e && *q == '"') {
                const char *close = memchr(q + 1, '"', (size_t)(e - q - 1));
                if (!close) {
                    f->error = "unterminated quoted field";
                    return;
                }
                if (memchr(q + 1, '\0', (size_t)(close - q - 1))) { /* the scan below starts after it */
                    f->error = NUL_FIELD;
                    return;
                }
                p = close + 1;
            }
        }
        if (d == D_COLONS) {
            while (p < e && !(p[0] == ':' && p + 1 < e && p[1] == ':') && *p != '\0') p++;
        } else {
            while (p < e && *p != c && *p != '\0') p++;
        }
        if (p < e && *p == '\0') {
            f->error = NUL_FIELD;
            return;
        }
        f->s[f->count] = t;
        f->n[f->count] = (size_t)(p - t);
        trim_field(&f->s[f->count], &f->n[f->count], d == D_COMMA);
        f->count++;
        if (f->count == 3 || p == e) return;
        p += d == D_COLONS ? 2 : 1;
    }
}

#if defined(__SSE2__)
#include <emmintrin.h>
#define HAVE_FAST_LINE 1

/* Bit k set where the 32 bytes a|b hold c. */
static inline uint32_t eq_mask32(__m128i a, __m128i b, char c) {
    const __m128i v = _mm_set1_epi8(c);
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, v)) |
           (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, v)) << 16;
}

/* The common line of a tab or comma file, "u<d>i<d>r[<d>ignored]\n", found with two
 * 16-byte compares instead of byte loops (32 bytes at p must be readable). Takes only
 * lines the general path would split the same way: shorter than 32 bytes and max_line,
 * no space, CR, NUL or quote (nor tab in comma files), not starting with '#', three
 * non-empty fields. Fills f and returns the line length without its '\n', or -1 for
 * "use the general path". */
static inline int fast_line(const char *p, char d, size_t max_line, fields *f) {
    const __m128i a = _mm_loadu_si128((const __m128i *)p), b = _mm_loadu_si128((const __m128i *)(p + 16));
    uint32_t nl = eq_mask32(a, b, '\n');
    if (!nl) return -1;
    int len = __builtin_ctz(nl);
    uint32_t in = (1u << len) - 1;
    uint32_t special = eq_mask32(a, b, ' ') | eq_mask32(a, b, '\r') | eq_mask32(a, b, '\0') | eq_mask32(a, b, '"');
    if (d == ',') special |= eq_mask32(a, b, '\t');
    if ((special & in) || (size_t)len > max_line || p[0] == '#') return -1;
    uint32_t dm = eq_mask32(a, b, d) & in;
    if (!dm) return -1;
    int d1 = __builtin_ctz(dm);
    dm &= dm - 1;
    if (!dm) return -1;
    int d2 = __builtin_ctz(dm);
    dm &= dm - 1;
    int d3 = dm ? __builtin_ctz(dm) : len;
    if (d1 == 0 || d2 == d1 + 1 || d3 == d2 + 1) return -1; /* an empty field */
    f->s[0] = p, f->n[0] = (size_t)d1;
    f->s[1] = p + d1 + 1, f->n[1] = (size_t)(d2 - d1 - 1);
    f->s[2] = p + d2 + 1, f->n[2] = (size_t)(d3 - d2 - 1);
    f->count = 3;
    return len;
}
#endif

/* The reason for a line over max_line, naming its longest field (user ID, item ID or
 * rating: usually the culprit), e.g. "line longer than max_line (65536 bytes, this one
 * 65540): its longest field is the user ID (65536 bytes)". */
static void long_line_reason(char *why, size_t cap, const char *ls, size_t ll, size_t raw, size_t max_line,
                             enum delim d) {
    static const char *const names[3] = {"user ID", "item ID", "rating"};
    int n = snprintf(why, cap, "line longer than max_line (%zu bytes, this one %zu)", max_line, raw);
    fields f;
    split_fields(ls, ls + ll, d, &f);
    if (f.error || f.count == 0 || n < 0 || (size_t)n >= cap) return;
    int longest = 0;
    for (int k = 1; k < f.count; k++)
        if (f.n[k] > f.n[longest]) longest = k;
    snprintf(why + n, cap - (size_t)n, ": its longest field is the %s (%zu bytes)", names[longest], f.n[longest]);
}

/* Reads the delimited lines of [p, end). *have_delim and *d: whether the delimiter is
 * known yet and which (in, out). With `head`, stops after the line that fixes the
 * delimiter (the first data line, where a header is recognized) and sets *stop to the
 * next line: what follows can be parsed in chunks. */
static cf_status parse_delim(reader *r, const char *p, const char *end, int *have_delim_io, enum delim *d_io,
                             int head, const char **stop) {
    cf_read_report *rep = r->rep;
    const size_t max_line = r->opt->max_line;
    int have_delim = *have_delim_io;
    enum delim d = *d_io;
    fields f;
    if (stop) *stop = end;
    while (p < end) {
        if (head && have_delim) {
            *stop = p;
            break;
        }
        PROGRESS_AT(r, p);
#ifdef HAVE_FAST_LINE
        if (have_delim && (d == D_TAB || d == D_COMMA) && end - p >= 32) {
            int len = fast_line(p, d == D_TAB ? '\t' : ',', max_line, &f);
            float v;
            if (len >= 0 && cf_parse_float(f.s[2], f.n[2], &v) == CF_NUM_OK) {
                r->line++;
                if (add_rating(r, f.s[0], f.n[0], f.s[1], f.n[1], v)) return nomem(r);
                p += len + 1;
                continue;
            }
            /* anything unusual: the general path below reads the same line */
        }
#endif
        const char *ls;
        size_t ll, raw;
        p = next_line(p, end, &ls, &ll, &raw);
        r->line++;
        if (raw > max_line) {
            char why[160];
            long_line_reason(why, sizeof why, ls, ll, raw, max_line, have_delim ? d : detect_delim(ls, ll));
            if (bad_line(r, ls, ll, why)) return CF_ERR_PARSE;
            continue;
        }
        /* blank (only whitespace) and '#' comment lines */
        size_t lead = 0;
        while (lead < ll && (ls[lead] == ' ' || ls[lead] == '\t')) lead++;
        if (lead == ll || ls[lead] == '#') continue;

        int first = !have_delim;
        if (first) {
            d = detect_delim(ls, ll);
            have_delim = 1;
            *have_delim_io = 1;
            *d_io = d;
            memcpy(rep->delimiter, delim_text[d], strlen(delim_text[d]) + 1);
        }
        split_fields(ls, ls + ll, d, &f);
        char id_why[96];
        const char *why = f.error;
        if (!why) {
            const char *other = memchr(ls, ';', ll) ? "';'" : memchr(ls, '|', ll) ? "'|'" : NULL;
            if (f.count < 2 && !has_separator(ls, ll) && (first || other)) {
                /* "u1;i1;4": name the problem, not its symptom ("missing item field") */
                snprintf(id_why, sizeof id_why, "no supported separator (tab, comma, space, ::)%s%s",
                         other ? "; found " : "", other ? other : "");
                why = id_why;
            } else if (f.count < 2) why = "missing item field";
            else if (f.count < 3 || f.n[2] == 0) why = "missing rating field";
            else if (f.n[0] == 0) why = "empty user ID";
            else if (f.n[1] == 0) why = "empty item ID";
            else if (f.n[0] > MAX_ID_LEN || f.n[1] > MAX_ID_LEN) {
                snprintf(id_why, sizeof id_why, "%s ID longer than %d bytes (%zu)", f.n[0] > MAX_ID_LEN ? "user" : "item",
                         MAX_ID_LEN, f.n[0] > MAX_ID_LEN ? f.n[0] : f.n[1]);
                why = id_why;
            }
        }
        float v = 0.0f;
        if (!why) {
            int st = cf_parse_float(f.s[2], f.n[2], &v);
            if (st == CF_NUM_SYNTAX && first) {
                rep->header = 1; /* e.g. "userId,movieId,rating,timestamp" */
                continue;
            }
            if (st == CF_NUM_SYNTAX) why = "rating is not a number";
            else if (st == CF_NUM_NONFINITE) why = "rating is not finite (NaN, Inf or beyond the float range)";
        }
        if (why) {
            if (bad_line(r, ls, ll, why)) return CF_ERR_PARSE;
            continue;
        }
        if (add_rating(r, f.s[0], f.n[0], f.s[1], f.n[1], v)) return nomem(r);
    }
    return CF_OK;
}

/* ------------------------------------------------------------------ public tokenizer */

int cf_line_split(const char *line, size_t len, size_t max_line, int *delim, cf_line_fields *out, char *why,
                  size_t why_cap) {
    memset(out, 0, sizeof *out);
    if (why && why_cap) why[0] = 0;
    if (!max_line) max_line = 65536;
    const char *ls;
    size_t ll, raw;
    next_line(line, line + len, &ls, &ll, &raw);
    enum delim d = *delim >= 0 && *delim <= D_SPACE ? (enum delim)*delim : detect_delim(ls, ll);
    if (raw > max_line) {
        if (why) long_line_reason(why, why_cap, ls, ll, raw, max_line, d);
        return -1;
    }
    size_t lead = 0;
    while (lead < ll && (ls[lead] == ' ' || ls[lead] == '\t')) lead++;
    if (lead == ll || ls[lead] == '#') return 0;
    *delim = (int)d;
    fields f;
    split_fields(ls, ls + ll, d, &f);
    if (f.error) {
        if (why) snprintf(why, why_cap, "%s", f.error);
        return -1;
    }
    for (int k = 0; k < f.count; k++) {
        if (k < 2 && f.n[k] > MAX_ID_LEN) {
            if (why) snprintf(why, why_cap, "%s ID longer than %d bytes (%zu)", k ? "item" : "user", MAX_ID_LEN, f.n[k]);
            return -1;
        }
        out->field[k] = f.s[k], out->len[k] = f.n[k];
    }
    out->count = f.count;
    return 1;
}

char *cf_text_show(char *dst, size_t cap, const char *s, size_t len) {
    if (!cap) return dst;
    escape_text(dst, cap, s, len);
    return dst;
}

/* ------------------------------------------------------------------ Matrix Market */

/* Splits on runs of spaces/tabs into at most `max` tokens; returns the number of
 * tokens, or max + 1 when there are more. */
static int split_ws(const char *p, const char *e, const char **ts, size_t *tn, int max) {
    int n = 0;
    for (;;) {
        while (p < e && (*p == ' ' || *p == '\t')) p++;
        if (p == e) return n;
        if (n == max) return max + 1;
        const char *t = p;
        while (p < e && *p != ' ' && *p != '\t') p++;
        ts[n] = t;
        tn[n++] = (size_t)(p - t);
    }
}

static int word_is(const char *t, size_t n, const char *w) {
    return n == strlen(w) && strncasecmp(t, w, n) == 0;
}

/* Unsigned decimal (digits only, < 2^63). 0 ok, -1 not one. */
static int parse_u64(const char *t, size_t n, uint64_t *out) {
    if (n == 0 || n > 18) return -1;
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned d = (unsigned)(unsigned char)t[k] - '0';
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Checks the banner line: "%%MatrixMarket matrix coordinate real|integer general". */
static cf_status mm_banner(reader *r, const char *ls, size_t ll, int *integer) {
    const char *t[6];
    size_t n[6];
    int nt = split_ws(ls, ls + ll, t, n, 5);
    if (nt < 1 || n[0] < 14 || strncasecmp(t[0], "%%MatrixMarket", 14) != 0 || n[0] != 14)
        return fatal_line(r, ls, ll,
                          "bad Matrix Market banner: expected '%%MatrixMarket matrix coordinate real general'");
    if (nt != 5)
        return fatal_line(r, ls, ll,
                          "bad Matrix Market banner: expected 5 words '%%MatrixMarket matrix coordinate "
                          "real|integer general'");
    char why[160];
    const char *bad = NULL, *want = NULL;
    int which = 0;
    if (!word_is(t[1], n[1], "matrix")) which = 1, bad = "object", want = "matrix";
    else if (!word_is(t[2], n[2], "coordinate")) which = 2, bad = "format", want = "coordinate";
    else if (!word_is(t[3], n[3], "real") && !word_is(t[3], n[3], "integer"))
        which = 3, bad = "field", want = "real or integer";
    else if (!word_is(t[4], n[4], "general")) which = 4, bad = "symmetry", want = "general";
    if (bad) {
        snprintf(why, sizeof why, "unsupported Matrix Market %s '%.*s' (supported: %s)", bad,
                 (int)(n[which] < 40 ? n[which] : 40), t[which], want);
        return fatal_line(r, ls, ll, why);
    }
    *integer = word_is(t[3], n[3], "integer");
    return CF_OK;
}

/* Interns index v by its decimal text, the ID of a Matrix Market row or column. */
static inline int mm_intern(cf_idmap *m, num_cache *c, uint64_t v, uint32_t *idx) {
    if (v < c->cap && c->slot[v]) { /* the usual case: seen before */
        *idx = c->slot[v] - 1;
        return 0;
    }
    char buf[24];
    int n = 24;
    do buf[--n] = (char)('0' + v % 10), v /= 10;
    while (v);
    return intern(m, c, buf + n, (size_t)(24 - n), idx);
}

typedef struct mm_state {
    int integer, have_size;
    uint64_t rows, cols, nnz; /* of the size line */
    uint64_t entries;         /* entry lines seen (bad ones included) */
} mm_state;

/* Reads Matrix Market lines of [p, end) with the state *m (in, out). `head`: [p, end) is
 * the whole file; reads the banner and stops after the size line (*stop: the next line),
 * so that the entries can be parsed in chunks. In a chunk m->nnz is UINT64_MAX (the
 * check against the size line's NNZ is the merge's) and m->entries counts the chunk's. */
static cf_status parse_mm(reader *r, const char *p, const char *end, mm_state *m, int head, const char **stop) {
    const size_t max_line = r->opt->max_line;
    const char *ls;
    size_t ll, raw;
    const int integer = m->integer;
    uint64_t rows = m->rows, cols = m->cols, nnz = m->nnz, entries = m->entries;
    int have_size = m->have_size;
    if (stop) *stop = end;

    if (head) {
        if (p == end) return cf_fail(r->err, CF_ERR_PARSE, "%s: empty file: no ratings", r->path);
        p = next_line(p, end, &ls, &ll, &raw);
        r->line++;
        if (raw > max_line) return fatal_line(r, ls, ll, "line longer than max_line");
        cf_status st = mm_banner(r, ls, ll, &m->integer);
        if (st) return st;
    }

    while (p < end) {
        if (head && have_size) {
            *stop = p;
            break;
        }
        PROGRESS_AT(r, p);
        p = next_line(p, end, &ls, &ll, &raw);
        r->line++;
        if (raw > max_line) {
            if (!have_size) return fatal_line(r, ls, ll, "line longer than max_line");
            char why[96];
            snprintf(why, sizeof why, "line longer than max_line (%zu bytes)", max_line);
            entries++;
            m->entries = entries;
            if (bad_line(r, ls, ll, why)) return CF_ERR_PARSE;
            continue;
        }
        size_t lead = 0;
        while (lead < ll && (ls[lead] == ' ' || ls[lead] == '\t')) lead++;
        if (lead == ll || ls[lead] == '%') continue;

        const char *t[3];
        size_t n[3];
        int nt = split_ws(ls, ls + ll, t, n, 3);
        if (!have_size) {
            if (nt != 3 || parse_u64(t[0], n[0], &rows) || parse_u64(t[1], n[1], &cols) ||
                parse_u64(t[2], n[2], &nnz))
                return fatal_line(r, ls, ll, "bad size line: expected 'M N NNZ' (three non-negative integers)");
            have_size = 1;
            m->have_size = 1, m->rows = rows, m->cols = cols, m->nnz = nnz;
            continue;
        }
        /* an entry "i j v" */
        char why[128];
        why[0] = '\0';
        uint64_t i = 0, j = 0;
        float v = 0.0f;
        if (entries >= nnz) {
            snprintf(why, sizeof why, "more entries than the size line's NNZ (%llu)", (unsigned long long)nnz);
        } else if (nt < 2) {
            snprintf(why, sizeof why, "missing column index");
        } else if (nt < 3) {
            snprintf(why, sizeof why, "missing value");
        } else if (nt > 3) {
            snprintf(why, sizeof why, "extra field after the value");
        } else if (parse_u64(t[0], n[0], &i) || i < 1 || i > rows) {
            snprintf(why, sizeof why, "row index '%.*s' outside 1..%llu (M of the size line)",
                     (int)(n[0] < 24 ? n[0] : 24), t[0], (unsigned long long)rows);
        } else if (parse_u64(t[1], n[1], &j) || j < 1 || j > cols) {
            snprintf(why, sizeof why, "column index '%.*s' outside 1..%llu (N of the size line)",
                     (int)(n[1] < 24 ? n[1] : 24), t[1], (unsigned long long)cols);
        } else {
            int ps = cf_parse_float(t[2], n[2], &v);
            if (ps == CF_NUM_SYNTAX) snprintf(why, sizeof why, "value is not a number");
            else if (ps == CF_NUM_NONFINITE)
                snprintf(why, sizeof why, "value is not finite (NaN, Inf or beyond the float range)");
            else if (integer && v != floorf(v))
                snprintf(why, sizeof why, "value is not an integer (the banner says integer)");
        }
        entries++;
        m->entries = entries;
        if (why[0]) {
            if (bad_line(r, ls, ll, why)) return CF_ERR_PARSE;
            continue;
        }
        uint32_t u, it;
        if (mm_intern(r->users, &r->ucache, i, &u) || mm_intern(r->items, &r->icache, j, &it) ||
            push_rating(r, u, it, v))
            return nomem(r);
    }
    return CF_OK;
}

/* The checks at the end of a Matrix Market file. */
static cf_status mm_finish(reader *r, const mm_state *m) {
    if (!m->have_size)
        return cf_fail(r->err, CF_ERR_PARSE, "%s:%lld: missing size line 'M N NNZ' after the banner", r->path,
                       (long long)r->line);
    if (m->entries < m->nnz)
        return cf_fail(r->err, CF_ERR_PARSE,
                       "%s:%lld: truncated body: the size line promises %llu entries, found %llu", r->path,
                       (long long)r->line, (unsigned long long)m->nnz, (unsigned long long)m->entries);
    return CF_OK;
}

/* ------------------------------------------------------------------ parallel reading
 *
 * After the serial head (delimited: the lines up to the first data line, which fixes
 * the delimiter and the header; Matrix Market: banner and size line) the body is cut
 * into chunks at line starts, four per thread (taken in turn), and each chunk is
 * parsed by the same parse_delim / parse_mm into its own ID maps and ratings (chunk-local indices),
 * counting its lines and noting its first bad line (local line number, reason, text).
 * The merge then runs in file order: the first chunk with an error gives the error
 * (its line = the lines of the head and of the chunks before it + its local line: the
 * first bad line of the file, with the same text as the serial reader's); else each
 * chunk's IDs are interned into the dataset's maps in the chunk's first-seen order,
 * chunk after chunk, which is exactly the serial reader's order (first occurrence in the
 * file). The first chunk interns straight into the dataset's maps and appends to it (it
 * continues the head); every other chunk stores its ratings in place, in slots of
 * ds->all sized by its line count, and they are turned into global indices in place (in
 * parallel) and moved together over the gaps left by lines without a rating. Hence
 * the ratings, ID order, report and messages do not depend on the number of threads
 * or on where the cuts fall. The one check that needs
 * a global count, Matrix Market's "more entries than NNZ", is made at the merge: when
 * it would fire, the body is read again serially (an error path).
 *
 * Progress: each chunk publishes the bytes it has parsed (every CHUNK_PUBLISH bytes, only
 * when there is a callback) into an atomic sum; the calling thread (omp thread 0) calls
 * the callback with that sum, so the callback runs on the caller's thread with done
 * non-decreasing, and it keeps doing so, polling, once its own chunks are parsed. A
 * cancel is seen by every chunk at its next publication. */

size_t cf_read_chunk_min = (size_t)1 << 20;
_Thread_local int cf_read_last_chunks;

#define CHUNK_PUBLISH ((int64_t)1 << 18)
#define CHUNKS_PER_THREAD 4

typedef struct chunk {
    const char *begin, *end;
    int direct;              /* the first chunk: IDs straight into the dataset's maps (they
                              * continue the head's, in file order) and ratings into ds */
    cf_idmap *users, *items; /* the other chunks' own IDs in first-seen order */
    int64_t base, cap;       /* its slots in ds->all: [base, base + cap), cap = its lines */
    int64_t n;               /* ratings stored there, in chunk-local indices */
    int64_t lines;           /* lines parsed (up to the bad one when it stopped) */
    mm_state mm;             /* Matrix Market: entries counts the chunk's entry lines */
    int64_t skipped, first_bad_line;
    char first_bad_reason[256];
    cf_status st;            /* CF_ERR_PARSE / CF_ERR_NOMEM at err_line, CF_ERR_INTERRUPTED */
    int64_t err_line;
    char err_text[SHOW_MAX * 4 + 300]; /* "reason: shown text" */
    int64_t published;       /* bytes of the chunk added to par.done */
} chunk;

typedef struct par {
    cf_progress *pg;         /* the read's phase "reading" (called by the calling thread only) */
    _Atomic int64_t done;    /* bytes parsed: the head and what the chunks published */
    _Atomic int cancel;
    _Atomic int finished;    /* chunks done */
} par;

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
    escape_text(shown, sizeof shown, ls, ll);
    c->st = CF_ERR_PARSE;
    c->err_line = r->line;
    snprintf(c->err_text, sizeof c->err_text, "%s: %s", reason, shown);
    return -1;
}

static cf_status chunk_nomem(reader *r) {
    r->ck->st = CF_ERR_NOMEM;
    r->ck->err_line = r->line;
    return CF_ERR_NOMEM;
}

static int chunk_push(reader *r, uint32_t u, uint32_t i, float v) {
    chunk *c = r->ck;
    if (c->direct) return cf_dataset_push(r->ds, u, i, v, r->part);
    if (c->n == c->cap) return -1; /* cannot happen: a line holds at most one rating */
    int64_t o = c->base + c->n++;
    r->ds->all.u[o] = u, r->ds->all.i[o] = i, r->ds->all.r[o] = v;
    return 0;
}

/* The calling thread's progress call with the bytes parsed so far; non-zero: cancelled. */
static int master_progress(par *P) {
    int64_t d = atomic_load_explicit(&P->done, memory_order_relaxed);
    if (d < P->pg->total && cf_progress_at(P->pg, d)) {
        atomic_store(&P->cancel, 1);
        return 1;
    }
    return 0;
}

static void chunk_publish(reader *r, int64_t at) {
    chunk *c = r->ck;
    int64_t in = at - (int64_t)(c->begin - r->base);
    atomic_fetch_add_explicit(&r->par->done, in - c->published, memory_order_relaxed);
    c->published = in;
}

static cf_status chunk_progress(reader *r, int64_t at) {
    chunk_publish(r, at);
    r->pg.next = at + CHUNK_PUBLISH;
    if (atomic_load(&r->par->cancel) || (r->master && master_progress(r->par))) {
        r->ck->st = CF_ERR_INTERRUPTED;
        return CF_ERR_INTERRUPTED;
    }
    return CF_OK;
}

/* Parses chunk c like the serial reader would from its first line, into c's own maps. */
static void run_chunk(const reader *proto, chunk *c, par *P, int master, int mm, enum delim d, const mm_state *m0) {
    reader r;
    memset(&r, 0, sizeof r);
    r.path = proto->path, r.opt = proto->opt, r.rep = proto->rep, r.ds = proto->ds, r.part = proto->part;
    r.base = proto->base;
    r.ck = c, r.par = P, r.master = master;
    r.users = c->direct ? proto->users : c->users, r.items = c->direct ? proto->items : c->items;
    r.pg.next = proto->pg.fn ? (int64_t)(c->begin - r.base) + CHUNK_PUBLISH : INT64_MAX;
    cf_status st;
    if (mm) {
        c->mm = *m0;
        c->mm.nnz = UINT64_MAX;
        c->mm.entries = 0;
        st = parse_mm(&r, c->begin, c->end, &c->mm, 0, NULL);
    } else {
        int have = 1;
        st = parse_delim(&r, c->begin, c->end, &have, &d, 0, NULL);
    }
    if (st && !c->st) c->st = st;
    c->lines = r.line;
    free(r.ucache.slot);
    free(r.icache.slot);
    if (!c->st && proto->pg.fn) chunk_publish(&r, (int64_t)(c->end - r.base));
}

static int read_threads(const cf_read_options *opt) {
    int t = opt->threads > 0 ? opt->threads : omp_get_num_procs();
    return t < 1 ? 1 : t;
}

/* Interns chunk c's IDs into the dataset's maps in c's order; fills map tables (NULL:
 * not wanted). 0 ok, -1 out of memory. */
static int merge_ids(cf_idmap *into, const cf_idmap *from, uint32_t *table) {
    int64_t n = cf_idmap_size(from);
    for (int64_t k = 0; k < n; k++) {
        size_t len;
        const char *name = cf_idmap_name(from, (uint32_t)k, &len);
        uint32_t g;
        if (cf_idmap_intern(into, name, len, &g, NULL)) return -1;
        if (table) table[k] = g;
    }
    return 0;
}

/* The body [p, end) after the head: in chunks when it is large enough and there are
 * threads, else serially (exactly the serial reader). */
static cf_status parse_body(reader *r, const char *p, const char *end, int mm, int have_delim, enum delim d,
                            mm_state *m) {
    size_t len = (size_t)(end - p), minc = cf_read_chunk_min ? cf_read_chunk_min : 1;
    /* CHUNKS_PER_THREAD chunks a thread, taken in turn: on a machine shared with other
     * jobs a thread that gets less CPU parses fewer of them */
    int team = read_threads(r->opt), n = team * CHUNKS_PER_THREAD;
    if ((size_t)n > len / minc) n = (int)(len / minc);
    if (team > n) team = n;
    cf_read_last_chunks = team < 2 || (!mm && !have_delim) ? 1 : n;
    if (team < 2 || (!mm && !have_delim))
        return mm ? parse_mm(r, p, end, m, 0, NULL) : parse_delim(r, p, end, &have_delim, &d, 0, NULL);
    chunk *ck = calloc((size_t)n, sizeof *ck);
    if (!ck) return nomem(r);
    cf_status st = CF_OK;
    const char *at = p;
    for (int k = 0; k < n; k++) {
        ck[k].begin = at;
        const char *q = p + len / (size_t)n * (size_t)(k + 1);
        if (k == n - 1 || q < at) q = k == n - 1 ? end : at;
        const char *nl = q < end ? memchr(q, '\n', (size_t)(end - q)) : NULL;
        at = k == n - 1 ? end : nl ? nl + 1 : end;
        ck[k].end = at;
        if (k == 0) {
            ck[k].direct = 1;
            continue;
        }
        ck[k].users = cf_idmap_create();
        ck[k].items = cf_idmap_create();
        if (!ck[k].users || !ck[k].items) st = CF_ERR_NOMEM;
    }
    const int64_t n0 = r->ds->all.n; /* the ratings before the body (the first chunk's follow) */
    /* the maps before the body: Matrix Market's "more entries than NNZ" re-reads the body
     * serially from them (the first chunk interns straight into them; fuzz_mm found that) */
    const int64_t users0 = cf_idmap_size(r->users), items0 = cf_idmap_size(r->items);
    par P = {.pg = &r->pg};
    atomic_init(&P.done, (int64_t)(p - r->base));
    atomic_init(&P.cancel, 0);
    atomic_init(&P.finished, 0);
    _Atomic int next_chunk;
    atomic_init(&next_chunk, 0);
    /* Each chunk's slots in ds->all: as many as its lines (a line holds at most one
     * rating), so chunks store their ratings in place and only gaps need moving. */
    if (!st) {
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
        for (int k = 0; k < n; k++) {
            int64_t c = 0;
            for (const char *q = ck[k].begin; q < ck[k].end; q++) {
                q = memchr(q, '\n', (size_t)(ck[k].end - q));
                if (!q) break;
                c++;
            }
            ck[k].cap = c + (ck[k].end > ck[k].begin && ck[k].end[-1] != '\n');
        }
        int64_t at_slot = n0;
        for (int k = 0; k < n; k++) ck[k].base = at_slot, at_slot += ck[k].cap;
        if (cf_dataset_reserve(r->ds, at_slot)) st = CF_ERR_NOMEM;
    }
    if (!st) {
#pragma omp parallel num_threads(team)
        {
            int me = omp_get_thread_num();
            for (int k; (k = atomic_fetch_add(&next_chunk, 1)) < n;) {
                run_chunk(r, &ck[k], &P, me == 0, mm, d, m);
                atomic_fetch_add(&P.finished, 1);
            }
            if (me == 0 && r->pg.fn) {
                while (atomic_load(&P.finished) < n && !atomic_load(&P.cancel)) {
                    struct timespec ts = {0, 1000000};
                    nanosleep(&ts, NULL);
                    master_progress(&P);
                }
            }
        }
    }
    int bad = -1, fallback = 0;
    int64_t line0 = r->line, lines = 0;
    if (st) {
        st = nomem(r);
        goto out;
    }
    if (atomic_load(&P.cancel)) {
        st = cancelled(r, r->pg.last);
        goto out;
    }
    for (int k = 0; k < n && bad < 0; k++)
        if (ck[k].st) bad = k;
    if (mm) { /* "more entries than NNZ" comes first when the entries up to the bad line pass NNZ */
        uint64_t e = m->entries;
        for (int k = 0; k <= (bad < 0 ? n - 1 : bad); k++) e += ck[k].mm.entries;
        if (e > m->nnz) fallback = 1;
    }
    if (fallback) {
        for (int k = 0; k < n; k++) {
            cf_idmap_destroy(&ck[k].users);
            cf_idmap_destroy(&ck[k].items);
        }
        free(ck);
        r->ds->all.n = n0;
        cf_idmap_truncate(r->users, users0), cf_idmap_truncate(r->items, items0);
        return parse_mm(r, p, end, m, 0, NULL); /* the serial reader gives the error in order */
    }
    if (bad >= 0) { /* the first bad line of the file; the maps get the IDs seen before it */
        for (int k = 0; k <= bad; k++) {
            if (!ck[k].direct && (merge_ids(r->users, ck[k].users, NULL) || merge_ids(r->items, ck[k].items, NULL)))
                break;
            if (k < bad) lines += ck[k].lines;
        }
        r->line = line0 + lines + ck[bad].err_line;
        if (ck[bad].st == CF_ERR_PARSE)
            st = cf_fail(r->err, CF_ERR_PARSE, "%s:%lld: %s", r->path, (long long)r->line, ck[bad].err_text);
        else
            st = nomem(r);
        goto out;
    }
    for (int k = 0; k < n; k++) {
        lines += ck[k].lines;
        if (ck[k].skipped && r->rep->skipped == 0)
            set_first_bad(r->rep, r->path, line0 + lines - ck[k].lines + ck[k].first_bad_line, ck[k].first_bad_reason);
        r->rep->skipped += ck[k].skipped;
        if (mm) m->entries += ck[k].mm.entries;
    }
    r->line = line0 + lines;
    {
        cf_dataset *ds = r->ds;
        int64_t from = ds->all.n; /* after the first chunk's ratings */
        uint32_t **ut = calloc((size_t)n, sizeof *ut), **it = calloc((size_t)n, sizeof *it);
        int fail = !ut || !it;
        for (int k = 1; k < n && !fail; k++) {
            ut[k] = malloc(((size_t)cf_idmap_size(ck[k].users) + 1) * sizeof **ut);
            it[k] = malloc(((size_t)cf_idmap_size(ck[k].items) + 1) * sizeof **it);
            if (!ut[k] || !it[k] || merge_ids(r->users, ck[k].users, ut[k]) || merge_ids(r->items, ck[k].items, it[k]))
                fail = 1;
        }
        if (!fail) { /* local → global indices in place, then the chunks moved together */
            const uint8_t part = (uint8_t)(r->part != 0);
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
            for (int k = 1; k < n; k++) {
                const uint32_t *um = ut[k], *im = it[k];
                uint32_t *u = ds->all.u + ck[k].base, *i = ds->all.i + ck[k].base;
                for (int64_t j = 0; j < ck[k].n; j++) u[j] = um[u[j]], i[j] = im[i[j]];
                memset(ds->is_test + ck[k].base, part, (size_t)ck[k].n);
            }
            int64_t o = from;
            for (int k = 1; k < n; k++) {
                if (o != ck[k].base && ck[k].n) {
                    memmove(ds->all.u + o, ds->all.u + ck[k].base, (size_t)ck[k].n * sizeof *ds->all.u);
                    memmove(ds->all.i + o, ds->all.i + ck[k].base, (size_t)ck[k].n * sizeof *ds->all.i);
                    memmove(ds->all.r + o, ds->all.r + ck[k].base, (size_t)ck[k].n * sizeof *ds->all.r);
                    memmove(ds->is_test + o, ds->is_test + ck[k].base, (size_t)ck[k].n);
                }
                o += ck[k].n;
            }
            ds->all.n = o;
        }
        for (int k = 0; k < n && ut && it; k++) free(ut[k]), free(it[k]);
        free(ut);
        free(it);
        if (fail) st = cf_fail(r->err, CF_ERR_NOMEM, "%s: out of memory storing the ratings", r->path);
    }
out:
    for (int k = 0; k < n; k++) {
        cf_idmap_destroy(&ck[k].users);
        cf_idmap_destroy(&ck[k].items);
    }
    free(ck);
    return st;
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

/* The readers proper, on bytes in memory (see read.h). On failure ds->all is cut back to
 * the ratings it had before, so no half-read file remains; IDs interned on the way stay
 * in the maps (a map entry without ratings is harmless: it is an ID with no ratings,
 * like an unseen test ID). */
static cf_status read_bytes(cf_dataset *ds, int part, const char *name, const char *data, size_t size,
                            const cf_read_options *opt, cf_read_report *rep, cf_error *err) {
    rep->bytes = (int64_t)size;
    cf_read_last_chunks = 0;
    if (opt->format == CF_FORMAT_AUTO && cf_bin_is(data, size)) return read_binary(ds, part, name, data, size, opt, rep, err);
    const char *p = data, *end = data + size;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3; /* UTF-8 byte-order mark */
    cf_format fmt = opt->format;
    if (fmt == CF_FORMAT_AUTO)
        fmt = (end - p >= 14 && strncasecmp(p, "%%MatrixMarket", 14) == 0) ? CF_FORMAT_MM : CF_FORMAT_DELIM;
    rep->format = fmt;

    reader r = {.path = name, .opt = opt, .rep = rep, .err = err, .ds = ds, .part = part, .base = data,
                .users = ds->users, .items = ds->items};
    const int64_t from = ds->all.n;
    cf_status st = CF_OK;
    if (cf_progress_start(&r.pg, opt->progress, opt->progress_user, "reading", (int64_t)size))
        st = cancelled(&r, 0);
    if (st == CF_OK) {
        const char *body = end;
        if (fmt == CF_FORMAT_MM) {
            mm_state m = {0};
            st = parse_mm(&r, p, end, &m, 1, &body);
            if (st == CF_OK) st = parse_body(&r, body, end, 1, 0, D_SPACE, &m);
            if (st == CF_OK) st = mm_finish(&r, &m);
        } else {
            int have = 0;
            enum delim d = D_SPACE;
            st = parse_delim(&r, p, end, &have, &d, 1, &body);
            if (st == CF_OK) st = parse_body(&r, body, end, 0, have, d, NULL);
        }
    }
    if (st == CF_OK && cf_progress_end(&r.pg)) st = cancelled(&r, (int64_t)size);
    rep->lines = r.line;
    free(r.ucache.slot);
    free(r.icache.slot);
    if (st == CF_OK && ds->all.n == from) {
        if (rep->skipped)
            st = cf_fail(err, CF_ERR_PARSE, "%s: no ratings: all %lld data lines are malformed; first: %s", name,
                         (long long)rep->skipped, rep->first_bad);
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
