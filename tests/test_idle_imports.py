"""What each service has imported once it is built, before any call: what only some calls
need waits for them (idle RSS is mostly loaded modules; target < 60 MB with auth,
metrics and the bus on). Checked in a fresh interpreter per service: this process has
imported everything long ago."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: Imported by a call that needs it, never at start (what it costs idle, in RSS).
EVERY_SERVICE = ["jsonschema_rs", "rich", "pygments"]  # ~5 MB; ~3 MB
LATER = {
    "filesystem": ["wcmatch", "regex", "difflib", "ctypes"],  # ~2.4 MB: searches, edits, moves
    "github": ["jwt"],  # PyJWT: a GitHub App's first token
    "postgres": [],
    "slack": ["slack_sdk"],  # ~3 MB: the first Slack client
    # The fixture has a tool with a raw JSON Schema: jsonschema-rs checks it at start.
    "fixture": [],
}

BUILD = textwrap.dedent(
    """
    import json, sys
    import mcpmesh.app, mcpmesh.bus.wiring, mcpmesh.cli
    from mcpmesh import registry
    from mcpmesh.config import ServerSettings

    service = registry.load_factory(sys.argv[1])(ServerSettings())
    print(json.dumps({"tools": len(service.tools), "loaded": sorted(sys.modules)}))
    """
)


@pytest.mark.parametrize("name", sorted(LATER))
def test_a_built_service_has_not_imported_what_only_calls_need(name: str, tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BUILD, name],
        capture_output=True,
        text=True,
        # No bytecode written: a test must not change how the next start performs.
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MCPMESH_FS_ROOTS": str(tmp_path),
        },
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout)
    assert built["tools"] > 0
    loaded = set(built["loaded"])
    unwanted = LATER[name] + [
        m for m in EVERY_SERVICE if not (name == "fixture" and m == "jsonschema_rs")
    ]
    assert sorted(m for m in unwanted if m in loaded) == []
    if name == "fixture":  # its raw schema is compiled (and so checked) at registration
        assert "jsonschema_rs" in loaded
