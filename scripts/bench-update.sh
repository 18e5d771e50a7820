#!/usr/bin/env bash
# Issue 16's measurements (BENCHMARKS.md, "Next month"): `update` on the 200,000-
# customer demo mall cut a month apart, the lifetime stage against the `lifetimes`
# package on the same customers, and the CDNOW holdout. Needs a release build and
# `pip install lifetimes pyarrow`; WORK defaults to a temporary folder.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${SEGMENTA_BIN:-target/release/segmenta}
W=${WORK:-$(mktemp -d)}
echo "work folder: $W"
$B generate --customers 200000 --months 6 --cut 2025-06-01 -o "$W/may" -q >/dev/null
$B generate --customers 200000 --months 6 -o "$W/june" -q >/dev/null
/usr/bin/time -f "run (May): %e s, peak %M KB" $B run -i "$W/may" -o "$W/run-may" -q
for i in 1 2; do
    rm -rf "$W/run-june"
    /usr/bin/time -f "update (June) $i: %e s, peak %M KB" $B update --previous "$W/run-may" -i "$W/june" -o "$W/run-june" -q
done
python3 - "$W/run-june" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/run.json"))
print("stages:", ", ".join(f"{s['name']} {s['seconds']:.2f} s" for s in m["stages"]))
l = json.load(open(sys.argv[1] + "/lifetime/lifetime.json"))
print("lifetime timings:", {k: round(v, 2) for k, v in l["timings"].items()})
print("segmenta BG/NBD:", {k: round(v, 4) for k, v in l["bgnbd"]["params"].items()},
      "Gamma-Gamma:", {k: round(v, 4) for k, v in l["gamma_gamma"]["params"].items()})
PY
python3 - "$W/run-june/lifetime/customers.parquet" <<'PY'
import sys, time, warnings
warnings.filterwarnings("ignore")
import pyarrow.parquet as pq
from lifetimes import BetaGeoFitter, GammaGammaFitter
c = pq.read_table(sys.argv[1]).to_pandas()
c = c[c.frequency.notna()]
t = time.perf_counter()
bg = BetaGeoFitter().fit(c.frequency, c.days_first_to_last, c.days_first_to_as_of)
t_bg = time.perf_counter() - t
r = c[(c.frequency > 0) & (c.mean_repeat_value > 0)]
t = time.perf_counter()
gg = GammaGammaFitter().fit(r.frequency, r.mean_repeat_value)
t_gg = time.perf_counter() - t
print(f"lifetimes on the same {len(c)} histories: BG/NBD {t_bg:.2f} s", {k: round(v, 4) for k, v in bg.params_.items()},
      f"Gamma-Gamma {t_gg:.2f} s", {k: round(v, 4) for k, v in gg.params_.items()})
PY
if [ -f ../shared/datasets/cdnow_master.csv ]; then
    /usr/bin/time -f "cdnow run: %e s" $B run -i ../shared/datasets/cdnow_master.csv \
        --map customer_id=customer_id,ts=date,amount=dollar_value --since 1997-01-01 --as-of 1997-10-01 \
        --k 3 --horizon-days 273 -o "$W/cdnow" -q
    python3 scripts/cdnow_holdout.py ../shared/datasets/cdnow_master.csv 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print({k: (v['predicted'], v['actual'], round(v['correlation'], 3)) for k, v in d.items() if isinstance(v, dict)})"
fi
