/*
 * model.h — the cf_model behind the public handle: the trained factors, the ID maps
 * that give rows their external names, and the configuration used.
 */
#ifndef CF_MODEL_H
#define CF_MODEL_H

#include "cufactor.h"
#include "factors.h"
#include "idmap.h"

#include <stddef.h>
#include <stdint.h>

struct cf_model {
    cf_factors f;
    cf_idmap *users, *items;  /* row u of P is users[u]; row i of Q is items[i] */
    cf_config config;
    /* n_ratings[CF_USERS][u], n_ratings[CF_ITEMS][i]: the ratings each row was solved from
     * (training ratings; a folded-in row's ratings of known rows of the other side). Both
     * NULL when not known: a model file of version 1 (model_io.c). */
    int64_t *n_ratings[2];
};

/* Takes ownership of the arrays in *f (left zeroed) and of the two maps. NULL on OOM
 * (ownership then stays with the caller). The rating counts start unknown (NULL): the
 * caller sets both, allocated with malloc, owned by the model from then on. */
cf_model *cf_model_wrap(cf_factors *f, cf_idmap *users, cf_idmap *items, const cf_config *cfg);

/* A new model (*out) of the kept rows of f: user u where keep[0] is NULL or keep[0][u] != 0,
 * item i likewise with keep[1], in f's order, with their factors, biases and IDs (from
 * users / items) and, with counts (both sides, or NULL: none), their rating counts; μ
 * from f, cfg copied. cf_model_subset, and the trainer's model (train.c: the rows with
 * training ratings), are this. f and the maps are not changed. */
cf_status cf_model_from_rows(const cf_factors *f, const cf_idmap *users, const cf_idmap *items,
                             const int64_t *const counts[2], const uint8_t *const keep[2], const cf_config *cfg,
                             cf_model **out, cf_error *err);

/* The training config in the .cfm encoding (model_io.c: 116 bytes, field by field,
 * little-endian), shared with the checkpoint file. decode does not validate. */
#define CF_CFM_CONFIG_SIZE 116
void cf_cfm_config_encode(unsigned char out[CF_CFM_CONFIG_SIZE], const cf_config *cfg);
void cf_cfm_config_decode(const unsigned char in[CF_CFM_CONFIG_SIZE], cf_config *cfg);
/* The biases' regularization (f64 bias_lambda, i32 bias_reg; explicit values) that a
 * version-3 .cfm and checkpoint add after the config block; config_decode sets both to
 * lambda / reg, as a file without the block means. */
#define CF_CFM_BIAS_REG_SIZE 12
void cf_cfm_bias_reg_encode(unsigned char out[CF_CFM_BIAS_REG_SIZE], const cf_config *cfg);
/* Returns 0 when the block names explicit values other than the factors' (what the writers
 * put there: one encoding per state), -1 otherwise (the file is then corrupt). */
int cf_cfm_bias_reg_decode(const unsigned char in[CF_CFM_BIAS_REG_SIZE], cf_config *cfg);
/* The loaders' message for a block that fails that check. */
#define CF_CFM_BIAS_REG_BAD                                                                      \
    "version 3 with a bias block that is not explicit or repeats the factors' regularization " \
    "(biases regularized as the factors: an older version holds that)"

/* cf_model_load on the `size` bytes at `data` (the contents of a .cfm file); `name`
 * stands for the path in messages. The same parser and checks as cf_model_load. */
cf_status cf_model_load_memory(const char *name, const void *data, size_t size, cf_model **out, cf_error *err);

/* The .cfm checksum (model_io.c) of n bytes: what a file whose first n bytes are `data`
 * must store in its last 8. */
uint64_t cf_cfm_checksum(const void *data, size_t n);

/* Top-`cap` items for each of m ≤ CF_TOPN_GROUP users of f (rows u[a]; u[a] < 0: a user
 * the model does not know, scored μ + b_i), skipping the items with excl[a][i] != 0
 * (excl or excl[a] may be NULL): higher score first, the lower item index on ties; the
 * scores are cf_predict's, bit for bit (factors.h cf_score_block, which scores the group
 * together). `heaps` has room for m × cap entries, `scratch` for cf_model_topn_scratch(f)
 * doubles; user a's result goes to items + a·ld and scores + a·ld, best first, and got[a]
 * says how many were found (cap or fewer). O(n_items·K·m + n_items·log cap·m). */
typedef struct cf_topn_cand {
    double score;
    uint32_t item;
} cf_topn_cand;
#define CF_TOPN_GROUP 16
/* cf_model_recommend_batch (api.c) once the users are found: row[k] user k's row of the
 * model (< 0: unknown, ranked by μ + b_i), drow[k] its index in exclude (< 0: none);
 * cf_model_recommend calls it for its one user, so both rank and exclude alike. */
cf_status cf_model_recommend_rows(const cf_model *m, const int64_t *row, const int64_t *drow, int64_t nq, int32_t n,
                                  const cf_dataset *exclude, int threads, int64_t *items, double *scores,
                                  int32_t *counts, cf_error *err);
/* The items each of the nq users rated in ds (drow[k]: user k's index in ds, < 0: none)
 * as a CSR of model item rows: user k's are (*idx)[(*ptr)[k] .. (*ptr)[k+1]), in ds's
 * order; items the model does not know are left out, and with part 0 or 1 the ratings of
 * the other part (part < 0: both). The caller frees both. */
cf_status cf_exclusion_csr(const cf_model *m, const cf_dataset *ds, int part, const int64_t *drow, int64_t nq,
                           int64_t **ptr, int64_t **idx, cf_error *err);
/* cf_model_recommend_rows with the exclusions given as such a CSR (eptr NULL: none). */
cf_status cf_model_topn_rows(const cf_model *m, const int64_t *row, int64_t nq, int32_t n, const int64_t *eptr,
                             const int64_t *eidx, int threads, int64_t *items, double *scores, int32_t *counts,
                             cf_error *err);
/* cf_model_rank_evaluate's work (rank.c): the ratings of `test` of part tpart (< 0: both)
 * against lists without those of `exclude` of part xpart (< 0: both), in batches of
 * `batch` users (0: its own choice; tests force small batches; the report is the same).
 * No argument checks. */
cf_status cf_rank_parts(const cf_model *m, const cf_dataset *test, int tpart, const cf_dataset *exclude, int xpart,
                        int32_t n, double relevant_min, int threads, int64_t batch, cf_read_progress_fn progress,
                        void *progress_user, cf_rank_report *rep, cf_error *err);
/* The ranking's arguments as cf_model_rank_evaluate checks them (rank.c): n >= 1,
 * threads >= 0, relevant_min not +inf; cv checks its selection with it before training. */
cf_status cf_rank_check(int32_t n, double relevant_min, int threads, cf_error *err);
size_t cf_model_topn_scratch(const cf_factors *f);
void cf_model_topn(const cf_factors *f, const int64_t *u, int m, const uint8_t *const *excl, int64_t cap,
                   cf_topn_cand *heaps, uint32_t *items, double *scores, int64_t ld, int64_t *got, double *scratch);

#endif
