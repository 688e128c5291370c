"""Observability: structured logs, health endpoints."""
