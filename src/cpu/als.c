/*
 * als.c — one ALS half-step on the CPU (double precision): the reference the GPU
 * backend is checked against.
 *
 * With the other side fixed, each row of side S (a user: x = [p_u; b_u]; an item:
 * x = [q_i; b_i]) minimizes its own part of L (DESIGN.md §1):
 *
 *     f(x) = Σ_{j∈row} (t_j − z_jᵀ x)² + Λ ‖x‖²
 *     z_j = [y_j; 1],  t_j = r_j − μ − b_j       (biases on, d = K + 1)
 *     z_j = y_j,       t_j = r_j                 (biases off, d = K)
 *     Λ  = cf_reg_lambda(reg, λ, n_row, |Ω|)     (plain λ, weighted λ·n_row, mean λ·|Ω|)
 *
 * ∇f = 0 gives the normal equations
 *
 *     (Σ_j z_j z_jᵀ + Λ I) x = Σ_j t_j z_j
 *
 * formed with BLAS (dsyrk for the Gram matrix over chunks of the row's ratings, dgemv
 * for the right side) and solved by LAPACK's Cholesky (dposv). A row with no ratings
 * gets x = 0. Rows are independent: OpenMP spreads them over threads, and each row's
 * arithmetic is the same whatever thread runs it, so results do not depend on the
 * thread count.
 */
#include "cpu.h"

#include "common.h"

#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#define ALS_CHUNK 512 /* ratings gathered per dsyrk call: bounds the workspace */

cf_status cf_cpu_als_half(cf_backend *b, cf_side side, cf_error *err) {
    cf_side_view v = cf_cpu_side(b, side);
    const int K = b->f.k, bias = b->f.bias, d = K + bias;
    const double mu = b->f.mu;
    const int64_t nnz = b->R->nnz;
    int64_t bad_row = -1; /* smallest row whose system is not positive definite */
    int oom = 0;

#pragma omp parallel num_threads(b->threads)
    {
        /* per-thread workspace: Zt (d × chunk, column-major = z_j as columns), t, A, x */
        double *Zt = malloc(sizeof(double) * (size_t)d * ALS_CHUNK);
        double *t = malloc(sizeof(double) * ALS_CHUNK);
        double *A = malloc(sizeof(double) * (size_t)d * (size_t)d);
        double *x = malloc(sizeof(double) * (size_t)d);
        if (!Zt || !t || !A || !x) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp barrier
        if (!oom) {
#pragma omp for schedule(dynamic, 64)
            for (int64_t r = 0; r < v.n_rows; r++) {
                if (cf_cpu_stop_poll(b->stop)) continue; /* Ctrl-C: skip the rest of the half-step */
                int64_t lo = v.ptr[r], hi = v.ptr[r + 1], n = hi - lo;
                double *xr = v.X + r * K;
                if (n == 0) { /* no ratings: zero factors */
                    memset(xr, 0, sizeof(double) * (size_t)K);
                    v.bx[r] = 0.0;
                    continue;
                }
                memset(A, 0, sizeof(double) * (size_t)d * (size_t)d);
                memset(x, 0, sizeof(double) * (size_t)d);
                int stopped = 0;
                for (int64_t c = lo; c < hi && !(stopped = c > lo && cf_cpu_stop_poll(b->stop)); c += ALS_CHUNK) {
                    int m = (int)(hi - c < ALS_CHUNK ? hi - c : ALS_CHUNK);
                    for (int j = 0; j < m; j++) { /* gather z_j and t_j */
                        uint32_t o = v.idx[c + j];
                        memcpy(Zt + (size_t)j * d, v.Y + (size_t)o * K, sizeof(double) * (size_t)K);
                        if (bias) {
                            Zt[(size_t)j * d + K] = 1.0;
                            t[j] = (double)v.val[c + j] - mu - v.by[o];
                        } else {
                            t[j] = (double)v.val[c + j];
                        }
                    }
                    /* A += Σ z_j z_jᵀ (upper triangle);  x += Σ t_j z_j */
                    cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, d, m, 1.0, Zt, d, 1.0, A, d);
                    cblas_dgemv(CblasColMajor, CblasNoTrans, d, m, 1.0, Zt, d, t, 1, 1.0, x, 1);
                }
                if (stopped) continue; /* a long row cut short: its system is incomplete */
                double lam = cf_reg_lambda(b->cfg.reg, b->cfg.lambda, n, nnz);
                for (int k = 0; k < d; k++) A[(size_t)k * d + k] += lam; /* + Λ I */
                /* (A) x = rhs by Cholesky; x holds the solution afterwards */
                lapack_int info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', d, 1, A, d, x, d);
                if (info != 0) {
#pragma omp critical(cf_als_bad_row)
                    if (bad_row < 0 || r < bad_row) bad_row = r;
                    continue;
                }
                memcpy(xr, x, sizeof(double) * (size_t)K);
                v.bx[r] = bias ? x[K] : 0.0;
            }
        }
        free(Zt), free(t), free(A), free(x);
    }
    const char *what = side == CF_SIDE_USERS ? "user" : "item";
    cf_status ist = cf_cpu_interrupted(b->stop, "als", err);
    if (ist) return ist;
    if (oom) return cf_fail(err, CF_ERR_NOMEM, "als: out of memory for the %d×%d per-thread workspace", d, ALS_CHUNK);
    if (bad_row >= 0)
        return cf_fail(err, CF_ERR_NUMERIC,
                       "als: the normal equations of %s row %lld are not positive definite "
                       "(λ = %g with --reg %s); use a larger --lambda",
                       what, (long long)bad_row, b->cfg.lambda, cf_reg_name(b->cfg.reg));
    return CF_OK;
}
