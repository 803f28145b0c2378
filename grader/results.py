"""What grading says about a submission: its ``Status``, its ``StudentResult`` (a row of grades.csv),
and the events the guard writes while a notebook runs (``events.jsonl``), read back into statuses.

The event schema lives only here: the guard (``grader.isolation.guard``) builds its events with the
``*_event`` functions, and the batch turns a file of them into a submission's problems with
``problems_of_events``.
"""

import json
from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """A submission's status, as grades.csv writes it; declared most severe first: a row shows the
    most severe status that applies (``most_severe``)."""

    REFUSED_ZIP = "refused zip"  # over the caps: a zip bomb, too many files, too large
    UNREADABLE_ZIP = "unreadable zip"
    DUPLICATE_ID = "duplicate student id"
    GRADING_ERROR = "grading error"
    INCOMPLETE = "incomplete"  # some cells not graded: the grader lacked something (never reused by resume)
    TAMPERING = "tampering"
    TIMEOUT = "timeout"
    KERNEL_DIED = "kernel died"
    TEST_CELLS_CHANGED = "test cells changed"
    UNREADABLE_NOTEBOOK = "unreadable notebook"
    MISSING_NOTEBOOK = "missing notebook"
    GRADED = "graded"

    @classmethod
    def most_severe(cls, statuses):
        """The most severe of ``statuses`` (``GRADED`` when there are none)."""
        order = list(cls)
        return min((cls(s) for s in statuses), key=order.index, default=cls.GRADED)


@dataclass
class StudentResult:
    """One row of the grade table."""

    student_id: str
    status: str
    detail: str = ""
    scores: dict = field(default_factory=dict)  # column -> points (missing: no score yet, or not gradable)
    pending_manual: list = field(default_factory=list)  # columns waiting for manual grading
    seconds: float = 0.0

    @property
    def total(self):
        return sum(self.scores.values())


# --- the guard's events: one JSON object a line, each with the ``notebook`` it happened in ---


def kernel_died_event(cell, index, error, out_of_memory=False):
    """The kernel died in ``cell`` (a grade_id or None), the ``index``-th cell; cells after it were not
    run. ``out_of_memory``: the memory cgroup's OOM killer killed a process meanwhile (the kernel is
    its first choice)."""
    event = {"cell": cell, "index": index, "kernel_died": str(error)[:300]}
    return dict(event, out_of_memory=True) if out_of_memory else event


def time_limit_event(cell, seconds):
    """``cell`` was stopped after ``seconds`` (the per-cell limit)."""
    return {"cell": cell, "limit": "time", "seconds": seconds}


def memory_limit_event(cell):
    """``cell`` failed with a MemoryError (the address-space cap)."""
    return {"cell": cell, "limit": "memory"}


def restored_event(cell, when, restored, tool):
    """The guard put back ``restored`` (names) ``when`` ("before" or "during") ``cell``; ``tool``: some
    of them were the grader's tools (tampering), not only names the student rebound."""
    return {"cell": cell, "when": when, "restored": list(restored), "tool": bool(tool)}


def leftover_processes_event(count):
    """``count`` processes of the notebook's kernel were still running after it; killed."""
    return {"leftover_processes": count}


def links_removed_event(links, count):
    """``count`` links or special files the kernel made were removed (``links``: the first few)."""
    return {"links_removed": list(links), "count": count}


def problems_of_events(text):
    """The (status, detail) problems a submission gets for an ``events.jsonl`` text, in its order.

    Lines that are not JSON objects are skipped: the file is the grader's own, but a line cut by a
    killed worker must not stop the batch.
    """
    problems = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            problems.append(_problem_of_event(event))
    return problems


def _problem_of_event(event):
    where = f"{event.get('notebook')}/{event.get('cell')}"
    if "kernel_died" in event:
        why = " (killed for running out of memory)" if event.get("out_of_memory") else ""
        return Status.KERNEL_DIED, (f"the kernel died in {where} (cell {event.get('index')}){why}; "
                                    "the cells after it were not run")
    if "leftover_processes" in event:
        return Status.GRADED, (f"{event.get('notebook')} left {event['leftover_processes']} "
                               "process(es) running; killed with its kernel")
    if "links_removed" in event:
        links = ", ".join(event["links_removed"])
        return Status.GRADED, (f"{event.get('notebook')}: {event['count']} link(s) or special "
                               f"file(s) the kernel made were removed ({links})")
    if event.get("limit") == "time":
        return Status.GRADED, f"{where} was stopped by the time limit ({event['seconds']:g} s a cell)"
    if event.get("limit") == "memory":
        return Status.GRADED, f"{where} ran out of memory (the address-space cap)"
    if event.get("tool"):
        verb = "changed" if event["when"] == "during" else "restored before"
        return Status.TAMPERING, (f"{verb} {where}: {', '.join(event['restored'][:6])}"
                                  + (" (that cell scores 0)" if event["when"] == "during" else ""))
    return Status.GRADED, f"rebound names restored before {where}: {', '.join(event['restored'][:6])}"
