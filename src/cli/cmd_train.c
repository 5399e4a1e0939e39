/*
 * cmd_train.c — `cufactor train DATA`: read a ratings file, hold out a test part (a
 * seeded random fraction or a second file), train, print one line per iteration to
 * stderr and a summary (or one JSON object) to stdout, and save the model only after
 * training succeeded (cf_model_save writes atomically).
 *
 * Checkpoints: --checkpoint FILE [--checkpoint-every N] writes the training state every
 * N iterations and when stopped by Ctrl-C / SIGTERM (interrupt.c: exit 130; on the CPU the
 * partial iteration abandoned and the last completed one checkpointed, on the GPU the
 * iteration finished and checkpointed; --model not written then); --resume FILE continues from one: the settings come from the
 * checkpoint, and the options given on the command line override them (the library
 * refuses any change but --iters, --threads, --device, --gpu-id).
 */
#include "args.h"
#include "cli.h"
#include "config_opts.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The history of the iterations (printed unless --quiet), preceded once by the library's
 * device notice (set before the first iteration: auto fell back to the CPU), so that it
 * shows before the iterations. */
typedef struct train_progress {
    const cf_train_report *rep;
    int notice_shown;
    cli_history hist;
} train_progress;

static int progress_with_notice(const cf_iter_info *info, void *user) {
    train_progress *p = user;
    if (p->hist.print && !p->notice_shown && p->rep->notice[0]) {
        fprintf(stderr, "notice: %s\n", p->rep->notice);
        p->notice_shown = 1;
    }
    return cli_history_record(info, &p->hist);
}

int cmd_train(int argc, char **argv) {
    cf_config cfg;
    cf_config_default(&cfg);
    cf_read_options ropt;
    cf_read_options_default(&ropt);

    cli_split split = {.test_file = NULL, .test_ratio = 0.1};
    const char *init_path = NULL;
    int lr_continued = 0; /* --init: the step set from MODEL's last one */
    cf_train_options topt;
    cf_train_options_default(&topt);
    cli_output_opts oo = {NULL, 0, 0};
    cli_config_opts co;
    cli_config_opts_init(&co, &cfg, &ropt);

    cli_opt opts[CLI_CONFIG_MAX_OPTS + 16];
    int n = 0;
    opts[n++] = (cli_opt){.kind = CLI_SECTION, .name = "data"};
    n += cli_split_opts(&split, opts + n);
    double validation = 0;
    opts[n++] = (cli_opt){.name = "validation", .kind = CLI_DOUBLE, .dest = &validation, .metavar = "F",
                          .help = "fraction of the training part held out, split as --test-split says (random with "
                                  "--test FILE), to choose --early-stop's iteration and --restarts' run: the test "
                                  "part then stays unseen until the final figures (0 = off: they are chosen on the "
                                  "test part)"};
    int refit = 0;
    opts[n++] = (cli_opt){.name = "refit", .kind = CLI_FLAG, .dest = &refit, .flag_value = 1,
                          .help = "with --validation: then train again on the whole training part for the iterations "
                                  "chosen (the best with --early-stop, else those run) from the kept run's "
                                  "initialization; the model is that one"};
    n += cli_config_read_opts(&co, opts + n);
    n += cli_config_train_opts(&co, opts + n, CLI_CFG_ALL, "model");
    const cli_opt out_opts[] = {
        {.kind = CLI_SECTION,
         .name = "checkpoints (Ctrl-C: the CPU abandons the current iteration and checkpoints the last completed "
                 "one, the GPU finishes the iteration and checkpoints it; exit 130)"},
        {.name = "checkpoint", .kind = CLI_STR, .dest = &topt.checkpoint, .metavar = "FILE",
         .help = "write the training state here (atomically) every N iterations and on Ctrl-C"},
        {.name = "checkpoint-every", .kind = CLI_I32, .dest = &topt.checkpoint_every, .metavar = "N", .lo = 0,
         .hi = 1000000, .help = "iterations between checkpoints (0 = only on Ctrl-C / SIGTERM)"},
        {.name = "resume", .kind = CLI_STR, .dest = &topt.resume, .metavar = "FILE",
         .help = "continue the training saved in FILE with its settings (only --iters, --threads, --device, --gpu-id may change)"},
        {.kind = CLI_SECTION, .name = "warm start"},
        {.name = "init", .kind = CLI_STR, .dest = &init_path, .metavar = "MODEL",
         .help = "start from MODEL's rows for the users and items it has, the others drawn; MODEL's settings "
                 "but where to run (--device, --threads, ...) are the defaults (a retraining after new ratings)"},
    };
    memcpy(opts + n, out_opts, sizeof out_opts);
    n += (int)(sizeof out_opts / sizeof *out_opts);
    int32_t top = 0;
    double relevant_min = NAN;
    int64_t min_ratings = 0;
    const cli_opt rank_opts[] = {
        {.name = "top", .kind = CLI_I32, .dest = &top, .metavar = "N", .lo = 0, .hi = 1000000,
         .help = "after training, rank the test part by each user's top N, beside popularity (as eval --top; 0 = off)"},
        {.name = "relevant-min", .kind = CLI_DOUBLE, .dest = &relevant_min, .metavar = "R", .no_default = 1,
         .help = "with --top: a test rating counts as relevant when >= R (default: every rating)"},
        {.name = "min-ratings", .kind = CLI_I64, .dest = &min_ratings, .metavar = "M", .lo = 0, .hi = INT64_MAX,
         .help = "with --top: rank only the items fit to at least M training ratings, as recommend --min-ratings "
                 "(0 = every item)"},
    };
    n += cli_output_opts_add(&oo, opts + n, "save the trained model here (.cfm, written atomically)", rank_opts,
                             (int)(sizeof rank_opts / sizeof *rank_opts),
                             "print one JSON object to stdout instead of the summary");
    static const char *const positional[] = {"DATA", NULL};
    cli_spec spec = {
        .cmd = "train",
        .args = "DATA [options]",
        .summary = "Train a matrix-factorization model r̂ = μ + b_u + b_i + p_u·q_i on the ratings in DATA\n"
                   "(lines \"user item rating [ignored...]\" separated by tab, comma, space or '::', Matrix\n"
                   "Market, or a binary dataset from convert; any of them may be gzip-compressed). Prints one\n"
                   "line per iteration to stderr and a summary to stdout.",
        .positional = positional,
        .opts = opts,
        .n_opts = n,
        .notes = "Test pairs whose user or item has no training rating (\"unseen\") are predicted with\n"
                 "μ and the known bias (μ, the training mean, with --no-bias); the model keeps rows for\n"
                 "training IDs only. --reg and other tools: LIBMF's per-rating l2 (λ once per rating of\n"
                 "a row) is --reg weighted (λ·n_row, the default); plain charges λ once per row, so an\n"
                 "SGD step uses λ/n_row; mean takes the λ of the course form (1/|Ω|)Σe² + λΣ‖·‖².\n"
                 "Defaults per --algo: iterations als, alsgd, ccd, sgd 15, gd 50, minibatch 5; step sgd\n"
                 "η_0 0.2 (0.1 with --no-bias) decaying as invscale (--lr-decay 0.3), gd and minibatch\n"
                 "Adam --lr 0.02 (minibatch: 20 batches per epoch); an explicit --lr is used as given,\n"
                 "constant unless --lr-schedule says otherwise, plain unless --optimizer adam.",
    };
    const char *data = NULL;
    int rc = cli_parse(&spec, argc, argv, &data);
    if (rc >= 0) return rc;

    if ((rc = cli_split_check(&split, &spec)) >= 0) return rc;
    if (!(validation >= 0.0 && validation < 1.0))
        return cli_usage_error(&spec, "--validation: %g is out of range: must be in [0, 1)", validation);
    if (refit && validation == 0)
        return cli_usage_error(&spec, "--refit retrains after a choice on --validation F: give --validation");
    if (refit && (cli_find(&spec, "checkpoint")->seen || cli_find(&spec, "resume")->seen))
        return cli_usage_error(&spec, "--refit trains twice; a checkpoint holds one training: not with --checkpoint "
                                      "or --resume");
    if (!top && !isnan(relevant_min)) return cli_usage_error(&spec, "--relevant-min needs --top N");
    if (!top && min_ratings) return cli_usage_error(&spec, "--min-ratings needs --top N");
    if (top && !split.test_file && split.test_ratio == 0)
        return cli_usage_error(&spec, "--top ranks the test part: give --test FILE or a --test-ratio above 0");
    cf_error err = {0};
    if (init_path && topt.resume)
        return cli_usage_error(&spec, "--init and --resume: a resumed training continues from its checkpoint");
    if (topt.resume) {
        /* the checkpoint's settings, then the options given here on top of them */
        cf_checkpoint_info ck;
        if (cf_checkpoint_info_get(topt.resume, &ck, &err) != CF_OK) return cli_fail(&err);
        cfg = ck.config;
        cli_config_opts_init(&co, &cfg, &ropt);
        if ((rc = cli_parse(&spec, argc, argv, &data)) >= 0) return rc;
        if (!topt.checkpoint) topt.checkpoint = topt.resume; /* keep saving where it came from */
        if (cfg.iters <= ck.iter) /* nothing would be trained: the model would be the checkpoint's */
            return cli_usage_error(&spec,
                                   "--resume %s: the checkpoint is at iteration %d of run %d, so --iters %d "
                                   "leaves nothing to train; give --iters above %d",
                                   topt.resume, (int)ck.iter, (int)ck.restart + 1, (int)cfg.iters, (int)ck.iter);
        if (!oo.quiet)
            fprintf(stderr, "resume: %s: run %d of %d at iteration %d\n", topt.resume, (int)ck.restart + 1,
                    (int)ck.config.restarts, (int)ck.iter);
    }
    cf_model *init = NULL;
    if (init_path) {
        /* MODEL's settings, then the options given here on top of them (as --resume) */
        if (cf_model_load(init_path, &init, &err) != CF_OK) return cli_fail(&err);
        /* the model's, but where to run is this machine's (the defaults, or as given) */
        cf_config here;
        cf_config_default(&here);
        cfg = *cf_model_config(init);
        cfg.device = here.device, cfg.gpu_id = here.gpu_id, cfg.gpu_mem_limit = here.gpu_mem_limit;
        cfg.threads = here.threads;
        cli_config_opts_init(&co, &cfg, &ropt);
        if ((rc = cli_parse(&spec, argc, argv, &data)) >= 0) {
            cf_model_destroy(&init);
            return rc;
        }
        topt.init = init;
        /* a decaying step continues where MODEL's schedule ended, unless --lr is given: its
         * first rate would throw the warm rows far off (the schedule's point) */
        if (!cli_find(&spec, "lr")->seen && cfg.lr_schedule == CF_LR_INVSCALE)
            lr_continued = cf_config_continue_lr(&cfg, cf_model_config(init));
    }
#define EARLY(x) \
    do {         \
        rc = (x); \
        goto early; \
    } while (0)
    if (cli_find(&spec, "checkpoint-every")->seen && !topt.checkpoint)
        EARLY(cli_usage_error(&spec, "--checkpoint-every needs --checkpoint FILE (or --resume FILE)"));
    cli_config_opts_apply(&co);
    if (cf_config_validate(&cfg, &err) != CF_OK) EARLY(cli_usage_error(&spec, "%s", err.msg));
    if (cli_check_device(cfg.device) != CLI_EXIT_OK) EARLY(CLI_EXIT_ERROR);
    if (oo.model && topt.checkpoint && cli_same_file(oo.model, topt.checkpoint))
        EARLY(cli_usage_error(&spec, "--model %s and the checkpoint %s%s are the same file: give them different paths",
                              oo.model, topt.checkpoint,
                              topt.resume && topt.checkpoint == topt.resume ? " (from --resume)" : ""));
    /* an unwritable --model fails now, not after the training */
    if (oo.model && cli_check_binary_output(oo.model, "--model", "a model") != CLI_EXIT_OK) EARLY(CLI_EXIT_ERROR);
    if (topt.checkpoint && cli_check_binary_output(topt.checkpoint, "--checkpoint", "a checkpoint") != CLI_EXIT_OK)
        EARLY(CLI_EXIT_ERROR);
#undef EARLY

    /* ---- data */
    cf_dataset *ds = NULL, *fit = NULL; /* fit: with --validation, the training part less the validation part */
    cf_model *model = NULL;
    cf_train_report rep, sel; /* the model's training; with --refit, sel is the choosing run's */
    memset(&rep, 0, sizeof rep);
    memset(&sel, 0, sizeof sel);
    train_progress tp = {&rep, 0, {.print = oo.quiet ? NULL : stderr, .validation = validation > 0}};
    cli_history refit_hist = {.print = oo.quiet ? NULL : stderr};
    int32_t refit_iters = 0, refit_run = 0;
    uint64_t refit_seed = 0;
    cf_dataset_info info;
    double t_read = cli_now(), t_split = 0; /* the split is preparation (with cf_train's) */
    /* CUDA starts while the file is read */
    cli_gpu_warm warm;
    cli_gpu_warm_start(&warm, cfg.device, cfg.gpu_id);
    cf_status read_st = cli_read_split(data, &split, &ropt, cfg.seed, oo.quiet, &ds, &info, &t_split, &err);
    t_read = cli_now() - t_read - t_split;
    if (read_st == CF_OK && validation > 0) {
        double t = cli_now();
        read_st = cli_validation_split(ds, &split, validation, cfg.seed, ropt.threads, oo.quiet, &fit, &err);
        t_split += cli_now() - t;
    }
    cli_gpu_warm_wait(&warm);
    if (read_st != CF_OK) goto fail;
    /* what the trainer sees: its test part is the validation part with --validation */
    const cf_dataset *tds = fit ? fit : ds;
    /* the settings left to be chosen (iters, lr, batch, optimizer), as cf_train chooses them */
    cf_config_resolve(&cfg, tds, &cfg);

    /* ---- device notice, before the iterations (the library repeats it in rep.notice) */
    int notice_shown = oo.quiet ? 0 : cli_device_notice(cfg.device, stderr, "");
    if (!oo.quiet)
        fprintf(stderr, "train: %s, K=%d, %d iterations, lambda=%g (%s), bias %s, seed %llu\n", cf_algo_name(cfg.algo),
                (int)cfg.factors, (int)cfg.iters, cfg.lambda, cf_reg_name(cfg.reg), cfg.bias ? "on" : "off",
                (unsigned long long)cfg.seed);
    if (!oo.quiet && (cfg.algo == CF_ALGO_SGD || cfg.algo == CF_ALGO_GD || cfg.algo == CF_ALGO_MINIBATCH))
        fprintf(stderr, "step: lr %g%s%s", cfg.lr,
                cfg.algo == CF_ALGO_SGD ? "" : cfg.optimizer == CF_OPT_ADAM ? ", adam" : ", plain",
                cfg.algo == CF_ALGO_MINIBATCH ? "" : "\n");
    if (!oo.quiet && cfg.algo == CF_ALGO_MINIBATCH) fprintf(stderr, ", batch %lld\n", (long long)cfg.batch);
    if (!oo.quiet && init_path)
        fprintf(stderr, "init: %s: its rows start the users and items it has; its settings are the defaults%s\n",
                init_path, lr_continued ? "; the step continues where its schedule ended (--lr sets another)" : "");

    /* ---- train, then save */
    topt.stop = cli_interrupt_install(
        oo.quiet ? NULL
                 : "\ncufactor: interrupt: stopping; the current iteration is abandoned (once more to abort at once)\n");
    tp.notice_shown = notice_shown;
    cli_phase_line phase;
    cli_phase_line_init(&phase, oo.quiet);
    topt.phase = cli_phase_progress, topt.phase_user = &phase;
    cf_status st = cf_train_ex(tds, &cfg, &topt, progress_with_notice, &tp, &model, &rep, &err);
    cli_phase_clear(&phase); /* a phase that failed (no end call) */
    notice_shown = tp.notice_shown;
    cli_interrupt_restore();
    if (st == CF_ERR_INTERRUPTED) { /* no --model: the checkpoint is the way to keep the work */
        fprintf(stderr, "cufactor: %s\n", err.msg);
        if (topt.checkpoint) /* the command that finishes the job, --model included */
            fprintf(stderr, "cufactor: continue with: cufactor train %s --resume %s%s%s (same data options)\n", data,
                    topt.checkpoint, oo.model ? " --model " : "", oo.model ? oo.model : "");
        rc = CLI_EXIT_INTERRUPTED;
        goto done;
    }
    if (st != CF_OK) goto fail;
    if (!oo.quiet && !notice_shown && rep.notice[0]) fprintf(stderr, "notice: %s\n", rep.notice);
    sel = rep;
    if (refit) {
        /* the iterations chosen on the validation part: the kept model's (with --early-stop
         * the best one), from the kept run's initialization */
        refit_iters = rep.model_iter, refit_run = rep.restart;
        cf_config rcfg = cfg;
        rcfg.iters = refit_iters, rcfg.early_stop = 0, rcfg.tol = 0, rcfg.restarts = 1;
        rcfg.seed = refit_seed = cf_config_restart_seed(&cfg, refit_run);
        if (!oo.quiet)
            fprintf(stderr, "refit: the whole training part (%lld ratings), %d iterations, run %d's initialization\n",
                    (long long)info.n_train, (int)refit_iters, (int)refit_run + 1);
        cf_model_destroy(&model);
        cf_train_options ro = topt;
        ro.checkpoint = NULL;
        ro.stop = cli_interrupt_install(oo.quiet ? NULL : "\ncufactor: interrupt: stopping the refit\n");
        st = cf_train_ex(ds, &rcfg, &ro, cli_history_record, &refit_hist, &model, &rep, &err);
        cli_phase_clear(&phase);
        cli_interrupt_restore();
        if (st == CF_ERR_INTERRUPTED) {
            fprintf(stderr, "cufactor: %s\n", err.msg);
            rc = CLI_EXIT_INTERRUPTED;
            goto done;
        }
        if (st != CF_OK) goto fail;
        /* the phases of both trainings */
        rep.seconds += sel.seconds, rep.seconds_prepare += sel.seconds_prepare;
        rep.seconds_upload += sel.seconds_upload, rep.seconds_iterations += sel.seconds_iterations;
        rep.seconds_eval += sel.seconds_eval;
    }
    double t_save = cli_now();
    if (oo.model) cli_phase_show(&phase, "saving %s ...", oo.model);
    st = oo.model ? cf_model_save(model, oo.model, &err) : CF_OK;
    cli_phase_clear(&phase);
    if (st != CF_OK) goto fail;
    t_save = oo.model ? cli_now() - t_save : 0.0;

    /* ---- the test RMSE's standard error (clustered by user; the RMSE is the trainer's);
     * with --validation the trainer's held-out figures are the validation part's, and the
     * test part is evaluated here, once, on the model trained */
    const int by_trainer = !fit || refit; /* the model's training saw the test part (and chose nothing on it) */
    cf_eval_report tev = {.rmse_se = NAN};
    if (info.n_test > 0 && cf_model_evaluate_part(model, ds, 1, &tev, &err) != CF_OK) goto fail;
    const double test_rmse = info.n_test == 0 ? NAN : by_trainer ? rep.test_rmse : tev.rmse;
    const int64_t n_test = info.n_test, test_unseen = by_trainer ? rep.test_unseen : tev.unseen;

    /* ---- ranking of the test part (--top) */
    cf_rank_report rk;
    double t_rank = cli_now();
    if (top) {
        cli_rank_progress rp;
        cli_rank_progress_start(&rp, "train", oo.quiet);
        cf_model *ranked = NULL; /* with --min-ratings: the items fit to enough ratings; the saved model is whole */
        st = min_ratings ? cf_model_subset_min_ratings(model, 0, min_ratings, &ranked, &err) : CF_OK;
        if (st == CF_OK)
            st = cf_model_rank_evaluate_split(ranked ? ranked : model, ds, top, relevant_min, cfg.threads,
                                              cli_rank_progress_fn, &rp, &rk, &err);
        cf_model_destroy(&ranked);
        cli_rank_progress_end(&rp);
        if (st != CF_OK) goto fail;
    }
    t_rank = top ? cli_now() - t_rank : 0.0;

    /* ---- report; the iteration with the lowest test RMSE when the model is the last one
     * (with --early-stop it is the best already) */
    cf_iter_info best;
    const int has_best = cli_history_best(&tp.hist, &sel, &best);
    const int rose = has_best && cli_history_rose(&best, &sel, &cfg); /* worth a line and a hint */
    if (oo.json) {
        int first = 1;
        FILE *o = stdout;
        fputc('{', o);
        json_key(o, &first, "algo"), json_string(o, cf_algo_name(cfg.algo));
        json_key(o, &first, "device"), json_string(o, rep.device);
        json_key(o, &first, "notice"), json_string(o, rep.notice[0] ? rep.notice : NULL);
        json_key(o, &first, "factors"), fprintf(o, "%d", (int)cfg.factors);
        json_key(o, &first, "iters"), fprintf(o, "%d", (int)rep.iters);
        json_key(o, &first, "max_iters"), fprintf(o, "%d", (int)cfg.iters);
        json_key(o, &first, "stop_reason"), json_string(o, rep.stop_reason);
        json_key(o, &first, "lambda"), json_number(o, cfg.lambda);
        json_key(o, &first, "reg"), json_string(o, cf_reg_name(cfg.reg));
        json_key(o, &first, "bias"), fputs(cfg.bias ? "true" : "false", o);
        json_key(o, &first, "bias_lambda"), json_number(o, cfg.bias_lambda); /* explicit: resolved above */
        json_key(o, &first, "bias_reg"), json_string(o, cf_reg_name(cfg.bias_reg));
        json_key(o, &first, "seed"), fprintf(o, "%llu", (unsigned long long)cfg.seed);
        json_key(o, &first, "threads"), fprintf(o, "%d", (int)cfg.threads);
        json_key(o, &first, "train_rmse"), json_number(o, rep.train_rmse);
        json_key(o, &first, "test_rmse"), json_number(o, test_rmse);
        json_key(o, &first, "test_rmse_se"), json_number(o, tev.rmse_se);
        json_key(o, &first, "validation");
        if (fit) {
            int f2 = 1;
            fputc('{', o);
            json_key(o, &f2, "ratio"), json_number(o, validation);
            json_key(o, &f2, "n"), fprintf(o, "%lld", (long long)sel.n_test);
            json_key(o, &f2, "rmse"), json_number(o, sel.n_test > 0 ? sel.test_rmse : NAN);
            json_key(o, &f2, "unseen"), fprintf(o, "%lld", (long long)sel.test_unseen);
            json_key(o, &f2, "iters"), fprintf(o, "%d", (int)sel.iters);
            json_key(o, &f2, "stop_reason"), json_string(o, sel.stop_reason);
            json_key(o, &f2, "n_train"), fprintf(o, "%lld", (long long)sel.n_train);
            fputc('}', o);
        } else {
            fputs("null", o);
        }
        json_key(o, &first, "refit");
        if (refit) {
            int f2 = 1;
            fputc('{', o);
            json_key(o, &f2, "iters"), fprintf(o, "%d", (int)refit_iters);
            json_key(o, &f2, "run"), fprintf(o, "%d", (int)refit_run + 1);
            json_key(o, &f2, "seed"), fprintf(o, "%llu", (unsigned long long)refit_seed);
            json_key(o, &f2, "history"), cli_history_json(o, &refit_hist);
            fputc('}', o);
        } else {
            fputs("null", o);
        }
        json_key(o, &first, "objective"), json_number(o, rep.objective);
        json_key(o, &first, "run");
        if (sel.restart >= 0)
            fprintf(o, "%d", (int)sel.restart + 1);
        else
            fputs("null", o);
        json_key(o, &first, fit ? "best_valid" : "best_test");
        if (has_best) {
            int f2 = 1;
            fputc('{', o);
            json_key(o, &f2, "iter"), fprintf(o, "%d", (int)best.iter);
            json_key(o, &f2, fit ? "valid_rmse" : "test_rmse"), json_number(o, best.test_rmse);
            json_key(o, &f2, "rose"), fputs(rose ? "true" : "false", o);
            fputc('}', o);
        } else {
            fputs("null", o);
        }
        /* from the split to the model: prepare (the split included), upload, iterations and
         * evaluation lie within it */
        json_key(o, &first, "seconds"), json_number(o, t_split + rep.seconds);
        json_key(o, &first, "phase_seconds"), fputc('{', o);
        {
            int f2 = 1;
            json_key(o, &f2, "read"), json_number(o, t_read);
            json_key(o, &f2, "prepare"), json_number(o, t_split + rep.seconds_prepare);
            json_key(o, &f2, "upload"), json_number(o, rep.seconds_upload);
            json_key(o, &f2, "iterations"), json_number(o, rep.seconds_iterations);
            json_key(o, &f2, "evaluation"), json_number(o, rep.seconds_eval);
            json_key(o, &f2, "save"), json_number(o, t_save);
            if (top) json_key(o, &f2, "ranking"), json_number(o, t_rank);
        }
        fputc('}', o);
        /* CUDA's start-up, overlapped with the read (null: not started, e.g. --device cpu) */
        json_key(o, &first, "device_start_seconds"), json_number(o, warm.started ? warm.seconds : NAN);
        json_key(o, &first, "data"), json_string(o, data);
        json_key(o, &first, "test_file"), json_string(o, split.test_file);
        json_key(o, &first, "test_ratio"), json_number(o, split.test_file ? NAN : split.test_ratio);
        json_key(o, &first, "test_split"), json_string(o, split.test_file ? NULL : cli_split_names[split.mode]);
        if (split.mode == CLI_SPLIT_TIME && cli_split_timed(&split)) /* the earliest test rating's time */
            json_key(o, &first, "test_cutoff"), fprintf(o, "%lld", (long long)split.cutoff);
        json_key(o, &first, "n_users"), fprintf(o, "%lld", (long long)info.n_users);
        json_key(o, &first, "n_items"), fprintf(o, "%lld", (long long)info.n_items);
        json_key(o, &first, "n_train"), fprintf(o, "%lld", (long long)rep.n_train);
        json_key(o, &first, "n_test"), fprintf(o, "%lld", (long long)n_test);
        json_key(o, &first, "test_unseen"), fprintf(o, "%lld", (long long)test_unseen);
        json_key(o, &first, "model"), json_string(o, oo.model);
        json_key(o, &first, "checkpoint"), json_string(o, topt.checkpoint);
        json_key(o, &first, "checkpoints_written"), fprintf(o, "%d", (int)rep.checkpoints);
        json_key(o, &first, "resumed_from"), fprintf(o, "%d", (int)rep.resumed_from);
        json_key(o, &first, "init");
        if (init_path) {
            int f2 = 1;
            fputc('{', o);
            json_key(o, &f2, "model"), json_string(o, init_path);
            json_key(o, &f2, "users"), fprintf(o, "%lld", (long long)rep.init_users);
            json_key(o, &f2, "items"), fprintf(o, "%lld", (long long)rep.init_items);
            fputc('}', o);
        } else {
            fputs("null", o);
        }
        if (top) json_key(o, &first, "ranking"), cli_rank_json(o, &rk, relevant_min, NULL, 1);
        if (top && min_ratings) json_key(o, &first, "min_ratings"), fprintf(o, "%lld", (long long)min_ratings);
        json_key(o, &first, "history"), cli_history_json(o, &tp.hist);
        fputs("}\n", o);
    } else {
        printf("algo        %s\n", cf_algo_name(cfg.algo));
        printf("device      %s\n", rep.device);
        printf("factors     %d\n", (int)cfg.factors);
        printf("iterations  %d (stop: %s)\n", (int)rep.iters, rep.stop_reason[0] ? rep.stop_reason : "?");
        printf("lambda      %g (%s)\n", cfg.lambda, cf_reg_name(cfg.reg));
        if (cfg.bias && (cfg.bias_lambda != cfg.lambda || cfg.bias_reg != cfg.reg))
            printf("bias        on, regularized apart: %g (%s)\n", cfg.bias_lambda, cf_reg_name(cfg.bias_reg));
        else
            printf("bias        %s\n", cfg.bias ? "on" : "off");
        printf("train RMSE  %.6f on %lld ratings\n", rep.train_rmse, (long long)rep.n_train);
        if (fit && sel.n_test > 0)
            printf("valid RMSE  %.6f on %lld ratings (--validation %g of the training part; %lld with a user or item "
                   "unseen in the rest)\n",
                   sel.test_rmse, (long long)sel.n_test, validation, (long long)sel.test_unseen);
        if (refit)
            printf("refit       %d iterations on the whole training part, from run %d's initialization (the choosing "
                   "run: %d iterations, stop: %s)\n",
                   (int)refit_iters, (int)refit_run + 1, (int)sel.iters, sel.stop_reason);
        if (n_test > 0)
            printf("test RMSE   %.6f ± %.6f on %lld ratings of %lld users (%lld with a user or item unseen in "
                   "training; ± one standard error, by user)\n",
                   test_rmse, tev.rmse_se, (long long)n_test, (long long)tev.users, (long long)test_unseen);
        else
            printf("test RMSE   - (no test part)\n");
        if (rose)
            printf("best %-6s %.6f at iteration %d (the %s is iteration %d's)\n", fit ? "valid" : "test",
                   best.test_rmse, (int)best.iter, refit ? "refit" : "model", (int)sel.iters);
        if (cfg.restarts > 1 && sel.restart >= 0)
            printf("run         %d of %d kept (the lowest %s)\n", (int)sel.restart + 1, (int)cfg.restarts,
                   sel.n_test > 0 ? (fit ? "validation RMSE" : "test RMSE") : "objective");
        printf("objective   %.6e\n", rep.objective);
        printf("seconds     %.3f\n", t_split + rep.seconds);
        printf("phases      read %.3f, prepare %.3f, upload %.3f, iterations %.3f, evaluation %.3f, save %.3f s\n",
               t_read, t_split + rep.seconds_prepare, rep.seconds_upload, rep.seconds_iterations, rep.seconds_eval,
               t_save);
        printf("model       %s\n", oo.model ? oo.model : "not saved (use --model OUT)");
        if (init_path)
            printf("init        %s: %lld of %lld users and %lld of %lld items started from it\n", init_path,
                   (long long)rep.init_users, (long long)info.n_users, (long long)rep.init_items,
                   (long long)info.n_items);
        if (topt.checkpoint)
            printf("checkpoint  %s (%d written this run)\n", topt.checkpoint, (int)rep.checkpoints);
        if (top) {
            printf("ranking     %.3f s\n", t_rank);
            cli_rank_print(stdout, &rk, relevant_min, "the training part", 1);
            cli_rank_print_floor(stdout, min_ratings);
        }
    }
    fflush(stdout);
    if (rose) cli_overfit_hint(&best, &sel, &cfg, data, fit != NULL, oo.quiet);
    if (top) cli_rank_hint(&rk, cf_model_config(model), min_ratings, 1, oo.quiet);
    rc = CLI_EXIT_OK;
    goto done;

fail:
    rc = cli_fail(&err);
done:
    cf_model_destroy(&model);
    cf_dataset_destroy(&ds);
    cf_dataset_destroy(&fit);
    cf_model_destroy(&init);
    cli_history_free(&tp.hist);
    cli_history_free(&refit_hist);
    return rc;
early: /* a usage or setup error before the data is read */
    cf_model_destroy(&init);
    return rc;
}
