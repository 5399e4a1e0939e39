/*
 * cmd_demo.c — `cufactor demo`: the whole job on built-in data, with no input.
 *
 * 1. generate a MovieLens-100K-shaped set (943 users × 1682 items, 100,000 ratings
 *    rounded to whole stars) with a planted rank-k model and noise σ, and write it to
 *    a file in a temporary directory;
 * 2. read that file back (the real reader path), hold out a seeded 10 % test part;
 * 3. train ALS with the library defaults, one line per iteration;
 * 4. compare the held-out RMSE with the planted noise σ (no model can do better on
 *    average) and with the baseline that predicts the training mean for every test
 *    rating. The baseline is computed here from the files: the full set and the
 *    training part (cf_dataset_write writes only the training part) give the sums
 *    Σr and Σr² of the test part by difference, and with μ = the training mean,
 *    Σ_test (r − μ)² = Σr² − 2μΣr + n μ²;
 * 5. show the top 5 recommendations for two users, excluding what they rated, the
 *    items most like the first user's first recommendation, and the top 5 for a new user
 *    (not in the model) who gave 5 stars to the first user's top 3, folded in
 *    (cf_model_fold_in: the user's row solved with the items fixed, no retraining);
 * 6. remove the temporary directory (unless --keep DIR).
 */
#include "args.h"
#include "cli.h"
#include "config_opts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { DEMO_USERS = 943, DEMO_ITEMS = 1682, DEMO_RATINGS = 100000, DEMO_RANK = 10, DEMO_SHOWN = 2, DEMO_TOP = 5 };
static const double demo_noise = 0.7;

/* "   items most like item X (cosine of the factors): item a (0.93), ..." (cf_model_similar_items). */
static int demo_similar(const cf_model *model, const char *item) {
    cf_error err = {0};
    const int64_t off[2] = {0, (int64_t)strlen(item)};
    const cf_ids q = {.n = 1, .chars = item, .offsets = off};
    int64_t rows[DEMO_TOP];
    double cos[DEMO_TOP];
    int32_t got = 0;
    if (cf_model_similar_items(model, &q, DEMO_TOP, 0, rows, cos, &got, &err) != CF_OK) return cli_fail(&err);
    cf_model_info mi;
    cf_model_info_get(model, &mi);
    int64_t *ids = malloc((size_t)mi.n_items * sizeof *ids); /* the demo's item IDs are integers */
    if (!ids) return cli_failf("out of memory");
    if (cf_model_ids_int(model, CF_ITEMS, ids, &err) != CF_OK) {
        free(ids);
        return cli_fail(&err);
    }
    printf("   items most like item %s (cosine of the factors):", item);
    for (int32_t j = 0; j < got; j++) printf("%s item %lld (%.2f)", j ? "," : "", (long long)ids[rows[j]], cos[j]);
    printf("\n");
    free(ids);
    return CLI_EXIT_OK;
}

/* "   a new user who gave 5 stars to items a, b and c (fold-in, no retraining): item x (4.91), ..."
 * The user's row is solved from those n ≤ 3 ratings with the items fixed (cf_model_fold_in). */
static int demo_new_user(const cf_model *model, const cf_recommendation *liked, int n) {
    char items[3 * 24];
    int64_t ioff[4] = {0}, uoff[4] = {0};
    float stars[3];
    for (int k = 0; k < n; k++) {
        const size_t len = strlen(liked[k].item);
        if (len > 23) return CLI_EXIT_OK; /* not the demo's short integer IDs: nothing to show */
        memcpy(items + ioff[k], liked[k].item, len);
        ioff[k + 1] = ioff[k] + (int64_t)len;
        uoff[k + 1] = 3 * (k + 1); /* every rating's user is "new" */
        stars[k] = 5.0f;
    }
    const cf_ids users = {.n = n, .chars = "newnewnew", .offsets = uoff}, rated = {.n = n, .chars = items, .offsets = ioff};
    cf_error err = {0};
    cf_dataset *ds = NULL;
    cf_model *fm = NULL;
    cf_recommendation rec[DEMO_TOP];
    int32_t got = 0;
    int rc = CLI_EXIT_OK;
    if (cf_dataset_new(&ds, &err) != CF_OK || cf_dataset_add(ds, &users, &rated, stars, 0, &err) != CF_OK ||
        cf_model_fold_in(model, ds, NULL, &fm, NULL, &err) != CF_OK ||
        cf_model_recommend(fm, "new", DEMO_TOP, ds, rec, &got, &err) != CF_OK) {
        rc = cli_fail(&err);
    } else {
        printf("   a new user who gave 5 stars to items");
        for (int k = 0; k < n; k++) printf("%s %s", k ? (k == n - 1 ? " and" : ",") : "", liked[k].item);
        printf(" (fold-in, no retraining):");
        for (int32_t j = 0; j < got; j++) printf("%s item %s (%.2f)", j ? "," : "", rec[j].item, rec[j].score);
        printf("\n");
    }
    cf_model_destroy(&fm);
    cf_dataset_destroy(&ds);
    return rc;
}

/* Sums over a "user<TAB>item<TAB>rating" file; remembers the first DEMO_SHOWN
 * distinct users and counts their ratings. */
typedef struct demo_sums {
    long long n;
    double sum, sumsq;
    char user[DEMO_SHOWN][128];
    long long user_n[DEMO_SHOWN];
    int n_users;
} demo_sums;

static int sum_file(const char *path, demo_sums *s, int pick_users) {
    FILE *f = fopen(path, "r");
    if (!f) return cli_failf("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long long lineno = 0;
    int rc = CLI_EXIT_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *tab1 = strchr(line, '\t');
        char *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
        char *end = NULL;
        double r = tab2 ? strtod(tab2 + 1, &end) : NAN;
        if (!tab2 || end == tab2 + 1 || !isfinite(r)) {
            rc = cli_failf("%s:%lld: not a \"user<TAB>item<TAB>rating\" line", path, lineno);
            break;
        }
        s->n++;
        s->sum += r;
        s->sumsq += r * r;
        if (pick_users) {
            *tab1 = '\0';
            int k = 0;
            while (k < s->n_users && strcmp(s->user[k], line) != 0) k++;
            if (k == s->n_users && k < DEMO_SHOWN && strlen(line) < sizeof s->user[k]) {
                strcpy(s->user[k], line);
                s->n_users++;
            }
            if (k < s->n_users) s->user_n[k]++;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* dir/name, with one slash also when dir ends with '/' ("out/" gives "out/ratings.tsv"). */
static char *join(const char *dir, const char *name) {
    size_t d = strlen(dir), n = d + strlen(name) + 2;
    while (d > 1 && dir[d - 1] == '/') d--;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%.*s%s%s", (int)d, dir, d == 1 && dir[0] == '/' ? "" : "/", name);
    return p;
}

int cmd_demo(int argc, char **argv) {
    cf_config cfg;
    cf_config_default(&cfg);
    const char *keep = NULL;
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    cli_config_opts co;
    cli_config_opts_init(&co, &cfg, &ropt);
    cli_opt opts[16];
    int n = 0;
    opts[n++] = (cli_opt){.name = "threads", .kind = CLI_I32, .dest = &cfg.threads, .metavar = "T",
                          .help = "CPU threads reading, preparing and training (0 = all cores)"};
    n += cli_config_device_opts(&co, opts + n);
    opts[n++] = (cli_opt){.name = "seed", .kind = CLI_U64, .dest = &cfg.seed, .metavar = "S",
                          .help = "seed of the data, the split and the initialization"};
    opts[n++] = (cli_opt){.name = "keep", .kind = CLI_STR, .dest = &keep, .metavar = "DIR",
                          .help = "work in DIR (created if missing) and keep ratings.tsv, train.tsv, model.cfm there"};
    cli_spec spec = {
        .cmd = "demo",
        .args = "[options]",
        .summary = "Generate a MovieLens-100K-shaped synthetic set (943 users, 1682 items, 100,000\n"
                   "ratings in whole stars, planted rank 10, noise σ = 0.7), write it to a file, read it\n"
                   "back, train ALS with the defaults on a random 90/10 split, compare the test RMSE with\n"
                   "σ and with predicting the training mean, recommend 5 items to two users, list the\n"
                   "items most like one, and recommend to a new user without retraining (fold-in).",
        .opts = opts,
        .n_opts = n,
    };
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc >= 0) return rc;
    cli_config_opts_apply(&co);
    cf_error err = {0};
    if (cf_config_validate(&cfg, &err) != CF_OK) return cli_usage_error(&spec, "%s", err.msg);
    if (cli_check_device(cfg.device) != CLI_EXIT_OK) return CLI_EXIT_ERROR;

    double t_start = cli_now();
    char tmpl[4096];
    const char *dir = keep;
    if (keep) {
        if (mkdir(keep, 0777) != 0 && errno != EEXIST)
            return cli_failf("%s: cannot create the directory: %s", keep, strerror(errno));
    } else {
        const char *base = getenv("TMPDIR");
        snprintf(tmpl, sizeof tmpl, "%s/cufactor-demo-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpl)) return cli_failf("%s: cannot create a temporary directory: %s", tmpl, strerror(errno));
        dir = tmpl;
    }
    char *all_path = join(dir, "ratings.tsv"), *train_path = join(dir, "train.tsv"), *model_path = join(dir, "model.cfm");
    cf_dataset *ds = NULL;
    cf_model *model = NULL;
    cli_history hist = {.print = stdout}; /* the iterations, printed as they come */
    rc = CLI_EXIT_OK;
    if (!all_path || !train_path || !model_path) {
        rc = cli_failf("out of memory");
        goto done;
    }

    /* 1. generate and write */
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = DEMO_USERS;
    g.items = DEMO_ITEMS;
    g.ratings = DEMO_RATINGS;
    g.rank = DEMO_RANK;
    g.noise = demo_noise;
    g.round = 1;
    g.seed = cfg.seed;
    printf("1. generating %d users × %d items, %d ratings (planted rank %d, noise σ = %g, whole stars)\n",
           DEMO_USERS, DEMO_ITEMS, DEMO_RATINGS, DEMO_RANK, demo_noise);
    if (cf_generate(&g, &ds, &err) != CF_OK || cf_dataset_write(ds, all_path, &err) != CF_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    cf_dataset_destroy(&ds);
    printf("   wrote %s\n", all_path);

    /* 2. read back, split, write the training part for the baseline */
    cf_read_report rrep;
    if (cli_dataset_read(all_path, &ropt, 1, &ds, &rrep, &err) != CF_OK ||
        cf_dataset_split_threads(ds, 0.1, cfg.seed, cfg.threads, &err) != CF_OK || cf_dataset_write(ds, train_path, &err) != CF_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    cf_dataset_info info;
    cf_dataset_info_get(ds, &info);
    printf("2. read it back: %lld ratings, %lld users, %lld items; split %lld train / %lld test "
           "(%lld test ratings with a user or item unseen in training)\n",
           (long long)rrep.ratings, (long long)info.n_users, (long long)info.n_items, (long long)info.n_train,
           (long long)info.n_test, (long long)info.test_unseen);
    demo_sums all = {0}, tr = {0};
    if ((rc = sum_file(all_path, &all, 1)) != CLI_EXIT_OK || (rc = sum_file(train_path, &tr, 0)) != CLI_EXIT_OK)
        goto done;

    /* 3. train */
    cf_config shown; /* the iterations cf_train runs (the algorithm's default when --iters is 0) */
    cf_config_resolve(&cfg, NULL, &shown);
    printf("3. training %s, K=%d, %d iterations, lambda=%g (%s)\n", cf_algo_name(cfg.algo), (int)cfg.factors,
           (int)shown.iters, cfg.lambda, cf_reg_name(cfg.reg));
    int notice_shown = cli_device_notice(cfg.device, stdout, "   ");
    fflush(stdout);
    cf_train_report rep;
    memset(&rep, 0, sizeof rep);
    if (cf_train(ds, &cfg, cli_history_record, &hist, &model, &rep, &err) != CF_OK ||
        cf_model_save(model, model_path, &err) != CF_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    if (rep.notice[0] && !notice_shown) printf("   notice: %s\n", rep.notice);
    printf("   trained on %s in %.2f s\n", rep.device, rep.seconds);

    /* 4. metrics */
    double mu = tr.sum / (double)tr.n;
    long long n_test = all.n - tr.n;
    double t_sum = all.sum - tr.sum, t_sumsq = all.sumsq - tr.sumsq;
    double base_sse = t_sumsq - 2.0 * mu * t_sum + (double)n_test * mu * mu;
    double base_rmse = n_test > 0 ? sqrt(fmax(base_sse, 0.0) / (double)n_test) : NAN;
    double floor_rmse = sqrt(demo_noise * demo_noise + 1.0 / 12.0);
    cf_eval_report tev; /* the model's standard error (clustered by user, as eval gives it) */
    if (cf_model_evaluate_part(model, ds, 1, &tev, &err) != CF_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    printf("4. held-out RMSE on %lld test ratings:\n", n_test);
    printf("   model (ALS)                          %.4f  (± %.4f, one standard error over the users)\n",
           rep.test_rmse, tev.rmse_se);
    printf("   baseline: predict the training mean  %.4f  (μ = %.4f)\n", base_rmse, mu);
    printf("   planted noise σ                      %.4f  (about %.4f with rounding to whole stars:\n"
           "                                                no model can do better on average)\n",
           demo_noise, floor_rmse);
    printf("   the model closes %.0f %% of the gap between the baseline and that floor\n",
           100.0 * (base_rmse - rep.test_rmse) / (base_rmse - floor_rmse));
    cf_iter_info best;
    if (cli_history_best(&hist, &rep, &best) && cli_history_rose(&best, &rep, &cfg))
        printf("   its test RMSE was lowest at iteration %d (%.4f): the later iterations fit noise of the training\n"
               "   ratings with K = %d factors where %d were planted; `cufactor cv DATA --factors 8,16,32 --lambda\n"
               "   0.05,0.1,0.2 --select-iters` chooses K, lambda and the iterations by held-out folds, and\n"
               "   `cufactor train DATA --validation 0.1 --early-stop 3 --refit` the iterations alone\n",
               (int)best.iter, best.test_rmse, (int)cfg.factors, DEMO_RANK);

    /* 5. recommendations */
    printf("5. top %d recommendations (items each user has not rated):\n", DEMO_TOP);
    const char *first_item = NULL;
    cf_recommendation first_recs[DEMO_TOP];
    int32_t first_got = 0;
    for (int k = 0; k < all.n_users; k++) {
        cf_recommendation rec[DEMO_TOP];
        int32_t got = 0;
        if (cf_model_recommend(model, all.user[k], DEMO_TOP, ds, rec, &got, &err) != CF_OK) {
            rc = cli_fail(&err);
            goto done;
        }
        printf("   user %s (%lld ratings):", all.user[k], all.user_n[k]);
        for (int32_t j = 0; j < got; j++) printf("%s item %s (%.2f)", j ? "," : "", rec[j].item, rec[j].score);
        printf("\n");
        if (k == 0 && got > 0) first_item = rec[0].item; /* points into the model */
        if (k == 0) memcpy(first_recs, rec, sizeof rec), first_got = got;
    }
    if (first_item && (rc = demo_similar(model, first_item)) != CLI_EXIT_OK) goto done;
    if (first_got > 0 && (rc = demo_new_user(model, first_recs, first_got < 3 ? first_got : 3)) != CLI_EXIT_OK)
        goto done;
    if (keep)
        printf("6. kept %s, %s and %s\n", all_path, train_path, model_path);
    printf("demo finished in %.2f s\n", cli_now() - t_start);

done:
    cf_model_destroy(&model);
    cf_dataset_destroy(&ds);
    cli_history_free(&hist);
    if (!keep) {
        /* only the files this command made, then the directory */
        if (all_path) unlink(all_path);
        if (train_path) unlink(train_path);
        if (model_path) unlink(model_path);
        rmdir(dir);
    }
    free(all_path);
    free(train_path);
    free(model_path);
    return rc;
}
