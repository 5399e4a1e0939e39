/*
 * gpulib_sim.c — gpulib.h on the CPU, for the simulation build (CUFACTOR_GPU_SIM): there
 * device memory is host memory, so every d_* pointer (and each pointer inside the
 * batched pointer arrays) is dereferenced directly.
 *
 * Mapping (semantics: src/gpu/gpulib.h, which the CUDA libraries define):
 *   cf_gpulib_spotrf_batched  LAPACKE_spotrf_work(col-major, 'L') per matrix; its info is
 *                             cuSOLVER's: 0, or the order of the first leading minor that
 *                             is not positive; then NaN in the strict upper triangle
 *                             (cuSOLVER's workspace). A NaN pivot: OpenBLAS's spotrf goes
 *                             on (info 0, NaN factors), as cuSOLVER is reported to
 *   cf_gpulib_spotrs_batched  LAPACKE_spotrs_work(col-major, 'L', nrhs 1) per system;
 *                             *d_info = 0
 *   cf_gpulib_spmm_csr / _coo a loop per row: C(i, j) = alpha·acc + beta·C(i, j), acc an
 *                             fp32 sum of fmaf(a_ie, B(col_e, j), acc) over the row's
 *                             entries in storage order (CSR order, or COO order, which is
 *                             sorted by row). fp32 and fused multiply-adds, as on the GPU,
 *                             so that fp32 rounding shows in the simulation as it would
 *                             there (the summation order of cuSPARSE itself is not
 *                             documented; tests compare with a tolerance). beta = 0: C is
 *                             not read.
 *   cf_gpulib_sgemm           cblas_sgemm(col-major, N, N); with tf32 = 1 the inputs are
 *                             first rounded to TF32 (10-bit mantissa, round to nearest,
 *                             ties away from zero: cvt.rna.tf32.f32, what the tensor-core
 *                             path of cuBLAS rounds with) into copies, then multiplied in
 *                             fp32; beta = 0: C is zeroed first, so NaN there is
 *                             overwritten.
 * Stream ordering: each operation first calls cudaStreamSynchronize(stream) (the
 * simulation runtime runs everything queued before) and then computes at once, so its
 * results are ready on return, which satisfies "ready once the stream is synchronized".
 *
 * Errors: the message shapes and status strings of the real libraries ("invalid value",
 * cuBLAS's "an unsupported value or parameter was passed to the function") for the
 * argument checks they make, done before the synchronization as they are done at the
 * call there. The simulation also refuses, after the synchronization (it must read the
 * data), what is undefined behaviour in cuSPARSE and cuSOLVER: offsets or indices out of
 * range, COO rows not sorted, NULL matrix pointers in a batch.
 */
#include "../gpu/gpulib.h"

#include "common.h"

#include <cblas.h>
#include <lapacke.h>

#include <cuda_runtime_api.h>

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cf_gpulib {
    cudaStream_t stream;
};

/* Status strings of the real libraries (cusparseGetErrorString, cublasGetStatusString,
 * gpulib_cuda.c's cuSOLVER names). */
#define S_INVALID "invalid value"
#define S_CUBLAS_INVALID "an unsupported value or parameter was passed to the function"
#define S_CUBLAS_ALLOC "the resource allocation failed"
#define S_CUSPARSE_ALLOC "insufficient resources"

/* "<what> failed: <status> (file:line)" into err, CF_ERR_DEVICE; returns that status. */
#define LIB_FAIL(status_str, ...) lib_fail(err, status_str, __FILE__, __LINE__, __VA_ARGS__)

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static cf_status lib_fail(cf_error *err, const char *status_str, const char *file, int line,
                          const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cf_fail(err, CF_ERR_DEVICE, "%s failed: %s (%s:%d)", what, status_str, file, line);
}

/* The stream's queued work first (see the file comment). */
static cf_status sync_stream(cf_gpulib *h, cf_error *err) {
    cudaError_t e = cudaStreamSynchronize(h->stream);
    if (e != cudaSuccess)
        return LIB_FAIL(cudaGetErrorString(e), "cudaStreamSynchronize (before a simulated library call)");
    return CF_OK;
}

cf_status cf_gpulib_create(cudaStream_t stream, cf_gpulib **out, cf_error *err) {
    if (!out) return cf_fail(err, CF_ERR_INVALID, "gpulib create: out is NULL");
    *out = NULL;
    cf_gpulib *h = cf_calloc(1, sizeof *h, err, "GPU library handles (simulated)");
    if (!h) return CF_ERR_NOMEM;
    h->stream = stream;
    *out = h;
    return CF_OK;
}

void cf_gpulib_destroy(cf_gpulib **hp) {
    if (!hp || !*hp) return;
    free(*hp);
    *hp = NULL;
}

size_t cf_gpulib_workspace_bytes(const cf_gpulib *h) {
    (void)h;
    return 0; /* the CPU loops need none */
}

/* ------------------------------------------------------------------ cuSOLVER */

cf_status cf_gpulib_spotrf_batched(cf_gpulib *h, int n, float *const *d_A, int lda, int *d_info,
                                   int batch, cf_error *err) {
    cf_status st;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib spotrf_batched: handle is NULL");
    if (n < 0 || lda < (n > 1 ? n : 1) || batch < 1 || !d_A || !d_info)
        return LIB_FAIL(S_INVALID, "cusolverDnSpotrfBatched(lower, n %d, lda %d, batch %d)", n, lda,
                        batch);
    if ((st = sync_stream(h, err))) return st;
    for (int b = 0; b < batch; b++)
        if (!d_A[b])
            return LIB_FAIL(S_INVALID,
                            "cusolverDnSpotrfBatched(lower, n %d, lda %d, batch %d): matrix %d is NULL",
                            n, lda, batch, b);
    /* A_b = L_b L_bᵀ in place; info = order of the first non-positive leading minor. The
     * strict upper triangle is cuSOLVER's workspace ("destroyed after potrfBatched"):
     * NaN here, so that a caller relying on it fails in the simulation too. */
    for (int b = 0; b < batch; b++) {
        d_info[b] = (int)LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'L', n, d_A[b], lda);
        for (int j = 1; j < n; j++)
            for (int i = 0; i < j; i++) d_A[b][i + (size_t)j * (size_t)lda] = NAN;
    }
    return CF_OK;
}

cf_status cf_gpulib_spotrs_batched(cf_gpulib *h, int n, float *const *d_A, int lda,
                                   float *const *d_B, int ldb, int *d_info, int batch,
                                   cf_error *err) {
    cf_status st;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib spotrs_batched: handle is NULL");
    if (n < 0 || lda < (n > 1 ? n : 1) || ldb < (n > 1 ? n : 1) || batch < 0 ||
        (batch > 0 && (!d_A || !d_B)) || !d_info)
        return LIB_FAIL(S_INVALID,
                        "cusolverDnSpotrsBatched(lower, n %d, nrhs 1, lda %d, ldb %d, batch %d)", n,
                        lda, ldb, batch);
    if ((st = sync_stream(h, err))) return st;
    for (int b = 0; b < batch; b++)
        if (!d_A[b] || !d_B[b])
            return LIB_FAIL(S_INVALID,
                            "cusolverDnSpotrsBatched(lower, n %d, nrhs 1, lda %d, ldb %d, batch %d): "
                            "system %d has a NULL pointer",
                            n, lda, ldb, batch, b);
    /* x_b = L_b⁻ᵀ L_b⁻¹ B_b in place (forward then backward substitution); a system whose
     * factorization failed gets whatever the incomplete factor gives, as on the GPU. */
    for (int b = 0; b < batch; b++)
        (void)LAPACKE_spotrs_work(LAPACK_COL_MAJOR, 'L', n, 1, d_A[b], lda, d_B[b], ldb);
    *d_info = 0;
    return CF_OK;
}

/* ------------------------------------------------------------------ cuSPARSE */

/* The checks cusparseCreateCsr / cusparseCreateCoo and cusparseCreateDnMat make; d_rows
 * (CSR offsets, COO row indices) must not be NULL where need_rows. */
static cf_status spmm_check_sizes(const char *create, int64_t rows, int64_t cols, int64_t nnz,
                                  int64_t n, const void *d_rows, int need_rows, const void *d_col,
                                  const void *d_val, const float *d_B, int64_t ldb,
                                  const float *d_C, int64_t ldc, cf_error *err) {
    if (rows < 0 || cols < 0 || nnz < 0 || rows > INT32_MAX || cols > INT32_MAX ||
        nnz > INT32_MAX || (need_rows && !d_rows) || (nnz > 0 && (!d_col || !d_val)))
        return LIB_FAIL(S_INVALID, "%s(%lld × %lld, nnz %lld, 32-bit)", create, (long long)rows,
                        (long long)cols, (long long)nnz);
    if (n < 0 || n > INT32_MAX || ldb < n || (cols > 0 && n > 0 && !d_B))
        return LIB_FAIL(S_INVALID, "cusparseCreateDnMat(B %lld × %lld, row-major, ld %lld)",
                        (long long)cols, (long long)n, (long long)ldb);
    if (ldc < n || (rows > 0 && n > 0 && !d_C))
        return LIB_FAIL(S_INVALID, "cusparseCreateDnMat(C %lld × %lld, row-major, ld %lld)",
                        (long long)rows, (long long)n, (long long)ldc);
    return CF_OK;
}

/* Row i of C from the entries [e0, e1) of row i (columns col[], values val[]): fp32 sums in
 * storage order, then alpha·acc + beta·C. `acc` has n floats. */
static void spmm_row(int64_t e0, int64_t e1, const uint32_t *col, const float *val, int64_t n,
                     float alpha, const float *B, int64_t ldb, float beta, float *C_row,
                     float *acc) {
    for (int64_t j = 0; j < n; j++) acc[j] = 0.0f;
    for (int64_t e = e0; e < e1; e++) {
        const float a = val[e];
        const float *b_row = B + (size_t)col[e] * (size_t)ldb;
        for (int64_t j = 0; j < n; j++) acc[j] = fmaf(a, b_row[j], acc[j]);
    }
    for (int64_t j = 0; j < n; j++)
        C_row[j] = beta == 0.0f ? alpha * acc[j] : alpha * acc[j] + beta * C_row[j];
}

static float *spmm_acc(int64_t n) { return malloc(((size_t)n + 1) * sizeof(float)); }

cf_status cf_gpulib_spmm_csr(cf_gpulib *h, int64_t rows, int64_t cols, int64_t nnz,
                             const int32_t *d_off, const uint32_t *d_col, const float *d_val,
                             int64_t n, float alpha, const float *d_B, int64_t ldb, float beta,
                             float *d_C, int64_t ldc, cf_error *err) {
    cf_status st;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib spmm_csr: handle is NULL");
    if ((st = spmm_check_sizes("cusparseCreateCsr", rows, cols, nnz, n, d_off, rows > 0, d_col,
                               d_val, d_B, ldb, d_C, ldc, err)))
        return st;
    if ((st = sync_stream(h, err))) return st;
    /* The structure (undefined behaviour in cuSPARSE where wrong). */
    if (rows > 0 && (d_off[0] != 0 || d_off[rows] != nnz))
        return LIB_FAIL(S_INVALID, "cusparseSpMM(CSR %lld × %lld, nnz %lld): offsets run %d..%d",
                        (long long)rows, (long long)cols, (long long)nnz, d_off[0], d_off[rows]);
    for (int64_t i = 0; i < rows; i++)
        if (d_off[i + 1] < d_off[i])
            return LIB_FAIL(S_INVALID, "cusparseSpMM(CSR %lld × %lld, nnz %lld): offset %lld decreases",
                            (long long)rows, (long long)cols, (long long)nnz, (long long)i + 1);
    for (int64_t e = 0; e < nnz; e++)
        if ((int64_t)d_col[e] >= cols)
            return LIB_FAIL(S_INVALID, "cusparseSpMM(CSR %lld × %lld, nnz %lld): column %u at entry %lld",
                            (long long)rows, (long long)cols, (long long)nnz, d_col[e], (long long)e);
    float *acc = spmm_acc(n);
    if (!acc)
        return LIB_FAIL(S_CUSPARSE_ALLOC, "cusparseSpMM(CSR %lld × %lld, nnz %lld)", (long long)rows,
                        (long long)cols, (long long)nnz);
    for (int64_t i = 0; i < rows; i++)
        spmm_row(d_off[i], d_off[i + 1], d_col, d_val, n, alpha, d_B, ldb, beta,
                 d_C + (size_t)i * (size_t)ldc, acc);
    free(acc);
    return CF_OK;
}

cf_status cf_gpulib_spmm_coo(cf_gpulib *h, int64_t rows, int64_t cols, int64_t nnz,
                             const uint32_t *d_row, const uint32_t *d_col, const float *d_val,
                             int64_t n, float alpha, const float *d_B, int64_t ldb, float beta,
                             float *d_C, int64_t ldc, cf_error *err) {
    cf_status st;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib spmm_coo: handle is NULL");
    if ((st = spmm_check_sizes("cusparseCreateCoo", rows, cols, nnz, n, d_row, nnz > 0, d_col,
                               d_val, d_B, ldb, d_C, ldc, err)))
        return st;
    if ((st = sync_stream(h, err))) return st;
    for (int64_t e = 0; e < nnz; e++)
        if ((int64_t)d_row[e] >= rows || (int64_t)d_col[e] >= cols || (e > 0 && d_row[e] < d_row[e - 1]))
            return LIB_FAIL(S_INVALID,
                            "cusparseSpMM(COO %lld × %lld, nnz %lld): entry %lld at (%u, %u)%s",
                            (long long)rows, (long long)cols, (long long)nnz, (long long)e, d_row[e],
                            d_col[e], (e > 0 && d_row[e] < d_row[e - 1]) ? ", rows not sorted" : "");
    float *acc = spmm_acc(n);
    if (!acc)
        return LIB_FAIL(S_CUSPARSE_ALLOC, "cusparseSpMM(COO %lld × %lld, nnz %lld)", (long long)rows,
                        (long long)cols, (long long)nnz);
    /* Rows in order; row i's entries are the run [e0, e1) with d_row = i (sorted). */
    int64_t e0 = 0;
    for (int64_t i = 0; i < rows; i++) {
        int64_t e1 = e0;
        while (e1 < nnz && (int64_t)d_row[e1] == i) e1++;
        spmm_row(e0, e1, d_col, d_val, n, alpha, d_B, ldb, beta, d_C + (size_t)i * (size_t)ldc, acc);
        e0 = e1;
    }
    free(acc);
    return CF_OK;
}

/* ------------------------------------------------------------------ cuBLAS */

/* x rounded to TF32 (8-bit exponent, 10-bit mantissa): round to nearest, ties away from
 * zero, in the bits (cvt.rna.tf32.f32); Inf and NaN unchanged. */
static float round_tf32(float x) {
    if (!isfinite(x)) return x;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u += 0x1000u;     /* half of the 13 dropped bits' unit: a carry rounds the magnitude up */
    u &= 0xffffe000u; /* keep sign, exponent and the top 10 mantissa bits */
    memcpy(&x, &u, sizeof x);
    return x;
}

/* rows × cols column-major src (ld) rounded to TF32 into a tight copy (ld = max(1, rows)). */
static float *tf32_copy(const float *src, int rows, int cols, int ld) {
    const size_t tight = (size_t)(rows > 1 ? rows : 1);
    float *dst = malloc(tight * (size_t)(cols > 0 ? cols : 1) * sizeof(float));
    if (!dst) return NULL;
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++)
            dst[(size_t)i + (size_t)j * tight] = round_tf32(src[(size_t)i + (size_t)j * (size_t)ld]);
    return dst;
}

cf_status cf_gpulib_sgemm(cf_gpulib *h, int tf32, int m, int n, int k, float alpha,
                          const float *d_A, int lda, const float *d_B, int ldb, float beta,
                          float *d_C, int ldc, cf_error *err) {
    cf_status st;
    if (!h) return cf_fail(err, CF_ERR_INVALID, "gpulib sgemm: handle is NULL");
    const char *mode = tf32 ? "TF32_TENSOR_OP_MATH" : "PEDANTIC_MATH";
    if (m < 0 || n < 0 || k < 0 || lda < (m > 1 ? m : 1) || ldb < (k > 1 ? k : 1) ||
        ldc < (m > 1 ? m : 1))
        return LIB_FAIL(S_CUBLAS_INVALID,
                        "cublasSgemm(N, N, m %d, n %d, k %d, lda %d, ldb %d, ldc %d, %s)",
                        m, n, k, lda, ldb, ldc, mode);
    if ((st = sync_stream(h, err))) return st;
    if (m == 0 || n == 0) return CF_OK;
    if (beta == 0.0f) /* C is output only: NaN there must not survive 0·NaN */
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) d_C[(size_t)i + (size_t)j * (size_t)ldc] = 0.0f;
    const float *A = d_A, *B = d_B;
    float *A_t = NULL, *B_t = NULL;
    int lda_use = lda, ldb_use = ldb;
    if (tf32 && k > 0) {
        A_t = tf32_copy(d_A, m, k, lda);
        B_t = tf32_copy(d_B, k, n, ldb);
        if (!A_t || !B_t) {
            free(A_t), free(B_t);
            return LIB_FAIL(S_CUBLAS_ALLOC, "cublasSgemm(N, N, m %d, n %d, k %d, %s)", m, n, k, mode);
        }
        A = A_t, B = B_t;
        lda_use = m > 1 ? m : 1, ldb_use = k > 1 ? k : 1;
    }
    /* C = alpha · A · B + beta · C, fp32 (OpenBLAS). */
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, A, lda_use, B, ldb_use,
                beta, d_C, ldc);
    free(A_t), free(B_t);
    return CF_OK;
}
