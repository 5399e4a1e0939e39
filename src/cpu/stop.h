/*
 * stop.h — Ctrl-C inside an update step, shared by both CPU backends (the fp64 reference,
 * cpu.h, and the fp32 path, cpu32.h). Each backend keeps the trainer's flag it got from
 * set_stop (backend.h) and polls it with cf_cpu_stop_poll: once per row (ALS, ALS+GD, CCD,
 * GD's gradient passes; ALS also per chunk of a row's ratings), per block (SGD blocks), per
 * CF_CPU_STOP_EVERY ratings (SGD shuffle) and per mini-batch. Once it is set the solvers
 * skip the rest of the step, and cf_cpu_interrupted turns the step's result into
 * CF_ERR_INTERRUPTED. The factors are then partly updated: the trainer discards them (it
 * checkpoints the state saved before the step).
 */
#ifndef CF_CPU_STOP_H
#define CF_CPU_STOP_H

#include "cufactor.h"

#include <signal.h>

#define CF_CPU_STOP_EVERY 4096

/* Test seam: called by every poll while a flag is given (NULL in production). */
extern void (*cf_cpu_stop_poll_hook)(void);

/* 1 when the trainer asked to stop (`stop` NULL: the trainer gave no flag). */
static inline int cf_cpu_stop_poll(const volatile sig_atomic_t *stop) {
    if (!stop) return 0;
    if (cf_cpu_stop_poll_hook) cf_cpu_stop_poll_hook();
    return *stop != 0;
}

/* CF_ERR_INTERRUPTED ("ALGO: interrupted inside the step") when the flag is set, else CF_OK;
 * not a poll (the hook is not called). */
cf_status cf_cpu_interrupted(const volatile sig_atomic_t *stop, const char *algo, cf_error *err);

#endif
