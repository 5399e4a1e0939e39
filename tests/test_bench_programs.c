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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cufactor.h"

CF_TEST_SUITE_WITH_TMPDIR(bench_programs, 120);

#if defined(CF_BENCH_ALS_PATH) && defined(CF_BENCH_SGD_PATH)

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

#else
#error "test_bench_programs needs the bench programs: CMakeLists.txt builds it only with CUFACTOR_BENCH=ON"
#endif
