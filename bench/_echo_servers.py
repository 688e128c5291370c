"""The two one-tool servers the protocol benchmark compares: ``echo(text) -> text``.

python -m bench._echo_servers mcpmesh PORT
python -m bench._echo_servers fastmcp PORT
"""

from __future__ import annotations

import asyncio
import sys

import msgspec


class EchoArgs(msgspec.Struct):
    text: str


def run_mcpmesh(port: int) -> None:
    from mcpmesh import Context, Service
    from mcpmesh.app import serve
    from mcpmesh.config import ServerSettings
    from mcpmesh.obs.logging import configure_logging

    settings = ServerSettings(port=port, log_level="warning")
    configure_logging("bench-echo", "warning")
    service = Service("bench-echo", version="0", settings=settings)

    @service.tool(read_only=True)
    async def echo(ctx: Context, args: EchoArgs) -> str:
        """Returns its input."""
        return args.text

    asyncio.run(serve(service, settings))


def run_fastmcp(port: int) -> None:
    from fastmcp import FastMCP

    server = FastMCP("bench-echo")

    @server.tool
    def echo(text: str) -> str:
        """Returns its input."""
        return text

    server.run(
        transport="http", host="127.0.0.1", port=port, log_level="warning", show_banner=False
    )


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    {"mcpmesh": run_mcpmesh, "fastmcp": run_fastmcp}[kind](port)
