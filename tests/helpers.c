/* helpers.c — shared test helpers (see helpers.h). */
#include "helpers.h"
#include "hash64.h"
#include "model.h"

#include <criterion/criterion.h>
#include <libdeflate.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

char *cf_test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/cufactor-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl)) return NULL;
    return strdup(tmpl);
}

char *cf_test_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *cf_test_write(const char *dir, const char *name, const char *data, size_t len) {
    char *p = cf_test_path(dir, name);
    if (!p) return NULL;
    FILE *f = fopen(p, "wb");
    if (!f) {
        free(p);
        return NULL;
    }
    if (len == (size_t)-1) len = strlen(data);
    fwrite(data, 1, len, f);
    fclose(f);
    return p;
}

char *cf_test_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

char *cf_test_gzip(const char *data, size_t len, int members, int level, size_t *out_len) {
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
    cr_assert(c);
    size_t cap = len + 64 * (size_t)members + 1024, n = 0, at = 0;
    char *out = malloc(cap);
    cr_assert(out);
    for (int m = 0; m < members; m++) { /* members cut at equal byte distances */
        const size_t take = m == members - 1 ? len - at : len / (size_t)members;
        const size_t bound = libdeflate_gzip_compress_bound(c, take);
        if (n + bound > cap) {
            cap = 2 * (n + bound);
            out = realloc(out, cap);
            cr_assert(out);
        }
        const size_t got = libdeflate_gzip_compress(c, data + at, take, out + n, cap - n);
        cr_assert_gt(got, 0);
        n += got, at += take;
    }
    libdeflate_free_compressor(c);
    *out_len = n;
    return out;
}

int cf_test_gzip_file(const char *from, const char *to, int members) {
    size_t n, zn;
    char *data = cf_test_read(from, &n);
    if (!data) return -1;
    char *z = cf_test_gzip(data, n, members, 6, &zn);
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(z, 1, zn, f) == zn;
    if (f && fclose(f) != 0) ok = 0;
    free(data), free(z);
    return ok ? 0 : -1;
}

char *cf_test_read_text(const char *path, size_t *n) {
    FILE *f;
    cf_error err;
    cr_assert_eq(cf_text_open(path, &f, &err), CF_OK, "%s", err.msg);
    size_t cap = 1 << 16;
    char *b = malloc(cap);
    cr_assert(b);
    *n = 0;
    for (size_t k; (k = fread(b + *n, 1, cap - 1 - *n, f)) > 0;) {
        if ((*n += k) < cap - 1) continue;
        b = realloc(b, cap *= 2);
        cr_assert(b);
    }
    cr_assert_eq(fclose(f), 0);
    b[*n] = '\0';
    return b;
}

double cf_test_json_num(const char *js, const char *key) {
    char k[128];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *v = strstr(js, k);
    cr_assert_not_null(v, "no \"%s\" in %s", key, js);
    v += strlen(k);
    if (strncmp(v, "null", 4) == 0) return NAN;
    char *end = NULL;
    double x = strtod(v, &end);
    cr_assert(end != v && (*end == ',' || *end == '}'), "\"%s\" is not a number in %s", key, js);
    return x;
}

void cf_test_rmtree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) { /* best effort */ }
}

/* ---- planted problem (see helpers.h) */
#include "common.h"

void cf_test_make_planted(const cf_test_planted *p, cf_ratings *train, cf_triplets *test) {
    cf_rng rng;
    cf_rng_seed(&rng, p->seed);
    int64_t nu = p->n_users, ni = p->n_items;
    int k = p->rank;
    double *P = malloc(sizeof(double) * (size_t)(nu * k)), *Q = malloc(sizeof(double) * (size_t)(ni * k));
    double *bu = malloc(sizeof(double) * (size_t)nu), *bi = malloc(sizeof(double) * (size_t)ni);
    for (int64_t x = 0; x < nu * k; x++) P[x] = cf_rng_normal(&rng) / sqrt(sqrt((double)k));
    for (int64_t x = 0; x < ni * k; x++) Q[x] = cf_rng_normal(&rng) / sqrt(sqrt((double)k));
    for (int64_t x = 0; x < nu; x++) bu[x] = p->bias ? 0.3 * cf_rng_normal(&rng) : 0.0;
    for (int64_t x = 0; x < ni; x++) bi[x] = p->bias ? 0.4 * cf_rng_normal(&rng) : 0.0;
    cf_triplets tr = {0}, te = {0};
    int64_t cap = (int64_t)((double)(nu * ni) * p->density * 1.2) + 64;
    tr.u = malloc(sizeof(uint32_t) * (size_t)cap), tr.i = malloc(sizeof(uint32_t) * (size_t)cap);
    tr.r = malloc(sizeof(float) * (size_t)cap);
    te.u = malloc(sizeof(uint32_t) * (size_t)cap), te.i = malloc(sizeof(uint32_t) * (size_t)cap);
    te.r = malloc(sizeof(float) * (size_t)cap);
    for (int64_t u = 0; u < nu; u++)
        for (int64_t i = 0; i < ni; i++) {
            if (cf_rng_uniform(&rng) >= p->density) continue;
            double r = (p->bias ? p->mu + bu[u] + bi[i] : 0.0) + p->sigma * cf_rng_normal(&rng);
            for (int x = 0; x < k; x++) r += P[u * k + x] * Q[i * k + x];
            cf_triplets *t = cf_rng_uniform(&rng) < p->test_ratio ? &te : &tr;
            if (t->n == cap) continue;
            t->u[t->n] = (uint32_t)u, t->i[t->n] = (uint32_t)i, t->r[t->n] = (float)r;
            t->n++;
        }
    tr.cap = tr.n, te.cap = te.n;
    cf_error err;
    if (cf_ratings_build(&tr, nu, ni, train, &err) != CF_OK) abort();
    cf_triplets_free(&tr);
    *test = te;
    free(P), free(Q), free(bu), free(bi);
}

const char *cf_test_sanitizer_report(const char *text) {
    if (!text) return NULL;
    const char *hit = strstr(text, "Sanitizer");
    const char *ub = strstr(text, "runtime error: ");
    if (!hit || (ub && ub < hit)) hit = ub;
    if (!hit) return NULL;
    while (hit > text && hit[-1] != '\n') hit--;
    return hit;
}

char **cf_test_environ(const char *const *set) {
    size_t n = 0, m = 0;
    while (environ[n]) n++;
    for (; set && set[m]; m++) {}
    char **env = calloc(n + m + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t j = 0; j < n; j++) env[k++] = environ[j];
    for (size_t s = 0; s < m; s++) {
        const char *eq = strchr(set[s], '=');
        size_t name = eq ? (size_t)(eq - set[s]) : strlen(set[s]);
        size_t out = 0; /* drop what set[s] replaces or unsets */
        for (size_t j = 0; j < k; j++)
            if (!(strncmp(env[j], set[s], name) == 0 && env[j][name] == '=')) env[out++] = env[j];
        k = out;
        if (eq) env[k++] = (char *)set[s];
    }
    env[k] = NULL;
    return env;
}

int cf_test_start(const char *dir, const char *const *argv, const char *const *env) {
    char *op = cf_test_path(dir, "stdout.txt"), *ep = cf_test_path(dir, "stderr.txt");
    char *tmpdir = malloc(strlen(dir) + 8);
    size_t m = 0;
    for (; env && env[m]; m++) {}
    const char **set = calloc(m + 2, sizeof *set);
    char **envp = NULL;
    pid_t pid = -1;
    if (tmpdir && set) {
        sprintf(tmpdir, "TMPDIR=%s", dir);
        set[0] = tmpdir;
        for (size_t j = 0; j < m; j++) set[j + 1] = env[j];
        envp = cf_test_environ(set);
    }
    if (envp) {
        fflush(NULL);
        pid = fork();
        if (pid == 0) { /* only async-signal-safe calls until exec: the test has threads */
            int fo = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0644), fe = open(ep, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fo < 0 || fe < 0 || dup2(fo, 1) < 0 || dup2(fe, 2) < 0 || chdir(dir) != 0) _exit(127);
            execve(argv[0], (char *const *)argv, envp);
            _exit(127);
        }
    }
    free(envp);
    free(set);
    free(tmpdir);
    free(op);
    free(ep);
    return pid > 0 ? (int)pid : -1;
}

int cf_test_spawn(const char *dir, const char *const *argv, char **out, char **err) {
    *out = *err = NULL;
    char *op = cf_test_path(dir, "stdout.txt"), *ep = cf_test_path(dir, "stderr.txt");
    int code = -1;
    pid_t pid = cf_test_start(dir, argv, NULL);
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid) {
        *out = cf_test_read(op, NULL);
        *err = cf_test_read(ep, NULL);
        if (*out && *err) code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    free(op);
    free(ep);
    return code;
}

int cf_test_count_entries(const char *d, const char *part) {
    DIR *dp = opendir(d);
    if (!dp) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dp));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, part)) n++;
    closedir(dp);
    return n;
}

cf_test_run cf_test_cli(const char *dir, const char *first, ...) {
    const char *argv[64];
    int n = 0;
    argv[n++] = CF_CLI_PATH;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        cr_assert_lt(n, 63, "too many arguments for cf_test_cli");
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    cf_test_run r;
    r.code = cf_test_spawn(dir, argv, &r.out, &r.err);
    cr_assert_neq(r.code, -1, "could not run %s", CF_CLI_PATH);
    const char *report = cf_test_sanitizer_report(r.err);
    cr_assert_null(report, "cufactor %s: sanitizer report: %.400s", first, report);
    char *o = cf_test_path(dir, "stdout.txt"), *e = cf_test_path(dir, "stderr.txt");
    unlink(o), unlink(e);
    free(o), free(e);
    return r;
}

void cf_test_run_free(cf_test_run *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const int64_t cf_test_lr_len[CF_TEST_LR_USERS] = {CF_TEST_LR_ITEMS, 250000, 60000, 30000, 17000,
                                                  9000, 6000, 5000, 4500, 4100};

void cf_test_long_rows(cf_rng *rng, double (*rating)(uint32_t u, uint32_t i, cf_rng *rng, void *ctx), void *ctx,
                       cf_triplets *t) {
    const int64_t *len = cf_test_lr_len;
    int64_t cap = 0;
    for (int u = 0; u < CF_TEST_LR_USERS; u++) cap += len[u];
    memset(t, 0, sizeof *t);
    t->u = malloc(sizeof(uint32_t) * (size_t)cap), t->i = malloc(sizeof(uint32_t) * (size_t)cap);
    t->r = malloc(sizeof(float) * (size_t)cap);
    uint32_t *perm = malloc(sizeof(uint32_t) * CF_TEST_LR_ITEMS);
    cr_assert(t->u && t->i && t->r && perm);
    for (uint32_t u = 0; u < CF_TEST_LR_USERS; u++) {
        for (uint32_t i = 0; i < CF_TEST_LR_ITEMS; i++) perm[i] = i;
        for (int64_t j = 0; j < len[u]; j++) { /* partial Fisher–Yates: distinct items */
            int64_t k = j + (int64_t)cf_rng_below(rng, (uint64_t)(CF_TEST_LR_ITEMS - j));
            uint32_t tmp = perm[j];
            perm[j] = perm[k], perm[k] = tmp;
            t->u[t->n] = u, t->i[t->n] = perm[j], t->r[t->n] = (float)rating(u, perm[j], rng, ctx);
            t->n++;
        }
    }
    t->cap = t->n;
    free(perm);
}

cf_idmap *cf_test_decimal_map(int64_t n) {
    cf_idmap *m = cf_idmap_create();
    cr_assert_not_null(m);
    for (int64_t k = 0; k < n; k++) {
        char tok[24];
        uint32_t idx;
        const int len = snprintf(tok, sizeof tok, "%lld", (long long)k);
        cr_assert_eq(cf_idmap_intern(m, tok, (size_t)len, &idx, NULL), 0);
    }
    return m;
}

cf_dataset *cf_test_generate(int64_t users, int64_t items, int64_t ratings, int rank, double noise, uint64_t seed,
                             int clip) {
    cf_gen_options g;
    cf_gen_options_default(&g);
    g.users = users, g.items = items, g.ratings = ratings, g.rank = rank, g.noise = noise, g.seed = seed;
    g.clip = clip;
    cf_dataset *ds = NULL;
    cf_error err;
    cr_assert_eq(cf_generate(&g, &ds, &err), CF_OK, "%s", err.msg);
    return ds;
}

cf_dataset *cf_test_generate_timed(int64_t ratings, int64_t span, int pre_test, uint64_t seed) {
    cf_dataset *g = cf_test_generate(2000, 300, ratings, 3, 0.3, seed, 1);
    cf_dataset *ds = cf_dataset_create();
    cr_assert(ds && cf_dataset_set_timed(ds) == 0 && cf_dataset_reserve(ds, g->all.n) == 0);
    cf_idmap_destroy(&ds->users), cf_idmap_destroy(&ds->items);
    ds->users = cf_idmap_clone(g->users), ds->items = cf_idmap_clone(g->items);
    cf_rng rng;
    cf_rng_seed(&rng, seed);
    for (int64_t k = 0; k < g->all.n; k++)
        cr_assert_eq(cf_dataset_push_timed(ds, g->all.u[k], g->all.i[k], g->all.r[k],
                                           (int64_t)cf_rng_below(&rng, (uint64_t)span), pre_test && k % 11 == 0),
                     0);
    cf_dataset_destroy(&g);
    return ds;
}

void cf_test_warm_start_continues(const cf_dataset *ds, cf_config c, const char *what, cf_train_report *rep) {
    cf_model *m3 = NULL, *m5 = NULL, *w = NULL;
    cf_error err = {0};
    c.iters = 3;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m3, NULL, &err), CF_OK, "%s: %s", what, err.msg);
    c.iters = 5;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &m5, NULL, &err), CF_OK, "%s: %s", what, err.msg);
    cf_train_options o;
    cf_train_options_default(&o);
    o.init = m3;
    c.iters = 2;
    cf_train_report local;
    cr_assert_eq(cf_train_ex(ds, &c, &o, NULL, NULL, &w, rep ? rep : &local, &err), CF_OK, "%s: %s", what, err.msg);
    const cf_factors *a = &w->f, *b = &m5->f;
    const size_t K = (size_t)a->k, nu = (size_t)a->n_users, ni = (size_t)a->n_items;
    cr_assert(a->n_users == b->n_users && a->n_items == b->n_items && a->k == b->k, "%s: shapes", what);
    cr_assert(memcmp(a->P, b->P, sizeof(double) * nu * K) == 0, "%s: P", what);
    cr_assert(memcmp(a->Q, b->Q, sizeof(double) * ni * K) == 0, "%s: Q", what);
    cr_assert(memcmp(a->bu, b->bu, sizeof(double) * nu) == 0, "%s: b_u", what);
    cr_assert(memcmp(a->bi, b->bi, sizeof(double) * ni) == 0, "%s: b_i", what);
    cf_model_destroy(&m3), cf_model_destroy(&m5), cf_model_destroy(&w);
}

char *cf_test_checkpoint_as_v1(const char *v2, size_t len, size_t *out_len) {
    cr_assert_gt(len, 348 + 8, "not a version 2 checkpoint: %zu bytes", len);
    char *v1 = malloc(len - 4);
    cr_assert_not_null(v1);
    memcpy(v1, v2, 344);
    memcpy(v1 + 344, v2 + 348, len - 348);
    uint32_t version = 1, hsize = 344;
    memcpy(v1 + 8, &version, 4), memcpy(v1 + 12, &hsize, 4);
    cf_hash64 h;
    cf_hash64_init(&h);
    cf_hash64_update(&h, v1, len - 4 - 8);
    uint64_t sum = cf_hash64_final(&h);
    memcpy(v1 + len - 4 - 8, &sum, 8);
    *out_len = len - 4;
    return v1;
}

/* ---- checkpoint and resume */

int cf_test_stop_cb(const cf_iter_info *info, void *user) {
    (void)info;
    cf_test_stopper *s = user;
    if (++s->calls == s->at) *s->flag = 1;
    return 0;
}

/* |x − y| ≤ tol · max |x| over n values (tol 0: the same bits). */
static void close_array(const double *x, const double *y, size_t n, double tol, const char *what) {
    if (tol == 0) {
        cr_assert(n == 0 || memcmp(x, y, n * sizeof(double)) == 0, "%s differs", what);
        return;
    }
    double scale = 0, worst = 0;
    for (size_t j = 0; j < n; j++) scale = fmax(scale, fabs(x[j]));
    for (size_t j = 0; j < n; j++) worst = fmax(worst, fabs(x[j] - y[j]));
    cr_assert(worst <= tol * scale, "%s differs by %.3g (tolerance %.3g of %.3g)", what, worst, tol, scale);
}

void cf_test_assert_close_model(const cf_model *a, const cf_model *b, double tol) {
    const cf_factors *x = &a->f, *y = &b->f;
    cr_assert_eq(x->n_users, y->n_users);
    cr_assert_eq(x->n_items, y->n_items);
    cr_assert_eq(x->k, y->k);
    size_t nu = (size_t)x->n_users, ni = (size_t)x->n_items, k = (size_t)x->k;
    close_array(x->P, y->P, nu * k, tol, "P");
    close_array(x->Q, y->Q, ni * k, tol, "Q");
    close_array(x->bu, y->bu, nu, tol, "b_u");
    close_array(x->bi, y->bi, ni, tol, "b_i");
    cr_assert(memcmp(&x->mu, &y->mu, sizeof(double)) == 0, "mu differs");
}

void cf_test_assert_same_model(const cf_model *a, const cf_model *b) { cf_test_assert_close_model(a, b, 0.0); }

static void close_value(double x, double y, double tol, const char *what) {
    if (tol == 0)
        cr_assert(memcmp(&x, &y, sizeof(double)) == 0, "%s %.17g vs %.17g", what, x, y);
    else
        cr_assert(fabs(x - y) <= tol * fabs(x), "%s %.17g vs %.17g (relative tolerance %.3g)", what, x, y, tol);
}

void cf_test_assert_close_report(const cf_train_report *a, const cf_train_report *b, double tol) {
    cr_assert_eq(a->iters, b->iters, "iters %d vs %d", a->iters, b->iters);
    cr_assert_str_eq(a->stop_reason, b->stop_reason);
    close_value(a->objective, b->objective, tol, "objective");
    close_value(a->train_rmse, b->train_rmse, tol, "train RMSE");
    close_value(a->test_rmse, b->test_rmse, tol, "test RMSE");
    cr_assert_eq(a->restart, b->restart, "kept run %d vs %d", a->restart, b->restart);
}

void cf_test_assert_same_report(const cf_train_report *a, const cf_train_report *b) {
    cf_test_assert_close_report(a, b, 0.0);
}

char *cf_test_stopped_checkpoint(const char *dir, const char *name, const cf_dataset *ds, const cf_config *c,
                                  int stop_calls, cf_train_report *rep) {
    char *path = cf_test_path(dir, name);
    volatile sig_atomic_t flag = 0;
    cf_test_stopper s = {0, stop_calls, &flag};
    cf_train_options opt;
    cf_train_options_default(&opt);
    opt.checkpoint = path, opt.checkpoint_every = 0, opt.stop = &flag;
    cf_model *none = NULL;
    cf_train_report local;
    cf_error err;
    if (!rep) rep = &local;
    cr_assert_eq(cf_train_ex(ds, c, &opt, cf_test_stop_cb, &s, &none, rep, &err), CF_ERR_INTERRUPTED, "%s", err.msg);
    cr_assert_null(none);
    cr_assert_eq(rep->checkpoints, 1);
    cr_assert_str_eq(rep->stop_reason, "interrupted");
    cr_assert(strstr(err.msg, "interrupted after iteration") && strstr(err.msg, path), "%s", err.msg);
    return path;
}

cf_train_report cf_test_resume_matches(const char *dir, const cf_dataset *ds, cf_config c, int stop_calls,
                                       int resume_threads, double tol, cf_checkpoint_info *ck) {
    cf_error err;
    cf_model *a = NULL, *b = NULL;
    cf_train_report ra, ri, rb;
    cr_assert_eq(cf_train(ds, &c, NULL, NULL, &a, &ra, &err), CF_OK, "%s", err.msg);

    char *path = cf_test_stopped_checkpoint(dir, "run.cfc", ds, &c, stop_calls, &ri);
    cr_assert_eq(cf_checkpoint_info_get(path, ck, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(ck->iter, ri.iters);

    cf_config c2 = c;
    c2.threads = resume_threads;
    cf_train_options ropt;
    cf_train_options_default(&ropt);
    ropt.resume = path;
    cr_assert_eq(cf_train_ex(ds, &c2, &ropt, NULL, NULL, &b, &rb, &err), CF_OK, "%s", err.msg);
    cr_assert_eq(rb.resumed_from, ck->iter);
    const size_t dl = strcspn(ra.device, "("); /* "cpu fp32 avx512 (2 threads)": the threads may differ */
    cr_assert(strncmp(rb.device, ra.device, dl) == 0, "resumed on %s, trained on %s", rb.device, ra.device);
    cf_test_assert_close_model(a, b, tol);
    cf_test_assert_close_report(&ra, &rb, tol);
    cf_model_destroy(&a);
    cf_model_destroy(&b);
    free(path);
    return ra;
}

/* cf_test_gauss_solve (helpers.h) */
void cf_test_gauss_solve(double *A, double *x, int d) {
    for (int c = 0; c < d; c++) {
        int piv = c;
        for (int r = c + 1; r < d; r++)
            if (fabs(A[r * d + c]) > fabs(A[piv * d + c])) piv = r;
        for (int k = 0; k < d; k++) {
            double t = A[c * d + k];
            A[c * d + k] = A[piv * d + k], A[piv * d + k] = t;
        }
        double t = x[c];
        x[c] = x[piv], x[piv] = t;
        for (int r = c + 1; r < d; r++) {
            double m = A[r * d + c] / A[c * d + c];
            for (int k = c; k < d; k++) A[r * d + k] -= m * A[c * d + k];
            x[r] -= m * x[c];
        }
    }
    for (int c = d - 1; c >= 0; c--) {
        for (int k = c + 1; k < d; k++) x[c] -= A[c * d + k] * x[k];
        x[c] /= A[c * d + c];
    }
}
