"""Decodes CIFAR-10 from its two formats into a checked ``Cifar10``, without trusting the files.

One job: turn a source (a file or folder found by ``_find_source``) into arrays. The formats:

* the official python format: six pickled batches ``{b"data": (10000, 3072) uint8, b"labels":
  [int]}`` in ``cifar-10-batches-py/``, unpickled with only numpy's array constructors allowed
  (``_ArrayUnpickler``), so a crafted pickle cannot run code;
* the course's JPEG layout: ``{train,test}/<class name>/<file>.jpg``, each image's frame size read
  from its header before decoding, so a wrong-sized image is refused, never misread.

Either may come as a folder or as a tar archive, read in memory by ``helpers._cifar_tar``. Every
result passes ``_checked`` (shapes, dtypes, labels). The public names are re-exported by
``helpers.data``.
"""

import io
import pickle
import struct
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from helpers._cifar_tar import _tar_files

# Official label order (also the alphabetical order of the JPEG archive's class folders).
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
WITHHELD_LABEL = -1  # a test label the grader keeps to itself
IMAGE_SHAPE = (32, 32, 3)

ARCHIVE_NAME = "cifar-10-python.tar.gz"  # the official download, as stored in the cache folder
JPEG_ARCHIVE_NAME = "cifar10-jpeg.tar.xz"  # the course's offline copy (../shared/data)
BATCHES_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class Cifar10(NamedTuple):
    """The data set: ``x_*`` (N, 32, 32, 3) uint8 RGB, ``y_*`` (N,) int64 in 0..9, ``class_names``.

    While autograding, the kernel's copy has ``y_test`` all ``WITHHELD_LABEL``: the grader keeps the
    test labels to itself (``write_grading_cache``)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple


def _checked(data, what, withheld_test_labels=False):
    """``data`` after checking shapes, dtypes and labels; raises ValueError naming ``what``.

    Checks ``x_*`` (N, 32, 32, 3) uint8 with N > 0 and ``y_*`` (N,) int64 in 0..9, or, with
    ``withheld_test_labels``, ``y_test`` all ``WITHHELD_LABEL``.
    """
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
# Sources: a file or folder of either format


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


def _load_source(source, cache_file, progress):
    """Decode a source found by ``_find_source`` into a ``Cifar10`` (``cache_file`` only for the message)."""
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
    """Read a tar archive of either format, in memory, never extracting it."""
    batches, entries = {}, []
    for name, parts, payload in _tar_files(archive):
        if parts[-1] in (*TRAIN_BATCHES, TEST_BATCH):
            batches[parts[-1]] = _read_batch(io.BytesIO(payload), f"{archive}:{name}")
        elif (key := _jpeg_key(parts)) is not None:
            entries.append((*key, payload))
    # The archive's bytes are freed now (the loop is done): the images are decoded from their own copies.
    if all(name in batches for name in (*TRAIN_BATCHES, TEST_BATCH)):
        return _from_batches(batches)
    if entries:
        return _from_jpegs(entries, progress)
    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if name not in batches]
    raise ValueError(
        f"{archive} holds neither the python-format batches (missing {', '.join(missing)}) "
        "nor train/<class>/*.jpg and test/<class>/*.jpg images"
    )


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
    """``{batch file name: (images (n, 32, 32, 3) uint8, labels (n,) int64)}`` -> a ``Cifar10``.

    The five training batches are concatenated in order (50,000 images), the test batch (10,000) kept.
    """
    x_train, y_train = _concatenate([batches[name] for name in TRAIN_BATCHES])
    x_test, y_test = _concatenate([batches[TEST_BATCH]])
    return _checked(Cifar10(x_train, y_train, x_test, y_test, CLASS_NAMES), "the python-format batches")


def _concatenate(batches):
    """``[(images (n, 32, 32, 3), labels (n,))]`` -> one C-contiguous (N, 32, 32, 3) uint8 array, (N,) labels.

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
    """Decode ``(split, label, file name, bytes)`` entries into a ``Cifar10``.

    Images are sorted by split, label, then file name: ``x_*`` (N, 32, 32, 3) uint8, ``y_*`` (N,) int64.
    """
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
