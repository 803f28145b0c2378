"""``python -m grader gradescope build``: the autograder zip for a Gradescope programming assignment.

The zip's top level becomes ``/autograder/source``: ``setup.sh`` and ``run_autograder``
(executable) and ``README.md`` for the instructor, from ``templates/gradescope/``;
``requirements.txt``, ``nbgrader_config.py``, the ``grader`` package, ``helpers/`` and
``source/hw3`` (the source notebooks, with the hidden tests).
Never tests, the student release, data, caches or grading output.
"""

import stat
import time
import zipfile
from pathlib import Path

from grader.course import ASSIGNMENT_ID, REPO_ROOT

# The bundle's own scripts and instructor README, as real files (shell, linted as shell).
TEMPLATES = Path(__file__).with_name("templates")
BUNDLE_SCRIPTS = (("setup.sh", True), ("run_autograder", True), ("README.md", False))  # (name, executable)

DEFAULT_BUNDLE = REPO_ROOT / "hw3_gradescope.zip"
PACKAGES = ("grader", "helpers", f"source/{ASSIGNMENT_ID}")
TOP_FILES = ("requirements.txt", "nbgrader_config.py")
EXCLUDED_PARTS = {"__pycache__", ".ipynb_checkpoints", "figures", "data", "models", "results", ".pytest_cache"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".npz", ".pt", ".tar.gz", ".zip")


def _wanted(path, top):
    rel = path.relative_to(top)
    return (path.is_file() and not path.is_symlink() and not EXCLUDED_PARTS & set(rel.parts)
            and not any(part.startswith(".") for part in rel.parts) and not path.name.endswith(EXCLUDED_SUFFIXES))


def bundle_files(repo_root=REPO_ROOT):
    """{name in the zip: path on disk} of the repository files that go into the bundle."""
    repo_root = Path(repo_root)
    files = {name: repo_root / name for name in TOP_FILES}
    for package in PACKAGES:
        top = repo_root / package
        for path in sorted(top.rglob("*")):
            if _wanted(path, top):
                files[path.relative_to(repo_root).as_posix()] = path
    return files


def _add(zf, name, data, executable=False):
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, data)


def build_bundle(dest=DEFAULT_BUNDLE, repo_root=REPO_ROOT):
    """Write the autograder zip; returns (path, list of names in it)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    names = []
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, executable in BUNDLE_SCRIPTS:
            _add(zf, name, (TEMPLATES / name).read_bytes(), executable)
            names.append(name)
        for name, path in bundle_files(repo_root).items():
            _add(zf, name, path.read_bytes())
            names.append(name)
    tmp.replace(dest)
    return dest, names


def extract_bundle(zip_path, dest):
    """Unpack a bundle the way Gradescope does, keeping the executable bits (for tests and checks)."""
    dest = Path(dest)
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
    return dest
