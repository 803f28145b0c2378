"""``gradescope run`` in a simulated Docker-default container (``tests/support/docker_default.py``): root
without CAP_SYS_ADMIN, namespaces refused by seccomp. The sandbox falls back to the ``uid`` mode
and must still grade: the reference answers score full, results.json says which isolation ran,
and a hostile submission can read none of ROOT's grader-side files, cannot write results.json, and
leaves nothing running.

The container's Python must be readable by unprivileged users (Gradescope's image installs it in
/usr and /autograder/venv). Here it may live under /root (0700), so the command first enters a
private mount namespace (while it is still fully root) in which the folders above the interpreter
and the CIFAR-10 cache are traversable, then becomes the simulated container.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker_default
import pytest
from part0 import PART0, part0_student, pids_with

from grader.cells import reference_answers
from grader.course import SOURCE_DIR
from grader.gradescope.bundle import build_bundle, extract_bundle

# Run as root before the container is entered: overlays the non-traversable folders above the paths
# given as arguments with a 0755 tmpfs and binds those paths back.
READABLE_PATHS = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def call(ret, what):
    if ret != 0:
        raise OSError(ctypes.get_errno(), what)
call(libc.unshare(0x00020000), "unshare")
call(libc.mount(None, b"/", None, ctypes.c_ulong(16384 | (1 << 18)), None), "private")
sep = sys.argv.index("--")
wanted = []  # (the highest folder above the path that others cannot traverse, the path, a handle on it)
for path in sys.argv[1:sep]:  # all looked at before anything is covered: several may share that folder
    path = os.path.realpath(path)
    if not os.path.exists(path):
        continue
    parts = path.split("/")
    blocked = next((("/".join(parts[:i]) or "/") for i in range(2, len(parts) + 1)
                    if not os.stat("/".join(parts[:i])).st_mode & 0o001), None)
    if blocked is not None and blocked != path:
        wanted.append((blocked, path, os.open(path, os.O_PATH)))
for blocked in sorted({b for b, _, _ in wanted if not any(b.startswith(o + "/") for o, _, _ in wanted)}):
    call(libc.mount(b"tmpfs", blocked.encode(), b"tmpfs", ctypes.c_ulong(0), b"mode=0755"), "tmpfs")
for _, path, handle in wanted:
    os.makedirs(path, exist_ok=True)
    call(libc.mount(f"/proc/self/fd/{handle}".encode(), path.encode(), None, ctypes.c_ulong(4096 | 16384), None),
         "bind")
os.execv(sys.argv[sep + 1], sys.argv[sep + 1:])
"""

MARKER = f"gs-container-{os.getpid()}"
HOSTILE = """import os, subprocess, sys
ROOT = {root!r}
def _try(label, fn):
    try:
        fn()
        print("PROBE", label, "allowed")
    except Exception as exc:
        print("PROBE", label, "blocked:", type(exc).__name__)
_try("read metadata", lambda: open(os.path.join(ROOT, "submission_metadata.json")).read())
_try("read source", lambda: open(os.path.join(ROOT, "source", "source", "hw3", {nb!r})).read())
_try("list grading", lambda: os.listdir(os.path.join(ROOT, "grading")))
_try("list results", lambda: os.listdir(os.path.join(ROOT, "results")))
_try("write results", lambda: open(os.path.join(ROOT, "results", "results.json"), "w").write("{{}}"))
_try("signal the grader", lambda: os.kill({grader_pid}, 0))
_writer = (
    "import os, sys, time\\n"
    "if os.fork():\\n    os._exit(0)\\n"
    "os.setsid()\\n"
    "end = time.time() + 90\\n"
    "while time.time() < end:\\n"
    "    try:\\n"
    "        open(sys.argv[1], 'w').write('{{\\"score\\": 999}}')\\n"
    "    except OSError:\\n"
    "        pass\\n"
    "    time.sleep(0.2)\\n")
subprocess.Popen([sys.executable, "-c", _writer, os.path.join(ROOT, "results", "results.json"), {marker!r}],
                 start_new_session=True)
"""


@pytest.fixture(scope="module")
def container_run():
    if os.geteuid() != 0:
        pytest.skip("simulating a container's root needs root")
    from helpers.data import default_cache_dir

    root = Path(tempfile.mkdtemp(prefix="gs-container-"))  # under /tmp: traversable, as /autograder is
    os.chmod(root, 0o755)
    try:
        zip_path, _ = build_bundle(root / "hw3_gradescope.zip")
        extract_bundle(zip_path, root / "source")
        (root / "hw3_gradescope.zip").unlink()
        student = part0_student(root / "student", reference_answers(SOURCE_DIR / PART0))
        nb = json.loads((student / PART0).read_text())
        hostile = HOSTILE.format(root=str(root), nb=PART0, grader_pid=os.getpid(), marker=MARKER)
        for cell in nb["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "laplacian_kernel":
                cell["source"] = hostile + "\n" + "".join(cell["source"])
        (student / PART0).write_text(json.dumps(nb))
        shutil.copytree(student, root / "submission")
        (root / "submission_metadata.json").write_text('{"previous_submissions": "secret"}')
        (root / "results").mkdir()
        env = dict(os.environ, PYTHONPATH=str(root / "source"), MPLBACKEND="Agg",
                   HW3_CACHE_DIR=str(default_cache_dir()))
        argv = [sys.executable, "-c", READABLE_PATHS, sys.base_prefix, sys.prefix, str(default_cache_dir()), "--",
                *docker_default.command([sys.executable, "-m", "grader", "gradescope", "run", "--root", str(root)])]
        started = time.monotonic()
        proc = subprocess.run(argv, cwd=root / "source", env=env, capture_output=True, text=True, timeout=900)
        seconds = time.monotonic() - started
        time.sleep(1)  # a leftover writer, had there been one, would have rewritten results.json by now
        try:
            results = json.loads((root / "results" / "results.json").read_text())
            graded = root / "grading" / "autograded" / "submission" / "hw3" / PART0
            lines = [line for cell in json.loads(graded.read_text())["cells"] for out in cell.get("outputs", [])
                     for line in "".join(out.get("text", "")).splitlines() if line.startswith("PROBE")]
        except (OSError, ValueError) as exc:  # say why: the run's own words
            raise AssertionError(f"gradescope run left no graded notebook or results ({exc}); its output:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}") from None
        yield proc, results, lines, seconds
    finally:
        for pid in pids_with(MARKER):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not os.environ.get("KEEP_GS_ROOT"):
            shutil.rmtree(root, ignore_errors=True)


def test_grades_in_uid_mode_where_namespaces_are_refused(container_run):
    proc, results, _, _ = container_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert results["extra_data"]["isolation"].startswith("uid:"), results["extra_data"]["isolation"]
    assert "Isolation of your code while graded: uid" in results["output"]
    scores = {t["name"]: t["score"] for t in results["tests"]}
    assert scores["part0_filters/test_box_kernel"] == 2 and scores["part0_filters/test_laplacian_kernel"] == 3


def test_a_hostile_kernel_in_uid_mode_reaches_nothing_of_the_grader(container_run):
    _, results, lines, _ = container_run
    assert len(lines) == 6, lines
    assert all("blocked" in line for line in lines), lines
    assert "999" not in json.dumps(results)
    assert pids_with(MARKER) == [], "a process of the submission outlived the grading"
