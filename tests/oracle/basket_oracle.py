"""Expected frequent itemsets and rules for the basket tests, from mlxtend.

Writes tests/oracle/basket_expected.json with two kinds of case:

"fixture": 3,000 seeded baskets over 120 items (numpy PCG64, seed 7) with planted
co-purchases, stored in the file itself, so the Rust test needs nothing else.

"online_retail": the invoices of UCI Online Retail (../shared/datasets), built as
segmenta builds them from its kept lines: a line is kept when it has a CustomerID and
an amount (Quantity * UnitPrice) with |amount| <= 100000 and is not identical to an
earlier raw line (all raw columns); a basket is an InvoiceNo's purchase lines
(amount > 0); its items are the lines' StockCode, or (second case) their Description,
trimmed. All customers form one segment.

For each case: mlxtend.frequent_patterns.fpgrowth(one-hot baskets, min_support,
max_len, use_colnames=True), then association_rules(metric="confidence",
min_threshold=min_confidence), kept when the consequent is one item and lift >
min_lift (segmenta's rules have one consequent). Itemsets are written as sorted item
lists with their basket count (support * baskets, rounded), rules with support,
confidence and lift.

Run from the repository root:
    pip install pandas mlxtend
    python3 tests/oracle/basket_oracle.py ../shared/datasets
"""
import json
import sys
import time
from pathlib import Path

import mlxtend
import numpy as np
import pandas as pd
from mlxtend.frequent_patterns import association_rules, fpgrowth


def mine(baskets, min_support, min_confidence, min_lift, max_len):
    items = sorted({i for b in baskets for i in b})
    pos = {x: k for k, x in enumerate(items)}
    onehot = np.zeros((len(baskets), len(items)), dtype=bool)
    for r, b in enumerate(baskets):
        for i in b:
            onehot[r, pos[i]] = True
    df = pd.DataFrame(onehot, columns=items)
    t0 = time.perf_counter()
    fi = fpgrowth(df, min_support=min_support, max_len=max_len, use_colnames=True)
    rules = association_rules(fi, metric="confidence", min_threshold=min_confidence)
    seconds = time.perf_counter() - t0
    n = len(baskets)
    sets = sorted(
        ([sorted(map(str, s)), int(round(sup * n))] for s, sup in zip(fi.itemsets, fi.support)),
        key=lambda x: (len(x[0]), x[0]),
    )
    out = []
    for a, c, s, conf, lift in zip(
        rules.antecedents, rules.consequents, rules.support, rules.confidence, rules.lift
    ):
        if len(c) == 1 and lift > min_lift:
            out.append([sorted(map(str, a)), str(next(iter(c))), s, conf, lift])
    out.sort(key=lambda r: (r[0], r[1]))
    return {
        "baskets": n,
        "items": len(items),
        "min_support": min_support,
        "min_confidence": min_confidence,
        "min_lift": min_lift,
        "max_len": max_len,
        "itemsets": sets,
        "rules": out,
        "mlxtend_seconds": seconds,
    }


def fixture():
    rng = np.random.Generator(np.random.PCG64(7))
    baskets = []
    for _ in range(3000):
        b = set(rng.integers(0, 120, size=int(rng.integers(1, 6))).tolist())
        if rng.random() < 0.25:
            b |= {3, 17}
            if rng.random() < 0.6:
                b.add(42)
        if rng.random() < 0.15:
            b |= {80, 81, 82, 83}
        baskets.append(sorted(f"i{x:03d}" for x in b))
    case = mine(baskets, 0.02, 0.3, 1.0, 4)
    case["lists"] = baskets
    return case


def online_retail(root):
    df = pd.read_csv(root / "online_retail.csv.gz", dtype={"InvoiceNo": str, "StockCode": str})
    amount = df.Quantity * df.UnitPrice
    keep = df.CustomerID.notna() & amount.notna() & (amount.abs() <= 100000)
    keep &= ~df.duplicated(keep="first")
    kept = df[keep & (amount > 0)]
    cases = {}
    for col, support in [("StockCode", 0.02), ("Description", 0.02)]:
        k = kept[kept[col].notna()]
        item = k[col].astype(str).str.strip()
        k = k.assign(item=item)[item != ""]
        baskets = [sorted(set(g)) for _, g in k.groupby("InvoiceNo").item]
        cases[col] = mine(baskets, support, 0.2, 1.0, 3)
    return cases


root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets")
out = {
    "mlxtend": mlxtend.__version__,
    "pandas": pd.__version__,
    "fixture": fixture(),
    "online_retail": online_retail(root),
}
Path("tests/oracle/basket_expected.json").write_text(json.dumps(out) + "\n")
for name, c in [("fixture", out["fixture"])] + list(out["online_retail"].items()):
    print(
        f"{name}: {c['baskets']} baskets, {c['items']} items, {len(c['itemsets'])} itemsets, "
        f"{len(c['rules'])} rules, mlxtend {c['mlxtend_seconds']:.2f} s",
        file=sys.stderr,
    )
