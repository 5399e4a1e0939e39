/*
 * test_cli.c — the cufactor command-line program end to end, through the real binary
 * (CF_CLI_PATH) run with fork/exec in a temporary directory, stdout and stderr
 * captured to files.
 *
 * The chain gen → train --model --json → eval → predict → recommend → export is
 * checked against independent computations: the test reads the generated file
 * itself, loads the saved model with cf_model_load and recomputes RMSE, predictions,
 * rankings and r̂ = μ + b_u + b_i + P[u]·Q[i] from the exported .npy files. Usage
 * errors must exit 2, data errors 1 with file:line, and no failure may leave an
 * output file behind.
 *
 * Data: 200 users × 150 items, 6000 ratings, planted rank 3, σ = 0.3, unclipped
 * (--no-clip), so the noise in the file is exactly the planted Gaussian.
 */
#include <criterion/criterion.h>

#include "cufactor.h"
#include "helpers.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

enum { N_USERS = 200, N_ITEMS = 150, N_RATINGS = 6000, RANK = 3, ITERS = 8 };
static const double SIGMA = 0.3;

/* ------------------------------------------------------------------ running the CLI */

CF_TEST_SUITE_WITH_TMPDIR(cli, 120);

typedef cf_test_run run_result;
static void run_free(run_result *r) { cf_test_run_free(r); }
/* Runs `cufactor ARGS...` (NULL-terminated) in dir (tests/helpers.h cf_test_cli). */
#define cli(...) cf_test_cli(dir, __VA_ARGS__)

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of directory entries of `d` whose name contains `part`. */
static int count_entries(const char *d, const char *part) {
    int n = cf_test_count_entries(d, part);
    cr_assert_geq(n, 0, "cannot list %s", d);
    return n;
}

/* A usage error (exit 2) whose stderr holds msg and the usage line, nothing on stdout. */
static void expect_usage(const char *msg, run_result r);

/* ------------------------------------------------------------------ tiny JSON reading */

/* stdout must be exactly one JSON object on one line. */
static void assert_one_json_object(const char *s) {
    size_t n = strlen(s);
    cr_assert(n >= 3 && s[0] == '{' && s[n - 1] == '\n' && s[n - 2] == '}', "not one JSON object: %s", s);
    cr_assert_null(memchr(s, '\n', n - 1), "more than one line on stdout: %s", s);
    int depth = 0, in_str = 0;
    for (size_t k = 0; k + 1 < n; k++) {
        char c = s[k];
        if (in_str) {
            if (c == '\\') k++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') in_str = 1;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            depth--;
            cr_assert(depth > 0 || k == n - 2, "text after the JSON object: %s", s);
        }
    }
    cr_assert_eq(depth, 0, "unbalanced JSON: %s", s);
}

/* The value text after "key": (first occurrence), or NULL. */
static const char *json_value(const char *s, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(s, pat);
    return p ? p + strlen(pat) : NULL;
}

/* A number field; NAN when null. Fails the test when absent or not a number. */
static double json_num(const char *s, const char *key) {
    const char *v = json_value(s, key);
    cr_assert_not_null(v, "no \"%s\" in %s", key, s);
    if (strncmp(v, "null", 4) == 0) return NAN;
    char *end = NULL;
    double x = strtod(v, &end);
    cr_assert(end != v && (*end == ',' || *end == '}'), "\"%s\" is not a number in %s", key, s);
    return x;
}

/* A string field into buf; returns 0 when null. */
static int json_str(const char *s, const char *key, char *buf, size_t cap) {
    const char *v = json_value(s, key);
    cr_assert_not_null(v, "no \"%s\" in %s", key, s);
    if (strncmp(v, "null", 4) == 0) return 0;
    cr_assert_eq(*v, '"');
    const char *e = strchr(v + 1, '"');
    cr_assert_not_null(e);
    snprintf(buf, cap, "%.*s", (int)(e - v - 1), v + 1);
    return 1;
}

/* ------------------------------------------------------------------ the data file */

typedef struct rows {
    int n;
    char (*user)[32];
    char (*item)[32];
    double *r;
} rows;

/* Reads a "user<TAB>item<TAB>rating" file (what gen writes). */
static rows read_rows(const char *path) {
    char *text = cf_test_read(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    rows t = {0};
    int cap = 1024;
    t.user = malloc(sizeof *t.user * (size_t)cap), t.item = malloc(sizeof *t.item * (size_t)cap);
    t.r = malloc(sizeof *t.r * (size_t)cap);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (t.n == cap) {
            cap *= 2;
            t.user = realloc(t.user, sizeof *t.user * (size_t)cap), t.item = realloc(t.item, sizeof *t.item * (size_t)cap);
            t.r = realloc(t.r, sizeof *t.r * (size_t)cap);
        }
        char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        cr_assert(tab2 && !strchr(tab2 + 1, '\t'), "%s: line %d is not 3 tab-separated fields: %s", path, t.n + 1,
                  line);
        cr_assert(tab1 - line < 32 && tab2 - tab1 - 1 < 32);
        snprintf(t.user[t.n], 32, "%.*s", (int)(tab1 - line), line);
        snprintf(t.item[t.n], 32, "%.*s", (int)(tab2 - tab1 - 1), tab1 + 1);
        char *end = NULL;
        t.r[t.n] = strtod(tab2 + 1, &end);
        cr_assert(end != tab2 + 1 && *end == '\0' && isfinite(t.r[t.n]), "bad rating on line %d: %s", t.n + 1,
                  tab2 + 1);
        t.n++;
    }
    free(text);
    return t;
}

static void rows_free(rows *t) {
    free(t->user), free(t->item), free(t->r);
}

static char *data_path(void) { return cf_test_path(dir, "data.tsv"); }
static char *model_file(void) { return cf_test_path(dir, "model.cfm"); }

static void gen_data(void) {
    run_result r = cli("gen", "--users", "200", "--items", "150", "--ratings", "6000", "--rank", "3", "--noise", "0.3",
                       "--seed", "7", "--no-clip", "--out", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "gen failed (%d): %s", r.code, r.err);
    run_free(&r);
}

/* gen, then train --model --json; returns the JSON text (malloc'ed). */
static char *gen_and_train(void) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--factors", "3", "--iters", "8", "--threads", "2", "--seed", "11",
                       "--model", "model.cfm", "--json", NULL);
    cr_assert_eq(r.code, 0, "train failed (%d): %s", r.code, r.err);
    free(r.err);
    return r.out;
}

static cf_model *load_model(void) {
    char *p = model_file();
    cf_model *m = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_model_load(p, &m, &err), CF_OK, "cf_model_load: %s", err.msg);
    free(p);
    return m;
}

static double predict_or_nan(const cf_model *m, const char *u, const char *i) {
    double x;
    cf_error err = {0};
    cf_status st = cf_model_predict(m, u, i, &x, &err);
    if (st == CF_ERR_NOT_FOUND) return NAN;
    cr_assert_eq(st, CF_OK, "cf_model_predict(%s, %s): %s", u, i, err.msg);
    return x;
}

/* ------------------------------------------------------------------ gen */

Test(cli, gen_writes_the_requested_ratings) {
    gen_data();
    char *p = data_path();
    rows t = read_rows(p);
    cr_assert_eq(t.n, N_RATINGS);
    /* distinct (user, item) pairs: sort the keys and look at neighbours */
    char (*key)[64] = malloc(sizeof *key * (size_t)t.n);
    for (int k = 0; k < t.n; k++) snprintf(key[k], 64, "%s\t%s", t.user[k], t.item[k]);
    qsort(key, (size_t)t.n, sizeof *key, (int (*)(const void *, const void *))strcmp);
    for (int k = 1; k < t.n; k++) cr_assert_str_neq(key[k - 1], key[k], "duplicate pair %s", key[k]);
    free(key);
    rows_free(&t);

    /* --round: whole stars in 1..5 */
    run_result r = cli("gen", "--users", "50", "--items", "40", "--ratings", "500", "--rank", "2", "--noise", "0.5",
                       "--round", "--out", "round.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "500 ratings"), "summary: %s", r.out);
    run_free(&r);
    char *rp = cf_test_path(dir, "round.tsv");
    t = read_rows(rp);
    cr_assert_eq(t.n, 500);
    for (int k = 0; k < t.n; k++)
        cr_assert(t.r[k] == floor(t.r[k]) && t.r[k] >= 1 && t.r[k] <= 5, "not a whole star: %g", t.r[k]);
    rows_free(&t);
    free(rp);

    /* --half-stars: 0.5, 1, ..., 5, and 0.5 occurs (below the whole-star range) */
    r = cli("gen", "--users", "50", "--items", "40", "--ratings", "500", "--rank", "2", "--noise", "1.5",
            "--mu", "1.5", "--half-stars", "--out", "half.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    rp = cf_test_path(dir, "half.tsv");
    t = read_rows(rp);
    cr_assert_eq(t.n, 500);
    int halves = 0, lowest = 0;
    for (int k = 0; k < t.n; k++) {
        cr_assert(2 * t.r[k] == floor(2 * t.r[k]) && t.r[k] >= 0.5 && t.r[k] <= 5, "not a half star: %g", t.r[k]);
        halves += t.r[k] != floor(t.r[k]), lowest += t.r[k] == 0.5;
    }
    cr_assert_gt(halves, 0, "some ratings end in .5");
    cr_assert_gt(lowest, 0, "0.5 occurs");
    rows_free(&t);
    free(rp);
    r = cli("gen", "--users", "5", "--items", "4", "--ratings", "5", "--rank", "2", "--noise", "0.5", "--round",
            "--half-stars", "--out", "both.tsv", NULL);
    cr_assert_eq(r.code, 2, "--round with --half-stars is a usage error: %d %s", r.code, r.err);
    cr_assert(strstr(r.err, "exclude"), "%s", r.err);
    run_free(&r);
    /* --mnar: the library's data for the same options (test_gen checks its law), named in
     * the summary; out of range is a usage error */
    r = cli("gen", "--users", "50", "--items", "40", "--ratings", "500", "--rank", "2", "--noise", "0.5", "--mnar",
            "2", "--out", "mnar.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "mnar 2, seed 1"), "summary: %s", r.out);
    run_free(&r);
    rp = cf_test_path(dir, "mnar.tsv");
    t = read_rows(rp);
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = 50, g.items = 40, g.ratings = 500, g.rank = 2, g.noise = 0.5, g.mnar = 2;
    cf_dataset *ds = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_generate(&g, &ds, &err), CF_OK, "%s", err.msg);
    int64_t *uu = malloc(sizeof(int64_t) * 500), *ii = malloc(sizeof(int64_t) * 500);
    float *rr = malloc(sizeof(float) * 500);
    cr_assert_eq(cf_dataset_ratings(ds, 0, uu, ii, rr, &err), CF_OK);
    cr_assert_eq(t.n, 500);
    for (int k = 0; k < t.n; k++)
        cr_assert(atoll(t.user[k]) == uu[k] + 1 && atoll(t.item[k]) == ii[k] + 1 && (float)t.r[k] == rr[k],
                  "line %d: %s %s %g", k + 1, t.user[k], t.item[k], t.r[k]);
    free(uu), free(ii), free(rr), free(rp);
    rows_free(&t);
    cf_dataset_destroy(&ds);
    expect_usage("--mnar: '-1' is out of range", cli("gen", "--users", "5", "--items", "4", "--ratings", "5", "--rank",
                                                      "2", "--noise", "0.5", "--mnar", "-1", "--out", "m.tsv", NULL));
    free(p);
}

/* ------------------------------------------------------------------ train */

Test(cli, train_json_reports_a_fit_near_the_noise) {
    char *json = gen_and_train();
    assert_one_json_object(json);
    char s[256];
    cr_assert(json_str(json, "algo", s, sizeof s) && strcmp(s, "als") == 0, "%s", json);
    cr_assert(json_str(json, "device", s, sizeof s) && s[0], "%s", json);
    cr_assert(json_str(json, "model", s, sizeof s) && strcmp(s, "model.cfm") == 0, "%s", json);
    cr_assert(json_str(json, "reg", s, sizeof s), "%s", json);
    cr_assert_eq(json_num(json, "factors"), 3);
    cr_assert_eq(json_num(json, "iters"), ITERS);
    cf_config def;
    cf_config_default(&def);
    cr_assert_eq(json_num(json, "lambda"), def.lambda);
    cr_assert(strstr(json, "\"bias\":true"), "%s", json);
    double n_train = json_num(json, "n_train"), n_test = json_num(json, "n_test");
    cr_assert_eq(n_train + n_test, N_RATINGS);
    /* 10 % held out at random: within 4 binomial standard deviations of 600 */
    cr_assert(fabs(n_test - 600) <= 4 * sqrt(N_RATINGS * 0.1 * 0.9), "n_test %g", n_test);
    cr_assert(json_num(json, "test_unseen") >= 0 && json_num(json, "test_unseen") <= n_test);
    cr_assert(json_num(json, "seconds") >= 0);
    cr_assert(isfinite(json_num(json, "objective")) && json_num(json, "objective") > 0);

    /* Held-out RMSE bound. With p = (k+1)(users+items) fitted parameters (factors and
     * a bias per row) and n training ratings, a least-squares fit's out-of-sample
     * error is about σ²(1 + p/(n − p)); allow 20 % on top of that. */
    double p = (RANK + 1.0) * (N_USERS + N_ITEMS), bound = 1.2 * SIGMA * sqrt(1.0 + p / (n_train - p));
    double test_rmse = json_num(json, "test_rmse"), train_rmse = json_num(json, "train_rmse");
    cr_assert(isfinite(test_rmse) && test_rmse < bound, "test RMSE %g, bound %g", test_rmse, bound);
    cr_assert(isfinite(train_rmse) && train_rmse < test_rmse + 0.05, "train %g test %g", train_rmse, test_rmse);

    /* ... and far better than predicting the mean: the spread of the ratings */
    char *dp = data_path();
    rows t = read_rows(dp);
    double mean = 0, var = 0;
    for (int k = 0; k < t.n; k++) mean += t.r[k] / t.n;
    for (int k = 0; k < t.n; k++) var += (t.r[k] - mean) * (t.r[k] - mean) / t.n;
    cr_assert(test_rmse < 0.5 * sqrt(var), "test RMSE %g vs the ratings' std %g", test_rmse, sqrt(var));
    rows_free(&t);
    free(dp);

    char *mp = model_file();
    cr_assert(exists(mp));
    free(mp);
    free(json);
}

Test(cli, train_prints_one_progress_line_per_iteration) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--iters", "5", "--factors", "4", "--test-ratio", "0.2", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "read data.tsv"), "%s", r.err);
    cr_assert(strstr(r.err, "6000 ratings"), "%s", r.err);
    cr_assert(strstr(r.err, "train_rmse"), "no header: %s", r.err);
    /* lines "    k  train  test  objective  seconds  rate" numbered 1..5 in order */
    int next = 1;
    char *copy = strdup(r.err);
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        int it;
        double tr, te, obj, sec, rate;
        if (sscanf(line, "%d %lf %lf %lf %lf %lf", &it, &tr, &te, &obj, &sec, &rate) == 6) {
            cr_assert_eq(it, next, "iteration %d where %d expected", it, next);
            cr_assert(tr > 0 && te > 0 && obj > 0 && sec >= 0 && rate > 0, "%s", line);
            next++;
        }
    }
    free(copy);
    cr_assert_eq(next, 6, "%d progress lines in: %s", next - 1, r.err);
    cr_assert(strstr(r.out, "test RMSE"), "%s", r.out);
    run_free(&r);

    /* --quiet: nothing on stderr; --test-ratio 0: no test part, test_rmse null */
    r = cli("train", "data.tsv", "--iters", "2", "--test-ratio", "0", "--quiet", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_empty(r.err);
    assert_one_json_object(r.out);
    cr_assert(isnan(json_num(r.out, "test_rmse")), "%s", r.out);
    cr_assert_eq(json_num(r.out, "n_test"), 0);
    cr_assert_eq(json_num(r.out, "n_train"), N_RATINGS);
    char s[64];
    cr_assert_eq(json_str(r.out, "model", s, sizeof s), 0, "model should be null: %s", r.out);
    run_free(&r);
}

Test(cli, train_with_a_test_file) {
    gen_data();
    /* split the data file by line parity into two files */
    char *dp = data_path();
    rows t = read_rows(dp);
    char *a = cf_test_path(dir, "a.tsv"), *b = cf_test_path(dir, "b.tsv");
    FILE *fa = fopen(a, "w"), *fb = fopen(b, "w");
    int nb = 0;
    for (int k = 0; k < t.n; k++) {
        FILE *f = k % 5 == 0 ? fb : fa;
        nb += k % 5 == 0;
        fprintf(f, "%s,%s,%.17g\n", t.user[k], t.item[k], t.r[k]);
    }
    fclose(fa), fclose(fb);
    run_result r = cli("train", "a.tsv", "--test", "b.tsv", "--iters", "3", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(json_num(r.out, "n_test"), nb);
    cr_assert_eq(json_num(r.out, "n_train"), t.n - nb);
    cr_assert(strstr(r.err, "delimited (comma)"), "%s", r.err);
    run_free(&r);
    rows_free(&t);
    free(a), free(b), free(dp);
}

/* ------------------------------------------------------------------ eval */

Test(cli, eval_matches_a_recomputation_from_the_model) {
    free(gen_and_train());
    cf_model *m = load_model();
    char *dp = data_path();
    rows t = read_rows(dp);
    /* the pairs the model knows, into known.tsv; RMSE and MAE computed here */
    char *kp = cf_test_path(dir, "known.tsv");
    FILE *f = fopen(kp, "w");
    double sse = 0, sae = 0;
    int n = 0, unknown = 0;
    for (int k = 0; k < t.n; k++) {
        double x = predict_or_nan(m, t.user[k], t.item[k]);
        if (isnan(x)) {
            unknown++;
            continue;
        }
        /* the library keeps ratings in float32: compare with the same value */
        double r = (double)(float)t.r[k];
        fprintf(f, "%s\t%s\t%.17g\n", t.user[k], t.item[k], r);
        sse += (x - r) * (x - r);
        sae += fabs(x - r);
        n++;
    }
    fclose(f);
    cr_assert_gt(n, N_RATINGS / 2);
    run_result r = cli("eval", "model.cfm", "known.tsv", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    double rmse = sqrt(sse / n), mae = sae / n;
    cr_assert_eq(json_num(r.out, "count"), n);
    cr_assert_eq(json_num(r.out, "unseen"), 0);
    cr_assert(fabs(json_num(r.out, "rmse") - rmse) <= 1e-9 * rmse, "eval %.17g, here %.17g", json_num(r.out, "rmse"),
              rmse);
    cr_assert(fabs(json_num(r.out, "mae") - mae) <= 1e-9 * mae, "eval %.17g, here %.17g", json_num(r.out, "mae"), mae);
    run_free(&r);

    /* the whole file: every rating counted, the unknown ones as unseen */
    r = cli("eval", "model.cfm", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    long long count = -1, unseen = -1;
    const char *c = strstr(r.out, "count"), *u = strstr(r.out, "unseen");
    cr_assert(c && u, "%s", r.out);
    sscanf(c, "count %lld", &count);
    sscanf(u, "unseen %lld", &unseen);
    cr_assert_eq(count, N_RATINGS);
    cr_assert_eq(unseen, unknown);
    run_free(&r);

    rows_free(&t);
    cf_model_destroy(&m);
    free(kp), free(dp);
}

/* ------------------------------------------------------------------ predict */

Test(cli, predict_equals_the_library_for_every_delimiter) {
    free(gen_and_train());
    cf_model *m = load_model();
    char *dp = data_path();
    rows t = read_rows(dp);
    /* 40 pairs the model knows */
    int pick[40], np = 0;
    for (int k = 0; k < t.n && np < 40; k += 37)
        if (!isnan(predict_or_nan(m, t.user[k], t.item[k]))) pick[np++] = k;
    cr_assert_eq(np, 40);
    const char *delims[] = {"\t", ",", "::", " "};
    for (int d = 0; d < 4; d++) {
        char *pp = cf_test_path(dir, "pairs.txt");
        FILE *f = fopen(pp, "w");
        fprintf(f, "# pairs to score\n\n");
        for (int k = 0; k < np; k++) {
            /* extra columns (the rating, a timestamp) must be ignored */
            fprintf(f, "%s%s%s%s%g%s123456\n", t.user[pick[k]], delims[d], t.item[pick[k]], delims[d], t.r[pick[k]],
                    delims[d]);
            if (k == 10) fprintf(f, "\n   \n# a comment\n");
        }
        fclose(f);
        int to_file = d % 2 == 1;
        run_result r = to_file ? cli("predict", "model.cfm", "pairs.txt", "--out", "pred.tsv", NULL)
                               : cli("predict", "model.cfm", "pairs.txt", NULL);
        cr_assert_eq(r.code, 0, "delimiter '%s': %s", delims[d], r.err);
        char *po = cf_test_path(dir, "pred.tsv");
        char *text = to_file ? cf_test_read(po, NULL) : strdup(r.out);
        cr_assert_not_null(text);
        if (to_file) cr_assert_str_empty(r.out);
        int k = 0;
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), k++) {
            cr_assert_lt(k, np, "more output lines than pairs");
            char u[64], i[64];
            double x;
            cr_assert_eq(sscanf(line, "%63[^\t]\t%63[^\t]\t%lf", u, i, &x), 3, "bad line: %s", line);
            cr_assert_str_eq(u, t.user[pick[k]]);
            cr_assert_str_eq(i, t.item[pick[k]]);
            double want = predict_or_nan(m, u, i);
            cr_assert(fabs(x - want) <= 1e-9, "%s %s: printed %.17g, library %.17g", u, i, x, want);
        }
        cr_assert_eq(k, np, "delimiter '%s': %d lines for %d pairs", delims[d], k, np);
        free(text);
        unlink(po);
        free(po);
        free(pp);
        run_free(&r);
    }
    rows_free(&t);
    cf_model_destroy(&m);
    free(dp);
}

Test(cli, predict_unknown_id_fails_and_leaves_no_output) {
    free(gen_and_train());
    char *dp = data_path();
    rows t = read_rows(dp);
    char *pp = cf_test_path(dir, "pairs.txt");
    FILE *f = fopen(pp, "w");
    fprintf(f, "%s %s\n%s %s\nnobody %s\n", t.user[0], t.item[0], t.user[1], t.item[1], t.item[2]);
    fclose(f);
    /* --unknown error: the strict mode (the default answers the mean, test_unseen.c) */
    run_result r = cli("predict", "model.cfm", "pairs.txt", "--out", "pred.tsv", "--unknown", "error", NULL);
    cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "pairs.txt:3: unknown user 'nobody'"), "%s", r.err);
    char *po = cf_test_path(dir, "pred.tsv");
    cr_assert_not(exists(po), "a partial output file was left");
    cr_assert_eq(count_entries(dir, "pred.tsv"), 0, "a temporary output file was left");
    run_free(&r);

    /* an unknown item, to stdout: nothing printed */
    f = fopen(pp, "w");
    fprintf(f, "%s,%s\n%s,nothing-like-it\n", t.user[0], t.item[0], t.user[1]);
    fclose(f);
    r = cli("predict", "model.cfm", "pairs.txt", "--unknown", "error", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "pairs.txt:2: unknown item 'nothing-like-it'"), "%s", r.err);
    cr_assert_str_empty(r.out, "partial output on stdout: %s", r.out);
    run_free(&r);
    rows_free(&t);
    free(po), free(pp), free(dp);
}

/* ------------------------------------------------------------------ recommend */

/* --users FILE and --all-users: each user's lines are what --user gives that user (the
 * same items, the same printed scores), in the file's (the model's) order; an unknown ID
 * of FILE is an error naming FILE:LINE and writes no --out; --json gives one object per
 * user and line. */
Test(cli, recommend_many_users_is_one_at_a_time) {
    free(gen_and_train());
    const char *users_txt = "# some users\n3\n\n77\t1\n3\n150\n";
    free(cf_test_write(dir, "users.txt", users_txt, strlen(users_txt)));
    run_result all = cli("recommend", "model.cfm", "--users", "users.txt", "-n", "4", "--exclude", "data.tsv", NULL);
    cr_assert_eq(all.code, 0, "%s", all.err);
    const char *want_users[] = {"3", "77", "3", "150"};
    size_t at = 0;
    for (int k = 0; k < 4; k++) {
        run_result one = cli("recommend", "model.cfm", "--user", want_users[k], "-n", "4", "--exclude", "data.tsv", NULL);
        cr_assert_eq(one.code, 0, "%s", one.err);
        for (char *line = one.out; *line; line = strchr(line, '\n') + 1) {
            char expect[256];
            const int len = snprintf(expect, sizeof expect, "%s\t%.*s", want_users[k], (int)(strchr(line, '\n') - line + 1),
                                     line);
            cr_assert_eq(strncmp(all.out + at, expect, (size_t)len), 0, "user %s: wanted %s at:\n%s", want_users[k],
                         expect, all.out + at);
            at += (size_t)len;
        }
        run_free(&one);
    }
    cr_assert_eq(all.out[at], '\0', "more lines than the users': %s", all.out + at);
    run_free(&all);
    /* every user of the model, one JSON object per user and line */
    run_result js = cli("recommend", "model.cfm", "--all-users", "-n", "2", "--json", "--out", "all.jsonl", NULL);
    cr_assert_eq(js.code, 0, "%s", js.err);
    char *jp = cf_test_path(dir, "all.jsonl"), *jl = cf_test_read(jp, NULL);
    cr_assert_not_null(jl);
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    cf_model_destroy(&m);
    int lines = 0;
    for (char *p = jl; (p = strchr(p, '\n')); p++) lines++;
    cr_assert_eq(lines, mi.n_users, "%d lines for %lld users", lines, (long long)mi.n_users);
    cr_assert(strncmp(jl, "{\"user\":", 8) == 0 && strstr(jl, "\"rank\":2"), "%.200s", jl);
    free(jl), free(jp), run_free(&js);
    /* an unknown user: FILE:LINE, no output file */
    free(cf_test_write(dir, "bad.txt", "3\nnobody\n", 9));
    run_result bad = cli("recommend", "model.cfm", "--users", "bad.txt", "--out", "bad.tsv", NULL);
    cr_assert_eq(bad.code, 1);
    cr_assert(strstr(bad.err, "bad.txt:2: unknown user 'nobody'"), "%s", bad.err);
    char *bp = cf_test_path(dir, "bad.tsv");
    cr_assert_neq(access(bp, F_OK), 0, "bad.tsv was written");
    free(bp), run_free(&bad);
}

/* similar --item: the library's list (cf_model_similar_items) with cosines as %.10f;
 * --items FILE: each item's lines with the item in front; --all-items --json --out: one
 * object per model item; an unknown item of FILE is FILE:LINE with no output. */
Test(cli, similar_items_single_many_and_all) {
    free(gen_and_train());
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    const char *q = "17";
    run_result one = cli("similar", "model.cfm", "--item", q, "-n", "5", NULL);
    cr_assert_eq(one.code, 0, "%s", one.err);
    const int64_t off[2] = {0, 2};
    const cf_ids ids = {.n = 1, .chars = q, .offsets = off};
    int64_t rows[5];
    double sc[5];
    cf_error err = {0};
    cr_assert_eq(cf_model_similar_items(m, &ids, 5, 1, rows, sc, NULL, &err), CF_OK, "%s", err.msg);
    size_t bytes = 0;
    cr_assert_eq(cf_model_ids(m, CF_ITEMS, NULL, 0, NULL, &bytes, &err), CF_OK);
    char *chars = malloc(bytes);
    int64_t *offs = malloc((size_t)(mi.n_items + 1) * sizeof *offs);
    cr_assert_eq(cf_model_ids(m, CF_ITEMS, chars, bytes, offs, &bytes, &err), CF_OK);
    char want[1024];
    size_t w = 0;
    for (int k = 0; k < 5; k++)
        w += (size_t)snprintf(want + w, sizeof want - w, "%d\t%.*s\t%.10f\n", k + 1,
                              (int)(offs[rows[k] + 1] - offs[rows[k]]), chars + offs[rows[k]], sc[k]);
    cr_assert_str_eq(one.out, want);
    for (int k = 1; k < 5; k++) cr_assert_geq(sc[k - 1], sc[k]);
    cr_assert(sc[0] <= 1.0 && sc[4] >= -1.0);

    free(cf_test_write(dir, "items.txt", "# items\n17\n\n17\n", 15));
    run_result many = cli("similar", "model.cfm", "--items", "items.txt", "-n", "5", NULL);
    cr_assert_eq(many.code, 0, "%s", many.err);
    char want2[2048];
    size_t w2 = 0;
    for (int rep = 0; rep < 2; rep++)
        for (const char *line = one.out; *line; line = strchr(line, '\n') + 1)
            w2 += (size_t)snprintf(want2 + w2, sizeof want2 - w2, "17\t%.*s", (int)(strchr(line, '\n') - line + 1), line);
    cr_assert_str_eq(many.out, want2);
    run_free(&many), run_free(&one);

    run_result js = cli("similar", "model.cfm", "--all-items", "-n", "3", "--json", "--out", "sim.jsonl", NULL);
    cr_assert_eq(js.code, 0, "%s", js.err);
    char *jp = cf_test_path(dir, "sim.jsonl"), *jl = cf_test_read(jp, NULL);
    cr_assert_not_null(jl);
    int lines = 0;
    for (char *p = jl; (p = strchr(p, '\n')); p++) lines++;
    cr_assert_eq(lines, mi.n_items, "%d lines for %lld items", lines, (long long)mi.n_items);
    cr_assert(strncmp(jl, "{\"item\":", 8) == 0 && strstr(jl, "\"rank\":3"), "%.200s", jl);
    free(jl), free(jp), run_free(&js);

    free(cf_test_write(dir, "bad.txt", "17\nnothing\n", 11));
    run_result bad = cli("similar", "model.cfm", "--items", "bad.txt", NULL);
    cr_assert_eq(bad.code, 1);
    cr_assert(strstr(bad.err, "bad.txt:2: unknown item 'nothing'"), "%s", bad.err);
    cr_assert_str_empty(bad.out);
    run_free(&bad);
    bad = cli("similar", "model.cfm", "--item", "nothing", NULL);
    cr_assert_eq(bad.code, 1);
    cr_assert(strstr(bad.err, "unknown item 'nothing'"), "%s", bad.err);
    run_free(&bad);
    expect_usage("give one of --item ID, --items FILE, --all-items", cli("similar", "model.cfm", NULL));
    expect_usage("--out is for many items", cli("similar", "model.cfm", "--item", "17", "--out", "x", NULL));
    free(chars), free(offs);
    cf_model_destroy(&m);
}

/* fold-in --items --merge: item "n17" with the ratings item 17 has in data.tsv, and "nz"
 * rated only by a user the model does not know. The saved model is cf_model_fold_in's with
 * the same options, bit for bit: the model's users and items, then the two new items. */
Test(cli, fold_in_items_merged) {
    free(gen_and_train());
    char *dp = data_path();
    rows t = read_rows(dp);
    char buf[65536];
    size_t w = 0;
    int n17 = 0;
    for (int j = 0; j < t.n; j++)
        if (strcmp(t.item[j], "17") == 0) {
            w += (size_t)snprintf(buf + w, sizeof buf - w, "%s\tn17\t%.17g\n", t.user[j], t.r[j]);
            n17++;
            cr_assert_lt(w, sizeof buf - 100);
        }
    rows_free(&t);
    cr_assert_gt(n17, 0);
    w += (size_t)snprintf(buf + w, sizeof buf - w, "stranger\tnz\t4\n");
    char *fp = cf_test_write(dir, "films.tsv", buf, w);
    run_result r = cli("fold-in", "model.cfm", "films.tsv", "--items", "--merge", "--out", "films.cfm", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[256];
    snprintf(want, sizeof want,
             "fold-in: 2 items (2 new to the model) from %d ratings of films.tsv; 1 without a rating by a user the "
             "model knows (kept as they were, or zeros if new); 1 ratings of users the model does not know ignored",
             n17);
    cr_assert(strstr(r.err, want), "want '%s' in: %s", want, r.err);
    run_free(&r);
    cf_model *m = load_model(), *mine = NULL, *saved = NULL;
    cf_dataset *ds = NULL;
    cf_read_options ro;
    cf_read_options_default(&ro);
    cf_error err = {0};
    cr_assert_eq(cf_dataset_read(fp, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cf_fold_in_options o;
    cf_fold_in_options_default(&o);
    o.items = o.merge = 1;
    cr_assert_eq(cf_model_fold_in(m, ds, &o, &mine, NULL, &err), CF_OK, "%s", err.msg);
    char *sp = cf_test_path(dir, "films.cfm");
    cr_assert_eq(cf_model_load(sp, &saved, &err), CF_OK, "%s", err.msg);
    cf_model_info a, b, m0;
    cf_model_info_get(mine, &a), cf_model_info_get(saved, &b), cf_model_info_get(m, &m0);
    cr_assert(a.n_items == m0.n_items + 2 && b.n_items == a.n_items && b.n_users == m0.n_users);
    const size_t nq = (size_t)a.n_items * (size_t)a.factors;
    double *Q1 = malloc(sizeof(double) * nq), *Q2 = malloc(sizeof(double) * nq);
    double *b1 = malloc(sizeof(double) * (size_t)a.n_items), *b2 = malloc(sizeof(double) * (size_t)a.n_items);
    cr_assert(Q1 && Q2 && b1 && b2);
    cf_model_params(mine, NULL, Q1, NULL, b1), cf_model_params(saved, NULL, Q2, NULL, b2);
    cr_assert(memcmp(Q1, Q2, sizeof(double) * nq) == 0 && memcmp(b1, b2, sizeof(double) * (size_t)a.n_items) == 0,
              "the saved rows differ from cf_model_fold_in's");
    double x17, xn;
    cr_assert_eq(cf_model_predict(saved, "8", "17", &x17, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_predict(saved, "8", "n17", &xn, &err), CF_OK, "%s", err.msg);
    cr_assert(isfinite(x17) && isfinite(xn));
    /* --out may be MODEL itself: read whole first, written atomically */
    size_t len0, len1;
    char *mp = cf_test_path(dir, "model.cfm"), *bytes0 = cf_test_read(mp, &len0);
    free(cf_test_write(dir, "inplace.cfm", bytes0, len0));
    r = cli("fold-in", "inplace.cfm", "films.tsv", "--items", "--merge", "--out", "inplace.cfm", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    char *ip = cf_test_path(dir, "inplace.cfm"), *bytes1 = cf_test_read(ip, &len1), *want1 = cf_test_read(sp, &len0);
    cr_assert(len0 == len1 && memcmp(bytes1, want1, len0) == 0, "in place: not the same model as films.cfm");
    free(mp), free(bytes0), free(ip), free(bytes1), free(want1);
    free(fp), free(sp), free(dp), free(Q1), free(Q2), free(b1), free(b2);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m), cf_model_destroy(&mine), cf_model_destroy(&saved);
}

/* fold-in: users "n8", "n7" with the ratings users 8 and 7 have in data.tsv, and "nx"
 * with one rating of an item the model does not know. The fold-in command saves what
 * cf_model_fold_in makes of the same file, bit for bit; recommend, predict and eval with
 * --fold-in give what they give with that saved model (recommend: DATA excluded); the
 * single-user and option errors. */
Test(cli, fold_in_serves_users_the_model_never_saw) {
    free(gen_and_train());
    char *dp = data_path();
    rows t = read_rows(dp);
    char hist[65536];
    size_t w = 0;
    int n_hist = 0;
    for (int j = 0; j < t.n; j++)
        if (strcmp(t.user[j], "8") == 0 || strcmp(t.user[j], "7") == 0) {
            w += (size_t)snprintf(hist + w, sizeof hist - w, "n%s\t%s\t%.17g\n", t.user[j], t.item[j], t.r[j]);
            n_hist++;
            cr_assert_lt(w, sizeof hist - 100);
        }
    w += (size_t)snprintf(hist + w, sizeof hist - w, "nx\tzzz\t4\n");
    char *hp = cf_test_write(dir, "hist.tsv", hist, w);

    run_result r = cli("fold-in", "model.cfm", "hist.tsv", "--out", "new.cfm", "--threads", "2", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[256];
    snprintf(want, sizeof want,
             "fold-in: 3 users (3 new to the model) from %d ratings of hist.tsv; 1 without a rating of an item the "
             "model knows (zero factors: ranked by μ + b_i); 1 ratings of items the model does not know ignored",
             n_hist);
    cr_assert(strstr(r.err, want), "want '%s' in: %s", want, r.err);
    run_free(&r);
    cf_model *m = load_model(), *mine = NULL, *saved = NULL;
    cf_dataset *ds = NULL;
    cf_read_options ro;
    cf_read_options_default(&ro);
    cf_error err = {0};
    cr_assert_eq(cf_dataset_read(hp, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_fold_in(m, ds, NULL, &mine, NULL, &err), CF_OK, "%s", err.msg);
    char *np = cf_test_path(dir, "new.cfm");
    cr_assert_eq(cf_model_load(np, &saved, &err), CF_OK, "%s", err.msg);
    cf_model_info a, b;
    cf_model_info_get(mine, &a), cf_model_info_get(saved, &b);
    cr_assert(a.n_users == 3 && b.n_users == 3 && a.n_items == b.n_items && a.factors == b.factors);
    double *P1 = malloc(sizeof(double) * 3 * (size_t)a.factors), *P2 = malloc(sizeof(double) * 3 * (size_t)a.factors);
    double bu1[3], bu2[3];
    cf_model_params(mine, P1, NULL, bu1, NULL), cf_model_params(saved, P2, NULL, bu2, NULL);
    cr_assert(memcmp(P1, P2, sizeof(double) * 3 * (size_t)a.factors) == 0 && memcmp(bu1, bu2, sizeof bu1) == 0,
              "the saved rows differ from cf_model_fold_in's");
    double x;
    cr_assert_eq(cf_model_predict(saved, "n8", "17", &x, &err), CF_OK, "%s", err.msg);

    /* recommend --fold-in: every user of hist.tsv, without what each rated there */
    run_result direct = cli("recommend", "model.cfm", "--fold-in", "hist.tsv", "-n", "5", NULL);
    run_result via = cli("recommend", "new.cfm", "--all-users", "--exclude", "hist.tsv", "-n", "5", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_eq(via.code, 0, "%s", via.err);
    cr_assert_str_eq(direct.out, via.out);
    cr_assert(strstr(direct.out, "n8\t1\t") && strstr(direct.out, "n7\t5\t") && strstr(direct.out, "nx\t5\t"), "%s",
              direct.out);
    for (int j = 0; j < t.n; j++) { /* n8's list holds none of user 8's items */
        if (strcmp(t.user[j], "8")) continue;
        char needle[64];
        snprintf(needle, sizeof needle, "n8\t%c\t%s\t", '1', t.item[j]);
        for (char c = '1'; c <= '5'; c++) {
            needle[3] = c;
            cr_assert_null(strstr(direct.out, needle), "n8 was recommended %s, rated in hist.tsv", t.item[j]);
        }
    }
    run_free(&direct), run_free(&via);
    direct = cli("recommend", "model.cfm", "--fold-in", "hist.tsv", "--user", "n7", "-n", "3", NULL);
    via = cli("recommend", "new.cfm", "--user", "n7", "--exclude", "hist.tsv", "-n", "3", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_str_eq(direct.out, via.out);
    run_free(&direct), run_free(&via);

    /* predict and eval with --fold-in: what the saved model gives */
    free(cf_test_write(dir, "pairs.tsv", "n8\t17\nn7\t2\nnx\t5\n3\t17\n", (size_t)-1));
    direct = cli("predict", "model.cfm", "pairs.tsv", "--fold-in", "hist.tsv", NULL);
    via = cli("predict", "new.cfm", "pairs.tsv", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_str_eq(direct.out, via.out);
    run_free(&direct), run_free(&via);
    direct = cli("eval", "model.cfm", "hist.tsv", "--fold-in", "hist.tsv", "--json", NULL);
    via = cli("eval", "new.cfm", "hist.tsv", "--json", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_eq(via.code, 0, "%s", via.err);
    const char *rm1 = strstr(direct.out, "\"rmse\":"), *rm2 = strstr(via.out, "\"rmse\":");
    cr_assert(rm1 && rm2 && strncmp(rm1, rm2, (size_t)(strstr(rm2, ",\"skipped\"") - rm2)) == 0, "%s\n%s",
              direct.out, via.out);
    snprintf(want, sizeof want, "\"fold_in\":{\"data\":\"hist.tsv\",\"users\":3,\"users_empty\":1,\"users_new\":3,\"ratings\":%d,"
                                "\"ratings_unknown\":1}", n_hist);
    cr_assert(strstr(direct.out, want), "want %s in %s", want, direct.out);
    run_free(&direct), run_free(&via);
    /* eval --fold-in --top: HISTORY is what the lists leave out; later.tsv holds items n8 and
     * n7 did not rate */
    char later[4096];
    size_t lw = 0;
    for (int u = 0; u < 2; u++) {
        const char *who = u ? "7" : "8";
        for (int item = 1, got = 0; item <= N_ITEMS && got < 6; item++) {
            char id[16];
            snprintf(id, sizeof id, "%d", item);
            int rated = 0;
            for (int j = 0; j < t.n && !rated; j++) rated = !strcmp(t.user[j], who) && !strcmp(t.item[j], id);
            if (rated) continue;
            lw += (size_t)snprintf(later + lw, sizeof later - lw, "n%s\t%s\t%d\n", who, id, 1 + (item % 5));
            got++;
        }
    }
    free(cf_test_write(dir, "later.tsv", later, lw));
    direct = cli("eval", "model.cfm", "later.tsv", "--fold-in", "hist.tsv", "--top", "20", "--json", NULL);
    via = cli("eval", "new.cfm", "later.tsv", "--top", "20", "--exclude", "hist.tsv", "--json", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_eq(via.code, 0, "%s", via.err);
    const char *rk1 = strstr(direct.out, "\"ranking\":"), *rk2 = strstr(via.out, "\"ranking\":");
    cr_assert(rk1 && rk2 && strstr(rk1, ",\"fold_in\":"), "%s", direct.out);
    cr_assert(strncmp(rk1, rk2, (size_t)(strstr(rk1, ",\"fold_in\":") - rk1)) == 0 && strstr(rk1, "\"users\":2,"),
              "%s\n%s", direct.out, via.out);
    run_free(&direct), run_free(&via);

    /* explain: n8's score of item 17 split over its ratings in hist.tsv, as the library splits it */
    direct = cli("explain", "model.cfm", "hist.tsv", "--user", "n8", "--item", "17", "-n", "4", "--json", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    assert_one_json_object(direct.out);
    cf_explain_term terms[4];
    int32_t nt = 0;
    cf_explanation ex;
    cr_assert_eq(cf_model_explain(m, ds, NULL, "n8", "17", 4, terms, &nt, &ex, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(nt, 4);
    cr_assert_eq(json_num(direct.out, "score"), ex.score, "%s", direct.out);
    cr_assert_eq(json_num(direct.out, "ratings"), (double)ex.ratings);
    char term0[128];
    snprintf(term0, sizeof term0, "\"terms\":[{\"item\":\"%s\",", terms[0].item);
    cr_assert(strstr(direct.out, term0), "want %s in %s", term0, direct.out);
    cr_assert_eq(cf_model_predict(saved, "n8", "17", &x, &err), CF_OK);
    cr_assert_eq(ex.score, x, "the explained score is the fold-in model's");
    run_free(&direct);
    direct = cli("explain", "model.cfm", "hist.tsv", "--user", "n8", "--item", "17", "-n", "2", "--quiet", NULL);
    cr_assert_eq(direct.code, 0, "%s", direct.err);
    cr_assert_str_empty(direct.err);
    snprintf(want, sizeof want, "item 17 for user n8: %.4f = %.4f (μ + b_i) %+.4f from the user's %lld ratings in hist.tsv\n",
             ex.score, ex.base, ex.score - ex.base, (long long)ex.ratings);
    cr_assert(strncmp(direct.out, want, strlen(want)) == 0, "want '%s' first in: %s", want, direct.out);
    cr_assert(strstr(direct.out, "(the other "), "%s", direct.out);
    run_free(&direct);
    r = cli("explain", "model.cfm", "hist.tsv", "--user", "8", "--item", "17", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "user '8' has no ratings"), "%s", r.err);
    run_free(&r);
    expect_usage("--item is required", cli("explain", "model.cfm", "hist.tsv", "--user", "n8", NULL));

    /* errors */
    r = cli("recommend", "model.cfm", "--fold-in", "hist.tsv", "--user", "3", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "user '3' is not in hist.tsv"), "%s", r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);
    r = cli("fold-in", "model.cfm", "missing.tsv", "--out", "other.cfm", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "missing.tsv"), "%s", r.err);
    run_free(&r);
    char *op = cf_test_path(dir, "other.cfm");
    cr_assert_not(exists(op), "a failed fold-in left other.cfm");
    expect_usage("--fold-in-lambda needs --fold-in DATA", cli("recommend", "model.cfm", "--all-users",
                                                             "--fold-in-lambda", "1", NULL));
    expect_usage("--fold-in-reg needs --fold-in HISTORY", cli("eval", "model.cfm", "data.tsv", "--fold-in-reg",
                                                             "plain", NULL));
    expect_usage("--out", cli("fold-in", "model.cfm", "hist.tsv", NULL));
    free(op), free(np), free(hp), free(dp), free(P1), free(P2);
    rows_free(&t);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m), cf_model_destroy(&mine), cf_model_destroy(&saved);
}

Test(cli, recommend_returns_the_top_unrated_items) {
    free(gen_and_train());
    cf_model *m = load_model();
    char *dp = data_path();
    rows t = read_rows(dp);
    /* a user with many ratings who still has unrated items: among the users of the
     * first 500 lines, the most frequent one with at most N_ITEMS - 20 ratings */
    int best = -1, best_n = 0;
    for (int k = 0; k < 500; k++) {
        int c = 0;
        for (int j = 0; j < t.n; j++) c += strcmp(t.user[j], t.user[k]) == 0;
        if (c > best_n && c <= N_ITEMS - 20) best_n = c, best = k;
    }
    cr_assert_geq(best, 0);
    const char *user = t.user[best];
    const char **rated = malloc(sizeof *rated * (size_t)t.n);
    int n_rated = 0;
    for (int j = 0; j < t.n; j++)
        if (strcmp(t.user[j], user) == 0) rated[n_rated++] = t.item[j];
    cr_assert_gt(n_rated, 10);
    run_result r = cli("recommend", "model.cfm", "--user", user, "-n", "7", "--exclude", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char item[7][64];
    double score[7];
    int k = 0;
    char *text = strdup(r.out);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), k++) {
        cr_assert_lt(k, 7, "more than 7 lines: %s", r.out);
        int rank;
        cr_assert_eq(sscanf(line, "%d\t%63[^\t]\t%lf", &rank, item[k], &score[k]), 3, "bad line: %s", line);
        cr_assert_eq(rank, k + 1);
        if (k) cr_assert_geq(score[k - 1], score[k], "not descending: %s", r.out);
        for (int j = 0; j < n_rated; j++)
            cr_assert_str_neq(rated[j], item[k], "recommended item %s was rated by %s", item[k], user);
        for (int j = 0; j < k; j++) cr_assert_str_neq(item[j], item[k], "item %s twice", item[k]);
        double want = predict_or_nan(m, user, item[k]);
        cr_assert(fabs(score[k] - want) <= 1e-9, "score %.17g, library %.17g", score[k], want);
    }
    free(text);
    cr_assert_eq(k, 7, "%d lines: %s", k, r.out);
    /* no unrated item of the file scores above the 7th */
    for (int j = 0; j < t.n; j++) {
        int was_rated = 0;
        for (int q = 0; q < n_rated && !was_rated; q++) was_rated = strcmp(rated[q], t.item[j]) == 0;
        if (was_rated) continue;
        double x = predict_or_nan(m, user, t.item[j]);
        if (isnan(x)) continue; /* an item only in the test part, unknown to the model */
        int listed = 0;
        for (int q = 0; q < 7; q++) listed |= strcmp(item[q], t.item[j]) == 0;
        cr_assert(listed || x <= score[6] + 1e-12, "unrated item %s scores %.17g above the 7th (%.17g)", t.item[j],
                  x, score[6]);
    }
    run_free(&r);

    r = cli("recommend", "model.cfm", "--user", user, "--n=3", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    int ranks = 0;
    for (const char *p = r.out; (p = strstr(p, "\"rank\":")); p++) ranks++;
    cr_assert_eq(ranks, 3, "%s", r.out);
    run_free(&r);

    r = cli("recommend", "model.cfm", "--user", "nobody", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "cufactor: error:"), "%s", r.err);
    run_free(&r);
    free(rated);
    rows_free(&t);
    cf_model_destroy(&m);
    free(dp);
}

/* ------------------------------------------------------------------ export */

/* Reads an .npy of float64: checks the header, fills shape, returns the data. */
static double *read_npy(const char *path, long long shape[2], int *ndim) {
    size_t len = 0;
    char *b = cf_test_read(path, &len);
    cr_assert_not_null(b, "cannot read %s", path);
    cr_assert(len >= 10 && memcmp(b, "\x93NUMPY", 6) == 0, "%s: no NumPy magic", path);
    size_t hlen, off;
    if (b[6] == 1) {
        hlen = (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8;
        off = 10;
    } else {
        cr_assert(b[6] == 2 || b[6] == 3, "%s: version %d", path, b[6]);
        hlen = (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8 | (size_t)(unsigned char)b[10] << 16 |
               (size_t)(unsigned char)b[11] << 24;
        off = 12;
    }
    cr_assert_leq(off + hlen, len);
    char *h = strndup(b + off, hlen);
    off += hlen;
    cr_assert_eq(off % 16, 0, "%s: data not aligned (%zu)", path, off);
    cr_assert(strstr(h, "'descr': '<f8'"), "%s: %s", path, h);
    cr_assert(strstr(h, "'fortran_order': False"), "%s: %s", path, h);
    const char *s = strstr(h, "'shape': (");
    cr_assert_not_null(s, "%s: %s", path, h);
    shape[0] = shape[1] = 1;
    *ndim = sscanf(s, "'shape': (%lld, %lld)", &shape[0], &shape[1]);
    if (*ndim == 2 && strstr(s, ",)")) *ndim = 1; /* (n,) */
    cr_assert(*ndim >= 1, "%s: %s", path, h);
    if (*ndim == 1) shape[1] = 1;
    cr_assert_eq(len - off, (size_t)(shape[0] * shape[1]) * 8, "%s: %zu data bytes for shape %lld×%lld", path,
                 len - off, shape[0], shape[1]);
    double *x = malloc(len - off + 8);
    memcpy(x, b + off, len - off);
    free(h);
    free(b);
    return x;
}

/* Lines of a text file as strings (one ID per line). */
static char **read_lines(const char *path, int *n) {
    char *text = cf_test_read(path, NULL);
    cr_assert_not_null(text, "cannot read %s", path);
    int cap = 16;
    char **v = malloc(sizeof *v * (size_t)cap);
    *n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (*n == cap) v = realloc(v, sizeof *v * (size_t)(cap *= 2));
        v[(*n)++] = strdup(line);
    }
    free(text);
    return v;
}

static int index_of(char **v, int n, const char *s) {
    for (int k = 0; k < n; k++)
        if (strcmp(v[k], s) == 0) return k;
    return -1;
}

/* info on a model: the dimensions and μ are cf_model_info's, the config's fields its own,
 * the norms' extremes those of the rows computed here in the same order (so equal). */
Test(cli, info_tells_what_a_model_holds) {
    free(gen_and_train());
    run_result r = cli("info", "model.cfm", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    char kind[32];
    cr_assert(json_str(r.out, "kind", kind, sizeof kind) && strcmp(kind, "model") == 0, "%s", r.out);
    cr_assert_eq(json_num(r.out, "users"), (double)mi.n_users);
    cr_assert_eq(json_num(r.out, "items"), (double)mi.n_items);
    cr_assert_eq(json_num(r.out, "factors"), 3.0);
    cr_assert_eq(json_num(r.out, "mu"), mi.mu);
    const char *cfg = json_value(r.out, "config");
    cr_assert(cfg && json_num(cfg, "factors") == 3.0 && json_num(cfg, "seed") == 11.0 && json_num(cfg, "iters") == 8.0,
              "%s", r.out);
    double *P = malloc(sizeof(double) * (size_t)mi.n_users * 3), *bu = malloc(sizeof(double) * (size_t)mi.n_users);
    cr_assert(P && bu);
    cf_model_params(m, P, NULL, bu, NULL);
    double pmax = 0, bmin = INFINITY;
    for (int64_t u = 0; u < mi.n_users; u++) {
        double sq = 0;
        for (int k = 0; k < 3; k++) sq += P[u * 3 + k] * P[u * 3 + k];
        pmax = fmax(pmax, sqrt(sq)), bmin = fmin(bmin, bu[u]);
    }
    cr_assert_eq(json_num(json_value(r.out, "user_norm"), "max"), pmax);
    cr_assert_eq(json_num(json_value(r.out, "user_bias"), "min"), bmin);
    run_free(&r);
    r = cli("info", "model.cfm", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[128];
    snprintf(want, sizeof want, "users        %lld\nitems        %lld\nfactors      3, biases on", (long long)mi.n_users,
             (long long)mi.n_items);
    cr_assert(strstr(r.out, want) && strstr(r.out, "checksum verified") && strstr(r.out, "seed=11"), "%s", r.out);
    run_free(&r);
    /* a damaged model names the file; no FILE is a usage error */
    size_t len;
    char *mp = model_file(), *bytes = cf_test_read(mp, &len);
    bytes[len / 2] ^= 0x40;
    free(cf_test_write(dir, "bad.cfm", bytes, len));
    r = cli("info", "bad.cfm", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "bad.cfm") && strstr(r.err, "checksum"), "%s", r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);
    expect_usage("FILE", cli("info", NULL));
    free(mp), free(bytes), free(P), free(bu);
    cf_model_destroy(&m);
}

/* info on ratings, text and binary: a hand file whose numbers are known. u1 rates i1 twice
 * (the last, 2, kept): ratings 2, 3, 4, 1 over 3 users and 3 items. */
Test(cli, info_tells_what_a_ratings_file_holds) {
    static const char text[] = "u1\ti1\t5\nu1\ti2\t3\nu2\ti1\t4\nu3\ti3\t1\nu1\ti1\t2\n";
    free(cf_test_write(dir, "tiny.tsv", text, sizeof text - 1));
    run_result c = cli("convert", "tiny.tsv", "tiny.cfd", "--quiet", NULL);
    cr_assert_eq(c.code, 0, "%s", c.err);
    run_free(&c);
    for (int bin = 0; bin <= 1; bin++) {
        run_result r = cli("info", bin ? "tiny.cfd" : "tiny.tsv", "--json", NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        assert_one_json_object(r.out);
        char fmt[32];
        cr_assert(json_str(r.out, "format", fmt, sizeof fmt) && strcmp(fmt, bin ? "binary" : "delimited") == 0);
        cr_assert(json_num(r.out, "users") == 3 && json_num(r.out, "items") == 3 && json_num(r.out, "ratings") == 4,
                  "%s", r.out);
        cr_assert_eq(json_num(r.out, "duplicates"), bin ? 0.0 : 1.0);
        cr_assert_eq(json_num(r.out, "density"), 4.0 / 9.0);
        const char *rt = json_value(r.out, "rating");
        cr_assert(json_num(rt, "min") == 1 && json_num(rt, "mean") == 2.5 && json_num(rt, "max") == 4, "%s", r.out);
        cr_assert(strstr(r.out, "\"values\":[1,2,3,4]"), "%s", r.out);
        for (int side = 0; side < 2; side++) {
            const char *o = json_value(r.out, side ? "per_item" : "per_user");
            cr_assert(json_num(o, "min") == 1 && json_num(o, "median") == 1 && json_num(o, "mean") == 4.0 / 3 &&
                          json_num(o, "max") == 2,
                      "%s", r.out);
        }
        run_free(&r);
    }
    run_result r = cli("info", "tiny.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "delimited (tab)") && strstr(r.out, "ratings      4 (density 44.44 %)") &&
                  strstr(r.out, "values       1 2 3 4\n") &&
                  strstr(r.out, "per user     min 1  median 1  mean 1.33333  max 2"),
              "%s", r.out);
    run_free(&r);
    static const char bad[] = "u1\ti1\t5\nu2\ti1\tfive\n";
    free(cf_test_write(dir, "bad.tsv", bad, sizeof bad - 1));
    r = cli("info", "bad.tsv", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "bad.tsv:2"), "%s", r.err);
    run_free(&r);
}

/* info on a checkpoint: the iterations done and the training's data and config. */
Test(cli, info_tells_where_a_checkpoint_stands) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--factors", "3", "--iters", "3", "--checkpoint", "c.cfc",
                       "--checkpoint-every", "1", "--threads", "1", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    char *cp = cf_test_path(dir, "c.cfc");
    cf_checkpoint_info ci;
    cf_error err = {0};
    cr_assert_eq(cf_checkpoint_info_get(cp, &ci, &err), CF_OK, "%s", err.msg);
    r = cli("info", "c.cfc", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    char kind[32];
    cr_assert(json_str(r.out, "kind", kind, sizeof kind) && strcmp(kind, "checkpoint") == 0);
    cr_assert(json_num(r.out, "iter") == ci.iter && json_num(r.out, "train") == (double)ci.n_train &&
                  json_num(r.out, "users") == (double)ci.n_users,
              "%s", r.out);
    cr_assert_eq(json_num(json_value(r.out, "config"), "factors"), 3.0);
    run_free(&r);
    r = cli("info", "c.cfc", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "--resume c.cfc") && strstr(r.out, "factors=3"), "%s", r.out);
    run_free(&r);
    free(cp);
}

Test(cli, export_npy_reproduces_the_predictions) {
    free(gen_and_train());
    run_result r = cli("export", "model.cfm", "--npy", "npy", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    cf_model *m = load_model();
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    char *npy = cf_test_path(dir, "npy");
    const char *names[] = {"P.npy", "Q.npy", "user_bias.npy", "item_bias.npy", "users.txt", "items.txt", "meta.json"};
    char *path[7];
    for (int k = 0; k < 7; k++) {
        path[k] = cf_test_path(npy, names[k]);
        cr_assert(exists(path[k]), "%s missing", path[k]);
    }
    long long sp[2], sq[2], sbu[2], sbi[2];
    int nd;
    double *P = read_npy(path[0], sp, &nd);
    cr_assert(nd == 2 && sp[0] == mi.n_users && sp[1] == mi.factors && mi.factors == 3, "P shape %lld×%lld", sp[0],
              sp[1]);
    double *Q = read_npy(path[1], sq, &nd);
    cr_assert(nd == 2 && sq[0] == mi.n_items && sq[1] == mi.factors, "Q shape %lld×%lld", sq[0], sq[1]);
    double *bu = read_npy(path[2], sbu, &nd);
    cr_assert(nd == 1 && sbu[0] == mi.n_users);
    double *bi = read_npy(path[3], sbi, &nd);
    cr_assert(nd == 1 && sbi[0] == mi.n_items);
    int nu, ni;
    char **users = read_lines(path[4], &nu), **items = read_lines(path[5], &ni);
    cr_assert_eq(nu, mi.n_users);
    cr_assert_eq(ni, mi.n_items);
    /* r̂ = μ + b_u + b_i + P[u]·Q[i] from the exported arrays equals the library's */
    char *dp = data_path();
    rows t = read_rows(dp);
    for (int k = 0; k < t.n; k += 97) {
        int u = index_of(users, nu, t.user[k]), i = index_of(items, ni, t.item[k]);
        double want = predict_or_nan(m, t.user[k], t.item[k]);
        if (isnan(want)) continue;
        cr_assert(u >= 0 && i >= 0, "%s / %s not in the exported ID lists", t.user[k], t.item[k]);
        double x = mi.mu + bu[u] + bi[i];
        for (int f = 0; f < mi.factors; f++) x += P[(size_t)u * 3 + f] * Q[(size_t)i * 3 + f];
        cr_assert(fabs(x - want) <= 1e-9, "%s %s: from npy %.17g, library %.17g", t.user[k], t.item[k], x, want);
    }
    rows_free(&t);
    for (int k = 0; k < nu; k++) free(users[k]);
    for (int k = 0; k < ni; k++) free(items[k]);
    free(users), free(items), free(P), free(Q), free(bu), free(bi), free(dp), free(npy);
    for (int k = 0; k < 7; k++) free(path[k]);
    cf_model_destroy(&m);
}

/* ------------------------------------------------------------------ errors */

static void expect_usage(const char *msg, run_result r) {
    cr_assert_eq(r.code, 2, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.err, msg), "'%s' not in: %s", msg, r.err);
    cr_assert(strstr(r.err, "usage: cufactor"), "no usage line: %s", r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);
}

Test(cli, usage_errors_exit_2) {
    expect_usage("cufactor train: --factors: 'abc' is not an integer",
                 cli("train", "data.tsv", "--factors", "abc", NULL));
    expect_usage("see cufactor train --help", cli("train", "data.tsv", "--factors=4x", NULL));
    expect_usage("--factors: '99999999999' is out of range", cli("train", "data.tsv", "--factors", "99999999999", NULL));
    expect_usage("--lambda: '0.1x' is not a finite number", cli("train", "data.tsv", "--lambda", "0.1x", NULL));
    expect_usage("--lambda: 'nan' is not a finite number", cli("train", "data.tsv", "--lambda", "nan", NULL));
    expect_usage("--seed: '-1' is not a non-negative integer", cli("train", "data.tsv", "--seed", "-1", NULL));
    expect_usage("unknown option '--bogus'", cli("train", "data.tsv", "--bogus", "1", NULL));
    expect_usage("--factors: missing value", cli("train", "data.tsv", "--factors", NULL));
    expect_usage("missing DATA", cli("train", "--factors", "4", NULL));
    expect_usage("unexpected argument 'extra.tsv'", cli("train", "data.tsv", "extra.tsv", NULL));
    expect_usage("--algo: 'svd' is not one of", cli("train", "data.tsv", "--algo", "svd", NULL));
    expect_usage("--json takes no value", cli("train", "data.tsv", "--json=yes", NULL));
    expect_usage("exclude each other", cli("train", "data.tsv", "--test", "t.tsv", "--test-ratio", "0.2", NULL));
    expect_usage("--test-ratio", cli("train", "data.tsv", "--test-ratio", "1", NULL));
    expect_usage("factors", cli("train", "data.tsv", "--factors", "0", NULL)); /* cf_config_validate */
    expect_usage("missing MODEL", cli("eval", NULL));
    expect_usage("missing PAIRS", cli("predict", "model.cfm", NULL));
    expect_usage("give one of --user ID, --users FILE, --all-users", cli("recommend", "model.cfm", NULL));
    expect_usage("give one of --user ID, --users FILE, --all-users",
                 cli("recommend", "model.cfm", "--user", "1", "--all-users", NULL));
    expect_usage("--out is for many users", cli("recommend", "model.cfm", "--user", "1", "--out", "x", NULL));
    expect_usage("-n: '0' is out of range", cli("recommend", "model.cfm", "--user", "1", "-n", "0", NULL));
    expect_usage("--ratings is required", cli("gen", "--users", "5", "--items", "5", "--rank", "2", "--noise", "0.1",
                                              "--out", "x.tsv", NULL));
    expect_usage("ratings", cli("gen", "--users", "3", "--items", "3", "--ratings", "10", "--rank", "1", "--noise", "0",
                                "--out", "x.tsv", NULL)); /* more ratings than pairs: cf_generate's check */
    expect_usage("--npy is required", cli("export", "model.cfm", NULL));
    expect_usage("unknown option '--factors'", cli("demo", "--factors", "3", NULL));
    expect_usage("unknown command 'fit'", cli("fit", "data.tsv", NULL));
    expect_usage("missing COMMAND", cli(NULL));
}

/* stdout up to its "seconds" line (the rest holds timings) */
static char *until_seconds(char *out) {
    char *t = strstr(out, "\nseconds");
    cr_assert_not_null(t, "%s", out);
    t[1] = '\0';
    return out;
}

/* cv's --factors and --lambda, what a user of train types, are its grid axes: the same
 * table and best cell as --grid factors=... --grid lambda=...; both forms of an axis at
 * once is the usual "given twice". */
Test(cli, cv_factors_and_lambda_are_the_grid_axes) {
    gen_data();
    run_result a = cli("cv", "data.tsv", "--grid", "factors=2,3", "--grid", "lambda=0.1,1", "--folds", "2", "--iters",
                       "2", NULL);
    run_result b = cli("cv", "data.tsv", "--factors", "3,2", "--lambda=1,0.1", "--folds", "2", "--iters", "2", NULL);
    cr_assert_eq(a.code, 0, "%s", a.err);
    cr_assert_eq(b.code, 0, "%s", b.err);
    cr_assert(strstr(a.out, "best        K="), "%s", a.out);
    cr_assert_str_eq(until_seconds(b.out), until_seconds(a.out));
    run_free(&a), run_free(&b);
    expect_usage("--grid factors given twice",
                 cli("cv", "data.tsv", "--factors", "2", "--grid", "factors=3", "--lambda", "0.1", NULL));
    expect_usage("--lambda needs a value", cli("cv", "data.tsv", "--factors", "2", "--lambda", NULL));
}

/* A mistyped command, subcommand or option names the closest one (a typo, a swap of
 * two letters, a start of a longer name); a name far from every candidate gets none. */
Test(cli, unknown_names_suggest_the_closest) {
    expect_usage("unknown command 'trian' (did you mean 'train'?)", cli("trian", "data.tsv", NULL));
    expect_usage("unknown command 'recomend' (did you mean 'recommend'?)", cli("recomend", NULL));
    expect_usage("unknown command 'verfy' (did you mean 'verify'?)", cli("help", "verfy", NULL));
    expect_usage("unknown subcommand 'rnu' (did you mean 'run'?)", cli("bench", "rnu", NULL));
    expect_usage("unknown option '--factor' (did you mean '--factors'?)",
                 cli("train", "data.tsv", "--factor", "4", NULL));
    expect_usage("unknown option '--lamda' (did you mean '--lambda'?)",
                 cli("train", "data.tsv", "--lamda=0.1", NULL));
    expect_usage("unknown option '--test-ration' (did you mean '--test-ratio'?)",
                 cli("train", "data.tsv", "--test-ration", "0.2", NULL));
    expect_usage("unknown option '--fact' (did you mean '--factors'?)", cli("train", "data.tsv", "--fact", "4", NULL));
    expect_usage("unknown option '--itres' (did you mean '--iters'?)",
                 cli("cv", "data.tsv", "--grid", "factors=2", "--grid", "lambda=0.1", "--itres", "2", NULL));
    expect_usage("unknown option '--hlep' (did you mean '--help'?)", cli("gen", "--hlep", NULL));
    /* far from everything, or the start of several names: no guess */
    const char *none[][4] = {{"train", "data.tsv", "--bogus", "1"}, {"demo", "--factors", "3", NULL},
                             {"train", "data.tsv", "--gpu", "0"}, {"fit", "data.tsv", NULL, NULL}};
    for (size_t k = 0; k < sizeof none / sizeof *none; k++) {
        run_result r = cli(none[k][0], none[k][1], none[k][2], none[k][3], NULL);
        cr_assert_eq(r.code, 2, "%s %s: exit %d", none[k][0], none[k][1], r.code);
        cr_assert(strstr(r.err, "unknown "), "%s", r.err);
        cr_assert(!strstr(r.err, "did you mean"), "%s %s %s: a guess where none fits: %s", none[k][0], none[k][1],
                  none[k][2] ? none[k][2] : "", r.err);
        run_free(&r);
    }
}

Test(cli, data_errors_exit_1_with_file_and_line) {
    free(cf_test_write(dir, "bad.tsv", "1\t1\t4\n2\t1\t3\n3\t2\tabc\n4\t2\t5\n", (size_t)-1));
    run_result r = cli("train", "bad.tsv", "--model", "m.cfm", NULL);
    cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "cufactor: error: "), "%s", r.err);
    cr_assert(strstr(r.err, "bad.tsv:3"), "no file:line in: %s", r.err);
    run_free(&r);
    char *m = cf_test_path(dir, "m.cfm");
    cr_assert_not(exists(m), "a model was written after a failure");
    cr_assert_eq(count_entries(dir, "m.cfm"), 0, "a temporary model file was left");
    free(m);

    /* an unwritable --model is refused before reading or training */
    r = cli("train", "bad.tsv", "--model", "no/such/dir/m.cfm", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "--model no/such/dir/m.cfm: cannot write in the directory 'no/such/dir'"), "%s", r.err);
    run_free(&r);

    r = cli("train", "missing.tsv", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "missing.tsv"), "%s", r.err);
    run_free(&r);

    /* a file that is not a model */
    free(cf_test_write(dir, "fake.cfm", "this is not a model\n", (size_t)-1));
    r = cli("eval", "fake.cfm", "bad.tsv", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "fake.cfm"), "%s", r.err);
    run_free(&r);
}

Test(cli, skip_bad_lines_reports_the_first_one) {
    gen_data();
    char *dp = data_path();
    FILE *f = fopen(dp, "a");
    fprintf(f, "u1\ti1\tfour\n");
    fclose(f);
    run_result r = cli("train", "data.tsv", "--iters", "1", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "data.tsv:6001"), "%s", r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--iters", "1", "--skip-bad-lines", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "1 bad lines skipped"), "%s", r.err);
    cr_assert(strstr(r.err, "data.tsv:6001"), "%s", r.err);
    cr_assert_eq(json_num(r.out, "n_train") + json_num(r.out, "n_test"), N_RATINGS);
    run_free(&r);
    free(dp);
}

Test(cli, device_gpu_without_a_gpu_is_a_clear_error) {
    char why[256] = "";
    if (cf_gpu_available(why, sizeof why)) cr_skip_test("a GPU is usable here");
    gen_data();
    run_result r = cli("train", "data.tsv", "--device", "gpu", "--model", "g.cfm", NULL);
    cr_assert_eq(r.code, 1, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "cufactor: error: --device gpu"), "%s", r.err);
    cr_assert(strstr(r.err, why), "reason '%s' not in: %s", why, r.err);
    char *g = cf_test_path(dir, "g.cfm");
    cr_assert_not(exists(g));
    free(g);
    run_free(&r);

    /* auto: the CPU, with a one-line notice on stderr and in the JSON */
    r = cli("train", "data.tsv", "--iters", "1", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char s[256];
    cr_assert(json_str(r.out, "device", s, sizeof s) && strstr(s, "cpu"), "%s", r.out);
    cr_assert(json_str(r.out, "notice", s, sizeof s) && s[0], "no notice: %s", r.out);
    const char *nl = strstr(r.err, "notice:");
    cr_assert_not_null(nl, "%s", r.err);
    /* CUDA's start-up was tried during the read (and found nothing): timed, non-negative */
    cr_assert_geq(json_num(r.out, "device_start_seconds"), 0, "%s", r.out);
    run_free(&r);
    /* --device cpu: no start-up at all */
    r = cli("train", "data.tsv", "--iters", "1", "--device", "cpu", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(isnan(json_num(r.out, "device_start_seconds")), "%s", r.out);
    run_free(&r);
}

/* ------------------------------------------------------------------ help */

typedef struct help_case {
    const char *cmd;
    const char *flags[40];
} help_case;

/* --precision fp16 is GPU SGD only: refused with a message naming the field. */
Test(cli, precision_fp16_is_checked) {
    run_result r = cli("train", CF_TEST_DATA_DIR "/tiny_u.data", "--algo", "als", "--precision", "fp16", NULL);
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "precision") && strstr(r.err, "sgd"), "%s", r.err);
    run_free(&r);
    r = cli("train", CF_TEST_DATA_DIR "/tiny_u.data", "--algo", "sgd", "--device", "cpu", "--precision", "fp16", NULL);
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "precision") && strstr(r.err, "GPU"), "%s", r.err);
    run_free(&r);
    r = cli("train", CF_TEST_DATA_DIR "/tiny_u.data", "--precision", "fp8", NULL);
    cr_assert_neq(r.code, 0);
    cr_assert(strstr(r.err, "fp8") || strstr(r.err, "precision"), "%s", r.err);
    run_free(&r);
}

/* --als-solver cusolver|fused (GPU ALS; the CPU ignores it): train and verify accept both
 * names, the help names the default, anything else is refused naming the choices. */
Test(cli, als_solver_option) {
    run_result r = cli("train", CF_TEST_DATA_DIR "/tiny_u.data", "--device", "cpu", "--factors", "2", "--iters", "1",
                       "--als-solver", "fused", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("train", CF_TEST_DATA_DIR "/tiny_u.data", "--device", "cpu", "--factors", "2", "--iters", "1",
            "--als-solver=cusolver", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("train", CF_TEST_DATA_DIR "/tiny_u.data", "--als-solver", "magma", NULL);
    cr_assert_eq(r.code, 2, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "--als-solver: 'magma' is not one of") && strstr(r.err, "cusolver") &&
                  strstr(r.err, "fused"),
              "%s", r.err);
    run_free(&r);
    r = cli("train", "--help", NULL);
    cr_assert_eq(r.code, 0);
    const char *h = strstr(r.out, "--als-solver cusolver|fused"), *next = h ? strstr(h + 1, "\n  --") : NULL;
    const char *dflt = h ? strstr(h, "[default: cusolver]") : NULL;
    cr_assert(h && next && dflt && dflt < next, "the help of --als-solver names its default:\n%s", r.out);
    run_free(&r);
    gen_data();
    r = cli("verify", "data.tsv", "--candidate", "cpu", "--factors", "2", "--iters", "1", "--als-solver", "fused",
            "--quiet", NULL);
    cr_assert_eq(r.code, 0, "verify (%d): %s", r.code, r.err);
    run_free(&r);
}

/* --als-gram simt|tc (GPU ALS; the CPU ignores it): train and verify accept both, the help
 * names the default (simt), anything else is refused naming the choices. */
Test(cli, als_gram_option) {
    run_result r = cli("train", CF_TEST_DATA_DIR "/tiny_u.data", "--device", "cpu", "--factors", "2", "--iters", "1",
                       "--als-gram", "tc", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("train", CF_TEST_DATA_DIR "/tiny_u.data", "--als-gram", "wmma", NULL);
    cr_assert_eq(r.code, 2, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "--als-gram: 'wmma' is not one of") && strstr(r.err, "simt") && strstr(r.err, "tc"), "%s",
              r.err);
    run_free(&r);
    r = cli("train", "--help", NULL);
    cr_assert_eq(r.code, 0);
    const char *h = strstr(r.out, "--als-gram simt|tc"), *next = h ? strstr(h + 1, "\n  --") : NULL;
    const char *dflt = h ? strstr(h, "[default: simt]") : NULL;
    cr_assert(h && next && dflt && dflt < next, "the help of --als-gram names its default:\n%s", r.out);
    run_free(&r);
    gen_data();
    r = cli("verify", "data.tsv", "--candidate", "cpu", "--factors", "2", "--iters", "1", "--als-gram", "tc",
            "--quiet", NULL);
    cr_assert_eq(r.code, 0, "verify (%d): %s", r.code, r.err);
    run_free(&r);
}

/* The measures of a "ranking" JSON object (rk: at its start, pop: at its "popular") are
 * want's: JSON numbers are the shortest round-trip form, so equal as doubles. */
static void same_ranking_json(const char *rk, const char *pop, const cf_rank_report *want) {
    static const char *names[] = {"precision", "recall", "ndcg", "map", "hit_rate", "coverage"};
    for (int q = 0; q < 6; q++) {
        cr_assert_eq(json_num(rk, names[q]), (&want->model.precision)[q], "model %s", names[q]);
        cr_assert_eq(json_num(pop, names[q]), (&want->popular.precision)[q], "popular %s", names[q]);
    }
}

/* eval --top: the JSON's ranking is the library's (cf_model_rank_evaluate on the same
 * files, read with the CLI's defaults), the text form has the table, and the ranking
 * options without --top are usage errors. */
Test(cli, eval_top_is_the_library_ranking) {
    gen_data();
    char *dp = data_path();
    rows t = read_rows(dp);
    char *a = cf_test_path(dir, "a.tsv"), *b = cf_test_path(dir, "b.tsv");
    FILE *fa = fopen(a, "w"), *fb = fopen(b, "w");
    for (int k = 0; k < t.n; k++) fprintf(k % 5 == 0 ? fb : fa, "%s\t%s\t%.17g\n", t.user[k], t.item[k], t.r[k]);
    fclose(fa), fclose(fb);
    run_result r = cli("train", "a.tsv", "--test-ratio", "0", "--factors", "3", "--iters", "5", "--model", "m.cfm",
                       "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("eval", "m.cfm", "b.tsv", "--top", "7", "--exclude", "a.tsv", "--relevant-min", "3.5", "--threads", "2",
            "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);

    cf_error err = {0};
    cf_model *m = NULL;
    cf_dataset *test = NULL, *ex = NULL;
    cf_read_options ro;
    cf_read_options_default(&ro);
    char *mp = cf_test_path(dir, "m.cfm");
    cr_assert_eq(cf_model_load(mp, &m, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_read(b, &ro, &test, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_read(a, &ro, &ex, NULL, &err), CF_OK, "%s", err.msg);
    cf_rank_report want;
    cr_assert_eq(cf_model_rank_evaluate(m, test, ex, 7, 3.5, 1, NULL, NULL, &want, &err), CF_OK, "%s", err.msg);
    cr_assert_gt(want.users, 50, "a ranking over many users");
    const char *rk = strstr(r.out, "\"ranking\":"), *pop = rk ? strstr(rk, "\"popular\":") : NULL;
    cr_assert(rk && pop, "%s", r.out);
    cr_assert_eq(json_num(rk, "n"), 7);
    cr_assert_eq(json_num(rk, "relevant_min"), 3.5);
    cr_assert_eq(json_num(rk, "users"), (double)want.users);
    cr_assert_eq(json_num(rk, "relevant"), (double)want.relevant);
    cr_assert_eq(json_num(rk, "relevant_excluded"), (double)want.relevant_excluded);
    same_ranking_json(rk, pop, &want);
    run_free(&r);

    r = cli("eval", "m.cfm", "b.tsv", "--top", "7", "--exclude", "a.tsv", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "ranking top 7:") && strstr(r.out, "precision@7") && strstr(r.out, "popular") &&
                  strstr(r.out, "coverage"),
              "%s", r.out);
    cr_assert_eq(r.err[0], '\0', "--quiet: nothing on stderr: %s", r.err);
    run_free(&r);
    expect_usage("--exclude needs --top N", cli("eval", "m.cfm", "b.tsv", "--exclude", "a.tsv", NULL));
    expect_usage("--relevant-min needs --top N", cli("eval", "m.cfm", "b.tsv", "--relevant-min", "4", NULL));
    r = cli("eval", "m.cfm", "b.tsv", "--top", "3", "--exclude", "missing.tsv", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "missing.tsv"), "%s", r.err);
    run_free(&r);

    cf_dataset_destroy(&test), cf_dataset_destroy(&ex);
    cf_model_destroy(&m);
    rows_free(&t);
    free(a), free(b), free(dp), free(mp);
}

/* train --top: the ranking of the test part is the library's on the same split
 * (cf_model_rank_evaluate_split on the file split with the same seed and the saved model). */
Test(cli, train_top_ranks_the_test_part) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--factors", "3", "--iters", "4", "--seed", "5", "--top", "6",
                       "--relevant-min", "3", "--model", "mt.cfm", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    cf_error err = {0};
    cf_model *m = NULL;
    cf_dataset *ds = NULL;
    cf_read_options ro;
    cf_read_options_default(&ro);
    char *mp = cf_test_path(dir, "mt.cfm"), *dp = data_path();
    cr_assert_eq(cf_model_load(mp, &m, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_read(dp, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_split(ds, 0.1, 5, &err), CF_OK, "%s", err.msg);
    cf_rank_report want;
    cr_assert_eq(cf_model_rank_evaluate_split(m, ds, 6, 3.0, 0, NULL, NULL, &want, &err), CF_OK, "%s", err.msg);
    cr_assert_gt(want.users, 50);
    const char *rk = strstr(r.out, "\"ranking\":{"), *pop = rk ? strstr(rk, "\"popular\":") : NULL;
    cr_assert(rk && pop, "%s", r.out);
    cr_assert_eq(json_num(rk, "users"), (double)want.users);
    cr_assert_eq(json_num(rk, "relevant"), (double)want.relevant);
    same_ranking_json(rk, pop, &want);
    cr_assert(json_num(strstr(r.out, "\"phase_seconds\""), "ranking") >= 0);
    run_free(&r);
    expect_usage("--relevant-min needs --top N", cli("train", "data.tsv", "--relevant-min", "3", NULL));
    expect_usage("--top ranks the test part", cli("train", "data.tsv", "--top", "5", "--test-ratio", "0", NULL));
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
    free(mp), free(dp);
}

Test(cli, every_help_lists_every_flag) {
    static const help_case cases[] = {
        {"train", {"--test", "--test-ratio", "--format", "--skip-bad-lines", "--algo", "--factors", "--iters",
                   "--lambda", "--reg", "--no-bias", "--tol", "--device", "--gpu-id", "--seed", "--threads",
                   "--init-scale", "--lr", "--lr-schedule", "--lr-decay", "--schedule", "--blocks", "--batch",
                   "--optimizer", "--inner", "--early-stop", "--restarts", "--precision", "--model", "--json",
                   "--quiet", "--checkpoint", "--checkpoint-every", "--resume", "--gpu-mem-limit", "--als-solver",
                   "--als-gram", "--top", "--relevant-min", NULL}},
        {"eval", {"--format", "--skip-bad-lines", "--json", "--top", "--exclude", "--relevant-min", "--threads", NULL}},
        {"predict", {"--out", "--fold-in", NULL}},
        {"recommend", {"--user", "-n", "--exclude", "--json", "--fold-in", "--fold-in-lambda", "--fold-in-reg", NULL}},
        {"fold-in", {"--out", "--items", "--merge", "--lambda", "--reg", "--threads", NULL}},
        {"info", {"--json", "--format", "--threads", NULL}},
        {"explain", {"--user", "--item", "-n", "--lambda", "--reg", "--json", NULL}},
        {"similar", {"--item", "--items", "--all-items", "-n", "--json", "--out", "--threads", NULL}},
        {"gen", {"--users", "--items", "--ratings", "--rank", "--noise", "--seed", "--zipf", "--round", "--no-clip",
                 "--mnar", "--out", NULL}},
        {"export", {"--npy", NULL}},
        {"demo", {"--threads", "--device", "--gpu-id", "--gpu-mem-limit", "--seed", "--keep", NULL}},
        {"verify", {"--test", "--test-ratio", "--algo", "--factors", "--iters", "--lambda", "--reg", "--no-bias",
                    "--schedule", "--candidate", "--rtol", "--max-rtol", "--rmse-rtol", "--json", "--device",
                    "--gpu-id", "--gpu-mem-limit", "--als-solver", "--als-gram", NULL}},
        {"cv", {"--grid", "--folds", "--select", "--relevant-min", "--algo", "--iters", "--reg", "--seed", "--model", "--svg", "--als-solver",
                "--als-gram", NULL}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        run_result r = cli(cases[c].cmd, "--help", NULL);
        cr_assert_eq(r.code, 0, "%s --help: exit %d", cases[c].cmd, r.code);
        char usage[64];
        snprintf(usage, sizeof usage, "usage: cufactor %s", cases[c].cmd);
        cr_assert(strstr(r.out, usage), "%s", r.out);
        for (int f = 0; cases[c].flags[f]; f++) {
            /* the flag followed by a blank, '=' or ',' (so --lr does not match --lr-decay) */
            char pat[3][64];
            snprintf(pat[0], 64, "%s ", cases[c].flags[f]);
            snprintf(pat[1], 64, "%s\n", cases[c].flags[f]);
            snprintf(pat[2], 64, "%s,", cases[c].flags[f]);
            cr_assert(strstr(r.out, pat[0]) || strstr(r.out, pat[1]) || strstr(r.out, pat[2]),
                      "cufactor %s --help does not mention %s:\n%s", cases[c].cmd, cases[c].flags[f], r.out);
        }
        run_free(&r);
        /* "cufactor help CMD" is the same text */
        r = cli("help", cases[c].cmd, NULL);
        cr_assert_eq(r.code, 0);
        cr_assert(strstr(r.out, usage), "%s", r.out);
        run_free(&r);
    }
    run_result r = cli("--help", NULL);
    cr_assert_eq(r.code, 0);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) cr_assert(strstr(r.out, cases[c].cmd), "%s", r.out);
    run_free(&r);
}

/* The "output" section of train, cv and verify comes from one table (config_opts.c):
 * each command's section, line for line, in its order (the command's own entries, train's
 * --top and --relevant-min, cv's --svg, after --model). */
Test(cli, output_sections_of_the_training_commands) {
    static const struct {
        const char *cmd, *section;
    } cases[] = {
        {"train", "output:\n"
                  "  --model OUT                 save the trained model here (.cfm, written atomically)\n"
                  "  --top N                     after training, rank the test part by each user's top N, beside "
                  "popularity (as eval --top; 0 = off) [default: 0]\n"
                  "  --relevant-min R            with --top: a test rating counts as relevant when >= R (default: "
                  "every rating)\n"
                  "  --json                      print one JSON object to stdout instead of the summary\n"
                  "  --quiet                     print nothing to stderr but errors\n"
                  "  -h, --help"},
        {"cv", "output:\n"
               "  --model OUT                 save the refit of the best cell on all the data here (.cfm)\n"
               "  --svg FILE                  write a heatmap of the mean validation RMSE (written atomically)\n"
               "  --json                      print one JSON object to stdout instead of the table\n"
               "  --quiet                     print nothing to stderr but errors\n"
               "  -h, --help"},
        {"verify", "output:\n"
                   "  --json                      print one JSON object to stdout instead of the table\n"
                   "  --quiet                     print nothing to stderr but errors\n"
                   "  -h, --help"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        run_result r = cli(cases[c].cmd, "--help", NULL);
        cr_assert_eq(r.code, 0);
        const char *sec = strstr(r.out, "\noutput:\n");
        cr_assert_not_null(sec, "%s --help has no output section:\n%s", cases[c].cmd, r.out);
        cr_assert_eq(strncmp(sec + 1, cases[c].section, strlen(cases[c].section)), 0,
                     "%s --help, output section:\n%.400s\nwanted:\n%s", cases[c].cmd, sec + 1, cases[c].section);
        run_free(&r);
    }
    /* and the flags do what they say: --quiet silences stderr, --json prints one object */
    gen_data();
    run_result r = cli("verify", "data.tsv", "--candidate", "cpu", "--iters", "1", "--factors", "2", "--quiet",
                       "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    assert_one_json_object(r.out);
    run_free(&r);
}

/* ------------------------------------------------------------------ Ctrl-C and resume */

/* Ctrl-C during `train`: started with far more iterations than it can run, SIGINT is
 * sent once the first progress line is out; the run must stop at an iteration
 * boundary i with exit 130, write the checkpoint, leave no --model and no temporary
 * file; resuming it with --iters i+2 must give the same model file, byte for byte, as
 * an uninterrupted run of i+2 iterations. */
Test(cli, sigint_stops_with_a_checkpoint_and_resume_matches) {
    gen_data();
    char *err_path = cf_test_path(dir, "stderr.txt");
    const char *argv[] = {CF_CLI_PATH, "train", "data.tsv", "--device", "cpu", "--factors", "12", "--threads", "2",
                          "--iters", "1000000", "--checkpoint", "ck.cfc", "--checkpoint-every", "0",
                          "--model", "never.cfm", NULL};
    pid_t pid = cf_test_start(dir, argv, NULL);
    cr_assert_neq(pid, -1);
    /* wait (up to 60 s) for the header and one progress line */
    int seen = 0;
    for (int t = 0; t < 60000 && !seen; t++) {
        char *e = cf_test_read(err_path, NULL);
        const char *h = e ? strstr(e, "ratings/s\n") : NULL;
        seen = h && strchr(h + 10, '\n') != NULL;
        free(e);
        if (!seen) usleep(1000);
    }
    cr_assert(seen, "no progress line within 60 s");
    cr_assert_eq(kill(pid, SIGINT), 0);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char *err = cf_test_read(err_path, NULL);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status 0x%x: %s", status, err);
    cr_assert(strstr(err, "stopping; the current iteration is abandoned"), "%s", err);
    /* at an iteration's end ("after iteration N") or, mostly, inside one ("during
     * iteration N + 1 (abandoned); checkpoint of iteration N") */
    int stopped = -1;
    const char *m = strstr(err, "interrupted after iteration ");
    if (m) {
        stopped = atoi(m + strlen("interrupted after iteration "));
        cr_assert(strstr(err, "checkpoint written to ck.cfc"), "%s", err);
    } else {
        m = strstr(err, "; checkpoint of iteration ");
        cr_assert(m && strstr(err, "interrupted during iteration "), "%s", err);
        stopped = atoi(m + strlen("; checkpoint of iteration "));
        cr_assert(strstr(m, " written to ck.cfc"), "%s", err);
    }
    cr_assert(stopped >= 1 && stopped < 1000000, "%s", err);
    /* the hint repeats --model: the resumed run saves where this one would have */
    cr_assert(strstr(err, "continue with: cufactor train data.tsv --resume ck.cfc --model never.cfm (same data options)"),
              "%s", err);
    free(err);
    char *ck = cf_test_path(dir, "ck.cfc"), *never = cf_test_path(dir, "never.cfm");
    cr_assert(exists(ck));
    cr_assert(!exists(never), "--model was written on interrupt");
    cr_assert_eq(count_entries(dir, ".tmp"), 0);
    cf_checkpoint_info info;
    cf_error e;
    cr_assert_eq(cf_checkpoint_info_get(ck, &info, &e), CF_OK, "%s", e.msg);
    cr_assert_eq(info.iter, stopped);
    cr_assert_eq(info.config.factors, 12);

    char iters[32];
    snprintf(iters, sizeof iters, "%d", stopped + 2);
    run_result r = cli("train", "data.tsv", "--resume", "ck.cfc", "--iters", iters, "--model", "resumed.cfm",
                       "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(json_num(r.out, "iters"), stopped + 2, "%s", r.out);
    cr_assert_eq(json_num(r.out, "resumed_from"), stopped, "%s", r.out);
    cr_assert(strstr(r.err, "resume: ck.cfc: run 1 of 1 at iteration"), "%s", r.err);
    /* the iteration table has its header although it starts past iteration 1 */
    char first_row[32];
    snprintf(first_row, sizeof first_row, "\n%5d  ", stopped + 1);
    const char *hdr = strstr(r.err, " iter  train_rmse"), *row = strstr(r.err, first_row);
    cr_assert(hdr && row && hdr < row, "no header before iteration %d: %s", stopped + 1, r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--device", "cpu", "--factors", "12", "--threads", "2", "--iters", iters,
            "--model", "straight.cfm", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    size_t la, lb;
    char *pa = cf_test_path(dir, "resumed.cfm"), *pb = cf_test_path(dir, "straight.cfm");
    char *a = cf_test_read(pa, &la), *b = cf_test_read(pb, &lb);
    cr_assert(a && b);
    cr_assert(la == lb && memcmp(a, b, la) == 0, "the resumed model differs from the uninterrupted one");
    free(a), free(b), free(pa), free(pb);

    /* other data, or another λ: a clear error, exit 1 */
    r = cli("gen", "--users", "50", "--items", "40", "--ratings", "500", "--rank", "2", "--noise", "0.5",
            "--out", "other.tsv", NULL);
    cr_assert_eq(r.code, 0);
    run_free(&r);
    r = cli("train", "other.tsv", "--resume", "ck.cfc", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "ck.cfc: the checkpoint was written for other data"), "%s", r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--resume", "ck.cfc", "--lambda", "0.3", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "lambda is 0.3 here but 0.1 in the checkpoint"), "%s", r.err);
    run_free(&r);
    /* a damaged checkpoint */
    char *bad = cf_test_write(dir, "bad.cfc", "CFCKPT\r\n\x01\0\0\0", 12);
    r = cli("train", "data.tsv", "--resume", "bad.cfc", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "bad.cfc: truncated checkpoint header"), "%s", r.err);
    run_free(&r);
    free(bad), free(ck), free(never), free(err_path);
}

/* The help text of `flag`: its line "  --flag ..." and, when the left column was too
 * long and the text went to the next line, that line too. */
/* ------------------------------------------------------------------ verify */

Test(cli, verify_self_check_prints_a_row_per_iteration_and_agrees) {
    gen_data();
    run_result r = cli("verify", "data.tsv", "--candidate", "cpu", "--precision", "fp64", "--factors", "3", "--iters",
                       "3", "--threads", "2", NULL);
    cr_assert_eq(r.code, 0, "verify (%d): %s", r.code, r.err);
    cr_assert(strstr(r.out, "verdict     agree (0 of 3 iterations beyond tolerance)"), "%s", r.out);
    int rows = 0;
    for (const char *p = r.out; (p = strstr(p, " ok\n")); p++) rows++;
    cr_assert_eq(rows, 3, "one agreeing row per iteration:\n%s", r.out);
    run_free(&r);

    r = cli("verify", "data.tsv", "--candidate", "cpu", "--precision", "fp64", "--factors", "3", "--iters", "2",
            "--json", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    cr_assert_eq(json_num(r.out, "failed"), 0);
    cr_assert_eq(json_num(r.out, "iters"), 2);
    cr_assert_eq(json_num(r.out, "worst_max"), 0);
    run_free(&r);

    /* without --precision fp64: the CPU's fp32 path against the reference, agreeing, not equal */
    r = cli("verify", "data.tsv", "--candidate", "cpu", "--factors", "3", "--iters", "2", "--json", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(json_num(r.out, "failed"), 0);
    cr_assert_gt(json_num(r.out, "worst_max"), 0);
    cr_assert_leq(json_num(r.out, "worst_max"), 1e-3);
    /* where the time went: every phase, non-negative; both sides trained */
    const char *ph = json_value(r.out, "phase_seconds");
    cr_assert(ph && *ph == '{', "%s", r.out);
    const char *names[] = {"read", "prepare", "reference", "upload", "candidate", "compare"};
    for (int k = 0; k < 6; k++) cr_assert_geq(json_num(ph, names[k]), 0, "%s", names[k]);
    cr_assert_gt(json_num(ph, "reference"), 0);
    cr_assert_gt(json_num(ph, "candidate"), 0);
    run_free(&r);
    r = cli("verify", "data.tsv", "--candidate", "cpu", "--factors", "3", "--iters", "2", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\nphases      read "), "%s", r.out);
    run_free(&r);
}

Test(cli, verify_without_a_gpu_says_so_and_offers_the_self_check) {
    char why[200];
    if (cf_gpu_available(why, sizeof why)) cr_skip_test("a GPU is usable here");
    gen_data();
    run_result r = cli("verify", "data.tsv", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "verify needs a usable GPU"), "%s", r.err);
    cr_assert(strstr(r.err, "--candidate cpu"), "%s", r.err);
    run_free(&r);
    expect_usage("--candidate: give gpu or cpu", cli("verify", "data.tsv", "--candidate", "auto", NULL));
    expect_usage("--rtol", cli("verify", "data.tsv", "--rtol", "-1", NULL));
}

static char *help_line(const char *help, const char *flag) {
    char pat[64];
    snprintf(pat, sizeof pat, "\n  --%s ", flag);
    const char *p = strstr(help, pat);
    cr_assert_not_null(p, "no %s in help", flag);
    p++;
    const char *e = strchr(p, '\n');
    char *line = strndup(p, e ? (size_t)(e - p) : strlen(p));
    if (e && !strstr(line, "[default") && !strstr(line, "(required)")) {
        const char *e2 = strchr(e + 1, '\n');
        free(line);
        line = strndup(p, e2 ? (size_t)(e2 - p) : strlen(p));
    }
    return line;
}

static void expect_default(const char *help, const char *flag, const char *value) {
    char *line = help_line(help, flag);
    char want[128];
    snprintf(want, sizeof want, "[default: %s]", value);
    cr_assert(strstr(line, want), "--%s: '%s' not in '%s'", flag, want, line);
    free(line);
}

Test(cli, help_defaults_come_from_the_library) {
    cf_config c;
    cf_config_default(&c);
    cf_read_options ro;
    cf_read_options_default(&ro);
    cf_gen_options g;
    cf_gen_options_default(&g);
    char v[64];
    run_result r = cli("train", "--help", NULL);
    snprintf(v, sizeof v, "%d", c.factors), expect_default(r.out, "factors", v);
    snprintf(v, sizeof v, "%d", c.iters), expect_default(r.out, "iters", v);
    snprintf(v, sizeof v, "%g", c.lambda), expect_default(r.out, "lambda", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)c.seed), expect_default(r.out, "seed", v);
    snprintf(v, sizeof v, "%g", c.lr), expect_default(r.out, "lr", v);
    snprintf(v, sizeof v, "%lld", (long long)c.batch), expect_default(r.out, "batch", v);
    expect_default(r.out, "algo", cf_algo_name(c.algo));
    expect_default(r.out, "reg", cf_reg_name(c.reg));
    expect_default(r.out, "device", cf_device_name(c.device));
    expect_default(r.out, "test-ratio", "0.1");
    run_free(&r);
    r = cli("gen", "--help", NULL);
    snprintf(v, sizeof v, "%llu", (unsigned long long)g.seed), expect_default(r.out, "seed", v);
    snprintf(v, sizeof v, "%g", g.zipf), expect_default(r.out, "zipf", v);
    run_free(&r);
}

/* The help shows only values an option accepts: verify's --candidate takes gpu or cpu
 * (its list holds "auto" only to keep the cf_device order; auto is a usage error). */
Test(cli, help_shows_only_accepted_values) {
    run_result r = cli("verify", "--help", NULL);
    cr_assert_eq(r.code, 0);
    char *line = help_line(r.out, "candidate");
    cr_assert(strstr(line, "--candidate gpu|cpu "), "%s", line);
    cr_assert(!strstr(line, "auto"), "%s", line);
    free(line);
    run_free(&r);
}

/* README.md documents every option that some `cufactor ... --help` lists: each long
 * name the help prints at the start of an option line appears in README as `--name`
 * followed by something that cannot continue a name (so --lr is not found in --lr-decay). */
static int readme_mentions(const char *readme, const char *flag) {
    size_t n = strlen(flag);
    for (const char *p = strstr(readme, flag); p; p = strstr(p + 1, flag)) {
        char c = p[n];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-')) return 1;
    }
    return 0;
}

Test(cli, readme_documents_every_flag_of_every_help) {
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/README.md", CF_SOURCE_DIR) > 0);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char readme[1 << 20];
    size_t len = fread(readme, 1, sizeof readme - 1, f);
    fclose(f);
    readme[len] = '\0';
    static const char *const cmds[][2] = {{"train", NULL}, {"cv", NULL},      {"verify", NULL},  {"eval", NULL},
                                          {"predict", NULL}, {"recommend", NULL}, {"gen", NULL},  {"export", NULL},
                                          {"demo", NULL},  {"bench", "run"},  {"bench", "compare"},
                                          {"bench", "history"}};
    int checked = 0;
    for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) {
        run_result r = cmds[c][1] ? cli(cmds[c][0], cmds[c][1], "--help", NULL) : cli(cmds[c][0], "--help", NULL);
        cr_assert_eq(r.code, 0, "%s --help: exit %d", cmds[c][0], r.code);
        /* option lines: "  --name ..." or "  -n, --name ..." */
        for (const char *p = r.out; (p = strstr(p, "\n  -")) != NULL;) {
            p += 3;
            const char *dash = p[0] == '-' && p[1] != '-' ? strstr(p, "--") : p;
            if (!dash) continue;
            size_t n = strspn(dash + 2, "abcdefghijklmnopqrstuvwxyz0123456789-");
            char flag[64];
            snprintf(flag, sizeof flag, "--%.*s", (int)n, dash + 2);
            if (strcmp(flag, "--help") == 0) continue;
            cr_assert(readme_mentions(readme, flag), "README.md does not mention %s (cufactor %s%s%s --help)", flag,
                      cmds[c][0], cmds[c][1] ? " " : "", cmds[c][1] ? cmds[c][1] : "");
            checked++;
        }
        run_free(&r);
    }
    cr_assert_gt(checked, 60, "only %d option lines found in the helps", checked);
    free(path);
}

/* The global help names every exit code the commands use (main.c, cmd_bench.c). */
Test(cli, global_help_lists_the_exit_codes) {
    run_result r = cli("--help", NULL);
    cr_assert_eq(r.code, 0);
    const char *codes[] = {"0 ok", "1 runtime or data error", "2 usage error", "3 a benchmark regression",
                           "130 interrupted by Ctrl-C or SIGTERM (a training, or the read of a ratings file)"};
    for (size_t k = 0; k < sizeof codes / sizeof *codes; k++)
        cr_assert(strstr(r.out, codes[k]), "'%s' not in:\n%s", codes[k], r.out);
    cr_assert(strstr(r.out, "help CMD"), "%s", r.out);
    run_free(&r);
}

Test(cli, version) {
    run_result r = cli("--version", NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, CF_VERSION_STRING), "%s", r.out);
    run_free(&r);
}

/* ------------------------------------------------------------------ demo */

Test(cli, demo_beats_the_mean_baseline_and_cleans_up) {
    run_result r = cli("demo", "--threads", "2", NULL);
    cr_assert_eq(r.code, 0, "demo failed (%d): %s\n%s", r.code, r.err, r.out);
    double model = NAN, base = NAN, sigma = NAN;
    const char *p = strstr(r.out, "model (ALS)");
    cr_assert_not_null(p, "%s", r.out);
    sscanf(p, "model (ALS) %lf", &model);
    p = strstr(r.out, "predict the training mean");
    cr_assert_not_null(p, "%s", r.out);
    sscanf(p, "predict the training mean %lf", &base);
    p = strstr(r.out, "planted noise σ");
    cr_assert_not_null(p, "%s", r.out);
    sscanf(p + strlen("planted noise σ"), "%lf", &sigma);
    cr_assert(isfinite(model) && isfinite(base) && isfinite(sigma), "%s", r.out);
    cr_assert(model < base && model > sigma, "model %g, baseline %g, σ %g", model, base, sigma);
    cr_assert_eq(count_entries(dir, "cufactor-demo"), 0, "the demo left its temporary directory");
    int recs = 0;
    for (const char *q = r.out; (q = strstr(q, "   user ")); q++) recs++;
    cr_assert_eq(recs, 2, "%s", r.out);
    cr_assert(strstr(r.out, "   items most like item ") && strstr(r.out, "(cosine of the factors): item "), "%s", r.out);
    /* the new user: 5 stars to the first user's top 3, folded in; none of those 3 listed */
    const char *nu = strstr(r.out, "   a new user who gave 5 stars to items ");
    cr_assert_not_null(nu, "%s", r.out);
    char a[16], b[16], c[16];
    cr_assert_eq(sscanf(nu, "   a new user who gave 5 stars to items %15[0-9], %15[0-9] and %15[0-9]", a, b, c), 3, "%s", nu);
    const char *u1 = strstr(r.out, "   user ");
    char want[64];
    snprintf(want, sizeof want, ": item %s (", a);
    cr_assert(u1 && strstr(u1, want) && strstr(u1, want) < strstr(u1, "\n"), "the first user's first item: %s", r.out);
    const char *list = strstr(nu, "(fold-in, no retraining):"), *end = strchr(nu, '\n');
    cr_assert(list && end && list < end, "%s", nu);
    int listed = 0;
    for (const char *q = list; (q = strstr(q, " item ")) && q < end; q++) {
        char it[16];
        cr_assert_eq(sscanf(q, " item %15[0-9]", it), 1);
        cr_assert(strcmp(it, a) && strcmp(it, b) && strcmp(it, c), "recommended %s, which the new user rated", it);
        listed++;
    }
    cr_assert_eq(listed, 5, "%s", nu);
    run_free(&r);
}
