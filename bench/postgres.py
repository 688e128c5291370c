"""Postgres service benchmark (see mcpmesh_postgres.bench)."""

from mcpmesh_postgres.bench import main

__all__ = ["main"]
