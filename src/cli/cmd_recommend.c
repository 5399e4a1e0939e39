/*
 * cmd_recommend.c — `cufactor recommend MODEL --user ID`: the top-N items by r̂ for
 * one user, leaving out the items that user rated in --exclude (typically the
 * training file). Prints "rank<TAB>item<TAB>score" lines, or one JSON object.
 */
#include "args.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_recommend(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    const char *user = NULL, *exclude = NULL;
    int32_t n = 10;
    int json = 0, format = (int)ropt.format;
    cli_opt opts[] = {
        {.name = "user", .kind = CLI_STR, .dest = &user, .metavar = "ID", .required = 1,
         .help = "the user, in the IDs of the training file"},
        {.name = "n", .short_name = 'n', .kind = CLI_I32, .dest = &n, .metavar = "N", .lo = 1, .hi = 1000000,
         .help = "how many items"},
        {.name = "exclude", .kind = CLI_STR, .dest = &exclude, .metavar = "DATA",
         .help = "ratings file: leave out the items the user rated there"},
        {.name = "format", .kind = CLI_CHOICE, .dest = &format, .choices = cli_format_names,
         .help = "input format of the --exclude file"},
        {.name = "skip-bad-lines", .kind = CLI_FLAG, .dest = &ropt.skip_bad_lines, .flag_value = 1,
         .help = "skip and count malformed lines of the --exclude file"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .flag_value = 1,
         .help = "print one JSON object: user, items [{rank, item, score}]"},
    };
    static const char *const positional[] = {"MODEL", NULL};
    cli_spec spec = {
        .cmd = "recommend",
        .args = "MODEL --user ID [options]",
        .summary = "The top-N items by predicted rating for one user of a saved model, best first,\n"
                   "as \"rank<TAB>item<TAB>score\" lines.",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *model_path = NULL;
    int rc = cli_parse(&spec, argc, argv, &model_path);
    if (rc >= 0) return rc;
    ropt.format = (cf_format)format;

    cf_error err = {0};
    cf_model *model = NULL;
    cf_dataset *ex = NULL;
    cf_read_report rrep;
    int32_t got = 0;
    cf_model_info mi;
    if (cf_model_load(model_path, &model, &err) != CF_OK) goto fail;
    cf_model_info_get(model, &mi);
    if ((int64_t)n > mi.n_items) n = (int32_t)mi.n_items;
    cf_recommendation *rec = calloc(n > 0 ? (size_t)n : 1, sizeof *rec);
    if (!rec) {
        cf_model_destroy(&model);
        return cli_failf("out of memory for %d recommendations", (int)n);
    }
    if (exclude) {
        if (cli_dataset_read(exclude, &ropt, 0, &ex, &rrep, &err) != CF_OK) goto fail_rec;
        cli_print_read("exclude", exclude, &rrep);
    }
    if (cf_model_recommend(model, user, n, ex, rec, &got, &err) != CF_OK) goto fail_rec;
    if (got < n) {
        char shown[CF_SHOW_CAP];
        fprintf(stderr, "note: only %d item%s left to recommend to '%s'%s\n", (int)got, got == 1 ? "" : "s",
                cf_text_show(shown, sizeof shown, user, strlen(user)), exclude ? " after the exclusions" : "");
    }

    if (json) {
        int first = 1;
        putchar('{');
        json_key(stdout, &first, "user"), json_string(stdout, user);
        json_key(stdout, &first, "items");
        putchar('[');
        for (int32_t k = 0; k < got; k++) {
            int f2 = 1;
            printf("%s{", k ? "," : "");
            json_key(stdout, &f2, "rank"), printf("%d", (int)k + 1);
            json_key(stdout, &f2, "item"), json_string(stdout, rec[k].item);
            json_key(stdout, &f2, "score"), json_number(stdout, rec[k].score);
            putchar('}');
        }
        puts("]}");
    } else {
        for (int32_t k = 0; k < got; k++) printf("%d\t%s\t%.10f\n", (int)k + 1, rec[k].item, rec[k].score);
    }
    free(rec);
    cf_dataset_destroy(&ex);
    cf_model_destroy(&model);
    return CLI_EXIT_OK;
fail_rec:
    free(rec);
fail:
    cf_dataset_destroy(&ex);
    cf_model_destroy(&model);
    return cli_fail(&err);
}
