"""What every recommender shares, in one import: the base classes, one-BLAS-thread pinning,
row alignment with the catalog, top-n selection and the model folder's file names.

Each lives in its own module (:mod:`~tools.recommenders.matrix`,
:mod:`~tools.recommenders.factors`, :mod:`~tools.recommenders.blas`,
:mod:`~tools.recommenders.row_maps`, :mod:`~tools.recommenders.topn`,
:mod:`~tools.recommenders.persistence`); this module re-exports them so model code and
plug-ins import from one place.
"""

from __future__ import annotations

from tools.recommenders.blas import one_blas_thread, pin_blas_threads
from tools.recommenders.factors import FactorRecommender
from tools.recommenders.matrix import MatrixRecommender
from tools.recommenders.persistence import ARRAYS_FILE, FORMAT_VERSION, PARAMS_FILE
from tools.recommenders.row_maps import aligned_rows

__all__ = [
    "ARRAYS_FILE", "FORMAT_VERSION", "PARAMS_FILE", "FactorRecommender", "MatrixRecommender",
    "aligned_rows", "one_blas_thread", "pin_blas_threads",
]
