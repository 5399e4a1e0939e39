/*
 * test_cli_robust.c — the CLI where a user's paths and input go wrong (issue 17): output
 * targets that are not regular files, the same file for --model and --checkpoint, the
 * real reason an output directory is unusable, a resume that would train nothing,
 * predict's pair reader and the ids its messages print, eval --quiet, the hint printed
 * after an interrupted training, bench run outside the repository root.
 *
 * Each test runs the real binary (CF_CLI_PATH) in a fresh temporary directory.
 */
#include <criterion/criterion.h>

#include "cufactor.h"
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

CF_TEST_SUITE_WITH_TMPDIR(cli_robust, 120);

typedef cf_test_run run_result;
static void run_free(run_result *r) { cf_test_run_free(r); }
/* Runs `cufactor ARGS...` (NULL-terminated) in dir (tests/helpers.h cf_test_cli). */
#define cli(...) cf_test_cli(dir, __VA_ARGS__)

static int count(const char *part) { return cf_test_count_entries(dir, part); }

static void gen_small(void) {
    run_result r = cli("gen", "--users", "60", "--items", "40", "--ratings", "900", "--rank", "2", "--noise", "0.3",
                       "--seed", "3", "--out", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "gen: %s", r.err);
    run_free(&r);
}

static void train_model(void) {
    gen_small();
    run_result r = cli("train", "data.tsv", "--factors", "2", "--iters", "2", "--threads", "1", "--model", "m.cfm",
                       "--quiet", NULL);
    cr_assert_eq(r.code, 0, "train: %s", r.err);
    run_free(&r);
}

/* ------------------------------------------------------------------ item 10 */

Test(cli_robust, model_and_checkpoint_on_the_same_file_is_refused) {
    gen_small();
    run_result r = cli("train", "data.tsv", "--iters", "2", "--checkpoint", "x.cfm", "--model", "x.cfm", NULL);
    cr_assert_eq(r.code, 2, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "--model x.cfm and the checkpoint x.cfm are the same file"), "%s", r.err);
    run_free(&r);
    /* spelled differently: ./x.cfm and x.cfm, or through a symbolic link */
    r = cli("train", "data.tsv", "--iters", "2", "--checkpoint", "./x.cfm", "--model", "x.cfm", NULL);
    cr_assert_eq(r.code, 2, "%d: %s", r.code, r.err);
    run_free(&r);
    char *target = cf_test_write(dir, "real.cfc", "old", 3), *link = cf_test_path(dir, "link.cfc");
    cr_assert_eq(symlink("real.cfc", link), 0);
    r = cli("train", "data.tsv", "--iters", "2", "--checkpoint", "real.cfc", "--model", "link.cfc", NULL);
    cr_assert_eq(r.code, 2, "%d: %s", r.code, r.err);
    run_free(&r);
    cr_assert_eq(count("x.cfm"), 0);
    /* a resume whose checkpoint would be overwritten by --model */
    r = cli("train", "data.tsv", "--factors", "2", "--iters", "2", "--checkpoint", "ck.cfc", "--checkpoint-every", "1",
            "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    r = cli("train", "data.tsv", "--resume", "ck.cfc", "--iters", "4", "--model", "ck.cfc", NULL);
    cr_assert_eq(r.code, 2, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "(from --resume)"), "%s", r.err);
    run_free(&r);
    free(target), free(link);
}

/* ------------------------------------------------------------------ item 11 */

Test(cli_robust, output_under_a_regular_file_says_not_a_directory) {
    gen_small();
    char *f = cf_test_write(dir, "regfile", "x", 1);
    run_result r = cli("train", "data.tsv", "--iters", "1", "--model", "regfile/m.cfm", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "Not a directory"), "%s", r.err);
    cr_assert_null(strstr(r.err, "Permission denied"), "%s", r.err);
    run_free(&r);
    r = cli("gen", "--users", "5", "--items", "5", "--ratings", "10", "--rank", "1", "--noise", "0.1", "--out",
            "missing/r.tsv", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "No such file or directory"), "%s", r.err);
    run_free(&r);
    free(f);
}

/* ------------------------------------------------------------------ item 2 */

Test(cli_robust, resume_with_iters_at_or_below_the_checkpoint_is_refused) {
    gen_small();
    run_result r = cli("train", "data.tsv", "--factors", "2", "--iters", "3", "--checkpoint", "ck.cfc",
                       "--checkpoint-every", "2", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    run_free(&r);
    cf_checkpoint_info info;
    cf_error e;
    char *ck = cf_test_path(dir, "ck.cfc");
    cr_assert_eq(cf_checkpoint_info_get(ck, &info, &e), CF_OK, "%s", e.msg);
    cr_assert_eq(info.iter, 2);
    const char *iters[] = {"1", "2"};
    for (int k = 0; k < 2; k++) {
        r = cli("train", "data.tsv", "--resume", "ck.cfc", "--iters", iters[k], "--model", "m.cfm", NULL);
        cr_assert_eq(r.code, 2, "--iters %s: %d: %s", iters[k], r.code, r.err);
        cr_assert(strstr(r.err, "the checkpoint is at iteration 2") && strstr(r.err, "leaves nothing to train"), "%s",
                  r.err);
        cr_assert_eq(count("m.cfm"), 0, "a model was saved");
        run_free(&r);
    }
    r = cli("train", "data.tsv", "--resume", "ck.cfc", "--iters", "3", "--model", "m.cfm", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "iterations  3"), "%s", r.out);
    run_free(&r);
    free(ck);
}

/* ------------------------------------------------------------------ item 7 */

Test(cli_robust, outputs_onto_a_fifo_are_refused_and_it_stays_a_fifo) {
    train_model();
    char *fifo = cf_test_path(dir, "fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
    run_result r = cli("train", "data.tsv", "--iters", "1", "--model", "fifo", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "--model fifo: is not a regular file (a FIFO)"), "%s", r.err);
    run_free(&r);
    r = cli("gen", "--users", "5", "--items", "5", "--ratings", "10", "--rank", "1", "--noise", "0.1", "--out", "fifo",
            NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "fifo"), "%s", r.err);
    run_free(&r);
    char *pairs = cf_test_write(dir, "pairs.tsv", "u1\ti1\n", (size_t)-1);
    (void)pairs;
    r = cli("predict", "m.cfm", "data.tsv", "--out", "fifo", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "fifo: is a FIFO, not a regular file: refusing to replace it"), "%s", r.err);
    run_free(&r);
    /* a device node: refused for what it is, not for its directory (/dev is not writable
     * here; as root the rename would have replaced it) */
    r = cli("train", "data.tsv", "--iters", "1", "--model", "/dev/null", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "--model /dev/null: is not a regular file (a character device)"), "%s", r.err);
    run_free(&r);
    r = cli("predict", "m.cfm", "data.tsv", "--out", "/dev/null", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "/dev/null: is a character device, not a regular file"), "%s", r.err);
    run_free(&r);
    struct stat st;
    cr_assert_eq(stat("/dev/null", &st), 0);
    cr_assert(S_ISCHR(st.st_mode));
    cr_assert_eq(lstat(fifo, &st), 0);
    cr_assert(S_ISFIFO(st.st_mode), "the FIFO was replaced");
    cr_assert_eq(count(".tmp"), 0);
    free(fifo), free(pairs);
}

Test(cli_robust, a_symlinked_output_is_written_through_to_its_target) {
    train_model();
    cr_assert_eq(mkdir(cf_test_path(dir, "store"), 0755), 0);
    char *target = cf_test_write(dir, "store/target.tsv", "old\n", (size_t)-1);
    char *link = cf_test_path(dir, "out.tsv");
    cr_assert_eq(symlink("store/target.tsv", link), 0);
    run_result r = cli("predict", "m.cfm", "data.tsv", "--out", "out.tsv", NULL);
    cr_assert_eq(r.code, 0, "%d: %s", r.code, r.err);
    run_free(&r);
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link was replaced by a regular file");
    char *text = cf_test_read(target, NULL);
    cr_assert(text && strncmp(text, "old", 3) != 0 && strchr(text, '\t'), "target not rewritten: %s", text);
    free(text);
    /* a dangling link is refused before any work */
    char *dangling = cf_test_path(dir, "dangling.cfm");
    cr_assert_eq(symlink("nowhere/x.cfm", dangling), 0);
    r = cli("train", "data.tsv", "--iters", "1", "--model", "dangling.cfm", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "symbolic link"), "%s", r.err);
    run_free(&r);
    cr_assert_eq(lstat(dangling, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    free(target), free(link), free(dangling);
}

/* ------------------------------------------------------------------ item 16 */

Test(cli_robust, eval_quiet_prints_nothing_to_stderr) {
    train_model();
    run_result r = cli("eval", "m.cfm", "data.tsv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "read data.tsv: "), "%s", r.err);
    run_free(&r);
    r = cli("eval", "m.cfm", "data.tsv", "--quiet", NULL);
    cr_assert_eq(r.code, 0, "%d: %s", r.code, r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert(strstr(r.out, "RMSE    "), "%s", r.out);
    run_free(&r);
    /* errors still show */
    r = cli("eval", "m.cfm", "missing.tsv", "--quiet", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "missing.tsv"), "%s", r.err);
    run_free(&r);
}

Test(cli_robust, a_directory_given_with_a_trailing_slash_gives_single_slashes) {
    run_result r = cli("demo", "--keep", "out/", "--threads", "1", NULL);
    cr_assert_eq(r.code, 0, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.out, "out/ratings.tsv"), "%s", r.out);
    cr_assert_null(strstr(r.out, "//"), "%s", r.out);
    cr_assert_null(strstr(r.err, "//"), "%s", r.err);
    run_free(&r);
    r = cli("export", "out/model.cfm", "--npy", "exp/", NULL);
    cr_assert_eq(r.code, 0, "%d: %s", r.code, r.err);
    cr_assert_null(strstr(r.out, "//"), "%s", r.out);
    cr_assert_null(strstr(r.err, "//"), "%s", r.err);
    run_free(&r);
}

/* `bench run` started outside the repository root finds bench/suites.conf of the tree
 * the program belongs to (it looked for a relative bench/suites.conf only). An unknown
 * suite makes it stop right after reading the file. */
Test(cli_robust, bench_run_outside_the_repository_root_finds_its_suites) {
    run_result r = cli("bench", "run", "--suite", "no-such-suite", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "bench/suites.conf has no suite 'no-such-suite'; it has: "), "%s", r.err);
    cr_assert(strstr(r.err, " quick"), "%s", r.err);
    run_free(&r);
    /* an explicit --suites is taken as given */
    r = cli("bench", "run", "--suites", "mine.conf", NULL);
    cr_assert_eq(r.code, 1, "%d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "mine.conf"), "%s", r.err);
    run_free(&r);
}

/* ------------------------------------------------------------------ items 12, 13 */

/* The first user and item of data.tsv (gen writes "user<TAB>item<TAB>rating"). */
static void first_pair(char *u, char *i, size_t cap) {
    char *p = cf_test_path(dir, "data.tsv");
    char *text = cf_test_read(p, NULL);
    cr_assert_not_null(text);
    char *t1 = strchr(text, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    cr_assert(t1 && t2);
    snprintf(u, cap, "%.*s", (int)(t1 - text), text);
    snprintf(i, cap, "%.*s", (int)(t2 - t1 - 1), t1 + 1);
    free(text), free(p);
}

/* predict reads PAIRS with the ratings reader's tokenizer and limits: a UTF-8 BOM is not
 * part of the first ID, a NUL inside a line is an error naming the line, a line longer
 * than max_line (65536) is an error, a quoted CSV field is unquoted. */
Test(cli_robust, predict_reads_pairs_like_the_ratings_reader) {
    train_model();
    char u[64], i[64], text[256];
    first_pair(u, i, sizeof u);
    snprintf(text, sizeof text, "\xEF\xBB\xBF%s\t%s\n", u, i);
    free(cf_test_write(dir, "bom.tsv", text, (size_t)-1));
    run_result r = cli("predict", "m.cfm", "bom.tsv", NULL);
    cr_assert_eq(r.code, 0, "a BOM made the first ID unknown: %s", r.err);
    char want[160];
    snprintf(want, sizeof want, "%s\t%s\t", u, i);
    cr_assert(strncmp(r.out, want, strlen(want)) == 0, "%s", r.out);
    run_free(&r);

    int n = snprintf(text, sizeof text, "%s\t%s\n%s\t%s", u, i, u, i);
    text[n++] = '\0';
    n += snprintf(text + n, sizeof text - (size_t)n, "x\n");
    free(cf_test_write(dir, "nul.tsv", text, (size_t)n));
    r = cli("predict", "m.cfm", "nul.tsv", "--out", "p.tsv", NULL);
    cr_assert_eq(r.code, 1, "a NUL inside a line was accepted: %d %s", r.code, r.out);
    cr_assert(strstr(r.err, "nul.tsv:2: NUL byte in a field: "), "%s", r.err);
    cr_assert(strstr(r.err, "\\x00x"), "the NUL is shown escaped: %s", r.err);
    cr_assert_eq(count("p.tsv"), 0);
    run_free(&r);

    size_t big = 70000;
    char *line = malloc(big + 64);
    memset(line, 'a', big);
    n = snprintf(line + big, 64, "\t%s\n", i);
    free(cf_test_write(dir, "long.tsv", line, big + (size_t)n));
    free(line);
    r = cli("predict", "m.cfm", "long.tsv", NULL);
    cr_assert_eq(r.code, 1, "%d", r.code);
    cr_assert(strstr(r.err, "long.tsv:1: line longer than max_line (65536 bytes, this one "), "%.300s", r.err);
    cr_assert_lt(strlen(r.err), 1000, "the line is printed whole (%zu bytes)", strlen(r.err));
    run_free(&r);

    snprintf(text, sizeof text, "userId,movieId,rating\n\"%s\",\"%s\",4\n", u, i);
    free(cf_test_write(dir, "quoted.csv", text, (size_t)-1));
    r = cli("predict", "m.cfm", "quoted.csv", NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strncmp(r.out, want, strlen(want)) == 0, "%s", r.out);
    run_free(&r);
}

/* An unknown ID in an error message is escaped and cut as the reader shows text: a
 * 60 kB ID does not reach stderr whole, and an escape sequence reaches it as \x1b. */
Test(cli_robust, unknown_ids_are_shown_escaped_and_cut) {
    train_model();
    size_t big = 60000;
    char *text = malloc(big + 16);
    memset(text, 'z', big);
    memcpy(text + big, "\tx\n", 4);
    free(cf_test_write(dir, "big.tsv", text, big + 3));
    free(text);
    /* --unknown error: by default an unknown ID is answered by the mean (issue 17 item 3) */
    run_result r = cli("predict", "m.cfm", "big.tsv", "--unknown", "error", NULL);
    cr_assert_eq(r.code, 1, "%d", r.code);
    cr_assert(strstr(r.err, "big.tsv:1: unknown user 'zzzz"), "%.200s", r.err);
    cr_assert(strstr(r.err, "...'"), "%.300s", r.err);
    cr_assert_lt(strlen(r.err), 400, "%zu bytes on stderr", strlen(r.err));
    run_free(&r);
    free(cf_test_write(dir, "esc.tsv", "\x1b[31mred\tx\n", (size_t)-1));
    r = cli("predict", "m.cfm", "esc.tsv", "--unknown", "error", NULL);
    cr_assert_eq(r.code, 1, "%d", r.code);
    cr_assert_null(strchr(r.err, '\x1b'), "an escape byte reached stderr: %s", r.err);
    cr_assert(strstr(r.err, "unknown user '\\x1b[31mred'"), "%s", r.err);
    run_free(&r);
    r = cli("recommend", "m.cfm", "--user", "\x1b]0;title\x07", NULL);
    cr_assert_eq(r.code, 1, "%d", r.code);
    cr_assert_null(strchr(r.err, '\x1b'), "%s", r.err);
    cr_assert_null(strchr(r.err, '\x07'), "%s", r.err);
    cr_assert(strstr(r.err, "unknown user ID '\\x1b]0;title\\x07'"), "%s", r.err);
    run_free(&r);
}

/* The library's writer itself (cf_model_save, through cf_afile): a FIFO is refused and
 * stays a FIFO; a symbolic link is written through to its target and stays a link. */
Test(cli_robust, model_save_refuses_a_fifo_and_writes_through_a_link) {
    train_model();
    char *mp = cf_test_path(dir, "m.cfm"), *fifo = cf_test_path(dir, "f.cfm"), *link = cf_test_path(dir, "l.cfm");
    char *target = cf_test_write(dir, "t.cfm", "old", 3);
    cf_model *m = NULL;
    cf_error err;
    cr_assert_eq(cf_model_load(mp, &m, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(cf_model_save(m, fifo, &err), CF_ERR_IO);
    cr_assert(strstr(err.msg, "f.cfm: is a FIFO, not a regular file: refusing to replace it"), "%s", err.msg);
    struct stat st;
    cr_assert_eq(lstat(fifo, &st), 0);
    cr_assert(S_ISFIFO(st.st_mode));
    cr_assert_eq(symlink("t.cfm", link), 0);
    cr_assert_eq(cf_model_save(m, link, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link was replaced");
    cf_model *back = NULL;
    cr_assert_eq(cf_model_load(target, &back, &err), CF_OK, "the target was not rewritten: %s", err.msg);
    cf_model_destroy(&back);
    cr_assert_eq(count(".tmp"), 0);
    cf_model_destroy(&m);
    free(mp), free(fifo), free(link), free(target);
}
