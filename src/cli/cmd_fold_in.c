/*
 * cmd_fold_in.c — `cufactor fold-in MODEL DATA --out NEW`: a model for the users of DATA,
 * each row solved from the user's ratings there with MODEL's items fixed
 * (cf_model_fold_in: one ALS half-step, no retraining), saved as a .cfm that recommend,
 * predict and eval take like any other. Also the shared `--fold-in DATA` of recommend,
 * eval and predict (cli_fold_in_apply), which does the same in memory.
 */
#include "args.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>

const char *const cli_fold_in_reg_names[] = {"model", "plain", "weighted", NULL};

/* One stderr line: what the fold-in solved from what. */
static void print_fold_in(const char *path, const cli_fold_in *fi, const cf_fold_in_report *r) {
    const char *rows = fi->items ? "items" : "users", *other = fi->items ? "user" : "item";
    fprintf(stderr, "fold-in: %lld %s (%lld new to the model) from %lld ratings of %s", (long long)r->rows, rows,
            (long long)r->rows_new, (long long)r->ratings, path);
    if (r->rows_empty)
        fprintf(stderr, "; %lld without a rating %s the model knows (%s)", (long long)r->rows_empty,
                fi->items ? "by a user" : "of an item",
                fi->merge ? "kept as they were, or zeros if new"
                          : fi->items ? "zero factors: scored μ + b_u" : "zero factors: ranked by μ + b_i");
    if (r->ratings_unknown)
        fprintf(stderr, "; %lld ratings of %ss the model does not know ignored", (long long)r->ratings_unknown, other);
    fputc('\n', stderr);
}

cf_status cli_fold_in_apply(const cli_fold_in *fi, const cf_read_options *ropt, int threads, int quiet,
                            cf_model **model, cf_dataset **data, cf_fold_in_report *rep, cf_error *err) {
    cf_dataset *ds = NULL;
    cf_read_report rrep;
    cf_status st = cli_dataset_read(fi->path, ropt, quiet, &ds, &rrep, err);
    if (st != CF_OK) return st;
    if (!quiet) cli_print_read("fold-in", fi->path, &rrep);
    cf_fold_in_options o;
    cf_fold_in_options_default(&o);
    o.lambda = fi->lambda, o.reg = fi->reg_choice - 1, o.threads = threads, o.items = fi->items, o.merge = fi->merge;
    cli_rank_progress p;
    cli_rank_progress_start(&p, fi->cmd, quiet);
    o.progress = cli_rank_progress_fn, o.progress_user = &p;
    cf_model *out = NULL;
    cf_fold_in_report r;
    st = cf_model_fold_in(*model, ds, &o, &out, &r, err);
    cli_rank_progress_end(&p);
    if (st != CF_OK) {
        cf_dataset_destroy(&ds);
        return st;
    }
    if (!quiet) print_fold_in(fi->path, fi, &r);
    cf_model_destroy(model);
    *model = out;
    if (rep) *rep = r;
    if (data) *data = ds;
    else cf_dataset_destroy(&ds);
    return CF_OK;
}

const char *cli_fold_in_stray(const cli_spec *spec) {
    const char *const *path = cli_find(spec, "fold-in")->dest;
    if (*path) return NULL;
    if (cli_find(spec, "fold-in-lambda")->seen) return "--fold-in-lambda";
    if (cli_find(spec, "fold-in-reg")->seen) return "--fold-in-reg";
    return NULL;
}

int cmd_fold_in(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    int format = (int)ropt.format, quiet = 0, threads = 0;
    const char *out_path = NULL;
    cli_fold_in fi = {.cmd = "fold-in", .lambda = NAN};
    cli_opt opts[] = {
        {.name = "out", .kind = CLI_STR, .dest = &out_path, .metavar = "FILE", .required = 1,
         .help = "the new model (.cfm, written atomically)"},
        {.name = "items", .kind = CLI_FLAG, .dest = &fi.items, .flag_value = 1,
         .help = "fold in the items of DATA from their ratings by MODEL's users, the users fixed"},
        {.name = "merge", .kind = CLI_FLAG, .dest = &fi.merge, .flag_value = 1,
         .help = "NEW keeps MODEL's users (items) too: DATA's replace theirs, new ones are appended"},
        CLI_ROW_REG_OPTS(fi),
        CLI_READ_OPTS(format, ropt, "DATA"),
        {.name = "threads", .kind = CLI_I32, .dest = &threads, .metavar = "T", .lo = 0, .hi = 4096,
         .help = "threads reading DATA and solving the rows (0 = all cores; the model does not depend on it)"},
        {.name = "quiet", .kind = CLI_FLAG, .dest = &quiet, .flag_value = 1,
         .help = "print nothing to stderr but errors"},
    };
    static const char *const positional[] = {"MODEL", "DATA", NULL};
    cli_spec spec = {
        .cmd = "fold-in",
        .args = "MODEL DATA --out NEW.cfm [options]",
        .summary = "A model for the users of DATA without retraining: each user's factors and bias solved\n"
                   "from that user's ratings in DATA with MODEL's items fixed (one ALS step for those users:\n"
                   "the least-squares fit of MODEL's own objective, in double precision). For users MODEL\n"
                   "was not trained on (new sign-ups) or whose ratings changed; NEW has DATA's users and\n"
                   "MODEL's items, and recommend, predict and eval take it like any model. With --items the\n"
                   "same for new items (rated by users MODEL knows), the users fixed; with --merge NEW\n"
                   "serves MODEL's users (items) as well.",
        .notes = "A user of DATA with no rating of an item MODEL knows gets zeros (μ + b_i, as an unknown\n"
                 "user; under --merge a user MODEL has keeps its row); ratings of unknown items are ignored\n"
                 "and counted. recommend, predict and eval do the same in memory with --fold-in DATA.\n"
                 "Typical: cufactor fold-in m.cfm new_users.tsv --out m_new.cfm\n"
                 "         cufactor fold-in m.cfm new_films.tsv --items --merge --out m.cfm",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *pos[2] = {NULL, NULL};
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    ropt.format = (cf_format)format;
    ropt.threads = threads;
    fi.path = pos[1];

    cf_error err = {0};
    cf_model *model = NULL;
    if (cf_model_load(pos[0], &model, &err) != CF_OK) goto fail;
    if (cli_fold_in_apply(&fi, &ropt, threads, quiet, &model, NULL, NULL, &err) != CF_OK) goto fail;
    if (cf_model_save(model, out_path, &err) != CF_OK) goto fail;
    if (!quiet) fprintf(stderr, "wrote %s\n", out_path);
    cf_model_destroy(&model);
    return CLI_EXIT_OK;
fail:
    cf_model_destroy(&model);
    return cli_fail(&err);
}
