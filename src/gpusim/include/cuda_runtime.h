/* cuda_runtime.h — stand-in for the toolkit's header in the CPU simulation build: the
 * runtime API (cuda_runtime_api.h) plus the device-side emulation (../cuda_sim.h). */
#ifndef CF_GPUSIM_CUDA_RUNTIME_H
#define CF_GPUSIM_CUDA_RUNTIME_H
#include "cuda_runtime_api.h"
#ifdef __cplusplus
#include "../cuda_sim.h"
#endif
#endif
