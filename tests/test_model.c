/*
 * test_model.c — the model in use (predict, recommend, evaluate), the .cfm file
 * (round trip, layout and checksum as documented in src/model_io.c, corruption,
 * truncation, hostile contents, atomic save) and the NumPy export.
 *
 * Models are built by hand with cf_model_wrap; expected values are written out from
 * the hand-picked numbers. Hostile files are assembled byte by byte by a writer in
 * this file that follows the documented layout, with the documented checksum
 * re-implemented here, independently of the library's code.
 */
#include <criterion/criterion.h>

#include "common.h"
#include "dataset.h"
#include "factors.h"
#include "helpers.h"
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ fixtures */

static cf_idmap *make_map(const char *const *names, int n) {
    cf_idmap *m = cf_idmap_create();
    cr_assert_not_null(m);
    for (int k = 0; k < n; k++) {
        uint32_t idx;
        int added;
        cr_assert_eq(cf_idmap_intern(m, names[k], strlen(names[k]), &idx, &added), 0);
        cr_assert_eq(idx, (uint32_t)k);
        cr_assert_eq(added, 1);
    }
    return m;
}

/* The hand model: K = 2, μ = 3, three users, five items.
 *   alice p = ( 1.0, 0.5), b = 0.1      i1 q = ( 0.5, 0.25), b =  0.0
 *   bob   p = (-0.5, 2.0), b = -0.2     i2 q = ( 1.0, -1.0), b =  0.5
 *   carol p = ( 0.0, 0.0), b = 0.3      i3 q = ( 0.2, 0.4 ), b = -0.25
 *                                       i4 q = ( 0.5, 0.25), b =  0.0   (= i1)
 *                                       i5 q = (-1.0, 0.5 ), b =  1.0          */
static const char *const USERS[] = {"alice", "bob", "carol"};
static const char *const ITEMS[] = {"i1", "i2", "i3", "i4", "i5"};
static const double HP[] = {1.0, 0.5, -0.5, 2.0, 0.0, 0.0};
static const double HQ[] = {0.5, 0.25, 1.0, -1.0, 0.2, 0.4, 0.5, 0.25, -1.0, 0.5};
static const double HBU[] = {0.1, -0.2, 0.3};
static const double HBI[] = {0.0, 0.5, -0.25, 0.0, 1.0};

static cf_model *hand_model(int bias) {
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, 3, 5, 2, bias, &err), CF_OK);
    memcpy(f.P, HP, sizeof HP);
    memcpy(f.Q, HQ, sizeof HQ);
    if (bias) {
        memcpy(f.bu, HBU, sizeof HBU);
        memcpy(f.bi, HBI, sizeof HBI);
        f.mu = 3.0;
    }
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = 2;
    cfg.bias = bias;
    cf_model *m = cf_model_wrap(&f, make_map(USERS, 3), make_map(ITEMS, 5), &cfg);
    cr_assert_not_null(m);
    cr_assert_null(f.P, "wrap takes the arrays and zeroes the caller's struct");
    return m;
}

/* A model with awkward values and IDs: signed zeros, subnormals, huge (1e45: K·1e45·1e45 stays
 * under CF_PREDICTION_LIMIT, so every prediction is finite) and tiny values,
 * an empty ID, a 1000-byte ID, UTF-8 bytes; every config field off its default. */
/* cf_model_similar_items on hand-picked item factors (K = 2, no users needed):
 *   i1 (1, 0)   i2 (0, 1)   i3 (1, 1)   i4 (0, 0)   i5 (-2, 0)
 * similar to i1: i3 cos 1/√2, then i2 and i4 at 0 (i4 has no direction: 0 by definition;
 * the tie goes to the lower row), then i5 at -1; i1 itself is never listed.
 * cf_model_similar_items_among: the same lists without the items that are not candidates. */
Test(model, similar_items_hand_case) {
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, 1, 5, 2, 0, &err), CF_OK);
    const double Q[] = {1, 0, 0, 1, 1, 1, 0, 0, -2, 0};
    memcpy(f.Q, Q, sizeof Q);
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = 2, cfg.bias = 0;
    static const char *const one[] = {"u"};
    cf_model *m = cf_model_wrap(&f, make_map(one, 1), make_map(ITEMS, 5), &cfg);
    cr_assert_not_null(m);
    const char chars[] = "i1i4";
    const int64_t offs[] = {0, 2, 4};
    const cf_ids q = {.n = 2, .chars = chars, .offsets = offs};
    int64_t out[2 * 5];
    double sc[2 * 5];
    int32_t counts[2];
    cr_assert_eq(cf_model_similar_items(m, &q, 5, 0, out, sc, counts, &err), CF_OK, "%s", err.msg);
    const int64_t want1[] = {2, 1, 3, 4, -1};
    const double s1[] = {1 / sqrt(2.0), 0, 0, -1};
    cr_assert_eq(counts[0], 4);
    for (int j = 0; j < 5; j++) cr_assert_eq(out[j], want1[j], "rank %d: row %lld", j, (long long)out[j]);
    for (int j = 0; j < 4; j++) cr_assert_float_eq(sc[j], s1[j], 1e-15, "rank %d: %.17g", j, sc[j]);
    cr_assert(isnan(sc[4]));
    /* i4 (no direction): 0 to every other item, so the rows in order */
    const int64_t want4[] = {0, 1, 2, 4, -1};
    for (int j = 0; j < 5; j++) cr_assert_eq(out[5 + j], want4[j]);
    for (int j = 0; j < 4; j++) cr_assert_eq(sc[5 + j], 0.0);
    /* among candidates i1, i2, i5 (not i3, i4): i1's list is the full one without i3 and i4,
     * and i4, not a candidate itself, still has its list (of all three) */
    const uint8_t cand[] = {1, 1, 0, 0, 1};
    cr_assert_eq(cf_model_similar_items_among(m, &q, 5, cand, 2, out, sc, counts, &err), CF_OK, "%s", err.msg);
    cr_assert(counts[0] == 2 && out[0] == 1 && out[1] == 4 && out[2] == -1, "i1: i2, i5");
    cr_assert(sc[0] == 0.0 && sc[1] == -1.0 && isnan(sc[2]));
    cr_assert(counts[1] == 3 && out[5] == 0 && out[6] == 1 && out[7] == 4 && out[8] == -1, "i4: i1, i2, i5");
    const uint8_t all[] = {1, 1, 1, 1, 1};
    int64_t out2[2 * 5];
    double sc2[2 * 5];
    cr_assert_eq(cf_model_similar_items_among(m, &q, 5, all, 1, out2, sc2, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_similar_items(m, &q, 5, 1, out, sc, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert(memcmp(out, out2, sizeof out) == 0 && memcmp(sc, sc2, 9 * sizeof *sc) == 0, "every item a candidate");
    cf_model_destroy(&m);
}

static cf_model *odd_model(int64_t nu, int64_t ni, int32_t k, uint64_t seed) {
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, nu, ni, k, 1, &err), CF_OK);
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    static const double special[] = {0.0, -0.0, 5e-324, -2.2250738585072014e-308, 1e45,
                                     -1e-300, 1.0 / 3.0};
    double *arrs[4] = {f.P, f.Q, f.bu, f.bi};
    int64_t lens[4] = {nu * k, ni * k, nu, ni};
    for (int a = 0; a < 4; a++)
        for (int64_t j = 0; j < lens[a]; j++)
            arrs[a][j] = j < 7 ? special[(j + a) % 7] : cf_rng_normal(&rng) * 3.0;
    f.mu = 3.604166666666667;
    cf_idmap *users = cf_idmap_create(), *items = cf_idmap_create();
    char tok[1100];
    uint32_t idx;
    for (int64_t u = 0; u < nu; u++) {
        size_t len;
        if (u == 0) len = 0;
        else if (u == 1) memset(tok, 'x', 1000), len = 1000;
        else if (u == 2) len = (size_t)snprintf(tok, sizeof tok, "Zoë-π-%d", 2);
        else len = (size_t)snprintf(tok, sizeof tok, "user %lld", (long long)u);
        cr_assert_eq(cf_idmap_intern(users, tok, len, &idx, NULL), 0);
    }
    for (int64_t i = 0; i < ni; i++) {
        size_t len = (size_t)snprintf(tok, sizeof tok, "%lld", (long long)(1000 + i * 7));
        cr_assert_eq(cf_idmap_intern(items, tok, len, &idx, NULL), 0);
    }
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.algo = CF_ALGO_SGD;
    cfg.factors = k;
    cfg.iters = 3;
    cfg.lambda = 0.125;
    cfg.reg = CF_REG_PLAIN;
    cfg.bias = 1;
    cfg.tol = 1e-4;
    cfg.seed = 0xdeadbeefcafebabeULL;
    cfg.threads = 3;
    cfg.init_scale = 0.3;
    cfg.device = CF_DEVICE_CPU;
    cfg.gpu_id = 2;
    cfg.lr = 0.02;
    cfg.lr_schedule = CF_LR_INVSCALE;
    cfg.lr_decay = 0.5;
    cfg.schedule = CF_SCHED_BLOCKS;
    cfg.blocks = 5;
    cfg.batch = 12345678901LL;
    cfg.optimizer = CF_OPT_ADAM;
    cfg.inner = 9;
    cfg.early_stop = 4;
    cfg.restarts = 2;
    cf_model *m = cf_model_wrap(&f, users, items, &cfg);
    cr_assert_not_null(m);
    /* rating counts (a version-2 file): 0, the largest i64, then small ones */
    for (int sd = 0; sd < 2; sd++) {
        const int64_t n = sd ? ni : nu;
        cr_assert_not_null(m->n_ratings[sd] = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1)));
        for (int64_t r = 0; r < n; r++) m->n_ratings[sd][r] = r == 0 ? 0 : r == 1 ? INT64_MAX : (r * 7 + sd) % 13;
    }
    return m;
}

/* Entries of a directory other than . and .. */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------ predict */

Test(model, predict_matches_hand_computation) {
    cf_model *m = hand_model(1);
    cf_error err;
    double r;
    /* alice × i2: μ + b_alice + b_i2 + p·q */
    cr_assert_eq(cf_model_predict(m, "alice", "i2", &r, &err), CF_OK);
    cr_assert_float_eq(r, 3.0 + 0.1 + 0.5 + (1.0 * 1.0 + 0.5 * -1.0), 1e-12);
    cr_assert_eq(cf_model_predict(m, "bob", "i5", &r, &err), CF_OK);
    cr_assert_float_eq(r, 3.0 - 0.2 + 1.0 + (-0.5 * -1.0 + 2.0 * 0.5), 1e-12);
    cr_assert_eq(cf_model_predict(m, "carol", "i3", &r, &err), CF_OK);
    cr_assert_float_eq(r, 3.0 + 0.3 - 0.25 + 0.0, 1e-12);
    cf_model_destroy(&m);
    cr_assert_null(m);
    cf_model_destroy(&m); /* NULL is accepted */
    cf_model_destroy(NULL);
}

Test(model, predict_without_bias_is_the_dot_product) {
    cf_model *m = hand_model(0);
    cf_error err;
    double r;
    cr_assert_eq(cf_model_predict(m, "bob", "i2", &r, &err), CF_OK);
    cr_assert_float_eq(r, -0.5 * 1.0 + 2.0 * -1.0, 1e-12);
    cf_model_destroy(&m);
}

Test(model, predict_unknown_ids_are_not_found) {
    cf_model *m = hand_model(1);
    cf_error err;
    double r = 42;
    cr_assert_eq(cf_model_predict(m, "mallory", "i1", &r, &err), CF_ERR_NOT_FOUND);
    cr_assert_eq(err.status, CF_ERR_NOT_FOUND);
    cr_assert(strstr(err.msg, "user") && strstr(err.msg, "mallory"), "%s", err.msg);
    cr_assert_eq(cf_model_predict(m, "alice", "i9", &r, &err), CF_ERR_NOT_FOUND);
    cr_assert(strstr(err.msg, "item") && strstr(err.msg, "i9"), "%s", err.msg);
    cr_assert_eq(r, 42, "out is untouched on failure");
    /* an ID that is a prefix of a known one is still unknown */
    cr_assert_eq(cf_model_predict(m, "alic", "i1", &r, &err), CF_ERR_NOT_FOUND);
    cf_model_destroy(&m);
}

Test(model, info_reports_dims_and_config) {
    cf_model *m = hand_model(1);
    cf_model_info info;
    cf_model_info_get(m, &info);
    cr_assert_eq(info.n_users, 3);
    cr_assert_eq(info.n_items, 5);
    cr_assert_eq(info.factors, 2);
    cr_assert_eq(info.bias, 1);
    cr_assert_eq(info.mu, 3.0);
    cr_assert_eq(info.config.factors, 2);
    cr_assert_eq(info.config.algo, CF_ALGO_ALS);
    cf_model_destroy(&m);
}

/* ------------------------------------------------------------------ recommend */

/* cf_score_block, recommend's scoring of several users at once, gives cf_predict's
 * doubles bit for bit: for K from 1 to 129 (the 4 × 8 kernel's loop and remainders),
 * with and without biases, 1 to 16 users (groups of four, a short last one, repeated
 * users), blocks of 1 to CF_SCORE_ITEMS items at any offset (a short last octet). */
Test(model, score_block_is_cf_predict_bit_for_bit) {
    const int32_t ks[] = {1, 3, 8, 31, 32, 100, 129};
    for (size_t kk = 0; kk < sizeof ks / sizeof *ks; kk++)
        for (int bias = 0; bias < 2; bias++) {
            cf_factors f;
            cf_error err;
            const int64_t nu = 40, ni = 700;
            cr_assert_eq(cf_factors_alloc(&f, nu, ni, ks[kk], bias, &err), CF_OK);
            cf_factors_init_random(&f, 1.0, 7 + (uint64_t)kk);
            f.mu = 3.25;
            for (int64_t u = 0; bias && u < nu; u++) f.bu[u] = 0.01 * (double)(u % 13) - 0.05;
            for (int64_t i = 0; bias && i < ni; i++) f.bi[i] = 0.003 * (double)(i % 29) - 0.04;
            double *qt = malloc(cf_score_qt_doubles(&f) * sizeof *qt);
            double *out = malloc((size_t)16 * CF_SCORE_ITEMS * sizeof *out);
            const int ms[] = {1, 3, 4, 7, 16};
            const int64_t blocks[][2] = {{0, CF_SCORE_ITEMS}, {5, 1}, {256, 13}, {600, 100}, {689, 11}};
            for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
                for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
                    uint32_t users[16];
                    for (int a = 0; a < ms[mi]; a++) users[a] = (uint32_t)((a * 7 + (int)b) % 20); /* repeats too */
                    cf_score_block(&f, users, ms[mi], blocks[b][0], blocks[b][1], qt, out);
                    for (int a = 0; a < ms[mi]; a++)
                        for (int64_t j = 0; j < blocks[b][1]; j++) {
                            const double want = cf_predict(&f, users[a], (uint32_t)(blocks[b][0] + j));
                            const double got = out[(size_t)a * CF_SCORE_ITEMS + (size_t)j];
                            cr_assert(memcmp(&got, &want, sizeof got) == 0,
                                      "K %d bias %d m %d: user %u item %lld: %.17g, cf_predict %.17g", ks[kk], bias,
                                      ms[mi], users[a], (long long)(blocks[b][0] + j), got, want);
                        }
                }
            free(qt), free(out);
            cf_factors_free(&f);
        }
}

/* alice's scores: i1 = i4 = 3.725 (a tie), i2 = 4.1, i3 = 3.25, i5 = 3.35 */
static const double A_I1 = 3.0 + 0.1 + 0.0 + (1.0 * 0.5 + 0.5 * 0.25);
static const double A_I2 = 3.0 + 0.1 + 0.5 + (1.0 * 1.0 + 0.5 * -1.0);
static const double A_I3 = 3.0 + 0.1 - 0.25 + (1.0 * 0.2 + 0.5 * 0.4);
static const double A_I5 = 3.0 + 0.1 + 1.0 + (1.0 * -1.0 + 0.5 * 0.5);

static void expect_recs(const cf_recommendation *got, int32_t n_got, const char *const *items,
                        const double *scores, int32_t n) {
    cr_assert_eq(n_got, n, "got %d recommendations, expected %d", n_got, n);
    for (int32_t k = 0; k < n; k++) {
        cr_assert_str_eq(got[k].item, items[k], "rank %d: %s, expected %s", k, got[k].item, items[k]);
        cr_assert_float_eq(got[k].score, scores[k], 1e-12, "rank %d score", k);
    }
}

Test(model, recommend_orders_by_score_and_breaks_ties_by_index) {
    cf_model *m = hand_model(1);
    cf_error err;
    cf_recommendation out[10];
    int32_t n = -1;
    cr_assert_eq(cf_model_recommend(m, "alice", 5, NULL, out, &n, &err), CF_OK);
    const char *all[] = {"i2", "i1", "i4", "i5", "i3"};
    const double sc[] = {A_I2, A_I1, A_I1, A_I5, A_I3};
    expect_recs(out, n, all, sc, 5);
    /* the tie i1 = i4 sits on the cut: the lower index wins */
    cr_assert_eq(cf_model_recommend(m, "alice", 2, NULL, out, &n, &err), CF_OK);
    expect_recs(out, n, all, sc, 2);
    cr_assert_eq(cf_model_recommend(m, "alice", 3, NULL, out, &n, &err), CF_OK);
    expect_recs(out, n, all, sc, 3);
    cr_assert_eq(cf_model_recommend(m, "alice", 1, NULL, out, &n, &err), CF_OK);
    expect_recs(out, n, all, sc, 1);
    /* more than there are items: all of them */
    cr_assert_eq(cf_model_recommend(m, "alice", 10, NULL, out, &n, &err), CF_OK);
    expect_recs(out, n, all, sc, 5);
    cf_model_destroy(&m);
}

Test(model, recommend_excludes_rated_items_by_id) {
    cf_model *m = hand_model(1);
    cf_error err;
    /* the dataset has its own maps, in another order, with IDs the model lacks */
    cf_dataset *ds = cf_dataset_create();
    cr_assert_not_null(ds);
    uint32_t u_bob, u_alice, i_zz, i_i4, i_i2, i_i3, i_i1;
    cr_assert_eq(cf_idmap_intern(ds->users, "bob", 3, &u_bob, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->users, "alice", 5, &u_alice, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "zz", 2, &i_zz, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "i4", 2, &i_i4, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "i2", 2, &i_i2, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "i3", 2, &i_i3, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "i1", 2, &i_i1, NULL), 0);
    cr_assert_eq(cf_dataset_push(ds, u_alice, i_i2, 5.0f, 0), 0); /* train part */
    cr_assert_eq(cf_dataset_push(ds, u_alice, i_zz, 1.0f, 0), 0); /* unknown to the model */
    cr_assert_eq(cf_dataset_push(ds, u_alice, i_i3, 2.0f, 1), 0); /* test part counts too */
    cr_assert_eq(cf_dataset_push(ds, u_bob, i_i1, 4.0f, 0), 0);   /* someone else's */
    cr_assert_eq(cf_dataset_push(ds, u_bob, i_i4, 4.0f, 1), 0);

    cf_recommendation out[5];
    int32_t n;
    cr_assert_eq(cf_model_recommend(m, "alice", 5, ds, out, &n, &err), CF_OK);
    const char *items[] = {"i1", "i4", "i5"};
    const double sc[] = {A_I1, A_I1, A_I5};
    expect_recs(out, n, items, sc, 3);
    /* bob rated i1 and i4: his list is i2, i3, i5 in score order */
    cr_assert_eq(cf_model_recommend(m, "bob", 5, ds, out, &n, &err), CF_OK);
    cr_assert_eq(n, 3);
    double b2 = 3.0 - 0.2 + 0.5 + (-0.5 * 1.0 + 2.0 * -1.0);
    double b3 = 3.0 - 0.2 - 0.25 + (-0.5 * 0.2 + 2.0 * 0.4);
    double b5 = 3.0 - 0.2 + 1.0 + (-0.5 * -1.0 + 2.0 * 0.5);
    const char *bob_items[] = {"i5", "i3", "i2"};
    const double bob_sc[] = {b5, b3, b2};
    cr_assert(b5 > b3 && b3 > b2, "the hand numbers give this order");
    expect_recs(out, n, bob_items, bob_sc, 3);
    /* carol is not in the dataset: nothing excluded */
    cr_assert_eq(cf_model_recommend(m, "carol", 5, ds, out, &n, &err), CF_OK);
    cr_assert_eq(n, 5);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

Test(model, recommend_everything_excluded_gives_nothing) {
    cf_model *m = hand_model(1);
    cf_error err;
    cf_dataset *ds = cf_dataset_create();
    uint32_t u, i;
    cr_assert_eq(cf_idmap_intern(ds->users, "carol", 5, &u, NULL), 0);
    for (int k = 4; k >= 0; k--) {
        cr_assert_eq(cf_idmap_intern(ds->items, ITEMS[k], strlen(ITEMS[k]), &i, NULL), 0);
        cr_assert_eq(cf_dataset_push(ds, u, i, 3.0f, k % 2), 0);
    }
    cf_recommendation out[3];
    int32_t n = 99;
    cr_assert_eq(cf_model_recommend(m, "carol", 3, ds, out, &n, &err), CF_OK);
    cr_assert_eq(n, 0);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

Test(model, recommend_rejects_bad_arguments) {
    cf_model *m = hand_model(1);
    cf_error err;
    cf_recommendation out[3];
    int32_t n;
    cr_assert_eq(cf_model_recommend(m, "mallory", 3, NULL, out, &n, &err), CF_ERR_NOT_FOUND);
    cr_assert(strstr(err.msg, "mallory"), "%s", err.msg);
    cr_assert_eq(n, 0);
    cr_assert_eq(cf_model_recommend(m, "alice", 0, NULL, out, &n, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "n"), "%s", err.msg);
    cr_assert_eq(cf_model_recommend(m, "alice", -3, NULL, out, &n, &err), CF_ERR_INVALID);
    cf_model_destroy(&m);
}

/* ------------------------------------------------------------------ evaluate */

Test(model, evaluate_known_and_unseen) {
    cf_model *m = hand_model(1);
    cf_error err;
    cf_dataset *ds = cf_dataset_create();
    uint32_t carol, alice, dave, i3, i1, nw;
    cr_assert_eq(cf_idmap_intern(ds->users, "carol", 5, &carol, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->users, "alice", 5, &alice, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->users, "dave", 4, &dave, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "i3", 2, &i3, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "i1", 2, &i1, NULL), 0);
    cr_assert_eq(cf_idmap_intern(ds->items, "new", 3, &nw, NULL), 0);
    cr_assert_eq(cf_dataset_push(ds, alice, i1, 4.0f, 0), 0);
    cr_assert_eq(cf_dataset_push(ds, carol, i3, 2.0f, 1), 0);
    cr_assert_eq(cf_dataset_push(ds, dave, i1, 5.0f, 0), 0);
    cr_assert_eq(cf_dataset_push(ds, alice, nw, 1.0f, 1), 0);
    cr_assert_eq(cf_dataset_push(ds, dave, nw, 3.5f, 0), 0);
    double e[5] = {
        4.0 - A_I1,                 /* known */
        2.0 - (3.0 + 0.3 - 0.25),   /* known: carol has zero factors */
        5.0 - (3.0 + 0.0),          /* unknown user: μ + b_i1 */
        1.0 - (3.0 + 0.1),          /* unknown item: μ + b_alice */
        3.5 - 3.0,                  /* both unknown: μ */
    };
    double sse = 0, sae = 0;
    for (int k = 0; k < 5; k++) sse += e[k] * e[k], sae += fabs(e[k]);
    cf_eval_report rep;
    cr_assert_eq(cf_model_evaluate(m, ds, &rep, &err), CF_OK);
    cr_assert_eq(rep.count, 5);
    cr_assert_eq(rep.unseen, 3);
    cr_assert_float_eq(rep.rmse, sqrt(sse / 5), 1e-12);
    cr_assert_float_eq(rep.mae, sae / 5, 1e-12);

    /* without biases an unseen rating is predicted as 0 */
    cf_model *m0 = hand_model(0);
    cr_assert_eq(cf_model_evaluate(m0, ds, &rep, &err), CF_OK);
    double e0[5] = {4.0 - (1.0 * 0.5 + 0.5 * 0.25), 2.0 - 0.0, 5.0, 1.0, 3.5};
    sse = sae = 0;
    for (int k = 0; k < 5; k++) sse += e0[k] * e0[k], sae += fabs(e0[k]);
    cr_assert_eq(rep.unseen, 3);
    cr_assert_float_eq(rep.rmse, sqrt(sse / 5), 1e-12);
    cr_assert_float_eq(rep.mae, sae / 5, 1e-12);
    cf_model_destroy(&m0);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

Test(model, evaluate_empty_dataset_is_nan) {
    cf_model *m = hand_model(1);
    cf_error err;
    cf_dataset *ds = cf_dataset_create();
    cf_eval_report rep;
    cr_assert_eq(cf_model_evaluate(m, ds, &rep, &err), CF_OK);
    cr_assert_eq(rep.count, 0);
    cr_assert(isnan(rep.rmse) && isnan(rep.mae));
    cf_dataset_destroy(&ds);
    cf_model_destroy(&m);
}

/* ------------------------------------------------------------------ save / load */

static void assert_same_model(const cf_model *a, const cf_model *b) {
    const cf_factors *fa = &a->f, *fb = &b->f;
    cr_assert_eq(fa->n_users, fb->n_users);
    cr_assert_eq(fa->n_items, fb->n_items);
    cr_assert_eq(fa->k, fb->k);
    cr_assert_eq(fa->bias, fb->bias);
    cr_assert_eq(memcmp(&fa->mu, &fb->mu, 8), 0, "mu bit-exact");
    size_t k = (size_t)fa->k;
    cr_assert_eq(memcmp(fa->P, fb->P, (size_t)fa->n_users * k * 8), 0, "P bit-exact");
    cr_assert_eq(memcmp(fa->Q, fb->Q, (size_t)fa->n_items * k * 8), 0, "Q bit-exact");
    cr_assert_eq(memcmp(fa->bu, fb->bu, (size_t)fa->n_users * 8), 0, "b_u bit-exact");
    cr_assert_eq(memcmp(fa->bi, fb->bi, (size_t)fa->n_items * 8), 0, "b_i bit-exact");
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(!a->n_ratings[s], !b->n_ratings[s], "rating counts of side %d both kept or both absent", s);
        if (a->n_ratings[s])
            cr_assert_eq(memcmp(a->n_ratings[s], b->n_ratings[s], sizeof(int64_t) * (size_t)(s ? fa->n_items : fa->n_users)),
                         0, "rating counts of side %d", s);
    }
    const cf_idmap *ma[2] = {a->users, a->items}, *mb[2] = {b->users, b->items};
    for (int s = 0; s < 2; s++) {
        cr_assert_eq(cf_idmap_size(ma[s]), cf_idmap_size(mb[s]));
        for (int64_t j = 0; j < cf_idmap_size(ma[s]); j++) {
            size_t la, lb;
            const char *na = cf_idmap_name(ma[s], (uint32_t)j, &la);
            const char *nb = cf_idmap_name(mb[s], (uint32_t)j, &lb);
            cr_assert(la == lb && memcmp(na, nb, la) == 0, "ID %lld of map %d", (long long)j, s);
        }
    }
    const cf_config *ca = &a->config, *cb = &b->config;
#define SAME(field) cr_assert(memcmp(&ca->field, &cb->field, sizeof ca->field) == 0, "config." #field)
    SAME(algo); SAME(factors); SAME(iters); SAME(lambda); SAME(reg); SAME(bias); SAME(tol);
    SAME(seed); SAME(threads); SAME(init_scale); SAME(device); SAME(gpu_id); SAME(lr);
    SAME(lr_schedule); SAME(lr_decay); SAME(schedule); SAME(blocks); SAME(batch);
    SAME(optimizer); SAME(inner); SAME(early_stop); SAME(restarts); SAME(precision);
#undef SAME
    /* a file keeps the biases' λ and mode explicit where the model may say "same" */
    cr_assert(cf_bias_lambda(ca) == cf_bias_lambda(cb) && cf_bias_reg(ca) == cf_bias_reg(cb),
              "config bias regularization: %g %s vs %g %s", cf_bias_lambda(ca), cf_reg_name(cf_bias_reg(ca)),
              cf_bias_lambda(cb), cf_reg_name(cf_bias_reg(cb)));
}

Test(model_io, round_trip_is_bit_exact) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cf_error err;
    cf_model *models[3] = {hand_model(1), hand_model(0), odd_model(57, 23, 7, 11)};
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(cf_model_save(models[k], path, &err), CF_OK, "%s", err.msg);
        cf_model *back = NULL;
        cr_assert_eq(cf_model_load(path, &back, &err), CF_OK, "%s", err.msg);
        assert_same_model(models[k], back);
        cf_model_destroy(&back);
        cf_model_destroy(&models[k]);
    }
    cr_assert_eq(count_entries(dir), 1, "only the model file, no temporary left");
    cf_test_rmtree(dir);
    free(path), free(dir);
}

Test(model_io, loaded_model_predicts_by_id) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cf_error err;
    cf_model *m = hand_model(1), *back = NULL;
    cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_load(path, &back, &err), CF_OK, "%s", err.msg);
    double r;
    cr_assert_eq(cf_model_predict(back, "alice", "i2", &r, &err), CF_OK);
    cr_assert_float_eq(r, A_I2, 1e-12);
    cf_recommendation out[2];
    int32_t n;
    cr_assert_eq(cf_model_recommend(back, "alice", 2, NULL, out, &n, &err), CF_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[0].item, "i2");
    cr_assert_str_eq(out[1].item, "i1");
    cf_model_destroy(&back);
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

/* ---- the documented layout and checksum, re-implemented here */

static uint64_t doc_mix(uint64_t h, uint64_t w) {
    h ^= w;
    h *= 0x100000001b3ULL;
    return h ^ (h >> 32);
}

static uint64_t doc_checksum(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t w = 0;
        for (int b = 7; b >= 0; b--) w = (w << 8) | p[k + (size_t)b];
        h = doc_mix(h, w);
    }
    for (; k < n; k++) h = doc_mix(h, p[k]);
    return doc_mix(h, (uint64_t)n);
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--) v = (v << 8) | p[b];
    return v;
}
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static double lef64(const unsigned char *p) {
    uint64_t v = le64(p);
    double d;
    memcpy(&d, &v, 8);
    return d;
}

Test(model_io, file_layout_is_as_documented) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cf_error err;
    cf_model *m = odd_model(5, 4, 3, 2);
    cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
    size_t n;
    unsigned char *b = (unsigned char *)cf_test_read(path, &n);
    cr_assert_not_null(b);
    cr_assert_eq(memcmp(b, "CUFACTOR", 8), 0);
    cr_assert_eq(le32(b + 8), 2u, "version 2: with rating counts");
    cr_assert_eq(le32(b + 12), 164u, "header size");
    cr_assert_eq(le64(b + 16), 5u);
    cr_assert_eq(le64(b + 24), 4u);
    cr_assert_eq(le32(b + 32), 3u);
    cr_assert_eq(le32(b + 36), 1u, "flags: bias");
    cr_assert_eq(lef64(b + 40), m->f.mu);
    cr_assert_eq(le32(b + 48), (uint32_t)CF_ALGO_SGD, "config.algo");
    cr_assert_eq(lef64(b + 60), 0.125, "config.lambda");
    cr_assert_eq(le64(b + 84), 0xdeadbeefcafebabeULL, "config.seed");
    cr_assert_eq(le64(b + 140), 12345678901ULL, "config.batch");
    cr_assert_eq(le32(b + 160), 2u, "config.restarts, last field");
    /* arrays: P[0][0] then Q, b_u, b_i */
    size_t at = 164;
    for (int64_t j = 0; j < 15; j++, at += 8) cr_assert_eq(memcmp(b + at, &m->f.P[j], 8), 0, "P %lld", (long long)j);
    for (int64_t j = 0; j < 12; j++, at += 8) cr_assert_eq(memcmp(b + at, &m->f.Q[j], 8), 0);
    for (int64_t j = 0; j < 5; j++, at += 8) cr_assert_eq(memcmp(b + at, &m->f.bu[j], 8), 0);
    for (int64_t j = 0; j < 4; j++, at += 8) cr_assert_eq(memcmp(b + at, &m->f.bi[j], 8), 0);
    /* rating counts, users then items */
    for (int64_t j = 0; j < 5; j++, at += 8) cr_assert_eq(le64(b + at), (uint64_t)m->n_ratings[0][j], "user count %lld", (long long)j);
    for (int64_t j = 0; j < 4; j++, at += 8) cr_assert_eq(le64(b + at), (uint64_t)m->n_ratings[1][j]);
    /* IDs */
    cr_assert_eq(le64(b + at), 5u, "user count");
    at += 8;
    cr_assert_eq(le32(b + at), 0u, "user 0 is the empty ID");
    at += 4;
    cr_assert_eq(le32(b + at), 1000u);
    at += 4 + 1000;
    for (int u = 2; u < 5; u++) at += 4 + le32(b + at);
    cr_assert_eq(le64(b + at), 4u, "item count");
    at += 8;
    cr_assert_eq(le32(b + at), 4u);
    cr_assert_eq(memcmp(b + at + 4, "1000", 4), 0);
    at += 8;
    for (int i = 1; i < 4; i++) at += 4 + le32(b + at);
    cr_assert_eq(at + 8, n, "the checksum is the last 8 bytes");
    cr_assert_eq(le64(b + at), doc_checksum(b, at), "checksum as documented");
    free(b);
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

/* ---- corruption and truncation of a real file */

/* v3: with the biases regularized apart (a version-3 file) */
static char *saved_small_model(char **dir, size_t *len, unsigned char **bytes, int v3) {
    *dir = cf_test_tmpdir();
    char *path = cf_test_path(*dir, "m.cfm");
    cf_error err;
    cf_model *m = odd_model(4, 3, 2, 5);
    if (v3) m->config.bias_lambda = 25.0, m->config.bias_reg = CF_REG_PLAIN;
    cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&m);
    *bytes = (unsigned char *)cf_test_read(path, len);
    cr_assert_not_null(*bytes);
    return path;
}

Test(model_io, every_flipped_byte_is_corrupt) {
  for (int v3 = 0; v3 <= 1; v3++) {
    char *dir;
    size_t n;
    unsigned char *orig;
    char *path = saved_small_model(&dir, &n, &orig, v3);
    cr_assert_eq(le32(orig + 8), v3 ? 3u : 2u, "version");
    char *bad = cf_test_path(dir, "bad.cfm");
    cf_error err;
    static const unsigned char masks[] = {0x01, 0x80, 0xff};
    free(cf_test_write(dir, "bad.cfm", (const char *)orig, n));
    FILE *fp = fopen(bad, "r+b");
    cr_assert_not_null(fp);
    setvbuf(fp, NULL, _IONBF, 0);
    for (size_t off = 0; off < n; off++) {
        for (int mk = 0; mk < 3; mk++) {
            /* patch one byte in place, load, put it back */
            unsigned char c = orig[off] ^ masks[mk];
            cr_assert(fseek(fp, (long)off, SEEK_SET) == 0 && fwrite(&c, 1, 1, fp) == 1);
            cf_model *m = NULL;
            cf_status st = cf_model_load(bad, &m, &err);
            cr_assert_eq(st, CF_ERR_CORRUPT, "offset %zu of %zu, mask 0x%02x: %s (%s)", off, n,
                         masks[mk], cf_status_name(st), st ? err.msg : "loaded");
            cr_assert_null(m);
            cr_assert(strstr(err.msg, bad), "message names the path: %s", err.msg);
            cr_assert(fseek(fp, (long)off, SEEK_SET) == 0 && fwrite(&orig[off], 1, 1, fp) == 1);
        }
    }
    fclose(fp);
    cf_model *m = NULL;
    cr_assert_eq(cf_model_load(bad, &m, &err), CF_OK, "restored file loads: %s", err.msg);
    cf_model_destroy(&m);
    free(orig), free(bad), free(path);
    cf_test_rmtree(dir);
    free(dir);
  }
}

Test(model_io, every_truncation_fails_cleanly) {
  for (int v3 = 0; v3 <= 1; v3++) {
    char *dir;
    size_t n;
    unsigned char *orig;
    char *path = saved_small_model(&dir, &n, &orig, v3);
    char *bad = cf_test_path(dir, "short.cfm");
    cf_error err;
    free(cf_test_write(dir, "short.cfm", (const char *)orig, n));
    /* from the longest cut down to the empty file, truncating one file in place */
    for (size_t len = n; len-- > 0;) {
        cr_assert_eq(truncate(bad, (off_t)len), 0);
        cf_model *m = NULL;
        cf_status st = cf_model_load(bad, &m, &err);
        cr_assert(st == CF_ERR_CORRUPT || st == CF_ERR_IO, "length %zu of %zu: %s", len, n,
                  cf_status_name(st));
        cr_assert_null(m);
    }
    /* and appending anything is corrupt too */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, orig, n);
    longer[n] = 0;
    free(cf_test_write(dir, "short.cfm", (const char *)longer, n + 1));
    cf_model *m = NULL;
    cr_assert_eq(cf_model_load(bad, &m, &err), CF_ERR_CORRUPT);
    free(longer), free(orig), free(bad), free(path);
    cf_test_rmtree(dir);
    free(dir);
  }
}

/* ---- hostile files assembled here, with valid checksums */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void b_put(buf *b, const void *v, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->n, v, n);
    b->n += n;
}
static void b_u32(buf *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    b_put(b, x, 4);
}
static void b_u64(buf *b, uint64_t v) {
    b_u32(b, (uint32_t)v);
    b_u32(b, (uint32_t)(v >> 32));
}
static void b_f64(buf *b, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    b_u64(b, v);
}

/* What to build: a 2-user, 3-item, K=2 model by default, with knobs to break it. */
typedef struct spec {
    const char *magic;
    uint32_t version, header_size;
    int64_t nu, ni;
    int32_t k, flags;
    double mu;
    int32_t cfg_factors, cfg_reg;
    double p0;                  /* P[0][0] */
    const char *users[3];       /* NULL-terminated lists */
    const char *items[4];
    uint64_t user_count;        /* as stored */
    uint32_t bad_len;           /* if non-zero: stored length of the last item ID */
    size_t trailing;            /* extra zero bytes before the checksum */
    int64_t count0;             /* version 2: the first user's rating count (the others fixed) */
} spec;

static spec good_spec(void) {
    spec s = {"CUFACTOR", 1, 164, 2, 3, 2, 1, 3.5, 2, CF_REG_WEIGHTED, 0.25,
              {"u1", "u2", NULL}, {"a", "b", "c", NULL}, 2, 0, 0, 3};
    return s;
}

static buf build(const spec *s) {
    buf b = {NULL, 0, 0};
    b_put(&b, s->magic, 8);
    b_u32(&b, s->version);
    b_u32(&b, s->header_size);
    b_u64(&b, (uint64_t)s->nu);
    b_u64(&b, (uint64_t)s->ni);
    b_u32(&b, (uint32_t)s->k);
    b_u32(&b, (uint32_t)s->flags);
    b_f64(&b, s->mu);
    cf_config c;
    cf_config_default(&c);
    /* config, field by field as documented */
    b_u32(&b, (uint32_t)c.algo);
    b_u32(&b, (uint32_t)s->cfg_factors);
    b_u32(&b, (uint32_t)c.iters);
    b_f64(&b, c.lambda);
    b_u32(&b, (uint32_t)s->cfg_reg);
    b_u32(&b, (uint32_t)c.bias);
    b_f64(&b, c.tol);
    b_u64(&b, c.seed);
    b_u32(&b, (uint32_t)c.threads);
    b_f64(&b, c.init_scale);
    b_u32(&b, (uint32_t)c.device);
    b_u32(&b, (uint32_t)c.gpu_id);
    b_f64(&b, c.lr);
    b_u32(&b, (uint32_t)c.lr_schedule);
    b_f64(&b, c.lr_decay);
    b_u32(&b, (uint32_t)c.schedule);
    b_u32(&b, (uint32_t)c.blocks);
    b_u64(&b, (uint64_t)c.batch);
    b_u32(&b, (uint32_t)c.optimizer);
    b_u32(&b, (uint32_t)c.inner);
    b_u32(&b, (uint32_t)c.early_stop);
    b_u32(&b, (uint32_t)c.restarts);
    cr_assert_eq(b.n, 164u, "builder header");
    /* arrays sized from the real 2 × 3 × 2 content, whatever the header claims */
    for (int j = 0; j < 2 * 2; j++) b_f64(&b, j == 0 ? s->p0 : 0.5 * j);
    for (int j = 0; j < 3 * 2; j++) b_f64(&b, -0.25 * j);
    for (int j = 0; j < 2; j++) b_f64(&b, 0.1 * j);
    for (int j = 0; j < 3; j++) b_f64(&b, -0.1 * j);
    if (s->version >= 2) { /* rating counts: users {count0, 1}, items {2, 1, 1} */
        const int64_t cnt[5] = {s->count0, 1, 2, 1, 1};
        for (int j = 0; j < 5; j++) b_u64(&b, (uint64_t)cnt[j]);
    }
    b_u64(&b, s->user_count);
    for (int j = 0; s->users[j]; j++) {
        b_u32(&b, (uint32_t)strlen(s->users[j]));
        b_put(&b, s->users[j], strlen(s->users[j]));
    }
    int n_items = 0;
    while (s->items[n_items]) n_items++;
    b_u64(&b, (uint64_t)n_items);
    for (int j = 0; j < n_items; j++) {
        uint32_t len = (uint32_t)strlen(s->items[j]);
        b_u32(&b, j == n_items - 1 && s->bad_len ? s->bad_len : len);
        b_put(&b, s->items[j], len);
    }
    for (size_t t = 0; t < s->trailing; t++) b_put(&b, "", 1);
    b_u64(&b, doc_checksum(b.p, b.n));
    return b;
}

/* Loads the built file; returns the status and leaves the message in err. */
static cf_status load_spec(const spec *s, cf_error *err, cf_model **out) {
    char *dir = cf_test_tmpdir();
    buf b = build(s);
    char *path = cf_test_write(dir, "h.cfm", (const char *)b.p, b.n);
    cf_model *m = NULL;
    cf_status st = cf_model_load(path, &m, err);
    if (out) *out = m;
    else cf_model_destroy(&m);
    free(b.p), free(path);
    cf_test_rmtree(dir);
    free(dir);
    return st;
}

static void expect_corrupt(const spec *s, const char *words) {
    cf_error err;
    cf_status st = load_spec(s, &err, NULL);
    cr_assert_eq(st, CF_ERR_CORRUPT, "%s: got %s (%s)", words, cf_status_name(st), err.msg);
    cr_assert(strstr(err.msg, "h.cfm"), "message names the file: %s", err.msg);
    cr_assert(strstr(err.msg, words), "message says '%s': %s", words, err.msg);
}

Test(model_io, hand_built_file_loads) {
    spec s = good_spec();
    cf_error err;
    cf_model *m = NULL;
    cr_assert_eq(load_spec(&s, &err, &m), CF_OK, "%s", err.msg);
    double r;
    /* u2 × c: μ + b_u2 + b_c + p_u2·q_c = 3.5 + 0.1 − 0.2 + (1.0·−1.0 + 1.5·−1.25) */
    cr_assert_eq(cf_model_predict(m, "u2", "c", &r, &err), CF_OK);
    cr_assert_float_eq(r, 3.5 + 0.1 - 0.2 + (1.0 * -1.0 + 1.5 * -1.25), 1e-12);
    cf_model_destroy(&m);
}

/* config.precision travels in flags bit 1; a file without it (every file written before
 * the field existed) loads as fp32. */
Test(model_io, precision_is_flags_bit_1) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cf_error err;
    cf_model *m = hand_model(1);
    m->config.algo = CF_ALGO_SGD;
    m->config.device = CF_DEVICE_GPU;
    m->config.precision = CF_PRECISION_FP16;
    cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
    FILE *fp = fopen(path, "rb");
    unsigned char b[40];
    cr_assert(fp && fread(b, 1, 40, fp) == 40);
    fclose(fp);
    cr_assert_eq(le32(b + 36), 3u, "flags: bias | fp16");
    cf_model *back = NULL;
    cr_assert_eq(cf_model_load(path, &back, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(back->config.precision, CF_PRECISION_FP16);
    assert_same_model(m, back);
    cf_model_destroy(&back);
    cf_model_destroy(&m);

    spec s = good_spec(); /* flags = 1: an old file */
    cr_assert_eq(load_spec(&s, &err, &back), CF_OK, "%s", err.msg);
    cr_assert_eq(back->config.precision, CF_PRECISION_FP32);
    cf_model_destroy(&back);
    s.flags = 3; /* fp16 with the stored algo als: the config check refuses it */
    expect_corrupt(&s, "precision");
    cf_test_rmtree(dir);
    free(path), free(dir);
}

Test(model_io, hostile_headers) {
    spec s = good_spec();
    s.magic = "CUFACTOX";
    expect_corrupt(&s, "not a cufactor model");
    s = good_spec();
    s.version = 4;
    expect_corrupt(&s, "version 4 not supported");
    s = good_spec(); /* version 3's header is 176 bytes */
    s.version = 3;
    expect_corrupt(&s, "header size 164, version 3 has 176");
    s = good_spec();
    s.version = 0;
    expect_corrupt(&s, "version 0 not supported");
    s = good_spec();
    s.version = 2;
    s.count0 = -1;
    expect_corrupt(&s, "user row 0: rating count -1 < 0");
    s = good_spec();
    s.header_size = 200;
    expect_corrupt(&s, "header size");
    s = good_spec();
    s.nu = (int64_t)1 << 40;
    expect_corrupt(&s, "n_users");
    s = good_spec();
    s.nu = -1;
    expect_corrupt(&s, "n_users");
    s = good_spec();
    s.ni = 1000000000; /* 8 GB of factors claimed by a tiny file: refused before allocating */
    expect_corrupt(&s, "needs at least");
    s = good_spec();
    s.k = 0;
    expect_corrupt(&s, "K");
    s = good_spec();
    s.k = 5000;
    expect_corrupt(&s, "K");
    s = good_spec();
    s.k = 1; /* passes the size checks, but the ID lists no longer line up */
    expect_corrupt(&s, "IDs");
    s = good_spec();
    s.flags = 5; /* bit 2 is not defined (bit 1 is fp16 storage) */
    expect_corrupt(&s, "flags");
    s = good_spec();
    s.mu = NAN;
    expect_corrupt(&s, "mean");
    s = good_spec();
    s.cfg_factors = 0;
    expect_corrupt(&s, "factors");
    s = good_spec();
    s.cfg_reg = 7;
    expect_corrupt(&s, "reg");
}

/* found by fuzz_model: finite factors near DBL_MAX made r̂ = -inf. A file whose values can
 * overflow a prediction is corrupt, and save refuses to write one. */
Test(model_io, predictions_beyond_the_limit_are_refused) {
    spec s = good_spec();
    s.p0 = 1e300;
    expect_corrupt(&s, "predictions may reach");
    s = good_spec();
    s.p0 = -1.7976931348623157e308;
    expect_corrupt(&s, "predictions may reach");

    cf_model *m = hand_model(1);
    char *d = cf_test_tmpdir(), *path = cf_test_path(d, "big.cfm");
    cf_error err;
    /* bound = |μ| + max|b_u| + max|b_i| + K·max|P|·max|Q| = 3 + 0.3 + 1 + 2·x·1 */
    m->f.P[3] = 0.25e100; /* bound 0.5e100 */
    cr_expect_eq(cf_model_save(m, path, &err), CF_OK, "under the limit: %s", err.msg);
    cf_model *back = NULL;
    cr_expect_eq(cf_model_load(path, &back, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&back);
    unlink(path);
    m->f.P[3] = 1e100; /* bound 2e100 */
    cr_expect_eq(cf_model_save(m, path, &err), CF_ERR_NUMERIC);
    cr_expect(strstr(err.msg, "not saved: factor values so large that predictions may reach 2e+100 (limit 1e+100)"),
              "%s", err.msg);
    cr_expect_eq(count_entries(d), 0, "nothing written");
    cf_model_destroy(&m);
    free(path);
    cf_test_rmtree(d);
    free(d);
}

Test(model_io, hostile_contents) {
    spec s = good_spec();
    s.p0 = INFINITY;
    expect_corrupt(&s, "non-finite");
    s = good_spec();
    s.p0 = NAN;
    expect_corrupt(&s, "non-finite");
    s = good_spec();
    s.users[1] = "u1";
    expect_corrupt(&s, "duplicate user ID 'u1'");
    s = good_spec();
    s.items[2] = "a";
    expect_corrupt(&s, "duplicate item ID");
    s = good_spec();
    s.user_count = 3;
    expect_corrupt(&s, "user IDs");
    s = good_spec();
    s.bad_len = 100000;
    expect_corrupt(&s, "length");
    s = good_spec();
    s.bad_len = 40; /* within the limit, beyond the end */
    expect_corrupt(&s, "length");
    s = good_spec();
    s.trailing = 3;
    expect_corrupt(&s, "trailing");
}

Test(model_io, id_with_nul_byte_is_corrupt) {
    /* build a good file, then turn the 'a' of item "a" into a NUL and fix the checksum */
    spec s = good_spec();
    buf b = build(&s);
    size_t at = b.n - 8 - (4 + 1) * 3; /* items: (len 1 + 1 byte) × 3 */
    cr_assert_eq(b.p[at + 4], 'a');
    b.p[at + 4] = '\0';
    uint64_t h = doc_checksum(b.p, b.n - 8);
    for (int k = 0; k < 8; k++) b.p[b.n - 8 + (size_t)k] = (unsigned char)(h >> (8 * k));
    char *dir = cf_test_tmpdir();
    char *path = cf_test_write(dir, "nul.cfm", (const char *)b.p, b.n);
    cf_error err;
    cf_model *m = NULL;
    cr_assert_eq(cf_model_load(path, &m, &err), CF_ERR_CORRUPT, "%s", err.msg);
    cr_assert(strstr(err.msg, "NUL"), "%s", err.msg);
    free(b.p), free(path);
    cf_test_rmtree(dir);
    free(dir);
}

Test(model_io, load_io_errors) {
    char *dir = cf_test_tmpdir();
    char *missing = cf_test_path(dir, "missing.cfm");
    cf_error err;
    cf_model *m = NULL;
    cr_assert_eq(cf_model_load(missing, &m, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, missing), "%s", err.msg);
    cr_assert_eq(cf_model_load(dir, &m, &err), CF_ERR_IO, "a directory: %s", err.msg);
    cr_assert_null(m);
    char *fifo = cf_test_path(dir, "fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(cf_model_load(fifo, &m, &err), CF_ERR_IO, "a FIFO, without waiting for a writer");
    cr_assert(strstr(err.msg, "not a regular file"), "%s", err.msg);
    free(fifo);
    cf_test_rmtree(dir);
    free(missing), free(dir);
}

/* ---- atomic save */

Test(model_io, save_into_missing_directory) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "nope/m.cfm");
    cf_error err;
    cf_model *m = hand_model(1);
    cr_assert_eq(cf_model_save(m, path, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, strerror(ENOENT)), "%s", err.msg);
    cr_assert_eq(count_entries(dir), 0, "nothing created");
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

Test(model_io, save_over_a_directory_fails_and_cleans_up) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cr_assert_eq(mkdir(path, 0755), 0);
    cf_error err;
    cf_model *m = hand_model(1);
    cr_assert_eq(cf_model_save(m, path, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    struct stat sb;
    cr_assert(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "the directory is still there");
    cr_assert_eq(count_entries(dir), 1, "no temporary file left");
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

Test(model_io, failing_write_leaves_existing_model_untouched) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cf_error err;
    cf_model *small = hand_model(1);
    cr_assert_eq(cf_model_save(small, path, &err), CF_OK, "%s", err.msg);
    size_t n0;
    char *before = cf_test_read(path, &n0);
    /* writes beyond 1 KiB now fail with EFBIG (SIGXFSZ ignored) */
    cf_model *big = odd_model(200, 100, 8, 3);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1024;
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    cf_status st = cf_model_save(big, path, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(st, CF_ERR_IO, "%s", err.msg);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, strerror(EFBIG)), "%s", err.msg);
    size_t n1;
    char *after = cf_test_read(path, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "the old model is intact");
    cr_assert_eq(count_entries(dir), 1, "no temporary file left");
    /* and a save into "m.cfm/x" (a file as directory) fails without touching m.cfm */
    char *under = cf_test_path(path, "x");
    cr_assert_eq(cf_model_save(big, under, &err), CF_ERR_IO);
    free(after);
    after = cf_test_read(path, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    free(before), free(after), free(under);
    cf_model_destroy(&small);
    cf_model_destroy(&big);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

Test(model_io, save_refuses_non_finite_and_bad_config) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cf_error err;
    cf_model *m = hand_model(1);
    m->f.Q[3] = NAN;
    cr_assert_eq(cf_model_save(m, path, &err), CF_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "item factor row 1"), "%s", err.msg);
    m->f.Q[3] = 0.0;
    m->config.lambda = -1;
    cr_assert_eq(cf_model_save(m, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "lambda"), "%s", err.msg);
    cr_assert_eq(count_entries(dir), 0);
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

/* ------------------------------------------------------------------ NumPy export */

/* Parses an NPY v1.0 file of 8-byte elements of type descr ("<f8", "<i8"); returns the
 * data (malloc'ed) and the shape text. */
static void *read_npy_typed(const char *path, const char *descr, char *shape, size_t shape_len, size_t *count) {
    size_t n;
    unsigned char *b = (unsigned char *)cf_test_read(path, &n);
    cr_assert_not_null(b, "%s", path);
    cr_assert(n >= 10 && memcmp(b, "\x93NUMPY", 6) == 0, "NPY magic");
    cr_assert(b[6] == 1 && b[7] == 0, "version 1.0");
    size_t hl = (size_t)b[8] | (size_t)b[9] << 8;
    cr_assert_eq((10 + hl) % 64, 0u, "header padded to 64 bytes");
    cr_assert(10 + hl <= n);
    cr_assert_eq(b[10 + hl - 1], '\n', "header ends in a newline");
    char *hdr = strndup((const char *)b + 10, hl);
    char want[32];
    snprintf(want, sizeof want, "'descr': '%s'", descr);
    cr_assert(strstr(hdr, want), "%s", hdr);
    cr_assert(strstr(hdr, "'fortran_order': False"), "%s", hdr);
    const char *sh = strstr(hdr, "'shape': (");
    cr_assert_not_null(sh, "%s", hdr);
    sh += strlen("'shape': ");
    const char *end = strchr(sh, ')');
    snprintf(shape, shape_len, "%.*s", (int)(end - sh + 1), sh);
    free(hdr);
    *count = (n - 10 - hl) / 8;
    cr_assert_eq((n - 10 - hl) % 8, 0u);
    unsigned char *d = malloc(*count * 8 + 8);
    memcpy(d, b + 10 + hl, *count * 8);
    free(b);
    return d;
}

static double *read_npy(const char *path, char *shape, size_t shape_len, size_t *count) {
    return read_npy_typed(path, "<f8", shape, shape_len, count);
}

static cf_model *hand_model_counted(void);

Test(model_io, export_npy_reads_back) {
    char *dir = cf_test_tmpdir();
    char *out = cf_test_path(dir, "export");
    cf_error err;
    cf_model *m = hand_model(1);
    cr_assert_eq(cf_model_export_npy(m, out, &err), CF_OK, "%s", err.msg);
    struct {
        const char *name, *shape;
        const double *want;
        size_t n;
    } files[] = {{"P.npy", "(3, 2)", HP, 6}, {"Q.npy", "(5, 2)", HQ, 10},
                 {"user_bias.npy", "(3,)", HBU, 3}, {"item_bias.npy", "(5,)", HBI, 5}};
    for (int f = 0; f < 4; f++) {
        char *p = cf_test_path(out, files[f].name);
        char shape[64];
        size_t count;
        double *d = read_npy(p, shape, sizeof shape, &count);
        cr_assert_str_eq(shape, files[f].shape, "%s", files[f].name);
        cr_assert_eq(count, files[f].n);
        cr_assert_eq(memcmp(d, files[f].want, count * 8), 0, "%s values", files[f].name);
        free(d), free(p);
    }
    char *p = cf_test_path(out, "users.txt");
    char *txt = cf_test_read(p, NULL);
    cr_assert_str_eq(txt, "alice\nbob\ncarol\n");
    free(txt), free(p);
    p = cf_test_path(out, "items.txt");
    txt = cf_test_read(p, NULL);
    cr_assert_str_eq(txt, "i1\ni2\ni3\ni4\ni5\n");
    free(txt), free(p);
    p = cf_test_path(out, "meta.json");
    txt = cf_test_read(p, NULL);
    const char *mu = strstr(txt, "\"mu\":");
    cr_assert_not_null(mu, "%s", txt);
    cr_assert_eq(strtod(mu + 5, NULL), 3.0, "%s", txt);
    cr_assert(strstr(txt, "\"n_users\": 3") && strstr(txt, "\"n_items\": 5") &&
                  strstr(txt, "\"factors\": 2") && strstr(txt, "\"bias\": true"),
              "%s", txt);
    free(txt), free(p);
    cr_assert(strstr(txt = cf_test_read(p = cf_test_path(out, "meta.json"), NULL), "\"ratings\": false"), "%s", txt);
    free(txt), free(p);
    cr_assert_eq(count_entries(out), 7, "seven files, no temporaries");
    /* exporting again into the existing directory works */
    cr_assert_eq(cf_model_export_npy(m, out, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&m);

    /* a model that keeps its rating counts: two more files, int64, in row order */
    m = hand_model_counted();
    cr_assert_eq(cf_model_export_npy(m, out, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(count_entries(out), 9);
    static const int64_t cu[] = {5, 1, 2}, ci[] = {4, 1, 2, 1, 0};
    const struct { const char *name, *shape; const int64_t *want; size_t n; } counts[] = {
        {"user_ratings.npy", "(3,)", cu, 3}, {"item_ratings.npy", "(5,)", ci, 5}};
    for (int f = 0; f < 2; f++) {
        p = cf_test_path(out, counts[f].name);
        char shape[64];
        size_t count;
        int64_t *d = read_npy_typed(p, "<i8", shape, sizeof shape, &count);
        cr_assert_str_eq(shape, counts[f].shape, "%s", counts[f].name);
        cr_assert_eq(count, counts[f].n);
        cr_assert_eq(memcmp(d, counts[f].want, count * 8), 0, "%s values", counts[f].name);
        free(d), free(p);
    }
    cr_assert(strstr(txt = cf_test_read(p = cf_test_path(out, "meta.json"), NULL), "\"ratings\": true"), "%s", txt);
    free(txt), free(p);
    cf_model_destroy(&m);
    /* a model without them afterwards removes them: no other model's counts are left beside its factors */
    m = hand_model(1);
    cr_assert_eq(cf_model_export_npy(m, out, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(count_entries(out), 7, "the earlier export's count files are gone");
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(out), free(dir);
}

Test(model_io, export_errors) {
    char *dir = cf_test_tmpdir();
    cf_error err;
    cf_model *m = hand_model(0);
    char *deep = cf_test_path(dir, "a/b");
    cr_assert_eq(cf_model_export_npy(m, deep, &err), CF_ERR_IO, "only one level is created");
    cr_assert(strstr(err.msg, deep), "%s", err.msg);
    char *file = cf_test_write(dir, "f", "x", 1);
    cr_assert_eq(cf_model_export_npy(m, file, &err), CF_ERR_IO, "a file is not a directory");
    cr_assert_eq(count_entries(dir), 1);
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(deep), free(file), free(dir);
}

/* A model larger than the atomic file's 4 MiB buffer (P alone 4.8 MB: written straight
 * from the arrays while another thread hashes): the file's last 8 bytes are the serial
 * reference checksum of the rest, and it loads back the same. */
Test(model_io, large_model_saved_with_the_parallel_hash_is_checksummed_and_loads) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "big.cfm");
    cf_error err;
    cf_model *m = odd_model(3000, 500, 200, 3), *back = NULL;
    cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
    size_t len;
    unsigned char *bytes = (unsigned char *)cf_test_read(path, &len);
    cr_assert(bytes && len > (size_t)3000 * 200 * 8 + 8);
    uint64_t stored;
    memcpy(&stored, bytes + len - 8, 8);
    cr_assert_eq(stored, cf_cfm_checksum(bytes, len - 8));
    cr_assert_eq(cf_model_load(path, &back, &err), CF_OK, "%s", err.msg);
    assert_same_model(m, back);
    free(bytes);
    cf_model_destroy(&back);
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

/* A model that fails the value checks (now run while the bytes go to the unnamed
 * temporary) is still not saved, the old file stays byte for byte, and no temporary is
 * left in the directory. */
Test(model_io, a_model_failing_its_checks_leaves_the_old_file) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "keep.cfm");
    cf_error err;
    cf_model *m = odd_model(700, 300, 16, 5);
    cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
    size_t len0, len1;
    char *before = cf_test_read(path, &len0);
    m->f.Q[300 * 16 - 1] = NAN;
    cr_assert_eq(cf_model_save(m, path, &err), CF_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "not saved: non-finite value in item factor row 299"), "%s", err.msg);
    m->f.Q[300 * 16 - 1] = 1e200;
    cr_assert_eq(cf_model_save(m, path, &err), CF_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "predictions may reach"), "%s", err.msg);
    char *after = cf_test_read(path, &len1);
    cr_assert(len0 == len1 && !memcmp(before, after, len0), "the old file changed");
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
    closedir(d);
    cr_assert_eq(files, 1, "a temporary was left");
    free(before), free(after);
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

/* The bit-level scans of factors.c against the plain ones: max |x| ignoring NaNs (fmax)
 * for the prediction bound, and the first non-finite value's row, wherever it sits
 * (inside and at the edges of the 4096-value blocks). */
static double ref_max_abs(const double *a, int64_t n) {
    double m = 0;
    for (int64_t k = 0; k < n; k++) m = fmax(m, fabs(a[k]));
    return m;
}

Test(model_io, factor_scans_match_the_plain_ones) {
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, 1000, 70, 9, 1, &err), CF_OK);
    cf_rng rng;
    cf_rng_seed(&rng, 8);
    for (int64_t j = 0; j < 9000; j++) f.P[j] = cf_rng_normal(&rng);
    for (int64_t j = 0; j < 630; j++) f.Q[j] = -cf_rng_normal(&rng) * 1e-3;
    for (int64_t j = 0; j < 1000; j++) f.bu[j] = j % 2 ? -0.0 : 5e-324 * (double)j;
    for (int64_t j = 0; j < 70; j++) f.bi[j] = -(double)j;
    f.mu = 3.5;
    char where[96];
    cr_assert_eq(cf_factors_check_finite(&f, where, sizeof where), 0);
    double want = fabs(f.mu) + ref_max_abs(f.bu, 1000) + ref_max_abs(f.bi, 70) +
                  9.0 * ref_max_abs(f.P, 9000) * ref_max_abs(f.Q, 630);
    cr_assert_eq(cf_factors_prediction_bound(&f), want);
    static const int64_t at[] = {0, 4095, 4096, 8191, 8999};
    for (int a = 0; a < 5; a++) {
        double keep = f.P[at[a]];
        for (int v = 0; v < 3; v++) {
            f.P[at[a]] = v == 0 ? NAN : v == 1 ? INFINITY : -INFINITY;
            cr_assert_eq(cf_factors_check_finite(&f, where, sizeof where), 1);
            char row[64];
            snprintf(row, sizeof row, "user factor row %lld", (long long)(at[a] / 9));
            cr_assert_str_eq(where, row);
            if (v == 0) /* a NaN is ignored by fmax: the bound without it */
                cr_assert_eq(cf_factors_prediction_bound(&f), fabs(f.mu) + ref_max_abs(f.bu, 1000) +
                                                                  ref_max_abs(f.bi, 70) +
                                                                  9.0 * ref_max_abs(f.P, 9000) * ref_max_abs(f.Q, 630));
        }
        f.P[at[a]] = keep;
    }
    cf_factors_free(&f);
}

/* The seeded initialization is the stream of cf_rng_normal, P then Q, scaled by
 * scale/√K (|·| without biases): the reference written out value by value, against the
 * blocked parallel draw on 1, 2, 3 and 7 threads, byte for byte, over several blocks. */
Test(factors, init_random_is_the_serial_stream_on_any_thread_count) {
    const int64_t nu = 70001, ni = 277; /* P: 2.3 M values, three of the draw's blocks of 2^20 */
    const int32_t k = 33;
    for (int bias = 0; bias <= 1; bias++) {
        cf_factors ref, got;
        cf_error err;
        cr_assert_eq(cf_factors_alloc(&ref, nu, ni, k, bias, &err), CF_OK);
        cr_assert_eq(cf_factors_alloc(&got, nu, ni, k, bias, &err), CF_OK);
        cf_rng rng;
        cf_rng_seed(&rng, 77);
        const double sd = 0.3 / sqrt((double)k);
        for (int64_t x = 0; x < nu * k; x++) ref.P[x] = bias ? sd * cf_rng_normal(&rng) : sd * fabs(cf_rng_normal(&rng));
        for (int64_t x = 0; x < ni * k; x++) ref.Q[x] = bias ? sd * cf_rng_normal(&rng) : sd * fabs(cf_rng_normal(&rng));
        const int counts[] = {1, 2, 3, 7};
        for (int c = 0; c < 4; c++) {
            memset(got.P, 0xff, (size_t)(nu * k) * sizeof(double));
            cf_factors_init_random_threads(&got, 0.3, 77, counts[c]);
            cr_assert(!memcmp(got.P, ref.P, (size_t)(nu * k) * sizeof(double)), "P, %d threads", counts[c]);
            cr_assert(!memcmp(got.Q, ref.Q, (size_t)(ni * k) * sizeof(double)), "Q, %d threads", counts[c]);
            for (int64_t u = 0; u < nu; u++) cr_assert_eq(got.bu[u], 0.0);
            for (int64_t i = 0; i < ni; i++) cr_assert_eq(got.bi[i], 0.0);
        }
        cf_factors_free(&ref), cf_factors_free(&got);
    }
}

/* ------------------------------------------------------------------ transpose */

/* cf_model_transpose exchanges the two sides: twice is the model bit for bit (the maps
 * too), r̂ of the transpose is m's but for the rounding of μ + b_i + b_u added in the
 * other order (bounded by the terms' size), and
 * recommending to an item of the transpose lists the users of m by m's scores, without
 * those who rated it in the transposed exclusions. cf_dataset_transpose: the same
 * ratings and parts with the roles exchanged, sorted by (its user, its item). */
Test(model, transpose_exchanges_the_sides) {
    cf_model *m = odd_model(37, 23, 5, 77), *t = NULL, *tt = NULL;
    cf_error err = {0};
    for (int64_t j = 0; j < 7; j++) m->f.P[j] = m->f.Q[j] = m->f.bu[j] = m->f.bi[j] = 0.25 * (double)j; /* finite */
    cr_assert_eq(cf_model_transpose(m, &t, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_transpose(t, &tt, &err), CF_OK, "%s", err.msg);
    cr_assert(t->f.n_users == 23 && t->f.n_items == 37 && t->f.mu == m->f.mu);
    cr_assert(memcmp(tt->f.P, m->f.P, sizeof(double) * 37 * 5) == 0 && memcmp(tt->f.Q, m->f.Q, sizeof(double) * 23 * 5) == 0 &&
              memcmp(tt->f.bu, m->f.bu, sizeof(double) * 37) == 0 && memcmp(tt->f.bi, m->f.bi, sizeof(double) * 23) == 0);
    for (uint32_t u = 0; u < 37; u++)
        for (uint32_t i = 0; i < 23; i++) {
            size_t lu, li;
            char un[1100], in[1100];
            const char *pu = cf_idmap_name(m->users, u, &lu), *pi = cf_idmap_name(m->items, i, &li);
            memcpy(un, pu, lu), un[lu] = 0, memcpy(in, pi, li), in[li] = 0;
            double a, b;
            cr_assert_eq(cf_model_predict(m, un, in, &a, &err), CF_OK, "%s", err.msg);
            cr_assert_eq(cf_model_predict(t, in, un, &b, &err), CF_OK, "%s", err.msg);
            /* (μ + b_u) + b_i against (μ + b_i) + b_u: each rounds once at the scale of its terms */
            const double scale = fabs(m->f.mu) + fabs(m->f.bu[u]) + fabs(m->f.bi[i]) + fabs(a);
            cr_assert(a == b || fabs(a - b) <= 4 * 1.2e-16 * scale, "(%u, %u): %.17g vs %.17g", u, i, a, b);
            if (u == 0) {
                size_t l2;
                const char *back = cf_idmap_name(tt->items, i, &l2);
                cr_assert(l2 == li && memcmp(back, pi, li) == 0, "item map twice transposed");
            }
        }
    /* the hand model: users for item i2 without alice (who rated it), by m's scores */
    cf_model *h = hand_model(1), *ht = NULL;
    cr_assert_eq(cf_model_transpose(h, &ht, &err), CF_OK, "%s", err.msg);
    cf_dataset *ds = cf_dataset_create(), *dt = NULL;
    uint32_t ua, ub, i2, i3;
    cf_idmap_intern(ds->users, "alice", 5, &ua, NULL), cf_idmap_intern(ds->users, "bob", 3, &ub, NULL);
    cf_idmap_intern(ds->items, "i3", 2, &i3, NULL), cf_idmap_intern(ds->items, "i2", 2, &i2, NULL);
    cr_assert_eq(cf_dataset_push(ds, ub, i3, 1.0f, 0), 0);
    cr_assert_eq(cf_dataset_push(ds, ua, i2, 5.0f, 1), 0);
    cr_assert_eq(cf_dataset_push(ds, ua, i3, 2.0f, 0), 0);
    cr_assert_eq(cf_dataset_transpose(ds, &dt, &err), CF_OK, "%s", err.msg);
    cf_dataset_info di;
    cf_dataset_info_get(dt, &di);
    cr_assert(di.n_users == 2 && di.n_items == 2 && di.n_train == 2 && di.n_test == 1);
    /* sorted by (its user, its item): i3 (index 0) by alice (0) then bob (1), then i2 by alice */
    const uint32_t wu[] = {0, 0, 1}, wi[] = {0, 1, 0};
    const float wr[] = {2.0f, 1.0f, 5.0f};
    const uint8_t wt[] = {0, 0, 1};
    for (int j = 0; j < 3; j++)
        cr_assert(dt->all.u[j] == wu[j] && dt->all.i[j] == wi[j] && dt->all.r[j] == wr[j] && dt->is_test[j] == wt[j],
                  "rating %d", j);
    cf_recommendation out[5];
    int32_t n = 0;
    cr_assert_eq(cf_model_recommend(ht, "i2", 5, dt, out, &n, &err), CF_OK, "%s", err.msg);
    cf_model_info hi;
    cf_model_info_get(h, &hi);
    cr_assert_eq(n, (int32_t)hi.n_users - 1, "every user but alice");
    for (int32_t k = 0; k < n; k++) {
        double want;
        cr_assert_str_neq(out[k].item, "alice");
        cr_assert_eq(cf_model_predict(h, out[k].item, "i2", &want, &err), CF_OK, "%s", err.msg);
        cr_assert(fabs(out[k].score - want) <= 1e-15 * fmax(fabs(want), 1.0), "%s", out[k].item);
        if (k) cr_assert_geq(out[k - 1].score, out[k].score);
    }
    cf_model *none = NULL;
    cr_assert_eq(cf_model_transpose(NULL, &none, &err), CF_ERR_INVALID);
    cr_assert_null(none);
    cr_assert_eq(cf_dataset_transpose(ds, NULL, &err), CF_ERR_INVALID);
    cf_dataset_destroy(&ds), cf_dataset_destroy(&dt);
    cf_model_destroy(&m), cf_model_destroy(&t), cf_model_destroy(&tt), cf_model_destroy(&h), cf_model_destroy(&ht);
}

/* ---- rating counts and subsets */

/* The hand model with rating counts: alice 5, bob 1, carol 2; i1..i5 4, 1, 2, 1, 0. */
static cf_model *hand_model_counted(void) {
    cf_model *m = hand_model(1);
    static const int64_t cu[] = {5, 1, 2}, ci[] = {4, 1, 2, 1, 0};
    m->n_ratings[0] = malloc(sizeof cu), m->n_ratings[1] = malloc(sizeof ci);
    cr_assert(m->n_ratings[0] && m->n_ratings[1]);
    memcpy(m->n_ratings[0], cu, sizeof cu), memcpy(m->n_ratings[1], ci, sizeof ci);
    return m;
}

/* A model without counts saves as version 1 and loads without them (counts:
 * CF_ERR_UNSUPPORTED, saying why); with counts, version 2 and back bit for bit; a
 * hand-built version-2 file loads with its counts. */
Test(model_io, rating_counts_travel_in_version_2) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cf_error err = {0};
    int64_t got[5];
    for (int counted = 0; counted <= 1; counted++) {
        cf_model *m = counted ? hand_model_counted() : hand_model(1), *back = NULL;
        cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
        size_t n;
        unsigned char *b = (unsigned char *)cf_test_read(path, &n);
        cr_assert(b && n > 12);
        cr_assert_eq(le32(b + 8), counted ? 2u : 1u, "version");
        free(b);
        cr_assert_eq(cf_model_load(path, &back, &err), CF_OK, "%s", err.msg);
        assert_same_model(m, back);
        if (counted) {
            cr_assert_eq(cf_model_rating_counts(back, CF_ITEMS, got, &err), CF_OK, "%s", err.msg);
            cr_assert(got[0] == 4 && got[1] == 1 && got[2] == 2 && got[3] == 1 && got[4] == 0);
            cr_assert_eq(cf_model_rating_counts(back, CF_USERS, got, &err), CF_OK, "%s", err.msg);
            cr_assert(got[0] == 5 && got[1] == 1 && got[2] == 2);
        } else {
            cr_assert_eq(cf_model_rating_counts(back, CF_ITEMS, got, &err), CF_ERR_UNSUPPORTED);
            cr_assert(strstr(err.msg, "version 1"), "%s", err.msg);
        }
        if (counted) { /* what load refuses, save refuses: a negative count */
            char *bad = cf_test_path(dir, "bad.cfm");
            m->n_ratings[1][3] = -1;
            cr_assert_eq(cf_model_save(m, bad, &err), CF_ERR_INVALID);
            cr_assert(strstr(err.msg, "not saved: item row 3: rating count -1 < 0"), "%s", err.msg);
            cr_assert_eq(count_entries(dir), 1, "nothing written beside m.cfm");
            free(bad);
        }
        cr_assert_eq(cf_model_rating_counts(back, (cf_which)2, got, &err), CF_ERR_INVALID);
        cr_assert_eq(cf_model_rating_counts(back, CF_USERS, NULL, &err), CF_ERR_INVALID);
        cf_model_destroy(&back), cf_model_destroy(&m);
    }
    spec s = good_spec();
    s.version = 2;
    cf_model *h = NULL;
    cr_assert_eq(load_spec(&s, &err, &h), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_rating_counts(h, CF_USERS, got, &err), CF_OK, "%s", err.msg);
    cr_assert(got[0] == 3 && got[1] == 1);
    cr_assert_eq(cf_model_rating_counts(h, CF_ITEMS, got, &err), CF_OK, "%s", err.msg);
    cr_assert(got[0] == 2 && got[1] == 1 && got[2] == 1);
    cf_model_destroy(&h);
    s = good_spec(); /* a version-1 body under a version-2 header is short by the counts */
    s.version = 2;
    s.count0 = 3;
    buf b = build(&s);
    cf_test_rmtree(dir), free(dir), free(path);
    dir = cf_test_tmpdir();
    /* drop the five counts (40 bytes after the 164 + 8·(4 + 6 + 2 + 3) of header and arrays),
     * keep the checksum right: the ID lists no longer line up */
    const size_t at = 164 + 8 * 15;
    memmove(b.p + at, b.p + at + 40, b.n - at - 40);
    b.n -= 40;
    uint64_t sum = doc_checksum(b.p, b.n - 8);
    memcpy(b.p + b.n - 8, &sum, 8);
    path = cf_test_write(dir, "h.cfm", (const char *)b.p, b.n);
    cr_assert_eq(cf_model_load(path, &h, &err), CF_ERR_CORRUPT);
    cr_assert(strstr(err.msg, "h.cfm"), "%s", err.msg);
    free(b.p);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

/* A model whose biases have their own λ and mode saves as version 3 (header 176: the
 * bias block after the config; flags bit 2 = counts), with or without counts, and loads
 * back bit for bit with both; the same regularization written out explicitly is still
 * version 2 (one encoding per model); a version-3 file that names "same", NaN, or the
 * factors' own values is corrupt. */
Test(model_io, bias_regularization_travels_in_version_3) {
    char *dir = cf_test_tmpdir();
    char *path = cf_test_path(dir, "m.cfm");
    cf_error err = {0};
    for (int counted = 0; counted <= 1; counted++) {
        cf_model *m = counted ? hand_model_counted() : hand_model(1), *back = NULL;
        m->config.bias_lambda = 25.0, m->config.bias_reg = CF_REG_PLAIN;
        cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
        size_t n;
        unsigned char *b = (unsigned char *)cf_test_read(path, &n);
        cr_assert(b && n > 176);
        cr_assert_eq(le32(b + 8), 3u, "version");
        cr_assert_eq(le32(b + 12), 176u, "header size");
        cr_assert_eq(le32(b + 36), counted ? 5u : 1u, "flags: bias, counts in bit 2");
        cr_assert_eq(lef64(b + 164), 25.0, "bias_lambda");
        cr_assert_eq(le32(b + 172), (uint32_t)CF_REG_PLAIN, "bias_reg");
        cr_assert_eq(le64(b + 176), le64((const unsigned char *)&m->f.P[0]), "P starts after the block");
        cr_assert_eq(le64(b + n - 8), doc_checksum(b, n - 8), "checksum as documented");
        cr_assert_eq(cf_model_load(path, &back, &err), CF_OK, "%s", err.msg);
        assert_same_model(m, back);
        cr_assert(back->config.bias_lambda == 25.0 && back->config.bias_reg == CF_REG_PLAIN);
        int64_t got[5];
        cr_assert_eq(cf_model_rating_counts(back, CF_ITEMS, got, &err), counted ? CF_OK : CF_ERR_UNSUPPORTED);
        cf_model_destroy(&back);

        /* hostile version-3 blocks, checksums fixed: "same", NaN, the factors' values */
        const struct { double lam; uint32_t reg; const char *words; } bad[] = {
            {25.0, (uint32_t)CF_REG_SAME, "not explicit"},
            {NAN, (uint32_t)CF_REG_PLAIN, "not explicit"},
            {m->config.lambda, (uint32_t)m->config.reg, "regularized as the factors"},
            {25.0, 7u, "bias_reg: unknown value 7"},
            {-1.0, (uint32_t)CF_REG_PLAIN, "bias_lambda: -1"},
        };
        for (size_t j = 0; j < sizeof bad / sizeof *bad; j++) {
            memcpy(b + 164, &bad[j].lam, 8), memcpy(b + 172, &bad[j].reg, 4);
            uint64_t sum = doc_checksum(b, n - 8);
            memcpy(b + n - 8, &sum, 8);
            char *hp = cf_test_write(dir, "h.cfm", (const char *)b, n);
            cr_assert_eq(cf_model_load(hp, &back, &err), CF_ERR_CORRUPT, "case %zu", j);
            cr_assert(strstr(err.msg, bad[j].words) && strstr(err.msg, "h.cfm"), "case %zu: %s", j, err.msg);
            cr_assert_null(back);
            free(hp);
        }
        free(b);

        /* the factors' regularization written out explicitly: version 2 (1 without counts) */
        m->config.bias_lambda = m->config.lambda, m->config.bias_reg = m->config.reg;
        cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
        b = (unsigned char *)cf_test_read(path, &n);
        cr_assert(b && le32(b + 8) == (counted ? 2u : 1u) && le32(b + 12) == 164u, "an older version");
        free(b);
        cf_model_destroy(&m);
    }
    /* biases off with their own λ: the config is refused before anything is written */
    cf_model *m = hand_model(0);
    m->config.bias = 0, m->config.bias_lambda = 5.0;
    cr_assert_eq(cf_model_save(m, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "biases are off"), "%s", err.msg);
    cf_model_destroy(&m);
    cf_test_rmtree(dir);
    free(path), free(dir);
}

/* A subset keeps the chosen rows in order with their factors, biases, IDs and counts:
 * every prediction of a kept pair is the full model's, bit for bit; a dropped ID is
 * unknown; each user's top-N from the subset is the full model's complete ranking with
 * the dropped items left out; the transpose swaps the counts. */
Test(model, subset_keeps_the_chosen_rows) {
    cf_model *m = hand_model_counted(), *s = NULL, *t = NULL;
    cf_error err = {0};
    const uint8_t keep_i[] = {1, 0, 1, 1, 0}, keep_u[] = {1, 0, 1};
    for (int users_too = 0; users_too <= 1; users_too++) {
        cr_assert_eq(cf_model_subset(m, users_too ? keep_u : NULL, keep_i, &s, &err), CF_OK, "%s", err.msg);
        cr_assert(s->f.n_users == (users_too ? 2 : 3) && s->f.n_items == 3 && s->f.k == 2 && s->f.mu == m->f.mu);
        const int64_t wi[] = {4, 2, 1}, wu[] = {5, 2}, wu3[] = {5, 1, 2};
        cr_assert(memcmp(s->n_ratings[1], wi, sizeof wi) == 0, "item counts follow their rows");
        cr_assert(memcmp(s->n_ratings[0], users_too ? wu : wu3, sizeof(int64_t) * (size_t)s->f.n_users) == 0);
        for (int u = 0; u < 3; u++)
            for (int i = 0; i < 5; i++) {
                double a, b;
                const cf_status st = cf_model_predict(s, USERS[u], ITEMS[i], &b, &err);
                if (!keep_i[i] || (users_too && !keep_u[u])) {
                    cr_assert_eq(st, CF_ERR_NOT_FOUND, "%s × %s dropped", USERS[u], ITEMS[i]);
                    continue;
                }
                cr_assert_eq(st, CF_OK, "%s", err.msg);
                cr_assert_eq(cf_model_predict(m, USERS[u], ITEMS[i], &a, &err), CF_OK);
                cr_assert(memcmp(&a, &b, 8) == 0, "%s × %s: %.17g vs %.17g", USERS[u], ITEMS[i], a, b);
            }
        for (int u = 0; u < 3; u++) {
            if (users_too && !keep_u[u]) continue;
            cf_recommendation full[5], sub[3];
            int32_t nf = 0, ns = 0;
            cr_assert_eq(cf_model_recommend(m, USERS[u], 5, NULL, full, &nf, &err), CF_OK, "%s", err.msg);
            cr_assert_eq(cf_model_recommend(s, USERS[u], 2, NULL, sub, &ns, &err), CF_OK, "%s", err.msg);
            int32_t k = 0;
            for (int32_t j = 0; j < nf && k < ns; j++) {
                int kept = 0;
                for (int i = 0; i < 5; i++) kept |= keep_i[i] && strcmp(full[j].item, ITEMS[i]) == 0;
                if (!kept) continue;
                cr_assert_str_eq(sub[k].item, full[j].item, "%s's #%d", USERS[u], k + 1);
                cr_assert(sub[k].score == full[j].score);
                k++;
            }
            cr_assert_eq(k, 2, "%s: the subset's two best are the full list's first two kept", USERS[u]);
        }
        cf_model_destroy(&s);
    }
    cr_assert_eq(cf_model_transpose(m, &t, &err), CF_OK, "%s", err.msg);
    int64_t got[5];
    cr_assert_eq(cf_model_rating_counts(t, CF_USERS, got, &err), CF_OK, "%s", err.msg);
    cr_assert(got[0] == 4 && got[1] == 1 && got[4] == 0, "the transpose's users are m's items");
    cr_assert_eq(cf_model_rating_counts(t, CF_ITEMS, got, &err), CF_OK, "%s", err.msg);
    cr_assert(got[0] == 5 && got[1] == 1 && got[2] == 2);
    cf_model_destroy(&t);
    /* everything dropped: an empty side, still a model; no counts stay no counts */
    const uint8_t none[5] = {0};
    cr_assert_eq(cf_model_subset(m, NULL, none, &s, &err), CF_OK, "%s", err.msg);
    cr_assert(s->f.n_items == 0 && s->f.n_users == 3);
    cf_recommendation r1[1];
    int32_t n1 = -1;
    cr_assert_eq(cf_model_recommend(s, "alice", 1, NULL, r1, &n1, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(n1, 0);
    cf_model_destroy(&s);
    /* by the counts: items fit to >= 2 ratings (i1 4, i3 2), users to >= 2 (alice 5, carol 2) */
    cr_assert_eq(cf_model_subset_min_ratings(m, 2, 2, &s, &err), CF_OK, "%s", err.msg);
    cr_assert(s->f.n_users == 2 && s->f.n_items == 2);
    double x;
    cr_assert(cf_model_predict(s, "carol", "i3", &x, &err) == CF_OK && cf_model_predict(s, "alice", "i1", &x, &err) == CF_OK);
    cr_assert_eq(cf_model_predict(s, "bob", "i1", &x, &err), CF_ERR_NOT_FOUND);
    cf_model_destroy(&s);
    cr_assert_eq(cf_model_subset_min_ratings(m, 0, 5, &s, &err), CF_OK, "%s", err.msg);
    cr_assert(s->f.n_users == 3 && s->f.n_items == 0, "no item has 5");
    cf_model_destroy(&s);
    cf_model *h = hand_model(1);
    cr_assert_eq(cf_model_subset(h, NULL, keep_i, &s, &err), CF_OK, "%s", err.msg);
    cr_assert(!s->n_ratings[0] && !s->n_ratings[1]);
    cr_assert_eq(cf_model_rating_counts(s, CF_USERS, got, &err), CF_ERR_UNSUPPORTED);
    cf_model_destroy(&s);
    cr_assert_eq(cf_model_subset_min_ratings(h, 0, 1, &s, &err), CF_ERR_UNSUPPORTED, "a floor needs counts");
    cr_assert(strstr(err.msg, "version 1") && !s, "%s", err.msg);
    cr_assert_eq(cf_model_subset_min_ratings(h, 0, 0, &s, &err), CF_OK, "no floor: a copy");
    cr_assert(s->f.n_users == 3 && s->f.n_items == 5);
    cf_model_destroy(&s), cf_model_destroy(&h);
    cr_assert_eq(cf_model_subset(NULL, NULL, NULL, &s, &err), CF_ERR_INVALID);
    cr_assert_null(s);
    cr_assert_eq(cf_model_subset(m, NULL, NULL, NULL, &err), CF_ERR_INVALID);
    cf_model_destroy(&m);
}
