"""tests/support/docker_default.py simulates root in a default ``docker run`` faithfully enough to test
the grader there.

Each check runs a command inside the simulated container and compares what it may do with what Docker's
default capabilities and seccomp profile allow root in a container: namespaces and mounts refused, ordinary
work (fork, exec, threads, setuid, chown, sessions) fine. The seccomp-only and capabilities-only runs show
which of the two blocks what, so that a filter that blocked nothing would not hide behind the dropped
capabilities.
"""

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("the Docker simulation needs Linux (capabilities, seccomp)", allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("the Docker simulation needs root: it drops root's capabilities", allow_module_level=True)
if os.uname().machine not in ("x86_64", "aarch64"):
    pytest.skip(f"no seccomp filter for {os.uname().machine}", allow_module_level=True)


def _status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


_OUTSIDE_BEFORE = _status(Path("/proc/thread-self/status").read_text())  # before any test ran anything
if not int(_OUTSIDE_BEFORE["CapEff"], 16) >> 21 & 1:
    pytest.skip("no CAP_SYS_ADMIN (in a container already?): cannot install the filter", allow_module_level=True)

import docker_default  # noqa: E402  (tests/ is on sys.path; imported after the skips)

DOCKER_CAPEFF = 0x00000000A80425FB  # CapEff of root in a default `docker run` (e.g. `docker run alpine grep Cap ...`)
CAP_SYS_ADMIN = 21

needs_unshare = pytest.mark.skipif(shutil.which("unshare") is None, reason="util-linux unshare not installed")
needs_mount = pytest.mark.skipif(shutil.which("mount") is None, reason="util-linux mount not installed")


def inside(argv, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 60)
    return docker_default.run(argv, **kwargs)


def inside_python(code: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return inside([sys.executable, "-c", textwrap.dedent(code), *args], **kwargs)


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


# Raw system calls with arguments that do no harm when a call is let through: a missing path, fd -1, NULL.
# Prints {probe: errno} (0: the call succeeded).
PROBE = """
import ctypes, json, os, sys

numbers, x32 = json.loads(sys.argv[1]), sys.argv[2] == "x32"
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
missing = b"/nonexistent-docker-default-probe/dir"


def call(name, *args):
    number = numbers[name] if isinstance(name, str) else name
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
    return result, ctypes.get_errno()


def error(name, *args):
    result, err = call(name, *args)
    return err if result == -1 else 0


def clone(flags):
    result, err = call("clone", flags | 17, 0, 0, 0, 0)  # | SIGCHLD: a fork into the new namespace
    if result == 0:
        os._exit(0)  # the child, when the flags were let through
    if result > 0:
        os.waitpid(result, 0)
        return 0
    return err


found = {
    "mount": error("mount", b"none", missing, b"tmpfs", 0, None),
    "umount2": error("umount2", missing, 0),
    "pivot_root": error("pivot_root", missing, missing),
    "setns": error("setns", -1, 0),
    "clone3": error("clone3", None, 0),
}
for flag, value in json.loads(sys.argv[3]).items():
    found["clone " + flag] = clone(value)
if x32:
    found["x32 getpid"] = error(0x40000000 | 39)
found["unshare CLONE_NEWUSER"] = error("unshare", 0x10000000)  # last: it moves this process when let through
print(json.dumps(found))
"""
NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWCGROUP": 0x02000000,
}


def probe(**modes) -> dict[str, int]:
    args = [
        json.dumps(docker_default.syscall_numbers()),
        "x32" if os.uname().machine == "x86_64" else "-",
        json.dumps(NAMESPACE_FLAGS),
    ]
    if modes.get("outside"):
        result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    else:
        result = inside_python(PROBE, *args, **modes)
    assert_ok(result)
    return json.loads(result.stdout)


DOCKER_ANSWERS = {
    "mount": errno.EPERM,
    "umount2": errno.EPERM,
    "pivot_root": errno.EPERM,
    "setns": errno.EPERM,
    "clone3": errno.ENOSYS,  # not EPERM: glibc then falls back to clone
    **{"clone " + flag: errno.EPERM for flag in NAMESPACE_FLAGS},
    "unshare CLONE_NEWUSER": errno.EPERM,
}
if os.uname().machine == "x86_64":
    DOCKER_ANSWERS["x32 getpid"] = errno.EPERM


# --- the simulated container, as Docker has it ---


def test_default_capabilities_are_dockers():
    """The set is the one a default ``docker run`` shows as CapEff (checked on Docker 20-28)."""
    assert docker_default.DOCKER_DEFAULT_CAP_MASK == DOCKER_CAPEFF


@pytest.mark.parametrize("how", ["wrapper", "preexec_fn"])
def test_inside_capability_sets_and_seccomp_are_dockers(how):
    if how == "wrapper":
        result = inside(["cat", "/proc/self/status"])
    else:
        result = subprocess.run(
            ["cat", "/proc/self/status"],
            preexec_fn=docker_default.enter_docker_default,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert_ok(result)
    status = _status(result.stdout)
    assert {key: int(status[key], 16) for key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb")} == {
        "CapEff": DOCKER_CAPEFF,
        "CapPrm": DOCKER_CAPEFF,
        "CapBnd": DOCKER_CAPEFF,
        "CapInh": 0,
        "CapAmb": 0,
    }
    assert status["Uid"].split() == ["0"] * 4  # still root
    assert status["Seccomp"] == "2"  # SECCOMP_MODE_FILTER
    assert status["NoNewPrivs"] == "0"  # Docker leaves it unset by default


@needs_unshare
def test_inside_unshare_net_fails():
    result = inside(["unshare", "-n", "true"])
    assert result.returncode != 0
    assert "Operation not permitted" in result.stderr


@needs_unshare
def test_inside_unshare_user_fails():
    result = inside(["unshare", "--user", "true"])
    assert result.returncode != 0
    assert "Operation not permitted" in result.stderr


def test_inside_python_unshare_newns_raises_permission_error():
    result = inside_python(
        """
        import ctypes, os

        def unshare(flags):  # os.unshare is new in Python 3.12
            if hasattr(os, "unshare"):
                return os.unshare(flags)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(flags) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))

        try:
            unshare(0x00020000)  # CLONE_NEWNS
        except Exception as e:
            print(type(e).__name__)
        else:
            print("unshared")
        """
    )
    assert_ok(result)
    assert result.stdout.strip() == "PermissionError"


@needs_mount
def test_inside_mount_tmpfs_fails(tmp_path):
    target = tmp_path / "mnt"
    target.mkdir()
    try:
        result = inside(["mount", "-t", "tmpfs", "none", str(target)])
        assert result.returncode != 0
        assert not os.path.ismount(target)
    finally:
        if os.path.ismount(target):
            subprocess.run(["umount", str(target)], check=False)


def test_inside_system_calls_get_dockers_answers():
    assert probe() == DOCKER_ANSWERS


def test_seccomp_alone_refuses_with_all_capabilities():
    """The filter, not the missing capabilities, refuses these: root with every capability gets the same answers."""
    assert probe(drop_caps=False) == DOCKER_ANSWERS


def test_capabilities_alone_would_let_namespaces_through():
    """Without the filter a capability-less root could still make a user namespace: Docker's profile stops it."""
    outside = probe(outside=True)
    caps_only = probe(seccomp=False)
    assert caps_only["clone3"] == errno.EINVAL  # NULL arguments, checked by the kernel itself
    for call in ("mount", "umount2"):
        assert caps_only[call] == errno.ENOENT  # the missing path, looked up before the capability check
    assert caps_only["setns"] == errno.EBADF
    if outside["unshare CLONE_NEWUSER"] == 0:  # user namespaces enabled on this host
        assert caps_only["unshare CLONE_NEWUSER"] == 0
        assert caps_only["clone CLONE_NEWUSER"] == 0
    assert caps_only["clone CLONE_NEWNET"] == errno.EPERM  # needs CAP_SYS_ADMIN, which is gone


# --- ordinary work still works inside ---


def test_inside_fork_exec_python_importing_json():
    result = inside_python(
        """
        import subprocess, sys
        child = subprocess.run([sys.executable, "-c", "import json; print(json.dumps({'ok': True}))"],
                               capture_output=True, text=True, check=True)
        print(child.stdout, end="")
        """
    )
    assert_ok(result)
    assert result.stdout.strip() == '{"ok": true}'


def test_inside_setuid_setgid_in_child():
    result = inside_python(
        """
        import os
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                caps = [l for l in open("/proc/self/status") if l.startswith("CapEff:")][0].split()[1]
                print(os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups(), caps, flush=True)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        """
    )
    assert_ok(result)
    assert result.stdout.split() == ["65534", "65534", "65534", "65534", "[]", "0000000000000000"]


def test_inside_subprocess_as_another_user():
    result = inside_python(
        """
        import subprocess, sys
        # a program that uid 65534 may run (the venv's python may be under /root)
        subprocess.run(["sh", "-c", 'echo "$(id -u) $(id -g) $(id -G)"'],
                       user=65534, group=65534, extra_groups=[], check=True)
        """
    )
    assert_ok(result)
    assert result.stdout.split() == ["65534", "65534", "65534"]


def test_inside_chown_and_read_others_files(tmp_path):
    path = tmp_path / "file"
    path.write_text("secret")
    result = inside_python(
        """
        import os, sys
        path = sys.argv[1]
        os.chown(path, 12345, 23456)  # CAP_CHOWN
        os.chmod(path, 0)  # CAP_FOWNER: not the owner
        print(open(path).read())  # CAP_DAC_OVERRIDE: mode 000
        """,
        str(path),
    )
    assert_ok(result)
    assert result.stdout.strip() == "secret"
    assert (path.stat().st_uid, path.stat().st_gid) == (12345, 23456)


def test_inside_threads():
    result = inside_python(
        """
        import threading
        seen = []
        threads = [threading.Thread(target=seen.append, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(sorted(seen))
        """
    )
    assert_ok(result)
    assert result.stdout.strip() == str(list(range(8)))


def test_inside_subprocess_in_new_session():
    result = inside_python(
        """
        import os, subprocess, sys
        child = subprocess.run([sys.executable, "-c", "import os; print(os.getsid(0) == os.getpid())"],
                               start_new_session=True, capture_output=True, text=True, check=True)
        print(child.stdout.strip(), os.getsid(0) != os.getpid())
        """
    )
    assert_ok(result)
    assert result.stdout.split() == ["True", "True"]


# --- the wrapper and the caller ---


def test_wrapper_exit_codes_are_docker_runs():
    assert inside(["/nonexistent/program"]).returncode == 127
    assert inside(["/dev/null"]).returncode == 126
    assert inside(["sh", "-c", "exit 7"]).returncode == 7


def test_refuses_a_multithreaded_process():
    """Capabilities and filters are per thread: entering from one thread of many would leave the others out."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, threading
                sys.path.insert(0, sys.argv[1])
                import docker_default
                stop = threading.Event()
                threading.Thread(target=stop.wait).start()
                try:
                    docker_default.enter_docker_default()
                except RuntimeError as e:
                    print("refused:", e)
                stop.set()
                print(open("/proc/self/status").read())
                """
            ),
            str(Path(docker_default.__file__).parent),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_ok(result)
    assert result.stdout.startswith("refused:")
    assert _status(result.stdout)["Seccomp"] == _OUTSIDE_BEFORE["Seccomp"]


def test_outside_nothing_changed():
    assert_ok(inside(["true"]))
    assert_ok(subprocess.run(["true"], preexec_fn=docker_default.enter_docker_default, timeout=60))
    now = _status(Path("/proc/thread-self/status").read_text())
    for key in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "Seccomp", "NoNewPrivs"):
        assert now[key] == _OUTSIDE_BEFORE[key], key
    assert int(now["CapEff"], 16) >> CAP_SYS_ADMIN & 1
    assert int(now["CapBnd"], 16) & ~DOCKER_CAPEFF  # more than Docker's set
