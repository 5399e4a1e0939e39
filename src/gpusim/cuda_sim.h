/*
 * cuda_sim.h — the CUDA subset that cufactor's kernels use, emulated on the CPU for the
 * simulation build (CUFACTOR_GPU_SIM=ON). The kernels (kernels/NAME.cu) are compiled as
 * C++17 by the host compiler against this header (through the stand-in <cuda_runtime.h> and <cuda_fp16.h>
 * of src/gpusim/include) and run by src/gpusim/runtime.cpp:
 *
 *   - a launch (CF_LAUNCH_KERNEL, kernels/launch.cuh) checks the configuration against the
 *     simulated device's limits (threads, grid, shared memory) exactly where hardware
 *     fails the launch, copies the arguments, and queues the grid on its stream;
 *   - when the queue runs, the grid's blocks run one after the other in a seeded shuffled
 *     order (CUFACTOR_SIM_SEED), each block's threads as cooperative fibers: a thread runs
 *     until it reaches a barrier (__syncthreads) or a warp collective (__shfl*_sync,
 *     __syncwarp, __ballot_sync, ...), which are the only scheduling points;
 *   - a barrier or collective that cannot complete — reached by part of its block, a mask
 *     naming a lane that exited, lanes of one mask at different call sites — stops the
 *     process with the kernel, block, thread and call sites named;
 *   - each block's shared memory, static and dynamic, is filled with 0xFF bytes (a NaN
 *     as float or double, -1 as an integer) before the block starts; device memory from
 *     cudaMalloc likewise; dynamic shared memory is its own heap block, so AddressSanitizer
 *     catches an index past its end.
 *
 * The TF32 subset of nvcuda::wmma is in include/mma.h (its own header: the model there).
 *
 * What this proves and what it does not is in docs/RELIABILITY.md ("GPU tests without a GPU").
 * Only what the kernels use is here; add to it with the documented CUDA semantics.
 */
#ifndef CF_GPUSIM_CUDA_SIM_H
#define CF_GPUSIM_CUDA_SIM_H

#ifndef __cplusplus
#error "cuda_sim.h is the device side of the simulation: include it from C++ (kernels/*.cu)"
#endif

#include "cuda_runtime_api.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cmath>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

/* ------------------------------------------------------------------ qualifiers */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
/* Static shared memory: one instance per process, in its own section so that the runtime
 * can fill it with the poison pattern before every block and, with co-resident blocks
 * (cf_sim_set_resident), swap each block's copy in when its threads run. Not in a template
 * kernel: GCC ignores the section of a template's static locals (launch.cuh). */
#define __shared__ static __attribute__((section("cf_sim_shared")))
#define __constant__ static

/* ------------------------------------------------------------------ vector types */
struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
struct alignas(8) uint2 {
    unsigned x, y;
};
struct alignas(16) uint4 {
    unsigned x, y, z, w;
};
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

/* ------------------------------------------------------------------ the running thread */
namespace cf_sim {

struct thread_state; /* runtime.cpp */

/* What a kernel sees of the thread that is running (set by the scheduler at each switch). */
struct thread_view {
    uint3 tid, bid;
    dim3 bdim, gdim;
    unsigned lane, warp;
    void *dyn_smem;
};
extern thread_view *cur; /* set by the scheduler before it resumes a thread */

/* Scheduling points (runtime.cpp). */
void syncthreads(const char *file, int line);

enum warp_op { WARP_SHFL_IDX, WARP_SHFL_UP, WARP_SHFL_DOWN, WARP_SHFL_XOR, WARP_SYNC, WARP_BALLOT, WARP_UNIFORM };
/* One warp collective: every lane of `mask` must reach the same call site with the same
 * mask; returns the value this lane receives (ballot: the mask of lanes with v != 0). */
uint64_t warp_collective(warp_op op, unsigned mask, uint64_t v, int arg, int width, const char *file,
                         int line);
/* WARP_UNIFORM (the wmma calls of include/mma.h): all 32 lanes, at one call site, with
 * the same three keys (pointer, other arguments, fragment contents) on every lane. */
void warp_uniform(const char *what, uint64_t ptr, uint64_t args, uint64_t content, const char *file, int line);

template <typename T> static inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type > 8 bytes");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof v);
    return b;
}
template <typename T> static inline T from_bits(uint64_t b) {
    T v;
    memcpy(&v, &b, sizeof v);
    return v;
}
template <typename T>
static inline T shfl(warp_op op, unsigned mask, T v, int arg, int width, const char *f, int l) {
    return from_bits<T>(warp_collective(op, mask, to_bits(v), arg, width, f, l));
}

/* ---- launch ---- */
struct launch_config {
    const char *name;   /* the kernel expression as written at the launch */
    const void *fn;     /* identity of the kernel (cudaFuncSetAttribute) */
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
};
cudaError_t launch_erased(const launch_config &c, std::function<void()> body);

template <typename... P, typename... A>
cudaError_t launch(const char *name, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, A &&...args) {
    /* Arguments are converted and copied now, as a launch does; the grid runs when the
     * stream's queue reaches it. */
    auto tup = std::make_shared<std::tuple<std::decay_t<P>...>>(std::forward<A>(args)...);
    launch_config c{name, (const void *)kernel, grid, block, smem, stream};
    return launch_erased(c, [kernel, tup]() { std::apply(kernel, *tup); });
}

cudaError_t func_set_max_dynamic_smem(const void *fn, int bytes);
cudaError_t occupancy_blocks_per_sm(int *n, const void *fn, int threads, size_t smem);

} // namespace cf_sim

#define threadIdx (::cf_sim::cur->tid)
#define blockIdx (::cf_sim::cur->bid)
#define blockDim (::cf_sim::cur->bdim)
#define gridDim (::cf_sim::cur->gdim)
static constexpr int warpSize = 32;

/* The launch macro shared with the nvcc build (kernels/launch.cuh has the <<< >>> one). */
#define CF_LAUNCH_KERNEL(kernel, grid, block, smem, stream, ...) \
    ::cf_sim::launch(#kernel, kernel, grid, block, smem, stream, __VA_ARGS__)
/* extern __shared__ T name[]: the block's dynamic shared memory. */
#define CF_EXTERN_SHARED(type, name) type *name = (type *)::cf_sim::cur->dyn_smem

/* ------------------------------------------------------------------ synchronization */
#define __syncthreads() ::cf_sim::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) \
    ((void)::cf_sim::warp_collective(::cf_sim::WARP_SYNC, cf_sim_mask_or_full(__VA_ARGS__), 0, 0, 32, __FILE__, __LINE__))
static inline unsigned cf_sim_mask_or_full(unsigned m = 0xffffffffu) { return m; }
static inline void __threadfence() {}
static inline void __threadfence_block() {}

static inline int cf_sim_width(int w = 32) { return w; }
#define __shfl_sync(mask, v, src, ...) \
    ::cf_sim::shfl(::cf_sim::WARP_SHFL_IDX, mask, v, src, cf_sim_width(__VA_ARGS__), __FILE__, __LINE__)
#define __shfl_up_sync(mask, v, d, ...) \
    ::cf_sim::shfl(::cf_sim::WARP_SHFL_UP, mask, v, d, cf_sim_width(__VA_ARGS__), __FILE__, __LINE__)
#define __shfl_down_sync(mask, v, d, ...) \
    ::cf_sim::shfl(::cf_sim::WARP_SHFL_DOWN, mask, v, d, cf_sim_width(__VA_ARGS__), __FILE__, __LINE__)
#define __shfl_xor_sync(mask, v, m, ...) \
    ::cf_sim::shfl(::cf_sim::WARP_SHFL_XOR, mask, v, m, cf_sim_width(__VA_ARGS__), __FILE__, __LINE__)
#define __ballot_sync(mask, pred)                                                                  \
    ((unsigned)::cf_sim::warp_collective(::cf_sim::WARP_BALLOT, mask, (pred) ? 1u : 0u, 0, 32, __FILE__, \
                                         __LINE__))
#define __any_sync(mask, pred) (__ballot_sync(mask, pred) != 0u)
#define __all_sync(mask, pred) (__ballot_sync(mask, pred) == (unsigned)(mask))

/* ------------------------------------------------------------------ atomics
 * Threads of the simulation never run at the same time (a switch happens only at a
 * barrier or collective), so a plain read-modify-write is atomic. */
template <typename T> static inline T atomicAdd(T *a, T v) {
    T old = *a;
    *a = old + v;
    return old;
}
template <typename T> static inline T atomicExch(T *a, T v) {
    T old = *a;
    *a = v;
    return old;
}
template <typename T> static inline T atomicMax(T *a, T v) {
    T old = *a;
    if (v > old) *a = v;
    return old;
}
template <typename T> static inline T atomicMin(T *a, T v) {
    T old = *a;
    if (v < old) *a = v;
    return old;
}
template <typename T> static inline T atomicCAS(T *a, T cmp, T v) {
    T old = *a;
    if (old == cmp) *a = v;
    return old;
}

/* ------------------------------------------------------------------ loads and math */
template <typename T> static inline T __ldg(const T *p) { return *p; }
/* ld.global.cg: cached in L2 only; one memory here */
template <typename T> static inline T __ldcg(const T *p) { return *p; }
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
/* Bit casts (the CUDA intrinsics): the same 32 bits reinterpreted. */
static inline unsigned __float_as_uint(float x) {
    unsigned u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline float __uint_as_float(unsigned u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
using std::isfinite;
using std::isnan;

/* ------------------------------------------------------------------ runtime templates */
template <typename F>
static inline cudaError_t cudaFuncSetAttribute(F *fn, cudaFuncAttribute attr, int value) {
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaErrorInvalidValue;
    return ::cf_sim::func_set_max_dynamic_smem((const void *)fn, value);
}
template <typename F>
static inline cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *n, F *fn, int threads,
                                                                        size_t smem) {
    return ::cf_sim::occupancy_blocks_per_sm(n, (const void *)fn, threads, smem);
}

#endif
