/*
 * cufactor.h — the public C11 API of cufactor, a matrix-factorization engine for
 * explicit ratings (r̂ = μ + b_u + b_i + p_u·q_i) with a double-precision CPU
 * reference and CUDA backends.
 *
 * Conventions (all functions):
 *   - Fallible functions return a cf_status and, when `err` is not NULL, fill it with
 *     a one-line message naming the file, line, field or parameter at fault.
 *   - The library never prints and never exits.
 *   - Objects are opaque handles; every cf_X_destroy(&p) accepts NULL or a pointer to
 *     NULL and sets *p to NULL.
 *   - No CUDA type appears here: a build without the CUDA toolkit has the same API.
 */
#ifndef CUFACTOR_H
#define CUFACTOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CF_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ status */

typedef enum cf_status {
    CF_OK = 0,
    CF_ERR_INVALID,     /* bad argument or configuration value */
    CF_ERR_NOMEM,       /* an allocation failed */
    CF_ERR_IO,          /* open / read / write / rename failed */
    CF_ERR_PARSE,       /* input data is malformed */
    CF_ERR_CORRUPT,     /* a model or checkpoint file fails validation */
    CF_ERR_NUMERIC,     /* non-finite value, or a system that is not positive definite */
    CF_ERR_UNSUPPORTED, /* not built in or not available (e.g. no GPU backend) */
    CF_ERR_DEVICE,      /* a CUDA runtime or library call failed */
    CF_ERR_NOT_FOUND,   /* an unknown user or item ID */
    CF_ERR_INTERRUPTED  /* stopped on request: training (cf_train_options.stop), no model; or a
                           read cancelled by its progress callback, no ratings added */
} cf_status;

#define CF_ERROR_MSG_MAX 512

typedef struct cf_error {
    cf_status status;
    char msg[CF_ERROR_MSG_MAX];
} cf_error;

/* Short stable name of a status ("ok", "parse error", ...). Never NULL. */
const char *cf_status_name(cf_status s);

/* ------------------------------------------------------------------ config */

typedef enum cf_algo {
    CF_ALGO_ALS = 0,   /* alternating exact block solves */
    CF_ALGO_SGD,       /* stochastic gradient descent, per rating */
    CF_ALGO_GD,        /* full-batch gradient descent */
    CF_ALGO_MINIBATCH, /* mini-batch gradient descent */
    CF_ALGO_ALSGD,     /* ALS alternation with L gradient steps per block */
    CF_ALGO_CCD        /* cyclic coordinate descent */
} cf_algo;

typedef enum cf_reg {
    CF_REG_PLAIN = 0, /* w = 1 */
    CF_REG_WEIGHTED,  /* w = n_row (ALS-WR) */
    CF_REG_MEAN,      /* (1/|Ω|)Σ(...)² + λΣ‖·‖²  ≡  plain with λ·|Ω| */
    CF_REG_SAME       /* cf_config.bias_reg only: the factors' mode (reg) */
} cf_reg;

typedef enum cf_device { CF_DEVICE_AUTO = 0, CF_DEVICE_CPU, CF_DEVICE_GPU } cf_device;
typedef enum cf_lr_schedule { CF_LR_CONST = 0, CF_LR_INVSCALE } cf_lr_schedule;
typedef enum cf_sgd_schedule {
    CF_SCHED_SHUFFLE = 0, /* one seeded permutation of all ratings per epoch (CPU reference) */
    CF_SCHED_BLOCKS,      /* B×B blocks in conflict-free waves (reproducible, GPU-equivalent) */
    CF_SCHED_HOGWILD      /* lock-free, any order (GPU); the CPU runs it as SHUFFLE */
} cf_sgd_schedule;
/* CF_OPT_AUTO (the default) is Adam for gd and minibatch when lr is 0 (chosen), plain
 * with an explicit lr and for the other algorithms (cf_config_resolve). */
typedef enum cf_optimizer { CF_OPT_PLAIN = 0, CF_OPT_ADAM, CF_OPT_AUTO } cf_optimizer;
/* Precision of training. fp32 (default): the GPU, and on the CPU the fast SIMD path (ALS
 * and SGD; the other algorithms run on the double-precision reference); fp16: factor
 * storage in half precision, arithmetic fp32, GPU SGD only; fp64: the CPU's
 * double-precision reference (what verify compares against), CPU only. */
typedef enum cf_precision { CF_PRECISION_FP32 = 0, CF_PRECISION_FP16, CF_PRECISION_FP64 } cf_precision;

/* How the GPU backend solves ALS's normal equations (the CPU always uses LAPACK dposv). */
typedef enum cf_als_solver {
    CF_ALS_SOLVER_CUSOLVER = 0, /* cusolverDnSpotrfBatched + SpotrsBatched (default) */
    CF_ALS_SOLVER_FUSED         /* one kernel per batch: factor + both triangular solves in
                                   shared memory (kernels/chol.cu) for d = K + bias ≤ 129,
                                   cuSOLVER beyond */
} cf_als_solver;

/* How the GPU backend forms ALS's Gram matrices and right-hand sides (the CPU ignores it). */
typedef enum cf_als_gram {
    CF_ALS_GRAM_SIMT = 0, /* FP32 FMA kernel, register-tiled (kernels/gram.cu; default) */
    CF_ALS_GRAM_TC        /* tensor cores, 3xTF32 split to fp32-grade accuracy (kernels/gram_tc.cu);
                             needs sm_80+ and K + bias <= 767, the SIMT kernel otherwise (with a
                             notice) */
} cf_als_gram;

typedef struct cf_config {
    cf_algo algo;          /* default ALS */
    int32_t factors;       /* K, default 32 */
    int32_t iters;         /* iterations (ALS sweeps / epochs); 0 (default): the algorithm's own,
                              see cf_config_resolve */
    double lambda;         /* λ, default 0.1 (weighted), see cf_reg */
    cf_reg reg;            /* default CF_REG_WEIGHTED */
    /* The biases' own regularization: b_u² and b_i² are charged λ_b·w_b instead of λ·w
     * (the objective in README, "The math"), e.g. a plain λ_b that shrinks a bias fit to
     * few ratings (Koren's baseline b_i = Σ(r − μ)/(λ_b + n_i)) beside weighted factors.
     * NaN (default): λ; CF_REG_SAME (default): reg. cf_config_resolve makes both
     * explicit, so a trained model stores the values it used. */
    double bias_lambda;
    cf_reg bias_reg;
    int bias;              /* 1: r̂ = μ + b_u + b_i + p·q (default); 0: r̂ = p·q */
    double tol;            /* stop when |ΔL|/L < tol; 0 disables (default 0) */
    uint64_t seed;         /* default 42 */
    int32_t threads;       /* CPU threads, 0 = all cores (default 0) */
    double init_scale;     /* initial factors ~ N(0, init_scale²/K), default 0.1 */
    cf_device device;      /* default CF_DEVICE_AUTO */
    int32_t gpu_id;        /* default 0 */
    /* Device memory the GPU backend may plan with, in bytes: it uses min(free, limit),
     * cutting the ALS batches smaller; 0 = no limit (default). Not stored in the model
     * file (a property of the run, like threads). */
    uint64_t gpu_mem_limit;
    /* gradient-based solvers */
    double lr;             /* η_0; 0 (default): chosen for the algorithm and the data, see
                              cf_config_resolve. An explicit value is used as given. */
    cf_lr_schedule lr_schedule; /* default CF_LR_CONST */
    double lr_decay;       /* β of η_t = η_0/(1+β t^1.5), default 0.3 */
    cf_sgd_schedule schedule;   /* default CF_SCHED_SHUFFLE */
    int32_t blocks;        /* B for the blocks schedule, default 8 */
    int64_t batch;         /* mini-batch size; 0 (default): ⌈|Ω|/20⌉, 20 steps per epoch */
    cf_optimizer optimizer;/* default CF_OPT_AUTO */
    int32_t inner;         /* ALS+GD inner steps L, default 5 */
    int32_t early_stop;    /* patience P on the dataset's test part, 0 disables (default 0) */
    int32_t restarts;      /* random initializations, keep best (default 1) */
    cf_precision precision;/* default CF_PRECISION_FP32 (fp16: GPU SGD only; fp64: the CPU reference).
                              fp64 is not stored in the model file (a property of the run) */
    /* GPU ALS solver, default CF_ALS_SOLVER_CUSOLVER. Not stored in the model file (a
     * property of the run, like threads). */
    cf_als_solver als_solver;
    /* GPU ALS Gram kernel, default CF_ALS_GRAM_SIMT. Not stored in the model file. */
    cf_als_gram als_gram;
} cf_config;

/* Smallest non-zero cf_config.gpu_mem_limit accepted. */
#define CF_GPU_MEM_LIMIT_MIN ((uint64_t)1 << 20)

/* Fills `cfg` with the documented defaults. */
void cf_config_default(cf_config *cfg);

/* Checks every field; on failure names the field and the accepted range. */
cf_status cf_config_validate(const cf_config *cfg, cf_error *err);

/* The settings a training of cfg->algo on ds's training part runs with: `out` is `in`
 * with every field left to be chosen filled in (cf_train does this itself and stores the
 * result in the model; call it to show or record them beforehand). The rules:
 *   iters 0      als, alsgd, ccd, sgd 15; gd 50; minibatch 5
 *   optimizer    auto: Adam for gd and minibatch when lr is 0; plain with an explicit lr
 *                (as in earlier versions) and for the other algorithms
 *   batch 0      minibatch: ⌈|Ω|/20⌉ (20 steps per epoch on any size); others 10000
 *   lr 0         sgd η_t = η_0/(1 + β t^1.5) (the invscale schedule; β = lr_decay) with
 *                η_0 = 0.2, or 0.1 without biases (p·q then carries the rating level: a
 *                larger curvature ‖q‖²); a constant step stops improving early; gd,
 *                minibatch with Adam 0.02 (Adam's step is in units of
 *                the parameters, whatever the scale of the gradient, so one value fits
 *                rows of any count); gd, minibatch plain 1 / (4 max_row (2 n_row + Λ_row)),
 *                a bound of the objective's curvature at small factors (Gershgorin on the
 *                bias block of the Hessian), halved; als, alsgd, ccd (unused) 0.01.
 * ds may be NULL (no data: batch 10000, the plain step as for one rating per row). */
struct cf_dataset;
void cf_config_resolve(const cf_config *in, const struct cf_dataset *ds, cf_config *out);

/* Names <-> enums, as used by the CLI and the model file. parse returns 0 on success, -1 if unknown. */
const char *cf_algo_name(cf_algo a);
int cf_algo_parse(const char *s, cf_algo *out);
const char *cf_reg_name(cf_reg r);
int cf_reg_parse(const char *s, cf_reg *out);
const char *cf_device_name(cf_device d);
int cf_device_parse(const char *s, cf_device *out);
const char *cf_precision_name(cf_precision p);
int cf_precision_parse(const char *s, cf_precision *out);
const char *cf_als_solver_name(cf_als_solver s);
int cf_als_solver_parse(const char *s, cf_als_solver *out);

/* ------------------------------------------------------------------ data */

typedef enum cf_format {
    CF_FORMAT_AUTO = 0, /* Matrix Market if the banner says so, else delimited */
    CF_FORMAT_DELIM,    /* user item rating [ignored...]: tab, comma, space or "::" */
    CF_FORMAT_MM,       /* Matrix Market coordinate real|integer general */
    CF_FORMAT_BINARY    /* cufactor's binary dataset (`cufactor convert`): recognized by its
                         * magic under CF_FORMAT_AUTO; only reported, never chosen */
} cf_format;

/* Every reader takes a gzip-compressed file (gzip, pigz, bgzip; recognized by its magic,
 * whatever its name) as the text or binary dataset inside: decompressed into memory
 * whole (libdeflate; a BGZF file, as bgzip and this library's *.gz outputs write, on
 * `threads` threads, any other on one), then parsed as that. ZIP, xz, zstd and bzip2
 * files are refused with a message that names the format (CF_ERR_PARSE).
 *
 * Progress of a read, for a bar on a terminal. `phase` is one of these static strings:
 *   "decompressing" (a gzip file only, first) done, total: compressed bytes done, the
 *                   file's size; reported between gzip members, so a file of one member
 *                   (plain gzip) gets just the calls with 0 and total;
 *   "reading"       done, total: bytes of the file (decompressed) parsed so far, its size;
 *   "deduplicating" done, total: ratings checked for repeated (user, item) pairs so far,
 *                   the ratings read (sorting them by user and item; after "reading").
 * Each phase calls it once with done = 0, then at most every max(1 % of total, 2^22)
 * units with done non-decreasing, and once with done == total when the phase is
 * complete (not when the read failed). A non-zero return cancels the read: it returns
 * CF_ERR_INTERRUPTED ("reading FILE: cancelled at byte N", or "... cancelled while
 * removing duplicates ...") and adds no ratings.
 * A third phase, "waiting" (done: bytes received so far, total: -1), is called only when
 * a blocking open() or read() of a pipe or FIFO returns EINTR (a signal handler installed
 * without SA_RESTART ran): non-zero cancels ("... cancelled while waiting for input"),
 * zero waits on. */
typedef int (*cf_read_progress_fn)(const char *phase, int64_t done, int64_t total, void *user);

typedef struct cf_read_options {
    cf_format format;   /* default CF_FORMAT_AUTO */
    int skip_bad_lines; /* 1: skip and count malformed lines instead of failing (default 0) */
    size_t max_line;    /* longest accepted line in bytes, default 65536 */
    cf_read_progress_fn progress; /* NULL (the default): no progress calls */
    void *progress_user;          /* passed to progress as `user` */
    int threads;        /* parser threads; 0 (the default): all cores. The result (ratings, ID
                         * order, report, every message) is the same whatever the count. */
    int timestamps;     /* 1: delimited text's fourth field is each rating's timestamp, an
                         * integer (e.g. Unix seconds, as MovieLens has), kept with the rating
                         * (a missing or malformed one is a bad line); a binary dataset must
                         * have been converted with them; Matrix Market has none (an error).
                         * All ratings of a dataset have timestamps or none: reading a test
                         * file into a dataset must ask as its first read did. Default 0:
                         * later fields ignored, as ever. */
} cf_read_options;

void cf_read_options_default(cf_read_options *opt);

typedef struct cf_read_report {
    int64_t bytes;        /* size of the file (decompressed, when it is gzip-compressed) */
    int64_t lines;        /* lines seen (including header and comments) */
    int64_t ratings;      /* ratings kept */
    int64_t skipped;      /* malformed lines skipped (skip_bad_lines) */
    int64_t duplicates;   /* (user, item) pairs seen again: the last one is kept */
    int header;           /* 1 if a header line was skipped */
    cf_format format;     /* the format used */
    char delimiter[4];    /* "\t", ",", " ", "::" (delimited only) */
    char first_bad[160];  /* with skip_bad_lines: "file:line: reason" of the first skipped line */
    int64_t compressed;   /* a gzip-compressed file: its size (bytes is what it holds); else 0 */
} cf_read_report;

/* The delimited reader's tokenizer, for other line-oriented inputs (predict's pairs), so
 * that they split, trim and limit lines exactly as the ratings reader does. `line` is
 * one line without its '\n' (len bytes; NULs count as bytes); `*delim` is -1 before the
 * first data line, which sets it (detected: "::", tab, comma, else blanks) for the next
 * calls. A UTF-8 byte-order mark at the start of the first line is the caller's to drop.
 * Returns 0 for a line to skip (blank, or '#' comment), 1 with up to three fields in
 * out (pointers into line, trailing '\r' / blanks removed, comma fields unquoted once),
 * or -1 with *why set to the reader's reason: "line longer than max_line (...)" (len >
 * max_line, max_line 0: the reader's default 65536), "NUL byte in a field",
 * "unterminated quoted field", "user ID longer than 65535 bytes (N)" or the item's. */
typedef struct cf_line_fields {
    const char *field[3];
    size_t len[3];
    int count;           /* fields found, at most 3 */
} cf_line_fields;
int cf_line_split(const char *line, size_t len, size_t max_line, int *delim, cf_line_fields *out, char *why,
                  size_t why_cap);

/* Text from a file (an ID, a line) made safe for a message, as the reader's errors show
 * it: printable ASCII kept, '\t' '\r' '\\' and other bytes escaped ("\xNN"), at most
 * 80 bytes of s shown, then "...". Writes at most cap bytes (cap >= 1), NUL-terminated;
 * cap >= CF_SHOW_CAP holds any result. Returns dst. */
#define CF_SHOW_CAP 332
char *cf_text_show(char *dst, size_t cap, const char *s, size_t len);

/* Opens a line-oriented text input (predict's pairs, a list of IDs) for reading: the
 * file itself, or, when it is gzip-compressed, its text decompressed into memory (a
 * stream that fclose frees). Errors: "PATH: cannot open: reason" (CF_ERR_IO, errno
 * kept), or the decompression's ("PATH: byte N: corrupt or truncated gzip data ..."). */
cf_status cf_text_open(const char *path, FILE **out, cf_error *err);

/* A set of ratings with the user and item ID maps (external token <-> dense index).
 * Each rating is in the training part or the test part. */
typedef struct cf_dataset cf_dataset;

/* Reads a ratings file. All ratings are in the training part. */
cf_status cf_dataset_read(const char *path, const cf_read_options *opt, cf_dataset **out,
                          cf_read_report *rep, cf_error *err);

/* Reads a second file into the test part of `ds`, mapping its IDs through ds's maps
 * (IDs never seen are added and have no training ratings: "unseen"). */
cf_status cf_dataset_read_test(cf_dataset *ds, const char *path, const cf_read_options *opt,
                               cf_read_report *rep, cf_error *err);

/* Moves a seeded random fraction `ratio` of the training ratings into the test part. */
cf_status cf_dataset_split(cf_dataset *ds, double ratio, uint64_t seed, cf_error *err);
/* The same on `threads` threads (0: all, as cf_dataset_split): the same split whatever
 * the count (the seeded draws are one serial stream; the threads gather and flag). */
cf_status cf_dataset_split_threads(cf_dataset *ds, double ratio, uint64_t seed, int threads, cf_error *err);
/* A per-user holdout: moves a seeded random share `ratio` of each user's training ratings
 * into the test part (⌊ratio·n_u + U⌋ of the user's n_u, U uniform on [0, 1), so the
 * expected share is ratio), but never all of them: every user keeps at least one
 * training rating, and one with a single rating keeps it. So every test rating's user is
 * known to the model, and ranking measures see each user's held-out share (users with
 * one rating are not tested: the test part's share is a little below ratio). The draws
 * of each user come from a stream of seed and the user's index: the same split whatever
 * `threads` (0: all cores). A different split from cf_dataset_split's at the same seed. */
cf_status cf_dataset_split_per_user(cf_dataset *ds, double ratio, uint64_t seed, int threads, cf_error *err);

/* Time splits, for a dataset read with timestamps (cf_read_options.timestamps): the test
 * part is the future of the training part, as a deployed model meets it. Ratings with the
 * same timestamp are ordered by their index (after a text file's deduplication: by user,
 * then item, in order of first appearance). CF_ERR_INVALID when ds has no timestamps.
 * cf_dataset_split_time: the latest llround(ratio·n_train) training ratings, as many as
 * cf_dataset_split moves, into the test part: every training rating is no later than
 * every test one. *cutoff (may be NULL) = the earliest test rating's timestamp
 * (INT64_MAX when none moved). Unseeded: the latest are the latest. */
cf_status cf_dataset_split_time(cf_dataset *ds, double ratio, int threads, int64_t *cutoff, cf_error *err);
/* cf_dataset_split_per_user_time: each user's latest ratings, as many per user as
 * cf_dataset_split_per_user holds out at the same seed (⌊ratio·n_u + U⌋, at most n_u − 1:
 * every test user is known); the same split whatever `threads`. */
cf_status cf_dataset_split_per_user_time(cf_dataset *ds, double ratio, uint64_t seed, int threads, cf_error *err);
/* 1 when ds carries a timestamp per rating, else 0. */
int cf_dataset_has_timestamps(const cf_dataset *ds);
/* A new dataset of ds's training ratings only, every one in its training part, in ds's
 * order, with their timestamps when ds has them, and copies of ds's ID maps (the same
 * indices; IDs of the test part alone stay, without ratings). A split of the copy carves
 * a validation part out of the training part, leaving ds's test part untouched (`cufactor
 * train --validation`): train on the copy, then evaluate the model on ds's test part. */
cf_status cf_dataset_train_copy(const cf_dataset *ds, int threads, cf_dataset **out, cf_error *err);

typedef struct cf_dataset_info {
    int64_t n_users, n_items;   /* distinct IDs in the maps */
    int64_t n_train, n_test;    /* ratings in each part */
    int64_t test_unseen;        /* test ratings whose user or item has no training rating */
} cf_dataset_info;

void cf_dataset_info_get(const cf_dataset *ds, cf_dataset_info *info);
/* The same on `threads` threads (0: all cores, what cf_dataset_info_get uses): the same
 * counts whatever the count. */
void cf_dataset_info_get_threads(const cf_dataset *ds, int threads, cf_dataset_info *info);
void cf_dataset_destroy(cf_dataset **ds);

/* Synthetic data: a planted rank-k model with biases, power-law user and item
 * popularity, Gaussian noise σ, ratings clipped to [1, 5]. */
typedef struct cf_gen_options {
    int64_t users, items, ratings;
    int32_t rank;
    double noise;      /* σ */
    uint64_t seed;
    double zipf;       /* popularity exponent, default 0.8; 0 = uniform */
    int round;         /* 1: round ratings to integers 1..5 (MovieLens-like); 2: to half stars
                          0.5, 1, ..., 5 (clipped to [0.5, 5]); default 0 */
    int clip;          /* 1: clip ratings to [1, 5] ([0.5, 5] with half stars; default); 0: keep
                          the raw planted value */
    double mu;         /* planted global mean, default 3.5 */
    double mnar;       /* β >= 0: which items a user rates depends on the planted ratings ("missing
                          not at random"): item i is drawn with weight popularity_i · σ(β a_ui),
                          a_ui = (b*_i + p*_u·q*_i) / sd, σ the logistic function, so users rate
                          more of what they like, as real users do; 0 (default): popularity alone,
                          the same data as before this option */
    int64_t time_span; /* S > 0: every rating gets a timestamp uniform in [T0, T0 + S), T0 =
                          1e9 (2001-09-09 UTC, Unix seconds), from a stream of its own (the
                          ratings are those of S = 0); the dataset is timed. 0 (default): none */
    double drift;      /* D >= 0 (needs time_span): item i's bias moves linearly over the span,
                          b_i(t) = b*_i + D·z_i·(2τ − 1), τ = (t − T0)/S, z_i ~ N(0, 1) from a
                          stream of its own, so an item's mean changes by 2·D·z_i from the
                          first rating to the last: data on which a random split, unlike a
                          time split, lets the model see the future. 0 (default): no drift */
} cf_gen_options;

void cf_gen_options_default(cf_gen_options *opt);
/* Generates into memory (all ratings in the training part). Duplicate pairs are drawn again. */
cf_status cf_generate(const cf_gen_options *opt, cf_dataset **out, cf_error *err);
/* Writes a dataset's training part as delimited text "user<TAB>item<TAB>rating\n" (a
 * dataset with timestamps: "user<TAB>item<TAB>rating<TAB>time\n"), atomically (temporary
 * file + rename); gzip-compressed when path ends in ".gz" (members of 2^18 ratings,
 * compressed on all threads at libdeflate's level 1). */
cf_status cf_dataset_write(const cf_dataset *ds, const char *path, cf_error *err);
/* Writes a dataset (every rating, both ID maps) in cufactor's binary dataset format,
 * atomically, with a checksum computed on `threads` threads (0: all cores). Every reader
 * (cf_dataset_read, cf_dataset_read_test) recognizes such a file by its magic and loads
 * it at memory speed. The ratings must be sorted by (user, item) without repeated pairs,
 * as a dataset just read is (CF_ERR_INVALID otherwise). */
cf_status cf_dataset_write_binary(const cf_dataset *ds, const char *path, int threads, cf_error *err);

/* ------------------------------------------------------------------ atomic output files */

/* A text output that appears at `path` only when complete, written the way
 * cf_model_save writes: into an unnamed file in path's directory (or, where the
 * filesystem refuses O_TMPFILE, "PATH.tmp.XXXXXX"), fsync'ed, then renamed over path.
 * A process killed meanwhile leaves the old file and (with O_TMPFILE) no temporary.
 * Write to *stream with stdio; errors are collected and reported by commit, naming the
 * path. Commit and abort close the stream and free *f; both accept *f == NULL.
 * Only regular files are replaced: a path that is a device node, FIFO, socket or
 * directory is refused (CF_ERR_IO); a symbolic link is written through to its target,
 * atomically (the same holds for cf_model_save, cf_dataset_write and checkpoints). */
typedef struct cf_output cf_output;
cf_status cf_output_open(const char *path, cf_output **out, FILE **stream, cf_error *err);
cf_status cf_output_commit(cf_output **f, cf_error *err);
void cf_output_abort(cf_output **f);

/* ------------------------------------------------------------------ model */

typedef struct cf_model cf_model;

typedef struct cf_model_info {
    int64_t n_users, n_items;
    int32_t factors;
    int bias;
    double mu;
    cf_config config;   /* the configuration it was trained with */
} cf_model_info;

void cf_model_info_get(const cf_model *m, cf_model_info *info);
void cf_model_destroy(cf_model **m);

/* The first 8 bytes of a model file (.cfm) and of a checkpoint (.cfc): what tells them
 * apart from each other and from ratings (`cufactor info`). */
#define CF_MODEL_MAGIC "CUFACTOR"
#define CF_CHECKPOINT_MAGIC "CFCKPT\r\n"

/* Atomic save: written to a temporary file in the same directory, fsync'ed, renamed. */
cf_status cf_model_save(const cf_model *m, const char *path, cf_error *err);
/* Validates magic, version, dimensions, sizes, checksum and finiteness. */
cf_status cf_model_load(const char *path, cf_model **out, cf_error *err);
/* Writes P.npy (n_users×K), Q.npy (n_items×K), user_bias.npy, item_bias.npy (float64),
 * users.txt, items.txt (one ID per line, in row order), meta.json (μ, dims, "ratings":
 * whether the counts are there) and, when the model keeps its rating counts
 * (cf_model_rating_counts), user_ratings.npy and item_ratings.npy (int64), creating `dir`
 * if missing. All are written as temporaries and renamed into place only when all were
 * written: on failure none of an earlier export's files is replaced, no temporary is
 * left, and a directory created by the call is removed again. A model without counts
 * removes an earlier export's count files. */
cf_status cf_model_export_npy(const cf_model *m, const char *dir, cf_error *err);

/* m with users and items exchanged: its users are m's items and its items m's users (P
 * and Q, b_u and b_i swapped; μ and the config kept), so that what ranks items for a user
 * (cf_model_recommend, cf_model_recommend_batch, cf_model_similar_items) ranks users for
 * an item: who to show a new item to (`cufactor recommend --item`). Its r̂(i, u) is m's
 * r̂(u, i) but for the order of one addition (μ + b_i + b_u instead of μ + b_u + b_i):
 * equal up to its rounding. */
cf_status cf_model_transpose(const cf_model *m, cf_model **out, cf_error *err);
/* ds with users and items exchanged, the same ratings in the same parts, sorted by (its
 * user, its item): the exclusions for a transposed model. */
cf_status cf_dataset_transpose(const cf_dataset *ds, cf_dataset **out, cf_error *err);

/* r̂ for external IDs. An unknown user or item is CF_ERR_NOT_FOUND. */
cf_status cf_model_predict(const cf_model *m, const char *user, const char *item, double *out,
                           cf_error *err);
/* r̂ for external IDs, and for a pair whose user or item the model does not know
 * ("unseen": *unseen = 1, else 0; unseen may be NULL) the fallback that eval uses: μ plus
 * the known side's bias, or μ (the training mean) without biases. The model has rows for
 * the IDs with training ratings only. */
cf_status cf_model_predict_or_mean(const cf_model *m, const char *user, const char *item, double *out,
                                   int *unseen, cf_error *err);

typedef struct cf_recommendation {
    const char *item;   /* points into the model; valid while the model lives */
    double score;
} cf_recommendation;

/* Top-n items by r̂ for `user`, excluding the items the user rated in `exclude`'s
 * training and test parts (may be NULL). `out` has room for n; *n_out receives the count. */
cf_status cf_model_recommend(const cf_model *m, const char *user, int32_t n,
                             const cf_dataset *exclude, cf_recommendation *out, int32_t *n_out,
                             cf_error *err);

typedef struct cf_eval_report {
    double rmse, mae;
    int64_t count;     /* ratings evaluated (all ratings of both parts of the dataset) */
    int64_t unseen;    /* of which user or item unknown to the model: predicted by μ (+ the known
                          bias; μ alone without biases, 0 for a model saved by an earlier build without) */
    double rmse_se, mae_se; /* their standard errors, clustered by user (metrics.c: users independent,
                               a user's ratings not); NaN with fewer than two users */
    int64_t users;     /* users with ratings in the dataset */
} cf_eval_report;

cf_status cf_model_evaluate(const cf_model *m, const cf_dataset *ds, cf_eval_report *rep,
                            cf_error *err);
/* The same over the ratings of one part of ds only (0 training, 1 test; −1 all): e.g. the
 * test part's RMSE with its standard error after cf_train on ds. */
cf_status cf_model_evaluate_part(const cf_model *m, const cf_dataset *ds, int part, cf_eval_report *rep,
                                 cf_error *err);

/* Two models on the same ratings: each one's report, and the paired difference of their
 * RMSEs with its standard error clustered by user (the pairing cancels what the models
 * share: for two models that find the same ratings hard it is far smaller than either
 * RMSE's own; metrics.c). */
typedef struct cf_compare_report {
    cf_eval_report a, b;
    double rmse_diff;    /* b.rmse − a.rmse: negative when b predicts the ratings better */
    double rmse_diff_se; /* its standard error; NaN with fewer than two users */
} cf_compare_report;

cf_status cf_model_compare(const cf_model *a, const cf_model *b, const cf_dataset *ds, cf_compare_report *rep,
                           cf_error *err);

/* Top-n ranking quality on held-out ratings (cf_model_rank_evaluate), the measures a
 * recommender is used by; RMSE says how close the scores are, these whether the items a
 * user went on to rate are among the n the model would have shown. For each evaluated
 * user u, L_u is the model's top n (cf_model_recommend_batch's list, leaving out what u
 * rated in `exclude`) and R_u the relevant items: u's ratings in the test data of at least
 * relevant_min (every rating when relevant_min is NaN), less those u also rated in
 * exclude (they cannot be recommended); h = |L_u ∩ R_u|, m = min(n, |R_u|).
 *   precision = h / n            recall = h / |R_u|           hit_rate = [h > 0]
 *   ndcg = Σ_{j: L_u[j] ∈ R_u} 1/log2(j + 2)  /  Σ_{j < m} 1/log2(j + 2)   (j from 0)
 *   map  = Σ_{j: L_u[j] ∈ R_u} (hits in L_u[0..j]) / (j + 1)  /  m
 * each the mean over the evaluated users; coverage = distinct items in any L_u / the
 * model's items. A relevant item the model has no row for stays in R_u (a model cannot
 * recommend what it never saw; counted in relevant_unknown). `popular` ranks every user's
 * candidates by their number of ratings in `exclude` (the usual first baseline; ties: lower
 * item row), with the same exclusions; NaN without exclude. */
typedef struct cf_rank_metrics {
    double precision, recall, ndcg, map, hit_rate, coverage;
} cf_rank_metrics;

/* One of them by name, in cf_rank_metrics' order (cv's selection). */
typedef enum cf_rank_measure {
    CF_RANK_PRECISION = 0, CF_RANK_RECALL, CF_RANK_NDCG, CF_RANK_MAP, CF_RANK_HIT_RATE
} cf_rank_measure;

typedef struct cf_rank_report {
    int32_t n;                 /* list length */
    int64_t users;             /* users evaluated: known to the model, R_u not empty */
    int64_t users_unknown;     /* test users with a relevant rating that the model has no row for (skipped) */
    int64_t users_no_relevant; /* test users the model knows whose R_u is empty (skipped) */
    int64_t relevant;          /* Σ |R_u| over the evaluated users */
    int64_t relevant_unknown;  /* of which items the model has no row for */
    int64_t relevant_excluded; /* relevant test ratings left out because exclude has the pair */
    cf_rank_metrics model, popular;
    /* standard errors of the means above (s/√users, users independent; coverage NaN),
     * and of the paired per-user difference model − popular (NaN without exclude) */
    cf_rank_metrics model_se, popular_se, difference_se;
} cf_rank_report;

/* Ranks the top n for every user of `test` (both parts) with a relevant rating, on
 * `threads` threads (0: all cores; the report does not depend on it), and fills rep as
 * described above. exclude may be NULL (then nothing is excluded and popular is NaN).
 * progress (may be NULL) is called as ("rank", users done, users, progress_user); a
 * non-zero answer stops it (CF_ERR_INTERRUPTED, rep untouched). n >= 1. */
cf_status cf_model_rank_evaluate(const cf_model *m, const cf_dataset *test, const cf_dataset *exclude, int32_t n,
                                 double relevant_min, int threads, cf_read_progress_fn progress,
                                 void *progress_user, cf_rank_report *rep, cf_error *err);
/* The same on one dataset split as cf_train splits it: the ratings of ds's test part
 * against lists that leave out its training part (popular counts the training part);
 * what `cufactor train --top N` reports. */
cf_status cf_model_rank_evaluate_split(const cf_model *m, const cf_dataset *ds, int32_t n, double relevant_min,
                                       int threads, cf_read_progress_fn progress, void *progress_user,
                                       cf_rank_report *rep, cf_error *err);

/* Fold-in: rows for users from their ratings with the model's items fixed, so that a
 * trained model serves users it was not trained on (or whose ratings changed) without
 * retraining. For each user u of `ratings` (both parts), with I_u its ratings of items the
 * model has rows for, x_u = [p_u; b_u] minimizes the model's own objective with Q, b_i and
 * μ fixed (one ALS half-step for these users; foldin.c):
 *     Σ_{i∈I_u} (r_ui − μ − b_i − q_i·p_u − b_u)² + Λ_u ‖p_u‖² + Λb_u b_u²
 *     (without biases: Σ (r_ui − q_i·p_u)² + Λ_u ‖p_u‖²),   Λ_u = λ (plain) or λ·|I_u| (weighted),
 *     Λb_u = Λ_u, or the model's own bias_lambda / bias_reg where it was trained with them
 *     (the options below do not change those)
 * in double precision by Cholesky, as the CPU ALS solves its rows. A user with no rating
 * of a known item gets zeros (predicted μ + b_i, like a user the model never saw).
 * With `items` the roles swap: rows x_i = [q_i; b_i] for the items of `ratings` from their
 * ratings by users the model knows, P, b_u and μ fixed (ALS's item half-step): new items
 * (a film just released, rated by a few known users) join the catalogue. */
typedef struct cf_fold_in_options {
    double lambda;  /* λ; NaN (the default): the model's */
    int reg;        /* a cf_reg; -1 (the default): the model's. A model trained with `mean`
                       (Λ = λ·|Ω|) needs plain or weighted here: the model does not keep |Ω| */
    int threads;    /* 0 (the default): all cores; the result does not depend on it */
    int items;      /* 0 (the default): rows for the users of `ratings`, the items fixed;
                       1: rows for its items, the users fixed */
    int merge;      /* 0 (the default): the new model's rows on that side are those of
                       `ratings` alone; 1: the model's, those of `ratings` replaced by their
                       fold-in (one with no usable rating keeps its row), then the new ones
                       of `ratings` in its ID order: one model serving everybody */
    cf_read_progress_fn progress; /* ("fold-in", rows done, rows, progress_user); non-zero
                                     stops it (CF_ERR_INTERRUPTED); NULL: none */
    void *progress_user;
} cf_fold_in_options;

void cf_fold_in_options_default(cf_fold_in_options *o);

/* Rows are users (items with `items`) throughout. */
typedef struct cf_fold_in_report {
    int64_t rows;            /* the users of `ratings`: the rows solved */
    int64_t rows_empty;      /* of which with no rating of a known item: zeros (under merge m's row if any) */
    int64_t rows_new;        /* of which the model had no row for */
    int64_t ratings;         /* ratings the rows were solved from */
    int64_t ratings_unknown; /* ratings of items the model has no row for (not used) */
} cf_fold_in_report;

/* A new model *out whose users are those of `ratings`, in its ID order (under merge: m's,
 * then the new ones), with the rows above, and whose items, Q, b_i, μ and training config
 * are m's (with `items`, the same with users and items swapped); m is not changed.
 * Everything that takes a model (predict, recommend, evaluate, rank, save) takes it.
 * opt may be NULL (the defaults), rep too. A system that is not positive definite (λ = 0
 * and fewer ratings than unknowns) is CF_ERR_NUMERIC naming the row. */
cf_status cf_model_fold_in(const cf_model *m, const cf_dataset *ratings, const cf_fold_in_options *opt,
                           cf_model **out, cf_fold_in_report *rep, cf_error *err);

/* Why a user gets an item: the score of the user's fold-in row (from the user's ratings in
 * `ratings`, as cf_model_fold_in solves it) split over those ratings. With
 * x_u = A⁻¹ Σ_j t_j z_j (A = Σ_j z_j z_jᵀ + Λ_u I, z_j = [q_j; 1], t_j = r_uj − μ − b_j; without
 * biases z_j = q_j, t_j = r_uj) the score is linear in the t_j:
 *     r̂_ui = μ + b_i + z_iᵀ x_u = μ + b_i + Σ_j t_j · z_jᵀ A⁻¹ z_i
 * so rated item j contributes t_j · z_jᵀ A⁻¹ z_i: how much more (or less) the user's rating of
 * j than j's own baseline, times how strongly the model ties j to i. */
typedef struct cf_explanation {
    double score;    /* r̂_ui of the fold-in row, as cf_model_predict gives it on that model */
    double base;     /* μ + b_i (0 without biases): the score before the user's ratings */
    int64_t ratings; /* the user's ratings of items the model knows: the terms */
} cf_explanation;

typedef struct cf_explain_term {
    const char *item;     /* the rated item's ID (points into the model) */
    double rating;        /* the user's rating of it */
    double contribution;  /* t_j · z_jᵀ A⁻¹ z_i; all of them sum to score − base */
} cf_explain_term;

/* Explains the score of `item` for `user`, whose ratings are those of `user` in `ratings`
 * (both parts; the training file for a trained user, or a new user's ratings): fills *ex
 * and the n terms of largest contribution into terms (room for n; *n_terms gets how many:
 * min(n, ex->ratings)), largest first, ties by the item's row. opt (may be NULL): λ and the
 * scheme as cf_model_fold_in takes them (threads, items, merge, progress unused). CF_ERR_NOT_FOUND for a
 * user not in `ratings` or an item the model does not know. */
cf_status cf_model_explain(const cf_model *m, const cf_dataset *ratings, const cf_fold_in_options *opt,
                           const char *user, const char *item, int32_t n, cf_explain_term *terms, int32_t *n_terms,
                           cf_explanation *ex, cf_error *err);

/* ------------------------------------------------------------------ training */

typedef struct cf_iter_info {
    int32_t iter;           /* 1-based */
    double train_rmse;
    double test_rmse;       /* NaN when there is no test part */
    double objective;       /* L of DESIGN.md §1 (sum form) */
    double seconds;         /* wall time of this iteration's update */
    double ratings_per_sec; /* training ratings processed per second of update */
    int32_t restart;        /* 0-based run of cf_config.restarts this iteration belongs to */
} cf_iter_info;

/* Called once per iteration; return non-zero to stop after it. */
typedef int (*cf_progress_fn)(const cf_iter_info *info, void *user);

typedef struct cf_train_report {
    int32_t iters;          /* iterations run */
    double train_rmse, test_rmse, objective;
    double seconds;         /* wall time of the whole training, upload/download included */
    int64_t n_train, n_test, test_unseen;
    char device[64];        /* "cpu" or the GPU name */
    /* e.g. "no usable GPU: using the CPU", or, when the GPU backend could not open
     * under --device auto (out of memory), "GPU: <its error>: using the CPU"; empty if none */
    char notice[CF_ERROR_MSG_MAX + 64];
    char stop_reason[64];   /* "iters", "tol", "early-stop", "callback", "interrupted" */
    int32_t resumed_from;   /* iterations of the run in progress done before --resume (0: fresh) */
    int32_t checkpoints;    /* checkpoint files written by this call */
    /* Where `seconds` went (wall time; restarts add up): */
    double seconds_prepare;    /* parts, CSR/CSC, factor allocation, checkpoint hash/load */
    double seconds_upload;     /* opening the backend: data and factors to the device (GPU) or
                                * the solver's own layouts (CPU); and downloads of the result */
    double seconds_iterations; /* the updates (cf_iter_info.seconds summed) */
    double seconds_eval;       /* RMSE / objective after each iteration */
    int64_t init_users, init_items; /* rows taken from cf_train_options.init (0 without) */
    /* The run kept (0-based; restarts keep the best); -1 when a resume from a version 1
     * checkpoint no longer knows which earlier run it was. */
    int32_t restart;
    /* The iteration of that run the model is (1-based): with early stopping the best one,
     * else the last; what a retraining of the run for as many iterations reproduces. */
    int32_t model_iter;
} cf_train_report;

/* Trains on ds's training part, reports on its test part. `progress` may be NULL. */
cf_status cf_train(const cf_dataset *ds, const cf_config *cfg, cf_progress_fn progress,
                   void *user, cf_model **out, cf_train_report *rep, cf_error *err);

/* ------------------------------------------------------------------ checkpoint / resume
 *
 * A checkpoint holds the whole state of a training at an iteration boundary: the
 * config, the identity of the data (shape and a hash of the training and test parts
 * and of the ID maps), the restart in progress and its iteration count, the current
 * factors and biases, the early-stopping best model and counters, the previous
 * objective (tol), the best finished restart, and the solver's own state (Adam moments
 * and step count, step counters). The random streams of the solvers are functions of
 * (seed, stream, epoch) (schedule.h), so the iteration number is their state. On the
 * CPU a resumed run ends bit-identical to an uninterrupted one; on the GPU too where its
 * kernels are reproducible run to run (ALS, SGD blocks; not hogwild, GD's SpMM). A resume
 * continues on the backend that wrote the checkpoint (cf_checkpoint_info.backend): device
 * auto follows it, another one is CF_ERR_INVALID naming the option to give.
 *
 * The file (".cfc") is little-endian with a magic, a version and a checksum, written
 * atomically (temporary file + rename): a crash leaves the previous checkpoint intact.
 * A truncated, corrupt or other-version file is CF_ERR_CORRUPT naming the path. */
typedef struct cf_train_options {
    /* Where to write checkpoints (NULL: never). */
    const char *checkpoint;
    /* Write one after every N-th iteration of a run that goes on (0: only when stopped
     * through `stop`). Default 10. */
    int32_t checkpoint_every;
    /* Continue from this checkpoint (NULL: a fresh start). `cfg` must equal the
     * checkpoint's config except iters, threads, device and gpu_id (CF_ERR_INVALID
     * names the first field that differs), and the dataset must be the same
     * (CF_ERR_INVALID otherwise). */
    const char *resume;
    /* Stop request (e.g. set by a signal handler of the application: the library
     * installs none), polled at every iteration boundary and, on the CPU, inside an
     * iteration once per row batch. When it is non-zero and work remains, the trainer
     * abandons a partial iteration, writes the checkpoint of the last completed one (if
     * configured; resuming from it is bit-identical to an uninterrupted run) and returns
     * CF_ERR_INTERRUPTED without a model; rep->iters tells how far it got. The GPU
     * backend sees it between kernel batches without a checkpoint, and with one at
     * iteration boundaries only (it finishes the iteration and checkpoints that). */
    const volatile sig_atomic_t *stop;
    /* The phases around the iterations (NULL, the default: no calls), with the protocol of
     * cf_read_progress_fn: phase(name, 0, 1, phase_user) when one starts, phase(name, 1,
     * 1, phase_user) when it ends (not when it failed). "preparing": the parts, CSR/CSC,
     * the factors (seconds_prepare), and again for each later restart's initialization;
     * "uploading": the backend's start, the data and factors
     * to the device (part of seconds_upload), once per restart; "downloading": the factors
     * back from it. The return value is ignored (a stop goes through `stop`). So that an
     * application shows where a long run is before its first iteration. */
    cf_read_progress_fn phase;
    void *phase_user;
    /* Warm start (NULL, the default: none): the rows this model has for the data's users
     * and items (by ID) replace the seeded initialization of theirs, the others keep
     * their draws; the model's K and biases must be cfg's. For a retraining after new
     * ratings arrive: it starts near where the last one ended. ALS recomputes P from Q
     * first, so ALS from a model trained N iterations on the same data is, bit for bit,
     * N more iterations of that training. Not with restarts > 1 or resume. */
    const cf_model *init;
} cf_train_options;

void cf_train_options_default(cf_train_options *opt);

/* cf_train with checkpoints, resume and a stop request; `opt` NULL = cf_train. */
cf_status cf_train_ex(const cf_dataset *ds, const cf_config *cfg, const cf_train_options *opt,
                      cf_progress_fn progress, void *user, cf_model **out, cf_train_report *rep,
                      cf_error *err);

/* What a checkpoint file holds, validated in full (magic, version, sizes, checksum). */
typedef struct cf_checkpoint_info {
    cf_config config;        /* the training's config */
    int32_t restart;         /* 0-based index of the run in progress */
    int32_t iter;            /* iterations of that run done */
    int64_t n_users, n_items, n_train, n_test;
    char backend[16];        /* the backend that wrote it: "cpu", "cpu-fp32", "gpu" */
} cf_checkpoint_info;

cf_status cf_checkpoint_info_get(const char *path, cf_checkpoint_info *info, cf_error *err);

/* 1 when a GPU backend is built in and a device is usable, else 0 (fills `why`). */
int cf_gpu_available(char *why, size_t why_len);

/* Starts CUDA on device gpu_id: the driver, the device's context and the math libraries
 * (cuBLAS, cuSOLVER, cuSPARSE), which take from a fraction of a second to seconds on a
 * large GPU and would otherwise be paid inside the first cf_train on it. Safe to call from any thread, and more than once: a program that
 * reads its data first calls it on another thread meanwhile (`cufactor train` does).
 * 1 when the device is ready, else 0 (no GPU backend built in, no such device, the
 * driver refused: cf_gpu_available says why); never an error of its own. */
int cf_gpu_warm_up(int gpu_id);


/* ------------------------------------------------------------------ cross-validation */

/* k-fold cross-validation over a grid of K × λ (× λ_b, the biases' own λ, when
 * bias_lambdas is given): every rating of the dataset (both parts) gets a seeded fold
 * (cf_cv_folds, or with by_user cf_cv_folds_per_user); for each cell and fold f the cell
 * is trained with cf_train on the other folds and scored by the RMSE on fold f. With
 * by_time the folds are in time (cf_cv_folds_time) and fold f's model is trained on the
 * earlier folds only. */
typedef struct cf_cv_options {
    const int32_t *factors; /* the K axis, strictly increasing, n_factors ≥ 1 values */
    int32_t n_factors;
    const double *lambdas;  /* the λ axis, strictly increasing, n_lambdas ≥ 1 values */
    int32_t n_lambdas;
    int32_t folds;          /* F ≥ 2, default 5 */
    uint64_t seed;          /* seed of the fold assignment, default 42 */
    int refit;              /* 1: train the best cell on all the data into result.model (default 1) */
    /* Selection by a ranking measure (default rank_n 0: by RMSE): with rank_n > 0 each cell
     * and fold is also scored by rank_measure of the top rank_n lists of the fold's users
     * (cf_model_rank_evaluate_split on the fold: its ratings of at least relevant_min, NaN
     * every rating, against lists without the other folds' items), and the best cell is the
     * one of the highest mean of it. */
    int32_t rank_n;
    cf_rank_measure rank_measure;
    double relevant_min;    /* default NaN */
    /* Called after each fold of each cell (may be NULL): ib, il, ik index the grid (ib 0
     * without the λ_b axis); score is the ranking measure (NaN when rank_n is 0). */
    void (*on_fold)(int32_t ib, int32_t il, int32_t ik, int32_t fold, double rmse, double score, void *user);
    void *user;
    int by_user;            /* 1: per-user folds (cf_cv_folds_per_user: every validated user is
                               known to the fold's model); 0 (default): cf_cv_folds */
    int by_time;            /* 1: rolling-origin folds in time (cf_cv_folds_time, with by_user per
                               user; the dataset needs timestamps): fold f is validated on a model
                               trained on the ratings before it only, the later folds left out */
    int64_t rank_min_ratings; /* with rank_n: each fold's lists hold only the items its model was fit
                                 to at least this many ratings (cf_model_subset_min_ratings; 0, the
                                 default: every item), as `recommend --min-ratings` ranks */
    int select_last;        /* with by_time: 1 picks the best cell by the last fold alone (its model
                               trained on the most data, the nearest to the refit) instead of the
                               mean over the folds, whose early folds are trained on little; 0 (the
                               default): the mean. CF_ERR_INVALID without by_time */
    int select_iters;       /* 1: the iteration count is chosen too. Every cell's validation RMSE
                               is recorded after each of its iterations (the progress of cf_train,
                               so no extra training); each cell is scored at its iteration of least
                               mean RMSE (cf_cv_result.cell_iters; fold_rmse, mean, std are then
                               that iteration's), the best cell picked by those scores, and the
                               refit runs that many iterations. By RMSE only (rank_n 0), and with
                               a config without tol, early_stop or restarts (CF_ERR_INVALID):
                               every cell runs all its iterations once. 0 (the default): the
                               config's iterations for every cell */
    const double *bias_lambdas; /* a third axis, the biases' λ_b (cf_config.bias_lambda; the biases'
                               weighting stays the config's bias_reg): finite, >= 0, strictly
                               increasing, n_bias_lambdas values. NULL and 0 (the default): no
                               axis, every cell keeps the config's bias_lambda. An axis needs the
                               config's biases (bias 1; CF_ERR_INVALID otherwise) */
    int32_t n_bias_lambdas;
} cf_cv_options;

void cf_cv_options_default(cf_cv_options *opt);

typedef struct cf_cv_result {
    int32_t n_factors, n_lambdas, folds;
    int32_t n_bias_lambdas; /* the λ_b axis' values, 1 without it (the config's λ_b) */
    /* cell c = (ib·n_lambdas + il)·n_factors + ik (cf_cv_cell_index; ib 0 without the λ_b axis) */
    double *fold_rmse;   /* [c·folds + f]: validation RMSE of fold f */
    double *mean, *std;  /* [c]: mean and sample std (n−1) over the folds */
    double *fold_score, *mean_score, *std_score; /* the same for the ranking measure (NULL when rank_n is 0) */
    int32_t best_b, best_l, best_k; /* indices of the cell of least mean RMSE, or with rank_n of greatest
                               mean score (first on ties); with select_last of the last fold's */
    int border;          /* 1: the best cell is on the grid's border (see cf_cv_pick_best) */
    cf_model *model;     /* the refit of the best cell on all the data (NULL without refit) */
    cf_train_report refit_report;
    int64_t unvalidated; /* ratings in no fold, always in training (per-user folds: of users with
                            one rating; time folds: the first block; 0 otherwise) */
    int64_t *fold_from;  /* by_time: the earliest time among each fold's validation ratings
                            (folds entries); NULL otherwise */
    /* With rank_n: the popularity baseline's rank_measure on each fold (cf_rank_report.popular
     * of the fold's ranking: the most rated items of the fold's training ratings, among the same
     * candidates; the same for every cell), folds entries, and its mean and sample std; NULL
     * and NaN when rank_n is 0. A cell that does not beat it ranks no better than a
     * best-seller list. */
    double *fold_popular;
    double mean_popular, std_popular;
    /* With rank_n: the best cell's score minus the baseline's, paired by fold: mean and sample
     * std of the folds' differences (NaN when rank_n is 0). */
    double mean_minus_popular, std_minus_popular;
    /* With select_iters: the iterations every cell trained (the config's, resolved), the mean
     * over the folds of the validation RMSE after each ([c·iters + t], t = 0 for the first
     * iteration), and each cell's chosen iteration count (1-based,
     * the first of least mean; its folds' RMSEs are in fold_rmse). 0 and NULL otherwise. */
    int32_t iters;
    double *mean_curve;
    int32_t *cell_iters;
} cf_cv_result;

/* Fold of each of n ratings: a seeded permutation dealt round-robin, so fold sizes
 * differ by at most one. `fold` has room for n. */
cf_status cf_cv_folds(int64_t n, int32_t folds, uint64_t seed, int32_t *fold, cf_error *err);

/* Rolling-origin folds in time ("forward chaining"; the dataset must have timestamps). The
 * ratings (both parts), in (time, index) order, are cut into F + 1 blocks of sizes within
 * one, the j-th of n in block ⌊j·(F+1)/n⌋; fold[k] = block − 1. Fold f is
 * validated on a model trained on the folds before it (fold[k] < f, the first block −1
 * included) and the folds after it take no part, so every model predicts ratings later
 * than all it was trained on. With by_user the same per user: user u's m ratings in
 * (time, index) order, the j-th in block ⌊j·(F+1)/m⌋, so the user's first rating is always
 * in training (every validated user is known) and a user with one rating is never
 * validated. No seed: the order decides. The same folds whatever `threads` (0: all
 * cores). CF_ERR_INVALID without timestamps, with fewer than F + 1 ratings, or (by_user)
 * when a fold would be empty. */
cf_status cf_cv_folds_time(const cf_dataset *ds, int32_t folds, int by_user, int threads, int32_t *fold,
                           cf_error *err);

/* Per-user folds of the dataset's ratings (both parts, fold[k] for rating k; room for
 * every rating): each user's ratings in a seeded order of the user's own, dealt
 * round-robin over the folds from a seeded first fold. So each user has ⌊n_u/F⌋ or
 * ⌈n_u/F⌉ of its n_u ratings in each fold, and with n_u ≥ 2 at least one outside every
 * fold: every validated user is known to the model trained without that fold. A user
 * with one rating gets fold −1: always in training, never validated. Fold sizes are
 * even in expectation, not exactly. The draws of each user come from a stream of seed
 * and the user's index: the same folds whatever `threads` (0: all cores). CF_ERR_INVALID
 * when a fold would be empty (too few users with two ratings). */
cf_status cf_cv_folds_per_user(const cf_dataset *ds, int32_t folds, uint64_t seed, int threads, int32_t *fold,
                               cf_error *err);

/* The argmin of mean[(ib·n_lambdas + il)·n_factors + ik] (first on ties) into *best_b
 * (may be NULL), *best_l, *best_k; returns 1 when it lies on the border of an axis with
 * more than one value (its K, λ or λ_b is the axis' first or last value: "enlarge the
 * grid"), else 0. */
int cf_cv_pick_best(const double *mean, int32_t n_bias_lambdas, int32_t n_lambdas, int32_t n_factors,
                    int32_t *best_b, int32_t *best_l, int32_t *best_k);

/* The index of cell (ib, il, ik) in the result's per-cell arrays. */
int64_t cf_cv_cell_index(const cf_cv_result *res, int32_t ib, int32_t il, int32_t ik);

/* CF_OK when cf_cv_run would accept base and opt: the options, and every cell's
 * configuration (cf_config_validate); no data is needed. */
cf_status cf_cv_check(const cf_config *base, const cf_cv_options *opt, cf_error *err);

/* Runs the grid with `base` for every other setting (its factors, lambda and, with the
 * λ_b axis, bias_lambda are replaced per cell). On success `res` owns arrays to release
 * with cf_cv_result_free. */
cf_status cf_cv_run(const cf_dataset *ds, const cf_config *base, const cf_cv_options *opt,
                    cf_cv_result *res, cf_error *err);

/* Frees the arrays and the model; accepts NULL and a zeroed result. */
void cf_cv_result_free(cf_cv_result *res);

/* ------------------------------------------------------------------ verification */

/* GPU against the CPU reference: both backends start from the identical initial
 * factors (the trainer's, from cfg->seed) and run cfg->iters iterations of cfg->algo
 * side by side on ds's training part. After each iteration both are evaluated and
 * their factors compared row by row: for a row x = (p, b) of either side,
 *     rel(x) = ‖x_cand − x_ref‖ / max(‖x_cand‖, ‖x_ref‖)      (0 when both are 0),
 * and the iteration passes when
 *     median rel ≤ rtol,  |L_cand − L_ref| ≤ rtol·|L_ref|,  max rel ≤ max_rtol,
 *     |RMSE_test,cand − RMSE_test,ref| ≤ rmse_rtol·RMSE_test,ref.
 * Schedules whose order is not fixed (SGD hogwild) are judged by the test RMSE only. */
typedef struct cf_verify_options {
    cf_device candidate; /* CF_DEVICE_GPU (default); CF_DEVICE_CPU checks the tool itself */
    double rtol;         /* default 1e-4 (measured on an H200: worst 5.7e-7; src/verify.c) */
    double max_rtol;     /* default 1e-2 (measured: 7.3e-6, 2.4e-4 on a long row) */
    double rmse_rtol;    /* default 1e-2 (measured: hogwild 2.3e-3) */
} cf_verify_options;

void cf_verify_options_default(cf_verify_options *opt);

typedef struct cf_verify_iter {
    int32_t iter;                        /* 1-based */
    double obj_ref, obj_cand;            /* L = sse + reg on the training part */
    double test_ref, test_cand;          /* test RMSE (NaN without a test part) */
    double rel_median, rel_max;          /* over every user and item row */
    char rel_max_row[48];                /* "user 17" (the internal index) */
    int rows_checked;                    /* 0 where the schedule's order is not fixed */
    int ok;                              /* 1 when within every tolerance */
} cf_verify_iter;

/* Called once per iteration; return non-zero to stop after it. */
typedef int (*cf_verify_fn)(const cf_verify_iter *it, void *user);

typedef struct cf_verify_report {
    int32_t iters, failed;               /* iterations run, iterations beyond tolerance */
    double worst_median, worst_max, worst_obj, worst_rmse; /* worst relative differences seen */
    char ref_device[64], cand_device[64];
    /* Where the time went (seconds): the parts, CSR/CSC and initialization; the reference
     * (its start, steps, evaluations, downloads); the candidate's start (the data and
     * factors to its device); the candidate's steps, evaluations and downloads; the
     * comparison of the factors. */
    double seconds_prepare, seconds_reference, seconds_upload, seconds_candidate, seconds_compare;
    /* how the candidate runs this configuration where it differs from what was asked (e.g.
     * --als-gram tc on a GPU without TF32 tensor cores: the SIMT Gram), or "" */
    char notice[256];
} cf_verify_report;

/* CF_OK when the comparison ran (rep->failed tells whether it agreed); an error when
 * either backend could not run (e.g. no usable GPU: CF_ERR_UNSUPPORTED). */
cf_status cf_verify(const cf_dataset *ds, const cf_config *cfg, const cf_verify_options *opt,
                    cf_verify_fn fn, void *user, cf_verify_report *rep, cf_error *err);


/* ------------------------------------------------------------------ arrays (bindings)
 *
 * The interface for bindings such as the Python package (python/): ratings and IDs
 * from caller arrays, results copied into caller buffers, the configuration set by
 * name so that a binding need not mirror cf_config's layout.
 *
 * IDs come as a cf_ids: either n integers, whose token is their decimal form (so the
 * integer 196 is the ID a ratings file writes as "196"), or n byte strings, ID k being
 * chars[offsets[k] .. offsets[k+1]) (not NUL-terminated; empty IDs and IDs longer
 * than 65535 bytes are refused, as the reader refuses them). */
typedef struct cf_ids {
    int64_t n;
    const int64_t *ints;    /* n integer IDs, or NULL for strings */
    const char *chars;      /* string IDs, concatenated */
    const int64_t *offsets; /* n + 1 non-decreasing offsets into chars, offsets[0] = 0 */
} cf_ids;

typedef enum cf_which { CF_USERS = 0, CF_ITEMS } cf_which;

/* What a pair with a user or item the model does not know gets: the fallback of eval
 * and `cufactor predict` (cf_model_predict_or_mean: μ plus the known bias, μ alone
 * without biases), or CF_ERR_NOT_FOUND (`predict --unknown error`). */
typedef enum cf_unknown { CF_UNKNOWN_MEAN = 0, CF_UNKNOWN_ERROR } cf_unknown;

/* A configuration on the heap (cf_config_default's values), for bindings; NULL when out
 * of memory. cf_config_destroy accepts NULL and a pointer to NULL. */
cf_config *cf_config_new(void);
void cf_config_destroy(cf_config **cfg);
/* Sets one field by the CLI's option name, from text: "algo", "factors", "iters",
 * "lambda", "reg", "bias" (0 or 1), "tol", "seed", "threads", "init-scale", "device",
 * "gpu-id", "gpu-mem-limit" (bytes), "lr", "lr-schedule", "lr-decay", "schedule",
 * "blocks", "batch", "optimizer", "inner", "early-stop", "restarts", "precision",
 * "als-solver", "als-gram". Values as the CLI takes them (numbers in full, choices by name). An
 * unknown name or a value that does not parse is CF_ERR_INVALID naming both; ranges
 * are cf_config_validate's (cf_train checks them). */
cf_status cf_config_set(cf_config *cfg, const char *name, const char *value, cf_error *err);
/* The field's value as text (the form cf_config_set takes back) into buf (cap bytes,
 * NUL-terminated; 64 is enough). CF_ERR_INVALID for an unknown name. */
cf_status cf_config_get(const cf_config *cfg, const char *name, char *buf, size_t cap, cf_error *err);
/* The name of field k (0, 1, ...) that cf_config_set and cf_config_get take, in the order
 * above; NULL past the last. For listing a whole configuration. */
const char *cf_config_field(int k);
/* The step size of epoch `epoch` (0-based) under cfg's schedule, as cf_train uses it: lr
 * (const), or lr / (1 + lr_decay·epoch^1.5) (invscale). */
double cf_config_lr(const cf_config *cfg, int32_t epoch);
/* A warm start's step (cf_train_options.init): when the training that made the model,
 * `from` (its config, cf_model_config), decayed its step (invscale) over at least one
 * iteration, sets cfg's schedule to invscale and cfg->lr to from's last step,
 * cf_config_lr(from, from->iters − 1), and returns 1: the warm rows go on at the step
 * they ended with (a decaying schedule's first step, 0.2 by default, throws them far
 * off). Otherwise changes nothing and returns 0. For a caller whose user set neither
 * the step nor another schedule (train --init, Python fit(init=)). */
int cf_config_continue_lr(cf_config *cfg, const cf_config *from);
/* The seed that draws restart `restart`'s initialization (0-based; restart 0's is
 * cfg->seed): a training of that seed with restarts 1 starts where that restart started
 * (train --refit retrains the run it kept). */
uint64_t cf_config_restart_seed(const cf_config *cfg, int32_t restart);

/* An empty dataset (no IDs, no ratings). */
cf_status cf_dataset_new(cf_dataset **out, cf_error *err);
/* Appends n = users->n ratings (items->n must equal it) to part 0 (training) or 1
 * (test), as cf_dataset_read (part 0) and cf_dataset_read_test (part 1) add a file's:
 * IDs new to the dataset are interned in order of first appearance, a (user, item)
 * pair repeated among these n keeps its last rating, and the added ratings end up
 * sorted by (user index, item index). The same ratings in the same order as a file's
 * lines therefore make the dataset that reading the file makes. Ratings are stored as
 * float, as the reader stores them. Errors name the parameter and index
 * ("ratings[3]: not finite (nan)", "users[5]: empty ID"); on failure the dataset's
 * ratings are those it had (IDs interned on the way may stay, as with the reader). */
cf_status cf_dataset_add(cf_dataset *ds, const cf_ids *users, const cf_ids *items, const float *ratings,
                         int part, cf_error *err);
/* The same with each rating's timestamp (times[k]; the time splits' input): an empty
 * dataset becomes timed, as a read with cf_read_options.timestamps makes it; a timed
 * dataset takes ratings only with times (times NULL: cf_dataset_add), an untimed one
 * with ratings only without (CF_ERR_INVALID otherwise). A repeated pair keeps the last
 * rating and its time. */
cf_status cf_dataset_add_timed(cf_dataset *ds, const cf_ids *users, const cf_ids *items, const float *ratings,
                               const int64_t *times, int part, cf_error *err);
/* Interns IDs of one side in the given order without ratings (IDs the dataset has stay
 * where they are): declaring a dataset's IDs (cf_dataset_ids) before its ratings
 * rebuilds its maps in their order, whatever the order of the ratings. An ID without
 * ratings is harmless (as an unseen test ID is): the model has rows for the IDs with
 * training ratings only, in the dataset's order. */
cf_status cf_dataset_add_ids(cf_dataset *ds, cf_which side, const cf_ids *ids, cf_error *err);
/* The ratings of one part (0 training, 1 test) in dataset order: user and item indices
 * (rows of cf_dataset_ids) and ratings, each array of n_train or n_test entries (any
 * may be NULL). */
cf_status cf_dataset_ratings(const cf_dataset *ds, int part, int64_t *users, int64_t *items, float *ratings,
                             cf_error *err);
/* The timestamps of one part, in the order of cf_dataset_ratings; CF_ERR_INVALID when the
 * dataset has none (cf_dataset_has_timestamps). */
cf_status cf_dataset_times(const cf_dataset *ds, int part, int64_t *times, cf_error *err);

/* The IDs of one side in index order (a model's row order) into caller buffers: *bytes
 * receives the total length of the IDs (chars NULL: only that); with chars (cap bytes)
 * and offsets (count + 1 entries) the IDs are copied as in cf_ids. CF_ERR_INVALID when
 * cap is too small. */
cf_status cf_dataset_ids(const cf_dataset *ds, cf_which side, char *chars, size_t cap, int64_t *offsets,
                         size_t *bytes, cf_error *err);
cf_status cf_model_ids(const cf_model *m, cf_which side, char *chars, size_t cap, int64_t *offsets, size_t *bytes,
                       cf_error *err);
/* The same IDs as integers, when every one is the decimal form of an int64 ("17",
 * "-3"; not "017", "+3" or "1e3", whose integer would name another token); else
 * CF_ERR_INVALID naming the first that is not, and the caller takes the strings. */
cf_status cf_dataset_ids_int(const cf_dataset *ds, cf_which side, int64_t *out, cf_error *err);
cf_status cf_model_ids_int(const cf_model *m, cf_which side, int64_t *out, cf_error *err);

/* The ratings behind each row of one side, in row order, into out (n_users or n_items
 * entries): for a trained model its training ratings (the test part left out), for a
 * folded-in row its ratings of rows the model knew. A row solved from a handful of
 * ratings is mostly its prior: its bias can put it at the top of every list
 * (cf_model_subset with these counts sets a floor). CF_ERR_UNSUPPORTED for a model
 * loaded from a file of version 1, which did not keep them. */
cf_status cf_model_rating_counts(const cf_model *m, cf_which side, int64_t *out, cf_error *err);
/* m with the kept rows only: user u where keep_users[u] != 0, item i where
 * keep_items[i] != 0 (NULL: every row of that side), in m's order, with their factors,
 * biases, IDs and rating counts; μ and the config kept. What a ranking should choose
 * from: e.g. the items with at least N ratings (`recommend --min-ratings N`), or those in
 * stock; every call that takes a model takes it (a dropped row is then unknown to it). */
cf_status cf_model_subset(const cf_model *m, const uint8_t *keep_users, const uint8_t *keep_items, cf_model **out,
                          cf_error *err);
/* cf_model_subset of the rows fit to at least min_users (users) and min_items (items)
 * ratings (0: every row of that side): what `recommend --min-ratings M` ranks from
 * (min_items = M). CF_ERR_UNSUPPORTED, as cf_model_rating_counts, for a model without
 * counts when a floor is set. */
cf_status cf_model_subset_min_ratings(const cf_model *m, int64_t min_users, int64_t min_items, cf_model **out,
                                      cf_error *err);

/* Copies of the model's parameters (any pointer may be NULL): P (n_users × K) and Q
 * (n_items × K) row-major, b_u, b_i (zeros without biases); μ is cf_model_info's. */
void cf_model_params(const cf_model *m, double *P, double *Q, double *bu, double *bi);
/* The configuration the model was trained with (points into the model). */
const cf_config *cf_model_config(const cf_model *m);

/* r̂ for the n pairs (users[k], items[k]) into out[n]. A pair with an unknown user or
 * item: see cf_unknown; unseen (may be NULL) gets 1 for such a pair, 0 otherwise.
 * CF_UNKNOWN_ERROR: "pair k: unknown user ID 'x'" (or item), naming the first. */
cf_status cf_model_predict_batch(const cf_model *m, const cf_ids *users, const cf_ids *items, cf_unknown unknown,
                                 double *out, uint8_t *unseen, cf_error *err);
/* The top n items for each of the users, as cf_model_recommend ranks them (higher
 * score first, lower item row on ties), leaving out the items each user rated in
 * `exclude` (both parts; may be NULL). Row k of items and scores (users->n × n,
 * row-major) holds user k's: item rows of the model (cf_model_ids order) and r̂; a user
 * with fewer than n candidates has the rest of the row padded with -1 and NaN, and
 * counts[k] (counts may be NULL) tells how many are real. A user the model does not
 * know: with CF_UNKNOWN_MEAN ranked by μ + b_i (the prediction of eval for an unseen
 * user), with CF_UNKNOWN_ERROR "users[k]: unknown user ID 'x'". Users are ranked in
 * parallel on `threads` threads (0: all cores); the result does not depend on it. */
cf_status cf_model_recommend_batch(const cf_model *m, const cf_ids *users, int32_t n, const cf_dataset *exclude,
                                   cf_unknown unknown, int threads, int64_t *items, double *scores,
                                   int32_t *counts, cf_error *err);

/* The n items most similar to each of the given items by the cosine of their factors,
 * cos(q_i, q_j) = q_i·q_j / (‖q_i‖‖q_j‖) (an item with all-zero factors: 0 to every item),
 * the item itself left out; higher first, the lower item row on ties. Row k of out and
 * scores (items->n × n, row-major) holds item k's: item rows of the model and cosines,
 * padded with -1 and NaN past counts[k] (counts may be NULL). An unknown item is
 * CF_ERR_NOT_FOUND: "items K: unknown item ID 'x'". threads: 0 all cores; the result
 * does not depend on it. */
cf_status cf_model_similar_items(const cf_model *m, const cf_ids *items, int32_t n, int threads, int64_t *out,
                                 double *scores, int32_t *counts, cf_error *err);
/* The same among the candidates only: item i may be listed when candidates[i] != 0
 * (n_items flags; NULL: every item, as cf_model_similar_items); a query need not be one.
 * `similar --min-ratings M`: the items fit to at least M ratings (cf_model_rating_counts). */
cf_status cf_model_similar_items_among(const cf_model *m, const cf_ids *items, int32_t n, const uint8_t *candidates,
                                       int threads, int64_t *out, double *scores, int32_t *counts, cf_error *err);

/* sizeof of a public struct by name ("cf_error", "cf_iter_info", "cf_train_report",
 * "cf_read_report", "cf_train_options", "cf_read_options", "cf_model_info",
 * "cf_dataset_info", "cf_rank_report", "cf_fold_in_report", "cf_fold_in_options", "cf_explanation",
 * "cf_explain_term", "cf_eval_report", "cf_compare_report"), 0 for another name:
 * bindings that mirror a struct check their layout against it. */
size_t cf_struct_size(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* CUFACTOR_H */
