/*
 * gpu.h — private interface of the GPU backend beyond the backend table, for tests,
 * benchmarks and the `verify` command: tuning knobs (forced batch sizes, segment
 * lengths, a simulated memory limit), per-phase timers and memory figures, the Gram
 * matrices of chosen rows, and the device's measured SGEMM rate.
 *
 * Everything here works on the `cf_backend *` returned by cf_gpu_backend()->open or
 * cf_gpu_open_tuned(); passing another backend's handle is undefined. No CUDA type
 * appears in this header.
 */
#ifndef CF_GPU_H
#define CF_GPU_H

#include "backend.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cf_gpu_tuning {
    /* Bytes of device memory the per-batch work buffers (Gram matrices, right-hand
     * sides, targets) may use; 0 = planned from cudaMemGetInfo (default). Small values
     * force many batches, to test the batching on small data. */
    size_t batch_bytes;
    /* Upper bound of the planned work buffers when batch_bytes is 0: the plan takes
     * min(free after the data, work_cap); 0 = CF_GPU_DEFAULT_WORK_CAP. */
    size_t work_cap;
    /* Longest run of entries one Gram block accumulates; longer rows are split into
     * segments summed by a second pass. 0 = default (CF_GPU_DEFAULT_SEGMENT). */
    int64_t segment;
    /* Pretend the device has only this many free bytes (0 = the real figure): tests the
     * "does not fit" error without a small GPU. */
    size_t mem_limit;
    /* 1: record CUDA events around the phases of each half-step (see cf_gpu_stats). */
    int timing;
    /* SGD hogwild: at most min(n_users, n_items) / sgd_rows_per_warp warps at once
     * (src/sgd_work.h cf_hogwild_plan); 0 = CF_HOGWILD_ROWS_PER_WARP. */
    int sgd_rows_per_warp;
    /* SGD: ratings the update kernels fetch ahead (kernels/sgd.cu, the ring): 1, 4 or 8;
     * 0 = CF_SGD_DEPTH_BLOCKS / CF_SGD_DEPTH_HOGWILD by schedule. Results do not depend
     * on it (blocks: bit for bit); speed does (bench_sgd --prefetch). */
    int sgd_prefetch;
    /* SGD hogwild: how a warp writes an item row (q_i, b_i) back (kernels/sgd.cu):
     * CF_SGD_ITEM_ADD adds its update atomically, so no other warp's update of the row
     * is lost; CF_SGD_ITEM_STORE stores its copy (cuMF_SGD's way: the updates other warps
     * made since the warp read the row are lost); 0 = CF_SGD_ITEM_DEFAULT. blocks always
     * stores (the rows of a wave's blocks are disjoint). bench_sgd --item-write. */
    int sgd_item_write;
    /* SGD hogwild: how the list is cut into runs (kernels.h cf_sgd_hogwild_order):
     * CF_SGD_RUNS_FIXED, runs of a fixed length (a heavy user spans many, and warps holding
     * its row at once undo each other's learning when they store it), or
     * CF_SGD_RUNS_USERS, runs of whole users (a user's row is one warp's for the epoch; the
     * heaviest users go first, each alone, but the warp that applies one does that much
     * more work); 0 = by the data's size
     * (cf_gpu_sgd_runs_for). bench_sgd --runs. */
    int sgd_runs;
} cf_gpu_tuning;

enum { CF_SGD_ITEM_STORE = 1, CF_SGD_ITEM_ADD = 2 };
/* Under the simulation with every warp racing (test RMSE against the CPU's shuffle,
 * bench/gpu_sgd_notes.md "Session 11"): a MovieLens-100k shape 1.47 % behind at 20 epochs
 * with stores, 0.38 % with adds; synth-1m (Zipf users: what remains there is heavy users'
 * runs racing, not items) 4.8 % against 3.6 % at 6. Its
 * cost on a GPU (an L2 reduction instead of a store, 16 bytes a lane) is for bench_sgd
 * --item-write store,add to measure. */
#define CF_SGD_ITEM_DEFAULT CF_SGD_ITEM_ADD

enum { CF_SGD_RUNS_FIXED = 1, CF_SGD_RUNS_USERS = 2 };
/* The default runs for nnz training ratings: whole users up to CF_SGD_WHOLE_USERS_MAX_NNZ,
 * fixed runs above. Under the simulation whole users remove hogwild's lag on sets with
 * heavy users (synth-1m: 3.6 % behind the CPU at epoch 6 with fixed runs; bench/
 * gpu_sgd_notes.md "Session 11"). Their cost is balance: with heavy users first and a
 * counter (src/sgd_work.h cf_hogwild_heavy_min) the slowest warp is modelled at 1.06× the
 * mean on the Netflix shape, where the race is milder, but on small skewed sets no warp
 * can finish before the one applying the heaviest user (synth-1m: 16 k dependent updates,
 * ≈ 8× a warp's share; a few ms an epoch). So whole users on small data, where accuracy is
 * the point and the epoch short; what the GPU measures on large data (bench_sgd --runs all)
 * decides there. */
#define CF_SGD_WHOLE_USERS_MAX_NNZ ((int64_t)16 << 20)
int cf_gpu_sgd_runs_for(int64_t nnz);

#define CF_GPU_DEFAULT_SEGMENT 4096
/* 4 GiB of Gram slots and right-hand sides per batch: 100 k systems at K = 100, 64 k at
 * K = 128, 16 k at K = 256 — hundreds of blocks per SM on a 132-SM H200, so larger
 * batches buy nothing but memory (issue 14: peak ≤ 16 GiB at K = 100 on the Netflix
 * shape, where all free memory made 21.4 GiB; plan.c). */
#define CF_GPU_DEFAULT_WORK_CAP ((size_t)4 << 30)

void cf_gpu_tuning_default(cf_gpu_tuning *t);

/* cf_gpu_backend()->open with explicit tuning (t == NULL: defaults). */
cf_status cf_gpu_open_tuned(const cf_ratings *train, const cf_triplets *test, const cf_config *cfg,
                            const cf_factors *init, const cf_gpu_tuning *t, cf_backend **out,
                            cf_error *err);

typedef struct cf_gpu_stats {
    /* Accumulated over half-steps since open or the last reset (timing = 1 only), ms. */
    double gram_ms;   /* fused Gram + right-hand-side kernel + segment reduction */
    double rhs_ms;    /* 0 since the fused pass (the RHS is formed in gram_ms's kernel);
                         kept so that the records keep their fields */
    double solve_ms;  /* potrf + potrs batched (or the fused solve) + scatter */
    double gram_flops;  /* useful flops of the Gram step: Σ_rows n_r · d(d+1) */
    int64_t half_steps;
    /* Plan of the run. */
    int32_t batches_users, batches_items;
    int64_t segment;              /* segment length in use */
    size_t data_bytes;            /* resident data: R in both layouts, factors, test set */
    size_t work_bytes;            /* per-batch buffers (Grams, RHS, partial RHS, pointers, info) */
    size_t alloc_peak_bytes;      /* peak of cufactor's own device allocations */
    size_t device_used_peak_bytes;/* peak of (total − free) seen by cudaMemGetInfo after each
                                     half-step: includes the context and library workspaces */
    size_t device_total_bytes;
    int sm_count;
    /* SGD / GD (timing = 1 only for the ms): time of the update kernels of the epochs
     * (SGD: the hogwild kernel or the B wave launches, without the NaN guard and the fp16
     * conversions; GD: residuals + SpMM + steps), and the ratings they processed. */
    double sgd_ms;
    int64_t sgd_updates, sgd_epochs;
    double gd_ms;
    int64_t gd_epochs;
    int sgd_warps_per_sm;         /* resident warps per SM of the hogwild kernel */
    int64_t sgd_hogwild_warps;    /* hogwild: warps at once, and ratings per run (the plan) */
    int64_t sgd_hogwild_run;
    int sgd_prefetch;             /* the ring depth the SGD kernels ran (cf_sgd_depth; 0: none) */
    int sgd_item_write;           /* hogwild: CF_SGD_ITEM_ADD or _STORE as it ran (blocks: STORE) */
    int sgd_runs;                 /* hogwild: CF_SGD_RUNS_FIXED or _USERS as it ran (blocks: FIXED) */
    int64_t sgd_heavy_users;      /* whole users: users applied as items of their own, first */
    int64_t sgd_heavy_min;        /* whole users: the ratings above which a user is one (0: none) */
    int64_t sgd_chain;            /* blocks: ratings on an epoch's critical path (cf_blocks_chain) */
    /* ALS: 1 when the last half-step solved with the fused kernel (--als-solver fused and
     * d = K + bias ≤ CF_CHOL_FUSED_MAX_D), 0 with cuSOLVER. */
    int solve_fused;
    /* ALS: 1 when the last half-step (or cf_gpu_form_normal_equations) formed the Gram on
     * tensor cores (--als-gram tc where the device and d allow it), 0 with the SIMT kernel. */
    int gram_tc;
} cf_gpu_stats;

void cf_gpu_stats_get(cf_backend *b, cf_gpu_stats *out);
void cf_gpu_stats_reset_timers(cf_backend *b);

/* Dimension of the per-row systems (K + bias) of an open GPU backend. */
int cf_gpu_system_dim(cf_backend *b);

/* Test hook: forms the Gram matrices A_r = Σ z zᵀ + diag(Λ_r, …, Λ_r, Λb_r) (Λb_r at the
 * bias unknown, kernels.h cf_gram_unit) of `n_rows` rows of `side` (any
 * rows, also without ratings) with the backend's own kernels and current factors, and
 * copies them into h_out (n_rows × d × d floats, column-major, d = cf_gpu_system_dim()).
 * The kernels write the lower triangle (what the solver reads); it is mirrored here. */
cf_status cf_gpu_form_grams(cf_backend *b, cf_side side, const int64_t *rows, int64_t n_rows,
                            float *h_out, cf_error *err);
/* The same, and the right-hand sides formed in the same pass into h_rhs (n_rows × d
 * floats; b = Σ (r − μ − b_other) z, zero for a row without ratings) when h_rhs is not
 * NULL. The factors, biases and μ are the backend's current ones. */
cf_status cf_gpu_form_normal_equations(cf_backend *b, cf_side side, const int64_t *rows,
                                       int64_t n_rows, float *h_out, float *h_rhs, cf_error *err);

/* Bench hook: the device's FP32 rate by a timed cuBLAS SGEMM (n × n × n, median of
 * `reps` runs after a warm-up) in GFLOP/s, through the backend's gpulib handle (gpulib.h) on its stream.
 * tf32 = 1 measures with TF32 tensor-core math allowed (CUBLAS_TF32_TENSOR_OP_MATH). */
cf_status cf_gpu_sgemm_gflops(cf_backend *b, int n, int reps, int tf32, double *gflops,
                              cf_error *err);

/* Bench hook: device-to-device cudaMemcpy bandwidth on the backend's stream: copies of
 * `bytes` (median of `reps` after a warm-up), counted as 2·bytes moved (read + write),
 * in GB/s (1e9 bytes). The reference for the SGD kernels' achieved bandwidth. */
cf_status cf_gpu_copy_bandwidth(cf_backend *b, size_t bytes, int reps, double *gbps, cf_error *err);

/* Bench hook: the L2 read ceiling, GB/s: a kernel (kernels/sgd.cu l2_read_kernel) reads
 * a device buffer of `bytes` (choose it well inside L2: bench_sgd takes 16 MiB) `reps`
 * times through L2 (ld.global.cg, as the SGD kernels' factor loads), the fastest of three
 * launches after one that brings it into L2; counted as bytes·reps read. */
cf_status cf_gpu_l2_bandwidth(cf_backend *b, size_t bytes, int reps, double *gbps, cf_error *err);

/* The bytes-per-update model of the SGD kernels that bench_sgd and `cufactor bench`
 * divide by these ceilings is src/bench/bench_impl.h cf_bench_sgd_traffic_model (host
 * code, tested without a GPU). */

/* The CUDA driver and runtime versions (cudaDriverGetVersion / cudaRuntimeGetVersion,
 * e.g. 12040 for 12.4); 0 where the call fails. */
void cf_gpu_versions(int *driver, int *runtime);

#endif
