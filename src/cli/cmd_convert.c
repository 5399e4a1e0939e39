/*
 * cmd_convert.c — `cufactor convert DATA OUT`: reads a ratings file (any format the
 * readers take, duplicates removed as always) and writes it as a binary dataset
 * (binfmt: ratings and both ID maps, versioned, checksummed, written atomically), which
 * every command that reads ratings then loads at memory speed.
 */
#include "args.h"
#include "cli.h"

#include <stdio.h>

int cmd_convert(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    int format = (int)ropt.format, quiet = 0, threads = 0, timestamps = 0;
    cli_opt opts[] = {
        CLI_READ_OPTS(format, ropt, "DATA"),
        {.name = "threads", .kind = CLI_I32, .dest = &threads, .metavar = "T", .lo = 0, .hi = 4096,
         .help = "threads reading and checksumming (0 = all cores)"},
        {.name = "timestamps", .kind = CLI_FLAG, .dest = &timestamps, .flag_value = 1,
         .help = "keep DATA's fourth column, an integer timestamp per rating, for the time splits "
                 "(train --test-split time|user-time)"},
        {.name = "quiet", .kind = CLI_FLAG, .dest = &quiet, .flag_value = 1, .help = "no progress bar, no summary"},
    };
    static const char *const positional[] = {"DATA", "OUT", NULL};
    cli_spec spec = {
        .cmd = "convert",
        .args = "DATA OUT [options]",
        .summary = "Read the ratings file DATA and write it to OUT as a binary dataset: the ratings (duplicates\n"
                   "removed, the last kept) and the user and item IDs, versioned and checksummed, written\n"
                   "atomically. Every command that reads ratings (train, cv, verify, eval, --test,\n"
                   "recommend --exclude, bench) recognizes OUT by its magic and loads it at memory speed.",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *pos[2] = {NULL, NULL};
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    ropt.format = (cf_format)format;
    ropt.threads = threads;
    ropt.timestamps = timestamps;

    cf_error err = {0};
    cf_dataset *ds = NULL;
    cf_read_report rrep;
    double t0 = cli_now();
    if (cli_dataset_read(pos[0], &ropt, quiet, &ds, &rrep, &err) != CF_OK) goto fail;
    if (!quiet) cli_print_read("read", pos[0], &rrep);
    double t1 = cli_now();
    if (cf_dataset_write_binary(ds, pos[1], threads, &err) != CF_OK) goto fail;
    double t2 = cli_now();
    if (!quiet) {
        cf_dataset_info info;
        cf_dataset_info_get(ds, &info);
        fprintf(stderr, "wrote %s: %lld ratings%s, %lld users, %lld items (read %.2f s, write %.2f s)\n", pos[1],
                (long long)(info.n_train + info.n_test), timestamps ? " with timestamps" : "",
                (long long)info.n_users, (long long)info.n_items, t1 - t0, t2 - t1);
    }
    cf_dataset_destroy(&ds);
    return CLI_EXIT_OK;
fail:
    cf_dataset_destroy(&ds);
    return cli_fail(&err);
}
