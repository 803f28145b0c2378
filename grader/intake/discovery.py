"""Finding the submissions in what instructors hand us (zips, folders, LMS and Gradescope exports).


A PATH given to ``autograde`` is one of:
  * a ``.zip`` file: one student, id from the file name;
  * a folder with notebooks at its top: one student, id from the folder name;
  * a Gradescope export folder (it holds ``submission_metadata.yml``): each ``submission_NNN``
    folder is one submission, the student id is the submitter's ``:sid:`` (else e-mail, else the
    folder name); a group submission is graded once and its row copied to every member;
  * any other folder (e.g. Canvas/bCourses "download submissions", unzipped): each ``.zip`` or
    folder inside it is one student.
File and folder names become ids through an id pattern (``--id-pattern``): a regular expression
whose group ``id`` (else its first group) is the id. The default, ``DEFAULT_ID_PATTERN``, reads
Canvas names (``lastfirst_12345_67890_hw3.zip`` and ``lastfirst_LATE_12345_67890_hw3.zip`` give
``12345``); names it does not match keep their whole name (``alice.zip`` gives ``alice``).
A folder that holds no notebook but exactly one zip (what Gradescope exports when a student
uploaded a zip) is unpacked through that zip.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.intake.unpacking import IGNORED_PARTS
from grader.results import Status

GRADESCOPE_METADATA = "submission_metadata.yml"
DEFAULT_ID_PATTERN = r"^[A-Za-z-]+_(?:LATE_)?(?P<id>\d+)_\d+_"


@dataclass
class Submission:
    """One student's submission as found on disk."""

    student_id: str
    origin: Path  # the zip or folder it came from
    members: list = field(default_factory=list)  # other ids of a group submission (same grade)
    problems: list = field(default_factory=list)  # (status, detail) pairs
    root: Path | None = None  # folder holding its notebooks, once unpacked
    notebooks: dict = field(default_factory=dict)  # expected file name -> path found

    def add_problem(self, status, detail):
        self.problems.append((status, detail))

    @property
    def status(self):
        """The most severe problem's status, or ``graded``."""
        return Status.most_severe(s for s, _ in self.problems)

    @property
    def detail(self):
        return "; ".join(d for _, d in self.problems)


def student_id_from_name(name, pattern=None):
    """A safe student id from a file or folder name.

    Args:
        name: file or folder name.
        pattern: regular expression (str) whose group ``id`` (else group 1) is the id, searched in
            the name; None for ``DEFAULT_ID_PATTERN``, "" to use the whole name. When it does not
            match, the whole name is used.
    Returns:
        the id: extension dropped, odd characters as '_'.
    """
    stem = name[:-4] if name.lower().endswith(".zip") else name
    pattern = DEFAULT_ID_PATTERN if pattern is None else pattern
    match = re.search(pattern, stem) if pattern else None
    if match and match.groups():
        stem = match.group("id") if "id" in match.groupdict() else match.group(1)
    sid = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")
    return sid or "unnamed"


def _is_single_submission(folder):
    return any(p.suffix == ".ipynb" for p in folder.iterdir() if p.is_file())


def _entries(folder):
    return sorted(
        p for p in folder.iterdir()
        if (p.is_dir() and p.name not in IGNORED_PARTS and not p.name.startswith("."))
        or p.suffix.lower() == ".zip"
    )


def _gradescope_submissions(folder):
    """(origin, ids) per submission of a Gradescope export folder."""
    from grader.gradescope.export import read_metadata, submitter_ids

    metadata = read_metadata(folder / GRADESCOPE_METADATA)
    found = []
    for entry in _entries(folder):
        key = entry.name[:-4] if entry.suffix.lower() == ".zip" else entry.name
        ids = [student_id_from_name(i, "") for i in submitter_ids(metadata.get(key, {}))]
        found.append((entry, ids or [student_id_from_name(key, "")]))
    return found


def discover(paths, id_pattern=None):
    """Submissions named by the command-line PATHs, in a stable order.

    Args:
        paths: zips and folders (see the module docstring).
        id_pattern: how to read ids from names (see ``student_id_from_name``).
    Returns:
        list of Submission; a second submission with an id already seen gets the
        ``duplicate student id`` status instead of overwriting the first.
    """
    found = []  # (origin, [ids])
    for path in map(Path, paths):
        if path.is_file():
            found.append((path, [student_id_from_name(path.name, id_pattern)]))
        elif path.is_dir() and _is_single_submission(path):
            found.append((path, [student_id_from_name(path.name, id_pattern)]))
        elif path.is_dir() and (path / GRADESCOPE_METADATA).is_file():
            found += _gradescope_submissions(path)
        elif path.is_dir():
            found += [(p, [student_id_from_name(p.name, id_pattern)]) for p in _entries(path)]
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    submissions, seen = [], {}
    for origin, ids in found:
        sub = Submission(ids[0], origin, members=ids[1:])
        if sub.student_id in seen:
            sub.add_problem(Status.DUPLICATE_ID, f"{origin} has the same id as {seen[sub.student_id]}")
        else:
            seen[sub.student_id] = origin
        submissions.append(sub)
    return submissions
