"""``FilesystemSettings``: everything the service reads from ``MCPMESH_FS_…`` variables."""

from __future__ import annotations

import msgspec

MiB = 1024 * 1024


class FilesystemSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Decoded by ``load_settings(FilesystemSettings, prefix="MCPMESH_FS_")``.

    Every field is documented in the service README; keep the two in step.
    """

    #: Directories the service may touch (comma-separated or a JSON array). Empty: the
    #: example root below is created and used, so that ``mcpmesh up`` always works.
    roots: list[str] = []
    #: Used only when ``roots`` is empty; default ``$MCPMESH_WORKDIR/filesystem-example``
    #: (``MCPMESH_WORKDIR`` defaults to ``.cache/mesh``).
    example_root: str = ""
    #: Read-only by default: the write tools are not even listed unless this is true.
    #: (``MCPMESH_FS_READ_ONLY=false``, its old inverse, still works, deprecated.)
    write: bool = False
    #: Largest part of one file a read returns; longer files are cut and say so.
    max_file_bytes: int = 4 * MiB
    #: Largest total of file text one call returns (read_multiple_files, searches).
    max_call_bytes: int = 16 * MiB
    #: Largest content write_file/edit_file will write.
    max_write_bytes: int = 16 * MiB
    #: Most entries one listing, tree or file search returns.
    max_entries: int = 50_000
    #: Most matches one search_file_contents call returns (callers may ask for fewer).
    max_search_results: int = 1_000
    #: Longest line text shown with a content match (longer lines are cut around it).
    max_line_chars: int = 400
    #: Seconds a tree walk or content search may run before it stops with what it found.
    search_timeout: float = 30.0
    #: Longest path accepted, in UTF-8 bytes.
    max_path_bytes: int = 4096
    #: Deepest directory nesting a path or a walk may reach.
    max_depth: int = 128
    #: Threads for blocking file I/O (all of it runs off the event loop).
    io_threads: int = 4
    #: Seconds between checks of subscribed files for changes.
    watch_interval: float = 1.0
    #: Most distinct subscribed files watched at once (across sessions).
    max_watched: int = 1_000
