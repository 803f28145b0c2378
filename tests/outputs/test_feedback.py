"""The feedback pages: the fast exporter renders what nbconvert's own HTML export renders, safely."""

import base64

import nbformat
from bs4 import BeautifulSoup
from nbconvert import HTMLExporter

from grader.outputs.feedback import feedback_exporter
from grader.outputs.safe_html import clean_html

# A 1x1 PNG, so the page has an image that needs alt text.
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")).decode()


def hostile_notebook():
    """A student's notebook that tries to put live HTML into the feedback page in every place it can."""
    nb = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Answer\n\n<script>alert('markdown')</script> and $x^2$"),
        nbformat.v4.new_code_cell("x = '</div><script>alert(\"code\")</script>'\nprint(x)", outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="</pre><script>alert('stream')</script>\n"),
            nbformat.v4.new_output("display_data", data={"text/html": "<b>bold</b><script>alert('html')</script>",
                                                         "text/plain": "<html>"}),
            nbformat.v4.new_output("display_data", data={"image/png": PIXEL, "text/plain": "<Figure>"}),
            nbformat.v4.new_output("error", ename="AssertionError", evalue="<script>alert('error')</script>",
                                   traceback=["AssertionError: <script>alert('error')</script>"]),
        ]),
    ]
    return nb


def normalized(html):
    return str(BeautifulSoup(html, "html.parser"))


def nbconvert_page(nb):
    """nbconvert's own sanitized page, with the feedback pages' allow-list in place of its cleaner."""
    return HTMLExporter(sanitize_html=True, filters={"clean_html": clean_html}).from_notebook_node(nb)[0]


def test_fast_feedback_page_is_nbconvert_page():
    nb = hostile_notebook()
    ours, _ = feedback_exporter().from_notebook_node(nb)
    assert normalized(ours) == normalized(nbconvert_page(nb))


def live_scripts(html):
    return [s.get_text() for s in BeautifulSoup(html, "html.parser").select("script") if "alert" in s.get_text()]


def test_student_html_is_never_live_in_the_page():
    nb = hostile_notebook()
    html, _ = feedback_exporter().from_notebook_node(nb)
    assert not live_scripts(html)  # markdown and HTML output scripts removed, code and text escaped
    assert 'alert("code")' in BeautifulSoup(html, "html.parser").get_text()  # the student's code, as text
    assert "<b>bold</b>" in html  # harmless HTML still renders
    assert '<h1 id="Answer">' in html  # Markdown renders (nbconvert's own cleaner escapes it to text)
    assert live_scripts(HTMLExporter().from_notebook_node(nb)[0])  # what nbconvert's default page would run


def test_images_have_alt_text_and_cells_take_keyboard_focus():
    html, _ = feedback_exporter().from_notebook_node(hostile_notebook())
    soup = BeautifulSoup(html, "html.parser")
    assert soup.select("img") and all(img.get("alt") for img in soup.select("img"))
    assert all(div.get("tabindex") == "0" for div in soup.select("div.jp-Cell-inputWrapper, div.jp-OutputArea-output"))


def test_cached_highlighting_renders_each_students_own_code():
    """The highlight cache (filled once per batch from the release) never serves another text."""
    from grader.outputs import feedback

    nb = hostile_notebook()
    feedback._HIGHLIGHTED.clear()
    cold, _ = feedback_exporter().from_notebook_node(nb)
    assert feedback._HIGHLIGHTED  # the code cell was highlighted once and kept
    warm, _ = feedback_exporter().from_notebook_node(nb)
    assert warm == cold
    nb.cells[1].source = nb.cells[1].source.replace("print(x)", "print(y_student)")
    changed, _ = feedback_exporter().from_notebook_node(nb)
    assert "y_student" in BeautifulSoup(changed, "html.parser").get_text()
    assert normalized(changed) == normalized(nbconvert_page(nb))
