/*
 * test_gen.c — the synthetic data generator and the dataset writer.
 *
 * Expectations come from the distributions documented at the top of src/gen.c:
 * exact counts and distinct pairs, determinism, the planted low-rank structure
 * (rank of the double-centred full matrix, variance of each documented term),
 * popularity skew against the share the power-law weights predict, and the written
 * text parsed back here with sscanf/strtof (not with the library's reader).
 */
#include <criterion/criterion.h>

#include "common.h"
#include "dataset.h"
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static cf_dataset *gen(const cf_gen_options *o) {
    cf_dataset *ds = NULL;
    cf_error err;
    cf_status st = cf_generate(o, &ds, &err);
    cr_assert_eq(st, CF_OK, "%s", err.msg);
    cr_assert_not_null(ds);
    return ds;
}

static cf_gen_options opts(int64_t users, int64_t items, int64_t ratings) {
    cf_gen_options o;
    cf_gen_options_default(&o);
    o.users = users, o.items = items, o.ratings = ratings;
    return o;
}

static int64_t *user_degrees(const cf_dataset *ds, int64_t users) {
    int64_t *d = calloc((size_t)users, sizeof *d);
    for (int64_t k = 0; k < ds->all.n; k++) d[ds->all.u[k]]++;
    return d;
}

/* Every index in range and every (user, item) pair distinct. */
static void assert_distinct_pairs(const cf_dataset *ds, int64_t users, int64_t items) {
    uint8_t *seen = calloc((size_t)(users * items), 1);
    cr_assert_not_null(seen);
    for (int64_t k = 0; k < ds->all.n; k++) {
        uint32_t u = ds->all.u[k], i = ds->all.i[k];
        cr_assert(u < users && i < items, "rating %lld: (%u, %u) out of range", (long long)k, u, i);
        cr_assert_eq(seen[(size_t)u * (size_t)items + i], 0, "pair (%u, %u) twice", u, i);
        seen[(size_t)u * (size_t)items + i] = 1;
    }
    free(seen);
}

Test(gen, defaults) {
    cf_gen_options o;
    memset(&o, 0x5a, sizeof o);
    cf_gen_options_default(&o);
    cr_assert_eq(o.users, 943);
    cr_assert_eq(o.items, 1682);
    cr_assert_eq(o.ratings, 100000);
    cr_assert_eq(o.rank, 8);
    cr_assert_eq(o.noise, 0.5);
    cr_assert_eq(o.seed, 1);
    cr_assert_eq(o.zipf, 0.8);
    cr_assert_eq(o.round, 0);
    cr_assert_eq(o.clip, 1);
    cr_assert_eq(o.mu, 3.5);
}

Test(gen, exact_counts_and_ids) {
    cf_gen_options o = opts(300, 200, 6000);
    cf_dataset *ds = gen(&o);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_users, 300);
    cr_assert_eq(info.n_items, 200);
    cr_assert_eq(info.n_train, 6000);
    cr_assert_eq(info.n_test, 0);
    char want[32];
    for (uint32_t k = 0; k < 300; k++) {
        snprintf(want, sizeof want, "%u", k + 1);
        cr_assert_str_eq(cf_idmap_name(ds->users, k, NULL), want);
    }
    for (uint32_t k = 0; k < 200; k++) {
        snprintf(want, sizeof want, "%u", k + 1);
        cr_assert_str_eq(cf_idmap_name(ds->items, k, NULL), want);
    }
    assert_distinct_pairs(ds, 300, 200);
    cf_dataset_destroy(&ds);
}

Test(gen, degrees_cover_every_user_and_respect_the_item_count) {
    /* the default shape: the most popular users hit the cap of all items */
    cf_gen_options o = opts(943, 1682, 100000);
    cf_dataset *ds = gen(&o);
    int64_t *d = user_degrees(ds, 943), sum = 0, max = 0;
    for (int u = 0; u < 943; u++) {
        cr_assert(d[u] >= 1 && d[u] <= 1682, "user %d has %lld ratings", u, (long long)d[u]);
        sum += d[u];
        if (d[u] > max) max = d[u];
    }
    cr_assert_eq(sum, 100000);
    /* the top user's proportional share: 1 + (R − U)·w_0 / Σw, capped at the items */
    double W = 0;
    for (int k = 0; k < 943; k++) W += pow(k + 1.0, -0.8);
    double share = 1 + (100000.0 - 943) / W;
    cr_assert_eq(max, share > 1682 ? 1682 : (int64_t)share, "top degree %lld", (long long)max);
    assert_distinct_pairs(ds, 943, 1682);
    free(d);
    cf_dataset_destroy(&ds);
}

Test(gen, fewer_ratings_than_users) {
    cf_gen_options o = opts(500, 50, 200);
    cf_dataset *ds = gen(&o);
    cr_assert_eq(ds->all.n, 200);
    assert_distinct_pairs(ds, 500, 50);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_users, 500, "every user ID exists, rated or not");
    cf_dataset_destroy(&ds);
}

Test(gen, full_and_nearly_full_matrices) {
    /* all pairs */
    cf_gen_options o = opts(30, 20, 600);
    cf_dataset *ds = gen(&o);
    cr_assert_eq(ds->all.n, 600);
    assert_distinct_pairs(ds, 30, 20);
    cf_dataset_destroy(&ds);
    /* dense and steep: exercises the exact sampler and the repeat budget */
    for (int z = 0; z < 3; z++) {
        o = opts(50, 40, 1500);
        o.zipf = (double[]){0.0, 2.0, 6.0}[z];
        ds = gen(&o);
        cr_assert_eq(ds->all.n, 1500);
        assert_distinct_pairs(ds, 50, 40);
        int64_t *d = user_degrees(ds, 50);
        for (int u = 0; u < 50; u++) cr_assert(d[u] >= 1 && d[u] <= 40);
        free(d);
        cf_dataset_destroy(&ds);
    }
}

Test(gen, deterministic_by_seed) {
    cf_gen_options o = opts(400, 300, 9000);
    cf_dataset *a = gen(&o), *b = gen(&o);
    size_t n = (size_t)a->all.n;
    cr_assert_eq(b->all.n, a->all.n);
    cr_assert_eq(memcmp(a->all.u, b->all.u, n * 4), 0);
    cr_assert_eq(memcmp(a->all.i, b->all.i, n * 4), 0);
    cr_assert_eq(memcmp(a->all.r, b->all.r, n * 4), 0);
    o.seed = 2;
    cf_dataset *c = gen(&o);
    int64_t diff_items = 0, diff_r = 0;
    for (size_t k = 0; k < n; k++) {
        diff_items += a->all.i[k] != c->all.i[k];
        diff_r += a->all.r[k] != c->all.r[k];
    }
    cr_assert_gt(diff_items, (int64_t)n / 2, "another seed draws other items (%lld differ)", (long long)diff_items);
    cr_assert_gt(diff_r, (int64_t)n / 2);
    cf_dataset_destroy(&a);
    cf_dataset_destroy(&b);
    cf_dataset_destroy(&c);
}

Test(gen, clip_and_round) {
    cf_gen_options o = opts(300, 300, 20000);
    o.noise = 1.0; /* wide enough that clipping matters */
    cf_dataset *ds = gen(&o);
    int64_t nonint = 0, at1 = 0, at5 = 0;
    for (int64_t k = 0; k < ds->all.n; k++) {
        float r = ds->all.r[k];
        cr_assert(r >= 1.0f && r <= 5.0f, "clipped rating %g", r);
        nonint += r != floorf(r);
        at1 += r == 1.0f, at5 += r == 5.0f;
    }
    cr_assert_gt(nonint, ds->all.n / 2);
    cr_assert_gt(at1, 0, "clipping puts mass on 1");
    cr_assert_gt(at5, 0, "and on 5");
    cf_dataset_destroy(&ds);

    o.round = 1;
    ds = gen(&o);
    int64_t hist[6] = {0};
    for (int64_t k = 0; k < ds->all.n; k++) {
        float r = ds->all.r[k];
        cr_assert(r == floorf(r) && r >= 1 && r <= 5, "rounded rating %g", r);
        hist[(int)r]++;
    }
    for (int v = 1; v <= 5; v++) cr_assert_gt(hist[v], 0, "value %d occurs", v);
    cf_dataset_destroy(&ds);

    o.round = 2; /* half stars: every value 0.5, 1, ..., 5 occurs, nothing else */
    ds = gen(&o);
    int64_t half[11] = {0};
    for (int64_t k = 0; k < ds->all.n; k++) {
        float r = ds->all.r[k];
        cr_assert(2 * r == floorf(2 * r) && r >= 0.5f && r <= 5.0f, "half-star rating %g", r);
        half[(int)(2 * r)]++;
    }
    for (int v = 1; v <= 10; v++) cr_assert_gt(half[v], 0, "value %g occurs", v / 2.0);
    cf_dataset_destroy(&ds);

    o.round = 0, o.clip = 0;
    ds = gen(&o);
    int64_t outside = 0;
    for (int64_t k = 0; k < ds->all.n; k++) outside += ds->all.r[k] < 1 || ds->all.r[k] > 5;
    cr_assert_gt(outside, 0, "without clip some ratings leave [1, 5]");
    cf_dataset_destroy(&ds);
}

static void mean_var(const cf_dataset *ds, double *mean, double *var) {
    double s = 0, s2 = 0;
    for (int64_t k = 0; k < ds->all.n; k++) s += ds->all.r[k];
    *mean = s / (double)ds->all.n;
    for (int64_t k = 0; k < ds->all.n; k++) s2 += (ds->all.r[k] - *mean) * (ds->all.r[k] - *mean);
    *var = s2 / (double)ds->all.n;
}

Test(gen, documented_mean_and_variance) {
    /* zipf 0, no clip: mean mu, variance 0.25² + 0.35² + 0.7² + noise².
     * Standard errors (1000 users, 1000 items, 200 ratings each): mean ≈ 0.014, variance
     * ≈ 0.013; the bounds are about five of them. */
    cf_gen_options o = opts(1000, 1000, 200000);
    o.zipf = 0, o.clip = 0, o.mu = 2.0, o.seed = 7;
    cf_dataset *ds = gen(&o);
    double m, v;
    mean_var(ds, &m, &v);
    cr_assert(fabs(m - 2.0) < 0.07, "mean %g, planted 2.0", m);
    double want = 0.25 * 0.25 + 0.35 * 0.35 + 0.49 + 0.25;
    cr_assert(fabs(v - want) < 0.06, "variance %g, documented %g", v, want);

    /* the noise stream is separate: the same seed with noise 0 gives the same pairs and
     * the same planted part, so the difference is exactly the noise, sd 0.5 */
    o.noise = 0;
    cf_dataset *clean = gen(&o);
    cr_assert_eq(memcmp(clean->all.i, ds->all.i, (size_t)ds->all.n * 4), 0);
    double s = 0, s2 = 0;
    for (int64_t k = 0; k < ds->all.n; k++) {
        double e = (double)ds->all.r[k] - (double)clean->all.r[k];
        s += e, s2 += e * e;
    }
    double n = (double)ds->all.n;
    double sd = sqrt(s2 / n - (s / n) * (s / n));
    cr_assert(fabs(sd - 0.5) < 0.01, "noise sd %g", sd); /* se ≈ 0.5/sqrt(2n) ≈ 0.0008 */
    cr_assert(fabs(s / n) < 0.01, "noise mean %g", s / n);
    mean_var(clean, &m, &v);
    cr_assert(fabs(v - (want - 0.25)) < 0.06, "noise-free variance %g", v);
    cf_dataset_destroy(&clean);
    cf_dataset_destroy(&ds);
}

/* Number of pivots above tol·|first pivot| in full-pivot Gaussian elimination of the
 * rows × cols matrix a (destroyed). */
static int numerical_rank(double *a, int rows, int cols, double tol) {
    int rank = 0;
    double first = 0;
    for (int s = 0; s < rows && s < cols; s++) {
        int pr = s, pc = s;
        double best = 0;
        for (int r = s; r < rows; r++)
            for (int c = s; c < cols; c++)
                if (fabs(a[r * cols + c]) > best) best = fabs(a[r * cols + c]), pr = r, pc = c;
        if (s == 0) first = best;
        if (best <= tol * first) break;
        rank++;
        for (int c = 0; c < cols; c++) {
            double t = a[s * cols + c];
            a[s * cols + c] = a[pr * cols + c];
            a[pr * cols + c] = t;
        }
        for (int r = 0; r < rows; r++) {
            double t = a[r * cols + s];
            a[r * cols + s] = a[r * cols + pc];
            a[r * cols + pc] = t;
        }
        for (int r = s + 1; r < rows; r++) {
            double f = a[r * cols + s] / a[s * cols + s];
            for (int c = s; c < cols; c++) a[r * cols + c] -= f * a[s * cols + c];
        }
    }
    return rank;
}

Test(gen, planted_low_rank_structure) {
    /* Full matrix, no noise, no clip: R = mu + b_u + b_i + P Q^T. Removing row and
     * column means leaves the centred P Q^T: rank = `rank`, variance ≈ 0.7² (±15%). */
    enum { U = 200, I = 150, K = 5 };
    cf_gen_options o = opts(U, I, U * I);
    o.rank = K, o.noise = 0, o.clip = 0, o.seed = 3;
    cf_dataset *ds = gen(&o);
    double *a = calloc(U * I, sizeof *a), rm[U] = {0}, cm[I] = {0}, all = 0;
    for (int64_t k = 0; k < ds->all.n; k++) a[ds->all.u[k] * I + ds->all.i[k]] = ds->all.r[k];
    for (int u = 0; u < U; u++)
        for (int i = 0; i < I; i++) rm[u] += a[u * I + i] / I, cm[i] += a[u * I + i] / U, all += a[u * I + i];
    all /= U * I;
    double ss = 0;
    for (int u = 0; u < U; u++)
        for (int i = 0; i < I; i++) {
            a[u * I + i] -= rm[u] + cm[i] - all;
            ss += a[u * I + i] * a[u * I + i];
        }
    double var = ss / (U * I);
    cr_assert(var > 0.49 * 0.85 && var < 0.49 * 1.15, "variance of the factor term %g, documented 0.49", var);
    /* ratings are floats: the rank-K residual is rounding (~1e-7 relative) */
    int r = numerical_rank(a, U, I, 1e-4);
    cr_assert_eq(r, K, "numerical rank %d, planted %d", r, K);
    free(a);
    cf_dataset_destroy(&ds);
}

/* ---- popularity */

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* Expected share of the ratings held by the top `top` popularity ranks, for users with
 * the observed degrees d[], each drawing d distinct items by successive weighted
 * sampling. Item k is then included with probability ≈ 1 − exp(−w_k t), t solving
 * Σ_k (1 − exp(−w_k t)) = d (the exponential-key view of that sampling). */
static double expected_top_share(const int64_t *d, int64_t users, int64_t items, double zipf, int64_t top) {
    double *w = malloc((size_t)items * sizeof *w);
    double *memo = malloc((size_t)(items + 1) * sizeof *memo); /* share by degree */
    for (int64_t k = 0; k < items; k++) w[k] = pow(k + 1.0, -zipf);
    for (int64_t k = 0; k <= items; k++) memo[k] = -1;
    double got = 0, total = 0;
    for (int64_t u = 0; u < users; u++) {
        total += (double)d[u];
        if (d[u] == 0) continue;
        if (d[u] >= items) {
            got += (double)top;
            continue;
        }
        if (memo[d[u]] >= 0) {
            got += memo[d[u]];
            continue;
        }
        double lo = 0, hi = 1;
        for (;;) {
            double s = 0;
            for (int64_t k = 0; k < items; k++) s += 1 - exp(-w[k] * hi);
            if (s >= (double)d[u]) break;
            hi *= 2;
        }
        for (int it = 0; it < 60; it++) {
            double mid = 0.5 * (lo + hi), s = 0;
            for (int64_t k = 0; k < items; k++) s += 1 - exp(-w[k] * mid);
            if (s < (double)d[u]) lo = mid;
            else hi = mid;
        }
        double g = 0;
        for (int64_t k = 0; k < top; k++) g += 1 - exp(-w[k] * lo);
        memo[d[u]] = g;
        got += g;
    }
    free(w), free(memo);
    return got / total;
}

Test(gen, popularity_skew_follows_the_weights) {
    const int64_t U = 2000, I = 1000, R = 60000, top = I / 10;
    cf_gen_options o = opts(U, I, R);
    o.zipf = 0.8;
    cf_dataset *ds = gen(&o);
    int64_t *deg = user_degrees(ds, U);
    int64_t *cnt = calloc((size_t)I, sizeof *cnt);
    for (int64_t k = 0; k < ds->all.n; k++) cnt[ds->all.i[k]]++;
    /* index order is not popularity order: the top decile is spread over the indices */
    int64_t first_decile = 0;
    for (int64_t i = 0; i < top; i++) first_decile += cnt[i];
    qsort(cnt, (size_t)I, sizeof *cnt, cmp_desc);
    int64_t top_sum = 0;
    for (int64_t k = 0; k < top; k++) top_sum += cnt[k];
    double share = (double)top_sum / R;
    double want = expected_top_share(deg, U, I, 0.8, top);
    double naive = 0, W = 0;
    for (int64_t k = 0; k < I; k++) W += pow(k + 1.0, -0.8), naive += k < top ? pow(k + 1.0, -0.8) : 0;
    naive /= W;
    cr_log_info("top 10%% share: observed %.4f, expected %.4f (with replacement %.4f)", share, want, naive);
    cr_assert(want > 0.3, "the weights predict a clear skew (%g)", want);
    cr_assert(fabs(share - want) < 0.02, "observed %g, expected %g", share, want);
    cr_assert(share < naive + 0.01, "sampling without replacement can only flatten");
    cr_assert(fabs((double)first_decile / R - 0.1) < 0.1, "indices 0..%lld hold %g", (long long)top,
              (double)first_decile / R);
    free(cnt), free(deg);
    cf_dataset_destroy(&ds);
}

Test(gen, zipf_zero_is_uniform) {
    const int64_t U = 1000, I = 500, R = 50000;
    cf_gen_options o = opts(U, I, R);
    o.zipf = 0;
    cf_dataset *ds = gen(&o);
    int64_t *deg = user_degrees(ds, U), dmin = R, dmax = 0;
    for (int64_t u = 0; u < U; u++) dmin = deg[u] < dmin ? deg[u] : dmin, dmax = deg[u] > dmax ? deg[u] : dmax;
    cr_assert(dmax - dmin <= 1, "equal weights give equal degrees (%lld..%lld)", (long long)dmin, (long long)dmax);
    /* item counts c_i = Σ_u Bernoulli(d_u / I): chi-square against the uniform mean has
     * expectation Σ_i Var(c_i) / E(c_i) and standard deviation about sqrt(2 I) times that ratio */
    int64_t *cnt = calloc((size_t)I, sizeof *cnt);
    for (int64_t k = 0; k < ds->all.n; k++) cnt[ds->all.i[k]]++;
    double E = (double)R / I, chi2 = 0, var_c = 0;
    for (int64_t i = 0; i < I; i++) chi2 += (cnt[i] - E) * (cnt[i] - E) / E;
    for (int64_t u = 0; u < U; u++) var_c += ((double)deg[u] / I) * (1 - (double)deg[u] / I);
    double want = I * var_c / E, sd = sqrt(2.0 * I) * var_c / E;
    cr_assert(fabs(chi2 - want) < 5 * sd, "chi-square %g, expected %g ± %g", chi2, want, sd);
    qsort(cnt, (size_t)I, sizeof *cnt, cmp_desc);
    int64_t top_sum = 0;
    for (int64_t k = 0; k < I / 10; k++) top_sum += cnt[k];
    cr_assert((double)top_sum / R < 0.13, "top 10%% share %g", (double)top_sum / R);
    free(cnt), free(deg);
    cf_dataset_destroy(&ds);
}

/* ---- missing not at random */

/* Inclusion probabilities π_i of d distinct items drawn by successive sampling with
 * weights w (the exponential-key view, exact for that method: π_i = 1 − exp(−w_i t), t
 * solving Σ π_i = d). */
static void inclusion(const double *w, int64_t n, int64_t d, double *pi) {
    double lo = 0, hi = 1;
    for (;;) {
        double s = 0;
        for (int64_t k = 0; k < n; k++) s += 1 - exp(-w[k] * hi);
        if (s >= (double)d) break;
        hi *= 2;
    }
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi), s = 0;
        for (int64_t k = 0; k < n; k++) s += 1 - exp(-w[k] * mid);
        if (s < (double)d) lo = mid;
        else hi = mid;
    }
    for (int64_t k = 0; k < n; k++) pi[k] = 1 - exp(-w[k] * lo);
}

/* With mnar = β, item i is drawn for user u with weight σ(β a_ui) (zipf 0: equal
 * popularity), a_ui = (b*_i + p*_u·q*_i) / sd. Without noise, clip or rounding the full
 * matrix of the same seed (mnar 0: the planted model does not depend on the sampling)
 * holds every r_ui = μ + b*_u + sd·a_ui; its row-centred values c_ui = sd (a_ui − ā_u)
 * give the weights up to the shift ā_u (the mean over 1,000 or 100 items of a spread-1
 * variable: ≈ 0.03 or 0.1, small beside β a). The mean of c over the sampled pairs must
 * match Σ_u Σ_i π_ui c_ui / R from the inclusion probabilities of those weights: within
 * 0.02 (the sampling error of the mean is ≈ 0.005, the shift's effect about as much),
 * against a bias of 0.46 (light users) and 0.28 (heavy) that mnar 2 makes (0 without it). Light users (50 of
 * 1,000 items) go through the rejection sampler, heavy ones (70 of 100) through the
 * exponential keys; the sampled ratings are the full matrix's, bit for bit. */
Test(gen, mnar_draws_what_users_like) {
    const int64_t shapes[2][3] = {{500, 1000, 25000}, {40, 100, 2800}};
    for (int sh = 0; sh < 2; sh++) {
        const int64_t U = shapes[sh][0], I = shapes[sh][1], R = shapes[sh][2];
        cf_gen_options o = opts(U, I, U * I);
        o.zipf = 0, o.rank = 4, o.noise = 0, o.clip = 0, o.round = 0, o.mu = 3, o.seed = 5;
        cf_dataset *full = gen(&o);
        double *c = malloc(sizeof(double) * (size_t)(U * I)), *w = malloc(sizeof(double) * (size_t)I);
        double *pi = malloc(sizeof(double) * (size_t)I);
        for (int64_t k = 0; k < full->all.n; k++) c[full->all.u[k] * I + full->all.i[k]] = full->all.r[k];
        for (int64_t u = 0; u < U; u++) {
            double m = 0;
            for (int64_t i = 0; i < I; i++) m += c[u * I + i] / (double)I;
            for (int64_t i = 0; i < I; i++) c[u * I + i] -= m;
        }
        const double sd = sqrt(0.35 * 0.35 + 0.7 * 0.7);
        for (int b = 0; b < 2; b++) {
            const double beta = b ? 2.0 : 0.0;
            o.ratings = R, o.mnar = beta;
            cf_dataset *ds = gen(&o);
            assert_distinct_pairs(ds, U, I);
            int64_t *deg = user_degrees(ds, U);
            double got = 0, want = 0;
            for (int64_t k = 0; k < ds->all.n; k++) {
                const int64_t u = ds->all.u[k], i = ds->all.i[k];
                got += c[u * I + i];
                /* the same rating as the full matrix's (which lists every pair in (u, i) order) */
                cr_assert(full->all.u[u * I + i] == (uint32_t)u && full->all.i[u * I + i] == (uint32_t)i);
                cr_assert_eq(full->all.r[u * I + i], ds->all.r[k], "pair (%lld, %lld)", (long long)u, (long long)i);
            }
            for (int64_t u = 0; u < U; u++) {
                for (int64_t i = 0; i < I; i++) w[i] = 1.0 / (1.0 + exp(-beta * c[u * I + i] / sd));
                inclusion(w, I, deg[u], pi);
                for (int64_t i = 0; i < I; i++) want += pi[i] * c[u * I + i];
            }
            got /= (double)R, want /= (double)R;
            cr_log_info("%lld x %lld, mnar %g: mean centred rating of the drawn pairs %.4f, expected %.4f",
                        (long long)U, (long long)I, beta, got, want);
            cr_assert(fabs(got - want) < 0.02, "mnar %g: drawn pairs' mean %g, expected %g", beta, got, want);
            if (beta > 0) cr_assert_gt(want, 0.1, "the bias is there to be seen (%g)", want);
            free(deg);
            cf_dataset_destroy(&ds);
        }
        free(c), free(w), free(pi);
        cf_dataset_destroy(&full);
    }
}

/* ---- options */

static void expect_invalid(cf_gen_options o, const char *field) {
    cf_dataset *ds = (cf_dataset *)&o; /* any non-NULL value: must be reset */
    cf_error err;
    cr_assert_eq(cf_generate(&o, &ds, &err), CF_ERR_INVALID, "%s accepted", field);
    cr_assert_null(ds);
    cr_assert(strncmp(err.msg, field, strlen(field)) == 0, "message names %s: %s", field, err.msg);
}

Test(gen, invalid_options_name_the_field) {
    cf_gen_options o = opts(10, 10, 50);
    cf_gen_options b;
    b = o, b.users = 0;            expect_invalid(b, "users");
    b = o, b.items = -1;           expect_invalid(b, "items");
    b = o, b.ratings = 0;          expect_invalid(b, "ratings");
    b = o, b.ratings = 101;        expect_invalid(b, "ratings");
    b = o, b.rank = 0;             expect_invalid(b, "rank");
    b = o, b.mnar = -1;            expect_invalid(b, "mnar");
    b = o, b.mnar = NAN;           expect_invalid(b, "mnar");
    b = o, b.mnar = 101;           expect_invalid(b, "mnar");
    b = o, b.noise = -0.1;         expect_invalid(b, "noise");
    b = o, b.noise = NAN;          expect_invalid(b, "noise");
    b = o, b.zipf = -1;            expect_invalid(b, "zipf");
    b = o, b.zipf = INFINITY;      expect_invalid(b, "zipf");
    b = o, b.round = 3;            expect_invalid(b, "round");
    b = o, b.round = -1;           expect_invalid(b, "round");
    b = o, b.clip = -1;            expect_invalid(b, "clip");
    b = o, b.mu = NAN;             expect_invalid(b, "mu");
    b = o, b.time_span = -1;       expect_invalid(b, "time_span");
    b = o, b.drift = 0.5;          expect_invalid(b, "drift: 0.5 needs a time span");
    b = o, b.time_span = 10, b.drift = -1;  expect_invalid(b, "drift");
    b = o, b.time_span = 10, b.drift = NAN; expect_invalid(b, "drift");
    b = o, b.time_span = 10, b.drift = 101; expect_invalid(b, "drift");
    /* the edge that is allowed: every pair */
    b = o, b.ratings = 100;
    cf_dataset *ds = gen(&b);
    cr_assert_eq(ds->all.n, 100);
    cf_dataset_destroy(&ds);
}

/* time_span: a timed dataset whose times lie in [1e9, 1e9 + S) and spread over it, the
 * ratings exactly those of S = 0 (the times come from a stream of their own), the same
 * times for the same seed. */
Test(gen, time_span_adds_times_and_changes_nothing_else) {
    cf_gen_options o = opts(400, 120, 8000);
    cf_dataset *plain = gen(&o);
    o.time_span = 1000000;
    cf_dataset *a = gen(&o), *b = gen(&o);
    cr_assert(cf_dataset_has_timestamps(a) && !cf_dataset_has_timestamps(plain));
    cr_assert_eq(a->all.n, plain->all.n);
    cr_assert_eq(memcmp(a->all.u, plain->all.u, (size_t)a->all.n * 4), 0);
    cr_assert_eq(memcmp(a->all.i, plain->all.i, (size_t)a->all.n * 4), 0);
    cr_assert_eq(memcmp(a->all.r, plain->all.r, (size_t)a->all.n * 4), 0);
    cr_assert_eq(memcmp(a->all.t, b->all.t, (size_t)a->all.n * 8), 0, "the same seed, other times");
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    double sum = 0;
    for (int64_t k = 0; k < a->all.n; k++) {
        const int64_t t = a->all.t[k];
        cr_assert(t >= 1000000000 && t < 1000000000 + o.time_span, "time %lld outside the span", (long long)t);
        lo = t < lo ? t : lo, hi = t > hi ? t : hi, sum += (double)(t - 1000000000);
    }
    /* uniform over [0, S): the mean within 5 standard errors of S/2, the ends near the span's */
    const double mean = sum / (double)a->all.n, se = (double)o.time_span / sqrt(12.0 * (double)a->all.n);
    cr_assert(fabs(mean - 0.5 * (double)o.time_span) < 5 * se, "mean offset %g, expected %g ± %g", mean,
              0.5 * (double)o.time_span, 5 * se);
    cr_assert(lo < 1000000000 + o.time_span / 100 && hi > 1000000000 + o.time_span / 100 * 99);
    cf_dataset_destroy(&plain), cf_dataset_destroy(&a), cf_dataset_destroy(&b);
}

/* drift: without noise, clipping or rounding, a rating with drift D minus the same rating
 * without is D·z_i·(2τ − 1): per item, that difference over (2τ − 1) is one constant
 * (D·z_i), the same for all of the item's ratings, and not zero for every item. */
Test(gen, drift_moves_each_items_bias_linearly) {
    cf_gen_options o = opts(300, 40, 6000);
    o.noise = 0, o.clip = 0, o.time_span = 3600;
    cf_dataset *still = gen(&o);
    o.drift = 0.5;
    cf_dataset *moving = gen(&o);
    cr_assert_eq(memcmp(still->all.t, moving->all.t, (size_t)still->all.n * 8), 0);
    double slope[40];
    int seen[40] = {0}, nonzero = 0;
    for (int64_t k = 0; k < still->all.n; k++) {
        const double w = 2.0 * (double)(still->all.t[k] - 1000000000) / 3600.0 - 1.0;
        if (fabs(w) < 0.2) continue; /* float rounding of r over a small w */
        const uint32_t i = still->all.i[k];
        const double s = ((double)moving->all.r[k] - (double)still->all.r[k]) / w;
        if (!seen[i]) {
            seen[i] = 1, slope[i] = s;
            nonzero += fabs(s) > 1e-3;
            continue;
        }
        cr_assert(fabs(s - slope[i]) < 1e-4, "item %u: slope %.7g, earlier %.7g", i, s, slope[i]);
    }
    cr_assert_gt(nonzero, 30, "only %d items drift", nonzero);
    cf_dataset_destroy(&still), cf_dataset_destroy(&moving);
}

/* ---- writer */

/* Significant digits in a decimal token ("0.0012" → 2, "1e-07" → 1, "1234567" → 7). */
static int sig_digits(const char *s) {
    int n = 0, started = 0, trailing_zeros = 0, frac = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.') {
            frac = 1;
            continue;
        }
        if (*s < '0' || *s > '9') continue;
        if (*s != '0') started = 1;
        if (!started) continue;
        n++;
        trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
    }
    return frac ? n : n - trailing_zeros; /* integers: trailing zeros are not precision */
}

/* Parses path as "user\titem\trating\n" lines; compares with ds's training part. */
static void assert_file_matches(const char *path, const cf_dataset *ds, int integers) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[512], us[128], is[128], rs[128];
    int64_t k = 0, lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        size_t len = strlen(line);
        cr_assert(len > 0 && line[len - 1] == '\n', "line %lld ends in a newline", (long long)lines);
        cr_assert_eq(sscanf(line, "%127[^\t]\t%127[^\t]\t%127[^\n]", us, is, rs), 3, "line: %s", line);
        while (k < ds->all.n && ds->is_test[k]) k++; /* only the training part is written */
        cr_assert_lt(k, ds->all.n, "more lines than training ratings");
        cr_assert_str_eq(us, cf_idmap_name(ds->users, ds->all.u[k], NULL));
        cr_assert_str_eq(is, cf_idmap_name(ds->items, ds->all.i[k], NULL));
        char *end;
        float r = strtof(rs, &end);
        cr_assert_eq(*end, '\0', "rating token '%s'", rs);
        cr_assert(r == ds->all.r[k], "line %lld: '%s' reads back as %.9g, stored %.9g", (long long)lines, rs,
                  r, ds->all.r[k]);
        if (integers) cr_assert(!strpbrk(rs, ".e"), "integer printed as '%s'", rs);
        /* shortest: one digit fewer does not read back (integers are exempt) */
        int n = sig_digits(rs);
        if (strpbrk(rs, ".e") && n > 1) {
            char shorter[320];
            snprintf(shorter, sizeof shorter, "%.*g", n - 1, (double)r);
            cr_assert(strtof(shorter, NULL) != r, "'%s' could be '%s'", rs, shorter);
        }
        k++;
    }
    while (k < ds->all.n && ds->is_test[k]) k++;
    cr_assert_eq(k, ds->all.n, "every training rating written");
    fclose(f);
}

Test(gen, write_reads_back) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "r.tsv");
    cf_error err;
    cf_gen_options o = opts(60, 40, 900);
    cf_dataset *ds = gen(&o);
    cr_assert_eq(cf_dataset_split(ds, 0.25, 9, &err), CF_OK);
    cr_assert_eq(cf_dataset_write(ds, path, &err), CF_OK, "%s", err.msg);
    assert_file_matches(path, ds, 0);
    cf_dataset_destroy(&ds);

    o.round = 1;
    ds = gen(&o);
    cr_assert_eq(cf_dataset_write(ds, path, &err), CF_OK, "%s", err.msg);
    assert_file_matches(path, ds, 1);
    /* one block, one thread, a .gz path: one gzip member of the same text */
    size_t len, got;
    char *text = cf_test_read(path, &len), *gz = cf_test_path(dir, "r.tsv.gz");
    omp_set_num_threads(1);
    cr_assert_eq(cf_dataset_write(ds, gz, &err), CF_OK, "%s", err.msg);
    omp_set_num_threads(omp_get_num_procs());
    char *back = cf_test_read_text(gz, &got);
    cr_assert(got == len && memcmp(back, text, len) == 0, "the .gz holds other text");
    free(text), free(back), free(gz);
    cf_dataset_destroy(&ds);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

Test(gen, write_shortest_forms) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "r.tsv");
    cf_error err;
    cf_dataset *ds = cf_dataset_create();
    const float r[] = {3.5f, 0.1f, 1e-7f, -2.25f, 4.0f, 1234567.0f, 123456792.0f, 1e10f, 3.7f, 0.3333333f,
                       -0.0f, 2.0000002f};
    const char *want[] = {"3.5", "0.1", "1e-07", "-2.25", "4", "1234567", "123456792", "1e+10", "3.7",
                          "0.3333333", "0", "2.0000002"};
    const int n = (int)(sizeof r / sizeof *r);
    uint32_t u, i;
    cr_assert_eq(cf_idmap_intern(ds->users, "u", 1, &u, NULL), 0);
    char name[16];
    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof name, "i%d", k);
        cr_assert_eq(cf_idmap_intern(ds->items, name, strlen(name), &i, NULL), 0);
        cr_assert_eq(cf_dataset_push(ds, u, i, r[k], 0), 0);
    }
    cr_assert_eq(cf_dataset_write(ds, path, &err), CF_OK, "%s", err.msg);
    FILE *f = fopen(path, "r");
    char line[256], us[32], is[32], rs[64];
    for (int k = 0; k < n; k++) {
        cr_assert_not_null(fgets(line, sizeof line, f));
        cr_assert_eq(sscanf(line, "%31[^\t]\t%31[^\t]\t%63[^\n]", us, is, rs), 3);
        cr_assert_str_eq(rs, want[k], "%.9g printed as '%s', expected '%s'", r[k], rs, want[k]);
    }
    cr_assert_null(fgets(line, sizeof line, f), "nothing after the last rating");
    fclose(f);
    cf_dataset_destroy(&ds);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

Test(gen, write_errors_leave_nothing) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "missing/r.tsv");
    cf_error err;
    cf_gen_options o = opts(10, 10, 30);
    cf_dataset *ds = gen(&o);
    cr_assert_eq(cf_dataset_write(ds, path, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, strerror(ENOENT)), "%s", err.msg);
    /* over a directory: the rename fails, the temporary file is removed */
    char *sub = cf_test_path(dir, "d");
    cr_assert_eq(mkdir(sub, 0755), 0);
    cr_assert_eq(cf_dataset_write(ds, sub, &err), CF_ERR_IO);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    closedir(d);
    cr_assert_eq(entries, 1, "only the directory d, no temporary file");
    cf_dataset_destroy(&ds);
    cf_test_rmtree(dir);
    free(sub), free(path), free(dir);
}

/* The writer formats on all threads past two blocks of 2^18 ratings, T blocks at a time:
 * the file is the same bytes on 1, 2 and 3 threads (with a test part to skip and block
 * ends inside it), it reads back as the training part, a .gz path holds that text in gzip
 * members, and a rating whose index has no ID is named (the first one in file order) with
 * no file left behind. */
Test(gen, write_is_the_same_on_any_thread_count, .timeout = 60) {
    char *dir = cf_test_tmpdir();
    cf_error err;
    cf_gen_options o = opts(6000, 1000, 1700000);
    cf_dataset *ds = gen(&o);
    cr_assert_eq(cf_dataset_split(ds, 0.3, 4, &err), CF_OK);
    char *ref = NULL;
    size_t ref_len = 0;
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        char name[32];
        snprintf(name, sizeof name, "r%d.tsv", threads);
        char *path = cf_test_path(dir, name);
        cr_assert_eq(cf_dataset_write(ds, path, &err), CF_OK, "%s", err.msg);
        size_t len;
        char *text = cf_test_read(path, &len);
        cr_assert_not_null(text);
        if (!ref) {
            assert_file_matches(path, ds, 0);
            ref = text, ref_len = len;
        } else {
            cr_assert(len == ref_len && memcmp(text, ref, len) == 0, "%d threads: the file differs", threads);
            free(text);
        }
        free(path);
        /* a .gz path: gzip members of the same text, whatever the thread count */
        snprintf(name, sizeof name, "r%d.tsv.gz", threads);
        path = cf_test_path(dir, name);
        cr_assert_eq(cf_dataset_write(ds, path, &err), CF_OK, "%s", err.msg);
        size_t zlen, got;
        char *z = cf_test_read(path, &zlen);
        cr_assert(z && zlen > 3 && (unsigned char)z[0] == 0x1f && (unsigned char)z[1] == 0x8b, "%s is not gzip", name);
        cr_assert_lt(zlen, ref_len / 2);
        char *plain = cf_test_read_text(path, &got);
        cr_assert(got == ref_len && memcmp(plain, ref, got) == 0, "%d threads: the .gz holds other text", threads);
        free(plain), free(z), free(path);
    }
    /* an index without an ID in the fifth block and another in the sixth (one round of 2
     * and of 3 threads): the first is named */
    const int64_t bad1 = 4 * ((int64_t)1 << 18) + 5, bad2 = 5 * ((int64_t)1 << 18) + 1;
    ds->is_test[bad1] = ds->is_test[bad2] = 0;
    uint32_t keep1 = ds->all.i[bad1], keep2 = ds->all.u[bad2];
    ds->all.i[bad1] = 1000000, ds->all.u[bad2] = 2000000;
    for (int threads = 1; threads <= 3; threads++) {
        omp_set_num_threads(threads);
        char *path = cf_test_path(dir, threads == 2 ? "bad.tsv.gz" : "bad.tsv");
        cr_assert_eq(cf_dataset_write(ds, path, &err), CF_ERR_INVALID, "%d threads", threads);
        char want[128];
        snprintf(want, sizeof want, "rating %lld has an index without an ID", (long long)bad1);
        cr_assert(strstr(err.msg, want), "%d threads: %s", threads, err.msg);
        struct stat sb;
        cr_assert_neq(stat(path, &sb), 0, "a file was left");
        free(path);
    }
    ds->all.i[bad1] = keep1, ds->all.u[bad2] = keep2;
    omp_set_num_threads(omp_get_num_procs());
    free(ref);
    cf_dataset_destroy(&ds);
    cf_test_rmtree(dir);
    free(dir);
}
