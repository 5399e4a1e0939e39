/* test_ratings.c — CSR/CSC construction: invariants, round trip, order, empty rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ratings.h"

static void random_triplets(cf_triplets *t, int64_t n, int64_t nu, int64_t ni, uint64_t seed) {
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    t->u = malloc(sizeof(uint32_t) * (size_t)n), t->i = malloc(sizeof(uint32_t) * (size_t)n);
    t->r = malloc(sizeof(float) * (size_t)n);
    t->t = NULL;
    for (int64_t k = 0; k < n; k++) {
        t->u[k] = (uint32_t)cf_rng_below(&rng, (uint64_t)nu);
        t->i[k] = (uint32_t)cf_rng_below(&rng, (uint64_t)ni);
        t->r[k] = (float)k; /* the value identifies the triplet */
    }
    t->n = t->cap = n;
}

Test(ratings, csr_csc_invariants_and_round_trip) {
    const int64_t n = 5000, nu = 97, ni = 61;
    cf_triplets t;
    random_triplets(&t, n, nu + 3, ni, 1); /* indices < nu + 3: three maybe-empty rows beyond */
    cf_ratings R;
    cf_error err;
    cr_assert_eq(cf_ratings_build(&t, nu + 5, ni, &R, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(R.nnz, n);
    cr_assert_eq(R.row_ptr[0], 0);
    cr_assert_eq(R.row_ptr[nu + 5], n);
    cr_assert_eq(R.col_ptr[0], 0);
    cr_assert_eq(R.col_ptr[ni], n);
    cr_assert_eq(R.row_ptr[nu + 4], R.row_ptr[nu + 5], "rows past the data must be empty");
    int *seen = calloc((size_t)n, sizeof *seen);
    double sum = 0;
    for (int64_t u = 0; u < nu + 5; u++) {
        cr_assert_leq(R.row_ptr[u], R.row_ptr[u + 1]);
        float prev = -1;
        for (int64_t e = R.row_ptr[u]; e < R.row_ptr[u + 1]; e++) {
            int64_t k = (int64_t)R.row_val[e];
            cr_assert_eq(t.u[k], (uint32_t)u);
            cr_assert_eq(t.i[k], R.row_col[e]);
            cr_assert_gt(R.row_val[e], prev, "CSR row %lld is not in input order", (long long)u);
            prev = R.row_val[e];
            seen[k]++;
            sum += R.row_val[e];
        }
    }
    for (int64_t i = 0; i < ni; i++) {
        float prev = -1;
        for (int64_t e = R.col_ptr[i]; e < R.col_ptr[i + 1]; e++) {
            int64_t k = (int64_t)R.col_val[e];
            cr_assert_eq(t.i[k], (uint32_t)i);
            cr_assert_eq(t.u[k], R.col_row[e]);
            cr_assert_gt(R.col_val[e], prev);
            prev = R.col_val[e];
            seen[k]++;
        }
    }
    for (int64_t k = 0; k < n; k++) cr_assert_eq(seen[k], 2, "triplet %lld appears %d times", (long long)k, seen[k]);
    cr_assert_float_eq(R.mean, sum / (double)n, 1e-9);
    free(seen);
    cf_ratings_free(&R);
    cf_triplets_free(&t);
}

Test(ratings, index_outside_the_matrix_is_rejected) {
    cf_triplets t;
    random_triplets(&t, 10, 5, 5, 2);
    t.i[7] = 5;
    cf_ratings R;
    cf_error err;
    cr_assert_eq(cf_ratings_build(&t, 5, 5, &R, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "rating 7") != NULL, "%s", err.msg);
    cf_triplets_free(&t);
}

/* The offsets of rows past 2^31 and 2^32 ratings, through the layout's own arrays: a
 * cf_ratings whose row_ptr / col_ptr hold them (filled by cf_ratings_offsets from counts,
 * as cf_ratings_build does) gives every row its length back. An int or 32-bit offset
 * would wrap (it was a sizeof check, which could not fail for a wrong computation). */
Test(ratings, offsets_are_64_bit) {
    const int64_t counts[] = {(1LL << 31) - 1, 2, (1LL << 32) + 7, 0, 3};
    const int64_t n = (int64_t)(sizeof counts / sizeof *counts);
    cf_ratings R;
    memset(&R, 0, sizeof R);
    int64_t row[6] = {0}, col[6] = {0};
    R.row_ptr = row, R.col_ptr = col, R.n_users = n, R.n_items = n;
    for (int64_t k = 0; k < n; k++) row[k + 1] = counts[k], col[k + 1] = counts[n - 1 - k];
    cf_ratings_offsets(R.row_ptr, R.n_users);
    cf_ratings_offsets(R.col_ptr, R.n_items);
    R.nnz = R.row_ptr[n];
    cr_assert_eq(R.nnz, (1LL << 31) + (1LL << 32) + 11, "nnz %lld", (long long)R.nnz);
    cr_assert_eq(R.col_ptr[n], R.nnz);
    cr_assert_gt(R.row_ptr[2], (int64_t)INT32_MAX, "row 2 starts past 2^31");
    cr_assert_gt(R.row_ptr[3], (int64_t)UINT32_MAX, "row 3 starts past 2^32");
    for (int64_t k = 0; k < n; k++) {
        cr_assert_eq(R.row_ptr[k + 1] - R.row_ptr[k], counts[k], "row %lld", (long long)k);
        cr_assert_eq(R.col_ptr[k + 1] - R.col_ptr[k], counts[n - 1 - k], "column %lld", (long long)k);
    }
}

/* More than 2^31 (and 2^32) ratings: the offsets are 64-bit. Built from counts alone, as
 * a user with 1.5·10^9 ratings, one with 2^31 + 5, one with none and one with 2^32. */
Test(ratings, offsets_beyond_2_31_from_counts) {
    const int64_t c0 = 1500000000LL, c1 = (1LL << 31) + 5, c3 = 1LL << 32;
    int64_t ptr[5] = {0, c0, c1, 0, c3};
    cf_ratings_offsets(ptr, 4);
    cr_assert_eq(ptr[0], 0);
    cr_assert_eq(ptr[1], 1500000000LL);
    cr_assert_eq(ptr[2], 3647483653LL);
    cr_assert_eq(ptr[3], 3647483653LL);
    cr_assert_eq(ptr[4], 3647483653LL + 4294967296LL);
    cr_assert_eq(ptr[2] - ptr[1], c1, "row 1's length survives");
}

static void same_ratings(const cf_ratings *a, const cf_ratings *b, int threads) {
    cr_assert(a->nnz == b->nnz && a->n_users == b->n_users && a->n_items == b->n_items);
    size_t z = (size_t)a->nnz;
    cr_assert(!memcmp(a->row_ptr, b->row_ptr, ((size_t)a->n_users + 1) * 8), "%d threads: row_ptr", threads);
    cr_assert(!memcmp(a->col_ptr, b->col_ptr, ((size_t)a->n_items + 1) * 8), "%d threads: col_ptr", threads);
    cr_assert(!memcmp(a->row_col, b->row_col, z * 4) && !memcmp(a->row_val, b->row_val, z * 4), "%d threads: CSR",
              threads);
    cr_assert(!memcmp(a->col_row, b->col_row, z * 4) && !memcmp(a->col_val, b->col_val, z * 4), "%d threads: CSC",
              threads);
    cr_assert(!memcmp(&a->mean, &b->mean, sizeof a->mean), "%d threads: mean", threads);
}

/* The parallel build (past its 65536-rating threshold) is the serial one byte for byte,
 * for 2, 3 and 7 threads, with empty rows and columns; the first bad index is named. */
Test(ratings, parallel_build_is_the_serial_one) {
    cf_triplets t;
    random_triplets(&t, 200003, 7001, 313, 11);
    for (int64_t k = 0; k < t.n; k += 3) t.u[k] = (uint32_t)(t.u[k] % 50); /* skew: a few heavy rows */
    for (int64_t k = 0; k < t.n; k++) t.r[k] = (float)(k % 9) * 0.5f + 0.5f;
    cf_ratings ref, par;
    cf_error err;
    cr_assert_eq(cf_ratings_build_threads(&t, 7001 + 5, 313 + 2, 1, &ref, &err), CF_OK, "%s", err.msg);
    const int counts[] = {2, 3, 7};
    for (int c = 0; c < 3; c++) {
        cr_assert_eq(cf_ratings_build_threads(&t, 7001 + 5, 313 + 2, counts[c], &par, &err), CF_OK, "%s", err.msg);
        same_ratings(&ref, &par, counts[c]);
        cf_ratings_free(&par);
    }
    cf_ratings_free(&ref);
    t.i[150000] = 400, t.u[190000] = 9000;
    for (int c = 1; c <= 3; c++) {
        cr_assert_eq(cf_ratings_build_threads(&t, 7006, 315, c, &par, &err), CF_ERR_INVALID);
        cr_assert(strstr(err.msg, "rating 150000: index"), "%d threads: %s", c, err.msg);
    }
    free(t.u), free(t.i), free(t.r);
}

/* Building from one part of a list (the trainer's CSR/CSC from the dataset's training
 * part, without copying it) is byte for byte the build from a copy of that part in index
 * order, for 1, 2, 3 and 7 threads and both parts, with ratings whose sums a double
 * rounds (the mean must be the serial sum) and with multiples of 1/256 up to ±4096 (exact
 * in any order: the threads' sum); an index out of range is named by its place in the
 * part, as the copy's build names it. */
Test(ratings, build_from_a_part_is_the_build_from_its_copy) {
    cf_triplets t;
    random_triplets(&t, 200003, 7001, 313, 12);
    uint8_t *part = malloc((size_t)t.n);
    cr_assert(part);
    for (int64_t k = 0; k < t.n; k++) part[k] = (uint8_t)((k * 2654435761u >> 7) % 10 == 3); /* ≈ 10 % */
    cf_error err;
    for (int kind = 0; kind < 4; kind++) {
        const uint8_t want = (uint8_t)(kind & 1);
        for (int64_t k = 0; k < t.n; k++)
            t.r[k] = kind < 2 ? ldexpf(1.0f / (float)(1 + k % 13), (int)(k % 40) - 20)
                              : (float)(k % 8191 - 4095) + (float)(k % 256) / 256.0f;
        cf_triplets copy = {0};
        copy.u = malloc((size_t)t.n * 4), copy.i = malloc((size_t)t.n * 4), copy.r = malloc((size_t)t.n * 4);
        cr_assert(copy.u && copy.i && copy.r);
        for (int64_t k = 0; k < t.n; k++)
            if (part[k] == want) copy.u[copy.n] = t.u[k], copy.i[copy.n] = t.i[k], copy.r[copy.n++] = t.r[k];
        cr_assert(copy.n > 1000 && copy.n < t.n - 1000, "the part is a proper subset: %lld", (long long)copy.n);
        cf_ratings ref, got;
        cr_assert_eq(cf_ratings_build_threads(&copy, 7001, 313, 1, &ref, &err), CF_OK, "%s", err.msg);
        const int counts[] = {1, 2, 3, 7};
        for (int c = 0; c < 4; c++) {
            cr_assert_eq(cf_ratings_build_part(&t, part, want, 7001, 313, counts[c], &got, &err), CF_OK, "%s",
                         err.msg);
            cr_assert_eq(got.nnz, copy.n);
            same_ratings(&ref, &got, counts[c]);
            cf_ratings_free(&got);
        }
        cf_ratings_free(&ref);
        /* the part's 1001st rating out of range: both builds name rating 1000 */
        int64_t k = 0, seen = 0;
        while (seen < 1000 || part[k] != want) seen += part[k++] == want;
        t.i[k] = 400;
        copy.i[1000] = 400;
        cr_assert_eq(cf_ratings_build_threads(&copy, 7001, 313, 1, &ref, &err), CF_ERR_INVALID);
        cr_assert(strstr(err.msg, "rating 1000: index"), "%s", err.msg);
        for (int c = 1; c <= 3; c++) {
            cr_assert_eq(cf_ratings_build_part(&t, part, want, 7001, 313, c, &got, &err), CF_ERR_INVALID);
            cr_assert(strstr(err.msg, "rating 1000: index (") && strstr(err.msg, ", 400) outside"), "%d threads: %s",
                      c, err.msg);
        }
        t.i[k] = 0;
        free(copy.u), free(copy.i), free(copy.r);
    }
    free(part), free(t.u), free(t.i), free(t.r);
}
