"""Sealed MRTR requestState: real AES-GCM keys, every refusal the spec asks for, and key
rotation with an overlap window."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import msgspec
import pytest

from mcpmesh.config import load_settings
from mcpmesh.guard.sealing import (
    MAX_STATE_BYTES,
    InvalidRequestState,
    KeyRing,
    KeyRingError,
    SealSettings,
    StateSealer,
    request_digest,
)

ALICE, BOB = "a" * 64, "b" * 64
REQUEST = request_digest("tools/call", "delete_file", {"path": "/tmp/x", "force": True})
ANSWER = msgspec.Raw(b'{"action":"accept","content":{"confirm":true}}')


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def ring_json(current: str, **keys: tuple[str, str | None]) -> str:
    entries = [
        {"id": kid, "key": k, **({"accept_until": until} if until else {})}
        for kid, (k, until) in keys.items()
    ]
    return json.dumps({"current": current, "keys": entries})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sealer(clock: Clock) -> StateSealer:
    return StateSealer(KeyRing.ephemeral(), ttl=60, clock=clock)


def seal(sealer: StateSealer, binding: str | None = ALICE) -> str:
    return sealer.seal(binding=binding, request=REQUEST, answers={"q1": ANSWER}, pending=("q2",))


def refusal(
    sealer: StateSealer, token: str, binding: str | None = ALICE, request: str = REQUEST
) -> str:
    with pytest.raises(InvalidRequestState) as caught:
        sealer.open(token, binding=binding, request=request)
    return str(caught.value)


def test_round_trip(sealer: StateSealer, clock: Clock) -> None:
    token = seal(sealer)
    state = sealer.open(token, binding=ALICE, request=REQUEST)
    assert bytes(state.answers["q1"]) == bytes(ANSWER)
    assert state.pending == ("q2",)
    assert state.expires_at == clock.now + 60
    assert b"confirm" not in base64.urlsafe_b64decode(token.split(".")[2])  # encrypted
    assert seal(sealer) != token  # a fresh nonce every time


def test_without_auth_the_binding_is_none(sealer: StateSealer) -> None:
    token = seal(sealer, binding=None)
    assert sealer.open(token, binding=None, request=REQUEST).binding is None
    assert "another principal" in refusal(sealer, token, binding=ALICE)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t + "-TAMPERED",
        lambda t: t[:-6] + ("AAAAAA" if not t.endswith("AAAAAA") else "BBBBBB"),
        lambda t: t.replace("s1.local.", "s1.local.A", 1),
        lambda t: "s1.local.!!!",
    ],
)
def test_tampered_state_is_refused(sealer: StateSealer, tamper) -> None:
    assert "integrity" in refusal(sealer, tamper(seal(sealer)))


@pytest.mark.parametrize("token", ["", "garbage", "s2.local.abc", "s1..abc", "s1.local."])
def test_foreign_formats_are_refused(sealer: StateSealer, token: str) -> None:
    assert "not one this server issued" in refusal(sealer, token)


def test_expired_state_is_refused(sealer: StateSealer, clock: Clock) -> None:
    token = seal(sealer)
    clock.now += 60
    sealer.open(token, binding=ALICE, request=REQUEST)
    clock.now += 0.001
    assert "expired" in refusal(sealer, token)


def test_state_replayed_by_another_principal_is_refused(sealer: StateSealer) -> None:
    assert "another principal" in refusal(sealer, seal(sealer), binding=BOB)
    assert "another principal" in refusal(sealer, seal(sealer), binding=None)


def test_state_for_another_request_is_refused(sealer: StateSealer) -> None:
    token = seal(sealer)
    for other in (
        request_digest("tools/call", "write_file", {"path": "/tmp/x", "force": True}),
        request_digest("tools/call", "delete_file", {"path": "/etc/passwd", "force": True}),
        request_digest("prompts/get", "delete_file", {"path": "/tmp/x", "force": True}),
    ):
        assert "another request" in refusal(sealer, token, request=other)


def test_digest_is_canonical_over_argument_order() -> None:
    assert request_digest("tools/call", "t", {"a": 1, "b": {"y": 2, "x": 3}}) == request_digest(
        "tools/call", "t", msgspec.json.decode(b'{"b": {"x": 3, "y": 2}, "a": 1}')
    )
    assert request_digest("tools/call", "t", {}) != request_digest("tools/call", "t", None)


def test_another_deployments_key_cannot_open_it(sealer: StateSealer, clock: Clock) -> None:
    other = StateSealer(KeyRing.ephemeral(), ttl=60, clock=clock)
    assert "integrity" in refusal(other, seal(sealer))


def test_rotation_with_an_overlap_window(clock: Clock) -> None:
    old, new = key(), key()
    before = StateSealer(KeyRing.from_json(ring_json("k1", k1=(old, None))), clock=clock)
    token = seal(before)
    # the clock is 2027-01-15T08:00Z: k2 seals now, k1 still opens until its accept_until
    during = StateSealer(
        KeyRing.from_json(ring_json("k2", k2=(new, None), k1=(old, "2027-01-16T00:00:00Z"))),
        clock=clock,
    )
    assert during.open(token, binding=ALICE, request=REQUEST).pending == ("q2",)
    assert seal(during).startswith("s1.k2.")
    retired = StateSealer(
        KeyRing.from_json(ring_json("k2", k2=(new, None), k1=(old, "2027-01-14T00:00:00Z"))),
        clock=clock,
    )
    assert "retired" in refusal(retired, token)
    removed = StateSealer(KeyRing.from_json(ring_json("k2", k2=(new, None))), clock=clock)
    assert "does not have" in refusal(removed, token)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("not json", "not valid"),
        (ring_json("k9", k1=(key(), None)), "current key 'k9' is not in"),
        (ring_json("k1", k1=(base64.b64encode(b"short").decode(), None)), "must be 32"),
        (ring_json("k1", k1=("***", None)), "not base64"),
        (ring_json("k1", k1=(key(), "2027-01-01T00:00:00Z")), "cannot have accept_until"),
        (ring_json("k1", k1=(key(), None), k2=(key(), "2027-01-01T00:00:00")), "time zone"),
        (ring_json("bad id", **{"bad id": (key(), None)}), "key id"),
        (
            json.dumps({"current": "k1", "keys": [{"id": "k1", "key": key()}] * 2}),
            "appears twice",
        ),
    ],
)
def test_malformed_key_rings_are_refused(data: str, problem: str) -> None:
    with pytest.raises(KeyRingError, match=problem):
        KeyRing.from_json(data)


def test_key_file_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    path.write_text(ring_json("k1", k1=(key(), None)))
    path.chmod(0o600)
    settings = load_settings(
        SealSettings,
        "MCPMESH_STATE_",
        env={"MCPMESH_STATE_KEY_FILE": str(path), "MCPMESH_STATE_TTL": "30"},
    )
    assert settings == SealSettings(key_file=str(path), ttl=30.0)
    sealer = StateSealer.from_settings(settings)
    assert sealer.ttl == 30.0 and seal(sealer).startswith("s1.k1.")
    path.chmod(0o644)
    with pytest.raises(KeyRingError, match="chmod 600"):
        StateSealer.from_settings(settings)
    with pytest.raises(KeyRingError, match="cannot read"):
        KeyRing.from_file(tmp_path / "missing.json")


def test_without_a_key_file_each_process_has_its_own_key() -> None:
    a, b = StateSealer.from_settings(SealSettings()), StateSealer.from_settings(SealSettings())
    assert "integrity" in refusal(b, seal(a))
    with pytest.raises(ValueError, match="positive"):
        StateSealer(KeyRing.ephemeral(), ttl=0)


def test_oversized_state_is_refused_both_ways(sealer: StateSealer) -> None:
    big = msgspec.Raw(msgspec.json.encode({"content": "x" * MAX_STATE_BYTES}))
    with pytest.raises(ValueError, match="limit"):
        sealer.seal(binding=ALICE, request=REQUEST, answers={"q": big}, pending=())
    assert "too large" in refusal(sealer, "s1.local." + "A" * MAX_STATE_BYTES)


def test_state_key_file_command_writes_one_private_ring_and_keeps_it(tmp_path: Path) -> None:
    from mcpmesh.cli import main

    ring = tmp_path / "keys" / "state-keys.json"
    assert main(["state-key-file", str(ring)]) == 0
    assert ring.stat().st_mode & 0o777 == 0o600
    first = ring.read_bytes()
    sealer = StateSealer(KeyRing.from_file(ring))
    token = sealer.seal(binding=None, request="r", answers={}, pending=())
    assert main(["state-key-file", str(ring)]) == 0  # an existing ring is kept
    assert ring.read_bytes() == first
    assert StateSealer(KeyRing.from_file(ring)).open(token, binding=None, request="r")
    ring.chmod(0o644)
    assert main(["state-key-file", str(ring)]) == 2  # readable by others: refused
