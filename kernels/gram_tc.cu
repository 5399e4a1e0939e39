/*
 * gram_tc.cu — the normal equations of an ALS half-step on tensor cores with fp32-grade
 * accuracy (3×TF32; issue 14 item 4). The same contract as launch_gram (gram.cu), unit
 * for unit: for each cf_gram_unit, with z = F_other[idx[e]][0..d-1],
 *
 *     A_slot = Σ_e z_e z_eᵀ + diag(lam, …, lam, lam_b)   (lower triangle of the column-major
 *              d × d slot, the upper left as it was; lam_b at the bias unknown d − 1 when
 *              use_bias: kernels.h cf_gram_unit)
 *     b      = Σ_e t_e z_e,  t_e = r_e − μ − b_other[c(e)] in double, rounded once (use_bias),
 *              t_e = r_e otherwise; to d_rhs + row·ld (row ≥ 0) or d_rhs_part + slot·ld
 *
 * so gram_reduce, cuSOLVER and the fused Cholesky read what they read from gram.cu.
 * Selected by --als-gram tc (docs/USAGE.md "GPU ALS Gram"); needs sm_80 (TF32 wmma): below that
 * launch_gram_tc returns cudaErrorNotSupported and the host keeps the SIMT kernel.
 *
 * The trick: the right-hand side is one more column of the same Gram. Each staged vector
 * is w = [z; t; 0…] of width S = 16·⌈(d+1)/16⌉ (t in the padding of the last 16-wide tile
 * column, one more tile column only when d is a multiple of 16), and Σ w wᵀ holds A in its
 * d × d corner and b in its column d.
 *
 * Shape of the work (one thread block per unit, units longest first as for gram.cu):
 *   - Σ w wᵀ is cut into 16 × 16 tiles; only the nt(nt+1)/2 tiles ti ≤ tj of the upper
 *     block triangle are computed (nt = S/16). A warp owns an item: TC_TPW = 2 adjacent
 *     tiles of one tile row, (ti, tj0) and (ti, tj0+1), so the A fragments (rows of tile
 *     ti) are loaded once for both. Items per block: up to TC_MAX_WARPS = 16 warps; more
 *     items than that and the block makes several passes over the unit, each with its own
 *     items (d ≤ 111: one pass; d = 129: 25 items, 2 passes; d = 256: 81 items, 6 passes).
 *   - Why 2 tiles × 16 warps: per lane a tile costs 2 accumulator fragments (8 + 8 floats,
 *     see Accuracy) and 8 doubles (16 registers): 32 registers; 2 tiles plus the four
 *     16×8 input fragments (4 registers each) fit the 128 registers per thread that 512
 *     threads per SM allow (__launch_bounds__(512, 1)), and d = 101 (K = 100 with
 *     biases: 7 tile rows, 16 items) takes one pass. 4 tiles per warp would halve the
 *     A-fragment loads but need ≈ 170 registers, i.e. 8 warps and two passes at K = 100.
 *   - The unit's vectors are staged through shared memory `chunk` (≤ 32, a multiple of 8)
 *     at a time with 16-byte loads, pre-split once per entry (not once per tile) into
 *     big = tf32(w) and small = tf32(w − big) (two chunk × S arrays; entries past the end
 *     of the unit are zeros);
 *   - per 8-entry k-step (m16n16k8): with a_* the 16 × 8 block of rows ti (col-major in
 *     shared memory, ldm S) and b_* the 8 × 16 block of columns tj (row-major, ldm S):
 *         lo += a_big·b_small;  lo += a_small·b_big;  hi += a_big·b_big
 *     (3 mma per tile; small·small, ≤ 2⁻²² relative, is dropped);
 *   - every TC_FOLD_STEPS = 4 k-steps (32 entries, as gram.cu's GRAM_FOLD) each element of
 *     hi and lo is added into a double held beside it (sum[i] += (double)hi.x[i] +
 *     (double)lo.x[i], element-wise: the fragment layout is never needed) and hi, lo are
 *     cleared;
 *   - Output: the doubles are split into fp32 hi + lo parts (hi = (float)s, lo = (float)(s
 *     − hi): 48 bits, enough to round s + λ to fp32 once), stored with store_matrix_sync
 *     to the warp's 2 × 256 floats of shared memory (the staging buffer, after a barrier),
 *     read back in double and written: lower triangle (element (p, q), p ≤ q < d, to
 *     A[p·d + q], consecutive lanes consecutive q) with λ on the diagonal, column d to b.
 *
 * Accuracy (the same targets as gram.cu: 1e-6 median, 1e-5 max relative to fp64 for rows
 * of up to 500 k ratings). TF32 keeps 11 significant bits: big = rna(w) is within 2⁻¹¹|w|
 * of w and small = rna(w − big) within 2⁻¹¹|w − big| ≤ 2⁻²²|w| of the rest, so
 * w = big + small + ε with |ε| ≤ 2⁻²²|w|, and big·big + big·small + small·big differs from
 * w_p w_q by ≤ ≈ 3·2⁻²²|w_p w_q| (≈ 7e-7, worst case, per product: the dropped terms;
 * their signs vary, so the sum over a row is typically far better). Each product of two
 * tf32 values is exact in the tensor core. The fp32 accumulation: hardware aligns the
 * products of one mma to the largest exponent and may truncate rather than round (Fasi et
 * al. 2021, measured on V100/T4/A100): a bias of up to ≈ 2⁻²³ relative per mma into an
 * accumulator. That is why big·big goes to its own accumulator `hi`: between folds it
 * takes 4 mma (≤ 4·2⁻²³ ≈ 5e-7 relative, biased), while the cross terms, 2⁻¹¹ smaller,
 * take their 8 in `lo` (negligible); one accumulator for all three would take 12 (≈ 1.4e-6,
 * biased, over the 1e-6 median). The fold into double every 32 entries makes the error
 * independent of the row's length (gram.cu's argument), segments of long rows are added
 * in double by gram_reduce_kernel, and each element is rounded to fp32 once. Measured
 * under the simulation on the long-row test (10 rows of 4 100..500 000 ratings, K = 8):
 * Gram median 9e-8 relative with round-to-nearest accumulation, 3.5e-7 with every
 * addition inside the mma rounded toward zero (cf_sim_set_mma_truncation, a model at
 * least as biased as truncating hardware); the same kernel with all three mma into one
 * accumulator gives 1.3e-6 under that model and fails the issue's 1e-6 median, as
 * predicted above. Hardware must confirm it (gpu_als_tc::gram_rhs_long_rows_fp64 on a GPU).
 *
 * Cost and roofline (H200: TF32 tensor 414 TFLOP/s dense, FP32 non-tensor 50.8 TFLOP/s;
 * 3×TF32 gives ≈ 414/3 ≈ 138 TFLOP/s of fp32-grade products). Per entry of a unit:
 *   useful FLOPs   2·d(d+1)/2 (Gram) + 2d (RHS), as gram.cu (what bench_als counts);
 *   executed       3 mma × 2·16·16·8 / 8 entries = 1536 FLOP per tile per entry, over
 *                  nt(nt+1)/2 tiles: at K = 100 (d = 101, S = 112, nt = 7, 28 tiles)
 *                  43 008 executed for 10 504 useful (3× for the split, 1.37× for the
 *                  tiles' padding and the diagonal tiles' lower halves);
 *                  at the TF32 peak that is ≈ 101 TFLOP/s useful (2.0× the FP32 peak, 2.4×
 *                  what a SIMT kernel could reach at 100 %), Netflix shape ≈ 21 ms for the
 *                  Gram of both sides per iteration (gram.cu: ≥ 41 ms at the FP32 peak);
 *   shared memory  per item and k-step 2 A fragments (2 × 512 B) + 2 × 2 B fragments
 *                  (2 KB) = 3 KB for 6 mma (24.6 kFLOP): 8 FLOP per byte; at ≈ 33 TB/s of
 *                  shared bandwidth (132 SMs × 128 B/clk × 1.98 GHz) that caps the kernel
 *                  at ≈ 270 TFLOP/s executed (≈ 65 % of the TF32 peak) — the roof it aims
 *                  at, not counting the staging;
 *   global bytes   per entry and pass 4·ld (the gathered z, from L2 when the other side
 *                  is hot) + 8 (val, idx) + 4 (b_other); d²·4 per unit written.
 * Staging is not overlapped with the mma of the same block (one block of 16 warps per SM
 * at K = 100): the first lead if the GPU shows the kernel stalling on the gathers is a
 * register-staged prefetch of the next chunk, the second mma.sync with ldmatrix in place
 * of wmma. ptxas (sm_90, CUDA 13.0, -Xptxas -v): see bench/gpu_als_notes.md.
 *
 * Determinism: every unit sums its entries in CSR order, in k-steps of 8 in a fixed
 * sequence of mma, folds in order, segments reduced in slot order; no atomics. The
 * tensor core's internal order is fixed per instruction, so two runs on the same GPU and
 * build give bit-identical A and b whatever the block order.
 */
#include "kernels.h"

#include "launch.cuh"
#include "warp.cuh"

#include <mma.h>
#include <stdio.h>

/* The one architecture guard: TF32 wmma exists from sm_80. The sm_75 build compiles a
 * kernel that traps; the launcher never launches it there (cudaErrorNotSupported). */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define GRAM_TC_DEVICE 0
#else
#define GRAM_TC_DEVICE 1
#endif

#define TC_W 16          /* tile width (m = n = 16) */
#define TC_KSTEP 8       /* entries per mma (k = 8) */
#define TC_TPW 2         /* tiles per warp (file comment) */
#define TC_MAX_WARPS 16
#define TC_FOLD_STEPS 4  /* k-steps between folds: 32 entries, as GRAM_FOLD */
#define TC_MAX_CHUNK 32
#define TC_SMEM_LIMIT (48 * 1024) /* without raising the dynamic shared-memory limit */
#define TC_OUT_FLOATS 512         /* per warp: the hi and lo 16 × 16 tiles */

/* Aligned unit of the dynamic shared memory (wmma needs 256-bit aligned pointers; every
 * pointer used is a multiple of 16 floats from the start). */
struct __align__(128) tc_line {
    float v[32];
};

/* Items (runs of up to TC_TPW tiles in one tile row) of nt tile rows. */
static __host__ __device__ inline int tc_items_in_row(int nt, int ti) { return (nt - ti + TC_TPW - 1) / TC_TPW; }
static __host__ __device__ inline int tc_items(int nt) {
    int n = 0;
    for (int ti = 0; ti < nt; ti++) n += tc_items_in_row(nt, ti);
    return n;
}

typedef struct tc_shape {
    int stride; /* S: floats per staged vector, 16·⌈(d+1)/16⌉ */
    int nt;     /* tile rows = S / 16 */
    int chunk;  /* entries staged per round, multiple of 8 */
    int warps;  /* per block */
    size_t smem;
} tc_shape;

static tc_shape tc_shape_of(int d) {
    tc_shape s;
    s.stride = (d + 1 + TC_W - 1) / TC_W * TC_W;
    s.nt = s.stride / TC_W;
    const int items = tc_items(s.nt);
    const int passes = (items + TC_MAX_WARPS - 1) / TC_MAX_WARPS;
    s.warps = (items + passes - 1) / passes;
    s.chunk = TC_MAX_CHUNK;
    while (s.chunk > TC_KSTEP && (size_t)2 * (size_t)s.chunk * (size_t)s.stride * sizeof(float) > TC_SMEM_LIMIT)
        s.chunk -= TC_KSTEP;
    const size_t stage = (size_t)2 * (size_t)s.chunk * (size_t)s.stride * sizeof(float);
    const size_t out = (size_t)s.warps * TC_OUT_FLOATS * sizeof(float);
    s.smem = stage > out ? stage : out;
    return s;
}

extern "C" size_t cf_gram_tc_shared_bytes(int d) { return d >= 1 && d <= CF_GRAM_TC_MAX_D ? tc_shape_of(d).smem : 0; }
extern "C" int cf_gram_tc_block_threads(int d) { return d >= 1 && d <= CF_GRAM_TC_MAX_D ? tc_shape_of(d).warps * 32 : 0; }

extern "C" int cf_gram_tc_supported(int d, char *why, size_t why_len) {
    int dev = 0, major = 0, minor = 0;
    if (d < 1 || d > CF_GRAM_TC_MAX_D) {
        if (why && why_len) snprintf(why, why_len, "d = K + bias = %d is beyond the TF32 Gram's %d", d, CF_GRAM_TC_MAX_D);
        return 0;
    }
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
        (void)cudaGetLastError();
        if (why && why_len) snprintf(why, why_len, "the device's compute capability cannot be read");
        return 0;
    }
    if (major < 8) {
        if (why && why_len) snprintf(why, why_len, "TF32 tensor cores need sm_80 or newer, the device is sm_%d%d", major, minor);
        return 0;
    }
    return 1;
}

__global__ void __launch_bounds__(TC_MAX_WARPS * 32, 1)
    gram_tc_kernel(const cf_gram_unit *__restrict__ units, const uint32_t *__restrict__ idx,
                   const float *__restrict__ val, const float *__restrict__ F,
                   const float *__restrict__ b_other, double mu, int use_bias, int d, int ld, int stride,
                   int chunk, float *__restrict__ A, float *__restrict__ rhs, float *__restrict__ rhs_part) {
#if GRAM_TC_DEVICE
    namespace wmma = nvcuda::wmma;
    typedef wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> frag_a;
    typedef wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> frag_b;
    typedef wmma::fragment<wmma::accumulator, 16, 16, 8, float> frag_c;

    CF_EXTERN_SHARED(tc_line, smem_lines);
    float *zb = reinterpret_cast<float *>(smem_lines);    /* chunk × S: big */
    float *zs = zb + (size_t)chunk * (size_t)stride;      /* chunk × S: small */
    float4 *zb4 = reinterpret_cast<float4 *>(zb);
    float4 *zs4 = reinterpret_cast<float4 *>(zs);
    const cf_gram_unit u = units[blockIdx.x];
    const int nt = stride / TC_W, items = tc_items(nt);
    const int s4 = stride / 4, ld4 = ld / 4, d4 = d / 4, dr = d % 4;
    const int warp = (int)(threadIdx.x / 32), lane = (int)(threadIdx.x % 32), nwarps = (int)(blockDim.x / 32);
    float *__restrict__ Ad = A + (size_t)u.slot * (size_t)d * (size_t)d;
    float *__restrict__ bd = u.row >= 0 ? rhs + (size_t)u.row * (size_t)ld : rhs_part + (size_t)u.slot * (size_t)ld;
    float *obuf = zb + (size_t)warp * TC_OUT_FLOATS; /* after the last chunk */

    for (int item0 = 0; item0 < items; item0 += nwarps) {
        const int item = item0 + warp;
        const bool active = item < items; /* warp-uniform */
        /* item → tile row ti and its first tile column tj0 */
        int ti = 0, rem = active ? item : 0;
        while (rem >= tc_items_in_row(nt, ti)) rem -= tc_items_in_row(nt, ti), ti++;
        const int tj0 = ti + rem * TC_TPW;
        const int ntile = nt - tj0 < TC_TPW ? nt - tj0 : TC_TPW;

        frag_c hi[TC_TPW], lo[TC_TPW];
        double sum[TC_TPW][frag_c::num_elements];
#pragma unroll
        for (int q = 0; q < TC_TPW; q++) {
            wmma::fill_fragment(hi[q], 0.0f);
            wmma::fill_fragment(lo[q], 0.0f);
#pragma unroll
            for (int i = 0; i < frag_c::num_elements; i++) sum[q][i] = 0.0;
        }
        int steps = 0; /* k-steps since the last fold */

        for (int64_t e0 = u.begin; e0 < u.end; e0 += chunk) {
            const int n = (int)((u.end - e0) < (int64_t)chunk ? (u.end - e0) : (int64_t)chunk);
            const int nk = (n + TC_KSTEP - 1) / TC_KSTEP;
            __syncthreads(); /* the previous chunk (or the previous pass's output) is consumed */
            /* Stage w_e = [z_e; t_e; 0…] for e ∈ [e0, e0 + 8·nk), zeros past the unit's end,
             * split into big and small. */
            for (int w = (int)threadIdx.x; w < nk * TC_KSTEP * s4; w += (int)blockDim.x) {
                const int j = w / s4, c4 = w - j * s4;
                float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
                if (j < n) {
                    const uint32_t c = idx[e0 + j];
                    if (c4 < ld4) v = __ldg(reinterpret_cast<const float4 *>(F + (size_t)c * (size_t)ld) + c4);
                    if (c4 == d4) { /* the target, in double and rounded once (gram.cu) */
                        const float r = __ldg(val + e0 + j);
                        const float t = cf_dev_als_target(r, mu, use_bias ? __ldg(b_other + c) : 0.0f, use_bias);
                        if (dr == 0) v.x = t;
                        else if (dr == 1) v.y = t;
                        else if (dr == 2) v.z = t;
                        else v.w = t;
                    }
                }
                float4 big, small;
                big.x = wmma::__float_to_tf32(v.x), small.x = wmma::__float_to_tf32(v.x - big.x);
                big.y = wmma::__float_to_tf32(v.y), small.y = wmma::__float_to_tf32(v.y - big.y);
                big.z = wmma::__float_to_tf32(v.z), small.z = wmma::__float_to_tf32(v.z - big.z);
                big.w = wmma::__float_to_tf32(v.w), small.w = wmma::__float_to_tf32(v.w - big.w);
                zb4[j * s4 + c4] = big;
                zs4[j * s4 + c4] = small;
            }
            __syncthreads();
            if (active) {
                for (int k = 0; k < nk; k++) {
                    const size_t row0 = (size_t)k * TC_KSTEP * (size_t)stride;
                    frag_a ab, as;
                    wmma::load_matrix_sync(ab, zb + row0 + (size_t)ti * TC_W, (unsigned)stride);
                    wmma::load_matrix_sync(as, zs + row0 + (size_t)ti * TC_W, (unsigned)stride);
#pragma unroll
                    for (int q = 0; q < TC_TPW; q++) {
                        if (q >= ntile) break;
                        frag_b bb, bs;
                        const size_t col = (size_t)(tj0 + q) * TC_W;
                        wmma::load_matrix_sync(bb, zb + row0 + col, (unsigned)stride);
                        wmma::load_matrix_sync(bs, zs + row0 + col, (unsigned)stride);
                        wmma::mma_sync(lo[q], ab, bs, lo[q]);
                        wmma::mma_sync(lo[q], as, bb, lo[q]);
                        wmma::mma_sync(hi[q], ab, bb, hi[q]);
                    }
                    if (++steps == TC_FOLD_STEPS) {
                        steps = 0;
#pragma unroll
                        for (int q = 0; q < TC_TPW; q++) {
#pragma unroll
                            for (int i = 0; i < frag_c::num_elements; i++)
                                sum[q][i] += (double)hi[q].x[i] + (double)lo[q].x[i];
                            wmma::fill_fragment(hi[q], 0.0f);
                            wmma::fill_fragment(lo[q], 0.0f);
                        }
                    }
                }
            }
        }
        __syncthreads(); /* every warp is done with the staging buffer: obuf may reuse it */
        /* the diagonal's λ: lam, or lam_b at the bias unknown d − 1 (gram.cu) */
        const double lam = (double)u.lam, lam_b = use_bias ? (double)u.lam_b : lam;
        if (active) {
#pragma unroll
            for (int q = 0; q < TC_TPW; q++) {
                if (q >= ntile) break;
                /* the last partial fold, and the split of each double into hi + lo */
#pragma unroll
                for (int i = 0; i < frag_c::num_elements; i++) {
                    const double s = sum[q][i] + ((double)hi[q].x[i] + (double)lo[q].x[i]);
                    const float h = (float)s;
                    hi[q].x[i] = h;
                    lo[q].x[i] = (float)(s - (double)h);
                }
                wmma::store_matrix_sync(obuf, hi[q], TC_W, wmma::mem_row_major);
                wmma::store_matrix_sync(obuf + TC_W * TC_W, lo[q], TC_W, wmma::mem_row_major);
                __syncwarp();
                const int tj = tj0 + q;
                for (int x = lane; x < TC_W * TC_W; x += 32) {
                    const int p = ti * TC_W + x / TC_W, c = tj * TC_W + x % TC_W;
                    const double v = (double)obuf[x] + (double)obuf[TC_W * TC_W + x];
                    if (p < d && c < d && c >= p)
                        Ad[(size_t)p * (size_t)d + (size_t)c] = (float)(v + (p == c ? (p == d - 1 ? lam_b : lam) : 0.0));
                    else if (c == d && p < d)
                        bd[p] = (float)v;
                }
                __syncwarp(); /* obuf is read before the next tile overwrites it */
            }
        }
    }
#else
    __trap(); /* never launched below sm_80 (launch_gram_tc) */
#endif
}

extern "C" int launch_gram_tc(const cf_gram_unit *d_units, int64_t n_units, const uint32_t *d_idx,
                              const float *d_val, const float *d_F_other, const float *d_b_other, double mu,
                              int use_bias, int d, int ld, float *d_A, float *d_rhs, float *d_rhs_part,
                              cf_stream_t stream) {
    if (n_units <= 0) return (int)cudaSuccess;
    if (d < 1 || ld < d || ld % 4 != 0 || n_units > 0x7fffffffLL) return (int)cudaErrorInvalidValue;
    if (d > CF_GRAM_TC_MAX_D) return (int)cudaErrorInvalidValue;
    if (!cf_gram_tc_supported(d, NULL, 0)) return (int)cudaErrorNotSupported;
    const tc_shape s = tc_shape_of(d);
    CF_LAUNCH_KERNEL(gram_tc_kernel, (unsigned)n_units, s.warps * 32, s.smem, stream, d_units, d_idx, d_val,
                     d_F_other, d_b_other, mu, use_bias, d, ld, s.stride, s.chunk, d_A, d_rhs, d_rhs_part);
    return (int)cudaGetLastError();
}
