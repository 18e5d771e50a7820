"""segmenta: customer segmentation for shopping malls, in Rust.

- :class:`KMeans` and :class:`DBSCAN`: scikit-learn's estimator API, fitted by
  segmenta's library (K-means on the CPU or a GPU through wgpu; exact DBSCAN).
  Inputs may be NumPy arrays, pandas or polars DataFrames or pyarrow Tables.
- :func:`generate`, :func:`run`, :func:`update` and :class:`Run`: the pipeline of
  ``segmenta run`` (features → clean → k → segments → personas → report), its
  run folder read back as pyarrow tables and dicts.
"""

from . import _native
from ._errors import (
    FileError,
    GpuError,
    InputError,
    ModelError,
    ParameterError,
    SegmentaError,
    SegmentaWarning,
    SourceNotFoundError,
)
from ._estimators import DBSCAN, KMeans
from ._pipeline import Run, generate, run, update

__version__ = _native.version()

__all__ = [
    "KMeans",
    "DBSCAN",
    "generate",
    "run",
    "update",
    "Run",
    "SegmentaError",
    "InputError",
    "ParameterError",
    "ModelError",
    "SourceNotFoundError",
    "FileError",
    "GpuError",
    "SegmentaWarning",
    "__version__",
]
