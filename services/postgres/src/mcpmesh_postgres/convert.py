"""PostgreSQL values to JSON and JSON arguments to PostgreSQL, without losing meaning.

JSON has one number type and no dates, so some types travel as strings, chosen so that
nothing is rounded or reinterpreted: ``numeric`` as its exact decimal text, timestamps
as ISO 8601 (with the offset for ``timestamptz``), intervals in ISO 8601 duration form
(``P1M2DT3H``: months stay months, unlike a Python ``timedelta``), ``bytea`` as base64,
``uuid`` as text. ``json``/``jsonb`` become JSON values and arrays JSON arrays.
Column types are reported with every result, so a client knows how to read each string.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import ipaddress
import math
import uuid
from typing import Any

import asyncpg
import msgspec

#: Startup settings every pooled connection gets (see :func:`server_settings`).
_INTERVAL_STYLE = "iso_8601"


def _json_encode(value: Any) -> str:
    # A string argument for a json parameter is taken as JSON text already.
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    """Codecs that keep values exact: text for numeric and interval, parsed JSON."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=_json_encode, decoder=msgspec.json.decode
        )
    for name in ("numeric", "interval"):
        await conn.set_type_codec(
            name, schema="pg_catalog", encoder=str, decoder=str, format="text"
        )


def server_settings(
    *, statement_timeout: float, read_only: bool, application_name: str
) -> dict[str, str]:
    """Session settings sent at connect time (``RESET ALL`` on pool release keeps them)."""
    timeout_ms = str(max(1, round(statement_timeout * 1000)))
    return {
        "application_name": application_name,
        "statement_timeout": timeout_ms,
        "lock_timeout": timeout_ms,
        "idle_in_transaction_session_timeout": str(max(1000, int(timeout_ms) * 2)),
        "default_transaction_read_only": "on" if read_only else "off",
        "IntervalStyle": _INTERVAL_STYLE,
    }


def _iso(value: datetime.date | datetime.time) -> str:
    return value.isoformat()


#: Exact types decoded most often, and what each becomes: one dict lookup per value
#: instead of walking the checks below (subclasses and the rest still walk them).
_BY_TYPE: dict[type, Any] = {
    type(None): None,
    bool: None,
    int: None,
    str: None,
    datetime.datetime: _iso,
    datetime.date: _iso,
    datetime.time: _iso,
    decimal.Decimal: str,
    uuid.UUID: str,
}


def to_json(value: Any) -> Any:
    """One decoded PostgreSQL value as a JSON-ready Python value."""
    kind = type(value)
    if kind in _BY_TYPE:
        convert = _BY_TYPE[kind]
        return value if convert is None else convert(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN, Infinity: no JSON number
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _iso_duration(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, asyncpg.Record):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, asyncpg.Range):
        return {
            "lower": to_json(value.lower),
            "upper": to_json(value.upper),
            "lowerInclusive": value.lower_inc,
            "upperInclusive": value.upper_inc,
            "empty": value.isempty,
        }
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return str(value)  # inet, cidr, macaddr, geometric types, bit strings: their text form


def _iso_duration(delta: datetime.timedelta) -> str:
    seconds = delta.total_seconds()
    sign = "-" if seconds < 0 else ""
    days, rest = divmod(abs(seconds), 86400)
    return f"{sign}P{int(days)}DT{rest:g}S"


# ----------------------------------------------------------------- arguments


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        raise ValueError("expected an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("expected an integer")
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    return float(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "t", "yes", "on", "1"):
        return True
    if text in ("false", "f", "no", "off", "0"):
        return False
    raise ValueError("expected true or false")


def _to_timestamp(value: Any) -> datetime.datetime:
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _to_timestamptz(value: Any) -> datetime.datetime:
    moment = _to_timestamp(value)
    if moment.tzinfo is None:
        raise ValueError("timestamptz needs an offset, e.g. 2026-01-01T12:00:00+00:00")
    return moment


def _text(value: Any) -> str:
    return value if isinstance(value, str) else msgspec.json.encode(value).decode()


_SCALARS: dict[str, Any] = {
    "int2": _to_int,
    "int4": _to_int,
    "int8": _to_int,
    "oid": _to_int,
    "float4": _to_float,
    "float8": _to_float,
    "numeric": lambda v: str(v) if not isinstance(v, bool) else _fail("expected a number"),
    "bool": _to_bool,
    "date": lambda v: datetime.date.fromisoformat(str(v)),
    "time": lambda v: datetime.time.fromisoformat(str(v)),
    "timestamp": _to_timestamp,
    "timestamptz": _to_timestamptz,
    "uuid": lambda v: uuid.UUID(str(v)),
    "bytea": lambda v: base64.b64decode(str(v), validate=True),
    "inet": lambda v: ipaddress.ip_interface(str(v)),
    "cidr": lambda v: ipaddress.ip_network(str(v)),
    "json": lambda v: v,
    "jsonb": lambda v: v,
    "interval": str,
    "text": _text,
    "varchar": _text,
    "bpchar": _text,
    "name": _text,
}


def _fail(message: str) -> Any:
    raise ValueError(message)


def to_argument(value: Any, param_type: Any) -> Any:
    """A JSON argument converted for a statement parameter of ``param_type``
    (an asyncpg ``Type``); unknown types get the value unchanged."""
    if value is None:
        return None
    if param_type.kind == "array":
        if not isinstance(value, list):
            raise ValueError("expected a JSON array")
        convert = _SCALARS.get(param_type.name.removesuffix("[]"))
        return [v if v is None or convert is None else convert(v) for v in value]
    convert = _SCALARS.get(param_type.name)
    return value if convert is None else convert(value)


def arguments_for(statement: Any, params: list[Any]) -> list[Any]:
    """All arguments of a prepared statement, or ValueError naming the bad one."""
    expected = statement.get_parameters()
    if len(params) != len(expected):
        raise ValueError(
            f"the statement has {len(expected)} parameter(s) ($1…) but {len(params)} "
            "value(s) were given"
        )
    converted = []
    for index, (value, param_type) in enumerate(zip(params, expected, strict=True), start=1):
        try:
            converted.append(to_argument(value, param_type))
        except (ValueError, TypeError, decimal.InvalidOperation) as exc:
            raise ValueError(
                f"parameter ${index} ({param_type.name}): {exc or 'not convertible'}"
            ) from None
    return converted
