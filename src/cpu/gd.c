/*
 * gd.c — full-batch and mini-batch gradient descent through the sparse residual
 * matrix (CPU reference), with a plain or an Adam step.
 *
 * Objective (DESIGN.md §1, sum form), Λ_u = cf_reg_lambda(reg, λ, n_u, |Ω|) on the
 * factors, Λb_u = cf_bias_reg_lambda(cfg, n_u, |Ω|) on the bias (Λb = Λ by default):
 *   L = Σ_{(u,i)∈Ω} e_ui² + Σ_u (Λ_u ‖p_u‖² + Λb_u b_u²) + Σ_i (Λ_i ‖q_i‖² + Λb_i b_i²),
 *   e_ui = r_ui − r̂_ui, the sparse residual matrix E (the pattern of R).
 * Gradient (Λ_u, Λ_i as diagonal matrices):
 *   ∇_P L = −2 E Q + 2 Λ_u P          ∇b_u = −2 Σ_{i∈I_u} e_ui + 2 Λb_u b_u
 *   ∇_Q L = −2 Eᵀ P + 2 Λ_i Q         ∇b_i = −2 Σ_{u∈U_i} e_ui + 2 Λb_i b_i
 * E is computed once per step (one pass over the CSR); E Q row by row over the CSR,
 * Eᵀ P row by row over the CSC (through a CSC → CSR index map): every gradient row is
 * summed by one thread in a fixed order, so the result is the same for any thread count.
 *
 * Full batch (CF_ALGO_GD): an epoch is one simultaneous step θ ← θ − η g(θ) on all
 * parameters, g from the same E. The step is fixed (no backtracking): with the sum
 * objective a stable η is below about 1 / (2 max_row n_row ‖y‖²), so heavy rows call for
 * a small --lr; the non-finite guard stops a diverging run.
 *
 * Mini-batch (CF_ALGO_MINIBATCH): an epoch visits the ratings in a seeded permutation
 * (the scatter permutation of schedule.h, drawn on cfg.threads with the same result for
 * any count; stream CF_STREAM_MINIBATCH, index = epoch) cut into batches of cfg.batch
 * (the last one may be shorter). A batch S takes one step with
 *   g_S = −2 Σ_{(u,i)∈S} e_ui ∂r̂_ui/∂θ  +  (|S| / |Ω|) · 2 Λ θ   (every row, every batch;
 *   Λb for a bias),
 * an unbiased estimate of (|S|/|Ω|) ∇L: over one epoch the regularization adds up to
 * exactly one full-batch worth. The residuals of a batch are computed in parallel; their
 * data terms are added to the gradient rows sequentially in batch order (deterministic).
 *
 * Optimizer (cfg.optimizer): plain θ −= η g, or Adam per parameter with β1 = 0.9,
 * β2 = 0.999, ε = 1e-8 and bias correction; its moments and step count persist across
 * epochs (and across batches). With bias = 0 the biases stay 0.
 * Rows without ratings are set to zero (solvers.h); every factor is checked for
 * finiteness at the end of an epoch.
 * Checkpoints: the Adam moments and step count are the only state that is not derived
 * from the data and the config (cf_cpu_gd_state_export / _import).
 */
#include "cpu.h"
#include "schedule.h"
#include "solvers.h"

#include "common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8

typedef struct gd_state {
    cf_cpu_lambdas lam;     /* Λ per row, and the biases' Λb */
    int64_t *csc_to_csr;    /* CSC entry → CSR entry */
    uint32_t *entry_user;   /* mini-batch: the user of each CSR entry */
    int64_t *order;         /* mini-batch: this epoch's permutation of the CSR entries */
    double *E;              /* residual per CSR entry (full batch) or per batch slot */
    cf_factors grad;        /* the gradient, shaped like the factors */
    cf_factors m, v;        /* Adam moments (allocated on first Adam step) */
    int64_t adam_t;         /* Adam steps taken */
} gd_state;

static void gd_state_free(void *p) {
    gd_state *s = p;
    if (!s) return;
    cf_cpu_lambdas_free(&s->lam);
    free(s->csc_to_csr), free(s->entry_user), free(s->order);
    free(s->E);
    cf_factors_free(&s->grad), cf_factors_free(&s->m), cf_factors_free(&s->v);
    free(s);
}

static cf_status gd_state_get(cf_backend *b, gd_state **out, cf_error *err) {
    gd_state *s = cf_cpu_state_get(b, gd_state_free);
    if (s) {
        *out = s;
        return CF_OK;
    }
    const cf_ratings *R = b->R;
    const cf_factors *f = &b->f;
    s = cf_calloc(1, sizeof *s, err, "gd state");
    if (!s) return CF_ERR_NOMEM;
    cf_status st;
    if ((st = cf_cpu_lambdas_make(b, 0, &s->lam, err)) || (st = cf_cpu_csc_to_csr(R, &s->csc_to_csr, err)) ||
        (st = cf_cpu_entry_users(R, &s->entry_user, err)) ||
        (st = cf_factors_alloc(&s->grad, f->n_users, f->n_items, f->k, f->bias, err)))
        goto fail;
    s->E = cf_malloc((size_t)R->nnz * sizeof *s->E, err, "gd residuals");
    s->order = cf_malloc((size_t)R->nnz * sizeof *s->order, err, "mini-batch order");
    if (!s->E || !s->order) {
        st = CF_ERR_NOMEM;
        goto fail;
    }
    cf_cpu_state_set(b, s, gd_state_free);
    *out = s;
    return CF_OK;
fail:
    gd_state_free(s);
    return st;
}

static inline double dot(const double *x, const double *y, int32_t K) {
    double s = 0.0;
    for (int32_t k = 0; k < K; k++) s += x[k] * y[k];
    return s;
}

/* ∇L into s->grad (see the top of the file). */
static void full_gradient(cf_backend *b, gd_state *s) {
    const cf_ratings *R = b->R;
    const cf_factors *f = &b->f;
    int32_t K = f->k;
    cf_factors *g = &s->grad;
    double *E = s->E;

    /* E: e_ui = r_ui − r̂_ui per CSR entry */
#pragma omp parallel for num_threads(b->threads) schedule(dynamic, 64)
    for (int64_t u = 0; u < R->n_users; u++) {
        if (cf_cpu_stop_poll(b->stop)) continue; /* Ctrl-C: the step is abandoned */
        const double *p = f->P + (size_t)u * (size_t)K;
        double base = f->bias ? f->mu + f->bu[u] : 0.0;
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
            uint32_t i = R->row_col[e];
            double pred = base + (f->bias ? f->bi[i] : 0.0) + dot(p, f->Q + (size_t)i * (size_t)K, K);
            E[e] = (double)R->row_val[e] - pred;
        }
    }
    /* ∇P = −2 E Q + 2 Λ_u P, ∇b_u = −2 Σ_i e_ui + 2 Λb_u b_u */
#pragma omp parallel for num_threads(b->threads) schedule(dynamic, 64)
    for (int64_t u = 0; u < R->n_users; u++) {
        if (cf_cpu_stop_poll(b->stop)) continue;
        const double *p = f->P + (size_t)u * (size_t)K;
        double *gp = g->P + (size_t)u * (size_t)K, lam = s->lam.u[u], esum = 0.0;
        for (int32_t k = 0; k < K; k++) gp[k] = 2.0 * lam * p[k];
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
            const double *q = f->Q + (size_t)R->row_col[e] * (size_t)K;
            for (int32_t k = 0; k < K; k++) gp[k] -= 2.0 * E[e] * q[k];
            esum += E[e];
        }
        g->bu[u] = f->bias ? -2.0 * esum + 2.0 * s->lam.bu[u] * f->bu[u] : 0.0;
    }
    /* ∇Q = −2 Eᵀ P + 2 Λ_i Q, ∇b_i = −2 Σ_u e_ui + 2 Λb_i b_i */
#pragma omp parallel for num_threads(b->threads) schedule(dynamic, 64)
    for (int64_t i = 0; i < R->n_items; i++) {
        if (cf_cpu_stop_poll(b->stop)) continue;
        const double *q = f->Q + (size_t)i * (size_t)K;
        double *gq = g->Q + (size_t)i * (size_t)K, lam = s->lam.i[i], esum = 0.0;
        for (int32_t k = 0; k < K; k++) gq[k] = 2.0 * lam * q[k];
        for (int64_t c = R->col_ptr[i]; c < R->col_ptr[i + 1]; c++) {
            double e = E[s->csc_to_csr[c]];
            const double *p = f->P + (size_t)R->col_row[c] * (size_t)K;
            for (int32_t k = 0; k < K; k++) gq[k] -= 2.0 * e * p[k];
            esum += e;
        }
        g->bi[i] = f->bias ? -2.0 * esum + 2.0 * s->lam.bi[i] * f->bi[i] : 0.0;
    }
}

cf_status cf_cpu_gd_gradient(cf_backend *b, cf_factors *grad, cf_error *err) {
    const cf_factors *f = &b->f;
    if (grad->n_users != f->n_users || grad->n_items != f->n_items || grad->k != f->k)
        return cf_fail(err, CF_ERR_INVALID,
                       "gd gradient: output is %lld × %lld × %d, the factors %lld × %lld × %d",
                       (long long)grad->n_users, (long long)grad->n_items, grad->k,
                       (long long)f->n_users, (long long)f->n_items, f->k);
    gd_state *s;
    cf_status st = gd_state_get(b, &s, err);
    if (st) return st;
    full_gradient(b, s);
    size_t np = (size_t)f->n_users * (size_t)f->k, nq = (size_t)f->n_items * (size_t)f->k;
    memcpy(grad->P, s->grad.P, np * sizeof(double));
    memcpy(grad->Q, s->grad.Q, nq * sizeof(double));
    memcpy(grad->bu, s->grad.bu, (size_t)f->n_users * sizeof(double));
    memcpy(grad->bi, s->grad.bi, (size_t)f->n_items * sizeof(double));
    return CF_OK;
}

/* θ[0..n) −= η g (plain), or one Adam step with moments m, v and corrections c1, c2. */
static void step_array(double *theta, const double *g, double *m, double *v, int64_t n,
                       double eta, double c1, double c2, int threads) {
    if (!m) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t j = 0; j < n; j++) theta[j] -= eta * g[j];
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t j = 0; j < n; j++) {
        m[j] = ADAM_B1 * m[j] + (1.0 - ADAM_B1) * g[j];
        v[j] = ADAM_B2 * v[j] + (1.0 - ADAM_B2) * g[j] * g[j];
        double mhat = m[j] / c1, vhat = v[j] / c2;
        theta[j] -= eta * mhat / (sqrt(vhat) + ADAM_EPS);
    }
}

/* One step of every parameter along s->grad. */
static cf_status take_step(cf_backend *b, gd_state *s, double eta, cf_error *err) {
    cf_factors *f = &b->f, *g = &s->grad;
    int adam = b->cfg.optimizer == CF_OPT_ADAM;
    double c1 = 1.0, c2 = 1.0;
    if (adam) {
        if (!s->m.P) {
            cf_status st;
            if ((st = cf_factors_alloc(&s->m, f->n_users, f->n_items, f->k, f->bias, err)) ||
                (st = cf_factors_alloc(&s->v, f->n_users, f->n_items, f->k, f->bias, err)))
                return st;
        }
        s->adam_t++;
        c1 = 1.0 - pow(ADAM_B1, (double)s->adam_t);
        c2 = 1.0 - pow(ADAM_B2, (double)s->adam_t);
    }
    int64_t np = f->n_users * f->k, nq = f->n_items * f->k;
    step_array(f->P, g->P, adam ? s->m.P : NULL, adam ? s->v.P : NULL, np, eta, c1, c2, b->threads);
    step_array(f->Q, g->Q, adam ? s->m.Q : NULL, adam ? s->v.Q : NULL, nq, eta, c1, c2, b->threads);
    if (f->bias) {
        step_array(f->bu, g->bu, adam ? s->m.bu : NULL, adam ? s->v.bu : NULL, f->n_users, eta,
                   c1, c2, b->threads);
        step_array(f->bi, g->bi, adam ? s->m.bi : NULL, adam ? s->v.bi : NULL, f->n_items, eta,
                   c1, c2, b->threads);
    }
    return CF_OK;
}

/* The gradient of batch order[from .. from+n) into s->grad (see the top of the file). */
static void batch_gradient(cf_backend *b, gd_state *s, int64_t from, int64_t n) {
    const cf_ratings *R = b->R;
    const cf_factors *f = &b->f;
    cf_factors *g = &s->grad;
    int32_t K = f->k;
    double scale = (double)n / (double)R->nnz;
    /* regularization share of every row: (|S|/|Ω|) · 2 Λ θ (Λb for the bias) */
#pragma omp parallel for num_threads(b->threads) schedule(static)
    for (int64_t u = 0; u < R->n_users; u++) {
        double c = 2.0 * scale * s->lam.u[u];
        for (int32_t k = 0; k < K; k++) g->P[u * K + k] = c * f->P[u * K + k];
        g->bu[u] = f->bias ? 2.0 * scale * s->lam.bu[u] * f->bu[u] : 0.0;
    }
#pragma omp parallel for num_threads(b->threads) schedule(static)
    for (int64_t i = 0; i < R->n_items; i++) {
        double c = 2.0 * scale * s->lam.i[i];
        for (int32_t k = 0; k < K; k++) g->Q[i * K + k] = c * f->Q[i * K + k];
        g->bi[i] = f->bias ? 2.0 * scale * s->lam.bi[i] * f->bi[i] : 0.0;
    }
    /* the batch's residuals, from the same parameters */
    double *E = s->E;
#pragma omp parallel for num_threads(b->threads) schedule(static)
    for (int64_t t = 0; t < n; t++) {
        int64_t e = s->order[from + t];
        uint32_t u = s->entry_user[e], i = R->row_col[e];
        E[t] = (double)R->row_val[e] - cf_predict(f, u, i);
    }
    /* data terms −2 e ∂r̂/∂θ, added in batch order */
    for (int64_t t = 0; t < n; t++) {
        int64_t e = s->order[from + t];
        uint32_t u = s->entry_user[e], i = R->row_col[e];
        const double *p = f->P + (size_t)u * (size_t)K, *q = f->Q + (size_t)i * (size_t)K;
        double *gp = g->P + (size_t)u * (size_t)K, *gq = g->Q + (size_t)i * (size_t)K;
        double two_e = 2.0 * E[t];
        for (int32_t k = 0; k < K; k++) {
            gp[k] -= two_e * q[k];
            gq[k] -= two_e * p[k];
        }
        if (f->bias) {
            g->bu[u] -= two_e;
            g->bi[i] -= two_e;
        }
    }
}

cf_status cf_cpu_gd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err) {
    const char *algo = b->cfg.algo == CF_ALGO_MINIBATCH ? "minibatch" : "gd";
    if (epoch < 0) return cf_fail(err, CF_ERR_INVALID, "%s: epoch %d, must be >= 0", algo, epoch);
    gd_state *s;
    cf_status st = gd_state_get(b, &s, err);
    if (st) return st;
    cf_cpu_zero_empty_rows(b);
    const cf_ratings *R = b->R;

    if (b->cfg.algo == CF_ALGO_MINIBATCH) {
        if ((st = cf_sched_scatter_permutation(s->order, R->nnz,
                                               cf_sched_seed(b->cfg.seed, CF_STREAM_MINIBATCH, (uint64_t)epoch),
                                               b->cfg.threads, err)))
            return st;
        for (int64_t from = 0; from < R->nnz; from += b->cfg.batch) {
            if (cf_cpu_stop_poll(b->stop)) break; /* Ctrl-C: the epoch is abandoned */
            int64_t n = R->nnz - from < b->cfg.batch ? R->nnz - from : b->cfg.batch;
            batch_gradient(b, s, from, n);
            if ((st = take_step(b, s, lr, err))) return st;
        }
    } else {
        full_gradient(b, s);
        if ((st = cf_cpu_interrupted(b->stop, algo, err))) return st; /* the gradient is incomplete */
        if ((st = take_step(b, s, lr, err))) return st;
    }
    if ((st = cf_cpu_interrupted(b->stop, algo, err))) return st;
    return cf_cpu_check_finite(b, algo, "epoch", (int64_t)epoch + 1, "try a smaller --lr", err);
}

cf_status cf_cpu_gd_state_export(cf_backend *b, cf_solver_state *out, cf_error *err) {
    memset(out, 0, sizeof *out);
    gd_state *s = cf_cpu_state_get(b, gd_state_free);
    if (!s) return CF_OK; /* no step taken yet */
    out->counter = s->adam_t;
    if (!s->m.P) return CF_OK;
    cf_status st;
    if ((st = cf_factors_copy(&out->m, &s->m, err)) || (st = cf_factors_copy(&out->v, &s->v, err))) {
        cf_solver_state_free(out);
        return st;
    }
    out->has_moments = 1;
    return CF_OK;
}

cf_status cf_cpu_gd_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err) {
    if (in->counter < 0) return cf_fail(err, CF_ERR_INVALID, "gd state: step count %lld < 0", (long long)in->counter);
    if (in->counter == 0 && !in->has_moments) return CF_OK; /* the state of a fresh start */
    if (in->has_moments && b->cfg.optimizer != CF_OPT_ADAM)
        return cf_fail(err, CF_ERR_INVALID, "gd state: Adam moments, but the optimizer is plain");
    gd_state *s;
    cf_status st = gd_state_get(b, &s, err);
    if (st) return st;
    s->adam_t = in->counter;
    if (!in->has_moments) return CF_OK;
    const cf_factors *f = &b->f;
    if (in->m.n_users != f->n_users || in->m.n_items != f->n_items || in->m.k != f->k ||
        in->v.n_users != f->n_users || in->v.n_items != f->n_items || in->v.k != f->k)
        return cf_fail(err, CF_ERR_INVALID, "gd state: the Adam moments have other dimensions than the factors");
    cf_factors_free(&s->m), cf_factors_free(&s->v);
    if ((st = cf_factors_copy(&s->m, &in->m, err)) || (st = cf_factors_copy(&s->v, &in->v, err))) {
        cf_factors_free(&s->m), cf_factors_free(&s->v);
        return st;
    }
    return CF_OK;
}
