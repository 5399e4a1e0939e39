/*
 * model.c — using a trained model: info, predict, recommend (evaluate: metrics.c).
 *
 *   r̂(u, i) = μ + b_u + b_i + p_u·q_i     (bias = 1; cf_predict of factors.h)
 *   r̂(u, i) = p_u·q_i                     (bias = 0)
 *
 * Users and items are addressed by their external ID strings; the model's maps give
 * their rows. A dataset passed in (exclude, evaluate) has its own maps, so its indices
 * are translated to the model's by looking each of its ID strings up once.
 *
 * recommend: scores every item for the user and keeps the best n in a binary min-heap
 * whose root is the worst kept candidate: O(n_items log n). "Better" means a higher
 * score, or an equal score and a lower item index, so results are deterministic.
 *
 * Unseen pairs (evaluate, cf_model_predict_or_mean): a pair whose user or item the model
 * does not know is predicted with zero factors for the unknown side, i.e. μ plus
 * whichever bias is known; without biases μ, the training mean (a model saved before
 * this stored μ = 0 without biases and predicts 0) — what the trainer reports for test
 * pairs with no training ratings. The model has rows for the IDs with training ratings
 * only (train.c), so train, eval, predict and recommend agree on what is unseen.
 */
#include "model.h"

#include "common.h"
#include "dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cf_model *cf_model_wrap(cf_factors *f, cf_idmap *users, cf_idmap *items, const cf_config *cfg) {
    cf_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->f = *f;
    memset(f, 0, sizeof *f);
    m->users = users;
    m->items = items;
    if (cfg) {
        m->config = *cfg;
    } else {
        cf_config_default(&m->config);
        m->config.factors = m->f.k;
        m->config.bias = m->f.bias;
    }
    return m;
}

cf_status cf_model_transpose(const cf_model *m, cf_model **out, cf_error *err) {
    if (!out) return cf_fail(err, CF_ERR_INVALID, "cf_model_transpose: out is NULL");
    *out = NULL;
    if (!m) return cf_fail(err, CF_ERR_INVALID, "cf_model_transpose: model is NULL");
    const cf_factors *f = &m->f;
    cf_factors t = {.n_users = f->n_items, .n_items = f->n_users, .k = f->k, .bias = f->bias, .mu = f->mu,
                    .P = f->Q, .Q = f->P, .bu = f->bi, .bi = f->bu}; /* a view: copied below */
    cf_factors c;
    cf_status st = cf_factors_copy(&c, &t, err);
    if (st) return st;
    cf_idmap *users = cf_idmap_clone(m->items), *items = cf_idmap_clone(m->users);
    cf_model *tm = users && items ? cf_model_wrap(&c, users, items, &m->config) : NULL;
    if (!tm) {
        cf_factors_free(&c);
        cf_idmap_destroy(&users), cf_idmap_destroy(&items);
        return cf_fail(err, CF_ERR_NOMEM, "cf_model_transpose: out of memory");
    }
    if (m->n_ratings[0] && m->n_ratings[1]) { /* the counts change sides with the rows */
        for (int sd = 0; sd < 2; sd++) {
            const int64_t n = sd ? f->n_users : f->n_items;
            tm->n_ratings[sd] = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
            if (tm->n_ratings[sd]) memcpy(tm->n_ratings[sd], m->n_ratings[1 - sd], (size_t)n * sizeof(int64_t));
        }
        if (!tm->n_ratings[0] || !tm->n_ratings[1]) {
            cf_model_destroy(&tm);
            return cf_fail(err, CF_ERR_NOMEM, "cf_model_transpose: out of memory");
        }
    }
    *out = tm;
    return CF_OK;
}

static cf_status no_counts(cf_error *err) {
    return cf_fail(err, CF_ERR_UNSUPPORTED,
                   "the model has no rating counts (a model file of version 1, saved before they were kept): "
                   "train it again to have them");
}

cf_status cf_model_rating_counts(const cf_model *m, cf_which side, int64_t *out, cf_error *err) {
    if (!m || !out) return cf_fail(err, CF_ERR_INVALID, "cf_model_rating_counts: %s is NULL", m ? "out" : "model");
    if (side != CF_USERS && side != CF_ITEMS)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_rating_counts: side %d, must be CF_USERS or CF_ITEMS", (int)side);
    if (!m->n_ratings[side]) return no_counts(err);
    memcpy(out, m->n_ratings[side], (size_t)(side ? m->f.n_items : m->f.n_users) * sizeof *out);
    return CF_OK;
}

cf_status cf_model_from_rows(const cf_factors *f, const cf_idmap *users, const cf_idmap *items,
                             const int64_t *const counts[2], const uint8_t *const keep[2], const cf_config *cfg,
                             cf_model **out, cf_error *err) {
    *out = NULL;
    const int64_t n[2] = {f->n_users, f->n_items};
    int64_t kept[2] = {0, 0};
    for (int sd = 0; sd < 2; sd++)
        for (int64_t r = 0; r < n[sd]; r++) kept[sd] += !keep[sd] || keep[sd][r];
    cf_factors g = {0};
    cf_idmap *maps[2] = {cf_idmap_create(), cf_idmap_create()};
    int64_t *cnt[2] = {NULL, NULL};
    for (int sd = 0; sd < 2 && counts; sd++) cnt[sd] = malloc((size_t)(kept[sd] > 0 ? kept[sd] : 1) * sizeof(int64_t));
    cf_status st = maps[0] && maps[1] && (!counts || (cnt[0] && cnt[1])) ? CF_OK : CF_ERR_NOMEM;
    if (!st) st = cf_factors_alloc(&g, kept[0], kept[1], f->k, f->bias, err);
    g.mu = f->mu;
    const size_t K = (size_t)f->k;
    for (int sd = 0; sd < 2 && !st; sd++) {
        const cf_idmap *src = sd ? items : users;
        const double *X = sd ? f->Q : f->P, *bx = sd ? f->bi : f->bu;
        double *Y = sd ? g.Q : g.P, *by = sd ? g.bi : g.bu;
        for (int64_t r = 0, o = 0; r < n[sd] && !st; r++) {
            if (keep[sd] && !keep[sd][r]) continue;
            size_t len;
            const char *name = cf_idmap_name(src, (uint32_t)r, &len);
            uint32_t idx;
            int added;
            if (cf_idmap_intern(maps[sd], name, len, &idx, &added) != 0) st = CF_ERR_NOMEM;
            memcpy(Y + (size_t)o * K, X + (size_t)r * K, K * sizeof(double));
            by[o] = bx[r];
            if (cnt[sd]) cnt[sd][o] = counts[sd][r];
            o++;
        }
    }
    cf_model *m = st ? NULL : cf_model_wrap(&g, maps[0], maps[1], cfg);
    if (!m) {
        cf_factors_free(&g);
        cf_idmap_destroy(&maps[0]), cf_idmap_destroy(&maps[1]);
        free(cnt[0]), free(cnt[1]);
        return !st || st == CF_ERR_NOMEM ? cf_fail(err, CF_ERR_NOMEM, "out of memory building the model") : st;
    }
    m->n_ratings[0] = cnt[0], m->n_ratings[1] = cnt[1];
    *out = m;
    return CF_OK;
}

cf_status cf_model_subset(const cf_model *m, const uint8_t *keep_users, const uint8_t *keep_items, cf_model **out,
                          cf_error *err) {
    if (!out) return cf_fail(err, CF_ERR_INVALID, "cf_model_subset: out is NULL");
    *out = NULL;
    if (!m) return cf_fail(err, CF_ERR_INVALID, "cf_model_subset: model is NULL");
    const int64_t *const counts[2] = {m->n_ratings[0], m->n_ratings[1]};
    const uint8_t *const keep[2] = {keep_users, keep_items};
    return cf_model_from_rows(&m->f, m->users, m->items, counts[0] && counts[1] ? counts : NULL, keep, &m->config,
                              out, err);
}

cf_status cf_model_subset_min_ratings(const cf_model *m, int64_t min_users, int64_t min_items, cf_model **out,
                                      cf_error *err) {
    if (!out) return cf_fail(err, CF_ERR_INVALID, "cf_model_subset_min_ratings: out is NULL");
    *out = NULL;
    if (!m) return cf_fail(err, CF_ERR_INVALID, "cf_model_subset_min_ratings: model is NULL");
    const int64_t min[2] = {min_users, min_items}, n[2] = {m->f.n_users, m->f.n_items};
    uint8_t *keep[2] = {NULL, NULL};
    cf_status st = CF_OK;
    for (int sd = 0; sd < 2 && !st; sd++) {
        if (min[sd] <= 0) continue;
        if (!m->n_ratings[sd]) {
            st = no_counts(err);
            break;
        }
        if (!(keep[sd] = malloc((size_t)(n[sd] > 0 ? n[sd] : 1)))) {
            st = cf_fail(err, CF_ERR_NOMEM, "cf_model_subset_min_ratings: out of memory");
            break;
        }
        for (int64_t r = 0; r < n[sd]; r++) keep[sd][r] = m->n_ratings[sd][r] >= min[sd];
    }
    if (!st) st = cf_model_subset(m, keep[0], keep[1], out, err);
    free(keep[0]), free(keep[1]);
    return st;
}

void cf_model_destroy(cf_model **pm) {
    if (!pm || !*pm) return;
    cf_model *m = *pm;
    cf_factors_free(&m->f);
    cf_idmap_destroy(&m->users);
    cf_idmap_destroy(&m->items);
    free(m->n_ratings[0]), free(m->n_ratings[1]);
    free(m);
    *pm = NULL;
}

void cf_model_info_get(const cf_model *m, cf_model_info *info) {
    memset(info, 0, sizeof *info);
    if (!m) return;
    info->n_users = m->f.n_users;
    info->n_items = m->f.n_items;
    info->factors = m->f.k;
    info->bias = m->f.bias;
    info->mu = m->f.mu;
    info->config = m->config;
}

static int64_t find_id(const cf_idmap *map, const char *id) {
    return cf_idmap_find(map, id, strlen(id));
}

/* "unknown user ID 'x'", the ID escaped and cut as the reader shows text (a 10 MB ID or
 * terminal escape sequences must not reach stderr). */
static cf_status not_found(cf_error *err, const char *what, const char *id) {
    char shown[CF_SHOW_CAP];
    return cf_fail(err, CF_ERR_NOT_FOUND, "unknown %s ID '%s'", what, cf_text_show(shown, sizeof shown, id, strlen(id)));
}

cf_status cf_model_predict(const cf_model *m, const char *user, const char *item, double *out,
                           cf_error *err) {
    if (!m || !user || !item || !out)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_predict: %s is NULL",
                       !m ? "model" : !user ? "user" : !item ? "item" : "out");
    int64_t u = find_id(m->users, user);
    if (u < 0) return not_found(err, "user", user);
    int64_t i = find_id(m->items, item);
    if (i < 0) return not_found(err, "item", item);
    *out = cf_predict(&m->f, (uint32_t)u, (uint32_t)i);
    return CF_OK;
}

cf_status cf_model_predict_or_mean(const cf_model *m, const char *user, const char *item, double *out,
                                   int *unseen, cf_error *err) {
    if (!m || !user || !item || !out)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_predict_or_mean: %s is NULL",
                       !m ? "model" : !user ? "user" : !item ? "item" : "out");
    int64_t u = find_id(m->users, user), i = find_id(m->items, item);
    if (unseen) *unseen = u < 0 || i < 0;
    *out = cf_predict_or_mean(&m->f, u, i);
    return CF_OK;
}

/* ---------------------------------------------------------------- recommend */

typedef cf_topn_cand cand;

/* a ranks before b: higher score, then lower item index */
static int better(cand a, cand b) {
    return a.score > b.score || (a.score == b.score && a.item < b.item);
}

/* Min-heap by `better`: h[0] is the worst kept candidate. */
static void sift_down(cand *h, int64_t n, int64_t k) {
    for (;;) {
        int64_t l = 2 * k + 1, r = l + 1, w = k;
        if (l < n && better(h[w], h[l])) w = l;
        if (r < n && better(h[w], h[r])) w = r;
        if (w == k) return;
        cand t = h[k];
        h[k] = h[w];
        h[w] = t;
        k = w;
    }
}

static void sift_up(cand *h, int64_t k) {
    while (k > 0) {
        int64_t p = (k - 1) / 2;
        if (!better(h[p], h[k])) return;
        cand t = h[k];
        h[k] = h[p];
        h[p] = t;
        k = p;
    }
}

size_t cf_model_topn_scratch(const cf_factors *f) {
    return cf_score_qt_doubles(f) + (size_t)CF_TOPN_GROUP * CF_SCORE_ITEMS;
}

/* Offers candidate c to the heap of `size` (room for cap); returns the new size. */
static int64_t heap_offer(cand *heap, int64_t size, int64_t cap, cand c) {
    if (size < cap) {
        heap[size] = c;
        sift_up(heap, size++);
    } else if (cap > 0 && better(c, heap[0])) {
        heap[0] = c;
        sift_down(heap, size, 0);
    }
    return size;
}

void cf_model_topn(const cf_factors *f, const int64_t *u, int m, const uint8_t *const *excl, int64_t cap,
                   cf_topn_cand *heaps, uint32_t *items, double *scores, int64_t ld, int64_t *got, double *scratch) {
    /* the known users of the group, scored together (cf_score_block) */
    uint32_t rows[CF_TOPN_GROUP];
    int slot[CF_TOPN_GROUP], nk = 0;
    for (int a = 0; a < m; a++) {
        slot[a] = u[a] >= 0 ? nk : -1;
        if (u[a] >= 0) rows[nk++] = (uint32_t)u[a];
        got[a] = 0;
    }
    double *qt = scratch, *s = scratch + cf_score_qt_doubles(f);
    for (int64_t i0 = 0; i0 < f->n_items; i0 += CF_SCORE_ITEMS) {
        const int64_t nb = f->n_items - i0 < CF_SCORE_ITEMS ? f->n_items - i0 : CF_SCORE_ITEMS;
        if (nk) cf_score_block(f, rows, nk, i0, nb, qt, s);
        for (int a = 0; a < m; a++) {
            const uint8_t *ex = excl ? excl[a] : NULL;
            const double *sa = slot[a] >= 0 ? s + (size_t)slot[a] * CF_SCORE_ITEMS : NULL;
            cand *heap = heaps + (size_t)a * (size_t)cap;
            for (int64_t j = 0; j < nb; j++) {
                const int64_t i = i0 + j;
                if (ex && ex[i]) continue;
                /* an unknown user has zero factors and no bias: μ + b_i, as evaluate predicts */
                const cand c = {sa ? sa[j] : f->mu + (f->bias ? f->bi[i] : 0.0), (uint32_t)i};
                got[a] = heap_offer(heap, got[a], cap, c);
            }
        }
    }
    /* pop the worst to the back: the output ends up best first */
    for (int a = 0; a < m; a++) {
        cand *heap = heaps + (size_t)a * (size_t)cap;
        for (int64_t k = got[a] - 1; k >= 0; k--) {
            items[a * ld + k] = heap[0].item;
            scores[a * ld + k] = heap[0].score;
            heap[0] = heap[k];
            sift_down(heap, k, 0);
        }
    }
}

cf_status cf_model_recommend(const cf_model *m, const char *user, int32_t n,
                             const cf_dataset *exclude, cf_recommendation *out, int32_t *n_out,
                             cf_error *err) {
    if (n_out) *n_out = 0;
    if (!m || !user || !out || !n_out)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_recommend: %s is NULL",
                       !m ? "model" : !user ? "user" : !out ? "out" : "n_out");
    if (n < 1) return cf_fail(err, CF_ERR_INVALID, "recommend: n = %d, must be >= 1", (int)n);
    int64_t u = find_id(m->users, user);
    if (u < 0) return not_found(err, "user", user);

    /* one user of cf_model_recommend_rows (api.c): the batch's exclusions and ranking */
    const int64_t cap = (int64_t)n < m->f.n_items ? (int64_t)n : m->f.n_items;
    int64_t *items = cf_malloc((size_t)(cap > 0 ? cap : 1) * sizeof *items, err, "recommend items");
    double *scores = cf_malloc((size_t)(cap > 0 ? cap : 1) * sizeof *scores, err, "recommend scores");
    if (!items || !scores) {
        free(items), free(scores);
        return CF_ERR_NOMEM;
    }
    const int64_t du = exclude ? find_id(exclude->users, user) : -1;
    int32_t got = 0;
    cf_status st = cf_model_recommend_rows(m, &u, &du, 1, (int32_t)cap, exclude, 1, items, scores, &got, err);
    for (int32_t k = 0; st == CF_OK && k < got; k++) {
        out[k].item = cf_idmap_name(m->items, (uint32_t)items[k], NULL);
        out[k].score = scores[k];
    }
    if (st == CF_OK) *n_out = got;
    free(items), free(scores);
    return st;
}
