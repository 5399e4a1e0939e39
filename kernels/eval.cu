/*
 * eval.cu — training/test error and the regularization term of the objective
 * (DESIGN.md §1) on the device:
 *
 *     sse = Σ (r − r̂)²,  sae = Σ |r − r̂|,  n,      r̂ = μ + b_u + b_i + p_u·q_i
 *     reg = Σ_rows Λ_row (‖x_row‖² + b_row²),       Λ_row = cf_reg_lambda(mode, λ, n_row, nnz)
 *
 * Prediction errors: one warp per rating (or per CSR row, walking its entries), lanes
 * split the K terms of the dot product and combine them with a butterfly of shuffles;
 * e is formed in fp32, squared and summed in double. Every reduction runs on a fixed grid
 * of CF_REDUCE_BLOCKS blocks with a fixed in-block order and writes one partial per
 * block; the host adds the partials in block order, so results do not vary run to run.
 */
#include "kernels.h"
#include "warp.cuh"

#include "launch.cuh"

#define EVAL_THREADS 256
#define EVAL_WARPS (EVAL_THREADS / 32)

/* Sums this block's per-warp (sse, sae, n) in warp order and writes them to out[0..2]. */
__device__ static void block_store3(double sse, double sae, double n, double *out) {
    __shared__ double part[EVAL_WARPS][3];
    const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    if (lane == 0) {
        part[warp][0] = sse;
        part[warp][1] = sae;
        part[warp][2] = n;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double a = 0, b = 0, c = 0;
        for (int w = 0; w < EVAL_WARPS; w++) a += part[w][0], b += part[w][1], c += part[w][2];
        out[0] = a, out[1] = b, out[2] = c;
    }
}

__global__ void __launch_bounds__(EVAL_THREADS)
    eval_csr_kernel(const int64_t *__restrict__ ptr, const uint32_t *__restrict__ idx,
                    const float *__restrict__ val, int64_t n_rows, const float *__restrict__ Fr,
                    const float *__restrict__ br, const float *__restrict__ Fc,
                    const float *__restrict__ bc, int k, int ld, float mu, int use_bias,
                    double *__restrict__ partial) {
    const int64_t warp = (int64_t)blockIdx.x * EVAL_WARPS + threadIdx.x / 32;
    const int64_t n_warps = (int64_t)gridDim.x * EVAL_WARPS;
    double sse = 0, sae = 0, cnt = 0; /* meaningful on lane 0 */
    for (int64_t r = warp; r < n_rows; r += n_warps) {
        const float *p = Fr + r * ld;
        for (int64_t e = ptr[r]; e < ptr[r + 1]; e++) {
            const uint32_t c = idx[e];
            /* rows are users (rows < 2^31: open checks) */
            const double err = (double)cf_warp_residual(val[e], p, Fc + (int64_t)c * ld, k, mu, br, bc,
                                                        (uint32_t)r, c, use_bias);
            sse += err * err;
            sae += fabs(err);
            cnt += 1.0;
        }
    }
    block_store3(sse, sae, cnt, partial + 3 * (size_t)blockIdx.x);
}

extern "C" int launch_eval_csr(const int64_t *d_ptr, const uint32_t *d_idx, const float *d_val,
                               int64_t n_rows, const float *d_F_r, const float *d_b_r,
                               const float *d_F_c, const float *d_b_c, int k, int ld, float mu,
                               int use_bias, double *d_partial, cf_stream_t stream) {
    CF_LAUNCH_KERNEL(eval_csr_kernel, CF_REDUCE_BLOCKS, EVAL_THREADS, 0, stream,
        d_ptr, d_idx, d_val, n_rows, d_F_r, d_b_r, d_F_c, d_b_c, k, ld, mu, use_bias, d_partial);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(EVAL_THREADS)
    eval_triplets_kernel(const uint32_t *__restrict__ u, const uint32_t *__restrict__ i,
                         const float *__restrict__ r, int64_t n, const float *__restrict__ Fu,
                         const float *__restrict__ bu, const float *__restrict__ Fi,
                         const float *__restrict__ bi, int k, int ld, float mu, int use_bias,
                         double *__restrict__ partial) {
    const int64_t warp = (int64_t)blockIdx.x * EVAL_WARPS + threadIdx.x / 32;
    const int64_t n_warps = (int64_t)gridDim.x * EVAL_WARPS;
    double sse = 0, sae = 0, cnt = 0;
    for (int64_t j = warp; j < n; j += n_warps) {
        const uint32_t a = u[j], b = i[j];
        const double err = (double)cf_warp_residual(r[j], Fu + (int64_t)a * ld, Fi + (int64_t)b * ld, k,
                                                    mu, bu, bi, a, b, use_bias);
        sse += err * err;
        sae += fabs(err);
        cnt += 1.0;
    }
    block_store3(sse, sae, cnt, partial + 3 * (size_t)blockIdx.x);
}

extern "C" int launch_eval_triplets(const uint32_t *d_u, const uint32_t *d_i, const float *d_r,
                                    int64_t n, const float *d_F_u, const float *d_b_u,
                                    const float *d_F_i, const float *d_b_i, int k, int ld,
                                    float mu, int use_bias, double *d_partial,
                                    cf_stream_t stream) {
    CF_LAUNCH_KERNEL(eval_triplets_kernel, CF_REDUCE_BLOCKS, EVAL_THREADS, 0, stream,
        d_u, d_i, d_r, n, d_F_u, d_b_u, d_F_i, d_b_i, k, ld, mu, use_bias, d_partial);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(EVAL_THREADS)
    reg_kernel(const int64_t *__restrict__ ptr, int64_t n_rows, const float *__restrict__ F,
               const float *__restrict__ b, int k, int ld, int use_bias, double lambda,
               int reg_mode, int64_t nnz, double *__restrict__ partial) {
    __shared__ double part[EVAL_THREADS];
    double s = 0;
    for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < n_rows;
         r += (int64_t)gridDim.x * blockDim.x) {
        const double lam = cf_dev_reg_lambda(reg_mode, lambda, ptr[r + 1] - ptr[r], nnz);
        double sq = 0;
        const float *x = F + r * ld;
        for (int c = 0; c < k; c++) sq += (double)x[c] * (double)x[c];
        if (use_bias) sq += (double)b[r] * (double)b[r];
        s += lam * sq;
    }
    part[threadIdx.x] = s;
    __syncthreads();
    for (int h = EVAL_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = part[0];
}

extern "C" int launch_reg(const int64_t *d_ptr, int64_t n_rows, const float *d_F, const float *d_b,
                          int k, int ld, int use_bias, double lambda, int reg_mode, int64_t nnz,
                          double *d_partial, cf_stream_t stream) {
    CF_LAUNCH_KERNEL(reg_kernel, CF_REDUCE_BLOCKS, EVAL_THREADS, 0, stream,
        d_ptr, n_rows, d_F, d_b, k, ld, use_bias, lambda, reg_mode, nnz, d_partial);
    return (int)cudaGetLastError();
}
