"""Source notebooks are committed clean and run top to bottom with the reference answers."""

import json
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

from grader.course_dir import copy_helpers
from grader.paths import SOURCE_DIR, source_notebook_names

NOTEBOOKS = source_notebook_names()


def test_there_are_source_notebooks():
    assert "part0_filters.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    nb = json.loads((SOURCE_DIR / name).read_text())
    dirty = [c.get("id") for c in nb["cells"] if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{name}: strip outputs of cells {dirty} (e.g. `nbstripout` or Clear All Outputs)"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_runs_top_to_bottom(name, tmp_path):
    shutil.copy(SOURCE_DIR / name, tmp_path / name)
    copy_helpers(tmp_path)
    nb = nbformat.read(tmp_path / name, as_version=4)
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    if name == "part0_filters.ipynb":
        saved = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
        assert saved == ["box_blur.png", "box_blur_border.png", "laplacian.png"]
