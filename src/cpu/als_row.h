/*
 * als_row.h — one row's ALS system in double precision (als.c), and many rows over
 * threads, shared by the CPU ALS half-step and the fold-in (foldin.c), so both solve
 * exactly the same way.
 *
 * With the other side's factors Y (n_other × K, row-major) and biases by fixed, the row
 * with ratings (idx[j], val[j]), j < n, gets x = [p; b] minimizing
 *     Σ_j (t_j − z_jᵀ x)² + Λ ‖p‖² + Λb b²,   z_j = [y_idx[j]; 1], t_j = val[j] − μ − by[idx[j]]
 * (biases on, d = K + 1; off: x = p, z_j = y_idx[j], t_j = val[j], d = K, no Λb), from the
 * normal equations (Σ z_j z_jᵀ + D) x = Σ t_j z_j, D = diag(Λ, …, Λ, Λb) (Λb = Λ: D = Λ I):
 * Σ z zᵀ by dsyrk and Σ t z by dgemv over
 * chunks of CF_ALS_CHUNK ratings (in the row's order), solved by LAPACK's Cholesky
 * (dposv). The same inputs give the same x bit for bit, whatever thread runs it.
 */
#ifndef CF_CPU_ALS_ROW_H
#define CF_CPU_ALS_ROW_H

#include "cufactor.h"
#include "stop.h"

#include <stdint.h>

#define CF_ALS_CHUNK 512 /* ratings gathered per dsyrk call: bounds the workspace */

/* Per-thread workspace for d = K + bias: Zt (d × chunk), t (chunk), A (d × d), x (d). */
typedef struct cf_als_row_ws {
    int K, bias, d;
    double *Zt, *t, *A, *x;
} cf_als_row_ws;

/* 0, or -1 when out of memory (ws then holds nothing to free). */
int cf_als_row_ws_alloc(cf_als_row_ws *ws, int K, int bias);
void cf_als_row_ws_free(cf_als_row_ws *ws);

/* Solves the row's system (n >= 1), Λ = lambda_row on the factors' diagonal entries and
 * Λb = bias_lambda_row on the bias's (unused without biases), into ws->x (d values:
 * x[0..K) the factors, x[K] the bias when on); ws->A then holds its Cholesky factor U (A = UᵀU, upper triangle,
 * column-major, as LAPACK's dpotrs takes it). Returns 0 when solved, > 0 when the system is not positive definite
 * (LAPACK's info), -1 when `stop` (may be NULL) was set between two chunks of a long row
 * (the system is then incomplete and x meaningless). */
int cf_als_row_solve_b(cf_als_row_ws *ws, const double *Y, const double *by, double mu, const uint32_t *idx,
                       const float *val, int64_t n, double lambda_row, double bias_lambda_row,
                       const volatile sig_atomic_t *stop);
/* The same with Λb = Λ = lambda_row (the biases regularized as the factors). */
int cf_als_row_solve(cf_als_row_ws *ws, const double *Y, const double *by, double mu, const uint32_t *idx,
                     const float *val, int64_t n, double lambda_row, const volatile sig_atomic_t *stop);

/* Many rows at once, spread over threads (one workspace each): rows r0 ≤ r < r1 of a CSR
 * (row r's ratings are idx/val[ptr[r] .. ptr[r + 1])) solved by cf_als_row_solve with
 * Λ = cf_reg_lambda(reg, lambda, n_r, nnz) and Λb = cf_reg_lambda(bias_reg, bias_lambda,
 * n_r, nnz) when bias_own, else Λb = Λ (bias_own 0, what a zero-initialized job field
 * gives: the biases regularized as the factors), each written to row dest[r] (dest NULL: r) of
 * X (K per row) and bx (the bias, 0 without biases). A row with no ratings is zeroed
 * when zero_empty, else left as it is. `stop` (may be NULL) is polled per row and inside
 * long rows; rows skipped after it are left as they are. The same result for any thread
 * count. Returns 0, -1 when out of memory for the workspaces (nothing written), or 1 with
 * *bad the smallest row whose system is not positive definite (the others written). */
typedef struct cf_als_rows {
    const int64_t *ptr;
    const uint32_t *idx;
    const float *val;
    const double *Y, *by; /* the fixed side */
    double mu;
    int K, bias;
    cf_reg reg;
    double lambda;
    int bias_own;         /* 1: the bias entry takes bias_reg / bias_lambda; 0: reg / lambda */
    cf_reg bias_reg;      /* a mode of its own (not CF_REG_SAME) when bias_own */
    double bias_lambda;
    int64_t nnz;
    double *X, *bx;       /* the solved side */
    const int64_t *dest;
    int zero_empty, threads;
    const volatile sig_atomic_t *stop;
} cf_als_rows;

/* Λ of a row of n ratings under j's settings (reg, lambda, nnz); its bias's Λb into
 * *bias_lambda_row (Λ unless bias_own). */
double cf_als_rows_lambda(const cf_als_rows *j, int64_t n, double *bias_lambda_row);
int cf_als_rows_solve(const cf_als_rows *job, int64_t r0, int64_t r1, int64_t *bad);

#endif
