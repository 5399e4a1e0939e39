"""Shared fixtures: a planted low-rank model with noise, and paths of the repository."""

import os
import pathlib

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


class Planted:
    """r = μ + b_u + b_i + p_u·q_i + ε on a random `density` share of the pairs, ε ~ N(0, σ²);
    users and items are integer IDs 1000 + index (not indices: the model must map them)."""

    def __init__(self, n_users=300, n_items=200, rank=4, density=0.3, sigma=0.1, seed=1):
        rng = np.random.default_rng(seed)
        self.rank, self.sigma, self.mu = rank, sigma, 3.5
        self.P = rng.normal(0, 1 / np.sqrt(rank), (n_users, rank))
        self.Q = rng.normal(0, 1, (n_items, rank))
        self.bu = rng.normal(0, 0.3, n_users)
        self.bi = rng.normal(0, 0.3, n_items)
        mask = rng.random((n_users, n_items)) < density
        u, i = np.nonzero(mask)
        order = rng.permutation(len(u))  # not grouped by user: the file order is arbitrary
        u, i = u[order], i[order]
        clean = self.mu + self.bu[u] + self.bi[i] + np.einsum("nk,nk->n", self.P[u], self.Q[i])
        r = (clean + rng.normal(0, sigma, len(u))).astype(np.float32)
        test = rng.random(len(u)) < 0.1
        self.users, self.items, self.ratings = u + 1000, i + 1000, r
        self.train = (self.users[~test], self.items[~test], r[~test])
        self.test = (self.users[test], self.items[test], r[test])

    def write(self, path, part):
        u, i, r = part
        with open(path, "w") as f:
            for a, b, c in zip(u, i, r):
                f.write(f"{a}\t{b}\t{float(c)!r}\n")
        return path


@pytest.fixture(scope="session")
def planted():
    return Planted()


@pytest.fixture
def repo():
    return REPO


@pytest.fixture(autouse=True)
def _quiet_omp(monkeypatch):
    # OpenMP threads spin while idle; on a shared CI machine that starves the other tests
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "passive"))
