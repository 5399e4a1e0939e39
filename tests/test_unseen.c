/*
 * test_unseen.c — IDs without training ratings (issue 17, items 3-5): the model has rows
 * for the training IDs only, so train, eval and predict agree on what is unseen; an unseen
 * pair is predicted by μ plus the known bias, or by μ (the training mean) without biases,
 * in training's test RMSE, eval and predict alike; predict answers every line and counts
 * the unknown ones (--unknown error keeps the strict mode); eval warns when most pairs are
 * unseen.
 *
 * Data: train.tsv has users u0..u5 and items i0..i4; test.tsv adds user u9 and item i9,
 * which only it has (3 of its 6 ratings are unseen).
 */
#include <criterion/criterion.h>

#include "cufactor.h"
#include "helpers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CF_TEST_SUITE_WITH_TMPDIR(unseen, 60);

static const char *train_text =
    "u0\ti0\t5\nu0\ti1\t3\nu0\ti2\t4\nu1\ti0\t4\nu1\ti3\t2\nu2\ti1\t1\nu2\ti4\t5\nu3\ti2\t3\n"
    "u3\ti3\t4\nu4\ti0\t2\nu4\ti4\t3\nu5\ti1\t4\nu5\ti2\t5\nu5\ti3\t1\n";
static const char *test_text = "u0\ti3\t4\nu1\ti1\t3\nu2\ti2\t2\nu9\ti0\t4\nu1\ti9\t2\nu9\ti9\t3\n";
static const double train_mean = 46.0 / 14.0;

static cf_dataset *read_both(void) {
    char *tr = cf_test_write(dir, "train.tsv", train_text, (size_t)-1);
    char *te = cf_test_write(dir, "test.tsv", test_text, (size_t)-1);
    cf_read_options ro;
    cf_read_options_default(&ro);
    cf_dataset *ds = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_dataset_read(tr, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_read_test(ds, te, &ro, NULL, &err), CF_OK, "%s", err.msg);
    free(tr), free(te);
    return ds;
}

static cf_model *train(const cf_dataset *ds, int bias, cf_train_report *rep) {
    cf_config c;
    cf_config_default(&c);
    c.factors = 2, c.iters = 5, c.bias = bias, c.device = CF_DEVICE_CPU, c.threads = 1;
    cf_model *m = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, rep, &err), CF_OK, "%s", err.msg);
    return m;
}

static cf_dataset *read_one(const char *name) {
    char *p = cf_test_path(dir, name);
    cf_read_options ro;
    cf_read_options_default(&ro);
    cf_dataset *ds = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_dataset_read(p, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    free(p);
    return ds;
}

static void check_rows_and_agreement(int bias) {
    cf_dataset *ds = read_both();
    cf_train_report rep;
    cf_model *m = train(ds, bias, &rep);
    cr_assert_eq(rep.test_unseen, 3);
    cf_model_info info;
    cf_model_info_get(m, &info);
    cr_assert_eq(info.n_users, 6, "model rows: %lld users, the training part has 6", (long long)info.n_users);
    cr_assert_eq(info.n_items, 5, "model rows: %lld items, the training part has 5", (long long)info.n_items);
    double x;
    cf_error err = {0};
    cr_assert_eq(cf_model_predict(m, "u9", "i0", &x, &err), CF_ERR_NOT_FOUND, "u9 is unseen: no row");
    /* eval of the test file: the same unseen count and RMSE as the training's test part */
    cf_dataset *te = read_one("test.tsv");
    cf_eval_report ev;
    cr_assert_eq(cf_model_evaluate(m, te, &ev, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ev.unseen, rep.test_unseen);
    cr_assert_float_eq(ev.rmse, rep.test_rmse, 1e-12, "eval %.15g, train %.15g", ev.rmse, rep.test_rmse);
    /* the fallback: μ (+ the known bias) */
    int unseen = 0;
    cr_assert_eq(cf_model_predict_or_mean(m, "u9", "i9", &x, &unseen, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(unseen, 1);
    cr_assert_float_eq(x, train_mean, 1e-9, "unseen pair without any known side: %.12g, mean %.12g", x, train_mean);
    double y;
    cr_assert_eq(cf_model_predict_or_mean(m, "u0", "i0", &y, &unseen, &err), CF_OK);
    cr_assert_eq(unseen, 0);
    cr_assert_eq(cf_model_predict(m, "u0", "i0", &x, &err), CF_OK);
    cr_assert_eq(x, y);
    cf_dataset_destroy(&te);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

Test(unseen, model_rows_are_training_ids_with_biases) { check_rows_and_agreement(1); }
Test(unseen, model_rows_are_training_ids_without_biases) { check_rows_and_agreement(0); }

/* Without biases the trainer's test RMSE counts an unseen pair's error against μ. */
Test(unseen, no_bias_test_rmse_uses_the_mean_for_unseen_pairs) {
    cf_dataset *ds = read_both();
    cf_train_report rep;
    cf_model *m = train(ds, 0, &rep);
    /* recompute: seen pairs by the model, unseen by μ */
    const char *u[] = {"u0", "u1", "u2", "u9", "u1", "u9"}, *i[] = {"i3", "i1", "i2", "i0", "i9", "i9"};
    const double r[] = {4, 3, 2, 4, 2, 3};
    double sse = 0;
    cf_error err = {0};
    for (int k = 0; k < 6; k++) {
        double x;
        if (k < 3) cr_assert_eq(cf_model_predict(m, u[k], i[k], &x, &err), CF_OK, "%s", err.msg);
        else x = train_mean;
        sse += (r[k] - x) * (r[k] - x);
    }
    cr_assert_float_eq(rep.test_rmse, sqrt(sse / 6), 1e-9, "train %.12g, recomputed %.12g", rep.test_rmse,
                       sqrt(sse / 6));
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

static int run(char **out, char **errtxt, const char *a, const char *b, const char *c, const char *d,
               const char *e) {
    const char *argv[] = {CF_CLI_PATH, a, b, c, d, e, NULL};
    int code = cf_test_spawn(dir, argv, out, errtxt);
    cr_assert_null(cf_test_sanitizer_report(*errtxt), "%s", *errtxt);
    return code;
}

static void train_cli(void) {
    free(cf_test_write(dir, "train.tsv", train_text, (size_t)-1));
    free(cf_test_write(dir, "test.tsv", test_text, (size_t)-1));
    const char *argv[] = {CF_CLI_PATH, "train", "train.tsv", "--test", "test.tsv", "--factors", "2", "--iters", "3",
                          "--device", "cpu", "--model", "m.cfm", "--quiet", NULL};
    char *out = NULL, *err = NULL;
    cr_assert_eq(cf_test_spawn(dir, argv, &out, &err), 0, "train: %s", err);
    free(out), free(err);
}

Test(unseen, predict_answers_every_line_and_counts_unknown_ids) {
    train_cli();
    free(cf_test_write(dir, "pairs.tsv", "u0\ti0\nu9\ti0\nu0\ti9\nnobody\tnothing\n", (size_t)-1));
    char *out = NULL, *err = NULL;
    cr_assert_eq(run(&out, &err, "predict", "m.cfm", "pairs.tsv", NULL, NULL), 0, "predict: %s", err);
    int lines = 0;
    for (char *p = out; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 4, "one prediction per pair: %s", out);
    cr_assert(strstr(err, "3 of 4 pairs have a user or item unknown"), "stderr: %s", err);
    char want[64];
    snprintf(want, sizeof want, "nobody\tnothing\t%.10f\n", train_mean);
    /* with biases the pair with no known side gets μ exactly */
    cr_assert(strstr(out, want), "expected '%s' in: %s", want, out);
    free(out), free(err);
    /* strict mode: an error naming the line, nothing written */
    cr_assert_eq(run(&out, &err, "predict", "m.cfm", "pairs.tsv", "--unknown", "error"), 1, "%s", err);
    cr_assert(strstr(err, "pairs.tsv:2: unknown user 'u9'"), "stderr: %s", err);
    cr_assert_str_empty(out);
    free(out), free(err);
}

Test(unseen, eval_warns_when_most_pairs_are_unseen) {
    train_cli();
    char *out = NULL, *err = NULL;
    cr_assert_eq(run(&out, &err, "eval", "m.cfm", "test.tsv", NULL, NULL), 0, "%s", err);
    cr_assert(strstr(out, "unseen  3"), "eval counts the test-only IDs as unseen: %s", out);
    cr_assert_null(strstr(err, "warning"), "3 of 6 is not most: %s", err);
    free(out), free(err);
    free(cf_test_write(dir, "other.tsv", "a\tb\t3\nc\td\t4\nu0\ti0\t5\n", (size_t)-1));
    cr_assert_eq(run(&out, &err, "eval", "m.cfm", "other.tsv", NULL, NULL), 0, "%s", err);
    cr_assert(strstr(err, "warning: 2 of 3 ratings"), "stderr: %s", err);
    free(out), free(err);
}
