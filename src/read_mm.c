/*
 * read_mm.c — Matrix Market coordinate files. The driver (read.c) calls
 * cf_read_parse_mm on the head (banner and size line), cf_read_parse_body (read_par.c)
 * reads the entries, serially or in chunks that each run cf_read_parse_mm again, and
 * cf_read_mm_finish makes the checks at the end. The reader state and the per-line
 * helpers are in read_impl.h.
 *
 * Format: "%%MatrixMarket matrix coordinate real|integer general", '%' comments, the
 * size line "M N NNZ", then NNZ entries "i j v" (1-based, checked against M and N). The
 * IDs are the indices in decimal ("3" stays "3"; a written "03" is the same index and
 * becomes "3"). Errors in the banner or the size line (fatal_line) and a truncated body
 * (cf_read_mm_finish) are structural: skip_bad_lines does not skip them.
 */
#include "read_impl.h"
#include "read_num.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A structural error that skip_bad_lines does not skip. */
static cf_status fatal_line(reader *r, const char *ls, size_t ll, const char *reason) {
    char shown[SHOW_MAX * 4 + 8];
    cf_text_show(shown, sizeof shown, ls, ll);
    return cf_fail(r->err, CF_ERR_PARSE, "%s:%lld: %s: %s", r->path, (long long)r->line, reason, shown);
}

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
static inline int mm_intern(cf_idmap *m, num_cache *c, id_seq *q, uint64_t v, uint32_t *idx) {
    if (v < c->cap && c->slot[v]) { /* the usual case: seen before */
        *idx = c->slot[v] - 1;
        return 0;
    }
    char buf[24];
    const char *t = decimal_text(v, buf);
    return intern(m, c, q, t, (size_t)(buf + 24 - t), idx);
}

/* Reads Matrix Market lines of [p, end) with the state *m (in, out). `head`: [p, end) is
 * the whole file; reads the banner and stops after the size line (*stop: the next line),
 * so that the entries can be parsed in chunks. In a chunk m->nnz is UINT64_MAX (the
 * check against the size line's NNZ is the merge's) and m->entries counts the chunk's. */
cf_status cf_read_parse_mm(reader *r, const char *p, const char *end, mm_state *m, int head, const char **stop) {
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
            if (cf_read_bad_line(r, ls, ll, why)) return CF_ERR_PARSE;
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
            if (cf_read_bad_line(r, ls, ll, why)) return CF_ERR_PARSE;
            continue;
        }
        uint32_t u, it;
        if (mm_intern(r->users, &r->ucache, r->useq, i, &u) || mm_intern(r->items, &r->icache, r->iseq, j, &it) ||
            push_rating(r, u, it, v, 0))
            return cf_read_nomem(r);
    }
    return CF_OK;
}

/* The checks at the end of a Matrix Market file. */
cf_status cf_read_mm_finish(reader *r, const mm_state *m) {
    if (!m->have_size)
        return cf_fail(r->err, CF_ERR_PARSE, "%s:%lld: missing size line 'M N NNZ' after the banner", r->path,
                       (long long)r->line);
    if (m->entries < m->nnz)
        return cf_fail(r->err, CF_ERR_PARSE,
                       "%s:%lld: truncated body: the size line promises %llu entries, found %llu", r->path,
                       (long long)r->line, (unsigned long long)m->nnz, (unsigned long long)m->entries);
    return CF_OK;
}
