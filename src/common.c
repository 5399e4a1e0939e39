/* common.c — error filling, checked allocation, RNG, clock, regularization weight. */
#include "common.h"

#include <errno.h>
#include <omp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

cf_status cf_fail(cf_error *err, cf_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void cf_error_clear(cf_error *err) {
    if (err) {
        err->status = CF_OK;
        err->msg[0] = '\0';
    }
}

const char *cf_status_name(cf_status s) {
    switch (s) {
    case CF_OK: return "ok";
    case CF_ERR_INVALID: return "invalid argument";
    case CF_ERR_NOMEM: return "out of memory";
    case CF_ERR_IO: return "I/O error";
    case CF_ERR_PARSE: return "parse error";
    case CF_ERR_CORRUPT: return "corrupt file";
    case CF_ERR_NUMERIC: return "numerical failure";
    case CF_ERR_UNSUPPORTED: return "unsupported";
    case CF_ERR_DEVICE: return "device error";
    case CF_ERR_NOT_FOUND: return "not found";
    case CF_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

void *cf_malloc(size_t bytes, cf_error *err, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) cf_fail(err, CF_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}

void *cf_calloc(size_t n, size_t size, cf_error *err, const char *what) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) cf_fail(err, CF_ERR_NOMEM, "out of memory allocating %zu×%zu bytes for %s", n, size, what);
    return p;
}

/* ---- RNG */

uint64_t cf_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cf_rng_seed(cf_rng *r, uint64_t seed) {
    uint64_t s = seed;
    for (int k = 0; k < 4; k++) r->s[k] = cf_splitmix64(&s);
}

void cf_rng_seed_stream(cf_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t h = stream;
    cf_rng_seed(r, seed ^ cf_splitmix64(&h));
}

double cf_rng_uniform(cf_rng *r) { return (double)(cf_rng_next(r) >> 11) * 0x1.0p-53; }

double cf_normal_from_bits(uint64_t a, uint64_t b) {
    double u1 = (double)(a >> 11) * 0x1.0p-53, u2 = (double)(b >> 11) * 0x1.0p-53; /* cf_rng_uniform's */
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

double cf_rng_normal(cf_rng *r) {
    uint64_t a = cf_rng_next(r);
    return cf_normal_from_bits(a, cf_rng_next(r));
}

uint64_t cf_rng_below(cf_rng *r, uint64_t n) {
    /* Lemire's nearly divisionless method with rejection: unbiased. */
    uint64_t x = cf_rng_next(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = cf_rng_next(r);
            m = (__uint128_t)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double cf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double cf_reg_lambda(cf_reg reg, double lambda, int64_t n_row, int64_t nnz) {
    switch (reg) {
    case CF_REG_PLAIN: return lambda;
    case CF_REG_WEIGHTED: return lambda * (double)n_row;
    case CF_REG_MEAN: return lambda * (double)nnz;
    case CF_REG_SAME: break; /* a bias_reg before cf_config_resolve: callers use cf_bias_reg */
    }
    return lambda;
}

double cf_bias_lambda(const cf_config *cfg) { return isnan(cfg->bias_lambda) ? cfg->lambda : cfg->bias_lambda; }
cf_reg cf_bias_reg(const cf_config *cfg) { return cfg->bias_reg == CF_REG_SAME ? cfg->reg : cfg->bias_reg; }
double cf_bias_reg_lambda(const cf_config *cfg, int64_t n_row, int64_t nnz) {
    return cf_reg_lambda(cf_bias_reg(cfg), cf_bias_lambda(cfg), n_row, nnz);
}
int cf_bias_reg_same(const cf_config *cfg) { return cf_bias_lambda(cfg) == cfg->lambda && cf_bias_reg(cfg) == cfg->reg; }
const char *cf_bias_reg_note(const cf_config *cfg, int bias, char *buf, size_t cap) {
    buf[0] = '\0';
    if (bias && !cf_bias_reg_same(cfg))
        snprintf(buf, cap, ", λ_b = %g with --bias-reg %s", cf_bias_lambda(cfg), cf_reg_name(cf_bias_reg(cfg)));
    return buf;
}

int cf_read_full(int fd, void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t r = read(fd, p, chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) return 1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

void cf_hint_huge_pages(void *p, size_t bytes) {
    const uintptr_t H = (uintptr_t)1 << 21;
    if (!p || bytes < 4 * H) return;
    uintptr_t a = ((uintptr_t)p + H - 1) & ~(H - 1), e = ((uintptr_t)p + bytes) & ~(H - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}

int cf_threads(int threads) {
    int T = threads > 0 ? threads : omp_get_max_threads();
    return T < 1 ? 1 : T;
}
