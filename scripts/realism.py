"""How realistic is a generated mall? Compares the per-customer purchase frequency
(purchase occasions over the window), monetary value (total spend) and the days
between occasions of a generated mall with those of Online Retail and CDNOW, straight
from the raw transactions (clean rows only: no missing ids, no cancellations, no
negative amounts, no repeated lines).

A purchase occasion is a customer-day for the mall (one visit: the mall's basket), an
invoice for Online Retail and a purchase date for CDNOW.

    pip install pandas pyarrow
    python3 scripts/realism.py MALL_DIR ../shared/datasets
"""
import sys

import numpy as np
import pandas as pd


def describe(ids, occasion, amount, day):
    df = pd.DataFrame({"id": ids, "occ": occasion, "amount": amount, "day": day})
    g = df.groupby("id")
    freq = g.occ.nunique().to_numpy(float)
    money = g.amount.sum().to_numpy(float)
    occ = df.groupby(["id", "occ"]).day.min().reset_index().sort_values(["id", "day"])
    gaps = occ.groupby("id").day.diff().dropna().to_numpy(float)

    def cv_skew(x):
        m, s = x.mean(), x.std()
        return s / m, ((x - m) ** 3).mean() / s**3

    return {
        "customers": len(freq),
        "freq_mean": freq.mean(), "freq_cv_skew": cv_skew(freq),
        "money_median": np.median(money), "money_cv_skew": cv_skew(money),
        "one_time": (freq == 1).mean(),
        "gap_median": np.median(gaps), "gap_p90": np.quantile(gaps, 0.9),
    }


mall = sys.argv[1]
shared = sys.argv[2]
import json
tx = pd.read_parquet(f"{mall}/transactions.parquet", columns=["customer_id", "ts", "amount"])
meta = json.loads(open(f"{mall}/mall.json").read())
tx = tx[(tx.amount > 0) & (tx.amount <= 100000) & (tx.customer_id <= meta["customers"])]
tx = tx[(tx.ts >= meta["window_start"]) & (tx.ts < meta["window_end"])].drop_duplicates()
mday = tx.ts.dt.floor("D")
gen = describe(tx.customer_id, mday, tx.amount, (mday - mday.min()).dt.days)

r = pd.read_csv(f"{shared}/online_retail.csv.gz", dtype={"InvoiceNo": str, "StockCode": str})
r = r[r.CustomerID.notna() & ~r.InvoiceNo.str.startswith("C") & (r.Quantity * r.UnitPrice >= 0)].drop_duplicates()
rday = pd.to_datetime(r.InvoiceDate).dt.floor("D")
ret = describe(r.CustomerID, r.InvoiceNo, r.Quantity * r.UnitPrice, (rday - rday.min()).dt.days)

c = pd.read_csv(f"{shared}/cdnow_master.csv", dtype={"customer_id": str}).drop_duplicates()
c = c[c.dollar_value >= 0]
cday = pd.to_datetime(c.date)
cd = describe(c.customer_id, c.date, c.dollar_value, (cday - cday.min()).dt.days)

rows = [
    ("customers with a purchase", "customers", "{:,}"),
    ("purchase occasions, mean", "freq_mean", "{:.1f}"),
    ("purchase occasions, CV", ("freq_cv_skew", 0), "{:.2f}"),
    ("purchase occasions, skew", ("freq_cv_skew", 1), "{:.2f}"),
    ("share of one-time buyers", "one_time", "{:.1%}"),
    ("days between occasions, median", "gap_median", "{:.0f}"),
    ("days between occasions, 90th percentile", "gap_p90", "{:.0f}"),
    ("total spend, median", "money_median", "{:.0f}"),
    ("total spend, CV", ("money_cv_skew", 0), "{:.2f}"),
    ("total spend, skew", ("money_cv_skew", 1), "{:.2f}"),
]
print(f"| per customer | generated mall ({meta['customers']:,}, {meta['months']} months) | Online Retail | CDNOW |")
print("|---|---|---|---|")
for label, key, fmt in rows:
    vals = []
    for d in (gen, ret, cd):
        v = d[key[0]][key[1]] if isinstance(key, tuple) else d[key]
        vals.append(fmt.format(v))
    print(f"| {label} | " + " | ".join(vals) + " |")
