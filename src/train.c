/*
 * train.c — the trainer: owns the loop (iterations, learning-rate schedule, tolerance
 * and early stopping, restarts, progress, metrics) and drives a backend through the
 * table of backend.h, so the CPU reference and the GPU run the same control flow.
 *
 * One iteration is: ALS / ALS+GD — the user side then the item side; SGD, GD,
 * mini-batch — one epoch; CCD — one sweep. After each, the backend evaluates
 * L = sse + reg on the training part (DESIGN.md §1) and the RMSE of the test part.
 * Learning rate of epoch t (0-based): η_0 (const) or η_0 / (1 + β t^1.5) (invscale).
 *
 * Device: --device gpu takes the GPU backend or fails; --device auto takes it when a
 * device is usable and implements the algorithm, and when its open then fails on the
 * device (the data does not fit its free memory or --gpu-mem-limit) trains on the CPU
 * instead, with the GPU's error in cf_train_report.notice (cf_train_falls_back).
 */
#include "backend.h"
#include "common.h"
#include "dataset.h"
#include "model.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static double lr_at(const cf_config *c, int32_t epoch) {
    if (c->lr_schedule == CF_LR_INVSCALE) return c->lr / (1.0 + c->lr_decay * pow((double)epoch, 1.5));
    return c->lr;
}

static int implements(const cf_backend_ops *ops, cf_algo a) {
    switch (a) {
    case CF_ALGO_ALS: return ops->als_half != NULL;
    case CF_ALGO_ALSGD: return ops->alsgd_half != NULL;
    case CF_ALGO_SGD: return ops->sgd_epoch != NULL;
    case CF_ALGO_GD:
    case CF_ALGO_MINIBATCH: return ops->gd_epoch != NULL;
    case CF_ALGO_CCD: return ops->ccd_sweep != NULL;
    }
    return 0;
}

/* Chooses the backend for cfg->device; fills rep->notice when auto falls back. */
static cf_status pick_backend(const cf_gpu_seam *seam, const cf_config *cfg,
                              const cf_backend_ops **out, cf_train_report *rep, cf_error *err) {
    const cf_backend_ops *gpu = seam->ops;
    const char *why = seam->why ? seam->why : "";
    int usable = seam->usable;
    const char *algo = cf_algo_name(cfg->algo);
    if (cfg->device == CF_DEVICE_GPU) {
        if (!usable || !gpu) return cf_fail(err, CF_ERR_UNSUPPORTED, "--device gpu: %s", why);
        if (!implements(gpu, cfg->algo))
            return cf_fail(err, CF_ERR_UNSUPPORTED,
                           "--device gpu: the GPU backend does not implement --algo %s yet; use --device cpu",
                           algo);
        *out = gpu;
    } else if (cfg->device == CF_DEVICE_AUTO && usable && gpu && implements(gpu, cfg->algo)) {
        *out = gpu;
    } else {
        if (cfg->device == CF_DEVICE_AUTO) {
            if (!usable || !gpu)
                snprintf(rep->notice, sizeof rep->notice, "no usable GPU (%s): using the CPU", why);
            else
                snprintf(rep->notice, sizeof rep->notice,
                         "the GPU backend does not implement --algo %s yet: using the CPU", algo);
        }
        *out = &cf_cpu_backend;
    }
    if (!implements(*out, cfg->algo))
        return cf_fail(err, CF_ERR_UNSUPPORTED, "--algo %s is not implemented by the %s backend", algo,
                       (*out)->name);
    return CF_OK;
}

static cf_status step(const cf_backend_ops *ops, cf_backend *b, const cf_config *cfg, int32_t epoch,
                      cf_error *err) {
    cf_status st;
    switch (cfg->algo) {
    case CF_ALGO_ALS:
        if ((st = ops->als_half(b, CF_SIDE_USERS, err))) return st;
        return ops->als_half(b, CF_SIDE_ITEMS, err);
    case CF_ALGO_ALSGD:
        if ((st = ops->alsgd_half(b, CF_SIDE_USERS, lr_at(cfg, epoch), err))) return st;
        return ops->alsgd_half(b, CF_SIDE_ITEMS, lr_at(cfg, epoch), err);
    case CF_ALGO_SGD: return ops->sgd_epoch(b, epoch, lr_at(cfg, epoch), err);
    case CF_ALGO_GD:
    case CF_ALGO_MINIBATCH: return ops->gd_epoch(b, epoch, lr_at(cfg, epoch), err);
    case CF_ALGO_CCD: return ops->ccd_sweep(b, err);
    }
    return cf_fail(err, CF_ERR_INVALID, "algo: unknown value %d", (int)cfg->algo);
}

int cf_train_falls_back(cf_device device, cf_status open_status) {
    return device == CF_DEVICE_AUTO &&
           (open_status == CF_ERR_DEVICE || open_status == CF_ERR_UNSUPPORTED);
}

typedef struct run_result {
    int open_failed;     /* the error came from the backend's open */
    cf_iter_info last;   /* metrics of the model kept */
    int32_t iters;       /* iterations run */
    const char *stop;    /* why it stopped */
    char device[64];
} run_result;

/* " ('ID')" of row idx of map (shortened), or "" without a map. */
static void id_of(const cf_idmap *map, uint32_t idx, char *buf, size_t len) {
    size_t n = 0;
    const char *id = map ? cf_idmap_name(map, idx, &n) : NULL;
    if (!id) {
        buf[0] = 0;
        return;
    }
    snprintf(buf, len, " ('%.*s%s')", (int)(n > 40 ? 40 : n), id, n > 40 ? "..." : "");
}

int cf_objective_nonfinite_term(const cf_ratings *R, const cf_triplets *test, const cf_factors *f,
                                const cf_config *cfg, const cf_idmap *users, const cf_idmap *items,
                                char *buf, size_t len) {
    char a[64], b[64];
    /* Σ (r − r̂)² over the training ratings, row by row */
    for (int64_t u = 0; u < R->n_users; u++)
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
            uint32_t i = R->row_col[e];
            double pred = cf_predict(f, (uint32_t)u, i), d = (double)R->row_val[e] - pred;
            if (isfinite(d * d)) continue;
            id_of(users, (uint32_t)u, a, sizeof a), id_of(items, i, b, sizeof b);
            return snprintf(buf, len, "(r - r^)^2 of user row %lld%s and item row %u%s (r = %g, r^ = %g)",
                            (long long)u, a, i, b, (double)R->row_val[e], pred), 1;
        }
    /* λ_row w_row (‖x_row‖² + b_row²) of each side */
    for (int sd = 0; sd < 2; sd++) {
        int64_t n = sd ? R->n_items : R->n_users;
        const int64_t *ptr = sd ? R->col_ptr : R->row_ptr;
        const double *F = sd ? f->Q : f->P, *bias = sd ? f->bi : f->bu;
        for (int64_t r = 0; r < n; r++) {
            double sq = f->bias ? bias[r] * bias[r] : 0.0;
            for (int32_t k = 0; k < f->k; k++) sq += F[r * f->k + k] * F[r * f->k + k];
            double term = cf_reg_lambda(cfg->reg, cfg->lambda, ptr[r + 1] - ptr[r], R->nnz) * sq;
            if (isfinite(term)) continue;
            id_of(sd ? items : users, (uint32_t)r, a, sizeof a);
            return snprintf(buf, len, "the regularization of %s row %lld%s (squared norm %g)",
                            sd ? "item" : "user", (long long)r, a, sq), 1;
        }
    }
    /* the test RMSE */
    for (int64_t j = 0; test && j < test->n; j++) {
        double pred = cf_predict(f, test->u[j], test->i[j]), d = (double)test->r[j] - pred;
        if (isfinite(d * d)) continue;
        id_of(users, test->u[j], a, sizeof a), id_of(items, test->i[j], b, sizeof b);
        return snprintf(buf, len, "the test error of user row %u%s and item row %u%s (r = %g, r^ = %g)",
                        test->u[j], a, test->i[j], b, (double)test->r[j], pred), 1;
    }
    return 0;
}

/* Names the first non-finite value of the backend's factors for a divergence message;
 * when every factor is finite (the objective overflowed first), the first term of the
 * objective that is not. */
static cf_status diverged(const cf_backend_ops *ops, cf_backend *b, const cf_ratings *R,
                          const cf_triplets *test, const cf_config *cfg, const cf_idmap *users,
                          const cf_idmap *items, int32_t iter, cf_factors *scratch, cf_error *err) {
    char where[256] = "the objective";
    if (ops->download(b, scratch, NULL) == CF_OK &&
        !cf_factors_check_finite(scratch, where, sizeof where)) {
        char term[200];
        if (cf_objective_nonfinite_term(R, test, scratch, cfg, users, items, term, sizeof term))
            snprintf(where, sizeof where, "the objective: %s", term);
    }
    return cf_fail(err, CF_ERR_NUMERIC,
                   "%s diverged at iteration %d: non-finite value in %s; try a smaller --lr or a larger --lambda",
                   cf_algo_name(cfg->algo), iter, where);
}

/* One training run from the initialization of `seed`; leaves the kept model in *out
 * (allocated by the caller with the data's dimensions). */
static cf_status run_once(const cf_backend_ops *ops, const cf_ratings *R, const cf_triplets *test,
                          const cf_config *cfg, const cf_idmap *users, const cf_idmap *items,
                          uint64_t seed, cf_progress_fn progress, void *user, cf_factors *out,
                          run_result *res, cf_error *err) {
    cf_factors init = {0}, best = {0};
    cf_backend *b = NULL;
    cf_status st = cf_factors_alloc(&init, R->n_users, R->n_items, cfg->factors, cfg->bias, err);
    if (st) return st;
    cf_factors_init_random(&init, cfg->init_scale, seed);
    init.mu = cfg->bias ? R->mean : 0.0;
    if ((st = ops->open(R, test, cfg, &init, &b, err))) {
        res->open_failed = 1;
        goto done;
    }
    snprintf(res->device, sizeof res->device, "%s", ops->device_name(b));

    double prev_obj = NAN, best_test = INFINITY;
    int32_t since_best = 0;
    int have_best = 0;
    res->stop = "iters";
    for (int32_t it = 0; it < cfg->iters; it++) {
        double t0 = cf_now();
        if ((st = step(ops, b, cfg, it, err))) goto done;
        double secs = cf_now() - t0;
        cf_eval tr, te;
        if ((st = ops->evaluate(b, CF_EVAL_TRAIN, &tr, err))) goto done;
        if ((st = ops->evaluate(b, CF_EVAL_TEST, &te, err))) goto done;
        cf_iter_info info = {
            .iter = it + 1,
            .train_rmse = tr.n ? sqrt(tr.sse / (double)tr.n) : NAN,
            .test_rmse = te.n ? sqrt(te.sse / (double)te.n) : NAN,
            .objective = tr.sse + tr.reg,
            .seconds = secs,
            .ratings_per_sec = secs > 0 ? (double)R->nnz / secs : 0,
        };
        if (!isfinite(info.objective) || (te.n && !isfinite(info.test_rmse))) {
            st = diverged(ops, b, R, test, cfg, users, items, it + 1, out, err);
            goto done;
        }
        res->iters = it + 1;
        int keep_best = cfg->early_stop > 0 && te.n; /* then res->last is the best iteration's */
        if (!keep_best) res->last = info;
        int stop = progress ? progress(&info, user) : 0;
        if (stop) res->stop = "callback";

        if (keep_best) {
            if (info.test_rmse < best_test) { /* keep the best model seen */
                best_test = info.test_rmse;
                since_best = 0;
                if (!have_best && (st = cf_factors_alloc(&best, R->n_users, R->n_items, cfg->factors,
                                                         cfg->bias, err)))
                    goto done;
                if ((st = ops->download(b, &best, err))) goto done;
                have_best = 1;
                res->last = info;
            } else if (++since_best >= cfg->early_stop) {
                res->stop = "early-stop";
                stop = 1;
            }
        }
        if (!stop && cfg->tol > 0 && it > 0 && fabs(prev_obj - info.objective) <= cfg->tol * fabs(prev_obj)) {
            res->stop = "tol";
            stop = 1;
        }
        prev_obj = info.objective;
        if (stop) break;
    }
    if (have_best) {
        if ((st = ops->upload(b, &best, err))) goto done;
        if ((st = ops->download(b, out, err))) goto done;
    } else if ((st = ops->download(b, out, err))) {
        goto done;
    }
    char where[96];
    if (cf_factors_check_finite(out, where, sizeof where))
        st = cf_fail(err, CF_ERR_NUMERIC, "%s produced a non-finite value in %s; the model is not saved",
                     cf_algo_name(cfg->algo), where);
done:
    if (b) ops->close(b);
    cf_factors_free(&init);
    cf_factors_free(&best);
    return st;
}

cf_status cf_train(const cf_dataset *ds, const cf_config *cfg, cf_progress_fn progress, void *user,
                   cf_model **out, cf_train_report *rep, cf_error *err) {
    char why[200] = "";
    cf_gpu_seam seam = {cf_gpu_backend(), 0, why};
    seam.usable = cf_gpu_available(why, sizeof why);
    return cf_train_with(&seam, ds, cfg, progress, user, out, rep, err);
}

cf_status cf_train_with(const cf_gpu_seam *gpu, const cf_dataset *ds, const cf_config *cfg,
                        cf_progress_fn progress, void *user, cf_model **out,
                        cf_train_report *rep, cf_error *err) {
    cf_train_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    *out = NULL;
    cf_error_clear(err);
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_train: dataset is NULL");
    cf_status st = cf_config_validate(cfg, err);
    if (st) return st;
    double t_start = cf_now();

    const cf_backend_ops *ops = NULL;
    if ((st = pick_backend(gpu, cfg, &ops, rep, err))) return st;

    cf_triplets train = {0}, test = {0};
    cf_ratings R = {0};
    cf_factors result = {0}, trial = {0};
    if ((st = cf_dataset_part(ds, 0, &train, err))) goto done;
    if ((st = cf_dataset_part(ds, 1, &test, err))) goto done;
    if (train.n == 0) {
        st = cf_fail(err, CF_ERR_INVALID, "no training ratings (the test part holds all %lld)", (long long)test.n);
        goto done;
    }
    int64_t n_users = cf_idmap_size(ds->users), n_items = cf_idmap_size(ds->items);
    if ((st = cf_ratings_build(&train, n_users, n_items, &R, err))) goto done;
    cf_triplets_free(&train);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    rep->n_train = info.n_train, rep->n_test = info.n_test, rep->test_unseen = info.test_unseen;

    if ((st = cf_factors_alloc(&result, n_users, n_items, cfg->factors, cfg->bias, err))) goto done;
    if (cfg->restarts > 1 &&
        (st = cf_factors_alloc(&trial, n_users, n_items, cfg->factors, cfg->bias, err)))
        goto done;
    /* Restarts: independent initializations; keep the best by test RMSE (by the
     * objective when there is no test part). */
    double best_score = INFINITY;
    for (int32_t r = 0; r < cfg->restarts; r++) {
        uint64_t seed = cfg->seed + (uint64_t)r * 0x9e3779b97f4a7c15ULL;
        cf_factors *dst = r == 0 ? &result : &trial;
        run_result res = {0};
        st = run_once(ops, &R, &test, cfg, ds->users, ds->items, seed, progress, user, dst, &res, err);
        if (st && res.open_failed && ops != &cf_cpu_backend && cf_train_falls_back(cfg->device, st)) {
            /* --device auto: the GPU cannot take this run; the CPU can */
            char msg[CF_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : cf_status_name(st));
            size_t n = strlen(msg), tail = strlen("; try --device cpu");
            if (n >= tail && strcmp(msg + n - tail, "; try --device cpu") == 0) msg[n - tail] = 0;
            snprintf(rep->notice, sizeof rep->notice, "GPU: %s: using the CPU", msg);
            cf_error_clear(err);
            ops = &cf_cpu_backend;
            memset(&res, 0, sizeof res);
            st = run_once(ops, &R, &test, cfg, ds->users, ds->items, seed, progress, user, dst, &res, err);
        }
        if (st) goto done;
        double score = test.n ? res.last.test_rmse : res.last.objective;
        if (r == 0 || score < best_score) {
            best_score = score;
            if (r > 0) { /* swap the better run into result */
                cf_factors tmp = result;
                result = trial;
                trial = tmp;
            }
            rep->iters = res.iters;
            rep->train_rmse = res.last.train_rmse;
            rep->test_rmse = res.last.test_rmse;
            rep->objective = res.last.objective;
            snprintf(rep->stop_reason, sizeof rep->stop_reason, "%s", res.stop);
            snprintf(rep->device, sizeof rep->device, "%s", res.device);
        }
    }

    cf_idmap *users = cf_idmap_clone(ds->users), *items = cf_idmap_clone(ds->items);
    cf_model *m = users && items ? cf_model_wrap(&result, users, items, cfg) : NULL;
    if (!m) {
        cf_idmap_destroy(&users);
        cf_idmap_destroy(&items);
        st = cf_fail(err, CF_ERR_NOMEM, "out of memory building the model");
        goto done;
    }
    *out = m;
    rep->seconds = cf_now() - t_start;
done:
    cf_triplets_free(&train);
    cf_triplets_free(&test);
    cf_ratings_free(&R);
    cf_factors_free(&result);
    cf_factors_free(&trial);
    return st;
}

int cf_backend_implements(const cf_backend_ops *ops, cf_algo a) { return implements(ops, a); }

cf_status cf_train_step(const cf_backend_ops *ops, cf_backend *b, const cf_config *cfg, int32_t epoch,
                        cf_error *err) {
    return step(ops, b, cfg, epoch, err);
}
