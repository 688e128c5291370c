"""How a component connects to NATS: its own NKEY, TLS, and an inbox of its own.

Every connection of the mesh goes through :func:`connect_options`, so a service, the
CLI and the benchmarks authenticate the same way. The seed is read by nats-py from
the file (``MCPMESH_NATS_NKEY_SEED_FILE``, 0600): never from argv or the environment.
Replies come back on ``_INBOX.<prefix>.<name>.…``, a prefix the server config lets only
that component subscribe to, so no other one can read its replies.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from mcpmesh.bus.settings import BusSettings


class NatsCredentialError(Exception):
    """The configured NATS credential or TLS files are unusable (said before connecting)."""


def inbox_prefix(prefix: str, name: str) -> str:
    return f"_INBOX.{prefix}.{name}"


def seed_file(settings: BusSettings, name: str) -> str | None:
    """The NKEY seed file of component ``name``, checked: present and private."""
    if not settings.nkey_seed_file:
        return None
    path = Path(settings.nkey_seed_file.replace("{service}", name))
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise NatsCredentialError(
            f"MCPMESH_NATS_NKEY_SEED_FILE: cannot read {path}: {exc.strerror}"
        ) from None
    if mode & 0o007:  # group-readable is how Kubernetes hands a Secret to fsGroup
        raise NatsCredentialError(
            f"MCPMESH_NATS_NKEY_SEED_FILE: {path} is readable by others (mode "
            f"{mode & 0o777:o}); chmod 600 it"
        )
    return str(path)


def tls_context(settings: BusSettings) -> ssl.SSLContext | None:
    if not settings.tls_ca_file:
        if settings.tls_cert_file or settings.tls_key_file:
            raise NatsCredentialError(
                "MCPMESH_NATS_TLS_CERT_FILE needs MCPMESH_NATS_TLS_CA_FILE (the server's CA)"
            )
        return None
    try:
        context = ssl.create_default_context(cafile=settings.tls_ca_file)
        if settings.tls_cert_file:
            context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise NatsCredentialError(f"NATS TLS files unusable: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connect_options(settings: BusSettings, name: str) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect`` for component ``name`` (a service, or
    ``operator`` for the CLI)."""
    options: dict[str, Any] = {
        "servers": [u.strip() for u in settings.url.split(",") if u.strip()],
        "inbox_prefix": inbox_prefix(settings.prefix, name),
    }
    seed = seed_file(settings, name)
    if seed is not None:
        options["nkeys_seed"] = seed
    context = tls_context(settings)
    if context is not None:
        options["tls"] = context
    return options
