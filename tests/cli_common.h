/*
 * cli_common.h — what the CLI's end-to-end tests (test_cli.c, test_cli_serve.c) share:
 * running the program in the suite's temporary directory, reading its JSON, the
 * generated data file and the model trained on it.
 *
 * Included once by each of those files, after CF_TEST_SUITE_WITH_TMPDIR (the helpers use
 * its `dir`); the helpers are static, marked unused for the file that does not call one.
 *
 * Data: 200 users × 150 items, 6000 ratings, planted rank 3, σ = 0.3, unclipped
 * (--no-clip), so the noise in the file is exactly the planted Gaussian.
 */
#ifndef CF_TESTS_CLI_COMMON_H
#define CF_TESTS_CLI_COMMON_H

#include <criterion/criterion.h>

#include "cufactor.h"
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CLI_HELPER static __attribute__((unused))

enum { N_USERS = 200, N_ITEMS = 150, N_RATINGS = 6000, RANK = 3, ITERS = 8 };
static const double SIGMA = 0.3;

/* ------------------------------------------------------------------ running the CLI */


typedef cf_test_run run_result;
CLI_HELPER void run_free(run_result *r) { cf_test_run_free(r); }
/* Runs `cufactor ARGS...` (NULL-terminated) in dir (tests/helpers.h cf_test_cli). */
#define cli(...) cf_test_cli(dir, __VA_ARGS__)

CLI_HELPER int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of directory entries of `d` whose name contains `part`. */
CLI_HELPER int count_entries(const char *d, const char *part) {
    int n = cf_test_count_entries(d, part);
    cr_assert_geq(n, 0, "cannot list %s", d);
    return n;
}

/* A usage error (exit 2) whose stderr holds msg and the usage line, nothing on stdout. */
CLI_HELPER void expect_usage(const char *msg, run_result r) {
    cr_assert_eq(r.code, 2, "exit %d, stderr: %s", r.code, r.err);
    cr_assert(strstr(r.err, msg), "'%s' not in: %s", msg, r.err);
    cr_assert(strstr(r.err, "usage: cufactor"), "no usage line: %s", r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);
}

/* ------------------------------------------------------------------ tiny JSON reading */

/* stdout must be exactly one JSON object on one line. */
CLI_HELPER void assert_one_json_object(const char *s) {
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
CLI_HELPER const char *json_value(const char *s, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(s, pat);
    return p ? p + strlen(pat) : NULL;
}

/* A number field; NAN when null (helpers.h). */
CLI_HELPER double json_num(const char *s, const char *key) { return cf_test_json_num(s, key); }

/* A string field into buf; returns 0 when null. */
CLI_HELPER int json_str(const char *s, const char *key, char *buf, size_t cap) {
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
CLI_HELPER rows read_rows(const char *path) {
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

CLI_HELPER void rows_free(rows *t) {
    free(t->user), free(t->item), free(t->r);
}

CLI_HELPER char *data_path(void) { return cf_test_path(dir, "data.tsv"); }
CLI_HELPER char *model_file(void) { return cf_test_path(dir, "model.cfm"); }

CLI_HELPER void gen_data(void) {
    run_result r = cli("gen", "--users", "200", "--items", "150", "--ratings", "6000", "--rank", "3", "--noise", "0.3",
                       "--seed", "7", "--no-clip", "--out", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "gen failed (%d): %s", r.code, r.err);
    run_free(&r);
}

/* gen, then train --model --json; returns the JSON text (malloc'ed). */
CLI_HELPER char *gen_and_train(void) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--factors", "3", "--iters", "8", "--threads", "2", "--seed", "11",
                       "--model", "model.cfm", "--json", NULL);
    cr_assert_eq(r.code, 0, "train failed (%d): %s", r.code, r.err);
    free(r.err);
    return r.out;
}

CLI_HELPER cf_model *load_model(void) {
    char *p = model_file();
    cf_model *m = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_model_load(p, &m, &err), CF_OK, "cf_model_load: %s", err.msg);
    free(p);
    return m;
}

/* The ratings file at `path` read as the CLI reads it by default. */
CLI_HELPER cf_dataset *read_dataset(const char *path) {
    cf_read_options ro;
    cf_read_options_default(&ro);
    cf_dataset *ds = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_dataset_read(path, &ro, &ds, NULL, &err), CF_OK, "%s: %s", path, err.msg);
    return ds;
}

CLI_HELPER double predict_or_nan(const cf_model *m, const char *u, const char *i) {
    double x;
    cf_error err = {0};
    cf_status st = cf_model_predict(m, u, i, &x, &err);
    if (st == CF_ERR_NOT_FOUND) return NAN;
    cr_assert_eq(st, CF_OK, "cf_model_predict(%s, %s): %s", u, i, err.msg);
    return x;
}

/* The measures of a "ranking" JSON object (rk: at its start, pop: at its "popular") are
 * want's: JSON numbers are the shortest round-trip form, so equal as doubles. */
CLI_HELPER void same_ranking_json(const char *rk, const char *pop, const cf_rank_report *want) {
    static const char *names[] = {"precision", "recall", "ndcg", "map", "hit_rate", "coverage"};
    for (int q = 0; q < 6; q++) {
        cr_assert_eq(json_num(rk, names[q]), (&want->model.precision)[q], "model %s", names[q]);
        cr_assert_eq(json_num(pop, names[q]), (&want->popular.precision)[q], "popular %s", names[q]);
    }
}

/* Two models hold the same dimensions and the same P, Q, b_u, b_i, bit for bit (through the
 * public API). */
CLI_HELPER void same_model_params(const cf_model *a, const cf_model *b, const char *what) {
    cf_model_info ia, ib;
    cf_model_info_get(a, &ia), cf_model_info_get(b, &ib);
    cr_assert(ia.n_users == ib.n_users && ia.n_items == ib.n_items && ia.factors == ib.factors, "%s: shapes", what);
    const size_t np = (size_t)ia.n_users * (size_t)ia.factors, nq = (size_t)ia.n_items * (size_t)ia.factors;
    const size_t total = 2 * (np + nq + (size_t)ia.n_users + (size_t)ia.n_items) + 1;
    double *x = malloc(sizeof(double) * total);
    cr_assert_not_null(x);
    double *P1 = x, *Q1 = P1 + np, *u1 = Q1 + nq, *i1 = u1 + ia.n_users, *P2 = i1 + ia.n_items, *Q2 = P2 + np,
           *u2 = Q2 + nq, *i2 = u2 + ia.n_users;
    cf_model_params(a, P1, Q1, u1, i1), cf_model_params(b, P2, Q2, u2, i2);
    cr_assert(memcmp(P1, P2, sizeof(double) * np) == 0, "%s: P", what);
    cr_assert(memcmp(Q1, Q2, sizeof(double) * nq) == 0, "%s: Q", what);
    cr_assert(memcmp(u1, u2, sizeof(double) * (size_t)ia.n_users) == 0, "%s: b_u", what);
    cr_assert(memcmp(i1, i2, sizeof(double) * (size_t)ia.n_items) == 0, "%s: b_i", what);
    free(x);
}

#endif
