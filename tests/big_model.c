/*
 * big_model.c — the large model test_faults saves and kills mid-write, shared with the
 * child program that does the saving (tests/fault_saver.c), so both sides build the same
 * bits from a seed. No Criterion here: the child is a plain program.
 */
#include "big_model.h"

#include "common.h"
#include "factors.h"
#include "idmap.h"

#include <stdio.h>

cf_model *cf_test_big_model(uint64_t seed) {
    const int64_t nu = 24000, ni = 3000;
    const int32_t k = 32;
    cf_factors f;
    cf_error err;
    if (cf_factors_alloc(&f, nu, ni, k, 1, &err) != CF_OK) return NULL;
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    for (int64_t j = 0; j < nu * k; j++) f.P[j] = cf_rng_normal(&rng);
    for (int64_t j = 0; j < ni * k; j++) f.Q[j] = cf_rng_normal(&rng);
    for (int64_t j = 0; j < nu; j++) f.bu[j] = cf_rng_normal(&rng);
    for (int64_t j = 0; j < ni; j++) f.bi[j] = cf_rng_normal(&rng);
    f.mu = 3.0 + (double)seed;
    cf_idmap *users = cf_idmap_create(), *items = cf_idmap_create();
    if (!users || !items) return NULL;
    char tok[32];
    uint32_t idx;
    int added;
    for (int64_t u = 0; u < nu; u++) {
        int len = snprintf(tok, sizeof tok, "u%lld", (long long)u);
        if (cf_idmap_intern(users, tok, (size_t)len, &idx, &added) != 0) return NULL;
    }
    for (int64_t i = 0; i < ni; i++) {
        int len = snprintf(tok, sizeof tok, "i%lld", (long long)i);
        if (cf_idmap_intern(items, tok, (size_t)len, &idx, &added) != 0) return NULL;
    }
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = k;
    return cf_model_wrap(&f, users, items, &cfg);
}
