/*
 * gram.cu — the Gram matrices of an ALS half-step, the dominant cost of ALS
 * (nnz · d(d+1)/2 fused multiply-adds per side, d = K + bias).
 *
 * For each row of the side being solved, with the other side's vectors z = [y; 1]
 * fixed (columns 0..d-1 of F_other, see kernels.h):
 *
 *     A_r = Σ_{e ∈ row r} z_{c(e)} z_{c(e)}ᵀ + Λ_r I            (d × d, symmetric)
 *
 * Shape of the work (one thread block per cf_gram_unit, i.e. per row or per segment of a
 * long row; the host orders units longest first and cuts long rows into segments, so a
 * power-law row does not keep one SM busy after the others have finished):
 *   - the d × d matrix is cut into T×T register tiles (T = 8); only the nt(nt+1)/2 tiles
 *     (ti ≤ tj) of the upper block triangle are computed (symmetry), one tile per thread;
 *     when there are more tiles than GRAM_MAX_THREADS the block makes several passes over
 *     the row, each with its own set of tiles (d > 176);
 *   - the row's z vectors are staged through shared memory `chunk` at a time with 16-byte
 *     loads (rows of F are ld floats, ld a multiple of 4), padded with zeros to nt·T floats;
 *   - each thread accumulates acc[r][c] += z[ti·T + r] · z[tj·T + c] over the chunk: per
 *     staged vector 4 LDS.128 feed 64 FMA.
 *   - Output: only the lower triangle (row ≥ col) of the column-major d × d matrix is
 *     written, plus λ on the diagonal: that is all cusolverDnSpotrfBatched reads with
 *     CUBLAS_FILL_MODE_LOWER. The upper triangle of a slot is left as it was.
 *
 * Accumulation is fp32 in a fixed order per unit (entries in CSR order), and segments are
 * summed by gram_reduce_kernel in slot order, so the result does not vary run to run.
 *
 * Tuning leads for the GPU session (not yet measured): double-buffered staging
 * (cp.async), a conflict-free column interleave of the tj loads, and a TF32 tensor-core
 * variant for long rows.
 */
#include "kernels.h"

#include "launch.cuh"

#define GRAM_T 8
#define GRAM_MAX_THREADS 256
/* Target shared memory per block for the staging buffer (floats): 32 KB. */
#define GRAM_SMEM_FLOATS 8192
#define GRAM_MAX_CHUNK 128
/* Without raising the dynamic shared-memory limit a block may use 48 KB. */
#define GRAM_SMEM_LIMIT (48 * 1024)

/* Geometry of one Gram block for dimension d. */
typedef struct gram_shape {
    int nt;      /* tiles per dimension */
    int stride;  /* floats per staged vector: nt · T */
    int chunk;   /* vectors staged per round */
    int ntiles;  /* upper-triangle tiles */
    int threads; /* block size */
} gram_shape;

static gram_shape gram_shape_of(int d) {
    gram_shape s;
    s.nt = (d + GRAM_T - 1) / GRAM_T;
    s.stride = s.nt * GRAM_T;
    s.chunk = GRAM_SMEM_FLOATS / s.stride;
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
    return (size_t)s.chunk * (size_t)s.stride * sizeof(float);
}

extern "C" int cf_gram_block_threads(int d) { return gram_shape_of(d).threads; }

__global__ void __launch_bounds__(GRAM_MAX_THREADS)
    gram_kernel(const cf_gram_unit *__restrict__ units, const uint32_t *__restrict__ idx,
                const float *__restrict__ F, int d, int ld, int stride, int chunk,
                float *__restrict__ A) {
    CF_EXTERN_SHARED(float4, sz4); /* chunk × stride floats */
    const cf_gram_unit u = units[blockIdx.x];
    const int nt = stride / GRAM_T;
    const int ntiles = nt * (nt + 1) / 2;
    const int ld4 = ld / 4, s4 = stride / 4;
    float *__restrict__ Ad = A + (size_t)u.slot * (size_t)d * (size_t)d;

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

        float acc[GRAM_T][GRAM_T];
#pragma unroll
        for (int r = 0; r < GRAM_T; r++)
#pragma unroll
            for (int c = 0; c < GRAM_T; c++) acc[r][c] = 0.0f;

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
            __syncthreads();
            if (active) {
                /* acc += z[ti·T .. ti·T+7] z[tj·T .. tj·T+7]ᵀ for each staged z */
                for (int j = 0; j < n; j++) {
                    const float4 *z = sz4 + j * s4;
                    const float4 a0 = z[2 * ti], a1 = z[2 * ti + 1];
                    const float4 b0 = z[2 * tj], b1 = z[2 * tj + 1];
                    const float a[GRAM_T] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                    const float b[GRAM_T] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                    for (int r = 0; r < GRAM_T; r++)
#pragma unroll
                        for (int c = 0; c < GRAM_T; c++) acc[r][c] = fmaf(a[r], b[c], acc[r][c]);
                }
            }
        }

        /* Element (p, q) = acc[r][c] with p = ti·T + r ≤ q = tj·T + c lands in the lower
         * triangle as row q, column p: A[p·d + q] (column-major). Consecutive c (and
         * consecutive threads' tj) are consecutive addresses. */
        if (active) {
#pragma unroll
            for (int r = 0; r < GRAM_T; r++) {
                const int p = ti * GRAM_T + r;
#pragma unroll
                for (int c = 0; c < GRAM_T; c++) {
                    const int q = tj * GRAM_T + c;
                    if (p < d && q < d && q >= p)
                        Ad[(size_t)p * (size_t)d + (size_t)q] = acc[r][c] + (p == q ? u.lam : 0.0f);
                }
            }
        }
    }
}

extern "C" int launch_gram(const cf_gram_unit *d_units, int64_t n_units, const uint32_t *d_idx,
                           const float *d_F_other, int d, int ld, float *d_A, cf_stream_t stream) {
    if (n_units <= 0) return (int)cudaSuccess;
    if (d < 1 || ld < d || ld % 4 != 0 || n_units > 0x7fffffffLL) return (int)cudaErrorInvalidValue;
    const gram_shape s = gram_shape_of(d);
    const size_t smem = (size_t)s.chunk * (size_t)s.stride * sizeof(float);
    if (smem > GRAM_SMEM_LIMIT) return (int)cudaErrorInvalidValue; /* d > 12288 */
    CF_LAUNCH_KERNEL(gram_kernel, (unsigned)n_units, s.threads, smem, stream,
        d_units, d_idx, d_F_other, d, ld, s.stride, s.chunk, d_A);
    return (int)cudaGetLastError();
}

/* A_dst += A_src + ... + A_{src+count-1} on the lower triangle, in slot order. */
__global__ void gram_reduce_kernel(const cf_gram_reduce *__restrict__ items, int d,
                                   float *__restrict__ A) {
    const cf_gram_reduce it = items[blockIdx.x];
    const size_t dd = (size_t)d * (size_t)d;
    float *dst = A + (size_t)it.dst * dd;
    const float *src = A + (size_t)it.src * dd;
    for (size_t x = threadIdx.x; x < dd; x += blockDim.x) {
        const size_t col = x / (size_t)d, row = x - col * (size_t)d;
        if (row < col) continue; /* upper triangle: never read by the solver */
        float s = dst[x];
        for (int k = 0; k < it.count; k++) s += src[(size_t)k * dd + x];
        dst[x] = s;
    }
}

extern "C" int launch_gram_reduce(const cf_gram_reduce *d_items, int64_t n_items, int d,
                                  float *d_A, cf_stream_t stream) {
    if (n_items <= 0) return (int)cudaSuccess;
    if (d < 1 || n_items > 0x7fffffffLL) return (int)cudaErrorInvalidValue;
    CF_LAUNCH_KERNEL(gram_reduce_kernel, (unsigned)n_items, 256, 0, stream, d_items, d, d_A);
    return (int)cudaGetLastError();
}
