/*
 * test_gpusim.c — the rules of the CPU simulation of the GPU (src/gpusim), in the
 * simulation build only: what warp collectives return, that a barrier or collective
 * reached by part of its threads stops the kernel, that launches beyond the device's
 * limits fail as on hardware, that blocks run in a seeded order, that fresh shared and
 * device memory reads as the poison pattern, that work waits in the stream's queue until a
 * synchronizing call, and that planted bugs in a copy of the real Gram kernel are caught.
 *
 * Each fault test expects the simulation to abort (SIGABRT) — Criterion runs every test
 * in its own process. The planted-bug tests run tests/gpusim/gram_check.c linked with the
 * real kernels/gram.cu (must pass: the control) and with copies made by CMake with one
 * change each (must fail): an off-by-one in the shared-memory staging index, the barrier
 * between staging and use removed, and that barrier made divergent.
 */
#include <criterion/criterion.h>

#include <cuda_runtime_api.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

int launch_shuffles(int *d_out, int threads);
int launch_fault(int which, int *d_out);
int launch_order(int *d_counter, int *d_order, int blocks);
int launch_resident(int *d_counters, int *d_trace, int *d_bad, int blocks, int steps);
int launch_shape(float *d_out, unsigned threads, unsigned gx, unsigned gy, size_t smem);
int set_shape_smem(int bytes);
int launch_read_before_write(float *d_out);
int launch_smem_overflow(float *d_out);
int launch_wmma_product(const float *a, const float *at, const float *b, const float *bt, const float *c,
                        const float *ct, float *d, int variant);
int launch_wmma_elementwise(const float *a, float *d);
int launch_wmma_fault(const float *a, float *d, int which);
float sim_float_to_tf32(float f);

static void *dev_alloc(size_t n) {
    void *p = NULL;
    cr_assert_eq(cudaMalloc(&p, n), cudaSuccess);
    return p;
}

Test(gpusim, warp_collectives_return_what_cuda_documents) {
    const int threads = 64;
    int *d = dev_alloc(threads * 8 * sizeof(int)), h[64 * 8];
    cr_assert_eq(launch_shuffles(d, threads), cudaSuccess);
    cr_assert_eq(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
    unsigned ballot = 0;
    for (int l = 0; l < 32; l++)
        if (l % 3 == 0) ballot |= 1u << l;
    for (int t = 0; t < threads; t++) {
        const int l = t & 31, *o = h + t * 8;
        cr_expect_eq(o[0], (l * 7) % 32 * 10, "thread %d: __shfl_sync", t);
        cr_expect_eq(o[1], (l ^ 5) * 10, "thread %d: __shfl_xor_sync", t);
        cr_expect_eq(o[2], (l >= 3 ? l - 3 : l) * 10, "thread %d: __shfl_up_sync", t);
        cr_expect_eq(o[3], (l + 3 < 32 ? l + 3 : l) * 10, "thread %d: __shfl_down_sync", t);
        cr_expect_eq(o[4], ((l & ~7) + 2) * 10, "thread %d: __shfl_sync width 8", t);
        cr_expect_eq(o[5], ((l % 8) + 3 < 8 ? l + 3 : l) * 10, "thread %d: __shfl_down_sync width 8", t);
        cr_expect_eq((unsigned)o[6], ballot, "thread %d: __ballot_sync", t);
        cr_expect_eq(o[7], l >= 16 ? l ^ 1 : -1, "thread %d: half-warp __shfl_xor_sync", t);
    }
    cudaFree(d);
}

static void fault(int which) {
    int *d = dev_alloc(64 * sizeof(int));
    cr_assert_eq(launch_fault(which, d), cudaSuccess); /* queued: the fault shows when it runs */
    cudaDeviceSynchronize();
    cr_assert_fail("the simulation ran fault kernel %d to the end", which);
}
Test(gpusim, divergent_syncthreads_aborts, .signal = SIGABRT) { fault(0); }
Test(gpusim, shuffle_naming_an_exited_lane_aborts, .signal = SIGABRT) { fault(1); }
Test(gpusim, one_mask_at_two_call_sites_aborts, .signal = SIGABRT) { fault(2); }
Test(gpusim, full_mask_in_a_partial_warp_aborts, .signal = SIGABRT) { fault(3); }

Test(gpusim, launches_beyond_the_limits_fail_as_on_hardware) {
    float *d = dev_alloc(sizeof(float));
    cr_expect_eq(launch_shape(d, 1024, 1, 1, 1024 * 4), cudaSuccess);
    cr_expect_eq(launch_shape(d, 1025, 1, 1, 0), cudaErrorInvalidConfiguration);
    cr_expect_eq(launch_shape(d, 0, 1, 1, 0), cudaErrorInvalidConfiguration);
    cr_expect_eq(launch_shape(d, 32, 0, 1, 0), cudaErrorInvalidConfiguration);
    cr_expect_eq(launch_shape(d, 32, 1, 65536, 0), cudaErrorInvalidConfiguration);
    cr_expect_eq(launch_shape(d, 32, 1, 1, 48 * 1024 + 4), cudaErrorInvalidValue);
    cr_expect_eq(set_shape_smem(100 * 1024), cudaSuccess);
    cr_expect_eq(launch_shape(d, 32, 1, 1, 100 * 1024), cudaSuccess);
    cr_expect_eq(launch_shape(d, 32, 1, 1, 100 * 1024 + 4), cudaErrorInvalidValue);
    cr_expect_eq(set_shape_smem(232448 + 1), cudaErrorInvalidValue);
    cr_expect_eq(cudaGetLastError(), cudaErrorInvalidValue, "the last error is kept until read");
    cr_expect_eq(cudaGetLastError(), cudaSuccess);
    cr_expect_eq(cudaDeviceSynchronize(), cudaSuccess);
    float h = 0;
    cr_expect_eq(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
    cr_expect_eq(h, 1.0f);
    cudaFree(d);
}

static void block_order(unsigned long long seed, int n, int *order) {
    int *d_c = dev_alloc(sizeof(int)), *d_o = dev_alloc((size_t)n * sizeof(int));
    cr_assert_eq(cudaMemset(d_c, 0, sizeof(int)), cudaSuccess);
    cf_sim_set_seed(seed);
    cr_assert_eq(launch_order(d_c, d_o, n), cudaSuccess);
    cr_assert_eq(cudaMemcpy(order, d_o, (size_t)n * sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(d_c), cudaFree(d_o);
    char *seen = calloc((size_t)n, 1);
    for (int k = 0; k < n; k++) {
        cr_assert(order[k] >= 0 && order[k] < n && !seen[order[k]], "block %d ran twice or never", order[k]);
        seen[order[k]] = 1;
    }
    free(seen);
}

Test(gpusim, blocks_run_in_a_seeded_shuffled_order) {
    enum { N = 200 };
    int a[N], b[N], c[N], ident = 1;
    block_order(7, N, a);
    block_order(8, N, b);
    for (int k = 0; k < N; k++) ident &= a[k] == k;
    cr_expect(!ident, "blocks ran in index order");
    cr_expect(memcmp(a, b, sizeof a) != 0, "two seeds gave the same order");
    /* the same seed and the same launch count since it was set: the same order */
    block_order(7, N, c);
    cr_expect(memcmp(a, c, sizeof a) == 0, "the same seed gave another order");
}

/* cf_sim_set_resident: with 1, a block runs to its end before the next starts (the trace
 * holds each block's steps together); with 3, three blocks at a time interleave at every
 * barrier and shuffle (the first steps done are three blocks' step 0, then their step 1),
 * each with its own static and dynamic shared memory (none sees another's values), and a
 * block that finishes hands its place to the next (every block does every step once). */
static void resident_run(int resident, int blocks, int steps, int *trace, int *bad) {
    int *d_c = dev_alloc(sizeof(int)), *d_t = dev_alloc(sizeof(int) * (size_t)(blocks * steps)),
        *d_b = dev_alloc(sizeof(int));
    cr_assert_eq(cudaMemset(d_c, 0, sizeof(int)), cudaSuccess);
    cr_assert_eq(cudaMemset(d_b, 0, sizeof(int)), cudaSuccess);
    cf_sim_set_resident(resident);
    cr_assert_eq(launch_resident(d_c, d_t, d_b, blocks, steps), cudaSuccess);
    cf_sim_set_resident(1); /* the launch keeps the setting it was made with */
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    cr_assert_eq(cudaMemcpy(trace, d_t, sizeof(int) * (size_t)(blocks * steps), cudaMemcpyDeviceToHost), cudaSuccess);
    cr_assert_eq(cudaMemcpy(bad, d_b, sizeof(int), cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(d_c), cudaFree(d_t), cudaFree(d_b);
}

Test(gpusim, co_resident_blocks_interleave_with_their_own_shared_memory) {
    enum { B = 7, S = 4 };
    int t[B * S], bad = -1;
    resident_run(1, B, S, t, &bad);
    cr_assert_eq(bad, 0, "one resident block: %d wrong shared values", bad);
    for (int k = 0; k < B * S; k++) /* block by block, each block's steps in order */
        cr_assert_eq(t[k] % S, k % S, "one at a time: trace[%d] = block %d step %d", k, t[k] / S, t[k] % S);
    resident_run(3, B, S, t, &bad);
    cr_assert_eq(bad, 0, "three resident blocks: %d reads of another block's shared memory", bad);
    for (int k = 0; k < 3 * S; k++) /* three blocks in lockstep: step k / 3 */
        cr_assert_eq(t[k] % S, k / 3, "three at a time: trace[%d] = block %d step %d", k, t[k] / S, t[k] % S);
    int seen[B * S] = {0};
    for (int k = 0; k < B * S; k++) seen[t[k]]++;
    for (int k = 0; k < B * S; k++) cr_assert_eq(seen[k], 1, "block %d step %d done %d times", k / S, k % S, seen[k]);
}

Test(gpusim, fresh_shared_and_device_memory_is_poison) {
    float *d = dev_alloc(128 * sizeof(float)), h[128];
    cr_assert_eq(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
    for (int j = 0; j < 128; j++) cr_expect(isnan(h[j]), "fresh device memory [%d] = %g", j, h[j]);
    cr_assert_eq(launch_read_before_write(d), cudaSuccess);
    cr_assert_eq(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
    /* two blocks ran: the second must not see the first one's writes either */
    for (int j = 0; j < 128; j++) cr_expect(isnan(h[j]), "shared memory read before a write [%d] = %g", j, h[j]);
    cudaFree(d);
}

Test(gpusim, queued_work_runs_at_a_synchronizing_call) {
    cudaStream_t s;
    cr_assert_eq(cudaStreamCreate(&s), cudaSuccess);
    unsigned char *d = dev_alloc(16);
    cr_assert_eq(cudaMemsetAsync(d, 7, 16, s), cudaSuccess);
    /* device memory is host memory here: look before synchronizing (never valid on a GPU) */
    cr_expect_eq(d[3], 0xff, "the memset ran before the stream was synchronized");
    cr_assert_eq(cudaStreamSynchronize(s), cudaSuccess);
    cr_expect_eq(d[3], 7);
    unsigned char h[16] = {1};
    cr_expect_eq(cudaMemcpy(h, d, 17, cudaMemcpyDeviceToHost), cudaErrorInvalidValue, "a copy past the allocation");
    cr_expect_eq(cudaMemcpy(d, h, 16, cudaMemcpyDeviceToHost), cudaErrorInvalidValue, "the wrong direction");
    cudaFree(d);
    cudaStreamDestroy(s);
}

Test(gpusim, device_memory_is_limited_and_reported) {
    size_t free0, total;
    cr_assert_eq(cudaMemGetInfo(&free0, &total), cudaSuccess);
    void *p = NULL;
    cr_expect_eq(cudaMalloc(&p, total + 1), cudaErrorMemoryAllocation);
    cr_assert_eq(cudaMalloc(&p, (size_t)1 << 20), cudaSuccess);
    size_t free1;
    cr_assert_eq(cudaMemGetInfo(&free1, &total), cudaSuccess);
    cr_expect_eq(free0 - free1, (size_t)1 << 20);
    cr_expect_eq(cudaFree(p), cudaSuccess);
    cr_expect_eq(cudaFree((char *)p + 8), cudaErrorInvalidValue, "freeing what cudaMalloc did not return");
}

#ifdef __SANITIZE_ADDRESS__
/* AddressSanitizer's report exits with ASAN_OPTIONS' exitcode (86, CMakeLists.txt). */
Test(gpusim, shared_memory_overflow_is_an_asan_report, .exit_code = 86) {
    float *d = dev_alloc(32 * sizeof(float));
    cr_assert_eq(launch_smem_overflow(d), cudaSuccess);
    cudaDeviceSynchronize();
    cr_assert_fail("no AddressSanitizer report");
}
#endif

/* ---- the nvcuda::wmma subset (src/gpusim/include/mma.h) ---- */
static float bits_f(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t f_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* D = A·B + C through the wmma kernel, A 16×8, B 8×16, C 16×16 row-major, `variant` as in
 * sim_kernels.cu (the transposes are made here). */
static void wmma_product(const float *a, const float *b, const float *c, float *d, int variant) {
    float at[128], bt[128], ct[256];
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < 8; k++) at[k * 16 + i] = a[i * 8 + k], bt[i * 8 + k] = b[k * 16 + i];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) ct[j * 16 + i] = c[i * 16 + j];
    float *dev = dev_alloc(7 * 256 * sizeof(float)), out[256];
    cr_assert_eq(cudaMemcpy(dev, a, 128 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(cudaMemcpy(dev + 256, at, 128 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(cudaMemcpy(dev + 512, b, 128 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(cudaMemcpy(dev + 768, bt, 128 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(cudaMemcpy(dev + 1024, c, 256 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(cudaMemcpy(dev + 1280, ct, 256 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(launch_wmma_product(dev, dev + 256, dev + 512, dev + 768, dev + 1024, dev + 1280, dev + 1536, variant),
                 cudaSuccess);
    cr_assert_eq(cudaMemcpy(out, dev + 1536, sizeof out, cudaMemcpyDeviceToHost), cudaSuccess);
    cudaFree(dev);
    for (int i = 0; i < 16; i++) /* back to row-major */
        for (int j = 0; j < 16; j++) d[i * 16 + j] = (variant & 4) ? out[j * 16 + i] : out[i * 16 + j];
}

/* Inputs of at most 8 significant bits and small exponents: every product and partial sum
 * is exact in fp32, so any order of accumulation gives the double-precision product, and
 * the emulation must too, in all 8 combinations of layouts. */
Test(gpusim_wmma, mma_is_the_plain_product_in_every_layout) {
    float a[128], b[128], c[256], d[256];
    cf_rng s;
    cf_rng_seed(&s, 11);
    for (int j = 0; j < 128; j++) a[j] = (float)((int)(cf_rng_below(&s, 255)) - 127) / 64.0f;
    for (int j = 0; j < 128; j++) b[j] = (float)((int)(cf_rng_below(&s, 255)) - 127) / 32.0f;
    for (int j = 0; j < 256; j++) c[j] = (float)((int)(cf_rng_below(&s, 255)) - 127);
    for (int variant = 0; variant < 8; variant++) {
        wmma_product(a, b, c, d, variant);
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) {
                double ref = c[i * 16 + j];
                for (int k = 0; k < 8; k++) ref += (double)a[i * 8 + k] * (double)b[k * 16 + j];
                cr_expect_eq((double)d[i * 16 + j], ref, "variant %d: D[%d][%d] = %.9g, expected %.9g", variant, i, j,
                             d[i * 16 + j], ref);
            }
    }
}

/* The 13 low mantissa bits of an input are ignored (inputs are tf32): A and B with random
 * low bits give bit-identical D to the same inputs with those bits cleared. And the sum
 * is fp32: C = 2^24 plus eight products of 1 stays 2^24 (each +1 is a tie to even),
 * where a wider accumulator would give 2^24 + 8. */
Test(gpusim_wmma, mma_reads_tf32_inputs_and_accumulates_in_fp32) {
    float a[128], b[128], at[128], bt[128], c[256], d1[256], d2[256];
    cf_rng s;
    cf_rng_seed(&s, 5);
    for (int j = 0; j < 128; j++) {
        a[j] = (float)(cf_rng_uniform(&s) * 2.0 - 1.0), b[j] = (float)(cf_rng_uniform(&s) * 2.0 - 1.0);
        at[j] = bits_f(f_bits(a[j]) & 0xffffe000u), bt[j] = bits_f(f_bits(b[j]) & 0xffffe000u);
    }
    int low_bits = 0;
    for (int j = 0; j < 128; j++) low_bits += at[j] != a[j];
    cr_assert(low_bits > 100, "the inputs should have low bits set");
    for (int j = 0; j < 256; j++) c[j] = (float)cf_rng_uniform(&s);
    wmma_product(a, b, c, d1, 0);
    wmma_product(at, bt, c, d2, 0);
    cr_expect(memcmp(d1, d2, sizeof d1) == 0, "the low 13 bits of the inputs changed the product");
    for (int j = 0; j < 128; j++) a[j] = 1.0f, b[j] = 1.0f;
    for (int j = 0; j < 256; j++) c[j] = 16777216.0f;
    wmma_product(a, b, c, d1, 0);
    for (int j = 0; j < 256; j++) cr_expect_eq(d1[j], 16777216.0f, "D[%d] = %.1f: not an fp32 accumulation", j, d1[j]);
}

/* Row 0: C = 1 plus one product of 0.75 ulp(1) (exact: 3·2⁻¹³ · 2⁻¹²); row 1: C = −1 and
 * the product's negative. To nearest that is ±(1 + 2⁻²³), toward zero
 * (cf_sim_set_mma_truncation) ±1; the other rows have C = 0.5 and no products:
 * unchanged in both modes. */
Test(gpusim_wmma, mma_truncation_model_rounds_toward_zero) {
    float a[128] = {0}, b[128] = {0}, c[256], d[256];
    a[0] = 3.0f / 8192.0f, a[8] = -3.0f / 8192.0f; /* rows 0 and 1, k = 0 */
    for (int j = 0; j < 16; j++) b[j] = 1.0f / 4096.0f;
    for (int x = 0; x < 256; x++) c[x] = x < 16 ? 1.0f : x < 32 ? -1.0f : 0.5f;
    const float up = 1.0f + ldexpf(1.0f, -23);
    for (int trunc = 0; trunc < 2; trunc++) {
        cf_sim_set_mma_truncation(trunc);
        wmma_product(a, b, c, d, 0);
        for (int j = 0; j < 16; j++) {
            cr_expect_eq(d[j], trunc ? 1.0f : up, "truncation %d: D[0][%d] = %.9g", trunc, j, d[j]);
            cr_expect_eq(d[16 + j], trunc ? -1.0f : -up,
                         "truncation %d: D[1][%d] = %.9g", trunc, j, d[16 + j]);
        }
        for (int x = 32; x < 256; x++) cr_expect_eq(d[x], 0.5f, "truncation %d: D[%d] = %.9g", trunc, x / 16, d[x]);
    }
    cf_sim_set_mma_truncation(0);
}

Test(gpusim_wmma, elementwise_operations_reach_every_element) {
    float a[128], d[256];
    for (int j = 0; j < 128; j++) a[j] = (float)j;
    float *dev = dev_alloc(512 * sizeof(float));
    cr_assert_eq(cudaMemcpy(dev, a, sizeof a, cudaMemcpyHostToDevice), cudaSuccess);
    cr_assert_eq(launch_wmma_elementwise(dev, dev + 256), cudaSuccess);
    cr_assert_eq(cudaMemcpy(d, dev + 256, sizeof d, cudaMemcpyDeviceToHost), cudaSuccess);
    for (int j = 0; j < 256; j++) cr_expect_eq(d[j], 2.0f, "D[%d] = %g after fill 0.5, x ↦ 2x + 1, B = 0", j, d[j]);
    cudaFree(dev);
}

/* PTX cvt.rna.tf32.f32: nearest, ties away from zero, 10 mantissa bits kept. */
Test(gpusim_wmma, float_to_tf32_rounds_to_nearest_ties_away) {
    const float ulp = 1.0f / 1024.0f; /* of tf32 at 1 */
    cr_expect_eq(sim_float_to_tf32(1.0f), 1.0f);
    cr_expect_eq(sim_float_to_tf32(1.0f + ulp), 1.0f + ulp);
    /* the tie 1 + ulp/2: away from zero (round-to-even would give 1) */
    cr_expect_eq(sim_float_to_tf32(1.0f + ulp / 2), 1.0f + ulp);
    cr_expect_eq(sim_float_to_tf32(-(1.0f + ulp / 2)), -(1.0f + ulp));
    cr_expect_eq(sim_float_to_tf32(1.0f + ulp / 2 - ldexpf(1.0f, -23)), 1.0f, "just below the tie: down");
    cr_expect_eq(sim_float_to_tf32(1.0f + ulp / 2 + ldexpf(1.0f, -23)), 1.0f + ulp, "just above the tie: up");
    cr_expect_eq(sim_float_to_tf32(1.0f + 1.5f * ulp), 1.0f + 2 * ulp, "a tie from an odd last bit: away");
    /* the carry into the exponent, and past the largest tf32 to infinity */
    cr_expect_eq(sim_float_to_tf32(2.0f - ulp / 2), 2.0f);
    cr_expect(isinf(sim_float_to_tf32(3.4028235e38f)) && sim_float_to_tf32(3.4028235e38f) > 0);
    cr_expect_eq(f_bits(sim_float_to_tf32(bits_f(0x7f7fefffu))), 0x7f7fe000u, "just below the last tie: the largest tf32");
    /* subnormals round on the same bits; 0, infinity and NaN stay */
    cr_expect_eq(f_bits(sim_float_to_tf32(bits_f(0x00001000u))), 0x00002000u);
    cr_expect_eq(f_bits(sim_float_to_tf32(bits_f(0x00000fffu))), 0u);
    cr_expect_eq(f_bits(sim_float_to_tf32(-0.0f)), 0x80000000u);
    cr_expect(isinf(sim_float_to_tf32(INFINITY)) && sim_float_to_tf32(-INFINITY) < 0);
    cr_expect(isnan(sim_float_to_tf32(NAN)));
    /* the low 13 bits are zero for every finite result */
    cf_rng s;
    cf_rng_seed(&s, 3);
    for (int j = 0; j < 10000; j++) {
        float f = (float)((cf_rng_uniform(&s) - 0.5) * 1e6);
        float t = sim_float_to_tf32(f);
        cr_assert_eq(f_bits(t) & 0x1fffu, 0u, "tf32(%.9g) = %.9g has low bits", f, t);
        cr_assert(fabsf(t - f) <= ldexpf(fabsf(f), -11), "tf32(%.9g) = %.9g: more than half an ulp away", f, t);
    }
}

static void wmma_fault(int which) {
    float *d = dev_alloc(1024 * sizeof(float));
    cr_assert_eq(cudaMemset(d, 0, 1024 * sizeof(float)), cudaSuccess);
    cr_assert_eq(launch_wmma_fault(d, d + 512, which), cudaSuccess);
    cudaDeviceSynchronize();
    cr_assert_fail("the simulation ran wmma fault kernel %d to the end", which);
}
Test(gpusim_wmma, divergent_load_matrix_sync_aborts, .signal = SIGABRT) { wmma_fault(0); }
Test(gpusim_wmma, pointer_that_differs_across_the_warp_aborts, .signal = SIGABRT) { wmma_fault(1); }
Test(gpusim_wmma, lane_dependent_fragment_contents_abort, .signal = SIGABRT) { wmma_fault(2); }
Test(gpusim_wmma, misaligned_pointer_aborts, .signal = SIGABRT) { wmma_fault(3); }
Test(gpusim_wmma, partial_warp_aborts, .signal = SIGABRT) { wmma_fault(4); }
/* the control: the same kernel with warp-uniform arguments runs to the end */
Test(gpusim_wmma, the_fault_kernel_without_a_fault_runs) {
    float *d = dev_alloc(1024 * sizeof(float));
    cr_assert_eq(cudaMemset(d, 0, 1024 * sizeof(float)), cudaSuccess);
    cr_assert_eq(launch_wmma_fault(d, d + 512, 5), cudaSuccess);
    cr_expect_eq(cudaDeviceSynchronize(), cudaSuccess);
    cudaFree(d);
}

/* ---- planted bugs in copies of kernels/gram.cu ---- */
static int run_gram_check(const char *exe, char **err) {
    char *dir = cf_test_tmpdir(), *out = NULL;
    const char *argv[] = {exe, NULL};
    int st = cf_test_spawn(dir, argv, &out, err);
    cr_log_info("%s: status %d\n%s%s", exe, st, out ? out : "", *err ? *err : "");
    free(out);
    cf_test_rmtree(dir);
    free(dir);
    return st;
}

Test(gpusim_planted, real_gram_kernel_passes) {
    char *err = NULL;
    cr_expect_eq(run_gram_check(CF_GRAM_CHECK_DIR "/gram_check", &err), 0, "%s", err);
    free(err);
}
Test(gpusim_planted, off_by_one_shared_index_is_caught) {
    char *err = NULL;
    int st = run_gram_check(CF_GRAM_CHECK_DIR "/gram_check_off_by_one", &err);
    cr_expect_neq(st, 0, "the off-by-one went unnoticed");
#ifdef __SANITIZE_ADDRESS__
    cr_expect(err && strstr(err, "AddressSanitizer"), "no ASan report: %s", err);
#endif
    free(err);
}
Test(gpusim_planted, missing_syncthreads_is_caught) {
    char *err = NULL;
    cr_expect_eq(run_gram_check(CF_GRAM_CHECK_DIR "/gram_check_no_sync", &err), 1,
                 "the missing barrier went unnoticed (or crashed): %s", err);
    free(err);
}
Test(gpusim_planted, divergent_syncthreads_is_caught) {
    char *err = NULL;
    int st = run_gram_check(CF_GRAM_CHECK_DIR "/gram_check_divergent_sync", &err);
    cr_expect_eq(st, 128 + SIGABRT);
    cr_expect(err && strstr(err, "cufactor-sim: kernel gram_kernel") && strstr(err, "__syncthreads"),
              "the report names neither the kernel nor the barrier: %s", err);
    free(err);
}
