/*
 * rows.cu — element-wise kernels over the factor arrays that SGD and GD share (src/gpu/
 * sgd.c, gd.c): rows without ratings set to zero, fp32 ↔ fp16 copies of a side's factors,
 * and the NaN guard that ends a diverging run naming its first bad row. Each reads and
 * writes its arrays once, coalesced, with no arithmetic to speak of: DRAM-bound, a few
 * tens of µs on the Netflix shape against an epoch's tens of ms.
 */
#include "kernels.h"
#include "warp.cuh"

#include <cuda_fp16.h>
#include "launch.cuh"
#include <stdint.h>

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

/* The NaN guard (after every SGD / GD epoch): the least row of this block's rows with a
 * non-finite factor, and apart the least with a non-finite bias. A warp reads a row at a
 * time, lane l columns l, l + 32, ... (coalesced: a row's K floats in ⌈K/32⌉ loads of
 * the warp), rows grid-stride by warp in ascending order, so a warp stops at its first
 * bad row; the biases one a thread, grid-stride. Columns K..ld−1 (padding) are not read.
 * Bytes: n_rows·(4K + 4) read once, no FLOPs: DRAM-bound, the Netflix shape's P (480,189
 * × 128 floats, 246 MB) ≈ 60 µs at the H200's 4.2 TB/s against an epoch of ≈ 30 ms. (The
 * kernel before read a row a thread: each warp load touched 32 rows' lines, which L1
 * could not keep across the K loads.) */
__global__ void __launch_bounds__(EW_THREADS)
    first_nonfinite_kernel(const float *__restrict__ F, const float *__restrict__ b, int64_t n_rows,
                           int k, int ld, int use_bias, int64_t *__restrict__ partial) {
    __shared__ int64_t bad_f[EW_THREADS], bad_b[EW_THREADS];
    int64_t mf = INT64_MAX, mb = INT64_MAX;
    const int lane = threadIdx.x & 31;
    const int64_t warps = (int64_t)gridDim.x * (blockDim.x / 32);
    for (int64_t r = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32; r < n_rows; r += warps) {
        bool bad = false; /* warp-uniform loop: every lane reaches the vote */
        for (int c = lane; c < k; c += 32) bad |= !isfinite(__ldg(F + r * ld + c));
        if (__any_sync(CF_FULL_MASK, bad)) {
            mf = r;
            break;
        }
    }
    if (use_bias)
        for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < n_rows;
             r += (int64_t)gridDim.x * blockDim.x)
            if (!isfinite(__ldg(b + r))) {
                mb = r;
                break;
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
