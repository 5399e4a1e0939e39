/*
 * config_opts.h — the options that fill a cf_config and a cf_read_options, written once
 * and shared by every subcommand that trains (train, cv, verify, demo), so that a flag, its
 * range, its help line and its default cannot differ between them.
 *
 * Use:
 *     cli_config_opts co;
 *     cli_config_opts_init(&co, &cfg, &ropt);    // cfg, ropt already hold the defaults
 *     cli_opt opts[CLI_CONFIG_MAX_OPTS + 8];
 *     int n = 0;
 *     ... opts[n++] = the command's own entries ...
 *     n += cli_config_read_opts(&co, opts + n);
 *     n += cli_config_train_opts(&co, opts + n, CLI_CFG_ALL, "model");
 *     ... parse ...
 *     cli_config_opts_apply(&co);                // the CLI_CHOICE indices -> the enums
 */
#ifndef CF_CLI_CONFIG_OPTS_H
#define CF_CLI_CONFIG_OPTS_H

#include "args.h"
#include "cufactor.h"

/* The most entries the two functions below append together (sections included). */
#define CLI_CONFIG_MAX_OPTS 40

typedef struct cli_config_opts {
    cf_config *cfg;
    cf_read_options *ropt;
    /* CLI_CHOICE destinations (an int index each), copied into cfg / ropt by apply */
    int format, algo, reg, bias_reg, device, lr_schedule, schedule, optimizer, precision, als_solver, als_gram;
} cli_config_opts;

/* Which optional groups of cli_config_train_opts to include. */
enum {
    CLI_CFG_FACTORS_LAMBDA = 1u << 0, /* --factors, --lambda, --bias-lambda (cv takes them from its grid) */
    CLI_CFG_SELECTION = 1u << 1,      /* --restarts, --early-stop */
    CLI_CFG_ALL = CLI_CFG_FACTORS_LAMBDA | CLI_CFG_SELECTION
};

void cli_config_opts_init(cli_config_opts *c, cf_config *cfg, cf_read_options *ropt);

/* Appends --format and --skip-bad-lines to out; returns how many entries. */
int cli_config_read_opts(cli_config_opts *c, cli_opt *out);

/* Appends the sections "<model_title>", "gradient methods" and "execution" with their
 * options (`groups`: CLI_CFG_*); returns how many entries. */
int cli_config_train_opts(cli_config_opts *c, cli_opt *out, unsigned groups, const char *model_title);

/* Appends --device, --gpu-id and --gpu-mem-limit (no section; cli_config_train_opts
 * includes them in its "execution" section; demo takes them alone); returns how many. */
int cli_config_device_opts(cli_config_opts *c, cli_opt *out);

/* The "output" section of the commands that train (train, cv, verify). */
typedef struct cli_output_opts {
    const char *model; /* --model OUT (NULL: not given) */
    int json, quiet;   /* --json, --quiet */
} cli_output_opts;

/* Appends the section "output": --model OUT with `model_help` (left out when NULL), the
 * command's own n_own entries `own` (e.g. cv's --svg), --json with `json_help` (what it
 * prints instead of the human-readable output) and --quiet; returns how many entries
 * (at most 4 + n_own). o must hold the defaults (NULL, 0, 0). */
int cli_output_opts_add(cli_output_opts *o, cli_opt *out, const char *model_help, const cli_opt *own, int n_own,
                        const char *json_help);

/* The held-out part of a training run: a second file, or a fraction of all ratings or of
 * each user's, at random (seeded) or the latest by timestamp (cf_dataset_split_*). */
enum { CLI_SPLIT_RANDOM, CLI_SPLIT_USER, CLI_SPLIT_TIME, CLI_SPLIT_USER_TIME };
typedef struct cli_split {
    const char *test_file; /* --test FILE (NULL: none) */
    double test_ratio;     /* --test-ratio F, default 0.1 */
    int mode;              /* --test-split: CLI_SPLIT_*, index into cli_split_names */
    int64_t cutoff;        /* after cli_read_split with CLI_SPLIT_TIME: the earliest test time */
} cli_split;

/* Whether the split reads timestamps (a time split that takes a share). */
int cli_split_timed(const cli_split *s);

/* Appends --test, --test-ratio and --test-split (s must hold the defaults); returns how
 * many entries. */
int cli_split_opts(cli_split *s, cli_opt *out);

/* After parsing: --test excludes --test-ratio and --test-split, the ratio lies in [0, 1).
 * Returns -1 when fine, else the usage exit code (the message printed). */
int cli_split_check(const cli_split *s, const cli_spec *spec);

/* Reads DATA, then the test file or the seeded split (seed); unless quiet, prints the
 * read reports and the "data:" / "split:" lines to stderr. On success *out holds the
 * dataset and *info its shape, and *split_seconds (when not NULL) the seconds of the
 * split and of counting the shape: preparation, not reading (the phase times put them
 * under "prepare"). */
cf_status cli_read_split(const char *data, cli_split *s, const cf_read_options *ropt, uint64_t seed,
                         int quiet, cf_dataset **out, cf_dataset_info *info, double *split_seconds,
                         cf_error *err);

/* train --validation F: a new dataset *fit of ds's training part (cf_dataset_train_copy)
 * with `ratio` of it moved into its test part — the validation part — split as s says
 * (--test-split's mode; random after --test FILE), seeded by seed ^ CLI_VALIDATION_STREAM
 * (a stream of its own: not the test split's draws again). ds is untouched. Unless quiet,
 * prints a "validation:" line to stderr. CF_ERR_INVALID when no rating is held out. */
#define CLI_VALIDATION_STREAM 0x76616c6964617465ull /* "validate" */
cf_status cli_validation_split(const cf_dataset *ds, const cli_split *s, double ratio, uint64_t seed, int threads,
                               int quiet, cf_dataset **fit, cf_error *err);

/* Copies the parsed CLI_CHOICE indices into cfg and ropt. */
void cli_config_opts_apply(const cli_config_opts *c);

#endif
