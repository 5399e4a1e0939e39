/* launch.cuh — the two constructs of the kernels that are spelled through a macro, so that
 * the same source builds with nvcc and, as C++, in the CPU simulation (src/gpusim):
 *   CF_LAUNCH_KERNEL(kernel, grid, block, smem, stream, args...)
 *       kernel<<<grid, block, smem, stream>>>(args...)
 *   CF_EXTERN_SHARED(type, name)
 *       extern __shared__ type name[]   (the block's dynamic shared memory)
 * The simulation's <cuda_runtime.h> defines both first; nvcc gets these.
 *
 * A static `__shared__` array only in a kernel that is not a template: the simulation
 * gathers static shared variables in one linker section (to poison it per block and give
 * each co-resident block its own copy), and GCC puts a template's static locals in their
 * own COMDAT sections whatever the attribute says. A template kernel takes its shared
 * memory from CF_EXTERN_SHARED (eval.cu's warp sums). */
#ifndef CF_LAUNCH_CUH
#define CF_LAUNCH_CUH

#include <cuda_runtime.h>

#ifndef CF_LAUNCH_KERNEL
#define CF_LAUNCH_KERNEL(kernel, grid, block, smem, stream, ...) \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define CF_EXTERN_SHARED(type, name) extern __shared__ type name[]
#endif

#endif
