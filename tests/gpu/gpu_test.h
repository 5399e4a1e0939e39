/*
 * gpu_test.h — what the GPU test files share (include once, after criterion.h):
 *
 *   REQUIRE_GPU()  skips the test (cr_skip_test) where no usable device exists, with
 *                  cf_gpu_available()'s reason. Under the CPU simulation of the GPU
 *                  (CUFACTOR_GPU_SIM) a device always exists: there it fails instead,
 *                  so no GPU test can skip under the simulation.
 *
 *   gpu_test_order_seed(s)  under the simulation, the seed of the order in which the
 *                  blocks (and a block's threads) of the following launches run, so a
 *                  determinism test can run the same work in two orders; a no-op on a GPU
 *                  (whose order is whatever the hardware does).
 *
 *   gpu_test_co_resident(on)  under the simulation, 1: every block of the following
 *                  launches runs at once (up to 4096), warps interleaved at each barrier
 *                  and collective, as co-resident blocks on a GPU — for the tests whose
 *                  warps race on purpose (hogwild's quality); 0: one block at a time
 *                  again. A no-op on a GPU, where blocks are co-resident anyway.
 *
 *   gpu_test_resume(dir, c, tol)  the GPU checkpoint tests' case: on a small planted set
 *                  (returned; the caller destroys it), c trained on the GPU for 6 iterations,
 *                  stopped after 3 and resumed, ends as the uninterrupted run
 *                  (cf_test_resume_matches with tol); the checkpoint, dir/run.cfc, was
 *                  written by the GPU backend after iteration 3. The test calls
 *                  REQUIRE_GPU() itself first (before making dir).
 *
 *   Suites: tests that need a device are in suites named gpu_*, tests of the host side
 *   of the GPU code (planner, work lists, fp16 conversions, SGD work lists) in host_*;
 *   CMakeLists.txt registers the two as separate ctest entries (NAME_host, NAME), so the
 *   host tests always count, and prints the GPU entry as "Skipped" — not "Passed" — when
 *   every test in it skipped: this file's report hook prints the line that ctest's
 *   SKIP_REGULAR_EXPRESSION looks for, only when no test ran at all.
 */
#ifndef CF_TEST_GPU_TEST_H
#define CF_TEST_GPU_TEST_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <stdio.h>
#include <string.h>

#include "gpu/gpu.h"
#include "helpers.h"

#ifdef CUFACTOR_GPU_SIM
#include <cuda_runtime_api.h>
static inline void gpu_test_order_seed(unsigned long long s) { cf_sim_set_seed(s); }
static inline void gpu_test_co_resident(int on) { cf_sim_set_resident(on ? 4096 : 1); }
#else
static inline void gpu_test_order_seed(unsigned long long s) { (void)s; }
static inline void gpu_test_co_resident(int on) { (void)on; }
#endif

/* the simulated device always exists: a test that cannot get it fails there */
#ifdef CUFACTOR_GPU_SIM
#define CF_TEST_NO_GPU_(why) cr_assert_fail("simulated GPU: %s", why)
#else
#define CF_TEST_NO_GPU_(why) cr_skip_test("%s", why)
#endif
#define REQUIRE_GPU()                                                         \
    do {                                                                      \
        char why_[256] = "";                                                  \
        if (!cf_gpu_available(why_, sizeof why_)) CF_TEST_NO_GPU_(why_);       \
    } while (0)

static inline cf_dataset *gpu_test_resume(const char *dir, cf_config c, double tol) {
    cf_dataset *ds = cf_test_generate(150, 90, 3000, 3, 0.3, 4, 1);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.15, 5, &err), CF_OK);
    c.device = CF_DEVICE_GPU, c.iters = 6;
    cf_checkpoint_info ck;
    cf_train_report r = cf_test_resume_matches(dir, ds, c, 3, 1, tol, &ck);
    cr_assert(strncmp(r.device, "cpu", 3) != 0, "trained on %s", r.device);
    cr_assert_eq(ck.iter, 3);
    cr_assert_str_eq(ck.backend, "gpu");
    return ds;
}

ReportHook(POST_ALL)(struct criterion_global_stats *st) {
    if (st->tests_skipped > 0 && st->tests_passed == 0 && st->tests_failed == 0 && st->tests_crashed == 0) {
        char why[256] = "";
        cf_gpu_available(why, sizeof why);
        /* (tests_skipped also counts the tests the --filter left out: no count printed) */
        printf("cufactor-tests: every GPU test of this run skipped: %s\n", why[0] ? why : "no usable GPU");
        fflush(stdout);
    }
}

#endif
