"""Fit, predict, recommend and the scikit-learn conventions on a planted model."""

import pickle
import struct

import numpy as np
import pytest

import cufactor


def rmse_of(model, part):
    u, i, r = part
    return float(np.sqrt(np.mean((model.predict(u, i) - r) ** 2)))


def test_als_recovers_the_planted_model(planted):
    # Held-out RMSE of a rank-K fit with n_u ≈ 54 ratings per user and n_i ≈ 81 per item: the
    # noise σ plus the estimation error of the K + 1 parameters on each side, about
    # σ·sqrt(1 + (K+1)(1/n_u + 1/n_i)) ≈ 1.07 σ. Bounds: below 1.3 σ (a fit that misses the
    # structure is at the spread of p·q, about 10 σ); above 0.85 σ (on ~1800 held-out ratings
    # the noise's own RMSE is within a few % of σ: lower means the test leaked into training).
    m = cufactor.ALS(factors=planted.rank, regularization=0.001, iterations=25, device="cpu", seed=3)
    assert m.fit(planted.train, X_test=planted.test) is m
    test = rmse_of(m, planted.test)
    assert 0.85 * planted.sigma < test < 1.3 * planted.sigma, test
    # history_: one entry per iteration; its last test RMSE is the one computed here
    assert len(m.history_["test_rmse"]) == m.n_iter_ == 25
    assert m.history_["test_rmse"][-1] == pytest.approx(test, rel=1e-9)
    assert m.rmse(planted.test) == pytest.approx(test, rel=1e-9)
    assert m.score(planted.test) == pytest.approx(-test, rel=1e-9)


@pytest.mark.parametrize("cls, kw", [(cufactor.SGD, dict(iterations=40)), (cufactor.GD, dict(iterations=200)),
                                     (cufactor.MiniBatch, dict(iterations=30)), (cufactor.ALSGD, {}),
                                     (cufactor.CCD, dict(iterations=30))])
def test_every_algorithm_learns_the_structure(planted, cls, kw):
    # The planted interaction p·q has a spread of about 1 (10 σ); a rank-1 fit leaves a
    # held-out RMSE of 0.88. Each algorithm must recover the rank-4 structure to within
    # 1.5 σ: the gradient methods stop a little short of ALS's 1.08 σ in these iterations
    # (measured 1.12–1.15 σ), and anything that misses a factor is several σ off.
    m = cls(factors=planted.rank, regularization=0.01, device="cpu", seed=5, **kw).fit(planted.train)
    assert rmse_of(m, planted.test) < 1.5 * planted.sigma


def test_learned_attributes_give_the_predictions(planted):
    m = cufactor.ALS(factors=3, iterations=3, device="cpu").fit(planted.train)
    assert m.user_factors_.shape == (len(m.user_ids_), 3)
    assert m.item_factors_.shape == (len(m.item_ids_), 3)
    assert m.user_ids_.dtype == np.int64
    u, i = m.user_ids_[[0, 5, 7]], m.item_ids_[[1, 2, 3]]
    # r̂ from the attributes, summed in the library's order: the same doubles
    ru = np.searchsorted(m.user_ids_, u, sorter=np.argsort(m.user_ids_))
    rows_u = np.argsort(m.user_ids_)[ru]
    ri = np.searchsorted(m.item_ids_, i, sorter=np.argsort(m.item_ids_))
    rows_i = np.argsort(m.item_ids_)[ri]
    want = [m.global_mean_ + m.user_bias_[a] + m.item_bias_[b] + sum(m.user_factors_[a] * m.item_factors_[b])
            for a, b in zip(rows_u, rows_i)]
    np.testing.assert_allclose(m.predict(u, i), want, rtol=1e-13)


def test_unknown_ids_in_predict(planted):
    m = cufactor.ALS(factors=3, iterations=2, device="cpu").fit(planted.train)
    u0, i0 = m.user_ids_[0], m.item_ids_[0]
    iu = 0
    p = m.predict([u0, 1, u0], [i0, i0, 5])
    assert p[1] == pytest.approx(m.global_mean_ + m.item_bias_[0], rel=1e-15)
    assert p[2] == pytest.approx(m.global_mean_ + m.user_bias_[iu], rel=1e-15)
    with pytest.raises(LookupError, match=r"pair 1: unknown user ID '1'"):
        m.predict([u0, 1], [i0, i0], unknown="error")


def test_recommend_against_sorting_every_item(planted):
    m = cufactor.ALS(factors=4, iterations=5, device="cpu").fit(planted.train)
    users = m.user_ids_[:6]
    ids, scores = m.recommend(users, n=15)
    assert ids.shape == scores.shape == (6, 15)
    tu, ti, _ = planted.train
    for k, user in enumerate(users):
        all_scores = m.predict(np.full(len(m.item_ids_), user), m.item_ids_)
        seen = set(ti[tu == user].tolist())
        cand = [(-s, row) for row, s in enumerate(all_scores) if m.item_ids_[row] not in seen]
        cand.sort()
        want = [m.item_ids_[row] for _, row in cand[:15]]
        assert ids[k].tolist() == want
        np.testing.assert_array_equal(scores[k], [-s for s, _ in cand[:15]])
    # without the exclusion the rated items come back; one user gives 1-d arrays
    ids1, scores1 = m.recommend(users[0], n=len(m.item_ids_), exclude_seen=False)
    assert ids1.shape == (len(m.item_ids_),) and sorted(ids1.tolist()) == sorted(m.item_ids_.tolist())
    # more than there are: padded with -1 and NaN
    ids2, scores2 = m.recommend(users[:1], n=len(m.item_ids_) + 3, exclude_seen=False)
    assert (ids2[0, -3:] == -1).all() and np.isnan(scores2[0, -3:]).all()


def test_rank_metrics_from_recommend(planted):
    """rank_metrics is recommend's lists measured against the held-out ratings (the
    definitions of cufactor.h, written out here), with the popularity baseline beside."""
    m = cufactor.ALS(factors=4, iterations=5, device="cpu").fit(planted.train)
    su, si, sr = planted.test
    sr = sr.astype(np.float32).astype(np.float64)  # the library keeps ratings as float32: compare those
    tu, ti, _ = planted.train
    n = 5
    relevant_min = float(np.median(sr))
    got = m.rank_metrics(planted.test, n=n, relevant_min=relevant_min)
    known = set(m.user_ids_.tolist())
    users = sorted({u for u, r in zip(su.tolist(), sr.tolist()) if r >= relevant_min and u in known})
    lists, _ = m.recommend(users, n=n)
    sums, per_user = np.zeros(5), []
    evaluated = 0
    for user, lst in zip(users, lists):
        seen = set(ti[tu == user].tolist())
        rel = {i for u, i, r in zip(su.tolist(), si.tolist(), sr.tolist())
               if u == user and r >= relevant_min and i not in seen}
        if not rel:
            continue
        evaluated += 1
        hits = [j for j, item in enumerate(lst.tolist()) if item in rel]
        mm = min(n, len(rel))
        dcg = sum(1 / np.log2(j + 2) for j in hits)
        idcg = sum(1 / np.log2(j + 2) for j in range(mm))
        ap = sum((h + 1) / (j + 1) for h, j in enumerate(hits)) / mm
        per_user.append([len(hits) / n, len(hits) / len(rel), dcg / idcg, ap, len(hits) > 0])
        sums += per_user[-1]
    assert got["n"] == n and got["users"] == evaluated > 20
    se = np.std(np.array(per_user, dtype=float), axis=0, ddof=1) / np.sqrt(evaluated)  # s/√U
    for q, name in enumerate(("precision", "recall", "ndcg", "map", "hit_rate")):
        assert got["model"][name] == pytest.approx(sums[q] / evaluated, rel=1e-12, abs=1e-15), name
        assert got["model_se"][name] == pytest.approx(se[q], rel=1e-9, abs=1e-15), name
    assert np.isnan(got["model_se"]["coverage"]) and set(got["difference_se"]) == set(got["model"])
    assert 0 < got["model"]["coverage"] <= 1
    assert set(got["popular"]) == set(got["model"])
    alone = m.rank_metrics(planted.test, n=n, exclude_seen=False)
    assert alone["popular"] is None and alone["popular_se"] is None and alone["difference_se"] is None
    for bad in (dict(n=0), dict(n=True), dict(relevant_min=float("nan")), dict(relevant_min="4")):
        with pytest.raises(ValueError):
            m.rank_metrics(planted.test, **bad)


def test_similar_items_are_cosines(planted):
    m = cufactor.ALS(factors=4, iterations=3, device="cpu").fit(planted.train)
    Q = m.item_factors_
    unit = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    items = m.item_ids_[:5]
    ids, scores = m.similar_items(items, n=6)
    assert ids.shape == scores.shape == (5, 6)
    for k in range(5):
        cos = unit @ unit[k]
        cos[k] = -np.inf
        order = np.argsort(-cos, kind="stable")[:6]
        assert ids[k].tolist() == m.item_ids_[order].tolist()
        np.testing.assert_allclose(scores[k], cos[order], rtol=0, atol=1e-12)
    one_ids, one_scores = m.similar_items(items[0], n=len(m.item_ids_))
    assert one_ids.shape == (len(m.item_ids_),) and one_ids[-1] == -1 and np.isnan(one_scores[-1])
    with pytest.raises(LookupError):
        m.similar_items([10**9])


def test_fold_in_solves_each_new_user_by_least_squares(planted):
    # New users with the training ratings of three users: each row minimizes
    # Σ (r − μ − b_i − q_i·p − b)² + Λ (‖p‖² + b²) with Q and b_i fixed, i.e. the normal
    # equations (ZᵀZ + Λ I) x = Zᵀ t, solved here with numpy: the same doubles up to rounding
    # (1e-10: double precision on systems with condition numbers of a few hundred).
    m = cufactor.ALS(factors=3, iterations=4, device="cpu", regularization=0.05).fit(planted.train)
    u, i, r = planted.train
    picked = m.user_ids_[:3]
    sel = np.isin(u, picked)
    new_u = np.array([f"new-{x}" for x in u[sel]], dtype=object)
    X = (np.append(new_u, "empty"), np.append(i[sel], 10**9), np.append(r[sel], 3.0))
    f = m.fold_in(X, threads=2)
    assert f is not m and isinstance(f, cufactor.ALS)
    assert f.fold_in_ == {"users": 4, "users_empty": 1, "users_new": 4, "ratings": int(sel.sum()),
                          "ratings_unknown": 1}
    assert f.user_ids_.tolist() == [f"new-{x}" for x in picked] + ["empty"]
    np.testing.assert_array_equal(f.item_factors_, m.item_factors_)
    item_row = {x: k for k, x in enumerate(m.item_ids_.tolist())}
    for k, uid in enumerate(picked):
        rows = np.array([item_row[x] for x in i[u == uid]])
        Z = np.hstack([m.item_factors_[rows], np.ones((len(rows), 1))])
        t = r[u == uid].astype(np.float64) - m.global_mean_ - m.item_bias_[rows]
        lam = 0.05 * len(rows)  # weighted, the model's
        x = np.linalg.solve(Z.T @ Z + lam * np.eye(4), Z.T @ t)
        np.testing.assert_allclose(np.append(f.user_factors_[k], f.user_bias_[k]), x, rtol=1e-10, atol=1e-12)
    assert not f.user_factors_[3].any() and f.user_bias_[3] == 0
    # recommend leaves out what each new user rated in X
    ids, _ = f.recommend(f"new-{picked[0]}", n=5)
    assert not set(ids.tolist()) & set(i[u == picked[0]].tolist())
    plain = m.fold_in(X, regularization=1.5, reg="plain")
    x0 = plain.user_factors_[0]
    assert not np.array_equal(x0, f.user_factors_[0])
    for bad in (dict(regularization=-1), dict(regularization=float("inf")), dict(reg="mean"), dict(reg="x")):
        with pytest.raises(ValueError):
            m.fold_in(X, **bad)
    # explain: the folded score split over the user's ratings, t_j · z_jᵀ A⁻¹ z_i
    uid, target = f"new-{picked[1]}", m.item_ids_[7]
    e = m.explain(uid, target, X, n=1000)
    assert e["score"] == f.predict([uid], [target])[0]
    assert e["ratings"] == len(e["terms"]) == int((u == picked[1]).sum())
    rows = np.array([item_row[x] for x in i[u == picked[1]]])
    Z = np.hstack([m.item_factors_[rows], np.ones((len(rows), 1))])
    A = Z.T @ Z + 0.05 * len(rows) * np.eye(4)
    w = np.linalg.solve(A, np.append(m.item_factors_[item_row[target]], 1.0))
    t = r[u == picked[1]].astype(np.float64) - m.global_mean_ - m.item_bias_[rows]
    want = dict(zip(i[u == picked[1]].tolist(), (t * (Z @ w)).tolist()))
    got = {item: c for item, _, c in e["terms"]}
    assert got.keys() == want.keys()
    np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-9, atol=1e-12)
    assert sum(got.values()) == pytest.approx(e["score"] - e["base"], rel=1e-10, abs=1e-12)
    assert [c for _, _, c in e["terms"]] == sorted(got.values(), reverse=True)
    assert len(m.explain(uid, target, X, n=3)["terms"]) == 3
    with pytest.raises(LookupError):
        m.explain("nobody", target, X)



def test_fold_in_items_merged_solves_each_new_item_by_least_squares(planted):
    # New items with the training ratings of three items, folded in with the users fixed
    # and merged: each new row minimizes Σ (r − μ − b_u − p_u·q − b)² + Λ (‖q‖² + b²), the
    # normal equations solved here with numpy (1e-10, as for users); the model's own items
    # and users keep their rows; recommend leaves out the training ratings and X's.
    m = cufactor.ALS(factors=3, iterations=4, device="cpu", regularization=0.05).fit(planted.train)
    u, i, r = planted.train
    picked = m.item_ids_[:3]
    sel = np.isin(i, picked)
    X = (u[sel], np.array([f"new-{x}" for x in i[sel]], dtype=object), r[sel])
    f = m.fold_in(X, items=True, merge=True)
    assert f.fold_in_ == {"items": 3, "items_empty": 0, "items_new": 3, "ratings": int(sel.sum()),
                          "ratings_unknown": 0}
    ni = len(m.item_ids_)
    assert [str(x) for x in f.item_ids_.tolist()] == [str(x) for x in m.item_ids_.tolist()] + \
        [f"new-{x}" for x in picked]
    np.testing.assert_array_equal(f.item_factors_[:ni], m.item_factors_)
    np.testing.assert_array_equal(f.item_bias_[:ni], m.item_bias_)
    np.testing.assert_array_equal(f.user_factors_, m.user_factors_)
    user_row = {x: k for k, x in enumerate(m.user_ids_.tolist())}
    for k, iid in enumerate(picked):
        rows = np.array([user_row[x] for x in u[i == iid]])
        Z = np.hstack([m.user_factors_[rows], np.ones((len(rows), 1))])
        t = r[i == iid].astype(np.float64) - m.global_mean_ - m.user_bias_[rows]
        x = np.linalg.solve(Z.T @ Z + 0.05 * len(rows) * np.eye(4), Z.T @ t)
        np.testing.assert_allclose(np.append(f.item_factors_[ni + k], f.item_bias_[ni + k]), x, rtol=1e-10,
                                   atol=1e-12)
    # a user who rated a picked item: neither its training items nor the new copy come back
    who = u[sel][0]
    ids, _ = f.recommend(who, n=len(f.item_ids_))
    rated = set(str(x) for x in i[u == who]) | {f"new-{x}" for x in i[sel & (u == who)]}
    got = set(str(x) for x in ids.tolist() if x is not None and x != -1)
    assert got and not got & rated
    # not merged: the new items alone
    alone = m.fold_in(X, items=True)
    assert alone.item_ids_.tolist() == [f"new-{x}" for x in picked]
    np.testing.assert_array_equal(alone.item_factors_, f.item_factors_[ni:])

def test_input_forms_agree(planted):
    pd = pytest.importorskip("pandas")
    kw = dict(factors=3, iterations=3, device="cpu", threads=1)
    a = cufactor.ALS(**kw).fit(planted.train)
    u, i, r = planted.train
    b = cufactor.ALS(**kw).fit(pd.DataFrame({"userId": u, "movieId": i, "rating": r, "ts": 0}))
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_ids_, b.item_ids_)
    # string IDs: the same tokens, the same model
    c = cufactor.ALS(**kw).fit((u.astype(str), [str(x) for x in i], r))
    assert c.user_ids_.dtype == np.int64  # every token is an integer in decimal form
    np.testing.assert_array_equal(a.user_factors_, c.user_factors_)


def test_sparse_matrix_rows_and_columns_are_the_ids(planted):
    sp = pytest.importorskip("scipy.sparse")
    u, i, r = planted.train
    X = sp.csr_matrix((r, (u - 1000, i - 1000)), shape=(300, 200))
    m = cufactor.ALS(factors=planted.rank, regularization=0.001, iterations=15, device="cpu").fit(X)
    # rows of the model in index order (the users with ratings)
    assert (np.diff(m.user_ids_) > 0).all() and (np.diff(m.item_ids_) > 0).all()
    tu, ti, tr = planted.test
    pred = m.predict(tu - 1000, ti - 1000)
    assert np.sqrt(np.mean((pred - tr) ** 2)) < 1.3 * planted.sigma


def test_params_follow_scikit_learn():
    m = cufactor.SGD(lr=0.01, factors=8)
    p = m.get_params()
    assert p["lr"] == 0.01 and p["factors"] == 8 and p["iterations"] == 15 and "optimizer" not in p
    assert m.set_params(lr=0.02, schedule="blocks") is m and m.lr == 0.02
    with pytest.raises(ValueError, match="optimizer: not a parameter of SGD"):
        m.set_params(optimizer="adam")
    assert "lr=0.02" in repr(m)
    g = cufactor.Factorizer(algo="ccd", iterations=2)
    assert g.get_params()["algo"] == "ccd"
    sklearn_base = pytest.importorskip("sklearn.base")
    c = sklearn_base.clone(m)
    assert c.get_params() == m.get_params() and c is not m


def test_biases_regularized_apart(planted):
    # bias_regularization / bias_reg reach the library: a plain λ_b of 1e9 leaves every bias
    # within 1e-6 of 0 (a bias is then about Σ residual / 1e9), where the default fits them
    # (the planted biases have a spread of about 0.3); the values travel through save / load
    # and bad values are errors naming the parameter.
    # (the closed-form row solves: ALS, CCD; SGD's step η·λ'_b must stay below about 1, so it
    # only shows that a moderate λ_b reaches it and shrinks its biases)
    for cls in (cufactor.ALS, cufactor.CCD):
        m = cls(factors=2, iterations=3, device="cpu", bias_regularization=1e9, bias_reg="plain").fit(planted.train)
        assert np.abs(m.user_bias_).max() < 1e-6 and np.abs(m.item_bias_).max() < 1e-6, cls
    d = cufactor.ALS(factors=2, iterations=3, device="cpu").fit(planted.train)
    assert np.abs(d.item_bias_).max() > 0.1
    s0 = cufactor.SGD(factors=2, iterations=3, device="cpu").fit(planted.train)
    s1 = cufactor.SGD(factors=2, iterations=3, device="cpu", bias_regularization=5.0, bias_reg="weighted").fit(planted.train)
    assert np.abs(s1.item_bias_).max() < 0.5 * np.abs(s0.item_bias_).max()
    assert cufactor.ALS().get_params()["bias_regularization"] is None
    with pytest.raises(ValueError, match="bias_regularization"):
        cufactor.ALS(bias_regularization=-1.0, device="cpu").fit(planted.train)
    with pytest.raises(ValueError, match="bias_reg"):
        cufactor.ALS(bias_reg="huge", device="cpu").fit(planted.train)


def test_refit_on_other_data_replaces_everything(planted):
    m = cufactor.ALS(factors=2, iterations=2, device="cpu").fit(planted.train)
    m.fit(([1, 2, 2], [7, 7, 8], [1.0, 2.0, 3.0]))
    assert m.user_ids_.tolist() == [1, 2] and m.item_ids_.tolist() == [7, 8]


def test_device_info_says_why():
    info = cufactor.device_info()
    assert info["device"] in ("cpu", "gpu")
    assert info["gpu"] == (info["device"] == "gpu")
    assert (info["reason"] is None) == info["gpu"]
    if not info["gpu"]:
        assert info["reason"]  # e.g. "this cufactor was built without CUDA"


def test_gil_is_released_during_fit(planted, monkeypatch):
    # While the worker thread is inside the C trainer and before its first progress callback
    # (the only Python it runs there), this thread must get to run Python: it could not if the
    # foreign call held the GIL (checked: through ctypes.PyDLL, which holds it, 1 look). One ALS
    # sweep of K = 96 on one thread lasts tens of the 1 ms this thread sleeps between looks.
    import threading
    import cufactor._estimator as est

    state = {"in_c": False}

    class Lib:
        def __getattr__(self, name):
            return getattr(est._lib.lib, name)

        def cf_train_ex(self, *args):
            state["in_c"] = True
            try:
                return est._lib.lib.cf_train_ex(*args)
            finally:
                state["in_c"] = False

    monkeypatch.setattr(est, "lib", Lib())
    m = cufactor.ALS(factors=96, iterations=1, device="cpu", threads=1)
    done = []
    t = threading.Thread(target=lambda: done.append(m.fit(planted.train)))
    ticks_in_c = 0
    t.start()
    while t.is_alive():
        if state["in_c"]:
            ticks_in_c += 1
        t.join(0.001)
    assert done and m.n_iter_ == 1
    # held, it would get one look at most: as the call returns, before the flag is cleared
    assert ticks_in_c >= 3, ticks_in_c


def test_pickle_round_trip(planted):
    m = cufactor.ALS(factors=3, iterations=3, device="cpu").fit(planted.train)
    back = pickle.loads(pickle.dumps(m))
    assert back.get_params() == m.get_params()
    for name in ("user_factors_", "item_factors_", "user_ids_", "item_ids_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(m, name))
    u, i, _ = planted.test
    np.testing.assert_array_equal(back.predict(u, i), m.predict(u, i))
    # the training ratings came along: the same items are excluded
    users = m.user_ids_[:4]
    for a, b in zip(back.recommend(users, n=20), m.recommend(users, n=20)):
        np.testing.assert_array_equal(a, b)
    # an unfitted one too
    assert pickle.loads(pickle.dumps(cufactor.SGD(lr=0.01))).lr == 0.01


def test_fit_init_warm_start_continues_als(planted):
    # ALS recomputes P from Q first: a fit started from a model fitted 3 iterations on the
    # same data is iterations 4 and 5 of that training, to the last bit.
    kw = dict(factors=3, device="cpu", regularization=0.05, seed=5, threads=2)
    m3 = cufactor.ALS(iterations=3, **kw).fit(planted.train)
    m5 = cufactor.ALS(iterations=5, **kw).fit(planted.train)
    w = cufactor.ALS(iterations=2, **kw).fit(planted.train, init=m3)
    np.testing.assert_array_equal(w.user_factors_, m5.user_factors_)
    np.testing.assert_array_equal(w.item_factors_, m5.item_factors_)
    np.testing.assert_array_equal(w.item_bias_, m5.item_bias_)
    with pytest.raises(ValueError, match="K = 3"):
        cufactor.ALS(iterations=1, factors=4, device="cpu").fit(planted.train, init=m3)
    with pytest.raises(ValueError, match="init"):
        cufactor.ALS(iterations=1, factors=3, device="cpu").fit(planted.train, init="m3.cfm")
    # an SGD model's decaying step: the warm fit starts at its last rate, so one epoch stays
    # near it (the first rate, 0.2, would throw it off)
    s = cufactor.SGD(factors=3, iterations=6, device="cpu", seed=5).fit(planted.train)
    ws = cufactor.SGD(factors=3, iterations=1, device="cpu", seed=5).fit(planted.train, init=s)
    cold_big_step = cufactor.SGD(factors=3, iterations=1, device="cpu", seed=5, lr=0.2,
                                 lr_schedule="invscale").fit(planted.train, init=s)
    assert abs(ws.train_rmse_ - s.train_rmse_) < abs(cold_big_step.train_rmse_ - s.train_rmse_)


def test_recommend_users_ranks_users_for_an_item(planted):
    # The top users for an item are the users by predict()'s score for that item (up to the
    # order of one addition), without those who rated it in training.
    m = cufactor.ALS(factors=3, iterations=4, device="cpu", seed=5).fit(planted.train)
    u, i, _ = planted.train
    item = m.item_ids_[2]
    ids, scores = m.recommend_users(item, n=len(m.user_ids_))
    raters = set(u[i == item].tolist())
    got = [x for x in ids.tolist() if x != -1]
    assert got and not set(got) & raters
    assert len(got) == len(m.user_ids_) - len(raters & set(m.user_ids_.tolist()))
    want = m.predict(got, [item] * len(got))
    np.testing.assert_allclose(scores[:len(got)], want, rtol=0, atol=1e-13)
    assert np.all(np.diff(scores[:len(got)]) <= 1e-13)
    ids2, _ = m.recommend_users([item, m.item_ids_[3]], n=4, exclude_seen=False)
    assert ids2.shape == (2, 4)
    with pytest.raises(LookupError):
        m.recommend_users(10**9)
    # the transposed model is kept between calls and dropped when the model changes: a
    # refit on fewer ratings ranks as a fresh estimator does, with the new exclusions
    half = tuple(np.asarray(a)[: len(u) // 2] for a in planted.train)
    m.fit(half)
    fresh = cufactor.ALS(factors=3, iterations=4, device="cpu", seed=5).fit(half)
    for exclude in (True, False):
        a, sa = m.recommend_users(item, n=7, exclude_seen=exclude)
        b, sb = fresh.recommend_users(item, n=7, exclude_seen=exclude)
        assert a.tolist() == b.tolist() and np.array_equal(sa, sb)
    assert pickle.loads(pickle.dumps(m)).recommend_users(item, n=7)[0].tolist() == \
        fresh.recommend_users(item, n=7)[0].tolist()


def test_time_split_of_a_dataframe(planted):
    # a DataFrame's timestamp column (integers, or datetime64 taken as Unix seconds) gives
    # the split of the same ratings with those times as arrays
    pd = pytest.importorskip("pandas")
    u, i, r = planted.train
    t = np.random.default_rng(5).integers(10**9, 10**9 + 10**6, len(r))
    ref_train, ref_test = cufactor.train_test_split(
        pd.DataFrame({"user": u, "item": i, "rating": r, "timestamp": t}), test_size=0.25, split="time")
    dated = pd.DataFrame({"user": u, "item": i, "rating": r, "timestamp": pd.to_datetime(t, unit="s")})
    train, test = cufactor.train_test_split(dated, test_size=0.25, split="time")
    np.testing.assert_array_equal(test.times, ref_test.times)
    np.testing.assert_array_equal(train.ratings, ref_train.ratings)
    assert train.times.max() <= test.times.min()


def _as_version_1(data):
    """A version-2 .cfm (bytes) rewritten as version 1 by the documented layout: the rating
    counts cut out, the version set to 1, the checksum computed again."""
    nu, ni, k = struct.unpack_from("<qqi", data, 16)
    at = 164 + 8 * (nu * k + ni * k + nu + ni)
    body = bytearray(data[:at] + data[at + 8 * (nu + ni):-8])
    struct.pack_into("<I", body, 8, 1)
    mask = (1 << 64) - 1

    def mix(h, w):
        h = ((h ^ w) * 0x100000001B3) & mask
        return h ^ (h >> 32)

    h, n = 0xCBF29CE484222325, len(body)
    for (w,) in struct.iter_unpack("<Q", body[: n - n % 8]):
        h = mix(h, w)
    for b in body[n - n % 8:]:
        h = mix(h, b)
    return bytes(body) + struct.pack("<Q", mix(h, n))


def test_min_ratings_ranks_only_rows_fit_to_enough_ratings(planted, tmp_path):
    """user_counts_ / item_counts_ are each row's training ratings; recommend(min_ratings=M)
    is the full ranking with the items fit to fewer than M left out (recommend_users: the
    users), rank_metrics measures those lists (relevant items below M unknown to them); a
    model file of version 1 has no counts and refuses the floor."""
    m = cufactor.ALS(factors=4, iterations=5, device="cpu").fit(planted.train)
    tu, ti, _ = planted.train
    for ids, counts, col in ((m.user_ids_, m.user_counts_, tu), (m.item_ids_, m.item_counts_, ti)):
        values, want = np.unique(col, return_counts=True)
        assert counts.dtype == np.int64 and dict(zip(ids.tolist(), counts.tolist())) == \
            dict(zip(values.tolist(), want.tolist()))
    M = int(np.median(m.item_counts_))
    allowed = set(m.item_ids_[m.item_counts_ >= M].tolist())
    assert 10 < len(allowed) < len(m.item_ids_)
    users = m.user_ids_[:5]
    full, full_scores = m.recommend(users, n=len(m.item_ids_))
    got, got_scores = m.recommend(users, n=6, min_ratings=M)
    for k in range(len(users)):
        keep = [j for j, x in enumerate(full[k].tolist()) if x in allowed][:6]
        assert got[k].tolist() == full[k][keep].tolist()
        np.testing.assert_array_equal(got_scores[k], full_scores[k][keep])
    assert m.recommend(users[0], n=6, min_ratings=M)[0].tolist() == got[0].tolist()  # the kept subset
    item, Mu = m.item_ids_[0], int(np.median(m.user_counts_))
    fu, _ = m.recommend_users(item, n=len(m.user_ids_))
    gu, _ = m.recommend_users(item, n=5, min_ratings=Mu)
    ok_users = set(m.user_ids_[m.user_counts_ >= Mu].tolist())
    assert gu.tolist() == [x for x in fu.tolist() if x in ok_users][:5]
    # similar_items: the full list without the items below M, for a query below M too
    low = m.item_ids_[np.argmin(m.item_counts_)]
    fs, fss = m.similar_items([low, m.item_ids_[1]], n=len(m.item_ids_))
    gs, gss = m.similar_items([low, m.item_ids_[1]], n=4, min_ratings=M)
    for k in range(2):
        keep = [j for j, x in enumerate(fs[k].tolist()) if x in allowed][:4]
        assert gs[k].tolist() == fs[k][keep].tolist()
        np.testing.assert_array_equal(gss[k], fss[k][keep])
    # rank_metrics: precision of recommend(min_ratings=M)'s lists against the test ratings
    n = 5
    floored, plain = m.rank_metrics(planted.test, n=n, min_ratings=M), m.rank_metrics(planted.test, n=n)
    su, si, _ = planted.test
    known = set(m.user_ids_.tolist())
    test_users = sorted(u for u in set(su.tolist()) if u in known)
    lists, _ = m.recommend(test_users, n=n, min_ratings=M)
    precision, evaluated, unknown = 0.0, 0, 0
    for user, lst in zip(test_users, lists):
        seen = set(ti[tu == user].tolist())
        rel = {i for u, i in zip(su.tolist(), si.tolist()) if u == user and i not in seen}
        if rel:
            evaluated += 1
            precision += len(rel & set(lst.tolist())) / n
            unknown += len(rel - allowed)
    assert floored["users"] == evaluated and floored["relevant_unknown"] == unknown > plain["relevant_unknown"]
    assert floored["model"]["precision"] == pytest.approx(precision / evaluated, rel=1e-12)
    for bad in (-1, True, 2.0, "3"):
        with pytest.raises(ValueError):
            m.recommend(users, min_ratings=bad)
    assert pickle.loads(pickle.dumps(m)).recommend(users, n=6, min_ratings=M)[0].tolist() == got.tolist()
    # a model file of version 1: loads, no counts, no floor
    path = tmp_path / "m.cfm"
    m.save(str(path))
    v1 = tmp_path / "v1.cfm"
    v1.write_bytes(_as_version_1(path.read_bytes()))
    old = cufactor.load(str(v1))
    assert old.user_counts_ is None and old.item_counts_ is None
    assert old.recommend(users, n=6, exclude_seen=False)[0].tolist() == \
        m.recommend(users, n=6, exclude_seen=False)[0].tolist()
    with pytest.raises(ValueError, match="version 1"):
        old.recommend(users, exclude_seen=False, min_ratings=2)
    with pytest.raises(ValueError, match="version 1"):
        old.similar_items(m.item_ids_[0], min_ratings=2)
