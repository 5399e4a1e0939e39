"""Errors: bad parameters and arguments raise ValueError naming them, the C library's
messages reach the exceptions, and Ctrl-C during fit raises KeyboardInterrupt and leaves
the estimator unfitted."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

import cufactor

TRIPLES = ([1, 2, 2], [7, 7, 8], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("make, match", [
    (lambda: cufactor.ALS(factors=0), r"factors: 0, must be in 1\.\.4096"),
    (lambda: cufactor.ALS(factors="8"), r"factors: expected an integer, got '8'"),
    (lambda: cufactor.ALS(regularization=-1.0), r"lambda: -1, must be .*\(parameter regularization\)"),
    (lambda: cufactor.ALS(iterations=2.5), r"iterations: expected an integer"),
    (lambda: cufactor.ALS(device="tpu"), r"device: 'tpu' is not one of auto, cpu, gpu"),
    (lambda: cufactor.ALS(bias="yes"), r"bias: expected True or False"),
    (lambda: cufactor.Factorizer(algo="svd"), r"algo: 'svd'"),
    (lambda: cufactor.SGD(precision="fp16", device="cpu"), r"precision: fp16 factor storage is GPU-only"),
    (lambda: cufactor.SGD(schedule="random"), r"schedule: 'random'"),
    (lambda: cufactor.MiniBatch(batch_size=-1), r"batch: -1, must be >= 1.*\(parameter batch_size\)"),
])
def test_bad_parameters_name_themselves(make, match):
    with pytest.raises(ValueError, match=match):
        make().fit(TRIPLES)


def test_bad_arguments_change_nothing_a_failed_training_unfits():
    m = cufactor.ALS(factors=2, iterations=1, device="cpu").fit(TRIPLES)
    before = m.user_factors_
    m.set_params(factors=0)
    with pytest.raises(ValueError):
        m.fit(TRIPLES)
    with pytest.raises(ValueError, match=r"ratings\[1\]: not finite"):
        m.set_params(factors=2).fit(([1, 2], [3, 4], [1.0, float("nan")]))
    assert m.user_factors_ is before  # parameters and data are checked before anything changes
    with pytest.raises(cufactor.CufactorError, match="no training ratings"):  # the trainer refuses
        m.fit(([], [], []))
    assert not hasattr(m, "user_factors_")
    with pytest.raises(cufactor.NotFittedError, match="not fitted"):
        m.predict([1], [7])


@pytest.mark.parametrize("X, match", [
    (([1.0, 2.0], [3, 4], [1, 2]), r"X users: floating-point IDs"),
    (([1, 2], [3, 4], [1.0]), r"X: 2 users, 2 items and 1 ratings"),
    ((["a", ""], ["x", "y"], [1, 2]), r"users\[1\]: empty ID"),
    (([1, 2], [3, 4], ["x", "y"]), r"X: ratings are not numbers"),
    ("ratings.csv", r"X: expected a scipy.sparse matrix"),
])
def test_bad_data_named(X, match):
    with pytest.raises(ValueError, match=match):
        cufactor.ALS(device="cpu").fit(X)


def test_dataframe_columns_named():
    pd = pytest.importorskip("pandas")
    with pytest.raises(ValueError, match=r"a user column named one of user, .*; it has a, b, c"):
        cufactor.ALS().fit(pd.DataFrame({"a": [1], "b": [2], "c": [3.0]}))


def test_use_errors():
    m = cufactor.ALS(factors=2, iterations=1, device="cpu").fit(TRIPLES)
    with pytest.raises(ValueError, match=r"n: expected an integer >= 1, got 0"):
        m.recommend([1], n=0)
    with pytest.raises(ValueError, match=r"unknown: expected 'mean' or 'error'"):
        m.predict([1], [7], unknown="skip")
    with pytest.raises(ValueError, match=r"users and items: 2 users but 1 items"):
        m.predict([1, 2], [7])
    with pytest.raises(LookupError, match=r"users 1: unknown user ID '99'"):
        m.recommend([1, 99], unknown="error")


def test_library_messages_reach_the_exceptions(tmp_path):
    with pytest.raises(OSError, match="nothing-here.tsv") as e:
        cufactor.read_ratings(tmp_path / "nothing-here.tsv")
    assert e.value.status == "io"
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t2\t3\n1\t2\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: .*missing rating field"):
        cufactor.read_ratings(bad)
    assert len(cufactor.read_ratings(bad, skip_bad_lines=True)) == 1
    corrupt = tmp_path / "m.cfm"
    cufactor.ALS(factors=2, iterations=1, device="cpu").fit(TRIPLES).save(corrupt)
    data = bytearray(corrupt.read_bytes())
    data[40] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(cufactor.CufactorError, match="m.cfm") as e:
        cufactor.load(corrupt)
    assert e.value.status == "corrupt"


def test_gpu_requested_without_one_says_why():
    info = cufactor.device_info()
    if info["gpu"]:
        pytest.skip("a GPU is usable here")
    with pytest.raises(cufactor.CufactorError, match=re.escape(info["reason"])) as e:
        cufactor.ALS(device="gpu").fit(TRIPLES)
    assert e.value.status == "unsupported"


def test_ctrl_c_during_fit(tmp_path):
    # A fit of 10^6 iterations in a child Python; once two iterations are reported, SIGINT.
    # The child must raise KeyboardInterrupt out of fit, leave the estimator unfitted, and
    # stop long before the end (it prints how many iterations it reported).
    # The child restores Python's own SIGINT handler first: a process started in the
    # background by a non-interactive shell (CI run under `cmd &`) inherits SIGINT ignored,
    # and Python then leaves it ignored, so Ctrl-C could never reach it; a user at a terminal
    # has the handler this installs.
    script = textwrap.dedent("""
        import signal
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import sys
        import numpy as np
        import cufactor
        rng = np.random.default_rng(0)
        n = 200000
        X = (rng.integers(0, 20000, n), rng.integers(0, 3000, n), rng.random(n) * 4 + 1)
        m = cufactor.ALS(factors=16, iterations=1000000, device="cpu", threads=1, verbose=True)
        try:
            m.fit(X)
        except KeyboardInterrupt:
            print("KeyboardInterrupt", hasattr(m, "user_factors_"), flush=True)
            sys.exit(3)
        print("finished", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=dict(os.environ, OMP_WAIT_POLICY="passive"))
    seen = 0
    try:
        for line in child.stderr:
            if "iteration" in line:
                seen += 1
                if seen == 2:
                    child.send_signal(signal.SIGINT)
                    break
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 3, (out, err)
    assert out.strip() == "KeyboardInterrupt False"
    reported = seen + err.count("iteration")
    assert reported < 1000, reported
