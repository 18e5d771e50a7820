"""The out-of-sample check of issue 16 with the `lifetimes` package as the peer, on
../shared/datasets/cdnow_master.csv (CDNOW, 23,570 customers): calibrate BG/NBD on
1997-01-01..1997-09-30, predict the repeat purchases of the next 39 weeks
(1997-10-01..1998-06-30) and compare with what happened. Purchase occasions are
days with a purchase line, free ones (amount 0) included (weeks for the weekly fit),
as segmenta counts them (CDNOW has no returns).

Run from the repository root (needs `pip install lifetimes`):
    python3 scripts/cdnow_holdout.py ../shared/datasets/cdnow_master.csv \
        > tests/oracle/cdnow_holdout_expected.json

tests/suite/lifetime.rs runs `segmenta run` on the same file and checks its BG/NBD
parameters and predicted total against these; BENCHMARKS.md records both.
"""
import json
import sys

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data

t = pd.read_csv(sys.argv[1], dtype={"customer_id": str})
t = t[t.dollar_value >= 0]
t["date"] = pd.to_datetime(t.date)
cal = t[t.date < "1997-10-01"]
hold = t[(t.date >= "1997-10-01") & (t.date < "1998-07-01")]
out = {"calibration_end": "1997-10-01", "holdout_end": "1998-07-01"}
for freq, h in [("D", 273), ("W", 39)]:
    s = summary_data_from_transaction_data(
        cal, "customer_id", "date", observation_period_end="1997-10-01", freq=freq
    )
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    p = bg.conditional_expected_number_of_purchases_up_to_time(
        h, s["frequency"], s["recency"], s["T"]
    )
    per = hold.assign(k=hold.date.dt.to_period(freq)).groupby("customer_id").k.nunique()
    act = pd.Series(s.index.map(per), index=s.index).fillna(0)
    out["daily" if freq == "D" else "weekly"] = {
        "customers": int(len(s)),
        "params": {k: float(v) for k, v in bg.params_.items()},
        "horizon": h,
        "predicted": float(p.sum()),
        "actual": float(act.sum()),
        "correlation": float(np.corrcoef(p, act)[0, 1]),
    }
print(json.dumps(out, indent=1))
