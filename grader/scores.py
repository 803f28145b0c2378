"""Reading scores back from nbgrader's gradebook."""

from grader.paths import ASSIGNMENT_ID


def gradebook_scores(course_root, student_id):
    """Scores of one student's graded cells, as nbgrader recorded them.

    Args:
        course_root: the grading course folder (holds ``gradebook.db``).
        student_id: a student that was autograded.
    Returns:
        dict column -> score (float), column as ``notebook/grade_id``; a manually
        graded cell not graded yet has score 0 in nbgrader and is reported as such.
    """
    from nbgrader.api import Gradebook, MissingEntry

    from grader.course_dir import nbgrader_api

    coursedir = nbgrader_api(course_root).coursedir
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            submission = gb.find_submission(ASSIGNMENT_ID, student_id)
        except MissingEntry:
            return {}
        return {
            f"{notebook.name}/{grade.name}": float(grade.score)
            for notebook in submission.notebooks
            for grade in notebook.grades
        }
