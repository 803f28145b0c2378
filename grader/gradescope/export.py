"""Reading Gradescope's ``submission_metadata.yml`` (from "Export Submissions").

The file maps each submission folder to its submitters::

    submission_12345:
      :submitters:
      - :name: Alice Smith
        :email: alice@example.edu
        :sid: '3031234'
      :created_at: 2026-11-20 10:00:00.000000000 -08:00

PyYAML reads it when installed; otherwise a small tolerant reader takes just what we need
(folder keys and each submitter's ``:name:``, ``:email:``, ``:sid:``).
"""

import re

_KEYS = ("name", "email", "sid")


def _clean(value):
    value = str(value or "").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value.strip()


def _normalize(data):
    """{folder: {"submitters": [{"name", "email", "sid"}]}} from PyYAML's parse."""
    result = {}
    for key, entry in (data or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        subs = entry.get(":submitters") or entry.get("submitters") or entry.get(":submitters:") or []
        people = []
        for person in subs if isinstance(subs, list) else []:
            if isinstance(person, dict):
                people.append({k: _clean(person.get(f":{k}", person.get(k))) for k in _KEYS})
        result[str(key)] = {"submitters": people}
    return result


def parse_tolerant(text):
    """The reader used without PyYAML: indentation-based, ignores everything it does not need."""
    result, current, person = {}, None, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        top = re.match(r"^([^\s:#][^:]*):\s*$", line)
        if top:
            current = result.setdefault(_clean(top.group(1)), {"submitters": []})
            person = None
            continue
        field = re.match(r"^\s*(-\s+)?:?(name|email|sid):?\s+(.*)$", line)
        if field and current is not None:
            if field.group(1) or person is None:
                person = {k: "" for k in _KEYS}
                current["submitters"].append(person)
            person[field.group(2)] = _clean(field.group(3))
        elif re.match(r"^\s*:?[a-z_]+:", line) and not re.match(r"^\s*-", line):
            if not re.match(r"^\s*:?submitters:?\s*$", line):
                person = None  # another key of the submission (:created_at:, :score:, ...)
    return result


def read_metadata(path):
    """Parse a ``submission_metadata.yml``; returns {folder: {"submitters": [...]}} ({} if unreadable)."""
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return {}
    try:
        import yaml
    except ImportError:
        return parse_tolerant(text)
    try:
        return _normalize(yaml.safe_load(text))
    except Exception:  # Gradescope's Ruby-flavoured YAML can trip strict parsers
        return parse_tolerant(text)


def submitter_ids(entry):
    """Ids of a submission's submitters, in order: ``sid``, else the e-mail's local part, else the name."""
    ids = []
    for person in entry.get("submitters", []):
        sid = person.get("sid") or (person.get("email") or "").split("@")[0] or person.get("name")
        if sid:
            ids.append(sid)
    return ids
