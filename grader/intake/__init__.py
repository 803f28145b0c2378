"""From what instructors hand over (zips, folders, LMS and Gradescope exports) to submissions staged
where nbgrader expects them: discovery -> unpacking -> vetting -> staging.
"""

from grader.intake.discovery import Submission, discover, student_id_from_name
from grader.intake.staging import stage
from grader.intake.unpacking import IGNORED_PARTS, unpack
from grader.intake.vetting import (
    check_test_cells,
    drop_unreadable_notebooks,
    match_notebooks,
    note_submitted_helpers,
)

__all__ = [
    "IGNORED_PARTS", "Submission", "check_test_cells", "discover", "drop_unreadable_notebooks", "match_notebooks",
    "note_submitted_helpers", "stage", "student_id_from_name", "unpack",
]
