"""The dry run of grading behind ``helpers.submission.check_submission``: a submitted zip unpacked next
to a fresh copy of ``helpers/``, every notebook run in a new kernel as the grader runs it
(``NBGRADER_EXECUTION=autograde``: saved results and models, nothing retrained), and the table of
public tests.

Usage: ``python -m helpers._dry_run ZIP [--helpers FOLDER] [--timeout S]`` (a new process, so nothing
of the student's kernel leaks in); exits 0 when every public test passed, 1 when not, 2 when the zip
cannot be checked.
"""

import argparse
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from helpers.submission import ARTIFACTS, HELPERS_DIR, NOTEBOOK_TIMEOUT_S, SubmissionError


@dataclass
class CellOutcome:
    """One graded cell of one notebook, as the dry run saw it."""

    notebook: str
    grade_id: str
    points: float
    status: str  # "passed", "failed", "partial", "written" (graded by hand), "not run"
    score: float = 0.0
    message: str = ""



@dataclass
class CheckReport:
    outcomes: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # notebooks that could not be run at all

    @property
    def ok(self):
        return not self.errors and all(o.status in ("passed", "written") for o in self.outcomes)

    def table(self):
        lines = [f"{'notebook':26s} {'test':34s} {'points':>9s}  result"]
        for o in self.outcomes:
            shown = {"passed": "✓ passed", "written": "graded by hand", "partial": f"partial {o.score:g}",
                     "failed": "✗ failed", "not run": "✗ not run"}[o.status]
            pts = f"{o.points:g}" if o.status == "written" else f"{o.score:g}/{o.points:g}"
            lines.append(f"{o.notebook:26s} {o.grade_id:34s} {pts:>9s}  {shown}"
                         + (f": {o.message}" if o.message else ""))
        for e in self.errors:
            lines.append(f"ERROR {e}")
        auto = [o for o in self.outcomes if o.status != "written"]
        lines.append(f"public tests: {sum(o.score for o in auto):g} of {sum(o.points for o in auto):g} points "
                     f"({sum(o.status == 'passed' for o in auto)} of {len(auto)} cells passed); the grader adds "
                     "hidden tests, and written answers are graded by hand.")
        return "\n".join(lines)



def _outcome(notebook, cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    points = float(meta.get("points", 0))
    o = CellOutcome(notebook, meta.get("grade_id", "?"), points, "passed", points)
    if cell.get("cell_type") != "code":
        o.status, o.score = "written", 0.0
        return o
    if cell.get("execution_count") is None and not cell.get("outputs"):
        o.status, o.score, o.message = "not run", 0.0, "the notebook stopped before this cell"
        return o
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            o.status, o.score = "failed", 0.0
            o.message = f"{out.get('ename', 'Error')}: {str(out.get('evalue', '')).splitlines()[0][:160]}" \
                if out.get("evalue") else out.get("ename", "Error")
            return o
        if out.get("output_type") == "execute_result":
            text = out.get("data", {}).get("text/plain", "")
            try:
                value = float("".join(text) if isinstance(text, list) else text)
            except ValueError:
                continue
            if value <= 0:  # the cell ran, and says what it will earn: nothing
                o.status, o.score, o.message = "failed", 0.0, "0 points (the cell's output says why)"
            elif value < points:
                o.status, o.score = "partial", value
            return o
    return o



def _local_kernel(folder):
    """A kernel manager that talks to its kernel over Unix sockets in ``folder`` (private, short
    path) where the system has them: no TCP port, and no "running over TCP without encryption"
    warning in the student's output. Elsewhere (Windows) over TCP on localhost."""
    from jupyter_client import KernelManager

    if os.name != "posix":
        return KernelManager(kernel_name="python3")
    return KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(folder, "kernel"))



def run_notebooks(folder, timeout=NOTEBOOK_TIMEOUT_S):
    """Execute every notebook of ``folder`` in a fresh kernel as the grader does; returns a CheckReport."""
    import nbformat
    from nbclient import NotebookClient

    report = CheckReport()
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # inherited by the kernels: saved results, no training
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in ARTIFACTS:
        path = Path(folder) / name
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # nbformat raises many types for bad files
            report.errors.append(f"{name}: cannot be read ({exc})")
            continue
        print(f"running {name} ...", flush=True)
        try:
            with tempfile.TemporaryDirectory(prefix="hw3-kernel-") as sockets:
                km = _local_kernel(sockets)
                try:
                    NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3", km=km,
                                   resources={"metadata": {"path": str(folder)}}).execute()
                finally:  # a client given a kernel manager leaves the kernel running
                    if km.has_kernel:
                        km.shutdown_kernel(now=True)
        except Exception as exc:  # a kernel that died, a cell over the time limit
            report.errors.append(f"{name}: stopped ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
        for cell in nb.cells:
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
                report.outcomes.append(_outcome(Path(name).stem, cell))
    return report



def _check_main(zip_path, helpers_dir, timeout):
    with tempfile.TemporaryDirectory(prefix="hw3-check-") as tmp:
        tmp = Path(tmp)
        with zipfile.ZipFile(zip_path) as zf:
            for member in zf.namelist():  # our own zips hold plain relative paths; refuse anything else
                if member.startswith("/") or ".." in Path(member).parts:
                    raise SubmissionError(f"unsafe path in the zip: {member}")
            zf.extractall(tmp)
        shutil.copytree(helpers_dir, tmp / "helpers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        report = run_notebooks(tmp, timeout)
    print(report.table())
    return report



def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m helpers._dry_run",
                                     description="Run a homework zip as the grader does; print the public tests.")
    parser.add_argument("zip", type=Path)
    parser.add_argument("--helpers", type=Path, default=HELPERS_DIR)
    parser.add_argument("--timeout", type=int, default=NOTEBOOK_TIMEOUT_S)
    args = parser.parse_args(argv)
    try:
        report = _check_main(args.zip, args.helpers, args.timeout)
    except (OSError, zipfile.BadZipFile, SubmissionError) as exc:
        print(f"cannot check {args.zip}: {exc}")
        return 2
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
