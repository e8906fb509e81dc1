"""The leaderboard's static site: ``index.html`` (+ ``plotly.min.js`` beside it) from a board document.

Why a static page: it opens from disk (``file://``) with no server and no network, so the board can be
read anywhere, archived with the results, and checked in headless Chromium. Everything the page runs is
inline or beside it; a Content-Security-Policy allows only our own inline scripts (by hash) and the
plotly.js file beside the page, so even a name that slipped past escaping could neither run script nor
reach the network. The charts are plotly's offline HTML (one copy of plotly.js, written beside the page);
the table is server-rendered HTML with a few dozen lines of vanilla JS for sorting and filtering.

The board document is the contract with :mod:`hbt_bench.leaderboard.board` (``board.json``). What the
site reads (anything else is ignored; every string is escaped, model names being user input):

- ``schema`` (1), ``generated`` (shown as is), ``baseline`` (a row id or null), ``tests`` (the note that
  names the paired test);
- ``columns``: ``id``, ``label``, ``group`` (each group gets a show/hide box), ``higher_is_better``;
- ``rows``: ``id``, ``name`` (``label`` shown instead when given), ``revision``, ``kind`` ("measured" rows
  form the sortable table, "reported" rows a table of their own, never ranked with them), ``is_baseline``,
  ``trained_here``, ``description`` / ``spec`` / ``license`` / ``n_parameters``, ``scores`` {column: value
  or null}, ``diff`` {column: {delta, ci, p, p_holm, significant} or null}: a null diff beside two scores
  shows the plain difference without a mark;
- optional ``heatmaps`` [{row, task, languages, values[query][candidate]}], ``robustness`` [{row, task,
  recipe, strength, map, clean_map}] and ``alpha_sweep`` [{base, alpha, seed, metric, value}]: points
  with a null strength, alpha or value cannot be placed and are left out.

The output is a pure function of the board and the installed plotly version: no timestamps, fixed plot ids.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import statistics
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbt_bench.errors import HbtBenchError
from hbt_bench.formatting import fmt_score

__all__ = ["INDEX", "PLOTLY_JS", "SCHEMA", "BoardFormatError", "write_site"]

SCHEMA = 1
INDEX = "index.html"
PLOTLY_JS = "plotly.min.js"


class BoardFormatError(HbtBenchError, ValueError):
    """A board document breaks the schema the site reads (missing field, wrong type, unknown row/column)."""


# --------------------------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class _Column:
    id: str
    label: str
    group: str
    task: str
    higher_is_better: bool


@dataclass(frozen=True)
class _Row:
    index: int
    id: str
    name: str
    label: str
    revision: str | None
    kind: str
    is_baseline: bool
    trained_here: bool
    description: str | None
    spec: str | None
    license: str | None
    n_parameters: float | None
    scores: dict[str, float | None]
    diff: dict[str, dict[str, Any] | None]


def _fail(where: str, message: str) -> BoardFormatError:
    return BoardFormatError(f"board{where}: {message}")


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _fail(where, f"missing field {key!r}")
    return obj[key]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise _fail(where, f"expected a list, got {type(value).__name__}")
    return value


def _str(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(where, f"expected a non-empty string, got {value!r}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"expected true or false, got {value!r}")
    return value


def _num(value: Any, where: str) -> float | None:
    """A finite number or None (not measured); booleans and NaN are refused (they mean a bug upstream)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"expected a finite number or null, got {value!r}")
    return float(value)


def _entries_with_ids(
    board: Mapping[str, Any], key: str, what: str
) -> Iterator[tuple[int, str, Mapping, str]]:
    """``board[key]``'s items as (index, where, mapping, id), refusing a repeated id (columns and rows)."""
    seen: set[str] = set()
    for i, raw in enumerate(_list(_get(board, key, ""), f"[{key!r}]")):
        where = f"[{key!r}][{i}]"
        item = _mapping(raw, where)
        item_id = _str(_get(item, "id", where), f"{where}['id']")
        if item_id in seen:
            raise _fail(f"{where}['id']", f"{what} {item_id!r} appears twice")
        seen.add(item_id)
        yield i, where, item, item_id


def _optional_entries(board: _Board, key: str) -> Iterator[tuple[str, Mapping]]:
    """``board[key]``'s items as (where, mapping); the key may be absent (a board without that chart)."""
    for i, raw in enumerate(_list(board.raw.get(key) or [], f"[{key!r}]")):
        where = f"[{key!r}][{i}]"
        yield where, _mapping(raw, where)


def _row_ref(entry: Mapping, where: str, by_id: Mapping[str, Any]) -> str:
    """The entry's ``row`` field, which must name a row of the board."""
    rid = _str(_get(entry, "row", where), f"{where}['row']")
    if rid not in by_id:
        raise _fail(f"{where}['row']", f"row {rid!r} is not in board['rows']")
    return rid


def _columns(board: Mapping[str, Any]) -> list[_Column]:
    columns = []
    for _, where, col, cid in _entries_with_ids(board, "columns", "column"):
        columns.append(
            _Column(
                id=cid,
                label=_str(col.get("label") or cid, f"{where}['label']"),
                group=_str(_get(col, "group", where), f"{where}['group']"),
                task=_str(col.get("task") or cid.split("/")[0], f"{where}['task']"),
                higher_is_better=_bool(_get(col, "higher_is_better", where), f"{where}['higher_is_better']"),
            )
        )
    return columns


def _diff(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    d = _mapping(value, where)
    ci = d.get("ci")
    if ci is not None and (not isinstance(ci, list | tuple) or len(ci) != 2):
        raise _fail(f"{where}['ci']", f"expected [low, high] or null, got {ci!r}")
    return {
        "delta": _num(_get(d, "delta", where), f"{where}['delta']"),
        "ci": None if ci is None else [_num(c, f"{where}['ci']") for c in ci],
        "p": _num(d.get("p"), f"{where}['p']"),
        "p_holm": _num(d.get("p_holm"), f"{where}['p_holm']"),
        "significant": _bool(d.get("significant", False), f"{where}['significant']"),
    }


def _rows(board: Mapping[str, Any], column_ids: set[str]) -> list[_Row]:
    rows = []
    for i, where, row, rid in _entries_with_ids(board, "rows", "row"):
        kind = _get(row, "kind", where)
        if kind not in ("measured", "reported"):
            raise _fail(f"{where}['kind']", f"expected 'measured' or 'reported', got {kind!r}")
        scores = _mapping(_get(row, "scores", where), f"{where}['scores']")
        diffs = _mapping(row.get("diff") or {}, f"{where}['diff']")
        for key in (*scores, *diffs):
            if key not in column_ids:
                raise _fail(f"{where} ({rid!r})", f"column {key!r} is not in board['columns']")
        rows.append(
            _Row(
                index=i,
                id=rid,
                name=_str(_get(row, "name", where), f"{where}['name']"),
                label=_str(row.get("label") or row["name"], f"{where}['label']"),
                revision=_str(row.get("revision"), f"{where}['revision']", optional=True),
                kind=kind,
                is_baseline=_bool(row.get("is_baseline", False), f"{where}['is_baseline']"),
                trained_here=_bool(row.get("trained_here", False), f"{where}['trained_here']"),
                description=_str(row.get("description") or None, f"{where}['description']", optional=True),
                spec=_str(row.get("spec") or None, f"{where}['spec']", optional=True),
                license=_str(row.get("license") or None, f"{where}['license']", optional=True),
                n_parameters=_num(row.get("n_parameters"), f"{where}['n_parameters']"),
                scores={k: _num(v, f"{where}['scores'][{k!r}]") for k, v in scores.items()},
                diff={k: _diff(v, f"{where}['diff'][{k!r}]") for k, v in diffs.items()},
            )
        )
    return rows


@dataclass(frozen=True)
class _Board:
    columns: list[_Column]
    rows: list[_Row]
    baseline: _Row | None
    tests: str | None
    generated: dict[str, str]
    raw: Mapping[str, Any]


def _read(board: Any) -> _Board:
    """Check the whole board before anything is written, so a bad one leaves no half-built site."""
    board = _mapping(board, "")
    schema = _get(board, "schema", "")
    if schema != SCHEMA:
        raise _fail("['schema']", f"this site reads schema {SCHEMA}, got {schema!r}")
    columns = _columns(board)
    rows = _rows(board, {c.id for c in columns})
    by_id = {r.id: r for r in rows}
    baseline_id = _str(board.get("baseline"), "['baseline']", optional=True)
    if baseline_id is not None and baseline_id not in by_id:
        raise _fail("['baseline']", f"row {baseline_id!r} is not in board['rows']")
    generated = _mapping(board.get("generated") or {}, "['generated']")
    return _Board(
        columns=columns,
        rows=rows,
        baseline=by_id.get(baseline_id) if baseline_id else None,
        tests=_str(board.get("tests") or None, "['tests']", optional=True),
        generated={str(k): str(v) for k, v in generated.items() if v is not None},
        raw=board,
    )


# ------------------------------------------------------------------------------------------------ table


def _e(text: object) -> str:
    """Escape for HTML text and double-quoted attributes."""
    return html.escape(str(text), quote=True)


def _params(n: float | None) -> str:
    if n is None:
        return "-"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def _delta_cell(col: _Column, row: _Row, baseline: _Row | None) -> tuple[str, str]:
    """(css class, inner html) of a cell's difference from the baseline; empty where there is none."""
    if baseline is None or row.kind != "measured" or row.is_baseline or row.id == baseline.id:
        return "", ""
    score, base = row.scores.get(col.id), baseline.scores.get(col.id)
    diff = row.diff.get(col.id)
    if diff is not None and diff["delta"] is not None:
        delta = diff["delta"]
        lines = [f"difference from the baseline: {delta:+.4f}"]
        if diff["ci"] is not None and None not in diff["ci"]:
            lines.append(f"95% interval [{diff['ci'][0]:+.4f}, {diff['ci'][1]:+.4f}]")
        if diff["p"] is not None:
            lines.append(f"p = {diff['p']:.3g}")
        if diff["p_holm"] is not None:
            lines.append(f"Holm-corrected p = {diff['p_holm']:.3g}")
        lines.append("significant" if diff["significant"] else "not significant")
        mark = '<sup class="sig">*</sup>' if diff["significant"] else ""
    elif score is not None and base is not None:
        delta = score - base
        lines = [f"difference from the baseline: {delta:+.4f}", "no per-query scores on both sides: no test"]
        mark = ""
    else:
        return "", ""
    better = delta > 0 if col.higher_is_better else delta < 0
    css = "same" if delta == 0 else ("better" if better else "worse")
    title = _e("; ".join(lines))
    return css, f'<span class="delta" title="{title}">{delta:+.4f}{mark}</span>'


def _table(board: _Board, rows: list[_Row], groups: dict[str, str], table_id: str) -> str:
    head = [
        '<th data-sort="text" data-first="asc" scope="col"><button type="button">Model</button></th>',
        '<th data-sort="num" data-first="asc" scope="col"><button type="button">Parameters</button></th>',
    ]
    for col in board.columns:
        first = "desc" if col.higher_is_better else "asc"
        hint = "higher is better" if col.higher_is_better else "lower is better"
        head.append(
            f'<th data-sort="num" data-first="{first}" data-g="{groups[col.group]}" data-col="{_e(col.id)}" '
            f'scope="col" title="{_e(col.id)}: {hint}"><button type="button">{_e(col.label)}</button></th>'
        )
    body = []
    for row in rows:
        classes = ["baseline"] if row.is_baseline else []
        badges = []
        if row.is_baseline:
            badges.append('<span class="badge base">baseline</span>')
        if row.kind == "reported":
            badges.append('<span class="badge reported">reported</span>')
        if row.trained_here:
            badges.append('<span class="badge trained">trained here</span>')
        about = [row.name] if row.label != row.name else []
        about += [x for x in (row.description, row.spec and f"spec: {row.spec}", row.license) if x]
        rev = f' <span class="rev">@{_e(row.revision)}</span>' if row.revision else ""
        cells = [
            f'<th scope="row" data-v="{_e(row.label)}" title="{_e(" | ".join(about))}">'
            f'<span class="name">{_e(row.label)}</span>{rev} {" ".join(badges)}</th>',
            f'<td data-v="{"" if row.n_parameters is None else repr(row.n_parameters)}">'
            f"{_params(row.n_parameters)}</td>",
        ]
        for col in board.columns:
            score = row.scores.get(col.id)
            css, delta = _delta_cell(col, row, board.baseline)
            value = "" if score is None else repr(score)
            cls = f' class="{css}"' if css else ""
            cells.append(
                f'<td data-g="{groups[col.group]}" data-v="{value}"{cls}>'
                f'<span class="score">{fmt_score(score)}</span>{delta}</td>'
            )
        cls = f' class="{" ".join(classes)}"' if classes else ""
        names = _e(f"{row.label} {row.name}" if row.label != row.name else row.name)  # the filter reads both
        body.append(
            f'<tr{cls} data-row-id="{_e(row.id)}" data-name="{names}" data-i="{row.index}">'
            + "".join(cells)
            + "</tr>"
        )
    return (
        f'<div class="scroll"><table class="board" id="{table_id}">'
        f"<thead><tr>{''.join(head)}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table></div>"
    )


# ----------------------------------------------------------------------------------------------- charts


def _t(text: object) -> str:
    """Text for a plotly label: plotly renders a subset of HTML in labels, so <, > and & become entities."""
    return html.escape(str(text), quote=False)


def _row_label(row: _Row) -> str:
    return _t(f"{row.label}@{row.revision}" if row.revision else row.label)


def _layout(**kwargs: Any) -> dict[str, Any]:
    """A small fixed layout: the "none" template keeps each figure's JSON small (no 7 kB default theme)."""
    axis = {"showgrid": True, "gridcolor": "#e5e5e5", "zeroline": False, "automargin": True}
    base = {
        "template": "none",
        "font": {"family": "system-ui, sans-serif", "size": 12},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "xaxis": dict(axis),
        "yaxis": dict(axis),
    }
    for key, value in kwargs.items():
        if key in ("xaxis", "yaxis"):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def _heatmaps(board: _Board, by_id: dict[str, _Row]) -> list[tuple[str, Any]]:
    """(section key = task, figure) per heatmap entry, in board order."""
    import plotly.graph_objects as go

    out = []
    for where, hm in _optional_entries(board, "heatmaps"):
        rid = _row_ref(hm, where, by_id)
        task = _str(_get(hm, "task", where), f"{where}['task']")
        langs = [_str(x, f"{where}['languages']") for x in _list(_get(hm, "languages", where), where)]
        values = _list(_get(hm, "values", where), f"{where}['values']")
        if len(values) != len(langs) or any(
            len(_list(v, f"{where}['values']")) != len(langs) for v in values
        ):
            raise _fail(
                f"{where}['values']", f"expected a {len(langs)} x {len(langs)} matrix (one per language)"
            )
        z = [[_num(x, f"{where}['values'][{q}]") for x in v] for q, v in enumerate(values)]
        labels = [_t(x) for x in langs]
        size = max(320, 60 + 34 * len(langs))
        fig = go.Figure(
            go.Heatmap(
                z=z,
                x=labels,
                y=labels,
                zmin=0.0,
                zmax=1.0,
                colorscale="Viridis",
                texttemplate="%{z:.2f}",
                hovertemplate="query %{y} → candidate %{x}: mAP %{z:.4f}<extra></extra>",
            ),
            layout=_layout(
                title={"text": _row_label(by_id[rid])},
                width=size + 80,
                height=size,
                xaxis={"title": {"text": "candidate language"}, "showgrid": False, "type": "category"},
                yaxis={
                    "title": {"text": "query language"},
                    "showgrid": False,
                    "type": "category",
                    "autorange": "reversed",
                },
                margin={"l": 70, "r": 10, "t": 60, "b": 50},
            ),
        )
        out.append((task, fig))
    return out


def _facet_titles(fig: Any) -> None:
    """plotly express titles a facet "<column>=<value>": keep the value (already escaped)."""
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))


def _robustness(board: _Board, by_id: dict[str, _Row]) -> list[tuple[str, Any]]:
    """Per task, one small chart per recipe (plotly express facets): adversarial mAP against perturbation
    strength, a line per model in the same colour across recipes, shared axes for comparison."""

    points: dict[str, list[dict[str, Any]]] = {}
    for where, r in _optional_entries(board, "robustness"):
        rid = _row_ref(r, where, by_id)
        task = _str(_get(r, "task", where), f"{where}['task']")
        recipe = _str(_get(r, "recipe", where), f"{where}['recipe']")
        strength = _num(r.get("strength"), f"{where}['strength']")
        value = _num(r.get("map"), f"{where}['map']")
        clean = _num(r.get("clean_map"), f"{where}['clean_map']")
        if strength is None or value is None:
            continue  # a strength the core could not read off its label (or no score): no place on the axis
        points.setdefault(task, []).append(
            {
                "strength": strength,
                "mAP": value,
                "clean mAP": clean,
                "model": _row_label(by_id[rid]),
                "recipe": _t(recipe),
            }
        )
    out = []
    for task, data in points.items():
        data.sort(key=lambda d: (d["recipe"], d["model"], d["strength"]))
        fig = _faceted_lines(
            data,
            facet="recipe",
            x="strength",
            y="mAP",
            color="model",
            row_height=220,
            extra_width=320,
            hover_data=["clean mAP"],
            title=f"{_t(task)}: mAP against perturbation strength, per recipe",
        )
        out.append((task, fig))
    return out


def _alpha_sweep(board: _Board) -> list[tuple[str, Any]]:
    """One chart, a facet per metric: mean +- sd over seeds per alpha, a line per base model. The metrics
    differ in scale (mAP, rank distance), so each facet has its own y axis."""

    values: dict[tuple[str, str, float], list[float]] = {}
    for where, a in _optional_entries(board, "alpha_sweep"):
        metric = _str(_get(a, "metric", where), f"{where}['metric']")
        base = _str(_get(a, "base", where), f"{where}['base']")
        alpha = _num(a.get("alpha"), f"{where}['alpha']")
        value = _num(a.get("value"), f"{where}['value']")
        if alpha is not None and value is not None:
            values.setdefault((_t(metric), _t(base), alpha), []).append(value)
    if not values:
        return []
    data = [
        {
            "metric": metric,
            "base": base,
            "α": alpha,
            "mean": statistics.fmean(v),
            "sd": statistics.stdev(v) if len(v) > 1 else 0.0,
            "seeds": len(v),
        }
        for (metric, base, alpha), v in sorted(values.items())
    ]
    fig = _faceted_lines(
        data,
        facet="metric",
        x="α",
        y="mean",
        color="base",
        row_height=240,
        extra_width=220,
        error_y="sd",
        hover_data=["seeds"],
        labels={"mean": "mean ± sd", "base": "base model"},
        title="α sweep: mean ± sd over seeds",
    )
    fig.update_yaxes(matches=None, showticklabels=True)  # mAP and rank distance differ in scale
    return [("", fig)]


def _faceted_lines(
    data: list[dict[str, Any]], *, facet: str, row_height: int, extra_width: int, **px_kwargs: Any
) -> Any:
    """A plotly-express line chart with one facet per value of ``facet`` (at most four per row), grid lines
    and short facet titles: the common frame of the robustness and alpha-sweep charts."""
    import plotly.express as px

    facets = list(dict.fromkeys(d[facet] for d in data))
    wrap = min(4, len(facets))
    rows = -(-len(facets) // wrap)
    fig = px.line(
        {k: [d[k] for d in data] for k in data[0]},
        facet_col=facet,
        facet_col_wrap=wrap,
        facet_row_spacing=min(0.08, 0.5 / rows),
        markers=True,
        **px_kwargs,
    )
    fig.update_layout(_layout(height=140 + row_height * rows, width=260 * wrap + extra_width))
    fig.update_xaxes(showgrid=True, gridcolor="#e5e5e5")
    fig.update_yaxes(showgrid=True, gridcolor="#e5e5e5")
    _facet_titles(fig)
    return fig


def _fig_html(fig: Any, div_id: str) -> str:
    import plotly.io as pio

    return pio.to_html(
        fig,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )


# ------------------------------------------------------------------------------------------------- page

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
h1{margin-bottom:.2rem} .meta{color:#666;font-size:.85rem}
.controls{margin:1rem 0;display:flex;gap:1.2rem;flex-wrap:wrap;align-items:center}
table.board{border-collapse:collapse;font-size:.85rem;margin-bottom:.5rem}
table.board th,table.board td{border-bottom:1px solid #ddd;padding:.25rem .5rem;text-align:right;
  vertical-align:top}
table.board tbody th{text-align:left;font-weight:normal;white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}
table.board thead th{background:#f6f6f6} table.board thead th:first-child{text-align:left}
table.board tbody th{position:sticky;left:0;background:#fff} tr.baseline th{background:#fff8d6}
table.board thead button{all:unset;cursor:pointer;font-weight:600}
table.board thead th[aria-sort=ascending] button::after{content:" ▲"}
table.board thead th[aria-sort=descending] button::after{content:" ▼"}
tr.baseline{background:#fff8d6;font-weight:600}
.badge{font-size:.7rem;padding:0 .3rem;border-radius:.3rem;background:#ddd;margin-left:.2rem}
.badge.base{background:#f0c419} .badge.reported{background:#cfe3ff} .badge.trained{background:#d8f0d0}
.rev{color:#777;font-size:.75rem} .score{display:block}
.delta{display:block;font-size:.75rem}
td.better{background:#e6f5e6} td.better .delta{color:#17741c}
td.worse{background:#fbe7e7} td.worse .delta{color:#b3261e}
td.same .delta{color:#666} .sig{font-weight:700}
.note{font-size:.85rem;color:#444;max-width:60rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
.charts>div{flex:0 0 auto}
"""

# Sorting and filtering (vanilla JS, no library). A header click sorts best first (per the column's
# direction), a second click worst first; empty cells always last, ties in board order; the filter hides
# rows whose model name lacks the typed text; the group boxes hide that group's columns.
_JS = """
(function () {
  "use strict";
  function key(tr, col) { var v = tr.cells[col].getAttribute("data-v"); return v === null ? "" : v; }
  function sortTable(table, th) {
    var col = th.cellIndex, num = th.getAttribute("data-sort") === "num";
    var asc = th.getAttribute("data-first") === "asc";
    if (th.getAttribute("data-state") === "first") { asc = !asc; th.setAttribute("data-state", "second"); }
    else { th.setAttribute("data-state", "first"); }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      if (h !== th) { h.removeAttribute("data-state"); h.removeAttribute("aria-sort"); }
    });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col), y = key(b, col), c = 0;
      if (x === "" || y === "") { c = (x === "" ? 1 : 0) - (y === "" ? 1 : 0); }
      else {
        if (num) { x = parseFloat(x); y = parseFloat(y); }
        c = x < y ? -1 : (x > y ? 1 : 0);
        if (!asc) { c = -c; }
      }
      return c || (parseInt(a.getAttribute("data-i"), 10) - parseInt(b.getAttribute("data-i"), 10));
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.board").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () { sortTable(table, th); });
    });
  });
  var box = document.getElementById("filter");
  box.addEventListener("input", function () {
    var q = box.value.toLowerCase();
    document.querySelectorAll("table.board tbody tr").forEach(function (tr) {
      tr.hidden = q !== "" && tr.getAttribute("data-name").toLowerCase().indexOf(q) < 0;
    });
  });
  document.querySelectorAll("input[data-toggle]").forEach(function (cb) {
    cb.addEventListener("change", function () {
      document.body.classList.toggle("hide-" + cb.getAttribute("data-toggle"), !cb.checked);
    });
  });
})();
"""

_SCRIPT = re.compile(r"<script(?: [^>]*)?>(.*?)</script>", re.DOTALL)


def _csp(inline_scripts: list[str]) -> str:
    """Only our inline scripts (by sha256) and files beside the page may run; nothing may be fetched."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode('utf-8')).digest()).decode('ascii')}'"
        for s in dict.fromkeys(inline_scripts)
    )
    return (
        f"default-src 'none'; script-src 'self' file: {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; base-uri 'none'; form-action 'none'"
    )


def _section(title: str, blocks: list[tuple[str, str]], note: str = "") -> str:
    """A section of charts under sub-headings (blocks: (sub-heading, figure html)), grouped by sub-heading
    in order of first appearance."""
    if not blocks:
        return ""
    grouped: dict[str, list[str]] = {}
    for heading, fig in blocks:
        grouped.setdefault(heading, []).append(fig)
    parts = [f"<section><h2>{_e(title)}</h2>{note}"]
    for heading, figs in grouped.items():
        if heading:
            parts.append(f"<h3>{_e(heading)}</h3>")
        parts.append('<div class="charts">' + "".join(f"<div>{f}</div>" for f in figs) + "</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _need_plotly() -> None:
    """Charts need plotly (the ``leaderboard`` extra): say so plainly rather than fail on an import."""
    try:
        import plotly  # noqa: F401
    except ImportError as exc:
        raise HbtBenchError(
            "the leaderboard site draws its charts with plotly, which is not installed: "
            "pip install 'hbt-bench[leaderboard]'"
        ) from exc


def _render(board: _Board) -> tuple[str, bool]:
    """(index.html text, whether it needs plotly.js beside it)."""
    by_id = {r.id: r for r in board.rows}
    groups = {g: f"g{i}" for i, g in enumerate(dict.fromkeys(c.group for c in board.columns))}
    measured = [r for r in board.rows if r.kind == "measured"]
    reported = [r for r in board.rows if r.kind == "reported"]

    if any(board.raw.get(k) for k in ("heatmaps", "robustness", "alpha_sweep")):
        _need_plotly()
    heat = _heatmaps(board, by_id) if board.raw.get("heatmaps") else []
    robust = _robustness(board, by_id) if board.raw.get("robustness") else []
    sweep = _alpha_sweep(board) if board.raw.get("alpha_sweep") else []
    heat_html = [(task, _fig_html(fig, f"heatmap-{i}")) for i, (task, fig) in enumerate(heat)]
    robust_html = [(key, _fig_html(fig, f"robustness-{i}")) for i, (key, fig) in enumerate(robust)]
    sweep_html = [("", _fig_html(fig, f"alpha-sweep-{i}")) for i, (_, fig) in enumerate(sweep)]
    charts = bool(heat_html or robust_html or sweep_html)

    if board.baseline is not None:
        base = board.baseline
        base_note = (
            f"Each cell shows the score and, below it, the difference from the hybrid baseline "
            f"<b>{_e(base.label)}</b>{'@' + _e(base.revision) if base.revision else ''}: "
            '<span class="legend better">green</span> better, <span class="legend worse">red</span> worse '
            "(per column: higher or lower is better). "
        )
        tests = f"<b>*</b> significant difference: {_e(board.tests)}" if board.tests else ""
        base_note += tests + " A difference without a test (no per-query scores on one side) has no mark."
    else:
        base_note = "The registry names no hybrid baseline, so no differences are shown."
    gen = ", ".join(f"{_e(k)} {_e(v)}" for k, v in sorted(board.generated.items()))
    toggles = "".join(
        f'<label><input type="checkbox" checked data-toggle="{css}"> {_e(group)}</label>'
        for group, css in groups.items()
    )
    hide_css = "".join(f'.hide-{css} [data-g="{css}"]{{display:none}}' for css in groups.values())

    sections = [
        "<section><h2>Measured here</h2>",
        f'<p class="note">{base_note}</p>',
        _table(board, measured, groups, "measured"),
        "</section>",
    ]
    if reported:
        sections += [
            "<section><h2>Reported in the paper</h2>",
            '<p class="note">Numbers copied from the paper, not measured here: shown for reference, '
            "never ranked with the measured rows.</p>",
            _table(board, reported, groups, "reported"),
            "</section>",
        ]
    sections.append(
        _section(
            "Per-language mAP",
            heat_html,
            '<p class="note">Rows: query language; columns: candidate language.</p>',
        )
    )
    sections.append(_section("Robustness against perturbation strength", robust_html))
    sections.append(_section("α sweep", sweep_html))

    body = "\n".join(s for s in sections if s)
    inline = [m.group(1) for m in _SCRIPT.finditer(body)] + [_JS]
    plotly_tag = f'<script src="{PLOTLY_JS}" charset="utf-8"></script>\n' if charts else ""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_e(_csp(inline))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hbt-bench leaderboard</title>
<style>{_CSS}{hide_css}</style>
{plotly_tag}</head>
<body>
<h1>hbt-bench leaderboard</h1>
<p class="meta">{gen}</p>
<div class="controls">
<label>Model <input type="search" id="filter" placeholder="filter by name"></label>
{toggles}
</div>
{body}
<script>{_JS}</script>
</body>
</html>
"""
    return page, charts


def write_site(board: Mapping[str, Any], out_dir: Path) -> None:
    """Write ``index.html`` (and ``plotly.min.js`` when there are charts) into ``out_dir``.

    ``out_dir`` is an existing staged folder that the caller swaps into place; the board is checked and
    the page rendered in memory first, so a bad board raises :class:`BoardFormatError` (naming the
    field) before anything is written.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise BoardFormatError(f"write_site: out_dir {str(out)!r} is not an existing folder")
    page, charts = _render(_read(board))
    files = {INDEX: page}
    if charts:
        from plotly.offline import get_plotlyjs

        files[PLOTLY_JS] = get_plotlyjs()
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
