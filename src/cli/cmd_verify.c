/*
 * cmd_verify.c — `cufactor verify DATA`: the GPU against the CPU reference from the
 * identical initial factors, one table row per iteration (both objectives, both test
 * RMSEs, the median and max per-row relative factor difference), exit 1 when any
 * iteration is beyond the tolerances (cf_verify in cufactor.h states the checks).
 */
#include "args.h"
#include "cli.h"
#include "config_opts.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct verify_print {
    FILE *f;
    int json;
    int first;
} verify_print;

static int print_iter(const cf_verify_iter *it, void *user) {
    verify_print *p = user;
    if (p->json) {
        int first = 1;
        fputs(p->first ? "{" : ",{", p->f);
        p->first = 0;
        json_key(p->f, &first, "iter"), fprintf(p->f, "%d", (int)it->iter);
        json_key(p->f, &first, "objective_ref"), json_number(p->f, it->obj_ref);
        json_key(p->f, &first, "objective_cand"), json_number(p->f, it->obj_cand);
        json_key(p->f, &first, "test_rmse_ref"), json_number(p->f, it->test_ref);
        json_key(p->f, &first, "test_rmse_cand"), json_number(p->f, it->test_cand);
        json_key(p->f, &first, "rows_checked"), fputs(it->rows_checked ? "true" : "false", p->f);
        json_key(p->f, &first, "rel_median"), json_number(p->f, it->rel_median);
        json_key(p->f, &first, "rel_max"), json_number(p->f, it->rel_max);
        json_key(p->f, &first, "rel_max_row"), json_string(p->f, it->rel_max_row);
        json_key(p->f, &first, "ok"), fputs(it->ok ? "true" : "false", p->f);
        fputc('}', p->f);
    } else {
        if (it->iter == 1)
            fprintf(p->f, "%4s  %15s %15s  %10s %10s  %10s %10s %-12s %s\n", "iter", "objective ref", "objective cand",
                    "test ref", "test cand", "rel median", "rel max", "(row)", "");
        if (it->rows_checked)
            fprintf(p->f, "%4d  %15.8e %15.8e  %10.6f %10.6f  %10.3e %10.3e %-12s %s\n", (int)it->iter, it->obj_ref,
                    it->obj_cand, it->test_ref, it->test_cand, it->rel_median, it->rel_max, it->rel_max_row,
                    it->ok ? "ok" : "BEYOND");
        else
            fprintf(p->f, "%4d  %15.8e %15.8e  %10.6f %10.6f  %10s %10s %-12s %s\n", (int)it->iter, it->obj_ref,
                    it->obj_cand, it->test_ref, it->test_cand, "-", "-", "", it->ok ? "ok" : "BEYOND");
    }
    fflush(p->f);
    return 0;
}

int cmd_verify(int argc, char **argv) {
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.iters = 5; /* each iteration also runs the CPU reference */
    cf_read_options ropt;
    cf_read_options_default(&ropt);
    cf_verify_options vopt;
    cf_verify_options_default(&vopt);
    static const char *const candidate_names[] = {"auto", "cpu", "gpu", NULL}; /* cf_device order */
    int candidate = (int)vopt.candidate;
    cli_output_opts oo = {NULL, 0, 0};
    cli_split split = {.test_file = NULL, .test_ratio = 0.1};

    cli_config_opts co;
    cli_config_opts_init(&co, &cfg, &ropt);
    cli_opt opts[CLI_CONFIG_MAX_OPTS + 16];
    int n = 0;
    opts[n++] = (cli_opt){.kind = CLI_SECTION, .name = "data"};
    n += cli_split_opts(&split, opts + n);
    n += cli_config_read_opts(&co, opts + n);
    n += cli_config_train_opts(&co, opts + n, CLI_CFG_FACTORS_LAMBDA, "model");
    const cli_opt own[] = {
        {.kind = CLI_SECTION, .name = "verification"},
        {.name = "candidate", .kind = CLI_CHOICE, .dest = &candidate, .choices = candidate_names,
         .metavar = "gpu|cpu", /* "auto" is in the list only to keep the cf_device order */
         .help = "what is checked against the CPU's fp64 reference: the GPU, or cpu: the CPU path --precision "
                 "selects (fp32: the fast SIMD path; fp64: the reference itself, a self-check of the tool)"},
        {.name = "rtol", .kind = CLI_DOUBLE, .dest = &vopt.rtol, .metavar = "R", .dlo = 0, .dhi = 1,
         .help = "bound on the median per-row relative factor difference and the objective's"},
        {.name = "max-rtol", .kind = CLI_DOUBLE, .dest = &vopt.max_rtol, .metavar = "R", .dlo = 0, .dhi = 2,
         .help = "bound on the largest per-row relative factor difference"},
        {.name = "rmse-rtol", .kind = CLI_DOUBLE, .dest = &vopt.rmse_rtol, .metavar = "R", .dlo = 0, .dhi = 1,
         .help = "bound on the relative test RMSE difference"},
    };
    memcpy(opts + n, own, sizeof own);
    n += (int)(sizeof own / sizeof *own);
    n += cli_output_opts_add(&oo, opts + n, NULL, NULL, 0, "print one JSON object to stdout instead of the table");
    static const char *const positional[] = {"DATA", NULL};
    cli_spec spec = {
        .cmd = "verify",
        .args = "DATA [--algo als] [--iters N] [--factors K] [options]",
        .summary = "Run the CPU reference (fp64) and the GPU (fp32) side by side from the identical initial\n"
                   "factors and print, per iteration, both objectives, both test RMSEs, and the median and\n"
                   "largest per-row relative difference of the factors. Exits 1 when an iteration is\n"
                   "beyond the tolerances, 0 when every iteration agrees. --candidate cpu checks the CPU's\n"
                   "fp32 path instead (or, with --precision fp64, the reference against itself).",
        .positional = positional,
        .opts = opts,
        .n_opts = n,
        .notes = "Per row x = (p, b): rel = ‖x_gpu − x_cpu‖ / max(‖x_gpu‖, ‖x_cpu‖). An iteration agrees when\n"
                 "median rel ≤ rtol, max rel ≤ max-rtol, |ΔL|/L ≤ rtol and |ΔRMSE|/RMSE ≤ rmse-rtol. SGD\n"
                 "schedules other than blocks are judged by the test RMSE alone (hogwild against the\n"
                 "CPU's shuffle). The defaults come from the first GPU run (H200, 2026-12-04;\n"
                 "src/verify.c, docs/PERFORMANCE.md).",
    };
    const char *data = NULL;
    int rc = cli_parse(&spec, argc, argv, &data);
    if (rc >= 0) return rc;
    if ((rc = cli_split_check(&split, &spec)) >= 0) return rc;
    if (candidate == CF_DEVICE_AUTO) return cli_usage_error(&spec, "--candidate: give gpu or cpu");
    cli_config_opts_apply(&co);
    vopt.candidate = (cf_device)candidate;
    cf_error err = {0};
    if (cf_config_validate(&cfg, &err) != CF_OK) return cli_usage_error(&spec, "%s", err.msg);

    char why[200] = "";
    if (vopt.candidate == CF_DEVICE_GPU && !cf_gpu_available(why, sizeof why))
        return cli_failf("verify needs a usable GPU: %s (--candidate cpu checks the CPU's fp32 path; with "
                         "--precision fp64 it is a self-check)", why);

    cf_dataset *ds = NULL;
    cf_dataset_info info;
    double t_read = cli_now(), t_split = 0; /* the split is preparation (with cf_verify's) */
    cli_gpu_warm warm; /* CUDA starts while the file is read */
    cli_gpu_warm_start(&warm, vopt.candidate, cfg.gpu_id);
    cf_status read_st = cli_read_split(data, &split, &ropt, cfg.seed, oo.quiet, &ds, &info, &t_split, &err);
    t_read = cli_now() - t_read - t_split;
    cli_gpu_warm_wait(&warm);
    if (read_st != CF_OK) return cli_fail(&err);
    cf_config_resolve(&cfg, ds, &cfg); /* the settings cf_train would choose */
    if (!oo.quiet)
        fprintf(stderr, "verify: %s, K=%d, %d iterations, lambda=%g (%s), bias %s%s%s%s%s; rtol %g, max-rtol %g, "
                        "rmse-rtol %g\n",
                cf_algo_name(cfg.algo), (int)cfg.factors, (int)cfg.iters, cfg.lambda, cf_reg_name(cfg.reg),
                cfg.bias ? "on" : "off",
                cfg.algo == CF_ALGO_ALS && vopt.candidate == CF_DEVICE_GPU ? ", GPU solver " : "",
                cfg.algo == CF_ALGO_ALS && vopt.candidate == CF_DEVICE_GPU ? cf_als_solver_name(cfg.als_solver) : "",
                cfg.algo == CF_ALGO_ALS && vopt.candidate == CF_DEVICE_GPU ? ", Gram " : "",
                cfg.algo == CF_ALGO_ALS && vopt.candidate == CF_DEVICE_GPU ? cli_als_gram_names[cfg.als_gram] : "",
                vopt.rtol, vopt.max_rtol, vopt.rmse_rtol);
    verify_print pr = {.f = stdout, .json = oo.json, .first = 1};
    if (oo.json) fputs("{\"iterations\":[", stdout);
    cf_verify_report rep;
    cf_status st = cf_verify(ds, &cfg, &vopt, print_iter, &pr, &rep, &err);
    cf_dataset_destroy(&ds);
    if (st != CF_OK) {
        if (oo.json) fputs("]}\n", stdout);
        fflush(stdout);
        return cli_fail(&err);
    }
    if (oo.json) {
        int first = 1;
        fputs("],", stdout);
        json_key(stdout, &first, "reference"), json_string(stdout, rep.ref_device);
        json_key(stdout, &first, "candidate"), json_string(stdout, rep.cand_device);
        if (rep.notice[0]) json_key(stdout, &first, "notice"), json_string(stdout, rep.notice);
        json_key(stdout, &first, "algo"), json_string(stdout, cf_algo_name(cfg.algo));
        json_key(stdout, &first, "factors"), fprintf(stdout, "%d", (int)cfg.factors);
        json_key(stdout, &first, "rtol"), json_number(stdout, vopt.rtol);
        json_key(stdout, &first, "max_rtol"), json_number(stdout, vopt.max_rtol);
        json_key(stdout, &first, "rmse_rtol"), json_number(stdout, vopt.rmse_rtol);
        json_key(stdout, &first, "iters"), fprintf(stdout, "%d", (int)rep.iters);
        json_key(stdout, &first, "failed"), fprintf(stdout, "%d", (int)rep.failed);
        json_key(stdout, &first, "worst_median"), json_number(stdout, rep.worst_median);
        json_key(stdout, &first, "worst_max"), json_number(stdout, rep.worst_max);
        json_key(stdout, &first, "worst_objective"), json_number(stdout, rep.worst_obj);
        json_key(stdout, &first, "worst_rmse"), json_number(stdout, rep.worst_rmse);
        json_key(stdout, &first, "phase_seconds"), fputc('{', stdout);
        {
            int f2 = 1;
            json_key(stdout, &f2, "read"), json_number(stdout, t_read);
            json_key(stdout, &f2, "prepare"), json_number(stdout, t_split + rep.seconds_prepare);
            json_key(stdout, &f2, "reference"), json_number(stdout, rep.seconds_reference);
            json_key(stdout, &f2, "upload"), json_number(stdout, rep.seconds_upload);
            json_key(stdout, &f2, "candidate"), json_number(stdout, rep.seconds_candidate);
            json_key(stdout, &f2, "compare"), json_number(stdout, rep.seconds_compare);
        }
        fputs("}}\n", stdout);
    } else {
        printf("reference   %s\ncandidate   %s\n", rep.ref_device, rep.cand_device);
        if (rep.notice[0]) printf("notice      %s\n", rep.notice);
        printf("worst       median rel %.3e, max rel %.3e, objective %.3e, test RMSE %.3e (relative)\n",
               rep.worst_median, rep.worst_max, rep.worst_obj, rep.worst_rmse);
        printf("verdict     %s (%d of %d iterations beyond tolerance)\n", rep.failed ? "DISAGREE" : "agree",
               (int)rep.failed, (int)rep.iters);
        printf("phases      read %.3f, prepare %.3f, reference %.3f, upload %.3f, candidate %.3f, compare %.3f s\n",
               t_read, t_split + rep.seconds_prepare, rep.seconds_reference, rep.seconds_upload, rep.seconds_candidate,
               rep.seconds_compare);
    }
    fflush(stdout);
    if (rep.failed) {
        fprintf(stderr, "cufactor: error: verify: %d of %d iterations beyond tolerance\n", (int)rep.failed,
                (int)rep.iters);
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}
