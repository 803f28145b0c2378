"""``python -m grader autograde``: grade a class's submissions into grades.csv, feedback and a report.

Each submission goes through: unpack -> match notebooks -> drop unreadable ones -> check its
test cells against the release -> stage into its own course folder (``work/<id>/``: a copy of
the assignment-only gradebook, the course helpers, the submission; no source notebooks, no
other students) -> nbgrader autograde in a worker process (killed with its kernel after a
time limit; the kernel sandboxed, see ``grader.sandbox``, and guarded, see ``grader.guard``)
-> results merged into the main gradebook, autograded notebooks and feedback moved into the
grading folder. Any failure is that student's status and the batch goes on.

Submissions are graded by ``workers`` threads (default: one per core), each driving one
worker process at a time. Finished submissions are remembered (``grader.resume``), so an
interrupted run picks up where it stopped, and ``grades.csv`` is rewritten atomically after
every submission.
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from grader import intake, sandbox, staging
from grader.course_dir import copy_source, generate_assignment, source_fingerprint
from grader.gradebook_merge import merge_submission, submission_scores
from grader.integrity import compare_test_cells
from grader.nbgrader_settings import CELL_TIMEOUT_S
from grader.notebook_cells import graded_cells
from grader.outputs.flags import flags_of_student
from grader.outputs.grades_csv import StudentResult, read_grades_csv, write_grades_csv
from grader.paths import ASSIGNMENT_ID, HELPERS_DIR, REPO_ROOT, SOURCE_DIR, source_notebook_names
from grader.resume import ResumeState, content_size, submission_key
from grader.zygote import ForkedProcess, Zygotes

FINGERPRINT_FILE = ".source_fingerprint"
TEMPLATE_DIR = ".grader/template"  # a course folder whose gradebook holds only the assignment


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
    sandbox: "auto" (strongest available), "root", "userns" or "none" (see ``grader.sandbox``).
    report: write ``report.html`` and its plots.
    progress: show a progress bar on stderr.
    preload_kernels: fork kernels from a process that has imported the course's libraries, and
        workers from one that has imported nbgrader (``grader.zygote``); False starts every
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


class GraderLacksData(RuntimeError):
    """The grader has no CIFAR-10 test set, which Part 3's accuracy cells need; the message says
    how to provide it. Raised before anything is graded."""


def assignment_cells():
    """Every graded cell of the assignment, in notebook and cell order."""
    return [cell for name in source_notebook_names() for cell in graded_cells(SOURCE_DIR / name)]


def _template(out_dir, fingerprint):
    """``out_dir/.grader/template``: source copy, release and an assignment-only gradebook."""
    template = Path(out_dir) / TEMPLATE_DIR
    marker = template / FINGERPRINT_FILE
    if not (marker.exists() and marker.read_text().strip() == fingerprint and (template / "gradebook.db").exists()):
        if template.exists():
            shutil.rmtree(template)
        template.mkdir(parents=True)
        copy_source(template)
        generate_assignment(template)
        marker.write_text(fingerprint + "\n")
    return template


def prepare_grading_dir(out_dir):
    """Make ``out_dir`` an nbgrader course folder for the current source.

    The source and gradebook are rebuilt when the source changed since the last run
    (the old gradebook is kept beside it, renamed), and reused otherwise, so earlier
    results stay in the gradebook for formgrader and ``nbgrader export``.
    Returns:
        the template course folder (see ``_template``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / FINGERPRINT_FILE
    fingerprint = source_fingerprint()
    template = _template(out_dir, fingerprint)
    gradebook = out_dir / "gradebook.db"
    up_to_date = marker.exists() and marker.read_text().strip() == fingerprint and gradebook.exists()
    copy_source(out_dir)
    if not up_to_date:
        if gradebook.exists():
            old = marker.read_text().strip()[:12] if marker.exists() else "unknown"
            gradebook.rename(out_dir / f"gradebook.{old}.db")
        shutil.copyfile(template / "gradebook.db", gradebook)
        shutil.rmtree(out_dir / "release" / ASSIGNMENT_ID, ignore_errors=True)
        shutil.copytree(template / "release" / ASSIGNMENT_ID, out_dir / "release" / ASSIGNMENT_ID)
        shutil.rmtree(out_dir / "state", ignore_errors=True)
        marker.write_text(fingerprint + "\n")
    return template


def student_course(out_dir, student_id):
    """A fresh course folder for one student's worker: the assignment-only gradebook and the
    source folder's non-notebook files (helpers); no source notebooks, no other students."""
    out_dir = Path(out_dir)
    template = out_dir / TEMPLATE_DIR
    work = out_dir / "work" / student_id
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copyfile(template / "gradebook.db", work / "gradebook.db")
    shutil.copytree(template / "source" / ASSIGNMENT_ID, work / "source" / ASSIGNMENT_ID,
                    ignore=shutil.ignore_patterns("*.ipynb"))
    # The release notebooks (public tests only), for the feedback the worker writes.
    shutil.copytree(template / "release" / ASSIGNMENT_ID, work / "release" / ASSIGNMENT_ID)
    return work


def _limit_memory(memory_bytes):
    """preexec_fn for the worker: cap its address space, which its kernel inherits."""
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


class Interrupted(Exception):
    """The batch was interrupted (Ctrl-C): this submission's result must not be recorded."""


_INTERRUPTED = threading.Event()
_RUNNING = set()  # worker processes in flight, killed on interruption


def _kill_worker(proc):
    """Kill a worker (and, for one started here, its process group)."""
    if isinstance(proc, ForkedProcess):
        proc.kill()  # its kernels die with it (see grader.kernel_zygote)
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _interrupt_all():
    _INTERRUPTED.set()
    for proc in list(_RUNNING):
        _kill_worker(proc)


def thread_env(threads):
    """Environment variables that cap the math libraries' threads (PyTorch, OpenMP, BLAS) of a
    worker and its kernels; variables the instructor set are kept. None: no cap."""
    if not threads:
        return {}
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    return {name: str(threads) for name in names if name not in os.environ}


def _start_worker(argv, env, limits, worker_zygote):
    """The worker process: forked by the worker zygote when there is one, else started afresh."""
    if worker_zygote is not None and worker_zygote.alive():
        try:
            return ForkedProcess(worker_zygote.socket_path, argv[3:], env, limits.memory_bytes)
        except OSError:  # not serving (yet, or any more): the usual way
            pass
    return _SpawnedWorker(argv, env, limits.memory_bytes)


class _SpawnedWorker(subprocess.Popen):
    """A worker started afresh. Its output goes to files, not pipes: a process it leaves behind
    holding them (possible without namespaces) cannot keep ``communicate`` waiting once it exited."""

    def __init__(self, argv, env, memory_bytes):
        self._files = (tempfile.TemporaryFile(), tempfile.TemporaryFile())
        super().__init__(argv, stdout=self._files[0], stderr=self._files[1], env=env,
                         start_new_session=True,  # its own process group; sandboxed kernels also die with it
                         preexec_fn=_limit_memory(memory_bytes))

    def communicate(self, timeout=None):
        self.wait(timeout)
        texts = []
        for f in self._files:
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
            f.close()
        return tuple(texts)


def worker_env(threads):
    """Variables a worker gets on top of the grader's: the grader on its path, the thread caps."""
    return {"PYTHONPATH": str(REPO_ROOT), **thread_env(threads)}


def run_worker(course_root, student_id, limits, options=None, threads=None, worker_zygote=None):
    """Autograde one staged student in a child process, within ``limits``.

    Args:
        options: the worker's OPTIONS_JSON (sandbox, kernelspec, events file), or None.
        threads: math-library threads for its kernels (``thread_env``), or None for the default.
        worker_zygote: the batch's worker zygote (``grader.zygote``), or None.
    Returns:
        (status, detail): ``graded`` and "" (or why the feedback could not be written) on success,
        else ``timeout`` or ``grading error``.
    """
    env = dict(os.environ, **worker_env(threads))
    argv = [sys.executable, "-m", "grader.worker", str(course_root), student_id, str(limits.cell_s)]
    if _INTERRUPTED.is_set():
        raise Interrupted()
    proc = _start_worker(argv + ([json.dumps(options)] if options else []), env, limits, worker_zygote)
    _RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=limits.submission_s)
    except subprocess.TimeoutExpired:
        _kill_worker(proc)
        proc.communicate()
        return intake.TIMEOUT, f"grading took longer than {limits.submission_s:g} s and was stopped"
    finally:
        _RUNNING.discard(proc)
        _kill_worker(proc)  # a kernel left behind by a crashed worker
    if _INTERRUPTED.is_set():
        raise Interrupted()
    try:
        reply = json.loads(out.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        reply = {"success": False, "error": (err or out or "worker died")[-2000:]}
    if reply["success"]:
        return intake.GRADED, reply.get("feedback_error", "")
    last_line = next((ln for ln in reversed(reply["error"].splitlines()) if ln.strip()), "unknown")
    return intake.GRADING_ERROR, f"nbgrader failed: {last_line.strip()[:300]}"


def _events_to_problems(sub, events_file):
    """Turn the guard's reports (``grader.guard``) into statuses and notes."""
    if not events_file.exists():
        return
    for line in events_file.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        where = f"{event.get('notebook')}/{event.get('cell')}"
        if "kernel_died" in event:
            sub.add_problem(intake.KERNEL_DIED, f"the kernel died in {where} (cell {event.get('index')}); "
                                                "the cells after it were not run")
        elif "leftover_processes" in event:
            sub.add_problem(intake.GRADED, f"{event.get('notebook')} left {event['leftover_processes']} "
                                           "process(es) running; killed with its kernel")
        elif "links_removed" in event:
            links = ", ".join(event["links_removed"])
            sub.add_problem(intake.GRADED, f"{event.get('notebook')}: {event['count']} link(s) or special "
                                           f"file(s) the kernel made were removed ({links})")
        elif event.get("limit") == "time":
            sub.add_problem(intake.GRADED, f"{where} was stopped by the time limit ({event['seconds']:g} s a cell)")
        elif event.get("limit") == "memory":
            sub.add_problem(intake.GRADED, f"{where} ran out of memory (the address-space cap)")
        elif event.get("tool"):
            verb = "changed" if event["when"] == "during" else "restored before"
            sub.add_problem(intake.TAMPERING, f"{verb} {where}: {', '.join(event['restored'][:6])}"
                            + (" (that cell scores 0)" if event["when"] == "during" else ""))
        else:
            sub.add_problem(intake.GRADED, f"rebound names restored before {where}: {', '.join(event['restored'][:6])}")


def _report_leftovers(sub, killed):
    """Processes of the submission's kernels still alive once it was done (the sandbox should have
    ended them with their kernels): killed, and said."""
    if killed:
        sub.add_problem(intake.GRADED, f"{killed} process(es) of this submission outlived its kernels; killed")


def _check_test_cells(sub, release_dir):
    """Report edited and deleted test cells; returns the (notebook, grade_id) pairs deleted."""
    zero = []
    for name, path in sub.notebooks.items():
        deleted, edited = compare_test_cells(path, Path(release_dir) / name)
        stem = name[:-6]
        if edited:
            sub.add_problem(intake.TEST_CELLS_CHANGED, f"{stem}: test cells edited ({', '.join(edited)}); "
                                                       "the course's version was run")
        if deleted:
            sub.add_problem(intake.TEST_CELLS_CHANGED, f"{stem}: test cells deleted ({', '.join(deleted)}); "
                                                       "they score 0")
            zero += [(stem, gid) for gid in deleted]
    return zero


_GRADEBOOK_LOCK = threading.Lock()


def _collect(work, out_dir, student_id, zero_cells, ungraded_cells=()):
    """Move a worker's results into the grading folder and merge its gradebook (one at a time)."""
    with _GRADEBOOK_LOCK:
        for kind in ("submitted", "autograded", "feedback"):
            dest = out_dir / kind / student_id
            if dest.exists():
                shutil.rmtree(dest)
            if (work / kind / student_id).exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(work / kind / student_id, dest)
                _chown_to_me(dest)
        merge_submission(f"sqlite:///{work / 'gradebook.db'}", f"sqlite:///{out_dir / 'gradebook.db'}",
                         student_id, zero_cells, ungraded_cells)


def _chown_to_me(path):
    """Give files a sandboxed kernel wrote (another uid) back to the grader's uid."""
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), 0, 0)


def grade_submission(sub, out_dir, notebook_names, limits=Limits(), box=None, threads=None, zygotes=None):
    """Grade one submission end to end; never raises for bad input.

    Args:
        sub: intake.Submission.
        out_dir: the grading folder (prepared by ``prepare_grading_dir``).
        notebook_names: the assignment's notebook file names.
        limits: Limits.
        box: sandbox.Sandbox for the kernels (None: detected).
        threads: math-library threads for its kernels (see ``run_worker``).
        zygotes: the batch's ``grader.zygote.Zygotes``, or None.
    Returns:
        StudentResult; scores are empty only when the submission could not be graded
        at all (duplicate id), 0 for cells whose notebook is missing or unreadable. Cells with no
        score yet are left out: written answers waiting for a person (``pending_manual``) and
        cells the grader could not grade (status ``incomplete``).
    """
    start = time.monotonic()
    out_dir = Path(out_dir)
    zero = {c.column: 0.0 for c in assignment_cells()}
    if sub.status == intake.DUPLICATE_ID:
        return StudentResult(sub.student_id, sub.status, sub.detail)
    box = box or sandbox.detect(out_dir / "work")
    work = student_course(out_dir, sub.student_id)
    options = {}
    try:
        intake.unpack(sub, work / "intake")
        if sub.root is not None:
            intake.match_notebooks(sub, notebook_names)
            staging.drop_unreadable_notebooks(sub)
        scores, pending = dict(zero), set()
        if sub.notebooks:
            deleted = _check_test_cells(sub, out_dir / "release" / ASSIGNMENT_ID)
            _submitted_helpers_note(sub)
            staging.stage(sub, work)
            zygotes = zygotes or Zygotes()
            options = _worker_options(work, sub, box, zygotes.kernel_socket())
            options["feedback_zero"] = deleted  # the worker writes the feedback too, in parallel
            status, detail = run_worker(work, sub.student_id, limits, options, threads, zygotes.worker)
            _events_to_problems(sub, work / "events.jsonl")
            if status != intake.GRADED:
                sub.add_problem(status, detail)
            if status == intake.GRADED:
                if detail:
                    sub.add_problem(intake.GRADED, f"no feedback written ({detail})")
                graded, pending, ungraded = submission_scores(work, sub.student_id, deleted)
                scores.update(graded)
                for column in [*pending, *ungraded]:  # no score yet: empty, not 0
                    scores.pop(column, None)
                _collect(work, out_dir, sub.student_id, deleted, [tuple(c.split("/", 1)) for c in ungraded])
                for reason in sorted(set(ungraded.values())):
                    columns = [c for c, r in ungraded.items() if r == reason]
                    sub.add_problem(intake.INCOMPLETE, f"not graded, {reason}: {', '.join(columns)}; "
                                                       "grade again once the grader has it")
                for flag in flags_of_student(out_dir / "autograded" / sub.student_id / ASSIGNMENT_ID):
                    sub.add_problem(intake.GRADED, f"flag: {flag}")
    finally:
        if options.get("runtime_dir"):  # nothing of this submission runs on once it is done
            _report_leftovers(sub, sandbox.kill_submission_uids(options["runtime_dir"]))
            shutil.rmtree(options["runtime_dir"], ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return StudentResult(sub.student_id, sub.status, sub.detail, scores, sorted(pending),
                         time.monotonic() - start)


def _submitted_helpers_note(sub):
    """Note a shipped helpers/ that is not the released one (it is never used either way)."""
    theirs = next(iter(sub.notebooks.values())).parent / "helpers"
    if theirs.is_dir():
        ours = HELPERS_DIR  # the release (and the Gradescope bundle) carries a copy of these
        changed = [p.name for p in sorted(theirs.glob("*.py"))
                   if not (ours / p.name).exists() or (ours / p.name).read_bytes() != p.read_bytes()]
        if changed:
            sub.add_problem(intake.GRADED, "the submitted helpers/ differs from the released one "
                                           f"({', '.join(changed[:5])}); the course's helpers were used")


_SHARED_CACHES = {}  # grading folder -> the CIFAR-10 folder its kernels see (None: no copy could be written)
_SHARED_CACHES_LOCK = threading.Lock()


def _shared_cache(out_dir):
    """The CIFAR-10 cache folder for this grading folder's kernels (``check_grading_data``), or None."""
    return _SHARED_CACHES.get(out_dir)


def check_grading_data(out_dir, without_data=False, log=print):
    """Make sure the grader has what the graded cells need before grading anyone, and share it
    with the kernels (``sandbox.share_data_cache``: CIFAR-10 decoded at most once, here).

    Raises:
        GraderLacksData: no CIFAR-10 (the accuracy cells would fail for every student), unless
            ``without_data``: then those cells are left ungraded and a line says so. Absent data
            is looked for again by the next batch.
    """
    from helpers.data import DataNotFoundError

    with _SHARED_CACHES_LOCK:
        if out_dir in _SHARED_CACHES:
            return
        try:
            _SHARED_CACHES[out_dir] = sandbox.share_data_cache(out_dir, log)
            return
        except DataNotFoundError as exc:
            reason = str(exc)
        except Exception as exc:  # a corrupt or unreadable source: say which
            reason = f"CIFAR-10 could not be read: {type(exc).__name__}: {exc}"
    if without_data:
        log("note: grading without CIFAR-10 (--without-data): the test-accuracy cells are left "
            "ungraded (status 'incomplete'); the next run that has the data grades them")
        return
    raise GraderLacksData(
        "the grader has no CIFAR-10, which the test-accuracy cells of part3_pytorch_cnn need; nothing "
        f"was graded.\n{reason}\nThen run the same command again (or add --without-data to grade "
        "everything else now: those cells stay ungraded, never 0, and the next run grades them).")


def _worker_options(work, sub, box, zygote=None):
    """The worker's settings: sandboxed kernelspec, runtime folder for sockets, events file,
    the kernel zygote."""
    runtime = sandbox.runtime_folder()
    kernel_dir = work / "autograded" / sub.student_id / ASSIGNMENT_ID
    out_dir = work.parent.parent
    cfg = sandbox.kernel_config(box, kernel_dir, work / "home", runtime, data_cache=_shared_cache(out_dir),
                                open_from=out_dir)
    options = {"sandbox": cfg, "spec_root": str(sandbox.write_kernelspec(work / "kernelspec", zygote=bool(zygote))),
               "runtime_dir": str(runtime), "events": str(work / "events.jsonl")}
    if zygote:
        options["zygote"] = zygote
    return options


def _expand_groups(result, sub):
    """One row per member of a group submission (Gradescope), the same grade for each."""
    rows = [result]
    for member in sub.members:
        note = f"graded with {sub.student_id}'s group submission"
        rows.append(replace(result, student_id=member, detail="; ".join(d for d in (result.detail, note) if d)))
    return rows


def _progress_bar(total, enabled):
    from tqdm import tqdm

    return tqdm(total=total, unit="submission", disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                smoothing=0.1)


def _start_zygotes(options, submissions, workers, threads, limits, log):
    """The batch's zygotes (``grader.zygote``), or none when preloading is off or nothing is to grade."""
    candidates = sum(sub.status != intake.DUPLICATE_ID for sub in submissions)
    if not (options.preload_kernels and candidates):
        return Zygotes()
    # The worker zygote only pays off for workers started after it is ready, not for the first ones.
    return Zygotes.start(thread_env(threads), worker_env(threads) if candidates > workers else None,
                         limits.memory_bytes, log)


def autograde(paths, out_dir, limits=Limits(), log=print, options=None, **option_kwargs):
    """Grade every submission found in ``paths`` and write ``out_dir/grades.csv`` (and a report).

    Args:
        paths: zips and folders, as described in ``grader.intake``.
        out_dir: the grading folder (an nbgrader course folder, created if needed).
        limits: Limits for each submission (time, per cell time, memory).
        log: called with one line per finished submission (and one about the sandbox).
        options: Options for the batch; keyword arguments override its fields
            (e.g. ``workers=2, resume=False``).
    Returns:
        list of StudentResult, in the order the submissions were found (group members after
        their submission). ``grades.csv`` also keeps the rows of students graded in earlier
        runs into the same folder.
    """
    options = replace(options or Options(), **option_kwargs)
    out_dir = Path(out_dir).resolve()
    submissions = intake.discover(paths, options.id_pattern)
    # No more workers than submissions; they share the cores: each kernel's PyTorch/BLAS gets its
    # share, not one thread per core (oversubscribed threads slow every worker down).
    workers = max(1, min(options.workers or os.cpu_count() or 1, len(submissions)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    # The zygotes preload (seconds of imports) while the grading folder is prepared; stopped below
    # if resuming leaves nothing to grade.
    zygotes = _start_zygotes(options, submissions, workers, threads, limits, log)
    umask = None  # the grader's own, while it is 077 ("uid" mode)
    try:
        prepare_grading_dir(out_dir)
        # Before the workers start: CIFAR-10 decoded at most once, here; none: stop, or say so.
        check_grading_data(out_dir, options.without_data, log)
        (out_dir / "work").mkdir(exist_ok=True)
        box = sandbox.detect(out_dir / "work", options.sandbox)
        log(f"isolation: {box.description}")
        if box.mode == "uid":  # no mount namespace: the kernels' uids must find nothing readable here
            sandbox.restrict_to_root(out_dir, except_for=_shared_cache(out_dir))
            umask = os.umask(0o077)  # and nothing the grader writes later
        names, cells = source_notebook_names(), assignment_cells()
        table = out_dir / "grades.csv"
        this_run = {s.student_id for s in submissions} | {m for s in submissions for m in s.members}
        earlier = [row for row in read_grades_csv(table, cells) if row["student_id"] not in this_run]
        state = ResumeState(out_dir / "state")
        fingerprint = source_fingerprint()
        keys = [submission_key(sub, fingerprint, limits) if sub.status != intake.DUPLICATE_ID else None
                for sub in submissions]
        stored = [state.load(sub.student_id, key) if options.resume and key else None
                  for sub, key in zip(submissions, keys, strict=True)]
    except BaseException:
        zygotes.stop(log)
        if umask is not None:
            os.umask(umask)
        raise
    if all(key is None or result is not None for key, result in zip(keys, stored, strict=True)):
        zygotes.stop(log)  # everything is resumed: nothing will fork from them
        zygotes = Zygotes()
    results = {}
    max_points = sum(c.points for c in cells)

    def run_one(index, sub):
        key = keys[index]
        if stored[index] is not None:
            return index, sub, stored[index], True
        result = grade_submission(sub, out_dir, names, limits, box, threads, zygotes)
        if _INTERRUPTED.is_set():
            raise Interrupted()
        if key and result.status == intake.INCOMPLETE:
            state.forget(sub.student_id)  # graded while the grader lacked something: never reused
        elif key:
            state.save(result, key)
        return index, sub, result, False

    counts = {}
    bar = _progress_bar(len(submissions), options.progress)
    _INTERRUPTED.clear()
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        # Largest first (bytes as the expected work: no checkpoints or a missing notebook make a
        # quicker submission), so the batch does not end with one core grading a long one alone.
        order = sorted(range(len(submissions)), key=lambda i: -content_size(submissions[i].origin))
        futures = [pool.submit(run_one, i, submissions[i]) for i in order]
        for future in as_completed(futures):
            index, sub, result, reused = future.result()
            results[index] = _expand_groups(result, sub)
            counts[result.status] = counts.get(result.status, 0) + 1
            line = (f"{result.student_id}: {result.status}, {result.total:g}/{max_points:g} points "
                    + ("(unchanged since the last run, not regraded)" if reused else f"({result.seconds:.1f} s)"))
            bar.write(line) if options.progress else log(line)
            bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in sorted(counts.items())), refresh=False)
            bar.update(1)
            ordered = [r for i in sorted(results) for r in results[i]]
            write_grades_csv(ordered, cells, table, earlier)  # after each one, so nothing is lost
    except BaseException:  # Ctrl-C: stop the workers; finished results are already on disk
        _interrupt_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        bar.close()
        zygotes.stop(log)
        if umask is not None:
            os.umask(umask)
    ordered = [r for i in sorted(results) for r in results[i]]
    write_grades_csv(ordered, cells, table, earlier)
    if options.report:
        from grader.outputs.class_report import write_class_report

        write_class_report(out_dir, table, cells, box.description)
    return ordered
