"""Every setting a service reads from the environment is documented where the README says
settings are documented: docs that match the code, checked rather than hoped for."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from mcpmesh.auth.settings import AuthSettings
from mcpmesh.bus.settings import BusSettings, SamplingSettings
from mcpmesh.config import ServerSettings
from mcpmesh.guard.sealing import SealSettings
from mcpmesh.secrets.settings import CallerCredentialSettings, VaultSettings
from mcpmesh_filesystem.settings import FilesystemSettings
from mcpmesh_github.settings import GitHubSettings
from mcpmesh_postgres.settings import PostgresSettings
from mcpmesh_slack.settings import SlackSettings

ROOT = Path(__file__).resolve().parents[1]

DOCUMENTED = [
    (ServerSettings, "MCPMESH_", "libs/mcpmesh/README.md"),
    (BusSettings, "MCPMESH_NATS_", "libs/mcpmesh/README.md"),
    (SamplingSettings, "MCPMESH_SAMPLING_", "libs/mcpmesh/README.md"),
    (SealSettings, "MCPMESH_STATE_", "libs/mcpmesh/README.md"),
    (AuthSettings, "MCPMESH_AUTH_", "libs/mcpmesh/README.md"),
    (CallerCredentialSettings, "MCPMESH_<SVC>_", "libs/mcpmesh/README.md"),
    (VaultSettings, "MCPMESH_VAULT_", "deploy/vault/README.md"),
    (FilesystemSettings, "MCPMESH_FS_", "services/filesystem/README.md"),
    (PostgresSettings, "MCPMESH_PG_", "services/postgres/README.md"),
    (GitHubSettings, "MCPMESH_GH_", "services/github/README.md"),
    (SlackSettings, "MCPMESH_SLACK_", "services/slack/README.md"),
]


@pytest.mark.parametrize(
    ("settings", "prefix", "readme"), DOCUMENTED, ids=lambda v: getattr(v, "__name__", None)
)
def test_every_setting_is_documented(
    settings: type[msgspec.Struct], prefix: str, readme: str
) -> None:
    text = (ROOT / readme).read_text()
    names = [prefix + field.name.upper() for field in msgspec.structs.fields(settings)]
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"{readme} does not document: {', '.join(missing)}"
