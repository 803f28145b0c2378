"""Run a command the way Docker's default security settings run root in a container, without Docker.

The test suite uses this to check that the grader still works (in its weaker sandbox mode) when it is
itself run as root inside a container started with plain ``docker run`` (no ``--privileged``, no
``--cap-add``, no ``--security-opt``). No Docker engine is needed: the two settings that decide what
such a process may do to its own sandboxing are reproduced for one process tree.

Simulated (what runc does for a default ``docker run``):

* Capabilities. The process stays uid 0, but its bounding, effective and permitted sets are cut down
  to Docker's default set (:data:`DOCKER_DEFAULT_CAPS`, ``CapEff: 00000000a80425fb``); the inheritable
  and ambient sets are empty (Docker 20.10.14 and later leave the inheritable set empty,
  CVE-2022-24769). Programs it executes get the same sets, as a root process does in a container.
* Seccomp. A filter with the effect of Docker's default profile on a container *without*
  CAP_SYS_ADMIN, for the calls that matter to sandboxing: ``unshare``, ``mount``, ``umount2``,
  ``setns`` and ``pivot_root`` fail with EPERM; ``clone`` fails with EPERM when its flags ask for a
  new namespace (the profile's mask 0x7E020000: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
  NEWNET) and works otherwise (fork, threads); ``clone3`` fails with ENOSYS, so that glibc falls back
  to ``clone``, whose flags a filter can read. The filter is inherited by children and kept across
  exec, as in a container. ``no_new_privs`` is not set (Docker does not set it by default), so, like
  runc, the filter is installed while the process still has CAP_SYS_ADMIN, then the capabilities are
  dropped.

Not simulated, because the grader's sandbox does not depend on it or a test has no use for it:

* the rest of Docker's profile: it allows only a list of system calls and answers EPERM to the others
  (e.g. ``keyctl``, ``bpf``, ``perf_event_open``, ``userfaultfd``, ``kexec_load``, ``init_module``,
  and ``personality`` with unusual arguments); here everything not named above is allowed;
* 32-bit system calls: Docker filters i386 (and, through libseccomp, x32) calls with their own
  numbers; here a call from any other ABI (``int 0x80``, the x32 bit 0x40000000, AArch32) fails with
  EPERM;
* the AppArmor/SELinux profile (``docker-default``), masked and read-only ``/proc`` and ``/sys``
  paths, the container's own mount, PID, network, UTS and IPC namespaces, its root filesystem,
  cgroup limits (memory, pids), rlimits and ``/dev``. The process keeps the host's view of all of
  these; only its rights change.

Usage::

    import docker_default                              # tests/ is on sys.path under pytest
    docker_default.run(["python", "-c", "..."], capture_output=True, text=True)   # subprocess.run
    subprocess.Popen(docker_default.command(["sh", "-c", "..."]))               # any other API

    python tests/support/docker_default.py [--no-seccomp | --no-cap-drop] [--] CMD [ARGS...]

``run`` and ``command`` start CMD through a small Python wrapper (this file) that calls
:func:`enter_docker_default` and then execs CMD; this needs no ``preexec_fn`` (unsafe in a
multithreaded parent). :func:`enter_docker_default` can also be passed as a ``preexec_fn``. It needs
root with CAP_SYS_ADMIN and CAP_SETPCAP, on Linux x86_64 or AArch64. The ``--no-*`` options (and the
``seccomp=`` and ``drop_caps=`` arguments) leave out one of the two parts; they exist so that the
self-tests can show which part blocks what.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import subprocess
import sys
from collections.abc import Sequence

__all__ = [
    "DOCKER_DEFAULT_CAPS",
    "DOCKER_DEFAULT_CAP_MASK",
    "command",
    "enter_docker_default",
    "main",
    "run",
]

# Docker's default capabilities for a container's processes (moby oci/caps/defaults.go), by their
# numbers in linux/capability.h.
DOCKER_DEFAULT_CAPS: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_RAW": 13,
    "CAP_SYS_CHROOT": 18,
    "CAP_MKNOD": 27,
    "CAP_AUDIT_WRITE": 29,
    "CAP_SETFCAP": 31,
}
DOCKER_DEFAULT_CAP_MASK = sum(1 << number for number in DOCKER_DEFAULT_CAPS.values())  # 0xA80425FB

CAP_SETPCAP = 8
CAP_SYS_ADMIN = 21

# prctl(2)
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
BPF_JSET_K = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_SECCOMP_DATA_NR = 0
_SECCOMP_DATA_ARCH = 4
_SECCOMP_DATA_ARG0_LOW = 16 if sys.byteorder == "little" else 20

# The namespace flags that Docker's profile refuses in clone()'s flags without CAP_SYS_ADMIN.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NAMESPACE_FLAGS = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)  # 0x7E020000, the value in Docker's profile

_X32_SYSCALL_BIT = 0x40000000

# Per machine: the audit arch in seccomp_data, whether x32 calls exist, and the system call numbers.
_ARCHES: dict[str, tuple[int, bool, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,  # AUDIT_ARCH_X86_64
        True,
        {"clone": 56, "clone3": 435, "unshare": 272, "mount": 165, "umount2": 166, "setns": 308, "pivot_root": 155},
    ),
    "aarch64": (
        0xC00000B7,  # AUDIT_ARCH_AARCH64
        False,
        {"clone": 220, "clone3": 435, "unshare": 97, "mount": 40, "umount2": 39, "setns": 268, "pivot_root": 41},
    ),
}
_REFUSED = ("unshare", "mount", "umount2", "setns", "pivot_root")  # EPERM whatever the arguments

_THIS_FILE = os.path.abspath(__file__)


def _machine() -> str:
    machine = os.uname().machine
    if machine not in _ARCHES:
        raise RuntimeError(f"docker_default: no seccomp filter for {machine!r}; only {sorted(_ARCHES)} are supported")
    return machine


def syscall_numbers() -> dict[str, int]:
    """This machine's numbers for the system calls the filter looks at (clone, clone3, unshare, ...)."""
    return dict(_ARCHES[_machine()][2])


def seccomp_program() -> bytes:
    """The classic BPF program (an array of struct sock_filter) of the simulated seccomp profile."""
    audit_arch, has_x32, nr = _ARCHES[_machine()]
    # (code, jump-if-true label, jump-if-false label, k); labels name an instruction or are None (next one)
    code: list[tuple[int, str | None, str | None, int] | str] = [
        (BPF_LD_W_ABS, None, None, _SECCOMP_DATA_ARCH),
        (BPF_JEQ_K, None, "eperm", audit_arch),  # another ABI (i386, AArch32): refused
        (BPF_LD_W_ABS, None, None, _SECCOMP_DATA_NR),
    ]
    if has_x32:
        code.append((BPF_JGE_K, "eperm", None, _X32_SYSCALL_BIT))
    code += [(BPF_JEQ_K, "eperm", None, nr[name]) for name in _REFUSED]
    code += [
        (BPF_JEQ_K, "enosys", None, nr["clone3"]),
        (BPF_JEQ_K, "clone", None, nr["clone"]),
        (BPF_RET_K, None, None, SECCOMP_RET_ALLOW),
        "clone",
        (BPF_LD_W_ABS, None, None, _SECCOMP_DATA_ARG0_LOW),  # the flags; namespace flags are all in the low word
        (BPF_JSET_K, "eperm", None, CLONE_NAMESPACE_FLAGS),
        (BPF_RET_K, None, None, SECCOMP_RET_ALLOW),
        "eperm",
        (BPF_RET_K, None, None, SECCOMP_RET_ERRNO | errno.EPERM),
        "enosys",
        (BPF_RET_K, None, None, SECCOMP_RET_ERRNO | errno.ENOSYS),
    ]
    labels: dict[str, int] = {}
    instructions = []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(instructions)
        else:
            instructions.append(item)

    def offset(index: int, label: str | None) -> int:
        if label is None:
            return 0
        jump = labels[label] - index - 1
        assert 0 <= jump <= 255, (label, jump)
        return jump

    return b"".join(
        struct.pack("=HBBI", op, offset(i, jt), offset(i, jf), k) for i, (op, jt, jf, k) in enumerate(instructions)
    )


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    args = [ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5)]
    result = _libc.prctl(ctypes.c_int(option), *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {arg2:#x}): {os.strerror(err)}")
    return result


def _capabilities() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread, from capget(2)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if _libc.capget(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capget: {os.strerror(err)}")
    low, high = data
    return (
        low.effective | high.effective << 32,
        low.permitted | high.permitted << 32,
        low.inheritable | high.inheritable << 32,
    )


def _install_seccomp_filter() -> None:
    program = seccomp_program()
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))


def _drop_capabilities() -> None:
    # Bounding set first (needs CAP_SETPCAP, which Docker keeps): it decides what exec gives root.
    cap = 0
    while True:
        try:
            in_bounding = _prctl(PR_CAPBSET_READ, cap)
        except OSError as e:  # EINVAL past the kernel's last capability
            if e.errno != errno.EINVAL:
                raise
            break
        if in_bounding and cap not in DOCKER_DEFAULT_CAPS.values():
            _prctl(PR_CAPBSET_DROP, cap)
        cap += 1
    try:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError as e:  # kernels before 4.3 have no ambient set
        if e.errno != errno.EINVAL:
            raise
    effective, permitted, _ = _capabilities()
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for word in (0, 1):
        data[word].effective = (effective & DOCKER_DEFAULT_CAP_MASK) >> (32 * word) & 0xFFFFFFFF
        data[word].permitted = (permitted & DOCKER_DEFAULT_CAP_MASK) >> (32 * word) & 0xFFFFFFFF
        data[word].inheritable = 0
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def enter_docker_default(*, seccomp: bool = True, drop_caps: bool = True) -> None:
    """Put the calling process under Docker's default seccomp profile and capabilities (see the module doc).

    Call it in a single-threaded process that will exec the command to confine: at the start of a
    wrapper, or as a ``preexec_fn``. Capabilities and seccomp filters belong to a thread, so other
    threads would be left as they were; this raises RuntimeError in a process with several threads.
    The process stays uid 0. It cannot be undone.

    Args:
        seccomp: install the seccomp filter (False only to show what the capabilities alone do).
        drop_caps: reduce the capabilities (False only to show what the filter alone does).

    Raises:
        RuntimeError: not root, several threads, or a machine without a filter (not x86_64/AArch64).
        OSError: the kernel refused a step (e.g. no CAP_SYS_ADMIN, as when already in a container).
    """
    if os.geteuid() != 0:
        raise RuntimeError("docker_default: must run as root (Docker's container root is uid 0)")
    if len(os.listdir("/proc/self/task")) != 1:
        raise RuntimeError("docker_default: the process has several threads; call it after fork or in a wrapper")
    if seccomp:
        _machine()
        effective = _capabilities()[0]
        if not effective >> CAP_SYS_ADMIN & 1 and not _prctl(PR_GET_NO_NEW_PRIVS):
            # Without no_new_privs (which Docker leaves unset) the kernel wants CAP_SYS_ADMIN for a filter.
            raise OSError(errno.EACCES, "docker_default: installing the seccomp filter needs CAP_SYS_ADMIN")
        _install_seccomp_filter()  # before the capabilities go: without no_new_privs it needs CAP_SYS_ADMIN
    if drop_caps:
        _drop_capabilities()


def command(argv: Sequence[str | os.PathLike[str]], *, seccomp: bool = True, drop_caps: bool = True) -> list[str]:
    """The command line that runs ``argv`` inside the simulated container (for Popen and the like)."""
    if isinstance(argv, (str, bytes)):
        argv = [argv]
    if not argv:
        raise ValueError("docker_default: empty command")
    options = ([] if seccomp else ["--no-seccomp"]) + ([] if drop_caps else ["--no-cap-drop"])
    # -I -S: the wrapper needs only the standard library and should not see the caller's PYTHON* settings;
    # the command it execs gets the environment unchanged.
    return [sys.executable, "-I", "-S", _THIS_FILE, *options, "--", *map(os.fsdecode, argv)]


def run(
    argv: Sequence[str | os.PathLike[str]], *, seccomp: bool = True, drop_caps: bool = True, **popen_kwargs
) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, **popen_kwargs)`` with the command inside the simulated container.

    Takes subprocess.run's keyword arguments (capture_output, text, check, cwd, env, timeout, input,
    start_new_session, pass_fds, ...), except ``shell`` and ``executable``: pass ``["sh", "-c", script]``.
    The wrapper exits 125 when it could not set the container up, 127 when the command is not found and
    126 when it cannot be executed, as ``docker run`` does.
    """
    for unsupported in ("shell", "executable"):
        if popen_kwargs.get(unsupported):
            raise ValueError(f"docker_default.run: {unsupported}= is not supported; pass the program in argv")
    return subprocess.run(command(argv, seccomp=seccomp, drop_caps=drop_caps), **popen_kwargs)


def main(args: Sequence[str] | None = None) -> int:
    """``python tests/support/docker_default.py [--no-seccomp] [--no-cap-drop] [--] CMD [ARGS...]``: exec CMD inside."""
    args = list(sys.argv[1:] if args is None else args)
    options = {"--no-seccomp": False, "--no-cap-drop": False}
    while args and args[0] in options:
        options[args.pop(0)] = True
    if args and args[0] == "--":
        args.pop(0)
    if not args:
        print(main.__doc__, file=sys.stderr)
        return 2
    try:
        enter_docker_default(seccomp=not options["--no-seccomp"], drop_caps=not options["--no-cap-drop"])
    except (OSError, RuntimeError) as e:
        print(f"docker_default: cannot enter the simulated container: {e}", file=sys.stderr)
        return 125
    try:
        os.execvp(args[0], args)
    except FileNotFoundError as e:
        print(f"docker_default: {args[0]}: {e.strerror}", file=sys.stderr)
        return 127
    except OSError as e:
        print(f"docker_default: {args[0]}: {e.strerror}", file=sys.stderr)
        return 126
    return 126  # not reached: execvp returns only by raising


if __name__ == "__main__":
    sys.exit(main())
