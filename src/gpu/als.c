/*
 * als.c — one ALS half-step on the GPU: every row of one side solved exactly with the
 * other side fixed (DESIGN.md §2).
 *
 * Objective (sum form, DESIGN.md §1):
 *     L = Σ_{(u,i)∈Ω} (r_ui − μ − b_u − b_i − p_u·q_i)² + Σ_u Λ_u (‖p_u‖² + b_u²)
 *                                                       + Σ_i Λ_i (‖q_i‖² + b_i²)
 * with Λ_row = cf_reg_lambda(reg, λ, n_row, |Ω|). With the other side fixed, row x's
 * unknowns [p; b] (just p without biases, d = K + bias) solve
 *     (Σ_{e∈row} z_e z_eᵀ + Λ I) x = Σ_{e∈row} (r_e − μ − b_other(e)) z_e,   z_e = [y_e; 1]
 * and a row without ratings gets x = 0 (its minimizer for Λ > 0, and the convention
 * otherwise).
 *
 * Per batch of rows (plan.c), on one stream:
 *   1. Gram:  A_r for the batch's rows with ratings (kernels/gram.cu), lower triangle,
 *      long rows in segments + a reduction;
 *   2. RHS:   t_e = r_e − μ − b_other (kernel), then B = T · Z_other for all rows of the
 *      batch by cuSPARSE SpMM (CSR with 32-bit offsets rebased to the batch, row-major
 *      dense operands with leading dimension ld). Z_other's column K is the constant 1,
 *      so the product's column K is the bias component Σ t_e.
 *   3. Solve: cusolverDnSpotrfBatched + cusolverDnSpotrsBatched (lower, one right-hand
 *      side each, solved in place; at most CF_GPU_SOLVE_CHUNK systems a call), then the solutions are scattered into F and the
 *      biases (zero for rows without ratings).
 * After the last batch the potrf info of every system comes back in one copy; a
 * non-zero info is CF_ERR_NUMERIC naming the row.
 */
#include "gpu_impl.h"

#include <stdio.h>
#include <string.h>

static cf_status grow_spmm_buffer(cf_backend *b, size_t need, cf_error *err) {
    cf_status st = CF_OK;
    if (need <= b->spmm_buf_bytes) return CF_OK;
    CF_CUDA(cudaStreamSynchronize(b->stream)); /* the old buffer may still be in use */
    cf_gpu_free(b, b->d_spmm_buf, b->spmm_buf_bytes);
    b->d_spmm_buf = NULL, b->spmm_buf_bytes = 0;
    if ((st = cf_gpu_alloc(b, &b->d_spmm_buf, need, "SpMM workspace", err))) return st;
    b->spmm_buf_bytes = need;
    if (b->alloc_peak > b->stats.alloc_peak_bytes) b->stats.alloc_peak_bytes = b->alloc_peak;
cleanup:
    return st;
}

/* B[r0..r1) = T · Z_other over one batch; see the file comment. */
static cf_status batch_rhs(cf_backend *b, const cf_gpu_side *S, const cf_gpu_side *O,
                           const cf_gpu_batch *bt, cf_error *err) {
    cf_status st = CF_OK;
    cusparseSpMatDescr_t mA = NULL;
    cusparseDnMatDescr_t mB = NULL, mC = NULL;
    const float one = 1.0f, zero = 0.0f;
    const int64_t rows = bt->r1 - bt->r0, ent = bt->e1 - bt->e0;
    if (rows == 0 || ent == 0) return CF_OK; /* the scatter zeroes rows without entries */

    CF_LAUNCH(launch_targets(S->d_val + bt->e0, S->d_idx + bt->e0, ent, O->d_b, (float)b->mu,
                             b->bias, b->d_t, b->stream));
    CF_LAUNCH(launch_offsets32(S->d_ptr + bt->r0, rows, b->d_off32, b->stream));
    /* T: rows × n_other, CSR, 32-bit offsets and indices (the planner keeps a batch's
     * entries ≤ INT32_MAX; indices < n_other ≤ INT32_MAX). */
    CF_CUSPARSE(cusparseCreateCsr(&mA, rows, O->n_rows, ent, b->d_off32, S->d_idx + bt->e0, b->d_t,
                                  CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO,
                                  CUDA_R_32F));
    /* Z_other: n_other × d, row-major, leading dimension ld (row stride of F). */
    CF_CUSPARSE(cusparseCreateDnMat(&mB, O->n_rows, b->d, b->ld, O->d_F, CUDA_R_32F,
                                    CUSPARSE_ORDER_ROW));
    /* B: rows × d, row-major, leading dimension ld: row j at d_rhs + j·ld. */
    CF_CUSPARSE(cusparseCreateDnMat(&mC, rows, b->d, b->ld, b->d_rhs, CUDA_R_32F,
                                    CUSPARSE_ORDER_ROW));
    size_t need = 0;
    if (!b->spmm_alg_set) {
        /* CSR_ALG2 suits row-major operands (cuSPARSE's SpMM table). cuSPARSE warns of
         * run-to-run differences for a transposed A only; A is never transposed here, and
         * the GPU test reproducible_run_to_run checks the whole step. Fall back to the
         * default where this cuSPARSE refuses ALG2. */
        cusparseStatus_t s = cusparseSpMM_bufferSize(
            b->cusparse, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, mA,
            mB, &zero, mC, CUDA_R_32F, CUSPARSE_SPMM_CSR_ALG2, &need);
        b->spmm_alg = s == CUSPARSE_STATUS_SUCCESS ? CUSPARSE_SPMM_CSR_ALG2 : CUSPARSE_SPMM_ALG_DEFAULT;
        b->spmm_alg_set = 1;
    }
    for (;;) {
        const cusparseSpMMAlg_t alg = b->spmm_alg;
        CF_CUSPARSE(cusparseSpMM_bufferSize(b->cusparse, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                            CUSPARSE_OPERATION_NON_TRANSPOSE, &one, mA, mB, &zero,
                                            mC, CUDA_R_32F, alg, &need));
        if ((st = grow_spmm_buffer(b, need, err))) goto cleanup;
        cusparseStatus_t s = cusparseSpMM(b->cusparse, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                          CUSPARSE_OPERATION_NON_TRANSPOSE, &one, mA, mB, &zero, mC,
                                          CUDA_R_32F, alg, b->d_spmm_buf);
        /* A cuSPARSE whose bufferSize accepts ALG2 but whose SpMM refuses it for these
         * operands: the default algorithm, from then on. */
        if (s == CUSPARSE_STATUS_NOT_SUPPORTED && alg != CUSPARSE_SPMM_ALG_DEFAULT) {
            b->spmm_alg = CUSPARSE_SPMM_ALG_DEFAULT;
            continue;
        }
        CF_CHECK_(s == CUSPARSE_STATUS_SUCCESS, "cusparseSpMM(T · Z_other, row-major)",
                  cusparseGetErrorString(s));
        break;
    }
cleanup:
    if (mA) cusparseDestroySpMat(mA);
    if (mB) cusparseDestroyDnMat(mB);
    if (mC) cusparseDestroyDnMat(mC);
    return st;
}

static cf_status add_elapsed(cf_backend *b, cf_error *err) {
    cf_status st = CF_OK;
    float ms[3] = {0, 0, 0};
    CF_CUDA(cudaEventSynchronize(b->ev[3]));
    for (int j = 0; j < 3; j++) CF_CUDA(cudaEventElapsedTime(&ms[j], b->ev[j], b->ev[j + 1]));
    b->stats.gram_ms += ms[0], b->stats.rhs_ms += ms[1], b->stats.solve_ms += ms[2];
cleanup:
    return st;
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

    for (int32_t k = 0; k < S->n_batches; k++) {
        const cf_gpu_batch *bt = &S->batches[k];
        const int64_t rows = bt->r1 - bt->r0;
        if (timing) CF_CUDA(cudaEventRecord(b->ev[0], b->stream));
        /* 1. Gram matrices of the batch's rows with ratings (slots 0..n_sys-1). */
        CF_LAUNCH(launch_gram(S->d_units + bt->unit0, bt->n_units, S->d_idx, O->d_F, b->d, b->ld,
                              b->d_gram, b->stream));
        CF_LAUNCH(launch_gram_reduce(S->d_red + bt->red0, bt->n_red, b->d, b->d_gram, b->stream));
        if (timing) CF_CUDA(cudaEventRecord(b->ev[1], b->stream));
        /* 2. Right-hand sides of all the batch's rows. */
        if ((st = batch_rhs(b, S, O, bt, err))) goto cleanup;
        if (timing) CF_CUDA(cudaEventRecord(b->ev[2], b->stream));
        /* 3. Batched Cholesky solves, in place in the RHS buffer, then scatter. */
        for (int64_t j0 = 0; j0 < bt->n_sys; j0 += chunk) {
            const int n = (int)(bt->n_sys - j0 < chunk ? bt->n_sys - j0 : chunk);
            CF_CUSOLVER(cusolverDnSpotrfBatched(b->cusolver, CUBLAS_FILL_MODE_LOWER, b->d,
                                                b->d_Aptr + j0, b->d, S->d_info + bt->sys0 + j0,
                                                n));
            CF_CUSOLVER(cusolverDnSpotrsBatched(b->cusolver, CUBLAS_FILL_MODE_LOWER, b->d, 1,
                                                b->d_Aptr + j0, b->d, S->d_Bptr + bt->sys0 + j0,
                                                b->d, b->d_potrs_info, n));
        }
        CF_LAUNCH(launch_scatter(b->d_rhs, bt->r0, rows, S->d_ptr, b->k, b->ld, b->bias, S->d_F,
                                 S->d_b, b->stream));
        if (timing) {
            CF_CUDA(cudaEventRecord(b->ev[3], b->stream));
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
            st = cf_fail(err, CF_ERR_NUMERIC,
                         "ALS %s %lld (%lld ratings): the %d×%d system is not positive definite "
                         "(cusolverDnSpotrfBatched: leading minor of order %d); raise lambda",
                         S->name, (long long)row, (long long)(S->h_ptr[row + 1] - S->h_ptr[row]),
                         b->d, b->d, b->h_info[j]);
            goto cleanup;
        }
        if (b->h_info[j] < 0) {
            st = cf_fail(err, CF_ERR_DEVICE,
                         "cusolverDnSpotrfBatched: parameter %d is wrong (%s system %lld) (%s:%d)",
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
