"""Finding and unpacking submissions: ids, safe zips, notebook matching."""

import stat
import zipfile

import pytest

from grader import intake
from grader.intake import unpacking, vetting
from grader.results import Status


def make_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_student_ids_from_names():
    assert intake.student_id_from_name("alice.zip") == "alice"
    assert intake.student_id_from_name("Bob Smith (2).ZIP") == "Bob_Smith_2"
    assert intake.student_id_from_name("../..") == "unnamed"


def test_discover_class_folder_and_single_student(tmp_path):
    cls = tmp_path / "class"
    (cls / "alice").mkdir(parents=True)
    (cls / "__MACOSX").mkdir()
    make_zip(cls / "bob.zip", {"x.ipynb": "{}"})
    (cls / "notes.txt").write_text("ignored")
    single = tmp_path / "carol"
    single.mkdir()
    (single / "part0_filters.ipynb").write_text("{}")
    subs = intake.discover([cls, single])
    assert [s.student_id for s in subs] == ["alice", "bob", "carol"]
    with pytest.raises(FileNotFoundError):
        intake.discover([tmp_path / "nope"])


def test_duplicate_ids_are_flagged_not_merged(tmp_path):
    (tmp_path / "a" / "alice").mkdir(parents=True)
    make_zip(tmp_path / "a" / "alice.zip", {"x": "y"})
    subs = intake.discover([tmp_path / "a"])
    assert [s.status for s in subs] == [Status.GRADED, Status.DUPLICATE_ID]


def test_unsafe_zip_members_are_skipped(tmp_path):
    zpath = make_zip(tmp_path / "eve.zip", {
        "hw3/part0_filters.ipynb": "{}",
        "../../escape.txt": "x",
        "/abs.txt": "x",
        "__MACOSX/hw3/._part0_filters.ipynb": "junk",
    })
    with zipfile.ZipFile(zpath, "a") as zf:  # a symlink member pointing outside
        info = zipfile.ZipInfo("hw3/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    sub = intake.discover([zpath])[0]
    intake.unpack(sub, tmp_path / "out")
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert files == ["hw3/part0_filters.ipynb"]
    assert not (tmp_path / "escape.txt").exists()
    assert sub.status == Status.GRADED and "symbolic link" in sub.detail and "outside" in sub.detail


def test_broken_zip_gets_status(tmp_path):
    bad = tmp_path / "mallory.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    sub = intake.discover([bad])[0]
    intake.unpack(sub, tmp_path / "out")
    assert sub.status == Status.UNREADABLE_ZIP and sub.root is None


def test_notebooks_matched_exactly_or_through_rename_noise(tmp_path):
    folder = tmp_path / "dave"
    (folder / "hw3").mkdir(parents=True)
    (folder / "hw3" / "Copy of part0_filters (1).ipynb").write_text("{}")
    sub = intake.discover([folder.parent])[0]
    intake.unpack(sub, tmp_path / "out")
    intake.match_notebooks(sub, ["part0_filters.ipynb", "part1_other.ipynb"])
    assert sub.notebooks["part0_filters.ipynb"].name == "Copy of part0_filters (1).ipynb"
    assert sub.status == Status.MISSING_NOTEBOOK
    assert "part1_other.ipynb not found" in sub.detail and "graded 'Copy of" in sub.detail


def test_zip_bomb_is_refused_with_its_own_status(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("hw3/part0_filters.ipynb", "{}")
        zf.writestr("hw3/zeros.bin", b"\0" * (20 << 20))  # 20 MiB that compress about 1000:1
    sub = intake.discover([bomb])[0]
    intake.unpack(sub, tmp_path / "out")
    assert sub.status == Status.REFUSED_ZIP and sub.root is None
    assert "zip bomb" in sub.detail and not (tmp_path / "out" / "hw3" / "zeros.bin").exists()


def test_caps_count_real_bytes_and_files(tmp_path, monkeypatch):
    many = make_zip(tmp_path / "many.zip", {f"f{i}.txt": "x" for i in range(12)})
    monkeypatch.setattr(unpacking, "MAX_FILES", 10)
    sub = intake.discover([many])[0]
    intake.unpack(sub, tmp_path / "a")
    assert sub.status == Status.REFUSED_ZIP and "12 files" in sub.detail
    # A member whose header understates its size is stopped by the bytes actually decompressed.
    import io

    class Lying(io.BytesIO):
        pass

    with pytest.raises(unpacking.Refused):
        unpacking._copy_capped(Lying(b"y" * 5000), io.BytesIO(), budget=4096)


def test_id_pattern_reads_canvas_names_and_can_be_changed():
    assert intake.student_id_from_name("smithjane_12345_67890_hw3_submission.zip") == "12345"
    assert intake.student_id_from_name("smithjane_LATE_12345_67890_hw3_submission.zip") == "12345"
    assert intake.student_id_from_name("smithjane_12345_67890_hw3_submission.zip", "") == \
        "smithjane_12345_67890_hw3_submission"
    assert intake.student_id_from_name("hw3-jdoe7.zip", r"hw3-(?P<id>\w+)") == "jdoe7"
    assert intake.student_id_from_name("other.zip", r"hw3-(?P<id>\w+)") == "other"


GRADESCOPE_YML = """\
submission_111:
  :submitters:
  - :name: Alice Smith
    :email: alice@example.edu
    :sid: '3031234'
  - :name: Bob Jones
    :email: bob@example.edu
    :sid:
  :created_at: 2026-11-20 10:00:00.000000000 -08:00
  :score:
submission_222:
  :submitters:
  - :name: "Carol"
    :email: carol@example.edu
    :sid: "42"
"""


def test_gradescope_metadata_parses_with_and_without_pyyaml():
    from grader.gradescope import export as gradescope

    parsed = gradescope.parse_tolerant(GRADESCOPE_YML)
    assert [gradescope.submitter_ids(e) for e in parsed.values()] == [["3031234", "bob"], ["42"]]
    try:
        import yaml
    except ImportError:
        return
    assert gradescope._normalize(yaml.safe_load(GRADESCOPE_YML)) == parsed


def test_gradescope_export_folder_maps_submissions_to_students(tmp_path):
    export = tmp_path / "export"
    (export / "submission_111").mkdir(parents=True)
    (export / "submission_111" / "part0_filters.ipynb").write_text("{}")
    (export / "submission_222").mkdir()
    make_zip(export / "submission_222" / "hw3_submission.zip", {"hw3/part0_filters.ipynb": "{}"})
    (export / "submission_metadata.yml").write_text(GRADESCOPE_YML)
    subs = intake.discover([export])
    assert [(s.student_id, s.members) for s in subs] == [("3031234", ["bob"]), ("42", [])]
    intake.unpack(subs[1], tmp_path / "out")  # the zip the student uploaded is what gets unpacked
    assert (tmp_path / "out" / "hw3" / "part0_filters.ipynb").exists()


def staged_files(folder):
    """Relative paths of everything under ``folder`` (links included, not followed)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_folder_submission_does_not_follow_a_linked_notebook(tmp_path):
    canary = tmp_path / "solutions" / "part0_filters.ipynb"  # stands for the grader's source notebook
    canary.parent.mkdir()
    canary.write_text('{"cells": [], "canary": "SOLUTION-CANARY"}')
    folder = tmp_path / "eve"
    folder.mkdir()
    (folder / "part0_filters.ipynb").symlink_to(canary)
    (folder / "notes.txt").write_text("mine")
    sub = intake.discover([folder])[0]
    intake.unpack(sub, tmp_path / "out")
    intake.match_notebooks(sub, ["part0_filters.ipynb"])
    out = tmp_path / "out"
    assert staged_files(out) == ["notes.txt"]
    assert not any(p.is_symlink() for p in out.rglob("*"))
    assert all("SOLUTION-CANARY" not in p.read_text() for p in out.rglob("*") if p.is_file())
    assert sub.status == Status.MISSING_NOTEBOOK and "part0_filters.ipynb" not in sub.notebooks
    assert "skipped 1 link in the folder: part0_filters.ipynb" in sub.detail


def test_folder_submission_does_not_follow_a_linked_folder(tmp_path):
    secret = tmp_path / "grader_source"
    secret.mkdir()
    (secret / "part0_filters.ipynb").write_text("SOLUTION-CANARY")
    folder = tmp_path / "class" / "eve"
    (folder / "hw3").mkdir(parents=True)
    (folder / "hw3" / "part1_other.ipynb").write_text("{}")
    (folder / "hw3" / "data").symlink_to(secret, target_is_directory=True)
    sub = intake.discover([folder.parent])[0]
    intake.unpack(sub, tmp_path / "out")
    assert staged_files(tmp_path / "out") == ["hw3", "hw3/part1_other.ipynb"]
    assert not (tmp_path / "out" / "hw3" / "data").exists()
    assert sub.status == Status.GRADED and sub.root == tmp_path / "out"
    assert "skipped 1 link in the folder: hw3/data" in sub.detail


def test_folder_submission_skips_a_fifo(tmp_path):
    import os

    folder = tmp_path / "eve"
    folder.mkdir()
    (folder / "part0_filters.ipynb").write_text("{}")
    os.mkfifo(folder / "pipe")  # opened by a plain copy, it would wait for a writer forever
    sub = intake.discover([folder])[0]
    intake.unpack(sub, tmp_path / "out")
    assert staged_files(tmp_path / "out") == ["part0_filters.ipynb"]
    assert sub.status == Status.GRADED and "skipped 1 special file in the folder: pipe" in sub.detail


def test_folder_over_the_caps_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(unpacking, "MAX_FILE_BYTES", 1000)
    big = tmp_path / "big"
    (big / "data").mkdir(parents=True)
    (big / "part0_filters.ipynb").write_text("{}")
    (big / "data" / "attachment.bin").write_bytes(b"x" * 1001)
    sub = intake.discover([big])[0]
    intake.unpack(sub, tmp_path / "a")
    assert sub.status == Status.REFUSED_ZIP and sub.root is None and not (tmp_path / "a").exists()
    assert "folder big refused: 'data/attachment.bin' is larger than" in sub.detail
    monkeypatch.setattr(unpacking, "MAX_FILES", 10)
    many = tmp_path / "many"
    many.mkdir()
    (many / "part0_filters.ipynb").write_text("{}")
    for i in range(12):
        (many / f"f{i}.txt").write_text("x")
    sub = intake.discover([many])[0]
    intake.unpack(sub, tmp_path / "b")
    assert sub.status == Status.REFUSED_ZIP and sub.root is None
    assert "folder many refused: at least 11 files (the limit is 10)" in sub.detail


def test_folder_caps_count_the_bytes_actually_copied(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(unpacking, "MAX_TOTAL_BYTES", 1500)
    monkeypatch.setattr(unpacking, "MAX_FILE_BYTES", 1200)
    folder = tmp_path / "carol"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"x" * 1000)
    (folder / "part0_filters.ipynb").write_bytes(b"x" * 1000)
    sub = intake.discover([folder])[0]
    intake.unpack(sub, tmp_path / "a")
    assert sub.status == Status.REFUSED_ZIP and "folder carol refused: more than" in sub.detail
    # A file that grows after its size was read: stopped by the bytes actually copied.
    (folder / "a.bin").write_bytes(b"x" * 1300)
    (folder / "part0_filters.ipynb").write_text("{}")
    real_fstat = os.fstat

    def stale_fstat(fd):
        st = real_fstat(fd)
        return os.stat_result(st[:6] + (0,) + st[7:10]) if stat.S_ISREG(st.st_mode) else st

    monkeypatch.setattr(os, "fstat", stale_fstat)
    sub = intake.discover([folder])[0]
    intake.unpack(sub, tmp_path / "b")
    monkeypatch.undo()
    assert sub.status == Status.REFUSED_ZIP and "more bytes than the caps allow" in sub.detail


def test_deep_trees_are_cut_in_zips_and_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(unpacking, "MAX_DEPTH", 4)
    deep = "a/b/c/d/e.txt"
    zpath = make_zip(tmp_path / "eve.zip", {"hw3/part0_filters.ipynb": "{}", deep: "x"})
    sub = intake.discover([zpath])[0]
    intake.unpack(sub, tmp_path / "z")
    assert staged_files(tmp_path / "z") == ["hw3", "hw3/part0_filters.ipynb"]
    assert "skipped 'a/b/c/d/e.txt' in the zip (nested more than 4 deep)" in sub.detail
    folder = tmp_path / "mallory"
    (folder / "a" / "b" / "c" / "d").mkdir(parents=True)
    (folder / "a" / "b" / "c" / "d" / "e.txt").write_text("x")
    (folder / "part0_filters.ipynb").write_text("{}")
    sub = intake.discover([folder])[0]
    intake.unpack(sub, tmp_path / "f")
    assert staged_files(tmp_path / "f") == ["part0_filters.ipynb"]
    assert "skipped 1 file or folder nested too deep in the folder: a/b/c/d" in sub.detail


def test_oversized_notebook_is_not_graded_and_the_others_are(tmp_path, monkeypatch):
    import nbformat

    monkeypatch.setattr(vetting, "MAX_NOTEBOOK_BYTES", 2000)
    small = nbformat.writes(nbformat.v4.new_notebook())
    huge = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("![img](attachment:x.png)")])
    huge.cells[0].attachments = {"x.png": {"image/png": "A" * 5000}}
    for origin in ("zip", "folder"):
        files = {"hw3/part0_filters.ipynb": nbformat.writes(huge), "hw3/part1_other.ipynb": small}
        if origin == "zip":
            path = make_zip(tmp_path / "frank.zip", files)
        else:
            path = tmp_path / "frank"
            for name, text in files.items():
                (path / name).parent.mkdir(parents=True, exist_ok=True)
                (path / name).write_text(text)
        sub = intake.discover([path])[0]
        intake.unpack(sub, tmp_path / origin)
        intake.match_notebooks(sub, ["part0_filters.ipynb", "part1_other.ipynb"])
        intake.drop_unreadable_notebooks(sub)
        assert list(sub.notebooks) == ["part1_other.ipynb"], origin
        assert sub.status == Status.UNREADABLE_NOTEBOOK
        assert "part0_filters.ipynb is too large to grade" in sub.detail and "the limit is" in sub.detail
