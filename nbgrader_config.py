"""nbgrader settings for plain ``nbgrader`` commands run from the repository root.

The grader (``python -m grader ...``) builds the same settings itself, for whichever course
folder it works in (a temporary one for ``release``, the grading folder for ``autograde``).
To open a grading run in nbgrader's formgrader: ``nbgrader formgrader --CourseDirectory.root=autograded``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from grader.course import nbgrader_config  # noqa: E402

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)
c.merge(nbgrader_config(os.path.dirname(os.path.abspath(__file__))))
