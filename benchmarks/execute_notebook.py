"""Run one source notebook top to bottom in a fresh folder, timing each cell and printing its text output.

Usage:
    python benchmarks/execute_notebook.py part3_pytorch_cnn.ipynb [--workdir DIR] [--skip submit]
                                          [--save executed.ipynb]

The notebook (from ``source/hw3/``, reference solutions and hidden tests included) is copied with
``helpers/`` into ``--workdir`` and executed there with the environment as it is (``HW3_SETTING``,
``HW3_DEVICE``, ``HW3_DATA_DIR``), so what it trains lands in ``DIR/models`` and ``DIR/results``.
This is the check to run on a machine with a GPU: the PyTorch notebook picks CUDA and runs its
``full`` setting there. Needs only nbformat, nbclient and ipykernel (not nbgrader). Exits 1 if a
cell failed.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.cells import nbgrader_meta  # noqa: E402
from grader.course import (
    SOURCE_DIR,  # noqa: E402
    copy_helpers,  # noqa: E402  (these grader modules need no nbgrader)
)


def cell_text(cell):
    """The text a code cell printed (streams, plain-text results, errors)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data") and "text/plain" in out.get("data", {}):
            if "image/png" not in out.data:
                parts.append(out.data["text/plain"] + "\n")
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}\n")
    return "".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="file name in source/hw3/")
    parser.add_argument("--workdir", type=Path, default=None, help="folder to run in (default: a new temporary one)")
    parser.add_argument("--skip", nargs="*", default=["submit"], help="grade_ids of cells not to run")
    parser.add_argument("--save", type=Path, default=None, help="write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hw3-run-"))
    work.mkdir(parents=True, exist_ok=True)
    copy_helpers(work)
    nb = nbformat.read(SOURCE_DIR / args.notebook, as_version=4)
    client = NotebookClient(nb, timeout=args.timeout, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    failed, start = [], time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            grade_id = nbgrader_meta(cell).get("grade_id", "")
            if cell.cell_type != "code" or grade_id in args.skip:
                continue
            t = time.perf_counter()
            client.execute_cell(cell, index)
            text = cell_text(cell).rstrip()
            print(f"--- cell {index} {grade_id or '(no id)'}: {time.perf_counter() - t:.1f} s", flush=True)
            if text:
                print(text[-3000:], flush=True)
            if any(out.output_type == "error" for out in cell.get("outputs", [])):
                failed.append(grade_id or str(index))
    print(f"{args.notebook}: {time.perf_counter() - start:.1f} s top to bottom in {work}; "
          f"failed cells: {', '.join(failed) or 'none'}")
    if args.save:
        nbformat.write(nb, args.save)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
