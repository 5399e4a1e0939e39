"""ctypes binding of libcufactor.so: the library, its prototypes, the few structs the
binding reads (their sizes checked against the library's at import), errors, and IDs.

ctypes releases the GIL around every foreign call, so training and batched calls run
without holding it.
"""

import ctypes as C
import os

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))


def _library_path():
    # CUFACTOR_LIBRARY: another build of the library (e.g. the CPU simulation of the GPU)
    return os.environ.get("CUFACTOR_LIBRARY") or os.path.join(_HERE, "libcufactor.so")


_path = _library_path()
try:
    lib = C.CDLL(_path)
except OSError as e:  # pragma: no cover - an installation problem
    raise ImportError(f"cufactor: cannot load the C library {_path}: {e}") from e

# ---------------------------------------------------------------- statuses and errors

STATUS_NAMES = ["ok", "invalid", "nomem", "io", "parse", "corrupt", "numeric", "unsupported",
                "device", "not_found", "interrupted"]
CF_OK, CF_ERR_INVALID, CF_ERR_NOMEM, CF_ERR_IO, CF_ERR_PARSE = 0, 1, 2, 3, 4
CF_ERR_UNSUPPORTED, CF_ERR_NOT_FOUND, CF_ERR_INTERRUPTED = 7, 9, 10


class CufactorError(Exception):
    """An error of the C library; the message is the library's, `status` its cf_status name."""

    def __init__(self, message, status="invalid"):
        super().__init__(message)
        self.status = status


class CufactorValueError(CufactorError, ValueError):
    """Bad argument or malformed data (cf_status invalid, parse)."""


class CufactorLookupError(CufactorError, LookupError):
    """An unknown user or item ID (cf_status not_found)."""


class CufactorIOError(CufactorError, OSError):
    """A file could not be opened, read or written (cf_status io)."""


class CufactorMemoryError(CufactorError, MemoryError):
    """An allocation failed (cf_status nomem)."""


_CLASS_OF = {CF_ERR_INVALID: CufactorValueError, CF_ERR_PARSE: CufactorValueError,
             CF_ERR_NOT_FOUND: CufactorLookupError, CF_ERR_IO: CufactorIOError,
             CF_ERR_NOMEM: CufactorMemoryError}


class Error(C.Structure):
    _fields_ = [("status", C.c_int), ("msg", C.c_char * 512)]


def error_from(status, err):
    msg = err.msg.decode("utf-8", "replace") or STATUS_NAMES[status]
    cls = _CLASS_OF.get(status, CufactorError)
    return cls(msg, STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else str(status))


def check(fn, *args):
    """Calls fn(*args, &err) and raises the library's error when it fails."""
    err = Error()
    st = fn(*args, C.byref(err))
    if st != CF_OK:
        raise error_from(st, err)


# ---------------------------------------------------------------- structs read by the binding

class IterInfo(C.Structure):
    _fields_ = [("iter", C.c_int32), ("train_rmse", C.c_double), ("test_rmse", C.c_double),
                ("objective", C.c_double), ("seconds", C.c_double), ("ratings_per_sec", C.c_double),
                ("restart", C.c_int32)]


class TrainReport(C.Structure):
    _fields_ = [("iters", C.c_int32), ("train_rmse", C.c_double), ("test_rmse", C.c_double),
                ("objective", C.c_double), ("seconds", C.c_double), ("n_train", C.c_int64),
                ("n_test", C.c_int64), ("test_unseen", C.c_int64), ("device", C.c_char * 64),
                ("notice", C.c_char * (512 + 64)), ("stop_reason", C.c_char * 64),
                ("resumed_from", C.c_int32), ("checkpoints", C.c_int32),
                ("seconds_prepare", C.c_double), ("seconds_upload", C.c_double),
                ("seconds_iterations", C.c_double), ("seconds_eval", C.c_double), ("init_users", C.c_int64),
                ("init_items", C.c_int64), ("restart", C.c_int32), ("model_iter", C.c_int32)]


PROGRESS_FN = C.CFUNCTYPE(C.c_int, C.POINTER(IterInfo), C.c_void_p)
READ_PROGRESS_FN = C.CFUNCTYPE(C.c_int, C.c_char_p, C.c_int64, C.c_int64, C.c_void_p)


class TrainOptions(C.Structure):
    _fields_ = [("checkpoint", C.c_char_p), ("checkpoint_every", C.c_int32), ("resume", C.c_char_p),
                ("stop", C.POINTER(C.c_int)), ("phase", READ_PROGRESS_FN), ("phase_user", C.c_void_p),
                ("init", C.c_void_p)]


class ReadOptions(C.Structure):
    _fields_ = [("format", C.c_int), ("skip_bad_lines", C.c_int), ("max_line", C.c_size_t),
                ("progress", READ_PROGRESS_FN), ("progress_user", C.c_void_p), ("threads", C.c_int),
                ("timestamps", C.c_int)]


class ReadReport(C.Structure):
    _fields_ = [("bytes", C.c_int64), ("lines", C.c_int64), ("ratings", C.c_int64),
                ("skipped", C.c_int64), ("duplicates", C.c_int64), ("header", C.c_int),
                ("format", C.c_int), ("delimiter", C.c_char * 4), ("first_bad", C.c_char * 160),
                ("compressed", C.c_int64)]


class DatasetInfo(C.Structure):
    _fields_ = [("n_users", C.c_int64), ("n_items", C.c_int64), ("n_train", C.c_int64),
                ("n_test", C.c_int64), ("test_unseen", C.c_int64)]


class ModelInfoHead(C.Structure):
    """The leading fields of cf_model_info (its cf_config follows; read by name instead)."""
    _fields_ = [("n_users", C.c_int64), ("n_items", C.c_int64), ("factors", C.c_int32),
                ("bias", C.c_int), ("mu", C.c_double)]


class EvalReport(C.Structure):
    _fields_ = [("rmse", C.c_double), ("mae", C.c_double), ("count", C.c_int64), ("unseen", C.c_int64),
                ("rmse_se", C.c_double), ("mae_se", C.c_double), ("users", C.c_int64)]


class CompareReport(C.Structure):
    _fields_ = [("a", EvalReport), ("b", EvalReport), ("rmse_diff", C.c_double), ("rmse_diff_se", C.c_double)]


RANK_MEASURES = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")


class RankMetrics(C.Structure):
    _fields_ = [(name, C.c_double) for name in RANK_MEASURES]


class RankReport(C.Structure):
    _fields_ = [("n", C.c_int32), ("users", C.c_int64), ("users_unknown", C.c_int64),
                ("users_no_relevant", C.c_int64), ("relevant", C.c_int64), ("relevant_unknown", C.c_int64),
                ("relevant_excluded", C.c_int64), ("model", RankMetrics), ("popular", RankMetrics),
                ("model_se", RankMetrics), ("popular_se", RankMetrics), ("difference_se", RankMetrics)]


class FoldInOptions(C.Structure):
    _fields_ = [("lambda_", C.c_double), ("reg", C.c_int), ("threads", C.c_int), ("items", C.c_int),
                ("merge", C.c_int), ("progress", READ_PROGRESS_FN), ("progress_user", C.c_void_p)]


class FoldInReport(C.Structure):
    _fields_ = [("rows", C.c_int64), ("rows_empty", C.c_int64), ("rows_new", C.c_int64), ("ratings", C.c_int64),
                ("ratings_unknown", C.c_int64)]


class Explanation(C.Structure):
    _fields_ = [("score", C.c_double), ("base", C.c_double), ("ratings", C.c_int64)]


class ExplainTerm(C.Structure):
    _fields_ = [("item", C.c_char_p), ("rating", C.c_double), ("contribution", C.c_double)]


class Ids(C.Structure):
    _fields_ = [("n", C.c_int64), ("ints", C.c_void_p), ("chars", C.c_void_p), ("offsets", C.c_void_p)]


# ---------------------------------------------------------------- prototypes

_vp, _i, _i32, _i64, _sz, _d, _s = C.c_void_p, C.c_int, C.c_int32, C.c_int64, C.c_size_t, C.c_double, C.c_char_p
_E = C.POINTER(Error)
_PROTOS = {
    "cf_struct_size": (_sz, [_s]),
    "cf_status_name": (_s, [_i]),
    "cf_gpu_available": (_i, [C.c_char_p, _sz]),
    "cf_config_new": (_vp, []),
    "cf_config_destroy": (None, [C.POINTER(_vp)]),
    "cf_config_set": (_i, [_vp, _s, _s, _E]),
    "cf_config_get": (_i, [_vp, _s, C.c_char_p, _sz, _E]),
    "cf_config_lr": (C.c_double, [_vp, _i32]),
    "cf_config_continue_lr": (C.c_int, [_vp, _vp]),
    "cf_config_validate": (_i, [_vp, _E]),
    "cf_dataset_new": (_i, [C.POINTER(_vp), _E]),
    "cf_dataset_destroy": (None, [C.POINTER(_vp)]),
    "cf_dataset_add": (_i, [_vp, C.POINTER(Ids), C.POINTER(Ids), _vp, _i, _E]),
    "cf_dataset_add_ids": (_i, [_vp, _i, C.POINTER(Ids), _E]),
    "cf_dataset_ratings": (_i, [_vp, _i, _vp, _vp, _vp, _E]),
    "cf_dataset_split_threads": (_i, [_vp, C.c_double, C.c_uint64, _i, _E]),
    "cf_dataset_split_per_user": (_i, [_vp, C.c_double, C.c_uint64, _i, _E]),
    "cf_dataset_add_timed": (_i, [_vp, C.POINTER(Ids), C.POINTER(Ids), _vp, _vp, _i, _E]),
    "cf_dataset_times": (_i, [_vp, _i, _vp, _E]),
    "cf_dataset_has_timestamps": (_i, [_vp]),
    "cf_dataset_split_time": (_i, [_vp, C.c_double, _i, C.POINTER(C.c_int64), _E]),
    "cf_dataset_split_per_user_time": (_i, [_vp, C.c_double, C.c_uint64, _i, _E]),
    "cf_cv_folds": (_i, [C.c_int64, C.c_int32, C.c_uint64, _vp, _E]),
    "cf_cv_folds_per_user": (_i, [_vp, C.c_int32, C.c_uint64, _i, _vp, _E]),
    "cf_cv_folds_time": (_i, [_vp, C.c_int32, _i, _i, _vp, _E]),
    "cf_dataset_ids": (_i, [_vp, _i, _vp, _sz, _vp, C.POINTER(_sz), _E]),
    "cf_dataset_ids_int": (_i, [_vp, _i, _vp, _E]),
    "cf_dataset_info_get": (None, [_vp, C.POINTER(DatasetInfo)]),
    "cf_dataset_read": (_i, [_s, C.POINTER(ReadOptions), C.POINTER(_vp), C.POINTER(ReadReport), _E]),
    "cf_read_options_default": (None, [C.POINTER(ReadOptions)]),
    "cf_train_options_default": (None, [C.POINTER(TrainOptions)]),
    "cf_train_ex": (_i, [_vp, _vp, C.POINTER(TrainOptions), PROGRESS_FN, _vp, C.POINTER(_vp),
                         C.POINTER(TrainReport), _E]),
    "cf_model_destroy": (None, [C.POINTER(_vp)]),
    "cf_model_save": (_i, [_vp, _s, _E]),
    "cf_model_load": (_i, [_s, C.POINTER(_vp), _E]),
    "cf_model_info_get": (None, [_vp, _vp]),
    "cf_model_config": (_vp, [_vp]),
    "cf_model_transpose": (_i, [_vp, C.POINTER(_vp), _E]),
    "cf_dataset_transpose": (_i, [_vp, C.POINTER(_vp), _E]),
    "cf_model_params": (None, [_vp, _vp, _vp, _vp, _vp]),
    "cf_model_ids": (_i, [_vp, _i, _vp, _sz, _vp, C.POINTER(_sz), _E]),
    "cf_model_ids_int": (_i, [_vp, _i, _vp, _E]),
    "cf_model_rating_counts": (_i, [_vp, _i, _vp, _E]),
    "cf_model_subset": (_i, [_vp, _vp, _vp, C.POINTER(_vp), _E]),
    "cf_model_predict_batch": (_i, [_vp, C.POINTER(Ids), C.POINTER(Ids), _i, _vp, _vp, _E]),
    "cf_model_recommend_batch": (_i, [_vp, C.POINTER(Ids), _i32, _vp, _i, _i, _vp, _vp, _vp, _E]),
    "cf_model_evaluate": (_i, [_vp, _vp, C.POINTER(EvalReport), _E]),
    "cf_model_compare": (_i, [_vp, _vp, _vp, C.POINTER(CompareReport), _E]),
    "cf_model_similar_items": (_i, [_vp, C.POINTER(Ids), _i32, _i, _vp, _vp, _vp, _E]),
    "cf_model_similar_items_among": (_i, [_vp, C.POINTER(Ids), _i32, _vp, _i, _vp, _vp, _vp, _E]),
    "cf_model_rank_evaluate": (_i, [_vp, _vp, _vp, _i32, _d, _i, _vp, _vp, C.POINTER(RankReport), _E]),
    "cf_fold_in_options_default": (None, [C.POINTER(FoldInOptions)]),
    "cf_model_fold_in": (_i, [_vp, _vp, C.POINTER(FoldInOptions), C.POINTER(_vp), C.POINTER(FoldInReport), _E]),
    "cf_model_explain": (_i, [_vp, _vp, C.POINTER(FoldInOptions), _s, _s, _i32, C.POINTER(ExplainTerm),
                              C.POINTER(_i32), C.POINTER(Explanation), _E]),
}
for _name, (_res, _args) in _PROTOS.items():
    _f = getattr(lib, _name)
    _f.restype, _f.argtypes = _res, _args

for _struct, _name in [(Error, "cf_error"), (IterInfo, "cf_iter_info"), (TrainReport, "cf_train_report"),
                       (TrainOptions, "cf_train_options"), (ReadOptions, "cf_read_options"),
                       (ReadReport, "cf_read_report"), (DatasetInfo, "cf_dataset_info"),
                       (RankReport, "cf_rank_report"), (FoldInOptions, "cf_fold_in_options"),
                       (FoldInReport, "cf_fold_in_report"), (Explanation, "cf_explanation"),
                       (ExplainTerm, "cf_explain_term"), (EvalReport, "cf_eval_report"),
                       (CompareReport, "cf_compare_report")]:
    if C.sizeof(_struct) != lib.cf_struct_size(_name.encode()):  # pragma: no cover - a stale binding
        raise ImportError(f"cufactor: the binding's {_name} ({C.sizeof(_struct)} bytes) does not match "
                          f"the library's ({lib.cf_struct_size(_name.encode())} bytes): rebuild the package")
MODEL_INFO_SIZE = lib.cf_struct_size(b"cf_model_info")

CF_USERS, CF_ITEMS = 0, 1
CF_UNKNOWN_MEAN, CF_UNKNOWN_ERROR = 0, 1


def ptr(a):
    """The data pointer of a contiguous numpy array (None for None)."""
    return None if a is None else a.ctypes.data_as(C.c_void_p)


# ---------------------------------------------------------------- IDs

class IdArray:
    """IDs as the library takes them (cf_ids): int64 integers, or UTF-8 strings concatenated
    with offsets. Keeps the arrays alive as long as the struct is used."""

    def __init__(self, values, name):
        a = np.asarray(values)
        if a.ndim == 0:
            a = a.reshape(1)
        if a.ndim != 1:
            raise ValueError(f"{name}: expected a 1-d array of IDs, got shape {a.shape}")
        self.n = len(a)
        self.name = name
        if a.dtype.kind in "iu" or a.size == 0:
            if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
                raise ValueError(f"{name}: an ID beyond the int64 range")
            self.ints = np.ascontiguousarray(a, dtype=np.int64)
            self.struct = Ids(self.n, ptr(self.ints), None, None)
            return
        if a.dtype.kind == "f":
            raise ValueError(f"{name}: floating-point IDs ({a.dtype}); pass integers or strings "
                             "(a column with missing values is read as floats: drop them first)")
        if a.dtype.kind not in "USO":
            raise ValueError(f"{name}: IDs of dtype {a.dtype}; pass integers or strings")
        encoded = []
        for k, v in enumerate(a.tolist()):
            if isinstance(v, bytes):
                encoded.append(v)
            elif isinstance(v, str):
                encoded.append(v.encode("utf-8"))
            elif isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                encoded.append(str(int(v)).encode())
            else:
                raise ValueError(f"{name}[{k}]: {v!r} is not an integer or string ID")
        lens = np.fromiter((len(b) for b in encoded), dtype=np.int64, count=self.n)
        self.offsets = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(lens, out=self.offsets[1:])
        self.chars = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        self.struct = Ids(self.n, None, ptr(self.chars), ptr(self.offsets))

    @property
    def ref(self):
        return C.byref(self.struct)


def _ids_from(getter_int, getter_str, handle, side, n):
    """The IDs of one side of a dataset or model: int64 when all are integers in decimal
    form, else an object array of str."""
    out = np.empty(n, dtype=np.int64)
    err = Error()
    if getter_int(handle, side, ptr(out), C.byref(err)) == CF_OK:
        return out
    nbytes = C.c_size_t(0)
    check(getter_str, handle, side, None, 0, None, C.byref(nbytes))
    chars = np.zeros(max(nbytes.value, 1), dtype=np.uint8)
    offsets = np.zeros(n + 1, dtype=np.int64)
    check(getter_str, handle, side, ptr(chars), nbytes.value, ptr(offsets), C.byref(nbytes))
    raw = chars.tobytes()
    return np.array([raw[offsets[k]:offsets[k + 1]].decode("utf-8", "surrogateescape") for k in range(n)],
                    dtype=object)


def dataset_ids(ds, side, n):
    return _ids_from(lib.cf_dataset_ids_int, lib.cf_dataset_ids, ds, side, n)


def model_ids(m, side, n):
    return _ids_from(lib.cf_model_ids_int, lib.cf_model_ids, m, side, n)


def model_rating_counts(m, side, n):
    """The ratings each row of one side was fit to (int64), or None for a model loaded from a
    version-1 file, which did not keep them."""
    out = np.empty(n, dtype=np.int64)
    err = Error()
    st = lib.cf_model_rating_counts(m, side, ptr(out), C.byref(err))
    if st == CF_ERR_UNSUPPORTED:
        return None
    if st != CF_OK:
        raise error_from(st, err)
    return out


# ---------------------------------------------------------------- handles

class Handle:
    """An owned C object, destroyed with its cf_*_destroy when collected."""

    def __init__(self, ptr_value, destroy):
        self.ptr = C.c_void_p(ptr_value)
        self._destroy = destroy

    def __del__(self):
        if getattr(self, "ptr", None) is not None and self.ptr.value:
            self._destroy(C.byref(self.ptr))

    @property
    def value(self):
        return self.ptr


def new_dataset():
    p = C.c_void_p()
    check(lib.cf_dataset_new, C.byref(p))
    return Handle(p.value, lib.cf_dataset_destroy)


def dataset_info(ds):
    info = DatasetInfo()
    lib.cf_dataset_info_get(ds.value, C.byref(info))
    return info


def model_info(m):
    buf = C.create_string_buffer(MODEL_INFO_SIZE)
    lib.cf_model_info_get(m.value, buf)
    return ModelInfoHead.from_buffer_copy(buf.raw[:C.sizeof(ModelInfoHead)])
