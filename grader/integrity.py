"""Checking a submission's test cells against the release before grading.

nbgrader puts the course's version of every test cell back (by ``grade_id``) before running a
notebook, so editing a test cell gains nothing; deleting one would leave its points ungraded.
This reports both: an edited test cell is noted (the course's version is what ran), a deleted
one scores 0. Either gives the ``test cells changed`` status, so a person can look.
"""

import nbformat

from grader.notebook_cells import is_graded, is_solution, nbgrader_meta


def _test_cells(nb):
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells
            if nbgrader_meta(c).get("grade_id") and is_graded(c) and not is_solution(c)}


def _norm(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def compare_test_cells(submitted_path, release_path):
    """(deleted, edited) grade ids of a submitted notebook's test cells, compared with the release."""
    try:
        submitted = nbformat.read(submitted_path, as_version=4)
    except Exception:  # unreadable notebooks are reported by staging
        return [], []
    ours = _test_cells(nbformat.read(release_path, as_version=4))
    theirs = _test_cells(submitted)
    deleted = [gid for gid in ours if gid not in theirs]
    edited = [gid for gid in ours if gid in theirs and _norm(theirs[gid].source) != _norm(ours[gid].source)]
    return deleted, edited
