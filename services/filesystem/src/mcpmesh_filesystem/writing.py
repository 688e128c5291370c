"""Changing files: atomic replacement, exact-text edits, mkdir -p, moves that never overwrite.

A write never opens the target for writing. It writes a temporary file in the target's
directory (through that directory's descriptor, ``O_EXCL|O_NOFOLLOW``), gives it the
target's mode, fsyncs it and renames it over the target; so readers see the old file or
the new one, a failure leaves the old one untouched, and a link at the target's name is
replaced by the rename (or resolved beneath the root first), never written through.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import secrets
import stat
import sys
from typing import Any

from mcpmesh_filesystem.models import DirectoryCreated, Edit, Edited, Moved, Written
from mcpmesh_filesystem.reading import decode, is_binary, read_upto, require_regular
from mcpmesh_filesystem.sandbox import FsError, NotFound, Resolved, Root, Sandbox

_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
_RENAME_NOREPLACE = 1


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Read once at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = _current_umask()


def atomic_write(parent_fd: int, name: str, data: bytes, existing: os.stat_result | None) -> None:
    """Replace (or create) ``name`` in ``parent_fd`` with ``data``, all or nothing."""
    temp = f".{name[:40]}.{secrets.token_hex(6)}.tmp"
    fd = os.open(temp, _TEMP_FLAGS, 0o600, dir_fd=parent_fd)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            mode = stat.S_IMODE(existing.st_mode) if existing else 0o666 & ~_UMASK
            os.fchmod(fd, mode)
            if existing is not None and (existing.st_uid, existing.st_gid) != (
                os.geteuid(),
                os.getegid(),
            ):
                with contextlib.suppress(OSError):
                    os.fchown(fd, existing.st_uid, existing.st_gid)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=parent_fd)
        raise
    with contextlib.suppress(OSError):
        os.fsync(parent_fd)  # make the rename itself durable


def _target(found: Resolved) -> tuple[int, str, os.stat_result | None]:
    if found.parent_fd is None or not found.name:
        raise FsError(f"{found.shown_path} is an allowed directory itself; name a file inside it.")
    if found.stat is not None and stat.S_ISDIR(found.stat.st_mode):
        raise FsError(f"{found.shown_path} is a directory; name a file.")
    if found.stat is not None and not stat.S_ISREG(found.stat.st_mode):
        raise FsError(f"{found.shown_path} is not a regular file; it is not replaced.")
    return found.parent_fd, found.name, found.stat


def write_file(sandbox: Sandbox, roots: list[Root], path: str, content: str, limit: int) -> Written:
    data = content.encode("utf-8")
    if len(data) > limit:
        raise FsError(f"The content is {len(data)} bytes; the limit for one write is {limit}.")
    with sandbox.resolve(roots, path, want="parent") as found:
        parent_fd, name, existing = _target(found)
        atomic_write(parent_fd, name, data, existing)
        return Written(path=found.shown_path, bytes_written=len(data), created=existing is None)


def edit_file(
    sandbox: Sandbox,
    roots: list[Root],
    path: str,
    edits: list[Edit],
    *,
    dry_run: bool,
    read_limit: int,
    write_limit: int,
) -> Edited:
    with sandbox.resolve(roots, path, want="parent") as found:
        parent_fd, name, existing = _target(found)
        if existing is None:
            raise NotFound(f"No such file: {found.shown_path}; use write_file to create it.")
        original, before = _read_for_edit(parent_fd, name, found.shown_path, read_limit)
        changed = apply_edits(original, edits, found.shown_path)
        diff = unified_diff(original, changed, found.shown_path)
        if not dry_run and changed != original:
            data = changed.encode("utf-8")
            if len(data) > write_limit:
                raise FsError(
                    f"The edited file would be {len(data)} bytes; the limit is {write_limit}."
                )
            now = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if (now.st_ino, now.st_size, now.st_mtime_ns) != (
                before.st_ino,
                before.st_size,
                before.st_mtime_ns,
            ):
                raise FsError(f"{found.shown_path} changed while it was being edited; try again.")
            atomic_write(parent_fd, name, data, before)
        return Edited(path=found.shown_path, diff=diff, edits=len(edits), dry_run=dry_run)


def _read_for_edit(parent_fd: int, name: str, path: str, limit: int) -> tuple[str, os.stat_result]:
    fd = os.open(name, _READ_FLAGS, dir_fd=parent_fd)
    try:
        status = os.fstat(fd)
        require_regular(status, path)
        if status.st_size > limit:
            raise FsError(
                f"{path} is {status.st_size} bytes; files over {limit} bytes are not edited."
            )
        data = read_upto(fd, limit + 1)
    finally:
        os.close(fd)
    if is_binary(data):
        raise FsError(f"{path} is a binary file; edit_file changes text files only.")
    text, replaced = decode(data, cut=False)
    if replaced:
        raise FsError(f"{path} is not valid UTF-8; edit_file would corrupt it, so it refuses.")
    return text, status


def apply_edits(text: str, edits: list[Edit], path: str) -> str:
    """Each old text must occur exactly once (in the text as edited so far)."""
    crlf = "\r\n" in text
    for number, edit in enumerate(edits, 1):
        old, new = edit.old_text, edit.new_text
        if crlf and "\r\n" not in old:
            old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
        count = text.count(old)
        if count == 0:
            raise FsError(
                f"Edit {number}: its oldText was not found in {path}. Read the file again and "
                "copy the exact text, whitespace and line breaks included. Nothing was changed."
            )
        if count > 1:
            raise FsError(
                f"Edit {number}: its oldText occurs {count} times in {path}; include more "
                "surrounding lines so that it matches exactly one place. Nothing was changed."
            )
        text = text.replace(old, new, 1)
    return text


def unified_diff(before: str, after: str, path: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a{path}",
        tofile=f"b{path}",
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def create_directory(sandbox: Sandbox, roots: list[Root], path: str) -> DirectoryCreated:
    try:
        with sandbox.resolve(roots, path, want="parent") as probe:
            existed = probe.stat is not None
            if probe.stat is not None and not stat.S_ISDIR(probe.stat.st_mode):
                raise FsError(f"{probe.shown_path} exists and is not a directory.")
    except NotFound:
        existed = False  # a parent is missing too: mkdir -p makes it
    with sandbox.resolve(roots, path, want="dir", create=True) as made:
        return DirectoryCreated(path=made.shown_path, created=not existed)


def move_file(sandbox: Sandbox, roots: list[Root], source: str, destination: str) -> Moved:
    with sandbox.resolve(roots, source, want="parent", follow=False) as src:
        if src.parent_fd is None or not src.name:
            raise FsError(f"{src.shown_path} is an allowed directory itself; it cannot be moved.")
        if src.stat is None:
            raise NotFound(f"No such file or directory: {src.shown_path}")
        with sandbox.resolve(roots, destination, want="parent", follow=False) as dst:
            if dst.parent_fd is None or not dst.name:
                raise FsError(f"{dst.shown_path} is an allowed directory itself; it exists.")
            if dst.stat is not None:
                raise FsError(
                    f"{dst.shown_path} already exists; move_file never overwrites. Choose another "
                    "name or move the existing one away first."
                )
            rename_noreplace(src.parent_fd, src.name, dst.parent_fd, dst.name)
            with contextlib.suppress(OSError):
                os.fsync(dst.parent_fd)
            return Moved(source=src.shown_path, destination=dst.shown_path)


@functools.cache
def _load_renameat2() -> Any:  # the ctypes function, or None off Linux
    """Looked up at the first move, not at import: ctypes, and ``find_library`` running
    ``ldconfig``, are not worth paying at every start for a tool most calls never use."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


def rename_noreplace(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """Rename that fails with EEXIST instead of replacing (atomic where the OS can do it).

    Linux: ``renameat2(RENAME_NOREPLACE)``. Elsewhere, or on filesystems without it, the
    destination was checked just before; the remaining window is documented.
    """
    renameat2 = _load_renameat2()
    if renameat2 is not None:
        import ctypes

        result = renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), _RENAME_NOREPLACE)
        if result == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), dst)
    try:
        os.stat(dst, dir_fd=dst_fd, follow_symlinks=False)
    except FileNotFoundError:
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        return
    raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
