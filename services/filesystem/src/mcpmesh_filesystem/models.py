"""Tool arguments and structured results (msgspec Structs: the library derives the schemas)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

PathText = Annotated[
    str,
    msgspec.Meta(
        description="Absolute path inside an allowed directory, or a path relative to the "
        "first allowed directory."
    ),
]
Patterns = Annotated[
    list[str],
    msgspec.Meta(
        description="Glob patterns (`*`, `**`, `?`, `[...]`, `{a,b}`) of entries to leave out, "
        "matched against the path relative to the starting directory; a pattern without '/' "
        "also matches any entry of that name (so `node_modules` excludes it everywhere)."
    ),
]
EntryType = Literal["file", "directory", "symlink", "other"]


class Args(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    """Base of every tool's arguments: camelCase on the wire, unknown fields refused."""


class PathArgs(Args):
    path: PathText


class ReadTextArgs(Args):
    path: PathText
    head: Annotated[int, msgspec.Meta(ge=1, description="Only the first N lines.")] | None = None
    tail: Annotated[int, msgspec.Meta(ge=1, description="Only the last N lines.")] | None = None


class ReadMultipleArgs(Args):
    paths: Annotated[
        list[PathText],
        msgspec.Meta(min_length=1, description="Files to read; each fails or succeeds alone."),
    ]


class ListSizesArgs(Args):
    path: PathText
    sort_by: Annotated[
        Literal["name", "size"],
        msgspec.Meta(description="Order by name, or by size (largest first)."),
    ] = "name"


class TreeArgs(Args):
    path: PathText
    exclude_patterns: Patterns = []
    max_depth: (
        Annotated[
            int,
            msgspec.Meta(
                ge=1, description="Levels below the directory to include (1 = its entries)."
            ),
        ]
        | None
    ) = None


class SearchFilesArgs(Args):
    path: PathText
    pattern: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=1000,
            description="Glob matched against paths relative to `path`: `*.py` matches in "
            "`path` itself, `**/*.py` at any depth.",
        ),
    ]
    exclude_patterns: Patterns = []


class SearchContentsArgs(Args):
    path: PathText
    pattern: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=1000,
            description="Regular expression (Python syntax; `^`/`$` match at line ends) "
            "searched in each text file.",
        ),
    ]
    include: Annotated[
        list[str],
        msgspec.Meta(
            description="Only files matching one of these globs (relative path, or file name "
            "for patterns without '/'), e.g. `*.py`."
        ),
    ] = []
    exclude_patterns: Patterns = []
    case_sensitive: bool = True
    literal: Annotated[
        bool, msgspec.Meta(description="Treat `pattern` as plain text, not a regular expression.")
    ] = False
    max_results: (
        Annotated[int, msgspec.Meta(ge=1, description="Stop after this many matches.")] | None
    ) = None


class WriteArgs(Args):
    path: PathText
    content: Annotated[str, msgspec.Meta(description="The file's complete new text (UTF-8).")]


class Edit(Args):
    old_text: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            description="Exact text to replace; it must occur exactly once in the file.",
        ),
    ]
    new_text: Annotated[str, msgspec.Meta(description="Text to put in its place.")]


class EditArgs(Args):
    path: PathText
    edits: Annotated[list[Edit], msgspec.Meta(min_length=1, description="Applied in order.")]
    dry_run: Annotated[
        bool, msgspec.Meta(description="Only show the unified diff; change nothing.")
    ] = False


class MoveArgs(Args):
    source: PathText
    destination: Annotated[
        str, msgspec.Meta(description="New path; it must not exist (nothing is overwritten).")
    ]


# ---------------------------------------------------------------- results


class Result(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Base of structured results."""


class Entry(Result):
    name: str
    type: EntryType
    size: int | None = None


class DirectoryListing(Result):
    path: str
    entries: list[Entry]
    truncated: bool = False


class SizedListing(Result):
    path: str
    entries: list[Entry]
    sort_by: str
    files: int
    directories: int
    total_bytes: int
    truncated: bool = False


class TreeNode(Result):
    name: str
    type: EntryType
    children: list[TreeNode] | None = None


class DirectoryTree(Result):
    path: str
    tree: list[TreeNode]
    entries: int
    truncated: bool = False
    timed_out: bool = False


class FileSearch(Result):
    path: str
    pattern: str
    matches: list[str]
    truncated: bool = False
    timed_out: bool = False


class ContentMatch(Result):
    path: str
    line: int
    column: int
    text: str


class ContentSearch(Result):
    path: str
    pattern: str
    matches: list[ContentMatch]
    files_searched: int
    files_skipped_binary: int = 0
    files_skipped_large: int = 0
    files_unreadable: int = 0
    truncated: bool = False
    timed_out: bool = False


class FileInfo(Result):
    path: str
    type: EntryType
    size: int
    modified: str
    accessed: str
    changed: str
    permissions: str
    mode: str
    links: int
    created: str | None = None


class AllowedDirectories(Result):
    directories: list[str]
    narrowed_by_client_roots: bool = False


class FileText(Result):
    path: str
    text: str | None = None
    error: str | None = None
    truncated: bool = False


class MultipleFiles(Result):
    files: list[FileText]
    truncated: bool = False


class Written(Result):
    path: str
    bytes_written: int
    created: bool


class Edited(Result):
    path: str
    diff: str
    edits: int
    dry_run: bool = False


class DirectoryCreated(Result):
    path: str
    created: bool


class Moved(Result):
    source: str
    destination: str
