"""The peer of a whole `segmenta kmeans` fit: scikit-learn's KMeans on the same
Parquet, k-means++ with n_init=1, no scaling, lloyd and elkan, plus scikit-learn's
k-means++ seeding alone. One JSON line per measurement.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        python3 scripts/fit_peer.py target/cpu-peers/blobs_1000000.parquet --k 8 --threads 2
"""
import argparse
import json
import time

import numpy as np
import pyarrow.parquet as pq
from sklearn.cluster import KMeans, kmeans_plusplus
from threadpoolctl import threadpool_limits

ap = argparse.ArgumentParser()
ap.add_argument("input")
ap.add_argument("--k", type=int, required=True)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeat", type=int, default=1)
a = ap.parse_args()

t = pq.read_table(a.input)
cols = [c for c in t.column_names if c.startswith("f")]
X = np.column_stack([t[c].to_numpy() for c in cols]).astype(np.float32)
with threadpool_limits(a.threads):
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        kmeans_plusplus(X, a.k, random_state=a.seed)
        print(json.dumps({"kind": "kmeans++", "k": a.k, "n": len(X), "seconds": time.perf_counter() - t0}))
        for algo in ["lloyd", "elkan"]:
            km = KMeans(a.k, init="k-means++", n_init=1, algorithm=algo, random_state=a.seed, tol=1e-4, max_iter=300)
            t0 = time.perf_counter()
            km.fit(X)
            s = time.perf_counter() - t0
            print(json.dumps({"kind": "fit", "algorithm": algo, "k": a.k, "n": len(X), "seconds": s,
                              "iterations": int(km.n_iter_), "inertia": float(km.inertia_)}))
