/* fuzz_model.c — libFuzzer target: the .cfm model loader (harness.c, cf_fuzz_model). */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cf_fuzz_outcome o;
    cf_fuzz_model(data, size, NULL, &o);
    cf_fuzz_check(&o);
    return 0;
}
