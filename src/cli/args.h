/*
 * args.h — the small, strict option parser of the cufactor CLI.
 *
 * Each subcommand describes its options in a table of cli_opt. The parser accepts
 * "--flag VALUE", "--flag=VALUE", "-n VALUE" (options with a short name), and
 * positional arguments in any order; "--" ends the options. Numbers are parsed
 * strictly (the whole text, no blanks, in range, finite), so a typo is an error and
 * never a silent zero. --help (or -h) prints the help generated from the same table,
 * with each default read from the option's destination before parsing — the callers
 * fill those from cf_config_default / cf_read_options_default /
 * cf_gen_options_default, so the help cannot drift from the library.
 *
 * The parser writes to the destinations only; it does not allocate. String values
 * point into argv.
 */
#ifndef CF_CLI_ARGS_H
#define CF_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

typedef enum cli_kind {
    CLI_SECTION = 0, /* not an option: a heading in the help ("name" is the title) */
    CLI_FLAG,        /* no value: *(int *)dest = flag_value */
    CLI_I32,         /* int32_t, within [lo, hi] */
    CLI_I64,         /* int64_t, within [lo, hi] */
    CLI_U64,         /* uint64_t, any value (seeds) */
    CLI_BYTES,       /* uint64_t byte count: digits with an optional K, M, G or T suffix (powers
                        of 1024, "B"/"iB" allowed after it); 0, or at least `lo` when lo > 0 */
    CLI_DOUBLE,      /* finite double, within [dlo, dhi] */
    CLI_STR,         /* const char *, pointing into argv */
    CLI_CHOICE       /* int: the index of the value in `choices` (NULL-terminated) */
} cli_kind;

typedef struct cli_opt {
    const char *name;   /* long name without the leading "--" */
    char short_name;    /* e.g. 'n' for -n, or 0 */
    cli_kind kind;
    void *dest;
    const char *metavar;/* shown in the help: "K", "FILE", ... */
    const char *help;   /* one line */
    int64_t lo, hi;     /* integer range (CLI_I32 / CLI_I64); lo == hi == 0: the type's range */
    double dlo, dhi;    /* double range (CLI_DOUBLE); dlo == dhi == 0: any finite value */
    const char *const *choices; /* CLI_CHOICE */
    int flag_value;     /* CLI_FLAG */
    int required;       /* the option must be given */
    int no_default;     /* do not show a default in the help */
    int seen;           /* set by the parser when the option was given */
} cli_opt;

typedef struct cli_spec {
    const char *cmd;          /* "train" */
    const char *args;         /* usage after the command name: "DATA [options]" */
    const char *summary;      /* a paragraph shown under the usage line */
    const char *const *positional; /* names of the required positionals, NULL-terminated (may be NULL) */
    cli_opt *opts;
    int n_opts;
    const char *notes;        /* text after the options (may be NULL) */
} cli_spec;

/* A byte count as CLI_BYTES reads it ("512M", "2G", "1048576"); 0 on success, -1 if
 * malformed or beyond 2^64 − 1. */
int cli_parse_bytes(const char *s, uint64_t *out);

/* Parses argv[1..argc-1] (argv[0] is the subcommand's name). On success fills pos[]
 * (one per name in spec->positional) and returns -1. Otherwise returns the exit code:
 * 0 after printing the help (--help / -h), 2 after printing a usage error. */
int cli_parse(cli_spec *spec, int argc, char **argv, const char **pos);

/* Prints "cufactor CMD: <message>", the usage line and "see cufactor CMD --help" to
 * stderr; returns 2 (the usage exit code). */
int cli_usage_error(const cli_spec *spec, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prints the whole help of a subcommand to stdout. */
void cli_print_help(const cli_spec *spec);

/* The option named `name` in spec (NULL if absent), e.g. to ask whether it was seen. */
const cli_opt *cli_find(const cli_spec *spec, const char *name);

/* "Did you mean": the candidate closest to a mistyped name, by edit distance
 * (insertions, deletions, substitutions and swaps of two neighbours, each 1). A
 * candidate is suggested when it is at most 1 edit away from a word of up to 4
 * characters, 2 from a longer one, or else when the word is the start of exactly one
 * candidate (at least 3 characters: "--fact" for "--factors"). Ties go to the
 * candidate added first. Usage: init, add every candidate, then best (NULL: none). */
typedef struct cli_suggest {
    const char *word;   /* the mistyped name (not NUL-terminated: len) */
    size_t len;
    const char *best;   /* closest candidate so far within the limit */
    size_t best_dist;
    const char *prefix_of; /* the one candidate the word starts, NULL if none or several */
    int n_prefix;
} cli_suggest;

void cli_suggest_init(cli_suggest *s, const char *word, size_t len);
void cli_suggest_add(cli_suggest *s, const char *candidate);
const char *cli_suggest_best(const cli_suggest *s);

/* Strict number parsers shared with the commands (0 ok, -1 not a number / out of range). */
int cli_parse_i64(const char *s, int64_t *out);
int cli_parse_double(const char *s, double *out);

#endif
