"""Feedback pages as a student's browser shows them: real headless Chromium, the DOM after load.

Checked without screenshots: the page's Markdown (the notebook's and the summary table) are
elements, no tag is shown as literal text, and nothing a student planted in a Markdown cell or an
HTML output runs. Each hostile payload tries to mark ``<body>``; the same page rendered without
sanitizing does get marked, so the check can fail. Needs Debian's ``chromium`` (``.ci/run``
installs it); without it these tests skip with a reason.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter

from grader.cells import graded_cells
from grader.course import ASSIGNMENT_ID
from grader.outputs.feedback import write_feedback

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")

NOTEBOOK = "part0_filters"
# Each payload, if it ever runs, sets an attribute on <body> that names it.
HOSTILE_MARKDOWN = "\n\n".join([
    "## My answer",
    "<script>document.body.setAttribute('data-pwned-script', '1')</script>",
    "<img src=x onerror=\"document.body.setAttribute('data-pwned-onerror', '1')\">",
    "<svg onload=\"document.body.setAttribute('data-pwned-svg', '1')\"></svg>",
    "<details open ontoggle=\"document.body.setAttribute('data-pwned-toggle', '1')\"><summary>s</summary></details>",
    "<iframe srcdoc=\"<script>parent.document.body.setAttribute('data-pwned-iframe', '1')</script>\"></iframe>",
    "| a | b |\n| --- | --- |\n| 1 | 2 |",
    "The variance is $\\sigma^2 = \\frac{1}{N}\\sum_i (x_i - \\mu)^2$.",
])
HOSTILE_HTML_OUTPUT = ("<table><thead><tr><th>col</th></tr></thead><tbody><tr><td>7</td></tr></tbody></table>"
                       "<img src=x onerror=\"document.body.setAttribute('data-pwned-output', '1')\">"
                       "<script>document.body.setAttribute('data-pwned-output-script', '1')</script>")


def rendered_dom(html_path):
    """The page's DOM after load and its scripts (the CDN ones fail offline), from headless Chromium."""
    with tempfile.TemporaryDirectory(prefix="hw3-chromium-") as profile:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", html_path.as_uri()],
            capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "<body" in done.stdout, done.stderr[-2000:]
    return BeautifulSoup(done.stdout, "html.parser")


def visible_text(soup):
    for hidden in soup(["script", "style", "head"]):
        hidden.decompose()
    return soup.get_text(" ")


def planted_marks(soup):
    return sorted(name for name in soup.body.attrs if name.startswith("data-pwned"))


def student_notebook():
    """The release notebook as a student finished it, plus a hostile Markdown cell and HTML output."""
    nb = nbformat.read(REPO_ROOT / "release" / ASSIGNMENT_ID / f"{NOTEBOOK}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN))
    nb.cells.append(nbformat.v4.new_code_cell("show_table()", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": HOSTILE_HTML_OUTPUT, "text/plain": "<table>"})]))
    return nb


@pytest.fixture(scope="module")
def feedback_page(tmp_path_factory):
    """A feedback page written by ``write_feedback`` for that notebook, and its DOM in Chromium."""
    course = tmp_path_factory.mktemp("course")
    release = course / "release" / ASSIGNMENT_ID
    graded = course / "autograded" / "alice" / ASSIGNMENT_ID
    release.mkdir(parents=True)
    graded.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "release" / ASSIGNMENT_ID / f"{NOTEBOOK}.ipynb", release)
    nbformat.write(student_notebook(), graded / f"{NOTEBOOK}.ipynb")
    cells = graded_cells(REPO_ROOT / "source" / ASSIGNMENT_ID / f"{NOTEBOOK}.ipynb")
    scores = {cell.column: cell.points for cell in cells}
    [page] = write_feedback(course, "alice", scores, cells)
    return page, rendered_dom(page)


def test_markdown_and_summary_render_as_elements(feedback_page):
    _, dom = feedback_page
    headings = [h.get_text(" ", strip=True) for h in dom.select("h1, h2")]
    assert any(text.startswith(f"Feedback: {NOTEBOOK}") for text in headings), headings
    assert any(text.startswith("My answer") for text in headings), headings
    summary = dom.select_one("table")  # the summary table comes first
    assert [th.get_text(strip=True) for th in summary.select("thead th")] == ["graded cell", "points"]
    source = REPO_ROOT / "source" / ASSIGNMENT_ID / f"{NOTEBOOK}.ipynb"
    assert len(summary.select("tbody tr")) == len(graded_cells(source))
    assert dom.select("td") and dom.select("p") and dom.select("ul, ol")
    text = visible_text(dom)
    for literal in ("<h1", "<h2", "<p>", "<th", "<td", "<thead", "<table", "<img", "<ul", "<li"):
        assert literal not in text, f"literal {literal!r} shown as text"
    assert "\\frac{1}{N}" in text  # math left as readable source where MathJax cannot load


def test_student_scripts_never_run_in_the_page(feedback_page):
    _, dom = feedback_page
    assert planted_marks(dom) == []
    assert "7" in [td.get_text(strip=True) for td in dom.select("td")]  # the harmless table still renders


def test_the_check_sees_scripts_that_do_run(tmp_path):
    """The same notebook through nbconvert's default (unsanitized) export does mark the page."""
    html, _ = HTMLExporter().from_notebook_node(student_notebook())
    page = tmp_path / "unsanitized.html"
    page.write_text(html, encoding="utf-8")
    assert {"data-pwned-script", "data-pwned-onerror", "data-pwned-output"} <= set(planted_marks(rendered_dom(page)))
