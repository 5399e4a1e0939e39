/*
 * alsgd.c — ALS with inexact block updates: the ALS alternation, but each row of the
 * side being updated takes cfg.inner gradient steps on its block problem instead of
 * the exact solve (CPU reference).
 *
 * Block problem of one row (other side fixed), DESIGN.md §2, for a user u:
 *   x = [p_u; b_u],  z_j = [q_j; 1],  t_j = r_uj − μ − b_j   (j ∈ I_u, the row's items)
 *   f(x) = Σ_j (t_j − z_jᵀx)² + Λ_u ‖p_u‖² + Λb_u b_u²  =  xᵀA x − 2 cᵀx + const,
 *   A = ZᵀZ + D_u,  D_u = diag(Λ_u, …, Λ_u, Λb_u),  c = Zᵀt,
 *   ∇f(x) = 2(A x − c) = −2 Σ_j (t_j − z_jᵀx) z_j + 2 D_u x,
 * Λ_u = cf_reg_lambda(reg, λ, n_u, |Ω|), Λb_u = cf_bias_reg_lambda(cfg, n_u, |Ω|) (Λ_u by
 * default, D_u = Λ_u I). Without biases x = p_u, z_j = q_j, t_j = r_uj, D_u = Λ_u I. Items
 * are the same with the roles swapped.
 * The exact minimizer A⁻¹c is the ALS update; here x ← x − h ∇f(x), cfg.inner times.
 *
 * Step size. ∇f is Lipschitz with constant 2‖A‖₂ ≤ 2(‖Z‖_F² + max(Λ_u, Λb_u)), so where
 * Λb_u ≤ Λ_u (by default Λb = Λ) the per-row step
 *   h = 1 / (2 (Σ_j ‖z_j‖² + Λ_u))
 * decreases f at every step whatever the data, and the sweep never increases L (like
 * ALS). One --lr cannot fit every row of the sum objective (a row's curvature grows
 * with its count), so this solver uses h and ignores the lr passed by the trainer.
 * Against the exact Lipschitz step h* = 1/(2‖A‖₂), h = h* · ‖A‖₂/(‖Z‖_F² + Λ) ≤ h*;
 * with biases the constant column of Z carries much of ‖Z‖_F², so little is lost, and
 * h costs O(n_row·K) where ‖A‖₂ would need A itself or a power iteration.
 * Where Λb_u > Λ_u, that bound's max(Λ_u, Λb_u) would shrink the factors' step with the
 * bias's curvature (a large λ_b would all but stop p_u). There the steps are those of
 * gradient descent in the rescaled unknowns [p; β], b = s β, whose matrix is A' = S A S,
 * S = diag(1, …, 1, s), D' = S D_u S:
 *   s² = min(1, (‖Z‖_F² + Λ_u) / (n_u + Λb_u))     (the bias's curvature cut to the
 *                                                     factors' bound)
 *   h  = 1 / (2 (Σ_j ‖y_j‖² + s² n_u + max(Λ_u, s² Λb_u)))  = 1 / (2 (‖Z S‖_F² + max D'))
 *   p ← p − h ∇_p f,   b ← b − h s² ∂f/∂b              (β ← β − h ∂f/∂β)
 * It is the same f in other coordinates, so every step still decreases it; and as
 * s²Λb_u ≤ ‖Z‖_F² + Λ_u − s² n_u, h ≥ 1 / (4 (‖Z‖_F² + Λ_u)): at least half the factors'
 * step of Λb = Λ, however large λ_b.
 * As cfg.inner → ∞ the update converges to the exact ALS block solve.
 *
 * Rows without ratings are set to zero. Rows are independent: OpenMP over rows, each
 * row computed by one thread in a fixed order (identical for any thread count). The
 * updated rows are checked for finiteness (CF_ERR_NUMERIC names the 1-based
 * iteration — the count of user half-steps — and the first bad row). That count is the
 * solver's only state (checkpoints: cf_cpu_alsgd_state_export / _import).
 */
#include "cpu.h"
#include "solvers.h"

#include "common.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct alsgd_state {
    int64_t iteration; /* user half-steps done (an ALS iteration = users then items) */
} alsgd_state;

static void alsgd_state_free(void *p) { free(p); }

static alsgd_state *alsgd_state_get(cf_backend *b, cf_error *err) {
    alsgd_state *s = cf_cpu_state_get(b, alsgd_state_free);
    if (!s && (s = cf_calloc(1, sizeof *s, err, "alsgd state"))) cf_cpu_state_set(b, s, alsgd_state_free);
    return s;
}

cf_status cf_cpu_alsgd_state_export(cf_backend *b, cf_solver_state *out, cf_error *err) {
    (void)err;
    memset(out, 0, sizeof *out);
    alsgd_state *s = cf_cpu_state_get(b, alsgd_state_free);
    out->counter = s ? s->iteration : 0;
    return CF_OK;
}

cf_status cf_cpu_alsgd_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err) {
    if (in->has_moments || in->counter < 0)
        return cf_fail(err, CF_ERR_INVALID, "alsgd state: %s", in->has_moments ? "unexpected moments" : "count < 0");
    alsgd_state *s = alsgd_state_get(b, err);
    if (!s) return CF_ERR_NOMEM;
    s->iteration = in->counter;
    return CF_OK;
}

cf_status cf_cpu_alsgd_half(cf_backend *b, cf_side side, double lr, cf_error *err) {
    (void)lr; /* the per-row step h of the header comment is used instead */
    alsgd_state *s = alsgd_state_get(b, err);
    if (!s) return CF_ERR_NOMEM;
    if (side == CF_SIDE_USERS) s->iteration++;

    cf_side_view v = cf_cpu_side(b, side);
    const cf_factors *f = &b->f;
    int32_t K = f->k, bias = f->bias, D = K + bias; /* unknowns per row */
    int64_t nnz = b->R->nnz, inner = b->cfg.inner;
    double *scratch = cf_malloc((size_t)b->threads * (size_t)D * sizeof *scratch, err,
                                "alsgd gradient rows");
    if (!scratch) return CF_ERR_NOMEM;
    int64_t bad_row = -1;

#pragma omp parallel num_threads(b->threads)
    {
        double *grad = scratch + (size_t)omp_get_thread_num() * (size_t)D;
#pragma omp for schedule(dynamic, 16)
        for (int64_t r = 0; r < v.n_rows; r++) {
            if (cf_cpu_stop_poll(b->stop)) continue; /* Ctrl-C: skip the rest of the half-step */
            double *x = v.X + (size_t)r * (size_t)K; /* x[0..K) = p; the bias is v.bx[r] */
            double xb = bias ? v.bx[r] : 0.0;
            int64_t lo = v.ptr[r], hi = v.ptr[r + 1];
            if (lo == hi) {
                memset(x, 0, (size_t)K * sizeof *x);
                if (bias) v.bx[r] = 0.0;
                continue;
            }
            double lam = cf_reg_lambda(b->cfg.reg, b->cfg.lambda, hi - lo, nnz);
            double lamb = bias ? cf_bias_reg_lambda(&b->cfg, hi - lo, nnz) : lam; /* Λb */
            /* h = 1 / (2 (‖Z‖_F² + Λ)); yy = Σ‖y‖² alone, for the rescaled bias */
            double fro = bias ? (double)(hi - lo) : 0.0, yy = 0.0;
            for (int64_t e = lo; e < hi; e++) {
                const double *y = v.Y + (size_t)v.idx[e] * (size_t)K;
                for (int32_t k = 0; k < K; k++) {
                    const double y2 = y[k] * y[k];
                    fro += y2, yy += y2;
                }
            }
            double s2 = 1.0, dmax = lam; /* s², max(Λ, s²Λb) */
            if (lamb > lam) { /* rescaled bias (the header): h = 1 / (2 (Σ‖y‖² + s²n + max(Λ, s²Λb))) */
                const double n = (double)(hi - lo);
                s2 = (fro + lam) / (n + lamb);
                if (s2 > 1.0) s2 = 1.0;
                fro = yy + s2 * n;
                dmax = s2 * lamb > lam ? s2 * lamb : lam;
            }
            double h = 1.0 / (2.0 * (fro + dmax)), hb = h * s2; /* the steps of p and of b */
            for (int64_t step = 0; step < inner; step++) {
                /* ∇f = 2Dx − 2 Σ_j (t_j − z_jᵀx) z_j,  D = diag(Λ, …, Λ, Λb) */
                for (int32_t k = 0; k < K; k++) grad[k] = 2.0 * lam * x[k];
                if (bias) grad[K] = 2.0 * lamb * xb;
                for (int64_t e = lo; e < hi; e++) {
                    const double *y = v.Y + (size_t)v.idx[e] * (size_t)K;
                    double t = (double)v.val[e] - (bias ? f->mu + v.by[v.idx[e]] : 0.0);
                    double zx = xb;
                    for (int32_t k = 0; k < K; k++) zx += y[k] * x[k];
                    double res2 = 2.0 * (t - zx);
                    for (int32_t k = 0; k < K; k++) grad[k] -= res2 * y[k];
                    if (bias) grad[K] -= res2;
                }
                for (int32_t k = 0; k < K; k++) x[k] -= h * grad[k];
                if (bias) xb -= hb * grad[K];
            }
            if (bias) v.bx[r] = xb;
            int finite = isfinite(xb);
            for (int32_t k = 0; k < K; k++) finite &= isfinite(x[k]) != 0;
            if (!finite) {
#pragma omp critical(cf_alsgd_bad)
                if (bad_row < 0 || r < bad_row) bad_row = r;
            }
        }
    }
    free(scratch);
    cf_status ist = cf_cpu_interrupted(b->stop, "alsgd", err);
    if (ist) return ist;
    if (bad_row >= 0)
        return cf_fail(err, CF_ERR_NUMERIC,
                       "alsgd: non-finite value at iteration %lld in %s row %lld; check the "
                       "ratings and --lambda (the step size is chosen per row)",
                       (long long)s->iteration, side == CF_SIDE_USERS ? "user" : "item",
                       (long long)bad_row);
    return CF_OK;
}
