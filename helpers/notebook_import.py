"""Use functions a student wrote in one notebook from another, without copying code by hand.

Part 2's spatial batch norm reuses the student's Part 1 ``batchnorm_forward`` and
``batchnorm_backward``. ``functions_from_notebook`` reads the Part 1 notebook file, runs its
setup cell and the answer cells that define the requested names (nothing else: no tests, no
experiments) in a fresh namespace, and returns the functions. A function that is missing or
still raises ``NotImplementedError`` is replaced by one that raises a clear message saying
what to finish first, so the rest of Part 2 still works.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np


class Unfinished(NotImplementedError):
    """A function from another notebook is not written yet."""


def _cells(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError) as exc:
        raise FileNotFoundError(f"cannot read {path}: {exc}. Keep the notebooks of this homework together "
                                "in one folder, with their original names.") from None


def _source(cell):
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _placeholder(name, notebook, reason):
    def unfinished(*args, **kwargs):
        raise Unfinished(f"{name} from {notebook} {reason}: finish it there (and save the notebook) first; "
                         "this notebook calls your version.")

    unfinished.__name__ = name
    unfinished.unfinished = True
    return unfinished


def _explain_stub(function, notebook):
    """``function``, but a NotImplementedError from it says which notebook to finish."""
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except NotImplementedError:
            raise Unfinished(f"{function.__name__} from {notebook} is not implemented yet: finish it there "
                             "(and save the notebook) first; this notebook calls your version.") from None

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    wrapper.__wrapped__ = function
    return wrapper


def functions_from_notebook(notebook, names):
    """The student's functions ``names`` from ``notebook`` (a path next to the calling notebook).

    Args:
        notebook: path of the .ipynb file, e.g. ``"part1_batchnorm_dropout.ipynb"``.
        names: function names; each must be defined by an answer cell whose nbgrader
            grade_id is that name (that is how the homework's notebooks are laid out).
    Returns:
        SimpleNamespace name -> function. Calling an unfinished one (missing, broken, or still
        raising NotImplementedError) raises ``Unfinished`` with a message saying what to finish;
        ``.unfinished`` lists the names that look unfinished.
    """
    cells = _cells(notebook)
    namespace = {"__name__": f"notebook:{Path(notebook).name}", "np": np}
    for cell in cells:
        if cell.get("cell_type") == "code" and _grade_id(cell) == "setup":
            code = "\n".join(line for line in _source(cell).splitlines() if not line.lstrip().startswith(("%", "!")))
            exec(compile(code, f"{notebook}:setup", "exec"), namespace)
    found, unfinished = {}, []
    for name in names:
        cell = next((c for c in cells if c.get("cell_type") == "code" and _grade_id(c) == name), None)
        if cell is None:
            found[name] = _placeholder(name, notebook, "is not in that notebook")
            unfinished.append(name)
            continue
        try:
            exec(compile(_source(cell), f"{notebook}:{name}", "exec"), namespace)
            found[name] = _explain_stub(namespace[name], notebook)
        except Exception as exc:  # a syntax error or a crash in the student's cell
            found[name] = _placeholder(name, notebook, f"does not run ({type(exc).__name__}: {exc})")
            unfinished.append(name)
            continue
        if "raise NotImplementedError()" in _source(cell):  # the release's stub is still there
            unfinished.append(name)
    if unfinished:
        print(f"Not finished in {notebook}: {', '.join(unfinished)}. The parts of this notebook that use "
              "them will say so; everything else works.")
    return SimpleNamespace(**found, unfinished=unfinished)
