"""Settings from ``MCPMESH_…`` environment variables, decoded into typed Structs.

Every service has one settings Struct. :func:`load_settings` fills it from the
environment: the field ``max_body_bytes`` of a Struct loaded with prefix
``MCPMESH_`` is read from ``MCPMESH_MAX_BODY_BYTES``. Lists are comma-separated (or a
JSON array); booleans are ``true/false/1/0``. A bad value stops the service at start
with a message naming the variable, instead of failing later.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import structlog

S = TypeVar("S", bound=msgspec.Struct)
_FIELD_PATH = re.compile(r" - at `\$\.(\w+)[^`]*`")


class SettingsError(ValueError):
    """A setting from the environment is missing or malformed."""


class ServerSettings(msgspec.Struct, kw_only=True, frozen=True):
    """The settings every service shares (prefix ``MCPMESH_``)."""

    #: Address to listen on. Keep loopback unless a proxy or cluster fronts the service.
    host: str = "127.0.0.1"
    #: Port to listen on; 0 picks a free one.
    port: int = 0
    #: Host names accepted in ``Host``/``Origin`` besides localhost (DNS-rebinding guard).
    allowed_hosts: list[str] = []
    #: Origins accepted besides localhost ones, e.g. ``https://app.example.com``.
    allowed_origins: list[str] = []
    #: Largest request body accepted; bigger ones get 413.
    max_body_bytes: int = 4 * 1024 * 1024
    #: Deepest nesting of JSON objects/arrays in one request (envelope included); deeper
    #: bodies get a -32700 parse error before they are parsed.
    max_json_depth: int = 64
    #: Seconds a connection may sit without a request in progress (idle keep-alive, or
    #: still sending its request line and headers) before it is closed. SSE streams are
    #: responses in progress (with their own keep-alives): not affected.
    idle_timeout: float = 30.0
    #: Seconds a client gets to send a whole request body; slower is 408.
    body_timeout: float = 30.0
    #: Open connections at once; at the cap the longest idle one is closed to admit a
    #: new one (503 when all are busy). Lowered to the fd limit minus 128 if above it.
    max_connections: int = 1000
    #: Sessions kept at once; the least recently used is ended past this.
    max_sessions: int = 10_000
    #: Largest ``capabilities`` (JSON bytes, ``experimental`` included) a client may store
    #: in its session at initialize; more is -32602.
    max_capabilities_bytes: int = 16 * 1024
    #: Largest ``clientInfo`` (JSON bytes, icons included) a session may store.
    max_client_info_bytes: int = 16 * 1024
    #: Resource subscriptions one session may hold; more is -32602.
    max_subscriptions: int = 256
    #: Seconds of inactivity after which a session ends.
    session_idle_timeout: float = 3600.0
    #: SSE events kept per session for ``Last-Event-ID`` resumption.
    event_store_size: int = 1000
    #: ``retry:`` hint (ms) sent on SSE streams.
    sse_retry_ms: int = 1000
    #: Seconds to wait for the client's answer to sampling, elicitation or roots requests.
    client_request_timeout: float = 120.0
    #: Seconds in-flight calls get to finish on SIGTERM before they are cancelled.
    shutdown_timeout: float = 10.0
    #: Items per page of tools/list, resources/list, prompts/list.
    page_size: int = 500
    #: Lowest level of the service's own logs (stderr).
    log_level: str = "info"
    #: JSON log lines (true) or human-readable ones (false); unset: JSON unless stderr
    #: is a terminal (containers and log files get JSON, a person at a shell reads text).
    log_json: bool | None = None
    #: Identical log lines within this many seconds are folded into the next one
    #: (``repeated: N``) instead of flooding the log; 0 keeps every line.
    log_repeat_seconds: float = 10.0


def _coerce(raw: str, annotation: Any) -> Any:
    text = raw.strip()
    origin = getattr(annotation, "__origin__", None)
    if origin is list or annotation is list:
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    if origin is dict or annotation is dict:
        return json.loads(text)
    return text


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def write_switch(
    env: Mapping[str, str],
    prefix: str,
    *,
    read_only: str | None = None,
    read_write: str | None = None,
) -> dict[str, str]:
    """``{prefix}WRITE`` from an older name of the write switch, with a deprecation warning.

    ``read_only`` names a variable whose meaning is the inverse (``…_READ_ONLY=false``
    enables writing); ``read_write`` one that means the same. The new name wins when both
    are set. Returns the environment to load the settings from.
    """
    new = prefix + "WRITE"
    for old, inverse in ((read_only, True), (read_write, False)):
        if old is None or old not in env:
            continue
        value = env[old].strip().lower()
        if value not in _TRUE | _FALSE:
            raise SettingsError(f"Bad setting {old}: expected true or false, got {env[old]!r}")
        structlog.get_logger("mcpmesh.config").warning(
            "deprecated_setting", variable=old, use=new, inverse=inverse
        )
        if new not in env:
            enabled = (value in _FALSE) if inverse else (value in _TRUE)
            env = {**env, new: "true" if enabled else "false"}
    return dict(env)


def mesh_workdir() -> Path:
    """Where ``mcpmesh up`` keeps its backends' data and logs (``MCPMESH_WORKDIR``,
    default ``.cache/mesh``); the CLI finds a running mesh's backends there."""
    return Path(os.path.abspath(os.environ.get("MCPMESH_WORKDIR", ".cache/mesh")))


def load_settings(
    type_: type[S], prefix: str = "MCPMESH_", env: Mapping[str, str] | None = None, **overrides: Any
) -> S:
    """Build ``type_`` from environment variables named ``prefix + FIELD``.

    ``overrides`` (e.g. from command-line flags) win over the environment.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field in msgspec.structs.fields(type_):
        name = prefix + field.name.upper()
        if name in env:
            try:
                values[field.name] = _coerce(env[name], field.type)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{name}: not valid JSON ({exc})") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(values, type_, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        path = _FIELD_PATH.search(message)
        name = prefix + path.group(1).upper() if path else f"{prefix}…"
        raise SettingsError(f"Bad setting {name}: {_FIELD_PATH.sub('', message)}") from None


def settings_help(type_: type[msgspec.Struct], prefix: str = "MCPMESH_") -> list[tuple[str, str]]:
    """``(variable, default)`` pairs, for documentation and ``--help`` output."""
    rows = []
    for field in msgspec.structs.fields(type_):
        default = field.default if field.default is not msgspec.NODEFAULT else "(required)"
        if field.default_factory is not msgspec.NODEFAULT:
            default = field.default_factory()
        rows.append((prefix + field.name.upper(), repr(default)))
    return rows
