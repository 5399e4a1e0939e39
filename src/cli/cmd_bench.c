/*
 * cmd_bench.c — `cufactor bench`: throughput benchmarks of the library's own solvers
 * (cufactor_bench.h does the work; this file parses options and prints).
 *
 *   cufactor bench run      run a suite of bench/suites.conf, print a table, write JSON lines
 *   cufactor bench compare  compare a run's results with the last comparable record of a history
 *   cufactor bench history  extract the per-case throughput history for gnuplot
 *   cufactor bench validate check every line of a results file against the schema
 *
 * Exit codes: 0 ok, 1 error (or, for run, a case that failed its check), 2 usage,
 * 3 (compare) a case regressed beyond the threshold.
 */
#include "args.h"
#include "cli.h"
#include "cufactor_bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { CLI_EXIT_REGRESSION = 3 };

static const char *const bench_device_names[] = {"all", "cpu", "gpu", NULL};

/* The directory that holds bench/suites.conf when --suites is not given: the working
 * directory (the repository root, as before), else the tree of this executable
 * (build/cufactor → ../bench), else the source tree it was built from. Fills root (""
 * for the working directory); 0 when none has the file (the default path then fails
 * with its own clear error). */
static int bench_root(char *root, size_t cap) {
    root[0] = 0;
    if (access("bench/suites.conf", R_OK) == 0) return 1;
    char exe[4096], try[4200];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *const up[] = {"/..", ""};
        for (int k = 0; k < 2; k++) {
            snprintf(try, sizeof try, "%s%s/bench/suites.conf", exe, up[k]);
            if (access(try, R_OK) == 0) {
                char *real = realpath(try, NULL);
                if (real) {
                    real[strlen(real) - strlen("/bench/suites.conf")] = 0;
                    snprintf(root, cap, "%s/", real);
                    free(real);
                    return 1;
                }
            }
        }
    }
#ifdef CUFACTOR_SOURCE_DIR
    snprintf(try, sizeof try, "%s/bench/suites.conf", CUFACTOR_SOURCE_DIR);
    if (access(try, R_OK) == 0) {
        snprintf(root, cap, "%s/", CUFACTOR_SOURCE_DIR);
        return 1;
    }
#endif
    return 0;
}

static int bench_run(int argc, char **argv) {
    const char *suites = "bench/suites.conf", *suite = "quick", *data = NULL, *rmse = NULL, *only = NULL;
    const char *cache = "bench/cache", *out = NULL, *commit = NULL;
    int device = 0, no_cache = 0;
    int32_t repeats = 0, threads = -1;
    cli_opt opts[] = {
        {.name = "suite", .kind = CLI_STR, .dest = &suite, .metavar = "NAME", .help = "the suite to run"},
        {.name = "suites", .kind = CLI_STR, .dest = &suites, .metavar = "FILE", .help = "the suites file"},
        {.name = "device", .kind = CLI_CHOICE, .dest = &device, .choices = bench_device_names, .metavar = "D",
         .help = "run the cases of this device only (all: GPU cases where a GPU is usable)"},
        {.name = "data", .kind = CLI_STR, .dest = &data, .metavar = "FILE", .no_default = 1,
         .help = "run every case on this ratings file instead of its data set"},
        {.name = "rmse", .kind = CLI_STR, .dest = &rmse, .metavar = "LO:HI", .no_default = 1,
         .help = "the check range of every case (default: the suite's; with --data: 0:sd of the test ratings)"},
        {.name = "repeats", .kind = CLI_I32, .dest = &repeats, .metavar = "N", .lo = 0, .hi = 100000,
         .help = "timed iterations of every case (0: the suite's; the warm-up grows to keep the iterations)"},
        {.name = "threads", .kind = CLI_I32, .dest = &threads, .metavar = "T", .lo = -1, .hi = 4096,
         .help = "CPU threads of every case (-1: the suite's, 0: all cores)"},
        {.name = "only", .kind = CLI_STR, .dest = &only, .metavar = "CASE[,CASE]", .no_default = 1,
         .help = "run only these cases"},
        {.name = "cache", .kind = CLI_STR, .dest = &cache, .metavar = "DIR", .help = "binary cache of synthetic sets"},
        {.name = "no-cache", .kind = CLI_FLAG, .dest = &no_cache, .flag_value = 1, .help = "generate, do not cache"},
        {.name = "out", .kind = CLI_STR, .dest = &out, .metavar = "FILE", .no_default = 1,
         .help = "write the results as JSON lines (atomically) to FILE"},
        {.name = "commit", .kind = CLI_STR, .dest = &commit, .metavar = "SHA", .no_default = 1,
         .help = "the commit to record (default: git rev-parse HEAD)"},
    };
    cli_spec spec = {
        .cmd = "bench run",
        .args = "[options]",
        .summary = "Run a suite of benchmark cases (data set × algorithm × device × K × precision) through\n"
                   "the library's solvers: the warm-up iterations, then the timed ones; medians are reported.\n"
                   "A case whose test RMSE after its iterations is outside the suite's range FAILS and its\n"
                   "time does not count. GPU cases are skipped, with a line saying why, where no GPU is\n"
                   "usable.",
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
        .notes = "Exit codes: 0 every case run passed its check, 1 a case failed or an error, 2 usage.",
    };
    int rc = cli_parse(&spec, argc, argv, NULL);
    if (rc >= 0) return rc;
    /* bench/suites.conf and bench/cache were relative to the working directory: outside
     * the repository root `bench run` failed; find the tree that has them */
    char root[4096], suites_buf[4200], cache_buf[4200];
    if (!cli_find(&spec, "suites")->seen && bench_root(root, sizeof root) && root[0]) {
        snprintf(suites_buf, sizeof suites_buf, "%sbench/suites.conf", root);
        suites = suites_buf;
        if (!cli_find(&spec, "cache")->seen) {
            snprintf(cache_buf, sizeof cache_buf, "%sbench/cache", root);
            cache = cache_buf;
        }
    }
    double rlo = -1, rhi = -1;
    if (rmse) {
        const char *colon = strchr(rmse, ':');
        char lo[64];
        if (!colon || (size_t)(colon - rmse) >= sizeof lo)
            return cli_usage_error(&spec, "--rmse: '%s', expected LO:HI", rmse);
        snprintf(lo, sizeof lo, "%.*s", (int)(colon - rmse), rmse);
        if (cli_parse_double(lo, &rlo) || cli_parse_double(colon + 1, &rhi) || rlo < 0 || rhi <= rlo)
            return cli_usage_error(&spec, "--rmse: '%s', expected 0 <= LO < HI", rmse);
    }
    if (out && cli_check_writable(out, "--out") != CLI_EXIT_OK) return CLI_EXIT_ERROR;

    cf_error err = {0};
    cf_bench_file *bf = NULL;
    if (cf_bench_file_read(suites, &bf, &err)) return cli_fail(&err);
    const cf_bench_suite *s = cf_bench_find_suite(bf, suite);
    if (!s) {
        fprintf(stderr, "cufactor: error: %s has no suite '%s'; it has:", suites, suite);
        for (int j = 0; j < bf->n_suites; j++) fprintf(stderr, " %s", bf->suites[j].name);
        fprintf(stderr, "\n");
        cf_bench_file_destroy(&bf);
        return CLI_EXIT_ERROR;
    }
    char sha[64], date[32];
    if (commit) snprintf(sha, sizeof sha, "%s", commit);
    else cf_bench_git_commit(sha, sizeof sha);
    cf_bench_utc_now(date, sizeof date);
    cf_bench_meta meta = {.date = date, .commit = sha, .suite = suite};
    cf_bench_dataset_spec user_spec;
    if (data) {
        memset(&user_spec, 0, sizeof user_spec);
        const char *base = strrchr(data, '/');
        snprintf(user_spec.name, sizeof user_spec.name, "file:%.56s", base ? base + 1 : data);
        user_spec.source = CF_BENCH_FILE;
        snprintf(user_spec.path, sizeof user_spec.path, "%s", data);
        user_spec.test_ratio = 0.1, user_spec.split_seed = 7;
    }

    cli_out jo = {0};
    if (out && cli_out_open(&jo, out, &err)) {
        cf_bench_file_destroy(&bf);
        return cli_fail(&err);
    }
    printf("cufactor bench: suite %s (%s), commit %s, %s\n", suite, suites, sha, date);
    printf("%-22s %-4s %10s %10s %11s %8s %7s %7s %9s  %s\n", "case", "dev", "s/iter", "(max)", "updates/s",
           "GFLOP/s", "GB/s", "share", "test RMSE", "status");
    fflush(stdout);
    cf_bench_ceilings cpu_ceil = {0};
    cf_bench_data *loaded = NULL;
    char loaded_name[CF_BENCH_NAME_MAX] = "";
    int failed = 0, ran = 0, skipped = 0;
    for (int j = 0; j < s->n_cases; j++) {
        cf_bench_case c = s->cases[j];
        if (only) {
            int hit = 0;
            size_t n = strlen(c.name);
            for (const char *p = only; p && *p;) {
                const char *e = strchr(p, ',');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                hit |= len == n && !strncmp(p, c.name, n);
                p = e ? e + 1 : NULL;
            }
            if (!hit) continue;
        }
        if ((device == 1 && c.cfg.device != CF_DEVICE_CPU) || (device == 2 && c.cfg.device != CF_DEVICE_GPU))
            continue;
        if (repeats > 0) {
            if (repeats >= c.cfg.iters) c.cfg.iters = repeats + 1;
            c.repeats = repeats;
        }
        if (threads >= 0) c.cfg.threads = threads;
        if (c.cfg.device == CF_DEVICE_GPU) { /* skip before loading a data set a GPU case alone needs */
            char why[200] = "";
            if (!cf_gpu_available(why, sizeof why)) {
                printf("%-22s %-4s skipped: no usable GPU (%s)\n", c.name, "gpu", why);
                skipped++;
                continue;
            }
        }
        const cf_bench_dataset_spec *ds = data ? &user_spec : cf_bench_find_dataset(bf, c.dataset);
        if (data) {
            snprintf(c.dataset, sizeof c.dataset, "%s", user_spec.name);
        }
        if (!loaded || strcmp(loaded_name, ds->name)) {
            cf_bench_data_destroy(&loaded);
            if (cf_bench_data_load(ds, no_cache ? NULL : cache, &loaded, &err)) {
                cli_out_abort(&jo);
                cf_bench_file_destroy(&bf);
                return cli_fail(&err);
            }
            snprintf(loaded_name, sizeof loaded_name, "%s", ds->name);
            cf_bench_data_info di;
            cf_bench_data_info_get(loaded, &di);
            printf("  data %s: %lld users × %lld items, %lld ratings (%lld train, %lld test), hash %016llx, "
                   "%s in %.1f s\n",
                   di.name, (long long)di.users, (long long)di.items, (long long)di.ratings, (long long)di.n_train,
                   (long long)di.n_test, (unsigned long long)di.hash, di.from_cache ? "from the cache" : "loaded",
                   di.load_seconds);
            if (di.notice[0]) printf("  note: %s\n", di.notice);
            fflush(stdout);
        }
        cf_bench_data_info di;
        cf_bench_data_info_get(loaded, &di);
        if (rmse) c.rmse_lo = rlo, c.rmse_hi = rhi;
        else if (data) c.rmse_lo = 0, c.rmse_hi = di.test_sd; /* must beat the constant predictor */
        cf_bench_result res;
        if (cf_bench_run_case(&c, loaded, &cpu_ceil, &res, &err)) {
            cf_bench_result_free(&res);
            cf_bench_data_destroy(&loaded);
            cli_out_abort(&jo);
            cf_bench_file_destroy(&bf);
            return cli_fail(&err);
        }
        if (res.status == CF_BENCH_SKIPPED) {
            printf("%-22s %-4s skipped: %s\n", c.name, res.device_kind, res.reason);
            skipped++;
            cf_bench_result_free(&res);
            continue;
        }
        ran++;
        if (res.status == CF_BENCH_OK) {
            double share = res.bound && !strcmp(res.bound, "compute") ? res.share_flops : res.share_bw;
            char sh[16], l2[96] = "";
            /* a share is NaN where the model's rate exceeded its ceiling (not physical) */
            if (isfinite(share)) snprintf(sh, sizeof sh, "%6.1f%%", 100 * share);
            else snprintf(sh, sizeof sh, "%7s", res.share_over_ceiling ? ">ceil" : "-");
            if (isfinite(res.l2_gbps) && isfinite(res.share_l2))
                snprintf(l2, sizeof l2, "; L2 traffic %.4g GB/s, %.1f%% of the L2 ceiling %.1f GB/s", res.l2_gbps,
                         100 * res.share_l2, res.ceil.l2_gbps);
            else if (isfinite(res.l2_gbps))
                snprintf(l2, sizeof l2, "; L2 traffic %.4g GB/s, L2 ceiling %.1f GB/s", res.l2_gbps, res.ceil.l2_gbps);
            printf("%-22s %-4s %10.4g %10.4g %11.4g %8.3g %7.3g %s %9.5f  ok (%s-bound; ceilings: %.1f GB/s "
                   "copy, %.1f GFLOP/s %s%s%s)\n",
                   c.name, res.device_kind, res.sec_median, res.sec_max, res.updates_per_sec, res.gflops, res.gbps,
                   sh, res.check_rmse, res.bound, res.ceil.copy_gbps, res.ceil.gemm_gflops, res.ceil.gemm_name, l2,
                   res.share_over_ceiling ? "; a model's rate exceeded its measured ceiling: share not reported" : "");
        } else {
            failed++;
            printf("%-22s %-4s FAILED: %s\n", c.name, res.device_kind, res.reason);
        }
        fflush(stdout);
        if (out) {
            char *line = NULL;
            if (cf_bench_result_json(&meta, &c, &di, &res, &line, &err)) {
                cf_bench_result_free(&res);
                cf_bench_data_destroy(&loaded);
                cli_out_abort(&jo);
                cf_bench_file_destroy(&bf);
                return cli_fail(&err);
            }
            fprintf(jo.f, "%s\n", line);
            free(line);
        }
        cf_bench_result_free(&res);
    }
    cf_bench_data_destroy(&loaded);
    cf_bench_file_destroy(&bf);
    if (out && cli_out_commit(&jo, &err)) return cli_fail(&err);
    printf("%d case%s run, %d failed, %d skipped%s%s\n", ran, ran == 1 ? "" : "s", failed, skipped,
           out ? "; results in " : "", out ? out : "");
    return failed ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

static int bench_compare(int argc, char **argv) {
    double threshold = 10;
    cli_opt opts[] = {
        {.name = "threshold", .kind = CLI_DOUBLE, .dest = &threshold, .metavar = "PCT", .dlo = 0, .dhi = 1e6,
         .help = "a case more than PCT percent slower (median s/iter) is a regression"},
    };
    static const char *const pos_names[] = {"OLD", "NEW", NULL};
    cli_spec spec = {
        .cmd = "bench compare",
        .args = "OLD NEW [options]",
        .summary = "Compare every passed case of NEW (a results file) with the last passed record of OLD\n"
                   "(the history; missing = empty) that has the same device, CPU, data set (name and hash)\n"
                   "and the same config, by the median seconds per iteration.",
        .positional = pos_names,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
        .notes = "Exit codes: 0 no regression, 1 error, 2 usage, 3 a case regressed beyond the threshold.",
    };
    const char *pos[2];
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    cf_error err = {0};
    cf_bench_cmp_row *rows = NULL;
    int n = 0, bad = 0;
    if (cf_bench_compare(pos[0], pos[1], threshold, &rows, &n, &bad, &err)) return cli_fail(&err);
    printf("%-22s %-40s %12s %12s %9s  %s\n", "case", "device", "before s/it", "now s/it", "change", "verdict");
    static const char *const verdict[] = {"new (nothing to compare)", "same", "faster", "REGRESSED"};
    for (int j = 0; j < n; j++) {
        char before[32] = "-", change[32] = "-";
        if (rows[j].verdict != CF_CMP_NEW) {
            snprintf(before, sizeof before, "%.4g", rows[j].before);
            snprintf(change, sizeof change, "%+.1f%%", 100 * rows[j].change);
        }
        printf("%-22s %-40.40s %12s %12.4g %9s  %s\n", rows[j].case_name, rows[j].device, before, rows[j].now, change,
               verdict[rows[j].verdict]);
    }
    printf("%d case%s compared, %d regressed beyond %g%%\n", n, n == 1 ? "" : "s", bad, threshold);
    free(rows);
    return bad ? CLI_EXIT_REGRESSION : CLI_EXIT_OK;
}

static int bench_history(int argc, char **argv) {
    const char *out = NULL;
    cli_opt opts[] = {
        {.name = "out", .kind = CLI_STR, .dest = &out, .metavar = "FILE", .required = 1,
         .help = "gnuplot data file to write (atomically)"},
    };
    static const char *const pos_names[] = {"RESULTS", NULL};
    cli_spec spec = {
        .cmd = "bench history",
        .args = "RESULTS --out FILE",
        .summary = "Write the throughput history of a results file as gnuplot data: one block per case\n"
                   "(device, data set and config), a quoted title line, then \"run commit updates/s\" lines;\n"
                   "run counts the runs of the file in order. bench/nightly.sh plots it.",
        .positional = pos_names,
        .opts = opts,
        .n_opts = (int)(sizeof opts / sizeof *opts),
    };
    const char *pos[1];
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    cf_error err = {0};
    int ns = 0, nr = 0;
    if (cf_bench_history(pos[0], out, &ns, &nr, &err)) return cli_fail(&err);
    printf("%s: %d series over %d runs\n", out, ns, nr);
    return CLI_EXIT_OK;
}

static int bench_validate(int argc, char **argv) {
    static const char *const pos_names[] = {"RESULTS", NULL};
    cli_spec spec = {
        .cmd = "bench validate",
        .args = "RESULTS",
        .summary = "Check every line of a results file against the result schema (every key, its type).",
        .positional = pos_names,
    };
    const char *pos[1];
    int rc = cli_parse(&spec, argc, argv, pos);
    if (rc >= 0) return rc;
    FILE *f;
    cf_error oerr;
    if (cf_text_open(pos[0], &f, &oerr) != CF_OK) return cli_fail(&oerr);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ln = 0, n = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        ln++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (!len) continue;
        cf_error err = {0};
        if (cf_bench_validate_record(line, &err)) {
            free(line);
            fclose(f);
            return cli_failf("%s:%d: %s", pos[0], ln, err.msg);
        }
        n++;
    }
    free(line);
    fclose(f);
    printf("%s: %d record%s, all valid\n", pos[0], n, n == 1 ? "" : "s");
    return CLI_EXIT_OK;
}

static void bench_usage(FILE *f) {
    fprintf(f, "usage: cufactor bench run|compare|history|validate [options]\n\n"
               "  run       run a suite of bench/suites.conf (default: quick), write JSON lines\n"
               "  compare   compare a run with the last comparable records of a history (exit 3: regression)\n"
               "  history   write a results file's throughput history as gnuplot data\n"
               "  validate  check a results file against the schema\n\n"
               "cufactor bench SUBCOMMAND --help: its options.  bench/nightly.sh runs the nightly suite.\n");
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "cufactor bench: missing subcommand\n");
        bench_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        bench_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(sub, "run")) return bench_run(argc - 1, argv + 1);
    if (!strcmp(sub, "compare")) return bench_compare(argc - 1, argv + 1);
    if (!strcmp(sub, "history")) return bench_history(argc - 1, argv + 1);
    if (!strcmp(sub, "validate")) return bench_validate(argc - 1, argv + 1);
    static const char *const subs[] = {"run", "compare", "history", "validate"};
    cli_suggest sg;
    cli_suggest_init(&sg, sub, strlen(sub));
    for (size_t k = 0; k < sizeof subs / sizeof *subs; k++) cli_suggest_add(&sg, subs[k]);
    const char *best = cli_suggest_best(&sg);
    if (best)
        fprintf(stderr, "cufactor bench: unknown subcommand '%s' (did you mean '%s'?)\n", sub, best);
    else
        fprintf(stderr, "cufactor bench: unknown subcommand '%s'\n", sub);
    bench_usage(stderr);
    return CLI_EXIT_USAGE;
}
