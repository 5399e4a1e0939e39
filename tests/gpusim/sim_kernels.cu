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
