"""The one-tool servers the protocol benchmark compares: ``echo(text) -> text``.

python -m bench._echo_servers floor PORT     # bare aiohttp + msgspec: the stack's floor
python -m bench._echo_servers mcpmesh PORT   # settings from MCPMESH_… (bus, audit, auth)
python -m bench._echo_servers fastmcp PORT
"""

from __future__ import annotations

import asyncio
import sys

import msgspec


class EchoArgs(msgspec.Struct):
    text: str


class _CallParams(msgspec.Struct):
    name: str
    arguments: EchoArgs


class _Call(msgspec.Struct):
    id: int | str
    method: str
    params: _CallParams | None = None


class _Text(msgspec.Struct, tag="text", tag_field="type"):
    text: str


class _Result(msgspec.Struct, rename="camel"):
    content: list[_Text]
    is_error: bool = False


class _Answer(msgspec.Struct):
    id: int | str
    result: _Result
    jsonrpc: str = "2.0"


def run_floor(port: int) -> None:
    """The least an MCP ``tools/call`` answer can cost on this stack: aiohttp reads the
    body, msgspec decodes it into typed structs and encodes the same answer shape the
    mesh sends — no session, no protocol checks, no middleware."""
    from aiohttp import web

    decoder = msgspec.json.Decoder(_Call)
    encoder = msgspec.json.Encoder()

    async def handle(request: web.Request) -> web.Response:
        call = decoder.decode(await request.read())
        text = call.params.arguments.text if call.params else ""
        body = encoder.encode(_Answer(call.id, _Result([_Text(text)])))
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/mcp", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


def run_mcpmesh(port: int) -> None:
    from mcpmesh import Context, Service
    from mcpmesh.app import serve
    from mcpmesh.config import ServerSettings, load_settings
    from mcpmesh.obs.logging import configure_logging

    settings = load_settings(ServerSettings, port=port, log_level="warning")
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
    {"floor": run_floor, "mcpmesh": run_mcpmesh, "fastmcp": run_fastmcp}[kind](port)
