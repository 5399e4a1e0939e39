/*
 * bench_impl.h — private pieces shared by the files of src/bench/ (the library side of
 * `cufactor bench`): access to a loaded data set's matrices and the flop/byte models.
 */
#ifndef CF_BENCH_IMPL_H
#define CF_BENCH_IMPL_H

#include "cufactor_bench.h"
#include "dataset.h"
#include "ratings.h"

const cf_ratings *cf_bench_data_train(const cf_bench_data *d);
const cf_triplets *cf_bench_data_test(const cf_bench_data *d);

/* Flops and bytes of one iteration of cfg->algo on R with elements of `elem` bytes
 * (8: the CPU's double, 4: the GPU's float), and which ceiling bounds it ("compute"
 * or "memory"). The models are written out in run.c. */
void cf_bench_model(const cf_config *cfg, const cf_ratings *R, int elem, double *flops, double *bytes,
                    const char **bound);

#endif
