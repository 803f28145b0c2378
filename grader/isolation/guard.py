"""Guarded execution: the kernel runs a notebook; test cells are graded by the worker; a dead kernel
is a status.

``GuardedExecute`` replaces nbgrader's Execute preprocessor. It starts the agent (``grader.isolation.kernel_agent``)
in the kernel before any student code, and for each test cell runs the public part in the kernel
and the hidden parts in this process (``grader.grading.trusted_tests``), which write the cell's outputs.

Around every test cell it also asks the kernel, through a ``user_expressions`` request (evaluated
by IPython without the input transformers a student could install), to compare the environment
with a snapshot taken before any student code ran, and to put back what changed:

* attributes of numpy (and its loaded submodules), ``math``, the course's ``helpers.checks`` and
  ``helpers.gradient_check``, and builtins (``np.allclose = lambda *a, **k: True``);
* names the read-only cells imported into the notebook (``assert_close``, ``np``, ...) that a
  student cell rebound;
* IPython's machinery: input and AST transformers, custom exception handlers, event callbacks
  added by student code, patched shell or kernel methods and message handlers, ``sys.excepthook``,
  trace functions.

What was put back *before* a test cell is reported (``tampering`` when it touched the grader's
tools, a note otherwise). What changed *during* a test cell gives that cell an error, so it
scores 0. A kernel that dies (``os._exit``, a crash, ``exit()``) is reported as ``kernel died``;
the cells after it are not run and score 0, and the notebook is still saved and graded.

The snapshot lives in the student's process, so a student who reads this module can defeat it:
it is defence in depth (it makes attempts visible); the verdict does not depend on it.

Longer than ~300 lines: one nbgrader preprocessor whose methods share the state of one notebook's
run (kernel, link, namespace, snapshot); the kernel side is ``guard_kernel.py``, the hidden tests
``grader.grading.trusted_tests``.
"""

import ast
import json
import os
import signal
import tempfile
import time
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from grader.cells import code_tree, is_provided_cell, is_test_cell
from grader.grading.trusted_tests import (
    TrustedNamespace,
    Verdict,
    cell_seed,
    public_failure_output,
    public_outputs,
    run_hidden,
    split_test_source,
    student_names,
    verdict_outputs,
    without_verdicts,
)
from grader.isolation import kernel_agent
from grader.isolation.kernel_agent import RemoteError
from grader.isolation.kernel_folders import KERNEL_FOLDERS_ENV, KernelFolders
from grader.isolation.kernel_launcher import SANDBOX_ENV, earlier_uids, kill_uid, processes_of, remove_links
from grader.isolation.machine import oom_kills
from grader.isolation.remote import KernelLink, LostContact, TimeLimit
from grader.results import (
    kernel_died_event,
    leftover_processes_event,
    links_removed_event,
    memory_limit_event,
    restored_event,
    time_limit_event,
)

EVENTS_ENV = "GRADER_EVENTS_FILE"
IPC_ENV = "GRADER_KERNEL_IPC"
KERNEL_DIED_NAME = "KernelDied"
# The guard's kernel side, sent as source (nothing of the grader is importable in the kernel).
KERNEL_CODE = (Path(__file__).resolve().parent / "guard_kernel.py").read_text(encoding="utf-8")
RECOVER_S = 10  # after a time limit: how long the interrupted student code has to give up
ALARM_GRACE_S = 5  # past the cell's limit, the grader's own computations are stopped too
PROTECTED_MODULES = ("numpy", "math", "helpers.checks", "helpers.gradient_check")
# Rebinding a name imported from these counts as tampering; other rebound names are only noted.
TOOL_MODULES = ("numpy", "math", "builtins", "scipy", "torch", "helpers.checks", "helpers.gradient_check")



def protected_names(cells):
    """Names the read-only, ungraded cells import: {name: (module, attribute or None)}.

    ``import numpy as np`` gives ``np: ("numpy", None)``; ``from helpers.checks import passed``
    gives ``passed: ("helpers.checks", "passed")``.
    """
    names = {}
    for cell in cells:
        if not is_provided_cell(cell):
            continue
        tree = code_tree(cell)
        for node in ast.walk(tree) if tree else []:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = (alias.name, None)
                    else:
                        names[alias.name.split(".")[0]] = (alias.name.split(".")[0], None)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if alias.name != "*":
                        names[alias.asname or alias.name] = (node.module, alias.name)
    return names


def _alarm(signum, frame):
    raise TimeLimit()


def _error_output(ename, evalue):
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):
    """nbgrader's Execute with the guard around test cells and kernel death handled (see module doc).

    With ``GRADER_KERNEL_IPC`` set (a folder), kernels are reached over Unix sockets there: a
    sandboxed kernel has no network, not even loopback.
    """

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        folder = os.environ.get(IPC_ENV)
        if folder:  # the connection file too: it must be where the sandboxed kernel can read it
            # A fresh folder per kernel, made by the grader (no earlier kernel can have planted a link
            # at its name); the launcher gives it to the kernel's uid.
            name = os.path.join(tempfile.mkdtemp(prefix="k", dir=folder), "k")
            km.transport = "ipc"
            km.ip = name
            km.connection_file = name + ".json"
        return km

    def _record(self, event):
        path = os.environ.get(EVENTS_ENV)
        if path:
            event = dict(event, notebook=self._notebook_name)
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    def _note_limits(self, cell, seconds):
        """Record a cell stopped by the time limit (measured here) or failing with a MemoryError (the
        address-space cap; the kernel's word, so only a note)."""
        if cell.cell_type != "code":
            return
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if self.timeout and seconds >= self.timeout:
            self._record(time_limit_event(grade_id, self.timeout))
        elif any(o.get("output_type") == "error" and o.get("ename") == "MemoryError" for o in cell.outputs):
            self._record(memory_limit_event(grade_id))

    def _kernel_eval(self, expression):
        """Evaluate ``expression`` in the kernel, bypassing input transformers; returns its text or None."""
        reply = self.wait_for_reply(self.kc.execute("", silent=True, store_history=False,
                                                    user_expressions={"g": expression}))
        value = (reply or {}).get("content", {}).get("user_expressions", {}).get("g", {})
        if value.get("status") != "ok":
            return None
        return value.get("data", {}).get("text/plain")

    def _install_guard(self):
        modules = sorted(set(PROTECTED_MODULES) | {m for m, _ in self._names.values()
                                                  if m.split(".")[0] in ("numpy", "scipy", "helpers", "math")})
        code = KERNEL_CODE + f"\n_install({modules!r}, {self._names!r}, {TOOL_MODULES!r})\n"
        self._kernel_eval(f"exec(compile({code!r}, '<grader-guard>', 'exec'), {{'get_ipython': get_ipython}})")

    def _check(self, cell, when):
        """Run the guard; returns the list of (kind, what) it put back (None: the guard is gone)."""
        text = self._kernel_eval("__import__('sys').modules['_grader_guard'].check(0)")
        try:  # the repr of a JSON string
            fixed = [tuple(item) for item in json.loads(ast.literal_eval(text))]
        except (ValueError, SyntaxError, TypeError):
            fixed = None
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if fixed is None:
            self._record(restored_event(grade_id, when, ["the grader's guard"], tool=True))
            return [("tool", "the grader's guard")]
        if fixed:
            self._record(restored_event(grade_id, when, sorted({w for _, w in fixed}),
                                        tool=any(k == "tool" for k, _ in fixed)))
        return fixed

    def preprocess(self, nb, resources=None, km=None):
        self._names = protected_names(nb.cells)
        self._student_names = student_names(nb.cells)
        self._notebook_name = (resources or {}).get("nbgrader", {}).get("notebook", "")
        self._dead = False
        self._oom_kills_before = oom_kills() or 0
        self._guard_ready = False
        self._link = self._namespace = None
        self._last_code_cell = max((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), default=-1)
        resources = resources if resources is not None else {}
        metadata = resources.setdefault("metadata", {})
        graded_folder, kernel_folder = metadata.get("path"), self._renew_kernel_folders()
        if kernel_folder:  # the kernel never runs where nbgrader keeps the restored test cells
            metadata["path"] = kernel_folder
        try:
            return super().preprocess(nb, resources, km)
        finally:  # the kernel is shut down: make sure all of it is gone before nbgrader writes its folder
            if self._link is not None:
                self._link.close()
            self._contain(metadata.get("path"))
            metadata["path"] = graded_folder

    def _renew_kernel_folders(self):
        """Fresh kernel folder and home for this notebook (``grader.isolation.kernel_folders``), once no
        process of an earlier kernel is alive; returns the folder, or None when not configured."""
        spec = os.environ.get(KERNEL_FOLDERS_ENV)
        if not spec:
            return None
        for uid in self._kernel_uids():
            kill_uid(uid)
        folders = KernelFolders.from_dict(json.loads(spec))
        folders.renew()
        return folders.folder

    def _kernel_uids(self):
        """The uids this submission's kernels had ("root" and "uid" sandboxes; see grader.isolation.kernel_launcher)."""
        cfg = json.loads(os.environ.get(SANDBOX_ENV) or "{}")
        if cfg.get("mode") not in ("root", "uid") or os.geteuid() != 0:
            return []
        return earlier_uids(cfg["uids"]["record"])

    def _count_leftovers(self):
        """Record the processes the notebook left running besides its kernel (they die with it)."""
        uids = self._kernel_uids()
        extra = len(processes_of(uids[-1])) - 1 if uids else 0
        if extra > 0:
            self._record(leftover_processes_event(extra))

    def _contain(self, folder):
        """Once the kernel is shut down: no process of its uid is left (killed and waited for), and no
        link it left in its folder remains for nbgrader to write or read through."""
        for uid in self._kernel_uids():
            kill_uid(uid)
        if folder and os.path.isdir(folder):
            links = remove_links(folder)
            if links:
                self._record(links_removed_event(links[:10], len(links)))

    def preprocess_cell(self, cell, resources, index):
        if self._dead:
            if cell.cell_type == "code":
                cell.outputs = [_error_output(KERNEL_DIED_NAME, "not run: the kernel died in an earlier cell")]
            return cell, resources
        try:
            if not self._guard_ready:
                self._install_guard()
                self._install_agent()
                self._guard_ready = True
            test = is_test_cell(cell)
            if test:
                self._check(cell, "before")
            started = time.monotonic()
            if test:
                cell, resources = self._grade_test_cell(cell, resources, index)
            else:
                cell, resources = super().preprocess_cell(cell, resources, index)
                if cell.cell_type == "code":
                    cell.outputs = without_verdicts(cell.outputs)
            self._note_limits(cell, time.monotonic() - started)
            if index == self._last_code_cell:
                self._count_leftovers()
            if test and self._check(cell, "during"):
                cell.outputs.append(_error_output(
                    "GraderTamperingError", "this test cell changed the grader's tools while it ran; it scores 0"))
        except DeadKernelError as exc:
            if is_test_cell(cell):  # what the kernel printed, never a verdict of its own
                cell.outputs = public_outputs(cell.outputs)[0]
            elif cell.cell_type == "code":
                cell.outputs = without_verdicts(cell.outputs)
            self._dead = True
            kills = oom_kills()
            self._record(kernel_died_event(cell.metadata.get("nbgrader", {}).get("grade_id"), index, exc,
                                           out_of_memory=kills is not None and kills > self._oom_kills_before))
            if cell.cell_type == "code":
                cell.outputs.append(_error_output(KERNEL_DIED_NAME, "the kernel died while running this cell"))
        return cell, resources

    # --- trusted grading (grader.grading.trusted_tests) --------------------------------------------
    def _install_agent(self):
        """Start the agent in the kernel (before any student code) and take its connection."""
        self._link = KernelLink(os.environ.get(IPC_ENV) or os.environ.get("JUPYTER_RUNTIME_DIR") or None)
        code = Path(kernel_agent.__file__).read_text(encoding="utf-8")
        self._kernel_eval(
            f"(lambda m: (exec(compile({code!r}, '<grader-agent>', 'exec'), m.__dict__), "
            f"__import__('sys').modules.__setitem__('_grader_agent', m), "
            f"m.connect({self._link.path!r}, {self._link.token!r}, get_ipython().user_ns))[-1])"
            f"(__import__('types').ModuleType('_grader_agent'))")
        if not self._link.accept():
            raise RuntimeError("the grader could not start its agent in the kernel")

    def _grade_test_cell(self, cell, resources, index):
        """Public part in the kernel, hidden parts here; the cell's outputs are the verdict."""
        full = cell.source
        public, hidden = split_test_source(full)
        outputs = []
        if public.strip():
            cell.source = public
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            finally:
                cell.source = full
            outputs = cell.outputs
        kept, failure = public_outputs(outputs)
        # The hidden part runs even after a public failure: later cells need what it defines.
        verdict = self._run_hidden(cell, hidden)
        cell.outputs = kept + ([public_failure_output(*failure)] if failure else verdict)
        return cell, resources

    def _run_hidden(self, cell, hidden):
        meta = cell.metadata.get("nbgrader", {})
        if self._namespace is None:
            self._namespace = TrustedNamespace(self._names, self._link, self._student_names)
        verdict = self._namespace["_verdict"] = Verdict()
        msg_id = self.kc.execute("", silent=True, store_history=False,
                                 user_expressions={"a": "__import__('sys').modules['_grader_agent'].serve()"})
        limit = self.timeout or 600
        self._link.deadline = time.monotonic() + limit
        # The grader's own work on the kernel's data (a reference on shapes the student chose) is bounded too.
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, limit + ALARM_GRACE_S)
        try:
            try:
                self._link.seed(cell_seed(meta.get("grade_id")))
            except RemoteError as exc_seed:  # the student's code broke the generators
                printed, exc, value = "", exc_seed, None
            else:
                printed, exc, value = run_hidden(hidden, self._namespace)
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._link.end()
        except TimeLimit:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self._record(time_limit_event(meta.get("grade_id"), self.timeout))
            self._recover()
            printed, exc, value = "", TimeoutError(f"your code did not finish within {self.timeout} s"), None
        except LostContact as exc_lost:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if not run_sync(ensure_async)(self.kc.is_alive()):
                raise DeadKernelError("the kernel died during the hidden tests") from None
            printed, value = "", None
            exc = ConnectionError(f"the grader lost contact with your kernel ({exc_lost})")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
            self._link.forget_callbacks()
            self._link.deadline = None
        self.wait_for_reply(msg_id)
        return verdict_outputs(printed, exc, value, meta.get("points", 0), verdict)

    def _recover(self):
        """After a time limit: interrupt the student's code, wait for the agent to give up the
        request, end serving. A kernel that does not recover is treated as dead."""
        if self._link.waiting:  # the student's code is running: stop it (else the agent is idle)
            run_sync(ensure_async)(self.km.interrupt_kernel())
        self._link.deadline = time.monotonic() + RECOVER_S
        try:
            self._link.drain()
            self._link.end()
        except (TimeLimit, LostContact):
            raise DeadKernelError("the kernel did not stop after its time limit") from None
