/* test_checkpoint.c — checkpoint and resume through the public API (cf_train_ex):
 * a training stopped at an iteration boundary (through the stop flag, as the CLI's
 * signal handler does) and resumed from its checkpoint must end bit-identical to an
 * uninterrupted one (memcmp of P, Q, b_u, b_i, equal μ, objective, RMSEs, iteration
 * count and stop reason) for every CPU algorithm with biases on, with early stopping,
 * tol and restarts; and a bad checkpoint or a resume with other settings or other
 * data is a clear error. */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cufactor.h"
#include "helpers.h"
#include "model.h"

CF_TEST_SUITE_WITH_TMPDIR(ckpt, 300);

static cf_dataset *planted(uint64_t seed, double density_ratings) {
    cf_dataset *ds = cf_test_generate(150, 100, (int64_t)density_ratings, 3, 0.3, seed, 0);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.15, 5, &err), CF_OK);
    return ds;
}

static cf_config base(cf_algo algo) {
    cf_config c;
    cf_config_default(&c);
    c.device = CF_DEVICE_CPU, c.threads = 2, c.factors = 5, c.iters = 8, c.algo = algo, c.lambda = 0.05;
    return c;
}

static void algo_case(cf_config c) {
    cf_dataset *ds = planted(11, 5000);
    cf_checkpoint_info ck;
    cf_train_report r = cf_test_resume_matches(dir, ds, c, 3, 1, 0.0, &ck);
    cr_assert_eq(ck.iter, 3);
    cr_assert_eq(ck.restart, 0);
    cr_assert_eq(r.iters, c.iters);
    cf_dataset_destroy(&ds);
}

Test(ckpt, als_resumes_bit_identical) { algo_case(base(CF_ALGO_ALS)); }

Test(ckpt, sgd_shuffle_resumes_bit_identical) {
    cf_config c = base(CF_ALGO_SGD);
    c.lr_schedule = CF_LR_INVSCALE; /* the learning rate depends on the epoch */
    algo_case(c);
}

Test(ckpt, sgd_blocks_resumes_bit_identical) {
    cf_config c = base(CF_ALGO_SGD);
    c.schedule = CF_SCHED_BLOCKS, c.blocks = 4;
    algo_case(c);
}

Test(ckpt, gd_adam_resumes_bit_identical) {
    cf_config c = base(CF_ALGO_GD);
    c.optimizer = CF_OPT_ADAM, c.lr = 0.01;
    algo_case(c);
}

Test(ckpt, minibatch_adam_resumes_bit_identical) {
    cf_config c = base(CF_ALGO_MINIBATCH);
    c.optimizer = CF_OPT_ADAM, c.lr = 0.01, c.batch = 700;
    algo_case(c);
}

Test(ckpt, ccd_resumes_bit_identical) { algo_case(base(CF_ALGO_CCD)); }

Test(ckpt, alsgd_resumes_bit_identical) { algo_case(base(CF_ALGO_ALSGD)); }

/* Adam's moments are state: without them the resumed run would differ. A checkpoint
 * written after 3 epochs holds them (and the step count 3), and dropping them changes
 * the result, so the test above could fail. */
Test(ckpt, adam_moments_are_in_the_checkpoint) {
    cf_dataset *ds = planted(11, 5000);
    cf_config c = base(CF_ALGO_GD);
    c.optimizer = CF_OPT_ADAM;
    cf_checkpoint_info ck;
    cf_test_resume_matches(dir, ds, c, 3, 2, 0.0, &ck);
    char *path = cf_test_path(dir, "run.cfc");
    cf_train_state s;
    cf_error err;
    cr_assert_eq(cf_checkpoint_load(path, &s, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(s.solver.counter, 3);
    cr_assert(s.solver.has_moments);
    double vsum = 0;
    for (int64_t k = 0; k < s.solver.v.n_users * s.solver.v.k; k++) vsum += s.solver.v.P[k];
    cr_assert_gt(vsum, 0.0, "the second moments are all zero");
    /* the same file without the moments resumes to a different model */
    s.solver.has_moments = 0, s.solver.counter = 0;
    char *p2 = cf_test_path(dir, "nomoments.cfc");
    cr_assert_eq(cf_checkpoint_save(&s, p2, &err), CF_OK, "%s", err.msg);
    cf_train_state_free(&s);
    cf_model *a = NULL, *b = NULL;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &a, NULL, &err), CF_OK);
    cf_train_options o;
    cf_train_options_default(&o);
    o.resume = p2;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &b, NULL, &err), CF_OK, "%s", err.msg);
    cr_assert(memcmp(a->f.P, b->f.P, sizeof(double) * (size_t)(a->f.n_users * a->f.k)) != 0);
    cf_model_destroy(&a), cf_model_destroy(&b);
    free(path), free(p2);
    cf_dataset_destroy(&ds);
}

/* Early stopping: λ small and K large overfit a sparse set, so the test RMSE turns up
 * and the run stops early; the interruption falls after the best iteration, while the
 * patience counter runs, so the best model, its RMSE and the counter must all come back. */
Test(ckpt, early_stop_resumes_bit_identical) {
    cf_dataset *ds = planted(12, 2500);
    cf_config c = base(CF_ALGO_ALS);
    c.factors = 12, c.lambda = 0.01, c.reg = CF_REG_PLAIN, c.iters = 30, c.early_stop = 3;
    cf_error err;
    cf_model *a = NULL;
    cf_train_report ra;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &a, &ra, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&a);
    cr_assert_str_eq(ra.stop_reason, "early-stop", "the data do not make the run stop early");
    /* ra.iters counts the iterations run: the best one, then `early_stop` more; stop
     * one iteration after the best */
    int stop_at = ra.iters - c.early_stop + 1;
    cr_assert_gt(stop_at, 1);
    cf_checkpoint_info ck;
    cf_train_report r = cf_test_resume_matches(dir, ds, c, stop_at, 2, 0.0, &ck);
    cr_assert_str_eq(r.stop_reason, "early-stop");
    char *path = cf_test_path(dir, "run.cfc");
    cf_train_state s;
    cr_assert_eq(cf_checkpoint_load(path, &s, &err), CF_OK, "%s", err.msg);
    cr_assert(s.have_best);
    cr_assert_eq(s.since_best, 1);
    cf_train_state_free(&s);
    free(path);
    cf_dataset_destroy(&ds);
}

/* tol: the previous objective is state; the run stops on tol after the interruption. */
Test(ckpt, tol_resumes_bit_identical) {
    cf_dataset *ds = planted(13, 5000);
    cf_config c = base(CF_ALGO_ALS);
    c.iters = 40, c.tol = 1e-4;
    cf_checkpoint_info ck;
    cf_train_report r = cf_test_resume_matches(dir, ds, c, 2, 2, 0.0, &ck);
    cr_assert_str_eq(r.stop_reason, "tol");
    cr_assert_gt(r.iters, 2);
    cr_assert_lt(r.iters, 40);
    cf_dataset_destroy(&ds);
}

/* Restarts: stopped in the second of three runs; the first run's model, score and
 * report are in the checkpoint. Then stopped in the third run, after the run that is
 * kept in the end: which run that was comes from the checkpoint (the report's restart). */
Test(ckpt, restarts_resume_bit_identical) {
    cf_dataset *ds = planted(14, 5000);
    cf_config c = base(CF_ALGO_SGD);
    c.restarts = 3, c.iters = 4, c.lr = 0.02;
    cf_checkpoint_info ck;
    cf_train_report r = cf_test_resume_matches(dir, ds, c, 6, 2, 0.0, &ck); /* 4 calls of run 0, 2 of run 1 */
    cr_assert_eq(ck.restart, 1);
    cr_assert_eq(ck.iter, 2);
    cf_dataset_destroy(&ds);
    ds = planted(15, 5000); /* keeps run 1 of 3 */
    r = cf_test_resume_matches(dir, ds, c, 9, 1, 0.0, &ck); /* stopped in run 2 */
    cr_assert_eq(ck.restart, 2);
    cr_assert_eq(r.restart, 1, "this fixture keeps run %d; the case needs run 1", r.restart);
    cf_dataset_destroy(&ds);
}

/* A version 2 checkpoint file rewritten as version 1 wrote it (helpers.h), in dir/name. */
static char *as_version_1(const char *path, const char *name) {
    size_t len, n1;
    char *v2 = cf_test_read(path, &len);
    cr_assert_not_null(v2);
    char *v1 = cf_test_checkpoint_as_v1(v2, len, &n1);
    char *out = cf_test_write(dir, name, v1, n1);
    free(v1), free(v2);
    return out;
}

/* A version 1 checkpoint (from before the kept run's index) still resumes to the same
 * model; the report's kept run is 0 with one run and -1 ("unknown") when a finished run
 * came from the file. */
Test(ckpt, version_1_checkpoints_still_resume) {
    cf_dataset *ds = planted(14, 5000);
    for (int restarts = 1; restarts <= 3; restarts += 2) {
        cf_config c = base(CF_ALGO_ALS);
        c.restarts = restarts, c.iters = 4;
        cf_error err;
        cf_model *a = NULL, *b = NULL, *none = NULL;
        cf_train_report ra, ri, rb;
        cr_assert_eq(cf_train(ds, &c, NULL, NULL, &a, &ra, &err), CF_OK, "%s", err.msg);
        /* stopped in run 0, or in run 1 after run 0 finished */
        char *path = cf_test_stopped_checkpoint(dir, "two.cfc", ds, &c, restarts == 1 ? 2 : 6, NULL);
        char *old = as_version_1(path, "one.cfc");
        cf_train_options ropt;
        cf_train_options_default(&ropt);
        ropt.resume = old;
        cr_assert_eq(cf_train_ex(ds, &c, &ropt, NULL, NULL, &b, &rb, &err), CF_OK, "%s", err.msg);
        cf_test_assert_same_model(a, b);
        cr_assert_eq(rb.iters, ra.iters);
        cr_assert(memcmp(&ra.test_rmse, &rb.test_rmse, sizeof(double)) == 0);
        if (restarts == 1)
            cr_assert_eq(rb.restart, 0);
        else /* run 0 finished before the checkpoint: kept, if it won, as an unknown run */
            cr_assert_eq(rb.restart, ra.restart == 0 ? -1 : ra.restart, "kept %d, resumed %d", ra.restart,
                         rb.restart);
        if (restarts == 3) { /* resumed from version 1, stopped again in run 2: the new checkpoint resumes too */
            cf_model *c2 = NULL;
            char *again = cf_test_path(dir, "again.cfc");
            volatile sig_atomic_t flag = 0;
            cf_test_stopper s2 = {0, 4, &flag}; /* the rest of run 1 (2 calls), then 2 of run 2 */
            cf_train_options aopt;
            cf_train_options_default(&aopt);
            aopt.resume = old, aopt.checkpoint = again, aopt.checkpoint_every = 0, aopt.stop = &flag;
            cr_assert_eq(cf_train_ex(ds, &c, &aopt, cf_test_stop_cb, &s2, &none, &ri, &err), CF_ERR_INTERRUPTED, "%s",
                         err.msg);
            cf_train_options_default(&ropt);
            ropt.resume = again;
            cr_assert_eq(cf_train_ex(ds, &c, &ropt, NULL, NULL, &c2, &rb, &err), CF_OK, "%s", err.msg);
            cf_test_assert_same_model(a, c2);
            cf_model_destroy(&c2);
            free(again);
        }
        cf_model_destroy(&a), cf_model_destroy(&b);
        free(path), free(old);
    }
    cf_dataset_destroy(&ds);
}

/* A stop request that is already up before the first iteration: a checkpoint of the
 * initial state (iteration 0) that resumes to the same model. */
Test(ckpt, stop_before_the_first_iteration) {
    cf_dataset *ds = planted(15, 4000);
    cf_config c = base(CF_ALGO_CCD);
    char *path = cf_test_path(dir, "zero.cfc");
    volatile sig_atomic_t flag = 1;
    cf_train_options o;
    cf_train_options_default(&o);
    o.checkpoint = path, o.stop = &flag;
    cf_model *m = NULL, *a = NULL, *b = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &m, &rep, &err), CF_ERR_INTERRUPTED);
    cr_assert_eq(rep.iters, 0);
    cf_checkpoint_info ck;
    cr_assert_eq(cf_checkpoint_info_get(path, &ck, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ck.iter, 0);
    cr_assert_eq(ck.n_train + ck.n_test, 4000);
    cf_train_options r;
    cf_train_options_default(&r);
    r.resume = path;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &a, NULL, &err), CF_OK);
    cr_assert_eq(cf_train_ex(ds, &c, &r, NULL, NULL, &b, NULL, &err), CF_OK, "%s", err.msg);
    cf_test_assert_same_model(a, b);
    cf_model_destroy(&a), cf_model_destroy(&b);
    free(path);
    cf_dataset_destroy(&ds);
}

/* Periodic checkpoints: every 2 iterations of 7 → written after 2, 4, 6 (not after the
 * last); the last one resumes to the uninterrupted model. A longer --iters on resume
 * continues the same run. */
Test(ckpt, periodic_checkpoints_and_a_longer_resume) {
    cf_dataset *ds = planted(16, 5000);
    cf_config c = base(CF_ALGO_SGD);
    c.iters = 7;
    char *path = cf_test_path(dir, "every.cfc");
    cf_train_options o;
    cf_train_options_default(&o);
    o.checkpoint = path, o.checkpoint_every = 2;
    cf_model *a = NULL, *b = NULL, *l = NULL, *l2 = NULL;
    cf_train_report ra, rb;
    cf_error err;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &a, &ra, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ra.checkpoints, 3);
    cf_checkpoint_info ck;
    cr_assert_eq(cf_checkpoint_info_get(path, &ck, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ck.iter, 6);
    cf_train_options r;
    cf_train_options_default(&r);
    r.resume = path;
    cr_assert_eq(cf_train_ex(ds, &c, &r, NULL, NULL, &b, &rb, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rb.resumed_from, 6);
    cf_test_assert_same_model(a, b);
    cf_test_assert_same_report(&ra, &rb);
    /* 7 → 10 iterations from the checkpoint at 6 equals 10 uninterrupted */
    cf_config c10 = c;
    c10.iters = 10;
    cr_assert_eq(cf_train(ds, &c10, NULL, NULL, &l, NULL, &err), CF_OK);
    cr_assert_eq(cf_train_ex(ds, &c10, &r, NULL, NULL, &l2, NULL, &err), CF_OK, "%s", err.msg);
    cf_test_assert_same_model(l, l2);
    cf_model_destroy(&a), cf_model_destroy(&b), cf_model_destroy(&l), cf_model_destroy(&l2);
    free(path);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ errors */

/* A checkpoint after 2 ALS iterations, for the error tests. */
static char *make_checkpoint(const cf_dataset *ds, const cf_config *c, const char *name) {
    return cf_test_stopped_checkpoint(dir, name, ds, c, 2, NULL);
}

static cf_status resume_with(const cf_dataset *ds, const cf_config *c, const char *path, cf_error *err) {
    cf_train_options o;
    cf_train_options_default(&o);
    o.resume = path;
    cf_model *m = NULL;
    cf_status st = cf_train_ex(ds, c, &o, NULL, NULL, &m, NULL, err);
    if (st == CF_OK) cf_model_destroy(&m);
    else cr_assert_null(m);
    return st;
}

Test(ckpt, damaged_files_are_clear_errors) {
    cf_dataset *ds = planted(17, 3000);
    cf_config c = base(CF_ALGO_ALS);
    char *path = make_checkpoint(ds, &c, "good.cfc");
    size_t len;
    char *good = cf_test_read(path, &len);
    cr_assert_not_null(good);
    cr_assert_gt(len, 348);
    cf_error err;
    cr_assert_eq(resume_with(ds, &c, path, &err), CF_OK, "%s", err.msg);

    /* one flipped byte in the factors */
    char *bad = malloc(len);
    memcpy(bad, good, len);
    bad[len / 2] ^= 0x10;
    char *p = cf_test_write(dir, "flip.cfc", bad, len);
    cr_assert_eq(resume_with(ds, &c, p, &err), CF_ERR_CORRUPT);
    cr_assert(strstr(err.msg, p) && strstr(err.msg, "checksum"), "%s", err.msg);
    free(p);
    /* truncated */
    p = cf_test_write(dir, "short.cfc", good, len - 9);
    cr_assert_eq(resume_with(ds, &c, p, &err), CF_ERR_CORRUPT);
    cr_assert(strstr(err.msg, "truncated"), "%s", err.msg);
    free(p);
    p = cf_test_write(dir, "tiny.cfc", good, 20);
    cr_assert_eq(resume_with(ds, &c, p, &err), CF_ERR_CORRUPT);
    cr_assert(strstr(err.msg, "truncated"), "%s", err.msg);
    free(p);
    /* another version */
    memcpy(bad, good, len);
    bad[8] = 4;
    p = cf_test_write(dir, "v4.cfc", bad, len);
    cr_assert_eq(resume_with(ds, &c, p, &err), CF_ERR_CORRUPT);
    cr_assert(strstr(err.msg, "version 4 not supported"), "%s", err.msg);
    /* version 3 says its header is 360 bytes: a version-2 header under that number is refused */
    bad[8] = 3;
    free(p);
    p = cf_test_write(dir, "v3.cfc", bad, len);
    cr_assert_eq(resume_with(ds, &c, p, &err), CF_ERR_CORRUPT);
    cr_assert(strstr(err.msg, "header size 348, version 3 has 360"), "%s", err.msg);
    free(p);
    /* not a checkpoint: a model file */
    cf_model *m = NULL;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, NULL, &err), CF_OK);
    p = cf_test_path(dir, "model.cfm");
    cr_assert_eq(cf_model_save(m, p, &err), CF_OK);
    cf_model_destroy(&m);
    cr_assert_eq(resume_with(ds, &c, p, &err), CF_ERR_CORRUPT);
    cr_assert(strstr(err.msg, "not a cufactor checkpoint"), "%s", err.msg);
    free(p);
    /* missing */
    p = cf_test_path(dir, "missing.cfc");
    cr_assert_eq(resume_with(ds, &c, p, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, p), "%s", err.msg);
    free(p);
    free(bad), free(good), free(path);
    cf_dataset_destroy(&ds);
}

Test(ckpt, other_settings_or_data_are_refused) {
    cf_dataset *ds = planted(18, 3000);
    cf_config c = base(CF_ALGO_ALS);
    char *path = make_checkpoint(ds, &c, "ck.cfc");
    cf_error err;
    cf_config d = c;
    d.lambda = 0.07;
    cr_assert_eq(resume_with(ds, &d, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "lambda is 0.07") && strstr(err.msg, "0.05") && strstr(err.msg, path), "%s", err.msg);
    d = c;
    d.algo = CF_ALGO_CCD;
    cr_assert_eq(resume_with(ds, &d, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "algo"), "%s", err.msg);
    d = c;
    d.seed = 7;
    cr_assert_eq(resume_with(ds, &d, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "seed is 7"), "%s", err.msg);
    /* iters and threads may change */
    d = c;
    d.iters = 12, d.threads = 1;
    cr_assert_eq(resume_with(ds, &d, path, &err), CF_OK, "%s", err.msg);
    /* same shape, other ratings */
    cf_dataset *other = planted(19, 3000);
    cr_assert_eq(resume_with(other, &c, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "other data"), "%s", err.msg);
    cf_dataset_destroy(&other);
    /* same ratings, other split */
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = 150, g.items = 100, g.ratings = 3000, g.rank = 3, g.noise = 0.3, g.seed = 18, g.clip = 0;
    cr_assert_eq(cf_generate(&g, &other, &err), CF_OK);
    cr_assert_eq(cf_dataset_split(other, 0.15, 6, &err), CF_OK);
    cr_assert_eq(resume_with(other, &c, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "other contents"), "%s", err.msg);
    cf_dataset_destroy(&other);
    free(path);
    cf_dataset_destroy(&ds);
}

static uint32_t le32_at(const char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Biases regularized apart (bias_lambda / bias_reg): the checkpoint is version 3 (header
 * 360, the bias block last) and an ALS and an SGD run resume bit-identical; a resume
 * with another bias λ or mode, or with "same" (λ's), is refused naming the field; the
 * default stays version 2 (header 348). */
Test(ckpt, bias_regularization_is_kept_and_checked) {
    cf_config c = base(CF_ALGO_ALS);
    c.bias_lambda = 3.0, c.bias_reg = CF_REG_PLAIN;
    algo_case(c);
    cf_config s = base(CF_ALGO_SGD);
    s.bias_lambda = 0.5, s.bias_reg = CF_REG_PLAIN;
    algo_case(s);

    cf_dataset *ds = planted(18, 3000);
    size_t len;
    char *path = make_checkpoint(ds, &c, "b.cfc"), *bytes = cf_test_read(path, &len);
    cr_assert(bytes && len > 360 && le32_at(bytes + 8) == 3u && le32_at(bytes + 12) == 360u, "version 3");
    double lam;
    memcpy(&lam, bytes + 348, 8);
    cr_assert(lam == 3.0 && le32_at(bytes + 356) == (uint32_t)CF_REG_PLAIN, "the bias block");
    free(bytes);
    cf_error err;
    cr_assert_eq(resume_with(ds, &c, path, &err), CF_OK, "%s", err.msg);
    cf_config d = c;
    d.bias_lambda = 4.0;
    cr_assert_eq(resume_with(ds, &d, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "bias_lambda is 4 here but 3"), "%s", err.msg);
    d = c;
    d.bias_reg = CF_REG_WEIGHTED;
    cr_assert_eq(resume_with(ds, &d, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "bias_reg"), "%s", err.msg);
    d = base(CF_ALGO_ALS);
    cr_assert_eq(resume_with(ds, &d, path, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "bias_lambda is 0.05 here but 3"), "%s", err.msg);
    free(path);

    path = make_checkpoint(ds, &d, "same.cfc");
    bytes = cf_test_read(path, &len);
    cr_assert(bytes && le32_at(bytes + 8) == 2u && le32_at(bytes + 12) == 348u, "the default: version 2");
    free(bytes), free(path);
    cf_dataset_destroy(&ds);
}

Test(ckpt, stop_without_checkpoint_and_unwritable_checkpoint) {
    cf_dataset *ds = planted(20, 3000);
    cf_config c = base(CF_ALGO_ALS);
    volatile sig_atomic_t flag = 0;
    cf_test_stopper s = {0, 2, &flag};
    cf_train_options o;
    cf_train_options_default(&o);
    o.stop = &flag;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train_ex(ds, &c, &o, cf_test_stop_cb, &s, &m, &rep, &err), CF_ERR_INTERRUPTED);
    cr_assert_null(m);
    cr_assert_eq(rep.iters, 2);
    cr_assert_eq(rep.checkpoints, 0);
    cr_assert(strstr(err.msg, "after iteration 2 of 8 (no checkpoint configured)"), "%s", err.msg);
    /* a checkpoint in a directory that does not exist: CF_ERR_IO at the first write */
    char *path = cf_test_path(dir, "nodir/ck.cfc");
    cf_train_options_default(&o);
    o.checkpoint = path, o.checkpoint_every = 3;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &m, &rep, &err), CF_ERR_IO);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, "nodir"), "%s", err.msg);
    free(path);
    cf_dataset_destroy(&ds);
}
