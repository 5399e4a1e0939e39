/*
 * cmd_recommend.c — `cufactor recommend MODEL --user ID`: the top-N items by r̂ for
 * one user, leaving out the items that user rated in --exclude (typically the
 * training file). Prints "rank<TAB>item<TAB>score" lines, or one JSON object.
 *
 * Many users at once: --users FILE or --all-users (every user of the model, in its
 * order), ranked by cf_model_recommend_batch through topn.c: "user<TAB>rank<TAB>item<TAB>
 * score" lines or JSON Lines, to --out FILE (all or nothing) or stdout.
 *
 * --fold-in DATA: the users of DATA with rows solved from their ratings there
 * (cli_fold_in_apply, cmd_fold_in.c) take the model's users' place; all of them are
 * ranked unless --user / --users picks some, without what they rated in DATA unless
 * --exclude names another file.
 *
 * The other way round, --item ID / --items FILE / --all-items: the top-N users for an
 * item (who to show a new item to), through the same code on the transposed model and
 * exclusions (cf_model_transpose, cf_dataset_transpose).
 */
#include "args.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* *m (or *ds) replaced by its transpose: users and items exchanged (recommend --item). */
static cf_status transpose_model(cf_model **m, cf_error *err) {
    cf_model *t = NULL;
    cf_status st = cf_model_transpose(*m, &t, err);
    if (st == CF_OK) cf_model_destroy(m), *m = t;
    return st;
}

static cf_status transpose_data(cf_dataset **ds, cf_error *err) {
    cf_dataset *t = NULL;
    cf_status st = cf_dataset_transpose(*ds, &t, err);
    if (st == CF_OK) cf_dataset_destroy(ds), *ds = t;
    return st;
}

int cmd_recommend(int argc, char **argv) {
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    const char *user = NULL, *exclude = NULL, *users_path = NULL, *out_path = NULL;
    const char *item = NULL, *items_path = NULL;
    int32_t n = 10, threads = 0;
    int64_t min_ratings = 0;
    int all_users = 0, all_items = 0;
    int json = 0, format = (int)ropt.format;
    cli_fold_in fi = {.cmd = "recommend", .lambda = NAN};
    cli_opt opts[] = {
        {.name = "user", .kind = CLI_STR, .dest = &user, .metavar = "ID", .no_default = 1,
         .help = "the user, in the IDs of the training file (or --users, --all-users)"},
        {.name = "users", .kind = CLI_STR, .dest = &users_path, .metavar = "FILE", .no_default = 1,
         .help = "many users: one ID per line (its first field); \"user<TAB>rank<TAB>item<TAB>score\" lines"},
        {.name = "all-users", .kind = CLI_FLAG, .dest = &all_users, .flag_value = 1,
         .help = "every user of the model, in its order, as --users"},
        {.name = "item", .kind = CLI_STR, .dest = &item, .metavar = "ID", .no_default = 1,
         .help = "the other way round: the top-N users for this item (who to show it to)"},
        {.name = "items", .kind = CLI_STR, .dest = &items_path, .metavar = "FILE", .no_default = 1,
         .help = "users for many items: one ID per line; \"item<TAB>rank<TAB>user<TAB>score\" lines"},
        {.name = "all-items", .kind = CLI_FLAG, .dest = &all_items, .flag_value = 1,
         .help = "users for every item of the model, in its order, as --items"},
        {.name = "n", .short_name = 'n', .kind = CLI_I32, .dest = &n, .metavar = "N", .lo = 1, .hi = 1000000,
         .help = "how many items (users with --item)"},
        {.name = "exclude", .kind = CLI_STR, .dest = &exclude, .metavar = "DATA",
         .help = "ratings file: leave out the items the user rated there (with --item: the users who rated it)"},
        {.name = "min-ratings", .kind = CLI_I64, .dest = &min_ratings, .metavar = "M", .lo = 0, .hi = INT64_MAX,
         .help = "only items the model fit to at least M ratings (with --item: users); 0 = every one"},
        {.name = "format", .kind = CLI_CHOICE, .dest = &format, .choices = cli_format_names,
         .help = "input format of the --exclude file"},
        {.name = "skip-bad-lines", .kind = CLI_FLAG, .dest = &ropt.skip_bad_lines, .flag_value = 1,
         .help = "skip and count malformed lines of the --exclude file"},
        {.name = "json", .kind = CLI_FLAG, .dest = &json, .flag_value = 1,
         .help = "print one JSON object: user, items [{rank, item, score}] (many users: one per line)"},
        {.name = "out", .kind = CLI_STR, .dest = &out_path, .metavar = "FILE", .no_default = 1,
         .help = "many users: write here (atomically, when every user succeeded) instead of stdout"},
        {.name = "threads", .kind = CLI_I32, .dest = &threads, .metavar = "T", .lo = 0, .hi = 4096,
         .help = "many users: threads ranking them (0 = all cores)"},
        CLI_FOLD_IN_OPTS(fi),
    };
    static const char *const positional[] = {"MODEL", NULL};
    cli_spec spec = {
        .cmd = "recommend",
        .args = "MODEL --user ID | --users FILE | --all-users | --fold-in DATA | --item ID | --items FILE | "
                "--all-items [options]",
        .summary = "The top-N items by predicted rating for one user of a saved model, best first,\n"
                   "as \"rank<TAB>item<TAB>score\" lines; for many users (--users FILE, --all-users)\n"
                   "as \"user<TAB>rank<TAB>item<TAB>score\" lines, ranked on all cores.",
        .notes = "Users the model was not trained on: --fold-in DATA solves a row for each user of DATA\n"
                 "from that user's ratings there, the model's items fixed (cufactor fold-in, in memory),\n"
                 "and recommends to those users: all of them unless --user or --users picks some, without\n"
                 "the items they rated in DATA unless --exclude names another file.\n"
                 "The other way round, --item ID (--items FILE, --all-items) lists the users most likely\n"
                 "to rate the item highly, \"rank<TAB>user<TAB>score\", without those who rated it in\n"
                 "--exclude: who to show a new item to (fold it in first: cufactor fold-in --items).\n"
                 "An item fit to one or two ratings is mostly its bias and can top every list: --min-ratings M\n"
                 "ranks only the items the model fit to at least M ratings (its training ratings, kept in\n"
                 "the model file).\n"
                 "Typical: cufactor recommend m.cfm --fold-in new_users.tsv -n 10\n"
                 "         cufactor recommend m.cfm --item 4711 -n 1000 --exclude train.tsv",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *model_path = NULL;
    int rc = cli_parse(&spec, argc, argv, &model_path);
    if (rc >= 0) return rc;
    ropt.format = (cf_format)format;
    const char *stray = cli_fold_in_stray(&spec);
    if (stray) return cli_usage_error(&spec, "%s needs --fold-in DATA", stray);
    const int by_item = item || items_path || all_items;
    if (fi.path && !user && !users_path && !by_item) all_users = 1; /* every user of DATA */
    if ((user != NULL) + (users_path != NULL) + all_users + (item != NULL) + (items_path != NULL) + all_items != 1)
        return cli_usage_error(&spec, "give one of --user ID, --users FILE, --all-users, --item ID, --items FILE, "
                                      "--all-items%s",
                               fi.path ? " (or none with --fold-in: every user of DATA)" : ", --fold-in DATA");
    if (by_item) user = item, users_path = items_path, all_users = all_items; /* the transposed model's users */
    if (user && (out_path || (threads && !fi.path)))
        return cli_usage_error(&spec, "--%s is for many %s (--%s, --all-%s)", out_path ? "out" : "threads",
                               by_item ? "items" : "users", by_item ? "items" : "users", by_item ? "items" : "users");

    cf_error err = {0};
    cf_model *model = NULL;
    cf_dataset *ex = NULL;
    cf_read_report rrep;
    int32_t got = 0;
    cf_model_info mi;
    if (cf_model_load(model_path, &model, &err) != CF_OK) goto fail;
    /* DATA's users in place of the model's; their ratings there excluded unless --exclude */
    if (fi.path && cli_fold_in_apply(&fi, &ropt, threads, 0, &model, exclude ? NULL : &ex, NULL, &err) != CF_OK)
        goto fail;
    if (by_item && transpose_model(&model, &err) != CF_OK) goto fail;
    if (cli_min_ratings(&model, min_ratings, model_path, by_item, 0, &err) != CF_OK) goto fail;
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
    if (by_item && ex && transpose_data(&ex, &err) != CF_OK) goto fail_rec;
    if (!user) {
        free(rec);
        const cli_topn t = {.model = model, .mi = &mi, .side = CF_USERS, .ids_path = users_path, .n = n,
                            .exclude = ex, .threads = threads, .json = json, .out_path = out_path,
                            .max_line = ropt.max_line, .transposed = by_item};
        rc = cli_topn_many(&t);
        cf_dataset_destroy(&ex);
        cf_model_destroy(&model);
        return rc;
    }
    if (cf_model_recommend(model, user, n, ex, rec, &got, &err) != CF_OK) {
        if (err.status == CF_ERR_NOT_FOUND && by_item) { /* the transposed model's users are items */
            char shown[CF_SHOW_CAP];
            snprintf(err.msg, sizeof err.msg, "unknown item ID '%s'", cf_text_show(shown, sizeof shown, user, strlen(user)));
        } else if (err.status == CF_ERR_NOT_FOUND && fi.path) { /* the model's users are DATA's now: say so */
            char shown[CF_SHOW_CAP];
            snprintf(err.msg, sizeof err.msg, "user '%s' is not in %s (with --fold-in the users are those of DATA)",
                     cf_text_show(shown, sizeof shown, user, strlen(user)), fi.path);
        }
        goto fail_rec;
    }
    if (got < n) {
        char shown[CF_SHOW_CAP];
        fprintf(stderr, "note: only %d %s%s left to %s '%s'%s\n", (int)got, by_item ? "user" : "item",
                got == 1 ? "" : "s", by_item ? "rank for" : "recommend to",
                cf_text_show(shown, sizeof shown, user, strlen(user)),
                ex && min_ratings ? " after the exclusions and --min-ratings"
                : ex              ? " after the exclusions"
                : min_ratings     ? " with --min-ratings"
                                  : "");
    }

    cli_topn_open(stdout, json, by_item ? "item" : "user", user, by_item ? "users" : "items");
    for (int32_t k = 0; k < got; k++)
        cli_topn_put(stdout, json, by_item ? "user" : "item", NULL, 0, (int)k + 1, rec[k].item, strlen(rec[k].item),
                     rec[k].score);
    cli_topn_close(stdout, json);
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
