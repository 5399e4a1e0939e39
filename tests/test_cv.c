/* test_cv.c — k-fold cross-validation (cf_cv_run) through the public API: the fold
 * assignment, the per-cell means against folds retrained here with cf_train, the
 * argmin and border logic, the refit; `cufactor cv` through the real binary; and the time
 * left its progress lines show (src/cli/eta.c, compiled into this test) on given timings.
 *
 * Data: cf_generate, 3000 ratings (250 users × 120 items, planted rank 3, σ = 0.3);
 * grid K ∈ {2, 4} × λ ∈ {0.05, 0.5}, 3 folds, 3 ALS sweeps on one CPU thread. */
#include <criterion/criterion.h>

#include "cufactor.h"
#include "dataset.h"
#include "eta.h"
#include "helpers.h"

#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { N_RATINGS = 3000, FOLDS = 3 };
static const int32_t KS[2] = {2, 4};
static const double LS[2] = {0.05, 0.5};

static cf_dataset *make_data(void) {
    return cf_test_generate(250, 120, N_RATINGS, 3, 0.3, 11, 1);
}

static cf_config base_cfg(void) {
    cf_config c;
    cf_config_default(&c);
    c.device = CF_DEVICE_CPU, c.threads = 1, c.iters = 3, c.seed = 5;
    return c;
}

static cf_cv_options grid_opts(void) {
    cf_cv_options o;
    cf_cv_options_default(&o);
    o.factors = KS, o.n_factors = 2, o.lambdas = LS, o.n_lambdas = 2, o.folds = FOLDS, o.seed = 77;
    return o;
}

/* ------------------------------------------------------------------ folds */

static void check_folds(int64_t n, int32_t F, uint64_t seed) {
    int32_t *fold = malloc((size_t)n * sizeof *fold);
    int64_t *size = calloc((size_t)F, sizeof *size);
    cf_error err;
    for (int64_t j = 0; j < n; j++) fold[j] = -1;
    cr_assert_eq(cf_cv_folds(n, F, seed, fold, &err), CF_OK, "%s", err.msg);
    for (int64_t j = 0; j < n; j++) {
        cr_assert(fold[j] >= 0 && fold[j] < F, "rating %lld: fold %d", (long long)j, (int)fold[j]);
        size[fold[j]]++;
    }
    int64_t lo = n, hi = 0, sum = 0;
    for (int32_t f = 0; f < F; f++) {
        lo = size[f] < lo ? size[f] : lo;
        hi = size[f] > hi ? size[f] : hi;
        sum += size[f];
    }
    cr_assert_eq(sum, n);
    cr_assert_leq(hi - lo, 1, "fold sizes %lld..%lld", (long long)lo, (long long)hi);
    cr_assert_eq(lo, n / F);
    free(fold);
    free(size);
}

Test(cv, folds_cover_every_rating_once_with_sizes_within_one) {
    check_folds(3001, 3, 1);
    check_folds(100, 7, 2);
    check_folds(10, 10, 3);
    check_folds(5, 2, 4);
}

Test(cv, same_seed_same_folds_other_seed_other_folds) {
    enum { N = 2000 };
    static int32_t a[N], b[N], c[N];
    cf_error err;
    cr_assert_eq(cf_cv_folds(N, 5, 9, a, &err), CF_OK);
    cr_assert_eq(cf_cv_folds(N, 5, 9, b, &err), CF_OK);
    cr_assert_eq(cf_cv_folds(N, 5, 10, c, &err), CF_OK);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    int differ = 0;
    for (int j = 0; j < N; j++) differ += a[j] != c[j];
    cr_assert_gt(differ, N / 2, "only %d of %d ratings changed fold with the seed", differ, N);
}

Test(cv, folds_refuse_bad_arguments) {
    int32_t f[4];
    cf_error err;
    cr_assert_eq(cf_cv_folds(4, 1, 1, f, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_cv_folds(4, 5, 1, f, &err), CF_ERR_INVALID);
}

/* ------------------------------------------------------------------ the grid */

/* Cell (l, k) trained as cf_cv_run trains it on fold f: the view's part flags (its
 * is_test, N_RATINGS entries) set to fold f, cf_train with the cell's K and λ. */
static cf_model *train_fold(cf_dataset *view, const int32_t *fold, int f, const cf_config *base, int l, int k,
                            cf_train_report *rep) {
    for (int64_t j = 0; j < N_RATINGS; j++) view->is_test[j] = fold[j] == f;
    cf_config c = *base;
    c.factors = KS[k], c.lambda = LS[l];
    cf_model *m = NULL;
    cf_error err;
    cr_assert_eq(cf_train(view, &c, NULL, NULL, &m, rep, &err), CF_OK, "%s", err.msg);
    return m;
}

/* Per-user folds: a dataset of many light users (most have one to three ratings) and some
 * test-part ratings (the folds take both parts). Each user with m >= 2 ratings has
 * floor(m/F) or ceil(m/F) of them in every fold, so never all of them in one; a user with
 * one rating is in no fold (-1). The same folds on 1, 2 and 3 threads (past the 2^16
 * ratings from which the users are dealt in parallel) and with another OpenMP default
 * meanwhile; another seed other folds. */
static int32_t *user_folds(const cf_dataset *ds, int32_t F, uint64_t seed, int threads) {
    int32_t *fold = malloc((size_t)ds->all.n * sizeof *fold);
    for (int64_t k = 0; k < ds->all.n; k++) fold[k] = -7;
    cf_error err;
    cr_assert_eq(cf_cv_folds_per_user(ds, F, seed, threads, fold, &err), CF_OK, "%s", err.msg);
    return fold;
}

Test(cv, per_user_folds_deal_each_users_ratings_evenly, .timeout = 60) {
    cf_dataset *ds = cf_test_generate(40000, 3000, 70000, 3, 0.3, 21, 1);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.1, 3, &err), CF_OK, "%s", err.msg);
    const int64_t n = ds->all.n, nu = cf_idmap_size(ds->users);
    cr_assert_gt(n, 1 << 16);
    for (int32_t F = 2; F <= 5; F += 3) {
        int32_t *fold = user_folds(ds, F, 8, 1);
        int64_t *cnt = calloc((size_t)(nu * F), sizeof *cnt), *m = calloc((size_t)nu, sizeof *m), ones = 0, none = 0;
        for (int64_t k = 0; k < n; k++) {
            const uint32_t u = ds->all.u[k];
            m[u]++;
            cr_assert(fold[k] >= -1 && fold[k] < F, "rating %lld: fold %d", (long long)k, (int)fold[k]);
            if (fold[k] >= 0) cnt[(int64_t)u * F + fold[k]]++;
            else none++;
        }
        for (int64_t u = 0; u < nu; u++) {
            if (m[u] == 1) ones++;
            for (int32_t f = 0; f < F; f++) {
                const int64_t c = cnt[u * F + f];
                if (m[u] == 1) cr_assert_eq(c, 0, "user %lld with one rating is validated", (long long)u);
                else
                    cr_assert(c == m[u] / F || c == (m[u] + F - 1) / F, "user %lld: %lld of %lld ratings in fold %d",
                              (long long)u, (long long)c, (long long)m[u], (int)f);
                if (m[u] >= 2) cr_assert_lt(c, m[u]);
            }
        }
        cr_assert_gt(ones, 1000, "the data should have many one-rating users");
        cr_assert_eq(none, ones, "exactly the one-rating users' ratings are in no fold");
        /* the same on more threads, with another OpenMP default meanwhile */
        for (int threads = 2; threads <= 3; threads++) {
            omp_set_num_threads(5 - threads);
            int32_t *again = user_folds(ds, F, 8, threads);
            cr_assert(!memcmp(again, fold, (size_t)n * sizeof *fold), "F=%d, %d threads", (int)F, threads);
            free(again);
        }
        int32_t *other = user_folds(ds, F, 9, 2);
        int64_t differ = 0;
        for (int64_t k = 0; k < n; k++) differ += other[k] != fold[k];
        cr_assert_gt(differ, (n - none) / 4, "only %lld ratings changed fold with the seed", (long long)differ);
        free(other), free(fold), free(cnt), free(m);
    }
    cf_dataset_destroy(&ds);
}

/* The seeded first fold spreads the remainders: over the users of two ratings each (in
 * 2 of the F = 5 folds), each fold holds a uniform share, 2/5 of those users, within five
 * standard deviations of the binomial count. Without it fold 0 and 1 would hold all. */
Test(cv, per_user_folds_spread_light_users_over_every_fold) {
    cf_dataset *ds = cf_test_generate(20000, 2000, 30000, 3, 0.3, 5, 1);
    const int64_t n = ds->all.n, nu = cf_idmap_size(ds->users);
    enum { F = 5 };
    int32_t *fold = user_folds(ds, F, 4, 1);
    int64_t *m = calloc((size_t)nu, sizeof *m), size[F] = {0}, twos = 0;
    for (int64_t k = 0; k < n; k++) m[ds->all.u[k]]++;
    for (int64_t u = 0; u < nu; u++) twos += m[u] == 2;
    for (int64_t k = 0; k < n; k++)
        if (m[ds->all.u[k]] == 2) size[fold[k]]++;
    cr_assert_gt(twos, 500);
    const double p = 2.0 / F, mean = p * (double)twos, sd = sqrt((double)twos * p * (1 - p));
    for (int f = 0; f < F; f++)
        cr_assert_lt(fabs((double)size[f] - mean), 5 * sd, "fold %d: %lld of %lld two-rating users (expected %.0f)",
                     f, (long long)size[f], (long long)twos, mean);
    free(m), free(fold);
    cf_dataset_destroy(&ds);
}

Test(cv, per_user_folds_refuse_bad_arguments_and_empty_folds) {
    cf_dataset *ds = cf_test_generate(50, 40, 300, 2, 0.3, 1, 1);
    int32_t *fold = malloc((size_t)ds->all.n * sizeof *fold);
    cf_error err;
    cr_assert_eq(cf_cv_folds_per_user(ds, 1, 1, 1, fold, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "at least 2"), "%s", err.msg);
    free(fold);
    cf_dataset_destroy(&ds);
    /* users of one rating each: nothing to validate */
    ds = cf_dataset_create();
    cr_assert_not_null(ds);
    for (int u = 0; u < 6; u++) {
        char id[8];
        uint32_t ui, ii;
        int added;
        snprintf(id, sizeof id, "u%d", u);
        cr_assert_eq(cf_idmap_intern(ds->users, id, strlen(id), &ui, &added), 0);
        cr_assert_eq(cf_idmap_intern(ds->items, "i", 1, &ii, &added), 0);
        cr_assert_eq(cf_dataset_push(ds, ui, ii, 3.0f, 0), 0);
    }
    fold = malloc(6 * sizeof *fold);
    cr_assert_eq(cf_cv_folds_per_user(ds, 2, 1, 1, fold, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "fold 1 of 2 is empty") && strstr(err.msg, "two ratings"), "%s", err.msg);
    free(fold);
    cf_dataset_destroy(&ds);
}

/* cf_cv_run with by_user: each fold's RMSE is cf_train's on the folds of
 * cf_cv_folds_per_user (retrained here), no validation rating's user is unseen, and the
 * result counts the ratings in no fold. */
Test(cv, per_user_run_scores_the_per_user_folds, .timeout = 60) {
    cf_dataset *ds = cf_test_generate(1500, 120, N_RATINGS, 3, 0.3, 11, 1);
    cf_config base = base_cfg();
    cf_cv_options o = grid_opts();
    o.n_factors = 1, o.n_lambdas = 1, o.by_user = 1, o.refit = 0;
    cf_cv_result res;
    cf_error err;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    int32_t *fold = user_folds(ds, FOLDS, o.seed, 1);
    int64_t none = 0;
    for (int64_t j = 0; j < N_RATINGS; j++) none += fold[j] < 0;
    cr_assert_gt(none, 0, "the data should have users of one rating");
    cr_assert_eq(res.unvalidated, none);
    uint8_t *mask = calloc((size_t)ds->all.cap, 1);
    cf_dataset view = *ds;
    view.is_test = mask;
    for (int f = 0; f < FOLDS; f++) {
        cf_train_report rep;
        cf_model *m = train_fold(&view, fold, f, &base, 0, 0, &rep);
        cr_assert_eq(rep.test_unseen, 0, "fold %d: %lld unseen", f, (long long)rep.test_unseen);
        cr_assert_gt(rep.n_test, N_RATINGS / FOLDS / 2);
        cr_assert_eq(res.fold_rmse[f], rep.test_rmse, "fold %d", f);
        cf_model_destroy(&m);
    }
    /* the random folds of the same data leave some validation users unseen: what by_user avoids */
    int32_t *rfold = malloc(N_RATINGS * sizeof *rfold);
    cr_assert_eq(cf_cv_folds(N_RATINGS, FOLDS, o.seed, rfold, &err), CF_OK);
    cf_train_report rep;
    cf_model *m = train_fold(&view, rfold, 0, &base, 0, 0, &rep);
    cr_assert_gt(rep.test_unseen, 0);
    cf_model_destroy(&m);
    cf_cv_result_free(&res);
    free(mask), free(fold), free(rfold);
    cf_dataset_destroy(&ds);
}

Test(cv, cell_means_equal_folds_retrained_with_cf_train, .timeout = 60) {
    cf_dataset *ds = make_data();
    cf_config base = base_cfg();
    cf_cv_options o = grid_opts();
    cf_cv_result res;
    cf_error err;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(res.n_factors, 2);
    cr_assert_eq(res.n_lambdas, 2);
    cr_assert_eq(res.folds, FOLDS);
    cr_assert(!res.fold_score && !res.fold_popular && isnan(res.mean_popular) && isnan(res.mean_minus_popular),
              "no ranking without rank_n");

    /* the folds of the run, recomputed, and a view of ds with fold f as the test part */
    int32_t *fold = malloc(N_RATINGS * sizeof *fold);
    cr_assert_eq(ds->all.n, N_RATINGS);
    cr_assert_eq(cf_cv_folds(N_RATINGS, FOLDS, o.seed, fold, &err), CF_OK);
    uint8_t *mask = calloc((size_t)ds->all.cap, 1);
    cf_dataset view = *ds;
    view.is_test = mask;
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 2; k++) {
            double rmse[FOLDS], sum = 0;
            for (int f = 0; f < FOLDS; f++) {
                cf_train_report rep;
                cf_model *m = train_fold(&view, fold, f, &base, l, k, &rep);
                cr_assert_eq(rep.n_test, N_RATINGS / FOLDS);
                rmse[f] = rep.test_rmse;
                sum += rmse[f];
                cr_assert(isfinite(rmse[f]) && rmse[f] > 0.1 && rmse[f] < 2.0, "rmse %g", rmse[f]);
                cr_assert_eq(res.fold_rmse[(l * 2 + k) * FOLDS + f], rmse[f], "cell (%d,%d) fold %d", l, k, f);
                cf_model_destroy(&m);
            }
            double mean = sum / FOLDS, v = 0;
            for (int f = 0; f < FOLDS; f++) v += (rmse[f] - mean) * (rmse[f] - mean);
            cr_assert_float_eq(res.mean[l * 2 + k], mean, 1e-15);
            cr_assert_float_eq(res.std[l * 2 + k], sqrt(v / (FOLDS - 1)), 1e-15);
        }
    free(mask);
    free(fold);

    /* the best cell is the argmin of the means */
    int bl = 0, bk = 0;
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 2; k++)
            if (res.mean[l * 2 + k] < res.mean[bl * 2 + bk]) bl = l, bk = k;
    cr_assert_eq(res.best_l, bl);
    cr_assert_eq(res.best_k, bk);
    /* a 2×2 grid: every cell is on the border */
    cr_assert_eq(res.border, 1);

    /* the refit: the best cell, trained on every rating */
    cr_assert_not_null(res.model);
    cf_model_info mi;
    cf_model_info_get(res.model, &mi);
    cr_assert_eq(mi.factors, KS[bk]);
    cr_assert_eq(mi.config.lambda, LS[bl]);
    cr_assert_eq(res.refit_report.n_train, N_RATINGS);
    cr_assert_eq(res.refit_report.n_test, 0);
    /* the dataset is left as it was: all ratings in the training part */
    cf_dataset_info di;
    cf_dataset_info_get(ds, &di);
    cr_assert_eq(di.n_train, N_RATINGS);
    cr_assert_eq(di.n_test, 0);

    cf_cv_result_free(&res);
    cf_cv_result_free(&res); /* a freed (zeroed) result is accepted again */
    cf_cv_result_free(NULL);
    cf_dataset_destroy(&ds);
}

/* Selection by a ranking measure: each fold's score is the measure of
 * cf_model_rank_evaluate_split on the fold's view with the model cf_train makes there
 * (retrained here; with rank_min_ratings its subset of the items fit to that many
 * ratings), the means and stds are over the folds, and the best cell is the argmax of the
 * mean score, which here differs from the argmin of RMSE's mean or not. */
Test(cv, ranking_selection_scores_folds_as_rank_evaluate_split, .timeout = 60) {
    cf_dataset *ds = make_data();
    cf_config base = base_cfg();
    cf_cv_options o = grid_opts();
    o.rank_n = 5, o.rank_measure = CF_RANK_NDCG, o.relevant_min = 3.5;
    cf_cv_result res;
    cf_error err;
    for (int floored = 0; floored <= 1; floored++) {
        o.rank_min_ratings = floored ? 20 : 0;
        cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
        cr_assert_not_null(res.fold_score);
        int32_t *fold = malloc(N_RATINGS * sizeof *fold);
        cr_assert_eq(cf_cv_folds(N_RATINGS, FOLDS, o.seed, fold, &err), CF_OK);
        uint8_t *mask = calloc((size_t)ds->all.cap, 1);
        cf_dataset view = *ds;
        view.is_test = mask;
        double best = -1, pop[FOLDS];
        int bl = -1, bk = -1;
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < 2; k++) {
                double sc[FOLDS], sum = 0;
                for (int f = 0; f < FOLDS; f++) {
                    cf_train_report rep;
                    cf_model *m = train_fold(&view, fold, f, &base, l, k, &rep), *sub = NULL;
                    cf_rank_report rk;
                    cr_assert_eq(cf_model_subset_min_ratings(m, 0, o.rank_min_ratings, &sub, &err), CF_OK, "%s", err.msg);
                    cf_model_info mf, ms;
                    cf_model_info_get(m, &mf), cf_model_info_get(sub, &ms);
                    if (floored) cr_assert(ms.n_items > 5 && ms.n_items < mf.n_items, "%lld items of %lld",
                                           (long long)ms.n_items, (long long)mf.n_items);
                    cr_assert_eq(cf_model_rank_evaluate_split(sub, &view, 5, 3.5, 1, NULL, NULL, &rk, &err), CF_OK, "%s",
                                 err.msg);
                    cf_model_destroy(&sub);
                    cr_assert_gt(rk.users, 20);
                    sc[f] = rk.model.ndcg;
                    sum += sc[f];
                    cr_assert_eq(res.fold_score[(l * 2 + k) * FOLDS + f], sc[f], "cell (%d,%d) fold %d", l, k, f);
                    cr_assert_eq(res.fold_popular[f], rk.popular.ndcg, "popularity of fold %d, cell (%d,%d)", f, l, k);
                    pop[f] = rk.popular.ndcg;
                    cr_assert_eq(res.fold_rmse[(l * 2 + k) * FOLDS + f], rep.test_rmse);
                    cf_model_destroy(&m);
                }
                double mean = sum / FOLDS, v = 0;
                for (int f = 0; f < FOLDS; f++) v += (sc[f] - mean) * (sc[f] - mean);
                cr_assert_float_eq(res.mean_score[l * 2 + k], mean, 1e-15);
                cr_assert_float_eq(res.std_score[l * 2 + k], sqrt(v / (FOLDS - 1)), 1e-15);
                if (mean > best) best = mean, bl = l, bk = k;
            }
        cr_assert_eq(res.best_l, bl);
        cr_assert_eq(res.best_k, bk);
        double pm = 0, pv = 0;
        for (int f = 0; f < FOLDS; f++) pm += pop[f] / FOLDS;
        for (int f = 0; f < FOLDS; f++) pv += (pop[f] - pm) * (pop[f] - pm);
        cr_assert_float_eq(res.mean_popular, pm, 1e-15);
        cr_assert_float_eq(res.std_popular, sqrt(pv / (FOLDS - 1)), 1e-15);
        cr_assert_gt(res.std_popular, 0, "the folds' baselines differ");
        /* the best cell against popularity, paired by fold */
        double gm = 0, gv = 0;
        const double *bs = res.fold_score + (bl * 2 + bk) * FOLDS;
        for (int f = 0; f < FOLDS; f++) gm += (bs[f] - pop[f]) / FOLDS;
        for (int f = 0; f < FOLDS; f++) gv += (bs[f] - pop[f] - gm) * (bs[f] - pop[f] - gm);
        cr_assert_float_eq(res.mean_minus_popular, gm, 1e-15);
        cr_assert_float_eq(res.std_minus_popular, sqrt(gv / (FOLDS - 1)), 1e-15);
        cf_model_info mi;
        cf_model_info_get(res.model, &mi);
        cr_assert_eq(mi.factors, KS[bk], "the refit is the best cell by the score");
        cf_cv_result_free(&res);
        cr_assert_null(res.fold_score);
        free(mask), free(fold);
    }
    /* bad selection options */
    o.rank_min_ratings = -1;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "rank_min_ratings"), "%s", err.msg);
    o.rank_min_ratings = 0;
    o.rank_measure = (cf_rank_measure)7;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID);
    o.rank_measure = CF_RANK_MAP, o.rank_n = -1;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID);
    o.rank_n = 3, o.relevant_min = INFINITY; /* refused before any training, as the ranking refuses it */
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "relevant_min"), "%s", err.msg);
    cf_dataset_destroy(&ds);
}

Test(cv, refit_follows_the_best_cell_with_one_cell_grid) {
    cf_dataset *ds = make_data();
    cf_config base = base_cfg();
    cf_cv_options o = grid_opts();
    static const int32_t k3[1] = {3};
    static const double l1[1] = {0.2};
    o.factors = k3, o.n_factors = 1, o.lambdas = l1, o.n_lambdas = 1;
    cf_cv_result res;
    cf_error err;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(res.best_l, 0);
    cr_assert_eq(res.best_k, 0);
    cr_assert_eq(res.border, 0);
    cf_model_info mi;
    cf_model_info_get(res.model, &mi);
    cr_assert_eq(mi.factors, 3);
    cf_cv_result_free(&res);
    /* without refit there is no model */
    o.refit = 0;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    cr_assert_null(res.model);
    cf_cv_result_free(&res);
    cf_dataset_destroy(&ds);
}

/* select_iters: the validation RMSE after every iteration of a fold's training. */
typedef struct { double *rmse; int n; } curve_log;
static int log_curve(const cf_iter_info *info, void *user) {
    curve_log *c = user;
    cr_assert_eq(info->iter, c->n + 1);
    c->rmse[c->n++] = info->test_rmse;
    return 0;
}

/* select_iters: each cell's mean curve is that of the folds retrained here with a progress
 * callback, the cell is scored at its iteration of least mean, a fold trained for just that
 * many iterations scores what fold_rmse holds (an iteration's model does not depend on the
 * ones after it), and the refit runs that many. The fixture has cells that overfit (their
 * best iteration before the last) and cells that do not. */
Test(cv, select_iters_scores_each_cell_at_its_best_iteration, .timeout = 60) {
    enum { T = 12 };
    cf_dataset *ds = make_data();
    cf_config base = base_cfg();
    base.iters = T;
    cf_cv_options o = grid_opts();
    o.select_iters = 1;
    cf_cv_result res;
    cf_error err;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(res.iters, T);
    cr_assert(res.mean_curve && res.cell_iters);
    int32_t *fold = malloc(N_RATINGS * sizeof *fold);
    cr_assert_eq(cf_cv_folds(N_RATINGS, FOLDS, o.seed, fold, &err), CF_OK);
    uint8_t *mask = calloc((size_t)ds->all.cap, 1);
    cf_dataset view = *ds;
    view.is_test = mask;
    int early = 0, late = 0;
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 2; k++) {
            const int c = l * 2 + k;
            double curve[FOLDS][T], mean[T];
            for (int f = 0; f < FOLDS; f++) {
                for (int64_t j = 0; j < N_RATINGS; j++) mask[j] = fold[j] == f;
                cf_config cc = base;
                cc.factors = KS[k], cc.lambda = LS[l];
                curve_log lg = {curve[f], 0};
                cf_model *m = NULL;
                cf_train_report rep;
                cr_assert_eq(cf_train(&view, &cc, log_curve, &lg, &m, &rep, &err), CF_OK, "%s", err.msg);
                cr_assert_eq(lg.n, T);
                cf_model_destroy(&m);
            }
            int best = 0;
            for (int t = 0; t < T; t++) {
                double sum = 0;
                for (int f = 0; f < FOLDS; f++) sum += curve[f][t];
                mean[t] = sum / FOLDS;
                cr_assert_float_eq(res.mean_curve[c * T + t], mean[t], 1e-15, "cell %d iteration %d", c, t + 1);
                if (mean[t] < mean[best]) best = t;
            }
            cr_assert_eq(res.cell_iters[c], best + 1, "cell %d: best iteration %d, cv says %d", c, best + 1,
                         res.cell_iters[c]);
            early += best + 1 < T, late += best + 1 == T;
            for (int f = 0; f < FOLDS; f++) {
                cr_assert_eq(res.fold_rmse[c * FOLDS + f], curve[f][best]);
                /* trained for just that many iterations: the same validation RMSE */
                cf_config cb = base;
                cb.iters = best + 1;
                cf_train_report rep;
                cf_model *m = train_fold(&view, fold, f, &cb, l, k, &rep);
                cr_assert_eq(rep.test_rmse, curve[f][best], "cell %d fold %d", c, f);
                cf_model_destroy(&m);
            }
        }
    cr_assert(early > 0 && late > 0, "the fixture should have cells of both kinds: %d early, %d at the last", early,
              late);
    /* the best cell by the means at each cell's best iteration; its refit runs that many */
    int bl = 0, bk = 0;
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 2; k++)
            if (res.mean[l * 2 + k] < res.mean[bl * 2 + bk]) bl = l, bk = k;
    cr_assert(res.best_l == bl && res.best_k == bk);
    cr_assert_eq(res.refit_report.iters, res.cell_iters[bl * 2 + bk]);
    cf_config rc = base;
    rc.factors = KS[bk], rc.lambda = LS[bl], rc.iters = res.cell_iters[bl * 2 + bk];
    for (int64_t j = 0; j < N_RATINGS; j++) mask[j] = 0;
    cf_model *m = NULL;
    cf_train_report rep;
    cr_assert_eq(cf_train(&view, &rc, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.train_rmse, res.refit_report.train_rmse, "the refit is the best cell at its iterations");
    cf_model_destroy(&m);
    cf_cv_result_free(&res);
    cr_assert(!res.mean_curve && !res.cell_iters);

    /* what it cannot do: rank, or runs that end early or repeat */
    o.rank_n = 10;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "select_iters"), "%s", err.msg);
    o.rank_n = 0;
    cf_config bad = base;
    bad.tol = 1e-4;
    cr_assert_eq(cf_cv_run(ds, &bad, &o, &res, &err), CF_ERR_INVALID);
    bad = base, bad.early_stop = 2;
    cr_assert_eq(cf_cv_run(ds, &bad, &o, &res, &err), CF_ERR_INVALID);
    bad = base, bad.restarts = 2;
    cr_assert_eq(cf_cv_run(ds, &bad, &o, &res, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "restarts"), "%s", err.msg);
    /* without it: no curves */
    o.select_iters = 0;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    cr_assert(!res.mean_curve && !res.cell_iters && res.iters == 0);
    cf_cv_result_free(&res);
    free(mask), free(fold);
    cf_dataset_destroy(&ds);
}

Test(cv, run_refuses_unsorted_or_empty_grids_and_bad_configs) {
    cf_dataset *ds = make_data();
    cf_config base = base_cfg();
    cf_cv_options o = grid_opts();
    cf_cv_result res;
    cf_error err;
    static const int32_t down[2] = {4, 2};
    o.factors = down;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "factors"), "%s", err.msg);
    o = grid_opts();
    o.n_lambdas = 0;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID);
    o = grid_opts();
    o.folds = 1;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID);
    o = grid_opts();
    static const double neg[2] = {-1.0, 0.5};
    o.lambdas = neg;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_ERR_INVALID, "%s", err.msg);
    cr_assert_null(res.mean);
    cf_dataset_destroy(&ds);
}

/* The λ_b axis: every cell (b, l, k) and fold is scored as cf_train scores the fold with
 * that cell's K, λ and λ_b (retrained here; plain λ_b, so 0 and 30 differ plainly), cells
 * in the order c = (b·n_lambdas + l)·n_factors + k (cf_cv_cell_index); the best cell is
 * the argmin over all three axes, the refit carries its λ_b; without the axis the run
 * equals the first table of one with the config's λ_b as its only value. Bad axes, and an
 * axis with biases off, are refused before any training. */
Test(cv, bias_lambda_axis_scores_each_cell_as_cf_train, .timeout = 60) {
    cf_dataset *ds = make_data();
    cf_config base = base_cfg();
    base.bias_reg = CF_REG_PLAIN;
    static const double BS[2] = {0.0, 30.0};
    cf_cv_options o = grid_opts();
    o.bias_lambdas = BS, o.n_bias_lambdas = 2;
    cf_cv_result res;
    cf_error err;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(res.n_bias_lambdas, 2);
    int32_t *fold = malloc(N_RATINGS * sizeof *fold);
    cr_assert_eq(cf_cv_folds(N_RATINGS, FOLDS, o.seed, fold, &err), CF_OK);
    uint8_t *mask = calloc((size_t)ds->all.cap, 1);
    cf_dataset view = *ds;
    view.is_test = mask;
    int64_t best = 0;
    for (int b = 0; b < 2; b++)
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < 2; k++) {
                const int64_t c = cf_cv_cell_index(&res, b, l, k);
                cr_assert_eq(c, (b * 2 + l) * 2 + k);
                cf_config cb = base;
                cb.bias_lambda = BS[b];
                for (int f = 0; f < FOLDS; f++) {
                    cf_train_report rep;
                    cf_model *m = train_fold(&view, fold, f, &cb, l, k, &rep);
                    cr_assert_eq(res.fold_rmse[c * FOLDS + f], rep.test_rmse, "cell (%d,%d,%d) fold %d", b, l, k, f);
                    cf_model_destroy(&m);
                }
                if (res.mean[c] < res.mean[best]) best = c;
            }
    /* λ_b changes the scores: the axis is not ignored */
    cr_assert_neq(res.mean[cf_cv_cell_index(&res, 0, 0, 0)], res.mean[cf_cv_cell_index(&res, 1, 0, 0)]);
    cr_assert_eq(cf_cv_cell_index(&res, res.best_b, res.best_l, res.best_k), best);
    cr_assert_eq(res.border, 1); /* 2 values per axis: every cell is on the border */
    cf_model_info mi;
    cf_model_info_get(res.model, &mi);
    cr_assert_eq(mi.config.bias_lambda, BS[res.best_b]);
    cr_assert_eq(mi.config.bias_reg, CF_REG_PLAIN);
    cr_assert_eq(mi.config.lambda, LS[res.best_l]);
    cr_assert_eq(mi.factors, KS[res.best_k]);

    /* no axis, the config's λ_b 30: the second table of the run above */
    cf_cv_result one;
    cf_config b30 = base;
    b30.bias_lambda = 30.0;
    cf_cv_options o1 = grid_opts();
    o1.refit = 0;
    cr_assert_eq(cf_cv_run(ds, &b30, &o1, &one, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(one.n_bias_lambdas, 1);
    cr_assert_eq(one.best_b, 0);
    for (int c = 0; c < 4 * FOLDS; c++) cr_assert_eq(one.fold_rmse[c], res.fold_rmse[4 * FOLDS + c], "%d", c);
    cf_cv_result_free(&one);
    cf_cv_result_free(&res);

    /* refused: unsorted, repeated, negative, infinite, NaN, no array; biases off */
    static const double down[2] = {30.0, 0.0}, rep2[2] = {5.0, 5.0}, neg[1] = {-1.0}, inf[1] = {INFINITY},
                        nan1[1] = {NAN};
    const double *bad[] = {down, rep2, neg, inf, nan1};
    const int32_t nbad[] = {2, 2, 1, 1, 1};
    for (int j = 0; j < 5; j++) {
        cf_cv_options ob = grid_opts();
        ob.bias_lambdas = bad[j], ob.n_bias_lambdas = nbad[j];
        cr_assert_eq(cf_cv_check(&base, &ob, &err), CF_ERR_INVALID, "case %d", j);
        cr_assert(strstr(err.msg, "bias_lambda"), "case %d: %s", j, err.msg);
        cr_assert_eq(cf_cv_run(ds, &base, &ob, &res, &err), CF_ERR_INVALID, "case %d", j);
        cr_assert_null(res.mean);
    }
    cf_cv_options on = grid_opts();
    on.n_bias_lambdas = 1;
    cr_assert_eq(cf_cv_check(&base, &on, &err), CF_ERR_INVALID);
    on.bias_lambdas = BS;
    cf_config nb = base;
    nb.bias = 0, nb.bias_reg = CF_REG_SAME;
    cr_assert_eq(cf_cv_check(&nb, &on, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "needs biases"), "%s", err.msg);
    cr_assert_eq(cf_cv_check(&base, &on, &err), CF_OK, "%s", err.msg);
    /* biases off and an axis whose one value is λ's, with the factors' mode: every cell's
     * config is valid (λ_b = λ), but the axis would search nothing */
    on.lambdas = LS, on.n_lambdas = 1, on.bias_lambdas = LS, on.n_bias_lambdas = 1;
    nb.reg = CF_REG_WEIGHTED;
    cr_assert_eq(cf_cv_check(&nb, &on, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "needs biases"), "%s", err.msg);
    free(mask);
    free(fold);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ argmin and border on given numbers */

Test(cv, pick_best_and_border_on_given_numbers) {
    int32_t bl, bk;
    /* 3 λ × 3 K, least in the middle: not on the border */
    const double mid[9] = {0.9, 0.8, 0.95, 0.85, 0.70, 0.81, 0.99, 0.9, 0.92};
    cr_assert_eq(cf_cv_pick_best(mid, 1, 3, 3, NULL, &bl, &bk), 0);
    cr_assert_eq(bl, 1);
    cr_assert_eq(bk, 1);
    /* least at the first λ, middle K: border */
    const double top[9] = {0.9, 0.6, 0.95, 0.85, 0.70, 0.81, 0.99, 0.9, 0.92};
    cr_assert_eq(cf_cv_pick_best(top, 1, 3, 3, NULL, &bl, &bk), 1);
    cr_assert_eq(bl, 0);
    cr_assert_eq(bk, 1);
    /* least at the middle λ, last K: border */
    const double right[9] = {0.9, 0.8, 0.95, 0.85, 0.70, 0.61, 0.99, 0.9, 0.92};
    cr_assert_eq(cf_cv_pick_best(right, 1, 3, 3, NULL, &bl, &bk), 1);
    cr_assert_eq(bl, 1);
    cr_assert_eq(bk, 2);
    /* one λ (an axis of one value is never a border), K in the middle */
    const double row[3] = {0.8, 0.7, 0.75};
    cr_assert_eq(cf_cv_pick_best(row, 1, 1, 3, NULL, &bl, &bk), 0);
    cr_assert_eq(bl, 0);
    cr_assert_eq(bk, 1);
    /* one λ, K at the end */
    const double row2[3] = {0.8, 0.7, 0.65};
    cr_assert_eq(cf_cv_pick_best(row2, 1, 1, 3, NULL, &bl, &bk), 1);
    cr_assert_eq(bk, 2);
    /* one K, λ in the middle; then λ last */
    const double col[3] = {0.8, 0.7, 0.75}, col2[3] = {0.8, 0.7, 0.6};
    cr_assert_eq(cf_cv_pick_best(col, 1, 3, 1, NULL, &bl, &bk), 0);
    cr_assert_eq(bl, 1);
    cr_assert_eq(bk, 0);
    cr_assert_eq(cf_cv_pick_best(col2, 1, 3, 1, NULL, &bl, &bk), 1);
    cr_assert_eq(bl, 2);
    /* a single cell */
    const double one[1] = {0.5};
    cr_assert_eq(cf_cv_pick_best(one, 1, 1, 1, NULL, &bl, &bk), 0);
    /* ties: the first in row order */
    const double tie[4] = {0.9, 0.5, 0.5, 0.9};
    cf_cv_pick_best(tie, 1, 2, 2, NULL, &bl, &bk);
    cr_assert_eq(bl, 0);
    cr_assert_eq(bk, 1);
    /* a third axis, λ_b (outermost): 3 λ_b × 3 λ × 3 K, least at the centre of the cube:
     * not on the border; the same λ, K least at the first λ_b: border */
    double cube[27];
    for (int c = 0; c < 27; c++) cube[c] = 1.0 + 0.01 * c;
    int32_t bb;
    cube[13] = 0.5; /* (1, 1, 1) */
    cr_assert_eq(cf_cv_pick_best(cube, 3, 3, 3, &bb, &bl, &bk), 0);
    cr_assert(bb == 1 && bl == 1 && bk == 1, "(%d, %d, %d)", bb, bl, bk);
    cube[13] = 1.13, cube[4] = 0.5; /* (0, 1, 1) */
    cr_assert_eq(cf_cv_pick_best(cube, 3, 3, 3, &bb, &bl, &bk), 1);
    cr_assert(bb == 0 && bl == 1 && bk == 1, "(%d, %d, %d)", bb, bl, bk);
    cube[4] = 1.04, cube[22] = 0.5; /* (2, 1, 1) */
    cr_assert_eq(cf_cv_pick_best(cube, 3, 3, 3, &bb, &bl, &bk), 1);
    cr_assert_eq(bb, 2);
    /* two λ_b of one λ and one K: the second wins, on the border of the λ_b axis */
    const double pair[2] = {0.8, 0.7};
    cr_assert_eq(cf_cv_pick_best(pair, 2, 1, 1, &bb, &bl, &bk), 1);
    cr_assert(bb == 1 && bl == 0 && bk == 0);
}

/* ------------------------------------------------------------------ the CLI */

static int run_cli(const char *dir, const char *const *args, char **out, char **errs) {
    const char *argv[32];
    int n = 0;
    argv[n++] = CF_CLI_PATH;
    for (; *args; args++) argv[n++] = *args;
    argv[n] = NULL;
    int code = cf_test_spawn(dir, argv, out, errs);
    cr_assert_neq(code, -1, "could not run %s", CF_CLI_PATH);
    const char *report = cf_test_sanitizer_report(*errs);
    cr_assert_null(report, "cufactor %s: sanitizer report: %.400s", n > 1 ? argv[1] : "", report);
    return code;
}

static int count(const char *s, const char *part) {
    int n = 0;
    for (const char *p = strstr(s, part); p; p = strstr(p + 1, part)) n++;
    return n;
}

/* The fixture's ratings written to dir/d.tsv for the CLI; the path, malloc'ed. */
static char *write_data(const char *dir) {
    cf_dataset *ds = make_data();
    char *data = cf_test_path(dir, "d.tsv");
    cf_error err;
    cr_assert_eq(cf_dataset_write(ds, data, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    return data;
}

/* ---- the time left (eta.h), on given timings: what each training took is set here, so
 * every figure is exact arithmetic. */

/* cells × folds trainings of the given modelled costs, run with the given seconds each
 * (took, in run order: fold by fold); returns the time left after `n` of them. */
static double eta_shared(const double *cost, int64_t cells, int32_t folds, const double *share, const double *took,
                         int64_t n) {
    double mem[16];
    cr_assert_leq(cells, 16);
    cli_eta e;
    cli_eta_init(&e, cells, folds, cost, share, mem);
    double now = 0, left = NAN;
    for (int64_t j = 0; j < n; j++) {
        now += took[j];
        left = cli_eta_done(&e, (int32_t)(j / cells), j % cells, now);
    }
    return left;
}
static double eta_after(const double *cost, int64_t cells, int32_t folds, const double *took, int64_t n) {
    return eta_shared(cost, cells, folds, NULL, took, n);
}

Test(cv, eta_counts_cells_equal_until_two_costs_have_run) {
    const double cost[4] = {1, 4, 16, 64}, took[1] = {2};
    /* one cell measured: the other 3 of this fold and 2 folds of 4 at its 2 s */
    cr_assert_float_eq(eta_after(cost, 4, 3, took, 1), 3 * 2.0 + 2 * 4 * 2.0, 1e-12);
    const double same[4] = {5, 5, 5, 5}, took2[2] = {2, 4};
    /* two cells of one cost: equal cells at their mean, 3 s */
    cr_assert_float_eq(eta_after(same, 4, 3, took2, 2), 2 * 3.0 + 2 * (2 + 4 + 3 + 3.0), 1e-12);
}

Test(cv, eta_fits_a_fixed_part_and_seconds_per_unit_of_work) {
    /* t = 0.5 + 0.1·m: after two cells the fit is exact, and the unrun cells (m 16, 64)
     * are predicted at 2.1 and 6.9 s */
    const double cost[4] = {1, 4, 16, 64}, took[3] = {0.6, 0.9, 2.1};
    cr_assert_float_eq(eta_after(cost, 4, 2, took, 2), 2.1 + 6.9 + (0.6 + 0.9 + 2.1 + 6.9), 1e-9);
    cr_assert_float_eq(eta_after(cost, 4, 2, took, 3), 6.9 + (0.6 + 0.9 + 2.1 + 6.9), 1e-9);
    /* t = 0.2·m (no fixed part): a line through the origin */
    const double took0[2] = {0.2, 0.8};
    cr_assert_float_eq(eta_after(cost, 4, 1, took0, 2), 0.2 * 16 + 0.2 * 64, 1e-9);
    /* a fitted negative fixed part is refused: the line through the origin, b = Σmt/Σm² */
    const double took_neg[2] = {0.1, 1.0}; /* the line through both: a = -0.2, b = 0.3 */
    const double b0 = (1 * 0.1 + 4 * 1.0) / (1 + 16.0);
    cr_assert_float_eq(eta_after(cost, 4, 1, took_neg, 2), b0 * 16 + b0 * 64, 1e-9);
}

Test(cv, eta_takes_what_a_cell_took_once_it_has_run) {
    /* the model says the second cell costs 4×; it took a fifth of the first: from then on
     * each cell is predicted at what it took in the first fold */
    const double cost[2] = {1, 4}, took[3] = {5, 1, 7};
    cr_assert_float_eq(eta_after(cost, 2, 3, took, 2), 2 * (5 + 1.0), 1e-12);
    cr_assert_float_eq(eta_after(cost, 2, 3, took, 3), 1 + 1 * (5 + 1.0), 1e-12);
}

Test(cv, eta_scales_the_folds_by_their_share_of_the_ratings) {
    /* rolling origin, 3 folds on 1, 2, 3 blocks: after the first fold (2 s + 4 s) the second
     * is predicted at twice that, the third at three times */
    const double cost[2] = {1, 1}, share[3] = {1, 2, 3}, took[3] = {2, 4, 4.5};
    cr_assert_float_eq(eta_shared(cost, 2, 3, share, took, 2), (2 + 3) * 6.0, 1e-12);
    /* one training into the second fold: its other cell at 2 × 4 s, then the third fold */
    cr_assert_float_eq(eta_shared(cost, 2, 3, share, took, 3), 2 * 4.0 + 3 * 6.0, 1e-12);
}

Test(cv, eta_cost_model_grows_with_K_as_each_algorithm_works) {
    const double nnz = 1e6, rows = 2e4;
    /* ALS: 2·nnz·(K+1)² + rows·(K+1)³/3 */
    cr_assert_float_eq(cli_eta_cost(CF_ALGO_ALS, 9, nnz, rows), 2 * nnz * 100 + rows * 1000 / 3.0, 1e-6);
    /* the others: nnz·(K+1) */
    cr_assert_float_eq(cli_eta_cost(CF_ALGO_SGD, 9, nnz, rows), nnz * 10, 1e-6);
    cr_assert_float_eq(cli_eta_cost(CF_ALGO_CCD, 31, nnz, rows), nnz * 32, 1e-6);
}

Test(cv, cli_table_svg_and_usage_error, .timeout = 60) {
    char *dir = cf_test_tmpdir(), *data = write_data(dir);
    cf_error err;

    const char *ok[] = {"cv", data, "--grid", "factors=4,2", "--grid=lambda=0.05,0.5,0.2", "--folds", "3",
                        "--iters", "3", "--device", "cpu", "--threads", "1", "--svg", "h.svg", "--model", "m.cfm",
                        NULL};
    char *out, *errs;
    int rc = run_cli(dir, ok, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    cr_assert(strstr(out, "lambda\\K"), "%s", out);
    cr_assert(strstr(out, "best"), "%s", out);
    cr_assert_eq(count(out, " ± "), 1 + 6 + 1, "%s", out); /* the title, six cells, the best line */
    /* the rows come sorted by λ although the grid was given unsorted */
    const char *r1 = strstr(out, "\n0.05 "), *r2 = strstr(out, "\n0.2 "), *r3 = strstr(out, "\n0.5 ");
    cr_assert(r1 && r2 && r3 && r1 < r2 && r2 < r3, "rows not sorted by lambda: %s", out);
    cr_assert_eq(count(errs, "validation RMSE"), 6 * 3, "%s", errs);
    cr_assert(strstr(out, "\nphases      read "), "%s", out);
    char *svg_path = cf_test_path(dir, "h.svg");
    char *svg = cf_test_read(svg_path, NULL);
    cr_assert_not_null(svg, "no SVG written");
    cr_assert_eq(count(svg, "<rect"), 6, "%s", svg);
    cr_assert(strstr(svg, "</svg>"));
    char *model_path = cf_test_path(dir, "m.cfm");
    cf_model *m = NULL;
    cr_assert_eq(cf_model_load(model_path, &m, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&m);
    free(out), free(errs), free(svg), free(svg_path), free(model_path);

    /* --json: the phase seconds (read, folds, refit, save), each present and non-negative,
     * the folds and the save taking time, all within the run's own seconds plus the read */
    const char *js[] = {"cv", data, "--grid", "factors=2", "--grid", "lambda=0.1", "--folds", "2", "--iters", "2",
                        "--device", "cpu", "--threads", "1", "--model", "m2.cfm", "--json", "--quiet", NULL};
    rc = run_cli(dir, js, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    double total = -1, ph[4];
    const char *sec = strstr(out, "\"seconds\":"), *ps = strstr(out, "\"phase_seconds\":{");
    cr_assert(sec && sscanf(sec, "\"seconds\":%lf", &total) == 1 && ps, "%s", out);
    const char *names[4] = {"read", "folds", "refit", "save"};
    for (int k = 0; k < 4; k++) {
        char key[32];
        snprintf(key, sizeof key, "\"%s\":", names[k]);
        const char *at = strstr(ps, key);
        cr_assert(at && sscanf(at + strlen(key), "%lf", &ph[k]) == 1 && ph[k] >= 0, "%s in %s", names[k], out);
    }
    cr_assert_gt(ph[1], 0, "%s", out);
    cr_assert_gt(ph[3], 0, "%s", out);
    cr_assert_leq(ph[1] + ph[2], total * 1.0001 + 1e-6, "%s", out);
    free(out), free(errs);

    /* --select hit_rate@4: the ranking measure's table, the best line, JSON fields */
    const char *sel[] = {"cv", data, "--grid", "factors=2,4", "--grid", "lambda=0.1", "--folds", "2", "--iters", "2",
                         "--device", "cpu", "--threads", "1", "--select", "hit_rate@4", NULL};
    rc = run_cli(dir, sel, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    cr_assert(strstr(out, "mean ± std validation hit_rate@4, 2-fold CV"), "%s", out);
    cr_assert(strstr(out, ": hit_rate@4 ") && strstr(out, "(RMSE "), "%s", out);
    cr_assert(strstr(out, "\npopular     hit_rate@4 ") && strstr(out, "best − popular "), "%s", out);
    cr_assert_eq(count(errs, "hit_rate@4 "), 2 * 2, "%s", errs);
    free(out), free(errs);
    const char *selj[] = {"cv", data, "--grid", "factors=2", "--grid", "lambda=0.1", "--folds", "2", "--iters", "2",
                          "--device", "cpu", "--threads", "1", "--select", "precision@3", "--relevant-min", "4",
                          "--json", "--quiet", NULL};
    rc = run_cli(dir, selj, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    cr_assert(strstr(out, "\"select\":\"precision@3\"") && strstr(out, "\"relevant_min\":4") &&
                  strstr(out, "\"min_ratings\":0") && strstr(out, "\"fold_score\":[") && strstr(out, "\"mean_score\":"),
              "%s", out);
    /* the baseline beside the best cell: best − popular is the paired mean over the folds */
    const char *pj = strstr(out, "\"popular\":{"), *bj = strstr(out, "\"best\":{");
    cr_assert(pj && bj && strstr(pj, "\"fold_score\":["), "%s", out);
    double fs[2], fp[2];
    const char *cs = strstr(strstr(out, "\"cells\":"), "\"fold_score\":["); /* the one cell's */
    cr_assert(cs && cs < pj && sscanf(cs, "\"fold_score\":[%lf,%lf", &fs[0], &fs[1]) == 2, "%s", out);
    cr_assert_eq(sscanf(strstr(pj, "\"fold_score\":["), "\"fold_score\":[%lf,%lf", &fp[0], &fp[1]), 2, "%s", out);
    cr_assert_float_eq(cf_test_json_num(bj, "mean_minus_popular"), (fs[0] - fp[0] + fs[1] - fp[1]) / 2, 1e-12, "%s", out);
    free(out), free(errs);
    /* --min-ratings: said in the table's title and the JSON; only with a ranking --select */
    const char *floor_[] = {"cv", data, "--grid", "factors=2", "--grid", "lambda=0.1", "--folds", "2", "--iters", "2",
                            "--device", "cpu", "--threads", "1", "--select", "ndcg@5", "--min-ratings", "10", NULL};
    rc = run_cli(dir, floor_, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    cr_assert(strstr(out, "lists of the items fit to at least 10 ratings)"), "%s", out);
    free(out), free(errs);
    const char *nofloor[] = {"cv", data, "--grid", "factors=2", "--grid", "lambda=0.1", "--min-ratings", "10", NULL};
    rc = run_cli(dir, nofloor, &out, &errs);
    cr_assert_eq(rc, 2, "stderr: %s", errs);
    cr_assert(strstr(errs, "--min-ratings needs a ranking --select"), "%s", errs);
    free(out), free(errs);
    const char *bads[] = {"cv", data, "--grid", "factors=2", "--grid", "lambda=0.1", "--select", "ndcg@0", NULL};
    rc = run_cli(dir, bads, &out, &errs);
    cr_assert_eq(rc, 2, "stderr: %s", errs);
    cr_assert(strstr(errs, "--select"), "%s", errs);
    free(out), free(errs);

    const char *bad[] = {"cv", data, "--grid", "factors=2;4", "--grid", "lambda=0.1", NULL};
    rc = run_cli(dir, bad, &out, &errs);
    cr_assert_eq(rc, 2, "stderr: %s", errs);
    cr_assert(strstr(errs, "--grid"), "%s", errs);
    free(out), free(errs);
    const char *bad2[] = {"cv", data, "--grid", "depth=2", "--grid", "lambda=0.1", NULL};
    rc = run_cli(dir, bad2, &out, &errs);
    cr_assert_eq(rc, 2, "stderr: %s", errs);
    free(out), free(errs);

    free(data);
    cf_test_rmtree(dir);
    free(dir);
}

/* --bias-lambda B1,B2 (= --grid bias-lambda=...): one table per λ_b, its cells those of
 * cf_cv_run with the axis; the best line and the refit name the λ_b; the SVG has a panel
 * per λ_b (one rect per cell); --json has the axis, each cell's and the best's λ_b and the
 * biases' weighting; the saved model carries the best λ_b. Usage errors: a bad value, the
 * axis twice, with --no-bias; "same" alone is no axis. */
Test(cv, cli_bias_lambda_axis, .timeout = 60) {
    char *dir = cf_test_tmpdir(), *data = write_data(dir);
    cf_error err;
    cf_dataset *ds;
    cf_read_options ro;
    cf_read_options_default(&ro);
    cr_assert_eq(cf_dataset_read(data, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cf_config base = base_cfg();
    base.iters = 2, base.seed = 42, base.bias_reg = CF_REG_PLAIN;
    static const double BS[2] = {0.0, 30.0};
    cf_cv_options o = grid_opts();
    o.n_factors = 1, o.folds = 2, o.seed = 42, o.bias_lambdas = BS, o.n_bias_lambdas = 2;
    cf_cv_result res;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);

    const char *tx[] = {"cv", data, "--factors", "2", "--lambda", "0.5,0.05", "--bias-lambda", "30,0", "--bias-reg",
                        "plain", "--folds", "2", "--iters", "2", "--device", "cpu", "--threads", "1", "--svg", "h.svg",
                        "--model", "m.cfm", NULL};
    char *out, *errs;
    int rc = run_cli(dir, tx, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    const char *t0 = strstr(out, "\nbias-lambda 0\n"), *t1 = strstr(out, "\nbias-lambda 30\n");
    cr_assert(t0 && t1 && t0 < t1, "a table per λ_b, sorted: %s", out);
    cr_assert_eq(count(out, "lambda\\K"), 2, "%s", out);
    cr_assert_eq(count(out, " ± "), 1 + 4 + 1, "%s", out); /* the title, four cells, the best line */
    for (int b = 0; b < 2; b++) /* each table's cells are the library's, in the same order */
        for (int l = 0; l < 2; l++) {
            char want[64];
            const int64_t c = cf_cv_cell_index(&res, b, l, 0);
            snprintf(want, sizeof want, "%c%.6f ± %.6f", c == cf_cv_cell_index(&res, res.best_b, res.best_l, 0) ? '*' : ' ',
                     res.mean[c], res.std[c]);
            const char *at = strstr(b ? t1 : t0, want);
            cr_assert(at && (b || at < t1), "cell (%d, %d) %s: %s", b, l, want, out);
        }
    char want[96];
    snprintf(want, sizeof want, "best        K=2 lambda=%g bias-lambda=%g: RMSE ", LS[res.best_l], BS[res.best_b]);
    cr_assert(strstr(out, want), "%s in %s", want, out);
    snprintf(want, sizeof want, "refit       K=2 lambda=%g bias-lambda=%g, ", LS[res.best_l], BS[res.best_b]);
    cr_assert(strstr(out, want), "%s in %s", want, out);
    cr_assert(strstr(errs, "2×2×1 cells") && strstr(errs, "own λ_b (plain)"), "%s", errs);
    cr_assert_eq(count(errs, " bias-lambda=30 fold "), 2 * 2, "%s", errs);
    /* the trainings counted, fold by fold, with the time left at the pace so far */
    cr_assert(strstr(errs, "cv: [1/8, ~") && strstr(errs, "cv: [8/8, ~0 s left] K=2 "), "%s", errs);
    char *svg_path = cf_test_path(dir, "h.svg"), *svg = cf_test_read(svg_path, NULL);
    cr_assert_not_null(svg);
    cr_assert_eq(count(svg, "<rect"), 4, "%s", svg);
    cr_assert(strstr(svg, ">λ_b = 0<") && strstr(svg, ">λ_b = 30<"), "%s", svg);
    char *model_path = cf_test_path(dir, "m.cfm");
    cf_model *m = NULL;
    cr_assert_eq(cf_model_load(model_path, &m, &err), CF_OK, "%s", err.msg);
    cf_model_info mi;
    cf_model_info_get(m, &mi);
    cr_assert_eq(mi.config.bias_lambda, BS[res.best_b]);
    cf_model_destroy(&m);
    free(out), free(errs), free(svg), free(svg_path), free(model_path);

    const char *js[] = {"cv", data, "--factors", "2", "--lambda", "0.5,0.05", "--grid", "bias-lambda=30,0",
                        "--bias-reg", "plain", "--folds", "2", "--iters", "2", "--device", "cpu", "--threads", "1",
                        "--json", "--quiet", NULL};
    rc = run_cli(dir, js, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    cr_assert(strstr(out, "\"bias_lambda\":[0,30]") && strstr(out, "\"bias_reg\":\"plain\""), "%s", out);
    cr_assert_eq(count(out, "\"bias_lambda\":"), 1 + 4 + 1, "%s", out); /* the axis, four cells, the best */
    const char *bj = strstr(out, "\"best\":{");
    cr_assert(bj && cf_test_json_num(bj, "bias_lambda") == BS[res.best_b], "%s", out);
    cr_assert_float_eq(cf_test_json_num(bj, "mean_rmse"), res.mean[cf_cv_cell_index(&res, res.best_b, res.best_l, 0)],
                       1e-6, "%s", out);
    free(out), free(errs);
    cf_cv_result_free(&res);
    cf_dataset_destroy(&ds);

    /* "same" alone: no axis, the output of a run without it */
    const char *same[] = {"cv", data, "--factors", "2", "--lambda", "0.1", "--bias-lambda", "same", "--folds", "2",
                          "--iters", "2", "--device", "cpu", "--threads", "1", "--quiet", NULL};
    rc = run_cli(dir, same, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    cr_assert(!strstr(out, "bias-lambda"), "%s", out);
    free(out), free(errs);

    const char *bad[][4] = {{"--bias-lambda", "-1", NULL, NULL},
                            {"--bias-lambda", "0,same", NULL, NULL},
                            {"--bias-lambda", "1,1", NULL, NULL},
                            {"--bias-lambda", "1", "--grid", "bias-lambda=2"},
                            {"--bias-lambda", "1", "--no-bias", NULL}};
    const char *why[] = {"bias-lambda ≥ 0", "'same'", "a value is repeated", "given twice", "needs biases"};
    for (int b = 0; b < 5; b++) { /* the extra arguments end at the first NULL */
        const char *a[] = {"cv", data, "--factors", "2", "--lambda", "0.1", bad[b][0], bad[b][1], bad[b][2], bad[b][3],
                           NULL};
        rc = run_cli(dir, a, &out, &errs);
        cr_assert_eq(rc, 2, "case %d: exit %d, %s", b, rc, errs);
        cr_assert(strstr(errs, why[b]), "case %d: %s", b, errs);
        free(out), free(errs);
    }
    free(data);
    cf_test_rmtree(dir);
    free(dir);
}

/* cv --fold-split user: the per-user folds' table title and count line, the JSON's
 * fold_split and unvalidated (the library's count of one-rating users' ratings), the
 * same validation RMSEs as cf_cv_run with by_user; a bad value is a usage error. */
/* --select-iters through the CLI: each cell's iterations are the argmin of its mean curve
 * in the JSON, the best cell's refit runs that many; the text says so; and what it cannot
 * be combined with is a usage error. */
Test(cv, cli_select_iters, .timeout = 60) {
    char *dir = cf_test_tmpdir(), *data = write_data(dir);
    const char *js[] = {"cv", data, "--factors", "2,4", "--lambda", "0.05,0.5", "--folds", "3", "--iters", "12",
                        "--seed", "5", "--device", "cpu", "--threads", "1", "--select-iters", "--json", "--quiet", NULL};
    char *out, *errs;
    int rc = run_cli(dir, js, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    cr_assert(strstr(out, "\"select_iters\":true"), "%s", out);
    int cells = 0, early = 0;
    for (const char *c = strstr(out, "\"cells\":"); (c = strstr(c, "\"mean_curve\":[")); c++, cells++) {
        const char *it = c;
        while (it > out && strncmp(it, "\"iters\":", 8) != 0) it--; /* the cell's "iters", just before */
        int iters = (int)cf_test_json_num(it, "iters"), best = 0;
        double v[12];
        const char *p = c + strlen("\"mean_curve\":[");
        for (int t = 0; t < 12; t++) {
            char *end;
            v[t] = strtod(p, &end);
            cr_assert(end != p && (*end == ',' || (*end == ']' && t == 11)), "mean_curve %d: %s", t, c);
            p = end + 1;
            if (v[t] < v[best]) best = t;
        }
        cr_assert_eq(iters, best + 1, "cell %d: iters %d, the curve's least at %d", cells, iters, best + 1);
        early += iters < 12;
    }
    cr_assert_eq(cells, 4, "%s", out);
    cr_assert_gt(early, 0, "the fixture (seed 5) should have a cell best before its last iteration: %s", out);
    const char *bj = strstr(out, "\"best\":{");
    cr_assert(bj, "%s", out);
    int bi = (int)cf_test_json_num(bj, "iters");
    cr_assert_eq(cf_test_json_num(out, "refit_iters"), (double)bi, "%s", out);
    free(out), free(errs);
    /* the text: the iterations table and the best line */
    const char *tx[] = {"cv", data, "--factors", "2,4", "--lambda", "0.05,0.5", "--folds", "3", "--iters", "12",
                        "--seed", "5", "--device", "cpu", "--threads", "1", "--select-iters", "--quiet", NULL};
    rc = run_cli(dir, tx, &out, &errs);
    cr_assert_eq(rc, 0, "stderr: %s", errs);
    char want[64];
    snprintf(want, sizeof want, ", %d iterations: RMSE ", bi);
    cr_assert(strstr(out, "each cell at its best of 12 iterations") && strstr(out, "\niterations") &&
                  strstr(out, want),
              "%s", out);
    snprintf(want, sizeof want, ", %d iterations, on all ", bi);
    cr_assert(strstr(out, want), "%s", out);
    free(out), free(errs);
    /* the per-fold progress lines: a fold's RMSE there is its last iteration's, and says so */
    for (int sel = 0; sel < 2; sel++) {
        const char *pg[] = {"cv", data, "--factors", "2", "--lambda", "0.1", "--folds", "2", "--iters", "3", "--device",
                            "cpu", "--threads", "1", sel ? "--select-iters" : NULL, NULL};
        rc = run_cli(dir, pg, &out, &errs);
        cr_assert_eq(rc, 0, "stderr: %s", errs);
        cr_assert(strstr(errs, "fold 2/2  validation RMSE "), "%s", errs);
        cr_assert_eq(strstr(errs, " (last iteration)\n") != NULL, sel, "%s", errs);
        free(out), free(errs);
    }
    /* not with a ranking selection or --tol (cv has no --early-stop or --restarts) */
    const char *bad[][3] = {{"--select", "ndcg@5", "--select ndcg@5"}, {"--tol", "0.001", "--tol"}};
    for (int b = 0; b < 2; b++) {
        const char *a[] = {"cv", data, "--factors", "2", "--lambda", "0.1", "--select-iters", bad[b][0], bad[b][1],
                           NULL};
        rc = run_cli(dir, a, &out, &errs);
        cr_assert_eq(rc, 2, "%s: exit %d, %s", bad[b][0], rc, errs);
        cr_assert(strstr(errs, "--select-iters") && strstr(errs, bad[b][2]), "%s", errs);
        free(out), free(errs);
    }
    free(data);
    cf_test_rmtree(dir);
    free(dir);
}

Test(cv, cli_fold_split_user, .timeout = 60) {
    char *dir = cf_test_tmpdir();
    cf_dataset *ds = cf_test_generate(1500, 120, N_RATINGS, 3, 0.3, 11, 1);
    char *data = cf_test_path(dir, "d.tsv");
    cf_error err;
    cr_assert_eq(cf_dataset_write(ds, data, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    /* the file read back (its own ID order) is what the CLI folds */
    cf_read_options ro;
    cf_read_options_default(&ro);
    cr_assert_eq(cf_dataset_read(data, &ro, &ds, NULL, &err), CF_OK, "%s", err.msg);
    cf_config base = base_cfg();
    base.iters = 2;
    cf_cv_options o = grid_opts();
    o.n_factors = 1, o.n_lambdas = 1, o.folds = 2, o.seed = 5, o.by_user = 1, o.refit = 0; /* --seed 5: both */
    cf_cv_result res;
    cr_assert_eq(cf_cv_run(ds, &base, &o, &res, &err), CF_OK, "%s", err.msg);

    const char *tab[] = {"cv", data, "--factors", "2", "--lambda", "0.05", "--folds", "2", "--iters", "2",
                         "--seed", "5", "--device", "cpu", "--threads", "1", "--fold-split", "user", NULL};
    char *out, *errs;
    cr_assert_eq(run_cli(dir, tab, &out, &errs), 0, "stderr: %s", errs);
    cr_assert(strstr(out, "2-fold per-user CV"), "%s", out);
    char line[160];
    snprintf(line, sizeof line, "folds       per user: %lld ratings of users with one rating never validated",
             (long long)res.unvalidated);
    cr_assert(strstr(out, line), "want '%s' in:\n%s", line, out);
    cr_assert(strstr(errs, "2 per-user folds (seed 5)"), "%s", errs);
    free(out), free(errs);
    const char *js[] = {"cv", data, "--factors", "2", "--lambda", "0.05", "--folds", "2", "--iters", "2",
                        "--seed", "5", "--device", "cpu", "--threads", "1", "--fold-split", "user", "--json",
                        "--quiet", NULL};
    cr_assert_eq(run_cli(dir, js, &out, &errs), 0, "stderr: %s", errs);
    cr_assert(strstr(out, "\"fold_split\":\"user\""), "%s", out);
    snprintf(line, sizeof line, "\"unvalidated\":%lld,", (long long)res.unvalidated);
    cr_assert(strstr(out, line), "want %s in %s", line, out);
    const char *fr = strstr(out, "\"fold_rmse\":[");
    double f0, f1;
    cr_assert(fr && sscanf(fr, "\"fold_rmse\":[%lf,%lf]", &f0, &f1) == 2, "%s", out);
    cr_assert_float_eq(f0, res.fold_rmse[0], 1e-12 * f0, "%.17g vs %.17g", f0, res.fold_rmse[0]);
    cr_assert_float_eq(f1, res.fold_rmse[1], 1e-12 * f1, "%.17g vs %.17g", f1, res.fold_rmse[1]);
    free(out), free(errs);
    const char *bad[] = {"cv", data, "--factors", "2", "--lambda", "0.05", "--fold-split", "items", NULL};
    cr_assert_eq(run_cli(dir, bad, &out, &errs), 2, "stderr: %s", errs);
    cr_assert(strstr(errs, "--fold-split"), "%s", errs);
    free(out), free(errs);
    cf_cv_result_free(&res);
    cf_dataset_destroy(&ds);
    free(data);
    cf_test_rmtree(dir);
    free(dir);
}
