#!/usr/bin/env bash
# The Python package's checks, as CI runs them: a fresh virtualenv, the wheel built
# by maturin and installed with pip (never the source tree), then python/tests
# (estimators against scikit-learn, the pipeline against the CLI, the notebook).
#   bash scripts/test-python.sh            # venv under target/py-venv
# Needs `cargo build --release` first for the CLI comparisons (or SEGMENTA_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SEGMENTA_VENV:-target/py-venv}"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r python/requirements-test.txt
rm -rf target/wheels
# PYO3_PYTHON: the bindings build against the venv's interpreter (abi3: one wheel
# for CPython >= 3.9).
PYO3_PYTHON="$venv/bin/python" "$venv/bin/maturin" build --release -q \
    -m python/Cargo.toml -o target/wheels
"$venv/bin/pip" install -q --disable-pip-version-check target/wheels/segmenta-*.whl
PYO3_PYTHON="$venv/bin/python" cargo clippy --release -p segmenta-python -- -D warnings
# From the repository root without `-m`: the source folder python/segmenta is not
# importable, so the tests use the installed wheel.
"$venv/bin/pytest" -q python/tests "$@"
