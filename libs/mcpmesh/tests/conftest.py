"""Shared fixtures: the fixture service served in-process, and a raw HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from mcpmesh.config import ServerSettings
from mcpmesh.testing import RawClient, RunningService, serve_in_background
from mcpmesh_fixture.service import create


@pytest.fixture
async def fixture_server() -> AsyncIterator[RunningService]:
    settings = ServerSettings(max_body_bytes=64 * 1024, client_request_timeout=2.0)
    async with serve_in_background(create(settings)) as running:
        yield running


@pytest.fixture
async def raw(fixture_server: RunningService) -> AsyncIterator[RawClient]:
    async with aiohttp.ClientSession() as http:
        yield RawClient(http, fixture_server.url)
