#!/usr/bin/env bash
# GPU device check: the GPU parity tests, then `segmenta bench` (CPU and GPU side by
# side on the same data and initial centroids) and, where PyTorch with CUDA is
# installed, a PyTorch K-means on the same GPU. Writes bench.jsonl, torch.jsonl,
# env.txt and table.md under $OUT (default target/gpu-check).
#
#   scripts/gpu-check.sh           n = 1M, 4M, 16.3M x d=16, k = 8 and 64, 20 iterations
#   scripts/gpu-check.sh --small   n = 20k, 100k (for lavapipe; CI runs this)
#
# Prebuilt binaries (a machine without cargo) are taken from SEGMENTA_BIN (the CLI)
# and SEGMENTA_TESTS (the integration-test binary); otherwise cargo builds them.
set -euo pipefail
cd "$(dirname "$0")/.."
small=0
[ "${1:-}" = "--small" ] && small=1
out=${OUT:-target/gpu-check}
mkdir -p "$out"
export SEGMENTA_REQUIRE_GPU=1 SEGMENTA_TEST_ROOT="$PWD"

if [ -z "${SEGMENTA_BIN:-}" ]; then
    cargo build --release --quiet
    SEGMENTA_BIN=${CARGO_TARGET_DIR:-target}/release/segmenta
fi
export SEGMENTA_BIN

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs) x $(nproc)"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    "$SEGMENTA_BIN" adapters
} | tee "$out/env.txt"

echo "== parity tests (GPU vs CPU)"
if [ -n "${SEGMENTA_TESTS:-}" ]; then
    "$SEGMENTA_TESTS" --test-threads 2 gpu:: 2>&1 | tee "$out/parity.txt"
else
    cargo test --release --quiet --test tests -- gpu:: 2>&1 | tee "$out/parity.txt"
fi
grep -q "test result: ok" "$out/parity.txt"

if [ $small = 1 ]; then sizes="20000 100000"; iters=5; else sizes="1000000 4000000 16300000"; iters=20; fi
: > "$out/bench.jsonl"
: > "$out/torch.jsonl"
have_torch=0
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && have_torch=1
for n in $sizes; do
    for k in 8 64; do
        echo "== bench n=$n d=16 k=$k"
        "$SEGMENTA_BIN" bench --n "$n" --d 16 --k "$k" --iters $iters --backends cpu,gpu --json --quiet | tee -a "$out/bench.jsonl"
        if [ $have_torch = 1 ]; then
            python3 scripts/torch_kmeans.py --n "$n" --d 16 --k "$k" --iters $iters | tee -a "$out/torch.jsonl"
        fi
    done
done
[ $have_torch = 1 ] || echo "PyTorch with CUDA not found: no PyTorch reference in this run"
if command -v python3 >/dev/null; then
    python3 scripts/bench_table.py "$out/bench.jsonl" "$out/torch.jsonl" | tee "$out/table.md"
fi
