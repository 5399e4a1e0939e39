/* sgd_row.cuh — a warp's copy of a factor row for the SGD kernels (sgd.cu; device code
 * only): storage ↔ fp32 conversions, a lane's slice of VEC consecutive elements moved in
 * one 4–16-byte access (load, store, and the atomic reduction of hogwild's item adds),
 * and a row as NV such slices a lane. T = float or __half; arithmetic is fp32 either way.
 * Loads bypass L1 (ld.global.cg): it is not coherent across SMs. */
#ifndef CF_SGD_ROW_CUH
#define CF_SGD_ROW_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
/* x as the storage holds it: what a store and a reload would give */
template <typename T> __device__ __forceinline__ float stored(float x) { return to_f(from_f<T>(x)); }

/* ------------------------------------------------------------------ a lane's slice of a row
 * VEC consecutive elements at p (aligned to VEC·sizeof(T)) as floats, in one load of
 * 4·VEC (fp32) or 2·VEC (fp16) bytes: float / float2 / float4, __half / __half2 / uint2
 * (4 halves) / uint4 (8 halves). Loads are ld.global.cg (__ldcg): L2 only, not the SM's
 * L1, which is not coherent across SMs; a cached copy of a row would hide other warps'
 * updates for as long as the line stays in L1 (on a small set: the whole epoch). */
template <typename T, int VEC> struct slice;

/* slice<T, VEC>::add(p, d): p[v] += d[v] as atomic reductions (hogwild's item rows in
 * add mode: no other warp's update of the row is lost). fp32: one vector reduction on
 * sm_90 (red.global.add.v2/v4.f32), one per element before; fp16: one v2/v4.f16x2 on sm_90,
 * one per __half2 before (each half rounded to nearest once, noftz, as the simulation's). */
__device__ __forceinline__ void red_f32(float *p, const float *d, int n) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (n == 4) {
        atomicAdd((float4 *)p, make_float4(d[0], d[1], d[2], d[3]));
        return;
    }
    if (n == 2) {
        atomicAdd((float2 *)p, make_float2(d[0], d[1]));
        return;
    }
#endif
    for (int v = 0; v < n; v++) atomicAdd(p + v, d[v]);
}
__device__ __forceinline__ unsigned pack2(const float *f);
__device__ __forceinline__ void red_f16(__half *p, const float *d, int n) {
    if (n == 1) {
        atomicAdd(p, __float2half_rn(d[0]));
        return;
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (n == 8) {
        asm volatile("red.relaxed.gpu.global.add.noftz.v4.f16x2 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(pack2(d)),
                     "r"(pack2(d + 2)), "r"(pack2(d + 4)), "r"(pack2(d + 6))
                     : "memory");
        return;
    }
    if (n == 4) {
        asm volatile("red.relaxed.gpu.global.add.noftz.v2.f16x2 [%0], {%1, %2};" ::"l"(p), "r"(pack2(d)),
                     "r"(pack2(d + 2))
                     : "memory");
        return;
    }
    if (n == 2) { /* atomicAdd(__half2 *) takes a generic pointer: an ATOM with a shared-memory
                     test and a wait for its result, where a fire-and-forget RED will do */
        asm volatile("red.relaxed.gpu.global.add.noftz.f16x2 [%0], %1;" ::"l"(p), "r"(pack2(d)) : "memory");
        return;
    }
#endif
    for (int v = 0; v < n; v += 2) atomicAdd((__half2 *)(p + v), __floats2half2_rn(d[v], d[v + 1]));
}
template <> struct slice<float, 1> {
    static __device__ __forceinline__ void add(float *p, const float *d) { red_f32(p, d, 1); }
    static __device__ __forceinline__ void load(const float *p, float *f) { f[0] = __ldcg(p); }
    static __device__ __forceinline__ void store(float *p, const float *f) { *p = f[0]; }
};
template <> struct slice<float, 2> {
    static __device__ __forceinline__ void add(float *p, const float *d) { red_f32(p, d, 2); }
    static __device__ __forceinline__ void load(const float *p, float *f) {
        const float2 v = __ldcg((const float2 *)p);
        f[0] = v.x, f[1] = v.y;
    }
    static __device__ __forceinline__ void store(float *p, const float *f) { *(float2 *)p = make_float2(f[0], f[1]); }
};
template <> struct slice<float, 4> {
    static __device__ __forceinline__ void add(float *p, const float *d) { red_f32(p, d, 4); }
    static __device__ __forceinline__ void load(const float *p, float *f) {
        const float4 v = __ldcg((const float4 *)p);
        f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
    }
    static __device__ __forceinline__ void store(float *p, const float *f) {
        *(float4 *)p = make_float4(f[0], f[1], f[2], f[3]);
    }
};
/* halves packed in 32-bit words: word w holds elements 2w (low) and 2w + 1 (high) */
__device__ __forceinline__ void unpack2(unsigned w, float *f) {
    __half2 h;
    memcpy(&h, &w, sizeof h);
    f[0] = __low2float(h), f[1] = __high2float(h);
}
__device__ __forceinline__ unsigned pack2(const float *f) {
    const __half2 h = __floats2half2_rn(f[0], f[1]);
    unsigned w;
    memcpy(&w, &h, sizeof w);
    return w;
}
template <> struct slice<__half, 1> {
    static __device__ __forceinline__ void add(__half *p, const float *d) { red_f16(p, d, 1); }
    static __device__ __forceinline__ void load(const __half *p, float *f) { f[0] = __half2float(__ldcg(p)); }
    static __device__ __forceinline__ void store(__half *p, const float *f) { *p = __float2half_rn(f[0]); }
};
template <> struct slice<__half, 2> {
    static __device__ __forceinline__ void add(__half *p, const float *d) { red_f16(p, d, 2); }
    static __device__ __forceinline__ void load(const __half *p, float *f) {
        const __half2 h = __ldcg((const __half2 *)p);
        f[0] = __low2float(h), f[1] = __high2float(h);
    }
    static __device__ __forceinline__ void store(__half *p, const float *f) { *(__half2 *)p = __floats2half2_rn(f[0], f[1]); }
};
template <> struct slice<__half, 4> {
    static __device__ __forceinline__ void add(__half *p, const float *d) { red_f16(p, d, 4); }
    static __device__ __forceinline__ void load(const __half *p, float *f) {
        const uint2 v = __ldcg((const uint2 *)p);
        unpack2(v.x, f), unpack2(v.y, f + 2);
    }
    static __device__ __forceinline__ void store(__half *p, const float *f) {
        *(uint2 *)p = make_uint2(pack2(f), pack2(f + 2));
    }
};
template <> struct slice<__half, 8> {
    static __device__ __forceinline__ void add(__half *p, const float *d) { red_f16(p, d, 8); }
    static __device__ __forceinline__ void load(const __half *p, float *f) {
        const uint4 v = __ldcg((const uint4 *)p);
        unpack2(v.x, f), unpack2(v.y, f + 2), unpack2(v.z, f + 4), unpack2(v.w, f + 6);
    }
    static __device__ __forceinline__ void store(__half *p, const float *f) {
        *(uint4 *)p = make_uint4(pack2(f), pack2(f + 2), pack2(f + 4), pack2(f + 6));
    }
};

/* Hogwild's add mode: a lane's chunk d of q_i's change, added at element `at` of `row`
 * (chunks at or past K add nothing). Every lane of the warp calls it (fp16 shuffles).
 * fp16 with one half a lane (K ≤ 32, and the memory path of any K, lane l at elements
 * l, l + 32, ...): lanes 2w and 2w + 1 hold the two halves of one
 * 32-bit word, so the even lane takes its neighbour's change by shuffle and issues one
 * __half2 reduction (native red.add.noftz.f16x2; each half rounded once, as before) —
 * a scalar __half atomicAdd is a compare-and-swap loop on sm_90, and the two lanes would
 * collide on the word. It needs K and ld even (the pair in one aligned word of the row);
 * otherwise one scalar add per lane, as every other shape does through slice::add. */
template <typename T, int VEC>
__device__ __forceinline__ void add_chunk(T *row, int at, int K, int ld, const float *d) {
    (void)ld;
    if (at < K) slice<T, VEC>::add(row + at, d);
}
template <> __device__ __forceinline__ void add_chunk<__half, 1>(__half *row, int at, int K, int ld, const float *d) {
    const float next = __shfl_down_sync(0xffffffffu, d[0], 1);
    if (((K | ld) & 1) == 0) {
        const float two[2] = {d[0], next};
        if (!(threadIdx.x & 1) && at < K) red_f16(row + at, two, 2);
    } else if (at < K) {
        red_f16(row + at, d, 1);
    }
    /* the odd lane reads its element again (a STALE reload, the memory path's next rating of
     * this item) though the even lane added to it: a shuffle orders no memory on a GPU, a
     * warp barrier does (the simulation orders at the shuffle and cannot show the lack) */
    __syncwarp();
}

/* A row held by a warp: lane l has NV chunks of VEC elements, chunk c at element
 * (32c + l)·VEC; chunks at or past K hold 0 and are neither loaded nor stored (K and the
 * row stride are multiples of VEC: the host's choice, regs_of). */
template <typename T, int VEC, int NV> struct row {
    float f[VEC * NV];
    __device__ __forceinline__ void load(const T *r, int K) {
        const int lane = threadIdx.x & 31;
#pragma unroll
        for (int c = 0; c < NV; c++) {
            const int at = (32 * c + lane) * VEC;
            if (at < K) {
                slice<T, VEC>::load(r + at, f + c * VEC);
            } else {
#pragma unroll
                for (int v = 0; v < VEC; v++) f[c * VEC + v] = 0.0f;
            }
        }
    }
    __device__ __forceinline__ void store(T *r, int K) const {
        const int lane = threadIdx.x & 31;
#pragma unroll
        for (int c = 0; c < NV; c++) {
            const int at = (32 * c + lane) * VEC;
            if (at < K) slice<T, VEC>::store(r + at, f + c * VEC);
        }
    }
};

#endif
