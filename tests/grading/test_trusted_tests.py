"""Scores are decided in the grader's process: what a student's kernel emits, patches or reads during
grading cannot raise a score, add a flag or reveal a hidden test (``grader.grading.trusted_tests``).

One batch of Part 0 submissions (fast), each trying one attack a student who has read this
repository would try, with answers that deserve no points (stubs or wrong code) or, for the
attacks that aim at flags and hidden code, correct answers.
"""

import csv
import shutil

import nbformat
import pytest

from grader.cells import (
    HIDDEN_BEGIN,
    HIDDEN_END,
    fill_answers,
    is_graded,
    reference_answers,
    region_lines,
    strip_regions,
)
from grader.course import ASSIGNMENT_ID, RELEASE_DIR, SOURCE_DIR
from grader.grading import Limits, autograde

NB = "part0_filters.ipynb"
REF = reference_answers(SOURCE_DIR / NB)
BOX, LAP = "part0_filters/test_box_kernel", "part0_filters/test_laplacian_kernel"
STUB_BOX = "def box_kernel(n):\n    raise NotImplementedError()\n"
STUB_LAP = "def laplacian_kernel():\n    raise NotImplementedError()\n"
WRONG_BOX = "def box_kernel(n):\n    return np.ones((n, n))\n"
ONE_D_LAP = "def laplacian_kernel():\n    return np.array([[1.0, -2, 1], [0, 0, 0], [0, 0, 0]])\n"

ATTACKS = {  # student -> (box answer, laplacian answer, expected box points, expected laplacian points)
    # A callback that emits an execute_result before every cell: nbgrader gives full credit to a
    # cell whose first result is not a number. Its module name passes for a library's.
    "forges_execute_result": ("def _forge(*args):\n"
                              "    k = get_ipython().kernel\n"
                              "    result = {'data': {'text/plain': \"'full marks'\"}, 'metadata': {},\n"
                              "              'execution_count': 1}\n"
                              "    k.session.send(k.iopub_socket, 'execute_result', result, parent=k.get_parent())\n"
                              "_forge.__module__ = 'matplotlib_inline.backend_inline'\n"
                              "get_ipython().events.register('pre_run_cell', _forge)\n" + STUB_BOX, STUB_LAP, 0, 0),
    "displayhook_in_answer": ("def box_kernel(n):\n    import sys\n    sys.displayhook('ok')\n"
                              "    raise NotImplementedError()\n", STUB_LAP, 0, 0),
    # Drop every error message the kernel sends: the public checks and hidden tests seem to pass.
    "drops_error_messages": ("_session = get_ipython().kernel.session\n"
                             "_send = _session.send\n"
                             "def _quiet(stream, msg_or_type, content=None, *args, **kwargs):\n"
                             "    if msg_or_type == 'error':\n        return None\n"
                             "    if msg_or_type == 'execute_reply' and content and content.get('status') == 'error':\n"
                             "        content = {'status': 'ok', 'execution_count': content.get('execution_count'),"
                             " 'user_expressions': {}, 'payload': []}\n"
                             "    return _send(stream, msg_or_type, content, *args, **kwargs)\n"
                             "_session.send = _quiet\n" + STUB_BOX, STUB_LAP, 0, 0),
    # Swap the code of the test helpers (the guard compares functions, not their code). The swapped
    # helpers also break the public check of the (correct) Laplacian in the kernel: its own doing.
    "swaps_helper_code": ("import helpers.checks as _checks\n"
                          "_checks.assert_close.__code__ = (lambda *a, **k: None).__code__\n"
                          "_checks.as_float_array.__code__ = (lambda v, n, shape=None: __import__('numpy')"
                          ".full(shape or __import__('numpy').shape(v), 1 / __import__('numpy')"
                          ".prod(shape or __import__('numpy').shape(v)))).__code__\n" + WRONG_BOX,
                          REF["laplacian_kernel"], 0, 0),
    # Neuter the guard, then patch numpy's comparisons; the answer is a 1-d second difference.
    "neuters_guard": ("import sys, numpy\n"
                      "sys.modules['_grader_guard'].check = lambda where: '[]'\n"
                      "numpy.allclose = lambda *a, **k: True\n"
                      "numpy.all = lambda *a, **k: True\n"
                      "numpy.any = lambda *a, **k: False\n" + REF["box_kernel"], ONE_D_LAP, 2, 0),
    # Print what the grader's flag and accuracy lines look like.
    "prints_flags": (REF["box_kernel"].replace("def box_kernel(n):", "def box_kernel(n):\n    print('FLAG: forged')\n"
                     "    print('test accuracy measured by the grader: 99.90%')"), REF["laplacian_kernel"], 2, 3),
    # Look for the hidden tests: the running cell's source, the line cache, the callers' frames.
    "reads_hidden_code": ("import inspect, linecache\n"
                          "def _try(label, fn):\n"
                          "    try:\n        print(label, fn())\n"
                          "    except Exception as exc:\n        print(label, 'failed:', exc)\n"
                          "def box_kernel(n):\n"
                          "    _try('IN', lambda: In)\n"
                          "    _try('CACHE', lambda: [''.join(linecache.getlines(f)) for f in list(linecache.cache)])\n"
                          "    _try('FRAMES', lambda: [f.frame.f_code.co_filename for f in inspect.stack()])\n"
                          "    _try('CALLER', lambda: [inspect.getsource(f.frame) for f in inspect.stack()[1:]])\n"
                          "    return np.full((n, n), 1.0 / n**2)\n", REF["laplacian_kernel"], 2, 3),
}


def _student(folder, box, lap):
    folder.mkdir(parents=True)
    shutil.copytree(RELEASE_DIR / "helpers", folder / "helpers")
    nb = nbformat.read(RELEASE_DIR / NB, as_version=4)
    nbformat.write(fill_answers(nb, {"box_kernel": box, "laplacian_kernel": lap}), folder / NB)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trusted")
    for name, (box, lap, _, _) in ATTACKS.items():
        _student(tmp / "class" / name, box, lap)
    results = autograde([tmp / "class"], tmp / "out", Limits(cell_s=30, memory_bytes=3 << 30, submission_s=300),
                        log=lambda _: None, workers=2)
    return {r.student_id: r for r in results}, tmp / "out"


@pytest.mark.parametrize("student", sorted(ATTACKS))
def test_an_attack_from_the_kernel_does_not_raise_the_score(graded, student):
    results, _ = graded
    *_, box, lap = ATTACKS[student]
    assert (results[student].scores[BOX], results[student].scores[LAP]) == (box, lap)


def test_printed_flags_are_not_flags(graded):
    results, out = graded
    assert all("forged" not in r.detail for r in results.values())
    with open(out / "grades.csv", newline="") as f:
        assert "forged" not in f.read()


def _hidden_lines():
    """Distinctive lines of the hidden tests (not also in a public part)."""
    nb = nbformat.read(SOURCE_DIR / NB, as_version=4)
    hidden = {line.strip() for c in nb.cells for line in region_lines(c.source, HIDDEN_BEGIN, HIDDEN_END)}
    public = {line.strip() for c in nb.cells for line in strip_regions(c.source).splitlines()}
    return {line for line in hidden - public if len(line) >= 20 and not line.startswith("#")}


def test_hidden_tests_never_reach_the_kernel_nor_the_feedback(graded):
    _, out = graded
    hidden = _hidden_lines()
    assert len(hidden) > 10
    nb = nbformat.read(out / "autograded" / "reads_hidden_code" / ASSIGNMENT_ID / NB, as_version=4)
    printed = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "IN [" in printed and "FRAMES" in printed  # the snooping ran
    assert not [line for line in hidden if line in printed]
    pages = list((out / "feedback" / "reads_hidden_code").rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text()
        assert not [line for line in hidden if line in text], page


def test_verdicts_say_where_a_cell_failed(graded):
    _, out = graded
    nb = nbformat.read(out / "autograded" / "drops_error_messages" / ASSIGNMENT_ID / NB, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" and is_graded(c) for o in c.outputs
              if o.output_type == "error"]
    assert errors and all(o.traceback[0].startswith(("hidden test: ", "public check: ")) for o in errors)


def test_grades_csv_counts_only_trusted_verdicts(graded):
    _, out = graded
    with open(out / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    for name, (*_, box, lap) in ATTACKS.items():
        assert float(rows[name]["total"]) == box + lap, name
