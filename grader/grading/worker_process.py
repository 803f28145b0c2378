"""Running one submission's worker (``grader.grading.worker``) as a child process, within its limits.

The worker is forked by the batch's worker fork server when there is one (``grader.isolation.
forkserver_client``), else started afresh in its own process group with the address-space cap. Past
the submission's time limit it is killed with its kernels. Ctrl-C (``interrupt_all``) kills every
worker in flight; their submissions raise ``Interrupted`` and are not recorded.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

from grader.course import REPO_ROOT
from grader.isolation.forkserver_client import ForkedProcess, address_space_cap
from grader.results import Status


class Interrupted(Exception):
    """The batch was interrupted (Ctrl-C): this submission's result must not be recorded."""


_INTERRUPTED = threading.Event()

_RUNNING = set()  # worker processes in flight, killed on interruption


def _kill_worker(proc):
    """Kill a worker (and, for one started here, its process group)."""
    if isinstance(proc, ForkedProcess):
        proc.kill()  # its kernels die with it (see grader.isolation.forkserver)
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass



def interrupted():
    """Whether the batch was interrupted (``interrupt_all``)."""
    return _INTERRUPTED.is_set()


def reset_interruption():
    """A new batch starts: not interrupted."""
    _INTERRUPTED.clear()


def interrupt_all():
    _INTERRUPTED.set()
    for proc in list(_RUNNING):
        _kill_worker(proc)



def thread_env(threads):
    """Environment variables that cap the math libraries' threads (PyTorch, OpenMP, BLAS) of a
    worker and its kernels; variables the instructor set are kept. None: no cap."""
    if not threads:
        return {}
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    return {name: str(threads) for name in names if name not in os.environ}



def _start_worker(argv, env, limits, worker_zygote):
    """The worker process: forked by the worker zygote when there is one, else started afresh."""
    if worker_zygote is not None and worker_zygote.alive():
        try:
            return ForkedProcess(worker_zygote.socket_path, argv[3:], env, limits.memory_bytes)
        except OSError:  # not serving (yet, or any more): the usual way
            pass
    return _SpawnedWorker(argv, env, limits.memory_bytes)



class _SpawnedWorker(subprocess.Popen):
    """A worker started afresh. Its output goes to files, not pipes: a process it leaves behind
    holding them (possible without namespaces) cannot keep ``communicate`` waiting once it exited."""

    def __init__(self, argv, env, memory_bytes):
        self._files = (tempfile.TemporaryFile(), tempfile.TemporaryFile())
        super().__init__(argv, stdout=self._files[0], stderr=self._files[1], env=env,
                         start_new_session=True,  # its own process group; sandboxed kernels also die with it
                         preexec_fn=address_space_cap(memory_bytes))

    def communicate(self, timeout=None):
        self.wait(timeout)
        texts = []
        for f in self._files:
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
            f.close()
        return tuple(texts)



def worker_env(threads):
    """Variables a worker gets on top of the grader's: the grader on its path, the thread caps."""
    return {"PYTHONPATH": str(REPO_ROOT), **thread_env(threads)}



def run_worker(course_root, student_id, limits, options=None, threads=None, worker_zygote=None):
    """Autograde one staged student in a child process, within ``limits``.

    Args:
        options: the worker's ``WorkerOptions`` (sandbox, kernelspec, events file), or None.
        threads: math-library threads for its kernels (``thread_env``), or None for the default.
        worker_zygote: the batch's worker zygote (``grader.isolation.forkserver_client``), or None.
    Returns:
        (status, detail): ``graded`` and "" (or why the feedback could not be written) on success,
        else ``timeout`` or ``grading error``.
    """
    env = dict(os.environ, **worker_env(threads))
    argv = [sys.executable, "-m", "grader.grading.worker", str(course_root), student_id, str(limits.cell_s)]
    if interrupted():
        raise Interrupted()
    proc = _start_worker(argv + ([options.to_json()] if options else []), env, limits, worker_zygote)
    _RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=limits.submission_s)
    except subprocess.TimeoutExpired:
        _kill_worker(proc)
        proc.communicate()
        return Status.TIMEOUT, f"grading took longer than {limits.submission_s:g} s and was stopped"
    finally:
        _RUNNING.discard(proc)
        _kill_worker(proc)  # a kernel left behind by a crashed worker
    if interrupted():
        raise Interrupted()
    try:
        reply = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        reply = {"success": False, "error": (err or out or "worker died")[-2000:]}
    if reply["success"]:
        return Status.GRADED, reply.get("feedback_error", "")
    last_line = next((ln for ln in reversed(reply["error"].splitlines()) if ln.strip()), "unknown")
    return Status.GRADING_ERROR, f"nbgrader failed: {last_line.strip()[:300]}"
