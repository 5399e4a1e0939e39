/*
 * model_io.c — the .cfm model file (save / load) and the NumPy export.
 *
 * .cfm format, version 3 (and 2, 1). All integers and floats little-endian; f64 = IEEE-754
 * binary64. A model is written in the oldest version that holds it: 1 without rating
 * counts, 2 with them, 3 when its biases are regularized apart from its factors
 * (config bias_lambda / bias_reg other than lambda / reg; the three are read).
 *
 *   offset  size  field
 *        0     8  magic "CUFACTOR"
 *        8     4  u32 version = 3, 2 or 1
 *       12     4  u32 header size = 176 in version 3, 164 in 1 and 2 (bytes from offset 0
 *                 to the first array)
 *       16     8  i64 n_users
 *       24     8  i64 n_items
 *       32     4  i32 K (factors)
 *       36     4  i32 flags: bit 0 = biases on; bit 1 = trained with fp16 factor storage
 *                 (config.precision, which has no slot in the config block below: files
 *                 written before it existed have bit 1 = 0, i.e. fp32); bit 2 (version 3
 *                 only) = the rating counts are there; other bits 0
 *       40     8  f64 μ
 *       48   116  the training cf_config, field by field in declaration order:
 *                 i32 algo, i32 factors, i32 iters, f64 lambda, i32 reg, i32 bias,
 *                 f64 tol, u64 seed, i32 threads, f64 init_scale, i32 device,
 *                 i32 gpu_id, f64 lr, i32 lr_schedule, f64 lr_decay, i32 schedule,
 *                 i32 blocks, i64 batch, i32 optimizer, i32 inner, i32 early_stop,
 *                 i32 restarts
 *      164    12  version 3 only: f64 bias_lambda, i32 bias_reg (explicit: never NaN or
 *                 "same"); versions 1 and 2 mean bias_lambda = lambda, bias_reg = reg
 *  164/176        f64 P[n_users][K], f64 Q[n_items][K], f64 b_u[n_users], f64 b_i[n_items]
 *                 (row-major; biases are stored, as zeros, also when flags bit 0 is 0)
 *                 version 2, and 3 with flags bit 2: i64 user_ratings[n_users], i64
 *                 item_ratings[n_items], the ratings each row was solved from (model.h
 *                 n_ratings; each >= 0)
 *                 user IDs: u64 count (= n_users), then per ID: u32 length + bytes
 *                 item IDs: u64 count (= n_items), then per ID: u32 length + bytes
 *                 (IDs in row order; length <= 65535; no NUL byte; no duplicates)
 *       end-8  8  u64 checksum of every preceding byte (below)
 *
 * Checksum ("FNV-1a-64 by words"): h = 0xcbf29ce484222325; the bytes are taken as
 * consecutive little-endian u64 words w, each folded in by
 *     h ^= w;  h *= 0x100000001b3;  h ^= h >> 32;
 * the last (length mod 8) bytes b are then folded in one at a time the same way
 * (h ^= b; h *= 0x100000001b3; h ^= h >> 32), and finally the total byte count n:
 *     h ^= n;  h *= 0x100000001b3;  h ^= h >> 32.
 * Every step is a bijection of h, so a change confined to one word is always detected.
 *
 * Save is atomic (atomic_file.h). Load trusts nothing: magic, version, header size,
 * dimension ranges and their consistency with the file size (before any allocation),
 * the config through cf_config_validate, the checksum, finiteness of every value, a bound
 * on every prediction (CF_PREDICTION_LIMIT, factors.h; save refuses what load would), ID
 * counts, lengths and uniqueness, and the absence of trailing bytes. A malformed file
 * is CF_ERR_CORRUPT, a failing read CF_ERR_IO; both messages start with the path.
 * cf_model_load_memory (model.h) runs the same loader on bytes in memory (load_from reads
 * through a cfm_source: a file descriptor or a buffer).
 *
 * NumPy export: NPY format 1.0, dtype '<f8', C order; the header dict is padded with
 * spaces and ends in '\n' so that the data starts at a multiple of 64 bytes.
 */
#include "atomic_file.h"
#include "bytecodec.h"
#include "common.h"
#include "gz.h"
#include "hash64.h"
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model_io.c writes the little-endian .cfm format by memcpy: port it before using a big-endian host"
#endif

#define CFM_VERSION 3u /* the newest: a model whose biases have their own λ (see above) */
#define CFM_CONFIG_SIZE 116
#define CFM_HEADER_SIZE_V2 (48 + CFM_CONFIG_SIZE)                 /* versions 1 and 2 */
#define CFM_HEADER_SIZE (CFM_HEADER_SIZE_V2 + CF_CFM_BIAS_REG_SIZE) /* version 3 */
#define CFM_MAX_ROWS ((int64_t)UINT32_MAX - 1) /* what an idmap can hold */
#define CFM_MAX_K 4096
#define CFM_MAX_ID 65535

static void encode_config(cf_cursor *c, const cf_config *g) {
    cf_put_i32(c, (int32_t)g->algo);
    cf_put_i32(c, g->factors);
    cf_put_i32(c, g->iters);
    cf_put_f64(c, g->lambda);
    cf_put_i32(c, (int32_t)g->reg);
    cf_put_i32(c, (int32_t)g->bias);
    cf_put_f64(c, g->tol);
    cf_put_u64(c, g->seed);
    cf_put_i32(c, g->threads);
    cf_put_f64(c, g->init_scale);
    cf_put_i32(c, (int32_t)g->device);
    cf_put_i32(c, g->gpu_id);
    cf_put_f64(c, g->lr);
    cf_put_i32(c, (int32_t)g->lr_schedule);
    cf_put_f64(c, g->lr_decay);
    cf_put_i32(c, (int32_t)g->schedule);
    cf_put_i32(c, g->blocks);
    cf_put_i64(c, g->batch);
    cf_put_i32(c, (int32_t)g->optimizer);
    cf_put_i32(c, g->inner);
    cf_put_i32(c, g->early_stop);
    cf_put_i32(c, g->restarts);
}

/* Enum fields are range-checked by cf_config_validate afterwards; an out-of-range i32
 * stored into the enum is only compared, never used as an index, before that. */
static void decode_config(cf_cursor *c, cf_config *g) {
    memset(g, 0, sizeof *g);
    g->algo = (cf_algo)cf_get_i32(c);
    g->factors = cf_get_i32(c);
    g->iters = cf_get_i32(c);
    g->lambda = cf_get_f64(c);
    g->reg = (cf_reg)cf_get_i32(c);
    g->bias = cf_get_i32(c);
    g->tol = cf_get_f64(c);
    g->seed = cf_get_u64(c);
    g->threads = cf_get_i32(c);
    g->init_scale = cf_get_f64(c);
    g->device = (cf_device)cf_get_i32(c);
    g->gpu_id = cf_get_i32(c);
    g->lr = cf_get_f64(c);
    g->lr_schedule = (cf_lr_schedule)cf_get_i32(c);
    g->lr_decay = cf_get_f64(c);
    g->schedule = (cf_sgd_schedule)cf_get_i32(c);
    g->blocks = cf_get_i32(c);
    g->batch = cf_get_i64(c);
    g->optimizer = (cf_optimizer)cf_get_i32(c);
    g->inner = cf_get_i32(c);
    g->early_stop = cf_get_i32(c);
    g->restarts = cf_get_i32(c);
    /* a file without the bias block: the biases were regularized as the factors */
    g->bias_lambda = g->lambda;
    g->bias_reg = g->reg;
}

/* The version-3 bias block: cf_config_resolve has made both fields explicit. */
static void encode_bias_reg(cf_cursor *c, const cf_config *g) {
    cf_put_f64(c, cf_bias_lambda(g));
    cf_put_i32(c, (int32_t)cf_bias_reg(g));
}

static int decode_bias_reg(cf_cursor *c, cf_config *g) {
    g->bias_lambda = cf_get_f64(c);
    g->bias_reg = (cf_reg)cf_get_i32(c);
    return g->bias_reg == CF_REG_SAME || isnan(g->bias_lambda) || cf_bias_reg_same(g) ? -1 : 0;
}

/* ---------------------------------------------------------------- save */

/* The ID section of a map (u64 count, then u32 length + bytes per ID) appended at *at
 * of buf (NULL: only *at advances, to size it). */
static void wr_ids(unsigned char *buf, size_t *at, const cf_idmap *map) {
    uint64_t n = (uint64_t)cf_idmap_size(map);
    if (buf) memcpy(buf + *at, &n, 8);
    *at += 8;
    for (uint64_t k = 0; k < n; k++) {
        size_t len;
        const char *name = cf_idmap_name(map, (uint32_t)k, &len);
        uint32_t l32 = (uint32_t)len;
        if (buf) memcpy(buf + *at, &l32, 4), memcpy(buf + *at + 4, name, len);
        *at += 4 + len;
    }
}

cf_status cf_model_save(const cf_model *m, const char *path, cf_error *err) {
    if (!m || !path || !*path)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_save: %s", !m ? "model is NULL" : "empty path");
    if (cf_gz_refuse(path, "a model", err)) return CF_ERR_INVALID;
    const cf_factors *f = &m->f;
    if (f->n_users < 0 || f->n_users > CFM_MAX_ROWS || f->n_items < 0 || f->n_items > CFM_MAX_ROWS ||
        f->k < 1 || f->k > CFM_MAX_K)
        return cf_fail(err, CF_ERR_INVALID, "%s: model dimensions %lld × %lld × K=%d out of range",
                       path, (long long)f->n_users, (long long)f->n_items, (int)f->k);
    if (cf_idmap_size(m->users) != f->n_users || cf_idmap_size(m->items) != f->n_items)
        return cf_fail(err, CF_ERR_INVALID,
                       "%s: the model has %lld users and %lld items but %lld and %lld IDs", path,
                       (long long)f->n_users, (long long)f->n_items,
                       (long long)cf_idmap_size(m->users), (long long)cf_idmap_size(m->items));
    cf_error cerr;
    if (cf_config_validate(&m->config, &cerr))
        return cf_fail(err, CF_ERR_INVALID, "%s: not saved: model config: %s", path, cerr.msg);

    unsigned char hdr[CFM_HEADER_SIZE];
    cf_cursor c = {hdr, 0};
    const int counts = m->n_ratings[0] && m->n_ratings[1], v3 = !cf_bias_reg_same(&m->config);
    const size_t hsize = v3 ? CFM_HEADER_SIZE : CFM_HEADER_SIZE_V2;
    cf_put_bytes(&c, CF_MODEL_MAGIC, 8);
    cf_put_u32(&c, v3 ? 3u : counts ? 2u : 1u);
    cf_put_u32(&c, (uint32_t)hsize);
    cf_put_i64(&c, f->n_users);
    cf_put_i64(&c, f->n_items);
    cf_put_i32(&c, f->k);
    cf_put_i32(&c, (f->bias ? 1 : 0) | (m->config.precision == CF_PRECISION_FP16 ? 2 : 0) | (v3 && counts ? 4 : 0));
    cf_put_f64(&c, f->mu);
    encode_config(&c, &m->config);
    if (v3) encode_bias_reg(&c, &m->config);

    for (int sd = 0; sd < 2 && counts; sd++) /* load refuses a negative count: so does save */
        for (int64_t r = 0; r < (sd ? f->n_items : f->n_users); r++)
            if (m->n_ratings[sd][r] < 0)
                return cf_fail(err, CF_ERR_INVALID, "%s: not saved: %s row %lld: rating count %lld < 0", path,
                               sd ? "item" : "user", (long long)r, (long long)m->n_ratings[sd][r]);

    /* The file's pieces in order: the header, P, Q, b_u, b_i, the rating counts (none in a
     * version-1 file; all from the model's memory) and the two ID sections (serialized
     * once). The checksum is one serial chain
     * (≈ 2.2 GB/s): it runs on a second thread while the first writes the same pieces
     * (large ones straight from the arrays, atomic_file.c) and waits for them to reach
     * the disk (cf_afile_sync_data), so a save costs about a write + fsync of its bytes
     * instead of hash + copy + write + fsync in a row; the commit's fsync then has only
     * the 8-byte checksum and the metadata left. */
    size_t ids_len = 0;
    wr_ids(NULL, &ids_len, m->users);
    wr_ids(NULL, &ids_len, m->items);
    unsigned char *ids = malloc(ids_len);
    if (!ids) return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory for the ID sections (%zu bytes)", path, ids_len);
    size_t at = 0;
    wr_ids(ids, &at, m->users);
    wr_ids(ids, &at, m->items);
    const size_t k = (size_t)f->k;
    const struct {
        const void *p;
        size_t n;
    } piece[8] = {{hdr, hsize},
                  {f->P, (size_t)f->n_users * k * sizeof(double)},
                  {f->Q, (size_t)f->n_items * k * sizeof(double)},
                  {f->bu, (size_t)f->n_users * sizeof(double)},
                  {f->bi, (size_t)f->n_items * sizeof(double)},
                  {m->n_ratings[0], counts ? (size_t)f->n_users * sizeof(int64_t) : 0},
                  {m->n_ratings[1], counts ? (size_t)f->n_items * sizeof(int64_t) : 0},
                  {ids, ids_len}};
    /* The values' checks (finite; predictions bounded: load refuses what they refuse)
     * are two more passes over the arrays: they too run while the bytes are written —
     * into the unnamed temporary file, which is dropped if a check fails, so a model
     * that fails them is still never saved and the old file stays. */
    cf_afile af;
    cf_status st = cf_afile_open(&af, path, 0, err);
    char where[96] = "";
    int bad = 0; /* 1: non-finite, 2: too large */
    double bound = 0;
    uint64_t sum = 0;
    if (st == CF_OK) {
#pragma omp parallel sections num_threads(omp_get_num_procs() >= 3 ? 3 : 2)
        {
#pragma omp section
            { /* the disk's part of the fsync overlaps the hash and the checks */
                for (int j = 0; j < 8; j++)
                    if (piece[j].n) cf_afile_write(&af, piece[j].p, piece[j].n);
                cf_afile_sync_data(&af);
            }
#pragma omp section
            {
                if (cf_factors_check_finite(f, where, sizeof where)) bad = 1;
                else if (!((bound = cf_factors_prediction_bound(f)) <= CF_PREDICTION_LIMIT)) bad = 2;
            }
#pragma omp section
            {
                cf_hash64 h;
                cf_hash64_init(&h);
                for (int j = 0; j < 8; j++)
                    if (piece[j].n) cf_hash64_update(&h, piece[j].p, piece[j].n);
                sum = cf_hash64_final(&h);
            }
        }
    } else { /* not opened: a model that fails its checks still says so first */
        if (cf_factors_check_finite(f, where, sizeof where)) bad = 1;
        else if (!((bound = cf_factors_prediction_bound(f)) <= CF_PREDICTION_LIMIT)) bad = 2;
    }
    free(ids);
    if (bad) {
        if (st == CF_OK) cf_afile_abort(&af);
        if (bad == 1) return cf_fail(err, CF_ERR_NUMERIC, "%s: not saved: non-finite value in %s", path, where);
        return cf_fail(err, CF_ERR_NUMERIC, "%s: not saved: factor values so large that predictions may reach %.3g (limit %g)",
                       path, bound, CF_PREDICTION_LIMIT);
    }
    if (st) return st;
    cf_afile_write(&af, &sum, 8);
    return cf_afile_commit(&af, err);
}

/* ---------------------------------------------------------------- load */

#define CORRUPT(...) do { st = cf_fail(err, CF_ERR_CORRUPT, __VA_ARGS__); goto done; } while (0)

/* Where a model's bytes come from: a file descriptor, or memory (cf_model_load_memory). */
typedef struct cfm_source {
    int fd;                    /* -1 for memory */
    const unsigned char *mem;
    size_t at, len;
} cfm_source;

/* Reads exactly n bytes: 0 ok, 1 end of input first, -1 read error (errno set). */
static int read_full(cfm_source *s, void *buf, size_t n) {
    if (s->fd < 0) {
        if (n > s->len - s->at) return 1;
        if (n) memcpy(buf, s->mem + s->at, n);
        s->at += n;
        return 0;
    }
    return cf_read_full(s->fd, buf, n);
}

/* Parses one ID list at *at of buf (len bytes) into a new map of exactly `want` IDs. */
static cf_status parse_ids(const char *path, const char *what, const unsigned char *buf, size_t len,
                           size_t *at, int64_t want, cf_idmap **out, cf_error *err) {
    *out = NULL;
    if (len - *at < 8)
        return cf_fail(err, CF_ERR_CORRUPT, "%s: %s ID list: truncated count", path, what);
    uint64_t count;
    memcpy(&count, buf + *at, 8);
    *at += 8;
    if (count != (uint64_t)want)
        return cf_fail(err, CF_ERR_CORRUPT, "%s: %llu %s IDs for %lld %ss", path,
                       (unsigned long long)count, what, (long long)want, what);
    cf_idmap *map = cf_idmap_create();
    if (!map) return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory for the %s IDs", path, what);
    for (uint64_t k = 0; k < count; k++) {
        uint32_t l;
        if (len - *at < 4) {
            cf_idmap_destroy(&map);
            return cf_fail(err, CF_ERR_CORRUPT, "%s: %s ID %llu: truncated length", path, what,
                           (unsigned long long)k);
        }
        memcpy(&l, buf + *at, 4);
        *at += 4;
        if (l > CFM_MAX_ID || l > len - *at) {
            cf_idmap_destroy(&map);
            return cf_fail(err, CF_ERR_CORRUPT, "%s: %s ID %llu: length %u beyond %s", path, what,
                           (unsigned long long)k, l,
                           l > CFM_MAX_ID ? "the 65535-byte limit" : "the end of the file");
        }
        const char *tok = (const char *)buf + *at;
        if (memchr(tok, '\0', l)) {
            cf_idmap_destroy(&map);
            return cf_fail(err, CF_ERR_CORRUPT, "%s: %s ID %llu contains a NUL byte", path, what,
                           (unsigned long long)k);
        }
        uint32_t idx;
        int added;
        if (cf_idmap_intern(map, tok, l, &idx, &added)) {
            cf_idmap_destroy(&map);
            return cf_fail(err, CF_ERR_NOMEM, "%s: out of memory for the %s IDs", path, what);
        }
        if (!added) {
            cf_status st = cf_fail(err, CF_ERR_CORRUPT, "%s: duplicate %s ID '%.*s' (rows %u and %llu)",
                                   path, what, (int)(l > 64 ? 64 : l), tok, idx,
                                   (unsigned long long)k);
            cf_idmap_destroy(&map);
            return st;
        }
        *at += l;
    }
    *out = map;
    return CF_OK;
}

uint64_t cf_cfm_checksum(const void *data, size_t n) {
    cf_hash64 h;
    cf_hash64_init(&h);
    cf_hash64_update(&h, data, n);
    return cf_hash64_final(&h);
}

/* Parses and checks a model of `size` bytes read from src; `path` names it in messages. */
static cf_status load_from(const char *path, uint64_t size, cfm_source *src, cf_model **out, cf_error *err) {
    cf_status st = CF_OK;
    cf_factors f;
    memset(&f, 0, sizeof f);
    cf_idmap *users = NULL, *items = NULL;
    unsigned char *rest = NULL;
    int64_t *cnt[2] = {NULL, NULL};

    /* ---- fixed header */
    /* the magic, version and header size first: they say how long the header is */
    unsigned char hdr[CFM_HEADER_SIZE];
    size_t hlen = size < 16 ? (size_t)size : 16;
    int r = read_full(src, hdr, hlen);
    if (r < 0) {
        st = cf_fail(err, CF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        goto done;
    }
    if (r > 0) CORRUPT("%s: file shrank while reading: truncated", path);
    if (hlen < 8) CORRUPT("%s: not a cufactor model (%zu bytes, too short for the magic)", path, hlen);
    if (memcmp(hdr, CF_MODEL_MAGIC, 8) != 0) CORRUPT("%s: not a cufactor model (bad magic)", path);
    if (hlen < 16) CORRUPT("%s: truncated header (%zu bytes)", path, hlen);
    cf_cursor c = {hdr, 8};
    uint32_t version = cf_get_u32(&c), header_size = cf_get_u32(&c);
    if (version < 1 || version > CFM_VERSION)
        CORRUPT("%s: model file version %u not supported (this build reads versions 1 to %u)", path,
                version, CFM_VERSION);
    const size_t hsize = version >= 3 ? CFM_HEADER_SIZE : CFM_HEADER_SIZE_V2;
    if (header_size != hsize) CORRUPT("%s: header size %u, version %u has %zu", path, header_size, version, hsize);
    hlen = size < hsize ? (size_t)size : hsize;
    r = read_full(src, hdr + 16, hlen - 16);
    if (r < 0) {
        st = cf_fail(err, CF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        goto done;
    }
    if (r > 0) CORRUPT("%s: file shrank while reading: truncated", path);
    if (hlen < hsize) CORRUPT("%s: truncated header (%zu bytes)", path, hlen);
    int64_t nu = cf_get_i64(&c), ni = cf_get_i64(&c);
    int32_t K = cf_get_i32(&c), flags = cf_get_i32(&c);
    double mu = cf_get_f64(&c);
    if (nu < 0 || nu > CFM_MAX_ROWS) CORRUPT("%s: n_users %lld out of range", path, (long long)nu);
    if (ni < 0 || ni > CFM_MAX_ROWS) CORRUPT("%s: n_items %lld out of range", path, (long long)ni);
    if (K < 1 || K > CFM_MAX_K) CORRUPT("%s: K = %d, must be in 1..%d", path, (int)K, CFM_MAX_K);
    if (flags & ~(version >= 3 ? 7 : 3)) CORRUPT("%s: unknown flags 0x%x", path, (unsigned)flags);
    if (!isfinite(mu)) CORRUPT("%s: global mean is not finite", path);
    cf_config cfg;
    decode_config(&c, &cfg);
    if (version >= 3) {
        if (decode_bias_reg(&c, &cfg)) CORRUPT("%s: " CF_CFM_BIAS_REG_BAD, path);
    }
    cfg.precision = (flags & 2) ? CF_PRECISION_FP16 : CF_PRECISION_FP32;
    cf_error cerr;
    if (cf_config_validate(&cfg, &cerr)) CORRUPT("%s: stored config: %s", path, cerr.msg);

    /* ---- sizes implied by the dimensions, checked against the file before allocating.
     * nu, ni < 2^32 and K <= 4096, so every product below stays under 2^60. */
    uint64_t unu = (uint64_t)nu, uni = (uint64_t)ni, uk = (uint64_t)K;
    const int counts = version >= 3 ? (flags & 4) != 0 : version >= 2;
    uint64_t array_bytes = 8 * (unu * uk + uni * uk + unu + uni + (counts ? unu + uni : 0));
    uint64_t arrays_end = hsize + array_bytes;
    uint64_t min_size = arrays_end + 8 + 4 * unu + 8 + 4 * uni + 8;
    uint64_t max_size = min_size + CFM_MAX_ID * (unu + uni);
    if (size < min_size)
        CORRUPT("%s: %llu bytes, but %lld × %lld × K=%d needs at least %llu: truncated or corrupt",
                path, (unsigned long long)size, (long long)nu, (long long)ni, (int)K,
                (unsigned long long)min_size);
    if (size > max_size)
        CORRUPT("%s: %llu bytes, more than %lld × %lld × K=%d can hold: corrupt", path,
                (unsigned long long)size, (long long)nu, (long long)ni, (int)K);

    /* ---- arrays, straight into the factors */
    cf_hash64 h;
    cf_hash64_init(&h);
    cf_hash64_update(&h, hdr, hsize);
    st = cf_factors_alloc(&f, nu, ni, K, flags & 1, err);
    if (st) goto done;
    f.mu = mu;
    if (counts) {
        cnt[0] = cf_malloc((size_t)(nu > 0 ? nu : 1) * 8, err, "model rating counts");
        cnt[1] = cf_malloc((size_t)(ni > 0 ? ni : 1) * 8, err, "model rating counts");
        if (!cnt[0] || !cnt[1]) {
            st = CF_ERR_NOMEM;
            goto done;
        }
    }
    struct { void *p; size_t n; } arr[6] = {
        {f.P, (size_t)(unu * uk) * 8}, {f.Q, (size_t)(uni * uk) * 8},
        {f.bu, (size_t)unu * 8}, {f.bi, (size_t)uni * 8},
        {cnt[0], counts ? (size_t)unu * 8 : 0}, {cnt[1], counts ? (size_t)uni * 8 : 0}};
    for (int a = 0; a < 6; a++) {
        r = read_full(src, arr[a].p, arr[a].n);
        if (r < 0) {
            st = cf_fail(err, CF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
            goto done;
        }
        if (r > 0) CORRUPT("%s: file shrank while reading: truncated", path);
        cf_hash64_update(&h, arr[a].p, arr[a].n);
    }

    /* ---- ID lists and checksum */
    size_t rest_len = (size_t)(size - arrays_end);
    rest = cf_malloc(rest_len, err, "model ID lists");
    if (!rest) {
        st = CF_ERR_NOMEM;
        goto done;
    }
    r = read_full(src, rest, rest_len);
    if (r < 0) {
        st = cf_fail(err, CF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        goto done;
    }
    if (r > 0) CORRUPT("%s: file shrank while reading: truncated", path);
    cf_hash64_update(&h, rest, rest_len - 8);
    uint64_t stored;
    memcpy(&stored, rest + rest_len - 8, 8);
    if (stored != cf_hash64_final(&h)) CORRUPT("%s: checksum mismatch: file is corrupt", path);

    char where[96];
    if (cf_factors_check_finite(&f, where, sizeof where))
        CORRUPT("%s: non-finite value in %s", path, where);
    double bound = cf_factors_prediction_bound(&f);
    if (!(bound <= CF_PREDICTION_LIMIT))
        CORRUPT("%s: factor values so large that predictions may reach %.3g (limit %g)", path, bound,
                CF_PREDICTION_LIMIT);
    for (int sd = 0; sd < 2 && counts; sd++)
        for (int64_t r = 0; r < (sd ? ni : nu); r++)
            if (cnt[sd][r] < 0)
                CORRUPT("%s: %s row %lld: rating count %lld < 0", path, sd ? "item" : "user", (long long)r,
                        (long long)cnt[sd][r]);

    size_t at = 0, ids_len = rest_len - 8;
    st = parse_ids(path, "user", rest, ids_len, &at, nu, &users, err);
    if (st) goto done;
    st = parse_ids(path, "item", rest, ids_len, &at, ni, &items, err);
    if (st) goto done;
    if (at != ids_len)
        CORRUPT("%s: %zu trailing bytes after the item IDs", path, ids_len - at);

    *out = cf_model_wrap(&f, users, items, &cfg);
    if (!*out) {
        st = cf_fail(err, CF_ERR_NOMEM, "%s: out of memory for the model", path);
        goto done;
    }
    (*out)->n_ratings[0] = cnt[0], (*out)->n_ratings[1] = cnt[1];
    cnt[0] = cnt[1] = NULL;
    users = items = NULL;
done:
    free(cnt[0]), free(cnt[1]);
    free(rest);
    cf_factors_free(&f);
    cf_idmap_destroy(&users);
    cf_idmap_destroy(&items);
    return st;
}

cf_status cf_model_load(const char *path, cf_model **out, cf_error *err) {
    if (out) *out = NULL;
    if (!path || !*path || !out)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_load: %s", !out ? "out is NULL" : "empty path");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cf_fail(err, CF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    cf_status st;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = cf_fail(err, CF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        st = cf_fail(err, CF_ERR_IO, "%s: not a regular file", path);
    } else {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        cfm_source src = {.fd = fd};
        st = load_from(path, (uint64_t)sb.st_size, &src, out, err);
    }
    close(fd);
    return st;
}

cf_status cf_model_load_memory(const char *name, const void *data, size_t size, cf_model **out, cf_error *err) {
    if (out) *out = NULL;
    if (!name || !out || (!data && size))
        return cf_fail(err, CF_ERR_INVALID, "cf_model_load_memory: %s is NULL",
                       !name ? "name" : !out ? "out" : "data");
    cfm_source src = {.fd = -1, .mem = data, .len = size};
    return load_from(name, size, &src, out, err);
}

/* ---------------------------------------------------------------- NumPy export */

/* dir/name, with one slash also when dir ends with '/'. */
static char *join(const char *dir, const char *name, cf_error *err) {
    size_t d = strlen(dir), n = d + strlen(name) + 2;
    while (d > 1 && dir[d - 1] == '/') d--;
    char *p = cf_malloc(n, err, "export path");
    if (p) snprintf(p, n, "%.*s%s%s", (int)d, dir, d == 1 && dir[0] == '/' ? "" : "/", name);
    return p;
}

/* A float64 array (cols = 0: 1-D of `rows`) as dir/name in NPY 1.0. */
/* An NPY v1.0 file of rows × cols (cols 0: a vector) 8-byte elements of type descr
 * ("<f8" float64, "<i8" int64; the host is little-endian, as the .cfm code assumes). */
static cf_status write_npy(cf_afile *f, const char *dir, const char *name, const char *descr, const void *data,
                           int64_t rows, int32_t cols, cf_error *err) {
    char dict[160];
    int dl = cols ? snprintf(dict, sizeof dict,
                             "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %d), }", descr,
                             (long long)rows, (int)cols)
                  : snprintf(dict, sizeof dict,
                             "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }", descr,
                             (long long)rows);
    /* preamble: magic (6) + version (2) + u16 header length (2) */
    size_t total = 10 + (size_t)dl + 1; /* + the final '\n' */
    size_t padded = (total + 63) / 64 * 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    uint16_t hl = (uint16_t)(padded - 10);
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);

    char *path = join(dir, name, err);
    if (!path) return CF_ERR_NOMEM;
    cf_status st = cf_afile_open(f, path, 0, err);
    free(path);
    if (st) return st;
    cf_afile_write(f, pre, 10);
    cf_afile_write(f, dict, (size_t)dl);
    for (size_t k = total; k < padded; k++) cf_afile_write(f, " ", 1);
    cf_afile_write(f, "\n", 1);
    cf_afile_write(f, data, (size_t)rows * (size_t)(cols ? cols : 1) * 8);
    return cf_afile_finish(f, err);
}

static cf_status write_ids_txt(cf_afile *f, const char *dir, const char *name, const cf_idmap *map,
                               cf_error *err) {
    char *path = join(dir, name, err);
    if (!path) return CF_ERR_NOMEM;
    cf_status st = cf_afile_open(f, path, 0, err);
    free(path);
    if (st) return st;
    int64_t n = cf_idmap_size(map);
    for (int64_t k = 0; k < n; k++) {
        size_t len;
        const char *id = cf_idmap_name(map, (uint32_t)k, &len);
        cf_afile_write(f, id, len);
        cf_afile_write(f, "\n", 1);
    }
    return cf_afile_finish(f, err);
}

static cf_status write_meta(cf_afile *f, const char *dir, const cf_factors *fa, int counted, cf_error *err) {
    char json[256];
    int jl = snprintf(json, sizeof json,
                      "{\"mu\": %.17g, \"n_users\": %lld, \"n_items\": %lld, \"factors\": %d, "
                      "\"bias\": %s, \"ratings\": %s}\n",
                      fa->mu, (long long)fa->n_users, (long long)fa->n_items, (int)fa->k,
                      fa->bias ? "true" : "false", counted ? "true" : "false");
    char *path = join(dir, "meta.json", err);
    if (!path) return CF_ERR_NOMEM;
    cf_status st = cf_afile_open(f, path, 0, err);
    free(path);
    if (st) return st;
    cf_afile_write(f, json, (size_t)jl);
    return cf_afile_finish(f, err);
}

cf_status cf_model_export_npy(const cf_model *m, const char *dir, cf_error *err) {
    if (!m || !dir || !*dir)
        return cf_fail(err, CF_ERR_INVALID, "cf_model_export_npy: %s",
                       !m ? "model is NULL" : "empty directory");
    const cf_factors *f = &m->f;
    char where[96];
    if (cf_factors_check_finite(f, where, sizeof where))
        return cf_fail(err, CF_ERR_NUMERIC, "%s: not exported: non-finite value in %s", dir, where);
    int created = mkdir(dir, 0777) == 0;
    if (!created) {
        int e = errno;
        struct stat sb;
        if (e != EEXIST)
            return cf_fail(err, CF_ERR_IO, "%s: cannot create directory: %s", dir, strerror(e));
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cf_fail(err, CF_ERR_IO, "%s: exists and is not a directory", dir);
    }
    /* All files are written and synced as temporaries first and renamed into place only
     * then: a failure while writing (disk full) replaces none of an earlier export's files
     * and leaves no temporary behind. The rating counts (two more files) only when the
     * model keeps them; otherwise an earlier export's count files are removed, so that the
     * directory never pairs these factors with another model's counts. */
    const int counted = m->n_ratings[0] && m->n_ratings[1];
    const int n_files = counted ? 9 : 7;
    cf_afile af[9];
    int n = 0;
    cf_status st = CF_OK;
    for (; n < n_files && !st; n++) {
        switch (n) {
        case 0: st = write_npy(&af[n], dir, "P.npy", "<f8", f->P, f->n_users, f->k, err); break;
        case 1: st = write_npy(&af[n], dir, "Q.npy", "<f8", f->Q, f->n_items, f->k, err); break;
        case 2: st = write_npy(&af[n], dir, "user_bias.npy", "<f8", f->bu, f->n_users, 0, err); break;
        case 3: st = write_npy(&af[n], dir, "item_bias.npy", "<f8", f->bi, f->n_items, 0, err); break;
        case 4: st = write_ids_txt(&af[n], dir, "users.txt", m->users, err); break;
        case 5: st = write_ids_txt(&af[n], dir, "items.txt", m->items, err); break;
        case 6: st = write_meta(&af[n], dir, f, counted, err); break;
        case 7: st = write_npy(&af[n], dir, "user_ratings.npy", "<i8", m->n_ratings[0], f->n_users, 0, err); break;
        default: st = write_npy(&af[n], dir, "item_ratings.npy", "<i8", m->n_ratings[1], f->n_items, 0, err); break;
        }
    }
    if (st) n--; /* the failed one cleaned up after itself */
    for (int k = 0; k < n; k++) {
        if (!st) st = cf_afile_publish(&af[k], err);
        else cf_afile_abort(&af[k]);
    }
    for (int k = 0; k < 2 && !st && !counted; k++) {
        char *path = join(dir, k ? "item_ratings.npy" : "user_ratings.npy", err);
        if (!path) return CF_ERR_NOMEM;
        if (unlink(path) != 0 && errno != ENOENT)
            st = cf_fail(err, CF_ERR_IO, "%s: cannot remove an earlier export's counts: %s", path, strerror(errno));
        free(path);
    }
    if (st && created) rmdir(dir); /* only removes it when empty */
    return st;
}

/* ---------------------------------------------------------------- shared with checkpoint.c */

void cf_cfm_config_encode(unsigned char out[CF_CFM_CONFIG_SIZE], const cf_config *cfg) {
    cf_cursor c = {out, 0};
    encode_config(&c, cfg);
}

void cf_cfm_config_decode(const unsigned char in[CF_CFM_CONFIG_SIZE], cf_config *cfg) {
    cf_cursor c = {(unsigned char *)in, 0};
    decode_config(&c, cfg);
}

void cf_cfm_bias_reg_encode(unsigned char out[CF_CFM_BIAS_REG_SIZE], const cf_config *cfg) {
    cf_cursor c = {out, 0};
    encode_bias_reg(&c, cfg);
}

int cf_cfm_bias_reg_decode(const unsigned char in[CF_CFM_BIAS_REG_SIZE], cf_config *cfg) {
    cf_cursor c = {(unsigned char *)in, 0};
    return decode_bias_reg(&c, cfg);
}
