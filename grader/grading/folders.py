"""The grading folder: an nbgrader course folder for the batch, one for each student's worker, and
moving a worker's results back.

``prepare_grading_dir`` makes ``out_dir`` a course folder for the current source (a template with an
assignment-only gradebook under ``.grader/template``); ``student_course`` gives each submission a
fresh course folder (``work/<id>/``) that holds no source notebooks and no other student;
``collect`` moves its results into the grading folder and merges its gradebook, one at a time.
"""

import os
import shutil
import threading
from pathlib import Path

from grader.course import ASSIGNMENT_ID, copy_source, generate_assignment, source_fingerprint
from grader.grading.gradebook import merge_submission

FINGERPRINT_FILE = ".source_fingerprint"

TEMPLATE_DIR = ".grader/template"  # a course folder whose gradebook holds only the assignment


def _template(out_dir, fingerprint):
    """``out_dir/.grader/template``: source copy, release and an assignment-only gradebook."""
    template = Path(out_dir) / TEMPLATE_DIR
    marker = template / FINGERPRINT_FILE
    if not (marker.exists() and marker.read_text().strip() == fingerprint and (template / "gradebook.db").exists()):
        if template.exists():
            shutil.rmtree(template)
        template.mkdir(parents=True)
        copy_source(template)
        generate_assignment(template)
        marker.write_text(fingerprint + "\n")
    return template



def prepare_grading_dir(out_dir):
    """Make ``out_dir`` an nbgrader course folder for the current source.

    The source and gradebook are rebuilt when the source changed since the last run
    (the old gradebook is kept beside it, renamed), and reused otherwise, so earlier
    results stay in the gradebook for formgrader and ``nbgrader export``.
    Returns:
        the template course folder (see ``_template``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / FINGERPRINT_FILE
    fingerprint = source_fingerprint()
    template = _template(out_dir, fingerprint)
    gradebook = out_dir / "gradebook.db"
    up_to_date = marker.exists() and marker.read_text().strip() == fingerprint and gradebook.exists()
    copy_source(out_dir)
    if not up_to_date:
        if gradebook.exists():
            old = marker.read_text().strip()[:12] if marker.exists() else "unknown"
            gradebook.rename(out_dir / f"gradebook.{old}.db")
        shutil.copyfile(template / "gradebook.db", gradebook)
        shutil.rmtree(out_dir / "release" / ASSIGNMENT_ID, ignore_errors=True)
        shutil.copytree(template / "release" / ASSIGNMENT_ID, out_dir / "release" / ASSIGNMENT_ID)
        shutil.rmtree(out_dir / "state", ignore_errors=True)
        marker.write_text(fingerprint + "\n")
    return template



def student_course(out_dir, student_id):
    """A fresh course folder for one student's worker: the assignment-only gradebook and the
    source folder's non-notebook files (helpers); no source notebooks, no other students."""
    out_dir = Path(out_dir)
    template = out_dir / TEMPLATE_DIR
    work = out_dir / "work" / student_id
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copyfile(template / "gradebook.db", work / "gradebook.db")
    shutil.copytree(template / "source" / ASSIGNMENT_ID, work / "source" / ASSIGNMENT_ID,
                    ignore=shutil.ignore_patterns("*.ipynb"))
    # The release notebooks (public tests only), for the feedback the worker writes.
    shutil.copytree(template / "release" / ASSIGNMENT_ID, work / "release" / ASSIGNMENT_ID)
    return work


_GRADEBOOK_LOCK = threading.Lock()


def collect(work, out_dir, student_id, zero_cells, ungraded_cells=()):
    """Move a worker's results into the grading folder and merge its gradebook (one at a time)."""
    with _GRADEBOOK_LOCK:
        for kind in ("submitted", "autograded", "feedback"):
            dest = out_dir / kind / student_id
            if dest.exists():
                shutil.rmtree(dest)
            if (work / kind / student_id).exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(work / kind / student_id, dest)
                _chown_to_me(dest)
        merge_submission(f"sqlite:///{work / 'gradebook.db'}", f"sqlite:///{out_dir / 'gradebook.db'}",
                         student_id, zero_cells, ungraded_cells)



def _chown_to_me(path):
    """Give files a sandboxed kernel wrote (another uid) back to the grader's uid."""
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), 0, 0)
