"""How to write ``mcpmesh`` in a hint so that it runs as typed.

After ``make run`` the command lives in ``.venv/bin`` and is not on ``PATH``: a hint
saying ``mcpmesh secrets set …`` would answer "command not found".
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def mcpmesh_command(cwd: Path | None = None) -> str:
    """``mcpmesh`` when that is what ``PATH`` finds, else the script's path (relative to
    ``cwd`` when it is below it, e.g. ``.venv/bin/mcpmesh``), else ``python -m mcpmesh``."""
    script = Path(sys.executable).parent / "mcpmesh"
    if not script.exists():
        return f"{sys.executable} -m mcpmesh"
    found = shutil.which("mcpmesh")
    if found is not None and Path(found).resolve() == script.resolve():
        return "mcpmesh"
    cwd = (cwd or Path.cwd()).resolve()
    try:
        return os.path.join(".", str(script.absolute().relative_to(cwd))).removeprefix("./")
    except ValueError:
        return str(script)
