"""The folders a kernel can write: its working folder and its home, made afresh for every notebook.

nbgrader runs a notebook in its ``autograded/<id>/hw3`` folder, where its first pass has already
written the notebook with the course's test cells restored (hidden tests included), and where the
submission's earlier notebooks lie graded. No kernel ever sees that folder: it runs in a folder of
its own (``folder``) that holds a copy of what the student handed in (their notebooks as submitted,
``results/``, ``models/``...) and of the course's ``helpers/``, and nothing the grader writes. Both
it and the home are removed and made again before each notebook's kernel starts, so nothing one
notebook's kernel leaves there (an IPython startup file, a ``numpy.py``, a link) reaches the next.

Removing and copying happen in the grader's process while no process of an earlier kernel is alive
(``grader.isolation.guard`` makes sure of it), inside parents the kernels cannot write; removal
never follows a link (``shutil.rmtree`` works through descriptors).
"""

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

# Read by ``grader.isolation.guard`` in the worker: a ``KernelFolders`` as JSON.
KERNEL_FOLDERS_ENV = "GRADER_KERNEL_FOLDERS"
HOME_SUBFOLDERS = ("mpl", "ipython", "tmp")  # MPLCONFIGDIR, IPYTHONDIR, TMPDIR (``sandbox.kernel_config``)


@dataclass(frozen=True)
class KernelFolders:
    """Where a submission's kernels run, and what each one starts with.

    folder: the kernel's working folder (named like the student's assignment folder).
    home: the kernel's HOME; holds its IPython and matplotlib settings and its TMPDIR.
    files: folders whose contents are copied into ``folder``, in order (the staged submission,
        then the course's non-notebook files: ``helpers/``).
    """

    folder: str
    home: str
    files: tuple = ()

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        return cls(data["folder"], data["home"], tuple(data.get("files", ())))

    def renew(self):
        """Remove both folders and make them again: ``folder`` from ``files``, an empty home."""
        folder, home = Path(self.folder), Path(self.home)
        for path in (folder, home):
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.exists():
                shutil.rmtree(path)
        folder.mkdir(parents=True)
        for source in self.files:
            if Path(source).is_dir():
                shutil.copytree(source, folder, symlinks=True, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for sub in HOME_SUBFOLDERS:
            (home / sub).mkdir(parents=True)
        _copy_matplotlib_cache(home / "mpl")


def _copy_matplotlib_cache(mpl_dir):
    """Matplotlib's font cache for the kernel's fresh home, so it is not rebuilt for every kernel."""
    try:
        import matplotlib

        for path in Path(matplotlib.get_cachedir()).glob("fontlist*.json"):
            shutil.copy(path, mpl_dir / path.name)
    except Exception:  # a cold cache only costs time
        pass
