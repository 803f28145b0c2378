"""Instructor notebooks (notebooks/*.ipynb) are committed clean, run top to bottom, and their answers
agree with independent computations (numpy, scipy, closed form, the csv module).

Each notebook runs once per test session in a kernel (cwd notebooks/, MPLBACKEND=Agg) and writes its
``ANSWERS`` dict to ``$HW3_ANSWERS_DIR/<notebook>.json`` and its figures to ``$HW3_FIGURES_DIR``; the
dashboard reads a small synthetic ``grades.csv`` through ``$HW3_GRADES_CSV``.
"""

import csv
import json
import random
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from scipy import signal

from grader.cells import graded_cells
from grader.course import REPO_ROOT, SOURCE_DIR, source_notebook_names
from grader.outputs.grades_csv import csv_header

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED_FIGURES = {
    "class_dashboard": ["dashboard_hardest_status.png", "dashboard_questions.png", "dashboard_totals.png"],
    "convolution_fir": ["conv2d_answers.png", "fir_boxcar.png", "fir_output.png", "fir_time_invariance.png"],
    "feature_dimensions": ["gap_images.png", "gap_outputs.png", "receptive_field.png"],
    "normalization_figures": ["batchnorm_1d.png", "batchnorm_1d_blank.png", "batchnorm_1d_check.png",
                              "batchnorm_2d.png", "batchnorm_2d_blank.png"],
}


# ---------------------------------------------------------------- synthetic grades.csv


def write_synthetic_grades(path, seed=0):
    """A small grades.csv with the autograder's header: graded students with full, partial and zero
    scores, written answers pending (empty cells), an empty autograded cell, and other statuses."""
    cells = [c for name in source_notebook_names() for c in graded_cells(SOURCE_DIR / name)]
    rng = random.Random(seed)
    auto = [c for c in cells if not c.manual]
    students = []
    for i in range(8):
        scores = {c.column: None if c.manual else rng.choice([0.0, c.points / 2, c.points, c.points]) for c in cells}
        scores[auto[1].column] = 0.0  # nobody passes this one: the hardest test
        scores[auto[2].column] = auto[2].points  # everybody passes this one
        students.append((f"s{i:02d}", "graded", scores))
    students[3][2][auto[0].column] = None  # an empty (not graded) cell must not count as a zero
    students.append(("s10", "timeout", {c.column: 0.0 for c in cells}))
    students.append(("s11", "missing notebook", {c.column: 0.0 if c.notebook == "part2_convolution" else
                                                 (None if c.manual else c.points) for c in cells}))
    students.append(("s12", "duplicate student id", {c.column: None for c in cells}))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(csv_header(cells))
        for sid, status, scores in students:
            pending = sum(c.points for c in cells if c.manual and scores[c.column] is None and status == "graded")
            writer.writerow([sid, status, *("" if scores[c.column] is None else f"{scores[c.column]:g}" for c in cells),
                             f"{sum(v for v in scores.values() if v is not None):g}",
                             f"{sum(c.points for c in cells):g}", f"{pending:g}", ""])
    return {c.column: c.points for c in cells}, [c.column for c in cells if c.manual]


# ---------------------------------------------------------------- running the notebooks


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Every instructor notebook executed once: errors per notebook, ANSWERS per notebook, folders."""
    tmp = tmp_path_factory.mktemp("instructor-notebooks")
    answers_dir, figures_dir, grades_csv = tmp / "answers", tmp / "figures", tmp / "grades.csv"
    answers_dir.mkdir()
    points, manual = write_synthetic_grades(grades_csv)
    errors = {}
    with pytest.MonkeyPatch.context() as mp:  # the kernel inherits this environment
        mp.setenv("MPLBACKEND", "Agg")
        mp.setenv("HW3_ANSWERS_DIR", str(answers_dir))
        mp.setenv("HW3_FIGURES_DIR", str(figures_dir))
        mp.setenv("HW3_GRADES_CSV", str(grades_csv))
        for name in NOTEBOOKS:
            nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
            NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
            errors[name] = [(c.get("id"), o.ename, o.evalue) for c in nb.cells if c.cell_type == "code"
                            for o in c.outputs if o.output_type == "error"]
    answers = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in answers_dir.glob("*.json")}
    return SimpleNamespace(errors=errors, answers=answers, figures=figures_dir, grades_csv=grades_csv, points=points,
                           manual=manual)


def answers_of(run, notebook):
    assert not run.errors[f"{notebook}.ipynb"], run.errors[f"{notebook}.ipynb"]
    assert notebook in run.answers, f"{notebook} wrote no ANSWERS"
    return run.answers[notebook]


# ---------------------------------------------------------------- committed form


def test_the_instructor_notebooks_are_there():
    assert [n.removesuffix(".ipynb") for n in NOTEBOOKS] == sorted(EXPECTED_FIGURES)
    assert "figures/" in (NOTEBOOKS_DIR / ".gitignore").read_text().split()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    nb = json.loads((NOTEBOOKS_DIR / name).read_text(encoding="utf-8"))
    dirty = [c.get("id") for c in nb["cells"] if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"{name}: strip outputs of cells {dirty} (e.g. `nbstripout` or Clear All Outputs)"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_layout(name):
    """A markdown title first, then the configuration cell; ANSWERS written at the end."""
    cells = nbformat.read(NOTEBOOKS_DIR / name, as_version=4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    code = [c.source for c in cells if c.cell_type == "code"]
    assert "Configuration" in code[0] and "NOTEBOOK = " in code[0]
    assert "ANSWERS_DIR" in code[-1]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_runs_top_to_bottom(name, run):
    assert not run.errors[name], run.errors[name]
    stem = name.removesuffix(".ipynb")
    assert stem in run.answers
    assert all((run.figures / f).is_file() for f in EXPECTED_FIGURES[stem]), sorted(p.name for p in
                                                                                   run.figures.iterdir())


# ---------------------------------------------------------------- normalization_figures


def test_batchnorm_1d(run):
    a = answers_of(run, "normalization_figures")["one_d"]
    assert (a["input_mean"], a["input_var"], a["gamma"], a["beta"]) == (1.5, 0.16, 1.0, 3.0)  # the handout's
    assert a["bn_mean"] == a["beta"]
    assert a["bn_var"] == pytest.approx(a["gamma"] ** 2, abs=1e-3)  # the input's variance does not matter
    assert a["bn_var"] == pytest.approx(a["gamma"] ** 2 * a["input_var"] / (a["input_var"] + a["eps"]), rel=1e-12)
    # Samples through the Part 1 batch norm: exact batch identities.
    s2 = a["sample_input_var"]
    assert a["sample_bn_mean"] == pytest.approx(a["beta"], abs=1e-9)
    assert a["sample_bn_var"] == pytest.approx(a["gamma"] ** 2 * s2 / (s2 + a["eps"]), abs=1e-9)
    lo, hi = a["x_limits"]
    assert lo < a["input_mean"] - 3 * np.sqrt(a["input_var"]) and a["beta"] + 2.5 < hi  # both curves on the axis


def test_batchnorm_2d(run):
    a = answers_of(run, "normalization_figures")["two_d"]
    cov = np.array(a["input_cov"])
    std = np.sqrt(np.diag(cov))
    correlation = cov / np.outer(std, std)
    rho = correlation[0, 1]
    assert abs(rho) > 0.1  # the example must be correlated
    np.testing.assert_allclose(a["correlation"], correlation, atol=1e-12)
    np.testing.assert_allclose(a["input_eigvals"], np.linalg.eigvalsh(cov), atol=1e-12)
    np.testing.assert_allclose(a["input_semi_axes_1sd"], np.sqrt(np.linalg.eigvalsh(cov)), atol=1e-12)
    v = np.array(a["input_eigvecs"])
    np.testing.assert_allclose(v @ np.diag(a["input_eigvals"]) @ v.T, cov, atol=1e-12)
    # After batch norm (gamma 1, beta 0): mean 0, covariance = the correlation matrix (up to eps).
    np.testing.assert_allclose(a["bn_mean"], 0, atol=1e-12)
    np.testing.assert_allclose(a["bn_cov"], correlation, atol=1e-4)
    assert not np.allclose(a["bn_cov"], np.eye(2), atol=0.05)  # not a circle
    np.testing.assert_allclose(a["bn_eigvals"], [1 - abs(rho), 1 + abs(rho)], atol=1e-4)
    assert a["bn_major_axis_degrees"] == pytest.approx(45.0 if rho > 0 else -45.0, abs=1e-3)  # eps: off by ~2e-4
    # ... and what the samples through Part 1's batch norm gave.
    np.testing.assert_allclose(a["sample_bn_mean"], 0, atol=1e-9)
    np.testing.assert_allclose(a["sample_bn_cov"], correlation, atol=0.02)
    s = np.array(a["sample_input_cov"])
    d = np.sqrt(np.diag(s) + 1e-5)
    np.testing.assert_allclose(a["sample_bn_cov"], s / np.outer(d, d), atol=1e-9)
    for k in (1, 2):
        inside = a["inside_fraction"][f"{k}sd"]
        assert inside["theory"] == pytest.approx(1 - np.exp(-k**2 / 2))
        assert inside["after_bn"] == pytest.approx(inside["theory"], abs=0.01)


# ---------------------------------------------------------------- convolution_fir


def test_fir_1d(run):
    a = answers_of(run, "convolution_fir")
    n = np.array(a["n"])
    h0, h = min(a["h_n"]), np.zeros(max(a["h_n"]) - min(a["h_n"]) + 1)
    for k, v in zip(a["h_n"], a["h_values"], strict=True):
        h[k - h0] = v
    full = np.convolve(np.ones(a["L"]), h)  # starts at n = 0 + h0
    expected = {h0 + i: v for i, v in enumerate(full)}
    np.testing.assert_allclose(a["y"], [expected.get(int(m), 0.0) for m in n])
    np.testing.assert_allclose(a["x"], ((n >= 0) & (n < a["L"])).astype(float))
    # Time invariance: x(n - shift) gives y(n - shift).
    np.testing.assert_allclose(a["y_shift"], [expected.get(int(m) - a["shift"], 0.0) for m in n])
    assert set(expected) <= set(n.tolist()) and {m + a["shift"] for m in expected} <= set(n.tolist())
    assert a["n_plotted"]["x"] == [-2, 8] and a["n_plotted"]["y"] == [-6, 12]
    assert a["L"] == 7 and a["shift"] == 5


def test_conv_2d(run):
    a = answers_of(run, "convolution_fir")
    x, h = np.array(a["x2d"]), np.array(a["h2d"])
    np.testing.assert_array_equal(x, np.arange(1, 26).reshape(5, 5))
    np.testing.assert_array_equal(h, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])
    out = {name: np.array(case["output"]) for name, case in a["conv2d"].items()}
    assert {name: (c["stride"], c["pad"]) for name, c in a["conv2d"].items()} == {
        "no_padding": (1, 0), "stride1_pad1": (1, 1), "stride2_pad1": (2, 1)}
    np.testing.assert_array_equal(out["no_padding"], signal.convolve2d(x, h, mode="valid"))
    np.testing.assert_array_equal(out["stride1_pad1"], signal.convolve2d(x, h, mode="same"))
    np.testing.assert_array_equal(out["stride2_pad1"], signal.convolve2d(x, h, mode="same")[::2, ::2])
    # The answer key a student's work is marked against: stride 2 gives 3 x 3, with these values.
    assert out["stride2_pad1"].shape == (3, 3)
    np.testing.assert_array_equal(out["stride2_pad1"], [[-19, -32, -29], [-30, -40, -30], [49, 72, 59]])
    np.testing.assert_array_equal(out["no_padding"], np.full((3, 3), -40))
    # The kernel is flipped (convolution), not slid as is (correlation): those answers differ.
    correlation = signal.correlate2d(x, h, mode="valid")
    np.testing.assert_array_equal(a["correlation_no_padding"], correlation)
    assert not np.array_equal(out["no_padding"], correlation)


# ---------------------------------------------------------------- feature_dimensions

EXPECTED_TABLE = [  # (layer, activation shape, activations, weights, biases) for (3, 32, 32)
    ("INPUT", [3, 32, 32], 3072, 0, 0),
    ("CONV3-8", [8, 32, 32], 8192, 3 * 3 * 3 * 8, 8),
    ("POOL2", [8, 16, 16], 2048, 0, 0),
    ("CONV3-16", [16, 16, 16], 4096, 3 * 3 * 8 * 16, 16),
    ("POOL2", [16, 8, 8], 1024, 0, 0),
    ("FLATTEN", [1024], 1024, 0, 0),
    ("FC-10", [10], 10, 1024 * 10, 10),
]


def test_feature_table(run):
    a = answers_of(run, "feature_dimensions")
    assert a["input_shape"] == [3, 32, 32] and a["layers"] == [row[0] for row in EXPECTED_TABLE[1:]]
    got = [(r["layer"], r["shape"], r["activations"], r["weights"], r["biases"]) for r in a["table"]]
    assert got == EXPECTED_TABLE
    assert all(r["params"] == r["weights"] + r["biases"] for r in a["table"])
    assert a["total_params"] == 224 + 1168 + 10250
    assert a["torch_table"] == a["table"]  # what the PyTorch network measured


def test_receptive_fields(run):
    rf = answers_of(run, "feature_dimensions")["receptive_fields"]
    cases = {(r["L"], r["K"]): r for r in rf}
    assert {(1, 3), (2, 3), (3, 3), (2, 5)} <= set(cases)
    for (n_layers, k), r in cases.items():
        assert r["formula"] == 1 + n_layers * (k - 1)
        assert r["measured"] == [r["formula"]] * 2
    assert cases[(2, 3)]["measured"] == [5, 5] and cases[(3, 3)]["measured"] == [7, 7]
    assert cases[(2, 5)]["measured"] == [9, 9]


def test_gap_shift_invariance(run):
    gap = answers_of(run, "feature_dimensions")["gap"]
    assert any(gap["shift"])
    out = {mode: {name: np.array(v) for name, v in outputs.items()} for mode, outputs in gap["outputs"].items()}
    for edge in ("horizontal", "vertical"):
        np.testing.assert_allclose(out["circular"][edge], out["circular"][f"{edge} shifted"], rtol=0, atol=1e-12)
        assert np.abs(out["zeros"][edge] - out["zeros"][f"{edge} shifted"]).max() > 1e-4
    assert np.abs(out["circular"]["horizontal"] - out["circular"]["vertical"]).max() > 1e-4  # not rotation invariant


# ---------------------------------------------------------------- class_dashboard


def test_dashboard_matches_the_csv(run):
    a = answers_of(run, "class_dashboard")
    with open(run.grades_csv, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    questions = header[2:-4]
    assert a["questions"] == questions and len(questions) == len(run.points)
    assert a["points"] == run.points
    assert a["n_students"] == len(rows)
    status = {row[0]: row[1] for row in rows}
    assert a["status_counts"] == {s: list(status.values()).count(s) for s in set(status.values())}
    graded = [row for row in rows if row[1] == "graded"]
    assert a["n_counted"] == len(graded)
    expected_mean = {}
    for i, q in enumerate(questions, start=2):
        values = [float(row[i]) for row in graded if row[i] != ""]
        expected_mean[q] = sum(values) / len(values) if values else None
        counts = a["question_counts"][q]
        assert counts["not_graded"] == len(graded) - len(values)
        assert counts["full"] == sum(v == run.points[q] for v in values)
        assert counts["zero"] == sum(v == 0 for v in values)
        assert counts["full"] + counts["partial"] + counts["zero"] == len(values)
    assert a["question_mean"].keys() == expected_mean.keys()
    for q, mean in expected_mean.items():
        assert a["question_mean"][q] == (None if mean is None else pytest.approx(mean, abs=1e-12)), q
    # Empty cells are left out, never counted as 0: the pending written answer has no mean at all.
    assert run.manual and all(a["question_mean"][q] is None for q in run.manual)
    fractions = {q: m / run.points[q] for q, m in expected_mean.items() if m is not None}
    assert a["hardest"] == sorted(fractions, key=lambda q: (fractions[q], q))[:len(a["hardest"])]
    assert a["question_mean_fraction"][a["hardest"][0]] == 0
    totals = [float(row[-4]) for row in graded]
    assert a["total_mean"] == pytest.approx(np.mean(totals)) and a["total_median"] == pytest.approx(np.median(totals))
