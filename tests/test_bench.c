/*
 * test_bench.c — `cufactor bench`: the result schema, the regression comparison on
 * hand-made result files, the suites file parser, the binary data cache, the history
 * extraction, and the repository's quick suite run end to end as a correctness check
 * (one timed iteration per case; no timing is asserted anywhere).
 */
#include "bench/bench_impl.h"
#include "dataset.h"
#include "idmap.h"
#include "cufactor_bench.h"
#include "helpers.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

CF_TEST_SUITE_WITH_TMPDIR(bench, 300);

/* ------------------------------------------------------------------ helpers */

typedef cf_test_run run_result;
static void run_free(run_result *r) { cf_test_run_free(r); }
/* Runs `cufactor ARGS...` (NULL-terminated) in dir (tests/helpers.h cf_test_cli). */
#define cli(...) cf_test_cli(dir, __VA_ARGS__)

/* A tiny synthetic set: 300 users × 120 items, 6000 ratings, 10 % test. */
static cf_bench_dataset_spec tiny_spec(void) {
    cf_bench_dataset_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "tiny");
    s.source = CF_BENCH_SYNTH;
    cf_gen_options_default(&s.gen);
    s.gen.users = 300, s.gen.items = 120, s.gen.ratings = 6000, s.gen.rank = 3, s.gen.noise = 0.3;
    s.test_ratio = 0.1, s.split_seed = 7;
    return s;
}

static cf_bench_case tiny_case(cf_algo algo, int k, double lo, double hi) {
    cf_bench_case c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s-k%d", cf_algo_name(algo), k);
    snprintf(c.dataset, sizeof c.dataset, "tiny");
    cf_config_default(&c.cfg);
    c.cfg.algo = algo, c.cfg.device = CF_DEVICE_CPU, c.cfg.factors = k, c.cfg.iters = 4, c.cfg.threads = 1;
    c.cfg.lambda = 0.05, c.cfg.precision = CF_PRECISION_FP64; /* the reference, as suites.conf's default */
    snprintf(c.precision, sizeof c.precision, "fp64");
    c.repeats = 2, c.rmse_lo = lo, c.rmse_hi = hi;
    return c;
}

/* Runs one case on the tiny set and returns its JSON line (malloc'ed). */
static char *record_of(cf_bench_case *c, cf_bench_result *res_out) {
    cf_bench_dataset_spec s = tiny_spec();
    cf_bench_data *d = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_bench_data_load(&s, NULL, &d, &err), CF_OK, "%s", err.msg);
    cf_bench_data_info di;
    cf_bench_data_info_get(d, &di);
    cf_bench_ceilings ceil = {0};
    cf_bench_result res;
    cr_assert_eq(cf_bench_run_case(c, d, &ceil, &res, &err), CF_OK, "%s", err.msg);
    cf_bench_meta meta = {.date = "2030-01-01T00:00:00Z", .commit = "abc123", .suite = "test"};
    char *line = NULL;
    cr_assert_eq(cf_bench_result_json(&meta, c, &di, &res, &line, &err), CF_OK, "%s", err.msg);
    if (res_out) {
        *res_out = res;
        res_out->test_rmse = res_out->train_rmse = res_out->iter_seconds = NULL;
    }
    cf_bench_result_free(&res);
    cf_bench_data_destroy(&d);
    return line;
}

static const cJSON *at(const cJSON *o, const char *a, const char *b) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

/* ------------------------------------------------------------------ schema */

Test(bench, record_has_every_required_key_with_its_type) {
    cf_bench_case c = tiny_case(CF_ALGO_ALS, 4, 0.0, 10.0);
    cf_bench_result res;
    char *line = record_of(&c, &res);
    cf_error err = {0};
    cr_assert_eq(cf_bench_validate_record(line, &err), CF_OK, "%s", err.msg);
    cJSON *o = cJSON_Parse(line);
    cr_assert_not_null(o);
    /* Independently of the validator: keys and types the issue names. */
    static const char *const strs[][2] = {{"date", NULL}, {"commit", NULL}, {"case", NULL}, {"status", NULL},
                                          {"device", "name"}, {"device", "kind"}, {"host", "cpu_model"},
                                          {"dataset", "name"}, {"dataset", "hash"}, {"config", "algo"},
                                          {"config", "precision"}, {"model", "bound"}, {"ceilings", "gemm"}};
    for (size_t j = 0; j < sizeof strs / sizeof *strs; j++)
        cr_assert(cJSON_IsString(at(o, strs[j][0], strs[j][1])), "%s.%s", strs[j][0], strs[j][1] ? strs[j][1] : "");
    cr_assert(cJSON_IsNull(at(o, "device", "driver_version")));
    cr_assert(cJSON_IsNull(at(o, "device", "cuda_version")));
    cr_assert(cJSON_IsNull(at(o, "device", "nvidia_driver")));
    cr_assert_str_eq(at(o, "status", NULL)->valuestring, "ok");
    cr_assert_eq(at(o, "dataset", "users")->valuedouble, 300);
    cr_assert_eq(at(o, "dataset", "items")->valuedouble, 120);
    cr_assert_eq(at(o, "dataset", "ratings")->valuedouble, 6000);
    cr_assert_eq(at(o, "dataset", "train")->valuedouble + at(o, "dataset", "test")->valuedouble, 6000);
    cr_assert_eq(strlen(at(o, "dataset", "hash")->valuestring), 16);
    cr_assert_eq(at(o, "config", "factors")->valuedouble, 4);
    cr_assert_eq(at(o, "host", "threads")->valuedouble, 1);
    cr_assert_eq(cJSON_GetArraySize(at(o, "test_rmse_per_iter", NULL)), 4);
    cr_assert_eq(cJSON_GetArraySize(at(o, "seconds_per_iter", "all")), 2);
    cr_assert_eq(at(o, "protocol", "warmup")->valuedouble, 2);
    /* Medians and derived figures agree with each other. */
    double med = at(o, "seconds_per_iter", "median")->valuedouble;
    double a0 = cJSON_GetArrayItem(at(o, "seconds_per_iter", "all"), 0)->valuedouble;
    double a1 = cJSON_GetArrayItem(at(o, "seconds_per_iter", "all"), 1)->valuedouble;
    cr_assert_float_eq(med, 0.5 * (a0 + a1), 1e-12 * (a0 + a1));
    double train = at(o, "dataset", "train")->valuedouble;
    cr_assert_float_eq(at(o, "updates_per_sec", NULL)->valuedouble, train / med, 1e-9 * train / med);
    double flops = at(o, "model", "flops_per_iter")->valuedouble;
    cr_assert_float_eq(at(o, "gflops", NULL)->valuedouble, flops / med / 1e9, 1e-9 * flops / med / 1e9);
    cr_assert_gt(at(o, "ceilings", "copy_gbps")->valuedouble, 0);
    cr_assert_gt(at(o, "ceilings", "gemm_gflops")->valuedouble, 0);
    cr_assert_float_eq(at(o, "share", "flops")->valuedouble,
                       at(o, "gflops", NULL)->valuedouble / at(o, "ceilings", "gemm_gflops")->valuedouble, 1e-9);
    cr_assert(cJSON_IsNumber(at(o, "phases", "users")) && cJSON_IsNumber(at(o, "phases", "items")));
    cr_assert_gt(at(o, "memory", "host_peak_bytes")->valuedouble, 1e6);
    cr_assert(cJSON_IsNull(at(o, "memory", "device_peak_bytes")));
    /* The check value is the last test RMSE of the per-iteration list and lies in the range. */
    double last = cJSON_GetArrayItem(at(o, "test_rmse_per_iter", NULL), 3)->valuedouble;
    cr_assert_eq(at(o, "check", "test_rmse")->valuedouble, last);
    cr_assert_float_eq(res.check_rmse, last, 1e-12);
    cJSON_Delete(o);
    free(line);
}

Test(bench, validator_names_a_missing_key_and_a_wrong_type) {
    cf_bench_case c = tiny_case(CF_ALGO_SGD, 4, 0.0, 10.0);
    char *line = record_of(&c, NULL);
    cf_error err = {0};
    cJSON *o = cJSON_Parse(line);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "dataset"), "hash");
    char *bad = cJSON_PrintUnformatted(o);
    cr_assert_eq(cf_bench_validate_record(bad, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "missing key 'dataset.hash'"), "%s", err.msg);
    free(bad);
    cJSON_Delete(o);

    o = cJSON_Parse(line);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "updates_per_sec", cJSON_CreateString("fast"));
    bad = cJSON_PrintUnformatted(o);
    cr_assert_eq(cf_bench_validate_record(bad, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "key 'updates_per_sec': string, expected number"), "%s", err.msg);
    free(bad);
    cJSON_Delete(o);

    o = cJSON_Parse(line); /* an ok record may not have null timings */
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "seconds_per_iter"), "median",
                                           cJSON_CreateNull());
    bad = cJSON_PrintUnformatted(o);
    cr_assert_eq(cf_bench_validate_record(bad, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "seconds_per_iter.median"), "%s", err.msg);
    free(bad);
    cJSON_Delete(o);
    cr_assert_eq(cf_bench_validate_record("{\"schema\":1", &err), CF_ERR_PARSE);
    free(line);
}

/* The SGD byte model counts the factors at their storage's size: 2 bytes in fp16 (the
 * first GPU records counted 4, which put the fp16 case at 113 % of the copy bandwidth). */
Test(bench, sgd_byte_model_counts_fp16_factors_at_two_bytes) {
    cf_ratings R;
    memset(&R, 0, sizeof R);
    R.nnz = 1000, R.n_users = 10, R.n_items = 20;
    cf_config c;
    cf_config_default(&c);
    c.algo = CF_ALGO_SGD, c.factors = 128;
    double f32, b32, f16, b16;
    const char *bound;
    c.precision = CF_PRECISION_FP32;
    cf_bench_model(&c, &R, 4, &f32, &b32, &bound);
    c.precision = CF_PRECISION_FP16;
    cf_bench_model(&c, &R, 4, &f16, &b16, &bound);
    cr_assert_eq(b32, 1000.0 * (4 * 128 * 4 + 4 * 4 + 12));
    cr_assert_eq(b16, 1000.0 * (4 * 128 * 2 + 4 * 4 + 12));
    cr_assert_eq(f16, f32, "the same arithmetic");
    cr_assert_str_eq(bound, "memory");
}

/* GPU SGD's traffic model (bench_impl.h cf_bench_sgd_traffic_model, the one of
 * `cufactor bench` and bench_sgd): the factors at their storage's size, rows once per run,
 * a side that stays in L2 read and written once per epoch. Values written out from the
 * stated formula on the Netflix shape (hogwild runs of 256; blocks B = 1024) and on a
 * small set whose two sides stay in L2. */
Test(bench, sgd_traffic_model_by_precision_schedule_and_cache) {
    const int64_t nnz = 98998850, nu = 480189, ni = 17770;
    cf_bench_sgd_traffic t16, t32, tb, ts, tn;
    cf_bench_sgd_traffic_model(nnz, nu, ni, 128, 1, 1, 256, 0, CF_BENCH_L2_BUDGET, &t16);
    cf_bench_sgd_traffic_model(nnz, nu, ni, 128, 0, 1, 256, 0, CF_BENCH_L2_BUDGET, &t32);
    const double row16 = 2 * 128 * 2 + 8 + 4, row32 = 2 * 128 * 4 + 8 + 4; /* 524, 1036 */
    const double ur = (double)nu / (double)nnz + 1.0 / 256;
    cr_assert_float_eq(t16.user_rows, ur, 1e-15);
    cr_assert_eq(t16.item_rows, 1.0);
    cr_assert(t16.items_in_l2 && !t16.users_in_l2, "4.5 MB of items stay in L2, 123 MB of users do not");
    cr_assert(t32.items_in_l2 && !t32.users_in_l2, "9.1 MB of items stay in L2");
    cr_assert_float_eq(t16.l2_bytes, 12 + (ur + 1) * row16, 1e-9);
    cr_assert_float_eq(t32.l2_bytes, 12 + (ur + 1) * row32, 1e-9);
    cr_assert_float_eq(t16.dram_bytes, 12 + ur * row16 + (double)ni * row16 / (double)nnz, 1e-9);
    cr_assert_float_eq(t32.dram_bytes, 12 + ur * row32 + (double)ni * row32 / (double)nnz, 1e-9);
    cr_assert_float_eq((t32.l2_bytes - 12) / (t16.l2_bytes - 12), row32 / row16, 1e-12, "fp16 moves half the factor bytes");
    cr_assert_lt(t16.dram_bytes, 20.0, "≈ 17 B fp16 at K = 128 (sgd.cu header)");
    /* no biases: no 8-byte bias per row */
    cf_bench_sgd_traffic_model(nnz, nu, ni, 128, 1, 0, 256, 0, CF_BENCH_L2_BUDGET, &tn);
    cr_assert_float_eq(tn.l2_bytes, 12 + (ur + 1) * (row16 - 8), 1e-9);
    /* blocks: a user row every update, items in runs of ≈ nnz / (n_items · B) */
    cf_bench_sgd_traffic_model(nnz, nu, ni, 128, 0, 1, 0, 1024, CF_BENCH_L2_BUDGET, &tb);
    cr_assert_eq(tb.user_rows, 1.0);
    cr_assert_float_eq(tb.item_rows, (double)ni * 1024 / (double)nnz, 1e-15);
    cr_assert_float_eq(tb.dram_bytes, 12 + row32 + (double)ni * row32 / (double)nnz, 1e-9);
    /* a small set: both sides stay in L2, DRAM carries the ratings and each row once */
    cf_bench_sgd_traffic_model(100000, 943, 1682, 32, 0, 1, 64, 0, CF_BENCH_L2_BUDGET, &ts);
    cr_assert(ts.users_in_l2 && ts.items_in_l2);
    const double rows = 2 * 32 * 4 + 12;
    cr_assert_float_eq(ts.dram_bytes, 12 + (943.0 + 1682.0) * rows / 100000, 1e-9);
    cr_assert_gt(ts.l2_bytes, ts.dram_bytes);
    /* the item side just above the budget comes from DRAM on every update */
    cf_bench_sgd_traffic_model(nnz, nu, 24 * 1024 * 1024 / (128 * 4) + 1, 128, 0, 1, 256, 0, CF_BENCH_L2_BUDGET, &tb);
    cr_assert(!tb.items_in_l2);
    cr_assert_float_eq(tb.dram_bytes, 12 + ur * row32 + row32, 1e-9);
}

/* No share above 1: a modelled rate above its measured ceiling is not physical, so the
 * share is NaN (null in the record) and flagged; a missing ceiling gives NaN unflagged. */
Test(bench, shares_above_the_ceiling_are_not_reported) {
    cf_bench_result r;
    memset(&r, 0, sizeof r);
    r.gflops = 50, r.ceil.gemm_gflops = 100;
    r.gbps = 3000, r.ceil.copy_gbps = 4000;
    r.l2_gbps = 2000, r.ceil.l2_gbps = 8000;
    cf_bench_set_shares(&r);
    cr_assert_float_eq(r.share_flops, 0.5, 1e-15);
    cr_assert_float_eq(r.share_bw, 0.75, 1e-15);
    cr_assert_float_eq(r.share_l2, 0.25, 1e-15);
    cr_assert_eq(r.share_over_ceiling, 0);
    r.gbps = 4520; /* 113 %: the first fp16 record's figure */
    cf_bench_set_shares(&r);
    cr_assert(isnan(r.share_bw) && r.share_over_ceiling);
    cr_assert_float_eq(r.share_l2, 0.25, 1e-15, "the other shares stay");
    r.gbps = 4000; /* exactly at the ceiling: possible */
    r.l2_gbps = NAN, r.ceil.l2_gbps = NAN; /* a CPU case: no L2 figures */
    cf_bench_set_shares(&r);
    cr_assert_float_eq(r.share_bw, 1.0, 1e-15);
    cr_assert(isnan(r.share_l2) && !r.share_over_ceiling);
}

/* The record carries the L2 members (null on the CPU) and a share that was over its
 * ceiling as null with share.over_ceiling true; it still validates. */
Test(bench, record_l2_members_and_over_ceiling) {
    cf_bench_case c = tiny_case(CF_ALGO_SGD, 4, 0.0, 10.0);
    cf_bench_result res;
    char *line = record_of(&c, &res);
    cf_error err = {0};
    cr_assert_eq(cf_bench_validate_record(line, &err), CF_OK, "%s", err.msg);
    cJSON *o = cJSON_Parse(line);
    cr_assert(cJSON_IsNull(at(o, "l2_gbps", NULL)) && cJSON_IsNull(at(o, "model", "l2_bytes_per_iter")));
    cr_assert(cJSON_IsNull(at(o, "ceilings", "l2_gbps")) && cJSON_IsNull(at(o, "share", "l2")));
    cr_assert(cJSON_IsBool(at(o, "share", "over_ceiling")));
    cJSON_Delete(o);
    free(line);

    /* the same result with a bandwidth above the copy ceiling */
    cf_bench_dataset_spec s = tiny_spec();
    cf_bench_data *d = NULL;
    cr_assert_eq(cf_bench_data_load(&s, NULL, &d, &err), CF_OK, "%s", err.msg);
    cf_bench_data_info di;
    cf_bench_data_info_get(d, &di);
    double te[4], tr[4], secs[2] = {res.sec_median, res.sec_median}; /* record_of dropped the arrays */
    for (int j = 0; j < 4; j++) te[j] = tr[j] = res.check_rmse;
    res.test_rmse = te, res.train_rmse = tr, res.iter_seconds = secs;
    res.gbps = 2 * res.ceil.copy_gbps;
    cf_bench_set_shares(&res);
    cf_bench_meta meta = {.date = "2030-01-01T00:00:00Z", .commit = "abc123", .suite = "test"};
    cr_assert_eq(cf_bench_result_json(&meta, &c, &di, &res, &line, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_bench_validate_record(line, &err), CF_OK, "%s", err.msg);
    o = cJSON_Parse(line);
    cr_assert(cJSON_IsNull(at(o, "share", "bandwidth")) && cJSON_IsNull(at(o, "share", "relevant")));
    cr_assert(cJSON_IsTrue(at(o, "share", "over_ceiling")));
    cr_assert_float_eq(at(o, "gbps", NULL)->valuedouble, res.gbps, 1e-9 * res.gbps, "the rate itself stays");
    cJSON_Delete(o);
    free(line);
    cf_bench_data_destroy(&d);
}

/* The NVIDIA driver's version, from the two texts a machine offers: the first line of
 * /proc/driver/nvidia/version (proprietary and open kernel modules) and nvidia-smi's csv. */
Test(bench, nvidia_driver_version_is_read_from_proc_or_nvidia_smi) {
    char v[32];
    cr_assert_eq(cf_bench_parse_nvidia_driver(
                     "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Thu Oct 30 19:37:28 UTC 2025\n"
                     "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n",
                     v, sizeof v),
                 1);
    cr_assert_str_eq(v, "580.159.04");
    cr_assert_eq(cf_bench_parse_nvidia_driver("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  535.104.05  "
                                              "Release Build  (dvs-builder@U16-I3-B03-4-3)  Sat Aug 19 01:15:15 UTC "
                                              "2023\nGCC version:  gcc version 11.4.0\n",
                                              v, sizeof v),
                 1);
    cr_assert_str_eq(v, "535.104.05");
    cr_assert_eq(cf_bench_parse_nvidia_driver("580.159.04\n580.159.04\n", v, sizeof v), 1); /* two GPUs */
    cr_assert_str_eq(v, "580.159.04");
    cr_assert_eq(cf_bench_parse_nvidia_driver("  550.54 \r\n", v, sizeof v), 1);
    cr_assert_str_eq(v, "550.54");
    /* Nothing that is not a driver version: never the CUDA version, the GCC one or a guess. */
    static const char *const none[] = {"",
                                       "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
                                       "13.0 (CUDA)\n",
                                       "[N/A]\n",
                                       "NVRM version: NVIDIA UNIX x86_64 Kernel Module\nGCC version:  gcc version 12.2.0\n",
                                       "580\n",
                                       "580.159.\n",
                                       "x580.159.04\n"};
    for (size_t j = 0; j < sizeof none / sizeof *none; j++) {
        v[0] = 'x';
        cr_assert_eq(cf_bench_parse_nvidia_driver(none[j], v, sizeof v), 0, "%s", none[j]);
        cr_assert_str_eq(v, "", "%s", none[j]);
    }
    char small[6]; /* too small for the version: nothing, not a cut version */
    cr_assert_eq(cf_bench_parse_nvidia_driver("580.159.04\n", small, sizeof small), 0);
    cr_assert_str_eq(small, "");
    cr_assert_eq(cf_bench_parse_nvidia_driver(NULL, v, sizeof v), 0);
    /* On this machine: a version or "" (no NVIDIA driver), never anything else. */
    cf_bench_nvidia_driver(v, sizeof v);
    if (v[0]) {
        char again[32];
        cr_assert_eq(cf_bench_parse_nvidia_driver(v, again, sizeof again), 1, "%s", v);
    }
}

/* Records from before device.nvidia_driver existed (bench/results/gpu.jsonl's first ones)
 * stay valid; when present it is a string or null. Every committed results file validates. */
Test(bench, nvidia_driver_key_is_optional_and_committed_results_are_valid) {
    cf_bench_case c = tiny_case(CF_ALGO_ALS, 4, 0.0, 10.0);
    char *line = record_of(&c, NULL);
    cf_error err = {0};
    cJSON *o = cJSON_Parse(line);
    cJSON *dev = cJSON_GetObjectItemCaseSensitive(o, "device");
    cJSON_DeleteItemFromObjectCaseSensitive(dev, "nvidia_driver");
    char *old = cJSON_PrintUnformatted(o);
    cr_assert_eq(cf_bench_validate_record(old, &err), CF_OK, "%s", err.msg);
    cJSON_AddItemToObject(dev, "nvidia_driver", cJSON_CreateNumber(580));
    char *bad = cJSON_PrintUnformatted(o);
    cr_assert_eq(cf_bench_validate_record(bad, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "device.nvidia_driver"), "%s", err.msg);
    free(old), free(bad), free(line);
    cJSON_Delete(o);
    static const char *const files[] = {CF_SOURCE_DIR "/bench/results/cpu.jsonl",
                                        CF_SOURCE_DIR "/bench/results/gpu.jsonl"};
    for (size_t j = 0; j < sizeof files / sizeof *files; j++) {
        FILE *f = fopen(files[j], "r");
        cr_assert_not_null(f, "%s", files[j]);
        char buf[1 << 16];
        int n = 0;
        while (fgets(buf, sizeof buf, f)) {
            n++;
            cr_assert_eq(cf_bench_validate_record(buf, &err), CF_OK, "%s line %d: %s", files[j], n, err.msg);
        }
        fclose(f);
        cr_assert_gt(n, 0, "%s", files[j]);
    }
}

Test(bench, a_case_outside_its_rmse_range_fails_and_reports_no_time) {
    cf_bench_case c = tiny_case(CF_ALGO_ALS, 4, 0.0, 0.01); /* unreachable: noise σ = 0.3 */
    cf_bench_result res;
    char *line = record_of(&c, &res);
    cr_assert_eq(res.status, CF_BENCH_FAILED);
    cr_assert(strstr(res.reason, "check failed: test RMSE"), "%s", res.reason);
    cf_error err = {0};
    cr_assert_eq(cf_bench_validate_record(line, &err), CF_OK, "%s", err.msg);
    cJSON *o = cJSON_Parse(line);
    cr_assert_str_eq(at(o, "status", NULL)->valuestring, "failed");
    cr_assert(cJSON_IsNull(at(o, "seconds_per_iter", "median")));
    cr_assert(cJSON_IsNull(at(o, "updates_per_sec", NULL)));
    cr_assert(cJSON_IsFalse(at(o, "check", "passed")));
    cr_assert_gt(at(o, "check", "test_rmse")->valuedouble, 0.01);
    cJSON_Delete(o);
    free(line);
}

Test(bench, gpu_case_without_gpu_is_skipped_with_a_reason) {
    char why[256] = "";
    if (cf_gpu_available(why, sizeof why)) cr_skip_test("a GPU is usable here");
    cf_bench_case c = tiny_case(CF_ALGO_ALS, 4, 0.0, 10.0);
    c.cfg.device = CF_DEVICE_GPU, c.cfg.precision = CF_PRECISION_FP32;
    snprintf(c.precision, sizeof c.precision, "fp32");
    cf_bench_dataset_spec s = tiny_spec();
    cf_bench_data *d = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_bench_data_load(&s, NULL, &d, &err), CF_OK, "%s", err.msg);
    cf_bench_ceilings ceil = {0};
    cf_bench_result res;
    cr_assert_eq(cf_bench_run_case(&c, d, &ceil, &res, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(res.status, CF_BENCH_SKIPPED);
    cr_assert(strstr(res.reason, "no usable GPU"), "%s", res.reason);
    cf_bench_result_free(&res);
    cf_bench_data_destroy(&d);
}

/* ------------------------------------------------------------------ comparison */

/* A hand-made record from the template: case name, K, median s/iter, run date. */
static char *made(const char *tmpl, const char *name, int k, double median, const char *date) {
    cJSON *o = cJSON_Parse(tmpl);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "case", cJSON_CreateString(name));
    cJSON_ReplaceItemInObjectCaseSensitive(o, "date", cJSON_CreateString(date));
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "config"), "factors",
                                           cJSON_CreateNumber(k));
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "seconds_per_iter"), "median",
                                           cJSON_CreateNumber(median));
    cJSON_ReplaceItemInObjectCaseSensitive(o, "updates_per_sec", cJSON_CreateNumber(1000.0 / median));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static char *write_lines(const char *name, char **lines, int n) {
    size_t len = 1;
    for (int j = 0; j < n; j++) len += strlen(lines[j]) + 1;
    char *buf = calloc(1, len);
    for (int j = 0; j < n; j++) strcat(strcat(buf, lines[j]), "\n");
    char *p = cf_test_write(dir, name, buf, (size_t)-1);
    free(buf);
    for (int j = 0; j < n; j++) free(lines[j]);
    return p;
}

/* old: slow-a (an older 2.0, then 1.0), five-b 1.0, k8-c with K=8 1.0.
 * new: slow-a 1.15 (+15 %), five-b 1.05 (+5 %), k8-c with K=16 (another config). */
static void make_history(char **oldp, char **newp) {
    cf_bench_case c = tiny_case(CF_ALGO_ALS, 4, 0.0, 10.0);
    char *t = record_of(&c, NULL);
    char *old[] = {made(t, "slow-a", 4, 2.0, "2030-01-01T00:00:00Z"), made(t, "slow-a", 4, 1.0, "2030-01-02T00:00:00Z"),
                   made(t, "five-b", 5, 1.0, "2030-01-02T00:00:00Z"), made(t, "k8-c", 8, 1.0, "2030-01-02T00:00:00Z")};
    char *nw[] = {made(t, "slow-a", 4, 1.15, "2030-01-03T00:00:00Z"), made(t, "five-b", 5, 1.05, "2030-01-03T00:00:00Z"),
                  made(t, "k8-c", 16, 1.0, "2030-01-03T00:00:00Z")};
    *oldp = write_lines("old.jsonl", old, 4);
    *newp = write_lines("new.jsonl", nw, 3);
    free(t);
}

Test(bench, compare_fails_15_percent_passes_5_percent_and_skips_other_configs) {
    char *oldp, *newp;
    make_history(&oldp, &newp);
    cf_bench_cmp_row *rows = NULL;
    int n = 0, bad = 0;
    cf_error err = {0};
    cr_assert_eq(cf_bench_compare(oldp, newp, 10, &rows, &n, &bad, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    cr_assert_eq(bad, 1);
    cr_assert_str_eq(rows[0].case_name, "slow-a");
    cr_assert_eq(rows[0].verdict, CF_CMP_REGRESSED);
    cr_assert_float_eq(rows[0].before, 1.0, 1e-12); /* the last record, not the older 2.0 */
    cr_assert_float_eq(rows[0].change, 0.15, 1e-9);
    cr_assert_eq(rows[1].verdict, CF_CMP_SAME);
    cr_assert_float_eq(rows[1].change, 0.05, 1e-9);
    cr_assert_eq(rows[2].verdict, CF_CMP_NEW); /* K = 16 was never run: not compared with K = 8 */
    cr_assert(isnan(rows[2].before));
    free(rows);
    /* A looser threshold lets the 15 % through. */
    cr_assert_eq(cf_bench_compare(oldp, newp, 20, &rows, &n, &bad, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(bad, 0);
    cr_assert_eq(rows[0].verdict, CF_CMP_SAME);
    free(rows);
    /* A missing history is empty: everything is new. */
    char *none = cf_test_path(dir, "none.jsonl");
    cr_assert_eq(cf_bench_compare(none, newp, 10, &rows, &n, &bad, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(n, 3);
    for (int j = 0; j < n; j++) cr_assert_eq(rows[j].verdict, CF_CMP_NEW);
    free(rows), free(none);

    run_result r = cli("bench", "compare", oldp, newp, NULL);
    cr_assert_eq(r.code, 3, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "+15.0%") && strstr(r.out, "REGRESSED") && strstr(r.out, "+5.0%"), "%s", r.out);
    run_free(&r);
    r = cli("bench", "compare", oldp, newp, "--threshold", "20", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    run_free(&r);
    free(oldp), free(newp);
}

Test(bench, compare_names_the_line_of_a_bad_record) {
    char *oldp, *newp;
    make_history(&oldp, &newp);
    FILE *f = fopen(oldp, "a");
    fputs("{\"schema\":1}\n", f);
    fclose(f);
    cf_bench_cmp_row *rows = NULL;
    int n = 0, bad = 0;
    cf_error err = {0};
    cr_assert_eq(cf_bench_compare(oldp, newp, 10, &rows, &n, &bad, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "old.jsonl:5: missing key"), "%s", err.msg);
    free(oldp), free(newp);
}

Test(bench, history_has_one_block_per_config_and_counts_runs) {
    char *oldp, *newp;
    make_history(&oldp, &newp);
    char *all = cf_test_path(dir, "all.jsonl"), *dat = cf_test_path(dir, "h.dat");
    char *a = cf_test_read(oldp, NULL), *b = cf_test_read(newp, NULL);
    size_t la = strlen(a), lb = strlen(b);
    char *ab = malloc(la + lb + 1);
    memcpy(ab, a, la), memcpy(ab + la, b, lb + 1);
    free(cf_test_write(dir, "all.jsonl", ab, (size_t)-1));
    int ns = 0, nr = 0;
    cf_error err = {0};
    cr_assert_eq(cf_bench_history(all, dat, &ns, &nr, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(nr, 3);
    cr_assert_eq(ns, 4); /* slow-a, five-b, k8-c K=8, k8-c K=16 */
    char *txt = cf_test_read(dat, NULL);
    cr_assert(strstr(txt, "\"slow-a\"\n0 abc123 500\n1 abc123 1000\n2 abc123 869.565"), "%s", txt);
    cr_assert(strstr(txt, "\"k8-c #2\"\n2 abc123 1000\n"), "%s", txt);
    free(txt), free(a), free(b), free(ab), free(all), free(dat), free(oldp), free(newp);
}

/* ------------------------------------------------------------------ suites file */

static cf_status parse_text(const char *text, cf_error *err) {
    char *p = cf_test_write(dir, "s.conf", text, (size_t)-1);
    cf_bench_file *f = NULL;
    cf_status st = cf_bench_file_read(p, &f, err);
    cf_bench_file_destroy(&f);
    free(p);
    return st;
}

Test(bench, suites_file_errors_name_line_and_field) {
    cf_error err = {0};
    const char *ds = "dataset d synth users=10 items=10 ratings=50\n";
    char buf[1024];
    struct {
        const char *text, *want;
    } cases[] = {
        {"suite q\ncase a data=d algo=als device=cpu rmse=0:1 k=zero\n", "s.conf:3: field 'k': 'zero'"},
        {"suite q\ncase a data=d algo=als device=cpu\n", "s.conf:3: case 'a': missing field 'rmse'"},
        {"suite q\ncase a data=d algo=als device=cpu rmse=1:0.5\n", "s.conf:3: field 'rmse'"},
        {"suite q\ncase a data=d algo=ccd device=cpu rmse=0:1 precision=fp32\n",
         "precision': fp32 is not available on the cpu for ccd"},
        {"suite q\ncase a data=d algo=als device=cpu rmse=0:1 iters=3 repeats=3\n", "field 'repeats'"},
        {"suite q\ncase a data=d algo=sgd device=cpu rmse=0:1 precision=fp16\n", "precision': fp16 is not available on the cpu"},
        {"suite q\ncase a data=d algo=als device=gpu rmse=0:1 precision=fp16\n", "fp16"},
        {"suite q\ncase a data=d algo=sgd device=gpu rmse=0:1 precision=fp8\n", "expected fp64, fp32 or fp16"},
        {"suite q\ncase a data=nope algo=als device=cpu rmse=0:1\n", "field 'data': no data set 'nope'"},
        {"case a data=d algo=als device=cpu rmse=0:1\n", "s.conf:2: a case before any 'suite' line"},
        {"suite q\ncase a data=d algo=nmf device=cpu rmse=0:1\n", "s.conf:3: field 'algo': unknown algorithm 'nmf'"},
        {"suite q\nsuite q\n", "s.conf:3: suite 'q' defined twice"},
        {"bogus\n", "s.conf:2: unknown line kind 'bogus'"},
    };
    for (size_t j = 0; j < sizeof cases / sizeof *cases; j++) {
        snprintf(buf, sizeof buf, "%s%s", ds, cases[j].text);
        cr_assert_eq(parse_text(buf, &err), CF_ERR_PARSE, "case %zu", j);
        cr_assert(strstr(err.msg, cases[j].want), "case %zu: %s", j, err.msg);
    }
    cr_assert_eq(parse_text("dataset d synth users=10 items=10\nsuite q\n", &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "s.conf:1: data set 'd': synth needs"), "%s", err.msg);
}

Test(bench, repository_suites_file_has_quick_and_nightly) {
    cf_bench_file *f = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_bench_file_read(CF_SOURCE_DIR "/bench/suites.conf", &f, &err), CF_OK, "%s", err.msg);
    const cf_bench_suite *q = cf_bench_find_suite(f, "quick"), *n = cf_bench_find_suite(f, "nightly");
    cr_assert(q && n);
    for (int j = 0; j < q->n_cases; j++) cr_assert_eq(q->cases[j].cfg.device, CF_DEVICE_CPU);
    int gpu_als_100 = 0, gpu_als_128 = 0, gpu_sgd = 0, cpu = 0;
    for (int j = 0; j < n->n_cases; j++) {
        const cf_bench_case *c = &n->cases[j];
        if (c->cfg.device == CF_DEVICE_GPU) {
            cr_assert(!strcmp(c->precision, "fp32") || (!strcmp(c->precision, "fp16") && c->cfg.algo == CF_ALGO_SGD &&
                                                          c->cfg.precision == CF_PRECISION_FP16),
                      "%s: %s", c->name, c->precision);
            if (!strcmp(c->dataset, "netflix") && c->cfg.algo == CF_ALGO_ALS) {
                gpu_als_100 += c->cfg.factors == 100;
                gpu_als_128 += c->cfg.factors == 128;
            }
            gpu_sgd += !strcmp(c->dataset, "netflix") && c->cfg.algo == CF_ALGO_SGD;
        } else { /* the reference, or the fp32 path where it exists */
            cr_assert(!strcmp(c->precision, "fp64") ||
                          (!strcmp(c->precision, "fp32") && (c->cfg.algo == CF_ALGO_ALS || c->cfg.algo == CF_ALGO_SGD)),
                      "%s: %s", c->name, c->precision);
            cr_assert_eq(c->cfg.precision, strcmp(c->precision, "fp32") ? CF_PRECISION_FP64 : CF_PRECISION_FP32,
                         "%s", c->name);
            cpu++;
        }
    }
    cr_assert(gpu_als_100 && gpu_als_128 && gpu_sgd && cpu);
    const cf_bench_dataset_spec *nf = cf_bench_find_dataset(f, "netflix");
    cr_assert(nf && nf->gen.users == 480189 && nf->gen.items == 17770 && nf->gen.ratings == 100000000);
    cf_bench_file_destroy(&f);
}

/* The GPU cases' rmse= ranges were set from their first records (bench/results/gpu.jsonl,
 * H200, 2026-12-04; the comments in suites.conf): each recorded test RMSE lies inside its
 * case's range, and the range is not looser than 5 % over it nor reaches 0.80 (iteration 2). */
Test(bench, gpu_rmse_ranges_hold_the_recorded_gpu_runs) {
    cf_bench_file *f = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_bench_file_read(CF_SOURCE_DIR "/bench/suites.conf", &f, &err), CF_OK, "%s", err.msg);
    const cf_bench_suite *n = cf_bench_find_suite(f, "nightly");
    cr_assert_not_null(n);
    FILE *r = fopen(CF_SOURCE_DIR "/bench/results/gpu.jsonl", "r");
    cr_assert_not_null(r);
    char line[1 << 16];
    int checked = 0;
    while (fgets(line, sizeof line, r)) {
        cJSON *o = cJSON_Parse(line);
        cr_assert_not_null(o);
        const char *name = at(o, "case", NULL)->valuestring;
        double rmse = at(o, "check", "test_rmse")->valuedouble;
        for (int j = 0; j < n->n_cases; j++) {
            const cf_bench_case *c = &n->cases[j];
            if (strcmp(c->name, name)) continue;
            cr_assert(rmse >= c->rmse_lo && rmse <= c->rmse_hi, "%s: recorded %g outside %g:%g", name, rmse,
                      c->rmse_lo, c->rmse_hi);
            cr_assert_leq(c->rmse_hi, rmse * 1.05 + 0.01, "%s: hi %g, recorded %g", name, c->rmse_hi, rmse);
            cr_assert_lt(c->rmse_hi, 0.80, "%s", name);
            checked++;
        }
        cJSON_Delete(o);
    }
    fclose(r);
    int gpu_cases = 0;
    for (int j = 0; j < n->n_cases; j++) gpu_cases += n->cases[j].cfg.device == CF_DEVICE_GPU;
    cr_assert_geq(checked, gpu_cases, "every GPU case has a record");
    cf_bench_file_destroy(&f);
}

/* ------------------------------------------------------------------ cache */

/* A dataset of 5 ratings over 3 users x 4 items, in the given (maybe unsorted) order. */
static cf_dataset *small_dataset(const uint32_t *u, const uint32_t *i, const float *r, int n) {
    cf_dataset *ds = cf_dataset_create();
    cr_assert_not_null(ds);
    for (int k = 0; k < 4; k++) {
        char nm[8];
        snprintf(nm, sizeof nm, "%c%d", 'x', k);
        uint32_t idx;
        if (k < 3) cr_assert_eq(cf_idmap_intern(ds->users, nm, strlen(nm), &idx, NULL), 0);
        cr_assert_eq(cf_idmap_intern(ds->items, nm, strlen(nm), &idx, NULL), 0);
    }
    for (int k = 0; k < n; k++) cr_assert_eq(cf_dataset_push(ds, u[k], i[k], r[k], 0), 0);
    return ds;
}

Test(bench, cache_round_trip_keeps_the_order_and_corruption_is_detected) {
    uint32_t u[5] = {0, 1, 2, 1, 0}, i[5] = {3, 1, 0, 2, 2}; /* not sorted: the order must survive */
    float r[5] = {1, 2.5f, 3, 4, 5};
    char *p = cf_test_path(dir, "c.cfd");
    cf_error err = {0};
    cf_dataset *ds = small_dataset(u, i, r, 5);
    cr_assert_eq(cf_bench_cache_write(p, ds, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    size_t len;
    unsigned char *bytes = (unsigned char *)cf_test_read(p, &len);
    cr_assert(len > 12 && !memcmp(bytes, "CFDATA\r\n", 8) && bytes[8] == 2, "a version-2 CFDATA file");
    free(bytes);
    int64_t nu, ni;
    cf_triplets t;
    uint64_t h;
    cr_assert_eq(cf_bench_cache_read(p, &nu, &ni, &t, &h, &err), CF_OK, "%s", err.msg);
    cr_assert(nu == 3 && ni == 4 && t.n == 5);
    cr_assert_eq(h, cf_bench_hash(3, 4, 5, u, i, r));
    for (int j = 0; j < 5; j++) cr_assert(t.u[j] == u[j] && t.i[j] == i[j] && t.r[j] == r[j]);
    cf_triplets_free(&t);
    /* Flip one rating's bits: the checksum catches it. */
    FILE *f = fopen(p, "r+b");
    fseek(f, 88 + 40 + 4, SEEK_SET);
    float x = 2.0f;
    fwrite(&x, 4, 1, f);
    fclose(f);
    cr_assert_eq(cf_bench_cache_read(p, &nu, &ni, &t, &h, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "c.cfd: corrupt binary dataset: checksum mismatch"), "%s", err.msg);
    cr_assert_null(t.u);
    /* Truncated. */
    cr_assert_eq(truncate(p, 100), 0);
    cr_assert_eq(cf_bench_cache_read(p, &nu, &ni, &t, &h, &err), CF_ERR_PARSE);
    cr_assert(strstr(err.msg, "truncated binary dataset: 100 bytes"), "%s", err.msg);
    free(p);
}

/* An unsorted (version-2) file read as a dataset is deduplicated and sorted like text. */
Test(bench, an_unsorted_cache_read_as_a_dataset_is_sorted) {
    uint32_t u[5] = {0, 1, 2, 1, 0}, i[5] = {3, 1, 0, 2, 2};
    float r[5] = {1, 2.5f, 3, 4, 5};
    char *p = cf_test_path(dir, "d.cfd");
    cf_error err = {0};
    cf_dataset *ds = small_dataset(u, i, r, 5);
    cr_assert_eq(cf_bench_cache_write(p, ds, &err), CF_OK, "%s", err.msg);
    cf_dataset_destroy(&ds);
    cf_read_report rep;
    cr_assert_eq(cf_dataset_read(p, NULL, &ds, &rep, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rep.ratings, 5);
    cr_assert_eq(rep.format, CF_FORMAT_BINARY);
    static const uint32_t su[5] = {0, 0, 1, 1, 2}, si[5] = {2, 3, 1, 2, 0};
    static const float sr[5] = {5, 1, 2.5f, 4, 3};
    cr_assert_eq(ds->all.n, 5);
    for (int j = 0; j < 5; j++) cr_assert(ds->all.u[j] == su[j] && ds->all.i[j] == si[j] && ds->all.r[j] == sr[j]);
    cf_dataset_destroy(&ds);
    free(p);
}

/* A cache of the old CFBENCH format is not read: the set is regenerated, with a notice. */
Test(bench, an_old_format_cache_is_regenerated_with_a_notice) {
    cf_bench_dataset_spec s = tiny_spec();
    s.gen.seed = 7;
    char *cache = cf_test_path(dir, "oldcache");
    mkdir(cache, 0777);
    cf_bench_data *a = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_bench_data_load(&s, cache, &a, &err), CF_OK, "%s", err.msg);
    cf_bench_data_info ia;
    cf_bench_data_info_get(a, &ia);
    cf_bench_data_destroy(&a);
    /* rename the new file to the old name, as if an older cufactor had written it */
    DIR *d = opendir(cache);
    char from[2048] = "", to[2048] = "";
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".cfd")) {
            snprintf(from, sizeof from, "%s/%s", cache, e->d_name);
            snprintf(to, sizeof to, "%.*sbd", (int)strlen(from) - 1, from);
        }
    closedir(d);
    cr_assert(from[0] && rename(from, to) == 0, "%s", from);
    cr_assert_eq(cf_bench_data_load(&s, cache, &a, &err), CF_OK, "%s", err.msg);
    cf_bench_data_info ib;
    cf_bench_data_info_get(a, &ib);
    cr_assert_eq(ib.from_cache, 0);
    cr_assert_eq(ib.hash, ia.hash);
    cr_assert(strstr(ib.notice, "old CFBENCH format") && strstr(ib.notice, "can be deleted"), "%s", ib.notice);
    cf_bench_data_destroy(&a);
    free(cache);
}

Test(bench, synthetic_set_from_the_cache_equals_the_generated_one) {
    cf_bench_dataset_spec s = tiny_spec();
    cf_bench_data *a = NULL, *b = NULL;
    cf_error err = {0};
    cr_assert_eq(cf_bench_data_load(&s, dir, &a, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(cf_bench_data_load(&s, dir, &b, &err), CF_OK, "%s", err.msg);
    cf_bench_data_info ia, ib;
    cf_bench_data_info_get(a, &ia);
    cf_bench_data_info_get(b, &ib);
    cr_assert_eq(ia.from_cache, 0);
    cr_assert_eq(ib.from_cache, 1);
    cr_assert_eq(ia.hash, ib.hash);
    cr_assert(ia.n_train == ib.n_train && ia.n_test == ib.n_test && ia.n_test > 400 && ia.n_test < 800);
    cf_bench_data_destroy(&a), cf_bench_data_destroy(&b);
    s.gen.seed = 2; /* another spec: another file, another hash */
    cr_assert_eq(cf_bench_data_load(&s, dir, &a, &err), CF_OK, "%s", err.msg);
    cf_bench_data_info_get(a, &ia);
    cr_assert_eq(ia.from_cache, 0);
    cr_assert_neq(ia.hash, ib.hash);
    cf_bench_data_destroy(&a);
}

/* ------------------------------------------------------------------ the quick suite, end to end */

Test(bench, quick_suite_runs_and_every_case_passes_its_check) {
    char *out = cf_test_path(dir, "quick.jsonl"), *cache = cf_test_path(dir, "cache");
    run_result r = cli("bench", "run", "--suites", CF_SOURCE_DIR "/bench/suites.conf", "--suite", "quick",
                       "--repeats", "1", "--cache", cache, "--out", out, "--commit", "test", NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "0 failed"), "%s", r.out);
    char *txt = cf_test_read(out, NULL);
    cr_assert_not_null(txt);
    int n = 0;
    for (char *line = strtok(txt, "\n"); line; line = strtok(NULL, "\n"), n++) {
        cf_error err = {0};
        cr_assert_eq(cf_bench_validate_record(line, &err), CF_OK, "%s", err.msg);
        cJSON *o = cJSON_Parse(line);
        cr_assert_str_eq(at(o, "status", NULL)->valuestring, "ok", "%s", line);
        cr_assert_eq(at(o, "protocol", "repeats")->valuedouble, 1);
        cr_assert_str_eq(at(o, "commit", NULL)->valuestring, "test");
        double rm = at(o, "check", "test_rmse")->valuedouble;
        cr_assert(rm >= at(o, "check", "lo")->valuedouble && rm <= at(o, "check", "hi")->valuedouble);
        cJSON_Delete(o);
    }
    cr_assert_eq(n, 6, "the quick suite's 4 fp64 cases and 2 fp32 ones");
    run_free(&r);
    r = cli("bench", "validate", out, NULL);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "6 records, all valid"), "%s", r.out);
    run_free(&r);
    free(txt), free(out), free(cache);
}

Test(bench, usage_errors) {
    run_result r = cli("bench", NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);
    r = cli("bench", "run", "--suites", CF_SOURCE_DIR "/bench/suites.conf", "--suite", "nope", NULL);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "no suite 'nope'") && strstr(r.err, "quick"), "%s", r.err);
    run_free(&r);
    r = cli("bench", "run", "--rmse", "2:1", NULL);
    cr_assert_eq(r.code, 2, "%s", r.err);
    run_free(&r);
    r = cli("bench", "compare", "only-one", NULL);
    cr_assert_eq(r.code, 2);
    run_free(&r);
}
