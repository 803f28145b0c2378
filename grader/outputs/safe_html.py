"""Student-made HTML made safe to show in a feedback page, by an allow-list (nh3, Rust's ammonia).

The feedback pages show a student's Markdown cells (rendered to HTML) and their cells' HTML
outputs to the student and to TAs. nbconvert's own ``clean_html`` is unusable for that: its
allow-list (bleach's defaults) lacks headings, paragraphs and most table tags, and bleach
*escapes* what it does not allow, so every Markdown cell showed up as literal ``<h1 id=...>``
text. Here the tags that Markdown and notebook outputs (pandas tables, rich reprs) produce are
kept, everything else is dropped (tags, not their text), and scripts, styles, event handlers,
``style`` attributes and non-http(s)/mailto links go. Images keep only inline ``data:image/``
sources, so opening a page fetches nothing a student chose (no tracking pixel in a TA's browser).
"""

import nh3

ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "pre", "code", "kbd", "samp",
    "em", "strong", "b", "i", "u", "s", "del", "ins", "mark", "small", "sub", "sup", "abbr", "q",
    "ul", "ol", "li", "dl", "dt", "dd", "details", "summary", "figure", "figcaption",
    "table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "th", "td",
    "a", "img", "span", "div",
}
ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title", "align", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "ol": {"start", "type"},
    "col": {"span"},
    "colgroup": {"span"},
}
_IMAGE_SOURCE_PREFIXES = ("data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp",
                          "data:image/svg+xml")  # an <img> runs no script, whatever its SVG holds


def _filter_attribute(tag, attribute, value):
    """An image's source only when inline, a link's target never inline; the rest as allowed."""
    if tag == "img" and attribute == "src":
        return value if value.strip().lower().startswith(_IMAGE_SOURCE_PREFIXES) else None
    if attribute == "href" and value.strip().lower().startswith("data:"):
        return None
    return value


def clean_html(html):
    """The allowed part of ``html`` (str or bytes): markup kept, active content removed."""
    html = html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html)
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     attribute_filter=_filter_attribute,
                     url_schemes={"http", "https", "mailto", "data"})
