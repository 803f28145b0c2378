"""Turning what instructors hand us (zips, folders) into submissions ready to stage.

A PATH given to ``autograde`` is one of:
  * a ``.zip`` file: one student, id from the file name;
  * a folder with notebooks at its top: one student, id from the folder name;
  * any other folder: each ``.zip`` or folder inside it is one student.
Zips are unpacked safely (no absolute paths, no ``..``, no links, size caps); one extra
top-level folder inside a submission is tolerated.
"""

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

# Statuses, most severe first: a student's row shows the most severe one that applies.
GRADED = "graded"
MISSING_NOTEBOOK = "missing notebook"
UNREADABLE_NOTEBOOK = "unreadable notebook"
UNREADABLE_ZIP = "unreadable zip"
DUPLICATE_ID = "duplicate student id"
TIMEOUT = "timeout"
GRADING_ERROR = "grading error"
SEVERITY = [UNREADABLE_ZIP, DUPLICATE_ID, GRADING_ERROR, TIMEOUT, UNREADABLE_NOTEBOOK,
            MISSING_NOTEBOOK, GRADED]

# Caps on an unpacked zip, generous for notebooks, figures and small checkpoints.
MAX_TOTAL_BYTES = 1 << 30
MAX_FILE_BYTES = 512 << 20
MAX_FILES = 5000
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".DS_Store"}
# "Copy of X.ipynb", "X (1).ipynb", "X-Copy1.ipynb": what browsers and Jupyter do to names.
_RENAME_NOISE = re.compile(r"^(copy of )+|( ?\(\d+\)| ?-copy\d*)+$", re.I)


@dataclass
class Submission:
    """One student's submission as found on disk."""

    student_id: str
    origin: Path  # the zip or folder it came from
    problems: list = field(default_factory=list)  # (status, detail) pairs
    root: Path | None = None  # folder holding its notebooks, once unpacked
    notebooks: dict = field(default_factory=dict)  # expected file name -> path found

    def add_problem(self, status, detail):
        self.problems.append((status, detail))

    @property
    def status(self):
        """The most severe problem's status, or ``graded``."""
        statuses = [s for s, _ in self.problems] or [GRADED]
        return min(statuses, key=SEVERITY.index)

    @property
    def detail(self):
        return "; ".join(d for _, d in self.problems)


def student_id_from_name(name):
    """A safe student id from a file or folder name: extension dropped, odd characters as '_'."""
    stem = name[:-4] if name.lower().endswith(".zip") else name
    sid = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")
    return sid or "unnamed"


def _is_single_submission(folder):
    return any(p.suffix == ".ipynb" for p in folder.iterdir() if p.is_file())


def discover(paths):
    """Submissions named by the command-line PATHs, in a stable order.

    Returns:
        list of Submission; a second submission with an id already seen gets the
        ``duplicate student id`` status instead of overwriting the first.
    """
    found = []
    for path in map(Path, paths):
        if path.is_file():
            found.append(path)
        elif path.is_dir() and _is_single_submission(path):
            found.append(path)
        elif path.is_dir():
            found += sorted(
                p for p in path.iterdir()
                if (p.is_dir() and p.name not in IGNORED_PARTS and not p.name.startswith("."))
                or p.suffix.lower() == ".zip"
            )
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    submissions, seen = [], {}
    for origin in found:
        sub = Submission(student_id_from_name(origin.name), origin)
        if sub.student_id in seen:
            sub.add_problem(DUPLICATE_ID, f"{origin} has the same id as {seen[sub.student_id]}")
        else:
            seen[sub.student_id] = origin
        submissions.append(sub)
    return submissions


def _zip_member_problem(info):
    """Why a zip member must not be extracted, or None when it is safe."""
    name = PurePosixPath(info.filename)
    if info.filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", info.filename):
        return "absolute path"
    if ".." in name.parts or "\\" in info.filename:
        return "path outside the submission"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if info.file_size > MAX_FILE_BYTES:
        return f"file larger than {MAX_FILE_BYTES >> 20} MiB"
    return None


def unpack(sub, dest):
    """Extract a zip submission into ``dest`` (or copy a folder submission there).

    Unsafe members are skipped and reported; a zip over the caps or unreadable marks the
    submission ``unreadable zip``. Returns nothing; sets ``sub.root`` on success.
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if sub.origin.is_dir():
        shutil.copytree(sub.origin, dest, dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns(*IGNORED_PARTS))
        sub.root = dest
        return
    try:
        with zipfile.ZipFile(sub.origin) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if len(members) > MAX_FILES:
                raise ValueError(f"{len(members)} files (the limit is {MAX_FILES})")
            if sum(i.file_size for i in members) > MAX_TOTAL_BYTES:
                raise ValueError(f"more than {MAX_TOTAL_BYTES >> 20} MiB once unpacked")
            for info in members:
                if IGNORED_PARTS & set(PurePosixPath(info.filename).parts):
                    continue
                problem = _zip_member_problem(info)
                if problem:
                    sub.add_problem(GRADED, f"skipped {info.filename!r} in the zip ({problem})")
                    continue
                target = dest.joinpath(*PurePosixPath(info.filename).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        sub.add_problem(UNREADABLE_ZIP, f"{sub.origin.name}: {exc}")
        return
    sub.root = dest


def _canonical(name):
    """Notebook name with the usual rename noise removed, lower-cased."""
    stem = name[:-6] if name.lower().endswith(".ipynb") else name
    return _RENAME_NOISE.sub("", stem.strip()).strip().lower()


def match_notebooks(sub, expected_names):
    """Find each expected notebook in an unpacked submission.

    Exact names win; otherwise a notebook whose name differs only by rename noise
    ("Copy of ...", " (1)") is accepted and reported. Looks at the top of the
    submission and one folder down. Missing ones are reported as ``missing notebook``.
    """
    candidates = sorted(
        p for p in sub.root.rglob("*.ipynb")
        if len(p.relative_to(sub.root).parts) <= 2
        and not IGNORED_PARTS & set(p.relative_to(sub.root).parts)
    )
    for name in expected_names:
        exact = [p for p in candidates if p.name == name]
        fuzzy = [p for p in candidates if _canonical(p.name) == _canonical(name)]
        if exact or fuzzy:
            chosen = (exact or fuzzy)[0]
            sub.notebooks[name] = chosen
            if chosen.name != name:
                sub.add_problem(GRADED, f"graded {chosen.name!r} as {name}")
        else:
            others = ", ".join(p.name for p in candidates) or "no notebooks"
            sub.add_problem(MISSING_NOTEBOOK, f"{name} not found (found: {others})")
