"""Grade tables: ``grades.csv`` for spreadsheets and LMS import, and a text table for the terminal."""

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class StudentResult:
    """One row of the grade table."""

    student_id: str
    status: str
    detail: str = ""
    scores: dict = field(default_factory=dict)  # column -> points (missing: not graded)
    seconds: float = 0.0

    @property
    def total(self):
        return sum(self.scores.values())


def _fmt(x):
    return f"{x:g}"


def write_grades_csv(results, cells, path):
    """Write one row per student: id, status, a column per graded cell, total, max, detail.

    Written to a temporary file and renamed, so an interrupted run never leaves a
    half-written table behind.

    Args:
        results: list of StudentResult.
        cells: list of GradedCell, in column order.
        path: destination file.
    """
    path = Path(path)
    max_total = sum(c.points for c in cells)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "status", *[c.column for c in cells], "total", "max", "detail"])
        for r in results:
            writer.writerow([
                r.student_id, r.status,
                *[_fmt(r.scores[c.column]) if c.column in r.scores else "" for c in cells],
                _fmt(r.total), _fmt(max_total), r.detail,
            ])
    os.replace(tmp, path)


def read_grades_csv(path, cells):
    """Rows of an existing ``grades.csv`` as StudentResults (empty if absent or of other columns).

    Lets a later run that grades only some students keep everyone else's rows.
    """
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = [c.column for c in cells]
    if rows and not set(columns) <= set(rows[0]):
        return []  # a table for another version of the assignment
    return [
        StudentResult(
            row["student_id"], row["status"], row.get("detail", ""),
            {col: float(row[col]) for col in columns if row.get(col, "") != ""},
        )
        for row in rows
    ]


def format_table(results, cells):
    """The grade table as aligned text: a row per student, a column per graded cell."""
    header = ["student", "status", *[c.grade_id for c in cells], "total"]
    max_total = sum(c.points for c in cells)
    rows = [["", "max", *[_fmt(c.points) for c in cells], _fmt(max_total)]]
    for r in results:
        rows.append([
            r.student_id, r.status,
            *[_fmt(r.scores[c.column]) if c.column in r.scores else "-" for c in cells],
            f"{_fmt(r.total)}/{_fmt(max_total)}",
        ])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    details = [f"  {r.student_id}: {r.detail}" for r in results if r.detail]
    return "\n".join(lines + (["", "notes:", *details] if details else []))
