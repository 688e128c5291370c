"""Filesystem service vs the reference server, through the same official Python SDK client.

Three jobs on generated data: read a 1 MiB text file, ``directory_tree`` over 10,000
entries, and a regular-expression search over 2,000 files. mcpmesh runs as its own
process (``mcpmesh serve filesystem``, Streamable HTTP); the reference server
(npm ``@modelcontextprotocol/server-filesystem``, installed under ``.cache/bench-node``
if missing, never globally) runs over stdio. The reference has no content search, so
its column does the same work the only way it can: ``search_files`` for the file list,
``read_multiple_files`` for their text, and the regular expression in the client.

Both servers stay up for the whole run and take turns: ``BENCH_FS_ROUNDS`` interleaved
rounds (default 5; every job on every side once per round, the order alternating), so
that a noisy neighbour slows both columns alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from bench._reference import NODE_DIR, reference_main, stdio_session

REFERENCE_PACKAGE = "@modelcontextprotocol/server-filesystem"
REFERENCE_VERSION = "2026.8.31"
REFERENCE_MAIN = NODE_DIR / "node_modules" / REFERENCE_PACKAGE / "dist" / "index.js"
NEEDLE = r"needle_\d{3}"
ROUNDS = int(os.environ.get("BENCH_FS_ROUNDS", "5"))
#: Timed calls of each job per side and round.
RUNS = {"read 1 MiB file": 6, "directory_tree 10,000 entries": 2, "search 2,000 files": 2}


def make_data(base: Path) -> None:
    """1 MiB text file; 100 dirs x 99 files (10,000 entries); 2,000 files to search."""
    line = "the quick brown fox jumps over the lazy dog 0123456789 abcdefghij\n"
    text = (line * (1024 * 1024 // len(line) + 1))[: 1024 * 1024]
    (base / "big.txt").write_text(text)
    for d in range(100):
        directory = base / "tree" / f"dir{d:03d}"
        directory.mkdir(parents=True)
        for f in range(99):
            (directory / f"file{f:03d}.txt").write_text("x")
    for d in range(20):
        directory = base / "search" / f"pkg{d:02d}"
        directory.mkdir(parents=True)
        for f in range(100):
            body = [f"line {i} of module {d}.{f}: nothing to see here\n" for i in range(40)]
            if f % 10 == 0:
                body[17] = f"    value = needle_{f:03d}  # found me\n"
            (directory / f"mod{f:03d}.txt").write_text("".join(body))


@contextlib.asynccontextmanager
async def mcpmesh_session(data: Path) -> AsyncIterator[Any]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from mcpmesh.embedded.process import free_port, port_open

    port = free_port()
    env = {**os.environ, "MCPMESH_FS_ROOTS": str(data), "MCPMESH_LOG_LEVEL": "warning"}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mcpmesh", "serve", "filesystem", "--port", str(port)), env=env
    )
    try:
        for _ in range(400):
            if await port_open("127.0.0.1", port):
                break
            if process.returncode is not None:
                raise RuntimeError("mcpmesh serve filesystem exited; see its output above")
            await asyncio.sleep(0.025)
        async with (
            streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write, *_),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


def reference_session(data: Path) -> contextlib.AbstractAsyncContextManager[Any]:
    return stdio_session(REFERENCE_MAIN, str(data))


def _text(result: Any) -> str:
    if result.is_error:
        raise RuntimeError("".join(getattr(c, "text", "") for c in result.content)[:300])
    return "".join(getattr(c, "text", "") for c in result.content)


def jobs(data: Path, reference: bool) -> dict[str, Callable[[Any], Awaitable[int]]]:
    """Each job returns a size (bytes or matches) so that both sides can be compared."""
    pattern = re.compile(NEEDLE)

    async def read(session: Any) -> int:
        return len(
            _text(await session.call_tool("read_text_file", {"path": str(data / "big.txt")}))
        )

    async def tree(session: Any) -> int:
        return len(_text(await session.call_tool("directory_tree", {"path": str(data / "tree")})))

    async def search(session: Any) -> int:
        root = str(data / "search")
        if not reference:
            result = await session.call_tool(
                "search_file_contents", {"path": root, "pattern": NEEDLE}
            )
            _text(result)
            return len(result.structured_content["matches"])
        listed = await session.call_tool("search_files", {"path": root, "pattern": "**/*.txt"})
        paths = [p for p in _text(listed).splitlines() if p.endswith(".txt")]
        contents = await session.call_tool("read_multiple_files", {"paths": paths})
        return len(pattern.findall(_text(contents)))

    return {
        "read 1 MiB file": read,
        "directory_tree 10,000 entries": tree,
        "search 2,000 files": search,
    }


Opener = Callable[[Path], contextlib.AbstractAsyncContextManager[Any]]
#: A column: its name, how to open its session, whether it is the reference server.
Side = tuple[str, Opener, bool]


async def run(data: Path, sides: list[Side]) -> dict[str, dict[str, tuple[list[float], int]]]:
    """``{job: {side: (milliseconds per call, result size)}}`` from interleaved rounds."""
    async with contextlib.AsyncExitStack() as stack:
        opened = [
            (name, await stack.enter_async_context(opener(data)), jobs(data, is_reference))
            for name, opener, is_reference in sides
        ]
        results: dict[str, dict[str, tuple[list[float], int]]] = {}
        for name, session, side_jobs in opened:
            for label, job in side_jobs.items():  # warm-up (caches, JIT) and the size check
                results.setdefault(label, {})[name] = ([], await job(session))
        for round_ in range(ROUNDS):
            order = opened if round_ % 2 == 0 else opened[::-1]
            for label in RUNS:
                for name, session, side_jobs in order:
                    times = results[label][name][0]
                    for _ in range(RUNS[label]):
                        start = time.perf_counter()
                        await side_jobs[label](session)
                        times.append((time.perf_counter() - start) * 1000)
    return results


def report(results: dict[str, dict[str, tuple[list[float], int]]]) -> None:
    print(
        f"\n{'job':<32}{'mcpmesh p50':>13}{'p90':>9}{'reference p50':>15}{'p90':>9}"
        f"{'speed-up':>10}  result size (mcpmesh / reference)"
    )
    for label, sides in results.items():
        ours, our_size = sides["mcpmesh"]
        row = f"{label:<32}{statistics.median(ours):>10.1f} ms{_p90(ours):>8.1f} ms"
        if "reference" in sides:
            theirs, their_size = sides["reference"]
            ratio = statistics.median(theirs) / statistics.median(ours)
            row += f"{statistics.median(theirs):>12.1f} ms{_p90(theirs):>8.1f} ms{ratio:>9.1f}x"
            row += f"  {our_size} / {their_size}"
        print(row)
    print(
        f"\n{ROUNDS} interleaved rounds; calls per side: "
        + ", ".join(f"{label.split()[0]} {n * ROUNDS}" for label, n in RUNS.items())
        + ".\nsearch: mcpmesh search_file_contents (one call, matches with line/column) vs the "
        "reference's search_files + read_multiple_files + regex in the client; sizes are "
        "match counts. read/tree sizes are characters of text returned."
    )


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> int:
    with_reference = reference_main(REFERENCE_PACKAGE, REFERENCE_VERSION) is not None
    with tempfile.TemporaryDirectory(prefix="mcpmesh-bench-fs-") as temp:
        data = Path(os.path.realpath(temp))
        make_data(data)
        sides: list[Side] = [("mcpmesh", mcpmesh_session, False)]
        if with_reference:
            sides.append(("reference", reference_session, True))
        results = asyncio.run(run(data, sides))
    report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
