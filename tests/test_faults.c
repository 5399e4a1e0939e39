/*
 * test_faults.c — faults survived (issue 7, item 3): every writer of the CLI on a full
 * disk and into unwritable destinations, and a model save killed mid-write.
 *
 * We run as root, so permission bits stop nothing: a full disk is simulated with
 * RLIMIT_FSIZE in the child (a write past the limit fails with EFBIG; the CLI ignores
 * SIGXFSZ itself, the child here does not) and, for stdout, with /dev/full (ENOSPC);
 * unwritable destinations are a path under a regular file (ENOTDIR) and one under a
 * missing directory (ENOENT). Each case asserts: exit status 1, an error naming the
 * file, the old output byte for byte intact, and no temporary file left in the directory.
 *
 * The CLI's stdout and stderr come back through pipes (a file-size limit would also cut
 * files capturing them).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "atomic_file.h"
#include "big_model.h"
#include "common.h"
#include "cufactor.h"
#include "factors.h"
#include "helpers.h"
#include "idmap.h"
#include "model.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

CF_TEST_SUITE_WITH_TMPDIR(faults, 120);

typedef struct run_result {
    int code;  /* exit status, or 128 + signal */
    char *out, *err;
} run_result;

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

/* Appends what is readable on fd to *buf; returns 0 at EOF. */
static int drain(int fd, char **buf, size_t *len) {
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n <= 0) return n < 0 && errno == EINTR;
    *buf = realloc(*buf, *len + (size_t)n + 1);
    cr_assert_not_null(*buf);
    memcpy(*buf + *len, tmp, (size_t)n);
    *len += (size_t)n;
    (*buf)[*len] = 0;
    return 1;
}

/* Runs `cufactor ARGS...` (NULL-terminated) in dir. fsize > 0: RLIMIT_FSIZE in bytes;
 * stdout_path: stdout goes there (e.g. "/dev/full") instead of back to the test. */
static run_result cli(rlim_t fsize, const char *stdout_path, const char *first, ...) {
    const char *argv[64];
    int n = 0;
    argv[n++] = CF_CLI_PATH;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    int po[2], pe[2];
    cr_assert(pipe(po) == 0 && pipe(pe) == 0);
    char tmpdir[4200];
    snprintf(tmpdir, sizeof tmpdir, "TMPDIR=%s", dir);
    char **envp = cf_test_environ((const char *[]){tmpdir, "OMP_NUM_THREADS=1", NULL});
    cr_assert_not_null(envp);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) { /* only async-signal-safe calls until exec: the test has threads */
        int fo = stdout_path ? open(stdout_path, O_WRONLY) : po[1];
        if (fo < 0 || dup2(fo, 1) < 0 || dup2(pe[1], 2) < 0 || chdir(dir) != 0) _exit(127);
        close(po[0]), close(pe[0]);
        signal(SIGXFSZ, SIG_DFL); /* the CLI must ignore it itself */
        if (fsize) {
            struct rlimit lim = {fsize, fsize};
            if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(126);
        }
        execve(CF_CLI_PATH, (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    close(po[1]), close(pe[1]);
    run_result r = {0, calloc(1, 1), calloc(1, 1)};
    size_t lo = 0, le = 0;
    int open_o = 1, open_e = 1;
    while (open_o || open_e) {
        struct pollfd p[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        cr_assert(poll(p, 2, -1) >= 0 || errno == EINTR);
        if (open_o && p[0].revents) open_o = drain(po[0], &r.out, &lo);
        if (open_e && p[1].revents) open_e = drain(pe[0], &r.err, &le);
        if (!open_o) p[0].fd = -1;
    }
    close(po[0]), close(pe[0]);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

static char *at(const char *name) { return cf_test_path(dir, name); }

/* Entries of directory d whose name contains ".tmp". */
static int temps_in(const char *d) {
    int n = cf_test_count_entries(d, ".tmp");
    return n < 0 ? 0 : n; /* a directory that does not exist holds none */
}

static int entries_in(const char *d) {
    DIR *dp = opendir(d);
    cr_assert_not_null(dp, "%s", d);
    int n = 0;
    for (struct dirent *e; (e = readdir(dp));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dp);
    return n;
}

/* A ratings file (2000 ratings) and a model trained on it, both through the CLI. */
static void make_data_and_model(void) {
    run_result r = cli(0, NULL, "gen", "--users", "120", "--items", "80", "--ratings", "2000", "--rank",
                       "2", "--noise", "0.2", "--seed", "3", "--out", "r.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli(0, NULL, "train", "r.tsv", "--factors", "4", "--iters", "2", "--model", "m.cfm", "--device", "cpu",
            NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
}

/* The failed run: exit 1, the message names `path` and `why`, no temporary left. */
static void assert_failed(const run_result *r, const char *path, const char *why) {
    cr_assert_eq(r->code, 1, "exit %d, stderr: %s", r->code, r->err);
    cr_assert(strstr(r->err, path) != NULL, "the error does not name %s: %s", path, r->err);
    cr_assert(strstr(r->err, why) != NULL, "the error does not say '%s': %s", why, r->err);
    cr_assert_eq(temps_in(dir), 0, "a temporary file was left in %s", dir);
}

/* The file is byte for byte `before` (n bytes). */
static void assert_same_file(const char *path, const char *before, size_t n) {
    size_t n1 = 0;
    char *after = cf_test_read(path, &n1);
    cr_assert_not_null(after, "%s is gone", path);
    cr_assert(n1 == n && memcmp(after, before, n) == 0, "%s changed (%zu bytes, was %zu)", path, n1, n);
    free(after);
}

static const char *EFBIG_TEXT(void) { return strerror(EFBIG); }

/* ------------------------------------------------------------------ disk full */

Test(faults, train_model_save_on_full_disk_keeps_the_old_model) {
    make_data_and_model();
    char *m = at("m.cfm");
    size_t n;
    char *before = cf_test_read(m, &n);
    cr_assert_gt(n, 4096u);
    /* a different model (K = 8) would replace it; the disk "fills" at 4 KiB */
    run_result r = cli(4096, NULL, "train", "r.tsv", "--factors", "8", "--iters", "1", "--model", "m.cfm",
                       "--device", "cpu", NULL);
    assert_failed(&r, "m.cfm", EFBIG_TEXT());
    assert_same_file(m, before, n);
    run_free(&r);
    free(before), free(m);
}

Test(faults, gen_on_full_disk_keeps_the_old_file) {
    make_data_and_model();
    char *p = at("r.tsv");
    size_t n;
    char *before = cf_test_read(p, &n);
    run_result r = cli(4096, NULL, "gen", "--users", "100", "--items", "90", "--ratings", "3000", "--rank", "2",
                       "--noise", "0.1", "--out", "r.tsv", NULL);
    assert_failed(&r, "r.tsv", EFBIG_TEXT());
    assert_same_file(p, before, n);
    run_free(&r);
    free(before), free(p);
}

Test(faults, export_on_full_disk_replaces_no_file) {
    make_data_and_model();
    run_result r = cli(0, NULL, "export", "m.cfm", "--npy", "ex", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    static const char *files[] = {"P.npy",     "Q.npy",     "user_bias.npy",    "item_bias.npy",   "users.txt",
                                  "items.txt", "meta.json", "user_ratings.npy", "item_ratings.npy"};
    enum { N_FILES = sizeof files / sizeof *files }; /* a trained model keeps its counts: nine */
    char *ex = at("ex"), *before[N_FILES], *paths[N_FILES];
    size_t len[N_FILES];
    for (int k = 0; k < N_FILES; k++) {
        paths[k] = cf_test_path(ex, files[k]);
        before[k] = cf_test_read(paths[k], &len[k]);
        cr_assert_not_null(before[k]);
    }
    /* a model with other dimensions, exported over the old export; P.npy (120 × 8 doubles)
     * passes 4 KiB: the third file fails, after two were written in full */
    r = cli(0, NULL, "train", "r.tsv", "--factors", "8", "--iters", "1", "--model", "m8.cfm", "--device", "cpu",
            NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli(7000, NULL, "export", "m8.cfm", "--npy", "ex", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "ex/") && strstr(r.err, EFBIG_TEXT()), "%s", r.err);
    for (int k = 0; k < N_FILES; k++) assert_same_file(paths[k], before[k], len[k]);
    cr_assert_eq(entries_in(ex), N_FILES, "only the old nine files");
    run_free(&r);
    /* into a new directory: it is not left behind */
    r = cli(4096, NULL, "export", "m8.cfm", "--npy", "ex2", NULL);
    cr_assert_eq(r.code, 1, "%s", r.err);
    char *ex2 = at("ex2");
    struct stat sb;
    cr_assert_neq(stat(ex2, &sb), 0, "the directory it created is removed again");
    run_free(&r);
    for (int k = 0; k < N_FILES; k++) free(before[k]), free(paths[k]);
    free(ex), free(ex2);
}

Test(faults, cv_svg_on_full_disk_keeps_the_old_file) {
    make_data_and_model();
    run_result r = cli(0, NULL, "cv", "r.tsv", "--grid", "factors=2,3", "--grid", "lambda=0.1", "--folds", "2",
                       "--iters", "1", "--device", "cpu", "--svg", "grid.svg", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    char *p = at("grid.svg");
    size_t n;
    char *before = cf_test_read(p, &n);
    cr_assert_gt(n, 600u);
    r = cli(512, NULL, "cv", "r.tsv", "--grid", "factors=4,5", "--grid", "lambda=0.2", "--folds", "2", "--iters",
            "1", "--device", "cpu", "--svg", "grid.svg", NULL);
    assert_failed(&r, "grid.svg", EFBIG_TEXT());
    assert_same_file(p, before, n);
    run_free(&r);
    free(before), free(p);
}

Test(faults, predict_on_full_disk_and_full_stdout) {
    make_data_and_model();
    run_result r = cli(0, NULL, "predict", "m.cfm", "r.tsv", "--out", "p.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    char *p = at("p.tsv");
    size_t n;
    char *before = cf_test_read(p, &n);
    cr_assert_gt(n, 8192u);
    r = cli(8192, NULL, "predict", "m.cfm", "r.tsv", "--out", "p.tsv", NULL);
    assert_failed(&r, "p.tsv", EFBIG_TEXT());
    assert_same_file(p, before, n);
    run_free(&r);
    r = cli(0, "/dev/full", "predict", "m.cfm", "r.tsv", NULL);
    assert_failed(&r, "stdout", strerror(ENOSPC));
    run_free(&r);
    free(before), free(p);
}

Test(faults, stdout_on_full_device_is_an_error) {
    make_data_and_model();
    run_result r = cli(0, "/dev/full", "recommend", "m.cfm", "--user", "3", NULL);
    assert_failed(&r, "stdout", "writing to stdout failed");
    run_free(&r);
    r = cli(0, "/dev/full", "eval", "m.cfm", "r.tsv", "--json", NULL);
    assert_failed(&r, "stdout", "writing to stdout failed");
    run_free(&r);
    /* the model is saved before the summary: it is complete, only stdout is lost */
    r = cli(0, "/dev/full", "train", "r.tsv", "--factors", "3", "--iters", "1", "--model", "m3.cfm", "--device",
            "cpu", "--json", NULL);
    assert_failed(&r, "stdout", "writing to stdout failed");
    run_free(&r);
    char *m3 = at("m3.cfm");
    cf_model *m = NULL;
    cf_error err;
    cr_assert_eq(cf_model_load(m3, &m, &err), CF_OK, "%s", err.msg);
    cf_model_destroy(&m);
    free(m3);
}

/* ------------------------------------------------------------------ unwritable destinations */

Test(faults, unwritable_destinations_for_every_writer) {
    make_data_and_model();
    /* "m.cfm/x": the parent is a regular file (ENOTDIR); "nodir/x": missing (ENOENT) */
    const char *targets[] = {"m.cfm/x", "nodir/x"};
    const char *why[] = {strerror(ENOTDIR), strerror(ENOENT)};
    char *m = at("m.cfm");
    size_t n;
    char *before = cf_test_read(m, &n);
    int entries = entries_in(dir);
    for (int t = 0; t < 2; t++) {
        const char *out = targets[t];
        run_result r;
#define CASE(...)                                                                                \
    do {                                                                                         \
        r = cli(0, NULL, __VA_ARGS__, NULL);                                                     \
        cr_assert_eq(r.code, 1, "%s: exit %d: %s", out, r.code, r.err);                          \
        cr_assert(strstr(r.err, out) != NULL, "the error does not name %s: %s", out, r.err);    \
        cr_assert(strstr(r.err, why[t]) != NULL || strstr(r.err, "directory") != NULL,          \
                  "%s: %s", out, r.err);                                                         \
        cr_assert_eq(entries_in(dir), entries, "%s: something was created", out);               \
        assert_same_file(m, before, n);                                                          \
        run_free(&r);                                                                            \
    } while (0)
        CASE("train", "r.tsv", "--factors", "2", "--iters", "1", "--device", "cpu", "--model", out);
        CASE("gen", "--users", "10", "--items", "10", "--ratings", "20", "--rank", "1", "--noise", "0.1",
             "--out", out);
        CASE("export", "m.cfm", "--npy", out);
        CASE("predict", "m.cfm", "r.tsv", "--out", out);
        CASE("cv", "r.tsv", "--grid", "factors=2", "--grid", "lambda=0.1", "--folds", "2", "--iters", "1",
             "--device", "cpu", "--svg", out);
        CASE("cv", "r.tsv", "--grid", "factors=2", "--grid", "lambda=0.1", "--folds", "2", "--iters", "1",
             "--device", "cpu", "--model", out);
#undef CASE
    }
    free(before), free(m);
}

/* ------------------------------------------------------------------ kill during save */

/* The saving child: tests/fault_saver (fork and an immediate exec: the test process has
 * threads, and a child that only forked could hang on a lock one of them held). Its fd 3
 * is the write end of a pipe whose read end comes back in *rd. argv: NULL-terminated,
 * after the program's name. */
static pid_t start_saver(int *rd, const char *const *args) {
    const char *argv[8] = {CF_FAULT_SAVER_PATH};
    int n = 1;
    for (; args[n - 1]; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) { /* only async-signal-safe calls until exec */
        if (p[1] == 3 ? fcntl(3, F_SETFD, 0) != 0 : dup2(p[1], 3) != 3) _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    *rd = p[0];
    return pid;
}

/* The saver's next report byte; -1 at end of file or after 60 s without one (the saver
 * is then killed, so that a stuck one cannot hold the test's pipes open). */
static int saver_report(int rd, pid_t pid) {
    struct pollfd pf = {rd, POLLIN, 0};
    int r;
    while ((r = poll(&pf, 1, 60000)) < 0 && errno == EINTR) {}
    char c;
    if (r == 1 && read(rd, &c, 1) == 1) return (unsigned char)c;
    kill(pid, SIGKILL);
    return -1;
}

/* SIGKILLs the saver and reaps it; its wait status. */
static int kill_saver(pid_t pid, int rd) {
    close(rd);
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static int same_factors(const cf_model *a, const cf_model *b) {
    const cf_factors *x = &a->f, *y = &b->f;
    if (x->n_users != y->n_users || x->n_items != y->n_items || x->k != y->k || x->mu != y->mu) return 0;
    return memcmp(x->P, y->P, sizeof(double) * (size_t)(x->n_users * x->k)) == 0 &&
           memcmp(x->Q, y->Q, sizeof(double) * (size_t)(x->n_items * x->k)) == 0 &&
           memcmp(x->bu, y->bu, sizeof(double) * (size_t)x->n_users) == 0 &&
           memcmp(x->bi, y->bi, sizeof(double) * (size_t)x->n_items) == 0;
}

/* A child saves models A and B in turn to one path; it is SIGKILLed after 0.5 to 300 ms.
 * Each time the path must load, and hold A or B exactly. What the kill leaves: with
 * O_TMPFILE nothing, unless the kill fell in the microseconds between the link of the
 * finished file and its rename (counted and logged); the next save does not remove
 * other saves' temporaries (they may belong to a live writer). */
Test(faults, kill_during_save_leaves_old_or_new_model, .timeout = 300) {
    cf_model *A = cf_test_big_model(1), *B = cf_test_big_model(2);
    cr_assert(A && B);
    char *path = at("m.cfm");
    cf_error err;
    cr_assert_eq(cf_model_save(A, path, &err), CF_OK, "%s", err.msg);
    const int delays_us[] = {500, 3000, 10000, 25000, 50000, 80000, 120000, 200000, 300000};
    int n_a = 0, n_b = 0, left_temps = 0;
    for (int d = 0; d < 9; d++) {
        int rd;
        pid_t pid = start_saver(&rd, (const char *[]){"loop", path, NULL});
        cr_assert_eq(saver_report(rd, pid), 'R', "the saver did not start");
        struct timespec ts = {0, delays_us[d] * 1000L};
        nanosleep(&ts, NULL);
        int status = kill_saver(pid, rd);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the saver ended otherwise: 0x%x", status);
        cf_model *m = NULL;
        cr_assert_eq(cf_model_load(path, &m, &err), CF_OK, "after a kill at %d us: %s", delays_us[d], err.msg);
        int is_a = same_factors(m, A), is_b = same_factors(m, B);
        cr_assert(is_a || is_b, "after a kill at %d us the model is neither the old nor the new", delays_us[d]);
        n_a += is_a, n_b += is_b;
        left_temps = temps_in(dir);
        cf_model_destroy(&m);
    }
    cr_log_info("kill during save: %d loads gave model A, %d model B; %d temporary file(s) left by the kills",
                n_a, n_b, left_temps);
    cr_assert_leq(left_temps, 9, "at most one temporary per kill");
    /* a later save works and leaves the others' temporaries alone */
    cr_assert_eq(cf_model_save(B, path, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(temps_in(dir), left_temps);
    cf_model_destroy(&A);
    cf_model_destroy(&B);
    free(path);
}

/* Entries of d whose name starts with `prefix`. */
static int entries_starting(const char *d, const char *prefix) {
    DIR *dp = opendir(d);
    cr_assert_not_null(dp, "%s", d);
    int n = 0;
    for (struct dirent *e; (e = readdir(dp));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(dp);
    return n;
}

/* Saves model `seed` to path in a saver stopped after its first 4 MiB and SIGKILLs it
 * there; returns what the saver reported ('U' unnamed O_TMPFILE, 'N' named temporary). */
static char kill_save_mid_write(uint64_t seed, const char *path, int use_tmpfile) {
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
    int rd;
    pid_t pid = start_saver(&rd, (const char *[]){"stop", path, s, use_tmpfile ? "1" : "0", NULL});
    int c = saver_report(rd, pid);
    int status = kill_saver(pid, rd);
    cr_assert_neq(c, -1, "the saver never reached a flush (status 0x%x)", status);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the saver ended otherwise: 0x%x", status);
    return (char)c;
}

/* 1 when the filesystem of d accepts O_TMPFILE. */
static int tmpfile_supported(const char *d) {
    int fd = open(d, O_TMPFILE | O_WRONLY, 0600);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

/* A save killed after it wrote 4 of its 7 MB: the old model loads unchanged and, the data
 * living in an unnamed O_TMPFILE inode, no m.cfm.tmp.* is left in the directory. */
Test(faults, save_killed_mid_write_leaves_no_temporary) {
    if (!tmpfile_supported(dir)) cr_skip_test("O_TMPFILE is refused in %s", dir);
    cf_model *A = cf_test_big_model(1), *B = cf_test_big_model(2);
    cr_assert(A && B);
    char *path = at("m.cfm");
    cf_error err;
    cr_assert_eq(cf_model_save(A, path, &err), CF_OK, "%s", err.msg);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(kill_save_mid_write(2, path, 1), 'U', "the save did not write to an unnamed file");
        cr_assert_eq(entries_starting(dir, "m.cfm.tmp."), 0, "kill %d left a temporary", k + 1);
        cr_assert_eq(entries_in(dir), 1, "only m.cfm");
    }
    cf_model *m = NULL;
    cr_assert_eq(cf_model_load(path, &m, &err), CF_OK, "%s", err.msg);
    cr_assert(same_factors(m, A), "the old model changed");
    cf_model_destroy(&m);
    /* an unkilled save still replaces it, leaving nothing else */
    cr_assert_eq(cf_model_save(B, path, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_model_load(path, &m, &err), CF_OK, "%s", err.msg);
    cr_assert(same_factors(m, B));
    cr_assert_eq(entries_in(dir), 1);
    cf_model_destroy(&m);
    cf_model_destroy(&A);
    cf_model_destroy(&B);
    free(path);
}

/* The mkstemp fallback (where O_TMPFILE is refused; forced here by the hook): a save
 * writes "m.cfm.tmp.XXXXXX" by name, so a kill mid-write leaves exactly that one file
 * and the old model; a finished save replaces the model and leaves no temporary of its
 * own, keeping the permission bits of the file it replaces. */
Test(faults, mkstemp_fallback_saves_atomically) {
    cf_model *A = cf_test_big_model(1), *B = cf_test_big_model(2);
    cr_assert(A && B);
    char *path = at("m.cfm");
    cf_error err;
    cr_assert_eq(cf_model_save(A, path, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(chmod(path, 0640), 0);
    cr_assert_eq(kill_save_mid_write(2, path, 0), 'N', "the fallback wrote to an unnamed file");
    cr_assert_eq(entries_starting(dir, "m.cfm.tmp."), 1, "a named temporary is what the fallback leaves");
    cf_model *m = NULL;
    cr_assert_eq(cf_model_load(path, &m, &err), CF_OK, "%s", err.msg);
    cr_assert(same_factors(m, A));
    cf_model_destroy(&m);
    int was = cf_afile_use_tmpfile(0);
    cr_assert_eq(was, 1, "O_TMPFILE is the default");
    cr_assert_eq(cf_model_save(B, path, &err), CF_OK, "%s", err.msg);
    cf_afile_use_tmpfile(1);
    cr_assert_eq(cf_model_load(path, &m, &err), CF_OK, "%s", err.msg);
    cr_assert(same_factors(m, B));
    cf_model_destroy(&m);
    cr_assert_eq(entries_starting(dir, "m.cfm.tmp."), 1, "only the killed save's temporary");
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 07777, 0640u);
    cf_model_destroy(&A);
    cf_model_destroy(&B);
    free(path);
}

/* cf_output, the CLI's text writer, on both paths: what was written appears at commit
 * with the bits of the replaced file (0644 for a new one); abort keeps the old file;
 * neither leaves a temporary. */
Test(faults, text_output_commit_and_abort) {
    for (int use = 0; use < 2; use++) {
        cf_afile_use_tmpfile(use);
        char *path = at(use ? "a.txt" : "b.txt");
        cf_output *o = NULL;
        FILE *f = NULL;
        cf_error err;
        cr_assert_eq(cf_output_open(path, &o, &f, &err), CF_OK, "%s", err.msg);
        for (int k = 0; k < 100000; k++) fprintf(f, "line %d\n", k); /* 1.1 MB: several stdio buffers */
        cr_assert_eq(cf_output_commit(&o, &err), CF_OK, "%s", err.msg);
        cr_assert_null(o);
        size_t n = 0;
        char *text = cf_test_read(path, &n);
        cr_assert_eq(n, 1088890u, "%zu bytes", n);
        cr_assert_eq(strncmp(text, "line 0\nline 1\n", 14), 0);
        cr_assert_eq(strcmp(text + n - 11, "line 99999\n"), 0, "%s", text + n - 11);
        free(text);
        struct stat sb;
        cr_assert_eq(stat(path, &sb), 0);
        cr_assert_eq(sb.st_mode & 07777, 0644u);
        cr_assert_eq(cf_output_open(path, &o, &f, &err), CF_OK, "%s", err.msg);
        fputs("half", f);
        cf_output_abort(&o);
        cr_assert_null(o);
        text = cf_test_read(path, &n);
        cr_assert_eq(n, 1088890u, "abort changed the file");
        free(text);
        cr_assert_eq(temps_in(dir), 0, "use_tmpfile %d", use);
        free(path);
    }
    cf_afile_use_tmpfile(1);
    /* an unwritable destination: the error names it and the reason */
    cf_output *o = NULL;
    FILE *f = NULL;
    cf_error err;
    char *bad = at("nodir/x.txt");
    cr_assert_eq(cf_output_open(bad, &o, &f, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, "nodir/x.txt") && strstr(err.msg, strerror(ENOENT)), "%s", err.msg);
    cr_assert_null(o);
    free(bad);
}

/* cf_afile_sync_data midway (what a model save does once its pieces are written, while
 * the checksum is still computed): the bytes before it, those still in the buffer when it
 * was called and those after it all arrive, in order, on both temporary-file paths; an
 * earlier write error stays the one reported. */
Test(faults, afile_sync_data_midway_keeps_every_byte) {
    unsigned char data[15000];
    for (size_t k = 0; k < sizeof data; k++) data[k] = (unsigned char)(k * 7 + k / 251);
    for (int use = 0; use < 2; use++) {
        cf_afile_use_tmpfile(use);
        char *path = at(use ? "s.bin" : "t.bin");
        cf_afile f;
        cf_error err;
        cr_assert_eq(cf_afile_open(&f, path, 4096, &err), CF_OK, "%s", err.msg);
        cf_afile_write(&f, data, 10000); /* two buffers' worth written, 1808 bytes pending */
        cf_afile_sync_data(&f);
        cr_assert_eq(f.len, 0u, "sync_data left %zu bytes in the buffer", f.len);
        cf_afile_write(&f, data + 10000, 5000);
        cr_assert_eq(cf_afile_commit(&f, &err), CF_OK, "%s", err.msg);
        size_t n = 0;
        char *back = cf_test_read(path, &n);
        cr_assert(n == sizeof data && memcmp(back, data, n) == 0, "use_tmpfile %d: %zu bytes back", use, n);
        free(back);
        cr_assert_eq(temps_in(dir), 0, "use_tmpfile %d", use);
        free(path);
    }
    cf_afile_use_tmpfile(1);
    char *path = at("u.bin");
    cf_afile f;
    cf_error err;
    cr_assert_eq(cf_afile_open(&f, path, 4096, &err), CF_OK, "%s", err.msg);
    f.err_no = ENOSPC, f.what = "write"; /* as a failed write leaves it */
    cf_afile_sync_data(&f);
    cr_assert_eq(cf_afile_commit(&f, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, "write failed") && strstr(err.msg, strerror(ENOSPC)), "%s", err.msg);
    cr_assert_eq(access(path, F_OK), -1, "a failed file appeared");
    cr_assert_eq(temps_in(dir), 0);
    free(path);
}

/* ------------------------------------------------------------------ --gpu-mem-limit */

Test(faults, gpu_mem_limit_option_reads_byte_counts) {
    make_data_and_model();
    static const struct {
        const char *v;
        int code;
        const char *msg;
    } cases[] = {
        {"1000", 2, "'1000' is 1000 bytes: must be 0 (no limit) or at least 1048576"},
        {"1023K", 2, "'1023K' is 1047552 bytes"},
        {"2X", 2, "'2X' is not a byte count"},
        {"-5M", 2, "'-5M' is not a byte count"},
        {"M", 2, "'M' is not a byte count"},
        {"16777216T", 2, "'16777216T' is not a byte count"}, /* 2^64 */
        {"99999999999999999999", 2, "is not a byte count"},
        {"1M", 0, NULL},
        {"1024KiB", 0, NULL},
        {"512M", 0, NULL},
        {"2G", 0, NULL},
        {"0", 0, NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        run_result r = cli(0, NULL, "train", "r.tsv", "--factors", "2", "--iters", "1", "--gpu-mem-limit",
                           cases[k].v, NULL);
        cr_assert_eq(r.code, cases[k].code, "%s: exit %d: %s", cases[k].v, r.code, r.err);
        if (cases[k].msg)
            cr_assert(strstr(r.err, "--gpu-mem-limit: ") && strstr(r.err, cases[k].msg), "%s: %s", cases[k].v,
                      r.err);
        run_free(&r);
    }
}

/* verify and demo take --gpu-mem-limit from the same table as train: the same byte
 * counts, the same bound and messages. Accepted values: verify runs its CPU self-check
 * (exit 0); demo, not to run the whole demo, is stopped by a bad --threads after the
 * limit parsed (exit 2 naming threads, not the limit). */
Test(faults, gpu_mem_limit_in_verify_and_demo) {
    make_data_and_model();
    static const struct {
        const char *v, *msg; /* msg NULL: accepted */
    } cases[] = {
        {"1000", "'1000' is 1000 bytes: must be 0 (no limit) or at least 1048576"},
        {"1023K", "'1023K' is 1047552 bytes"},
        {"2X", "'2X' is not a byte count"},
        {"16777216T", "'16777216T' is not a byte count"},
        {"1M", NULL},
        {"1024KiB", NULL},
        {"2G", NULL},
        {"0", NULL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *v = cases[k].v, *msg = cases[k].msg;
        run_result r = cli(0, NULL, "verify", "r.tsv", "--candidate", "cpu", "--factors", "2", "--iters", "1",
                           "--quiet", "--gpu-mem-limit", v, NULL);
        cr_assert_eq(r.code, msg ? 2 : 0, "verify %s: exit %d: %s", v, r.code, r.err);
        if (msg) cr_assert(strstr(r.err, "--gpu-mem-limit: ") && strstr(r.err, msg), "verify %s: %s", v, r.err);
        run_free(&r);
        r = cli(0, NULL, "demo", "--gpu-mem-limit", v, "--threads", "-1", NULL);
        cr_assert_eq(r.code, 2, "demo %s: exit %d: %s", v, r.code, r.err);
        if (msg)
            cr_assert(strstr(r.err, "--gpu-mem-limit: ") && strstr(r.err, msg), "demo %s: %s", v, r.err);
        else
            cr_assert(strstr(r.err, "threads: -1") && !strstr(r.err, "gpu-mem-limit"), "demo %s: %s", v, r.err);
        run_free(&r);
    }
}
