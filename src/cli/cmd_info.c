/*
 * cmd_info.c — `cufactor info FILE`: what a file holds, told by its first bytes. A model
 * (.cfm, loaded and validated in full): dimensions, the training configuration, the sizes
 * of its factors and biases. A checkpoint (.cfc): where the training stands. Anything
 * else is read as ratings (text or the binary dataset): counts, density, the rating
 * scale and how the ratings spread over users and items. Plain lines, or --json.
 */
#include "args.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What the first 8 bytes say: 'm' model, 'c' checkpoint, 'r' anything else (ratings; a
 * file that cannot be opened goes there too, for the reader's own message). */
static int sniff(const char *path) {
    char magic[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 'r';
    const size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (got == 8 && memcmp(magic, CF_MODEL_MAGIC, 8) == 0) return 'm';
    if (got == 8 && memcmp(magic, CF_CHECKPOINT_MAGIC, 8) == 0) return 'c';
    return 'r';
}

static long long file_bytes(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The JSON object's opening: '{', "file", "kind" and "bytes". */
static void json_head(int *first, const char *path, const char *kind, long long bytes) {
    putchar('{');
    json_key(stdout, first, "file"), json_string(stdout, path);
    json_key(stdout, first, "kind"), json_string(stdout, kind);
    json_key(stdout, first, "bytes"), printf("%lld", bytes);
}

/* The configuration, every field cf_config_get knows: "name=value ..." or a JSON object
 * (values that read as numbers as numbers, the rest as strings). */
static void print_config(const cf_config *c, int json) {
    if (json) putchar('{');
    int first = 1, col = 13;
    for (int k = 0; cf_config_field(k); k++) {
        const char *name = cf_config_field(k);
        char v[64];
        cf_error err;
        if (cf_config_get(c, name, v, sizeof v, &err) != CF_OK) continue;
        if (json) {
            char *end;
            const double x = strtod(v, &end);
            json_key(stdout, &first, name);
            if (*v && !*end && isfinite(x)) fputs(v, stdout);
            else json_string(stdout, v);
        } else { /* wrapped at about 100 columns under the value column (13) */
            const int len = (int)(strlen(name) + 1 + strlen(v));
            if (!first && col + 1 + len > 100) printf("\n%13s", ""), col = 13;
            else if (!first) putchar(' '), col++;
            col += printf("%s=%s", name, v);
            first = 0;
        }
    }
    putchar(json ? '}' : '\n');
}

typedef struct stat5 {
    double min, mean, max, median;
    int64_t zero; /* rows of zero norm (norms only) */
} stat5;

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* min, mean, max and median of x[0..n) (x is sorted in place); zeros counted. */
static stat5 stats_of(double *x, int64_t n) {
    stat5 s = {NAN, NAN, NAN, NAN, 0};
    if (n <= 0) return s;
    double sum = 0;
    for (int64_t k = 0; k < n; k++) sum += x[k], s.zero += x[k] == 0;
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    s.min = x[0], s.max = x[n - 1], s.mean = sum / (double)n;
    s.median = n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
    return s;
}

static void print_stat(const char *label, const stat5 *s, int median, int json, int *first) {
    if (json) {
        json_key(stdout, first, label);
        int f2 = 1;
        putchar('{');
        json_key(stdout, &f2, "min"), json_number(stdout, s->min);
        if (median) json_key(stdout, &f2, "median"), json_number(stdout, s->median);
        json_key(stdout, &f2, "mean"), json_number(stdout, s->mean);
        json_key(stdout, &f2, "max"), json_number(stdout, s->max);
        putchar('}');
    } else {
        printf("%-12s min %.6g", label, s->min);
        if (median) printf("  median %.6g", s->median);
        printf("  mean %.6g  max %.6g\n", s->mean, s->max);
    }
}

/* Row norms of an n × K row-major matrix into out[n]. */
static void row_norms(const double *X, int64_t n, int K, double *out) {
    for (int64_t r = 0; r < n; r++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += X[r * K + k] * X[r * K + k];
        out[r] = sqrt(s);
    }
}

static int info_model(const char *path, int json) {
    cf_model *m = NULL;
    cf_error err = {0};
    if (cf_model_load(path, &m, &err) != CF_OK) return cli_fail(&err);
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    const int64_t nu = mi.n_users, ni = mi.n_items, n = nu > ni ? nu : ni;
    const int K = mi.factors;
    double *P = malloc(sizeof(double) * (size_t)(nu * K + 1)), *Q = malloc(sizeof(double) * (size_t)(ni * K + 1));
    double *bu = malloc(sizeof(double) * (size_t)(nu + 1)), *bi = malloc(sizeof(double) * (size_t)(ni + 1));
    double *w = malloc(sizeof(double) * (size_t)(n + 1));
    int64_t *cnt = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!P || !Q || !bu || !bi || !w || !cnt) {
        free(P), free(Q), free(bu), free(bi), free(w), free(cnt);
        cf_model_destroy(&m);
        return cli_failf("info: out of memory for the statistics of %s", path);
    }
    cf_model_params(m, P, Q, bu, bi);
    row_norms(P, nu, K, w);
    const stat5 pn = stats_of(w, nu);
    row_norms(Q, ni, K, w);
    const stat5 qn = stats_of(w, ni);
    memcpy(w, bu, sizeof(double) * (size_t)nu);
    const stat5 sbu = stats_of(w, nu);
    memcpy(w, bi, sizeof(double) * (size_t)ni);
    const stat5 sbi = stats_of(w, ni);
    /* the ratings behind each row (none in a version-1 file) */
    stat5 sc[2];
    int counted = 1;
    for (int sd = 0; sd < 2 && counted; sd++) {
        const int64_t rows = sd ? ni : nu;
        counted = cf_model_rating_counts(m, sd ? CF_ITEMS : CF_USERS, cnt, &err) == CF_OK;
        for (int64_t r = 0; counted && r < rows; r++) w[r] = (double)cnt[r];
        if (counted) sc[sd] = stats_of(w, rows);
    }
    const long long bytes = file_bytes(path);
    int first = 1;
    if (json) {
        json_head(&first, path, "model", bytes);
        json_key(stdout, &first, "users"), printf("%lld", (long long)nu);
        json_key(stdout, &first, "items"), printf("%lld", (long long)ni);
        json_key(stdout, &first, "factors"), printf("%d", K);
        json_key(stdout, &first, "bias"), fputs(mi.bias ? "true" : "false", stdout);
        json_key(stdout, &first, "mu"), json_number(stdout, mi.bias ? mi.mu : NAN);
        json_key(stdout, &first, "config"), print_config(&mi.config, 1);
        print_stat("user_norm", &pn, 1, 1, &first);
        json_key(stdout, &first, "users_zero"), printf("%lld", (long long)pn.zero);
        print_stat("item_norm", &qn, 1, 1, &first);
        json_key(stdout, &first, "items_zero"), printf("%lld", (long long)qn.zero);
        if (mi.bias) print_stat("user_bias", &sbu, 1, 1, &first), print_stat("item_bias", &sbi, 1, 1, &first);
        if (counted) print_stat("user_ratings", &sc[0], 1, 1, &first), print_stat("item_ratings", &sc[1], 1, 1, &first);
        else json_key(stdout, &first, "user_ratings"), fputs("null", stdout), json_key(stdout, &first, "item_ratings"),
             fputs("null", stdout);
        puts("}");
    } else {
        printf("%-12s %s: cufactor model, %lld bytes, checksum verified\n", "file", path, bytes);
        printf("%-12s %lld\n%-12s %lld\n", "users", (long long)nu, "items", (long long)ni);
        printf("%-12s %d, biases %s", "factors", K, mi.bias ? "on" : "off");
        if (mi.bias) printf(", μ %.6g", mi.mu);
        printf("\n%-12s ", "trained with");
        print_config(&mi.config, 0);
        print_stat("|p_u|", &pn, 1, 0, &first);
        if (pn.zero) printf("%-12s %lld users with zero factors (no ratings when trained or folded in)\n", "",
                            (long long)pn.zero);
        print_stat("|q_i|", &qn, 1, 0, &first);
        if (qn.zero) printf("%-12s %lld items with zero factors\n", "", (long long)qn.zero);
        if (mi.bias) print_stat("b_u", &sbu, 1, 0, &first), print_stat("b_i", &sbi, 1, 0, &first);
        if (counted) print_stat("ratings/user", &sc[0], 1, 0, &first), print_stat("ratings/item", &sc[1], 1, 0, &first);
        else printf("%-12s not kept (a model file of version 1)\n", "ratings/row");
    }
    free(P), free(Q), free(bu), free(bi), free(w), free(cnt);
    cf_model_destroy(&m);
    return CLI_EXIT_OK;
}

static int info_checkpoint(const char *path, int json) {
    cf_checkpoint_info ci;
    cf_error err = {0};
    if (cf_checkpoint_info_get(path, &ci, &err) != CF_OK) return cli_fail(&err);
    const long long bytes = file_bytes(path);
    int first = 1;
    if (json) {
        json_head(&first, path, "checkpoint", bytes);
        json_key(stdout, &first, "restart"), printf("%d", (int)ci.restart);
        json_key(stdout, &first, "iter"), printf("%d", (int)ci.iter);
        json_key(stdout, &first, "users"), printf("%lld", (long long)ci.n_users);
        json_key(stdout, &first, "items"), printf("%lld", (long long)ci.n_items);
        json_key(stdout, &first, "train"), printf("%lld", (long long)ci.n_train);
        json_key(stdout, &first, "test"), printf("%lld", (long long)ci.n_test);
        json_key(stdout, &first, "backend"), json_string(stdout, ci.backend);
        json_key(stdout, &first, "config"), print_config(&ci.config, 1);
        puts("}");
    } else {
        printf("%-12s %s: cufactor checkpoint, %lld bytes, checksum verified\n", "file", path, bytes);
        printf("%-12s %d iterations done", "progress", (int)ci.iter);
        if (ci.config.restarts > 1) printf(" in restart %d of %d", (int)ci.restart + 1, (int)ci.config.restarts);
        printf(" (%s backend); continue with cufactor train DATA --resume %s\n", ci.backend, path);
        printf("%-12s %lld users, %lld items, %lld training and %lld test ratings\n", "data", (long long)ci.n_users,
               (long long)ci.n_items, (long long)ci.n_train, (long long)ci.n_test);
        printf("%-12s ", "config");
        print_config(&ci.config, 0);
    }
    return CLI_EXIT_OK;
}

#define DISTINCT_CAP 16 /* rating values listed when there are at most this many */

static int info_ratings(const char *path, const cf_read_options *ropt, int json, int quiet) {
    cf_dataset *ds = NULL;
    cf_read_report rr;
    cf_error err = {0};
    if (cli_dataset_read(path, ropt, quiet, &ds, &rr, &err) != CF_OK) return cli_fail(&err);
    cf_dataset_info di;
    cf_dataset_info_get(ds, &di);
    const int64_t nu = di.n_users, ni = di.n_items, nr = di.n_train + di.n_test;
    int64_t *u = malloc(sizeof(int64_t) * (size_t)(nr + 1)), *it = malloc(sizeof(int64_t) * (size_t)(nr + 1));
    float *r = malloc(sizeof(float) * (size_t)(nr + 1));
    double *cu = calloc((size_t)(nu + 1), sizeof(double)), *ci = calloc((size_t)(ni + 1), sizeof(double));
    int rc = CLI_EXIT_ERROR;
    if (!u || !it || !r || !cu || !ci) {
        rc = cli_failf("info: out of memory for the statistics of %s", path);
        goto done;
    }
    double lo = INFINITY, hi = -INFINITY, sum = 0, values[DISTINCT_CAP];
    int nv = 0; /* distinct rating values, DISTINCT_CAP + 1 once there are more */
    for (int part = 0; part < 2; part++) {
        const int64_t off = part ? di.n_train : 0;
        if ((part ? di.n_test : di.n_train) == 0) continue;
        if (cf_dataset_ratings(ds, part, u + off, it + off, r + off, &err) != CF_OK) {
            rc = cli_fail(&err);
            goto done;
        }
    }
    for (int64_t k = 0; k < nr; k++) {
        const double x = r[k];
        cu[u[k]] += 1, ci[it[k]] += 1;
        sum += x, lo = x < lo ? x : lo, hi = x > hi ? x : hi;
        if (nv <= DISTINCT_CAP) {
            int seen = 0;
            for (int j = 0; j < nv && !seen; j++) seen = values[j] == x;
            if (!seen) {
                if (nv < DISTINCT_CAP) values[nv] = x;
                nv++;
            }
        }
    }
    if (nv <= DISTINCT_CAP) qsort(values, (size_t)nv, sizeof *values, cmp_double);
    /* --timestamps: the first and last time, and where train --test-split time's default
     * 0.1 would cut (the split itself, on this dataset that is thrown away after) */
    int64_t t_first = INT64_MAX, t_last = INT64_MIN, t_cut = INT64_MAX;
    if (ropt->timestamps) {
        for (int part = 0; part < 2; part++) { /* it (the items, counted) holds the times now */
            const int64_t off = part ? di.n_train : 0;
            if ((part ? di.n_test : di.n_train) && cf_dataset_times(ds, part, it + off, &err) != CF_OK) {
                rc = cli_fail(&err);
                goto done;
            }
        }
        for (int64_t k = 0; k < nr; k++)
            t_first = it[k] < t_first ? it[k] : t_first, t_last = it[k] > t_last ? it[k] : t_last;
        if (cf_dataset_split_time(ds, 0.1, ropt->threads, &t_cut, &err) != CF_OK) {
            rc = cli_fail(&err);
            goto done;
        }
    }
    const stat5 su = stats_of(cu, nu), sit = stats_of(ci, ni);
    const stat5 sr = {lo, nr ? sum / (double)nr : NAN, hi, NAN, 0};
    const double density = nu && ni ? (double)nr / ((double)nu * (double)ni) : NAN;
    const char *fmt = rr.format == CF_FORMAT_BINARY ? "binary" : rr.format == CF_FORMAT_MM ? "mm" : "delimited";
    int first = 1;
    if (json) {
        json_head(&first, path, "ratings", (long long)rr.bytes);
        json_key(stdout, &first, "format"), json_string(stdout, fmt);
        json_key(stdout, &first, "compressed"), rr.compressed ? printf("%lld", (long long)rr.compressed) : printf("null");
        json_key(stdout, &first, "users"), printf("%lld", (long long)nu);
        json_key(stdout, &first, "items"), printf("%lld", (long long)ni);
        json_key(stdout, &first, "ratings"), printf("%lld", (long long)nr);
        json_key(stdout, &first, "duplicates"), printf("%lld", (long long)rr.duplicates);
        json_key(stdout, &first, "skipped"), printf("%lld", (long long)rr.skipped);
        json_key(stdout, &first, "density"), json_number(stdout, density);
        print_stat("rating", &sr, 0, 1, &first);
        json_key(stdout, &first, "values");
        if (nv > DISTINCT_CAP) {
            fputs("null", stdout);
        } else {
            putchar('[');
            for (int j = 0; j < nv; j++) (j ? putchar(',') : 0), json_number(stdout, values[j]);
            putchar(']');
        }
        print_stat("per_user", &su, 1, 1, &first);
        print_stat("per_item", &sit, 1, 1, &first);
        if (ropt->timestamps) {
            int f2 = 1;
            json_key(stdout, &first, "times"), putchar('{');
            json_key(stdout, &f2, "first"), printf("%lld", (long long)t_first);
            json_key(stdout, &f2, "last"), printf("%lld", (long long)t_last);
            json_key(stdout, &f2, "latest_tenth_from"), printf("%lld", (long long)t_cut);
            putchar('}');
        }
        puts("}");
    } else {
        char how[64];
        printf("%-12s %s: %s", "file", path, cli_read_format(&rr, how, sizeof how));
        if (rr.compressed) printf(", %lld bytes compressed", (long long)rr.compressed);
        printf(", %lld bytes; %lld duplicates removed (last kept), %lld bad lines skipped\n", (long long)rr.bytes,
               (long long)rr.duplicates, (long long)rr.skipped);
        printf("%-12s %lld\n%-12s %lld\n", "users", (long long)nu, "items", (long long)ni);
        printf("%-12s %lld (density %.4g %%)\n", "ratings", (long long)nr, 100 * density);
        print_stat("rating", &sr, 0, 0, &first);
        printf("%-12s ", "values");
        if (nv > DISTINCT_CAP) {
            printf("more than %d distinct\n", DISTINCT_CAP);
        } else {
            for (int j = 0; j < nv; j++) printf("%s%.6g", j ? " " : "", values[j]);
            putchar('\n');
        }
        print_stat("per user", &su, 1, 0, &first);
        print_stat("per item", &sit, 1, 0, &first);
        if (ropt->timestamps) {
            char a[40], b[40], c[40];
            printf("%-12s first %lld%s, last %lld%s; the latest tenth from %lld%s\n", "times", (long long)t_first,
                   cli_utc_text(t_first, a), (long long)t_last, cli_utc_text(t_last, b), (long long)t_cut,
                   cli_utc_text(t_cut, c));
        }
    }
    rc = CLI_EXIT_OK;
done:
    free(u), free(it), free(r), free(cu), free(ci);
    cf_dataset_destroy(&ds);
    return rc;
}

int cmd_info(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    int format = (int)ropt.format, json = 0, quiet = 0, threads = 0, timestamps = 0;
    cli_opt opts[] = {
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .flag_value = 1, .help = "one JSON object on stdout"},
        CLI_READ_OPTS(format, ropt, "a ratings FILE"),
        {.name = "threads", .kind = CLI_I32, .dest = &threads, .metavar = "T", .lo = 0, .hi = 4096,
         .help = "threads reading a ratings FILE (0 = all cores)"},
        {.name = "timestamps", .kind = CLI_FLAG, .dest = &timestamps, .flag_value = 1,
         .help = "read a ratings FILE's fourth column as timestamps: their first and last, and where "
                 "train --test-split time (0.1) cuts"},
        {.name = "quiet", .kind = CLI_FLAG, .dest = &quiet, .flag_value = 1, .help = "no progress bar"},
    };
    static const char *const positional[] = {"FILE", NULL};
    cli_spec spec = {
        .cmd = "info",
        .args = "FILE [--json]",
        .summary = "What FILE holds, told by its first bytes. A model (.cfm, validated in full): users, items,\n"
                   "K, μ, the configuration it was trained with, and the spread of |p_u|, |q_i|, b_u and b_i.\n"
                   "A checkpoint (.cfc): iterations done and the data and configuration it belongs to.\n"
                   "A ratings file (text or binary dataset): users, items, ratings, density, the rating\n"
                   "scale and values, and ratings per user and per item (min, median, mean, max).",
        .notes = "Typical: cufactor info m.cfm    cufactor info ratings.tsv --json",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *path = NULL;
    int rc = cli_parse(&spec, argc, argv, &path);
    if (rc >= 0) return rc;
    ropt.format = (cf_format)format;
    ropt.threads = threads;
    ropt.timestamps = timestamps;

    const int kind = sniff(path);
    return kind == 'm' ? info_model(path, json) : kind == 'c' ? info_checkpoint(path, json)
                                                            : info_ratings(path, &ropt, json, quiet);
}
