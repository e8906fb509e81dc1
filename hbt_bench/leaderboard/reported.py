"""The paper's reported rows (``leaderboard/reported/*.toml``): scores with their source table, as data."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hbt_bench.errors import HbtBenchError

__all__ = ["ReportedError", "load_reported"]


class ReportedError(HbtBenchError):
    """A reported-rows file is unreadable or malformed (file and row named)."""


def load_reported(folder: str | Path) -> list[dict[str, Any]]:
    """Every ``[[row]]`` of every ``*.toml`` in ``folder`` (sorted by file), checked; none if no folder."""
    folder = Path(folder)
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else ():
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ReportedError(f"{path}: not readable TOML ({exc})") from exc
        for i, row in enumerate(doc.get("row", [])):
            scores = row.get("scores")
            if not isinstance(row.get("id"), str) or not isinstance(scores, dict):
                raise ReportedError(f"{path}: row #{i + 1} needs a string id and a [row.scores] table")
            bad = [k for k, v in scores.items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
            if bad:
                raise ReportedError(f"{path}: row {row['id']!r}: non-numeric scores {', '.join(bad)}")
            rows.append({**row, "source": f"{doc.get('source', path.name)}", "file": path.name})
    return rows
