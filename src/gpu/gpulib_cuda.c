/*
 * gpulib_cuda.c — gpulib.h over cuBLAS, cuSOLVER and cuSPARSE: the only file of the
 * project that includes their headers. One handle of each library, all bound to the
 * caller's stream, plus the SpMM algorithm choice and workspace.
 *
 * Mapping (semantics: gpulib.h):
 *   cf_gpulib_spotrf_batched  cusolverDnSpotrfBatched(lower)
 *   cf_gpulib_spotrs_batched  cusolverDnSpotrsBatched(lower, nrhs 1)
 *   cf_gpulib_spmm_csr / _coo cusparseCreateCsr / cusparseCreateCoo (32-bit, zero-based,
 *                             fp32) + two row-major cusparseCreateDnMat,
 *                             cusparseSpMM_bufferSize, cusparseSpMM (opA = opB =
 *                             NON_TRANSPOSE, host alpha/beta, compute type fp32)
 *   cf_gpulib_sgemm           cublasSetMathMode + cublasSgemm(N, N) + default mode back
 *
 * SpMM algorithm: per sparse format, at the first product of the handle, CSR_ALG2 / COO_ALG4
 * (documented for row-major dense operands) if cusparseSpMM_bufferSize accepts it, else
 * CUSPARSE_SPMM_ALG_DEFAULT; a CUSPARSE_STATUS_NOT_SUPPORTED from cusparseSpMM itself with
 * the preferred algorithm also switches that format to the default, from then on. Neither
 * CSR_ALG2 nor COO_ALG4 is documented as bitwise deterministic run to run (CSR_ALG3 and
 * COO_ALG2 are): GD and mini-batch results on the GPU may differ in the last bits between
 * runs (gd.c); ALS uses no SpMM.
 * The workspace grows to the largest bufferSize asked for; the stream is synchronized
 * before a smaller buffer is freed, since queued products may still use it.
 */
#include "gpulib.h"

#include "common.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cusolverDn.h>
#include <cusparse.h>

#include <stdio.h>
#include <stdlib.h>

struct cf_gpulib {
    cudaStream_t stream;
    cublasHandle_t cublas;
    cusolverDnHandle_t cusolver;
    cusparseHandle_t cusparse;
    cusparseSpMMAlg_t spmm_alg[2]; /* per format: 0 CSR, 1 COO */
    int spmm_alg_set[2];
    void *d_buf;                   /* SpMM workspace */
    size_t buf_bytes;
};

static const char *cusolver_status_string(cusolverStatus_t s) {
    switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "success";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUSOLVER_STATUS_INVALID_VALUE: return "invalid value";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "internal error";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "matrix type not supported";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "not supported";
    default: break;
    }
    return "unknown cuSOLVER status";
}

/* "<what> failed: <status> (file:line)" into err, CF_ERR_DEVICE, jump to cleanup. `what`
 * is a format with its arguments: the call and its sizes. */
#define LIB_FAIL(status_str, ...)                                                           \
    do {                                                                                    \
        char what_[256];                                                                    \
        snprintf(what_, sizeof what_, __VA_ARGS__);                                         \
        st = cf_fail(err, CF_ERR_DEVICE, "%s failed: %s (%s:%d)", what_, status_str,        \
                     __FILE__, __LINE__);                                                   \
        goto cleanup;                                                                       \
    } while (0)

#define CHECK_CUDA(call, ...)                                                               \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess) LIB_FAIL(cudaGetErrorString(e_), __VA_ARGS__);               \
    } while (0)
#define CHECK_CUBLAS(call, ...)                                                             \
    do {                                                                                    \
        cublasStatus_t s_ = (call);                                                         \
        if (s_ != CUBLAS_STATUS_SUCCESS) LIB_FAIL(cublasGetStatusString(s_), __VA_ARGS__);  \
    } while (0)
#define CHECK_CUSOLVER(call, ...)                                                           \
    do {                                                                                    \
        cusolverStatus_t s_ = (call);                                                       \
        if (s_ != CUSOLVER_STATUS_SUCCESS) LIB_FAIL(cusolver_status_string(s_), __VA_ARGS__); \
    } while (0)
#define CHECK_CUSPARSE(call, ...)                                                           \
    do {                                                                                    \
        cusparseStatus_t s_ = (call);                                                       \
        if (s_ != CUSPARSE_STATUS_SUCCESS) LIB_FAIL(cusparseGetErrorString(s_), __VA_ARGS__); \
    } while (0)

cf_status cf_gpulib_create(cudaStream_t stream, cf_gpulib **out, cf_error *err) {
    cf_status st = CF_OK;
    if (!out) return cf_fail(err, CF_ERR_INVALID, "gpulib create: out is NULL");
    *out = NULL;
    cf_gpulib *h = cf_calloc(1, sizeof *h, err, "GPU library handles");
    if (!h) return CF_ERR_NOMEM;
    h->stream = stream;
    CHECK_CUBLAS(cublasCreate(&h->cublas), "cublasCreate");
    CHECK_CUBLAS(cublasSetStream(h->cublas, stream), "cublasSetStream");
    CHECK_CUSOLVER(cusolverDnCreate(&h->cusolver), "cusolverDnCreate");
    CHECK_CUSOLVER(cusolverDnSetStream(h->cusolver, stream), "cusolverDnSetStream");
    CHECK_CUSPARSE(cusparseCreate(&h->cusparse), "cusparseCreate");
    CHECK_CUSPARSE(cusparseSetStream(h->cusparse, stream), "cusparseSetStream");
    *out = h;
    return CF_OK;
cleanup:
    cf_gpulib_destroy(&h);
    return st;
}

void cf_gpulib_destroy(cf_gpulib **hp) {
    cf_gpulib *h = hp ? *hp : NULL;
    if (!h) return;
    /* Errors are ignored here: destroy must release what it can. */
    if (h->d_buf) cudaFree(h->d_buf);
    if (h->cusparse) cusparseDestroy(h->cusparse);
    if (h->cusolver) cusolverDnDestroy(h->cusolver);
    if (h->cublas) cublasDestroy(h->cublas);
    free(h);
    *hp = NULL;
}

size_t cf_gpulib_workspace_bytes(const cf_gpulib *h) { return h ? h->buf_bytes : 0; }

cf_status cf_gpulib_spotrf_batched(cf_gpulib *h, int n, float *const *d_A, int lda, int *d_info,
                                   int batch, cf_error *err) {
    cf_status st = CF_OK;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib spotrf_batched: handle is NULL");
    /* cuSOLVER's prototype takes float *Aarray[]; it does not write the pointers. */
    CHECK_CUSOLVER(cusolverDnSpotrfBatched(h->cusolver, CUBLAS_FILL_MODE_LOWER, n, (float **)d_A,
                                           lda, d_info, batch),
                   "cusolverDnSpotrfBatched(lower, n %d, lda %d, batch %d)", n, lda, batch);
cleanup:
    return st;
}

cf_status cf_gpulib_spotrs_batched(cf_gpulib *h, int n, float *const *d_A, int lda,
                                   float *const *d_B, int ldb, int *d_info, int batch,
                                   cf_error *err) {
    cf_status st = CF_OK;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib spotrs_batched: handle is NULL");
    CHECK_CUSOLVER(cusolverDnSpotrsBatched(h->cusolver, CUBLAS_FILL_MODE_LOWER, n, 1, (float **)d_A,
                                           lda, (float **)d_B, ldb, d_info, batch),
                   "cusolverDnSpotrsBatched(lower, n %d, nrhs 1, lda %d, ldb %d, batch %d)", n,
                   lda, ldb, batch);
cleanup:
    return st;
}

static cf_status grow_buffer(cf_gpulib *h, size_t need, cf_error *err) {
    cf_status st = CF_OK;
    if (need <= h->buf_bytes) return CF_OK;
    CHECK_CUDA(cudaStreamSynchronize(h->stream),
               "cudaStreamSynchronize (before growing the SpMM workspace)");
    if (h->d_buf) cudaFree(h->d_buf);
    h->d_buf = NULL, h->buf_bytes = 0;
    cudaError_t e = cudaMalloc(&h->d_buf, need);
    if (e != cudaSuccess) {
        h->d_buf = NULL;
        (void)cudaGetLastError();
        LIB_FAIL(cudaGetErrorString(e), "cudaMalloc(%zu bytes) for SpMM workspace", need);
    }
    h->buf_bytes = need;
cleanup:
    return st;
}

/* C = alpha·A·B + beta·C for a sparse descriptor A of format fmt (0 CSR, 1 COO). */
static cf_status spmm(cf_gpulib *h, int fmt, cusparseSpMatDescr_t A, int64_t rows, int64_t cols,
                      int64_t nnz, int64_t n, float alpha, const float *d_B, int64_t ldb,
                      float beta, float *d_C, int64_t ldc, cf_error *err) {
    cf_status st = CF_OK;
    cusparseDnMatDescr_t mB = NULL, mC = NULL;
    const cusparseOperation_t N = CUSPARSE_OPERATION_NON_TRANSPOSE;
    const char *fmt_name = fmt ? "COO" : "CSR";
    size_t need = 0;
    CHECK_CUSPARSE(cusparseCreateDnMat(&mB, cols, n, ldb, (void *)d_B, CUDA_R_32F, CUSPARSE_ORDER_ROW),
                   "cusparseCreateDnMat(B %lld × %lld, row-major, ld %lld)", (long long)cols,
                   (long long)n, (long long)ldb);
    CHECK_CUSPARSE(cusparseCreateDnMat(&mC, rows, n, ldc, d_C, CUDA_R_32F, CUSPARSE_ORDER_ROW),
                   "cusparseCreateDnMat(C %lld × %lld, row-major, ld %lld)", (long long)rows,
                   (long long)n, (long long)ldc);
    if (!h->spmm_alg_set[fmt]) {
        /* The algorithm documented for row-major dense operands, where this cuSPARSE's
         * bufferSize accepts it for these operands; else the default. */
        const cusparseSpMMAlg_t want = fmt ? CUSPARSE_SPMM_COO_ALG4 : CUSPARSE_SPMM_CSR_ALG2;
        cusparseStatus_t s = cusparseSpMM_bufferSize(h->cusparse, N, N, &alpha, A, mB, &beta, mC,
                                                     CUDA_R_32F, want, &need);
        h->spmm_alg[fmt] = s == CUSPARSE_STATUS_SUCCESS ? want : CUSPARSE_SPMM_ALG_DEFAULT;
        h->spmm_alg_set[fmt] = 1;
    }
    for (;;) {
        const cusparseSpMMAlg_t alg = h->spmm_alg[fmt];
        const char *alg_name = alg == CUSPARSE_SPMM_ALG_DEFAULT ? "ALG_DEFAULT"
                               : fmt                            ? "COO_ALG4"
                                                                : "CSR_ALG2";
        CHECK_CUSPARSE(cusparseSpMM_bufferSize(h->cusparse, N, N, &alpha, A, mB, &beta, mC,
                                               CUDA_R_32F, alg, &need),
                       "cusparseSpMM_bufferSize(%s %lld × %lld, nnz %lld, n %lld, %s)", fmt_name,
                       (long long)rows, (long long)cols, (long long)nnz, (long long)n, alg_name);
        if ((st = grow_buffer(h, need, err))) goto cleanup;
        cusparseStatus_t s = cusparseSpMM(h->cusparse, N, N, &alpha, A, mB, &beta, mC, CUDA_R_32F,
                                          alg, h->d_buf);
        /* A cuSPARSE whose bufferSize accepts the preferred algorithm but whose SpMM refuses
         * it for these operands: the default algorithm, from then on. */
        if (s == CUSPARSE_STATUS_NOT_SUPPORTED && alg != CUSPARSE_SPMM_ALG_DEFAULT) {
            h->spmm_alg[fmt] = CUSPARSE_SPMM_ALG_DEFAULT;
            continue;
        }
        if (s != CUSPARSE_STATUS_SUCCESS)
            LIB_FAIL(cusparseGetErrorString(s),
                     "cusparseSpMM(%s %lld × %lld, nnz %lld, · row-major %lld × %lld ld %lld → ld "
                     "%lld, %s)",
                     fmt_name, (long long)rows, (long long)cols, (long long)nnz, (long long)cols,
                     (long long)n, (long long)ldb, (long long)ldc, alg_name);
        break;
    }
cleanup:
    if (mB) cusparseDestroyDnMat(mB);
    if (mC) cusparseDestroyDnMat(mC);
    return st;
}

cf_status cf_gpulib_spmm_csr(cf_gpulib *h, int64_t rows, int64_t cols, int64_t nnz,
                             const int32_t *d_off, const uint32_t *d_col, const float *d_val,
                             int64_t n, float alpha, const float *d_B, int64_t ldb, float beta,
                             float *d_C, int64_t ldc, cf_error *err) {
    cf_status st = CF_OK;
    cusparseSpMatDescr_t A = NULL;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib spmm_csr: handle is NULL");
    CHECK_CUSPARSE(cusparseCreateCsr(&A, rows, cols, nnz, (void *)d_off, (void *)d_col, (void *)d_val,
                                     CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                                     CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F),
                   "cusparseCreateCsr(%lld × %lld, nnz %lld, 32-bit)", (long long)rows,
                   (long long)cols, (long long)nnz);
    st = spmm(h, 0, A, rows, cols, nnz, n, alpha, d_B, ldb, beta, d_C, ldc, err);
cleanup:
    if (A) cusparseDestroySpMat(A);
    return st;
}

cf_status cf_gpulib_spmm_coo(cf_gpulib *h, int64_t rows, int64_t cols, int64_t nnz,
                             const uint32_t *d_row, const uint32_t *d_col, const float *d_val,
                             int64_t n, float alpha, const float *d_B, int64_t ldb, float beta,
                             float *d_C, int64_t ldc, cf_error *err) {
    cf_status st = CF_OK;
    cusparseSpMatDescr_t A = NULL;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib spmm_coo: handle is NULL");
    CHECK_CUSPARSE(cusparseCreateCoo(&A, rows, cols, nnz, (void *)d_row, (void *)d_col, (void *)d_val,
                                     CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F),
                   "cusparseCreateCoo(%lld × %lld, nnz %lld, 32-bit)", (long long)rows,
                   (long long)cols, (long long)nnz);
    st = spmm(h, 1, A, rows, cols, nnz, n, alpha, d_B, ldb, beta, d_C, ldc, err);
cleanup:
    if (A) cusparseDestroySpMat(A);
    return st;
}

cf_status cf_gpulib_sgemm(cf_gpulib *h, int tf32, int m, int n, int k, float alpha,
                          const float *d_A, int lda, const float *d_B, int ldb, float beta,
                          float *d_C, int ldc, cf_error *err) {
    cf_status st = CF_OK;
    int mode_set = 0;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib sgemm: handle is NULL");
    const char *mode = tf32 ? "TF32_TENSOR_OP_MATH" : "PEDANTIC_MATH";
    CHECK_CUBLAS(cublasSetMathMode(h->cublas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH),
                 "cublasSetMathMode(%s)", mode);
    mode_set = 1;
    CHECK_CUBLAS(cublasSgemm(h->cublas, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, d_A, lda, d_B, ldb,
                             &beta, d_C, ldc),
                 "cublasSgemm(N, N, m %d, n %d, k %d, lda %d, ldb %d, ldc %d, %s)", m, n, k, lda, ldb,
                 ldc, mode);
cleanup:
    if (mode_set) cublasSetMathMode(h->cublas, CUBLAS_DEFAULT_MATH);
    return st;
}
