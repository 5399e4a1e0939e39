/*
 * als.c — one ALS half-step on the CPU (double precision): the reference the GPU
 * backend is checked against.
 *
 * With the other side fixed, each row of side S (a user: x = [p_u; b_u]; an item:
 * x = [q_i; b_i]) minimizes its own part of L (DESIGN.md §1):
 *
 *     f(x) = Σ_{j∈row} (t_j − z_jᵀ x)² + Λ ‖p‖² + Λb b²      (x = [p; b])
 *     z_j = [y_j; 1],  t_j = r_j − μ − b_j       (biases on, d = K + 1)
 *     z_j = y_j,       t_j = r_j                 (biases off, d = K, x = p, no Λb)
 *     Λ  = cf_reg_lambda(reg, λ, n_row, |Ω|)     (plain λ, weighted λ·n_row, mean λ·|Ω|)
 *     Λb = cf_bias_reg_lambda(cfg, n_row, |Ω|)   (bias_reg with λ_b; Λ by default)
 *
 * ∇f = 0 gives the normal equations
 *
 *     (Σ_j z_j z_jᵀ + D) x = Σ_j t_j z_j,        D = diag(Λ, …, Λ, Λb)  (= Λ I when Λb = Λ)
 *
 * formed with BLAS (dsyrk for the Gram matrix over chunks of the row's ratings, dgemv
 * for the right side) and solved by LAPACK's Cholesky (dposv): cf_als_row_solve
 * (als_row.h), which the fold-in of new users (foldin.c) calls too. A row with no ratings
 * gets x = 0. Rows are independent: OpenMP spreads them over threads, and each row's
 * arithmetic is the same whatever thread runs it, so results do not depend on the
 * thread count.
 */
#include "cpu.h"

#include "als_row.h"
#include "common.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cf_als_row_ws_alloc(cf_als_row_ws *ws, int K, int bias) {
    const int d = K + bias;
    ws->K = K, ws->bias = bias, ws->d = d;
    ws->Zt = malloc(sizeof(double) * (size_t)d * CF_ALS_CHUNK);
    ws->t = malloc(sizeof(double) * CF_ALS_CHUNK);
    ws->A = malloc(sizeof(double) * (size_t)d * (size_t)d);
    ws->x = malloc(sizeof(double) * (size_t)d);
    if (ws->Zt && ws->t && ws->A && ws->x) return 0;
    cf_als_row_ws_free(ws);
    return -1;
}

void cf_als_row_ws_free(cf_als_row_ws *ws) {
    free(ws->Zt), free(ws->t), free(ws->A), free(ws->x);
    ws->Zt = ws->t = ws->A = ws->x = NULL;
}

int cf_als_row_solve_b(cf_als_row_ws *ws, const double *Y, const double *by, double mu, const uint32_t *idx,
                       const float *val, int64_t n, double lambda_row, double bias_lambda_row,
                       const volatile sig_atomic_t *stop) {
    const int K = ws->K, bias = ws->bias, d = ws->d;
    double *Zt = ws->Zt, *t = ws->t, *A = ws->A, *x = ws->x;
    memset(A, 0, sizeof(double) * (size_t)d * (size_t)d);
    memset(x, 0, sizeof(double) * (size_t)d);
    for (int64_t c = 0; c < n; c += CF_ALS_CHUNK) {
        if (c > 0 && cf_cpu_stop_poll(stop)) return -1; /* a long row cut short */
        int m = (int)(n - c < CF_ALS_CHUNK ? n - c : CF_ALS_CHUNK);
        for (int j = 0; j < m; j++) { /* gather z_j and t_j */
            uint32_t o = idx[c + j];
            memcpy(Zt + (size_t)j * d, Y + (size_t)o * K, sizeof(double) * (size_t)K);
            if (bias) {
                Zt[(size_t)j * d + K] = 1.0;
                t[j] = (double)val[c + j] - mu - by[o];
            } else {
                t[j] = (double)val[c + j];
            }
        }
        /* A += Σ z_j z_jᵀ (upper triangle);  x += Σ t_j z_j */
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, d, m, 1.0, Zt, d, 1.0, A, d);
        cblas_dgemv(CblasColMajor, CblasNoTrans, d, m, 1.0, Zt, d, t, 1, 1.0, x, 1);
    }
    for (int k = 0; k < K; k++) A[(size_t)k * d + k] += lambda_row; /* + D: Λ on the factors */
    if (bias) A[(size_t)K * d + K] += bias_lambda_row;                 /* and Λb on the bias */
    /* (A) x = rhs by Cholesky; x holds the solution afterwards */
    return (int)LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', d, 1, A, d, x, d);
}

int cf_als_row_solve(cf_als_row_ws *ws, const double *Y, const double *by, double mu, const uint32_t *idx,
                     const float *val, int64_t n, double lambda_row, const volatile sig_atomic_t *stop) {
    return cf_als_row_solve_b(ws, Y, by, mu, idx, val, n, lambda_row, lambda_row, stop);
}

double cf_als_rows_lambda(const cf_als_rows *j, int64_t n, double *bias_lambda_row) {
    const double lam = cf_reg_lambda(j->reg, j->lambda, n, j->nnz);
    *bias_lambda_row = j->bias_own ? cf_reg_lambda(j->bias_reg, j->bias_lambda, n, j->nnz) : lam;
    return lam;
}

int cf_als_rows_solve(const cf_als_rows *j, int64_t r0, int64_t r1, int64_t *bad) {
    const int K = j->K;
    int64_t bad_row = -1; /* smallest row whose system is not positive definite */
    int oom = 0;
#pragma omp parallel num_threads(j->threads)
    {
        cf_als_row_ws ws;
        if (cf_als_row_ws_alloc(&ws, K, j->bias)) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp barrier
        if (!oom) {
#pragma omp for schedule(dynamic, 16)
            for (int64_t r = r0; r < r1; r++) {
                if (cf_cpu_stop_poll(j->stop)) continue; /* Ctrl-C: skip the rest */
                const int64_t lo = j->ptr[r], n = j->ptr[r + 1] - lo, to = j->dest ? j->dest[r] : r;
                double *xr = j->X + to * K;
                if (n == 0) { /* no ratings: zero factors, or the row as it is */
                    if (j->zero_empty) memset(xr, 0, sizeof(double) * (size_t)K), j->bx[to] = 0.0;
                    continue;
                }
                double lamb;
                const double lam = cf_als_rows_lambda(j, n, &lamb);
                const int info =
                    cf_als_row_solve_b(&ws, j->Y, j->by, j->mu, j->idx + lo, j->val + lo, n, lam, lamb, j->stop);
                if (info < 0) continue; /* stopped inside a long row: its system is incomplete */
                if (info != 0) {
#pragma omp critical(cf_als_bad_row)
                    if (bad_row < 0 || r < bad_row) bad_row = r;
                    continue;
                }
                memcpy(xr, ws.x, sizeof(double) * (size_t)K);
                j->bx[to] = j->bias ? ws.x[K] : 0.0;
            }
        }
        cf_als_row_ws_free(&ws);
    }
    if (oom) return -1;
    if (bad_row < 0) return 0;
    *bad = bad_row;
    return 1;
}

cf_status cf_cpu_als_half(cf_backend *b, cf_side side, cf_error *err) {
    const cf_side_view v = cf_cpu_side(b, side);
    const int K = b->f.k, bias = b->f.bias;
    const cf_als_rows job = {.ptr = v.ptr, .idx = v.idx, .val = v.val, .Y = v.Y, .by = v.by, .mu = b->f.mu,
                             .K = K, .bias = bias, .reg = b->cfg.reg, .lambda = b->cfg.lambda, .bias_own = 1,
                             .bias_reg = cf_bias_reg(&b->cfg), .bias_lambda = cf_bias_lambda(&b->cfg), .nnz = b->R->nnz,
                             .X = v.X, .bx = v.bx, .zero_empty = 1, .threads = b->threads, .stop = b->stop};
    int64_t bad_row = -1;
    const int rc = cf_als_rows_solve(&job, 0, v.n_rows, &bad_row);
    const char *what = side == CF_SIDE_USERS ? "user" : "item";
    cf_status ist = cf_cpu_interrupted(b->stop, "als", err);
    if (ist) return ist;
    if (rc < 0) return cf_fail(err, CF_ERR_NOMEM, "als: out of memory for the %d×%d per-thread workspace", K + bias, CF_ALS_CHUNK);
    if (rc > 0) {
        char bl[96];
        return cf_fail(err, CF_ERR_NUMERIC,
                       "als: the normal equations of %s row %lld are not positive definite "
                       "(λ = %g with --reg %s%s); use a larger --lambda",
                       what, (long long)bad_row, b->cfg.lambda, cf_reg_name(b->cfg.reg),
                       cf_bias_reg_note(&b->cfg, bias, bl, sizeof bl));
    }
    return CF_OK;
}
