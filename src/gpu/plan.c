/*
 * plan.c — memory planner and Gram work lists of the GPU backend.
 *
 * Memory. Resident for the whole run (the "data"): R as CSR by user and as CSC by item
 * (8-byte offsets, 4-byte indices and ratings), the factors (n × ld floats per side) and
 * biases, the test triplets, and the work lists below. Per batch of rows of one side
 * (the "work", shared by both sides and sized by the larger):
 *     Gram slots      slots × d² floats   (one per row with ratings, plus one per extra
 *                                          segment of a long row)
 *     partial RHS      slots × ld floats   (a long row's further segments' right-hand
 *                                          sides, indexed by slot like the Grams)
 *     right-hand sides rows × ld floats
 *     a pointer per system for the batched solver.
 * Batches are cut greedily in row order so that a batch's work fits the budget: the free
 * device memory (cudaMemGetInfo, or --gpu-mem-limit when that is less: cf_gpu_budget)
 * less the data and a reserve for the libraries' workspaces (64 MiB + 5 % of it), and at
 * most CF_GPU_DEFAULT_WORK_CAP (4 GiB, gpu.h): a batch of that size already holds far more
 * systems than the device runs at once, and taking all free memory made the Netflix
 * shape's peak 21.4 GiB at K = 100 on an H200 (issue 14 asks ≤ 16 GiB; with the cap: the
 * data ≈ 1.9 GB + ≤ 4 GiB of work + the libraries' workspaces). Whole-side Grams of the Netflix users at K = 128
 * would take 31 GB: the planner makes as many batches as the device needs. If the data
 * and one batch holding the largest row cannot fit, open fails with CF_ERR_DEVICE
 * stating the bytes needed and free. A batch also keeps its entries ≤ INT32_MAX and its
 * slots and rows ≤ INT32_MAX (cuSOLVER's batch count, the units' 32-bit slots and rows).
 *
 * Work lists. For each batch the Gram units (cf_gram_unit: an entry range, its slot,
 * the Λ added to the diagonal: Λ_row at the factors, Λb_row at the bias) are made once at
 * open and uploaded: rows longer than the segment length are split into equal segments,
 * each accumulated by its own block into its own slot and summed afterwards in slot order
 * (deterministic); units are ordered longest first so that the long rows of a power-law
 * side start first. A row's first
 * segment writes its right-hand side straight into the row's place in the RHS buffer
 * (unit.row = the row's index in the batch); the further segments write partial
 * right-hand sides (unit.row = −1) that the reduction adds into it.
 */
#include "gpu_impl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((size_t)1 << 20)

_Static_assert(sizeof(cf_gram_unit) == 32, "cf_gram_unit: lam_b fills the padding, the lists keep their size");

static int64_t row_len(const cf_gpu_side *s, int64_t r) { return s->h_ptr[r + 1] - s->h_ptr[r]; }

static int64_t row_segments(int64_t len, int keep_empty, int64_t seg) {
    if (len == 0) return keep_empty ? 1 : 0;
    return (len + seg - 1) / seg;
}

void cf_gpu_work_count(const cf_gpu_side *s, const int64_t *rows, int64_t first, int64_t n,
                       int keep_empty, int64_t seg, cf_gpu_work *count) {
    memset(count, 0, sizeof *count);
    for (int64_t j = 0; j < n; j++) {
        int64_t r = rows ? rows[j] : first + j;
        int64_t nseg = row_segments(row_len(s, r), keep_empty, seg);
        if (nseg == 0) continue;
        count->n_sys++;
        count->n_units += nseg;
        count->n_slots += nseg;
        if (nseg > 1) count->n_red++;
    }
}

static int unit_cmp(const void *pa, const void *pb) {
    const cf_gram_unit *a = pa, *b = pb;
    int64_t la = a->end - a->begin, lb = b->end - b->begin;
    if (la != lb) return la > lb ? -1 : 1;
    if (a->slot != b->slot) return a->slot < b->slot ? -1 : 1;
    return (a->begin > b->begin) - (a->begin < b->begin);
}

void cf_gpu_work_make(const cf_gpu_side *s, const int64_t *rows, int64_t first, int64_t n,
                      int keep_empty, int64_t seg, const cf_config *cfg, int64_t nnz,
                      cf_gpu_work *out) {
    cf_gpu_work c;
    cf_gpu_work_count(s, rows, first, n, keep_empty, seg, &c);
    int64_t sys = 0, extra = c.n_sys, nu = 0, nr = 0;
    for (int64_t j = 0; j < n; j++) {
        int64_t r = rows ? rows[j] : first + j;
        int64_t len = row_len(s, r);
        int64_t nseg = row_segments(len, keep_empty, seg);
        if (nseg == 0) continue;
        /* Λ_r of DESIGN.md §1, exactly as the CPU reference computes it, and the bias's
         * Λb_r (cf_bias_reg_lambda): the same value where the biases have no λ_b or mode of
         * their own, or there is no bias (every unknown a factor: kernels.h cf_gram_unit) */
        float lam = (float)cf_reg_lambda(cfg->reg, cfg->lambda, len, nnz);
        float lam_b = cfg->bias && !cf_bias_reg_same(cfg) ? (float)cf_bias_reg_lambda(cfg, len, nnz) : lam;
        int64_t b0 = s->h_ptr[r];
        /* nseg = ceil(len/seg) equal parts of ceil(len/nseg) ≤ seg entries, none empty:
         * (nseg−1)·part ≤ (nseg−1)·seg < len. */
        int64_t part = nseg > 1 ? (len + nseg - 1) / nseg : len;
        for (int64_t k = 0; k < nseg; k++) {
            cf_gram_unit *u = &out->units[nu++];
            u->begin = b0 + k * part;
            u->end = k == nseg - 1 ? b0 + len : b0 + (k + 1) * part;
            u->slot = (int32_t)(k == 0 ? sys : extra + k - 1);
            u->lam = k == 0 ? lam : 0.0f;
            u->lam_b = k == 0 ? lam_b : 0.0f;
            u->row = k == 0 ? (int32_t)j : -1;
        }
        if (nseg > 1) {
            cf_gram_reduce *q = &out->red[nr++];
            q->dst = (int32_t)sys, q->src = (int32_t)extra, q->count = (int32_t)(nseg - 1);
            q->row = (int32_t)j;
            extra += nseg - 1;
        }
        if (out->sys_row) out->sys_row[sys] = r;
        sys++;
    }
    qsort(out->units, (size_t)nu, sizeof *out->units, unit_cmp);
    out->n_units = nu, out->n_red = nr, out->n_sys = sys, out->n_slots = extra;
}

/* Bytes of per-batch work one row adds to a batch. */
static size_t row_work_bytes(const cf_backend *b, int64_t len, int64_t seg) {
    size_t slot = (size_t)b->d * (size_t)b->d * sizeof(float);
    int64_t nseg = row_segments(len, 0, seg);
    return (size_t)nseg * slot + (nseg ? sizeof(float *) : 0)  /* Grams, Aptr */
           + (size_t)nseg * (size_t)b->ld * sizeof(float)      /* partial RHS */
           + (size_t)b->ld * sizeof(float);                    /* RHS row */
}

typedef struct plan_max {
    int64_t slots, sys, rows, entries;
} plan_max;

/* Cuts side s into batches of at most `budget` work bytes (at least one row each);
 * returns the batch count and fills `out` when not NULL. */
static int64_t cut_batches(const cf_backend *b, const cf_gpu_side *s, size_t budget, int64_t seg,
                           cf_gpu_batch *out, plan_max *mx) {
    int64_t nb = 0, r0 = 0;
    while (r0 < s->n_rows) {
        size_t bytes = 0;
        int64_t r = r0, slots = 0, sys = 0, entries = 0;
        while (r < s->n_rows) {
            int64_t len = row_len(s, r), nseg = row_segments(len, 0, seg);
            size_t w = row_work_bytes(b, len, seg);
            int full = r > r0 && (bytes + w > budget || entries + len > INT32_MAX ||
                                  slots + nseg > INT32_MAX || r - r0 + 1 >= INT32_MAX);
            if (full) break;
            bytes += w, slots += nseg, sys += nseg ? 1 : 0, entries += len;
            r++;
        }
        if (out) {
            cf_gpu_batch *bt = &out[nb];
            memset(bt, 0, sizeof *bt);
            bt->r0 = r0, bt->r1 = r;
            bt->e0 = s->h_ptr[r0], bt->e1 = s->h_ptr[r];
            bt->n_slots = slots, bt->n_sys = sys;
        }
        if (slots > mx->slots) mx->slots = slots;
        if (sys > mx->sys) mx->sys = sys;
        if (r - r0 > mx->rows) mx->rows = r - r0;
        if (entries > mx->entries) mx->entries = entries;
        nb++;
        r0 = r;
    }
    return nb;
}

static size_t work_bytes_of(const cf_backend *b, const plan_max *mx) {
    size_t slot = (size_t)b->d * (size_t)b->d * sizeof(float);
    return (size_t)mx->slots * slot + (size_t)mx->sys * sizeof(float *) +
           (size_t)mx->slots * (size_t)b->ld * sizeof(float) +
           (size_t)mx->rows * (size_t)b->ld * sizeof(float) + sizeof(int);
}

size_t cf_gpu_budget(size_t free_bytes, size_t limit) {
    return limit && limit < free_bytes ? limit : free_bytes;
}

/* "N free" or "N allowed by --gpu-mem-limit (M free on the device)": what the plan had. */
static void describe_budget(char *buf, size_t len, size_t free_bytes, size_t limit) {
    if (limit && limit < free_bytes)
        snprintf(buf, len, "%zu allowed by --gpu-mem-limit (%zu free on the device)", limit,
                 free_bytes);
    else
        snprintf(buf, len, "%zu free", free_bytes);
}

cf_status cf_gpu_plan(cf_backend *b, size_t device_free, size_t data_bytes, cf_error *err) {
    const int64_t seg = b->tune.segment > 0 ? b->tune.segment : CF_GPU_DEFAULT_SEGMENT;
    b->stats.segment = seg;
    const size_t free_bytes = cf_gpu_budget(device_free, b->tune.mem_limit);
    char have[128];
    describe_budget(have, sizeof have, device_free, b->tune.mem_limit);

    /* Work lists: their size does not depend on the batching. */
    size_t lists = 0, min_work = 0;
    for (int sd = 0; sd < 2; sd++) {
        cf_gpu_side *s = &b->side[sd];
        cf_gpu_work c;
        cf_gpu_work_count(s, NULL, 0, s->n_rows, 0, seg, &c);
        s->n_units = c.n_units, s->n_red = c.n_red, s->n_sys = c.n_sys;
        lists += (size_t)c.n_units * sizeof(cf_gram_unit) + (size_t)c.n_red * sizeof(cf_gram_reduce) +
                 (size_t)c.n_sys * (sizeof(float *) + sizeof(int));
        for (int64_t r = 0; r < s->n_rows; r++) {
            size_t w = row_work_bytes(b, row_len(s, r), seg);
            if (w > min_work) min_work = w;
        }
    }
    size_t reserve = 64 * MIB + free_bytes / 20;
    size_t fixed = data_bytes + lists + reserve;
    if (fixed + min_work > free_bytes || fixed + min_work < fixed)
        return cf_fail(err, CF_ERR_DEVICE,
                       "%s: needs %zu bytes (data %zu, work lists %zu, one batch of the longest "
                       "row %zu, library reserve %zu), %s; try --device cpu",
                       b->name, fixed + min_work, data_bytes, lists, min_work, reserve, have);

    size_t avail = free_bytes - fixed;
    size_t cap = b->tune.work_cap ? b->tune.work_cap : CF_GPU_DEFAULT_WORK_CAP;
    size_t budget = b->tune.batch_bytes ? b->tune.batch_bytes : avail < cap ? avail : cap;
    plan_max mx;
    for (int attempt = 0;; attempt++) {
        memset(&mx, 0, sizeof mx);
        for (int sd = 0; sd < 2; sd++) cut_batches(b, &b->side[sd], budget, seg, NULL, &mx);
        size_t work = work_bytes_of(b, &mx);
        /* Each buffer is sized by its own largest batch, so the sum can exceed the
         * budget a little: shrink the budget until it fits what is free. */
        if (work <= avail || b->tune.batch_bytes) break;
        if (attempt == 16 || budget <= min_work)
            return cf_fail(err, CF_ERR_DEVICE,
                           "%s: needs %zu bytes (data %zu, work lists %zu, batch buffers %zu), "
                           "%s; try --device cpu",
                           b->name, fixed - reserve + work, data_bytes, lists, work, have);
        budget = budget / 4 * 3;
        if (budget < min_work) budget = min_work;
    }
    b->max_slots = mx.slots, b->max_sys = mx.sys, b->max_rows = mx.rows,
    b->max_entries = mx.entries;
    b->stats.data_bytes = data_bytes + lists;
    b->stats.work_bytes = work_bytes_of(b, &mx);

    for (int sd = 0; sd < 2; sd++) {
        cf_gpu_side *s = &b->side[sd];
        plan_max dummy;
        memset(&dummy, 0, sizeof dummy);
        int64_t nb = cut_batches(b, s, budget, seg, NULL, &dummy);
        s->batches = cf_calloc((size_t)nb, sizeof *s->batches, err, "GPU batch plan");
        if (!s->batches) return CF_ERR_NOMEM;
        s->n_batches = (int32_t)nb;
        cut_batches(b, s, budget, seg, s->batches, &dummy);
    }
    b->stats.batches_users = b->side[CF_SIDE_USERS].n_batches;
    b->stats.batches_items = b->side[CF_SIDE_ITEMS].n_batches;
    return CF_OK;
}

cf_status cf_gpu_plan_lists(cf_backend *b, cf_gpu_side *s, cf_gram_unit *units,
                            cf_gram_reduce *red, int64_t *sys_row, cf_error *err) {
    int64_t nu = 0, nr = 0, ns = 0;
    for (int32_t k = 0; k < s->n_batches; k++) {
        cf_gpu_batch *bt = &s->batches[k];
        cf_gpu_work w = {units + nu, red + nr, sys_row + ns, 0, 0, 0, 0};
        cf_gpu_work_make(s, NULL, bt->r0, bt->r1 - bt->r0, 0, b->stats.segment, &b->cfg, b->nnz,
                         &w);
        if (w.n_sys != bt->n_sys || w.n_slots != bt->n_slots)
            return cf_fail(err, CF_ERR_INVALID,
                           "gpu plan: %s batch %d counts %lld systems / %lld slots, the cut "
                           "%lld / %lld (internal error) (%s:%d)",
                           s->name, (int)k, (long long)w.n_sys, (long long)w.n_slots,
                           (long long)bt->n_sys, (long long)bt->n_slots, __FILE__, __LINE__);
        bt->unit0 = nu, bt->n_units = w.n_units;
        bt->red0 = nr, bt->n_red = w.n_red;
        bt->sys0 = ns; /* n_sys and n_slots were set by the cut, and agree with w */
        nu += w.n_units, nr += w.n_red, ns += w.n_sys;
    }
    if (nu != s->n_units || nr != s->n_red || ns != s->n_sys)
        return cf_fail(err, CF_ERR_INVALID,
                       "gpu plan: %s side's batches hold %lld units / %lld reductions / %lld "
                       "systems, the whole side %lld / %lld / %lld (internal error) (%s:%d)",
                       s->name, (long long)nu, (long long)nr, (long long)ns, (long long)s->n_units,
                       (long long)s->n_red, (long long)s->n_sys, __FILE__, __LINE__);
    return CF_OK;
}

cf_status cf_gpu_plan_alloc(cf_backend *b, cf_error *err) {
    cf_status st = CF_OK;
    const size_t dd = (size_t)b->d * (size_t)b->d;
    cf_gram_unit *h_units = NULL;
    cf_gram_reduce *h_red = NULL;
    float **h_ptrs = NULL;

    /* Shared work buffers. */
    if ((st = cf_gpu_alloc(b, (void **)&b->d_gram, (size_t)b->max_slots * dd * sizeof(float),
                           "Gram matrices", err)) ||
        (st = cf_gpu_alloc(b, (void **)&b->d_Aptr, (size_t)b->max_sys * sizeof(float *),
                           "Gram pointers", err)) ||
        (st = cf_gpu_alloc(b, (void **)&b->d_rhs,
                           (size_t)b->max_rows * (size_t)b->ld * sizeof(float), "right-hand sides",
                           err)) ||
        (st = cf_gpu_alloc(b, (void **)&b->d_rhs_part,
                           (size_t)b->max_slots * (size_t)b->ld * sizeof(float),
                           "partial right-hand sides", err)) ||
        (st = cf_gpu_alloc(b, (void **)&b->d_potrs_info, sizeof(int), "potrs info", err)))
        goto cleanup;

    /* A pointers: system j of any batch uses slot j. */
    h_ptrs = cf_malloc(((size_t)b->max_sys + 1) * sizeof(float *), err, "pointer staging");
    if (!h_ptrs) return CF_ERR_NOMEM;
    for (int64_t j = 0; j < b->max_sys; j++) h_ptrs[j] = b->d_gram + (size_t)j * dd;
    CF_CUDA(cudaMemcpy(b->d_Aptr, h_ptrs, (size_t)b->max_sys * sizeof(float *),
                       cudaMemcpyHostToDevice));
    free(h_ptrs);
    h_ptrs = NULL;

    for (int sd = 0; sd < 2; sd++) {
        cf_gpu_side *s = &b->side[sd];
        h_units = cf_malloc(((size_t)s->n_units + 1) * sizeof *h_units, err, "Gram work units");
        h_red = cf_malloc(((size_t)s->n_red + 1) * sizeof *h_red, err, "Gram reductions");
        h_ptrs = cf_malloc(((size_t)s->n_sys + 1) * sizeof *h_ptrs, err, "pointer staging");
        s->h_sys_row = cf_malloc(((size_t)s->n_sys + 1) * sizeof(int64_t), err, "system rows");
        if (!h_units || !h_red || !h_ptrs || !s->h_sys_row) {
            st = CF_ERR_NOMEM;
            goto cleanup;
        }
        if ((st = cf_gpu_plan_lists(b, s, h_units, h_red, s->h_sys_row, err))) goto cleanup;
        /* B pointer of each system: its row's place in the RHS buffer. */
        for (int32_t k = 0; k < s->n_batches; k++) {
            const cf_gpu_batch *bt = &s->batches[k];
            for (int64_t j = bt->sys0; j < bt->sys0 + bt->n_sys; j++)
                h_ptrs[j] = b->d_rhs + (size_t)(s->h_sys_row[j] - bt->r0) * (size_t)b->ld;
        }
        const int64_t nu = s->n_units, nr = s->n_red, ns = s->n_sys;
        if ((st = cf_gpu_alloc(b, (void **)&s->d_units, (size_t)nu * sizeof *h_units,
                               "Gram work units", err)) ||
            (st = cf_gpu_alloc(b, (void **)&s->d_red, (size_t)nr * sizeof *h_red,
                               "Gram reductions", err)) ||
            (st = cf_gpu_alloc(b, (void **)&s->d_Bptr, (size_t)ns * sizeof(float *),
                               "RHS pointers", err)) ||
            (st = cf_gpu_alloc(b, (void **)&s->d_info, (size_t)ns * sizeof(int), "potrf info",
                               err)))
            goto cleanup;
        if (nu) CF_CUDA(cudaMemcpy(s->d_units, h_units, (size_t)nu * sizeof *h_units,
                                   cudaMemcpyHostToDevice));
        if (nr) CF_CUDA(cudaMemcpy(s->d_red, h_red, (size_t)nr * sizeof *h_red,
                                   cudaMemcpyHostToDevice));
        if (ns) CF_CUDA(cudaMemcpy(s->d_Bptr, h_ptrs, (size_t)ns * sizeof(float *),
                                   cudaMemcpyHostToDevice));
        free(h_units), free(h_red), free(h_ptrs);
        h_units = NULL, h_red = NULL, h_ptrs = NULL;
    }
    b->h_info = cf_malloc(((size_t)(b->side[0].n_sys > b->side[1].n_sys ? b->side[0].n_sys
                                                                          : b->side[1].n_sys) +
                           1) * sizeof(int),
                          err, "potrf info (host)");
    if (!b->h_info) st = CF_ERR_NOMEM;
cleanup:
    free(h_units), free(h_red), free(h_ptrs);
    return st;
}
