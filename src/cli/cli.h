/*
 * cli.h — what the subcommands of the cufactor CLI share: the command list, exit
 * codes, error printing, the per-iteration progress printer, read/split reports,
 * JSON output helpers and all-or-nothing text output files.
 *
 * The CLI uses the public API (cufactor.h) only.
 */
#ifndef CF_CLI_H
#define CF_CLI_H

#include "cufactor.h"

#include <stdio.h>
#include <threads.h>

/* Exit codes. 130 = 128 + SIGINT, what shells report for a command stopped by Ctrl-C:
 * `train` stopped by SIGINT or SIGTERM (the partial iteration abandoned), or any command stopped
 * by them while reading a ratings file (interrupt.c). */
enum { CLI_EXIT_OK = 0, CLI_EXIT_ERROR = 1, CLI_EXIT_USAGE = 2, CLI_EXIT_INTERRUPTED = 130 };

/* The subcommands, in the order of `cufactor --help`: X(fn, "name", one-line summary).
 * Adding a subcommand is one line here plus its cmd_FN.c defining
 * int cmd_FN(int argc, char **argv) (argv[0] is the subcommand's name). */
#define CLI_COMMANDS(X)                                                                                 \
    X(train, "train", "train a model on a ratings file, report held-out RMSE, save it")                 \
    X(cv, "cv", "k-fold cross-validation over a grid of K × lambda, refit the best cell")               \
    X(verify, "verify", "run the GPU and the CPU reference side by side, compare per iteration")        \
    X(eval, "eval", "RMSE and MAE of a saved model on a ratings file")                                  \
    X(predict, "predict", "predicted ratings for a file of (user, item) pairs")                         \
    X(recommend, "recommend", "top-N items for a user, a list of users or all (or users for an item)")  \
    X(similar, "similar", "the items most similar to an item (cosine of the factors), a list or all")   \
    X(fold_in, "fold-in", "a model for new users (or items) from their ratings, no retraining")          \
    X(explain, "explain", "why a user gets an item: the score split over the user's ratings")           \
    X(gen, "gen", "write a synthetic ratings file with a planted low-rank structure")                   \
    X(export, "export", "write a model's factors and biases as NumPy .npy files")                       \
    X(info, "info", "what a model, checkpoint or ratings file holds: sizes, configuration, statistics")  \
    X(convert, "convert", "write a ratings file as a binary dataset that every command loads fast")     \
    X(demo, "demo", "generate a MovieLens-sized set, train, evaluate and recommend (no input)")         \
    X(bench, "bench", "throughput benchmark suites: run, compare with the history, plot data")

#define CLI_DECLARE(fn, name, summary) int cmd_##fn(int argc, char **argv);
CLI_COMMANDS(CLI_DECLARE)
#undef CLI_DECLARE

/* Prints "cufactor: error: <msg>" to stderr; returns CLI_EXIT_ERROR. An error of status
 * CF_ERR_INTERRUPTED (a read stopped by Ctrl-C / SIGTERM) is no error: prints
 * "cufactor: <msg>" and returns CLI_EXIT_INTERRUPTED. */
int cli_fail(const cf_error *err);
/* Same with a printf-style message of the CLI's own. */
int cli_failf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Installs the SIGINT / SIGTERM handlers (interrupt.c) and returns the flag they set,
 * for cf_train_options.stop or a read's progress callback; the handler writes `notice`
 * (a string that outlives the handler; NULL: nothing) to stderr when a signal comes.
 * cli_interrupt_restore puts the previous handlers back. */
const volatile sig_atomic_t *cli_interrupt_install(const char *notice);
/* The same without SA_RESTART, for reads: a blocked open() / read() returns EINTR. */
const volatile sig_atomic_t *cli_interrupt_install_io(const char *notice);
void cli_interrupt_restore(void);

/* Monotonic wall clock in seconds. */
double cli_now(void);

/* Names of enums the public API has no name function for, indexed by the enum value
 * (NULL-terminated, for CLI_CHOICE). */
extern const char *const cli_format_names[];      /* cf_format */
/* --format and --skip-bad-lines of a command reading one ratings file: `format` an int
 * (a cf_format), `ropt` its cf_read_options, `what` the file in the help ("DATA"). */
#define CLI_READ_OPTS(format, ropt, what)                                                          \
    {.name = "format", .kind = CLI_CHOICE, .dest = &(format), .choices = cli_format_names,        \
     .help = "input format of " what},                                                            \
    {.name = "skip-bad-lines", .kind = CLI_FLAG, .dest = &(ropt).skip_bad_lines, .flag_value = 1, \
     .help = "skip and count malformed lines instead of failing"}
extern const char *const cli_lr_schedule_names[]; /* cf_lr_schedule */
extern const char *const cli_schedule_names[];    /* cf_sgd_schedule */
extern const char *const cli_optimizer_names[];   /* cf_optimizer */
extern const char *const cli_precision_names[];   /* cf_precision */
extern const char *const cli_als_solver_names[];  /* cf_als_solver */
extern const char *const cli_als_gram_names[];    /* cf_als_gram */
/* train --test-split and cv --fold-split (CLI_SPLIT_*: random, user, time, user-time); the
 * index is the int they set */
extern const char *const cli_split_names[];
/* Names from the library's own name functions (cf_algo_name, ...), NULL-terminated. */
const char *const *cli_algo_names(void);
const char *const *cli_reg_names(void);
const char *const *cli_bias_reg_names(void); /* cli_reg_names and "same" */
const char *const *cli_device_names(void);

/* One stderr line describing a read: file, format, delimiter, counts, skips. */
void cli_print_read(const char *what, const char *path, const cf_read_report *rep);
/* How the file was read: "binary dataset", "Matrix Market" or "delimited (tab)[, header
 * skipped]", after "gzip: " when it was compressed (written into buf, cap bytes; 64 is
 * enough; returns buf). */
const char *cli_read_format(const cf_read_report *rep, char *buf, size_t cap);
/* " (2000-11-20 03:40:15 UTC)" for a timestamp that reads as Unix seconds of 1973..2100
 * (into buf), else "": how a time split's cut and info's times are shown. */
const char *cli_utc_text(int64_t t, char buf[40]);

/* The CLI's readers of ratings files: cf_dataset_read / cf_dataset_read_test, with a
 * one-line progress bar on stderr when stderr is a terminal and not `quiet` (percent,
 * MB read, MB/s; redrawn with '\r' at most 10 times a second, erased when the read
 * succeeds, ended with a newline when it fails so that the error starts a line).
 * Anywhere else (pipes, files, CI logs) stderr is untouched.
 *
 * Ctrl-C / SIGTERM during the read (the interrupt handlers are installed for its
 * duration) cancel it: CF_ERR_INTERRUPTED, "interrupted while reading PATH", for which
 * cli_fail returns CLI_EXIT_INTERRUPTED. A signal that comes after the library's last
 * progress call gives the same answer: a new dataset is then destroyed (*out NULL);
 * cli_dataset_read_test leaves ds holding the test part, and its caller (which stops
 * on any error) destroys ds. A second signal of the same kind ends the process at once. */
cf_status cli_dataset_read(const char *path, const cf_read_options *ropt, int quiet, cf_dataset **out,
                           cf_read_report *rep, cf_error *err);
cf_status cli_dataset_read_test(cf_dataset *ds, const char *path, const cf_read_options *ropt, int quiet,
                                cf_read_report *rep, cf_error *err);

/* A phase without a progress of its own (the training's "preparing", "uploading",
 * "downloading"; saving the model): on a terminal (stderr, not quiet) its name shows on
 * one line while it runs ("train: preparing ...", "saving m.cfm ...") and is erased when
 * it ends, so that a long phase (seconds at Netflix size) is not a silent wait; anywhere
 * else nothing is written. */
typedef struct cli_phase_line {
    int draw;  /* 1: stderr is a terminal and not quiet */
    int shown; /* characters on screen (0: none) */
} cli_phase_line;
void cli_phase_line_init(cli_phase_line *l, int quiet);
void cli_phase_show(cli_phase_line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_phase_clear(cli_phase_line *l);
/* cf_train_options.phase with a cli_phase_line as its user: shows "train: PHASE ..." at a
 * phase's start, erases it at its end. */
int cli_phase_progress(const char *phase, int64_t done, int64_t total, void *user);

/* Top-N lists for many queries (topn.c): `recommend` (side CF_USERS, ranked by
 * cf_model_recommend_batch, excluding `exclude`) and `similar` (CF_ITEMS,
 * cf_model_similar_items). Returns the exit code (errors printed). */
typedef struct cli_topn {
    cf_model *model;
    const cf_model_info *mi;
    cf_which side;
    const char *one;            /* one query ID (similar --item): its lines without the query column */
    const char *ids_path;       /* else a FILE of query IDs; NULL: every ID of that side of the model */
    const char *model_path;     /* for the message about an unknown `one` */
    int32_t n;
    const cf_dataset *exclude;  /* users only (may be NULL) */
    int threads, json;
    const char *out_path;       /* NULL: stdout */
    size_t max_line;
    int transposed;             /* the model is cf_model_transpose's (recommend --item): the
                                   queries are called items and the lists' entries users */
    const uint8_t *candidates;  /* similar only: the items that may be listed (NULL: all) */
} cli_topn;
int cli_topn_many(const cli_topn *t);
/* One query's list as output: "[query<TAB>]rank<TAB>item<TAB>score" lines (the score as
 * printf's %.10f; the query column for many queries: query non-NULL), or one JSON object
 * {KEY: query, "items": [{"rank", "item", "score"}, ...]} and a newline. */
void cli_topn_open(FILE *f, int json, const char *key, const char *query, const char *list);
void cli_topn_put(FILE *f, int json, const char *elem, const char *query, size_t qlen, int rank, const char *item,
                  size_t ilen, double score);
void cli_topn_close(FILE *f, int json);
/* --min-ratings N of recommend and eval --top: *model replaced by its subset of the items
 * with at least N rating counts (cf_model_subset; the transposed model of recommend --item:
 * its items are users), and a stderr line saying how many are left unless quiet. N <= 0:
 * nothing done. A model without counts (version-1 file) is an error naming model_path. */
cf_status cli_min_ratings(cf_model **model, int64_t min, const char *model_path, int transposed, int quiet,
                          cf_error *err);
/* similar --min-ratings N: the candidates as n_items flags (*candidates, malloc'ed; NULL
 * when N <= 0) for cf_model_similar_items_among, the same stderr line and error. */
cf_status cli_min_ratings_flags(const cf_model *model, int64_t min, const char *model_path, uint8_t **candidates,
                                cf_error *err);

/* The ranking measures (eval --top, train --top; rank_out.c). The progress: "CMD: ranking
 * U of N users ..." (the fold-in's: "CMD: folding in U of N users ...") on a terminal (not
 * quiet), Ctrl-C / SIGTERM stop the work (the call returns CF_ERR_INTERRUPTED); _start
 * installs the handlers, _end restores them. */
typedef struct cli_rank_progress {
    cli_phase_line line;
    const char *cmd;
    const volatile sig_atomic_t *stop;
    double last;
} cli_rank_progress;
void cli_rank_progress_start(cli_rank_progress *p, const char *cmd, int quiet);
int cli_rank_progress_fn(const char *phase, int64_t done, int64_t total, void *user);
void cli_rank_progress_end(cli_rank_progress *p);
/* The table ("ranking top N: ..." and a row per measure, the popular column when
 * `popular`), `excluded` naming where left-out relevant ratings were found; and the JSON
 * object ("exclude": the file or null). */
void cli_rank_print(FILE *f, const cf_rank_report *rk, double relevant_min, const char *excluded, int popular);
/* The line under that table saying what --min-ratings M did (nothing when M is 0). */
void cli_rank_print_floor(FILE *f, int64_t min_ratings);
/* On stderr (not with quiet; only with the popularity column): a hint when the model's
 * lists are significantly worse than popularity's, naming --min-ratings and cv. */
void cli_rank_hint(const cf_rank_report *rk, const cf_config *cfg, int64_t min_ratings, int popular, int quiet);
/* `--fold-in DATA` of recommend, eval and predict, and the fold-in command
 * (cmd_fold_in.c): DATA's users get rows solved from their ratings there with the model's
 * items fixed (cf_model_fold_in). CLI_FOLD_IN_OPTS(fi) are the three options of a
 * command's table; cli_fold_in_apply reads DATA (the read line and a summary on stderr
 * unless quiet; progress and Ctrl-C as the ranking's) and replaces *model by the new
 * model, handing DATA to *data (NULL: destroyed) and the report to *rep (may be NULL). */
struct cli_spec;
typedef struct cli_fold_in {
    const char *cmd;  /* for the progress line */
    const char *path; /* DATA; NULL: no fold-in */
    double lambda;    /* NaN: the model's */
    int reg_choice;   /* index in cli_fold_in_reg_names: 0 the model's, 1 plain, 2 weighted */
    int items, merge; /* cf_fold_in_options' (the fold-in command's --items and --merge) */
} cli_fold_in;
extern const char *const cli_fold_in_reg_names[];
#define CLI_FOLD_IN_OPTS(fi)                                                                                     \
    {.name = "fold-in", .kind = CLI_STR, .dest = &(fi).path, .metavar = "DATA", .no_default = 1,                 \
     .help = "users of DATA with rows solved from their ratings there, the items fixed (see cufactor fold-in)"}, \
    {.name = "fold-in-lambda", .kind = CLI_DOUBLE, .dest = &(fi).lambda, .metavar = "L", .dlo = 0, .dhi = 1e300, \
     .no_default = 1, .help = "with --fold-in: λ of those rows (default: the model's)"},                        \
    {.name = "fold-in-reg", .kind = CLI_CHOICE, .dest = &(fi).reg_choice, .choices = cli_fold_in_reg_names,    \
     .help = "with --fold-in: their regularization: the model's, plain (Λ = λ) or weighted (Λ = λ·n_u)"}
/* --lambda and --reg of the fold-in and explain commands (the user's row's own) */
#define CLI_ROW_REG_OPTS(fi)                                                                                     \
    {.name = "lambda", .kind = CLI_DOUBLE, .dest = &(fi).lambda, .metavar = "L", .dlo = 0, .dhi = 1e300,         \
     .no_default = 1, .help = "λ of the rows folded in (default: the model's)"},                                   \
    {.name = "reg", .kind = CLI_CHOICE, .dest = &(fi).reg_choice, .choices = cli_fold_in_reg_names,              \
     .help = "their regularization: the model's, plain (Λ = λ) or weighted (Λ = λ·n, n the row's ratings)"}
cf_status cli_fold_in_apply(const cli_fold_in *fi, const cf_read_options *ropt, int threads, int quiet,
                            cf_model **model, cf_dataset **data, cf_fold_in_report *rep, cf_error *err);
/* "--fold-in-lambda" or "--fold-in-reg" when given without --fold-in (a usage error), else NULL. */
const char *cli_fold_in_stray(const struct cli_spec *spec);

/* The measures' names in cf_rank_metrics' order (the first five: cf_rank_measure's). */
extern const char *const cli_rank_measure_names[6];
void cli_rank_json(FILE *f, const cf_rank_report *rk, double relevant_min, const char *exclude, int popular);

/* The progress callback: prints the header before iteration 1 and one line per
 * iteration to the FILE * in `user` (NULL: stderr). Never stops training. */
int cli_progress(const cf_iter_info *info, void *user);
/* The same with the held-out column named `held` ("test_rmse", "valid_rmse"). */
int cli_progress_named(const cf_iter_info *info, FILE *f, const char *held);

/* The iterations of a training (history.c): cli_history_record is a progress callback
 * that keeps every cf_iter_info and, when `print` is set, prints its line there
 * (cli_progress). An allocation failure leaves the training alone and sets `lost`. */
typedef struct cli_history {
    cf_iter_info *it;
    int n, cap;
    int lost;
    FILE *print;
    int validation; /* the held-out figures are a validation part's (train --validation), not the test part's */
} cli_history;
int cli_history_record(const cf_iter_info *info, void *user);
void cli_history_free(cli_history *h);
/* The kept run's (rep->restart) iteration with the lowest test RMSE into *best: 1 when
 * the history holds that whole run (iterations 1 .. rep->iters, so not a resumed one)
 * and a test part, else 0. */
int cli_history_best(const cli_history *h, const cf_train_report *rep, cf_iter_info *best);
/* The "history" array of train --json: one object per iteration (run 1-based; the held-out
 * RMSE under "valid_rmse" with h->validation, else "test_rmse"). */
void cli_history_json(FILE *o, const cli_history *h);
/* The test RMSE counts as having risen after the best iteration when the last is more
 * than this fraction above the best: a converged run's test RMSE moves by far less from
 * one iteration to the next (the demo's ALS, iterations 14 to 15: 0.04 %), an
 * overfitting one by more (the demo: 1.1 % from iteration 5 to 15). */
#define CLI_HISTORY_ROSE 0.005
/* 1 when the model is its run's last iteration (cfg without early stopping, which keeps the
 * best) and its test RMSE rose past the rule above the best (from cli_history_best). */
int cli_history_rose(const cf_iter_info *best, const cf_train_report *rep, const cf_config *cfg);
/* On stderr (not with quiet), for a model (the last iteration) whose test RMSE rose
 * above the best (cli_history_rose): what it means and the remedies (a cv command for
 * DATA with cfg's algorithm and regularization; --early-stop with --validation). With
 * validation the figures are the validation part's. */
void cli_overfit_hint(const cf_iter_info *best, const cf_train_report *rep, const cf_config *cfg, const char *data,
                      int validation, int quiet);

/* --device gpu where no GPU is usable: prints the error and returns CLI_EXIT_ERROR;
 * otherwise returns CLI_EXIT_OK. */
int cli_check_device(cf_device dev);

/* CUDA's start-up (cf_gpu_warm_up) on a thread of its own while the command reads its
 * data: started for --device gpu and auto (not cpu), waited for before the device is
 * used. `seconds` is what the start-up took (0 when not started). Its result is not
 * needed: a device that did not start is reported by cf_train, as without it; nor is a
 * thread that cannot be created an error (the start-up then happens in cf_train). */
typedef struct cli_gpu_warm {
    int started, joined, gpu_id;
    double t0, seconds;
    thrd_t thread;
} cli_gpu_warm;
void cli_gpu_warm_start(cli_gpu_warm *w, cf_device dev, int gpu_id);
void cli_gpu_warm_wait(cli_gpu_warm *w); /* idempotent; accepts one never started */

/* --device auto where no GPU is usable: prints the one-line notice (after `indent`)
 * to f before training and returns 1; otherwise 0 (the trainer may still fill
 * cf_train_report.notice, e.g. when the GPU lacks the algorithm: print that after). */
int cli_device_notice(cf_device dev, FILE *f, const char *indent);

/* Fails early (prints the error, returns CLI_EXIT_ERROR) when an output file could
 * not be created: its directory is missing, not a directory or not writable (the reason
 * from the call that failed), or the path exists and is not a regular file (a
 * directory, device, FIFO or socket; a symbolic link is followed to its target).
 * `flag` names the option in the message ("--model"). Else CLI_EXIT_OK. */
int cli_check_writable(const char *path, const char *flag);
/* cli_check_writable for a model or checkpoint (`what`: "a model"), which is written
 * uncompressed: a name ending in ".gz" is refused first, before any training. */
int cli_check_binary_output(const char *path, const char *flag, const char *what);
/* "a FIFO", "a character device", ... for a st_mode (messages). */
const char *cli_file_kind(unsigned mode);
/* 1 when paths a and b name the same file: the same inode when both exist, else the
 * same base name in the same (canonical) directory. */
int cli_same_file(const char *a, const char *b);

/* JSON output: one object, written with these helpers. */
void json_string(FILE *f, const char *s);  /* a quoted, escaped string, or null for NULL */
void json_number(FILE *f, double x);      /* shortest round-trip form, null if not finite */
void json_key(FILE *f, int *first, const char *key); /* ',' as needed, "key": */

/* An output file that appears only when complete: cf_output (cufactor.h) writes it to
 * an unnamed temporary in the target's directory and renames it over the target on
 * commit. With path == NULL the output goes to stdout, buffered in an anonymous
 * temporary file until commit, so that a failure never leaves half an output either way. */
typedef struct cli_out {
    FILE *f;            /* write here */
    cf_output *file;    /* the target's writer (NULL: stdout) */
} cli_out;

/* The data lines of a text file the user gives besides ratings (predict's pairs,
 * recommend's users), split as the ratings reader splits a line (cf_line_split: the
 * delimiter fixed by the first data line, quoting, NUL and the max_line limit), a UTF-8
 * BOM dropped, blank and '#' lines skipped. Set in, path, max_line and delim = -1, the
 * rest 0; `in` is read by this thread only. cli_lines_next: 1 with the next data line's
 * fields in *lf (pointing into buf; lineno its number), 0 at the end, -1 with the error
 * printed ("PATH:LINE: reason: text", out of memory, a read error). Free buf after. */
typedef struct cli_lines {
    FILE *in;
    const char *path;
    size_t max_line;
    int delim;
    long long lineno;
    char *buf;
    size_t cap;
} cli_lines;
int cli_lines_next(cli_lines *l, cf_line_fields *lf);

int cli_out_open(cli_out *o, const char *path, cf_error *err); /* 0 ok, -1 (err filled) */
int cli_out_commit(cli_out *o, cf_error *err);                 /* 0 ok, -1; closes */
void cli_out_abort(cli_out *o);                                /* removes the temporary */

#endif
