"""Gradescope: the autograder bundle (``bundle``, with ``templates/``), grading one submission inside
its container (``run``, into ``results`` JSON), and reading an exported class (``export``)."""
