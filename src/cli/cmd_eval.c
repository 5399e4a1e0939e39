/*
 * cmd_eval.c — `cufactor eval MODEL DATA`: RMSE and MAE of a saved model over every
 * rating in a file. Ratings whose user or item the model does not know ("unseen")
 * are predicted with μ and the known bias (μ alone without biases), and counted; when
 * they are more than half, a warning on stderr asks whether DATA is from the set the
 * model was trained on (exit 0 still).
 *
 * --top N adds the ranking measures of cf_model_rank_evaluate (precision, recall, NDCG,
 * MAP, hit rate, coverage of each user's top N; cufactor.h defines them), for the model
 * and, with --exclude (the training ratings, left out of every list as recommend leaves
 * them out), for the popularity baseline beside it. A terminal shows the users ranked so
 * far; Ctrl-C stops the ranking (exit 130).
 *
 * --fold-in HISTORY evaluates users the model was not trained on: their rows solved from
 * their ratings in HISTORY (cli_fold_in_apply, cmd_fold_in.c) replace the model's users;
 * with --top, HISTORY is also what is excluded unless --exclude names another file.
 *
 * RMSE and MAE come with standard errors clustered by user (metrics.c). --compare OTHER
 * evaluates a second model on the same ratings (cf_model_compare) and prints the paired
 * difference of the RMSEs with its standard error and a 95 % interval (±1.96 SE).
 */
#include "args.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>

/* The second model's lines: its RMSE, and the paired difference with a 95 % interval,
 * read as "better", "worse" or "no clear difference" (the interval holds 0). */
static void print_compare(const char *other, const cf_compare_report *c) {
    const double d = c->rmse_diff, se = c->rmse_diff_se, lo = d - 1.96 * se, hi = d + 1.96 * se;
    printf("compare %s: RMSE %.6f ± %.6f, MAE %.6f ± %.6f, unseen %lld\n", other, c->b.rmse, c->b.rmse_se, c->b.mae,
           c->b.mae_se, (long long)c->b.unseen);
    const char *verdict = !(se >= 0) ? "no standard error (fewer than two users)"
                          : hi < 0   ? "it predicts DATA better"
                          : lo > 0   ? "it predicts DATA worse"
                                     : "no clear difference: the interval holds 0";
    printf("        RMSE difference (it − MODEL) %+.6f ± %.6f (paired), 95 %% interval [%+.6f, %+.6f]: %s\n", d, se,
           lo, hi, verdict);
}

int cmd_eval(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    int format = (int)ropt.format, json = 0, quiet = 0;
    int32_t top = 0, threads = 0;
    int64_t min_ratings = 0;
    double relevant_min = NAN;
    const char *exclude = NULL, *other = NULL;
    cli_fold_in fi = {.cmd = "eval", .lambda = NAN};
    cli_opt opts[] = {
        CLI_READ_OPTS(format, ropt, "DATA"),
        {.name = "top", .kind = CLI_I32, .dest = &top, .metavar = "N", .lo = 0, .hi = 1000000,
         .help = "also rank: precision, recall, NDCG, MAP, hit rate and coverage of each user's top N (0 = off)"},
        {.name = "exclude", .kind = CLI_STR, .dest = &exclude, .metavar = "DATA",
         .help = "with --top: the training ratings, left out of the lists (as recommend --exclude); adds the popularity baseline"},
        {.name = "relevant-min", .kind = CLI_DOUBLE, .dest = &relevant_min, .metavar = "R",
         .no_default = 1,
         .help = "with --top: a test rating counts as relevant when >= R (e.g. 4 of 5 stars; default: every rating)"},
        {.name = "min-ratings", .kind = CLI_I64, .dest = &min_ratings, .metavar = "M", .lo = 0, .hi = INT64_MAX,
         .help = "with --top: rank only the items the model fit to at least M ratings, as recommend --min-ratings "
                 "(0 = every item)"},
        {.name = "threads", .kind = CLI_I32, .dest = &threads, .metavar = "T", .lo = 0, .hi = 4096,
         .help = "with --top or --fold-in: threads ranking the users, solving their rows (0 = all cores)"},
        {.name = "compare", .kind = CLI_STR, .dest = &other, .metavar = "MODEL",
         .help = "also evaluate this model on DATA: the difference of the RMSEs, its standard error (paired, "
                 "by user) and 95 % interval"},
        CLI_FOLD_IN_OPTS(fi),
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .flag_value = 1,
         .help = "print one JSON object: model, data, rmse, mae (and their standard errors), count, users, "
                 "unseen, skipped (and ranking with --top, compare with --compare)"},
        {.name = "quiet", .kind = CLI_FLAG, .dest = &quiet, .flag_value = 1,
         .help = "print nothing to stderr but errors (no read line, no load bar)"},
    };
    static const char *const positional[] = {"MODEL", "DATA", NULL};
    cli_spec spec = {
        .cmd = "eval",
        .args = "MODEL DATA [options]",
        .summary = "Evaluate a saved model (.cfm) on every rating in DATA: RMSE, MAE, the number of ratings,\n"
                   "and how many have a user or item the model does not know (predicted with μ and the\n"
                   "known bias). With --top N also how well it ranks: each user's top N against the\n"
                   "items that user rated in DATA.",
        .notes = "Ranking (--top N): for each user of DATA with a relevant rating, L = the model's top N\n"
                 "(recommend's list, without the items of --exclude), R = the user's relevant items in\n"
                 "DATA (less those in --exclude), h = |L ∩ R|, m = min(N, |R|): precision h/N, recall\n"
                 "h/|R|, hit rate [h > 0], NDCG with binary gains 1/log2(position + 1), MAP the mean of\n"
                 "precision at each hit divided by m; each the mean over those users; coverage the share\n"
                 "of the model's items in any list. An item of R the model never saw stays in R. The\n"
                 "popularity baseline (with --exclude) ranks items by their ratings in --exclude.\n"
                 "Typical: cufactor eval m.cfm test.tsv --top 10 --exclude train.tsv --relevant-min 4\n"
                 "Users the model was not trained on (held-out users): --fold-in HISTORY solves their rows\n"
                 "from their ratings in HISTORY (cufactor fold-in, in memory) and evaluates DATA with them;\n"
                 "users not in HISTORY are then unseen. With --top, --exclude defaults to HISTORY.\n"
                 "Typical: cufactor eval m.cfm heldout_test.tsv --fold-in heldout_history.tsv --top 10",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *pos[2] = {NULL, NULL};
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    ropt.format = (cf_format)format;
    if (!top && (exclude || !isnan(relevant_min) || min_ratings || (threads && !fi.path)))
        return cli_usage_error(&spec, "--%s needs --top N",
                               exclude                ? "exclude"
                               : !isnan(relevant_min) ? "relevant-min"
                               : min_ratings          ? "min-ratings"
                                                      : "threads");
    const char *stray = cli_fold_in_stray(&spec);
    if (stray) return cli_usage_error(&spec, "%s needs --fold-in HISTORY", stray);
    if (other && fi.path) return cli_usage_error(&spec, "--compare and --fold-in do not go together");

    cf_error err = {0};
    cf_model *model = NULL, *model_b = NULL;
    cf_dataset *ds = NULL, *ex = NULL;
    cf_read_report rrep, xrep;
    cf_compare_report cmp;
    cf_eval_report *const ev = &cmp.a;
    cf_rank_report rk;
    cf_fold_in_report fr;
    if (cf_model_load(pos[0], &model, &err) != CF_OK) goto fail;
    if (other && cf_model_load(other, &model_b, &err) != CF_OK) goto fail;
    /* HISTORY's users in place of the model's; with --top their ratings there excluded unless --exclude */
    if (fi.path && cli_fold_in_apply(&fi, &ropt, threads, quiet, &model, top && !exclude ? &ex : NULL, &fr, &err) != CF_OK)
        goto fail;
    const char *excluded = exclude ? exclude : ex ? fi.path : NULL; /* the file the lists leave out */
    if (cli_dataset_read(pos[1], &ropt, quiet, &ds, &rrep, &err) != CF_OK) goto fail;
    if (!quiet) cli_print_read("read", pos[1], &rrep);
    if (exclude) {
        if (cli_dataset_read(exclude, &ropt, quiet, &ex, &xrep, &err) != CF_OK) goto fail;
        if (!quiet) cli_print_read("exclude", exclude, &xrep);
    }
    if ((model_b ? cf_model_compare(model, model_b, ds, &cmp, &err) : cf_model_evaluate(model, ds, ev, &err)) != CF_OK)
        goto fail;
    /* the ranking's candidates only: the RMSE above is the whole model's */
    if (top && cli_min_ratings(&model, min_ratings, pos[0], 0, quiet, &err) != CF_OK) goto fail;
    if (top) {
        cli_rank_progress rp;
        cli_rank_progress_start(&rp, "eval", quiet);
        const cf_status st = cf_model_rank_evaluate(model, ds, ex, top, relevant_min, threads, cli_rank_progress_fn,
                                                    &rp, &rk, &err);
        cli_rank_progress_end(&rp);
        if (st != CF_OK) goto fail;
    }
    /* most pairs unknown to the model: probably data from another set (other IDs) */
    if (ev->count > 0 && 2 * ev->unseen > ev->count && fi.path)
        fprintf(stderr,
                "warning: %lld of %lld ratings (%.0f %%) have a user not in %s or an item the model has no training "
                "rating for; they are predicted by the mean: are the users of %s those of %s?\n",
                (long long)ev->unseen, (long long)ev->count, 100.0 * (double)ev->unseen / (double)ev->count, fi.path,
                pos[1], fi.path);
    else if (ev->count > 0 && 2 * ev->unseen > ev->count)
        fprintf(stderr,
                "warning: %lld of %lld ratings (%.0f %%) have a user or item the model has no training rating "
                "for; they are predicted by the mean: is %s from the data %s was trained on?\n",
                (long long)ev->unseen, (long long)ev->count, 100.0 * (double)ev->unseen / (double)ev->count, pos[1],
                pos[0]);

    if (json) {
        int first = 1;
        putchar('{');
        json_key(stdout, &first, "model"), json_string(stdout, pos[0]);
        json_key(stdout, &first, "data"), json_string(stdout, pos[1]);
        json_key(stdout, &first, "rmse"), json_number(stdout, ev->rmse);
        json_key(stdout, &first, "rmse_se"), json_number(stdout, ev->rmse_se);
        json_key(stdout, &first, "mae"), json_number(stdout, ev->mae);
        json_key(stdout, &first, "mae_se"), json_number(stdout, ev->mae_se);
        json_key(stdout, &first, "count"), printf("%lld", (long long)ev->count);
        json_key(stdout, &first, "users"), printf("%lld", (long long)ev->users);
        json_key(stdout, &first, "unseen"), printf("%lld", (long long)ev->unseen);
        json_key(stdout, &first, "skipped"), printf("%lld", (long long)rrep.skipped);
        if (top) json_key(stdout, &first, "ranking"), cli_rank_json(stdout, &rk, relevant_min, excluded, ex != NULL);
        if (top && min_ratings) json_key(stdout, &first, "min_ratings"), printf("%lld", (long long)min_ratings);
        if (model_b) {
            int f2 = 1;
            json_key(stdout, &first, "compare"), putchar('{');
            json_key(stdout, &f2, "model"), json_string(stdout, other);
            json_key(stdout, &f2, "rmse"), json_number(stdout, cmp.b.rmse);
            json_key(stdout, &f2, "rmse_se"), json_number(stdout, cmp.b.rmse_se);
            json_key(stdout, &f2, "mae"), json_number(stdout, cmp.b.mae);
            json_key(stdout, &f2, "mae_se"), json_number(stdout, cmp.b.mae_se);
            json_key(stdout, &f2, "unseen"), printf("%lld", (long long)cmp.b.unseen);
            json_key(stdout, &f2, "rmse_diff"), json_number(stdout, cmp.rmse_diff);
            json_key(stdout, &f2, "rmse_diff_se"), json_number(stdout, cmp.rmse_diff_se);
            putchar('}');
        }
        if (fi.path) {
            int f2 = 1;
            json_key(stdout, &first, "fold_in"), putchar('{');
            json_key(stdout, &f2, "data"), json_string(stdout, fi.path);
            json_key(stdout, &f2, "users"), printf("%lld", (long long)fr.rows);
            json_key(stdout, &f2, "users_empty"), printf("%lld", (long long)fr.rows_empty);
            json_key(stdout, &f2, "users_new"), printf("%lld", (long long)fr.rows_new);
            json_key(stdout, &f2, "ratings"), printf("%lld", (long long)fr.ratings);
            json_key(stdout, &f2, "ratings_unknown"), printf("%lld", (long long)fr.ratings_unknown);
            putchar('}');
        }
        puts("}");
    } else {
        printf("RMSE    %.6f ± %.6f\n", ev->rmse, ev->rmse_se);
        printf("MAE     %.6f ± %.6f\n", ev->mae, ev->mae_se);
        printf("count   %lld ratings of %lld users (±: standard errors, clustered by user)\n", (long long)ev->count,
               (long long)ev->users);
        printf("unseen  %lld\n", (long long)ev->unseen);
        if (model_b) print_compare(other, &cmp);
        if (top) cli_rank_print(stdout, &rk, relevant_min, excluded, ex != NULL);
        if (top) cli_rank_print_floor(stdout, min_ratings);
    }
    fflush(stdout);
    if (top) cli_rank_hint(&rk, cf_model_config(model), min_ratings, ex != NULL, quiet);
    cf_dataset_destroy(&ds);
    cf_dataset_destroy(&ex);
    cf_model_destroy(&model), cf_model_destroy(&model_b);
    return CLI_EXIT_OK;
fail:
    cf_dataset_destroy(&ds);
    cf_dataset_destroy(&ex);
    cf_model_destroy(&model), cf_model_destroy(&model_b);
    return cli_fail(&err);
}
