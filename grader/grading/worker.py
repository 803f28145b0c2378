"""Autograde one staged submission in its own process.

Usage: ``python -m grader.grading.worker ROOT STUDENT CELL_TIMEOUT_S [OPTIONS_JSON]``.

Run by ``grader.grading.worker_process`` so that a hung or crashing submission is killed with its
kernel (the parent kills the whole process group; sandboxed kernels also die with this process,
and kernels forked by the fork server die when their stand-in does) without taking the batch down.
ROOT is the student's own course folder; OPTIONS_JSON is a ``WorkerOptions``.
Prints one JSON line: {"success": bool, "error": str, "feedback_error": str}.
"""

import ctypes
import json
import os
import sys
from dataclasses import asdict, dataclass

PR_SET_DUMPABLE = 4


@dataclass
class WorkerOptions:
    """What the batch tells one worker, on its command line as JSON (``to_json``, ``from_json``).

    sandbox: the kernel launcher's settings (``grader.isolation.sandbox.kernel_config``), or None.
    spec_root: folder holding the sandboxed ``python3`` kernelspec.
    runtime_dir: folder for the kernels' sockets and connection files.
    events: file for the guard's events (schema: ``grader.results``).
    zygote: socket of the batch's kernel fork server (``grader.isolation.forkserver_client``), or None.
    feedback_zero: write the feedback HTML too, with these [notebook, grade_id] at 0; None: do not.
    kernel_folders: where the kernels run (``grader.isolation.kernel_folders.KernelFolders.to_dict``);
        None: in nbgrader's autograded folder (only for tests of nbgrader's own behaviour).
    """

    sandbox: dict | None = None
    spec_root: str | None = None
    runtime_dir: str | None = None
    events: str | None = None
    zygote: str | None = None
    feedback_zero: list | None = None
    kernel_folders: dict | None = None

    def to_json(self):
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text):
        return cls(**json.loads(text))


def _apply_options(options):
    """Environment for the kernels this worker starts (read by the launcher and GuardedExecute)."""
    from grader.isolation.forkserver import ZYGOTE_ENV
    from grader.isolation.guard import EVENTS_ENV, IPC_ENV
    from grader.isolation.kernel_folders import KERNEL_FOLDERS_ENV
    from grader.isolation.kernel_launcher import SANDBOX_ENV

    if options.events:
        os.environ[EVENTS_ENV] = options.events
    if options.runtime_dir:
        os.environ["JUPYTER_RUNTIME_DIR"] = options.runtime_dir
    if options.zygote:
        os.environ[ZYGOTE_ENV] = options.zygote
    if options.kernel_folders:
        os.environ[KERNEL_FOLDERS_ENV] = json.dumps(options.kernel_folders)
    if options.sandbox:
        if options.sandbox["mode"] == "uid":
            os.umask(0o077)  # no mount namespace: what this worker writes must not be readable by kernels
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (options.spec_root, os.environ.get("JUPYTER_PATH", "")) if p)
        os.environ[SANDBOX_ENV] = json.dumps(options.sandbox)
        if options.sandbox["mode"] != "none":  # the kernel has no network, not even loopback
            os.environ[IPC_ENV] = options.runtime_dir


def _feedback(course_root, student_id, zero):
    """Write the student's feedback HTML here, in parallel with other workers; returns an error text or ''."""
    try:
        from grader.cells import assignment_cells
        from grader.grading.gradebook import submission_scores
        from grader.outputs.feedback import write_feedback

        scores, _, _ = submission_scores(course_root, student_id, zero)
        write_feedback(course_root, student_id, scores, assignment_cells())
        return ""
    except Exception as exc:  # feedback is a courtesy: never lose a grade over it
        return f"{type(exc).__name__}: {exc}"[:300]


def preload():
    """Import what grading a submission needs, once: the worker zygote (``grader.isolation.forkserver_client``) forks
    every submission's worker from a process that called this, saving ~2 s of CPU per submission."""
    sys.modules.setdefault("rfc3987_syntax", None)  # see main
    import jupyter_client.manager  # noqa: F401
    import nbclient  # noqa: F401
    import nbgrader.apps  # noqa: F401
    import nbgrader.converters  # noqa: F401
    import sqlalchemy  # noqa: F401

    import grader.cells  # noqa: F401
    import grader.course  # noqa: F401
    import grader.grading.gradebook  # noqa: F401
    import grader.isolation.guard  # noqa: F401
    import grader.outputs.feedback
    from grader.course import RELEASE_DIR, source_notebook_names

    # nbconvert's exporter, its compiled templates and the highlighted code of the release's cells
    # (a stale or missing release only means fewer cache hits).
    notebooks = [RELEASE_DIR / n for n in source_notebook_names() if (RELEASE_DIR / n).exists()]
    grader.outputs.feedback.warm_up(notebooks)
    _import_course_modules(notebooks)


def _import_course_modules(notebooks):
    """Import what the notebooks' read-only cells import (numpy, torch, the course's helpers...):
    the hidden tests run in the worker with the same names (``grader.grading.trusted_tests``)."""
    import importlib

    import nbformat

    from grader.isolation.guard import protected_names

    for path in notebooks:
        try:
            cells = nbformat.read(path, as_version=4).cells
        except Exception:  # a broken release notebook: its hidden tests import what they need later
            continue
        for module, _ in protected_names(cells).values():
            try:
                importlib.import_module(module)
            except Exception:  # the hidden tests report a missing module themselves
                pass


def main(argv):
    course_root, student_id, cell_timeout_s = argv[:3]
    options = WorkerOptions.from_json(argv[3]) if len(argv) > 3 else WorkerOptions()
    # The kernel inherits this process's environment: keep the grader's own path out of it,
    # so student code cannot import the grader (sys.path of this process is already set).
    os.environ.pop("PYTHONPATH", None)
    # Not dumpable: a kernel running as the same uid cannot read this process's memory or open files.
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    # jsonschema imports rfc3987_syntax, when installed, only to check "iri" string formats,
    # which notebooks never use; building its grammar costs ~1.7 s of every worker's start.
    sys.modules.setdefault("rfc3987_syntax", None)
    _apply_options(options)
    from grader.course import ASSIGNMENT_ID, nbgrader_api

    api = nbgrader_api(course_root, float(cell_timeout_s))
    result = api.autograde(ASSIGNMENT_ID, student_id, force=True, create=True)
    error = "" if result["success"] else (result.get("log") or "")[-3000:] + (result.get("error") or "")
    reply = {"success": bool(result["success"]), "error": error[-4000:]}
    if result["success"] and options.feedback_zero is not None:
        reply["feedback_error"] = _feedback(course_root, student_id, options.feedback_zero)
    print(json.dumps(reply))
    return 0 if result["success"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
