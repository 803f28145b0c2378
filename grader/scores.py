"""Reading scores back from nbgrader's gradebook."""

from grader.paths import ASSIGNMENT_ID


def gradebook_scores(course_root, student_id):
    """Scores of one student's graded cells, as nbgrader recorded them.

    Args:
        course_root: the grading course folder (holds ``gradebook.db``).
        student_id: a student that was autograded.
    Returns:
        (scores, pending): scores is a dict column -> points (float), column as
        ``notebook/grade_id``; pending is the set of columns of manually graded answers
        still waiting for a grader (their score is 0 until then).
    """
    from nbgrader.api import Gradebook, MissingEntry

    from grader.course_dir import nbgrader_api

    coursedir = nbgrader_api(course_root).coursedir
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            submission = gb.find_submission(ASSIGNMENT_ID, student_id)
        except MissingEntry:
            return {}, set()
        grades = [(f"{nb.name}/{grade.name}", grade) for nb in submission.notebooks for grade in nb.grades]
        scores = {column: float(grade.score) for column, grade in grades}
        pending = {column for column, grade in grades if grade.needs_manual_grade}
        return scores, pending
