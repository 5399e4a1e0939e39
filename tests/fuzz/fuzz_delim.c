/* fuzz_delim.c — libFuzzer target: the delimited-text reader (harness.c, cf_fuzz_read). */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cf_fuzz_outcome o;
    cf_fuzz_read(data, size, CF_FORMAT_DELIM, &o);
    cf_fuzz_check(&o);
    return 0;
}
