#!/bin/bash
# The partition seam (issue 32): `features` at 200k, 500k and 2M customers x 12 months
# with the default budget, against DuckDB on the same SQL and rules, back to back; then
# `segmenta run` with default flags on the same mall (per-stage seconds and peak RSS
# from run.json).
# Usage: bash scripts/bench-partitions.sh DIR [SIZES]   (from the repository root,
# after `cargo build --release`; DuckDB from `pip install duckdb` in $PY's env).
# The malls are generated into DIR once and reused; SIZES defaults to "200000 500000 2000000".
set -u
DIR=${1:?usage: bench-partitions.sh DIR [SIZES]}
SIZES=${2:-200000 500000 2000000}
S=${S:-target/release/segmenta}
PY=${PY:-python3}
mkdir -p "$DIR"
t() { /usr/bin/time -f "%e s wall, peak %M KiB" "$@"; }
for n in $SIZES; do
    mall="$DIR/mall-$n"
    if [ ! -f "$mall/mall.json" ]; then
        echo "== generate $n customers x 12 months"
        t $S generate --customers "$n" --months 12 --seed 42 -o "$mall" -q
    fi
    echo "== segmenta features, $n customers, defaults"
    rm -rf "$DIR/f-$n"
    t $S features -i "$mall" -o "$DIR/f-$n" -q
    $PY -c "import json;m=json.load(open('$DIR/f-$n/features.json'));print('partitions',m['partitions'],'customers',m['customers'],'timings',{k:round(v,1) for k,v in m['timings'].items()})"
    if $PY -c "import duckdb" 2>/dev/null; then
        echo "== DuckDB $($PY -c 'import duckdb;print(duckdb.__version__)'), same SQL and rules, 2 threads"
        rm -rf "$DIR/duck-$n"
        t $PY scripts/duckdb_features.py "$mall" "$DIR/duck-$n" 2
    fi
    echo "== segmenta run, $n customers, defaults"
    rm -rf "$DIR/run-$n"
    t $S run -i "$mall" -o "$DIR/run-$n" -q
    $PY -c "
import json
for s in json.load(open('$DIR/run-$n/run.json'))['stages']:
    print(f\"  {s['name']:<9} {s['seconds']:7.1f} s  peak {s['peak_rss_bytes']/1e9:5.2f} GB  growth {s.get('peak_rss_growth_bytes',0)/1e9:5.2f} GB\")"
done
