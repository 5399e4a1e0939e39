/*
 * test_cli_interrupt.c — Ctrl-C / SIGTERM while the CLI reads a ratings file.
 *
 * Every command that reads one (train DATA, train --test FILE, cv, verify, eval,
 * recommend --exclude) must stop the read, end with the one line
 * "cufactor: interrupted while reading PATH (at byte N of SIZE)", exit 130 and write
 * nothing (no --model, no temporary, nothing on stdout).
 *
 * The timing is made deterministic by the CLI's test hook (src/cli/util.c):
 * CUFACTOR_TEST_READ_HOOK=raise[@PATH] raises SIGINT in the read's first progress call
 * (a real signal through the real handler); =wait[@PATH] announces itself on stderr and
 * waits there, so that the test sends SIGINT or SIGTERM from outside while the read is
 * certainly in progress. A real-time signal without any hook, through a terminal, is in
 * test_progress.c.
 */
#include <criterion/criterion.h>

#include "helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CF_TEST_SUITE_WITH_TMPDIR(cli_interrupt, 120);

typedef struct child {
    pid_t pid;
    char *out_path, *err_path;
} child;

/* Starts `cufactor ARGV...` in dir with TMPDIR=dir and CUFACTOR_TEST_READ_HOOK=hook
 * (NULL: unset), stdout and stderr to files. */
static child start(const char *hook, const char *const *args) {
    const char *argv[32];
    int n = 0;
    argv[n++] = CF_CLI_PATH;
    for (; args[n - 1]; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    child c = {0, cf_test_path(dir, "stdout.txt"), cf_test_path(dir, "stderr.txt")};
    char setting[512];
    snprintf(setting, sizeof setting, "CUFACTOR_TEST_READ_HOOK=%s", hook ? hook : "");
    const char *env[] = {hook ? setting : "CUFACTOR_TEST_READ_HOOK", NULL};
    c.pid = cf_test_start(dir, argv, env);
    cr_assert_neq(c.pid, -1);
    return c;
}

typedef struct result {
    int code; /* exit status, or minus the signal that killed it (never 130 then) */
    char *out, *err;
} result;

static result finish(child *c) {
    int status = 0;
    cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
    result r = {WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status), cf_test_read(c->out_path, NULL),
                cf_test_read(c->err_path, NULL)};
    cr_assert(r.out && r.err);
    const char *report = cf_test_sanitizer_report(r.err);
    cr_assert_null(report, "sanitizer report: %.400s", report);
    free(c->out_path), free(c->err_path);
    return r;
}

static result run(const char *hook, const char *const *args) {
    child c = start(hook, args);
    return finish(&c);
}

static int exists(const char *name) {
    char *p = cf_test_path(dir, name);
    struct stat st;
    int e = stat(p, &st) == 0;
    free(p);
    return e;
}

static long long size_of(const char *name) {
    char *p = cf_test_path(dir, name);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0, "%s", p);
    free(p);
    return (long long)st.st_size;
}

/* Entries of dir whose name contains `part`. */
static int count_entries(const char *part) {
    int n = cf_test_count_entries(dir, part);
    cr_assert_geq(n, 0, "cannot list %s", dir);
    return n;
}

/* `lines` ratings "uU\tiI\tR" over 40 users × 30 items, no duplicates. */
static void write_ratings(const char *name, int lines, int offset) {
    size_t cap = (size_t)lines * 24 + 1, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int k = 0; k < lines; k++) {
        int j = k + offset;
        len += (size_t)snprintf(text + len, cap - len, "u%d\ti%d\t%d\n", j % 40, (j / 40) % 30, 1 + j % 5);
    }
    free(cf_test_write(dir, name, text, len));
    free(text);
}

/* The stderr of an interrupted read: the last line, exactly; before it, only lines of
 * reads that completed (`before`, may be NULL) and no training notice. */
static void assert_interrupted(const result *r, const char *path, const char *what) {
    char want[512];
    snprintf(want, sizeof want, "cufactor: interrupted while reading %s (at byte 0 of %lld)\n", path, size_of(path));
    cr_assert_eq(r->code, 130, "%s: exit %d, stderr: %s", what, r->code, r->err);
    size_t le = strlen(r->err), lw = strlen(want);
    cr_assert(le >= lw && strcmp(r->err + le - lw, want) == 0, "%s: stderr does not end with\n%s---\n%s", what, want,
              r->err);
    cr_assert_null(strstr(r->err, "error"), "%s: %s", what, r->err);
    cr_assert_null(strstr(r->err, "the current iteration is abandoned"), "%s: %s", what, r->err);
    cr_assert_str_eq(r->out, "", "%s: stdout: %s", what, r->out);
    cr_assert(!exists("out.cfm"), "%s: --model written after an interrupted read", what);
    cr_assert_eq(count_entries(".tmp"), 0, "%s: a temporary is left", what);
}

Test(cli_interrupt, sigint_during_the_read_of_every_command_exits_130_and_writes_nothing) {
    write_ratings("data.tsv", 900, 0);
    write_ratings("held.tsv", 100, 900);
    const char *mk[] = {"train", "data.tsv", "--iters", "1", "--factors", "2", "--threads", "1", "--model",
                        "m.cfm", "--quiet", NULL};
    result r = run(NULL, mk);
    cr_assert_eq(r.code, 0, "%s", r.err);
    free(r.out), free(r.err);

    static const struct {
        const char *hook, *path, *args[16];
    } cases[] = {
        {"raise", "data.tsv", {"train", "data.tsv", "--iters", "1", "--model", "out.cfm", NULL}},
        {"raise@held.tsv", "held.tsv",
         {"train", "data.tsv", "--test", "held.tsv", "--iters", "1", "--model", "out.cfm", NULL}},
        {"raise", "data.tsv", {"cv", "data.tsv", "--grid", "factors=2", "--grid", "lambda=0.1", "--folds", "2", "--iters", "1",
          "--model", "out.cfm", NULL}},
        {"raise", "data.tsv", {"verify", "data.tsv", "--candidate", "cpu", "--iters", "1", NULL}},
        {"raise", "data.tsv", {"eval", "m.cfm", "data.tsv", NULL}},
        {"raise", "held.tsv", {"recommend", "m.cfm", "--user", "u1", "--exclude", "held.tsv", NULL}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        r = run(cases[k].hook, cases[k].args);
        assert_interrupted(&r, cases[k].path, cases[k].args[0]);
        if (strcmp(cases[k].hook, "raise@held.tsv") == 0) /* DATA was read in full first */
            cr_assert(strstr(r.err, "read data.tsv: "), "%s", r.err);
        free(r.out), free(r.err);
    }
    /* a hook on another path leaves the command alone: the same `eval` succeeds */
    const char *ev[] = {"eval", "m.cfm", "data.tsv", NULL};
    r = run("raise@other.tsv", ev);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "count   900 ratings of "), "%s", r.out);
    free(r.out), free(r.err);
}

/* A gzip-compressed file: the first progress call is the decompression's, and the
 * message says so ("interrupted while decompressing PATH (at byte 0 of SIZE)", SIZE the
 * compressed file's). */
Test(cli_interrupt, sigint_while_decompressing_names_the_phase) {
    write_ratings("data.tsv", 900, 0);
    char *plain = cf_test_path(dir, "data.tsv"), *gz = cf_test_path(dir, "data.gz");
    cr_assert_eq(cf_test_gzip_file(plain, gz, 2), 0);
    const char *args[] = {"train", "data.gz", "--iters", "1", "--model", "out.cfm", NULL};
    result r = run("raise", args);
    char want[512];
    snprintf(want, sizeof want, "cufactor: interrupted while decompressing data.gz (at byte 0 of %lld)\n",
             size_of("data.gz"));
    cr_assert_eq(r.code, 130, "exit %d, stderr: %s", r.code, r.err);
    size_t le = strlen(r.err), lw = strlen(want);
    cr_assert(le >= lw && strcmp(r.err + le - lw, want) == 0, "stderr does not end with\n%s---\n%s", want, r.err);
    cr_assert(!exists("out.cfm"));
    free(r.out), free(r.err), free(plain), free(gz);
}

/* A signal from outside (kill) while the read waits in its first progress call. */
static void signal_from_outside(int sig) {
    write_ratings("data.tsv", 900, 0);
    const char *args[] = {"train", "data.tsv", "--iters", "1", "--model", "out.cfm", NULL};
    child c = start("wait", args);
    int seen = 0;
    for (int t = 0; t < 60000 && !seen; t++) {
        char *e = cf_test_read(c.err_path, NULL);
        seen = e && strstr(e, "test hook: waiting for a signal\n") != NULL;
        free(e);
        if (!seen) usleep(1000);
    }
    if (!seen) kill(c.pid, SIGKILL);
    cr_assert(seen, "the read did not reach its first progress call within 60 s");
    cr_assert_eq(kill(c.pid, sig), 0);
    result r = finish(&c);
    assert_interrupted(&r, "data.tsv", sig == SIGINT ? "SIGINT" : "SIGTERM");
    free(r.out), free(r.err);
}

Test(cli_interrupt, sigint_from_outside_during_the_read) { signal_from_outside(SIGINT); }
Test(cli_interrupt, sigterm_from_outside_during_the_read) { signal_from_outside(SIGTERM); }

/* 1 when process pid has a handler for SIGTERM (SigCgt) and sleeps (state S): the read
 * has begun and is blocked in open() or read(). */
static int blocked_with_handler(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int sleeping = 0, handled = 0;
    while (fgets(buf, sizeof buf, f)) {
        if (strncmp(buf, "State:", 6) == 0) sleeping = strchr(buf, 'S') != NULL;
        if (strncmp(buf, "SigCgt:", 7) == 0) {
            unsigned long long mask = strtoull(buf + 7, NULL, 16);
            handled = (mask >> (SIGTERM - 1)) & 1;
        }
    }
    fclose(f);
    return sleeping && handled;
}

/* A signal while the read is blocked in the kernel, where no progress call comes: on
 * open() of a FIFO that has no writer, or in read() of a FIFO whose writer sends nothing
 * more (issue 17 item 8: SA_RESTART restarted both, and the signal was lost). */
static void signal_while_blocked(int sig, int with_writer) {
    write_ratings("data.tsv", 900, 0);
    const char *mk[] = {"train", "data.tsv", "--iters", "1", "--factors", "2", "--threads", "1", "--model", "m.cfm",
                        "--quiet", NULL};
    result r = run(NULL, mk);
    cr_assert_eq(r.code, 0, "%s", r.err);
    free(r.out), free(r.err);
    char *fifo = cf_test_path(dir, "fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int wfd = -1;
    if (with_writer) { /* O_RDWR does not block on a FIFO (Linux); send a few lines, keep it open */
        wfd = open(fifo, O_RDWR);
        cr_assert_geq(wfd, 0);
        cr_assert_eq(write(wfd, "u1\ti1\t4\n", 8), 8);
    }
    const char *args[] = {"eval", "m.cfm", "fifo", NULL};
    child c = start(NULL, args);
    int seen = 0;
    for (int t = 0; t < 60000 && !seen; t++) {
        seen = blocked_with_handler(c.pid);
        if (!seen) usleep(1000);
    }
    if (!seen) kill(c.pid, SIGKILL);
    cr_assert(seen, "eval did not block on the FIFO within 60 s");
    usleep(20000); /* state S with the handler: it is in open() / read(), or about to enter it */
    cr_assert_eq(kill(c.pid, sig), 0);
    result res = finish(&c);
    if (wfd >= 0) close(wfd);
    cr_assert_eq(res.code, 130, "exit %d: %s", res.code, res.err);
    char want[128];
    snprintf(want, sizeof want, "cufactor: interrupted while waiting for input from fifo (%d bytes received)\n",
             with_writer ? 8 : 0);
    cr_assert_str_eq(res.err, want);
    cr_assert_str_eq(res.out, "");
    free(res.out), free(res.err), free(fifo);
}

Test(cli_interrupt, sigterm_ends_an_open_blocked_on_a_fifo) { signal_while_blocked(SIGTERM, 0); }
Test(cli_interrupt, sigint_ends_a_read_blocked_on_a_slow_fifo) { signal_while_blocked(SIGINT, 1); }
