"""bench/hogwild_balance.py models hogwild's plan and gen's user degrees in Python; these
tests tie the model to the C code it restates, so the two cannot drift apart: the plan
against tests/data/hogwild_plan.tsv (which tests/test_schedule.c checks against
cf_hogwild_plan), the degrees against what `cufactor gen` writes."""

import collections
import importlib.util
import subprocess

import numpy as np
import pytest

import cufactor
from conftest import REPO


@pytest.fixture(scope="module")
def model():
    spec = importlib.util.spec_from_file_location("hogwild_balance", REPO / "bench" / "hogwild_balance.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def plan_rows():
    with open(REPO / "tests" / "data" / "hogwild_plan.tsv") as f:
        return [tuple(int(x) for x in line.split()) for line in f if not line.startswith("#")]


def test_plan_matches_the_c_table(model):
    rows = plan_rows()
    assert len(rows) >= 10
    for nnz, users, items, resident, rpw, warps, run, n_runs, heavy in rows:
        got = model.plan(nnz, users, items, resident, rpw)
        assert got == (warps, run, n_runs), f"{nnz} ratings, {users} x {items}, resident {resident}, rpw {rpw}"
        assert model.heavy_min(nnz, warps, run) == heavy


# Shapes where the cap (every item) binds for the heaviest users, where it binds for all of
# them (zipf 0: a full matrix), and with fewer ratings than users (no base rating each).
@pytest.mark.parametrize("users, items, ratings, zipf", [
    (300, 200, 6000, 0.8), (943, 1682, 100000, 0.8), (50, 40, 1500, 1.2), (1000, 30, 20000, 1.5),
    (200, 500, 150, 0.8), (64, 64, 4096, 0.0)])
def test_degrees_match_cufactor_gen(model, tmp_path, users, items, ratings, zipf):
    out = tmp_path / "gen.tsv"
    subprocess.run([cufactor.cli_path(), "gen", "--users", str(users), "--items", str(items), "--ratings",
                    str(ratings), "--rank", "2", "--noise", "0.1", "--zipf", str(zipf), "--seed", "3", "--out",
                    str(out)], check=True, capture_output=True)
    with open(out) as f:
        per_user = collections.Counter(line.split("\t", 1)[0] for line in f)
    # gen permutes the ranks over the IDs: compare the degrees sorted
    got = np.array(sorted(per_user.values(), reverse=True) + [0] * (users - len(per_user)))
    want = np.sort(model.degrees(users, items, ratings, zipf))[::-1]
    assert want.sum() == ratings
    np.testing.assert_array_equal(got, want)
