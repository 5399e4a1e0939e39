/* config.c — defaults, validation and enum names of cf_config. */
#include "common.h"
#include "dataset.h"
#include "ratings.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cf_config_default(cf_config *c) {
    memset(c, 0, sizeof *c);
    c->algo = CF_ALGO_ALS;
    c->factors = 32;
    c->iters = 0; /* the algorithm's own (cf_config_resolve) */
    c->lambda = 0.1;
    c->reg = CF_REG_WEIGHTED;
    c->bias_lambda = NAN; /* λ (cf_config_resolve) */
    c->bias_reg = CF_REG_SAME;
    c->bias = 1;
    c->tol = 0.0;
    c->seed = 42;
    c->threads = 0;
    c->init_scale = 0.1;
    c->device = CF_DEVICE_AUTO;
    c->gpu_id = 0;
    c->gpu_mem_limit = 0;
    c->lr = 0.0; /* chosen for the algorithm and the data (cf_config_resolve) */
    c->lr_schedule = CF_LR_CONST;
    c->lr_decay = 0.3;
    c->schedule = CF_SCHED_SHUFFLE;
    c->blocks = 8;
    c->batch = 0; /* ⌈|Ω|/20⌉ */
    c->optimizer = CF_OPT_AUTO;
    c->inner = 5;
    c->early_stop = 0;
    c->restarts = 1;
    c->precision = CF_PRECISION_FP32;
    c->als_solver = CF_ALS_SOLVER_CUSOLVER;
    c->als_gram = CF_ALS_GRAM_SIMT;
}

#define BAD(...) return cf_fail(err, CF_ERR_INVALID, __VA_ARGS__)

cf_status cf_config_validate(const cf_config *c, cf_error *err) {
    if (!c) BAD("config: NULL");
    if ((unsigned)c->algo > CF_ALGO_CCD) BAD("algo: unknown value %d", (int)c->algo);
    if (c->factors < 1 || c->factors > 4096) BAD("factors: %d, must be in 1..4096", c->factors);
    if (c->iters < 0 || c->iters > 1000000)
        BAD("iters: %d, must be in 1..1000000 (0 = the algorithm's default)", c->iters);
    if (!isfinite(c->lambda) || c->lambda < 0) BAD("lambda: %g, must be a finite value >= 0", c->lambda);
    if ((unsigned)c->reg > CF_REG_MEAN) BAD("reg: unknown value %d", (int)c->reg);
    if (isinf(c->bias_lambda) || c->bias_lambda < 0)
        BAD("bias_lambda: %g, must be a finite value >= 0 (NaN: lambda's)", c->bias_lambda);
    if ((unsigned)c->bias_reg > CF_REG_SAME) BAD("bias_reg: unknown value %d", (int)c->bias_reg);
    if (!c->bias && !cf_bias_reg_same(c))
        BAD("bias_lambda / bias_reg: set, but the biases are off (bias 0, --no-bias): they regularize b_u and b_i");
    if (c->bias != 0 && c->bias != 1) BAD("bias: %d, must be 0 or 1", c->bias);
    if (!isfinite(c->tol) || c->tol < 0) BAD("tol: %g, must be a finite value >= 0", c->tol);
    if (c->threads < 0 || c->threads > 4096) BAD("threads: %d, must be in 0..4096 (0 = all cores)", c->threads);
    if (!isfinite(c->init_scale) || c->init_scale <= 0) BAD("init_scale: %g, must be > 0", c->init_scale);
    if ((unsigned)c->device > CF_DEVICE_GPU) BAD("device: unknown value %d", (int)c->device);
    if (c->gpu_id < 0) BAD("gpu_id: %d, must be >= 0", c->gpu_id);
    if (c->gpu_mem_limit != 0 && c->gpu_mem_limit < CF_GPU_MEM_LIMIT_MIN)
        BAD("gpu_mem_limit: %llu bytes, must be 0 (no limit) or at least %llu (1 MiB)",
            (unsigned long long)c->gpu_mem_limit, (unsigned long long)CF_GPU_MEM_LIMIT_MIN);
    if (!isfinite(c->lr) || c->lr < 0)
        BAD("lr: %g, must be a finite value > 0 (0 = chosen for the algorithm)", c->lr);
    if ((unsigned)c->lr_schedule > CF_LR_INVSCALE) BAD("lr_schedule: unknown value %d", (int)c->lr_schedule);
    if (!isfinite(c->lr_decay) || c->lr_decay < 0) BAD("lr_decay: %g, must be a finite value >= 0", c->lr_decay);
    if ((unsigned)c->schedule > CF_SCHED_HOGWILD) BAD("schedule: unknown value %d", (int)c->schedule);
    if (c->blocks < 1 || c->blocks > 4096) BAD("blocks: %d, must be in 1..4096", c->blocks);
    if (c->batch < 0) BAD("batch: %lld, must be >= 1 (0 = a twentieth of the ratings)", (long long)c->batch);
    if ((unsigned)c->optimizer > CF_OPT_AUTO) BAD("optimizer: unknown value %d", (int)c->optimizer);
    if (c->inner < 1 || c->inner > 100000) BAD("inner: %d, must be in 1..100000", c->inner);
    if (c->early_stop < 0) BAD("early_stop: %d, must be >= 0 (0 disables)", c->early_stop);
    if (c->restarts < 1 || c->restarts > 1000) BAD("restarts: %d, must be in 1..1000", c->restarts);
    if ((unsigned)c->precision > CF_PRECISION_FP64) BAD("precision: unknown value %d", (int)c->precision);
    if (c->precision == CF_PRECISION_FP16 && c->algo != CF_ALGO_SGD)
        BAD("precision: fp16 is implemented for --algo sgd only (on the GPU), not for --algo %s; "
            "use --precision fp32", cf_algo_name(c->algo));
    if (c->precision == CF_PRECISION_FP16 && c->device == CF_DEVICE_CPU)
        BAD("precision: fp16 factor storage is GPU-only; the CPU computes in fp32 or, with "
            "--precision fp64, in double (use --device gpu or --precision fp32)");
    if (c->precision == CF_PRECISION_FP64 && c->device == CF_DEVICE_GPU)
        BAD("precision: fp64 is the CPU's double-precision reference; the GPU computes in fp32 "
            "(use --device cpu or auto, or --precision fp32)");
    if ((unsigned)c->als_solver > CF_ALS_SOLVER_FUSED) BAD("als_solver: unknown value %d", (int)c->als_solver);
    if ((unsigned)c->als_gram > CF_ALS_GRAM_TC) BAD("als_gram: unknown value %d", (int)c->als_gram);
    return CF_OK;
}

/* cf_config_resolve: the rules are in cufactor.h. Why these:
 *  - gd with a fixed plain step diverges where a row has many ratings: the sum objective's
 *    curvature along b_i is 2 n_i, so a stable plain η is below about 1/(2 max n), and
 *    then the rows with few ratings barely move. Adam divides each parameter's step by
 *    the root mean square of its own gradient, so the step is η in parameter units for
 *    every row whatever its count; 50 full steps of 0.02 reach the ALS test RMSE within
 *    5 % on the generated shapes (tests/test_defaults.c).
 *  - minibatch: the same with 20 batches per epoch, so that 5 epochs are 100 steps on any
 *    size (with a fixed batch of 10 000 a 2 M set took 200 steps per epoch, a 100 k one 10).
 *  - sgd: a per-rating step is bounded by that rating's own curvature (≈ ‖q‖² + 1 with
 *    factors of order 1), not by a row's count, so a step of 0.05–0.1 is stable at rating
 *    scale; a constant one stops improving the test RMSE early and then overfits (0.05
 *    constant, no biases, 20 epochs: 0.933 on a MovieLens-100k-shaped set and 0.723 on a
 *    10 M one, where LIBMF's adaptive step reaches 0.862 and 0.647). The chosen step
 *    therefore decays: η_t = η_0 / (1 + β t^1.5) with β = lr_decay (0.3 by default) and
 *    η_0 = 0.2 with biases, 0.1 without. Without biases p·q carries the whole rating level
 *    (≈ 3.5), so ‖q‖², the per-rating curvature, is several times larger and the step
 *    half as large: 0.854 and 0.650 there (K = 64, 20 epochs; bench/results/cpu32-*.md),
 *    where η_0 = 0.15 gave 0.887 on the first; with biases 0.2 ends at or below ALS on the
 *    three generated shapes of tests/test_defaults.c (15 epochs: 0.847, 0.813, 0.807
 *    against ALS's 0.862, 0.822, 0.807; the former constant 0.05: 0.861, 0.827, 0.821),
 *    where 0.1 stopped 6.9 % above ALS on the power-law one. It takes the invscale
 *    schedule when lr_schedule is left const (the default); an explicit lr keeps the
 *    schedule asked for.
 *  - plain gd / minibatch with no --lr: η = 1 / (2 C) with C = 2 max_row (2 n_row + max(Λ_row, Λb_row)),
 *    a Gershgorin bound of the Hessian of L on the biases at small factors. */
static void resolve_counts(const cf_config *in, int64_t n_train, int64_t max_user, int64_t max_item,
                           cf_config *out) {
    *out = *in;
    out->bias_lambda = cf_bias_lambda(in);
    out->bias_reg = cf_bias_reg(in);
    const int grad = in->algo == CF_ALGO_GD || in->algo == CF_ALGO_MINIBATCH;
    if (out->iters == 0) {
        switch (in->algo) {
        case CF_ALGO_SGD: out->iters = 15; break;
        case CF_ALGO_GD: out->iters = 50; break;
        case CF_ALGO_MINIBATCH: out->iters = 5; break;
        default: out->iters = 15; break;
        }
    }
    /* auto: Adam when the step is chosen too; with an explicit lr the plain step it always
     * meant (so a too-large explicit lr still stops with the non-finite error) */
    if (out->optimizer == CF_OPT_AUTO) out->optimizer = grad && in->lr == 0 ? CF_OPT_ADAM : CF_OPT_PLAIN;
    if (out->batch == 0)
        out->batch = in->algo == CF_ALGO_MINIBATCH && n_train > 0 ? (n_train + 19) / 20 : 10000;
    if (out->lr == 0) {
        if (in->algo == CF_ALGO_SGD) {
            out->lr = in->bias ? 0.2 : 0.1;
            out->lr_schedule = CF_LR_INVSCALE;
        } else if (grad && out->optimizer == CF_OPT_ADAM) {
            out->lr = 0.02;
        } else if (grad) {
            int64_t nn = n_train > 0 ? n_train : 1, mu = max_user > 0 ? max_user : 1, mi = max_item > 0 ? max_item : 1;
            /* the larger of the two regularizations (Λb = Λ unless the biases have their own) */
            double cu = 2.0 * (double)mu + fmax(cf_reg_lambda(in->reg, in->lambda, mu, nn), cf_bias_reg_lambda(in, mu, nn));
            double ci = 2.0 * (double)mi + fmax(cf_reg_lambda(in->reg, in->lambda, mi, nn), cf_bias_reg_lambda(in, mi, nn));
            out->lr = 1.0 / (4.0 * (cu > ci ? cu : ci));
        } else {
            out->lr = 0.01; /* unused by als, alsgd, ccd; the value of earlier versions */
        }
    }
}

void cf_config_resolve(const cf_config *in, const struct cf_dataset *ds, cf_config *out) {
    int64_t n = 0, max_user = 0, max_item = 0;
    /* only gd and minibatch choose anything from the counts (resolve_counts): the others
     * skip a pass over every rating (0.2 s for 100 M) */
    if (ds && (in->algo == CF_ALGO_GD || in->algo == CF_ALGO_MINIBATCH)) {
        int64_t nu = cf_idmap_size(ds->users), ni = cf_idmap_size(ds->items);
        int64_t *cu = calloc((size_t)nu + 1, sizeof *cu), *ci = calloc((size_t)ni + 1, sizeof *ci);
        for (int64_t k = 0; cu && ci && k < ds->all.n; k++) {
            if (ds->is_test[k]) continue;
            n++;
            if (++cu[ds->all.u[k]] > max_user) max_user = cu[ds->all.u[k]];
            if (++ci[ds->all.i[k]] > max_item) max_item = ci[ds->all.i[k]];
        }
        free(cu), free(ci);
    }
    resolve_counts(in, n, max_user, max_item, out);
}

void cf_config_resolve_ratings(const cf_config *in, const cf_ratings *R, cf_config *out) {
    int64_t max_user = 0, max_item = 0;
    for (int64_t u = 0; u < R->n_users; u++)
        if (R->row_ptr[u + 1] - R->row_ptr[u] > max_user) max_user = R->row_ptr[u + 1] - R->row_ptr[u];
    for (int64_t i = 0; i < R->n_items; i++)
        if (R->col_ptr[i + 1] - R->col_ptr[i] > max_item) max_item = R->col_ptr[i + 1] - R->col_ptr[i];
    resolve_counts(in, R->nnz, max_user, max_item, out);
}

static const char *const algo_names[] = {"als", "sgd", "gd", "minibatch", "alsgd", "ccd"};
static const char *const reg_names[] = {"plain", "weighted", "mean", "same"}; /* "same": bias_reg only */
static const char *const device_names[] = {"auto", "cpu", "gpu"};
static const char *const precision_names[] = {"fp32", "fp16", "fp64"};
static const char *const als_solver_names[] = {"cusolver", "fused"};

static int parse_name(const char *s, const char *const *names, int n) {
    for (int k = 0; s && k < n; k++)
        if (strcmp(s, names[k]) == 0) return k;
    return -1;
}

#define NAME_OF(arr, v) ((unsigned)(v) < sizeof arr / sizeof *arr ? arr[v] : "?")

const char *cf_algo_name(cf_algo a) { return NAME_OF(algo_names, a); }
const char *cf_reg_name(cf_reg r) { return NAME_OF(reg_names, r); }
const char *cf_device_name(cf_device d) { return NAME_OF(device_names, d); }
const char *cf_precision_name(cf_precision p) { return NAME_OF(precision_names, p); }
const char *cf_als_solver_name(cf_als_solver s) { return NAME_OF(als_solver_names, s); }

int cf_algo_parse(const char *s, cf_algo *out) {
    int k = parse_name(s, algo_names, 6);
    if (k < 0) return -1;
    *out = (cf_algo)k;
    return 0;
}
int cf_reg_parse(const char *s, cf_reg *out) {
    int k = parse_name(s, reg_names, 3);
    if (k < 0) return -1;
    *out = (cf_reg)k;
    return 0;
}
int cf_device_parse(const char *s, cf_device *out) {
    int k = parse_name(s, device_names, 3);
    if (k < 0) return -1;
    *out = (cf_device)k;
    return 0;
}
int cf_precision_parse(const char *s, cf_precision *out) {
    int k = parse_name(s, precision_names, 3);
    if (k < 0) return -1;
    *out = (cf_precision)k;
    return 0;
}
int cf_als_solver_parse(const char *s, cf_als_solver *out) {
    int k = parse_name(s, als_solver_names, 2);
    if (k < 0) return -1;
    *out = (cf_als_solver)k;
    return 0;
}
