"""What one submission may use (``Limits``) and how a batch runs (``Options``): the settings the CLI
turns its flags into."""

from dataclasses import dataclass

from grader.course import CELL_TIMEOUT_S


@dataclass(frozen=True)
class Limits:
    """What one submission may use while it is graded.

    submission_s: wall-clock seconds for all its notebooks, kernel start included; past it the
        worker and its kernel are killed and the submission gets the ``timeout`` status.
    cell_s: seconds one cell may run; past it the cell is interrupted and scores 0, and
        grading goes on with the next cell.
    memory_bytes: address-space cap (RLIMIT_AS) of the worker and its kernel: a cell that
        asks for more gets a MemoryError (that cell scores 0) instead of starving the machine.
    """

    submission_s: float = 600
    cell_s: float = CELL_TIMEOUT_S
    memory_bytes: int = 6 << 30


@dataclass
class Options:
    """How a batch runs (everything but the per-submission Limits).

    workers: submissions graded at once (None: one per core).
    id_pattern: how to read student ids from file names (see ``grader.intake``).
    resume: reuse results of finished, unchanged submissions from an earlier run.
    sandbox: "auto" (strongest available), "root", "userns" or "none" (see ``grader.isolation.sandbox``).
    report: write ``report.html`` and its plots.
    progress: show a progress bar on stderr.
    preload_kernels: fork kernels from a process that has imported the course's libraries, and
        workers from one that has imported nbgrader (``grader.isolation.forkserver_client``); False starts every
        process from scratch (slower, same sandbox).
    without_data: grade even though the grader has no CIFAR-10 (``GraderLacksData`` otherwise):
        the cells that need it are left ungraded (status ``incomplete``), never scored 0.
    """

    workers: int | None = None
    id_pattern: str | None = None
    resume: bool = True
    sandbox: str = "auto"
    report: bool = True
    progress: bool = False
    preload_kernels: bool = True
    without_data: bool = False
