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
 * Checkpoints (--checkpoint, --resume) need a backend with state_export/state_import:
 * auto then takes the CPU when the GPU backend lacks them (with a notice), gpu fails. A
 * resume continues on the backend that wrote the checkpoint (auto follows it).
 */
#include "backend.h"
#include "checkpoint.h"
#include "common.h"
#include "dataset.h"
#include "model.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

static int can_checkpoint(const cf_backend_ops *ops) { return ops->state_export && ops->state_import; }

const cf_backend_ops *cf_cpu_backend_for(const cf_config *cfg) {
    if (cfg->precision == CF_PRECISION_FP64) return &cf_cpu_backend;
    return implements(&cf_cpu32_backend, cfg->algo) ? &cf_cpu32_backend : &cf_cpu_backend;
}

int cf_backend_is_cpu(const cf_backend_ops *ops) { return ops == &cf_cpu_backend || ops == &cf_cpu32_backend; }

/* Appends "; " and the formatted text to the notice (or sets it when empty). */
static void add_notice(cf_train_report *rep, const char *fmt, const char *arg) {
    size_t n = strlen(rep->notice);
    if (n && n + 2 < sizeof rep->notice) n += (size_t)snprintf(rep->notice + n, sizeof rep->notice - n, "; ");
    if (n < sizeof rep->notice) snprintf(rep->notice + n, sizeof rep->notice - n, fmt, arg);
}

/* Chooses the backend for cfg->device (`ckpt`: the run writes or resumes a checkpoint);
 * fills rep->notice when auto falls back, and when the CPU's fp32 path does not implement
 * the algorithm (the fp64 reference trains it). --precision fp64 is the CPU reference:
 * auto then takes the CPU. */
static cf_status pick_backend(const cf_gpu_seam *seam, const cf_config *cfg, int ckpt,
                              const cf_backend_ops **out, cf_train_report *rep, cf_error *err) {
    const cf_backend_ops *gpu = seam->ops;
    const char *why = seam->why ? seam->why : "";
    int usable = seam->usable;
    const char *algo = cf_algo_name(cfg->algo);
    const int fp64 = cfg->precision == CF_PRECISION_FP64;
    if (cfg->device == CF_DEVICE_GPU) {
        if (!usable || !gpu) return cf_fail(err, CF_ERR_UNSUPPORTED, "--device gpu: %s", why);
        if (!implements(gpu, cfg->algo))
            return cf_fail(err, CF_ERR_UNSUPPORTED,
                           "--device gpu: the GPU backend does not implement --algo %s yet; use --device cpu",
                           algo);
        *out = gpu;
    } else if (cfg->device == CF_DEVICE_AUTO && usable && gpu && implements(gpu, cfg->algo) &&
               (!ckpt || can_checkpoint(gpu)) && !fp64) {
        *out = gpu;
    } else {
        if (cfg->device == CF_DEVICE_AUTO) {
            if (!usable || !gpu)
                snprintf(rep->notice, sizeof rep->notice, "no usable GPU (%s): using the CPU", why);
            else if (fp64)
                snprintf(rep->notice, sizeof rep->notice,
                         "--precision fp64: training on the CPU's double-precision reference");
            else if (!implements(gpu, cfg->algo))
                snprintf(rep->notice, sizeof rep->notice,
                         "the GPU backend does not implement --algo %s yet: using the CPU", algo);
            else
                snprintf(rep->notice, sizeof rep->notice,
                         "--device auto: checkpointing needs the CPU backend; training on the CPU");
        }
        *out = cf_cpu_backend_for(cfg);
        if (*out == &cf_cpu_backend && !fp64 && cfg->precision != CF_PRECISION_FP16)
            add_notice(rep, "the fp32 CPU path implements als and sgd: --algo %s trains on the fp64 reference",
                       algo);
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
    int stop;            /* why it stopped (CF_STOP_*) */
    char device[64];
} run_result;

/* What one call of cf_train_ex works with; `st` is the whole resumable state. */
typedef struct train_ctx {
    const cf_backend_ops *ops;
    const cf_ratings *R;
    const cf_triplets *test;
    const cf_config *cfg;
    const cf_train_options *opt;
    cf_progress_fn progress;
    void *user;
    const cf_idmap *users, *items; /* for divergence messages */
    cf_train_state *st;
    int resuming;        /* st holds a run in progress loaded from opt->resume */
    int ready;           /* st->cur holds the first run's initialization (drawn while preparing) */
    int64_t *init_u, *init_i; /* warm start: each data row's row in opt->init (< 0: none); owned */
    cf_train_report *rep;
    /* without biases: the test pairs with a user or item unseen in training are predicted
     * by the training mean μ whatever the factors (as the model does, model.c), so they
     * are kept out of the backend's test part and their error is added here */
    double unseen_sse, unseen_sae;
    int64_t unseen_n;
} train_ctx;

static int stop_requested(const train_ctx *c) { return c->opt->stop && *c->opt->stop; }

/* Completes st with the backend's factors and solver state and writes the checkpoint. */
static cf_status save_checkpoint(train_ctx *c, cf_backend *b, cf_error *err) {
    cf_train_state *st = c->st;
    cf_status s;
    if ((s = c->ops->download(b, &st->cur, err))) return s;
    cf_solver_state_free(&st->solver);
    if ((s = c->ops->state_export(b, &st->solver, err))) return s;
    if ((s = cf_checkpoint_save(st, c->opt->checkpoint, err))) return s;
    c->rep->checkpoints++;
    return CF_OK;
}

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
    /* Λ_row ‖x_row‖² + Λb_row b_row² of each side (Λ = λ w_row, Λb = λ_b w_b,row) */
    for (int sd = 0; sd < 2; sd++) {
        int64_t n = sd ? R->n_items : R->n_users;
        const int64_t *ptr = sd ? R->col_ptr : R->row_ptr;
        const double *F = sd ? f->Q : f->P, *bias = sd ? f->bi : f->bu;
        for (int64_t r = 0; r < n; r++) {
            double b2 = f->bias ? bias[r] * bias[r] : 0.0, sq = b2, x2 = 0.0; /* sq = b² + ‖x‖² */
            for (int32_t k = 0; k < f->k; k++) {
                const double x = F[r * f->k + k];
                sq += x * x, x2 += x * x;
            }
            double lam = cf_reg_lambda(cfg->reg, cfg->lambda, ptr[r + 1] - ptr[r], R->nnz),
                   lamb = cf_bias_reg_lambda(cfg, ptr[r + 1] - ptr[r], R->nnz);
            double term = lamb == lam ? lam * sq : lam * x2 + lamb * b2;
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

/* The phase callback of cf_train_options (cufactor.h): `done` 0 at a phase's start, 1 at
 * its end. */
static void phase_mark(const cf_train_options *opt, const char *phase, int64_t done) {
    if (opt->phase) (void)opt->phase(phase, done, 1, opt->phase_user);
}

cf_status cf_train_data(const cf_dataset *ds, int threads, const char *who, cf_ratings *R, cf_triplets *test,
                        cf_error *err) {
    memset(R, 0, sizeof *R);
    cf_status st = cf_dataset_part_threads(ds, 1, threads, test, err);
    if (!st && ds->all.n == test->n)
        st = cf_fail(err, CF_ERR_INVALID, "%sno training ratings (the test part holds all %lld)", who,
                     (long long)test->n);
    if (!st)
        st = cf_ratings_build_part(&ds->all, ds->is_test, 0, cf_idmap_size(ds->users), cf_idmap_size(ds->items),
                                   threads, R, err);
    if (st) cf_triplets_free(test);
    return st;
}

/* Copies row `from` of the warm-start model's side into row `to` of f's (P/b_u or Q/b_i). */
static void warm_row(cf_factors *f, const cf_factors *w, int items, int64_t to, int64_t from) {
    const int K = f->k;
    memcpy((items ? f->Q : f->P) + to * K, (items ? w->Q : w->P) + from * K, sizeof(double) * (size_t)K);
    (items ? f->bi : f->bu)[to] = (items ? w->bi : w->bu)[from];
}

/* The seeded initialization of st->cur, then the warm start's rows over it (counted as
 * preparation). */
static void init_factors(train_ctx *c, uint64_t seed) {
    const double t_init = cf_now();
    cf_factors *f = &c->st->cur;
    cf_factors_init_random_threads(f, c->cfg->init_scale, seed, c->cfg->threads);
    if (c->opt->init) {
        const cf_factors *w = &c->opt->init->f;
        for (int64_t u = 0; u < f->n_users; u++)
            if (c->init_u[u] >= 0) warm_row(f, w, 0, u, c->init_u[u]);
        for (int64_t i = 0; i < f->n_items; i++)
            if (c->init_i[i] >= 0) warm_row(f, w, 1, i, c->init_i[i]);
    }
    c->rep->seconds_prepare += cf_now() - t_init;
}

/* The warm start's checks and row maps (cf_train_options.init) into c->init_u, c->init_i. */
static cf_status warm_start_prepare(train_ctx *c, const cf_dataset *ds, cf_error *err) {
    const cf_model *m = c->opt->init;
    const cf_config *cfg = c->cfg;
    if (m->f.k != cfg->factors || m->f.bias != cfg->bias)
        return cf_fail(err, CF_ERR_INVALID,
                       "init: the model has K = %d with biases %s; this training has K = %d with biases %s",
                       (int)m->f.k, m->f.bias ? "on" : "off", (int)cfg->factors, cfg->bias ? "on" : "off");
    if (cfg->restarts > 1)
        return cf_fail(err, CF_ERR_INVALID,
                       "init: a warm start is one start; restarts %d would draw the others at random",
                       (int)cfg->restarts);
    c->init_u = cf_idmap_translate(ds->users, m->users, err, "warm-start user map");
    c->init_i = c->init_u ? cf_idmap_translate(ds->items, m->items, err, "warm-start item map") : NULL;
    if (!c->init_u || !c->init_i) return CF_ERR_NOMEM;
    for (int64_t u = 0; u < cf_idmap_size(ds->users); u++) c->rep->init_users += c->init_u[u] >= 0;
    for (int64_t i = 0; i < cf_idmap_size(ds->items); i++) c->rep->init_items += c->init_i[i] >= 0;
    return CF_OK;
}

/* One training run of restart st->restart, from the initialization of `seed` or, when
 * resuming, from the saved state; leaves the kept model in *out (allocated by the caller
 * with the data's dimensions). At every iteration boundary with work left a stop
 * request writes the checkpoint and ends the run with CF_ERR_INTERRUPTED. */
static cf_status run_once(train_ctx *c, uint64_t seed, cf_factors *out, run_result *res, cf_error *err) {
    const cf_backend_ops *ops = c->ops;
    const cf_ratings *R = c->R;
    const cf_config *cfg = c->cfg;
    cf_train_state *S = c->st;
    cf_backend *b = NULL;
    cf_status st = CF_OK;
    if (!c->resuming) { /* a fresh run: its initialization is preparation */
        if (!c->ready) { /* a later restart, or a rerun (the CPU after a failed GPU open) */
            phase_mark(c->opt, "preparing", 0);
            init_factors(c, seed);
            phase_mark(c->opt, "preparing", 1);
        }
        c->ready = 0; /* used once */
        S->cur.mu = cfg->bias ? R->mean : 0.0;
        S->iter = 0, S->prev_obj = NAN, S->best_test = INFINITY, S->since_best = 0, S->have_best = 0;
        memset(&S->last, 0, sizeof S->last);
        S->last.restart = S->restart;
        cf_solver_state_free(&S->solver);
    }
    double t_open = cf_now();
    phase_mark(c->opt, "uploading", 0);
    st = ops->open(R, c->test, cfg, &S->cur, &b, err);
    c->rep->seconds_upload += cf_now() - t_open;
    if (!st) phase_mark(c->opt, "uploading", 1);
    if (st) {
        res->open_failed = 1;
        goto done;
    }
    if (c->resuming && (st = ops->state_import(b, &S->solver, err))) goto done;
    c->resuming = 0;
    /* A stop inside a step abandons it; a checkpoint then needs the state from before the
     * step: on the CPU kept in S->cur / S->solver before every step (a copy of the factors
     * and the solver state, small beside an iteration) when both a flag and a checkpoint
     * exist. On the GPU that copy would be a transfer of the factors to the host every
     * iteration: there a run that checkpoints sees the stop at the iteration's end instead
     * (the step is not handed the flag), and the checkpoint holds that iteration. */
    const int in_step = c->opt->stop && ops->set_stop && (!c->opt->checkpoint || cf_backend_is_cpu(ops));
    if (in_step) ops->set_stop(b, c->opt->stop);
    int keep_before = in_step && c->opt->checkpoint;
    snprintf(res->device, sizeof res->device, "%s", ops->device_name(b));
    if (ops->notice) { /* once, also over restarts */
        const char *note = ops->notice(b);
        if (note && note[0] && !strstr(c->rep->notice, note)) add_notice(c->rep, "%s", note);
    }

    res->stop = CF_STOP_ITERS;
    res->iters = S->iter;
    res->last = S->last;
    for (int32_t it = S->iter; it < cfg->iters; it++) {
        if (stop_requested(c)) { /* the boundary after iteration `it` */
            if (c->opt->checkpoint && (st = save_checkpoint(c, b, err))) goto done;
            res->stop = -1;
            st = cf_fail(err, CF_ERR_INTERRUPTED, "interrupted after iteration %d of %d%s%s", it, cfg->iters,
                         c->opt->checkpoint ? "; checkpoint written to " : " (no checkpoint configured)",
                         c->opt->checkpoint ? c->opt->checkpoint : "");
            goto done;
        }
        if (keep_before) {
            if ((st = ops->download(b, &S->cur, err))) goto done;
            cf_solver_state_free(&S->solver);
            if ((st = ops->state_export(b, &S->solver, err))) goto done;
        }
        double t0 = cf_now();
        if ((st = step(ops, b, cfg, it, err)) == CF_ERR_INTERRUPTED) {
            /* Ctrl-C inside iteration it + 1: its partial updates are dropped; the
             * checkpoint holds iteration it, as if the stop had come at its end */
            cf_status cs = CF_OK;
            if (keep_before && (cs = cf_checkpoint_save(S, c->opt->checkpoint, err)) == CF_OK) c->rep->checkpoints++;
            if (cs) {
                st = cs;
                goto done;
            }
            res->stop = -1;
            if (keep_before)
                st = cf_fail(err, CF_ERR_INTERRUPTED,
                             "interrupted during iteration %d of %d (abandoned); checkpoint of iteration %d "
                             "written to %s", it + 1, cfg->iters, it, c->opt->checkpoint);
            else
                st = cf_fail(err, CF_ERR_INTERRUPTED,
                             "interrupted during iteration %d of %d (abandoned; no checkpoint configured)", it + 1,
                             cfg->iters);
            goto done;
        }
        if (st) goto done;
        double secs = cf_now() - t0;
        c->rep->seconds_iterations += secs;
        cf_eval tr, te;
        st = cf_train_evaluate(ops, b, &tr, &te, err);
        c->rep->seconds_eval += cf_now() - t0 - secs;
        if (st) goto done;
        te.sse += c->unseen_sse, te.sae += c->unseen_sae, te.n += c->unseen_n;
        cf_iter_info info = {
            .iter = it + 1,
            .train_rmse = tr.n ? sqrt(tr.sse / (double)tr.n) : NAN,
            .test_rmse = te.n ? sqrt(te.sse / (double)te.n) : NAN,
            .objective = tr.sse + tr.reg,
            .seconds = secs,
            .ratings_per_sec = secs > 0 ? (double)R->nnz / secs : 0,
            .restart = S->restart,
        };
        if (!isfinite(info.objective) || (te.n && !isfinite(info.test_rmse))) {
            st = diverged(ops, b, R, c->test, cfg, c->users, c->items, it + 1, out, err);
            goto done;
        }
        res->iters = S->iter = it + 1;
        int keep_best = cfg->early_stop > 0 && te.n; /* then S->last is the best iteration's */
        if (!keep_best) S->last = info;
        int stop = c->progress ? c->progress(&info, c->user) : 0;
        if (stop) res->stop = CF_STOP_CALLBACK;

        if (keep_best) {
            if (info.test_rmse < S->best_test) { /* keep the best model seen */
                S->best_test = info.test_rmse;
                S->since_best = 0;
                if (!S->best.P &&
                    (st = cf_factors_alloc(&S->best, R->n_users, R->n_items, cfg->factors, cfg->bias, err)))
                    goto done;
                if ((st = ops->download(b, &S->best, err))) goto done;
                S->have_best = 1;
                S->last = info;
            } else if (++S->since_best >= cfg->early_stop) {
                res->stop = CF_STOP_EARLY;
                stop = 1;
            }
        }
        if (!stop && cfg->tol > 0 && it > 0 && fabs(S->prev_obj - info.objective) <= cfg->tol * fabs(S->prev_obj)) {
            res->stop = CF_STOP_TOL;
            stop = 1;
        }
        S->prev_obj = info.objective;
        res->last = S->last;
        if (stop) break;
        int every = c->opt->checkpoint_every;
        if (c->opt->checkpoint && every > 0 && (it + 1) % every == 0 && it + 1 < cfg->iters &&
            (st = save_checkpoint(c, b, err)))
            goto done;
    }
    double t_down = cf_now();
    phase_mark(c->opt, "downloading", 0);
    if (S->have_best && !(st = ops->upload(b, &S->best, err))) st = ops->download(b, out, err);
    else if (!S->have_best) st = ops->download(b, out, err);
    c->rep->seconds_upload += cf_now() - t_down;
    if (st) goto done;
    phase_mark(c->opt, "downloading", 1);
    char where[96];
    if (cf_factors_check_finite(out, where, sizeof where))
        st = cf_fail(err, CF_ERR_NUMERIC, "%s produced a non-finite value in %s; the model is not saved",
                     cf_algo_name(cfg->algo), where);
done:
    if (b) ops->close(b);
    return st;
}

void cf_train_options_default(cf_train_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->checkpoint_every = 10;
}

/* The checks of a resume: same config (but iters, threads, device, gpu_id), same data,
 * a backend that can take the state. */
static cf_status check_resume(const train_ctx *c, const cf_train_state *S, uint64_t data_hash,
                              int64_t n_train, int64_t n_test, cf_error *err) {
    const char *path = c->opt->resume;
    cf_status st = cf_checkpoint_config_check(&S->cfg, c->cfg, path, err);
    if (st) return st;
    if (S->cur.n_users != c->R->n_users || S->cur.n_items != c->R->n_items || S->n_train != n_train ||
        S->n_test != n_test || S->data_hash != data_hash)
        return cf_fail(err, CF_ERR_INVALID,
                       "%s: the checkpoint was written for other data (%lld users, %lld items, %lld train and "
                       "%lld test ratings%s; here %lld, %lld, %lld, %lld): resume with the same ratings file, "
                       "the same --test / --test-ratio / --test-split / --validation and the same --seed",
                       path, (long long)S->cur.n_users, (long long)S->cur.n_items, (long long)S->n_train,
                       (long long)S->n_test, S->data_hash != data_hash ? ", other contents" : "",
                       (long long)c->R->n_users, (long long)c->R->n_items, (long long)n_train, (long long)n_test);
    return CF_OK;
}

/* The model holds the users and items with training ratings only: an ID seen only in
 * the test part has no row (it is unseen to eval, predict and recommend as it was to the
 * training). Rows keep the dataset's order, each with its count of training ratings.
 * Without biases μ is still stored, as the prediction of an unseen pair (cf_predict
 * ignores it then). */
static cf_status trained_model(const cf_ratings *R, const cf_idmap *du, const cf_idmap *di, cf_factors *f,
                               const cf_config *cfg, cf_model **out, cf_error *err) {
    if (!f->bias) f->mu = R->mean;
    const int64_t n[2] = {R->n_users, R->n_items};
    const int64_t *const ptr[2] = {R->row_ptr, R->col_ptr};
    int64_t *counts[2] = {NULL, NULL};
    uint8_t *keep[2] = {NULL, NULL};
    cf_status st = CF_OK;
    for (int sd = 0; sd < 2 && !st; sd++) {
        counts[sd] = malloc((size_t)(n[sd] > 0 ? n[sd] : 1) * sizeof(int64_t));
        keep[sd] = malloc((size_t)(n[sd] > 0 ? n[sd] : 1));
        if (!counts[sd] || !keep[sd]) {
            st = cf_fail(err, CF_ERR_NOMEM, "out of memory building the model");
            break;
        }
        for (int64_t r = 0; r < n[sd]; r++) keep[sd][r] = (counts[sd][r] = ptr[sd][r + 1] - ptr[sd][r]) > 0;
    }
    if (!st)
        st = cf_model_from_rows(f, du, di, (const int64_t *const *)counts, (const uint8_t *const *)keep, cfg, out,
                                err);
    free(counts[0]), free(counts[1]), free(keep[0]), free(keep[1]);
    return st;
}

cf_status cf_train(const cf_dataset *ds, const cf_config *cfg, cf_progress_fn progress, void *user,
                   cf_model **out, cf_train_report *rep, cf_error *err) {
    return cf_train_ex(ds, cfg, NULL, progress, user, out, rep, err);
}

cf_status cf_train_ex(const cf_dataset *ds, const cf_config *cfg, const cf_train_options *opt,
                      cf_progress_fn progress, void *user, cf_model **out, cf_train_report *rep,
                      cf_error *err) {
    char why[200] = "";
    cf_gpu_seam seam = {cf_gpu_backend(), 0, why};
    seam.usable = cf_gpu_available(why, sizeof why);
    return cf_train_with(&seam, ds, cfg, opt, progress, user, out, rep, err);
}

cf_status cf_train_with(const cf_gpu_seam *gpu, const cf_dataset *ds, const cf_config *cfg,
                        const cf_train_options *opt, cf_progress_fn progress, void *user, cf_model **out,
                        cf_train_report *rep, cf_error *err) {
    cf_train_report local;
    cf_train_options no_opt;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    if (!opt) {
        cf_train_options_default(&no_opt);
        opt = &no_opt;
    }
    *out = NULL;
    cf_error_clear(err);
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_train: dataset is NULL");
    cf_status st = cf_config_validate(cfg, err);
    if (st) return st;
    if (opt->checkpoint_every < 0)
        return cf_fail(err, CF_ERR_INVALID, "checkpoint_every: %d, must be >= 0", opt->checkpoint_every);
    if ((opt->checkpoint && !*opt->checkpoint) || (opt->resume && !*opt->resume))
        return cf_fail(err, CF_ERR_INVALID, "%s: empty path", opt->resume && !*opt->resume ? "resume" : "checkpoint");
    if (opt->init && opt->resume)
        return cf_fail(err, CF_ERR_INVALID, "init: a resumed training continues from its checkpoint, not a model");
    double t_start = cf_now();
    rep->seconds_prepare = rep->seconds_upload = rep->seconds_iterations = rep->seconds_eval = 0;

    const cf_backend_ops *ops = NULL;
    cf_triplets test = {0};
    cf_ratings R = {0};
    cf_factors trial = {0};
    cf_config resolved;
    cf_train_state S;
    memset(&S, 0, sizeof S);
    run_result res = {0};
    train_ctx c = {.R = &R, .test = &test, .cfg = cfg, .opt = opt, .progress = progress,
                   .user = user, .users = ds->users, .items = ds->items, .st = &S, .rep = rep};
    phase_mark(opt, "preparing", 0);
    /* a resume: the checkpoint first (checked against the data below), so that --device
     * auto follows the backend that wrote it where it would take the GPU */
    if (opt->resume && (st = cf_checkpoint_load(opt->resume, &S, err))) goto done;
    cf_config pick = *cfg;
    if (opt->resume && cfg->device == CF_DEVICE_AUTO && strcmp(S.backend, "gpu") != 0 && gpu->usable && gpu->ops &&
        can_checkpoint(gpu->ops)) {
        pick.device = CF_DEVICE_CPU;
        add_notice(rep, "--device auto: the checkpoint was written by the %s backend; resuming on the CPU", S.backend);
    }
    if ((st = pick_backend(gpu, &pick, opt->checkpoint || opt->resume, &ops, rep, err))) goto done;
    if ((opt->checkpoint || opt->resume) && !can_checkpoint(ops)) {
        st = cf_fail(err, CF_ERR_UNSUPPORTED, "the %s backend cannot %s checkpoints yet; use --device cpu", ops->name,
                     opt->resume ? "resume from" : "write");
        goto done;
    }
    c.ops = ops;
    if ((st = cf_train_data(ds, cfg->threads, "", &R, &test, err))) goto done;
    int64_t n_users = R.n_users, n_items = R.n_items;
    /* the settings left to be chosen (iters, lr, batch, optimizer 0 / auto), from the
     * data: everything below, the backends, the model and the checkpoint see these */
    cf_config_resolve_ratings(cfg, &R, &resolved);
    cfg = c.cfg = &resolved;
    if (opt->init && (st = warm_start_prepare(&c, ds, err))) goto done;
    int64_t n_train = R.nnz;
    /* the report's counts from the parts (what cf_dataset_info_get counts, without two
     * more passes over all ratings): a test pair is unseen when its user or item has no
     * row or column in R */
    rep->n_train = R.nnz, rep->n_test = test.n;
    {
        int64_t unseen = 0;
#pragma omp parallel for num_threads(cf_threads(cfg->threads)) schedule(static) reduction(+ : unseen)
        for (int64_t j = 0; j < test.n; j++)
            unseen += R.row_ptr[test.u[j] + 1] == R.row_ptr[test.u[j]] || R.col_ptr[test.i[j] + 1] == R.col_ptr[test.i[j]];
        rep->test_unseen = unseen;
    }

    uint64_t data_hash = opt->checkpoint || opt->resume ? cf_checkpoint_data_hash(&R, &test, ds->users, ds->items) : 0;
    if (!cfg->bias) { /* the unseen test pairs: μ (see train_ctx) */
        int64_t kept = 0;
        for (int64_t j = 0; j < test.n; j++) {
            uint32_t u = test.u[j], i = test.i[j];
            if (R.row_ptr[u + 1] > R.row_ptr[u] && R.col_ptr[i + 1] > R.col_ptr[i]) {
                test.u[kept] = u, test.i[kept] = i, test.r[kept] = test.r[j];
                kept++;
                continue;
            }
            double e = (double)test.r[j] - R.mean;
            c.unseen_sse += e * e, c.unseen_sae += fabs(e), c.unseen_n++;
        }
        test.n = kept;
    }
    if (opt->resume) {
        if ((st = check_resume(&c, &S, data_hash, n_train, test.n, err))) goto done;
        if (strcmp(S.backend, ops->name) != 0) {
            /* backends round differently (the CPU's two paths too): a resume continues on the
             * one that wrote the checkpoint, as a run without the stop would have */
            const int was_gpu = strcmp(S.backend, "gpu") == 0, was64 = strcmp(S.backend, cf_cpu_backend.name) == 0;
            st = cf_fail(err, CF_ERR_INVALID,
                         "%s: the checkpoint was written by the %s backend and this run would use %s; "
                         "resume with %s",
                         opt->resume, S.backend, ops->name,
                         was_gpu                   ? "--device gpu (where a GPU is usable)"
                         : cf_backend_is_cpu(ops) ? (was64 ? "--precision fp64" : "--precision fp32")
                         : was64                  ? "--device cpu --precision fp64"
                                                  : "--device cpu");
            goto done;
        }
        c.resuming = 1;
        rep->resumed_from = S.iter;
    } else {
        if ((st = cf_factors_alloc(&S.cur, n_users, n_items, cfg->factors, cfg->bias, err))) goto done;
        S.best_score = INFINITY;
    }
    S.cfg = *cfg;
    S.data_hash = data_hash;
    S.n_train = n_train, S.n_test = test.n;
    snprintf(S.backend, sizeof S.backend, "%s", ops->name);
    if ((st = cf_factors_alloc(&trial, n_users, n_items, cfg->factors, cfg->bias, err))) goto done;

    if (!opt->resume) { /* the first run's initialization while "preparing" is still shown */
        init_factors(&c, cfg->seed); /* restart 0's seed */
        c.ready = 1;
    }
    rep->seconds_prepare = cf_now() - t_start;
    phase_mark(opt, "preparing", 1);
    /* Restarts: independent initializations; keep the best by test RMSE (by the
     * objective when there is no test part) in S.result. */
    for (; S.restart < cfg->restarts; S.restart++) {
        uint64_t seed = cf_config_restart_seed(cfg, S.restart);
        memset(&res, 0, sizeof res);
        st = run_once(&c, seed, &trial, &res, err);
        if (st && res.open_failed && !cf_backend_is_cpu(c.ops) && cf_train_falls_back(cfg->device, st)) {
            /* --device auto: the GPU cannot take this run; the CPU can */
            char msg[CF_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err ? err->msg : cf_status_name(st));
            size_t n = strlen(msg), tail = strlen("; try --device cpu");
            if (n >= tail && strcmp(msg + n - tail, "; try --device cpu") == 0) msg[n - tail] = 0;
            snprintf(rep->notice, sizeof rep->notice, "GPU: %s: using the CPU", msg);
            cf_error_clear(err);
            c.ops = cf_cpu_backend_for(cfg);
            snprintf(S.backend, sizeof S.backend, "%s", c.ops->name);
            memset(&res, 0, sizeof res);
            st = run_once(&c, seed, &trial, &res, err);
        }
        if (st) goto done;
        double score = test.n ? res.last.test_rmse : res.last.objective;
        if (!S.have_result || score < S.best_score) { /* swap the better run into S.result */
            cf_factors tmp = S.result;
            S.result = trial;
            trial = tmp;
            if (!trial.P && (st = cf_factors_alloc(&trial, n_users, n_items, cfg->factors, cfg->bias, err)))
                goto done;
            S.have_result = 1;
            S.best_score = score;
            S.result_iters = res.iters;
            S.result_stop = res.stop;
            S.result_last = res.last;
        }
    }
    rep->iters = S.result_iters;
    rep->train_rmse = S.result_last.train_rmse;
    rep->test_rmse = S.result_last.test_rmse;
    rep->objective = S.result_last.objective;
    rep->restart = S.result_last.restart;
    rep->model_iter = S.result_last.iter;
    snprintf(rep->stop_reason, sizeof rep->stop_reason, "%s", cf_stop_names[S.result_stop]);
    snprintf(rep->device, sizeof rep->device, "%s", res.device);

    cf_model *m = NULL;
    if ((st = trained_model(&R, ds->users, ds->items, &S.result, cfg, &m, err))) goto done;
    *out = m;
    rep->seconds = cf_now() - t_start;
done:
    if (st == CF_ERR_INTERRUPTED) { /* how far it got */
        rep->iters = S.iter;
        snprintf(rep->stop_reason, sizeof rep->stop_reason, "interrupted");
        snprintf(rep->device, sizeof rep->device, "%s", res.device);
        rep->seconds = cf_now() - t_start;
    }
    cf_triplets_free(&test);
    cf_ratings_free(&R);
    cf_factors_free(&trial);
    cf_train_state_free(&S);
    free(c.init_u), free(c.init_i);
    return st;
}

int cf_backend_implements(const cf_backend_ops *ops, cf_algo a) { return implements(ops, a); }

double cf_config_lr(const cf_config *cfg, int32_t epoch) { return lr_at(cfg, epoch); }

uint64_t cf_config_restart_seed(const cf_config *cfg, int32_t restart) {
    return cfg->seed + (uint64_t)restart * 0x9e3779b97f4a7c15ULL;
}

int cf_config_continue_lr(cf_config *cfg, const cf_config *from) {
    if (from->lr_schedule != CF_LR_INVSCALE || from->iters < 1) return 0;
    cfg->lr = lr_at(from, from->iters - 1), cfg->lr_schedule = CF_LR_INVSCALE;
    return 1;
}

cf_status cf_train_step(const cf_backend_ops *ops, cf_backend *b, const cf_config *cfg, int32_t epoch,
                        cf_error *err) {
    return step(ops, b, cfg, epoch, err);
}

cf_status cf_train_evaluate(const cf_backend_ops *ops, cf_backend *b, cf_eval *train, cf_eval *test, cf_error *err) {
    if (ops->evaluate_all) return ops->evaluate_all(b, train, test, err);
    cf_status st = ops->evaluate(b, CF_EVAL_TRAIN, train, err);
    return st ? st : ops->evaluate(b, CF_EVAL_TEST, test, err);
}
