"""Grade tables: ``grades.csv`` for spreadsheets and LMS import, and a text table for the terminal."""

import csv
import os
from pathlib import Path

from grader.results import Status


def _fmt(x):
    return f"{x:g}"


def csv_header(cells):
    return ["student_id", "status", *[c.column for c in cells], "total", "max", "manual_pending", "detail"]


def write_grades_csv(results, cells, path, earlier_rows=()):
    """Write one row per student: id, status, a column per graded cell, total, max,
    manual_pending (points of written answers not graded yet), detail.

    Written to a temporary file and renamed, so an interrupted run never leaves a
    half-written table behind.

    Args:
        results: list of StudentResult.
        cells: list of GradedCell, in column order.
        path: destination file.
        earlier_rows: rows (dicts) of students graded before, written first, unchanged.
    """
    path = Path(path)
    max_total = sum(c.points for c in cells)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(csv_header(cells))
        for row in earlier_rows:
            writer.writerow([row[name] for name in csv_header(cells)])
        for r in results:
            pending = sum(c.points for c in cells if c.column in r.pending_manual)
            writer.writerow([
                r.student_id, r.status,
                *[_fmt(r.scores[c.column]) if c.column in r.scores else "" for c in cells],
                _fmt(r.total), _fmt(max_total), _fmt(pending), r.detail,
            ])
    os.replace(tmp, path)


def read_grades_csv(path, cells):
    """Rows of an existing ``grades.csv`` as dicts (empty if absent or made for other columns).

    Lets a later run that grades only some students keep everyone else's rows as they were.
    """
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return rows if reader.fieldnames == csv_header(cells) else []


def _lost_cells(result, cells):
    """Short text naming the cells a student did not get full points on."""
    if result.status == Status.DUPLICATE_ID:
        return ""
    lost = [c for c in cells if c.column in result.scores and result.scores[c.column] < c.points]
    if not lost:
        return ""
    if len(lost) > 4:
        return f"below full points on {len(lost)} of {len(cells)} graded cells"
    return "lost points on " + ", ".join(
        f"{c.column} ({_fmt(result.scores.get(c.column, 0))}/{_fmt(c.points)})" for c in lost)


def format_table(results, cells):
    """The grade table as aligned text: a row per student, points per notebook and in total,
    points waiting for manual grading, then notes on problems and lost points."""
    notebooks = list(dict.fromkeys(c.notebook for c in cells))
    nb_max = {nb: sum(c.points for c in cells if c.notebook == nb) for nb in notebooks}
    max_total = sum(nb_max.values())
    header = ["student", "status", *notebooks, "total", "manual pending"]
    rows = []
    for r in results:
        per_nb = [
            f"{_fmt(sum(r.scores.get(c.column, 0) for c in cells if c.notebook == nb))}/{_fmt(nb_max[nb])}"
            for nb in notebooks
        ]
        pending = sum(c.points for c in cells if c.column in r.pending_manual)
        rows.append([r.student_id, r.status, *per_nb, f"{_fmt(r.total)}/{_fmt(max_total)}", _fmt(pending)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = []
    for r in results:
        text = "; ".join(t for t in (r.detail, _lost_cells(r, cells)) if t)
        if text:
            notes.append(f"  {r.student_id}: {text}")
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))
