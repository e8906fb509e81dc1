"""Plain-text formatting of scores shared by every printed table (CLI, training summaries, attack reports)."""

from __future__ import annotations


def fmt_score(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or ``-`` for a score that does not exist (a skipped setting)."""
    return "-" if value is None else f"{value:.{digits}f}"
