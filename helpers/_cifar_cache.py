"""Keeps decoded CIFAR-10 on disk: the cache file, the fingerprints that validate it, and the download.

One job: make every load after the first take a fraction of a second, and never serve stale or
corrupt data. The cache is one uncompressed ``.npz`` (compression would cost seconds to save a few
percent) of the four arrays plus what they were built from: a request path and a fingerprint of
the source's files. Writes are atomic (temp file, then rename); an unreadable cache is rebuilt,
never raised. The official archive is downloaded through a temp file too, kept only if its MD5
matches. ``ChecksumError`` is re-exported by ``helpers.data``.
"""

import contextlib
import hashlib
import math
import mmap
import os
import tempfile
import urllib.request
import warnings
import zipfile

import numpy as np
from tqdm.auto import tqdm

from helpers._cifar_formats import CLASS_NAMES, SPLITS, TEST_BATCH, TRAIN_BATCHES, Cifar10, _checked

# Bump when the cache's content or meaning changes: older caches are then rebuilt, not misread.
CACHE_VERSION = 1
_ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")


class ChecksumError(RuntimeError):
    """A downloaded file does not have the expected MD5 (it was deleted)."""


def _fingerprint(source):
    """A string that changes when the source's files change: name, size and mtime of each file.

    For an extracted JPEG folder only the folder and its ``<split>/<class>`` folders are stat'ed
    (cheap, and adding or removing images changes their mtimes). Names are relative to the source,
    so the same files seen through another path (the grader's read-only bind mount of the data)
    still match their cache instead of being decoded again.
    """
    if source.is_file():
        files = [source]
    elif (source / TEST_BATCH).is_file():
        files = [source / name for name in (*TRAIN_BATCHES, TEST_BATCH)]
    else:
        files = [source] + [source / split / name for split in SPLITS for name in CLASS_NAMES]
    parts = []
    for file in files:
        with contextlib.suppress(OSError):
            st = file.stat()
            parts.append(f"{file.relative_to(source.parent).as_posix()}|{st.st_size}|{st.st_mtime_ns}")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# The cache file: x_train (N, 32, 32, 3) uint8, y_train (N,) int64, x_test, y_test, and metadata


def _read_cache(cache_file, request=None, fingerprint=None):
    """The cached ``Cifar10``, or None when there is none, it is unusable, or from another source.

    Args:
        request: accept only a cache built for this requested path (str), or None for any.
        fingerprint: accept only a cache built from a source with this ``_fingerprint``, or None.
    A corrupt or truncated cache is reported with a warning and treated as absent (it is
    rebuilt), never raised.
    """
    if not cache_file.is_file():
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as npz:
            meta = {key: str(npz[key]) for key in ("version", "request", "fingerprint")}
            if meta["version"] != str(CACHE_VERSION):
                return None
            if (request is not None and meta["request"] != request) or (
                fingerprint is not None and meta["fingerprint"] != fingerprint
            ):
                return None
            arrays = [_mapped(cache_file, npz, key) if key.startswith("x_") else npz[key] for key in _ARRAY_NAMES]
            withheld = "test_labels" in npz.files and str(npz["test_labels"]) == "withheld"
        return _checked(Cifar10(*arrays, CLASS_NAMES), f"the cache {cache_file}", withheld_test_labels=withheld)
    except Exception as exc:  # zipfile, numpy and OS errors alike mean "rebuild"
        warnings.warn(f"ignoring the unreadable CIFAR-10 cache {cache_file} ({exc}); rebuilding it", stacklevel=3)
        return None


_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _mapped(cache_file, npz, name):
    """Array ``name`` of the uncompressed cache, mapped from the file copy-on-write instead of read:
    the images (180 MB) stay in the page cache, shared by every process that loads them and
    dropped under memory pressure; an array is still writable, and what is written stays private.
    Falls back to reading it (a compressed or unusual member)."""
    try:
        info = npz.zip.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED:
            return npz[name]
        with open(cache_file, "rb") as f:
            f.seek(info.header_offset)
            local = f.read(30)  # the member's local header, then its name and extra field
            if local[:4] != b"PK\x03\x04":
                return npz[name]
            f.seek(info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                   + int.from_bytes(local[28:30], "little"))
            read_header = _NPY_HEADER_READERS.get(np.lib.format.read_magic(f))
            if read_header is None:
                return npz[name]
            shape, fortran, dtype = read_header(f)
            if dtype.hasobject or fortran:
                return npz[name]
            offset = f.tell()
            mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        return np.frombuffer(mapping, dtype=dtype, count=math.prod(shape), offset=offset).reshape(shape)
    except Exception:  # any surprise in the file's layout: read it the ordinary way
        return npz[name]


def _write_cache(cache_file, data, request, fingerprint, extra=None):
    """Save ``data`` (a ``Cifar10``) to ``cache_file`` atomically (temp file, then rename); warn if that fails.

    A failure to cache (read-only home, full disk) is not a failure to load: the data is still
    returned, just decoded again next time. Returns whether the cache was written.
    """
    tmp = None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=f".{cache_file.stem}-", suffix=".npz.part")
        with os.fdopen(fd, "wb") as f:
            arrays = {name: getattr(data, name) for name in _ARRAY_NAMES}
            meta = {"version": CACHE_VERSION, "request": request, "fingerprint": fingerprint, **(extra or {})}
            np.savez(f, **arrays, **{key: np.array(value) for key, value in meta.items()})
        # mkstemp makes the file private, and it stays so: the grader's sandboxed kernels read their
        # own copy without the test labels (write_grading_cache), never this one.
        os.replace(tmp, cache_file)
        tmp = None
        return True
    except OSError as exc:
        warnings.warn(f"could not write the CIFAR-10 cache {cache_file} ({exc})", stacklevel=3)
        return False
    finally:
        if tmp is not None:  # also on KeyboardInterrupt: never leave a partial file behind
            with contextlib.suppress(OSError):
                os.unlink(tmp)


# ---------------------------------------------------------------------------------------------
# The official download


def _md5_of(path, chunk=1 << 20):
    """Hex MD5 of a file."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _download(url, dest, md5, progress, chunk=1 << 20):
    """Download ``url`` to ``dest`` through a temp file beside it, renamed only once its MD5 matches.

    Raises:
        ChecksumError: the MD5 differs (the temp file is deleted).
        OSError, http.client.HTTPException: the download failed (the temp file is deleted).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}-", suffix=".part")
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = tqdm(total=total, desc=f"downloading {dest.name}", unit="B", unit_scale=True, disable=not progress)
            with bar:
                while block := response.read(chunk):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != md5:
            raise ChecksumError(
                f"{url} has MD5 {digest.hexdigest()}, expected {md5}: the download is corrupt or incomplete "
                "and was deleted. Run this again; if it keeps failing, download the file yourself and set "
                "HW3_DATA_DIR to it."
            )
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
