/*
 * chol.cu — the ALS solve fused into one kernel: for each system b of a batch,
 *
 *     A_b = L Lᵀ (Cholesky, lower),  L y = B_b,  Lᵀ x = y,  B_b := x      (d ≤ 129)
 *
 * with A_b the d × d Gram slot as kernels/gram.cu leaves it (column-major, leading
 * dimension d, only the lower triangle read: the upper one may hold anything) and B_b
 * the system's right-hand side (d floats), solved in place. info_b is LAPACK's /
 * cuSOLVER's: 0, or j + 1 for the first column j whose pivot a_jj − Σ_{c<j} l_jc² is not
 * positive (or NaN); such a system's B_b is left as it was (src/gpu/als.c then puts the
 * row's old factors there, so the scatter leaves them unchanged, as the CPU does). A_b is
 * only read.
 *
 * Shape: one warp per system, `spb` systems (warps) per block, each warp with its own
 * slice of dynamic shared memory and no block-wide barrier. The warp copies the lower
 * triangle of A_b with B_b appended as an extra row d (the augmented matrix [A; Bᵀ]) into
 * shared memory, packed by columns: column j holds rows j..d at base(j) + i, base(j) a
 * multiple of 4 (≤ 3 floats of padding a column, so rows j0..j0+3 are one aligned
 * float4), ≈ d(d+3)/2 + 1.5d floats in all (34.8 KB at d = 129, 21.6 KB at d = 101).
 * Lane ℓ owns rows i = ℓ + 32m (m < 5, so d + 1 ≤ 160) and keeps their partial sums in
 * registers:
 *   - factor + forward substitution, left-looking, by panels of 4 columns j0..j0+3: for
 *     each finished column c < j0 every lane reads the panel's l_{j0+p,c} (one broadcast
 *     float4) and, once per row of its own, l_ic (consecutive across lanes: no bank
 *     conflicts), and does 4 FMAs per l_ic: s_{i,j0+p} −= l_ic l_{j0+p,c}. Then within the
 *     panel, column by column: the pivot s_jj comes to every lane by a shuffle,
 *     l_jj = √s_jj, l_ij = s_ij · (1/l_jj), and the panel's later columns are updated with
 *     l_{j0+q,j} shuffled from its owner. The panel is written back in place and a
 *     __syncwarp publishes it. Row d (the right-hand side) goes through the same
 *     recurrence, which is the forward substitution: l_dj = y_j. The operations and their
 *     order per element are those of the plain column-by-column algorithm (c ascending),
 *     so the panel changes speed, not results.
 *   - back substitution: each lane keeps y_i of its rows in registers; for j = d−1..0 the
 *     owner of row j computes x_j = y_j / l_jj, one shuffle broadcasts it, and the lanes
 *     update y_i −= l_ji x_j for i < j (L is read-only by then: no barrier needed).
 *   10 shuffles and 1 __syncwarp per panel, 1 shuffle per row in the solve;
 *   no local memory (ptxas, sm_90: 71 registers).
 * Arithmetic is fp32 with fused multiply-adds in a fixed order, so the result does not
 * depend on the block order or the run.
 *
 * Cost per system (d = K + bias): ≈ d³/6 multiply-adds = d³/3 flop for the factor and
 * 2d² flop for the two triangular solves (≈ 0.36 Mflop at d = 101). Bytes: the lower
 * triangle of A_b read once (≈ d²/2 · 4 B in 32-byte sectors of whole columns; up to
 * d² · 4 B = 41 KB at d = 101 counting the sectors of the upper triangle the column reads
 * touch), B_b read and written (2 · 4d B), info 4 B. Roofline on an H200 (50.8 TFLOP/s
 * FP32, 4.2 TB/s): ≈ 9 flop/B, below the ridge (≈ 12 flop/B), so bandwidth-bound: the
 * Netflix shape's 498 k systems of order 101 are ≈ 20 GB → ≈ 5 ms at 4.2 TB/s; the
 * 0.17·10¹² flop take 3.5 ms at the FP32 peak. What may bind first instead is shared
 * memory: counted per warp instruction, a system of order 101 issues ≈ 4.3 k shared loads
 * in the factorization (17.2 k column by column, 7.9 k in panels with 4 scalar broadcasts),
 * ≈ 8 ms for 498 k systems over 132 SMs at one shared-memory wavefront per clock
 * (1.98 GHz); and occupancy (the packed triangle limits an SM to ≈ 10 systems at
 * d = 101, 6 at d = 129), which the panel's 4 × rows independent FMA chains per lane are
 * meant to cover. Not measured yet: bench/GPU_SESSION.md. Tuning leads: half-warps per
 * system for d ≤ 32, reading A_b straight from the Gram kernel's registers (issue 14: no
 * round trip through device memory).
 *
 * Beyond d = CF_CHOL_FUSED_MAX_D the launcher refuses (cudaErrorInvalidValue): the host
 * uses cuSOLVER's batched potrf/potrs there.
 */
#include "kernels.h"

#include "launch.cuh"
#include "warp.cuh"

#define CHOL_ROWS 5          /* rows per lane: d + 1 ≤ 32 · CHOL_ROWS */
#define CHOL_PANEL 4         /* columns factored together */
#define CHOL_MAX_WARPS 8     /* systems per block */
#define CHOL_SMEM_LIMIT (48 * 1024) /* per block, without cudaFuncSetAttribute */

#if CF_CHOL_FUSED_MAX_D + 1 > 32 * CHOL_ROWS
#error "CF_CHOL_FUSED_MAX_D needs more rows per lane"
#endif

/* Layout of one system in shared memory: column c holds rows c..d at S[base(c) + i], with
 * base(c) a multiple of 4 (so the panel rows j0..j0+3, j0 a multiple of 4, of any column
 * are one aligned float4): base(0) = 0, base(c+1) = the first multiple of 4 with
 * base(c+1) + c + 1 past the end of column c, base(c) + d. */
__host__ __device__ __forceinline__ int chol_next_base(int base_c, int c, int d) {
    return (base_c + d - c + 3) & ~3;
}

/* Floats of one system: the end of column d − 1, rounded up to 4 (16-byte slices). */
static size_t chol_floats(int d) {
    int b = 0;
    for (int c = 0; c + 1 < d; c++) b = chol_next_base(b, c, d);
    return (size_t)((b + d + 1 + 3) & ~3);
}

extern "C" size_t cf_chol_shared_bytes(int d) {
    return d < 1 || d > CF_CHOL_FUSED_MAX_D ? 0 : chol_floats(d) * sizeof(float);
}

extern "C" int cf_chol_systems_per_block(int d) {
    const size_t per = cf_chol_shared_bytes(d);
    if (per == 0) return 0;
    int spb = (int)(CHOL_SMEM_LIMIT / per);
    if (spb > CHOL_MAX_WARPS) spb = CHOL_MAX_WARPS;
    return spb < 1 ? 1 : spb;
}

/* v[r] for a warp-uniform r < CHOL_ROWS, without an indexed read: `if (m == r) x = v[m]`
 * is turned by the compiler into v[r], which puts v in local memory (a 112-byte stack
 * frame, seen with -Xptxas -v); masking the bits keeps v in registers. Exact for any
 * value, NaN included. */
__device__ __forceinline__ float chol_pick(const float (&v)[CHOL_ROWS], int r) {
    unsigned bits = 0u;
#pragma unroll
    for (int m = 0; m < CHOL_ROWS; m++) bits |= __float_as_uint(v[m]) & (0u - (unsigned)(m == r));
    return __uint_as_float(bits);
}

__global__ void __launch_bounds__(32 * CHOL_MAX_WARPS)
    chol_fused_kernel(int d, int sys_floats, float *const *__restrict__ Aptr,
                      float *const *__restrict__ Bptr, int *__restrict__ info, int batch) {
    CF_EXTERN_SHARED(float, smem);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int spb = blockDim.x >> 5;
    float *__restrict__ S = smem + (size_t)warp * (size_t)sys_floats;

    /* Warp-uniform loop over this warp's systems. */
    for (int64_t sys = (int64_t)blockIdx.x * spb + warp; sys < batch;
         sys += (int64_t)gridDim.x * spb) {
        const float *__restrict__ A = Aptr[sys];
        float *__restrict__ B = Bptr[sys];

        /* Stage the lower triangle by columns (coalesced reads of rows j..d-1 of column
         * j) and B[j] as its row d. */
        for (int j = 0, bj = 0; j < d; bj = chol_next_base(bj, j, d), j++)
            for (int i = j + lane; i <= d; i += 32) S[bj + i] = i < d ? A[(size_t)j * d + i] : B[j];
        __syncwarp();

        /* Factor [A; Bᵀ] by panels of CHOL_PANEL columns; row d becomes y = L⁻¹ B. */
        int bad = 0;
        int bj0 = 0; /* base(j0) */
        for (int j0 = 0; j0 < d && !bad; j0 += CHOL_PANEL) {
            const int nb = d - j0 < CHOL_PANEL ? d - j0 : CHOL_PANEL; /* warp-uniform */
            int bp[CHOL_PANEL]; /* base(j0 + p) */
            bp[0] = bj0;
#pragma unroll
            for (int p = 1; p < CHOL_PANEL; p++) bp[p] = chol_next_base(bp[p - 1], j0 + p - 1, d);
            /* acc[p][m]: element (i, j0 + p), i = lane + 32m; only i ≥ j0 + p is kept. */
            float acc[CHOL_PANEL][CHOL_ROWS];
#pragma unroll
            for (int p = 0; p < CHOL_PANEL; p++) {
#pragma unroll
                for (int m = 0; m < CHOL_ROWS; m++) {
                    const int i = lane + 32 * m;
                    acc[p][m] = (p < nb && i >= j0 + p && i <= d) ? S[bp[p] + i] : 0.0f;
                }
            }
            /* The columns c < j0, done: the panel's l_{j0..j0+3,c} in one broadcast float4
             * (in the last panel its entries past row d − 1 are whatever follows: they only
             * reach columns p ≥ nb, never stored), one l_ic per row, CHOL_PANEL FMAs per l_ic. */
            for (int c = 0, bc = 0; c < j0; bc = chol_next_base(bc, c, d), c++) {
                const float4 lv = *reinterpret_cast<const float4 *>(S + bc + j0);
                const float l[CHOL_PANEL] = {lv.x, lv.y, lv.z, lv.w};
#pragma unroll
                for (int m = 0; m < CHOL_ROWS; m++) {
                    const int i = lane + 32 * m;
                    if (i >= j0 && i <= d) {
                        const float lic = S[bc + i];
#pragma unroll
                        for (int p = 0; p < CHOL_PANEL; p++) acc[p][m] = fmaf(-lic, l[p], acc[p][m]);
                    }
                }
            }
            /* Within the panel, column by column: pivot, scale, update the panel's later
             * columns with l_{j0+q,j} from its owner lane (the same value it writes to S).
             * No branch around the shuffles: past a failed pivot, or past column d − 1
             * in the last panel (p ≥ nb), the values are garbage that is never stored. */
#pragma unroll
            for (int p = 0; p < CHOL_PANEL; p++) {
                const int j = j0 + p;
                const float ajj = __shfl_sync(CF_FULL_MASK, chol_pick(acc[p], j >> 5), j & 31);
                if (p < nb && !(ajj > 0.0f) && !bad) bad = j + 1; /* not positive, or NaN: LAPACK's test */
                const float ljj = sqrtf(ajj), rinv = 1.0f / ljj;
#pragma unroll
                for (int m = 0; m < CHOL_ROWS; m++) acc[p][m] = lane + 32 * m == j ? ljj : acc[p][m] * rinv;
#pragma unroll
                for (int q = 1; q < CHOL_PANEL; q++) {
                    if (q > p) {
                        const float lqj = __shfl_sync(CF_FULL_MASK, chol_pick(acc[p], (j0 + q) >> 5), (j0 + q) & 31);
#pragma unroll
                        for (int m = 0; m < CHOL_ROWS; m++) acc[q][m] = fmaf(-acc[p][m], lqj, acc[q][m]);
                    }
                }
            }
            if (bad) break;
#pragma unroll
            for (int p = 0; p < CHOL_PANEL; p++) {
#pragma unroll
                for (int m = 0; m < CHOL_ROWS; m++) {
                    const int i = lane + 32 * m;
                    if (p < nb && i >= j0 + p && i <= d) S[bp[p] + i] = acc[p][m];
                }
            }
            bj0 = chol_next_base(bp[CHOL_PANEL - 1], j0 + CHOL_PANEL - 1, d);
            __syncwarp();
        }
        if (lane == 0) info[sys] = bad;
        if (bad) {
            __syncwarp(); /* S is reused by the next system */
            continue;
        }

        /* Back substitution Lᵀ x = y: y_i of this lane's rows in registers. */
        float y[CHOL_ROWS];
        int oi[CHOL_ROWS]; /* base(i) of this lane's rows i < d (0 for the others) */
#pragma unroll
        for (int m = 0; m < CHOL_ROWS; m++) oi[m] = 0;
        for (int c = 0, bc = 0; c < d; bc = chol_next_base(bc, c, d), c++)
#pragma unroll
            for (int m = 0; m < CHOL_ROWS; m++)
                if (lane + 32 * m == c) oi[m] = bc;
#pragma unroll
        for (int m = 0; m < CHOL_ROWS; m++) y[m] = lane + 32 * m < d ? S[oi[m] + d] : 0.0f;
        for (int j = d - 1; j >= 0; j--) {
            /* the owner's l_jj is at base(j) + j = oi[j >> 5] + j; the other lanes read an
             * entry of the triangle they do not use */
            int oj = 0;
#pragma unroll
            for (int m = 0; m < CHOL_ROWS; m++) oj |= oi[m] & (0 - (int)(m == (j >> 5)));
            const float xj = __shfl_sync(CF_FULL_MASK, chol_pick(y, j >> 5) / S[oj + j], j & 31);
#pragma unroll
            for (int m = 0; m < CHOL_ROWS; m++) {
                const int i = lane + 32 * m;
                if (i < j) y[m] = fmaf(-S[oi[m] + j], xj, y[m]);
                else if (i == j) y[m] = xj;
            }
        }
#pragma unroll
        for (int m = 0; m < CHOL_ROWS; m++) {
            const int i = lane + 32 * m;
            if (i < d) B[i] = y[m];
        }
        __syncwarp(); /* S is reused by the next system */
    }
}

extern "C" int launch_chol_fused(int d, float *const *d_A, float *const *d_B, int *d_info,
                                 int batch, cf_stream_t stream) {
    if (d < 1 || d > CF_CHOL_FUSED_MAX_D || batch < 0) return (int)cudaErrorInvalidValue;
    if (batch == 0) return (int)cudaSuccess;
    const int spb = cf_chol_systems_per_block(d);
    int64_t blocks = ((int64_t)batch + spb - 1) / spb;
    if (blocks > 65535LL * 16) blocks = 65535LL * 16; /* the warps loop beyond this */
    CF_LAUNCH_KERNEL(chol_fused_kernel, (unsigned)blocks, 32 * spb,
                     (size_t)spb * cf_chol_shared_bytes(d), stream, d, (int)chol_floats(d), d_A, d_B,
                     d_info, batch);
    return (int)cudaGetLastError();
}

/* One thread per system: a system whose info is not 0 gets the row's current factors
 * (and bias) as its "solution", so the scatter writes back what is there. */
__global__ void keep_failed_kernel(const int *__restrict__ info, float *const *__restrict__ Bptr,
                                   int64_t n_sys, const float *__restrict__ rhs, int64_t r0,
                                   const float *__restrict__ F, const float *__restrict__ b, int k,
                                   int ld, int use_bias) {
    for (int64_t s = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; s < n_sys;
         s += (int64_t)gridDim.x * blockDim.x) {
        if (info[s] == 0) continue;
        float *x = Bptr[s];
        const int64_t r = r0 + (int64_t)(x - rhs) / ld;
        for (int c = 0; c < k; c++) x[c] = F[r * ld + c];
        if (use_bias) x[k] = b[r];
    }
}

extern "C" int launch_keep_failed(const int *d_info, float *const *d_B, int64_t n_sys,
                                  const float *d_rhs, int64_t r0, const float *d_F,
                                  const float *d_b, int k, int ld, int use_bias,
                                  cf_stream_t stream) {
    if (n_sys <= 0) return (int)cudaSuccess;
    int64_t blocks = (n_sys + 255) / 256;
    if (blocks > 65535LL * 8) blocks = 65535LL * 8;
    CF_LAUNCH_KERNEL(keep_failed_kernel, (unsigned)blocks, 256, 0, stream, d_info, d_B, n_sys,
                     d_rhs, r0, d_F, d_b, k, ld, use_bias);
    return (int)cudaGetLastError();
}
