"""The filter notebook's test cells (public + hidden) accept every correct answer and reject
plausible wrong ones, each costing only its own function's points."""

import pytest
from cell_runner import load_cells, run_test_cell

from grader.course import SOURCE_DIR

NOTEBOOK = SOURCE_DIR / "part0_filters.ipynb"
TESTS = {"box_kernel": "test_box_kernel", "laplacian_kernel": "test_laplacian_kernel"}

CORRECT = {
    "box_kernel": {
        "ones over n squared": "def box_kernel(n):\n    return np.ones((n, n)) / n**2",
        "python loops": (
            "def box_kernel(n):\n"
            "    k = [[0.0] * n for _ in range(n)]\n"
            "    for i in range(n):\n"
            "        for j in range(n):\n"
            "            k[i][j] = 1 / (n * n)\n"
            "    return k"
        ),
        "float32": "def box_kernel(n):\n    return np.full((n, n), 1 / n**2, dtype=np.float32)",
        "warns on stderr": (
            "import warnings\n"
            "def box_kernel(n):\n"
            "    warnings.warn('a harmless library warning')\n"
            "    return np.ones((n, n)) / (n * n)"
        ),
    },
    "laplacian_kernel": {
        "4-neighbour, center negative": "def laplacian_kernel():\n    return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])",
        "4-neighbour, center positive": "def laplacian_kernel():\n    return [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]",
        "8-neighbour": "def laplacian_kernel():\n    return np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], float)",
        "8-neighbour, positive, scaled": "def laplacian_kernel():\n    return -np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]]) / 8",
        "weighted diagonals": "def laplacian_kernel():\n    return np.array([[1, 2, 1], [2, -12, 2], [1, 2, 1]]) / 4",
        "float32": "def laplacian_kernel():\n    return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)",
    },
}

WRONG = {
    "box_kernel": {
        "unnormalized": "def box_kernel(n):\n    return np.ones((n, n))",
        "divides by n": "def box_kernel(n):\n    return np.ones((n, n)) / n",
        "identity, sums to 1": "def box_kernel(n):\n    return np.eye(n) / n",
        "off by one size": "def box_kernel(n):\n    return np.ones((n + 1, n + 1)) / (n + 1)**2",
        "odd sizes only": "def box_kernel(n):\n    m = n | 1\n    return np.ones((m, m)) / m**2",
        "hard-coded public cases": (
            "def box_kernel(n):\n"
            "    return np.full((2, 2), 0.25) if n == 2 else np.ones((3, 3)) / 9"
        ),
        "flat vector": "def box_kernel(n):\n    return np.ones(n * n) / n**2",
        "integer division": "def box_kernel(n):\n    return np.ones((n, n)) // n**2",
        "forgot return": "def box_kernel(n):\n    np.ones((n, n)) / n**2",
        "gaussian, not box": (
            "def box_kernel(n):\n"
            "    g = np.exp(-0.5 * (np.arange(n) - (n - 1) / 2) ** 2)\n"
            "    k = np.outer(g, g)\n"
            "    return k / k.sum()"
        ),
        "claims equality": (
            "class _Cheat:\n"
            "    def __eq__(self, other):\n        return True\n"
            "    def sum(self):\n        return 1.0\n"
            "def box_kernel(n):\n    return _Cheat()"
        ),
    },
    "laplacian_kernel": {
        "sobel gradient": "def laplacian_kernel():\n    return np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])",
        "sum not zero": "def laplacian_kernel():\n    return np.array([[0, 1, 0], [1, -3, 1], [0, 1, 0]])",
        "sharpening": "def laplacian_kernel():\n    return np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])",
        "all zeros": "def laplacian_kernel():\n    return np.zeros((3, 3))",
        "x direction only": "def laplacian_kernel():\n    return np.array([[0, 0, 0], [1, -2, 1], [0, 0, 0]])",
        "no curvature response": "def laplacian_kernel():\n    return np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])",
        "lopsided": "def laplacian_kernel():\n    return np.array([[0, 2, 0], [1, -4, 1], [0, 0, 0]])",
        "5x5": "def laplacian_kernel():\n    k = np.zeros((5, 5))\n    k[2, 2], k[1, 2], k[3, 2], k[2, 1], k[2, 3] = -4, 1, 1, 1, 1\n    return k",
        "box kernel": "def laplacian_kernel():\n    return np.ones((3, 3)) / 9",
    },
}


def _cases(table):
    return [(fn, label, code) for fn, answers in table.items() for label, code in answers.items()]


@pytest.mark.parametrize("test_id", sorted(TESTS.values()))
def test_reference_answers_pass(test_id):
    assert run_test_cell(NOTEBOOK, test_id, {}) is None


@pytest.mark.filterwarnings("ignore:a harmless library warning")
@pytest.mark.parametrize("function, label, code", _cases(CORRECT), ids=lambda v: str(v)[:30])
def test_correct_variants_score_full(function, label, code):
    for test_id in TESTS.values():
        failure = run_test_cell(NOTEBOOK, test_id, {function: code})
        assert failure is None, f"{label}: {test_id} rejected a correct answer: {failure!r}"


@pytest.mark.parametrize("function, label, code", _cases(WRONG), ids=lambda v: str(v)[:30])
def test_wrong_answer_loses_only_its_own_points(function, label, code):
    failure = run_test_cell(NOTEBOOK, TESTS[function], {function: code})
    assert isinstance(failure, AssertionError), f"{label}: expected a failed assertion, got {failure!r}"
    assert str(failure), f"{label}: the failure has no message for the student"
    for other, test_id in TESTS.items():
        if other != function:
            assert run_test_cell(NOTEBOOK, test_id, {function: code}) is None


def test_some_wrong_answers_pass_public_tests_and_only_hidden_tests_catch_them():
    """The hidden tests earn their place: these pass every public check."""
    import nbformat

    from grader.cells import strip_regions

    nb = nbformat.read(NOTEBOOK, as_version=4)
    public_only = {
        c.metadata["nbgrader"]["grade_id"]: strip_regions(c.source)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    for function, label in [("laplacian_kernel", "x direction only"), ("box_kernel", "hard-coded public cases")]:
        code = WRONG[function][label]
        namespace = {}
        setup, answers, _ = load_cells(NOTEBOOK)
        for src in setup + list({**answers, function: code}.values()):
            exec(src, namespace)
        exec(public_only[TESTS[function]], namespace)  # public part passes
        assert run_test_cell(NOTEBOOK, TESTS[function], {function: code}) is not None
