/*
 * solvers.h — private helpers shared by the CPU gradient and coordinate solvers
 * (sgd.c, gd.c, alsgd.c, ccd.c), and the internals that the tests check directly
 * (cf_cpu_gd_gradient).
 *
 * Conventions common to these solvers:
 *   - Λ_row = cf_reg_lambda(cfg.reg, cfg.lambda, n_row, nnz) is the effective
 *     regularization weight of a row's factors, Λb_row = cf_bias_reg_lambda(&cfg, n_row,
 *     nnz) that of its bias (bias_reg with λ_b; Λb = Λ by default), in the sum objective
 *     of DESIGN.md §1
 *       L = Σ_Ω (r − r̂)² + Σ_u (Λ_u ‖p_u‖² + Λb_u b_u²) + Σ_i (Λ_i ‖q_i‖² + Λb_i b_i²).
 *   - Rows with no training rating do not enter the data term; their minimizer of L
 *     is 0 (any value when Λ = 0), so every solver sets them to zero on each call,
 *     as ALS does. A test user or item unseen in training is then predicted by
 *     μ + the other side's bias.
 *   - Biases are updated only when cfg.bias = 1; otherwise they stay 0.
 *   - Per-algorithm state hangs off b->solver_state; cf_cpu_state_get() hands it to
 *     the solver that owns it (recognized by its free function) and frees any other.
 */
#ifndef CF_CPU_SOLVERS_H
#define CF_CPU_SOLVERS_H

#include "cpu.h"

#include <stdint.h>

/* Λ_row for every row of both sides: the factors' of the users (u) and items (i), and the
 * biases' Λb_row (bu, bi), which are the arrays u and i themselves when the biases are
 * regularized as the factors (cf_bias_reg_same). With per_rating = 1 each value is divided
 * by the row's count n_row (the share of one rating; 0 for an empty row). */
typedef struct cf_cpu_lambdas {
    double *u, *i, *bu, *bi;
} cf_cpu_lambdas;
cf_status cf_cpu_lambdas_make(const cf_backend *b, int per_rating, cf_cpu_lambdas *out, cf_error *err);
void cf_cpu_lambdas_free(cf_cpu_lambdas *l);

/* The user of each CSR entry (nnz values), malloc'ed and owned by the caller. */
cf_status cf_cpu_entry_users(const cf_ratings *R, uint32_t **out, cf_error *err);

/* For each CSC entry c (item-major), the index of the same rating in the CSR arrays
 * (nnz values), malloc'ed and owned by the caller. Works whatever the order of the
 * entries within a row or column. */
cf_status cf_cpu_csc_to_csr(const cf_ratings *R, int64_t **out, cf_error *err);

/* Sets the factors (and biases) of rows without training ratings to zero. */
void cf_cpu_zero_empty_rows(cf_backend *b);

/* CF_ERR_NUMERIC if any factor or bias is non-finite, with the message
 * "<algo>: non-finite value at <unit> <iter> in <first bad row>; <hint>". */
cf_status cf_cpu_check_finite(const cf_backend *b, const char *algo, const char *unit,
                              int64_t iter, const char *hint, cf_error *err);

/* The solver state of b if it was made by the solver whose free function is
 * `free_fn`, else NULL (a state left by another solver is freed first). */
void *cf_cpu_state_get(cf_backend *b, void (*free_fn)(void *));
/* Installs `state` (owned by b from now on, freed with free_fn at close). */
void cf_cpu_state_set(cf_backend *b, void *state, void (*free_fn)(void *));

/* ∇L of the sum objective at the current factors (DESIGN.md §1), into `grad`, which
 * the caller allocates with the dimensions of b->f (cf_factors_alloc). With bias = 0
 * the bias gradients are 0. Defined in gd.c:
 *   ∇p_u = −2 Σ_{i∈I_u} e_ui q_i + 2 Λ_u p_u     ∇b_u = −2 Σ_{i∈I_u} e_ui + 2 Λb_u b_u
 *   ∇q_i = −2 Σ_{u∈U_i} e_ui p_u + 2 Λ_i q_i     ∇b_i = −2 Σ_{u∈U_i} e_ui + 2 Λb_i b_i */
cf_status cf_cpu_gd_gradient(cf_backend *b, cf_factors *grad, cf_error *err);

#endif
