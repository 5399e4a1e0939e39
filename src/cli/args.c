/*
 * args.c — the strict option parser and the help generator of the CLI (see args.h).
 */
#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_i64(const char *s, int64_t *out) {
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end) return -1;
    *out = (int64_t)v;
    return 0;
}

int cli_parse_double(const char *s, double *out) {
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static void print_usage_line(FILE *f, const cli_spec *spec) {
    fprintf(f, "usage: cufactor %s %s\n", spec->cmd, spec->args ? spec->args : "");
}

int cli_usage_error(const cli_spec *spec, const char *fmt, ...) {
    fprintf(stderr, "cufactor %s: ", spec->cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    print_usage_line(stderr, spec);
    fprintf(stderr, "see cufactor %s --help\n", spec->cmd);
    return 2;
}

const cli_opt *cli_find(const cli_spec *spec, const char *name) {
    for (int k = 0; k < spec->n_opts; k++)
        if (spec->opts[k].kind != CLI_SECTION && strcmp(spec->opts[k].name, name) == 0)
            return &spec->opts[k];
    return NULL;
}

/* "a|b|c" for a choice list, into buf. */
static const char *join_choices(const char *const *choices, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int k = 0; choices && choices[k]; k++) {
        int w = snprintf(buf + n, cap - n, "%s%s", k ? "|" : "", choices[k]);
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
    return buf;
}

static void int_range(const cli_opt *o, int64_t *lo, int64_t *hi) {
    if (o->lo == 0 && o->hi == 0) {
        *lo = o->kind == CLI_I32 ? INT32_MIN : INT64_MIN;
        *hi = o->kind == CLI_I32 ? INT32_MAX : INT64_MAX;
    } else {
        *lo = o->lo;
        *hi = o->hi;
    }
}

/* The current value of an option's destination as text, for "[default: ...]".
 * Returns 0 when there is nothing to show. */
static int default_text(const cli_opt *o, char *buf, size_t cap) {
    if (o->no_default || o->required || !o->dest) return 0;
    switch (o->kind) {
    case CLI_I32: snprintf(buf, cap, "%d", (int)*(const int32_t *)o->dest); return 1;
    case CLI_I64: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)o->dest); return 1;
    case CLI_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)o->dest); return 1;
    case CLI_BYTES: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)o->dest); return 1;
    case CLI_DOUBLE: snprintf(buf, cap, "%g", *(const double *)o->dest); return 1;
    case CLI_STR: {
        const char *s = *(const char *const *)o->dest;
        if (!s) return 0;
        snprintf(buf, cap, "%s", s);
        return 1;
    }
    case CLI_CHOICE: snprintf(buf, cap, "%s", o->choices[*(const int *)o->dest]); return 1;
    case CLI_SECTION:
    case CLI_FLAG: return 0;
    }
    return 0;
}

void cli_print_help(const cli_spec *spec) {
    print_usage_line(stdout, spec);
    if (spec->summary) printf("\n%s\n", spec->summary);
    for (int k = 0; k < spec->n_opts; k++) {
        const cli_opt *o = &spec->opts[k];
        if (o->kind == CLI_SECTION) {
            printf("\n%s:\n", o->name);
            continue;
        }
        if (k == 0) printf("\noptions:\n");
        char left[160], choices[200], def[200];
        const char *meta = o->metavar;
        if (o->kind == CLI_CHOICE && !meta) meta = join_choices(o->choices, choices, sizeof choices);
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, meta ? " " : "", meta ? meta : "");
        else
            snprintf(left, sizeof left, "--%s%s%s", o->name, meta ? " " : "", meta ? meta : "");
        if (strlen(left) > 26)
            printf("  %s\n  %-26s  ", left, "");
        else
            printf("  %-26s  ", left);
        printf("%s", o->help ? o->help : "");
        if (o->required)
            printf(" (required)");
        else if (default_text(o, def, sizeof def))
            printf(" [default: %s]", def);
        printf("\n");
    }
    printf("  %-26s  %s\n", "-h, --help", "show this help and exit");
    if (spec->notes) printf("\n%s\n", spec->notes);
}

int cli_parse_bytes(const char *s, uint64_t *out) {
    const char *p = s;
    uint64_t x = 0;
    if (!isdigit((unsigned char)*p)) return -1;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10) return -1;
        x = x * 10 + d;
    }
    int shift = 0;
    switch (toupper((unsigned char)*p)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    case 'B':
    case '\0': break;
    default: return -1;
    }
    if (shift) {
        p++;
        if (*p == 'i') p++;
    }
    if (toupper((unsigned char)*p) == 'B') p++;
    if (*p) return -1;
    if (shift && x > (UINT64_MAX >> shift)) return -1;
    *out = x << shift;
    return 0;
}

/* Stores one value into an option; returns 2 (after a usage message) or 0. */
static int set_value(const cli_spec *spec, cli_opt *o, const char *v) {
    switch (o->kind) {
    case CLI_I32:
    case CLI_I64: {
        int64_t x, lo, hi;
        if (cli_parse_i64(v, &x) != 0) {
            /* tell "not an integer" from "too large for any integer" */
            const char *p = v + (*v == '+' || *v == '-');
            int digits = *p != '\0';
            for (; *p; p++) digits &= isdigit((unsigned char)*p) != 0;
            if (digits && !isspace((unsigned char)*v))
                return cli_usage_error(spec, "--%s: '%s' is out of range", o->name, v);
            return cli_usage_error(spec, "--%s: '%s' is not an integer", o->name, v);
        }
        int_range(o, &lo, &hi);
        if (x < lo || x > hi)
            return cli_usage_error(spec, "--%s: '%s' is out of range: must be in %lld..%lld", o->name, v,
                                   (long long)lo, (long long)hi);
        if (o->kind == CLI_I32)
            *(int32_t *)o->dest = (int32_t)x;
        else
            *(int64_t *)o->dest = x;
        return 0;
    }
    case CLI_U64: {
        const char *p = v;
        int ok = *p != '\0';
        for (; *p; p++) ok &= isdigit((unsigned char)*p) != 0;
        if (!ok) return cli_usage_error(spec, "--%s: '%s' is not a non-negative integer", o->name, v);
        errno = 0;
        unsigned long long x = strtoull(v, NULL, 10);
        if (errno == ERANGE) return cli_usage_error(spec, "--%s: '%s' is out of range", o->name, v);
        *(uint64_t *)o->dest = (uint64_t)x;
        return 0;
    }
    case CLI_BYTES: {
        uint64_t x;
        if (cli_parse_bytes(v, &x) != 0)
            return cli_usage_error(spec, "--%s: '%s' is not a byte count (e.g. 1048576, 512M, 2G)",
                                   o->name, v);
        if (x != 0 && o->lo > 0 && x < (uint64_t)o->lo)
            return cli_usage_error(spec, "--%s: '%s' is %llu bytes: must be 0 (no limit) or at least %lld",
                                   o->name, v, (unsigned long long)x, (long long)o->lo);
        *(uint64_t *)o->dest = x;
        return 0;
    }
    case CLI_DOUBLE: {
        double x;
        if (cli_parse_double(v, &x) != 0)
            return cli_usage_error(spec, "--%s: '%s' is not a finite number", o->name, v);
        if (!(o->dlo == 0 && o->dhi == 0) && (x < o->dlo || x > o->dhi))
            return cli_usage_error(spec, "--%s: '%s' is out of range: must be in [%g, %g]", o->name, v, o->dlo,
                                   o->dhi);
        *(double *)o->dest = x;
        return 0;
    }
    case CLI_STR:
        if (!*v) return cli_usage_error(spec, "--%s: empty value", o->name);
        *(const char **)o->dest = v;
        return 0;
    case CLI_CHOICE:
        for (int k = 0; o->choices[k]; k++)
            if (strcmp(v, o->choices[k]) == 0) {
                *(int *)o->dest = k;
                return 0;
            }
        {
            char buf[200];
            return cli_usage_error(spec, "--%s: '%s' is not one of %s", o->name, v,
                                   join_choices(o->choices, buf, sizeof buf));
        }
    case CLI_FLAG: *(int *)o->dest = o->flag_value; return 0;
    case CLI_SECTION: return 0;
    }
    return 0;
}

/* Optimal string alignment distance between a[0..la) and b[0..lb): the Levenshtein
 * distance plus swaps of two neighbouring characters. Names longer than 63 bytes get
 * SIZE_MAX (nothing to suggest for them). */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb) {
    enum { MAX = 64 };
    if (la >= MAX || lb >= MAX) return SIZE_MAX;
    size_t d[MAX][MAX];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = d[i - 1][j - 1] + cost;             /* keep or substitute */
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1; /* delete from a */
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1; /* insert into a */
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;                     /* swap two neighbours */
            d[i][j] = best;
        }
    return d[la][lb];
}

void cli_suggest_init(cli_suggest *s, const char *word, size_t len) {
    memset(s, 0, sizeof *s);
    s->word = word;
    s->len = len;
    s->best_dist = len <= 4 ? 1 : 2; /* the largest distance still worth suggesting */
}

void cli_suggest_add(cli_suggest *s, const char *candidate) {
    size_t lc = strlen(candidate);
    size_t dist = edit_distance(s->word, s->len, candidate, lc);
    if (dist != 0 && (s->best ? dist < s->best_dist : dist <= s->best_dist)) {
        s->best = candidate;
        s->best_dist = dist;
    }
    if (s->len >= 3 && s->len < lc && strncmp(candidate, s->word, s->len) == 0) {
        s->prefix_of = s->n_prefix ? NULL : candidate;
        s->n_prefix++;
    }
}

const char *cli_suggest_best(const cli_suggest *s) {
    return s->best ? s->best : s->n_prefix == 1 ? s->prefix_of : NULL;
}

static cli_opt *find_long(cli_spec *spec, const char *name, size_t len) {
    for (int k = 0; k < spec->n_opts; k++) {
        cli_opt *o = &spec->opts[k];
        if (o->kind != CLI_SECTION && strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    }
    return NULL;
}

static cli_opt *find_short(cli_spec *spec, char c) {
    for (int k = 0; k < spec->n_opts; k++)
        if (spec->opts[k].kind != CLI_SECTION && spec->opts[k].short_name == c) return &spec->opts[k];
    return NULL;
}

int cli_parse(cli_spec *spec, int argc, char **argv, const char **pos) {
    /* --help wins over everything else before "--", so that a broken command line can
     * still ask for help. */
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--") == 0) break;
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            cli_print_help(spec);
            return 0;
        }
    }
    int n_pos = 0, want = 0;
    while (spec->positional && spec->positional[want]) want++;
    int only_positional = 0;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!only_positional && strcmp(arg, "--") == 0) {
            only_positional = 1;
            continue;
        }
        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            if (n_pos >= want) return cli_usage_error(spec, "unexpected argument '%s'", arg);
            pos[n_pos++] = arg;
            continue;
        }
        cli_opt *o = NULL;
        const char *value = NULL;
        if (arg[1] == '-') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(spec, name, len);
            if (!o) {
                cli_suggest sg;
                cli_suggest_init(&sg, name, len);
                for (int k = 0; k < spec->n_opts; k++)
                    if (spec->opts[k].kind != CLI_SECTION) cli_suggest_add(&sg, spec->opts[k].name);
                cli_suggest_add(&sg, "help");
                const char *best = cli_suggest_best(&sg);
                if (best)
                    return cli_usage_error(spec, "unknown option '%.*s' (did you mean '--%s'?)", (int)(len + 2), arg,
                                           best);
                return cli_usage_error(spec, "unknown option '%.*s'", (int)(len + 2), arg);
            }
            if (eq) value = eq + 1;
        } else {
            o = find_short(spec, arg[1]);
            if (!o) return cli_usage_error(spec, "unknown option '%.2s'", arg);
            if (arg[2]) value = arg[2] == '=' ? arg + 3 : arg + 2;
        }
        if (o->kind == CLI_FLAG) {
            if (value) return cli_usage_error(spec, "--%s takes no value", o->name);
        } else if (!value) {
            if (a + 1 >= argc) return cli_usage_error(spec, "--%s: missing value", o->name);
            value = argv[++a];
        }
        int rc = set_value(spec, o, value);
        if (rc) return rc;
        o->seen = 1;
    }
    if (n_pos < want) return cli_usage_error(spec, "missing %s", spec->positional[n_pos]);
    for (int k = 0; k < spec->n_opts; k++)
        if (spec->opts[k].required && !spec->opts[k].seen)
            return cli_usage_error(spec, "--%s is required", spec->opts[k].name);
    return -1;
}
