"""The kernel zygote of a batch (``grader/kernel_zygote.py``): started once, shared by all workers.

Kernels forked from it skip the interpreter start and the library imports each notebook would pay
(about 2-4 s of CPU per notebook). It runs with the environment the kernels get (the math-library
thread caps are read when the libraries load, in the zygote) and their address-space cap. If it
cannot start, or dies, kernels start the usual way: slower, the same sandbox.
"""

import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "kernel_zygote.py"
START_TIMEOUT_S = 120  # the preload imports PyTorch: seconds on a cold disk


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
            its exit code (0 unless it failed or was killed).
        """
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        return self.proc.returncode


def start_zygote(env_overrides, memory_bytes, log=print):
    """Start a zygote whose kernels see ``os.environ`` plus ``env_overrides`` (minus PYTHONPATH).

    Returns at once (see ``Zygote``): Zygote, or None (with a line to ``log``) when it could not be
    started; kernels then start the usual way.
    """
    # /tmp is hidden from sandboxed kernels, and a Unix socket path must stay short (108 bytes).
    folder = tempfile.mkdtemp(prefix="gz-")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(env_overrides)
    try:
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "serve", str(Path(folder) / "zygote.sock")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=folder,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes)))
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        log(f"note: kernels start without a zygote ({exc})")
        return None
    return Zygote(proc, folder)
