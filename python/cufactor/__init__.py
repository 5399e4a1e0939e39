"""cufactor: matrix factorization for recommender systems (r̂ = μ + b_u + b_i + p_u·q_i),
trained by the cufactor C library on the GPU when one is usable, else on the CPU.

    >>> import cufactor
    >>> model = cufactor.ALS(factors=32, iterations=15).fit(cufactor.read_ratings("u.data"))
    >>> model.predict([196], [242]), model.recommend(196, n=5)

Estimators follow scikit-learn's conventions; see docs/PYTHON.md for the details.
"""

from ._lib import (CufactorError, CufactorIOError, CufactorLookupError, CufactorMemoryError,
                   CufactorValueError)
from ._data import Ratings, kfold, read_ratings, train_test_split
from ._estimator import ALS, ALSGD, CCD, GD, SGD, Factorizer, MiniBatch, NotFittedError, device_info, load
from ._cli import cli_path

__version__ = "0.1.0"

__all__ = ["ALS", "SGD", "GD", "MiniBatch", "ALSGD", "CCD", "Factorizer", "Ratings", "load", "read_ratings",
           "train_test_split", "kfold", "device_info", "cli_path", "CufactorError", "CufactorValueError",
           "CufactorLookupError", "CufactorIOError", "CufactorMemoryError", "NotFittedError", "__version__"]
