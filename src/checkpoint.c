/*
 * checkpoint.c — the checkpoint file (".cfc"): save / load of cf_train_state, the data
 * identity hash and the config comparison of a resume.
 *
 * Format, version 3 (versions 2 and 1 are still read; 1 lacks the kept run's index). A
 * state is written in version 2 unless its config regularizes the biases apart from the
 * factors (bias_lambda / bias_reg other than lambda / reg), which version 3 adds.
 * Little-endian; f64 = IEEE-754 binary64; "info" = the metrics of an iteration as i32
 * iter, f64 train_rmse, f64 test_rmse, f64 objective, f64 seconds, f64 ratings_per_sec
 * (44 bytes).
 *
 *   offset  size  field
 *        0     8  magic "CFCKPT\r\n" (the CR LF catches text-mode mangling)
 *        8     4  u32 version = 3 or 2
 *       12     4  u32 header size = 360 in version 3, 348 in 2 (bytes from offset 0 to the
 *                 first array; 344 in version 1)
 *       16     8  i64 n_users
 *       24     8  i64 n_items
 *       32     4  i32 K
 *       36     4  u32 flags: bit 0 biases on, bit 1 `result` present, bit 2 `best`
 *                 present, bit 3 Adam moments present; other bits 0
 *       40   116  the training config, encoded as in the .cfm (model_io.c)
 *      156     8  u64 data hash (cf_checkpoint_data_hash)
 *      164     8  i64 n_train
 *      172     8  i64 n_test
 *      180    16  backend name, NUL-padded
 *      196     4  i32 restart (0-based run in progress)
 *      200     4  i32 iter (iterations of that run done)
 *      204     8  f64 μ
 *      212     8  f64 prev_obj (NaN before the first iteration)
 *      220     8  f64 best_test (+inf before the first)
 *      228     4  i32 since_best
 *      232     8  f64 best_score of the finished runs (+inf when none)
 *      240    44  info: the metrics kept by the run in progress
 *      284     4  i32 result_iters
 *      288     4  i32 result_stop (0 iters, 1 tol, 2 early-stop, 3 callback)
 *      292    44  info: the metrics of the kept finished run
 *      336     8  i64 solver counter (backend.h: cf_solver_state)
 *      344     4  i32 the kept finished run's index (0-based; -1, "unknown", when it came
 *                 from a version 1 file, which has no such field; 0 without a finished run)
 *      348    12  version 3 only: f64 bias_lambda, i32 bias_reg (model_io.c's bias block;
 *                 versions 1 and 2 mean lambda and reg)
 *  348/360        factor sets, each f64 P[n_users][K], Q[n_items][K], b_u[n_users],
 *                 b_i[n_items] (row-major): the current factors; then `result` (bit 1),
 *                 `best` (bit 2), the Adam moments m and v (bit 3)
 *    end-8     8  u64 checksum of every preceding byte (hash64.h)
 *
 * The size is fixed by the header, so load checks it before allocating anything, then
 * the checksum, the config (cf_config_validate), the ranges of every counter and the
 * finiteness of every factor. Save is atomic (atomic_file.h).
 */
#include "checkpoint.h"

#include "atomic_file.h"
#include "bytecodec.h"
#include "common.h"
#include "gz.h"
#include "hash64.h"
#include "idmap.h"
#include "model.h"
#include "sumfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint.c writes a little-endian format by memcpy: port it before using a big-endian host"
#endif

#define CKPT_VERSION 3u
#define CKPT_HEADER_SIZE_V2 348
#define CKPT_HEADER_SIZE (CKPT_HEADER_SIZE_V2 + CF_CFM_BIAS_REG_SIZE) /* version 3 */
#define CKPT_HEADER_SIZE_V1 344
#define CKPT_MAX_ROWS ((int64_t)UINT32_MAX - 1)
#define CKPT_MAX_K 4096

enum { F_BIAS = 1, F_RESULT = 2, F_BEST = 4, F_MOMENTS = 8 };

const char *const cf_stop_names[CF_STOP_COUNT] = {"iters", "tol", "early-stop", "callback"};

void cf_solver_state_free(cf_solver_state *s) {
    if (!s) return;
    cf_factors_free(&s->m);
    cf_factors_free(&s->v);
    memset(s, 0, sizeof *s);
}

void cf_train_state_free(cf_train_state *s) {
    if (!s) return;
    cf_factors_free(&s->result);
    cf_factors_free(&s->best);
    cf_factors_free(&s->cur);
    cf_solver_state_free(&s->solver);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- header encoding */

static void put_info(cf_cursor *c, const cf_iter_info *i) {
    cf_put_i32(c, i->iter);
    cf_put_f64(c, i->train_rmse), cf_put_f64(c, i->test_rmse), cf_put_f64(c, i->objective);
    cf_put_f64(c, i->seconds), cf_put_f64(c, i->ratings_per_sec);
}

static void get_info(cf_cursor *c, cf_iter_info *i) {
    i->iter = cf_get_i32(c);
    i->train_rmse = cf_get_f64(c), i->test_rmse = cf_get_f64(c), i->objective = cf_get_f64(c);
    i->seconds = cf_get_f64(c), i->ratings_per_sec = cf_get_f64(c);
}

/* Bytes of one factor set. */
static uint64_t set_bytes(int64_t nu, int64_t ni, int32_t K) {
    return 8 * ((uint64_t)nu * (uint64_t)K + (uint64_t)ni * (uint64_t)K + (uint64_t)nu + (uint64_t)ni);
}

static int n_sets(uint32_t flags) {
    return 1 + !!(flags & F_RESULT) + !!(flags & F_BEST) + 2 * !!(flags & F_MOMENTS);
}

/* ---------------------------------------------------------------- save */

static int same_dims(const cf_factors *a, const cf_factors *b) {
    return a->n_users == b->n_users && a->n_items == b->n_items && a->k == b->k && a->P && b->P;
}

cf_status cf_checkpoint_save(const cf_train_state *s, const char *path, cf_error *err) {
    if (!s || !path || !*path)
        return cf_fail(err, CF_ERR_INVALID, "checkpoint: %s", !s ? "state is NULL" : "empty path");
    if (cf_gz_refuse(path, "a checkpoint", err)) return CF_ERR_INVALID;
    const cf_factors *f = &s->cur;
    if (!f->P || f->n_users < 0 || f->n_users > CKPT_MAX_ROWS || f->n_items < 0 ||
        f->n_items > CKPT_MAX_ROWS || f->k < 1 || f->k > CKPT_MAX_K)
        return cf_fail(err, CF_ERR_INVALID, "%s: checkpoint not written: no current factors or bad dimensions", path);
    if ((s->have_result && !same_dims(&s->result, f)) || (s->have_best && !same_dims(&s->best, f)) ||
        (s->solver.has_moments && (!same_dims(&s->solver.m, f) || !same_dims(&s->solver.v, f))))
        return cf_fail(err, CF_ERR_INVALID, "%s: checkpoint not written: factor sets of different dimensions", path);
    uint32_t flags = (f->bias ? F_BIAS : 0) | (s->have_result ? F_RESULT : 0) | (s->have_best ? F_BEST : 0) |
                     (s->solver.has_moments ? F_MOMENTS : 0);

    unsigned char hdr[CKPT_HEADER_SIZE];
    memset(hdr, 0, sizeof hdr);
    cf_cursor c = {hdr, 0};
    const int v3 = !cf_bias_reg_same(&s->cfg);
    const size_t hsize = v3 ? CKPT_HEADER_SIZE : CKPT_HEADER_SIZE_V2;
    cf_put_bytes(&c, CF_CHECKPOINT_MAGIC, 8);
    cf_put_u32(&c, v3 ? 3u : 2u);
    cf_put_u32(&c, (uint32_t)hsize);
    cf_put_i64(&c, f->n_users);
    cf_put_i64(&c, f->n_items);
    cf_put_i32(&c, f->k);
    cf_put_u32(&c, flags);
    cf_cfm_config_encode(hdr + c.at, &s->cfg);
    c.at += CF_CFM_CONFIG_SIZE;
    cf_put_u64(&c, s->data_hash);
    cf_put_i64(&c, s->n_train);
    cf_put_i64(&c, s->n_test);
    char name[16] = {0};
    snprintf(name, sizeof name, "%s", s->backend);
    cf_put_bytes(&c, name, 16);
    cf_put_i32(&c, s->restart);
    cf_put_i32(&c, s->iter);
    cf_put_f64(&c, f->mu);
    cf_put_f64(&c, s->prev_obj);
    cf_put_f64(&c, s->best_test);
    cf_put_i32(&c, s->since_best);
    cf_put_f64(&c, s->best_score);
    put_info(&c, &s->last);
    cf_put_i32(&c, s->result_iters);
    cf_put_i32(&c, s->result_stop);
    put_info(&c, &s->result_last);
    cf_put_i64(&c, s->solver.counter);
    cf_put_i32(&c, s->result_last.restart);
    if (v3) {
        cf_cfm_bias_reg_encode(hdr + c.at, &s->cfg);
        c.at += CF_CFM_BIAS_REG_SIZE;
    }
    if (c.at != hsize) /* a layout edit that forgot the header size */
        return cf_fail(err, CF_ERR_INVALID, "%s: checkpoint header is %zu bytes, expected %zu", path, c.at, hsize);

    cf_sumfile w;
    cf_status st = cf_sumfile_open(&w, path, err);
    if (st) return st;
    cf_sumfile_write(&w, hdr, hsize);
    cf_sumfile_write_factors(&w, f);
    if (s->have_result) cf_sumfile_write_factors(&w, &s->result);
    if (s->have_best) cf_sumfile_write_factors(&w, &s->best);
    if (s->solver.has_moments) cf_sumfile_write_factors(&w, &s->solver.m), cf_sumfile_write_factors(&w, &s->solver.v);
    return cf_sumfile_commit(&w, err);
}

/* ---------------------------------------------------------------- load */

#define CORRUPT(...) do { st = cf_fail(err, CF_ERR_CORRUPT, __VA_ARGS__); goto done; } while (0)

static cf_status read_set(int fd, const char *path, cf_factors *f, cf_hash64 *h, cf_error *err) {
    size_t k = (size_t)f->k;
    struct { void *p; size_t n; } arr[4] = {{f->P, (size_t)f->n_users * k * 8}, {f->Q, (size_t)f->n_items * k * 8},
                                            {f->bu, (size_t)f->n_users * 8}, {f->bi, (size_t)f->n_items * 8}};
    for (int a = 0; a < 4; a++) {
        int r = cf_read_full(fd, arr[a].p, arr[a].n);
        if (r < 0) return cf_fail(err, CF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (r > 0) return cf_fail(err, CF_ERR_CORRUPT, "%s: file shrank while reading: truncated", path);
        cf_hash64_update(h, arr[a].p, arr[a].n);
    }
    return CF_OK;
}

static int finite_info(const cf_iter_info *i) {
    /* test_rmse is NaN without a test part; seconds and rates are informative only */
    return !isinf(i->train_rmse) && !isinf(i->test_rmse) && !isinf(i->objective);
}

cf_status cf_checkpoint_load(const char *path, cf_train_state *s, cf_error *err) {
    if (!s) return cf_fail(err, CF_ERR_INVALID, "checkpoint: state is NULL");
    memset(s, 0, sizeof *s);
    if (!path || !*path) return cf_fail(err, CF_ERR_INVALID, "checkpoint: empty path");
    cf_status st = CF_OK;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return cf_fail(err, CF_ERR_IO, "%s: cannot open the checkpoint: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = cf_fail(err, CF_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = cf_fail(err, CF_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    uint64_t size = (uint64_t)sb.st_size;

    unsigned char hdr[CKPT_HEADER_SIZE];
    size_t hlen = size < CKPT_HEADER_SIZE ? (size_t)size : CKPT_HEADER_SIZE;
    int r = cf_read_full(fd, hdr, hlen);
    if (r < 0) {
        st = cf_fail(err, CF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        goto done;
    }
    if (r > 0) CORRUPT("%s: file shrank while reading: truncated", path);
    if (hlen < 8 || memcmp(hdr, CF_CHECKPOINT_MAGIC, 8) != 0)
        CORRUPT("%s: not a cufactor checkpoint (bad magic)", path);
    if (hlen < 16) CORRUPT("%s: truncated checkpoint header (%zu bytes)", path, hlen);
    cf_cursor c = {hdr, 8};
    uint32_t version = cf_get_u32(&c), header_size = cf_get_u32(&c);
    if (version < 1 || version > CKPT_VERSION)
        CORRUPT("%s: checkpoint version %u not supported (this build reads versions 1 to %u)", path, version,
                CKPT_VERSION);
    const uint32_t hsize = version == 1 ? CKPT_HEADER_SIZE_V1 : version == 2 ? CKPT_HEADER_SIZE_V2 : CKPT_HEADER_SIZE;
    if (header_size != hsize)
        CORRUPT("%s: header size %u, version %u has %u", path, header_size, version, hsize);
    if (hlen < hsize) CORRUPT("%s: truncated checkpoint header (%zu bytes)", path, hlen);
    if (hlen > hsize && lseek(fd, hsize, SEEK_SET) != (off_t)hsize) { /* versions 1, 2: the arrays start earlier */
        st = cf_fail(err, CF_ERR_IO, "%s: seek failed: %s", path, strerror(errno));
        goto done;
    }
    int64_t nu = cf_get_i64(&c), ni = cf_get_i64(&c);
    int32_t K = cf_get_i32(&c);
    uint32_t flags = cf_get_u32(&c);
    if (nu < 0 || nu > CKPT_MAX_ROWS) CORRUPT("%s: n_users %lld out of range", path, (long long)nu);
    if (ni < 0 || ni > CKPT_MAX_ROWS) CORRUPT("%s: n_items %lld out of range", path, (long long)ni);
    if (K < 1 || K > CKPT_MAX_K) CORRUPT("%s: K = %d, must be in 1..%d", path, (int)K, CKPT_MAX_K);
    if (flags & ~15u) CORRUPT("%s: unknown flags 0x%x", path, flags);
    /* nu, ni < 2^32, K <= 4096, at most 5 sets: every product stays under 2^63 */
    uint64_t want = hsize + (uint64_t)n_sets(flags) * set_bytes(nu, ni, K) + 8;
    if (size != want)
        CORRUPT("%s: %llu bytes, but its header (%lld × %lld × K=%d, %d factor sets) needs %llu: %s", path,
                (unsigned long long)size, (long long)nu, (long long)ni, (int)K, n_sets(flags),
                (unsigned long long)want, size < want ? "truncated" : "corrupt");

    cf_cfm_config_decode(hdr + c.at, &s->cfg);
    c.at += CF_CFM_CONFIG_SIZE;
    s->data_hash = cf_get_u64(&c);
    s->n_train = cf_get_i64(&c);
    s->n_test = cf_get_i64(&c);
    cf_get_bytes(&c, s->backend, 16);
    s->restart = cf_get_i32(&c);
    s->iter = cf_get_i32(&c);
    double mu = cf_get_f64(&c);
    s->prev_obj = cf_get_f64(&c);
    s->best_test = cf_get_f64(&c);
    s->since_best = cf_get_i32(&c);
    s->best_score = cf_get_f64(&c);
    get_info(&c, &s->last);
    s->result_iters = cf_get_i32(&c);
    s->result_stop = cf_get_i32(&c);
    get_info(&c, &s->result_last);
    s->solver.counter = cf_get_i64(&c);
    s->result_last.restart = version == 1 ? (flags & F_RESULT ? -1 : 0) : cf_get_i32(&c);
    if (version >= 3) {
        const int bad = cf_cfm_bias_reg_decode(hdr + c.at, &s->cfg);
        c.at += CF_CFM_BIAS_REG_SIZE;
        if (bad) CORRUPT("%s: " CF_CFM_BIAS_REG_BAD, path);
    }
    s->last.restart = s->restart;
    s->have_result = !!(flags & F_RESULT);
    s->have_best = !!(flags & F_BEST);
    s->solver.has_moments = !!(flags & F_MOMENTS);

    /* ---- arrays, then the checksum over everything */
    cf_hash64 h;
    cf_hash64_init(&h);
    cf_hash64_update(&h, hdr, hsize);
    int bias = flags & F_BIAS;
    cf_factors *sets[5] = {&s->cur, s->have_result ? &s->result : NULL, s->have_best ? &s->best : NULL,
                           s->solver.has_moments ? &s->solver.m : NULL, s->solver.has_moments ? &s->solver.v : NULL};
    for (int k = 0; k < 5; k++) {
        if (!sets[k]) continue;
        if ((st = cf_factors_alloc(sets[k], nu, ni, K, bias, err))) goto done;
        if ((st = read_set(fd, path, sets[k], &h, err))) goto done;
    }
    s->cur.mu = s->result.mu = s->best.mu = mu;
    uint64_t stored;
    r = cf_read_full(fd, &stored, 8);
    if (r < 0) {
        st = cf_fail(err, CF_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        goto done;
    }
    if (r > 0) CORRUPT("%s: file shrank while reading: truncated", path);
    if (stored != cf_hash64_final(&h)) CORRUPT("%s: checksum mismatch: the checkpoint is corrupt", path);

    /* ---- values (a valid checksum over nonsense is still nonsense) */
    cf_error cerr;
    if (cf_config_validate(&s->cfg, &cerr)) CORRUPT("%s: stored config: %s", path, cerr.msg);
    if (s->cfg.factors != K) CORRUPT("%s: config K = %d but the factors have K = %d", path, s->cfg.factors, (int)K);
    if (s->cfg.bias != bias) CORRUPT("%s: config bias %d but flags bias %d", path, s->cfg.bias, bias);
    if (!isfinite(mu)) CORRUPT("%s: global mean is not finite", path);
    const char *nul = memchr(s->backend, '\0', 16);
    if (!nul || !s->backend[0]) CORRUPT("%s: bad backend name", path);
    for (const char *p = nul; p < s->backend + 16; p++) /* NUL-padded: one encoding per name */
        if (*p) CORRUPT("%s: bad backend name (bytes after its end)", path);
    if (s->n_train < 1 || s->n_test < 0) CORRUPT("%s: rating counts %lld / %lld out of range", path,
                                                 (long long)s->n_train, (long long)s->n_test);
    if (s->restart < 0 || s->restart >= s->cfg.restarts)
        CORRUPT("%s: restart %d not in 0..%d", path, s->restart, s->cfg.restarts - 1);
    if (s->iter < 0 || s->iter > s->cfg.iters)
        CORRUPT("%s: iteration %d not in 0..%d", path, s->iter, s->cfg.iters);
    if (s->since_best < 0 || s->since_best > s->iter) CORRUPT("%s: since_best %d out of range", path, s->since_best);
    if (s->have_result != (s->restart > 0))
        CORRUPT("%s: restart %d %s a finished run", path, s->restart, s->have_result ? "with" : "without");
    if (s->have_result && (s->result_iters < 1 || s->result_stop < 0 || s->result_stop >= CF_STOP_COUNT ||
                           isnan(s->best_score)))
        CORRUPT("%s: the kept finished run has bad counters", path);
    /* -1: unknown, a run kept by a version 1 checkpoint this training resumed from */
    if (version != 1 && (s->have_result ? s->result_last.restart < -1 || s->result_last.restart >= s->restart
                                        : s->result_last.restart != 0))
        CORRUPT("%s: kept run %d out of range", path, (int)s->result_last.restart);
    if (s->solver.counter < 0) CORRUPT("%s: solver counter %lld < 0", path, (long long)s->solver.counter);
    if (!finite_info(&s->last) || !finite_info(&s->result_last) || isinf(s->prev_obj) || isnan(s->best_test))
        CORRUPT("%s: non-finite training metrics", path);
    const char *set_names[5] = {"current factors", "kept run", "best model", "Adam m", "Adam v"};
    for (int k = 0; k < 5; k++) {
        char where[96];
        if (sets[k] && cf_factors_check_finite(sets[k], where, sizeof where))
            CORRUPT("%s: non-finite value in the %s, %s", path, set_names[k], where);
    }
done:
    close(fd);
    if (st) cf_train_state_free(s);
    return st;
}

cf_status cf_checkpoint_info_get(const char *path, cf_checkpoint_info *info, cf_error *err) {
    cf_error_clear(err);
    if (!info) return cf_fail(err, CF_ERR_INVALID, "cf_checkpoint_info_get: info is NULL");
    memset(info, 0, sizeof *info);
    cf_train_state s;
    cf_status st = cf_checkpoint_load(path, &s, err);
    if (st) return st;
    info->config = s.cfg;
    info->restart = s.restart;
    info->iter = s.iter;
    info->n_users = s.cur.n_users, info->n_items = s.cur.n_items;
    info->n_train = s.n_train, info->n_test = s.n_test;
    memcpy(info->backend, s.backend, sizeof info->backend);
    cf_train_state_free(&s);
    return CF_OK;
}

/* ---------------------------------------------------------------- data identity, config */

static void hash_names(cf_hash64 *h, const cf_idmap *m) {
    int64_t n = cf_idmap_size(m);
    cf_hash64_update(h, &n, 8);
    for (int64_t k = 0; k < n; k++) {
        size_t len;
        const char *name = cf_idmap_name(m, (uint32_t)k, &len);
        uint64_t l = len;
        cf_hash64_update(h, &l, 8);
        cf_hash64_update(h, name, len);
    }
}

uint64_t cf_checkpoint_data_hash(const cf_ratings *R, const cf_triplets *test, const cf_idmap *users,
                                 const cf_idmap *items) {
    cf_hash64 h;
    cf_hash64_init(&h);
    int64_t dims[4] = {R->n_users, R->n_items, R->nnz, test ? test->n : 0};
    cf_hash64_update(&h, dims, sizeof dims);
    cf_hash64_update(&h, R->row_ptr, (size_t)(R->n_users + 1) * sizeof *R->row_ptr);
    cf_hash64_update(&h, R->row_col, (size_t)R->nnz * sizeof *R->row_col);
    cf_hash64_update(&h, R->row_val, (size_t)R->nnz * sizeof *R->row_val);
    if (test && test->n) {
        cf_hash64_update(&h, test->u, (size_t)test->n * sizeof *test->u);
        cf_hash64_update(&h, test->i, (size_t)test->n * sizeof *test->i);
        cf_hash64_update(&h, test->r, (size_t)test->n * sizeof *test->r);
    }
    if (users) hash_names(&h, users);
    if (items) hash_names(&h, items);
    return cf_hash64_final(&h);
}

/* v as %g, or with all 17 digits where %g would not tell it from `other`. */
static const char *dstr(char buf[32], double v, double other) {
    char o[32];
    snprintf(buf, 32, "%g", v);
    snprintf(o, sizeof o, "%g", other);
    if (strcmp(buf, o) == 0) snprintf(buf, 32, "%.17g", v);
    return buf;
}

cf_status cf_checkpoint_config_check(const cf_config *saved, const cf_config *now, const char *path,
                                     cf_error *err) {
    char b1[32], b2[32];
#define SAME_I(f)                                                                                      \
    if (saved->f != now->f)                                                                            \
        return cf_fail(err, CF_ERR_INVALID,                                                            \
                       "%s: " #f " is %lld here but %lld in the checkpoint; a resumed training keeps " \
                       "the checkpoint's settings (only iters, threads, device, gpu_id may change)",   \
                       path, (long long)now->f, (long long)saved->f)
#define SAME_D(f)                                                                                      \
    if (memcmp(&saved->f, &now->f, sizeof(double)) != 0)                                               \
        return cf_fail(err, CF_ERR_INVALID,                                                            \
                       "%s: " #f " is %s here but %s in the checkpoint; a resumed training "           \
                       "keeps the checkpoint's settings (only iters, threads, device, gpu_id may "     \
                       "change)",                                                                      \
                       path, dstr(b1, now->f, saved->f), dstr(b2, saved->f, now->f))
    SAME_I(algo);
    SAME_I(factors);
    SAME_D(lambda);
    SAME_I(reg);
    SAME_D(bias_lambda);
    SAME_I(bias_reg);
    SAME_I(bias);
    SAME_D(tol);
    if (saved->seed != now->seed)
        return cf_fail(err, CF_ERR_INVALID, "%s: seed is %llu here but %llu in the checkpoint", path,
                       (unsigned long long)now->seed, (unsigned long long)saved->seed);
    SAME_D(init_scale);
    SAME_D(lr);
    SAME_I(lr_schedule);
    SAME_D(lr_decay);
    SAME_I(schedule);
    SAME_I(blocks);
    SAME_I(batch);
    SAME_I(optimizer);
    SAME_I(inner);
    SAME_I(early_stop);
    SAME_I(restarts);
#undef SAME_I
#undef SAME_D
    return CF_OK;
}
