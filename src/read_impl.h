/*
 * read_impl.h — internals of the ratings readers, shared by their files: the reader
 * state, ID interning, the helpers every parse loop calls on every line, and the few
 * functions one file of the reader calls in another. Private to these files:
 *
 *   read.c       the driver (options, binary-format detection, cf_read_memory,
 *                cf_dataset_read, cf_dataset_read_test), the file in memory, and what a
 *                bad line does (error, or skipped and counted; in a chunk, noted for the merge)
 *   read_text.c  delimited text (with its SSE2 fast path) and the public tokenizer
 *                (cf_line_split, cf_text_show)
 *   read_mm.c    Matrix Market coordinate files
 *   read_par.c   parallel reading: the body cut into chunks at line starts, each parsed
 *                into its own ID maps, merged in file order
 *
 * One parse loop per format (cf_read_parse_delim, cf_read_parse_mm) serves both the serial
 * reader and every chunk of a parallel read: a reader with ck == NULL interns into the
 * dataset's maps, appends to ds and reports into rep and err; one with a chunk writes
 * into the chunk, which the merge (read_par.c) turns into what the serial reader would
 * have done. The per-line helpers (intern, push_rating, add_rating, next_line,
 * PROGRESS_AT) are static inline here so that each parse loop inlines them as it did
 * when the reader was one file.
 */
#ifndef CF_READ_IMPL_H
#define CF_READ_IMPL_H

#include "common.h"
#include "dataset.h"
#include "idmap.h"
#include "progress.h"
#include "read.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ ID interning */

/* slot[v] = index + 1 of the decimal token v (0: not seen yet); grows on demand. */
typedef struct num_cache {
    uint32_t *slot;
    size_t cap;
} num_cache;

#define NUM_CACHE_MAX ((size_t)1 << 23)

/* A chunk's own IDs of one kind (user or item) in first-seen order (read_par.c): entry
 * j is a canonical decimal v below NUM_CACHE_MAX as v | ID_NUM, or the index of a token
 * in the chunk's map; the chunk's ratings carry j. Decimal IDs, the usual kind, never
 * enter the chunk's map: in a file not grouped by user every chunk sees almost every
 * user, and hashing each of them into every chunk's map, then merging every chunk's map
 * into the dataset's, cost more than one thread reading the file. */
#define ID_NUM ((uint32_t)1 << 31)
typedef struct id_seq {
    uint32_t *e;
    int64_t n, cap;
    uint32_t *pos; /* chunk map index → its entry */
    int64_t pos_cap;
} id_seq;

/* Grows a uint32 array to hold index `need` (zeroing what is new). 0 ok, -1 out of memory. */
static inline int grow_u32(uint32_t **a, int64_t *cap, int64_t need) {
    if (need < *cap) return 0;
    int64_t c = *cap ? *cap : 1024;
    while (c <= need) c *= 2;
    uint32_t *x = realloc(*a, (size_t)c * sizeof *x);
    if (!x) return -1;
    memset(x + *cap, 0, (size_t)(c - *cap) * sizeof *x);
    *a = x, *cap = c;
    return 0;
}

/* v in decimal at the end of buf[0..24): returns where it starts (the length is buf + 24
 * minus that). */
static inline char *decimal_text(uint64_t v, char buf[24]) {
    char *p = buf + 24;
    do *--p = (char)('0' + v % 10), v /= 10;
    while (v);
    return p;
}

/* The value of a canonical decimal token (no sign, no leading zero, ≤ 7 digits) below
 * NUM_CACHE_MAX, or -1. */
static inline int64_t canonical_decimal(const char *tok, size_t len) {
    if (len == 0 || len > 7 || (tok[0] == '0' && len > 1)) return -1;
    size_t v = 0;
    for (size_t k = 0; k < len; k++) {
        unsigned d = (unsigned)(unsigned char)tok[k] - '0';
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    return v < NUM_CACHE_MAX ? (int64_t)v : -1;
}

/* Index of a token in `m`, through the numeric cache when the token is a canonical
 * decimal below NUM_CACHE_MAX. With q (a chunk's reader): the token's entry in q instead,
 * decimal tokens through the cache alone. 0 ok, -1 out of memory. */
static inline int intern(cf_idmap *m, num_cache *c, id_seq *q, const char *tok, size_t len, uint32_t *idx) {
    const int64_t v = canonical_decimal(tok, len);
    if (v >= 0) {
        if ((size_t)v < c->cap && c->slot[v]) {
            *idx = c->slot[v] - 1;
            return 0;
        }
        if (q) {
            if (grow_u32(&q->e, &q->cap, q->n)) return -1;
            *idx = (uint32_t)q->n;
            q->e[q->n++] = (uint32_t)v | ID_NUM;
        } else if (cf_idmap_intern(m, tok, len, idx, NULL)) {
            return -1;
        }
        if ((size_t)v >= c->cap) {
            int64_t cap = (int64_t)c->cap;
            /* in a chunk the cache is the only record of the decimal IDs seen */
            if (grow_u32(&c->slot, &cap, v)) return q ? -1 : 0; /* serially an optimization */
            c->cap = (size_t)cap;
        }
        c->slot[v] = *idx + 1;
        return 0;
    }
    if (!q) return cf_idmap_intern(m, tok, len, idx, NULL);
    uint32_t ci;
    int added;
    if (cf_idmap_intern(m, tok, len, &ci, &added)) return -1;
    if (added) {
        if (grow_u32(&q->pos, &q->pos_cap, ci) || grow_u32(&q->e, &q->cap, q->n)) return -1;
        q->pos[ci] = (uint32_t)q->n;
        q->e[q->n++] = ci;
    }
    *idx = q->pos[ci];
    return 0;
}

/* ------------------------------------------------------------------ reader state */

/* The delimiters of delimited text (read_text.c), in the order of detection. */
enum delim { D_COLONS, D_TAB, D_COMMA, D_SPACE };

/* Matrix Market's state across the head and the chunks (read_mm.c). */
typedef struct mm_state {
    int integer, have_size;
    uint64_t rows, cols, nnz; /* of the size line */
    uint64_t entries;         /* entry lines seen (bad ones included) */
} mm_state;

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
    id_seq *useq, *iseq;       /* a chunk other than the first: its ID lists (else NULL) */
    struct par *par;           /* the parallel read's shared state (chunks only) */
} reader;

#define SHOW_MAX 80 /* bytes of a line that messages show, escaped (cf_text_show, read_text.c) */

/* One chunk of a parallel read (read_par.c). */
typedef struct chunk {
    const char *begin, *end;
    int direct;              /* the first chunk: IDs straight into the dataset's maps (they
                              * continue the head's, in file order) and ratings into ds */
    cf_idmap *users, *items; /* the other chunks' own non-decimal IDs */
    id_seq useq, iseq;       /* and all their IDs in first-seen order (see id_seq) */
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

/* rep->first_bad = "FILE:LINE: reason", cut to the field. */
void cf_read_set_first_bad(cf_read_report *rep, const char *path, int64_t line, const char *reason);

/* A malformed line: skipped and counted (returns 0) with skip_bad_lines, else the
 * CF_ERR_PARSE "FILE:LINE: reason: text" error (returns -1). In a chunk: noted in the
 * chunk, whose merge reports it. */
int cf_read_bad_line(reader *r, const char *ls, size_t ll, const char *reason);

/* The progress callback asked to stop at byte `at`: CF_ERR_INTERRUPTED. */
cf_status cf_read_cancelled(reader *r, int64_t at);

/* Out of memory storing the ratings: CF_ERR_NOMEM (in a chunk: noted for the merge). */
cf_status cf_read_nomem(reader *r);

/* A chunk's publication of its progress at byte `at` (read_par.c); CF_ERR_INTERRUPTED
 * when the read is cancelled. */
cf_status cf_read_chunk_progress(reader *r, int64_t at);

/* At the start of each line: the progress call (serial) or the chunk's publication of
 * its progress (parallel) when its point is reached; one compare otherwise. */
#define PROGRESS_AT(r, p)                                                        \
    do {                                                                         \
        int64_t at_ = (int64_t)((p) - (r)->base);                                \
        if (at_ >= (r)->pg.next) {                                               \
            if ((r)->ck) {                                                       \
                cf_status s_ = cf_read_chunk_progress((r), at_);                 \
                if (s_) return s_;                                               \
            } else if (cf_progress_call(&(r)->pg, at_)) {                        \
                return cf_read_cancelled((r), at_);                              \
            }                                                                    \
        }                                                                        \
    } while (0)

/* Stores a rating of a chunk: the first chunk's into ds, the others' in their slots of
 * ds->all, in chunk-local indices (read_par.c turns them into global ones). */
static inline int chunk_push(reader *r, uint32_t u, uint32_t i, float v, int64_t ts) {
    chunk *c = r->ck;
    if (c->direct) return cf_dataset_push_timed(r->ds, u, i, v, ts, r->part);
    if (c->n == c->cap) return -1; /* cannot happen: a line holds at most one rating */
    int64_t o = c->base + c->n++;
    r->ds->all.u[o] = u, r->ds->all.i[o] = i, r->ds->all.r[o] = v;
    if (r->ds->timed) r->ds->all.t[o] = ts;
    return 0;
}

/* Appends a rating (timestamp ts, kept when the dataset is timed) in the reader's
 * indices: to ds, or to the chunk's own triplets. */
static inline int push_rating(reader *r, uint32_t u, uint32_t i, float v, int64_t ts) {
    return r->ck ? chunk_push(r, u, i, v, ts) : cf_dataset_push_timed(r->ds, u, i, v, ts, r->part);
}

/* Interns user and item tokens and appends the rating. 0 ok, -1 out of memory. */
static inline int add_rating(reader *r, const char *ut, size_t ul, const char *it, size_t il, float v, int64_t ts) {
    uint32_t u, i;
    if (r->prev_user && ul == r->prev_user_len && memcmp(ut, r->prev_user, ul) == 0) {
        u = r->prev_user_idx;
    } else {
        if (intern(r->users, &r->ucache, r->useq, ut, ul, &u)) return -1;
        r->prev_user = ut, r->prev_user_len = ul, r->prev_user_idx = u;
    }
    if (intern(r->items, &r->icache, r->iseq, it, il, &i)) return -1;
    return push_rating(r, u, i, v, ts);
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

/* ------------------------------------------------------------------ the parsers */

/* Delimited text (read_text.c): the lines of [p, end). *have_delim_io and *d_io: whether
 * the delimiter is known yet and which (in, out). With `head`, stops after the line that
 * fixes the delimiter and sets *stop to the next line. */
cf_status cf_read_parse_delim(reader *r, const char *p, const char *end, int *have_delim_io, enum delim *d_io,
                              int head, const char **stop);

/* Matrix Market (read_mm.c): the lines of [p, end) with the state *m (in, out). With
 * `head`, reads the banner and stops after the size line (*stop: the next line). */
cf_status cf_read_parse_mm(reader *r, const char *p, const char *end, mm_state *m, int head, const char **stop);

/* The checks at the end of a Matrix Market file (read_mm.c). */
cf_status cf_read_mm_finish(reader *r, const mm_state *m);

/* The body [p, end) after the head (read_par.c): in chunks when it is large enough and
 * there are threads, else serially (exactly the serial reader). */
cf_status cf_read_parse_body(reader *r, const char *p, const char *end, int mm, int have_delim, enum delim d,
                             mm_state *m);

#endif
