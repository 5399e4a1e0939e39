/*
 * eta.h — the time left of a run of trainings that cost unequal amounts: cv's cells, each
 * trained once per fold, fold by fold (every cell in each). A cell's factor count sets
 * much of its cost — ALS at K = 128 takes several times what it takes at K = 8 — so the
 * mean pace over the first (cheap) cells would promise far too little.
 *
 * Each training's prediction: once the cell has run (in the first fold), what it took
 * then; before that a + b·m, with m the cell's modelled work (cli_eta_cost) and a, b
 * fitted by least squares (a, b ≥ 0) to the cells measured so far: a is what a training
 * costs whatever its K (the fold's data, the evaluation), b the seconds per unit of work.
 * No model constants are assumed: with one K measured the cells count as equal. Where the
 * folds train on different amounts (rolling origin in time: fold f on f + 1 of F + 1
 * blocks), a fold's trainings scale with its share of the ratings.
 */
#ifndef CF_CLI_ETA_H
#define CF_CLI_ETA_H

#include "cufactor.h"

#include <stdint.h>

/* The work of one iteration of `algo` at K factors on nnz training ratings and `rows`
 * users + items, up to a constant (K + 1 unknowns a row with biases). ALS forms a (K+1)²
 * Gram update per rating and factors a (K+1)³/3 Cholesky per row; the other algorithms
 * touch each rating's K + 1 numbers a bounded number of times. */
double cli_eta_cost(cf_algo algo, int32_t K, double nnz, double rows);

typedef struct cli_eta {
    int64_t cells;      /* trainings per fold */
    int32_t folds;
    const double *cost; /* cli_eta_cost of each cell, `cells` values */
    const double *share; /* each fold's training ratings, relative (NULL: the folds are equal) */
    double *took;       /* seconds each cell took in the first fold, NaN until it ran */
    double last;        /* when the last training finished (seconds since the start) */
} cli_eta;

/* took: room for `cells` values (set to NaN here); share: `folds` values > 0, or NULL. */
void cli_eta_init(cli_eta *e, int64_t cells, int32_t folds, const double *cost, const double *share, double *took);
/* Training `cell` of `fold` finished `now` seconds after the start (calls in order); returns
 * the estimated seconds the remaining trainings will take. */
double cli_eta_done(cli_eta *e, int32_t fold, int64_t cell, double now);

#endif
