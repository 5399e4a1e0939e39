/* test_scripts.c — scripts/deps.sh with stand-ins for dpkg-query, id and apt-get first on
 * PATH (nothing is installed): when another apt holds the lock it waits and tries again
 * instead of failing (issue 17 item 15), gives up after CUFACTOR_APT_TRIES attempts with
 * a clear message, and stops at once on any other apt failure. */
#include <criterion/criterion.h>

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

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
