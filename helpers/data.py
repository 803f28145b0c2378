"""CIFAR-10 for the notebooks: ``load_cifar10()`` returns uint8 images, int64 labels and class names.

Example::

    from helpers.data import load_cifar10

    data = load_cifar10()  # decodes (or downloads) once and caches; later calls: a fraction of a second
    data.x_train.shape     # (50000, 32, 32, 3): uint8 RGB, pixels 0..255
    data.y_train.shape     # (50000,): int64 labels 0..9
    data.x_test.shape      # (10000, 32, 32, 3), and y_test (10000,)
    data.class_names[data.y_train[0]]  # the first training image's class, e.g. "frog"

The contract: ``load_cifar10`` returns a ``Cifar10`` named tuple ``(x_train, y_train, x_test, y_test,
class_names)`` with the shapes above, images as (N, height, width, channel) and ``class_names`` the
ten names in label order (``CLASS_NAMES``). When no source of the data is available it raises
``DataNotFoundError``, whose message says how to get it.

Where the data comes from, in order:

1. ``path`` (or, when it is None, the environment variable ``HW3_DATA_DIR``): a file or a folder
   holding the official python-format archive ``cifar-10-python.tar.gz``, its extracted folder
   ``cifar-10-batches-py/``, or the course's JPEG archive ``cifar10-jpeg.tar.xz`` (``train/<class>/
   NNNN.jpg``, ``test/<class>/NNNN.jpg``) or its extracted folder.
2. The local cache ``<cache_dir>/cifar10.npz``: the decoded arrays, written after the first
   successful load, so every later call takes a fraction of a second.
3. The official download, checked against its MD5, into the cache folder.

Archives are decompressed in memory (about 90 MB for the JPEG archive, 180 MB for the official
one) and never extracted to disk, and the python format's pickles are unpickled with only numpy's
array constructors allowed, so a crafted archive can neither write outside the cache nor run code.
That hardening lives in private modules, not needed to use this one: ``helpers._cifar_formats``
(the two formats; tar archives through ``helpers._cifar_tar``) and ``helpers._cifar_cache`` (the
cache file, its fingerprints and the download).
"""

import http.client
import os
from pathlib import Path

import numpy as np

from helpers._cifar_cache import ChecksumError, _download, _fingerprint, _md5_of, _read_cache, _write_cache
from helpers._cifar_formats import (
    ARCHIVE_NAME,
    CLASS_NAMES,
    JPEG_ARCHIVE_NAME,
    WITHHELD_LABEL,
    Cifar10,
    _find_source,
    _load_source,
)

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CLASS_NAMES",
    "ChecksumError",
    "Cifar10",
    "DataNotFoundError",
    "default_cache_dir",
    "load_cifar10",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CACHE_NAME = "cifar10.npz"


class DataNotFoundError(FileNotFoundError):
    """No source of CIFAR-10 is available; the message says how to get one."""


def load_cifar10(path=None, cache_dir=None, download=True, progress=True, *, url=CIFAR10_URL, md5=CIFAR10_MD5):
    """Load CIFAR-10 from ``path``/``HW3_DATA_DIR``, else the local cache, else the official download.

    Args:
        path: a CIFAR-10 file or folder (see the module docstring); None to use ``HW3_DATA_DIR``
            when it is set. A given source is decoded once, then served from the cache while the
            source is unchanged (or gone).
        cache_dir: folder for ``cifar10.npz`` and the downloaded archive; None for
            ``default_cache_dir()``.
        download: when there is neither a source nor a cache, download ``url``.
        progress: print what is happening and show progress bars.
        url, md5: what to download and its expected MD5 (the official archive by default).
    Returns:
        Cifar10(x_train (50000, 32, 32, 3) uint8, y_train (50000,) int64,
                x_test (10000, 32, 32, 3) uint8, y_test (10000,) int64, class_names (10 str)).
    Raises:
        DataNotFoundError: no source, cache or download; the message says how to get the data.
        ChecksumError: the download does not match ``md5``.
        ValueError: the source is not valid CIFAR-10 (unsafe archive member, bad image, ...).
    """
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache_file = cache_dir / CACHE_NAME
    if path is not None:
        request, what = path, "path"
    elif os.environ.get("HW3_DATA_DIR"):
        request, what = os.environ["HW3_DATA_DIR"], "HW3_DATA_DIR"
    else:
        request, what = None, None

    if request is not None:
        request = Path(request).expanduser().resolve()
        if not request.exists():
            # A source that was loaded before and removed since is still served from the cache.
            data = _read_cache(cache_file, request=str(request))
            if data is not None:
                return data
            raise DataNotFoundError(_how_to_get_data(f"{what}={request} does not exist", cache_dir, url))
        source = _find_source(request)
        if source is None:
            raise DataNotFoundError(_how_to_get_data(f"{what}={request} holds no CIFAR-10 file", cache_dir, url))
        fingerprint = _fingerprint(source)
        data = _read_cache(cache_file, fingerprint=fingerprint)
        if data is None:
            data = _load_source(source, cache_file, progress)
            _write_cache(cache_file, data, request=str(request), fingerprint=fingerprint)
        return data

    data = _read_cache(cache_file)
    if data is not None:
        return data
    archive = cache_dir / ARCHIVE_NAME
    # An archive from an earlier download whose cache never got written (or was corrupt) is reused.
    if not (archive.is_file() and _md5_of(archive) == md5):
        if not download:
            raise DataNotFoundError(_how_to_get_data("no cache, and download=False", cache_dir, url))
        try:
            _download(url, archive, md5, progress)
        except (OSError, http.client.HTTPException) as exc:
            raise DataNotFoundError(_how_to_get_data(f"downloading {url} failed ({exc})", cache_dir, url)) from exc
    data = _load_source(archive, cache_file, progress)
    _write_cache(cache_file, data, request=str(archive.resolve()), fingerprint=_fingerprint(archive))
    return data


def default_cache_dir():
    """``$HW3_CACHE_DIR``, else ``$XDG_CACHE_HOME/hw3``, else ``~/.cache/hw3`` (never the repo)."""
    if os.environ.get("HW3_CACHE_DIR"):
        return Path(os.environ["HW3_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "hw3"
    return Path.home() / ".cache" / "hw3"


def write_grading_cache(data, cache_file):
    """Write the copy of ``data`` that the grader shows students' kernels: every image, and the
    training labels, but each test label replaced by ``WITHHELD_LABEL`` (the grader measures test
    accuracy itself; a kernel that could read the labels could fake its predictions). Raises
    OSError when it cannot be written."""
    withheld = data._replace(y_test=np.full_like(data.y_test, WITHHELD_LABEL))
    if not _write_cache(Path(cache_file), withheld, request="", fingerprint="", extra={"test_labels": "withheld"}):
        raise OSError(f"could not write {cache_file}")
    os.chmod(cache_file, 0o644)  # for the kernels' uids


def _how_to_get_data(reason, cache_dir, url):
    """The message of ``DataNotFoundError``: what went wrong, then every way to get the data."""
    return (
        f"CIFAR-10 is not available: {reason}.\n"
        "Get it in one of these ways, then run this again:\n"
        f"  1. On a machine with internet access, call load_cifar10() (download=True is the default):\n"
        f"     it downloads {url} (163 MB) once, checks it and caches it in {cache_dir}.\n"
        f"  2. Download {url} yourself, then put the file in {cache_dir},\n"
        "     or set the environment variable HW3_DATA_DIR to the file (or to the folder holding it),\n"
        "     or pass load_cifar10(path=...). The extracted cifar-10-batches-py/ folder works too.\n"
        f"  3. Offline, with the course's shared data: set HW3_DATA_DIR to the folder holding {JPEG_ARCHIVE_NAME}\n"
        "     (shared/data/ next to the course repository)."
    )
