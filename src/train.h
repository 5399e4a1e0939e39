/*
 * train.h — the trainer's pieces that other drivers of the backend table reuse
 * (cf_verify runs two backends side by side with the trainer's own iteration), so an
 * iteration means the same thing everywhere; and the trainer's seam for tests: cf_train
 * with the GPU backend given explicitly, and the pure decision of the --device auto
 * fallback.
 */
#ifndef CF_TRAIN_H
#define CF_TRAIN_H

#include "backend.h"
#include "idmap.h"

/* 1 when `ops` implements algorithm `a`. */
int cf_backend_implements(const cf_backend_ops *ops, cf_algo a);

/* What a training runs on, on `threads` threads: the dataset's test part copied into
 * *test, its training part as CSR/CSC in *R (built straight from the dataset,
 * cf_ratings_build_part). CF_ERR_INVALID "<who>no training ratings (the test part holds
 * all N)" when the training part is empty (`who`: a prefix such as "verify: ", or "").
 * On failure both are freed. cf_train, cf_verify and bench_load prepare this way. */
cf_status cf_train_data(const cf_dataset *ds, int threads, const char *who, cf_ratings *R, cf_triplets *test,
                        cf_error *err);

/* cf_config_resolve for a training part already built as R (what cf_train uses). */
void cf_config_resolve_ratings(const cf_config *in, const cf_ratings *R, cf_config *out);

/* One iteration of cfg->algo (0-based `epoch`, which sets the learning rate): ALS and
 * ALS+GD the user side then the item side, SGD / GD / mini-batch one epoch, CCD one sweep. */
cf_status cf_train_step(const cf_backend_ops *ops, cf_backend *b, const cf_config *cfg, int32_t epoch,
                        cf_error *err);

/* The figures the trainer reports after every iteration: the training set's (with the
 * regularization term) into *train, the test set's into *test — one evaluate_all call
 * where the backend has it (GPU: one launch and one synchronization), else evaluate
 * twice. cufactor bench and bench_sgd time this same call. */
cf_status cf_train_evaluate(const cf_backend_ops *ops, cf_backend *b, cf_eval *train, cf_eval *test, cf_error *err);

/* cf_train_ex(...) is cf_train_with(&{cf_gpu_backend(), cf_gpu_available(...), why}, ...).
 * A test passes a table of its own (e.g. one whose open fails like an out-of-memory
 * plan) to exercise the device choice and the fallback on a machine without a GPU. */
typedef struct cf_gpu_seam {
    const cf_backend_ops *ops; /* NULL: no GPU backend built in */
    int usable;                /* a device is usable */
    const char *why;           /* why not, when !usable */
} cf_gpu_seam;

cf_status cf_train_with(const cf_gpu_seam *gpu, const cf_dataset *ds, const cf_config *cfg,
                        const cf_train_options *opt, cf_progress_fn progress, void *user, cf_model **out,
                        cf_train_report *rep, cf_error *err);

/* 1 when a GPU backend whose open failed with `open_status` is replaced by the CPU:
 * only under CF_DEVICE_AUTO, and only for failures of the device itself (CF_ERR_DEVICE:
 * the data does not fit the memory or the limit, an allocation or CUDA call failed;
 * CF_ERR_UNSUPPORTED). Bad arguments, host memory and the like are not retried. */
int cf_train_falls_back(cf_device device, cf_status open_status);

/* For a divergence message when every factor is finite but L (or the test RMSE) is not:
 * names the first term that is not finite — (r − r̂)² of a training rating, λ_r w_r(‖x_r‖²
 * + b_r²) of a row, or the error of a test rating — by row and, with the maps, by ID into
 * buf; returns 1, or 0 when every term is finite. users/items may be NULL. */
int cf_objective_nonfinite_term(const cf_ratings *R, const cf_triplets *test, const cf_factors *f,
                                const cf_config *cfg, const cf_idmap *users, const cf_idmap *items,
                                char *buf, size_t len);

#endif
