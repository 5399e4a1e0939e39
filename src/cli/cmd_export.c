/*
 * cmd_export.c — `cufactor export MODEL --npy DIR`: the factors and biases of a saved
 * model as NumPy .npy files (float64) plus the ID lists, for use from Python.
 */
#include "args.h"
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cmd_export(int argc, char **argv) {
    const char *dir = NULL;
    cli_opt opts[] = {
        {.name = "npy", .kind = CLI_STR, .dest = &dir, .metavar = "DIR", .required = 1,
         .help = "directory for P.npy, Q.npy, user_bias.npy, item_bias.npy, users.txt, items.txt, meta.json "
                 "(and user_ratings.npy, item_ratings.npy)"},
    };
    static const char *const positional[] = {"MODEL", NULL};
    cli_spec spec = {
        .cmd = "export",
        .args = "MODEL --npy DIR",
        .summary = "Export a saved model for Python: P.npy (users × K), Q.npy (items × K),\n"
                   "user_bias.npy, item_bias.npy (float64), users.txt and items.txt (the IDs, one per\n"
                   "line, in row order) and meta.json (μ, dimensions); with a model that keeps its\n"
                   "rating counts (see info) also user_ratings.npy and item_ratings.npy (int64: the\n"
                   "ratings each row was fit to). DIR is created if missing.\n"
                   "In NumPy: r̂ = mu + user_bias[u] + item_bias[i] + P[u] @ Q[i].",
        .positional = positional,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *model_path = NULL;
    int rc = cli_parse(&spec, argc, argv, &model_path);
    if (rc >= 0) return rc;

    cf_error err = {0};
    cf_model *model = NULL;
    if (cf_model_load(model_path, &model, &err) != CF_OK) return cli_fail(&err);
    if (cf_model_export_npy(model, dir, &err) != CF_OK) {
        cf_model_destroy(&model);
        return cli_fail(&err);
    }
    cf_model_info mi;
    cf_model_info_get(model, &mi);
    int d = (int)strlen(dir); /* "exp/" is printed "exp/{P,...}" */
    while (d > 1 && dir[d - 1] == '/') d--;
    int64_t *cnt = malloc((size_t)(mi.n_items > 0 ? mi.n_items : 1) * sizeof *cnt);
    const int counted = cnt && cf_model_rating_counts(model, CF_ITEMS, cnt, &err) == CF_OK;
    free(cnt);
    printf("wrote %.*s%s{P,Q,user_bias,item_bias%s}.npy, users.txt, items.txt, meta.json: %lld users, %lld items, "
           "K=%d%s\n",
           d, dir, d == 1 && dir[0] == '/' ? "" : "/", counted ? ",user_ratings,item_ratings" : "",
           (long long)mi.n_users, (long long)mi.n_items, (int)mi.factors,
           counted ? "" : " (no rating counts: a model file of version 1)");
    cf_model_destroy(&model);
    return CLI_EXIT_OK;
}
