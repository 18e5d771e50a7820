"""Expected values for tests/suite/dbscan.rs, from scikit-learn's DBSCAN.

Run from the repository root (needs numpy, pyarrow, scikit-learn):
    python3 tests/oracle/dbscan_oracle.py ../shared/datasets/mall_customers.csv \
        > tests/oracle/dbscan_expected.json

Cases: mall_customers.csv's raw age, income and score columns; the first four
columns of datasets/blobs_outliers_3k.parquet (float32, as segmenta reads them);
and small hand-made sets whose points are stored in the JSON. Each case keeps
scikit-learn's labels and core_sample_indices_.
"""
import csv
import json
import sys

import numpy as np
import pyarrow.parquet as pq
import sklearn
from sklearn.cluster import DBSCAN

cases = []


def add(name, X, eps, min_samples, store_points=False, source=None):
    db = DBSCAN(eps=eps, min_samples=min_samples).fit(X)
    case = {"name": name, "eps": eps, "min_samples": min_samples,
            "labels": db.labels_.tolist(), "core": db.core_sample_indices_.tolist()}
    if store_points:
        case["points"] = np.asarray(X, dtype=np.float32).tolist()
    if source:
        case["source"] = source
    cases.append(case)


with open(sys.argv[1]) as f:
    rows = list(csv.DictReader(f))
mall = np.array([[float(r["age"]), float(r["income"]), float(r["score"])] for r in rows])
add("mall eps 9.5 min 5", mall, 9.5, 5, source="mall")
add("mall eps 12.5 min 4", mall, 12.5, 4, source="mall")

t = pq.read_table("datasets/blobs_outliers_3k.parquet")
blobs = np.column_stack([t[f"f{j}"].to_numpy() for j in range(4)]).astype(np.float32)
add("blobs eps 0.8 min 10", blobs, 0.8, 10, source="blobs")
add("blobs eps 1.1 min 5", blobs, 1.1, 5, source="blobs")

rng = np.random.default_rng(5)
add("all identical", np.ones((12, 3), dtype=np.float32), 0.5, 3, store_points=True)
add("all noise (tiny eps)", rng.normal(size=(60, 2)).astype(np.float32), 1e-4, 2, store_points=True)
add("min_samples 1", rng.normal(size=(40, 2)).astype(np.float32), 0.3, 1, store_points=True)
a = rng.normal(size=(30, 2)) * 0.1
b = rng.normal(size=(30, 2)) * 0.1 + [5.0, 0.0]
chain = np.column_stack([np.linspace(0.2, 4.8, 24), np.zeros(24)])
add("two blobs joined by a chain", np.vstack([a, b, chain]).astype(np.float32), 0.35, 3, store_points=True)
add("two blobs, chain too sparse", np.vstack([a, b, chain[::3]]).astype(np.float32), 0.35, 3, store_points=True)

json.dump({"sklearn": sklearn.__version__, "cases": cases}, sys.stdout)
print()
