"""What a running service imports before its first call, checked in a fresh interpreter.

Idle RSS is mostly the modules a service has loaded (issue: < 60 MB with auth, metrics
and the bus on), so what only some calls need is imported when it is first needed. Each
check runs in a subprocess: this test process has imported everything long ago.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: What ``mcpmesh serve`` imports, and a service with typed tools only.
SERVE_PATH = textwrap.dedent(
    """
    import json, sys
    import msgspec
    import mcpmesh.cli, mcpmesh.app, mcpmesh.bus.wiring, mcpmesh.auth
    from mcpmesh import Context, Service

    class Echo(msgspec.Struct):
        text: str

    service = Service("idle", version="0")

    @service.tool()
    async def echo(ctx: Context, args: Echo) -> str:
        return args.text

    def loaded(names):
        return {name: name in sys.modules for name in names}
    """
)


def run(code: str) -> dict[str, bool]:
    done = subprocess.run(
        [sys.executable, "-c", SERVE_PATH + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        # No bytecode written: what the test measures must not change the next start.
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_jsonschema_rs_waits_for_a_tool_with_a_raw_schema() -> None:
    """Typed tools are checked by msgspec; jsonschema-rs (its ~5 MB Rust library) is
    imported when a raw ``input_schema=`` is registered, so a bad schema (or a broken
    install) still stops the start rather than the first call."""
    seen = run(
        """
        before = loaded(["jsonschema_rs"])

        @service.tool(input_schema={"type": "object", "properties": {"n": {"type": "integer"}}})
        async def raw(ctx: Context) -> str:
            return "ok"

        print(json.dumps({"before": before["jsonschema_rs"], **loaded(["jsonschema_rs"])}))
        """
    )
    assert seen == {"before": False, "jsonschema_rs": True}


def test_structlog_is_imported_without_rich() -> None:
    """structlog imports rich whenever it is installed (it is here: development tools
    pull it in); mcpmesh never uses it (its log chain formats exceptions itself), so the
    serve path hides it from structlog, and only from structlog."""
    seen = run(
        """
        import importlib.util
        import structlog.dev

        before = loaded(["rich", "pygments"])
        installed = importlib.util.find_spec("rich") is not None
        import rich.console  # still importable by whoever wants it

        print(json.dumps({**before, "installed": installed, "structlog_saw_rich": bool(structlog.dev.rich)}))
        """
    )
    assert seen == {
        "rich": False,
        "pygments": False,
        "installed": True,
        "structlog_saw_rich": False,
    }
