"""The class report: ``report.html`` with per-question score distributions (inline SVG), statuses,
the list of submissions with problems and their reasons, and grading times.

Built from ``grades.csv`` (so it covers every student graded into the folder, in this run or
earlier ones) and the per-submission times of the stored results (``state/``).
"""

import csv
import html
import json
import shutil
import statistics
from collections import Counter
from pathlib import Path

from grader.results import Status


def _read_rows(table):
    with open(table, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _seconds(out_dir):
    times = {}
    for path in Path(out_dir, "state").glob("*.json"):
        try:
            result = json.loads(path.read_text())["result"]
            times[result["student_id"]] = float(result["seconds"])
        except (OSError, ValueError, KeyError):
            continue
    return times


def _bin_counts(values, points):
    """Histogram counts of ``values`` over [0, points]: one bin per whole point up to 20 bins
    (at least 5), the last bin closed; returns (counts, bin width)."""
    top = max(points, 1)
    bins = min(20, max(5, int(points) + 1))
    width = top / bins
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, max(0, int(value / width)))] += 1
    return counts, width


def histogram_svg(values, points, title):
    """A small inline SVG histogram of one column's scores (no plotting library: a class report
    of 30 columns is drawn in milliseconds, and the page stays one self-contained file)."""
    counts, width = _bin_counts(values, points)
    scale_max = max(points, 1)  # the x axis of a 0-point column still spans 0-1
    w, h, left, bottom, top = 300, 190, 34, 34, 22
    plot_w, plot_h = w - left - 10, h - bottom - top
    peak = max(counts + [1])
    bar_w = plot_w / len(counts)
    esc = html.escape
    summary = ", ".join(f"{i * width:g}-{(i + 1) * width:g}: {c}" for i, c in enumerate(counts) if c)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img' "
             f"aria-label='{esc(title)}: {esc(summary or 'no scores')}' font-family='sans-serif' font-size='10'>",
             f"<text x='{w / 2}' y='14' text-anchor='middle' font-size='11'>{esc(title)}</text>"]
    for i, count in enumerate(counts):
        bar_h = plot_h * count / peak
        x, y = left + i * bar_w, top + plot_h - bar_h
        parts.append(f"<rect x='{x + 1:.1f}' y='{y:.1f}' width='{max(bar_w - 2, 1):.1f}' height='{bar_h:.1f}' "
                     f"fill='#4477aa'><title>{i * width:g} to {(i + 1) * width:g} points: {count}</title></rect>")
        if count:
            parts.append(f"<text x='{x + bar_w / 2:.1f}' y='{y - 2:.1f}' text-anchor='middle'>{count}</text>")
    axis_y = top + plot_h
    parts.append(f"<line x1='{left}' y1='{axis_y}' x2='{left + plot_w}' y2='{axis_y}' stroke='#333'/>")
    for value in (0, scale_max / 2, scale_max):
        x = left + plot_w * value / scale_max
        parts.append(f"<text x='{x:.1f}' y='{axis_y + 12}' text-anchor='middle'>{value:g}</text>")
    parts.append(f"<text x='{left + plot_w / 2}' y='{h - 4}' text-anchor='middle'>points (of {points:g})</text>")
    parts.append(f"<text x='{left - 4}' y='{top + 4}' text-anchor='end'>{peak}</text>"
                 f"<text x='{left - 4}' y='{axis_y}' text-anchor='end'>0</text>"
                 f"<text x='10' y='{top + plot_h / 2}' text-anchor='middle' "
                 f"transform='rotate(-90 10 {top + plot_h / 2})'>students</text></svg>")
    return "".join(parts)


def write_class_report(out_dir, table, cells, isolation=""):
    """Write ``out_dir/report.html`` (one file, plots inline); returns its path."""
    out_dir = Path(out_dir)
    rows = _read_rows(table)
    shutil.rmtree(out_dir / "report", ignore_errors=True)  # PNG plots of reports before SVG ones
    columns = [(c.column, c.points) for c in cells] + [("total", sum(c.points for c in cells))]
    statuses = Counter(r["status"] for r in rows)
    times = _seconds(out_dir)
    graded_times = [times[r["student_id"]] for r in rows if r["student_id"] in times]
    esc = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Class report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{padding:2px 8px;text-align:left}"
        "svg{margin:4px}</style>",
        f"<h1>Class report</h1><p>{len(rows)} students. Isolation: {esc(isolation)}</p>",
        "<h2>Statuses</h2><table>" + "".join(f"<tr><td>{esc(s)}</td><td>{n}</td></tr>"
                                              for s, n in statuses.most_common()) + "</table>",
        "<h2>Score distributions</h2>",
    ]
    for column, points in columns:
        values = [float(r[column]) for r in rows if r.get(column) not in (None, "")]
        mean = f"mean {statistics.mean(values):.2f}" if values else "no scores"
        parts.append(f"<figure style='display:inline-block'>{histogram_svg(values, points, column)}"
                     f"<figcaption>{esc(column)}: {mean}</figcaption></figure>")
    problems = [r for r in rows if r["status"] != Status.GRADED or r.get("detail")]
    parts.append(f"<h2>Problems ({len(problems)})</h2><table><tr><th>student</th><th>status</th>"
                 "<th>total</th><th>detail</th></tr>")
    parts += [f"<tr><td>{esc(r['student_id'])}</td><td>{esc(r['status'])}</td><td>{esc(r['total'])}</td>"
              f"<td>{esc(r.get('detail', ''))}</td></tr>" for r in problems]
    parts.append("</table><h2>Timing</h2>")
    if graded_times:
        parts.append(f"<p>{len(graded_times)} submissions with stored times: median "
                     f"{statistics.median(graded_times):.1f} s, max {max(graded_times):.1f} s "
                     f"(per submission, one worker).</p><table><tr><th>slowest</th><th>seconds</th></tr>")
        slowest = sorted(times.items(), key=lambda kv: -kv[1])[:10]
        parts += [f"<tr><td>{esc(sid)}</td><td>{sec:.1f}</td></tr>" for sid, sec in slowest]
        parts.append("</table>")
    path = out_dir / "report.html"
    tmp = path.with_name("report.html.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(path)
    return path
