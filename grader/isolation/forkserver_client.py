"""The zygotes of a batch (``grader/isolation/forkserver.py``): started once, shared by all workers.

The kernel zygote: kernels forked from it skip the interpreter start and the library imports each
notebook would pay (about 2-4 s of CPU per notebook). It runs with the environment the kernels get
(the math-library thread caps are read when the libraries load, in the zygote) and their
address-space cap. The worker zygote (``module="grader.grading.worker"``): each submission's worker is
forked from it (``ForkedProcess``) instead of importing nbgrader again (~2 s of CPU). If either
cannot start, or dies, processes start the usual way: slower, the same isolation.
"""

import json
import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "forkserver.py"
START_TIMEOUT_S = 120  # the preload imports PyTorch: seconds on a cold disk
EXIT_GRACE_S = 5  # how long a finished child's output pipes are still read


def address_space_cap(memory_bytes):
    """A ``preexec_fn`` that caps a child's address space (RLIMIT_AS), which its children inherit."""
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


class Zygote:
    """A zygote process: ``socket_path`` for the workers' kernelspecs, ``stop()`` when the batch ends.

    Its socket appears once the preload is done; kernels asked for before then start the usual way.
    """

    def __init__(self, proc, folder):
        self.proc, self.folder = proc, folder
        self.socket_path = str(Path(folder) / "zygote.sock")

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=START_TIMEOUT_S):
        """Block until it serves; returns whether it does."""
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return bool(ready) and self.proc.stdout.readline().strip() == b"ready"

    def stop(self):
        """Close its stdin (it exits and kills any kernel still running), then clean up.

        Returns:
            its exit code (0 unless it failed or was killed); ``error`` then holds its last words.
        """
        self.error = ""
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        if self.proc.returncode:
            log = Path(self.folder) / "zygote.log"
            self.error = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(self.folder, ignore_errors=True)
        return self.proc.returncode


def start_zygote(env_overrides, memory_bytes, log=print, module=None):
    """Start a zygote whose children see ``os.environ`` plus ``env_overrides`` (minus PYTHONPATH
    unless given there), within ``memory_bytes`` of address space.

    Args:
        module: None for the kernel zygote, or a module with ``main(argv)`` (and optionally
            ``preload()``) whose main the children run.
    Returns at once (see ``Zygote``): Zygote, or None (with a line to ``log``) when it could not be
    started; processes then start the usual way.
    """
    # /tmp does not exist for sandboxed kernels, and a Unix socket path must stay short (108 bytes).
    folder = tempfile.mkdtemp(prefix="gz-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(env_overrides)
    try:
        with open(Path(folder) / "zygote.log", "wb") as errors:
            proc = subprocess.Popen(
                [sys.executable, str(SCRIPT), "serve", str(Path(folder) / "zygote.sock"),
                 *(["--module", module] if module else [])],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=env, cwd=folder,
                preexec_fn=address_space_cap(memory_bytes))
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        log(f"note: {module or 'kernels'} start without a zygote ({exc})")
        return None
    return Zygote(proc, folder)


class Zygotes:
    """A batch's kernel and worker zygotes; either may be None (not wanted, or did not start)."""

    def __init__(self, kernel=None, worker=None):
        self.kernel, self.worker = kernel, worker

    @classmethod
    def start(cls, kernel_env, worker_env, memory_bytes, log=print):
        """Start both (they preload in the background while the first submissions start the usual way).

        Args:
            kernel_env, worker_env: variables the kernels and the workers get on top of ``os.environ``
                (worker_env None: no worker zygote).
        """
        return cls(start_zygote(kernel_env, memory_bytes, log),
                   None if worker_env is None
                   else start_zygote(worker_env, memory_bytes, log, module="grader.grading.worker"))

    def kernel_socket(self):
        """Socket path for the workers' kernelspecs, or None when kernels must start the usual way."""
        return self.kernel.socket_path if self.kernel is not None and self.kernel.alive() else None

    def stop(self, log=print):
        for name, zygote in (("kernel", self.kernel), ("worker", self.worker)):
            if zygote is not None and zygote.stop() not in (0, None):
                last = (zygote.error.strip().splitlines() or [""])[-1][:300]
                log(f"note: the {name} zygote stopped early (exit code {zygote.proc.returncode}: {last}); "
                    "later processes started the usual way")


class ForkedProcess:
    """A child of a ``module`` zygote, with the parts of ``subprocess.Popen`` the grader uses.

    Its stdout and stderr come back through pipes; killing it closes the connection, and the zygote
    kills exactly that child (no pid reuse race). Raises OSError when the zygote cannot be reached
    or does not fork (callers then start the process the usual way).
    """

    def __init__(self, socket_path, argv, env, memory_bytes, cwd=None):
        self.args, self.returncode = argv, None
        self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pipes, stdin = [os.pipe(), os.pipe()], os.open(os.devnull, os.O_RDONLY)
        try:
            self._conn.connect(socket_path)
            request = {"argv": list(argv), "env": dict(env), "cwd": str(cwd or os.getcwd()),
                       "rlimit_as": [memory_bytes, memory_bytes]}
            socket.send_fds(self._conn, [json.dumps(request).encode()], [stdin, pipes[0][1], pipes[1][1]])
            reply = json.loads(self._conn.recv(1 << 20) or b"{}")
            if "pid" not in reply:
                raise OSError(reply.get("error", "the zygote did not fork"))
        except (OSError, ValueError) as exc:
            self._conn.close()
            for read_end, _ in pipes:
                os.close(read_end)
            raise OSError(f"worker zygote: {exc}") from exc
        finally:
            for fd in (stdin, pipes[0][1], pipes[1][1]):
                os.close(fd)
        self.pid = reply["pid"]
        self._order = (pipes[0][0], pipes[1][0])  # stdout, stderr
        self._chunks = {fd: [] for fd in self._order}
        self._open = set(self._order)

    def _waiting_for_exit(self):
        return self.returncode is None and self._conn.fileno() >= 0

    def communicate(self, timeout=None):
        """(stdout, stderr) as text once the child exited and closed both; TimeoutExpired after ``timeout`` s.

        Once the child has exited (or was killed), its pipes get ``EXIT_GRACE_S`` more: a process it
        left behind holding them must not keep the caller waiting.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._open or self._waiting_for_exit():
            if not self._waiting_for_exit():
                self._exited_at = getattr(self, "_exited_at", None) or time.monotonic()
                if time.monotonic() - self._exited_at > EXIT_GRACE_S:
                    self._close_pipes()
                    break
            waiting = [*self._open, *([self._conn] if self._waiting_for_exit() else [])]
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            left = 0.5 if left is None else min(left, 0.5)
            for ready in select.select(waiting, [], [], left)[0]:
                if ready is self._conn:
                    self.returncode = json.loads(self._conn.recv(1 << 20) or b"{}").get("exit", -9)
                    self._conn.close()
                elif data := os.read(ready, 1 << 16):
                    self._chunks[ready].append(data)
                else:
                    os.close(ready)
                    self._open.discard(ready)
        return tuple(b"".join(self._chunks[fd]).decode(errors="replace") for fd in self._order)

    def _close_pipes(self):
        for fd in self._open:
            os.close(fd)
        self._open.clear()

    def kill(self):
        """Kill the child: the zygote does, when the connection closes."""
        if self.returncode is None:
            self.returncode = -9
        self._conn.close()
