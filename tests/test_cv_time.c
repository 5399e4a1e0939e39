/*
 * test_cv_time.c — rolling-origin cross-validation in time (cf_cv_folds_time, cf_cv_run
 * with by_time; `cufactor cv --fold-split time|user-time`).
 *
 * The folds are checked against their definition, not against recorded results: in
 * (time, index) order the j-th of n ratings is in block ⌊j·(F+1)/n⌋ (so the cuts are at
 * ⌈c·n/(F+1)⌉), fold = block − 1, every key of a block below every key of the next; per
 * user the same over the user's m ratings. A fold's validation RMSE is
 * cf_train's test RMSE on a dataset built here from the ratings of the folds up to it
 * (the later ones left out), so a fold that trained on the future would differ.
 */
#include <criterion/criterion.h>

#include "common.h"
#include "cufactor.h"
#include "dataset.h"
#include "helpers.h"
#include "idmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CF_TEST_SUITE_WITH_TMPDIR(cv_time, 300);

/* (time, index) of rating a below rating b. */
static int key_below(const cf_dataset *ds, int64_t a, int64_t b) {
    return ds->all.t[a] < ds->all.t[b] || (ds->all.t[a] == ds->all.t[b] && a < b);
}

static int32_t *time_folds(const cf_dataset *ds, int32_t F, int by_user, int threads) {
    int32_t *fold = malloc((size_t)ds->all.n * sizeof *fold);
    for (int64_t k = 0; k < ds->all.n; k++) fold[k] = -7;
    cf_error err;
    cr_assert_eq(cf_cv_folds_time(ds, F, by_user, threads, fold, &err), CF_OK, "%s", err.msg);
    return fold;
}

/* The global folds: block sizes from the cuts ⌈c·n/(F+1)⌉, each block's keys all below the
 * next block's (so each fold's model trains on ratings no later than it validates); the
 * test-part flags play no part; a time-sorted set is cut in index order. */
Test(cv_time, folds_cut_the_time_order_into_blocks) {
    cf_dataset *ds = cf_test_generate_timed(30000, 400, 1, 3);
    const int64_t n = ds->all.n;
    for (int32_t F = 2; F <= 5; F += 3) {
        const int64_t B = F + 1;
        int32_t *fold = time_folds(ds, F, 0, 1);
        int64_t *size = calloc((size_t)B, sizeof *size), *lo = malloc((size_t)B * sizeof *lo),
                *hi = malloc((size_t)B * sizeof *hi);
        for (int64_t c = 0; c < B; c++) lo[c] = hi[c] = -1;
        for (int64_t k = 0; k < n; k++) {
            cr_assert(fold[k] >= -1 && fold[k] < F, "rating %lld: fold %d", (long long)k, (int)fold[k]);
            const int64_t c = fold[k] + 1;
            size[c]++;
            if (lo[c] < 0 || key_below(ds, k, lo[c])) lo[c] = k;
            if (hi[c] < 0 || key_below(ds, hi[c], k)) hi[c] = k;
        }
        for (int64_t c = 0; c < B; c++) {
            const int64_t want = ((c + 1) * n + B - 1) / B - (c * n + B - 1) / B; /* ⌈(c+1)n/B⌉ − ⌈cn/B⌉ */
            cr_assert_eq(size[c], want, "F %d block %lld: %lld ratings", (int)F, (long long)c, (long long)size[c]);
            if (c > 0) cr_assert(key_below(ds, hi[c - 1], lo[c]), "F %d: block %lld reaches into the next", (int)F,
                                 (long long)c - 1);
        }
        free(fold), free(size), free(lo), free(hi);
    }
    cf_dataset_destroy(&ds);

    /* time = index: the blocks are index ranges; times all equal: the same (index breaks ties) */
    for (int same = 0; same < 2; same++) {
        ds = cf_dataset_create();
        cr_assert(ds && cf_dataset_set_timed(ds) == 0);
        uint32_t idx;
        cr_assert_eq(cf_idmap_intern(ds->users, "u", 1, &idx, NULL), 0);
        cr_assert_eq(cf_idmap_intern(ds->items, "i", 1, &idx, NULL), 0);
        for (int k = 0; k < 1001; k++) cr_assert_eq(cf_dataset_push_timed(ds, 0, 0, 1, same ? 7 : 5000 + k, 0), 0);
        int32_t *fold = time_folds(ds, 3, 0, 2);
        for (int k = 0; k < 1001; k++) cr_assert_eq(fold[k], (int32_t)(k * 4 / 1001) - 1, "rating %d", k);
        free(fold);
        cf_dataset_destroy(&ds);
    }
}

static int by_key(const void *a, const void *b, void *ctx) {
    const cf_dataset *ds = ctx;
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return key_below(ds, x, y) ? -1 : key_below(ds, y, x);
}

/* Per user: the j-th of the user's m ratings in (time, index) order in block
 * ⌊j·(F+1)/m⌋, so a user's first rating trains every fold and every validated user is
 * known; the same on 1, 2 and 3 threads (past the 2^16 ratings where users go parallel). */
Test(cv_time, per_user_folds_follow_each_users_time_order, .timeout = 60) {
    cf_dataset *ds = cf_test_generate_timed(90000, 50, 1, 9);
    const int64_t n = ds->all.n, nu = cf_idmap_size(ds->users);
    cr_assert_gt(n, 1 << 16);
    const int32_t F = 4;
    int32_t *fold = time_folds(ds, F, 1, 1);
    for (int T = 2; T <= 3; T++) {
        int32_t *again = time_folds(ds, F, 1, T);
        cr_assert_eq(memcmp(again, fold, (size_t)n * sizeof *fold), 0, "%d threads", T);
        free(again);
    }
    int64_t *start = calloc((size_t)nu + 1, sizeof *start), *x = malloc((size_t)n * sizeof *x);
    for (int64_t k = 0; k < n; k++) start[ds->all.u[k] + 1]++;
    for (int64_t u = 0; u < nu; u++) start[u + 1] += start[u];
    int64_t *at = malloc((size_t)nu * sizeof *at);
    memcpy(at, start, (size_t)nu * sizeof *at);
    for (int64_t k = 0; k < n; k++) x[at[ds->all.u[k]]++] = k;
    int64_t validated_users = 0;
    for (int64_t u = 0; u < nu; u++) {
        const int64_t m = start[u + 1] - start[u];
        qsort_r(x + start[u], (size_t)m, sizeof *x, by_key, ds);
        for (int64_t j = 0; j < m; j++)
            cr_assert_eq(fold[x[start[u] + j]], (int32_t)(j * (F + 1) / m) - 1, "user %lld, rating %lld of %lld",
                         (long long)u, (long long)j, (long long)m);
        validated_users += m >= 2;
    }
    cr_assert_gt(validated_users, nu / 2);
    free(start), free(x), free(at), free(fold);
    cf_dataset_destroy(&ds);
}

Test(cv_time, folds_refuse_untimed_data_too_few_ratings_and_empty_folds) {
    cf_error err;
    int32_t fold[8];
    cf_dataset *ds = cf_test_generate(20, 10, 50, 2, 0.3, 1, 1);
    cr_assert_eq(cf_cv_folds_time(ds, 3, 0, 1, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "time folds: the dataset has no timestamps"), "%s", err.msg);
    cr_assert_eq(cf_cv_folds_time(ds, 3, 1, 1, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "per-user time folds: the dataset has no timestamps"), "%s", err.msg);
    cf_dataset_destroy(&ds);

    ds = cf_dataset_create();
    cr_assert(ds && cf_dataset_set_timed(ds) == 0);
    for (int u = 0; u < 3; u++) { /* three users of one rating each */
        char id[8];
        uint32_t idx;
        const int len = snprintf(id, sizeof id, "u%d", u);
        cr_assert_eq(cf_idmap_intern(ds->users, id, (size_t)len, &idx, NULL), 0);
        cr_assert_eq(cf_idmap_intern(ds->items, id, (size_t)len, &idx, NULL), 0);
        cr_assert_eq(cf_dataset_push_timed(ds, idx, idx, 3, 100 - u, 0), 0);
    }
    cr_assert_eq(cf_cv_folds_time(ds, 3, 0, 1, fold, &err), CF_ERR_INVALID, "3 ratings, 4 blocks");
    cr_assert(strstr(err.msg, "3 ratings cannot fill the 4 blocks of 3 folds"), "%s", err.msg);
    cr_assert_eq(cf_cv_folds_time(ds, 1, 0, 1, fold, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_cv_folds_time(ds, 2, 0, 1, fold, &err), CF_OK, "%s", err.msg);
    cr_assert(fold[2] == -1 && fold[1] == 0 && fold[0] == 1, "latest first in the file: %d %d %d", fold[0], fold[1],
              fold[2]);
    cr_assert_eq(cf_cv_folds_time(ds, 2, 1, 1, fold, &err), CF_ERR_INVALID, "one rating a user: nothing validated");
    cr_assert(strstr(err.msg, "per-user time folds: fold 1 of 2 is empty"), "%s", err.msg);
    cf_dataset_destroy(&ds);
}

/* The ratings of folds ≤ f of ds (in index order, the time dropped) as a dataset of its
 * own with ds's ID maps, fold f its test part: what cf_cv_run's fold f must train on. */
static cf_dataset *past_of(const cf_dataset *ds, const int32_t *fold, int32_t f) {
    cf_dataset *c = cf_dataset_create();
    cr_assert(c);
    cf_idmap_destroy(&c->users), cf_idmap_destroy(&c->items);
    c->users = cf_idmap_clone(ds->users), c->items = cf_idmap_clone(ds->items);
    for (int64_t k = 0; k < ds->all.n; k++)
        if (fold[k] <= f) cr_assert_eq(cf_dataset_push(c, ds->all.u[k], ds->all.i[k], ds->all.r[k], fold[k] == f), 0);
    return c;
}

static cf_config base_cfg(void) {
    cf_config c;
    cf_config_default(&c);
    c.device = CF_DEVICE_CPU, c.threads = 1, c.iters = 3, c.seed = 5, c.factors = 3, c.lambda = 0.1;
    return c;
}

/* cf_cv_run with by_time scores fold f exactly as cf_train on the ratings of folds ≤ f
 * with fold f as the test part (not on all the others: a model of the future would give
 * another RMSE, checked too); fold_from is each fold's earliest time; unvalidated counts
 * the first block; the refit trains on every rating; the ranking selection runs. */
Test(cv_time, run_scores_each_fold_on_a_model_of_the_past, .timeout = 60) {
    cf_dataset *ds = cf_test_generate_timed(6000, 100000, 0, 5);
    const int32_t KS[1] = {3};
    const double LS[1] = {0.1};
    for (int by_user = 0; by_user < 2; by_user++) {
        cf_cv_options o;
        cf_cv_options_default(&o);
        o.factors = KS, o.n_factors = 1, o.lambdas = LS, o.n_lambdas = 1, o.folds = 3, o.by_time = 1;
        o.by_user = by_user;
        cf_config base = base_cfg();
        cf_cv_result res;
        cf_error err;
        cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
        int32_t *fold = time_folds(ds, 3, by_user, 1);
        int64_t first_block = 0;
        for (int64_t k = 0; k < ds->all.n; k++) first_block += fold[k] < 0;
        cr_assert_eq(res.unvalidated, first_block);
        cr_assert(res.fold_from, "by_time: fold_from");
        for (int32_t f = 0; f < 3; f++) {
            int64_t from = INT64_MAX;
            for (int64_t k = 0; k < ds->all.n; k++)
                if (fold[k] == f && ds->all.t[k] < from) from = ds->all.t[k];
            cr_assert_eq(res.fold_from[f], from, "by_user %d fold %d", by_user, (int)f);
            cf_dataset *past = past_of(ds, fold, f);
            cf_model *m = NULL;
            cf_train_report rep;
            cr_assert_eq(cf_train(past, &base, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
            cr_assert_eq(res.fold_rmse[f], rep.test_rmse, "by_user %d fold %d: %.17g vs %.17g", by_user, (int)f,
                         res.fold_rmse[f], rep.test_rmse);
            cf_model_destroy(&m);
            cf_dataset_destroy(&past);
            if (f < 2) { /* the same fold scored by a model that also saw the later folds differs */
                cf_dataset *all = past_of(ds, fold, 99);
                for (int64_t k = 0; k < all->all.n; k++) all->is_test[k] = fold[k] == f;
                cr_assert_eq(cf_train(all, &base, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
                cr_assert_neq(res.fold_rmse[f], rep.test_rmse, "fold %d: the later folds must take no part", (int)f);
                cf_model_destroy(&m);
                cf_dataset_destroy(&all);
            }
        }
        cr_assert_eq(res.refit_report.n_train, ds->all.n);
        cf_cv_result_free(&res);
        free(fold);
        /* selection by a ranking measure runs on the time folds too */
        o.rank_n = 5, o.rank_measure = CF_RANK_NDCG, o.refit = 0;
        cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
        for (int32_t f = 0; f < 3; f++) cr_assert(res.fold_score[f] >= 0 && res.fold_score[f] <= 1);
        cf_cv_result_free(&res);
    }
    /* the random folds have no fold_from */
    cf_cv_options o;
    cf_cv_options_default(&o);
    o.factors = KS, o.n_factors = 1, o.lambdas = LS, o.n_lambdas = 1, o.folds = 2, o.refit = 0;
    cf_config base = base_cfg();
    cf_cv_result res;
    cf_error err;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    cr_assert_null(res.fold_from);
    cf_cv_result_free(&res);
    cf_dataset_destroy(&ds);
}

/* The cell of least value among cells entries of v[c·F + F − 1] (last) or of mean[c]. */
static int argmin_cell(const double *v, int64_t cells, int32_t F, int last) {
    int best = 0;
    for (int64_t c = 1; c < cells; c++)
        if ((last ? v[c * F + F - 1] : v[c]) < (last ? v[best * F + F - 1] : v[best])) best = (int)c;
    return best;
}

/* select_last: the best cell is the argmin of the last fold's RMSE (the argmax of its score
 * with a ranking measure) instead of the mean's; the fold values themselves do not change.
 * The fixture is one where the two picks differ (checked), so ignoring the option fails.
 * Refused without by_time. */
Test(cv_time, select_last_picks_by_the_last_fold, .timeout = 60) {
    cf_dataset *ds = cf_test_generate_timed(6000, 100000, 0, 5);
    const int32_t KS[3] = {1, 3, 6};
    const double LS[3] = {0.02, 0.1, 0.5};
    cf_cv_options o;
    cf_cv_options_default(&o);
    o.factors = KS, o.n_factors = 3, o.lambdas = LS, o.n_lambdas = 3, o.folds = 3, o.by_time = 1, o.refit = 0;
    cf_config base = base_cfg();
    cf_cv_result mean, last;
    cf_error err;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &mean, &err), CF_OK, "%s", err.msg);
    o.select_last = 1;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &last, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(memcmp(mean.fold_rmse, last.fold_rmse, 9 * 3 * sizeof(double)), 0, "the same folds, the same values");
    const int bm = argmin_cell(mean.mean, 9, 3, 0), bl = argmin_cell(last.fold_rmse, 9, 3, 1);
    cr_assert_eq(mean.best_l * 3 + mean.best_k, bm, "by the mean");
    cr_assert_eq(last.best_l * 3 + last.best_k, bl, "by the last fold");
    cr_assert_neq(bm, bl, "a fixture where the picks differ (mean %d, last %d)", bm, bl);
    cf_cv_result_free(&mean), cf_cv_result_free(&last);

    /* a ranking measure: the argmax of the last fold's score */
    o.rank_n = 5, o.rank_measure = CF_RANK_NDCG;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &last, &err), CF_OK, "%s", err.msg);
    double neg[9 * 3];
    for (int k = 0; k < 9 * 3; k++) neg[k] = -last.fold_score[k];
    cr_assert_eq(last.best_l * 3 + last.best_k, argmin_cell(neg, 9, 3, 1));
    cf_cv_result_free(&last);

    o.by_time = 0, o.rank_n = 0;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &last, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "select_last"), "%s", err.msg);
    cf_dataset_destroy(&ds);
}

/* cufactor cv --fold-split time: the library's fold RMSEs, fold_from and unvalidated in
 * the JSON; the table names the folds, each one's first time and the best cell's last
 * fold; the same from the
 * binary file convert --timestamps writes; a file without timestamps is an error naming
 * its line and field, and a binary one without them names the fix. */
Test(cv_time, cli_time_folds, .timeout = 120) {
    char *data = cf_test_path(dir, "d.tsv"), *bin = cf_test_path(dir, "d.cfd"), *bin3 = cf_test_path(dir, "d3.cfd");
    cf_dataset *ds = cf_test_generate_timed(5000, 100000000, 0, 7);
    cf_error err;
    cr_assert_eq(cf_dataset_write(ds, data, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    cf_read_options ro;
    cf_read_options_default(&ro);
    ro.timestamps = 1;
    cr_assert_eq(cf_dataset_read(data, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    const int32_t KS[1] = {2};
    const double LS[1] = {0.05};
    cf_cv_options o;
    cf_cv_options_default(&o);
    o.factors = KS, o.n_factors = 1, o.lambdas = LS, o.n_lambdas = 1, o.folds = 2, o.by_time = 1, o.refit = 0;
    cf_config base;
    cf_config_default(&base);
    base.device = CF_DEVICE_CPU, base.threads = 1, base.iters = 2;
    cf_cv_result res;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);

    for (int binary = 0; binary < 2; binary++) {
        if (binary) {
            cf_test_run c = cf_test_cli(dir, "convert", data, bin, "--timestamps", NULL);
            cr_assert_eq(c.code, 0, "%s", c.err);
            cf_test_run_free(&c);
        }
        cf_test_run r = cf_test_cli(dir, "cv", binary ? bin : data, "--factors", "2", "--lambda", "0.05", "--folds",
                                    "2", "--iters", "2", "--device", "cpu", "--threads", "1", "--fold-split", "time",
                                    "--json", "--quiet", NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        cr_assert(strstr(r.out, "\"fold_split\":\"time\""), "%s", r.out);
        cr_assert_eq((int64_t)cf_test_json_num(r.out, "unvalidated"), res.unvalidated);
        char want[96];
        snprintf(want, sizeof want, "\"fold_from\":[%lld,%lld]", (long long)res.fold_from[0],
                 (long long)res.fold_from[1]);
        cr_assert(strstr(r.out, want), "want %s in %s", want, r.out);
        const char *fr = strstr(r.out, "\"fold_rmse\":[");
        double f0, f1;
        cr_assert(fr && sscanf(fr, "\"fold_rmse\":[%lf,%lf]", &f0, &f1) == 2, "%s", r.out);
        cr_assert_float_eq(f0, res.fold_rmse[0], 1e-12 * f0, "%.17g vs %.17g", f0, res.fold_rmse[0]);
        cr_assert_float_eq(f1, res.fold_rmse[1], 1e-12 * f1, "%.17g vs %.17g", f1, res.fold_rmse[1]);
        cf_test_run_free(&r);
    }
    cf_test_run r = cf_test_cli(dir, "cv", data, "--factors", "2", "--lambda", "0.05", "--folds", "2", "--iters", "2",
                                "--device", "cpu", "--threads", "1", "--fold-split", "time", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "2-fold rolling-origin time CV"), "%s", r.out);
    cr_assert(strstr(r.err, "2 rolling-origin time folds (in time order)"), "%s", r.err);
    char line[128];
    snprintf(line, sizeof line, "fold 2      from time %lld", (long long)res.fold_from[1]);
    cr_assert(strstr(r.out, line), "want '%s' in %s", line, r.out);
    snprintf(line, sizeof line, "last fold   K=2 lambda=0.05: RMSE %.6f (trained on the earliest 2/3",
             res.fold_rmse[1]);
    cr_assert(strstr(r.out, line), "want '%s' in %s", line, r.out);
    cf_test_run_free(&r);
    r = cf_test_cli(dir, "cv", data, "--factors", "2", "--lambda", "0.05", "--folds", "2", "--iters", "2", "--device",
                    "cpu", "--fold-split", "user-time", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "rolling origin per user"), "%s", r.out);
    cr_assert(!strstr(r.out, "from time"), "per user there is no one cut: %s", r.out);
    cf_test_run_free(&r);
    /* --select-on last: said in the title and the JSON (the library's choice is checked above);
     * with folds that are not in time it is a usage error */
    r = cf_test_cli(dir, "cv", data, "--factors", "2", "--lambda", "0.05,0.5", "--folds", "2", "--iters", "2",
                    "--device", "cpu", "--fold-split", "time", "--select-on", "last", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "; * the best by the last fold)"), "%s", r.out);
    cf_test_run_free(&r);
    r = cf_test_cli(dir, "cv", data, "--factors", "2", "--lambda", "0.05", "--folds", "2", "--iters", "2", "--device",
                    "cpu", "--fold-split", "time", "--select-on", "last", "--json", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"select_on\":\"last\""), "%s", r.out);
    cf_test_run_free(&r);
    r = cf_test_cli(dir, "cv", data, "--factors", "2", "--lambda", "0.05", "--select-on", "last", NULL);
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "--select-on last needs --fold-split time or user-time"), "%s", r.err);
    cf_test_run_free(&r);

    const char *three = "1\t2\t3\n2\t2\t4\n3\t1\t5\n";
    char *p3 = cf_test_write(dir, "three.tsv", three, strlen(three));
    r = cf_test_cli(dir, "cv", p3, "--factors", "2", "--lambda", "0.05", "--fold-split", "time", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "three.tsv:1: missing timestamp field (the fourth)"), "%s", r.err);
    cf_test_run_free(&r);
    r = cf_test_cli(dir, "convert", data, bin3, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cf_test_run_free(&r);
    r = cf_test_cli(dir, "cv", bin3, "--factors", "2", "--lambda", "0.05", "--fold-split", "user-time", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "convert it again with --timestamps"), "%s", r.err);
    cf_test_run_free(&r);
    cf_cv_result_free(&res);
    free(data), free(bin), free(bin3), free(p3);
}
