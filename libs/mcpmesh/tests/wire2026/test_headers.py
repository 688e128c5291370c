"""SEP-2243 request-metadata headers: every case of the suite's http-header-validation
and http-custom-header-server-validation scenarios, plus the spec's encoding table."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest
from multidict import CIMultiDict

from mcpmesh.protocol.errors import HEADER_MISMATCH
from mcpmesh.protocol.headers import (
    HeaderParam,
    check_param_headers,
    check_standard_headers,
    decode_value,
    encode_value,
    header_params,
)
from mcpmesh.protocol.v2026 import WireError
from mcpmesh.server.schema import object_schema


def mismatch(call: Any, *args: Any) -> str:
    with pytest.raises(WireError) as caught:
        call(*args)
    assert (caught.value.code, caught.value.status) == (HEADER_MISMATCH, 400)
    assert caught.value.message.startswith("Header mismatch: ")
    return caught.value.message


# ---------------------------------------------------------------- value encoding


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("us-west1", "us-west1"),
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
    ],
)
def test_the_spec_encoding_table_round_trips(text: str, encoded: str) -> None:
    assert encode_value(text) == encoded
    assert decode_value(encoded, "Mcp-Param-X") == text


@pytest.mark.parametrize(
    "raw",
    ["SGVsbG8", "=?base64?SGVs", "=?base64?SGVsbG8=", "SGVsbG8?="],
)
def test_values_without_both_markers_are_literal(raw: str) -> None:
    assert decode_value(raw, "Mcp-Param-X") == raw


@pytest.mark.parametrize(
    "raw",
    [
        "=?base64?SGVsbG8?=",  # missing padding
        "=?base64?SGVs!!!bG8=?=",  # not the base64 alphabet
        "=?base64?/w==?=",  # decodes to bytes that are not UTF-8
        "tab\x00null",  # control character in a plain value
        "caf\u00e9",  # non-ASCII must be base64-encoded
    ],
)
def test_malformed_values_are_refused(raw: str) -> None:
    mismatch(decode_value, raw, "Mcp-Param-X")


# ---------------------------------------------------------------- Mcp-Method / Mcp-Name


def hdrs(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({k.replace("_", "-"): v for k, v in values.items()})


def test_matching_standard_headers_pass_case_insensitively_by_name() -> None:
    check_standard_headers(CIMultiDict({"mcp-method": "tools/list"}), "tools/list", {})
    check_standard_headers(CIMultiDict({"MCP-METHOD": "tools/list"}), "tools/list", {})
    check_standard_headers(
        hdrs(Mcp_Method="tools/call", Mcp_Name="  echo  "), "tools/call", {"name": "echo"}
    )


def test_method_header_rules() -> None:
    assert "required" in mismatch(check_standard_headers, CIMultiDict(), "tools/list", {})
    assert "prompts/list" in mismatch(
        check_standard_headers, hdrs(Mcp_Method="prompts/list"), "tools/list", {}
    )
    mismatch(check_standard_headers, hdrs(Mcp_Method="TOOLS/LIST"), "tools/list", {})
    twice = CIMultiDict([("Mcp-Method", "tools/list"), ("mcp-method", "tools/list")])
    assert "2 times" in mismatch(check_standard_headers, twice, "tools/list", {})


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tools/call", {"name": "echo"}),
        ("prompts/get", {"name": "echo"}),
        ("resources/read", {"uri": "test://static-text"}),
    ],
)
def test_name_header_is_required_and_must_match(method: str, params: dict[str, Any]) -> None:
    value = next(iter(params.values()))
    check_standard_headers(hdrs(Mcp_Method=method, Mcp_Name=value), method, params)
    assert "required" in mismatch(check_standard_headers, hdrs(Mcp_Method=method), method, params)
    assert "wrong" in mismatch(
        check_standard_headers, hdrs(Mcp_Method=method, Mcp_Name="wrong"), method, params
    )


def test_name_header_in_base64_form_is_decoded_before_comparing() -> None:
    name = "résumé tool"
    check_standard_headers(
        hdrs(Mcp_Method="tools/call", Mcp_Name=encode_value(name)), "tools/call", {"name": name}
    )


def test_methods_without_a_name_need_no_name_header() -> None:
    check_standard_headers(hdrs(Mcp_Method="server/discover"), "server/discover", {})
    # a missing params.name is the params decoder's -32602, not a header problem
    check_standard_headers(hdrs(Mcp_Method="tools/call"), "tools/call", {})


# ---------------------------------------------------------------- x-mcp-header declarations


SQL_SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "query": {"type": "string"},
        "limits": {
            "type": "object",
            "properties": {
                "rows": {"type": "integer", "x-mcp-header": "Rows"},
                "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"},
            },
        },
    },
    "required": ["region", "query"],
}


def test_header_params_are_found_along_properties_chains() -> None:
    assert header_params("execute_sql", SQL_SCHEMA) == (
        HeaderParam(path=("region",), header="Region", type="string"),
        HeaderParam(path=("limits", "rows"), header="Rows", type="integer"),
        HeaderParam(path=("limits", "dry"), header="Dry-Run", type="boolean"),
    )
    assert header_params("plain", {"type": "object", "properties": {"q": {"type": "string"}}}) == ()


def prop(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"p": schema}}


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        (prop({"type": "number", "x-mcp-header": "P"}), "only string, integer and boolean"),
        (prop({"type": "object", "x-mcp-header": "P"}), "only string, integer and boolean"),
        (prop({"type": "string", "x-mcp-header": ""}), "not an HTTP token"),
        (prop({"type": "string", "x-mcp-header": "Bad Name"}), "not an HTTP token"),
        (prop({"type": "string", "x-mcp-header": "a\r\nb"}), "not an HTTP token"),
        (
            prop({"type": "array", "items": {"type": "string", "x-mcp-header": "P"}}),
            "not reachable",
        ),
        (prop({"oneOf": [{"type": "string", "x-mcp-header": "P"}]}), "not reachable"),
        (
            {"type": "object", "$defs": {"d": {"type": "string", "x-mcp-header": "P"}}},
            "not reachable",
        ),
        (
            {
                "type": "object",
                "if": {"properties": {"p": {"type": "string", "x-mcp-header": "P"}}},
            },
            "not reachable",
        ),
        ({"type": "string", "x-mcp-header": "P"}, "not reachable"),
        (
            {
                "type": "object",
                "properties": {
                    "a": {"type": "string", "x-mcp-header": "Region"},
                    "b": {"type": "string", "x-mcp-header": "region"},
                },
            },
            "declared twice",
        ),
    ],
)
def test_invalid_declarations_are_refused_at_registration(
    schema: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        header_params("t", schema)
    assert "tool 't'" in str(caught.value)


# ---------------------------------------------------------------- Mcp-Param-* values


PARAMS = header_params("execute_sql", SQL_SCHEMA)


def test_param_headers_that_match_pass() -> None:
    check_param_headers(
        hdrs(
            Mcp_Param_Region="us-west1",
            mcp_param_rows="42.0",
            MCP_PARAM_DRY_RUN="true",
            Mcp_Param_Unknown="ignored",
        ),
        PARAMS,
        {"region": "us-west1", "query": "q", "limits": {"rows": 42, "dry": True}},
    )
    check_param_headers(
        hdrs(Mcp_Param_Region="=?base64?SGVsbG8=?="), PARAMS, {"region": "Hello", "query": "q"}
    )


def test_absent_or_null_arguments_expect_no_header() -> None:
    check_param_headers(CIMultiDict(), PARAMS, {"query": "q", "region": None})
    message = mismatch(check_param_headers, hdrs(Mcp_Param_Region="us"), PARAMS, {"query": "q"})
    assert "absent" in message


@pytest.mark.parametrize(
    ("headers", "arguments", "problem"),
    [
        ({}, {"region": "us"}, "Mcp-Param-Region header is required"),
        ({"Mcp-Param-Region": "eu"}, {"region": "us"}, "does not match arguments.region"),
        (
            {"Mcp-Param-Region": "us", "Mcp-Param-Rows": "43"},
            {"region": "us", "limits": {"rows": 42}},
            "arguments.limits.rows",
        ),
        (
            {"Mcp-Param-Region": "us", "Mcp-Param-Rows": "forty"},
            {"region": "us", "limits": {"rows": 42}},
            "arguments.limits.rows",
        ),
        (
            {"Mcp-Param-Region": "us", "Mcp-Param-Dry-Run": "True"},
            {"region": "us", "limits": {"dry": True}},
            "arguments.limits.dry",
        ),
        (
            {"Mcp-Param-Region": "=?base64?SGVsbG8?="},
            {"region": "Hello"},
            "not valid =?base64?",
        ),
        ({"Mcp-Param-Region": "42"}, {"region": 42}, "arguments.region"),
    ],
)
def test_param_header_mismatches(
    headers: dict[str, str], arguments: dict[str, Any], problem: str
) -> None:
    assert problem in mismatch(check_param_headers, CIMultiDict(headers), PARAMS, arguments)


class Query(msgspec.Struct):
    region: Annotated[str, msgspec.Meta(extra_json_schema={"x-mcp-header": "Region"})]
    query: str


def test_a_struct_field_declares_a_header_as_the_readme_says() -> None:
    assert header_params("execute_sql", object_schema(Query)) == (
        HeaderParam(path=("region",), header="Region", type="string"),
    )
