#!/bin/bash
# The story's mall end to end (issue 33): generates a mall of N customers x 12 months
# (seed 42) into DIR/mall-N (skipped when DIR/mall-N/mall.json exists), runs
# `segmenta run` with default flags (k auto) under /usr/bin/time, and prints the
# per-stage seconds and peak RSS from run.json, with time per raw row and memory per
# customer.
# Usage: bash scripts/bench-story.sh DIR [N]   (from the repository root, after
# `cargo build --release`; N defaults to 16300000, the story's mall: about 2.1 billion
# raw rows and 21 GB of Parquet; the run takes about an hour on 2 cores: start it with
# nohup and keep working).
set -eu
DIR=${1:?usage: bench-story.sh DIR [N]}
N=${2:-16300000}
S=${S:-target/release/segmenta}
PY=${PY:-python3}
mkdir -p "$DIR"
mall="$DIR/mall-$N"
run="$DIR/story-run-$N"
t() { /usr/bin/time -f "%e s wall, peak %M KiB" "$@"; }
echo "== $(date -u +%FT%TZ) $($S --version), $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
if [ ! -f "$mall/mall.json" ]; then
    echo "== generate $N customers x 12 months, seed 42"
    t $S generate --customers "$N" --months 12 --seed 42 -o "$mall" -q
else
    echo "== $mall exists: reused"
fi
echo "== segmenta run, $N customers, default flags"
rm -rf "$run"
t $S run -i "$mall" -o "$run" -q
$PY - "$mall" "$run" <<'EOF'
import json, sys
mall, run = sys.argv[1], sys.argv[2]
m = json.load(open(f"{mall}/mall.json"))
rows = sum(v for k, v in m["rows"].items() if k != "truth")
customers = m["customers"]
r = json.load(open(f"{run}/run.json"))
print(f"{customers:,} customers, {rows:,} raw rows")
print(f"{'stage':<10} {'seconds':>9} {'peak GB':>8} {'growth GB':>10} {'ns/raw row':>11} {'B/customer':>11}")
for s in r["stages"]:
    peak = s.get("peak_rss_bytes", 0)
    growth = s.get("peak_rss_growth_bytes", 0)
    print(f"{s['name']:<10} {s['seconds']:9.1f} {peak/1e9:8.2f} {growth/1e9:10.2f} "
          f"{s['seconds']*1e9/rows:11.2f} {peak/customers:11.0f}")
EOF
