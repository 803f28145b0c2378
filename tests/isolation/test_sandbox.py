"""The pieces of isolation on their own: sandbox detection and the launcher, the guard's view of a
notebook, the gradebook merge. Fast; the whole chain is exercised by test_hostile_submissions."""

import json
import os
import subprocess
import sys

import nbformat
import pytest

from grader.isolation import sandbox
from grader.isolation.guard import protected_names
from grader.isolation.kernel_folders import KernelFolders


def test_detect_picks_a_working_mode_and_says_what_it_protects(tmp_path):
    box = sandbox.detect(tmp_path)
    assert box.mode in ("root", "userns", "none")
    assert box.mode in box.description
    if os.geteuid() == 0:
        assert box.mode != "none" or "unavailable" in box.reason  # root falls back only with a reason
    assert sandbox.detect(tmp_path, "none").mode == "none"


@pytest.fixture
def course_copy_elsewhere():
    """A readable copy of a course's source outside /tmp and any home (as an instructor may keep on
    the grading machine); removed afterwards. None where no such folder can be made."""
    import shutil
    import tempfile

    for parent in ("/srv", "/opt", "/var/lib"):
        try:
            folder = tempfile.mkdtemp(prefix="hw3-course-copy-", dir=parent)
        except OSError:
            continue
        os.chmod(folder, 0o755)
        secret = os.path.join(folder, "solutions.ipynb")
        with open(secret, "w") as f:
            f.write("### BEGIN SOLUTION")
        os.chmod(secret, 0o644)
        yield secret
        shutil.rmtree(folder, ignore_errors=True)
        return
    yield None


@pytest.mark.parametrize("mode", ["auto", "userns"])
def test_launcher_hides_the_course_and_the_network(tmp_path, mode, course_copy_elsewhere):
    box = sandbox.detect(tmp_path, mode)
    if box.mode == "none":
        pytest.skip(box.description)
    course = tmp_path / "course"
    kernel_dir = course / "work" / "s" / "kernel" / "hw3"
    (tmp_path / "course-files" / "helpers").mkdir(parents=True)
    folders = KernelFolders(str(kernel_dir), str(course / "work" / "s" / "home"), (str(tmp_path / "course-files"),))
    folders.renew()
    (course / "gradebook.db").write_text("secret")
    runtime = tmp_path / "rt"
    runtime.mkdir()
    cache = course / "data-cache"  # inside the hidden course folder, as share_data_cache makes it
    cache.mkdir()
    (cache / "cifar10.npz").write_text("cached")
    os.chmod(cache / "cifar10.npz", 0o644)
    cfg = sandbox.kernel_config(box, folders, runtime, data_cache=cache)
    # An earlier kernel of the submission left a link where the launcher mounts the cache view.
    (course / "work" / "s" / "home" / "cache-ro").symlink_to(tmp_path / "planted")
    gradebook = str(course / "gradebook.db")
    probe = (
        "import os, socket, json\n"
        f"out = {{'cwd': os.getcwd(), 'gradebook': os.path.exists({gradebook!r}), 'uid': os.getuid()}}\n"
        f"out['elsewhere'] = os.path.exists({str(course_copy_elsewhere or '/nonexistent')!r})\n"
        "out['root'] = sorted(os.listdir('/'))\n"
        f"try:\n    os.kill({os.getpid()}, 0); out['signal'] = 'allowed'\n"
        "except ProcessLookupError:\n    out['signal'] = 'no such process'\n"
        "except PermissionError:\n    out['signal'] = 'denied'\n"
        "out['cache'] = open(os.path.join(os.environ['HW3_CACHE_DIR'], 'cifar10.npz')).read()\n"
        "try:\n    socket.create_connection(('127.0.0.1', 9), timeout=1); out['net'] = True\n"
        "except OSError:\n    out['net'] = False\n"
        "try:\n    open('helpers/x.py', 'w'); out['helpers_writable'] = True\n"
        "except OSError:\n    out['helpers_writable'] = False\n"
        "print(json.dumps(out))\n")
    code = (f"import runpy, sys; sys.argv = ['x']; ns = runpy.run_path({str(sandbox.LAUNCHER)!r}); "
            "import json, os; ns['enter'](json.loads(os.environ.pop('GRADER_SANDBOX')))\n"
            f"os.execv(sys.executable, [sys.executable, '-c', {probe!r}])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, GRADER_SANDBOX=json.dumps(cfg)))
    assert run.returncode == 0, run.stderr[-2000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    root = seen.pop("root")
    assert not (tmp_path / "planted").exists()
    assert seen == {"cwd": str(kernel_dir), "gradebook": False, "uid": seen["uid"], "net": False,
                    "helpers_writable": False, "cache": "cached", "elsewhere": False,  # the cache is seen, read-only
                    "signal": "no such process"}  # its own PID namespace: the grader's processes do not exist
    # An allow-list: the system folders, the devices, /proc, /tmp, and the paths down to its own folders.
    assert not {"home", "srv", "opt", "var", "sys", "boot", "mnt"} & set(root) - {str(kernel_dir).split("/")[1]}, root
    if box.mode == "root":
        assert sandbox.UID_FIRST <= seen["uid"] < sandbox.UID_FIRST + sandbox.UID_COUNT


def test_kernels_get_a_data_cache_without_the_test_labels(tmp_path, monkeypatch):
    import numpy as np

    import helpers.data

    rng = np.random.default_rng(0)
    data = helpers.data.Cifar10(rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 20),
                                rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 8),
                                helpers.data.CLASS_NAMES)
    load = helpers.data.load_cifar10
    monkeypatch.setattr(helpers.data, "load_cifar10", lambda **kw: data)
    monkeypatch.setenv("HW3_CACHE_DIR", str(tmp_path / "mine"))
    shared = sandbox.share_data_cache(tmp_path / "out", log=print)
    assert shared == tmp_path / "out" / "data-cache"
    monkeypatch.delenv("HW3_DATA_DIR", raising=False)  # the kernel is not told of the instructor's data
    copy = shared / helpers.data.CACHE_NAME
    assert copy.stat().st_mode & 0o004 and shared.stat().st_mode & 0o001  # the kernels' uids can read it
    seen = load(cache_dir=shared, download=False)  # as the kernel loads it
    assert np.array_equal(seen.x_train, data.x_train) and np.array_equal(seen.y_train, data.y_train)
    assert np.array_equal(seen.x_test, data.x_test)
    assert (seen.y_test == helpers.data.WITHHELD_LABEL).all()
    with np.load(copy) as npz:  # not in the file at all
        assert not any(np.array_equal(npz[k], data.y_test) for k in npz.files if npz[k].shape == (8,))


def test_without_a_sandbox_the_kernel_is_told_the_grading_cache_only(tmp_path, monkeypatch):
    monkeypatch.setenv("HW3_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "cache").mkdir()
    folders = KernelFolders(str(tmp_path / "k"), str(tmp_path / "home"))
    box = sandbox.detect(tmp_path, "none")
    cfg = sandbox.kernel_config(box, folders, tmp_path / "rt", data_cache=tmp_path / "cache")
    assert cfg["binds"] == []  # no mount namespace: nothing would mount them
    assert cfg["env"]["HW3_DATA_DIR"] is None  # unset: the instructor's data holds the test labels
    assert cfg["env"]["HW3_CACHE_DIR"] == str(tmp_path / "cache")


def test_guard_protects_what_the_read_only_cells_import():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nimport numpy as np\nimport scipy.ndimage\n"
                                  "from helpers.checks import assert_close as ac, passed"),
        nbformat.v4.new_code_cell("from evil import thing"),  # a student cell: not protected
    ])
    nb.cells[0].metadata["nbgrader"] = {"locked": True, "grade": False, "solution": False, "grade_id": "setup"}
    assert protected_names(nb.cells) == {"np": ("numpy", None), "scipy": ("scipy", None),
                                         "ac": ("helpers.checks", "assert_close"),
                                         "passed": ("helpers.checks", "passed")}


def test_python_paths_never_reopen_the_repository():
    from grader.course import REPO_ROOT

    for path in sandbox.python_paths():
        assert path != str(REPO_ROOT) and not str(REPO_ROOT).startswith(path.rstrip("/") + "/")


def test_workers_share_the_cores_between_their_kernels_math_threads(monkeypatch):
    from grader.grading.worker_process import thread_env

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert thread_env(1) == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    assert thread_env(None) == {}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the instructor's own setting wins
    assert thread_env(2) == {"MKL_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
