/*
 * cv.c — k-fold cross-validation over a grid of K × λ, with a third axis of the biases'
 * λ_b when given (cf_cv_run).
 *
 * Folds: the n ratings of the dataset (both parts) are permuted with a seeded
 * Fisher–Yates shuffle and dealt round-robin, rating perm[j] to fold j mod F, so every
 * rating is in exactly one fold and fold sizes differ by at most one.
 * Per-user folds (by_user): each user's n_u ratings are permuted with the user's own
 * seeded stream and dealt round-robin from a seeded first fold o_u, the j-th to fold
 * (o_u + j) mod F: the user has ⌊n_u/F⌋ or ⌈n_u/F⌉ ratings in each fold, so with
 * n_u ≥ 2 never all of them in one, and every validated user keeps a training rating
 * (the per-user split's guarantee, cf_dataset_split_per_user). A user with one rating is
 * never validated (fold −1: in every fold's training part). The random first fold
 * spreads the remainders ⌈n_u/F⌉ − ⌊n_u/F⌋ over the folds, so fold sizes are even in
 * expectation.
 *
 * Rolling-origin folds in time (by_time; "forward chaining", scikit-learn's
 * TimeSeriesSplit): the ratings in (time, index) order are cut into F + 1 blocks of sizes
 * within one, the j-th of n in block ⌊j·(F+1)/n⌋, fold[k] = block − 1; fold f is
 * validated on a model trained on the earlier folds (and the first block, fold −1) only,
 * the later ones left out, so no model sees a
 * rating later than one it is scored on — what a deployed recommender faces, and what a
 * random fold hides when tastes drift. The training part grows from 1/(F+1) of the data
 * to F/(F+1); the folds are not exchangeable, and their spread mixes that growth with the
 * drift. The blocks: F nested quickselects (cf_select_by_time) from the last cut down,
 * each on the part below the cut before it: expected O(n·(F+1)/2) comparisons, serial.
 * Per user (by_user too): user u's m ratings in (time, index) order, the j-th in block
 * ⌊j·(F+1)/m⌋, so each user's first rating trains every fold.
 *
 * For each cell (λ_b, λ_l, K_k) and fold f (the λ_b axis has the base's one value unless
 * bias_lambdas is given; cells are numbered c = (b·n_lambdas + l)·n_factors + k),
 * cf_train runs on a view of the dataset that shares its ratings and ID maps but has its
 * own part flags (fold f = test part, the other folds = training part; time folds: a
 * compacted copy of the ratings of folds ≤ f in index order, 12 bytes a rating); the
 * validation RMSE of the cell and fold is the trainer's test RMSE (validation pairs whose
 * user or item has no training rating in that fold are predicted with μ and the known
 * bias, as in cf_train). The cell's score is the mean over the folds, with the sample
 * standard deviation
 *     s = sqrt( Σ_f (rmse_f − mean)² / (F − 1) ).
 * The best cell is the argmin of the mean; it is "on the border" when its K, λ or λ_b is
 * the first or last value of an axis that has more than one value. The best cell is then
 * refit on all the ratings (no test part).
 * With select_iters the iteration count t is a third axis, read off each training's
 * progress (the test RMSE after every iteration; the model after t iterations is the
 * same whatever the count to come): the cell's score is min_t of the mean over the folds
 * of rmse_f(t), its folds' values and std those at that t, and the refit runs t.
 *
 * With rank_n > 0 each fold's model also ranks the fold (cf_model_rank_evaluate_split on
 * the view: the fold's users' top rank_n without their training items, against their
 * ratings in the fold; with rank_min_ratings from the items the fold's model was fit to
 * that many ratings, cf_model_subset_min_ratings), its rank_measure is the cell and fold's
 * score, averaged likewise, and the best cell is the argmax of the mean score (argmin of
 * its negation). With select_last (time folds only) the last fold's value decides instead of
 * the mean: that fold's model is trained on the most data, the nearest to the refit, while
 * the mean also weighs the early folds, trained on little (which tend to favour more
 * regularization). The popularity baseline of each fold's ranking (cf_rank_report.popular:
 * it depends on the fold's training ratings and candidates only, so every cell's is the
 * same) is kept beside, with its mean and std, so a caller can say whether the best cell
 * ranks better than a best-seller list.
 */
#include "common.h"
#include "dataset.h"
#include "model.h"

#include <math.h>
#include <string.h>

void cf_cv_options_default(cf_cv_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->folds = 5;
    opt->seed = 42;
    opt->refit = 1;
    opt->relevant_min = NAN;
}

/* mean and sample std of each cell's F values */
static void cell_stats(const double *fold_v, int64_t cells, int32_t F, double *mean, double *std) {
    for (int64_t c = 0; c < cells; c++) {
        const double *r = fold_v + c * F;
        double s = 0;
        for (int32_t f = 0; f < F; f++) s += r[f];
        double m = s / F, v = 0;
        for (int32_t f = 0; f < F; f++) v += (r[f] - m) * (r[f] - m);
        mean[c] = m;
        std[c] = sqrt(v / (F - 1));
    }
}

cf_status cf_cv_folds(int64_t n, int32_t folds, uint64_t seed, int32_t *fold, cf_error *err) {
    if (folds < 2) return cf_fail(err, CF_ERR_INVALID, "folds %d: must be at least 2", (int)folds);
    if (n < folds)
        return cf_fail(err, CF_ERR_INVALID, "%lld ratings cannot fill %d folds", (long long)n, (int)folds);
    int64_t *perm = cf_malloc((size_t)n * sizeof *perm, err, "cv folds");
    if (!perm) return CF_ERR_NOMEM;
    for (int64_t j = 0; j < n; j++) perm[j] = j;
    cf_rng rng;
    cf_rng_seed(&rng, seed ^ 0xcf0f01d5ULL);
    for (int64_t j = n - 1; j > 0; j--) {
        int64_t s = (int64_t)cf_rng_below(&rng, (uint64_t)(j + 1));
        int64_t t = perm[j];
        perm[j] = perm[s];
        perm[s] = t;
    }
    for (int64_t j = 0; j < n; j++) fold[perm[j]] = (int32_t)(j % folds);
    free(perm);
    return CF_OK;
}

typedef struct user_folds {
    int32_t folds;
    uint64_t seed;
    int32_t *fold;
} user_folds;

static void deal_user(int64_t u, uint32_t *x, int64_t m, void *ctx) {
    const user_folds *d = ctx;
    if (m == 1) d->fold[x[0]] = -1; /* never validated: the user would be unknown */
    if (m < 2) return;
    cf_rng rng;
    cf_rng_seed_stream(&rng, d->seed, (uint64_t)u ^ 0xcf0f01d5b7a1ULL);
    const int64_t first = (int64_t)cf_rng_below(&rng, (uint64_t)d->folds);
    for (int64_t j = 0; j < m; j++) {
        const int64_t s = j + (int64_t)cf_rng_below(&rng, (uint64_t)(m - j));
        const uint32_t t = x[j];
        x[j] = x[s], x[s] = t;
        d->fold[x[j]] = (int32_t)((first + j) % d->folds);
    }
}

/* Every fold must validate something (per-user folds can leave one empty). */
static cf_status check_filled(const cf_dataset *ds, int32_t folds, const int32_t *fold, const char *what,
                              cf_error *err) {
    const int64_t n = ds->all.n, nu = cf_idmap_size(ds->users);
    int64_t *size = cf_calloc((size_t)folds, sizeof *size, err, "cv folds");
    if (!size) return CF_ERR_NOMEM;
    for (int64_t k = 0; k < n; k++)
        if (fold[k] >= 0) size[fold[k]]++;
    int32_t empty = -1;
    for (int32_t f = 0; f < folds && empty < 0; f++)
        if (size[f] == 0) empty = f;
    free(size);
    if (empty >= 0)
        return cf_fail(err, CF_ERR_INVALID,
                       "%s: fold %d of %d is empty (%lld ratings of %lld users; a user needs two ratings to be "
                       "validated)",
                       what, (int)empty + 1, (int)folds, (long long)n, (long long)nu);
    return CF_OK;
}

cf_status cf_cv_folds_per_user(const cf_dataset *ds, int32_t folds, uint64_t seed, int threads, int32_t *fold,
                               cf_error *err) {
    if (folds < 2) return cf_fail(err, CF_ERR_INVALID, "folds %d: must be at least 2", (int)folds);
    user_folds d = {folds, seed, fold};
    cf_status st = cf_dataset_each_user(ds, 0, threads, "per-user folds", deal_user, &d, err);
    return st ? st : check_filled(ds, folds, fold, "per-user folds", err);
}

typedef struct time_folds {
    int32_t folds;
    const int64_t *t;
    int32_t *fold;
} time_folds;

static void deal_user_in_time(int64_t u, uint32_t *x, int64_t m, void *ctx) {
    (void)u;
    const time_folds *d = ctx;
    cf_sort_by_time(x, m, d->t);
    for (int64_t j = 0; j < m; j++) d->fold[x[j]] = (int32_t)(j * (d->folds + 1) / m) - 1;
}

cf_status cf_cv_folds_time(const cf_dataset *ds, int32_t folds, int by_user, int threads, int32_t *fold,
                           cf_error *err) {
    const char *what = by_user ? "per-user time folds" : "time folds";
    if (folds < 2) return cf_fail(err, CF_ERR_INVALID, "folds %d: must be at least 2", (int)folds);
    cf_status st = cf_dataset_need_times(ds, what, err);
    if (st) return st;
    const int64_t n = ds->all.n, B = (int64_t)folds + 1;
    if (n < B)
        return cf_fail(err, CF_ERR_INVALID, "%s: %lld ratings cannot fill the %lld blocks of %d folds", what,
                       (long long)n, (long long)B, (int)folds);
    if (by_user) {
        time_folds d = {folds, ds->all.t, fold};
        st = cf_dataset_each_user(ds, 0, threads, what, deal_user_in_time, &d, err);
        return st ? st : check_filled(ds, folds, fold, what, err);
    }
    if (n > (int64_t)UINT32_MAX)
        return cf_fail(err, CF_ERR_INVALID, "%s: %lld ratings; at most %u", what, (long long)n, UINT32_MAX);
    uint32_t *x = cf_malloc((size_t)n * sizeof *x, err, what);
    if (!x) return CF_ERR_NOMEM;
    for (int64_t k = 0; k < n; k++) x[k] = (uint32_t)k;
    /* block c is the ranks j with ⌊j·B/n⌋ = c, from ⌈c·n/B⌉ on: from the last cut down, each
     * select on what lies below the cut before it */
    for (int64_t c = B - 1, end = n; c >= 1; c--) {
        const int64_t cut = (c * n + B - 1) / B;
        cf_select_by_time(x, end, cut, ds->all.t);
        end = cut;
    }
    for (int64_t j = 0; j < n; j++) fold[x[j]] = (int32_t)(j * B / n) - 1;
    free(x);
    return CF_OK;
}

int cf_cv_pick_best(const double *mean, int32_t n_bias_lambdas, int32_t n_lambdas, int32_t n_factors,
                    int32_t *best_b, int32_t *best_l, int32_t *best_k) {
    int32_t bb = 0, bl = 0, bk = 0;
    double best = INFINITY;
    for (int32_t b = 0; b < n_bias_lambdas; b++)
        for (int32_t l = 0; l < n_lambdas; l++)
            for (int32_t k = 0; k < n_factors; k++) {
                double v = mean[((int64_t)b * n_lambdas + l) * n_factors + k];
                if (v < best) best = v, bb = b, bl = l, bk = k;
            }
    if (best_b) *best_b = bb;
    *best_l = bl, *best_k = bk;
    int on_k = n_factors > 1 && (bk == 0 || bk == n_factors - 1);
    int on_l = n_lambdas > 1 && (bl == 0 || bl == n_lambdas - 1);
    int on_b = n_bias_lambdas > 1 && (bb == 0 || bb == n_bias_lambdas - 1);
    return on_k || on_l || on_b;
}

void cf_cv_result_free(cf_cv_result *res) {
    if (!res) return;
    free(res->fold_rmse);
    free(res->mean);
    free(res->std);
    free(res->fold_score);
    free(res->mean_score);
    free(res->std_score);
    free(res->fold_from);
    free(res->fold_popular);
    free(res->mean_curve);
    free(res->cell_iters);
    cf_model_destroy(&res->model);
    memset(res, 0, sizeof *res);
}

static cf_status check_options(const cf_cv_options *opt, cf_error *err) {
    if (!opt->factors || opt->n_factors < 1)
        return cf_fail(err, CF_ERR_INVALID, "cv grid: no factors (K) values");
    if (!opt->lambdas || opt->n_lambdas < 1)
        return cf_fail(err, CF_ERR_INVALID, "cv grid: no lambda values");
    for (int32_t k = 1; k < opt->n_factors; k++)
        if (!(opt->factors[k] > opt->factors[k - 1]))
            return cf_fail(err, CF_ERR_INVALID, "cv grid: factors must be strictly increasing (%d after %d)",
                           (int)opt->factors[k], (int)opt->factors[k - 1]);
    for (int32_t l = 1; l < opt->n_lambdas; l++)
        if (!(opt->lambdas[l] > opt->lambdas[l - 1]))
            return cf_fail(err, CF_ERR_INVALID, "cv grid: lambda must be strictly increasing (%g after %g)",
                           opt->lambdas[l], opt->lambdas[l - 1]);
    if (opt->n_bias_lambdas < 0 || (opt->n_bias_lambdas > 0 && !opt->bias_lambdas))
        return cf_fail(err, CF_ERR_INVALID, "cv grid: %d bias_lambda values and no array", (int)opt->n_bias_lambdas);
    for (int32_t b = 0; b < opt->n_bias_lambdas; b++) {
        if (!(opt->bias_lambdas[b] >= 0) || isinf(opt->bias_lambdas[b]))
            return cf_fail(err, CF_ERR_INVALID, "cv grid: bias_lambda %g: must be finite and >= 0",
                           opt->bias_lambdas[b]);
        if (b > 0 && !(opt->bias_lambdas[b] > opt->bias_lambdas[b - 1]))
            return cf_fail(err, CF_ERR_INVALID, "cv grid: bias_lambda must be strictly increasing (%g after %g)",
                           opt->bias_lambdas[b], opt->bias_lambdas[b - 1]);
    }
    if (opt->folds < 2) return cf_fail(err, CF_ERR_INVALID, "cv folds %d: must be at least 2", (int)opt->folds);
    if (opt->rank_n < 0) return cf_fail(err, CF_ERR_INVALID, "cv rank_n %d: must be >= 0", (int)opt->rank_n);
    if (opt->rank_min_ratings < 0 || (opt->rank_min_ratings > 0 && opt->rank_n == 0))
        return cf_fail(err, CF_ERR_INVALID, "cv rank_min_ratings %lld: must be >= 0, and 0 without rank_n",
                       (long long)opt->rank_min_ratings);
    if (opt->select_last && !opt->by_time)
        return cf_fail(err, CF_ERR_INVALID, "cv select_last: only with by_time (folds in time, the last one the "
                                            "latest); other folds are exchangeable");
    if (opt->select_iters && opt->rank_n > 0)
        return cf_fail(err, CF_ERR_INVALID, "cv select_iters: by RMSE only (a ranking measure after every "
                                            "iteration would rank every fold's users at each one)");
    if (opt->rank_n > 0 && !((int)opt->rank_measure >= CF_RANK_PRECISION && opt->rank_measure <= CF_RANK_HIT_RATE))
        return cf_fail(err, CF_ERR_INVALID, "cv rank_measure %d: not a cf_rank_measure", (int)opt->rank_measure);
    return opt->rank_n > 0 ? cf_rank_check(opt->rank_n, opt->relevant_min, 0, err) : CF_OK;
}

int64_t cf_cv_cell_index(const cf_cv_result *res, int32_t b, int32_t l, int32_t k) {
    return ((int64_t)b * res->n_lambdas + l) * res->n_factors + k;
}

static int64_t best_cell(const cf_cv_result *res) {
    return cf_cv_cell_index(res, res->best_b, res->best_l, res->best_k);
}

/* The configuration of cell (b, l, k): base with the cell's K, λ and, when the axis is
 * given, λ_b. */
static cf_config cell_config(const cf_config *base, const cf_cv_options *opt, int32_t b, int32_t l, int32_t k) {
    cf_config c = *base;
    c.factors = opt->factors[k], c.lambda = opt->lambdas[l];
    if (opt->n_bias_lambdas > 0) c.bias_lambda = opt->bias_lambdas[b];
    return c;
}

cf_status cf_cv_check(const cf_config *base, const cf_cv_options *opt, cf_error *err) {
    cf_status st = check_options(opt, err);
    if (st) return st;
    if (opt->n_bias_lambdas > 0 && !base->bias) /* also where a value equals λ, which validate allows */
        return cf_fail(err, CF_ERR_INVALID, "cv grid: the bias_lambda axis needs biases (the config has bias 0, "
                                            "--no-bias: no b_u, b_i to regularize)");
    for (int32_t b = 0; b < (opt->n_bias_lambdas > 0 ? opt->n_bias_lambdas : 1); b++)
        for (int32_t l = 0; l < opt->n_lambdas; l++)
            for (int32_t k = 0; k < opt->n_factors; k++) {
                cf_config c = cell_config(base, opt, b, l, k);
                if ((st = cf_config_validate(&c, err))) return st;
            }
    if (opt->select_iters && (base->tol > 0 || base->early_stop > 0 || base->restarts > 1))
        return cf_fail(err, CF_ERR_INVALID, "cv select_iters: every cell must run all its iterations once "
                                            "(no tol, early_stop or restarts)");
    return CF_OK;
}

/* select_iters: the validation RMSE (the fold is the test part) after each iteration of
 * one training, into curve[0 .. iters). */
typedef struct curve_rec {
    double *curve;
    int32_t iters;
} curve_rec;

static int record_curve(const cf_iter_info *info, void *user) {
    const curve_rec *c = user;
    if (info->iter >= 1 && info->iter <= c->iters) c->curve[info->iter - 1] = info->test_rmse;
    return 0;
}

/* select_iters: each cell's mean curve over the folds, its iteration of least mean (the
 * first; NaN never wins), and that iteration's fold RMSEs into fold_rmse. */
static void pick_iters(const double *curve, int64_t cells, int32_t F, int32_t T, cf_cv_result *res) {
    for (int64_t c = 0; c < cells; c++) {
        double *mc = res->mean_curve + c * T;
        int32_t best = 0;
        for (int32_t t = 0; t < T; t++) {
            double s = 0;
            for (int32_t f = 0; f < F; f++) s += curve[(c * F + f) * T + t];
            mc[t] = s / F;
            if (isnan(mc[best]) || mc[t] < mc[best]) best = t;
        }
        res->cell_iters[c] = best + 1;
        for (int32_t f = 0; f < F; f++) res->fold_rmse[c * F + f] = curve[(c * F + f) * T + best];
    }
}

cf_status cf_cv_run(const cf_dataset *ds, const cf_config *base, const cf_cv_options *opt,
                    cf_cv_result *res, cf_error *err) {
    memset(res, 0, sizeof *res);
    cf_status st = cf_cv_check(base, opt, err); /* every cell valid before any training */
    if (st) return st;
    const int32_t NB = opt->n_bias_lambdas > 0 ? opt->n_bias_lambdas : 1;
    int64_t n = ds->all.n;
    int32_t F = opt->folds, NL = opt->n_lambdas, NK = opt->n_factors;
    int64_t cells = (int64_t)NB * NL * NK;
    double *curve = NULL; /* select_iters: [(cell·F + f)·T + t] */
    int32_t T = 0;
    if (opt->select_iters) {
        cf_config r;
        cf_config_resolve(base, NULL, &r); /* the iteration count depends on the algorithm only */
        T = r.iters;
        curve = cf_malloc((size_t)(cells * F * T) * sizeof *curve, err, "cv curves");
        res->mean_curve = cf_malloc((size_t)(cells * T) * sizeof *res->mean_curve, err, "cv curves");
        res->cell_iters = cf_malloc((size_t)cells * sizeof *res->cell_iters, err, "cv curves");
        if (!curve || !res->mean_curve || !res->cell_iters) {
            free(curve);
            cf_cv_result_free(res);
            return CF_ERR_NOMEM;
        }
        for (int64_t x = 0; x < cells * F * T; x++) curve[x] = NAN;
        res->iters = T;
    }
    cf_triplets sub = {0}; /* time folds: the ratings of the folds up to f */
    int32_t *fold = cf_malloc((size_t)(n > 0 ? n : 1) * sizeof *fold, err, "cv folds");
    uint8_t *mask = cf_calloc((size_t)(ds->all.cap > 0 ? ds->all.cap : 1), 1, err, "cv part flags");
    res->fold_rmse = cf_malloc((size_t)(cells * F) * sizeof(double), err, "cv results");
    res->mean = cf_malloc((size_t)cells * sizeof(double), err, "cv results");
    res->std = cf_malloc((size_t)cells * sizeof(double), err, "cv results");
    const int ranked = opt->rank_n > 0;
    if (ranked) {
        res->fold_score = cf_malloc((size_t)(cells * F) * sizeof(double), err, "cv results");
        res->mean_score = cf_malloc((size_t)cells * sizeof(double), err, "cv results");
        res->std_score = cf_malloc((size_t)cells * sizeof(double), err, "cv results");
        res->fold_popular = cf_malloc((size_t)F * sizeof(double), err, "cv results");
    }
    res->mean_popular = res->std_popular = NAN;
    if (!fold || !mask || !res->fold_rmse || !res->mean || !res->std ||
        (ranked && (!res->fold_score || !res->mean_score || !res->std_score || !res->fold_popular))) {
        st = CF_ERR_NOMEM;
        goto fail;
    }
    res->n_factors = NK, res->n_lambdas = NL, res->n_bias_lambdas = NB, res->folds = F;
    st = opt->by_time   ? cf_cv_folds_time(ds, F, opt->by_user, base->threads, fold, err)
         : opt->by_user ? cf_cv_folds_per_user(ds, F, opt->seed, base->threads, fold, err)
                        : cf_cv_folds(n, F, opt->seed, fold, err);
    if (st) goto fail;
    for (int64_t j = 0; j < n; j++) res->unvalidated += fold[j] < 0;
    if (opt->by_time) { /* each fold's earliest validation time; room for the compacted views */
        res->fold_from = cf_malloc((size_t)F * sizeof *res->fold_from, err, "cv results");
        sub.u = cf_malloc((size_t)(n > 0 ? n : 1) * sizeof *sub.u, err, "cv time folds");
        sub.i = cf_malloc((size_t)(n > 0 ? n : 1) * sizeof *sub.i, err, "cv time folds");
        sub.r = cf_malloc((size_t)(n > 0 ? n : 1) * sizeof *sub.r, err, "cv time folds");
        if (!res->fold_from || !sub.u || !sub.i || !sub.r) {
            st = CF_ERR_NOMEM;
            goto fail;
        }
        for (int32_t f = 0; f < F; f++) res->fold_from[f] = INT64_MAX;
        for (int64_t j = 0; j < n; j++)
            if (fold[j] >= 0 && ds->all.t[j] < res->fold_from[fold[j]]) res->fold_from[fold[j]] = ds->all.t[j];
    }

    /* a view sharing ds's ratings and maps, with its own part flags; for time folds its
     * ratings are those of the folds up to f, copied in index order */
    cf_dataset view = *ds;
    view.is_test = mask;
    for (int32_t f = 0; f < F; f++) {
        if (opt->by_time) {
            int64_t m = 0;
            for (int64_t j = 0; j < n; j++)
                if (fold[j] <= f) sub.u[m] = ds->all.u[j], sub.i[m] = ds->all.i[j], sub.r[m] = ds->all.r[j],
                    mask[m++] = fold[j] == f;
            sub.n = sub.cap = m;
            view.all = sub, view.timed = 0;
        } else {
            for (int64_t j = 0; j < n; j++) mask[j] = fold[j] == f;
        }
        for (int64_t cell = 0; cell < cells; cell++) {
            const int32_t k = (int32_t)(cell % NK), l = (int32_t)(cell / NK % NL), b = (int32_t)(cell / NK / NL);
            cf_config c = cell_config(base, opt, b, l, k);
            cf_model *m = NULL;
            cf_train_report rep;
            curve_rec rec = {curve ? curve + (cell * F + f) * T : NULL, T};
            if ((st = cf_train(&view, &c, curve ? record_curve : NULL, &rec, &m, &rep, err))) goto fail;
            double score = NAN;
            if (ranked) {
                cf_rank_report rk;
                cf_model *sub = NULL; /* the candidates fit to enough ratings, with a floor */
                if (opt->rank_min_ratings > 0 &&
                    (st = cf_model_subset_min_ratings(m, 0, opt->rank_min_ratings, &sub, err))) {
                    cf_model_destroy(&m);
                    goto fail;
                }
                st = cf_model_rank_evaluate_split(sub ? sub : m, &view, opt->rank_n, opt->relevant_min,
                                                  base->threads, NULL, NULL, &rk, err);
                cf_model_destroy(&sub);
                if (st) {
                    cf_model_destroy(&m);
                    goto fail;
                }
                score = (&rk.model.precision)[opt->rank_measure];
                res->fold_score[cell * F + f] = score;
                res->fold_popular[f] = (&rk.popular.precision)[opt->rank_measure]; /* any cell's */
            }
            cf_model_destroy(&m);
            res->fold_rmse[cell * F + f] = rep.test_rmse;
            if (opt->on_fold) opt->on_fold(b, l, k, f, rep.test_rmse, score, opt->user);
        }
    }
    if (curve) pick_iters(curve, cells, F, T, res);
    cell_stats(res->fold_rmse, cells, F, res->mean, res->std);
    if (ranked) {
        cell_stats(res->fold_score, cells, F, res->mean_score, res->std_score);
        cell_stats(res->fold_popular, 1, F, &res->mean_popular, &res->std_popular);
    }
    {
        /* what is minimized per cell: the mean RMSE, or the negated mean score (the argmax; NaN, no
         * user to rank, never wins); with select_last the last fold's value instead of the mean */
        double *key = cf_malloc((size_t)cells * sizeof *key, err, "cv selection");
        if (!key) {
            st = CF_ERR_NOMEM;
            goto fail;
        }
        for (int64_t c = 0; c < cells; c++) {
            const double v = opt->select_last ? (ranked ? res->fold_score : res->fold_rmse)[c * F + F - 1]
                                              : (ranked ? res->mean_score : res->mean)[c];
            key[c] = !ranked ? v : isnan(v) ? INFINITY : -v;
        }
        res->border = cf_cv_pick_best(key, NB, NL, NK, &res->best_b, &res->best_l, &res->best_k);
        free(key);
    }
    res->mean_minus_popular = res->std_minus_popular = NAN;
    if (ranked) { /* the best cell against popularity, fold by fold */
        double *gain = cf_malloc((size_t)F * sizeof *gain, err, "cv selection");
        if (!gain) {
            st = CF_ERR_NOMEM;
            goto fail;
        }
        const double *sc = res->fold_score + best_cell(res) * F;
        for (int32_t f = 0; f < F; f++) gain[f] = sc[f] - res->fold_popular[f];
        cell_stats(gain, 1, F, &res->mean_minus_popular, &res->std_minus_popular);
        free(gain);
    }

    if (opt->refit) {
        memset(mask, 0, (size_t)(ds->all.cap > 0 ? ds->all.cap : 1));
        view.all = ds->all, view.timed = ds->timed;
        cf_config c = cell_config(base, opt, res->best_b, res->best_l, res->best_k);
        if (curve) c.iters = res->cell_iters[best_cell(res)];
        if ((st = cf_train(&view, &c, NULL, NULL, &res->model, &res->refit_report, err))) goto fail;
    }
    free(curve);
    free(fold);
    free(mask);
    free(sub.u), free(sub.i), free(sub.r);
    return CF_OK;

fail:
    free(curve);
    free(fold);
    free(mask);
    free(sub.u), free(sub.i), free(sub.r);
    cf_cv_result_free(res);
    return st;
}
