/*
 * config_opts.c — the one table of training options shared by train, cv, verify and demo (see
 * config_opts.h). Each entry points into the cf_config / cf_read_options of the caller,
 * so the help shows the library's defaults and the parser writes straight into them.
 */
#include "config_opts.h"

#include "cli.h"

#include <stdio.h>
#include <string.h>

void cli_config_opts_init(cli_config_opts *c, cf_config *cfg, cf_read_options *ropt) {
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->ropt = ropt;
    c->format = (int)ropt->format;
    c->algo = (int)cfg->algo;
    c->reg = (int)cfg->reg;
    c->bias_reg = (int)cfg->bias_reg;
    c->device = (int)cfg->device;
    c->lr_schedule = (int)cfg->lr_schedule;
    c->schedule = (int)cfg->schedule;
    c->optimizer = (int)cfg->optimizer;
    c->precision = (int)cfg->precision;
    c->als_solver = (int)cfg->als_solver;
    c->als_gram = (int)cfg->als_gram;
}

int cli_config_read_opts(cli_config_opts *c, cli_opt *out) {
    const cli_opt t[] = {
        {.name = "format", .kind = CLI_CHOICE, .dest = &c->format, .choices = cli_format_names,
         .help = "input format (auto: Matrix Market if the banner says so, else delimited; a gzip-compressed file is "
                 "decompressed first whatever the choice)"},
        {.name = "skip-bad-lines", .kind = CLI_FLAG, .dest = &c->ropt->skip_bad_lines, .flag_value = 1,
         .help = "skip and count malformed lines instead of failing"},
    };
    int n = (int)(sizeof t / sizeof *t);
    memcpy(out, t, sizeof t);
    return n;
}

int cli_config_device_opts(cli_config_opts *c, cli_opt *out) {
    cf_config *cfg = c->cfg;
    const cli_opt t[] = {
        {.name = "device", .kind = CLI_CHOICE, .dest = &c->device, .choices = cli_device_names(),
         .help = "auto: the GPU when usable, else the CPU with a notice"},
        {.name = "gpu-id", .kind = CLI_I32, .dest = &cfg->gpu_id, .metavar = "N", .help = "CUDA device number"},
        {.name = "gpu-mem-limit", .kind = CLI_BYTES, .dest = &cfg->gpu_mem_limit, .metavar = "BYTES",
         .lo = (int64_t)CF_GPU_MEM_LIMIT_MIN,
         .help = "GPU memory to plan with (e.g. 512M, 2G; 0 = all that is free); too little: auto uses the CPU"},
    };
    memcpy(out, t, sizeof t);
    return (int)(sizeof t / sizeof *t);
}

int cli_config_train_opts(cli_config_opts *c, cli_opt *out, unsigned groups, const char *model_title) {
    cf_config *cfg = c->cfg;
    int n = 0;
#define ADD(...) (out[n++] = (cli_opt){__VA_ARGS__})
    ADD(.kind = CLI_SECTION, .name = model_title);
    ADD(.name = "algo", .kind = CLI_CHOICE, .dest = &c->algo, .choices = cli_algo_names(), .help = "algorithm");
    if (groups & CLI_CFG_FACTORS_LAMBDA)
        ADD(.name = "factors", .kind = CLI_I32, .dest = &cfg->factors, .metavar = "K", .help = "latent factors K");
    ADD(.name = "iters", .kind = CLI_I32, .dest = &cfg->iters, .metavar = "N", .help = "iterations (ALS sweeps, epochs); 0 = per --algo: als, alsgd, ccd, sgd 15; gd 50; minibatch 5");
    if (groups & CLI_CFG_FACTORS_LAMBDA)
        ADD(.name = "lambda", .kind = CLI_DOUBLE, .dest = &cfg->lambda, .metavar = "L",
            .help = "regularization strength λ");
    ADD(.name = "reg", .kind = CLI_CHOICE, .dest = &c->reg, .choices = cli_reg_names(),
        .help = "λ weighting: plain λ (SGD: λ/n_row per rating), weighted λ·n_row (= LIBMF's per-rating l2), mean λ·|Ω|");
    if (groups & CLI_CFG_FACTORS_LAMBDA)
        ADD(.name = "bias-lambda", .kind = CLI_DOUBLE, .dest = &cfg->bias_lambda, .metavar = "L", .no_default = 1,
            .help = "λ_b of the biases b_u, b_i (default: --lambda); e.g. --bias-reg plain --bias-lambda 25 shrinks a bias "
                    "fit to few ratings toward 0 (b_i ≈ Σ(r − μ)/(λ_b + n_i)), which keeps rarely rated items out of top-N lists");
    ADD(.name = "bias-reg", .kind = CLI_CHOICE, .dest = &c->bias_reg, .choices = cli_bias_reg_names(),
        .help = "weighting of λ_b, as --reg (same: --reg's)");
    ADD(.name = "no-bias", .kind = CLI_FLAG, .dest = &cfg->bias, .flag_value = 0,
        .help = "no μ, b_u, b_i: r̂ = p_u·q_i (biases are on by default)");
    ADD(.name = "tol", .kind = CLI_DOUBLE, .dest = &cfg->tol, .metavar = "T",
        .help = "stop when the relative objective change is below T (0 = off)");
    ADD(.name = "init-scale", .kind = CLI_DOUBLE, .dest = &cfg->init_scale, .metavar = "S",
        .help = "initial factors ~ N(0, S²/K)");
    ADD(.name = "seed", .kind = CLI_U64, .dest = &cfg->seed, .metavar = "S",
        .help = "seed of the initialization and of the split / folds");
    if (groups & CLI_CFG_SELECTION) {
        ADD(.name = "restarts", .kind = CLI_I32, .dest = &cfg->restarts, .metavar = "R",
            .help = "random initializations, the best is kept (by the held-out RMSE: --validation's part, else the test part)");
        ADD(.name = "early-stop", .kind = CLI_I32, .dest = &cfg->early_stop, .metavar = "P",
            .help = "stop after P iterations without a better held-out RMSE (--validation's part, else the test part), keeping the best (0 = off)");
    }
    ADD(.kind = CLI_SECTION, .name = "gradient methods (sgd, gd, minibatch; alsgd uses its own safe step)");
    ADD(.name = "lr", .kind = CLI_DOUBLE, .dest = &cfg->lr, .metavar = "E",
        .help = "learning rate η_0; 0 = chosen: sgd 0.2 (0.1 with --no-bias) with --lr-schedule invscale, "
                "gd/minibatch with Adam 0.02, plain 1/(4 max_row(2n+Λ))");
    ADD(.name = "lr-schedule", .kind = CLI_CHOICE, .dest = &c->lr_schedule, .choices = cli_lr_schedule_names,
        .help = "constant, or η_t = η_0/(1 + β t^1.5) (sgd without --lr: invscale)");
    ADD(.name = "lr-decay", .kind = CLI_DOUBLE, .dest = &cfg->lr_decay, .metavar = "B",
        .help = "β of the invscale schedule");
    ADD(.name = "schedule", .kind = CLI_CHOICE, .dest = &c->schedule, .choices = cli_schedule_names,
        .help = "SGD order of updates");
    ADD(.name = "blocks", .kind = CLI_I32, .dest = &cfg->blocks, .metavar = "B",
        .help = "B×B blocks of the blocks schedule");
    ADD(.name = "batch", .kind = CLI_I64, .dest = &cfg->batch, .metavar = "N",
        .help = "mini-batch size (0 = a twentieth of the training ratings)");
    ADD(.name = "optimizer", .kind = CLI_CHOICE, .dest = &c->optimizer, .choices = cli_optimizer_names,
        .help = "gradient step rule of gd, minibatch (auto: adam when --lr is not given, else plain)");
    ADD(.name = "inner", .kind = CLI_I32, .dest = &cfg->inner, .metavar = "L", .help = "gradient steps per block (alsgd)");
    ADD(.kind = CLI_SECTION, .name = "execution");
    n += cli_config_device_opts(c, out + n);
    ADD(.name = "precision", .kind = CLI_CHOICE, .dest = &c->precision, .choices = cli_precision_names,
        .help = "fp32: the GPU, or the CPU's SIMD path (als, sgd; the others run in fp64); fp64: the CPU's "
                "double-precision reference; fp16: factor storage for --algo sgd on the GPU");
    ADD(.name = "als-solver", .kind = CLI_CHOICE, .dest = &c->als_solver, .choices = cli_als_solver_names,
        .help = "GPU ALS solve: cuSOLVER batched potrf/potrs, or the fused shared-memory Cholesky "
                "(K + bias <= 129, cuSOLVER beyond); the CPU ignores it");
    ADD(.name = "als-gram", .kind = CLI_CHOICE, .dest = &c->als_gram, .choices = cli_als_gram_names,
        .help = "GPU ALS Gram kernel: simt (FP32 FMA), or tc (tensor cores, 3xTF32, fp32-grade accuracy; "
                "sm_80+, K + bias <= 767, simt otherwise); simt stays the default until a GPU measures tc "
                "faster; the CPU ignores it");
    ADD(.name = "threads", .kind = CLI_I32, .dest = &cfg->threads, .metavar = "T",
        .help = "CPU threads reading, preparing and training (0 = all cores)");
#undef ADD
    return n;
}

void cli_config_opts_apply(const cli_config_opts *c) {
    c->ropt->format = (cf_format)c->format;
    c->ropt->threads = c->cfg->threads; /* --threads also sets the reader's (0: all cores) */
    c->cfg->algo = (cf_algo)c->algo;
    c->cfg->reg = (cf_reg)c->reg;
    c->cfg->bias_reg = (cf_reg)c->bias_reg;
    c->cfg->device = (cf_device)c->device;
    c->cfg->lr_schedule = (cf_lr_schedule)c->lr_schedule;
    c->cfg->schedule = (cf_sgd_schedule)c->schedule;
    c->cfg->optimizer = (cf_optimizer)c->optimizer;
    c->cfg->precision = (cf_precision)c->precision;
    c->cfg->als_solver = (cf_als_solver)c->als_solver;
    c->cfg->als_gram = (cf_als_gram)c->als_gram;
}

int cli_output_opts_add(cli_output_opts *o, cli_opt *out, const char *model_help, const cli_opt *own, int n_own,
                        const char *json_help) {
    int n = 0;
    out[n++] = (cli_opt){.kind = CLI_SECTION, .name = "output"};
    if (model_help)
        out[n++] = (cli_opt){.name = "model", .kind = CLI_STR, .dest = &o->model, .metavar = "OUT", .help = model_help};
    for (int k = 0; k < n_own; k++) out[n++] = own[k];
    out[n++] = (cli_opt){.name = "json", .kind = CLI_FLAG, .dest = &o->json, .flag_value = 1, .help = json_help};
    out[n++] = (cli_opt){.name = "quiet", .kind = CLI_FLAG, .dest = &o->quiet, .flag_value = 1,
                         .help = "print nothing to stderr but errors"};
    return n;
}

int cli_split_opts(cli_split *s, cli_opt *out) {
    const cli_opt t[] = {
        {.name = "test", .kind = CLI_STR, .dest = &s->test_file, .metavar = "FILE",
         .help = "held-out ratings from a file instead of a random split"},
        {.name = "test-ratio", .kind = CLI_DOUBLE, .dest = &s->test_ratio, .metavar = "F",
         .help = "fraction of DATA held out as --test-split says, seeded by --seed (0 = no test part)"},
        {.name = "test-split", .kind = CLI_CHOICE, .dest = &s->mode, .choices = cli_split_names,
         .help = "random: that fraction of all ratings; user: of each user's ratings, every user keeping at "
                 "least one in training (so every test user is known); time: the latest fraction of all "
                 "ratings; user-time: each user's latest (the time splits read DATA's fourth column as an "
                 "integer timestamp)"},
    };
    memcpy(out, t, sizeof t);
    return (int)(sizeof t / sizeof *t);
}

int cli_split_check(const cli_split *s, const cli_spec *spec) {
    if (cli_find(spec, "test")->seen && cli_find(spec, "test-ratio")->seen)
        return cli_usage_error(spec, "--test and --test-ratio exclude each other");
    if (cli_find(spec, "test")->seen && cli_find(spec, "test-split")->seen)
        return cli_usage_error(spec, "--test and --test-split exclude each other (the file is the test part)");
    if (!(s->test_ratio >= 0.0 && s->test_ratio < 1.0))
        return cli_usage_error(spec, "--test-ratio: %g is out of range: must be in [0, 1)", s->test_ratio);
    return -1;
}

int cli_split_timed(const cli_split *s) {
    return !s->test_file && s->test_ratio > 0 && (s->mode == CLI_SPLIT_TIME || s->mode == CLI_SPLIT_USER_TIME);
}

/* Moves `ratio` of ds's training part into its test part as `mode` (CLI_SPLIT_*) says. */
static cf_status split_by(cf_dataset *ds, int mode, double ratio, uint64_t seed, int threads, int64_t *cutoff,
                          cf_error *err) {
    switch (mode) {
    case CLI_SPLIT_USER: return cf_dataset_split_per_user(ds, ratio, seed, threads, err);
    case CLI_SPLIT_TIME: return cf_dataset_split_time(ds, ratio, threads, cutoff, err);
    case CLI_SPLIT_USER_TIME: return cf_dataset_split_per_user_time(ds, ratio, seed, threads, err);
    default: return cf_dataset_split_threads(ds, ratio, seed, threads, err);
    }
}

/* How a share was held out, for the "split:" and "validation:" lines: "the latest F: from
 * time T (UTC) on" for CLI_SPLIT_TIME (cutoff: the earliest held-out time), else "random F",
 * "per user F" or "latest per user F". */
static void print_split_kind(FILE *f, int mode, double ratio, int64_t cutoff) {
    if (mode == CLI_SPLIT_TIME) {
        char when[40];
        fprintf(f, "the latest %g: from time %lld%s on", ratio, (long long)cutoff, cli_utc_text(cutoff, when));
        return;
    }
    fprintf(f, "%s %g", mode == CLI_SPLIT_USER ? "per user" : mode == CLI_SPLIT_USER_TIME ? "latest per user" : "random",
            ratio);
}

cf_status cli_read_split(const char *data, cli_split *s, const cf_read_options *ropt, uint64_t seed,
                         int quiet, cf_dataset **out, cf_dataset_info *info, double *split_seconds,
                         cf_error *err) {
    cf_dataset *ds = NULL;
    cf_read_report rrep;
    double t0 = cli_now();
    cf_read_options timed = *ropt; /* a time split reads the fourth column */
    timed.timestamps = cli_split_timed(s);
    cf_status st = cli_dataset_read(data, &timed, quiet, &ds, &rrep, err);
    if (st) return st;
    if (!quiet) cli_print_read("read", data, &rrep);
    if (s->test_file) {
        if ((st = cli_dataset_read_test(ds, s->test_file, ropt, quiet, &rrep, err))) goto fail;
        if (!quiet) cli_print_read("test", s->test_file, &rrep);
    }
    double t_split = cli_now();
    if (!s->test_file && s->test_ratio > 0 &&
        (st = split_by(ds, s->mode, s->test_ratio, seed, ropt->threads, &s->cutoff, err)))
        goto fail;
    cf_dataset_info_get_threads(ds, ropt->threads, info);
    if (split_seconds) *split_seconds = cli_now() - t_split;
    if (!quiet) {
        fprintf(stderr, "data: %lld users, %lld items (%.2f s to read)\n", (long long)info->n_users,
                (long long)info->n_items, t_split - t0);
        if (s->test_file)
            fprintf(stderr, "split: %lld train, %lld test from %s", (long long)info->n_train,
                    (long long)info->n_test, s->test_file);
        else if (s->test_ratio > 0) {
            fprintf(stderr, "split: %lld train, %lld test (", (long long)info->n_train, (long long)info->n_test);
            print_split_kind(stderr, s->mode, s->test_ratio, s->cutoff);
            if (s->mode != CLI_SPLIT_TIME) fprintf(stderr, ", seed %llu", (unsigned long long)seed);
            fputc(')', stderr);
        } else
            fprintf(stderr, "split: %lld train, no test part", (long long)info->n_train);
        if (info->n_test > 0)
            fprintf(stderr, "; %lld test ratings have a user or item unseen in training", (long long)info->test_unseen);
        fputc('\n', stderr);
    }
    *out = ds;
    return CF_OK;
fail:
    cf_dataset_destroy(&ds);
    return st;
}

cf_status cli_validation_split(const cf_dataset *ds, const cli_split *s, double ratio, uint64_t seed, int threads,
                               int quiet, cf_dataset **fit, cf_error *err) {
    const int mode = s->test_file ? CLI_SPLIT_RANDOM : s->mode;
    int64_t cutoff = INT64_MAX;
    cf_status st = cf_dataset_train_copy(ds, threads, fit, err);
    if (st == CF_OK) st = split_by(*fit, mode, ratio, seed ^ CLI_VALIDATION_STREAM, threads, &cutoff, err);
    if (st) {
        cf_dataset_destroy(fit);
        return st;
    }
    cf_dataset_info in;
    cf_dataset_info_get_threads(*fit, threads, &in);
    if (in.n_test == 0) {
        cf_dataset_destroy(fit);
        err->status = CF_ERR_INVALID;
        snprintf(err->msg, sizeof err->msg,
                 "--validation %g holds out no rating of the %lld in the training part: nothing to choose on; give a "
                 "larger fraction",
                 ratio, (long long)in.n_train);
        return CF_ERR_INVALID;
    }
    if (!quiet) {
        fprintf(stderr, "validation: %lld of the %lld training ratings (", (long long)in.n_test,
                (long long)(in.n_train + in.n_test));
        print_split_kind(stderr, mode, ratio, cutoff);
        fprintf(stderr, ") held out to choose the iteration and the run; the test part is not seen until the end\n");
    }
    return CF_OK;
}
