/*
 * data.c — the data sets of `cufactor bench`: synthetic sets generated once and cached
 * in a binary file, user files read as text, a seeded train/test split, CSR + CSC.
 *
 * Cache file: the binary dataset format of `cufactor convert` (CFDATA, binfmt.h), named
 * NAME-SPECHASH.cfd, where SPECHASH hashes the generator options (a changed spec is
 * another file). The generator's rating order is kept (the seeded split below depends on
 * it): a version-2 file flagged CF_BIN_UNSORTED where that order is not (user, item)
 * order. Written atomically; read by cf_bin_load, which checks the header, the size,
 * the parallel block checksum and every index. A file that fails any check is
 * regenerated, with a notice naming the file and the reason.
 *
 * The cache of earlier versions ("CFBENCH", NAME-SPECHASH.cfbd) is no longer read: when
 * one is found, the set is regenerated into the .cfd file and the notice says the old
 * file can be deleted (regenerating a cached set takes seconds; a reader kept for a
 * superseded private format would not be worth its tests).
 */
#include "bench_impl.h"

#include "binfmt.h"
#include "common.h"
#include "dataset.h"
#include "idmap.h"
#include "ratings.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct cf_bench_data {
    cf_bench_data_info info;
    cf_ratings train;
    cf_triplets test;
};

/* One word into the running hash (64-bit FNV-1a over 32-bit words). */
static inline uint64_t mix(uint64_t h, uint64_t w) {
    return (h ^ w) * 0x100000001b3ULL;
}

uint64_t cf_bench_hash(int64_t users, int64_t items, int64_t n, const uint32_t *u, const uint32_t *i,
                       const float *r) {
    uint64_t h = 0xcbf29ce484222325ULL;
    h = mix(h, (uint64_t)users), h = mix(h, (uint64_t)items), h = mix(h, (uint64_t)n);
    for (int64_t j = 0; j < n; j++) {
        uint32_t rb;
        memcpy(&rb, &r[j], sizeof rb);
        h = mix(h, u[j]), h = mix(h, i[j]), h = mix(h, rb);
    }
    uint64_t s = h;
    return cf_splitmix64(&s);
}

cf_status cf_bench_cache_write(const char *path, const cf_dataset *ds, cf_error *err) {
    return cf_bin_write_ordered(ds, path, 0, 1, err);
}

cf_status cf_bench_cache_read(const char *path, int64_t *users, int64_t *items, cf_triplets *t, uint64_t *hash,
                              cf_error *err) {
    memset(t, 0, sizeof *t);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cf_fail(err, CF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb)) {
        int e = errno;
        close(fd);
        return cf_fail(err, CF_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    size_t size = (size_t)sb.st_size;
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : NULL;
    close(fd);
    if (size && map == MAP_FAILED) return cf_fail(err, CF_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    cf_dataset *ds = cf_dataset_create();
    cf_status st = CF_OK;
    if (!ds) {
        st = cf_fail(err, CF_ERR_NOMEM, "%s: out of memory", path);
    } else if (!cf_bin_is(map, size)) {
        st = cf_fail(err, CF_ERR_PARSE, "%s: not a binary dataset (no CFDATA magic)", path);
    } else {
        cf_read_report rep;
        memset(&rep, 0, sizeof rep);
        st = cf_bin_load(ds, 0, path, map, size, 0, &rep, NULL, err);
    }
    if (size) munmap(map, size);
    if (!st) {
        /* the arrays become the caller's: no copy */
        *t = ds->all;
        memset(&ds->all, 0, sizeof ds->all);
        *users = cf_idmap_size(ds->users), *items = cf_idmap_size(ds->items);
        *hash = cf_bench_hash(*users, *items, t->n, t->u, t->i, t->r);
    }
    cf_dataset_destroy(&ds);
    return st;
}

/* The generator options in a canonical text (the spec hash and the "source" field). */
static void synth_source(const cf_bench_dataset_spec *s, char *buf, size_t len) {
    const cf_gen_options *g = &s->gen;
    snprintf(buf, len, "synth users=%lld items=%lld ratings=%lld rank=%d noise=%.10g zipf=%.10g seed=%llu "
             "round=%d clip=%d mu=%.10g",
             (long long)g->users, (long long)g->items, (long long)g->ratings, (int)g->rank, g->noise, g->zipf,
             (unsigned long long)g->seed, g->round, g->clip, g->mu);
    if (g->mnar > 0) { /* only when set: the text (and the cache's key) of every earlier data set stays */
        const size_t at = strlen(buf);
        if (at < len) snprintf(buf + at, len - at, " mnar=%.10g", g->mnar);
    }
}

static uint64_t text_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* Generates (or reads from the cache) the triplets of a synthetic spec. */
static cf_status load_synth(const cf_bench_dataset_spec *s, const char *cache_dir, cf_triplets *t,
                            int64_t *users, int64_t *items, cf_bench_data_info *info, cf_error *err) {
    synth_source(s, info->source, sizeof info->source);
    uint64_t spec_hash = text_hash(info->source);
    char path[1400] = "";
    if (cache_dir) {
        snprintf(path, sizeof path, "%s/%s-%016llx.cfd", cache_dir, s->name, (unsigned long long)spec_hash);
        struct stat sb;
        if (stat(path, &sb) == 0) {
            cf_error e = {0};
            uint64_t h;
            if (cf_bench_cache_read(path, users, items, t, &h, &e) == CF_OK) {
                info->from_cache = 1;
                return CF_OK;
            }
            if (e.status == CF_ERR_NOMEM) return cf_fail(err, CF_ERR_NOMEM, "%s", e.msg);
            snprintf(info->notice, sizeof info->notice, "cache unusable (%.200s): regenerated", e.msg);
        } else {
            char old[1400];
            snprintf(old, sizeof old, "%s/%s-%016llx.cfbd", cache_dir, s->name, (unsigned long long)spec_hash);
            if (stat(old, &sb) == 0)
                snprintf(info->notice, sizeof info->notice,
                         "%.100s: a cache of the old CFBENCH format, no longer read: regenerated into the CFDATA "
                         "format (.cfd); the old file can be deleted", old);
        }
    }
    cf_dataset *ds = NULL;
    cf_status st = cf_generate(&s->gen, &ds, err);
    if (st) return st;
    if (cache_dir) {
        mkdir(cache_dir, 0777); /* an existing directory is fine; a failure shows at the write */
        cf_error e = {0};
        if (cf_bench_cache_write(path, ds, &e))
            snprintf(info->notice, sizeof info->notice, "could not write the cache (%.200s)", e.msg);
    }
    st = cf_dataset_part(ds, 0, t, err);
    *users = cf_idmap_size(ds->users), *items = cf_idmap_size(ds->items);
    cf_dataset_destroy(&ds);
    return st;
}

cf_status cf_bench_data_load(const cf_bench_dataset_spec *spec, const char *cache_dir, cf_bench_data **out,
                             cf_error *err) {
    *out = NULL;
    double t0 = cf_now();
    cf_bench_data *d = cf_calloc(1, sizeof *d, err, "bench data");
    if (!d) return CF_ERR_NOMEM;
    cf_bench_data_info *info = &d->info;
    snprintf(info->name, sizeof info->name, "%s", spec->name);
    cf_triplets all = {0};
    int64_t users = 0, items = 0;
    cf_status st;
    if (spec->source == CF_BENCH_SYNTH) {
        st = load_synth(spec, cache_dir, &all, &users, &items, info, err);
    } else {
        snprintf(info->source, sizeof info->source, "file %s", spec->path);
        cf_dataset *ds = NULL;
        cf_read_options ro;
        cf_read_options_default(&ro);
        st = cf_dataset_read(spec->path, &ro, &ds, NULL, err);
        if (!st) {
            st = cf_dataset_part(ds, 0, &all, err);
            users = cf_idmap_size(ds->users), items = cf_idmap_size(ds->items);
        }
        cf_dataset_destroy(&ds);
    }
    if (st) goto fail;
    info->users = users, info->items = items, info->ratings = all.n;
    info->hash = cf_bench_hash(users, items, all.n, all.u, all.i, all.r);

    /* Seeded split in file order: rating j is a test rating when its draw < test_ratio. */
    cf_rng rng;
    cf_rng_seed(&rng, spec->split_seed);
    int64_t nt = 0;
    uint8_t *is_test = cf_malloc((size_t)(all.n ? all.n : 1), err, "split flags");
    if (!is_test) {
        st = CF_ERR_NOMEM;
        goto fail;
    }
    for (int64_t j = 0; j < all.n; j++) nt += is_test[j] = cf_rng_uniform(&rng) < spec->test_ratio;
    if (nt == all.n) {
        free(is_test);
        st = cf_fail(err, CF_ERR_INVALID, "data set '%s': no training ratings after the split", spec->name);
        goto fail;
    }
    /* the test part copied out; CSR/CSC straight from the training part */
    d->test.n = d->test.cap = nt;
    size_t b = (size_t)(nt ? nt : 1);
    d->test.u = malloc(b * 4), d->test.i = malloc(b * 4), d->test.r = malloc(b * 4);
    if (!d->test.u || !d->test.i || !d->test.r) {
        free(is_test);
        st = cf_fail(err, CF_ERR_NOMEM, "out of memory splitting %lld ratings", (long long)all.n);
        goto fail;
    }
    for (int64_t j = 0, k = 0; j < all.n; j++)
        if (is_test[j]) d->test.u[k] = all.u[j], d->test.i[k] = all.i[j], d->test.r[k++] = all.r[j];
    st = cf_ratings_build_part(&all, is_test, 0, users, items, 0, &d->train, err);
    free(is_test);
    cf_triplets_free(&all);
    if (st) goto fail;
    info->n_train = d->train.nnz, info->n_test = d->test.n;
    double sse = 0;
    for (int64_t j = 0; j < d->test.n; j++) sse += (d->test.r[j] - d->train.mean) * (d->test.r[j] - d->train.mean);
    info->test_sd = d->test.n ? sqrt(sse / (double)d->test.n) : NAN;
    info->load_seconds = cf_now() - t0;
    *out = d;
    return CF_OK;
fail:
    cf_triplets_free(&all);
    cf_bench_data_destroy(&d);
    return st;
}

void cf_bench_data_info_get(const cf_bench_data *d, cf_bench_data_info *info) { *info = d->info; }

void cf_bench_data_destroy(cf_bench_data **d) {
    if (!d || !*d) return;
    cf_ratings_free(&(*d)->train);
    cf_triplets_free(&(*d)->test);
    free(*d);
    *d = NULL;
}

const cf_ratings *cf_bench_data_train(const cf_bench_data *d) { return &d->train; }
const cf_triplets *cf_bench_data_test(const cf_bench_data *d) { return &d->test; }
