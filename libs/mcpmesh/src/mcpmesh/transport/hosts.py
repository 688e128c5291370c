"""Strict parsing of ``Host`` and ``Origin`` for the DNS-rebinding guard.

A lenient split (``rsplit(":")``, ``urlsplit().netloc``) lets ``localhost:1@evil.com``
or ``[::1]evil.com`` through as "localhost". Here a value is accepted only when it is
exactly what RFC 3986 allows: a host (``[IPv6]``, IPv4 or a reg-name) and an optional
port of digits; an Origin (RFC 6454) is ``scheme://host[:port]`` and nothing more: no
userinfo, path, query or fragment.
"""

from __future__ import annotations

import functools
import ipaddress
import re

#: RFC 3986 reg-name: unreserved / pct-encoded / sub-delims, at least one.
_REG_NAME = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+"
_AUTHORITY = re.compile(
    rf"\[(?P<ip6>[0-9A-Fa-f:.]+)\](?::[0-9]{{1,5}})?|(?P<name>{_REG_NAME})(?::[0-9]{{1,5}})?"
)
_ORIGIN = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)/?")


# Pure functions of one header value, asked on every request with the same few values.
@functools.lru_cache(maxsize=256)
def host_name(authority: str) -> str | None:
    """The lower-cased host of ``host[:port]`` (IPv6 as ``[::1]``, normalized), or
    ``None`` when the value is not exactly an RFC 3986 host and optional port."""
    match = _AUTHORITY.fullmatch(authority.strip())
    if match is None:
        return None
    ip6 = match.group("ip6")
    if ip6 is None:
        return match.group("name").lower()
    try:
        return f"[{ipaddress.IPv6Address(ip6).compressed}]"
    except ValueError:
        return None


@functools.lru_cache(maxsize=256)
def origin_host(origin: str) -> str | None:
    """The host an ``Origin`` names (``scheme://host[:port]``), or ``None`` if it is
    anything else (``null``, userinfo, a path, a bad host)."""
    match = _ORIGIN.fullmatch(origin.strip())
    if match is None:
        return None
    return host_name(match.group("authority"))
