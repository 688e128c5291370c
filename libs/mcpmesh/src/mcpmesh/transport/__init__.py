"""Streamable HTTP (MCP 2025-11-25) on aiohttp: endpoint, sessions, SSE streams."""
