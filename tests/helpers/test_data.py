"""helpers.data.load_cifar10 on tiny fake archives of both formats, plus the real offline copy.

The fakes have known pixels, so the channel-first -> (H, W, C) conversion, the label order and
the sort order of the JPEG files are checked exactly. Downloads use file:// URLs; nothing here
touches the network or the user's real cache (HOME and XDG_CACHE_HOME point into tmp_path).
"""

import hashlib
import io
import os
import pickle
import random
import struct
import tarfile

import numpy as np
import pytest
from PIL import Image

from helpers import _cifar_formats, _cifar_tar, data
from helpers.data import CIFAR10_URL, CLASS_NAMES, ChecksumError, DataNotFoundError, load_cifar10

PER_BATCH = 2  # images in each fake python-format batch (5 train batches + 1 test batch)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No HW3_* variables from the caller, and a default cache folder inside tmp_path."""
    monkeypatch.delenv("HW3_DATA_DIR", raising=False)
    monkeypatch.delenv("HW3_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# ---------------------------------------------------------------------------------------------
# Fake sources


def pixel(k, channel, row, col):
    """Value of channel ``channel`` at (row, col) of image ``k``: different for every axis."""
    return (k * 11 + channel * 80 + row * 3 + col * 7) % 256


class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle wrote the official batches: every str/bytes a BINSTRING, numpy 1 names."""

    def save_py2_str(self, obj):
        raw = obj if isinstance(obj, bytes) else obj.encode("latin-1")
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch = pickle._Pickler.dispatch.copy()
    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    @classmethod
    def dumps(cls, obj):
        buf = io.BytesIO()
        cls(buf, protocol=2).dump(obj)
        return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def python_batches(per_batch=PER_BATCH, dumps=Py2Pickler.dumps):
    """``{file name: pickle bytes}`` of the six batches, and the expected Cifar10.

    Rows are built channel-first straight from ``pixel`` (red plane, green plane, blue plane,
    each row-major), and the expected images straight from ``pixel`` in (H, W, C) order, so the
    test does not share the loader's reshape. Keys are str, as in Python 2 (bytes once loaded).
    """
    names = [*_cifar_formats.TRAIN_BATCHES, _cifar_formats.TEST_BATCH]
    n = per_batch * len(names)
    chw = np.fromfunction(lambda k, c, r, w: pixel(k, c, r, w), (n, 3, 32, 32), dtype=np.int64).astype(np.uint8)
    hwc = np.fromfunction(lambda k, r, w, c: pixel(k, c, r, w), (n, 32, 32, 3), dtype=np.int64).astype(np.uint8)
    labels = [(3 * k + 1) % 10 for k in range(n)]
    files = {}
    for b, name in enumerate(names):
        rows = slice(b * per_batch, (b + 1) * per_batch)
        batch = {"batch_label": name, "labels": labels[rows], "data": chw[rows].reshape(per_batch, 3072)}
        files[name] = dumps(batch)
    n_train = 5 * per_batch
    y = np.array(labels, dtype=np.int64)
    expected = data.Cifar10(hwc[:n_train], y[:n_train], hwc[n_train:], y[n_train:], CLASS_NAMES)
    return files, expected


def write_tar(path, members, mode):
    """Write ``{member name: bytes}`` to a tar archive at ``path`` (``mode`` e.g. "w:gz")."""
    with tarfile.open(path, mode) as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def python_archive(folder, per_batch=PER_BATCH):
    """A fake ``cifar-10-python.tar.gz`` in ``folder``, and the expected Cifar10."""
    files, expected = python_batches(per_batch)
    folder.mkdir(parents=True, exist_ok=True)
    members = {f"cifar-10-batches-py/{name}": payload for name, payload in files.items()}
    members["cifar-10-batches-py/readme.html"] = b"<html></html>"
    return write_tar(folder / data.ARCHIVE_NAME, members, "w:gz"), expected


def jpeg(array, mode=None):
    """JPEG bytes of a uint8 image array."""
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def color(split, label, index):
    """The mean RGB color of a fake JPEG image: encodes its split, class and file index."""
    return np.array([20 + 22 * label, 40 + 60 * index, 60 + 120 * split])


def jpeg_members(per_class=((2, 1))):
    """``{member name: JPEG bytes}`` in the ``{train,test}/<class>/NNNN.jpg`` layout, shuffled.

    Each image is its ``color`` plus mild noise (so the JPEGs have real content to decode);
    test/cat/0000.jpg is grayscale, to go through the general decoding path.
    """
    rng = np.random.default_rng(0)
    members = {"README.txt": b"fake CIFAR-10"}
    for split, split_name in enumerate(("train", "test")):
        for label, class_name in enumerate(CLASS_NAMES):
            for index in range(per_class[split]):
                noise = rng.integers(-12, 13, (32, 32, 3))
                image = np.clip(color(split, label, index) + noise, 0, 255).astype(np.uint8)
                gray = split == 1 and class_name == "cat"
                payload = jpeg(image[..., 0], "L") if gray else jpeg(image)
                members[f"{split_name}/{class_name}/{index:04d}.jpg"] = payload
    names = list(members)
    random.Random(0).shuffle(names)  # the loader must sort, not rely on the archive's order
    return {name: members[name] for name in names}


def reference_decode(members, split):
    """Images and labels of one split decoded with plain ``Image.open``, in the documented order."""
    names = sorted(
        (n for n in members if n.startswith(split + "/")),
        key=lambda n: (CLASS_NAMES.index(n.split("/")[1]), n.split("/")[2]),
    )
    x = np.stack([np.asarray(Image.open(io.BytesIO(members[n])).convert("RGB")) for n in names])
    y = np.array([CLASS_NAMES.index(n.split("/")[1]) for n in names], dtype=np.int64)
    return x, y


def assert_same(actual, expected):
    for field in ("x_train", "y_train", "x_test", "y_test"):
        a, e = getattr(actual, field), getattr(expected, field)
        assert a.dtype == e.dtype and a.shape == e.shape, (field, a.dtype, a.shape, e.dtype, e.shape)
        np.testing.assert_array_equal(a, e, err_msg=field)
    assert actual.class_names == CLASS_NAMES


# ---------------------------------------------------------------------------------------------
# Formats


def test_python_archive_pixels_labels_and_types(tmp_path):
    archive, expected = python_archive(tmp_path / "src")
    got = load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False)
    assert isinstance(got, data.Cifar10)
    assert got.x_train.shape == (5 * PER_BATCH, 32, 32, 3) and got.x_train.dtype == np.uint8
    assert got.x_test.shape == (PER_BATCH, 32, 32, 3) and got.y_test.dtype == np.int64
    assert got.x_train.flags.c_contiguous and got.x_test.flags.c_contiguous
    # One pixel spelled out: image 3, row 1, column 2 is (R, G, B) = planes 0, 1, 2 of its row.
    assert tuple(got.x_train[3, 1, 2]) == (pixel(3, 0, 1, 2), pixel(3, 1, 1, 2), pixel(3, 2, 1, 2))
    assert_same(got, expected)
    assert CLASS_NAMES == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.mark.parametrize("protocol", [2, 5])
def test_batches_pickled_by_python3(tmp_path, protocol):
    """Re-pickled copies: numpy 2 module names, and labels as numpy integers."""

    def dumps(batch):
        return pickle.dumps({**batch, "labels": [np.int64(v) for v in batch["labels"]]}, protocol=protocol)

    files, expected = python_batches(dumps=dumps)
    members = {f"cifar-10-batches-py/{name}": payload for name, payload in files.items()}
    archive = write_tar(tmp_path / data.ARCHIVE_NAME, members, "w:gz")
    assert_same(load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False), expected)


def test_extracted_python_folder_and_env_var(tmp_path, monkeypatch):
    files, expected = python_batches()
    folder = tmp_path / "data" / _cifar_formats.BATCHES_DIR
    folder.mkdir(parents=True)
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    assert_same(load_cifar10(folder, cache_dir=tmp_path / "c1", progress=False), expected)
    # The folder holding cifar-10-batches-py/, given through HW3_DATA_DIR.
    monkeypatch.setenv("HW3_DATA_DIR", str(tmp_path / "data"))
    assert_same(load_cifar10(cache_dir=tmp_path / "c2", progress=False), expected)
    # A folder holding the archive.
    python_archive(tmp_path / "archive_dir")
    monkeypatch.setenv("HW3_DATA_DIR", str(tmp_path / "archive_dir"))
    assert_same(load_cifar10(cache_dir=tmp_path / "c3", progress=False), expected)


def test_jpeg_archive_sorted_labelled_and_decoded_like_pillow(tmp_path):
    members = jpeg_members()
    archive = write_tar(tmp_path / data.JPEG_ARCHIVE_NAME, members, "w:xz")
    got = load_cifar10(tmp_path, cache_dir=tmp_path / "cache", progress=False)  # the folder holding it
    assert got.x_train.shape == (20, 32, 32, 3) and got.x_test.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(got.y_train, np.repeat(np.arange(10), 2))
    np.testing.assert_array_equal(got.y_test, np.arange(10))
    for split, (x, y) in enumerate(((got.x_train, got.y_train), (got.x_test, got.y_test))):
        for i in range(len(x)):
            index = i % 2 if split == 0 else 0
            want = color(split, y[i], index)
            if split == 1 and CLASS_NAMES[y[i]] == "cat":  # grayscale: red channel, replicated
                want = np.full(3, want[0])
            np.testing.assert_allclose(x[i].reshape(-1, 3).mean(axis=0), want, atol=4, err_msg=f"{split} {i}")
    for split, x, y in (("train", got.x_train, got.y_train), ("test", got.x_test, got.y_test)):
        ref_x, ref_y = reference_decode(members, split)
        np.testing.assert_array_equal(x, ref_x)  # the fast decoding path is exactly Pillow's
        np.testing.assert_array_equal(y, ref_y)
    # The same images as an extracted folder.
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    assert_same(load_cifar10(tmp_path / "extracted", cache_dir=tmp_path / "cache2", progress=False), got)


@pytest.mark.parametrize(
    "mode, tar_format, long_name",
    [
        ("w:gz", tarfile.GNU_FORMAT, False),
        ("w:bz2", tarfile.USTAR_FORMAT, False),
        ("w", tarfile.PAX_FORMAT, False),
        ("w:xz", tarfile.GNU_FORMAT, True),  # a GNU long-name header
        ("w:gz", tarfile.PAX_FORMAT, True),  # a pax extended header
    ],
)
def test_compressions_and_tar_formats(tmp_path, mode, tar_format, long_name):
    files, expected = python_batches()
    members = {f"cifar-10-batches-py/{name}": payload for name, payload in files.items()}
    if long_name:
        members[f"cifar-10-batches-py/{'very-' * 30}long-notes.txt"] = b"notes"
    archive = tmp_path / "archive.tar"
    with tarfile.open(archive, mode, format=tar_format) as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    buf = _cifar_tar._decompressed(archive)
    index = _cifar_tar._plain_tar_index(buf)
    assert (index is None) == long_name  # extension headers go to tarfile; plain headers do not
    if index is not None:  # the fast index agrees with tarfile on every member
        with tarfile.open(fileobj=io.BytesIO(buf)) as tar:
            assert index == [(m.name, "file", m.offset_data, m.size) for m in tar]
    assert_same(load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False), expected)


def test_truncated_archive_is_reported(tmp_path):
    archive, _ = python_archive(tmp_path / "src")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(ValueError, match="cannot read .* as a CIFAR-10 archive"):
        load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False)


def test_wrong_sized_jpeg_is_reported_not_misread(tmp_path):
    members = jpeg_members()
    members["train/dog/0000.jpg"] = jpeg(np.zeros((32, 16, 3), np.uint8))  # 16 wide
    archive = write_tar(tmp_path / "bad.tar.xz", members, "w:xz")
    with pytest.raises(ValueError, match=r"train/dog/0000.jpg.*16x32, expected 32x32"):
        load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False)


@pytest.mark.parametrize(
    "name", ["train/cat/../../../evil.jpg", "../train/cat/0000.jpg", "/tmp/train/cat/0000.jpg", "train/cat/link.jpg"]
)
def test_unsafe_tar_members_are_refused(tmp_path, name):
    archive = tmp_path / "evil.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        info = tarfile.TarInfo(name)
        if name.endswith("link.jpg"):
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
        else:
            payload = jpeg(np.zeros((32, 32, 3), np.uint8))
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(ValueError, match="refusing"):
        load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "evil.jpg").exists()


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless, but any callable could be here


def test_pickle_with_foreign_callables_is_refused(tmp_path):
    files, _ = python_batches()
    files["data_batch_3"] = pickle.dumps({b"data": _Evil(), b"labels": [0]}, protocol=2)
    members = {f"cifar-10-batches-py/{name}": payload for name, payload in files.items()}
    archive = write_tar(tmp_path / data.ARCHIVE_NAME, members, "w:gz")
    with pytest.raises(ValueError, match=r"data_batch_3.*getcwd is not allowed"):
        load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False)


def test_archive_without_cifar_data_is_reported(tmp_path):
    archive = write_tar(tmp_path / "other.tar.gz", {"cifar-10-batches-py/data_batch_1": b"x"}, "w:gz")
    with pytest.raises(ValueError, match="not a CIFAR-10 batch"):
        load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False)
    archive = write_tar(tmp_path / "empty.tar.gz", {"notes.txt": b"hello"}, "w:gz")
    with pytest.raises(ValueError, match="missing data_batch_1"):
        load_cifar10(archive, cache_dir=tmp_path / "cache", progress=False)


# ---------------------------------------------------------------------------------------------
# Cache


def _must_not_decode(*args):
    raise AssertionError("the source was decoded again")


def test_cache_is_written_once_and_reused_without_reading_the_source(tmp_path, monkeypatch):
    archive, expected = python_archive(tmp_path / "src")
    cache = tmp_path / "cache"
    assert_same(load_cifar10(archive, cache_dir=cache, progress=False), expected)
    assert sorted(p.name for p in cache.iterdir()) == [data.CACHE_NAME]  # no temp file left behind

    monkeypatch.setattr(data, "_load_source", _must_not_decode)
    assert_same(load_cifar10(archive, cache_dir=cache, progress=False), expected)
    archive.unlink()  # a source loaded before and gone since is served from the cache
    assert_same(load_cifar10(archive, cache_dir=cache, progress=False), expected)
    assert_same(load_cifar10(cache_dir=cache, progress=False, download=False), expected)  # no source given
    with pytest.raises(DataNotFoundError, match="elsewhere.tar.gz does not exist"):
        load_cifar10(tmp_path / "elsewhere.tar.gz", cache_dir=cache, progress=False)


def test_same_source_seen_through_another_path_uses_the_cache(tmp_path, monkeypatch):
    # The grader's sandbox shows the data folder at another path (a read-only bind mount); a
    # hard link to the same file, in a folder of another name, is the same situation here.
    archive, expected = python_archive(tmp_path / "src")
    cache = tmp_path / "cache"
    load_cifar10(archive, cache_dir=cache, progress=False)
    (tmp_path / "mounted").mkdir()
    os.link(archive, tmp_path / "mounted" / archive.name)

    monkeypatch.setattr(data, "_load_source", _must_not_decode)
    assert_same(load_cifar10(tmp_path / "mounted", cache_dir=cache, progress=False), expected)


def test_changed_source_rebuilds_the_cache(tmp_path):
    archive, first = python_archive(tmp_path / "src")
    cache = tmp_path / "cache"
    assert_same(load_cifar10(archive, cache_dir=cache, progress=False), first)
    archive, second = python_archive(tmp_path / "src", per_batch=3)  # same path, new content
    assert_same(load_cifar10(archive, cache_dir=cache, progress=False), second)
    assert_same(load_cifar10(cache_dir=cache, progress=False, download=False), second)


def _garbage(cache_file):
    cache_file.write_bytes(b"this is not a zip file")


def _truncated(cache_file):
    payload = cache_file.read_bytes()
    cache_file.write_bytes(payload[: len(payload) // 2])


def _wrong_dtype(cache_file):
    with np.load(cache_file) as npz:
        arrays = dict(npz)
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    with open(cache_file, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("corrupt", [_garbage, _truncated, _wrong_dtype])
def test_corrupt_cache_is_rebuilt(tmp_path, corrupt):
    archive, expected = python_archive(tmp_path / "src")
    cache = tmp_path / "cache"
    load_cifar10(archive, cache_dir=cache, progress=False)
    corrupt(cache / data.CACHE_NAME)
    with pytest.warns(UserWarning, match="unreadable CIFAR-10 cache"):
        assert_same(load_cifar10(archive, cache_dir=cache, progress=False), expected)
    archive.unlink()
    assert_same(load_cifar10(archive, cache_dir=cache, progress=False), expected)  # the rebuilt cache


def test_interrupted_cache_write_leaves_nothing(tmp_path, monkeypatch):
    archive, _ = python_archive(tmp_path / "src")
    cache = tmp_path / "cache"

    def interrupted_savez(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(data.np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        load_cifar10(archive, cache_dir=cache, progress=False)
    assert list(cache.iterdir()) == []


def test_unwritable_cache_warns_and_still_returns_the_data(tmp_path):
    archive, expected = python_archive(tmp_path / "src")
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.warns(UserWarning, match="could not write the CIFAR-10 cache"):
        assert_same(load_cifar10(archive, cache_dir=not_a_folder, progress=False), expected)


def test_default_cache_dir(tmp_path, monkeypatch):
    assert data.default_cache_dir() == tmp_path / "xdg" / "hw3"
    monkeypatch.setenv("HW3_CACHE_DIR", str(tmp_path / "mine"))
    assert data.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("HW3_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.default_cache_dir() == tmp_path / "home" / ".cache" / "hw3"


# ---------------------------------------------------------------------------------------------
# Download and the error without any source


def test_download_verifies_md5_and_keeps_the_archive(tmp_path):
    archive, expected = python_archive(tmp_path / "server")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    got = load_cifar10(cache_dir=cache, url=archive.as_uri(), md5=md5, progress=True)
    assert_same(got, expected)
    assert sorted(p.name for p in cache.iterdir()) == sorted([data.ARCHIVE_NAME, data.CACHE_NAME])
    # Cache lost, server gone: the verified archive from the first download is used.
    (cache / data.CACHE_NAME).unlink()
    archive.unlink()
    assert_same(load_cifar10(cache_dir=cache, url=archive.as_uri(), md5=md5, progress=False), expected)


def test_download_with_wrong_md5_raises_and_deletes_the_file(tmp_path):
    archive, _ = python_archive(tmp_path / "server")
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumError, match="expected 0123456789abcdef0123456789abcdef"):
        load_cifar10(cache_dir=cache, url=archive.as_uri(), md5="0123456789abcdef0123456789abcdef", progress=False)
    assert list(cache.iterdir()) == []


def test_no_source_says_how_to_get_the_data(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10(cache_dir=tmp_path / "cache", download=False, progress=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "HW3_DATA_DIR" in message and CIFAR10_URL in message and str(tmp_path / "cache") in message
    assert data.JPEG_ARCHIVE_NAME in message


def test_failed_download_says_how_to_get_the_data(tmp_path):
    missing = (tmp_path / "no-such-server" / data.ARCHIVE_NAME).as_uri()
    with pytest.raises(DataNotFoundError, match="HW3_DATA_DIR") as info:
        load_cifar10(cache_dir=tmp_path / "cache", url=missing, progress=False)
    assert f"downloading {missing} failed" in str(info.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_given_path_without_data_is_reported(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="empty holds no CIFAR-10 file"):
        load_cifar10(tmp_path / "empty", cache_dir=tmp_path / "cache")
    monkeypatch.setenv("HW3_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError, match=r"HW3_DATA_DIR=.*nowhere does not exist"):
        load_cifar10(cache_dir=tmp_path / "cache")


# ---------------------------------------------------------------------------------------------
# The real offline copy (../shared/data next to the repository, as in CI)


def test_real_jpeg_archive(repo_root, tmp_path):
    archive = repo_root.parent / "shared" / "data" / data.JPEG_ARCHIVE_NAME
    if not archive.is_file():
        pytest.skip(f"{archive} is not here")
    got = load_cifar10(archive, cache_dir=tmp_path, progress=False)
    assert got.x_train.shape == (50000, 32, 32, 3) and got.x_test.shape == (10000, 32, 32, 3)
    assert got.x_train.dtype == np.uint8 and got.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(got.y_train, minlength=10), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(got.y_test, minlength=10), [1000] * 10)
    assert 100 < got.x_train.mean() < 140  # real photos, not a constant fill
    cached = load_cifar10(archive, cache_dir=tmp_path, progress=False)
    assert_same(cached, got)
