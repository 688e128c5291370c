"""The official reference MCP servers the benchmarks compare with: installed from npm
under ``.cache/bench-node`` when missing (never globally), run over stdio, driven by the
same official Python SDK client as our services."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

NODE_DIR = Path(".cache/bench-node")
#: Where the reference servers' stderr goes (their banners would interleave the tables).
_QUIET = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run


def reference_main(package: str, version: str, entry: str = "dist/index.js") -> Path | None:
    """The entry point (``entry`` in the package) of ``package@version``, installing it
    first if needed; ``None`` (and a line saying why) when npm cannot provide it."""
    main = NODE_DIR / "node_modules" / package / entry
    if main.exists():
        return main
    if shutil.which("npm") is None:
        print(f"npm not found: the {package} column is skipped")
        return None
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if not (NODE_DIR / "package.json").exists():
        (NODE_DIR / "package.json").write_text('{"private": true}\n')
    print(f"installing {package}@{version} under {NODE_DIR} ...", flush=True)
    done = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", f"{package}@{version}"],
        cwd=NODE_DIR,
        check=False,
    )
    if done.returncode != 0 or not main.exists():
        print(f"npm could not install {package}@{version}: its column is skipped")
        return None
    return main


@contextlib.asynccontextmanager
async def stdio_session(main: Path, *args: str) -> AsyncIterator[Any]:
    """An initialized SDK session with ``node main args...`` over stdio."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command="node", args=[str(main), *args])
    async with (
        stdio_client(params, errlog=_QUIET) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session
