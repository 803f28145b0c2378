"""Finding and unpacking submissions: ids, safe zips, notebook matching."""

import stat
import zipfile

import pytest

from grader import intake


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
    assert [s.status for s in subs] == [intake.GRADED, intake.DUPLICATE_ID]


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
    assert sub.status == intake.GRADED and "symbolic link" in sub.detail and "outside" in sub.detail


def test_broken_zip_gets_status(tmp_path):
    bad = tmp_path / "mallory.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    sub = intake.discover([bad])[0]
    intake.unpack(sub, tmp_path / "out")
    assert sub.status == intake.UNREADABLE_ZIP and sub.root is None


def test_notebooks_matched_exactly_or_through_rename_noise(tmp_path):
    folder = tmp_path / "dave"
    (folder / "hw3").mkdir(parents=True)
    (folder / "hw3" / "Copy of part0_filters (1).ipynb").write_text("{}")
    sub = intake.discover([folder.parent])[0]
    intake.unpack(sub, tmp_path / "out")
    intake.match_notebooks(sub, ["part0_filters.ipynb", "part1_other.ipynb"])
    assert sub.notebooks["part0_filters.ipynb"].name == "Copy of part0_filters (1).ipynb"
    assert sub.status == intake.MISSING_NOTEBOOK
    assert "part1_other.ipynb not found" in sub.detail and "graded 'Copy of" in sub.detail
