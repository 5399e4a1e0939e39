/*
 * gd.cu — the element-wise parts of full-batch and mini-batch gradient descent on the
 * device (DESIGN.md §2; the CPU reference and its derivation are in src/cpu/gd.c):
 *
 *     E: e_ui = r_ui − r̂_ui at the observed entries (residuals_*)
 *     ∇P = −2 E Q + 2 Λ_u P,   ∇b_u = −2 Σ_i e_ui + 2 Λ_u b_u          (users)
 *     ∇Q = −2 Eᵀ P + 2 Λ_i Q,  ∇b_i = −2 Σ_u e_ui + 2 Λ_i b_i          (items)
 *
 * The host forms E·Z_other by cuSPARSE SpMM (src/gpu/gd.c); Z_other's column K is the
 * constant 1 with biases, so the product's column K is Σ e. gd_step turns the product
 * into the gradient and takes the plain or Adam step (mini-batch: the regularization
 * is scaled by |S|/|Ω|, as on the CPU).
 */
#include "kernels.h"
#include "warp.cuh"

#include "launch.cuh"
#include <stdint.h>

#define GD_THREADS 256
#define GD_WARPS (GD_THREADS / 32)

static unsigned grid_for(int64_t n, int per_block) {
    int64_t b = (n + per_block - 1) / per_block;
    if (b > 65535LL * 8) b = 65535LL * 8; /* grid-stride beyond this */
    return (unsigned)(b < 1 ? 1 : b);
}

__global__ void __launch_bounds__(GD_THREADS)
    residuals_csr_kernel(const int64_t *__restrict__ ptr, const uint32_t *__restrict__ idx,
                         const float *__restrict__ val, int64_t n_rows, const float *__restrict__ Fr,
                         const float *__restrict__ br, const float *__restrict__ Fc,
                         const float *__restrict__ bc, int k, int ld, float mu, int use_bias,
                         int rows_are_users, float *__restrict__ e_out) {
    const int64_t warp = (int64_t)blockIdx.x * GD_WARPS + threadIdx.x / 32;
    const int64_t n_warps = (int64_t)gridDim.x * GD_WARPS;
    const int lane = threadIdx.x & 31;
    for (int64_t r = warp; r < n_rows; r += n_warps) {
        const float *p = Fr + r * ld;
        for (int64_t x = ptr[r]; x < ptr[r + 1]; x++) {
            const uint32_t c = idx[x];
            const float *q = Fc + (int64_t)c * ld;
            /* (user, item) in the users' order whichever side the rows are, so both layouts
             * give the same e (rows < 2^31: open checks) */
            const float e = rows_are_users
                                ? cf_warp_residual(val[x], p, q, k, mu, br, bc, (uint32_t)r, c, use_bias)
                                : cf_warp_residual(val[x], q, p, k, mu, bc, br, c, (uint32_t)r, use_bias);
            if (lane == 0) e_out[x] = e;
        }
    }
}

extern "C" int launch_residuals_csr(const int64_t *d_ptr, const uint32_t *d_idx, const float *d_val,
                                    int64_t n_rows, const float *d_F_r, const float *d_b_r,
                                    const float *d_F_c, const float *d_b_c, int k, int ld, float mu,
                                    int use_bias, int rows_are_users, float *d_e,
                                    cf_stream_t stream) {
    if (n_rows <= 0) return (int)cudaSuccess;
    CF_LAUNCH_KERNEL(residuals_csr_kernel, grid_for(n_rows, GD_WARPS), GD_THREADS, 0, stream,
        d_ptr, d_idx, d_val, n_rows, d_F_r, d_b_r, d_F_c, d_b_c, k, ld, mu, use_bias,
        rows_are_users, d_e);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(GD_THREADS)
    residuals_coo_kernel(const uint32_t *__restrict__ u, const uint32_t *__restrict__ i,
                         const float *__restrict__ r, int64_t n, const float *__restrict__ Fu,
                         const float *__restrict__ bu, const float *__restrict__ Fi,
                         const float *__restrict__ bi, int k, int ld, float mu, int use_bias,
                         float *__restrict__ e_out) {
    const int64_t warp = (int64_t)blockIdx.x * GD_WARPS + threadIdx.x / 32;
    const int64_t n_warps = (int64_t)gridDim.x * GD_WARPS;
    for (int64_t j = warp; j < n; j += n_warps) {
        const uint32_t a = u[j], b = i[j];
        const float e = cf_warp_residual(r[j], Fu + (int64_t)a * ld, Fi + (int64_t)b * ld, k, mu, bu, bi,
                                         a, b, use_bias);
        if ((threadIdx.x & 31) == 0) e_out[j] = e;
    }
}

extern "C" int launch_residuals_coo(const uint32_t *d_u, const uint32_t *d_i, const float *d_r,
                                    int64_t n, const float *d_F_u, const float *d_b_u,
                                    const float *d_F_i, const float *d_b_i, int k, int ld, float mu,
                                    int use_bias, float *d_e, cf_stream_t stream) {
    if (n <= 0) return (int)cudaSuccess;
    CF_LAUNCH_KERNEL(residuals_coo_kernel, grid_for(n, GD_WARPS), GD_THREADS, 0, stream,
        d_u, d_i, d_r, n, d_F_u, d_b_u, d_F_i, d_b_i, k, ld, mu, use_bias, d_e);
    return (int)cudaGetLastError();
}

/* gather_coo: the mini-batch lists built on the device from CSR entry numbers, so that
 * the host uploads 4 bytes a rating and list each epoch instead of 12. For x < n, with
 * e = the entry number held in io[x] on entry: u[x] = entry_user[e], i[x] = idx[e], and
 * io[x] = the bits of val[e] on return (the ratings' buffer carries the entry numbers in:
 * each thread reads its slot before it writes it). No FLOPs; bytes per element: 4 read
 * and 12 written in order, 12 gathered at random (a 32-byte sector each: ≈ 100 bytes of
 * DRAM traffic); aimed at the DRAM bandwidth, ≈ 40 G elements/s on an H200 (4.2 TB/s),
 * ≈ 2.5 ms for 100 M ratings, against ≈ 50 ms to copy the 12-byte lists over the bus. */
__global__ void __launch_bounds__(GD_THREADS)
    gather_coo_kernel(uint32_t *io, int64_t n, const uint32_t *__restrict__ entry_user,
                      const uint32_t *__restrict__ idx, const float *__restrict__ val, uint32_t *__restrict__ u,
                      uint32_t *__restrict__ i) {
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < n; x += (int64_t)gridDim.x * blockDim.x) {
        const uint32_t e = io[x];
        u[x] = entry_user[e], i[x] = idx[e];
        io[x] = __float_as_uint(val[e]);
    }
}

extern "C" int launch_gather_coo(uint32_t *d_io, int64_t n, const uint32_t *d_entry_user, const uint32_t *d_idx,
                                 const float *d_val, uint32_t *d_u, uint32_t *d_i, cf_stream_t stream) {
    if (n <= 0) return (int)cudaSuccess;
    CF_LAUNCH_KERNEL(gather_coo_kernel, grid_for(n, GD_THREADS), GD_THREADS, 0, stream, d_io, n, d_entry_user, d_idx,
        d_val, d_u, d_i);
    return (int)cudaGetLastError();
}

#define ADAM_B1 0.9f
#define ADAM_B2 0.999f
#define ADAM_EPS 1e-8f

__global__ void gd_step_kernel(const int64_t *__restrict__ ptr, int64_t n_rows,
                               const float *__restrict__ C, float *__restrict__ F,
                               float *__restrict__ b, float *__restrict__ m, float *__restrict__ v,
                               int k, int ld, int use_bias, double lambda, int reg_mode,
                               double bias_lambda, int bias_reg_mode, int64_t nnz, double scale, float lr,
                               float c1, float c2) {
    const int w = k + (use_bias ? 1 : 0); /* parameters per row */
    const int64_t total = n_rows * (int64_t)w;
    for (int64_t x = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; x < total;
         x += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = x / w;
        const int c = (int)(x - r * w);
        /* Λ_r for a factor, the biases' Λb_r (their own λ_b and mode) for the bias */
        const double lam = c < k ? cf_dev_reg_lambda(reg_mode, lambda, ptr[r + 1] - ptr[r], nnz)
                                 : cf_dev_reg_lambda(bias_reg_mode, bias_lambda, ptr[r + 1] - ptr[r], nnz);
        float *theta = c < k ? &F[r * ld + c] : &b[r];
        const float g = -2.0f * C[r * ld + c] + (float)(2.0 * scale * lam) * *theta;
        if (!m) {
            *theta -= lr * g;
        } else {
            const int64_t at = r * ld + c;
            const float mm = ADAM_B1 * m[at] + (1.0f - ADAM_B1) * g;
            const float vv = ADAM_B2 * v[at] + (1.0f - ADAM_B2) * g * g;
            m[at] = mm, v[at] = vv;
            *theta -= lr * (mm / c1) / (sqrtf(vv / c2) + ADAM_EPS);
        }
    }
}

extern "C" int launch_gd_step(const int64_t *d_ptr, int64_t n_rows, const float *d_C, float *d_F,
                              float *d_b, float *d_m, float *d_v, int k, int ld, int use_bias,
                              double lambda, int reg_mode, double bias_lambda, int bias_reg_mode,
                              int64_t nnz, double scale, float lr, float c1, float c2, cf_stream_t stream) {
    if (n_rows <= 0) return (int)cudaSuccess;
    const int64_t total = n_rows * (int64_t)(k + (use_bias ? 1 : 0));
    CF_LAUNCH_KERNEL(gd_step_kernel, grid_for(total, GD_THREADS), GD_THREADS, 0, stream,
        d_ptr, n_rows, d_C, d_F, d_b, d_m, d_v, k, ld, use_bias, lambda, reg_mode, bias_lambda, bias_reg_mode,
        nnz, scale, lr, c1, c2);
    return (int)cudaGetLastError();
}
