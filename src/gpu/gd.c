/*
 * gd.c — full-batch and mini-batch gradient descent on the GPU through cuSPARSE
 * (DESIGN.md §2; the CPU reference, its derivation and its conventions are src/cpu/gd.c).
 *
 * Objective (sum form), Λ_row = cf_reg_lambda(reg, λ, n_row, |Ω|), the biases' Λb_row =
 * cf_bias_reg_lambda(cfg, n_row, |Ω|) (Λ_row by default), e_ui = r_ui − r̂_ui:
 *     L = Σ_Ω e_ui² + Σ_u (Λ_u ‖p_u‖² + Λb_u b_u²) + Σ_i (Λ_i ‖q_i‖² + Λb_i b_i²)
 *     ∇P = −2 E Q + 2 Λ_u P     ∇b_u = −2 Σ_i e_ui + 2 Λb_u b_u
 *     ∇Q = −2 Eᵀ P + 2 Λ_i Q    ∇b_i = −2 Σ_u e_ui + 2 Λb_i b_i
 *
 * Full batch (CF_ALGO_GD), one step per epoch from the same parameters:
 *   1. E in both layouts by a kernel: e per CSR entry (users) and per CSC entry (items),
 *      the same arithmetic in the same order, so both hold the same values;
 *   2. C_u = E · [Q | 1] and C_i = Eᵀ · [P | 1] by cuSPARSE SpMM over the CSR and the CSC
 *      (as CSR of Rᵀ), both with opA = NON_TRANSPOSE; column K is Σ e with biases;
 *   3. both sides step (kernel): θ −= η g or Adam, g = −2 C + 2 Λ θ (Λb for a bias).
 * Mini-batch (CF_ALGO_MINIBATCH): the CPU's batches of the epoch (src/sgd_work.h) as CSR
 *   entry numbers twice, sorted by user and sorted by item, uploaded once per epoch (4
 *   bytes a rating and list) and turned into COO on the device (kernels/gd.cu gather_coo,
 *   from R's CSR and each entry's user, resident); per batch S: e on S
 *   in both orders (one kernel, the same arithmetic: the same values), C_u = E_S·[Q|1]
 *   over the user-sorted COO (n_users × n_items) and C_i = E_Sᵀ·[P|1] over the item-sorted
 *   COO (n_items × n_users), both with opA = NON_TRANSPOSE, then every row steps with the
 *   regularization scaled by |S|/|Ω|.
 * cuSPARSE (docs: CUDA 12.8 cuSPARSE generic API, cusparseSpMM), through gpulib.h's
 *   cf_gpulib_spmm_csr / _coo: CSR_ALG2 and COO_ALG4 are the algorithms documented for
 *   row-major dense operands; no SpMM algorithm except COO_ALG2, CSR_ALG3 and BSR_ALG1 is
 *   documented bit-deterministic, so GD rounds may differ run to run in the last bits.
 *   gpulib tries each once with cusparseSpMM_bufferSize and uses CUSPARSE_SPMM_ALG_DEFAULT
 *   where it is refused (by bufferSize or by cusparseSpMM itself). The transposed
 *   COO product the first version used is avoided: the algorithm table documents no
 *   transposed row-major COO case, and COO row-major support only dates from 11.7u1.
 * Adam: β1 = 0.9, β2 = 0.999, ε = 1e-8, bias correction from the host's step count
 * (moments and count persist across epochs and batches), as on the CPU. Checkpoints carry
 * the count and the moments (n_rows × ld per side, column K the bias's) in the CPU's form.
 * Rows without ratings are set to zero at each epoch; the NaN guard runs after each.
 * cuSPARSE takes 32-bit offsets here: more than 2^31 − 1 ratings is a clear error.
 */
#include "gpu_impl.h"

#include "sgd_work.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cf_gpu_gd {
    float *d_E_u, *d_E_i;       /* residuals per CSR entry / per CSC entry (full batch) */
    int32_t *d_off_u, *d_off_i; /* 32-bit offsets of both layouts */
    float *d_C_u, *d_C_i;       /* SpMM products, n_rows × ld per side */
    float *d_m[2], *d_v[2];     /* Adam moments per side, n_rows × ld */
    int64_t adam_t;
    /* mini-batch */
    uint32_t *h_eu, *h_ei;      /* host: this epoch's batches as CSR entries, by user / by item */
    uint32_t *d_entry_user;     /* device: the user of each CSR entry */
    int64_t *h_scratch;         /* 2·nnz */
    int64_t *h_item_order;      /* the CSR entries sorted by item (cf_entries_by_item) */
    uint32_t *d_cu, *d_ci, *d_cu_i, *d_ci_i; /* device: users, items of both orders */
    float *d_cr, *d_cr_i, *d_E_b, *d_E_bi;   /* ratings, residuals of both orders */
    size_t bytes;
} cf_gpu_gd;

void cf_gpu_gd_free(cf_backend *b) {
    cf_gpu_gd *g = b ? b->gd : NULL;
    if (!g) return;
    cudaFree(g->d_E_u), cudaFree(g->d_E_i), cudaFree(g->d_off_u), cudaFree(g->d_off_i);
    cudaFree(g->d_C_u), cudaFree(g->d_C_i);
    for (int s = 0; s < 2; s++) cudaFree(g->d_m[s]), cudaFree(g->d_v[s]);
    cudaFree(g->d_cu), cudaFree(g->d_ci), cudaFree(g->d_cr), cudaFree(g->d_E_b);
    cudaFree(g->d_cu_i), cudaFree(g->d_ci_i), cudaFree(g->d_cr_i), cudaFree(g->d_E_bi);
    b->alloc_bytes -= g->bytes < b->alloc_bytes ? g->bytes : b->alloc_bytes;
    cudaFree(g->d_entry_user);
    free(g->h_eu), free(g->h_ei), free(g->h_scratch), free(g->h_item_order);
    free(g);
    b->gd = NULL;
}

static cf_status gd_alloc(cf_backend *b, void **p, size_t bytes, const char *what, cf_error *err) {
    cf_status st = cf_gpu_alloc(b, p, bytes, what, err);
    if (!st) b->gd->bytes += bytes;
    return st;
}

static cf_status make_state(cf_backend *b, cf_error *err) {
    cf_status st = CF_OK;
    const cf_gpu_side *U = &b->side[CF_SIDE_USERS], *I = &b->side[CF_SIDE_ITEMS];
    const int mini = b->cfg.algo == CF_ALGO_MINIBATCH;
    if (b->nnz > INT32_MAX)
        return cf_fail(err, CF_ERR_UNSUPPORTED,
                       "%s on the GPU: %lld ratings, at most 2^31 − 1 (32-bit cuSPARSE offsets); "
                       "use --device cpu",
                       mini ? "minibatch" : "gd", (long long)b->nnz);
    cf_gpu_gd *g = cf_calloc(1, sizeof *g, err, "GPU GD state");
    if (!g) return CF_ERR_NOMEM;
    b->gd = g;
    const size_t nnz = (size_t)b->nnz, ld = (size_t)b->ld;
    if ((st = gd_alloc(b, (void **)&g->d_C_u, (size_t)U->n_rows * ld * sizeof(float), "GD user products", err)) ||
        (st = gd_alloc(b, (void **)&g->d_C_i, (size_t)I->n_rows * ld * sizeof(float), "GD item products", err)))
        goto cleanup;
    if (!mini) {
        if ((st = gd_alloc(b, (void **)&g->d_E_u, nnz * sizeof(float), "GD residuals (CSR)", err)) ||
            (st = gd_alloc(b, (void **)&g->d_E_i, nnz * sizeof(float), "GD residuals (CSC)", err)) ||
            (st = gd_alloc(b, (void **)&g->d_off_u, ((size_t)U->n_rows + 1) * sizeof(int32_t), "GD user offsets", err)) ||
            (st = gd_alloc(b, (void **)&g->d_off_i, ((size_t)I->n_rows + 1) * sizeof(int32_t), "GD item offsets", err)))
            goto cleanup;
        CF_LAUNCH(launch_offsets32(U->d_ptr, U->n_rows, g->d_off_u, b->stream));
        CF_LAUNCH(launch_offsets32(I->d_ptr, I->n_rows, g->d_off_i, b->stream));
    } else {
        const cf_ratings *R = b->R;
        size_t batch = (size_t)(b->cfg.batch < b->nnz ? b->cfg.batch : (b->nnz > 0 ? b->nnz : 1));
        g->h_eu = cf_malloc((nnz ? nnz : 1) * sizeof *g->h_eu, err, "mini-batch entries");
        g->h_ei = cf_malloc((nnz ? nnz : 1) * sizeof *g->h_ei, err, "mini-batch entries (by item)");
        g->h_scratch = cf_malloc((2 * nnz + 1) * sizeof *g->h_scratch, err, "mini-batch scratch");
        g->h_item_order = cf_malloc((nnz ? nnz : 1) * sizeof *g->h_item_order, err, "mini-batch item order");
        if (!g->h_eu || !g->h_ei || !g->h_scratch || !g->h_item_order) {
            st = CF_ERR_NOMEM;
            goto cleanup;
        }
        if ((st = cf_entries_by_item_threads(R, b->cfg.threads, g->h_item_order, err))) goto cleanup;
        /* each entry's user, on the device for the run (built in h_eu, which is free now) */
        if ((st = gd_alloc(b, (void **)&g->d_entry_user, nnz * sizeof(uint32_t), "mini-batch entry users", err)))
            goto cleanup;
        cf_ratings_entry_users(R, b->cfg.threads, g->h_eu);
        if (nnz) CF_CUDA(cudaMemcpy(g->d_entry_user, g->h_eu, nnz * sizeof(uint32_t), cudaMemcpyHostToDevice));
        if ((st = gd_alloc(b, (void **)&g->d_cu, nnz * sizeof(uint32_t), "mini-batch users", err)) ||
            (st = gd_alloc(b, (void **)&g->d_ci, nnz * sizeof(uint32_t), "mini-batch items", err)) ||
            (st = gd_alloc(b, (void **)&g->d_cr, nnz * sizeof(float), "mini-batch ratings", err)) ||
            (st = gd_alloc(b, (void **)&g->d_cu_i, nnz * sizeof(uint32_t), "mini-batch users (by item)", err)) ||
            (st = gd_alloc(b, (void **)&g->d_ci_i, nnz * sizeof(uint32_t), "mini-batch items (by item)", err)) ||
            (st = gd_alloc(b, (void **)&g->d_cr_i, nnz * sizeof(float), "mini-batch ratings (by item)", err)) ||
            (st = gd_alloc(b, (void **)&g->d_E_b, batch * sizeof(float), "mini-batch residuals", err)) ||
            (st = gd_alloc(b, (void **)&g->d_E_bi, batch * sizeof(float), "mini-batch residuals (by item)", err)))
            goto cleanup;
    }
    if (b->alloc_peak > b->stats.alloc_peak_bytes) b->stats.alloc_peak_bytes = b->alloc_peak;
cleanup:
    if (st) cf_gpu_gd_free(b);
    return st;
}

/* C = E · Z over a CSR E (A not transposed; Z = the other side's F, z_rows × d, and C,
 * c_rows × d, row-major with leading dimension ld). */
static cf_status spmm_csr(cf_backend *b, const int32_t *d_off, const uint32_t *d_idx,
                          const float *d_E, int64_t z_rows, const float *d_Z, int64_t c_rows,
                          float *d_C, cf_error *err) {
    cf_status st = CF_OK;
    CF_GPULIB(cf_gpulib_spmm_csr(b->lib, c_rows, z_rows, b->nnz, d_off, d_idx, d_E, b->d, 1.0f, d_Z,
                                 b->ld, 0.0f, d_C, b->ld, err));
    cf_gpu_count_lib_workspace(b);
cleanup:
    return st;
}

/* The same over m entries in COO (rows sorted), for the mini-batches. */
static cf_status spmm_coo(cf_backend *b, int64_t m, const uint32_t *d_row, const uint32_t *d_col,
                          const float *d_E, int64_t z_rows, const float *d_Z, int64_t c_rows,
                          float *d_C, cf_error *err) {
    cf_status st = CF_OK;
    CF_GPULIB(cf_gpulib_spmm_coo(b->lib, c_rows, z_rows, m, d_row, d_col, d_E, b->d, 1.0f, d_Z,
                                 b->ld, 0.0f, d_C, b->ld, err));
    cf_gpu_count_lib_workspace(b);
cleanup:
    return st;
}

/* Adam's moments, both sides (zero at first; kept once made). */
static cf_status alloc_moments(cf_backend *b, cf_gpu_gd *g, cf_error *err) {
    cf_status st = CF_OK;
    for (int s = 0; s < 2 && !st; s++) {
        if (g->d_m[s]) continue;
        size_t bytes = (size_t)b->side[s].n_rows * (size_t)b->ld * sizeof(float);
        if (!(st = gd_alloc(b, (void **)&g->d_m[s], bytes, "Adam first moments", err)))
            st = gd_alloc(b, (void **)&g->d_v[s], bytes, "Adam second moments", err);
    }
    return st;
}

/* Both sides step along C_u, C_i (scale: the regularization's share, 1 for full batch). */
static cf_status step_both(cf_backend *b, cf_gpu_gd *g, double lr, double scale, cf_error *err) {
    cf_status st = CF_OK;
    const int adam = b->cfg.optimizer == CF_OPT_ADAM;
    float c1 = 1.0f, c2 = 1.0f;
    if (adam) {
        if ((st = alloc_moments(b, g, err))) return st;
        g->adam_t++;
        c1 = (float)(1.0 - pow(0.9, (double)g->adam_t));
        c2 = (float)(1.0 - pow(0.999, (double)g->adam_t));
    }
    const float *C[2] = {g->d_C_u, g->d_C_i};
    for (int s = 0; s < 2; s++) {
        cf_gpu_side *S = &b->side[s];
        CF_LAUNCH(launch_gd_step(S->d_ptr, S->n_rows, C[s], S->d_F, S->d_b, adam ? g->d_m[s] : NULL,
                                 adam ? g->d_v[s] : NULL, b->k, b->ld, b->bias, b->cfg.lambda,
                                 cf_gpu_reg_mode(b->cfg.reg), cf_bias_lambda(&b->cfg),
                                 cf_gpu_reg_mode(cf_bias_reg(&b->cfg)), b->nnz, scale, (float)lr, c1, c2,
                                 b->stream));
    }
cleanup:
    return st;
}

static cf_status full_batch(cf_backend *b, cf_gpu_gd *g, double lr, cf_error *err) {
    cf_status st = CF_OK;
    cf_gpu_side *U = &b->side[CF_SIDE_USERS], *I = &b->side[CF_SIDE_ITEMS];
    const float mu = (float)b->mu;
    /* 1. E over the CSR (rows = users) and over the CSC (rows = items) */
    CF_LAUNCH(launch_residuals_csr(U->d_ptr, U->d_idx, U->d_val, U->n_rows, U->d_F, U->d_b, I->d_F,
                                   I->d_b, b->k, b->ld, mu, b->bias, 1, g->d_E_u, b->stream));
    CF_LAUNCH(launch_residuals_csr(I->d_ptr, I->d_idx, I->d_val, I->n_rows, I->d_F, I->d_b, U->d_F,
                                   U->d_b, b->k, b->ld, mu, b->bias, 0, g->d_E_i, b->stream));
    /* 2. C_u = E·[Q|1], C_i = Eᵀ·[P|1], both CSR with A not transposed */
    if ((st = spmm_csr(b, g->d_off_u, U->d_idx, g->d_E_u, I->n_rows, I->d_F, U->n_rows, g->d_C_u,
                       err)) ||
        (st = spmm_csr(b, g->d_off_i, I->d_idx, g->d_E_i, U->n_rows, U->d_F, I->n_rows, g->d_C_i,
                       err)))
        goto cleanup;
    /* 3. one simultaneous step */
    st = step_both(b, g, lr, 1.0, err);
cleanup:
    return st;
}

static cf_status mini_batches(cf_backend *b, cf_gpu_gd *g, int32_t epoch, double lr, cf_error *err) {
    cf_status st = CF_OK;
    cf_gpu_side *U = &b->side[CF_SIDE_USERS], *I = &b->side[CF_SIDE_ITEMS];
    const int64_t n = b->nnz, batch = b->cfg.batch;
    const size_t n4 = (size_t)n * 4; /* bytes of one list's array (uint32 or float) */
    if ((st = cf_minibatch_entries(b->R, b->cfg.seed, epoch, batch, b->cfg.threads, g->h_scratch, g->h_eu,
                                   g->h_item_order, g->h_ei, err)))
        return st;
    if (n) { /* the entries into the ratings' buffers, which the gathers turn into ratings */
        CF_CUDA(cudaMemcpy(g->d_cr, g->h_eu, n4, cudaMemcpyHostToDevice));
        CF_CUDA(cudaMemcpy(g->d_cr_i, g->h_ei, n4, cudaMemcpyHostToDevice));
        CF_LAUNCH(launch_gather_coo((uint32_t *)g->d_cr, n, g->d_entry_user, U->d_idx, U->d_val, g->d_cu, g->d_ci,
                                    b->stream));
        CF_LAUNCH(launch_gather_coo((uint32_t *)g->d_cr_i, n, g->d_entry_user, U->d_idx, U->d_val, g->d_cu_i,
                                    g->d_ci_i, b->stream));
    }
    for (int64_t from = 0; from < n; from += batch) {
        if (from > 0 && (st = cf_gpu_stop_poll(b, "minibatch", err))) goto cleanup; /* Ctrl-C between batches */
        const int64_t m = n - from < batch ? n - from : batch;
        /* e on S in both orders: the same kernel on the same ratings gives the same values */
        CF_LAUNCH(launch_residuals_coo(g->d_cu + from, g->d_ci + from, g->d_cr + from, m, U->d_F, U->d_b,
                                       I->d_F, I->d_b, b->k, b->ld, (float)b->mu, b->bias, g->d_E_b,
                                       b->stream));
        CF_LAUNCH(launch_residuals_coo(g->d_cu_i + from, g->d_ci_i + from, g->d_cr_i + from, m, U->d_F,
                                       U->d_b, I->d_F, I->d_b, b->k, b->ld, (float)b->mu, b->bias,
                                       g->d_E_bi, b->stream));
        /* C_u = E_S·[Q|1] with E_S n_users × n_items sorted by user; C_i = E_Sᵀ·[P|1] with
         * E_Sᵀ n_items × n_users sorted by item. 32-bit indices (< 2^31: open checks the
         * sides), arrays 4-byte aligned as cusparseCreateCoo requires. */
        if ((st = spmm_coo(b, m, g->d_cu + from, g->d_ci + from, g->d_E_b, I->n_rows, I->d_F,
                           U->n_rows, g->d_C_u, err)) ||
            (st = spmm_coo(b, m, g->d_ci_i + from, g->d_cu_i + from, g->d_E_bi, U->n_rows, U->d_F,
                           I->n_rows, g->d_C_i, err)))
            goto cleanup;
        if ((st = step_both(b, g, lr, (double)m / (double)n, err))) goto cleanup;
    }
cleanup:
    return st;
}

cf_status cf_gpu_gd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err) {
    cf_status st = CF_OK;
    if (!b) return cf_fail(err, CF_ERR_INVALID, "gpu gd: backend is NULL");
    const int mini = b->cfg.algo == CF_ALGO_MINIBATCH;
    const char *algo = mini ? "minibatch" : "gd";
    if (epoch < 0) return cf_fail(err, CF_ERR_INVALID, "%s: epoch %d, must be >= 0", algo, epoch);
    if (!(lr > 0)) return cf_fail(err, CF_ERR_INVALID, "%s: lr %g, must be > 0", algo, lr);
    if (!b->gd && (st = make_state(b, err))) return st;
    cf_gpu_gd *g = b->gd;
    const int timing = b->tune.timing && b->ev[0];
    for (int s = 0; s < 2; s++) {
        cf_gpu_side *S = &b->side[s];
        CF_LAUNCH(launch_zero_empty_rows(S->d_ptr, S->n_rows, S->d_F, b->ld, S->d_b, NULL, b->k, b->stream));
    }
    if (timing) CF_CUDA(cudaEventRecord(b->ev[0], b->stream));
    if ((st = mini ? mini_batches(b, g, epoch, lr, err) : full_batch(b, g, lr, err))) goto cleanup;
    if (timing) {
        float ms = 0.0f;
        CF_CUDA(cudaEventRecord(b->ev[1], b->stream));
        CF_CUDA(cudaEventSynchronize(b->ev[1]));
        CF_CUDA(cudaEventElapsedTime(&ms, b->ev[0], b->ev[1]));
        b->stats.gd_ms += ms;
    }
    b->stats.gd_epochs++;
    st = cf_gpu_check_finite(b, algo, (int64_t)epoch + 1, "try a smaller --lr", err);
cleanup:
    return st;
}

/* ---------------------------------------------------------------- checkpoints */

/* Device moments (n_rows × ld, column k the bias's) ↔ the rows of X (n_rows × k) and bx. */
static cf_status moments_down(cf_backend *b, const float *d, int64_t n, double *X, double *bx, float *h,
                              cf_error *err) {
    cf_status st = CF_OK;
    const size_t k = (size_t)b->k, ld = (size_t)b->ld;
    if (!n) return CF_OK;
    CF_CUDA(cudaMemcpy(h, d, (size_t)n * ld * sizeof(float), cudaMemcpyDeviceToHost));
    for (int64_t r = 0; r < n; r++) {
        for (size_t c = 0; c < k; c++) X[(size_t)r * k + c] = (double)h[(size_t)r * ld + c];
        if (bx) bx[r] = b->bias ? (double)h[(size_t)r * ld + k] : 0.0;
    }
cleanup:
    return st;
}

static cf_status moments_up(cf_backend *b, float *d, int64_t n, const double *X, const double *bx, float *h,
                            cf_error *err) {
    cf_status st = CF_OK;
    const size_t k = (size_t)b->k, ld = (size_t)b->ld;
    if (!n) return CF_OK;
    memset(h, 0, (size_t)n * ld * sizeof(float));
    for (int64_t r = 0; r < n; r++) {
        for (size_t c = 0; c < k; c++) h[(size_t)r * ld + c] = (float)X[(size_t)r * k + c];
        if (b->bias && bx) h[(size_t)r * ld + k] = (float)bx[r];
    }
    CF_CUDA(cudaMemcpy(d, h, (size_t)n * ld * sizeof(float), cudaMemcpyHostToDevice));
cleanup:
    return st;
}

static float *moment_staging(const cf_backend *b, cf_error *err) {
    const int64_t n = b->side[0].n_rows > b->side[1].n_rows ? b->side[0].n_rows : b->side[1].n_rows;
    return cf_malloc(((size_t)n * (size_t)b->ld + 1) * sizeof(float), err, "Adam moment staging");
}

cf_status cf_gpu_gd_state_export(cf_backend *b, cf_solver_state *out, cf_error *err) {
    memset(out, 0, sizeof *out);
    const cf_gpu_gd *g = b->gd;
    if (!g) return CF_OK; /* no step taken yet */
    out->counter = g->adam_t;
    if (!g->d_m[0]) return CF_OK;
    const int64_t nu = b->side[CF_SIDE_USERS].n_rows, ni = b->side[CF_SIDE_ITEMS].n_rows;
    cf_status st;
    float *h = NULL;
    if ((st = cf_factors_alloc(&out->m, nu, ni, b->k, b->bias, err)) ||
        (st = cf_factors_alloc(&out->v, nu, ni, b->k, b->bias, err)))
        goto fail;
    if (!(h = moment_staging(b, err))) {
        st = CF_ERR_NOMEM;
        goto fail;
    }
    if ((st = moments_down(b, g->d_m[0], nu, out->m.P, out->m.bu, h, err)) ||
        (st = moments_down(b, g->d_m[1], ni, out->m.Q, out->m.bi, h, err)) ||
        (st = moments_down(b, g->d_v[0], nu, out->v.P, out->v.bu, h, err)) ||
        (st = moments_down(b, g->d_v[1], ni, out->v.Q, out->v.bi, h, err)))
        goto fail;
    free(h);
    out->has_moments = 1;
    return CF_OK;
fail:
    free(h);
    cf_solver_state_free(out);
    return st;
}

cf_status cf_gpu_gd_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err) {
    if (in->counter < 0) return cf_fail(err, CF_ERR_INVALID, "gd state: step count %lld < 0", (long long)in->counter);
    if (in->counter == 0 && !in->has_moments) return CF_OK; /* the state of a fresh start */
    if (in->has_moments && b->cfg.optimizer != CF_OPT_ADAM)
        return cf_fail(err, CF_ERR_INVALID, "gd state: Adam moments, but the optimizer is plain");
    const int64_t nu = b->side[CF_SIDE_USERS].n_rows, ni = b->side[CF_SIDE_ITEMS].n_rows;
    if (in->has_moments &&
        (in->m.n_users != nu || in->m.n_items != ni || in->m.k != b->k || in->v.n_users != nu ||
         in->v.n_items != ni || in->v.k != b->k))
        return cf_fail(err, CF_ERR_INVALID, "gd state: the Adam moments have other dimensions than the factors");
    cf_status st;
    if (!b->gd && (st = make_state(b, err))) return st;
    cf_gpu_gd *g = b->gd;
    g->adam_t = in->counter;
    if (!in->has_moments) return CF_OK;
    if ((st = alloc_moments(b, g, err))) return st;
    float *h = moment_staging(b, err);
    if (!h) return CF_ERR_NOMEM;
    if (!(st = moments_up(b, g->d_m[0], nu, in->m.P, in->m.bu, h, err)) &&
        !(st = moments_up(b, g->d_m[1], ni, in->m.Q, in->m.bi, h, err)) &&
        !(st = moments_up(b, g->d_v[0], nu, in->v.P, in->v.bu, h, err)))
        st = moments_up(b, g->d_v[1], ni, in->v.Q, in->v.bi, h, err);
    free(h);
    return st;
}
