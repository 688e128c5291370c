"""``python -m bench [AREA ...] [--FLAG ...]``: run the benchmarks (all areas by default),
protocol first. Flags pass through to the areas (``--auth``: the mesh columns of the
protocol benchmark check a JWT on every call)."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def areas() -> list[str]:
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_")
    )
    return sorted(names, key=lambda name: name != "protocol")


def main(argv: list[str]) -> int:
    chosen = [a for a in argv if not a.startswith("--")] or areas()
    unknown = set(chosen) - set(areas())
    if unknown:
        print(
            f"unknown benchmark area(s): {', '.join(sorted(unknown))}; known: {', '.join(areas())}"
        )
        return 2
    status = 0
    for name in chosen:
        print(f"\n=== bench: {name} ===", flush=True)
        status |= importlib.import_module(f"bench.{name}").main()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
