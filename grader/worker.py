"""Autograde one staged submission in its own process.

Usage: ``python -m grader.worker ROOT STUDENT CELL_TIMEOUT_S``.

Run by ``grader.autograde`` so that a hung or crashing submission is killed with its
kernel (the parent kills the whole process group) without taking the batch down.
Prints one JSON line: {"success": bool, "error": str}.
"""

import json
import os
import sys


def main(argv):
    course_root, student_id, cell_timeout_s = argv
    # The kernel inherits this process's environment: keep the grader's own path out of it,
    # so student code cannot import the grader (sys.path of this process is already set).
    os.environ.pop("PYTHONPATH", None)
    # jsonschema imports rfc3987_syntax, when installed, only to check "iri" string formats,
    # which notebooks never use; building its grammar costs ~1.7 s of every worker's start.
    sys.modules.setdefault("rfc3987_syntax", None)
    from grader.course_dir import nbgrader_api
    from grader.paths import ASSIGNMENT_ID

    api = nbgrader_api(course_root, float(cell_timeout_s))
    result = api.autograde(ASSIGNMENT_ID, student_id, force=True, create=True)
    error = "" if result["success"] else (result.get("error") or result.get("log") or "")
    print(json.dumps({"success": bool(result["success"]), "error": error[-4000:]}))
    return 0 if result["success"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
