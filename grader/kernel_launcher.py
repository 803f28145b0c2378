"""Start a notebook kernel inside a sandbox. Standalone: imports nothing from the repository.

Usage (as a kernelspec's argv): ``python kernel_launcher.py -f CONNECTION_FILE``, with the
sandbox described by the JSON in the environment variable ``GRADER_SANDBOX``:

    mode      "root": new mount and network namespaces, then a separate unprivileged uid;
              "userns": the same namespaces inside a user namespace (no root needed), with every
              capability dropped; "none": only the resource limits.
    uid       the uid (and gid) the kernel runs as in "root" mode.
    hide      folders covered by an empty tmpfs (the course, the repository, other submissions, /tmp).
    keep      folders made visible again at their own path (the kernel's folder, the interpreter).
    binds     [source, target] pairs mounted read-only (data caches, into the kernel's home).
    readonly  folders remounted read-only (the course's helpers beside the notebook).
    chown     folders given to ``uid`` before it drops privileges ("root" mode).
    nproc, fsize  RLIMIT_NPROC ("root" mode only) and RLIMIT_FSIZE for the kernel.
    env       variables set for the kernel (HOME and friends).

``--probe`` does everything but start a kernel, checks that a hidden path is gone, and prints
"ok" from a fresh interpreter that imported ipykernel inside the sandbox. Any failure exits
non-zero with the reason on stderr, so a sandbox that cannot be built is never silently replaced
by a weaker one here; ``grader.sandbox`` picks a mode that works.
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWUSER = 0x00020000, 0x40000000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
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


def _chown_tree(top, uid):
    for root, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, uid)
    os.lchown(top, uid, uid)


def _enter_namespaces(cfg):
    real_uid, real_gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWNET | (CLONE_NEWUSER if cfg["mode"] == "userns" else 0)
    _call(_libc.unshare(flags), "unshare")
    if cfg["mode"] == "userns":
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {real_uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {real_gid} 1")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def _build_filesystem(cfg):
    """Hide, then re-show what the kernel needs, then mount the read-only views."""
    keep = sorted({os.path.realpath(k) for k in cfg["keep"] if os.path.exists(k)}, key=len)
    hide = sorted({os.path.realpath(h) for h in cfg["hide"] if os.path.isdir(h)}, key=len)
    # A kept folder that holds a hidden one would show it again: such a folder is not kept.
    keep = [k for k in keep if any(_under(k, h) for h in hide) and not any(_under(h, k) for h in hide)]
    keep = [k for i, k in enumerate(keep) if not any(_under(k, other) for other in keep[:i])]
    handles = {k: os.open(k, os.O_PATH) for k in keep}  # reach the real folder once it is covered
    # The same for the read-only views: their sources often sit in hidden folders (a cache in the
    # instructor's home, the grading folder), which the hiding below would cover.
    binds = [(os.open(src, os.O_PATH), os.path.isdir(src), target)
             for src, target in cfg.get("binds", []) if os.path.exists(src)]
    for h in hide:
        if os.path.isdir(h):  # not already covered by an earlier (shorter) hidden path
            _mount("tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    for k in keep:
        if os.path.isdir(f"/proc/self/fd/{handles[k]}"):
            os.makedirs(k, exist_ok=True)
        elif not os.path.exists(k):
            os.makedirs(os.path.dirname(k), exist_ok=True)
            open(k, "w").close()
        _mount(f"/proc/self/fd/{handles[k]}", k, None, MS_BIND | MS_REC)
        os.close(handles[k])
    for handle, is_dir, target in binds:
        os.makedirs(target, exist_ok=True) if is_dir else open(target, "a").close()
        _mount(f"/proc/self/fd/{handle}", target, None, MS_BIND | MS_REC)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.close(handle)
    for path in cfg.get("readonly", []):
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _drop_privileges(cfg):
    if cfg["mode"] == "root":
        uid = int(cfg["uid"])
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


def enter(cfg, connection_file=None):
    """Build the sandbox in this process; returns when the process is inside it."""
    if cfg["mode"] == "root":
        for path in cfg.get("chown", []):
            if os.path.exists(path):
                _chown_tree(path, int(cfg["uid"]))
        if connection_file:
            os.chown(connection_file, int(cfg["uid"]), int(cfg["uid"]))
    if cfg["mode"] in ("root", "userns"):
        _enter_namespaces(cfg)
        _build_filesystem(cfg)
    if cfg["mode"] == "root" and cfg.get("nproc") is not None:
        _limits(cfg)  # before the uid change: RLIMIT_NPROC counts the new uid's processes
    _drop_privileges(cfg) if cfg["mode"] != "none" else None
    # RLIMIT_NPROC counts every process of a uid: only meaningful for the kernel's own uid ("root" mode).
    _limits({k: v for k, v in cfg.items() if k != "nproc"})
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with the grading worker
    os.environ.update(cfg.get("env", {}))
    if cfg.get("cwd"):
        os.chdir(cfg["cwd"])  # the re-mounted folder, not the covered one


def main(argv):
    cfg = json.loads(os.environ.pop("GRADER_SANDBOX", '{"mode": "none"}'))
    if argv[:1] == ["--probe"]:
        enter(cfg)
        hidden = [h for h in cfg.get("probe_hidden", []) if os.path.exists(h)]
        if hidden:
            print(f"still visible: {hidden}", file=sys.stderr)
            return 1
        sys.stdout.flush()  # and the interpreter must start in there, with the kernel's package
        os.execv(sys.executable, [sys.executable, "-c", "import ipykernel; print('ok')"])
    connection_file = argv[argv.index("-f") + 1]
    enter(cfg, connection_file)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
