/* fiber.cpp — cooperative fibers (fiber.h): x86-64 stack switching, ucontext elsewhere. */
#include "fiber.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "asan.h"

#ifdef CF_SIM_ASAN
#define START_SWITCH(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define FINISH_SWITCH(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define START_SWITCH(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define FINISH_SWITCH(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif

#if defined(__x86_64__)
/* cf_sim_switch(void **save_sp, void *new_sp): push the callee-saved registers and the
 * SSE/x87 control words, save rsp, load the other stack, pop its registers, return into it.
 * A new fiber's stack holds a frame whose return address is the trampoline, with r12 = the
 * C entry and r13 = its argument (fiber_start). */
extern "C" void cf_sim_switch(void **save_sp, void *new_sp);
extern "C" void cf_sim_trampoline(void);
asm(R"(
    .text
    .globl cf_sim_switch
    .type cf_sim_switch, @function
cf_sim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cf_sim_switch, .-cf_sim_switch
    .globl cf_sim_trampoline
    .type cf_sim_trampoline, @function
cf_sim_trampoline:
    movq %r13, %rdi
    callq *%r12
    ud2
    .size cf_sim_trampoline, .-cf_sim_trampoline
)");
#else
#include <ucontext.h>
#endif

namespace cf_sim {

static void fiber_main(void *p) {
    fiber *f = (fiber *)p;
    FINISH_SWITCH(nullptr, &f->host->stack_bottom, &f->host->stack_size);
    f->entry(f->arg); /* ends with fiber_yield(..., 1) */
    fprintf(stderr, "cufactor-sim: a fiber returned from its entry\n");
    abort();
}

void fiber_alloc(fiber *f, size_t size) {
    if (f->stack && f->stack_size >= size) return;
    fiber_release(f);
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size = (size + page - 1) / page * page;
    char *m = (char *)mmap(nullptr, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                           -1, 0);
    if (m == MAP_FAILED) {
        perror("cufactor-sim: mmap of a fiber stack");
        abort();
    }
    mprotect(m, page, PROT_NONE); /* guard page below the stack */
    f->stack = m + page;
    f->stack_size = size;
}

void fiber_release(fiber *f) {
    if (!f->stack) return;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
#ifndef __x86_64__
    free(f->sp);
#endif
    munmap(f->stack - page, f->stack_size + page);
    f->stack = nullptr, f->stack_size = 0, f->sp = nullptr;
}

void fiber_start(fiber_host *h, fiber *f, void (*entry)(void *), void *arg) {
    f->host = h, f->entry = entry, f->arg = arg, f->asan_fake = nullptr;
#ifdef CF_SIM_ASAN
    /* The frames a finished thread never returned from (fiber_main, the thread's entry,
     * the last switch) sit at the top of the stack and may still carry ASan's redzones;
     * every deeper frame returned and was unpoisoned then. Clearing the top 16 KiB, not
     * the whole stack, keeps a block's start cheap (it runs once per thread per block). */
    const size_t clear = f->stack_size < 16384 ? f->stack_size : 16384;
    __asan_unpoison_memory_region(f->stack + f->stack_size - clear, clear);
#endif
#if defined(__x86_64__)
    uint64_t *top = (uint64_t *)(((uintptr_t)(f->stack + f->stack_size)) & ~(uintptr_t)15);
    uint64_t *sp = top - 8;
    sp[7] = (uint64_t)(uintptr_t)cf_sim_trampoline; /* return address of the first switch */
    sp[6] = 0;                                      /* rbp */
    sp[5] = 0;                                      /* rbx */
    sp[4] = (uint64_t)(uintptr_t)fiber_main;        /* r12 */
    sp[3] = (uint64_t)(uintptr_t)f;                 /* r13 */
    sp[2] = 0, sp[1] = 0;                           /* r14, r15 */
    sp[0] = 0x1f80ull | (0x037full << 32);          /* MXCSR default; x87 control word */
    f->sp = sp;
#else
    ucontext_t *uc = (ucontext_t *)f->sp;
    if (!uc) uc = (ucontext_t *)calloc(1, sizeof *uc);
    getcontext(uc);
    uc->uc_stack.ss_sp = f->stack;
    uc->uc_stack.ss_size = f->stack_size;
    uc->uc_link = nullptr;
    makecontext(uc, (void (*)())(void (*)(void *))fiber_main, 1, f); /* one pointer argument: glibc passes it whole on 64-bit */
    f->sp = uc;
#endif
}

void fiber_resume(fiber_host *h, fiber *f) {
    START_SWITCH(&h->asan_fake, f->stack, f->stack_size);
#if defined(__x86_64__)
    cf_sim_switch(&h->sp, f->sp);
#else
    if (!h->sp) h->sp = calloc(1, sizeof(ucontext_t));
    swapcontext((ucontext_t *)h->sp, (ucontext_t *)f->sp);
#endif
    FINISH_SWITCH(h->asan_fake, nullptr, nullptr);
}

void fiber_yield(fiber_host *h, fiber *f, int finished) {
    START_SWITCH(finished ? nullptr : &f->asan_fake, h->stack_bottom, h->stack_size);
#if defined(__x86_64__)
    cf_sim_switch(&f->sp, h->sp);
#else
    swapcontext((ucontext_t *)f->sp, (ucontext_t *)h->sp);
#endif
    FINISH_SWITCH(f->asan_fake, &h->stack_bottom, &h->stack_size);
}

} // namespace cf_sim
