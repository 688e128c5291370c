"""Observability: structured logs (health routes are the app's: :mod:`mcpmesh.app.health`)."""
