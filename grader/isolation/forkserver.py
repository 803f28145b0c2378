"""Start notebook kernels by forking a process that has already imported what kernels import.

A fresh kernel takes about a second before its first cell (interpreter, ipykernel), and each
notebook's imports another 1-4 s of CPU (numpy, scipy, matplotlib, PyTorch, and the compiler stack
PyTorch loads with its first optimizer): four notebooks per submission pay that again and again.
The zygote imports those libraries once per batch and forks a kernel per request; the child builds
the same sandbox as ``kernel_launcher.py`` (same code, in the child), then runs ipykernel in place.
Standalone: imports nothing from the repository but the launcher beside it.

Two entry points:

``python forkserver.py serve SOCKET [--module NAME]``
    Preload, listen on the Unix socket SOCKET (only this uid may connect), print "ready", and
    fork a kernel for each request until stdin closes or SIGTERM. The zygote never runs
    notebook code itself, so no kernel sees what another did. With ``--module NAME`` it forks
    that module's ``main(argv)`` instead (after calling its ``preload()`` once): the grading
    workers, which would otherwise import nbgrader for every submission (see ``grader.isolation.forkserver_client``).
``python forkserver.py -f CONNECTION_FILE`` (the kernelspec's argv)
    The kernel as jupyter_client sees it: asks the zygote named by ``GRADER_ZYGOTE`` for a
    kernel (with this process's environment, folder, address-space limit and stdio), forwards
    the signals it gets (interrupts) and exits when the kernel does. Killed, its connection
    closes and the zygote kills the kernel. Without a reachable zygote it runs
    ``kernel_launcher.py`` instead (the slower path, same sandbox).

Each child re-seeds Python's and numpy's global random generators, so kernels do not share
the zygote's state.

Longer than this code base's ~300 lines a module, on purpose: it runs as a script that imports
nothing from the repository but the launcher (by path), so both of its sides live in this file.
"""

import json
import os
import resource
import selectors
import signal
import socket
import sys

ZYGOTE_ENV = "GRADER_ZYGOTE"
LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernel_launcher.py")
# What the course's notebooks and their helpers import (missing ones are skipped). torch._dynamo
# and torch.onnx are imported lazily by the first optimizer and by tracing (2 s of CPU), ipywidgets
# by tqdm's notebook bar. Not tqdm.auto itself: it picks the notebook or the terminal bar when imported.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "IPython.core.completer", "matplotlib_inline.backend_inline",
           "numpy", "scipy.ndimage", "scipy.signal", "matplotlib.pyplot", "torch", "torch.nn.functional",
           "torch._dynamo", "torch.onnx", "ipywidgets")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
MAX_MESSAGE = 1 << 20
PR_SET_DUMPABLE, PR_SET_PDEATHSIG = 4, 1


def _send(conn, message, fds=()):
    data = json.dumps(message).encode()
    socket.send_fds(conn, [data], list(fds)) if fds else conn.send(data)


# --- the kernel's side: a stand-in process for jupyter_client -------------------------------------


def request_kernel(argv):
    """Ask the zygote for a kernel and stand in for it until it exits; returns its exit code."""
    import ctypes

    # Dies with the grading worker (its parent), and so does the kernel: a killed worker's kernel
    # must not run on in the zygote.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.environ.get("JPY_PARENT_PID", str(os.getppid())) != str(os.getppid()):
        return 1  # the worker died before the line above
    path = os.environ.pop(ZYGOTE_ENV, "")
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(path)
        _send(conn, {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd(),
                     "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)}, fds=(0, 1, 2))
        reply = json.loads(conn.recv(MAX_MESSAGE) or b"{}")
    except (OSError, ValueError):
        reply = {}
    if "pid" not in reply:  # no zygote (or it could not fork): start the kernel the usual way
        conn.close()
        os.execv(sys.executable, [sys.executable, LAUNCHER, *argv])
    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, lambda n, _frame: _send(conn, {"signal": n}))
    while True:
        try:
            message = json.loads(conn.recv(MAX_MESSAGE) or b'{"exit": 1}')
        except OSError:
            message = {"exit": 1}
        if "exit" in message:
            return message["exit"]


# --- the zygote -----------------------------------------------------------------------------------


def _preload():
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # a library this machine lacks: the kernel imports (or misses) it itself
            pass


class _Zygote:
    """The serving loop; ``serve`` returns only in a forked child, with the request to run."""

    def __init__(self, path):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        old_umask = os.umask(0o177)  # the socket: this uid only
        try:
            self.listener.bind(path)
        finally:
            os.umask(old_umask)
        self.listener.listen(64)
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_r, False)
        os.set_blocking(self.wakeup_w, False)
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd hears of it
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the grader, which stops us
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, "children")
        self.selector.register(sys.stdin, selectors.EVENT_READ, "stdin")
        self.children = {}  # pid -> connection of the stand-in that asked for it
        self.running = True
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))

    def serve(self):
        while self.running:
            for key, _ in self.selector.select(timeout=1.0):
                if key.data == "accept":
                    request = self._accept()
                    if request is not None:
                        return request  # in the child
                elif key.data == "children":
                    self._reap()
                elif key.data == "stdin":
                    if not os.read(sys.stdin.fileno(), 4096):
                        self.running = False  # the grader is gone
                else:
                    self._from_stand_in(key.fileobj, key.data)
        for pid in self.children:
            _kill(pid, signal.SIGKILL)
        return None

    def _accept(self):
        conn, _ = self.listener.accept()
        uid = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)[4:8]
        if int.from_bytes(uid, sys.byteorder) != os.getuid():
            conn.close()
            return None
        try:
            data, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
            request = json.loads(data)
            if len(fds) != 3:
                raise ValueError("no stdio")
        except (OSError, ValueError):
            conn.close()
            return None
        try:
            pid = os.fork()
        except OSError as exc:
            _close_all(fds)
            _send(conn, {"error": str(exc)})
            conn.close()
            return None
        if pid == 0:
            self._become_child(conn, fds)
            return request
        _close_all(fds)
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)
        try:
            _send(conn, {"pid": pid})
        except OSError:  # the stand-in is already gone: _from_stand_in kills the kernel
            pass
        return None

    def _become_child(self, conn, fds):
        """In the forked child: drop every trace of the server, take the stand-in's stdio."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.selector.close()
        _close_all([self.listener.detach(), self.wakeup_r, self.wakeup_w, conn.detach(),
                    *[c.detach() for c in self.children.values()]])
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        _close_all(fds)
        os.setsid()

    def _from_stand_in(self, conn, pid):
        try:
            message = json.loads(conn.recv(MAX_MESSAGE) or b'{"gone": true}')
        except (OSError, ValueError):
            message = {"gone": True}
        if "signal" in message and int(message["signal"]) in [int(s) for s in FORWARDED_SIGNALS]:
            _kill(pid, int(message["signal"]))
        elif "gone" in message:  # the stand-in was killed: so is its kernel
            _kill(pid, signal.SIGKILL)
            self.selector.unregister(conn)

    def _reap(self):
        while True:
            try:
                os.read(self.wakeup_r, 4096)
            except BlockingIOError:
                pass
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                try:
                    _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                except OSError:
                    pass
                if conn.fileno() in self.selector.get_map():
                    self.selector.unregister(conn)
                conn.close()


def _kill(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _lowered(current, wanted):
    """The (soft, hard) limit pair that is no higher than either (an unprivileged process cannot raise one)."""
    def low(a, b):
        return b if a == resource.RLIM_INFINITY else a if b == resource.RLIM_INFINITY else min(a, b)
    hard = low(current[1], wanted[1])
    return low(low(current[0], wanted[0]), hard), hard


def _adopt(request):
    """In a forked child: the requester's environment, folder and address-space limit, and fresh
    global random generators (not the zygote's state, which every child would share)."""
    import random

    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    resource.setrlimit(resource.RLIMIT_AS, _lowered(resource.getrlimit(resource.RLIMIT_AS), request["rlimit_as"]))
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()


def run_kernel(request):
    """In the forked child: the stand-in's environment and limits, the sandbox, then ipykernel."""
    import ctypes

    _adopt(request)
    import kernel_launcher

    argv = request["argv"]
    cfg = json.loads(os.environ.pop(kernel_launcher.SANDBOX_ENV, '{"mode": "none"}'))
    kernel_launcher.enter(cfg, argv[argv.index("-f") + 1])
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # after the uid change, which resets it
    sys.path[:] = [p for p in sys.path if p]  # as ipykernel_launcher does
    sys.argv = [os.path.join(os.path.dirname(os.path.dirname(sys.modules["ipykernel"].__file__)),
                             "ipykernel_launcher.py"), *argv]
    if os.environ.get("JPY_PARENT_PID"):  # read when ipykernel was imported, in the zygote: say it again
        sys.argv.append(f"--IPKernelApp.parent_handle={os.environ['JPY_PARENT_PID']}")
    from ipykernel import kernelapp

    kernel_launcher.without_subprocess_pipe()
    kernelapp.launch_new_instance()
    return 0


def _load_launcher():
    """kernel_launcher.py beside this file, imported without putting this folder on sys.path (its
    modules' names would shadow libraries' imports) and before the fork, while the folder is visible."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("kernel_launcher", LAUNCHER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["kernel_launcher"] = module


def run_module(module, request):
    """In a child of a ``--module`` zygote: the requester's environment, folder and limits, then ``main``."""
    _adopt(request)
    sys.argv = [module.__name__, *request["argv"]]
    return module.main(request["argv"])


def serve(path, module_name=None):
    """The zygote's main: preload, listen, fork. Returns in each child, with its exit code."""
    import ctypes
    import importlib

    libc = ctypes.CDLL(None)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # kernels of the same uid cannot read this process
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the grader
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if module_name:
        module = importlib.import_module(module_name)
        getattr(module, "preload", lambda: None)()
    else:
        _load_launcher()
        _preload()
    zygote = _Zygote(path)
    print("ready", flush=True)
    request = zygote.serve()
    if request is None:
        return 0
    return run_module(module, request) if module_name else run_kernel(request)


def main(argv):
    if argv[:1] == ["serve"]:
        return serve(argv[1], argv[argv.index("--module") + 1] if "--module" in argv else None)
    return request_kernel(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
