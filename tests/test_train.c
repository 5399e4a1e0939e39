/* test_train.c — the trainer end to end through the public API: generated data, split,
 * cf_train, determinism across thread counts, stopping rules, device selection. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "cufactor.h"
#include "dataset.h"
#include "model.h"

static cf_dataset *planted(uint64_t seed) {
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = 300, g.items = 200, g.ratings = 15000, g.rank = 4, g.noise = 0.2, g.seed = seed, g.clip = 0;
    cf_dataset *ds = NULL;
    cf_error err;
    cr_assert_eq(cf_generate(&g, &ds, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_dataset_split(ds, 0.1, 3, &err), CF_OK);
    return ds;
}

static cf_config cpu_cfg(int threads) {
    cf_config c;
    cf_config_default(&c);
    c.device = CF_DEVICE_CPU, c.threads = threads, c.factors = 4, c.iters = 6, c.lambda = 0.01;
    return c;
}

typedef struct { int calls; double last_obj, first_obj; } progress_log;
static int on_iter(const cf_iter_info *info, void *user) {
    progress_log *p = user;
    if (p->calls == 0) p->first_obj = info->objective;
    p->calls++;
    p->last_obj = info->objective;
    cr_assert_eq(info->iter, p->calls);
    return 0;
}

Test(train, als_end_to_end_reaches_the_noise_level) {
    cf_dataset *ds = planted(1);
    cf_config c = cpu_cfg(2);
    progress_log log = {0};
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train(ds, &c, on_iter, &log, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(log.calls, 6);
    cr_assert_eq(rep.iters, 6);
    cr_assert_str_eq(rep.stop_reason, "iters");
    cr_assert_eq(rep.n_train + rep.n_test, 15000);
    cr_assert_eq(rep.n_test, 1500);
    cr_assert_float_eq(rep.objective, log.last_obj, 0.0);
    cr_assert_lt(log.last_obj, log.first_obj);
    cr_assert_lt(rep.test_rmse, 1.2 * 0.2, "test RMSE %.4f vs noise 0.2", rep.test_rmse);
    cr_assert(strncmp(rep.device, "cpu", 3) == 0, "%s", rep.device);
    /* the model's own evaluation of the test part matches the trainer's figure */
    cf_eval_report ev;
    cr_assert_eq(cf_model_evaluate(m, ds, &ev, &err), CF_OK);
    cr_assert_eq(ev.count, 15000);
    cf_model_info info;
    cf_model_info_get(m, &info);
    cr_assert_eq(info.factors, 4);
    cr_assert_eq(info.bias, 1);
    cf_model_destroy(&m);
    cr_assert_null(m);
    cf_dataset_destroy(&ds);
}

Test(train, same_seed_same_model_for_one_and_two_threads) {
    cf_dataset *ds = planted(2);
    cf_model *m[2];
    for (int t = 0; t < 2; t++) {
        cf_config c = cpu_cfg(t + 1);
        cf_error err;
        cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m[t], NULL, &err), CF_OK, "%s", err.msg);
    }
    const cf_factors *a = &m[0]->f, *b = &m[1]->f;
    cr_assert(memcmp(a->P, b->P, sizeof(double) * (size_t)(a->n_users * a->k)) == 0);
    cr_assert(memcmp(a->Q, b->Q, sizeof(double) * (size_t)(a->n_items * a->k)) == 0);
    cr_assert(memcmp(a->bu, b->bu, sizeof(double) * (size_t)a->n_users) == 0);
    cr_assert(memcmp(a->bi, b->bi, sizeof(double) * (size_t)a->n_items) == 0);
    cf_model_destroy(&m[0]);
    cf_model_destroy(&m[1]);
    cf_dataset_destroy(&ds);
}

Test(train, tolerance_stops_early) {
    cf_dataset *ds = planted(3);
    cf_config c = cpu_cfg(2);
    c.iters = 200, c.tol = 1e-4;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_str_eq(rep.stop_reason, "tol");
    cr_assert_lt(rep.iters, 200);
    cr_assert_gt(rep.iters, 1);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

Test(train, callback_can_stop) {
    cf_dataset *ds = planted(4);
    cf_config c = cpu_cfg(1);
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    int stop_at_two(const cf_iter_info *i, void *u);
    cr_assert_eq(cf_train(ds, &c, stop_at_two, NULL, &m, &rep, &err), CF_OK);
    cr_assert_eq(rep.iters, 2);
    cr_assert_str_eq(rep.stop_reason, "callback");
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}
int stop_at_two(const cf_iter_info *i, void *u) {
    (void)u;
    return i->iter == 2;
}

Test(train, invalid_config_names_the_field) {
    cf_dataset *ds = planted(5);
    cf_config c = cpu_cfg(1);
    c.factors = 0;
    cf_model *m = NULL;
    cf_error err;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "factors") != NULL, "%s", err.msg);
    cr_assert_null(m);
    cf_dataset_destroy(&ds);
}

Test(train, device_choice_without_a_gpu) {
    char why[200];
    if (cf_gpu_available(why, sizeof why)) cr_skip_test("a GPU is usable here: this test covers machines without one");
    cf_dataset *ds = planted(6);
    cf_config c = cpu_cfg(1);
    c.iters = 1;
    c.device = CF_DEVICE_GPU;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_ERR_UNSUPPORTED);
    cr_assert(strstr(err.msg, "--device gpu") != NULL, "%s", err.msg);
    c.device = CF_DEVICE_AUTO;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert(strstr(rep.notice, "using the CPU") != NULL, "notice: '%s'", rep.notice);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

Test(train, all_ratings_in_test_is_an_error) {
    cf_dataset *ds = planted(7);
    cf_error err;
    cr_assert_eq(cf_dataset_split(ds, 0.999999, 1, &err), CF_OK);
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    cr_assert_eq(info.n_train, 0);
    cf_config c = cpu_cfg(1);
    cf_model *m = NULL;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "no training ratings") != NULL, "%s", err.msg);
    cf_dataset_destroy(&ds);
}

typedef struct { double best_test; int calls; } best_log;
static int track_best(const cf_iter_info *info, void *user) {
    best_log *b = user;
    if (b->calls++ == 0 || info->test_rmse < b->best_test) b->best_test = info->test_rmse;
    return 0;
}

/* RMSE of the model on the dataset's test part, recomputed from its predictions. */
static double model_test_rmse(const cf_model *m, const cf_dataset *ds) {
    double s = 0;
    int64_t n = 0;
    for (int64_t k = 0; k < ds->all.n; k++) {
        if (!ds->is_test[k]) continue;
        double d = ds->all.r[k] - cf_predict(&m->f, ds->all.u[k], ds->all.i[k]);
        s += d * d, n++;
    }
    return sqrt(s / (double)n);
}

Test(train, early_stop_keeps_the_best_model_seen) {
    cf_dataset *ds = planted(8);
    cf_config c = cpu_cfg(2);
    c.factors = 16, c.lambda = 1e-4, c.reg = CF_REG_PLAIN, c.iters = 40, c.early_stop = 2; /* overfits */
    best_log log = {0};
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train(ds, &c, track_best, &log, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_str_eq(rep.stop_reason, "early-stop");
    cr_assert_lt(log.calls, 40);
    cr_assert_eq(rep.test_rmse, log.best_test, "reported %.6f, best seen %.6f", rep.test_rmse, log.best_test);
    cr_assert_float_eq(model_test_rmse(m, ds), log.best_test, 1e-12, "the kept model is not the best one");
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

Test(train, restarts_keep_the_best_initialization) {
    cf_dataset *ds = planted(9);
    cf_config c = cpu_cfg(2);
    c.iters = 2, c.restarts = 3;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    /* the same three runs one by one: restart r uses seed + r·0x9e3779b97f4a7c15 */
    double best = INFINITY;
    for (int r = 0; r < 3; r++) {
        cf_config one = c;
        one.restarts = 1;
        one.seed = c.seed + (uint64_t)r * 0x9e3779b97f4a7c15ULL;
        cf_model *mr = NULL;
        cf_train_report rr;
        cr_assert_eq(cf_train(ds, &one, NULL, NULL, &mr, &rr, &err), CF_OK);
        if (rr.test_rmse < best) best = rr.test_rmse;
        cf_model_destroy(&mr);
    }
    cr_assert_eq(rep.test_rmse, best);
    cr_assert_float_eq(model_test_rmse(m, ds), best, 1e-12);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}
