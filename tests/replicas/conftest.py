"""Three replicas of the fixture service (separate processes) sharing one real nats-server,
behind a round-robin HTTP proxy with no stickiness (every request may go anywhere)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from mcpmesh.embedded.nats import NatsServer, start_nats
from mcpmesh.embedded.process import free_port
from mcpmesh.guard.sealing import write_key_file
from mcpmesh.testing import eventually

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "te",
    "trailer",
}

#: The proxy's client session, shared by its request handlers.
HTTP_KEY = web.AppKey("http", aiohttp.ClientSession)


class RoundRobinProxy:
    """Sends each request to the next live backend, streaming the answer (SSE) through."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.dead: set[str] = set()
        self.served: list[tuple[str, str, str]] = []  # (method, session header, backend)
        self._next = itertools.cycle(range(len(backends)))
        self.port = free_port()
        self.url = f"http://localhost:{self.port}/mcp"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None

    def _pick(self) -> list[str]:
        first = next(self._next)
        order = [self.backends[(first + i) % len(self.backends)] for i in range(len(self.backends))]
        return [b for b in order if b not in self.dead] + [b for b in order if b in self.dead]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        http: aiohttp.ClientSession = request.app[HTTP_KEY]
        for backend in self._pick():
            try:
                upstream = await http.request(
                    request.method, backend + request.path_qs, data=body or None, headers=headers
                )
            except aiohttp.ClientConnectionError:
                self.dead.add(backend)  # a killed replica: the balancer tries the next one
                continue
            self.served.append((request.method, request.headers.get("Mcp-Session-Id", ""), backend))
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP},
            )
            try:
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, ConnectionError):
                pass
            finally:
                upstream.release()
            return response
        return web.Response(status=502, text="no replica is reachable")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app[HTTP_KEY] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=2), auto_decompress=False
        )
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._started.set()
        await self._stop.wait()
        await app[HTTP_KEY].close()
        await runner.cleanup()

    def start(self) -> None:
        def run() -> None:
            # asyncio.run cancels the handlers still streaming when the proxy stops.
            asyncio.run(self._main())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self._started.wait(10)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)


class Replica:
    def __init__(self, nats_url: str, log_dir: Path, index: int, key_file: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"replica-{index}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mcpmesh", "serve", "fixture", "--port", str(self.port)],
                stdout=log,
                stderr=log,
                env={
                    **os.environ,
                    "MCPMESH_NATS_URL": nats_url,
                    "MCPMESH_STATE_KEY_FILE": str(key_file),
                    "MCPMESH_LOG_LEVEL": "warning",
                    "MCPMESH_CLIENT_REQUEST_TIMEOUT": "20",
                },
            )

    def wait_ready(self, timeout: float = 20) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                pytest.fail(f"replica exited: {self.log.read_text()[-2000:]}")
            with urllib.request.urlopen(f"{self.base}/readyz", timeout=1):
                return True

        try:  # a sync fixture: a loop of its own just for the wait
            asyncio.run(eventually(ready, timeout=timeout, message="replica did not get ready"))
        except AssertionError as exc:
            self.process.kill()
            pytest.fail(f"{exc}: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.returncode


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    home = tmp_path_factory.mktemp("nats")
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(start_nats(home))
    yield server
    loop.run_until_complete(server.stop())
    loop.close()


class Mesh:
    def __init__(self, replicas: list[Replica], proxy: RoundRobinProxy) -> None:
        self.replicas = replicas
        self.proxy = proxy

    def replica_at(self, base: str) -> Replica:
        return next(r for r in self.replicas if r.base == base)


@pytest.fixture(scope="module")
def mesh(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    logs = tmp_path_factory.mktemp("replicas")
    key_file = write_key_file(logs / "state-keys.json")  # shared, as a deployment's is
    replicas = [Replica(nats_server.url, logs, i, key_file) for i in range(3)]
    for replica in replicas:
        replica.wait_ready()
    proxy = RoundRobinProxy([r.base for r in replicas])
    proxy.start()
    yield Mesh(replicas, proxy)
    proxy.stop()
    for replica in replicas:
        replica.stop()
