"""The service and the double against the official Slack SDK, generated from Slack's API
description: every method and argument used must exist there, and the double serves
nothing else."""

from __future__ import annotations

import ast
import functools
import inspect
from pathlib import Path

from slack_double import METHODS
from slack_sdk.web import async_client
from slack_sdk.web.async_client import AsyncWebClient

import mcpmesh_slack.slack as slack_module


@functools.cache
def sdk_methods() -> dict[str, str]:
    """Slack API method name (``users.profile.get``) → SDK method (``users_profile_get``),
    read from the SDK's source: each method passes its Slack name to ``api_call``."""
    tree = ast.parse(inspect.getsource(async_client))
    client_class = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == AsyncWebClient.__name__
    )
    index: dict[str, str] = {}
    for method in client_class.body:
        if not isinstance(method, ast.AsyncFunctionDef) or method.name.startswith("_"):
            continue
        for node in ast.walk(method):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "api_call"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                index.setdefault(str(node.args[0].value), method.name)
                break
    return index


def keyword_parameters(sdk_method: str) -> set[str]:
    signature = inspect.signature(getattr(AsyncWebClient, sdk_method))
    return {
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


def service_calls() -> list[tuple[str, set[str]]]:
    """Every ``client.<method>(keyword=...)`` in the module that talks to Slack."""
    tree = ast.parse(Path(slack_module.__file__).read_text())
    calls = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "client"
        ):
            assert all(k.arg for k in node.keywords), "no **kwargs: every argument is named"
            calls.append((node.func.attr, {k.arg for k in node.keywords if k.arg}))
    return calls


def test_the_sdk_index_is_real() -> None:
    index = sdk_methods()
    assert len(index) > 200  # the SDK covers the Web API, not a handful of methods
    assert index["chat.postMessage"] == "chat_postMessage"


def test_every_call_the_service_makes_exists_in_the_sdk() -> None:
    calls = service_calls()
    assert len(calls) == 11
    by_api = {sdk: api for api, sdk in sdk_methods().items()}
    for method, keywords in calls:
        assert method in by_api, f"AsyncWebClient has no method {method}"
        unknown = keywords - keyword_parameters(method)
        assert not unknown, f"{method} takes no argument(s) {unknown}"


def test_the_double_serves_exactly_the_methods_the_service_uses() -> None:
    index = sdk_methods()
    called = {method for method, _ in service_calls()}
    used = {api for api, sdk in index.items() if sdk in called}
    assert set(METHODS) == used
    for api_method, spec in METHODS.items():
        assert api_method in index, f"the double serves {api_method}, unknown to the SDK"
        unknown = spec.args - keyword_parameters(index[api_method])
        assert not unknown, f"the double accepts {unknown} for {api_method}; the SDK does not"
