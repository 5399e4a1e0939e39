/*
 * bench_common.c — the setup shared by bench_als and bench_sgd (see bench_common.h):
 * command line, GPU check, cached Netflix-shaped data, device ceilings, JSON lines.
 */
#include "bench_common.h"

#include "bench/bench_impl.h"
#include "cli/args.h"
#include "common.h"
#include "gpu/gpu.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ command line */

static void print_opts(FILE *f, const bench_opt *o, int n) {
    for (int k = 0; k < n; k++) {
        char left[64], def[64] = "";
        snprintf(left, sizeof left, "--%s%s%s", o[k].name, o[k].metavar ? " " : "", o[k].metavar ? o[k].metavar : "");
        switch (o[k].kind) {
        case BOPT_I32: snprintf(def, sizeof def, " [%d]", (int)*(const int32_t *)o[k].dest); break;
        case BOPT_I64: snprintf(def, sizeof def, " [%lld]", (long long)*(const int64_t *)o[k].dest); break;
        case BOPT_U64: snprintf(def, sizeof def, " [%llu]", (unsigned long long)*(const uint64_t *)o[k].dest); break;
        case BOPT_DOUBLE: snprintf(def, sizeof def, " [%g]", *(const double *)o[k].dest); break;
        case BOPT_STR:
            if (*(const char *const *)o[k].dest) snprintf(def, sizeof def, " [%s]", *(const char *const *)o[k].dest);
            break;
        case BOPT_FLAG: break;
        }
        fprintf(f, "  %-22s %s%s\n", left, o[k].help, def);
    }
}

static void usage(FILE *f, const bench_common *c, const char *summary, const bench_opt *common, int n_common,
                  const bench_opt *own, int n_own) {
    fprintf(f, "usage: %s [options]\n\n%s\n\noptions of %s:\n", c->prog, summary, c->prog);
    print_opts(f, own, n_own);
    fprintf(f, "data, device and output (all GPU bench programs):\n");
    print_opts(f, common, n_common);
    fprintf(f, "  %-22s %s\n", "-h, --help", "show this help and exit");
}

/* Parses one value into o->dest; 0 ok, -1 not a number of the kind or out of range. */
static int set_value(const bench_opt *o, const char *v) {
    int ranged = o->lo != 0 || o->hi != 0;
    if (o->kind == BOPT_STR) {
        if (!*v) return -1;
        *(const char **)o->dest = v;
        return 0;
    }
    if (o->kind == BOPT_DOUBLE) {
        double x;
        if (cli_parse_double(v, &x) || (ranged && (x < o->lo || x > o->hi))) return -1;
        *(double *)o->dest = x;
        return 0;
    }
    int64_t x;
    if (cli_parse_i64(v, &x) || (ranged && ((double)x < o->lo || (double)x > o->hi))) return -1;
    if (o->kind == BOPT_I32) {
        if (x < INT32_MIN || x > INT32_MAX) return -1;
        *(int32_t *)o->dest = (int32_t)x;
    } else if (o->kind == BOPT_I64) {
        *(int64_t *)o->dest = x;
    } else { /* BOPT_U64: seeds, non-negative */
        if (x < 0) return -1;
        *(uint64_t *)o->dest = (uint64_t)x;
    }
    return 0;
}

static const bench_opt *find(const bench_opt *o, int n, const char *name, size_t len) {
    for (int k = 0; k < n; k++)
        if (strlen(o[k].name) == len && !strncmp(o[k].name, name, len)) return &o[k];
    return NULL;
}

int bench_int_list(const char *prog, const char *opt, const char *text, int lo, int hi, int max, const char *what,
                   int *out) {
    int n = 0;
    for (const char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < lo || v > hi || n == max || (*end && *end != ',')) {
            fprintf(stderr, "%s: --%s: '%s': give up to %d %s in %d..%d, comma-separated\n", prog, opt, text, max,
                    what, lo, hi);
            exit(2);
        }
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return n;
}

void bench_parse(bench_common *c, const char *prog, const char *summary, const bench_opt *own, int n_own,
                 int argc, char **argv) {
    memset(c, 0, sizeof *c);
    c->prog = prog;
    c->users = 480189, c->items = 17770, c->ratings = 100000000, c->zipf = 0.8, c->seed = 1, c->gpu_id = 0;
    c->cache = "bench/cache", c->suites = "bench/suites.conf";
    int no_cache = 0;
    const bench_opt common[] = {
        {"users", BOPT_I64, &c->users, 1, 4294967295.0, 0, "N", "users of the synthetic set"},
        {"items", BOPT_I64, &c->items, 1, 4294967295.0, 0, "N", "items"},
        {"ratings", BOPT_I64, &c->ratings, 1, 4e12, 0, "N", "ratings"},
        {"zipf", BOPT_DOUBLE, &c->zipf, 0, 8, 0, "Z", "power-law exponent of the popularity"},
        {"seed", BOPT_U64, &c->seed, 0, 0, 0, "S", "generator seed (also the factors' and the split's)"},
        {"gpu-id", BOPT_I32, &c->gpu_id, 0, 1023, 0, "N", "CUDA device"},
        {"json", BOPT_STR, &c->json, 0, 0, 0, "FILE", "append the result lines to FILE too"},
        {"commit", BOPT_STR, &c->commit, 0, 0, 0, "SHA", "the commit to record (default: git rev-parse)"},
        {"cache", BOPT_STR, &c->cache, 0, 0, 0, "DIR", "binary cache of the synthetic sets"},
        {"no-cache", BOPT_FLAG, &no_cache, 0, 0, 1, NULL, "generate, do not cache"},
        {"suites", BOPT_STR, &c->suites, 0, 0, 0, "FILE", "suites file whose data set names the cache uses"},
        {"data-only", BOPT_FLAG, &c->data_only, 0, 0, 1, NULL, "only make (or read) the data set: fills the cache, no GPU"},
    };
    const int n_common = (int)(sizeof common / sizeof *common);
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout, c, summary, common, n_common, own, n_own);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "%s: unexpected argument '%s'\n", prog, arg);
            goto bad;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const bench_opt *o = find(own, n_own, name, len);
        if (!o) o = find(common, n_common, name, len);
        if (!o) {
            fprintf(stderr, "%s: unknown option '%s'\n", prog, arg);
            goto bad;
        }
        if (o->kind == BOPT_FLAG) {
            if (eq) {
                fprintf(stderr, "%s: --%s takes no value\n", prog, o->name);
                goto bad;
            }
            *(int *)o->dest = o->flag_value;
            continue;
        }
        const char *v = eq ? eq + 1 : a + 1 < argc ? argv[++a] : NULL;
        if (!v) {
            fprintf(stderr, "%s: --%s: missing value\n", prog, o->name);
            goto bad;
        }
        if (set_value(o, v)) {
            if (o->lo != 0 || o->hi != 0)
                fprintf(stderr, "%s: --%s: '%s' is not a number in [%g, %g]\n", prog, o->name, v, o->lo, o->hi);
            else
                fprintf(stderr, "%s: --%s: '%s' is not a valid value\n", prog, o->name, v);
            goto bad;
        }
    }
    if (no_cache) c->cache = NULL;
    return;
bad:
    usage(stderr, c, summary, common, n_common, own, n_own);
    exit(2);
}

void bench_require_gpu(const bench_common *c) {
    char why[256] = "";
    if (!cf_gpu_available(why, sizeof why)) {
        printf("%s: no usable GPU (%s): nothing to measure\n", c->prog, why);
        exit(0);
    }
}

void bench_start(bench_common *c) {
    if (c->commit) snprintf(c->commit_buf, sizeof c->commit_buf, "%s", c->commit);
    else cf_bench_git_commit(c->commit_buf, sizeof c->commit_buf);
    cf_bench_utc_now(c->date, sizeof c->date);
    if (c->json && !(c->jf = fopen(c->json, "a"))) {
        fprintf(stderr, "%s: cannot open %s for appending\n", c->prog, c->json);
        exit(1);
    }
}

void bench_finish(bench_common *c) {
    if (c->jf && fclose(c->jf)) {
        fprintf(stderr, "%s: error writing %s\n", c->prog, c->json);
        exit(1);
    }
    c->jf = NULL;
}

void bench_die(const bench_common *c, const char *what, const cf_error *err) {
    fprintf(stderr, "%s: %s: %s\n", c->prog, what, err && err->msg[0] ? err->msg : "failed");
    exit(1);
}

/* ------------------------------------------------------------------ data */

static int same_gen(const cf_gen_options *a, const cf_gen_options *b) {
    return a->users == b->users && a->items == b->items && a->ratings == b->ratings && a->rank == b->rank &&
           a->noise == b->noise && a->zipf == b->zipf && a->seed == b->seed && a->round == b->round &&
           a->clip == b->clip && a->mu == b->mu;
}

cf_bench_data *bench_data(const bench_common *c, int64_t users, int64_t ratings, double test_ratio,
                          uint64_t split_seed) {
    cf_bench_dataset_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.source = CF_BENCH_SYNTH;
    cf_gen_options_default(&spec.gen);
    spec.gen.users = users, spec.gen.items = c->items, spec.gen.ratings = ratings;
    spec.gen.rank = 10, spec.gen.noise = 0.5, spec.gen.zipf = c->zipf, spec.gen.seed = c->seed, spec.gen.round = 1;
    spec.test_ratio = test_ratio, spec.split_seed = split_seed;
    /* The name of the suites file's set of this very spec (one cache file for both), else
     * one that says the shape; the cache file name also holds the spec's hash. */
    snprintf(spec.name, sizeof spec.name, "synth-%lldx%lld-%lld", (long long)users, (long long)c->items,
             (long long)ratings);
    cf_bench_file *bf = NULL;
    cf_error err = {0};
    if (c->suites && cf_bench_file_read(c->suites, &bf, &err) == CF_OK) {
        for (int k = 0; k < bf->n_datasets; k++)
            if (bf->datasets[k].source == CF_BENCH_SYNTH && same_gen(&bf->datasets[k].gen, &spec.gen))
                snprintf(spec.name, sizeof spec.name, "%s", bf->datasets[k].name);
        cf_bench_file_destroy(&bf);
    }
    cf_bench_data *d = NULL;
    if (cf_bench_data_load(&spec, c->cache, &d, &err)) bench_die(c, "data", &err);
    cf_bench_data_info info;
    cf_bench_data_info_get(d, &info);
    const cf_ratings *R = cf_bench_data_train(d);
    int64_t umax = 0, imax = 0;
    for (int64_t u = 0; u < R->n_users; u++)
        if (R->row_ptr[u + 1] - R->row_ptr[u] > umax) umax = R->row_ptr[u + 1] - R->row_ptr[u];
    for (int64_t i = 0; i < R->n_items; i++)
        if (R->col_ptr[i + 1] - R->col_ptr[i] > imax) imax = R->col_ptr[i + 1] - R->col_ptr[i];
    printf("data %s: %lld users × %lld items, %lld train + %lld test ratings (longest user %lld, longest item "
           "%lld), %s in %.1f s%s%s\n",
           info.name, (long long)info.users, (long long)info.items, (long long)info.n_train, (long long)info.n_test,
           (long long)umax, (long long)imax, info.from_cache ? "read from the cache" : "generated",
           info.load_seconds, info.notice[0] ? "; " : "", info.notice);
    fflush(stdout);
    return d;
}

void bench_init_factors(const bench_common *c, const cf_ratings *R, const cf_config *cfg, cf_factors *f) {
    cf_error err = {0};
    if (cf_factors_alloc(f, R->n_users, R->n_items, cfg->factors, cfg->bias, &err)) bench_die(c, "factors", &err);
    cf_factors_init_random(f, cfg->init_scale, cfg->seed);
    f->mu = R->mean;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------------ ceilings */

void bench_gpu_ceilings(const bench_common *c, cf_backend *b, cf_bench_ceilings *ceil) {
    if (ceil->measured) return;
#ifdef CUFACTOR_HAVE_CUDA
    cf_error err = {0};
    if (cf_gpu_copy_bandwidth(b, (size_t)1 << 30, 9, &ceil->copy_gbps, &err)) bench_die(c, "copy bandwidth", &err);
    if (cf_gpu_sgemm_gflops(b, 8192, 9, 0, &ceil->gemm_gflops, &err)) bench_die(c, "sgemm fp32", &err);
    if (cf_gpu_sgemm_gflops(b, 8192, 9, 1, &ceil->tf32_gflops, &err)) bench_die(c, "sgemm tf32", &err);
    ceil->sgemm_gflops = ceil->gemm_gflops;
    snprintf(ceil->gemm_name, sizeof ceil->gemm_name, "cuBLAS SGEMM n=8192 (FP32, no tensor cores)");
    ceil->measured = 1;
    printf("ceilings: device-to-device copy %.1f GB/s, SGEMM FP32 %.1f GFLOP/s, TF32 %.1f GFLOP/s\n", ceil->copy_gbps,
           ceil->gemm_gflops, ceil->tf32_gflops);
    fflush(stdout);
#else
    (void)b;
    bench_die(c, "ceilings", NULL); /* unreachable: bench_require_gpu exits first */
#endif
}

/* ------------------------------------------------------------------ JSON lines */

void bench_json_raw(bench_json *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(j->s + j->n, sizeof j->s - j->n, fmt, ap);
    va_end(ap);
    if (w > 0) j->n += (size_t)w < sizeof j->s - j->n ? (size_t)w : sizeof j->s - j->n - 1;
}

void bench_json_num(bench_json *j, const char *key, double v) {
    if (isfinite(v)) bench_json_raw(j, "\"%s\":%.6g,", key, v);
    else bench_json_raw(j, "\"%s\":null,", key);
}

void bench_json_begin(bench_json *j, const bench_common *c, const char *bench, const char *device,
                      const cf_bench_data *data, const cf_bench_ceilings *ceil) {
    cf_bench_data_info di;
    cf_bench_data_info_get(data, &di);
    j->n = 0;
    j->s[0] = '\0';
    bench_json_raw(j, "{\"bench\":\"%s\",\"date\":\"%s\",\"commit\":\"%s\",\"device\":\"%s\",", bench, c->date,
                   c->commit_buf, device);
    bench_json_raw(j,
                   "\"dataset\":{\"name\":\"%s\",\"users\":%lld,\"items\":%lld,\"ratings\":%lld,\"nnz\":%lld,"
                   "\"test\":%lld,\"zipf\":%g,\"seed\":%llu,\"hash\":\"%016llx\"},",
                   di.name, (long long)di.users, (long long)di.items, (long long)di.ratings, (long long)di.n_train,
                   (long long)di.n_test, c->zipf, (unsigned long long)c->seed, (unsigned long long)di.hash);
    bench_json_num(j, "copy_gbps", ceil->copy_gbps);
    bench_json_num(j, "sgemm_fp32_gflops", ceil->gemm_gflops);
    bench_json_num(j, "sgemm_tf32_gflops", ceil->tf32_gflops);
}

void bench_json_end(bench_json *j, const bench_common *c) {
    if (j->n && j->s[j->n - 1] == ',') j->s[--j->n] = '\0';
    bench_json_raw(j, "}");
    puts(j->s);
    fflush(stdout);
    if (c->jf) {
        fprintf(c->jf, "%s\n", j->s);
        fflush(c->jf);
    }
}
