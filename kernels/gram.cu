/*
 * gram.cu — the normal equations of an ALS half-step in one pass over the row: Gram
 * matrix and right-hand side from the same staged factors (issue 14 item 1). This is the
 * dominant cost of ALS (nnz · d(d+1)/2 fused multiply-adds per side, d = K + bias).
 *
 * For each row of the side being solved, with the other side's vectors z = [y; 1]
 * fixed (columns 0..d-1 of F_other, see kernels.h):
 *
 *     A_r = Σ_{e ∈ row r} z_{c(e)} z_{c(e)}ᵀ + diag(Λ_r, …, Λ_r, Λb_r)   (d × d, symmetric;
 *           Λb_r, the bias's own (cf_bias_reg_lambda), at the bias unknown d − 1)
 *     b_r = Σ_{e ∈ row r} t_e z_{c(e)},  t_e = r_e − μ − b_other[c(e)]  (t_e = r_e without
 *           biases), formed in double and rounded once: μ rounded to fp32 shifted every t
 *           by up to 1.2e-7, most of t where r − μ − b nearly cancels (the H200's
 *           half_step failures, see docs/PERFORMANCE.md's H200 notes).
 *
 * Shape of the work (one thread block per cf_gram_unit, i.e. per row or per segment of a
 * long row; the host orders units longest first and cuts long rows into segments, so a
 * power-law row does not keep one SM busy after the others have finished):
 *   - the d × d matrix is cut into T×T register tiles (T = 8); only the nt(nt+1)/2 tiles
 *     (ti ≤ tj) of the upper block triangle are computed (symmetry), one tile per thread;
 *     when there are more tiles than GRAM_MAX_THREADS the block makes several passes over
 *     the row, each with its own set of tiles (d > 176);
 *   - the row's z vectors are staged through shared memory `chunk` at a time with 16-byte
 *     loads (rows of F are ld floats, ld a multiple of 4), padded with zeros to nt·T floats,
 *     and beside them the chunk's targets t_e (one float each);
 *   - each thread accumulates acc[r][c] += z[ti·T + r] · z[tj·T + c] over the chunk: per
 *     staged vector 4 LDS.128 feed 64 FMA; the thread of a diagonal tile (ti = tj) also
 *     accumulates its 8 entries of b: accb[r] += t · z[ti·T + r] (8 FMA more, one LDS);
 *   - Output: only the lower triangle (row ≥ col) of the column-major d × d matrix is
 *     written, plus the unit's lam (lam_b at the bias unknown) on the diagonal: that is
 *     all cusolverDnSpotrfBatched reads with CUBLAS_FILL_MODE_LOWER. The upper triangle
 *     of a slot is left as it was. The right-hand side of a unit whose `row` is ≥ 0 (a
 *     row's first or only segment) goes to row `row` of the batch's RHS buffer (where
 *     potrs and the scatter read it); a further segment's (row = −1) to its slot of the
 *     partial RHS buffer, `slot`·ld floats in.
 *
 * Accuracy (issue 14 item 2: rows of up to 500 k ratings within 1e-6 relative of fp64,
 * median, 1e-5 max). A plain fp32 running sum over n terms drifts by ~u·√n relative
 * (u = 2⁻²⁴; 4e-5 at n = 500 k, worst case n·u). Here every sum is cut into blocks of at
 * most GRAM_FOLD = 32 consecutive entries: a block is summed in fp32 from zero with fmaf
 * (each product exact inside the FMA, rounding error ≤ 32·u·Σ|terms| of the block,
 * typically ~u·√(32/3) ≈ 2e-7 relative), then folded into a double accumulator per
 * element (64 + 8 doubles per thread). The double sum adds ~2⁻⁵³·(n/32) relative, i.e.
 * nothing, so the error of the whole unit is that of one 32-term fp32 block whatever the
 * row length, and it is rounded to fp32 once at the end (u/2). A long row's segments
 * (≤ 4096 entries each, plan.c) are each such a unit, rounded once to fp32, and
 * gram_reduce_kernel adds them (and their partial RHS) in double in slot order, then
 * rounds once: ≤ u/2 per segment, independent. Expected: ~2e-7 relative median per row
 * for A and b (b: a sum with cancellation, its relative error grows with Σ|t z|/|b|).
 *
 * Cost and roofline (H200: 50.8 TFLOP/s FP32 non-tensor, 4.2 TB/s). Per entry of a row:
 * FLOPs 2·d(d+1)/2 useful (Gram) + 2d (RHS); computed: 8×8 tiles over the upper block
 * triangle, 64·nt(nt+1)/2 FMA + 8·nt FMA (RHS), plus per 32 entries one fold of 72
 * elements (cvt + DADD: ≈ 2·72/(32·72) ≈ 6 % more instructions, on the FP64 pipe).
 * Bytes: 4·ld (the gathered z, from L2 when the other side is hot) + 8 (val, idx) + 4
 * (b_other) per entry, and d²·4 per unit written. At K = 100 (d = 101, ld = 104): ≈ 10.3
 * kFLOP per ≈ 430 bytes ≈ 24 FLOP/byte ≫ the H200's ridge of 50.8/4.2 ≈ 12: the kernel
 * aims at the FP32 peak (Netflix shape, both sides: 2.07·10¹² flop ≈ 41 ms at 100 %).
 * The double accumulators raise the registers per thread: ptxas (sm_90, CUDA 13.0) 255,
 * 0 spills, against 128 for the fp32-only kernel of 4a68aec. At d = 101 (96 threads) that
 * is 2 resident blocks = 6 warps per SM instead of 15 (estimated, not measured): the
 * 64 independent FMA chains per thread give the ILP, but whether 6 warps hide the shared
 * loads is for the GPU to say (ncu, bench_als). If it does not, the leads are: a 4×8 or
 * 8×4 tile per thread (half the accumulators), a two-level fp32 sum (blocks of 32 into an
 * fp32 unit sum, valid because units are ≤ 4 096 entries: ~u·√128 ≈ 7e-7) in place of the
 * doubles, or the register-tiled / 3×TF32 tensor-core Gram of issue 14 item 4.
 *
 * Determinism: every sum runs in a fixed order per unit (entries in CSR order, blocks of
 * 32, folds in order), segments are summed by gram_reduce_kernel in slot order, and no
 * atomics are used: two runs give bit-identical A and b whatever the block order.
 */
#include "kernels.h"

#include "launch.cuh"
#include "warp.cuh"

#define GRAM_T 8
#define GRAM_MAX_THREADS 256
/* Target shared memory per block for the staging buffer (floats): 32 KB. */
#define GRAM_SMEM_FLOATS 8192
#define GRAM_MAX_CHUNK 128
/* Without raising the dynamic shared-memory limit a block may use 48 KB. */
#define GRAM_SMEM_LIMIT (48 * 1024)
/* Entries summed in fp32 before each fold into the double accumulators (see above). */
#define GRAM_FOLD 32

/* Geometry of one Gram block for dimension d. */
typedef struct gram_shape {
    int nt;      /* tiles per dimension */
    int stride;  /* floats per staged vector: nt · T */
    int chunk;   /* vectors (and targets) staged per round */
    int ntiles;  /* upper-triangle tiles */
    int threads; /* block size */
} gram_shape;

static gram_shape gram_shape_of(int d) {
    gram_shape s;
    s.nt = (d + GRAM_T - 1) / GRAM_T;
    s.stride = s.nt * GRAM_T;
    /* each staged entry takes its vector (stride floats) and its target (one float) */
    s.chunk = GRAM_SMEM_FLOATS / (s.stride + 1);
    if (s.chunk > GRAM_MAX_CHUNK) s.chunk = GRAM_MAX_CHUNK;
    if (s.chunk < 1) s.chunk = 1;
    s.ntiles = s.nt * (s.nt + 1) / 2;
    /* Passes over the row: ceil(ntiles / max threads); spread the tiles evenly over them. */
    int passes = (s.ntiles + GRAM_MAX_THREADS - 1) / GRAM_MAX_THREADS;
    int per_pass = (s.ntiles + passes - 1) / passes;
    s.threads = (per_pass + 31) / 32 * 32;
    return s;
}

extern "C" size_t cf_gram_shared_bytes(int d) {
    gram_shape s = gram_shape_of(d);
    return (size_t)s.chunk * (size_t)(s.stride + 1) * sizeof(float);
}

extern "C" int cf_gram_block_threads(int d) { return gram_shape_of(d).threads; }

__global__ void __launch_bounds__(GRAM_MAX_THREADS)
    gram_kernel(const cf_gram_unit *__restrict__ units, const uint32_t *__restrict__ idx,
                const float *__restrict__ val, const float *__restrict__ F,
                const float *__restrict__ b_other, double mu, int use_bias, int d, int ld,
                int stride, int chunk, float *__restrict__ A, float *__restrict__ rhs,
                float *__restrict__ rhs_part) {
    CF_EXTERN_SHARED(float4, sz4); /* chunk × stride floats of z, then chunk targets */
    float *__restrict__ st = reinterpret_cast<float *>(sz4) + (size_t)chunk * (size_t)stride;
    const cf_gram_unit u = units[blockIdx.x];
    const int nt = stride / GRAM_T;
    const int ntiles = nt * (nt + 1) / 2;
    const int ld4 = ld / 4, s4 = stride / 4;
    float *__restrict__ Ad = A + (size_t)u.slot * (size_t)d * (size_t)d;
    float *__restrict__ bd = u.row >= 0 ? rhs + (size_t)u.row * (size_t)ld
                                        : rhs_part + (size_t)u.slot * (size_t)ld;

    for (int tile0 = 0; tile0 < ntiles; tile0 += blockDim.x) {
        const int t = tile0 + (int)threadIdx.x;
        const bool active = t < ntiles;
        /* Tile t of the upper block triangle in row-major order: (ti, tj), ti ≤ tj. */
        int ti = 0, rem = active ? t : 0;
        while (rem >= nt - ti) {
            rem -= nt - ti;
            ti++;
        }
        const int tj = ti + rem;
        const bool diag = active && ti == tj; /* this thread also owns b[ti·T .. ti·T+7] */

        float acc[GRAM_T][GRAM_T], accb[GRAM_T];
        double sum[GRAM_T][GRAM_T], sumb[GRAM_T];
#pragma unroll
        for (int r = 0; r < GRAM_T; r++) {
            accb[r] = 0.0f, sumb[r] = 0.0;
#pragma unroll
            for (int c = 0; c < GRAM_T; c++) acc[r][c] = 0.0f, sum[r][c] = 0.0;
        }

        for (int64_t e0 = u.begin; e0 < u.end; e0 += chunk) {
            const int n = (int)((u.end - e0) < (int64_t)chunk ? (u.end - e0) : (int64_t)chunk);
            __syncthreads(); /* the previous chunk has been consumed */
            /* Stage z_e for e ∈ [e0, e0+n): 16-byte loads, zeros past ld. */
            for (int w = threadIdx.x; w < n * s4; w += blockDim.x) {
                const int j = w / s4, c4 = w - j * s4;
                float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                if (c4 < ld4) {
                    const float4 *row =
                        reinterpret_cast<const float4 *>(F + (size_t)idx[e0 + j] * (size_t)ld);
                    v = __ldg(row + c4);
                }
                sz4[j * s4 + c4] = v;
            }
            /* and the targets, formed in double and rounded once (file comment) */
            for (int j = threadIdx.x; j < n; j += blockDim.x) {
                const float r = __ldg(val + e0 + j);
                st[j] = cf_dev_als_target(r, mu, use_bias ? __ldg(b_other + idx[e0 + j]) : 0.0f, use_bias);
            }
            __syncthreads();
            if (active) {
                /* acc += z[ti·T .. ti·T+7] z[tj·T .. tj·T+7]ᵀ (and accb += t z[ti·T ..]) for
                 * each staged z, in blocks of GRAM_FOLD entries folded into the doubles */
                for (int j0 = 0; j0 < n; j0 += GRAM_FOLD) {
                    const int j1 = j0 + GRAM_FOLD < n ? j0 + GRAM_FOLD : n;
                    for (int j = j0; j < j1; j++) {
                        const float4 *z = sz4 + j * s4;
                        const float4 a0 = z[2 * ti], a1 = z[2 * ti + 1];
                        const float4 b0 = z[2 * tj], b1 = z[2 * tj + 1];
                        const float a[GRAM_T] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                        const float b[GRAM_T] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                        for (int r = 0; r < GRAM_T; r++)
#pragma unroll
                            for (int c = 0; c < GRAM_T; c++) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
                        if (diag) {
                            const float tj_ = st[j];
#pragma unroll
                            for (int r = 0; r < GRAM_T; r++) accb[r] = fmaf(tj_, a[r], accb[r]);
                        }
                    }
#pragma unroll
                    for (int r = 0; r < GRAM_T; r++) {
                        sumb[r] += (double)accb[r], accb[r] = 0.0f;
#pragma unroll
                        for (int c = 0; c < GRAM_T; c++) sum[r][c] += (double)acc[r][c], acc[r][c] = 0.0f;
                    }
                }
            }
        }

        /* Element (p, q) = sum[r][c] with p = ti·T + r ≤ q = tj·T + c lands in the lower
         * triangle as row q, column p: A[p·d + q] (column-major). Consecutive c (and
         * consecutive threads' tj) are consecutive addresses. λ is added in double: lam,
         * or lam_b at the bias unknown d − 1 (kernels.h cf_gram_unit; equal to lam where the
         * biases have no λ of their own, so the same sum as before lam_b existed). lam_b
         * is read here rather than kept from the unit's load above: one more register
         * across the accumulation loop spilled (ptxas, sm_90, at 255 registers). */
        const double lam = (double)u.lam, lam_b = use_bias ? (double)__ldg(&units[blockIdx.x].lam_b) : lam;
        if (active) {
#pragma unroll
            for (int r = 0; r < GRAM_T; r++) {
                const int p = ti * GRAM_T + r;
#pragma unroll
                for (int c = 0; c < GRAM_T; c++) {
                    const int q = tj * GRAM_T + c;
                    if (p < d && q < d && q >= p)
                        Ad[(size_t)p * (size_t)d + (size_t)q] =
                            (float)(sum[r][c] + (p == q ? (p == d - 1 ? lam_b : lam) : 0.0));
                }
                if (diag && p < d) bd[p] = (float)sumb[r];
            }
        }
    }
}

extern "C" int launch_gram(const cf_gram_unit *d_units, int64_t n_units, const uint32_t *d_idx,
                           const float *d_val, const float *d_F_other, const float *d_b_other,
                           double mu, int use_bias, int d, int ld, float *d_A, float *d_rhs,
                           float *d_rhs_part, cf_stream_t stream) {
    if (n_units <= 0) return (int)cudaSuccess;
    if (d < 1 || ld < d || ld % 4 != 0 || n_units > 0x7fffffffLL) return (int)cudaErrorInvalidValue;
    const gram_shape s = gram_shape_of(d);
    const size_t smem = (size_t)s.chunk * (size_t)(s.stride + 1) * sizeof(float);
    if (smem > GRAM_SMEM_LIMIT) return (int)cudaErrorInvalidValue; /* d > 12280 */
    CF_LAUNCH_KERNEL(gram_kernel, (unsigned)n_units, s.threads, smem, stream,
        d_units, d_idx, d_val, d_F_other, d_b_other, mu, use_bias, d, ld, s.stride, s.chunk, d_A,
        d_rhs, d_rhs_part);
    return (int)cudaGetLastError();
}

/* A_dst += A_src + ... + A_{src+count-1} on the lower triangle, and
 * rhs[row] += rhs_part[src] + ... + rhs_part[src+count-1], in slot order, summed in double
 * and rounded once (file comment). One block per long row. */
__global__ void gram_reduce_kernel(const cf_gram_reduce *__restrict__ items, int d, int ld,
                                   float *__restrict__ A, float *__restrict__ rhs,
                                   const float *__restrict__ rhs_part) {
    const cf_gram_reduce it = items[blockIdx.x];
    const size_t dd = (size_t)d * (size_t)d;
    float *dst = A + (size_t)it.dst * dd;
    const float *src = A + (size_t)it.src * dd;
    for (size_t x = threadIdx.x; x < dd; x += blockDim.x) {
        const size_t col = x / (size_t)d, row = x - col * (size_t)d;
        if (row < col) continue; /* upper triangle: never read by the solver */
        double s = (double)dst[x];
        for (int k = 0; k < it.count; k++) s += (double)src[(size_t)k * dd + x];
        dst[x] = (float)s;
    }
    float *bdst = rhs + (size_t)it.row * (size_t)ld;
    const float *bsrc = rhs_part + (size_t)it.src * (size_t)ld;
    for (int x = threadIdx.x; x < d; x += blockDim.x) {
        double s = (double)bdst[x];
        for (int k = 0; k < it.count; k++) s += (double)bsrc[(size_t)k * (size_t)ld + x];
        bdst[x] = (float)s;
    }
}

extern "C" int launch_gram_reduce(const cf_gram_reduce *d_items, int64_t n_items, int d, int ld,
                                  float *d_A, float *d_rhs, const float *d_rhs_part,
                                  cf_stream_t stream) {
    if (n_items <= 0) return (int)cudaSuccess;
    if (d < 1 || ld < d || n_items > 0x7fffffffLL) return (int)cudaErrorInvalidValue;
    CF_LAUNCH_KERNEL(gram_reduce_kernel, (unsigned)n_items, 256, 0, stream, d_items, d, ld, d_A,
                     d_rhs, d_rhs_part);
    return (int)cudaGetLastError();
}
