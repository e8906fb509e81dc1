"""Reading JSONL input files with errors that name the file and line (stdlib only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["iter_jsonl"]


def iter_jsonl(path: str | Path, error: type[Exception], what: str = "file") -> Iterator[tuple[str, Any]]:
    """``("<path>, line <n>", parsed value)`` for every non-blank line of ``path``.

    An unreadable file or a line that is not JSON raises ``error`` naming the file (and line); ``what``
    says what the file is for in that message ("table", "external recipe", ...).
    """
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read the {what}: {exc}") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}, line {number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
            except RecursionError:  # the parser's nesting limit (about 1000 levels)
                raise error(f"{where}: JSON nested too deeply") from None
            yield where, value
