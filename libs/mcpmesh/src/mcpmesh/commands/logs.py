"""The services' logs under ``mcpmesh up``: every line to ``logs/<service>.log`` in the
work directory, and on the terminal one readable line per tool call (and every warning
or error), or every line with ``--logs``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, TextIO

#: Levels shown on the terminal even without ``--logs``.
ALWAYS_SHOWN = frozenset({"warning", "error", "critical", "exception"})


def readable(service: str, line: str) -> str:
    """One JSON log line as a person reads it: time, service, then what happened."""
    try:
        entry: dict[str, Any] = json.loads(line)
    except ValueError:
        return f"{'':<8} {service:<11} {line}"
    if not isinstance(entry, dict):
        return f"{'':<8} {service:<11} {line}"
    clock = str(entry.pop("timestamp", ""))[11:19]
    event = entry.pop("event", "")
    level = entry.pop("level", "info")
    for noise in ("service", "session", "request", "logger"):
        entry.pop(noise, None)
    if event == "call":
        text = f"{entry.get('tool')}  {entry.get('outcome')}  {entry.get('ms')} ms"
        if entry.get("principal"):
            text += f"  by {entry['principal']}"
        if entry.get("error"):
            text += f"  ({entry['error']})"
        return f"{clock:<8} {service:<11} {text}"
    details = " ".join(f"{k}={v}" for k, v in entry.items() if v is not None)
    mark = "" if level == "info" else f"{level.upper()} "
    return f"{clock:<8} {service:<11} {mark}{event} {details}".rstrip()


def shown(line: str, every: bool) -> bool:
    if every:
        return True
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return isinstance(entry, dict) and (
        entry.get("event") == "call" or entry.get("level") in ALWAYS_SHOWN
    )


class ServiceLogs:
    """Copies each service's stderr to its log file and the readable part to ``out``."""

    def __init__(self, workdir: Path, every: bool = False, out: TextIO | None = None) -> None:
        self.folder = workdir / "logs"
        self.every = every
        self.out = out or sys.stdout
        self.quiet = True  # until the summary is printed: nothing interleaves with it
        self._tasks: list[asyncio.Task[None]] = []

    def path(self, service: str) -> Path:
        return self.folder / f"{service}.log"

    def follow(self, service: str, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._tasks.append(asyncio.create_task(self._copy(service, stream)))

    async def _copy(self, service: str, stream: asyncio.StreamReader) -> None:
        with self.path(service).open("a", encoding="utf-8") as file:
            while True:
                raw = await stream.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\n")
                file.write(line + "\n")
                file.flush()
                if not self.quiet and shown(line, self.every):
                    print(readable(service, line), file=self.out, flush=True)

    async def close(self, timeout: float = 5.0) -> None:
        """After the processes exited: their last lines are written, then stop."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*self._tasks, return_exceptions=True), timeout
                )
        for task in self._tasks:
            task.cancel()
