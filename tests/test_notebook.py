"""docs/loader.ipynb runs top to bottom (nbclient), so it never rots."""

import importlib.util
from pathlib import Path

import pytest

from conftest import SDKS

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "loader.ipynb"
MISSING = [m for m in ("nbclient", "nbformat", "ipykernel", "matplotlib") if importlib.util.find_spec(m) is None]


@pytest.mark.skipif(bool(MISSING), reason=f"notebook extras not installed: {MISSING}")
@pytest.mark.skipif(not SDKS, reason="no SDK installed")
def test_notebook_executes(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = {i: cell.get("outputs", []) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    errors = [o for cell in outputs.values() for o in cell if o.get("output_type") == "error"]
    assert not errors
    text = lambda i: "".join(o.get("data", {}).get("text/plain", "") for o in outputs[i])  # noqa: E731
    assert "'HK.99999': 'unknown stock HK.99999'" in text(2)
    assert text(5).startswith("3")  # one line per HK code
    assert any("image/png" in o.get("data", {}) for o in outputs[5])
