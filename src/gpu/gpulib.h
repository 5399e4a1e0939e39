/*
 * gpulib.h — the one place src/gpu reaches the CUDA math libraries (cuBLAS, cuSOLVER,
 * cuSPARSE): exactly the operations the GPU backend uses, behind an opaque handle bound to
 * one stream. Two implementations must agree on everything written here:
 *   - gpulib_cuda.c    over cuBLAS / cuSOLVER / cuSPARSE (the CUDA build);
 *   - gpusim/gpulib_sim.c over OpenBLAS / LAPACKE and plain loops (the CPU simulation
 *     build, where device pointers are host pointers).
 * Plain C11; no library header leaks out of here, only <cuda_runtime_api.h> for
 * cudaStream_t (the simulation build provides its own).
 *
 * Stream ordering. Every operation is ordered on the handle's stream after the work
 * queued there before it, and asynchronous with respect to the host: the results (and
 * info arrays) are ready once the stream is synchronized. Scalars (alpha, beta) are host
 * values passed by value. All pointers named d_* are device memory.
 *
 * Errors. Each function returns CF_OK, or CF_ERR_DEVICE with `err` (may be NULL) holding
 *     "<library call>(<its sizes>) failed: <the library's status string> (file:line)"
 * e.g. "cusolverDnSpotrfBatched(lower, n 9, lda 9, batch 4096) failed: invalid value
 * (.../gpulib_cuda.c:120)". Invalid arguments are refused with the library's own
 * "invalid value" status where the library refuses them (listed per function). A
 * numerical failure of a factorization is not an error of the call: it is reported in
 * the info array, and the caller decides (als.c makes it CF_ERR_NUMERIC naming the row).
 *
 * Dense layouts. The solver and GEMM operands are column-major (element (i, j) of a
 * matrix with leading dimension ld at [i + j·ld]); the SpMM dense operands are row-major
 * (element (i, j) at [i·ld + j], ld ≥ columns: the backend's factor rows with padding).
 *
 * Sparse layouts (SpMM). 32-bit, zero-based. Offsets are int32; indices are the project's
 * uint32 arrays holding values < 2^31 (the libraries read them as int32). CSR: row r's
 * entries are [off[r], off[r+1]), off[0] = 0, off[rows] = nnz (the project's rows are
 * sorted by column). COO: entry e is (row[e], col[e], val[e]), sorted by row (gd.c's lists
 * are). Offsets or indices out of range are undefined behaviour in cuSPARSE; the
 * simulation refuses them with "invalid value".
 */
#ifndef CF_GPULIB_H
#define CF_GPULIB_H

#include "cufactor.h"

#include <cuda_runtime_api.h>

#include <stddef.h>
#include <stdint.h>

typedef struct cf_gpulib cf_gpulib;

/* A handle bound to `stream` (not owned: destroy the handle before the stream). *out is
 * NULL on failure. */
cf_status cf_gpulib_create(cudaStream_t stream, cf_gpulib **out, cf_error *err);

/* Releases the handle and its workspaces and sets *h = NULL; accepts h == NULL and
 * *h == NULL. Does not synchronize the stream: synchronize first if work may be pending. */
void cf_gpulib_destroy(cf_gpulib **h);

/* Bytes of device workspace the handle holds now (the SpMM buffer; grows, never shrinks
 * before destroy). The backend counts it in its allocation figures. */
size_t cf_gpulib_workspace_bytes(const cf_gpulib *h);

/* Batched Cholesky factorization, lower (cusolverDnSpotrfBatched, CUBLAS_FILL_MODE_LOWER).
 * For b in [0, batch): d_A[b] is an n × n fp32 column-major matrix with leading dimension
 * lda whose lower triangle holds the symmetric A_b (the strict upper triangle is not read,
 * and is overwritten: cuSOLVER documents it as workspace, "destroyed"); on return its lower
 * triangle holds L_b with A_b = L_b L_bᵀ. d_info[b] = 0 on success, or i > 0 when the
 * leading minor of order i is not positive (not positive definite; L_b is then
 * incomplete, the other matrices are still factored). A NaN in A_b: unspecified (info
 * may be 0 with NaN in L_b; the caller's finite checks see it).
 * d_A is a device array of `batch` device pointers. Invalid value: n < 0, lda < max(1, n),
 * batch < 1. */
cf_status cf_gpulib_spotrf_batched(cf_gpulib *h, int n, float *const *d_A, int lda, int *d_info,
                                   int batch, cf_error *err);

/* Batched solve with the factors of cf_gpulib_spotrf_batched, one right-hand side each
 * (cusolverDnSpotrsBatched, lower, nrhs = 1): for b in [0, batch), d_B[b] (n values,
 * leading dimension ldb) is overwritten by x_b with L_b L_bᵀ x_b = B_b. *d_info (one int)
 * is 0 (or −i: parameter i is wrong). A system whose factorization failed gets
 * meaningless values; the others are solved. Invalid value: n < 0, lda < max(1, n),
 * ldb < max(1, n), batch < 0. */
cf_status cf_gpulib_spotrs_batched(cf_gpulib *h, int n, float *const *d_A, int lda,
                                   float *const *d_B, int ldb, int *d_info, int batch,
                                   cf_error *err);

/* C = alpha · A · B + beta · C (cusparseSpMM, A not transposed, fp32 throughout):
 * A rows × cols in CSR (d_off: rows + 1 offsets, d_col / d_val: nnz entries), B cols × n
 * row-major with leading dimension ldb, C rows × n row-major with leading dimension ldc.
 * beta = 0 overwrites C without reading it (NaN there does not survive). Each C(i, j) is
 * an fp32 sum; its order is the library's (the CPU simulation sums in CSR order).
 * The algorithm is CUSPARSE_SPMM_CSR_ALG2 (the one documented for row-major operands)
 * where this cuSPARSE accepts it, tried once per handle, else CUSPARSE_SPMM_ALG_DEFAULT
 * from then on (also when cusparseSpMM itself refuses ALG2); the workspace lives in the
 * handle. Invalid value: rows, cols, n or nnz < 0 or > INT32_MAX, ldb < n, ldc < n, a
 * NULL array that must be read. */
cf_status cf_gpulib_spmm_csr(cf_gpulib *h, int64_t rows, int64_t cols, int64_t nnz,
                             const int32_t *d_off, const uint32_t *d_col, const float *d_val,
                             int64_t n, float alpha, const float *d_B, int64_t ldb, float beta,
                             float *d_C, int64_t ldc, cf_error *err);

/* As cf_gpulib_spmm_csr with A in COO (d_row, d_col, d_val: nnz entries, sorted by row);
 * the algorithm is CUSPARSE_SPMM_COO_ALG4 where accepted, else the default, chosen
 * separately from the CSR one. */
cf_status cf_gpulib_spmm_coo(cf_gpulib *h, int64_t rows, int64_t cols, int64_t nnz,
                             const uint32_t *d_row, const uint32_t *d_col, const float *d_val,
                             int64_t n, float alpha, const float *d_B, int64_t ldb, float beta,
                             float *d_C, int64_t ldc, cf_error *err);

/* C = alpha · A · B + beta · C (cublasSgemm, no transposes), column-major: A m × k (lda),
 * B k × n (ldb), C m × n (ldc); beta = 0 overwrites C. tf32 = 0: fp32 products
 * (CUBLAS_PEDANTIC_MATH); tf32 = 1: tensor cores may round A and B to TF32 (10-bit
 * mantissa) with fp32 accumulation (CUBLAS_TF32_TENSOR_OP_MATH). The handle's math mode is
 * back to the default after the call. Invalid value: m, n or k < 0, lda < max(1, m),
 * ldb < max(1, k), ldc < max(1, m). */
cf_status cf_gpulib_sgemm(cf_gpulib *h, int tf32, int m, int n, int k, float alpha,
                          const float *d_A, int lda, const float *d_B, int ldb, float beta,
                          float *d_C, int ldc, cf_error *err);

#endif
