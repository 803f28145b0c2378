"""The class report: histograms that count right, one self-contained page, escaped student text."""

import csv
import xml.etree.ElementTree as ET

from grader.cells import GradedCell
from grader.outputs.class_report import _bin_counts, histogram_svg, write_class_report

SVG = "{http://www.w3.org/2000/svg}"


def test_whole_points_land_in_their_own_bins_and_full_marks_in_the_last():
    counts, width = _bin_counts([0, 1, 1, 2, 2, 2, 3, 3, 3, 3], 3)
    assert (counts, width) == ([1, 2, 0, 3, 4], 0.6)  # at least 5 bins: each whole point in its own
    counts, _ = _bin_counts([0, 19.5, 40, 40, 40], 40)
    assert len(counts) == 20 and counts[0] == 1 and counts[9] == 1 and counts[-1] == 3
    assert sum(_bin_counts([-1, 0.5, 7], 1)[0]) == 3  # out of range (a bad row): clamped, still counted


def test_histogram_is_svg_with_one_bar_per_bin_and_escaped_title():
    svg = histogram_svg([0, 2, 2], 2, "part<0>/q&a")
    root = ET.fromstring(svg)  # well-formed XML, so the title cannot break out of it
    bars = root.findall(f"{SVG}rect")
    assert len(bars) == 5
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] > 0 and heights[-1] == 2 * heights[0] and heights[1:4] == [0, 0, 0]
    assert "part<0>/q&a" in root.get("aria-label") and "0-0.4: 1" in root.get("aria-label")


def test_report_is_one_page_with_every_column_and_the_problems(tmp_path):
    cells = [GradedCell("part0_filters", "test_box", 2), GradedCell("part0_filters", "test_lap", 1)]
    table = tmp_path / "grades.csv"
    header = ["student_id", "status", "part0_filters/test_box", "part0_filters/test_lap", "total", "max", "detail"]
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerow(["ann", "graded", "2", "1", "3", "3", ""])
        writer.writerow(["bob", "kernel died", "0", "0", "0", "3", "<script>alert(1)</script> exited"])
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "old.png").write_bytes(b"png")  # an older report's plots
    page = write_class_report(tmp_path, table, cells, "test").read_text()
    assert page.count("<svg") == 3 and "<img" not in page  # two questions and the total
    assert "kernel died" in page and "&lt;script&gt;alert(1)" in page and "<script>" not in page
    assert not (tmp_path / "report").exists()


def test_cells_with_no_score_yet_are_left_out_of_the_means(tmp_path):
    """Written answers waiting for a person (and cells the grader could not grade) are empty in
    grades.csv: the report's means are over the scores that exist, not dragged down as zeros."""
    from grader.outputs.grades_csv import write_grades_csv
    from grader.results import StudentResult

    cells = [GradedCell("part0_filters", "test_box", 2), GradedCell("part0_filters", "written", 3, manual=True)]
    results = [StudentResult("ann", "graded", scores={"part0_filters/test_box": 2.0},
                             pending_manual=["part0_filters/written"]),
               StudentResult("bob", "graded", scores={"part0_filters/test_box": 1.0, "part0_filters/written": 3.0})]
    table = tmp_path / "grades.csv"
    write_grades_csv(results, cells, table)
    with open(table, newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert rows["ann"]["part0_filters/written"] == "" and rows["ann"]["manual_pending"] == "3"
    page = write_class_report(tmp_path, table, cells, "test").read_text()
    assert "part0_filters/written: mean 3.00" in page and "part0_filters/test_box: mean 1.50" in page
