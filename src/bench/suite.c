/*
 * suite.c — the suites file of `cufactor bench` (bench/suites.conf): plain lines,
 * '#' starts a comment, fields separated by blanks.
 *
 *   dataset NAME synth users=N items=M ratings=Z [rank=R noise=S zipf=A seed=S round=0|1 mu=M mnar=B]
 *                      [test=F split-seed=S]
 *   dataset NAME file PATH [test=F split-seed=S]
 *   suite NAME
 *   case NAME data=DATASET algo=ALGO device=cpu|gpu rmse=LO:HI [precision=fp64|fp32|fp16]
 *   (cpu: fp64, the reference, by default, or fp32, the SIMD path, for als and sgd; gpu:
 *   fp32, or fp16 for sgd)
 *             [k=K lambda=L reg=R bias=0|1 iters=N repeats=N lr=ETA lr-schedule=S
 *              lr-decay=B schedule=S blocks=B batch=N inner=L threads=T seed=S init-scale=X]
 *
 * A case belongs to the suite named last before it. iters counts every iteration of
 * the case; the last `repeats` are timed, the ones before are the warm-up (at least
 * one). Precision follows the device: the CPU reference computes in fp64, the GPU in
 * fp32; asking for the other is an error here rather than a silently different run.
 * Every error names FILE:LINE and the field.
 */
#include "cufactor_bench.h"

#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096

static int parse_i64(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    if (*s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno) return -1;
    *out = v;
    return 0;
}

static int parse_dbl(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_choice(const char *s, const char *const *names, int n) {
    for (int k = 0; k < n; k++)
        if (strcmp(s, names[k]) == 0) return k;
    return -1;
}

typedef struct ctx {
    const char *path;
    int line;
    cf_error *err;
} ctx;

#define FAIL(c, ...) cf_fail_at(c, __VA_ARGS__)

static cf_status cf_fail_at(const ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static cf_status cf_fail_at(const ctx *c, const char *fmt, ...) {
    char msg[CF_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cf_fail(c->err, CF_ERR_PARSE, "%s:%d: %s", c->path, c->line, msg);
}

static cf_status copy_name(const ctx *c, char *dst, const char *src, const char *what) {
    if (strlen(src) >= CF_BENCH_NAME_MAX)
        return FAIL(c, "%s name '%.40s...' is longer than %d characters", what, src, CF_BENCH_NAME_MAX - 1);
    for (const char *p = src; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return FAIL(c, "%s name '%s': use letters, digits, '-', '_' and '.'", what, src);
    strcpy(dst, src);
    return CF_OK;
}

/* "key=value" → key, value (in place). */
static cf_status split_kv(const ctx *c, char *tok, char **key, char **val) {
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok || !eq[1]) return FAIL(c, "'%s': expected key=value", tok);
    *eq = '\0';
    *key = tok, *val = eq + 1;
    return CF_OK;
}

#define NUM(parser, dst, lo, hi)                                                                  \
    do {                                                                                          \
        if (parser(v, dst) || *(dst) < (lo) || *(dst) > (hi))                                     \
            return FAIL(c, "field '%s': '%s' is not a number in [%g, %g]", k, v, (double)(lo),    \
                        (double)(hi));                                                            \
    } while (0)

static cf_status dataset_kv(const ctx *c, cf_bench_dataset_spec *d, char *k, char *v) {
    if (!strcmp(k, "test")) {
        NUM(parse_dbl, &d->test_ratio, 0.0, 0.9);
        return CF_OK;
    }
    if (!strcmp(k, "split-seed")) {
        if (parse_u64(v, &d->split_seed)) return FAIL(c, "field 'split-seed': '%s' is not a seed", v);
        return CF_OK;
    }
    if (d->source != CF_BENCH_SYNTH) return FAIL(c, "field '%s': not a field of a file data set", k);
    cf_gen_options *g = &d->gen;

    int64_t i64;
    if (!strcmp(k, "users")) NUM(parse_i64, &g->users, 1, INT32_MAX);
    else if (!strcmp(k, "items")) NUM(parse_i64, &g->items, 1, INT32_MAX);
    else if (!strcmp(k, "ratings")) NUM(parse_i64, &g->ratings, 1, INT64_MAX);
    else if (!strcmp(k, "rank")) {
        NUM(parse_i64, &i64, 1, 4096);
        g->rank = (int32_t)i64;
    } else if (!strcmp(k, "noise")) NUM(parse_dbl, &g->noise, 0.0, 1e6);
    else if (!strcmp(k, "zipf")) NUM(parse_dbl, &g->zipf, 0.0, 10.0);
    else if (!strcmp(k, "mu")) NUM(parse_dbl, &g->mu, -1e6, 1e6);
    else if (!strcmp(k, "mnar")) NUM(parse_dbl, &g->mnar, 0.0, 100.0);
    else if (!strcmp(k, "seed")) {
        if (parse_u64(v, &g->seed)) return FAIL(c, "field 'seed': '%s' is not a seed", v);
    } else if (!strcmp(k, "round")) {
        NUM(parse_i64, &i64, 0, 1);
        g->round = (int)i64;
    } else if (!strcmp(k, "clip")) {
        NUM(parse_i64, &i64, 0, 1);
        g->clip = (int)i64;
    } else
        return FAIL(c, "unknown dataset field '%s'", k);

    return CF_OK;
}

static const char *const lr_sched_names[] = {"const", "invscale"};
static const char *const sched_names[] = {"shuffle", "blocks", "hogwild"};
static const char *const opt_names[] = {"plain", "adam"};

static cf_status case_kv(const ctx *c, cf_bench_case *cs, char *k, char *v, int *have) {
    cf_config *g = &cs->cfg;
    int64_t i64;
    int ch;
    if (!strcmp(k, "data")) {
        have[0] = 1;
        return copy_name(c, cs->dataset, v, "data set");
    }
    if (!strcmp(k, "algo")) {
        have[1] = 1;
        if (cf_algo_parse(v, &g->algo)) return FAIL(c, "field 'algo': unknown algorithm '%s'", v);
        return CF_OK;
    }
    if (!strcmp(k, "device")) {
        have[2] = 1;
        if (cf_device_parse(v, &g->device) || g->device == CF_DEVICE_AUTO)
            return FAIL(c, "field 'device': '%s', expected cpu or gpu", v);
        return CF_OK;
    }
    if (!strcmp(k, "rmse")) {
        have[3] = 1;
        char *colon = strchr(v, ':');
        if (!colon) return FAIL(c, "field 'rmse': '%s', expected LO:HI", v);
        *colon = '\0';
        if (parse_dbl(v, &cs->rmse_lo) || parse_dbl(colon + 1, &cs->rmse_hi) || cs->rmse_lo < 0 ||
            cs->rmse_hi <= cs->rmse_lo)
            return FAIL(c, "field 'rmse': '%s:%s', expected 0 <= LO < HI", v, colon + 1);
        return CF_OK;
    }
    if (!strcmp(k, "precision")) {
        if (strcmp(v, "fp64") && strcmp(v, "fp32") && strcmp(v, "fp16"))
            return FAIL(c, "field 'precision': '%s', expected fp64, fp32 or fp16", v);
        snprintf(cs->precision, sizeof cs->precision, "%s", v);
        /* fp16: the factors stored in half precision (GPU SGD), arithmetic in fp32; fp64: the
         * CPU reference; fp32: the GPU or the CPU's fp32 path (finish_case checks the device) */
        g->precision = !strcmp(v, "fp16") ? CF_PRECISION_FP16 : !strcmp(v, "fp64") ? CF_PRECISION_FP64 : CF_PRECISION_FP32;
        return CF_OK;
    }
    if (!strcmp(k, "k")) {
        NUM(parse_i64, &i64, 1, 4096);
        g->factors = (int32_t)i64;
    } else if (!strcmp(k, "iters")) {
        NUM(parse_i64, &i64, 2, 100000);
        g->iters = (int32_t)i64;
    } else if (!strcmp(k, "repeats")) {
        NUM(parse_i64, &i64, 1, 100000);
        cs->repeats = (int32_t)i64;
    } else if (!strcmp(k, "lambda")) NUM(parse_dbl, &g->lambda, 0.0, 1e12);
    else if (!strcmp(k, "reg")) {
        if (cf_reg_parse(v, &g->reg)) return FAIL(c, "field 'reg': unknown mode '%s'", v);
    } else if (!strcmp(k, "bias")) {
        NUM(parse_i64, &i64, 0, 1);
        g->bias = (int)i64;
    } else if (!strcmp(k, "lr")) NUM(parse_dbl, &g->lr, 1e-300, 1e6);
    else if (!strcmp(k, "lr-decay")) NUM(parse_dbl, &g->lr_decay, 0.0, 1e6);
    else if (!strcmp(k, "lr-schedule")) {
        if ((ch = parse_choice(v, lr_sched_names, 2)) < 0) return FAIL(c, "field 'lr-schedule': '%s'", v);
        g->lr_schedule = (cf_lr_schedule)ch;
    } else if (!strcmp(k, "schedule")) {
        if ((ch = parse_choice(v, sched_names, 3)) < 0) return FAIL(c, "field 'schedule': '%s'", v);
        g->schedule = (cf_sgd_schedule)ch;
    } else if (!strcmp(k, "optimizer")) {
        if ((ch = parse_choice(v, opt_names, 2)) < 0) return FAIL(c, "field 'optimizer': '%s'", v);
        g->optimizer = (cf_optimizer)ch;
    } else if (!strcmp(k, "blocks")) {
        NUM(parse_i64, &i64, 1, 4096);
        g->blocks = (int32_t)i64;
    } else if (!strcmp(k, "batch")) NUM(parse_i64, &g->batch, 1, INT64_MAX);
    else if (!strcmp(k, "inner")) {
        NUM(parse_i64, &i64, 1, 100000);
        g->inner = (int32_t)i64;
    } else if (!strcmp(k, "threads")) {
        NUM(parse_i64, &i64, 0, 4096);
        g->threads = (int32_t)i64;
    } else if (!strcmp(k, "seed")) {
        if (parse_u64(v, &g->seed)) return FAIL(c, "field 'seed': '%s' is not a seed", v);
    } else if (!strcmp(k, "init-scale")) NUM(parse_dbl, &g->init_scale, 1e-300, 1e6);
    else
        return FAIL(c, "unknown case field '%s'", k);
    return CF_OK;
}

/* Grows an array of `size`-byte elements by one; returns the new element (zeroed). */
static void *push(void **arr, int *n, size_t size, cf_error *err) {
    void *p = realloc(*arr, (size_t)(*n + 1) * size);
    if (!p) {
        cf_fail(err, CF_ERR_NOMEM, "out of memory reading the suites file");
        return NULL;
    }
    *arr = p;
    void *e = (char *)p + (size_t)(*n) * size;
    memset(e, 0, size);
    (*n)++;
    return e;
}

static cf_status finish_case(const ctx *c, const cf_bench_case *cs, const int *have) {
    static const char *const req[] = {"data", "algo", "device", "rmse"};
    for (int j = 0; j < 4; j++)
        if (!have[j]) return FAIL(c, "case '%s': missing field '%s'", cs->name, req[j]);
    const int gpu = cs->cfg.device == CF_DEVICE_GPU;
    const char *want = gpu ? "fp32" : "fp64 or, for als and sgd, fp32";
    int fp16_on_gpu = gpu && !strcmp(cs->precision, "fp16");
    int fp32_on_cpu = !gpu && !strcmp(cs->precision, "fp32") &&
                      (cs->cfg.algo == CF_ALGO_ALS || cs->cfg.algo == CF_ALGO_SGD);
    if (strcmp(cs->precision, gpu ? "fp32" : "fp64") && !fp16_on_gpu && !fp32_on_cpu)
        return FAIL(c, "case '%s': field 'precision': %s is not available on the %s for %s (it computes in %s)",
                    cs->name, cs->precision, cf_device_name(cs->cfg.device), cf_algo_name(cs->cfg.algo), want);
    if (cs->repeats >= cs->cfg.iters)
        return FAIL(c, "case '%s': field 'repeats': %d timed iterations need iters >= %d (one warm-up)",
                    cs->name, cs->repeats, cs->repeats + 1);
    cf_error e = {0};
    if (cf_config_validate(&cs->cfg, &e)) return FAIL(c, "case '%s': %s", cs->name, e.msg);
    return CF_OK;
}

static cf_status parse_line(const ctx *c, char *line, cf_bench_file *f) {
    char *save = NULL, *tok[128];
    int nt = 0;
    for (char *t = strtok_r(line, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        if (t[0] == '#') break;
        if (nt == 128) return FAIL(c, "more than 128 fields");
        tok[nt++] = t;
    }
    if (nt == 0) return CF_OK;
    cf_status st;
    if (!strcmp(tok[0], "dataset")) {
        if (nt < 3) return FAIL(c, "expected 'dataset NAME synth|file ...'");
        cf_bench_dataset_spec *d = push((void **)&f->datasets, &f->n_datasets, sizeof *d, c->err);
        if (!d) return CF_ERR_NOMEM;
        if ((st = copy_name(c, d->name, tok[1], "data set"))) return st;
        for (int j = 0; j < f->n_datasets - 1; j++)
            if (!strcmp(f->datasets[j].name, d->name)) return FAIL(c, "data set '%s' defined twice", d->name);
        d->test_ratio = 0.1, d->split_seed = 7;
        int first_kv = 3;
        if (!strcmp(tok[2], "synth")) {
            d->source = CF_BENCH_SYNTH;
            cf_gen_options_default(&d->gen);
            d->gen.users = d->gen.items = d->gen.ratings = 0;
        } else if (!strcmp(tok[2], "file")) {
            d->source = CF_BENCH_FILE;
            if (nt < 4) return FAIL(c, "data set '%s': expected 'file PATH'", d->name);
            if (strlen(tok[3]) >= sizeof d->path) return FAIL(c, "data set '%s': path too long", d->name);
            strcpy(d->path, tok[3]);
            first_kv = 4;
        } else
            return FAIL(c, "data set '%s': source '%s', expected synth or file", d->name, tok[2]);
        for (int j = first_kv; j < nt; j++) {
            char *k = NULL, *v = NULL;
            if ((st = split_kv(c, tok[j], &k, &v)) || (st = dataset_kv(c, d, k, v))) return st;
        }
        if (d->source == CF_BENCH_SYNTH && (!d->gen.users || !d->gen.items || !d->gen.ratings))
            return FAIL(c, "data set '%s': synth needs users=, items= and ratings=", d->name);
        return CF_OK;
    }
    if (!strcmp(tok[0], "suite")) {
        if (nt != 2) return FAIL(c, "expected 'suite NAME'");
        for (int j = 0; j < f->n_suites; j++)
            if (!strcmp(f->suites[j].name, tok[1])) return FAIL(c, "suite '%s' defined twice", tok[1]);
        cf_bench_suite *s = push((void **)&f->suites, &f->n_suites, sizeof *s, c->err);
        if (!s) return CF_ERR_NOMEM;
        return copy_name(c, s->name, tok[1], "suite");
    }
    if (!strcmp(tok[0], "case")) {
        if (f->n_suites == 0) return FAIL(c, "a case before any 'suite' line");
        if (nt < 2) return FAIL(c, "expected 'case NAME key=value ...'");
        cf_bench_suite *s = &f->suites[f->n_suites - 1];
        cf_bench_case *cs = push((void **)&s->cases, &s->n_cases, sizeof *cs, c->err);
        if (!cs) return CF_ERR_NOMEM;
        if ((st = copy_name(c, cs->name, tok[1], "case"))) return st;
        for (int j = 0; j < s->n_cases - 1; j++)
            if (!strcmp(s->cases[j].name, cs->name))
                return FAIL(c, "case '%s' appears twice in suite '%s'", cs->name, s->name);
        cf_config_default(&cs->cfg);
        cs->cfg.iters = 4;
        /* a case is a fixed configuration: the gradient settings that cf_train would
         * choose from the data are pinned to the values the recorded results used */
        cs->cfg.lr = 0.01, cs->cfg.batch = 10000, cs->cfg.optimizer = CF_OPT_PLAIN;
        cs->repeats = 3;
        cs->precision[0] = '\0';
        int have[4] = {0};
        for (int j = 2; j < nt; j++) {
            char *k = NULL, *v = NULL;
            if ((st = split_kv(c, tok[j], &k, &v)) || (st = case_kv(c, cs, k, v, have))) return st;
        }
        if (!cs->precision[0]) { /* a CPU case without precision= is the fp64 reference */
            snprintf(cs->precision, sizeof cs->precision, "%s", cs->cfg.device == CF_DEVICE_GPU ? "fp32" : "fp64");
            if (cs->cfg.device != CF_DEVICE_GPU) cs->cfg.precision = CF_PRECISION_FP64;
        }
        return finish_case(c, cs, have);
    }
    return FAIL(c, "unknown line kind '%s', expected dataset, suite or case", tok[0]);
}

cf_status cf_bench_file_read(const char *path, cf_bench_file **out, cf_error *err) {
    *out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp) return cf_fail(err, CF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cf_bench_file *f = cf_calloc(1, sizeof *f, err, "suites file");
    if (!f) {
        fclose(fp);
        return CF_ERR_NOMEM;
    }
    ctx c = {.path = path, .line = 0, .err = err};
    char line[LINE_MAX_LEN];
    cf_status st = CF_OK;
    while (fgets(line, sizeof line, fp)) {
        c.line++;
        if (!strchr(line, '\n') && !feof(fp)) {
            st = FAIL(&c, "line longer than %d characters", LINE_MAX_LEN - 2);
            break;
        }
        if ((st = parse_line(&c, line, f))) break;
    }
    if (!st && ferror(fp)) st = cf_fail(err, CF_ERR_IO, "%s: read error", path);
    fclose(fp);
    /* Every case names a data set that exists. */
    for (int s = 0; !st && s < f->n_suites; s++)
        for (int j = 0; !st && j < f->suites[s].n_cases; j++)
            if (!cf_bench_find_dataset(f, f->suites[s].cases[j].dataset))
                st = cf_fail(err, CF_ERR_PARSE, "%s: suite '%s' case '%s': field 'data': no data set '%s'", path,
                             f->suites[s].name, f->suites[s].cases[j].name, f->suites[s].cases[j].dataset);
    if (!st && f->n_suites == 0) st = cf_fail(err, CF_ERR_PARSE, "%s: no suite defined", path);
    if (st) {
        cf_bench_file_destroy(&f);
        return st;
    }
    *out = f;
    return CF_OK;
}

void cf_bench_file_destroy(cf_bench_file **f) {
    if (!f || !*f) return;
    for (int s = 0; s < (*f)->n_suites; s++) free((*f)->suites[s].cases);
    free((*f)->suites);
    free((*f)->datasets);
    free(*f);
    *f = NULL;
}

const cf_bench_suite *cf_bench_find_suite(const cf_bench_file *f, const char *name) {
    for (int s = 0; f && s < f->n_suites; s++)
        if (!strcmp(f->suites[s].name, name)) return &f->suites[s];
    return NULL;
}

const cf_bench_dataset_spec *cf_bench_find_dataset(const cf_bench_file *f, const char *name) {
    for (int s = 0; f && s < f->n_datasets; s++)
        if (!strcmp(f->datasets[s].name, name)) return &f->datasets[s];
    return NULL;
}
