/*
 * cmd_similar.c — `cufactor similar MODEL --item ID`: the N items most similar to an
 * item by the cosine of their factors (cf_model_similar_items: q_i·q_j / (‖q_i‖‖q_j‖),
 * the item itself left out), as "rank<TAB>item<TAB>score" lines or one JSON object;
 * many items (--items FILE, --all-items) through topn.c, as recommend's many users:
 * "item<TAB>rank<TAB>similar<TAB>score" lines or JSON Lines, --out all or nothing.
 */
#include "args.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_similar(int argc, char **argv) {
    const char *item = NULL, *items_path = NULL, *out_path = NULL;
    int32_t n = 10, threads = 0;
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
    if (!item) {
        const cli_topn t = {.model = model, .mi = &mi, .side = CF_ITEMS, .ids_path = items_path, .n = n,
                            .threads = threads, .json = json, .out_path = out_path, .max_line = ropt.max_line};
        rc = cli_topn_many(&t);
        cf_model_destroy(&model);
        return rc;
    }
    /* one item: its list, with the item IDs by row */
    const int64_t offs[2] = {0, (int64_t)strlen(item)};
    const cf_ids q = {.n = 1, .chars = item, .offsets = offs};
    int64_t *rows = malloc((size_t)n * sizeof *rows), *ioffs = malloc((size_t)(mi.n_items + 1) * sizeof *ioffs);
    double *scores = malloc((size_t)n * sizeof *scores);
    char *chars = NULL, *name = malloc(65537); /* an item's ID, NUL-terminated (IDs are at most 65535 bytes) */
    size_t bytes = 0;
    int32_t got = 0;
    cf_status st = rows && ioffs && scores && name ? CF_OK : CF_ERR_NOMEM;
    if (!st) st = cf_model_ids(model, CF_ITEMS, NULL, 0, NULL, &bytes, &err);
    if (!st && !(chars = malloc(bytes ? bytes : 1))) st = CF_ERR_NOMEM;
    if (!st) st = cf_model_ids(model, CF_ITEMS, chars, bytes, ioffs, &bytes, &err);
    if (!st) st = cf_model_similar_items(model, &q, n, 0, rows, scores, &got, &err);
    if (st == CF_ERR_NOT_FOUND) {
        char shown[CF_SHOW_CAP];
        rc = cli_failf("unknown item '%s' (not in %s)", cf_text_show(shown, sizeof shown, item, strlen(item)),
                       model_path);
    } else if (st == CF_ERR_NOMEM && !err.msg[0]) {
        rc = cli_failf("out of memory for %d similar items", (int)n);
    } else if (st) {
        rc = cli_fail(&err);
    } else {
        if (got < n) fprintf(stderr, "note: only %d other item%s in the model\n", (int)got, got == 1 ? "" : "s");
        cli_topn_open(stdout, json, "item", item);
        for (int32_t k = 0; k < got; k++) {
            const int64_t r = rows[k];
            const size_t len = (size_t)(ioffs[r + 1] - ioffs[r]);
            memcpy(name, chars + ioffs[r], len);
            name[len] = '\0';
            cli_topn_put(stdout, json, NULL, 0, (int)k + 1, name, len, scores[k]);
        }
        cli_topn_close(stdout, json);
        rc = CLI_EXIT_OK;
    }
    free(rows), free(ioffs), free(scores), free(chars), free(name);
    cf_model_destroy(&model);
    return rc;
}
