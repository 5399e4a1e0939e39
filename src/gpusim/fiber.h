/*
 * fiber.h — cooperative fibers for the simulated device's threads (src/gpusim/fiber.cpp).
 *
 * A fiber is a stack and a saved stack pointer. cf_fiber_switch(from, to) saves the
 * callee-saved registers of the running context on its stack, stores its stack pointer
 * in *from and resumes `to`: about ten instructions on x86-64 (ucontext elsewhere, which
 * costs a system call per switch). The simulation's scheduler runs on the host thread's
 * own stack and switches into one fiber at a time; a fiber switches back at every barrier
 * or warp collective and when its thread returns.
 *
 * Under AddressSanitizer every switch is announced with __sanitizer_start_switch_fiber /
 * __sanitizer_finish_switch_fiber, so ASan keeps checking the fibers' stacks (and its
 * stack-use-after-return fake stacks) correctly.
 */
#ifndef CF_GPUSIM_FIBER_H
#define CF_GPUSIM_FIBER_H

#include <stddef.h>

namespace cf_sim {

struct fiber_host;

struct fiber {
    void *sp = nullptr;        /* saved stack pointer (x86-64) or ucontext_t* (fallback) */
    fiber_host *host = nullptr;
    void (*entry)(void *) = nullptr;
    void *arg = nullptr;
    char *stack = nullptr;     /* lowest usable address */
    size_t stack_size = 0;
    void *asan_fake = nullptr; /* ASan's fake-stack handle while switched out */
};

/* The host thread's own context (the scheduler's). */
struct fiber_host {
    void *sp = nullptr;
    void *asan_fake = nullptr;
    const void *stack_bottom = nullptr; /* learned at the first switch (ASan) */
    size_t stack_size = 0;
};

/* Gives f a fresh stack of `size` bytes (kept across fiber_start calls) with a guard page. */
void fiber_alloc(fiber *f, size_t size);
void fiber_release(fiber *f);
/* Prepares f to run entry(arg) from the top of its stack at its next resume. */
void fiber_start(fiber_host *h, fiber *f, void (*entry)(void *), void *arg);
/* Scheduler → fiber; returns when the fiber yields or finishes. */
void fiber_resume(fiber_host *h, fiber *f);
/* Fiber → scheduler (from inside f). finished = 1: f never runs again until fiber_start. */
void fiber_yield(fiber_host *h, fiber *f, int finished);

} // namespace cf_sim

#endif
