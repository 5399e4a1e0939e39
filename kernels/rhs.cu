/*
 * rhs.cu — the small element-wise kernels around the batched solves.
 *
 * The ALS right-hand sides b_r = Σ t_e z_e are formed with the Gram matrices in one pass
 * (gram.cu); what is left here:
 *   - offsets32_kernel: a side's CSR offsets rebased to 0 in 32 bits for cuSPARSE (GD);
 *   - scatter_kernel: solutions x_r = [p_r; b_r] back into F and the biases, zero for
 *     rows without ratings.
 */
#include "kernels.h"

#include "launch.cuh"

#define EW_THREADS 256

static unsigned ew_blocks(int64_t n) {
    int64_t b = (n + EW_THREADS - 1) / EW_THREADS;
    if (b > 65535LL * 8) b = 65535LL * 8; /* grid-stride beyond this */
    return (unsigned)(b < 1 ? 1 : b);
}

__global__ void offsets32_kernel(const int64_t *__restrict__ ptr, int64_t n_rows,
                                 int32_t *__restrict__ off) {
    const int64_t base = ptr[0];
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j <= n_rows;
         j += (int64_t)gridDim.x * blockDim.x)
        off[j] = (int32_t)(ptr[j] - base);
}

extern "C" int launch_offsets32(const int64_t *d_ptr, int64_t n_rows, int32_t *d_off,
                                cf_stream_t stream) {
    if (n_rows < 0) return (int)cudaErrorInvalidValue;
    CF_LAUNCH_KERNEL(offsets32_kernel, ew_blocks(n_rows + 1), EW_THREADS, 0, stream,
        d_ptr, n_rows, d_off);
    return (int)cudaGetLastError();
}

__global__ void scatter_kernel(const float *__restrict__ rhs, int64_t r0, int64_t n_rows,
                               const int64_t *__restrict__ ptr, int k, int ld, int use_bias,
                               float *__restrict__ F, float *__restrict__ b) {
    const int w = k + (use_bias ? 1 : 0); /* unknowns per row */
    const int64_t total = n_rows * (int64_t)w;
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < total;
         x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t j = x / w;
        const int c = (int)(x - j * w);
        const int64_t r = r0 + j;
        const bool empty = ptr[r + 1] == ptr[r];
        const float v = empty ? 0.0f : rhs[j * ld + c];
        if (c < k)
            F[r * ld + c] = v;
        else
            b[r] = v;
    }
}

extern "C" int launch_scatter(const float *d_rhs, int64_t r0, int64_t n_rows, const int64_t *d_ptr,
                              int k, int ld, int use_bias, float *d_F, float *d_b,
                              cf_stream_t stream) {
    if (n_rows <= 0) return (int)cudaSuccess;
    const int64_t total = n_rows * (int64_t)(k + (use_bias ? 1 : 0));
    CF_LAUNCH_KERNEL(scatter_kernel, ew_blocks(total), EW_THREADS, 0, stream,
        d_rhs, r0, n_rows, d_ptr, k, ld, use_bias, d_F, d_b);
    return (int)cudaGetLastError();
}
