"""The sandbox: turn a path from a client into an open descriptor *inside* an allowed root.

Why descriptors: checking a path string and then opening it leaves a gap in which a
directory can be swapped for a symbolic link that leads out (the reference server's
CVE-2025-53110 and GHSA-q66q-fx2p-7w4m were of this family). Here no path string is ever
handed to the kernel whole. The walk starts from a descriptor of the root and opens one
component at a time with ``openat(dir_fd, name, O_NOFOLLOW)``; the kernel therefore never
follows a link for us. When a component is a link, the walker reads it and expands it
itself, keeping the stack of directory descriptors it came through: ``..`` pops that
stack (it never asks the kernel for ``..``), and popping past the root, or an absolute
link target outside the root, is refused. A link swapped in at any moment is either seen
as a link (and expanded under the same rules) or not seen at all; it is never followed
blindly. This is what ``openat2(RESOLVE_BENEATH)`` does in the kernel, done portably with
``os.open(..., dir_fd=...)`` on any POSIX system.

Hard links are the one thing a descriptor walk cannot tell apart: a hard link inside a
root to a file outside it reads that file. Keep roots on a filesystem where untrusted
users cannot create such links (Linux ``fs.protected_hardlinks=1``, the default).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import unicodedata
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from mcpmesh import ToolError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ANY_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
#: What ``open(O_NOFOLLOW)`` reports for a symbolic link: ELOOP (Linux, macOS), EMLINK
#: (FreeBSD), EFTYPE (NetBSD); with O_DIRECTORY Linux says ENOTDIR instead.
_MAYBE_LINK = {errno.ELOOP, errno.EMLINK, errno.ENOTDIR, getattr(errno, "EFTYPE", -1)}
#: Links expanded in one resolution, as the kernel's own limit (MAXSYMLINKS).
MAX_LINKS = 40
_MAX_NAME_BYTES = 255
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Control, format (bidi overrides, zero-width), surrogate and private-use characters.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co"}

Want = Literal["any", "dir", "parent"]


class FsError(ToolError):
    """A file operation failed in a way the caller can understand and fix."""


class BadPath(FsError):
    """The path text itself is refused (before anything is opened)."""


class OutsideRoots(FsError):
    """The path leads, or would lead, outside every allowed directory."""


class NotFound(FsError):
    """Nothing exists at the path."""


def shown(text: str) -> str:
    """A file name fit for JSON: undecodable bytes (kept by surrogateescape) become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def check_path_text(path: str, max_bytes: int) -> None:
    """Refuse path text that is empty, too long, or built to fool a reader or a check.

    Null bytes, control and invisible format characters (bidi overrides, zero-width
    joiners) and names that turn into ``.``, ``..`` or a separator under Unicode
    compatibility normalisation (fullwidth dots U+FF0E, the two-dot leader U+2025,
    the fullwidth solidus U+FF0F) are refused outright: no file
    anyone needs has them, and some software downstream normalises.
    """
    if not path:
        raise BadPath("The path is empty: give a file or directory path inside an allowed root.")
    if "\x00" in path:
        raise BadPath("The path contains a null byte, which no file name can contain.")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadPath("The path is not valid Unicode (it contains a lone surrogate).") from None
    if size > max_bytes:
        raise BadPath(f"The path is {size} bytes long; the limit is {max_bytes} bytes.")
    if path.isascii():
        if _ASCII_CONTROL.search(path):
            raise BadPath("The path contains a control character; remove it.")
    else:
        for char in path:
            if unicodedata.category(char) in _REFUSED_CATEGORIES:
                raise BadPath(
                    f"The path contains the invisible or control character U+{ord(char):04X}; "
                    "remove it."
                )
    for part in path.split("/"):
        if "\\" in part:
            raise BadPath("Backslashes are not accepted in paths; separate components with '/'.")
        if len(part.encode("utf-8")) > _MAX_NAME_BYTES:
            raise BadPath(f"A path component is longer than {_MAX_NAME_BYTES} bytes.")
        if not part.isascii():
            folded = unicodedata.normalize("NFKC", part)
            if folded in (".", "..") or "/" in folded or "\\" in folded:
                raise BadPath(
                    f"The path component {part!r} reads as {folded!r} after Unicode "
                    "normalisation; use plain ASCII dots and slashes."
                )


@dataclass(frozen=True)
class Root:
    """An allowed directory.

    ``path`` is canonical (no links, absolute). A root narrowed by the client's roots is
    reached from the configured root ``base`` through ``parts``, never by its path string.
    """

    path: str
    base: str
    parts: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.path, *self.aliases)

    def relative(self, absolute: str) -> list[str] | None:
        """The components of ``absolute`` below this root, or None if it is not below it.

        Purely lexical: ``..`` is left in and the walker refuses climbing past the root.
        """
        best: list[str] | None = None
        for spelling in self.spellings:
            prefix = spelling.rstrip("/")
            if absolute.rstrip("/") == prefix or absolute == spelling:
                return []
            if absolute.startswith(prefix + "/"):
                rest = absolute[len(prefix) + 1 :].split("/")
                if best is None or len(rest) < len(best):
                    best = rest
        return best

    def lies_within(self, absolute_dir: str) -> bool:
        """True when this root is ``absolute_dir`` or below it (lexically)."""
        outer = absolute_dir.rstrip("/")
        return any(s == outer or s.startswith(outer + "/") for s in self.spellings)


class Resolved:
    """What a path resolved to: open descriptors, canonical location, and its status.

    ``fd`` is the object itself (``any``/``dir`` walks, or an existing directory at the
    end of a ``parent`` walk); ``parent_fd`` and ``name`` are where it lives, which is
    what writes need. Close it (it is a context manager).
    """

    __slots__ = ("_fds", "fd", "name", "parent_fd", "parts", "root", "stat")

    def __init__(
        self,
        root: Root,
        parts: list[str],
        fds: list[int],
        *,
        fd: int | None,
        parent_fd: int | None,
        name: str,
        status: os.stat_result | None,
    ) -> None:
        self.root = root
        self.parts = parts
        self._fds = fds
        self.fd = fd
        self.parent_fd = parent_fd
        self.name = name
        self.stat = status

    @property
    def path(self) -> str:
        return os.path.join(self.root.path, *self.parts) if self.parts else self.root.path

    @property
    def shown_path(self) -> str:
        return shown(self.path)

    def close(self) -> None:
        while self._fds:
            os.close(self._fds.pop())

    def __enter__(self) -> Resolved:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_step(dir_fd: int, name: str, flags: int) -> int | str:
    """Open ``name`` under ``dir_fd`` without following it: an fd, or the link's target."""
    for _ in range(4):
        try:
            return os.open(name, flags, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno not in _MAYBE_LINK:
                raise
            refused = exc
        try:
            return os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            if refused.errno == errno.ENOTDIR:
                raise refused from None  # a real non-directory
            # It was a link an instant ago and is not now: look at it again.
    raise OSError(errno.ELOOP, "The path keeps changing while it is being opened")


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def file_uri_path(uri: str) -> str | None:
    """The local path of a ``file://`` URI, or None for anything else."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    path = unquote(parts.path)
    return path if path.startswith("/") else None


class Sandbox:
    """The configured roots and the only way the service turns paths into descriptors."""

    def __init__(self, roots: list[Root], *, max_path_bytes: int, max_depth: int) -> None:
        if not roots:
            raise ValueError("the sandbox needs at least one root")
        self.roots = roots
        self.max_path_bytes = max_path_bytes
        self.max_depth = max_depth

    @classmethod
    def from_paths(cls, paths: Iterable[str], *, max_path_bytes: int, max_depth: int) -> Sandbox:
        """Canonicalise configured roots once; a missing or non-directory root is an error."""
        roots: list[Root] = []
        for given in paths:
            absolute = os.path.normpath(os.path.abspath(os.path.expanduser(given)))
            real = os.path.realpath(absolute)
            if not os.path.isdir(real):
                raise ValueError(f"allowed root {given!r} is not an existing directory")
            if any(r.path == real for r in roots):
                continue
            aliases = (absolute,) if absolute != real else ()
            roots.append(Root(path=real, base=real, aliases=aliases))
        return cls(roots, max_path_bytes=max_path_bytes, max_depth=max_depth)

    # ------------------------------------------------------------ locating

    def locate(self, roots: list[Root], path: str) -> tuple[Root, list[str]]:
        """Which allowed root ``path`` names, and its components below that root.

        Absolute paths must start with a root (the deepest matching root wins); relative
        paths are taken relative to the first root.
        """
        check_path_text(path, self.max_path_bytes)
        if not path.startswith("/"):
            return roots[0], path.split("/")
        best: tuple[Root, list[str]] | None = None
        for root in roots:
            rest = root.relative(path)
            if rest is not None and (best is None or len(rest) < len(best[1])):
                best = (root, rest)
        if best is None:
            raise OutsideRoots(
                f"{shown(path)} is outside the allowed directories "
                f"({', '.join(shown(r.path) for r in roots)}); list_allowed_directories shows them."
            )
        return best

    def resolve(
        self,
        roots: list[Root],
        path: str,
        *,
        want: Want = "any",
        follow: bool = True,
        create: bool = False,
    ) -> Resolved:
        """Open ``path`` beneath its root.

        ``want="any"`` opens the final object (file or directory), ``"dir"`` insists on a
        directory, ``"parent"`` opens only its directory and reports whether the final
        name exists (for writes). ``follow=False`` (``parent`` only) leaves a final link
        as it is; ``create=True`` makes missing directories on the way (mkdir -p).
        """
        root, parts = self.locate(roots, path)
        return self.walk(root, parts, want=want, follow=follow, create=create, shown_as=path)

    def walk(
        self,
        root: Root,
        parts: list[str],
        *,
        want: Want = "any",
        follow: bool = True,
        create: bool = False,
        shown_as: str = "",
    ) -> Resolved:
        fds = [self._open_root(root)]
        try:
            return self._walk(root, deque(parts), fds, want, follow, create, shown_as)
        except BaseException:
            while fds:
                os.close(fds.pop())
            raise

    def _open_root(self, root: Root) -> int:
        """The root's descriptor, opened from ``/`` one component at a time without
        following links: ``root.base`` is a canonical path (no links) when configured, so
        a link found on the way now is a swap (a directory↔link exchange of the root or
        one of its parents), refused rather than followed out."""
        fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for name in [p for p in root.base.split("/") if p]:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                os.close(fd)
                raise NotFound(
                    f"The allowed directory {shown(root.base)} is not available (missing, or "
                    "replaced by a link)."
                ) from None
            os.close(fd)
            fd = child
        for name in root.parts:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                os.close(fd)
                raise OutsideRoots(
                    f"The allowed directory {shown(root.path)} changed (moved or replaced by a "
                    "link); list the roots again."
                ) from None
            os.close(fd)
            fd = child
        return fd

    def _walk(
        self,
        root: Root,
        pending: deque[str],
        fds: list[int],
        want: Want,
        follow: bool,
        create: bool,
        shown_as: str,
    ) -> Resolved:
        names: list[str] = []
        links = 0
        while True:
            while pending and pending[0] in ("", "."):
                pending.popleft()
            if not pending:
                break
            name = pending.popleft()
            if name == "..":
                if not names:
                    raise OutsideRoots(f"{shown(shown_as)} climbs above its allowed directory.")
                os.close(fds.pop())
                names.pop()
                continue
            if len(names) >= self.max_depth:
                raise BadPath(f"{shown(shown_as)} is nested deeper than {self.max_depth} levels.")
            last = all(p in ("", ".") for p in pending)
            if last and want == "parent":
                status = _lstat(fds[-1], name)
                if status is not None and stat.S_ISLNK(status.st_mode) and follow:
                    try:
                        target = os.readlink(name, dir_fd=fds[-1])
                    except OSError as exc:
                        if exc.errno != errno.EINVAL:
                            raise
                        pending.appendleft(name)  # no longer a link: look again
                        continue
                    links = self._expand(root, target, pending, fds, names, links, shown_as)
                    continue
                return Resolved(
                    root,
                    [*names, name],
                    fds,
                    fd=None,
                    parent_fd=fds[-1],
                    name=name,
                    status=status,
                )
            flags = _ANY_FLAGS if last and want == "any" else _DIR_FLAGS
            try:
                step = _open_step(fds[-1], name, flags)
            except FileNotFoundError:
                if create and (not last or want == "dir"):
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o777, dir_fd=fds[-1])
                    pending.appendleft(name)
                    continue
                raise NotFound(f"No such file or directory: {shown(shown_as)}") from None
            if isinstance(step, str):
                links = self._expand(root, step, pending, fds, names, links, shown_as)
                continue
            fds.append(step)
            names.append(name)
            if last:
                break
        fd = fds[-1]
        return Resolved(
            root,
            names,
            fds,
            fd=fd,
            parent_fd=fds[-2] if len(fds) > 1 else None,
            name=names[-1] if names else "",
            status=os.fstat(fd),
        )

    def _expand(
        self,
        root: Root,
        target: str,
        pending: deque[str],
        fds: list[int],
        names: list[str],
        links: int,
        shown_as: str,
    ) -> int:
        """Replace a link by its target in the pending components, within ``root``."""
        links += 1
        if links > MAX_LINKS:
            raise FsError(f"{shown(shown_as)}: too many levels of symbolic links.")
        if not target:
            raise NotFound(f"{shown(shown_as)} contains an empty symbolic link.")
        if target.startswith("/"):
            inside = root.relative(target)
            if inside is None:
                raise OutsideRoots(
                    f"{shown(shown_as)} goes through a symbolic link that points outside the "
                    "allowed directories; it is refused."
                )
            while len(fds) > 1:
                os.close(fds.pop())
            names.clear()
            pending.extendleft(reversed(inside))
        else:
            pending.extendleft(reversed(target.split("/")))
        return links

    # ------------------------------------------------------------ client roots

    def narrow(self, uris: Iterable[str]) -> list[Root]:
        """Intersect the client's roots with the configured ones: never wider than those.

        A client root above a configured root grants that configured root; a client root
        inside one becomes a narrower root (resolved beneath it, links included); any
        other client root grants nothing.
        """
        narrowed: list[Root] = []
        for uri in uris:
            path = file_uri_path(uri)
            if path is None or ".." in path.split("/"):
                continue
            try:
                check_path_text(path, self.max_path_bytes)
            except BadPath:
                continue
            for root in self.roots:
                if root.lies_within(path):
                    narrowed.append(root)
                    continue
                inside = root.relative(path)
                if inside is None:
                    continue
                try:
                    with self.walk(root, inside, want="dir", shown_as=path) as found:
                        parts = found.parts
                except (FsError, OSError):
                    continue
                canonical = os.path.join(root.path, *parts) if parts else root.path
                lexical = os.path.normpath(path)
                narrowed.append(
                    Root(
                        path=canonical,
                        base=root.base,
                        parts=root.parts + tuple(parts),
                        aliases=(lexical,) if lexical != canonical else (),
                    )
                )
        unique: dict[str, Root] = {}
        for root in narrowed:
            unique.setdefault(root.path, root)
        return list(unique.values())


def describe_os_error(exc: OSError, path: str) -> str:
    """A message for an OSError that tells the caller what happened and what to do."""
    where = shown(path)
    messages = {
        errno.ENOENT: f"No such file or directory: {where}",
        errno.EACCES: f"Permission denied: {where}",
        errno.EPERM: f"Operation not permitted: {where}",
        errno.ENOTDIR: f"A component of {where} is not a directory.",
        errno.EISDIR: f"{where} is a directory.",
        errno.EEXIST: f"{where} already exists.",
        errno.ENOTEMPTY: f"{where} is a directory that is not empty.",
        errno.ENOSPC: f"No space left on the device holding {where}.",
        errno.EDQUOT: f"Disk quota exceeded for {where}.",
        errno.EFBIG: f"{where} would exceed the largest file size allowed here.",
        errno.EROFS: f"{where} is on a read-only filesystem.",
        errno.EXDEV: f"{where}: cannot move across filesystems.",
        errno.ENAMETOOLONG: f"{where}: a name is too long.",
        errno.ELOOP: f"{where}: too many levels of symbolic links.",
    }
    return messages.get(exc.errno or 0, f"{where}: {exc.strerror or 'operation failed'}.")
