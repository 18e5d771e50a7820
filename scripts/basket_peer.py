"""The peer of segmenta's basket stage: mlxtend's fpgrowth + association_rules on the
same baskets, per segment, from the same kept transactions table and assignments.

Baskets as segmenta builds them: purchase lines (amount > 0) of assigned customers;
an invoice where the line has one, else a customer-day; items are the values of ITEM
(trimmed, empty ones left out). Rules: one-item consequents, confidence >= MIN_CONF,
lift > MIN_LIFT, up to MAX_LEN items. Prints the seconds spent building baskets and
mining, and the rules per segment; run it under /usr/bin/time for its peak memory.

    pip install pandas pyarrow mlxtend
    python3 scripts/basket_peer.py TABLES/transactions/ ASSIGNMENTS.parquet \
        ITEM MIN_SUPPORT [MIN_CONF MIN_LIFT MAX_LEN]
"""
import sys
import time

import numpy as np
import pandas as pd
from mlxtend.frequent_patterns import association_rules, fpgrowth

tx_path, asg_path, item = sys.argv[1], sys.argv[2], sys.argv[3]
min_support = float(sys.argv[4])
min_conf = float(sys.argv[5]) if len(sys.argv) > 5 else 0.2
min_lift = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0
max_len = int(sys.argv[7]) if len(sys.argv) > 7 else 3

t0 = time.perf_counter()
cols = ["customer_id", "ts", "amount", item]
import pyarrow.parquet as pq

names = pq.read_schema(tx_path).names
if "invoice" in names:
    cols.append("invoice")
tx = pd.read_parquet(tx_path, columns=cols)
asg = pd.read_parquet(asg_path, columns=["customer_id", "segment"])
tx = tx[(tx.amount > 0) & tx[item].notna()]
tx = tx.assign(item=tx[item].astype(str).str.strip())
tx = tx[tx.item != ""].merge(asg, on="customer_id")
day = tx.ts.astype("datetime64[us]").dt.floor("D").astype(str) if tx.ts.dtype != object else tx.ts.str[:10]
key = tx.customer_id.astype(str) + "|" + day
if "invoice" in tx:
    key = tx.invoice.where(tx.invoice.notna() & (tx.invoice != ""), key)
tx = tx.assign(key=key)
t_read = time.perf_counter() - t0

t1 = time.perf_counter()
total_rules = 0
for s, g in tx.groupby("segment"):
    codes, uniq = pd.factorize(g.item)
    bcodes, _ = pd.factorize(g.key)
    onehot = np.zeros((bcodes.max() + 1, len(uniq)), dtype=bool)
    onehot[bcodes, codes] = True
    df = pd.DataFrame(onehot, columns=uniq.astype(str))
    fi = fpgrowth(df, min_support=min_support, max_len=max_len, use_colnames=True)
    n_rules = 0
    if len(fi):
        r = association_rules(fi, metric="confidence", min_threshold=min_conf)
        n_rules = int(((r.consequents.map(len) == 1) & (r.lift > min_lift)).sum())
    total_rules += n_rules
    print(f"segment {s}: {onehot.shape[0]} baskets, {len(uniq)} items, {len(fi)} itemsets, {n_rules} rules")
t_mine = time.perf_counter() - t1
print(f"mlxtend: read and baskets {t_read:.2f} s, mining {t_mine:.2f} s, total {t_read + t_mine:.2f} s, {total_rules} rules")
