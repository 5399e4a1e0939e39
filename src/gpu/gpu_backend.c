/*
 * gpu_backend.c — the GPU backend's table and life cycle: device choice, the context
 * (stream and the cf_gpulib handle of gpulib.h), upload of R (CSR by user, CSC by
 * item, 64-bit offsets) and of the factors once at open, download of the factors once at
 * the end, and close. The algorithms live in als.c (ALS half-step), sgd.c (SGD epoch),
 * gd.c (GD / mini-batch epoch) and eval.c. The ALS batch plan (Gram buffers sized from
 * the free memory) is made at open for --algo als only; SGD and GD make their state at
 * their first epoch.
 *
 * The factors are resident in fp32 (F = [P | 1 | 0-padding], biases apart, see
 * kernels.h); the host's double-precision cf_factors is converted on upload and
 * download. CUDA is touched only inside these functions, never at load time, so that
 * processes that fork (Criterion's test runner) stay safe.
 *
 * All work is issued on one stream created with default flags, so that it is ordered
 * with the synchronous cudaMemcpy calls of upload/download.
 */
#include "gpu_impl.h"
#include "train.h"

#include "ratings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cf_gpu_lib_caller(cf_error *err, const char *file, int line) {
    if (!err) return;
    size_t len = strlen(err->msg);
    if (len + 1 < sizeof err->msg)
        snprintf(err->msg + len, sizeof err->msg - len, ", called at %s:%d", file, line);
}

cf_status cf_gpu_alloc(cf_backend *b, void **p, size_t bytes, const char *what, cf_error *err) {
    *p = NULL;
    if (bytes == 0) return CF_OK;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        *p = NULL;
        (void)cudaGetLastError();
        return cf_fail(err, CF_ERR_DEVICE, "cudaMalloc(%zu bytes) for %s failed: %s (%s:%d)", bytes,
                       what, cudaGetErrorString(e), __FILE__, __LINE__);
    }
    e = cudaMemsetAsync(*p, 0, bytes, b->stream);
    if (e != cudaSuccess) {
        (void)cudaFree(*p);
        *p = NULL;
        return cf_fail(err, CF_ERR_DEVICE, "cudaMemsetAsync(%zu bytes) for %s failed: %s (%s:%d)",
                       bytes, what, cudaGetErrorString(e), __FILE__, __LINE__);
    }
    b->alloc_bytes += bytes;
    if (b->alloc_bytes > b->alloc_peak) b->alloc_peak = b->alloc_bytes;
    return CF_OK;
}

void cf_gpu_free(cf_backend *b, void *p, size_t bytes) {
    if (!p) return;
    cudaFree(p);
    b->alloc_bytes -= bytes < b->alloc_bytes ? bytes : b->alloc_bytes;
}

void cf_gpu_count_lib_workspace(cf_backend *b) {
    const size_t now = cf_gpulib_workspace_bytes(b->lib);
    if (now <= b->lib_bytes) return;
    b->alloc_bytes += now - b->lib_bytes;
    b->lib_bytes = now;
    if (b->alloc_bytes > b->alloc_peak) b->alloc_peak = b->alloc_bytes;
    if (b->alloc_peak > b->stats.alloc_peak_bytes) b->stats.alloc_peak_bytes = b->alloc_peak;
}

int cf_gpu_available(char *why, size_t why_len) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        if (why && why_len) {
            /* The runtime answers "CUDA driver version is insufficient" also where no
             * NVIDIA driver is loaded at all: say which it is. */
            if (e == cudaErrorNoDevice)
                snprintf(why, why_len, "no CUDA device found");
            else if (e == cudaErrorInsufficientDriver && access("/proc/driver/nvidia/version", F_OK) != 0)
                snprintf(why, why_len, "no NVIDIA driver found (no /proc/driver/nvidia/version)");
            else
                snprintf(why, why_len, "no usable CUDA device: %s", cudaGetErrorString(e));
        }
        return 0;
    }
    /* The kernels are built for compute capability 7.5 and up (CMAKE_CUDA_ARCHITECTURES). */
    for (int dev = 0; dev < count; dev++) {
        int major = 0, minor = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
            major * 10 + minor >= 75)
            return 1;
    }
    if (why && why_len)
        snprintf(why, why_len, count ? "no CUDA device of compute capability 7.5 or newer"
                                     : "no CUDA device found");
    return 0;
}

int cf_gpu_warm_up(int gpu_id) {
    /* cudaFree(NULL) is the runtime's way to create the device's primary context, which
     * every later thread that sets this device shares */
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || gpu_id < 0 || gpu_id >= count ||
        cudaSetDevice(gpu_id) != cudaSuccess || cudaFree(NULL) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    /* the math libraries' one-time start in this process (their first handles load and
     * register their modules): a set of handles made and dropped here leaves the
     * backend's own creation the quick part */
    cf_gpulib *lib = NULL;
    if (cf_gpulib_create(0, &lib, NULL) == CF_OK) cf_gpulib_destroy(&lib);
    (void)cudaGetLastError();
    return 1;
}

static void side_free(cf_backend *b, cf_gpu_side *s) {
    cudaFree(s->d_ptr), cudaFree(s->d_idx), cudaFree(s->d_val), cudaFree(s->d_F), cudaFree(s->d_b);
    cudaFree(s->d_units), cudaFree(s->d_red), cudaFree(s->d_Bptr), cudaFree(s->d_info);
    free(s->h_sys_row), free(s->batches);
    (void)b;
    memset(s, 0, sizeof *s);
}

static void gpu_close(cf_backend *b) {
    if (!b) return;
    /* Errors are ignored here: close must release what it can. */
    if (b->stream) cudaStreamSynchronize(b->stream);
    cf_gpu_sgd_free(b);
    cf_gpu_gd_free(b);
    cudaFree(b->d_bad);
    for (int sd = 0; sd < 2; sd++) side_free(b, &b->side[sd]);
    cudaFree(b->d_test_u), cudaFree(b->d_test_i), cudaFree(b->d_test_r);
    cudaFree(b->d_gram), cudaFree(b->d_Aptr), cudaFree(b->d_rhs), cudaFree(b->d_rhs_part);
    cudaFree(b->d_potrs_info), cudaFree(b->d_partial);
    free(b->h_info);
    for (int j = 0; j < (int)(sizeof b->ev / sizeof *b->ev); j++)
        if (b->ev[j]) cudaEventDestroy(b->ev[j]);
    cf_gpulib_destroy(&b->lib);
    if (b->stream) cudaStreamDestroy(b->stream);
    (void)cudaGetLastError();
    free(b);
}

/* Host factors (double) → device F (fp32, ones column with biases, zero padding) and b. */
static cf_status upload_side(cf_backend *b, cf_gpu_side *s, const double *X, const double *bx,
                             float *h, cf_error *err) {
    cf_status st = CF_OK;
    const int k = b->k, ld = b->ld;
    for (int64_t r = 0; r < s->n_rows; r++) {
        float *row = h + (size_t)r * (size_t)ld;
        for (int c = 0; c < k; c++) row[c] = (float)X[(size_t)r * (size_t)k + (size_t)c];
        for (int c = k; c < ld; c++) row[c] = 0.0f;
        if (b->bias) row[k] = 1.0f;
    }
    if (s->n_rows)
        CF_CUDA(cudaMemcpy(s->d_F, h, (size_t)s->n_rows * (size_t)ld * sizeof(float),
                           cudaMemcpyHostToDevice));
    for (int64_t r = 0; r < s->n_rows; r++) h[r] = b->bias ? (float)bx[r] : 0.0f;
    if (s->n_rows)
        CF_CUDA(cudaMemcpy(s->d_b, h, (size_t)s->n_rows * sizeof(float), cudaMemcpyHostToDevice));
cleanup:
    return st;
}

static cf_status check_dims(const cf_backend *b, const cf_factors *f, const char *what,
                            cf_error *err) {
    if (!f) return cf_fail(err, CF_ERR_INVALID, "%s: factors are NULL", what);
    if (f->n_users != b->side[CF_SIDE_USERS].n_rows || f->n_items != b->side[CF_SIDE_ITEMS].n_rows ||
        f->k != b->k || (f->bias != 0) != (b->bias != 0))
        return cf_fail(err, CF_ERR_INVALID,
                       "%s: factors are %lld users × %lld items, K = %d, bias %d; the GPU backend "
                       "holds %lld × %lld, K = %d, bias %d",
                       what, (long long)f->n_users, (long long)f->n_items, f->k, f->bias,
                       (long long)b->side[0].n_rows, (long long)b->side[1].n_rows, b->k, b->bias);
    return CF_OK;
}

static cf_status gpu_upload(cf_backend *b, const cf_factors *in, cf_error *err) {
    if (!b) return cf_fail(err, CF_ERR_INVALID, "gpu upload: backend is NULL");
    cf_status st = check_dims(b, in, "gpu upload", err);
    if (st) return st;
    int64_t n = b->side[0].n_rows > b->side[1].n_rows ? b->side[0].n_rows : b->side[1].n_rows;
    float *h = cf_malloc(((size_t)n * (size_t)b->ld + 1) * sizeof(float), err, "factor staging");
    if (!h) return CF_ERR_NOMEM;
    st = upload_side(b, &b->side[CF_SIDE_USERS], in->P, in->bu, h, err);
    if (!st) st = upload_side(b, &b->side[CF_SIDE_ITEMS], in->Q, in->bi, h, err);
    if (!st) b->mu = b->bias ? in->mu : 0.0;
    b->fp16_stale = 1; /* SGD's fp16 copies are rebuilt from F at the next epoch */
    free(h);
    return st;
}

static cf_status download_side(cf_backend *b, const cf_gpu_side *s, double *X, double *bx, float *h,
                               cf_error *err) {
    cf_status st = CF_OK;
    const int k = b->k, ld = b->ld;
    if (!s->n_rows) return CF_OK;
    CF_CUDA(cudaMemcpy(h, s->d_F, (size_t)s->n_rows * (size_t)ld * sizeof(float),
                       cudaMemcpyDeviceToHost));
    for (int64_t r = 0; r < s->n_rows; r++)
        for (int c = 0; c < k; c++)
            X[(size_t)r * (size_t)k + (size_t)c] = (double)h[(size_t)r * (size_t)ld + (size_t)c];
    CF_CUDA(cudaMemcpy(h, s->d_b, (size_t)s->n_rows * sizeof(float), cudaMemcpyDeviceToHost));
    for (int64_t r = 0; r < s->n_rows; r++) bx[r] = b->bias ? (double)h[r] : 0.0;
cleanup:
    return st;
}

static cf_status gpu_download(cf_backend *b, cf_factors *out, cf_error *err) {
    if (!b) return cf_fail(err, CF_ERR_INVALID, "gpu download: backend is NULL");
    cf_status st = check_dims(b, out, "gpu download", err);
    if (st) return st;
    int64_t n = b->side[0].n_rows > b->side[1].n_rows ? b->side[0].n_rows : b->side[1].n_rows;
    float *h = cf_malloc(((size_t)n * (size_t)b->ld + 1) * sizeof(float), err, "factor staging");
    if (!h) return CF_ERR_NOMEM;
    st = download_side(b, &b->side[CF_SIDE_USERS], out->P, out->bu, h, err);
    if (!st) st = download_side(b, &b->side[CF_SIDE_ITEMS], out->Q, out->bi, h, err);
    if (!st) out->mu = b->mu;
    free(h);
    return st;
}

static const char *gpu_device_name(cf_backend *b) { return b ? b->name : "gpu"; }
static const char *gpu_notice(cf_backend *b) { return b ? b->notice : ""; }

static size_t side_data_bytes(const cf_backend *b, const cf_gpu_side *s) {
    return ((size_t)s->n_rows + 1) * sizeof(int64_t) + (size_t)s->nnz * (sizeof(uint32_t) + sizeof(float)) +
           (size_t)s->n_rows * ((size_t)b->ld + 1) * sizeof(float);
}

static cf_status upload_csr(cf_backend *b, cf_gpu_side *s, const int64_t *ptr, const uint32_t *idx,
                            const float *val, cf_error *err) {
    cf_status st = CF_OK;
    if ((st = cf_gpu_alloc(b, (void **)&s->d_ptr, ((size_t)s->n_rows + 1) * sizeof(int64_t),
                           "offsets", err)) ||
        (st = cf_gpu_alloc(b, (void **)&s->d_idx, (size_t)s->nnz * sizeof(uint32_t), "indices",
                           err)) ||
        (st = cf_gpu_alloc(b, (void **)&s->d_val, (size_t)s->nnz * sizeof(float), "ratings", err)) ||
        (st = cf_gpu_alloc(b, (void **)&s->d_F, (size_t)s->n_rows * (size_t)b->ld * sizeof(float),
                           "factors", err)) ||
        (st = cf_gpu_alloc(b, (void **)&s->d_b, (size_t)s->n_rows * sizeof(float), "biases", err)))
        return st;
    CF_CUDA(cudaMemcpy(s->d_ptr, ptr, ((size_t)s->n_rows + 1) * sizeof(int64_t),
                       cudaMemcpyHostToDevice));
    if (s->nnz) {
        CF_CUDA(cudaMemcpy(s->d_idx, idx, (size_t)s->nnz * sizeof(uint32_t), cudaMemcpyHostToDevice));
        CF_CUDA(cudaMemcpy(s->d_val, val, (size_t)s->nnz * sizeof(float), cudaMemcpyHostToDevice));
    }
cleanup:
    return st;
}

void cf_gpu_tuning_default(cf_gpu_tuning *t) {
    memset(t, 0, sizeof *t);
    t->segment = CF_GPU_DEFAULT_SEGMENT;
}

cf_status cf_gpu_open_tuned(const cf_ratings *train, const cf_triplets *test, const cf_config *cfg,
                            const cf_factors *init, const cf_gpu_tuning *tune, cf_backend **out,
                            cf_error *err) {
    cf_status st = CF_OK;
    cf_backend *b = NULL;
    if (!out) return cf_fail(err, CF_ERR_INVALID, "gpu open: out is NULL");
    *out = NULL;
    if (!train || !cfg || !init)
        return cf_fail(err, CF_ERR_INVALID, "gpu open: %s is NULL",
                       !train ? "train" : !cfg ? "cfg" : "init");
    if ((st = cf_config_validate(cfg, err))) return st;
    if (train->n_users > INT32_MAX || train->n_items > INT32_MAX)
        return cf_fail(err, CF_ERR_INVALID,
                       "gpu open: %lld users × %lld items; the GPU backend takes at most 2^31−1 "
                       "of each",
                       (long long)train->n_users, (long long)train->n_items);
    int64_t n_test = test ? test->n : 0;
    for (int64_t j = 0; j < n_test; j++)
        if ((int64_t)test->u[j] >= train->n_users || (int64_t)test->i[j] >= train->n_items)
            return cf_fail(err, CF_ERR_INVALID,
                           "gpu open: test rating %lld has index (%u, %u) outside the %lld × %lld "
                           "matrix",
                           (long long)j, test->u[j], test->i[j], (long long)train->n_users,
                           (long long)train->n_items);

    b = cf_calloc(1, sizeof *b, err, "GPU backend");
    if (!b) return CF_ERR_NOMEM;
    cf_config_resolve_ratings(cfg, train, &b->cfg); /* batch, optimizer left to be chosen */
    b->R = train;
    b->k = cfg->factors;
    b->bias = cfg->bias ? 1 : 0;
    b->d = b->k + b->bias;
    b->ld = (b->d + 3) / 4 * 4;
    b->nnz = train->nnz;
    b->n_test = n_test;
    b->solve_chunk = CF_GPU_SOLVE_CHUNK;
    if (tune)
        b->tune = *tune;
    else
        cf_gpu_tuning_default(&b->tune);
    /* --gpu-mem-limit, unless a test's tuning sets its own */
    if (!b->tune.mem_limit && cfg->gpu_mem_limit)
        b->tune.mem_limit = cfg->gpu_mem_limit > SIZE_MAX ? SIZE_MAX : (size_t)cfg->gpu_mem_limit;
    snprintf(b->name, sizeof b->name, "gpu");
    cf_gpu_side *U = &b->side[CF_SIDE_USERS], *I = &b->side[CF_SIDE_ITEMS];
    U->name = "user", U->n_rows = train->n_users, U->n_other = train->n_items;
    U->nnz = train->nnz, U->h_ptr = train->row_ptr;
    I->name = "item", I->n_rows = train->n_items, I->n_other = train->n_users;
    I->nnz = train->nnz, I->h_ptr = train->col_ptr;
    if ((st = check_dims(b, init, "gpu open: init", err))) goto cleanup;

    /* Device and context. */
    int count = 0;
    CF_CUDA(cudaGetDeviceCount(&count));
    if (cfg->gpu_id >= count) {
        st = cf_fail(err, CF_ERR_DEVICE, "gpu_id: %d, but %d CUDA device(s) are visible",
                     cfg->gpu_id, count);
        goto cleanup;
    }
    b->device = cfg->gpu_id;
    CF_CUDA(cudaSetDevice(b->device));
    struct cudaDeviceProp prop;
    CF_CUDA(cudaGetDeviceProperties(&prop, b->device));
    snprintf(b->name, sizeof b->name, "%.96s (GPU %d, sm_%d%d)", prop.name, b->device, prop.major,
             prop.minor);
    b->sm_count = prop.multiProcessorCount;
    if (cfg->algo == CF_ALGO_ALS && cfg->als_gram == CF_ALS_GRAM_TC) {
        char why[160] = "";
        b->gram_tc = cf_gram_tc_supported(b->d, why, sizeof why);
        if (!b->gram_tc)
            snprintf(b->notice, sizeof b->notice, "--als-gram tc: %s; using the SIMT Gram (kernels/gram.cu)", why);
    }
    /* blocks runs one warp per block of a wave: a B below the SM count leaves most of the
     * device idle (the CLI's default B = 8 is the CPU's), where the data would allow more */
    if (cfg->algo == CF_ALGO_SGD && cfg->schedule == CF_SCHED_BLOCKS && cfg->blocks < b->sm_count &&
        (train->n_users < train->n_items ? train->n_users : train->n_items) > cfg->blocks)
        snprintf(b->notice, sizeof b->notice,
                 "--schedule blocks --blocks %d runs %d warps at a time on this GPU's %d SMs: a larger --blocks "
                 "(e.g. 1024, at most min(users, items)) keeps it busy",
                 cfg->blocks, cfg->blocks, b->sm_count);
    CF_CUDA(cudaStreamCreate(&b->stream));
    CF_GPULIB(cf_gpulib_create(b->stream, &b->lib, err));
    if (b->tune.timing)
        for (int j = 0; j < (int)(sizeof b->ev / sizeof *b->ev); j++)
            CF_CUDA(cudaEventCreate(&b->ev[j]));

    /* Plan against the free memory, before anything large is allocated. */
    size_t free_bytes = 0, total_bytes = 0;
    CF_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    size_t data = side_data_bytes(b, U) + side_data_bytes(b, I) +
                  (size_t)n_test * (2 * sizeof(uint32_t) + sizeof(float)) +
                  CF_REDUCE_BLOCKS * CF_EVAL_SUMS * sizeof(double);
    if (cfg->algo == CF_ALGO_ALS) {
        if ((st = cf_gpu_plan(b, free_bytes, data, err))) goto cleanup;
        b->planned = 1;
    } else {
        b->stats.segment = b->tune.segment > 0 ? b->tune.segment : CF_GPU_DEFAULT_SEGMENT;
        if (data > free_bytes) {
            st = cf_fail(err, CF_ERR_DEVICE, "%s: needs %zu bytes for the data, %zu free; try --device cpu",
                         b->name, data, free_bytes);
            goto cleanup;
        }
    }

    /* Resident data. */
    if ((st = upload_csr(b, U, train->row_ptr, train->row_col, train->row_val, err)) ||
        (st = upload_csr(b, I, train->col_ptr, train->col_row, train->col_val, err)))
        goto cleanup;
    if (n_test) {
        if ((st = cf_gpu_alloc(b, (void **)&b->d_test_u, (size_t)n_test * sizeof(uint32_t),
                               "test users", err)) ||
            (st = cf_gpu_alloc(b, (void **)&b->d_test_i, (size_t)n_test * sizeof(uint32_t),
                               "test items", err)) ||
            (st = cf_gpu_alloc(b, (void **)&b->d_test_r, (size_t)n_test * sizeof(float),
                               "test ratings", err)))
            goto cleanup;
        CF_CUDA(cudaMemcpy(b->d_test_u, test->u, (size_t)n_test * sizeof(uint32_t),
                           cudaMemcpyHostToDevice));
        CF_CUDA(cudaMemcpy(b->d_test_i, test->i, (size_t)n_test * sizeof(uint32_t),
                           cudaMemcpyHostToDevice));
        CF_CUDA(cudaMemcpy(b->d_test_r, test->r, (size_t)n_test * sizeof(float),
                           cudaMemcpyHostToDevice));
    }
    if ((st = cf_gpu_alloc(b, (void **)&b->d_partial, CF_REDUCE_BLOCKS * CF_EVAL_SUMS * sizeof(double),
                           "reduction partials", err)) ||
        (st = cf_gpu_alloc(b, (void **)&b->d_bad, 2 * CF_REDUCE_BLOCKS * sizeof(int64_t),
                           "NaN guard partials", err)) ||
        (b->planned && (st = cf_gpu_plan_alloc(b, err))) || (st = gpu_upload(b, init, err)))
        goto cleanup;
    CF_CUDA(cudaStreamSynchronize(b->stream));

    b->stats.alloc_peak_bytes = b->alloc_peak;
    b->stats.device_total_bytes = total_bytes;
    b->stats.sm_count = b->sm_count;
    *out = b;
    return CF_OK;
cleanup:
    gpu_close(b);
    return st;
}

static cf_status gpu_open(const cf_ratings *train, const cf_triplets *test, const cf_config *cfg,
                          const cf_factors *init, cf_backend **out, cf_error *err) {
    return cf_gpu_open_tuned(train, test, cfg, init, NULL, out, err);
}

static void gpu_set_stop(cf_backend *b, const volatile sig_atomic_t *stop) { b->stop = stop; }

/* Checkpoints: ALS and SGD keep nothing beyond the factors (SGD's orders come from (seed,
 * epoch); with fp16 storage F holds the halves' values after every epoch, so the factors a
 * checkpoint downloads are the halves exactly and an upload rebuilds the same halves); GD
 * and mini-batch hand over their Adam state (gd.c). The factors themselves travel through
 * download / upload: fp32 on the device, exact in the checkpoint's doubles. */
static cf_status gpu_state_export(cf_backend *b, cf_solver_state *out, cf_error *err) {
    if (b->cfg.algo == CF_ALGO_GD || b->cfg.algo == CF_ALGO_MINIBATCH) return cf_gpu_gd_state_export(b, out, err);
    memset(out, 0, sizeof *out);
    return CF_OK;
}

static cf_status gpu_state_import(cf_backend *b, const cf_solver_state *in, cf_error *err) {
    if (b->cfg.algo == CF_ALGO_GD || b->cfg.algo == CF_ALGO_MINIBATCH) return cf_gpu_gd_state_import(b, in, err);
    if (in->counter != 0 || in->has_moments)
        return cf_fail(err, CF_ERR_INVALID, "gpu backend: %s keeps no solver state, the checkpoint has one",
                       cf_algo_name(b->cfg.algo));
    return CF_OK;
}

cf_status cf_gpu_stop_poll(cf_backend *b, const char *algo, cf_error *err) {
    if (!b->stop || !*b->stop) return CF_OK;
    cudaStreamSynchronize(b->stream); /* nothing of the abandoned step still runs */
    (void)cudaGetLastError();
    return cf_fail(err, CF_ERR_INTERRUPTED, "%s: interrupted inside the step", algo);
}

static const cf_backend_ops gpu_ops = {
    .name = "gpu",
    .open = gpu_open,
    .als_half = cf_gpu_als_half,
    .alsgd_half = NULL,
    .sgd_epoch = cf_gpu_sgd_epoch,
    .gd_epoch = cf_gpu_gd_epoch,
    .ccd_sweep = NULL,
    .evaluate = cf_gpu_evaluate,
    .evaluate_all = cf_gpu_evaluate_all,
    .download = gpu_download,
    .upload = gpu_upload,
    .state_export = gpu_state_export,
    .state_import = gpu_state_import,
    .device_name = gpu_device_name,
    .notice = gpu_notice,
    .close = gpu_close,
    .set_stop = gpu_set_stop,
};

const cf_backend_ops *cf_gpu_backend(void) { return &gpu_ops; }
