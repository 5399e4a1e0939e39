/*
 * sgd.cu — stochastic gradient descent on the device, one warp per rating
 * (DESIGN.md §2; the CPU reference and the derivation are in src/cpu/sgd.c):
 *
 *     e   = r − (μ + b_u + b_i + p_u·q_i)                  (r − p_u·q_i without biases)
 *     b_u += η (e − λ'_u b_u)          b_i += η (e − λ'_i b_i)
 *     p_u += η (e q_i − λ'_u p_u)      q_i += η (e p_u_old − λ'_i q_i)
 *
 * λ' = Λ_row / n_row is the per-rating share of the row's regularization.
 *
 * A warp applies one rating at a time. Lane l holds elements l, l+32, l+64, ... of p_u
 * and q_i: V = ⌈K/32⌉ registers each (the kernel is instantiated for V = 1, 2, 4, 8 and
 * guards c < K, so any K ≤ 256 runs from registers; larger K loops over memory). The dot
 * product is a butterfly of shuffles, so every lane holds e. Lane 0 alone reads and
 * writes the biases and broadcasts them by shuffle; lane l alone reads and writes its
 * elements, so a warp's consecutive updates of the same row are ordered by program
 * order and need no fence.
 *
 * Streaming: the ratings are laid out in schedule order (src/sgd_work.h). A warp loads 32
 * consecutive (u, i, r) with one coalesced load per array (one rating per lane), then
 * applies them one after the other, taking each from its lane by shuffle.
 *
 * Schedules:
 *   hogwild — a persistent grid (as many blocks as stay resident on every SM) whose
 *     warps take runs of consecutive ratings round-robin. Warps update shared rows
 *     without locks or atomics: lost or mixed updates of a popular row are the accepted
 *     race of Hogwild! (Niu et al. 2011; cuMF_SGD), which is why this schedule is not
 *     reproducible. compute-sanitizer racecheck reports nothing for it (it checks shared
 *     memory), and memcheck must stay clean.
 *   blocks — one launch per wave, one warp per block of the wave; blocks of a wave touch
 *     disjoint rows of P and Q, each block's ratings in its fixed order: the sequence of
 *     updates of every row is the CPU reference's, so the result equals it up to
 *     rounding (fp32 here, double there) and is bit-identical run to run.
 *
 * Storage: T = float (the side's F, row stride ld) or __half (row stride K); arithmetic
 * is fp32 either way, fp16 rounding happens at each store (__float2half_rn).
 */
#include "kernels.h"
#include "warp.cuh"

#include <cuda_fp16.h>
#include "launch.cuh"
#include <stdint.h>

#define SGD_THREADS 128
#define SGD_WARPS (SGD_THREADS / 32)

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }

/* e from the warp's dot product; lane 0 updates the biases. Every lane returns e. */
__device__ __forceinline__ float sgd_error_and_biases(const cf_sgd_args &a, uint32_t u, uint32_t i,
                                                      float r, float dot, float lu, float li) {
    const int lane = threadIdx.x & 31;
    dot = cf_warp_sum(dot);
    float b_u = 0.0f, b_i = 0.0f;
    if (a.use_bias) {
        if (lane == 0) b_u = a.bu[u], b_i = a.bi[i];
        b_u = __shfl_sync(CF_FULL_MASK, b_u, 0);
        b_i = __shfl_sync(CF_FULL_MASK, b_i, 0);
    }
    /* r̂ summed as the CPU does: ((μ + b_u) + b_i) + p·q */
    const float e = r - cf_dev_predict(a.mu, b_u, b_i, dot, a.use_bias);
    if (a.use_bias && lane == 0) {
        a.bu[u] = b_u + a.lr * (e - lu * b_u);
        a.bi[i] = b_i + a.lr * (e - li * b_i);
    }
    return e;
}

/* One update (the rule at the top of the file) by the whole warp. */
template <int V, typename T>
__device__ __forceinline__ void sgd_update(const cf_sgd_args &a, uint32_t u, uint32_t i, float r) {
    const int lane = threadIdx.x & 31;
    const int K = a.k;
    T *__restrict__ p = (T *)a.P + (size_t)u * (size_t)a.ld;
    T *__restrict__ q = (T *)a.Q + (size_t)i * (size_t)a.ld;
    const float lu = a.lam_u[u], li = a.lam_i[i], eta = a.lr;
    float dot = 0.0f;
    if constexpr (V > 0) {
        /* p_u and q_i stay in registers between the dot product and the update */
        float pr[V], qr[V];
#pragma unroll
        for (int j = 0; j < V; j++) {
            const int c = lane + 32 * j;
            pr[j] = c < K ? to_f(p[c]) : 0.0f;
            qr[j] = c < K ? to_f(q[c]) : 0.0f;
            dot = fmaf(pr[j], qr[j], dot);
        }
        const float e = sgd_error_and_biases(a, u, i, r, dot, lu, li);
#pragma unroll
        for (int j = 0; j < V; j++) {
            const int c = lane + 32 * j;
            if (c < K) {
                const float pk = pr[j], qk = qr[j];
                p[c] = from_f<T>(pk + eta * (e * qk - lu * pk));
                q[c] = from_f<T>(qk + eta * (e * pk - li * qk));
            }
        }
    } else {
        for (int c = lane; c < K; c += 32) dot = fmaf(to_f(p[c]), to_f(q[c]), dot);
        const float e = sgd_error_and_biases(a, u, i, r, dot, lu, li);
        for (int c = lane; c < K; c += 32) {
            const float pk = to_f(p[c]), qk = to_f(q[c]);
            p[c] = from_f<T>(pk + eta * (e * qk - lu * pk));
            q[c] = from_f<T>(qk + eta * (e * pk - li * qk));
        }
    }
}

/* The ratings [begin, end) of the schedule arrays, in order, by one warp. */
template <int V, typename T>
__device__ __forceinline__ void sgd_range(const cf_sgd_args &a, int64_t begin, int64_t end) {
    const int lane = threadIdx.x & 31;
    for (int64_t base = begin; base < end; base += 32) {
        const int64_t t = base + lane;
        uint32_t my_u = 0, my_i = 0;
        float my_r = 0.0f;
        if (t < end) my_u = a.su[t], my_i = a.si[t], my_r = a.sr[t]; /* coalesced */
        const int cnt = end - base < 32 ? (int)(end - base) : 32;    /* warp-uniform */
        for (int j = 0; j < cnt; j++) {
            const uint32_t u = __shfl_sync(CF_FULL_MASK, my_u, j);
            const uint32_t i = __shfl_sync(CF_FULL_MASK, my_i, j);
            const float r = __shfl_sync(CF_FULL_MASK, my_r, j);
            sgd_update<V, T>(a, u, i, r);
        }
    }
}

template <int V, typename T>
__global__ void __launch_bounds__(SGD_THREADS)
    sgd_hogwild_kernel(const cf_sgd_args a, int64_t n, int64_t run) {
    const int64_t warp = (int64_t)blockIdx.x * SGD_WARPS + threadIdx.x / 32;
    const int64_t stride = (int64_t)gridDim.x * SGD_WARPS * run;
    for (int64_t s = warp * run; s < n; s += stride) sgd_range<V, T>(a, s, s + run < n ? s + run : n);
}

template <int V, typename T>
__global__ void __launch_bounds__(SGD_THREADS)
    sgd_wave_kernel(const cf_sgd_args a, const int64_t *__restrict__ block_ptr, int B, int shift) {
    const int w = blockIdx.x * SGD_WARPS + threadIdx.x / 32; /* the user band a */
    if (w >= B) return;                                      /* whole warps leave */
    const int64_t blk = (int64_t)w * B + (w + shift) % B;
    sgd_range<V, T>(a, block_ptr[blk], block_ptr[blk + 1]);
}

/* Registers per lane for this K: the smallest instantiated V ≥ ⌈K/32⌉, 0 = from memory. */
static int v_of(int k) {
    const int v = (k + 31) / 32;
    return v <= 1 ? 1 : v <= 2 ? 2 : v <= 4 ? 4 : v <= 8 ? 8 : 0;
}

typedef void (*hogwild_fn)(const cf_sgd_args, int64_t, int64_t);
typedef void (*wave_fn)(const cf_sgd_args, const int64_t *, int, int);

/* The instantiation for this K and storage. */
template <typename T> static hogwild_fn hogwild_of(int v) {
    switch (v) {
    case 1: return sgd_hogwild_kernel<1, T>;
    case 2: return sgd_hogwild_kernel<2, T>;
    case 4: return sgd_hogwild_kernel<4, T>;
    case 8: return sgd_hogwild_kernel<8, T>;
    default: return sgd_hogwild_kernel<0, T>;
    }
}
template <typename T> static wave_fn wave_of(int v) {
    switch (v) {
    case 1: return sgd_wave_kernel<1, T>;
    case 2: return sgd_wave_kernel<2, T>;
    case 4: return sgd_wave_kernel<4, T>;
    case 8: return sgd_wave_kernel<8, T>;
    default: return sgd_wave_kernel<0, T>;
    }
}
static hogwild_fn hogwild_kernel_for(int k, int fp16) {
    return fp16 ? hogwild_of<__half>(v_of(k)) : hogwild_of<float>(v_of(k));
}
static wave_fn wave_kernel_for(int k, int fp16) {
    return fp16 ? wave_of<__half>(v_of(k)) : wave_of<float>(v_of(k));
}

/* Resident blocks per SM of the hogwild kernel for this K and storage (≥ 1). */
static int hogwild_blocks_per_sm(int k, int fp16) {
    int n = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, hogwild_kernel_for(k, fp16), SGD_THREADS,
                                                      0) != cudaSuccess) {
        (void)cudaGetLastError();
        return 1;
    }
    return n > 0 ? n : 1;
}

extern "C" int cf_sgd_warps_per_sm(int k, int fp16) { return hogwild_blocks_per_sm(k, fp16) * SGD_WARPS; }

extern "C" int launch_sgd_hogwild(const cf_sgd_args *a, int64_t n, int64_t run, cf_stream_t stream) {
    if (n <= 0) return (int)cudaSuccess;
    if (run < 1) return (int)cudaErrorInvalidValue;
    int dev = 0, sms = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    if (e != cudaSuccess) return (int)e;
    int64_t grid = (int64_t)sms * hogwild_blocks_per_sm(a->k, a->fp16);
    /* no more warps than runs: every warp has work */
    const int64_t runs = (n + run - 1) / run, need = (runs + SGD_WARPS - 1) / SGD_WARPS;
    if (grid > need) grid = need;
    if (grid < 1) grid = 1;
    CF_LAUNCH_KERNEL(hogwild_kernel_for(a->k, a->fp16), (unsigned)grid, SGD_THREADS, 0, stream,
        *a, n, run);
    return (int)cudaGetLastError();
}

extern "C" int launch_sgd_wave(const cf_sgd_args *a, const int64_t *d_block_ptr, int B, int shift,
                               cf_stream_t stream) {
    if (B < 1 || shift < 0 || shift >= B) return (int)cudaErrorInvalidValue;
    const unsigned grid = (unsigned)((B + SGD_WARPS - 1) / SGD_WARPS);
    CF_LAUNCH_KERNEL(wave_kernel_for(a->k, a->fp16), grid, SGD_THREADS, 0, stream,
        *a, d_block_ptr, B, shift);
    return (int)cudaGetLastError();
}

/* ------------------------------------------------------------------ helpers */

#define EW_THREADS 256

static unsigned ew_blocks(int64_t n) {
    int64_t b = (n + EW_THREADS - 1) / EW_THREADS;
    if (b > 65535LL * 8) b = 65535LL * 8; /* grid-stride beyond this */
    return (unsigned)(b < 1 ? 1 : b);
}

__global__ void zero_empty_kernel(const int64_t *__restrict__ ptr, int64_t n_rows, float *__restrict__ F,
                                  int ld, float *__restrict__ b, __half *__restrict__ H, int k) {
    const int64_t total = n_rows * (int64_t)(k + 1);
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < total;
         x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = x / (k + 1);
        const int c = (int)(x - r * (k + 1));
        if (ptr[r + 1] != ptr[r]) continue;
        if (c == k) {
            b[r] = 0.0f;
        } else {
            F[r * ld + c] = 0.0f;
            if (H) H[r * k + c] = __float2half_rn(0.0f);
        }
    }
}

extern "C" int launch_zero_empty_rows(const int64_t *d_ptr, int64_t n_rows, float *d_F, int ld,
                                      float *d_b, void *d_H, int k, cf_stream_t stream) {
    if (n_rows <= 0) return (int)cudaSuccess;
    CF_LAUNCH_KERNEL(zero_empty_kernel, ew_blocks(n_rows * (int64_t)(k + 1)), EW_THREADS, 0, stream,
        d_ptr, n_rows, d_F, ld, d_b, (__half *)d_H, k);
    return (int)cudaGetLastError();
}

__global__ void to_half_kernel(const float *__restrict__ F, int ld, int64_t n_rows, int k,
                               __half *__restrict__ H) {
    const int64_t total = n_rows * (int64_t)k;
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < total;
         x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = x / k;
        H[x] = __float2half_rn(F[r * ld + (x - r * k)]);
    }
}

__global__ void from_half_kernel(const __half *__restrict__ H, int64_t n_rows, int k,
                                 float *__restrict__ F, int ld) {
    const int64_t total = n_rows * (int64_t)k;
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < total;
         x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = x / k;
        F[r * ld + (x - r * k)] = __half2float(H[x]);
    }
}

extern "C" int launch_factors_to_half(const float *d_F, int ld, int64_t n_rows, int k, void *d_H,
                                      cf_stream_t stream) {
    if (n_rows <= 0) return (int)cudaSuccess;
    CF_LAUNCH_KERNEL(to_half_kernel, ew_blocks(n_rows * (int64_t)k), EW_THREADS, 0, stream,
        d_F, ld, n_rows, k, (__half *)d_H);
    return (int)cudaGetLastError();
}

extern "C" int launch_half_to_factors(const void *d_H, int64_t n_rows, int k, float *d_F, int ld,
                                      cf_stream_t stream) {
    if (n_rows <= 0) return (int)cudaSuccess;
    CF_LAUNCH_KERNEL(from_half_kernel, ew_blocks(n_rows * (int64_t)k), EW_THREADS, 0, stream,
        (const __half *)d_H, n_rows, k, d_F, ld);
    return (int)cudaGetLastError();
}

/* Least bad row of this block's rows (grid-stride by block), factors and biases apart. */
__global__ void __launch_bounds__(EW_THREADS)
    first_nonfinite_kernel(const float *__restrict__ F, const float *__restrict__ b, int64_t n_rows,
                           int k, int ld, int use_bias, int64_t *__restrict__ partial) {
    __shared__ int64_t bad_f[EW_THREADS], bad_b[EW_THREADS];
    int64_t mf = INT64_MAX, mb = INT64_MAX;
    for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < n_rows;
         r += (int64_t)gridDim.x * blockDim.x) {
        if (mf == INT64_MAX) {
            const float *x = F + r * ld;
            for (int c = 0; c < k; c++)
                if (!isfinite(x[c])) {
                    mf = r;
                    break;
                }
        }
        if (use_bias && mb == INT64_MAX && !isfinite(b[r])) mb = r;
    }
    bad_f[threadIdx.x] = mf, bad_b[threadIdx.x] = mb;
    __syncthreads();
    for (int h = EW_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) {
            if (bad_f[threadIdx.x + h] < bad_f[threadIdx.x]) bad_f[threadIdx.x] = bad_f[threadIdx.x + h];
            if (bad_b[threadIdx.x + h] < bad_b[threadIdx.x]) bad_b[threadIdx.x] = bad_b[threadIdx.x + h];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        partial[blockIdx.x] = bad_f[0];
        partial[CF_REDUCE_BLOCKS + blockIdx.x] = bad_b[0];
    }
}

extern "C" int launch_first_nonfinite(const float *d_F, const float *d_b, int64_t n_rows, int k,
                                      int ld, int use_bias, int64_t *d_partial, cf_stream_t stream) {
    CF_LAUNCH_KERNEL(first_nonfinite_kernel, CF_REDUCE_BLOCKS, EW_THREADS, 0, stream,
        d_F, d_b, n_rows, k, ld, use_bias, d_partial);
    return (int)cudaGetLastError();
}
