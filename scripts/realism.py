"""How realistic is a generated mall? Compares the per-customer purchase frequency
(purchase occasions over the window) and monetary value (total spend) of a
generated mall with those of Online Retail, straight from the raw transactions
(clean rows only: no missing ids, no cancellations, no negative amounts).

    pip install pandas
    python3 scripts/realism.py MALL_DIR ../shared/datasets/online_retail.csv.gz
"""
import sys

import numpy as np
import pandas as pd


def describe(ids, occasion, amount):
    df = pd.DataFrame({"id": ids, "occ": occasion, "amount": amount})
    g = df.groupby("id")
    freq = g.occ.nunique().to_numpy(float)
    money = g.amount.sum().to_numpy(float)
    def cv_skew(x):
        m, s = x.mean(), x.std()
        return s / m, ((x - m) ** 3).mean() / s**3
    return {
        "customers": len(freq),
        "freq_mean": freq.mean(), "freq_cv_skew": cv_skew(freq),
        "money_median": np.median(money), "money_cv_skew": cv_skew(money),
        "one_time": (freq == 1).mean(),
    }


mall = sys.argv[1]
tx = pd.read_parquet(f"{mall}/transactions.parquet")
import json
meta = json.loads(open(f"{mall}/mall.json").read())
tx = tx[(tx.amount > 0) & (tx.amount <= 100000) & (tx.customer_id <= meta["customers"])]
tx = tx[(tx.ts >= meta["window_start"]) & (tx.ts < meta["window_end"])].drop_duplicates()
gen = describe(tx.customer_id, tx.ts, tx.amount)

r = pd.read_csv(sys.argv[2], dtype={"InvoiceNo": str, "StockCode": str})
r = r[r.CustomerID.notna() & ~r.InvoiceNo.str.startswith("C") & (r.Quantity * r.UnitPrice >= 0)].drop_duplicates()
ret = describe(r.CustomerID, r.InvoiceNo, r.Quantity * r.UnitPrice)

print("| per customer | generated mall | Online Retail |")
print("|---|---|---|")
print(f"| customers with a purchase | {gen['customers']:,} | {ret['customers']:,} |")
print(f"| purchase occasions, mean | {gen['freq_mean']:.1f} | {ret['freq_mean']:.1f} |")
print(f"| purchase occasions, CV | {gen['freq_cv_skew'][0]:.2f} | {ret['freq_cv_skew'][0]:.2f} |")
print(f"| purchase occasions, skew | {gen['freq_cv_skew'][1]:.2f} | {ret['freq_cv_skew'][1]:.2f} |")
print(f"| share of one-time buyers | {gen['one_time']:.1%} | {ret['one_time']:.1%} |")
print(f"| total spend, median | {gen['money_median']:.0f} | {ret['money_median']:.0f} |")
print(f"| total spend, CV | {gen['money_cv_skew'][0]:.2f} | {ret['money_cv_skew'][0]:.2f} |")
print(f"| total spend, skew | {gen['money_cv_skew'][1]:.2f} | {ret['money_cv_skew'][1]:.2f} |")
