/*
 * cpu.h — the CPU reference backend: double precision, OpenMP across rows, results
 * independent of the thread count (each row is computed by one thread in a fixed
 * order; reductions go through fixed chunks summed serially).
 *
 * Solver files (als.c, sgd.c, gd.c, alsgd.c, ccd.c) each implement one entry of the
 * backend table over this state; backend.c owns open/evaluate/download/close.
 */
#ifndef CF_CPU_H
#define CF_CPU_H

#include "backend.h"
#include "stop.h"

struct cf_backend {
    const cf_ratings *R;      /* training matrix (borrowed) */
    const cf_triplets *test;  /* test ratings (borrowed, may be empty) */
    cf_config cfg;
    cf_factors f;             /* current model (owned) */
    int threads;              /* resolved thread count (>= 1) */
    char name[64];
    /* Per-algorithm state, created on first use by the solver that owns it and freed
     * at close through the matching free function (may stay NULL). */
    void *solver_state;
    void (*solver_free)(void *state);
    const volatile sig_atomic_t *stop; /* the trainer's stop flag (set_stop), or NULL */
};

/* Fixed number of chunks for deterministic parallel reductions. */
#define CF_CPU_REDUCE_CHUNKS 256

cf_status cf_cpu_als_half(cf_backend *b, cf_side side, cf_error *err);
cf_status cf_cpu_alsgd_half(cf_backend *b, cf_side side, double lr, cf_error *err);
cf_status cf_cpu_sgd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err);
cf_status cf_cpu_gd_epoch(cf_backend *b, int32_t epoch, double lr, cf_error *err);
cf_status cf_cpu_ccd_sweep(cf_backend *b, cf_error *err);

/* Checkpoint state of the solvers that keep one (see cf_solver_state in backend.h). */
cf_status cf_cpu_gd_state_export(cf_backend *b, cf_solver_state *out, cf_error *err);
cf_status cf_cpu_gd_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err);
cf_status cf_cpu_alsgd_state_export(cf_backend *b, cf_solver_state *out, cf_error *err);
cf_status cf_cpu_alsgd_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err);
cf_status cf_cpu_ccd_state_export(cf_backend *b, cf_solver_state *out, cf_error *err);
cf_status cf_cpu_ccd_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err);

/* A side's view: rows of `side` (users or items), their entries in R, and the factor
 * arrays of this side (X, bx) and of the other side (Y, by). */
typedef struct cf_side_view {
    int64_t n_rows, n_other;
    const int64_t *ptr;
    const uint32_t *idx;
    const float *val;
    double *X, *bx;        /* this side's factors and biases */
    const double *Y, *by;  /* the other side's */
} cf_side_view;

cf_side_view cf_cpu_side(cf_backend *b, cf_side side);

#endif
