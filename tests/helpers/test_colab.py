"""Google Colab, end to end, with a stand-in ``google.colab`` (tests/support/colab_standin.py).

A release notebook is run by a real kernel "on Colab": from a folder that has no ``helpers/``
(Colab runs notebooks from ``/content``), with the course folder in a stand-in Drive. Its
Colab set-up cell must mount Drive and move into the course folder, so that every later cell
imports the course's ``helpers`` and saves its figures in Drive. Off Colab the same cell does
nothing (every other test runs it that way).
"""

import os
import shutil

import nbformat
import pytest
from colab_standin import calls, forget, write
from nbclient import NotebookClient

from grader.authoring.release import COLAB_CELL_ID
from grader.course import RELEASE_DIR

NOTEBOOK = "part0_filters.ipynb"


def test_every_release_notebook_starts_with_the_colab_setup():
    for path in sorted(RELEASE_DIR.glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        first_code = next(c for c in cells if c.cell_type == "code")
        assert first_code.get("id") == COLAB_CELL_ID, path.name
        assert "drive.mount" in first_code.source


@pytest.fixture
def on_colab(tmp_path, monkeypatch):
    """(stand-in path, Drive course folder, call log), with the course folder uploaded to the Drive."""
    standin = write(tmp_path / "standin")
    drive_folder = tmp_path / "drive" / "MyDrive" / "hw3"
    shutil.copytree(RELEASE_DIR, drive_folder)
    log = tmp_path / "colab-calls.jsonl"
    monkeypatch.setenv("COLAB_STANDIN_LOG", str(log))
    monkeypatch.setenv("HW3_COLAB_FOLDER", str(drive_folder))
    yield standin, drive_folder, log
    forget()


def test_a_notebook_runs_on_colab_from_the_drive_folder(on_colab, tmp_path, monkeypatch):
    standin, drive_folder, log = on_colab
    content = tmp_path / "content"  # where Colab runs a notebook opened from Drive: no helpers/ here
    content.mkdir()
    nb = nbformat.read(RELEASE_DIR / NOTEBOOK, as_version=4)
    monkeypatch.setenv("PYTHONPATH", str(standin))  # the kernel is "on Colab"
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(content)}}).execute()
    printed = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o.ename}: {o.evalue}" for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert any(f"Google Colab: working in {drive_folder}" in t for t in printed), printed[:3]
    assert calls(log) == [{"call": "drive.mount", "mountpoint": "/content/drive"}]
    # The release's answers are stubs: their tests fail, but nothing fails to import or find a file.
    assert errors and all(e.startswith(("NotImplementedError", "AssertionError")) for e in errors), errors
    assert not list(content.iterdir())  # nothing written outside the Drive folder


def test_without_the_course_folder_in_drive_it_says_where_to_put_it(on_colab, tmp_path, monkeypatch):
    standin, drive_folder, _ = on_colab
    shutil.rmtree(drive_folder)
    monkeypatch.syspath_prepend(str(standin))
    source = next(c.source for c in nbformat.read(RELEASE_DIR / NOTEBOOK, as_version=4).cells
                  if c.get("id") == COLAB_CELL_ID)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="upload the whole course folder to My Drive"):
        exec(compile(source, "<colab setup>", "exec"), {})
    assert os.getcwd() == str(tmp_path)
