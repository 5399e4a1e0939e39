/*
 * sgd.c — stochastic gradient descent, one rating at a time (CPU reference).
 *
 * Objective (DESIGN.md §1, sum form), with Λ_u = cf_reg_lambda(reg, λ, n_u, |Ω|) on the
 * factors and Λb_u = cf_bias_reg_lambda(cfg, n_u, |Ω|) on the bias (Λb = Λ by default):
 *   L = Σ_{(u,i)∈Ω} (r_ui − r̂_ui)² + Σ_u (Λ_u ‖p_u‖² + Λb_u b_u²) + Σ_i (Λ_i ‖q_i‖² + Λb_i b_i²).
 * Split the regularization evenly over a row's n_u ratings, λ'_u = Λ_u / n_u and
 * λ'b_u = Λb_u / n_u, so that
 *   L = Σ_{(u,i)∈Ω} ℓ_ui,  ℓ_ui = e_ui² + λ'_u ‖p_u‖² + λ'b_u b_u² + λ'_i ‖q_i‖² + λ'b_i b_i²,
 * e_ui = r_ui − r̂_ui: summing ℓ over the ratings of row u gives back Λ_u‖p_u‖² exactly.
 *   ∂ℓ/∂p_u = −2 e q_i + 2 λ'_u p_u      ∂ℓ/∂b_u = −2 e + 2 λ'b_u b_u
 *   ∂ℓ/∂q_i = −2 e p_u + 2 λ'_i q_i      ∂ℓ/∂b_i = −2 e + 2 λ'b_i b_i
 * A step of −(η/2)∇ℓ (the factor 2 is absorbed in η, as in DESIGN.md §2) gives, for
 * each rating in the epoch's order, with e computed once before the step:
 *   b_u += η (e − λ'b_u b_u)         b_i += η (e − λ'b_i b_i)
 *   p_u += η (e q_i − λ'_u p_u)      q_i += η (e p_u_old − λ'_i q_i)
 * With `weighted` regularization λ'_u = λ (the usual SGD rule), with `plain` λ/n_u,
 * with `mean` λ|Ω|/n_u (λ'b likewise from λ_b and bias_reg). Biases move only when
 * cfg.bias = 1; μ is fixed.
 *
 * Orders (schedule.h): CF_SCHED_SHUFFLE, a fresh seeded permutation of all ratings per
 * epoch, run sequentially; CF_SCHED_BLOCKS, B waves of B independent blocks, each wave's
 * blocks run in parallel (OpenMP), each block in its fixed order: identical factors for
 * any thread count. CF_SCHED_HOGWILD (lock-free, any order, on the GPU) runs here as
 * CF_SCHED_SHUFFLE: one thread applying the updates one after the other is one of the
 * orders a lock-free run may take, and the shuffle order is the GPU hogwild run's
 * reference (it visits the same ratings with the same per-epoch learning rate).
 * Rows without ratings are set to zero (solvers.h). After each epoch every factor is
 * checked for finiteness (CF_ERR_NUMERIC names the epoch, 1-based, and the first bad row).
 */
#include "cpu.h"
#include "schedule.h"
#include "solvers.h"

#include <stdlib.h>

typedef struct sgd_state {
    cf_sgd_schedule schedule;
    cf_cpu_lambdas lam;     /* per-rating shares λ'_u = Λ_u/n_u, λ'_i = Λ_i/n_i; the biases' λ'b */
    uint32_t *entry_user;   /* shuffle: the user of each CSR entry */
    int64_t *order;         /* shuffle: this epoch's permutation of the CSR entries */
    cf_blocks blocks;       /* blocks: the schedule */
} sgd_state;

static void sgd_state_free(void *p) {
    sgd_state *s = p;
    if (!s) return;
    cf_cpu_lambdas_free(&s->lam);
    free(s->entry_user), free(s->order);
    cf_blocks_free(&s->blocks);
    free(s);
}

static cf_status sgd_state_make(cf_backend *b, sgd_state **out, cf_error *err) {
    sgd_state *s = cf_calloc(1, sizeof *s, err, "sgd state");
    if (!s) return CF_ERR_NOMEM;
    s->schedule = b->cfg.schedule == CF_SCHED_HOGWILD ? CF_SCHED_SHUFFLE : b->cfg.schedule;
    cf_status st;
    if ((st = cf_cpu_lambdas_make(b, 1, &s->lam, err))) goto fail;
    if (s->schedule == CF_SCHED_SHUFFLE) {
        if ((st = cf_cpu_entry_users(b->R, &s->entry_user, err))) goto fail;
        s->order = cf_malloc((size_t)b->R->nnz * sizeof *s->order, err, "sgd order");
        if (!s->order) {
            st = CF_ERR_NOMEM;
            goto fail;
        }
    } else if ((st = cf_blocks_build_threads(b->R, b->cfg.blocks, b->cfg.seed, b->threads, &s->blocks, err))) {
        goto fail;
    }
    *out = s;
    return CF_OK;
fail:
    sgd_state_free(s);
    return st;
}

/* One SGD step on rating r of (u, i): the update rule at the top of this file. */
static inline void sgd_update(cf_factors *f, uint32_t u, uint32_t i, double r, double eta,
                              double lu, double li, double lbu, double lbi) {
    int32_t K = f->k;
    double *p = f->P + (size_t)u * (size_t)K, *q = f->Q + (size_t)i * (size_t)K;
    double dot = 0.0;
    for (int32_t k = 0; k < K; k++) dot += p[k] * q[k];
    double e = r - (f->bias ? f->mu + f->bu[u] + f->bi[i] + dot : dot);
    if (f->bias) {
        f->bu[u] += eta * (e - lbu * f->bu[u]);
        f->bi[i] += eta * (e - lbi * f->bi[i]);
    }
    for (int32_t k = 0; k < K; k++) {
        double pk = p[k];
        p[k] += eta * (e * q[k] - lu * pk);
        q[k] += eta * (e * pk - li * q[k]);
    }
}

cf_status cf_cpu_sgd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err) {
    if (epoch < 0) return cf_fail(err, CF_ERR_INVALID, "sgd: epoch %d, must be >= 0", epoch);
    sgd_state *s = cf_cpu_state_get(b, sgd_state_free);
    cf_sgd_schedule want = b->cfg.schedule == CF_SCHED_HOGWILD ? CF_SCHED_SHUFFLE : b->cfg.schedule;
    if (s && s->schedule != want) {
        sgd_state_free(s);
        cf_cpu_state_set(b, NULL, NULL);
        s = NULL;
    }
    if (!s) {
        cf_status st = sgd_state_make(b, &s, err);
        if (st) return st;
        cf_cpu_state_set(b, s, sgd_state_free);
    }
    const cf_ratings *R = b->R;
    cf_factors *f = &b->f;
    cf_cpu_zero_empty_rows(b);

    if (s->schedule == CF_SCHED_SHUFFLE) {
        cf_sched_permutation(s->order, R->nnz,
                             cf_sched_seed(b->cfg.seed, CF_STREAM_SHUFFLE, (uint64_t)epoch));
        for (int64_t t = 0; t < R->nnz; t++) {
            if (t % CF_CPU_STOP_EVERY == 0 && cf_cpu_stop_poll(b->stop)) break; /* Ctrl-C */
            int64_t e = s->order[t];
            uint32_t u = s->entry_user[e], i = R->row_col[e];
            sgd_update(f, u, i, R->row_val[e], lr, s->lam.u[u], s->lam.i[i], s->lam.bu[u], s->lam.bi[i]);
        }
    } else {
        const cf_blocks *bl = &s->blocks;
        int32_t B = bl->B;
        int32_t *shift = cf_malloc((size_t)B * sizeof *shift, err, "sgd wave shifts");
        if (!shift) return CF_ERR_NOMEM;
        cf_blocks_epoch_shifts(bl, epoch, shift);
        for (int32_t w = 0; w < B; w++) {
            /* the blocks of one wave touch disjoint rows of P and Q: any order, same result */
#pragma omp parallel for num_threads(b->threads) schedule(dynamic, 1)
            for (int32_t a = 0; a < B; a++) {
                if (cf_cpu_stop_poll(b->stop)) continue; /* Ctrl-C: skip the rest of the epoch */
                int64_t blk = cf_blocks_wave_block(bl, shift[w], a);
                for (int64_t t = bl->block_ptr[blk]; t < bl->block_ptr[blk + 1]; t++) {
                    int64_t e = bl->entry[t];
                    uint32_t u = bl->user[t], i = R->row_col[e];
                    sgd_update(f, u, i, R->row_val[e], lr, s->lam.u[u], s->lam.i[i], s->lam.bu[u], s->lam.bi[i]);
                }
            }
        }
        free(shift);
    }
    cf_status ist = cf_cpu_interrupted(b->stop, "sgd", err);
    if (ist) return ist;
    return cf_cpu_check_finite(b, "sgd", "epoch", (int64_t)epoch + 1, "try a smaller --lr", err);
}
