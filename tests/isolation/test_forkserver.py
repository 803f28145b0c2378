"""Kernels forked from the zygote (grader/isolation/forkserver.py) behave like freshly started ones, take
interrupts, die with whoever started them, and fall back to a normal start without a zygote. The
sandbox inside them is exercised by test_hostile_submissions, whose batches use the zygote."""

import json
import os
import subprocess
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

from grader.isolation import sandbox
from grader.isolation.forkserver_client import ForkedProcess, start_zygote


@pytest.fixture(scope="module")
def zygote():
    z = start_zygote({"OMP_NUM_THREADS": "1"}, 6 << 30, log=print)
    assert z is not None and z.wait_ready(), "the zygote did not start"
    yield z
    assert z.stop() == 0


@pytest.fixture()
def kernelspec(tmp_path, monkeypatch, zygote):
    monkeypatch.setenv("JUPYTER_PATH", str(sandbox.write_kernelspec(tmp_path / "spec", zygote=True)))
    monkeypatch.setenv("GRADER_ZYGOTE", zygote.socket_path)
    return zygote


def run_cells(sources, folder, timeout=30):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    NotebookClient(nb, timeout=timeout, interrupt_on_timeout=True, allow_errors=True, kernel_name="python3",
                   shutdown_kernel="immediate", resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def text_of(cell):
    return "".join(o.get("text", "") for o in cell.outputs)


PROBE = ("import json, os, random, sys\n"
         "preloaded = 'torch' in sys.modules\n"
         "import numpy as np\n"
         "print(json.dumps({'ppid': os.getppid(), 'pid': os.getpid(), 'cwd': os.getcwd(), 'preloaded': preloaded,\n"
         "                  'marker': os.environ.get('ZYGOTE_TEST_MARKER'),\n"
         "                  'zygote_env': 'GRADER_ZYGOTE' in os.environ,\n"
         "                  'grader_on_path': any(p.rstrip('/').endswith('/grader') for p in sys.path),\n"
         "                  'np_random': float(np.random.rand()), 'random': random.random(),\n"
         "                  'threads': int(__import__('torch').get_num_threads())}))\n")


def test_a_forked_kernel_runs_like_a_fresh_one(kernelspec, tmp_path, monkeypatch):
    monkeypatch.setenv("ZYGOTE_TEST_MARKER", "from the worker")
    first, second = (run_cells([PROBE, "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])"],
                               tmp_path) for _ in range(2))
    a, b = (json.loads(text_of(nb.cells[0])) for nb in (first, second))
    assert a["ppid"] == kernelspec.proc.pid and a["preloaded"], a  # forked, libraries already there
    assert a["cwd"] == str(tmp_path) and a["marker"] == "from the worker", a  # the worker's folder and variables
    assert not a["zygote_env"] and not a["grader_on_path"], a
    assert a["threads"] == 1, a  # the zygote's thread cap, read when PyTorch loaded
    assert a["np_random"] != b["np_random"] and a["random"] != b["random"]  # not the zygote's random state
    assert any("image/png" in o.get("data", {}) for o in first.cells[1].outputs)  # inline plots work


def test_an_interrupt_reaches_the_forked_kernel(kernelspec, tmp_path):
    nb = run_cells(["import time\ntime.sleep(60)", "print('the next cell runs')"], tmp_path, timeout=3)
    assert [o.get("ename") for o in nb.cells[0].outputs] == ["KeyboardInterrupt"]
    assert text_of(nb.cells[1]) == "the next cell runs\n"


def _gone(pid, within_s=10):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True  # dead, not reaped yet
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_the_kernel_dies_with_the_worker_that_started_it(kernelspec, tmp_path):
    """A worker killed for its time limit takes its kernel along, even one that ignores signals."""
    worker = (
        "from jupyter_client.manager import start_new_kernel\n"
        "km, kc = start_new_kernel(kernel_name='python3')\n"
        "reply = kc.execute_interactive('import os, signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print(os.getpid())', timeout=30, output_hook=lambda m: print(m['content'].get('text', ''), end='', "
        "flush=True))\n"
        "import time; time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", worker], stdout=subprocess.PIPE, text=True)
    kernel_pid = int(proc.stdout.readline())
    with open(f"/proc/{kernel_pid}/stat") as f:
        assert int(f.read().split(")")[-1].split()[1]) == kernelspec.proc.pid  # a child of the zygote
    proc.kill()
    proc.wait()
    assert _gone(kernel_pid), "the kernel outlived its worker"


def test_without_a_zygote_kernels_start_the_usual_way(kernelspec, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_ZYGOTE", str(tmp_path / "no-such-socket"))
    seen = json.loads(text_of(run_cells([PROBE], tmp_path).cells[0]))
    assert seen["ppid"] != kernelspec.proc.pid and seen["cwd"] == str(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_only_the_grader_s_user_may_ask_for_a_kernel(kernelspec):
    """Sandboxed kernels run as other users: they can neither reach the socket nor, were it open to
    all, be served by it."""
    folder = os.path.dirname(kernelspec.socket_path)
    attempt = (
        "import os, socket, sys\n"
        f"os.setgid({sandbox.UID_FIRST + 7}); os.setuid({sandbox.UID_FIRST + 7})\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
        f"try:\n    s.connect({kernelspec.socket_path!r})\nexcept PermissionError:\n    print('refused'); sys.exit()\n"
        "try:\n"
        "    socket.send_fds(s, [b'{\"argv\": [], \"env\": {}, \"cwd\": \"/\", \"rlimit_as\": [-1, -1]}'], [0, 1, 2])\n"
        "    print('served' if s.recv(100) else 'closed')\n"
        "except ConnectionError:\n"
        "    print('closed')\n")
    run = subprocess.run([sys.executable, "-c", attempt], capture_output=True, text=True, timeout=30)
    assert run.stdout.strip() == "refused", run.stderr
    os.chmod(folder, 0o755)
    os.chmod(kernelspec.socket_path, 0o777)
    try:
        run = subprocess.run([sys.executable, "-c", attempt], capture_output=True, text=True, timeout=30)
    finally:
        os.chmod(folder, 0o700)
        os.chmod(kernelspec.socket_path, 0o600)
    assert run.stdout.strip() == "closed", run.stderr


def test_stopping_the_zygote_stops_its_kernels(tmp_path, monkeypatch):
    own = start_zygote({}, 6 << 30)
    assert own.wait_ready()
    monkeypatch.setenv("JUPYTER_PATH", str(sandbox.write_kernelspec(tmp_path / "spec", zygote=True)))
    monkeypatch.setenv("GRADER_ZYGOTE", own.socket_path)
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    pids = []
    kc.execute_interactive("import os; print(os.getpid())", timeout=30,
                           output_hook=lambda m: pids.append(m["content"].get("text", "").strip()))
    kernel_pid = int(next(p for p in pids if p))
    try:
        assert own.stop() == 0
        assert _gone(kernel_pid)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert not os.path.exists(own.folder)


ECHO_MODULE = '''
import os, resource, sys, time
PRELOADED_IN = None
def preload():
    global PRELOADED_IN
    PRELOADED_IN = os.getpid()
def main(argv):
    print("argv", argv, "cwd", os.getcwd(), "mark", os.environ.get("ZYGOTE_TEST_MARKER"),
          "forked", PRELOADED_IN not in (None, os.getpid()), "cap", resource.getrlimit(resource.RLIMIT_AS)[0],
          flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    if argv[0] == "sleep":
        time.sleep(60)
    return int(argv[0]) if argv[0].isdigit() else 0
'''


@pytest.fixture(scope="module")
def echo_zygote(tmp_path_factory):
    folder = tmp_path_factory.mktemp("echo")
    (folder / "zygote_echo.py").write_text(ECHO_MODULE)
    z = start_zygote({"PYTHONPATH": str(folder)}, 4 << 30, module="zygote_echo")
    assert z.wait_ready()
    yield z
    assert z.stop() == 0


def test_a_forked_worker_gets_its_arguments_environment_and_memory_cap(echo_zygote, tmp_path):
    env = dict(os.environ, ZYGOTE_TEST_MARKER="set by the grader")
    proc = ForkedProcess(echo_zygote.socket_path, ["3"], env, 3 << 30, cwd=tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3 and err == "to stderr\n"
    assert out == f"argv ['3'] cwd {tmp_path} mark set by the grader forked True cap {3 << 30}\n"


def test_a_forked_worker_over_its_time_is_killed(echo_zygote, tmp_path):
    proc = ForkedProcess(echo_zygote.socket_path, ["sleep"], dict(os.environ), 3 << 30, cwd=tmp_path)
    with pytest.raises(subprocess.TimeoutExpired):
        proc.communicate(timeout=1)
    proc.kill()
    out, _ = proc.communicate(timeout=10)  # its pipes close: it is gone
    assert out.startswith("argv ['sleep']") and proc.returncode == -9 and _gone(proc.pid)


def test_without_a_worker_zygote_the_caller_is_told(tmp_path):
    with pytest.raises(OSError):
        ForkedProcess(str(tmp_path / "no-such-socket"), ["0"], dict(os.environ), 3 << 30)
