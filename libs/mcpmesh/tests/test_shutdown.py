"""Graceful shutdown on SIGTERM, in a real process: in-flight calls finish, open streams
close cleanly, the process exits 0."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap

import aiohttp

from mcpmesh.embedded.process import free_port, port_open
from mcpmesh.testing import RawClient, eventually, read_sse

SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from mcpmesh import Context, Service
    from mcpmesh.config import ServerSettings
    from mcpmesh.app import serve

    settings = ServerSettings(port=int(sys.argv[1]), shutdown_timeout=10, log_level="warning")
    service = Service("slow", version="0", settings=settings)

    @service.tool()
    async def slow(ctx: Context) -> str:
        print("slow started", flush=True)
        await asyncio.sleep(1.0)
        return "finished"

    asyncio.run(serve(service, settings))
    """
)


async def test_sigterm_lets_calls_finish_and_exits_zero() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER, str(port), stdout=asyncio.subprocess.PIPE
    )
    try:
        await eventually(
            lambda: port_open("127.0.0.1", port), timeout=10, message="the server never listened"
        )
        url = f"http://localhost:{port}/mcp"
        async with aiohttp.ClientSession() as http:
            raw = RawClient(http, url)
            await raw.initialize()
            get = await http.get(url, headers=raw.headers(Accept="text/event-stream"))
            assert get.status == 200
            call = asyncio.ensure_future(
                raw.post(
                    {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow"}}
                )
            )
            await asyncio.wait_for(_line(process, b"slow started\n"), 10)  # call in flight
            process.send_signal(signal.SIGTERM)
            response = await asyncio.wait_for(call, 10)
            assert (await response.json())["result"]["content"][0]["text"] == "finished"
            # The GET stream ends (priming event, then a clean close).
            events = await asyncio.wait_for(_drain(get), 10)
            assert [event.data for event in events] == [""]
        assert await asyncio.wait_for(process.wait(), 15) == 0
        assert not await port_open("127.0.0.1", port)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _drain(response: aiohttp.ClientResponse) -> list:
    return [event async for event in read_sse(response)]


async def _line(process: asyncio.subprocess.Process, wanted: bytes) -> None:
    """Read the process's output (its log lines too) up to the line ``wanted``."""
    assert process.stdout is not None
    while (line := await process.stdout.readline()) != wanted:
        assert line, f"the process ended its output without {wanted!r}"
