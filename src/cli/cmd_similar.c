/*
 * cmd_similar.c — `cufactor similar MODEL --item ID`: the N items most similar to an
 * item by the cosine of their factors (cf_model_similar_items: q_i·q_j / (‖q_i‖‖q_j‖),
 * the item itself left out), as "rank<TAB>item<TAB>score" lines or one JSON object;
 * many items (--items FILE, --all-items) as recommend's many users: "item<TAB>rank<TAB>
 * similar<TAB>score" lines or JSON Lines, --out all or nothing. Both through topn.c.
 * --min-ratings M: only items fit to at least M ratings listed
 * (cf_model_similar_items_among).
 */
#include "args.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_similar(int argc, char **argv) {
    const char *item = NULL, *items_path = NULL, *out_path = NULL;
    int32_t n = 10, threads = 0;
    int64_t min_ratings = 0;
    int all_items = 0, json = 0;
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    cli_opt opts[] = {
        {.name = "item", .kind = CLI_STR, .dest = &item, .metavar = "ID", .no_default = 1,
         .help = "the item, in the IDs of the training file (or --items, --all-items)"},
        {.name = "items", .kind = CLI_STR, .dest = &items_path, .metavar = "FILE", .no_default = 1,
         .help = "many items: one ID per line (its first field); \"item<TAB>rank<TAB>similar<TAB>score\" lines"},
        {.name = "all-items", .kind = CLI_FLAG, .dest = &all_items, .flag_value = 1,
         .help = "every item of the model, in its order, as --items"},
        {.name = "n", .short_name = 'n', .kind = CLI_I32, .dest = &n, .metavar = "N", .lo = 1, .hi = 1000000,
         .help = "how many similar items"},
        {.name = "min-ratings", .kind = CLI_I64, .dest = &min_ratings, .metavar = "M", .lo = 0, .hi = INT64_MAX,
         .help = "list only items the model fit to at least M ratings (the query may have fewer); 0 = every one"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .flag_value = 1,
         .help = "print one JSON object: item, items [{rank, item, score}] (many items: one per line)"},
        {.name = "out", .kind = CLI_STR, .dest = &out_path, .metavar = "FILE", .no_default = 1,
         .help = "many items: write here (atomically, when every item succeeded) instead of stdout"},
        {.name = "threads", .kind = CLI_I32, .dest = &threads, .metavar = "T", .lo = 0, .hi = 4096,
         .help = "many items: threads ranking them (0 = all cores)"},
    };
    static const char *const positional[] = {"MODEL", NULL};
    cli_spec spec = {
        .cmd = "similar",
        .args = "MODEL --item ID | --items FILE | --all-items [options]",
        .summary = "The N items most similar to an item of a saved model by the cosine of their factors,\n"
                   "most similar first, as \"rank<TAB>item<TAB>score\" lines (score: the cosine, in [-1, 1]);\n"
                   "for many items (--items FILE, --all-items) \"item<TAB>rank<TAB>similar<TAB>score\" lines.",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
        .notes = "An item whose factors are all zero has no direction: its cosine with every item is 0.\n"
                 "Ties go to the item that comes first in the model (the training file's order).",
    };
    const char *model_path = NULL;
    int rc = cli_parse(&spec, argc, argv, &model_path);
    if (rc >= 0) return rc;
    if ((item != NULL) + (items_path != NULL) + all_items != 1)
        return cli_usage_error(&spec, "give one of --item ID, --items FILE, --all-items");
    if (item && (out_path || threads))
        return cli_usage_error(&spec, "--%s is for many items (--items, --all-items)", out_path ? "out" : "threads");

    cf_error err = {0};
    cf_model *model = NULL;
    cf_model_info mi;
    if (cf_model_load(model_path, &model, &err) != CF_OK) return cli_fail(&err);
    cf_model_info_get(model, &mi);
    uint8_t *candidates = NULL;
    if (cli_min_ratings_flags(model, min_ratings, model_path, &candidates, &err) != CF_OK) {
        cf_model_destroy(&model);
        return cli_fail(&err);
    }
    const cli_topn t = {.model = model, .mi = &mi, .side = CF_ITEMS, .one = item, .ids_path = items_path,
                        .model_path = model_path, .n = n, .threads = threads, .json = json, .out_path = out_path,
                        .max_line = ropt.max_line, .candidates = candidates};
    rc = cli_topn_many(&t);
    free(candidates);
    cf_model_destroy(&model);
    return rc;
}
