"""Grading a class: the batch (``autograde``), each submission's steps, the worker process that runs
nbgrader, the hidden tests run in the grader's process, the gradebook and resuming.
"""

from grader.grading.batch import autograde
from grader.grading.grading_data import GraderLacksData, check_grading_data
from grader.grading.options import Limits, Options

__all__ = ["GraderLacksData", "Limits", "Options", "autograde", "check_grading_data"]
