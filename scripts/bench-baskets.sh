#!/bin/bash
# The basket stage against mlxtend on the same baskets, same run: Online Retail at
# product (StockCode) and description level, per segment of a k = 4 run; then a
# generated mall of $BIG customers (default 2,000,000) at product level. Run from the
# repository root after `cargo build --release` and
# `pip install pandas pyarrow mlxtend`.
#
# The basket stage is timed as `segmenta profile` with a tables folder that holds only
# the kept transactions (no streaming, no categorical tables, no model), so its time
# and peak memory are the basket stage's plus reading the features and assignments.
set -u
S=${S:-target/release/segmenta}
B=${B:-/tmp/bb}; rm -rf $B; mkdir -p $B
BIG=${BIG:-2000000}
t() { /usr/bin/time -f "%e s, peak %M KiB" "$@"; }
only_tx() {
  [ -d "$1/transactions" ] || { echo "no $1/transactions/" >&2; exit 1; }
  mkdir -p "$2"; ln -sfn "$(realpath "$1/transactions")" "$2/transactions"
}

echo "== Online Retail: run at k = 4 (products = StockCode)"
$S run -i ../shared/datasets/online_retail.csv.gz \
  --map customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice,invoice=InvoiceNo,product=StockCode \
  --as-of 2011-12-10 --k 4 --backend cpu -o $B/retail -q
only_tx $B/retail/features/tables $B/retail/tx
for item in product description; do
  echo "== segmenta basket stage, item $item"
  t $S profile --features $B/retail/clean/clean.parquet --assignments $B/retail/kmeans/assignments.parquet \
    --tables $B/retail/tx --basket-item $item -o $B/retail/prof-$item -q
  python3 -c "import json;b=json.load(open('$B/retail/prof-$item/profile.json'))['basket'];print('items',b['items'],'lines',b['lines'],[(s['segment'],s['baskets'],s['itemsets'],len(s['rules'])) for s in b['segments']])"
  echo "== mlxtend, same baskets"
  t python3 scripts/basket_peer.py $B/retail/features/tables/transactions \
    $B/retail/kmeans/assignments.parquet $item 0.01
done

echo "== generated mall, $BIG customers, 12 months: generate, run"
t $S generate --customers $BIG --seed 42 -o $B/big/sources -q
# --memory-mib 16384: at 2M customers the default 4096 fails in the feature SQL's
# returns join (BENCHMARKS.md).
t $S run -i $B/big/sources --k 6 --backend cpu --stability-resamples 0 --memory-mib 16384 -o $B/big/run -q
only_tx $B/big/run/features/tables $B/big/tx
echo "== segmenta basket stage, $BIG customers"
t $S profile --features $B/big/run/clean/clean.parquet --assignments $B/big/run/kmeans/assignments.parquet \
  --tables $B/big/tx -o $B/big/prof -q
python3 -c "import json;b=json.load(open('$B/big/prof/profile.json'))['basket'];print('items',b['items'],'lines',b['lines'],'passes',b['passes'],[(s['segment'],s['baskets'],s['itemsets'],len(s['rules'])) for s in b['segments']])"
