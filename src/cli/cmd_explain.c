/*
 * cmd_explain.c — `cufactor explain MODEL DATA --user ID --item ID`: why the model scores an
 * item for a user, as the sum of what each of the user's ratings in DATA adds
 * (cf_model_explain: the score of the user's fold-in row is linear in those ratings).
 */
#include "args.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int cmd_explain(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    int format = (int)ropt.format, json = 0, quiet = 0;
    const char *user = NULL, *item = NULL;
    int32_t n = 10;
    cli_fold_in fi = {.cmd = "explain", .lambda = NAN};
    cli_opt opts[] = {
        {.name = "user", .kind = CLI_STR, .dest = &user, .metavar = "ID", .required = 1,
         .help = "the user, whose ratings are those in DATA"},
        {.name = "item", .kind = CLI_STR, .dest = &item, .metavar = "ID", .required = 1, .help = "the item scored"},
        {.name = "n", .short_name = 'n', .kind = CLI_I32, .dest = &n, .metavar = "N", .lo = 1, .hi = 1000000,
         .help = "how many of the user's ratings to list, those that add most first"},
        CLI_ROW_REG_OPTS(fi),
        CLI_READ_OPTS(format, ropt, "DATA"),
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .flag_value = 1,
         .help = "print one JSON object: user, item, score, base, ratings, terms [{item, rating, contribution}]"},
        {.name = "quiet", .kind = CLI_FLAG, .dest = &quiet, .flag_value = 1,
         .help = "print nothing to stderr but errors"},
    };
    static const char *const positional[] = {"MODEL", "DATA", NULL};
    cli_spec spec = {
        .cmd = "explain",
        .args = "MODEL DATA --user ID --item ID [options]",
        .summary = "Why the model scores ITEM for USER: the score of the user's row solved from the user's\n"
                   "ratings in DATA (the training file, or a new user's ratings: as fold-in solves it) is\n"
                   "μ + b_i plus one term per rating, t_j · z_jᵀ A⁻¹ z_i, t_j the rating less item j's\n"
                   "baseline μ + b_j: the ratings that add most to the score are listed first.",
        .notes = "For a user of the training data, DATA is what the model was trained on (a model trained\n"
                 "with the default --test-ratio 0.1 did not see a tenth of the file: train with --test-ratio\n"
                 "0 or --test FILE to explain it), and the score is that of one more ALS step for the user:\n"
                 "the model's own once ALS has converged (4 digits after the default 15 iterations here).\n"
                 "Typical: cufactor explain m.cfm train.tsv --user 196 --item 242 -n 5",
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
    cf_explain_term *terms = calloc((size_t)n, sizeof *terms);
    if (!terms) return cli_failf("out of memory for %d terms", (int)n);
    if (cf_model_load(pos[0], &model, &err) != CF_OK) goto fail;
    if (cli_dataset_read(pos[1], &ropt, quiet, &ds, &rrep, &err) != CF_OK) goto fail;
    if (!quiet) cli_print_read("read", pos[1], &rrep);
    cf_fold_in_options o;
    cf_fold_in_options_default(&o);
    o.lambda = fi.lambda, o.reg = fi.reg_choice - 1;
    cf_explanation ex;
    int32_t got = 0;
    if (cf_model_explain(model, ds, &o, user, item, n, terms, &got, &ex, &err) != CF_OK) goto fail;
    double listed = 0;
    for (int32_t j = 0; j < got; j++) listed += terms[j].contribution;
    if (json) {
        int first = 1;
        putchar('{');
        json_key(stdout, &first, "user"), json_string(stdout, user);
        json_key(stdout, &first, "item"), json_string(stdout, item);
        json_key(stdout, &first, "score"), json_number(stdout, ex.score);
        json_key(stdout, &first, "base"), json_number(stdout, ex.base);
        json_key(stdout, &first, "ratings"), printf("%lld", (long long)ex.ratings);
        json_key(stdout, &first, "terms"), putchar('[');
        for (int32_t j = 0; j < got; j++) {
            int f2 = 1;
            fputs(j ? ",{" : "{", stdout);
            json_key(stdout, &f2, "item"), json_string(stdout, terms[j].item);
            json_key(stdout, &f2, "rating"), json_number(stdout, terms[j].rating);
            json_key(stdout, &f2, "contribution"), json_number(stdout, terms[j].contribution);
            putchar('}');
        }
        puts("]}");
    } else {
        printf("item %s for user %s: %.4f = %.4f (μ + b_i) %+.4f from the user's %lld rating%s in %s\n", item, user,
               ex.score, ex.base, ex.score - ex.base, (long long)ex.ratings, ex.ratings == 1 ? "" : "s", pos[1]);
        if (got) printf("%-24s %8s %13s\n", "rated item", "rating", "contribution");
        for (int32_t j = 0; j < got; j++)
            printf("%-24s %8g %+13.4f\n", terms[j].item, terms[j].rating, terms[j].contribution);
        if (ex.ratings > got)
            printf("(the other %lld: %+.4f)\n", (long long)(ex.ratings - got), ex.score - ex.base - listed);
    }
    free(terms);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&model);
    return CLI_EXIT_OK;
fail:
    free(terms);
    cf_dataset_destroy(&ds);
    cf_model_destroy(&model);
    return cli_fail(&err);
}
