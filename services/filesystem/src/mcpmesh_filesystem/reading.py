"""Reading files through resolved descriptors: size caps, binary detection, head/tail.

Everything here blocks; the service runs it in its I/O threads.
"""

from __future__ import annotations

import codecs
import mimetypes
import os
import stat
import threading
import time
from dataclasses import dataclass, field

from mcpmesh_filesystem.sandbox import FsError

_CHUNK = 256 * 1024
#: A NUL byte in the first 8 KiB marks a file as binary (what git and grep do).
_SNIFF = 8192

_EXTRA_TYPES = {
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".heic": "image/heic",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/opus",
    ".wav": "audio/wav",
    ".weba": "audio/webm",
    ".mp3": "audio/mpeg",
    ".aac": "audio/aac",
}


class Budget:
    """How long a blocking walk may run, and whether its caller gave up on it."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.cancelled = threading.Event()
        #: Entries walked so far (the walk's thread counts, progress notifications read).
        self.walked = 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.cancelled.is_set() or time.monotonic() >= self.deadline


@dataclass
class TextRead:
    text: str
    truncated: bool = False
    notes: list[str] = field(default_factory=list)


def is_binary(data: bytes) -> bool:
    return b"\x00" in data[:_SNIFF]


def mime_type(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    return _EXTRA_TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def require_regular(status: os.stat_result, path: str) -> None:
    if stat.S_ISDIR(status.st_mode):
        raise FsError(f"{path} is a directory; use list_directory or directory_tree for it.")
    if not stat.S_ISREG(status.st_mode):
        raise FsError(f"{path} is not a regular file (device, pipe or socket); it is not read.")


def read_upto(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from the current position (fewer at end of file)."""
    parts: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 4 * 1024 * 1024))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def decode(data: bytes, *, cut: bool) -> tuple[str, bool]:
    """UTF-8 text; a multi-byte character cut by a size cap is dropped, not mangled.

    Returns the text and whether bytes that are not UTF-8 had to be replaced (U+FFFD).
    """
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=not cut), False
    except UnicodeDecodeError:
        text = codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=not cut)
        return text, True


def _binary_error(path: str) -> FsError:
    return FsError(
        f"{path} is a binary file and is not returned as text; use read_media_file for "
        "images and audio, or get_file_info for its size and dates."
    )


def read_text(
    fd: int, status: os.stat_result, path: str, *, limit: int, head: int | None, tail: int | None
) -> TextRead:
    """The file's text (or its first/last lines), at most ``limit`` bytes of it."""
    require_regular(status, path)
    if head is not None and tail is not None:
        raise FsError("Give either head or tail, not both.")
    if tail is not None:
        data, cut = _tail_bytes(fd, status.st_size, tail, limit)
    elif head is not None:
        data, cut = _head_bytes(fd, head, limit)
    else:
        data = read_upto(fd, limit + 1)
        cut = len(data) > limit
        data = data[:limit]
    if is_binary(data):
        raise _binary_error(path)
    text, replaced = decode(data, cut=cut)
    result = TextRead(text, truncated=cut)
    if cut:
        result.notes.append(
            f"[truncated: {path} is {status.st_size} bytes; only the first {len(data)} bytes "
            f"are shown (limit {limit}). Read the rest with head/tail or search_file_contents.]"
            if tail is None
            else f"[truncated: only the last {len(data)} bytes are shown (limit {limit}).]"
        )
    if replaced:
        result.notes.append(
            "[note: the file contains bytes that are not UTF-8; they are shown as U+FFFD.]"
        )
    return result


def _head_bytes(fd: int, lines: int, limit: int) -> tuple[bytes, bool]:
    buffer = bytearray()
    newlines = 0
    while len(buffer) < limit:
        chunk = os.read(fd, min(_CHUNK, limit - len(buffer)))
        if not chunk:
            return bytes(buffer), False
        buffer += chunk
        newlines += chunk.count(b"\n")
        if newlines >= lines:
            end = -1
            for _ in range(lines):
                end = buffer.index(b"\n", end + 1)
            return bytes(buffer[: end + 1]), False
    return bytes(buffer), bool(os.read(fd, 1))


def _tail_bytes(fd: int, size: int, lines: int, limit: int) -> tuple[bytes, bool]:
    position = size
    buffer = b""
    while position > 0 and len(buffer) < limit:
        step = min(_CHUNK, position, limit - len(buffer))
        position -= step
        buffer = os.pread(fd, step, position) + buffer
        # lines + 1 newlines guarantee `lines` complete lines (the file may end in one).
        if buffer.count(b"\n", 0, len(buffer) - 1) >= lines:
            break
    keep = buffer.splitlines(keepends=True)
    complete = position == 0 or len(keep) > lines
    chosen = keep[-lines:]
    if not complete and len(keep) > 1:
        chosen = keep[1:][-lines:]  # the first piece may be a partial line
    return b"".join(chosen), not complete


def read_bytes(fd: int, status: os.stat_result, path: str, *, limit: int) -> bytes:
    """A whole file, refused (not cut) when larger than ``limit``: media cannot be cut."""
    require_regular(status, path)
    if status.st_size > limit:
        raise FsError(
            f"{path} is {status.st_size} bytes; the limit for one read is {limit} bytes, and "
            "media cannot be returned in part."
        )
    data = read_upto(fd, limit + 1)
    if len(data) > limit:
        raise FsError(f"{path} grew past the {limit}-byte read limit while being read.")
    return data
