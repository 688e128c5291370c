"""Reading a handler's signature: ``(ctx[, args: SomeStruct]) -> ReturnType``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

_MISSING = object()


def _resolve(handler: Callable[..., Any], annotation: Any, what: str, label: str) -> Any:
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, handler.__globals__)  # the module's own annotation text
    except Exception as exc:
        raise TypeError(
            f"{label}: cannot resolve the {what} annotation {annotation!r} ({exc}); "
            "define argument and result types at module level"
        ) from None


def handler_types(handler: Callable[..., Any], label: str) -> tuple[type | None, Any]:
    """The arguments type (second parameter, if any) and the return annotation.

    Only these two are resolved: the first parameter is always the Context, and a
    handler defined inside a factory may name it through a local import.
    """
    parameters = list(inspect.signature(handler).parameters.values())
    if not parameters:
        raise TypeError(f"{label}: the handler must take the Context as its first argument")
    args_type = None
    if len(parameters) > 1:
        if parameters[1].annotation is inspect.Parameter.empty:
            raise TypeError(f"{label}: annotate the arguments parameter with a Struct type")
        args_type = _resolve(handler, parameters[1].annotation, "arguments", label)
    returned = handler.__annotations__.get("return", _MISSING)
    return_type = None if returned is _MISSING else _resolve(handler, returned, "return", label)
    return args_type, return_type
