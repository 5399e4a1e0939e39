/*
 * cuda_runtime_api.h — the CUDA runtime API subset that cufactor's host driver (src/gpu)
 * and kernels use, declared for the CPU simulation build (CUFACTOR_GPU_SIM=ON) and
 * implemented by src/gpusim/runtime.cpp. It stands in for the toolkit's header of the same
 * name, so the simulation builds on a machine without the CUDA toolkit. Plain C11 (and
 * C++): only the names cufactor uses exist here; a new call in src/gpu that is missing
 * fails to compile in the simulation build, which is the cue to add it here with the
 * toolkit's documented semantics.
 *
 * Values: the enumerators that have documented numeric values in the toolkit keep them
 * (cudaSuccess 0, cudaErrorInvalidValue 1, ...), so logs read the same.
 */
#ifndef CF_GPUSIM_CUDA_RUNTIME_API_H
#define CF_GPUSIM_CUDA_RUNTIME_API_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUDART_VERSION 13000
#define CUFACTOR_GPU_SIM_RUNTIME 1

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801,
    cudaErrorUnknown = 999
} cudaError_t;

typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};

enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8
};

/* The fields of the toolkit's struct that cufactor reads (the toolkit's has many more). */
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int major, minor;
    int multiProcessorCount;
    int maxThreadsPerMultiProcessor;
};

const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaRuntimeGetVersion(int *version);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);

cudaError_t cudaMalloc(void **ptr, size_t size);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream);
cudaError_t cudaMemset(void *ptr, int value, size_t count);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream);

cudaError_t cudaStreamCreate(cudaStream_t *stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);

cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

/* ---- simulation-only entry point (no toolkit equivalent) -------------------------- */
/* Seed of the blocks' and threads' run order of the launches that follow (default:
 * CUFACTOR_SIM_SEED, else 1): a determinism test runs the same work under two seeds.
 * Setting a seed restarts its sequence: the same seed replays the same orders. */
void cf_sim_set_seed(unsigned long long seed);
/* How many blocks of a grid run at once from here on (default: CUFACTOR_SIM_RESIDENT,
 * else 1; at most 4096, and at most 8192 threads in all): 1 runs each block to its end before the next starts; with more,
 * the warps of that many blocks interleave at every barrier and warp collective, as
 * co-resident blocks do on hardware (a model of hogwild's concurrent updates). */
void cf_sim_set_resident(int blocks);
/* The compute capability the simulated device reports from here on (default 9.0): a test
 * of a host path that depends on it (e.g. the TF32 Gram's refusal below 8.0). The
 * simulation itself emulates the same subset whatever it reports. */
void cf_sim_set_compute_capability(int major, int minor);
/* 1: the emulated wmma::mma_sync rounds each fp32 addition of its accumulation toward
 * zero (a model of tensor cores that truncate), 0: to nearest (default). */
void cf_sim_set_mma_truncation(int on);

#ifdef __cplusplus
}
#endif

#endif
