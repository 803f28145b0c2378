"""Packaging the homework for submission: ``hw3_submission.zip``, checked the way the grader will.

``make_submission()`` (the last cell of the last notebook) does three things:

1. **Pre-submit checks** on the folder: every notebook is there under its original name, has been
   run, and was saved after the files it produced (a notebook older on disk than its figures,
   results or models has unsaved work: the grader would see the old version); every file the
   grader needs exists. The notebook the cell runs in is saved first where the front-end lets a
   cell do it: on Google Colab (from Colab's own copy) and in the classic Notebook (its save
   command); elsewhere (JupyterLab) the check says to save it.
2. **The zip**: exactly what grading needs (the notebooks, the saved figures, the experiment
   results, the model checkpoints and their records) and nothing else (no data sets, caches,
   checkpoint folders or the ``helpers/`` copy). Refused when it would exceed the upload limit.
   On Colab it is written to the course folder in Drive and offered for download.
3. **A dry run of grading**: the zip is unpacked into a temporary folder next to a fresh copy of
   ``helpers/`` and every notebook is run there in a new process, as the grader does
   (``NBGRADER_EXECUTION=autograde``: nothing is retrained, saved results are used). A table of
   the public tests follows, so "it passes on my machine" means "it passes the grader's public
   tests". The grader adds hidden tests. (The dry run itself is ``helpers._dry_run``.)

Instructors run the same check with ``python -m grader check ZIP``.
"""

import datetime
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from helpers import colab
from helpers.runtime import autograding

SUBMISSION_NAME = "hw3_submission.zip"
UPLOAD_LIMIT_MB = 100  # Gradescope's limit for one upload
HELPERS_DIR = Path(__file__).resolve().parent
# Every notebook of the homework and the files it saves, which the grader reads instead of recomputing.
ARTIFACTS = {
    "part0_filters.ipynb": ["figures/box_blur.png", "figures/box_blur_border.png", "figures/laplacian.png"],
    "part1_batchnorm_dropout.ipynb": [
        "results/batchnorm_vs_none.json", "results/dropout_regularization.json", "results/weight_scale_sweep.json",
        "figures/batchnorm_vs_none.png", "figures/dropout_regularization.png", "figures/weight_scale_sweep.png"],
    "part2_convolution.ipynb": ["results/overfit_small_data.json", "figures/convnet_overfit.png"],
    "part3_pytorch_cnn.ipynb": [
        "models/base.pt", "models/base.json", "models/batchnorm_dropout.pt", "models/batchnorm_dropout.json",
        "models/own.pt", "models/own.json", "figures/training_curves.png"],
}
MTIME_SLACK_S = 2.0  # file systems store times coarsely; a save within this of an artifact counts as after it
SUBMITTING_NOTEBOOK = "part3_pytorch_cnn.ipynb"  # the notebook whose last cell calls make_submission
SAVE_WAIT_S = 5.0  # how long to wait for the front-end to save that notebook
# The classic Notebook's save command; other front-ends have no such object and ignore it.
SAVE_JAVASCRIPT = "if (window.IPython && IPython.notebook) { IPython.notebook.save_checkpoint(); }"
NOTEBOOK_TIMEOUT_S = 600

__all__ = ["ARTIFACTS", "SUBMISSION_NAME", "SubmissionError", "check_submission", "make_submission",
           "preflight", "save_submitting_notebook", "write_zip"]


class SubmissionError(RuntimeError):
    """The folder is not ready to submit; the message lists what to do."""


def _executed(nb):
    return any(c.get("cell_type") == "code" and c.get("execution_count") for c in nb.get("cells", []))


def _when(timestamp):
    return datetime.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def preflight(folder="."):
    """Problems that would cost points if the folder were submitted now.

    Returns:
        list of messages, each saying what is wrong and what to do (empty: ready).
    """
    folder = Path(folder)
    problems = []
    for name, artifacts in ARTIFACTS.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is not in {folder.resolve()}: keep the homework's notebooks together, "
                            "with their original names.")
            continue
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{name} cannot be read ({exc}): open it in Jupyter, save it, and try again.")
            continue
        if not _executed(nb):
            problems.append(f"{name} has never been run: run it top to bottom (Run > Run All Cells), then save it.")
        missing = [a for a in artifacts if not (folder / a).is_file()]
        if missing:
            problems.append(f"{', '.join(missing)} missing: run {name} top to bottom (it saves them), then save it.")
        newest = _written_after_save(folder, name)
        if newest is not None:
            problems.append(
                f"{name} has unsaved work: it was last saved at {_when(path.stat().st_mtime)}, before it "
                f"wrote {newest.relative_to(folder)} at {_when(newest.stat().st_mtime)}. Save it "
                "(File > Save, or Ctrl+S / Cmd+S) and run this cell again.")
    return problems


def _written_after_save(folder, name):
    """The newest file notebook ``name`` produced after it was last saved, or None."""
    folder = Path(folder)
    present = [folder / a for a in ARTIFACTS[name] if (folder / a).is_file()]
    if not present or not (folder / name).is_file():
        return None
    newest = max(present, key=lambda p: p.stat().st_mtime)
    return newest if (folder / name).stat().st_mtime + MTIME_SLACK_S < newest.stat().st_mtime else None


def _in_notebook_frontend():
    """True when this runs in a Jupyter kernel (a front-end may execute what it displays)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def save_submitting_notebook(folder=".", wait_s=None):
    """Save the notebook the submission cell runs in, where the front-end lets a cell do it.

    On Colab, Colab's copy is written to the folder. In a Jupyter front-end, when the file is older
    than what it produced, the classic Notebook's save command is sent and the file watched for
    ``wait_s`` (default ``SAVE_WAIT_S``; JupyterLab ignores the command: the pre-submit check then
    asks for a save by hand).
    Returns:
        True when the notebook was saved.
    """
    path = Path(folder) / SUBMITTING_NOTEBOOK
    if colab.on_colab():
        return colab.save_open_notebook(path)
    if not _in_notebook_frontend() or _written_after_save(folder, SUBMITTING_NOTEBOOK) is None:
        return False
    from IPython.display import Javascript, display

    before = path.stat().st_mtime
    display(Javascript(SAVE_JAVASCRIPT))
    deadline = time.monotonic() + (SAVE_WAIT_S if wait_s is None else wait_s)
    while time.monotonic() < deadline:
        if path.stat().st_mtime > before:
            time.sleep(0.5)  # the front-end writes the file, then renames it in place
            return True
        time.sleep(0.1)
    return False


def submission_files(folder="."):
    """Relative paths of everything that goes into the zip, in a stable order."""
    return [name for name in ARTIFACTS] + [a for artifacts in ARTIFACTS.values() for a in artifacts]


def write_zip(folder=".", dest=SUBMISSION_NAME, limit_mb=UPLOAD_LIMIT_MB):
    """Zip the submission files of ``folder`` into ``dest`` (written atomically). Returns dest.

    Raises:
        SubmissionError: a file is missing, or the zip is over ``limit_mb``.
    """
    folder, dest = Path(folder), Path(dest)
    if not dest.is_absolute():
        dest = folder / dest
    files = submission_files(folder)
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise SubmissionError(f"cannot zip: {', '.join(missing)} missing.")
    tmp = dest.with_name(f".{dest.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in files:
            zf.write(folder / rel, rel)
    size_mb = tmp.stat().st_size / 2**20
    if size_mb > limit_mb:
        tmp.unlink()
        biggest = max(files, key=lambda f: (folder / f).stat().st_size)
        raise SubmissionError(f"the zip would be {size_mb:.1f} MB, over the {limit_mb} MB upload limit; the largest "
                              f"file is {biggest} ({(folder / biggest).stat().st_size / 2**20:.1f} MB). Models must "
                              "stay within the parameter budget; save only their state_dict.")
    os.replace(tmp, dest)
    return dest


def check_submission(zip_path, helpers_dir=HELPERS_DIR, timeout=NOTEBOOK_TIMEOUT_S):
    """Unpack ``zip_path`` next to a fresh copy of ``helpers_dir`` and run it as the grader would.

    Runs in a new Python process (nothing from the calling kernel leaks in) and prints its progress
    and the table of public tests. Returns True when every public test passed.
    """
    cmd = [sys.executable, "-m", "helpers._dry_run", str(Path(zip_path).resolve()),
           "--helpers", str(Path(helpers_dir).resolve()), "--timeout", str(timeout)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(Path(helpers_dir).resolve().parent)
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(proc.stdout, end="")
    return proc.returncode == 0


def make_submission(folder=".", dest=SUBMISSION_NAME, limit_mb=UPLOAD_LIMIT_MB, check=True):
    """Check the folder, write ``hw3_submission.zip``, and grade it as the grader will (public tests).

    Returns:
        Path of the zip, or None when the folder is not ready (the reasons are printed).
    """
    if autograding():
        print("autograding: the submission is already being graded; nothing to package.")
        return None
    if save_submitting_notebook(folder):
        print(f"saved {SUBMITTING_NOTEBOOK}")
    problems = preflight(folder)
    if problems:
        print("Not ready to submit yet:\n" + "\n".join(f"  - {p}" for p in problems))
        return None
    try:
        path = write_zip(folder, dest, limit_mb)
    except SubmissionError as exc:
        print(f"Not ready to submit yet:\n  - {exc}")
        return None
    size = path.stat().st_size / 2**20
    print(f"wrote {path} ({size:.1f} MB, {len(submission_files(folder))} files)")
    if colab.offer_download(path):
        print(f"{path.name} is in your Drive folder, and your browser is downloading it")
    if check:
        print("checking it the way the grader will (a fresh process, nothing retrained; about a minute) ...")
        if check_submission(path):
            print(f"All public tests pass. Upload {path.name}.")
        else:
            print(f"Not every cell earns its points in the zip (see the table above): fix what you can, save, "
                  f"and run this cell again. You may still upload {path.name}.")
    return path
