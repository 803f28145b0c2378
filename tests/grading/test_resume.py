"""Which submission a free worker takes next: the largest (``content_size``), so a batch does not end
on one long one."""

import zipfile

from grader.grading.resume import content_size


def test_expected_work_is_bytes_on_disk_without_following_links(tmp_path):
    folder = tmp_path / "student"
    (folder / "models").mkdir(parents=True)
    (folder / "part0.ipynb").write_bytes(b"x" * 100)
    (folder / "models" / "own.pt").write_bytes(b"x" * 5000)
    (tmp_path / "huge").write_bytes(b"x" * 100_000)
    (folder / "link").symlink_to(tmp_path / "huge")
    assert content_size(folder) == 5100
    with zipfile.ZipFile(tmp_path / "student.zip", "w") as zf:
        zf.writestr("part0.ipynb", "{}")
    assert content_size(tmp_path / "student.zip") == (tmp_path / "student.zip").stat().st_size
    assert content_size(tmp_path / "gone.zip") == 0
