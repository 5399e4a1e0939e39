/*
 * gen.c — synthetic ratings with a planted low-rank model and power-law popularity,
 * and the writer of a dataset's training part as delimited text.
 *
 * Planted model (R = rank, all draws independent):
 *     p*_u, q*_i ∈ R^R, every entry ~ N(0, σ_f²) with σ_f² = 0.7 / sqrt(R),
 *         so that sd(p*_u·q*_i) = R^{1/2} σ_f² = 0.7 for any rank;
 *     b*_u ~ N(0, 0.25²),  b*_i ~ N(0, 0.35²);
 *     r_ui = mu + b*_u + b*_i + p*_u·q*_i + ε,  ε ~ N(0, noise²);
 *     then, if clip, r = min(5, max(1, r)); then, if round = 1, r = round(r) (half away
 *     from zero). Half stars (round = 2, MovieLens-20M-like 0.5 .. 5): clip to
 *     [0.5, 5] (when clip) and r = round(2r)/2. Stored as float (exact in binary).
 *   Without clip and round the ratings have mean mu and variance
 *   0.25² + 0.35² + 0.7² + noise² (over random users, items and noise).
 *
 * Popularity: the k-th most popular user (item), k = 0, 1, ..., has weight (k+1)^-zipf;
 * which index holds which popularity rank is a seeded random permutation, so index
 * order is not popularity order.
 *   Degrees: user degrees are proportional to the user weights and sum to `ratings`
 *   exactly: when ratings >= users every user gets 1 first and the other
 *   ratings − users are shared out; no degree exceeds `items` (the most popular users
 *   are capped at `items` in turn and the remainder is shared among the others);
 *   fractional shares are rounded by the floor of the running cumulative share, so the
 *   rounding is deterministic and sums exactly.
 *   Items: each user draws its d distinct items by successive popularity-weighted
 *   sampling without replacement: an alias table (Vose) draws an item with probability
 *   ∝ its weight and repeats are drawn again. When d > items/2, or when the repeats
 *   exceed a budget (8d + 64 draws), the user's sample is drawn instead by the
 *   exponential-key method of Efraimidis–Spirakis (key_i = E_i / w_i, E_i ~ Exp(1);
 *   keep the d smallest keys), which has the same distribution and costs O(items).
 *   So every (user, item) pair is distinct.
 *   Missing not at random (mnar = β > 0): item i's weight for user u is w_i · σ(β a_ui)
 *   with a_ui = (b*_i + p*_u·q*_i) / sqrt(0.35² + 0.7²), the user's planted affinity in
 *   units of its spread, and σ(x) = 1 / (1 + e^-x): a user rates what it likes more often,
 *   so which items are rated carries the planted structure too, as in real data (where a
 *   best-seller list is otherwise hard to beat at ranking). Sampling draws i by popularity
 *   and keeps it with probability σ(β a_ui) (one more uniform from the same stream; a
 *   rejection counts as a draw against the budget, which becomes 16d + 64), the exact
 *   method uses the weights w_i σ(β a_ui). β = 0 draws nothing more: the data of before.
 *
 * IDs: users "1".."users" and items "1".."items", interned in index order.
 * Everything is a deterministic function of the options (four RNG streams derived from
 * the seed: permutations, planted factors, item sampling, noise). Ratings come out
 * grouped by user, in index order. Memory: the triplets plus O(users·rank + items·rank).
 */
#include "atomic_file.h"
#include "common.h"
#include "dataset.h"
#include "gz.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_MAX_ROWS ((int64_t)INT32_MAX)
#define GEN_MAX_RANK 4096
#define GEN_MAX_ZIPF 10.0
#define GEN_MAX_MNAR 100.0
#define GEN_T0 1000000000LL /* the first timestamp of time_span: 2001-09-09 01:46:40 UTC */
#define GEN_MAX_DRIFT 100.0

void cf_gen_options_default(cf_gen_options *o) {
    memset(o, 0, sizeof *o);
    o->users = 943;
    o->items = 1682;
    o->ratings = 100000;
    o->rank = 8;
    o->noise = 0.5;
    o->seed = 1;
    o->zipf = 0.8;
    o->round = 0;
    o->clip = 1;
    o->mu = 3.5;
}

#define BAD(...) return cf_fail(err, CF_ERR_INVALID, __VA_ARGS__)

static cf_status validate(const cf_gen_options *o, cf_error *err) {
    if (!o) BAD("gen options: NULL");
    if (o->users < 1 || o->users > GEN_MAX_ROWS)
        BAD("users: %lld, must be in 1..%lld", (long long)o->users, (long long)GEN_MAX_ROWS);
    if (o->items < 1 || o->items > GEN_MAX_ROWS)
        BAD("items: %lld, must be in 1..%lld", (long long)o->items, (long long)GEN_MAX_ROWS);
    if (o->ratings < 1 || o->ratings > o->users * o->items)
        BAD("ratings: %lld, must be in 1..users×items = %lld", (long long)o->ratings,
            (long long)(o->users * o->items));
    if (o->rank < 1 || o->rank > GEN_MAX_RANK)
        BAD("rank: %d, must be in 1..%d", (int)o->rank, GEN_MAX_RANK);
    if (!isfinite(o->noise) || o->noise < 0) BAD("noise: %g, must be a finite value >= 0", o->noise);
    if (!isfinite(o->zipf) || o->zipf < 0 || o->zipf > GEN_MAX_ZIPF)
        BAD("zipf: %g, must be in [0, %g]", o->zipf, GEN_MAX_ZIPF);
    if (o->round < 0 || o->round > 2) BAD("round: %d, must be 0, 1 (whole stars) or 2 (half stars)", o->round);
    if (o->clip != 0 && o->clip != 1) BAD("clip: %d, must be 0 or 1", o->clip);
    if (!isfinite(o->mu)) BAD("mu: %g, must be finite", o->mu);
    if (!isfinite(o->mnar) || o->mnar < 0 || o->mnar > GEN_MAX_MNAR)
        BAD("mnar: %g, must be in [0, %g]", o->mnar, GEN_MAX_MNAR);
    if (o->time_span < 0 || o->time_span > INT64_MAX - GEN_T0)
        BAD("time_span: %lld, must be in 0..%lld seconds", (long long)o->time_span, (long long)(INT64_MAX - GEN_T0));
    if (!isfinite(o->drift) || o->drift < 0 || o->drift > GEN_MAX_DRIFT)
        BAD("drift: %g, must be in [0, %g]", o->drift, GEN_MAX_DRIFT);
    if (o->drift > 0 && o->time_span == 0) BAD("drift: %g needs a time span (timestamps) to drift over", o->drift);
    return CF_OK;
}

/* ---------------------------------------------------------------- random helpers */

/* N(0,1) by Marsaglia's polar method; the second value of each pair is kept. */
typedef struct normal_gen {
    cf_rng rng;
    double spare;
    int has_spare;
} normal_gen;

static double next_normal(normal_gen *g) {
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * cf_rng_uniform(&g->rng) - 1.0;
        v = 2.0 * cf_rng_uniform(&g->rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double m = sqrt(-2.0 * log(s) / s);
    g->spare = v * m;
    g->has_spare = 1;
    return u * m;
}

/* Seed of stream `k` derived from the user's seed. */
static uint64_t stream_seed(uint64_t seed, uint64_t k) {
    uint64_t s = seed ^ (0x9e3779b97f4a7c15ULL * (k + 1));
    return cf_splitmix64(&s);
}

/* perm[k] = the index holding popularity rank k (Fisher–Yates). */
static void random_permutation(uint32_t *perm, int64_t n, cf_rng *rng) {
    for (int64_t k = 0; k < n; k++) perm[k] = (uint32_t)k;
    for (int64_t k = n - 1; k > 0; k--) {
        int64_t j = (int64_t)cf_rng_below(rng, (uint64_t)k + 1);
        uint32_t t = perm[k];
        perm[k] = perm[j];
        perm[j] = t;
    }
}

/* ---------------------------------------------------------------- degrees */

/* deg[k] for popularity rank k = 0..n-1 (weights w[k] non-increasing), summing to
 * `total`, each in [base, cap]. Needs total in [base·n, cap·n]. */
static int degrees_by_rank(const double *w, int64_t n, int64_t total, int64_t base, int64_t cap,
                           int64_t *deg) {
    double *suf = malloc((size_t)(n + 1) * sizeof *suf);
    if (!suf) return -1;
    suf[n] = 0;
    for (int64_t k = n - 1; k >= 0; k--) suf[k] = suf[k + 1] + w[k];
    int64_t rem = total - base * n, room = cap - base;
    int64_t k = 0;
    /* the most popular rows whose proportional share reaches the cap get the cap */
    while (k < n && rem > 0 && (double)rem * w[k] / suf[k] >= (double)room - 1e-9) {
        int64_t give = room < rem ? room : rem;
        deg[k++] = base + give;
        rem -= give;
    }
    /* the rest: floor of the running cumulative share, so the parts sum to rem */
    double acc = 0;
    int64_t prev = 0;
    for (int64_t j = k; j < n; j++) {
        acc += w[j];
        int64_t c = j == n - 1 ? rem : (int64_t)floor((double)rem * acc / suf[k]);
        if (c < prev) c = prev;
        if (c > rem) c = rem;
        deg[j] = base + (c - prev);
        prev = c;
    }
    free(suf);
    /* guard against rounding: clamp to [base, cap] and settle any difference in rank order */
    int64_t diff = total;
    for (int64_t j = 0; j < n; j++) {
        if (deg[j] > cap) deg[j] = cap;
        if (deg[j] < base) deg[j] = base;
        diff -= deg[j];
    }
    for (int64_t j = 0; diff > 0 && j < n; j++) {
        int64_t add = cap - deg[j] < diff ? cap - deg[j] : diff;
        deg[j] += add;
        diff -= add;
    }
    for (int64_t j = n - 1; diff < 0 && j >= 0; j--) {
        int64_t sub = deg[j] - base < -diff ? deg[j] - base : -diff;
        deg[j] -= sub;
        diff += sub;
    }
    return 0;
}

/* ---------------------------------------------------------------- item sampling */

/* Vose's alias table over n weights: draw k uniformly, keep it with probability
 * prob[k], else take alias[k]. */
typedef struct alias_table {
    int64_t n;
    double *prob;
    uint32_t *alias;
} alias_table;

static int alias_build(alias_table *t, const double *w, int64_t n) {
    t->n = n;
    t->prob = malloc((size_t)n * sizeof *t->prob);
    t->alias = malloc((size_t)n * sizeof *t->alias);
    uint32_t *small = malloc((size_t)n * sizeof *small), *large = malloc((size_t)n * sizeof *large);
    if (!t->prob || !t->alias || !small || !large) {
        free(small), free(large);
        return -1;
    }
    double sum = 0;
    for (int64_t k = 0; k < n; k++) sum += w[k];
    int64_t ns = 0, nl = 0;
    for (int64_t k = 0; k < n; k++) {
        t->prob[k] = w[k] * (double)n / sum;
        t->alias[k] = (uint32_t)k;
        if (t->prob[k] < 1.0) small[ns++] = (uint32_t)k;
        else large[nl++] = (uint32_t)k;
    }
    while (ns > 0 && nl > 0) {
        uint32_t s = small[--ns], l = large[nl - 1];
        t->alias[s] = l;
        t->prob[l] -= 1.0 - t->prob[s];
        if (t->prob[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    /* leftovers are 1 up to rounding */
    while (nl > 0) t->prob[large[--nl]] = 1.0;
    while (ns > 0) t->prob[small[--ns]] = 1.0;
    free(small), free(large);
    return 0;
}

static void alias_free(alias_table *t) {
    free(t->prob), free(t->alias);
    t->prob = NULL, t->alias = NULL;
}

/* One draw from a single 64-bit random number: the high half of x·n is the slot, the
 * low half its (independent, uniform) fraction. */
static inline uint32_t alias_draw(const alias_table *t, cf_rng *rng) {
    uint64_t x = cf_rng_next(rng);
    __uint128_t m = (__uint128_t)x * (uint64_t)t->n;
    uint32_t k = (uint32_t)(m >> 64);
    double frac = (double)((uint64_t)m >> 11) * 0x1.0p-53;
    return frac < t->prob[k] ? k : t->alias[k];
}

typedef struct keyed {
    double key;
    uint32_t item;
} keyed;

/* Rearranges a[0..n) so that a[0..d) hold the d smallest keys (Hoare quickselect). */
static void select_smallest(keyed *a, int64_t n, int64_t d) {
    int64_t lo = 0, hi = n - 1, want = d - 1;
    while (lo < hi) {
        double x = a[lo].key, y = a[lo + (hi - lo) / 2].key, z = a[hi].key;
        double pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i].key < pivot) i++;
            while (a[j].key > pivot) j--;
            if (i <= j) {
                keyed t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++, j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break;
    }
}

/* The planted selection bias of user row p for item i (β > 0): σ(β a_ui). */
typedef struct mnar_model {
    double beta, inv_sd;
    const double *Q, *bi;
    int32_t rank;
} mnar_model;

static double mnar_keep(const mnar_model *mm, const double *p, uint32_t i) {
    const double *q = mm->Q + (size_t)i * (size_t)mm->rank;
    double dot = 0;
    for (int32_t c = 0; c < mm->rank; c++) dot += p[c] * q[c];
    return 1.0 / (1.0 + exp(-mm->beta * (mm->bi[i] + dot) * mm->inv_sd));
}

/* d distinct items by exponential keys: key_i = E_i / w_i (w_i σ(β a_ui) with mm, for user
 * row p), keep the d smallest. */
static void sample_exact(const double *w, int64_t n, int64_t d, const mnar_model *mm, const double *p,
                         keyed *work, cf_rng *rng, uint32_t *out) {
    for (int64_t i = 0; i < n; i++) {
        double u = ((double)(cf_rng_next(rng) >> 11) + 0.5) * 0x1.0p-53; /* (0, 1) */
        work[i].key = -log(u) / (mm ? w[i] * mnar_keep(mm, p, (uint32_t)i) : w[i]);
        work[i].item = (uint32_t)i;
    }
    select_smallest(work, n, d);
    for (int64_t k = 0; k < d; k++) out[k] = work[k].item;
}

/* ---------------------------------------------------------------- generate */

cf_status cf_generate(const cf_gen_options *opt, cf_dataset **out, cf_error *err) {
    if (!out) return cf_fail(err, CF_ERR_INVALID, "cf_generate: out is NULL");
    *out = NULL;
    cf_status st = validate(opt, err);
    if (st) return st;
    const int64_t U = opt->users, I = opt->items, R = opt->ratings;
    const int32_t rank = opt->rank;

    cf_dataset *ds = NULL;
    double *wu = NULL, *wi = NULL, *wi_idx = NULL, *Pst = NULL, *Qst = NULL, *bu = NULL, *bi = NULL, *zi = NULL;
    uint32_t *perm_u = NULL, *perm_i = NULL, *stamp = NULL;
    int64_t *deg_rank = NULL, *deg = NULL;
    keyed *work = NULL;
    alias_table at = {0, NULL, NULL};
    st = CF_ERR_NOMEM;

    ds = cf_dataset_create();
    wu = malloc((size_t)U * sizeof *wu);
    wi = malloc((size_t)I * sizeof *wi);
    wi_idx = malloc((size_t)I * sizeof *wi_idx);
    perm_u = malloc((size_t)U * sizeof *perm_u);
    perm_i = malloc((size_t)I * sizeof *perm_i);
    deg_rank = malloc((size_t)U * sizeof *deg_rank);
    Pst = malloc((size_t)U * (size_t)rank * sizeof *Pst);
    Qst = malloc((size_t)I * (size_t)rank * sizeof *Qst);
    bu = malloc((size_t)U * sizeof *bu);
    bi = malloc((size_t)I * sizeof *bi);
    stamp = calloc((size_t)I, sizeof *stamp);
    if (!ds || !wu || !wi || !wi_idx || !perm_u || !perm_i || !deg_rank || !Pst || !Qst || !bu ||
        !bi || !stamp) {
        cf_fail(err, CF_ERR_NOMEM, "out of memory for the generator's model (%lld users, %lld items, rank %d)",
                (long long)U, (long long)I, (int)rank);
        goto done;
    }

    /* IDs "1".."U", "1".."I" in index order */
    char tok[24];
    for (int64_t k = 0; k < U; k++) {
        int len = snprintf(tok, sizeof tok, "%lld", (long long)(k + 1));
        uint32_t idx;
        if (cf_idmap_intern(ds->users, tok, (size_t)len, &idx, NULL)) {
            cf_fail(err, CF_ERR_NOMEM, "out of memory for %lld user IDs", (long long)U);
            goto done;
        }
    }
    for (int64_t k = 0; k < I; k++) {
        int len = snprintf(tok, sizeof tok, "%lld", (long long)(k + 1));
        uint32_t idx;
        if (cf_idmap_intern(ds->items, tok, (size_t)len, &idx, NULL)) {
            cf_fail(err, CF_ERR_NOMEM, "out of memory for %lld item IDs", (long long)I);
            goto done;
        }
    }

    /* popularity: weights by rank, ranks permuted over indices */
    cf_rng rng_perm, rng_pair;
    cf_rng_seed(&rng_perm, stream_seed(opt->seed, 0));
    cf_rng_seed(&rng_pair, stream_seed(opt->seed, 2));
    normal_gen g_fact = {{{0}}, 0, 0}, g_noise = {{{0}}, 0, 0};
    cf_rng_seed(&g_fact.rng, stream_seed(opt->seed, 1));
    cf_rng_seed(&g_noise.rng, stream_seed(opt->seed, 3));
    for (int64_t k = 0; k < U; k++) wu[k] = pow((double)(k + 1), -opt->zipf);
    for (int64_t k = 0; k < I; k++) wi[k] = pow((double)(k + 1), -opt->zipf);
    random_permutation(perm_u, U, &rng_perm);
    random_permutation(perm_i, I, &rng_perm);
    for (int64_t k = 0; k < I; k++) wi_idx[perm_i[k]] = wi[k];
    if (degrees_by_rank(wu, U, R, R >= U ? 1 : 0, I, deg_rank)) {
        cf_fail(err, CF_ERR_NOMEM, "out of memory for the user degrees");
        goto done;
    }
    if (alias_build(&at, wi_idx, I)) {
        cf_fail(err, CF_ERR_NOMEM, "out of memory for the item alias table");
        goto done;
    }

    /* planted model: P*, Q*, then b*_u, b*_i, from one stream */
    double sf = sqrt(0.7 / sqrt((double)rank));
    for (size_t k = 0; k < (size_t)U * (size_t)rank; k++) Pst[k] = sf * next_normal(&g_fact);
    for (size_t k = 0; k < (size_t)I * (size_t)rank; k++) Qst[k] = sf * next_normal(&g_fact);
    for (int64_t k = 0; k < U; k++) bu[k] = 0.25 * next_normal(&g_fact);
    for (int64_t k = 0; k < I; k++) bi[k] = 0.35 * next_normal(&g_fact);
    /* time: each rating's timestamp from stream 4, the items' drift directions from stream
     * 5 (streams of their own: the ratings of time_span 0 are unchanged) */
    cf_rng rng_time;
    cf_rng_seed(&rng_time, stream_seed(opt->seed, 4));
    if (opt->drift > 0) {
        normal_gen g_drift = {{{0}}, 0, 0};
        cf_rng_seed(&g_drift.rng, stream_seed(opt->seed, 5));
        if (!(zi = malloc((size_t)I * sizeof *zi))) {
            cf_fail(err, CF_ERR_NOMEM, "out of memory for the items' drift");
            goto done;
        }
        for (int64_t k = 0; k < I; k++) zi[k] = next_normal(&g_drift);
    }
    if (opt->time_span > 0 && cf_dataset_set_timed(ds)) {
        cf_fail(err, CF_ERR_NOMEM, "out of memory for the timestamps");
        goto done;
    }

    /* the triplets, allocated once at their final size */
    cf_triplets *t = &ds->all;
    t->u = malloc((size_t)R * sizeof *t->u);
    t->i = malloc((size_t)R * sizeof *t->i);
    t->r = malloc((size_t)R * sizeof *t->r);
    if (ds->timed) t->t = malloc((size_t)R * sizeof *t->t);
    ds->is_test = calloc((size_t)R, 1);
    if (!t->u || !t->i || !t->r || !ds->is_test || (ds->timed && !t->t)) {
        cf_fail(err, CF_ERR_NOMEM, "out of memory for %lld ratings", (long long)R);
        goto done;
    }
    t->cap = R;

    /* degrees by index: popularity rank k belongs to user perm_u[k] */
    deg = malloc((size_t)U * sizeof *deg);
    if (!deg) {
        cf_fail(err, CF_ERR_NOMEM, "out of memory for the user degrees");
        goto done;
    }
    for (int64_t k = 0; k < U; k++) deg[perm_u[k]] = deg_rank[k];
    const mnar_model mnar = {.beta = opt->mnar, .inv_sd = 1.0 / sqrt(0.35 * 0.35 + 0.7 * 0.7), .Q = Qst, .bi = bi,
                             .rank = rank};
    const mnar_model *mm = opt->mnar > 0 ? &mnar : NULL;
    int64_t pos = 0;
    for (int64_t u = 0; u < U; u++) {
        int64_t d = deg[u];
        if (d == 0) continue;
        uint32_t *items = t->i + pos;
        if (d == I) {
            for (int64_t k = 0; k < I; k++) items[k] = (uint32_t)k;
        } else {
            int exact = 2 * d > I;
            if (!exact) {
                /* rejection of repeats, tracked by stamp[i] == u + 1 */
                uint32_t mark = (uint32_t)(u + 1);
                const double *pu = Pst + (size_t)u * (size_t)rank;
                int64_t got = 0, draws = 0, budget = (mm ? 16 : 8) * d + 64;
                while (got < d && draws < budget) {
                    uint32_t it = alias_draw(&at, &rng_pair);
                    draws++;
                    if (stamp[it] == mark) continue;
                    if (mm && cf_rng_uniform(&rng_pair) >= mnar_keep(mm, pu, it)) continue;
                    stamp[it] = mark;
                    items[got++] = it;
                }
                exact = got < d;
                if (exact) /* forget this user's marks: the exact sample replaces them */
                    for (int64_t k = 0; k < got; k++) stamp[items[k]] = 0;
            }
            if (exact) {
                if (!work) {
                    work = malloc((size_t)I * sizeof *work);
                    if (!work) {
                        cf_fail(err, CF_ERR_NOMEM, "out of memory for the item sampler");
                        goto done;
                    }
                }
                sample_exact(wi_idx, I, d, mm, Pst + (size_t)u * (size_t)rank, work, &rng_pair, items);
            }
        }
        /* ratings of the planted model */
        const double *p = Pst + (size_t)u * (size_t)rank;
        for (int64_t k = 0; k < d; k++) {
            uint32_t i = items[k];
            const double *q = Qst + (size_t)i * (size_t)rank;
            double dot = 0;
            for (int32_t c = 0; c < rank; c++) dot += p[c] * q[c];
            double r = opt->mu + bu[u] + bi[i] + dot;
            if (ds->timed) {
                const int64_t dt = (int64_t)cf_rng_below(&rng_time, (uint64_t)opt->time_span);
                t->t[pos + k] = GEN_T0 + dt;
                if (zi) r += opt->drift * zi[i] * (2.0 * (double)dt / (double)opt->time_span - 1.0);
            }
            if (opt->noise > 0) r += opt->noise * next_normal(&g_noise);
            if (opt->round == 2) { /* half stars 0.5 .. 5 */
                if (opt->clip) r = r < 0.5 ? 0.5 : r > 5.0 ? 5.0 : r;
                r = round(2.0 * r) / 2.0;
            } else {
                if (opt->clip) r = r < 1.0 ? 1.0 : r > 5.0 ? 5.0 : r;
                if (opt->round) r = round(r);
            }
            t->u[pos + k] = (uint32_t)u;
            t->r[pos + k] = (float)r;
        }
        pos += d;
    }
    t->n = pos;
    if (pos != R) { /* degrees_by_rank guarantees the sum; this is a bug check */
        cf_fail(err, CF_ERR_INVALID, "generator: %lld ratings made, %lld asked", (long long)pos,
                (long long)R);
        st = CF_ERR_INVALID;
        goto done;
    }
    *out = ds;
    ds = NULL;
    st = CF_OK;
done:
    cf_dataset_destroy(&ds);
    free(wu), free(wi), free(wi_idx), free(perm_u), free(perm_i), free(deg_rank), free(deg);
    free(Pst), free(Qst), free(bu), free(bi), free(zi), free(stamp), free(work);
    alias_free(&at);
    return st;
}

/* ---------------------------------------------------------------- write */

/* Rating text: the shortest decimal that reads back (strtof) as the same float.
 *
 * Integers (|r| < 1e9) are printed without a fraction. Otherwise, for p = 6, 7, 8, 9
 * significant digits: D = the p-digit decimal nearest r (r ≈ D·10^-s), accepted when it
 * lies in r's rounding interval, decided exactly in integers: with r = M·2^-h (M the
 * 24-bit significand, h > 0 since r is not an integer) the interval is
 * [r − 2^-h/2 (2^-h/4 when M = 2^23), r + 2^-h/2], ends included when M is even
 * (round-half-even), i.e. with X = 4·(D·2^h − M·10^s):  −lo·10^s ≤ X ≤ 2·10^s, lo = 2
 * (1 at a power of two). Trailing zeros are then dropped, so p = 6 also covers 1..6
 * digits. Values outside the fast path's range (tiny, huge, subnormal, non-finite) go
 * through "%.{6..9}g" + strtof, which is exact but slower. 9 digits always suffice. */
static int format_slow(float r, char *buf) {
    int len = 0;
    for (int prec = 6; prec <= 9; prec++) {
        len = snprintf(buf, 32, "%.*g", prec, (double)r);
        if (prec == 9 || strtof(buf, NULL) == r) break;
    }
    return len;
}

static const uint64_t pow10_u64[20] = {1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL,
    10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};

static int format_rating(float r, char *buf) {
    if (r == truncf(r) && fabsf(r) < 1e9f) {
        long v = lroundf(r);
        unsigned long a = v < 0 ? (unsigned long)-v : (unsigned long)v;
        char tmp[16];
        int n = 0;
        do tmp[n++] = (char)('0' + a % 10), a /= 10; while (a);
        int len = 0;
        if (v < 0) buf[len++] = '-';
        while (n) buf[len++] = tmp[--n];
        return len;
    }
    float a = fabsf(r);
    if (!(a >= 1e-4f && a < 1e7f)) return format_slow(r, buf);
    uint32_t bits;
    memcpy(&bits, &a, 4);
    int eb = (int)(bits >> 23);              /* biased exponent, >= 1 in this range */
    uint64_t M = (bits & 0x7fffffu) | 0x800000u;
    int h = 150 - eb;                        /* a = M · 2^-h, 1 <= h <= 37 here */
    if (h < 1) return format_slow(r, buf);
    int e10 = (int)floor(log10((double)a)); /* a in [10^e10, 10^(e10+1)) up to rounding */
    for (int p = 6; p <= 9; p++) {
        int s = p - 1 - e10;                 /* D has p digits: a ≈ D · 10^-s */
        if (s < 0 || s > 19) return format_slow(r, buf);
        uint64_t D = (uint64_t)llround((double)a * (double)pow10_u64[s]);
        if (D < pow10_u64[p - 1] / 10 || D >= pow10_u64[p] * 10) return format_slow(r, buf);
        __int128 X = 4 * ((__int128)D * ((__int128)1 << h) - (__int128)M * (__int128)pow10_u64[s]);
        __int128 up = 2 * (__int128)pow10_u64[s];
        __int128 down = (M == 0x800000u && eb > 1 ? 1 : 2) * (__int128)pow10_u64[s];
        int in = (M & 1) ? (X > -down && X < up) : (X >= -down && X <= up);
        if (!in) continue;
        /* D · 10^-s, trailing zeros dropped, in fixed notation */
        while (s > 0 && D % 10 == 0) D /= 10, s--;
        char dig[24];
        int nd = 0;
        do dig[nd++] = (char)('0' + D % 10), D /= 10; while (D);
        int len = 0;
        if (r < 0) buf[len++] = '-';
        if (s >= nd) {
            buf[len++] = '0';
            buf[len++] = '.';
            for (int z = 0; z < s - nd; z++) buf[len++] = '0';
            while (nd) buf[len++] = dig[--nd];
        } else {
            for (int k = nd - 1; k >= 0; k--) {
                buf[len++] = dig[k];
                if (k == s && s > 0) buf[len++] = '.';
            }
        }
        return len;
    }
    return format_slow(r, buf);
}

/* One rating's line "user<TAB>item<TAB>rating\n", or with its timestamp (ts not NULL)
 * "user<TAB>item<TAB>rating<TAB>time\n", at p (room for lu + li + LINE_EXTRA bytes); its
 * length. */
#define LINE_EXTRA 64
static size_t format_line(unsigned char *p, const char *un, size_t lu, const char *in, size_t li, float r,
                          const int64_t *ts) {
    size_t n = 0;
    memcpy(p, un, lu), n += lu;
    p[n++] = '\t';
    memcpy(p + n, in, li), n += li;
    p[n++] = '\t';
    n += (size_t)format_rating(r, (char *)p + n);
    if (ts) n += (size_t)sprintf((char *)p + n, "\t%lld", (long long)*ts);
    p[n++] = '\n';
    return n;
}

/* A block of the parallel writer: the text of ratings [lo, hi) (training part only), and
 * for a .gz path that text as one gzip member. */
typedef struct write_block {
    unsigned char *buf;
    size_t cap, len;
    unsigned char *z; /* the gzip member (gz only) */
    size_t zcap, zlen;
    int64_t bad; /* the first rating with an index without an ID, -1: none */
    int nomem;
} write_block;

/* b's text compressed into b->z as BGZF blocks (gz.c). */
static void compress_block(write_block *b) {
    b->zlen = cf_gz_blocks(b->buf, b->len, &b->z, &b->zcap);
    if (!b->zlen) b->nomem = 1;
}

static void format_block(const cf_dataset *ds, int64_t lo, int64_t hi, write_block *b) {
    const cf_triplets *t = &ds->all;
    b->len = 0, b->bad = -1, b->nomem = 0;
    for (int64_t k = lo; k < hi; k++) {
        if (ds->is_test[k]) continue;
        size_t lu, li;
        const char *un = cf_idmap_name(ds->users, t->u[k], &lu);
        const char *in = cf_idmap_name(ds->items, t->i[k], &li);
        if (!un || !in) {
            b->bad = k;
            return;
        }
        if (b->cap - b->len < lu + li + LINE_EXTRA) {
            size_t cap = b->cap ? b->cap : (size_t)1 << 20;
            while (cap - b->len < lu + li + LINE_EXTRA) cap *= 2;
            unsigned char *nb = realloc(b->buf, cap);
            if (!nb) {
                b->nomem = 1;
                return;
            }
            b->buf = nb, b->cap = cap;
        }
        b->len += format_line(b->buf + b->len, un, lu, in, li, t->r[k], ds->timed ? &t->t[k] : NULL);
    }
}

/* Ratings per block of the parallel writer, and the fewest for which it runs. */
#define WRITE_BLOCK ((int64_t)1 << 18)

/* Formatting the text is the writer's cost (≈ 160 MB/s on one core), so past two blocks
 * the ratings are formatted on all threads, T blocks at a time, and the blocks written in
 * order: the same bytes as one thread (tested), the same first bad rating named. A path
 * ending in ".gz" is written gzip-compressed, always by blocks: each block's text as
 * BGZF blocks (gz.c, level CF_GZ_LEVEL; bgzip's format: gzip members of 64 KiB whose
 * headers give their sizes), compressed on the thread that formatted it, then BGZF's
 * end marker; `gzip -d` reads it as one text, the readers here on all threads. */
cf_status cf_dataset_write(const cf_dataset *ds, const char *path, cf_error *err) {
    if (!ds || !path || !*path)
        return cf_fail(err, CF_ERR_INVALID, "cf_dataset_write: %s", !ds ? "dataset is NULL" : "empty path");
    cf_afile f;
    cf_status st = cf_afile_open(&f, path, 0, err);
    if (st) return st;
    const cf_triplets *t = &ds->all;
    int T = omp_get_max_threads();
    if (T > 64) T = 64;
    const int gz = cf_gz_name(path);
    if (gz || (T > 1 && t->n >= 2 * WRITE_BLOCK)) {
        write_block blk[64];
        memset(blk, 0, sizeof blk);
        const int64_t nblocks = (t->n + WRITE_BLOCK - 1) / WRITE_BLOCK;
        int64_t bad = -1;
        int nomem = 0;
        for (int64_t b0 = 0; b0 < nblocks && bad < 0 && !nomem; b0 += T) {
            const int m = nblocks - b0 < T ? (int)(nblocks - b0) : T;
#pragma omp parallel for num_threads(T) schedule(static, 1)
            for (int j = 0; j < m; j++) {
                int64_t lo = (b0 + j) * WRITE_BLOCK, hi = lo + WRITE_BLOCK < t->n ? lo + WRITE_BLOCK : t->n;
                format_block(ds, lo, hi, &blk[j]);
                if (gz && blk[j].bad < 0 && !blk[j].nomem) compress_block(&blk[j]);
            }
            for (int j = 0; j < m && bad < 0 && !nomem; j++) {
                if (blk[j].bad >= 0) bad = blk[j].bad;
                else if (blk[j].nomem) nomem = 1;
                else if (gz) cf_afile_write(&f, blk[j].z, blk[j].zlen);
                else cf_afile_write(&f, blk[j].buf, blk[j].len);
            }
        }
        for (int j = 0; j < T; j++) free(blk[j].buf), free(blk[j].z);
        if (gz && bad < 0 && !nomem) cf_afile_write(&f, cf_gz_eof, CF_GZ_EOF_SIZE);
        if (bad >= 0 || nomem) {
            cf_afile_abort(&f);
            return nomem ? cf_fail(err, CF_ERR_NOMEM, "%s: out of memory writing the ratings", path)
                         : cf_fail(err, CF_ERR_INVALID, "%s: rating %lld has an index without an ID", path,
                                   (long long)bad);
        }
        return cf_afile_commit(&f, err);
    }
    for (int64_t k = 0; k < t->n; k++) {
        if (ds->is_test[k]) continue;
        size_t lu, li;
        const char *un = cf_idmap_name(ds->users, t->u[k], &lu);
        const char *in = cf_idmap_name(ds->items, t->i[k], &li);
        if (!un || !in) {
            cf_afile_abort(&f);
            return cf_fail(err, CF_ERR_INVALID, "%s: rating %lld has an index without an ID", path,
                           (long long)k);
        }
        unsigned char *p = cf_afile_space(&f, lu + li + LINE_EXTRA);
        cf_afile_advance(&f, format_line(p, un, lu, in, li, t->r[k], ds->timed ? &t->t[k] : NULL));
    }
    return cf_afile_commit(&f, err);
}
