"""A real Docker daemon and a Gradescope-like image, for the tests and the benchmark that run the
Gradescope bundle as Gradescope does.

``Dockerd`` starts Debian's ``dockerd`` on its own socket, with its data and exec roots in a fresh
temporary folder (no bridge, no iptables: containers use the host's network, as Gradescope's have a
network), and stops it by pid. ``gradescope_image`` builds the image the way Gradescope builds an
autograder's: a Debian bookworm minbase root (``debootstrap``), the bundle unpacked into
``/autograder/source``, its ``setup.sh`` run as root with the network on, ``run_autograder`` copied
to ``/autograder/``. Only the build sees the machine's pip settings (read-only: its index, local
wheels, CA bundle) and CIFAR-10 (``../shared/data`` as ``HW3_DATA_DIR``); nothing of them stays in
the image's configuration. ``run_submission`` grades one upload in a fresh container with
Docker's default seccomp profile and capabilities and the given memory and CPU limits, and
returns its ``results.json``, logs, whether the OOM killer struck, and the peak of the container's
memory cgroup (sampled, with the processes' own memory at that moment).
"""

import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

DOCKER = "/usr/bin/docker"  # Debian's client, the daemon's version (a newer client may speak a newer API)
DOCKERD = "/usr/sbin/dockerd"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def missing():
    """Why real containers cannot run here ('' when they can)."""
    if os.geteuid() != 0:
        return "dockerd needs root"
    for tool in (DOCKERD, DOCKER, shutil.which("debootstrap") or "/usr/sbin/debootstrap"):
        if not os.path.exists(tool):
            return f"{tool} is not installed (apt-get install docker.io debootstrap)"
    return ""


class Dockerd:
    """A dockerd of our own: ``with Dockerd() as d: d.docker("ps")``."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="dk-", dir="/tmp"))  # short: socket paths are limited
        self.socket = self.folder / "docker.sock"
        self.proc = None

    def __enter__(self):
        log = open(self.folder / "dockerd.log", "wb")
        self.proc = subprocess.Popen(
            [DOCKERD, "--host", f"unix://{self.socket}", "--data-root", str(self.folder / "data"),
             "--exec-root", str(self.folder / "exec"), "--pidfile", str(self.folder / "docker.pid"),
             "--bridge=none", "--iptables=false", "--ip-masq=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.socket.exists() and self.docker("version", check=False).returncode == 0:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"dockerd did not start: {self.log_tail()}")

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            for container in self.docker("ps", "-aq", check=False).stdout.split():
                self.docker("rm", "-f", container, check=False)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for _ in range(10):  # overlays and namespaces the daemon left mounted go lazily: try again
            subprocess.run(["umount", "-R", "-l", str(self.folder)], capture_output=True)
            for mount in sorted(_mounts_under(self.folder), reverse=True):
                subprocess.run(["umount", "-l", mount], capture_output=True)
            shutil.rmtree(self.folder, ignore_errors=True)
            if not self.folder.exists():
                break
            time.sleep(1)

    def log_tail(self, chars=3000):
        try:
            return (self.folder / "dockerd.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def docker(self, *args, check=True, timeout=1800, **kwargs):
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        run = subprocess.run([DOCKER, "-H", f"unix://{self.socket}", *args], timeout=timeout, **kwargs)
        if check and run.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args[:3])} failed ({run.returncode}):\n"
                               f"{(run.stdout or '')[-3000:]}\n{(run.stderr or '')[-3000:]}")
        return run


def _mounts_under(folder):
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines if line.split()[1].startswith(str(folder) + "/")]


def base_image(dockerd, tag="hw3-test/bookworm:minbase"):
    """A Debian bookworm minbase image, from Debian's packages (debootstrap), as ``tag``."""
    root = Path(tempfile.mkdtemp(prefix="rootfs-"))
    try:
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root), DEBIAN_MIRROR],
                       check=True, capture_output=True, timeout=900)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        dockerd.docker("import", "-", tag, stdin=tar.stdout)
        tar.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tag


def _pip_settings():
    """(mounts, environment) giving the build this machine's pip settings, read-only: its config
    files, the local folders they name (indexes, wheels) and its CA bundle under another name (the
    image's own ca-certificates package writes the usual one)."""
    mounts, env = [], {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    files = ["/etc/pip.conf", "/etc/xdg/pip", os.path.expanduser("~/.config/pip"), os.path.expanduser("~/.pip")]
    listed = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    values = [v for line in listed.splitlines() if "=" in line for v in line.split("=", 1)[1].strip("'").split()]
    paths = {p.removeprefix("file://").rstrip("/") for p in [*files, *values, *env.values()]
             if p.startswith(("/", "file:///"))}
    # A local index (file:///X/simple) names its files relative to X: the whole of X is needed.
    paths = {os.path.dirname(p) if p.endswith("/simple") else p for p in paths}
    cert = env.pop("PIP_CERT", None) or next((v for line in listed.splitlines() if ".cert=" in line
                                              for v in [line.split("=", 1)[1].strip("'")]), None)
    mounted = []
    for path in sorted(paths, key=len):
        if os.path.exists(path) and path != cert and not any(path.startswith(m + "/") for m in mounted):
            mounted.append(path)
            mounts += ["-v", f"{path}:{path.replace(os.path.expanduser('~'), '/root', 1)}:ro"]
    if cert and os.path.exists(cert):
        mounts += ["-v", f"{cert}:/etc/host-pip-ca.crt:ro"]
        env["PIP_CERT"] = "/etc/host-pip-ca.crt"
    env.setdefault("PIP_DEFAULT_TIMEOUT", "30")
    env["PIP_RETRIES"] = "1"  # an index this machine cannot reach (PyTorch's) is given up on quickly
    return mounts, env


def gradescope_image(dockerd, bundle_zip, data_dir, tag="hw3-test/gradescope:built"):
    """The image Gradescope would build from ``bundle_zip``: returns (tag, seconds, setup log)."""
    from grader.gradescope.bundle import extract_bundle

    base = base_image(dockerd)
    staging = Path(tempfile.mkdtemp(prefix="gs-bundle-"))
    name = f"hw3-setup-{os.getpid()}"
    try:
        extract_bundle(bundle_zip, staging / "autograder" / "source")
        mounts, env = _pip_settings()
        if data_dir:
            mounts += ["-v", f"{Path(data_dir).resolve()}:/data:ro"]
            env["HW3_DATA_DIR"] = "/data"
        setup = ("cd /autograder/source && env " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
                 + " bash ./setup.sh && cp /autograder/source/run_autograder /autograder/run_autograder")
        dockerd.docker("create", "--name", name, "--network", "host", *mounts, base, "bash", "-c", setup)
        dockerd.docker("cp", str(staging / "autograder"), f"{name}:/")
        started = time.monotonic()
        run = dockerd.docker("start", "-a", name, check=False, timeout=2400)
        seconds = time.monotonic() - started
        if run.returncode != 0:
            raise RuntimeError(f"setup.sh failed ({run.returncode}):\n{(run.stdout + run.stderr)[-5000:]}")
        dockerd.docker("commit", "--change", 'CMD ["/autograder/run_autograder"]', name, tag)
        return tag, seconds, run.stdout + run.stderr
    finally:
        dockerd.docker("rm", "-f", name, check=False)
        shutil.rmtree(staging, ignore_errors=True)


class _MemoryWatch(threading.Thread):
    """Samples a container's memory cgroup (v1 or v2) on the host until it is gone: the peak of its
    usage, of its processes' own (anonymous) memory, and each process's at that moment."""

    def __init__(self, container_id):
        super().__init__(daemon=True)
        candidates = [Path(f"/sys/fs/cgroup/memory/docker/{container_id}"),
                      Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope"),
                      Path(f"/sys/fs/cgroup/docker/{container_id}")]
        self.cgroup = next((p for p in candidates if p.exists()), None)
        self.peak = {"usage_mb": 0, "anon_mb": 0, "processes": []}
        self.stop = threading.Event()

    def _sample(self):
        v1 = (self.cgroup / "memory.usage_in_bytes").exists()
        usage = int((self.cgroup / ("memory.usage_in_bytes" if v1 else "memory.current")).read_text())
        stat = dict(line.split() for line in (self.cgroup / "memory.stat").read_text().splitlines())
        anon = int(stat.get("total_rss" if v1 else "anon", 0))
        processes = []
        for pid in (self.cgroup / "cgroup.procs").read_text().split():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:100]
            except OSError:
                continue
            own = next((int(line.split()[1]) >> 10 for line in status.splitlines() if line.startswith("RssAnon:")), 0)
            processes.append((own, cmd.strip()))
        return usage >> 20, anon >> 20, sorted(processes, reverse=True)

    def run(self):
        while self.cgroup is not None and not self.stop.is_set():
            try:
                usage, anon, processes = self._sample()
            except (OSError, ValueError):
                if not self.cgroup.exists():
                    return
                continue
            self.peak["usage_mb"] = max(self.peak["usage_mb"], usage)
            if anon >= self.peak["anon_mb"]:
                self.peak.update(anon_mb=anon, processes=processes)
            time.sleep(0.25)


def run_submission(dockerd, image, files, memory="768m", cpus="0.5", env=None, timeout=900, metadata=None,
                   collect=None):
    """Grade one upload in a fresh container, as Gradescope does.

    Args:
        files: {name in /autograder/submission: local path}.
        memory, cpus: ``docker run --memory`` (swap the same: none) and ``--cpus``.
        env: extra environment of run_autograder (e.g. ``GRADESCOPE_TIMEOUT_S``).
        collect: (path in the container, local folder): copied out once the run is over.
    Returns:
        dict: results (results.json, or None), logs, exit_code, oom_killed, seconds, memory (peaks).
    """
    name = f"hw3-run-{os.getpid()}-{time.monotonic_ns()}"
    staging = Path(tempfile.mkdtemp(prefix="gs-upload-"))
    try:
        (staging / "autograder" / "submission").mkdir(parents=True)
        for target, path in files.items():
            shutil.copy(path, staging / "autograder" / "submission" / target)
        meta = metadata or {"id": 1, "users": [{"email": "student@example.edu", "sid": "12345", "name": "S"}]}
        (staging / "autograder" / "submission_metadata.json").write_text(json.dumps(meta))
        env_args = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        dockerd.docker("create", "--name", name, "--network", "host", "--memory", memory, "--memory-swap", memory,
                       "--cpus", str(cpus), *env_args, image)
        dockerd.docker("cp", str(staging / "autograder"), f"{name}:/")
        container_id = dockerd.docker("inspect", "--format", "{{.Id}}", name).stdout.strip()
        started = time.monotonic()
        dockerd.docker("start", name)
        watch = _MemoryWatch(container_id)
        watch.start()
        dockerd.docker("wait", name, timeout=timeout)
        seconds = time.monotonic() - started
        watch.stop.set()
        watch.join(5)
        state = json.loads(dockerd.docker("inspect", "--format", "{{json .State}}", name).stdout)
        logs = dockerd.docker("logs", name, check=False)
        out = staging / "results.json"
        copied = dockerd.docker("cp", f"{name}:/autograder/results/results.json", str(out), check=False)
        results = json.loads(out.read_text()) if copied.returncode == 0 and out.exists() else None
        if collect:
            Path(collect[1]).mkdir(parents=True, exist_ok=True)
            dockerd.docker("cp", f"{name}:{collect[0]}", str(collect[1]), check=False)
        return {"results": results, "logs": (logs.stdout or "") + (logs.stderr or ""), "seconds": seconds,
                "exit_code": state.get("ExitCode"), "oom_killed": state.get("OOMKilled"), "memory": watch.peak}
    finally:
        dockerd.docker("rm", "-f", name, check=False)
        shutil.rmtree(staging, ignore_errors=True)


def points(results):
    """(score, max) of a results.json's tests."""
    return (sum(t["score"] for t in results["tests"]), sum(t["max_score"] for t in results["tests"]))
