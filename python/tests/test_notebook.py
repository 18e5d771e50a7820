"""examples/shopping.ipynb, executed headless: any cell error fails."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "shopping.ipynb"


def test_the_shopping_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMENTA_NB_DIR", str(tmp_path))
    monkeypatch.setenv("SEGMENTA_NB_CUSTOMERS", "6000")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "rows in" in text and "agreement with the pipeline's segments" in text
    # The kernel's inline backend returns every figure as a PNG.
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, len(images)
    assert (tmp_path / "run" / "report.html").is_file()
