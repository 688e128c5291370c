"""Wire level of MCP: JSON-RPC codec, error codes, message types, version rules."""
