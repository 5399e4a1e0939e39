/*
 * kernels.h — the one door from the C host driver (src/gpu) into CUDA: extern "C"
 * launchers for the kernels under kernels/. Each launcher picks its launch shape,
 * launches on the given stream and returns the cudaError_t of cudaGetLastError() as
 * an int (0 = cudaSuccess), so that the caller's CUDA checking macro names the launch.
 *
 * Plain C11 can include this header: no CUDA header is pulled in. A stream is passed as
 * `struct CUstream_st *`, which is what cudaStream_t is a typedef of.
 *
 * Data layout shared with the host driver (src/gpu/gpu_impl.h):
 *   - a side's factors F: n_rows × ld floats, row-major; columns 0..K-1 are the factors,
 *     column K is the constant 1 when biases are on (so a row of the other side is
 *     z = [y; 1] as it stands), columns d..ld-1 are 0 (d = K + bias, ld = d rounded up
 *     to a multiple of 4 so rows are 16-byte aligned);
 *   - a side's biases: n_rows floats (zeros when biases are off);
 *   - entries of a side in CSR form: int64 offsets, uint32 indices of the other side,
 *     float ratings;
 *   - Gram matrices: d × d floats each, column-major (cuSOLVER's layout; they are
 *     symmetric and written in full).
 */
#ifndef CF_KERNELS_H
#define CF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct CUstream_st;
typedef struct CUstream_st *cf_stream_t;

/* One block of Gram work: the entries [begin, end) of one row (or a segment of a long
 * row) accumulated into Gram slot `slot`; `lam` is added to the diagonal (Λ of the row
 * for its first segment, 0 for further segments). begin == end writes lam·I. */
typedef struct cf_gram_unit {
    int64_t begin, end;
    int32_t slot;
    float lam;
} cf_gram_unit;

/* A long row's partial Grams: slots [src, src + count) are added, in order, into `dst`. */
typedef struct cf_gram_reduce {
    int32_t dst, src, count;
} cf_gram_reduce;

/* Fixed grid of the reduction kernels (eval, reg): each block writes one partial sum,
 * the host adds the partials in block order, so results do not vary run to run. */
#define CF_REDUCE_BLOCKS 512

/* Shared memory of one Gram block, in bytes (for the host's reporting and tests). */
size_t cf_gram_shared_bytes(int d);

/* A_slot = Σ_{e ∈ [begin,end)} z_e z_eᵀ + lam·I, z_e = F_other[idx[e]][0..d-1].
 * One block per unit; units should come longest first. */
int launch_gram(const cf_gram_unit *d_units, int64_t n_units, const uint32_t *d_idx,
                const float *d_F_other, int d, int ld, float *d_A, cf_stream_t stream);

/* A_dst += Σ_{s=src}^{src+count-1} A_s for each item, in slot order. */
int launch_gram_reduce(const cf_gram_reduce *d_items, int64_t n_items, int d, float *d_A,
                       cf_stream_t stream);

/* Bias-adjusted targets of n entries: t[e] = r[e] − μ − b_other[idx[e]] (use_bias),
 * t[e] = r[e] otherwise. */
int launch_targets(const float *d_val, const uint32_t *d_idx, int64_t n, const float *d_b_other,
                   float mu, int use_bias, float *d_t, cf_stream_t stream);

/* 32-bit offsets of a batch of rows for cuSPARSE: off[j] = ptr[j] − ptr[0], j ∈ [0, n]. */
int launch_offsets32(const int64_t *d_ptr, int64_t n_rows, int32_t *d_off, cf_stream_t stream);

/* Solutions back into the factors, rows [r0, r0 + n_rows) of this side:
 * F[r][0..K-1] = x_r[0..K-1], b[r] = x_r[K] (use_bias), with x_r = rhs[(r − r0)·ld ...];
 * rows with no entries (ptr[r+1] == ptr[r]) get the zero vector and bias 0. */
int launch_scatter(const float *d_rhs, int64_t r0, int64_t n_rows, const int64_t *d_ptr, int k,
                   int ld, int use_bias, float *d_F, float *d_b, cf_stream_t stream);

/* Prediction errors over a CSR side: for every entry (r, c, v) of rows [0, n_rows),
 * e = v − r̂(r, c) with r̂ = μ + b_r[r] + b_c[c] + F_r[r]·F_c[c] (k terms; μ and the
 * biases only when use_bias). Writes CF_REDUCE_BLOCKS × 3 doubles: Σe², Σ|e|, count. */
int launch_eval_csr(const int64_t *d_ptr, const uint32_t *d_idx, const float *d_val,
                    int64_t n_rows, const float *d_F_r, const float *d_b_r, const float *d_F_c,
                    const float *d_b_c, int k, int ld, float mu, int use_bias, double *d_partial,
                    cf_stream_t stream);

/* The same over triplets (u[j], i[j], r[j]), j < n. */
int launch_eval_triplets(const uint32_t *d_u, const uint32_t *d_i, const float *d_r, int64_t n,
                         const float *d_F_u, const float *d_b_u, const float *d_F_i,
                         const float *d_b_i, int k, int ld, float mu, int use_bias,
                         double *d_partial, cf_stream_t stream);

/* Regularization of one side: Σ_r Λ_r (‖F[r][0..k-1]‖² + b[r]²) with
 * Λ_r = lambda · (reg_mode: 0 plain → 1, 1 weighted → n_r, 2 mean → nnz), matching
 * cf_reg_lambda(). Writes CF_REDUCE_BLOCKS doubles. */
int launch_reg(const int64_t *d_ptr, int64_t n_rows, const float *d_F, const float *d_b, int k,
               int ld, int use_bias, double lambda, int reg_mode, int64_t nnz, double *d_partial,
               cf_stream_t stream);

#ifdef __cplusplus
}
#endif
#endif /* CF_KERNELS_H */
