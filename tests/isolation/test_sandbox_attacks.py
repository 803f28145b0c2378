"""Attacks on the grading sandbox, made as a hostile student would: code in an answer cell only.

Each test stands for one class of attack (see ``grader/isolation/sandbox.py`` for what each mode promises):
a link planted where the grader (root) writes, a process that outlives its kernel and holds the
batch, a kernel looking at or signalling processes outside its sandbox, a process-limit exhaustion
aimed at the next student. They need the ``root`` sandbox (the grader runs as root with
namespaces); elsewhere they are skipped, and the report says which mode ran.

Everything planted lives under the test's own temporary folder; processes a failing run leaves
behind are killed by pid at the end of each test.
"""

import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from part0 import LAP, NB, REF, pids_with, student

from grader.course import ASSIGNMENT_ID
from grader.grading import Limits, autograde
from grader.isolation.kernel_launcher import _chown_tree, allocate_uid, kill_uid, processes_of, remove_links
from grader.isolation.sandbox import detect, uid_spec
from grader.results import Status

LIMITS = Limits(cell_s=20, memory_bytes=3 << 30, submission_s=90)
BOX = "part0_filters/test_box_kernel"


def _root_sandbox(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the root sandbox needs the grader to run as root")
    box = detect(tmp_path / "probe")
    if box.mode != "root":
        pytest.skip(f"no root sandbox here: {box.description}")


def _attack(cls, name, code):
    """A part-0 submission with reference answers and ``code`` run in the laplacian answer cell."""
    return student(cls / name, {**REF, "laplacian_kernel": code + "\n" + REF["laplacian_kernel"]})




@pytest.fixture
def marker_cleanup():
    """Markers whose processes are killed (by pid) after the test, whatever it found."""
    markers = []
    yield markers
    for marker in markers:
        for pid in pids_with(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _grade(tmp_path, cls, **kwargs):
    started = time.monotonic()
    results = autograde([cls], tmp_path / "out", LIMITS, log=lambda _: None, report=False, **kwargs)
    return {r.student_id: r for r in results}, time.monotonic() - started


def test_a_link_planted_where_the_grader_writes_is_never_followed(tmp_path):
    """The kernel swaps its notebook for a link to a root-owned file: nbgrader, as root, would write
    the graded notebook through it (any file on the host, e.g. /etc/passwd)."""
    _root_sandbox(tmp_path)
    canary = tmp_path / "canary.txt"
    canary.write_text("root's file")
    os.chmod(canary, 0o644)
    swap = (f"import os\nos.remove({NB!r})\nos.symlink({str(canary)!r}, {NB!r})\n"
            f"os.symlink({str(canary)!r}, 'also_a_link')\n")
    results, _ = _grade(tmp_path, _attack(tmp_path / "class", "swapper", swap).parent)
    assert canary.read_text() == "root's file" and canary.stat().st_uid == 0
    result = results["swapper"]
    assert result.scores[LAP] == 3 and result.scores[BOX] == 2, result.detail
    assert "were removed" in result.detail and "also_a_link" in result.detail
    graded = tmp_path / "out" / "autograded" / "swapper" / ASSIGNMENT_ID
    assert not (graded / NB).is_symlink() and json.loads((graded / NB).read_text())["cells"]


@pytest.mark.parametrize("preload", [True, False], ids=["forked-kernels", "launched-kernels"])
def test_nothing_a_notebook_starts_outlives_it_or_holds_the_batch(tmp_path, marker_cleanup, preload):
    """A detached process (double fork, setsid) holding the worker's output pipes, and a look around:
    the kernel must see only its own processes and be unable to signal the grader. Kernels forked
    by the zygote and kernels started by the launcher alike."""
    _root_sandbox(tmp_path)
    marker = f"outlive-{os.getpid()}-{time.monotonic_ns()}"
    marker_cleanup.append(marker)
    sleeper = "import os, time\nif os.fork():\n    os._exit(0)\nos.setsid()\ntime.sleep(150)\n"
    attack = (
        "import json, os, subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {sleeper!r}, {marker!r}], start_new_session=True)\n"
        "try:\n"
        f"    os.kill({os.getpid()}, 0); _signal = 'allowed'\n"
        "except ProcessLookupError:\n    _signal = 'no such process'\n"
        "except PermissionError:\n    _signal = 'denied'\n"
        "print('SEEN', json.dumps({'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),\n"
        "                           'signal': _signal}))\n")
    cls = tmp_path / "class"
    _attack(cls, "detacher", attack)
    student(cls / "neighbour")
    results, seconds = _grade(tmp_path, cls, workers=1, preload_kernels=preload)
    assert seconds < 120, f"the batch waited {seconds:.0f} s for a process the notebook left behind"
    assert pids_with(marker) == [], "a process the notebook started outlived the batch"
    for sid in ("detacher", "neighbour"):
        assert results[sid].status == Status.MISSING_NOTEBOOK, results[sid].detail  # part 0 only
        assert results[sid].scores[BOX] == 2 and results[sid].scores[LAP] == 3, results[sid].detail
    assert "left 1 process(es) running" in results["detacher"].detail
    graded = nbformat.read(tmp_path / "out" / "autograded" / "detacher" / ASSIGNMENT_ID / NB, as_version=4)
    [seen] = [json.loads(o.text.split("SEEN ", 1)[1]) for c in graded.cells if c.cell_type == "code"
              for o in c.outputs if o.get("output_type") == "stream" and "SEEN " in o.get("text", "")]
    assert seen["signal"] == "no such process"
    assert seen["pids"][0] == 1 and len(seen["pids"]) < 10, seen  # its own PID namespace


def test_exhausting_the_process_limit_does_not_reach_the_next_student(tmp_path, marker_cleanup):
    """Hundreds of sleeping processes, left behind on purpose: the next student graded (next batch,
    one worker: where a fixed uid per worker was shared) still gets a kernel and full marks, and
    nothing of the first one is left."""
    _root_sandbox(tmp_path)
    duration = f"{100 + os.getpid() % 50}.{time.monotonic_ns() % 10**6:06d}"  # a unique marker
    marker_cleanup.append(duration)
    attack = (
        "import subprocess\n"
        "for _ in range(600):\n"
        "    try:\n"
        f"        subprocess.Popen(['sleep', {duration!r}], start_new_session=True,\n"
        "                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "    except OSError:\n"
        "        break\n")
    first, _ = _grade(tmp_path, _attack(tmp_path / "first", "forker", attack).parent, workers=1)
    second, _ = _grade(tmp_path, student(tmp_path / "second" / "next_student").parent, workers=1)
    assert second["next_student"].scores[BOX] == 2 and second["next_student"].scores[LAP] == 3, \
        second["next_student"].detail
    assert pids_with(duration) == []
    assert "process(es) running" in first["forker"].detail


# --- the pieces, on their own ---------------------------------------------------------------------


def test_giving_a_folder_to_a_kernel_never_follows_its_links(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    canary = tmp_path / "canary"
    canary.write_text("x")
    folder = tmp_path / "kernel"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "link").symlink_to(canary)
    (folder / "dirlink").symlink_to(tmp_path)
    os.link(canary, folder / "hardlink")  # the kernel's uid could make this only to a file it may write
    _chown_tree(str(folder), 45678)
    assert canary.stat().st_uid == 0 and tmp_path.stat().st_uid == 0
    assert (folder / "sub").stat().st_uid == 45678 and os.lstat(folder / "sub" / "link").st_uid == 45678
    assert sorted(remove_links(str(folder))) == ["dirlink", "hardlink", "sub/link"]
    assert canary.read_text() == "x" and not os.path.lexists(folder / "dirlink")


def test_uids_are_fresh_locked_and_never_one_with_live_processes(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("uids are allocated in the root sandbox only")
    spec = dict(uid_spec(tmp_path), lock_dir=str(tmp_path / "locks" / "uids"), first=47000, count=2)
    os.chmod(tmp_path, 0o755)
    a, lock_a = allocate_uid(spec)
    b, lock_b = allocate_uid(spec)
    assert {a, b} == {47000, 47001}  # while a lock is held, no one else gets that uid
    with pytest.raises(OSError, match="no free uid"):
        allocate_uid(spec)
    os.close(lock_a)
    os.close(lock_b)
    # A uid with a live process (here: a detached one, in its own session) is never handed out...
    code = ("import os, sys, time\nos.setgid(47000); os.setuid(47000)\nif os.fork():\n    os._exit(0)\n"
            "os.setsid(); print(os.getpid(), flush=True); os.close(1); os.close(2); time.sleep(60)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)
    orphan = int(proc.stdout.split()[0])
    try:
        uid, lock = allocate_uid(spec)
        os.close(lock)
        assert uid == 47001
        # ...until all of its processes are killed and waited for.
        assert processes_of(47000) == [orphan]
        assert kill_uid(47000) == 1 and processes_of(47000) == []
    finally:
        try:
            os.kill(orphan, signal.SIGKILL)
        except ProcessLookupError:
            pass
