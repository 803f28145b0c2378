"""Reads the files of a tar archive (gz, xz, bz2 or none) in memory: never extracted, unsafe members refused.

One job: turn an archive path into ``(member name, path parts, bytes)`` for each regular file, for
``helpers._cifar_formats`` to recognise. Nothing is written to disk, and a member whose name could
escape a folder (absolute, ``..``) or that is not a plain file or folder (links, devices) stops the
reading with a ValueError.
"""

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from pathlib import PurePosixPath

# Member types as the fast header index names them; any other type is "other", and refused.
_KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.CONTTYPE: "file", tarfile.DIRTYPE: "dir"}
_ZERO_BLOCK = bytes(512)


def _tar_files(archive):
    """Yield ``(name, parts, payload bytes)`` for each regular file of ``archive``, in archive order.

    ``parts`` are the member's path components (``_safe_parts``). The whole archive is decompressed
    into memory first (a ValueError if it cannot be read); it is freed once the generator is done,
    so callers that keep only their payloads hold no copy of the archive afterwards.
    """
    try:
        buf = _decompressed(archive)
        index = _plain_tar_index(buf)
        if index is None:  # pax or GNU extension headers, links, unusual fields: tarfile knows them all
            with tarfile.open(fileobj=io.BytesIO(buf)) as tar:
                index = [(m.name, _KINDS.get(m.type, "other"), m.offset_data, m.size) for m in tar]
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as exc:
        raise ValueError(f"cannot read {archive} as a CIFAR-10 archive: {exc}") from exc
    for name, kind, offset, size in index:
        parts = _safe_parts(name, kind)
        if kind != "file":
            continue
        if offset + size > len(buf):
            raise ValueError(f"{archive} is truncated (in member {name!r})")
        yield name, parts, buf[offset : offset + size]


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
