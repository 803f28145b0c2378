"""Unpacking one submission safely into a folder of its own (``unpack``).

Zips are unpacked safely (no absolute paths, no ``..``, no links, caps on size and file count,
counted on the bytes actually decompressed, so a zip that lies about its sizes is caught too);
folders are copied under the same caps, never following or keeping a link (a notebook linked to
the grader's own solutions must not be graded), fifos, sockets and devices skipped too;
one extra top-level folder inside a submission is tolerated.
"""

import errno
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from grader.results import Status

# Caps on an unpacked zip or a copied folder, generous for notebooks, figures and small checkpoints.
MAX_TOTAL_BYTES = 1 << 30
MAX_FILE_BYTES = 512 << 20
MAX_FILES = 5000
MAX_RATIO = 200  # uncompressed / compressed size of a member above which (and > 1 MiB) it is a bomb
MAX_DEPTH = 16  # names in a path (folders and file): deeper trees overflow the recursion of rglob/rmtree
IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".DS_Store"}  # noise, never a submission's part


def _zip_member_problem(info):
    """Why a zip member must not be extracted, or None when it is safe."""
    name = PurePosixPath(info.filename)
    if info.filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", info.filename):
        return "absolute path"
    if ".." in name.parts or "\\" in info.filename:
        return "path outside the submission"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if len(name.parts) > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} deep"
    if info.file_size > MAX_FILE_BYTES:
        return f"file larger than {MAX_FILE_BYTES >> 20} MiB"
    return None


class Refused(ValueError):
    """A zip or folder over the caps (size, file count, compression ratio): refused, not unpacked."""


def _copy_capped(src, out, budget):
    """Copy a member's bytes, at most ``budget`` of them (the caps count real bytes, not headers).

    Returns:
        bytes copied.
    """
    copied = 0
    while chunk := src.read(1 << 20):
        copied += len(chunk)
        if copied > budget:
            raise Refused(f"more bytes than the caps allow ({MAX_FILE_BYTES >> 20} MiB a file, "
                          f"{MAX_TOTAL_BYTES >> 20} MiB in all; a zip bomb, or a file that grew?)")
        out.write(chunk)
    return copied


def _check_caps(files, total):
    """Refuse ``files`` files of ``total`` bytes in all (as declared) when over the caps.

    A folder is checked as it is copied, so for it ``files`` is the count so far ("at least").
    """
    if files > MAX_FILES:
        raise Refused(f"at least {files} files (the limit is {MAX_FILES})")
    if total > MAX_TOTAL_BYTES:
        raise Refused(f"more than {MAX_TOTAL_BYTES >> 20} MiB in all")


def _check_zip_caps(members):
    _check_caps(len(members), sum(i.file_size for i in members))
    for i in members:
        if i.file_size > 1 << 20 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise Refused(f"{i.filename!r} is compressed {i.file_size // max(i.compress_size, 1)}:1 "
                          "(a zip bomb?)")


def _extract_zip(sub, zip_path, dest):
    with zipfile.ZipFile(zip_path) as zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        _check_zip_caps(members)
        left = MAX_TOTAL_BYTES
        for info in members:
            if IGNORED_PARTS & set(PurePosixPath(info.filename).parts):
                continue
            problem = _zip_member_problem(info)
            if problem:
                sub.add_problem(Status.GRADED, f"skipped {info.filename!r} in the zip ({problem})")
                continue
            target = dest.joinpath(*PurePosixPath(info.filename).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                left -= _copy_capped(src, out, min(left, MAX_FILE_BYTES))


def _open_nofollow(name, dir_fd, folder):
    """Open ``name`` in the open folder ``dir_fd`` if it is a folder (``folder``) or a regular file.

    Returns the fd, or None when it is something else by now. O_NOFOLLOW refuses a link in the
    last place and fstat checks what was opened, so an entry swapped for a link (or a fifo)
    after it was listed is not followed; O_NONBLOCK keeps a swapped-in fifo from blocking.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_DIRECTORY if folder else os.O_NONBLOCK)
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENXIO):  # a link, a non-folder, a socket
            return None
        raise  # e.g. not readable: the whole folder is reported unreadable
    if (stat.S_ISDIR if folder else stat.S_ISREG)(os.fstat(fd).st_mode):
        return fd
    os.close(fd)
    return None


def _walk_nofollow(dir_fd, rel):
    """Every entry under the open folder ``dir_fd`` (at ``rel``), in a stable order, links never followed.

    Yields (relative path, kind, file): kind "file" comes with an open binary file (the caller
    closes it); a folder's contents are yielded, not the folder; anything else is yielded to be
    skipped, with kind "link", "special" (fifo, socket, device) or "deep" (past ``MAX_DEPTH``).
    """
    with os.scandir(dir_fd) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = rel / entry.name
        if entry.name in IGNORED_PARTS:
            continue
        folder = entry.is_dir(follow_symlinks=False)
        regular = folder or entry.is_file(follow_symlinks=False)
        fd = _open_nofollow(entry.name, dir_fd, folder) if regular else None
        if fd is None:  # listed as a file or folder but no longer one: swapped, most likely for a link
            yield path, "link" if entry.is_symlink() or regular else "special", None
        elif len(path.parts) > MAX_DEPTH:
            os.close(fd)
            yield path, "deep", None
        elif folder:
            try:
                yield from _walk_nofollow(fd, path)
            finally:
                os.close(fd)
        else:
            yield path, "file", os.fdopen(fd, "rb")


_SKIPPED = {"link": ("link", "links"), "special": ("special file", "special files"),
            "deep": ("file or folder nested too deep", "files or folders nested too deep")}


def _copy_folder(sub, folder, dest):
    """Copy a folder submission into ``dest`` under the zip's caps, without links.

    Links (to files or folders, anywhere in the tree), fifos, sockets and devices are skipped
    and reported. A file over ``MAX_FILE_BYTES`` refuses the folder (as the bytes copied would
    for a zip); the caps count the bytes actually copied, so a file growing meanwhile is caught.
    """
    skipped, files, left = {}, 0, MAX_TOTAL_BYTES
    root_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # named by the instructor
    walk = _walk_nofollow(root_fd, PurePosixPath())
    try:
        for path, kind, src in walk:
            files += 1
            if src is None:
                skipped.setdefault(kind, []).append(str(path))
                _check_caps(files, MAX_TOTAL_BYTES - left)
                continue
            with src:
                size = os.fstat(src.fileno()).st_size
                if size > MAX_FILE_BYTES:
                    raise Refused(f"{str(path)!r} is larger than {MAX_FILE_BYTES >> 20} MiB")
                _check_caps(files, MAX_TOTAL_BYTES - left + size)
                target = dest.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    left -= _copy_capped(src, out, min(left, MAX_FILE_BYTES))
    finally:
        walk.close()  # closes the folders still open
        os.close(root_fd)
    for kind, paths in skipped.items():
        shown = ", ".join(paths[:10]) + (", ..." if len(paths) > 10 else "")
        sub.add_problem(Status.GRADED, f"skipped {len(paths)} {_SKIPPED[kind][len(paths) > 1]} in the folder: {shown}")


def _lone_zip(folder):
    """The only zip in a folder without notebooks (a Gradescope upload of a zip), else None."""
    files = [p for p in folder.rglob("*") if p.is_file() and not IGNORED_PARTS & set(p.parts)]
    zips = [p for p in files if p.suffix.lower() == ".zip"]
    if len(zips) == 1 and not any(p.suffix == ".ipynb" for p in files):
        return zips[0]
    return None


def _fresh_folder(path):
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def unpack(sub, dest):
    """Extract a zip submission into ``dest`` (or copy a folder submission there).

    Unsafe members, links and special files are skipped and reported; an unreadable zip or
    folder marks the submission ``unreadable zip``, one over the caps (size, files, compression
    ratio) ``refused zip`` (for a folder too: its detail says "folder").
    Returns nothing; sets ``sub.root`` on success.
    """
    dest = Path(dest)
    _fresh_folder(dest)
    what = f"folder {sub.origin.name}" if sub.origin.is_dir() else sub.origin.name
    try:
        if not sub.origin.is_dir():
            _extract_zip(sub, sub.origin, dest)
        else:
            _copy_folder(sub, sub.origin, dest)
            # Looked for in the copy: links are gone there, and the tree is not too deep.
            upload = _lone_zip(dest)
            if upload is not None:
                what = upload.name
                upload = upload.rename(dest.with_name(f"{dest.name}.{upload.name}"))
                try:
                    _fresh_folder(dest)
                    _extract_zip(sub, upload, dest)
                finally:
                    upload.unlink()
    except Refused as exc:
        shutil.rmtree(dest, ignore_errors=True)
        sub.add_problem(Status.REFUSED_ZIP, f"{what} refused: {exc}")
        return
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, RuntimeError,
            NotImplementedError) as exc:
        sub.add_problem(Status.UNREADABLE_ZIP, f"{what}: {exc}")
        return
    sub.root = dest
