/*
 * sim_kernels.cu — small CUDA kernels that exercise the rules of the CPU simulation
 * (src/gpusim) for test_gpusim.c: warp-collective results, barrier and collective
 * faults, launch limits, block order, poisoned memory. Compiled as C++ in the simulation
 * build only. Each launcher returns the launch's cudaError_t as an int.
 */
#include "launch.cuh"

#include <stdint.h>

/* out[t·8 + j]: lane t's results of 8 collectives (see test_gpusim.c's expectations). */
__global__ void shuffles_kernel(int *out) {
    const int lane = threadIdx.x & 31;
    const unsigned full = 0xffffffffu;
    int *o = out + threadIdx.x * 8;
    o[0] = __shfl_sync(full, lane * 10, (lane * 7) % 32);
    o[1] = __shfl_xor_sync(full, lane * 10, 5);
    o[2] = __shfl_up_sync(full, lane * 10, 3);
    o[3] = __shfl_down_sync(full, lane * 10, 3);
    o[4] = __shfl_sync(full, lane * 10, 2, 8);
    o[5] = __shfl_down_sync(full, lane * 10, 3, 8);
    o[6] = (int)__ballot_sync(full, lane % 3 == 0);
    /* half the warp in its own collective: lanes 16..31 only */
    o[7] = -1;
    if (lane >= 16) o[7] = __shfl_xor_sync(0xffff0000u, lane, 1);
    __syncwarp();
}
extern "C" int launch_shuffles(int *d_out, int threads) {
    CF_LAUNCH_KERNEL(shuffles_kernel, 1, threads, 0, (cudaStream_t)0, d_out);
    return (int)cudaGetLastError();
}

__global__ void divergent_barrier_kernel(int *out) {
    if (threadIdx.x < 16) __syncthreads();
    out[threadIdx.x] = 1;
}
__global__ void exited_lane_kernel(int *out) {
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_sync(0xffffffffu, (int)threadIdx.x, 0);
}
__global__ void split_sites_kernel(int *out) {
    int v = (int)threadIdx.x;
    if (threadIdx.x < 16)
        v = __shfl_xor_sync(0xffffffffu, v, 1);
    else
        v = __shfl_xor_sync(0xffffffffu, v, 2);
    out[threadIdx.x] = v;
}
__global__ void missing_lanes_kernel(int *out) { /* launched with 48 threads */
    out[threadIdx.x] = __shfl_sync(0xffffffffu, (int)threadIdx.x, 0);
}
extern "C" int launch_fault(int which, int *d_out) {
    switch (which) {
    case 0: CF_LAUNCH_KERNEL(divergent_barrier_kernel, 1, 32, 0, (cudaStream_t)0, d_out); break;
    case 1: CF_LAUNCH_KERNEL(exited_lane_kernel, 1, 32, 0, (cudaStream_t)0, d_out); break;
    case 2: CF_LAUNCH_KERNEL(split_sites_kernel, 1, 32, 0, (cudaStream_t)0, d_out); break;
    default: CF_LAUNCH_KERNEL(missing_lanes_kernel, 1, 48, 0, (cudaStream_t)0, d_out); break;
    }
    return (int)cudaGetLastError();
}

/* Records the order in which blocks ran: order[k] = the k-th block to finish. */
__global__ void order_kernel(int *counter, int *order) {
    const int k = atomicAdd(counter, 1);
    order[k] = (int)blockIdx.x;
}
extern "C" int launch_order(int *d_counter, int *d_order, int blocks) {
    CF_LAUNCH_KERNEL(order_kernel, blocks, 1, 0, (cudaStream_t)0, d_counter, d_order);
    return (int)cudaGetLastError();
}

/* Co-resident blocks: each block's static and dynamic shared memory hold its own values
 * across steps separated by a barrier and a shuffle (the points where the simulation
 * switches to other blocks), and trace[k] = block·steps + step of the k-th step done
 * (one global counter): with blocks interleaved, several blocks' step 0 come first. */
__global__ void resident_kernel(int *counter, int *trace, int *bad, int steps) {
    __shared__ int st[32];
    CF_EXTERN_SHARED(int, dyn);
    const int me = (int)blockIdx.x;
    for (int s = 0; s < steps; s++) {
        st[threadIdx.x] = me * 1000 + s, dyn[threadIdx.x] = me * 1000 + s;
        __syncthreads();
        const int v = __shfl_sync(0xffffffffu, st[(threadIdx.x + 1) % 32], 0);
        if (v != me * 1000 + s || dyn[(threadIdx.x + 5) % 32] != me * 1000 + s) atomicAdd(bad, 1);
        if (threadIdx.x == 0) trace[atomicAdd(counter, 1)] = me * steps + s;
        __syncthreads();
    }
}
extern "C" int launch_resident(int *d_counter, int *d_trace, int *d_bad, int blocks, int steps) {
    CF_LAUNCH_KERNEL(resident_kernel, blocks, 32, 32 * sizeof(int), (cudaStream_t)0, d_counter, d_trace, d_bad,
                     steps);
    return (int)cudaGetLastError();
}

/* Launch shapes: threads per block, grid (x, y), dynamic shared bytes. */
__global__ void shape_kernel(float *out) {
    CF_EXTERN_SHARED(float, dyn);
    dyn[threadIdx.x] = 1.0f;
    __syncthreads();
    if (threadIdx.x == 0 && blockIdx.x == 0 && blockIdx.y == 0) out[0] = dyn[0];
}
extern "C" int launch_shape(float *d_out, unsigned threads, unsigned gx, unsigned gy, size_t smem) {
    CF_LAUNCH_KERNEL(shape_kernel, dim3(gx, gy), threads, smem, (cudaStream_t)0, d_out);
    return (int)cudaGetLastError();
}
extern "C" int set_shape_smem(int bytes) {
    return (int)cudaFuncSetAttribute(shape_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}

/* Reads static and dynamic shared memory before anything writes it. */
__global__ void read_before_write_kernel(float *out) {
    __shared__ float st[64];
    CF_EXTERN_SHARED(float, dyn);
    out[threadIdx.x] = st[threadIdx.x];
    out[64 + threadIdx.x] = dyn[threadIdx.x];
    __syncthreads();
    st[threadIdx.x] = 2.0f, dyn[threadIdx.x] = 3.0f;
}
extern "C" int launch_read_before_write(float *d_out) {
    CF_LAUNCH_KERNEL(read_before_write_kernel, 2, 64, 64 * sizeof(float), (cudaStream_t)0, d_out);
    return (int)cudaGetLastError();
}

/* Writes one float past the dynamic shared memory (AddressSanitizer must report it). */
__global__ void smem_overflow_kernel(float *out) {
    CF_EXTERN_SHARED(float, dyn);
    dyn[threadIdx.x + 1] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = dyn[threadIdx.x];
}
extern "C" int launch_smem_overflow(float *d_out) {
    CF_LAUNCH_KERNEL(smem_overflow_kernel, 1, 32, 32 * sizeof(float), (cudaStream_t)0, d_out);
    return (int)cudaGetLastError();
}

/* ---- the nvcuda::wmma subset (src/gpusim/include/mma.h) ---- */
#include <mma.h>
namespace wmma = nvcuda::wmma;

/* D = A·B + C by one warp, A 16×8 and B 8×16 given row-major, C and D 16×16 row-major.
 * variant bit 0: A loaded col-major (from its transpose, at_ = Aᵀ 8×16 row-major = A
 * col-major with ldm 16); bit 1: B loaded col-major (from bt_ = Bᵀ, 16×8, ldm 8); bit 2: C
 * loaded and D stored col-major. Every lane does the same, as wmma requires. */
__global__ void wmma_product_kernel(const float *a, const float *at_, const float *b, const float *bt_,
                                    const float *c, const float *ct, float *d, int variant) {
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
    const wmma::layout_t cl = (variant & 4) ? wmma::mem_col_major : wmma::mem_row_major;
    wmma::load_matrix_sync(acc, (variant & 4) ? ct : c, 16, cl);
    if (variant & 1) {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fa;
        wmma::load_matrix_sync(fa, at_, 16);
        if (variant & 2) {
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb;
            wmma::load_matrix_sync(fb, bt_, 8);
            wmma::mma_sync(acc, fa, fb, acc);
        } else {
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
            wmma::load_matrix_sync(fb, b, 16);
            wmma::mma_sync(acc, fa, fb, acc);
        }
    } else {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
        wmma::load_matrix_sync(fa, a, 8);
        if (variant & 2) {
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb;
            wmma::load_matrix_sync(fb, bt_, 8);
            wmma::mma_sync(acc, fa, fb, acc);
        } else {
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
            wmma::load_matrix_sync(fb, b, 16);
            wmma::mma_sync(acc, fa, fb, acc);
        }
    }
    wmma::store_matrix_sync(d, acc, 16, cl);
}
extern "C" int launch_wmma_product(const float *a, const float *at_, const float *b, const float *bt_,
                                   const float *c, const float *ct, float *d, int variant) {
    CF_LAUNCH_KERNEL(wmma_product_kernel, 1, 32, 0, (cudaStream_t)0, a, at_, b, bt_, c, ct, d, variant);
    return (int)cudaGetLastError();
}

/* The same element-wise operation on every x[i]: x ↦ tf32(x) and x ↦ 2x + 1 (fill, scale). */
__global__ void wmma_elementwise_kernel(const float *a, float *d) {
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
    wmma::load_matrix_sync(fa, a, 8);
    for (int i = 0; i < fa.num_elements; i++) fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
    wmma::fill_fragment(fb, 0.0f);
    wmma::fill_fragment(acc, 0.5f);
    for (int i = 0; i < acc.num_elements; i++) acc.x[i] = 2.0f * acc.x[i] + 1.0f;
    wmma::mma_sync(acc, fa, fb, acc); /* B = 0: D = C = 2 everywhere */
    wmma::store_matrix_sync(d, acc, 16, wmma::mem_row_major);
}
extern "C" int launch_wmma_elementwise(const float *a, float *d) {
    CF_LAUNCH_KERNEL(wmma_elementwise_kernel, 1, 32, 0, (cudaStream_t)0, a, d);
    return (int)cudaGetLastError();
}

extern "C" float sim_float_to_tf32(float f) { return wmma::__float_to_tf32(f); }

/* Faults wmma must not survive: 0 half the warp loads at another call site; 1 the lanes
 * pass different pointers; 2 a lane-dependent element-wise operation, then mma; 3 a
 * pointer that is not 256-bit aligned; 4 a warp of 16 threads. */
__global__ void wmma_fault_kernel(const float *a, float *d, int which) {
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    const int lane = (int)(threadIdx.x & 31);
    switch (which) {
    case 0:
        if (lane < 16)
            wmma::load_matrix_sync(fa, a, 8);
        else
            wmma::load_matrix_sync(fa, a, 8);
        break;
    case 1: wmma::load_matrix_sync(fa, a + (lane & 1) * 128, 8); break;
    case 2:
        wmma::load_matrix_sync(fa, a, 8);
        for (int i = 0; i < fa.num_elements; i++) fa.x[i] += (float)lane;
        break;
    case 3: wmma::load_matrix_sync(fa, a + 4, 8); break;
    default: wmma::load_matrix_sync(fa, a, 8); break;
    }
    wmma::load_matrix_sync(fb, a, 16);
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(d, acc, 16, wmma::mem_row_major);
}
extern "C" int launch_wmma_fault(const float *a, float *d, int which) {
    CF_LAUNCH_KERNEL(wmma_fault_kernel, 1, which == 4 ? 16 : 32, 0, (cudaStream_t)0, a, d, which);
    return (int)cudaGetLastError();
}
