"""Hidden tests run here, in the grader's process; the verdict written into the cell is theirs.

A graded test cell has a public part (what the student sees) and hidden parts between
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``. When autograding (``grader.isolation.guard``):

1. the **public part** runs in the student's kernel, as in the student's own notebook; its
   printed text is kept for the feedback, and an error there scores the cell 0 (a kernel can
   only lower its own score that way);
2. the **hidden parts**, joined in order, run in this process against a ``TrustedNamespace``:
   Python's builtins, the course's read-only imports (``np``, ``assert_close``, ...) imported
   here from the grader's own ``helpers``, the definitions of earlier hidden parts of the same
   notebook, and, for a name the notebook's own code defines (``student_names``), the
   student's object in the kernel as a proxy (``grader.isolation.remote``). ``_kernel`` is the
   ``KernelLink`` (``_kernel.namespace()``, ``.module``, ``.builtin``: the kernel's own objects,
   e.g. to build a model there), ``_fetch(proxy)`` the value of a kernel object as plain data,
   and ``_verdict`` the cell's ``Verdict`` (flags for the instructor, measured values such as
   the own model's accuracy for the leaderboard);
3. ``verdict_outputs`` turns the outcome into the cell's outputs: the hidden parts' own printed
   text, then an ``error`` (0 points), a numeric ``execute_result`` (partial credit) or
   nothing (full points), and a ``VERDICT_MIME`` record of the verdict's flags and measures.
   A hidden test that fails because the *grader* lacks something (``GRADER_LACKS``: the CIFAR-10
   test set) does not score 0: its record says ``not_graded``, and the batch leaves that cell
   empty, says so in the status, and regrades it next time (``grader.grading.batch``).

Nothing the kernel prints or emits decides a score, a flag or a leaderboard value: kernel outputs
are reduced to text and images before the verdict is appended (``public_outputs``).
"""

import ast
import builtins
import contextlib
import importlib
import io
import math
import zlib

from nbformat import NotebookNode

from grader.cells import HIDDEN_BEGIN, HIDDEN_END, code_tree, is_test_cell, region_lines, strip_regions
from grader.isolation.kernel_agent import RemoteError
from grader.isolation.remote import LostContact, RemoteRef, TimeLimit
from helpers.data import DataNotFoundError

VERDICT_MIME = "application/vnd.hw3-grader.verdict+json"
PUBLIC_MARK = "public check: "
HIDDEN_MARK = "hidden test: "
MAX_PRINTED = 20_000
MAX_FLAGS = 20
# Outputs of the public part that are kept; their text cannot score (see module doc).
KEPT_DATA = ("text/plain", "image/png", "image/jpeg")
# Exceptions of the grader's own making, raised in this process (a kernel's errors arrive as
# RemoteError, never as these), and what the grader lacked: the cell is not graded, never 0.
GRADER_LACKS = ((DataNotFoundError, "the CIFAR-10 test set"),)
NOT_GRADED = "NotGraded"


def split_test_source(source):
    """(public part, hidden parts joined) of a test cell's source; markers dropped."""
    return strip_regions(source).rstrip("\n"), "\n".join(region_lines(source, HIDDEN_BEGIN, HIDDEN_END))


class TrustedNamespace(dict):
    """Globals of a notebook's hidden tests: see the module doc. Builtins win over the kernel's
    names, so a student's ``abs = lambda x: 0`` never reaches a hidden test."""

    def __init__(self, imports, link, student_names):
        super().__init__(__builtins__=builtins, __name__="__hidden_tests__")
        self.link = link
        self.student_names = frozenset(student_names) - set(imports)
        for name, (module, attribute) in imports.items():
            try:
                mod = importlib.import_module(module)
                self[name] = mod if attribute is None else getattr(mod, attribute)
            except (ImportError, AttributeError) as exc:  # the grader's own set-up: never the kernel's
                raise RuntimeError(f"the grader cannot import {module}.{attribute or ''}: {exc}") from exc
        self["_kernel"] = link
        self["_fetch"] = fetch

    def __missing__(self, name):
        if hasattr(builtins, name):
            return getattr(builtins, name)
        if name not in self.student_names:  # e.g. a helper an earlier hidden part failed to define
            raise KeyError(name)
        return self.link.lookup(name)


class Verdict:
    """What one cell's hidden tests report besides its score: ``flag(text)`` for the instructor
    (grades.csv), ``measure(name, value)`` for numbers such as the own model's test accuracy
    (the Gradescope leaderboard). Only hidden tests can reach it: the kernel never can."""

    def __init__(self):
        self.flags, self.measured = [], {}

    def flag(self, text):
        if len(self.flags) < MAX_FLAGS:
            self.flags.append(str(text)[:500])

    def measure(self, name, value):
        self.measured[str(name)] = float(value)

    def record(self):
        """The VERDICT_MIME record, or None when there is nothing to report."""
        if not self.flags and not self.measured:
            return None
        return {"flags": list(self.flags), "measured": dict(self.measured)}


def without_verdicts(outputs):
    """A non-test cell's outputs without anything in the grader's VERDICT_MIME (only the grader
    writes verdicts, and only into test cells)."""
    kept = []
    for out in outputs:
        data = out.get("data")
        if isinstance(data, dict) and VERDICT_MIME in data:
            data.pop(VERDICT_MIME)
            if not data:
                continue
        kept.append(out)
    return kept


def verdict_record(cell):
    """The VERDICT_MIME record the grader wrote into an autograded cell ({} if none)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "display_data" and isinstance(out.get("data", {}).get(VERDICT_MIME), dict):
            return out["data"][VERDICT_MIME]
    return {}


def student_names(cells):
    """Names the notebook's own code defines at top level (answer and provided cells, not test
    cells): the only names hidden tests look up in the kernel. Private names (``_x``) never are:
    those are the hidden tests' own."""
    names = set()
    for cell in cells:
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        tree = code_tree(cell)
        for node in tree.body if tree else []:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return {n for n in names if not n.startswith("_")}


def fetch(value):
    """The value of a kernel object (a copy, as plain data); anything else as it is."""
    return value._value() if isinstance(value, RemoteRef) else value


def cell_seed(grade_id):
    """The seed the kernel's generators get before a cell's hidden tests (fixed per cell)."""
    return zlib.crc32(str(grade_id).encode()) % (2**31)


def run_hidden(source, namespace):
    """Run hidden test code; returns (printed text, exception or None, value of a final expression)."""
    printed = io.StringIO()
    value = None
    try:
        tree = ast.parse(source)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            exec(compile(tree, "<hidden tests>", "exec"), namespace)  # noqa: S102 (the course's own tests)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<hidden tests>", "eval"), namespace)  # noqa: S307
    except (TimeLimit, LostContact):
        raise
    except BaseException as exc:  # a failed check, or the student's code raised
        return printed.getvalue(), exc, None
    return printed.getvalue(), None, value


def _error(mark, ename, evalue):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{mark}{ename}: {evalue}"])


def describe(exc):
    """(ename, evalue) for the student: the check's own message, or what the student's code raised."""
    if isinstance(exc, RemoteError):
        return exc.ename, f"your code raised it: {exc.evalue}"
    if isinstance(exc, AssertionError) and not str(exc):
        return "AssertionError", "a hidden check failed"
    return type(exc).__name__, str(exc)[:2000]


def public_outputs(outputs):
    """(kept outputs, (ename, evalue) of the public part's error or None).

    Kept: text streams, and display data reduced to text and images; execute results become
    text. Errors are not kept as such: the verdict says whether the public part failed."""
    kept, failure = [], None
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            kept.append(out)
        elif kind == "error":
            failure = failure or (str(out.get("ename", "Error")), str(out.get("evalue", "")))
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in out.get("data", {}).items() if k in KEPT_DATA}
            if kind == "execute_result":
                text = data.get("text/plain", "")
                if text:
                    kept.append(NotebookNode(output_type="stream", name="stdout",
                                             text=f"Out: {''.join(text) if isinstance(text, list) else text}\n"))
            elif data:
                kept.append(NotebookNode(output_type="display_data", data=data, metadata={}))
    return kept, failure


def grader_lacked(exc):
    """What the grader lacked when ``exc`` stopped a hidden test, or None (see ``GRADER_LACKS``)."""
    return next((what for kind, what in GRADER_LACKS if isinstance(exc, kind)), None)


def verdict_outputs(printed, exc, value, points, verdict=None):
    """The trusted outputs of a test cell: printed text, the ``Verdict``'s record, then the
    score-deciding output."""
    outputs = []
    if printed:
        text = printed if len(printed) <= MAX_PRINTED else printed[:MAX_PRINTED] + "\n... (cut)\n"
        outputs.append(NotebookNode(output_type="stream", name="stdout", text=text))
    record = verdict.record() if verdict is not None else None
    lacked = grader_lacked(exc)
    if lacked:
        record = dict(record or {}, not_graded=f"the grader lacked {lacked}")
    if record:
        outputs.append(NotebookNode(output_type="display_data", metadata={}, data={VERDICT_MIME: record}))
    if lacked:  # the message names what was missing, never the grading machine's paths
        outputs.append(_error(HIDDEN_MARK, NOT_GRADED, f"this cell was not graded: the grader lacked {lacked}. "
                                                       "Not your error: it is graded once the grader has it."))
    elif exc is not None:
        outputs.append(_error(HIDDEN_MARK, *describe(exc)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        score = min(max(float(value), 0.0), float(points))
        outputs.append(NotebookNode(output_type="execute_result", execution_count=None, metadata={},
                                    data={"text/plain": repr(score)}))
    return outputs


def public_failure_output(ename, evalue):
    return _error(PUBLIC_MARK, ename, evalue)
