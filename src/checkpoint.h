/*
 * checkpoint.h — the whole resumable state of a training (cf_train_state) and its file,
 * the checkpoint (".cfc"; the format is documented at the top of checkpoint.c).
 *
 * The trainer (train.c) keeps everything it needs to continue in one cf_train_state and
 * updates it at every iteration boundary; a checkpoint is that struct with the backend's
 * current factors and solver state (backend.h: download, state_export) written out.
 * Resuming loads it, checks that the config and the data are the same, opens the
 * backend on the saved factors and installs the solver state (state_import).
 *
 * What is not stored because it is derived: the CSR/CSC, per-row λ, the SGD block
 * schedule (all from the data and the config), the random initialization of a restart
 * (from seed and restart index) and every per-epoch order (from (seed, stream, epoch),
 * schedule.h), so the iteration number stands for those RNG states.
 */
#ifndef CF_CHECKPOINT_H
#define CF_CHECKPOINT_H

#include "backend.h"
#include "cufactor.h"
#include "factors.h"

#include <stdint.h>

/* Why a run stopped, as stored (index into cf_stop_names). */
enum { CF_STOP_ITERS = 0, CF_STOP_TOL, CF_STOP_EARLY, CF_STOP_CALLBACK, CF_STOP_COUNT };
extern const char *const cf_stop_names[CF_STOP_COUNT];

typedef struct cf_train_state {
    cf_config cfg;            /* the config of the training */
    uint64_t data_hash;       /* cf_checkpoint_data_hash of the data */
    int64_t n_train, n_test;  /* ratings in the training and test parts */
    char backend[16];         /* the backend that wrote it ("cpu") */

    /* restarts: the best finished run so far */
    int32_t restart;          /* 0-based index of the run in progress */
    int have_result;          /* a finished run is kept in `result` */
    double best_score;        /* its score: test RMSE (objective without a test part) */
    int32_t result_iters;     /* its iterations */
    int32_t result_stop;      /* its stop reason (CF_STOP_*) */
    cf_iter_info result_last; /* its reported metrics */
    cf_factors result;        /* its factors (allocated when have_result) */

    /* the run in progress */
    int32_t iter;             /* iterations done */
    double prev_obj;          /* objective of the last iteration (tol), NaN before the first */
    double best_test;         /* early stop: best test RMSE so far (+inf before the first) */
    int32_t since_best;       /* early stop: iterations since it */
    int have_best;            /* early stop: `best` holds the best model of this run */
    cf_factors best;
    cf_iter_info last;        /* metrics of the model this run keeps so far */
    cf_factors cur;           /* the current factors (from the backend when saving) */
    cf_solver_state solver;   /* the backend's solver state (ditto) */
} cf_train_state;

/* Frees every array; accepts NULL. Leaves the struct zeroed. */
void cf_train_state_free(cf_train_state *s);

/* Atomic write (atomic_file.h); CF_ERR_IO names the path. `s->cur` and `s->solver`
 * must hold the backend's current state. */
cf_status cf_checkpoint_save(const cf_train_state *s, const char *path, cf_error *err);

/* Reads and validates a checkpoint into *s (freed with cf_train_state_free; zeroed on
 * failure). Malformed: CF_ERR_CORRUPT; unreadable: CF_ERR_IO; both name the path. */
cf_status cf_checkpoint_load(const char *path, cf_train_state *s, cf_error *err);

/* The identity of the data a training sees: shape, CSR arrays, test triplets and the
 * names of the users and items, hashed (hash64.h). */
uint64_t cf_checkpoint_data_hash(const cf_ratings *R, const cf_triplets *test, const cf_idmap *users,
                                 const cf_idmap *items);

/* CF_OK when a resumed training may use `now` in place of the checkpoint's `saved`:
 * every field must be equal except iters, threads, device and gpu_id; otherwise
 * CF_ERR_INVALID naming the first field that differs, both values and `path`. */
cf_status cf_checkpoint_config_check(const cf_config *saved, const cf_config *now, const char *path,
                                     cf_error *err);

#endif
