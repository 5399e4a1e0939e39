"""Estimators in scikit-learn's conventions over the C trainer: parameters only in
``__init__``, ``fit`` returns self, learned attributes end in ``_``, ``get_params`` /
``set_params``, ``score`` is −RMSE (greater is better). No training logic here: the
C library trains, predicts and ranks; this module converts arguments and results.
"""

import ctypes as C
import inspect
import math
import numbers
import os
import sys
import tempfile
import threading

import numpy as np

from . import _lib
from ._lib import lib, check, Error
from ._data import _dataset, _ratings_of


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (or after an interrupted ``fit``)."""


# Python parameter -> (the library's field name, cf_config_set's; kind)
_PARAMS = {
    "factors": ("factors", "int"),
    "regularization": ("lambda", "float"),
    "reg": ("reg", "str"),
    "bias_regularization": ("bias-lambda", "float"),
    "bias_reg": ("bias-reg", "str"),
    "bias": ("bias", "bool"),
    "iterations": ("iters", "int"),
    "tol": ("tol", "float"),
    "init_scale": ("init-scale", "float"),
    "seed": ("seed", "int"),
    "threads": ("threads", "int"),
    "device": ("device", "str"),
    "gpu_id": ("gpu-id", "int"),
    "gpu_mem_limit": ("gpu-mem-limit", "int"),
    "restarts": ("restarts", "int"),
    "early_stopping": ("early-stop", "int"),
    "lr": ("lr", "float"),
    "lr_schedule": ("lr-schedule", "str"),
    "lr_decay": ("lr-decay", "float"),
    "schedule": ("schedule", "str"),
    "blocks": ("blocks", "int"),
    "precision": ("precision", "str"),
    "optimizer": ("optimizer", "str"),
    "batch_size": ("batch", "int"),
    "inner_steps": ("inner", "int"),
    "solver": ("als-solver", "str"),
    "gram": ("als-gram", "str"),
}
# cf_config_validate names fields as the struct does ("init_scale"): back to the parameter
_PARAM_OF_FIELD = {field.replace("-", "_"): name for name, (field, _) in _PARAMS.items()}

_UNKNOWN = {"mean": _lib.CF_UNKNOWN_MEAN, "error": _lib.CF_UNKNOWN_ERROR}


def _check_n(n):
    """A list length n: an integer in [1, 2^31 - 1], else ValueError."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 or n > 2**31 - 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")


def _check_min_ratings(m):
    """A support floor: an integer >= 0 (0: none), else ValueError."""
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 0:
        raise ValueError(f"min_ratings: expected an integer >= 0, got {m!r}")
    return int(m)


def _counts_for_floor(counts):
    """A side's rating counts for a min_ratings floor; ValueError for a model without them."""
    if counts is None:
        raise ValueError("min_ratings: this model has no rating counts (it was loaded from a model file of "
                         "version 1, saved before they were kept): train it again, or pass min_ratings=0")
    return counts


def _unfloor(rows, rowmap):
    """Rows of a floored model (``Factorizer._floored``) as the model's rows; -1 stays."""
    if rowmap is None:
        return rows
    out = np.full(rows.shape, -1, dtype=np.int64)
    real = rows >= 0
    out[real] = rowmap[rows[real]]
    return out


def _param_text(name, value, kind):
    """The text cf_config_set takes for a parameter value, or ValueError naming it."""
    if kind == "bool":
        if isinstance(value, (bool, np.bool_)) or value in (0, 1):
            return "1" if value else "0"
        raise ValueError(f"{name}: expected True or False, got {value!r}")
    if kind == "int":
        if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
            return str(int(value))
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if kind == "float":
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            return repr(float(value))
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if isinstance(value, str):
        return value
    raise ValueError(f"{name}: expected a string, got {value!r}")


def _param_value(text, kind):
    if kind == "bool":
        return text == "1"
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    return text


class _Config:
    """A cf_config on the C heap, destroyed with the object."""

    def __init__(self):
        p = lib.cf_config_new()
        if not p:
            raise MemoryError("cufactor: out of memory for a configuration")
        self.handle = _lib.Handle(p, lib.cf_config_destroy)

    def set(self, param, field, text):
        err = Error()
        if lib.cf_config_set(self.handle.value, field.encode(), text.encode(), C.byref(err)) != _lib.CF_OK:
            msg = err.msg.decode("utf-8", "replace")
            raise ValueError(f"{param}: {msg.split(': ', 1)[-1]}" if param else msg)

    def validate(self):
        err = Error()
        if lib.cf_config_validate(self.handle.value, C.byref(err)) != _lib.CF_OK:
            msg = err.msg.decode("utf-8", "replace")
            field = msg.split(":", 1)[0]
            param = _PARAM_OF_FIELD.get(field)
            raise ValueError(f"{msg} (parameter {param})" if param and param != field else msg)


def _config_get(cfg_ptr, field):
    buf = C.create_string_buffer(64)
    check(lib.cf_config_get, cfg_ptr, field.encode(), buf, 64)
    return buf.value.decode()


# ---------------------------------------------------------------- ratings in

class Factorizer:
    """Matrix factorization r̂ = μ + b_u + b_i + p_u·q_i trained by the C library.

    ``algo`` is one of als, sgd, gd, minibatch, alsgd, ccd (the subclasses ALS, SGD, GD,
    MiniBatch, ALSGD and CCD fix it and take only their parameters). A parameter left at
    None takes the library's default (``cufactor train --help`` lists them all).
    """

    _algo = None

    def __init__(self, algo="als", factors=32, regularization=0.1, reg="weighted", bias_regularization=None,
                 bias_reg=None, bias=True, iterations=None,
                 tol=0.0, init_scale=0.1, seed=42, threads=0, device="auto", gpu_id=0, gpu_mem_limit=0,
                 restarts=1, early_stopping=0, lr=None, lr_schedule=None, lr_decay=None, schedule=None,
                 blocks=None, precision=None, optimizer=None, batch_size=None, inner_steps=None, solver=None,
                 gram=None, verbose=False):
        self.algo = algo
        self.factors = factors
        self.regularization = regularization
        self.reg = reg
        self.bias_regularization = bias_regularization
        self.bias_reg = bias_reg
        self.bias = bias
        self.iterations = iterations
        self.tol = tol
        self.init_scale = init_scale
        self.seed = seed
        self.threads = threads
        self.device = device
        self.gpu_id = gpu_id
        self.gpu_mem_limit = gpu_mem_limit
        self.restarts = restarts
        self.early_stopping = early_stopping
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.schedule = schedule
        self.blocks = blocks
        self.precision = precision
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.inner_steps = inner_steps
        self.solver = solver
        self.gram = gram
        self.verbose = verbose

    # ---- parameters

    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD)

    def get_params(self, deep=True):
        """The parameters given to ``__init__`` (scikit-learn's convention)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Sets parameters by name; returns self. Unknown names are a ValueError."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{name}: not a parameter of {type(self).__name__} (its parameters: {', '.join(valid)})")
            setattr(self, name, value)
        return self

    def __repr__(self):
        init = inspect.signature(type(self).__init__).parameters
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if init[k].default is not v and init[k].default != v]
        return f"{type(self).__name__}({', '.join(shown)})"

    def _config(self):
        cfg = _Config()
        algo = self._algo or self.algo
        if not isinstance(algo, str):
            raise ValueError(f"algo: expected a string, got {algo!r}")
        cfg.set("algo", "algo", algo)
        for name, value in self.get_params().items():
            if name in ("algo", "verbose") or value is None:
                continue
            field, kind = _PARAMS[name]
            cfg.set(name, field, _param_text(name, value, kind))
        cfg.validate()
        return cfg

    # ---- training

    def fit(self, X, y=None, *, X_test=None, init=None):
        """Trains on X: a scipy.sparse matrix (rows users, columns items, every stored entry a
        rating), a ``(users, items, ratings)`` tuple of arrays (integer or string IDs), a pandas
        DataFrame with user, item and rating columns, or ``cufactor.read_ratings``'s result.
        ``X_test`` (the same forms) is evaluated after each iteration into ``history_``;
        ``early_stopping`` and ``restarts`` choose by it, so for an honest test score pass a
        validation part here and score the test part afterwards (``train --validation``).

        ``init`` (a fitted estimator, e.g. yesterday's model): a warm start. The users and
        items it has start from its rows, the others from the seeded draws (``train --init``);
        its factors and bias setting must be this estimator's. ALS from a model trained N
        iterations on the same X runs iterations N + 1, ... of that training. Unless ``lr`` is
        set, a decaying SGD step (invscale) starts where ``init``'s schedule ended.

        Bad parameters or data raise ValueError before anything changes. When the training
        itself fails, or Ctrl-C (KeyboardInterrupt) stops it — the C trainer sees the request
        within an iteration on the CPU, at the iteration's end on the GPU — the estimator is
        left unfitted, whatever it held before, and the exception propagates. Returns self."""
        del y  # scikit-learn's signature; the ratings are in X
        cfg = self._config()
        if init is not None:
            if not isinstance(init, Factorizer):
                raise ValueError(f"init: expected a fitted cufactor estimator, got {type(init).__name__}")
            init._check_fitted()
            if getattr(self, "lr", None) is None and getattr(self, "lr_schedule", None) in (None, "invscale"):
                lib.cf_config_continue_lr(cfg.handle.value, lib.cf_model_config(init._model.value))
        ds = _dataset(X, "X", X_test)
        seen = ds if X_test is None else _dataset(X, "X")  # exclude_seen: the training part only

        history = []
        verbose = bool(self.verbose)

        def on_iter(info_p, _user):
            it = info_p.contents
            history.append((it.iter, it.train_rmse, it.test_rmse, it.objective, it.seconds, it.restart + 1))
            if verbose:
                print(f"cufactor: iteration {it.iter}: train RMSE {it.train_rmse:.6f}, test RMSE "
                      f"{it.test_rmse:.6f}, {it.seconds:.3f} s", file=sys.stderr, flush=True)
            return 0

        callback = _lib.PROGRESS_FN(on_iter)
        stop = C.c_int(0)
        opts = _lib.TrainOptions()
        lib.cf_train_options_default(C.byref(opts))
        opts.stop = C.pointer(stop)
        if init is not None:
            opts.init = init._model.value
        model = C.c_void_p()
        report = _lib.TrainReport()
        err = Error()
        result = {}

        def run():  # the C call releases the GIL (ctypes)
            result["status"] = lib.cf_train_ex(ds.value, cfg.handle.value, C.byref(opts), callback, None,
                                               C.byref(model), C.byref(report), C.byref(err))

        worker = threading.Thread(target=run, name="cufactor-fit", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.05)
        except KeyboardInterrupt:
            stop.value = 1
            while worker.is_alive():
                try:
                    worker.join(0.05)
                except KeyboardInterrupt:  # a second Ctrl-C: still wait for the trainer to let go
                    pass
            if model.value:
                lib.cf_model_destroy(C.byref(model))
            self._forget()
            raise
        status = result.get("status", _lib.CF_ERR_INTERRUPTED)
        if status != _lib.CF_OK:
            self._forget()
            raise _lib.error_from(status, err)
        self._adopt(_lib.Handle(model.value, lib.cf_model_destroy), seen)
        keys = ("iteration", "train_rmse", "test_rmse", "objective", "seconds", "run")
        cols = list(zip(*history)) if history else [[]] * len(keys)
        self.history_ = {key: np.asarray(col, dtype=np.int64 if key in ("iteration", "run") else np.float64)
                         for key, col in zip(keys, cols)}
        self.n_iter_ = int(report.iters)
        self.train_rmse_ = float(report.train_rmse)
        self.device_ = report.device.decode("utf-8", "replace")
        self.notice_ = report.notice.decode("utf-8", "replace") or None
        self.stop_reason_ = report.stop_reason.decode("utf-8", "replace")
        self.run_ = int(report.restart) + 1 if report.restart >= 0 else None  # the restart kept, from 1
        return self

    _LEARNED = ("user_factors_", "item_factors_", "user_bias_", "item_bias_", "global_mean_", "user_ids_",
                "item_ids_", "user_counts_", "item_counts_", "history_", "n_iter_", "train_rmse_", "device_",
                "notice_", "stop_reason_", "run_", "fold_in_")

    # the C objects behind the learned attributes: never pickled (the model travels as its
    # .cfm bytes, the ratings as arrays); _swapped caches recommend_users' transposes and
    # the last min_ratings subsets
    _HANDLES = ("_model", "_seen", "_swapped")

    def _forget(self):
        for name in self._LEARNED + self._HANDLES:
            self.__dict__.pop(name, None)

    def _adopt(self, model, seen):
        """Takes a model handle: copies its parameters and IDs into the learned attributes."""
        info = _lib.model_info(model)
        nu, ni, k = info.n_users, info.n_items, info.factors
        P = np.empty((nu, k), dtype=np.float64)
        Q = np.empty((ni, k), dtype=np.float64)
        bu = np.empty(nu, dtype=np.float64)
        bi = np.empty(ni, dtype=np.float64)
        lib.cf_model_params(model.value, _lib.ptr(P), _lib.ptr(Q), _lib.ptr(bu), _lib.ptr(bi))
        self._model = model
        self._seen = seen
        self.__dict__.pop("_swapped", None)
        self.user_factors_, self.item_factors_ = P, Q
        self.user_bias_, self.item_bias_ = bu, bi
        self.global_mean_ = float(info.mu)
        self.user_ids_ = _lib.model_ids(model.value, _lib.CF_USERS, nu)
        self.item_ids_ = _lib.model_ids(model.value, _lib.CF_ITEMS, ni)
        self.user_counts_ = _lib.model_rating_counts(model.value, _lib.CF_USERS, nu)
        self.item_counts_ = _lib.model_rating_counts(model.value, _lib.CF_ITEMS, ni)

    def _check_fitted(self):
        if getattr(self, "_model", None) is None:
            raise NotFittedError(f"this {type(self).__name__} is not fitted: call fit() or cufactor.load() first")

    # ---- pickling (joblib, multiprocessing): the model travels as its .cfm bytes, the
    # training ratings kept for exclude_seen as arrays

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in self._HANDLES}
        if getattr(self, "_model", None) is not None:
            with tempfile.TemporaryDirectory(prefix="cufactor-") as d:
                path = os.path.join(d, "model.cfm")
                check(lib.cf_model_save, self._model.value, os.fsencode(path))
                with open(path, "rb") as f:
                    state["_cfm"] = f.read()
        if getattr(self, "_seen", None) is not None:
            state["_seen_ratings"] = _ratings_of(self._seen)
        return state

    def __setstate__(self, state):
        state = dict(state)
        cfm = state.pop("_cfm", None)
        seen = state.pop("_seen_ratings", None)
        self.__dict__.update(state)
        if cfm is not None:
            with tempfile.TemporaryDirectory(prefix="cufactor-") as d:
                path = os.path.join(d, "model.cfm")
                with open(path, "wb") as f:
                    f.write(cfm)
                p = C.c_void_p()
                check(lib.cf_model_load, os.fsencode(path), C.byref(p))
            self._model = _lib.Handle(p.value, lib.cf_model_destroy)
            self._seen = _dataset(seen, "X") if seen is not None else None

    # ---- using the model

    def predict(self, users, items, unknown="mean"):
        """r̂ for each pair (users[k], items[k]) as a float64 array. A user or item without
        training ratings gets μ plus the known side's bias (``unknown="mean"``, as
        ``cufactor predict``) or raises LookupError naming it (``unknown="error"``)."""
        self._check_fitted()
        if unknown not in _UNKNOWN:
            raise ValueError(f"unknown: expected 'mean' or 'error', got {unknown!r}")
        u = _lib.IdArray(users, "users")
        i = _lib.IdArray(items, "items")
        if u.n != i.n:
            raise ValueError(f"users and items: {u.n} users but {i.n} items; expected as many of each")
        out = np.empty(u.n, dtype=np.float64)
        check(lib.cf_model_predict_batch, self._model.value, u.ref, i.ref, _UNKNOWN[unknown], _lib.ptr(out), None)
        return out

    def recommend(self, users, n=10, exclude_seen=True, unknown="mean", min_ratings=0):
        """The top n items by r̂ for each user: ``(ids, scores)``, each of shape (len(users), n)
        (shape (n,) for a single user), best first. ``exclude_seen`` leaves out the items the
        user rated in the training data (kept from ``fit``; a loaded model has none). Where
        fewer than n items remain, the row ends with score NaN and ID -1 (None for string IDs).
        A user without training ratings is ranked by μ + b_i (``unknown="mean"``) or raises
        LookupError (``unknown="error"``). ``min_ratings`` M > 0 ranks only the items fit to
        at least M ratings (``item_counts_``; ``cufactor recommend --min-ratings``)."""
        self._check_fitted()
        _check_n(n)
        if unknown not in _UNKNOWN:
            raise ValueError(f"unknown: expected 'mean' or 'error', got {unknown!r}")
        model, rowmap = self._floored(False, _check_min_ratings(min_ratings))
        seen = self._seen_ratings(exclude_seen)
        single = np.ndim(users) == 0
        u = _lib.IdArray(users, "users")
        n = int(n)
        rows = np.empty((u.n, n), dtype=np.int64)
        scores = np.empty((u.n, n), dtype=np.float64)
        check(lib.cf_model_recommend_batch, model.value, u.ref, n, seen.value if seen else None,
              _UNKNOWN[unknown], 0, _lib.ptr(rows), _lib.ptr(scores), None)
        out = self._ids_of(_unfloor(rows, rowmap))
        return (out[0], scores[0]) if single else (out, scores)

    def recommend_users(self, items, n=10, exclude_seen=True, min_ratings=0):
        """The other way round: the top n users by r̂ for each item (who to show it to):
        ``(ids, scores)`` as ``recommend`` returns them, user IDs. ``exclude_seen`` leaves out
        the users who rated the item in the training data. An unknown item raises
        LookupError (``cufactor recommend --item``). The scores are ``predict``'s but for the
        order of one addition (μ + b_i + b_u). ``min_ratings`` M > 0 lists only the users fit
        to at least M ratings (``user_counts_``)."""
        self._check_fitted()
        _check_n(n)
        model_t, rowmap = self._floored(True, _check_min_ratings(min_ratings))
        seen_t = self._transposed("seen") if self._seen_ratings(exclude_seen) is not None else None
        single = np.ndim(items) == 0
        q = _lib.IdArray(items, "items")
        n = int(n)
        rows = np.empty((q.n, n), dtype=np.int64)
        scores = np.empty((q.n, n), dtype=np.float64)
        check(lib.cf_model_recommend_batch, model_t.value, q.ref, n, seen_t.value if seen_t else None,
              _UNKNOWN["error"], 0, _lib.ptr(rows), _lib.ptr(scores), None)
        out = self._ids_of(_unfloor(rows, rowmap), self.user_ids_)
        return (out[0], scores[0]) if single else (out, scores)

    def _floored(self, transposed, min_ratings):
        """The model (its transpose when ``transposed``) and, with ``min_ratings`` > 0, only
        the candidates fit to at least that many ratings (cf_model_subset), with the array
        that maps the subset's rows back to the model's (None: no floor). The last floor of
        either kind is kept until the model changes: a loop over users pays the copy once."""
        base = self._transposed("model") if transposed else self._model
        if not min_ratings:
            return base, None
        counts = _counts_for_floor(self.user_counts_ if transposed else self.item_counts_)
        cache = self.__dict__.setdefault("_swapped", {})
        key = ("floor", transposed)
        if key not in cache or cache[key][0] != min_ratings:
            keep = np.ascontiguousarray(counts >= min_ratings, dtype=np.uint8)
            h = C.c_void_p()
            check(lib.cf_model_subset, base.value, None, _lib.ptr(keep), C.byref(h))
            cache[key] = (min_ratings, _lib.Handle(h.value, lib.cf_model_destroy), np.flatnonzero(keep))
        return cache[key][1], cache[key][2]

    def _transposed(self, what):
        """The model ("model") or the training ratings ("seen") with users and items exchanged,
        made on first use and kept until the model changes: a loop over items pays the copy
        once."""
        cache = self.__dict__.setdefault("_swapped", {})
        if what not in cache:
            h = C.c_void_p()
            if what == "model":
                check(lib.cf_model_transpose, self._model.value, C.byref(h))
                cache[what] = _lib.Handle(h.value, lib.cf_model_destroy)
            else:
                check(lib.cf_dataset_transpose, self._seen.value, C.byref(h))
                cache[what] = _lib.Handle(h.value, lib.cf_dataset_destroy)
        return cache[what]

    def similar_items(self, items, n=10, min_ratings=0):
        """The n items most similar to each item by the cosine of their factors,
        q_i·q_j / (‖q_i‖‖q_j‖), the item itself left out: ``(ids, scores)`` as ``recommend``
        returns them (best first; -1 / None and NaN past the other items; shape (n,) for a
        single item). An unknown item raises LookupError (``cufactor similar``).
        ``min_ratings`` M > 0 lists only items fit to at least M ratings (the queries may
        have fewer; ``cufactor similar --min-ratings``)."""
        self._check_fitted()
        _check_n(n)
        min_ratings = _check_min_ratings(min_ratings)
        candidates = None
        if min_ratings:
            candidates = np.ascontiguousarray(_counts_for_floor(self.item_counts_) >= min_ratings, dtype=np.uint8)
        single = np.ndim(items) == 0
        q = _lib.IdArray(items, "items")
        n = int(n)
        rows = np.empty((q.n, n), dtype=np.int64)
        scores = np.empty((q.n, n), dtype=np.float64)
        check(lib.cf_model_similar_items_among, self._model.value, q.ref, n,
              None if candidates is None else _lib.ptr(candidates), 0, _lib.ptr(rows), _lib.ptr(scores), None)
        out = self._ids_of(rows)
        return (out[0], scores[0]) if single else (out, scores)

    @staticmethod
    def _fold_in_options(regularization, reg, threads):
        """cf_fold_in_options for fold_in and explain: λ and the scheme (None: the model's)."""
        o = _lib.FoldInOptions()
        lib.cf_fold_in_options_default(C.byref(o))
        if regularization is not None:
            if isinstance(regularization, bool) or not isinstance(regularization, numbers.Real) or \
                    not math.isfinite(regularization) or regularization < 0:
                raise ValueError(f"regularization: expected a finite number >= 0 or None, got {regularization!r}")
            o.lambda_ = float(regularization)
        if reg is not None:
            if reg not in ("plain", "weighted"):
                raise ValueError(f"reg: expected 'plain', 'weighted' or None (the model's), got {reg!r}")
            o.reg = 0 if reg == "plain" else 1
        o.threads = int(threads)
        return o

    def fold_in(self, X, regularization=None, reg=None, threads=0, items=False, merge=False):
        """A fitted copy of this estimator for the users of X (any form ``fit`` takes), each
        user's factors and bias solved from that user's ratings in X with this model's items
        fixed: one ALS step for those users, no retraining (``cufactor fold-in``). For users
        the model never saw, or whose ratings changed. ``items=True`` does the same for the
        items of X (new items rated by users the model knows), the users fixed. ``merge=True``
        keeps this model's users (items) too: those in X get the new rows, new ones are
        appended, and one with no usable rating in X keeps its row. Its ``recommend`` leaves
        out what X holds (with ``merge``, the training ratings as well: ``exclude_seen``).
        ``regularization`` (λ) and ``reg`` ("plain" or "weighted") default to the model's.
        ``fold_in_`` holds the counts, named after the side folded in (here users): users,
        users_empty (no rating of a known item: zero factors, or kept under merge), users_new
        (not in the model), ratings, ratings_unknown (ignored)."""
        self._check_fitted()
        o = self._fold_in_options(regularization, reg, threads)
        o.items, o.merge = bool(items), bool(merge)
        ds = _dataset(X, "X")
        p = C.c_void_p()
        rep = _lib.FoldInReport()
        check(lib.cf_model_fold_in, self._model.value, ds.value, C.byref(o), C.byref(p), C.byref(rep))
        seen = ds
        if merge and getattr(self, "_seen", None) is not None:
            a, b = _ratings_of(self._seen), _ratings_of(ds)
            seen = _dataset(tuple(np.concatenate([np.asarray(x), np.asarray(y)]) for x, y in zip(a, b)), "X")
        new = type(self)(**self.get_params())
        new._adopt(_lib.Handle(p.value, lib.cf_model_destroy), seen)
        new.history_ = {}
        side = "items" if items else "users"
        new.fold_in_ = {side: rep.rows, f"{side}_empty": rep.rows_empty, f"{side}_new": rep.rows_new,
                        "ratings": rep.ratings, "ratings_unknown": rep.ratings_unknown}
        return new

    def explain(self, user, item, X, n=10, regularization=None, reg=None):
        """Why ``item`` scores what it does for ``user``: the user's row solved from the user's
        ratings in X (any form ``fit`` takes: a new user's, or the training ratings) with the
        items fixed, and its score split over those ratings (``cufactor explain``). Returns a
        dict: ``score``, ``base`` (μ + b_i), ``ratings`` (how many terms) and ``terms``, the n
        largest as ``(item, rating, contribution)`` tuples, largest first; all contributions
        sum to ``score - base``."""
        self._check_fitted()
        _check_n(n)
        o = self._fold_in_options(regularization, reg, 0)
        ds = _dataset(X, "X")
        terms = (_lib.ExplainTerm * int(n))()
        got = C.c_int32()
        ex = _lib.Explanation()
        check(lib.cf_model_explain, self._model.value, ds.value, C.byref(o), str(user).encode(), str(item).encode(),
              int(n), terms, C.byref(got), C.byref(ex))
        as_int = self.item_ids_.dtype != object
        out = []
        for t in terms[:got.value]:
            name = t.item.decode("utf-8", "surrogateescape")
            out.append((int(name) if as_int else name, float(t.rating), float(t.contribution)))
        return {"score": float(ex.score), "base": float(ex.base), "ratings": int(ex.ratings), "terms": out}

    def _ids_of(self, rows, ids=None):
        """Item IDs (or those of ``ids``, e.g. ``user_ids_``) of model rows (-1: padding, as -1
        or None for string IDs)."""
        ids = self.item_ids_ if ids is None else ids
        if ids.dtype == object:
            out = np.full(rows.shape, None, dtype=object)
        else:
            out = np.full(rows.shape, -1, dtype=ids.dtype)
        real = rows >= 0
        out[real] = ids[rows[real]]
        return out

    def rmse(self, X):
        """Root mean squared error of the model on the ratings X (any form ``fit`` takes);
        pairs unknown to the model are predicted as ``predict(unknown="mean")`` does."""
        return float(self.evaluate(X)["rmse"])

    def evaluate(self, X):
        """RMSE and MAE on the ratings X (any form ``fit`` takes) with their standard errors,
        clustered by user (a user's errors go together; users independent), as ``cufactor
        eval`` reports them: a dict of ``rmse``, ``rmse_se``, ``mae``, ``mae_se``, ``count``,
        ``users`` and ``unseen`` (pairs the model does not know, predicted as
        ``predict(unknown="mean")`` does). The errors are NaN with fewer than two users."""
        self._check_fitted()
        ds = _dataset(X, "X")
        rep = _lib.EvalReport()
        check(lib.cf_model_evaluate, self._model.value, ds.value, C.byref(rep))
        return _eval_dict(rep)

    def compare(self, other, X):
        """This model against ``other`` (fitted) on the same ratings X, as ``cufactor eval
        --compare``: a dict with ``self`` and ``other`` (``evaluate``'s dicts), ``rmse_diff``
        (other's RMSE − this one's: negative when other predicts X better) and
        ``rmse_diff_se``, its standard error, paired and clustered by user; the 95 %
        interval is ``rmse_diff ± 1.96·rmse_diff_se``."""
        self._check_fitted()
        if not isinstance(other, Factorizer):
            raise TypeError(f"other: expected a fitted cufactor model, got {type(other).__name__}")
        other._check_fitted()
        ds = _dataset(X, "X")
        rep = _lib.CompareReport()
        check(lib.cf_model_compare, self._model.value, other._model.value, ds.value, C.byref(rep))
        return {"self": _eval_dict(rep.a), "other": _eval_dict(rep.b), "rmse_diff": rep.rmse_diff,
                "rmse_diff_se": rep.rmse_diff_se}

    def _seen_ratings(self, exclude_seen):
        """The training ratings kept from fit (a dataset handle) when exclude_seen, else None."""
        if not exclude_seen:
            return None
        seen = getattr(self, "_seen", None)
        if seen is None:
            raise ValueError("exclude_seen: this model has no training ratings to exclude (it was loaded from "
                             "a file); pass exclude_seen=False")
        return seen

    def rank_metrics(self, X, n=10, relevant_min=None, exclude_seen=True, threads=0, min_ratings=0):
        """How well the model ranks, on held-out ratings X (any form ``fit`` takes): for each
        user of X with a relevant rating (``relevant_min`` None: every rating; e.g. 4 for
        4-5 stars), the top n of ``recommend`` against the items that user rated in X, as
        ``cufactor eval --top`` reports them. Returns a dict: ``n``, ``users``,
        ``users_unknown``, ``users_no_relevant``, ``relevant``, ``relevant_unknown``,
        ``relevant_excluded`` and ``model`` (precision, recall, ndcg, map, hit_rate, coverage)
        beside ``popular``, the same measures for ranking by popularity in the training data
        (None when ``exclude_seen`` is False); ``model_se``, ``popular_se`` and
        ``difference_se`` their standard errors over the users and that of the paired
        difference model − popular (coverage: NaN). ``exclude_seen`` leaves the training
        ratings (kept from ``fit``) out of every list. ``min_ratings`` M > 0 ranks only the
        items fit to at least M ratings, in both lists, as ``recommend`` does (relevant items
        below it count in ``relevant_unknown``; coverage is a share of those left)."""
        self._check_fitted()
        _check_n(n)
        if relevant_min is None:
            relevant_min = math.nan
        elif isinstance(relevant_min, bool) or not isinstance(relevant_min, numbers.Real) or \
                not math.isfinite(relevant_min):
            raise ValueError(f"relevant_min: expected a finite number or None, got {relevant_min!r}")
        model, _ = self._floored(False, _check_min_ratings(min_ratings))
        seen = self._seen_ratings(exclude_seen)
        ds = _dataset(X, "X")
        rep = _lib.RankReport()
        check(lib.cf_model_rank_evaluate, model.value, ds.value, seen.value if seen else None, int(n),
              float(relevant_min), int(threads), None, None, C.byref(rep))
        out = {name: getattr(rep, name) for name in ("n", "users", "users_unknown", "users_no_relevant", "relevant",
                                                     "relevant_unknown", "relevant_excluded")}
        for part in ("model", "popular", "model_se", "popular_se", "difference_se"):
            got = getattr(rep, part)
            out[part] = {m: getattr(got, m) for m in _lib.RANK_MEASURES} if seen or part == "model" or \
                part == "model_se" else None
        return out

    def score(self, X, y=None):
        """−RMSE on X: greater is better, as scikit-learn's model selection expects."""
        del y
        return -self.rmse(X)

    def save(self, path):
        """Writes the model as a .cfm file (atomically), the CLI's format: ``cufactor predict``,
        ``recommend`` and ``eval`` read it, and ``cufactor.load`` reads the CLI's."""
        self._check_fitted()
        check(lib.cf_model_save, self._model.value, os.fsencode(path))


_COMMON = ("factors", "regularization", "reg", "bias_regularization", "bias_reg", "bias", "iterations", "tol",
           "init_scale", "seed", "threads",
           "device", "gpu_id", "gpu_mem_limit", "restarts", "early_stopping", "verbose")


class ALS(Factorizer):
    """Alternating least squares: each side solved exactly in turn (``cufactor train --algo als``)."""

    _algo = "als"

    def __init__(self, factors=32, regularization=0.1, reg="weighted", bias_regularization=None, bias_reg=None,
                 bias=True, iterations=15, tol=0.0,
                 init_scale=0.1, seed=42, threads=0, device="auto", gpu_id=0, gpu_mem_limit=0, restarts=1,
                 early_stopping=0, solver=None, gram=None, verbose=False):
        _init(self, locals())


class SGD(Factorizer):
    """Stochastic gradient descent, one rating at a time (``--algo sgd``); ``lr`` None: the
    library's rule, η_0 = 0.2 (0.1 with ``bias=False``) decaying as η_0/(1 + 0.3 t^1.5)."""

    _algo = "sgd"

    def __init__(self, factors=32, regularization=0.1, reg="weighted", bias_regularization=None, bias_reg=None,
                 bias=True, iterations=15, tol=0.0,
                 init_scale=0.1, seed=42, threads=0, device="auto", gpu_id=0, gpu_mem_limit=0, restarts=1,
                 early_stopping=0, lr=None, lr_schedule=None, lr_decay=None, schedule=None, blocks=None,
                 precision=None, verbose=False):
        _init(self, locals())


class GD(Factorizer):
    """Full-batch gradient descent (``--algo gd``); Adam when ``lr`` is None."""

    _algo = "gd"

    def __init__(self, factors=32, regularization=0.1, reg="weighted", bias_regularization=None, bias_reg=None,
                 bias=True, iterations=50, tol=0.0,
                 init_scale=0.1, seed=42, threads=0, device="auto", gpu_id=0, gpu_mem_limit=0, restarts=1,
                 early_stopping=0, lr=None, lr_schedule=None, lr_decay=None, optimizer=None, verbose=False):
        _init(self, locals())


class MiniBatch(Factorizer):
    """Mini-batch gradient descent (``--algo minibatch``); ``batch_size`` None: a twentieth of
    the ratings."""

    _algo = "minibatch"

    def __init__(self, factors=32, regularization=0.1, reg="weighted", bias_regularization=None, bias_reg=None,
                 bias=True, iterations=5, tol=0.0,
                 init_scale=0.1, seed=42, threads=0, device="auto", gpu_id=0, gpu_mem_limit=0, restarts=1,
                 early_stopping=0, lr=None, lr_schedule=None, lr_decay=None, optimizer=None, batch_size=None,
                 verbose=False):
        _init(self, locals())


class ALSGD(Factorizer):
    """ALS alternation with ``inner_steps`` gradient steps per side (``--algo alsgd``)."""

    _algo = "alsgd"

    def __init__(self, factors=32, regularization=0.1, reg="weighted", bias_regularization=None, bias_reg=None,
                 bias=True, iterations=15, tol=0.0,
                 init_scale=0.1, seed=42, threads=0, device="auto", gpu_id=0, gpu_mem_limit=0, restarts=1,
                 early_stopping=0, inner_steps=None, verbose=False):
        _init(self, locals())


class CCD(Factorizer):
    """Cyclic coordinate descent (``--algo ccd``)."""

    _algo = "ccd"

    def __init__(self, factors=32, regularization=0.1, reg="weighted", bias_regularization=None, bias_reg=None,
                 bias=True, iterations=15, tol=0.0,
                 init_scale=0.1, seed=42, threads=0, device="auto", gpu_id=0, gpu_mem_limit=0, restarts=1,
                 early_stopping=0, verbose=False):
        _init(self, locals())


def _eval_dict(rep):
    return {name: getattr(rep, name) for name in ("rmse", "rmse_se", "mae", "mae_se", "count", "users", "unseen")}


def _init(self, given):
    """Stores a subclass's __init__ arguments as they are (scikit-learn: no logic in __init__)."""
    for name, value in given.items():
        if name not in ("self", "__class__"):
            setattr(self, name, value)


_CLASSES = {"als": ALS, "sgd": SGD, "gd": GD, "minibatch": MiniBatch, "alsgd": ALSGD, "ccd": CCD}


def load(path):
    """A fitted estimator from a .cfm model file (the CLI's or ``save``'s): the class of its
    algorithm, its parameters from the training configuration stored in the file."""
    p = C.c_void_p()
    check(lib.cf_model_load, os.fsencode(path), C.byref(p))
    model = _lib.Handle(p.value, lib.cf_model_destroy)
    cfg = lib.cf_model_config(model.value)
    cls = _CLASSES.get(_config_get(cfg, "algo"), Factorizer)
    est = cls()
    for name in est._get_param_names():
        if name in _PARAMS:
            field, kind = _PARAMS[name]
            setattr(est, name, _param_value(_config_get(cfg, field), kind))
    est._adopt(model, None)
    est.history_ = {}
    return est


def device_info():
    """Which device ``device="auto"`` trains on: ``{"device": "gpu" or "cpu", "gpu": bool,
    "reason": why not the GPU (None when it is used)}`` — e.g. "this cufactor was built
    without CUDA", "no NVIDIA driver found (...)", "no CUDA device found"."""
    why = C.create_string_buffer(256)
    ok = bool(lib.cf_gpu_available(why, 256))
    return {"device": "gpu" if ok else "cpu", "gpu": ok, "reason": None if ok else why.value.decode("utf-8", "replace")}
