/*
 * test_dataset.c — the rating set (src/dataset.c): duplicate removal, the seeded
 * train/test split, and copying a part out.
 *
 * Expectations are computed independently here: the deduplicated set by a brute-force
 * "last write wins" table, the split by set arithmetic over rating identities.
 */
#include <criterion/criterion.h>

#include "common.h"
#include "cufactor.h"
#include "dataset.h"
#include "helpers.h"
#include "idmap.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A dataset with users "u0".."u{nu-1}" and items "i0".."i{ni-1}" in its maps. */
static cf_dataset *make_dataset(int nu, int ni) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert(ds);
    char name[32];
    for (int k = 0; k < nu; k++) {
        uint32_t idx;
        int n = snprintf(name, sizeof name, "u%d", k);
        cr_assert_eq(cf_idmap_intern(ds->users, name, (size_t)n, &idx, NULL), 0);
        cr_assert_eq(idx, (uint32_t)k);
    }
    for (int k = 0; k < ni; k++) {
        uint32_t idx;
        int n = snprintf(name, sizeof name, "i%d", k);
        cr_assert_eq(cf_idmap_intern(ds->items, name, (size_t)n, &idx, NULL), 0);
    }
    return ds;
}

static void push(cf_dataset *ds, uint32_t u, uint32_t i, float r, int part) {
    cr_assert_eq(cf_dataset_push(ds, u, i, r, part), 0);
}

typedef struct rating {
    uint32_t u, i;
    float r;
    int part;
} rating;

static int cmp_ui(const void *a, const void *b) {
    const rating *x = a, *y = b;
    if (x->u != y->u) return x->u < y->u ? -1 : 1;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    return 0;
}

/* Expected dedup of in[0..n): for each (u, i) the last one, sorted by (u, i). */
static int64_t brute_dedup(const rating *in, int64_t n, rating *out) {
    int64_t m = 0;
    for (int64_t k = 0; k < n; k++) {
        int later = 0;
        for (int64_t j = k + 1; j < n && !later; j++) later = in[j].u == in[k].u && in[j].i == in[k].i;
        if (!later) out[m++] = in[k];
    }
    qsort(out, (size_t)m, sizeof *out, cmp_ui); /* pairs are unique now: order is total */
    return m;
}

static void expect_range(const cf_dataset *ds, int64_t from, const rating *want, int64_t n) {
    cr_assert_eq(ds->all.n - from, n, "%lld ratings, expected %lld", (long long)(ds->all.n - from), (long long)n);
    for (int64_t k = 0; k < n; k++) {
        int64_t s = from + k;
        cr_assert(ds->all.u[s] == want[k].u && ds->all.i[s] == want[k].i,
                  "position %lld: (%u, %u), expected (%u, %u)", (long long)k, ds->all.u[s], ds->all.i[s],
                  want[k].u, want[k].i);
        cr_assert_eq(ds->all.r[s], want[k].r, "position %lld", (long long)k);
        cr_assert_eq(ds->is_test[s], want[k].part, "position %lld", (long long)k);
    }
}

Test(dataset, dedup_hand_made_keeps_last_sorted) {
    cf_dataset *ds = make_dataset(3, 4);
    /* file order, users interleaved: (2,1) twice, (0,3) three times */
    push(ds, 2, 1, 1.0f, 0);
    push(ds, 0, 3, 2.0f, 0);
    push(ds, 1, 0, 3.0f, 0);
    push(ds, 0, 3, 4.0f, 0);
    push(ds, 2, 1, 5.0f, 0);
    push(ds, 0, 0, 1.5f, 0);
    push(ds, 0, 3, 2.5f, 0);
    cf_error err;
    cr_assert_eq(cf_dataset_dedup(ds, 0, &err), 3);
    rating want[] = {{0, 0, 1.5f, 0}, {0, 3, 2.5f, 0}, {1, 0, 3.0f, 0}, {2, 1, 5.0f, 0}};
    expect_range(ds, 0, want, 4);
    cf_dataset_destroy(&ds);
    cr_assert_null(ds);
    cf_dataset_destroy(&ds); /* NULL is fine */
    cf_dataset_destroy(NULL);
}

Test(dataset, dedup_grouped_by_user_matches_hand_result) {
    cf_dataset *ds = make_dataset(3, 5);
    /* users nondecreasing (the grouped path); items unsorted within users */
    push(ds, 0, 4, 1.0f, 1);
    push(ds, 0, 1, 2.0f, 1);
    push(ds, 0, 4, 3.0f, 1);
    push(ds, 1, 0, 4.0f, 1);
    push(ds, 1, 2, 4.5f, 1); /* a run already in order */
    push(ds, 2, 3, 5.0f, 1);
    push(ds, 2, 3, 1.0f, 1);
    push(ds, 2, 0, 2.0f, 1);
    cf_error err;
    cr_assert_eq(cf_dataset_dedup(ds, 0, &err), 2);
    rating want[] = {{0, 1, 2.0f, 1}, {0, 4, 3.0f, 1}, {1, 0, 4.0f, 1}, {1, 2, 4.5f, 1}, {2, 0, 2.0f, 1},
                     {2, 3, 1.0f, 1}};
    expect_range(ds, 0, want, 6);
    cf_dataset_destroy(&ds);
}

/* Random data through both dedup paths (shuffled: counting sorts; grouped by user:
 * per-run sorts), against the brute-force result; ratings before `from` untouched. */
Test(dataset, dedup_random_against_brute_force) {
    const int nu = 40, ni = 30, n = 3000, from = 100;
    rating *in = malloc(n * sizeof *in), *want = malloc(n * sizeof *want);
    uint64_t st = 99;
    for (int grouped = 0; grouped < 2; grouped++) {
        for (int k = 0; k < n; k++) {
            in[k].u = (uint32_t)(cf_splitmix64(&st) % (uint64_t)nu);
            in[k].i = (uint32_t)(cf_splitmix64(&st) % (uint64_t)ni);
            in[k].r = (float)k; /* identifies the line: "last" is checkable */
            in[k].part = (int)(cf_splitmix64(&st) & 1);
        }
        if (grouped) { /* stable sort of the range by user: insertion sort on a copy */
            for (int k = from + 1; k < n; k++) {
                rating x = in[k];
                int j = k;
                for (; j > from && in[j - 1].u > x.u; j--) in[j] = in[j - 1];
                in[j] = x;
            }
        }
        cf_dataset *ds = make_dataset(nu, ni);
        for (int k = 0; k < n; k++) push(ds, in[k].u, in[k].i, in[k].r, in[k].part);
        int64_t m = brute_dedup(in + from, n - from, want);
        cf_error err;
        cr_assert_eq(cf_dataset_dedup(ds, from, &err), (n - from) - m, "grouped %d", grouped);
        expect_range(ds, from, want, m);
        for (int k = 0; k < from; k++) { /* the earlier ratings, as pushed */
            cr_assert(ds->all.u[k] == in[k].u && ds->all.i[k] == in[k].i && ds->all.r[k] == in[k].r);
            cr_assert_eq(ds->is_test[k], in[k].part);
        }
        cf_dataset_destroy(&ds);
    }
    free(in);
    free(want);
}

/* Long user runs (≈ 1 500 ratings each: the radix path of the per-run sort, from 96) with
 * items of 17 bits (three 8-bit passes) and many duplicates, grouped and shuffled, against
 * the brute-force result. */
Test(dataset, dedup_long_runs_against_brute_force) {
    const int nu = 4, ni = 70000, n = 6000;
    rating *in = malloc(n * sizeof *in), *want = malloc(n * sizeof *want);
    uint64_t st = 7;
    for (int grouped = 0; grouped < 2; grouped++) {
        for (int k = 0; k < n; k++) {
            in[k].u = grouped ? (uint32_t)(k * nu / n) : (uint32_t)(cf_splitmix64(&st) % (uint64_t)nu);
            in[k].i = (uint32_t)(cf_splitmix64(&st) % 400 * 173); /* 400 items up to 69 027 */
            in[k].r = (float)k;
            in[k].part = (int)(cf_splitmix64(&st) & 1);
        }
        cf_dataset *ds = make_dataset(nu, ni);
        for (int k = 0; k < n; k++) push(ds, in[k].u, in[k].i, in[k].r, in[k].part);
        int64_t m = brute_dedup(in, n, want);
        cr_assert_lt(m, n - 1000, "duplicates in plenty: %lld kept of %d", (long long)m, n);
        cf_error err;
        cr_assert_eq(cf_dataset_dedup(ds, 0, &err), n - m, "grouped %d", grouped);
        expect_range(ds, 0, want, m);
        cf_dataset_destroy(&ds);
    }
    free(in);
    free(want);
}

Test(dataset, dedup_of_nothing) {
    cf_dataset *ds = make_dataset(2, 2);
    cf_error err;
    cr_assert_eq(cf_dataset_dedup(ds, 0, &err), 0);
    push(ds, 1, 1, 3.0f, 0);
    cr_assert_eq(cf_dataset_dedup(ds, 0, &err), 0);
    cr_assert_eq(cf_dataset_dedup(ds, 1, &err), 0);
    cr_assert_eq(ds->all.n, 1);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ split and parts */

/* n ratings, user k % 50, item k % 70, r = k: the value identifies the rating. */
static cf_dataset *numbered(int n) {
    cf_dataset *ds = make_dataset(50, 70);
    for (int k = 0; k < n; k++) push(ds, (uint32_t)(k % 50), (uint32_t)(k % 70), (float)k, 0);
    return ds;
}

/* flags[k] = 1 when the rating numbered k is in the test part. */
static void test_flags(const cf_dataset *ds, int n, char *flags) {
    memset(flags, 0, (size_t)n);
    for (int64_t k = 0; k < ds->all.n; k++)
        if (ds->is_test[k]) flags[(int)ds->all.r[k]] = 1;
}

Test(dataset, split_is_seeded_and_sized) {
    const int n = 1000;
    char *a = malloc(n), *b = malloc(n), *c = malloc(n);
    cf_error err;
    cf_dataset *d1 = numbered(n), *d2 = numbered(n), *d3 = numbered(n);
    cr_assert_eq(cf_dataset_split(d1, 0.2, 7, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_split(d2, 0.2, 7, &err), CF_OK);
    cr_assert_eq(cf_dataset_split(d3, 0.2, 8, &err), CF_OK);
    test_flags(d1, n, a), test_flags(d2, n, b), test_flags(d3, n, c);
    cr_assert_eq(memcmp(a, b, n), 0, "same seed, same test set");
    cr_assert_neq(memcmp(a, c, n), 0, "another seed, another test set");
    int count = 0, common = 0;
    for (int k = 0; k < n; k++) count += a[k], common += a[k] && c[k];
    cr_assert_eq(count, 200);
    /* two independent 20% subsets share about 40 ratings; far from all 200 */
    cr_assert_lt(common, 100, "%d in common", common);
    cf_dataset_info info;
    cf_dataset_info_get(d1, &info);
    cr_assert_eq(info.n_test, 200);
    cr_assert_eq(info.n_train, 800);
    cf_dataset_destroy(&d1), cf_dataset_destroy(&d2), cf_dataset_destroy(&d3);

    /* round(ratio·n): 0.25·999 = 249.75 → 250; 0.0015·1000 = 1.5 → 2; 0.0004·1000 = 0.4 → 0 */
    struct {
        int n;
        double ratio;
        int want;
    } sizes[] = {{999, 0.25, 250}, {1000, 0.0015, 2}, {1000, 0.0004, 0}, {1000, 0.0, 0}, {7, 0.5, 4}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        cf_dataset *ds = numbered(sizes[k].n);
        cr_assert_eq(cf_dataset_split(ds, sizes[k].ratio, 1, &err), CF_OK);
        cf_dataset_info_get(ds, &info);
        cr_assert_eq(info.n_test, sizes[k].want, "n %d ratio %g: %lld test ratings", sizes[k].n, sizes[k].ratio,
                     (long long)info.n_test);
        cf_dataset_destroy(&ds);
    }
    free(a), free(b), free(c);
}

Test(dataset, split_parts_partition_all_ratings) {
    const int n = 777;
    cf_dataset *ds = numbered(n);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.3, 2024, &err), CF_OK);
    cf_triplets tr, te;
    cr_assert_eq(cf_dataset_part(ds, 0, &tr, &err), CF_OK);
    cr_assert_eq(cf_dataset_part(ds, 1, &te, &err), CF_OK);
    cr_assert_eq(te.n, (int64_t)llround(0.3 * n));
    cr_assert_eq(tr.n + te.n, n);
    char *seen = calloc(n, 1);
    for (int part = 0; part < 2; part++) {
        const cf_triplets *t = part ? &te : &tr;
        for (int64_t k = 0; k < t->n; k++) {
            int id = (int)t->r[k];
            cr_assert(id >= 0 && id < n);
            cr_assert(!seen[id], "rating %d in both parts or twice", id);
            seen[id] = 1;
            cr_assert_eq(t->u[k], (uint32_t)(id % 50), "rating %d keeps its user", id);
            cr_assert_eq(t->i[k], (uint32_t)(id % 70), "rating %d keeps its item", id);
        }
        for (int64_t k = 1; k < t->n; k++) cr_assert_lt(t->r[k - 1], t->r[k], "a part keeps dataset order");
    }
    for (int k = 0; k < n; k++) cr_assert(seen[k], "rating %d lost", k);

    /* a second split moves only training ratings: round(0.5 · 544) more */
    int64_t before = te.n;
    cf_triplets_free(&tr), cf_triplets_free(&te);
    cr_assert_eq(cf_dataset_split(ds, 0.5, 3, &err), CF_OK);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_test, before + llround(0.5 * (double)(n - before)));
    cr_assert_eq(info.n_train + info.n_test, n);
    free(seen);
    cf_dataset_destroy(&ds);
}

Test(dataset, split_rejects_bad_ratio) {
    cf_dataset *ds = numbered(10);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 1.0, 1, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "ratio"), "%s", err.msg);
    cr_assert_eq(cf_dataset_split(ds, -0.1, 1, &err), CF_ERR_INVALID);
    cr_assert_eq(cf_dataset_split(ds, NAN, 1, &err), CF_ERR_INVALID);
    cf_dataset_destroy(&ds);
}

Test(dataset, part_copies_each_part_in_order) {
    cf_dataset *ds = make_dataset(3, 3);
    push(ds, 0, 1, 1.0f, 0);
    push(ds, 1, 2, 2.0f, 1);
    push(ds, 2, 0, 3.0f, 0);
    push(ds, 2, 2, 4.0f, 1);
    cf_triplets t;
    cf_error err;
    cr_assert_eq(cf_dataset_part(ds, 1, &t, &err), CF_OK);
    cr_assert_eq(t.n, 2);
    cr_assert(t.u[0] == 1 && t.i[0] == 2 && t.r[0] == 2.0f);
    cr_assert(t.u[1] == 2 && t.i[1] == 2 && t.r[1] == 4.0f);
    cf_triplets_free(&t);
    cr_assert_null(t.u);
    cr_assert_eq(cf_dataset_part(ds, 0, &t, &err), CF_OK);
    cr_assert_eq(t.n, 2);
    cr_assert(t.u[0] == 0 && t.i[0] == 1 && t.r[0] == 1.0f);
    cr_assert(t.u[1] == 2 && t.i[1] == 0 && t.r[1] == 3.0f);
    cf_triplets_free(&t);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_train, 2);
    cr_assert_eq(info.n_test, 2);
    cr_assert_eq(info.test_unseen, 2, "(1,2): user 1 and item 2 untrained; (2,2): item 2");
    cf_dataset_destroy(&ds);
}

/* cf_dataset_train_copy: the training ratings of a timed dataset (1 in 11 pre-set to
 * test), in order with their timestamps, all in the copy's training part, the maps the
 * same (test-only IDs too); the same on 1 and 2 threads; the original unchanged. A split
 * of the copy (train --validation) leaves the original's parts alone. */
Test(dataset, train_copy_holds_the_training_part_with_the_same_maps) {
    cf_dataset *ds = cf_test_generate_timed(90000, 500, 1, 5);
    cf_error err;
    cf_dataset_info before;
    cf_dataset_info_get(ds, &before);
    cr_assert(before.n_test > 0 && before.n_train > 0);
    cf_dataset *c[2] = {NULL, NULL};
    for (int t = 0; t < 2; t++) cr_assert_eq(cf_dataset_train_copy(ds, t + 1, &c[t], &err), CF_OK, "%s", err.msg);
    for (int t = 0; t < 2; t++) {
        cf_dataset *x = c[t];
        cr_assert_eq(x->all.n, before.n_train);
        cr_assert(x->timed && cf_dataset_has_timestamps(x));
        int64_t j = 0;
        for (int64_t k = 0; k < ds->all.n; k++) {
            if (ds->is_test[k]) continue;
            cr_assert(x->all.u[j] == ds->all.u[k] && x->all.i[j] == ds->all.i[k] && x->all.r[j] == ds->all.r[k] &&
                          x->all.t[j] == ds->all.t[k] && x->is_test[j] == 0,
                      "rating %lld of the copy (%lld of the original)", (long long)j, (long long)k);
            j++;
        }
        cr_assert_eq(cf_idmap_size(x->users), cf_idmap_size(ds->users));
        cr_assert_eq(cf_idmap_size(x->items), cf_idmap_size(ds->items));
        for (int64_t u = 0; u < cf_idmap_size(ds->users); u++) {
            size_t la, lb;
            const char *a = cf_idmap_name(ds->users, (uint32_t)u, &la), *b = cf_idmap_name(x->users, (uint32_t)u, &lb);
            cr_assert(la == lb && memcmp(a, b, la) == 0, "user %lld", (long long)u);
        }
        for (int64_t i = 0; i < cf_idmap_size(ds->items); i++) {
            size_t la, lb;
            const char *a = cf_idmap_name(ds->items, (uint32_t)i, &la), *b = cf_idmap_name(x->items, (uint32_t)i, &lb);
            cr_assert(la == lb && memcmp(a, b, la) == 0, "item %lld", (long long)i);
        }
    }
    cr_assert_eq(cf_dataset_split_time(c[0], 0.2, 2, NULL, &err), CF_OK, "%s", err.msg);
    cf_dataset_info after, ci;
    cf_dataset_info_get(ds, &after);
    cf_dataset_info_get(c[0], &ci);
    cr_assert(after.n_train == before.n_train && after.n_test == before.n_test);
    cr_assert_eq(ci.n_test, llround(0.2 * (double)before.n_train));
    cf_dataset_destroy(&c[0]), cf_dataset_destroy(&c[1]);
    cf_dataset_destroy(&ds);
}

/* cf_idmap_truncate keeps the first n tokens with their indices, forgets the rest (found
 * no more; interned again they get the next indices), and refuses n beyond the size. */
Test(dataset, idmap_truncate_forgets_the_tail) {
    cf_idmap *m = cf_idmap_create();
    cr_assert_not_null(m);
    char tok[32];
    uint32_t idx;
    for (int j = 0; j < 3000; j++) { /* past the first table growth */
        int len = snprintf(tok, sizeof tok, "id%d", j);
        cr_assert_eq(cf_idmap_intern(m, tok, (size_t)len, &idx, NULL), 0);
    }
    cr_assert_eq(cf_idmap_truncate(m, 3001), -1);
    cr_assert_eq(cf_idmap_truncate(m, 1000), 0);
    cr_assert_eq(cf_idmap_size(m), 1000);
    for (int j = 0; j < 3000; j++) {
        int len = snprintf(tok, sizeof tok, "id%d", j);
        cr_assert_eq(cf_idmap_find(m, tok, (size_t)len), j < 1000 ? j : -1, "%s", tok);
    }
    int added = 0;
    cr_assert_eq(cf_idmap_intern(m, "id2999", 6, &idx, &added), 0);
    cr_assert(added && idx == 1000, "added %d idx %u", added, idx);
    size_t len = 0;
    cr_assert_str_eq(cf_idmap_name(m, 999, &len), "id999");
    cr_assert_str_eq(cf_idmap_name(m, 1000, &len), "id2999");
    cf_idmap_destroy(&m);
}

/* cf_idmap_intern_many (the binary load's batch insert) gives what cf_idmap_intern gives
 * token by token: indices, "added", repeats within a batch and against the map, across
 * table growths and batches of more than 256. */
Test(dataset, idmap_intern_many_matches_one_by_one) {
    cf_idmap *a = cf_idmap_create(), *b = cf_idmap_create();
    cr_assert(a && b);
    enum { N = 5000 };
    static char buf[N][16];
    const char *tok[N];
    size_t len[N];
    uint32_t idx[N];
    int added[N];
    for (int round = 0; round < 3; round++) {
        for (int j = 0; j < N; j++) { /* repeats: j * 7 % 3001 collides within and across rounds */
            len[j] = (size_t)snprintf(buf[j], sizeof buf[j], "t%d", (j * 7 + round * 1000) % 3001);
            tok[j] = buf[j];
        }
        cr_assert_eq(cf_idmap_intern_many(a, N, tok, len, idx, added), 0);
        for (int j = 0; j < N; j++) {
            uint32_t want;
            int want_added;
            cr_assert_eq(cf_idmap_intern(b, tok[j], len[j], &want, &want_added), 0);
            cr_assert(idx[j] == want && added[j] == want_added, "round %d token %d: %u/%d vs %u/%d", round, j, idx[j],
                      added[j], want, want_added);
        }
        cr_assert_eq(cf_idmap_size(a), cf_idmap_size(b));
    }
    cf_idmap_destroy(&a), cf_idmap_destroy(&b);
}

/* cf_dataset_info_get_threads on 1, 2 and 3 threads (past its 65536-rating threshold)
 * counts what a plain loop counts: 150 k ratings, 3 a user, 20 % held out, so that a few
 * hundred users have only test ratings (unseen). */
Test(dataset, info_counts_the_same_on_any_thread_count) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert_not_null(ds);
    const int64_t n = 150000;
    cr_assert_eq(cf_dataset_reserve(ds, n), 0);
    char id[32];
    for (int64_t k = 0; k < n; k++) {
        uint32_t u, i;
        snprintf(id, sizeof id, "u%lld", (long long)(k / 3));
        cr_assert_eq(cf_idmap_intern(ds->users, id, strlen(id), &u, NULL), 0);
        snprintf(id, sizeof id, "i%lld", (long long)(k * 7919 % 1000));
        cr_assert_eq(cf_idmap_intern(ds->items, id, strlen(id), &i, NULL), 0);
        cr_assert_eq(cf_dataset_push(ds, u, i, 3.0f, 0), 0);
    }
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.2, 9, &err), CF_OK, "%s", err.msg);
    int64_t n_test = 0, unseen = 0;
    unsigned char *su = calloc(n / 3 + 1, 1), *si = calloc(1000, 1);
    for (int64_t k = 0; k < n; k++)
        if (!ds->is_test[k]) su[ds->all.u[k]] = 1, si[ds->all.i[k]] = 1;
    for (int64_t k = 0; k < n; k++)
        if (ds->is_test[k]) n_test++, unseen += !su[ds->all.u[k]] || !si[ds->all.i[k]];
    free(su), free(si);
    cr_assert_gt(unseen, 100, "the set has unseen test pairs: %lld", (long long)unseen);
    for (int threads = 1; threads <= 3; threads++) {
        cf_dataset_info info;
        cf_dataset_info_get_threads(ds, threads, &info);
        cr_assert(info.n_train == n - n_test && info.n_test == n_test && info.test_unseen == unseen &&
                      info.n_users == n / 3 && info.n_items == 1000,
                  "%d threads: train %lld test %lld unseen %lld users %lld items %lld", threads, (long long)info.n_train,
                  (long long)info.n_test, (long long)info.test_unseen, (long long)info.n_users, (long long)info.n_items);
    }
    cf_dataset_destroy(&ds);
}

/* cf_dataset_part on 2 and 3 threads (past its 65536-rating threshold) copies the same
 * bytes as on 1, for both parts of a seeded split. */
Test(dataset, part_is_the_same_on_any_thread_count) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert_not_null(ds);
    const int64_t n = 150001;
    cr_assert_eq(cf_dataset_reserve(ds, n), 0);
    for (int64_t k = 0; k < n; k++) cr_assert_eq(cf_dataset_push(ds, (uint32_t)(k / 7), (uint32_t)(k % 7), (float)k, 0), 0);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.2, 5, &err), CF_OK, "%s", err.msg);
    for (int part = 0; part < 2; part++) {
        cf_triplets ref, got;
        cr_assert_eq(cf_dataset_part_threads(ds, part, 1, &ref, &err), CF_OK);
        cr_assert(ref.n > 20000);
        for (int threads = 2; threads <= 3; threads++) {
            cr_assert_eq(cf_dataset_part_threads(ds, part, threads, &got, &err), CF_OK);
            cr_assert_eq(got.n, ref.n);
            cr_assert(!memcmp(got.u, ref.u, (size_t)ref.n * 4) && !memcmp(got.i, ref.i, (size_t)ref.n * 4) &&
                          !memcmp(got.r, ref.r, (size_t)ref.n * 4),
                      "part %d, %d threads", part, threads);
            cf_triplets_free(&got);
        }
        for (int64_t j = 1; j < ref.n; j++) cr_assert_lt(ref.r[j - 1], ref.r[j], "index order");
        cf_triplets_free(&ref);
    }
    cf_dataset_destroy(&ds);
}

/* cf_dataset_split_threads flags the same ratings whatever the thread count it is given
 * (1, 2, 3), and whatever the OpenMP default is meanwhile (set to a different count, so a
 * path that ignored `threads` would still be exercised on several); cf_dataset_split (0:
 * all threads) the same. */
Test(dataset, split_is_the_same_on_any_thread_count) {
    const int64_t n = 150001;
    uint8_t *ref = NULL;
    for (int threads = 0; threads <= 3; threads++) {
        cf_dataset *ds = cf_dataset_create();
        cr_assert_not_null(ds);
        for (int64_t k = 0; k < n; k++)
            cr_assert_eq(cf_dataset_push(ds, (uint32_t)(k / 7), (uint32_t)(k % 7), 1.0f, k % 11 == 0), 0);
        omp_set_num_threads(4 - threads);
        cf_error err;
        cr_assert_eq(threads ? cf_dataset_split_threads(ds, 0.25, 9, threads, &err) : cf_dataset_split(ds, 0.25, 9, &err),
                     CF_OK, "%s", err.msg);
        int64_t flagged = 0;
        for (int64_t k = 0; k < n; k++) flagged += ds->is_test[k];
        /* the pre-set test part (every 11th) and a quarter of the rest */
        cr_assert_eq(flagged, (n + 10) / 11 + llround(0.25 * (double)(n - (n + 10) / 11)), "%d threads", threads);
        if (!ref) {
            ref = malloc((size_t)n);
            memcpy(ref, ds->is_test, (size_t)n);
        } else {
            cr_assert(!memcmp(ref, ds->is_test, (size_t)n), "%d threads", threads);
        }
        cf_dataset_destroy(&ds);
    }
    free(ref);
}

/* ------------------------------------------------------------------ per-user split */

/* users 0..nu-1, user u with count(u) ratings (items 0, 1, ...), rating value = its
 * number in push order; every 13th pushed rating already in the test part when pretest */
static cf_dataset *per_user_set(int nu, int (*count)(int), int pretest) {
    int most = 0;
    for (int u = 0; u < nu; u++) most = count(u) > most ? count(u) : most;
    cf_dataset *ds = make_dataset(nu, most);
    int k = 0;
    for (int u = 0; u < nu; u++)
        for (int j = 0; j < count(u); j++, k++) push(ds, (uint32_t)u, (uint32_t)j, (float)k, pretest && k % 13 == 0);
    return ds;
}
static int count_mixed(int u) { return 1 + u % 23; }         /* 1 .. 23 ratings */
static int count_heavy(int u) { return u < 4 ? 40000 : 1 + u % 5; } /* > 2^16 ratings in all */

/* Each user with n_u training ratings has ⌊ratio·n_u⌋ or ⌈ratio·n_u⌉ of them moved, at most
 * n_u − 1 (a user with one keeps it); the ratings already in the test part stay there and
 * nothing else moves. */
Test(dataset, per_user_split_holds_out_each_users_share) {
    const int nu = 460;
    const double ratios[] = {0.1, 0.5, 0.9};
    for (int pretest = 0; pretest <= 1; pretest++)
        for (size_t r = 0; r < sizeof ratios / sizeof *ratios; r++) {
            cf_dataset *ds = per_user_set(nu, count_mixed, pretest);
            const int64_t n = ds->all.n;
            uint8_t *before = malloc((size_t)n);
            memcpy(before, ds->is_test, (size_t)n);
            cf_error err;
            cr_assert_eq(cf_dataset_split_per_user(ds, ratios[r], 11, 2, &err), CF_OK, "%s", err.msg);
            int64_t train[460] = {0}, moved[460] = {0};
            for (int64_t k = 0; k < n; k++) {
                const uint32_t u = ds->all.u[k];
                if (before[k]) cr_assert(ds->is_test[k], "rating %lld was in the test part", (long long)k);
                else if (ds->is_test[k]) moved[u]++;
                else train[u]++;
            }
            int64_t total = 0;
            for (int u = 0; u < nu; u++) {
                const int64_t m = train[u] + moved[u];
                const double share = ratios[r] * (double)m;
                int64_t lo = (int64_t)floor(share), hi = (int64_t)ceil(share);
                if (hi > m - 1) hi = m - 1 < 0 ? 0 : m - 1;
                if (lo > hi) lo = hi;
                cr_assert(moved[u] >= lo && moved[u] <= hi, "ratio %g, user %d of %lld: %lld moved", ratios[r], u,
                          (long long)m, (long long)moved[u]);
                if (m >= 1) cr_assert_geq(train[u], 1, "user %d lost its training ratings", u);
                total += moved[u];
            }
            cr_assert_gt(total, 0);
            free(before);
            cf_dataset_destroy(&ds);
        }
}

/* The same seed gives the same split on 1, 2 and 3 threads (users dealt in parallel from
 * their own streams; > 2^16 ratings, so the threads are used), another seed another one;
 * a ratio of 0 moves nothing and one outside [0, 1) is refused. */
Test(dataset, per_user_split_is_seeded_and_the_same_on_any_thread_count) {
    uint8_t *ref = NULL;
    int64_t n = 0;
    for (int threads = 1; threads <= 4; threads++) {
        cf_dataset *ds = per_user_set(3000, count_heavy, 1);
        n = ds->all.n;
        cr_assert_gt(n, (int64_t)1 << 16);
        omp_set_num_threads(5 - threads);
        cf_error err;
        const uint64_t seed = threads == 4 ? 8 : 7;
        cr_assert_eq(cf_dataset_split_per_user(ds, 0.25, seed, threads == 4 ? 2 : threads, &err), CF_OK, "%s",
                     err.msg);
        if (!ref) {
            ref = malloc((size_t)n);
            memcpy(ref, ds->is_test, (size_t)n);
        } else if (threads < 4) {
            cr_assert(!memcmp(ref, ds->is_test, (size_t)n), "%d threads", threads);
        } else {
            cr_assert(memcmp(ref, ds->is_test, (size_t)n), "seed 8 split as seed 7");
        }
        cf_dataset_destroy(&ds);
    }
    free(ref);
    cf_dataset *ds = per_user_set(40, count_mixed, 0);
    cf_error err;
    cr_assert_eq(cf_dataset_split_per_user(ds, 0.0, 1, 0, &err), CF_OK);
    for (int64_t k = 0; k < ds->all.n; k++) cr_assert(!ds->is_test[k]);
    cr_assert_eq(cf_dataset_split_per_user(ds, 1.0, 1, 0, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "ratio"), "%s", err.msg);
    cr_assert_eq(cf_dataset_split_per_user(ds, NAN, 1, 0, &err), CF_ERR_INVALID);
    cf_dataset_destroy(&ds);
}

/* Over 4,000 seeds, a user of 3 ratings at ratio 0.5 gives up 1 or 2 (1.5 on average:
 * the stochastic rounding), and each of its ratings is held out half the time (the
 * partial shuffle picks uniformly). Bounds 5σ: the mean of h ∈ {1, 2} has σ = 0.5/√4000
 * = 0.0079; a rating's count σ = √(4000·¼) = 31.6. */
Test(dataset, per_user_split_draws_are_unbiased) {
    const int seeds = 4000;
    int64_t sum_h = 0, held[3] = {0};
    for (int s = 0; s < seeds; s++) {
        cf_dataset *ds = make_dataset(1, 3);
        for (int j = 0; j < 3; j++) push(ds, 0, (uint32_t)j, (float)j, 0);
        cf_error err;
        cr_assert_eq(cf_dataset_split_per_user(ds, 0.5, (uint64_t)s, 1, &err), CF_OK);
        int h = 0;
        for (int64_t k = 0; k < 3; k++) h += ds->is_test[k], held[(int)ds->all.r[k]] += ds->is_test[k];
        cr_assert(h == 1 || h == 2, "seed %d: %d held out", s, h);
        sum_h += h;
        cf_dataset_destroy(&ds);
    }
    cr_assert(fabs((double)sum_h / seeds - 1.5) < 5 * 0.0079, "mean %g held out", (double)sum_h / seeds);
    for (int j = 0; j < 3; j++)
        cr_assert(fabs((double)held[j] - seeds / 2.0) < 5 * 31.6, "rating %d held out %lld times of %d", j,
                  (long long)held[j], seeds);
}
