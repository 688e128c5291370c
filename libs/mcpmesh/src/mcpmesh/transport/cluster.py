"""What the endpoint needs from other replicas of its service (the bus provides it).

Without a cluster the endpoint is one replica, fully in-process. With one (see
:mod:`mcpmesh.bus`), session state is shared, a client's answer to a server→client
request may land on any replica and is routed to the one waiting, cancellations reach
the replica running the request, session-wide (GET stream) messages reach the session
wherever its GET stream is open, and any replica can resume any SSE stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from mcpmesh.protocol.jsonrpc import Message, RequestId
from mcpmesh.protocol.session import SessionState

if TYPE_CHECKING:
    from mcpmesh.transport.sessions import SessionRuntime, SessionStore
    from mcpmesh.transport.sse import Stream


class ClusterUnavailable(Exception):
    """The bus is needed for this request but cannot be reached right now."""


class ClusterEndpoint(Protocol):
    """What the bus may do to this replica's endpoint (``McpEndpoint`` implements it)."""

    @property
    def runtimes(self) -> Mapping[str, SessionRuntime]:
        """The sessions live on this replica."""

    def settle(self, runtime: SessionRuntime, message: Message) -> str | None:
        """Hand a client's answer to the handler waiting here; a problem text if none."""

    def cancel_local(self, session_id: str, request_id: RequestId) -> bool:
        """Cancel a request running here; False when it does not run here."""

    def session_changed(self, state: SessionState) -> None:
        """Another replica saved the session: use its state."""

    def forget_session(self, session_id: str) -> None:
        """The session ended elsewhere: drop its live part here."""

    def deliver_change(self, method: str, uri: str | None) -> None:
        """A list or resource changed (on any replica): tell this replica's
        ``subscriptions/listen`` streams (2026 wire)."""


class Cluster(Protocol):
    #: Names this replica in request and stream ids, so answers find their way back.
    replica_id: str

    @property
    def store(self) -> SessionStore:
        """The shared session store."""

    async def start(self, endpoint: ClusterEndpoint) -> None:
        """Connect (in the background when the bus is down) and serve ``endpoint``."""

    async def stop(self) -> None:
        """Leave the bus (flush what is queued, close the connection)."""

    def stopping_streams(self) -> None:
        """Shutdown begins: end the GET streams served from the bus."""

    def sessions(self) -> list[SessionState]:
        """Every live session of the service (from the shared store's local cache)."""

    def attach(self, stream: Stream, session_id: str) -> None:
        """Copy a POST stream's events to the bus, so another replica can resume it."""

    async def route_response(self, session_id: str, request_id: str, body: bytes) -> str | None:
        """Hand a client's answer to the replica waiting for it; an error text if none is."""

    async def route_cancel(self, session_id: str, request_id: RequestId) -> None:
        """Cancel a request wherever it runs."""

    async def publish_session_message(self, session_id: str, payload: bytes) -> None:
        """Send a message to the session's GET stream, on whichever replica holds it."""

    async def publish_change(self, method: str, uri: str | None) -> None:
        """Announce a list change or resource update to every replica's listen streams."""

    async def serve_session_stream(
        self,
        runtime: SessionRuntime,
        request: web.Request,
        headers: dict[str, str],
        after: int | None,
        retry_ms: int | None,
    ) -> web.StreamResponse:
        """Serve the session's GET stream (new messages, or those after event ``g.<after>``)."""

    async def resume_remote_stream(
        self,
        runtime: SessionRuntime,
        request: web.Request,
        headers: dict[str, str],
        stream_id: str,
        after: int,
    ) -> web.StreamResponse:
        """Resume a POST stream another replica writes (raises ResumeError if unknown)."""
