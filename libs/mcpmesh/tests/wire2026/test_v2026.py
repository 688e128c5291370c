"""The 2026-07-28 wire types and the per-request era and version rules, as the
conformance suite's server-stateless scenario exercises them."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from multidict import CIMultiDict

from mcpmesh.protocol import errors, versions
from mcpmesh.protocol.types import (
    CreateMessageParams,
    ElicitParams,
    Implementation,
    ListChanged,
    ResourcesCapability,
    SamplingMessage,
    ServerCapabilities,
    TextContent,
)
from mcpmesh.protocol.v2026 import (
    CacheHints,
    DiscoverResult,
    ElicitInput,
    Era,
    InputRequiredResult,
    ListenParams,
    RootsInput,
    SamplingInput,
    SubscriptionFilter,
    WireError,
    acknowledgement,
    check_meta,
    complete_fields,
    decode_envelope,
    input_capability,
    listen_closed,
    request_era,
)

V = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": V,
    "io.modelcontextprotocol/clientCapabilities": {},
}


def envelope(params: dict[str, Any]):
    return decode_envelope(msgspec.Raw(msgspec.json.encode(params)))


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in values.items()})


def refused(headers_: CIMultiDict[str], params: dict[str, Any]) -> WireError:
    with pytest.raises(WireError) as caught:
        check_meta(headers_, envelope(params))
    return caught.value


# ---------------------------------------------------------------- era


@pytest.mark.parametrize(
    ("hdrs", "params", "era"),
    [
        ({}, {"protocolVersion": "2025-11-25", "capabilities": {}}, Era.LEGACY),  # initialize
        ({"MCP-Protocol-Version": "2025-11-25"}, {}, Era.LEGACY),
        ({"MCP-Protocol-Version": "2025-06-18"}, {"_meta": {"progressToken": 1}}, Era.LEGACY),
        ({"MCP-Protocol-Version": "2024-11-05"}, {}, Era.LEGACY),
        ({"MCP-Protocol-Version": V}, {}, Era.MODERN),  # missing _meta: -32602 later
        ({"MCP-Protocol-Version": "v999.0.0"}, {}, Era.MODERN),  # unknown: -32022 later
        ({}, {"_meta": META}, Era.MODERN),  # missing header: -32020 later
        ({"Mcp-Session-Id": "abc"}, {"_meta": META}, Era.MODERN),  # session id ignored
        (
            {"MCP-Protocol-Version": "2025-11-25"},
            {"_meta": {"io.modelcontextprotocol/clientCapabilities": {}}},
            Era.MODERN,
        ),
    ],
)
def test_request_era(hdrs: dict[str, str], params: dict[str, Any], era: Era) -> None:
    assert request_era(CIMultiDict(hdrs), envelope(params).meta or None) is era


def test_get_and_delete_decide_from_the_header_alone() -> None:
    assert request_era(CIMultiDict({"mcp-protocol-version": V}), None) is Era.MODERN
    assert request_era(CIMultiDict({"mcp-protocol-version": "2025-11-25"}), None) is Era.LEGACY
    assert request_era(CIMultiDict(), None) is Era.LEGACY


def test_a_version_header_sent_twice_is_modern_so_it_can_be_refused() -> None:
    twice = CIMultiDict([("MCP-Protocol-Version", V), ("MCP-Protocol-Version", V)])
    assert request_era(twice, None) is Era.MODERN
    error = refused(twice, {"_meta": META})
    assert (error.code, error.status) == (errors.HEADER_MISMATCH, 400)


# ---------------------------------------------------------------- version rules


def test_a_valid_request_yields_its_metadata() -> None:
    params = {
        "_meta": {
            **META,
            "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
            "io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"},
            "io.modelcontextprotocol/logLevel": "debug",
            "progressToken": "p1",
        }
    }
    request = check_meta(headers(MCP_Protocol_Version=f"  {V} "), envelope(params))
    assert request.protocol_version == V
    assert request.capabilities.sampling is not None and request.capabilities.elicitation is None
    assert request.client_info == Implementation(name="c", version="1")
    assert (request.log_level, request.progress_token) == ("debug", "p1")


def test_client_info_and_log_level_are_optional() -> None:
    request = check_meta(headers(MCP_Protocol_Version=V), envelope({"_meta": META}))
    assert request.client_info is None and request.log_level is None


def test_missing_header_is_a_header_mismatch() -> None:
    error = refused(CIMultiDict(), {"_meta": META})
    assert (error.code, error.status) == (-32020, 400)
    assert "MCP-Protocol-Version" in error.message


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({}, "_meta"),
        (
            {"_meta": {"io.modelcontextprotocol/clientCapabilities": {}}},
            "io.modelcontextprotocol/protocolVersion",
        ),
        (
            {"_meta": {"io.modelcontextprotocol/protocolVersion": V}},
            "io.modelcontextprotocol/clientCapabilities",
        ),
    ],
)
def test_missing_required_meta_is_invalid_params_400(params: dict[str, Any], missing: str) -> None:
    error = refused(headers(MCP_Protocol_Version=V), params)
    assert (error.code, error.status) == (errors.INVALID_PARAMS, 400)
    assert missing in error.message


def test_header_disagreeing_with_meta_is_a_mismatch_before_the_version_check() -> None:
    params = {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "v999.0.0"}}
    error = refused(headers(MCP_Protocol_Version=V), params)
    assert (error.code, error.status) == (-32020, 400)


def test_unsupported_version_lists_what_we_speak() -> None:
    params = {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "v999.0.0"}}
    error = refused(headers(MCP_Protocol_Version="v999.0.0"), params)
    assert (error.code, error.status) == (errors.UNSUPPORTED_PROTOCOL_VERSION, 400)
    assert error.data == {"supported": versions.all_supported(), "requested": "v999.0.0"}
    assert versions.all_supported()[0] == V and "2025-11-25" in versions.all_supported()


def test_a_legacy_version_in_meta_is_unsupported_on_the_stateless_wire() -> None:
    params = {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "2025-11-25"}}
    error = refused(headers(MCP_Protocol_Version="2025-11-25"), params)
    assert error.code == errors.UNSUPPORTED_PROTOCOL_VERSION


@pytest.mark.parametrize(
    "meta",
    [
        {**META, "io.modelcontextprotocol/logLevel": "verbose"},
        {**META, "io.modelcontextprotocol/clientCapabilities": "all"},
        {**META, "io.modelcontextprotocol/protocolVersion": 20260728},
    ],
)
def test_ill_typed_reserved_meta_is_invalid_params_400(meta: dict[str, Any]) -> None:
    with pytest.raises(WireError) as caught:
        envelope({"_meta": meta})
    assert (caught.value.code, caught.value.status) == (errors.INVALID_PARAMS, 400)


def test_envelope_ignores_vendor_meta_and_reads_mrtr_fields() -> None:
    env = envelope(
        {
            "_meta": {**META, "com.example/trace": {"x": 1}, "traceparent": "00-ab-cd-01"},
            "name": "t",
            "inputResponses": {"a": {"action": "accept"}},
            "requestState": "s",
        }
    )
    assert env.name == "t" and env.request_state == "s"
    assert env.meta and env.meta.traceparent == "00-ab-cd-01"
    assert msgspec.json.decode(env.input_responses["a"]) == {"action": "accept"}


def test_non_object_input_responses_are_invalid_params() -> None:
    for bad in (None, 12, {"user_name": 12345}):
        with pytest.raises(WireError):
            envelope({"_meta": META, "inputResponses": bad})


# ---------------------------------------------------------------- versions.py rules


def test_era_rules_in_versions() -> None:
    assert versions.method_exists("server/discover", V)
    assert not versions.method_exists("server/discover", "2025-11-25")
    for removed in ("initialize", "ping", "logging/setLevel", "resources/subscribe"):
        assert not versions.method_exists(removed, V)
        assert versions.method_exists(removed, "2025-11-25")
    assert versions.resource_not_found_code(V) == -32602
    assert versions.resource_not_found_code("2025-11-25") == -32002
    assert versions.asks_through_results(V) and not versions.asks_through_results("2025-11-25")
    assert not versions.logs_without_level(V) and versions.logs_without_level("2025-06-18")
    assert [
        m
        for m in ("tools/call", "tools/list", "prompts/get", "resources/read")
        if versions.may_require_input(m)
    ] == ["tools/call", "prompts/get", "resources/read"]


def test_modern_http_statuses() -> None:
    assert errors.modern_http_status(errors.METHOD_NOT_FOUND) == 404
    for code in (-32020, -32021, -32022, errors.PARSE_ERROR, errors.INVALID_REQUEST):
        assert errors.modern_http_status(code) == 400
    assert errors.modern_http_status(errors.INVALID_PARAMS) == 200
    assert errors.modern_http_status(errors.INTERNAL_ERROR) == 200


def test_error_constructors_carry_the_spec_data() -> None:
    missing = errors.missing_client_capability({"sampling": {}}, "needs sampling")
    assert missing.code == -32021 and missing.data == {"requiredCapabilities": {"sampling": {}}}
    assert errors.header_mismatch("x").message == "Header mismatch: x"


# ---------------------------------------------------------------- results


SERVER = Implementation(name="fixture", version="1.0")


def test_discover_result_on_the_wire() -> None:
    result = DiscoverResult(
        supported_versions=versions.all_supported(),
        capabilities=ServerCapabilities(tools=ListChanged(list_changed=True)),
        ttl_ms=60_000,
        cache_scope="public",
        instructions="use it",
        meta={"io.modelcontextprotocol/serverInfo": SERVER},
    )
    wire = msgspec.json.decode(msgspec.json.encode(result))
    assert wire == {
        "supportedVersions": versions.all_supported(),
        "capabilities": {"tools": {"listChanged": True}},
        "ttlMs": 60_000,
        "cacheScope": "public",
        "instructions": "use it",
        "resultType": "complete",
        "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "fixture", "version": "1.0"}},
    }


def test_complete_fields_add_cache_hints_only_where_the_spec_wants_them() -> None:
    listed = complete_fields("tools/list", SERVER, CacheHints(ttl_ms=300_000, cache_scope="public"))
    assert listed["ttlMs"] == 300_000 and listed["cacheScope"] == "public"
    assert listed["resultType"] == "complete"
    retry = complete_fields("resources/read", SERVER, None)
    assert (retry["ttlMs"], retry["cacheScope"]) == (0, "private")
    called = complete_fields("tools/call", SERVER, CacheHints(ttl_ms=5))
    assert "ttlMs" not in called and "cacheScope" not in called
    with pytest.raises(ValueError, match="ttlMs"):
        CacheHints(ttl_ms=-1)


def test_input_required_result_on_the_wire() -> None:
    result = InputRequiredResult(
        input_requests={
            "user_name": ElicitInput(
                params=ElicitParams(
                    message="What is your name?",
                    requested_schema={"type": "object", "properties": {"name": {"type": "string"}}},
                )
            ),
            "capital": SamplingInput(
                params=CreateMessageParams(
                    messages=[SamplingMessage(role="user", content=TextContent("Capital?"))],
                    max_tokens=100,
                )
            ),
            "roots": RootsInput(),
        },
        request_state="sealed",
    )
    wire = msgspec.json.decode(msgspec.json.encode(result))
    assert wire["resultType"] == "input_required" and wire["requestState"] == "sealed"
    assert wire["inputRequests"]["user_name"]["method"] == "elicitation/create"
    assert wire["inputRequests"]["capital"] == {
        "method": "sampling/createMessage",
        "params": {
            "messages": [{"role": "user", "content": {"type": "text", "text": "Capital?"}}],
            "maxTokens": 100,
        },
    }
    assert wire["inputRequests"]["roots"] == {"method": "roots/list"}
    assert [input_capability(r) for r in result.input_requests.values()] == [
        "elicitation",
        "sampling",
        "roots",
    ]
    with pytest.raises(ValueError, match="inputRequests or requestState"):
        InputRequiredResult()


def test_listen_filter_acknowledges_only_what_the_server_serves() -> None:
    params = msgspec.json.decode(
        b'{"notifications": {"toolsListChanged": true, "promptsListChanged": true,'
        b' "resourceSubscriptions": ["test://a"]}}',
        type=ListenParams,
    )
    capabilities = ServerCapabilities(
        tools=ListChanged(list_changed=True),
        prompts=ListChanged(),
        resources=ResourcesCapability(subscribe=True),
    )
    honoured = params.notifications.honoured(capabilities)
    assert honoured == SubscriptionFilter(
        tools_list_changed=True, resource_subscriptions=["test://a"]
    )
    assert honoured.wants("notifications/tools/list_changed")
    assert not honoured.wants("notifications/prompts/list_changed")
    assert honoured.wants("notifications/resources/updated", "test://a")
    assert not honoured.wants("notifications/resources/updated", "test://b")
    assert not honoured.wants("notifications/message")
    ack = msgspec.json.decode(msgspec.json.encode(acknowledgement(7, honoured)))
    assert ack == {
        "_meta": {"io.modelcontextprotocol/subscriptionId": 7},
        "notifications": {"toolsListChanged": True, "resourceSubscriptions": ["test://a"]},
    }
    assert listen_closed("s1") == {
        "resultType": "complete",
        "_meta": {"io.modelcontextprotocol/subscriptionId": "s1"},
    }
