"""Per-student feedback: what each test cell said, never the hidden test code.

nbgrader's own feedback renders the autograded notebook, whose test cells hold the hidden
tests. Here every test cell's code is replaced by its release version (public tests only), and
each error output is cut down to its last line (exception name and message): a traceback would
quote the hidden line that failed. A summary of points per graded cell goes on top.

Rendering uses nbconvert's lab HTML template without two passes that cost 80% of its time and
add nothing here (``FeedbackExporter``): bleach re-cleaning the code cells' syntax-highlighted
source, which Pygments has already escaped, and a BeautifulSoup round trip of the whole page
that only adds alt text to images and keyboard focus to cells (done here with two substitutions).
One exporter serves every page of a process, and highlighted code is cached by its text: most
code cells (tests, provided code) are the same for every student, and the worker zygote fills the
cache once from the release notebooks (``warm_up``), so each worker highlights only the student's
own code. The student's Markdown and HTML outputs are cleaned by an allow-list (``safe_html``; nbconvert
keeps them as they are by default, and its own cleaner escapes headings and tables into literal
text): a TA opens these pages too, and they must not run the student's scripts.
"""

import functools
import re
import sys
from pathlib import Path

import nbformat

from grader.cells import is_graded, is_solution, nbgrader_meta
from grader.course import ASSIGNMENT_ID, REPO_ROOT
from grader.outputs.safe_html import clean_html


def _release_sources(release_notebook):
    nb = nbformat.read(release_notebook, as_version=4)
    return {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if nbgrader_meta(c).get("grade_id")}


PATH_PLACEHOLDER = "[grader]"


def _path_pattern(private_paths):
    """Regex for the grading machine's folders as they appear in text (the longest first)."""
    paths = sorted({str(p).rstrip("/") for p in private_paths if str(p).rstrip("/")}, key=len, reverse=True)
    return re.compile("|".join(re.escape(p) + r"(?![\w.-])" for p in paths)) if paths else None


def _scrub(value, pattern):
    if isinstance(value, list):
        return [_scrub(v, pattern) for v in value]
    return pattern.sub(PATH_PLACEHOLDER, value) if isinstance(value, str) else value


def _scrub_outputs(notebook, private_paths):
    """Replace the grading machine's folders in every output's text (a library's error message,
    a traceback, what the code printed) by ``PATH_PLACEHOLDER``."""
    pattern = _path_pattern(private_paths)
    if pattern is None:
        return
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for key in ("text", "evalue", "traceback"):
                if key in output:
                    output[key] = _scrub(output[key], pattern)
            data = output.get("data", {})
            for mime in ("text/plain", "text/html", "text/markdown"):
                if mime in data:
                    data[mime] = _scrub(data[mime], pattern)


def sanitize(notebook, release_sources, private_paths=()):
    """Make an autograded notebook safe to show its student (modifies and returns it).

    Args:
        notebook: autograded NotebookNode.
        release_sources: grade_id -> source of that cell in the student release.
        private_paths: the grading machine's folders (grading folder, the grader's code), never
            shown: outputs show ``PATH_PLACEHOLDER`` instead.
    """
    _scrub_outputs(notebook, private_paths)
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if cell.cell_type != "code" or grade_id is None or is_solution(cell):
            continue  # the student's own cells stay as they are
        if is_graded(cell) or grade_id in release_sources:
            cell.source = release_sources.get(grade_id, "# (test code not shown)")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return notebook


def _points(cell, scores):
    """A summary row's points: the score, or why there is none yet (a person grades it; the grader
    lacked something)."""
    if cell.column in scores:
        return f"{scores[cell.column]:g} / {cell.points:g}"
    why = "awaiting manual grading" if cell.manual else "not graded yet"
    return f"{why} ({cell.points:g} points)"


def _summary_cell(notebook_name, scores, cells):
    rows = [f"| `{c.grade_id}` | {_points(c, scores)} |" for c in cells if c.notebook == notebook_name]
    text = f"# Feedback: {notebook_name}\n\n| graded cell | points |\n| --- | --- |\n" + "\n".join(rows)
    text += ("\n\nEach test cell below shows the public tests and what the grader's checks (public and "
             "hidden) reported. Written answers are graded by a person.")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.id = "feedback-summary"  # not a random one: the same grading gives the same page
    return cell


_TEMPLATE = """{%- extends 'index.html.j2' -%}
{% block input %}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
     <div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
     </div>
</div>
{%- endblock input %}
"""
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\balt=)")
_FOCUSABLE = re.compile(
    r'(<div\b[^>]*?\bclass="[^"]*\bjp-(?:Cell-inputWrapper|OutputArea-output)\b[^"]*")(?![^>]*tabindex)')


_HIGHLIGHTED = {}  # (lexer, magics language, source) -> HTML


def _cached_highlighter(highlighter):
    """Wrap nbconvert's ``Highlight2HTML`` filter with the process-wide cache ``_HIGHLIGHTED``."""

    def highlight_code(source, language=None, metadata=None):
        key = (highlighter.pygments_lexer, language, (metadata or {}).get("magics_language"), source)
        if key not in _HIGHLIGHTED:
            _HIGHLIGHTED[key] = highlighter(source, language=language, metadata=metadata)
        return _HIGHLIGHTED[key]

    return highlight_code


@functools.cache
def feedback_exporter():
    """The nbconvert HTMLExporter for feedback pages (see the module docstring), ~5x faster."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class FeedbackExporter(HTMLExporter):
        def from_notebook_node(self, nb, resources=None, **kw):
            # HTMLExporter.from_notebook_node (nbconvert 7.17) without its BeautifulSoup pass.
            lexer = nb.metadata.get("language_info", {}).get("pygments_lexer", "ipython3")
            self.register_filter("highlight_code",
                                 _cached_highlighter(Highlight2HTML(pygments_lexer=lexer, parent=self)))
            self.register_filter("clean_html", clean_html)  # nbconvert's escapes headings and tables
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            html = _IMG_WITHOUT_ALT.sub('<img alt="No description has been provided for this image"', html)
            return _FOCUSABLE.sub(r'\1 tabindex="0"', html), resources  # keyboard focus, as nbconvert does

    # sanitize_html: the student's Markdown and HTML outputs go through ``clean_html`` (nbconvert
    # keeps them as they are by default), so a page cannot run code in a TA's browser.
    return FeedbackExporter(extra_loaders=[DictLoader({"feedback.html.j2": _TEMPLATE})],
                            template_file="feedback.html.j2", sanitize_html=True)


def warm_up(notebooks):
    """Render ``notebooks`` once and drop the pages: compiles the templates and caches the
    highlighted code of every cell they share with the students' notebooks."""
    for path in notebooks:
        feedback_exporter().from_notebook_node(nbformat.read(path, as_version=4))


def write_feedback(course_root, student_id, scores, cells):
    """Write ``feedback/<student>/<notebook>.html`` for each autograded notebook of a student.

    Args:
        course_root: the grading folder (has release/hw3 and autograded/<student>/hw3).
        student_id: the student.
        scores: column -> points, as in StudentResult.scores (a cell left out has no score yet).
        cells: the assignment's GradedCells.
    Returns:
        list of written paths.
    """
    course_root = Path(course_root)
    graded_dir = course_root / "autograded" / student_id / ASSIGNMENT_ID
    out_dir = course_root / "feedback" / student_id
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = feedback_exporter()
    # The student's own folder in the kernel's view, then the batch's grading folder, the grader's
    # code and Python: paths of the grading machine, for whatever a library's message says.
    private_paths = [course_root.resolve(), course_root.resolve().parent.parent, REPO_ROOT, Path(sys.prefix),
                     Path(sys.base_prefix), Path.home()]
    written = []
    for path in sorted(graded_dir.glob("*.ipynb")):
        release = course_root / "release" / ASSIGNMENT_ID / path.name
        if not release.exists():
            continue
        nb = sanitize(nbformat.read(path, as_version=4), _release_sources(release), private_paths)
        nb.cells.insert(0, _summary_cell(path.stem, scores, cells))
        html, _ = exporter.from_notebook_node(nb)
        target = out_dir / f"{path.stem}.html"
        target.write_text(html, encoding="utf-8")
        written.append(target)
    return written
