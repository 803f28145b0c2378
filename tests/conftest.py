import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")  # no windows from plotting helpers under test
# CIFAR-10 from the course's offline copy (CI has no internet); notebooks and graders inherit it.
_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
if _SHARED_DATA.is_dir():
    os.environ.setdefault("HW3_DATA_DIR", str(_SHARED_DATA))
# Part 3 trains its models in the "smoke" setting under test (one short epoch each): the tests check
# that the notebook runs and grades; tests/answers/test_pytorch_grading.py trains the quick setting for real.
os.environ.setdefault("HW3_SETTING", "smoke")


def pytest_collection_finish(session):
    """Start the quick-setting training in the background when a collected test will need it."""
    if any("quick_base" in getattr(item, "fixturenames", ()) for item in session.items):
        import tempfile

        import quick_training

        folder = Path(tempfile.mkdtemp(prefix="hw3-quick-base-"))
        session.config.stash[QUICK_TRAINING] = (folder, quick_training.start(folder))


def pytest_sessionfinish(session):
    started = session.config.stash.get(QUICK_TRAINING, None)
    if started is not None:
        import shutil

        folder, proc = started
        proc.kill()  # finished already, unless the session was cut short
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


QUICK_TRAINING = pytest.StashKey()  # (folder, Popen) of the background training, when started


@pytest.fixture(scope="session")
def quick_training_run(request):
    """(folder, Popen) of the background quick-setting training, or None when it was not started."""
    return request.config.stash.get(QUICK_TRAINING, None)


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def executed_source(tmp_path_factory):
    """The source notebooks with reference answers, each run top to bottom once in a scratch
    folder (with the course helpers), as a student's finished work would be.

    Returns:
        (folder, {notebook name: executed NotebookNode}); the folder also holds what the
        notebooks saved (figures/, results/).
    """
    import shutil

    import nbformat
    from nbclient import NotebookClient

    from grader.course import SOURCE_DIR, copy_helpers, source_notebook_names

    folder = tmp_path_factory.mktemp("executed-source")
    copy_helpers(folder)
    executed = {}
    for name in source_notebook_names():
        shutil.copy(SOURCE_DIR / name, folder / name)
        nb = nbformat.read(folder / name, as_version=4)
        NotebookClient(nb, timeout=600, allow_errors=True, resources={"metadata": {"path": str(folder)}}).execute()
        executed[name] = nb
    return folder, executed
