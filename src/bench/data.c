/*
 * data.c — the data sets of `cufactor bench`: synthetic sets generated once and cached
 * in a binary file, user files read as text, a seeded train/test split, CSR + CSC.
 *
 * Cache file (little-endian, as this host writes it):
 *     offset  0  char[8]  magic "CFBENCH\0"
 *             8  u32      version (1)
 *            12  u32      0
 *            16  i64      users
 *            24  i64      items
 *            32  i64      n (ratings)
 *            40  u64      spec hash (of the generator options: a changed spec misses)
 *            48  u64      content hash (cf_bench_hash of the arrays below)
 *            56  u32[n] users, u32[n] items, f32[n] ratings
 * Read back with fread into the arrays (no text parsing); the size, the magic, the
 * version, the spec hash, the index ranges and the content hash are all checked.
 */
#include "bench_impl.h"

#include "atomic_file.h"
#include "common.h"
#include "dataset.h"
#include "idmap.h"
#include "ratings.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CACHE_MAGIC "CFBENCH"
#define CACHE_VERSION 1u
#define CACHE_HEADER 56

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

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

cf_status cf_bench_cache_write(const char *path, uint64_t spec_hash, int64_t users, int64_t items, int64_t n,
                               const uint32_t *u, const uint32_t *i, const float *r, cf_error *err) {
    unsigned char h[CACHE_HEADER] = {0};
    memcpy(h, CACHE_MAGIC, 8);
    put_u32(h + 8, CACHE_VERSION);
    put_u64(h + 16, (uint64_t)users), put_u64(h + 24, (uint64_t)items), put_u64(h + 32, (uint64_t)n);
    put_u64(h + 40, spec_hash);
    put_u64(h + 48, cf_bench_hash(users, items, n, u, i, r));
    cf_afile f;
    cf_status st = cf_afile_open(&f, path, 0, err);
    if (st) return st;
    cf_afile_write(&f, h, sizeof h);
    cf_afile_write(&f, u, (size_t)n * 4);
    cf_afile_write(&f, i, (size_t)n * 4);
    cf_afile_write(&f, r, (size_t)n * 4);
    return cf_afile_commit(&f, err);
}

cf_status cf_bench_cache_read(const char *path, uint64_t spec_hash, int64_t *users, int64_t *items, int64_t *n,
                              uint32_t **u, uint32_t **i, float **r, uint64_t *hash, cf_error *err) {
    *u = NULL, *i = NULL, *r = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return cf_fail(err, CF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cf_status st = CF_OK;
    unsigned char h[CACHE_HEADER];
    struct stat sb;
    uint64_t nu, ni, nn, sh, ch;
    uint32_t ver;
    if (fstat(fileno(fp), &sb) || fread(h, 1, sizeof h, fp) != sizeof h) {
        st = cf_fail(err, CF_ERR_CORRUPT, "%s: shorter than the %d-byte header", path, CACHE_HEADER);
        goto done;
    }
    memcpy(&ver, h + 8, 4), memcpy(&nu, h + 16, 8), memcpy(&ni, h + 24, 8), memcpy(&nn, h + 32, 8);
    memcpy(&sh, h + 40, 8), memcpy(&ch, h + 48, 8);
    if (memcmp(h, CACHE_MAGIC, 8)) {
        st = cf_fail(err, CF_ERR_CORRUPT, "%s: not a cufactor bench cache (bad magic)", path);
        goto done;
    }
    if (ver != CACHE_VERSION) {
        st = cf_fail(err, CF_ERR_CORRUPT, "%s: version %u, this cufactor reads %u", path, ver, CACHE_VERSION);
        goto done;
    }
    if (sh != spec_hash) {
        st = cf_fail(err, CF_ERR_CORRUPT, "%s: made for another data set spec (spec hash %016llx, want %016llx)",
                     path, (unsigned long long)sh, (unsigned long long)spec_hash);
        goto done;
    }
    if (nu < 1 || nu > UINT32_MAX || ni < 1 || ni > UINT32_MAX || nn > (uint64_t)INT64_MAX / 12 ||
        (uint64_t)sb.st_size != CACHE_HEADER + 12 * nn) {
        st = cf_fail(err, CF_ERR_CORRUPT, "%s: header says %llu users × %llu items, %llu ratings (%llu bytes) "
                     "but the file has %lld bytes", path, (unsigned long long)nu, (unsigned long long)ni,
                     (unsigned long long)nn, (unsigned long long)(CACHE_HEADER + 12 * nn), (long long)sb.st_size);
        goto done;
    }
    size_t bytes = (size_t)nn * 4;
    *u = cf_malloc(bytes ? bytes : 1, err, "cache users"), *i = cf_malloc(bytes ? bytes : 1, err, "cache items");
    *r = cf_malloc(bytes ? bytes : 1, err, "cache ratings");
    if (!*u || !*i || !*r) {
        st = CF_ERR_NOMEM;
        goto done;
    }
    if (fread(*u, 1, bytes, fp) != bytes || fread(*i, 1, bytes, fp) != bytes || fread(*r, 1, bytes, fp) != bytes) {
        st = cf_fail(err, CF_ERR_IO, "%s: read error", path);
        goto done;
    }
    for (uint64_t j = 0; j < nn; j++)
        if ((*u)[j] >= nu || (*i)[j] >= ni || !isfinite((*r)[j])) {
            st = cf_fail(err, CF_ERR_CORRUPT, "%s: rating %llu: (%u, %u, %g) out of range", path,
                         (unsigned long long)j, (*u)[j], (*i)[j], (double)(*r)[j]);
            goto done;
        }
    uint64_t got = cf_bench_hash((int64_t)nu, (int64_t)ni, (int64_t)nn, *u, *i, *r);
    if (got != ch) {
        st = cf_fail(err, CF_ERR_CORRUPT, "%s: content hash %016llx, header says %016llx", path,
                     (unsigned long long)got, (unsigned long long)ch);
        goto done;
    }
    *users = (int64_t)nu, *items = (int64_t)ni, *n = (int64_t)nn, *hash = ch;
done:
    fclose(fp);
    if (st) {
        free(*u), free(*i), free(*r);
        *u = NULL, *i = NULL, *r = NULL;
    }
    return st;
}

/* The generator options in a canonical text (the spec hash and the "source" field). */
static void synth_source(const cf_bench_dataset_spec *s, char *buf, size_t len) {
    const cf_gen_options *g = &s->gen;
    snprintf(buf, len, "synth users=%lld items=%lld ratings=%lld rank=%d noise=%.10g zipf=%.10g seed=%llu "
             "round=%d clip=%d mu=%.10g",
             (long long)g->users, (long long)g->items, (long long)g->ratings, (int)g->rank, g->noise, g->zipf,
             (unsigned long long)g->seed, g->round, g->clip, g->mu);
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
        snprintf(path, sizeof path, "%s/%s-%016llx.cfbd", cache_dir, s->name, (unsigned long long)spec_hash);
        struct stat sb;
        if (stat(path, &sb) == 0) {
            cf_error e = {0};
            uint64_t h;
            if (cf_bench_cache_read(path, spec_hash, users, items, &t->n, &t->u, &t->i, &t->r, &h, &e) == CF_OK) {
                t->cap = t->n;
                info->from_cache = 1;
                return CF_OK;
            }
            if (e.status == CF_ERR_NOMEM) return cf_fail(err, CF_ERR_NOMEM, "%s", e.msg);
            snprintf(info->notice, sizeof info->notice, "cache unusable (%.200s): regenerated", e.msg);
        }
    }
    cf_dataset *ds = NULL;
    cf_status st = cf_generate(&s->gen, &ds, err);
    if (st) return st;
    st = cf_dataset_part(ds, 0, t, err);
    *users = cf_idmap_size(ds->users), *items = cf_idmap_size(ds->items);
    cf_dataset_destroy(&ds);
    if (st) return st;
    if (cache_dir) {
        mkdir(cache_dir, 0777); /* an existing directory is fine; a failure shows at the write */
        cf_error e = {0};
        if (cf_bench_cache_write(path, spec_hash, *users, *items, t->n, t->u, t->i, t->r, &e))
            snprintf(info->notice, sizeof info->notice, "could not write the cache (%.200s)", e.msg);
    }
    return CF_OK;
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
    cf_triplets train = {0};
    cf_rng rng;
    cf_rng_seed(&rng, spec->split_seed);
    int64_t nt = 0;
    uint8_t *is_test = cf_malloc((size_t)(all.n ? all.n : 1), err, "split flags");
    if (!is_test) {
        st = CF_ERR_NOMEM;
        goto fail;
    }
    for (int64_t j = 0; j < all.n; j++) nt += is_test[j] = cf_rng_uniform(&rng) < spec->test_ratio;
    train.n = train.cap = all.n - nt;
    d->test.n = d->test.cap = nt;
    size_t a = (size_t)(train.n ? train.n : 1), b = (size_t)(nt ? nt : 1);
    train.u = malloc(a * 4), train.i = malloc(a * 4), train.r = malloc(a * 4);
    d->test.u = malloc(b * 4), d->test.i = malloc(b * 4), d->test.r = malloc(b * 4);
    if (!train.u || !train.i || !train.r || !d->test.u || !d->test.i || !d->test.r) {
        free(is_test);
        cf_triplets_free(&train);
        st = cf_fail(err, CF_ERR_NOMEM, "out of memory splitting %lld ratings", (long long)all.n);
        goto fail;
    }
    int64_t ja = 0, jb = 0;
    for (int64_t j = 0; j < all.n; j++) {
        cf_triplets *dst = is_test[j] ? &d->test : &train;
        int64_t k = is_test[j] ? jb++ : ja++;
        dst->u[k] = all.u[j], dst->i[k] = all.i[j], dst->r[k] = all.r[j];
    }
    free(is_test);
    cf_triplets_free(&all);
    if (train.n == 0) {
        cf_triplets_free(&train);
        st = cf_fail(err, CF_ERR_INVALID, "data set '%s': no training ratings after the split", spec->name);
        goto fail;
    }
    st = cf_ratings_build(&train, users, items, &d->train, err);
    cf_triplets_free(&train);
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
