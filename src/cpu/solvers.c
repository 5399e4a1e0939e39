/*
 * solvers.c — helpers shared by the CPU gradient and coordinate solvers: per-row
 * regularization weights (Λ of the factors, Λb of the biases), entry → user and CSC → CSR
 * index maps, zeroing of rows without ratings, the non-finite guard, and solver-state
 * ownership (see solvers.h).
 */
#include "solvers.h"

#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Λ (reg, lambda) or Λb (bias_reg, bias_lambda: the factors' where "same") per row. */
static cf_status row_lambdas(const cf_backend *b, cf_side side, int per_rating, cf_reg reg, double lambda,
                             double **out, cf_error *err) {
    const cf_ratings *R = b->R;
    int64_t n = side == CF_SIDE_USERS ? R->n_users : R->n_items;
    const int64_t *ptr = side == CF_SIDE_USERS ? R->row_ptr : R->col_ptr;
    double *lam = cf_malloc((size_t)n * sizeof *lam, err, "per-row regularization");
    if (!lam) return CF_ERR_NOMEM;
    for (int64_t r = 0; r < n; r++) {
        int64_t cnt = ptr[r + 1] - ptr[r];
        double L = cf_reg_lambda(reg, lambda, cnt, R->nnz);
        lam[r] = per_rating ? (cnt > 0 ? L / (double)cnt : 0.0) : L;
    }
    *out = lam;
    return CF_OK;
}

cf_status cf_cpu_lambdas_make(const cf_backend *b, int per_rating, cf_cpu_lambdas *out, cf_error *err) {
    memset(out, 0, sizeof *out);
    const cf_reg breg = cf_bias_reg(&b->cfg);
    const double blam = cf_bias_lambda(&b->cfg);
    cf_status st;
    if ((st = row_lambdas(b, CF_SIDE_USERS, per_rating, b->cfg.reg, b->cfg.lambda, &out->u, err)) ||
        (st = row_lambdas(b, CF_SIDE_ITEMS, per_rating, b->cfg.reg, b->cfg.lambda, &out->i, err)))
        goto fail;
    if (cf_bias_reg_same(&b->cfg)) {
        out->bu = out->u, out->bi = out->i;
    } else if ((st = row_lambdas(b, CF_SIDE_USERS, per_rating, breg, blam, &out->bu, err)) ||
               (st = row_lambdas(b, CF_SIDE_ITEMS, per_rating, breg, blam, &out->bi, err))) {
        goto fail;
    }
    return CF_OK;
fail:
    cf_cpu_lambdas_free(out);
    return st;
}

void cf_cpu_lambdas_free(cf_cpu_lambdas *l) {
    if (l->bu != l->u) free(l->bu);
    if (l->bi != l->i) free(l->bi);
    free(l->u), free(l->i);
    memset(l, 0, sizeof *l);
}

cf_status cf_cpu_entry_users(const cf_ratings *R, uint32_t **out, cf_error *err) {
    uint32_t *eu = cf_malloc((size_t)R->nnz * sizeof *eu, err, "user of each rating");
    if (!eu) return CF_ERR_NOMEM;
    cf_ratings_entry_users(R, 1, eu); /* one thread, as before (once per training) */
    *out = eu;
    return CF_OK;
}

typedef struct user_pos { uint32_t u; int64_t pos; } user_pos;

static int cmp_user_pos(const void *a, const void *b) {
    const user_pos *x = a, *y = b;
    if (x->u != y->u) return x->u < y->u ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

cf_status cf_cpu_csc_to_csr(const cf_ratings *R, int64_t **out, cf_error *err) {
    size_t nnz = (size_t)R->nnz;
    int64_t *map = cf_malloc(nnz * sizeof *map, err, "CSC to CSR map");
    int64_t *by_user = cf_malloc(nnz * sizeof *by_user, err, "CSR entries by column");
    int64_t *cursor = cf_calloc((size_t)R->n_items, sizeof *cursor, err, "column cursors");
    user_pos *tmp = NULL;
    if (!map || !by_user || !cursor) goto nomem;
    /* by_user: column i's CSR entries, in increasing user order (users visited in order) */
    for (int64_t u = 0; u < R->n_users; u++)
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) {
            uint32_t i = R->row_col[e];
            by_user[R->col_ptr[i] + cursor[i]++] = e;
        }
    /* The CSC keeps the input order within a column; match it to user order, sorting a
     * column only where it is not already sorted by user (ties keep their order, which is
     * also the CSR order of duplicate pairs). */
    int64_t longest = 0;
    for (int64_t i = 0; i < R->n_items; i++)
        if (R->col_ptr[i + 1] - R->col_ptr[i] > longest) longest = R->col_ptr[i + 1] - R->col_ptr[i];
    for (int64_t i = 0; i < R->n_items; i++) {
        int64_t s = R->col_ptr[i], n = R->col_ptr[i + 1] - s, sorted = 1;
        for (int64_t j = 1; j < n && sorted; j++) sorted = R->col_row[s + j - 1] <= R->col_row[s + j];
        if (sorted) {
            for (int64_t j = 0; j < n; j++) map[s + j] = by_user[s + j];
            continue;
        }
        if (!tmp && !(tmp = cf_malloc((size_t)longest * sizeof *tmp, err, "column sort buffer")))
            goto nomem;
        for (int64_t j = 0; j < n; j++) tmp[j] = (user_pos){R->col_row[s + j], s + j};
        qsort(tmp, (size_t)n, sizeof *tmp, cmp_user_pos);
        for (int64_t j = 0; j < n; j++) map[tmp[j].pos] = by_user[s + j];
    }
    free(by_user), free(cursor), free(tmp);
    *out = map;
    return CF_OK;
nomem:
    free(map), free(by_user), free(cursor), free(tmp);
    return CF_ERR_NOMEM;
}

void cf_cpu_zero_empty_rows(cf_backend *b) {
    const cf_ratings *R = b->R;
    size_t k = (size_t)b->f.k;
    for (int64_t u = 0; u < R->n_users; u++)
        if (R->row_ptr[u + 1] == R->row_ptr[u]) {
            memset(b->f.P + (size_t)u * k, 0, k * sizeof(double));
            b->f.bu[u] = 0.0;
        }
    for (int64_t i = 0; i < R->n_items; i++)
        if (R->col_ptr[i + 1] == R->col_ptr[i]) {
            memset(b->f.Q + (size_t)i * k, 0, k * sizeof(double));
            b->f.bi[i] = 0.0;
        }
}

cf_status cf_cpu_check_finite(const cf_backend *b, const char *algo, const char *unit,
                              int64_t iter, const char *hint, cf_error *err) {
    char where[96];
    if (!cf_factors_check_finite(&b->f, where, sizeof where)) return CF_OK;
    return cf_fail(err, CF_ERR_NUMERIC, "%s: non-finite value at %s %lld in %s; %s", algo, unit,
                   (long long)iter, where, hint);
}

void *cf_cpu_state_get(cf_backend *b, void (*free_fn)(void *)) {
    if (b->solver_state && b->solver_free == free_fn) return b->solver_state;
    if (b->solver_state && b->solver_free) b->solver_free(b->solver_state);
    b->solver_state = NULL;
    b->solver_free = NULL;
    return NULL;
}

void cf_cpu_state_set(cf_backend *b, void *state, void (*free_fn)(void *)) {
    b->solver_state = state;
    b->solver_free = free_fn;
}
