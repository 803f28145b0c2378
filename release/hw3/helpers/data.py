"""CIFAR-10 for the notebooks: ``load_cifar10()`` returns uint8 images, int64 labels and class names.

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
"""

import bz2
import contextlib
import gzip
import hashlib
import http.client
import io
import lzma
import os
import pickle
import struct
import tarfile
import tempfile
import urllib.request
import warnings
import zlib
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

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

# Official label order (also the alphabetical order of the JPEG archive's class folders).
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"

ARCHIVE_NAME = "cifar-10-python.tar.gz"  # the official download, as stored in the cache folder
JPEG_ARCHIVE_NAME = "cifar10-jpeg.tar.xz"  # the course's offline copy (../shared/data)
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CACHE_NAME = "cifar10.npz"
# Bump when the cache's content or meaning changes: older caches are then rebuilt, not misread.
CACHE_VERSION = 1
IMAGE_SHAPE = (32, 32, 3)
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
WITHHELD_LABEL = -1  # a test label the grader keeps to itself


class Cifar10(NamedTuple):
    """The data set: ``x_*`` (N, 32, 32, 3) uint8 RGB, ``y_*`` (N,) int64 in 0..9, ``class_names``.

    While autograding, the kernel's copy has ``y_test`` all ``WITHHELD_LABEL``: the grader keeps the
    test labels to itself (``write_grading_cache``)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple


class DataNotFoundError(FileNotFoundError):
    """No source of CIFAR-10 is available; the message says how to get one."""


class ChecksumError(RuntimeError):
    """A downloaded file does not have the expected MD5 (it was deleted)."""


def default_cache_dir():
    """``$HW3_CACHE_DIR``, else ``$XDG_CACHE_HOME/hw3``, else ``~/.cache/hw3`` (never the repo)."""
    if os.environ.get("HW3_CACHE_DIR"):
        return Path(os.environ["HW3_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "hw3"
    return Path.home() / ".cache" / "hw3"


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


# ---------------------------------------------------------------------------------------------
# Sources


def _find_source(path):
    """The CIFAR-10 file or folder that ``path`` is or holds, or None.

    A folder may be ``cifar-10-batches-py/`` itself, hold it, be an extracted JPEG archive
    (``train/``, ``test/``), or hold one of the archives (the official one preferred: exact pixels).
    """
    if path.is_file():
        return path
    if not path.is_dir():
        return None
    for folder in (path, path / BATCHES_DIR):
        if all((folder / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH)):
            return folder
    if all((path / split).is_dir() for split in SPLITS):
        return path
    for name in (ARCHIVE_NAME, JPEG_ARCHIVE_NAME):
        if (path / name).is_file():
            return path / name
    return None


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


def _load_source(source, cache_file, progress):
    """Decode a source found by ``_find_source`` into a ``Cifar10``."""
    if progress:
        print(f"CIFAR-10: reading {source} (once; later calls load {cache_file})")
    if source.is_dir() and (source / TEST_BATCH).is_file():
        batches = {}
        for name in (*TRAIN_BATCHES, TEST_BATCH):
            with open(source / name, "rb") as f:
                batches[name] = _read_batch(f, source / name)
        return _from_batches(batches)
    if source.is_dir():
        return _from_jpegs(_jpeg_folder_entries(source), progress)
    return _from_archive(source, progress)


def _from_archive(archive, progress):
    """Read a tar archive (gz, xz, bz2 or none) of either format, in memory, never extracting it."""
    try:
        buf = _decompressed(archive)
        index = _plain_tar_index(buf)
        if index is None:  # pax or GNU extension headers, links, unusual fields: tarfile knows them all
            with tarfile.open(fileobj=io.BytesIO(buf)) as tar:
                index = [(m.name, _KINDS.get(m.type, "other"), m.offset_data, m.size) for m in tar]
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise ValueError(f"cannot read {archive} as a CIFAR-10 archive: {exc}") from exc
    batches, entries = {}, []
    for name, kind, offset, size in index:
        parts = _safe_parts(name, kind)
        if kind != "file":
            continue
        if offset + size > len(buf):
            raise ValueError(f"{archive} is truncated (in member {name!r})")
        if parts[-1] in (*TRAIN_BATCHES, TEST_BATCH):
            batches[parts[-1]] = _read_batch(io.BytesIO(buf[offset : offset + size]), f"{archive}:{name}")
        elif (key := _jpeg_key(parts)) is not None:
            entries.append((*key, buf[offset : offset + size]))
    del buf  # the images are decoded from their own copies; free the archive before allocating arrays
    if all(name in batches for name in (*TRAIN_BATCHES, TEST_BATCH)):
        return _from_batches(batches)
    if entries:
        return _from_jpegs(entries, progress)
    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if name not in batches]
    raise ValueError(
        f"{archive} holds neither the python-format batches (missing {', '.join(missing)}) "
        "nor train/<class>/*.jpg and test/<class>/*.jpg images"
    )


_KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file", tarfile.DIRTYPE: "dir"}


def _decompressed(path):
    """The bytes of ``path``, decompressed when it is gzip, xz or bzip2 (told by its first bytes)."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\xfd7zXZ\x00"):
        opener = lzma.open
    elif magic.startswith(b"\x1f\x8b"):
        opener = gzip.open
    elif magic.startswith(b"BZh"):
        opener = bz2.open
    else:
        opener = open
    with opener(path, "rb") as f:
        return f.read()


def _plain_tar_index(buf):
    """``[(name, kind, data offset, size)]`` for a tar archive of plain ustar/GNU headers, else None.

    ``kind`` is "file" or "dir". tarfile decodes every field of every 512-byte header in Python,
    about 40 us a member: 2.5 s, half the reading time, for the 60,000-file JPEG archive. This reads
    only name, size and type, and hands anything it does not fully understand (pax or GNU extension
    headers, links, base-256 numbers, a bad checksum) back to tarfile by returning None.
    """
    index, pos = [], 0
    while pos + 512 <= len(buf):
        header = buf[pos : pos + 512]
        if header == _ZERO_BLOCK:  # end of archive
            break
        typeflag = header[156:157]
        if header[257:262] != b"ustar" or typeflag not in (b"0", b"\0", b"5"):
            return None
        try:
            checksum = int(header[148:156].strip(b"\0 "), 8)
            size = int(header[124:136].strip(b"\0 ") or b"0", 8)
            name = header[:100].split(b"\0", 1)[0].decode("utf-8")
            prefix = header[345:500].split(b"\0", 1)[0].decode("utf-8")  # as tarfile reads it
        except ValueError:  # UnicodeDecodeError included
            return None
        if checksum != sum(header) - sum(header[148:156]) + 8 * ord(" "):  # the field counts as spaces
            return None
        name = f"{prefix}/{name}" if prefix else name
        kind = "dir" if typeflag == b"5" or name.endswith("/") else "file"
        index.append((name, kind, pos + 512, size))
        pos += 512 + (size + 511) // 512 * 512
    return index


_ZERO_BLOCK = bytes(512)


def _safe_parts(name, kind):
    """The path components of a tar member, refusing names and types that could escape a folder.

    Nothing is extracted to disk, but a name with ``..`` could still pass for another class's
    image, and links have no business in a data archive: both mean the archive is not what it
    claims, so loading stops.
    """
    posix = name.replace("\\", "/")
    parts = [p for p in PurePosixPath(posix).parts if p not in ("", ".", "/")]
    if posix.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise ValueError(f"refusing unsafe archive member {name!r} (absolute path or '..')")
    if kind not in ("file", "dir"):
        raise ValueError(f"refusing archive member {name!r}: only regular files and folders are allowed")
    return parts or ["."]


# ---------------------------------------------------------------------------------------------
# The official python format: pickled dicts {b"data": (10000, 3072) uint8, b"labels": [int]}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that builds numpy arrays and nothing else (a pickle can otherwise run any code)."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),  # how numpy 1.x (and the official files) pickle
        ("numpy._core.multiarray", "_reconstruct"),  # ... and numpy 2.x
        ("numpy.core.multiarray", "scalar"),  # numpy integers, e.g. labels as np.int64
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # pickle protocol 5
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # bytes written by Python 3 with protocol 2
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _read_batch(fileobj, name):
    """Unpickle one batch file.

    Returns:
        (images (n, 32, 32, 3) uint8, a view of the channel-first rows; labels (n,) int64).
    """
    try:
        batch = _ArrayUnpickler(fileobj, encoding="bytes").load()
        data = np.asarray(batch.get(b"data", batch.get("data")))
        labels = np.asarray(batch.get(b"labels", batch.get("labels")), dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not a CIFAR-10 batch: {exc}") from exc
    n = len(labels)
    if data.dtype != np.uint8 or data.shape != (n, 32 * 32 * 3) or labels.shape != (n,):
        raise ValueError(f"{name}: expected data (N, 3072) uint8 and N labels, got {data.dtype} {data.shape}, {n}")
    # Each row is the red plane, then green, then blue, each 32x32 row-major: (n, C, H, W) -> (n, H, W, C).
    return data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _from_batches(batches):
    """Concatenate the five training batches (in order) and the test batch into a ``Cifar10``."""
    x_train, y_train = _concatenate([batches[name] for name in TRAIN_BATCHES])
    x_test, y_test = _concatenate([batches[TEST_BATCH]])
    return _checked(Cifar10(x_train, y_train, x_test, y_test, CLASS_NAMES), "the python-format batches")


def _concatenate(batches):
    """``[(images, labels)]`` -> one C-contiguous (N, 32, 32, 3) array and (N,) labels.

    Copying into a fresh array, not ``np.concatenate``, which would keep the transposed
    (channel-first in memory) layout of the views and leave every later use slower.
    """
    x = np.empty((sum(len(y) for _, y in batches), *IMAGE_SHAPE), dtype=np.uint8)
    start = 0
    for images, labels in batches:
        x[start : start + len(labels)] = images
        start += len(labels)
    return x, np.concatenate([labels for _, labels in batches])


# ---------------------------------------------------------------------------------------------
# The JPEG layout: {train,test}/<class name>/<file>.jpg


def _jpeg_key(parts):
    """``(split index, label, file name)`` for ``.../train|test/<class>/<image file>``, else None."""
    if len(parts) < 3 or parts[-3] not in SPLITS:
        return None
    file_name, class_name = parts[-1], parts[-2]
    if file_name.startswith(".") or not file_name.lower().endswith(IMAGE_SUFFIXES):
        return None  # README, .DS_Store, macOS ._ resource forks
    if class_name not in CLASS_NAMES:
        raise ValueError(f"unknown class folder {'/'.join(parts)!r}: expected one of {', '.join(CLASS_NAMES)}")
    return SPLITS.index(parts[-3]), CLASS_NAMES.index(class_name), file_name


def _jpeg_folder_entries(folder):
    """``(split, label, file name, bytes)`` for every image in an extracted JPEG archive."""
    entries = []
    for split in SPLITS:
        for class_dir in sorted((folder / split).iterdir()):
            if class_dir.is_dir():
                for file in class_dir.iterdir():
                    key = _jpeg_key([split, class_dir.name, file.name])
                    if key is not None and file.is_file():
                        entries.append((*key, file.read_bytes()))
    return entries


def _from_jpegs(entries, progress):
    """Decode ``(split, label, file name, bytes)`` entries, sorted by split, label, then file name."""
    entries.sort(key=lambda e: e[:3])
    counts = [sum(1 for e in entries if e[0] == split) for split in range(len(SPLITS))]
    xs = [np.empty((n, *IMAGE_SHAPE), dtype=np.uint8) for n in counts]
    ys = [np.array([e[1] for e in entries if e[0] == split], dtype=np.int64) for split in range(len(SPLITS))]
    row = [0, 0]
    with tqdm(total=len(entries), desc="decoding CIFAR-10 images", unit="img", disable=not progress) as bar:
        for i, (split, label, file_name, blob) in enumerate(entries):
            _decode_image(blob, xs[split][row[split]], f"{SPLITS[split]}/{CLASS_NAMES[label]}/{file_name}")
            row[split] += 1
            if i % 2000 == 1999:  # a bar update per image would cost more than some decodes
                bar.update(2000)
        bar.update(len(entries) - bar.n)
    return _checked(Cifar10(xs[0], ys[0], xs[1], ys[1], CLASS_NAMES), "the image files")


def _decode_image(blob, out, name):
    """Decode one 32x32 image file into ``out``, a (32, 32, 3) uint8 array.

    Baseline 3-channel 32x32 JPEGs (all of the course's archive) go straight to Pillow's JPEG
    decoder: ``Image.open`` parses the header in Python first, which costs more than decoding a
    32x32 image (measured: 6.0 s vs 3.9 s for the 60,000). The frame size is read from the
    header beforehand because that decoder would silently fill a wrong-sized image. Anything
    else (grayscale, PNG, other sizes) or any failure goes through ``Image.open``, which also
    gives the error message.
    """
    if _jpeg_frame(blob) == (32, 32, 3):
        try:
            decoded = Image.frombytes("RGB", (32, 32), blob, "jpeg", "RGB", "").tobytes()
            out[...] = np.frombuffer(decoded, dtype=np.uint8).reshape(IMAGE_SHAPE)
            return
        except (ValueError, OSError, TypeError):
            pass
    try:
        with Image.open(io.BytesIO(blob)) as image:
            if image.size != (32, 32):
                raise ValueError(f"image is {image.size[0]}x{image.size[1]}, expected 32x32")
            out[...] = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot decode {name}: {exc}") from exc


def _jpeg_frame(blob):
    """``(height, width, components)`` from a JPEG's start-of-frame marker, or None if not found."""
    if blob[:2] != b"\xff\xd8":
        return None
    i = 2
    try:
        while True:
            if blob[i] != 0xFF:
                return None
            marker = blob[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            # SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack_from(">HH", blob, i + 5)
                return height, width, blob[i + 9]
            if marker == 0xDA:  # start of scan: no frame header before it
                return None
            i += 2 + struct.unpack_from(">H", blob, i + 2)[0]
    except (IndexError, struct.error):
        return None


def _checked(data, what, withheld_test_labels=False):
    """``data`` after checking shapes, dtypes and labels; raises ValueError naming ``what``."""
    for x, y, split in ((data.x_train, data.y_train, "train"), (data.x_test, data.y_test, "test")):
        if len(x) == 0:
            raise ValueError(f"{what} hold no {split} images")
        if x.dtype != np.uint8 or x.shape[1:] != IMAGE_SHAPE or y.dtype != np.int64 or y.shape != (len(x),):
            raise ValueError(f"{what}: bad {split} arrays {x.dtype} {x.shape}, {y.dtype} {y.shape}")
        if split == "test" and withheld_test_labels:
            if not np.all(y == WITHHELD_LABEL):
                raise ValueError(f"{what}: test labels marked withheld, but some are there")
        elif y.min() < 0 or y.max() >= len(CLASS_NAMES):
            raise ValueError(f"{what}: {split} labels outside 0..{len(CLASS_NAMES) - 1}")
    return data


# ---------------------------------------------------------------------------------------------
# The cache: one uncompressed .npz (compression would cost seconds to save a few percent)


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
            arrays = [npz[key] for key in ("x_train", "y_train", "x_test", "y_test")]
            withheld = "test_labels" in npz.files and str(npz["test_labels"]) == "withheld"
        return _checked(Cifar10(*arrays, CLASS_NAMES), f"the cache {cache_file}", withheld_test_labels=withheld)
    except Exception as exc:  # zipfile, numpy and OS errors alike mean "rebuild"
        warnings.warn(f"ignoring the unreadable CIFAR-10 cache {cache_file} ({exc}); rebuilding it", stacklevel=3)
        return None


def write_grading_cache(data, cache_file):
    """Write the copy of ``data`` that the grader shows students' kernels: every image, and the
    training labels, but each test label replaced by ``WITHHELD_LABEL`` (the grader measures test
    accuracy itself; a kernel that could read the labels could fake its predictions). Raises
    OSError when it cannot be written."""
    withheld = data._replace(y_test=np.full_like(data.y_test, WITHHELD_LABEL))
    if not _write_cache(Path(cache_file), withheld, request="", fingerprint="", extra={"test_labels": "withheld"}):
        raise OSError(f"could not write {cache_file}")
    os.chmod(cache_file, 0o644)  # for the kernels' uids


def _write_cache(cache_file, data, request, fingerprint, extra=None):
    """Save ``data`` to ``cache_file`` atomically (temp file, then rename); warn if that fails.

    A failure to cache (read-only home, full disk) is not a failure to load: the data is still
    returned, just decoded again next time. Returns whether the cache was written.
    """
    tmp = None
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=f".{cache_file.stem}-", suffix=".npz.part")
        with os.fdopen(fd, "wb") as f:
            arrays = {name: getattr(data, name) for name in ("x_train", "y_train", "x_test", "y_test")}
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
