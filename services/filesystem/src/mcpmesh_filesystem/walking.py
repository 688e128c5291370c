"""Listings, trees and searches, walked through directory descriptors.

Walks never follow symbolic links (a link is reported, not entered): a link cannot lead a
walk out of its root, and link loops cannot trap it. Every subdirectory is opened with
``O_NOFOLLOW`` relative to its parent's descriptor, as in the sandbox.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcpmesh_filesystem.models import (
    ContentMatch,
    ContentSearch,
    DirectoryListing,
    DirectoryTree,
    Entry,
    EntryType,
    FileSearch,
    SizedListing,
    TreeNode,
)
from mcpmesh_filesystem.reading import Budget, is_binary, read_upto
from mcpmesh_filesystem.sandbox import FsError, shown

if TYPE_CHECKING:  # wcmatch and regex are imported at the first search (~2 MB idle)
    import regex
    from wcmatch.glob import WcMatcher

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY

Matcher = Callable[[str, str], bool]


def entry_type(entry: os.DirEntry[str]) -> EntryType:
    if entry.is_symlink():
        return "symlink"
    if entry.is_dir(follow_symlinks=False):
        return "directory"
    if entry.is_file(follow_symlinks=False):
        return "file"
    return "other"


def status_type(mode: int) -> EntryType:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def compile_globs(patterns: list[str]) -> WcMatcher[str]:
    """wcmatch's matcher for ``patterns`` (``**``, dotfiles, braces, extended globs)."""
    from wcmatch import glob

    flags = glob.GLOBSTAR | glob.DOTGLOB | glob.BRACE | glob.EXTGLOB
    return glob.compile(patterns, flags=flags)


def glob_matcher(patterns: list[str], *, what: str) -> Matcher | None:
    """``(relative_path, name) -> bool``: a pattern without '/' also matches bare names."""
    if not patterns:
        return None
    try:
        full = compile_globs(patterns)
        bare = [p for p in patterns if "/" not in p]
        by_name = compile_globs(bare) if bare else None
    except Exception as exc:  # wcmatch raises several types for bad patterns
        raise FsError(f"Invalid {what} pattern: {exc}") from None

    def matches(relative: str, name: str) -> bool:
        return bool(full.match(relative)) or (by_name is not None and bool(by_name.match(name)))

    return matches


def _scan(dir_fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(dir_fd) as entries:
        return sorted(entries, key=lambda e: e.name)


# ---------------------------------------------------------------- listings


def list_directory(dir_fd: int, path: str, max_entries: int) -> DirectoryListing:
    entries = _scan(dir_fd)
    listed = [Entry(name=shown(e.name), type=entry_type(e)) for e in entries[:max_entries]]
    return DirectoryListing(path=path, entries=listed, truncated=len(entries) > max_entries)


def list_with_sizes(dir_fd: int, path: str, max_entries: int, sort_by: str) -> SizedListing:
    entries = _scan(dir_fd)
    listed: list[Entry] = []
    for e in entries[:max_entries]:
        kind = entry_type(e)
        size = None
        if kind == "file":
            try:
                # fstatat(dir_fd, name, AT_SYMLINK_NOFOLLOW): the entry in the directory
                # that was listed, never a path the kernel would resolve again.
                size = os.stat(e.name, dir_fd=dir_fd, follow_symlinks=False).st_size
            except OSError:
                size = None
        listed.append(Entry(name=shown(e.name), type=kind, size=size))
    if sort_by == "size":
        listed.sort(key=lambda e: e.size or 0, reverse=True)
    return SizedListing(
        path=path,
        entries=listed,
        sort_by=sort_by,
        files=sum(1 for e in listed if e.type == "file"),
        directories=sum(1 for e in listed if e.type == "directory"),
        total_bytes=sum(e.size or 0 for e in listed),
        truncated=len(entries) > max_entries,
    )


def listing_text(listing: DirectoryListing | SizedListing) -> str:
    """The reference server's text form: ``[DIR] name`` / ``[FILE] name  (size)``."""
    labels = {"directory": "[DIR]", "file": "[FILE]", "symlink": "[LINK]", "other": "[OTHER]"}
    lines = []
    for e in listing.entries:
        size = f"  {_human(e.size)}" if e.size is not None else ""
        lines.append(f"{labels[e.type]} {e.name}{size}")
    if isinstance(listing, SizedListing):
        lines.append("")
        lines.append(
            f"Total: {listing.files} files, {listing.directories} directories, "
            f"{_human(listing.total_bytes)}"
        )
    if listing.truncated:
        lines.append(f"[truncated: only the first {len(listing.entries)} entries are listed]")
    return "\n".join(lines) if lines else "(empty directory)"


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{size} B"


# ---------------------------------------------------------------- trees


@dataclass
class _Walk:
    max_entries: int
    budget: Budget
    excluded: Matcher | None
    count: int = 0
    truncated: bool = False
    timed_out: bool = False

    def stop(self) -> bool:
        self.budget.walked += 1
        if self.count >= self.max_entries:
            self.truncated = True
        elif self.budget.spent():
            self.timed_out = True
        return self.truncated or self.timed_out


def directory_tree(
    dir_fd: int,
    path: str,
    *,
    exclude: list[str],
    max_depth: int,
    max_entries: int,
    budget: Budget,
) -> DirectoryTree:
    walk = _Walk(max_entries, budget, glob_matcher(exclude, what="exclude"))
    tree = _tree(dir_fd, "", 1, max_depth, walk)
    return DirectoryTree(
        path=path, tree=tree, entries=walk.count, truncated=walk.truncated, timed_out=walk.timed_out
    )


def _tree(dir_fd: int, prefix: str, depth: int, max_depth: int, walk: _Walk) -> list[TreeNode]:
    nodes: list[TreeNode] = []
    for entry in _scan(dir_fd):
        if walk.stop():
            break
        relative = prefix + entry.name
        if walk.excluded is not None and walk.excluded(relative, entry.name):
            continue
        walk.count += 1
        kind = entry_type(entry)
        node = TreeNode(name=shown(entry.name), type=kind)
        if kind == "directory":
            node.children = []
            if depth < max_depth:
                try:
                    child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError:
                    child = -1  # unreadable or swapped for a link: shown empty
                if child >= 0:
                    try:
                        node.children = _tree(child, relative + "/", depth + 1, max_depth, walk)
                    finally:
                        os.close(child)
        nodes.append(node)
    return nodes


def iter_tree(
    dir_fd: int, walk: _Walk, max_depth: int, prefix: str = "", depth: int = 1
) -> Iterator[tuple[str, os.DirEntry[str], int]]:
    """``(relative_path, entry, dir_fd)`` for every entry; ``dir_fd`` is open while yielded."""
    for entry in _scan(dir_fd):
        if walk.stop():
            return
        relative = prefix + entry.name
        if walk.excluded is not None and walk.excluded(relative, entry.name):
            continue
        yield relative, entry, dir_fd
        if depth < max_depth and entry.is_dir(follow_symlinks=False):
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                yield from iter_tree(child, walk, max_depth, relative + "/", depth + 1)
            finally:
                os.close(child)


def search_files(
    dir_fd: int,
    path: str,
    *,
    pattern: str,
    exclude: list[str],
    max_depth: int,
    max_entries: int,
    budget: Budget,
) -> FileSearch:
    try:
        wanted = compile_globs([pattern])
    except Exception as exc:
        raise FsError(f"Invalid glob pattern {pattern!r}: {exc}") from None
    walk = _Walk(1 << 62, budget, glob_matcher(exclude, what="exclude"))
    found: list[str] = []
    truncated = False
    for relative, _entry, _fd in iter_tree(dir_fd, walk, max_depth):
        if wanted.match(relative):
            if len(found) >= max_entries:
                truncated = True
                break
            found.append(shown(os.path.join(path, relative)))
    return FileSearch(
        path=path, pattern=pattern, matches=found, truncated=truncated, timed_out=walk.timed_out
    )


# ---------------------------------------------------------------- content search


@dataclass
class ContentLimits:
    max_results: int
    max_file_bytes: int
    max_total_bytes: int
    max_line_chars: int
    max_depth: int


def compile_pattern(pattern: str, *, literal: bool, case_sensitive: bool) -> regex.Pattern[str]:
    import regex

    flags = regex.MULTILINE | (0 if case_sensitive else regex.IGNORECASE)
    try:
        return regex.compile(regex.escape(pattern) if literal else pattern, flags)
    except regex.error as exc:
        raise FsError(
            f"Invalid regular expression: {exc}. Set literal=true to search for plain text."
        ) from None


def search_contents(
    start_fd: int,
    start_is_dir: bool,
    path: str,
    *,
    pattern: regex.Pattern[str],
    include: list[str],
    exclude: list[str],
    limits: ContentLimits,
    budget: Budget,
) -> ContentSearch:
    result = ContentSearch(path=path, pattern=pattern.pattern, matches=[], files_searched=0)
    included = glob_matcher(include, what="include")
    walk = _Walk(1 << 62, budget, glob_matcher(exclude, what="exclude"))
    state = _Search(pattern, limits, budget, result)
    if not start_is_dir:
        state.search_fd(start_fd, path)
    else:
        for relative, entry, dir_fd in iter_tree(start_fd, walk, limits.max_depth):
            if not entry.is_file(follow_symlinks=False):
                continue
            if included is not None and not included(relative, entry.name):
                continue
            if state.done:
                break
            try:
                fd = os.open(entry.name, _FILE_FLAGS, dir_fd=dir_fd)
            except OSError:
                result.files_unreadable += 1
                continue
            try:
                state.search_fd(fd, shown(os.path.join(path, relative)))
            finally:
                os.close(fd)
        result.timed_out = result.timed_out or walk.timed_out
    return result


class _Search:
    def __init__(
        self,
        pattern: regex.Pattern[str],
        limits: ContentLimits,
        budget: Budget,
        result: ContentSearch,
    ) -> None:
        self.pattern = pattern
        self.limits = limits
        self.budget = budget
        self.result = result
        self.returned_bytes = 0

    @property
    def done(self) -> bool:
        return self.result.truncated or self.result.timed_out

    def search_fd(self, fd: int, path: str) -> None:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            return
        if status.st_size > self.limits.max_file_bytes:
            self.result.files_skipped_large += 1
            return
        try:
            data = read_upto(fd, self.limits.max_file_bytes)
        except OSError:
            self.result.files_unreadable += 1
            return
        if is_binary(data):
            self.result.files_skipped_binary += 1
            return
        self.result.files_searched += 1
        text = data.decode("utf-8", "replace")
        try:
            self._matches(text, path)
        except TimeoutError:
            self.result.timed_out = True

    def _matches(self, text: str, path: str) -> None:
        remaining = max(self.budget.remaining(), 0.001)
        line, scanned = 1, 0
        for found in self.pattern.finditer(text, timeout=remaining):
            if self.budget.cancelled.is_set():
                self.result.timed_out = True
                return
            start = found.start()
            line += text.count("\n", scanned, start)
            scanned = start
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", start)
            snippet, column = self._snippet(text, line_start, line_end, start)
            if (
                len(self.result.matches) >= self.limits.max_results
                or self.returned_bytes + len(snippet) > self.limits.max_total_bytes
            ):
                self.result.truncated = True
                return
            self.returned_bytes += len(snippet) + len(path)
            self.result.matches.append(
                ContentMatch(path=path, line=line, column=column, text=snippet)
            )

    def _snippet(self, text: str, line_start: int, line_end: int, start: int) -> tuple[str, int]:
        """The matched line (cut around the match when long) and the 1-based column."""
        end = len(text) if line_end < 0 else line_end
        column = start - line_start + 1
        width = self.limits.max_line_chars
        if end - line_start <= width:
            return text[line_start:end].rstrip("\r"), column
        left = max(line_start, start - width // 4)
        snippet = text[left : min(end, left + width)]
        return ("…" if left > line_start else "") + snippet + "…", column
