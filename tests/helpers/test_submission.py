"""The student's submission cell: pre-submit checks, the zip, and the dry run of grading.

A finished homework folder is made from the executed source notebooks (saved after the files they
produced, as a student's Save does) and their figures, results and models.
"""

import copy
import os
import re
import shutil
import time
import zipfile

import nbformat
import pytest

from helpers.submission import (
    ARTIFACTS,
    SUBMISSION_NAME,
    SubmissionError,
    make_submission,
    preflight,
    submission_files,
    write_zip,
)


def without_hidden_tests(nb):
    """The executed source notebook as a student has it: test cells without their hidden tests."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            cell.source = re.sub(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", "", cell.source,
                                 flags=re.M | re.S)
    return nb


@pytest.fixture
def finished(executed_source, tmp_path):
    """A student's folder after running and saving every notebook (helpers/ and a data cache too)."""
    folder, executed = executed_source
    student = tmp_path / "hw3"
    shutil.copytree(folder, student)
    (student / "data_cache").mkdir()
    (student / "data_cache" / "cifar10.npz").write_bytes(b"\0" * 1000)  # must not be zipped
    (student / ".ipynb_checkpoints").mkdir(exist_ok=True)
    later = time.time() + 5
    for name, nb in executed.items():
        nbformat.write(without_hidden_tests(nb), student / name)
        os.utime(student / name, (later, later))
    return student


def test_finished_folder_is_ready(finished):
    assert preflight(finished) == []


def test_every_notebook_of_the_assignment_is_packaged():
    from grader.course import source_notebook_names

    assert sorted(ARTIFACTS) == source_notebook_names()


def test_artifact_list_matches_what_the_notebooks_save(executed_source):
    folder, _ = executed_source
    saved = {str(p.relative_to(folder)) for d in ("figures", "results", "models") for p in (folder / d).rglob("*")
             if p.is_file()}
    assert saved == {a for artifacts in ARTIFACTS.values() for a in artifacts}


def _drop_notebook(folder):
    (folder / "part2_convolution.ipynb").unlink()


def _never_run(folder):
    from grader.course import RELEASE_DIR

    shutil.copy(RELEASE_DIR / "part0_filters.ipynb", folder / "part0_filters.ipynb")
    later = time.time() + 10
    os.utime(folder / "part0_filters.ipynb", (later, later))


def _drop_model(folder):
    (folder / "models" / "own.pt").unlink()


def _unsaved(folder):
    later = time.time() + 60
    os.utime(folder / "models" / "base.pt", (later, later))


def _corrupt(folder):
    (folder / "part1_batchnorm_dropout.ipynb").write_text("{ not json")


BROKEN = {
    "missing notebook": (_drop_notebook, "part2_convolution.ipynb is not in"),
    "never run": (_never_run, "part0_filters.ipynb has never been run"),
    "missing model": (_drop_model, "models/own.pt missing: run part3_pytorch_cnn.ipynb"),
    "unsaved work": (_unsaved, "part3_pytorch_cnn.ipynb has unsaved work"),
    "unreadable notebook": (_corrupt, "part1_batchnorm_dropout.ipynb cannot be read"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_submission_cell_refuses_with_what_to_do(case, finished, capsys):
    damage, message = BROKEN[case]
    damage(finished)
    assert make_submission(finished) is None
    out = capsys.readouterr().out
    assert "Not ready to submit yet" in out and message in out
    assert not (finished / SUBMISSION_NAME).exists()


def test_zip_over_the_upload_limit_is_refused(finished):
    with pytest.raises(SubmissionError, match="over the 0.01 MB upload limit; the largest file is "):
        write_zip(finished, limit_mb=0.01)
    assert not (finished / SUBMISSION_NAME).exists() and not list(finished.glob(".*.tmp"))


def test_zip_holds_exactly_what_grading_needs(finished):
    path = write_zip(finished)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    assert names == submission_files(finished)
    assert not [n for n in names if n.startswith(("helpers/", "data_cache/", ".ipynb_checkpoints/"))]
    assert {n.split("/")[0] for n in names} == {*ARTIFACTS, "figures", "results", "models"}


def test_submission_cell_checks_the_zip_as_the_grader_does(finished, capsys):
    path = make_submission(finished)
    out = capsys.readouterr().out
    assert path == finished / SUBMISSION_NAME and path.is_file()
    for name in ARTIFACTS:
        assert f"running {name}" in out
    assert "part3_pytorch_cnn" in out and "test_own_model" in out and "graded by hand" in out
    # The smoke-trained models (one short epoch) earn no accuracy points, and the check says so, as
    # the grader will; every other cell passes.
    table = [line for line in out.splitlines() if line.startswith("part")]
    failed = sorted(line.split()[1] for line in table if "failed" in line)
    assert failed == ["test_base_model", "test_batchnorm_dropout_model", "test_own_model"], out[-3000:]
    assert all("0 points (the cell's output says why)" in line for line in table if "failed" in line)
    assert "Not every cell earns its points in the zip" in out
    assert "without encryption" not in out  # the check's kernels use Unix sockets, not TCP
    assert "Parent appears to have exited" not in out  # and are shut down, not left behind


def test_check_reports_a_failing_public_test(finished, tmp_path, capsys):
    from helpers.submission import check_submission

    nb = nbformat.read(finished / "part0_filters.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "box_kernel":
            cell.source = "def box_kernel(n):\n    return np.ones((n, n))\n"
    nbformat.write(nb, finished / "part0_filters.ipynb")
    only_part0 = tmp_path / "part0.zip"  # the other notebooks are left out to keep this test short
    with zipfile.ZipFile(only_part0, "w") as zf:
        for rel in ["part0_filters.ipynb", *ARTIFACTS["part0_filters.ipynb"]]:
            zf.write(finished / rel, rel)
    assert check_submission(only_part0) is False
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "test_box_kernel" in line)
    assert "0/2" in line and "failed" in line
    assert "ERROR part1_batchnorm_dropout.ipynb: cannot be read" in out


def _make_part3_stale(folder):
    """As after Restart & Run All: the notebook on disk is older than the figure its run rewrote."""
    figure = folder / "figures" / "training_curves.png"
    os.utime(folder / "part3_pytorch_cnn.ipynb", (time.time() - 60, time.time() - 60))
    os.utime(figure, (time.time(), time.time()))
    assert "part3_pytorch_cnn.ipynb has unsaved work" in " ".join(preflight(folder))


def test_on_colab_the_cell_saves_its_notebook_and_offers_the_zip(finished, tmp_path, monkeypatch, capsys):
    """With a stand-in google.colab: the notebook is written from Colab's copy, the zip downloaded."""
    from colab_standin import calls, forget, write

    _make_part3_stale(finished)
    in_browser = tmp_path / "in-browser.ipynb"  # what Colab holds: the run's outputs, not yet in Drive
    shutil.copy(finished / "part3_pytorch_cnn.ipynb", in_browser)
    monkeypatch.setenv("COLAB_STANDIN_NOTEBOOK", str(in_browser))
    monkeypatch.setenv("COLAB_STANDIN_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.syspath_prepend(str(write(tmp_path / "standin")))
    try:
        path = make_submission(finished, check=False)
    finally:
        forget()
    out = capsys.readouterr().out
    assert path == finished / SUBMISSION_NAME and path.is_file(), out
    assert "saved part3_pytorch_cnn.ipynb" in out and "your browser is downloading it" in out
    assert nbformat.read(finished / "part3_pytorch_cnn.ipynb", as_version=4) == nbformat.read(in_browser, as_version=4)
    assert calls(tmp_path / "calls.jsonl") == [{"call": "files.download", "path": str(path)}]


def test_in_the_classic_notebook_the_cell_asks_it_to_save(finished, monkeypatch, capsys):
    """The classic Notebook runs the displayed save command (a stand-in front-end here): the first
    run after Restart & Run All succeeds. A front-end that ignores it (JupyterLab) gets the message."""
    import IPython.display

    from helpers import submission

    _make_part3_stale(finished)
    monkeypatch.setattr(submission, "_in_notebook_frontend", lambda: True)
    shown = []

    def classic_frontend(obj):
        shown.append(obj)
        if isinstance(obj, IPython.display.Javascript) and obj.data == submission.SAVE_JAVASCRIPT:
            nbformat.write(nbformat.read(finished / "part3_pytorch_cnn.ipynb", as_version=4),
                           finished / "part3_pytorch_cnn.ipynb")

    monkeypatch.setattr(IPython.display, "display", classic_frontend)
    path = make_submission(finished, check=False)
    assert path is not None and "saved part3_pytorch_cnn.ipynb" in capsys.readouterr().out
    assert len(shown) == 1

    _make_part3_stale(finished)
    monkeypatch.setattr(IPython.display, "display", shown.append)  # JupyterLab: no such command
    monkeypatch.setattr(submission, "SAVE_WAIT_S", 0.3)
    assert make_submission(finished, check=False) is None
    assert "part3_pytorch_cnn.ipynb has unsaved work" in capsys.readouterr().out
