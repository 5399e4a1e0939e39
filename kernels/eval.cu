/*
 * eval.cu — the per-iteration figures of the trainer (DESIGN.md §1) in one launch:
 *
 *     train: sse = Σ (r − r̂)²,  sae = Σ |r − r̂|,  n    over the training ratings (CSR by user)
 *     reg   = Σ_rows (Λ_row ‖x_row‖² + Λb_row b_row²)      both sides, Λ_row = cf_reg_lambda(...),
 *                                                         Λb_row the biases' (cf_bias_reg_lambda)
 *     test:  sse, sae, n                                   over the test triplets
 *     r̂ = μ + b_u + b_i + p_u·q_i  (p_u·q_i without biases)
 *
 * so that the trainer's objective is L = sse + reg. Any part can be left out (a->train,
 * a->test). One launch, one device→host copy of the partials and one synchronization per
 * evaluation (src/gpu/eval.c), where there were four launches, three copies and three
 * synchronizations.
 *
 * Layout of the work: lanes in groups of G (a power of two ≤ 32, the host's choice for K:
 * about 4 chunks of 4 elements per lane), 32/G groups per warp. A group takes one rating
 * (or one row for reg): lane l of the group holds chunks l, l + G, ... of the two rows,
 * each loaded with one 16-byte (fp32: float4) or 8-byte (fp16: 4 halves) load through
 * the read-only path, and the group's partial dot products meet in a butterfly of log2 G
 * shuffles. Each group takes two ratings per step, so a warp has 2·32/G ratings' rows in
 * flight (K = 128: 8 ratings, 16 float4 loads per lane) instead of one rating with one
 * dependent 5-shuffle reduction at a time. Warps walk the users (rows of the CSR,
 * grid-stride), the user's row re-read per rating from L1; the test set and the rows of
 * the two sides for reg are cut the same way.
 *
 * Storage: T = float (the side's F, row stride ld, columns ≥ K masked: column K is the
 * constant 1 of the bias) or __half (SGD's fp16 copies, row stride K, K a multiple of 4);
 * F holds exactly the halves' values after an fp16 epoch (half → float is exact), so both
 * give the same figures; the halves move half the bytes.
 *
 * Determinism: a fixed grid of CF_REDUCE_BLOCKS blocks, each rating/row given to a fixed
 * warp and group, e formed in fp32, e², |e|, the counts and Λ·(‖x‖² + b²) (squares of
 * floats, exact in double; Λ·‖x‖² + Λb·b² where the biases have a λ_b or mode of their
 * own) summed in double in a fixed order: per group leader in its
 * order, the warp by a butterfly, the block in warp order; the host adds the blocks'
 * partials in block order. The same factors give the same bits whatever the block order.
 * The dot product's fp32 order differs from the CPU's (and from the previous kernel's):
 * the figures agree with the CPU reference up to fp32 rounding of r̂.
 *
 * Cost (nnz training ratings, t test ratings, m = users + items rows, K, s = 4 / 2 bytes):
 *   FLOPs ≈ 2K·(nnz + t) + 2K·m (dot products and squares) + ≈ 8 per rating.
 *   Bytes between SM and L2: nnz·(8 + K·s + 4) (index and rating, q_i, b_i) + the user
 *         rows once per user (m_u·(K·s + 12)) + t·(12 + 2K·s + 8) + m·(K·s + 12).
 *   Bytes from DRAM: the CSR ratings stream once (8 B each), the user rows once; the item
 *         side (17,770 × K × s: 4.5 MB fp16 / 9 MB fp32 at K = 128) stays in L2.
 *   Roofline (Netflix shape, 99 M ratings, K = 128): ≈ 270 B per rating cross L2 in fp16
 *         (≈ 27 GB, ≈ 530 B / 53 GB in fp32) against ≈ 1 GB from DRAM: bound by the L2
 *         bandwidth (bench_sgd measures that ceiling) — ≈ 3 ms fp16 / 6 ms fp32 at
 *         9 TB/s of L2, ≈ 7–14 % of one SGD epoch; the previous kernel was bound by the
 *         latency of one rating at a time per warp.
 */
#include "kernels.h"
#include "warp.cuh"

#include <cuda_fp16.h>
#include "launch.cuh"
#include <string.h>

#define EVAL_THREADS 256
#define EVAL_WARPS (EVAL_THREADS / 32)
#define EVAL_PART_BYTES (EVAL_WARPS * CF_EVAL_SUMS * sizeof(double)) /* the block's warp sums */

/* Four consecutive elements (16-byte-aligned floats or 8-byte-aligned halves) as floats,
 * through the read-only path: nothing writes the factors while the kernel runs. */
__device__ __forceinline__ void load4(const float *p, float *f) {
    const float4 v = __ldg((const float4 *)p);
    f[0] = v.x, f[1] = v.y, f[2] = v.z, f[3] = v.w;
}
__device__ __forceinline__ void load4(const __half *p, float *f) {
    const uint2 v = __ldg((const uint2 *)p);
    __half2 a, b;
    memcpy(&a, &v.x, 4);
    memcpy(&b, &v.y, 4);
    f[0] = __low2float(a), f[1] = __high2float(a), f[2] = __low2float(b), f[3] = __high2float(b);
}

/* This lane's part of p·q: chunks gl, gl + G, ... of 4 elements, elements ≥ k left out. */
template <typename T>
__device__ __forceinline__ float lane_dot(const T *__restrict__ p, const T *__restrict__ q, int k, int gl,
                                          int G) {
    float s = 0.0f;
    const int nch = (k + 3) / 4;
#pragma unroll 4
    for (int c = gl; c < nch; c += G) {
        float x[4], y[4];
        load4(p + 4 * c, x);
        load4(q + 4 * c, y);
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (4 * c + j < k) s = fmaf(x[j], y[j], s);
    }
    return s;
}

/* This lane's part of ‖x‖² in double (squares of floats are exact in double). */
template <typename T>
__device__ __forceinline__ double lane_sq(const T *__restrict__ x, int k, int gl, int G) {
    double s = 0.0;
    const int nch = (k + 3) / 4;
#pragma unroll 4
    for (int c = gl; c < nch; c += G) {
        float v[4];
        load4(x + 4 * c, v);
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (4 * c + j < k) s += (double)v[j] * (double)v[j];
    }
    return s;
}

/* Butterfly over the G lanes of each group (xor offsets < G stay inside the group); every
 * lane of the group gets the same sum. All 32 lanes must call it. */
template <typename V> __device__ __forceinline__ V group_sum(V s, int G) {
    for (int o = G >> 1; o > 0; o >>= 1) s += __shfl_xor_sync(CF_FULL_MASK, s, o);
    return s;
}

/* Adds e's contributions on the group's leader (gl == 0) for a valid rating. */
__device__ __forceinline__ void add_err(int ok, float r, float mu, float b_u, float b_i, float dot, int use_bias,
                                        double *acc) {
    if (!ok) return;
    const double e = (double)(r - cf_dev_predict(mu, b_u, b_i, dot, use_bias));
    acc[0] += e * e;
    acc[1] += fabs(e);
    acc[2] += 1.0;
}

template <typename T>
__global__ void __launch_bounds__(EVAL_THREADS) eval_all_kernel(cf_eval_args a, int G, double *__restrict__ partial) {
    const int lane = threadIdx.x & 31, g = lane / G, gl = lane % G, NG = 32 / G;
    const int64_t warp = (int64_t)blockIdx.x * EVAL_WARPS + threadIdx.x / 32;
    const int64_t n_warps = (int64_t)gridDim.x * EVAL_WARPS;
    const T *__restrict__ P = (const T *)a.P, *__restrict__ Q = (const T *)a.Q;
    const int64_t ld = a.ld;
    const int lead = gl == 0;
    /* acc: train sse, sae, n, reg, test sse, sae, n — meaningful on the group leaders */
    double acc[CF_EVAL_SUMS] = {0, 0, 0, 0, 0, 0, 0};

    if (a.train) {
        /* training ratings: a warp per user, two ratings per group and step */
        for (int64_t u = warp; u < a.n_users; u += n_warps) {
            const int64_t beg = a.ptr_u[u], end = a.ptr_u[u + 1];
            const T *p = P + u * ld;
            const float b_u = a.use_bias ? a.bu[u] : 0.0f;
            for (int64_t e0 = beg; e0 < end; e0 += 2 * NG) {
                const int64_t ea = e0 + g, eb = e0 + NG + g;
                const int va = ea < end, vb = eb < end;
                const uint32_t ia = va ? a.idx_u[ea] : 0u, ib = vb ? a.idx_u[eb] : 0u;
                const float ra = va ? a.val_u[ea] : 0.0f, rb = vb ? a.val_u[eb] : 0.0f;
                float sa = va ? lane_dot(p, Q + (int64_t)ia * ld, a.k, gl, G) : 0.0f;
                float sb = vb ? lane_dot(p, Q + (int64_t)ib * ld, a.k, gl, G) : 0.0f;
                sa = group_sum(sa, G);
                sb = group_sum(sb, G);
                if (lead) {
                    add_err(va, ra, a.mu, b_u, va && a.use_bias ? a.bi[ia] : 0.0f, sa, a.use_bias, acc);
                    add_err(vb, rb, a.mu, b_u, vb && a.use_bias ? a.bi[ib] : 0.0f, sb, a.use_bias, acc);
                }
            }
        }
        /* regularization: a group per row, users then items; Λ (‖x‖² + b²) as one product
         * where Λb = Λ (the sum as before the biases' own λ_b existed), else two */
        const bool bias_same = a.bias_reg_mode == a.reg_mode && a.bias_lambda == a.lambda;
        for (int sd = 0; sd < 2; sd++) {
            const int64_t n = sd ? a.n_items : a.n_users;
            const int64_t *ptr = sd ? a.ptr_i : a.ptr_u;
            const T *F = sd ? Q : P;
            const float *bias = sd ? a.bi : a.bu;
            for (int64_t r0 = warp * NG; r0 < n; r0 += n_warps * NG) {
                const int64_t r = r0 + g;
                const int ok = r < n;
                double sq = ok ? lane_sq(F + r * ld, a.k, gl, G) : 0.0;
                sq = group_sum(sq, G);
                if (lead && ok) {
                    const int64_t n_r = ptr[r + 1] - ptr[r];
                    const double b2 = a.use_bias ? (double)bias[r] * (double)bias[r] : 0.0;
                    if (bias_same || !a.use_bias)
                        acc[3] += cf_dev_reg_lambda(a.reg_mode, a.lambda, n_r, a.nnz) * (sq + b2);
                    else
                        acc[3] += cf_dev_reg_lambda(a.reg_mode, a.lambda, n_r, a.nnz) * sq +
                                  cf_dev_reg_lambda(a.bias_reg_mode, a.bias_lambda, n_r, a.nnz) * b2;
                }
            }
        }
    }
    if (a.test) {
        /* test triplets: 2·32/G consecutive ones per warp and step */
        for (int64_t j0 = warp * 2 * NG; j0 < a.n_test; j0 += n_warps * 2 * NG) {
            const int64_t ja = j0 + g, jb = j0 + NG + g;
            const int va = ja < a.n_test, vb = jb < a.n_test;
            const uint32_t ua = va ? a.tu[ja] : 0u, ia = va ? a.ti[ja] : 0u;
            const uint32_t ub = vb ? a.tu[jb] : 0u, ib = vb ? a.ti[jb] : 0u;
            float sa = va ? lane_dot(P + (int64_t)ua * ld, Q + (int64_t)ia * ld, a.k, gl, G) : 0.0f;
            float sb = vb ? lane_dot(P + (int64_t)ub * ld, Q + (int64_t)ib * ld, a.k, gl, G) : 0.0f;
            sa = group_sum(sa, G);
            sb = group_sum(sb, G);
            if (lead) {
                const int bias = a.use_bias;
                add_err(va, va ? a.tr[ja] : 0.0f, a.mu, va && bias ? a.bu[ua] : 0.0f, va && bias ? a.bi[ia] : 0.0f, sa,
                        bias, acc + 4);
                add_err(vb, vb ? a.tr[jb] : 0.0f, a.mu, vb && bias ? a.bu[ub] : 0.0f, vb && bias ? a.bi[ib] : 0.0f, sb,
                        bias, acc + 4);
            }
        }
    }

    /* the warp's sums (non-leaders hold zeros), then the block's in warp order; in dynamic
     * shared memory (EVAL_PART_BYTES): a static __shared__ array in a template kernel is
     * outside the simulation's shared section (launch.cuh), unpoisoned and shared by
     * co-resident blocks there */
    CF_EXTERN_SHARED(double, part_flat);
    double(*part)[CF_EVAL_SUMS] = reinterpret_cast<double(*)[CF_EVAL_SUMS]>(part_flat);
#pragma unroll
    for (int c = 0; c < CF_EVAL_SUMS; c++) {
        double v = acc[c];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(CF_FULL_MASK, v, o);
        acc[c] = v;
    }
    if (lane == 0)
        for (int c = 0; c < CF_EVAL_SUMS; c++) part[threadIdx.x / 32][c] = acc[c];
    __syncthreads();
    if (threadIdx.x < CF_EVAL_SUMS) {
        double s = 0.0;
        for (int w = 0; w < EVAL_WARPS; w++) s += part[w][threadIdx.x];
        partial[(size_t)blockIdx.x * CF_EVAL_SUMS + threadIdx.x] = s;
    }
}

extern "C" int cf_eval_group_lanes(int k) {
    const int per_lane = ((k + 3) / 4 + 3) / 4; /* chunks of 4 elements / 4 per lane */
    int G = 1;
    while (G < per_lane && G < 32) G <<= 1;
    return G;
}

extern "C" int launch_eval_all(const cf_eval_args *a, double *d_partial, cf_stream_t stream) {
    if (a->k < 1 || (a->fp16 && a->k % 4) || (!a->fp16 && a->ld % 4)) return (int)cudaErrorInvalidValue;
    const int G = cf_eval_group_lanes(a->k);
    if (a->fp16)
        CF_LAUNCH_KERNEL(eval_all_kernel<__half>, CF_REDUCE_BLOCKS, EVAL_THREADS, EVAL_PART_BYTES, stream, *a, G,
                         d_partial);
    else
        CF_LAUNCH_KERNEL(eval_all_kernel<float>, CF_REDUCE_BLOCKS, EVAL_THREADS, EVAL_PART_BYTES, stream, *a, G,
                         d_partial);
    return (int)cudaGetLastError();
}
