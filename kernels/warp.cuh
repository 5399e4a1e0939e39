/* warp.cuh — warp-level helpers shared by sgd.cu and gd.cu (device code only). */
#ifndef CF_WARP_CUH
#define CF_WARP_CUH

#include <cuda_runtime.h>

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

#endif
