/*
 * sgd.c — one SGD epoch on the GPU (DESIGN.md §2), and the NaN guard shared with gd.c.
 *
 * Objective and update rule: as the CPU reference src/cpu/sgd.c (sum form, per-rating
 * shares λ'_row = Λ_row / n_row of the row's regularization, and λ'b_row = Λb_row / n_row
 * of the biases', Λb_row = cf_bias_reg_lambda: their own λ_b and mode), one rating at a
 * time:
 *     e = r − r̂,  b_u += η(e − λ'b_u b_u),  b_i += η(e − λ'b_i b_i),
 *     p_u += η(e q_i − λ'_u p_u),  q_i += η(e p_u_old − λ'_i q_i),
 * with the trainer's learning rate of the epoch (const or η_0/(1 + β t^1.5)). λ' and λ'b
 * are uploaded per row once (fp32); λ'b only where the biases have their own λ_b or mode
 * (cf_bias_reg_same false): otherwise λ'b = λ' and the kernels read nothing more.
 *
 * Schedules (kernels/sgd.cu has the kernels, src/sgd_work.h the orders):
 *   blocks  — the CPU's block/wave schedule (schedule.h): the ratings uploaded once in
 *             block order with the B·B + 1 block offsets; per epoch the wave shifts σ_t
 *             from cf_blocks_epoch_shifts and B launches, one warp per block of a wave.
 *             Reproducible, and equal to the CPU `blocks` run up to rounding.
 *   hogwild — the ratings uploaded once in user (CSR) order; per epoch one launch of
 *             the planned number of warps (cf_hogwild_plan: bounded by the device, by the
 *             rows and the ratings of the data and by the runs), which take runs of consecutive ratings
 *             in the epoch's fresh random order (cf_hogwild_epoch: the list rotated by a
 *             random offset, the runs permuted), each warp the next from a device
 *             counter as it finishes. Lock-free and not reproducible. A warp
 *             writes an item row back as an atomic add of its update (default; or a
 *             store of its copy: tune.sgd_item_write), its user rows by store (a run of
 *             one user's ratings is one warp's; with tune.sgd_runs = CF_SGD_RUNS_USERS
 *             a run takes whole users, so a heavy user's row is one warp's too; users of
 *             more than cf_hogwild_heavy_min ratings go first, each alone).
 *             `shuffle` (the CPU's sequential order, the default) runs as hogwild here:
 *             one warp at a time would idle the device.
 * Rows without ratings are set to zero at the start of each epoch, as on the CPU.
 *
 * fp16 (cfg.precision): P and Q are kept in half precision (row stride K) for the update
 * kernels; F (fp32) is refreshed from them after every epoch, so evaluate, download and
 * the NaN guard read what the halves hold. After an upload the halves are rebuilt from F.
 *
 * NaN guard: after every epoch each side's factors and biases are scanned on the device;
 * a non-finite value is CF_ERR_NUMERIC naming the epoch (1-based) and the first bad row,
 * as the CPU does.
 */
#include "gpu_impl.h"

#include "sgd_work.h"

#include <stdlib.h>
#include <string.h>

int cf_gpu_sgd_runs_for(int64_t nnz) {
    return nnz <= CF_SGD_WHOLE_USERS_MAX_NNZ ? CF_SGD_RUNS_USERS : CF_SGD_RUNS_FIXED;
}

typedef struct cf_gpu_sgd {
    cf_sgd_schedule schedule; /* CF_SCHED_BLOCKS or CF_SCHED_HOGWILD */
    int depth;                /* the kernels' look-ahead ring (tune.sgd_prefetch resolved) */
    int item_add;             /* hogwild: item rows written back as atomic adds (tune.sgd_item_write) */
    int64_t n;
    uint32_t *d_su, *d_si;
    float *d_sr;
    float *d_lam_u, *d_lam_i;   /* λ' per row */
    float *d_lamb_u, *d_lamb_i; /* λ'b per row, where the biases have their own λ_b or mode; else NULL */
    cf_blocks blocks;           /* blocks: the host schedule (for the wave shifts) */
    int64_t *d_block_ptr;
    int32_t *h_shift;
    cf_sgd_hogwild_order order; /* hogwild: the plan (the epoch's fields set per epoch) */
    uint32_t *d_heavy;          /* whole users: the heavy users (order.heavy) */
    unsigned long long *d_next; /* hogwild: the epoch's work counter (order.next) */
    void *d_Ph, *d_Qh;          /* fp16 factors (row stride K), NULL in fp32 */
    int halves_in_F;            /* F holds the halves' values (set after the conversion
                                   that ends an epoch, cleared when an epoch starts) */
    size_t bytes;               /* device bytes of this state */
} cf_gpu_sgd;

int cf_gpu_sgd_halves(cf_backend *b, const void **P, const void **Q) {
    const cf_gpu_sgd *s = b->sgd;
    if (!s || !s->d_Ph || !s->d_Qh || b->fp16_stale || !s->halves_in_F) return 0;
    *P = s->d_Ph, *Q = s->d_Qh;
    return 1;
}

void cf_gpu_sgd_free(cf_backend *b) {
    cf_gpu_sgd *s = b ? b->sgd : NULL;
    if (!s) return;
    cudaFree(s->d_su), cudaFree(s->d_si), cudaFree(s->d_sr);
    cudaFree(s->d_lam_u), cudaFree(s->d_lam_i), cudaFree(s->d_block_ptr);
    cudaFree(s->d_lamb_u), cudaFree(s->d_lamb_i);
    cudaFree(s->d_Ph), cudaFree(s->d_Qh), cudaFree(s->d_heavy), cudaFree(s->d_next);
    b->alloc_bytes -= s->bytes < b->alloc_bytes ? s->bytes : b->alloc_bytes;
    cf_blocks_free(&s->blocks);
    free(s->h_shift);
    free(s);
    b->sgd = NULL;
}

/* The L2 read ceiling (gpu.h). */
cf_status cf_gpu_l2_bandwidth(cf_backend *b, size_t bytes, int reps, double *gbps, cf_error *err) {
    cf_status st = CF_OK;
    void *d_buf = NULL;
    float *d_sink = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    const int grid = (b && b->sm_count > 0 ? b->sm_count : 1) * 8;
    if (!b || !gbps || bytes < 16 || reps < 1)
        return cf_fail(err, CF_ERR_INVALID, "gpu l2_bandwidth: bad argument (bytes %zu, reps %d)", bytes, reps);
    *gbps = 0.0;
    bytes = bytes / 16 * 16;
    if ((st = cf_gpu_alloc(b, &d_buf, bytes, "L2 ceiling buffer", err)) ||
        (st = cf_gpu_alloc(b, (void **)&d_sink, (size_t)grid * 256 * sizeof(float), "L2 ceiling sink", err)))
        goto cleanup;
    CF_CUDA(cudaMemsetAsync(d_buf, 0, bytes, b->stream));
    CF_CUDA(cudaEventCreate(&e0));
    CF_CUDA(cudaEventCreate(&e1));
    CF_LAUNCH(launch_l2_read(d_buf, (int64_t)bytes, 1, d_sink, grid, b->stream)); /* into L2 */
    float best = 0.0f;
    for (int r = 0; r < 3; r++) { /* the fastest of three: the ceiling */
        float t = 0.0f;
        CF_CUDA(cudaEventRecord(e0, b->stream));
        CF_LAUNCH(launch_l2_read(d_buf, (int64_t)bytes, reps, d_sink, grid, b->stream));
        CF_CUDA(cudaEventRecord(e1, b->stream));
        CF_CUDA(cudaEventSynchronize(e1));
        CF_CUDA(cudaEventElapsedTime(&t, e0, e1));
        if (r == 0 || t < best) best = t;
    }
    *gbps = best > 0.0f ? (double)bytes * reps / (best * 1e-3) / 1e9 : 0.0;
cleanup:
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cf_gpu_free(b, d_buf, bytes);
    cf_gpu_free(b, d_sink, (size_t)grid * 256 * sizeof(float));
    return st;
}

static cf_status state_alloc(cf_backend *b, cf_gpu_sgd *s, void **p, size_t bytes, const char *what,
                             cf_error *err) {
    cf_status st = cf_gpu_alloc(b, p, bytes, what, err);
    if (!st) s->bytes += bytes;
    return st;
}

/* λ'_row = Λ_row / n_row (0 for an empty row) of one side, uploaded as floats; with
 * bias = 1 the biases' λ'b_row = Λb_row / n_row instead (cf_bias_reg_lambda). */
static cf_status upload_lambdas(cf_backend *b, cf_gpu_sgd *s, const cf_gpu_side *S, int bias, float **d_out,
                                cf_error *err) {
    cf_status st = CF_OK;
    const char *what = bias ? "SGD bias lambdas" : "SGD lambdas";
    float *h = cf_malloc((size_t)(S->n_rows > 0 ? S->n_rows : 1) * sizeof *h, err, what);
    if (!h) return CF_ERR_NOMEM;
    for (int64_t r = 0; r < S->n_rows; r++) {
        int64_t n = S->h_ptr[r + 1] - S->h_ptr[r];
        const double lam = bias ? cf_bias_reg_lambda(&b->cfg, n, b->nnz) : cf_reg_lambda(b->cfg.reg, b->cfg.lambda, n, b->nnz);
        h[r] = n ? (float)(lam / (double)n) : 0.0f;
    }
    if ((st = state_alloc(b, s, (void **)d_out, (size_t)S->n_rows * sizeof(float), what, err)))
        goto cleanup;
    if (S->n_rows)
        CF_CUDA(cudaMemcpy(*d_out, h, (size_t)S->n_rows * sizeof(float), cudaMemcpyHostToDevice));
cleanup:
    free(h);
    return st;
}

/* Schedule, work list, λ' and (fp16) the halves, from the host matrix R. */
static cf_status make_state(cf_backend *b, const cf_ratings *R, cf_gpu_sgd **out, cf_error *err) {
    cf_status st = CF_OK;
    cf_sgd_work w = {0};
    uint32_t *heavy = NULL; /* whole users: the heavy users on the host, for the upload */
    cf_gpu_sgd *s = cf_calloc(1, sizeof *s, err, "GPU SGD state");
    if (!s) return CF_ERR_NOMEM;
    b->sgd = s;
    s->schedule = b->cfg.schedule == CF_SCHED_BLOCKS ? CF_SCHED_BLOCKS : CF_SCHED_HOGWILD;
    s->n = b->nnz;
    const int fp16 = b->cfg.precision == CF_PRECISION_FP16;
    {
        const int want = b->tune.sgd_prefetch > 0 ? b->tune.sgd_prefetch
                         : s->schedule == CF_SCHED_BLOCKS ? CF_SGD_DEPTH_BLOCKS
                                                          : CF_SGD_DEPTH_HOGWILD;
        const int ran = cf_sgd_depth(b->k, fp16 ? b->k : b->ld, fp16, want);
        s->depth = ran > 0 ? ran : 1; /* the memory path ignores it */
        b->stats.sgd_prefetch = ran;
    }
    {
        const int want = b->tune.sgd_item_write ? b->tune.sgd_item_write : CF_SGD_ITEM_DEFAULT;
        if (want != CF_SGD_ITEM_ADD && want != CF_SGD_ITEM_STORE) {
            st = cf_fail(err, CF_ERR_INVALID, "gpu sgd: item write mode %d (give CF_SGD_ITEM_ADD or _STORE)", want);
            goto cleanup;
        }
        s->item_add = s->schedule == CF_SCHED_HOGWILD && want == CF_SGD_ITEM_ADD;
        b->stats.sgd_item_write = s->item_add ? CF_SGD_ITEM_ADD : CF_SGD_ITEM_STORE;
    }
    b->stats.sgd_runs = CF_SGD_RUNS_FIXED; /* (hogwild below may say otherwise) */
    if (s->schedule == CF_SCHED_BLOCKS) {
        if ((st = cf_blocks_build_threads(R, b->cfg.blocks, b->cfg.seed, b->cfg.threads, &s->blocks, err)) ||
            (st = cf_sgd_work_blocks_threads(R, &s->blocks, b->cfg.threads, &w, err)))
            goto cleanup;
        b->stats.sgd_chain = cf_blocks_chain(&s->blocks);
        size_t nb = (size_t)b->cfg.blocks * (size_t)b->cfg.blocks + 1;
        s->h_shift = cf_malloc((size_t)b->cfg.blocks * sizeof *s->h_shift, err, "wave shifts");
        if (!s->h_shift) {
            st = CF_ERR_NOMEM;
            goto cleanup;
        }
        if ((st = state_alloc(b, s, (void **)&s->d_block_ptr, nb * sizeof(int64_t), "block offsets", err)))
            goto cleanup;
        CF_CUDA(cudaMemcpy(s->d_block_ptr, s->blocks.block_ptr, nb * sizeof(int64_t),
                           cudaMemcpyHostToDevice));
    } else {
        if ((st = cf_sgd_work_hogwild_threads(R, b->cfg.seed, b->cfg.threads, &w, err))) goto cleanup;
        cf_hogwild_plan(R->nnz, R->n_users, R->n_items, cf_sgd_resident_warps(b->k, fp16, s->depth, s->item_add),
                        b->tune.sgd_rows_per_warp, &s->order);
        b->stats.sgd_hogwild_warps = s->order.warps, b->stats.sgd_hogwild_run = s->order.run;
        const int runs = b->tune.sgd_runs ? b->tune.sgd_runs : cf_gpu_sgd_runs_for(R->nnz);
        if (runs != CF_SGD_RUNS_FIXED && runs != CF_SGD_RUNS_USERS) {
            st = cf_fail(err, CF_ERR_INVALID, "gpu sgd: runs mode %d (give CF_SGD_RUNS_FIXED or _USERS)", runs);
            goto cleanup;
        }
        if ((st = state_alloc(b, s, (void **)&s->d_next, sizeof *s->d_next, "SGD work counter", err))) goto cleanup;
        s->order.next = s->d_next;
        b->stats.sgd_runs = runs;
        if (runs == CF_SGD_RUNS_USERS) {
            /* the list is the CSR order by user, so the user side's offsets are its own */
            const cf_gpu_side *U = &b->side[CF_SIDE_USERS];
            s->order.user_ptr = U->d_ptr;
            s->order.heavy_min = cf_hogwild_heavy_min(&s->order);
            s->order.n_heavy = cf_hogwild_heavy_users(U->h_ptr, U->n_rows, s->order.heavy_min, NULL);
            b->stats.sgd_heavy_users = s->order.n_heavy, b->stats.sgd_heavy_min = s->order.heavy_min;
            if (s->order.n_heavy > 0) {
                const size_t hb = (size_t)s->order.n_heavy * sizeof(uint32_t);
                if (!(heavy = cf_malloc(hb, err, "heavy users"))) {
                    st = CF_ERR_NOMEM;
                    goto cleanup;
                }
                cf_hogwild_heavy_users(U->h_ptr, U->n_rows, s->order.heavy_min, heavy);
                if ((st = state_alloc(b, s, (void **)&s->d_heavy, hb, "heavy users", err))) goto cleanup;
                CF_CUDA(cudaMemcpy(s->d_heavy, heavy, hb, cudaMemcpyHostToDevice));
                s->order.heavy = s->d_heavy;
            }
        }
    }
    const size_t n = (size_t)s->n;
    if ((st = state_alloc(b, s, (void **)&s->d_su, n * sizeof(uint32_t), "SGD users", err)) ||
        (st = state_alloc(b, s, (void **)&s->d_si, n * sizeof(uint32_t), "SGD items", err)) ||
        (st = state_alloc(b, s, (void **)&s->d_sr, n * sizeof(float), "SGD ratings", err)))
        goto cleanup;
    if (n) {
        CF_CUDA(cudaMemcpy(s->d_su, w.u, n * sizeof(uint32_t), cudaMemcpyHostToDevice));
        CF_CUDA(cudaMemcpy(s->d_si, w.i, n * sizeof(uint32_t), cudaMemcpyHostToDevice));
        CF_CUDA(cudaMemcpy(s->d_sr, w.r, n * sizeof(float), cudaMemcpyHostToDevice));
    }
    if ((st = upload_lambdas(b, s, &b->side[CF_SIDE_USERS], 0, &s->d_lam_u, err)) ||
        (st = upload_lambdas(b, s, &b->side[CF_SIDE_ITEMS], 0, &s->d_lam_i, err)))
        goto cleanup;
    /* the biases' own λ'b only where it differs from λ' (kernels.h cf_sgd_args: NULL, the
     * kernels read nothing more and update as before bias_lambda existed) */
    if (b->bias && !cf_bias_reg_same(&b->cfg) &&
        ((st = upload_lambdas(b, s, &b->side[CF_SIDE_USERS], 1, &s->d_lamb_u, err)) ||
         (st = upload_lambdas(b, s, &b->side[CF_SIDE_ITEMS], 1, &s->d_lamb_i, err))))
        goto cleanup;
    if (b->cfg.precision == CF_PRECISION_FP16) {
        const size_t half = 2; /* sizeof(__half) */
        if ((st = state_alloc(b, s, &s->d_Ph,
                              (size_t)b->side[CF_SIDE_USERS].n_rows * (size_t)b->k * half,
                              "fp16 user factors", err)) ||
            (st = state_alloc(b, s, &s->d_Qh,
                              (size_t)b->side[CF_SIDE_ITEMS].n_rows * (size_t)b->k * half,
                              "fp16 item factors", err)))
            goto cleanup;
        b->fp16_stale = 1;
    }
    if (b->alloc_peak > b->stats.alloc_peak_bytes) b->stats.alloc_peak_bytes = b->alloc_peak;
    b->stats.sgd_warps_per_sm = cf_sgd_warps_per_sm(b->k, fp16, s->depth, s->item_add);
    *out = s;
cleanup:
    cf_sgd_work_free(&w);
    free(heavy);
    if (st) cf_gpu_sgd_free(b);
    return st;
}

cf_status cf_gpu_check_finite(cf_backend *b, const char *algo, int64_t epoch, const char *hint,
                              cf_error *err) {
    cf_status st = CF_OK;
    int64_t h[2][2 * CF_REDUCE_BLOCKS];
    for (int sd = 0; sd < 2; sd++) {
        const cf_gpu_side *S = &b->side[sd];
        CF_LAUNCH(launch_first_nonfinite(S->d_F, S->d_b, S->n_rows, b->k, b->ld, b->bias, b->d_bad,
                                         b->stream));
        CF_CUDA(cudaMemcpyAsync(h[sd], b->d_bad, sizeof h[sd], cudaMemcpyDeviceToHost, b->stream));
        CF_CUDA(cudaStreamSynchronize(b->stream));
    }
    /* the CPU's order: user factors, item factors, user biases, item biases */
    for (int what = 0; what < 2; what++)
        for (int sd = 0; sd < 2; sd++) {
            int64_t bad = INT64_MAX;
            for (int j = 0; j < CF_REDUCE_BLOCKS; j++)
                if (h[sd][what * CF_REDUCE_BLOCKS + j] < bad) bad = h[sd][what * CF_REDUCE_BLOCKS + j];
            if (bad != INT64_MAX)
                return cf_fail(err, CF_ERR_NUMERIC, "%s: non-finite value at epoch %lld in %s %s row %lld; %s",
                               algo, (long long)epoch, b->side[sd].name, what ? "bias" : "factor",
                               (long long)bad, hint);
        }
cleanup:
    return st;
}

cf_status cf_gpu_sgd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err) {
    cf_status st = CF_OK;
    if (!b) return cf_fail(err, CF_ERR_INVALID, "gpu sgd: backend is NULL");
    if (epoch < 0) return cf_fail(err, CF_ERR_INVALID, "sgd: epoch %d, must be >= 0", epoch);
    if (!(lr > 0)) return cf_fail(err, CF_ERR_INVALID, "sgd: lr %g, must be > 0", lr);
    cf_gpu_sgd *s = b->sgd;
    if (!s && (st = make_state(b, b->R, &s, err))) return st;
    cf_gpu_side *U = &b->side[CF_SIDE_USERS], *I = &b->side[CF_SIDE_ITEMS];
    const int fp16 = b->cfg.precision == CF_PRECISION_FP16;
    const int timing = b->tune.timing && b->ev[0];

    /* rows without ratings are zero (also in the halves once they exist) */
    CF_LAUNCH(launch_zero_empty_rows(U->d_ptr, U->n_rows, U->d_F, b->ld, U->d_b,
                                     fp16 && !b->fp16_stale ? s->d_Ph : NULL, b->k, b->stream));
    CF_LAUNCH(launch_zero_empty_rows(I->d_ptr, I->n_rows, I->d_F, b->ld, I->d_b,
                                     fp16 && !b->fp16_stale ? s->d_Qh : NULL, b->k, b->stream));
    if (fp16 && b->fp16_stale) {
        CF_LAUNCH(launch_factors_to_half(U->d_F, b->ld, U->n_rows, b->k, s->d_Ph, b->stream));
        CF_LAUNCH(launch_factors_to_half(I->d_F, b->ld, I->n_rows, b->k, s->d_Qh, b->stream));
        b->fp16_stale = 0;
    }

    cf_sgd_args a = {
        .su = s->d_su, .si = s->d_si, .sr = s->d_sr,
        .P = fp16 ? s->d_Ph : (void *)U->d_F, .Q = fp16 ? s->d_Qh : (void *)I->d_F,
        .ld = fp16 ? b->k : b->ld, .fp16 = fp16,
        .bu = U->d_b, .bi = I->d_b, .lam_u = s->d_lam_u, .lam_i = s->d_lam_i,
        .lamb_u = s->d_lamb_u, .lamb_i = s->d_lamb_i,
        .mu = (float)b->mu, .use_bias = b->bias, .k = b->k, .lr = (float)lr, .depth = s->depth,
        .item_add = s->item_add,
    };
    s->halves_in_F = 0; /* until the conversion below: an interrupted epoch leaves F behind */
    if (timing) CF_CUDA(cudaEventRecord(b->ev[0], b->stream));
    if (s->schedule == CF_SCHED_BLOCKS) {
        const int32_t B = s->blocks.B;
        cf_blocks_epoch_shifts(&s->blocks, epoch, s->h_shift);
        for (int32_t w = 0; w < B; w++) {
            /* Ctrl-C between waves (every 64: a poll synchronizes nothing unless it stops) */
            if (w > 0 && w % 64 == 0 && (st = cf_gpu_stop_poll(b, "sgd", err))) goto cleanup;
            CF_LAUNCH(launch_sgd_wave(&a, s->d_block_ptr, B, s->h_shift[w], b->stream));
        }
    } else {
        cf_hogwild_epoch(&s->order, b->cfg.seed, epoch);
        CF_LAUNCH(launch_sgd_hogwild(&a, &s->order, b->stream));
    }
    if (timing) {
        float ms = 0.0f;
        CF_CUDA(cudaEventRecord(b->ev[1], b->stream));
        CF_CUDA(cudaEventSynchronize(b->ev[1]));
        CF_CUDA(cudaEventElapsedTime(&ms, b->ev[0], b->ev[1]));
        b->stats.sgd_ms += ms;
    }
    b->stats.sgd_updates += s->n;
    b->stats.sgd_epochs++;
    if (fp16) {
        CF_LAUNCH(launch_half_to_factors(s->d_Ph, U->n_rows, b->k, U->d_F, b->ld, b->stream));
        CF_LAUNCH(launch_half_to_factors(s->d_Qh, I->n_rows, b->k, I->d_F, b->ld, b->stream));
        s->halves_in_F = 1;
    }
    st = cf_gpu_check_finite(b, "sgd", (int64_t)epoch + 1, "try a smaller --lr", err);
cleanup:
    return st;
}
