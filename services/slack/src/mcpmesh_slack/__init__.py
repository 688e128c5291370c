"""mcpmesh Slack service: Slack's Web API as MCP tools, writes off by default."""

__version__ = "0.1.0"
