/*
 * test_fuzz_regress.c — the fuzz harnesses (tests/fuzz/harness.c) on every committed
 * file of tests/fuzz/corpus/<target>/ (the seeds) and tests/fuzz/regress/<target>/
 * (inputs that once crashed or broke an invariant), in the normal build.
 *
 * Each file must keep every invariant the harness checks (success with a consistent
 * result, or a clean error naming the input), and its name states the exact outcome:
 *   ok-*       success
 *   parse-*    CF_ERR_PARSE   (readers)
 *   corrupt-*  CF_ERR_CORRUPT (model and checkpoint loaders)
 * A file with any other name fails the test, so no input escapes the status check.
 * Model files are also saved again when they load and must come back byte for byte.
 *
 * The model and checkpoint seeds named ok-* are produced by the library (model_seed,
 * checkpoint_seed below); the tests check that the committed bytes are still exactly what
 * cf_model_save / cf_checkpoint_save write, and rewrite them when CF_FUZZ_WRITE_SEEDS=1
 * is set in the environment.
 */
#include <criterion/criterion.h>

#include "checkpoint.h"
#include "harness.h"
#include "helpers.h"
#include "model.h"
#include "read.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_DELIM, T_MM, T_MODEL, T_CHECKPOINT } target;
static const char *const target_dir[] = {"delim", "mm", "model", "checkpoint"};

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Expected status from the file name; -1 for a name without a known prefix. */
static int expected_status(const char *name) {
    if (!strncmp(name, "ok-", 3)) return CF_OK;
    if (!strncmp(name, "parse-", 6)) return CF_ERR_PARSE;
    if (!strncmp(name, "corrupt-", 8)) return CF_ERR_CORRUPT;
    return -1;
}

/* Runs the harness of `t` on every file of CF_FUZZ_DIR/kind/<target>/; returns how many. */
static int run_dir(target t, const char *kind, const char *tmpdir) {
    char dpath[4096];
    snprintf(dpath, sizeof dpath, "%s/%s/%s", CF_FUZZ_DIR, kind, target_dir[t]);
    DIR *d = opendir(dpath);
    cr_assert_not_null(d, "cannot open %s", dpath);
    char *names[4096];
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        cr_assert_lt(n, 4096);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int k = 0; k < n; k++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dpath, names[k]);
        size_t len;
        char *data = cf_test_read(path, &len);
        cr_assert_not_null(data, "cannot read %s", path);
        cf_fuzz_outcome o;
        if (t == T_MODEL) cf_fuzz_model((const uint8_t *)data, len, tmpdir, &o);
        else if (t == T_CHECKPOINT) cf_fuzz_checkpoint((const uint8_t *)data, len, tmpdir, &o);
        else cf_fuzz_read((const uint8_t *)data, len, t == T_MM ? CF_FORMAT_MM : CF_FORMAT_DELIM, &o);
        cr_expect_str_empty(o.violation, "%s: %s", path, o.violation);
        int want = expected_status(names[k]);
        cr_expect_neq(want, -1, "%s: name must start with ok-, parse- or corrupt-", path);
        if (want >= 0)
            cr_expect_eq(o.status, (cf_status)want, "%s: status %s, the name says %s (message: %s)", path,
                         cf_status_name(o.status), cf_status_name((cf_status)want), o.msg);
        if (t <= T_MM && o.status == CF_OK) cr_expect_gt(o.count, 0, "%s: success with nothing read", path);
        free(data);
        free(names[k]);
    }
    return n;
}

static void run_target(target t, int min_files) {
    char *tmp = cf_test_tmpdir();
    cr_assert_not_null(tmp);
    int n = run_dir(t, "corpus", tmp) + run_dir(t, "regress", tmp);
    cf_test_rmtree(tmp);
    free(tmp);
    cr_expect_geq(n, min_files, "only %d files for %s", n, target_dir[t]);
}

Test(fuzz_regress, delim) { run_target(T_DELIM, 20); }
Test(fuzz_regress, mm) { run_target(T_MM, 15); }
Test(fuzz_regress, model) { run_target(T_MODEL, 5); }
Test(fuzz_regress, checkpoint) { run_target(T_CHECKPOINT, 8); }

/* ------------------------------------------------------------------ model seeds */

/* A model built directly (no training, so the bytes do not depend on BLAS or the CPU):
 * value v of P, Q, b_u, b_i is a fixed function of its position. */
static cf_model *model_seed(int64_t nu, int64_t ni, int32_t k, int bias, const char *prefix) {
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_factors_alloc(&f, nu, ni, k, bias, &err), CF_OK, "%s", err.msg);
    f.mu = bias ? 3.5 : 0.0;
    for (int64_t x = 0; x < nu * k; x++) f.P[x] = 0.25 * (double)(x % 7) - 0.5;
    for (int64_t x = 0; x < ni * k; x++) f.Q[x] = 0.125 * (double)(x % 5) - 0.25;
    for (int64_t x = 0; bias && x < nu; x++) f.bu[x] = 0.1 * (double)x;
    for (int64_t x = 0; bias && x < ni; x++) f.bi[x] = -0.2 * (double)x;
    cf_idmap *users = cf_idmap_create(), *items = cf_idmap_create();
    cr_assert(users && items);
    char name[64];
    uint32_t idx;
    for (int64_t x = 0; x < nu; x++) {
        int len = snprintf(name, sizeof name, "%su%lld", prefix, (long long)x);
        cr_assert_eq(cf_idmap_intern(users, name, (size_t)len, &idx, NULL), 0);
    }
    for (int64_t x = 0; x < ni; x++) {
        int len = snprintf(name, sizeof name, "%si%lld", prefix, (long long)x);
        cr_assert_eq(cf_idmap_intern(items, name, (size_t)len, &idx, NULL), 0);
    }
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = k;
    cfg.bias = bias;
    /* the settings cf_train chooses when left at 0 / auto, as the seeds were written with */
    cfg.iters = 15, cfg.lr = 0.01, cfg.batch = 10000, cfg.optimizer = CF_OPT_PLAIN;
    cf_model *m = cf_model_wrap(&f, users, items, &cfg);
    cr_assert_not_null(m);
    return m;
}

/* Today's bytes of a seed (written to `scratch` by `writer`) against the committed file:
 * always compared (writing the seed first and comparing it with itself could never fail);
 * with `write`, a committed file that differs is replaced, then checked like any other. */
static void seed_is_today(const char *scratch, const char *committed, int write, const char *writer) {
    size_t n1 = 0, n2 = 0;
    char *a = cf_test_read(scratch, &n1), *b = cf_test_read(committed, &n2);
    cr_assert_not_null(a, "cannot read %s", scratch);
    int same = b && n1 == n2 && memcmp(a, b, n1) == 0;
    if (write && !same) {
        FILE *f = fopen(committed, "wb");
        cr_assert_not_null(f, "cannot write %s", committed);
        cr_assert_eq(fwrite(a, 1, n1, f), n1);
        cr_assert_eq(fclose(f), 0);
        cr_log_info("rewrote %s (%zu bytes, was %zu)", committed, n1, n2);
        free(b);
        b = cf_test_read(committed, &n2);
        same = b && n1 == n2 && memcmp(a, b, n1) == 0;
    }
    cr_expect(same,
              "%s is not what %s writes today (%zu vs %zu bytes): rerun with CF_FUZZ_WRITE_SEEDS=1 if the format "
              "changed on purpose", committed, writer, n2, n1);
    free(a);
    free(b);
}

Test(fuzz_regress, model_seeds_are_what_the_library_writes) {
    static const struct { const char *file; int64_t nu, ni; int32_t k; int bias; const char *prefix; int counted; } seeds[] = {
        {"ok-tiny.cfm", 2, 3, 2, 1, "", 0},
        {"ok-nobias.cfm", 1, 1, 1, 0, "x", 0},
        {"ok-empty.cfm", 0, 0, 1, 1, "", 0},
        {"ok-users-only.cfm", 3, 0, 4, 1, "user-", 0},
        {"ok-counted.cfm", 3, 4, 2, 1, "c", 1}, /* version 2: rating counts */
        {"ok-bias-own.cfm", 3, 4, 2, 1, "b", 1}, /* version 3: the biases' own λ (below) */
    };
    char *tmp = cf_test_tmpdir();
    cr_assert_not_null(tmp);
    int write = getenv("CF_FUZZ_WRITE_SEEDS") && !strcmp(getenv("CF_FUZZ_WRITE_SEEDS"), "1");
    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++) {
        cf_model *m = model_seed(seeds[s].nu, seeds[s].ni, seeds[s].k, seeds[s].bias, seeds[s].prefix);
        for (int sd = 0; sd < 2 && seeds[s].counted; sd++) { /* users 1, 2, 3; items 0, 2, 4, 6 */
            const int64_t n = sd ? seeds[s].ni : seeds[s].nu;
            cr_assert_not_null(m->n_ratings[sd] = malloc(sizeof(int64_t) * (size_t)n));
            for (int64_t r = 0; r < n; r++) m->n_ratings[sd][r] = sd ? 2 * r : r + 1;
        }
        if (strstr(seeds[s].file, "bias-own")) m->config.bias_lambda = 2.5, m->config.bias_reg = CF_REG_PLAIN;
        char *path = cf_test_path(tmp, seeds[s].file), committed[4096];
        snprintf(committed, sizeof committed, "%s/corpus/model/%s", CF_FUZZ_DIR, seeds[s].file);
        cf_error err;
        cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
        seed_is_today(path, committed, write, "cf_model_save");
        /* and the committed seed loads back to the model it was made from */
        cf_model *back = NULL;
        cr_assert_eq(cf_model_load(committed, &back, &err), CF_OK, "%s", err.msg);
        cr_expect_eq(back->f.n_users, m->f.n_users);
        cr_expect_eq(back->f.n_items, m->f.n_items);
        cr_expect_eq(back->f.k, m->f.k);
        cr_expect_eq(back->f.bias, m->f.bias);
        size_t np = (size_t)m->f.n_users * (size_t)m->f.k, nq = (size_t)m->f.n_items * (size_t)m->f.k;
        cr_expect(np == 0 || memcmp(back->f.P, m->f.P, np * sizeof(double)) == 0, "%s: P differs", committed);
        cr_expect(nq == 0 || memcmp(back->f.Q, m->f.Q, nq * sizeof(double)) == 0, "%s: Q differs", committed);
        cr_expect(memcmp(&back->f.mu, &m->f.mu, sizeof(double)) == 0, "%s: mu differs", committed);
        for (int sd = 0; sd < 2; sd++)
            cr_expect(m->n_ratings[sd] ? back->n_ratings[sd] && memcmp(back->n_ratings[sd], m->n_ratings[sd],
                                                                        sizeof(int64_t) * (size_t)(sd ? m->f.n_items : m->f.n_users)) == 0
                                       : !back->n_ratings[sd],
                      "%s: rating counts of side %d differ", committed, sd);
        cf_model_destroy(&back);
        free(path);
        cf_model_destroy(&m);
    }
    cf_test_rmtree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ checkpoint seeds */

/* Factors filled with a fixed function of the position (as model_seed). */
static void fill_set(cf_factors *f, int64_t nu, int64_t ni, int32_t k, int bias, double scale) {
    cf_error err;
    cr_assert_eq(cf_factors_alloc(f, nu, ni, k, bias, &err), CF_OK, "%s", err.msg);
    for (int64_t x = 0; x < nu * k; x++) f->P[x] = scale * (0.25 * (double)(x % 7) - 0.5);
    for (int64_t x = 0; x < ni * k; x++) f->Q[x] = scale * (0.125 * (double)(x % 5) - 0.25);
    for (int64_t x = 0; bias && x < nu; x++) f->bu[x] = scale * 0.1 * (double)x;
    for (int64_t x = 0; bias && x < ni; x++) f->bi[x] = -scale * 0.2 * (double)x;
    f->mu = bias ? 3.5 : 0.0;
}

/* A training state built directly (no training: the bytes do not depend on BLAS or the
 * CPU). kind 0: run 0 at iteration 2; 1: run 2 of 3, run 1 kept; 2: gd with Adam moments
 * and the early-stopping best; 3: no biases, K = 1; 4: kind 0 with the biases regularized
 * apart (version 3). */
static void checkpoint_seed(int kind, cf_train_state *s) {
    memset(s, 0, sizeof *s);
    cf_config_default(&s->cfg);
    const int bias = kind != 3;
    const int64_t nu = kind == 3 ? 1 : 2, ni = kind == 3 ? 1 : 3;
    const int32_t k = kind == 3 ? 1 : 2;
    s->cfg.factors = k, s->cfg.bias = bias;
    s->cfg.iters = 15, s->cfg.lr = 0.01, s->cfg.batch = 10000, s->cfg.optimizer = CF_OPT_PLAIN;
    s->data_hash = 0x0123456789abcdefULL, s->n_train = 10, s->n_test = 2;
    snprintf(s->backend, sizeof s->backend, "cpu");
    if (kind == 4) s->cfg.bias_lambda = 2.5, s->cfg.bias_reg = CF_REG_PLAIN;
    fill_set(&s->cur, nu, ni, k, bias, 1.0);
    s->iter = 2, s->prev_obj = 12.5, s->best_test = INFINITY, s->best_score = INFINITY;
    s->last = (cf_iter_info){.iter = 2, .train_rmse = 0.9, .test_rmse = 1.0, .objective = 12.5, .seconds = 0.01,
                             .ratings_per_sec = 1000};
    if (kind == 1) {
        s->cfg.restarts = 3, s->restart = 2, s->have_result = 1;
        fill_set(&s->result, nu, ni, k, bias, 0.5);
        s->best_score = 0.95, s->result_iters = 15, s->result_stop = CF_STOP_ITERS;
        s->result_last = (cf_iter_info){.iter = 15, .train_rmse = 0.8, .test_rmse = 0.95, .objective = 10.25,
                                        .seconds = 0.02, .ratings_per_sec = 500, .restart = 1};
        s->last.restart = 2;
    }
    if (kind == 2) {
        s->cfg.algo = CF_ALGO_GD, s->cfg.optimizer = CF_OPT_ADAM, s->cfg.early_stop = 3, s->cfg.iters = 50;
        s->have_best = 1, s->best_test = 0.97, s->since_best = 1;
        fill_set(&s->best, nu, ni, k, bias, 0.75);
        s->solver.has_moments = 1, s->solver.counter = 5;
        fill_set(&s->solver.m, nu, ni, k, bias, 0.01);
        fill_set(&s->solver.v, nu, ni, k, bias, 0.001);
    }
}

Test(fuzz_regress, checkpoint_seeds_are_what_the_library_writes) {
    static const char *const files[] = {"ok-run-0.cfc", "ok-restart-kept-1.cfc", "ok-adam-best.cfc", "ok-nobias.cfc",
                                        "ok-bias-own.cfc"};
    char *tmp = cf_test_tmpdir();
    cr_assert_not_null(tmp);
    int write = getenv("CF_FUZZ_WRITE_SEEDS") && !strcmp(getenv("CF_FUZZ_WRITE_SEEDS"), "1");
    for (int kind = 0; kind < 5; kind++) {
        cf_train_state s, back;
        checkpoint_seed(kind, &s);
        char *path = cf_test_path(tmp, files[kind]), committed[4096];
        snprintf(committed, sizeof committed, "%s/corpus/checkpoint/%s", CF_FUZZ_DIR, files[kind]);
        cf_error err;
        cr_assert_eq(cf_checkpoint_save(&s, path, &err), CF_OK, "%s", err.msg);
        seed_is_today(path, committed, write, "cf_checkpoint_save");
        cr_assert_eq(cf_checkpoint_load(committed, &back, &err), CF_OK, "%s", err.msg);
        cr_expect(back.restart == s.restart && back.iter == s.iter && back.have_result == s.have_result &&
                      back.have_best == s.have_best && back.solver.has_moments == s.solver.has_moments &&
                      back.result_last.restart == s.result_last.restart &&
                      back.cfg.bias_lambda == (kind == 4 ? 2.5 : s.cfg.lambda),
                  "%s: the state differs", committed);
        cf_train_state_free(&back);
        if (kind == 1) { /* the same state as version 1 wrote it: the kept run unknown */
            size_t n, n1;
            char *v2 = cf_test_read(path, &n), *v1 = cf_test_checkpoint_as_v1(v2, n, &n1);
            char *p1 = cf_test_write(tmp, "ok-version-1.cfc", v1, n1);
            snprintf(committed, sizeof committed, "%s/corpus/checkpoint/ok-version-1.cfc", CF_FUZZ_DIR);
            seed_is_today(p1, committed, write, "a version 1 writer");
            cr_assert_eq(cf_checkpoint_load(committed, &back, &err), CF_OK, "%s", err.msg);
            cr_expect_eq(back.result_last.restart, -1);
            cr_expect_eq(back.restart, 2);
            cf_train_state_free(&back);
            free(v1), free(v2), free(p1);
        }
        cf_train_state_free(&s);
        free(path);
    }
    cf_test_rmtree(tmp);
    free(tmp);
}

/* ------------------------------------------------------------------ the in-memory entry points */

/* The bytes of a file read through cf_read_memory and through the path reader give the same
 * ratings and report (the path reader is a thin shell around the same parser). */
Test(fuzz_regress, read_memory_matches_the_path_reader) {
    static const char text[] = "userId,movieId,rating\n1,31,2.5\n1,1029,3\n2,31,4\n1,31,5\n";
    char *tmp = cf_test_tmpdir();
    char *path = cf_test_write(tmp, "r.csv", text, (size_t)-1);
    cf_dataset *a = NULL, *b = cf_dataset_create();
    cf_read_report ra, rb;
    cf_error err;
    cr_assert_eq(cf_dataset_read(path, NULL, &a, &ra, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_read_memory(b, 0, "mem", text, strlen(text), NULL, &rb, &err), CF_OK, "%s", err.msg);
    cr_expect_eq(ra.ratings, 3);
    cr_expect_eq(rb.ratings, 3);
    cr_expect_eq(rb.duplicates, 1);
    cr_expect_eq(rb.header, 1);
    cr_expect_eq(rb.bytes, (int64_t)strlen(text));
    cr_expect_eq(a->all.n, b->all.n);
    cr_expect_arr_eq(a->all.u, b->all.u, 3 * sizeof(uint32_t));
    cr_expect_arr_eq(a->all.i, b->all.i, 3 * sizeof(uint32_t));
    cr_expect_arr_eq(a->all.r, b->all.r, 3 * sizeof(float));
    /* the name given stands for the file in messages */
    cr_expect_eq(cf_read_memory(b, 1, "mem", "1,2\n", 4, NULL, NULL, &err), CF_ERR_PARSE);
    cr_expect_str_eq(err.msg, "mem:1: missing rating field: 1,2");
    cr_expect_eq(b->all.n, 3, "a failed read keeps the ratings it had");
    cr_expect_eq(cf_read_memory(b, 2, "mem", "1,2,3\n", 6, NULL, NULL, &err), CF_ERR_INVALID);
    cf_dataset_destroy(&a);
    cf_dataset_destroy(&b);
    cf_test_rmtree(tmp);
    free(path);
    free(tmp);
}

Test(fuzz_regress, model_load_memory_matches_the_file_loader) {
    cf_model *m = model_seed(2, 3, 2, 1, "");
    char *tmp = cf_test_tmpdir(), *path = cf_test_path(tmp, "m.cfm");
    cf_error err;
    cr_assert_eq(cf_model_save(m, path, &err), CF_OK, "%s", err.msg);
    size_t n;
    char *bytes = cf_test_read(path, &n);
    cf_model *a = NULL, *b = NULL;
    cr_assert_eq(cf_model_load(path, &a, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_load_memory("mem.cfm", bytes, n, &b, &err), CF_OK, "%s", err.msg);
    cr_expect_arr_eq(a->f.P, b->f.P, 4 * sizeof(double)); /* 2 users × K = 2 */
    cr_expect_arr_eq(a->f.Q, b->f.Q, 6 * sizeof(double)); /* 3 items × K = 2 */
    cr_expect_arr_eq(a->f.bi, b->f.bi, 3 * sizeof(double));
    cr_expect_eq(a->f.mu, 3.5);
    cr_expect_eq(b->f.mu, 3.5);
    /* one byte less: the same error as a truncated file, under the given name */
    cf_model_destroy(&b);
    cr_expect_eq(cf_model_load_memory("mem.cfm", bytes, n - 1, &b, &err), CF_ERR_CORRUPT);
    cr_expect_null(b);
    cr_expect(strncmp(err.msg, "mem.cfm: ", 9) == 0, "%s", err.msg);
    /* the checksum covers every byte but the last 8 */
    uint64_t stored;
    memcpy(&stored, bytes + n - 8, 8);
    cr_expect_eq(cf_cfm_checksum(bytes, n - 8), stored);
    cf_model_destroy(&a);
    cf_model_destroy(&m);
    free(bytes);
    cf_test_rmtree(tmp);
    free(path);
    free(tmp);
}
