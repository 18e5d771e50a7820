"""Independent reference for return netting on Online Retail, and a K-means on the result.

Recomputes with pandas (no segmenta SQL) the source-level rejects and the per-customer
features of Online Retail when returns are netted against purchases instead of rejected.

Row rules (first broken wins, in this order): missing CustomerID -> missing_customer_id;
missing timestamp -> missing_ts; missing amount (Quantity*UnitPrice) -> missing_amount;
|amount| > 100000 -> absurd_amount; ts >= as_of (2011-12-10 00:00) -> ts_out_of_window;
identical to an earlier raw line (all raw columns) -> duplicate_line.

Kept lines: a RETURN when InvoiceNo starts with "C" or amount < 0 (value -|amount|),
otherwise a PURCHASE line (amount >= 0). Per customer:
- purchase occasion o = distinct (customer, ts) over purchase lines; gross(o) = sum of amounts;
- each return is matched to the customer's latest occasion with occasion ts <= return ts;
  returns without one are "unmatched" and ignored for spend;
- net(o) = max(0, gross(o) - sum of |value| of the returns matched to o) (a larger
  return also refunds purchases from before the history, which never counted);
- monetary_total = sum_o net(o);
- an occasion is live (a purchase) unless returns were matched to it and net(o) <= 0.005
  (a free item with no return is a purchase);
- n_purchases = #live occasions;
- first_ts = min ts over all kept lines; last_ts = max ts over live occasions;
- months = max(1, (as_of - first_ts) / 30.436875 days);
- recency_days = (as_of - (last_ts or first_ts)) in days;
- frequency_per_month = n_purchases / months;
- avg_ticket = monetary_total / n_purchases (0 when n_purchases == 0).
Customers = every CustomerID with at least one kept line. customers_with_returns_netted
counts customers with at least one matched return.

"kmeans_k4": columns recency_days, frequency_per_month, monetary_total, avg_ticket (rows by
customer id ascending); transform "auto" = log1p on a column when min >= 0 and its biased
skewness g1 = m3 / m2**1.5 > 1; outliers = IQR rule (numpy linear quantiles, 3*iqr (Tukey far-out), columns
with iqr == 0 skipped) on the transformed columns; StandardScaler (ddof=0) fitted on all rows;
sklearn KMeans(n_clusters=4, n_init=10, random_state=0) fitted on the scaled inlier rows,
then predict on all rows.

Writes tests/oracle/retail_net_expected.json. Run from the repository root:
    pip install pandas scikit-learn
    python3 tests/oracle/retail_net_oracle.py ../shared/datasets
"""
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.cluster import KMeans

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets")
as_of = pd.Timestamp("2011-12-10")

df = pd.read_csv(root / "online_retail.csv.gz", dtype={"InvoiceNo": str, "StockCode": str})
ts = pd.to_datetime(df.InvoiceDate)
amount = df.Quantity * df.UnitPrice

n_in = len(df)
reason = pd.Series([None] * n_in, index=df.index, dtype=object)


def tag(mask, code):
    m = mask & reason.isna()
    reason[m] = code


tag(df.CustomerID.isna(), "missing_customer_id")
tag(ts.isna(), "missing_ts")
tag(amount.isna(), "missing_amount")
tag(amount.abs() > 100000, "absurd_amount")
tag(ts >= as_of, "ts_out_of_window")
tag(df.duplicated(keep="first"), "duplicate_line")
kept = reason.isna()

k = pd.DataFrame({
    "id": df.loc[kept, "CustomerID"].astype("int64"),
    "ts": ts[kept],
    "amount": amount[kept],
    "ret": df.loc[kept, "InvoiceNo"].str.startswith("C") | (amount[kept] < 0),
})
purch = k[~k.ret]
rets = k[k.ret].copy()
rets["value"] = rets.amount.abs()

occ = purch.groupby(["id", "ts"], as_index=False).amount.sum().rename(columns={"amount": "gross"})
occ["occ_ts"] = occ.ts
# latest occasion with occasion ts <= return ts, same customer
m = pd.merge_asof(
    rets.sort_values("ts")[["id", "ts", "value"]],
    occ.sort_values("ts")[["id", "ts", "occ_ts"]],
    on="ts", by="id", direction="backward", allow_exact_matches=True,
)
matched = m[m.occ_ts.notna()]
returned = matched.groupby(["id", "occ_ts"]).value.sum()
occ["returned"] = [returned.get((i, t), 0.0) for i, t in zip(occ.id, occ.ts)]
occ["net"] = (occ.gross - occ.returned).clip(lower=0.0)
occ["live"] = (occ.net > 0.005) | (occ.returned == 0.0)

first = k.groupby("id").ts.min()
ids = sorted(first.index)
og = occ.groupby("id")
gross_sum = og.gross.sum()
net_sum = og.net.sum()
n_p = og.live.sum()
last_live = occ[occ.live].groupby("id").ts.max()

feats = {}
rows = []
netted = int(matched.id.nunique())
for cid in ids:
    mon = float(net_sum.get(cid, 0.0))
    n = int(n_p.get(cid, 0))
    f = first[cid]
    last = last_live.get(cid, None)
    months = max(1.0, (as_of - f).total_seconds() / 86400 / 30.436875)
    rec = (as_of - (last if last is not None else f)).total_seconds() / 86400
    row = [rec, n / months, mon, mon / n if n > 0 else 0.0]
    feats[str(cid)] = row
    rows.append(row)

counts = reason.value_counts().to_dict()
out = {
    "as_of": "2011-12-10",
    "rows_in": n_in,
    "rows_kept": int(kept.sum()),
    "rejected": {kk: int(v) for kk, v in sorted(counts.items())},
    "customers": len(ids),
    "returns": {
        "return_lines": int(len(rets)),
        "returns_matched": int(len(matched)),
        "returns_unmatched": int(len(m) - len(matched)),
        "customers_with_returns_netted": netted,
    },
    "customer_12346": dict(zip(["recency_days", "frequency_per_month", "monetary_total", "avg_ticket"], feats["12346"])),
}

# ---- K-means oracle
cols = ["recency_days", "frequency_per_month", "monetary_total", "avg_ticket"]
X = np.array(rows, dtype=np.float64)
logged = []
for j, c in enumerate(cols):
    x = X[:, j]
    d = x - x.mean()
    m2, m3 = (d ** 2).mean(), (d ** 3).mean()
    g1 = m3 / m2 ** 1.5 if m2 > 0 else 0.0
    if x.min() >= 0 and g1 > 1:
        X[:, j] = np.log1p(x)
        logged.append(c)
flag = np.zeros(len(X), dtype=bool)
for j in range(X.shape[1]):
    q1, q3 = np.quantile(X[:, j], [0.25, 0.75], method="linear")
    iqr = q3 - q1
    if iqr == 0:
        continue
    flag |= (X[:, j] < q1 - 3.0 * iqr) | (X[:, j] > q3 + 3.0 * iqr)
Z = (X - X.mean(axis=0)) / X.std(axis=0, ddof=0)
km = KMeans(n_clusters=4, n_init=10, random_state=0).fit(Z[~flag])
labels = km.predict(Z)
sizes = np.bincount(labels, minlength=4).tolist()
out["kmeans_k4"] = {
    "sklearn": sklearn.__version__,
    "columns": cols,
    "log1p": logged,
    "flagged": int(flag.sum()),
    "sizes": sizes,
    "inlier_inertia": float(km.inertia_),
    "labels": {str(cid): int(l) for cid, l in zip(ids, labels)},
}

# compact layout: summary indented, one line per customer for features and labels
lines = ["{"]
small = {kk: v for kk, v in out.items() if kk != "kmeans_k4"}
for kk, v in small.items():
    lines.append(f" {json.dumps(kk)}: {json.dumps(v)},")
lines.append(' "features": {')
lines.append(",\n".join(f'  "{cid}": {json.dumps(r)}' for cid, r in feats.items()))
lines.append(" },")
kmo = out["kmeans_k4"]
lines.append(' "kmeans_k4": {')
for kk in ("sklearn", "columns", "log1p", "flagged", "sizes", "inlier_inertia"):
    lines.append(f"  {json.dumps(kk)}: {json.dumps(kmo[kk])},")
lab = [f'"{c}": {l}' for c, l in kmo["labels"].items()]
lines.append('  "labels": {')
lines.append(",\n".join("   " + ", ".join(lab[i:i + 16]) for i in range(0, len(lab), 16)))
lines.append("  }")
lines.append(" }")
lines.append("}")
text = "\n".join(lines) + "\n"
json.loads(text)  # sanity
Path(__file__).with_name("retail_net_expected.json").write_text(text)

print(json.dumps(small, indent=1))
print(json.dumps({kk: kmo[kk] for kk in ("log1p", "flagged", "sizes", "inlier_inertia")}))
