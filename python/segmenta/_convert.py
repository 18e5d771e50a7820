"""Inputs to the one layout the library works on: a C-contiguous ``float32``
matrix, rows are customers.

- A C-contiguous ``float32`` NumPy array is passed as is: the fit reads the
  caller's memory (no copy).
- Any other NumPy array (``float64``, integers, Fortran order, a strided view) is
  converted once by NumPy.
- pyarrow Tables and RecordBatches, polars and pandas DataFrames are read through
  the Arrow C stream interface (``__arrow_c_stream__``) by the Rust side, which
  writes them once into the row-major matrix: Arrow is columnar, so that one
  transposing copy is the least any row-major algorithm needs. Their column names
  become ``feature_names_in_``.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _native
from ._errors import InputError


class Matrix:
    """What :func:`as_matrix` returns: the ``float32`` rows, the column names (or
    ``None``), the input's float dtype (the dtype results come back in) and whether
    the input had to be copied."""

    __slots__ = ("array", "names", "dtype", "copied")

    def __init__(self, array, names, dtype, copied):
        self.array = array
        self.names = names
        self.dtype = dtype
        self.copied = copied


def _is_sparse(X) -> bool:
    return hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse")


def _is_frame(X) -> bool:
    """A table to read through the Arrow C stream interface."""
    if isinstance(X, np.ndarray):
        return False
    if type(X).__module__.startswith("pandas"):
        return hasattr(X, "columns")
    return hasattr(X, "__arrow_c_stream__") or hasattr(X, "__arrow_c_array__")


def _pandas_names(X):
    cols = list(X.columns)
    if all(isinstance(c, str) for c in cols):
        return np.asarray(cols, dtype=object)
    if any(isinstance(c, str) for c in cols):
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {sorted({type(c).__name__ for c in cols})} as feature name / "
            "column name types."
        )
    return None


def _frame_to_matrix(X, what):
    """pyarrow, polars or pandas through ``__arrow_c_stream__``."""
    names = None
    mod = type(X).__module__
    if mod.startswith("pandas"):
        names = _pandas_names(X)
        bad = [c for c, t in X.dtypes.items() if t.kind not in "biuf"]
        if bad:
            c = bad[0]
            raise InputError(
                f"{what}: column `{c}` is {X.dtypes[c]}, not numeric "
                "(rule: features are integers, floats or booleans; encode text columns first)"
            )
        if not hasattr(X, "__arrow_c_stream__"):
            import pyarrow as pa

            X = pa.Table.from_pandas(X, preserve_index=False)
    elif not hasattr(X, "__arrow_c_stream__"):
        # A pyarrow RecordBatch before pyarrow 15 or another __arrow_c_array__ producer.
        import pyarrow as pa

        X = pa.table(X)
    arrow_names, buf = _native.arrow_matrix(X)
    if names is None and not mod.startswith("pandas"):
        names = np.asarray(arrow_names, dtype=object)
    arr = np.asarray(buf)
    return Matrix(arr, names, np.dtype(np.float64), True)


def as_matrix(X, *, what="X", allow_1d=False) -> Matrix:
    """``X`` as a finite, 2-D, C-contiguous ``float32`` array, checked the way
    scikit-learn checks inputs (the same exception types, so that estimators
    behave alike inside its tools)."""
    if _is_sparse(X):
        raise TypeError(
            f"{what}: sparse input is not supported; pass a dense array (X.toarray())"
        )
    if _is_frame(X):
        m = _frame_to_matrix(X, what)
    else:
        if isinstance(X, np.ndarray) and np.iscomplexobj(X) or (
            not isinstance(X, np.ndarray) and np.iscomplexobj(np.asarray(X))
        ):
            raise ValueError("Complex data not supported\n")
        src = X if isinstance(X, np.ndarray) else np.asarray(X)
        if src.dtype.kind not in "biuf" and src.dtype != object:
            raise InputError(f"{what}: dtype {src.dtype} is not numeric")
        dtype = src.dtype if src.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        if src.ndim == 1 and not allow_1d:
            raise ValueError(
                f"Expected 2D array, got 1D array instead:\narray={src!r}.\n"
                "Reshape your data either using array.reshape(-1, 1) if your data has a "
                "single feature or array.reshape(1, -1) if it contains a single sample."
            )
        if src.ndim != 2:
            raise ValueError(f"Expected 2D array, got {src.ndim}D array instead")
        arr = np.ascontiguousarray(src, dtype=np.float32)
        copied = not np.shares_memory(arr, src) if arr.size else src.dtype != np.float32
        m = Matrix(arr, None, dtype, copied)
    arr = m.array
    n, d = arr.shape
    if n == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape=({n}, {d})) while a minimum of 1 is required."
        )
    if d == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape=({n}, {d})) while a minimum of 1 is required."
        )
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(
            f"{what}: contains NaN or infinity at row {bad[0]}, column {bad[1]} "
            "(rule: features must be finite; input contains NaN, infinity or a value too large "
            "for float32)"
        )
    return m


def as_weights(sample_weight, n: int):
    """``None``, a number or one non-negative finite weight per row, as ``float32``."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        w = np.full(n, sample_weight, dtype=np.float32)
    else:
        w = np.asarray(sample_weight)
        if w.ndim != 1:
            raise ValueError("Sample weights must be 1D array or scalar")
        if w.shape != (n,):
            raise ValueError(f"sample_weight.shape == {w.shape}, expected {(n,)}!")
        w = np.ascontiguousarray(w, dtype=np.float32)
    if not np.isfinite(w).all():
        raise InputError("sample_weight: contains NaN or infinity (rule: weights are finite)")
    if (w < 0).any():
        raise InputError("sample_weight: negative values (rule: weights are >= 0)")
    if not (w > 0).any():
        raise InputError("sample_weight: all weights are zero (rule: at least one weight > 0)")
    return w
