"""``python -m grader check ZIP``: the student's pre-submit check, run by an instructor.

Runs ``helpers.submission``'s dry run on a submitted zip, with the course's own ``helpers/``: the
notebooks run in fresh kernels as the grader runs them (saved results and models, nothing
retrained), and the public tests' table is printed. Hidden tests are not involved: this answers
"what did the student see when they checked?", e.g. for a regrade request.
"""

from grader.course import HELPERS_DIR


def check_zip(zip_path, timeout=600):
    """Print the public-test table of ``zip_path``; returns the exit status (0: all public tests pass)."""
    from helpers.submission import check_submission

    return 0 if check_submission(zip_path, helpers_dir=HELPERS_DIR, timeout=timeout) else 1
