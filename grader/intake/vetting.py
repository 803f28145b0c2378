"""Vetting an unpacked submission before it is staged: which notebooks it has, which can be read,
what it did to the test cells, and whether it shipped its own helpers.

Each check reports through ``sub.add_problem`` and never raises for bad input:
  * ``match_notebooks``: each expected notebook, under its name or a renamed copy ("Copy of X");
  * ``drop_unreadable_notebooks``: notebooks nbformat cannot read, or too large, are left out;
  * ``check_test_cells``: nbgrader puts the course's version of every test cell back (by
    ``grade_id``) before running a notebook, so editing one gains nothing; deleting one would
    leave its points ungraded. An edited test cell is noted, a deleted one scores 0; either gives
    the ``test cells changed`` status, so a person can look;
  * ``note_submitted_helpers``: a shipped ``helpers/`` that differs from the course's is noted
    (it is never used either way).
"""

import re
from pathlib import Path

import nbformat

from grader.cells import is_test_cell, nbgrader_meta
from grader.course import HELPERS_DIR
from grader.intake.unpacking import IGNORED_PARTS
from grader.results import Status

# A notebook larger than this is not graded (``vetting.drop_unreadable_notebooks``). The course's
# notebooks are under 100 KiB, a few MiB with all their figures; past this an attachment or output
# is what makes the size, and nbformat, nbgrader and the feedback page would each hold it again
# (a 100 MB attachment made a 107 MB feedback page).
MAX_NOTEBOOK_BYTES = 50 << 20
# "Copy of X.ipynb", "X (1).ipynb", "X-Copy1.ipynb": what browsers and Jupyter do to names.
_RENAME_NOISE = re.compile(r"^(copy of )+|( ?\(\d+\)| ?-copy\d*)+$", re.I)


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
                sub.add_problem(Status.GRADED, f"graded {chosen.name!r} as {name}")
        else:
            others = ", ".join(p.name for p in candidates) or "no notebooks"
            sub.add_problem(Status.MISSING_NOTEBOOK, f"{name} not found (found: {others})")


def drop_unreadable_notebooks(sub):
    """Remove notebooks nbformat cannot read from ``sub.notebooks``, reporting each.

    A notebook that is not JSON, or is JSON but not a notebook, would otherwise stop
    nbgrader for the whole submission; dropped, it scores 0 and the rest is graded.
    So is one over ``MAX_NOTEBOOK_BYTES`` (huge attachments or outputs), before it is read.
    """
    for name, path in list(sub.notebooks.items()):
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            del sub.notebooks[name]
            sub.add_problem(Status.UNREADABLE_NOTEBOOK, f"{name} is too large to grade ({size >> 20} MiB; "
                                                        f"the limit is {MAX_NOTEBOOK_BYTES >> 20} MiB)")
            continue
        try:
            nb = nbformat.read(path, as_version=4)
            if not isinstance(nb.get("cells"), list):
                raise ValueError("no list of cells")
        except Exception as exc:  # nbformat raises many types for bad input
            del sub.notebooks[name]
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            sub.add_problem(Status.UNREADABLE_NOTEBOOK, f"{name} cannot be read ({reason})")


def _test_cells(nb):
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
            if nbgrader_meta(c).get("grade_id") and is_test_cell(c)}


def _norm(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def compare_test_cells(submitted_path, release_path):
    """(deleted, edited) grade ids of a submitted notebook's test cells, compared with the release."""
    try:
        submitted = nbformat.read(submitted_path, as_version=4)
    except Exception:  # unreadable notebooks are reported by drop_unreadable_notebooks
        return [], []
    ours = _test_cells(nbformat.read(release_path, as_version=4))
    theirs = _test_cells(submitted)
    deleted = [gid for gid in ours if gid not in theirs]
    edited = [gid for gid in ours if gid in theirs and _norm(theirs[gid].source) != _norm(ours[gid].source)]
    return deleted, edited


def check_test_cells(sub, release_dir):
    """Report edited and deleted test cells; returns the (notebook, grade_id) pairs deleted."""
    zero = []
    for name, path in sub.notebooks.items():
        deleted, edited = compare_test_cells(path, Path(release_dir) / name)
        stem = name[:-6]
        if edited:
            sub.add_problem(Status.TEST_CELLS_CHANGED, f"{stem}: test cells edited ({', '.join(edited)}); "
                                                       "the course's version was run")
        if deleted:
            sub.add_problem(Status.TEST_CELLS_CHANGED, f"{stem}: test cells deleted ({', '.join(deleted)}); "
                                                       "they score 0")
            zero += [(stem, gid) for gid in deleted]
    return zero


def note_submitted_helpers(sub):
    """Note a shipped helpers/ that is not the released one (it is never used either way)."""
    theirs = next(iter(sub.notebooks.values())).parent / "helpers"
    if theirs.is_dir():
        ours = HELPERS_DIR  # the release (and the Gradescope bundle) carries a copy of these
        changed = [p.name for p in sorted(theirs.glob("*.py"))
                   if not (ours / p.name).exists() or (ours / p.name).read_bytes() != p.read_bytes()]
        if changed:
            sub.add_problem(Status.GRADED, "the submitted helpers/ differs from the released one "
                                           f"({', '.join(changed[:5])}); the course's helpers were used")
