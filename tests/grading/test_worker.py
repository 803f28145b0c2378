"""grader.grading.worker: the options the batch hands a worker, and the environment its kernels get."""

import json
import os

import pytest

from grader.grading import worker
from grader.grading.worker import WorkerOptions
from grader.isolation.forkserver import ZYGOTE_ENV
from grader.isolation.guard import EVENTS_ENV, IPC_ENV
from grader.isolation.kernel_launcher import SANDBOX_ENV

OPTIONS = WorkerOptions(sandbox={"mode": "userns", "keep": ["/k"]}, spec_root="/specs", runtime_dir="/run/x",
                        events="/w/events.jsonl", zygote="/z/zygote.sock", feedback_zero=[["part0_filters", "t"]])


def test_options_survive_the_command_line():
    text = OPTIONS.to_json()
    assert json.loads(text)["sandbox"]["mode"] == "userns"
    assert WorkerOptions.from_json(text) == OPTIONS
    assert WorkerOptions.from_json(WorkerOptions().to_json()) == WorkerOptions()


@pytest.fixture
def clean_env():
    """_apply_options writes os.environ and the umask: both are put back whole afterwards (a variable
    left behind would reach every kernel a later test starts)."""
    saved = dict(os.environ)
    for name in (EVENTS_ENV, IPC_ENV, SANDBOX_ENV, ZYGOTE_ENV, "JUPYTER_RUNTIME_DIR", "JUPYTER_PATH"):
        os.environ.pop(name, None)
    umask = os.umask(0o022)
    yield
    os.umask(umask)
    os.environ.clear()
    os.environ.update(saved)


def test_kernels_get_the_sandbox_the_events_file_and_no_network(clean_env):
    worker._apply_options(OPTIONS)
    assert os.environ[EVENTS_ENV] == "/w/events.jsonl"
    assert os.environ["JUPYTER_RUNTIME_DIR"] == os.environ[IPC_ENV] == "/run/x"
    assert os.environ[ZYGOTE_ENV] == "/z/zygote.sock"
    assert json.loads(os.environ[SANDBOX_ENV]) == OPTIONS.sandbox
    assert os.environ["JUPYTER_PATH"].split(os.pathsep)[0] == "/specs"


def test_uid_mode_makes_what_the_worker_writes_private(clean_env):
    worker._apply_options(WorkerOptions(sandbox={"mode": "uid"}, spec_root="/s", runtime_dir="/r"))
    assert os.umask(0o022) == 0o077


def test_without_a_sandbox_kernels_keep_tcp_and_the_default_settings(clean_env):
    worker._apply_options(WorkerOptions(sandbox={"mode": "none"}, spec_root="/s", runtime_dir="/r"))
    assert IPC_ENV not in os.environ and os.umask(0o022) == 0o022
    worker._apply_options(WorkerOptions())
    assert EVENTS_ENV not in os.environ and ZYGOTE_ENV not in os.environ
