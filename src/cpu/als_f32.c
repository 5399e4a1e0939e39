/*
 * als_f32.c — one ALS half-step on the fp32 CPU path. Same normal equations as the
 * reference (src/cpu/als.c): for each row, with z_j = [y_j; 1] and t_j = r_j − μ − b_j
 * (biases on, d = K + 1) or z_j = y_j, t_j = r_j (d = K),
 *
 *     (Σ_j z_j z_jᵀ + D) x = Σ_j t_j z_j,   D = diag(Λ, …, Λ, Λb)  (Λ I without biases)
 *     Λ = cf_reg_lambda(reg, λ, n_row, |Ω|),  Λb = cf_bias_reg_lambda(cfg, n_row, |Ω|)
 *
 * (x = [p; b] minimizes Σ_j (t_j − z_jᵀ x)² + Λ ‖p‖² + Λb b²; Λb = Λ by default)
 *
 * formed and solved as follows (kernels_f32.inc, one SIMD level chosen at open):
 *   - Gram Σ y_j y_jᵀ: the row's ratings in chunks of CF_ALS32_CHUNK (64); each chunk is
 *     summed in fp32 from zero (register tiles of FMAs over the fp32 factor rows, upper
 *     triangle) and folded into a double matrix. The error is then that of one 64-term fp32
 *     sum whatever the row's length (≈ u·√(64/3) ≈ 3e-7 relative, u = 2⁻²⁴), not of an
 *     n-term one (≈ u·√n: 3e-5 at n = 500 000). This is the GPU's scheme (kernels/gram.cu,
 *     blocks of 32 there).
 *   - Right-hand side Σ t_j z_j, the bias column Σ y_j and n: in double (t_j formed in
 *     double: r − μ − b nearly cancels), a K-long axpy per rating beside the K²/2 of the Gram.
 *   - Solve: Cholesky of the d × d system and both triangular solves in double (SIMD,
 *     right-looking), so the only fp32 rounding left is that of the Gram's chunk sums and
 *     of the factors themselves; x is rounded to fp32 once.
 * Rows are independent and each row's arithmetic is fixed, so the result does not depend
 * on the thread count; rows are handed out longest first (dynamic, one at a time) so that
 * a power-law row does not finish last. A row with no ratings gets x = 0; a system that is
 * not positive definite leaves that row as it was and fails the step as the reference does.
 */
#include "cpu32.h"

#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct side32 {
    int64_t n_rows;
    const int64_t *ptr;
    const uint32_t *idx;
    const float *val;
    float *X, *bx;
    const float *Y, *by;
} side32;

static side32 side_of(cf_backend *b, cf_side side) {
    const cf_ratings *R = b->R;
    if (side == CF_SIDE_USERS)
        return (side32){R->n_users, R->row_ptr, R->row_col, R->row_val, b->P, b->bu, b->Q, b->bi};
    return (side32){R->n_items, R->col_ptr, R->col_row, R->col_val, b->Q, b->bi, b->P, b->bu};
}

/* Per-thread workspace. G: (ld + 1) rows of ldg doubles (d ≤ ld + 1 rows, column K ≤ ld). */
typedef struct ws32 {
    int32_t ldg;
    double *G, *rhs, *colsum, *t;
    const float **z;
} ws32;

static void ws_free(ws32 *w) {
    free(w->G), free(w->rhs), free(w->colsum), free(w->t), free((void *)w->z);
    memset(w, 0, sizeof *w);
}

static int ws_alloc(ws32 *w, int32_t ld) {
    memset(w, 0, sizeof *w);
    w->ldg = ld + 8; /* 64-byte rows: ld is a multiple of 16 */
    w->G = aligned_alloc(64, sizeof(double) * (size_t)(ld + 1) * (size_t)w->ldg);
    w->rhs = aligned_alloc(64, sizeof(double) * (size_t)w->ldg);
    w->colsum = aligned_alloc(64, sizeof(double) * (size_t)w->ldg);
    w->z = malloc(sizeof(float *) * CF_ALS32_CHUNK);
    w->t = malloc(sizeof(double) * CF_ALS32_CHUNK);
    if (w->G && w->rhs && w->colsum && w->z && w->t) return 0;
    ws_free(w);
    return -1;
}

/* Forms row r's system into w->G (upper triangle, D = diag(Λ, …, Λ, Λb) added to the
 * diagonal, stride ldg) and w->rhs.
 * Returns 1 when the stop flag cut a long row short (the system is then incomplete). */
static int form_row(const cf_backend *b, const side32 *v, int64_t r, ws32 *w) {
    const int32_t K = b->K, ld = b->ld, ldg = w->ldg;
    const int bias = b->bias;
    const double mu = b->mu;
    const cf_f32_kernels *kn = b->kern;
    const int64_t lo = v->ptr[r], hi = v->ptr[r + 1], n = hi - lo;
    memset(w->rhs, 0, sizeof(double) * (size_t)(K + 1));
    if (bias) memset(w->colsum, 0, sizeof(double) * (size_t)K);
    double tsum = 0;
    for (int64_t c = lo; c < hi; c += CF_ALS32_CHUNK) {
        if (c > lo && cf_cpu_stop_poll(b->stop)) return 1;
        const int m = (int)(hi - c < CF_ALS32_CHUNK ? hi - c : CF_ALS32_CHUNK);
        for (int j = 0; j < m; j++) {
            const uint32_t o = v->idx[c + j];
            w->z[j] = v->Y + (size_t)o * (size_t)ld;
            w->t[j] = bias ? (double)v->val[c + j] - mu - (double)v->by[o] : (double)v->val[c + j];
            tsum += w->t[j];
        }
        kn->rhs_chunk(w->z, w->t, m, K, w->rhs, bias ? w->colsum : NULL);
        kn->gram_chunk(w->z, m, ld, w->G, ldg, c == lo);
    }
    if (bias) { /* the bias row and column: Σ y_j, and n */
        for (int32_t k = 0; k < K; k++) w->G[(size_t)k * ldg + K] = w->colsum[k];
        w->G[(size_t)K * ldg + K] = (double)n;
        w->rhs[K] = tsum;
    }
    const double lam = cf_reg_lambda(b->cfg.reg, b->cfg.lambda, n, b->R->nnz);
    for (int32_t k = 0; k < K; k++) w->G[(size_t)k * ldg + k] += lam; /* Λ on the factors */
    if (bias) w->G[(size_t)K * ldg + K] += cf_bias_reg_lambda(&b->cfg, n, b->R->nnz); /* Λb on the bias */
    return 0;
}

typedef struct als32_state {
    int64_t *order[2]; /* per side: rows by decreasing rating count (ties by index) */
} als32_state;

static void als32_state_free(void *p) {
    als32_state *s = p;
    if (!s) return;
    free(s->order[0]), free(s->order[1]);
    free(s);
}

typedef struct len_row { int64_t len, row; } len_row;
static int cmp_len_desc(const void *x, const void *y) {
    const len_row *a = x, *c = y;
    if (a->len != c->len) return a->len > c->len ? -1 : 1;
    return (a->row > c->row) - (a->row < c->row);
}

static cf_status order_rows(const int64_t *ptr, int64_t n, int64_t **out, cf_error *err) {
    /* a counting sort by length, longest first, stable (ties in index order) */
    int64_t longest = 0;
    for (int64_t r = 0; r < n; r++)
        if (ptr[r + 1] - ptr[r] > longest) longest = ptr[r + 1] - ptr[r];
    int64_t *ord = cf_malloc((size_t)(n > 0 ? n : 1) * sizeof *ord, err, "als row order");
    if (!ord) return CF_ERR_NOMEM;
    if (longest < 16 * (n + 1)) {
        int64_t *cnt = cf_calloc((size_t)longest + 2, sizeof *cnt, err, "als row order");
        if (!cnt) {
            free(ord);
            return CF_ERR_NOMEM;
        }
        for (int64_t r = 0; r < n; r++) cnt[longest - (ptr[r + 1] - ptr[r]) + 1]++;
        for (int64_t l = 0; l <= longest; l++) cnt[l + 1] += cnt[l];
        for (int64_t r = 0; r < n; r++) ord[cnt[longest - (ptr[r + 1] - ptr[r])]++] = r;
        free(cnt);
    } else { /* a few very long rows: a comparison sort is smaller */
        len_row *lr = cf_malloc((size_t)n * sizeof *lr, err, "als row order");
        if (!lr) {
            free(ord);
            return CF_ERR_NOMEM;
        }
        for (int64_t r = 0; r < n; r++) lr[r] = (len_row){ptr[r + 1] - ptr[r], r};
        qsort(lr, (size_t)n, sizeof *lr, cmp_len_desc);
        for (int64_t r = 0; r < n; r++) ord[r] = lr[r].row;
        free(lr);
    }
    *out = ord;
    return CF_OK;
}

static cf_status state_get(cf_backend *b, als32_state **out, cf_error *err) {
    als32_state *s = cf_cpu32_state_get(b, als32_state_free);
    if (!s) {
        cf_status st;
        if (!(s = cf_calloc(1, sizeof *s, err, "als state"))) return CF_ERR_NOMEM;
        if ((st = order_rows(b->R->row_ptr, b->R->n_users, &s->order[0], err)) ||
            (st = order_rows(b->R->col_ptr, b->R->n_items, &s->order[1], err))) {
            als32_state_free(s);
            return st;
        }
        cf_cpu32_state_set(b, s, als32_state_free);
    }
    *out = s;
    return CF_OK;
}

cf_status cf_cpu32_als_half(cf_backend *b, cf_side side, cf_error *err) {
    als32_state *s;
    cf_status st = state_get(b, &s, err);
    if (st) return st;
    const side32 v = side_of(b, side);
    const int64_t *order = s->order[side == CF_SIDE_USERS ? 0 : 1];
    const int32_t K = b->K, ld = b->ld, d = K + b->bias;
    int64_t bad_row = -1;
    int oom = 0;
#pragma omp parallel num_threads(b->threads)
    {
        ws32 w;
        if (ws_alloc(&w, ld)) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp barrier
        if (!oom) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t q = 0; q < v.n_rows; q++) {
                const int64_t r = order[q];
                if (cf_cpu_stop_poll(b->stop)) continue; /* Ctrl-C: skip the rest of the half-step */
                float *xr = v.X + (size_t)r * (size_t)ld;
                if (v.ptr[r + 1] == v.ptr[r]) { /* no ratings: zero factors */
                    memset(xr, 0, sizeof(float) * (size_t)ld);
                    v.bx[r] = 0.0f;
                    continue;
                }
                if (form_row(b, &v, r, &w)) continue; /* a long row cut short by Ctrl-C */
                if (b->kern->chol_solve(w.G, d, w.ldg, w.rhs)) {
#pragma omp critical(cf_als32_bad_row)
                    if (bad_row < 0 || r < bad_row) bad_row = r;
                    continue;
                }
                for (int32_t k = 0; k < K; k++) xr[k] = (float)w.rhs[k];
                v.bx[r] = b->bias ? (float)w.rhs[K] : 0.0f;
            }
        }
        ws_free(&w);
    }
    cf_status ist = cf_cpu_interrupted(b->stop, "als", err);
    if (ist) return ist;
    if (oom) return cf_fail(err, CF_ERR_NOMEM, "als: out of memory for the per-thread workspace (d = %d)", d);
    if (bad_row >= 0) {
        char bl[96];
        return cf_fail(err, CF_ERR_NUMERIC,
                       "als: the normal equations of %s row %lld are not positive definite "
                       "(λ = %g with --reg %s%s); use a larger --lambda",
                       side == CF_SIDE_USERS ? "user" : "item", (long long)bad_row, b->cfg.lambda,
                       cf_reg_name(b->cfg.reg), cf_bias_reg_note(&b->cfg, b->bias, bl, sizeof bl));
    }
    return CF_OK;
}

cf_status cf_cpu32_normal_equations(cf_backend *b, cf_side side, int64_t row, double *A, double *rhs,
                                    cf_error *err) {
    const side32 v = side_of(b, side);
    if (row < 0 || row >= v.n_rows) return cf_fail(err, CF_ERR_INVALID, "normal equations: row %lld", (long long)row);
    const int32_t K = b->K, d = K + b->bias;
    ws32 w;
    if (ws_alloc(&w, b->ld)) return cf_fail(err, CF_ERR_NOMEM, "normal equations: out of memory");
    if (v.ptr[row + 1] == v.ptr[row]) {
        memset(A, 0, sizeof(double) * (size_t)d * (size_t)d), memset(rhs, 0, sizeof(double) * (size_t)d);
    } else {
        form_row(b, &v, row, &w);
        for (int32_t p = 0; p < d; p++) {
            for (int32_t q = p; q < d; q++) A[p * d + q] = A[q * d + p] = w.G[(size_t)p * w.ldg + q];
            rhs[p] = w.rhs[p];
        }
    }
    ws_free(&w);
    return CF_OK;
}
