/*
 * cmd_cv.c — `cufactor cv DATA --grid factors=... --grid lambda=... [--grid bias-lambda=...]`:
 * k-fold cross-validation over a grid of K × λ (× the biases' λ_b; cf_cv_run). Prints one
 * line per cell and fold to stderr, then a table of mean ± std validation RMSE (rows λ,
 * columns K, one table per λ_b; with --select MEASURE@N the ranking measure, which then
 * picks the best cell), the best
 * cell and a warning when it lies on the border of the grid; or one JSON object with
 * --json. --svg writes a heatmap of the table (atomically), --model saves the refit of
 * the best cell on all the data.
 *
 * --grid may be given twice (once per axis), which the option parser of args.c does
 * not allow for one option: the --grid arguments are taken out of argv before it.
 */
#include "args.h"
#include "cli.h"
#include "config_opts.h"
#include "eta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GRID_MAX = 64 };

typedef struct grid {
    int32_t factors[GRID_MAX];
    int n_factors;
    double lambdas[GRID_MAX];
    int n_lambdas;
    double bias_lambdas[GRID_MAX]; /* the λ_b axis; n_bias_lambdas 0: none (the config's λ_b) */
    int n_bias_lambdas;
    int bias_given;                /* --grid bias-lambda given (once at most) */
} grid;

/* the axes as --grid names them */
enum { AXIS_FACTORS, AXIS_LAMBDA, AXIS_BIAS_LAMBDA, N_AXES };
static const char *const axis_names[N_AXES] = {"factors", "lambda", "bias-lambda"};

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}
static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Parses "factors=8,16", "lambda=0.01,0.1" or "bias-lambda=0,5,25" (or "bias-lambda=same":
 * no axis, the λ_b of --lambda) into g (values sorted). 0 ok, else writes a message into
 * msg and returns -1. */
static int parse_grid(const char *text, grid *g, char *msg, size_t msg_len) {
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || !eq[1]) {
        snprintf(msg, msg_len, "--grid %s: expected AXIS=V1,V2,... with AXIS factors, lambda or bias-lambda", text);
        return -1;
    }
    size_t name_len = (size_t)(eq - text);
    int axis = -1;
    for (int x = 0; x < N_AXES; x++)
        if (strlen(axis_names[x]) == name_len && strncmp(text, axis_names[x], name_len) == 0) axis = x;
    if (axis < 0) {
        snprintf(msg, msg_len, "--grid %s: unknown axis '%.*s' (factors, lambda or bias-lambda)", text,
                 (int)name_len, text);
        return -1;
    }
    int *count = axis == AXIS_FACTORS ? &g->n_factors : axis == AXIS_LAMBDA ? &g->n_lambdas : &g->n_bias_lambdas;
    if (*count > 0 || (axis == AXIS_BIAS_LAMBDA && g->bias_given)) {
        snprintf(msg, msg_len, "--grid %.*s given twice", (int)name_len, text);
        return -1;
    }
    if (axis == AXIS_BIAS_LAMBDA) {
        g->bias_given = 1;
        if (strcmp(eq + 1, "same") == 0) return 0; /* the default: λ_b = λ in every cell */
    }
    double *dv = axis == AXIS_LAMBDA ? g->lambdas : g->bias_lambdas;
    int n = 0;
    const char *p = eq + 1;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char buf[64];
        if (len == 0 || len >= sizeof buf) {
            snprintf(msg, msg_len, "--grid %s: empty or overlong value", text);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = 0;
        if (n >= GRID_MAX) {
            snprintf(msg, msg_len, "--grid %s: more than %d values", text, GRID_MAX);
            return -1;
        }
        if (axis == AXIS_FACTORS) {
            int64_t v;
            if (cli_parse_i64(buf, &v) != 0 || v < 1 || v > 100000) {
                snprintf(msg, msg_len, "--grid %s: '%s' is not a factor count in [1, 100000]", text, buf);
                return -1;
            }
            g->factors[n++] = (int32_t)v;
        } else {
            double v;
            if (cli_parse_double(buf, &v) != 0 || !(v >= 0) || isinf(v)) {
                snprintf(msg, msg_len, "--grid %s: '%s' is not a %s ≥ 0%s", text, buf, axis_names[axis],
                         axis == AXIS_BIAS_LAMBDA ? " (or the single value same)" : "");
                return -1;
            }
            dv[n++] = v;
        }
        if (!comma) break;
        p = comma + 1;
    }
    if (axis == AXIS_FACTORS) qsort(g->factors, (size_t)n, sizeof *g->factors, cmp_i32);
    else qsort(dv, (size_t)n, sizeof *dv, cmp_dbl);
    *count = n;
    for (int j = 1; j < n; j++)
        if (axis == AXIS_FACTORS ? g->factors[j] == g->factors[j - 1] : dv[j] == dv[j - 1]) {
            snprintf(msg, msg_len, "--grid %s: a value is repeated", text);
            return -1;
        }
    return 0;
}

/* " bias-lambda=V" of cell b into buf when the grid has a λ_b axis, else "" */
static const char *bias_text(const grid *g, int32_t b, char *buf, size_t len) {
    if (g->n_bias_lambdas > 0) snprintf(buf, len, " bias-lambda=%g", g->bias_lambdas[b]);
    else buf[0] = 0;
    return buf;
}

/* --select: "rmse" (n = 0) or MEASURE@N, MEASURE one of cf_rank_measure's names. 0 ok, -1 bad. */
static int parse_select(const char *text, int32_t *n, cf_rank_measure *measure) {
    if (strcmp(text, "rmse") == 0) {
        *n = 0;
        return 0;
    }
    const char *at = strchr(text, '@');
    if (!at) return -1;
    for (int q = CF_RANK_PRECISION; q <= CF_RANK_HIT_RATE; q++)
        if (strlen(cli_rank_measure_names[q]) == (size_t)(at - text) &&
            strncmp(text, cli_rank_measure_names[q], (size_t)(at - text)) == 0) {
            char *end = NULL;
            long v = strtol(at + 1, &end, 10);
            if (end == at + 1 || *end || v < 1 || v > 1000000) return -1;
            *n = (int32_t)v, *measure = (cf_rank_measure)q;
            return 0;
        }
    return -1;
}

/* the folds in the header lines, by --fold-split (CLI_SPLIT_*) */
static const char *const fold_kind[] = {"", "per-user", "rolling-origin time", "rolling-origin per-user time"};

typedef struct fold_log {
    const grid *g;
    int32_t folds;
    const char *select; /* the measure's name ("ndcg@10"), NULL: RMSE */
    int select_iters;   /* --select-iters: a fold's RMSE here is its last iteration's, not the one scored */
    double t0;          /* when the first training started (cli_now) */
    cli_eta eta;        /* the time left, cell by cell */
} fold_log;

/* One line per training: which of all (they run fold by fold, every cell in each), the
 * cell and fold, the validation figures, and the time left (eta.h: each cell's cost by its
 * K until it has run once, then what it took). */
static void on_fold(int32_t ib, int32_t il, int32_t ik, int32_t fold, double rmse, double score, void *user) {
    fold_log *lg = user;
    const grid *g = lg->g;
    const int64_t cells = lg->eta.cells, total = cells * lg->folds;
    const int64_t cell = ((int64_t)ib * g->n_lambdas + il) * g->n_factors + ik, done = fold * cells + cell + 1;
    const double left = cli_eta_done(&lg->eta, fold, cell, cli_now() - lg->t0);
    char bt[48];
    fprintf(stderr, "cv: [%lld/%lld, ~%.0f s left] K=%-5d lambda=%-8g%s fold %d/%d  validation RMSE %.6f%s",
            (long long)done, (long long)total, left, (int)g->factors[ik],
            g->lambdas[il], bias_text(g, ib, bt, sizeof bt), (int)fold + 1, (int)lg->folds, rmse,
            lg->select_iters ? " (last iteration)" : "");
    if (lg->select) fprintf(stderr, "  %s %.6f", lg->select, score);
    fputc('\n', stderr);
}

/* ---- SVG heatmap: one rect per cell on a green (low) → red (high) ramp. */
static void ramp(double t, int *r, int *g, int *b) {
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    /* green (46,160,67) → yellow (250,220,80) → red (214,39,40) */
    double r0, g0, b0, r1, g1, b1, s;
    if (t < 0.5) r0 = 46, g0 = 160, b0 = 67, r1 = 250, g1 = 220, b1 = 80, s = t / 0.5;
    else r0 = 250, g0 = 220, b0 = 80, r1 = 214, g1 = 39, b1 = 40, s = (t - 0.5) / 0.5;
    *r = (int)lround(r0 + (r1 - r0) * s), *g = (int)lround(g0 + (g1 - g0) * s), *b = (int)lround(b0 + (b1 - b0) * s);
}

/* One panel (rows λ, columns K) per value of the λ_b axis, stacked; one rect per cell. */
static int write_svg(const char *path, const grid *gr, const cf_cv_result *res, const char *select, cf_error *err) {
    /* the table shown: the selected measure (higher is better: green at the top) or RMSE */
    const double *mean = select ? res->mean_score : res->mean;
    cli_out o;
    if (cli_out_open(&o, path, err) != 0) return -1;
    FILE *f = o.f;
    const int NB = res->n_bias_lambdas, titled = gr->n_bias_lambdas > 0;
    const int cw = 90, ch = 40, left = 90, top = 50, panel_gap = titled ? 30 : 0;
    const int panel_h = ch * gr->n_lambdas + panel_gap; /* a panel's cells and its title above */
    int w = left + cw * gr->n_factors + 20, h = top + panel_h * NB - panel_gap + 50;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t c = 0; c < (int64_t)NB * gr->n_factors * gr->n_lambdas; c++) {
        if (mean[c] < lo) lo = mean[c];
        if (mean[c] > hi) hi = mean[c];
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n", w, h);
    fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\">mean validation %s, %d-fold CV</text>\n", left,
            select ? select : "RMSE", (int)res->folds);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">K</text>\n", left + cw * gr->n_factors / 2, h - 10);
    fprintf(f, "<text x=\"15\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 15 %d)\">λ</text>\n",
            top + (h - 50 - top) / 2, top + (h - 50 - top) / 2);
    for (int k = 0; k < gr->n_factors; k++)
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", left + cw * k + cw / 2,
                h - 32, (int)gr->factors[k]);
    for (int b = 0; b < NB; b++) {
        const int y0 = top + panel_h * b; /* the panel's first row */
        if (titled)
            fprintf(f, "<text x=\"%d\" y=\"%d\">λ_b = %g</text>\n", left, y0 - 8, gr->bias_lambdas[b]);
        for (int l = 0; l < gr->n_lambdas; l++) {
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%g</text>\n", left - 8, y0 + ch * l + ch / 2 + 4,
                    gr->lambdas[l]);
            for (int k = 0; k < gr->n_factors; k++) {
                double v = mean[cf_cv_cell_index(res, b, l, k)];
                int r, g, bl;
                ramp(hi > lo ? (select ? hi - v : v - lo) / (hi - lo) : 0.0, &r, &g, &bl);
                fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\"/>\n",
                        left + cw * k, y0 + ch * l, cw, ch, r, g, bl);
                fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%.4f</text>\n", left + cw * k + cw / 2,
                        y0 + ch * l + ch / 2 + 4, v);
            }
        }
    }
    /* the best cell outlined (a polyline, so that the file holds exactly one rect per cell) */
    int bx = left + cw * res->best_k, by = top + panel_h * res->best_b + ch * res->best_l;
    fprintf(f, "<polyline points=\"%d,%d %d,%d %d,%d %d,%d %d,%d\" fill=\"none\" stroke=\"black\" "
               "stroke-width=\"3\"/>\n", bx, by, bx + cw, by, bx + cw, by + ch, bx, by + ch, bx, by);
    fprintf(f, "</svg>\n");
    return cli_out_commit(&o, err);
}

/* "mean_NAME", "std_NAME" and "fold_NAME": [the F values] of one cell */
static void json_cell_stats(FILE *o, int *first, const char *name, double mean, double std, const double *fold_v,
                            int32_t folds) {
    char key[32];
    snprintf(key, sizeof key, "mean_%s", name);
    json_key(o, first, key), json_number(o, mean);
    snprintf(key, sizeof key, "std_%s", name);
    json_key(o, first, key), json_number(o, std);
    snprintf(key, sizeof key, "fold_%s", name);
    json_key(o, first, key), fputc('[', o);
    for (int32_t f = 0; f < folds; f++) fputs(f ? "," : "", o), json_number(o, fold_v[f]);
    fputc(']', o);
}

/* The iterations each cell trains (the algorithm's default when --iters is 0). */
static int32_t cv_iters(const cf_config *cfg) {
    cf_config r;
    cf_config_resolve(cfg, NULL, &r);
    return r.iters;
}

int cmd_cv(int argc, char **argv) {
    cf_config cfg;
    cf_config_default(&cfg);
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    cf_cv_options cvo;
    cf_cv_options_default(&cvo);
    cvo.seed = cfg.seed;

    const char *svg_path = NULL, *grid_help = NULL;
    cli_output_opts oo = {NULL, 0, 0};
    cli_config_opts co;
    cli_config_opts_init(&co, &cfg, &ropt);

    cli_opt opts[CLI_CONFIG_MAX_OPTS + 16];
    int n = 0;
    opts[n++] = (cli_opt){.kind = CLI_SECTION, .name = "grid"};
    opts[n++] = (cli_opt){.name = "grid", .kind = CLI_STR, .dest = &grid_help, .metavar = "AXIS=V,...",
                          .no_default = 1,
                          .help = "factors=8,16,32 or lambda=0.01,0.1 (give both; required), bias-lambda=0,5,25 (a third "
                                  "axis, the biases' own λ_b; default: λ's in every cell)"};
    opts[n++] = (cli_opt){.name = "factors", .kind = CLI_STR, .dest = &grid_help, .metavar = "K1,K2,...",
                          .no_default = 1, .help = "the same as --grid factors=K1,K2,..."};
    opts[n++] = (cli_opt){.name = "lambda", .kind = CLI_STR, .dest = &grid_help, .metavar = "L1,L2,...",
                          .no_default = 1, .help = "the same as --grid lambda=L1,L2,..."};
    opts[n++] = (cli_opt){.name = "bias-lambda", .kind = CLI_STR, .dest = &grid_help, .metavar = "B1,B2,...",
                          .no_default = 1, .help = "the same as --grid bias-lambda=B1,B2,... (with --bias-reg plain "
                                                   "it keeps rarely rated items out of top-N lists)"};
    opts[n++] = (cli_opt){.name = "folds", .kind = CLI_I32, .dest = &cvo.folds, .metavar = "F", .lo = 2,
                          .hi = 1000, .help = "number of folds"};
    int fold_split = CLI_SPLIT_RANDOM;
    opts[n++] = (cli_opt){.name = "fold-split", .kind = CLI_CHOICE, .dest = &fold_split, .choices = cli_split_names,
                          .help = "random: ratings dealt to the folds at random; user: each user's ratings dealt over "
                                  "the folds, a user with one rating never validated (so every validated user is "
                                  "known, as train --test-split user); time: rolling origin, the ratings in time "
                                  "order cut into F+1 blocks, fold f validated on a model of the blocks before it "
                                  "(needs a timestamp column); user-time: the same per user"};
    const char *select = "rmse";
    opts[n++] = (cli_opt){.name = "select", .kind = CLI_STR, .dest = &select, .metavar = "MEASURE",
                          .help = "pick the best cell by rmse (lowest), or by precision|recall|ndcg|map|hit_rate@N "
                                  "(highest; the fold's users' top N, as eval --top)"};
    opts[n++] = (cli_opt){.name = "relevant-min", .kind = CLI_DOUBLE, .dest = &cvo.relevant_min, .metavar = "R",
                          .no_default = 1,
                          .help = "with a ranking --select: a rating counts as relevant when >= R (default: every rating)"};
    opts[n++] = (cli_opt){.name = "min-ratings", .kind = CLI_I64, .dest = &cvo.rank_min_ratings, .metavar = "M",
                          .lo = 0, .hi = INT64_MAX,
                          .help = "with a ranking --select: rank only the items each fold's model was fit to at least "
                                  "M ratings, as recommend --min-ratings (0 = every item)"};
    static const char *const select_on_names[] = {"mean", "last", NULL};
    int select_on = 0;
    opts[n++] = (cli_opt){.name = "select-on", .kind = CLI_CHOICE, .dest = &select_on, .choices = select_on_names,
                          .help = "with --fold-split time|user-time: pick by the mean over the folds, or by the "
                                  "last fold alone (trained on the most data, the nearest to the refit; the early "
                                  "folds, trained on little, tend to favour more regularization)"};
    opts[n++] = (cli_opt){.name = "select-iters", .kind = CLI_FLAG, .dest = &cvo.select_iters, .flag_value = 1,
                          .help = "choose the iteration count too: each cell is scored at its iteration of least mean "
                                  "validation RMSE (recorded after every iteration: no extra training) and the "
                                  "refit runs that many (RMSE only; not with --tol)"};
    opts[n++] = (cli_opt){.kind = CLI_SECTION, .name = "data"};
    n += cli_config_read_opts(&co, opts + n);
    n += cli_config_train_opts(&co, opts + n, 0, "model (every cell)");
    const cli_opt svg_opt = {.name = "svg", .kind = CLI_STR, .dest = &svg_path, .metavar = "FILE",
                             .help = "write a heatmap of the mean validation RMSE (written atomically)"};
    n += cli_output_opts_add(&oo, opts + n, "save the refit of the best cell on all the data here (.cfm)", &svg_opt, 1,
                             "print one JSON object to stdout instead of the table");
    static const char *const positional[] = {"DATA", NULL};
    cli_spec spec = {
        .cmd = "cv",
        .args = "DATA --grid factors=K1,K2,... --grid lambda=L1,L2,... [--grid bias-lambda=B1,B2,...] [options]",
        .summary = "k-fold cross-validation over a grid of K × λ (× λ_b): every rating of DATA is put in one of F\n"
                   "seeded folds; each cell is trained F times on F−1 folds and scored by the RMSE on the\n"
                   "fold left out (or, with --select ndcg@10 etc., by how it ranks that fold's items).\n"
                   "Prints the mean and std per cell, the best cell, then refits it on all the data\n"
                   "(saved with --model).",
        .positional = positional,
        .opts = opts,
        .n_opts = n,
        .notes = "The std is the sample standard deviation over the folds. When the best cell has the\n"
                 "smallest or largest K or λ of its axis, the optimum may lie outside: enlarge the grid.\n"
                 "With --fold-split time the folds are in time (rolling origin): no model is scored on\n"
                 "ratings older than some it was trained on, as in use; DATA needs a fourth column of\n"
                 "integer timestamps.",
    };

    /* take the --grid arguments out of argv (they may repeat); --factors V, --lambda V and
     * --bias-lambda V, what a user of train types, become --grid factors=V etc. (in arena) */
    char **rest = malloc(((size_t)argc + 1) * sizeof *rest);
    const char **grid_args = malloc(((size_t)argc + 1) * sizeof *grid_args);
    size_t arena_len = 0;
    for (int a = 0; a < argc; a++) arena_len += strlen(argv[a]) + 8;
    char *arena = malloc(arena_len + 1), *at = arena;
    if (!rest || !grid_args || !arena) {
        free(rest);
        free(grid_args);
        free(arena);
        return cli_failf("out of memory");
    }
    int n_rest = 0, n_grid = 0, ended = 0;
    for (int a = 0; a < argc; a++) {
        static const char *const axes[] = {"grid", "factors", "lambda", "bias-lambda"};
        int axis = -1;
        const char *val = NULL;
        if (a > 0 && !ended && strcmp(argv[a], "--") == 0) ended = 1;
        for (int x = 0; a > 0 && !ended && x < 4 && axis < 0; x++) {
            size_t l = strlen(axes[x]);
            if (strncmp(argv[a], "--", 2) || strncmp(argv[a] + 2, axes[x], l)) continue;
            if (argv[a][2 + l] == '=') axis = x, val = argv[a] + 3 + l;
            else if (argv[a][2 + l] == '\0') {
                if (a + 1 >= argc) {
                    free(rest);
                    free(grid_args);
                    free(arena);
                    return cli_usage_error(&spec, "--%s needs a value", axes[x]);
                }
                axis = x, val = argv[++a];
            }
        }
        if (axis == 0) {
            grid_args[n_grid++] = val;
        } else if (axis > 0) {
            grid_args[n_grid++] = at;
            at += sprintf(at, "%s=%s", axes[axis], val) + 1;
        } else {
            rest[n_rest++] = argv[a];
        }
    }
    rest[n_rest] = NULL;
    const char *data = NULL;
    int rc = cli_parse(&spec, n_rest, rest, &data);
    free(rest);
    if (rc >= 0) {
        free(grid_args);
        free(arena);
        return rc;
    }
    grid g;
    memset(&g, 0, sizeof g);
    char msg[256];
    for (int j = 0; j < n_grid; j++)
        if (parse_grid(grid_args[j], &g, msg, sizeof msg) != 0) {
            free(grid_args);
            free(arena);
            return cli_usage_error(&spec, "%s", msg);
        }
    free(grid_args);
    free(arena);
    if (g.n_factors == 0 || g.n_lambdas == 0)
        return cli_usage_error(&spec, "give both --grid factors=... and --grid lambda=...");

    if (parse_select(select, &cvo.rank_n, &cvo.rank_measure) != 0)
        return cli_usage_error(&spec, "--select: '%s' is not rmse or precision|recall|ndcg|map|hit_rate@N (e.g. ndcg@10)",
                               select);
    if (!cvo.rank_n && (!isnan(cvo.relevant_min) || cvo.rank_min_ratings))
        return cli_usage_error(&spec, "--%s needs a ranking --select (e.g. --select ndcg@10)",
                               cvo.rank_min_ratings ? "min-ratings" : "relevant-min");
    const char *select_name = cvo.rank_n ? select : NULL;
    cli_config_opts_apply(&co);
    cvo.seed = cfg.seed;
    cvo.factors = g.factors, cvo.n_factors = g.n_factors;
    cvo.lambdas = g.lambdas, cvo.n_lambdas = g.n_lambdas;
    cvo.bias_lambdas = g.bias_lambdas, cvo.n_bias_lambdas = g.n_bias_lambdas;
    cf_error err = {0};
    if (cli_check_device(cfg.device) != CLI_EXIT_OK) return CLI_EXIT_ERROR;
    if (oo.model && cli_check_binary_output(oo.model, "--model", "a model") != CLI_EXIT_OK) return CLI_EXIT_ERROR;
    if (svg_path && cli_check_writable(svg_path, "--svg") != CLI_EXIT_OK) return CLI_EXIT_ERROR;
    cvo.by_user = fold_split == CLI_SPLIT_USER || fold_split == CLI_SPLIT_USER_TIME;
    cvo.by_time = fold_split == CLI_SPLIT_TIME || fold_split == CLI_SPLIT_USER_TIME;
    ropt.timestamps = cvo.by_time; /* the fourth column: a missing one names its line */
    if (select_on && !cvo.by_time)
        return cli_usage_error(&spec, "--select-on last needs --fold-split time or user-time (other folds are "
                                      "exchangeable: none is the last)");
    cvo.select_last = select_on;
    if (cvo.select_iters && select_name)
        return cli_usage_error(&spec, "--select-iters chooses by RMSE: not with --select %s", select_name);
    if (cvo.select_iters && cfg.tol > 0) /* cv has no --early-stop or --restarts */
        return cli_usage_error(&spec, "--select-iters runs every cell's iterations: not with --tol");
    if (cf_cv_check(&cfg, &cvo, &err) != CF_OK) return cli_usage_error(&spec, "%s", err.msg); /* every cell */

    cf_dataset *ds = NULL;
    double *eta_mem = NULL; /* the cells' modelled costs, what each took, the folds' shares */
    cf_cv_result res;
    memset(&res, 0, sizeof res);
    cf_read_report rrep;
    double t_read = cli_now();
    cli_gpu_warm warm; /* CUDA starts while the file is read */
    cli_gpu_warm_start(&warm, cfg.device, cfg.gpu_id);
    cf_status read_st = cli_dataset_read(data, &ropt, oo.quiet, &ds, &rrep, &err);
    t_read = cli_now() - t_read;
    cli_gpu_warm_wait(&warm);
    if (read_st != CF_OK) goto fail;
    if (!oo.quiet) cli_print_read("read", data, &rrep);
    if (!oo.quiet) {
        cli_device_notice(cfg.device, stderr, "");
        char seed[40] = "in time order";
        if (!cvo.by_time) snprintf(seed, sizeof seed, "seed %llu", (unsigned long long)cvo.seed);
        char cells[48], bias[64] = "";
        snprintf(cells, sizeof cells, "%d×%d", g.n_lambdas, g.n_factors);
        if (g.n_bias_lambdas > 0) {
            cf_config r;
            cf_config_resolve(&cfg, NULL, &r); /* the biases' weighting, explicit */
            snprintf(cells, sizeof cells, "%d×%d×%d", g.n_bias_lambdas, g.n_lambdas, g.n_factors);
            snprintf(bias, sizeof bias, ", own λ_b (%s)", cf_reg_name(r.bias_reg));
        }
        fprintf(stderr, "cv: %s, %d %s%sfolds (%s), %s cells, %d iterations, %s λ, bias %s%s\n",
                cf_algo_name(cfg.algo), (int)cvo.folds, fold_kind[fold_split], fold_split ? " " : "", seed, cells,
                (int)cv_iters(&cfg), cf_reg_name(cfg.reg), cfg.bias ? "on" : "off", bias);
    }
    fold_log lg = {.g = &g, .folds = cvo.folds, .select = select_name, .select_iters = cvo.select_iters};
    if (!oo.quiet) { /* the progress lines and their time left (the cost model reads the data's counts) */
        const int64_t n_cells = (int64_t)(g.n_bias_lambdas > 0 ? g.n_bias_lambdas : 1) * g.n_lambdas * g.n_factors;
        if (!(eta_mem = malloc((2 * (size_t)n_cells + (size_t)cvo.folds) * sizeof *eta_mem))) {
            err.status = CF_ERR_NOMEM;
            snprintf(err.msg, sizeof err.msg, "out of memory for the grid's timings");
            goto fail;
        }
        cf_dataset_info dinfo;
        cf_dataset_info_get(ds, &dinfo);
        for (int64_t c = 0; c < n_cells; c++)
            eta_mem[c] = cli_eta_cost(cfg.algo, g.factors[c % g.n_factors], (double)(dinfo.n_train + dinfo.n_test),
                                      (double)(dinfo.n_users + dinfo.n_items));
        double *share = eta_mem + 2 * n_cells; /* rolling origin: fold f trains on f + 1 of F + 1 blocks */
        for (int32_t f = 0; f < cvo.folds; f++) share[f] = f + 1.0;
        cli_eta_init(&lg.eta, n_cells, cvo.folds, eta_mem, cvo.by_time ? share : NULL, eta_mem + n_cells);
        cvo.on_fold = on_fold, cvo.user = &lg;
    }
    double t0 = cli_now();
    lg.t0 = t0;
    if (cf_cv_run(ds, &cfg, &cvo, &res, &err) != CF_OK) goto fail;
    double secs = cli_now() - t0;
    /* the phases: the folds' trainings, the refit of the best cell, the save */
    double t_refit = res.refit_report.seconds, t_folds = secs - t_refit, t_save = cli_now();
    cli_phase_line phase;
    cli_phase_line_init(&phase, oo.quiet);
    if (oo.model) cli_phase_show(&phase, "saving %s ...", oo.model);
    cf_status st = oo.model ? cf_model_save(res.model, oo.model, &err) : CF_OK;
    cli_phase_clear(&phase);
    if (st != CF_OK) goto fail;
    t_save = oo.model ? cli_now() - t_save : 0.0;
    if (svg_path && write_svg(svg_path, &g, &res, select_name, &err) != 0) goto fail;

    int bk = g.factors[res.best_k];
    double bl = g.lambdas[res.best_l];
    const int64_t bc = cf_cv_cell_index(&res, res.best_b, res.best_l, res.best_k); /* the best cell */
    char bb[48]; /* " bias-lambda=V" of the best cell, or "" */
    bias_text(&g, res.best_b, bb, sizeof bb);
    double bmean = res.mean[bc];
    double bstd = res.std[bc];
    if (oo.json) {
        int first = 1;
        FILE *o = stdout;
        fputc('{', o);
        json_key(o, &first, "data"), json_string(o, data);
        json_key(o, &first, "algo"), json_string(o, cf_algo_name(cfg.algo));
        json_key(o, &first, "folds"), fprintf(o, "%d", (int)cvo.folds);
        json_key(o, &first, "fold_split"), json_string(o, cli_split_names[fold_split]);
        json_key(o, &first, "unvalidated"), fprintf(o, "%lld", (long long)res.unvalidated);
        if (res.fold_from) {
            json_key(o, &first, "fold_from"), fputc('[', o);
            for (int f = 0; f < cvo.folds; f++) fprintf(o, "%s%lld", f ? "," : "", (long long)res.fold_from[f]);
            fputc(']', o);
        }
        json_key(o, &first, "seed"), fprintf(o, "%llu", (unsigned long long)cvo.seed);
        json_key(o, &first, "iters"), fprintf(o, "%d", (int)cv_iters(&cfg));
        json_key(o, &first, "reg"), json_string(o, cf_reg_name(cfg.reg));
        if (g.n_bias_lambdas > 0) {
            cf_config r;
            cf_config_resolve(&cfg, NULL, &r);
            json_key(o, &first, "bias_reg"), json_string(o, cf_reg_name(r.bias_reg));
        }
        json_key(o, &first, "select"), json_string(o, select_name ? select_name : "rmse");
        json_key(o, &first, "select_on"), json_string(o, select_on_names[select_on]);
        json_key(o, &first, "select_iters"), fputs(cvo.select_iters ? "true" : "false", o);
        json_key(o, &first, "relevant_min"), json_number(o, cvo.relevant_min);
        json_key(o, &first, "min_ratings"), fprintf(o, "%lld", (long long)cvo.rank_min_ratings);
        json_key(o, &first, "factors"), fputc('[', o);
        for (int k = 0; k < g.n_factors; k++) fprintf(o, "%s%d", k ? "," : "", (int)g.factors[k]);
        fputc(']', o);
        json_key(o, &first, "lambda"), fputc('[', o);
        for (int l = 0; l < g.n_lambdas; l++) fputs(l ? "," : "", o), json_number(o, g.lambdas[l]);
        fputc(']', o);
        if (g.n_bias_lambdas > 0) {
            json_key(o, &first, "bias_lambda"), fputc('[', o);
            for (int b = 0; b < g.n_bias_lambdas; b++) fputs(b ? "," : "", o), json_number(o, g.bias_lambdas[b]);
            fputc(']', o);
        }
        json_key(o, &first, "cells"), fputc('[', o);
        for (int64_t c = 0; c < (int64_t)res.n_bias_lambdas * g.n_lambdas * g.n_factors; c++) {
            const int k = (int)(c % g.n_factors), l = (int)(c / g.n_factors % g.n_lambdas);
            const int b = (int)(c / g.n_factors / g.n_lambdas);
            int f2 = 1;
            fputs(c ? ",{" : "{", o);
            json_key(o, &f2, "factors"), fprintf(o, "%d", (int)g.factors[k]);
            json_key(o, &f2, "lambda"), json_number(o, g.lambdas[l]);
            if (g.n_bias_lambdas > 0) json_key(o, &f2, "bias_lambda"), json_number(o, g.bias_lambdas[b]);
            json_cell_stats(o, &f2, "rmse", res.mean[c], res.std[c], res.fold_rmse + (int64_t)c * res.folds,
                            res.folds);
            if (select_name)
                json_cell_stats(o, &f2, "score", res.mean_score[c], res.std_score[c],
                                res.fold_score + (int64_t)c * res.folds, res.folds);
            if (res.cell_iters) {
                json_key(o, &f2, "iters"), fprintf(o, "%d", (int)res.cell_iters[c]);
                json_key(o, &f2, "mean_curve"), fputc('[', o);
                for (int t = 0; t < res.iters; t++)
                    fputs(t ? "," : "", o), json_number(o, res.mean_curve[(int64_t)c * res.iters + t]);
                fputc(']', o);
            }
            fputc('}', o);
        }
        fputc(']', o);
        json_key(o, &first, "best"), fputc('{', o);
        {
            int f2 = 1;
            json_key(o, &f2, "factors"), fprintf(o, "%d", bk);
            json_key(o, &f2, "lambda"), json_number(o, bl);
            if (g.n_bias_lambdas > 0) json_key(o, &f2, "bias_lambda"), json_number(o, g.bias_lambdas[res.best_b]);
            if (res.cell_iters) json_key(o, &f2, "iters"), fprintf(o, "%d", (int)res.cell_iters[bc]);
            json_key(o, &f2, "mean_rmse"), json_number(o, bmean);
            json_key(o, &f2, "std_rmse"), json_number(o, bstd);
            if (select_name) {
                json_key(o, &f2, "mean_score"), json_number(o, res.mean_score[bc]);
                json_key(o, &f2, "std_score"), json_number(o, res.std_score[bc]);
                json_key(o, &f2, "mean_minus_popular"), json_number(o, res.mean_minus_popular);
                json_key(o, &f2, "std_minus_popular"), json_number(o, res.std_minus_popular);
            }
        }
        fputc('}', o);
        if (select_name) {
            int f2 = 1;
            json_key(o, &first, "popular"), fputc('{', o);
            json_cell_stats(o, &f2, "score", res.mean_popular, res.std_popular, res.fold_popular, res.folds);
            fputc('}', o);
        }
        json_key(o, &first, "border"), fputs(res.border ? "true" : "false", o);
        json_key(o, &first, "refit_iters"), fprintf(o, "%d", (int)res.refit_report.iters);
        json_key(o, &first, "refit_train_rmse"), json_number(o, res.refit_report.train_rmse);
        json_key(o, &first, "seconds"), json_number(o, secs);
        json_key(o, &first, "phase_seconds"), fputc('{', o);
        {
            int f2 = 1;
            json_key(o, &f2, "read"), json_number(o, t_read);
            json_key(o, &f2, "folds"), json_number(o, t_folds);
            json_key(o, &f2, "refit"), json_number(o, t_refit);
            json_key(o, &f2, "save"), json_number(o, t_save);
        }
        fputc('}', o);
        json_key(o, &first, "model"), json_string(o, oo.model);
        json_key(o, &first, "svg"), json_string(o, svg_path);
        fputs("}\n", o);
    } else {
        /* the table of the measure that selects: RMSE, or the ranking measure */
        const double *tmean = select_name ? res.mean_score : res.mean, *tstd = select_name ? res.std_score : res.std;
        printf("mean ± std validation %s, %d-fold%s%s CV (%s, %s%d iterations", select_name ? select_name : "RMSE",
               (int)cvo.folds, fold_split ? " " : "", fold_kind[fold_split], cf_algo_name(cfg.algo),
               res.cell_iters ? "each cell at its best of " : "", (int)cv_iters(&cfg));
        if (cvo.rank_min_ratings)
            printf("; lists of the items fit to at least %lld ratings", (long long)cvo.rank_min_ratings);
        if (cvo.select_last) printf("; * the best by the last fold");
        printf(")\n");
        for (int b = 0; b < res.n_bias_lambdas; b++) { /* one table per λ_b */
            if (g.n_bias_lambdas > 0) printf("bias-lambda %g\n", g.bias_lambdas[b]);
            printf("%-10s", "lambda\\K");
            for (int k = 0; k < g.n_factors; k++) printf("  %19d", (int)g.factors[k]);
            putchar('\n');
            for (int l = 0; l < g.n_lambdas; l++) {
                printf("%-10g", g.lambdas[l]);
                for (int k = 0; k < g.n_factors; k++) {
                    const int64_t c = cf_cv_cell_index(&res, b, l, k);
                    printf("  %c%.6f ± %.6f", c == bc ? '*' : ' ', tmean[c], tstd[c]);
                }
                putchar('\n');
            }
        }
        if (res.cell_iters) { /* the iterations each cell's figure is at */
            printf("iterations  of each cell's least mean validation RMSE (the figures above)\n");
            for (int b = 0; b < res.n_bias_lambdas; b++) {
                if (g.n_bias_lambdas > 0) printf("bias-lambda %g\n", g.bias_lambdas[b]);
                for (int l = 0; l < g.n_lambdas; l++) {
                    printf("%-10g", g.lambdas[l]);
                    for (int k = 0; k < g.n_factors; k++)
                        printf("  %19d", (int)res.cell_iters[cf_cv_cell_index(&res, b, l, k)]);
                    putchar('\n');
                }
            }
        }
        if (select_name) {
            printf("best        K=%d lambda=%g%s: %s %.6f ± %.6f (RMSE %.6f ± %.6f)\n", bk, bl, bb, select_name,
                   tmean[bc], tstd[bc], bmean, bstd);
            printf("popular     %s %.6f ± %.6f: each fold's most rated items (eval --top's baseline); best − "
                   "popular %+.6f ± %.6f (paired by fold)\n",
                   select_name, res.mean_popular, res.std_popular, res.mean_minus_popular, res.std_minus_popular);
        } else if (res.cell_iters)
            printf("best        K=%d lambda=%g%s, %d iterations: RMSE %.6f ± %.6f\n", bk, bl, bb,
                   (int)res.cell_iters[bc], bmean, bstd);
        else
            printf("best        K=%d lambda=%g%s: RMSE %.6f ± %.6f\n", bk, bl, bb, bmean, bstd);
        if (cvo.by_time) { /* the folds grow: the last one trains on the most, as the refit will */
            const int64_t F = cvo.folds;
            const double last = (select_name ? res.fold_score : res.fold_rmse)[bc * F + F - 1];
            printf("last fold   K=%d lambda=%g%s: %s %.6f (trained on %s earliest %lld/%lld: the nearest to the "
                   "refit)\n",
                   bk, bl, bb, select_name ? select_name : "RMSE", last, cvo.by_user ? "each user's" : "the", (long long)F,
                   (long long)F + 1);
            printf("folds       rolling origin%s: each fold validated on a model of the ratings before it; "
                   "%lld ratings (%s first block) never validated\n",
                   cvo.by_user ? " per user" : "", (long long)res.unvalidated, cvo.by_user ? "each user's" : "the");
            for (int f = 0; f < cvo.folds && !cvo.by_user; f++) { /* per user there is no one cut */
                char when[40];
                printf("fold %-7dfrom time %lld%s\n", f + 1, (long long)res.fold_from[f],
                       cli_utc_text(res.fold_from[f], when));
            }
        } else if (cvo.by_user) {
            printf("folds       per user: %lld ratings of users with one rating never validated (always in training)\n",
                   (long long)res.unvalidated);
        }
        if (res.border) printf("warning     the best cell is on the border of the grid: enlarge the grid\n");
        printf("refit       K=%d lambda=%g%s, %d iterations, on all %lld ratings: train RMSE %.6f\n", bk, bl, bb,
               (int)res.refit_report.iters, (long long)res.refit_report.n_train, res.refit_report.train_rmse);
        printf("seconds     %.3f\n", secs);
        printf("phases      read %.3f, folds %.3f, refit %.3f, save %.3f s\n", t_read, t_folds, t_refit, t_save);
        printf("model       %s\n", oo.model ? oo.model : "not saved (use --model OUT)");
        if (svg_path) printf("heatmap     %s\n", svg_path);
    }
    fflush(stdout);
    free(eta_mem);
    cf_cv_result_free(&res);
    cf_dataset_destroy(&ds);
    return CLI_EXIT_OK;

fail:
    free(eta_mem);
    cf_cv_result_free(&res);
    cf_dataset_destroy(&ds);
    return cli_fail(&err);
}
