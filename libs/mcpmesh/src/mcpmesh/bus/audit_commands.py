"""``mcpmesh audit init | tail | verify | export``: the audit stream, as an operator.

The CLI connects with the operator's NATS credential (``MCPMESH_NATS_NKEY_SEED_FILE``
with ``{service}`` = ``operator``, or the one ``mcpmesh up`` wrote) and checks checkpoint
signatures with Vault Transit (``transit/verify/audit-<service>``) using the operator's
Vault token (``MCPMESH_VAULT_ADDR`` + ``MCPMESH_VAULT_TOKEN``, or the running dev mesh's).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import sys
from collections.abc import Callable
from typing import Any, TextIO

import msgspec
import nats

from mcpmesh.bus.audit import (
    SignatureCheck,
    StoredEvent,
    audit_stream_name,
    ensure_audit_stream,
    read_stream,
    stream_config,
    verify_events,
)
from mcpmesh.bus.connect import connect_options
from mcpmesh.bus.settings import BusSettings

OPERATOR = "operator"


async def _connect(settings: BusSettings) -> Any:
    return await nats.connect(
        **connect_options(settings, OPERATOR),
        connect_timeout=3,
        max_reconnect_attempts=0,
        allow_reconnect=False,
    )


def transit_check() -> tuple[SignatureCheck | None, str | None]:
    """Vault Transit verification with the operator's token, or why there is none."""
    import hvac
    import hvac.exceptions

    from mcpmesh.secrets.admin import SecretWriteError, vault_target
    from mcpmesh.secrets.bootstrap import TRANSIT_MOUNT, audit_key

    try:
        addr, token = vault_target()
    except SecretWriteError:
        return None, (
            "signatures NOT checked: no Vault (set MCPMESH_VAULT_ADDR and MCPMESH_VAULT_TOKEN "
            "to an operator token, or run where `mcpmesh up` runs)"
        )
    client = hvac.Client(url=addr, token=token, timeout=10)

    def verify(service: str, data: bytes, signature: str) -> bool:
        try:
            answer = client.secrets.transit.verify_signed_data(
                name=audit_key(service),
                hash_input=base64.b64encode(data).decode(),
                signature=signature,
                mount_point=TRANSIT_MOUNT,
            )
        except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath):
            return False  # no such key, or not a signature of it
        return bool(answer["data"]["valid"])

    async def check(service: str, data: bytes, signature: str) -> bool:
        return await asyncio.to_thread(verify, service, data, signature)

    return check, None


async def tail_command(settings: BusSettings, count: int, stream: str | None = None) -> int:
    """Print the last ``count`` messages (blocks of events, checkpoints) as JSON lines."""
    nc = await _connect(settings)
    try:
        js = nc.jetstream(timeout=5)
        name = stream or audit_stream_name(settings.prefix)
        info = await js.stream_info(name)
        start = max(info.state.first_seq, info.state.last_seq - count + 1, 1)
        async for stored in read_stream(js, name, start=start):
            for record in stored.records():
                print(msgspec.json.encode(record).decode(), flush=True)
    finally:
        await nc.close()
    return 0


async def verify_command(
    settings: BusSettings,
    stream: str | None = None,
    check: Callable[[], tuple[SignatureCheck | None, str | None]] = transit_check,
) -> int:
    """Check every chain; exit 0 when intact, 1 (naming each problem) when not."""
    check_signature, why_not = check()
    nc = await _connect(settings)
    try:
        js = nc.jetstream(timeout=5)
        name = stream or audit_stream_name(settings.prefix)
        info = await js.stream_info(name)
        messages = [m async for m in read_stream(js, name)]
    finally:
        await nc.close()
    verdict = await verify_events(messages, check_signature, retention_cut=info.state.first_seq > 1)
    for problem in verdict.problems:
        print(problem)
    for note in verdict.notes:
        print(f"note: {note}")
    if why_not and any(c.covered for c in verdict.chains):
        print(f"note: {why_not}")
    for chain in verdict.chains:
        state = "signed" if chain.signed else "unsigned"
        ending = ", final" if chain.final else ""
        print(
            f"chain {chain.chain}: {chain.events} events, {chain.covered} covered by "
            f"{state} checkpoints{ending}"
        )
    state = "intact" if verdict.ok else "BROKEN"
    print(f"audit trail {state}: {verdict.checked} events checked in {len(verdict.chains)} chains")
    return 0 if verdict.ok else 1


def parse_since(value: str) -> datetime.datetime:
    """An ISO 8601 time (``2026-12-01T20:00:00Z``) or Unix seconds."""
    try:
        return datetime.datetime.fromtimestamp(float(value), datetime.UTC)
    except ValueError:
        pass
    moment = datetime.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


async def export_command(
    settings: BusSettings,
    *,
    start: int | None = None,
    since: datetime.datetime | None = None,
    follow: bool = False,
    stream: str | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Stream events and checkpoints as JSON lines (for a SIEM), oldest first."""
    nc = await _connect(settings)
    try:
        js = nc.jetstream(timeout=5)
        name = stream or audit_stream_name(settings.prefix)
        stored: StoredEvent
        async for stored in read_stream(js, name, start=start, since=since, follow=follow):
            for record in stored.records():
                out.write(msgspec.json.encode(record).decode() + "\n")
            if follow:
                out.flush()
        out.flush()
    finally:
        await nc.close()
    return 0


async def init_command(settings: BusSettings) -> int:
    """Create the audit stream (or bring its limits to the settings): the operator's job,
    done before the services start (``make run`` does it; compose and Kubernetes run it)."""
    config = stream_config(settings.prefix, settings.audit_max_events, settings.audit_max_age_days)
    nc = await _connect(settings)
    try:
        js = nc.jetstream(timeout=5)
        await ensure_audit_stream(js, config)
        info = await js.stream_info(config.name)
    finally:
        await nc.close()
    print(
        f"audit stream {config.name}: {info.state.messages} messages, subjects "
        f"{', '.join(info.config.subjects or [])}, delete and purge denied"
    )
    return 0
