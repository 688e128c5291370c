"""file:// resources through the template, subscriptions, and the example root."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from fs_harness import PNG, SECRET, connect, make_app, ok, open_session
from mcp import types
from mcp.shared.exceptions import MCPError

from mcpmesh.config import ServerSettings
from mcpmesh.testing import eventually, serve_in_background, text_of
from mcpmesh_filesystem.service import create, load_filesystem_settings
from mcpmesh_filesystem.settings import FilesystemSettings

pytestmark = pytest.mark.filterwarnings("ignore:.*(deprecated|removed).*")


async def test_template_and_reads(root: Path) -> None:
    async with connect(make_app([root])) as session:
        templates = (await session.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["file://{+path}"]
        text = await session.read_resource((root / "hello.txt").as_uri())
        assert text.contents[0].text.startswith("hello world")
        assert text.contents[0].mime_type == "text/plain"
        image = await session.read_resource((root / "image.png").as_uri())
        assert base64.b64decode(image.contents[0].blob) == PNG
        assert image.contents[0].mime_type == "image/png"
        spaced = root / "with space é.txt"
        spaced.write_text("spaced")
        assert (await session.read_resource(spaced.as_uri())).contents[0].text == "spaced"
        for uri in (
            (root.parent / "outside" / "secret.txt").as_uri(),
            f"file://{root}/../outside/secret.txt",
            f"file://{root}-evil/secret.txt",
            (root / "missing.txt").as_uri(),
        ):
            with pytest.raises(MCPError) as failure:
                await session.read_resource(uri)
            assert SECRET not in str(failure.value)
        completion = await session.complete(
            types.ResourceTemplateReference(type="ref/resource", uri="file://{+path}"),
            {"name": "path", "value": f"{root}/no"},
        )
        assert completion.completion.values == [f"{root}/notes/"]


def _updates(messages: list[Any]) -> list[str]:
    return [
        str(m.params.uri)
        for m in messages
        if getattr(m, "method", None) == "notifications/resources/updated"
    ]


async def test_subscription_notifies_on_change_and_ends_with_the_session(root: Path) -> None:
    app = make_app([root], watch_interval=0.05)
    uri = (root / "hello.txt").as_uri()
    messages: list[Any] = []
    async with serve_in_background(app) as running:
        watcher = running.state.watcher
        async with open_session(running.url, messages=messages) as session:
            await session.read_resource(uri)
            await session.subscribe_resource(uri)
            await eventually(lambda: uri in watcher.watched, message="never watched")
            assert _updates(messages) == []  # nothing changed yet
            (root / "hello.txt").write_text("changed\n")
            assert await eventually(lambda: _updates(messages)) == [uri]
            assert list(watcher.watched) == [uri]
        # the session is gone (DELETE on exit): nothing is watched any more
        await eventually(lambda: watcher.watched == {}, message="still watched")


async def test_unsubscribe_stops_watching(root: Path) -> None:
    app = make_app([root], watch_interval=0.05)
    uri = (root / "hello.txt").as_uri()
    async with serve_in_background(app) as running, open_session(running.url) as session:
        watcher = running.state.watcher
        await session.subscribe_resource(uri)
        await eventually(lambda: watcher.watched, message="never watched")
        assert list(watcher.watched) == [uri]
        await session.unsubscribe_resource(uri)
        await eventually(lambda: watcher.watched == {}, message="still watched")


async def test_example_root_when_none_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCPMESH_WORKDIR", str(tmp_path / "mesh"))
    monkeypatch.delenv("MCPMESH_FS_ROOTS", raising=False)
    service = create(ServerSettings())
    example = tmp_path / "mesh" / "filesystem-example"
    assert (example / "README.txt").exists()
    assert str(example) in (service.instructions or "")
    assert "example root" in (service.instructions or "")
    async with serve_in_background(service) as running, open_session(running.url) as session:
        allowed = await ok(session, "list_allowed_directories", {})
        assert allowed.structured_content["directories"] == [str(example)]
        assert "example root" in text_of(
            await ok(session, "read_text_file", {"path": "README.txt"})
        )


def test_a_missing_root_stops_the_service_with_a_clear_setting_error(tmp_path: Path) -> None:
    from mcpmesh.config import SettingsError

    with pytest.raises(SettingsError, match="MCPMESH_FS_ROOTS"):
        create(None, fs=FilesystemSettings(roots=[str(tmp_path / "nope")]))


def test_write_is_the_switch_and_the_old_inverse_name_still_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MCPMESH_FS_WRITE", raising=False)
    monkeypatch.delenv("MCPMESH_FS_READ_ONLY", raising=False)
    assert load_filesystem_settings().write is False
    monkeypatch.setenv("MCPMESH_FS_READ_ONLY", "false")  # the inverse: writing on
    assert load_filesystem_settings().write is True
    monkeypatch.setenv("MCPMESH_FS_READ_ONLY", "true")
    assert load_filesystem_settings().write is False
    monkeypatch.setenv("MCPMESH_FS_WRITE", "true")  # the new name wins
    assert load_filesystem_settings().write is True
