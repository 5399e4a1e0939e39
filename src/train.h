/*
 * train.h — the trainer's pieces that other drivers of the backend table reuse
 * (cf_verify runs two backends side by side with the trainer's own iteration), so an
 * iteration means the same thing everywhere.
 */
#ifndef CF_TRAIN_H
#define CF_TRAIN_H

#include "backend.h"

/* 1 when `ops` implements algorithm `a`. */
int cf_backend_implements(const cf_backend_ops *ops, cf_algo a);

/* One iteration of cfg->algo (0-based `epoch`, which sets the learning rate): ALS and
 * ALS+GD the user side then the item side, SGD / GD / mini-batch one epoch, CCD one sweep. */
cf_status cf_train_step(const cf_backend_ops *ops, cf_backend *b, const cf_config *cfg, int32_t epoch,
                        cf_error *err);

#endif
