"""Shared fixtures. The CLI binary is the one `cargo build --release` made
(`SEGMENTA_BIN` overrides); tests that compare with it skip without it, and fail
under CI=true."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _skip_or_fail(why):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true turns this skip into a failure)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def cli():
    b = os.environ.get("SEGMENTA_BIN") or str(REPO / "target" / "release" / "segmenta")
    if not Path(b).is_file():
        b = shutil.which("segmenta")
    if not b:
        _skip_or_fail("no segmenta binary: run `cargo build --release` or set SEGMENTA_BIN")
    return b


@pytest.fixture(scope="session")
def blobs():
    """Six well-separated blobs in 5-D with some spread, 3,000 rows."""
    rng = np.random.default_rng(7)
    centers = rng.normal(0, 8, size=(6, 5))
    lab = rng.integers(0, 6, size=3000)
    X = centers[lab] + rng.normal(0, 1.5, size=(3000, 5))
    return X.astype(np.float64)


@pytest.fixture
def gpu_or_skip():
    import warnings

    import segmenta

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", segmenta.SegmentaWarning)  # a software adapter
            segmenta.KMeans(2, backend="gpu", random_state=0).fit(np.eye(4, dtype=np.float32))
    except segmenta.GpuError as e:
        if os.environ.get("SEGMENTA_REQUIRE_GPU") == "1":
            pytest.fail(f"SEGMENTA_REQUIRE_GPU=1 but no GPU adapter: {e}")
        pytest.skip(f"no GPU adapter: {e}")
