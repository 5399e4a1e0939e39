/*
 * ccd.c — cyclic coordinate descent (CPU reference): one coordinate of one row at a
 * time, minimized exactly with everything else fixed.
 *
 * Objective (DESIGN.md §1, sum form), Λ_u = cf_reg_lambda(reg, λ, n_u, |Ω|) on the
 * factors, Λb_u = cf_bias_reg_lambda(cfg, n_u, |Ω|) on the bias (Λb = Λ by default):
 *   L = Σ_{(u,i)∈Ω} e_ui² + Σ_u (Λ_u ‖p_u‖² + Λb_u b_u²) + Σ_i (Λ_i ‖q_i‖² + Λb_i b_i²),
 *   e_ui = r_ui − r̂_ui.
 * As a function of one coordinate p_uk alone, e_ui = (e_ui + p_uk q_ik) − p_uk q_ik, so
 *   L(p_uk) = Σ_{i∈I_u} (ê_ui − p_uk q_ik)² + Λ_u p_uk² + const,  ê_ui = e_ui + p_uk q_ik,
 * minimized at
 *   p_uk ← Σ_i ê_ui q_ik / (Λ_u + Σ_i q_ik²)
 *        = (Σ_i e_ui q_ik + p_uk Σ_i q_ik²) / (Λ_u + Σ_i q_ik²),
 * then every e_ui of the row moves by −(p_uk_new − p_uk_old) q_ik. The bias is its own
 * coordinate (its "q_ik" is 1, its weight Λb_u):  b_u ← (Σ_i e_ui + n_u b_u) / (Λb_u + n_u).
 * Where the denominator is 0 (Λ = 0 and the column of the other side is all zero) the
 * coordinate does not enter L and is set to 0.
 *
 * One sweep: for each user, coordinates p_u1 .. p_uK then b_u (when cfg.bias); then the
 * same for each item. The residuals e live in one array indexed like the side's
 * compressed layout (CSR for users, CSC for items), recomputed from the factors when the
 * sweep switches side, so a sweep costs O(nnz·K). Rows of one side do not interact
 * (each coordinate touches only its own row's residuals), so OpenMP over rows gives the
 * same result as the sequential order for any thread count.
 * Rows without ratings are set to zero; after each sweep every factor is checked for
 * finiteness (CF_ERR_NUMERIC names the 1-based sweep and the first bad row). The sweep
 * count is the solver's only state across sweeps (the residuals are recomputed), which
 * is what checkpoints keep (cf_cpu_ccd_state_export / _import).
 */
#include "cpu.h"
#include "solvers.h"

#include "common.h"

#include <stdlib.h>
#include <string.h>

typedef struct ccd_state {
    double *res;    /* residuals of the side being updated, in its compressed order */
    int64_t sweeps; /* sweeps done */
} ccd_state;

static void ccd_state_free(void *p) {
    ccd_state *s = p;
    if (!s) return;
    free(s->res);
    free(s);
}

/* One half-sweep: every coordinate of every row of `side`, residuals refreshed first. */
static void ccd_half(cf_backend *b, cf_side side, double *res) {
    cf_side_view v = cf_cpu_side(b, side);
    const cf_factors *f = &b->f;
    int32_t K = f->k, bias = f->bias;
    int64_t nnz = b->R->nnz;

#pragma omp parallel for num_threads(b->threads) schedule(dynamic, 16)
    for (int64_t r = 0; r < v.n_rows; r++) {
        if (cf_cpu_stop_poll(b->stop)) continue; /* Ctrl-C: skip the rest of the sweep */
        double *x = v.X + (size_t)r * (size_t)K;
        int64_t lo = v.ptr[r], hi = v.ptr[r + 1];
        double lam = cf_reg_lambda(b->cfg.reg, b->cfg.lambda, hi - lo, nnz);
        double lamb = bias ? cf_bias_reg_lambda(&b->cfg, hi - lo, nnz) : lam; /* Λb */
        /* e = r − r̂ for this row's entries */
        for (int64_t e = lo; e < hi; e++) {
            uint32_t j = v.idx[e];
            const double *y = v.Y + (size_t)j * (size_t)K;
            double pred = bias ? f->mu + v.bx[r] + v.by[j] : 0.0;
            for (int32_t k = 0; k < K; k++) pred += x[k] * y[k];
            res[e] = (double)v.val[e] - pred;
        }
        for (int32_t k = 0; k < K; k++) {
            /* x_k ← (Σ e y_k + x_k Σ y_k²) / (Λ + Σ y_k²) */
            double ey = 0.0, yy = 0.0;
            for (int64_t e = lo; e < hi; e++) {
                double yk = v.Y[(size_t)v.idx[e] * (size_t)K + (size_t)k];
                ey += res[e] * yk;
                yy += yk * yk;
            }
            double den = lam + yy;
            double xk = den > 0.0 ? (ey + x[k] * yy) / den : 0.0;
            double delta = xk - x[k];
            x[k] = xk;
            for (int64_t e = lo; e < hi; e++)
                res[e] -= delta * v.Y[(size_t)v.idx[e] * (size_t)K + (size_t)k];
        }
        if (bias) {
            /* b ← (Σ e + n b) / (Λb + n) */
            double esum = 0.0, n = (double)(hi - lo);
            for (int64_t e = lo; e < hi; e++) esum += res[e];
            double den = lamb + n;
            double xb = den > 0.0 ? (esum + n * v.bx[r]) / den : 0.0;
            double delta = xb - v.bx[r];
            v.bx[r] = xb;
            for (int64_t e = lo; e < hi; e++) res[e] -= delta;
        }
    }
}

static ccd_state *ccd_state_get(cf_backend *b, cf_error *err) {
    ccd_state *s = cf_cpu_state_get(b, ccd_state_free);
    if (s) return s;
    if (!(s = cf_calloc(1, sizeof *s, err, "ccd state"))) return NULL;
    if (!(s->res = cf_malloc((size_t)b->R->nnz * sizeof *s->res, err, "ccd residuals"))) {
        free(s);
        return NULL;
    }
    cf_cpu_state_set(b, s, ccd_state_free);
    return s;
}

cf_status cf_cpu_ccd_state_export(cf_backend *b, cf_solver_state *out, cf_error *err) {
    (void)err;
    memset(out, 0, sizeof *out);
    ccd_state *s = cf_cpu_state_get(b, ccd_state_free);
    out->counter = s ? s->sweeps : 0;
    return CF_OK;
}

cf_status cf_cpu_ccd_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err) {
    if (in->has_moments || in->counter < 0)
        return cf_fail(err, CF_ERR_INVALID, "ccd state: %s", in->has_moments ? "unexpected moments" : "count < 0");
    ccd_state *s = ccd_state_get(b, err);
    if (!s) return CF_ERR_NOMEM;
    s->sweeps = in->counter;
    return CF_OK;
}

cf_status cf_cpu_ccd_sweep(cf_backend *b, cf_error *err) {
    ccd_state *s = ccd_state_get(b, err);
    if (!s) return CF_ERR_NOMEM;
    s->sweeps++;
    cf_cpu_zero_empty_rows(b);
    ccd_half(b, CF_SIDE_USERS, s->res);
    cf_status ist = cf_cpu_interrupted(b->stop, "ccd", err);
    if (ist) return ist;
    ccd_half(b, CF_SIDE_ITEMS, s->res);
    if ((ist = cf_cpu_interrupted(b->stop, "ccd", err))) return ist;
    return cf_cpu_check_finite(b, "ccd", "sweep", s->sweeps,
                               "check the ratings and --lambda (--reg weighted is the most stable)",
                               err);
}
