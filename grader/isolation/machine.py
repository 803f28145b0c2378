"""What the machine (or the container) gives the grader: CPUs and memory, from the kernel's own
accounting, and the memory cgroup's count of OOM kills.

A container's limits are those of its cgroup (v2 ``memory.max`` / ``cpu.max``, v1
``memory.limit_in_bytes`` / ``cpu.cfs_quota_us``), not the host's: ``os.cpu_count()`` inside a
Gradescope container with half a vCPU still says how many cores the host has. The batch sizes its
threads from ``cpus()``; the Gradescope run sizes memory and time from ``memory_bytes()``.
"""

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as a page-rounded 2**63 - 1


def _read(path):
    try:
        return Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _ram_bytes():
    text = _read("/proc/meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def memory_bytes(cgroup=CGROUP):
    """Memory this process's container may use: its memory cgroup's limit, else the RAM (bytes)."""
    limit = None
    for path in (Path(cgroup) / "memory.max", Path(cgroup) / "memory" / "memory.limit_in_bytes"):
        text = _read(path)
        if text and text.isdigit() and int(text) < _UNLIMITED:
            limit = int(text)
            break
    ram = _ram_bytes()
    return min(x for x in (limit, ram) if x is not None) if (limit or ram) else None


def cpus(cgroup=CGROUP):
    """CPUs this process may use: its affinity, capped by the cgroup's CPU quota (may be fractional)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = None
    text = _read(Path(cgroup) / "cpu.max")  # v2: "QUOTA PERIOD" or "max PERIOD"
    if text and len(text.split()) == 2 and text.split()[0].isdigit():
        quota = int(text.split()[0]) / int(text.split()[1])
    else:
        q, p = _read(Path(cgroup) / "cpu" / "cpu.cfs_quota_us"), _read(Path(cgroup) / "cpu" / "cpu.cfs_period_us")
        if q and p and q.lstrip("-").isdigit() and int(q) > 0 and p.isdigit() and int(p) > 0:
            quota = int(q) / int(p)
    return min(count, quota) if quota else float(count)


def whole_cpus(cgroup=CGROUP):
    """``cpus()`` as a count of threads worth running: at least 1."""
    return max(1, math.floor(cpus(cgroup)))


def oom_kills(cgroup=CGROUP):
    """Processes the memory cgroup's OOM killer has killed so far (None where it is not reported)."""
    for path in (Path(cgroup) / "memory.events", Path(cgroup) / "memory" / "memory.oom_control"):
        for line in (_read(path) or "").splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None
