/*
 * cmd_gen.c — `cufactor gen`: write a synthetic ratings file with a planted rank-k
 * model, biases, power-law popularity and Gaussian noise (cf_generate), as
 * "user<TAB>item<TAB>rating" lines, with --time-span a fourth column of timestamps
 * (cf_dataset_write, atomic).
 */
#include "args.h"
#include "cli.h"

#include <stdio.h>

int cmd_gen(int argc, char **argv) {
    cf_gen_options g;
    cf_gen_options_default(&g);
    const char *out = NULL;
    cli_opt opts[] = {
        {.name = "users", .kind = CLI_I64, .dest = &g.users, .metavar = "N", .required = 1, .lo = 1,
         .hi = INT64_MAX, .help = "number of users"},
        {.name = "items", .kind = CLI_I64, .dest = &g.items, .metavar = "M", .required = 1, .lo = 1,
         .hi = INT64_MAX, .help = "number of items"},
        {.name = "ratings", .kind = CLI_I64, .dest = &g.ratings, .metavar = "Z", .required = 1, .lo = 1,
         .hi = INT64_MAX, .help = "number of distinct (user, item) ratings"},
        {.name = "rank", .kind = CLI_I32, .dest = &g.rank, .metavar = "K", .required = 1, .lo = 0,
         .hi = INT32_MAX, .help = "rank of the planted factors"},
        {.name = "noise", .kind = CLI_DOUBLE, .dest = &g.noise, .metavar = "S", .required = 1, .dlo = 0,
         .dhi = 1e300, .help = "standard deviation σ of the Gaussian noise"},
        {.name = "seed", .kind = CLI_U64, .dest = &g.seed, .metavar = "S", .help = "random seed"},
        {.name = "zipf", .kind = CLI_DOUBLE, .dest = &g.zipf, .metavar = "A",
         .help = "power-law exponent of user and item popularity (0 = uniform)"},
        {.name = "mu", .kind = CLI_DOUBLE, .dest = &g.mu, .metavar = "M", .help = "planted global mean"},
        {.name = "mnar", .kind = CLI_DOUBLE, .dest = &g.mnar, .metavar = "B", .dlo = 0, .dhi = 100,
         .help = "users rate what they like more often: item weight popularity × σ(B × planted affinity) (0 = at random)"},
        {.name = "time-span", .kind = CLI_I64, .dest = &g.time_span, .metavar = "S", .lo = 0, .hi = INT64_MAX,
         .help = "give every rating a timestamp uniform over S seconds from 2001-09-09 (a fourth column; "
                 "0 = none)"},
        {.name = "drift", .kind = CLI_DOUBLE, .dest = &g.drift, .metavar = "D", .dlo = 0, .dhi = 100,
         .help = "with --time-span: each item's bias moves linearly by 2·D·z_i (z_i ~ N(0, 1)) over the span, "
                 "so the future differs from the past (0 = none)"},
        {.name = "round", .kind = CLI_FLAG, .dest = &g.round, .flag_value = 1,
         .help = "round ratings to whole stars (MovieLens-like)"},
        {.name = "half-stars", .kind = CLI_FLAG, .dest = &g.round, .flag_value = 2,
         .help = "ratings in half stars 0.5, 1, ..., 5 (MovieLens-20M-like; clipped to [0.5, 5])"},
        {.name = "no-clip", .kind = CLI_FLAG, .dest = &g.clip, .flag_value = 0,
         .help = "keep the raw planted values instead of clipping to [1, 5]"},
        {.name = "out", .kind = CLI_STR, .dest = &out, .metavar = "FILE", .required = 1,
         .help = "output file (written atomically; gzip-compressed when its name ends in .gz)"},
    };
    cli_spec spec = {
        .cmd = "gen",
        .args = "--users N --items M --ratings Z --rank K --noise S --out FILE [options]",
        .summary = "Write synthetic ratings r = μ + b_u + b_i + p_u·q_i + ε, ε ~ N(0, σ²), with rank-K\n"
                   "planted factors and power-law user and item popularity, clipped to [1, 5] unless\n"
                   "--no-clip, as \"user<TAB>item<TAB>rating\" lines. Which items a user rates follows\n"
                   "popularity alone, or with --mnar B also the planted ratings (users rate what they like).",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc >= 0) return rc;
    if (cli_find(&spec, "round")->seen && cli_find(&spec, "half-stars")->seen)
        return cli_usage_error(&spec, "--round and --half-stars exclude each other");

    if (cli_check_writable(out, "--out") != CLI_EXIT_OK) return CLI_EXIT_ERROR;
    cf_error err = {0};
    cf_dataset *ds = NULL;
    double t0 = cli_now();
    if (cf_generate(&g, &ds, &err) != CF_OK) {
        if (err.status == CF_ERR_INVALID) return cli_usage_error(&spec, "%s", err.msg);
        return cli_fail(&err);
    }
    double t1 = cli_now();
    if (cf_dataset_write(ds, out, &err) != CF_OK) {
        cf_dataset_destroy(&ds);
        return cli_fail(&err);
    }
    double t2 = cli_now();
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    char extra[96] = ""; /* the options beyond the planted model's, when set */
    int at = g.mnar > 0 ? snprintf(extra, sizeof extra, ", mnar %g", g.mnar) : 0;
    if (g.time_span > 0)
        snprintf(extra + at, sizeof extra - (size_t)at, ", times over %lld s, drift %g", (long long)g.time_span, g.drift);
    printf("wrote %s: %lld ratings, %lld users, %lld items (rank %d, noise %g%s, seed %llu) in %.2f s "
           "(generate %.2f s, write %.2f s)\n",
           out, (long long)info.n_train, (long long)info.n_users, (long long)info.n_items, (int)g.rank, g.noise, extra,
           (unsigned long long)g.seed, t2 - t0, t1 - t0, t2 - t1);
    cf_dataset_destroy(&ds);
    return CLI_EXIT_OK;
}
