"""``python -m bench [AREA ...] [--long] [--auth]``: run the benchmarks (all areas by
default), protocol first. Flags pass through to the areas: ``--long``: the audit benchmark
runs 60 s instead of 15; ``--auth``: the mesh columns of the protocol benchmark (and the
services of the startup one) check a JWT on every call."""

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
    # Flags (e.g. `audit --long`) are for the areas, which read them from sys.argv.
    chosen = [a for a in argv if not a.startswith("-")] or areas()
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
