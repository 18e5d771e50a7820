"""segmenta.generate / run / update from Python against the CLI on the same
sources, the generator's truth, and the CLI's error messages."""

import json
import subprocess

import numpy as np
import pyarrow.parquet as pq
import pytest

import segmenta


@pytest.fixture(scope="module")
def mall(tmp_path_factory):
    root = tmp_path_factory.mktemp("mall")
    full = root / "full"
    cut = root / "cut"
    m = segmenta.generate(full, customers=3000, months=12, seed=4)
    segmenta.generate(cut, customers=3000, months=12, seed=4, cut="2025-10-01")
    return {"full": full, "cut": cut, "manifest": m}


@pytest.fixture(scope="module")
def first(mall, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "sept"
    return segmenta.run(mall["cut"], out, k=5, stability_resamples=2)


def test_generate_returns_the_manifest(mall):
    m = mall["manifest"]
    assert m["customers"] == 3000 if "customers" in m else True
    assert (mall["full"] / "mall.json").is_file()
    assert json.loads((mall["full"] / "mall.json").read_text()) == m


def test_run_reads_back_every_artefact(first):
    r = first
    assert r.k == 5
    a = r.assignments.to_pandas()
    assert {"customer_id", "segment", "distance", "persona"} <= set(a.columns)
    assert a["persona"].notna().all()
    names = r.personas
    assert len(names) == 5 and len(set(names.values())) == 5
    assert set(a["persona"]) == set(names.values())
    f = r.features
    c = r.clean
    rej = r.rejected
    # Rows in = rows kept + rows rejected.
    assert f.num_rows == c.num_rows + (0 if rej is None else rej.num_rows)
    assert a.shape[0] == c.num_rows
    assert r.profile["segments"][0]["persona"]
    assert r.model["kmeans"]
    assert r.lifetime is not None and r.customers.num_rows > 0
    assert r.report_path.is_file() and r.report_path.stat().st_size > 10_000
    assert r.migration is None
    assert "python: segmenta.run" in json.dumps(r.manifest)


def test_run_equals_the_cli_on_the_same_sources(mall, first, cli, tmp_path):
    out = tmp_path / "cli"
    subprocess.run(
        [cli, "run", "-i", str(mall["cut"]), "-o", str(out), "--k", "5",
         "--stability-resamples", "2", "--quiet"],
        check=True,
    )
    ours = first.assignments.select(["customer_id", "segment", "distance"])
    theirs = pq.read_table(out / "kmeans" / "assignments.parquet")
    assert ours.equals(theirs)
    cli_profile = json.loads((out / "profile" / "profile.json").read_text())
    assert [s["persona"] for s in cli_profile["segments"]] == [
        s["persona"] for s in first.profile["segments"]
    ]


def test_a_generated_mall_run_recovers_the_personas(tmp_path):
    r = segmenta.run(mall=dict(customers=4000, months=12, seed=9), out=tmp_path / "demo", k=6,
                     stability_resamples=0)
    truth = pq.read_table(tmp_path / "demo" / "sources" / "truth.parquet").to_pandas() \
        if (tmp_path / "demo" / "sources" / "truth.parquet").is_file() else None
    a = r.assignments.to_pandas()
    assert len(a) > 3000
    if truth is not None:
        from sklearn.metrics import adjusted_rand_score

        j = a.merge(truth, on="customer_id")
        col = "persona_id" if "persona_id" in j.columns else [c for c in truth.columns if "persona" in c][0]
        assert adjusted_rand_score(j[col], j["segment"]) > 0.5


def test_update_keeps_ids_and_says_who_moved(mall, first, tmp_path):
    nxt = segmenta.update(first, mall["full"], tmp_path / "dec")
    mig = nxt.migration
    assert mig is not None
    states = mig["states"]
    assert sum(states.values()) >= first.assignments.num_rows
    assert states["stayed"] > states["moved"]
    # Kept segments keep their persona names.
    kept = set(first.personas.items()) & set(nxt.personas.items())
    assert len(kept) >= 4
    assert nxt.assignments.column("persona").null_count == 0


def test_errors_carry_the_clis_message(tmp_path, cli):
    missing = tmp_path / "nowhere"
    with pytest.raises(segmenta.SourceNotFoundError) as e:
        segmenta.run(missing, tmp_path / "out", k=3)
    p = subprocess.run([cli, "run", "-i", str(missing), "-o", str(tmp_path / "o2"), "--k", "3"],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert str(e.value) in p.stderr, (str(e.value), p.stderr)
    assert "\n" not in str(e.value)
    with pytest.raises(segmenta.ParameterError, match="invalid k"):
        segmenta.run(missing, tmp_path / "out", k=0)
    with pytest.raises(segmenta.ParameterError, match="mall"):
        segmenta.run(mall=dict(customers=10, colour="red"), out=tmp_path / "x")
    assert not (tmp_path / "out").exists() or not (tmp_path / "out" / "report.html").exists()


RETAIL_MAP = {
    "customer_id": "CustomerID",
    "ts": "InvoiceDate",
    "amount": "Quantity*UnitPrice",
    "invoice": "InvoiceNo",
    "product": "StockCode",
}


def test_online_retail_through_map_gives_the_clis_segments(tmp_path):
    """The README's June run; its segment sizes are the row sums of the migration
    matrix that tests/suite/update.rs checks for the CLI."""
    import os
    from pathlib import Path

    src = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "online_retail.csv.gz"
    if not src.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{src} is missing (CI=true)")
        pytest.skip(f"{src} is missing")
    r = segmenta.run(src, tmp_path / "py", k=4, map=RETAIL_MAP, as_of="2011-06-01",
                     stability_resamples=0)
    seg = r.assignments.column("segment").to_numpy()
    assert np.bincount(seg).tolist() == [730, 695, 534, 808]
    assert r.assignments.column("persona").null_count == 0
    with pytest.raises(segmenta.InputError, match="Nope"):
        segmenta.run(src, tmp_path / "bad", k=4, map={**RETAIL_MAP, "invoice": "Nope"})


def test_the_readmes_example_runs(tmp_path, monkeypatch):
    """The ten lines under "In the notebook" in README.md, on a smaller mall."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    i = readme.index("## In the notebook")
    block = re.search(r"```python\n(.*?)```", readme[i:], re.S).group(1)
    assert len(block.strip().splitlines()) <= 10
    assert "customers=20_000" in block
    monkeypatch.chdir(tmp_path)
    code = block.replace("customers=20_000", "customers=3_000")
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    est = scope["est"]
    assert est[-1].cluster_centers_.shape == (scope["run"].k, scope["X"].shape[1])
    assert (tmp_path / "nb-run" / "report.html").is_file()
