/*
 * kernels.h — the one door from the C host driver (src/gpu) into CUDA: extern "C"
 * launchers for the kernels under kernels/. Each launcher picks its launch shape,
 * launches on the given stream and returns the cudaError_t of cudaGetLastError() as
 * an int (0 = cudaSuccess), so that the caller's CUDA checking macro names the launch.
 *
 * Plain C11 can include this header: no CUDA header is pulled in. A stream is passed as
 * `struct CUstream_st *`, which is what cudaStream_t is a typedef of.
 *
 * Data layout shared with the host driver (src/gpu/gpu_impl.h):
 *   - a side's factors F: n_rows × ld floats, row-major; columns 0..K-1 are the factors,
 *     column K is the constant 1 when biases are on (so a row of the other side is
 *     z = [y; 1] as it stands), columns d..ld-1 are 0 (d = K + bias, ld = d rounded up
 *     to a multiple of 4 so rows are 16-byte aligned);
 *   - a side's biases: n_rows floats (zeros when biases are off);
 *   - entries of a side in CSR form: int64 offsets, uint32 indices of the other side,
 *     float ratings;
 *   - Gram matrices: d × d floats each, column-major (cuSOLVER's layout); symmetric, and
 *     only the lower triangle is written (gram.cu) and read (cuSOLVER lower, chol.cu).
 */
#ifndef CF_KERNELS_H
#define CF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct CUstream_st;
typedef struct CUstream_st *cf_stream_t;

/* One block of Gram work: the entries [begin, end) of one row (or a segment of a long
 * row) accumulated into Gram slot `slot`; Λ = diag(lam, …, lam, lam_b) is added to the
 * diagonal: `lam` at the factors' unknowns 0..K−1 (Λ of the row for its first segment, 0
 * for further segments) and `lam_b` at the bias's, d − 1 (Λb of the row, the biases' own
 * λ_b and mode: cf_bias_reg_lambda; 0 for further segments). Without biases every
 * unknown is a factor: lam_b = lam. begin == end writes Λ and b = 0. The unit's
 * right-hand side goes to row `row` of the RHS buffer when row ≥ 0 (the first or only
 * segment of a row), to slot `slot` of the partial RHS buffer when row = −1.
 * 32 bytes, as before it: lam_b takes what was the padding after row. */
typedef struct cf_gram_unit {
    int64_t begin, end;
    int32_t slot;
    float lam;
    int32_t row;
    float lam_b;
} cf_gram_unit;

/* A long row's partial Grams: slots [src, src + count) are added, in order, into `dst`,
 * and their partial right-hand sides (slots [src, src + count) of the partial RHS
 * buffer) into row `row` of the RHS buffer. */
typedef struct cf_gram_reduce {
    int32_t dst, src, count, row;
} cf_gram_reduce;

/* Fixed grid of the reduction kernels (eval, reg): each block writes one partial sum,
 * the host adds the partials in block order, so results do not vary run to run. */
#define CF_REDUCE_BLOCKS 512

/* Shared memory of one Gram block, in bytes, and its threads (for the host's reporting
 * and tests). */
size_t cf_gram_shared_bytes(int d);
int cf_gram_block_threads(int d);

/* The normal equations of each unit in one pass (gram.cu), z_e = F_other[idx[e]][0..d-1]:
 *   A_slot = Σ_{e ∈ [begin,end)} z_e z_eᵀ + diag(lam, …, lam, lam_b)
 *            (lower triangle, column-major; lam_b at the bias unknown d − 1 when use_bias,
 *            lam there otherwise; each added to its diagonal sum in double, then rounded)
 *   b      = Σ_{e ∈ [begin,end)} t_e z_e,  t_e = val[e] − μ − b_other[idx[e]] (use_bias; in
 *            double, then rounded), t_e = val[e] otherwise
 * with b written to d_rhs + row·ld (row ≥ 0) or d_rhs_part + slot·ld (row = −1).
 * Blocks of ≤ 32 entries in fp32 folded into double accumulators (accuracy on long rows).
 * One block per unit; units should come longest first. */
int launch_gram(const cf_gram_unit *d_units, int64_t n_units, const uint32_t *d_idx,
                const float *d_val, const float *d_F_other, const float *d_b_other, double mu,
                int use_bias, int d, int ld, float *d_A, float *d_rhs, float *d_rhs_part,
                cf_stream_t stream);

/* The same contract on tensor cores with 3×TF32 (gram_tc.cu, --als-gram tc): identical
 * outputs (layout, units, lam and lam_b, RHS placement) to fp32-grade accuracy. Needs sm_80 and
 * d ≤ CF_GRAM_TC_MAX_D: cudaErrorNotSupported below sm_80, cudaErrorInvalidValue beyond
 * the largest d (the host then uses launch_gram). */
#define CF_GRAM_TC_MAX_D 767
int launch_gram_tc(const cf_gram_unit *d_units, int64_t n_units, const uint32_t *d_idx,
                   const float *d_val, const float *d_F_other, const float *d_b_other, double mu,
                   int use_bias, int d, int ld, float *d_A, float *d_rhs, float *d_rhs_part,
                   cf_stream_t stream);
/* 1 when launch_gram_tc can run at order d on the current device; else 0 and, when why is
 * not NULL, the reason (one line) in why[0..why_len). */
int cf_gram_tc_supported(int d, char *why, size_t why_len);
/* Shared memory (bytes) and threads of one block of the TF32 Gram at order d (0 beyond
 * CF_GRAM_TC_MAX_D), for reports and tests. */
size_t cf_gram_tc_shared_bytes(int d);
int cf_gram_tc_block_threads(int d);

/* For each item: A_dst += Σ_{s=src}^{src+count-1} A_s (lower triangle) and
 * rhs[row] += Σ_s rhs_part[s], in slot order, summed in double and rounded once. */
int launch_gram_reduce(const cf_gram_reduce *d_items, int64_t n_items, int d, int ld, float *d_A,
                       float *d_rhs, const float *d_rhs_part, cf_stream_t stream);

/* 32-bit offsets of a batch of rows for cuSPARSE: off[j] = ptr[j] − ptr[0], j ∈ [0, n]
 * (GD's SpMM; ALS no longer uses cuSPARSE). */
int launch_offsets32(const int64_t *d_ptr, int64_t n_rows, int32_t *d_off, cf_stream_t stream);

/* Solutions back into the factors, rows [r0, r0 + n_rows) of this side:
 * F[r][0..K-1] = x_r[0..K-1], b[r] = x_r[K] (use_bias), with x_r = rhs[(r − r0)·ld ...];
 * rows with no entries (ptr[r+1] == ptr[r]) get the zero vector and bias 0. */
int launch_scatter(const float *d_rhs, int64_t r0, int64_t n_rows, const int64_t *d_ptr, int k,
                   int ld, int use_bias, float *d_F, float *d_b, cf_stream_t stream);

/* ------------------------------------------------------------------ solve (chol.cu) */

/* Largest order the fused solve takes: K = 128 with biases. Beyond it the host uses
 * cuSOLVER's batched potrf/potrs. */
#define CF_CHOL_FUSED_MAX_D 129

/* Dynamic shared memory per system and systems (warps) per block of the fused solve at
 * order d; 0 for d outside 1..CF_CHOL_FUSED_MAX_D. */
size_t cf_chol_shared_bytes(int d);
int cf_chol_systems_per_block(int d);

/* For each b < batch: A_b = L Lᵀ (lower; only the lower triangle of the column-major
 * d × d A_b, leading dimension d, is read; A_b is not written), then B_b := A_b⁻¹ B_b
 * (one right-hand side of d floats, in place). info[b] = 0, or j + 1 for the first
 * column j with a pivot that is not positive (LAPACK/cuSOLVER potrf semantics); B_b is
 * then left unchanged. cudaErrorInvalidValue for d outside 1..CF_CHOL_FUSED_MAX_D. */
int launch_chol_fused(int d, float *const *d_A, float *const *d_B, int *d_info, int batch,
                      cf_stream_t stream);

/* Systems that failed keep their row's factors: for each system s < n_sys with
 * info[s] != 0, B_s (a row of the batch's RHS buffer: row (B_s − rhs)/ld of the batch,
 * i.e. row r0 + that of the side) := [F[r][0..k-1]; b[r] (use_bias)], so launch_scatter
 * writes the row's current values back. */
int launch_keep_failed(const int *d_info, float *const *d_B, int64_t n_sys, const float *d_rhs,
                       int64_t r0, const float *d_F, const float *d_b, int k, int ld,
                       int use_bias, cf_stream_t stream);

/* The trainer's figures in one launch (eval.cu):
 *   train (a->train): over the training ratings, CSR by user (ptr_u, idx_u, val_u) —
 *            Σe², Σ|e|, n with e = v − r̂(u, i), r̂ = μ + b_u + b_i + p_u·q_i (k terms; μ
 *            and the biases only when use_bias) — and reg = Σ_rows (Λ_r ‖x_r‖² + Λb_r b_r²)
 *            over users (n_r from ptr_u) and items (n_r from ptr_i), Λ_r = lambda · (reg_mode:
 *            0 plain → 1, 1 weighted → n_r, 2 mean → nnz), as cf_reg_lambda(), and Λb_r the
 *            same of bias_lambda and bias_reg_mode (cf_bias_reg_lambda); where the two pairs
 *            are equal the term is summed as Λ_r (‖x_r‖² + b_r²), as before they existed;
 *   test (a->test): Σe², Σ|e|, n over the triplets (tu[j], ti[j], tr[j]), j < n_test.
 * Factors: P (n_users rows) and Q (n_items rows), float with row stride ld (a multiple
 * of 4; columns ≥ k ignored) or, fp16 = 1, __half with row stride ld = k (a multiple of
 * 4); biases bu, bi fp32. Writes CF_REDUCE_BLOCKS × CF_EVAL_SUMS doubles, block-major:
 * [train sse, train sae, train n, reg, test sse, test sae, test n] (zeros for a part left
 * out); the host adds them in block order. cudaErrorInvalidValue for a bad k or ld. */
#define CF_EVAL_SUMS 7
typedef struct cf_eval_args {
    int train, test;
    const int64_t *ptr_u;
    const uint32_t *idx_u;
    const float *val_u;
    int64_t n_users;
    const int64_t *ptr_i;
    int64_t n_items;
    const uint32_t *tu, *ti;
    const float *tr;
    int64_t n_test;
    const void *P, *Q;
    int fp16, ld, k, use_bias;
    const float *bu, *bi;
    float mu;
    int reg_mode;
    double lambda;
    int bias_reg_mode;  /* the biases' mode and λ_b (equal to reg_mode, lambda by default) */
    double bias_lambda;
    int64_t nnz;
} cf_eval_args;

int launch_eval_all(const cf_eval_args *a, double *d_partial, cf_stream_t stream);

/* Lanes per group of the eval kernel at this K (a power of two ≤ 32; for tests/reports). */
int cf_eval_group_lanes(int k);

/* ------------------------------------------------------------------ SGD (sgd.cu) */

/* Everything one SGD update reads and writes (DESIGN.md §2, src/cpu/sgd.c):
 *   e = r − (μ + b_u + b_i + p_u·q_i)      (r − p_u·q_i without biases)
 *   b_u += η (e − λ'b_u b_u),  b_i += η (e − λ'b_i b_i),
 *   p_u += η (e q_i − λ'_u p_u),  q_i += η (e p_u_old − λ'_i q_i).
 * Ratings in schedule order as three arrays (su, si, sr). P and Q hold the factors in
 * `half` (fp16 = 1: IEEE binary16, row stride ld_half) or in float (fp16 = 0: the
 * side's F with row stride ld); biases and λ' (per-rating shares Λ_row / n_row) are fp32,
 * and so are the biases' λ'b = Λb_row / n_row (lamb_u, lamb_i) where the biases have
 * their own λ_b or mode; lamb_u = lamb_i = NULL where they do not (λ'b = λ': nothing more
 * is read, and the update is the one before λ_b existed, bit for bit). */
typedef struct cf_sgd_args {
    const uint32_t *su, *si;
    const float *sr;
    void *P, *Q;
    int ld;              /* row stride of P and Q, in elements of their type */
    int fp16;
    float *bu, *bi;
    const float *lam_u, *lam_i;
    const float *lamb_u, *lamb_i; /* the biases' λ'b per row (both or neither); NULL: λ'b = λ' */
    float mu;
    int use_bias;
    int k;
    float lr;
    int depth; /* the look-ahead ring of the register paths: 1, 4 or 8 ratings (sgd.cu) */
    int item_add; /* 1: item rows and biases written back as atomic adds of the update (sgd.cu) */
} cf_sgd_args;

/* Default ring depths (cf_gpu_tuning.sgd_prefetch = 0). blocks: the hot item's chain
 * waits on a DRAM read of p_u per update (≈ 0.6–0.8 µs against ≈ 0.1 µs of arithmetic);
 * 8 ratings ahead cover it, and the result is the same bit for bit at every depth.
 * hogwild: 1. A row fetched D ratings ahead misses other warps' updates of it in the
 * meantime, and a stored write-back then undoes them: under the simulation's interleaving,
 * depth 4 cost 0.8 % of test RMSE on the 300 × 200 fixture (0.6943 against the CPU's
 * 0.6887; depth 1: 0.6888), past the 0.5 % bar. That was with item stores; with item adds
 * (the default since) nothing is undone, and depth 4 learns as depth 1 does (MovieLens-100k
 * shape, 20 epochs, co-resident: test RMSE 0.7422 against 0.7416; stores 0.7710 against
 * 0.7529; bench/gpu_sgd_notes.md "Session 11"), so the GPU's speed decides. Whether the speed is worth it on large
 * data is for the GPU to measure: bench_sgd --prefetch 1|4|8 reports both. */
#define CF_SGD_DEPTH_BLOCKS 8
#define CF_SGD_DEPTH_HOGWILD 1

/* The ring depth the kernels run for K, row stride ld, storage and a wanted depth (≤ 1:
 * 1; 2–7: 4; ≥ 8: 8): 1, 4 or 8 on the register paths (8 only where the slots fit the
 * registers: 4 at K = 256), 0 on the memory path (K beyond the register shapes: no
 * look-ahead). */
int cf_sgd_depth(int k, int ld, int fp16, int want);

/* One hogwild epoch's order (chosen on the host: src/sgd_work.h cf_hogwild_plan,
 * cf_hogwild_epoch and cf_hogwild_heavy_users, tested there). Position x of [0, n) is the
 * rating at (x + off) mod n of the work list (the list rotated, so run boundaries move
 * every epoch); positions are cut into n_runs runs of `run` (the last one shorter). The
 * epoch's work items are c = 0 .. n_heavy + n_runs − 1 (cf_hogwild_item), which `warps`
 * warps take from the counter *next (zeroed by the launch) as each finishes its last:
 * item c ≥ n_heavy is run CF_HOGWILD_RUN_OF(o, j) = (perm_a·j + perm_b) mod n_runs for
 * j = c − n_heavy, with perm_a coprime to n_runs a permutation of the runs, a fresh one
 * every epoch.
 * Whole users (user_ptr, the user side's CSR offsets on the device; NULL: off): a run
 * applies the users that start in it, each to its end (cf_hogwild_whole_users), so a
 * user's row is one warp's for the epoch however many runs the user spans. The warp that
 * draws a heavy user then works longest, so users of more than heavy_min ratings
 * (heavy_min ≥ run) are items of their own, taken first (c < n_heavy: user heavy[(heavy_a·c
 * + heavy_b) mod n_heavy], a fresh order every epoch) and left out of the runs: unless one
 * user outweighs a warp's share, the epoch ends about when the mean warp's share does
 * (src/sgd_work.h cf_hogwild_heavy_min). */
typedef struct cf_sgd_hogwild_order {
    int64_t n, run, n_runs, warps, off;
    uint64_t perm_a, perm_b;   /* perm_a, perm_b < n_runs ≤ 2^32: the product fits 64 bits */
    const int64_t *user_ptr;   /* whole users: the list's user offsets (device); NULL: fixed runs */
    const uint32_t *heavy;     /* whole users: the heavy users (device, n_heavy); NULL when none */
    int64_t n_heavy;           /* 0 without whole users */
    int64_t heavy_min;         /* whole users: runs leave out users of more ratings (≥ run) */
    uint64_t heavy_a, heavy_b; /* the epoch's order of the heavy users: heavy_a coprime to n_heavy */
    unsigned long long *next;  /* the epoch's work counter (device, 8 bytes; the launch zeroes it) */
} cf_sgd_hogwild_order;

#if defined(__CUDACC__)
#define CF_HOST_DEVICE __host__ __device__
#else
#define CF_HOST_DEVICE
#endif
/* The list index of position x (0 ≤ x < 2n − off) of the list rotated by off. */
static inline CF_HOST_DEVICE int64_t cf_hogwild_pos(int64_t x, int64_t off, int64_t n) {
    return x + off >= n ? x + off - n : x + off;
}
/* Whole users: the positions [*b, *e) of the run [b, e) (x-space, b < e ≤ n) are moved
 * to whole users of the list (in user order: user u at [user_ptr[u], user_ptr[u+1]), u =
 * su[t]): a user that began before b is skipped (it belongs to the run where it starts),
 * and the user at e − 1 is applied to its end, past e and, for the user that straddles
 * the rotation, past n (positions up to n + its length: (x + off) − n stays < n) — unless
 * it has more than heavy_min ratings (a heavy user, an item of its own): then the run
 * ends where that user starts. With heavy_min ≥ e − b a heavy user that starts in the run
 * is its last. Every rating is then in exactly one run or heavy item; *b ≥ *e when the run
 * lies inside an earlier user or starts with a heavy one. */
static inline CF_HOST_DEVICE void cf_hogwild_whole_users(const uint32_t *su, const int64_t *user_ptr, int64_t off,
                                                         int64_t n, int64_t heavy_min, int64_t *b, int64_t *e) {
    const int64_t tb = cf_hogwild_pos(*b, off, n);
    const uint32_t ub = su[tb];
    if (user_ptr[ub] != tb) *b += user_ptr[ub + 1] - tb;
    const int64_t te = cf_hogwild_pos(*e - 1, off, n);
    const uint32_t ue = su[te];
    *e = user_ptr[ue + 1] - user_ptr[ue] > heavy_min ? *e - 1 - (te - user_ptr[ue]) /* where it starts */
                                                     : *e - 1 + (user_ptr[ue + 1] - te);
}
#define CF_HOGWILD_RUN_OF(o, j) ((int64_t)(((o).perm_a * (uint64_t)(j) + (o).perm_b) % (uint64_t)(o).n_runs))

/* Work item c (0 ≤ c < n_heavy + n_runs) of the epoch's order *o over the list's users su:
 * positions [*s, *e) of the list rotated by *off (cf_hogwild_pos; a heavy user unrotated).
 * *s ≥ *e: nothing to apply. */
static inline CF_HOST_DEVICE void cf_hogwild_item(const cf_sgd_hogwild_order *o, const uint32_t *su, int64_t c,
                                                  int64_t *s, int64_t *e, int64_t *off) {
    if (c < o->n_heavy) {
        const uint32_t u = o->heavy[(o->heavy_a * (uint64_t)c + o->heavy_b) % (uint64_t)o->n_heavy];
        *s = o->user_ptr[u], *e = o->user_ptr[u + 1], *off = 0;
        return;
    }
    *s = CF_HOGWILD_RUN_OF(*o, c - o->n_heavy) * o->run;
    *e = *s + o->run < o->n ? *s + o->run : o->n;
    *off = o->off;
    if (o->user_ptr) cf_hogwild_whole_users(su, o->user_ptr, o->off, o->n, o->heavy_min, s, e);
}

/* Hogwild: one epoch in the order `o`, o->warps warps at once taking the work items from
 * o->next (zeroed here, on the stream), no locks; item rows written back as atomic adds
 * (a->item_add) or stores. */
int launch_sgd_hogwild(const cf_sgd_args *a, const cf_sgd_hogwild_order *o, cf_stream_t stream);

/* Warps of the hogwild kernel for this K, storage, ring depth and item writes (add: 1 for
 * atomic adds) that the whole device holds at once (SMs × resident warps per SM), ≥ 1; 0
 * when the device cannot be queried. */
int64_t cf_sgd_resident_warps(int k, int fp16, int depth, int add);

/* One wave of the blocks schedule: warp a (0 ≤ a < B) applies, in order, the ratings of
 * block (a, (a + shift) mod B), i.e. [block_ptr[blk], block_ptr[blk+1]) with
 * blk = a·B + (a + shift) mod B. */
int launch_sgd_wave(const cf_sgd_args *a, const int64_t *d_block_ptr, int B, int shift,
                    cf_stream_t stream);

/* The L2 read ceiling's kernel (bench_sgd): `grid` blocks of 256 threads read the
 * 16-byte words of d_buf[0, bytes) `reps` times through L2 (ld.global.cg) and write one
 * float per thread to d_sink (grid·256 floats). */
int launch_l2_read(const void *d_buf, int64_t bytes, int reps, float *d_sink, int grid, cf_stream_t stream);

/* Warps resident per SM for the hogwild kernel at this K, storage, depth and item writes
 * (for reports). */
int cf_sgd_warps_per_sm(int k, int fp16, int depth, int add);

/* ------------------------------------------------------------------ factor rows (rows.cu) */

/* Rows without entries (ptr[r+1] == ptr[r]): F[r][0..k) = 0 and b[r] = 0; also
 * H[r][0..k) = 0 when H (fp16, row stride k) is not NULL. */
int launch_zero_empty_rows(const int64_t *d_ptr, int64_t n_rows, float *d_F, int ld, float *d_b,
                           void *d_H, int k, cf_stream_t stream);

/* fp32 F (row stride ld) ↔ fp16 H (row stride k), columns 0..k-1, round to nearest even. */
int launch_factors_to_half(const float *d_F, int ld, int64_t n_rows, int k, void *d_H,
                           cf_stream_t stream);
int launch_half_to_factors(const void *d_H, int64_t n_rows, int k, float *d_F, int ld,
                           cf_stream_t stream);

/* NaN guard: the first row r with a non-finite F[r][0..k) and the first with a
 * non-finite b[r] (use_bias): writes 2 × CF_REDUCE_BLOCKS int64, partial[blk] (factors)
 * and partial[CF_REDUCE_BLOCKS + blk] (biases), each the least bad row that block saw or
 * INT64_MAX; the host takes the minimum. */
int launch_first_nonfinite(const float *d_F, const float *d_b, int64_t n_rows, int k, int ld,
                           int use_bias, int64_t *d_partial, cf_stream_t stream);

/* ------------------------------------------------------------------ GD (gd.cu) */

/* Residuals over a CSR side: e[x] = val[x] − r̂ for every entry x of rows [0, n_rows), with
 * r̂ = μ + b_u + b_i + p_u·q_i summed in that order whichever side the rows are
 * (rows_are_users = 1: rows are users, F_r = P), so both layouts give the same e. */
int launch_residuals_csr(const int64_t *d_ptr, const uint32_t *d_idx, const float *d_val,
                         int64_t n_rows, const float *d_F_r, const float *d_b_r,
                         const float *d_F_c, const float *d_b_c, int k, int ld, float mu,
                         int use_bias, int rows_are_users, float *d_e, cf_stream_t stream);

/* The same for n ratings given as triplets (u[j], i[j], r[j]). */
int launch_residuals_coo(const uint32_t *d_u, const uint32_t *d_i, const float *d_r, int64_t n,
                         const float *d_F_u, const float *d_b_u, const float *d_F_i,
                         const float *d_b_i, int k, int ld, float mu, int use_bias, float *d_e,
                         cf_stream_t stream);

/* The mini-batch lists from CSR entry numbers (gd.cu: gather_coo): for x < n, e = d_io[x]
 * on entry; d_u[x] = d_entry_user[e], d_i[x] = d_idx[e], and d_io[x] = the float bits of
 * d_val[e] on return (d_io is the ratings' buffer, used in place). */
int launch_gather_coo(uint32_t *d_io, int64_t n, const uint32_t *d_entry_user, const uint32_t *d_idx,
                      const float *d_val, uint32_t *d_u, uint32_t *d_i, cf_stream_t stream);

/* One gradient step on every row of a side (src/cpu/gd.c). C = E·Z_other from SpMM (row
 * stride ld; column k is Σ e when use_bias). For x = F[r][c] (c < k) or b[r] (c = k):
 *   g = −2 C[r][c] + 2 · scale · Λ · x,   Λ = Λ_r = cf_reg_lambda(reg_mode, λ, n_r, nnz) for a
 *   factor, Λb_r = cf_reg_lambda(bias_reg_mode, bias_lambda, n_r, nnz) for the bias
 *   plain: x −= η g;  Adam (m, v not NULL, row stride ld, column k for the bias):
 *   m = β1 m + (1−β1) g, v = β2 v + (1−β2) g², x −= η (m/c1) / (√(v/c2) + ε)
 * with β1 = 0.9, β2 = 0.999, ε = 1e-8, c1 = 1 − β1^t, c2 = 1 − β2^t from the host. */
int launch_gd_step(const int64_t *d_ptr, int64_t n_rows, const float *d_C, float *d_F, float *d_b,
                   float *d_m, float *d_v, int k, int ld, int use_bias, double lambda,
                   int reg_mode, double bias_lambda, int bias_reg_mode, int64_t nnz, double scale,
                   float lr, float c1, float c2, cf_stream_t stream);

#ifdef __cplusplus
}
#endif
#endif /* CF_KERNELS_H */
