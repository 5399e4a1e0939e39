/*
 * backend.h — the one table of functions through which the trainer drives a compute
 * backend. The CPU reference (src/cpu) and the GPU backend (src/gpu) fill the same
 * table, so a GPU-vs-CPU comparison runs the same control flow by construction.
 *
 * Life cycle: open (upload R and the initial factors once) → any number of update
 * steps and evaluations → download (factors back to the host) → close.
 * An entry left NULL means "this backend does not implement that algorithm"; the
 * trainer reports CF_ERR_UNSUPPORTED naming both.
 */
#ifndef CF_BACKEND_H
#define CF_BACKEND_H

#include "cufactor.h"

#include <signal.h>
#include "dataset.h"
#include "factors.h"
#include "ratings.h"

typedef enum cf_side { CF_SIDE_USERS = 0, CF_SIDE_ITEMS = 1 } cf_side;
typedef enum cf_eval_set { CF_EVAL_TRAIN = 0, CF_EVAL_TEST = 1 } cf_eval_set;

/* Sums over one rating set; RMSE = sqrt(sse/n). `reg` is filled for CF_EVAL_TRAIN only:
 *   reg = Σ_u λ_u w_u (‖p_u‖² + b_u²) + Σ_i λ_i w_i (‖q_i‖² + b_i²),
 * so that the objective is L = sse + reg (DESIGN.md §1). */
typedef struct cf_eval {
    double sse, sae;
    int64_t n;
    double reg;
} cf_eval;

typedef struct cf_backend cf_backend; /* each backend defines its own struct */

/* The solver's state beyond the factors, for checkpoints (checkpoint.h):
 *   counter  steps taken so far: Adam's t (gd, minibatch), user half-steps (alsgd),
 *            sweeps (ccd); 0 for the others
 *   m, v     Adam's first and second moments, shaped like the factors, when
 *            has_moments (allocated by export, freed with cf_solver_state_free). */
typedef struct cf_solver_state {
    int64_t counter;
    int has_moments;
    cf_factors m, v;
} cf_solver_state;

void cf_solver_state_free(cf_solver_state *s); /* accepts NULL and a zeroed struct */

typedef struct cf_backend_ops {
    const char *name; /* "cpu", "gpu" */

    /* `train` and `test` are borrowed and must outlive the backend; `init` is copied. */
    cf_status (*open)(const cf_ratings *train, const cf_triplets *test, const cf_config *cfg,
                      const cf_factors *init, cf_backend **out, cf_error *err);

    /* ALS: exact solve of every row of `side` with the other side fixed. */
    cf_status (*als_half)(cf_backend *b, cf_side side, cf_error *err);
    /* ALS+GD: cfg->inner gradient steps of size lr on each row of `side`'s block problem. */
    cf_status (*alsgd_half)(cf_backend *b, cf_side side, double lr, cf_error *err);
    /* SGD: one epoch (0-based) over all training ratings with learning rate lr. */
    cf_status (*sgd_epoch)(cf_backend *b, int32_t epoch, double lr, cf_error *err);
    /* GD / mini-batch: one epoch of (full or mini-batch) gradient steps of size lr. */
    cf_status (*gd_epoch)(cf_backend *b, int32_t epoch, double lr, cf_error *err);
    /* CCD: one sweep over all coordinates, users then items. */
    cf_status (*ccd_sweep)(cf_backend *b, cf_error *err);

    cf_status (*evaluate)(cf_backend *b, cf_eval_set which, cf_eval *out, cf_error *err);
    /* Both sets at once: exactly what evaluate(TRAIN) and evaluate(TEST) give, in one pass
     * (the GPU: one launch, one copy, one synchronization). NULL: evaluate twice
     * (train.h cf_train_evaluate chooses). */
    cf_status (*evaluate_all)(cf_backend *b, cf_eval *train, cf_eval *test, cf_error *err);
    /* Copies the current factors into `out` (allocated by the caller with the same dims). */
    cf_status (*download)(cf_backend *b, cf_factors *out, cf_error *err);
    /* Replaces the current factors (e.g. to restore the best model seen). */
    cf_status (*upload)(cf_backend *b, const cf_factors *in, cf_error *err);
    /* Checkpoints: copy the solver state out / install it into a backend just opened
     * with the checkpoint's factors. NULL: this backend cannot checkpoint. */
    cf_status (*state_export)(cf_backend *b, cf_solver_state *out, cf_error *err);
    cf_status (*state_import)(cf_backend *b, const cf_solver_state *in, cf_error *err);
    /* Hands the trainer's stop flag (cf_train_options.stop, set by SIGINT / SIGTERM) to
     * the backend, which polls it inside an update step (per row batch, between kernel
     * batches) and then abandons the step: it returns CF_ERR_INTERRUPTED with the factors
     * partly updated, and the trainer checkpoints the state from before the step.
     * NULL: the backend polls nothing; the trainer sees the flag at iteration ends only. */
    void (*set_stop)(cf_backend *b, const volatile sig_atomic_t *stop);
    /* A short description of the device ("cpu (2 threads)", "NVIDIA H100 ..."). */
    const char *(*device_name)(cf_backend *b);
    /* A one-line notice about how the backend runs this configuration where it differs
     * from what was asked (e.g. --als-gram tc on a GPU without TF32 tensor cores), or ""
     * or NULL; the trainer adds it to cf_train_report.notice. NULL op: none. */
    const char *(*notice)(cf_backend *b);
    void (*close)(cf_backend *b); /* accepts NULL */
} cf_backend_ops;

/* The CPU backends: the double-precision reference (src/cpu/backend.c, "cpu"), which
 * `verify` and the GPU tests compare against, and the fp32 SIMD path
 * (src/cpu/backend_f32.c, "cpu-fp32"; ALS and SGD only), the default. */
extern const cf_backend_ops cf_cpu_backend;
extern const cf_backend_ops cf_cpu32_backend;

/* The CPU backend that trains cfg: the reference for --precision fp64, else the fp32 path
 * when it implements cfg->algo, else the reference (defined in train.c). */
const cf_backend_ops *cf_cpu_backend_for(const cf_config *cfg);

/* 1 for either CPU backend. */
int cf_backend_is_cpu(const cf_backend_ops *ops);

/* The GPU backend's table, or NULL when the library was built without CUDA. */
const cf_backend_ops *cf_gpu_backend(void);

#endif
