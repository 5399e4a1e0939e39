/* warp.cuh — device helpers shared by the kernels (device code only): the butterfly sum,
 * the dot product of two factor rows and the residual of one rating (sgd.cu, gd.cu; the
 * cf_warp_* functions must be called by all 32 lanes of a warp together: full-mask
 * shuffles, so callers keep their loops warp-uniform), the prediction (sgd.cu, eval.cu),
 * Λ_r and Λb_r (gd.cu, eval.cu) and the ALS target t (gram.cu, gram_tc.cu). */
#ifndef CF_WARP_CUH
#define CF_WARP_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#define CF_FULL_MASK 0xffffffffu

/* Sum over the 32 lanes by a butterfly of shuffles; every lane returns the same sum
 * (the same order of additions on every lane, so bit-identical everywhere). */
__device__ __forceinline__ float cf_warp_sum(float s) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(CF_FULL_MASK, s, o);
    return s;
}

/* p·q over k terms by one warp (lane l takes l, l+32, ...); every lane gets the sum. */
__device__ __forceinline__ float cf_warp_dot(const float *__restrict__ p,
                                             const float *__restrict__ q, int k) {
    const int lane = threadIdx.x & 31;
    float s = 0.0f;
    for (int c = lane; c < k; c += 32) s = fmaf(p[c], q[c], s);
    return cf_warp_sum(s);
}

/* r̂ in the CPU's order of additions: ((μ + b_u) + b_i) + p·q; p·q alone without biases. */
__device__ __forceinline__ float cf_dev_predict(float mu, float b_u, float b_i, float dot, int use_bias) {
    return use_bias ? mu + b_u + b_i + dot : dot;
}

/* e = r − r̂(u, i) of one rating by one warp, p_u and q_i the rows of user u and item i
 * (k terms), bu / bi the bias arrays (read only when use_bias). Every lane returns the same
 * e. GD's residuals use it; eval.cu sums p·q in its own (lane-group) order, so its r̂ agrees
 * with GD's up to fp32 rounding of the dot product. */
__device__ __forceinline__ float cf_warp_residual(float r, const float *__restrict__ p_u,
                                                  const float *__restrict__ q_i, int k, float mu,
                                                  const float *__restrict__ bu,
                                                  const float *__restrict__ bi, uint32_t u,
                                                  uint32_t i, int use_bias) {
    const float dot = cf_warp_dot(p_u, q_i, k);
    return r - cf_dev_predict(mu, use_bias ? bu[u] : 0.0f, use_bias ? bi[i] : 0.0f, dot, use_bias);
}

/* Λ_r as cf_reg_lambda() (DESIGN.md §1) for the kernels' mode code (gpu_impl.h
 * cf_gpu_reg_mode): 0 plain λ, 1 weighted λ·n_r, 2 mean λ·|Ω|. The biases' Λb_r
 * (cf_bias_reg_lambda) is the same function of their own mode and λ_b. */
__device__ __forceinline__ double cf_dev_reg_lambda(int reg_mode, double lambda, int64_t n_r,
                                                    int64_t nnz) {
    return reg_mode == 0 ? lambda : reg_mode == 1 ? lambda * (double)n_r : lambda * (double)nnz;
}

/* The ALS right-hand side's target t = r − μ − b_other (t = r without biases), formed in
 * double and rounded once: μ rounded to fp32 first shifted every t by up to 1.2e-7 (the
 * H200's half_step failures; gram.cu). Both Gram kernels use it, so their b agree. */
__device__ __forceinline__ float cf_dev_als_target(float r, double mu, float b_other, int use_bias) {
    return use_bias ? (float)((double)r - mu - (double)b_other) : r;
}

#endif
