/* gpu_none.c — compiled instead of src/gpu and kernels/ when the library is built
 * without the CUDA toolkit: there is no GPU backend. */
#include "backend.h"

#include <stdio.h>

const cf_backend_ops *cf_gpu_backend(void) { return NULL; }

int cf_gpu_available(char *why, size_t why_len) {
    if (why && why_len) snprintf(why, why_len, "this cufactor was built without CUDA");
    return 0;
}

int cf_gpu_warm_up(int gpu_id) {
    (void)gpu_id;
    return 0;
}
