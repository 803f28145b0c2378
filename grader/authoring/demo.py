"""``python -m grader demo``: the whole instructor flow on built-in example submissions.

Builds the release, makes three students from it (reference answers, the untouched
release, one wrong answer), autogrades them and prints the grade table. The reference and the
one-wrong-answer students submit Part 3's reference checkpoints (``reference_models/``, made by
``benchmarks/train_reference.py``), so the reference student earns every autograded point.
"""

import shutil
import tempfile
import zipfile
from pathlib import Path

import nbformat

from grader.authoring.release import build_release
from grader.cells import assignment_cells, fill_answers, reference_answers
from grader.course import REPO_ROOT, SOURCE_DIR, source_notebook_names
from grader.grading import autograde
from grader.outputs.grades_csv import format_table

# The wrong answer the demo's third student hands in: a box blur that forgot to normalize.
WRONG_ANSWER = (
    "box_kernel",
    "def box_kernel(n):\n    return np.ones((n, n))  # forgot to divide by n**2\n",
)


# Part 3's reference checkpoints and records (a few MB): python benchmarks/train_reference.py
# --setting quick --out reference_models (about 11 minutes on 2 CPU cores).
REFERENCE_MODELS = REPO_ROOT / "reference_models"
REFERENCE_MODEL_FILES = [f"{name}.{ext}" for name in ("base", "batchnorm_dropout", "own") for ext in ("pt", "json")]


def add_reference_models(student):
    """Put the reference checkpoints in ``student/models`` as a student's training would."""
    (student / "models").mkdir(exist_ok=True)
    for name in REFERENCE_MODEL_FILES:
        shutil.copy(REFERENCE_MODELS / name, student / "models" / name)


def make_student(release_dir, dest, answers):
    """A student folder: the release (helpers included, as students have it) with answers filled.

    Args:
        release_dir: built release folder.
        dest: folder to create.
        answers: dict grade_id -> code written into the answer cells.
    """
    shutil.copytree(release_dir, dest)
    for name in source_notebook_names():
        nb = nbformat.read(dest / name, as_version=4)
        nbformat.write(fill_answers(nb, answers), dest / name)
    return dest


def zip_folder(folder, zip_path):
    """Zip a folder's contents the way a student's zip tool does (one top-level folder)."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, Path(folder.name) / path.relative_to(folder))
    return zip_path


def make_demo_submissions(release_dir, dest):
    """Three example submissions in ``dest``: reference/, untouched.zip, one_wrong/."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    reference = {}
    for name in source_notebook_names():
        reference.update(reference_answers(SOURCE_DIR / name))
    add_reference_models(make_student(release_dir, dest / "reference", reference))
    untouched = make_student(release_dir, Path(tempfile.mkdtemp()) / "untouched", {})
    zip_folder(untouched, dest / "untouched.zip")
    shutil.rmtree(untouched.parent)
    add_reference_models(make_student(release_dir, dest / "one_wrong", dict(reference, **dict([WRONG_ANSWER]))))
    return dest


def run_demo(out_dir=None, log=print):
    """Run the demo; returns (results, table text). Grading output goes to ``out_dir``
    (a temporary folder, removed afterwards, when None)."""
    with tempfile.TemporaryDirectory(prefix="hw3-demo-") as tmp:
        tmp = Path(tmp)
        log("building the release ...")
        release = build_release(tmp / "course")
        log("making example submissions: reference, untouched (zip), one_wrong ...")
        submissions = make_demo_submissions(release, tmp / "submissions")
        results = autograde([submissions], out_dir or tmp / "graded", log=log)
        table = format_table(results, assignment_cells())
    return results, table
