"""Where the notebook is running: a student's session, or the grader."""

import os


def autograding():
    """True while nbgrader autogrades the notebook (it sets ``NBGRADER_EXECUTION=autograde``).

    Expensive or output-producing steps use this to reuse the files a student submitted
    instead of recomputing or overwriting them.
    """
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"
