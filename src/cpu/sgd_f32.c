/*
 * sgd_f32.c — SGD on the fp32 CPU path: the reference's update rule (src/cpu/sgd.c) in
 * fp32 SIMD, over the blocks schedule (src/schedule.h), in parallel and reproducibly.
 *
 * Update, for each rating in order (λ'_row = Λ_row / n_row, the row's share, and the
 * bias's λ'b_row = Λb_row / n_row, Λb = cf_bias_reg_lambda(cfg, n_row, |Ω|), as in sgd.c):
 *   e = r − r̂;  b_u += η(e − λ'b_u b_u);  b_i += η(e − λ'b_i b_i)    (biases on)
 *   p_u ← p_u (1 − ηλ'_u) + (ηe) q_i;   q_i ← q_i (1 − ηλ'_i) + (ηe) p_u_old
 * (the reference's p_u += η(e q_i − λ'_u p_u) with the factors regrouped for FMA), in fp32
 * over the padded rows (pads stay 0), with the rows of the ratings a few steps ahead
 * prefetched (kernels_f32.inc).
 *
 * Orders. Every order of this path is a blocks schedule (cf_blocks: B seeded user bands ×
 * B seeded item bands, each block in a fixed seeded order, epoch t in B waves of B blocks
 * sharing no band, wave order from (seed, WAVES, t)):
 *   - `blocks`: B = --blocks, exactly the reference's blocks order (so `verify` compares
 *     the two row by row);
 *   - `shuffle` (the default) and `hogwild`: the reference's shuffle is one sequential
 *     permutation per epoch, which one core runs; this path runs instead the blocks order
 *     with the grid B = cf_cpu32_sgd_grid(R, K), chosen from the data only (below), so
 *     that all cores work and the model still does not depend on the thread count (as the
 *     GPU runs `shuffle` as its own parallel order, hogwild). `verify` then judges it by
 *     the test RMSE, as it does hogwild.
 *
 * Execution without barriers. The waves fix the result: each user band's blocks run in
 * wave order, and so do each item band's; blocks of different bands touch disjoint rows.
 * So block (a, c) of wave w may start as soon as user band a's and item band c's blocks of
 * wave w − 1 are done, whatever the other bands are doing. Per-band counters (C11
 * atomics, acquire/release) record the waves done and, per user band, the next wave taken;
 * a free thread scans the user bands (from its own share of them, so that it tends to keep
 * the same bands and their rows in its core's cache) for one whose next block is ready and
 * claims it by compare-and-swap. A slow or descheduled thread delays only the blocks that
 * share its two bands (LIBMF's scheduler has the same freedom but may take the blocks of a
 * band in any order; here the order per band is fixed). Any thread count gives the same
 * sequence of updates on every row, hence bit-identical factors. (Progress: the unfinished
 * block of the lowest wave has its earlier blocks done, so it is ready or running.) A
 * thread that finds nothing ready spins briefly, then yields the core.
 * Ctrl-C: polled per block; a stopped epoch skips its remaining blocks.
 */
#include "cpu32.h"

#include "common.h"
#include "schedule.h"

#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct sgd32_state {
    cf_sgd_schedule schedule; /* the configured schedule the state was built for */
    int32_t B;
    cf_blocks bl;             /* B, seed and block_ptr (the per-rating arrays are freed) */
    cf_sgd_item *items;       /* the ratings in schedule order (block a·B + c at block_ptr) */
    float *lam_u, *lam_i;     /* λ'_row = Λ_row / n_row */
    float *lam_bu, *lam_bi;   /* λ'b_row = Λb_row / n_row (lam_u, lam_i when the same) */
    int32_t *shift;           /* B: this epoch's wave shifts */
    atomic_int *row_done, *col_done; /* B each: waves finished per user / item band */
    atomic_int *row_next;            /* B: the next wave of each user band to be taken */
} sgd32_state;

static void sgd32_state_free(void *p) {
    sgd32_state *s = p;
    if (!s) return;
    cf_blocks_free(&s->bl);
    if (s->lam_bu != s->lam_u) free(s->lam_bu);
    if (s->lam_bi != s->lam_i) free(s->lam_bi);
    free(s->items), free(s->lam_u), free(s->lam_i), free(s->shift), free(s->row_done), free(s->col_done);
    free(s->row_next);
    free(s);
}

int32_t cf_cpu32_sgd_grid(const cf_ratings *R, int32_t K) {
    /* Enough bands that one band of each side's factors stays near a core's L2 cache
     * (≤ 1 MiB of rows), at least 16 (parallel work for up to 16 threads, and blocks are
     * cheap: no barrier between waves), and not so many that blocks hold fewer than about
     * 64 ratings on average; at most 256. */
    const int64_t ld = cf_f32_ld(K), rows = R->n_users > R->n_items ? R->n_users : R->n_items;
    int64_t B = (rows * ld * 4 + (1 << 20) - 1) >> 20;
    if (B < 16) B = 16;
    int64_t cap = (int64_t)sqrt((double)R->nnz / 64.0);
    if (cap < 1) cap = 1;
    if (B > cap) B = cap;
    if (B > 256) B = 256;
    return (int32_t)B;
}

/* λ'_row of every row of `side`: of the factors (reg, lambda), or of the biases. */
static cf_status lambdas(const cf_backend *b, cf_side side, int of_bias, float **out, cf_error *err) {
    const cf_ratings *R = b->R;
    const int64_t n = side == CF_SIDE_USERS ? R->n_users : R->n_items;
    const int64_t *ptr = side == CF_SIDE_USERS ? R->row_ptr : R->col_ptr;
    float *lam = cf_malloc((size_t)(n > 0 ? n : 1) * sizeof *lam, err, "per-row regularization");
    if (!lam) return CF_ERR_NOMEM;
    for (int64_t r = 0; r < n; r++) {
        const int64_t cnt = ptr[r + 1] - ptr[r];
        const double L = of_bias ? cf_bias_reg_lambda(&b->cfg, cnt, R->nnz)
                                 : cf_reg_lambda(b->cfg.reg, b->cfg.lambda, cnt, R->nnz);
        lam[r] = cnt > 0 ? (float)(L / (double)cnt) : 0.0f;
    }
    *out = lam;
    return CF_OK;
}

static cf_status sgd32_state_make(cf_backend *b, sgd32_state **out, cf_error *err) {
    const cf_ratings *R = b->R;
    sgd32_state *s = cf_calloc(1, sizeof *s, err, "sgd state");
    if (!s) return CF_ERR_NOMEM;
    s->schedule = b->cfg.schedule;
    s->B = s->schedule == CF_SCHED_BLOCKS ? b->cfg.blocks : cf_cpu32_sgd_grid(R, b->K);
    cf_status st;
    if ((st = lambdas(b, CF_SIDE_USERS, 0, &s->lam_u, err)) || (st = lambdas(b, CF_SIDE_ITEMS, 0, &s->lam_i, err)))
        goto fail;
    if (cf_bias_reg_same(&b->cfg)) {
        s->lam_bu = s->lam_u, s->lam_bi = s->lam_i;
    } else if ((st = lambdas(b, CF_SIDE_USERS, 1, &s->lam_bu, err)) ||
               (st = lambdas(b, CF_SIDE_ITEMS, 1, &s->lam_bi, err))) {
        goto fail;
    }
    if ((st = cf_blocks_build_threads(R, s->B, b->cfg.seed, b->threads, &s->bl, err))) goto fail;
    s->items = cf_malloc((size_t)(R->nnz > 0 ? R->nnz : 1) * sizeof *s->items, err, "sgd schedule");
    s->shift = cf_malloc((size_t)s->B * sizeof *s->shift, err, "sgd wave shifts");
    s->row_done = cf_malloc((size_t)s->B * sizeof *s->row_done, err, "sgd band counters");
    s->col_done = cf_malloc((size_t)s->B * sizeof *s->col_done, err, "sgd band counters");
    s->row_next = cf_malloc((size_t)s->B * sizeof *s->row_next, err, "sgd band counters");
    if (!s->items || !s->shift || !s->row_done || !s->col_done || !s->row_next) {
        st = CF_ERR_NOMEM;
        goto fail;
    }
    for (int64_t t = 0; t < R->nnz; t++) {
        const int64_t e = s->bl.entry[t];
        s->items[t] = (cf_sgd_item){s->bl.user[t], R->row_col[e], R->row_val[e]};
    }
    /* only B, the seed and the block offsets are needed from here on */
    free(s->bl.entry), free(s->bl.user), free(s->bl.user_band), free(s->bl.item_band);
    s->bl.entry = NULL, s->bl.user = NULL, s->bl.user_band = NULL, s->bl.item_band = NULL;
    *out = s;
    return CF_OK;
fail:
    sgd32_state_free(s);
    return st;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

cf_status cf_cpu32_sgd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err) {
    if (epoch < 0) return cf_fail(err, CF_ERR_INVALID, "sgd: epoch %d, must be >= 0", epoch);
    sgd32_state *s = cf_cpu32_state_get(b, sgd32_state_free);
    if (s && (s->schedule != b->cfg.schedule)) {
        sgd32_state_free(s);
        cf_cpu32_state_set(b, NULL, NULL);
        s = NULL;
    }
    if (!s) {
        cf_status st = sgd32_state_make(b, &s, err);
        if (st) return st;
        cf_cpu32_state_set(b, s, sgd32_state_free);
    }
    cf_cpu32_zero_empty_rows(b);
    const int32_t B = s->B;
    cf_blocks_epoch_shifts(&s->bl, epoch, s->shift);
    for (int32_t a = 0; a < B; a++) {
        atomic_init(&s->row_done[a], 0);
        atomic_init(&s->col_done[a], 0);
        atomic_init(&s->row_next[a], 0);
    }
    const cf_sgd_args args = {.P = b->P, .Q = b->Q, .bu = b->bu, .bi = b->bi, .lam_u = s->lam_u,
                              .lam_i = s->lam_i, .lam_bu = s->lam_bu, .lam_bi = s->lam_bi, .eta = (float)lr,
                              .mu = b->bias ? (float)b->mu : 0.0f, .ld = b->ld, .bias = b->bias};
    const cf_f32_kernels *kn = b->kern;
    const int threads = b->threads < B ? b->threads : B;
    atomic_int left;
    atomic_init(&left, B * B);
#pragma omp parallel num_threads(threads)
    {
        /* each thread starts its search at its own share of the user bands, so that it tends
         * to keep them (their rows stay in its core's cache) */
        const int32_t first = (int32_t)((int64_t)omp_get_thread_num() * B / omp_get_num_threads());
        int idle = 0;
        while (atomic_load_explicit(&left, memory_order_acquire) > 0) {
            int32_t a = -1, w = 0, c = 0;
            for (int32_t i = 0; i < B && a < 0; i++) {
                const int32_t x = (first + i) % B;
                const int wx = atomic_load_explicit(&s->row_next[x], memory_order_relaxed);
                if (wx >= B || atomic_load_explicit(&s->row_done[x], memory_order_acquire) != wx) continue;
                const int32_t cx = (x + s->shift[wx]) % B;
                if (atomic_load_explicit(&s->col_done[cx], memory_order_acquire) != wx) continue;
                int expect = wx;
                if (atomic_compare_exchange_strong_explicit(&s->row_next[x], &expect, wx + 1, memory_order_acq_rel,
                                                            memory_order_relaxed))
                    a = x, w = wx, c = cx;
            }
            if (a < 0) { /* nothing ready: the blocks this wave needs are running */
                if (++idle < 256) {
                    cpu_relax();
                } else {
                    sched_yield();
                    idle = 0;
                }
                continue;
            }
            idle = 0;
            if (!cf_cpu_stop_poll(b->stop)) { /* Ctrl-C: the rest of the epoch is skipped */
                const int64_t blk = (int64_t)a * B + c, lo = s->bl.block_ptr[blk];
                kn->sgd_run(s->items + lo, s->bl.block_ptr[blk + 1] - lo, &args);
            }
            atomic_store_explicit(&s->row_done[a], w + 1, memory_order_release);
            atomic_store_explicit(&s->col_done[c], w + 1, memory_order_release);
            atomic_fetch_sub_explicit(&left, 1, memory_order_acq_rel);
        }
    }
    cf_status ist = cf_cpu_interrupted(b->stop, "sgd", err);
    if (ist) return ist;
    return cf_cpu32_check_finite(b, "sgd", "epoch", (int64_t)epoch + 1, "try a smaller --lr", err);
}
