/*
 * read_text.c — delimited text, the common ratings format (MovieLens u.data,
 * ratings.dat, ratings.csv; LIBMF text), and the public tokenizer built on the same
 * line splitter (cf_line_split, cf_text_show: predict reads its pairs with them). The
 * driver (read.c) calls cf_read_parse_delim on the head of the file; the rest goes
 * through cf_read_parse_body (read_par.c), serially or in chunks, each of which runs
 * cf_read_parse_delim again. The reader state and the per-line helpers are in
 * read_impl.h.
 *
 * Format: `user item rating [ignored columns...]`, or with cf_read_options.timestamps
 * `user item rating timestamp [ignored...]` (an integer: cf_parse_time, read_num.h). The delimiter comes from the first
 * data line: "::" if present (MovieLens ratings.dat), else tab (u.data), else comma
 * (ratings.csv), else runs of spaces/tabs (LIBMF text). If that line's rating field is
 * not a number it is a header and is skipped. Blank lines and '#' lines are skipped,
 * CRLF is accepted, a UTF-8 byte-order mark at the start is ignored (read.c drops it).
 * IDs are byte tokens (spaces around them trimmed; in comma files one pair of double
 * quotes stripped).
 *
 * Speed: plain tab/comma lines shorter than 32 bytes are split with two SSE2 compares
 * (fast_line); every other line goes through the general path (memchr for the line end,
 * byte loops for the fields), which is also the one that reports errors.
 */
#include "read_impl.h"
#include "read_num.h"

#include <stdio.h>
#include <string.h>

#define MAX_ID_LEN 65535 /* cf_idmap's limit on a token */

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
    const char *s[4];
    size_t n[4];
    int count;           /* fields found, at most the `nf` asked for (3, or 4 with timestamps) */
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

/* Splits a line (non-empty, no trailing whitespace) into its first nf (3 or 4) fields. */
static inline void split_fields(const char *p, const char *e, enum delim d, int nf, fields *f) {
    f->count = 0;
    f->error = NULL;
    if (d == D_SPACE) {
        while (f->count < nf) {
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
        if (f->count == nf || p == e) return;
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
 * no space, CR, NUL or quote (nor tab in comma files), not starting with '#', nf (3, or
 * 4 with timestamps: "u<d>i<d>r<d>t[<d>ignored]") non-empty fields. Fills f and returns
 * the line length without its '\n', or -1 for "use the general path". */
static inline int fast_line(const char *p, char d, int nf, size_t max_line, fields *f) {
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
    if (nf == 4) {
        if (d3 == len) return -1; /* no timestamp: the general path says so */
        dm &= dm - 1;
        const int d4 = dm ? __builtin_ctz(dm) : len;
        if (d4 == d3 + 1) return -1;
        f->s[3] = p + d3 + 1, f->n[3] = (size_t)(d4 - d3 - 1);
        f->count = 4;
    }
    return len;
}
#endif

/* The reason for a line over max_line, naming its longest field (user ID, item ID or
 * rating: usually the culprit), e.g. "line longer than max_line (65536 bytes, this one
 * 65540): its longest field is the user ID (65536 bytes)". */
static void long_line_reason(char *why, size_t cap, const char *ls, size_t ll, size_t raw, size_t max_line,
                             enum delim d, int nf) {
    static const char *const names[4] = {"user ID", "item ID", "rating", "timestamp"};
    int n = snprintf(why, cap, "line longer than max_line (%zu bytes, this one %zu)", max_line, raw);
    fields f;
    split_fields(ls, ls + ll, d, nf, &f);
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
cf_status cf_read_parse_delim(reader *r, const char *p, const char *end, int *have_delim_io, enum delim *d_io,
                              int head, const char **stop) {
    cf_read_report *rep = r->rep;
    const size_t max_line = r->opt->max_line;
    const int nf = r->opt->timestamps ? 4 : 3; /* fields read: the timestamp is the fourth */
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
            int len = fast_line(p, d == D_TAB ? '\t' : ',', nf, max_line, &f);
            float v;
            int64_t ts = 0;
            if (len >= 0 && cf_parse_float(f.s[2], f.n[2], &v) == CF_NUM_OK &&
                (nf == 3 || cf_parse_time(f.s[3], f.n[3], &ts) == CF_NUM_OK)) {
                r->line++;
                if (add_rating(r, f.s[0], f.n[0], f.s[1], f.n[1], v, ts)) return cf_read_nomem(r);
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
            long_line_reason(why, sizeof why, ls, ll, raw, max_line, have_delim ? d : detect_delim(ls, ll), nf);
            if (cf_read_bad_line(r, ls, ll, why)) return CF_ERR_PARSE;
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
        split_fields(ls, ls + ll, d, nf, &f);
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
        int64_t ts = 0;
        if (!why) {
            int st = cf_parse_float(f.s[2], f.n[2], &v);
            if (st == CF_NUM_SYNTAX && first) {
                rep->header = 1; /* e.g. "userId,movieId,rating,timestamp" */
                continue;
            }
            if (st == CF_NUM_SYNTAX) why = "rating is not a number";
            else if (st == CF_NUM_NONFINITE) why = "rating is not finite (NaN, Inf or beyond the float range)";
            else if (nf == 4 && (f.count < 4 || f.n[3] == 0)) why = "missing timestamp field (the fourth)";
            else if (nf == 4 && cf_parse_time(f.s[3], f.n[3], &ts))
                why = "timestamp is not an integer (e.g. Unix seconds)";
        }
        if (why) {
            if (cf_read_bad_line(r, ls, ll, why)) return CF_ERR_PARSE;
            continue;
        }
        if (add_rating(r, f.s[0], f.n[0], f.s[1], f.n[1], v, ts)) return cf_read_nomem(r);
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
        if (why) long_line_reason(why, why_cap, ls, ll, raw, max_line, d, 3);
        return -1;
    }
    size_t lead = 0;
    while (lead < ll && (ls[lead] == ' ' || ls[lead] == '\t')) lead++;
    if (lead == ll || ls[lead] == '#') return 0;
    *delim = (int)d;
    fields f;
    split_fields(ls, ls + ll, d, 3, &f);
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

char *cf_text_show(char *dst, size_t cap, const char *s, size_t len) {
    if (!cap) return dst;
    escape_text(dst, cap, s, len);
    return dst;
}
