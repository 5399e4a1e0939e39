/*
 * als.c — one ALS half-step on the GPU: every row of one side solved exactly with the
 * other side fixed (DESIGN.md §2).
 *
 * Objective (sum form, DESIGN.md §1):
 *     L = Σ_{(u,i)∈Ω} (r_ui − μ − b_u − b_i − p_u·q_i)² + Σ_u (Λ_u ‖p_u‖² + Λb_u b_u²)
 *                                                       + Σ_i (Λ_i ‖q_i‖² + Λb_i b_i²)
 * with Λ_row = cf_reg_lambda(reg, λ, n_row, |Ω|) and the biases' Λb_row =
 * cf_bias_reg_lambda(cfg, n_row, |Ω|) (their own λ_b and mode; Λb = Λ by default). With the
 * other side fixed, row x's unknowns [p; b] (just p without biases, d = K + bias) solve
 *     (Σ_{e∈row} z_e z_eᵀ + D) x = Σ_{e∈row} (r_e − μ − b_other(e)) z_e,   z_e = [y_e; 1],
 *     D = diag(Λ, …, Λ, Λb)   (Λ I without biases)
 * (plan.c puts Λ and Λb in each row's Gram unit, the Gram kernels add them to the
 * diagonal) and a row without ratings gets x = 0 (its minimizer for Λ, Λb > 0, and the
 * convention otherwise).
 *
 * Per batch of rows (plan.c), on one stream:
 *   1. Gram and RHS in one pass (kernels/gram.cu): A_r (lower triangle) and
 *      b_r = Σ (r − μ − b_other) z for the batch's rows with ratings, from the same staged
 *      factors, in a fixed order; long rows in segments whose partial Grams and partial
 *      right-hand sides one reduction adds in slot order (in double). b_r lands in the
 *      row's place of the RHS buffer, d_rhs + (r − r0)·ld, where potrs and the scatter
 *      read it. No cuSPARSE: two runs are bit-identical whatever the block order.
 *   2. (the right-hand sides of step 1; no separate phase, rhs_ms stays 0)
 *   3. Solve (cfg.als_solver): cusolverDnSpotrfBatched + cusolverDnSpotrsBatched
 *      (cf_gpulib_spotrf_batched / _spotrs_batched: lower, one right-hand side each,
 *      solved in place; at most CF_GPU_SOLVE_CHUNK systems a call), or with
 *      --als-solver fused and d ≤ CF_CHOL_FUSED_MAX_D the fused kernel (kernels/chol.cu:
 *      factor and both triangular solves in shared memory, the same info); systems whose
 *      info is not 0 get their row's current values (launch_keep_failed); then the
 *      solutions are scattered into F and the biases (zero for rows without ratings).
 * After the last batch the potrf info of every system comes back in one copy; a
 * non-zero info is CF_ERR_NUMERIC naming the row, whose factors are unchanged (the
 * CPU's behaviour; the other rows are updated, as there).
 */
#include "gpu_impl.h"

#include <stdio.h>
#include <string.h>

/* One batch's phases from its events: ev[0] → ev[1] the fused Gram + RHS pass (gram_ms;
 * rhs_ms stays 0, there is no separate RHS phase), ev[1] → ev[2] the solve (solve_ms). */
static cf_status add_elapsed(cf_backend *b, cf_error *err) {
    cf_status st = CF_OK;
    float ms[2] = {0, 0};
    CF_CUDA(cudaEventSynchronize(b->ev[2]));
    for (int j = 0; j < 2; j++) CF_CUDA(cudaEventElapsedTime(&ms[j], b->ev[j], b->ev[j + 1]));
    b->stats.gram_ms += ms[0], b->stats.solve_ms += ms[1];
cleanup:
    return st;
}

int cf_gpu_launch_gram(cf_backend *b, const cf_gram_unit *d_units, int64_t n_units, const cf_gpu_side *S,
                       const cf_gpu_side *O, float *d_A, float *d_rhs, float *d_rhs_part) {
    b->stats.gram_tc = b->gram_tc;
    if (b->gram_tc)
        return launch_gram_tc(d_units, n_units, S->d_idx, S->d_val, O->d_F, O->d_b, b->mu, b->bias, b->d, b->ld,
                              d_A, d_rhs, d_rhs_part, b->stream);
    return launch_gram(d_units, n_units, S->d_idx, S->d_val, O->d_F, O->d_b, b->mu, b->bias, b->d, b->ld, d_A,
                       d_rhs, d_rhs_part, b->stream);
}

cf_status cf_gpu_als_half(cf_backend *b, cf_side side, cf_error *err) {
    cf_status st = CF_OK;
    if (!b) return cf_fail(err, CF_ERR_INVALID, "gpu als_half: backend is NULL");
    if (side != CF_SIDE_USERS && side != CF_SIDE_ITEMS)
        return cf_fail(err, CF_ERR_INVALID, "gpu als_half: side %d is neither users nor items",
                       (int)side);
    if (!b->planned)
        return cf_fail(err, CF_ERR_INVALID,
                       "gpu als_half: the backend was opened for --algo %s, without the ALS plan",
                       cf_algo_name(b->cfg.algo));
    cf_gpu_side *S = &b->side[side];
    const cf_gpu_side *O = &b->side[1 - side];
    const int timing = b->tune.timing && b->ev[0];
    const int64_t chunk = b->solve_chunk > 0 ? b->solve_chunk : CF_GPU_SOLVE_CHUNK;
    /* --als-solver fused where the order fits its shared memory, cuSOLVER otherwise. */
    const int fused = b->cfg.als_solver == CF_ALS_SOLVER_FUSED && b->d <= CF_CHOL_FUSED_MAX_D;
    const char *potrf = fused ? "fused Cholesky (kernels/chol.cu)" : "cusolverDnSpotrfBatched";
    b->stats.solve_fused = fused;

    for (int32_t k = 0; k < S->n_batches; k++) {
        const cf_gpu_batch *bt = &S->batches[k];
        if (k > 0 && (st = cf_gpu_stop_poll(b, "als", err))) goto cleanup; /* Ctrl-C between batches */
        const int64_t rows = bt->r1 - bt->r0;
        if (timing) CF_CUDA(cudaEventRecord(b->ev[0], b->stream));
        /* 1. Gram matrices (slots 0..n_sys-1) and right-hand sides (RHS rows r − r0) of
         *    the batch's rows with ratings, in one pass; long rows' segments reduced. */
        CF_LAUNCH(cf_gpu_launch_gram(b, S->d_units + bt->unit0, bt->n_units, S, O, b->d_gram,
                                     b->d_rhs, b->d_rhs_part));
        CF_LAUNCH(launch_gram_reduce(S->d_red + bt->red0, bt->n_red, b->d, b->ld, b->d_gram,
                                     b->d_rhs, b->d_rhs_part, b->stream));
        if (timing) CF_CUDA(cudaEventRecord(b->ev[1], b->stream));
        /* 2. (the right-hand sides came with step 1) 3. Batched Cholesky solves, in place in the RHS buffer; a system that failed
         *    gets its row's current values as its solution (launch_keep_failed), so the
         *    scatter leaves that row's factors and bias unchanged, as the CPU does. */
        for (int64_t j0 = 0; j0 < bt->n_sys; j0 += chunk) {
            const int n = (int)(bt->n_sys - j0 < chunk ? bt->n_sys - j0 : chunk);
            if (fused) {
                CF_LAUNCH(launch_chol_fused(b->d, b->d_Aptr + j0, S->d_Bptr + bt->sys0 + j0,
                                            S->d_info + bt->sys0 + j0, n, b->stream));
                continue;
            }
            CF_GPULIB(cf_gpulib_spotrf_batched(b->lib, b->d, b->d_Aptr + j0, b->d,
                                               S->d_info + bt->sys0 + j0, n, err));
            CF_GPULIB(cf_gpulib_spotrs_batched(b->lib, b->d, b->d_Aptr + j0, b->d,
                                               S->d_Bptr + bt->sys0 + j0, b->d, b->d_potrs_info,
                                               n, err));
        }
        CF_LAUNCH(launch_keep_failed(S->d_info + bt->sys0, S->d_Bptr + bt->sys0, bt->n_sys,
                                     b->d_rhs, bt->r0, S->d_F, S->d_b, b->k, b->ld, b->bias,
                                     b->stream));
        CF_LAUNCH(launch_scatter(b->d_rhs, bt->r0, rows, S->d_ptr, b->k, b->ld, b->bias, S->d_F,
                                 S->d_b, b->stream));
        if (timing) {
            CF_CUDA(cudaEventRecord(b->ev[2], b->stream));
            if ((st = add_elapsed(b, err))) goto cleanup;
        }
    }

    /* Every system's potrf info in one copy: > 0 is a matrix that is not positive
     * definite (the leading minor of that order), < 0 a bad parameter. */
    int potrs_info = 0;
    if (S->n_sys)
        CF_CUDA(cudaMemcpyAsync(b->h_info, S->d_info, (size_t)S->n_sys * sizeof(int),
                                cudaMemcpyDeviceToHost, b->stream));
    CF_CUDA(cudaMemcpyAsync(&potrs_info, b->d_potrs_info, sizeof(int), cudaMemcpyDeviceToHost,
                            b->stream));
    CF_CUDA(cudaStreamSynchronize(b->stream));
    for (int64_t j = 0; j < S->n_sys; j++) {
        if (b->h_info[j] > 0) {
            int64_t row = S->h_sys_row[j];
            char bl[96];
            st = cf_fail(err, CF_ERR_NUMERIC,
                         "ALS %s %lld (%lld ratings): the %d×%d system is not positive definite "
                         "(%s: leading minor of order %d; λ = %g with --reg %s%s); raise lambda",
                         S->name, (long long)row, (long long)(S->h_ptr[row + 1] - S->h_ptr[row]),
                         b->d, b->d, potrf, b->h_info[j], b->cfg.lambda, cf_reg_name(b->cfg.reg),
                         cf_bias_reg_note(&b->cfg, b->bias, bl, sizeof bl));
            goto cleanup;
        }
        if (b->h_info[j] < 0) {
            st = cf_fail(err, CF_ERR_DEVICE,
                         "%s: parameter %d is wrong (%s system %lld) (%s:%d)", potrf,
                         -b->h_info[j], S->name, (long long)j, __FILE__, __LINE__);
            goto cleanup;
        }
    }
    if (potrs_info != 0) {
        st = cf_fail(err, CF_ERR_DEVICE, "cusolverDnSpotrsBatched: parameter %d is wrong (%s:%d)",
                     -potrs_info, __FILE__, __LINE__);
        goto cleanup;
    }
    b->stats.half_steps++;
    b->stats.gram_flops += (double)S->nnz * (double)b->d * (double)(b->d + 1);
    size_t free_bytes = 0, total_bytes = 0;
    CF_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (total_bytes - free_bytes > b->stats.device_used_peak_bytes)
        b->stats.device_used_peak_bytes = total_bytes - free_bytes;
cleanup:
    return st;
}
