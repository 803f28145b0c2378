"""Instructor tool for the hw3 course pack: build the student release and autograde submissions.

Run it as ``python -m grader <command>`` from the repository root; see ``grader.cli``.
Never shipped to students.
"""
