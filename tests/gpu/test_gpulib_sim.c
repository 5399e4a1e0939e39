/*
 * test_gpulib_sim.c — src/gpusim/gpulib_sim.c, the CPU implementation of src/gpu/gpulib.h
 * for the simulation build, against straightforward double-precision loops: CSR and COO
 * SpMM (alpha, beta, leading dimensions above the column count, beta = 0 over NaN),
 * batched Cholesky factor + solve (one matrix not positive definite: its info, the
 * others solved, the upper triangles never read and left NaN as cuSOLVER's workspace,
 * the padding rows never touched), SGEMM in fp32 and with TF32 inputs,
 * the argument checks, and the stream ordering (synchronize first, then compute).
 *
 * Build: outside the simulation build, CMake compiles gpulib_sim.c into this test with
 * tests/gpulib_stub/cuda_runtime_api.h and CF_GPULIB_STUB defined; the test then defines
 * cudaStreamSynchronize itself (it runs the test's "queued work" and can fail on
 * request), so the whole file runs in the plain CPU build and in the CUDA build. In the
 * simulation build the library's own gpulib_sim.c and runtime are linked and the
 * stub-only tests are left out.
 *
 * Tolerances (u = 2^-24 ≈ 6e-8, the fp32 unit roundoff; inputs are fp32 values, so the
 * double references see exactly the same data):
 *   - SpMM: C(i, j) is an fp32 sum of the row's L fused products plus alpha·acc + beta·C
 *     (3 roundings); its error is ≤ (L + 3)·u·mag, mag = |alpha|·Σ|a||b| + |beta·C|.
 *     Asserted with a factor 2 on top: |got − ref| ≤ 2·(L + 3)·u·mag. A dropped, doubled
 *     or misplaced term is of the size of mag itself and fails it.
 *   - CSR and COO of the same matrix sum in the same order: bitwise equal. That order is
 *     storage order in fp32: exact expected values where double sums or another order
 *     would round differently (1 + twenty 1e-8 stays 1; twenty 1e-8 + 1 does not).
 *   - Cholesky (n = 7, A = M Mᵀ + n·I, M in [-1, 1): κ(A) ≲ 10): backward error of an
 *     fp32 Cholesky solve ≤ c·n·u with c ≈ 3 (Higham, Thm 10.4), i.e. ≈ 1.3e-6; asserted
 *     ‖b − A x‖∞ / (‖A‖∞ ‖x‖∞) ≤ 1e-5, ‖L Lᵀ − A‖max ≤ 1e-5·‖A‖max, and the forward
 *     error |x − x_ref| ≤ 1e-4·‖x_ref‖∞ (κ·backward error with slack).
 *   - SGEMM fp32: ≤ 2·(k + 3)·u·mag as for SpMM. TF32: exact expected values on inputs
 *     chosen so that each rounding case (down, up, tie away from zero, negative) shows.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gpu/gpulib.h"

static const double U32 = 5.9604644775390625e-08; /* 2^-24 */

/* ------------------------------------------------------------------ the stream stub */

#ifdef CF_GPULIB_STUB
static int n_sync;                    /* calls of cudaStreamSynchronize */
static void (*queued_work)(void);     /* run by the next synchronization, then cleared */
static cudaError_t sync_result = cudaSuccess;

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    (void)stream;
    n_sync++;
    if (sync_result != cudaSuccess) return sync_result;
    if (queued_work) {
        void (*w)(void) = queued_work;
        queued_work = NULL;
        w();
    }
    return cudaSuccess;
}

const char *cudaGetErrorString(cudaError_t error) {
    return error == cudaSuccess              ? "no error"
           : error == cudaErrorLaunchFailure ? "unspecified launch failure"
                                             : "invalid argument";
}
#endif

/* ------------------------------------------------------------------ fixtures */

static cf_gpulib *lib;

static void setup(void) {
    cf_error err = {0};
    cr_assert_eq(cf_gpulib_create(NULL, &lib, &err), CF_OK, "%s", err.msg);
    cr_assert_not_null(lib);
}
static void teardown(void) {
    cf_gpulib_destroy(&lib);
    cr_assert_null(lib, "destroy must null the handle");
}

TestSuite(host_gpulib_sim, .init = setup, .fini = teardown, .timeout = 60);

static float urand(cf_rng *r) { return (float)(2.0 * cf_rng_uniform(r) - 1.0); }

/* A rows × cols sparse matrix in CSR (about `density` of the entries, row `empty_row` with
 * none) and the same in COO, sorted by row and by column within a row. */
typedef struct sparse {
    int64_t rows, cols, nnz;
    int32_t *off;
    uint32_t *row, *col;
    float *val;
} sparse;

static sparse make_sparse(int64_t rows, int64_t cols, double density, int64_t empty_row,
                          uint64_t seed) {
    sparse s = {rows, cols, 0, NULL, NULL, NULL, NULL};
    cf_rng r;
    cf_rng_seed(&r, seed);
    s.off = calloc((size_t)rows + 1, sizeof *s.off);
    s.row = malloc((size_t)(rows * cols) * sizeof *s.row);
    s.col = malloc((size_t)(rows * cols) * sizeof *s.col);
    s.val = malloc((size_t)(rows * cols) * sizeof *s.val);
    cr_assert(s.off && s.row && s.col && s.val);
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t c = 0; c < cols; c++)
            if (i != empty_row && cf_rng_uniform(&r) < density) {
                s.row[s.nnz] = (uint32_t)i, s.col[s.nnz] = (uint32_t)c;
                s.val[s.nnz++] = urand(&r);
            }
        s.off[i + 1] = (int32_t)s.nnz;
    }
    return s;
}

static void free_sparse(sparse *s) { free(s->off), free(s->row), free(s->col), free(s->val); }

static float *rand_floats(size_t n, uint64_t seed) {
    cf_rng r;
    cf_rng_seed(&r, seed);
    float *x = malloc((n + 1) * sizeof *x);
    cr_assert_not_null(x);
    for (size_t j = 0; j < n; j++) x[j] = urand(&r);
    return x;
}

/* Checks C (rows × n, ldc) against alpha·A·B + beta·C0 in double with the SpMM bound of
 * the file comment (beta = 0: C0 not used), and that C's padding columns kept C0's. */
static void check_spmm(const sparse *A, int64_t n, float alpha, const float *B, int64_t ldb,
                       float beta, const float *C0, const float *C, int64_t ldc) {
    double worst = 0.0;
    int64_t wi = -1, wj = -1;
    for (int64_t i = 0; i < A->rows; i++) {
        const int64_t L = A->off[i + 1] - A->off[i];
        for (int64_t j = 0; j < n; j++) {
            double sum = 0.0, mag = 0.0;
            for (int32_t e = A->off[i]; e < A->off[i + 1]; e++) {
                double t = (double)A->val[e] * (double)B[(size_t)A->col[e] * (size_t)ldb + (size_t)j];
                sum += t, mag += fabs(t);
            }
            double ref = (double)alpha * sum, c0 = (double)C0[(size_t)i * (size_t)ldc + (size_t)j];
            mag *= fabs((double)alpha);
            if (beta != 0.0f) ref += (double)beta * c0, mag += fabs((double)beta * c0);
            const double got = (double)C[(size_t)i * (size_t)ldc + (size_t)j];
            const double tol = 2.0 * (double)(L + 3) * U32 * mag;
            cr_assert(isfinite(got) && fabs(got - ref) <= tol,
                      "C(%lld, %lld) = %.9g, reference %.9g (tolerance %.3g, row of %lld entries)",
                      (long long)i, (long long)j, got, ref, tol, (long long)L);
            if (fabs(got - ref) > worst) worst = fabs(got - ref), wi = i, wj = j;
        }
        for (int64_t j = n; j < ldc; j++) /* bitwise: the padding may hold NaN */
            cr_assert(memcmp(&C[(size_t)i * (size_t)ldc + (size_t)j],
                             &C0[(size_t)i * (size_t)ldc + (size_t)j], sizeof(float)) == 0,
                      "padding C(%lld, %lld) was written", (long long)i, (long long)j);
    }
    cr_log_info("SpMM worst |got - ref| %.3g at (%lld, %lld)", worst, (long long)wi, (long long)wj);
}

/* ------------------------------------------------------------------ SpMM */

enum { ROWS = 37, COLS = 23, N = 5, LDB = 8, LDC = 7 };

Test(host_gpulib_sim, spmm_csr_alpha_beta_ld) {
    cf_error err = {0};
    sparse A = make_sparse(ROWS, COLS, 0.3, 4, 11);
    float *B = rand_floats((size_t)COLS * LDB, 12);
    float *C0 = rand_floats((size_t)ROWS * LDC, 13);
    float *C = malloc(sizeof(float) * ROWS * LDC);
    cr_assert(A.nnz > 100 && C);
    memcpy(C, C0, sizeof(float) * ROWS * LDC);
    cr_assert_eq(cf_gpulib_spmm_csr(lib, ROWS, COLS, A.nnz, A.off, A.col, A.val, N, 1.5f, B, LDB,
                                    -0.75f, C, LDC, &err),
                 CF_OK, "%s", err.msg);
    check_spmm(&A, N, 1.5f, B, LDB, -0.75f, C0, C, LDC);
    /* the empty row is beta·C0 */
    for (int j = 0; j < N; j++) cr_assert_eq(C[4 * LDC + j], -0.75f * C0[4 * LDC + j]);
    free_sparse(&A), free(B), free(C0), free(C);
}

Test(host_gpulib_sim, spmm_beta0_overwrites_nan) {
    cf_error err = {0};
    sparse A = make_sparse(ROWS, COLS, 0.3, 9, 21);
    float *B = rand_floats((size_t)COLS * LDB, 22);
    float *C0 = malloc(sizeof(float) * ROWS * LDC), *C = malloc(sizeof(float) * ROWS * LDC);
    cr_assert(C0 && C);
    for (int j = 0; j < ROWS * LDC; j++) C0[j] = NAN;
    for (int fmt = 0; fmt < 2; fmt++) {
        memcpy(C, C0, sizeof(float) * ROWS * LDC);
        cf_status st = fmt ? cf_gpulib_spmm_coo(lib, ROWS, COLS, A.nnz, A.row, A.col, A.val, N, 2.0f, B,
                                                LDB, 0.0f, C, LDC, &err)
                           : cf_gpulib_spmm_csr(lib, ROWS, COLS, A.nnz, A.off, A.col, A.val, N, 2.0f, B,
                                                LDB, 0.0f, C, LDC, &err);
        cr_assert_eq(st, CF_OK, "%s", err.msg);
        /* every C(i, j), j < N, is finite and right (the empty row 0), padding still NaN */
        check_spmm(&A, N, 2.0f, B, LDB, 0.0f, C0, C, LDC);
        for (int j = 0; j < N; j++) cr_assert_eq(C[9 * LDC + j], 0.0f);
        cr_assert(isnan(C[LDC - 1]), "padding must stay untouched");
    }
    free_sparse(&A), free(B), free(C0), free(C);
}

Test(host_gpulib_sim, spmm_coo_matches_reference_and_csr_bitwise) {
    cf_error err = {0};
    sparse A = make_sparse(ROWS, COLS, 0.4, ROWS - 1, 31); /* the last row empty */
    float *B = rand_floats((size_t)COLS * LDB, 32);
    float *C0 = rand_floats((size_t)ROWS * LDC, 33);
    float *Cc = malloc(sizeof(float) * ROWS * LDC), *Co = malloc(sizeof(float) * ROWS * LDC);
    cr_assert(Cc && Co);
    memcpy(Cc, C0, sizeof(float) * ROWS * LDC), memcpy(Co, C0, sizeof(float) * ROWS * LDC);
    cr_assert_eq(cf_gpulib_spmm_coo(lib, ROWS, COLS, A.nnz, A.row, A.col, A.val, N, -1.25f, B, LDB,
                                    0.5f, Co, LDC, &err),
                 CF_OK, "%s", err.msg);
    check_spmm(&A, N, -1.25f, B, LDB, 0.5f, C0, Co, LDC);
    cr_assert_eq(cf_gpulib_spmm_csr(lib, ROWS, COLS, A.nnz, A.off, A.col, A.val, N, -1.25f, B, LDB,
                                    0.5f, Cc, LDC, &err),
                 CF_OK, "%s", err.msg);
    cr_assert(memcmp(Cc, Co, sizeof(float) * ROWS * LDC) == 0,
              "CSR and COO sum in the same order: results must be bitwise equal");
    free_sparse(&A), free(B), free(C0), free(Cc), free(Co);
}

/* The sums are fp32 in storage order (not double, not reordered): 1 followed by twenty
 * 1e-8 stays 1 (each 1e-8 is below half an ulp of 1), twenty 1e-8 followed by 1 is not. */
Test(host_gpulib_sim, spmm_sums_in_fp32_in_storage_order) {
    cf_error err = {0};
    enum { T = 21 };
    int32_t off[3] = {0, T, 2 * T};
    uint32_t row[2 * T], col[2 * T];
    float val[2 * T], B[1] = {1.0f}, C[2];
    for (int e = 0; e < 2 * T; e++) row[e] = e < T ? 0 : 1, col[e] = 0, val[e] = 1e-8f;
    val[0] = 1.0f, val[2 * T - 1] = 1.0f;
    for (int fmt = 0; fmt < 2; fmt++) {
        C[0] = C[1] = NAN;
        cf_status st =
            fmt ? cf_gpulib_spmm_coo(lib, 2, 1, 2 * T, row, col, val, 1, 1.0f, B, 1, 0.0f, C, 1, &err)
                : cf_gpulib_spmm_csr(lib, 2, 1, 2 * T, off, col, val, 1, 1.0f, B, 1, 0.0f, C, 1, &err);
        cr_assert_eq(st, CF_OK, "%s", err.msg);
        cr_assert_eq(C[0], 1.0f, "%s: 1 + 20·1e-8 in fp32 in order is 1, got %a", fmt ? "COO" : "CSR", (double)C[0]);
        cr_assert(C[1] > 1.0f + 1e-7f, "%s: 20·1e-8 + 1 is 1 + 2e-7 to fp32 precision, got %a", fmt ? "COO" : "CSR",
                  (double)C[1]);
    }
}

Test(host_gpulib_sim, spmm_refuses_what_cusparse_refuses) {
    cf_error err = {0};
    sparse A = make_sparse(ROWS, COLS, 0.3, -1, 41);
    float *B = rand_floats((size_t)COLS * LDB, 42);
    float *C = rand_floats((size_t)ROWS * LDC, 43);
    float *C0 = malloc(sizeof(float) * ROWS * LDC);
    cr_assert_not_null(C0);
    memcpy(C0, C, sizeof(float) * ROWS * LDC);
    /* ldc < n: cusparseCreateDnMat refuses a row-major matrix whose ld is below its columns */
    cr_assert_eq(cf_gpulib_spmm_csr(lib, ROWS, COLS, A.nnz, A.off, A.col, A.val, N, 1.0f, B, LDB, 0.0f,
                                    C, N - 1, &err),
                 CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "cusparseCreateDnMat(C") && strstr(err.msg, "failed: invalid value"), "%s",
              err.msg);
    cr_assert_eq(cf_gpulib_spmm_coo(lib, ROWS, COLS, A.nnz, A.row, A.col, A.val, N, 1.0f, B, 2, 0.0f, C,
                                    LDC, &err),
                 CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "cusparseCreateDnMat(B") && strstr(err.msg, "invalid value"), "%s", err.msg);
    cr_assert_eq(cf_gpulib_spmm_csr(lib, -1, COLS, A.nnz, A.off, A.col, A.val, N, 1.0f, B, LDB, 0.0f, C,
                                    LDC, &err),
                 CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "cusparseCreateCsr(") && strstr(err.msg, "invalid value"), "%s", err.msg);
    /* a column index ≥ cols (undefined in cuSPARSE, refused here) */
    uint32_t saved = A.col[5];
    A.col[5] = COLS;
    cr_assert_eq(cf_gpulib_spmm_csr(lib, ROWS, COLS, A.nnz, A.off, A.col, A.val, N, 1.0f, B, LDB, 0.0f,
                                    C, LDC, &err),
                 CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "cusparseSpMM(CSR") && strstr(err.msg, "invalid value"), "%s", err.msg);
    A.col[5] = saved;
    /* offsets that do not end at nnz */
    cr_assert_eq(cf_gpulib_spmm_csr(lib, ROWS, COLS, A.nnz - 1, A.off, A.col, A.val, N, 1.0f, B, LDB,
                                    0.0f, C, LDC, &err),
                 CF_ERR_DEVICE);
    /* COO rows out of order */
    uint32_t r0 = A.row[0];
    A.row[0] = A.row[A.nnz - 1];
    cr_assert_eq(cf_gpulib_spmm_coo(lib, ROWS, COLS, A.nnz, A.row, A.col, A.val, N, 1.0f, B, LDB, 0.0f,
                                    C, LDC, &err),
                 CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "rows not sorted"), "%s", err.msg);
    A.row[0] = r0;
    cr_assert(memcmp(C, C0, sizeof(float) * ROWS * LDC) == 0, "a refused call must not write C");
    free_sparse(&A), free(B), free(C), free(C0);
}

/* ------------------------------------------------------------------ Cholesky */

enum { SN = 7, LDA = 9, BATCH = 5, BAD = 2, BAD_ORDER = 4 };

/* A = M Mᵀ + n·I (symmetric, full storage, column-major n × n, leading dimension n). */
static void make_spd(double *A, uint64_t seed) {
    cf_rng r;
    cf_rng_seed(&r, seed);
    double M[SN * SN];
    for (int j = 0; j < SN * SN; j++) M[j] = (double)urand(&r);
    for (int i = 0; i < SN; i++)
        for (int j = 0; j < SN; j++) {
            double s = i == j ? SN : 0.0;
            for (int l = 0; l < SN; l++) s += M[i + l * SN] * M[j + l * SN];
            A[i + j * SN] = (double)(float)s; /* what the fp32 matrix holds */
        }
}

/* x = A⁻¹ b in double by Cholesky (A SPD, column-major n × n). */
static void solve_double(const double *A, const double *b, double *x) {
    double L[SN * SN] = {0};
    for (int j = 0; j < SN; j++) {
        double d = A[j + j * SN];
        for (int l = 0; l < j; l++) d -= L[j + l * SN] * L[j + l * SN];
        cr_assert(d > 0);
        L[j + j * SN] = sqrt(d);
        for (int i = j + 1; i < SN; i++) {
            double s = A[i + j * SN];
            for (int l = 0; l < j; l++) s -= L[i + l * SN] * L[j + l * SN];
            L[i + j * SN] = s / L[j + j * SN];
        }
    }
    double y[SN];
    for (int i = 0; i < SN; i++) {
        double s = b[i];
        for (int l = 0; l < i; l++) s -= L[i + l * SN] * y[l];
        y[i] = s / L[i + i * SN];
    }
    for (int i = SN - 1; i >= 0; i--) {
        double s = y[i];
        for (int l = i + 1; l < SN; l++) s -= L[l + i * SN] * x[l];
        x[i] = s / L[i + i * SN];
    }
}

Test(host_gpulib_sim, potrf_potrs_batched_one_indefinite) {
    cf_error err = {0};
    double A[BATCH][SN * SN], b[BATCH][SN];
    float *Af[BATCH], *Bf[BATCH];
    int info[BATCH], potrs_info = -7;
    cf_rng r;
    cf_rng_seed(&r, 51);
    for (int k = 0; k < BATCH; k++) {
        make_spd(A[k], 100 + (uint64_t)k);
        /* system BAD: a negative (3, 3) entry makes the leading minor of order 4 negative
         * while those of orders 1..3 stay positive */
        if (k == BAD) A[k][3 + 3 * SN] = -A[k][3 + 3 * SN];
        Af[k] = malloc(sizeof(float) * LDA * SN);
        Bf[k] = malloc(sizeof(float) * SN);
        cr_assert(Af[k] && Bf[k]);
        for (int j = 0; j < SN; j++)
            for (int i = 0; i < LDA; i++)
                /* lower triangle = A; strict upper triangle: NaN that must not be read (in
                 * matrix 0 a finite value, to see it overwritten); padding rows: 7, never
                 * written */
                Af[k][i + j * LDA] = i >= SN ? 7.0f : i >= j ? (float)A[k][i + j * SN] : k == 0 ? -3.0f : NAN;
        for (int i = 0; i < SN; i++) b[k][i] = (double)(Bf[k][i] = urand(&r));
        info[k] = -99;
    }
    cr_assert_eq(cf_gpulib_spotrf_batched(lib, SN, Af, LDA, info, BATCH, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_gpulib_spotrs_batched(lib, SN, Af, LDA, Bf, SN, &potrs_info, BATCH, &err), CF_OK,
                 "%s", err.msg);
    cr_assert_eq(potrs_info, 0);
    for (int k = 0; k < BATCH; k++) {
        cr_assert_eq(info[k], k == BAD ? BAD_ORDER : 0, "info[%d] = %d", k, info[k]);
        for (int j = 0; j < SN; j++)
            for (int i = 0; i < LDA; i++)
                if (i >= SN)
                    cr_assert_eq(Af[k][i + j * LDA], 7.0f, "matrix %d: padding (%d, %d) was written", k, i, j);
                else if (i < j) /* cuSOLVER: "destroyed"; the simulation leaves NaN */
                    cr_assert(isnan(Af[k][i + j * LDA]), "matrix %d: (%d, %d) above the diagonal is not NaN", k, i, j);
        if (k == BAD) continue;
        /* L Lᵀ = A */
        double amax = 0.0, lerr = 0.0;
        for (int i = 0; i < SN; i++)
            for (int j = 0; j <= i; j++) {
                double s = 0.0;
                for (int l = 0; l <= j; l++) s += (double)Af[k][i + l * LDA] * (double)Af[k][j + l * LDA];
                lerr = fmax(lerr, fabs(s - A[k][i + j * SN]));
                amax = fmax(amax, fabs(A[k][i + j * SN]));
            }
        cr_assert(lerr <= 1e-5 * amax, "matrix %d: |L Lt - A| %.3g, |A| %.3g", k, lerr, amax);
        /* residual and forward error */
        double x_ref[SN], rmax = 0.0, xmax = 0.0, xref_max = 0.0, anorm = 0.0, ferr = 0.0;
        solve_double(A[k], b[k], x_ref);
        for (int i = 0; i < SN; i++) {
            double s = b[k][i], row = 0.0;
            for (int j = 0; j < SN; j++) {
                s -= A[k][i + j * SN] * (double)Bf[k][j];
                row += fabs(A[k][i + j * SN]);
            }
            rmax = fmax(rmax, fabs(s)), anorm = fmax(anorm, row);
            xmax = fmax(xmax, fabs((double)Bf[k][i])), xref_max = fmax(xref_max, fabs(x_ref[i]));
            ferr = fmax(ferr, fabs((double)Bf[k][i] - x_ref[i]));
        }
        cr_assert(rmax <= 1e-5 * anorm * xmax, "system %d: residual %.3g, |A| %.3g, |x| %.3g", k, rmax,
                  anorm, xmax);
        cr_assert(ferr <= 1e-4 * xref_max, "system %d: |x - x_ref| %.3g, |x_ref| %.3g", k, ferr, xref_max);
    }
    for (int k = 0; k < BATCH; k++) free(Af[k]), free(Bf[k]);
}

Test(host_gpulib_sim, potrf_potrs_refuse_what_cusolver_refuses) {
    cf_error err = {0};
    float a[4] = {4, 1, 1, 4}, rhs[2] = {1, 2};
    float *Ap[1] = {a}, *Bp[1] = {rhs};
    int info = -99;
    cr_assert_eq(cf_gpulib_spotrf_batched(lib, 2, Ap, 1, &info, 1, &err), CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "cusolverDnSpotrfBatched(lower, n 2, lda 1, batch 1) failed: invalid value"),
              "%s", err.msg);
    cr_assert_eq(cf_gpulib_spotrf_batched(lib, -1, Ap, 2, &info, 1, &err), CF_ERR_DEVICE);
    cr_assert_eq(cf_gpulib_spotrf_batched(lib, 2, Ap, 2, &info, 0, &err), CF_ERR_DEVICE);
    cr_assert_eq(info, -99, "a refused call must not write info");
    cr_assert_eq(cf_gpulib_spotrs_batched(lib, 2, Ap, 2, Bp, 1, &info, 1, &err), CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "cusolverDnSpotrsBatched(") && strstr(err.msg, "invalid value"), "%s",
              err.msg);
    cr_assert_eq(cf_gpulib_spotrs_batched(lib, 2, Ap, 2, Bp, 2, &info, -1, &err), CF_ERR_DEVICE);
    cr_assert(a[0] == 4 && a[1] == 1 && a[3] == 4 && rhs[0] == 1 && rhs[1] == 2);
    /* a batch of 0 solves is no error and writes info = 0 */
    cr_assert_eq(cf_gpulib_spotrs_batched(lib, 2, Ap, 2, Bp, 2, &info, 0, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(info, 0);
}

/* ------------------------------------------------------------------ SGEMM */

Test(host_gpulib_sim, sgemm_fp32_alpha_beta_ld) {
    cf_error err = {0};
    enum { M = 13, GN = 11, K = 17, GLDA = 15, GLDB = 19, GLDC = 14 };
    float *A = rand_floats((size_t)GLDA * K, 61), *B = rand_floats((size_t)GLDB * GN, 62);
    float *C0 = rand_floats((size_t)GLDC * GN, 63), *C = malloc(sizeof(float) * GLDC * GN);
    cr_assert_not_null(C);
    for (int pass = 0; pass < 2; pass++) {
        const float alpha = 0.8f, beta = pass ? 0.0f : 1.5f;
        memcpy(C, C0, sizeof(float) * GLDC * GN);
        if (pass) /* beta = 0 over NaN garbage in C (padding rows too) */
            for (int j = 0; j < GLDC * GN; j++) C[j] = NAN;
        cr_assert_eq(cf_gpulib_sgemm(lib, 0, M, GN, K, alpha, A, GLDA, B, GLDB, beta, C, GLDC, &err),
                     CF_OK, "%s", err.msg);
        for (int j = 0; j < GN; j++) {
            for (int i = 0; i < M; i++) {
                double s = 0.0, mag = 0.0;
                for (int l = 0; l < K; l++) {
                    double t = (double)A[i + l * GLDA] * (double)B[l + j * GLDB];
                    s += t, mag += fabs(t);
                }
                double ref = alpha * s, c0 = C0[i + j * GLDC];
                mag *= alpha;
                if (beta != 0.0f) ref += beta * c0, mag += fabs(beta * c0);
                const double got = C[i + j * GLDC], tol = 2.0 * (K + 3) * U32 * mag;
                cr_assert(isfinite(got) && fabs(got - ref) <= tol, "C(%d, %d) = %.9g, reference %.9g (tol %.3g)",
                          i, j, got, ref, tol);
            }
            for (int i = M; i < GLDC; i++)
                cr_assert(pass ? isnan(C[i + j * GLDC]) : C[i + j * GLDC] == C0[i + j * GLDC],
                          "padding C(%d, %d) was written", i, j);
        }
    }
    free(A), free(B), free(C0), free(C);
}

Test(host_gpulib_sim, sgemm_tf32_rounds_inputs) {
    cf_error err = {0};
    const float e12 = 0x1p-12f, e11 = 0x1p-11f, e10 = 0x1p-10f;
    /* C (5 × 1) = A (5 × 1) · B (1 × 1), B = 1 + 2^-12, which TF32 rounds down to 1 */
    float A[5] = {1 + e12,            /* below half a TF32 ulp (2^-10 at 1): down to 1 */
                  1 + 3 * e12,        /* above half: up to 1 + 2^-10 */
                  1 + e11,            /* exactly half: ties away from zero, 1 + 2^-10 */
                  -(1 + e11),         /* the same, negative: −(1 + 2^-10) */
                  3 + 3 * e11};       /* in [2, 4) the ulp is 2^-9: up to 3 + 2^-9 */
    const float want_tf32[5] = {1, 1 + e10, 1 + e10, -(1 + e10), 3 + 0x1p-9f};
    float Bv[1] = {1 + e12}, C[5];
    cr_assert_eq(cf_gpulib_sgemm(lib, 1, 5, 1, 1, 1.0f, A, 5, Bv, 1, 0.0f, C, 5, &err), CF_OK, "%s", err.msg);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(C[i], want_tf32[i], "TF32: C[%d] = %a, expected %a", i, (double)C[i], (double)want_tf32[i]);
    /* fp32 mode keeps the inputs: (1 + 2^-12)² = 1 + 2^-11 + 2^-24 rounds to 1 + 2^-11 */
    cr_assert_eq(cf_gpulib_sgemm(lib, 0, 5, 1, 1, 1.0f, A, 5, Bv, 1, 0.0f, C, 5, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(C[0], 1 + e11, "fp32: C[0] = %a", (double)C[0]);
}

Test(host_gpulib_sim, sgemm_refuses_what_cublas_refuses) {
    cf_error err = {0};
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 0, 0, 1}, C[4] = {9, 9, 9, 9};
    cr_assert_eq(cf_gpulib_sgemm(lib, 0, 2, 2, 2, 1.0f, A, 1, B, 2, 0.0f, C, 2, &err), CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "cublasSgemm(N, N, m 2, n 2, k 2, lda 1") &&
                  strstr(err.msg, "an unsupported value or parameter was passed to the function"),
              "%s", err.msg);
    cr_assert_eq(cf_gpulib_sgemm(lib, 0, 2, -1, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2, &err), CF_ERR_DEVICE);
    cr_assert(C[0] == 9 && C[3] == 9, "a refused call must not write C");
    /* and the valid call: C = A·I */
    cr_assert_eq(cf_gpulib_sgemm(lib, 0, 2, 2, 2, 1.0f, A, 2, B, 2, 0.0f, C, 2, &err), CF_OK, "%s", err.msg);
    cr_assert(C[0] == 1 && C[1] == 2 && C[2] == 3 && C[3] == 4);
}

/* ------------------------------------------------------------------ stream ordering */

#ifdef CF_GPULIB_STUB
/* The "queued work": a kernel that fills B and C's input only when the stream runs. */
static float q_B[COLS * LDB], q_val[1];
static void fill_queued(void) {
    for (int j = 0; j < COLS * LDB; j++) q_B[j] = 2.0f;
    q_val[0] = 3.0f;
}

Test(host_gpulib_sim, computes_after_the_stream_synchronizes) {
    cf_error err = {0};
    int32_t off[3] = {0, 1, 1};
    uint32_t col[1] = {5};
    float C[2 * LDC];
    memset(q_B, 0, sizeof q_B), q_val[0] = 0.0f;
    for (int j = 0; j < 2 * LDC; j++) C[j] = NAN;
    n_sync = 0;
    queued_work = fill_queued;
    cr_assert_eq(cf_gpulib_spmm_csr(lib, 2, COLS, 1, off, col, q_val, N, 1.0f, q_B, LDB, 0.0f, C, LDC, &err),
                 CF_OK, "%s", err.msg);
    cr_assert_eq(n_sync, 1, "one synchronization per call, got %d", n_sync);
    for (int j = 0; j < N; j++) cr_assert_eq(C[j], 6.0f, "C(0, %d) = %g: computed before the queued work ran", j, (double)C[j]);
    for (int j = 0; j < N; j++) cr_assert_eq(C[LDC + j], 0.0f);
    /* every other operation synchronizes first too */
    float a[1] = {4}, rhs[1] = {8}, *Ap[1] = {a}, *Bp[1] = {rhs}, gc[1];
    int info[1] = {-1}, pinfo = -1;
    cr_assert_eq(cf_gpulib_spotrf_batched(lib, 1, Ap, 1, info, 1, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_gpulib_spotrs_batched(lib, 1, Ap, 1, Bp, 1, &pinfo, 1, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_gpulib_spmm_coo(lib, 2, COLS, 1, (uint32_t[]){0}, col, q_val, N, 1.0f, q_B, LDB, 0.0f, C,
                                    LDC, &err),
                 CF_OK, "%s", err.msg);
    cr_assert_eq(cf_gpulib_sgemm(lib, 0, 1, 1, 1, 1.0f, a, 1, a, 1, 0.0f, gc, 1, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(n_sync, 5, "%d synchronizations for 5 calls", n_sync);
    cr_assert(info[0] == 0 && a[0] == 2.0f && rhs[0] == 2.0f && pinfo == 0, "4 = 2·2, x = 8/4");
    cr_assert_eq(gc[0], 4.0f);
}

Test(host_gpulib_sim, a_failed_synchronization_is_reported_and_nothing_written) {
    cf_error err = {0};
    int32_t off[2] = {0, 1};
    uint32_t col[1] = {0};
    float val[1] = {1}, B[4] = {1, 1, 1, 1}, C[4] = {7, 7, 7, 7};
    sync_result = cudaErrorLaunchFailure;
    cf_status st = cf_gpulib_spmm_csr(lib, 1, 1, 1, off, col, val, 4, 1.0f, B, 4, 0.0f, C, 4, &err);
    sync_result = cudaSuccess;
    cr_assert_eq(st, CF_ERR_DEVICE);
    cr_assert(strstr(err.msg, "cudaStreamSynchronize") && strstr(err.msg, "unspecified launch failure"), "%s",
              err.msg);
    cr_assert(C[0] == 7 && C[3] == 7);
}
#endif
