/*
 * interrupt.c — Ctrl-C (SIGINT) and SIGTERM during a training: the first one sets a
 * flag that the trainer polls at every iteration boundary and, on the CPU, once per row
 * batch inside an iteration (cf_train_options.stop): it abandons the partial iteration,
 * writes the checkpoint of the last completed one if one is configured and returns
 * CF_ERR_INTERRUPTED (exit code CLI_EXIT_INTERRUPTED). The handler is installed
 * with SA_RESETHAND, so a second signal of the same kind takes the default action and
 * ends the process at once (outputs are atomic: no torn file is left at any path).
 * The library installs no handler; only the CLI does: around cf_train_ex, and around
 * every read of a ratings file (util.c, cli_dataset_read*), whose progress callback
 * returns the flag so that the read cancels with CF_ERR_INTERRUPTED (exit 130 too). The
 * reads install it without SA_RESTART (cli_interrupt_install_io): an open() or read()
 * blocked on a FIFO or pipe then returns EINTR and the read stops too.
 */
#include "cli.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;
static const char *notice_msg; /* set before the handler is installed, read-only in it */
static size_t notice_len;
static struct sigaction old_int, old_term;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
    if (notice_msg) { /* write(2) is async-signal-safe, stdio is not */
        ssize_t r = write(STDERR_FILENO, notice_msg, notice_len);
        (void)r;
    }
}

static const volatile sig_atomic_t *install(const char *notice, int flags) {
    stop_flag = 0;
    notice_msg = notice;
    notice_len = notice ? strlen(notice) : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = flags;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    return &stop_flag;
}

/* Training: SA_RESTART, so that stdio writes of the progress lines are never cut by EINTR
 * (the trainer polls the flag). */
const volatile sig_atomic_t *cli_interrupt_install(const char *notice) {
    return install(notice, SA_RESETHAND | SA_RESTART);
}

/* Reads: without SA_RESTART, a blocking open() of a FIFO with no writer or a read() of a
 * slow pipe returns EINTR, and the reader asks the progress callback (phase "waiting"). */
const volatile sig_atomic_t *cli_interrupt_install_io(const char *notice) {
    return install(notice, SA_RESETHAND);
}

void cli_interrupt_restore(void) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}
