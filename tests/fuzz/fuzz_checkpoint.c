/* fuzz_checkpoint.c — libFuzzer target: the .cfc checkpoint loader (harness.c,
 * cf_fuzz_checkpoint), which reads a path: each input goes through a file in a directory
 * of this process, removed at exit. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void remove_dir(void) { rmdir(dir); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/cufactor-fuzz-cfc-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir)) {
            perror("fuzz_checkpoint: mkdtemp");
            abort();
        }
        atexit(remove_dir);
    }
    cf_fuzz_outcome o;
    cf_fuzz_checkpoint(data, size, dir, &o);
    cf_fuzz_check(&o);
    return 0;
}
