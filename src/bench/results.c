/*
 * results.c — the JSON-lines results of `cufactor bench`: one object per case per run,
 * written and read with cJSON (Debian libcjson-dev); the schema check, the regression comparison and the
 * history extraction for the plot.
 *
 * Record (schema 1; "num" = JSON number, null where a figure does not apply or the
 * case failed its check):
 *   schema int, date str (UTC start of the run), commit str, suite str, case str,
 *   status "ok"|"failed", reason str|null,
 *   device {kind str, name str, driver_version str|null, cuda_version str|null,
 *           nvidia_driver str|null (optional: absent in the first GPU run's records)},
 *     driver_version is cudaDriverGetVersion ("13.0": the CUDA driver API version),
 *     cuda_version cudaRuntimeGetVersion, nvidia_driver the NVIDIA driver ("580.159.04",
 *     null when it could not be read),
 *   host {cpu_model str, threads int},
 *   dataset {name str, source str, users int, items int, ratings int, train int, test int,
 *            hash str (16 hex digits)},
 *   config {algo, device, precision, reg, lr_schedule, schedule, optimizer: str;
 *           factors, iters, blocks, batch, inner, threads, seed: int; bias: bool;
 *           lambda, lr, lr_decay, init_scale: num},
 *   protocol {warmup int, repeats int},
 *   check {test_rmse num, lo num, hi num, passed bool},
 *   test_rmse_per_iter [num], train_rmse_per_iter [num],
 *   seconds_per_iter {median, min, max: num|null, all: [num]},
 *   phases {NAME: num, ...} (seconds per iteration, median),
 *   updates_per_sec, gflops, gbps: num|null,
 *   l2_gbps num|null (optional),
 *   model {flops_per_iter num, bytes_per_iter num, bound str,
 *          l2_bytes_per_iter num|null (optional)},
 *   ceilings {copy_gbps, gemm_gflops, sgemm_gflops, tf32_gflops: num|null, gemm str,
 *             l2_gbps num|null (optional)},
 *   share {flops num|null, bandwidth num|null, relevant num|null,
 *          l2 num|null (optional), over_ceiling bool (optional)},
 *   (the optional members came with issue 15: GPU SGD's L2 traffic against the L2 ceiling
 *   measured in the same run; a share is null, with over_ceiling true, where the model's
 *   rate exceeds its measured ceiling — never above 1. Older records lack them.)
 *   memory {host_peak_bytes int|null, device_peak_bytes int|null}
 *
 * Two records are comparable when their key is equal: device name, CPU model, data
 * set name and hash, and the whole config object (canonical: its members sorted by name).
 */
#include "cufactor_bench.h"

#include "atomic_file.h"
#include "common.h"

#include <errno.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static cf_status validate_line_internal(const char *line, cf_error *err);

/* ------------------------------------------------------------------ writing */

static cJSON *num(double x) { return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull(); }

static cJSON *num_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int j = 0; a && v && j < n; j++) cJSON_AddItemToArray(a, num(v[j]));
    return a;
}

static cJSON *version_str(int v) {
    if (v <= 0) return cJSON_CreateNull();
    char b[32];
    snprintf(b, sizeof b, "%d.%d", v / 1000, (v % 1000) / 10);
    return cJSON_CreateString(b);
}

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

/* Adds to an object; a NULL item (out of memory) is caught by the final check. */
static void put(cJSON *o, const char *k, cJSON *v) {
    if (o && v) cJSON_AddItemToObject(o, k, v);
    else cJSON_Delete(v);
}
static void put_num(cJSON *o, const char *k, double x) { put(o, k, num(x)); }
static void put_str(cJSON *o, const char *k, const char *s) { put(o, k, cJSON_CreateString(s)); }
static void put_int(cJSON *o, const char *k, int64_t x) { put(o, k, cJSON_CreateNumber((double)x)); }

static const char *const lr_sched_names[] = {"const", "invscale"};
static const char *const sched_names[] = {"shuffle", "blocks", "hogwild"};
static const char *const opt_names[] = {"plain", "adam"};

static cJSON *config_json(const cf_bench_case *c) {
    const cf_config *g = &c->cfg;
    cJSON *o = cJSON_CreateObject();
    put_str(o, "algo", cf_algo_name(g->algo));
    put_str(o, "device", cf_device_name(g->device));
    put_str(o, "precision", c->precision);
    put_int(o, "factors", g->factors);
    put_int(o, "iters", g->iters);
    put_num(o, "lambda", g->lambda);
    put_str(o, "reg", cf_reg_name(g->reg));
    put(o, "bias", cJSON_CreateBool(g->bias));
    put_num(o, "lr", g->lr);
    put_str(o, "lr_schedule", lr_sched_names[g->lr_schedule & 1]);
    put_num(o, "lr_decay", g->lr_decay);
    put_str(o, "schedule", sched_names[(unsigned)g->schedule < 3 ? g->schedule : 0]);
    put_int(o, "blocks", g->blocks);
    put_int(o, "batch", g->batch);
    put_str(o, "optimizer", opt_names[g->optimizer & 1]);
    put_int(o, "inner", g->inner);
    put_int(o, "threads", g->threads);
    put_int(o, "seed", (int64_t)(g->seed & ((1ULL << 53) - 1))); /* JSON numbers are exact to 2^53 */
    put_num(o, "init_scale", g->init_scale);
    return o;
}

cf_status cf_bench_result_json(const cf_bench_meta *meta, const cf_bench_case *c, const cf_bench_data_info *d,
                               const cf_bench_result *res, char **out, cf_error *err) {
    *out = NULL;
    const int ok = res->status == CF_BENCH_OK;
    const double nan = NAN;
#define OKNUM(x) (ok ? (x) : nan)
    char hash[24];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)d->hash);
    cJSON *o = cJSON_CreateObject(), *x;
    put_int(o, "schema", CF_BENCH_SCHEMA);
    put_str(o, "date", meta->date);
    put_str(o, "commit", meta->commit);
    put_str(o, "suite", meta->suite);
    put_str(o, "case", c->name);
    put_str(o, "status", ok ? "ok" : "failed");
    put(o, "reason", str_or_null(ok ? NULL : res->reason));

    put(o, "device", x = cJSON_CreateObject());
    put_str(x, "kind", res->device_kind);
    put_str(x, "name", res->device_name);
    put(x, "driver_version", version_str(res->driver_version));
    put(x, "cuda_version", version_str(res->cuda_version));
    put(x, "nvidia_driver", str_or_null(res->nvidia_driver[0] ? res->nvidia_driver : NULL));
    put(o, "host", x = cJSON_CreateObject());
    put_str(x, "cpu_model", res->cpu_model);
    put_int(x, "threads", res->threads);

    put(o, "dataset", x = cJSON_CreateObject());
    put_str(x, "name", d->name);
    put_str(x, "source", d->source);
    put_int(x, "users", d->users);
    put_int(x, "items", d->items);
    put_int(x, "ratings", d->ratings);
    put_int(x, "train", d->n_train);
    put_int(x, "test", d->n_test);
    put_str(x, "hash", hash);

    put(o, "config", config_json(c));
    put(o, "protocol", x = cJSON_CreateObject());
    put_int(x, "warmup", c->cfg.iters - c->repeats);
    put_int(x, "repeats", c->repeats);
    put(o, "check", x = cJSON_CreateObject());
    put_num(x, "test_rmse", res->check_rmse);
    put_num(x, "lo", c->rmse_lo);
    put_num(x, "hi", c->rmse_hi);
    put(x, "passed", cJSON_CreateBool(ok));

    put(o, "test_rmse_per_iter", num_array(res->test_rmse, res->test_rmse ? res->iters : 0));
    put(o, "train_rmse_per_iter", num_array(res->train_rmse, res->train_rmse ? res->iters : 0));
    put(o, "seconds_per_iter", x = cJSON_CreateObject());
    put_num(x, "median", OKNUM(res->sec_median));
    put_num(x, "min", OKNUM(res->sec_min));
    put_num(x, "max", OKNUM(res->sec_max));
    put(x, "all", num_array(res->iter_seconds, ok ? res->repeats : 0));
    put(o, "phases", x = cJSON_CreateObject());
    for (int p = 0; p < res->n_phases; p++) put_num(x, res->phase_name[p], OKNUM(res->phase_median[p]));
    put_num(o, "updates_per_sec", OKNUM(res->updates_per_sec));
    put_num(o, "gflops", OKNUM(res->gflops));
    put_num(o, "gbps", OKNUM(res->gbps));
    put_num(o, "l2_gbps", OKNUM(res->l2_gbps));

    put(o, "model", x = cJSON_CreateObject());
    put_num(x, "flops_per_iter", OKNUM(res->flops_per_iter));
    put_num(x, "bytes_per_iter", OKNUM(res->bytes_per_iter));
    put_str(x, "bound", res->bound ? res->bound : "");
    put_num(x, "l2_bytes_per_iter", OKNUM(res->l2_bytes_per_iter));
    put(o, "ceilings", x = cJSON_CreateObject());
    put_num(x, "copy_gbps", OKNUM(res->ceil.copy_gbps));
    put_num(x, "gemm_gflops", OKNUM(res->ceil.gemm_gflops));
    put_num(x, "sgemm_gflops", OKNUM(res->ceil.sgemm_gflops));
    put_num(x, "tf32_gflops", OKNUM(res->ceil.tf32_gflops));
    put_str(x, "gemm", res->ceil.gemm_name);
    put_num(x, "l2_gbps", OKNUM(res->ceil.l2_gbps));
    double relevant = res->bound && !strcmp(res->bound, "compute") ? res->share_flops : res->share_bw;
    put(o, "share", x = cJSON_CreateObject());
    put_num(x, "flops", OKNUM(res->share_flops));
    put_num(x, "bandwidth", OKNUM(res->share_bw));
    put_num(x, "relevant", OKNUM(relevant));
    put_num(x, "l2", OKNUM(res->share_l2));
    put(x, "over_ceiling", cJSON_CreateBool(ok && res->share_over_ceiling));
    put(o, "memory", x = cJSON_CreateObject());
    put(x, "host_peak_bytes", ok && res->host_peak_bytes >= 0 ? cJSON_CreateNumber((double)res->host_peak_bytes)
                                                              : cJSON_CreateNull());
    put(x, "device_peak_bytes", ok && res->device_peak_bytes >= 0
                                    ? cJSON_CreateNumber((double)res->device_peak_bytes)
                                    : cJSON_CreateNull());
#undef OKNUM
    *out = o ? cJSON_PrintUnformatted(o) : NULL;
    /* Every put above went through; a lost item would fail the schema check below. */
    cf_error e = {0};
    if (*out && validate_line_internal(*out, &e)) {
        cJSON_free(*out);
        *out = NULL;
        cJSON_Delete(o);
        return cf_fail(err, CF_ERR_NOMEM, "building the JSON record of case '%s' failed: %s", c->name, e.msg);
    }
    cJSON_Delete(o);
    if (!*out) return cf_fail(err, CF_ERR_NOMEM, "serializing the JSON record of case '%s' failed", c->name);
    /* The caller frees with free(): cJSON's default allocator is malloc. */
    return CF_OK;
}

/* ------------------------------------------------------------------ schema */

enum { T_STR = 1, T_INT = 2, T_REAL = 4, T_BOOL = 8, T_NULL = 16, T_OBJ = 32, T_ARR = 64, T_OPT = 128 };
/* T_OPT: the key may be absent (added after records were committed); when present, it has one
 * of the other types. */
#define T_NUM (T_INT | T_REAL)

typedef struct field {
    const char *path; /* "a" or "a.b" */
    int types;        /* accepted types */
    int ok_types;     /* accepted when status is "ok" (0: same as types) */
} field;

static const field schema[] = {
    {"schema", T_INT, 0}, {"date", T_STR, 0}, {"commit", T_STR, 0}, {"suite", T_STR, 0}, {"case", T_STR, 0},
    {"status", T_STR, 0}, {"reason", T_STR | T_NULL, T_NULL},
    {"device", T_OBJ, 0}, {"device.kind", T_STR, 0}, {"device.name", T_STR, 0},
    {"device.driver_version", T_STR | T_NULL, 0}, {"device.cuda_version", T_STR | T_NULL, 0},
    {"device.nvidia_driver", T_STR | T_NULL | T_OPT, 0},
    {"host", T_OBJ, 0}, {"host.cpu_model", T_STR, 0}, {"host.threads", T_INT, 0},
    {"dataset", T_OBJ, 0}, {"dataset.name", T_STR, 0}, {"dataset.source", T_STR, 0}, {"dataset.users", T_INT, 0},
    {"dataset.items", T_INT, 0}, {"dataset.ratings", T_INT, 0}, {"dataset.train", T_INT, 0},
    {"dataset.test", T_INT, 0}, {"dataset.hash", T_STR, 0},
    {"config", T_OBJ, 0}, {"config.algo", T_STR, 0}, {"config.device", T_STR, 0}, {"config.precision", T_STR, 0},
    {"config.factors", T_INT, 0}, {"config.iters", T_INT, 0}, {"config.lambda", T_NUM, 0}, {"config.reg", T_STR, 0},
    {"config.bias", T_BOOL, 0}, {"config.lr", T_NUM, 0}, {"config.lr_schedule", T_STR, 0},
    {"config.lr_decay", T_NUM, 0}, {"config.schedule", T_STR, 0}, {"config.blocks", T_INT, 0},
    {"config.batch", T_INT, 0}, {"config.optimizer", T_STR, 0}, {"config.inner", T_INT, 0},
    {"config.threads", T_INT, 0}, {"config.seed", T_INT, 0}, {"config.init_scale", T_NUM, 0},
    {"protocol", T_OBJ, 0}, {"protocol.warmup", T_INT, 0}, {"protocol.repeats", T_INT, 0},
    {"check", T_OBJ, 0}, {"check.test_rmse", T_NUM | T_NULL, T_NUM}, {"check.lo", T_NUM, 0}, {"check.hi", T_NUM, 0},
    {"check.passed", T_BOOL, 0},
    {"test_rmse_per_iter", T_ARR, 0}, {"train_rmse_per_iter", T_ARR, 0},
    {"seconds_per_iter", T_OBJ, 0}, {"seconds_per_iter.median", T_NUM | T_NULL, T_NUM},
    {"seconds_per_iter.min", T_NUM | T_NULL, T_NUM}, {"seconds_per_iter.max", T_NUM | T_NULL, T_NUM},
    {"seconds_per_iter.all", T_ARR, 0}, {"phases", T_OBJ, 0},
    {"updates_per_sec", T_NUM | T_NULL, T_NUM}, {"gflops", T_NUM | T_NULL, T_NUM}, {"gbps", T_NUM | T_NULL, T_NUM},
    {"model", T_OBJ, 0}, {"model.flops_per_iter", T_NUM | T_NULL, T_NUM},
    {"model.bytes_per_iter", T_NUM | T_NULL, T_NUM}, {"model.bound", T_STR, 0},
    {"ceilings", T_OBJ, 0}, {"ceilings.copy_gbps", T_NUM | T_NULL, T_NUM},
    {"ceilings.gemm_gflops", T_NUM | T_NULL, T_NUM}, {"ceilings.sgemm_gflops", T_NUM | T_NULL, T_NUM},
    {"ceilings.tf32_gflops", T_NUM | T_NULL, 0}, {"ceilings.gemm", T_STR, 0},
    {"share", T_OBJ, 0}, {"share.flops", T_NUM | T_NULL, T_NUM | T_NULL},
    {"share.bandwidth", T_NUM | T_NULL, T_NUM | T_NULL},
    {"share.relevant", T_NUM | T_NULL, T_NUM | T_NULL},
    {"l2_gbps", T_NUM | T_NULL | T_OPT, 0}, {"model.l2_bytes_per_iter", T_NUM | T_NULL | T_OPT, 0},
    {"ceilings.l2_gbps", T_NUM | T_NULL | T_OPT, 0}, {"share.l2", T_NUM | T_NULL | T_OPT, 0},
    {"share.over_ceiling", T_BOOL | T_OPT, 0},
    {"memory", T_OBJ, 0}, {"memory.host_peak_bytes", T_INT | T_NULL, 0}, {"memory.device_peak_bytes", T_INT | T_NULL, 0},
};

static int is_integral(const cJSON *v) {
    double x = v->valuedouble;
    return isfinite(x) && x == floor(x) && fabs(x) <= 9007199254740992.0;
}

static int type_of(const cJSON *v) {
    if (cJSON_IsString(v)) return T_STR;
    if (cJSON_IsNumber(v)) return is_integral(v) ? T_INT : T_REAL;
    if (cJSON_IsBool(v)) return T_BOOL;
    if (cJSON_IsNull(v)) return T_NULL;
    if (cJSON_IsObject(v)) return T_OBJ;
    if (cJSON_IsArray(v)) return T_ARR;
    return 0;
}

static const char *type_names(int t, char *buf, size_t len) {
    static const char *const n[] = {"string", "integer", "number", "boolean", "null", "object", "array"};
    buf[0] = '\0';
    if ((t & T_NUM) == T_NUM) t &= ~T_INT; /* "number" covers integers */
    for (int b = 0; b < 7; b++)
        if (t & (1 << b)) snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", buf[0] ? " or " : "", n[b]);
    return buf;
}

static const cJSON *get(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static const cJSON *get_path(const cJSON *o, const char *path) {
    char key[64];
    const char *dot = strchr(path, '.');
    if (!dot) return get(o, path);
    snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
    const cJSON *sub = get(o, key);
    return cJSON_IsObject(sub) ? get(sub, dot + 1) : NULL;
}

static const char *sget(const cJSON *o, const char *path) {
    const char *s = cJSON_GetStringValue(get_path(o, path));
    return s ? s : "";
}

static double nget(const cJSON *o, const char *path) {
    const cJSON *v = get_path(o, path);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static cf_status validate_obj(const cJSON *o, cf_error *err) {
    if (!cJSON_IsObject(o)) return cf_fail(err, CF_ERR_PARSE, "not a JSON object");
    const cJSON *st = get(o, "status");
    int ok = cJSON_IsString(st) && !strcmp(st->valuestring, "ok");
    if (cJSON_IsString(st) && !ok && strcmp(st->valuestring, "failed"))
        return cf_fail(err, CF_ERR_PARSE, "key 'status': \"%s\", expected \"ok\" or \"failed\"", st->valuestring);
    for (size_t f = 0; f < sizeof schema / sizeof *schema; f++) {
        const cJSON *v = get_path(o, schema[f].path);
        int want = ok && schema[f].ok_types ? schema[f].ok_types : schema[f].types;
        char b1[64], b2[64];
        if (!v && (schema[f].types & T_OPT)) continue;
        if (!v) return cf_fail(err, CF_ERR_PARSE, "missing key '%s'", schema[f].path);
        if (!(type_of(v) & want & ~T_OPT))
            return cf_fail(err, CF_ERR_PARSE, "key '%s': %s, expected %s%s", schema[f].path,
                           type_names(type_of(v), b1, sizeof b1), type_names(want, b2, sizeof b2),
                           ok && schema[f].ok_types ? " (status ok)" : "");
    }
    if (nget(o, "schema") != CF_BENCH_SCHEMA)
        return cf_fail(err, CF_ERR_PARSE, "key 'schema': %g, this cufactor reads %d", nget(o, "schema"),
                       CF_BENCH_SCHEMA);
    const cJSON *ph;
    cJSON_ArrayForEach(ph, get(o, "phases")) if (!(type_of(ph) & (ok ? T_NUM : T_NUM | T_NULL)))
        return cf_fail(err, CF_ERR_PARSE, "key 'phases.%s': expected a number", ph->string);
    const cJSON *arr;
    cJSON_ArrayForEach(arr, get(o, "test_rmse_per_iter")) if (!(type_of(arr) & (T_NUM | T_NULL)))
        return cf_fail(err, CF_ERR_PARSE, "key 'test_rmse_per_iter': an element is not a number");
    if (ok && cJSON_GetArraySize(get(o, "test_rmse_per_iter")) != (int)nget(o, "config.iters"))
        return cf_fail(err, CF_ERR_PARSE, "key 'test_rmse_per_iter': %d values for config.iters = %g",
                       cJSON_GetArraySize(get(o, "test_rmse_per_iter")), nget(o, "config.iters"));
    if (ok && cJSON_GetArraySize(get_path(o, "seconds_per_iter.all")) != (int)nget(o, "protocol.repeats"))
        return cf_fail(err, CF_ERR_PARSE, "key 'seconds_per_iter.all': %d values for protocol.repeats = %g",
                       cJSON_GetArraySize(get_path(o, "seconds_per_iter.all")), nget(o, "protocol.repeats"));
    return CF_OK;
}

static cf_status validate_line_internal(const char *line, cf_error *err) {
    cJSON *o = cJSON_Parse(line);
    if (!o) return cf_fail(err, CF_ERR_PARSE, "not JSON (near \"%.30s\")", cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    cf_status st = validate_obj(o, err);
    cJSON_Delete(o);
    return st;
}

cf_status cf_bench_validate_record(const char *line, cf_error *err) { return validate_line_internal(line, err); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The comparison key: device, CPU model, data set and the config members sorted by name. */
static char *record_key(const cJSON *o) {
    const cJSON *cfg = get(o, "config"), *m;
    int n = cJSON_GetArraySize(cfg), k = 0;
    char **parts = calloc((size_t)(n ? n : 1), sizeof *parts);
    size_t len = 600;
    if (!parts) return NULL;
    cJSON_ArrayForEach(m, cfg) {
        char *v = cJSON_PrintUnformatted(m);
        size_t l = strlen(m->string) + (v ? strlen(v) : 0) + 2;
        parts[k] = malloc(l);
        if (parts[k]) snprintf(parts[k], l, "%s=%s", m->string, v ? v : "");
        free(v);
        if (parts[k]) len += l + 1, k++;
    }
    qsort(parts, (size_t)k, sizeof *parts, cmp_str);
    char *key = malloc(len);
    if (key) {
        snprintf(key, len, "%s|%s|%s|%s|", sget(o, "device.name"), sget(o, "host.cpu_model"), sget(o, "dataset.name"),
                 sget(o, "dataset.hash"));
        for (int j = 0; j < k; j++) strcat(strcat(key, parts[j]), ",");
    }
    for (int j = 0; j < k; j++) free(parts[j]);
    free(parts);
    return key;
}

/* ------------------------------------------------------------------ reading a results file */

typedef struct rec {
    char *key;
    char case_name[CF_BENCH_NAME_MAX];
    char device[128];
    char date[40], commit[48];
    double median, ups;
    int ok;
} rec;

static void recs_free(rec *r, int n) {
    for (int j = 0; j < n; j++) free(r[j].key);
    free(r);
}

/* Reads and validates every line; a missing file is an empty history when
 * missing_ok. Errors name the file and the line. */
static cf_status read_records(const char *path, int missing_ok, rec **out, int *n_out, cf_error *err) {
    *out = NULL, *n_out = 0;
    FILE *f;
    cf_status ost = cf_text_open(path, &f, err); /* a results file named *.gz was written compressed */
    if (ost) {
        if (missing_ok && ost == CF_ERR_IO && errno == ENOENT) {
            cf_error_clear(err);
            return CF_OK;
        }
        return ost;
    }
    rec *r = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int lineno = 0;
    cf_status st = CF_OK;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        if (len == 0) continue;
        cJSON *o = cJSON_Parse(line);
        cf_error e = {0};
        if (!o) {
            st = cf_fail(err, CF_ERR_PARSE, "%s:%d: not JSON (near \"%.30s\")", path, lineno,
                         cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
            break;
        }
        if (validate_obj(o, &e)) {
            cJSON_Delete(o);
            st = cf_fail(err, CF_ERR_PARSE, "%s:%d: %s", path, lineno, e.msg);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            rec *nr = realloc(r, sizeof *r * (size_t)cap);
            if (!nr) {
                cJSON_Delete(o);
                st = cf_fail(err, CF_ERR_NOMEM, "out of memory reading %s", path);
                break;
            }
            r = nr;
        }
        rec *x = &r[n];
        memset(x, 0, sizeof *x);
        x->key = record_key(o);
        if (!x->key) {
            cJSON_Delete(o);
            st = cf_fail(err, CF_ERR_NOMEM, "out of memory reading %s", path);
            break;
        }
        snprintf(x->case_name, sizeof x->case_name, "%s", sget(o, "case"));
        snprintf(x->device, sizeof x->device, "%s", sget(o, "device.name"));
        snprintf(x->date, sizeof x->date, "%s", sget(o, "date"));
        snprintf(x->commit, sizeof x->commit, "%s", sget(o, "commit"));
        x->ok = !strcmp(sget(o, "status"), "ok");
        x->median = x->ok ? nget(o, "seconds_per_iter.median") : NAN;
        x->ups = x->ok ? nget(o, "updates_per_sec") : NAN;
        cJSON_Delete(o);
        n++;
    }
    free(line);
    fclose(f);
    if (st) {
        recs_free(r, n);
        return st;
    }
    *out = r, *n_out = n;
    return CF_OK;
}

cf_status cf_bench_compare(const char *old_path, const char *new_path, double threshold_pct, cf_bench_cmp_row **rows,
                           int *n_rows, int *n_regressed, cf_error *err) {
    *rows = NULL, *n_rows = 0, *n_regressed = 0;
    if (!(threshold_pct >= 0) || !isfinite(threshold_pct))
        return cf_fail(err, CF_ERR_INVALID, "threshold: %g, must be a percentage >= 0", threshold_pct);
    rec *o = NULL, *nw = NULL;
    int no = 0, nn = 0;
    cf_status st = read_records(old_path, 1, &o, &no, err);
    if (st) return st;
    if ((st = read_records(new_path, 0, &nw, &nn, err))) {
        recs_free(o, no);
        return st;
    }
    cf_bench_cmp_row *out = calloc((size_t)(nn ? nn : 1), sizeof *out);
    if (!out) {
        recs_free(o, no), recs_free(nw, nn);
        return cf_fail(err, CF_ERR_NOMEM, "out of memory comparing results");
    }
    int k = 0;
    for (int j = 0; j < nn; j++) {
        if (!nw[j].ok) continue;
        cf_bench_cmp_row *row = &out[k++];
        snprintf(row->case_name, sizeof row->case_name, "%s", nw[j].case_name);
        snprintf(row->device, sizeof row->device, "%s", nw[j].device);
        row->now = nw[j].median;
        row->before = row->change = NAN;
        row->verdict = CF_CMP_NEW;
        for (int i = no - 1; i >= 0; i--) /* the last comparable record */
            if (o[i].ok && !strcmp(o[i].key, nw[j].key)) {
                row->before = o[i].median;
                row->change = row->now / row->before - 1.0;
                row->verdict = row->change > threshold_pct / 100   ? CF_CMP_REGRESSED
                               : row->change < -threshold_pct / 100 ? CF_CMP_FASTER
                                                                    : CF_CMP_SAME;
                if (row->verdict == CF_CMP_REGRESSED) (*n_regressed)++;
                break;
            }
    }
    recs_free(o, no), recs_free(nw, nn);
    *rows = out, *n_rows = k;
    return CF_OK;
}

cf_status cf_bench_history(const char *results_path, const char *dat_path, int *n_series, int *n_runs,
                           cf_error *err) {
    *n_series = *n_runs = 0;
    rec *r = NULL;
    int n = 0;
    cf_status st = read_records(results_path, 0, &r, &n, err);
    if (st) return st;
    int *run = calloc((size_t)(n ? n : 1), sizeof *run), *series = calloc((size_t)(n ? n : 1), sizeof *series);
    if (!run || !series) {
        free(run), free(series), recs_free(r, n);
        return cf_fail(err, CF_ERR_NOMEM, "out of memory reading %s", results_path);
    }
    /* Runs: distinct dates in order of appearance. Series: distinct keys. */
    int nr = 0, ns = 0;
    for (int j = 0; j < n; j++) {
        run[j] = -1, series[j] = -1;
        for (int i = 0; i < j && run[j] < 0; i++)
            if (!strcmp(r[i].date, r[j].date)) run[j] = run[i];
        if (run[j] < 0) run[j] = nr++;
        for (int i = 0; i < j && series[j] < 0; i++)
            if (!strcmp(r[i].key, r[j].key)) series[j] = series[i];
        if (series[j] < 0) series[j] = ns++;
    }
    cf_afile f;
    if ((st = cf_afile_open(&f, dat_path, 0, err))) goto done;
    char buf[512];
    snprintf(buf, sizeof buf, "# cufactor bench history of %s: %d series over %d runs\n# runs:", results_path, ns, nr);
    cf_afile_puts(&f, buf);
    for (int x = 0, j = 0; x < nr; x++) {
        while (run[j] != x) j++;
        snprintf(buf, sizeof buf, " %d=%.12s", x, r[j].commit);
        cf_afile_puts(&f, buf);
    }
    cf_afile_puts(&f, "\n# blocks: title line, then: run_index commit updates_per_sec\n");
    int written = 0;
    for (int s = 0; s < ns; s++) {
        int first = -1, dup = 0;
        for (int j = 0; j < n && first < 0; j++)
            if (series[j] == s) first = j;
        for (int t = 0; t < s; t++) { /* another series with the same case name: number it */
            for (int j = 0; j < n; j++)
                if (series[j] == t) {
                    if (!strcmp(r[j].case_name, r[first].case_name)) dup++;
                    break;
                }
        }
        int any = 0;
        for (int j = 0; j < n; j++) any |= series[j] == s && r[j].ok;
        if (!any) continue;
        if (written++) cf_afile_puts(&f, "\n\n");
        if (dup)
            snprintf(buf, sizeof buf, "\"%s #%d\"\n", r[first].case_name, dup + 1);
        else
            snprintf(buf, sizeof buf, "\"%s\"\n", r[first].case_name);
        cf_afile_puts(&f, buf);
        for (int j = 0; j < n; j++)
            if (series[j] == s && r[j].ok) {
                snprintf(buf, sizeof buf, "%d %.12s %.6g\n", run[j], r[j].commit, r[j].ups);
                cf_afile_puts(&f, buf);
            }
    }
    st = cf_afile_commit(&f, err);
    *n_series = written, *n_runs = nr;
done:
    free(run), free(series);
    recs_free(r, n);
    return st;
}

void cf_bench_git_commit(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *p = popen("git rev-parse --short=12 HEAD 2>/dev/null", "r");
    if (!p) return;
    if (fgets(buf, (int)len, p)) buf[strcspn(buf, "\n")] = '\0';
    if (pclose(p) != 0 || !buf[0]) snprintf(buf, len, "unknown");
}

/* A version: 2 to 4 dot-separated runs of digits ("580.159.04", "535.104.05", "550.54"). */
static int is_version(const char *s, size_t n) {
    int dots = 0, digits = 0;
    for (size_t j = 0; j < n; j++) {
        if (s[j] >= '0' && s[j] <= '9') digits++;
        else if (s[j] == '.' && digits) dots++, digits = 0;
        else return 0;
    }
    return digits > 0 && dots >= 1 && dots <= 3;
}

static int put_version(const char *s, size_t n, char *out, size_t len) {
    if (!is_version(s, n) || n + 1 > len) return 0;
    memcpy(out, s, n);
    out[n] = '\0';
    return 1;
}

int cf_bench_parse_nvidia_driver(const char *text, char *out, size_t len) {
    if (!out || len == 0) return 0;
    out[0] = '\0';
    if (!text) return 0;
    const char *nvrm = strstr(text, "NVRM version:");
    if (nvrm) {
        /* "NVRM version: NVIDIA UNIX [Open ]Kernel Module [for ARCH]  580.159.04  <build, date>":
         * the first token after "Module" (on that line) that is a version. */
        const char *eol = strchr(nvrm, '\n');
        if (!eol) eol = nvrm + strlen(nvrm);
        const char *m = strstr(nvrm, "Module");
        if (!m || m > eol) return 0;
        for (const char *p = m + 6; p < eol;) {
            while (p < eol && (*p == ' ' || *p == '\t')) p++;
            const char *q = p;
            while (q < eol && *q != ' ' && *q != '\t' && *q != '\r') q++;
            if (q > p && put_version(p, (size_t)(q - p), out, len)) return 1;
            p = q + (q < eol);
        }
        return 0;
    }
    /* nvidia-smi's csv,noheader: the version alone on the first line (one line per GPU). */
    const char *p = text;
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strcspn(p, "\r\n");
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    return put_version(p, n, out, len);
}

void cf_bench_nvidia_driver(char *out, size_t len) {
    char buf[1024];
    size_t n = 0;
    if (!out || len == 0) return;
    out[0] = '\0';
    FILE *f = fopen("/proc/driver/nvidia/version", "r");
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        if (cf_bench_parse_nvidia_driver(buf, out, len)) return;
    }
    FILE *p = popen("nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null", "r");
    if (!p) return;
    n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = '\0';
    if (pclose(p) == 0) cf_bench_parse_nvidia_driver(buf, out, len);
    else out[0] = '\0';
}

void cf_bench_utc_now(char *buf, size_t len) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
