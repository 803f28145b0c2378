"""Authoring the homework: the student release built from the source notebooks and checked for
leaks (``release``, with the Colab set-up cell from ``templates/``), and the demo class (``demo``)."""
