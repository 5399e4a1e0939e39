/*
 * model.h — the cf_model behind the public handle: the trained factors, the ID maps
 * that give rows their external names, and the configuration used.
 */
#ifndef CF_MODEL_H
#define CF_MODEL_H

#include "cufactor.h"
#include "factors.h"
#include "idmap.h"

struct cf_model {
    cf_factors f;
    cf_idmap *users, *items;  /* row u of P is users[u]; row i of Q is items[i] */
    cf_config config;
};

/* Takes ownership of the arrays in *f (left zeroed) and of the two maps. NULL on OOM
 * (ownership then stays with the caller). */
cf_model *cf_model_wrap(cf_factors *f, cf_idmap *users, cf_idmap *items, const cf_config *cfg);

#endif
