/*
 * als_row.h — one row's ALS system in double precision (als.c), shared by the CPU ALS
 * half-step and the fold-in of new users (foldin.c), so both solve exactly the same way.
 *
 * With the other side's factors Y (n_other × K, row-major) and biases by fixed, the row
 * with ratings (idx[j], val[j]), j < n, gets x minimizing
 *     Σ_j (t_j − z_jᵀ x)² + Λ ‖x‖²,   z_j = [y_idx[j]; 1], t_j = val[j] − μ − by[idx[j]]
 * (biases on, d = K + 1; off: z_j = y_idx[j], t_j = val[j], d = K), from the normal
 * equations (Σ z_j z_jᵀ + Λ I) x = Σ t_j z_j: Σ z zᵀ by dsyrk and Σ t z by dgemv over
 * chunks of CF_ALS_CHUNK ratings (in the row's order), solved by LAPACK's Cholesky
 * (dposv). The same inputs give the same x bit for bit, whatever thread runs it.
 */
#ifndef CF_CPU_ALS_ROW_H
#define CF_CPU_ALS_ROW_H

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

/* Solves the row's system (n >= 1) into ws->x (d values: x[0..K) the factors, x[K] the
 * bias when on); ws->A then holds its Cholesky factor U (A = UᵀU, upper triangle,
 * column-major, as LAPACK's dpotrs takes it). Returns 0 when solved, > 0 when the system is not positive definite
 * (LAPACK's info), -1 when `stop` (may be NULL) was set between two chunks of a long row
 * (the system is then incomplete and x meaningless). */
int cf_als_row_solve(cf_als_row_ws *ws, const double *Y, const double *by, double mu, const uint32_t *idx,
                     const float *val, int64_t n, double lambda_row, const volatile sig_atomic_t *stop);

#endif
