"""Autograde one staged submission in its own process.

Usage: ``python -m grader.worker ROOT STUDENT CELL_TIMEOUT_S [OPTIONS_JSON]``.

Run by ``grader.autograde`` so that a hung or crashing submission is killed with its
kernel (the parent kills the whole process group; sandboxed kernels also die with this
process, and kernels forked by the zygote die when their stand-in does) without taking the
batch down. ROOT is the student's own course folder. OPTIONS_JSON may hold ``sandbox`` (the
launcher settings, see ``grader.sandbox``), ``spec_root`` (folder with the sandboxed ``python3``
kernelspec), ``runtime_dir``, ``events`` (file for the guard's reports), ``zygote`` (socket of
the batch's kernel zygote, see ``grader.zygote``) and ``feedback_zero`` (write the feedback HTML
too, these (notebook, grade_id) at 0).
Prints one JSON line: {"success": bool, "error": str, "feedback_error": str}.
"""

import ctypes
import json
import os
import sys

PR_SET_DUMPABLE = 4


def _apply_options(options):
    """Environment for the kernels this worker starts (read by the launcher and GuardedExecute)."""
    if options.get("events"):
        os.environ["GRADER_EVENTS_FILE"] = options["events"]
    if options.get("runtime_dir"):
        os.environ["JUPYTER_RUNTIME_DIR"] = options["runtime_dir"]
    if options.get("zygote"):
        os.environ["GRADER_ZYGOTE"] = options["zygote"]
    if options.get("sandbox", {}).get("mode") == "uid":
        os.umask(0o077)  # no mount namespace: what this worker writes must not be readable by kernels
    if options.get("sandbox"):
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            p for p in (options["spec_root"], os.environ.get("JUPYTER_PATH", "")) if p)
        os.environ["GRADER_SANDBOX"] = json.dumps(options["sandbox"])
        if options["sandbox"]["mode"] != "none":  # the kernel has no network, not even loopback
            os.environ["GRADER_KERNEL_IPC"] = options["runtime_dir"]


def _feedback(course_root, student_id, zero):
    """Write the student's feedback HTML here, in parallel with other workers; returns an error text or ''."""
    try:
        from grader.autograde import assignment_cells
        from grader.gradebook_merge import submission_scores
        from grader.outputs.feedback import write_feedback

        scores, _, _ = submission_scores(course_root, student_id, zero)
        write_feedback(course_root, student_id, scores, assignment_cells())
        return ""
    except Exception as exc:  # feedback is a courtesy: never lose a grade over it
        return f"{type(exc).__name__}: {exc}"[:300]


def preload():
    """Import what grading a submission needs, once: the worker zygote (``grader.zygote``) forks
    every submission's worker from a process that called this, saving ~2 s of CPU per submission."""
    sys.modules.setdefault("rfc3987_syntax", None)  # see main
    import jupyter_client.manager  # noqa: F401
    import nbclient  # noqa: F401
    import nbgrader.apps  # noqa: F401
    import nbgrader.converters  # noqa: F401
    import sqlalchemy  # noqa: F401

    import grader.autograde  # noqa: F401
    import grader.course_dir  # noqa: F401
    import grader.gradebook_merge  # noqa: F401
    import grader.nbgrader_settings  # noqa: F401
    import grader.outputs.feedback
    from grader.paths import RELEASE_DIR, source_notebook_names

    # nbconvert's exporter, its compiled templates and the highlighted code of the release's cells
    # (a stale or missing release only means fewer cache hits).
    notebooks = [RELEASE_DIR / n for n in source_notebook_names() if (RELEASE_DIR / n).exists()]
    grader.outputs.feedback.warm_up(notebooks)
    _import_course_modules(notebooks)


def _import_course_modules(notebooks):
    """Import what the notebooks' read-only cells import (numpy, torch, the course's helpers...):
    the hidden tests run in the worker with the same names (``grader.trusted_tests``)."""
    import importlib

    import nbformat

    from grader.guard import protected_names

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
    options = json.loads(argv[3]) if len(argv) > 3 else {}
    # The kernel inherits this process's environment: keep the grader's own path out of it,
    # so student code cannot import the grader (sys.path of this process is already set).
    os.environ.pop("PYTHONPATH", None)
    # Not dumpable: a kernel running as the same uid cannot read this process's memory or open files.
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    _apply_options(options)
    # jsonschema imports rfc3987_syntax, when installed, only to check "iri" string formats,
    # which notebooks never use; building its grammar costs ~1.7 s of every worker's start.
    sys.modules.setdefault("rfc3987_syntax", None)
    from grader.course_dir import nbgrader_api
    from grader.paths import ASSIGNMENT_ID

    api = nbgrader_api(course_root, float(cell_timeout_s))
    result = api.autograde(ASSIGNMENT_ID, student_id, force=True, create=True)
    error = "" if result["success"] else (result.get("log") or "")[-3000:] + (result.get("error") or "")
    reply = {"success": bool(result["success"]), "error": error[-4000:]}
    if result["success"] and "feedback_zero" in options:
        reply["feedback_error"] = _feedback(course_root, student_id, options["feedback_zero"])
    print(json.dumps(reply))
    return 0 if result["success"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
