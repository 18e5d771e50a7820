"""Expected values for tests/suite/lifetime.rs, from the `lifetimes` package
(BetaGeoFitter, GammaGammaFitter), on the CDNOW cohort it ships.

Run from the repository root (needs `pip install lifetimes`, which brings pandas,
numpy, scipy and autograd):
    python3 tests/oracle/lifetime_oracle.py > tests/oracle/lifetime_expected.json

Data: `cdnow_customers_summary` (2,357 customers of the CDNOW 1/10 sample,
frequency / recency / T in weeks, calibration to 1997-09-30) for BG/NBD, and
`cdnow_summary_data_with_monetary_value` (the same customers with their mean
repeat-purchase value) for Gamma-Gamma. Both are stored in the JSON, so the Rust
tests read no other file. Fader, Hardie & Lee (2005) publish r = 0.243,
alpha = 4.414, a = 0.793, b = 2.426 and p = 6.25, q = 3.74, gamma = 15.44.

Per customer: P(alive), the conditional expected number of purchases in the next
39 weeks, the expected average spend (Gamma-Gamma) and the CLV over 12 months at a
monthly discount rate of 0.01 (lifetimes' `customer_lifetime_value`, freq "W").
"""
import json

import numpy as np

import lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.datasets import load_cdnow_summary, load_cdnow_summary_data_with_monetary_value

s = load_cdnow_summary(index_col=[0])
bg = BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
m = load_cdnow_summary_data_with_monetary_value()
rep = m[m["frequency"] > 0]
gg = GammaGammaFitter(penalizer_coef=0.0).fit(rep["frequency"], rep["monetary_value"])
# The CLV's transaction model is the BG/NBD fitted on the monetary data set's own rows.
bg_m = BetaGeoFitter(penalizer_coef=0.0).fit(m["frequency"], m["recency"], m["T"])
clv = gg.customer_lifetime_value(
    bg_m, m["frequency"], m["recency"], m["T"], m["monetary_value"],
    time=12, discount_rate=0.01, freq="W",
)
spend = gg.conditional_expected_average_profit(m["frequency"], m["monetary_value"])

out = {
    "lifetimes": lifetimes.__version__,
    "bgnbd": {k: float(v) for k, v in bg.params_.items()},
    # The mean log-likelihood per customer at the fitted parameters.
    "bgnbd_ll": float(-bg._negative_log_likelihood(
        np.log(bg.params_.values), s["frequency"].values, s["recency"].values,
        s["T"].values, np.ones(len(s)), 0.0)),
    "bgnbd_monetary_rows": {k: float(v) for k, v in bg_m.params_.items()},
    "gamma_gamma": {k: float(v) for k, v in gg.params_.items()},
    "horizon": 39.0,
    "clv_months": 12,
    "discount_rate": 0.01,
    "frequency": s["frequency"].astype(int).tolist(),
    "recency": s["recency"].tolist(),
    "T": s["T"].tolist(),
    "p_alive": bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"]).tolist(),
    "expected": bg.conditional_expected_number_of_purchases_up_to_time(
        39.0, s["frequency"], s["recency"], s["T"]).tolist(),
    "m_frequency": m["frequency"].astype(int).tolist(),
    "m_recency": m["recency"].tolist(),
    "m_T": m["T"].tolist(),
    "monetary": m["monetary_value"].tolist(),
    "expected_spend": spend.tolist(),
    "clv": clv.tolist(),
}
print(json.dumps(out))
