"""Ratings in and out of the C library: the forms ``fit`` takes (arrays, a scipy.sparse
matrix, a DataFrame, ``Ratings``) turned into a dataset, ``read_ratings`` (the CLI's reader),
and the library's seeded splits and cross-validation folds as ``(train, test)`` Ratings.
"""

import ctypes as C
import os
import sys

import numpy as np

from . import _lib
from ._lib import lib, check


class Ratings:
    """Ratings as ``cufactor.read_ratings`` returns them: ``users``, ``items`` (the IDs of each
    rating), ``ratings`` (float32), and ``user_ids`` / ``item_ids``, every ID in the order the
    file introduced it; ``times`` (int64) each rating's timestamp when read with
    ``timestamps=True``, else None. Unpacks as ``users, items, ratings = read_ratings(path)``;
    ``fit`` on a Ratings declares the IDs in that order first, so it trains exactly as the CLI
    on the file."""

    def __init__(self, users, items, ratings, user_ids=None, item_ids=None, report=None, times=None):
        self.users, self.items, self.ratings = users, items, ratings
        self.user_ids, self.item_ids = user_ids, item_ids
        self.report = report or {}
        self.times = times

    def __len__(self):
        return len(self.ratings)

    def __iter__(self):
        return iter((self.users, self.items, self.ratings))

    def __repr__(self):
        return (f"Ratings({len(self)} ratings, {len(self.user_ids) if self.user_ids is not None else '?'} users, "
                f"{len(self.item_ids) if self.item_ids is not None else '?'} items)")


_USER_COLUMNS = ("user", "user_id", "userId", "userID", "users")
_ITEM_COLUMNS = ("item", "item_id", "itemId", "itemID", "items", "movie", "movie_id", "movieId")
_RATING_COLUMNS = ("rating", "ratings", "score", "value")
_TIME_COLUMNS = ("timestamp", "time", "times", "ts")


def _column(df, names, what, name, required=True):
    for c in names:
        if c in df.columns:
            return df[c].to_numpy()
    if not required:
        return None
    raise ValueError(f"{name}: a DataFrame needs a {what} column named one of {', '.join(names)}; "
                     f"it has {', '.join(map(str, df.columns))}")


def _issparse(X):
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(X)


def _triples(X, name):
    """(users, items, ratings, declared (user_ids, item_ids) or None) from any accepted form."""
    if isinstance(X, Ratings):
        return X.users, X.items, X.ratings, (X.user_ids, X.item_ids)
    if _issparse(X):
        # every stored entry is a rating; rows are users, columns items, ids their indices.
        # Declaring 0..n-1 first gives the model's rows in index order.
        coo = X.tocsr().tocoo()
        return (coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data,
                (np.arange(X.shape[0], dtype=np.int64), np.arange(X.shape[1], dtype=np.int64)))
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # a pandas DataFrame
        return (_column(X, _USER_COLUMNS, "user", name), _column(X, _ITEM_COLUMNS, "item", name),
                _column(X, _RATING_COLUMNS, "rating", name), None)
    if isinstance(X, (tuple, list)) and len(X) == 3:
        return X[0], X[1], X[2], None
    raise ValueError(f"{name}: expected a scipy.sparse matrix (users × items), a (users, items, ratings) "
                     f"tuple of arrays, a pandas DataFrame or cufactor.Ratings, got {type(X).__name__}")


def _times(X, name, n):
    """X's timestamps as int64 (Ratings.times, or a DataFrame's timestamp column), for a time
    split; a ValueError saying how to get them when X has none."""
    t = X.times if isinstance(X, Ratings) else None
    if t is None and hasattr(X, "columns") and hasattr(X, "iloc"):
        t = _column(X, _TIME_COLUMNS, "timestamp", name, required=False)
    if t is None:
        raise ValueError(f"{name}: a time split needs timestamps: read_ratings(path, timestamps=True), or a "
                         f"DataFrame with a column named one of {', '.join(_TIME_COLUMNS)}")
    t = np.asarray(t)
    if np.issubdtype(t.dtype, np.datetime64):
        t = t.astype("datetime64[s]").astype(np.int64)
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"{name}: timestamps must be integers (e.g. Unix seconds) or datetime64, got {t.dtype}")
    t = np.ascontiguousarray(t.astype(np.int64).reshape(-1))
    if len(t) != n:
        raise ValueError(f"{name}: {len(t)} timestamps for {n} ratings")
    return t


def _add(ds, X, name, part, times=False):
    users, items, ratings, declared = _triples(X, name)
    try:
        r = np.ascontiguousarray(np.asarray(ratings, dtype=np.float32).reshape(-1))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: ratings are not numbers: {e}") from None
    u = _lib.IdArray(users, f"{name} users")
    i = _lib.IdArray(items, f"{name} items")
    if len(r) != u.n or i.n != u.n:
        raise ValueError(f"{name}: {u.n} users, {i.n} items and {len(r)} ratings; expected as many of each")
    if declared is not None:
        for side, ids, what in ((_lib.CF_USERS, declared[0], "users"), (_lib.CF_ITEMS, declared[1], "items")):
            if ids is not None:
                d = _lib.IdArray(ids, f"{name} {what}")
                check(lib.cf_dataset_add_ids, ds.value, side, d.ref)
    if times:
        check(lib.cf_dataset_add_timed, ds.value, u.ref, i.ref, _lib.ptr(r), _lib.ptr(_times(X, name, len(r))), part)
    else:
        check(lib.cf_dataset_add, ds.value, u.ref, i.ref, _lib.ptr(r), part)


def _dataset(X, name="X", X_test=None, times=False):
    ds = _lib.new_dataset()
    _add(ds, X, name, 0, times)
    if X_test is not None:
        _add(ds, X_test, "X_test", 1)
    return ds


# ---------------------------------------------------------------- estimators


_FORMATS = {"auto": 0, "delim": 1, "mm": 2}


def read_ratings(path, format="auto", skip_bad_lines=False, timestamps=False):
    """Reads a ratings file with the C reader (delimited "user item rating" lines separated by
    tab, comma, space or '::', Matrix Market, or cufactor's binary dataset; any of them may be
    gzip-compressed), as the CLI reads it: a repeated (user, item) pair keeps its last rating. With ``timestamps=True`` the
    fourth column is each rating's integer timestamp, in ``Ratings.times`` (for
    ``train_test_split(split="time")``; a line without one is an error naming it). Returns a
    ``Ratings``."""
    if format not in _FORMATS:
        raise ValueError(f"format: expected one of {', '.join(_FORMATS)}, got {format!r}")
    opts = _lib.ReadOptions()
    lib.cf_read_options_default(C.byref(opts))
    opts.format = _FORMATS[format]
    opts.skip_bad_lines = 1 if skip_bad_lines else 0
    opts.timestamps = 1 if timestamps else 0
    p = C.c_void_p()
    rep = _lib.ReadReport()
    check(lib.cf_dataset_read, os.fsencode(path), C.byref(opts), C.byref(p), C.byref(rep))
    ratings = _ratings_of(_lib.Handle(p.value, lib.cf_dataset_destroy))
    ratings.report = {"lines": rep.lines, "ratings": rep.ratings, "skipped": rep.skipped,
                      "duplicates": rep.duplicates, "header": bool(rep.header),
                      "first_bad": rep.first_bad.decode("utf-8", "replace") or None,
                      "compressed": rep.compressed or None}
    return ratings


def _ratings_of(ds, part=0):
    """One part (0 training, 1 test) of a C dataset as a Ratings, its IDs in the dataset's
    order (so that fitting it rebuilds the same dataset)."""
    info = _lib.dataset_info(ds)
    uid = _lib.dataset_ids(ds.value, _lib.CF_USERS, info.n_users)
    iid = _lib.dataset_ids(ds.value, _lib.CF_ITEMS, info.n_items)
    n = info.n_test if part else info.n_train
    u = np.empty(n, dtype=np.int64)
    i = np.empty(n, dtype=np.int64)
    r = np.empty(n, dtype=np.float32)
    check(lib.cf_dataset_ratings, ds.value, part, _lib.ptr(u), _lib.ptr(i), _lib.ptr(r))
    t = None
    if lib.cf_dataset_has_timestamps(ds.value):
        t = np.empty(n, dtype=np.int64)
        check(lib.cf_dataset_times, ds.value, part, _lib.ptr(t))
    return Ratings(uid[u], iid[i], r, uid, iid, times=t)


_SPLITS = ("random", "user", "time", "user-time")
_TIMED = ("time", "user-time")  # the splits and folds that need timestamps


def _check_split(split, seed, splits=_SPLITS):
    if split not in splits:
        raise ValueError(f"split: expected one of {', '.join(splits)}, got {split!r}")
    if not (isinstance(seed, (int, np.integer)) and 0 <= seed < 2**64):
        raise ValueError(f"seed: expected an integer in [0, 2**64), got {seed!r}")


def train_test_split(X, test_size=0.1, split="random", seed=42, threads=0):
    """Splits ratings (any form ``fit`` takes) into ``(train, test)`` Ratings with the C
    library's seeded split, as ``cufactor train`` splits a file: ``split="random"`` holds out
    a random share ``test_size`` of all ratings (``--test-ratio``), ``"user"`` that share of
    each user's ratings, every user keeping at least one in training (``--test-split
    user``). ``read_ratings(path)`` split at ``seed`` is the split ``cufactor train path
    --seed S`` makes, and ``fit(train, X_test=test)`` trains as it does. Both parts list
    every ID, so a model fitted on ``train`` orders its rows as the CLI's. The same split
    whatever ``threads`` (0: all cores). ``"time"`` holds out the latest share of all ratings
    and ``"user-time"`` each user's latest (``--test-split time|user-time``), from X's
    timestamps (``read_ratings(path, timestamps=True)``, or a DataFrame's ``timestamp``
    column); both parts then carry ``times``."""
    _check_split(split, seed)
    ds = _dataset(X, "X", times=split in _TIMED)
    if split == "time":
        check(lib.cf_dataset_split_time, ds.value, float(test_size), int(threads), C.byref(C.c_int64()))
    else:
        fn = {"user": lib.cf_dataset_split_per_user, "user-time": lib.cf_dataset_split_per_user_time}.get(
            split, lib.cf_dataset_split_threads)
        check(fn, ds.value, float(test_size), int(seed), int(threads))
    return _ratings_of(ds, 0), _ratings_of(ds, 1)


def kfold(X, folds=5, split="random", seed=42, threads=0):
    """The folds of ``cufactor cv``: yields ``folds`` pairs ``(train, test)`` of Ratings, fold f
    the test part and the other folds the training part. ``split="random"`` deals every
    rating to a fold at random, fold sizes within one (``--fold-split random``); ``"user"``
    deals each user's ratings over the folds, so every test user has training ratings and
    a user with one rating is in every training part and no test part (``--fold-split
    user``). ``"time"`` is rolling origin (``--fold-split time``): the ratings in time order
    cut into ``folds + 1`` blocks, fold f the block f + 1 and its training part the blocks
    before it only (the later ones in neither); ``"user-time"`` the same per user; both
    need timestamps (``read_ratings(path, timestamps=True)``, or a DataFrame's
    ``timestamp`` column) and ignore ``seed``. Of ``read_ratings(path)`` at ``seed`` these
    are the folds ``cufactor cv path --seed S`` trains on: ``fit(train, X_test=test)`` gives
    its fold's validation RMSE. The arguments are checked and the folds dealt at the call;
    the pairs are made as iterated."""
    _check_split(split, seed)
    if not (isinstance(folds, (int, np.integer)) and 2 <= folds <= 1000):
        raise ValueError(f"folds: expected an integer in [2, 1000], got {folds!r}")
    timed = split in _TIMED
    ds = _dataset(X, "X", times=timed)
    whole = _ratings_of(ds, 0)
    fold = np.empty(len(whole), dtype=np.int32)
    if timed:
        check(lib.cf_cv_folds_time, ds.value, int(folds), int(split == "user-time"), int(threads), _lib.ptr(fold))
    elif split == "user":
        check(lib.cf_cv_folds_per_user, ds.value, int(folds), int(seed), int(threads), _lib.ptr(fold))
    else:
        check(lib.cf_cv_folds, len(whole), int(folds), int(seed), _lib.ptr(fold))

    def part(mask):
        t = None if whole.times is None else whole.times[mask]
        return Ratings(whole.users[mask], whole.items[mask], whole.ratings[mask], whole.user_ids, whole.item_ids,
                       times=t)

    def pairs():
        for f in range(folds):
            test = fold == f
            yield part((fold < f) if timed else ~test), part(test)
    return pairs()
