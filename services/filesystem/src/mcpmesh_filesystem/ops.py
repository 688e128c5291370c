"""The blocking half of each read tool: resolve in the sandbox, then read or walk.

Each function takes the session's roots and plain arguments and runs in an I/O thread.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from dataclasses import dataclass

from mcpmesh_filesystem.models import (
    ContentSearch,
    DirectoryListing,
    DirectoryTree,
    FileInfo,
    FileSearch,
    FileText,
    MultipleFiles,
    SearchContentsArgs,
    SizedListing,
)
from mcpmesh_filesystem.reading import Budget, TextRead, mime_type, read_bytes, read_text
from mcpmesh_filesystem.sandbox import FsError, Root, Sandbox, describe_os_error
from mcpmesh_filesystem.settings import FilesystemSettings
from mcpmesh_filesystem.walking import (
    ContentLimits,
    compile_pattern,
    directory_tree,
    list_directory,
    list_with_sizes,
    search_contents,
    search_files,
    status_type,
)


def read_text_at(
    sandbox: Sandbox,
    roots: list[Root],
    path: str,
    limit: int,
    head: int | None = None,
    tail: int | None = None,
) -> tuple[str, TextRead]:
    with sandbox.resolve(roots, path) as found:
        assert found.fd is not None and found.stat is not None
        return found.shown_path, read_text(
            found.fd, found.stat, found.shown_path, limit=limit, head=head, tail=tail
        )


@dataclass
class Media:
    path: str
    data: bytes
    mime_type: str


def read_media_at(sandbox: Sandbox, roots: list[Root], path: str, limit: int) -> Media:
    with sandbox.resolve(roots, path) as found:
        assert found.fd is not None and found.stat is not None
        data = read_bytes(found.fd, found.stat, found.shown_path, limit=limit)
        return Media(found.shown_path, data, mime_type(found.name or found.path))


def read_multiple(
    sandbox: Sandbox, roots: list[Root], paths: list[str], settings: FilesystemSettings
) -> MultipleFiles:
    """Each file succeeds or fails alone; all of them share the call's size budget."""
    left = settings.max_call_bytes
    files: list[FileText] = []
    for path in paths:
        if left <= 0:
            files.append(
                FileText(
                    path=path,
                    error=f"Not read: this call reached its {settings.max_call_bytes}-byte "
                    "limit; read this file in another call.",
                )
            )
            continue
        try:
            shown_path, read = read_text_at(
                sandbox, roots, path, min(settings.max_file_bytes, left)
            )
        except FsError as exc:
            files.append(FileText(path=path, error=str(exc)))
            continue
        except OSError as exc:
            files.append(FileText(path=path, error=describe_os_error(exc, path)))
            continue
        left -= len(read.text.encode("utf-8"))
        text = read.text if not read.notes else read.text + "\n" + "\n".join(read.notes)
        files.append(FileText(path=shown_path, text=text, truncated=read.truncated))
    return MultipleFiles(files=files, truncated=left <= 0)


def list_at(
    sandbox: Sandbox, roots: list[Root], path: str, max_entries: int, sort_by: str | None
) -> DirectoryListing | SizedListing:
    with sandbox.resolve(roots, path, want="dir") as found:
        assert found.fd is not None
        if sort_by is None:
            return list_directory(found.fd, found.shown_path, max_entries)
        return list_with_sizes(found.fd, found.shown_path, max_entries, sort_by)


def tree_at(
    sandbox: Sandbox,
    roots: list[Root],
    path: str,
    exclude: list[str],
    max_depth: int,
    max_entries: int,
    budget: Budget,
) -> DirectoryTree:
    with sandbox.resolve(roots, path, want="dir") as found:
        assert found.fd is not None
        return directory_tree(
            found.fd,
            found.shown_path,
            exclude=exclude,
            max_depth=max_depth,
            max_entries=max_entries,
            budget=budget,
        )


def search_files_at(
    sandbox: Sandbox,
    roots: list[Root],
    path: str,
    pattern: str,
    exclude: list[str],
    settings: FilesystemSettings,
    budget: Budget,
) -> FileSearch:
    with sandbox.resolve(roots, path, want="dir") as found:
        assert found.fd is not None
        return search_files(
            found.fd,
            found.shown_path,
            pattern=pattern,
            exclude=exclude,
            max_depth=settings.max_depth,
            max_entries=settings.max_entries,
            budget=budget,
        )


def search_contents_at(
    sandbox: Sandbox,
    roots: list[Root],
    args: SearchContentsArgs,
    settings: FilesystemSettings,
    budget: Budget,
) -> ContentSearch:
    pattern = compile_pattern(
        args.pattern, literal=args.literal, case_sensitive=args.case_sensitive
    )
    limits = ContentLimits(
        max_results=min(
            args.max_results or settings.max_search_results, settings.max_search_results
        ),
        max_file_bytes=settings.max_file_bytes,
        max_total_bytes=settings.max_call_bytes,
        max_line_chars=settings.max_line_chars,
        max_depth=settings.max_depth,
    )
    with sandbox.resolve(roots, args.path) as found:
        assert found.fd is not None and found.stat is not None
        return search_contents(
            found.fd,
            stat.S_ISDIR(found.stat.st_mode),
            found.shown_path,
            pattern=pattern,
            include=args.include,
            exclude=args.exclude_patterns,
            limits=limits,
            budget=budget,
        )


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat()


def file_info_at(sandbox: Sandbox, roots: list[Root], path: str) -> FileInfo:
    with sandbox.resolve(roots, path) as found:
        s = found.stat
        assert s is not None
        birth = getattr(s, "st_birthtime", None)
        return FileInfo(
            path=found.shown_path,
            type=status_type(s.st_mode),
            size=s.st_size,
            modified=_iso(s.st_mtime),
            accessed=_iso(s.st_atime),
            changed=_iso(s.st_ctime),
            created=_iso(birth) if birth else None,
            permissions=f"{stat.S_IMODE(s.st_mode):o}",
            mode=stat.filemode(s.st_mode),
            links=s.st_nlink,
        )


def read_resource_at(
    sandbox: Sandbox, roots: list[Root], path: str, limit: int
) -> tuple[Media, os.stat_result]:
    with sandbox.resolve(roots, path) as found:
        assert found.fd is not None and found.stat is not None
        data = read_bytes(found.fd, found.stat, found.shown_path, limit=limit)
        return Media(found.shown_path, data, mime_type(found.name or found.path)), found.stat
