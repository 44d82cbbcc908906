"""Where the server in a data directory is serving, for the commands run beside it.

`shouzhen serve` records its public base URL in `<data dir>/serving.json` once it listens
and removes it when it stops; `shouzhen demo`, another process, reads it so its join links
name the port the server was actually given (`scripts/serve --port 8123`), not the default.
A file left by a killed server names a process that is gone and is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_NAME = "serving.json"


def record(data_dir: Path, base_url: str) -> None:
    """Say that this process serves `base_url` (replacing what an earlier server said)."""
    path = data_dir / FILE_NAME
    temporary = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    temporary.write_text(json.dumps({"base_url": base_url, "pid": os.getpid()}),
                         encoding="utf-8")
    os.replace(temporary, path)  # a reader sees the old file or the new one, never half


def forget(data_dir: Path) -> None:
    """This process stops serving: remove the file if it is still ours (with several
    workers on one data directory, another may have written it since)."""
    path = data_dir / FILE_NAME
    if _read(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def running_base_url(data_dir: Path) -> str | None:
    """The base URL of the server serving from `data_dir`, if one is running."""
    recorded = _read(data_dir / FILE_NAME)
    base_url, pid = recorded.get("base_url"), recorded.get("pid")
    if not isinstance(base_url, str) or not isinstance(pid, int) or pid <= 0 \
            or not _alive(pid):
        return None
    return base_url


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another account
        return True
    return True
