/* helpers.h — shared test helpers: temporary directories and files. */
#ifndef CF_TEST_HELPERS_H
#define CF_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR (or /tmp); the returned string is malloc'ed. */
char *cf_test_tmpdir(void);
/* Writes `len` bytes (len = (size_t)-1: strlen) to dir/name; returns the malloc'ed path. */
char *cf_test_write(const char *dir, const char *name, const char *data, size_t len);
/* dir/name, malloc'ed. */
char *cf_test_path(const char *dir, const char *name);
/* Whole file contents (malloc'ed, NUL-terminated), NULL if unreadable; *len may be NULL. */
char *cf_test_read(const char *path, size_t *len);
/* data[0..len) gzip-compressed at libdeflate `level` (0: stored) as `members` members cut
 * at equal byte distances, concatenated (1 member: as gzip writes it); malloc'ed,
 * *out_len its size. */
char *cf_test_gzip(const char *data, size_t len, int members, int level, size_t *out_len);
/* Writes file `from` gzip-compressed to `to` (level 6, `members` members). 0 ok, -1 failed. */
int cf_test_gzip_file(const char *from, const char *to, int members);
/* All of the file at path as cf_text_open gives it (decompressed when gzip), NUL-terminated
 * (*n bytes before the NUL); asserts that it opens. */
char *cf_test_read_text(const char *path, size_t *n);
/* The bytes of a version 2 checkpoint (len of them) as version 1 wrote the same state: no
 * kept-run index (header bytes 344 .. 347), version 1, header size 344, the checksum over
 * the new bytes; malloc'ed, *out_len bytes. */
char *cf_test_checkpoint_as_v1(const char *v2, size_t len, size_t *out_len);
/* The first line of a sanitizer report (ASan, LSan, UBSan) in `text` (a spawned CLI's
 * stderr), or NULL. In the CUFACTOR_SANITIZE build the CLI that tests run is sanitized
 * too; its reports must fail the test even when the exit code looks like an expected one. */
const char *cf_test_sanitizer_report(const char *text);
/* Starts argv[0] (a path) with argv, NULL-terminated, in the working directory `dir` with
 * TMPDIR=dir, its stdout and stderr going to dir/stdout.txt and dir/stderr.txt; `env`
 * (NULL-terminated, or NULL) adds "NAME=value" settings, and "NAME" alone unsets NAME.
 * Returns the child's pid (not waited for), or -1. */
int cf_test_start(const char *dir, const char *const *argv, const char *const *env);
/* This process's environment with `set` applied ("NAME=value" sets, "NAME" alone unsets;
 * NULL-terminated, or NULL): a malloc'ed array of pointers into environ and set, for
 * execve in a forked child (setenv there is not async-signal-safe: the tests have
 * threads). Free the array only. */
char **cf_test_environ(const char *const *set);
/* cf_test_start without env, waited for: dir/stdout.txt and dir/stderr.txt come back in
 * *out and *err (malloc'ed, NUL-terminated). Returns the exit status, 128 + the signal for
 * a killed child, or -1 when it could not be started, waited for or read back. */
int cf_test_spawn(const char *dir, const char *const *argv, char **out, char **err);
/* One run of the cufactor CLI under test (CF_CLI_PATH). */
typedef struct cf_test_run {
    int code;  /* exit status, or 128 + signal */
    char *out; /* stdout, NUL-terminated */
    char *err; /* stderr */
} cf_test_run;
/* Runs `cufactor ARGS...` (NULL-terminated, at most 62) in `dir` (cf_test_spawn): asserts
 * that it started and that its stderr holds no sanitizer report, and removes
 * dir/stdout.txt and dir/stderr.txt after reading them. */
cf_test_run cf_test_cli(const char *dir, const char *first, ...);
void cf_test_run_free(cf_test_run *r);
/* The number after "key": (its first occurrence) in a JSON text, a CLI's --json output;
 * NAN for null. Fails the test when the key is absent or its value not a number. */
double cf_test_json_num(const char *js, const char *key);
/* Entries of directory d (not "." and "..") whose name contains `part`; -1 when d
 * cannot be opened. */
int cf_test_count_entries(const char *d, const char *part);
/* Removes a directory tree (best effort). */
void cf_test_rmtree(const char *dir);

/* In a test file that includes <criterion/criterion.h> (and <stdlib.h>): declares
 * `static char *dir`, a fresh temporary directory made before each test of suite `name`
 * and removed after it, and the suite itself with a per-test timeout in seconds. */
#define CF_TEST_SUITE_WITH_TMPDIR(name, timeout_s)                                                 \
    static char *dir;                                                                              \
    static void cf_test_dir_setup_(void) {                                                         \
        dir = cf_test_tmpdir();                                                                    \
        cr_assert_not_null(dir, "cannot create a temporary directory");                            \
    }                                                                                              \
    static void cf_test_dir_teardown_(void) {                                                      \
        if (dir) cf_test_rmtree(dir);                                                              \
        free(dir);                                                                                 \
        dir = NULL;                                                                                \
    }                                                                                              \
    TestSuite(name, .init = cf_test_dir_setup_, .fini = cf_test_dir_teardown_, .timeout = (timeout_s))

/* ---- a planted problem: r = μ + b_u + b_i + p*_u·q*_i + N(0, σ²), unclipped, with
 * every (u, i) pair kept with probability `density`; a fraction `test_ratio` of the
 * ratings goes to *test. Everything from `seed`. */
#include "ratings.h"
typedef struct cf_test_planted {
    int64_t n_users, n_items;
    int rank;
    double density, sigma, mu, test_ratio;
    int bias;
    uint64_t seed;
} cf_test_planted;
void cf_test_make_planted(const cf_test_planted *p, cf_ratings *train, cf_triplets *test);

/* ---- long rows for the Gram accuracy tests (the fp32 CPU path and the GPU against fp64):
 * CF_TEST_LR_USERS users, the first with a rating of every one of CF_TEST_LR_ITEMS items,
 * the others with 250 000 down to 4 100 (cf_test_lr_len) distinct random items (a partial Fisher–Yates per
 * row, drawn from rng). Each rating is rating(u, i, rng, ctx), drawn right after its item. */
#include "common.h"
#define CF_TEST_LR_USERS 10
#define CF_TEST_LR_ITEMS 500000
extern const int64_t cf_test_lr_len[CF_TEST_LR_USERS]; /* the rows' lengths */
void cf_test_long_rows(cf_rng *rng, double (*rating)(uint32_t u, uint32_t i, cf_rng *rng, void *ctx), void *ctx,
                       cf_triplets *t);

/* ---- an ID map of the decimal tokens "0" .. "n-1" (what integer IDs intern as) */
#include "idmap.h"
cf_idmap *cf_test_decimal_map(int64_t n);

/* ---- gen's data in memory (cf_generate with its defaults but these fields; clip 1: to
 * [1, 5] as gen's default, 0: the raw planted values), asserted to succeed. */
cf_dataset *cf_test_generate(int64_t users, int64_t items, int64_t ratings, int rank, double noise, uint64_t seed,
                             int clip);

/* A generated dataset with timestamps: cf_test_generate's ratings (2000 users × 300
 * items, rank 3, σ 0.3, clipped) with times drawn from [0, span) (span small: many ties),
 * every 11th rating already in the test part when `pre_test`. */
cf_dataset *cf_test_generate_timed(int64_t ratings, int64_t span, int pre_test, uint64_t seed);

/* ---- a warm start continues ALS: cfg (algo ALS) trained 3 iterations, then 2 more from
 * that model through cf_train_options.init, is cfg trained 5 iterations, bit for bit (P,
 * Q, b_u, b_i); *rep (may be NULL) gets the warm run's report. `what` names the case. */
void cf_test_warm_start_continues(const cf_dataset *ds, cf_config cfg, const char *what, cf_train_report *rep);

/* ---- checkpoint and resume (cf_train_ex). cf_test_stop_cb raises *flag when the
 * progress callback has been called `at` times (over all restarts), as a signal arriving
 * during that iteration would. */
#include <signal.h>
typedef struct cf_test_stopper {
    int calls, at;
    volatile sig_atomic_t *flag;
} cf_test_stopper;
int cf_test_stop_cb(const cf_iter_info *info, void *user);
/* The factors of two models: the same bits (μ too), or with tol > 0 each array within tol
 * × its largest magnitude (μ still the same bits). */
struct cf_model;
void cf_test_assert_same_model(const struct cf_model *a, const struct cf_model *b);
void cf_test_assert_close_model(const struct cf_model *a, const struct cf_model *b, double tol);
/* Iterations, stop reason and kept run equal; objective and RMSEs the same bits (tol 0)
 * or within the relative tol. */
void cf_test_assert_same_report(const cf_train_report *a, const cf_train_report *b);
void cf_test_assert_close_report(const cf_train_report *a, const cf_train_report *b, double tol);
/* Trains c with a checkpoint to dir/NAME (written only when stopped) and the stop flag
 * raised after `stop_calls` progress calls: asserts the interruption (no model, one
 * checkpoint, the message naming the file); returns the path (free it); *rep (may be NULL)
 * gets the stopped run's report. */
char *cf_test_stopped_checkpoint(const char *dir, const char *name, const cf_dataset *ds, const cf_config *c,
                                  int stop_calls, cf_train_report *rep);
/* Trains c uninterrupted; trains it again stopped after `stop_calls` progress calls
 * (checkpoint written to dir/run.cfc, no model); resumes with `resume_threads` threads;
 * asserts the same device and the same result (tol as above). Returns the uninterrupted
 * report; *ck receives the checkpoint's position. */
cf_train_report cf_test_resume_matches(const char *dir, const cf_dataset *ds, cf_config c, int stop_calls,
                                       int resume_threads, double tol, cf_checkpoint_info *ck);

/* x ← A⁻¹ x for a small dense A (row-major d × d, overwritten) by Gaussian elimination with
 * partial pivoting: a solve of the tests' own, independent of the library's BLAS / LAPACK. */
void cf_test_gauss_solve(double *A, double *x, int d);

#endif
