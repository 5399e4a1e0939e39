/*
 * simd_f32.h — the vector kernels of the fp32 CPU path (cpu32.h), one table per
 * instruction set, chosen once at run time.
 *
 * The kernels are written once (kernels_f32.inc) over a handful of vector macros and
 * compiled three times by kernels_f32.c: for AVX-512 (F + DQ, 16 floats per vector), for
 * AVX2 + FMA (8 floats), and a portable scalar version (1 float; what a non-x86 build
 * gets). Each AVX version carries its own `target` attribute, so the library needs no
 * -mavx flags and runs on any x86-64; cf_simd_best() asks the CPU (cpuid, and the OS's
 * saving of the vector registers, through __builtin_cpu_supports) which it may use.
 *
 * The environment variable CUFACTOR_SIMD=scalar|avx2|avx512 caps the choice (a level
 * the CPU lacks falls to the best it has); the tests use it to run every version.
 *
 * Results depend on the instruction set (vector width changes the order of the sums and
 * FMA contracts a·b + c into one rounding), never on the thread count: on one machine
 * and one level, every kernel's arithmetic is fixed.
 *
 * Layout: factor rows are `ld` floats, ld = K rounded up to CF_F32_ROW (16 floats, one
 * 64-byte cache line), the pad entries zero, every row 64-byte aligned.
 */
#ifndef CF_SIMD_F32_H
#define CF_SIMD_F32_H

#include <stddef.h>
#include <stdint.h>

typedef enum cf_simd { CF_SIMD_SCALAR = 0, CF_SIMD_AVX2 = 1, CF_SIMD_AVX512 = 2 } cf_simd;

#define CF_F32_ROW 16 /* floats per padded row unit: ld = ⌈K/16⌉·16 */

/* The best level this CPU supports, capped by CUFACTOR_SIMD when set. */
cf_simd cf_simd_best(void);
/* "scalar", "avx2", "avx512" */
const char *cf_simd_name(cf_simd s);
/* Parses a name of cf_simd_name: 0 and *out on success, -1 otherwise. */
int cf_simd_parse(const char *s, cf_simd *out);

/* ld of K */
static inline int32_t cf_f32_ld(int32_t K) { return (K + CF_F32_ROW - 1) / CF_F32_ROW * CF_F32_ROW; }

/* One scheduled SGD rating. */
typedef struct cf_sgd_item {
    uint32_t u, i;
    float r;
} cf_sgd_item;

/* What an SGD run reads and updates (sgd_f32.c fills it per epoch). */
typedef struct cf_sgd_args {
    float *P, *Q, *bu, *bi;          /* factors (ld floats per row) and biases */
    const float *lam_u, *lam_i;      /* per-rating regularization shares λ'_row of the factors */
    const float *lam_bu, *lam_bi;    /* and of the biases, λ'b_row (may be lam_u, lam_i) */
    float eta, mu;                   /* learning rate of the epoch, global mean (0 without biases) */
    int32_t ld, bias;
} cf_sgd_args;

typedef struct cf_f32_kernels {
    cf_simd isa;
    /* SGD: the n ratings of `it`, one after the other (the update rule of sgd_f32.c). */
    void (*sgd_run)(const cf_sgd_item *it, int64_t n, const cf_sgd_args *a);
    /* Σ (r − r̂)² and Σ |r − r̂| (added to *sse, *sae) over one CSR row: the row's vector p
     * and bias bp, its entries' columns and ratings; r̂ = μ + bp + b_c + p·q_c (bias) or p·q_c.
     * All in double from the fp32 factors (the model file's values), so that the reported
     * metrics are those of the saved model. */
    void (*eval_row)(const float *p, float bp, const uint32_t *cols, const float *vals, int64_t n,
                     const float *Q, const float *bq, int32_t ld, double mu, int bias, double *sse,
                     double *sae);
    /* The same over n (u, i, r) triplets. */
    void (*eval_pairs)(const uint32_t *u, const uint32_t *i, const float *r, int64_t n, const float *P,
                       const float *Q, const float *bu, const float *bi, int32_t ld, double mu, int bias,
                       double *sse, double *sae);
    /* ALS Gram of one chunk of a row: G[a][b] (+)= Σ_{j<m} z_j[a] z_j[b] for a ≤ b < ld (rows of
     * G row-major with stride ldg, at least the upper triangle; some entries left of the
     * diagonal inside a vector are written too), summed in fp32 from zero over the chunk and
     * folded into the double G: stored when `first`, added otherwise. m ≤ CF_ALS32_CHUNK. */
    void (*gram_chunk)(const float *const *z, int m, int32_t ld, double *G, int32_t ldg, int first);
    /* ALS right-hand side of one chunk, in double: rhs += Σ_j t_j z_j and, when colsum is
     * not NULL (biases on), colsum += Σ_j z_j, over the first K floats of each z[j]. */
    void (*rhs_chunk)(const float *const *z, const double *t, int m, int32_t K, double *rhs, double *colsum);
    /* Solves A x = b in place (x holds b on entry) by Cholesky A = UᵀU in double: A is
     * d × d symmetric, its upper triangle row-major with stride lda (overwritten by U; entries
     * left of the diagonal are scratch). Returns 0, or k + 1 when the leading minor of order
     * k + 1 is not positive (or not finite). */
    int (*chol_solve)(double *A, int32_t d, int32_t lda, double *x);
} cf_f32_kernels;

/* The fp32 ALS chunk: ratings summed in fp32 before each fold into double. */
#define CF_ALS32_CHUNK 64

/* The table of level s (a level this build does not have gives the scalar table). */
const cf_f32_kernels *cf_f32_kernels_get(cf_simd s);

#endif
