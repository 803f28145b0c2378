"""The class report: ``report.html`` with per-question score distributions (PNG plots), statuses,
the list of submissions with problems and their reasons, and grading times.

Built from ``grades.csv`` (so it covers every student graded into the folder, in this run or
earlier ones) and the per-submission times of the stored results (``state/``).
"""

import csv
import html
import json
import statistics
from collections import Counter
from pathlib import Path


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


def _plot_distributions(rows, cells, folder):
    """One histogram per graded cell and one of totals; returns [(title, png name)]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    plots = []
    columns = [(c.column, c.points) for c in cells] + [("total", sum(c.points for c in cells))]
    for column, points in columns:
        values = [float(r[column]) for r in rows if r.get(column) not in (None, "")]
        fig, ax = plt.subplots(figsize=(3.2, 2.2), dpi=90)
        ax.hist(values, bins=min(20, max(5, int(points) + 1)), range=(0, max(points, 1)), color="#4477aa")
        ax.set_title(column, fontsize=8)
        ax.set_xlabel(f"points (of {points:g})", fontsize=7)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        name = column.replace("/", "__") + ".png"
        fig.savefig(folder / name)
        plt.close(fig)
        plots.append((column, name))
    return plots


def write_class_report(out_dir, table, cells, isolation=""):
    """Write ``out_dir/report.html`` (and ``out_dir/report/*.png``); returns its path."""
    out_dir = Path(out_dir)
    rows = _read_rows(table)
    plots = _plot_distributions(rows, cells, out_dir / "report")
    statuses = Counter(r["status"] for r in rows)
    times = _seconds(out_dir)
    graded_times = [times[r["student_id"]] for r in rows if r["student_id"] in times]
    esc = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Class report</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{padding:2px 8px;text-align:left}"
        "img{margin:4px}</style>",
        f"<h1>Class report</h1><p>{len(rows)} students. Isolation: {esc(isolation)}</p>",
        "<h2>Statuses</h2><table>" + "".join(f"<tr><td>{esc(s)}</td><td>{n}</td></tr>"
                                              for s, n in statuses.most_common()) + "</table>",
        "<h2>Score distributions</h2>",
    ]
    for column, name in plots:
        values = [float(r[column]) for r in rows if r.get(column) not in (None, "")]
        mean = f"mean {statistics.mean(values):.2f}" if values else "no scores"
        parts.append(f"<figure style='display:inline-block'><img src='report/{esc(name)}' alt='{esc(column)}'>"
                     f"<figcaption>{esc(column)}: {mean}</figcaption></figure>")
    problems = [r for r in rows if r["status"] != "graded" or r.get("detail")]
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
