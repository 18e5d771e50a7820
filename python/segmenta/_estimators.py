"""``KMeans`` and ``DBSCAN`` with scikit-learn's estimator API, fitted by the Rust
library (``segmenta::kmeans::fit`` on the CPU or the GPU, ``segmenta::dbscan``).

With scikit-learn installed they subclass its ``BaseEstimator`` and mixins, so
``clone``, ``Pipeline``, ``GridSearchCV`` and ``check_estimator`` treat them as its
own; without it they keep the same methods and attributes.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from . import _native
from ._convert import as_matrix, as_weights
from ._errors import ParameterError, SegmentaWarning

try:  # pragma: no branch
    from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
    from sklearn.exceptions import NotFittedError

    HAVE_SKLEARN = True
except ImportError:  # pragma: no cover - exercised by the no-sklearn test
    HAVE_SKLEARN = False

    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before ``fit``."""

    class BaseEstimator:
        """``get_params``/``set_params`` from the ``__init__`` signature."""

        @classmethod
        def _get_param_names(cls):
            import inspect

            sig = inspect.signature(cls.__init__)
            return sorted(
                p.name
                for p in sig.parameters.values()
                if p.name != "self" and p.kind != p.VAR_KEYWORD
            )

        def get_params(self, deep=True):
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for k, v in params.items():
                if k not in valid:
                    raise ValueError(
                        f"Invalid parameter {k!r} for estimator {self}. "
                        f"Valid parameters are: {valid!r}."
                    )
                setattr(self, k, v)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"

    class ClusterMixin:
        def fit_predict(self, X, y=None, **kwargs):
            self.fit(X, **kwargs)
            return self.labels_

    class TransformerMixin:
        def fit_transform(self, X, y=None, **kwargs):
            return self.fit(X, y, **kwargs).transform(X)


def _seed(random_state) -> int:
    """An integer seed, as scikit-learn's ``check_random_state`` reads one."""
    if random_state is None:
        return int(np.random.mtrand._rand.randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ParameterError(
                f"invalid random_state: {random_state} (rule: an integer >= 0, a RandomState or None)"
            )
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    raise ParameterError(
        f"invalid random_state: {random_state!r} (rule: an integer >= 0, a RandomState or None)"
    )


def _check_fitted(est, attr):
    if not hasattr(est, attr):
        raise NotFittedError(
            f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def _warn_all(msgs):
    for m in msgs:
        warnings.warn(m, SegmentaWarning, stacklevel=3)


class _Features:
    """``n_features_in_``/``feature_names_in_`` bookkeeping, as scikit-learn's."""

    def _remember(self, m):
        self.n_features_in_ = m.array.shape[1]
        if m.names is not None:
            self.feature_names_in_ = m.names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _input(self, X):
        m = as_matrix(X)
        name = type(self).__name__
        d = m.array.shape[1]
        if d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features, but {name} is expecting {self.n_features_in_} "
                "features as input."
            )
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and m.names is None:
            warnings.warn(
                f"X does not have valid feature names, but {name} was fitted with feature names",
                UserWarning,
                stacklevel=3,
            )
        elif fitted is None and m.names is not None:
            warnings.warn(
                f"X has feature names, but {name} was fitted without feature names",
                UserWarning,
                stacklevel=3,
            )
        elif fitted is not None and (
            len(fitted) != len(m.names) or (fitted != m.names).any()
        ):
            unexpected = sorted(set(m.names) - set(fitted))
            missing = sorted(set(fitted) - set(m.names))
            msg = "The feature names should match those that were passed during fit.\n"
            if unexpected:
                msg += "Feature names unseen at fit time:\n" + "".join(
                    f"- {n}\n" for n in unexpected
                )
            if missing:
                msg += "Feature names seen at fit time, yet now missing:\n" + "".join(
                    f"- {n}\n" for n in missing
                )
            if not unexpected and not missing:
                msg += "Feature names must be in the same order as they were in fit.\n"
            raise ValueError(msg)
        return m


class KMeans(TransformerMixin, ClusterMixin, _Features, BaseEstimator):
    """K-means clustering, fitted by segmenta's Rust library on the CPU or a GPU.

    Parameters mirror :class:`sklearn.cluster.KMeans`. Given the same initial
    centroids (``init=array``) the CPU fit follows scikit-learn's Lloyd iteration
    step for step; ``k-means++`` draws from segmenta's own random stream, so it
    picks other (equally good) seeds than scikit-learn for the same
    ``random_state``.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"} or array of shape (n_clusters, n_features)
    n_init : "auto" or int, default="auto"
        Restarts; the lowest inertia wins. "auto": 1 for k-means++ and for an
        array, 10 for "random" (scikit-learn's rule).
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative to the mean feature variance, as scikit-learn's.
    random_state : int, RandomState or None
    backend : {"auto", "cpu", "gpu"}, default="auto"
        "auto" uses a hardware GPU when wgpu finds one, else the CPU; "gpu" also
        accepts a software adapter and fails without one.

    Attributes
    ----------
    cluster_centers_, labels_, inertia_, n_iter_, n_features_in_,
    feature_names_in_ (when fitted on a table with string column names),
    backend_ (the backend that ran, e.g. ``cpu (avx2, 2 threads)``),
    converged_.
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter=300,
        tol=1e-4,
        random_state=None,
        backend="auto",
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.backend = backend

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _params(self, n, d):
        k = self.n_clusters
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise ParameterError(f"invalid n_clusters: {k!r} (rule: an integer >= 1)")
        if n < k:
            raise ParameterError(
                f"invalid n_clusters: n_samples={n} should be >= n_clusters={k} "
                "(rule: k cannot exceed the number of rows)"
            )
        if not isinstance(self.max_iter, numbers.Integral) or self.max_iter < 1:
            raise ParameterError(
                f"invalid max_iter: {self.max_iter!r} (rule: an integer >= 1)"
            )
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ParameterError(f"invalid tol: {self.tol!r} (rule: a number >= 0)")
        if self.n_init == "auto":
            n_init = None
        elif isinstance(self.n_init, numbers.Integral) and self.n_init >= 1:
            n_init = int(self.n_init)
        else:
            raise ParameterError(
                f"invalid n_init: {self.n_init!r} (rule: 'auto' or an integer >= 1)"
            )
        centers = None
        if isinstance(self.init, str):
            if self.init not in ("k-means++", "random"):
                raise ParameterError(
                    f"invalid init: {self.init!r} (rule: 'k-means++', 'random' or an array)"
                )
            init = self.init
        else:
            if callable(self.init):
                raise ParameterError("invalid init: callables are not supported (rule: 'k-means++', 'random' or an array)")
            c = np.asarray(self.init, dtype=np.float64)
            if c.shape != (k, d):
                raise ParameterError(
                    f"invalid init: the initial centers have shape {c.shape}, expected "
                    f"(n_clusters, n_features) = {(k, d)}"
                )
            if not np.isfinite(c).all():
                raise ParameterError("invalid init: the initial centers must be finite")
            if n_init not in (None, 1):
                warnings.warn(
                    "Explicit initial center position passed: performing only one init "
                    f"in {type(self).__name__} instead of n_init={n_init}.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            init, centers, n_init = "given", np.ascontiguousarray(c.ravel(), np.float32), 1
        if self.backend not in ("auto", "cpu", "gpu"):
            raise ParameterError(
                f"invalid backend: {self.backend!r} (rule: 'auto', 'cpu' or 'gpu')"
            )
        return k, init, centers, n_init

    def fit(self, X, y=None, sample_weight=None):
        """Fits on ``X`` (array-like or table of shape (n_samples, n_features))."""
        m = as_matrix(X)
        n, d = m.array.shape
        w = as_weights(sample_weight, n)
        k, init, centers, n_init = self._params(n, d)
        r = _native.kmeans_fit(
            m.array,
            w,
            k,
            init,
            centers,
            n_init,
            int(self.max_iter),
            float(self.tol),
            _seed(self.random_state),
            self.backend,
        )
        _warn_all(r["warnings"])
        self._remember(m)
        self.cluster_centers_ = np.asarray(r["centers"]).astype(m.dtype, copy=m.dtype != np.float32)
        self.labels_ = np.asarray(r["labels"])
        self.inertia_ = float(r["inertia"])
        self.n_iter_ = int(r["n_iter"])
        self.converged_ = bool(r["converged"])
        self.backend_ = r["backend"]
        return self

    def _assign(self, X):
        _check_fitted(self, "cluster_centers_")
        m = self._input(X)
        c = np.ascontiguousarray(self.cluster_centers_, dtype=np.float32)
        labels, sq = _native.kmeans_assign(m.array, c)
        return m, np.asarray(labels), np.asarray(sq)

    def predict(self, X):
        """The nearest centroid of each row."""
        return self._assign(X)[1]

    def fit_predict(self, X, y=None, sample_weight=None):
        """``fit(X).labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean distance of each row to every centroid, (n_samples, n_clusters)."""
        _check_fitted(self, "cluster_centers_")
        m = self._input(X)
        x = m.array.astype(np.float64)
        c = np.asarray(self.cluster_centers_, dtype=np.float64)
        sq = (x * x).sum(1)[:, None] - 2.0 * (x @ c.T) + (c * c).sum(1)[None, :]
        return np.sqrt(np.maximum(sq, 0.0)).astype(m.dtype, copy=False)

    def fit_transform(self, X, y=None, sample_weight=None):
        """``fit(X).transform(X)``."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the inertia of ``X`` against the centroids (higher is better)."""
        m, _, sq = self._assign(X)
        w = as_weights(sample_weight, m.array.shape[0])
        sq = sq.astype(np.float64)
        return -float(sq.sum() if w is None else (sq * w).sum())


class DBSCAN(ClusterMixin, _Features, BaseEstimator):
    """Exact DBSCAN (Euclidean), by segmenta's Rust library: a grid or k-d tree
    index, every neighbourhood exact.

    Parameters
    ----------
    eps : float, default=0.5
        Radius, in the units of ``X``.
    min_samples : int, default=5
        A row is core when the weight of the rows within ``eps`` (its own
        included) is at least this.

    Attributes
    ----------
    labels_ (-1: noise), core_sample_indices_, components_, n_features_in_,
    feature_names_in_.

    Clusters are numbered by their smallest member and a border row joins the
    cluster of its lowest-indexed core neighbour, so the partition equals
    scikit-learn's up to the numbering of clusters (and the rare border row
    within ``eps`` of two clusters).
    """

    def __init__(self, eps=0.5, *, min_samples=5):
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, X, y=None, sample_weight=None):
        """Clusters ``X``."""
        m = as_matrix(X)
        n = m.array.shape[0]
        w = as_weights(sample_weight, n)
        if not isinstance(self.eps, numbers.Real) or not (0 < self.eps < np.inf):
            raise ParameterError(f"invalid eps: {self.eps!r} (rule: a finite number > 0)")
        if not isinstance(self.min_samples, numbers.Integral) or self.min_samples < 1:
            raise ParameterError(
                f"invalid min_samples: {self.min_samples!r} (rule: an integer >= 1)"
            )
        labels, core = _native.dbscan_fit(m.array, float(self.eps), int(self.min_samples), w)
        self._remember(m)
        self.labels_ = np.asarray(labels)
        core = np.asarray(core)
        self.core_sample_indices_ = np.flatnonzero(core)
        # The caller's rows at their own precision when they were a float array
        # (scikit-learn's X[core_sample_indices_]), else the float32 rows read.
        exact = isinstance(X, np.ndarray) and X.dtype in (np.float32, np.float64) and X.ndim == 2
        self.components_ = (X if exact else m.array)[core].astype(m.dtype)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """``fit(X).labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def predict(self, X):
        """New rows join the cluster of their nearest core sample within ``eps``;
        the others are noise (-1). scikit-learn's DBSCAN has no ``predict``."""
        _check_fitted(self, "components_")
        m = self._input(X)
        cores = np.ascontiguousarray(self.components_, dtype=np.float32)
        if cores.shape[0] == 0:
            return np.full(m.array.shape[0], -1, dtype=np.int32)
        core_labels = self.labels_[self.core_sample_indices_].astype(np.int32).tolist()
        return np.asarray(_native.dbscan_predict(cores, core_labels, float(self.eps), m.array))
