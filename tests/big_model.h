#ifndef CF_TESTS_BIG_MODEL_H
#define CF_TESTS_BIG_MODEL_H
#include "model.h"

#include <stdint.h>

/* A model of n_users × K = 24000 × 32 doubles (6 MB of P alone) and 3000 items, every
 * value drawn from `seed`; NULL when memory runs out. */
cf_model *cf_test_big_model(uint64_t seed);

#endif
