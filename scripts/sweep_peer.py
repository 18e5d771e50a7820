"""The peer of `segmenta sweep`: the same k range in scikit-learn on the same Parquet.

Standard scaling, KMeans(k-means++, n_init, max_iter=300, tol=1e-4) per k, inertia,
silhouette_score on a seeded sample of --sample rows, davies_bouldin_score and
calinski_harabasz_score on all rows; prints one JSON line with the total seconds and
the per-k scores.

    python3 scripts/sweep_peer.py FILE --k 2..12 --n-init 3 --sample 20000 --threads 2
"""
import argparse
import json
import os
import time

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--k", default="2..12")
ap.add_argument("--n-init", type=int, default=3)
ap.add_argument("--sample", type=int, default=20000)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--id-col", default="customer_id")
a = ap.parse_args()
os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

t0 = time.perf_counter()
t = pq.read_table(a.file)
cols = [c for c in t.column_names if c not in (a.id_col, "segment")]
x = np.column_stack([t[c].to_numpy().astype(np.float32) for c in cols])
x = StandardScaler().fit_transform(x).astype(np.float32)
lo, hi = (int(v) for v in a.k.split(".."))
points = []
for k in range(lo, hi + 1):
    t1 = time.perf_counter()
    km = KMeans(n_clusters=k, n_init=a.n_init, max_iter=300, tol=1e-4, random_state=0).fit(x)
    fit_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    sil = silhouette_score(x, km.labels_, sample_size=min(a.sample, len(x)), random_state=0)
    db = davies_bouldin_score(x, km.labels_)
    ch = calinski_harabasz_score(x, km.labels_)
    points.append({"k": k, "inertia": float(km.inertia_), "silhouette": float(sil),
                   "davies_bouldin": float(db), "calinski_harabasz": float(ch),
                   "fit_s": fit_s, "score_s": time.perf_counter() - t2})
print(json.dumps({"peer": "scikit-learn", "rows": len(x), "features": len(cols),
                  "total_s": time.perf_counter() - t0, "points": points}))
