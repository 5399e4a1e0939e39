/*
 * verify.c — the GPU against the CPU reference, iteration by iteration (cf_verify in
 * cufactor.h). Both backends open with the identical initial factors — the trainer's
 * initialization from cfg->seed — and are stepped by the trainer's own iteration
 * (cf_train_step), so the only difference left is the arithmetic: fp32 on the device,
 * fp64 in the reference.
 *
 * After iteration t both are evaluated (objective L = sse + reg, test RMSE) and both
 * factor sets downloaded. For every row x = (p_u, b_u) of P and (q_i, b_i) of Q:
 *     rel(x) = ‖x_cand − x_ref‖₂ / max(‖x_cand‖₂, ‖x_ref‖₂)      (0 when both are 0)
 * which lies in [0, 2] and does not explode on rows that are nearly zero in one run.
 * The iteration agrees when
 *     median rel ≤ rtol,   max rel ≤ max_rtol,   |ΔL| ≤ rtol·|L_ref|,
 *     |ΔRMSE_test| ≤ rmse_rtol·RMSE_test,ref.
 * SGD with a schedule whose order is not fixed on the device (anything but blocks) is
 * judged by the test RMSE alone: its factors legitimately differ row by row (the CPU
 * runs hogwild as its shuffle order, src/cpu/sgd.c).
 *
 * The reference is always the double-precision CPU backend (cf_cpu_backend). The
 * candidate is the GPU, or with candidate = cpu the CPU path that --precision selects
 * (cf_cpu_backend_for): the fp32 SIMD path by default (ALS and SGD; the others fall to
 * the reference), or with fp64 the reference itself, every difference then exactly 0.
 */
#include "backend.h"
#include "common.h"
#include "dataset.h"
#include "factors.h"
#include "ratings.h"
#include "train.h"
#include "verify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The defaults, from the first GPU run (NVIDIA H200, 2026-12-04, commit 4a68aec:
 * bench/results/h200-2026-12-04/verify.jsonl, 5 M ratings, 3 iterations each, and the
 * cr_log_info lines of test_gpu_als.log there), with headroom for the kernels to come (a
 * fused Gram+RHS+solve for ALS, new hogwild / blocks SGD kernels):
 *   rtol 1e-4:      worst median rel 5.72e-7 (verify-als-k100, iteration 3; SGD blocks
 *                   1.89e-7; test_gpu_als's five-iteration verify 1.60e-6) and worst |ΔL|/L
 *                   7.67e-9 (verify-als-k100): ≈ 60× the largest median;
 *   max_rtol 1e-2:  worst max rel 7.33e-6 (verify-als-k100, user 20432); the largest per-row
 *                   difference anywhere in that run is 2.39e-4 (test_gpu_als half_step_*, item
 *                   row 854 of the fixture, its most-rated item: fp32 accumulation over a long
 *                   row, which grows with the row's length): ≈ 40× that;
 *   rmse_rtol 1e-2: worst |ΔRMSE|/RMSE 2.33e-3 (verify-sgd-hogwild-k128, iteration 1, judged
 *                   by the RMSE alone against the CPU's shuffle; ALS and blocks ≤ 6.8e-9):
 *                   ≈ 4× that, as a new hogwild kernel changes the update order further.
 * Before that run they were 1e-3, 5e-2, 5e-3 (estimates from fp32's unit roundoff). */
void cf_verify_options_default(cf_verify_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->candidate = CF_DEVICE_GPU;
    opt->rtol = 1e-4;
    opt->max_rtol = 1e-2;
    opt->rmse_rtol = 1e-2;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y); /* NaN sorts last */
    return (x > y) - (x < y);
}

static double row_rel(const double *a, const double *b, int32_t k, double ba, double bb) {
    double d = (ba - bb) * (ba - bb), na = ba * ba, nb = bb * bb;
    for (int32_t j = 0; j < k; j++) {
        d += (a[j] - b[j]) * (a[j] - b[j]);
        na += a[j] * a[j];
        nb += b[j] * b[j];
    }
    if (isnan(d) || isnan(na) || isnan(nb)) return NAN; /* a non-finite row differs most */
    double den = sqrt(na > nb ? na : nb);
    return den > 0 ? sqrt(d) / den : 0.0;
}

void cf_verify_compare_rows(const cf_factors *ref, const cf_factors *cand, double *rel, cf_verify_iter *it) {
    int64_t n = ref->n_users + ref->n_items;
    int32_t k = ref->k;
    it->rel_max = 0;
    snprintf(it->rel_max_row, sizeof it->rel_max_row, "-");
    for (int64_t r = 0; r < n; r++) {
        int user = r < ref->n_users;
        int64_t i = user ? r : r - ref->n_users;
        const double *a = user ? ref->P + i * k : ref->Q + i * k;
        const double *b = user ? cand->P + i * k : cand->Q + i * k;
        double ba = user ? ref->bu[i] : ref->bi[i], bb = user ? cand->bu[i] : cand->bi[i];
        rel[r] = row_rel(a, b, k, ba, bb);
        if (!isnan(it->rel_max) && !(rel[r] <= it->rel_max)) { /* the first NaN is the worst */
            it->rel_max = rel[r];
            snprintf(it->rel_max_row, sizeof it->rel_max_row, "%s %lld", user ? "user" : "item", (long long)i);
        }
    }
    qsort(rel, (size_t)n, sizeof *rel, cmp_double);
    it->rel_median = n == 0 ? 0.0 : n % 2 ? rel[n / 2] : 0.5 * (rel[n / 2 - 1] + rel[n / 2]);
}

static double rel_diff(double cand, double ref) {
    if (cand == ref) return 0.0;
    return fabs(cand - ref) / fabs(ref);
}

int cf_verify_judge(cf_verify_iter *it, const cf_verify_options *opt, double *d_obj, double *d_rmse) {
    *d_obj = rel_diff(it->obj_cand, it->obj_ref);
    *d_rmse = isnan(it->test_ref) && isnan(it->test_cand) ? 0.0 : rel_diff(it->test_cand, it->test_ref);
    int ok = *d_rmse <= opt->rmse_rtol;
    if (it->rows_checked)
        ok = ok && it->rel_median <= opt->rtol && it->rel_max <= opt->max_rtol && *d_obj <= opt->rtol;
    return it->ok = ok;
}

static cf_status candidate_ops(const cf_verify_options *opt, const cf_config *cfg, const cf_backend_ops **out,
                               cf_error *err) {
    if (opt->candidate == CF_DEVICE_CPU) { /* the CPU path --precision selects */
        *out = cf_cpu_backend_for(cfg);
        return CF_OK;
    }
    if (opt->candidate != CF_DEVICE_GPU)
        return cf_fail(err, CF_ERR_INVALID, "verify: candidate must be gpu or cpu, not %s",
                       cf_device_name(opt->candidate));
    if (cfg->precision == CF_PRECISION_FP64)
        return cf_fail(err, CF_ERR_INVALID,
                       "verify: --precision fp64 is the reference itself; the GPU candidate computes in fp32");
    char why[200] = "";
    int usable = cf_gpu_available(why, sizeof why);
    const cf_backend_ops *gpu = cf_gpu_backend();
    if (!gpu || !usable)
        return cf_fail(err, CF_ERR_UNSUPPORTED, "verify needs a usable GPU: %s", why);
    if (!cf_backend_implements(gpu, cfg->algo))
        return cf_fail(err, CF_ERR_UNSUPPORTED, "verify: the GPU backend does not implement --algo %s yet",
                       cf_algo_name(cfg->algo));
    *out = gpu;
    return CF_OK;
}

cf_status cf_verify(const cf_dataset *ds, const cf_config *cfg, const cf_verify_options *opt_in, cf_verify_fn fn,
                    void *user, cf_verify_report *rep, cf_error *err) {
    cf_verify_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    const double t_start = cf_now();
    cf_error_clear(err);
    cf_verify_options opt;
    if (opt_in) opt = *opt_in;
    else cf_verify_options_default(&opt);
    if (!ds) return cf_fail(err, CF_ERR_INVALID, "cf_verify: dataset is NULL");
    cf_status st = cf_config_validate(cfg, err);
    if (st) return st;
    if (!(opt.rtol >= 0) || !(opt.max_rtol >= 0) || !(opt.rmse_rtol >= 0))
        return cf_fail(err, CF_ERR_INVALID, "verify: tolerances must be non-negative numbers");
    const cf_backend_ops *ref_ops = &cf_cpu_backend, *cand_ops = NULL;
    if ((st = candidate_ops(&opt, cfg, &cand_ops, err))) return st;

    cf_triplets test = {0};
    cf_ratings R = {0};
    cf_factors init = {0}, fr = {0}, fc = {0};
    cf_backend *br = NULL, *bc = NULL;
    double *rel = NULL;
    if ((st = cf_train_data(ds, cfg->threads, "verify: ", &R, &test, err))) goto done;
    const int64_t n_users = R.n_users, n_items = R.n_items;
    cf_config resolved; /* the settings cf_train would choose (iters, lr, batch, optimizer) */
    cf_config_resolve_ratings(cfg, &R, &resolved);
    cfg = &resolved;

    /* the trainer's initialization (first restart) */
    if ((st = cf_factors_alloc(&init, n_users, n_items, cfg->factors, cfg->bias, err))) goto done;
    cf_factors_init_random_threads(&init, cfg->init_scale, cfg->seed, cfg->threads);
    init.mu = cfg->bias ? R.mean : 0.0;
    if ((st = cf_factors_alloc(&fr, n_users, n_items, cfg->factors, cfg->bias, err))) goto done;
    if ((st = cf_factors_alloc(&fc, n_users, n_items, cfg->factors, cfg->bias, err))) goto done;
    rel = malloc((size_t)(n_users + n_items + 1) * sizeof *rel);
    if (!rel) {
        st = cf_fail(err, CF_ERR_NOMEM, "verify: out of memory");
        goto done;
    }
    double t_open = cf_now();
    rep->seconds_prepare = t_open - t_start;
    if ((st = ref_ops->open(&R, &test, cfg, &init, &br, err))) goto done;
    rep->seconds_reference += cf_now() - t_open, t_open = cf_now();
    if ((st = cand_ops->open(&R, &test, cfg, &init, &bc, err))) goto done;
    rep->seconds_upload += cf_now() - t_open;
    snprintf(rep->ref_device, sizeof rep->ref_device, "%s", ref_ops->device_name(br));
    snprintf(rep->cand_device, sizeof rep->cand_device, "%s", cand_ops->device_name(bc));
    if (cand_ops->notice && cand_ops->notice(bc))
        snprintf(rep->notice, sizeof rep->notice, "%s", cand_ops->notice(bc));

    int check_rows = !(cfg->algo == CF_ALGO_SGD && cfg->schedule != CF_SCHED_BLOCKS);
    for (int32_t t = 0; t < cfg->iters; t++) {
        cf_eval rtr, rte, ctr, cte;
        double t0 = cf_now();
        if ((st = cf_train_step(ref_ops, br, cfg, t, err))) goto done;
        if ((st = cf_train_evaluate(ref_ops, br, &rtr, &rte, err))) goto done;
        if ((st = ref_ops->download(br, &fr, err))) goto done;
        double t1 = cf_now();
        rep->seconds_reference += t1 - t0;
        if ((st = cf_train_step(cand_ops, bc, cfg, t, err))) goto done;
        if ((st = cf_train_evaluate(cand_ops, bc, &ctr, &cte, err))) goto done;
        if ((st = cand_ops->download(bc, &fc, err))) goto done;
        double t2 = cf_now();
        rep->seconds_candidate += t2 - t1;

        cf_verify_iter it = {
            .iter = t + 1,
            .obj_ref = rtr.sse + rtr.reg,
            .obj_cand = ctr.sse + ctr.reg,
            .test_ref = rte.n ? sqrt(rte.sse / (double)rte.n) : NAN,
            .test_cand = cte.n ? sqrt(cte.sse / (double)cte.n) : NAN,
            .rows_checked = check_rows,
        };
        cf_verify_compare_rows(&fr, &fc, rel, &it);
        double d_obj, d_rmse;
        int ok = cf_verify_judge(&it, &opt, &d_obj, &d_rmse);
        rep->iters = t + 1;
        rep->failed += !ok;
        if (check_rows) {
            if (!(it.rel_median <= rep->worst_median)) rep->worst_median = it.rel_median;
            if (!(it.rel_max <= rep->worst_max)) rep->worst_max = it.rel_max;
            if (!(d_obj <= rep->worst_obj)) rep->worst_obj = d_obj;
        }
        if (!(d_rmse <= rep->worst_rmse)) rep->worst_rmse = d_rmse;
        rep->seconds_compare += cf_now() - t2;
        if (fn && fn(&it, user)) break;
    }
done:
    if (br) ref_ops->close(br);
    if (bc) cand_ops->close(bc);
    cf_triplets_free(&test);
    cf_ratings_free(&R);
    cf_factors_free(&init);
    cf_factors_free(&fr);
    cf_factors_free(&fc);
    free(rel);
    return st;
}
