/* eta.c — the time left of cv's trainings (see eta.h). */
#include "eta.h"

#include <math.h>

double cli_eta_cost(cf_algo algo, int32_t K, double nnz, double rows) {
    const double k = (double)K + 1.0;
    if (algo == CF_ALGO_ALS) return 2.0 * nnz * k * k + rows * k * k * k / 3.0;
    return nnz * k;
}

void cli_eta_init(cli_eta *e, int64_t cells, int32_t folds, const double *cost, const double *share, double *took) {
    *e = (cli_eta){.cells = cells, .folds = folds, .cost = cost, .share = share, .took = took, .last = 0};
    for (int64_t c = 0; c < cells; c++) took[c] = NAN;
}

/* Least squares t ≈ a + b·m over the measured cells, with a, b ≥ 0. */
static void fit(const cli_eta *e, double *a, double *b) {
    double n = 0, sm = 0, st = 0;
    for (int64_t c = 0; c < e->cells; c++)
        if (!isnan(e->took[c])) n++, sm += e->cost[c], st += e->took[c];
    *a = n > 0 ? st / n : 0, *b = 0;
    if (n < 2) return;
    const double mm = sm / n, mt = st / n;
    double sxy = 0, sxx = 0, sx2 = 0, sxt = 0;
    for (int64_t c = 0; c < e->cells; c++)
        if (!isnan(e->took[c])) {
            const double dx = e->cost[c] - mm;
            sxy += dx * (e->took[c] - mt), sxx += dx * dx;
            sx2 += e->cost[c] * e->cost[c], sxt += e->cost[c] * e->took[c];
        }
    if (!(sxx > 1e-12 * sx2) || sxy <= 0) return; /* one cost measured, or no rise with it: equal cells */
    *b = sxy / sxx, *a = mt - *b * mm;
    if (*a < 0) *a = 0, *b = sxt / sx2; /* through the origin */
}

double cli_eta_done(cli_eta *e, int32_t fold, int64_t cell, double now) {
    if (fold == 0) e->took[cell] = now - e->last;
    e->last = now;
    double a, b;
    fit(e, &a, &b);
    double rest = 0, round = 0; /* the rest of this fold; one whole fold; both as in the first */
    for (int64_t c = 0; c < e->cells; c++) {
        const double t = isnan(e->took[c]) ? a + b * e->cost[c] : e->took[c];
        round += t;
        if (c > cell) rest += t;
    }
    /* the later folds, each scaled by its share of the ratings against the first's */
    double later = 0;
    for (int32_t f = fold + 1; f < e->folds; f++) later += e->share ? e->share[f] / e->share[0] : 1.0;
    return rest * (e->share ? e->share[fold] / e->share[0] : 1.0) + later * round;
}
