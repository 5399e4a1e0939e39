/*
 * test_gpu_sgd.c — GPU SGD and GD (issue 5) against the CPU reference, and the host-side
 * pieces they rest on (fp16 conversions, schedule → device work lists), which run
 * everywhere, CI included.
 *
 * GPU tests check cf_gpu_available() first and skip (cr_skip_test) where no device is
 * usable; CUDA is touched only inside tests (Criterion forks one process per test).
 *
 * Data: 300 users × 200 items, a planted rank-4 model with biases plus noise σ = 0.3,
 * ~25 ratings per user (user 299 and item 199 have none), 600 test ratings.
 *
 * Tolerances (GPU fp32, u = 6e-8; CPU double):
 *   - one update, and one `blocks` epoch: the same sequence of updates in both, each
 *     rounding to fp32 on the GPU; after one epoch (≈ 25 updates per row) the error is
 *     ≲ 25·K·u relative to the row's scale. Asserted per factor
 *     |gpu − cpu| ≤ 1e-5·|cpu| + 1e-6·max|cpu|, the maximum logged (cr_log_info).
 *   - hogwild vs the CPU's shuffle order after 20 epochs: test RMSE within 0.5 %.
 *   - fp16 storage vs fp32 (hogwild, 20 epochs): test RMSE within 1 % (fp16 keeps 11
 *     significant bits: relative 5e-4 per stored factor, far below the noise σ).
 *   - full-batch GD, one step from the same factors: sums of ≤ 300 terms in fp32 (SpMM)
 *     vs double: per parameter ≤ 1e-4·|cpu| + 1e-6·max|cpu|.
 *   - the *bias_lambda* tests (the biases' own λ_b and mode, cf_config.bias_lambda /
 *     bias_reg) keep the tolerances of the tests they vary: λ_b changes the value of one
 *     per-row coefficient (λ'b, Λb), not the number or the precision of the operations.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "common.h"
#include "dataset.h"
#include "factors.h"
#include "gpu/gpu.h"
#include "half.h"
#include "ratings.h"
#include "schedule.h"
#include "sgd_work.h"
#include "gpu_test.h"
#include "helpers.h"
#include "kernels.h"

#include <cuda_runtime_api.h> /* the NaN guard test: its arrays on the device */

/* ------------------------------------------------------------------ fixture */

#define FX_USERS 300
#define FX_ITEMS 200

typedef struct fixture {
    cf_ratings R;
    cf_triplets test;
} fixture;

static void fixture_make(fixture *fx, uint64_t seed) {
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    double P[FX_USERS * 4], Q[FX_ITEMS * 4], bu[FX_USERS], bi[FX_ITEMS];
    for (int x = 0; x < FX_USERS * 4; x++) P[x] = 0.6 * cf_rng_normal(&rng);
    for (int x = 0; x < FX_ITEMS * 4; x++) Q[x] = 0.6 * cf_rng_normal(&rng);
    for (int x = 0; x < FX_USERS; x++) bu[x] = 0.3 * cf_rng_normal(&rng);
    for (int x = 0; x < FX_ITEMS; x++) bi[x] = 0.3 * cf_rng_normal(&rng);
    cf_triplets t = {0}, te = {0};
    int64_t cap = FX_USERS * 40;
    t.u = malloc(sizeof(uint32_t) * (size_t)cap), t.i = malloc(sizeof(uint32_t) * (size_t)cap);
    t.r = malloc(sizeof(float) * (size_t)cap);
    te.u = malloc(sizeof(uint32_t) * (size_t)cap), te.i = malloc(sizeof(uint32_t) * (size_t)cap);
    te.r = malloc(sizeof(float) * (size_t)cap);
    cr_assert(t.u && t.i && t.r && te.u && te.i && te.r);
    static unsigned char seen[FX_USERS][FX_ITEMS];
    memset(seen, 0, sizeof seen);
    for (int u = 0; u < FX_USERS - 1; u++) {
        int n = 15 + (int)cf_rng_below(&rng, 21);
        for (int j = 0; j < n; j++) {
            int i = (int)cf_rng_below(&rng, FX_ITEMS - 1);
            if (seen[u][i]) continue;
            seen[u][i] = 1;
            double r = 3.5 + bu[u] + bi[i] + 0.3 * cf_rng_normal(&rng);
            for (int k = 0; k < 4; k++) r += P[u * 4 + k] * Q[i * 4 + k];
            cf_triplets *dst = cf_rng_below(&rng, 10) == 0 ? &te : &t;
            dst->u[dst->n] = (uint32_t)u, dst->i[dst->n] = (uint32_t)i, dst->r[dst->n] = (float)r;
            dst->n++;
        }
    }
    t.cap = t.n, te.cap = te.n;
    cr_assert_eq(cf_ratings_build(&t, FX_USERS, FX_ITEMS, &fx->R, NULL), CF_OK);
    cf_triplets_free(&t);
    fx->test = te;
}

static void fixture_free(fixture *fx) {
    cf_ratings_free(&fx->R);
    cf_triplets_free(&fx->test);
}

/* ------------------------------------------------------------------ host: fp16 */

static uint16_t h_of(float x) { return cf_half_from_float(x); }

Test(host_half, known_values) {
    cr_assert_eq(h_of(0.0f), 0x0000);
    cr_assert_eq(h_of(-0.0f), 0x8000);
    cr_assert_eq(h_of(1.0f), 0x3c00);
    cr_assert_eq(h_of(-2.0f), 0xc000);
    cr_assert_eq(h_of(0.1f), 0x2e66); /* 0.0999755859375 */
    cr_assert_eq(h_of(65504.0f), 0x7bff);
    cr_assert_eq(h_of(65519.0f), 0x7bff, "below the midpoint to 2^16: the largest half");
    cr_assert_eq(h_of(65520.0f), 0x7c00, "the midpoint rounds to even: infinity");
    cr_assert_eq(h_of(INFINITY), 0x7c00);
    cr_assert_eq(h_of(-1e10f), 0xfc00);
    cr_assert(isnan(cf_half_to_float(h_of(NAN))));
    cr_assert_eq(h_of(ldexpf(1.0f, -14)), 0x0400, "smallest normal");
    cr_assert_eq(h_of(ldexpf(1.0f, -24)), 0x0001, "smallest subnormal");
    cr_assert_eq(h_of(ldexpf(1.0f, -25)), 0x0000, "half of it: tie to even (0)");
    cr_assert_eq(h_of(ldexpf(3.0f, -25)), 0x0002, "1.5 ulp: tie to even (2)");
    cr_assert_eq(h_of(ldexpf(1.0f, -26)), 0x0000);
    cr_assert_eq(h_of(1.0f + ldexpf(1.0f, -11)), 0x3c00, "1 + ulp/2: tie to even (down)");
    cr_assert_eq(h_of(1.0f + ldexpf(3.0f, -11)), 0x3c02, "1 + 3ulp/2: tie to even (up)");
    cr_assert_eq(h_of(1.0f + ldexpf(1.0f, -11) + ldexpf(1.0f, -20)), 0x3c01, "above the tie: up");
    cr_assert_eq(h_of(2047.5f), 0x6800, "2047.5 lies between 2047 and 2048: even is 2048");
    cr_assert_float_eq(cf_half_to_float(0x3555), 0.333251953125f, 0.0f);
    cr_assert_float_eq(cf_half_to_float(0x0001), ldexpf(1.0f, -24), 0.0f);
    cr_assert_float_eq(cf_half_to_float(0x83ff), -ldexpf(1023.0f, -24), 0.0f);
}

/* Every finite half converts to float and back to itself, and every midpoint between two
 * neighbours rounds to the even one (the last mantissa bit 0). */
Test(host_half, every_value_round_trips_and_midpoints_round_to_even) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue; /* inf, NaN */
        float f = cf_half_to_float((uint16_t)h);
        cr_assert_eq(cf_half_from_float(f), (uint16_t)h, "0x%04x", h);
        if ((h & 0x7fff) == 0x7bff) continue;  /* the largest: its successor is inf */
        float next = cf_half_to_float((uint16_t)(h + 1));
        float mid = (float)(((double)f + (double)next) / 2.0); /* exact in float */
        uint16_t want = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        if ((h & 0x7fff) == 0 && (h & 0x8000)) continue; /* −0 → −2^-24: midpoint sign games */
        cr_assert_eq(cf_half_from_float(mid), want, "midpoint after 0x%04x", h);
    }
}

/* ------------------------------------------------------------------ host: work lists */

Test(host_sgd_work, blocks_list_is_the_cpu_block_order) {
    fixture fx;
    fixture_make(&fx, 3);
    cf_blocks bl;
    cf_error err;
    cr_assert_eq(cf_blocks_build(&fx.R, 5, 77, &bl, &err), CF_OK, "%s", err.msg);
    cf_sgd_work w;
    cr_assert_eq(cf_sgd_work_blocks(&fx.R, &bl, &w, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(w.n, fx.R.nnz);
    for (int64_t t = 0; t < w.n; t++) {
        int64_t e = bl.entry[t];
        cr_assert_eq(w.u[t], bl.user[t]);
        cr_assert_eq(w.i[t], fx.R.row_col[e]);
        cr_assert_eq(w.r[t], fx.R.row_val[e]);
        /* and the entry belongs to the block its position says */
        cr_assert(e >= fx.R.row_ptr[w.u[t]] && e < fx.R.row_ptr[w.u[t] + 1]);
    }
    for (int32_t a = 0; a < 5; a++)
        for (int32_t c = 0; c < 5; c++)
            for (int64_t t = bl.block_ptr[a * 5 + c]; t < bl.block_ptr[a * 5 + c + 1]; t++) {
                cr_assert_eq(bl.user_band[w.u[t]], (uint32_t)a);
                cr_assert_eq(bl.item_band[w.i[t]], (uint32_t)c);
            }
    cf_blocks bad = bl;
    bad.nnz = bl.nnz - 1;
    cf_sgd_work w2;
    cr_assert_eq(cf_sgd_work_blocks(&fx.R, &bad, &w2, &err), CF_ERR_INVALID);
    cr_assert_null(w2.u);
    cf_sgd_work_free(&w);
    cf_blocks_free(&bl);
    fixture_free(&fx);
}

/* The CSR entry of rating (u, i), or −1. */
static int64_t entry_of(const cf_ratings *R, uint32_t u, uint32_t i) {
    for (int64_t x = R->row_ptr[u]; x < R->row_ptr[u + 1]; x++)
        if (R->row_col[x] == i) return x;
    return -1;
}

Test(host_sgd_work, hogwild_list_is_by_user_each_user_shuffled) {
    fixture fx;
    fixture_make(&fx, 4);
    cf_sgd_work w, w2, w3;
    cf_error err;
    cr_assert_eq(cf_sgd_work_hogwild(&fx.R, 9, &w, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_sgd_work_hogwild(&fx.R, 9, &w2, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_sgd_work_hogwild(&fx.R, 10, &w3, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(w.n, fx.R.nnz);
    int64_t unsorted = 0, users = 0;
    for (int64_t u = 0; u < fx.R.n_users; u++) {
        const int64_t b = fx.R.row_ptr[u], n = fx.R.row_ptr[u + 1] - b;
        int sorted = 1;
        for (int64_t x = b; x < b + n; x++) {
            cr_assert_eq(w.u[x], (uint32_t)u, "position %lld: the users in CSR order", (long long)x);
            /* (u, i, r) is one of the user's CSR entries, each once (items are distinct in a row) */
            int64_t e = entry_of(&fx.R, (uint32_t)u, w.i[x]);
            cr_assert_geq(e, 0);
            cr_assert_eq(w.r[x], fx.R.row_val[e]);
            for (int64_t y = b; y < x; y++) cr_assert_neq(w.i[y], w.i[x], "user %lld: item %u twice", (long long)u, w.i[x]);
            if (x > b && w.i[x] < w.i[x - 1]) sorted = 0;
        }
        users += n > 1, unsorted += n > 1 && !sorted;
    }
    cr_assert_gt(unsorted, users * 9 / 10, "shuffled within users: %lld of %lld not by item", (long long)unsorted, (long long)users);
    cr_assert_eq(memcmp(w.i, w2.i, (size_t)w.n * sizeof *w.i), 0, "the same seed, the same list");
    cr_assert_neq(memcmp(w.i, w3.i, (size_t)w.n * sizeof *w.i), 0, "another seed, another list");
    cf_sgd_work_free(&w), cf_sgd_work_free(&w2), cf_sgd_work_free(&w3);
    fixture_free(&fx);
}

/* The plan's invariants (sgd_work.h) for one shape, and its warps. */
static int64_t plan_checked(int64_t nnz, int64_t nu, int64_t ni, int64_t resident, int rpw) {
    cf_sgd_hogwild_order o;
    cf_hogwild_plan(nnz, nu, ni, resident, rpw, &o);
    const int64_t rows = nu < ni ? nu : ni;
    const int r = rpw > 0 ? rpw : CF_HOGWILD_ROWS_PER_WARP;
    cr_assert_eq(o.n, nnz);
    cr_assert(o.run >= 32 && o.run <= 256 && o.run % 32 == 0, "run %lld", (long long)o.run);
    cr_assert(o.n_runs * o.run >= nnz && (o.n_runs - 1) * o.run < nnz, "runs %lld × %lld cover %lld",
              (long long)o.n_runs, (long long)o.run, (long long)nnz);
    cr_assert_geq(o.warps, 1);
    cr_assert_leq(o.warps, o.n_runs);
    cr_assert_leq(o.warps, resident > 0 ? resident : 1);
    if (rows >= r) cr_assert_leq(o.warps, rows / r, "%lld warps for %lld rows", (long long)o.warps, (long long)rows);
    if (nnz >= CF_HOGWILD_RATINGS_PER_WARP)
        cr_assert_leq(o.warps, nnz / CF_HOGWILD_RATINGS_PER_WARP, "%lld warps for %lld ratings", (long long)o.warps,
                      (long long)nnz);
    return o.warps;
}

Test(host_sgd_work, hogwild_plan_bounds_the_warps_by_the_rows_and_the_ratings) {
    /* an H200 holds ≈ 132 × 36 warps of the kernel */
    const int64_t dev = 132 * 36;
    /* the test fixture (300 × 200, ≈ 6,700 ratings): 6,700 / 2,048 = 3 warps (the rows
     * alone would allow 200 / 8 = 25) */
    cr_assert_eq(plan_checked(6700, 300, 200, dev, 0), 3);
    /* MovieLens-100k's shape: 100,000 / 2,048 = 48 (the rows: 943 / 8 = 117) */
    cr_assert_eq(plan_checked(100000, 943, 1682, dev, 0), 48);
    /* the Netflix shape: 17,770 / 8 = 2,221 of the device's 4,752 */
    cr_assert_eq(plan_checked(99072112, 480189, 17770, dev, 0), 2221);
    cr_assert_eq(plan_checked(99072112, 480189, 17770, dev, 2), dev, "rows per warp 2: the device bounds it");
    /* fewer rows than rows_per_warp, one rating, no device figure: one warp */
    cr_assert_eq(plan_checked(50, 3, 1000, dev, 0), 1);
    cr_assert_eq(plan_checked(1, 1, 1, dev, 0), 1);
    cr_assert_eq(plan_checked(1000000, 5000, 5000, 0, 0), 1);
    /* fewer than 2,048 ratings: one warp, whatever the rows allow */
    cr_assert_eq(plan_checked(64, 1000, 1000, dev, 1), 1);
    cr_assert_eq(plan_checked(2047, 1000, 1000, dev, 1), 1);
    cr_assert_eq(plan_checked(4096, 1000, 1000, dev, 1), 2);
}

/* Every epoch's order (cf_hogwild_epoch), walked the way the kernel walks it (the work
 * items c = 0, 1, ... from the counter, cf_hogwild_item: run CF_HOGWILD_RUN_OF(o, c),
 * positions rotated by off), applies every rating exactly once; the orders of two epochs
 * differ and the same epoch repeats. */
Test(host_sgd_work, hogwild_epoch_order_applies_every_rating_once) {
    const int64_t shapes[][3] = {{6700, 300, 200}, {100000, 943, 1682}, {33, 40, 40}, {1, 1, 1}, {4096, 64, 64}};
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
        cf_sgd_hogwild_order o;
        cf_hogwild_plan(shapes[sh][0], shapes[sh][1], shapes[sh][2], 132 * 36, 0, &o);
        unsigned char *seen = calloc((size_t)o.n, 1);
        int64_t first_prev = -1;
        for (int32_t epoch = 0; epoch < 4; epoch++) {
            cf_hogwild_epoch(&o, 17, epoch);
            cf_sgd_hogwild_order again = o;
            cf_hogwild_epoch(&again, 17, epoch);
            cr_assert_eq(memcmp(&again, &o, sizeof o), 0, "the same seed and epoch: the same order");
            cr_assert(o.off >= 0 && o.off < o.n && o.perm_b < (uint64_t)o.n_runs);
            memset(seen, 0, (size_t)o.n);
            int64_t first = -1;
            for (int64_t c = 0; c < o.n_runs; c++) {
                int64_t b, e, off;
                cf_hogwild_item(&o, NULL, c, &b, &e, &off);
                cr_assert(b >= 0 && b % o.run == 0 && e == (b + o.run < o.n ? b + o.run : o.n) && off == o.off);
                for (int64_t x = b; x < e; x++) {
                    const int64_t t = (x + o.off) % o.n;
                    if (first < 0) first = t;
                    cr_assert_eq(seen[t], 0, "shape %zu epoch %d: rating %lld twice", sh, epoch, (long long)t);
                    seen[t] = 1;
                }
            }
            for (int64_t t = 0; t < o.n; t++) cr_assert_eq(seen[t], 1, "shape %zu epoch %d: rating %lld missed", sh, epoch, (long long)t);
            if (o.n > 1000 && epoch > 0) cr_assert_neq(first, first_prev, "shape %zu: epoch %d starts where the last did", sh, epoch);
            first_prev = first;
        }
        free(seen);
    }
}

/* Whole users (cf_hogwild_item and cf_hogwild_whole_users, as the kernel applies them):
 * over every epoch's order, every rating is applied exactly once, each user's ratings by
 * one work item in list order, on lists whose users span from 1 to many runs (heavy users
 * of up to 40 runs); the users of more than heavy_min ratings are the first n_heavy items,
 * in an order that changes with the epoch, and no run applies them; a run that lies inside
 * an earlier user applies nothing. For the plan's threshold (= run here), one between
 * (some users longer than a run go by runs, some alone) and none (every user by runs). */
Test(host_sgd_work, hogwild_whole_users_apply_every_rating_once_by_one_item) {
    const int64_t n_users = 700;
    int64_t *ptr = malloc(sizeof(int64_t) * (size_t)(n_users + 1));
    cf_rng rng;
    cf_rng_seed(&rng, 3);
    ptr[0] = 0;
    for (int64_t u = 0; u < n_users; u++) /* mostly 1–60 ratings; every 50th user 2,000–10,000 */
        ptr[u + 1] = ptr[u] + (u % 50 == 7 ? 2000 + (int64_t)cf_rng_below(&rng, 8001) : 1 + (int64_t)cf_rng_below(&rng, 60));
    const int64_t n = ptr[n_users];
    uint32_t *su = malloc(sizeof(uint32_t) * (size_t)n), *heavy = malloc(sizeof(uint32_t) * (size_t)n_users);
    for (int64_t u = 0; u < n_users; u++)
        for (int64_t t = ptr[u]; t < ptr[u + 1]; t++) su[t] = (uint32_t)u;
    cf_sgd_hogwild_order o;
    cf_hogwild_plan(n, n_users, 5000, 132 * 36, 0, &o);
    cr_assert_eq(o.run, 256);
    cr_assert_eq(cf_hogwild_heavy_min(&o), o.run, "the mean share / 16 is below a run: %lld", (long long)(n / (16 * o.warps)));
    unsigned char *seen = calloc((size_t)n, 1);
    int64_t *by = malloc(sizeof(int64_t) * (size_t)n_users);
    const int64_t mins[] = {cf_hogwild_heavy_min(&o), 5000, INT64_MAX}, want_heavy[] = {14, 10, 0};
    for (size_t m = 0; m < sizeof mins / sizeof *mins; m++) {
        o.user_ptr = ptr, o.heavy = heavy, o.heavy_min = mins[m];
        o.n_heavy = cf_hogwild_heavy_users(ptr, n_users, o.heavy_min, heavy);
        cr_assert_eq(o.n_heavy, cf_hogwild_heavy_users(ptr, n_users, o.heavy_min, NULL));
        cr_assert_eq(o.n_heavy, want_heavy[m], "threshold %lld: %lld heavy users", (long long)mins[m], (long long)o.n_heavy);
        uint64_t a_prev = 0, b_prev = 0;
        for (int32_t epoch = 0; epoch < 6; epoch++) {
            cf_hogwild_epoch(&o, 29, epoch);
            if (o.n_heavy > 2) {
                cr_assert(o.heavy_a >= 1 && o.heavy_a < (uint64_t)o.n_heavy && o.heavy_b < (uint64_t)o.n_heavy);
                cr_assert(epoch == 0 || o.heavy_a != a_prev || o.heavy_b != b_prev, "epoch %d: the heavy users' order repeats", epoch);
                a_prev = o.heavy_a, b_prev = o.heavy_b;
            }
            memset(seen, 0, (size_t)n);
            for (int64_t u = 0; u < n_users; u++) by[u] = -1;
            int64_t empty = 0, spanning = 0;
            for (int64_t c = 0; c < o.n_heavy + o.n_runs; c++) {
                int64_t b, e, off;
                cf_hogwild_item(&o, su, c, &b, &e, &off);
                if (b >= e) {
                    cr_assert_geq(c, o.n_heavy, "a heavy user applies its ratings");
                    empty++;
                    continue;
                }
                cr_assert_leq(e, 2 * n);
                int64_t prev = -1;
                for (int64_t x = b; x < e; x++) {
                    const int64_t t = cf_hogwild_pos(x, off, n);
                    cr_assert(t >= 0 && t < n, "epoch %d item %lld: position %lld", epoch, (long long)c, (long long)x);
                    cr_assert_eq(seen[t], 0, "epoch %d: rating %lld twice", epoch, (long long)t);
                    seen[t] = 1;
                    const uint32_t u = su[t];
                    const int64_t len = ptr[u + 1] - ptr[u];
                    cr_assert(by[u] == -1 || by[u] == c, "epoch %d: user %u in items %lld and %lld", epoch, u,
                              (long long)by[u], (long long)c);
                    cr_assert_eq(len > o.heavy_min, c < o.n_heavy, "epoch %d: user %u (%lld ratings) in item %lld", epoch,
                                 u, (long long)len, (long long)c);
                    if (by[u] == -1 && len > o.run && c >= o.n_heavy) spanning++;
                    by[u] = c;
                    if (prev >= 0 && su[prev] == u) cr_assert_eq(t, prev + 1, "a user's ratings in list order");
                    prev = t;
                }
            }
            for (int64_t t = 0; t < n; t++) cr_assert_eq(seen[t], 1, "epoch %d: rating %lld missed", epoch, (long long)t);
            cr_assert_gt(empty, 0, "epoch %d: some runs lie inside or start with a heavy user", epoch);
            cr_assert_eq(spanning, 14 - o.n_heavy, "epoch %d: users longer than a run applied by runs", epoch);
        }
    }
    free(ptr), free(su), free(heavy), free(seen), free(by);
}

Test(host_sgd_work, entries_by_item_is_a_stable_sort_by_item) {
    fixture fx;
    fixture_make(&fx, 6);
    const cf_ratings *R = &fx.R;
    int64_t *order = malloc((size_t)R->nnz * sizeof *order);
    unsigned char *seen = calloc((size_t)R->nnz, 1);
    cf_error err;
    cr_assert_eq(cf_entries_by_item(R, order, &err), CF_OK, "%s", err.msg);
    for (int64_t t = 0; t < R->nnz; t++) {
        cr_assert(order[t] >= 0 && order[t] < R->nnz);
        cr_assert_eq(seen[order[t]], 0, "entry %lld listed twice", (long long)order[t]);
        seen[order[t]] = 1;
        if (t == 0) continue;
        uint32_t a = R->row_col[order[t - 1]], b = R->row_col[order[t]];
        cr_assert(a < b || (a == b && order[t - 1] < order[t]), "position %lld: item %u entry %lld after item %u entry %lld",
                  (long long)t, b, (long long)order[t], a, (long long)order[t - 1]);
    }
    /* item 199 has no rating: the last item listed is 198 */
    cr_assert_eq(R->row_col[order[R->nnz - 1]], FX_ITEMS - 2);
    free(order), free(seen);
    fixture_free(&fx);
}

/* Checks epoch `epoch`'s mini-batch lists eu (CSR order in a batch) and ei (item order)
 * of R against their definition: slot t holds an entry of batch ⌊pos/batch⌋ of the CPU's
 * permutation (the scatter permutation of (seed 11, CF_STREAM_MINIBATCH, epoch)), sorted
 * by entry in eu and by item, then entry in ei, every rating once in each. */
static void check_minibatch(const cf_ratings *R, int32_t epoch, int64_t batch, const uint32_t *eu,
                            const uint32_t *ei) {
    const int64_t n = R->nnz;
    int64_t *order = malloc((size_t)n * sizeof *order), *pos = malloc((size_t)n * sizeof *pos);
    unsigned char *seen = calloc((size_t)n + 1, 1), *seen_i = calloc((size_t)n + 1, 1);
    cr_assert(order && pos && seen && seen_i);
    cf_error err;
    cr_assert_eq(cf_sched_scatter_permutation(order, n, cf_sched_seed(11, CF_STREAM_MINIBATCH, (uint64_t)epoch), 1,
                                              &err),
                 CF_OK, "%s", err.msg);
    for (int64_t t = 0; t < n; t++) pos[order[t]] = t;
    for (int64_t t = 0; t < n; t++) {
        /* slot t holds an entry of batch ⌊t/batch⌋, entries increasing within a batch */
        const int64_t e = eu[t];
        cr_assert_lt(e, n, "slot %lld: entry %lld", (long long)t, (long long)e);
        cr_assert_eq(pos[e] / batch, t / batch, "slot %lld: entry %lld belongs to batch %lld", (long long)t,
                     (long long)e, (long long)(pos[e] / batch));
        if (t % batch) cr_assert_gt(e, (int64_t)eu[t - 1], "sorted within the batch");
        cr_assert_eq(seen[e], 0, "entry %lld twice", (long long)e);
        seen[e] = 1;
        /* the item-sorted list: the same batches at the same slots, sorted by item, then entry */
        const int64_t f = ei[t];
        cr_assert_lt(f, n, "item list slot %lld: entry %lld", (long long)t, (long long)f);
        cr_assert_eq(pos[f] / batch, t / batch, "item list slot %lld: entry %lld belongs to batch %lld",
                     (long long)t, (long long)f, (long long)(pos[f] / batch));
        if (t % batch)
            cr_assert(R->row_col[f] > R->row_col[ei[t - 1]] || (R->row_col[f] == R->row_col[ei[t - 1]] && f > ei[t - 1]),
                      "item list slot %lld: sorted by item, then entry", (long long)t);
        cr_assert_eq(seen_i[f], 0, "item list: entry %lld twice", (long long)f);
        seen_i[f] = 1;
    }
    free(order), free(pos), free(seen), free(seen_i);
}

Test(host_sgd_work, minibatch_batches_are_the_cpu_batches_sorted_by_entry_and_by_item) {
    fixture fx;
    fixture_make(&fx, 5);
    const cf_ratings *R = &fx.R;
    const int64_t n = R->nnz, batch = 97;
    int64_t *scratch = malloc((size_t)(2 * n) * sizeof *scratch), *by_item_order = malloc((size_t)n * sizeof *by_item_order);
    uint32_t *eu = malloc((size_t)n * 4), *ei = malloc((size_t)n * 4), *eu2 = malloc((size_t)n * 4);
    cf_error err;
    cr_assert_eq(cf_entries_by_item(R, by_item_order, &err), CF_OK, "%s", err.msg);
    for (int32_t epoch = 0; epoch < 2; epoch++) {
        cr_assert_eq(cf_minibatch_entries(R, 11, epoch, batch, 0, scratch, eu, by_item_order, ei, &err), CF_OK, "%s",
                     err.msg);
        check_minibatch(R, epoch, batch, eu, ei);
    }
    cr_assert_eq(cf_minibatch_entries(R, 11, 0, 0, 0, scratch, eu, NULL, NULL, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_minibatch_entries(R, 11, 0, 5, 0, scratch, eu, by_item_order, NULL, &err), CF_ERR_INVALID);
    /* without the item list the user list is the same as with it */
    cr_assert_eq(cf_minibatch_entries(R, 11, 1, batch, 0, scratch, eu2, NULL, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(memcmp(eu2, eu, (size_t)n * sizeof *eu), 0);
    free(eu), free(ei), free(eu2), free(scratch), free(by_item_order);
    fixture_free(&fx);
}

/* A set past one bucket of the scatter permutation (≈ 240 k ratings: 4 buckets, and each
 * thread's range of the counting sorts is long): 1, 2 and 3 threads give the same lists,
 * and they are the definition's; batch 5 has too many batches for a table per thread
 * (one thread sorts), n/20 is the default's count. */
Test(host_sgd_work, minibatch_batches_are_the_same_on_any_thread_count) {
    cf_test_planted pl = {.n_users = 2000, .n_items = 600, .rank = 3, .density = 0.2, .sigma = 0.3, .mu = 3.5,
                          .bias = 1, .seed = 21};
    cf_ratings R;
    cf_triplets none;
    cf_test_make_planted(&pl, &R, &none);
    const int64_t n = R.nnz;
    cr_assert_gt(n, 3 * CF_SCATTER_BUCKET, "%lld ratings", (long long)n);
    int64_t *scratch = malloc((size_t)(2 * n) * sizeof *scratch), *by_item_order = malloc((size_t)n * sizeof *by_item_order);
    uint32_t *eu1 = malloc((size_t)n * 4), *ei1 = malloc((size_t)n * 4), *eu = malloc((size_t)n * 4),
             *ei = malloc((size_t)n * 4);
    cf_error err;
    cr_assert_eq(cf_entries_by_item(&R, by_item_order, &err), CF_OK, "%s", err.msg);
    const int64_t batches[] = {5, 997, (n + 19) / 20};
    for (size_t bx = 0; bx < sizeof batches / sizeof *batches; bx++) {
        cr_assert_eq(cf_minibatch_entries(&R, 11, 3, batches[bx], 1, scratch, eu1, by_item_order, ei1, &err), CF_OK,
                     "%s", err.msg);
        check_minibatch(&R, 3, batches[bx], eu1, ei1);
        for (int threads = 2; threads <= 3; threads++) {
            cr_assert_eq(cf_minibatch_entries(&R, 11, 3, batches[bx], threads, scratch, eu, by_item_order, ei, &err),
                         CF_OK, "%s", err.msg);
            cr_assert_eq(memcmp(eu1, eu, (size_t)n * 4), 0, "batch %lld, %d threads: by user", (long long)batches[bx],
                         threads);
            cr_assert_eq(memcmp(ei1, ei, (size_t)n * 4), 0, "batch %lld, %d threads: by item", (long long)batches[bx],
                         threads);
        }
    }
    free(eu1), free(ei1), free(eu), free(ei), free(scratch), free(by_item_order);
    cf_ratings_free(&R), cf_triplets_free(&none);
}

#ifdef CUFACTOR_HAVE_CUDA
/* ------------------------------------------------------------------ GPU */


/* The biases' own λ_b and mode in the configurations sgd_config makes: λ's and reg's (the
 * defaults, NaN and CF_REG_SAME) unless a *bias_lambda* test sets them first with
 * use_bias_lambda (each test runs in its own process). */
static double test_bias_lambda = NAN;
static cf_reg test_bias_reg = CF_REG_SAME;
static void use_bias_lambda(double lambda_b, cf_reg mode) { test_bias_lambda = lambda_b, test_bias_reg = mode; }

static cf_config sgd_config(int K, cf_sgd_schedule sched, int B) {
    cf_config c;
    cf_config_default(&c);
    c.algo = CF_ALGO_SGD, c.factors = K, c.schedule = sched, c.blocks = B;
    c.lambda = 0.05, c.lr = 0.02, c.reg = CF_REG_WEIGHTED, c.seed = 5;
    c.bias_lambda = test_bias_lambda, c.bias_reg = test_bias_reg;
    return c;
}

static void init_factors(cf_factors *f, const cf_ratings *R, const cf_config *c, uint64_t seed) {
    cr_assert_eq(cf_factors_alloc(f, R->n_users, R->n_items, c->factors, c->bias, NULL), CF_OK);
    cf_factors_init_random(f, 0.3, seed);
    f->mu = c->bias ? R->mean : 0.0;
    if (c->bias) {
        cf_rng rng;
        cf_rng_seed(&rng, seed + 1);
        for (int64_t u = 0; u < f->n_users; u++) f->bu[u] = 0.1 * cf_rng_normal(&rng);
        for (int64_t i = 0; i < f->n_items; i++) f->bi[i] = 0.1 * cf_rng_normal(&rng);
    }
}

/* The GPU backend opened on the fixture (asserted). */
static cf_backend *open_gpu(const fixture *fx, const cf_config *c, const cf_factors *init) {
    cf_backend *b = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_gpu_backend()->open(&fx->R, &fx->test, c, init, &b, &err), CF_OK, "%s", err.msg);
    return b;
}

/* Runs `epochs` epochs of algo cfg on a backend, returns the factors (caller frees). */
static void run_epochs(const cf_backend_ops *ops, const cf_ratings *R, const cf_triplets *test,
                       const cf_config *c, const cf_factors *init, int epochs, cf_factors *out,
                       double *test_rmse) {
    cf_backend *b = NULL;
    cf_error err = {0};
    cr_assert_eq(ops->open(R, test, c, init, &b, &err), CF_OK, "%s open: %s", ops->name, err.msg);
    for (int e = 0; e < epochs; e++) {
        double lr = c->lr;
        cf_status st = c->algo == CF_ALGO_SGD ? ops->sgd_epoch(b, e, lr, &err) : ops->gd_epoch(b, e, lr, &err);
        cr_assert_eq(st, CF_OK, "%s epoch %d: %s", ops->name, e, err.msg);
    }
    cr_assert_eq(cf_factors_alloc(out, init->n_users, init->n_items, init->k, init->bias, NULL), CF_OK);
    cr_assert_eq(ops->download(b, out, &err), CF_OK, "%s", err.msg);
    if (test_rmse) {
        cf_eval ev;
        cr_assert_eq(ops->evaluate(b, CF_EVAL_TEST, &ev, &err), CF_OK, "%s", err.msg);
        *test_rmse = sqrt(ev.sse / (double)ev.n);
    }
    ops->close(b);
}

/* max over all parameters of |g − c| / (rtol·|c| + atol·max|c|); ≤ 1 passes. Logs the
 * largest relative difference. */
static double compare(const cf_factors *g, const cf_factors *c, double rtol, double atol, const char *what) {
    const double *A[4] = {g->P, g->Q, g->bu, g->bi}, *Bv[4] = {c->P, c->Q, c->bu, c->bi};
    int64_t n[4] = {g->n_users * g->k, g->n_items * g->k, g->n_users, g->n_items};
    double scale = 0, worst = 0, max_rel = 0;
    int64_t at = -1;
    int wa = 0;
    for (int a = 0; a < 4; a++)
        for (int64_t j = 0; j < n[a]; j++) scale = fmax(scale, fabs(Bv[a][j]));
    for (int a = 0; a < (g->bias ? 4 : 2); a++)
        for (int64_t j = 0; j < n[a]; j++) {
            double d = fabs(A[a][j] - Bv[a][j]);
            double q = d / (rtol * fabs(Bv[a][j]) + atol * scale);
            if (fabs(Bv[a][j]) > 1e-3 * scale) max_rel = fmax(max_rel, d / fabs(Bv[a][j]));
            if (q > worst) worst = q, at = j, wa = a;
        }
    cr_log_info("%s: max relative difference %.3g (values above 1e-3·max), worst ratio %.3g at array %d index %lld",
                what, max_rel, worst, wa, (long long)at);
    return worst;
}

static void blocks_vs_cpu(int K, int bias) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 21);
    cf_config c = sgd_config(K, CF_SCHED_BLOCKS, 4);
    c.bias = bias;
    cf_factors init, g, cpu;
    init_factors(&init, &fx.R, &c, 8);
    c.threads = 3; /* the GPU's schedule prepared on 3 threads, the CPU's on 1: the same order */
    run_epochs(cf_gpu_backend(), &fx.R, &fx.test, &c, &init, 1, &g, NULL);
    c.threads = 1;
    run_epochs(&cf_cpu_backend, &fx.R, &fx.test, &c, &init, 1, &cpu, NULL);
    char what[64];
    snprintf(what, sizeof what, "blocks K=%d bias=%d", K, bias);
    double worst = compare(&g, &cpu, 1e-5, 1e-6, what);
    cr_assert_leq(worst, 1.0, "%s: worst ratio %g", what, worst);
    /* and the epoch did something: the factors moved well beyond the tolerance */
    double moved = 0;
    for (int64_t j = 0; j < init.n_users * K; j++) moved = fmax(moved, fabs(cpu.P[j] - init.P[j]));
    cr_assert_gt(moved, 1e-3);
    cf_factors_free(&init), cf_factors_free(&g), cf_factors_free(&cpu);
    fixture_free(&fx);
}

Test(gpu_sgd, blocks_vs_cpu_K1) { blocks_vs_cpu(1, 1); }
Test(gpu_sgd, blocks_vs_cpu_K31) { blocks_vs_cpu(31, 1); }
Test(gpu_sgd, blocks_vs_cpu_K32_nobias) { blocks_vs_cpu(32, 0); }
Test(gpu_sgd, blocks_vs_cpu_K33) { blocks_vs_cpu(33, 1); }
Test(gpu_sgd, blocks_vs_cpu_K100) { blocks_vs_cpu(100, 1); }
Test(gpu_sgd, blocks_vs_cpu_K128) { blocks_vs_cpu(128, 1); }
Test(gpu_sgd, blocks_vs_cpu_K256) { blocks_vs_cpu(256, 1); }
Test(gpu_sgd, blocks_vs_cpu_K300_from_memory) { blocks_vs_cpu(300, 1); }
/* The biases' own regularization: b += η (e − λ'b b) with λ'b = Λb/n, Λb = 25 plain, beside
 * λ = 0.05 weighted (λ'b ≈ 1 on a 25-rating row, 25 on a row of one: η λ'b ≤ 0.5, stable),
 * with the same tolerance: the same sequence of updates as the CPU's blocks run. Register
 * paths (K = 32: one float a lane; K = 100: 4 a lane) and the memory path (K = 300). */
Test(gpu_sgd, blocks_vs_cpu_bias_lambda_K32) {
    use_bias_lambda(25.0, CF_REG_PLAIN);
    blocks_vs_cpu(32, 1);
}
Test(gpu_sgd, blocks_vs_cpu_bias_lambda_K100) {
    use_bias_lambda(25.0, CF_REG_PLAIN);
    blocks_vs_cpu(100, 1);
}
Test(gpu_sgd, blocks_vs_cpu_bias_lambda_K300_from_memory) {
    use_bias_lambda(25.0, CF_REG_PLAIN);
    blocks_vs_cpu(300, 1);
}
/* λ_b = 1e-4 mean (Λb = λ_b·|Ω| ≈ 0.7) beside the weighted factors */
Test(gpu_sgd, blocks_vs_cpu_bias_lambda_mean_K31) {
    use_bias_lambda(1e-4, CF_REG_MEAN);
    blocks_vs_cpu(31, 1);
}

/* One rating: the kernel's single update against the rule of DESIGN.md §2 in double. */
static void single_update(int K, int fp16) {
    REQUIRE_GPU();
    uint32_t us[] = {1}, is[] = {0};
    float rs[] = {4.25f};
    cf_triplets t = {.n = 1, .cap = 1, .u = us, .i = is, .r = rs};
    cf_ratings R;
    cr_assert_eq(cf_ratings_build(&t, 2, 1, &R, NULL), CF_OK);
    cf_config c = sgd_config(K, CF_SCHED_BLOCKS, 1);
    c.lambda = 0.1, c.reg = CF_REG_PLAIN, c.lr = 0.05;
    if (fp16) c.precision = CF_PRECISION_FP16, c.schedule = CF_SCHED_HOGWILD;
    cf_factors init, g;
    init_factors(&init, &R, &c, 3);
    if (fp16) /* start from values fp16 holds exactly */
        for (int k = 0; k < K; k++) init.P[K + k] = cf_half_round((float)init.P[K + k]), init.Q[k] = cf_half_round((float)init.Q[k]);
    run_epochs(cf_gpu_backend(), &R, NULL, &c, &init, 1, &g, NULL);
    /* the rule, λ' = λ/1 (plain, one rating per row) */
    const double *p = init.P + K, *q = init.Q;
    double dot = 0;
    for (int k = 0; k < K; k++) dot += p[k] * q[k];
    double e = 4.25 - (init.mu + init.bu[1] + init.bi[0] + dot), eta = 0.05, lam = 0.1;
    double worst = 0;
    for (int k = 0; k < K; k++) {
        double pk = p[k] + eta * (e * q[k] - lam * p[k]), qk = q[k] + eta * (e * p[k] - lam * q[k]);
        double tol_p = fp16 ? fabs(pk) * 1.0e-3 + 1e-7 : fabs(pk) * 1e-5 + 1e-7;
        double tol_q = fp16 ? fabs(qk) * 1.0e-3 + 1e-7 : fabs(qk) * 1e-5 + 1e-7;
        cr_assert_leq(fabs(g.P[K + k] - pk), tol_p, "K=%d p[%d]: %.9g vs %.9g", K, k, g.P[K + k], pk);
        cr_assert_leq(fabs(g.Q[k] - qk), tol_q, "K=%d q[%d]: %.9g vs %.9g", K, k, g.Q[k], qk);
        if (fp16) cr_assert_eq(cf_half_round((float)g.P[K + k]), (float)g.P[K + k], "stored in fp16");
        worst = fmax(worst, fabs(g.P[K + k] - pk) / fmax(fabs(pk), 1e-12));
    }
    /* the biases with their own λ'b = Λb/1 (= λ unless a *bias_lambda* test set λ_b) */
    const double lamb = cf_bias_reg_lambda(&c, 1, R.nnz);
    double bu = init.bu[1] + eta * (e - lamb * init.bu[1]), bi = init.bi[0] + eta * (e - lamb * init.bi[0]);
    cr_assert_float_eq(g.bu[1], bu, 1e-5 * fabs(bu) + 1e-7);
    cr_assert_float_eq(g.bi[0], bi, 1e-5 * fabs(bi) + 1e-7);
    cr_assert_float_eq(g.bu[0], 0.0, 0.0, "user 0 has no rating: zero");
    cr_assert_float_eq(g.P[0], 0.0, 0.0, "user 0 has no rating: zero");
    cr_log_info("single update K=%d fp16=%d: max relative difference of p_u %.3g", K, fp16, worst);
    cf_factors_free(&init), cf_factors_free(&g);
    cf_ratings_free(&R);
}

Test(gpu_sgd, single_update_K1) { single_update(1, 0); }
Test(gpu_sgd, single_update_K33) { single_update(33, 0); }
Test(gpu_sgd, single_update_K128) { single_update(128, 0); }
Test(gpu_sgd, single_update_K256_fp16) { single_update(256, 1); }
Test(gpu_sgd, single_update_K100_fp16) { single_update(100, 1); }
/* λ'b = Λb = 0.7 (weighted, one rating) against λ' = 0.1 (plain): the blocks register
 * (K = 33) and memory (K = 300) paths, and hogwild's (fp16 K = 128, K = 300 from memory) */
Test(gpu_sgd, single_update_bias_lambda_K33) {
    use_bias_lambda(0.7, CF_REG_WEIGHTED);
    single_update(33, 0);
}
Test(gpu_sgd, single_update_bias_lambda_K300) {
    use_bias_lambda(0.7, CF_REG_WEIGHTED);
    single_update(300, 0);
}
Test(gpu_sgd, single_update_bias_lambda_K128_fp16) {
    use_bias_lambda(0.7, CF_REG_WEIGHTED);
    single_update(128, 1);
}
Test(gpu_sgd, single_update_bias_lambda_K300_fp16) {
    use_bias_lambda(0.7, CF_REG_WEIGHTED);
    single_update(300, 1);
}

/* ------------------------------------------------------------------ evaluation (issue 15 item 4) */

/* The trainer's figures (kernels/eval.cu, one launch for both sets) against the CPU
 * reference's evaluate on the same factors. The GPU forms e in fp32 (r̂ ≈ 3.5 rounds to
 * ≈ 2e-7 absolute; the fp32 dot product of K terms of size ≲ 0.1 adds ≲ K·6e-8·0.1) and
 * sums e², |e| and Λ‖x‖² in double; the CPU is double throughout. sse, sae and reg agree
 * to 1e-5 relative (the errors are ≈ 0.3–1, so an absolute 1e-6 in e is ≲ 1e-5 of e²);
 * n exactly. Factors: after `epochs` SGD epochs of the given storage (fp16: the kernel
 * reads SGD's half copies), downloaded and opened on the CPU. Also:
 *   - evaluate_all gives bit for bit what evaluate(TRAIN) and evaluate(TEST) give;
 *   - fp16: the half copies and F (the same values) give the same bits — F is read after
 *     an upload of the same factors marks the halves stale;
 *   - the same figures, bit for bit, when the blocks run in another order (simulation). */
static void eval_vs_cpu(int K, int bias, cf_precision prec, cf_reg reg) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 77);
    cf_config c = sgd_config(K, CF_SCHED_HOGWILD, 8);
    c.bias = bias, c.precision = prec, c.reg = reg, c.lambda = reg == CF_REG_MEAN ? 1e-4 : 0.05;
    cf_factors init, f;
    init_factors(&init, &fx.R, &c, 12);
    cf_error err = {0};
    cf_backend *gb = NULL, *cb = NULL;
    const cf_backend_ops *G = cf_gpu_backend();
    cr_assert_eq(G->open(&fx.R, &fx.test, &c, &init, &gb, &err), CF_OK, "%s", err.msg);
    cr_assert(G->evaluate_all != NULL);
    for (int e = 0; e < 2; e++) cr_assert_eq(G->sgd_epoch(gb, e, c.lr, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_factors_alloc(&f, init.n_users, init.n_items, K, bias, NULL), CF_OK);
    cr_assert_eq(G->download(gb, &f, &err), CF_OK, "%s", err.msg);

    cf_eval all[2], one[2], again[2], ref[2];
    gpu_test_order_seed(11);
    cr_assert_eq(G->evaluate_all(gb, &all[0], &all[1], &err), CF_OK, "%s", err.msg);
    gpu_test_order_seed(12); /* under the simulation: the blocks (and threads) in other orders */
    cr_assert_eq(G->evaluate(gb, CF_EVAL_TRAIN, &one[0], &err), CF_OK, "%s", err.msg);
    cr_assert_eq(G->evaluate(gb, CF_EVAL_TEST, &one[1], &err), CF_OK, "%s", err.msg);
    gpu_test_order_seed(13);
    cr_assert_eq(G->evaluate_all(gb, &again[0], &again[1], &err), CF_OK, "%s", err.msg);
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(memcmp(&all[s], &one[s], sizeof all[s]), 0, "set %d: evaluate_all differs from evaluate", s);
        cr_assert_eq(memcmp(&all[s], &again[s], sizeof all[s]), 0, "set %d: not deterministic", s);
    }
    cr_assert_eq(one[1].reg, 0.0, "the test set carries no reg");

    /* the same factors through F: upload marks the fp16 copies stale */
    cr_assert_eq(G->upload(gb, &f, &err), CF_OK, "%s", err.msg);
    cf_eval viaF[2];
    cr_assert_eq(G->evaluate_all(gb, &viaF[0], &viaF[1], &err), CF_OK, "%s", err.msg);
    for (int s = 0; s < 2; s++)
        cr_assert_eq(memcmp(&all[s], &viaF[s], sizeof all[s]), 0, "set %d: fp16 copies and F disagree", s);

    cf_config cc = c;
    cc.device = CF_DEVICE_CPU, cc.precision = CF_PRECISION_FP64;
    cr_assert_eq(cf_cpu_backend.open(&fx.R, &fx.test, &cc, &f, &cb, &err), CF_OK, "%s", err.msg);
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(cf_cpu_backend.evaluate(cb, (cf_eval_set)s, &ref[s], &err), CF_OK, "%s", err.msg);
        cr_assert_eq(all[s].n, ref[s].n, "set %d: n %lld vs %lld", s, (long long)all[s].n, (long long)ref[s].n);
        cr_assert(ref[s].n > 0 && ref[s].sse > 0);
        cr_expect_leq(fabs(all[s].sse - ref[s].sse), 1e-5 * ref[s].sse, "K=%d set %d: sse %.10g vs %.10g", K, s,
                      all[s].sse, ref[s].sse);
        cr_expect_leq(fabs(all[s].sae - ref[s].sae), 1e-5 * ref[s].sae, "K=%d set %d: sae %.10g vs %.10g", K, s,
                      all[s].sae, ref[s].sae);
    }
    cr_assert(ref[0].reg > 0);
    cr_expect_leq(fabs(all[0].reg - ref[0].reg), 1e-5 * ref[0].reg, "K=%d: reg %.10g vs %.10g", K, all[0].reg,
                  ref[0].reg);
    cr_log_info("eval K=%d bias=%d %s %s: train sse %.3g (rel %.2g), test sse %.3g (rel %.2g), reg %.3g (rel %.2g)",
                K, bias, cf_precision_name(prec), cf_reg_name(reg), all[0].sse, fabs(all[0].sse / ref[0].sse - 1),
                all[1].sse, fabs(all[1].sse / ref[1].sse - 1), all[0].reg, fabs(all[0].reg / ref[0].reg - 1));
    cf_cpu_backend.close(cb);
    G->close(gb);
    cf_factors_free(&init), cf_factors_free(&f);
    fixture_free(&fx);
}

Test(gpu_eval, K1_fp32_bias) { eval_vs_cpu(1, 1, CF_PRECISION_FP32, CF_REG_WEIGHTED); }
Test(gpu_eval, K1_fp16_nobias) { eval_vs_cpu(1, 0, CF_PRECISION_FP16, CF_REG_PLAIN); }
Test(gpu_eval, K7_fp32_nobias) { eval_vs_cpu(7, 0, CF_PRECISION_FP32, CF_REG_PLAIN); }
Test(gpu_eval, K7_fp16_bias) { eval_vs_cpu(7, 1, CF_PRECISION_FP16, CF_REG_MEAN); }
Test(gpu_eval, K32_fp16_bias) { eval_vs_cpu(32, 1, CF_PRECISION_FP16, CF_REG_WEIGHTED); }
Test(gpu_eval, K100_fp32_bias) { eval_vs_cpu(100, 1, CF_PRECISION_FP32, CF_REG_WEIGHTED); }
Test(gpu_eval, K128_fp16_bias) { eval_vs_cpu(128, 1, CF_PRECISION_FP16, CF_REG_WEIGHTED); }
Test(gpu_eval, K128_fp32_nobias) { eval_vs_cpu(128, 0, CF_PRECISION_FP32, CF_REG_PLAIN); }
Test(gpu_eval, K300_fp32_bias) { eval_vs_cpu(300, 1, CF_PRECISION_FP32, CF_REG_WEIGHTED); }
/* reg = Σ (Λ‖x‖² + Λb b²) with the biases' own λ_b, against the CPU's (same tolerance) */
Test(gpu_eval, K32_fp32_bias_lambda_plain) {
    use_bias_lambda(25.0, CF_REG_PLAIN);
    eval_vs_cpu(32, 1, CF_PRECISION_FP32, CF_REG_WEIGHTED);
}
Test(gpu_eval, K7_fp16_bias_lambda_weighted) {
    use_bias_lambda(0.3, CF_REG_WEIGHTED);
    eval_vs_cpu(7, 1, CF_PRECISION_FP16, CF_REG_PLAIN);
}

/* Without a test set: evaluate_all fills the training figures and a zero test set. */
Test(gpu_eval, no_test_set) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 78);
    cf_config c = sgd_config(12, CF_SCHED_HOGWILD, 8);
    cf_factors init;
    init_factors(&init, &fx.R, &c, 3);
    cf_error err = {0};
    cf_backend *gb = NULL;
    cr_assert_eq(cf_gpu_backend()->open(&fx.R, NULL, &c, &init, &gb, &err), CF_OK, "%s", err.msg);
    cf_eval tr, te, one;
    memset(&te, 0xff, sizeof te);
    cr_assert_eq(cf_gpu_backend()->evaluate_all(gb, &tr, &te, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_gpu_backend()->evaluate(gb, CF_EVAL_TRAIN, &one, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(memcmp(&tr, &one, sizeof tr), 0);
    cr_assert_eq(tr.n, fx.R.nnz);
    cr_assert(te.n == 0 && te.sse == 0 && te.sae == 0 && te.reg == 0);
    cf_gpu_backend()->close(gb);
    cf_factors_free(&init);
    fixture_free(&fx);
}

Test(host_eval, group_lanes_cover_the_row_in_about_four_chunks) {
    cr_assert_eq(cf_eval_group_lanes(1), 1);
    cr_assert_eq(cf_eval_group_lanes(16), 1);
    cr_assert_eq(cf_eval_group_lanes(32), 2);
    cr_assert_eq(cf_eval_group_lanes(100), 8);
    cr_assert_eq(cf_eval_group_lanes(128), 8);
    cr_assert_eq(cf_eval_group_lanes(256), 16);
    cr_assert_eq(cf_eval_group_lanes(300), 32);
    cr_assert_eq(cf_eval_group_lanes(4096), 32);
    for (int k = 1; k <= 1024; k++) {
        int G = cf_eval_group_lanes(k), nch = (k + 3) / 4;
        cr_assert(G >= 1 && G <= 32 && (G & (G - 1)) == 0, "k=%d: G=%d", k, G);
        cr_assert(G == 32 || (nch + G - 1) / G <= 4, "k=%d: %d chunks per lane", k, (nch + G - 1) / G);
    }
}

/* Issue 17 item 9 on the GPU: the blocks schedule polls a stop request every 64 waves;
 * hogwild is one launch per epoch and finishes it. */
Test(gpu_sgd, stop_request_between_waves_interrupts_the_epoch) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 22);
    cf_config c = sgd_config(8, CF_SCHED_BLOCKS, 130);
    cf_factors init;
    init_factors(&init, &fx.R, &c, 9);
    const cf_backend_ops *gpu = cf_gpu_backend();
    cf_backend *b = NULL;
    cf_error err = {0};
    cr_assert_eq(gpu->open(&fx.R, &fx.test, &c, &init, &b, &err), CF_OK, "%s", err.msg);
    static volatile sig_atomic_t flag;
    gpu->set_stop(b, &flag);
    cr_assert_eq(gpu->sgd_epoch(b, 0, c.lr, &err), CF_OK, "%s", err.msg);
    flag = 1;
    cr_assert_eq(gpu->sgd_epoch(b, 1, c.lr, &err), CF_ERR_INTERRUPTED);
    cr_assert(strstr(err.msg, "sgd: interrupted inside the step") != NULL, "%s", err.msg);
    gpu->close(b);
    cf_factors_free(&init);
    fixture_free(&fx);
}

Test(gpu_sgd, blocks_is_bit_reproducible) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 22);
    cf_config c = sgd_config(64, CF_SCHED_BLOCKS, 8);
    cf_factors init, a, b;
    init_factors(&init, &fx.R, &c, 9);
    gpu_test_order_seed(1); /* under the simulation: the two runs in different block orders */
    c.threads = 1;          /* and the host's schedule prepared on 1 and on 3 threads */
    run_epochs(cf_gpu_backend(), &fx.R, &fx.test, &c, &init, 3, &a, NULL);
    gpu_test_order_seed(2);
    c.threads = 3;
    run_epochs(cf_gpu_backend(), &fx.R, &fx.test, &c, &init, 3, &b, NULL);
    cr_assert_eq(memcmp(a.P, b.P, (size_t)a.n_users * 64 * sizeof(double)), 0);
    cr_assert_eq(memcmp(a.Q, b.Q, (size_t)a.n_items * 64 * sizeof(double)), 0);
    cr_assert_eq(memcmp(a.bu, b.bu, (size_t)a.n_users * sizeof(double)), 0);
    cr_assert_eq(memcmp(a.bi, b.bi, (size_t)a.n_items * sizeof(double)), 0);
    cr_assert(memcmp(a.P, init.P, (size_t)a.n_users * 64 * sizeof(double)) != 0);
    cf_factors_free(&init), cf_factors_free(&a), cf_factors_free(&b);
    fixture_free(&fx);
}

Test(gpu_sgd, blocks_is_bit_reproducible_bias_lambda) {
    use_bias_lambda(25.0, CF_REG_PLAIN);
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 22);
    cf_config c = sgd_config(64, CF_SCHED_BLOCKS, 8);
    cf_factors init, a, b, same;
    init_factors(&init, &fx.R, &c, 9);
    gpu_test_order_seed(1);
    run_epochs(cf_gpu_backend(), &fx.R, &fx.test, &c, &init, 3, &a, NULL);
    gpu_test_order_seed(2);
    run_epochs(cf_gpu_backend(), &fx.R, &fx.test, &c, &init, 3, &b, NULL);
    cr_assert_eq(memcmp(a.P, b.P, (size_t)a.n_users * 64 * sizeof(double)), 0);
    cr_assert_eq(memcmp(a.Q, b.Q, (size_t)a.n_items * 64 * sizeof(double)), 0);
    cr_assert_eq(memcmp(a.bu, b.bu, (size_t)a.n_users * sizeof(double)), 0);
    cr_assert_eq(memcmp(a.bi, b.bi, (size_t)a.n_items * sizeof(double)), 0);
    /* and λ_b did act: the run with the biases regularized as the factors differs */
    c.bias_lambda = NAN, c.bias_reg = CF_REG_SAME;
    run_epochs(cf_gpu_backend(), &fx.R, &fx.test, &c, &init, 3, &same, NULL);
    cr_assert(memcmp(a.bu, same.bu, (size_t)a.n_users * sizeof(double)) != 0);
    cf_factors_free(&init), cf_factors_free(&a), cf_factors_free(&b), cf_factors_free(&same);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------ the look-ahead ring
 * The kernels fetch each rating's rows D = 1, 4 or 8 ratings ahead (kernels/sgd.cu). A
 * row that a rating inside the window updates must be read again at its turn (STALE) or
 * continue in registers (SAME); a mistake there applies an update to an old row. The
 * dense set below makes both happen on almost every rating: every user rates every item,
 * so a `blocks` block (sorted by item) is runs of one item over the same few users, and
 * the hogwild list (by user) runs of one user over the same items. With one warp the
 * hogwild order is sequential too, so both schedules must give the same bytes at every
 * depth, and blocks must match the CPU. */

#define DN_USERS 6
#define DN_ITEMS 40

/* Empty triplets with room for n (asserted). */
static void triplets_make(cf_triplets *t, int64_t n) {
    memset(t, 0, sizeof *t);
    t->u = malloc(sizeof(uint32_t) * (size_t)n), t->i = malloc(sizeof(uint32_t) * (size_t)n);
    t->r = malloc(sizeof(float) * (size_t)n);
    cr_assert(t->u && t->i && t->r);
}

static void dense_make(cf_ratings *R, uint64_t seed) {
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    cf_triplets t;
    triplets_make(&t, DN_USERS * DN_ITEMS);
    for (int u = 0; u < DN_USERS; u++)
        for (int i = 0; i < DN_ITEMS; i++) {
            t.u[t.n] = (uint32_t)u, t.i[t.n] = (uint32_t)i;
            t.r[t.n] = (float)(1 + cf_rng_below(&rng, 5));
            t.n++;
        }
    t.cap = t.n;
    cr_assert_eq(cf_ratings_build(&t, DN_USERS, DN_ITEMS, R, NULL), CF_OK);
    cf_triplets_free(&t);
}

/* `epochs` SGD epochs on the GPU opened with tuning t (every block co-resident under the
 * simulation when co_resident); the factors (caller frees) and the run's stats. */
static void epochs_tuned(const cf_ratings *R, const cf_config *c, const cf_factors *init, const cf_gpu_tuning *t,
                         int epochs, int co_resident, cf_factors *out, cf_gpu_stats *st) {
    cf_backend *b = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_gpu_open_tuned(R, NULL, c, init, t, &b, &err), CF_OK, "%s", err.msg);
    gpu_test_co_resident(co_resident);
    cf_status s = CF_OK;
    int e = 0;
    for (; e < epochs && s == CF_OK; e++) s = cf_gpu_backend()->sgd_epoch(b, e, c->lr, &err);
    gpu_test_co_resident(0);
    cr_assert_eq(s, CF_OK, "epoch %d: %s", e - 1, err.msg);
    cf_gpu_stats_get(b, st);
    cr_assert_eq(cf_factors_alloc(out, init->n_users, init->n_items, init->k, init->bias, NULL), CF_OK);
    cr_assert_eq(cf_gpu_backend()->download(b, out, &err), CF_OK, "%s", err.msg);
    cf_gpu_backend()->close(b);
}

/* `epochs` GPU epochs with the ring depth `prefetch` (and one hogwild warp); *ran = the
 * depth the kernels ran. */
static void run_depth(const cf_ratings *R, const cf_config *c, const cf_factors *init, int epochs, int prefetch,
                      cf_factors *out, int *ran) {
    cf_gpu_tuning t;
    cf_gpu_tuning_default(&t);
    t.sgd_prefetch = prefetch;
    t.sgd_rows_per_warp = 1 << 20; /* hogwild: one warp, applying the list in order */
    cf_gpu_stats st;
    epochs_tuned(R, c, init, &t, epochs, 0, out, &st);
    *ran = st.sgd_prefetch;
}

static int same_factors(const cf_factors *a, const cf_factors *b) {
    return !memcmp(a->P, b->P, sizeof(double) * (size_t)(a->n_users * a->k)) &&
           !memcmp(a->Q, b->Q, sizeof(double) * (size_t)(a->n_items * a->k)) &&
           (!a->bias || (!memcmp(a->bu, b->bu, sizeof(double) * (size_t)a->n_users) &&
                         !memcmp(a->bi, b->bi, sizeof(double) * (size_t)a->n_items)));
}

/* K picks the register shape: 32 (1 float a lane), 64 (2), 128 (4), 256 (fp32 4 × 2 and
 * fp16 8 × 1: a ring of at most 4). */
static void depths_agree(int K, cf_sgd_schedule sched, cf_precision prec) {
    REQUIRE_GPU();
    cf_ratings R;
    dense_make(&R, 31);
    cf_config c = sgd_config(K, sched, 1); /* blocks: one block, the whole set by item */
    c.precision = prec;
    cf_factors init, f[3];
    init_factors(&init, &R, &c, 12);
    const int want[3] = {1, 4, 8};
    int ran[3];
    for (int d = 0; d < 3; d++) run_depth(&R, &c, &init, 2, want[d], &f[d], &ran[d]);
    const int cap = K == 256 ? 4 : 8;
    cr_assert_eq(ran[0], 1);
    cr_assert_eq(ran[1], 4);
    cr_assert_eq(ran[2], cap);
    cr_assert(same_factors(&f[0], &f[1]), "K=%d %s %s: depth 4 differs from depth 1", K, sched == CF_SCHED_BLOCKS ? "blocks" : "hogwild",
              cf_precision_name(prec));
    cr_assert(same_factors(&f[0], &f[2]), "K=%d %s %s: depth %d differs from depth 1", K, sched == CF_SCHED_BLOCKS ? "blocks" : "hogwild",
              cf_precision_name(prec), cap);
    cr_assert(!same_factors(&f[0], &init), "the epochs moved the factors");
    if (sched == CF_SCHED_BLOCKS && prec == CF_PRECISION_FP32) { /* and the order is the CPU's */
        cf_factors cpu;
        c.threads = 1;
        run_epochs(&cf_cpu_backend, &R, NULL, &c, &init, 2, &cpu, NULL);
        char what[64];
        snprintf(what, sizeof what, "dense blocks K=%d depth %d", K, cap);
        double worst = compare(&f[2], &cpu, 1e-5, 1e-6, what);
        cr_assert_leq(worst, 1.0, "%s: worst ratio %g", what, worst);
        cf_factors_free(&cpu);
    }
    for (int d = 0; d < 3; d++) cf_factors_free(&f[d]);
    cf_factors_free(&init);
    cf_ratings_free(&R);
}

Test(gpu_sgd, ring_depths_agree_blocks_K32) { depths_agree(32, CF_SCHED_BLOCKS, CF_PRECISION_FP32); }
Test(gpu_sgd, ring_depths_agree_blocks_K64) { depths_agree(64, CF_SCHED_BLOCKS, CF_PRECISION_FP32); }
Test(gpu_sgd, ring_depths_agree_blocks_K128) { depths_agree(128, CF_SCHED_BLOCKS, CF_PRECISION_FP32); }
Test(gpu_sgd, ring_depths_agree_blocks_K256) { depths_agree(256, CF_SCHED_BLOCKS, CF_PRECISION_FP32); }
Test(gpu_sgd, ring_depths_agree_blocks_K128_fp16) { depths_agree(128, CF_SCHED_BLOCKS, CF_PRECISION_FP16); }
Test(gpu_sgd, ring_depths_agree_blocks_K256_fp16) { depths_agree(256, CF_SCHED_BLOCKS, CF_PRECISION_FP16); }
Test(gpu_sgd, ring_depths_agree_hogwild_K32) { depths_agree(32, CF_SCHED_HOGWILD, CF_PRECISION_FP32); }
Test(gpu_sgd, ring_depths_agree_hogwild_K128_fp16) { depths_agree(128, CF_SCHED_HOGWILD, CF_PRECISION_FP16); }

/* blocks with fewer blocks than the device has SMs (the CPU's default B = 8 on an H200's
 * 132): a notice names the flag; none once B reaches the SM count. */
Test(gpu_sgd, small_blocks_grid_gets_a_notice) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 24);
    cf_config c = sgd_config(16, CF_SCHED_BLOCKS, 2);
    cf_factors init;
    init_factors(&init, &fx.R, &c, 3);
    cf_backend *b = open_gpu(&fx, &c, &init);
    cf_gpu_stats st;
    cf_gpu_stats_get(b, &st);
    const char *note = cf_gpu_backend()->notice(b);
    cr_log_info("B = 2 on %d SMs: %s", st.sm_count, note);
    if (st.sm_count > 2)
        cr_assert(strstr(note, "--schedule blocks --blocks 2 runs 2 warps at a time") != NULL, "%s", note);
    cf_gpu_backend()->close(b);
    c.blocks = st.sm_count < FX_ITEMS ? st.sm_count : FX_ITEMS;
    b = open_gpu(&fx, &c, &init);
    cr_assert_str_empty(cf_gpu_backend()->notice(b), "B = %d: %s", c.blocks, cf_gpu_backend()->notice(b));
    cf_gpu_backend()->close(b);
    cf_factors_free(&init);
    fixture_free(&fx);
}

/* The depths the kernels are built for, by register shape (the host's table). */
Test(host_sgd, ring_depth_by_shape) {
    cr_assert_eq(cf_sgd_depth(128, 128, 0, 0), 1);
    cr_assert_eq(cf_sgd_depth(128, 128, 0, 3), 4);
    cr_assert_eq(cf_sgd_depth(128, 128, 0, 8), 8);
    cr_assert_eq(cf_sgd_depth(128, 128, 0, 100), 8);
    cr_assert_eq(cf_sgd_depth(256, 256, 0, 8), 4, "fp32 K=256: 4 × 2 floats a lane, a ring of 4");
    cr_assert_eq(cf_sgd_depth(256, 256, 1, 8), 4, "fp16 K=256: 8 halves a lane, a ring of 4");
    cr_assert_eq(cf_sgd_depth(300, 300, 0, 8), 0, "K = 300: the memory path, no ring");
    cr_assert_eq(cf_sgd_depth(7, 7, 1, 4), 4);
}

static void hogwild_vs_cpu(int K, cf_precision prec, double *gpu_rmse) {
    fixture fx;
    fixture_make(&fx, 23);
    cf_config c = sgd_config(K, CF_SCHED_HOGWILD, 8);
    c.precision = prec;
    cf_factors init, g, cpu;
    double rg, rc;
    init_factors(&init, &fx.R, &c, 10);
    gpu_test_co_resident(1); /* the simulation: all warps at once, racing as on a GPU */
    run_epochs(cf_gpu_backend(), &fx.R, &fx.test, &c, &init, 20, &g, &rg);
    gpu_test_co_resident(0);
    c.precision = CF_PRECISION_FP32;
    run_epochs(&cf_cpu_backend, &fx.R, &fx.test, &c, &init, 20, &cpu, &rc);
    cr_log_info("hogwild K=%d %s: test RMSE gpu %.5f cpu (shuffle) %.5f, relative %.3g", K,
                cf_precision_name(prec), rg, rc, fabs(rg - rc) / rc);
    cr_assert_leq(fabs(rg - rc), 0.005 * rc, "gpu %g cpu %g", rg, rc);
    cr_assert_lt(rc, 0.9, "the CPU run learned something (planted σ = 0.3): %g", rc);
    *gpu_rmse = rg;
    cf_factors_free(&init), cf_factors_free(&g), cf_factors_free(&cpu);
    fixture_free(&fx);
}

/* The hogwild launch the backend chose for the fixture: bounded by its ratings (≈ 6,000
 * training ratings / CF_HOGWILD_RATINGS_PER_WARP) and its rows (200 items /
 * CF_HOGWILD_ROWS_PER_WARP), not by the device, which holds many more warps (the bounds
 * are what keep racing updates rare on small data; the RMSE tests below run the launch
 * with all its blocks co-resident under the simulation, as on hardware). */
Test(gpu_sgd, hogwild_launch_is_bounded_by_the_ratings_and_rows) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 23);
    cf_config c = sgd_config(32, CF_SCHED_HOGWILD, 8);
    cf_factors init;
    init_factors(&init, &fx.R, &c, 10);
    cf_error err = {0};
    cf_backend *b = open_gpu(&fx, &c, &init);
    cr_assert_eq(cf_gpu_backend()->sgd_epoch(b, 0, c.lr, &err), CF_OK, "%s", err.msg);
    cf_gpu_stats st;
    cf_gpu_stats_get(b, &st);
    const int64_t resident = cf_sgd_resident_warps(32, 0, CF_SGD_DEPTH_HOGWILD, CF_SGD_ITEM_DEFAULT == CF_SGD_ITEM_ADD);
    cr_log_info("hogwild on %lld × %lld, %lld ratings: %lld warps of runs of %lld (device: %lld resident)",
                (long long)fx.R.n_users, (long long)fx.R.n_items, (long long)fx.R.nnz,
                (long long)st.sgd_hogwild_warps, (long long)st.sgd_hogwild_run, (long long)resident);
    cr_assert_gt(resident, FX_ITEMS / CF_HOGWILD_ROWS_PER_WARP, "the device alone would allow more");
    const int64_t by_ratings = fx.R.nnz / CF_HOGWILD_RATINGS_PER_WARP;
    cr_assert_lt(by_ratings, FX_ITEMS / CF_HOGWILD_ROWS_PER_WARP, "the fixture's ratings bind before its rows");
    cr_assert_eq(st.sgd_hogwild_warps, by_ratings);
    cr_assert_eq(st.sgd_hogwild_run, fx.R.nnz / (8 * by_ratings) / 32 * 32, "nnz / (8 × warps), rounded to 32");
    cr_assert_eq(st.sgd_runs, CF_SGD_RUNS_USERS, "small data: runs of whole users by default");
    cr_assert_eq(cf_gpu_sgd_runs_for(CF_SGD_WHOLE_USERS_MAX_NNZ), CF_SGD_RUNS_USERS);
    cr_assert_eq(cf_gpu_sgd_runs_for(CF_SGD_WHOLE_USERS_MAX_NNZ + 1), CF_SGD_RUNS_FIXED);
    cf_gpu_backend()->close(b);
    cf_factors_free(&init);
    fixture_free(&fx);
}

/* bench_sgd's L2 ceiling runs (a positive figure) and refuses bad arguments. */
Test(gpu_sgd, l2_ceiling_hook) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 23);
    cf_config c = sgd_config(8, CF_SCHED_HOGWILD, 8);
    cf_factors init;
    init_factors(&init, &fx.R, &c, 10);
    cf_error err = {0};
    cf_backend *b = open_gpu(&fx, &c, &init);
    double g = -1;
    cr_assert_eq(cf_gpu_l2_bandwidth(b, 64 << 10, 2, &g, &err), CF_OK, "%s", err.msg);
    cr_assert_gt(g, 0.0);
    cr_assert_eq(cf_gpu_l2_bandwidth(b, 8, 2, &g, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_gpu_l2_bandwidth(b, 64 << 10, 0, &g, &err), CF_ERR_INVALID);
    cf_gpu_backend()->close(b);
    cf_factors_free(&init);
    fixture_free(&fx);
}

Test(gpu_sgd, hogwild_within_half_percent_of_cpu_K32) {
    REQUIRE_GPU();
    double r;
    hogwild_vs_cpu(32, CF_PRECISION_FP32, &r);
}

Test(gpu_sgd, fp16_within_one_percent_of_fp32_K128) {
    REQUIRE_GPU();
    double r32, r16;
    hogwild_vs_cpu(128, CF_PRECISION_FP32, &r32);
    hogwild_vs_cpu(128, CF_PRECISION_FP16, &r16);
    cr_log_info("fp16 %.5f vs fp32 %.5f test RMSE", r16, r32);
    cr_assert_leq(fabs(r16 - r32), 0.01 * r32);
}

/* ------------------------------------------------------------------ hogwild's item writes
 * A set where warps race on the same items all the time: 2,048 users each rate item 0 and
 * 31 of items 1–63 (65,536 ratings: item 0 holds 3 % of them, the others ≈ 1.5 % each),
 * every rating 5, read from μ = 3.5 and zero biases, so every e starts near +1.5. */
#define HOT_USERS 2048
#define HOT_ITEMS 64
#define HOT_PER_USER 32

static void hot_make(cf_ratings *R, uint64_t seed) {
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    cf_triplets t;
    triplets_make(&t, (int64_t)HOT_USERS * HOT_PER_USER);
    uint32_t pool[HOT_ITEMS - 1];
    for (int u = 0; u < HOT_USERS; u++) {
        for (int j = 0; j < HOT_ITEMS - 1; j++) pool[j] = (uint32_t)(j + 1);
        for (int j = 0; j < HOT_PER_USER; j++) { /* item 0, then 31 distinct others (partial shuffle) */
            uint32_t i = 0;
            if (j > 0) {
                const int at = j - 1 + (int)cf_rng_below(&rng, (uint64_t)(HOT_ITEMS - j));
                i = pool[at], pool[at] = pool[j - 1], pool[j - 1] = i;
            }
            t.u[t.n] = (uint32_t)u, t.i[t.n] = i, t.r[t.n] = 5.0f;
            t.n++;
        }
    }
    t.cap = t.n;
    cr_assert_eq(cf_ratings_build(&t, HOT_USERS, HOT_ITEMS, R, NULL), CF_OK);
    cf_triplets_free(&t);
}

/* One hogwild epoch with item writes `write` and runs `runs` (0: the defaults), every
 * block co-resident under the simulation, the ratings bounding the warps (one per 2,048);
 * the factors (caller frees) and the run's stats, which must say it ran that way. */
static void race_epoch(const cf_ratings *R, const cf_config *c, const cf_factors *init, int write, int runs,
                       cf_factors *out, cf_gpu_stats *gs) {
    cf_gpu_tuning t;
    cf_gpu_tuning_default(&t);
    t.sgd_rows_per_warp = 1;
    t.sgd_item_write = write, t.sgd_runs = runs;
    epochs_tuned(R, c, init, &t, 1, 1, out, gs);
    if (write) cr_assert_eq(gs->sgd_item_write, write);
    if (runs) cr_assert_eq(gs->sgd_runs, runs);
}

/* The start of the lost-update tests, on sets where every rating is 5: hogwild K = 8,
 * λ = 0, η = 1e-6 (an epoch is then linear to ≈ 0.2 %), μ = 3.5, zero biases and one
 * side's factors zero (`zero`), so every e starts at 1.5 and that side's change is
 * η Σ e·(1, z) over its ratings whatever their order. */
static void linear_start(const cf_ratings *R, cf_side zero, uint64_t seed, cf_config *c, cf_factors *init) {
    *c = sgd_config(8, CF_SCHED_HOGWILD, 8);
    c->lambda = 0.0, c->reg = CF_REG_PLAIN, c->lr = 1e-6;
    init_factors(init, R, c, seed);
    init->mu = 3.5;
    for (int64_t u = 0; u < init->n_users; u++) init->bu[u] = 0.0;
    for (int64_t i = 0; i < init->n_items; i++) init->bi[i] = 0.0;
    if (zero == CF_SIDE_ITEMS)
        memset(init->Q, 0, sizeof(double) * (size_t)(init->n_items * init->k));
    else
        memset(init->P, 0, sizeof(double) * (size_t)(init->n_users * init->k));
}

/* Worst relative difference over the rows of one side of the epoch's change of their bias
 * (bias 1) or factor row (2-norm), GPU against CPU. */
static double change_error(const cf_factors *g, const cf_factors *cpu, const cf_factors *init, cf_side side,
                           int bias) {
    const int items = side == CF_SIDE_ITEMS;
    const int64_t rows = items ? init->n_items : init->n_users;
    const double *G = items ? g->Q : g->P, *C = items ? cpu->Q : cpu->P, *I0 = items ? init->Q : init->P;
    const double *gb = items ? g->bi : g->bu, *cb = items ? cpu->bi : cpu->bu, *ib = items ? init->bi : init->bu;
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        double num = 0, den = 0;
        if (bias) {
            num = fabs((gb[r] - ib[r]) - (cb[r] - ib[r])), den = fabs(cb[r] - ib[r]);
        } else {
            for (int k = 0; k < init->k; k++) {
                const double dg = G[r * init->k + k] - I0[r * init->k + k], dc = C[r * init->k + k] - I0[r * init->k + k];
                num += (dg - dc) * (dg - dc), den += dc * dc;
            }
            num = sqrt(num), den = sqrt(den);
        }
        worst = fmax(worst, num / den);
    }
    return worst;
}

/* One co-resident hogwild epoch on R from linear_start (side `side` from zero factors)
 * with each of the tunings {item write, runs} `good` and `bad`: with `good`, every row of `side` changes as the CPU's one-at-a-time epoch makes it
 * change, to 1 % (bias and factor row); `bad` is logged beside it. `warps`: the warps the
 * launch must have (the race the set is built for). */
static void no_update_lost(const cf_ratings *R, cf_side side, uint64_t seed, const int good[2], const int bad[2],
                           int64_t warps, const char *good_what, const char *bad_what) {
    cf_config c;
    cf_factors init, g, w, cpu;
    linear_start(R, side, seed, &c, &init);
    cf_gpu_stats gs, ws;
    race_epoch(R, &c, &init, good[0], good[1], &g, &gs);
    race_epoch(R, &c, &init, bad[0], bad[1], &w, &ws);
    cr_assert_eq(gs.sgd_hogwild_warps, warps, "the ratings bound the warps: %lld", (long long)gs.sgd_hogwild_warps);
    c.threads = 1;
    run_epochs(&cf_cpu_backend, R, NULL, &c, &init, 1, &cpu, NULL);
    const double gb = change_error(&g, &cpu, &init, side, 1), gr = change_error(&g, &cpu, &init, side, 0);
    const double wb = change_error(&w, &cpu, &init, side, 1), wr = change_error(&w, &cpu, &init, side, 0);
    cr_log_info("%s, %lld warps racing, one epoch: off the CPU's by %.3g (bias) %.3g (row), %s %.3g and %.3g",
                good_what, (long long)warps, gb, gr, bad_what, wb, wr);
    const double moved = side == CF_SIDE_ITEMS ? cpu.bi[0] - init.bi[0] : cpu.bu[0] - init.bu[0];
    cr_assert_gt(moved, 0.002, "the epoch moved row 0's bias: %g", moved);
    cr_assert_leq(gb, 0.01, "%s: a bias change is off the CPU's by %g", good_what, gb);
    cr_assert_leq(gr, 0.01, "%s: a factor change is off the CPU's by %g", good_what, gr);
    cf_factors_free(&init), cf_factors_free(&g), cf_factors_free(&w), cf_factors_free(&cpu);
}

/* With item writes as atomic adds no warp's update of an item is lost: on the hot set, with
 * 32 warps racing, every item's change over one epoch (its bias, its factor row) is the
 * CPU's (one rating at a time, in its shuffle order) to 1 %. From Q = 0 at η = 1e-6 the
 * epoch is linear to ≈ 0.2 %: the change is η Σ e·z over the item's ratings whatever
 * their order, up to the drift of e within the epoch (item 0's bias moves by
 * η·2,048·1.5 ≈ 0.003, 0.2 % of e; the row's change, a sum of terms of either sign, sees
 * about that) and the staleness of e on the GPU (≈ warps·η·n_user, far less). Under the
 * simulation adds agree to 2e-6 (bias) and 0.07 % (row); stores, which lose the updates
 * other warps made between a warp's read and its write, are 60 % and 143 % off (logged,
 * not asserted: how many are lost is the interleaving's). */
Test(gpu_sgd, hogwild_item_adds_lose_no_update) {
    REQUIRE_GPU();
    cf_ratings R;
    hot_make(&R, 41);
    const int good[2] = {CF_SGD_ITEM_ADD, 0}, bad[2] = {CF_SGD_ITEM_STORE, 0};
    no_update_lost(&R, CF_SIDE_ITEMS, 14, good, bad, 32, "hot set: item change with adds", "with stores");
    cf_ratings_free(&R);
}

/* Heavy users: 16 users rate 2,048 of 4,096 items each, and 512 light users 16 each
 * (40,960 ratings, every rating 5): 20 warps (the ratings bound), runs of 256, so each heavy
 * user spans 8 of the 160 runs and about one other run of the user is in flight whenever
 * one is. With fixed runs each warp holds the user's row for its run and stores it at the
 * end, undoing the other run's updates; with whole users a user's row is one warp's: the
 * heavy ones (more than 256 ratings: cf_hogwild_heavy_min) each alone, first, the light
 * ones by the runs they start in. One epoch from P = 0 at η = 1e-6 (e = 1.5 at the start;
 * the change of b_u and p_u is η Σ e·(1, q_i) over the user's ratings to ≈ 0.2 %, as in
 * hogwild_item_adds_lose_no_update): whole users agree with the CPU to 1 %, which also
 * says every rating was applied once (one of a light user's 16 more or less is 6 %). */
Test(gpu_sgd, hogwild_whole_users_lose_no_user_update) {
    REQUIRE_GPU();
    enum { U = 16, I = 4096, PER = 2048, LIGHT = 512, LIGHT_PER = 16 };
    cf_rng rng;
    cf_rng_seed(&rng, 43);
    cf_triplets t;
    triplets_make(&t, (int64_t)U * PER + (int64_t)LIGHT * LIGHT_PER);
    uint32_t *pool = malloc(sizeof(uint32_t) * I);
    cr_assert_not_null(pool);
    for (int u = 0; u < U + LIGHT; u++) { /* heavy: u = 0, 33, ..., 495 */
        const int heavy = u % 33 == 0, per = heavy ? PER : LIGHT_PER;
        for (int j = 0; j < I; j++) pool[j] = (uint32_t)j;
        for (int j = 0; j < per; j++) { /* per distinct items (partial shuffle) */
            const int at = j + (int)cf_rng_below(&rng, (uint64_t)(I - j));
            const uint32_t i = pool[at];
            pool[at] = pool[j], pool[j] = i;
            t.u[t.n] = (uint32_t)u, t.i[t.n] = i, t.r[t.n] = 5.0f;
            t.n++;
        }
    }
    free(pool);
    t.cap = t.n;
    cf_ratings R;
    cr_assert_eq(cf_ratings_build(&t, U + LIGHT, I, &R, NULL), CF_OK);
    cf_triplets_free(&t);
    const int good[2] = {0, CF_SGD_RUNS_USERS}, bad[2] = {0, CF_SGD_RUNS_FIXED};
    no_update_lost(&R, CF_SIDE_USERS, 16, good, bad, 20, "16 heavy users among 528: user change with whole users",
                   "with fixed runs");
    cf_ratings_free(&R);
}

/* With one warp nothing races: adds and stores write the same rows up to the rounding of
 * q_read + (q − q_read) (exact where the two are within a factor of 2, as nearly all
 * are), so two epochs of each agree to 1e-6 of the largest value (fp32: bit for bit under
 * the simulation) or a half's rounding,
 * 2e-3 (fp16 K = 128, the 8-halves reductions: 4e-3 at worst on one value, ratio 0.02). */
static void adds_equal_stores_one_warp(int K, cf_precision prec, double rtol) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 29);
    cf_config c = sgd_config(K, CF_SCHED_HOGWILD, 8);
    c.precision = prec;
    cf_factors init, f[2];
    init_factors(&init, &fx.R, &c, 15);
    for (int m = 0; m < 2; m++) {
        cf_gpu_tuning t;
        cf_gpu_tuning_default(&t);
        t.sgd_rows_per_warp = 1 << 20; /* one warp */
        t.sgd_item_write = m ? CF_SGD_ITEM_ADD : CF_SGD_ITEM_STORE;
        cf_gpu_stats st;
        epochs_tuned(&fx.R, &c, &init, &t, 2, 0, &f[m], &st);
        cr_assert_eq(st.sgd_item_write, t.sgd_item_write);
    }
    char what[64];
    snprintf(what, sizeof what, "one warp K=%d %s: adds vs stores", K, cf_precision_name(prec));
    const double worst = compare(&f[1], &f[0], rtol, rtol, what);
    cr_assert_leq(worst, 1.0, "%s: worst ratio %g", what, worst);
    cr_assert(!same_factors(&f[1], &init), "the epochs moved the factors");
    cf_factors_free(&init), cf_factors_free(&f[0]), cf_factors_free(&f[1]);
    fixture_free(&fx);
}
Test(gpu_sgd, adds_equal_stores_one_warp_K32) { adds_equal_stores_one_warp(32, CF_PRECISION_FP32, 1e-6); }
Test(gpu_sgd, adds_equal_stores_one_warp_K128_fp16) { adds_equal_stores_one_warp(128, CF_PRECISION_FP16, 2e-3); }
/* fp16 with one half a lane: K and ld even pair the lanes into __half2 reductions (K = 32,
 * 18 with lanes 18–31 idle, and 300 on the memory path, its last 12 lanes idle on the
 * last pass); K = 17 takes the scalar half adds. The same rounding either
 * way (each half rounded once), so the same tolerance as K = 128. */
Test(gpu_sgd, adds_equal_stores_one_warp_K32_fp16_paired) { adds_equal_stores_one_warp(32, CF_PRECISION_FP16, 2e-3); }
Test(gpu_sgd, adds_equal_stores_one_warp_K18_fp16_paired) { adds_equal_stores_one_warp(18, CF_PRECISION_FP16, 2e-3); }
Test(gpu_sgd, adds_equal_stores_one_warp_K17_fp16_scalar) { adds_equal_stores_one_warp(17, CF_PRECISION_FP16, 2e-3); }
/* the memory path (K beyond the register shapes) pairs its lanes the same way */
Test(gpu_sgd, adds_equal_stores_one_warp_K300_fp16_from_memory) {
    adds_equal_stores_one_warp(300, CF_PRECISION_FP16, 2e-3);
}
Test(gpu_sgd, adds_equal_stores_one_warp_K300_from_memory) {
    adds_equal_stores_one_warp(300, CF_PRECISION_FP32, 1e-6);
}

Test(gpu_sgd, item_write_mode_is_checked) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 23);
    cf_config c = sgd_config(8, CF_SCHED_HOGWILD, 8);
    cf_factors init;
    init_factors(&init, &fx.R, &c, 10);
    cf_gpu_tuning t;
    cf_gpu_tuning_default(&t);
    t.sgd_item_write = 7;
    cf_backend *b = NULL;
    cf_error err = {0};
    cf_status st = cf_gpu_open_tuned(&fx.R, NULL, &c, &init, &t, &b, &err);
    if (st == CF_OK) st = cf_gpu_backend()->sgd_epoch(b, 0, c.lr, &err);
    cr_assert_eq(st, CF_ERR_INVALID, "%s", err.msg);
    cr_assert(strstr(err.msg, "item write mode 7"), "%s", err.msg);
    if (b) cf_gpu_backend()->close(b);
    t.sgd_item_write = 0, t.sgd_runs = 9;
    b = NULL;
    st = cf_gpu_open_tuned(&fx.R, NULL, &c, &init, &t, &b, &err);
    if (st == CF_OK) st = cf_gpu_backend()->sgd_epoch(b, 0, c.lr, &err);
    cr_assert_eq(st, CF_ERR_INVALID, "%s", err.msg);
    cr_assert(strstr(err.msg, "runs mode 9"), "%s", err.msg);
    if (b) cf_gpu_backend()->close(b);
    t.sgd_runs = 0;
    /* blocks ignores it: its blocks' rows are disjoint, it always stores */
    c.schedule = CF_SCHED_BLOCKS;
    t.sgd_item_write = CF_SGD_ITEM_ADD;
    b = NULL;
    cr_assert_eq(cf_gpu_open_tuned(&fx.R, NULL, &c, &init, &t, &b, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_gpu_backend()->sgd_epoch(b, 0, c.lr, &err), CF_OK, "%s", err.msg);
    cf_gpu_stats gs;
    cf_gpu_stats_get(b, &gs);
    cr_assert_eq(gs.sgd_item_write, CF_SGD_ITEM_STORE);
    cf_gpu_backend()->close(b);
    cf_factors_free(&init);
    fixture_free(&fx);
}

Test(gpu_sgd, divergence_names_epoch_and_row) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 24);
    cf_config c = sgd_config(16, CF_SCHED_BLOCKS, 2);
    c.lr = 50.0;
    cf_factors init;
    init_factors(&init, &fx.R, &c, 11);
    cf_error err = {0};
    cf_backend *b = open_gpu(&fx, &c, &init);
    cf_status st = CF_OK;
    int e;
    for (e = 0; e < 20 && st == CF_OK; e++) st = cf_gpu_backend()->sgd_epoch(b, e, c.lr, &err);
    cr_assert_eq(st, CF_ERR_NUMERIC, "lr 50 diverges: %s", err.msg);
    cr_assert(strstr(err.msg, "sgd: non-finite value at epoch") && strstr(err.msg, "row"), "%s", err.msg);
    cr_assert(strstr(err.msg, "--lr"), "%s", err.msg);
    cf_gpu_backend()->close(b);
    cf_factors_free(&init);
    fixture_free(&fx);
}

/* The NaN guard's kernel (launch_first_nonfinite, rows.cu) against the plain scan: the
 * least row with a non-finite factor among columns 0..K−1 (the padding up to ld is not
 * looked at) and, with biases, the least with a non-finite bias; INT64_MAX for none. 10,000
 * rows, more than the launch's 4,096 warps, so warps loop; K = 1, 33 (a lane takes two
 * columns, most lanes one), 128; the bad values NaN, +inf and −inf, the first of them late
 * in a row and placed after a later bad row in the warps' order. */
Test(gpu_sgd, nan_guard_finds_the_first_bad_row) {
    REQUIRE_GPU();
    enum { ROWS = 10000 };
    const int ks[] = {1, 33, 128};
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
        const int k = ks[ki], ld = (k + 3) / 4 * 4;
        float *F = malloc(sizeof(float) * (size_t)ROWS * (size_t)ld), *b = malloc(sizeof(float) * ROWS);
        cr_assert(F && b);
        float *dF = NULL, *db = NULL;
        int64_t *dp = NULL, part[2 * CF_REDUCE_BLOCKS];
        cr_assert_eq(cudaMalloc((void **)&dF, sizeof(float) * (size_t)ROWS * (size_t)ld), cudaSuccess);
        cr_assert_eq(cudaMalloc((void **)&db, sizeof(float) * ROWS), cudaSuccess);
        cr_assert_eq(cudaMalloc((void **)&dp, sizeof part), cudaSuccess);
        for (int plant = 0; plant < 3; plant++) {
            for (int64_t r = 0; r < ROWS; r++) {
                for (int c = 0; c < ld; c++) F[r * ld + c] = c < k ? 0.01f * (float)((r + c) % 97) : NAN; /* padding */
                b[r] = 0.5f;
            }
            if (plant >= 1) { /* factors: rows 9,999 (−inf), 7,001 (+inf at its last column), 4,200 (NaN) */
                F[9999 * ld + 0] = -INFINITY, F[7001 * ld + k - 1] = INFINITY;
                if (plant == 2) F[4200 * ld + k / 2] = NAN, b[8000] = NAN, b[5003] = INFINITY;
            }
            int64_t want_f = INT64_MAX, want_b = INT64_MAX; /* the CPU's scan */
            for (int64_t r = ROWS - 1; r >= 0; r--) {
                for (int c = 0; c < k; c++)
                    if (!isfinite(F[r * ld + c])) want_f = r;
                if (!isfinite(b[r])) want_b = r;
            }
            cr_assert_eq(cudaMemcpy(dF, F, sizeof(float) * (size_t)ROWS * (size_t)ld, cudaMemcpyHostToDevice), cudaSuccess);
            cr_assert_eq(cudaMemcpy(db, b, sizeof(float) * ROWS, cudaMemcpyHostToDevice), cudaSuccess);
            for (int use_bias = 0; use_bias < 2; use_bias++) {
                cr_assert_eq(launch_first_nonfinite(dF, db, ROWS, k, ld, use_bias, dp, NULL), 0);
                cr_assert_eq(cudaMemcpy(part, dp, sizeof part, cudaMemcpyDeviceToHost), cudaSuccess);
                int64_t got_f = INT64_MAX, got_b = INT64_MAX;
                for (int j = 0; j < CF_REDUCE_BLOCKS; j++) {
                    if (part[j] < got_f) got_f = part[j];
                    if (part[CF_REDUCE_BLOCKS + j] < got_b) got_b = part[CF_REDUCE_BLOCKS + j];
                }
                cr_assert_eq(got_f, want_f, "K=%d plant %d: factor row %lld, the CPU's %lld", k, plant, (long long)got_f,
                             (long long)want_f);
                cr_assert_eq(got_b, use_bias ? want_b : INT64_MAX, "K=%d plant %d bias %d: bias row %lld", k, plant,
                             use_bias, (long long)got_b);
            }
        }
        cudaFree(dF), cudaFree(db), cudaFree(dp);
        free(F), free(b);
    }
}

static void gd_vs_cpu_on(const cf_ratings *R, const cf_triplets *test, cf_algo algo, cf_optimizer opt, int epochs,
                         double rtol, int K, int bias, int64_t batch) {
    cf_config c = sgd_config(K, CF_SCHED_SHUFFLE, 8);
    c.algo = algo, c.optimizer = opt, c.lr = opt == CF_OPT_ADAM ? 0.01 : 0.002, c.batch = batch;
    c.bias = bias;
    cf_factors init, g, cpu;
    init_factors(&init, R, &c, 12);
    run_epochs(cf_gpu_backend(), R, test, &c, &init, epochs, &g, NULL);
    run_epochs(&cf_cpu_backend, R, test, &c, &init, epochs, &cpu, NULL);
    char what[160];
    snprintf(what, sizeof what, "%s %s K=%d bias=%d batch=%lld, %lld ratings, %d epoch(s)", cf_algo_name(algo),
             opt ? "adam" : "plain", K, bias, (long long)batch, (long long)R->nnz, epochs);
    double worst = compare(&g, &cpu, rtol, 1e-6, what);
    cr_assert_leq(worst, 1.0, "%s: worst ratio %g", what, worst);
    cf_factors_free(&init), cf_factors_free(&g), cf_factors_free(&cpu);
}

static void gd_vs_cpu_shape(cf_algo algo, cf_optimizer opt, int epochs, double rtol, int K, int bias,
                            int64_t batch) {
    REQUIRE_GPU();
    fixture fx;
    fixture_make(&fx, 25);
    gd_vs_cpu_on(&fx.R, &fx.test, algo, opt, epochs, rtol, K, bias, batch);
    fixture_free(&fx);
}

static void gd_vs_cpu(cf_algo algo, cf_optimizer opt, int epochs, double rtol) {
    gd_vs_cpu_shape(algo, opt, epochs, rtol, 33, 1, 500);
}

Test(gpu_gd, full_batch_step_equals_cpu) { gd_vs_cpu(CF_ALGO_GD, CF_OPT_PLAIN, 1, 1e-4); }
Test(gpu_gd, full_batch_adam_equals_cpu) { gd_vs_cpu(CF_ALGO_GD, CF_OPT_ADAM, 2, 1e-3); }
Test(gpu_gd, minibatch_equals_cpu) { gd_vs_cpu(CF_ALGO_MINIBATCH, CF_OPT_PLAIN, 2, 1e-3); }
/* the biases' gradient 2 Λb b with their own λ_b (25 plain beside 0.05 weighted), same
 * tolerances */
Test(gpu_gd, full_batch_step_bias_lambda_equals_cpu) {
    use_bias_lambda(25.0, CF_REG_PLAIN);
    gd_vs_cpu(CF_ALGO_GD, CF_OPT_PLAIN, 1, 1e-4);
}
Test(gpu_gd, full_batch_adam_bias_lambda_equals_cpu) {
    use_bias_lambda(25.0, CF_REG_PLAIN);
    gd_vs_cpu(CF_ALGO_GD, CF_OPT_ADAM, 2, 1e-3);
}
Test(gpu_gd, minibatch_bias_lambda_mean_equals_cpu) {
    use_bias_lambda(1e-4, CF_REG_MEAN);
    gd_vs_cpu(CF_ALGO_MINIBATCH, CF_OPT_PLAIN, 2, 1e-3);
}
/* d = K + bias = 1 (one dense column, row stride 4: cuSPARSE may route n = 1 to SpMV) and
 * batches of 97 ratings (batch slices start at 4-byte but not 16-byte boundaries). */
Test(gpu_gd, full_batch_K1_nobias_equals_cpu) { gd_vs_cpu_shape(CF_ALGO_GD, CF_OPT_PLAIN, 1, 1e-4, 1, 0, 500); }
Test(gpu_gd, minibatch_K1_nobias_batch97_equals_cpu) {
    gd_vs_cpu_shape(CF_ALGO_MINIBATCH, CF_OPT_PLAIN, 2, 1e-3, 1, 0, 97);
}
/* Past one bucket of the scatter permutation (≈ 90 k ratings: 2 buckets), with 20
 * batches (each sorted by item on its own) and with 928 (the item list gathered). */
Test(gpu_gd, minibatch_past_one_bucket_equals_cpu) {
    REQUIRE_GPU();
    cf_test_planted pl = {.n_users = 1200, .n_items = 300, .rank = 3, .density = 0.25, .sigma = 0.3, .mu = 3.5,
                          .bias = 1, .test_ratio = 0.02, .seed = 8};
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&pl, &R, &test);
    cr_assert_gt(R.nnz, CF_SCATTER_BUCKET, "%lld ratings", (long long)R.nnz);
    gd_vs_cpu_on(&R, &test, CF_ALGO_MINIBATCH, CF_OPT_PLAIN, 1, 1e-3, 8, 1, (R.nnz + 19) / 20);
    gd_vs_cpu_on(&R, &test, CF_ALGO_MINIBATCH, CF_OPT_PLAIN, 1, 1e-3, 8, 1, 97);
    cf_ratings_free(&R), cf_triplets_free(&test);
}

/* The trainer picks the GPU for SGD now, and a model comes out. */
Test(gpu_sgd, trainer_runs_sgd_on_the_gpu) {
    REQUIRE_GPU();
    cf_gen_options go;
    cf_gen_options_default(&go);
    go.users = 500, go.items = 300, go.ratings = 20000, go.rank = 4, go.noise = 0.3, go.seed = 3;
    cf_dataset *ds = NULL;
    cf_error err;
    cr_assert_eq(cf_generate(&go, &ds, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_split(ds, 0.1, 1, &err), CF_OK);
    cf_config c = sgd_config(32, CF_SCHED_HOGWILD, 8);
    c.device = CF_DEVICE_GPU, c.iters = 15, c.precision = CF_PRECISION_FP16;
    cf_model *m = NULL;
    cf_train_report rep;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert(strcmp(rep.device, "cpu") != 0, "%s", rep.device);
    cr_assert_lt(rep.test_rmse, 0.6, "planted σ = 0.3: %g", rep.test_rmse);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ checkpoints */

/* A training on the GPU stopped at an iteration boundary after 3 of 6 epochs (the stop
 * flag, as Ctrl-C raises it; the checkpoint written then, by the GPU backend) and resumed
 * there ends as the uninterrupted one (tests/helpers.c cf_test_resume_matches): the state
 * is the factors (fp32 on the device, exact in the checkpoint's doubles; with fp16 storage
 * the halves' values) and, for GD, Adam's step count and moments. `tol` 0: the same bits
 * (the blocks schedule is reproducible run to run); GD's SpMM is not documented
 * bit-reproducible on a GPU, and Adam divides by √v, which makes last-bit differences of
 * near-zero gradients steps of up to lr: there the factors must agree within 1 % of their
 * magnitude (under the CPU simulation they are the same bits anyway), and the checkpoint
 * must hold the step count and non-zero second moments. */
static void gpu_resume_case(cf_config c, double tol) {
    REQUIRE_GPU(); /* before the directory: a skip leaves none behind */
    char *dir = cf_test_tmpdir();
    cr_assert_not_null(dir);
    cf_dataset *ds = gpu_test_resume(dir, c, tol);
    if (c.optimizer == CF_OPT_ADAM) {
        char *path = cf_test_path(dir, "run.cfc");
        cf_error err;
        cf_train_state s;
        cr_assert_eq(cf_checkpoint_load(path, &s, &err), CF_OK, "%s", err.msg);
        /* one step an epoch (GD), one a mini-batch: as many in each of the 3 epochs */
        const int64_t t = s.solver.counter;
        cr_assert(c.algo == CF_ALGO_GD ? t == 3 : t > 3 && t % 3 == 0, "Adam steps %lld", (long long)t);
        cr_assert(s.solver.has_moments);
        double vsum = 0;
        for (int64_t k = 0; k < s.solver.v.n_items * s.solver.v.k; k++) vsum += s.solver.v.Q[k];
        cr_assert_gt(vsum, 0.0, "the second moments are all zero");
        cf_train_state_free(&s);
        free(path);
    }
    cf_dataset_destroy(&ds);
    cf_test_rmtree(dir);
    free(dir);
}

Test(gpu_train, checkpoint_resume_sgd_blocks_fp32) {
    cf_config c = sgd_config(8, CF_SCHED_BLOCKS, 4);
    c.lr_schedule = CF_LR_INVSCALE; /* the step depends on the epoch */
    gpu_resume_case(c, 0.0);
}

Test(gpu_train, checkpoint_resume_sgd_blocks_fp16) {
    cf_config c = sgd_config(8, CF_SCHED_BLOCKS, 4);
    c.precision = CF_PRECISION_FP16;
    gpu_resume_case(c, 0.0);
}

/* hogwild keeps no state beyond the factors either, but its epochs draw a new order from
 * (seed, epoch): a resume must draw epoch 4's, not epoch 1's again. Under the simulation
 * every launch's warp order is seeded, so the resumed run is the same bits; on a GPU
 * hogwild's races make two runs differ, so there the factors and figures must agree
 * within 2 % (a resume that restarted the epochs' orders or schedule misses it). */
Test(gpu_train, checkpoint_resume_sgd_hogwild) {
    cf_config c = sgd_config(8, CF_SCHED_HOGWILD, 8);
    c.lr_schedule = CF_LR_INVSCALE;
#ifdef CUFACTOR_GPU_SIM
    gpu_resume_case(c, 0.0);
#else
    gpu_resume_case(c, 2e-2);
#endif
}

Test(gpu_train, checkpoint_resume_gd_adam) {
    cf_config c;
    cf_config_default(&c);
    c.algo = CF_ALGO_GD, c.factors = 5, c.optimizer = CF_OPT_ADAM, c.lr = 0.01, c.lambda = 0.05;
    gpu_resume_case(c, 1e-2);
}

Test(gpu_train, checkpoint_resume_minibatch_adam) {
    cf_config c;
    cf_config_default(&c);
    c.algo = CF_ALGO_MINIBATCH, c.factors = 5, c.optimizer = CF_OPT_ADAM, c.lr = 0.01, c.lambda = 0.05,
    c.batch = 700;
    gpu_resume_case(c, 1e-2);
}

#else

Test(gpu_sgd, no_gpu_backend_without_cuda) {
    cr_assert_null(cf_gpu_backend());
    char why[128] = "";
    cr_assert_eq(cf_gpu_available(why, sizeof why), 0);
    cr_assert(strstr(why, "without CUDA"), "%s", why);
}

#endif
