"""Copying one student's autograde results from a worker's gradebook into the course gradebook.

Workers grade in their own course folders, each with its own sqlite gradebook (sqlite wants one
writer at a time, and a worker's folder must hold nothing of other students). The parent then
merges each result into the main ``gradebook.db``, one at a time, so formgrader (manual grading)
and ``nbgrader export`` see every student. Manual scores already given are kept.
"""

from grader.course import ASSIGNMENT_ID


def merge_submission(src_url, dst_url, student_id, zero_cells=(), ungraded_cells=()):
    """Copy ``student_id``'s submission (auto scores, manual-grading flags, comments) from src to dst.

    Args:
        src_url, dst_url: sqlalchemy URLs of the worker's and the main gradebook.
        student_id: the student.
        zero_cells: (notebook, grade_id) pairs forced to 0 (test cells the student deleted).
        ungraded_cells: (notebook, grade_id) pairs the grader could not grade (it lacked data): no
            score, and flagged for a person (formgrader lists them as needing a grade).
    Returns:
        True when the source held a submission for the student.
    """
    import warnings

    from nbgrader.api import Gradebook, MissingEntry

    zero, ungraded = set(zero_cells), set(ungraded_cells)
    with warnings.catch_warnings(), Gradebook(src_url) as src, Gradebook(dst_url) as dst:
        warnings.simplefilter("ignore")  # sqlalchemy's autoflush notes from nbgrader's own queries
        try:
            submission = src.find_submission(ASSIGNMENT_ID, student_id)
        except MissingEntry:
            return False
        dst.update_or_create_student(student_id)
        dst.update_or_create_submission(ASSIGNMENT_ID, student_id, timestamp=submission.timestamp)
        for nb in submission.notebooks:
            for grade in nb.grades:
                target = dst.find_grade(grade.name, nb.name, ASSIGNMENT_ID, student_id)
                key = (nb.name, grade.name)
                target.auto_score = 0.0 if key in zero else None if key in ungraded else grade.auto_score
                target.needs_manual_grade = key in ungraded or (key not in zero and grade.needs_manual_grade)
            for comment in nb.comments:
                dst.find_comment(comment.name, nb.name, ASSIGNMENT_ID, student_id).auto_comment = comment.auto_comment
            dst.find_submission_notebook(nb.name, ASSIGNMENT_ID, student_id).flagged = nb.flagged
        dst.db.commit()
    return True


def read_scores(db_url, student_id):
    """Scores of one student's graded cells, as nbgrader recorded them in the gradebook at ``db_url``.

    Returns:
        (scores, pending): scores is a dict column -> points (float), column as
        ``notebook/grade_id``; pending is the set of columns of manually graded answers still
        waiting for a grader (their score is 0 until then).
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(ASSIGNMENT_ID, student_id)
        except MissingEntry:
            return {}, set()
        grades = [(f"{nb.name}/{g.name}", g) for nb in submission.notebooks for g in nb.grades]
        return ({col: float(g.score or 0) for col, g in grades},
                {col for col, g in grades if g.needs_manual_grade})


def submission_scores(course_root, student_id, zero_cells=()):
    """One graded submission's scores, as the grade table and the feedback show them.

    Args:
        course_root: the (worker's) course folder: ``gradebook.db``, ``autograded/<id>/hw3``.
        student_id: the student.
        zero_cells: (notebook, grade_id) pairs scored 0 (test cells the student deleted).
    Returns:
        (scores, pending, ungraded): scores maps column -> points for the cells that have a score;
        pending are written answers waiting for a person, ungraded maps the cells the grader
        could not grade to why (``grader.outputs.flags.not_graded_of_student``). Neither of those is in
        scores: they have no score yet, which is not 0.
    """
    from pathlib import Path

    from grader.outputs.flags import not_graded_of_student

    scores, pending = read_scores(f"sqlite:///{Path(course_root) / 'gradebook.db'}", student_id)
    zero = {f"{nb}/{gid}": 0.0 for nb, gid in zero_cells}
    scores.update(zero)
    pending -= set(zero)  # nbgrader asks a person to look at a deleted test cell; it scores 0
    ungraded = not_graded_of_student(Path(course_root) / "autograded" / student_id / ASSIGNMENT_ID)
    for column in [*pending, *ungraded]:
        scores.pop(column, None)
    return scores, pending, ungraded
