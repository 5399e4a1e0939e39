/*
 * cufactor_bench.h — the benchmark API behind `cufactor bench` (C11, no CUDA type).
 *
 * A suites file (bench/suites.conf) names data sets and suites of cases; each case is
 * a data set × algorithm × device × K × precision with its own training settings and
 * the range its test RMSE must fall in. Running a case trains from a seeded start
 * through the same backend table the trainer uses (never a copy of a kernel):
 * `iters` iterations in all, the first iters − repeats untimed (warm-up), the last
 * `repeats` timed one by one; the medians are reported. The case is checked before
 * its time counts: when the test RMSE after the last iteration is outside the stated
 * range the case is FAILED and its timings are not reported.
 *
 * Same conventions as cufactor.h: status codes, cf_error messages naming the file,
 * line and field, destroy functions that accept NULL, no printing, no exit().
 */
#ifndef CUFACTOR_BENCH_H
#define CUFACTOR_BENCH_H

#include "cufactor.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CF_BENCH_NAME_MAX 64
#define CF_BENCH_SCHEMA 1

/* ------------------------------------------------------------------ suites file */

typedef enum cf_bench_source { CF_BENCH_SYNTH = 0, CF_BENCH_FILE } cf_bench_source;

typedef struct cf_bench_dataset_spec {
    char name[CF_BENCH_NAME_MAX];
    cf_bench_source source;
    cf_gen_options gen;  /* CF_BENCH_SYNTH */
    char path[1024];     /* CF_BENCH_FILE */
    double test_ratio;   /* seeded fraction held out for the RMSE check, default 0.1 */
    uint64_t split_seed; /* default 7 */
} cf_bench_dataset_spec;

typedef struct cf_bench_case {
    char name[CF_BENCH_NAME_MAX];
    char dataset[CF_BENCH_NAME_MAX];
    cf_config cfg;        /* algo, device (cpu|gpu), factors, lambda, ... ; iters = all iterations */
    char precision[8];    /* "fp64" (the CPU reference) or "fp32" (the GPU) */
    int32_t repeats;      /* timed iterations (the last `repeats` of cfg.iters) */
    double rmse_lo, rmse_hi; /* the check: test RMSE after the last iteration in [lo, hi] */
} cf_bench_case;

typedef struct cf_bench_suite {
    char name[CF_BENCH_NAME_MAX];
    cf_bench_case *cases;
    int n_cases;
} cf_bench_suite;

typedef struct cf_bench_file {
    cf_bench_dataset_spec *datasets;
    int n_datasets;
    cf_bench_suite *suites;
    int n_suites;
} cf_bench_file;

/* Parses a suites file (syntax in bench/suites.conf). Errors name file:line and field. */
cf_status cf_bench_file_read(const char *path, cf_bench_file **out, cf_error *err);
void cf_bench_file_destroy(cf_bench_file **f);
const cf_bench_suite *cf_bench_find_suite(const cf_bench_file *f, const char *name);
const cf_bench_dataset_spec *cf_bench_find_dataset(const cf_bench_file *f, const char *name);

/* ------------------------------------------------------------------ data */

typedef struct cf_bench_data cf_bench_data; /* train matrix (CSR + CSC) + test triplets */

typedef struct cf_bench_data_info {
    char name[CF_BENCH_NAME_MAX];
    char source[1200];         /* "synth users=... seed=..." or "file PATH" */
    int64_t users, items, ratings, n_train, n_test;
    uint64_t hash;             /* content hash of all (u, i, r) in order (cf_bench_hash) */
    double test_sd;            /* RMSE of predicting every test rating by the training mean */
    int from_cache;            /* 1: loaded from the binary cache */
    double load_seconds;
    char notice[256];          /* e.g. "cache X was corrupt (…): regenerated"; empty if none */
} cf_bench_data_info;

/* Synthetic sets are generated once and cached as `cache_dir`/NAME-SPECHASH.cfd
 * (the CFDATA binary dataset format, generator order kept; read without text parsing);
 * cache_dir NULL disables the cache. A file set is read with cf_dataset_read. The
 * test part is a seeded split of `test_ratio` of the ratings. */
cf_status cf_bench_data_load(const cf_bench_dataset_spec *spec, const char *cache_dir,
                             cf_bench_data **out, cf_error *err);
void cf_bench_data_info_get(const cf_bench_data *d, cf_bench_data_info *info);
void cf_bench_data_destroy(cf_bench_data **d);

/* The content hash: a 64-bit word-wise FNV-1a variant over (users, items, n) and then
 * every u, i and the bits of r in order, finished by a splitmix64 step. An identity
 * check, not a cryptographic hash. */
uint64_t cf_bench_hash(int64_t users, int64_t items, int64_t n, const uint32_t *u,
                       const uint32_t *i, const float *r);

/* Cache file I/O (exposed for the tests): the CFDATA format of `cufactor convert`
 * (src/binfmt.h), the dataset's rating order kept. write is atomic; read checks the
 * header, size, checksum and indices (CF_ERR_PARSE naming the file otherwise) and hands
 * the dataset's ratings over (t's arrays are the caller's: cf_triplets_free), with the
 * number of users and items and the content hash. */
struct cf_triplets;
cf_status cf_bench_cache_write(const char *path, const cf_dataset *ds, cf_error *err);
cf_status cf_bench_cache_read(const char *path, int64_t *users, int64_t *items, struct cf_triplets *t,
                              uint64_t *hash, cf_error *err);

/* ------------------------------------------------------------------ ceilings */

/* What the device can do, measured in the same process: the copy bandwidth (GB/s,
 * bytes read + bytes written per second) and the GEMM rate of the case's precision. */
typedef struct cf_bench_ceilings {
    int measured;
    int threads;          /* CPU threads it was measured with (0 on the GPU) */
    double copy_gbps;     /* CPU: OpenMP memcpy of 2 × 256 MiB; GPU: cudaMemcpy device-to-device */
    double gemm_gflops;   /* CPU fp64: OpenBLAS DGEMM; GPU fp32: cuBLAS SGEMM (no tensor cores) */
    double sgemm_gflops;  /* CPU: OpenBLAS SGEMM as well (for reference); GPU: the same as gemm */
    double tf32_gflops;   /* GPU only: cuBLAS SGEMM with TF32 tensor cores; NaN on the CPU */
    char gemm_name[96];   /* "OpenBLAS DGEMM n=1024, 2 threads" ... */
    double l2_gbps;       /* GPU only: L2 read ceiling (16 MiB read 20 times through L2,
                             ld.global.cg; cf_gpu_l2_bandwidth); NaN on the CPU */
} cf_bench_ceilings;

/* CPU ceilings with `threads` threads (0 = all cores). */
cf_status cf_bench_cpu_ceilings(int threads, cf_bench_ceilings *out, cf_error *err);

/* ------------------------------------------------------------------ running a case */

typedef enum cf_bench_status { CF_BENCH_OK = 0, CF_BENCH_FAILED, CF_BENCH_SKIPPED } cf_bench_status;

#define CF_BENCH_MAX_PHASES 6

typedef struct cf_bench_result {
    cf_bench_status status;
    char reason[512];          /* why FAILED or SKIPPED */
    char device_kind[8];       /* "cpu" / "gpu" */
    char device_name[128];
    int driver_version, cuda_version; /* e.g. 13000: cudaDriverGetVersion (the CUDA driver API
                                         version, not the NVIDIA driver's) and
                                         cudaRuntimeGetVersion; 0 = not applicable (CPU) */
    char nvidia_driver[32];    /* the NVIDIA driver's version, "580.159.04"; "" = unknown or CPU */
    char cpu_model[128];
    int threads;               /* CPU threads the case used */
    int32_t iters, repeats;
    double *test_rmse;         /* per iteration (iters), NaN where no test part */
    double *train_rmse;        /* per iteration */
    double *iter_seconds;      /* the timed iterations (repeats) */
    double sec_median, sec_min, sec_max;
    int n_phases;
    char phase_name[CF_BENCH_MAX_PHASES][16];
    double phase_median[CF_BENCH_MAX_PHASES]; /* seconds per iteration, median */
    double flops_per_iter, bytes_per_iter;    /* the models of run.c (GPU SGD: DRAM bytes) */
    double l2_bytes_per_iter;                 /* GPU SGD: bytes between the SMs and L2; NaN elsewhere */
    double updates_per_sec, gflops, gbps, l2_gbps;
    cf_bench_ceilings ceil;
    double share_flops, share_bw, share_l2;   /* gflops / gemm_gflops, gbps / copy_gbps,
                                                 l2_gbps / ceil.l2_gbps; NaN where not
                                                 applicable or above 1 (see below) */
    int share_over_ceiling;                   /* a modelled rate exceeded its measured ceiling:
                                                 the model does not describe this case */
    const char *bound;                        /* "compute" or "memory": the relevant share */
    int64_t host_peak_bytes;                  /* VmHWM during the case (data included) */
    int64_t device_peak_bytes;                /* -1 on the CPU */
    double check_rmse;                        /* test RMSE after the last iteration */
} cf_bench_result;

/* Runs one case on loaded data. A CPU case measures the CPU ceilings on first use and
 * keeps them in *ceil (shared by the cases of one run); a GPU case measures the GPU's
 * on its own open backend. Returns CF_OK also for a FAILED or SKIPPED case (see
 * res->status); an error status only for failures of the machinery itself. */
cf_status cf_bench_run_case(const cf_bench_case *c, const cf_bench_data *data,
                            cf_bench_ceilings *cpu_ceil, cf_bench_result *res, cf_error *err);
void cf_bench_result_free(cf_bench_result *res);

/* ------------------------------------------------------------------ results (JSON lines) */

typedef struct cf_bench_meta {
    const char *date;    /* ISO 8601 UTC of the run's start */
    const char *commit;  /* git commit */
    const char *suite;
} cf_bench_meta;

/* What a result records of its run: the short commit of the working tree ("unknown"
 * outside git; 12 hex digits) and the current UTC time in ISO 8601. */
void cf_bench_git_commit(char *buf, size_t len);
void cf_bench_utc_now(char *buf, size_t len);

/* The NVIDIA driver's version ("580.159.04") in `text`: the contents of
 * /proc/driver/nvidia/version (its "NVRM version: ... Kernel Module ... 580.159.04 ..."
 * line) or the output of `nvidia-smi --query-gpu=driver_version --format=csv,noheader`
 * (the version alone on its first line). Returns 1 and the version in out (len ≥ 2), or
 * 0 and out = "" when the text holds none: an unknown format gives nothing, never a guess. */
int cf_bench_parse_nvidia_driver(const char *text, char *out, size_t len);
/* The same on this machine: /proc/driver/nvidia/version, else nvidia-smi; "" when neither. */
void cf_bench_nvidia_driver(char *out, size_t len);

/* One JSON object (no newline), malloc'ed into *out. Schema in docs/BENCHMARKS.md; checked by
 * cf_bench_validate_record. */
cf_status cf_bench_result_json(const cf_bench_meta *meta, const cf_bench_case *c,
                               const cf_bench_data_info *data, const cf_bench_result *res,
                               char **out, cf_error *err);

/* Checks one JSON line against the schema (every required key with its type);
 * the error names the key. */
cf_status cf_bench_validate_record(const char *line, cf_error *err);

typedef enum cf_bench_cmp { CF_CMP_NEW = 0, CF_CMP_SAME, CF_CMP_FASTER, CF_CMP_REGRESSED } cf_bench_cmp;

typedef struct cf_bench_cmp_row {
    char case_name[CF_BENCH_NAME_MAX];
    char device[128];
    double before, now;   /* median seconds per iteration; before NaN when new */
    double change;        /* now/before − 1 (0.15 = 15 % slower); NaN when new */
    cf_bench_cmp verdict;
} cf_bench_cmp_row;

/* For every OK record of `new_path` (in order), the last OK record of `old_path` with
 * the same key (device name, CPU model, data set name and hash, the whole config,
 * precision) and the change of the median seconds per iteration: REGRESSED when
 * slower by more than threshold_pct percent, FASTER when faster by more, SAME between,
 * NEW when old has no such record (a missing old file is an empty history). *rows is
 * malloc'ed; *n_regressed counts the regressions. */
cf_status cf_bench_compare(const char *old_path, const char *new_path, double threshold_pct,
                           cf_bench_cmp_row **rows, int *n_rows, int *n_regressed, cf_error *err);

/* Writes gnuplot data for the history plot of a results file: one block per case key
 * (blocks separated by two blank lines), first line the quoted title, then
 * "run_index commit updates_per_sec" per OK record; run_index counts the distinct
 * runs (date) of the file in order. Atomic. *n_series = blocks, *n_runs = runs. */
cf_status cf_bench_history(const char *results_path, const char *dat_path, int *n_series,
                           int *n_runs, cf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CUFACTOR_BENCH_H */
