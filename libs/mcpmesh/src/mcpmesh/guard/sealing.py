"""Sealed ``requestState`` for multi round-trip requests (MRTR, 2026-07-28).

An ``input_required`` result hands the client a ``requestState`` that it echoes on the
retry. It comes back from the client, so it is attacker-controlled: we seal it with an
AEAD (AES-256-GCM from PyPI ``cryptography``) and put inside it everything the retry must
match — the principal it was issued to (``Principal.binding``, or ``None`` with auth off),
a digest of the original request (method, tool/prompt name or resource URI, arguments),
the answers recorded in earlier rounds, the questions the client was just asked, and an
expiry. Any replica holding the key opens it, so a retry needs no shared store and no
NATS round trip.

Keys come from a key ring: one current key seals, older ones still open during their
overlap window, and the key id travels in the token so rotation needs no coordination.
The ring is JSON (a file today, a Vault KV secret later)::

    {"current": "2026-12",
     "keys": [{"id": "2026-12", "key": "<base64 of 32 random bytes>"},
              {"id": "2026-11", "key": "<base64>", "accept_until": "2026-12-08T00:00:00Z"}]}

State is not single-use: within its TTL the same principal may replay it on the same
request. That is fine for the re-run model (a replay only re-asks or re-runs a handler
that has no side effect before its questions); a one-time redemption must be enforced by
the handler itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "s1"
_AAD = b"mcpmesh/requestState/v1"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
#: A requestState larger than this is refused when sealing (and when opening): it rides
#: in every retry body, and unbounded answers would let a client grow it at will.
MAX_STATE_BYTES = 64 * 1024


class SealSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Settings of ``requestState`` sealing (prefix ``MCPMESH_STATE_``)."""

    #: JSON key ring (see the module docstring); empty: a random key per process, so a
    #: retry only succeeds on the replica that asked — fine for one process, not for many.
    key_file: str = ""
    #: Seconds a requestState is accepted after it was issued.
    ttl: float = 600.0


class InvalidRequestState(ValueError):
    """The ``requestState`` of a retry cannot be used: tampered, expired, sealed with an
    unknown or retired key, issued to another principal or for another request. The
    transport answers -32602 (Invalid params) with this message; nothing runs."""


class KeyRingError(ValueError):
    """The key ring is malformed: refused at start, naming the problem."""


class RequestState(msgspec.Struct, kw_only=True, frozen=True):
    """What a sealed ``requestState`` carries."""

    #: ``Principal.binding`` of the caller it was issued to; ``None`` with auth off.
    binding: str | None
    #: :func:`request_digest` of the request it belongs to.
    request: str
    #: Answers recorded in earlier rounds, by input-request key (raw JSON results).
    answers: dict[str, msgspec.Raw] = {}
    #: Keys of the questions asked in the round that issued this state: the only
    #: ``inputResponses`` the retry may add.
    pending: tuple[str, ...] = ()
    #: Unix time after which the state is refused.
    expires_at: float = 0.0


def request_digest(method: str, target: str, arguments: Any) -> str:
    """SHA-256 of the request a state belongs to: the method, the tool/prompt name or
    resource URI, and the arguments in canonical JSON (sorted keys), so a retry that
    re-serializes the same arguments differently still matches."""
    canonical = msgspec.json.encode([method, target, arguments], order="sorted")
    return hashlib.sha256(canonical).hexdigest()


class _KeyEntry(msgspec.Struct, frozen=True):
    id: str
    key: str
    accept_until: datetime | None = None


class _KeyRingFile(msgspec.Struct, frozen=True):
    current: str
    keys: list[_KeyEntry]


class KeyRing:
    """AEAD keys by id: ``current`` seals; every key opens until its ``accept_until``."""

    __slots__ = ("_accept_until", "_keys", "current")

    def __init__(
        self,
        keys: Mapping[str, bytes],
        current: str,
        accept_until: Mapping[str, float] | None = None,
    ) -> None:
        if current not in keys:
            raise KeyRingError(f"the current key {current!r} is not in the key ring")
        for key_id, key in keys.items():
            if not _KEY_ID.match(key_id):
                raise KeyRingError(f"key id {key_id!r}: use 1-32 of [A-Za-z0-9_-]")
            if len(key) != _KEY_BYTES:
                raise KeyRingError(f"key {key_id!r} is {len(key)} bytes; it must be 32")
        if current in (accept_until or {}):
            raise KeyRingError(f"the current key {current!r} cannot have accept_until")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._accept_until = dict(accept_until or {})
        self.current = current

    @classmethod
    def ephemeral(cls) -> KeyRing:
        """A random key known to this process only."""
        return cls({"local": AESGCM.generate_key(bit_length=256)}, "local")

    @classmethod
    def from_json(cls, data: bytes | str) -> KeyRing:
        try:
            ring = msgspec.json.decode(data, type=_KeyRingFile)
        except msgspec.DecodeError as exc:
            raise KeyRingError(f"key ring is not valid: {exc}") from None
        keys: dict[str, bytes] = {}
        until: dict[str, float] = {}
        for entry in ring.keys:
            if entry.id in keys:
                raise KeyRingError(f"key id {entry.id!r} appears twice")
            try:
                keys[entry.id] = base64.b64decode(entry.key, validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingError(f"key {entry.id!r} is not base64") from None
            if entry.accept_until is not None:
                if entry.accept_until.tzinfo is None:
                    raise KeyRingError(f"key {entry.id!r}: accept_until needs a time zone")
                until[entry.id] = entry.accept_until.timestamp()
        return cls(keys, ring.current, until)

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        file = Path(path)
        try:
            mode = file.stat().st_mode
            data = file.read_bytes()
        except OSError as exc:
            raise KeyRingError(f"cannot read the key ring {file}: {exc.strerror}") from None
        if mode & 0o077:
            raise KeyRingError(f"the key ring {file} is readable by others: chmod 600 it")
        return cls.from_json(data)

    def sealer(self) -> AESGCM:
        return self._keys[self.current]

    def opener(self, key_id: str, now: float) -> AESGCM:
        aead = self._keys.get(key_id)
        if aead is None:
            raise InvalidRequestState(
                "requestState was sealed with a key this server does not have "
                "(another deployment, or a key retired from the ring)"
            )
        if now > self._accept_until.get(key_id, float("inf")):
            raise InvalidRequestState("requestState was sealed with a retired key")
        return aead


#: The ``MCPMESH_STATE_…`` prefix of :class:`SealSettings`.
STATE_PREFIX = "MCPMESH_STATE_"


def write_key_file(path: str | Path) -> Path:
    """A key ring with one fresh random key at ``path`` (mode 600), unless one is there:
    what ``mcpmesh up`` gives the services it starts, so that all replicas share it."""
    file = Path(path)
    if file.exists():
        KeyRing.from_file(file)  # a bad ring is refused here, not at the first retry
        return file
    file.parent.mkdir(parents=True, exist_ok=True)
    key_id = time.strftime("k%Y%m%d%H%M%S", time.gmtime())
    key = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
    ring = {"current": key_id, "keys": [{"id": key_id, "key": key}]}
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(msgspec.json.encode(ring))
    return file


def keyring_from_settings(settings: SealSettings) -> KeyRing:
    return KeyRing.from_file(settings.key_file) if settings.key_file else KeyRing.ephemeral()


_state_decoder = msgspec.json.Decoder(RequestState)


class StateSealer:
    """Seals and opens :class:`RequestState` as an opaque ``requestState`` string."""

    __slots__ = ("_clock", "ring", "ttl")

    def __init__(
        self, ring: KeyRing, *, ttl: float = 600.0, clock: Callable[[], float] = time.time
    ) -> None:
        if ttl <= 0:
            raise ValueError("the requestState TTL must be positive")
        self.ring = ring
        self.ttl = ttl
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: SealSettings) -> StateSealer:
        return cls(keyring_from_settings(settings), ttl=settings.ttl)

    def seal(
        self,
        *,
        binding: str | None,
        request: str,
        answers: Mapping[str, msgspec.Raw],
        pending: tuple[str, ...],
    ) -> str:
        """A fresh token (new nonce, expiry now + TTL) sealed with the current key."""
        state = RequestState(
            binding=binding,
            request=request,
            answers=dict(answers),
            pending=pending,
            expires_at=self._clock() + self.ttl,
        )
        nonce = os.urandom(_NONCE_BYTES)
        key_id = self.ring.current
        sealed = self.ring.sealer().encrypt(nonce, msgspec.json.encode(state), _aad(key_id))
        token = f"{_VERSION}.{key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"
        if len(token) > MAX_STATE_BYTES:
            raise ValueError(
                f"requestState would be {len(token)} bytes (limit {MAX_STATE_BYTES}): "
                "too many or too large answers for one request"
            )
        return token

    def open(self, token: str, *, binding: str | None, request: str) -> RequestState:
        """The state inside ``token`` if it is authentic, unexpired, issued to
        ``binding`` and for ``request``; else :class:`InvalidRequestState`."""
        if len(token) > MAX_STATE_BYTES:
            raise InvalidRequestState("requestState is too large")
        version, _, rest = token.partition(".")
        key_id, _, body = rest.partition(".")
        if version != _VERSION or not key_id or not body:
            raise InvalidRequestState("requestState is not one this server issued")
        now = self._clock()
        aead = self.ring.opener(key_id, now)
        try:
            # strict: the lenient decoder would drop appended junk and accept it
            raw = base64.b64decode(body.encode("ascii"), altchars=b"-_", validate=True)
            plain = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(key_id))
        except (InvalidTag, binascii.Error, ValueError, UnicodeEncodeError):
            raise InvalidRequestState(
                "requestState failed its integrity check (altered or not issued here)"
            ) from None
        state = _state_decoder.decode(plain)
        if now > state.expires_at:
            raise InvalidRequestState("requestState has expired: call the tool again")
        if state.binding != binding:
            raise InvalidRequestState("requestState was issued to another principal")
        if state.request != request:
            raise InvalidRequestState(
                "requestState belongs to another request (a different tool, prompt, "
                "resource or arguments)"
            )
        return state


def _aad(key_id: str) -> bytes:
    return _AAD + b"|" + key_id.encode()
