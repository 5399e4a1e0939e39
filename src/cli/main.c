/*
 * main.c — the cufactor command-line program: global --help / --version and the
 * dispatch to subcommands. The subcommand list is CLI_COMMANDS in cli.h.
 *
 * Exit codes: 0 ok, 1 runtime or data error, 2 usage error, 130 interrupted while training
 * or while reading a ratings file
 * (SIGINT / SIGTERM; see interrupt.c).
 */
#include "args.h"
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

#define CLI_ENTRY(fn, name, summary) {name, summary, cmd_##fn},
static const cli_command commands[] = {CLI_COMMANDS(CLI_ENTRY)};
#undef CLI_ENTRY
static const int n_commands = (int)(sizeof commands / sizeof *commands);

static void print_usage(FILE *f) {
    fprintf(f, "usage: cufactor COMMAND [ARGS] [options]\n");
}

static void print_help(void) {
    print_usage(stdout);
    printf("\ncufactor %s — matrix factorization for explicit ratings: r̂ = μ + b_u + b_i + p_u·q_i\n",
           CF_VERSION_STRING);
    printf("\ncommands:\n");
    for (int k = 0; k < n_commands; k++) printf("  %-10s  %s\n", commands[k].name, commands[k].summary);
    printf("\nglobal options:\n");
    printf("  %-10s  %s\n", "--help", "show this help (cufactor COMMAND --help: the options of COMMAND)");
    printf("  %-10s  %s\n", "--version", "show the version and whether a GPU backend is usable");
    printf("  %-10s  %s\n", "help CMD", "the same as cufactor CMD --help");
    printf("\nexit codes: 0 ok, 1 runtime or data error, 2 usage error, 3 a benchmark regression (bench compare),\n            130 interrupted by Ctrl-C or SIGTERM (a training, or the read of a ratings file)\n");
    printf("start with:  cufactor demo\n");
}

static void print_version(void) {
    char why[256] = "";
    int gpu = cf_gpu_available(why, sizeof why);
    printf("cufactor %s\n", CF_VERSION_STRING);
    printf("GPU: %s\n", gpu ? "usable" : why[0] ? why : "not usable");
}

static const cli_command *find_command(const char *name) {
    for (int k = 0; k < n_commands; k++)
        if (strcmp(commands[k].name, name) == 0) return &commands[k];
    return NULL;
}

int main(int argc, char **argv) {
    /* Under a file-size limit (ulimit -f) a write past it fails with EFBIG, which every
     * writer reports and cleans up after, instead of the default SIGXFSZ killing the
     * process with a temporary file left behind. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        fprintf(stderr, "cufactor: missing COMMAND\n");
        print_usage(stderr);
        fprintf(stderr, "see cufactor --help\n");
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_help();
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        print_version();
        return CLI_EXIT_OK;
    }
    if (strcmp(name, "help") == 0) {
        /* "cufactor help CMD" is "cufactor CMD --help" */
        if (argc < 3) {
            print_help();
            return CLI_EXIT_OK;
        }
        const cli_command *c = find_command(argv[2]);
        if (c) {
            char help[] = "--help";
            char *args[] = {argv[2], help, NULL};
            return c->run(2, args);
        }
        name = argv[2];
    }
    const cli_command *c = find_command(name);
    if (!c) {
        cli_suggest sg;
        cli_suggest_init(&sg, name, strlen(name));
        for (int k = 0; k < n_commands; k++) cli_suggest_add(&sg, commands[k].name);
        const char *best = cli_suggest_best(&sg);
        if (best)
            fprintf(stderr, "cufactor: unknown command '%s' (did you mean '%s'?)\n", name, best);
        else
            fprintf(stderr, "cufactor: unknown command '%s'\n", name);
        print_usage(stderr);
        fprintf(stderr, "see cufactor --help\n");
        return CLI_EXIT_USAGE;
    }
    int rc = c->run(argc - 1, argv + 1);
    /* What went to stdout must have arrived (stdout on a full disk, a closed pipe): a
     * command whose output was lost does not exit 0. */
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        fprintf(stderr, "cufactor: error: writing to stdout failed: %s\n",
                e ? strerror(e) : "the output is incomplete");
        if (rc == CLI_EXIT_OK) rc = CLI_EXIT_ERROR;
    }
    return rc;
}
