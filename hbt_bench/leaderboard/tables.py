"""The board as tables: Markdown (LEADERBOARD.md, the README sections) and the terminal (plain or rich).

One table per column group; measured rows first, ranked by the group's pooled (multi) column (the baseline
marked), each cell the value and, for every
other measured row, its difference from the baseline: ``*`` where the Holm-corrected paired test is
significant, no mark where it is not, and ``(n.t.)`` where no test was possible (no per-query scores on
both sides). The paper's reported rows follow in a table of their own: never ranked with measured rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["group_tables", "markdown", "ranking_column", "terminal"]

GROUP_TITLES = {"clean": "Clean", "adversarial": "Adversarial (HBT-Adv)", "domain-shift": "Domain shift"}


def _fmt(value: float | None, column: Mapping[str, Any]) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if column["setting"] == "language_bias" else f"{value:.4f}"


def _cell(row: Mapping[str, Any], column: Mapping[str, Any], base: Mapping[str, Any] | None) -> str:
    cid = column["id"]
    value = row["scores"].get(cid)
    text = _fmt(value, column)
    if base is None or row is base or row["kind"] != "measured" or value is None:
        return text
    other = base["scores"].get(cid)
    if other is None:
        return text
    diff = (row.get("diff") or {}).get(cid)
    delta = value - other
    digits = 1 if column["setting"] == "language_bias" else 4
    if diff is None:
        return f"{text} ({delta:+.{digits}f} n.t.)"
    return f"{text} ({delta:+.{digits}f}{'*' if diff['significant'] else ''})"


def ranking_column(columns: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The column a group's measured rows are ranked by: its first pooled (multi) column, the paper's hardest
    setting (every language competes in one candidate pool), else its first column."""
    return next((c for c in columns if c.get("setting") == "multi"), columns[0])


def _ranked(rows: Sequence[Mapping[str, Any]], column: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Best first by ``column`` (its direction), rows without a value last; ties keep board order."""
    sign = -1.0 if column["higher_is_better"] else 1.0
    scored = [r for r in rows if r["scores"].get(column["id"]) is not None]
    unscored = [r for r in rows if r["scores"].get(column["id"]) is None]
    return sorted(scored, key=lambda r: sign * r["scores"][column["id"]]) + unscored


def group_tables(board: Mapping[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per column group and kind; measured rows ranked by the group's
    :func:`ranking_column`, reported rows in board order (never ranked)."""
    rows = board["rows"]
    base = next((r for r in rows if r["id"] == board.get("baseline")), None)
    out = []
    for group, title in GROUP_TITLES.items():
        columns = [c for c in board["columns"] if c["group"] == group]
        if not columns:
            continue
        for kind, suffix in (("measured", ""), ("reported", " — reported in the paper (not ranked)")):
            chosen = [
                r
                for r in rows
                if r["kind"] == kind and any(r["scores"].get(c["id"]) is not None for c in columns)
            ]
            if not chosen:
                continue
            if kind == "measured":
                key = ranking_column(columns)
                chosen = _ranked(chosen, key)
                suffix = f" (ranked by {key['label']})"
            header = ["model", *(c["label"] for c in columns)]
            body = []
            for row in chosen:
                name = row.get("label") or row["name"]
                if row.get("is_baseline"):
                    name += " (baseline)"
                body.append([name, *(_cell(row, c, base) for c in columns)])
            out.append((title + suffix, header, body))
    return out


def _md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    esc = [[cell.replace("|", "\\|") for cell in line] for line in [header, *body]]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(line) + " |" for line in esc[1:]]
    return "\n".join(lines)


def markdown(board: Mapping[str, Any], *, heading_level: int = 2) -> str:
    """The tables as Markdown, with a legend naming the test."""
    h = "#" * heading_level
    base = board.get("baseline")
    parts = [
        f"Baseline: `{base}`. " if base else "No baseline row in the registry. ",
    ]
    parts[0] += (
        "Cells: value (difference from the baseline; `*` significant, `n.t.` not tested: per-query "
        f"scores missing on a side). Test: {board['tests']}. Language bias (RD): lower is better."
    )
    for title, header, body in group_tables(board):
        parts.append(f"{h} {title}\n\n{_md_table(header, body)}")
    return "\n\n".join(parts) + "\n"


def terminal(board: Mapping[str, Any], *, use_rich: bool | None = None) -> str:
    """The same tables for a terminal: ``rich`` tables when installed (or asked), else plain columns."""
    if use_rich is None:
        try:
            import rich  # noqa: F401

            use_rich = True
        except ImportError:
            use_rich = False
    if use_rich:
        from rich.console import Console
        from rich.table import Table

        console = Console(record=True, width=200)
        for title, header, body in group_tables(board):
            table = Table(title=title)
            for name in header:
                table.add_column(name)
            for line in body:
                table.add_row(*line)
            console.print(table)
        return console.export_text()
    out = []
    for title, header, body in group_tables(board):
        widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
        out.append(title)
        for line in [header, *body]:
            out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        out.append("")
    out.append(f"test: {board['tests']}")
    return "\n".join(out) + "\n"
