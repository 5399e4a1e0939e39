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

/* GPU SGD's bytes per update by the kernels' own accesses (kernels/sgd.cu), modelled
 * twice; `cufactor bench` and bench_sgd both take it from here. s = 2 (fp16) or 4 (fp32)
 * bytes per factor; a row load + store moves row = 2Ks + (8 with biases: b read and
 * written) + 4 (its λ') bytes; a rating (u, i, r) 12 bytes, streamed once. A row is
 * loaded and stored once per run of consecutive updates that share it:
 *   hogwild (hogwild_run > 0, list in user order, runs of hogwild_run ratings):
 *     user_rows = n_users/nnz + 1/run (≤ 1) per update, item_rows = 1;
 *   blocks (hogwild_run = 0, B × B blocks sorted by item): user_rows = 1,
 *     item_rows = min(1, n_items·B/nnz).
 *   l2_bytes   (SM ↔ L2) = 12 + (user_rows + item_rows)·row;
 *   dram_bytes = 12 + per side: user_rows·row (resp. item_rows·row), or, for a side
 *     whose factors stay in L2 (items first: n_items·K·s ≤ l2_budget; users when
 *     n_users·K·s plus the items' when they stay ≤ l2_budget), that side read and written
 *     back once per epoch, n_rows·row/nnz.
 * Assumptions: factor loads bypass L1 (ld.global.cg) so every row access crosses L2; L2
 * hits of user rows between runs are not credited (DRAM may be overcounted, the L2
 * traffic is not); l2_budget = CF_BENCH_L2_BUDGET, about half of the 40–60 MB L2 of an
 * A100 / H100 / H200 (the rest holds the streamed ratings and other lines). */
#define CF_BENCH_L2_BUDGET (24.0 * 1024 * 1024)
typedef struct cf_bench_sgd_traffic {
    double user_rows, item_rows; /* row loads + stores per update */
    int users_in_l2, items_in_l2;
    double l2_bytes, dram_bytes; /* per update */
} cf_bench_sgd_traffic;
void cf_bench_sgd_traffic_model(int64_t nnz, int64_t n_users, int64_t n_items, int k, int fp16, int bias,
                                int64_t hogwild_run, int32_t blocks, double l2_budget, cf_bench_sgd_traffic *out);

/* The shares of the ceilings (res->share_flops, share_bw, share_l2) from the achieved
 * rates and res->ceil; a model's rate above its measured ceiling is not physically
 * possible, so that share is NaN (null in the record) and res->share_over_ceiling is set:
 * the model does not describe the case (e.g. cache reuse it does not credit), and no
 * share above 100 % is ever reported. */
void cf_bench_set_shares(cf_bench_result *res);

#endif
