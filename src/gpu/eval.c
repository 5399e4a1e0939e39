/*
 * eval.c — the evaluate entry of the GPU backend: error sums over the training ratings
 * (CSR by user) or the test triplets, and for the training set the regularization term,
 *     sse = Σ (r − r̂)²,  sae = Σ |r − r̂|,  n,   reg = Σ_rows Λ_row (‖x_row‖² + b_row²)
 * so that the objective is L = sse + reg (DESIGN.md §1, backend.h). The kernels
 * (kernels/eval.cu) write one partial per block of a fixed grid; the partials are added
 * here in double, in block order, so the figures do not vary run to run.
 */
#include "gpu_impl.h"

#include <string.h>

/* Sums `width` interleaved columns of the device partials into sums[0..width). */
static cf_status sum_partials(cf_backend *b, int width, double *sums, cf_error *err) {
    cf_status st = CF_OK;
    double h[CF_REDUCE_BLOCKS * 3];
    CF_CUDA(cudaMemcpyAsync(h, b->d_partial, (size_t)CF_REDUCE_BLOCKS * (size_t)width * sizeof(double),
                            cudaMemcpyDeviceToHost, b->stream));
    CF_CUDA(cudaStreamSynchronize(b->stream));
    for (int c = 0; c < width; c++) sums[c] = 0.0;
    for (int j = 0; j < CF_REDUCE_BLOCKS; j++)
        for (int c = 0; c < width; c++) sums[c] += h[j * width + c];
cleanup:
    return st;
}


cf_status cf_gpu_evaluate(cf_backend *b, cf_eval_set which, cf_eval *out, cf_error *err) {
    cf_status st = CF_OK;
    if (!b || !out) return cf_fail(err, CF_ERR_INVALID, "gpu evaluate: %s is NULL", b ? "out" : "backend");
    if (which != CF_EVAL_TRAIN && which != CF_EVAL_TEST)
        return cf_fail(err, CF_ERR_INVALID, "gpu evaluate: set %d is neither train nor test", (int)which);
    memset(out, 0, sizeof *out);
    const cf_gpu_side *U = &b->side[CF_SIDE_USERS], *I = &b->side[CF_SIDE_ITEMS];
    double s[3];
    if (which == CF_EVAL_TRAIN) {
        CF_LAUNCH(launch_eval_csr(U->d_ptr, U->d_idx, U->d_val, U->n_rows, U->d_F, U->d_b, I->d_F,
                                  I->d_b, b->k, b->ld, (float)b->mu, b->bias, b->d_partial,
                                  b->stream));
        if ((st = sum_partials(b, 3, s, err))) goto cleanup;
        out->sse = s[0], out->sae = s[1], out->n = (int64_t)(s[2] + 0.5);
        for (int sd = 0; sd < 2; sd++) {
            const cf_gpu_side *X = &b->side[sd];
            CF_LAUNCH(launch_reg(X->d_ptr, X->n_rows, X->d_F, X->d_b, b->k, b->ld, b->bias,
                                 b->cfg.lambda, cf_gpu_reg_mode(b->cfg.reg), b->nnz, b->d_partial,
                                 b->stream));
            if ((st = sum_partials(b, 1, s, err))) goto cleanup;
            out->reg += s[0];
        }
    } else if (b->n_test > 0) {
        CF_LAUNCH(launch_eval_triplets(b->d_test_u, b->d_test_i, b->d_test_r, b->n_test, U->d_F,
                                       U->d_b, I->d_F, I->d_b, b->k, b->ld, (float)b->mu, b->bias,
                                       b->d_partial, b->stream));
        if ((st = sum_partials(b, 3, s, err))) goto cleanup;
        out->sse = s[0], out->sae = s[1], out->n = (int64_t)(s[2] + 0.5);
    }
cleanup:
    return st;
}
