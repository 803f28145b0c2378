"""Start a notebook kernel inside a sandbox. Standalone: imports nothing from the repository.

Usage (as a kernelspec's argv): ``python kernel_launcher.py -f CONNECTION_FILE``, with the
sandbox described by the JSON in the environment variable ``GRADER_SANDBOX``:

    mode      "root": new PID, mount and network namespaces, then a fresh unprivileged uid;
              "userns": the same namespaces inside a user namespace (no root needed), with every
              capability dropped; "uid" (root in a container that refuses namespaces, as Docker's
              default profile does): only the fresh uid, and a network namespace if allowed;
              "none": only the resource limits.
    uids      "root" mode: where fresh uids come from (see ``allocate_uid``): ``first``, ``count``,
              ``lock_dir`` (root-only folder of per-uid lock files, shared by every grader on the
              machine) and ``record`` (root-only file listing the uids this submission's kernels had).
    keep      folders visible, writable, at their own path (the kernel's folder, home, runtime folder).
    system    folders visible read-only at their own path (the interpreter), besides SYSTEM_PATHS;
              nothing else of the host is (see ``_build_filesystem``).
    binds     [source, target] pairs mounted read-only (data caches, into the kernel's home).
    readonly  folders remounted read-only (the course's helpers beside the notebook).
    chown     the kernel's own folders: links an earlier kernel left there are removed first (it
              makes mount points there), then ("root" and "uid" modes) they are given to the
              kernel's uid before any process of that uid exists; so is the connection file's folder.
    sticky    "uid" mode: folders that stay root's, writable by the kernel's group, sticky (so the
              ``readonly`` folders in them, left root's, cannot be replaced).
    nproc, fsize  RLIMIT_NPROC ("root" mode only) and RLIMIT_FSIZE for the kernel.
    env       variables set for the kernel (HOME and friends); null unsets one.

In "root" and "userns" modes the launcher forks once it has entered the namespaces: the child is
PID 1 of a new PID namespace with its own ``/proc`` and becomes the kernel; every process it
starts (double forks and ``setsid`` included) lives in that namespace and is killed by the kernel
when PID 1 exits, so nothing outlives the notebook, and the kernel sees and can signal only its
own processes. The parent stays outside as the kernel's *supervisor*: it relays the interrupts
jupyter_client sends, waits for the kernel, makes sure no process of the kernel's uid is left,
and exits with the kernel's status. Killed, it takes the kernel with it (PR_SET_PDEATHSIG).

``--probe`` does everything but start a kernel, checks that a hidden path is gone (unreadable, in
"uid" mode), and prints "ok network" or "ok no network" from a fresh interpreter that imported
ipykernel inside the sandbox. Any failure exits
non-zero with the reason on stderr, so a sandbox that cannot be built is never silently replaced
by a weaker one here; ``grader.isolation.sandbox`` picks a mode that works.

Longer than this code base's ~300 lines a module, on purpose: it runs as a script before the
sandbox exists and imports nothing from the repository (the fork server loads it by path), so the
whole sandbox is built from this one file.
"""

import ctypes
import fcntl
import json
import os
import random
import resource
import select
import signal
import stat
import sys
import time

SANDBOX_ENV = "GRADER_SANDBOX"  # the JSON settings described above
CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWPID = 0x00020000, 0x40000000, 0x10000000, 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
# Signals jupyter_client (or the zygote's stand-in) sends the kernel: relayed by the supervisor.
# PID 1 of a namespace ignores signals it has no handler for, so the ones meant to end the kernel
# become SIGKILL.
RELAYED_SIGNALS = {signal.SIGINT: signal.SIGINT, signal.SIGUSR1: signal.SIGUSR1, signal.SIGUSR2: signal.SIGUSR2,
                   signal.SIGTERM: signal.SIGKILL, signal.SIGHUP: signal.SIGKILL, signal.SIGQUIT: signal.SIGKILL}
_libc = ctypes.CDLL(None, use_errno=True)


def _call(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    _call(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(),
                      ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


def _under(path, parent):
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _chown_tree(top, uid, skip=()):
    """Give ``top`` and everything under it to ``uid``, through file descriptors: a link planted
    by an earlier kernel is changed itself, never followed (``fwalk`` opens no linked folder), and
    a file with a second hard link (possibly to a file of someone else's) is left alone.
    Folders in ``skip`` (and what they hold) are left as they are."""
    top, skip = os.path.realpath(top), {os.path.realpath(p) for p in skip}
    for root, dirs, files, dir_fd in os.fwalk(top, follow_symlinks=False):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
        for name in [*dirs, *files]:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                continue
            os.chown(name, uid, uid, dir_fd=dir_fd, follow_symlinks=False)
    fd = os.open(top, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
    try:
        os.fchown(fd, uid, uid)
    finally:
        os.close(fd)


def _readable_tree(top):
    """Folders 0755 and files 0644 under ``top`` (root's), by descriptor; links are not followed."""
    for _, dirs, files, dir_fd in os.fwalk(top, follow_symlinks=False):
        for name, mode in [*((d, 0o755) for d in dirs), *((f, 0o644) for f in files)]:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:  # a link
                continue
            try:
                info = os.fstat(fd)
                if stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1):
                    os.fchmod(fd, mode)
            finally:
                os.close(fd)
    os.chmod(top, 0o755)


def remove_links(top):
    """Delete every symbolic link, FIFO, socket and device file under ``top``, and every name of a
    file that has another hard link (through descriptors, following nothing); returns their paths
    relative to ``top``. For a folder a kernel wrote in, once no process of that kernel is alive:
    what the grader then writes or reads there by path is a file it made itself, or a regular file
    that only the kernel's folder names."""
    removed = []
    for root, dirs, files, dir_fd in os.fwalk(top, follow_symlinks=False):
        for name in [*dirs, *files]:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not (stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1)):
                os.unlink(name, dir_fd=dir_fd)
                removed.append(os.path.relpath(os.path.join(root, name), top))
    return removed


# --- fresh uids ("root" and "uid" modes) ---------------------------------------------------------------------


def _process_uid(pid):
    """The real uid of a live (not zombie) process, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except (OSError, ValueError):  # it exited meanwhile
        return None
    if fields.get("State", "").split()[:1] == ["Z"]:  # a zombie acts no more; its parent reaps it
        return None
    return int(fields["Uid"].split()[0]) if "Uid" in fields else None


def processes_of(uid):
    """Pids of the live processes of ``uid`` that this process can see."""
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and _process_uid(e) == uid]


def kill_uid(uid, timeout=10.0):
    """SIGKILL every process of ``uid`` and wait until none is left; returns how many were killed.

    Each is signalled through a pidfd opened before its uid is checked, so a pid reused by another
    process is never signalled.
    """
    deadline, killed = time.monotonic() + timeout, set()
    while pids := processes_of(uid):
        if time.monotonic() > deadline:
            raise OSError(f"processes of uid {uid} survive SIGKILL: {pids[:5]}")
        for pid in pids:
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue  # exited
            try:
                if _process_uid(pid) == uid:
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
                    killed.add(pid)
            except OSError:
                pass
            finally:
                os.close(fd)
        time.sleep(0.01)
    return len(killed)


def _secure_dir(path):
    """Create ``path`` as a root-only folder, or check that it is one (not a link, owned by root)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise OSError(f"{path} must be a folder only root can write")


def allocate_uid(spec):
    """A uid no live process, user, group or other grader on this machine has; returns (uid, lock fd).

    A uid is taken by holding ``flock`` on ``lock_dir/<uid>`` (released when the holder exits, so a
    killed grader frees its uids), and only when no process of it is alive. The caller keeps the
    lock for as long as processes of the uid may exist.
    """
    import grp
    import pwd

    _secure_dir(os.path.dirname(spec["lock_dir"].rstrip("/")))
    _secure_dir(spec["lock_dir"])
    first, count = int(spec["first"]), int(spec["count"])
    for _ in range(200):
        uid = first + random.randrange(count)
        try:
            pwd.getpwuid(uid)
            continue  # a real user
        except KeyError:
            pass
        try:
            grp.getgrgid(uid)
            continue
        except KeyError:
            pass
        fd = os.open(os.path.join(spec["lock_dir"], str(uid)), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if processes_of(uid):
            os.close(fd)
            continue
        return uid, fd
    raise OSError("no free uid for the kernel")


def earlier_uids(record):
    """The uids recorded in ``record`` (none when it does not exist)."""
    try:
        fd = os.open(record, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return []
    with os.fdopen(fd) as f:
        return [int(line) for line in f.read().split() if line.isdigit()]


def _remember_uid(record, uid):
    """Append ``uid`` to the submission's root-only record (its folder is root's, checked)."""
    _secure_dir(os.path.dirname(record))
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(f"{uid}\n")


def _enter_namespaces(cfg):
    """New mount, network and PID namespaces (the PID one for the children: see ``enter``)."""
    real_uid, real_gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | (CLONE_NEWUSER if cfg["mode"] == "userns" else 0)
    _call(_libc.unshare(flags), "unshare")
    if cfg["mode"] == "userns":
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {real_uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {real_gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


# What every kernel sees of the host, read-only (links such as /lib -> usr/lib are recreated as links).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217}
MNT_DETACH = 2
RO_FLAGS = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV


def _bind(handle, target, readonly):
    """Bind the file or folder open as ``handle`` (O_PATH) at ``target`` (made if missing)."""
    if os.path.isdir(f"/proc/self/fd/{handle}"):
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "w").close()
    _mount(f"/proc/self/fd/{handle}", target, None, MS_BIND | MS_REC)
    if readonly:
        _mount(None, target, None, RO_FLAGS)


def _build_filesystem(cfg):
    """An allow-list root: a fresh tmpfs holding only the system folders and Python (read-only), the
    kernel's own folders (``keep``), the read-only views (``binds``, ``readonly``), a few devices,
    an empty /tmp and this PID namespace's /proc; the host's root is then detached entirely, so any
    other path on the host (another copy of the course, other graders' folders) does not exist."""
    import platform

    # Every source is opened before anything is covered: they often sit in /tmp or a home.
    sources = []  # (handle, path in the new root, read-only)
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            continue  # recreated as a link below
        if os.path.isdir(path):
            sources.append((os.open(path, os.O_PATH), path, True))
    for path in sorted({os.path.realpath(p) for p in cfg.get("system", []) if os.path.exists(p)}, key=len):
        if not any(_under(path, s) for s in SYSTEM_PATHS):
            sources.append((os.open(path, os.O_PATH), path, True))
    for path in sorted({os.path.realpath(k) for k in cfg["keep"] if os.path.exists(k)}, key=len):
        sources.append((os.open(path, os.O_PATH), path, False))
    for src, target in cfg.get("binds", []):
        if os.path.exists(src):
            sources.append((os.open(src, os.O_PATH), target, True))
    devices = [(os.open(f"/dev/{d}", os.O_PATH), f"/dev/{d}", False) for d in DEVICES if os.path.exists(f"/dev/{d}")]
    links = {p: os.readlink(p) for p in SYSTEM_PATHS if os.path.islink(p)}

    new_root = "/tmp"  # any folder will do: the tmpfs mounted on it becomes "/"
    _mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    for path, target in links.items():
        os.symlink(target, new_root + path)
    os.makedirs(new_root + "/tmp", mode=0o1777)
    _mount("tmpfs", new_root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    for handle, path, readonly in [*sources, *devices]:
        _bind(handle, new_root + path, readonly)
        os.close(handle)
    for path in cfg.get("readonly", []):
        if os.path.exists(new_root + path):
            _mount(new_root + path, new_root + path, None, MS_BIND | MS_REC)
            _mount(None, new_root + path, None, RO_FLAGS)
    os.symlink("/proc/self/fd", new_root + "/dev/fd")
    os.makedirs(new_root + "/proc")
    _mount("proc", new_root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)  # this PID namespace's
    os.chdir(new_root)
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unknown system call number on {platform.machine()}")
    _call(_libc.syscall(number, b".", b"."), "pivot_root")  # the old root now sits under the new one
    _call(_libc.umount2(b".", MNT_DETACH), "detach the host's root")
    os.chdir("/")


# --- no network without a network namespace ("uid" mode): a seccomp filter ------------------------
# Classic BPF over ``struct seccomp_data`` (nr at 0, arch at 4, args from 16): socket() for the
# internet, raw packet and netlink families fails with EACCES, as do io_uring (whose IORING_OP_SOCKET
# would open one past the filter) and any other system call ABI (i386, x32), whose numbers differ.
# Unix sockets, which the kernel and the grader talk over, stay. Installed after no_new_privs, so no
# privilege is needed: Docker's default profile allows it. Every process the kernel starts inherits it.
_BPF_LD_ABS, _BPF_JEQ, _BPF_JGE, _BPF_RET = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW, _RET_ERRNO = 0x7FFF0000, 0x00050000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_SECCOMP_ABI = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}  # (AUDIT_ARCH_*, __NR_socket)
_IO_URING = (425, 426, 427)  # io_uring_setup, _enter, _register: the same numbers on both
_X32_BIT = 0x40000000
REFUSED_SOCKET_FAMILIES = (2, 10, 16, 17)  # AF_INET, AF_INET6, AF_NETLINK, AF_PACKET
_network_filtered = False  # set by ``enter`` once the filter is installed (the probe says so)


def _network_filter():
    """The filter's instructions (``struct sock_filter``, 8 bytes each)."""
    import struct

    arch, socket_nr = _SECCOMP_ABI[os.uname().machine]
    refuse, other_abi = _RET_ERRNO | 13, _RET_ERRNO | 1  # EACCES, EPERM

    def op(code, k, jt=0, jf=0):
        return struct.pack("HBBI", code, jt, jf, k)

    ins = [op(_BPF_LD_ABS, 4), op(_BPF_JEQ, arch, 1, 0), op(_BPF_RET, other_abi), op(_BPF_LD_ABS, 0)]
    if arch == _SECCOMP_ABI["x86_64"][0]:
        ins += [op(_BPF_JGE, _X32_BIT, 0, 1), op(_BPF_RET, other_abi)]
    for nr in _IO_URING:
        ins += [op(_BPF_JEQ, nr, 0, 1), op(_BPF_RET, refuse)]
    ins += [op(_BPF_JEQ, socket_nr, 1, 0), op(_BPF_RET, _RET_ALLOW), op(_BPF_LD_ABS, 16)]
    for family in REFUSED_SOCKET_FAMILIES:
        ins += [op(_BPF_JEQ, family, 0, 1), op(_BPF_RET, refuse)]
    return ins + [op(_BPF_RET, _RET_ALLOW)]


def _refuse_network():
    """Install the filter above in this process (no_new_privs must be set); OSError if refused."""
    if os.uname().machine not in _SECCOMP_ABI:
        raise OSError(f"no network filter for {os.uname().machine}")
    ins = _network_filter()
    code = ctypes.create_string_buffer(b"".join(ins), 8 * len(ins))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = SockFprog(len(ins), ctypes.cast(code, ctypes.c_void_p))
    _call(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp network filter")


# ipykernel binds a TCP socket on 127.0.0.1 for the output of forked subprocesses, and libzmq aborts
# the process when the filter refuses it that socket. Under the filter the kernel runs without that
# pipe, as it does in a network namespace, whose loopback is down (subprocesses' output is lost).
KERNEL_WITHOUT_SUBPROCESS_PIPE = (
    "import sys\n"
    "if sys.path and sys.path[0] == '':\n    del sys.path[0]\n"
    "import ipykernel.iostream\n"
    "ipykernel.iostream.IOPubThread._setup_pipe_in = lambda self: setattr(self, '_pipe_flag', False)\n"
    "from ipykernel import kernelapp\n"
    "kernelapp.launch_new_instance()\n")


def without_subprocess_pipe():
    """In a process that will run ipykernel itself (a forked kernel): the same change, where needed."""
    if _network_filtered:
        import ipykernel.iostream

        ipykernel.iostream.IOPubThread._setup_pipe_in = lambda self: setattr(self, "_pipe_flag", False)


def _drop_privileges(cfg, uid):
    if cfg["mode"] in ("root", "uid"):
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    elif cfg["mode"] == "userns":
        for cap in range(64):  # no capability survives, so the mounts cannot be undone
            if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                break
    _call(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _limits(cfg):
    for name, value in (("RLIMIT_NPROC", cfg.get("nproc")), ("RLIMIT_FSIZE", cfg.get("fsize")),
                        ("RLIMIT_CORE", 0)):
        if value is not None:
            soft, hard = resource.getrlimit(getattr(resource, name))
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(getattr(resource, name), (value, value))


def _supervise(child, uid, lock_fd):
    """The supervisor's life (never returns): relay signals to the kernel, wait for it, make sure
    nothing of its uid is left, exit with its status."""
    for signum, relayed in RELAYED_SIGNALS.items():
        signal.signal(signum, lambda _n, _f, relayed=relayed: _kill_quietly(child, relayed))
    _, status = os.waitpid(child, 0)  # PID 1 exited: the kernel has killed the rest of its namespace
    code = os.waitstatus_to_exitcode(status)
    try:
        if uid is not None:
            kill_uid(uid)  # verified gone, before the uid is released (lock_fd closes on exit)
    finally:
        os._exit(code if code >= 0 else 128 - code)


def _kill_quietly(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _take_uid(cfg, connection_file):
    """"root" and "uid" modes: a fresh uid, after every earlier kernel of this submission is verified
    gone; the kernel's folders are given to it while no process of it exists. Returns (uid, lock fd).

    Without a mount namespace ("uid" mode) the read-only views cannot be mounted: the ``readonly``
    folders stay root's (not writable by the kernel) and the folders holding them (``sticky``) stay
    root's too, with the kernel's group allowed to write and the sticky bit set, so the kernel can
    add files there but cannot rename or replace what root owns (the course's helpers).
    """
    spec = cfg["uids"]
    for old in earlier_uids(spec["record"]):
        kill_uid(old)
    _sweep(cfg)
    uid, lock_fd = allocate_uid(spec)
    _remember_uid(spec["record"], uid)
    keep_roots = cfg.get("readonly", []) if cfg["mode"] == "uid" else []
    for path in cfg.get("chown", []):
        if os.path.lexists(path):
            _chown_tree(path, uid, skip=keep_roots)
    if cfg["mode"] == "uid":
        for path in [*cfg.get("chown", []), *([os.path.dirname(os.path.abspath(connection_file))]
                                               if connection_file else [])]:
            why = open_path_to(path, cfg["open_from"]) if _under(os.path.realpath(path), cfg["open_from"]) else ""
            if why:
                raise OSError(why)
        for path in cfg.get("readonly", []):  # root's, readable by all (what root writes here is 0600)
            if os.path.isdir(path):
                _readable_tree(path)
        for path in cfg.get("sticky", []):
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
            try:
                os.fchown(fd, 0, uid)
                os.fchmod(fd, 0o1770)
            finally:
                os.close(fd)
    if connection_file:  # its own folder (fresh for each kernel, see grader.isolation.guard) holds the sockets
        _chown_tree(os.path.dirname(os.path.abspath(connection_file)), uid)
    return uid, lock_fd


def open_path_to(path, base):
    """"uid" mode: let other users traverse (not list) every folder from ``base`` down to ``path``;
    '' when every folder above ``base`` already allows it, else why the kernels could not reach it.
    Nothing above ``base`` is changed."""
    path, base = os.path.realpath(path), os.path.realpath(base)
    above = [os.path.dirname(base)]
    while above[-1] != "/":
        above.append(os.path.dirname(above[-1]))
    for folder in above:
        if not os.stat(folder).st_mode & 0o001:
            return f"{folder} is not traversable by other users (o+x), so kernels could not reach their folders"
    if not _under(path, base):
        return f"{path} is not under {base}"
    parts = os.path.relpath(path, base).split(os.sep)
    for depth in range(len(parts) + 1):
        folder = os.path.join(base, *parts[:depth]) if depth else base
        fd = os.open(folder, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY)
        try:
            mode = os.fstat(fd).st_mode
            if not mode & 0o001:
                os.fchmod(fd, (mode & 0o7777) | 0o001)
        finally:
            os.close(fd)
    return ""


def _sweep(cfg):
    """Remove the links an earlier kernel of this submission left in the folders this one gets
    (``remove_links``): the launcher creates mount points there, as root, by path. Called once no
    process of an earlier kernel is alive, before any of this one exists."""
    for path in cfg.get("chown", []):
        if os.path.isdir(path) and not os.path.islink(path):
            remove_links(path)


def _killed_first_when_memory_runs_out():
    """The kernel is the OOM killer's first choice (``oom_score_adj`` 1000; any process may raise its
    own): when a container or machine runs out of memory, the student's kernel dies ("kernel died")
    rather than the grader, which then still writes every result."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:  # no /proc (or an unusual one): the limits above still apply
        pass


def _split_off_kernel(uid, lock_fd):
    """Fork: this process becomes the supervisor (``_supervise``, never returns); returns in the child."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the supervisor dies with the grading worker
    alive_r, alive_w = os.pipe()  # EOF on alive_r: the supervisor is gone
    child = os.fork()
    if child:
        os.close(alive_r)
        _supervise(child, uid, lock_fd)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the kernel dies with its supervisor...
    os.close(alive_w)
    if select.select([alive_r], [], [], 0)[0]:  # ...which may have died before the line above
        os._exit(1)
    os.close(alive_r)
    if lock_fd is not None:
        os.close(lock_fd)


def enter(cfg, connection_file=None):
    """Build the sandbox; returns in the process that is inside it (a child, while this process
    becomes its supervisor, in every mode but "none"; in "root" and "userns" modes the child is
    PID 1 of its own PID namespace)."""
    mode, uid, lock_fd, network_namespace = cfg["mode"], None, None, False
    if mode in ("root", "uid"):
        uid, lock_fd = _take_uid(cfg, connection_file)
    if mode == "userns":
        _sweep(cfg)
    if mode in ("root", "userns"):
        _enter_namespaces(cfg)
    elif mode == "uid":  # no network: a namespace where the container allows one, else the filter below
        network_namespace = _libc.unshare(CLONE_NEWNET) == 0
    if mode != "none":
        _split_off_kernel(uid, lock_fd)
    if mode in ("root", "userns"):
        _build_filesystem(cfg)
    if mode in ("root", "uid") and cfg.get("nproc") is not None:
        _limits(cfg)  # before the uid change: RLIMIT_NPROC counts the new uid's processes
    _drop_privileges(cfg, uid) if mode != "none" else None
    if mode == "uid" and not network_namespace:
        global _network_filtered
        _refuse_network()
        _network_filtered = True
    # RLIMIT_NPROC counts every process of a uid: only meaningful for the kernel's own uid.
    _limits({k: v for k, v in cfg.items() if k != "nproc"})
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the grading worker (or supervisor)
    _killed_first_when_memory_runs_out()
    for name, value in cfg.get("env", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if cfg.get("cwd"):
        os.chdir(cfg["cwd"])  # the re-mounted folder, not the covered one


def _network_reachable():
    """Can this process open a socket to anywhere but itself? (A new network namespace has no route.)"""
    import socket

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent; only a route is needed
        return True
    except OSError:
        return False


def main(argv):
    cfg = json.loads(os.environ.pop(SANDBOX_ENV, '{"mode": "none"}'))
    if argv[:1] == ["--probe"]:
        enter(cfg)
        hidden = [h for h in cfg.get("probe_hidden", []) if os.access(h, os.F_OK if cfg["mode"] != "uid" else os.R_OK)]
        if hidden:
            print(f"still visible: {hidden}", file=sys.stderr)
            return 1
        network = "network" if _network_reachable() else "no network"
        if network == "no network" and _network_filtered:
            network += " (seccomp)"
        sys.stdout.flush()  # and the interpreter must start in there, with the kernel's package
        os.execv(sys.executable, [sys.executable, "-c", f"import ipykernel; print('ok', {network!r})"])
    connection_file = argv[argv.index("-f") + 1]
    enter(cfg, connection_file)
    if _network_filtered:
        os.execv(sys.executable, [sys.executable, "-c", KERNEL_WITHOUT_SUBPROCESS_PIPE, *argv])
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
