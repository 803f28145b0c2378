"""Resuming an interrupted batch: a finished, unchanged submission is not graded again.

Each finished submission leaves ``state/<id>.json`` in the grading folder, written atomically
after its results are in the gradebook, the autograded folder and the feedback. It records a key
over everything that decides the grade: the submission's bytes, the course source fingerprint,
the limits and the grader's own code. A rerun with the same key reuses the stored row.
"""

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from grader.results import StudentResult

GRADER_DIR = Path(__file__).resolve().parent.parent  # the grader package


def content_files(path):
    """A submission's content: the zip itself, or a folder's regular files (links not followed), sorted."""
    path = Path(path)
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def content_size(path):
    """Bytes of ``content_files(path)`` (0 when it is gone)."""
    try:
        return sum(file.stat().st_size for file in content_files(path))
    except OSError:
        return 0


def content_hash(path):
    """SHA-256 over a zip's bytes, or over a folder's files (relative names and bytes)."""
    digest = hashlib.sha256()
    path = Path(path)
    for file in content_files(path):
        digest.update(str(file.relative_to(path) if file != path else file.name).encode() + b"\0")
        with open(file, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


# What decides a grade: every module of the grader but its CLI, authoring and Gradescope bundling.
NOT_GRADING_CODE = ("cli.py", "__main__.py", "authoring", "gradescope")


def grader_fingerprint():
    """Hash of the grading code: a change to how grading works invalidates stored results."""
    digest = hashlib.sha256()
    for path in sorted(GRADER_DIR.rglob("*.py")):
        name = path.relative_to(GRADER_DIR).as_posix()
        if name.split("/")[0] not in NOT_GRADING_CODE:
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def submission_key(sub, source_fingerprint, limits):
    limits_text = f"{float(limits.submission_s):g}/{float(limits.cell_s):g}/{int(limits.memory_bytes)}"
    parts = [content_hash(sub.origin), source_fingerprint, limits_text, grader_fingerprint(), sub.student_id,
             ",".join(sub.members)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class ResumeState:
    """Stored results of finished submissions, one small JSON file each."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, student_id):
        return self.folder / f"{student_id}.json"

    def load(self, student_id, key):
        """The stored StudentResult when its key matches, else None."""
        try:
            data = json.loads(self._path(student_id).read_text())
        except (OSError, ValueError):
            return None
        if data.get("key") != key:
            return None
        return StudentResult(**data["result"])

    def save(self, result, key):
        path = self._path(result.student_id)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"key": key, "result": asdict(result)}))
        os.replace(tmp, path)

    def forget(self, student_id):
        self._path(student_id).unlink(missing_ok=True)
