"""Expected values for segmenta's column transforms (Yeo-Johnson, quantile), from scikit-learn.

Self-contained: three synthetic columns drawn with numpy Generator(PCG64(7)), in this order:
- "lognormal": 3000 values exp(N(3, 1.2))      (positive, heavy right tail)
- "mixed":     2000 values N(0, 1) * 5 + 2     (negatives and positives)
- "counts":    2500 values Poisson(0.7) as float (many zeros and ties)

For each column it stores the input values (full precision) and
- "skew_g1": biased skewness m3 / m2**1.5 (population central moments);
- "yeo_johnson": PowerTransformer(method="yeo-johnson", standardize=False): lambda, the
  transformed values, plus the fminbound bracket [lb, ub] and number of function
  evaluations scipy used (scipy.stats.yeojohnson_normmax does the work);
- "quantile": QuantileTransformer(n_quantiles=1000, output_distribution="uniform",
  subsample=10**9): quantiles_, the transformed values, and the transform of probe points
  [min - 1, median, max + 1, (the most frequent tied value other than min/max/median,
  when there is one), 0.0].

Writes tests/oracle/transform_expected.json. Run from the repository root:
    pip install numpy scikit-learn
    python3 tests/oracle/transform_oracle.py
"""
import json
from pathlib import Path

import numpy as np
import scipy
import sklearn
from scipy import optimize, stats
from sklearn.preprocessing import PowerTransformer, QuantileTransformer

rng = np.random.Generator(np.random.PCG64(7))
cols = {
    "lognormal": np.exp(rng.normal(3.0, 1.2, 3000)),
    "mixed": rng.normal(0.0, 1.0, 2000) * 5 + 2,
    "counts": rng.poisson(0.7, 2500).astype(np.float64),
}


def skew_g1(x):
    d = x - x.mean()
    m2, m3 = (d ** 2).mean(), (d ** 3).mean()
    return float(m3 / m2 ** 1.5)


def yj_bracket(x):
    # same bounds as scipy.stats.yeojohnson_normmax (scipy >= 1.12)
    log1p_max_x = np.log1p(20 * np.max(np.abs(x)))
    log_eps = np.log(np.finfo(np.float64).eps)
    log_tiny = (np.log(np.finfo(np.float64).tiny) - log_eps) / 2
    log_max = (np.log(np.finfo(np.float64).max) + log_eps) / 2
    lb, ub = log_tiny / log1p_max_x, log_max / log1p_max_x
    if np.all(x < 0):
        lb, ub = 2 - ub, 2 - lb
    elif np.any(x < 0):
        lb, ub = max(2 - ub, lb), min(2 - lb, ub)
    return float(lb), float(ub)


def neg_llf(lmb, x):
    llf = np.asarray(stats.yeojohnson_llf(lmb, x))  # as scipy's _neg_llf
    llf[np.isinf(llf)] = -np.inf
    return -llf


out = {"sklearn": sklearn.__version__, "scipy": scipy.__version__, "numpy": np.__version__,
       "seed": 7, "columns": {}}
summary = {}
for name, x in cols.items():
    X = x.reshape(-1, 1)
    pt = PowerTransformer(method="yeo-johnson", standardize=False).fit(X)
    lam = float(pt.lambdas_[0])
    yj = pt.transform(X.copy())[:, 0]
    lb, ub = yj_bracket(x)
    xmin, fval, ierr, nfev = optimize.fminbound(neg_llf, lb, ub, args=(x,), xtol=1.48e-08, full_output=True)
    assert xmin == lam, (xmin, lam)

    qt = QuantileTransformer(n_quantiles=1000, output_distribution="uniform", subsample=10**9).fit(X)
    qtx = qt.transform(X.copy())[:, 0]
    vals, cnt = np.unique(x, return_counts=True)
    # an interior tied value (not the min, max or median), the most frequent such one
    inner = (cnt > 1) & (vals > x.min()) & (vals < x.max()) & (vals != np.median(x))
    tie = float(vals[inner][np.argmax(cnt[inner])]) if inner.any() else None
    probes = [float(x.min() - 1), float(np.median(x)), float(x.max() + 1)] + ([tie] if tie is not None else []) + [0.0]
    qp = qt.transform(np.array(probes).reshape(-1, 1))[:, 0]

    out["columns"][name] = {
        "n": int(len(x)),
        "skew_g1": skew_g1(x),
        "x": x.tolist(),
        "yeo_johnson": {"lambda": lam, "bracket": [lb, ub], "nfev": int(nfev), "neg_llf": float(fval),
                        "y": yj.tolist()},
        "quantile": {"n_quantiles": int(qt.n_quantiles_), "quantiles": qt.quantiles_[:, 0].tolist(),
                     "y": qtx.tolist(), "tie_value": tie, "probes": probes, "probes_y": qp.tolist()},
    }
    summary[name] = {"n": len(x), "skew_g1": round(skew_g1(x), 6), "yj_lambda": lam, "nfev": int(nfev),
                     "bracket": [round(lb, 4), round(ub, 4)], "tie": tie,
                     "probes": [round(p, 6) for p in probes], "probes_y": [round(float(v), 9) for v in qp]}

Path(__file__).with_name("transform_expected.json").write_text(json.dumps(out, separators=(",", ":")) + "\n")
print(json.dumps({"sklearn": sklearn.__version__, "scipy": scipy.__version__}))
for name, v in summary.items():
    print(name, json.dumps(v))
