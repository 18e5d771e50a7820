"""Independent reference for `segmenta features` on the real datasets.

(The cancellation and negative-amount rules below predate the netting of returns;
CDNOW has neither, so for it they agree with segmenta's rules.)

Recomputes, with pandas and without segmenta's SQL, the source-level rejects and
the RFM values of a few customers of CDNOW (Online Retail: retail_net_oracle.py), under the same
documented definitions (src/features/features.sql):

- a row is rejected by the first rule it breaks, in this order: missing customer
  id, cancellation (InvoiceNo starts with C), negative amount (zero is kept: a free item),
  amount > 100000, timestamp on or after --as-of, duplicate of an earlier identical
  raw line;
- recency_days = (as_of - last purchase) in days;
- frequency_per_month = distinct purchase timestamps / tenure months, tenure =
  max(1, (as_of - first purchase) / 30.436875 days);
- monetary_total = sum of amounts; avg_ticket = monetary_total / distinct timestamps.

Writes tests/oracle/real_features_expected.json. Run:
    pip install pandas
    python3 tests/oracle/real_features_oracle.py ../shared/datasets
"""
import json
import sys
from pathlib import Path

import pandas as pd

root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets")
out = {}


def rejects_and_rfm(df, id_col, ts, amount, as_of, invoice=None, pick=()):
    n_in = len(df)
    reason = pd.Series([None] * n_in, index=df.index, dtype=object)
    def tag(mask, code):
        m = mask & reason.isna()
        reason[m] = code
    tag(df[id_col].isna(), "missing_customer_id")
    if invoice is not None:
        tag(df[invoice].astype(str).str.startswith("C"), "cancellation")
    tag(amount < 0, "negative_amount")
    tag(amount > 100000, "absurd_amount")
    tag(ts >= as_of, "ts_out_of_window")
    tag(df.duplicated(keep="first"), "duplicate_line")
    counts = reason.value_counts().to_dict()
    kept = reason.isna()
    seen = df.loc[df[id_col].notna(), id_col].nunique()
    k = pd.DataFrame({"id": df.loc[kept, id_col].astype("int64"), "ts": ts[kept], "amount": amount[kept]})
    g = k.groupby("id")
    last, first = g.ts.max(), g.ts.min()
    n_purch = g.ts.nunique()
    spend = g.amount.sum()
    months = ((as_of - first).dt.total_seconds() / 86400 / 30.436875).clip(lower=1.0)
    rfm = {}
    for cid in pick:
        rfm[str(cid)] = {
            "recency_days": (as_of - last[cid]).total_seconds() / 86400,
            "frequency_per_month": n_purch[cid] / months[cid],
            "monetary_total": float(spend[cid]),
            "avg_ticket": float(spend[cid] / n_purch[cid]),
        }
    return {
        "rows_in": n_in,
        "rows_kept": int(kept.sum()),
        "rejected": {k: int(v) for k, v in counts.items()},
        "customers_seen": int(seen),
        "customers": int(k.id.nunique()),
        "rfm": rfm,
    }


# Online Retail (cancellations netted as returns) is checked against
# tests/oracle/retail_net_oracle.py.

cd = pd.read_csv(root / "cdnow_master.csv")
as_of = pd.Timestamp("1998-07-01")
out["cdnow"] = rejects_and_rfm(
    cd, "customer_id", pd.to_datetime(cd.date), cd.dollar_value.astype(float), as_of, pick=(1, 2, 7, 23570)
)
out["cdnow"]["as_of"] = "1998-07-01"

Path(__file__).with_name("real_features_expected.json").write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
print(json.dumps({k: {kk: v[kk] for kk in ("rows_in", "rows_kept", "rejected", "customers_seen", "customers")} for k, v in out.items()}, indent=1))
