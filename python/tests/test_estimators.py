"""segmenta.KMeans and segmenta.DBSCAN against scikit-learn, the CLI and themselves
across input types."""

import pickle
import subprocess
import threading
import time
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn import cluster as skc
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import segmenta
from segmenta._convert import as_matrix


def _first_rows(X, k, seed=0):
    rng = np.random.default_rng(seed)
    return X[rng.choice(len(X), size=k, replace=False)].copy()


# --- equality with scikit-learn from the same initial centroids -----------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [3, 6, 12])
def test_kmeans_equals_scikit_learn_from_the_same_centroids(blobs, dtype, k):
    X = blobs.astype(dtype)
    init = _first_rows(X, k, seed=k)
    ours = segmenta.KMeans(k, init=init, n_init=1, backend="cpu").fit(X)
    theirs = skc.KMeans(k, init=init, n_init=1, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=2e-5, atol=2e-5)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-5)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.cluster_centers_.dtype == dtype
    np.testing.assert_allclose(ours.transform(X), theirs.transform(X), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ours.predict(X[:100]), theirs.predict(X[:100]))
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-5)


def test_weighted_kmeans_equals_scikit_learn_and_repeated_rows(blobs):
    X = blobs[:1000].astype(np.float32)
    w = np.random.default_rng(3).integers(0, 4, size=len(X)).astype(np.float64)
    init = _first_rows(X[w > 0], 5, seed=1)
    ours = segmenta.KMeans(5, init=init, backend="cpu").fit(X, sample_weight=w)
    theirs = skc.KMeans(5, init=init, n_init=1).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-5, atol=1e-5)
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-5)
    # A weight of 3 is the row three times.
    rep = np.repeat(X, w.astype(int), axis=0)
    dup = segmenta.KMeans(5, init=init, backend="cpu").fit(rep)
    np.testing.assert_allclose(dup.cluster_centers_, ours.cluster_centers_, rtol=1e-5, atol=1e-5)
    assert dup.inertia_ == pytest.approx(ours.inertia_, rel=1e-5)
    assert ours.score(X, sample_weight=w) == pytest.approx(-ours.inertia_, rel=1e-5)


def test_kmeans_plus_plus_is_as_good_as_scikit_learns(blobs):
    X = blobs.astype(np.float32)
    ours = segmenta.KMeans(6, random_state=0, backend="cpu").fit(X)
    theirs = skc.KMeans(6, random_state=0, n_init=1).fit(X)
    # Other seeds, same blobs: the same partition (but for a few rows where two
    # blobs touch) and the same inertia.
    assert adjusted_rand_score(ours.labels_, theirs.labels_) > 0.995
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-3)
    again = segmenta.KMeans(6, random_state=0, backend="cpu").fit(X)
    np.testing.assert_array_equal(again.cluster_centers_, ours.cluster_centers_)


def test_kmeans_equals_the_cli(tmp_path, blobs, cli):
    X = blobs.astype(np.float32)
    cols = {f"f{j}": X[:, j] for j in range(X.shape[1])}
    t = pa.table({"customer_id": np.arange(len(X), dtype=np.int64), **cols})
    pq.write_table(t, tmp_path / "x.parquet")
    out = tmp_path / "km"
    subprocess.run(
        [cli, "kmeans", "-i", str(tmp_path / "x.parquet"), "-o", str(out), "-k", "6",
         "--scale", "none", "--transform", "none", "--fit-on", "all", "--seed", "11",
         "--backend", "cpu", "--surrogate-depth", "0", "--stability-resamples", "0", "--quiet"],
        check=True,
    )
    seg = pq.read_table(out / "assignments.parquet").column("segment").to_numpy()
    ours = segmenta.KMeans(6, random_state=11, n_init=4, backend="cpu").fit(X)
    # The same library call with the same seed: the same fit, segment for segment.
    np.testing.assert_array_equal(seg, ours.labels_)
    import json

    model = json.loads((out / "model.json").read_text())
    inertia = model["kmeans"]["inertia"]
    assert ours.inertia_ == pytest.approx(inertia, rel=1e-6)


@pytest.mark.usefixtures("gpu_or_skip")
def test_the_gpu_gives_the_cpus_answer(blobs):
    X = blobs.astype(np.float32)
    init = _first_rows(X, 6, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", segmenta.SegmentaWarning)  # software adapter
        gpu = segmenta.KMeans(6, init=init, backend="gpu").fit(X)
    cpu = segmenta.KMeans(6, init=init, backend="cpu").fit(X)
    assert gpu.backend_.startswith("gpu"), gpu.backend_
    np.testing.assert_array_equal(gpu.labels_, cpu.labels_)
    np.testing.assert_allclose(gpu.cluster_centers_, cpu.cluster_centers_, rtol=1e-5, atol=1e-5)


# --- inputs -----------------------------------------------------------------------


def _frames(X):
    import pandas as pd
    import polars as pl

    names = [f"c{j}" for j in range(X.shape[1])]
    df = pd.DataFrame(X, columns=names)
    return {
        "numpy-f32": X.astype(np.float32),
        "numpy-f64": X.astype(np.float64),
        "numpy-fortran": np.asfortranarray(X),
        "numpy-int": np.round(X * 100).astype(np.int64) / 100.0,
        "list": X.tolist(),
        "pandas": df,
        "polars": pl.from_pandas(df),
        "pyarrow-table": pa.Table.from_pandas(df, preserve_index=False),
        "pyarrow-batch": pa.RecordBatch.from_pandas(df, preserve_index=False),
        "pyarrow-chunked": pa.concat_tables(
            [pa.Table.from_pandas(df.iloc[:700], preserve_index=False),
             pa.Table.from_pandas(df.iloc[700:], preserve_index=False)]
        ),
    }


def test_every_input_type_gives_the_same_fit(blobs):
    X = np.round(blobs[:1500], 2).astype(np.float32)
    init = _first_rows(X, 4)
    ref = segmenta.KMeans(4, init=init, backend="cpu").fit(X)
    for name, data in _frames(X).items():
        km = segmenta.KMeans(4, init=init, backend="cpu").fit(data)
        np.testing.assert_array_equal(km.labels_, ref.labels_, err_msg=name)
        np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-6, err_msg=name)
        table = name in ("pandas", "polars") or name.startswith("pyarrow")
        if table:
            assert list(km.feature_names_in_) == [f"c{j}" for j in range(X.shape[1])], name
            np.testing.assert_array_equal(km.predict(data), ref.labels_, err_msg=name)
        else:
            assert not hasattr(km, "feature_names_in_"), name
        assert km.n_features_in_ == X.shape[1]


def test_a_c_contiguous_float32_array_is_not_copied(blobs):
    X = np.ascontiguousarray(blobs, dtype=np.float32)
    m = as_matrix(X)
    assert not m.copied and m.array is X
    # The fit reads that memory in place: the native side reports a shared buffer.
    r = segmenta._native.kmeans_fit(X, None, 3, "k-means++", None, None, 10, 1e-4, 0, "cpu")
    assert r["input_shared"]
    assert as_matrix(blobs).copied  # float64: converted once
    assert as_matrix(np.asfortranarray(X)).copied
    # Arrow is columnar: one transposing copy, into memory NumPy wraps without another.
    t = pa.table({"a": X[:, 0], "b": X[:, 1]})
    mt = as_matrix(t)
    assert mt.array.flags["C_CONTIGUOUS"] and mt.array.dtype == np.float32
    assert not mt.array.flags["OWNDATA"]  # a view of the Rust buffer


def test_tables_are_taken_through_the_arrow_c_stream():
    import polars as pl

    class Stream:
        """Only the PyCapsule protocol, nothing else of a DataFrame."""

        def __init__(self, t):
            self.t = t

        def __arrow_c_stream__(self, requested_schema=None):
            return self.t.__arrow_c_stream__(requested_schema)

    t = pa.table({"x": [0.0, 0.1, 5.0, 5.1], "y": [0, 0, 5, 5]})
    km = segmenta.KMeans(2, random_state=0).fit(Stream(t))
    assert list(km.feature_names_in_) == ["x", "y"]
    assert len(set(km.labels_[:2])) == 1 and km.labels_[0] != km.labels_[2]
    km2 = segmenta.KMeans(2, random_state=0).fit(pl.from_arrow(t))
    np.testing.assert_array_equal(km2.labels_, km.labels_)


def test_bad_inputs_raise_one_line_errors_naming_the_column():
    import polars as pl

    with pytest.raises(segmenta.InputError, match=r"column `name` is (Utf8|LargeUtf8|Utf8View|String), not numeric"):
        segmenta.KMeans(2).fit(pl.DataFrame({"x": [1.0, 2.0, 3.0], "name": ["a", "b", "c"]}))
    with pytest.raises(segmenta.InputError, match=r"column `y` has 1 missing value\(s\), first at row 1"):
        segmenta.KMeans(2).fit(pa.table({"x": [1.0, 2.0, 3.0], "y": [1.0, None, 3.0]}))
    with pytest.raises(segmenta.InputError, match=r"contains NaN or infinity at row 2, column 0"):
        segmenta.KMeans(2).fit(np.array([[0.0], [1.0], [np.nan]]))
    with pytest.raises(ValueError, match="n_samples=2 should be >= n_clusters=3"):
        segmenta.KMeans(3).fit(np.zeros((2, 2)))
    with pytest.raises(segmenta.ParameterError, match="invalid backend"):
        segmenta.KMeans(2, backend="tpu").fit(np.zeros((4, 2)))
    with pytest.raises(segmenta.ParameterError, match="initial centers have shape"):
        segmenta.KMeans(2, init=np.zeros((3, 2))).fit(np.zeros((4, 2)))
    km = segmenta.KMeans(2, random_state=0).fit(np.eye(4))
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 4"):
        km.predict(np.zeros((1, 2)))
    for e in (segmenta.InputError, segmenta.ParameterError):
        assert issubclass(e, segmenta.SegmentaError) and issubclass(e, ValueError)


def test_feature_names_must_match_at_predict():
    import pandas as pd

    df = pd.DataFrame({"a": [0.0, 0.1, 5.0, 5.1], "b": [0.0, 0.0, 5.0, 5.0]})
    km = segmenta.KMeans(2, random_state=0).fit(df)
    with pytest.raises(ValueError, match="feature names should match"):
        km.predict(df[["b", "a"]])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        km.predict(df.to_numpy())


# --- scikit-learn's tools -------------------------------------------------------------


def test_pipeline_grid_search_clone_and_pickle(blobs):
    X = blobs[:600]
    pipe = Pipeline([("scale", StandardScaler()), ("km", segmenta.KMeans(random_state=0))])
    grid = GridSearchCV(pipe, {"km__n_clusters": [2, 4, 6]}, cv=3).fit(X)
    assert grid.best_params_["km__n_clusters"] == 6  # score is -inertia: more is better
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    labels = grid.best_estimator_.predict(X)
    assert labels.shape == (600,) and labels.max() == 5
    km = segmenta.KMeans(4, random_state=1, backend="cpu").fit(X)
    c = clone(km)
    assert c.get_params() == km.get_params() and not hasattr(c, "labels_")
    back = pickle.loads(pickle.dumps(km))
    np.testing.assert_array_equal(back.predict(X), km.labels_)
    assert segmenta.KMeans().set_params(n_clusters=3).n_clusters == 3


def test_the_gil_is_released_during_a_fit():
    X = np.random.default_rng(0).normal(size=(200_000, 16)).astype(np.float32)
    ticks = []
    done = threading.Event()

    def fit():
        segmenta.KMeans(32, random_state=0, max_iter=40, tol=0, backend="cpu").fit(X)
        done.set()

    t = threading.Thread(target=fit)
    t0 = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    t.join()
    took = time.perf_counter() - t0
    assert took > 0.2, f"the fit took {took:.3f} s, too short to tell"
    gaps = np.diff([t0] + ticks)
    # Holding the GIL would stall this loop for the whole fit.
    assert gaps.max() < 0.5 * took, (gaps.max(), took)
    assert len(ticks) > 50


# --- DBSCAN -------------------------------------------------------------------------


def _dbscan_data():
    rng = np.random.default_rng(5)
    a = rng.normal(0, 0.3, size=(300, 2))
    b = rng.normal(4, 0.3, size=(300, 2))
    noise = rng.uniform(-3, 7, size=(60, 2))
    return np.vstack([a, b, noise])


def _same_partition(a, b):
    """Equal up to the numbering of clusters; noise must be noise in both."""
    np.testing.assert_array_equal(a == -1, b == -1)
    pairs = {(x, y) for x, y in zip(a, b) if x != -1}
    assert len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs})


@pytest.mark.parametrize("weighted", [False, True])
def test_dbscan_equals_scikit_learn(weighted):
    X = _dbscan_data()
    w = np.random.default_rng(1).integers(1, 4, size=len(X)).astype(float) if weighted else None
    ours = segmenta.DBSCAN(eps=0.4, min_samples=8).fit(X, sample_weight=w)
    theirs = skc.DBSCAN(eps=0.4, min_samples=8).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.core_sample_indices_, theirs.core_sample_indices_)
    _same_partition(ours.labels_, theirs.labels_)
    np.testing.assert_array_equal(ours.components_, theirs.components_)
    assert ours.labels_.max() + 1 == theirs.labels_.max() + 1 >= 2


def test_dbscan_predict_puts_new_rows_with_their_core():
    X = _dbscan_data()
    db = segmenta.DBSCAN(eps=0.4, min_samples=8).fit(X)
    core = db.core_sample_indices_
    np.testing.assert_array_equal(db.predict(X[core]), db.labels_[core])
    assert (db.predict(np.array([[100.0, 100.0]])) == -1).all()
    assert (db.fit_predict(X) == db.labels_).all()


# --- scikit-learn's own estimator checks -------------------------------------------------

# Checks the estimators fail on purpose, and why. Everything else must pass.
EXPECTED_FAILURES = {
    "KMeans": {
        # k-means++ draws from segmenta's own random stream, which weighted and
        # repeated rows consume differently; from the same centroids a weight of
        # 3 equals three copies (test_weighted_kmeans_equals_scikit_learn_and_repeated_rows).
        "check_sample_weight_equivalence_on_dense_data": "k-means++ seeds differ between weights and repeats",
    },
    "DBSCAN": {},
}


@pytest.mark.parametrize("est", [segmenta.KMeans(n_clusters=3), segmenta.DBSCAN()], ids=type)
def test_check_estimator(est):
    from sklearn.utils.estimator_checks import check_estimator

    name = type(est).__name__
    expected = EXPECTED_FAILURES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, on_fail=None, expected_failed_checks=expected)
    failed = {r["check_name"]: str(r["exception"]) for r in results if r["status"] == "failed"}
    assert not failed, failed
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    # The expected failures still fail (else the list is stale).
    really = {r["check_name"] for r in results if r["status"] == "xfail" and r["exception"]}
    assert really == set(expected), f"expected failures that now pass: {set(expected) - really}"
    # Skipped: only the array-API check (NumPy in, NumPy out; no array-API namespaces).
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input"}, skipped
    assert len(passed) >= 50, sorted(passed)


def test_without_scikit_learn_the_api_is_the_same():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import numpy as np, segmenta\n"
        "from segmenta import _estimators as e; assert not e.HAVE_SKLEARN\n"
        "X = np.array([[0.0], [0.1], [5.0], [5.1]])\n"
        "km = segmenta.KMeans(2, random_state=0).set_params(max_iter=50).fit(X)\n"
        "assert km.get_params()['max_iter'] == 50 and km.labels_[0] != km.labels_[2]\n"
        "assert (km.fit_predict(X) == km.labels_).all() and km.transform(X).shape == (4, 2)\n"
        "assert (segmenta.DBSCAN(eps=0.5, min_samples=2).fit_predict(X) == [0, 0, 1, 1]).all()\n"
        "try:\n    segmenta.KMeans(2).predict(X)\nexcept ValueError as err:\n    print('ok', err)\n"
    )
    import sys

    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "ok This KMeans instance is not fitted yet" in p.stdout
