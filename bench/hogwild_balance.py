#!/usr/bin/env python3
"""hogwild_balance.py — a model of how evenly hogwild's warps share an epoch (kernels/sgd.cu,
kernels/kernels.h cf_sgd_hogwild_order): the time of the slowest warp over the mean warp's,
for each way of handing out the work, on the bench's shapes. A model, not a measurement:
a rating costs one unit of time on every warp (a run adds 2 units for its start), warps
start together and take items as the kernel does. What the GPU does is bench_sgd --runs all.

  fixed runs, counter      runs of `run` ratings, taken from the counter (the kernel now)
  whole users, fixed       runs of whole users, warp w taking runs w, w + warps, ... (the
                           kernel of session 11)
  whole users, counter     the same runs taken from the counter as warps finish
  whole users, heavy first users of more than heavy_min ratings first, each alone, in a
                           random order, then the runs without them (the kernel now;
                           heavy_min = max(run, n / (16 warps)), src/sgd_work.c)
  floor                    the heaviest user over the mean share: no order does better

User degrees follow `cufactor gen` (src/gen.c degrees_by_rank: Zipf weights by rank, the
most popular capped at the item count), thinned to the 90 % training split; users are in
random order in the list (gen permutes ranks over ids). Warps and run length as
cf_hogwild_plan (src/sgd_work.c) plans them for `--resident` warps on the device (H200,
fp16 K = 128 with item adds: 132 SMs x 20).

Usage: bench/hogwild_balance.py [--resident N] [--seed S] [--heavy-div D] [SHAPE ...]
SHAPE: netflix, synth-10m, synth-1m (bench/suites.conf), ml100k (943 x 1,682, 100 k),
or USERS:ITEMS:RATINGS. Needs numpy.
"""
import argparse
import heapq
import sys

import numpy as np

SHAPES = {
    "netflix": (480189, 17770, 100_000_000),
    "synth-10m": (48019, 17770, 10_000_000),
    "synth-1m": (4802, 17770, 1_000_000),
    "ml100k": (943, 1682, 100_000),
}


def degrees(n_users, n_items, ratings, zipf=0.8):
    """Ratings per user by popularity rank, as src/gen.c degrees_by_rank (python/tests/
    test_bench_model.py checks it against `cufactor gen`)."""
    w = np.arange(1, n_users + 1, dtype=float) ** -zipf
    suf = np.append(np.cumsum(w[::-1])[::-1], 0.0)
    base = 1 if ratings >= n_users else 0
    rem, room = ratings - base * n_users, n_items - base
    deg = np.zeros(n_users, dtype=np.int64)
    k = 0
    while k < n_users and rem > 0 and rem * w[k] / suf[k] >= room - 1e-9:
        give = min(room, rem)
        deg[k] = base + give
        rem -= give
        k += 1
    if k == n_users:
        return deg
    c = np.floor(rem * np.cumsum(w[k:]) / suf[k]).astype(np.int64)
    c[-1] = rem
    deg[k:] = base + np.diff(np.concatenate([[0], c]))
    return deg


def plan(nnz, n_users, n_items, resident, rows_per_warp=8, ratings_per_warp=2048):
    """Warps, run length and runs, as src/sgd_work.c cf_hogwild_plan (rows_per_warp <= 0: 8;
    python/tests/test_bench_model.py checks it against tests/data/hogwild_plan.tsv)."""
    rows_per_warp = rows_per_warp if rows_per_warp > 0 else 8
    w = max(1, min(max(resident, 1), min(n_users, n_items) // rows_per_warp, nnz // ratings_per_warp))
    run = min(256, max(32, nnz // (8 * w) // 32 * 32))
    n_runs = -(-nnz // run)
    return min(w, n_runs), run, n_runs


def heavy_min(nnz, warps, run, div=16):
    """The heavy users' threshold, as src/sgd_work.c cf_hogwild_heavy_min (div 16)."""
    return max(run, nnz // (div * warps))


def slowest(costs, warps, counter):
    """Time of the slowest warp: items handed out in order, round robin or from a counter."""
    if not counter:
        per = np.zeros(warps)
        np.add.at(per, np.arange(len(costs)) % warps, costs)
        return per.max()
    free = [0.0] * warps
    for c in costs:
        heapq.heappush(free, heapq.heappop(free) + c)
    return max(free)


def model(name, n_users, n_items, ratings, resident, rng, heavy_div):
    deg = rng.binomial(degrees(n_users, n_items, ratings), 0.9)
    deg = deg[rng.permutation(n_users)]
    deg = deg[deg > 0]
    n = int(deg.sum())
    warps, run, n_runs = plan(n, n_users, n_items, resident)
    share = n / warps
    hmin = heavy_min(n, warps, run, heavy_div)
    start = (np.concatenate([[0], np.cumsum(deg)[:-1]]) - rng.integers(n)) % n  # x of each user's start
    run_of = start // run
    cost = lambda items: items + 2.0 * (items > 0)
    perm = rng.permutation(n_runs)
    fixed = np.full(n_runs, float(run))
    fixed[-1] = n - (n_runs - 1) * run
    whole = np.bincount(run_of, weights=deg, minlength=n_runs)
    heavy = deg > hmin
    light = np.bincount(run_of[~heavy], weights=deg[~heavy], minlength=n_runs)
    first = deg[heavy][rng.permutation(int(heavy.sum()))].astype(float)
    rows = [
        ("fixed runs, counter", slowest(cost(fixed[perm]), warps, True)),
        ("whole users, fixed", slowest(cost(whole[perm]), warps, False)),
        ("whole users, counter", slowest(cost(whole[perm]), warps, True)),
        ("whole users, heavy first", slowest(cost(np.concatenate([first, light[perm]])), warps, True)),
    ]
    print(f"{name}: {n_users} x {n_items}, {n} training ratings; {warps} warps, runs of {run}, "
          f"a warp's share {share:.0f}; heaviest user {deg.max()}; {int(heavy.sum())} users of more than "
          f"{hmin} ratings ({100.0 * deg[heavy].sum() / n:.1f} % of them)")
    for what, t in rows:
        print(f"  {what:26s} slowest warp / mean {t / share:6.3f}")
    print(f"  {'floor':26s} slowest warp / mean {max(1.0, deg.max() / share):6.3f}")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shapes", nargs="*", default=list(SHAPES))
    ap.add_argument("--resident", type=int, default=132 * 20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--heavy-div", type=int, default=16, help="heavy_min = max(run, n / (D warps))")
    a = ap.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    for s in a.shapes:
        try:
            u, i, r = SHAPES[s] if s in SHAPES else (int(x) for x in s.split(":"))
        except ValueError:
            ap.error(f"shape {s!r}: give one of {', '.join(SHAPES)} or USERS:ITEMS:RATINGS")
        model(s, u, i, r, a.resident, rng, a.heavy_div)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
