/*
 * hooks.c — the GPU backend's private entry points for tests and benchmarks (gpu.h):
 * statistics, the Gram matrices and right-hand sides of chosen rows, and the device's
 * SGEMM rate.
 */
#include "gpu_impl.h"

#include <stdlib.h>
#include <string.h>

void cf_gpu_stats_get(cf_backend *b, cf_gpu_stats *out) {
    memset(out, 0, sizeof *out);
    if (!b) return;
    *out = b->stats;
    if (b->alloc_peak > out->alloc_peak_bytes) out->alloc_peak_bytes = b->alloc_peak;
}

void cf_gpu_stats_reset_timers(cf_backend *b) {
    if (!b) return;
    b->stats.gram_ms = b->stats.rhs_ms = b->stats.solve_ms = 0.0;
    b->stats.gram_flops = 0.0;
    b->stats.half_steps = 0;
}

int cf_gpu_system_dim(cf_backend *b) { return b ? b->d : 0; }

cf_status cf_gpu_form_grams(cf_backend *b, cf_side side, const int64_t *rows, int64_t n_rows,
                            float *h_out, cf_error *err) {
    return cf_gpu_form_normal_equations(b, side, rows, n_rows, h_out, NULL, err);
}

cf_status cf_gpu_form_normal_equations(cf_backend *b, cf_side side, const int64_t *rows,
                                       int64_t n_rows, float *h_out, float *h_rhs, cf_error *err) {
    cf_status st = CF_OK;
    cf_gpu_work w;
    memset(&w, 0, sizeof w);
    cf_gram_unit *d_units = NULL;
    cf_gram_reduce *d_red = NULL;
    float *d_A = NULL, *d_rhs = NULL, *d_part = NULL, *h_b = NULL;
    size_t units_bytes = 0, red_bytes = 0, a_bytes = 0, rhs_bytes = 0, part_bytes = 0;
    if (!b || !rows || !h_out)
        return cf_fail(err, CF_ERR_INVALID, "gpu form_grams: %s is NULL",
                       !b ? "backend" : !rows ? "rows" : "h_out");
    if (side != CF_SIDE_USERS && side != CF_SIDE_ITEMS)
        return cf_fail(err, CF_ERR_INVALID, "gpu form_grams: side %d", (int)side);
    const cf_gpu_side *S = &b->side[side], *O = &b->side[1 - side];
    for (int64_t j = 0; j < n_rows; j++)
        if (rows[j] < 0 || rows[j] >= S->n_rows)
            return cf_fail(err, CF_ERR_INVALID, "gpu form_grams: rows[%lld] = %lld, not in 0..%lld",
                           (long long)j, (long long)rows[j], (long long)S->n_rows - 1);
    if (n_rows <= 0) return CF_OK;
    const int64_t seg = b->stats.segment;
    const size_t dd = (size_t)b->d * (size_t)b->d;

    cf_gpu_work_count(S, rows, 0, n_rows, 1, seg, &w);
    if (w.n_slots > INT32_MAX)
        return cf_fail(err, CF_ERR_INVALID, "gpu form_grams: %lld rows need too many slots",
                       (long long)n_rows);
    w.units = cf_malloc((size_t)w.n_units * sizeof *w.units, err, "Gram work units");
    w.red = cf_malloc(((size_t)w.n_red + 1) * sizeof *w.red, err, "Gram reductions");
    if (!w.units || !w.red) {
        st = CF_ERR_NOMEM;
        goto cleanup;
    }
    cf_gpu_work_make(S, rows, 0, n_rows, 1, seg, &b->cfg, b->nnz, &w);
    units_bytes = (size_t)w.n_units * sizeof *w.units;
    red_bytes = (size_t)w.n_red * sizeof *w.red;
    a_bytes = (size_t)w.n_slots * dd * sizeof(float);
    /* unit j (row ≥ 0) writes RHS row j = system j; further segments their slot's part */
    rhs_bytes = (size_t)n_rows * (size_t)b->ld * sizeof(float);
    part_bytes = (size_t)w.n_slots * (size_t)b->ld * sizeof(float);
    if ((st = cf_gpu_alloc(b, (void **)&d_units, units_bytes, "Gram work units", err)) ||
        (st = cf_gpu_alloc(b, (void **)&d_red, red_bytes, "Gram reductions", err)) ||
        (st = cf_gpu_alloc(b, (void **)&d_A, a_bytes, "Gram matrices", err)) ||
        (st = cf_gpu_alloc(b, (void **)&d_rhs, rhs_bytes, "right-hand sides", err)) ||
        (st = cf_gpu_alloc(b, (void **)&d_part, part_bytes, "partial right-hand sides", err)))
        goto cleanup;
    CF_CUDA(cudaMemcpy(d_units, w.units, units_bytes, cudaMemcpyHostToDevice));
    if (red_bytes) CF_CUDA(cudaMemcpy(d_red, w.red, red_bytes, cudaMemcpyHostToDevice));
    CF_LAUNCH(cf_gpu_launch_gram(b, d_units, w.n_units, S, O, d_A, d_rhs, d_part));
    CF_LAUNCH(launch_gram_reduce(d_red, w.n_red, b->d, b->ld, d_A, d_rhs, d_part, b->stream));
    CF_CUDA(cudaStreamSynchronize(b->stream));
    if (h_rhs) {
        h_b = cf_malloc(rhs_bytes, err, "right-hand sides (host)");
        if (!h_b) {
            st = CF_ERR_NOMEM;
            goto cleanup;
        }
        CF_CUDA(cudaMemcpy(h_b, d_rhs, rhs_bytes, cudaMemcpyDeviceToHost));
        for (int64_t j = 0; j < n_rows; j++)
            for (int c = 0; c < b->d; c++) h_rhs[(size_t)j * b->d + c] = h_b[(size_t)j * b->ld + c];
    }
    /* Systems 0..n_rows-1 are the rows in the order given (keep_empty). */
    CF_CUDA(cudaMemcpy(h_out, d_A, (size_t)n_rows * dd * sizeof(float), cudaMemcpyDeviceToHost));
    for (int64_t j = 0; j < n_rows; j++) {
        float *A = h_out + (size_t)j * dd;
        for (int c = 0; c < b->d; c++)
            for (int r = c + 1; r < b->d; r++) A[(size_t)r * b->d + c] = A[(size_t)c * b->d + r];
    }
cleanup:
    cf_gpu_free(b, d_units, units_bytes);
    cf_gpu_free(b, d_red, red_bytes);
    cf_gpu_free(b, d_A, a_bytes);
    cf_gpu_free(b, d_rhs, rhs_bytes);
    cf_gpu_free(b, d_part, part_bytes);
    free(w.units), free(w.red), free(h_b);
    return st;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

cf_status cf_gpu_sgemm_gflops(cf_backend *b, int n, int reps, int tf32, double *gflops,
                              cf_error *err) {
    cf_status st = CF_OK;
    float *d_A = NULL, *d_B = NULL, *d_C = NULL, *h = NULL;
    double *ms = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    const size_t bytes = (size_t)n * (size_t)n * sizeof(float);
    if (!b || !gflops || n < 1 || reps < 1)
        return cf_fail(err, CF_ERR_INVALID, "gpu sgemm_gflops: bad argument (n %d, reps %d)", n, reps);
    *gflops = 0.0;
    h = cf_malloc(bytes, err, "SGEMM operand");
    ms = cf_malloc((size_t)reps * sizeof(double), err, "SGEMM times");
    if (!h || !ms) {
        st = CF_ERR_NOMEM;
        goto cleanup;
    }
    /* Random operands in [-1, 1): never time a product on zeros. */
    cf_rng rng;
    cf_rng_seed(&rng, 12345);
    for (size_t j = 0; j < (size_t)n * (size_t)n; j++) h[j] = (float)(2.0 * cf_rng_uniform(&rng) - 1.0);
    if ((st = cf_gpu_alloc(b, (void **)&d_A, bytes, "SGEMM A", err)) ||
        (st = cf_gpu_alloc(b, (void **)&d_B, bytes, "SGEMM B", err)) ||
        (st = cf_gpu_alloc(b, (void **)&d_C, bytes, "SGEMM C", err)))
        goto cleanup;
    CF_CUDA(cudaMemcpy(d_A, h, bytes, cudaMemcpyHostToDevice));
    CF_CUDA(cudaMemcpy(d_B, h, bytes, cudaMemcpyHostToDevice));
    CF_CUDA(cudaEventCreate(&e0));
    CF_CUDA(cudaEventCreate(&e1));
    /* C = A·B, all n × n column-major: the layouts do not matter for the rate. tf32 lets
     * cuBLAS use TF32 tensor cores (gpulib sets and resets the math mode per call). */
    for (int w = 0; w < 2; w++)
        CF_GPULIB(cf_gpulib_sgemm(b->lib, tf32, n, n, n, 1.0f, d_A, n, d_B, n, 0.0f, d_C, n, err));
    for (int r = 0; r < reps; r++) {
        float t = 0.0f;
        CF_CUDA(cudaEventRecord(e0, b->stream));
        CF_GPULIB(cf_gpulib_sgemm(b->lib, tf32, n, n, n, 1.0f, d_A, n, d_B, n, 0.0f, d_C, n, err));
        CF_CUDA(cudaEventRecord(e1, b->stream));
        CF_CUDA(cudaEventSynchronize(e1));
        CF_CUDA(cudaEventElapsedTime(&t, e0, e1));
        ms[r] = t;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
    *gflops = 2.0 * (double)n * (double)n * (double)n / (ms[reps / 2] * 1e-3) / 1e9;
cleanup:
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    if (b) {
        cf_gpu_free(b, d_A, bytes);
        cf_gpu_free(b, d_B, bytes);
        cf_gpu_free(b, d_C, bytes);
    }
    free(h), free(ms);
    return st;
}

cf_status cf_gpu_copy_bandwidth(cf_backend *b, size_t bytes, int reps, double *gbps, cf_error *err) {
    cf_status st = CF_OK;
    void *d_src = NULL, *d_dst = NULL;
    double *ms = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    if (!b || !gbps || bytes == 0 || reps < 1)
        return cf_fail(err, CF_ERR_INVALID, "gpu copy_bandwidth: bad argument (bytes %zu, reps %d)", bytes, reps);
    *gbps = 0.0;
    ms = cf_malloc((size_t)reps * sizeof(double), err, "copy times");
    if (!ms) return CF_ERR_NOMEM;
    if ((st = cf_gpu_alloc(b, &d_src, bytes, "copy source", err)) ||
        (st = cf_gpu_alloc(b, &d_dst, bytes, "copy destination", err)))
        goto cleanup;
    CF_CUDA(cudaMemsetAsync(d_src, 1, bytes, b->stream));
    CF_CUDA(cudaEventCreate(&e0));
    CF_CUDA(cudaEventCreate(&e1));
    CF_CUDA(cudaMemcpyAsync(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice, b->stream)); /* warm-up */
    for (int r = 0; r < reps; r++) {
        float t = 0.0f;
        CF_CUDA(cudaEventRecord(e0, b->stream));
        CF_CUDA(cudaMemcpyAsync(d_dst, d_src, bytes, cudaMemcpyDeviceToDevice, b->stream));
        CF_CUDA(cudaEventRecord(e1, b->stream));
        CF_CUDA(cudaEventSynchronize(e1));
        CF_CUDA(cudaEventElapsedTime(&t, e0, e1));
        ms[r] = t;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_double);
    /* each byte is read once and written once */
    *gbps = 2.0 * (double)bytes / (ms[reps / 2] * 1e-3) / 1e9;
cleanup:
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cf_gpu_free(b, d_src, bytes);
    cf_gpu_free(b, d_dst, bytes);
    free(ms);
    return st;
}

void cf_gpu_versions(int *driver, int *runtime) {
    int v = 0;
    if (driver) *driver = cudaDriverGetVersion(&v) == cudaSuccess ? v : 0;
    v = 0;
    if (runtime) *runtime = cudaRuntimeGetVersion(&v) == cudaSuccess ? v : 0;
}
