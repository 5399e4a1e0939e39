/*
 * test_cli.c — the cufactor command-line program end to end, through the real binary
 * (CF_CLI_PATH) run with fork/exec in a temporary directory, stdout and stderr
 * captured to files: gen, train, cv, verify, the errors and exit codes, the help and
 * README's coverage of it, Ctrl-C and resume, demo. The commands that use a trained
 * model (eval, predict, recommend, similar, fold-in, explain, export, info) are in
 * test_cli_serve.c; the helpers both use in cli_common.h.
 *
 * Usage errors must exit 2, data errors 1 with file:line, and no failure may leave an
 * output file behind.
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

CF_TEST_SUITE_WITH_TMPDIR(cli, 120);

#include "cli_common.h"

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
    /* its standard error (test_metrics checks the value): of the order σ/√(2·n_test) */
    const double se = json_num(json, "test_rmse_se");
    cr_assert(se > 0.3 * SIGMA / sqrt(2 * n_test) && se < 3 * SIGMA / sqrt(2 * n_test), "test RMSE ± %g", se);

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

/* --test-split user holds out the library's per-user split of the file (the same count
 * at the same seed), every test user known; the summary and JSON say which split. */
Test(cli, train_test_split_user_is_the_per_user_split) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--iters", "2", "--factors", "3", "--test-ratio", "0.3", "--test-split",
                       "user", "--seed", "5", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "test (per user 0.3, seed 5)"), "%s", r.err);
    char s[64];
    cr_assert(json_str(r.out, "test_split", s, sizeof s) && strcmp(s, "user") == 0, "%s", r.out);
    char *dp = data_path();
    cf_dataset *ds = read_dataset(dp);
    free(dp);
    cf_error err;
    cr_assert_eq(cf_dataset_split_per_user(ds, 0.3, 5, 0, &err), CF_OK, "%s", err.msg);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(json_num(r.out, "n_test"), (double)info.n_test, "%s", r.out);
    cr_assert_eq(json_num(r.out, "n_train"), (double)info.n_train);
    cf_dataset_destroy(&ds);
    run_free(&r);
    r = cli("train", "data.tsv", "--iters", "1", "--json", "--quiet", NULL);
    cr_assert(json_str(r.out, "test_split", s, sizeof s) && strcmp(s, "random") == 0, "%s", r.out);
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

/* train --init: ALS from a model trained 3 iterations is iterations 4 and 5 of the same
 * training (the library's bit-for-bit property, through the files); MODEL's settings are
 * the defaults (K = 3 without --factors, its seed) but for where to run (threads); a
 * decaying SGD step starts where the model's
 * schedule ended; conflicts are errors. */
Test(cli, train_init_continues_from_a_model) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--factors", "3", "--iters", "3", "--threads", "2", "--seed", "11",
                       "--model", "m3.cfm", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--factors", "3", "--iters", "5", "--threads", "2", "--seed", "11", "--model",
            "m5.cfm", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--init", "m3.cfm", "--iters", "2", "--model", "w.cfm", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    cr_assert(strstr(r.out, "\"init\":{\"model\":\"m3.cfm\",\"users\":200,\"items\":150}") &&
                  strstr(r.out, "\"factors\":3,") && strstr(r.out, "\"seed\":11,"),
              "%s", r.out);
    cr_assert(strstr(r.out, "\"threads\":0,"), "where to run is not the model's (it had --threads 2): %s", r.out);
    cr_assert(strstr(r.err, "init: m3.cfm: its rows start"), "%s", r.err);
    run_free(&r);
    cf_model *a = NULL, *b = NULL;
    cf_error err = {0};
    char *pa = cf_test_path(dir, "w.cfm"), *pb = cf_test_path(dir, "m5.cfm");
    cr_assert_eq(cf_model_load(pa, &a, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_load(pb, &b, &err), CF_OK, "%s", err.msg);
    cf_model_info ia;
    cf_model_info_get(a, &ia);
    cr_assert_eq(ia.factors, 3);
    same_model_params(a, b, "train --init m3 --iters 2 against train --iters 5");
    /* SGD's invscale step continues from the model's last epoch */
    r = cli("train", "data.tsv", "--algo", "sgd", "--factors", "3", "--iters", "4", "--model", "s4.cfm", "--quiet",
            NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    cf_model *s4 = NULL;
    char *ps = cf_test_path(dir, "s4.cfm");
    cr_assert_eq(cf_model_load(ps, &s4, &err), CF_OK, "%s", err.msg);
    char want[64];
    snprintf(want, sizeof want, "step: lr %g\n", cf_config_lr(cf_model_config(s4), 3));
    r = cli("train", "data.tsv", "--init", "s4.cfm", "--iters", "1", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, want) && strstr(r.err, "continues where its schedule ended"), "want '%s' in %s", want,
              r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--init", "s4.cfm", "--iters", "1", "--lr", "0.05", NULL);
    cr_assert(r.code == 0 && strstr(r.err, "step: lr 0.05\n") && !strstr(r.err, "continues"), "%s", r.err);
    run_free(&r);
    /* conflicts */
    r = cli("train", "data.tsv", "--init", "m3.cfm", "--factors", "4", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "init: the model has K = 3") && strstr(r.err, "K = 4"), "%s", r.err);
    run_free(&r);
    expect_usage("--init and --resume", cli("train", "data.tsv", "--init", "m3.cfm", "--resume", "x.cfc", NULL));
    r = cli("train", "data.tsv", "--init", "nothing.cfm", NULL);
    cr_assert(r.code == 1 && strstr(r.err, "nothing.cfm"), "%s", r.err);
    run_free(&r);
    free(pa), free(pb), free(ps);
    cf_model_destroy(&a), cf_model_destroy(&b), cf_model_destroy(&s4);
}

/* ------------------------------------------------------------------ errors */

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
    expect_usage("--test and --test-split exclude each other",
                 cli("train", "data.tsv", "--test", "t.tsv", "--test-split", "user", NULL));
    expect_usage("--test-split", cli("train", "data.tsv", "--test-split", "users", NULL));
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
    const char *flags[48];
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

/* --bias-lambda / --bias-reg: the model keeps them (info lists them; the summary and
 * --json say them), a huge plain λ_b leaves every bias near 0 while the default fits them,
 * --no-bias with them is refused naming the fields, --reg does not take "same". */
Test(cli, bias_lambda_option) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--device", "cpu", "--factors", "2", "--iters", "3", "--bias-reg", "plain",
                       "--bias-lambda", "1e9", "--model", "b.cfm", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char s[64];
    cr_assert(json_num(r.out, "bias_lambda") == 1e9 && json_str(r.out, "bias_reg", s, sizeof s) &&
                  strcmp(s, "plain") == 0,
              "%s", r.out);
    run_free(&r);
    r = cli("info", "b.cfm", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "bias-lambda=1000000000") && strstr(r.out, "bias-reg=plain"), "%s", r.out);
    /* b_u, b_i min / max: all within 1e-6 of 0 (a bias is then ≈ Σ residual / 1e9) */
    const char *bu = strstr(r.out, "\nb_u"), *bi = strstr(r.out, "\nb_i");
    cr_assert(bu && bi, "%s", r.out);
    double lo, hi;
    cr_assert(sscanf(strstr(bu, "min"), "min %lf", &lo) == 1 && sscanf(strstr(bu, "max"), "max %lf", &hi) == 1);
    cr_assert(fabs(lo) < 1e-6 && fabs(hi) < 1e-6, "b_u in [%g, %g]", lo, hi);
    cr_assert(sscanf(strstr(bi, "min"), "min %lf", &lo) == 1 && sscanf(strstr(bi, "max"), "max %lf", &hi) == 1);
    cr_assert(fabs(lo) < 1e-6 && fabs(hi) < 1e-6, "b_i in [%g, %g]", lo, hi);
    run_free(&r);
    r = cli("train", "data.tsv", "--device", "cpu", "--factors", "2", "--iters", "3", "--bias-reg", "plain",
            "--bias-lambda", "25", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "bias        on, regularized apart: 25 (plain)"), "%s", r.out);
    run_free(&r);
    r = cli("train", "data.tsv", "--no-bias", "--bias-lambda", "5", NULL);
    cr_assert_eq(r.code, 2, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "bias_lambda / bias_reg") && strstr(r.err, "--no-bias"), "%s", r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--reg", "same", NULL);
    cr_assert_eq(r.code, 2, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "--reg: 'same' is not one of plain|weighted|mean"), "%s", r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--bias-lambda", "-1", NULL);
    cr_assert_eq(r.code, 2, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "bias_lambda: -1"), "%s", r.err);
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


/* train --top: the ranking of the test part is the library's on the same split
 * (cf_model_rank_evaluate_split on the file split with the same seed and the saved model);
 * with --min-ratings on that model's subset of the items fit to enough ratings. */
Test(cli, train_top_ranks_the_test_part) {
    gen_data();
    run_result r = cli("train", "data.tsv", "--factors", "3", "--iters", "4", "--seed", "5", "--top", "6",
                       "--relevant-min", "3", "--model", "mt.cfm", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    cf_error err = {0};
    cf_model *m = NULL;
    char *mp = cf_test_path(dir, "mt.cfm"), *dp = data_path();
    cr_assert_eq(cf_model_load(mp, &m, &err), CF_OK, "%s", err.msg);
    cf_dataset *ds = read_dataset(dp);
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
    /* --min-ratings 40: the same ranking on the items fit to at least 40 training ratings */
    r = cli("train", "data.tsv", "--factors", "3", "--iters", "4", "--seed", "5", "--top", "6", "--relevant-min", "3",
            "--min-ratings", "40", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cf_model *sub = NULL;
    cr_assert_eq(cf_model_subset_min_ratings(m, 0, 40, &sub, &err), CF_OK, "%s", err.msg);
    cf_model_info full, part;
    cf_model_info_get(m, &full), cf_model_info_get(sub, &part);
    cr_assert(part.n_items > 10 && part.n_items < full.n_items, "%lld of %lld items", (long long)part.n_items,
              (long long)full.n_items);
    cr_assert_eq(cf_model_rank_evaluate_split(sub, ds, 6, 3.0, 0, NULL, NULL, &want, &err), CF_OK, "%s", err.msg);
    rk = strstr(r.out, "\"ranking\":{"), pop = rk ? strstr(rk, "\"popular\":") : NULL;
    cr_assert(rk && pop, "%s", r.out);
    cr_assert_eq(json_num(rk, "relevant_unknown"), (double)want.relevant_unknown);
    cr_assert_eq(json_num(r.out, "min_ratings"), 40.0);
    same_ranking_json(rk, pop, &want);
    cf_model_destroy(&sub);
    run_free(&r);
    expect_usage("--min-ratings needs --top N", cli("train", "data.tsv", "--min-ratings", "3", NULL));
    expect_usage("--relevant-min needs --top N", cli("train", "data.tsv", "--relevant-min", "3", NULL));
    expect_usage("--top ranks the test part", cli("train", "data.tsv", "--top", "5", "--test-ratio", "0", NULL));
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
    free(mp), free(dp);
}

Test(cli, every_help_lists_every_flag) {
    static const help_case cases[] = {
        {"train", {"--test", "--test-ratio", "--test-split", "--format", "--skip-bad-lines", "--algo", "--factors", "--iters",
                   "--lambda", "--reg", "--no-bias", "--tol", "--device", "--gpu-id", "--seed", "--threads",
                   "--init-scale", "--lr", "--lr-schedule", "--lr-decay", "--schedule", "--blocks", "--batch",
                   "--optimizer", "--inner", "--early-stop", "--restarts", "--precision", "--model", "--json",
                   "--quiet", "--checkpoint", "--checkpoint-every", "--resume", "--gpu-mem-limit", "--als-solver",
                   "--als-gram", "--top", "--relevant-min", "--min-ratings", "--init", NULL}},
        {"eval", {"--format", "--skip-bad-lines", "--json", "--top", "--exclude", "--relevant-min", "--min-ratings",
                  "--threads", NULL}},
        {"predict", {"--out", "--fold-in", NULL}},
        {"recommend", {"--user", "-n", "--exclude", "--json", "--fold-in", "--fold-in-lambda", "--fold-in-reg", "--item",
                       "--items", "--all-items", "--min-ratings", NULL}},
        {"fold-in", {"--out", "--items", "--merge", "--lambda", "--reg", "--threads", NULL}},
        {"info", {"--json", "--format", "--threads", NULL}},
        {"explain", {"--user", "--item", "-n", "--lambda", "--reg", "--json", NULL}},
        {"similar", {"--item", "--items", "--all-items", "-n", "--json", "--out", "--threads", "--min-ratings", NULL}},
        {"gen", {"--users", "--items", "--ratings", "--rank", "--noise", "--seed", "--zipf", "--round", "--no-clip",
                 "--mnar", "--out", NULL}},
        {"export", {"--npy", NULL}},
        {"demo", {"--threads", "--device", "--gpu-id", "--gpu-mem-limit", "--seed", "--keep", NULL}},
        {"verify", {"--test", "--test-ratio", "--test-split", "--algo", "--factors", "--iters", "--lambda", "--reg", "--no-bias",
                    "--schedule", "--candidate", "--rtol", "--max-rtol", "--rmse-rtol", "--json", "--device",
                    "--gpu-id", "--gpu-mem-limit", "--als-solver", "--als-gram", NULL}},
        {"cv", {"--grid", "--folds", "--fold-split", "--select", "--relevant-min", "--min-ratings", "--algo", "--iters",
                "--reg", "--seed", "--model", "--svg", "--als-solver", "--als-gram", NULL}},
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
 * --top, --relevant-min and --min-ratings, cv's --svg, after --model). */
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
                  "  --min-ratings M             with --top: rank only the items fit to at least M training ratings, "
                  "as recommend --min-ratings (0 = every item) [default: 0]\n"
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

/* The user's documentation: README.md, docs/USAGE.md (the reference of every command) and
 * docs/BENCHMARKS.md (`bench`'s), read as one NUL-terminated text. */
static char *user_docs(void) {
    static const char *const files[] = {"README.md", "docs/USAGE.md", "docs/BENCHMARKS.md"};
    size_t cap = 0, len = 0;
    char *all = NULL;
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char *path = NULL;
        cr_assert(asprintf(&path, "%s/%s", CF_SOURCE_DIR, files[f]) > 0);
        size_t n = 0;
        char *text = cf_test_read(path, &n);
        cr_assert_not_null(text, "cannot read %s", path);
        if (len + n + 2 > cap) {
            cap = 2 * (len + n + 2);
            all = realloc(all, cap);
            cr_assert_not_null(all);
        }
        memcpy(all + len, text, n);
        len += n;
        all[len++] = '\n';
        all[len] = '\0';
        free(text);
        free(path);
    }
    return all;
}

/* The user's documentation mentions every option that some `cufactor ... --help` lists:
 * each long name the help prints at the start of an option line appears in one of them as
 * `--name` followed by something that cannot continue a name (so --lr is not found in
 * --lr-decay). */
static int docs_mention(const char *docs, const char *flag) {
    size_t n = strlen(flag);
    for (const char *p = strstr(docs, flag); p; p = strstr(p + 1, flag)) {
        char c = p[n];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-')) return 1;
    }
    return 0;
}

Test(cli, docs_mention_every_flag_of_every_help) {
    char *docs = user_docs();
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
            cr_assert(docs_mention(docs, flag), "README.md and docs/ do not mention %s (cufactor %s%s%s --help)",
                      flag, cmds[c][0], cmds[c][1] ? " " : "", cmds[c][1] ? cmds[c][1] : "");
            checked++;
        }
        run_free(&r);
    }
    cr_assert_gt(checked, 60, "only %d option lines found in the helps", checked);
    free(docs);
}

/* README's "A session" runs as written: its indented command lines, with `cufactor` this
 * build's program, as one `sh -e` script in an empty directory. Each step's result is
 * checked for what the README's text says it makes (the files, a list for the new user). */
Test(cli, readme_session_runs_as_written) {
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/README.md", CF_SOURCE_DIR) > 0);
    char *readme = cf_test_read(path, NULL);
    cr_assert_not_null(readme, "cannot read %s", path);
    const char *sec = strstr(readme, "\n### A session\n");
    cr_assert_not_null(sec, "README.md has no '### A session' section");
    sec = strchr(sec + 1, '\n') + 1;
    const char *end = strstr(sec, "\n#");
    cr_assert_not_null(end);
    /* the script: a function standing for the program, then every indented line */
    size_t cap = strlen(CF_CLI_PATH) + (size_t)(end - sec) + 64, len = 0;
    char *script = malloc(cap);
    cr_assert_not_null(script);
    len += (size_t)snprintf(script, cap, "cufactor() { '%s' \"$@\"; }\n", CF_CLI_PATH);
    int lines = 0;
    for (const char *p = sec; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 4 && strncmp(p, "    ", 4) == 0) {
            memcpy(script + len, p + 4, n - 4);
            len += n - 4;
            script[len++] = '\n';
            lines++;
        }
        p += n + 1;
    }
    script[len] = '\0';
    cr_assert_geq(lines, 5, "the session has %d command lines", lines);
    char *file = cf_test_write(dir, "session.sh", script, len);
    char *out = NULL, *err = NULL;
    const char *argv[] = {"/bin/sh", "-e", file, NULL};
    int code = cf_test_spawn(dir, argv, &out, &err);
    cr_assert_eq(code, 0, "README's session exited %d:\n%s\nstderr:\n%s", code, script, err);
    cr_assert_null(cf_test_sanitizer_report(err), "%s", err);
    static const char *const made[] = {"ratings.tsv", "ratings.cfd", "best.cfm", "model.cfm", "model2.cfm"};
    for (size_t k = 0; k < sizeof made / sizeof *made; k++) {
        char *m = cf_test_path(dir, made[k]);
        cr_assert(exists(m), "the session made no %s", made[k]);
        free(m);
    }
    /* the last command: three "rank<TAB>item<TAB>score" lines for the new user */
    size_t n = strlen(out);
    cr_assert(n > 0 && out[n - 1] == '\n', "stdout: %s", out);
    const char *last = out + n - 1;
    for (int nl = 0; last > out && nl < 3;) nl += *--last == '\n';
    last += *last == '\n';
    cr_assert(strncmp(last, "1\t", 2) == 0 && strstr(last, "\n2\t") && strstr(last, "\n3\t"), "stdout ends: %s", last);
    free(out);
    free(err);
    free(file);
    free(script);
    free(readme);
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

/* ------------------------------------------------------------------ history, best iteration */

/* The demo's table of iterations (lines "iter train test ..."): test RMSEs into t[1..n]. */
static int demo_table(const char *out, double *t, int cap) {
    int n = 0;
    const char *p = strstr(out, " iter  train_rmse");
    cr_assert_not_null(p, "%s", out);
    for (p = strchr(p, '\n'); p && p[1] == ' '; p = strchr(p + 1, '\n')) {
        int it;
        double tr, te;
        if (sscanf(p + 1, "%d %lf %lf", &it, &tr, &te) != 3) break;
        cr_assert(it == n + 1 && it < cap, "iteration %d after %d", it, n);
        t[++n] = te;
    }
    return n;
}

/* The iteration of the lowest of t[1..n] (the first on ties). */
static int lowest(const double *t, int n) {
    int b = 1;
    for (int k = 2; k <= n; k++)
        if (t[k] < t[b]) b = k;
    return b;
}

/* The demo's data (kept) overfits with the default K:
 * the test RMSE is lowest at an early iteration and rises. The demo says so, train's
 * summary names the best iteration, its --json has every iteration and the best, and the
 * hint on stderr says what to do. The rule (rose more than 0.5 %) is checked against the
 * printed numbers; the fixture is checked to be a case of it, and K = 10 (the planted rank)
 * not to be. */
Test(cli, train_reports_the_best_iteration_and_overfitting) {
    run_result r = cli("demo", "--threads", "2", "--device", "cpu", "--keep", "demo", NULL);
    cr_assert_eq(r.code, 0, "demo failed (%d): %s\n%s", r.code, r.err, r.out);
    double t[64];
    int n = demo_table(r.out, t, 64), b = lowest(t, n);
    cr_assert(n >= 10 && b < n && t[n] > t[b] * 1.005, "the fixture should overfit: best %d of %d, %g then %g", b, n,
              t[b], t[n]);
    char want[128];
    snprintf(want, sizeof want, "its test RMSE was lowest at iteration %d (%.4f)", b, t[b]);
    cr_assert(strstr(r.out, want), "'%s' not in: %s", want, r.out);
    run_free(&r);

    /* the same data, split and training through train (its defaults: --test-ratio 0.1,
     * --seed 42): the JSON history */
    r = cli("train", "demo/ratings.tsv", "--threads", "2", "--device", "cpu", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    assert_one_json_object(r.out);
    const char *h = json_value(r.out, "history");
    cr_assert(h && *h == '[', "%s", r.out);
    int iters = (int)json_num(r.out, "iters"), k = 0;
    cr_assert_eq(iters, n);
    for (const char *p = h; (p = strstr(p, "{\"run\":")); p++) {
        k++;
        cr_assert_eq(json_num(p, "run"), 1.0);
        cr_assert_eq(json_num(p, "iter"), (double)k);
        cr_assert(fabs(json_num(p, "test_rmse") - t[k]) <= 5e-7, "iteration %d: %.9g in the JSON, %.6f printed", k,
                  json_num(p, "test_rmse"), t[k]);
        t[k] = json_num(p, "test_rmse");
        cr_assert(isfinite(json_num(p, "train_rmse")) && json_num(p, "objective") > 0 && json_num(p, "seconds") >= 0);
    }
    cr_assert_eq(k, iters, "%d history entries for %d iterations", k, iters);
    cr_assert_eq(json_num(r.out, "test_rmse"), t[n], "the model is the last iteration's");
    b = lowest(t, n);
    const char *best = json_value(r.out, "best_test");
    cr_assert(best && *best == '{', "%s", r.out);
    cr_assert_eq(json_num(best, "iter"), (double)b);
    cr_assert_eq(json_num(best, "test_rmse"), t[b]);
    cr_assert(strncmp(json_value(best, "rose"), "true", 4) == 0, "%s", best);
    cr_assert_eq(json_num(r.out, "run"), 1.0);
    snprintf(want, sizeof want, "hint: the test RMSE was lowest at iteration %d (%.6f)", b, t[b]);
    cr_assert(strstr(r.err, want) && strstr(r.err, "cufactor cv demo/ratings.tsv --factors"), "'%s' not in: %s", want,
              r.err);
    /* the cv command it suggests runs (here on 2 folds of 2 iterations, to be quick) */
    const char *cmd = strstr(r.err, "cufactor cv "), *end = cmd ? strstr(cmd, " chooses") : NULL;
    cr_assert(cmd && end, "%s", r.err);
    char line[256], *w[8];
    snprintf(line, sizeof line, "%.*s", (int)(end - cmd - strlen("cufactor ")), cmd + strlen("cufactor "));
    int nw = 0;
    for (char *tok = strtok(line, " "); tok && nw < 8; tok = strtok(NULL, " ")) w[nw++] = tok;
    cr_assert(nw == 7 && !strcmp(w[0], "cv") && !strcmp(w[6], "--select-iters"), "%.*s", (int)(end - cmd), cmd);
    run_free(&r);
    r = cli(w[0], w[1], w[2], w[3], w[4], w[5], w[6], "--folds", "2", "--iters", "2", "--device", "cpu", "--threads",
            "2", "--quiet", NULL);
    cr_assert(r.code == 0 && strstr(r.out, "best        K="), "exit %d: %s%s", r.code, r.out, r.err);
    run_free(&r);

    /* the summary */
    r = cli("train", "demo/ratings.tsv", "--threads", "2", "--device", "cpu", NULL);
    snprintf(want, sizeof want, "best test   %.6f at iteration %d (the model is iteration %d's)", t[b], b, n);
    cr_assert(strstr(r.out, want), "'%s' not in: %s", want, r.out);
    cr_assert(strstr(r.err, "hint: the test RMSE was lowest"), "%s", r.err);
    run_free(&r);
    /* --quiet: no hint; --early-stop: the model is the best iteration, nothing to say */
    r = cli("train", "demo/ratings.tsv", "--threads", "2", "--device", "cpu", "--quiet", NULL);
    cr_assert_str_empty(r.err);
    run_free(&r);
    r = cli("train", "demo/ratings.tsv", "--threads", "2", "--device", "cpu", "--early-stop",
            "3", "--json", NULL);
    best = json_value(r.out, "best_test");
    cr_assert(best && json_num(best, "iter") == (double)b && json_num(r.out, "test_rmse") == t[b], "%s", r.out);
    cr_assert(strncmp(json_value(best, "rose"), "false", 5) == 0, "%s", best);
    cr_assert_null(strstr(r.err, "hint:"), "%s", r.err);
    run_free(&r);

    /* K = 10, the planted rank: no rise past the rule, no hint */
    r = cli("train", "demo/ratings.tsv", "--threads", "2", "--device", "cpu", "--factors",
            "10", "--json", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    best = json_value(r.out, "best_test");
    cr_assert(best && strncmp(json_value(best, "rose"), "false", 5) == 0, "%s", r.out);
    cr_assert(json_num(r.out, "test_rmse") <= json_num(best, "test_rmse") * 1.005, "%s", r.out);
    cr_assert_null(strstr(r.err, "hint:"), "%s", r.err);
    run_free(&r);
    r = cli("train", "demo/ratings.tsv", "--threads", "2", "--device", "cpu", "--factors", "10", NULL);
    cr_assert(r.code == 0 && strstr(r.out, "test RMSE") && !strstr(r.out, "best test"), "%s", r.out);
    run_free(&r);

    /* restarts: every run in the history, the kept one named */
    r = cli("train", "demo/ratings.tsv", "--threads", "2", "--device", "cpu", "--iters", "2",
            "--restarts", "3", "--json", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    h = json_value(r.out, "history");
    double last[4] = {0};
    k = 0;
    for (const char *p = h; (p = strstr(p, "{\"run\":")); p++, k++) {
        cr_assert_eq(json_num(p, "run"), (double)(k / 2 + 1));
        cr_assert_eq(json_num(p, "iter"), (double)(k % 2 + 1));
        last[k / 2 + 1] = json_num(p, "test_rmse");
    }
    cr_assert_eq(k, 6);
    int kept = 1;
    for (int q = 2; q <= 3; q++)
        if (last[q] < last[kept]) kept = q;
    cr_assert_eq(json_num(r.out, "run"), (double)kept);
    cr_assert_eq(json_num(r.out, "test_rmse"), last[kept]);
    run_free(&r);
}

/* The first "history" array in out: each entry's `key` (the held-out RMSE) into v and its
 * train_rmse into train; returns the entries. */
static int history_column(const char *out, const char *key, double *v, double *train, int cap) {
    const char *h = json_value(out, "history"), *end = h;
    cr_assert(h && *h == '[', "%s", out);
    for (int depth = 0; *end && (depth += (*end == '[') - (*end == ']')) > 0; end++) {}
    int n = 0;
    for (const char *p = h; (p = strstr(p, "{\"run\":")) && p < end && n < cap; p++, n++) {
        v[n] = json_num(p, key), train[n] = json_num(p, "train_rmse");
        cr_assert(isfinite(v[n]), "entry %d has no %s: %.80s", n, key, p);
    }
    return n;
}

/* The demo's data in dir (kept as demo/) split by line: train.tsv 9 of every 10 lines,
 * test.tsv the 10th; test2.tsv test.tsv's pairs, each rating r replaced by 6 - r. */
static void write_demo_split(void) {
    run_result r = cli("demo", "--threads", "2", "--device", "cpu", "--keep", "demo", NULL);
    cr_assert_eq(r.code, 0, "demo failed (%d): %s\n%s", r.code, r.err, r.out);
    run_free(&r);
    size_t len;
    char *path = cf_test_path(dir, "demo/ratings.tsv");
    char *text = cf_test_read(path, &len), *p = text;
    free(path);
    cr_assert_not_null(text);
    char *parts[3] = {malloc(len + 1), malloc(len + 1), malloc(len + 1)};
    size_t at[3] = {0, 0, 0};
    int lines = 0;
    for (char *nl; (nl = memchr(p, '\n', len - (size_t)(p - text))); p = nl + 1, lines++) {
        const size_t m = (size_t)(nl + 1 - p);
        const int test = lines % 10 == 9;
        memcpy(parts[test] + at[test], p, m), at[test] += m;
        if (!test) continue;
        char *t2 = parts[2] + at[2], *tab = t2 + m - 1;
        memcpy(t2, p, m), at[2] += m;
        while (tab > t2 && tab[-1] != '\t') tab--;
        cr_assert(tab > t2 && t2 + m - 1 - tab == 1 && *tab >= '1' && *tab <= '5', "line %d", lines + 1);
        *tab = (char)('0' + 6 - (*tab - '0'));
    }
    cr_assert_eq(lines, 100000);
    const char *names[3] = {"train.tsv", "test.tsv", "test2.tsv"};
    for (int k = 0; k < 3; k++) free(cf_test_write(dir, names[k], parts[k], at[k])), free(parts[k]);
    free(text);
}

/* --validation: the iterations are scored on a share of the training part, so the test
 * part is not seen until the end. The proof: the same training with a second test file,
 * the same pairs with other ratings, runs the same iterations to the same early stop
 * (the history and the model's training figures equal) while the test RMSE differs; and
 * the test RMSE is what `eval` gives the saved model on the test file. The shares: the
 * validation part is a tenth of the training file's ratings, the test part the file's. */
Test(cli, train_validation_keeps_the_test_part_unseen) {
    write_demo_split();
    run_result r;
    const char *args[] = {"train", "train.tsv", "--test", NULL, "--validation", "0.1", "--early-stop", "2",
                          "--threads", "2", "--device", "cpu", "--json", "--model", NULL, NULL};
    double v[2][64], tr[2][64], test_rmse[2];
    int n[2];
    for (int run = 0; run < 2; run++) {
        args[3] = run ? "test2.tsv" : "test.tsv", args[14] = run ? "b.cfm" : "a.cfm";
        r = cli(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10],
                args[11], args[12], args[13], args[14], NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        assert_one_json_object(r.out);
        n[run] = history_column(r.out, "valid_rmse", v[run], tr[run], 64);
        cr_assert_null(strstr(json_value(r.out, "history"), "\"test_rmse\""), "the history has test figures");
        cr_assert_eq(json_num(r.out, "iters"), (double)n[run]);
        cr_assert(!strncmp(json_value(r.out, "stop_reason"), "\"early-stop\"", 12), "%s", r.out);
        const char *va = json_value(r.out, "validation"), *best = json_value(r.out, "best_valid");
        cr_assert(va && *va == '{' && best && *best == '{', "%s", r.out);
        cr_assert_null(strstr(r.out, "\"best_test\""));
        cr_assert_eq(json_num(va, "n"), 9000.0, "a tenth of the 90000 training ratings");
        const char *shape = strstr(r.out, "\"n_users\""); /* past "validation", which has an n_train of its own */
        cr_assert_not_null(shape);
        cr_assert_eq(json_num(shape, "n_train"), 81000.0);
        cr_assert_eq(json_num(shape, "n_test"), 10000.0);
        cr_assert_eq(json_num(va, "n_train"), 81000.0);
        /* early stop keeps the best validation iteration: its figure is the model's */
        cr_assert_eq(json_num(va, "rmse"), json_num(best, "valid_rmse"), "%s", r.out);
        cr_assert_eq(json_num(best, "valid_rmse"), v[run][(int)json_num(best, "iter") - 1]);
        test_rmse[run] = json_num(r.out, "test_rmse");
        run_free(&r);
        r = cli("eval", args[14], args[3], "--json", NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        cr_assert(fabs(json_num(r.out, "rmse") - test_rmse[run]) <= 1e-12 * test_rmse[run], "eval %.17g, train %.17g",
                  json_num(r.out, "rmse"), test_rmse[run]);
        run_free(&r);
    }
    cr_assert_eq(n[0], n[1], "the test file changed the early stop: %d vs %d iterations", n[0], n[1]);
    for (int k = 0; k < n[0]; k++)
        cr_assert(v[0][k] == v[1][k] && tr[0][k] == tr[1][k], "iteration %d differs with another test file", k + 1);
    cr_assert(fabs(test_rmse[0] - test_rmse[1]) > 0.1, "%g vs %g", test_rmse[0], test_rmse[1]);

    /* the summary names both; the per-iteration column is the validation's */
    r = cli("train", "train.tsv", "--test", "test.tsv", "--validation", "0.1", "--threads", "2", "--device",
            "cpu", "--iters", "3", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\nvalid RMSE  ") && strstr(r.out, "on 9000 ratings (--validation 0.1 of the training part"),
              "%s", r.out);
    cr_assert(strstr(r.out, "\ntest RMSE   ") && strstr(r.out, "on 10000 ratings of "), "%s", r.out);
    cr_assert(strstr(r.err, "valid_rmse") && !strstr(r.err, "test_rmse"), "%s", r.err);
    cr_assert(strstr(r.err, "validation: 9000 of the 90000 training ratings (random 0.1)"), "%s", r.err);
    run_free(&r);
    /* a checkpoint of a training on the rest resumes with the same --validation (the same
     * result as one training), and another fraction is other data */
    double straight = 0, resumed = 0;
    r = cli("train", "train.tsv", "--validation", "0.1", "--iters", "4", "--threads", "2", "--device", "cpu", "--json",
            "--quiet", NULL);
    straight = json_num(json_value(r.out, "validation"), "rmse");
    run_free(&r);
    r = cli("train", "train.tsv", "--validation", "0.1", "--iters", "4", "--checkpoint", "v.cfc", "--checkpoint-every",
            "2", "--threads", "2", "--device", "cpu", "--quiet", NULL); /* its checkpoint: after iteration 2 */
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("train", "train.tsv", "--validation", "0.1", "--iters", "4", "--resume", "v.cfc", "--threads", "2",
            "--device", "cpu", "--json", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    resumed = json_num(json_value(r.out, "validation"), "rmse");
    cr_assert_eq(json_num(r.out, "resumed_from"), 2.0, "%s", r.out);
    run_free(&r);
    cr_assert_eq(resumed, straight);
    r = cli("train", "train.tsv", "--validation", "0.2", "--iters", "4", "--resume", "v.cfc", "--device", "cpu", NULL);
    cr_assert(r.code == 1 && strstr(r.err, "written for other data") && strstr(r.err, "--validation"), "%s", r.err);
    run_free(&r);
    r = cli("train", "train.tsv", "--validation", "0.000001", "--device", "cpu", NULL);
    cr_assert(r.code == 1 && strstr(r.err, "--validation 1e-06 holds out no rating of the 81000 in the training part"),
              "exit %d: %s", r.code, r.err);
    run_free(&r);
    expect_usage("--validation: 1 is out of range",
                 cli("train", "train.tsv", "--validation", "1", "--device", "cpu", NULL));
    expect_usage("--validation: -0.1 is out of range",
                 cli("train", "train.tsv", "--validation", "-0.1", "--device", "cpu", NULL));
}

/* --refit: after the choice on the validation part (here the best iteration of an early
 * stop, and the best of 3 restarts), the model is a training of the whole training part
 * for that many iterations from the kept run's initialization: the same figures as
 * `train --iters N --seed S` with the seed that draws that run's start, and a model file
 * with the same factors. */
Test(cli, train_refit_retrains_the_chosen_iterations) {
    write_demo_split();
    for (int restarts = 1; restarts <= 3; restarts += 2) {
        char rs[8];
        snprintf(rs, sizeof rs, "%d", restarts);
        run_result r = cli("train", "train.tsv", "--test", "test.tsv", "--validation", "0.1", "--early-stop", "2",
                           "--restarts", rs, "--refit", "--threads", "2", "--device", "cpu", "--json", "--model", "r.cfm",
                           NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        assert_one_json_object(r.out);
        const char *ref = json_value(r.out, "refit"), *va = json_value(r.out, "validation");
        const char *best = json_value(r.out, "best_valid");
        cr_assert(ref && *ref == '{' && va && *va == '{' && best && *best == '{', "%s", r.out);
        const int iters = (int)json_num(ref, "iters"), run = (int)json_num(ref, "run");
        cr_assert_eq(iters, (int)json_num(best, "iter"), "the refit runs the best iteration's count: %s", r.out);
        cr_assert(iters < (int)json_num(va, "iters"), "the early stop ran past the best: %s", va);
        const char *after = ref; /* past the refit object, which has a "run" of its own */
        for (int depth = 0; *after && (depth += (*after == '{') - (*after == '}')) > 0; after++) {}
        cr_assert_eq(run, (int)json_num(after, "run"), "the kept run");
        cr_assert(run >= 1 && run <= restarts);
        cr_assert(restarts == 1 || run > 1, "the fixture should keep a later run (so the seed rule is tested): %d", run);
        cr_assert_eq((int)json_num(r.out, "iters"), iters);
        cr_assert_eq(json_num(strstr(r.out, "\"n_users\""), "n_train"), 90000.0, "the refit trains on the whole training part");
        cr_assert_eq(json_num(va, "n_train"), 81000.0);
        double hv[64], ht[64];
        cr_assert_eq(history_column(ref, "test_rmse", hv, ht, 64), iters);
        cr_assert_eq(hv[iters - 1], json_num(r.out, "test_rmse"));
        char seed[24];
        snprintf(seed, sizeof seed, "%llu", strtoull(json_value(ref, "seed"), NULL, 10)); /* beyond a double's 53 bits */
        cf_config c;
        cf_config_default(&c);
        cr_assert_eq(strtoull(seed, NULL, 10), cf_config_restart_seed(&c, run - 1));
        char its[8];
        snprintf(its, sizeof its, "%d", iters);
        run_result d = cli("train", "train.tsv", "--test", "test.tsv", "--iters", its, "--seed", seed, "--threads", "2",
                           "--device", "cpu", "--json", "--model", "d.cfm", NULL);
        cr_assert_eq(d.code, 0, "%s", d.err);
        cr_assert(json_num(d.out, "test_rmse") == json_num(r.out, "test_rmse") &&
                      json_num(d.out, "train_rmse") == json_num(r.out, "train_rmse"),
                  "refit %s\ndirect %s", r.out, d.out);
        run_free(&d);
        run_free(&r);
        /* the same model file, byte for byte (the same settings: the refit's are written as
         * the direct run's) */
        char *pa = cf_test_path(dir, "r.cfm"), *pb = cf_test_path(dir, "d.cfm");
        size_t la, lb;
        char *fa = cf_test_read(pa, &la), *fb = cf_test_read(pb, &lb);
        cr_assert(fa && fb && la == lb && memcmp(fa, fb, la) == 0, "the refit's model file differs from the direct run's");
        free(fa), free(fb), free(pa), free(pb);
    }
    /* the demo's remark names the command; on the demo's data it keeps the early stop's gain
     * without choosing on the test part: below the default's test RMSE (0.8546 vs 0.8615
     * measured), which overfits past iteration 5 */
    run_result r = cli("demo", "--threads", "2", "--device", "cpu", NULL);
    cr_assert(r.code == 0 && strstr(r.out, "`cufactor train DATA --validation 0.1 --early-stop 3 --refit`"), "%s",
              r.out);
    run_free(&r);
    double t[2];
    for (int v = 0; v < 2; v++) {
        r = v ? cli("train", "demo/ratings.tsv", "--validation", "0.1", "--early-stop", "3", "--refit", "--threads",
                    "2", "--device", "cpu", "--json", "--quiet", NULL)
              : cli("train", "demo/ratings.tsv", "--threads", "2", "--device", "cpu", "--json", "--quiet", NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        t[v] = json_num(r.out, "test_rmse");
        run_free(&r);
    }
    cr_assert_lt(t[1], t[0], "--refit %g, the default %g", t[1], t[0]);
    expect_usage("--refit retrains after a choice on --validation F",
                 cli("train", "train.tsv", "--refit", "--device", "cpu", NULL));
    expect_usage("not with --checkpoint or --resume", cli("train", "train.tsv", "--validation", "0.1", "--refit",
                                                          "--checkpoint", "c.cfc", "--device", "cpu", NULL));
}
