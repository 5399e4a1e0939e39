/*
 * test_bench_programs.c — the shared setup of the GPU bench programs (bench/bench_common.c)
 * through the programs themselves: strict options (a typo is exit 2 naming the option),
 * the data set through the bench cache (--data-only: no GPU needed), one cache file for
 * bench_als, bench_sgd and `cufactor bench run` on a suites file's set of the same spec,
 * and "no usable GPU" as exit 0 where none is. Not built at all without the benches
 * (-DCUFACTOR_BENCH=OFF): a test that could only skip there was no test.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cufactor.h"

CF_TEST_SUITE_WITH_TMPDIR(bench_programs, 120);

#if defined(CF_BENCH_ALS_PATH) && defined(CF_BENCH_SGD_PATH) && defined(CF_BENCH_PEER_PATH)

typedef struct run_result {
    int code;
    char *out, *err;
} run_result;

/* Runs PROG ARGS... (NULL-terminated) in `dir`. */
static run_result run(const char *prog, ...) {
    const char *argv[64];
    int n = 0;
    argv[n++] = prog;
    va_list ap;
    va_start(ap, prog);
    for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *)) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    run_result r;
    r.code = cf_test_spawn(dir, argv, &r.out, &r.err);
    cr_assert_neq(r.code, -1, "could not run %s", prog);
    const char *report = cf_test_sanitizer_report(r.err);
    cr_assert_null(report, "%s: sanitizer report: %.400s", prog, report);
    return r;
}

static void run_free(run_result *r) { free(r->out), free(r->err); }

/* Number of files in dir/sub whose name starts with `prefix` and ends in .cfd. */
static int count_cache_files(const char *sub, const char *prefix) {
    char *p = cf_test_path(dir, sub);
    DIR *d = opendir(p);
    free(p);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        n += !strncmp(e->d_name, prefix, strlen(prefix)) && len > 4 && !strcmp(e->d_name + len - 4, ".cfd");
    }
    closedir(d);
    return n;
}

Test(bench_programs, bad_options_exit_2_naming_the_option) {
    run_result r = run(CF_BENCH_SGD_PATH, "--factors", "0", NULL);
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "--factors: '0' is not a number in [1, 1024]"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_ALS_PATH, "--ratings", "12x", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--ratings: '12x'"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_ALS_PATH, "--factors", "100,abc", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--factors: '100,abc'"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_ALS_PATH, "--als-gram", "wmma", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--als-gram: 'wmma': use simt or tc"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_ALS_PATH, "--epochs", "3", NULL); /* bench_sgd's, not bench_als's */
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "unknown option '--epochs'"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_SGD_PATH, "--schedule", "shuffle", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--schedule: 'shuffle': give hogwild, blocks or all"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_SGD_PATH, "--precision", "fp64", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--precision: 'fp64': give fp32, fp16 or all"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_SGD_PATH, "--item-write", "atomic", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--item-write: 'atomic': give store, add, all or default"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_SGD_PATH, "--runs", "items", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--runs: 'items': give fixed, users, all or default"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_SGD_PATH, "--json", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--json: missing value"), "%s", r.err);
    run_free(&r);
}

Test(bench_programs, help_lists_own_and_common_options_with_defaults) {
    run_result r = run(CF_BENCH_ALS_PATH, "--help", NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "--cpu-scale F"), "%s", r.out);
    cr_assert(strstr(r.out, "[0.05]"), "%s", r.out);
    cr_assert(strstr(r.out, "--users N"), "%s", r.out);
    cr_assert(strstr(r.out, "[480189]"), "%s", r.out);
    cr_assert(strstr(r.out, "--data-only"), "%s", r.out);
    cr_assert(strstr(r.out, "--als-gram simt|tc"), "%s", r.out);
    run_free(&r);
    r = run(CF_BENCH_SGD_PATH, "--help", NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "--blocks B"), "%s", r.out);
    cr_assert(strstr(r.out, "--schedule S"), "%s", r.out);
    cr_assert(strstr(r.out, "--precision P"), "%s", r.out);
    cr_assert(strstr(r.out, "--item-write W"), "%s", r.out);
    cr_assert(strstr(r.out, "--runs R"), "%s", r.out);
    cr_assert(strstr(r.out, "[1024]"), "%s", r.out);
    cr_assert(strstr(r.out, "--ratings N"), "%s", r.out);
    run_free(&r);
}

/* A suites file with a set of the very spec the programs make for this shape. */
static void write_suites(void) {
    const char *conf = "dataset tinyset synth users=300 items=120 ratings=6000 rank=10 noise=0.5 zipf=0.8 seed=1 "
                       "round=1\n"
                       "suite s\n"
                       "case c data=tinyset algo=als device=cpu k=2 iters=2 repeats=1 rmse=0:10\n";
    free(cf_test_write(dir, "suites.conf", conf, strlen(conf)));
}

Test(bench_programs, data_only_generates_once_then_both_programs_read_the_cache) {
    write_suites();
    run_result r = run(CF_BENCH_ALS_PATH, "--users", "300", "--items", "120", "--ratings", "6000", "--data-only",
                       "--cache", "cache", "--suites", "suites.conf", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    /* bench_als trains on every rating: no test part */
    cr_assert(strstr(r.out, "data tinyset: 300 users × 120 items, 6000 train + 0 test ratings"), "%s", r.out);
    cr_assert(strstr(r.out, "generated in"), "%s", r.out);
    run_free(&r);
    cr_assert_eq(count_cache_files("cache", "tinyset-"), 1);

    r = run(CF_BENCH_ALS_PATH, "--users", "300", "--items", "120", "--ratings", "6000", "--data-only", "--cache",
            "cache", "--suites", "suites.conf", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "read from the cache"), "%s", r.out);
    run_free(&r);

    /* bench_sgd holds 1 % out: train + test is still every rating, from the same file */
    r = run(CF_BENCH_SGD_PATH, "--users", "300", "--items", "120", "--ratings", "6000", "--data-only", "--cache",
            "cache", "--suites", "suites.conf", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    long long train = -1, test = -1;
    const char *p = strstr(r.out, "items, ");
    cr_assert(p, "%s", r.out);
    cr_assert_eq(sscanf(p, "items, %lld train + %lld test", &train, &test), 2, "%s", r.out);
    cr_assert_eq(train + test, 6000);
    cr_assert(test > 20 && test < 120, "1 %% of 6000 held out, got %lld", test);
    cr_assert(strstr(r.out, "read from the cache"), "%s", r.out);
    run_free(&r);
    cr_assert_eq(count_cache_files("cache", ""), 1);

    /* `cufactor bench run` reads the same file for the suites file's set */
    r = run(CF_CLI_PATH, "bench", "run", "--suites", "suites.conf", "--suite", "s", "--cache", "cache", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "data tinyset:"), "%s", r.out);
    cr_assert(strstr(r.out, "from the cache"), "%s", r.out);
    run_free(&r);
    cr_assert_eq(count_cache_files("cache", ""), 1);
}

Test(bench_programs, another_shape_gets_its_own_named_cache_file) {
    write_suites();
    run_result r = run(CF_BENCH_SGD_PATH, "--users", "300", "--items", "120", "--ratings", "5000", "--data-only",
                       "--cache", "cache", "--suites", "suites.conf", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "data synth-300x120-5000:"), "%s", r.out);
    run_free(&r);
    cr_assert_eq(count_cache_files("cache", "synth-300x120-5000-"), 1);
    r = run(CF_BENCH_SGD_PATH, "--users", "300", "--items", "120", "--ratings", "5000", "--data-only", "--no-cache",
            "--cache", "cache2", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "generated in"), "%s", r.out);
    run_free(&r);
    cr_assert_eq(count_cache_files("cache2", ""), 0);
}

Test(bench_programs, no_usable_gpu_is_exit_0_saying_so) {
    char why[256] = "";
    if (cf_gpu_available(why, sizeof why)) cr_skip_test("a GPU is usable here: the bench would run");
    run_result r = run(CF_BENCH_ALS_PATH, "--users", "300", "--items", "120", "--ratings", "6000", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "bench_als: no usable GPU ("), "%s", r.out);
    cr_assert(strstr(r.out, "nothing to measure"), "%s", r.out);
    run_free(&r);
    r = run(CF_BENCH_SGD_PATH, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "bench_sgd: no usable GPU ("), "%s", r.out);
    run_free(&r);
}

/* ---- bench_peer: the bench set as cuMF_SGD's input, and a cuMF_SGD model scored */

typedef struct peer_rec {
    int32_t u, i;
    float r;
} peer_rec;

/* The records of dir/name (12 bytes each: i32, i32, f32); *n their count. */
static peer_rec *read_recs(const char *name, int64_t *n) {
    char *p = cf_test_path(dir, name);
    size_t len = 0;
    char *b = cf_test_read(p, &len);
    cr_assert(b, "cannot read %s", p);
    free(p);
    cr_assert_eq(len % 12, 0, "%s: %zu bytes, not whole records", name, len);
    *n = (int64_t)(len / 12);
    peer_rec *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    for (int64_t k = 0; k < *n; k++)
        memcpy(&v[k].u, b + 12 * k, 4), memcpy(&v[k].i, b + 12 * k + 4, 4), memcpy(&v[k].r, b + 12 * k + 8, 4);
    free(b);
    return v;
}

#define PEER_SHAPE "--users", "300", "--items", "120", "--ratings", "6000", "--cache", "cache"

/* The training part in 3 files (sizes within one record), in user order, and the test part:
 * together every rating of the set once, indices in range, the counts bench_sgd splits. */
Test(bench_programs, peer_export_is_bench_sgds_split_as_cumf_records) {
    run_result r = run(CF_BENCH_SGD_PATH, PEER_SHAPE, "--data-only", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    long long train = -1, test = -1;
    const char *p = strstr(r.out, "items, ");
    cr_assert(p && sscanf(p, "items, %lld train + %lld test", &train, &test) == 2, "%s", r.out);
    run_free(&r);
    r = run(CF_BENCH_PEER_PATH, PEER_SHAPE, "--export", ".", "--files", "3", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "read from the cache"), "%s", r.out);
    run_free(&r);
    int64_t n[3], nt, total = 0;
    peer_rec *f[3];
    uint8_t seen[300 * 120] = {0};
    int32_t last_u = -1;
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "train.bin%d", k);
        f[k] = read_recs(name, &n[k]);
        total += n[k];
        for (int64_t j = 0; j < n[k]; j++) {
            const peer_rec *e = &f[k][j];
            cr_assert(e->u >= 0 && e->u < 300 && e->i >= 0 && e->i < 120, "record (%d, %d)", e->u, e->i);
            cr_assert(e->r >= 1 && e->r <= 5, "rating %g", e->r);
            cr_assert_geq(e->u, last_u, "training records out of user order");
            cr_assert_eq(seen[e->u * 120 + e->i]++, 0, "pair (%d, %d) twice", e->u, e->i);
            last_u = e->u;
        }
    }
    cr_assert_eq(total, train);
    for (int k = 0; k < 3; k++) cr_assert(llabs(n[k] - train / 3) <= 1, "file %d: %lld of %lld", k, (long long)n[k], train);
    peer_rec *t = read_recs("test.bin", &nt);
    cr_assert_eq(nt, test);
    for (int64_t j = 0; j < nt; j++)
        cr_assert_eq(seen[t[j].u * 120 + t[j].i]++, 0, "test pair (%d, %d) also elsewhere", t[j].u, t[j].i);
    for (int k = 0; k < 3; k++) free(f[k]);
    free(t);
}

/* A model in cuMF_SGD's layout with known factors, a few users short of the set (their test
 * ratings are unseen: the training mean): the RMSE as written out here, the unseen count,
 * the peer's rate from its log, one JSON line also in --json. */
Test(bench_programs, peer_score_is_the_rmse_of_p_dot_q) {
    run_result r = run(CF_BENCH_PEER_PATH, PEER_SHAPE, "--export", ".", "--files", "1", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    int64_t ntr, nt;
    peer_rec *tr = read_recs("train.bin0", &ntr), *t = read_recs("test.bin", &nt);
    const int32_t m = 290, n = 120, k = 3; /* users 290..299 unknown to the model */
    double mean = 0;
    for (int64_t j = 0; j < ntr; j++) mean += tr[j].r;
    mean /= (double)ntr;
    size_t bytes = 20 + 4 * (size_t)k * (size_t)(m + n);
    unsigned char *b = calloc(1, bytes);
    const int32_t h[4] = {0, m, n, k};
    const float mu = 3.0f;
    memcpy(b, h, 16), memcpy(b + 16, &mu, 4);
    float *P = (float *)(void *)(b + 20), *Q = P + (size_t)m * k; /* 20 is a multiple of 4 */
    for (int32_t u = 0; u < m; u++)
        for (int32_t x = 0; x < k; x++) P[u * k + x] = 0.5f + 0.05f * (float)((u * 7 + x) % 13);
    for (int32_t i = 0; i < n; i++)
        for (int32_t x = 0; x < k; x++) Q[i * k + x] = 0.4f + 0.03f * (float)((i * 5 + 3 * x) % 11);
    free(cf_test_write(dir, "model", (const char *)b, bytes));
    double sse = 0;
    long long unseen = 0;
    for (int64_t j = 0; j < nt; j++) {
        double pred = mean;
        if (t[j].u < m) {
            pred = 0;
            for (int32_t x = 0; x < k; x++) pred += (double)P[t[j].u * k + x] * (double)Q[t[j].i * k + x];
        } else {
            unseen++;
        }
        sse += ((double)t[j].r - pred) * ((double)t[j].r - pred);
    }
    const double want = sqrt(sse / (double)nt);
    cr_assert_gt(unseen, 0, "the fixture should have unseen test users");
    free(cf_test_write(dir, "log", "read_problem called\nupdate_per_sec:3620000000.5\ndone\n", 52));
    r = run(CF_BENCH_PEER_PATH, PEER_SHAPE, "--score", "model", "--peer-log", "log", "--peer-iters", "10", "--device",
            "Some GPU", "--json", "peer.jsonl", "--commit", "abc", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    double got = NAN;
    long long got_unseen = -1;
    const char *p = strstr(r.out, "test RMSE ");
    cr_assert(p && sscanf(p, "test RMSE %lf on %*d ratings (%lld unseen", &got, &got_unseen) == 2, "%s", r.out);
    cr_assert(fabs(got - want) <= 1e-8 * want, "RMSE %.12g, by hand %.12g", got, want);
    cr_assert_eq(got_unseen, unseen);
    cr_assert(strstr(r.out, "{\"bench\":\"peer_cumf_sgd\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"device\":\"Some GPU\""), "%s", r.out);
    cr_assert(strstr(r.out, "\"iters\":10,\"updates_per_sec\":3.62e+09,"), "%s", r.out);
    run_free(&r);
    char *jp = cf_test_path(dir, "peer.jsonl");
    char *js = cf_test_read(jp, NULL);
    cr_assert(js && strstr(js, "\"bench\":\"peer_cumf_sgd\"") && strstr(js, "\"unseen\":"), "%s", js ? js : "(none)");
    free(jp), free(js), free(b), free(tr), free(t);
}

Test(bench_programs, peer_bad_model_and_no_mode_say_so) {
    free(cf_test_write(dir, "model", "not a model at all, 30 bytes.", 30));
    run_result r = run(CF_BENCH_PEER_PATH, PEER_SHAPE, "--score", "model", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "bench_peer: model: not a cuMF_SGD model"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_PEER_PATH, PEER_SHAPE, "--score", "missing", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "bench_peer: missing: No such file"), "%s", r.err);
    run_free(&r);
    r = run(CF_BENCH_PEER_PATH, PEER_SHAPE, NULL);
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "give --export DIR or --score MODEL"), "%s", r.err);
    run_free(&r);
}

#else
#error "test_bench_programs needs the bench programs: CMakeLists.txt builds it only with CUFACTOR_BENCH=ON"
#endif
