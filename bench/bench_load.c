/*
 * bench_load.c — throughput of the ratings reader (cf_dataset_read).
 *
 * Usage: bench_load [FILE | --mb MB]
 *   FILE given: reads that file.
 *   No FILE: generates a MovieLens/Netflix-like tab-separated file
 *   "user<TAB>item<TAB>rating<TAB>timestamp" of about MB megabytes (default 300) in
 *   $TMPDIR (or /tmp): 480k users, 17.7k items with power-law popularity, grouped by
 *   user, integer ratings 1..5, 9-10 digit timestamps. The file is deleted at the end.
 * Reads it 3 times and prints bytes, ratings, the median seconds, MB/s (10^6 bytes)
 * and million ratings per second. The first read is not a warm-up on purpose: the file
 * was just written, so it is in the page cache for every run alike.
 */
#include "cufactor.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const char usage[] = "usage: bench_load [FILE | --mb MB]\n"
                            "  FILE     read this ratings file 3 times\n"
                            "  --mb MB  no file: generate a Netflix-like text file of about MB megabytes\n"
                            "           (default 300) in $TMPDIR, read it 3 times, delete it\n";

int main(int argc, char **argv) {
    char path[4096];
    const char *file = NULL;
    double mb = 300.0;
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
        } else if (argv[a][0] == '-' || file) {
            fprintf(stderr, "bench_load: unexpected argument '%s'\n%s", argv[a], usage);
            return 2;
        } else {
            file = argv[a];
        }
    }
    int generated = 0;
    if (file) {
        snprintf(path, sizeof path, "%s", file);
    } else {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/cufactor-bench-load-%d.tsv", dir && *dir ? dir : "/tmp", (int)getpid());
        double t = now();
        if (generate(path, mb * 1e6)) {
            fprintf(stderr, "bench_load: cannot write %s\n", path);
            remove(path);
            return 1;
        }
        generated = 1;
        printf("generated %s in %.2f s\n", path, now() - t);
    }
    double secs[RUNS];
    cf_read_report rep;
    cf_dataset_info info = {0};
    for (int k = 0; k < RUNS; k++) {
        cf_dataset *ds = NULL;
        cf_error err;
        double t = now();
        cf_status st = cf_dataset_read(path, NULL, &ds, &rep, &err);
        secs[k] = now() - t;
        if (st != CF_OK) {
            fprintf(stderr, "bench_load: %s\n", err.msg);
            if (generated) remove(path);
            return 1;
        }
        cf_dataset_info_get(ds, &info);
        cf_dataset_destroy(&ds);
        printf("run %d: %.3f s\n", k + 1, secs[k]);
    }
    if (generated) remove(path);
    qsort(secs, RUNS, sizeof *secs, cmp_double);
    double med = secs[RUNS / 2];
    printf("bytes %lld  lines %lld  ratings %lld  duplicates %lld  users %lld  items %lld\n",
           (long long)rep.bytes, (long long)rep.lines, (long long)rep.ratings, (long long)rep.duplicates,
           (long long)info.n_users, (long long)info.n_items);
    printf("median %.3f s  %.1f MB/s  %.2f M ratings/s\n", med, (double)rep.bytes / med / 1e6,
           (double)(rep.ratings + rep.duplicates) / med / 1e6);
    return 0;
}
