/*
 * mma.h — stand-in for the toolkit's <mma.h> in the CPU simulation build: the subset of
 * nvcuda::wmma that the TF32 kernels use (kernels/gram_tc.cu), with CUDA's documented
 * semantics where they are documented and a deliberately different fragment layout where
 * they are not.
 *
 *   fragment<matrix_a, 16, 16, 8, precision::tf32, row_major | col_major>   A: 16 × 8
 *   fragment<matrix_b, 16, 16, 8, precision::tf32, row_major | col_major>   B: 8 × 16
 *   fragment<accumulator, 16, 16, 8, float>                                  C: 16 × 16
 *   fill_fragment, load_matrix_sync, store_matrix_sync (mem_row_major / mem_col_major),
 *   mma_sync, __float_to_tf32, num_elements, x[].
 *
 * The model. On hardware a fragment is spread over the 32 lanes of a warp (4 or 8
 * elements each) in a layout the programming guide calls unspecified; a kernel may only
 * do the same element-wise operation on every x[i] of every lane. Here every lane holds
 * the WHOLE tile (num_elements = 128 or 256, not 4 or 8) in a scrambled order (logical
 * element e at x[(37·e) mod num_elements]): a kernel that reads meaning into an index of
 * x[], or into num_elements, computes something else here than on a GPU and fails its
 * tests, while a layout-agnostic kernel computes the same on both. Loads, stores and mma
 * are computed by each lane on its own copy.
 *
 * Each *_sync call is a warp collective (the runtime's convergence rules, cuda_sim.h):
 * all 32 lanes of the warp must reach the same call site, and the arguments must be
 * warp-uniform, as wmma requires — the pointer, ldm and layout, and (mma_sync,
 * store_matrix_sync) the fragments' contents, which on hardware are one matrix spread
 * over the lanes and here must be the same matrix in every lane: a lane-dependent
 * element-wise operation stops the simulation. So do a pointer that is not 256-bit
 * aligned and an ldm that is not a multiple of 4 floats (the documented requirements of
 * load/store_matrix_sync for 32-bit elements).
 *
 * Arithmetic of mma_sync with .tf32 inputs (D = A·B + C, m16n16k8): each input element is
 * taken as tf32 by ignoring its 13 low mantissa bits (truncation: what the hardware does
 * with an fp32 value that was not converted, as measured on A100 by Fasi et al., "Numerical
 * behavior of NVIDIA tensor cores", 2021; a kernel that converts with __float_to_tf32
 * first, as it should, is unaffected by this choice); a product of two tf32 values (11 +
 * 11 significant bits) is exact in fp32; every D[i][j] = C[i][j] + Σ_k A[i][k]·B[k][j] is
 * accumulated in fp32, k in order, rounded to nearest. Hardware aligns the 8 products to
 * the largest exponent and may truncate instead: a kernel must not depend on the
 * accumulation's rounding beyond fp32 accuracy (gram_tc.cu's accuracy argument takes the
 * worse of the two). cf_sim_set_mma_truncation(1) makes every one of those fp32 additions
 * round toward zero instead, a model at least as biased as the hardware's, so a test can
 * check a kernel's accuracy under it. __float_to_tf32 is PTX cvt.rna.tf32.f32: round to nearest with ties
 * away from zero, 10 explicit mantissa bits kept, the low 13 bits zero; NaN and infinity
 * pass through.
 */
#ifndef CF_GPUSIM_MMA_H
#define CF_GPUSIM_MMA_H

#include <cuda_runtime.h>

#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <type_traits>

namespace cf_sim {
extern int mma_truncation; /* runtime.cpp: cf_sim_set_mma_truncation */
/* A warp collective whose three keys must be equal on every lane of the warp (all 32
 * lanes must take part): `what` names the call in the message (runtime.cpp). */
void warp_uniform(const char *what, uint64_t ptr, uint64_t args, uint64_t content, const char *file, int line);
/* A 64-bit hash of a fragment's contents (n a multiple of 8 bytes), for warp_uniform:
 * word by word, multiply and xor-shift (the comparison of the lanes' fragments). */
static inline uint64_t frag_hash(const void *p, size_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t j = 0; j + 8 <= n; j += 8) {
        uint64_t w;
        memcpy(&w, (const char *)p + j, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    return h;
}
} // namespace cf_sim

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
namespace precision {
struct tf32 {};
} // namespace precision
enum layout_t { mem_row_major, mem_col_major };

/* round to nearest, ties away from zero, to 10 explicit mantissa bits (cvt.rna.tf32.f32) */
static inline float __float_to_tf32(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7f800000u) == 0x7f800000u) return f; /* infinity, NaN: unchanged */
    /* adding half of the kept last place to the magnitude and truncating rounds half
     * away from zero; a carry into the exponent is the correct rounding up (to infinity
     * past the largest finite tf32) */
    u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&f, &u, sizeof f);
    return f;
}

namespace detail {
template <typename Use, int M, int N, int K> struct shape;
template <int M, int N, int K> struct shape<matrix_a, M, N, K> {
    enum { rows = M, cols = K };
};
template <int M, int N, int K> struct shape<matrix_b, M, N, K> {
    enum { rows = K, cols = N };
};
template <int M, int N, int K> struct shape<accumulator, M, N, K> {
    enum { rows = M, cols = N };
};
/* where logical element e (row-major over the tile) lives in x[]: a fixed scramble */
template <int NE> static inline int slot(int e) { return (int)(((unsigned)e * 37u) % (unsigned)NE); }
static inline float tf32_trunc(float f) { /* what mma_sync reads of a .tf32 input */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u &= 0xffffe000u;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline void check_mem(const char *what, const void *p, unsigned ldm, const char *file, int line) {
    if ((uintptr_t)p % 32u != 0u || ldm % 4u != 0u) {
        fprintf(stderr,
                "cufactor-sim: wmma::%s at %s:%d: pointer %p must be 256-bit aligned and ldm %u a multiple "
                "of 4 floats\n",
                what, file, line, p, ldm);
        fflush(stderr);
        abort();
    }
}
} // namespace detail

template <typename Use, int M, int N, int K, typename T, typename Layout = void> class fragment {
    static_assert(M == 16 && N == 16 && K == 8, "the simulation has the m16n16k8 (tf32) shape only");
    static_assert(std::is_same<Use, accumulator>::value ? std::is_same<T, float>::value
                                                        : std::is_same<T, precision::tf32>::value,
                  "the simulation has tf32 inputs and float accumulators only");

  public:
    typedef detail::shape<Use, M, N, K> shape_t;
    enum { num_elements = shape_t::rows * shape_t::cols };
    float x[num_elements];
    /* logical element (r, c) of the tile */
    float &at(int r, int c) { return x[detail::slot<num_elements>(r * shape_t::cols + c)]; }
    const float &at(int r, int c) const { return x[detail::slot<num_elements>(r * shape_t::cols + c)]; }
};

template <typename Use, int M, int N, int K, typename T, typename L>
static inline void fill_fragment_(fragment<Use, M, N, K, T, L> &f, float v) {
    for (int i = 0; i < fragment<Use, M, N, K, T, L>::num_elements; i++) f.x[i] = v;
}

/* matrix_a / matrix_b: the layout is the fragment's */
template <typename Use, int M, int N, int K, typename T, typename L>
static inline void load_matrix_sync_(fragment<Use, M, N, K, T, L> &f, const float *p, unsigned ldm, const char *file,
                                     int line) {
    static_assert(!std::is_same<Use, accumulator>::value, "an accumulator load takes a layout_t");
    typedef fragment<Use, M, N, K, T, L> F;
    detail::check_mem("load_matrix_sync", p, ldm, file, line);
    ::cf_sim::warp_uniform("wmma::load_matrix_sync", (uint64_t)(uintptr_t)p, ldm, 0, file, line);
    const bool row = std::is_same<L, row_major>::value;
    for (int r = 0; r < F::shape_t::rows; r++)
        for (int c = 0; c < F::shape_t::cols; c++) f.at(r, c) = row ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}
/* accumulator: the layout is an argument */
template <int M, int N, int K>
static inline void load_matrix_sync_(fragment<accumulator, M, N, K, float> &f, const float *p, unsigned ldm,
                                     layout_t layout, const char *file, int line) {
    detail::check_mem("load_matrix_sync", p, ldm, file, line);
    ::cf_sim::warp_uniform("wmma::load_matrix_sync", (uint64_t)(uintptr_t)p, (uint64_t)ldm * 2u + (uint64_t)layout, 0,
                           file, line);
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++)
            f.at(r, c) = layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}
template <int M, int N, int K>
static inline void store_matrix_sync_(float *p, const fragment<accumulator, M, N, K, float> &f, unsigned ldm,
                                      layout_t layout, const char *file, int line) {
    detail::check_mem("store_matrix_sync", p, ldm, file, line);
    ::cf_sim::warp_uniform("wmma::store_matrix_sync", (uint64_t)(uintptr_t)p, (uint64_t)ldm * 2u + (uint64_t)layout,
                           ::cf_sim::frag_hash(f.x, sizeof f.x), file, line);
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++) (layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r]) = f.at(r, c);
}
template <int M, int N, int K, typename LA, typename LB>
static inline void mma_sync_(fragment<accumulator, M, N, K, float> &d, const fragment<matrix_a, M, N, K, precision::tf32, LA> &a,
                             const fragment<matrix_b, M, N, K, precision::tf32, LB> &b,
                             const fragment<accumulator, M, N, K, float> &c, const char *file, int line) {
    uint64_t h = ::cf_sim::frag_hash(a.x, sizeof a.x);
    h = h * 31u + ::cf_sim::frag_hash(b.x, sizeof b.x);
    h = h * 31u + ::cf_sim::frag_hash(c.x, sizeof c.x);
    ::cf_sim::warp_uniform("wmma::mma_sync", 0, 0, h, file, line);
    /* The lanes hold the same inputs (checked above): the first lane of a warp to run
     * computes, the others find the same inputs (compared in full, not by hash) in their
     * warp's entry of this cache and copy the result. Only a speed-up: 32 times less
     * arithmetic. */
    typedef fragment<matrix_a, M, N, K, precision::tf32, LA> FA;
    typedef fragment<matrix_b, M, N, K, precision::tf32, LB> FB;
    typedef fragment<accumulator, M, N, K, float> FC;
    struct entry {
        bool valid;
        int truncation;
        FA a;
        FB b;
        FC c, d;
    };
    static entry cache[32]; /* by warp of the block (≤ 1024 threads) */
    entry &e = cache[::cf_sim::cur->warp & 31u];
    const int trunc = ::cf_sim::mma_truncation;
    if (e.valid && e.truncation == trunc && memcmp(e.a.x, a.x, sizeof a.x) == 0 && memcmp(e.b.x, b.x, sizeof b.x) == 0 &&
        memcmp(e.c.x, c.x, sizeof c.x) == 0) {
        memcpy(d.x, e.d.x, sizeof d.x);
        return;
    }
    memcpy(e.a.x, a.x, sizeof a.x), memcpy(e.b.x, b.x, sizeof b.x), memcpy(e.c.x, c.x, sizeof c.x);
    float ta[M][K], tb[K][N]; /* the inputs as tf32, unscrambled */
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) ta[i][k] = detail::tf32_trunc(a.at(i, k));
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) tb[k][j] = detail::tf32_trunc(b.at(k, j));
    const int mode = fegetround();
    if (trunc) fesetround(FE_TOWARDZERO); /* the products are exact either way */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            volatile float s = c.at(i, j); /* each addition rounded in the mode set */
            for (int k = 0; k < K; k++) s = s + ta[i][k] * tb[k][j];
            e.d.at(i, j) = s;
        }
    if (trunc) fesetround(mode);
    e.valid = true, e.truncation = trunc;
    memcpy(d.x, e.d.x, sizeof d.x); /* d may be c */
}

} // namespace wmma
} // namespace nvcuda

/* the call sites' file and line, for the collectives' messages (as __syncthreads has) */
#define fill_fragment(f, v) fill_fragment_(f, v)
#define load_matrix_sync(...) load_matrix_sync_(__VA_ARGS__, __FILE__, __LINE__)
#define store_matrix_sync(...) store_matrix_sync_(__VA_ARGS__, __FILE__, __LINE__)
#define mma_sync(d, a, b, c) mma_sync_(d, a, b, c, __FILE__, __LINE__)

#endif
