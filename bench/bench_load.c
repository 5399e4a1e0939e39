/*
 * bench_load.c — throughput of the ratings reader (cf_dataset_read) at 1 and N threads,
 * of convert (cf_dataset_write_binary: checksum, write, fsync, rename) and of loading
 * the binary dataset, side by side in one run.
 *
 * Usage: bench_load [FILE | --mb MB] [--runs R] [--threads N] [--json]
 *   FILE given: reads that file.
 *   No FILE: generates a MovieLens/Netflix-like tab-separated file
 *   "user<TAB>item<TAB>rating<TAB>timestamp" of about MB megabytes (default 300) in
 *   $TMPDIR (or /tmp): 480k users, 17.7k items with power-law popularity, grouped by
 *   user, integer ratings 1..5, 9-10 digit timestamps. The file is deleted at the end.
 * Each of R rounds (default 5) runs, in this order: the text read with 1 thread, with N
 * threads (default: all cores), convert, the binary load with N threads: alternating, so
 * that on a shared machine every side sees the same load. Prints each run and the
 * medians: seconds, MB/s of the text file (10^6 bytes; the binary's own size for its
 * load), the ratios N-thread/1-thread and binary/N-thread text; --json adds one JSON line.
 * Every read is of a file in the page cache (it was just written or read).
 *
 * Two more cases in every round, also alternating: the preparation of training (a seeded
 * 10 % split, the train and test parts copied out, CSR + CSC built: what cf_train does
 * before its backend starts) at 1 and N threads, reported per million ratings, the two
 * results compared byte for byte; and saving a model (cf_model_save: .cfm, checksummed,
 * atomic, fsync'ed) against writing and fsyncing the same number of bytes with plain
 * write(2) calls in the same directory: both to a path that does not exist (the issue's
 * bar), and both replacing the last round's file, the raw bytes as an atomic replacement
 * (a temporary file, fsync, rename over, fsync of the directory; the rename releases the
 * old file's blocks, ≈ 80 ms for 140 MB on this VM's ext4) (--model-users U, default
 * 120000, × 17770 items × K = 128 in fp64: ≈ 140 MB; the Netflix shape is
 * 480189 users, ≈ 520 MB).
 * And the seeded initialization of training (cf_factors_init_random_threads) of the data's
 * users × items × K = 100 in fresh memory, at 1 and N threads, compared value for value.
 * With --minibatch, one more: an epoch's mini-batch lists, the host work the GPU's mini-batch GD does
 * every epoch (cf_minibatch_entries: the scatter permutation, the batches in entry order
 * and each sorted by item, as CSR entry numbers; 20 batches as the default --batch), at 1 and N threads on the
 * prepared training matrix, compared byte for byte.
 * With --gzip, two more: the text compressed once as gzip writes it (one member, libdeflate
 * level 6) and once as cufactor's .gz outputs and bgzip do (BGZF blocks, level 1), each
 * read at N threads in every round (one member: decompressed on one core, then the
 * parallel parse; BGZF: decompressed on N threads), reported in MB/s of the text and
 * against the plain N-thread read, their datasets checked against the plain one's counts.
 */
#include "cufactor.h"

#include "dataset.h"
#include "factors.h"
#include "gz.h"
#include "idmap.h"
#include "model.h"
#include "ratings.h"
#include "sgd_work.h"
#include "train.h"

#include <fcntl.h>
#include <libdeflate.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RUNS 3

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}
static double unif(void) { return (double)(rnd() >> 11) * 0x1.0p-53; }

static char *put_u64(char *o, uint64_t v) {
    char tmp[24];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10), v /= 10;
    while (v);
    while (n) *o++ = tmp[--n];
    return o;
}

/* Writes about `target` bytes; returns 0 or -1. */
static int generate(const char *path, double target) {
    const int64_t users = 480000, items = 17700;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    /* item popularity ~ rank^-0.8: sample by inverting the cumulative weights */
    double *cdf = malloc((size_t)items * sizeof *cdf);
    double s = 0;
    for (int64_t k = 0; k < items; k++) cdf[k] = (s += pow((double)(k + 1), -0.8));
    for (int64_t k = 0; k < items; k++) cdf[k] /= s;
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 256), *o = buf;
    double per_user = target / 24.5 / (double)users; /* ~24.5 bytes a line */
    double written = 0;
    for (int64_t u = 1; u <= users && written < target; u++) {
        int64_t n = (int64_t)(per_user * (0.2 + 1.6 * unif())) + 1;
        uint64_t t0 = 900000000 + rnd() % 400000000;
        for (int64_t k = 0; k < n; k++) {
            double x = unif();
            int64_t lo = 0, hi = items - 1;
            while (lo < hi) {
                int64_t mid = (lo + hi) / 2;
                if (cdf[mid] < x) lo = mid + 1;
                else hi = mid;
            }
            o = put_u64(o, (uint64_t)u);
            *o++ = '\t';
            o = put_u64(o, (uint64_t)lo + 1);
            *o++ = '\t';
            *o++ = (char)('1' + rnd() % 5);
            *o++ = '\t';
            o = put_u64(o, t0 + rnd() % 100000000);
            *o++ = '\n';
            if ((size_t)(o - buf) >= cap) {
                written += (double)(o - buf);
                if (fwrite(buf, 1, (size_t)(o - buf), f) != (size_t)(o - buf)) goto fail;
                o = buf;
            }
        }
    }
    if (fwrite(buf, 1, (size_t)(o - buf), f) != (size_t)(o - buf)) goto fail;
    free(buf);
    free(cdf);
    return fclose(f) == 0 ? 0 : -1;
fail:
    free(buf);
    free(cdf);
    fclose(f);
    return -1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char usage[] = "usage: bench_load [FILE | --mb MB] [--runs R] [--threads N] [--model-users U] [--minibatch] [--gzip] [--json]\n"
                            "  FILE         read this ratings file\n"
                            "  --mb MB      no file: generate a Netflix-like text file of about MB megabytes\n"
                            "               (default 300) in $TMPDIR and delete it at the end\n"
                            "  --runs R     rounds of (1 thread, N threads, convert, binary load), default 5\n"
                            "  --threads N  the parallel side's threads (default 0: all cores)\n"
                            "  --model-users U  users of the saved model (x 17770 items x K=128), default 120000\n"
                            "  --minibatch  also time an epoch's mini-batch lists (GPU mini-batch GD's host work)\n"
                            "               at 1 and N threads\n"
                            "  --gzip       also read a gzip -6 copy and a BGZF copy of the text (made once, untimed)\n"
                            "               at N threads\n"
                            "  --json       also print the medians as one JSON line\n";

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU seconds (user + system) of the process so far. */
static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static double last_cpu; /* CPU seconds of the latest timed_read */

static int timed_read(const char *path, int threads, double *secs, cf_read_report *rep, cf_dataset **keep) {
    cf_read_options o;
    cf_read_options_default(&o);
    o.threads = threads;
    cf_dataset *ds = NULL;
    cf_error err;
    double c = cpu_now(), t = now();
    cf_status st = cf_dataset_read(path, &o, &ds, rep, &err);
    *secs = now() - t;
    last_cpu = cpu_now() - c;
    if (st != CF_OK) {
        fprintf(stderr, "bench_load: %s\n", err.msg);
        return -1;
    }
    if (keep) *keep = ds;
    else cf_dataset_destroy(&ds);
    return 0;
}

/* Writes `from` gzip-compressed to `to`: bgzf 0, one member at level 6 (as gzip); 1, BGZF
 * blocks at level 1 and the end marker (as the .gz outputs). 0 ok, -1 failed. */
static int gzip_copy(const char *from, const char *to, int bgzf) {
    FILE *f = fopen(from, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n > 0 ? malloc((size_t)n) : NULL;
    const int read_ok = text && fread(text, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    unsigned char *z = NULL;
    size_t zn = 0, cap = 0;
    if (read_ok && bgzf) {
        zn = cf_gz_blocks(text, (size_t)n, &z, &cap);
    } else if (read_ok) {
        struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
        cap = c ? libdeflate_gzip_compress_bound(c, (size_t)n) : 0;
        z = c ? malloc(cap) : NULL;
        zn = z ? libdeflate_gzip_compress(c, text, (size_t)n, z, cap) : 0;
        libdeflate_free_compressor(c);
    }
    FILE *o = zn ? fopen(to, "wb") : NULL;
    int ok = o && fwrite(z, 1, zn, o) == zn && (!bgzf || fwrite(cf_gz_eof, 1, CF_GZ_EOF_SIZE, o) == CF_GZ_EOF_SIZE);
    if (o && fclose(o) != 0) ok = 0;
    free(text), free(z);
    return ok ? 0 : -1;
}

/* The preparation of training on `threads` threads, as cf_train does it: split, then
 * cf_train_data (the test part, CSR + CSC from the training part; the dataset's test
 * flags reset first, untimed). Returns the seconds; *R is the result. */
static double timed_prepare(cf_dataset *ds, int threads, cf_ratings *R) {
    memset(ds->is_test, 0, (size_t)ds->all.n);
    cf_error err;
    cf_triplets test;
    double t = now();
    if (cf_dataset_split_threads(ds, 0.1, 42, threads, &err) || cf_train_data(ds, threads, "", R, &test, &err)) {
        fprintf(stderr, "bench_load: preparing: %s\n", err.msg);
        exit(1);
    }
    double secs = now() - t;
    cf_triplets_free(&test);
    return secs;
}

/* The seeded initialization of training (cf_factors_init_random_threads, as cf_train's
 * first run) of nu × ni × K factors in fresh memory on `threads` threads: allocated,
 * initialized (timed: the first touch of the pages included, as in cf_train), kept in
 * *f for the comparison. Returns the seconds. */
static double timed_init(int64_t nu, int64_t ni, int32_t k, int threads, cf_factors *f) {
    cf_error err;
    if (cf_factors_alloc(f, nu, ni, k, 1, &err)) {
        fprintf(stderr, "bench_load: %s\n", err.msg);
        exit(1);
    }
    double t = now();
    cf_factors_init_random_threads(f, 0.1, 42, threads);
    return now() - t;
}

/* Epoch `epoch`'s mini-batch lists of R (as the GPU uploads them: CSR entry numbers, by
 * user and by item, into e[0..nnz) and e[nnz..2·nnz)) on `threads` threads. Returns the
 * seconds. */
static double timed_minibatch(const cf_ratings *R, const int64_t *by_item, int64_t *scratch, int threads,
                              int32_t epoch, uint32_t *e) {
    cf_error err;
    double t = now();
    if (cf_minibatch_entries(R, 42, epoch, R->nnz > 20 ? (R->nnz + 19) / 20 : 1, threads, scratch, e, by_item,
                             e + R->nnz, &err)) {
        fprintf(stderr, "bench_load: mini-batch lists: %s\n", err.msg);
        exit(1);
    }
    return now() - t;
}

static int same_ratings(const cf_ratings *a, const cf_ratings *b) {
    size_t z = (size_t)a->nnz;
    return a->nnz == b->nnz && !memcmp(a->row_ptr, b->row_ptr, ((size_t)a->n_users + 1) * 8) &&
           !memcmp(a->col_ptr, b->col_ptr, ((size_t)a->n_items + 1) * 8) && !memcmp(a->row_col, b->row_col, z * 4) &&
           !memcmp(a->row_val, b->row_val, z * 4) && !memcmp(a->col_row, b->col_row, z * 4) &&
           !memcmp(a->col_val, b->col_val, z * 4) && a->mean == b->mean;
}

/* A model of nu × ni × K (seeded values, IDs "u%d" / "i%d"). */
static cf_model *make_model(int64_t nu, int64_t ni, int32_t k) {
    cf_factors f;
    cf_error err;
    if (cf_factors_alloc(&f, nu, ni, k, 1, &err)) return NULL;
    double *arrs[4] = {f.P, f.Q, f.bu, f.bi};
    int64_t lens[4] = {nu * k, ni * k, nu, ni};
    for (int a = 0; a < 4; a++)
        for (int64_t j = 0; j < lens[a]; j++) arrs[a][j] = (unif() - 0.5) * 0.2;
    f.mu = 3.6;
    cf_idmap *users = cf_idmap_create(), *items = cf_idmap_create();
    char tok[32];
    uint32_t idx;
    for (int64_t u = 0; u < nu; u++) cf_idmap_intern(users, tok, (size_t)snprintf(tok, sizeof tok, "u%lld", (long long)u), &idx, NULL);
    for (int64_t i = 0; i < ni; i++) cf_idmap_intern(items, tok, (size_t)snprintf(tok, sizeof tok, "i%lld", (long long)i), &idx, NULL);
    cf_config cfg;
    cf_config_default(&cfg);
    cfg.factors = k;
    return cf_model_wrap(&f, users, items, &cfg);
}

/* write(2) of n bytes into a fresh file, fsync, close: the floor a save is held to. */
static double timed_raw_write(const char *path, const unsigned char *p, size_t n) {
    double t = now();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    for (size_t off = 0; off < n;) {
        size_t c = n - off < ((size_t)4 << 20) ? n - off : ((size_t)4 << 20);
        ssize_t w = write(fd, p + off, c);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) || close(fd)) return -1;
    return now() - t;
}

/* The same bytes written as an atomic replacement of path: into path.tmp, fsync, rename
 * over path, fsync of the directory. */
static double timed_raw_replace(const char *path, const char *dir, const unsigned char *p, size_t n) {
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    double t = now();
    if (timed_raw_write(tmp, p, n) < 0 || rename(tmp, path)) {
        remove(tmp);
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    const int bad = fsync(fd) != 0;
    if (close(fd) != 0 || bad) return -1;
    return now() - t;
}

int main(int argc, char **argv) {
    char path[4096], bin[4200];
    const char *file = NULL;
    double mb = 300.0;
    int runs = 5, threads = 0, json = 0, minibatch = 0, gz = 0;
    long model_users = 120000;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[a], "--mb")) {
            char *end = NULL;
            mb = a + 1 < argc ? strtod(argv[++a], &end) : 0;
            if (!end || *end || !(mb > 0 && mb < 1e7)) {
                fprintf(stderr, "bench_load: --mb needs a size in megabytes in (0, 1e7)\n%s", usage);
                return 2;
            }
        } else if (!strcmp(argv[a], "--runs") || !strcmp(argv[a], "--threads")) {
            int v = a + 1 < argc ? atoi(argv[a + 1]) : -1;
            if (v < (argv[a][2] == 'r' ? 1 : 0) || v > 1000) {
                fprintf(stderr, "bench_load: %s needs a number\n%s", argv[a], usage);
                return 2;
            }
            if (argv[a][2] == 'r') runs = v;
            else threads = v;
            a++;
        } else if (!strcmp(argv[a], "--model-users")) {
            model_users = a + 1 < argc ? atol(argv[++a]) : 0;
            if (model_users < 1 || model_users > 100000000) {
                fprintf(stderr, "bench_load: --model-users needs a number\n%s", usage);
                return 2;
            }
        } else if (!strcmp(argv[a], "--minibatch")) {
            minibatch = 1;
        } else if (!strcmp(argv[a], "--gzip")) {
            gz = 1;
        } else if (!strcmp(argv[a], "--json")) {
            json = 1;
        } else if (argv[a][0] == '-' || file) {
            fprintf(stderr, "bench_load: unexpected argument '%s'\n%s", argv[a], usage);
            return 2;
        } else {
            file = argv[a];
        }
    }
    const char *dir = getenv("TMPDIR");
    dir = dir && *dir ? dir : "/tmp";
    int generated = 0;
    if (file) {
        snprintf(path, sizeof path, "%s", file);
    } else {
        snprintf(path, sizeof path, "%s/cufactor-bench-load-%d.tsv", dir, (int)getpid());
        double t = now();
        if (generate(path, mb * 1e6)) {
            fprintf(stderr, "bench_load: cannot write %s\n", path);
            remove(path);
            return 1;
        }
        generated = 1;
        printf("generated %s in %.2f s\n", path, now() - t);
    }
    snprintf(bin, sizeof bin, "%s/cufactor-bench-load-%d.cfd", dir, (int)getpid());
    char gzpath[2][4300];
    for (int b = 0; b < 2; b++)
        snprintf(gzpath[b], sizeof gzpath[b], "%s/cufactor-bench-load-%d.%s", dir, (int)getpid(), b ? "bgz" : "tsv.gz");
    for (int b = 0; gz && b < 2; b++) {
        double t = now();
        struct stat zs;
        if (gzip_copy(path, gzpath[b], b) || stat(gzpath[b], &zs)) {
            fprintf(stderr, "bench_load: cannot write %s\n", gzpath[b]);
            remove(gzpath[0]), remove(gzpath[1]);
            if (generated) remove(path);
            return 1;
        }
        printf("%s copy %s: %lld bytes, made in %.2f s\n", b ? "BGZF level 1" : "gzip -6", gzpath[b],
               (long long)zs.st_size, now() - t);
    }
    int nt = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    double *t1 = calloc((size_t)runs, sizeof *t1), *tn = calloc((size_t)runs, sizeof *tn);
    double *tc = calloc((size_t)runs, sizeof *tc), *tb = calloc((size_t)runs, sizeof *tb);
    double *c1 = calloc((size_t)runs, sizeof *c1), *cn = calloc((size_t)runs, sizeof *cn);
    double *p1 = calloc((size_t)runs, sizeof *p1), *pn = calloc((size_t)runs, sizeof *pn);
    /* model save and raw write: to a new path (n), replacing the last round's file (r) */
    double *tsn = calloc((size_t)runs, sizeof *tsn), *twn = calloc((size_t)runs, sizeof *twn);
    double *tsr = calloc((size_t)runs, sizeof *tsr), *twr = calloc((size_t)runs, sizeof *twr);
    double *b1 = calloc((size_t)runs, sizeof *b1), *bn = calloc((size_t)runs, sizeof *bn);
    double *i1 = calloc((size_t)runs, sizeof *i1), *in = calloc((size_t)runs, sizeof *in);
    double *tg = calloc((size_t)runs, sizeof *tg), *tz = calloc((size_t)runs, sizeof *tz);
    char mpath[4300], rpath[4300];
    snprintf(mpath, sizeof mpath, "%s/cufactor-bench-load-%d.cfm", dir, (int)getpid());
    snprintf(rpath, sizeof rpath, "%s/cufactor-bench-load-%d.raw", dir, (int)getpid());
    double tm = now();
    cf_model *model = make_model(model_users, 17770, 128);
    unsigned char *raw = NULL;
    size_t model_bytes = 0;
    {
        cf_error err;
        struct stat sb;
        if (!model || cf_model_save(model, mpath, &err) || stat(mpath, &sb)) {
            fprintf(stderr, "bench_load: cannot make or save the model\n");
            return 1;
        }
        model_bytes = (size_t)sb.st_size;
        raw = malloc(model_bytes);
        if (!raw) return 1;
        for (size_t j = 0; j < model_bytes; j++) raw[j] = (unsigned char)(j * 131u >> 3);
        if (timed_raw_write(rpath, raw, model_bytes) < 0) { /* so that round 1 replaces a file on both sides */
            fprintf(stderr, "bench_load: cannot write %s\n", rpath);
            return 1;
        }
    }
    printf("model %ld x 17770 x K=128: %zu bytes, made in %.2f s\n", model_users, model_bytes, now() - tm);
    int64_t prep_n = 0, init_shape[2] = {0, 0};
    cf_read_report rep, brep, zrep[2] = {{0}, {0}};
    cf_dataset_info info = {0};
    int rc = 1;
    struct stat_size { long long b; } bsize = {0};
    for (int k = 0; k < runs; k++) {
        cf_dataset *ds = NULL, *db = NULL;
        cf_error err;
        if (timed_read(path, 1, &t1[k], &rep, NULL)) goto out;
        c1[k] = last_cpu;
        if (timed_read(path, nt, &tn[k], &rep, &ds)) goto out;
        cn[k] = last_cpu;
        for (int b = 0; gz && b < 2; b++) { /* alternating which goes first */
            const int w = (b + k) % 2;
            if (timed_read(gzpath[w], nt, w ? &tz[k] : &tg[k], &zrep[w], NULL)) {
                cf_dataset_destroy(&ds);
                goto out;
            }
            if (zrep[w].ratings != rep.ratings || zrep[w].bytes != rep.bytes || zrep[w].compressed == 0) {
                fprintf(stderr, "bench_load: the %s copy read differs from the text read\n", w ? "BGZF" : "gzip");
                cf_dataset_destroy(&ds);
                goto out;
            }
        }
        double t = now();
        cf_status st = cf_dataset_write_binary(ds, bin, nt, &err);
        tc[k] = now() - t;
        if (st != CF_OK) {
            fprintf(stderr, "bench_load: %s\n", err.msg);
            cf_dataset_destroy(&ds);
            goto out;
        }
        if (timed_read(bin, nt, &tb[k], &brep, &db)) {
            cf_dataset_destroy(&ds);
            goto out;
        }
        cf_dataset_info bi;
        cf_dataset_info_get(db, &bi);
        cf_dataset_info_get(ds, &info);
        if (bi.n_train != info.n_train || bi.n_users != info.n_users || bi.n_items != info.n_items) {
            fprintf(stderr, "bench_load: the binary load differs from the text read\n");
            cf_dataset_destroy(&ds);
            cf_dataset_destroy(&db);
            goto out;
        }
        bsize.b = brep.bytes;
        /* preparation: 1 and N threads, alternating which goes first */
        cf_ratings ra, rb;
        if (k % 2 == 0) p1[k] = timed_prepare(db, 1, &ra), pn[k] = timed_prepare(db, nt, &rb);
        else pn[k] = timed_prepare(db, nt, &rb), p1[k] = timed_prepare(db, 1, &ra);
        if (!same_ratings(&ra, &rb)) {
            fprintf(stderr, "bench_load: the %d-thread preparation differs from the 1-thread one\n", nt);
            goto out;
        }
        prep_n = db->all.n;
        /* the initialization of the data's users × items × K = 100: 1 and N threads, alternating */
        {
            cf_factors f1, fn;
            const int64_t nu = cf_idmap_size(db->users), ni = cf_idmap_size(db->items);
            if (k % 2 == 0) i1[k] = timed_init(nu, ni, 100, 1, &f1), in[k] = timed_init(nu, ni, 100, nt, &fn);
            else in[k] = timed_init(nu, ni, 100, nt, &fn), i1[k] = timed_init(nu, ni, 100, 1, &f1);
            const int same = !memcmp(f1.P, fn.P, (size_t)(nu * 100) * sizeof(double)) &&
                             !memcmp(f1.Q, fn.Q, (size_t)(ni * 100) * sizeof(double));
            cf_factors_free(&f1), cf_factors_free(&fn);
            if (!same) {
                fprintf(stderr, "bench_load: the %d-thread initialization differs from the 1-thread one\n", nt);
                goto out;
            }
            init_shape[0] = nu, init_shape[1] = ni;
        }
        /* an epoch's mini-batch lists: 1 and N threads, alternating */
        if (minibatch) {
            const int64_t n = ra.nnz ? ra.nnz : 1;
            uint32_t *e1 = malloc((size_t)n * 2 * sizeof *e1), *en = malloc((size_t)n * 2 * sizeof *en);
            int64_t *by_item = malloc((size_t)n * sizeof *by_item), *scratch = malloc((size_t)n * 2 * sizeof *scratch);
            if (!e1 || !en || !by_item || !scratch || cf_entries_by_item_threads(&ra, nt, by_item, &err)) {
                fprintf(stderr, "bench_load: mini-batch lists: out of memory\n");
                goto out;
            }
            if (k % 2 == 0)
                b1[k] = timed_minibatch(&ra, by_item, scratch, 1, k, e1),
                bn[k] = timed_minibatch(&ra, by_item, scratch, nt, k, en);
            else
                bn[k] = timed_minibatch(&ra, by_item, scratch, nt, k, en),
                b1[k] = timed_minibatch(&ra, by_item, scratch, 1, k, e1);
            const int same = !memcmp(e1, en, (size_t)ra.nnz * 2 * sizeof *e1);
            free(e1), free(en), free(by_item), free(scratch);
            if (!same) {
                fprintf(stderr, "bench_load: the %d-thread mini-batch lists differ from the 1-thread ones\n", nt);
                goto out;
            }
        }
        cf_ratings_free(&ra), cf_ratings_free(&rb);
        /* model save vs raw write + fsync of as many bytes, alternating: first both
         * replacing the last round's file (the raw side as an atomic replacement, so both
         * release the old file's blocks in their rename), then both to a path that does
         * not exist (removed untimed) */
        for (int fresh = 0; fresh < 2; fresh++) {
            if (fresh) remove(mpath), remove(rpath);
            double *tsv = fresh ? tsn : tsr, *twv = fresh ? twn : twr;
            for (int j = 0; j < 2; j++) {
                if ((j == 0) == (k % 2 == 0)) {
                    double t0 = now();
                    if (cf_model_save(model, mpath, &err)) {
                        fprintf(stderr, "bench_load: %s\n", err.msg);
                        goto out;
                    }
                    tsv[k] = now() - t0;
                } else if ((twv[k] = fresh ? timed_raw_write(rpath, raw, model_bytes)
                                           : timed_raw_replace(rpath, dir, raw, model_bytes)) < 0) {
                    fprintf(stderr, "bench_load: cannot write %s\n", rpath);
                    goto out;
                }
            }
        }
        cf_dataset_destroy(&ds);
        cf_dataset_destroy(&db);
        printf("round %d: text 1 thread %.3f s (cpu %.3f), %d threads %.3f s (cpu %.3f), convert %.3f s, binary load %.3f s, "
               "prepare 1 thread %.3f s, %d threads %.3f s, init 1 thread %.3f s, %d threads %.3f s, model save %.3f s, "
               "raw write+fsync %.3f s (replacing: %.3f s, %.3f s)",
               k + 1, t1[k], c1[k], nt, tn[k], cn[k], tc[k], tb[k], p1[k], nt, pn[k], i1[k], nt, in[k], tsn[k], twn[k],
               tsr[k], twr[k]);
        if (minibatch) printf(", mini-batch lists 1 thread %.3f s, %d threads %.3f s", b1[k], nt, bn[k]);
        if (gz) printf(", gzip text %d threads %.3f s, BGZF %.3f s", nt, tg[k], tz[k]);
        printf("\n");
        fflush(stdout);
    }
    double m1 = median(t1, runs), mn = median(tn, runs), mc = median(tc, runs), mbin = median(tb, runs);
    double mbs = (double)rep.bytes / 1e6, mc1 = median(c1, runs), mcn = median(cn, runs);
    printf("text %lld bytes  lines %lld  ratings %lld  duplicates %lld  users %lld  items %lld; binary %lld bytes\n",
           (long long)rep.bytes, (long long)rep.lines, (long long)rep.ratings, (long long)rep.duplicates,
           (long long)info.n_users, (long long)info.n_items, bsize.b);
    printf("medians of %d alternating rounds:\n", runs);
    printf("  text, 1 thread     %.3f s  %7.1f MB/s\n", m1, mbs / m1);
    printf("  text, %d threads    %.3f s  %7.1f MB/s   %.2fx the 1-thread read\n", nt, mn, mbs / mn, m1 / mn);
    printf("  CPU seconds (user+sys) of the text read: 1 thread %.3f, %d threads %.3f (%.2fx: the work added by\n"
           "  splitting; with %d free cores the wall-time speedup would be at most %.2fx)\n",
           mc1, nt, mcn, mcn / mc1, nt, nt * mc1 / mcn);
    const double mg = gz ? median(tg, runs) : NAN, mz = gz ? median(tz, runs) : NAN;
    if (gz) {
        printf("  gzip -6 text, %d threads %.3f s  %7.1f MB/s of text (%lld bytes compressed)  %.2fx the plain %d-thread read\n",
               nt, mg, mbs / mg, (long long)zrep[0].compressed, mg / mn, nt);
        printf("  BGZF text, %d threads    %.3f s  %7.1f MB/s of text (%lld bytes compressed)  %.2fx the plain %d-thread read\n",
               nt, mz, mbs / mz, (long long)zrep[1].compressed, mz / mn, nt);
    }
    printf("  convert (write)    %.3f s  %7.1f MB/s of binary\n", mc, (double)bsize.b / 1e6 / mc);
    printf("  binary load        %.3f s  %7.1f MB/s of binary (%.1f MB/s text-equivalent)  %.2fx the %d-thread text read\n",
           mbin, (double)bsize.b / 1e6 / mbin, mbs / mbin, mn / mbin, nt);
    double mp1 = median(p1, runs), mpn = median(pn, runs), mts = median(tsn, runs), mtw = median(twn, runs);
    const double mtsr = median(tsr, runs), mtwr = median(twr, runs);
    double per = 1e6 / (double)prep_n;
    printf("  prepare, 1 thread  %.3f s  %.4f s per million ratings (split, parts, CSR + CSC of %lld)\n", mp1,
           mp1 * per, (long long)prep_n);
    printf("  prepare, %d threads %.3f s  %.4f s per million ratings  %.2fx the 1-thread one (same bytes)\n", nt, mpn,
           mpn * per, mp1 / mpn);
    const double mi1 = median(i1, runs), min_ = median(in, runs);
    printf("  init, 1 thread     %.3f s  (P, Q of %lld x %lld x K=100, fresh memory)\n", mi1, (long long)init_shape[0],
           (long long)init_shape[1]);
    printf("  init, %d threads    %.3f s  %.2fx the 1-thread one (same values)\n", nt, min_, mi1 / min_);
    const double mb1 = median(b1, runs), mbn = median(bn, runs);
    if (minibatch) {
        printf("  mini-batch lists, 1 thread  %.3f s  %.4f s per million ratings (an epoch's, 20 batches)\n", mb1,
               mb1 * per);
        printf("  mini-batch lists, %d threads %.3f s  %.4f s per million ratings  %.2fx the 1-thread ones (same bytes)\n",
               nt, mbn, mbn * per, mb1 / mbn);
    }
    printf("  model save         %.3f s  %7.1f MB/s   %.2fx a raw write+fsync of the same %zu bytes (%.3f s, %.1f MB/s)\n",
           mts, (double)model_bytes / 1e6 / mts, mts / mtw, model_bytes, mtw, (double)model_bytes / 1e6 / mtw);
    printf("  save, replacing    %.3f s  %7.1f MB/s   %.2fx a raw atomic replacement (%.3f s: write, fsync, rename,\n"
           "                     fsync of the directory); releasing the old file cost them %+.3f s and %+.3f s\n",
           mtsr, (double)model_bytes / 1e6 / mtsr, mtsr / mtwr, mtwr, mtsr - mts, mtwr - mtw);
    if (json)
        printf("{\"prepare_1t_s\":%.4f,\"prepare_nt_s\":%.4f,\"prepare_ratings\":%lld,\"model_bytes\":%zu,"
               "\"model_save_s\":%.4f,\"raw_write_fsync_s\":%.4f,\"save_vs_raw\":%.3f,\"model_save_replace_s\":%.4f,"
               "\"raw_replace_s\":%.4f,\"save_vs_raw_replace\":%.3f,\"init_k100_1t_s\":%.4f,\"init_k100_nt_s\":%.4f",
               mp1, mpn, (long long)prep_n, model_bytes, mts, mtw, mts / mtw, mtsr, mtwr, mtsr / mtwr, mi1, min_);
    if (json && minibatch) printf(",\"minibatch_lists_1t_s\":%.4f,\"minibatch_lists_nt_s\":%.4f", mb1, mbn);
    if (json) printf("}\n");
    if (json)
        printf("{\"text_bytes\":%lld,\"binary_bytes\":%lld,\"ratings\":%lld,\"runs\":%d,\"threads\":%d,"
               "\"read_1t_s\":%.4f,\"read_nt_s\":%.4f,\"convert_s\":%.4f,\"binary_load_s\":%.4f,"
               "\"read_1t_mbs\":%.1f,\"read_nt_mbs\":%.1f,\"binary_load_mbs\":%.1f,"
               "\"speedup_nt\":%.3f,\"binary_vs_nt\":%.3f,\"cpu_1t_s\":%.4f,\"cpu_nt_s\":%.4f}\n",
               (long long)rep.bytes, bsize.b, (long long)rep.ratings, runs, nt, m1, mn, mc, mbin, mbs / m1, mbs / mn,
               (double)bsize.b / 1e6 / mbin, m1 / mn, mn / mbin, mc1, mcn);
    if (json && gz)
        printf("{\"gzip_bytes\":%lld,\"gzip_read_nt_s\":%.4f,\"gzip_read_nt_mbs\":%.1f,\"gzip_vs_plain_nt\":%.3f,"
               "\"bgzf_bytes\":%lld,\"bgzf_read_nt_s\":%.4f,\"bgzf_read_nt_mbs\":%.1f,\"bgzf_vs_plain_nt\":%.3f}\n",
               (long long)zrep[0].compressed, mg, mbs / mg, mg / mn, (long long)zrep[1].compressed, mz, mbs / mz,
               mz / mn);
    rc = 0;
out:
    if (generated) remove(path);
    if (gz) remove(gzpath[0]), remove(gzpath[1]);
    remove(bin);
    remove(mpath), remove(rpath);
    cf_model_destroy(&model);
    free(raw);
    free(p1), free(pn), free(tsn), free(twn), free(tsr), free(twr), free(b1), free(bn), free(i1), free(in);
    free(t1), free(tn), free(tc), free(tb), free(c1), free(cn), free(tg), free(tz);
    return rc;
}
