/*
 * bench_common.h — what the GPU bench programs (bench_als, bench_sgd) share, so that each
 * of them reads as its own measurement only:
 *
 *   - the command line: the data shape (--users --items --ratings --zipf --seed), the
 *     device (--gpu-id), the output (--json, --commit) and the data cache (--cache,
 *     --no-cache, --suites), parsed strictly (the CLI's number parsers) together with
 *     the program's own options;
 *   - "no usable GPU: nothing to measure" (exit 0) where none is;
 *   - the Netflix-shaped synthetic data through the bench data cache of `cufactor bench`
 *     (src/bench/data.c): generated once, then read back as binary triplets; a shape that
 *     equals a data set of bench/suites.conf takes that set's name, so the programs and
 *     the nightly suite share one cache file;
 *   - the device's ceilings (copy bandwidth, SGEMM FP32 and TF32), measured once per run;
 *   - the run's stamp (commit, date) and the JSON line each result is written as.
 *
 * Bench programs may print and exit (STYLE.md 3): every function here exits 1 on an
 * error after saying what failed, and 2 on a usage error.
 */
#ifndef CF_BENCH_COMMON_H
#define CF_BENCH_COMMON_H

#include "backend.h"
#include "cufactor_bench.h"
#include "factors.h"
#include "ratings.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ command line */

typedef enum bench_opt_kind { BOPT_I32 = 0, BOPT_I64, BOPT_U64, BOPT_DOUBLE, BOPT_STR, BOPT_FLAG } bench_opt_kind;

/* One option of a program's own table. Integer and double ranges are [lo, hi]. */
typedef struct bench_opt {
    const char *name;    /* without "--" */
    bench_opt_kind kind;
    void *dest;          /* int32_t, int64_t, uint64_t, double, const char *, int (flag) */
    double lo, hi;       /* range of numbers (lo == hi == 0: any) */
    int flag_value;      /* BOPT_FLAG: *(int *)dest = flag_value */
    const char *metavar;
    const char *help;
} bench_opt;

typedef struct bench_common {
    const char *prog;     /* "bench_als" */
    int64_t users, items, ratings;
    double zipf;
    uint64_t seed;
    int32_t gpu_id;
    const char *json;     /* --json FILE: the result lines are appended there too */
    const char *cache;    /* --cache DIR (bench/cache); NULL with --no-cache */
    const char *suites;   /* --suites FILE: where the names of the data sets are looked up */
    const char *commit;   /* --commit SHA, else `git rev-parse` (the device's copy has no .git) */
    int data_only;        /* --data-only: make (or read) the data set, say how long it took, exit */
    char commit_buf[64], date[32];
    FILE *jf;
} bench_common;

/* Sets the common defaults (Netflix shape 480 189 × 17 770, 100 M ratings, zipf 0.8,
 * seed 1), then parses argv against the common options and `own` (whose destinations
 * hold their defaults, shown in --help). --help prints the help and exits 0; a bad
 * option or value prints what is wrong and the usage and exits 2. */
void bench_parse(bench_common *c, const char *prog, const char *summary, const bench_opt *own, int n_own,
                 int argc, char **argv);

/* A comma-separated list of at most `max` integers in lo..hi (an option's value) into
 * out[]; returns how many. Anything else prints "PROG: --OPT: 'TEXT': give up to MAX WHAT
 * in LO..HI, comma-separated" and exits 2. */
int bench_int_list(const char *prog, const char *opt, const char *text, int lo, int hi, int max, const char *what,
                   int *out);

/* Exits 0 after "PROG: no usable GPU (why): nothing to measure" where no GPU is usable
 * (always in a build without CUDA). */
void bench_require_gpu(const bench_common *c);

/* Stamps the run (commit, UTC date) and opens --json for appending. */
void bench_start(bench_common *c);
/* Closes --json. */
void bench_finish(bench_common *c);

/* Prints "PROG: WHAT: message" and exits 1. */
void bench_die(const bench_common *c, const char *what, const cf_error *err);

/* ------------------------------------------------------------------ data */

/* The synthetic set of the command line's items, zipf and seed with `users` users and
 * `ratings` ratings (rank 10, σ 0.5, whole stars, as bench/suites.conf), `test_ratio` of
 * it held out by a split seeded with `split_seed`, through the bench cache. Prints one
 * line (shape, longest user and item, seconds, cached or generated). */
/* bench_sgd's held-out share (its test RMSE per epoch); bench_peer scores cuMF_SGD on the same */
#define BENCH_SGD_TEST_RATIO 0.01
cf_bench_data *bench_data(const bench_common *c, int64_t users, int64_t ratings, double test_ratio,
                          uint64_t split_seed);

/* Seeded random factors for cfg on R (μ = the training mean), as the trainer starts. */
void bench_init_factors(const bench_common *c, const cf_ratings *R, const cf_config *cfg, cf_factors *f);

double bench_median(double *v, int n); /* sorts v */

/* ------------------------------------------------------------------ ceilings */

/* The device's copy bandwidth (1 GiB device-to-device copies) and SGEMM rates (n = 8192,
 * FP32 and TF32), each the median of 9 after a warm-up, on the open GPU backend b; measured
 * on the first call of a run and kept in *ceil (ceil->measured). */
void bench_gpu_ceilings(const bench_common *c, cf_backend *b, cf_bench_ceilings *ceil);

/* ------------------------------------------------------------------ JSON lines */

typedef struct bench_json {
    char s[8192];
    size_t n;
} bench_json;

/* Starts a result line: {"bench":NAME,"date","commit","device","dataset":{...},"copy_gbps",
 * "sgemm_fp32_gflops","sgemm_tf32_gflops", ...; the caller adds its figures. */
void bench_json_begin(bench_json *j, const bench_common *c, const char *bench, const char *device,
                      const cf_bench_data *data, const cf_bench_ceilings *ceil);
void bench_json_raw(bench_json *j, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "key":v, — null where v is not finite. */
void bench_json_num(bench_json *j, const char *key, double v);
/* Closes the object, prints it on stdout and appends it to --json. */
void bench_json_end(bench_json *j, const bench_common *c);

#endif
