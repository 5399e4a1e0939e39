"""Agreement with the command-line program on the same ratings: the CLI bundled in the
package (cufactor.cli_path(), built from the same library sources in the same build) trains
on a file, the package on the same ratings in the same order; on the CPU the factors are
the same doubles. And .cfm files go both ways."""

import gzip
import json
import os
import subprocess

import numpy as np
import pytest

import cufactor


def cli(*args, cwd=None):
    p = subprocess.run([cufactor.cli_path(), *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert p.returncode == 0, f"cufactor {' '.join(map(str, args))}: exit {p.returncode}\n{p.stderr}"
    return p


def assert_same_model(a, b):
    for name in ("user_ids_", "item_ids_", "user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.global_mean_ == b.global_mean_


@pytest.mark.parametrize("algo, extra", [("als", {}), ("sgd", {}), ("ccd", {}), ("gd", {"lr": 0.001})])
def test_cpu_factors_identical_to_the_cli(planted, tmp_path, algo, extra):
    data = planted.write(tmp_path / "train.tsv", planted.train)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in extra.items()]
    cli("train", data, "--algo", algo, "--factors", 5, "--iters", 4, "--lambda", 0.05, "--seed", 11,
        "--device", "cpu", "--threads", 2, "--test-ratio", 0, "--quiet", "--model", tmp_path / "cli.cfm", *flags)
    from_cli = cufactor.load(tmp_path / "cli.cfm")
    assert type(from_cli).__name__ == {"als": "ALS", "sgd": "SGD", "ccd": "CCD", "gd": "GD"}[algo]
    assert from_cli.factors == 5 and from_cli.seed == 11 and from_cli.iterations == 4

    kw = dict(algo=algo, factors=5, iterations=4, regularization=0.05, seed=11, device="cpu", threads=2, **extra)
    # the same ratings in the same order as the file's lines
    assert_same_model(from_cli, cufactor.Factorizer(**kw).fit(planted.train))
    # the file through the C reader
    assert_same_model(from_cli, cufactor.Factorizer(**kw).fit(cufactor.read_ratings(data)))


def test_read_ratings_is_the_readers(tmp_path):
    # a header, "::" separators, a repeated pair (the last kept), string IDs
    path = tmp_path / "r.dat"
    path.write_text("user::item::rating\nann::x::1\nbob::y::2\nann::x::4\nann::z::5\n")
    r = cufactor.read_ratings(path)
    assert r.report["header"] and r.report["duplicates"] == 1
    assert r.user_ids.tolist() == ["ann", "bob"] and r.item_ids.tolist() == ["x", "y", "z"]
    users, items, ratings = r
    assert list(zip(users.tolist(), items.tolist(), ratings.tolist())) == [("ann", "x", 4.0), ("ann", "z", 5.0),
                                                                          ("bob", "y", 2.0)]
    assert r.report["compressed"] is None
    # the same file gzip-compressed, whatever its name: the same ratings, its size reported
    gz = tmp_path / "r.bin"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    z = cufactor.read_ratings(gz)
    assert z.report["compressed"] == gz.stat().st_size and z.report["duplicates"] == 1
    assert [a.tolist() for a in z] == [a.tolist() for a in r]


def test_save_load_round_trip_with_the_cli(planted, tmp_path):
    m = cufactor.ALS(factors=4, iterations=5, device="cpu").fit(planted.train)
    m.save(tmp_path / "py.cfm")
    back = cufactor.load(tmp_path / "py.cfm")
    assert_same_model(m, back)
    # the parameters come back; those left to the library (None) come back as its values
    given = {k: v for k, v in m.get_params().items() if v is not None}
    assert {k: back.get_params()[k] for k in given} == given
    # the CLI predicts from the package's file what the package predicts (printed with 10 decimals)
    u, i, _ = planted.test
    u, i = np.append(u[:50], 77), np.append(i[:50], i[0])  # one unknown user: the mean fallback
    (tmp_path / "pairs.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in zip(u, i)))
    out = cli("predict", tmp_path / "py.cfm", tmp_path / "pairs.tsv").stdout.split("\n")
    got = np.array([float(line.split("\t")[2]) for line in out if line])
    np.testing.assert_allclose(got, m.predict(u, i), rtol=0, atol=6e-11)
    # and recommends the same items, in the same order
    user = m.user_ids_[3]
    rec = cli("recommend", tmp_path / "py.cfm", "--user", user, "-n", 7).stdout.split("\n")
    items = [int(line.split("\t")[1]) for line in rec if line and line[0].isdigit()]
    assert items == back.recommend(user, n=7, exclude_seen=False)[0].tolist()


def test_load_without_training_data_cannot_exclude_seen(planted, tmp_path):
    m = cufactor.CCD(factors=2, iterations=1, device="cpu").fit(planted.train)
    m.save(tmp_path / "m.cfm")
    back = cufactor.load(tmp_path / "m.cfm")
    with pytest.raises(ValueError, match="exclude_seen"):
        back.recommend(m.user_ids_[0])
    assert back.recommend(m.user_ids_[0], n=3, exclude_seen=False)[0].shape == (3,)


def test_console_script_runs_the_cli():
    # `cufactor` on PATH next to this Python (the package's console script)
    import shutil
    import sys
    exe = shutil.which("cufactor", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("the cufactor console script is not installed next to this Python")
    p = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("cufactor 0.1.0")


@pytest.mark.parametrize("split", ["random", "user"])
def test_train_test_split_is_the_clis(planted, tmp_path, split):
    # cufactor train DATA --test-ratio 0.2 --test-split S --seed 9 against train_test_split of
    # the same file's ratings, then fit(train, X_test=test): the same parts (counts, and
    # every user of the test part known under "user"), the same model bit for bit, the
    # same test RMSE; two restarts, so the same history of both runs (JSON "history" and
    # history_) and the same kept run.
    data = planted.write(tmp_path / "all.tsv", planted.train)
    p = cli("train", data, "--factors", 4, "--iters", 3, "--seed", 9, "--device", "cpu", "--threads", 2,
            "--restarts", 2, "--test-ratio", 0.2, "--test-split", split, "--json", "--quiet",
            "--model", tmp_path / "cli.cfm")
    summary = json.loads(p.stdout)
    train, test = cufactor.train_test_split(cufactor.read_ratings(data), test_size=0.2, split=split, seed=9)
    assert (len(train), len(test)) == (summary["n_train"], summary["n_test"])
    assert len(train) + len(test) == len(planted.train[2]) and len(test) > 0
    if split == "user":
        assert set(test.users.tolist()) <= set(train.users.tolist())
    m = cufactor.ALS(factors=4, iterations=3, seed=9, device="cpu", threads=2, restarts=2).fit(train, X_test=test)
    assert_same_model(cufactor.load(tmp_path / "cli.cfm"), m)
    hist = summary["history"]
    assert [h["run"] for h in hist] == m.history_["run"].tolist() == [1, 1, 1, 2, 2, 2]
    assert [h["iter"] for h in hist] == m.history_["iteration"].tolist() == [1, 2, 3, 1, 2, 3]
    for key in ("train_rmse", "test_rmse", "objective"):
        assert [h[key] for h in hist] == m.history_[key].tolist(), key  # the same numbers, to the last bit
    assert m.run_ == summary["run"]
    kept = [h for h in hist if h["run"] == summary["run"]]
    assert kept[-1]["test_rmse"] == summary["test_rmse"] == min(h["test_rmse"] for h in hist if h["iter"] == 3)
    # the same seed, the same parts; another, other parts; the share checked by the library
    again, _ = cufactor.train_test_split(cufactor.read_ratings(data), test_size=0.2, split=split, seed=9, threads=1)
    assert np.array_equal(again.ratings, train.ratings) and np.array_equal(again.users, train.users)
    other, _ = cufactor.train_test_split(planted.train, test_size=0.2, split=split, seed=10)
    assert not (np.array_equal(other.users, train.users) and np.array_equal(other.items, train.items))
    with pytest.raises(ValueError, match="ratio"):
        cufactor.train_test_split(planted.train, test_size=1.0, split=split)
    with pytest.raises(ValueError, match="split"):
        cufactor.train_test_split(planted.train, split="users")
    with pytest.raises(ValueError, match="seed"):
        cufactor.train_test_split(planted.train, seed=-1)


def write_timed(planted, path, seed, span):
    # the planted training ratings as a four-column file, times drawn from a short span
    # after 10**9 (many ties); returns the path
    u, i, r = planted.train
    times = np.random.default_rng(seed).integers(10**9, 10**9 + span, len(r))
    with open(path, "w") as f:
        for a, b, c, t in zip(u, i, r, times):
            f.write(f"{a}\t{b}\t{float(c)!r}\t{t}\n")
    return path


@pytest.mark.parametrize("split", ["time", "user-time"])
def test_time_split_is_the_clis(planted, tmp_path, split):
    # cufactor train DATA --test-split time|user-time against read_ratings(timestamps=True)
    # split by train_test_split: the same parts (the cut under "time", every test user known
    # under "user-time"), the same model and test RMSE; the parts carry their times.
    u, i, r = planted.train
    data = write_timed(planted, tmp_path / "timed.tsv", seed=3, span=5000)
    p = cli("train", data, "--factors", 4, "--iters", 3, "--seed", 9, "--device", "cpu", "--threads", 2,
            "--test-ratio", 0.2, "--test-split", split, "--json", "--quiet", "--model", tmp_path / "cli.cfm")
    summary = json.loads(p.stdout)
    X = cufactor.read_ratings(data, timestamps=True)
    assert X.times is not None and len(X.times) == len(X)
    train, test = cufactor.train_test_split(X, test_size=0.2, split=split, seed=9)
    assert (len(train), len(test)) == (summary["n_train"], summary["n_test"]) and len(test) > 0
    assert len(train.times) == len(train) and len(test.times) == len(test)
    if split == "time":
        assert train.times.max() <= test.times.min() == summary["test_cutoff"]
    else:
        assert set(test.users.tolist()) <= set(train.users.tolist())
        for user in sorted(set(test.users.tolist()))[:50]:
            assert train.times[train.users == user].max() <= test.times[test.users == user].min()
    m = cufactor.ALS(factors=4, iterations=3, seed=9, device="cpu", threads=2).fit(train, X_test=test)
    assert_same_model(cufactor.load(tmp_path / "cli.cfm"), m)
    assert m.history_["test_rmse"][-1] == pytest.approx(summary["test_rmse"], rel=1e-12)
    # the time splits need times
    with pytest.raises(ValueError, match="timestamps=True"):
        cufactor.train_test_split(cufactor.read_ratings(data), split=split)
    with pytest.raises(ValueError, match="timestamps"):
        cufactor.train_test_split((u, i, r), split=split)
    with pytest.raises(ValueError, match="timestamps"):
        cufactor.kfold(cufactor.read_ratings(data), split=split)


@pytest.mark.parametrize("split", ["time", "user-time"])
def test_time_kfold_is_the_clis_cv(planted, tmp_path, split):
    # cufactor cv DATA --fold-split time|user-time --json against kfold of the same file read
    # with timestamps: the same validation RMSE per fold from fit(train, X_test=test); every
    # training rating earlier (time, then file order) than the fold's test ratings (per user
    # under "user-time"), the later folds in neither part; the first block never tested.
    data = write_timed(planted, tmp_path / "timed.tsv", seed=4, span=3000)
    p = cli("cv", data, "--factors", 4, "--lambda", 0.1, "--iters", 3, "--folds", 3, "--fold-split", split,
            "--device", "cpu", "--threads", 2, "--json", "--quiet")
    summary = json.loads(p.stdout)
    assert summary["fold_split"] == split
    X = cufactor.read_ratings(data, timestamps=True)
    pairs = list(cufactor.kfold(X, folds=3, split=split))
    rmse, tested = [], 0
    for f, (train, test) in enumerate(pairs):
        assert len(test) > 0 and len(train) + len(test) <= len(X)
        assert test.times.min() == summary["fold_from"][f]
        if split == "time":
            assert train.times.max() <= test.times.min()
            assert len(train) == -(-(f + 1) * len(X) // 4) and len(test) == -(-(f + 2) * len(X) // 4) - len(train)
        else:
            assert set(test.users.tolist()) <= set(train.users.tolist())
            for user in sorted(set(test.users.tolist()))[:50]:
                assert train.times[train.users == user].max() <= test.times[test.users == user].min()
        tested += len(test)
        m = cufactor.ALS(factors=4, regularization=0.1, iterations=3, seed=42, device="cpu", threads=2)
        rmse.append(m.fit(train, X_test=test).history_["test_rmse"][-1])
    np.testing.assert_allclose(rmse, summary["cells"][0]["fold_rmse"], rtol=1e-12)
    assert tested == len(X) - summary["unvalidated"] and summary["unvalidated"] > 0
    # the seed plays no part: the order decides
    again = next(iter(cufactor.kfold(X, folds=3, split=split, seed=5, threads=1)))[1]
    assert np.array_equal(again.users, pairs[0][1].users) and np.array_equal(again.items, pairs[0][1].items)


@pytest.mark.parametrize("split", ["random", "user"])
def test_kfold_is_the_clis_cv(planted, tmp_path, split):
    # cufactor cv DATA --folds 3 --fold-split S --seed 9 --json against kfold of the same
    # file's ratings, each pair fitted with fit(train, X_test=test): the same validation
    # RMSE per fold; the parts cover every rating once (per user: but the one-rating
    # users', in every training part), per user every test user is known. Five users of one
    # rating each are added to the planted ratings.
    u, i, r = planted.train
    light = np.arange(9000, 9005)
    data = planted.write(tmp_path / "all.tsv", (np.append(u, light), np.append(i, i[:5]), np.append(r, r[:5])))
    p = cli("cv", data, "--factors", 4, "--lambda", 0.1, "--iters", 3, "--folds", 3, "--fold-split", split, "--seed", 9,
            "--device", "cpu", "--threads", 2, "--json", "--quiet")
    summary = json.loads(p.stdout)
    X = cufactor.read_ratings(data)
    pairs = list(cufactor.kfold(X, folds=3, split=split, seed=9))
    assert len(pairs) == 3
    rmse = []
    for train, test in pairs:
        assert len(train) + len(test) == len(X) and len(test) > 0
        if split == "user":
            assert set(test.users.tolist()) <= set(train.users.tolist())
        m = cufactor.ALS(factors=4, regularization=0.1, iterations=3, seed=9, device="cpu", threads=2)
        rmse.append(m.fit(train, X_test=test).history_["test_rmse"][-1])
    np.testing.assert_allclose(rmse, summary["cells"][0]["fold_rmse"], rtol=1e-12)
    tested = sum(len(test) for _, test in pairs)
    assert tested == len(X) - (summary["unvalidated"] if split == "user" else 0)
    assert summary["unvalidated"] == (5 if split == "user" else 0)
    # the same seed the same folds, whatever the threads; errors at the call
    again = next(iter(cufactor.kfold(X, folds=3, split=split, seed=9, threads=1)))[1]
    assert np.array_equal(again.users, pairs[0][1].users) and np.array_equal(again.items, pairs[0][1].items)
    with pytest.raises(ValueError, match="folds"):
        cufactor.kfold(X, folds=1, split=split)
    with pytest.raises(ValueError, match="split"):
        cufactor.kfold(X, split="users")
    with pytest.raises(ValueError, match="seed"):
        cufactor.kfold(X, seed=-1)


def test_evaluate_and_compare_are_the_clis_eval(planted, tmp_path):
    # model.evaluate and model.compare against cufactor eval MODEL TEST --compare OTHER --json
    # on the same files: the same figures, standard errors included; evaluate's rmse is rmse()'s;
    # swapped models swap the sign; a model against itself differs by exactly nothing.
    a = cufactor.ALS(factors=4, iterations=5, seed=1, device="cpu", threads=2).fit(planted.train)
    b = cufactor.ALS(factors=2, iterations=5, seed=1, device="cpu", threads=2).fit(planted.train)
    a.save(tmp_path / "a.cfm"), b.save(tmp_path / "b.cfm")
    test = planted.write(tmp_path / "test.tsv", planted.test)
    js = json.loads(cli("eval", tmp_path / "a.cfm", test, "--compare", tmp_path / "b.cfm", "--json", "--quiet").stdout)
    X = cufactor.read_ratings(test)
    ev, cmp = a.evaluate(X), a.compare(b, X)
    for key in ("rmse", "rmse_se", "mae", "mae_se", "count", "users", "unseen"):
        assert ev[key] == pytest.approx(js[key], rel=1e-12), key
        assert cmp["self"][key] == ev[key], key
        assert cmp["other"][key] == pytest.approx(js["compare"][key] if key in js["compare"] else b.evaluate(X)[key],
                                                  rel=1e-12), key
    assert cmp["rmse_diff"] == pytest.approx(js["compare"]["rmse_diff"], rel=1e-12)
    assert cmp["rmse_diff_se"] == pytest.approx(js["compare"]["rmse_diff_se"], rel=1e-12)
    assert cmp["rmse_diff_se"] > 0
    assert ev["rmse"] == a.rmse(X) and ev["users"] == len(set(planted.test[0].tolist()))
    back = b.compare(a, X)
    assert back["rmse_diff"] == -cmp["rmse_diff"] and back["rmse_diff_se"] == pytest.approx(cmp["rmse_diff_se"])
    same = a.compare(a, X)
    assert same["rmse_diff"] == 0 and same["rmse_diff_se"] == 0
    with pytest.raises(TypeError, match="other"):
        a.compare("b.cfm", X)
