"""The seccomp filter that keeps a "uid"-mode kernel off the network where no network namespace can
be made (Docker's default profile, Gradescope): internet, netlink and packet sockets and io_uring are
refused, Unix sockets (how the kernel and the grader talk) work, and children inherit it. The real
container test (``tests/gradescope/test_real_container.py``) runs it where it matters."""

import json
import os
import subprocess
import sys

import pytest

from grader.isolation import sandbox

if sys.platform != "linux" or os.uname().machine not in ("x86_64", "aarch64"):
    pytest.skip("the filter is for Linux on x86_64 and aarch64", allow_module_level=True)

TRIES = """
import ctypes, json, os, socket, subprocess, sys
results = {}
for name, family, kind in (("unix", socket.AF_UNIX, socket.SOCK_STREAM),
                           ("inet", socket.AF_INET, socket.SOCK_STREAM),
                           ("inet6", socket.AF_INET6, socket.SOCK_DGRAM),
                           ("netlink", socket.AF_NETLINK, socket.SOCK_RAW),
                           ("packet", socket.AF_PACKET, socket.SOCK_RAW)):
    try:
        socket.socket(family, kind).close()
        results[name] = "allowed"
    except OSError as exc:
        results[name] = exc.errno
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
results["io_uring"] = "allowed" if libc.syscall(425, 4, params) >= 0 else ctypes.get_errno()
child = subprocess.run([sys.executable, "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"],
                       capture_output=True, text=True)
results["child inet"] = "allowed" if child.returncode == 0 else child.stderr.strip().splitlines()[-1]
import zmq
ctx = zmq.Context()
server, client = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
server.bind("ipc://" + sys.argv[1]); client.connect("ipc://" + sys.argv[1])
client.send(b"ping"); results["zmq ipc"] = server.recv().decode()
print(json.dumps(results))
"""


def _run(tmp_path, families=None):
    setup = (f"import ctypes, runpy, sys; sys.argv = ['x']; ns = runpy.run_path({str(sandbox.LAUNCHER)!r})\n"
             + (f"ns['REFUSED_SOCKET_FAMILIES'] = {families!r}\n" if families is not None else "")
             + "ns['_refuse_network'].__globals__.update(ns)\n"
             "ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # no_new_privs, as the launcher sets it first\n"
             "ns['_refuse_network']()\n"
             f"sys.argv = ['tries', {str(tmp_path / 'z.ipc')!r}]\nexec({TRIES!r})\n")
    run = subprocess.run([sys.executable, "-c", setup], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_internet_sockets_are_refused_unix_sockets_work(tmp_path):
    seen = _run(tmp_path)
    assert seen == {"unix": "allowed", "inet": 13, "inet6": 13, "netlink": 13, "packet": 13, "io_uring": 13,
                    "child inet": "PermissionError: [Errno 13] Permission denied", "zmq ipc": "ping"}


def test_the_check_fails_for_a_filter_that_refuses_nothing(tmp_path):
    """The same tries against a filter with no refused family: the test above would notice."""
    seen = _run(tmp_path, families=())
    assert seen["inet"] == "allowed" and seen["child inet"] == "allowed"
