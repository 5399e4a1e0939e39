/*
 * gpu_impl.h — internals of the GPU backend shared by the files of src/gpu: the
 * context (struct cf_backend of this backend), the per-side device data and batch plan,
 * and one checking macro per API.
 *
 * Context: one device, one stream created with default flags (a blocking stream: the
 * synchronous cudaMemcpy calls of upload/download and plan_alloc run on the legacy default
 * stream and are ordered with it only because of that; do not make it non-blocking), one
 * cf_gpulib handle (gpulib.h: cuBLAS, cuSOLVER and cuSPARSE, or their CPU simulation)
 * bound to that stream. Resident for the whole run: R in both layouts (CSR by
 * user, CSC by item = CSR of Rᵀ; int64 offsets, uint32 indices, fp32 ratings), the
 * factors and biases in fp32, the test triplets, and each side's Gram work plan. Work
 * buffers (Gram matrices, right-hand sides and partial ones) hold one batch of rows and are
 * shared by both sides; batch sizes come from the memory planner (plan.c).
 *
 * Checking macros: each evaluates a call, and on failure writes
 *     "<call> failed: <error string> (file:line)"
 * into `err` with CF_ERR_DEVICE, sets the local `st` and jumps to the local label
 * `cleanup`. Functions using them declare `cf_status st = CF_OK;` and `cleanup:`.
 * CF_GPULIB does the same for a cf_gpulib_* call, whose message (written by gpulib) names
 * the library call, its sizes and status; it appends ", called at file:line".
 */
#ifndef CF_GPU_IMPL_H
#define CF_GPU_IMPL_H

#include "backend.h"
#include "ratings.h"
#include "common.h"
#include "gpu.h"
#include "kernels.h"

#include "gpulib.h"

#include <cuda_runtime_api.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define CF_CHECK_(ok, call, what)                                                            \
    do {                                                                                     \
        if (!(ok)) {                                                                         \
            st = cf_fail(err, CF_ERR_DEVICE, "%s failed: %s (%s:%d)", call, what, __FILE__, \
                         __LINE__);                                                          \
            goto cleanup;                                                                    \
        }                                                                                    \
    } while (0)

#define CF_CUDA(call)                                                    \
    do {                                                                 \
        cudaError_t e_ = (call);                                         \
        CF_CHECK_(e_ == cudaSuccess, #call, cudaGetErrorString(e_));     \
    } while (0)

/* Kernel launchers return the launch's cudaError_t as an int (kernels.h). */
#define CF_LAUNCH(call)                                                              \
    do {                                                                             \
        cudaError_t e_ = (cudaError_t)(call);                                        \
        CF_CHECK_(e_ == cudaSuccess, #call, cudaGetErrorString(e_));                 \
    } while (0)

/* Appends ", called at file:line" to err's message (err may be NULL). */
void cf_gpu_lib_caller(cf_error *err, const char *file, int line);

#define CF_GPULIB(call)                                 \
    do {                                                \
        if ((st = (call)) != CF_OK) {                   \
            cf_gpu_lib_caller(err, __FILE__, __LINE__); \
            goto cleanup;                               \
        }                                               \
    } while (0)

/* The kernels' regularization-mode code (warp.cuh cf_dev_reg_lambda: 0 plain, 1 weighted
 * by the row's count, 2 mean), mapped by name so it never depends on cf_reg's enum order. */
static inline int cf_gpu_reg_mode(cf_reg r) {
    return r == CF_REG_PLAIN ? 0 : r == CF_REG_WEIGHTED ? 1 : 2;
}

/* Most systems handed to one cf_gpulib_spotrf_batched / cf_gpulib_spotrs_batched call
 * (cusolverDnSpotrfBatched / cusolverDnSpotrsBatched); a batch with more is solved in
 * several calls, by the caller (als.c), so that the simulation build runs the same
 * chunked offsets. cuSOLVER documents no such limit: this is a guard, because cuBLAS's
 * batched triangular solve failed with CUBLAS_STATUS_EXECUTION_FAILED beyond
 * 524 280 = 8 × 65 535 matrices before CUDA 12.1 (pytorch/pytorch#97211, worked around
 * in pytorch/pytorch#117636), and a batched Cholesky solve may be built on it. The
 * Netflix users (480 189) fit in one call. */
#define CF_GPU_SOLVE_CHUNK 524280

/* One batch of rows [r0, r1) of a side, solved together. */
typedef struct cf_gpu_batch {
    int64_t r0, r1;       /* rows */
    int64_t e0, e1;       /* their entries: [ptr[r0], ptr[r1]) */
    int64_t unit0, n_units; /* Gram work units, in the side's unit array */
    int64_t red0, n_red;  /* segment reductions, in the side's reduction array */
    int64_t sys0, n_sys;  /* rows with ratings (systems), in the side's system arrays */
    int64_t n_slots;      /* Gram slots: n_sys + extra segment slots */
} cf_gpu_batch;

/* A side (users or items) as the rows of a CSR matrix, its factors and its plan. */
typedef struct cf_gpu_side {
    const char *name;       /* "user", "item": for messages */
    int64_t n_rows, n_other, nnz;
    const int64_t *h_ptr;   /* host offsets (borrowed from cf_ratings) */
    int64_t *d_ptr;         /* n_rows + 1 */
    uint32_t *d_idx;        /* nnz: indices of the other side */
    float *d_val;           /* nnz: ratings */
    float *d_F;             /* n_rows × ld: factors, 1 in column K with biases, zero padding */
    float *d_b;             /* n_rows: biases (zeros without) */
    /* plan */
    cf_gram_unit *d_units;  /* all batches' units, each batch's longest first */
    cf_gram_reduce *d_red;
    float **d_Bptr;         /* per system: its right-hand side in the RHS buffer */
    int *d_info;            /* per system: potrf info */
    int64_t n_units, n_red, n_sys;
    int64_t *h_sys_row;     /* per system: the row (for error messages) */
    cf_gpu_batch *batches;
    int32_t n_batches;
} cf_gpu_side;

struct cf_backend {
    cf_config cfg;
    const cf_ratings *R;    /* the host training matrix (borrowed, outlives the backend) */
    int k, d, ld;           /* factors, unknowns per row (K + bias), row stride of F */
    int bias;
    double mu;
    int64_t nnz;            /* |Ω|, training ratings */
    cf_gpu_tuning tune;
    int device;
    char name[128];
    /* --als-gram tc and the device and d allow it (cf_gram_tc_supported): the Gram on
     * tensor cores (kernels/gram_tc.cu); else the SIMT kernel, and `notice` says why */
    int gram_tc;
    char notice[256];
    int sm_count;

    cudaStream_t stream;
    cf_gpulib *lib;         /* cuBLAS / cuSOLVER / cuSPARSE on `stream` (gpulib.h) */

    cf_gpu_side side[2];    /* CF_SIDE_USERS, CF_SIDE_ITEMS */

    /* test triplets */
    int64_t n_test;
    uint32_t *d_test_u, *d_test_i;
    float *d_test_r;

    /* shared work buffers, sized by the plan */
    float *d_gram;          /* max slots × d × d */
    float **d_Aptr;         /* max systems: d_gram + j·d² */
    float *d_rhs;           /* max batch rows × ld */
    float *d_rhs_part;      /* max slots × ld: partial RHS of long rows' further segments */
    int *d_potrs_info;
    double *d_partial;      /* CF_REDUCE_BLOCKS × CF_EVAL_SUMS (eval.c) */
    int *h_info;            /* max systems of a side (host) */
    int64_t max_slots, max_sys, max_rows, max_entries;
    int64_t solve_chunk;    /* systems per batched solver call: CF_GPU_SOLVE_CHUNK (tests lower it) */

    const volatile sig_atomic_t *stop; /* set_stop: Ctrl-C / SIGTERM, polled between kernel batches */

    int planned;            /* the ALS batch plan exists (open plans it for --algo als only) */
    int fp16_stale;         /* the fp16 copies of the factors are older than F (upload) */
    struct cf_gpu_sgd *sgd; /* SGD state, made at the first epoch (sgd.c) */
    struct cf_gpu_gd *gd;   /* GD / mini-batch state, made at the first epoch (gd.c) */
    int64_t *d_bad;         /* 2 × CF_REDUCE_BLOCKS: the NaN guard's partials */

    /* accounting */
    size_t alloc_bytes, alloc_peak;
    size_t lib_bytes;       /* lib's workspace as last counted in alloc_bytes */
    cf_gpu_stats stats;
    cudaEvent_t ev[3];      /* phase boundaries of one batch or epoch (timing only) */
};

/* Tracked device allocation (zero-filled), counted in the peak figure. */
cf_status cf_gpu_alloc(cf_backend *b, void **p, size_t bytes, const char *what, cf_error *err);
void cf_gpu_free(cf_backend *b, void *p, size_t bytes);
/* Counts the growth of the gpulib workspace (cf_gpulib_workspace_bytes) since the last call
 * in alloc_bytes and the peaks; call after the library calls that may grow it (SpMM). */
void cf_gpu_count_lib_workspace(cf_backend *b);

/* The bytes the planner may use: min(free, limit), limit 0 = no limit. */
size_t cf_gpu_budget(size_t free_bytes, size_t limit);

/* Plans both sides' batches on the host (plan.c), a pure function of the sides' row
 * lengths, b->k/d/ld, b->tune and the two figures: `device_free` is the device memory
 * free before anything was uploaded (the planner uses cf_gpu_budget(device_free,
 * b->tune.mem_limit) of it), `data_bytes` what the resident data will take. A smaller
 * budget gives more, smaller batches. Fails with CF_ERR_DEVICE when the data and one
 * batch do not fit: "<device>: needs N bytes (...), M free; try --device cpu", or with a
 * limit below the free memory "..., L allowed by --gpu-mem-limit (M free on the
 * device); try --device cpu". */
cf_status cf_gpu_plan(cf_backend *b, size_t device_free, size_t data_bytes, cf_error *err);
/* Allocates the work buffers and uploads the work lists of the plan (plan.c). */
cf_status cf_gpu_plan_alloc(cf_backend *b, cf_error *err);
/* The host half of cf_gpu_plan_alloc (plan.c), a pure function of the plan: side `s`'s
 * work lists batch by batch into `units` (s->n_units), `red` (s->n_red) and `sys_row`
 * (s->n_sys: each system's row), and each batch's unit0/n_units, red0/n_red and sys0.
 * Within a batch, unit slots, reduction slots and systems count from 0 (the shared Gram
 * buffer and d_Aptr), and system j's right-hand side is row sys_row[sys0 + j] − r0 of the
 * shared RHS buffer. Fails (CF_ERR_INVALID, internal error) if a batch's lists disagree
 * with the counts of the cut. */
cf_status cf_gpu_plan_lists(cf_backend *b, cf_gpu_side *s, cf_gram_unit *units,
                            cf_gram_reduce *red, int64_t *sys_row, cf_error *err);

/* launch_gram or, where b->gram_tc, launch_gram_tc (same arguments, same outputs);
 * records which in b->stats.gram_tc. */
int cf_gpu_launch_gram(cf_backend *b, const cf_gram_unit *d_units, int64_t n_units, const cf_gpu_side *S,
                       const cf_gpu_side *O, float *d_A, float *d_rhs, float *d_rhs_part);

/* Gram work of a set of rows: the rows `rows[0..n)` (or, with rows == NULL, the range
 * [first, first + n)) become systems 0, 1, ... in that order; rows without ratings are
 * skipped unless keep_empty (then they get a unit writing Λ, Λb at the bias). Rows longer than `seg`
 * are cut into equal segments whose partial Grams go to extra slots after the systems,
 * with one reduction each. Units come out longest first (ties by slot, then entry), so
 * long rows start early. Output arrays need room for cf_gpu_work_count()'s figures. */
typedef struct cf_gpu_work {
    cf_gram_unit *units;
    cf_gram_reduce *red;
    int64_t *sys_row;       /* may be NULL: the row of each system */
    int64_t n_units, n_red, n_sys, n_slots;
} cf_gpu_work;

void cf_gpu_work_count(const cf_gpu_side *s, const int64_t *rows, int64_t first, int64_t n,
                       int keep_empty, int64_t seg, cf_gpu_work *count);
void cf_gpu_work_make(const cf_gpu_side *s, const int64_t *rows, int64_t first, int64_t n,
                      int keep_empty, int64_t seg, const cf_config *cfg, int64_t nnz,
                      cf_gpu_work *out);

/* Stop request (set_stop) seen between two batches of kernels: CF_ERR_INTERRUPTED
 * "<algo>: interrupted inside the step" after synchronizing the stream (the partial step
 * is abandoned: the trainer drops it, as on the CPU); CF_OK otherwise. */
cf_status cf_gpu_stop_poll(cf_backend *b, const char *algo, cf_error *err);

/* The evaluate entry of the table (eval.c). */
cf_status cf_gpu_evaluate(cf_backend *b, cf_eval_set which, cf_eval *out, cf_error *err);
/* The evaluate_all entry: both sets in one launch and one synchronization (eval.c). */
cf_status cf_gpu_evaluate_all(cf_backend *b, cf_eval *train, cf_eval *test, cf_error *err);
/* The als_half entry (als.c). */
cf_status cf_gpu_als_half(cf_backend *b, cf_side side, cf_error *err);
/* The sgd_epoch entry (sgd.c) and its state's release (accepts a backend without one). */
cf_status cf_gpu_sgd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err);
void cf_gpu_sgd_free(cf_backend *b);
/* SGD's fp16 copies of the factors (row stride K) when they hold the current factors
 * (fp16 storage, an epoch has run and nothing was uploaded since): 1 and *P, *Q set;
 * else 0. F then holds exactly their values (sgd.c converts them after every epoch). */
int cf_gpu_sgd_halves(cf_backend *b, const void **P, const void **Q);
/* The gd_epoch entry, full batch or mini-batch by cfg.algo (gd.c), and its release. */
cf_status cf_gpu_gd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err);
void cf_gpu_gd_free(cf_backend *b);
/* Checkpoints (backend.h cf_solver_state): the Adam step count and moments of GD /
 * mini-batch, as the CPU's solver state holds them (moments shaped like the factors). */
cf_status cf_gpu_gd_state_export(cf_backend *b, cf_solver_state *out, cf_error *err);
cf_status cf_gpu_gd_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err);
/* NaN guard after an epoch (sgd.c): CF_ERR_NUMERIC "<algo>: non-finite value at epoch
 * <epoch> in <user|item> <factor|bias> row <r>; <hint>", naming the first bad row in the
 * CPU's order (user factors, item factors, user biases, item biases). */
cf_status cf_gpu_check_finite(cf_backend *b, const char *algo, int64_t epoch, const char *hint,
                              cf_error *err);

#endif
