#!/usr/bin/env bash
# CPU K-means against the peer harness (scikit-learn lloyd, faiss) on the same
# Parquet file and from the same initial rows: the figures behind BENCHMARKS.md.
#
#   scripts/cpu-peers.sh [N]    (default N = 1000000; d = 16, k = 8 and 64, 20 iterations)
#
# Needs the peer harness's Python packages (see ../shared/bench/peers/README.md).
# Writes target/cpu-peers/{peers,segmenta}.jsonl. Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=../shared/bench/peers
n=${1:-1000000}
out=target/cpu-peers
mkdir -p "$out"
data="$out/blobs_$n.parquet"
[ -f "$data" ] || python3 "$peers/gen_blobs.py" --n "$n" --d 16 --centers 8 --seed 42 --out "$data"
cargo build --release --quiet
for k in 8 64; do
    # the rows kmeans_peers.py starts from with --seed 0
    rows=$(python3 -c "import numpy as np; print(','.join(map(str, np.sort(np.random.default_rng(0).choice($n, size=$k, replace=False)))))")
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 "$peers/kmeans_peers.py" --input "$data" \
        --k "$k" --iters 20 --seed 0 --algos sklearn-lloyd,faiss --marginal --quiet-env | tee -a "$out/peers.jsonl"
    target/release/segmenta bench -i "$data" --scale none -k "$k" --iters 20 --init-rows "$rows" \
        --backends cpu --json --quiet | tee -a "$out/segmenta.jsonl"
done
