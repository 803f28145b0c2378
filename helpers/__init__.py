"""Shared code for the hw3 notebooks: gradient checks, test checks, data, layers, training, plots.

This package ships with the student release (``release/hw3/helpers``) and holds no
solutions. Notebooks import it as ``helpers`` from their own folder, so nothing needs
to be installed. During autograding the grader always uses the course's own copy,
never one that arrives inside a submission.
"""

__all__ = [
    "checkpoints", "checks", "colab", "data", "experiments", "fast_layers", "gradient_check", "images", "layers",
    "notebook_import", "optim", "plotting", "preprocess", "runtime", "solver", "submission", "torch_data",
    "training",
]
