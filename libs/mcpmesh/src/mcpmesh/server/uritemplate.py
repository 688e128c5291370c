"""RFC 6570 URI templates, the subset MCP resource templates use.

``{name}`` matches one path segment (no ``/``); ``{+name}`` and ``{/name*}``-free
reserved expansion ``{+name}`` match across segments, which is what a file path needs.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_EXPRESSION = re.compile(r"\{(\+?)([A-Za-z0-9_]+)\}")


class UriTemplate:
    """A compiled template that matches concrete URIs and extracts their variables."""

    def __init__(self, template: str) -> None:
        self.template = template
        pattern = []
        pos = 0
        self.variables: list[str] = []
        for match in _EXPRESSION.finditer(template):
            pattern.append(re.escape(template[pos : match.start()]))
            reserved, name = match.groups()
            self.variables.append(name)
            pattern.append(f"(?P<{name}>.+)" if reserved else f"(?P<{name}>[^/?#]+)")
            pos = match.end()
        pattern.append(re.escape(template[pos:]))
        self._regex = re.compile("".join(pattern))

    def match(self, uri: str) -> dict[str, str] | None:
        found = self._regex.fullmatch(uri)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}
