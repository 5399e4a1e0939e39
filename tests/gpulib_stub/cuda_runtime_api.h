/*
 * tests/gpulib_stub/cuda_runtime_api.h — the part of the CUDA runtime API that
 * src/gpusim/gpulib_sim.c and src/gpu/gpulib.h use, so that test_gpulib_sim can compile
 * gpulib_sim.c in every build (CUDA or not) and run it today. The test defines the two
 * functions (a stream synchronization that runs the test's "queued work"). Declarations
 * match the real header's (C linkage, same types), which the simulation build's own
 * src/gpusim/include/cuda_runtime_api.h replaces.
 */
#ifndef CF_TEST_GPULIB_STUB_CUDA_RUNTIME_API_H
#define CF_TEST_GPULIB_STUB_CUDA_RUNTIME_API_H

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorLaunchFailure = 719
} cudaError_t;

typedef struct CUstream_st *cudaStream_t;

cudaError_t cudaStreamSynchronize(cudaStream_t stream);
const char *cudaGetErrorString(cudaError_t error);

#endif
