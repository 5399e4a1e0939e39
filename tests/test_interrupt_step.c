/* test_interrupt_step.c — a stop request (Ctrl-C / SIGTERM in the CLI) that comes inside
 * an iteration, not at its end (issue 17 item 9): the CPU solvers poll the flag per row
 * batch, abandon the partial iteration, and the trainer checkpoints the last completed
 * one; resuming from that checkpoint ends bit-identical to an uninterrupted run.
 *
 * The moment is made deterministic by the CPU backend's test seam cf_cpu_stop_poll_hook
 * (called at every poll): a first run with one thread counts the polls of each iteration,
 * a second raises the flag at the poll halfway through iteration 3. Before the change the
 * flag was seen only at the iteration's end: iteration 3 completed, its progress line was
 * printed and the checkpoint held iteration 3. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cufactor.h"
#include "helpers.h"
#include "model.h"

extern void (*cf_cpu_stop_poll_hook)(void);

CF_TEST_SUITE_WITH_TMPDIR(istep, 300);

static volatile sig_atomic_t flag;
static long polls, raise_at; /* raise_at 0: never */

static void poll_hook(void) {
    if (++polls == raise_at) flag = 1;
}

typedef struct ends {
    int n;
    long at[64]; /* polls counted when iteration k + 1 ended */
} ends;

static int record_end(const cf_iter_info *info, void *user) {
    (void)info;
    ends *e = user;
    if (e->n < 64) e->at[e->n++] = polls;
    return 0;
}

static cf_dataset *planted(void) {
    cf_dataset *ds = cf_test_generate(150, 100, 9000, 3, 0.3, 21, 0);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.15, 5, &err), CF_OK);
    return ds;
}

static void case_for(cf_config c) {
    c.device = CF_DEVICE_CPU, c.factors = 5, c.iters = 6, c.lambda = 0.05;
    cf_dataset *ds = planted();
    cf_error err;
    cf_model *straight = NULL, *none = NULL, *resumed = NULL;
    cf_train_report rs, ri, rr;
    cf_config c2 = c;
    c2.threads = 2;
    cr_assert_eq(cf_train(ds, &c2, NULL, NULL, &straight, &rs, &err), CF_OK, "%s", err.msg);

    /* count the polls of each iteration (one thread: a fixed count) */
    c.threads = 1;
    cf_train_options opt;
    cf_train_options_default(&opt);
    flag = 0, polls = 0, raise_at = 0;
    opt.stop = &flag;
    cf_cpu_stop_poll_hook = poll_hook;
    ends count = {0};
    cf_model *m = NULL;
    cr_assert_eq(cf_train_ex(ds, &c, &opt, record_end, &count, &m, NULL, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&m);
    cr_assert_eq(count.n, 6);
    long in3 = count.at[2] - count.at[1];
    cr_assert_geq(in3, 2, "iteration 3 polled %ld times", in3);

    /* again, the flag raised halfway through iteration 3 */
    char *path = cf_test_path(dir, "run.cfc");
    flag = 0, polls = 0, raise_at = count.at[1] + in3 / 2 + 1;
    opt.checkpoint = path, opt.checkpoint_every = 0;
    ends seen = {0};
    cr_assert_eq(cf_train_ex(ds, &c, &opt, record_end, &seen, &none, &ri, &err), CF_ERR_INTERRUPTED, "%s", err.msg);
    cf_cpu_stop_poll_hook = NULL;
    cr_assert_null(none);
    cr_assert_eq(seen.n, 2, "iteration 3 was completed (%d progress calls): the stop was seen only at its end", seen.n);
    char want[512];
    snprintf(want, sizeof want, "interrupted during iteration 3 of 6 (abandoned); checkpoint of iteration 2 written to %s",
             path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(ri.iters, 2);
    cr_assert_eq(ri.checkpoints, 1);
    cf_checkpoint_info ck;
    cr_assert_eq(cf_checkpoint_info_get(path, &ck, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ck.iter, 2);

    cf_train_options ropt;
    cf_train_options_default(&ropt);
    ropt.resume = path;
    cr_assert_eq(cf_train_ex(ds, &c2, &ropt, NULL, NULL, &resumed, &rr, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rr.resumed_from, 2);
    const cf_factors *x = &straight->f, *y = &resumed->f;
    size_t nu = (size_t)x->n_users, ni = (size_t)x->n_items, k = (size_t)x->k;
    cr_assert(memcmp(x->P, y->P, nu * k * sizeof(double)) == 0, "P differs from the uninterrupted run");
    cr_assert(memcmp(x->Q, y->Q, ni * k * sizeof(double)) == 0, "Q differs from the uninterrupted run");
    cr_assert(memcmp(x->bu, y->bu, nu * sizeof(double)) == 0, "b_u differs");
    cr_assert(memcmp(x->bi, y->bi, ni * sizeof(double)) == 0, "b_i differs");
    cr_assert(memcmp(&rs.objective, &rr.objective, sizeof(double)) == 0, "objective %.17g vs %.17g", rs.objective,
              rr.objective);
    cf_model_destroy(&straight), cf_model_destroy(&resumed);
    free(path);
    cf_dataset_destroy(&ds);
}

static cf_config algo(cf_algo a) {
    cf_config c;
    cf_config_default(&c);
    c.algo = a;
    return c;
}

Test(istep, als) { case_for(algo(CF_ALGO_ALS)); }
Test(istep, alsgd) { case_for(algo(CF_ALGO_ALSGD)); }
Test(istep, ccd) { case_for(algo(CF_ALGO_CCD)); }
Test(istep, sgd_shuffle) {
    cf_config c = algo(CF_ALGO_SGD);
    c.schedule = CF_SCHED_SHUFFLE, c.lr_schedule = CF_LR_INVSCALE;
    case_for(c);
}
Test(istep, sgd_blocks) {
    cf_config c = algo(CF_ALGO_SGD);
    c.schedule = CF_SCHED_BLOCKS, c.blocks = 4;
    case_for(c);
}
Test(istep, gd_adam) {
    cf_config c = algo(CF_ALGO_GD);
    c.optimizer = CF_OPT_ADAM, c.lr = 0.01;
    case_for(c);
}
Test(istep, minibatch_adam) {
    cf_config c = algo(CF_ALGO_MINIBATCH);
    c.optimizer = CF_OPT_ADAM, c.lr = 0.01, c.batch = 700;
    case_for(c);
}

/* Without a checkpoint the partial iteration is abandoned too, and the run says so. */
Test(istep, without_a_checkpoint) {
    cf_dataset *ds = planted();
    cf_config c = algo(CF_ALGO_ALS);
    c.device = CF_DEVICE_CPU, c.threads = 1, c.factors = 4, c.iters = 5;
    cf_train_options opt;
    cf_train_options_default(&opt);
    opt.stop = &flag;
    flag = 0, polls = 0, raise_at = 10; /* inside the first half-step of iteration 1 */
    cf_cpu_stop_poll_hook = poll_hook;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    ends seen = {0};
    cr_assert_eq(cf_train_ex(ds, &c, &opt, record_end, &seen, &m, &rep, &err), CF_ERR_INTERRUPTED, "%s", err.msg);
    cf_cpu_stop_poll_hook = NULL;
    cr_assert_null(m);
    cr_assert_eq(seen.n, 0);
    cr_assert_str_eq(err.msg, "interrupted during iteration 1 of 5 (abandoned; no checkpoint configured)");
    cr_assert_eq(rep.checkpoints, 0);
    cf_dataset_destroy(&ds);
}
