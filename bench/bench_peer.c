/*
 * bench_peer.c — the bench data set for a peer, cuMF_SGD (github.com/cuMF/cumf_sgd), and
 * the peer's model scored on our test split: so that issue 15's comparison with it runs on
 * the same card, the same ratings and the same held-out 1 % as bench_sgd, in the same GPU
 * session (bench/gpu_session.sh step peer-cumf-sgd; bench/build_cumf_sgd.sh builds the peer).
 * No GPU needed: it only writes and reads files.
 *
 *   --export DIR   the training part of the bench set (the Netflix shape by default, through
 *                  the bench cache: the same set, split and seed as bench_sgd's) as cuMF_SGD's
 *                  binary input, records of (i32 user, i32 item, f32 rating), little-endian,
 *                  0-based indices, in user order, cut into --files N files DIR/train.bin0 ..
 *                  DIR/train.binN-1 (cuMF_SGD reads PATH0..PATH79 on a thread each when given
 *                  PATH = DIR/train.bin); the test part the same way as DIR/test.bin. Each
 *                  file is written as NAME.part and renamed: scratch data, not fsync'ed.
 *   --score MODEL  cuMF_SGD's saved model (i32 0, i32 m, i32 n, i32 k, f32 b, then f32
 *                  P[m][k], Q[n][k]: r̂ = p_u·q_i, no biases, in rating units) against the
 *                  test part: RMSE = sqrt(Σ (r − r̂)² / n), in double over the f32 factors; a
 *                  pair beyond the model's m × n is predicted by the training mean and counted
 *                  (unseen). With --peer-log LOG (cuMF_SGD's standard output) it also reads
 *                  the peer's own "update_per_sec:" line (its updates × iterations over the
 *                  process's CPU clock of the training launch, which spins on the GPU: about
 *                  the wall time), and prints one JSON line ("bench":"peer_cumf_sgd") with the
 *                  test RMSE, the unseen count, the rate and --peer-iters, also appended to
 *                  --json FILE.
 */
#include "bench/bench_impl.h"
#include "bench_common.h"
#include "dataset.h"
#include "ratings.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct peer_opts {
    const char *export_dir, *score, *peer_log, *device;
    int32_t files, peer_iters;
} peer_opts;

/* Writes n records (u[k], i[k], r[k]) to path as NAME.part, then renames; exits 1 on failure. */
static void write_records(const char *prog, const char *path, const uint32_t *u, const uint32_t *i, const float *r,
                          int64_t n) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, tmp, strerror(errno));
        exit(1);
    }
    enum { CHUNK = 1 << 16 };
    static unsigned char buf[CHUNK * 12];
    int ok = 1;
    for (int64_t k0 = 0; k0 < n && ok; k0 += CHUNK) {
        const int64_t m = n - k0 < CHUNK ? n - k0 : CHUNK;
        for (int64_t k = 0; k < m; k++) {
            const int32_t uu = (int32_t)u[k0 + k], ii = (int32_t)i[k0 + k];
            memcpy(buf + 12 * k, &uu, 4), memcpy(buf + 12 * k + 4, &ii, 4), memcpy(buf + 12 * k + 8, &r[k0 + k], 4);
        }
        ok = fwrite(buf, 12, (size_t)m, f) == (size_t)m;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, ok ? path : tmp, strerror(errno));
        remove(tmp);
        exit(1);
    }
}

static void export_peer(const bench_common *c, const peer_opts *o, const cf_bench_data *d) {
    const cf_ratings *R = cf_bench_data_train(d);
    const cf_triplets *T = cf_bench_data_test(d);
    /* the CSR's users, one per entry: the training part in user order */
    uint32_t *u = malloc((size_t)(R->nnz ? R->nnz : 1) * sizeof *u);
    if (!u) {
        fprintf(stderr, "%s: out of memory for %lld ratings\n", c->prog, (long long)R->nnz);
        exit(1);
    }
    cf_ratings_entry_users(R, 0, u);
    char path[4096];
    for (int32_t f = 0; f < o->files; f++) {
        const int64_t a = R->nnz * f / o->files, b = R->nnz * (f + 1) / o->files;
        snprintf(path, sizeof path, "%s/train.bin%d", o->export_dir, f);
        write_records(c->prog, path, u + a, R->row_col + a, R->row_val + a, b - a);
    }
    free(u);
    snprintf(path, sizeof path, "%s/test.bin", o->export_dir);
    write_records(c->prog, path, T->u, T->i, T->r, T->n);
    printf("%s: %lld training ratings in %s/train.bin0..%d, %lld test ratings in %s/test.bin\n", c->prog,
           (long long)R->nnz, o->export_dir, o->files - 1, (long long)T->n, o->export_dir);
}

/* The peer's "update_per_sec:X" line from its log; NaN where there is none. */
static double peer_rate(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NAN;
    char line[512];
    double v = NAN;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "update_per_sec:", 15)) v = strtod(line + 15, NULL);
    fclose(f);
    return v;
}

static void score_peer(bench_common *c, const peer_opts *o, const cf_bench_data *d) {
    const cf_ratings *R = cf_bench_data_train(d);
    const cf_triplets *T = cf_bench_data_test(d);
    FILE *f = fopen(o->score, "rb");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", c->prog, o->score, strerror(errno));
        exit(1);
    }
    int32_t h[4];
    float b;
    long size = -1;
    if (fread(h, 4, 4, f) == 4 && fread(&b, 4, 1, f) == 1 && fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    const int64_t m = h[1], n = h[2], k = h[3];
    if (size < 20 || h[0] != 0 || m < 1 || n < 1 || k < 1 || k > 4096 || size != 20 + 4 * k * (m + n) ||
        fseek(f, 20, SEEK_SET) != 0) {
        fprintf(stderr, "%s: %s: not a cuMF_SGD model (header %d %d %d %d, %ld bytes; expected 20 + 4·k·(m + n))\n",
                c->prog, o->score, h[0], h[1], h[2], h[3], size);
        exit(1);
    }
    float *P = malloc((size_t)(m * k) * sizeof *P), *Q = malloc((size_t)(n * k) * sizeof *Q);
    if (!P || !Q || fread(P, sizeof *P, (size_t)(m * k), f) != (size_t)(m * k) ||
        fread(Q, sizeof *Q, (size_t)(n * k), f) != (size_t)(n * k)) {
        fprintf(stderr, "%s: %s: cannot read the factors (%lld × %lld, K %lld)\n", c->prog, o->score, (long long)m,
                (long long)n, (long long)k);
        exit(1);
    }
    fclose(f);
    double sse = 0;
    int64_t unseen = 0;
    for (int64_t t = 0; t < T->n; t++) {
        const int64_t u = T->u[t], i = T->i[t];
        double pred = R->mean;
        if (u < m && i < n) {
            pred = 0;
            for (int64_t x = 0; x < k; x++) pred += (double)P[u * k + x] * (double)Q[i * k + x];
        } else {
            unseen++;
        }
        const double e = (double)T->r[t] - pred;
        sse += e * e;
    }
    free(P), free(Q);
    const double rmse = T->n ? sqrt(sse / (double)T->n) : NAN, rate = o->peer_log ? peer_rate(o->peer_log) : NAN;
    printf("%s: cuMF_SGD model %s (%lld × %lld, K %lld): test RMSE %.9f on %lld ratings (%lld unseen: the training "
           "mean), %.4g updates/s by its own log\n",
           c->prog, o->score, (long long)m, (long long)n, (long long)k, rmse, (long long)T->n, (long long)unseen, rate);
    if (!o->peer_log) return;
    bench_start(c);
    cf_bench_ceilings ceil;
    memset(&ceil, 0, sizeof ceil);
    ceil.copy_gbps = ceil.gemm_gflops = ceil.tf32_gflops = NAN; /* not measured here: null */
    bench_json j;
    bench_json_begin(&j, c, "peer_cumf_sgd", o->device, d, &ceil);
    bench_json_raw(&j, "\"factors\":%lld,\"iters\":%d,", (long long)k, o->peer_iters);
    bench_json_num(&j, "updates_per_sec", rate);
    bench_json_raw(&j, isfinite(rmse) ? "\"test_rmse\":%.9g," : "\"test_rmse\":null,", rmse);
    bench_json_raw(&j, "\"unseen\":%lld,", (long long)unseen);
    bench_json_end(&j, c);
    bench_finish(c);
}

int main(int argc, char **argv) {
    bench_common bc;
    peer_opts o = {.files = 16, .peer_iters = 0, .device = "unknown"};
    const bench_opt own[] = {
        {"export", BOPT_STR, &o.export_dir, 0, 0, 0, "DIR",
         "write the training part as DIR/train.bin0.. and the test part as DIR/test.bin (cuMF_SGD's input)"},
        {"files", BOPT_I32, &o.files, 1, 80, 0, "N", "--export: training files (cuMF_SGD reads one per thread)"},
        {"score", BOPT_STR, &o.score, 0, 0, 0, "MODEL", "cuMF_SGD's model: its test RMSE on the test part"},
        {"peer-log", BOPT_STR, &o.peer_log, 0, 0, 0, "LOG",
         "--score: cuMF_SGD's output (its update_per_sec line); prints a JSON line"},
        {"peer-iters", BOPT_I32, &o.peer_iters, 0, 1 << 20, 0, "N", "--score: the iterations cuMF_SGD ran (-t)"},
        {"device", BOPT_STR, &o.device, 0, 0, 0, "NAME", "--score: the GPU's name, for the JSON line"},
    };
    bench_parse(&bc, "bench_peer",
                "The bench data set as cuMF_SGD's input (--export DIR), and a cuMF_SGD model scored on its test\n"
                "part (--score MODEL): the peer on the same ratings and held-out 1 % as bench_sgd. No GPU needed.",
                own, (int)(sizeof own / sizeof *own), argc, argv);
    if (!o.export_dir && !o.score) {
        fprintf(stderr, "bench_peer: give --export DIR or --score MODEL (see --help)\n");
        return 2;
    }
    cf_bench_data *d = bench_data(&bc, bc.users, bc.ratings, BENCH_SGD_TEST_RATIO, bc.seed + 1); /* bench_sgd's set and split */
    if (o.export_dir) export_peer(&bc, &o, d);
    if (o.score) score_peer(&bc, &o, d);
    cf_bench_data_destroy(&d);
    return 0;
}
