"""segmenta.KMeans against sklearn.cluster.KMeans inside Python, same process,
same data: 1M x 16 float32 blobs at k = 8 and 64.

1. From the same initial centroids, a fixed number of Lloyd iterations (tol=0),
   so both do the same work; the labels must agree.
2. From k-means++ with n_init=1 (each its own seeding), to convergence.
3. The cost of crossing into Python: converting each input type to the matrix
   the library reads (float32 NumPy: none; Arrow tables: one transposing copy).

    python python/bench/bench_kmeans.py [--rows 1000000] [--iters 20] [--json out.json]
"""

import argparse
import json
import os
import platform
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans as SkKMeans

import segmenta
from segmenta._convert import as_matrix


def blobs(n, d, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(0, 6, size=(32, d))
    return (c[rng.integers(0, 32, size=n)] + rng.normal(0, 1.5, size=(n, d))).astype(np.float32)


def timed(f):
    t = time.perf_counter()
    r = f()
    return r, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dims", type=int, default=16)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--ks", default="8,64")
    ap.add_argument("--json")
    a = ap.parse_args()
    X = blobs(a.rows, a.dims)
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "sklearn": sklearn.__version__,
        "segmenta": segmenta.__version__,
        "rows": a.rows, "dims": a.dims, "runs": [],
    }
    for k in [int(s) for s in a.ks.split(",")]:
        init = X[np.random.default_rng(k).choice(a.rows, k, replace=False)]
        ours, t_ours = timed(lambda: segmenta.KMeans(k, init=init, max_iter=a.iters, tol=0,
                                                    backend="cpu").fit(X))
        theirs, t_theirs = timed(lambda: SkKMeans(k, init=init, n_init=1, max_iter=a.iters, tol=0,
                                                  algorithm="lloyd").fit(X))
        agree = float((ours.labels_ == theirs.labels_).mean())
        out["runs"].append(dict(k=k, mode="same centroids", segmenta_s=t_ours, sklearn_s=t_theirs,
                                segmenta_iters=ours.n_iter_, sklearn_iters=theirs.n_iter_,
                                label_agreement=agree, backend=ours.backend_))
        print(out["runs"][-1], flush=True)
        ours, t_ours = timed(lambda: segmenta.KMeans(k, random_state=0, n_init=1, backend="cpu").fit(X))
        theirs, t_theirs = timed(lambda: SkKMeans(k, random_state=0, n_init=1).fit(X))
        out["runs"].append(dict(k=k, mode="k-means++ n_init=1", segmenta_s=t_ours, sklearn_s=t_theirs,
                                segmenta_iters=ours.n_iter_, sklearn_iters=theirs.n_iter_,
                                segmenta_inertia=ours.inertia_, sklearn_inertia=theirs.inertia_))
        print(out["runs"][-1], flush=True)
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(a.dims)])
    inputs = {
        "numpy float32 C": X,
        "numpy float64 C": X.astype(np.float64),
        "numpy float32 Fortran": np.asfortranarray(X),
        "pyarrow Table": pa.Table.from_pandas(df, preserve_index=False),
        "polars DataFrame": pl.from_pandas(df),
        "pandas DataFrame": df,
    }
    out["conversion"] = []
    for name, data in inputs.items():
        best = min(timed(lambda: as_matrix(data))[1] for _ in range(3))
        m = as_matrix(data)
        out["conversion"].append(dict(input=name, seconds=best, copied=bool(m.copied)))
        print(out["conversion"][-1], flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
