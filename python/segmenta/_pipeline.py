"""The pipeline from Python: ``generate``, ``run`` and ``update`` call the same
library functions as ``segmenta generate``, ``segmenta run`` and ``segmenta
update`` and write the same run folder; :class:`Run` reads it back (tables as
pyarrow, JSON as dicts)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from . import _native
from ._errors import ParameterError, SegmentaWarning


def _path(p, what):
    if p is None:
        raise ParameterError(f"invalid {what}: a path is needed")
    return os.fspath(p)


def generate(
    out,
    *,
    customers=None,
    months=12,
    start=None,
    dirt=None,
    seed=None,
    drift=0.0,
    drift_at=None,
    cut=None,
    verbose=False,
):
    """Generates a mall's raw tables into ``out`` (``segmenta generate``): the
    customers, purchases, visits, Wi-Fi sessions, app events and streaming
    packages, with planted personas and dirt. Returns ``mall.json`` as a dict
    (including the truth's location)."""
    p = _mall(customers, months, start, dirt, seed, drift, drift_at, cut)
    text = _native.generate(json.dumps(p), _path(out, "out"), bool(verbose))
    return json.loads(text)


def _mall(customers, months, start, dirt, seed, drift, drift_at, cut):
    p = json.loads(_native.mall_defaults(int(months)))
    for key, v in (
        ("customers", customers),
        ("start", start),
        ("dirt", dirt),
        ("seed", seed),
        ("drift_at", drift_at),
        ("cut", cut),
    ):
        if v is not None:
            p[key] = v
    p["drift"] = float(drift)
    return p


def _map_text(map):
    if map is None:
        return None
    if isinstance(map, str):
        return map
    if isinstance(map, dict):
        for k, v in map.items():
            if not isinstance(k, str) or not isinstance(v, str) or not k or not v:
                raise ParameterError(
                    f"invalid map: {k!r}: {v!r} (rule: canonical column name to your column name, both text)"
                )
            if "," in v or "=" in v:
                raise ParameterError(
                    f"invalid map: column name {v!r} holds ',' or '=' (rule: rename it first)"
                )
        return ",".join(f"{k}={v}" for k, v in map.items())
    raise ParameterError("invalid map: a dict {canonical: yours} or the text 'a=b,c=d'")


def _args(k, map, as_of, since, seed, backend, stability_resamples, memory_mib):
    if k == "auto" or k is None:
        kk = None
    elif isinstance(k, int) and not isinstance(k, bool) and k >= 1:
        kk = k
    else:
        raise ParameterError(f"invalid k: {k!r} (rule: 'auto' or an integer >= 1)")
    return {
        "k": kk,
        "map": _map_text(map),
        "as_of": as_of,
        "since": since,
        "seed": int(seed),
        "backend": backend,
        "stability_resamples": stability_resamples,
        "memory_mib": memory_mib,
    }


def _command(name, **kw):
    shown = ", ".join(f"{k}={v!r}" for k, v in kw.items() if v is not None)
    return f"python: segmenta.{name}({shown})"


def run(
    sources=None,
    out=None,
    *,
    k="auto",
    map=None,
    as_of=None,
    since=None,
    seed=0,
    backend="auto",
    stability_resamples=None,
    memory_mib=None,
    mall=None,
    force=False,
    verbose=False,
):
    """Runs the whole pipeline into ``out`` (``segmenta run``): features → clean →
    choose k → K-means → personas, baskets, SHOPPING x STREAMING, lifetime →
    report. Returns a :class:`Run`.

    ``sources`` is a folder of raw tables or one transactions file (``map`` names
    a retailer's columns: ``{"customer_id": "CustomerID", ...}``). Instead of
    ``sources``, ``mall=dict(customers=..., months=...)`` generates a mall into the
    run (``segmenta demo``). Stages whose inputs and options are unchanged are
    reused unless ``force``. Warnings come as :class:`SegmentaWarning`.
    """
    if (sources is None) == (mall is None):
        raise ParameterError("invalid sources: give sources (a path) or mall (a dict), not both")
    mall_json = None
    if mall is not None:
        mall = dict(mall)
        months = mall.pop("months", 12)
        unknown = set(mall) - {"customers", "start", "dirt", "seed", "drift", "drift_at", "cut"}
        if unknown:
            raise ParameterError(f"invalid mall: unknown key(s) {sorted(unknown)}")
        mall_json = json.dumps(
            _mall(
                mall.get("customers"),
                months,
                mall.get("start"),
                mall.get("dirt"),
                mall.get("seed"),
                mall.get("drift", 0.0),
                mall.get("drift_at"),
                mall.get("cut"),
            )
        )
    out = _path(out, "out")
    r = _native.run(
        None if sources is None else os.fspath(sources),
        mall_json,
        out,
        _args(k, map, as_of, since, seed, backend, stability_resamples, memory_mib),
        _command("run", sources=None if sources is None else os.fspath(sources), out=out, k=k),
        bool(force),
        bool(verbose),
    )
    for w in r["warnings"]:
        warnings.warn(w, SegmentaWarning, stacklevel=2)
    return Run(out, outcome=r)


def update(
    previous,
    sources,
    out,
    *,
    k="auto",
    map=None,
    as_of=None,
    since=None,
    seed=0,
    backend="auto",
    stability_resamples=None,
    memory_mib=None,
    refit_clean=False,
    refit_scaler=False,
    max_shift=None,
    min_overlap=None,
    force=False,
    verbose=False,
):
    """Next month's run (``segmenta update``): the new history segmented from the
    ``previous`` run's model with stable segment ids, who moved where
    (:attr:`Run.migration`) and what each segment will do next. ``previous`` is
    a run folder or a :class:`Run`; it must be one lineage, of the same kind of
    sources, and at least ``min_overlap`` (0.2) of its customers must reappear."""
    prev = previous.path if isinstance(previous, Run) else previous
    out = _path(out, "out")
    r = _native.update(
        _path(prev, "previous"),
        _path(sources, "sources"),
        out,
        _args(k, map, as_of, since, seed, backend, stability_resamples, memory_mib),
        bool(refit_clean),
        bool(refit_scaler),
        max_shift,
        min_overlap,
        _command("update", previous=os.fspath(prev), sources=os.fspath(sources), out=out),
        bool(force),
        bool(verbose),
    )
    for w in r["warnings"]:
        warnings.warn(w, SegmentaWarning, stacklevel=2)
    return Run(out, outcome=r)


class Run:
    """A run folder, read back: tables as ``pyarrow.Table`` (``.to_pandas()``
    away), JSON artefacts as dicts. Open any run with ``Run(path)``."""

    def __init__(self, path, outcome=None):
        self.path = Path(path)
        if not (self.path / "run.json").is_file():
            from ._errors import SourceNotFoundError

            raise SourceNotFoundError(f"{self.path}: not a run folder (rule: it holds run.json)")
        self._outcome = outcome

    def __repr__(self):
        return f"Run({str(self.path)!r}, k={self.k})"

    def _json(self, *parts):
        p = self.path.joinpath(*parts)
        return json.loads(p.read_text()) if p.is_file() else None

    def _table(self, *parts):
        import pyarrow.parquet as pq

        p = self.path.joinpath(*parts)
        return pq.read_table(p) if p.is_file() else None

    @property
    def manifest(self) -> dict:
        """``run.json``: every stage's command, inputs, outputs and timings."""
        return self._json("run.json")

    @property
    def k(self):
        """The number of segments."""
        p = self._json("profile", "profile.json")
        return None if p is None else len(p["segments"])

    @property
    def features(self):
        """One feature row per customer (``features/features.parquet``)."""
        return self._table("features", "features.parquet")

    @property
    def clean_report(self) -> dict:
        """``clean/clean.json``: what was imputed, capped and removed, and why."""
        return self._json("clean", "clean.json")

    @property
    def clean(self):
        """The cleaned features (``clean/clean.parquet``)."""
        return self._table("clean", "clean.parquet")

    @property
    def rejected(self):
        """Every removed row with its reason (``clean/rejects.parquet``)."""
        return self._table("clean", "rejects.parquet")

    @property
    def model(self) -> dict:
        """``kmeans/model.json``: transforms, scaler, centroids, segment ids."""
        return self._json("kmeans", "model.json")

    @property
    def profile(self) -> dict:
        """``profile/profile.json``: personas, traits, baskets, streaming, lifetime."""
        return self._json("profile", "profile.json")

    @property
    def lifetime(self) -> dict:
        """``lifetime/lifetime.json``: BG/NBD and Gamma-Gamma per segment."""
        return self._json("lifetime", "lifetime.json")

    @property
    def customers(self):
        """P(alive), expected purchases and CLV per customer."""
        return self._table("lifetime", "customers.parquet")

    @property
    def migration(self):
        """``migration/migration.json`` of an ``update`` run (None otherwise)."""
        return self._json("migration", "migration.json")

    @property
    def sweep(self):
        """``sweep/sweep.json`` when k was chosen automatically."""
        return self._json("sweep", "sweep.json")

    @property
    def personas(self) -> dict:
        """Segment id → persona name."""
        return {s["segment"]: s["persona"] for s in self.profile["segments"]}

    @property
    def assignments(self):
        """Customer id, segment, distance to its centroid and the persona name."""
        import pyarrow as pa

        t = self._table("kmeans", "assignments.parquet")
        names = self.personas
        seg = t.column("segment").to_numpy()
        persona = pa.array([names.get(int(s)) for s in seg], type=pa.string())
        return t.append_column("persona", persona)

    @property
    def report_path(self) -> Path:
        """``report.html``."""
        return self.path / "report.html"
