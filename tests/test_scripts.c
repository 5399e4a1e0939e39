/* test_scripts.c — scripts/deps.sh with stand-ins for dpkg-query, id and apt-get first on
 * PATH (nothing is installed): when another apt holds the lock it waits and tries again
 * instead of failing (issue 17 item 15), gives up after CUFACTOR_APT_TRIES attempts with
 * a clear message, and stops at once on any other apt failure.
 *
 * bench/gpu_session.sh without a GPU: its step table and bench/GPU_SESSION.md's budget
 * tables agree; the dry runs of the three calls (`all`, `extra`, `profile`) list every step of the call
 * and leave at most the 8 files the device tool brings back; `rerun` makes a step's
 * inputs first and refuses unknown steps; the budget skips the steps it cannot give their
 * minimum; the end-to-end steps of issue 16 really run with the CPU build on a small file
 * (--device cpu), recording wall and phase seconds; `failed` turns a summary into the
 * rerun command. */
#include <criterion/criterion.h>

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CF_TEST_SUITE_WITH_TMPDIR(scripts, 120);

/* dir/bin with: dpkg-query (every package missing), id (root), apt-get that appends its
 * arguments to dir/apt.log and fails with a lock message while dir/locks (a count) is
 * above 0, or with another error when dir/broken exists. */
static void fake_tools(int locks, int broken) {
    char *bin = cf_test_path(dir, "bin");
    cr_assert_eq(mkdir(bin, 0755), 0);
    char text[1024];
    const char *dpkg = "#!/bin/sh\nexit 1\n", *id = "#!/bin/sh\necho 0\n";
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "echo \"$*\" >> '%s/apt.log'\n"
             "if [ -e '%s/broken' ]; then echo 'E: Unable to locate package cmake' >&2; exit 100; fi\n"
             "n=$(cat '%s/locks')\n"
             "if [ \"$n\" -gt 0 ]; then echo $((n - 1)) > '%s/locks';\n"
             "  echo 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 42 (apt-get)' >&2;"
             " exit 100; fi\n"
             "exit 0\n",
             dir, dir, dir, dir);
    const char *names[] = {"dpkg-query", "id", "apt-get"}, *bodies[] = {dpkg, id, text};
    for (int k = 0; k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "bin/%s", names[k]);
        char *p = cf_test_write(dir, name, bodies[k], (size_t)-1);
        cr_assert_eq(chmod(p, 0755), 0);
        free(p);
    }
    snprintf(text, sizeof text, "%d\n", locks);
    free(cf_test_write(dir, "locks", text, (size_t)-1));
    if (broken) free(cf_test_write(dir, "broken", "", 0));
    free(bin);
}

static int run_deps(char **out, char **err) {
    char path[4096];
    snprintf(path, sizeof path, "PATH=%s/bin:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    const char *argv[] = {"/bin/bash", CF_SOURCE_DIR "/scripts/deps.sh", NULL};
    const char *env[] = {path, "CUFACTOR_APT_TRIES=4", "CUFACTOR_APT_WAIT=0", NULL};
    int pid = cf_test_start(dir, argv, env);
    cr_assert_neq(pid, -1);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char *o = cf_test_path(dir, "stdout.txt"), *e = cf_test_path(dir, "stderr.txt");
    *out = cf_test_read(o, NULL), *err = cf_test_read(e, NULL);
    free(o), free(e);
    cr_assert(*out && *err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int apt_calls(void) {
    char *p = cf_test_path(dir, "apt.log");
    char *log = cf_test_read(p, NULL);
    free(p);
    int n = 0;
    for (char *s = log; s && *s; s++) n += *s == '\n';
    free(log);
    return n;
}

Test(scripts, deps_waits_while_another_apt_holds_the_lock) {
    fake_tools(2, 0);
    char *out, *err;
    int code = run_deps(&out, &err);
    cr_assert_eq(code, 0, "exit %d: %s", code, err);
    cr_assert(strstr(err, "another apt/dpkg holds the lock; waiting 0 s (attempt 1 of 4)"), "%s", err);
    cr_assert(strstr(err, "(attempt 2 of 4)"), "%s", err);
    cr_assert_eq(apt_calls(), 4, "update twice locked, then update and install");
    free(out), free(err);
}

Test(scripts, deps_gives_up_on_a_lock_after_the_tries) {
    fake_tools(100, 0);
    char *out, *err;
    int code = run_deps(&out, &err);
    cr_assert_eq(code, 100, "exit %d: %s", code, err);
    cr_assert(strstr(err, "still holds the lock after 4 attempts"), "%s", err);
    cr_assert_eq(apt_calls(), 4);
    free(out), free(err);
}

Test(scripts, deps_stops_at_once_on_another_failure) {
    fake_tools(0, 1);
    char *out, *err;
    int code = run_deps(&out, &err);
    cr_assert_eq(code, 100, "exit %d: %s", code, err);
    cr_assert(strstr(err, "Unable to locate package"), "%s", err);
    cr_assert_null(strstr(err, "waiting"), "%s", err);
    cr_assert_eq(apt_calls(), 1);
    free(out), free(err);
}

/* ---------------------------------------------------------------- bench/gpu_session.sh */

#define GS CF_SOURCE_DIR "/bench/gpu_session.sh"

/* Runs `bash -c cmd` in dir with TMPDIR=dir, OUT=dir/out and `env` (NULL-terminated,
 * may be NULL); returns the exit status, *out / *err the output (malloc'ed). */
static int sh(const char *cmd, const char *const *env, char **out, char **err) {
    char outdir[4096];
    snprintf(outdir, sizeof outdir, "OUT=%s/out", dir);
    const char *e[16];
    int n = 0;
    e[n++] = outdir;
    for (; env && *env && n < 15; env++) e[n++] = *env;
    e[n] = NULL;
    const char *argv[] = {"/bin/bash", "-c", cmd, NULL};
    int pid = cf_test_start(dir, argv, e);
    cr_assert_neq(pid, -1);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    char *o = cf_test_path(dir, "stdout.txt"), *r = cf_test_path(dir, "stderr.txt");
    *out = cf_test_read(o, NULL), *err = cf_test_read(r, NULL);
    free(o), free(r);
    cr_assert(*out && *err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The steps of `plan`: name, call, limit, min, estimate; returns how many (the sum lines
 * into sums[0..2]: all, extra, profile). */
#define GS_CALLS 3
static const char *const gs_calls[GS_CALLS] = {"all", "extra", "profile"};
typedef struct gs_row {
    char name[64], call[16];
    int limit, min, est;
} gs_row;

static int gs_plan(gs_row *rows, int cap, gs_row *sums) {
    char *out, *err;
    cr_assert_eq(sh(GS " plan", NULL, &out, &err), 0, "%s", err);
    int n = 0, ns = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        gs_row r;
        if (sscanf(line, "%63s %15s %d %d %d", r.name, r.call, &r.limit, &r.min, &r.est) == 5) {
            cr_assert_lt(n, cap);
            rows[n++] = r;
        } else if (sscanf(line, "sum %15s %d %d", r.call, &r.limit, &r.est) == 3) {
            cr_assert_lt(ns, GS_CALLS);
            cr_assert_str_eq(r.call, gs_calls[ns]);
            sums[ns++] = r;
        }
    }
    cr_assert_eq(ns, GS_CALLS, "not one sum line per call in: %s", out);
    free(out), free(err);
    return n;
}

/* The row of step `name` in GPU_SESSION.md: "| # | `name` | what | limit | min | est | ..." */
static int md_row(const char *md, const char *name, int *limit, int *min, int *est) {
    char key[96];
    snprintf(key, sizeof key, " | `%.63s` | ", name);
    const char *at = strstr(md, key);
    if (!at) return 0;
    cr_assert_null(strstr(at + 1, key), "step %s has two rows in GPU_SESSION.md", name);
    /* after the "what" column: the three numbers */
    const char *p = at + strlen(key);
    const char *eol = strchr(p, '\n');
    p = strstr(p, " | ");
    cr_assert(p && p < eol, "row of %s", name);
    return sscanf(p, " | %d | %d | %d |", limit, min, est) == 3;
}

Test(scripts, gpu_session_plan_and_GPU_SESSION_md_agree) {
    gs_row rows[64], sums[GS_CALLS];
    int n = gs_plan(rows, 64, sums);
    cr_assert_gt(n, 20);
    char *md = cf_test_read(CF_SOURCE_DIR "/bench/GPU_SESSION.md", NULL);
    cr_assert_not_null(md);
    int lim[GS_CALLS] = {0}, est[GS_CALLS] = {0}, last_call = 0;
    for (int k = 0; k < n; k++) {
        int l, m, e;
        cr_assert(md_row(md, rows[k].name, &l, &m, &e), "step %s: no row with limit, min, estimate in GPU_SESSION.md",
                  rows[k].name);
        cr_assert(l == rows[k].limit && m == rows[k].min && e == rows[k].est,
                  "step %s: GPU_SESSION.md says %d/%d/%d, the script %d/%d/%d", rows[k].name, l, m, e, rows[k].limit,
                  rows[k].min, rows[k].est);
        int c = 0;
        while (c < GS_CALLS && strcmp(rows[k].call, gs_calls[c]) != 0) c++;
        cr_assert_lt(c, GS_CALLS, "step %s: call %s", rows[k].name, rows[k].call);
        cr_assert_geq(c, last_call, "step %s of %s after %s's steps", rows[k].name, rows[k].call, gs_calls[last_call]);
        last_call = c;
        lim[c] += rows[k].limit, est[c] += rows[k].est;
        cr_assert_leq(rows[k].min, rows[k].limit, "%s", rows[k].name);
    }
    /* the sums, in the script and in both tables ("| | **sum** | | L | | **E** |") */
    const char *at = md;
    for (int c = 0; c < GS_CALLS; c++) {
        cr_assert_eq(sums[c].limit, lim[c]);
        cr_assert_eq(sums[c].est, est[c]);
        at = strstr(at, "| | **sum** | |");
        cr_assert_not_null(at, "sum row %d of GPU_SESSION.md", c);
        int l, e;
        cr_assert_eq(sscanf(at, "| | **sum** | | %d | | **%d** |", &l, &e), 2);
        cr_assert(l == lim[c] && e == est[c], "GPU_SESSION.md's sum row %d: %d/%d, the steps %d/%d", c, l, e, lim[c], est[c]);
        at++;
    }
    /* within the budgets, with room: all 320 s, extra 300 s, profile 120 s */
    cr_assert_leq(est[0], 320);
    cr_assert_leq(est[1], 300 - 40, "extra: %d s estimated leaves under 40 s of slack", est[1]);
    cr_assert_leq(est[2], 120 - 40, "profile: %d s estimated leaves under 40 s of slack", est[2]);
    free(md);
}

/* A directory of stand-ins for the packed programs (the dry run never runs them). */
static char *fake_bin(void) {
    char *bin = cf_test_path(dir, "fakebin");
    cr_assert_eq(mkdir(bin, 0755), 0);
    return bin;
}

/* Is `name` a line of the summary with status `status`? (a line: name, spaces, status) */
static int has_status(const char *summary, const char *name, const char *status) {
    size_t ln = strlen(name);
    for (const char *p = summary; (p = strstr(p, name)); p++) {
        if ((p != summary && p[-1] != '\n') || p[ln] != ' ') continue;
        const char *q = p + ln;
        while (*q == ' ') q++;
        if (strncmp(q, status, strlen(status)) == 0 && q[strlen(status)] == ' ') return 1;
    }
    return 0;
}

static char *read_out(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "out/%s", name);
    char *p = cf_test_path(dir, rel);
    char *t = cf_test_read(p, NULL);
    free(p);
    return t;
}

Test(scripts, gpu_session_dry_runs_of_the_three_calls) {
    gs_row rows[64], sums[GS_CALLS];
    int n = gs_plan(rows, 64, sums);
    char *bin = fake_bin();
    char binenv[4200];
    snprintf(binenv, sizeof binenv, "CF_GPU_SESSION_BIN=%s", bin);
    const char *env[] = {"CF_GPU_SESSION_DRYRUN=1", binenv, NULL};
    const char *const *calls = gs_calls;
    for (int c = 0; c < GS_CALLS; c++) {
        char cmd[256], *out, *err;
        snprintf(cmd, sizeof cmd, "rm -rf out && %s %s", GS, calls[c]);
        cr_assert_eq(sh(cmd, env, &out, &err), 0, "%s: %s%s", calls[c], out, err);
        /* two files in $OUT: the device tool brings back at most 8 */
        char *od = cf_test_path(dir, "out");
        cr_assert_eq(cf_test_count_entries(od, ""), 2, "%s", calls[c]);
        free(od);
        char *summary = read_out("summary.txt");
        cr_assert_not_null(summary);
        const char *last = summary;
        for (int k = 0; k < n; k++) {
            if (strcmp(rows[k].call, calls[c]) != 0) continue;
            cr_assert(has_status(summary, rows[k].name, "ok"), "%s: %s not ok in\n%s", calls[c], rows[k].name, summary);
            char key[80];
            snprintf(key, sizeof key, "\n%.63s ", rows[k].name);
            const char *at = strstr(last, key);
            cr_assert_not_null(at, "%s: %s out of the table's order in\n%s", calls[c], rows[k].name, summary);
            last = at;
        }
        char tail[32];
        snprintf(tail, sizeof tail, "\n%s: ", calls[c]);
        cr_assert(strstr(summary, tail), "%s", summary);
        free(summary), free(out), free(err);
        /* the logs, each starting with its command */
        snprintf(cmd, sizeof cmd, "rm -rf x && mkdir x && tar xzf out/results.tar.gz -C x && head -qn1 x/logs/*.log");
        cr_assert_eq(sh(cmd, NULL, &out, &err), 0, "%s", err);
        if (c == 0) {
            cr_assert(strstr(out, "test_gpu_als --verbose --jobs 16"), "%s", out);
            cr_assert(strstr(out, "verify-ml100k.tsv verify-sgd-hogwild-ml100k"), "%s", out);
            cr_assert(strstr(out, "--factors 32 --iters 20 --algo sgd --schedule hogwild --lr 0.01"), "%s", out);
            cr_assert(strstr(out, "test_gpu_sgd:gpu_eval/K128_fp16_bias"), "%s", out);
        } else if (c == 2) {
            cr_assert(strstr(out, "$ bash -c SCRIPT _ ") && strstr(out, "out-profile"), "%s", out); /* ncu: device only */
        } else {
            cr_assert(strstr(out, "cufactor train") && strstr(out, "nf.tsv --device gpu --algo als --factors 100 --iters 10 --json"),
                      "%s", out);
            cr_assert(strstr(out, "nf.cfd --device gpu --algo als --factors 100 --iters 10 --json"), "%s", out);
            cr_assert(strstr(out, "gen --users 480189 --items 17770 --ratings 100000000"), "%s", out);
            cr_assert(strstr(out, "--factors 100 --iters 3 --als-gram tc"), "%s", out);
            cr_assert(strstr(out, "--factors 128 --iters 3 --als-gram tc --als-solver fused"), "%s", out);
            cr_assert(strstr(out, "--iters 3 --no-cpu --als-gram tc --commit"), "%s", out);
            cr_assert(strstr(out, "test_gpu_als:gpu_als_tc/gram_K100"), "%s", out);
        }
        free(out), free(err);
    }
    free(bin);
}

Test(scripts, gpu_session_rerun_makes_inputs_first_and_refuses_unknown_steps) {
    char *bin = fake_bin();
    char binenv[4200];
    snprintf(binenv, sizeof binenv, "CF_GPU_SESSION_BIN=%s", bin);
    const char *env[] = {"CF_GPU_SESSION_DRYRUN=1", binenv, NULL};
    char *out, *err;
    cr_assert_eq(sh(GS " rerun e2e-train-bin verify-als-k100", env, &out, &err), 0, "%s%s", out, err);
    free(out), free(err);
    char *summary = read_out("summary.txt");
    /* the table's order, each input made first: verify-gen, verify-als-k100, e2e-gen,
     * e2e-convert, e2e-train-bin, and nothing else */
    const char *order[] = {"verify-gen", "verify-als-k100", "e2e-gen", "e2e-convert", "e2e-train-bin"};
    const char *at = summary;
    for (int k = 0; k < 5; k++) {
        char key[80];
        snprintf(key, sizeof key, "\n%s ", order[k]);
        at = strstr(at, key);
        cr_assert_not_null(at, "%s missing or out of order in\n%s", order[k], summary);
    }
    int lines = 0;
    for (const char *p = summary; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 1 + 5 + 1, "%s", summary);
    free(summary);
    struct {
        const char *cmd, *msg;
    } bad[] = {
        {GS " rerun e2e-gen nosuch", "no step 'nosuch'"},
        {GS " rerun", "rerun needs the STEPs"},
        {GS " all e2e-gen", "step 'e2e-gen' belongs to 'extra', not 'all' (use rerun)"},
    };
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(sh(bad[k].cmd, env, &out, &err), 2, "%s", bad[k].cmd);
        cr_assert(strstr(err, bad[k].msg), "%s: %s", bad[k].cmd, err);
        free(out), free(err);
    }
    free(bin);
}

Test(scripts, gpu_session_budget_skips_steps_below_their_minimum) {
    gs_row rows[64], sums[GS_CALLS];
    int n = gs_plan(rows, 64, sums);
    char *bin = fake_bin();
    char binenv[4200];
    snprintf(binenv, sizeof binenv, "CF_GPU_SESSION_BIN=%s", bin);
    const char *env[] = {"CF_GPU_SESSION_DRYRUN=1", "CF_GPU_SESSION_BUDGET=20", binenv, NULL};
    char *out, *err;
    cr_assert_eq(sh(GS " all", env, &out, &err), 0, "%s%s", out, err);
    free(out), free(err);
    char *summary = read_out("summary.txt");
    /* a dry run takes a few seconds in all: the steps of minimum <= 8 s keep theirs, those
     * of minimum > 20 s never get it */
    int skipped = 0, ran = 0;
    for (int k = 0; k < n; k++) {
        if (strcmp(rows[k].call, "all") != 0) continue;
        if (rows[k].min > 20) {
            skipped++;
            cr_assert(has_status(summary, rows[k].name, "skipped"), "%s should be skipped in\n%s", rows[k].name, summary);
        } else if (rows[k].min <= 8) {
            ran++;
            cr_assert(has_status(summary, rows[k].name, "ok"), "%s should have run in\n%s", rows[k].name, summary);
        }
    }
    cr_assert_gt(skipped, 3);
    cr_assert_gt(ran, 5);
    cr_assert(strstr(summary, "of the budget left, needs 60"), "%s", summary);
    free(summary);
    free(bin);
}

/* Issue 16's end-to-end steps for real, with this build's cufactor (and bench_load) on
 * the CPU and a small Netflix-shaped file. */
Test(scripts, gpu_session_end_to_end_steps_run_on_the_cpu, .timeout = 240) {
    char *bin = fake_bin();
    char link[4300];
    snprintf(link, sizeof link, "%s/cufactor", bin);
    cr_assert_eq(symlink(CF_CLI_PATH, link), 0);
    const char *cmd = GS " rerun e2e-train-text e2e-train-bin";
#ifdef CF_BENCH_LOAD_PATH
    snprintf(link, sizeof link, "%s/bench_load", bin);
    cr_assert_eq(symlink(CF_BENCH_LOAD_PATH, link), 0);
    cmd = GS " rerun e2e-train-text e2e-train-bin bench_load-nf";
#endif
    char binenv[4200];
    snprintf(binenv, sizeof binenv, "CF_GPU_SESSION_BIN=%s", bin);
    const char *env[] = {binenv, "CF_GPU_SESSION_DEVICE=cpu", "CF_GPU_SESSION_NF=3001 1201 120000", NULL};
    char *out, *err;
    int code = sh(cmd, env, &out, &err);
    char *summary = read_out("summary.txt");
    cr_assert_eq(code, 0, "exit %d: %s%s\n%s", code, out, err, summary ? summary : "");
    free(out), free(err);
    const char *steps[] = {"e2e-gen", "e2e-train-text", "e2e-convert", "e2e-train-bin"};
    for (int k = 0; k < 4; k++) cr_assert(has_status(summary, steps[k], "ok"), "%s:\n%s", steps[k], summary);
    free(summary);
    cr_assert_eq(sh("rm -rf x && mkdir x && tar xzf out/results.tar.gz -C x && cat x/e2e.jsonl", NULL, &out, &err), 0,
                 "%s", err);
    /* one line per run: wall seconds, the file, train's JSON with the phase seconds */
    const char *text = strstr(out, "{\"step\":\"e2e-train-text\",\"exit\":0,\"wall_s\":");
    const char *bin_run = strstr(out, "{\"step\":\"e2e-train-bin\",\"exit\":0,\"wall_s\":");
    cr_assert(text && bin_run && strstr(out, "{\"step\":\"e2e-convert\",\"exit\":0,\"wall_s\":"), "%s", out);
    cr_assert(strstr(text, "nf.tsv\",\"bytes\":") && strstr(bin_run, "nf.cfd\",\"bytes\":"), "%s", out);
    double wall = -1;
    cr_assert_eq(sscanf(text + strlen("{\"step\":\"e2e-train-text\",\"exit\":0,\"wall_s\":"), "%lf", &wall), 1);
    cr_assert_gt(wall, 0);
    const char *names[6] = {"read", "prepare", "upload", "iterations", "evaluation", "save"};
    for (const char *run = text; run; run = run == text ? bin_run : NULL) {
        const char *ps = strstr(run, "\"phase_seconds\":{");
        cr_assert_not_null(ps, "%s", run);
        for (int k = 0; k < 6; k++) {
            char key[32];
            snprintf(key, sizeof key, "\"%s\":", names[k]);
            cr_assert_not_null(strstr(ps, key), "%s in %s", names[k], run);
        }
        cr_assert(strstr(run, "\"iters\":10,") && strstr(run, "\"factors\":100,"), "%s", run);
    }
    /* the same ratings from the text and from its binary copy: the same CPU model */
    const char *ra = strstr(text, "\"test_rmse\":"), *rb = strstr(bin_run, "\"test_rmse\":");
    cr_assert(ra && rb && strncmp(ra, rb, strcspn(ra, ",")) == 0, "%s", out);
    free(out), free(err);
#ifdef CF_BENCH_LOAD_PATH
    cr_assert_eq(sh("cat x/bench_load.jsonl", NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "\"read_nt_mbs\":") && strstr(out, "\"save_vs_raw\":") && strstr(out, "\"runs\":3,"), "%s", out);
    free(out), free(err);
#endif
    /* a second call on the same machine reuses the file */
    cr_assert_eq(sh(GS " rerun e2e-gen", env, &out, &err), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(sh("rm -rf x && mkdir x && tar xzf out/results.tar.gz -C x && cat x/logs/e2e-gen.log", NULL, &out, &err), 0);
    cr_assert(strstr(out, "made earlier in this machine by the same command: reused"), "%s", out);
    free(out), free(err);
    free(bin);
}

#if defined(CF_BENCH_PEER_PATH) && defined(CF_BENCH_SGD_PATH)
/* Issue 15's peer step for real with this build's bench_peer and bench_sgd on a small set and
 * a stand-in for cumf_sgd that checks its input files and writes a model in cuMF_SGD's layout
 * (1 × 1, K = 1: nearly every test rating unseen) and a log with its rate: the step's wiring,
 * from the export to the peer_cumf_sgd record; bench_sgd then says there is no GPU here. */
Test(scripts, gpu_session_peer_step_runs_with_a_stand_in_peer, .timeout = 120) {
    char *bin = fake_bin();
    char link[4300];
    snprintf(link, sizeof link, "%s/bench_peer", bin);
    cr_assert_eq(symlink(CF_BENCH_PEER_PATH, link), 0);
    snprintf(link, sizeof link, "%s/bench_sgd", bin);
    cr_assert_eq(symlink(CF_BENCH_SGD_PATH, link), 0);
    const char *peer = "#!/bin/bash\n"
                       "for a; do tr=$model; model=$a; done\n" /* the last two arguments */
                       "echo \"$*\" > \"$(dirname \"$model\")/args\"\n"
                       "for k in $(seq 0 15); do [ -s \"$tr$k\" ] || { echo \"file $tr$k open failed\"; exit 0; }; done\n"
                       "printf '\\x00\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x01\\x00\\x00\\x00"
                       "\\x00\\x00\\x40\\x40\\x00\\x00\\x80\\x3f\\x00\\x00\\x80\\x3f' > \"$model\"\n"
                       "echo update_per_sec:123.5\n";
    char *pp = cf_test_write(dir, "fakebin/cumf_sgd", peer, (size_t)-1);
    cr_assert_eq(chmod(pp, 0755), 0);
    free(pp);
    char binenv[4200], args[4400];
    snprintf(binenv, sizeof binenv, "CF_GPU_SESSION_BIN=%s", bin);
    snprintf(args, sizeof args, "CF_GPU_SESSION_PEER_ARGS=--users 300 --items 120 --ratings 6000 --cache %s/cache", dir);
    const char *env[] = {binenv, args, NULL};
    char *out, *err;
    int code = sh(GS " rerun peer-cumf-sgd", env, &out, &err);
    char *summary = read_out("summary.txt");
    cr_assert_eq(code, 0, "exit %d: %s%s\n%s", code, out, err, summary ? summary : "");
    cr_assert(has_status(summary, "peer-cumf-sgd", "ok"), "%s", summary);
    free(out), free(err), free(summary);
    cr_assert_eq(sh("rm -rf x && mkdir x && tar xzf out/results.tar.gz -C x && cat x/bench_sgd.jsonl x/logs/peer-cumf-sgd.log "
                    "cf-gpu-session/cumf/args",
                    NULL, &out, &err),
                 0, "%s", err);
    cr_assert(strstr(out, "{\"bench\":\"peer_cumf_sgd\"") && strstr(out, "\"device\":\"unknown\""), "%s", out);
    cr_assert(strstr(out, "\"factors\":1,\"iters\":10,\"updates_per_sec\":123.5,\"test_rmse\":"), "%s", out);
    cr_assert(strstr(out, "-g 0 -k 128 -l 0.05 -a 0.08 -b 0.3 -s 6864 -t 10 "), "%s", out);
    cr_assert(strstr(out, "bench_sgd: no usable GPU"), "%s", out);
    free(out), free(err);
    /* the 1.2 GB of input, the test part and the model are removed once read: only the log
     * (and the stand-in's args) left */
    cr_assert_eq(sh("ls cf-gpu-session/cumf", NULL, &out, &err), 0, "%s", err);
    cr_assert_str_eq(out, "args\nlog\n");
    free(out), free(err), free(bin);
}
#endif

Test(scripts, gpu_session_failed_prints_the_rerun_command) {
    char *s = cf_test_write(dir, "summary.txt",
                            "step                       status      exit wall s  limit  est s\n"
                            "env                        ok             0      1     15      3\n"
                            "test_gpu_sgd               FAILED         1      9     45      8\n"
                            "nightly-gpu                TIMEOUT      124    150    150     70\n"
                            "bench_sgd-blocks           skipped        -      0     12     35  only 12s left\n"
                            "all: 2026-12-05T00:00:00Z, 330 s in all (budget 320 s), commit abc\n",
                            (size_t)-1);
    char cmd[4300], *out, *err;
    snprintf(cmd, sizeof cmd, GS " failed %s", s);
    cr_assert_eq(sh(cmd, NULL, &out, &err), 0, "%s", err);
    cr_assert(strstr(out, "run(command=\"bench/gpu_session.sh rerun test_gpu_sgd nightly-gpu bench_sgd-blocks\", "
                          "carry=[\"build-gpu\"], timeout_s=325)"),
              "%s", out);
    free(out), free(err), free(s);
}
