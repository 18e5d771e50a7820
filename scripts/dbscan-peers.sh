#!/usr/bin/env bash
# DBSCAN against scikit-learn (the peer harness) on the same Parquet files: the first
# 4 columns of gen_blobs.py's d=16 data, eps 0.8, min_samples 10, unscaled, as in
# ../shared/bench/peers/README.md. segmenta runs at every size; scikit-learn only up
# to SKLEARN_MAX rows (default 300000: beyond that it needs tens of GB).
#
#   scripts/dbscan-peers.sh [sizes...]     (default: 100000 300000 1000000 4000000)
#
# Writes target/dbscan-peers/{segmenta,sklearn}.jsonl. Peak memory is
# /usr/bin/time's maximum resident set size. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=../shared/bench/peers
out=target/dbscan-peers
mkdir -p "$out"
sizes=${*:-100000 300000 1000000 4000000}
cargo build --release --quiet
for n in $sizes; do
    data="$out/blobs_$n.parquet"
    [ -f "$data" ] || python3 "$peers/gen_blobs.py" --n "$n" --d 16 --centers 8 --seed 42 --out "$data" >/dev/null
    /usr/bin/time -f '{"max_rss_kib": %M, "wall_s": %e}' -o "$out/time.json" \
        target/release/segmenta dbscan -i "$data" --columns f0,f1,f2,f3 --scale none \
        --eps 0.8 --min-samples 10 -o "$out/run_$n" --json --quiet > "$out/run.json"
    python3 -c "import json; r=json.load(open('$out/run.json')); t=json.load(open('$out/time.json')); print(json.dumps({'n': $n, 'clusters': r['clusters'], 'noise': r['noise'], 'core': r['core'], 'seconds': r['total_s'], **t}))" | tee -a "$out/segmenta.jsonl"
    if [ "$n" -le "${SKLEARN_MAX:-300000}" ]; then
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 "$peers/dbscan_peers.py" --input "$data" \
            --dims 4 --eps 0.8 --min-samples 10 --quiet-env 2>/dev/null | grep '"dbscan"' | tee -a "$out/sklearn.jsonl" || true
    fi
done
