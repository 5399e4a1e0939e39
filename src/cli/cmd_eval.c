/*
 * cmd_eval.c — `cufactor eval MODEL DATA`: RMSE and MAE of a saved model over every
 * rating in a file. Ratings whose user or item the model does not know ("unseen")
 * are predicted with μ and the known bias (μ alone without biases), and counted; when
 * they are more than half, a warning on stderr asks whether DATA is from the set the
 * model was trained on (exit 0 still).
 */
#include "args.h"
#include "cli.h"

#include <stdio.h>

int cmd_eval(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    int format = (int)ropt.format, json = 0, quiet = 0;
    cli_opt opts[] = {
        {.name = "format", .kind = CLI_CHOICE, .dest = &format, .choices = cli_format_names,
         .help = "input format of DATA"},
        {.name = "skip-bad-lines", .kind = CLI_FLAG, .dest = &ropt.skip_bad_lines, .flag_value = 1,
         .help = "skip and count malformed lines instead of failing"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .flag_value = 1,
         .help = "print one JSON object: model, data, rmse, mae, count, unseen, skipped"},
        {.name = "quiet", .kind = CLI_FLAG, .dest = &quiet, .flag_value = 1,
         .help = "print nothing to stderr but errors (no read line, no load bar)"},
    };
    static const char *const positional[] = {"MODEL", "DATA", NULL};
    cli_spec spec = {
        .cmd = "eval",
        .args = "MODEL DATA [options]",
        .summary = "Evaluate a saved model (.cfm) on every rating in DATA: RMSE, MAE, the number of ratings,\n"
                   "and how many have a user or item the model does not know (predicted with μ and the\n"
                   "known bias).",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *pos[2] = {NULL, NULL};
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    ropt.format = (cf_format)format;

    cf_error err = {0};
    cf_model *model = NULL;
    cf_dataset *ds = NULL;
    cf_read_report rrep;
    cf_eval_report ev;
    if (cf_model_load(pos[0], &model, &err) != CF_OK) goto fail;
    if (cli_dataset_read(pos[1], &ropt, quiet, &ds, &rrep, &err) != CF_OK) goto fail;
    if (!quiet) cli_print_read("read", pos[1], &rrep);
    if (cf_model_evaluate(model, ds, &ev, &err) != CF_OK) goto fail;
    /* most pairs unknown to the model: probably data from another set (other IDs) */
    if (ev.count > 0 && 2 * ev.unseen > ev.count)
        fprintf(stderr,
                "warning: %lld of %lld ratings (%.0f %%) have a user or item the model has no training rating "
                "for; they are predicted by the mean: is %s from the data %s was trained on?\n",
                (long long)ev.unseen, (long long)ev.count, 100.0 * (double)ev.unseen / (double)ev.count, pos[1],
                pos[0]);

    if (json) {
        int first = 1;
        putchar('{');
        json_key(stdout, &first, "model"), json_string(stdout, pos[0]);
        json_key(stdout, &first, "data"), json_string(stdout, pos[1]);
        json_key(stdout, &first, "rmse"), json_number(stdout, ev.rmse);
        json_key(stdout, &first, "mae"), json_number(stdout, ev.mae);
        json_key(stdout, &first, "count"), printf("%lld", (long long)ev.count);
        json_key(stdout, &first, "unseen"), printf("%lld", (long long)ev.unseen);
        json_key(stdout, &first, "skipped"), printf("%lld", (long long)rrep.skipped);
        puts("}");
    } else {
        printf("RMSE    %.6f\n", ev.rmse);
        printf("MAE     %.6f\n", ev.mae);
        printf("count   %lld\n", (long long)ev.count);
        printf("unseen  %lld\n", (long long)ev.unseen);
    }
    cf_dataset_destroy(&ds);
    cf_model_destroy(&model);
    return CLI_EXIT_OK;
fail:
    cf_dataset_destroy(&ds);
    cf_model_destroy(&model);
    return cli_fail(&err);
}
