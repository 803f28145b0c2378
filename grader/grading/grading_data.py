"""The data the graded cells need (CIFAR-10's test set, for Part 3's accuracy cells): checked once per
grading folder before anyone is graded, and shared read-only with the kernels."""

import threading

from grader.isolation import sandbox


class GraderLacksData(RuntimeError):
    """The grader has no CIFAR-10 test set, which Part 3's accuracy cells need; the message says
    how to provide it. Raised before anything is graded."""


_SHARED_CACHES = {}  # grading folder -> the CIFAR-10 folder its kernels see (None: no copy could be written)

_SHARED_CACHES_LOCK = threading.Lock()


def shared_cache(out_dir):
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
