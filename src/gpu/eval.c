/*
 * eval.c — the evaluate entries of the GPU backend: error sums over the training ratings
 * (CSR by user) and the test triplets, and for the training set the regularization term,
 *     sse = Σ (r − r̂)²,  sae = Σ |r − r̂|,  n,   reg = Σ_rows (Λ_row ‖x_row‖² + Λb_row b_row²)
 * (Λb_row: the biases' own λ_b and mode, cf_bias_reg_lambda; Λ_row by default) so that the
 * objective is L = sse + reg (DESIGN.md §1, backend.h).
 *
 * One launch of kernels/eval.cu computes whichever of the two sets is asked — both for
 * evaluate_all, the trainer's call after every iteration — then one copy of the partials
 * and one stream synchronization. The kernel writes one partial per block of a fixed
 * grid; they are added here in double, in block order, so the figures do not vary run to
 * run. After an fp16 SGD epoch the kernel reads SGD's half copies of the factors, which
 * hold exactly F's values (F is converted from them) in half the bytes.
 */
#include "gpu_impl.h"

#include <string.h>

static cf_status eval_sets(cf_backend *b, int train, int test, cf_eval *tr, cf_eval *te, cf_error *err) {
    cf_status st = CF_OK;
    const cf_gpu_side *U = &b->side[CF_SIDE_USERS], *I = &b->side[CF_SIDE_ITEMS];
    test = test && b->n_test > 0;
    if (tr) memset(tr, 0, sizeof *tr);
    if (te) memset(te, 0, sizeof *te);
    if (!train && !test) return CF_OK;
    cf_eval_args a = {
        .train = train, .test = test,
        .ptr_u = U->d_ptr, .idx_u = U->d_idx, .val_u = U->d_val, .n_users = U->n_rows,
        .ptr_i = I->d_ptr, .n_items = I->n_rows,
        .tu = b->d_test_u, .ti = b->d_test_i, .tr = b->d_test_r, .n_test = b->n_test,
        .P = U->d_F, .Q = I->d_F, .fp16 = 0, .ld = b->ld, .k = b->k, .use_bias = b->bias,
        .bu = U->d_b, .bi = I->d_b, .mu = (float)b->mu,
        .reg_mode = cf_gpu_reg_mode(b->cfg.reg), .lambda = b->cfg.lambda,
        .bias_reg_mode = cf_gpu_reg_mode(cf_bias_reg(&b->cfg)), .bias_lambda = cf_bias_lambda(&b->cfg),
        .nnz = b->nnz,
    };
    const void *Ph, *Qh;
    if (b->k % 4 == 0 && cf_gpu_sgd_halves(b, &Ph, &Qh)) a.P = Ph, a.Q = Qh, a.fp16 = 1, a.ld = b->k;
    double hp[CF_REDUCE_BLOCKS * CF_EVAL_SUMS], s[CF_EVAL_SUMS] = {0}; /* 28 KiB */
    CF_LAUNCH(launch_eval_all(&a, b->d_partial, b->stream));
    CF_CUDA(cudaMemcpyAsync(hp, b->d_partial, sizeof hp, cudaMemcpyDeviceToHost, b->stream));
    CF_CUDA(cudaStreamSynchronize(b->stream));
    for (int j = 0; j < CF_REDUCE_BLOCKS; j++)
        for (int c = 0; c < CF_EVAL_SUMS; c++) s[c] += hp[j * CF_EVAL_SUMS + c];
    if (train && tr) tr->sse = s[0], tr->sae = s[1], tr->n = (int64_t)(s[2] + 0.5), tr->reg = s[3];
    if (test && te) te->sse = s[4], te->sae = s[5], te->n = (int64_t)(s[6] + 0.5);
cleanup:
    return st;
}

cf_status cf_gpu_evaluate(cf_backend *b, cf_eval_set which, cf_eval *out, cf_error *err) {
    if (!b || !out) return cf_fail(err, CF_ERR_INVALID, "gpu evaluate: %s is NULL", b ? "out" : "backend");
    if (which != CF_EVAL_TRAIN && which != CF_EVAL_TEST)
        return cf_fail(err, CF_ERR_INVALID, "gpu evaluate: set %d is neither train nor test", (int)which);
    return which == CF_EVAL_TRAIN ? eval_sets(b, 1, 0, out, NULL, err) : eval_sets(b, 0, 1, NULL, out, err);
}

cf_status cf_gpu_evaluate_all(cf_backend *b, cf_eval *train, cf_eval *test, cf_error *err) {
    if (!b || !train || !test) return cf_fail(err, CF_ERR_INVALID, "gpu evaluate: %s is NULL", b ? "out" : "backend");
    return eval_sets(b, 1, 1, train, test, err);
}
