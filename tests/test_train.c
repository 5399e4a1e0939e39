/* test_train.c — the trainer end to end through the public API: generated data, split,
 * cf_train, determinism across thread counts, stopping rules, device selection. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "cufactor.h"
#include "dataset.h"
#include "factors.h"
#include "model.h"
#include "ratings.h"
#include "train.h"
#include "helpers.h"

#include <omp.h>
#include <sys/stat.h>

static cf_dataset *planted(uint64_t seed) {
    cf_dataset *ds = cf_test_generate(300, 200, 15000, 4, 0.2, seed, 0);
    cf_error err;
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
    /* the model's rating counts are each row's ratings in the training part, the test
     * part left out (the ratings each row was fit to) */
    for (int sd = 0; sd < 2; sd++) {
        const cf_idmap *mm = sd ? m->items : m->users, *dm = sd ? ds->items : ds->users;
        int64_t *want = calloc((size_t)cf_idmap_size(dm), sizeof *want), total = 0;
        cr_assert_not_null(want);
        for (int64_t t = 0; t < ds->all.n; t++)
            if (!ds->is_test[t]) want[sd ? ds->all.i[t] : ds->all.u[t]]++;
        for (int64_t r = 0; r < cf_idmap_size(mm); r++) {
            size_t len;
            const char *id = cf_idmap_name(mm, (uint32_t)r, &len);
            const int64_t d = cf_idmap_find(dm, id, len);
            cr_assert(d >= 0 && m->n_ratings[sd][r] == want[d] && want[d] > 0, "side %d row %lld", sd, (long long)r);
            total += m->n_ratings[sd][r];
        }
        cr_assert_eq(total, rep.n_train, "side %d: every training rating once", sd);
        free(want);
    }
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

/* The whole preparation on 1, 2 and 3 threads, each count given as --threads gives it:
 * a 4 MB text file read (the parallel reader past its 2 MiB threshold), split, the parts
 * copied and CSR/CSC built (past their 65,536-rating thresholds) inside cf_train, then
 * ALS: the datasets, the splits and the models are the same bytes for every count. The
 * OpenMP default is set to another count each round, so a step that ignored `threads`
 * would still run on several. */
Test(train, preparation_is_the_same_on_any_thread_count, .timeout = 120) {
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = 5000, g.items = 1500, g.ratings = 200000, g.rank = 4, g.noise = 0.3, g.seed = 21;
    cf_dataset *gen = NULL;
    cf_error err;
    cr_assert_eq(cf_generate(&g, &gen, &err), CF_OK, "%s", err.msg);
    char *dir = cf_test_tmpdir();
    cr_assert_not_null(dir);
    char *path = cf_test_path(dir, "ratings.tsv");
    cr_assert_eq(cf_dataset_write(gen, path, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&gen);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_gt(sb.st_size, 2 << 20, "the file must pass the parallel reader's threshold");

    cf_dataset *ds[3] = {NULL, NULL, NULL};
    cf_model *m[3] = {NULL, NULL, NULL};
    cf_train_report rep[3];
    for (int t = 0; t < 3; t++) {
        omp_set_num_threads(3 - t);
        cf_read_options ro;
        cf_read_options_default(&ro);
        ro.threads = t + 1;
        cr_assert_eq(cf_dataset_read(path, &ro, &ds[t], NULL, &err), CF_OK, "%s", err.msg);
        cr_assert_eq(cf_dataset_split_threads(ds[t], 0.1, 5, t + 1, &err), CF_OK, "%s", err.msg);
        cf_config c = cpu_cfg(t + 1);
        c.iters = 2;
        cr_assert_eq(cf_train(ds[t], &c, NULL, NULL, &m[t], &rep[t], &err), CF_OK, "%s", err.msg);
    }
    omp_set_num_threads(omp_get_num_procs());
    const cf_triplets *a = &ds[0]->all;
    cr_assert_gt(a->n, 190000);
    for (int t = 1; t < 3; t++) {
        const cf_triplets *b = &ds[t]->all;
        cr_assert_eq(b->n, a->n, "%d threads", t + 1);
        cr_assert(!memcmp(a->u, b->u, (size_t)a->n * 4) && !memcmp(a->i, b->i, (size_t)a->n * 4) &&
                      !memcmp(a->r, b->r, (size_t)a->n * 4),
                  "%d threads: the ratings differ", t + 1);
        cr_assert(!memcmp(ds[0]->is_test, ds[t]->is_test, (size_t)a->n), "%d threads: the split differs", t + 1);
        cr_assert_eq(rep[t].n_train, rep[0].n_train);
        cr_assert_eq(rep[t].n_test, rep[0].n_test);
        cr_assert(!memcmp(&rep[t].test_rmse, &rep[0].test_rmse, sizeof(double)), "%d threads: test RMSE %.17g vs %.17g",
                  t + 1, rep[t].test_rmse, rep[0].test_rmse);
        const cf_factors *fa = &m[0]->f, *fb = &m[t]->f;
        cr_assert_eq(fb->n_users, fa->n_users);
        cr_assert_eq(fb->n_items, fa->n_items);
        cr_assert(!memcmp(fa->P, fb->P, sizeof(double) * (size_t)(fa->n_users * fa->k)) &&
                      !memcmp(fa->Q, fb->Q, sizeof(double) * (size_t)(fa->n_items * fa->k)) &&
                      !memcmp(fa->bu, fb->bu, sizeof(double) * (size_t)fa->n_users) &&
                      !memcmp(fa->bi, fb->bi, sizeof(double) * (size_t)fa->n_items),
                  "%d threads: the model differs", t + 1);
    }
    cr_assert_gt(rep[0].n_test, 15000);
    for (int t = 0; t < 3; t++) {
        cf_model_destroy(&m[t]);
        cf_dataset_destroy(&ds[t]);
    }
    cf_test_rmtree(dir);
    free(path);
    free(dir);
}

/* cf_train_options.phase: "preparing" (with restart 0's initialization), then per restart
 * "uploading" and "downloading", a later restart's initialization as "preparing" before
 * them, each called with 0 of 1 at its start and 1 of 1 at its end, in order; its answer
 * does not stop anything. */
typedef struct phase_log {
    char text[512];
    size_t n;
} phase_log;
static int on_phase(const char *phase, int64_t done, int64_t total, void *user) {
    phase_log *l = user;
    cr_assert_eq(total, 1);
    l->n += (size_t)snprintf(l->text + l->n, sizeof l->text - l->n, "%s %lld;", phase, (long long)done);
    return 1;
}

Test(train, phase_callback_marks_the_phases_around_the_iterations) {
    cf_dataset *ds = planted(4);
    cf_config c = cpu_cfg(1);
    c.iters = 2, c.restarts = 2;
    cf_train_options opt;
    cf_train_options_default(&opt);
    cr_assert_null(opt.phase);
    phase_log log = {.n = 0};
    opt.phase = on_phase, opt.phase_user = &log;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train_ex(ds, &c, &opt, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.iters, 2);
    cr_assert_str_eq(log.text, "preparing 0;preparing 1;uploading 0;uploading 1;downloading 0;downloading 1;"
                               "preparing 0;preparing 1;uploading 0;uploading 1;downloading 0;downloading 1;");
    cf_model_destroy(&m);
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

typedef struct { double best_test; int calls, best_iter; } best_log;
static int track_best(const cf_iter_info *info, void *user) {
    best_log *b = user;
    if (b->calls++ == 0 || info->test_rmse < b->best_test) b->best_test = info->test_rmse, b->best_iter = info->iter;
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
    cr_assert_eq(rep.model_iter, log.best_iter, "the model is iteration %d's", log.best_iter);
    cr_assert_lt(rep.model_iter, rep.iters, "patience ran past the best");
    cf_model_destroy(&m);
    /* without early stopping the model is the last iteration */
    c.early_stop = 0, c.iters = 5;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.model_iter, 5);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

/* The progress calls of a training with restarts: each names its run. */
typedef struct { int calls; int32_t restart[16], iter[16]; } run_log;
static int log_runs(const cf_iter_info *info, void *user) {
    run_log *l = user;
    if (l->calls < 16) l->restart[l->calls] = info->restart, l->iter[l->calls] = info->iter;
    l->calls++;
    return 0;
}

Test(train, restarts_keep_the_best_initialization) {
    cf_dataset *ds = planted(9);
    cf_config c = cpu_cfg(2);
    c.iters = 2, c.restarts = 3;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    run_log log = {0};
    cr_assert_eq(cf_train(ds, &c, log_runs, &log, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(log.calls, 6);
    for (int k = 0; k < 6; k++) /* runs 0, 0, 1, 1, 2, 2 with iterations 1, 2 each */
        cr_assert(log.restart[k] == k / 2 && log.iter[k] == k % 2 + 1, "call %d: run %d iteration %d", k,
                  log.restart[k], log.iter[k]);
    /* the same three runs one by one: restart r uses seed + r·0x9e3779b97f4a7c15 */
    double best = INFINITY;
    int kept = -1;
    for (int r = 0; r < 3; r++) {
        cf_config one = c;
        one.restarts = 1;
        one.seed = c.seed + (uint64_t)r * 0x9e3779b97f4a7c15ULL;
        cf_model *mr = NULL;
        cf_train_report rr;
        cr_assert_eq(cf_train(ds, &one, NULL, NULL, &mr, &rr, &err), CF_OK);
        cr_assert_eq(rr.restart, 0);
        if (rr.test_rmse < best) best = rr.test_rmse, kept = r;
        cf_model_destroy(&mr);
    }
    cr_assert_eq(rep.test_rmse, best);
    cr_assert_eq(rep.restart, kept, "reported run %d, the best is %d", rep.restart, kept);
    cr_assert_float_eq(model_test_rmse(m, ds), best, 1e-12);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

/* ---- --device auto falls back to the CPU when the GPU backend cannot open (e.g. the
 * data does not fit its memory or --gpu-mem-limit). A fake GPU table stands in for the
 * device (train.h's seam), so this runs on any machine. */
static int fake_opens;
static cf_status fake_status;
static cf_status fake_open(const cf_ratings *train, const cf_triplets *test, const cf_config *cfg,
                           const cf_factors *init, cf_backend **out, cf_error *err) {
    (void)train, (void)test, (void)cfg, (void)init;
    fake_opens++;
    *out = NULL;
    return cf_fail(err, fake_status,
                   "fake GPU: needs 123456789 bytes (data 1, work lists 2, one batch of the longest "
                   "row 3, library reserve 4), 1048576 allowed by --gpu-mem-limit (80000000000 free "
                   "on the device); try --device cpu");
}
static cf_status fake_half(cf_backend *b, cf_side s, cf_error *err) {
    (void)b, (void)s;
    return cf_fail(err, CF_ERR_INVALID, "never called");
}
static const cf_backend_ops fake_gpu = {.name = "gpu", .open = fake_open, .als_half = fake_half};

Test(train, falls_back_decision) {
    cr_assert_eq(cf_train_falls_back(CF_DEVICE_AUTO, CF_ERR_DEVICE), 1);
    cr_assert_eq(cf_train_falls_back(CF_DEVICE_AUTO, CF_ERR_UNSUPPORTED), 1);
    cr_assert_eq(cf_train_falls_back(CF_DEVICE_GPU, CF_ERR_DEVICE), 0);
    cr_assert_eq(cf_train_falls_back(CF_DEVICE_CPU, CF_ERR_DEVICE), 0);
    cr_assert_eq(cf_train_falls_back(CF_DEVICE_AUTO, CF_ERR_INVALID), 0);
    cr_assert_eq(cf_train_falls_back(CF_DEVICE_AUTO, CF_ERR_NOMEM), 0);
    cr_assert_eq(cf_train_falls_back(CF_DEVICE_AUTO, CF_ERR_NUMERIC), 0);
}

Test(train, auto_falls_back_to_the_cpu_when_the_gpu_cannot_open) {
    cf_dataset *ds = planted(8);
    cf_config c = cpu_cfg(1);
    c.iters = 3, c.restarts = 2;
    cf_gpu_seam seam = {&fake_gpu, 1, ""};
    cf_model *m = NULL, *ref = NULL;
    cf_train_report rep, rep_ref;
    cf_error err;
    /* the reference: the same run on the CPU */
    cr_assert_eq(cf_train_with(&seam, ds, &c, NULL, NULL, NULL, &ref, &rep_ref, &err), CF_OK, "%s", err.msg);
    cr_assert_str_eq(rep_ref.notice, "");

    c.device = CF_DEVICE_AUTO;
    fake_status = CF_ERR_DEVICE, fake_opens = 0;
    cr_assert_eq(cf_train_with(&seam, ds, &c, NULL, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(fake_opens, 1, "the GPU is tried once, the restarts stay on the CPU");
    cr_assert_eq(err.status, CF_OK, "the GPU's error is cleared: %s", err.msg);
    cr_assert(strncmp(rep.notice, "GPU: fake GPU: needs 123456789 bytes", 36) == 0, "%s", rep.notice);
    cr_assert(strstr(rep.notice, "1048576 allowed by --gpu-mem-limit (80000000000 free on the device): "
                                 "using the CPU") != NULL, "%s", rep.notice);
    cr_assert_null(strstr(rep.notice, "try --device cpu"), "%s", rep.notice);
    cr_assert(strncmp(rep.device, "cpu", 3) == 0, "%s", rep.device);
    cr_assert_eq(rep.iters, 3);
    /* and it is exactly the CPU run */
    cr_assert_eq(rep.objective, rep_ref.objective);
    cf_eval_report e1, e2;
    cr_assert_eq(cf_model_evaluate(m, ds, &e1, &err), CF_OK);
    cr_assert_eq(cf_model_evaluate(ref, ds, &e2, &err), CF_OK);
    cr_assert_eq(e1.rmse, e2.rmse);
    cf_model_destroy(&m);

    /* --device gpu: the error, no fallback */
    c.device = CF_DEVICE_GPU, fake_opens = 0;
    cr_assert_eq(cf_train_with(&seam, ds, &c, NULL, NULL, NULL, &m, &rep, &err), CF_ERR_DEVICE);
    cr_assert_null(m);
    cr_assert_eq(fake_opens, 1);
    cr_assert(strstr(err.msg, "needs 123456789 bytes") && strstr(err.msg, "; try --device cpu"), "%s", err.msg);

    /* auto, but a failure that is not the device's: reported, not retried */
    c.device = CF_DEVICE_AUTO, fake_status = CF_ERR_INVALID, fake_opens = 0;
    cr_assert_eq(cf_train_with(&seam, ds, &c, NULL, NULL, NULL, &m, &rep, &err), CF_ERR_INVALID);
    cr_assert_null(m);
    cr_assert_eq(fake_opens, 1);
    cr_assert_str_eq(rep.notice, "");
    cf_model_destroy(&ref);
    cf_dataset_destroy(&ds);
}

Test(train, gpu_mem_limit_is_validated) {
    cf_config c;
    cf_config_default(&c);
    cr_assert_eq(c.gpu_mem_limit, 0u, "no limit by default");
    cf_error err;
    c.gpu_mem_limit = CF_GPU_MEM_LIMIT_MIN - 1;
    cr_assert_eq(cf_config_validate(&c, &err), CF_ERR_INVALID);
    cr_assert_str_eq(err.msg, "gpu_mem_limit: 1048575 bytes, must be 0 (no limit) or at least 1048576 (1 MiB)");
    c.gpu_mem_limit = CF_GPU_MEM_LIMIT_MIN;
    cr_assert_eq(cf_config_validate(&c, &err), CF_OK, "%s", err.msg);
    c.gpu_mem_limit = UINT64_MAX;
    cr_assert_eq(cf_config_validate(&c, &err), CF_OK, "%s", err.msg);
}

/* --als-solver: cuSOLVER by default (docs/USAGE.md "GPU ALS solver": the fused solve is not yet
 * measured on a GPU), names round-trip, an unknown value is refused naming the field; the
 * CPU ignores the choice, so it is valid with any device. */
Test(train, als_solver_is_validated) {
    cf_config c;
    cf_config_default(&c);
    cr_assert_eq(c.als_solver, CF_ALS_SOLVER_CUSOLVER);
    cr_assert_str_eq(cf_als_solver_name(CF_ALS_SOLVER_CUSOLVER), "cusolver");
    cr_assert_str_eq(cf_als_solver_name(CF_ALS_SOLVER_FUSED), "fused");
    cf_als_solver s = CF_ALS_SOLVER_CUSOLVER;
    cr_assert_eq(cf_als_solver_parse("fused", &s), 0);
    cr_assert_eq(s, CF_ALS_SOLVER_FUSED);
    cr_assert_eq(cf_als_solver_parse("cusolver", &s), 0);
    cr_assert_eq(s, CF_ALS_SOLVER_CUSOLVER);
    cr_assert_eq(cf_als_solver_parse("Fused", &s), -1);
    cr_assert_eq(cf_als_solver_parse(NULL, &s), -1);
    cf_error err;
    c.als_solver = CF_ALS_SOLVER_FUSED;
    cr_assert_eq(cf_config_validate(&c, &err), CF_OK, "%s", err.msg);
    c.device = CF_DEVICE_CPU;
    cr_assert_eq(cf_config_validate(&c, &err), CF_OK, "%s", err.msg);
    c.als_solver = (cf_als_solver)2;
    cr_assert_eq(cf_config_validate(&c, &err), CF_ERR_INVALID);
    cr_assert_str_eq(err.msg, "als_solver: unknown value 2");
}

/* ---- non-finite values: the divergence message names the iteration and the row. */

static int count_iters(const cf_iter_info *info, void *user) {
    *(int *)user = info->iter;
    return 0;
}

/* Full-batch GD with η = 0.5 grows the factors by orders of magnitude per step: the sum
 * of squares overflows (iteration 5 or 6 here) while every factor is still finite, so the
 * message names the first overflowing term of the objective rather than a factor. */
Test(train, objective_overflow_names_the_term_and_iteration) {
    cf_dataset *ds = planted(9);
    cf_config c = cpu_cfg(1);
    c.algo = CF_ALGO_GD, c.lr = 0.5, c.iters = 200;
    int last_ok = 0;
    cf_model *m = NULL;
    cf_error err;
    cr_assert_eq(cf_train(ds, &c, count_iters, &last_ok, &m, NULL, &err), CF_ERR_NUMERIC, "%s", err.msg);
    cr_assert_null(m);
    char want[64];
    snprintf(want, sizeof want, "gd diverged at iteration %d: ", last_ok + 1);
    cr_assert(strstr(err.msg, want) == err.msg, "expected '%s': %s", want, err.msg);
    cr_assert(strstr(err.msg, "non-finite value in the objective: (r - r^)^2 of user row ") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "and item row ") != NULL, "%s", err.msg);
    cf_dataset_destroy(&ds);
}

/* The term finder on hand-made data: 3 users × 3 items, ratings (0,0), (0,1), (1,0);
 * user 2 and item 2 have none. */
Test(train, nonfinite_term_finder) {
    cf_triplets t = {0};
    uint32_t tu[] = {0, 0, 1}, ti[] = {0, 1, 0};
    float tr[] = {1, 2, 3};
    t.u = tu, t.i = ti, t.r = tr, t.n = t.cap = 3;
    cf_ratings R;
    cf_factors f;
    cf_error err;
    cr_assert_eq(cf_ratings_build(&t, 3, 3, &R, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_factors_alloc(&f, 3, 3, 2, 1, &err), CF_OK);
    cf_config c;
    cf_config_default(&c);
    c.reg = CF_REG_PLAIN, c.lambda = 0.5;
    for (int j = 0; j < 6; j++) f.P[j] = 1.0, f.Q[j] = 1.0;
    char buf[200];
    cr_assert_eq(cf_objective_nonfinite_term(&R, NULL, &f, &c, NULL, NULL, buf, sizeof buf), 0);
    /* user 1's prediction overflows: 1e200·1 + 1e200·1 = 2e200, squared inf */
    f.P[2] = f.P[3] = 1e200;
    cr_assert_eq(cf_objective_nonfinite_term(&R, NULL, &f, &c, NULL, NULL, buf, sizeof buf), 1);
    cr_assert_str_eq(buf, "(r - r^)^2 of user row 1 and item row 0 (r = 3, r^ = 2e+200)");
    /* item 2 has no rating: only its regularization term can overflow */
    f.P[2] = f.P[3] = 1.0;
    f.Q[4] = 1e160;
    cr_assert_eq(cf_objective_nonfinite_term(&R, NULL, &f, &c, NULL, NULL, buf, sizeof buf), 1);
    cr_assert_str_eq(buf, "the regularization of item row 2 (squared norm inf)");
    /* norms of 2e200 are finite, their product in a test prediction is not */
    f.Q[4] = f.Q[5] = 1e100, f.P[4] = f.P[5] = 1e100;
    cr_assert_eq(cf_objective_nonfinite_term(&R, NULL, &f, &c, NULL, NULL, buf, sizeof buf), 0);
    cf_triplets te = t;
    uint32_t eu[] = {2}, ei[] = {2};
    float er[] = {4};
    te.u = eu, te.i = ei, te.r = er, te.n = te.cap = 1;
    cr_assert_eq(cf_objective_nonfinite_term(&R, &te, &f, &c, NULL, NULL, buf, sizeof buf), 1);
    cr_assert_str_eq(buf, "the test error of user row 2 and item row 2 (r = 4, r^ = 2e+200)");
    cf_factors_free(&f);
    cf_ratings_free(&R);
}

/* ---- checkpoints need a backend that exports its state; the GPU's does not (the fake
 * table here has no state_export either): --device auto trains on the CPU with a
 * notice, without opening the GPU; --device gpu is an error naming the fix. */
Test(train, auto_with_checkpoints_trains_on_the_cpu_and_gpu_refuses) {
    cf_dataset *ds = planted(9);
    cf_config c = cpu_cfg(1);
    c.iters = 2, c.device = CF_DEVICE_AUTO;
    cf_gpu_seam seam = {&fake_gpu, 1, ""};
    char *dir = cf_test_tmpdir();
    cr_assert_not_null(dir);
    char *ck = cf_test_path(dir, "run.cfc");
    cf_train_options opt;
    cf_train_options_default(&opt);
    opt.checkpoint = ck, opt.checkpoint_every = 1;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    static const char *notice = "--device auto: checkpointing needs the CPU backend; training on the CPU";

    /* without a checkpoint, auto takes the (fake) GPU: it is opened, fails, falls back */
    fake_status = CF_ERR_DEVICE, fake_opens = 0;
    cr_assert_eq(cf_train_with(&seam, ds, &c, NULL, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(fake_opens, 1);
    cf_model_destroy(&m);

    /* with one, the GPU is never opened */
    fake_opens = 0;
    cr_assert_eq(cf_train_with(&seam, ds, &c, &opt, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(fake_opens, 0, "the GPU was opened");
    cr_assert_str_eq(rep.notice, notice);
    cr_assert(strncmp(rep.device, "cpu", 3) == 0, "%s", rep.device);
    cr_assert_eq(rep.iters, 2);
    cr_assert_eq(rep.checkpoints, 1, "iteration 1 of 2 (the last writes none)");
    struct stat sb;
    cr_assert_eq(stat(ck, &sb), 0, "no checkpoint at %s", ck);
    cf_model_destroy(&m);

    /* resuming under auto: the CPU again, same notice */
    c.iters = 3;
    opt.resume = ck;
    cr_assert_eq(cf_train_with(&seam, ds, &c, &opt, NULL, NULL, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(fake_opens, 0);
    cr_assert_str_eq(rep.notice, notice);
    cr_assert_eq(rep.resumed_from, 1, "the last checkpoint was after iteration 1");
    cf_model_destroy(&m);

    /* --device gpu: a clear error for writing and for resuming, nothing opened */
    c.device = CF_DEVICE_GPU;
    cr_assert_eq(cf_train_with(&seam, ds, &c, &opt, NULL, NULL, &m, &rep, &err), CF_ERR_UNSUPPORTED);
    cr_assert_str_eq(err.msg, "the gpu backend cannot resume from checkpoints yet; use --device cpu");
    opt.resume = NULL;
    cr_assert_eq(cf_train_with(&seam, ds, &c, &opt, NULL, NULL, &m, &rep, &err), CF_ERR_UNSUPPORTED);
    cr_assert_str_eq(err.msg, "the gpu backend cannot write checkpoints yet; use --device cpu");
    cr_assert_null(m);
    cr_assert_eq(fake_opens, 0);
    cf_test_rmtree(dir);
    free(ck), free(dir);
    cf_dataset_destroy(&ds);
}

/* ------------------------------------------------------------------ warm start */

/* ALS recomputes P from Q first, so a training started from a model trained N iterations
 * on the same data runs iterations N + 1, N + 2, ... of that training, bit for bit
 * (fp64 and the fp32 path, biases on and off). */
Test(train, warm_start_als_continues_the_training) {
    cf_dataset *ds = planted(41);
    cf_dataset_info di;
    cf_dataset_info_get(ds, &di);
    for (int prec = 0; prec < 2; prec++)
        for (int bias = 0; bias <= 1; bias++) {
            cf_config c = cpu_cfg(2);
            c.algo = CF_ALGO_ALS, c.bias = bias, c.precision = prec ? CF_PRECISION_FP32 : CF_PRECISION_FP64;
            cf_train_report rep;
            cf_test_warm_start_continues(ds, c, prec ? "fp32" : "fp64", &rep);
            cr_assert(rep.init_users == di.n_users && rep.init_items == di.n_items, "%lld %lld",
                      (long long)rep.init_users, (long long)rep.init_items);
        }
    cf_dataset_destroy(&ds);
}

/* The rows of IDs the model has start from the model's rows, the others from the seeded
 * draws: seen through SGD with a learning rate (1e-300) too small to move anything, whose
 * result is its initialization (but for biases drawn as 0, which move by ~1e-300). The model comes from other data (users 1..200, items
 * 1..100 of their own) so that only some IDs are shared. */
Test(train, warm_start_takes_the_shared_rows) {
    cf_dataset *ds = planted(42), *other = NULL;
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = 200, g.items = 100, g.ratings = 5000, g.rank = 4, g.noise = 0.2, g.seed = 9;
    cf_error err = {0};
    cr_assert_eq(cf_generate(&g, &other, &err), CF_OK, "%s", err.msg);
    cf_config c = cpu_cfg(1);
    c.algo = CF_ALGO_ALS, c.iters = 2, c.precision = CF_PRECISION_FP64;
    cf_model *init = NULL, *cold = NULL, *warm = NULL;
    cr_assert_eq(cf_train(other, &c, NULL, NULL, &init, NULL, &err), CF_OK, "%s", err.msg);
    c.algo = CF_ALGO_SGD, c.iters = 1, c.lr = 1e-300;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &cold, NULL, &err), CF_OK, "%s", err.msg);
    cf_train_options o;
    cf_train_options_default(&o);
    o.init = init;
    cf_train_report rep;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &warm, &rep, &err), CF_OK, "%s", err.msg);
    const int K = c.factors;
    int64_t shared[2] = {0, 0};
    for (int side = 0; side < 2; side++) {
        const cf_idmap *map = side ? warm->items : warm->users;
        const int64_t n = side ? warm->f.n_items : warm->f.n_users;
        for (int64_t r = 0; r < n; r++) {
            size_t len;
            const char *id = cf_idmap_name(map, (uint32_t)r, &len);
            const int64_t at = cf_idmap_find(side ? init->items : init->users, id, len);
            const cf_model *want = at >= 0 ? init : cold;
            const int64_t wr = at >= 0 ? at : r;
            const double *x = (side ? warm->f.Q : warm->f.P) + r * K, *y = (side ? want->f.Q : want->f.P) + wr * K;
            const double bx = (side ? warm->f.bi : warm->f.bu)[r], by = (side ? want->f.bi : want->f.bu)[wr];
            /* a drawn bias starts at 0, so even 1e-300 steps show: ≈ 0 on both sides */
            cr_assert(memcmp(x, y, sizeof(double) * (size_t)K) == 0 && (at >= 0 ? bx == by : fabs(bx - by) < 1e-290),
                      "%s row %lld (%s)", side ? "item" : "user", (long long)r, at >= 0 ? "from the model" : "drawn");
            shared[side] += at >= 0;
        }
    }
    cr_assert(shared[0] > 0 && shared[0] < warm->f.n_users && shared[1] > 0 && shared[1] < warm->f.n_items,
              "the test needs both kinds of rows: %lld %lld", (long long)shared[0], (long long)shared[1]);
    cr_assert(rep.init_users >= shared[0] && rep.init_items >= shared[1]); /* test-only IDs count too */
    cf_model_destroy(&init), cf_model_destroy(&cold), cf_model_destroy(&warm);
    cf_dataset_destroy(&ds), cf_dataset_destroy(&other);
}

Test(train, warm_start_errors) {
    cf_dataset *ds = planted(43);
    cf_config c = cpu_cfg(1);
    c.iters = 1;
    cf_model *m = NULL, *out = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m, NULL, &err), CF_OK, "%s", err.msg);
    cf_train_options o;
    cf_train_options_default(&o);
    o.init = m;
    c.factors = 5;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &out, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "K = 4 with biases on") && strstr(err.msg, "K = 5"), "%s", err.msg);
    c.factors = 4, c.bias = 0;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &out, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "biases off"), "%s", err.msg);
    c.bias = 1, c.restarts = 2;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &out, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "restarts 2"), "%s", err.msg);
    c.restarts = 1;
    o.resume = "nowhere.cfc";
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &out, NULL, &err), CF_ERR_INVALID);
    cr_assert(strstr(err.msg, "resumed"), "%s", err.msg);
    cr_assert_null(out);
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

/* The warm start's step rule: an invscale training's last step, cf_config_lr at its last
 * epoch; nothing from a constant step or a model of no iterations. */
Test(train, warm_start_step_continues_a_decaying_schedule) {
    cf_config from, cfg;
    cf_config_default(&from);
    from.lr = 0.2, from.lr_decay = 0.3, from.lr_schedule = CF_LR_INVSCALE, from.iters = 5;
    cf_config_default(&cfg);
    cfg.lr = 0.05, cfg.lr_schedule = CF_LR_CONST;
    cr_assert_eq(cf_config_continue_lr(&cfg, &from), 1);
    /* epoch 4 of η_t = 0.2 / (1 + 0.3 t^1.5): 0.2 / (1 + 0.3 · 8) */
    cr_assert_float_eq(cfg.lr, 0.2 / 3.4, 1e-15, "lr %.17g", cfg.lr);
    cr_assert_eq(cfg.lr, cf_config_lr(&from, 4));
    cr_assert_eq(cfg.lr_schedule, CF_LR_INVSCALE);
    cfg.lr = 0.05, cfg.lr_schedule = CF_LR_CONST;
    from.lr_schedule = CF_LR_CONST;
    cr_assert_eq(cf_config_continue_lr(&cfg, &from), 0);
    from.lr_schedule = CF_LR_INVSCALE, from.iters = 0;
    cr_assert_eq(cf_config_continue_lr(&cfg, &from), 0);
    cr_assert(cfg.lr == 0.05 && cfg.lr_schedule == CF_LR_CONST, "a refused continuation changed the step");
}

/* ------------------------------------------------------------------ the biases' own λ_b */

static int keep_last(const cf_iter_info *info, void *user) {
    *(double *)user = info->objective;
    return 0;
}

/* The objective the trainer reports after each iteration is L with the biases charged
 * their own Λb: Σ_train (r − r̂)² + Σ_rows (Λ ‖x‖² + Λb b²), Λ = 0.05·n (weighted), Λb = 25
 * (plain), written out here from the returned model and the training part. fp64: the
 * same sums in another order, 1e-10 relative; fp32: the backend forms p·q in fp32 where
 * this uses the model's doubles (≈ 1e-7 relative per prediction), 1e-5 as test_cpu32's
 * objective bound. With Λb = Λ the figure would differ by far more (asserted, so that the
 * check tells). */
static void check_reported_objective(cf_algo algo, cf_precision prec) {
    cf_dataset *ds = planted(4);
    cf_config c = cpu_cfg(2);
    c.algo = algo, c.precision = prec, c.iters = 3, c.lambda = 0.05, c.reg = CF_REG_WEIGHTED;
    c.bias_lambda = 25, c.bias_reg = CF_REG_PLAIN;
    if (algo == CF_ALGO_SGD) c.lr = 0.01;
    double reported = NAN;
    cf_model *m = NULL;
    cf_train_report rep;
    cf_error err;
    cr_assert_eq(cf_train(ds, &c, keep_last, &reported, &m, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_float_eq(rep.objective, reported, 0.0);
    const cf_factors *f = &m->f;
    double sse = 0, reg = 0, reg_same = 0;
    for (int64_t t = 0; t < ds->all.n; t++) {
        if (ds->is_test[t]) continue;
        size_t lu, li;
        const char *su = cf_idmap_name(ds->users, ds->all.u[t], &lu);
        const char *si = cf_idmap_name(ds->items, ds->all.i[t], &li);
        const int64_t u = cf_idmap_find(m->users, su, lu), i = cf_idmap_find(m->items, si, li);
        cr_assert(u >= 0 && i >= 0, "a training rating's row is not in the model");
        const double d = (double)ds->all.r[t] - cf_predict(f, (uint32_t)u, (uint32_t)i);
        sse += d * d;
    }
    for (int sd = 0; sd < 2; sd++) {
        const int64_t n = sd ? f->n_items : f->n_users;
        for (int64_t r = 0; r < n; r++) {
            const double *x = (sd ? f->Q : f->P) + r * f->k, bx = sd ? f->bi[r] : f->bu[r];
            double xx = 0;
            for (int k = 0; k < f->k; k++) xx += x[k] * x[k];
            const double lam = 0.05 * (double)m->n_ratings[sd][r];
            reg += lam * xx + 25.0 * bx * bx;
            reg_same += lam * (xx + bx * bx);
        }
    }
    const double L = sse + reg, tol = prec == CF_PRECISION_FP64 ? 1e-10 : 1e-5;
    cr_log_info("%s %s: reported L %.10g, written out %.10g (with Λb = Λ: %.10g)", cf_algo_name(algo),
                cf_precision_name(prec), reported, L, sse + reg_same);
    cr_assert_float_eq(reported, L, tol * L, "reported %.12g, L with Λb %.12g", reported, L);
    cr_assert_gt(fabs(sse + reg_same - L), 100 * tol * L, "Λb b² and Λ b² too close for the check to tell");
    cf_model_destroy(&m);
    cf_dataset_destroy(&ds);
}

Test(train, objective_charges_the_biases_own_lambda_als_fp64) {
    check_reported_objective(CF_ALGO_ALS, CF_PRECISION_FP64);
}
Test(train, objective_charges_the_biases_own_lambda_als_fp32) {
    check_reported_objective(CF_ALGO_ALS, CF_PRECISION_FP32);
}
Test(train, objective_charges_the_biases_own_lambda_sgd_fp32) {
    check_reported_objective(CF_ALGO_SGD, CF_PRECISION_FP32);
}
Test(train, objective_charges_the_biases_own_lambda_ccd) { check_reported_objective(CF_ALGO_CCD, CF_PRECISION_FP64); }
