"""Expected values for tests/suite/oracle.rs, from scikit-learn.

Run from the repository root (needs numpy, pandas-free, scikit-learn):
    python3 tests/oracle/kmeans_oracle.py ../shared/datasets/mall_customers.csv \
        > tests/oracle/kmeans_mall.json

For each case: the data is columns age, income, score of mall_customers.csv, scaled
with StandardScaler (population std) in float64 and cast to float32 (segmenta's
scaling); the initial centroids are the scaled rows at `init_rows`; KMeans runs
lloyd with n_init=1, tol=1e-4, max_iter=300. The inertia is recomputed in float64
from the returned centers and labels. `default_inertia` is scikit-learn's default
KMeans (k-means++, n_init="auto", random_state=0) on the same data.
"""
import csv
import json
import sys

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

path = sys.argv[1]
with open(path) as f:
    rows = list(csv.DictReader(f))
X64 = np.array([[float(r["age"]), float(r["income"]), float(r["score"])] for r in rows])
Xs = StandardScaler().fit_transform(X64).astype(np.float32)

cases = []
for k, init_rows in [(3, [0, 50, 150]), (5, [3, 40, 90, 120, 199]), (6, [10, 20, 30, 40, 50, 60])]:
    km = KMeans(n_clusters=k, init=Xs[init_rows], n_init=1, algorithm="lloyd",
                tol=1e-4, max_iter=300).fit(Xs)
    c = km.cluster_centers_.astype(np.float64)
    inertia = float(((Xs.astype(np.float64) - c[km.labels_]) ** 2).sum())
    default = KMeans(n_clusters=k, random_state=0).fit(Xs)
    dc = default.cluster_centers_.astype(np.float64)
    default_inertia = float(((Xs.astype(np.float64) - dc[default.labels_]) ** 2).sum())
    cases.append({
        "k": k,
        "init_rows": init_rows,
        "inertia": inertia,
        "n_iter": int(km.n_iter_),
        "centers": c.tolist(),
        "labels": km.labels_.tolist(),
        "default_inertia": default_inertia,
    })
json.dump({"sklearn": sklearn.__version__, "numpy": np.__version__, "cases": cases},
          sys.stdout, indent=1)
print()
