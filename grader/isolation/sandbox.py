"""Where student code runs: the sandbox each notebook kernel is started in, and what this machine allows.

The grading worker (nbgrader) runs with the grader's rights; only the kernel, the process that
runs student code, is sandboxed, by ``grader/isolation/kernel_launcher.py`` installed as the ``python3``
kernelspec of the worker (or by the same code in a kernel forked from the batch's zygote,
``grader/isolation/forkserver.py``). The strongest mode this machine supports is chosen once per batch by
starting the launcher in probe mode:

* ``root`` (the grader runs as root): new PID, mount and network namespaces; an allow-list root
  (``pivot_root`` onto a tmpfs) with only the system folders and the Python installation
  read-only, the kernel's own folder, its home, the course helpers and data read-only, an empty
  /tmp: nothing else of the host exists for the kernel; then the kernel drops to a fresh
  unprivileged uid that no other kernel, batch or user on the machine has (``allocate_uid``), with
  no_new_privs and RLIMIT_NPROC.
* ``userns`` (no root, user namespaces allowed): the same namespaces and mounts inside a user
  namespace, every capability dropped, so the mounts cannot be undone.
* ``uid`` (root, but namespaces refused, as in a container with Docker's default seccomp profile and
  capabilities, e.g. Gradescope's): the fresh uid without namespaces. The grading folder is made
  root-only (``restrict_to_root``) but for the paths down to each kernel's folders, every process
  of a kernel's uid is killed after its notebook, the course helpers stay root's in a sticky folder;
  the kernel sees the rest of the container with an unprivileged user's rights, and has no network:
  a network namespace where the container allows one, else a seccomp filter that refuses internet,
  netlink and packet sockets (Docker's default profile lets an unprivileged process install one;
  the probe tells which, and the description says).
* ``none``: only resource limits and the per-student folder; reported as such.

In ``root`` and ``userns`` modes the kernel is PID 1 of its PID namespace, with its own ``/proc``:
every process a notebook starts dies with its kernel, and a kernel sees and signals only its own
processes. In ``root`` and ``uid`` modes no process of a submission's earlier kernels may be alive
when the next one starts, or when the next submission starts (``kill_submission_uids``): they are
killed and waited for.
Every mode keeps RLIMIT_AS (set on the worker), RLIMIT_FSIZE and the kernel's death with its worker.
The network namespace has no interfaces but a loopback that is down: no network at all; the
worker talks to the kernel over Unix sockets (``KernelManager.transport = "ipc"``).
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grader.course import REPO_ROOT
from grader.isolation.kernel_launcher import SANDBOX_ENV, _under, open_path_to

LAUNCHER = Path(__file__).resolve().parent / "kernel_launcher.py"
FORKSERVER = Path(__file__).resolve().parent / "forkserver.py"
# "root" and "uid" modes: each kernel gets a uid drawn from this range, locked in UID_LOCK_DIR (shared by every
# grader on the machine), not used by any user, group or live process.
UID_FIRST, UID_COUNT = 45000, 15000
UID_LOCK_DIR = "/run/hw3-grader/uids"
MAX_FILE_BYTES = 2 << 30  # RLIMIT_FSIZE: largest file a kernel may write
MAX_PROCESSES = 512  # RLIMIT_NPROC of a kernel's uid ("root" and "uid" modes)
DESCRIPTIONS = {
    "root": "a fresh uid per kernel, own PID namespace (nothing outlives the notebook), an allow-list "
            "root (only Python, system folders, its own folders; read-only helpers), no network",
    "userns": "user+PID+mount namespaces with an allow-list root (only Python, system folders, its own "
              "folders; read-only helpers), nothing outlives the notebook, no capabilities, no network "
              "(same uid as the grader)",
    "uid": "a fresh uid per kernel without namespaces (refused here): the grading folder root-only, every "
           "process of the kernel's uid killed after its notebook, read-only helpers; the kernel sees the rest "
           "of this machine's files as an unprivileged user and can signal nothing but its own processes",
    "none": "own folder and resource limits only: student code could read files the grader can read, "
            "use the network and leave processes running (no namespaces available here)",
}


@dataclass(frozen=True)
class Sandbox:
    """The isolation applied to every kernel of a batch."""

    mode: str  # "root", "userns", "uid" or "none"
    reason: str = ""  # why a stronger mode was not used
    network: bool = False  # whether kernels can reach a network (the probe's finding)
    network_filter: bool = False  # "uid" mode without a network namespace: seccomp refuses internet sockets

    @property
    def description(self):
        text = f"{self.mode}: {DESCRIPTIONS[self.mode]}"
        if self.mode == "uid":
            text += "; network: " + ("NOT isolated" if self.network else
                                     "none (seccomp: no internet sockets)" if self.network_filter else "none")
        return text + (f" ({self.reason})" if self.reason else "")


def _probe(mode, grading_dir):
    """Can the launcher build a ``mode`` sandbox for kernels under ``grading_dir/work``, reached (in
    "uid" mode) from ``grading_dir`` down, as the kernels of a batch are (``kernel_config``'s ``open_from``)?

    Returns ('', whether the kernel had a network: True, False, or "seccomp" when only the filter
    kept it off) when yes, else (why not, None).
    """
    scratch = Path(tempfile.mkdtemp(prefix=f"probe-{mode}-", dir=grading_dir / "work"))
    try:
        secret = scratch / "secret"
        secret.write_text("x")
        os.chmod(secret, 0o600)
        keep = scratch / "kept"
        keep.mkdir()
        cfg = {"mode": mode, "uids": uid_spec(scratch), "keep": [str(keep)], "system": python_paths(),
               "probe_hidden": [str(secret)], "cwd": str(keep), "open_from": str(grading_dir),
               "chown": [str(keep)], "env": {"HOME": str(keep)}}
        if mode == "uid":
            why = open_path_to(str(keep), str(grading_dir))
            if why:
                return why, None
        try:
            proc = subprocess.run([sys.executable, str(LAUNCHER), "--probe"], capture_output=True, text=True,
                                  timeout=60, env={**os.environ, SANDBOX_ENV: json.dumps(cfg)})
        except (OSError, subprocess.SubprocessError) as exc:
            return str(exc), None
        words = proc.stdout.strip()
        if proc.returncode == 0 and words in ("ok network", "ok no network", "ok no network (seccomp)"):
            return "", {"ok network": True, "ok no network": False}.get(words, "seccomp")
        return (proc.stderr.strip().splitlines() or ["failed"])[-1][:200], None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def restrict_to_root(folder, except_for=None):
    """"uid" mode: ``folder`` and everything in it readable and writable by its owner only (root),
    through descriptors (links are not followed). Done before any kernel of the batch starts.

    ``except_for`` (a folder inside, e.g. the shared CIFAR-10 cache) stays readable by everyone.
    """
    for _, dirs, files, dir_fd in os.fwalk(folder, follow_symlinks=False):
        for name in [*dirs, *files]:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if stat.S_ISDIR(info.st_mode) else 0),
                             dir_fd=dir_fd)
                try:
                    os.fchmod(fd, info.st_mode & 0o7700)
                finally:
                    os.close(fd)
    os.chmod(folder, os.stat(folder).st_mode & 0o7700)
    if except_for and _under(os.path.realpath(except_for), os.path.realpath(folder)):
        open_path_to(str(except_for), str(folder))
        for entry in Path(except_for).iterdir():
            if entry.is_file() and not entry.is_symlink():
                os.chmod(entry, 0o644)


_DETECTED = {}


def detect(grading_dir, mode="auto"):
    """The strongest sandbox this machine supports for kernels of the grading folder ``grading_dir``
    (their folders are under its ``work/``, where the probe runs; probed once).

    Args:
        grading_dir: the grading folder (``grader.grading.folders``).
        mode: "auto" (strongest that works), or "root", "userns", "uid", "none" to ask for one; a mode
            that does not work here falls back to the next weaker one, with the reason recorded.
    """
    grading_dir = Path(grading_dir).resolve()
    (grading_dir / "work").mkdir(parents=True, exist_ok=True)
    key = (str(grading_dir), mode)
    if key in _DETECTED:
        return _DETECTED[key]
    order = ["root", "userns", "uid", "none"]
    candidates = order[order.index(mode):] if mode in order else order
    if os.geteuid() != 0:
        candidates = [c for c in candidates if c not in ("root", "uid")]
    reasons = []
    for candidate in candidates:
        why, network = ("", True) if candidate == "none" else _probe(candidate, grading_dir)
        if not why:
            _DETECTED[key] = Sandbox(candidate, "; ".join(reasons), network is True, network == "seccomp")
            return _DETECTED[key]
        reasons.append(f"{candidate} unavailable: {why}")
    raise AssertionError("unreachable: mode none always works")


def python_paths():
    """Folders the kernel needs to run Python: the interpreter's prefixes and site-packages.

    Not ``sys.path`` as a whole: it holds the caller's script folder or working folder, which
    may contain the course or the submissions.
    """
    import site
    import sysconfig

    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             *site.getsitepackages(), sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
    repo = str(REPO_ROOT)
    # The repository itself (source notebooks, the grader) stays hidden; a venv inside it does not.
    return sorted(p for p in paths if os.path.isdir(p) and p != repo and not repo.startswith(p.rstrip("/") + "/"))


def write_kernelspec(spec_root, zygote=False):
    """A ``python3`` kernelspec under ``spec_root/kernels`` that starts kernels through the launcher,
    or with ``zygote``, forked by the zygote named in ``GRADER_ZYGOTE`` (see ``grader.isolation.forkserver_client``).

    Put ``spec_root`` first on JUPYTER_PATH for the worker; returns ``spec_root``.
    """
    spec_dir = Path(spec_root) / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, str(FORKSERVER if zygote else LAUNCHER), "-f", "{connection_file}"],
            "display_name": "Python 3 (grading sandbox)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return Path(spec_root)


def share_data_cache(out_dir, log=print):
    """The CIFAR-10 cache folder that every sandboxed kernel reads; None if it cannot be written.

    It holds every image and the training labels, but not the test labels
    (``helpers.data.write_grading_cache``): the grader measures test accuracy itself, in its own
    process, and a kernel that could read the labels could fake its model's predictions. The
    data is loaded here once (which builds the instructor's cache from ``HW3_DATA_DIR`` or the
    download) and written, readable by the kernels' users, to ``out_dir/data-cache``; without it
    each Part 3 kernel would decode the 60,000 images again.

    Raises:
        what ``load_cifar10`` raises when the grader has no CIFAR-10 (``DataNotFoundError``, ...).
    """
    from helpers.data import CACHE_NAME, default_cache_dir, load_cifar10, write_grading_cache

    data = load_cifar10(progress=False)
    source, shared = default_cache_dir() / CACHE_NAME, Path(out_dir) / "data-cache"
    copy = shared / CACHE_NAME
    if not copy.is_file() or not source.is_file() or copy.stat().st_mtime < source.stat().st_mtime:
        shared.mkdir(parents=True, exist_ok=True)
        try:
            write_grading_cache(data, copy)
        except OSError as exc:
            log(f"note: could not write the kernels' CIFAR-10 cache ({exc})")
            return None
    os.chmod(shared, 0o755)
    return shared


def _data_binds(home, data_cache=None, mounts=True):
    """A read-only view of the grading cache for the kernel (``share_data_cache``: no test labels),
    and the variables for it: ``HW3_CACHE_DIR`` naming it, ``HW3_DATA_DIR`` unset (None): the
    instructor's data and cache hold the test labels.

    Without ``mounts`` (mode "none": no mount namespace) the variable names the real folder.
    """
    env = {"HW3_DATA_DIR": None}
    if not data_cache or not os.path.isdir(data_cache):
        return [], dict(env, HW3_CACHE_DIR=str(home / "no-data"))
    target = home / "cache-ro"
    binds = [[os.path.realpath(data_cache), str(target)]] if mounts else []
    return binds, dict(env, HW3_CACHE_DIR=str(target) if mounts else os.path.realpath(data_cache))


def uid_spec(runtime_dir):
    """Where the launcher takes fresh uids from, and the root-only record of the uids a submission's
    kernels had (in ``runtime_dir/uids``)."""
    return {"first": UID_FIRST, "count": UID_COUNT, "lock_dir": UID_LOCK_DIR,
            "record": str(Path(runtime_dir) / "uids" / "record")}


def kill_submission_uids(runtime_dir):
    """Kill every process of the uids a submission's kernels had ("root" mode); returns how many.

    Called when a submission is done, so that nothing of it runs while the next one is graded.
    """
    from grader.isolation.kernel_launcher import earlier_uids, kill_uid

    record = uid_spec(runtime_dir)["record"]
    return sum(kill_uid(uid) for uid in earlier_uids(record)) if os.geteuid() == 0 else 0


def runtime_folder():
    """A fresh folder for one submission's kernel connection files, sockets and uid record: short
    (a Unix socket path has at most 108 bytes) and the grader's alone. Kernels may enter it (0711)
    to reach their own folder, but not list or write it, so nothing they do can plant a link where
    the grader writes."""
    path = Path(tempfile.mkdtemp(prefix="gk-"))
    os.chmod(path, 0o711)
    return path


def kernel_config(sandbox, folders, runtime_dir, data_cache=None, open_from=None):
    """The launcher's GRADER_SANDBOX settings for one student's kernels.

    Args:
        sandbox: Sandbox from ``detect``.
        folders: ``grader.isolation.kernel_folders.KernelFolders``: the folder the notebooks run in
            (never nbgrader's autograded folder) and the kernel's home, made afresh for each kernel.
        runtime_dir: a root-only folder for the submission (``runtime_folder``): each kernel's
            connection file and sockets live in a fresh folder inside it, and the uids its kernels
            had are recorded there.
        data_cache: the CIFAR-10 cache folder to show the kernel (``share_data_cache``), or None
            for the instructor's own.
        open_from: "uid" mode: the root-only folder below which the launcher lets the kernel
            traverse (not list) the folders down to its own (default: the parent of the home).
    """
    kernel_dir, home = Path(folders.folder), Path(folders.home)
    open_from = open_from or home.parent
    binds, env = _data_binds(home, data_cache, mounts=sandbox.mode in ("root", "userns"))
    env.update(HOME=str(home), MPLCONFIGDIR=str(home / "mpl"), IPYTHONDIR=str(home / "ipython"),
               TMPDIR=str(home / "tmp"), XDG_CACHE_HOME=str(home / "tmp"), JUPYTER_RUNTIME_DIR=str(runtime_dir))
    return {
        "mode": sandbox.mode, "uids": uid_spec(runtime_dir),
        "keep": [str(kernel_dir), str(home), str(runtime_dir)], "system": python_paths(),
        "binds": binds, "readonly": [str(kernel_dir / "helpers")],
        "chown": [str(kernel_dir), str(home)], "sticky": [str(kernel_dir)], "open_from": str(open_from),
        "nproc": MAX_PROCESSES, "fsize": MAX_FILE_BYTES, "cwd": str(kernel_dir), "env": env,
    }
