/*
 * verify.h — the two pure pieces of cf_verify (src/verify.c), exposed so that tests
 * can check them on hand-made factors without a GPU.
 */
#ifndef CF_VERIFY_H
#define CF_VERIFY_H

#include "factors.h"

/* rel of every row of both sides (P then Q, bias included) into rel[] (room for
 * n_users + n_items; sorted on return); fills it->rel_median, rel_max, rel_max_row. */
void cf_verify_compare_rows(const cf_factors *ref, const cf_factors *cand, double *rel, cf_verify_iter *it);

/* Applies the tolerances of opt to an iteration whose objectives, test RMSEs and row
 * statistics are filled; sets and returns it->ok, and gives the relative objective
 * and test-RMSE differences. */
int cf_verify_judge(cf_verify_iter *it, const cf_verify_options *opt, double *d_obj, double *d_rmse);

#endif
