"""Expected cluster-quality scores for tests/suite/select.rs.

Labels come from scikit-learn's KMeans on the Mall Customers table (age, income,
score, unscaled: integers, exact in f32), then silhouette_score,
davies_bouldin_score and calinski_harabasz_score are computed on them. The Rust
test feeds the same labels to segmenta::select and compares within 1e-6 relative.

    python3 tests/oracle/select_oracle.py ../shared/datasets/mall_customers.csv \
        > tests/oracle/select_expected.json
"""
import json
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

df = pd.read_csv(sys.argv[1])
x = df[["age", "income", "score"]].to_numpy(dtype=np.float64)
cases = []
for k in (2, 3, 5, 8):
    labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x)
    cases.append({
        "k": k,
        "labels": [int(v) for v in labels],
        "silhouette": float(silhouette_score(x, labels)),
        "davies_bouldin": float(davies_bouldin_score(x, labels)),
        "calinski_harabasz": float(calinski_harabasz_score(x, labels)),
    })
print(json.dumps({"sklearn": sklearn.__version__, "columns": ["age", "income", "score"],
                  "rows": len(x), "cases": cases}))
