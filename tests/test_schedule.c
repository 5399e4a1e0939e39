/* test_schedule.c — the seeded SGD orders of schedule.h: the `blocks` schedule's waves
 * are conflict-free, every rating is visited once per epoch, bands are balanced, and SGD
 * over it is reproducible (same seed and any thread count → identical factors; another
 * seed → another order); the `shuffle` order is a fresh permutation per epoch; the
 * host-side orders (blocks, its work list, the hogwild list, entries by item) are the
 * same bytes for 1, 2, 3 threads and the OpenMP default; the hogwild plan matches the
 * table that bench/hogwild_balance.py is checked against. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "common.h"
#include "cpu/cpu.h"
#include "helpers.h"
#include "schedule.h"
#include "sgd_work.h"

#include <omp.h>

static const cf_test_planted prob = {.n_users = 97, .n_items = 61, .rank = 3, .density = 0.3,
                                     .sigma = 0.1, .mu = 3.5, .test_ratio = 0.1, .bias = 1,
                                     .seed = 5};

/* The user of each CSR entry, from the row offsets. */
static uint32_t *users_of_entries(const cf_ratings *R) {
    uint32_t *eu = malloc((size_t)R->nnz * sizeof *eu);
    for (int64_t u = 0; u < R->n_users; u++)
        for (int64_t e = R->row_ptr[u]; e < R->row_ptr[u + 1]; e++) eu[e] = (uint32_t)u;
    return eu;
}

static void check_schedule(int32_t B) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_blocks s;
    cf_error err;
    cr_assert_eq(cf_blocks_build(&R, B, 42, &s, &err), CF_OK, "%s", err.msg);
    uint32_t *eu = users_of_entries(&R);

    /* bands: each holds ⌊n/B⌋ or ⌈n/B⌉ rows */
    int64_t *cnt = calloc((size_t)B, sizeof *cnt);
    for (int64_t u = 0; u < R.n_users; u++) cnt[s.user_band[u]]++;
    for (int32_t a = 0; a < B; a++)
        cr_assert(cnt[a] == R.n_users / B || cnt[a] == (R.n_users + B - 1) / B, "user band %d holds %lld", a,
                  (long long)cnt[a]);
    memset(cnt, 0, (size_t)B * sizeof *cnt);
    for (int64_t i = 0; i < R.n_items; i++) cnt[s.item_band[i]]++;
    for (int32_t c = 0; c < B; c++)
        cr_assert(cnt[c] == R.n_items / B || cnt[c] == (R.n_items + B - 1) / B, "item band %d holds %lld", c,
                  (long long)cnt[c]);
    free(cnt);

    /* every scheduled rating lies in its block and names its own user */
    for (int32_t a = 0; a < B; a++)
        for (int32_t c = 0; c < B; c++)
            for (int64_t t = s.block_ptr[a * B + c]; t < s.block_ptr[a * B + c + 1]; t++) {
                int64_t e = s.entry[t];
                cr_assert(e >= 0 && e < R.nnz);
                cr_assert_eq(s.user[t], eu[e]);
                cr_assert_eq(s.user_band[eu[e]], (uint32_t)a);
                cr_assert_eq(s.item_band[R.row_col[e]], (uint32_t)c);
            }

    int32_t *shift = malloc((size_t)B * sizeof *shift);
    int *visits = malloc((size_t)R.nnz * sizeof *visits);
    int *user_wave = malloc((size_t)R.n_users * sizeof *user_wave);
    int *item_wave = malloc((size_t)R.n_items * sizeof *item_wave);
    int *user_block = malloc((size_t)R.n_users * sizeof *user_block);
    int *item_block = malloc((size_t)R.n_items * sizeof *item_block);
    for (int32_t epoch = 0; epoch < 3; epoch++) {
        cf_blocks_epoch_shifts(&s, epoch, shift);
        memset(visits, 0, (size_t)R.nnz * sizeof *visits);
        for (int32_t w = 0; w < B; w++) {
            /* within a wave: no two blocks share a user band or an item band, and no user or
             * item is touched by two blocks */
            int *ub = calloc((size_t)B, sizeof *ub), *ib = calloc((size_t)B, sizeof *ib);
            for (int64_t u = 0; u < R.n_users; u++) user_wave[u] = -1;
            for (int64_t i = 0; i < R.n_items; i++) item_wave[i] = -1;
            for (int32_t a = 0; a < B; a++) {
                int64_t blk = cf_blocks_wave_block(&s, shift[w], a);
                int32_t row_band = (int32_t)(blk / B), col_band = (int32_t)(blk % B);
                cr_assert_eq(row_band, a);
                cr_assert_eq(ub[row_band]++, 0, "epoch %d wave %d: user band %d twice", epoch, w, row_band);
                cr_assert_eq(ib[col_band]++, 0, "epoch %d wave %d: item band %d twice", epoch, w, col_band);
                for (int64_t t = s.block_ptr[blk]; t < s.block_ptr[blk + 1]; t++) {
                    int64_t e = s.entry[t];
                    uint32_t u = s.user[t], i = R.row_col[e];
                    visits[e]++;
                    cr_assert(user_wave[u] < 0 || user_block[u] == a, "user %u in two blocks of a wave", u);
                    cr_assert(item_wave[i] < 0 || item_block[i] == a, "item %u in two blocks of a wave", i);
                    user_wave[u] = w, user_block[u] = a;
                    item_wave[i] = w, item_block[i] = a;
                }
            }
            free(ub), free(ib);
        }
        for (int64_t e = 0; e < R.nnz; e++)
            cr_assert_eq(visits[e], 1, "epoch %d: rating %lld visited %d times", epoch, (long long)e, visits[e]);
    }
    free(shift), free(visits), free(user_wave), free(item_wave), free(user_block), free(item_block);
    free(eu);
    cf_blocks_free(&s);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

Test(blocks, waves_are_conflict_free_and_cover_every_rating_B4) { check_schedule(4); }
Test(blocks, waves_are_conflict_free_and_cover_every_rating_B7) { check_schedule(7); }
Test(blocks, one_block_is_every_rating) { check_schedule(1); }
/* more bands than items: some blocks are empty, nothing breaks */
Test(blocks, more_bands_than_rows) { check_schedule(64); }

Test(blocks, wave_shifts_are_a_permutation_that_changes_with_the_epoch) {
    cf_blocks s = {.B = 8, .seed = 42};
    int32_t a[8], b[8];
    cf_blocks_epoch_shifts(&s, 0, a);
    cf_blocks_epoch_shifts(&s, 1, b);
    int seen[8] = {0};
    for (int w = 0; w < 8; w++) seen[a[w]]++;
    for (int w = 0; w < 8; w++) cr_assert_eq(seen[w], 1);
    cr_assert_neq(memcmp(a, b, sizeof a), 0, "epochs 0 and 1 have the same wave order");
}

/* The critical path: one block holds every rating; with B = 2 it is the larger block of
 * each of the two waves, checked against the blocks themselves. */
Test(blocks, chain_is_the_sum_of_each_waves_largest_block) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_blocks s;
    cr_assert_eq(cf_blocks_build(&R, 1, 3, &s, NULL), CF_OK);
    cr_assert_eq(cf_blocks_chain(&s), R.nnz);
    cf_blocks_free(&s);
    cr_assert_eq(cf_blocks_build(&R, 2, 3, &s, NULL), CF_OK);
    const int64_t *p = s.block_ptr; /* blocks (0,0) (0,1) (1,0) (1,1) */
    int64_t n00 = p[1] - p[0], n01 = p[2] - p[1], n10 = p[3] - p[2], n11 = p[4] - p[3];
    int64_t w0 = n00 > n11 ? n00 : n11, w1 = n01 > n10 ? n01 : n10; /* shift 0: (0,0), (1,1) */
    cr_assert_eq(cf_blocks_chain(&s), w0 + w1);
    cr_assert_lt(cf_blocks_chain(&s), R.nnz, "two blocks at once shorten the path");
    cf_blocks_free(&s);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* schedule.h step 2: inside a block the ratings are sorted by item, one item's ratings in
 * the order of that item's seeded list (its CSR entries in entry order, shuffled over
 * stream (BLOCK_ORDER, item)), rebuilt here from the definition. */
Test(blocks, within_a_block_by_item_then_in_the_seeded_order) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_blocks s;
    cr_assert_eq(cf_blocks_build(&R, 4, 42, &s, NULL), CF_OK);
    int64_t *pos = malloc((size_t)R.nnz * sizeof *pos), *list = malloc((size_t)R.nnz * sizeof *list);
    int64_t *perm = malloc((size_t)R.nnz * sizeof *perm);
    for (int64_t i = 0; i < R.n_items; i++) {
        int64_t m = 0;
        for (int64_t e = 0; e < R.nnz; e++)
            if (R.row_col[e] == (uint32_t)i) list[m++] = e;
        /* Fisher–Yates from the top on the list = the list taken in the order of the same
         * shuffle of 0..m−1 */
        cf_sched_permutation(perm, m, cf_sched_seed(42, CF_STREAM_BLOCK_ORDER, (uint64_t)i));
        for (int64_t j = 0; j < m; j++) pos[list[perm[j]]] = j;
    }
    int64_t runs = 0; /* consecutive ratings of one item: what the order is for */
    for (int64_t k = 0; k < 16; k++)
        for (int64_t t = s.block_ptr[k] + 1; t < s.block_ptr[k + 1]; t++) {
            int64_t e0 = s.entry[t - 1], e1 = s.entry[t];
            uint32_t i0 = R.row_col[e0], i1 = R.row_col[e1];
            cr_assert(i0 < i1 || (i0 == i1 && pos[e0] < pos[e1]), "block %lld position %lld: item %u (list %lld) after item %u (list %lld)",
                      (long long)k, (long long)t, i1, (long long)pos[e1], i0, (long long)pos[e0]);
            runs += i0 == i1;
        }
    cr_assert_gt(runs, R.nnz / 2, "most ratings follow one of the same item");
    free(list), free(perm), free(pos);
    cf_blocks_free(&s);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ------------------------------------------------------------------ thread counts */

/* A matrix large enough that every thread of a team gets a share of every pass. */
static const cf_test_planted big = {.n_users = 700, .n_items = 450, .rank = 3, .density = 0.15,
                                    .sigma = 0.1, .mu = 3.5, .test_ratio = 0.1, .bias = 1,
                                    .seed = 8};

static int same_blocks(const cf_blocks *a, const cf_blocks *b) {
    size_t nb = (size_t)a->B * (size_t)a->B + 1, n = (size_t)a->nnz;
    return a->B == b->B && a->nnz == b->nnz && !memcmp(a->block_ptr, b->block_ptr, nb * sizeof(int64_t)) &&
           !memcmp(a->entry, b->entry, n * sizeof(int64_t)) && !memcmp(a->user, b->user, n * sizeof(uint32_t)) &&
           !memcmp(a->user_band, b->user_band, (size_t)a->n_users * sizeof(uint32_t)) &&
           !memcmp(a->item_band, b->item_band, (size_t)a->n_items * sizeof(uint32_t));
}

static int same_work(const cf_sgd_work *a, const cf_sgd_work *b) {
    size_t n = (size_t)a->n;
    return a->n == b->n && !memcmp(a->u, b->u, n * sizeof(uint32_t)) && !memcmp(a->i, b->i, n * sizeof(uint32_t)) &&
           !memcmp(a->r, b->r, n * sizeof(float));
}

/* 1, 2, 3 threads and 0 (the OpenMP default, set to 4 and to 1) build the same bytes:
 * the blocks schedule, its work list, the hogwild list and the entries by item. */
Test(threads, sgd_orders_are_the_same_for_any_thread_count) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&big, &R, &test);
    cr_assert_gt(R.nnz, 30000);
    const int counts[] = {1, 2, 3, 0, 0};
    const int omp_default[] = {1, 1, 1, 4, 1};
    enum { N = sizeof counts / sizeof *counts };
    cf_blocks bl[N];
    cf_sgd_work wb[N], wh[N];
    int64_t *by_item[N];
    const int saved = omp_get_max_threads();
    cf_error err;
    for (int k = 0; k < N; k++) {
        omp_set_num_threads(omp_default[k]);
        cr_assert_eq(cf_blocks_build_threads(&R, 7, 42, counts[k], &bl[k], &err), CF_OK, "%s", err.msg);
        cr_assert_eq(cf_sgd_work_blocks_threads(&R, &bl[k], counts[k], &wb[k], &err), CF_OK, "%s", err.msg);
        cr_assert_eq(cf_sgd_work_hogwild_threads(&R, 42, counts[k], &wh[k], &err), CF_OK, "%s", err.msg);
        by_item[k] = malloc((size_t)R.nnz * sizeof *by_item[k]);
        cr_assert_eq(cf_entries_by_item_threads(&R, counts[k], by_item[k], &err), CF_OK, "%s", err.msg);
    }
    omp_set_num_threads(saved);
    for (int k = 1; k < N; k++) {
        cr_assert(same_blocks(&bl[0], &bl[k]), "blocks: run %d (threads %d, default %d) differs from 1 thread", k,
                  counts[k], omp_default[k]);
        cr_assert(same_work(&wb[0], &wb[k]), "blocks work list: run %d differs", k);
        cr_assert(same_work(&wh[0], &wh[k]), "hogwild work list: run %d differs", k);
        cr_assert_eq(memcmp(by_item[0], by_item[k], (size_t)R.nnz * sizeof(int64_t)), 0, "entries by item: run %d", k);
    }
    /* the by-item order: a stable sort by item, every entry once */
    unsigned char *seen = calloc((size_t)R.nnz, 1);
    for (int64_t t = 0; t < R.nnz; t++) {
        int64_t e = by_item[0][t];
        cr_assert(e >= 0 && e < R.nnz && !seen[e]);
        seen[e] = 1;
        if (t) {
            int64_t p = by_item[0][t - 1];
            cr_assert(R.row_col[p] < R.row_col[e] || (R.row_col[p] == R.row_col[e] && p < e));
        }
    }
    /* the blocks schedule: every rating exactly once, in its block, by item in a block */
    memset(seen, 0, (size_t)R.nnz);
    for (int64_t k = 0; k < 49; k++) {
        cr_assert_leq(bl[0].block_ptr[k], bl[0].block_ptr[k + 1]);
        for (int64_t t = bl[0].block_ptr[k]; t < bl[0].block_ptr[k + 1]; t++) {
            int64_t e = bl[0].entry[t];
            cr_assert(e >= 0 && e < R.nnz && !seen[e], "entry %lld", (long long)e);
            seen[e] = 1;
            cr_assert(e >= R.row_ptr[bl[0].user[t]] && e < R.row_ptr[bl[0].user[t] + 1]);
            cr_assert_eq(bl[0].user_band[bl[0].user[t]] * 7 + bl[0].item_band[R.row_col[e]], (uint32_t)k);
            if (t > bl[0].block_ptr[k]) cr_assert_leq(R.row_col[bl[0].entry[t - 1]], R.row_col[e]);
        }
    }
    cr_assert_eq(bl[0].block_ptr[49], R.nnz);
    free(seen);
    for (int k = 0; k < N; k++) {
        cf_blocks_free(&bl[k]), cf_sgd_work_free(&wb[k]), cf_sgd_work_free(&wh[k]);
        free(by_item[k]);
    }
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* The stable parallel counting sort itself, on a list with a map, a carried array and
 * more buckets than some threads have elements: the serial sort's bytes for 1..5 threads. */
Test(threads, bucket_sort_is_stable_and_the_same_for_any_thread_count) {
    enum { N = 5000, NB = 37, NK = 300 };
    uint32_t *key = malloc(N * sizeof *key), *map = malloc(NK * sizeof *map), *carry = malloc(N * sizeof *carry);
    uint32_t *ref_carry = malloc(N * sizeof *ref_carry), *carry_out = malloc(N * sizeof *carry_out);
    int64_t *in = malloc(N * sizeof *in), *ref = malloc(N * sizeof *ref), *out = malloc(N * sizeof *out);
    int64_t ref_ptr[NB + 1], ptr[NB + 1];
    cf_rng rng;
    cf_rng_seed(&rng, 3);
    for (int k = 0; k < NK; k++) map[k] = (uint32_t)cf_rng_below(&rng, NB);
    for (int t = 0; t < N; t++) {
        key[t] = (uint32_t)cf_rng_below(&rng, NK), carry[t] = (uint32_t)cf_rng_next(&rng);
        in[t] = (int64_t)(cf_rng_next(&rng) >> 2);
    }
    /* the reference: a plain serial stable counting sort */
    int64_t at[NB + 1] = {0};
    for (int t = 0; t < N; t++) at[map[key[t]] + 1]++;
    for (int b = 0; b < NB; b++) at[b + 1] += at[b];
    memcpy(ref_ptr, at, sizeof at);
    for (int t = 0; t < N; t++) {
        int64_t dst = at[map[key[t]]]++;
        ref[dst] = in[t], ref_carry[dst] = carry[t];
    }
    for (int T = 1; T <= 5; T++) {
        memset(out, 0, N * sizeof *out), memset(carry_out, 0, N * sizeof *carry_out);
        const cf_bucket_move mv = {.in = in, .out = out, .carry = carry, .carry_out = carry_out};
        cr_assert_eq(cf_bucket_sort_threads(N, key, map, NB, &mv, T, ptr, NULL), CF_OK);
        cr_assert_eq(memcmp(out, ref, N * sizeof *out), 0, "%d threads", T);
        cr_assert_eq(memcmp(carry_out, ref_carry, N * sizeof *carry_out), 0, "%d threads: carried", T);
        cr_assert_eq(memcmp(ptr, ref_ptr, sizeof ptr), 0, "%d threads: offsets", T);
    }
    /* without a list (elements = positions) and without a map */
    for (int t = 0; t < N; t++) key[t] %= NB;
    memset(at, 0, sizeof at);
    for (int t = 0; t < N; t++) at[key[t] + 1]++;
    for (int b = 0; b < NB; b++) at[b + 1] += at[b];
    for (int t = 0; t < N; t++) ref[at[key[t]]++] = t;
    for (int T = 1; T <= 3; T++) {
        const cf_bucket_move mv = {.out = out};
        cr_assert_eq(cf_bucket_sort_threads(N, key, NULL, NB, &mv, T, NULL, NULL), CF_OK);
        cr_assert_eq(memcmp(out, ref, N * sizeof *out), 0, "%d threads, identity list", T);
    }
    free(key), free(map), free(carry), free(ref_carry), free(carry_out), free(in), free(ref), free(out);
}

Test(blocks, different_seed_gives_a_different_order) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_blocks s1, s2, s3;
    cr_assert_eq(cf_blocks_build(&R, 4, 42, &s1, NULL), CF_OK);
    cr_assert_eq(cf_blocks_build(&R, 4, 42, &s2, NULL), CF_OK);
    cr_assert_eq(cf_blocks_build(&R, 4, 43, &s3, NULL), CF_OK);
    size_t n = (size_t)R.nnz * sizeof(int64_t);
    cr_assert_eq(memcmp(s1.entry, s2.entry, n), 0);
    cr_assert_eq(memcmp(s1.user_band, s2.user_band, (size_t)R.n_users * sizeof(uint32_t)), 0);
    cr_assert_neq(memcmp(s1.entry, s3.entry, n), 0);
    cr_assert_neq(memcmp(s1.user_band, s3.user_band, (size_t)R.n_users * sizeof(uint32_t)), 0);
    cf_blocks_free(&s1), cf_blocks_free(&s2), cf_blocks_free(&s3);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ------------------------------------------------------------------ SGD over the blocks */

static cf_backend *open_sgd(const cf_ratings *R, int32_t B, uint64_t seed, int threads,
                            cf_sgd_schedule sched) {
    cf_config c;
    cf_config_default(&c);
    c.algo = CF_ALGO_SGD, c.factors = 4, c.lambda = 0.02, c.schedule = sched, c.blocks = B;
    c.seed = seed, c.threads = threads;
    cf_factors init;
    cr_assert_eq(cf_factors_alloc(&init, R->n_users, R->n_items, 4, 1, NULL), CF_OK);
    cf_factors_init_random(&init, 0.1, 3); /* the same start for every seed */
    init.mu = R->mean;
    cf_backend *b = NULL;
    cf_error err;
    cr_assert_eq(cf_cpu_backend.open(R, NULL, &c, &init, &b, &err), CF_OK, "%s", err.msg);
    cf_factors_free(&init);
    return b;
}

static int same_factors(const cf_factors *a, const cf_factors *b) {
    size_t np = (size_t)a->n_users * (size_t)a->k, nq = (size_t)a->n_items * (size_t)a->k;
    return !memcmp(a->P, b->P, np * sizeof(double)) && !memcmp(a->Q, b->Q, nq * sizeof(double)) &&
           !memcmp(a->bu, b->bu, (size_t)a->n_users * sizeof(double)) &&
           !memcmp(a->bi, b->bi, (size_t)a->n_items * sizeof(double));
}

static void two_epochs(cf_backend *b) {
    cf_error err;
    for (int32_t t = 0; t < 2; t++) cr_assert_eq(cf_cpu_sgd_epoch(b, t, 0.02, &err), CF_OK, "%s", err.msg);
}

Test(blocks_sgd, same_seed_same_factors_for_one_and_two_threads) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_backend *a = open_sgd(&R, 6, 42, 1, CF_SCHED_BLOCKS);
    cf_backend *b = open_sgd(&R, 6, 42, 2, CF_SCHED_BLOCKS);
    cf_backend *c = open_sgd(&R, 6, 42, 2, CF_SCHED_BLOCKS);
    cf_backend *d = open_sgd(&R, 6, 43, 2, CF_SCHED_BLOCKS);
    two_epochs(a), two_epochs(b), two_epochs(c), two_epochs(d);
    cr_assert(same_factors(&a->f, &b->f), "1 and 2 threads differ");
    cr_assert(same_factors(&b->f, &c->f), "two runs with 2 threads differ");
    cr_assert(!same_factors(&b->f, &d->f), "seeds 42 and 43 gave the same factors");
    cf_cpu_backend.close(a), cf_cpu_backend.close(b), cf_cpu_backend.close(c), cf_cpu_backend.close(d);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* A blocks epoch (run in parallel) equals the SGD rule applied one rating at a time in
 * the order written in schedule.h — waves w, blocks (a, (a + σ[w]) mod B) for a = 0..B−1,
 * each block in its order — replayed here sequentially (weighted mode: λ'_u = λ n_u / n_u). */
Test(blocks_sgd, epoch_follows_the_documented_order) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_backend *b = open_sgd(&R, 5, 42, 2, CF_SCHED_BLOCKS);
    cf_factors f;
    cr_assert_eq(cf_factors_copy(&f, &b->f, NULL), CF_OK);
    cf_error err;
    cr_assert_eq(cf_cpu_sgd_epoch(b, 0, 0.02, &err), CF_OK, "%s", err.msg);
    cf_blocks s;
    cr_assert_eq(cf_blocks_build(&R, 5, 42, &s, NULL), CF_OK);
    int32_t shift[5];
    cf_blocks_epoch_shifts(&s, 0, shift);
    const double eta = 0.02, lam = 0.02;
    const int K = 4;
    for (int w = 0; w < 5; w++)
        for (int a = 0; a < 5; a++) {
            int64_t blk = (int64_t)a * 5 + (a + shift[w]) % 5;
            for (int64_t t = s.block_ptr[blk]; t < s.block_ptr[blk + 1]; t++) {
                int64_t e = s.entry[t];
                uint32_t u = s.user[t], i = R.row_col[e];
                double *p = f.P + u * K, *q = f.Q + i * K;
                double nu = (double)(R.row_ptr[u + 1] - R.row_ptr[u]), ni = (double)(R.col_ptr[i + 1] - R.col_ptr[i]);
                double lu = lam * nu / nu, li = lam * ni / ni;
                double err_ui = R.row_val[e] - cf_predict(&f, u, i);
                f.bu[u] += eta * (err_ui - lu * f.bu[u]);
                f.bi[i] += eta * (err_ui - li * f.bi[i]);
                for (int k = 0; k < K; k++) {
                    double pk = p[k];
                    p[k] += eta * (err_ui * q[k] - lu * pk);
                    q[k] += eta * (err_ui * pk - li * q[k]);
                }
            }
        }
    cr_assert(same_factors(&f, &b->f), "the blocks epoch is not the documented order");
    cf_blocks_free(&s);
    cf_factors_free(&f);
    cf_cpu_backend.close(b);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ------------------------------------------------------------------ shuffle */

Test(shuffle, permutation_is_complete_and_fresh_each_epoch) {
    enum { N = 1000 };
    int64_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
    cf_sched_permutation(a, N, cf_sched_seed(42, CF_STREAM_SHUFFLE, 0));
    cf_sched_permutation(b, N, cf_sched_seed(42, CF_STREAM_SHUFFLE, 1));
    int seen[N] = {0};
    int64_t fixed = 0;
    for (int j = 0; j < N; j++) {
        cr_assert(a[j] >= 0 && a[j] < N);
        seen[a[j]]++;
        fixed += a[j] == j;
    }
    for (int j = 0; j < N; j++) cr_assert_eq(seen[j], 1);
    cr_assert_lt(fixed, 10, "%lld fixed points: hardly shuffled", (long long)fixed);
    cr_assert_neq(memcmp(a, b, N * sizeof *a), 0);
    cf_sched_permutation(b, N, cf_sched_seed(42, CF_STREAM_SHUFFLE, 0));
    cr_assert_eq(memcmp(a, b, N * sizeof *a), 0);
    free(a), free(b);
}

/* The permutation is schedule.h's plain Fisher–Yates from the top, written here as the
 * header defines it, for lengths around the look-ahead window of the implementation
 * (which draws 16 swaps early): the same values for every length, 0 and 1 included. */
Test(shuffle, permutation_is_the_documented_fisher_yates) {
    const int64_t lens[] = {0, 1, 2, 3, 15, 16, 17, 18, 33, 1000, 100003};
    for (size_t x = 0; x < sizeof lens / sizeof *lens; x++) {
        const int64_t n = lens[x];
        int64_t *a = malloc((size_t)(n + 1) * sizeof *a), *ref = malloc((size_t)(n + 1) * sizeof *ref);
        const uint64_t seed = cf_sched_seed(7, CF_STREAM_SHUFFLE, (uint64_t)x);
        cf_rng rng;
        cf_rng_seed(&rng, seed);
        for (int64_t j = 0; j < n; j++) ref[j] = j;
        for (int64_t j = n - 1; j > 0; j--) {
            int64_t k = (int64_t)cf_rng_below(&rng, (uint64_t)j + 1), t = ref[j];
            ref[j] = ref[k], ref[k] = t;
        }
        cf_sched_permutation(a, n, seed);
        cr_assert_eq(memcmp(a, ref, (size_t)n * sizeof *a), 0, "n = %lld", (long long)n);
        free(a), free(ref);
    }
}

Test(shuffle, same_seed_same_factors) {
    cf_ratings R;
    cf_triplets test;
    cf_test_make_planted(&prob, &R, &test);
    cf_backend *a = open_sgd(&R, 1, 42, 2, CF_SCHED_SHUFFLE);
    cf_backend *b = open_sgd(&R, 1, 42, 1, CF_SCHED_SHUFFLE);
    cf_backend *c = open_sgd(&R, 1, 7, 1, CF_SCHED_SHUFFLE);
    two_epochs(a), two_epochs(b), two_epochs(c);
    cr_assert(same_factors(&a->f, &b->f));
    cr_assert(!same_factors(&a->f, &c->f));
    cf_cpu_backend.close(a), cf_cpu_backend.close(b), cf_cpu_backend.close(c);
    cf_ratings_free(&R);
    cf_triplets_free(&test);
}

/* ------------------------------------------------------------------ scatter permutation */

/* schedule.h's definition written out plainly, one thread: P buckets, chunks of L
 * indices drawing their buckets in order, each bucket's indices in index order, then each
 * bucket's Fisher–Yates from its own stream. */
static void scatter_reference(int64_t *a, int64_t n, uint64_t seed) {
    int64_t P = (n + CF_SCATTER_BUCKET - 1) / CF_SCATTER_BUCKET;
    if (P > CF_SCATTER_MAX_BUCKETS) P = CF_SCATTER_MAX_BUCKETS;
    if (P <= 1) {
        for (int64_t j = 0; j < n; j++) a[j] = j;
        cf_sched_shuffle(a, n, seed);
        return;
    }
    int64_t L = (n + CF_SCATTER_MAX_CHUNKS - 1) / CF_SCATTER_MAX_CHUNKS;
    if (L < CF_SCATTER_CHUNK) L = CF_SCATTER_CHUNK;
    uint32_t *bucket = malloc((size_t)n * sizeof *bucket);
    cr_assert_not_null(bucket);
    cf_rng rng;
    for (int64_t j = 0; j < n; j++) {
        if (j % L == 0) cf_rng_seed(&rng, cf_sched_seed(seed, CF_STREAM_SCATTER_CHUNK, (uint64_t)(j / L)));
        bucket[j] = (uint32_t)cf_rng_below(&rng, (uint64_t)P);
    }
    int64_t at = 0;
    for (int64_t b = 0; b < P; b++) {
        const int64_t first = at;
        for (int64_t j = 0; j < n; j++)
            if (bucket[j] == (uint32_t)b) a[at++] = j;
        cf_sched_shuffle(a + first, at - first, cf_sched_seed(seed, CF_STREAM_SCATTER_BUCKET, (uint64_t)b));
    }
    free(bucket);
}

Test(scatter, permutation_is_the_documented_one_on_any_thread_count) {
    /* one bucket (the plain permutation), just past it, several buckets and chunks */
    const int64_t lens[] = {0, 1, 2, 1000, CF_SCATTER_BUCKET, CF_SCATTER_BUCKET + 1, 3 * CF_SCATTER_CHUNK + 12345};
    for (size_t x = 0; x < sizeof lens / sizeof *lens; x++) {
        const int64_t n = lens[x];
        const uint64_t seed = cf_sched_seed(7, CF_STREAM_MINIBATCH, (uint64_t)x);
        int64_t *a = malloc((size_t)(n + 1) * sizeof *a), *ref = malloc((size_t)(n + 1) * sizeof *ref);
        unsigned char *seen = calloc((size_t)n + 1, 1);
        cr_assert(a && ref && seen);
        scatter_reference(ref, n, seed);
        for (int64_t j = 0; j < n; j++) {
            cr_assert(ref[j] >= 0 && ref[j] < n && !seen[ref[j]], "n = %lld: the reference is a permutation", (long long)n);
            seen[ref[j]] = 1;
        }
        if (n <= CF_SCATTER_BUCKET) {
            cf_sched_permutation(a, n, seed);
            cr_assert_eq(memcmp(a, ref, (size_t)n * sizeof *a), 0, "n = %lld: one bucket is cf_sched_permutation", (long long)n);
        }
        for (int threads = 1; threads <= 3; threads++) {
            cf_error err;
            memset(a, 0xff, (size_t)n * sizeof *a);
            cr_assert_eq(cf_sched_scatter_permutation(a, n, seed, threads, &err), CF_OK, "%s", err.msg);
            cr_assert_eq(memcmp(a, ref, (size_t)n * sizeof *a), 0, "n = %lld, %d threads", (long long)n, threads);
        }
        free(a), free(ref), free(seen);
    }
}

/* Uniformity, where several buckets are in play (n = 3 buckets − 5: P = 3): over 16
 * seeds, the 10 × 10 table of (index decile, position decile) counts 16·n placements; for
 * a uniform permutation every cell expects 16·n/100 ≈ 31.5 k, and Pearson's χ² (81
 * degrees of freedom: mean 81, sd 12.7) exceeds 160 with probability ≈ 5e-7. The seeds
 * are fixed, so the outcome is too: the bound asserts that this order is not detectably
 * non-uniform. Left in index order inside its bucket (no shuffle), each index decile
 * lands in about 3 position deciles, one per bucket: χ² in the millions. */
Test(scatter, permutation_looks_uniform) {
    const int64_t n = 3 * CF_SCATTER_BUCKET - 5;
    const int seeds = 16;
    int64_t *a = malloc((size_t)n * sizeof *a);
    double cell[10][10] = {{0}};
    cr_assert_not_null(a);
    for (int s = 0; s < seeds; s++) {
        cf_error err;
        cr_assert_eq(cf_sched_scatter_permutation(a, n, cf_sched_seed(99, CF_STREAM_MINIBATCH, (uint64_t)s), 2, &err), CF_OK);
        for (int64_t t = 0; t < n; t++) cell[a[t] * 10 / n][t * 10 / n] += 1;
    }
    double row[10] = {0}, col[10] = {0}, total = (double)seeds * (double)n, chi2 = 0;
    for (int r = 0; r < 10; r++)
        for (int c = 0; c < 10; c++) row[r] += cell[r][c], col[c] += cell[r][c];
    for (int r = 0; r < 10; r++)
        for (int c = 0; c < 10; c++) {
            const double e = row[r] * col[c] / total, d = cell[r][c] - e;
            chi2 += d * d / e;
        }
    cr_log_info("scatter permutation: chi2 = %.1f over 81 degrees of freedom", chi2);
    cr_assert_lt(chi2, 160.0, "chi2 %.1f: index and position deciles are not independent", chi2);
    free(a);
}

/* The hogwild plan (sgd_work.h cf_hogwild_plan, cf_hogwild_heavy_min) for the shapes of
 * tests/data/hogwild_plan.tsv. python/tests/test_bench_model.py checks
 * bench/hogwild_balance.py's model of the plan against the same table, so the model
 * cannot drift from the code it models. The plan's invariants: tests/gpu/test_gpu_sgd.c. */
Test(hogwild, plan_matches_the_table_the_bench_model_is_checked_against) {
    FILE *f = fopen(CF_TEST_DATA_DIR "/hogwild_plan.tsv", "r");
    cr_assert_not_null(f);
    char line[512];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        long long nnz, nu, ni, res, rpw, warps, run, n_runs, heavy;
        cr_assert_eq(sscanf(line, "%lld %lld %lld %lld %lld %lld %lld %lld %lld", &nnz, &nu, &ni, &res, &rpw, &warps,
                            &run, &n_runs, &heavy), 9, "line: %s", line);
        cf_sgd_hogwild_order o;
        cf_hogwild_plan(nnz, nu, ni, res, (int)rpw, &o);
        cr_assert(o.warps == warps && o.run == run && o.n_runs == n_runs && cf_hogwild_heavy_min(&o) == heavy,
                  "%s: planned %lld warps, runs of %lld, %lld runs, heavy above %lld", line, (long long)o.warps,
                  (long long)o.run, (long long)o.n_runs, (long long)cf_hogwild_heavy_min(&o));
        rows++;
    }
    fclose(f);
    cr_assert_geq(rows, 10, "the table has %d rows", rows);
}
