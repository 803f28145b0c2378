"""What the machine gives the grader (``grader.isolation.machine``), read from cgroup files laid out
as cgroup v1 and v2 write them; and the kernel's place in the OOM killer's order."""

import json
import os
import subprocess
import sys

import pytest

from grader.isolation import machine, sandbox
from grader.results import kernel_died_event, problems_of_events


def _files(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_cgroup_v2_limits(tmp_path):
    root = _files(tmp_path, {"memory.max": "805306368\n", "cpu.max": "50000 100000\n",
                             "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"})
    assert machine.memory_bytes(root) == 768 << 20
    assert machine.cpus(root) == 0.5 and machine.whole_cpus(root) == 1
    assert machine.oom_kills(root) == 1


def test_cgroup_v1_limits(tmp_path):
    root = _files(tmp_path, {"memory/memory.limit_in_bytes": str(1 << 30), "cpu/cpu.cfs_quota_us": "150000",
                             "cpu/cpu.cfs_period_us": "100000",
                             "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"})
    assert machine.memory_bytes(root) == 1 << 30
    assert machine.cpus(root) == min(1.5, len(os.sched_getaffinity(0)))
    assert machine.oom_kills(root) == 2


def test_no_limit_means_the_machine(tmp_path):
    root = _files(tmp_path, {"memory.max": "max\n", "cpu.max": "max 100000\n",
                             "memory/memory.limit_in_bytes": "9223372036854771712"})
    ram = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal:")).split()[1]) * 1024
    assert machine.memory_bytes(root) == ram
    assert machine.cpus(root) == len(os.sched_getaffinity(0))
    assert machine.oom_kills(tmp_path / "nowhere") is None


def test_a_kernel_is_the_oom_killers_first_choice(tmp_path):
    code = (f"import runpy, sys; sys.argv = ['x']; ns = runpy.run_path({str(sandbox.LAUNCHER)!r})\n"
            f"ns['enter']({{'mode': 'none', 'cwd': {str(tmp_path)!r}}})\n"
            "print(open('/proc/self/oom_score_adj').read().strip())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split()[-1] == "1000"


@pytest.mark.parametrize("killed", [True, False])
def test_a_kernel_killed_for_memory_says_so(killed):
    event = dict(kernel_died_event("test_lap", 7, "died", out_of_memory=killed), notebook="part0_filters")
    [(status, detail)] = problems_of_events(json.dumps(event) + "\n")
    assert status == "kernel died"
    assert ("running out of memory" in detail) == killed
