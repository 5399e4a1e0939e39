/*
 * gram_check.c — a small program that runs launch_gram (kernels/gram.cu, or a copy of it
 * with a planted bug) on the simulated device and compares every Gram matrix and
 * right-hand side b = Σ (r − μ − b_other) z with the sums formed here in double (the
 * diagonal: λ = 0.5 at the factors, the bias unknown's own λ_b = 0.75 at d − 1). Exit 0:
 * all agree; 1: a matrix differs (printed); the simulation itself aborts on a
 * synchronization fault and AddressSanitizer on an out-of-bounds access.
 * test_gpusim runs it on the real kernel (must pass) and on planted copies (must fail).
 *
 * Data: d = 8 and d = 21 (one and several 8×8 tiles per thread), rows of 1, 127, 128, 300
 * entries (a partial chunk, exactly one chunk of 128 staged vectors, several chunks), z
 * random in [-1, 1). Tolerance: fp32 sums of ≤ 300 products of magnitude ≤ 1 in a fixed
 * order are within 300·2⁻²⁴·Σ|z_p z_q| ≤ 2e-5·300 of the double sum (the right-hand
 * sides likewise, |t| ≤ 2); asserted 1e-3 absolute, far above rounding and far below what a wrong or missing term (≥ 1e-2 for
 * these data, or NaN from the poison) gives.
 */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels.h"

static double urand(unsigned long long *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

#define CHECK(x)                                                                           \
    do {                                                                                   \
        cudaError_t e_ = (x);                                                              \
        if (e_ != cudaSuccess) {                                                           \
            fprintf(stderr, "gram_check: %s: %s\n", #x, cudaGetErrorString(e_));           \
            return 2;                                                                      \
        }                                                                                  \
    } while (0)

static int run(int d) {
    const int ld = (d + 3) / 4 * 4, n_other = 50;
    const int64_t lens[] = {1, 127, 128, 300};
    const int n_units = 4;
    int64_t nnz = 0;
    for (int j = 0; j < n_units; j++) nnz += lens[j];
    unsigned long long seed = 12345 + (unsigned long long)d;
    const double mu = 3.6;
    float *F = calloc((size_t)n_other * ld, sizeof *F), *bo = malloc((size_t)n_other * sizeof *bo);
    uint32_t *idx = malloc((size_t)nnz * sizeof *idx);
    cf_gram_unit units[4];
    for (int r = 0; r < n_other; r++)
        for (int c = 0; c < d; c++) F[r * ld + c] = (float)urand(&seed);
    for (int r = 0; r < n_other; r++) bo[r] = (float)(0.5 * urand(&seed));
    for (int64_t e = 0; e < nnz; e++) idx[e] = (uint32_t)((urand(&seed) + 1.0) * 0.5 * (n_other - 1));
    float *val = malloc((size_t)nnz * sizeof *val);
    for (int64_t e = 0; e < nnz; e++) val[e] = (float)(mu + urand(&seed));
    int64_t at = 0;
    for (int j = 0; j < n_units; j++) {
        units[j].begin = at, units[j].end = at + lens[j], units[j].slot = j, units[j].lam = 0.5f, units[j].row = j;
        units[j].lam_b = 0.75f; /* the bias unknown's (d − 1) own λ */
        at += lens[j];
    }
    float *dF, *dA, *dval, *dbo, *drhs;
    uint32_t *didx;
    cf_gram_unit *du;
    const size_t dd = (size_t)d * d;
    CHECK(cudaMalloc((void **)&dF, (size_t)n_other * ld * sizeof(float)));
    CHECK(cudaMalloc((void **)&didx, (size_t)nnz * sizeof(uint32_t)));
    CHECK(cudaMalloc((void **)&du, sizeof units));
    CHECK(cudaMalloc((void **)&dA, n_units * dd * sizeof(float)));
    CHECK(cudaMalloc((void **)&dval, (size_t)nnz * sizeof(float)));
    CHECK(cudaMalloc((void **)&dbo, (size_t)n_other * sizeof(float)));
    CHECK(cudaMalloc((void **)&drhs, (size_t)n_units * ld * sizeof(float)));
    CHECK(cudaMemcpy(dval, val, (size_t)nnz * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dbo, bo, (size_t)n_other * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dF, F, (size_t)n_other * ld * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(didx, idx, (size_t)nnz * sizeof(uint32_t), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(du, units, sizeof units, cudaMemcpyHostToDevice));
    /* every unit is a whole row (row = j): the partial RHS buffer is not touched */
    CHECK((cudaError_t)launch_gram(du, n_units, didx, dval, dF, dbo, mu, 1, d, ld, dA, drhs, NULL, NULL));
    float *A = malloc(n_units * dd * sizeof(float)), *B = malloc((size_t)n_units * ld * sizeof(float));
    CHECK(cudaMemcpy(A, dA, n_units * dd * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(B, drhs, (size_t)n_units * ld * sizeof(float), cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int j = 0; j < n_units; j++)
        for (int p = 0; p < d; p++) {
            double s = 0.0;
            for (int64_t e = units[j].begin; e < units[j].end; e++)
                s += ((double)val[e] - mu - bo[idx[e]]) * F[idx[e] * ld + p];
            const double g = B[j * ld + p];
            if (!(fabs(g - s) <= 1e-3)) {
                if (bad++ < 5) fprintf(stderr, "gram_check: d=%d unit %d b[%d] = %g, expected %g\n", d, j, p, g, s);
            }
        }
    for (int j = 0; j < n_units; j++)
        for (int p = 0; p < d; p++)
            for (int q = p; q < d; q++) { /* lower triangle: row q, column p */
                double s = p == q ? (p == d - 1 ? 0.75 : 0.5) : 0.0;
                for (int64_t e = units[j].begin; e < units[j].end; e++)
                    s += (double)F[idx[e] * ld + p] * F[idx[e] * ld + q];
                const double g = A[j * dd + (size_t)p * d + q];
                if (!(fabs(g - s) <= 1e-3)) {
                    if (bad++ < 5)
                        fprintf(stderr, "gram_check: d=%d unit %d A[%d][%d] = %g, expected %g\n", d, j, q, p, g, s);
                }
            }
    cudaFree(dF), cudaFree(didx), cudaFree(du), cudaFree(dA), cudaFree(dval), cudaFree(dbo), cudaFree(drhs);
    free(F), free(idx), free(A), free(B), free(val), free(bo);
    return bad ? 1 : 0;
}

int main(void) {
    int rc = run(8);
    if (!rc) rc = run(21);
    if (!rc) printf("gram_check: all Gram matrices and right-hand sides agree\n");
    return rc;
}
