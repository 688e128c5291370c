"""NATS credentials and per-service permissions: the server config the mesh runs with.

Every component has its own NKEY user (Ed25519; the server keeps only public keys, the
component proves it holds the seed by signing the server's nonce): one per service and
one ``operator`` (the CLI, bootstrap). A service ``S`` may publish and subscribe only on
what carries its name (see :mod:`mcpmesh.bus.names`):

* ``P.S.>`` — routing between its replicas (answers, pings, cancellations);
* ``P.events.S.>`` and the JetStream API of its stream ``P_EVENTS_S``;
* ``P.audit.S.>`` — its own audit chains (publish only) and the audit stream's info
  (the operator creates it and sets its limits: ``mcpmesh audit init``);
* ``$KV.P_sessions_S.>``, ``$KV.P_sampling_rate_S.>``, ``$KV.P_dpop_S.>`` and their
  streams' API;
* ``P.sampling.request`` (ask the broker, or be it) and replies to requests it received;
* ``_INBOX.P.S.>`` — replies to its own requests, no one else's.

Deleting or purging a stream or bucket is allowed to no service: only ``operator``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nkeys

from mcpmesh.bus.audit import audit_stream_name
from mcpmesh.bus.connect import inbox_prefix
from mcpmesh.bus.names import (
    RESERVED,
    events_stream,
    rate_bucket,
    replay_bucket,
    sessions_bucket,
    token,
)
from mcpmesh.bus.sampling import request_subject

OPERATOR = "operator"


def _stream_api(stream: str, *, create: bool = True) -> list[str]:
    """What a service may ask JetStream about a stream it owns (no delete, no purge)."""
    api = "$JS.API"
    allowed = [
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DELETE.{stream}.>",
        f"{api}.CONSUMER.INFO.{stream}.>",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]
    if create:
        allowed += [f"{api}.STREAM.CREATE.{stream}", f"{api}.STREAM.UPDATE.{stream}"]
    return allowed


def service_permissions(prefix: str, service: str) -> dict[str, Any]:
    """The ``permissions`` block of service ``service``'s NATS user."""
    name = token(service)
    if name in RESERVED or name == OPERATOR:
        raise ValueError(f"a service cannot be named {name!r} (a shared NATS subject)")
    buckets = [
        sessions_bucket(prefix, service),
        rate_bucket(prefix, service),
        replay_bucket(prefix, service),
    ]
    audit = audit_stream_name(prefix)
    publish = [
        f"{prefix}.{name}.>",
        f"{prefix}.events.{name}.>",
        f"{prefix}.audit.{name}.>",
        request_subject(prefix),
        "$JS.API.INFO",
        *(f"$KV.{bucket}.>" for bucket in buckets),
        *(api for bucket in buckets for api in _stream_api(f"KV_{bucket}")),
        *_stream_api(events_stream(prefix, service)),
        # The audit stream is the operator's (`mcpmesh audit init`): a service may only
        # look at it, so none can shape its limits (a max_msgs of 10 would be a purge).
        f"$JS.API.STREAM.INFO.{audit}",
    ]
    subscribe = [
        f"{prefix}.{name}.>",
        request_subject(prefix),
        f"{inbox_prefix(prefix, name)}.>",
    ]
    return {
        "publish": {
            "allow": publish,
            "deny": ["$JS.API.STREAM.DELETE.>", "$JS.API.STREAM.PURGE.>"],
        },
        "subscribe": {"allow": subscribe},
        # Answering a request it received (routed answers, pings, the sampling broker).
        "allow_responses": True,
    }


def operator_permissions() -> dict[str, Any]:
    return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}


class Credentials:
    """One NKEY seed file per component in a private directory (0700, files 0600):
    ``<name>.nk``, or ``<name>/seed.nk`` (``per_directory``: a container mounts only its
    own directory)."""

    def __init__(self, directory: Path, *, per_directory: bool = False) -> None:
        self.directory = directory
        self.pattern = "{service}/seed.nk" if per_directory else "{service}.nk"

    def seed_file(self, name: str) -> Path:
        return self.directory / self.pattern.replace("{service}", name)

    @property
    def template(self) -> str:
        """For ``MCPMESH_NATS_NKEY_SEED_FILE``: ``{service}`` stands for the name."""
        return str(self.directory / self.pattern)

    def ensure(self, names: Iterable[str]) -> dict[str, str]:
        """A seed for each name (kept if one exists); returns their public keys."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        public = {}
        for name in names:
            path = self.seed_file(name)
            if path.parent != self.directory:
                path.parent.mkdir(mode=0o700, exist_ok=True)
            if not path.is_file():
                seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "wb") as file:
                    file.write(seed + b"\n")
            public[name] = public_key(path)
        return public


def public_key(seed_file: Path) -> str:
    key = nkeys.from_seed(bytearray(seed_file.read_bytes().strip()))
    try:
        return str(key.public_key.decode())
    finally:
        key.wipe()


def server_config(
    prefix: str,
    public_keys: dict[str, str],
    *,
    tls: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The auth (and TLS) part of a nats-server config: one NKEY user per component,
    ``operator`` unrestricted, every other name a service with its own permissions."""
    users = [
        {
            "nkey": key,
            "permissions": operator_permissions()
            if name == OPERATOR
            else service_permissions(prefix, name),
        }
        for name, key in sorted(public_keys.items())
    ]
    config: dict[str, Any] = {"authorization": {"users": users}}
    if tls:
        config["tls"] = dict(tls)
    return config


def write_server_config(path: Path, config: dict[str, Any]) -> Path:
    """nats-server reads JSON as its config format (a JSON object is valid config)."""
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mcpmesh.bus.permissions",
        description="Write NKEY seeds (one per service and the operator; kept when present) "
        "and the nats-server config with per-service permissions (containers, Kubernetes).",
    )
    parser.add_argument("--seeds", type=Path, required=True, help="seed directory (<name>/seed.nk)")
    parser.add_argument("--config", type=Path, required=True, help="server config file to write")
    parser.add_argument("--services", help="comma-separated (default: every Vault policy's)")
    parser.add_argument("--prefix", default=os.environ.get("MCPMESH_NATS_PREFIX", "mcpmesh"))
    parser.add_argument("--tls-cert", help="server certificate (PEM) path as NATS sees it")
    parser.add_argument("--tls-key", help="server key (PEM) path as NATS sees it")
    parser.add_argument("--tls-ca", help="CA (PEM): also ask clients for certificates")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.services:
        services = [s.strip() for s in args.services.split(",") if s.strip()]
    else:
        from mcpmesh.secrets.bootstrap import find_policy_dir, services_with_policies

        services = list(services_with_policies(find_policy_dir()))
    tls: dict[str, Any] | None = None
    if args.tls_cert:
        tls = {"cert_file": args.tls_cert, "key_file": args.tls_key or ""}
        if args.tls_ca:
            tls.update(ca_file=args.tls_ca, verify=True)
    try:
        credentials = Credentials(args.seeds, per_directory=True)
        keys = credentials.ensure([OPERATOR, *(token(s) for s in services)])
        config = server_config(args.prefix, keys, tls=tls)
        write_server_config(args.config, config).chmod(0o644)  # public keys only
    except (OSError, ValueError) as exc:
        print(f"nats credentials: {exc}", file=sys.stderr)
        return 1
    print(f"nats credentials: {', '.join(sorted(keys))}; config {args.config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
