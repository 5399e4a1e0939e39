/*
 * foldin.c — rows for users from their ratings, the model's items fixed ("fold-in";
 * cf_model_fold_in in cufactor.h): how a trained model serves users it was not trained
 * on, or users whose ratings changed, without retraining.
 *
 * For each user u of the ratings, with I_u its ratings of items the model has rows for,
 * x_u = [p_u; b_u] minimizes the model's own objective (DESIGN.md §1) with Q, b_i and μ
 * fixed:
 *
 *     f(x) = Σ_{i∈I_u} (r_ui − μ − b_i − z_iᵀ x)² + Λ_u ‖p_u‖² + Λb_u b_u²,   z_i = [q_i; 1]
 *     (biases off: (r_ui − q_iᵀ p_u)² + Λ_u ‖p_u‖², z_i = q_i, x = p_u)
 *     Λ_u = cf_reg_lambda(reg, λ, |I_u|, ·),  Λb_u = the model's own bias regularization
 *     (bias_reg, bias_lambda) where it was trained with one, else Λ_u
 *
 * which is one ALS half-step for these users alone: (Σ z zᵀ + diag(Λ_u, …, Λb_u)) x = Σ (r − μ − b_i) z,
 * solved by cf_als_row_solve (cpu/als_row.h), the CPU ALS's own row solve, in double
 * precision, the ratings of each user in the dataset's order. A user with no rating of a
 * known item gets x = 0 (its predictions are μ + b_i, as for a user the model never saw).
 * Users are independent: batches of them (about twenty, for progress and Ctrl-C) are
 * spread over threads, each row computed by one thread the same way whatever the count.
 *
 * Items (o.items) are the same with the roles swapped: x_i = [q_i; b_i] from the ratings of
 * item i, z_u = [p_u; 1], t = r − μ − b_u, P and b_u fixed (ALS's item half-step); a
 * fold_side names which side is which. Under o.merge the new model starts from m's rows
 * and each row of the ratings replaces m's (or is appended when m has none), so users
 * then items, merged, on the training ratings is one whole ALS iteration.
 *
 * Explanation (cf_model_explain): the row is linear in the targets, x_u = A⁻¹ Σ_j t_j z_j,
 * so a score splits over the user's ratings,
 *
 *     r̂_ui = μ + b_i + z_iᵀ x_u = μ + b_i + Σ_j t_j (z_jᵀ w),   w = A⁻¹ z_i,
 *
 * w from the Cholesky factor the row's solve leaves behind (dpotrs), one term per rating.
 */
#include "common.h"
#include "cpu/als_row.h"
#include "dataset.h"
#include "model.h"
#include "ratings.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cf_fold_in_options_default(cf_fold_in_options *o) {
    memset(o, 0, sizeof *o);
    o->lambda = NAN;
    o->reg = -1;
}

/* The fold-in's λ and scheme into rg's reg, lambda (nnz 0): the options' where given, else
 * the model's; the biases' (bias_own = 1, bias_reg, bias_lambda) where the model was trained
 * with a regularization of their own, which the options do not change. */
static cf_status fold_in_reg(const cf_model *m, const cf_fold_in_options *o, cf_als_rows *rg, cf_error *err) {
    memset(rg, 0, sizeof *rg);
    double *lambda = &rg->lambda;
    cf_reg *reg = &rg->reg;
    rg->bias_own = m->f.bias && !cf_bias_reg_same(&m->config);
    rg->bias_lambda = cf_bias_lambda(&m->config);
    rg->bias_reg = cf_bias_reg(&m->config);
    if (rg->bias_own && rg->bias_reg == CF_REG_MEAN)
        return cf_fail(err, CF_ERR_INVALID,
                       "fold-in: the model's biases were regularized with 'mean' (Λb = λ_b·|Ω|), which needs the "
                       "training set's size, which a model does not keep; train it with --bias-reg plain or weighted");
    *lambda = isnan(o->lambda) ? m->config.lambda : o->lambda;
    if (!isfinite(*lambda) || *lambda < 0)
        return cf_fail(err, CF_ERR_INVALID, "fold-in: lambda %g, must be a finite value >= 0 (or NaN: the model's)",
                       o->lambda);
    if (o->reg != -1 && (o->reg < (int)CF_REG_PLAIN || o->reg > (int)CF_REG_MEAN))
        return cf_fail(err, CF_ERR_INVALID, "fold-in: reg %d, must be a cf_reg or -1 (the model's)", o->reg);
    *reg = o->reg == -1 ? m->config.reg : (cf_reg)o->reg;
    if (*reg == CF_REG_MEAN)
        return cf_fail(err, CF_ERR_INVALID,
                       "fold-in: regularization 'mean' (Λ = λ·|Ω|) needs the training set's size, which a model does "
                       "not keep; give the fold-in's own as 'plain' (Λ = λ per user) or 'weighted' (Λ = λ·n_u)");
    return CF_OK;
}

/* The fold-in's two sides: the rows it solves (the users, or the items with o.items) and
 * the other side, fixed. A user fold-in reads the ratings as they are; an item fold-in
 * the same with the roles swapped (x_i = [q_i; b_i] from the ratings of item i, P and b_u
 * fixed), so one routine does both. */
typedef struct fold_side {
    const char *what;                       /* "user" or "item": the solved rows, for messages */
    const cf_idmap *model_rows, *model_fixed; /* m's maps of the solved and the fixed side */
    const cf_idmap *data_rows, *data_fixed;   /* the ratings' maps of the same */
    const uint32_t *row_key, *fixed_key;      /* each rating's row on either side, in the ratings' maps */
    const double *X0, *bx0;                   /* m's rows of the solved side (kept or replaced under merge) */
    const double *Y, *by;                     /* m's rows of the fixed side */
    int64_t n_model_rows, n_fixed;
} fold_side;

static fold_side fold_side_of(const cf_model *m, const cf_dataset *ds, int items) {
    const cf_factors *f = &m->f;
    if (!items)
        return (fold_side){"user", m->users, m->items, ds->users, ds->items, ds->all.u, ds->all.i,
                           f->P, f->bu, f->Q, f->bi, f->n_users, f->n_items};
    return (fold_side){"item", m->items, m->users, ds->items, ds->users, ds->all.i, ds->all.u,
                       f->Q, f->bi, f->P, f->bu, f->n_items, f->n_users};
}

cf_status cf_model_fold_in(const cf_model *m, const cf_dataset *ratings, const cf_fold_in_options *opt,
                           cf_model **out, cf_fold_in_report *rep, cf_error *err) {
    if (!out) return cf_fail(err, CF_ERR_INVALID, "cf_model_fold_in: out is NULL");
    *out = NULL;
    if (!m || !ratings) return cf_fail(err, CF_ERR_INVALID, "cf_model_fold_in: %s is NULL", m ? "ratings" : "model");
    cf_fold_in_options o;
    if (opt) o = *opt;
    else cf_fold_in_options_default(&o);
    if (o.threads < 0) return cf_fail(err, CF_ERR_INVALID, "fold-in: threads %d, must be >= 0", o.threads);
    if (o.items != 0 && o.items != 1) return cf_fail(err, CF_ERR_INVALID, "fold-in: items %d, must be 0 or 1", o.items);
    if (o.merge != 0 && o.merge != 1) return cf_fail(err, CF_ERR_INVALID, "fold-in: merge %d, must be 0 or 1", o.merge);
    cf_als_rows rg;
    cf_status st = fold_in_reg(m, &o, &rg, err);
    if (st) return st;

    const fold_side s = fold_side_of(m, ratings, o.items);
    const int K = m->f.k, bias = m->f.bias;
    const int64_t nu = cf_idmap_size(s.data_rows), nr = ratings->all.n;
    cf_fold_in_report r = {.rows = nu};
    cf_factors f = {0};
    cf_idmap *rows = NULL, *fixed = NULL;
    int64_t *to = NULL, *dest = NULL, *ptr = NULL;
    uint32_t *idx = NULL;
    float *val = NULL;
    uint8_t *known = NULL;
    int64_t *cnt[2] = {NULL, NULL};
    st = CF_ERR_NOMEM;

    /* the ratings of known fixed rows grouped by solved row, in dataset order; the fixed
     * side as model rows */
    to = cf_idmap_translate(s.data_fixed, s.model_fixed, err, "fold-in map of the fixed side");
    dest = cf_idmap_translate(s.data_rows, s.model_rows, err, "fold-in map of the rows");
    known = cf_malloc((size_t)(nr > 0 ? nr : 1), err, "fold-in rating mask");
    ptr = cf_malloc((size_t)(nu + 1) * sizeof *ptr, err, "fold-in row offsets");
    if (!to || !dest || !known || !ptr) goto done;
    for (int64_t t = 0; t < nr; t++) {
        known[t] = to[s.fixed_key[t]] >= 0;
        r.ratings += known[t];
    }
    r.ratings_unknown = nr - r.ratings;
    idx = cf_malloc((size_t)(r.ratings > 0 ? r.ratings : 1) * sizeof *idx, err, "fold-in fixed rows");
    val = cf_malloc((size_t)(r.ratings > 0 ? r.ratings : 1) * sizeof *val, err, "fold-in ratings");
    if (!idx || !val) goto done;
    const cf_bucket_move mv = {.carry = s.fixed_key, .carry_out = idx, .val = ratings->all.r, .val_out = val,
                               .sel = known, .sel_want = 1};
    if ((st = cf_bucket_sort_threads(nr, s.row_key, NULL, nu, &mv, o.threads, ptr, err)) != CF_OK) goto done;
    st = CF_ERR_NOMEM;
    for (int64_t e = 0; e < r.ratings; e++) idx[e] = (uint32_t)to[idx[e]];
    for (int64_t u = 0; u < nu; u++) r.rows_empty += ptr[u + 1] == ptr[u], r.rows_new += dest[u] < 0;

    /* the new model's rows of the solved side: the ratings' (dest[u] = u), or under merge
     * m's followed by the ratings' new ones in their order (dest[u] = m's row or the next) */
    rows = o.merge ? cf_idmap_clone(s.model_rows) : cf_idmap_clone(s.data_rows);
    fixed = cf_idmap_clone(s.model_fixed);
    if (!rows || !fixed) {
        cf_fail(err, CF_ERR_NOMEM, "fold-in: out of memory for the ID maps");
        goto done;
    }
    for (int64_t u = 0; u < nu; u++) {
        if (!o.merge) {
            dest[u] = u;
        } else if (dest[u] < 0) {
            size_t len;
            const char *id = cf_idmap_name(s.data_rows, (uint32_t)u, &len);
            uint32_t at;
            int added;
            if (cf_idmap_intern(rows, id, len, &at, &added) != 0) {
                cf_fail(err, CF_ERR_NOMEM, "fold-in: out of memory merging the %s IDs", s.what);
                goto done;
            }
            dest[u] = at;
        }
    }
    const int64_t n_out = cf_idmap_size(rows);
    double *X, *bx;
    if (o.items) {
        if (cf_factors_alloc(&f, s.n_fixed, n_out, K, bias, err) != CF_OK) goto done;
        X = f.Q, bx = f.bi;
        memcpy(f.P, s.Y, sizeof(double) * (size_t)s.n_fixed * (size_t)K);
        memcpy(f.bu, s.by, sizeof(double) * (size_t)s.n_fixed);
    } else {
        if (cf_factors_alloc(&f, n_out, s.n_fixed, K, bias, err) != CF_OK) goto done;
        X = f.P, bx = f.bu;
        memcpy(f.Q, s.Y, sizeof(double) * (size_t)s.n_fixed * (size_t)K);
        memcpy(f.bi, s.by, sizeof(double) * (size_t)s.n_fixed);
    }
    f.mu = m->f.mu;
    if (o.merge) { /* m's rows stay where the ratings give nothing to solve from */
        memcpy(X, s.X0, sizeof(double) * (size_t)s.n_model_rows * (size_t)K);
        memcpy(bx, s.bx0, sizeof(double) * (size_t)s.n_model_rows);
    }

    /* the rows, in about twenty batches (progress and Ctrl-C between them) */
    const cf_als_rows job = {.ptr = ptr, .idx = idx, .val = val, .Y = s.Y, .by = s.by, .mu = m->f.mu, .K = K,
                             .bias = bias, .reg = rg.reg, .lambda = rg.lambda, .bias_own = rg.bias_own,
                             .bias_reg = rg.bias_reg, .bias_lambda = rg.bias_lambda, .nnz = 0, .X = X, .bx = bx, .dest = dest,
                             .zero_empty = 0, .threads = cf_threads(o.threads), .stop = NULL};
    const int64_t B = nu / 20 > 256 ? nu / 20 : 256;
    int64_t bad = -1; /* the first row whose system is not positive definite */
    if (o.progress && o.progress("fold-in", 0, nu, o.progress_user)) goto cancelled;
    for (int64_t u0 = 0; u0 < nu; u0 += B) {
        const int64_t u1 = nu - u0 < B ? nu : u0 + B;
        const int rc = cf_als_rows_solve(&job, u0, u1, &bad);
        if (rc < 0) {
            cf_fail(err, CF_ERR_NOMEM, "fold-in: out of memory for the %d×%d per-thread workspace", K + bias,
                    CF_ALS_CHUNK);
            goto done;
        }
        if (rc > 0) break;
        if (o.progress && o.progress("fold-in", u1, nu, o.progress_user)) goto cancelled;
    }
    if (bad >= 0) {
        char shown[CF_SHOW_CAP];
        size_t len;
        const char *id = cf_idmap_name(s.data_rows, (uint32_t)bad, &len);
        char bl[96];
        cf_fail(err, CF_ERR_NUMERIC,
                "fold-in: the normal equations of %s '%s' (%lld ratings of known %ss) are not positive definite "
                "(λ = %g, %s%s); use a larger lambda",
                s.what, cf_text_show(shown, sizeof shown, id, len), (long long)(ptr[bad + 1] - ptr[bad]),
                o.items ? "user" : "item", rg.lambda, cf_reg_name(rg.reg),
                cf_bias_reg_note(&m->config, m->f.bias, bl, sizeof bl));
        st = CF_ERR_NUMERIC;
        goto done;
    }
    /* the rating counts, when m has them: the fixed side's m's, a solved row's its known
     * ratings here (under merge a row the ratings give nothing to solve from keeps m's) */
    if (m->n_ratings[0] && m->n_ratings[1]) {
        const int sr = o.items ? 1 : 0; /* the solved side */
        cnt[sr] = malloc((size_t)(n_out > 0 ? n_out : 1) * sizeof(int64_t));
        cnt[1 - sr] = malloc((size_t)(s.n_fixed > 0 ? s.n_fixed : 1) * sizeof(int64_t));
        if (!cnt[0] || !cnt[1]) {
            cf_fail(err, CF_ERR_NOMEM, "fold-in: out of memory for the rating counts");
            goto done;
        }
        memcpy(cnt[1 - sr], m->n_ratings[1 - sr], (size_t)s.n_fixed * sizeof(int64_t));
        if (o.merge) memcpy(cnt[sr], m->n_ratings[sr], (size_t)s.n_model_rows * sizeof(int64_t));
        for (int64_t u = s.n_model_rows; o.merge && u < n_out; u++) cnt[sr][u] = 0;
        for (int64_t u = 0; u < nu; u++)
            if (!o.merge || ptr[u + 1] > ptr[u] || dest[u] >= s.n_model_rows) cnt[sr][dest[u]] = ptr[u + 1] - ptr[u];
    }
    cf_model *nm = o.items ? cf_model_wrap(&f, fixed, rows, &m->config) : cf_model_wrap(&f, rows, fixed, &m->config);
    if (!nm) {
        cf_fail(err, CF_ERR_NOMEM, "fold-in: out of memory for the model");
        goto done;
    }
    nm->n_ratings[0] = cnt[0], nm->n_ratings[1] = cnt[1];
    cnt[0] = cnt[1] = NULL;
    rows = fixed = NULL;
    *out = nm;
    if (rep) *rep = r;
    st = CF_OK;
    goto done;
cancelled:
    st = cf_fail(err, CF_ERR_INTERRUPTED, "fold-in: interrupted");
done:
    cf_factors_free(&f);
    cf_idmap_destroy(&rows), cf_idmap_destroy(&fixed);
    free(to), free(dest), free(ptr), free(idx), free(val), free(known), free(cnt[0]), free(cnt[1]);
    return st;
}

typedef struct term_row {
    double contribution;
    uint32_t row;
    float rating;
} term_row;

/* larger contribution first, then the lower item row */
static int cmp_term(const void *a, const void *b) {
    const term_row *x = a, *y = b;
    if (x->contribution != y->contribution) return x->contribution < y->contribution ? 1 : -1;
    return (x->row > y->row) - (x->row < y->row);
}

cf_status cf_model_explain(const cf_model *m, const cf_dataset *ratings, const cf_fold_in_options *opt,
                           const char *user, const char *item, int32_t n, cf_explain_term *terms, int32_t *n_terms,
                           cf_explanation *ex, cf_error *err) {
    if (!m || !ratings || !user || !item || !ex || (n > 0 && !terms))
        return cf_fail(err, CF_ERR_INVALID, "cf_model_explain: %s is NULL",
                       !m ? "model" : !ratings ? "ratings" : !user ? "user" : !item ? "item" : !ex ? "ex" : "terms");
    if (n < 0) return cf_fail(err, CF_ERR_INVALID, "explain: n %d, must be >= 0", (int)n);
    cf_fold_in_options o;
    if (opt) o = *opt;
    else cf_fold_in_options_default(&o);
    cf_als_rows rg;
    cf_status st = fold_in_reg(m, &o, &rg, err);
    if (st) return st;
    char shown[CF_SHOW_CAP];
    const int64_t du = cf_idmap_find(ratings->users, user, strlen(user));
    if (du < 0)
        return cf_fail(err, CF_ERR_NOT_FOUND, "explain: user '%s' has no ratings in the data given",
                       cf_text_show(shown, sizeof shown, user, strlen(user)));
    const int64_t it = cf_idmap_find(m->items, item, strlen(item));
    if (it < 0)
        return cf_fail(err, CF_ERR_NOT_FOUND, "explain: unknown item ID '%s' (not in the model)",
                       cf_text_show(shown, sizeof shown, item, strlen(item)));

    const int K = m->f.k, bias = m->f.bias, d = K + bias;
    const double mu = bias ? m->f.mu : 0.0, *Q = m->f.Q, *bi = m->f.bi;
    int64_t *to = cf_idmap_translate(ratings->items, m->items, err, "explain item map");
    if (!to) return CF_ERR_NOMEM;
    int64_t cnt = 0;
    for (int64_t t = 0; t < ratings->all.n; t++) cnt += ratings->all.u[t] == (uint32_t)du && to[ratings->all.i[t]] >= 0;
    uint32_t *idx = cf_malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *idx, err, "explain item rows");
    float *val = cf_malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *val, err, "explain ratings");
    double *w = cf_malloc((size_t)d * sizeof *w, err, "explain w");
    term_row *all = cf_malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *all, err, "explain terms");
    cf_als_row_ws ws = {0};
    st = CF_ERR_NOMEM;
    if (!idx || !val || !w || !all) goto done;
    if (cf_als_row_ws_alloc(&ws, K, bias)) {
        cf_fail(err, CF_ERR_NOMEM, "explain: out of memory for the %d×%d workspace", d, CF_ALS_CHUNK);
        goto done;
    }
    int64_t e = 0; /* the user's ratings of known items, in dataset order (as the fold-in takes them) */
    for (int64_t t = 0; t < ratings->all.n; t++)
        if (ratings->all.u[t] == (uint32_t)du && to[ratings->all.i[t]] >= 0)
            idx[e] = (uint32_t)to[ratings->all.i[t]], val[e++] = ratings->all.r[t];
    const double *q = Q + (size_t)it * (size_t)K;
    cf_explanation r = {.base = bias ? mu + bi[it] : 0.0, .ratings = cnt};
    if (cnt == 0) { /* a zero row: the base alone */
        r.score = bias ? mu + 0.0 + bi[it] + 0.0 : 0.0;
    } else {
        double lamb;
        const double lam = cf_als_rows_lambda(&rg, cnt, &lamb);
        if (cf_als_row_solve_b(&ws, Q, bi, mu, idx, val, cnt, lam, lamb, NULL) != 0) {
            char bl[96];
            st = cf_fail(err, CF_ERR_NUMERIC,
                         "explain: the normal equations of user '%s' (%lld ratings of known items) are not positive "
                         "definite (λ = %g, %s%s); use a larger lambda",
                         cf_text_show(shown, sizeof shown, user, strlen(user)), (long long)cnt, rg.lambda,
                         cf_reg_name(rg.reg), cf_bias_reg_note(&m->config, m->f.bias, bl, sizeof bl));
            goto done;
        }
        double dot = 0; /* cf_predict's order: μ + b_u + b_i + Σ_k p_k q_k */
        for (int k = 0; k < K; k++) dot += ws.x[k] * q[k];
        r.score = bias ? mu + ws.x[K] + bi[it] + dot : dot;
        /* w = A⁻¹ z_i from the factor U of A */
        memcpy(w, q, sizeof(double) * (size_t)K);
        if (bias) w[K] = 1.0;
        LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'U', d, 1, ws.A, d, w, d);
        for (int64_t j = 0; j < cnt; j++) {
            const double *qj = Q + (size_t)idx[j] * (size_t)K;
            double zw = bias ? w[K] : 0.0, tj = bias ? (double)val[j] - mu - bi[idx[j]] : (double)val[j];
            for (int k = 0; k < K; k++) zw += qj[k] * w[k];
            all[j] = (term_row){.contribution = tj * zw, .row = idx[j], .rating = val[j]};
        }
        qsort(all, (size_t)cnt, sizeof *all, cmp_term);
    }
    const int32_t got = (int64_t)n < cnt ? n : (int32_t)cnt;
    for (int32_t j = 0; j < got; j++) {
        size_t len;
        terms[j] = (cf_explain_term){.item = cf_idmap_name(m->items, all[j].row, &len), .rating = all[j].rating,
                                     .contribution = all[j].contribution};
    }
    if (n_terms) *n_terms = got;
    *ex = r;
    st = CF_OK;
done:
    cf_als_row_ws_free(&ws);
    free(to), free(idx), free(val), free(w), free(all);
    return st;
}
