"""The leaderboard's static site: content and escaping read from the HTML, behaviour in headless Chromium.

Expected values come from the board in ``data/site_board.json`` worked by hand (deltas, colours, orders),
not from the generator. The browser tests drive Debian's ``chromium`` through playwright (its own browser
download is not needed) with networking off, and skip with the reason when either is missing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from hbt_bench.errors import HbtBenchError
from hbt_bench.leaderboard.site import INDEX, PLOTLY_JS, BoardFormatError, write_site

BOARD_FILE = Path(__file__).parent / "data" / "site_board.json"
BASELINE = "hbt-bench/hybrid-static@1"
MEASURED = [
    "hbt-bench/static-ml-64d@0.1.1",
    BASELINE,
    "hbt-bench/xy-static@1",
    "example/e5-small@abc123",
]
REPORTED = ["paper/LaBSE-hybrid", "paper/XLM-R-xy"]
PLANTED = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">"&'


def _board() -> dict[str, Any]:
    return json.loads(BOARD_FILE.read_text(encoding="utf-8"))


def _write(board: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    write_site(board, out)
    return out


class _Page(HTMLParser):
    """Rows of each table (``data-row-id``), cell classes / text, script and link attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.refs: list[str] = []
        self.script_srcs: list[str] = []
        self._table: str | None = None
        self._row: dict[str, Any] | None = None
        self._cell: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.refs += [v for k, v in attrs if k in ("src", "href", "action", "poster") and v]
        if tag == "script" and a.get("src"):
            self.script_srcs.append(a["src"])
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table and "data-row-id" in a:
            self._row = {"id": a["data-row-id"], "class": a.get("class") or "", "cells": []}
            self.tables[self._table].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"class": a.get("class") or "", "text": ""}
            self._row["cells"].append(self._cell)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data


def _parse(site: Path) -> _Page:
    page = _Page()
    page.feed((site / INDEX).read_text(encoding="utf-8"))
    return page


def _cell(page: _Page, row_id: str, column: str) -> dict[str, Any]:
    columns = [c["id"] for c in _board()["columns"]]
    row = next(r for r in page.tables["measured"] if r["id"] == row_id)
    return row["cells"][2 + columns.index(column)]  # name, parameters, then the board's columns


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(_board(), tmp_path_factory.mktemp("site"))


# ---------------------------------------------------------------------------------------------- content


def test_one_row_per_board_row_with_reported_rows_apart(site_dir: Path) -> None:
    page = _parse(site_dir)
    assert [r["id"] for r in page.tables["measured"]] == MEASURED
    assert [r["id"] for r in page.tables["reported"]] == REPORTED


def test_the_baseline_row_is_marked(site_dir: Path) -> None:
    page = _parse(site_dir)
    marked = [r for r in page.tables["measured"] if "baseline" in r["class"].split()]
    assert [r["id"] for r in marked] == [BASELINE]
    assert "baseline" in marked[0]["cells"][0]["text"]  # a visible label, not only a class


# (row, column) -> (css class, text of the delta) from the board by hand: static-ml mono 0.41 vs 0.46 with a
# significant test; its bias (lower is better) 3.5 vs 2.0 is worse; xy's bias 1.2 is better; xy's multi is
# worse but not significant; e5-small has no test, so plain differences 0.70 - 0.46 and 0.45 - 0.21, no mark.
CELLS = {
    ("hbt-bench/static-ml-64d@0.1.1", "XQuADR/mono"): ("worse", "-0.0500*"),
    ("hbt-bench/static-ml-64d@0.1.1", "XQuADR/bias"): ("worse", "+1.5000*"),
    ("hbt-bench/static-ml-64d@0.1.1", "XQuADR-Adv/multi"): ("worse", "-0.0200"),
    ("hbt-bench/xy-static@1", "XQuADR/bias"): ("better", "-0.8000*"),
    ("hbt-bench/xy-static@1", "XQuADR/cross"): ("better", "+0.0200*"),
    ("hbt-bench/xy-static@1", "XQuADR/multi"): ("worse", "-0.0200"),
    ("hbt-bench/xy-static@1", "XQuADR-Adv/robustness"): ("", ""),
    ("example/e5-small@abc123", "XQuADR/mono"): ("better", "+0.2400"),
    ("example/e5-small@abc123", "MIRACL/ndcg"): ("better", "+0.2400"),
    ("example/e5-small@abc123", "XQuADR/bias"): ("", ""),
    (BASELINE, "XQuADR/mono"): ("", ""),
}


@pytest.mark.parametrize(("row", "column"), sorted(CELLS))
def test_differences_from_the_baseline_are_coloured_and_marked(site_dir: Path, row: str, column: str) -> None:
    css, delta = CELLS[(row, column)]
    cell = _cell(_parse(site_dir), row, column)
    assert cell["class"] == css
    score = next(r for r in _board()["rows"] if r["id"] == row)["scores"][column]
    assert cell["text"] == ("-" if score is None else f"{score:.4f}") + delta


def test_reported_rows_show_no_difference_and_the_test_is_named(site_dir: Path) -> None:
    page = _parse(site_dir)
    for row in page.tables["reported"]:
        assert all(c["class"] == "" for c in row["cells"])
    text = (site_dir / INDEX).read_text(encoding="utf-8")
    assert "Paired randomization test over queries (10000 resamples, seed 0), Holm-corrected" in text


def test_the_page_loads_nothing_remote_and_plotly_once(site_dir: Path) -> None:
    page = _parse(site_dir)
    assert page.script_srcs == [PLOTLY_JS]
    assert all(
        not ref.startswith(("http:", "https:", "//")) and (site_dir / ref).is_file() for ref in page.refs
    )
    text = (site_dir / INDEX).read_text(encoding="utf-8")
    assert text.count("Plotly.newPlot(") == 4  # 2 heatmaps, robustness (one task), alpha sweep
    assert len(text) < 100_000  # plotly.js is beside the page, not inline
    assert (site_dir / PLOTLY_JS).stat().st_size > 1_000_000
    assert sorted(p.name for p in site_dir.iterdir()) == sorted([INDEX, PLOTLY_JS])


def test_a_board_without_charts_writes_no_plotly(tmp_path: Path) -> None:
    board = _board()
    for key in ("heatmaps", "robustness", "alpha_sweep"):
        del board[key]
    site = _write(board, tmp_path / "site")
    assert [p.name for p in site.iterdir()] == [INDEX]
    assert "<script src=" not in (site / INDEX).read_text(encoding="utf-8")


def test_the_output_is_deterministic(site_dir: Path, tmp_path: Path) -> None:
    again = _write(_board(), tmp_path / "again")
    assert (again / INDEX).read_bytes() == (site_dir / INDEX).read_bytes()
    assert (again / PLOTLY_JS).read_bytes() == (site_dir / PLOTLY_JS).read_bytes()


def test_names_from_the_board_are_escaped(tmp_path: Path) -> None:
    board = _board()
    board["rows"][0]["name"] = PLANTED
    board["columns"][0]["label"] = PLANTED
    board["tests"] = PLANTED
    text = (_write(board, tmp_path / "site") / INDEX).read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in text
    # in plotly's figure JSON (a heatmap title, a trace name) as entities plotly shows literally; its "/"
    # is \u-escaped, so nothing there can close the <script> either
    assert text.count('"&lt;script&gt;window.__pwned = 1&lt;\\u002fscript&gt;&lt;img src=x') >= 2
    assert text.count("window.__pwned = 1") == text.count("&lt;script&gt;window.__pwned = 1")


def test_alpha_sweep_shows_mean_and_sd_over_seeds(site_dir: Path) -> None:
    data = _figure_data((site_dir / INDEX).read_text(encoding="utf-8"), "alpha-sweep-0")
    # seeds 0.20/0.24, 0.30/0.34, 0.33/0.31 per alpha 0, 0.5, 1 (board file)
    assert data[0]["x"] == [0.0, 0.5, 1.0]
    assert data[0]["y"] == pytest.approx([0.22, 0.32, 0.32])
    assert data[0]["error_y"]["array"] == pytest.approx(
        [statistics.stdev([0.2, 0.24])] * 2 + [0.02**0.5 / 10]
    )


def _figure_data(text: str, div_id: str) -> list[dict[str, Any]]:
    """The data argument of plotly's ``Plotly.newPlot("<div_id>", [...], ...)`` call in the page, with
    plotly's typed arrays ({"dtype", "bdata"}: base64 of the numpy buffer) decoded to lists."""
    import numpy as np

    def decode(value: Any) -> Any:
        if isinstance(value, dict) and set(value) >= {"dtype", "bdata"}:
            return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    start = text.index(f'"{div_id}",', text.index("Plotly.newPlot("))
    return decode(json.JSONDecoder().raw_decode(text, text.index("[", start))[0])


def test_points_without_a_strength_or_value_are_left_out(tmp_path: Path) -> None:
    board = _board()
    board["robustness"][0]["strength"] = None  # hybrid, char-swap, 0.2: an unreadable strength label
    board["alpha_sweep"][1]["value"] = None  # alpha 0, seed 2
    text = (_write(board, tmp_path / "site") / INDEX).read_text(encoding="utf-8")
    hybrid = _figure_data(text, "robustness-0")[0]
    assert (hybrid["x"], hybrid["y"]) == ([0.1], [0.4])
    sweep = _figure_data(text, "alpha-sweep-0")[0]
    assert sweep["y"][0] == pytest.approx(0.2) and sweep["error_y"]["array"][0] == 0.0


def test_a_row_label_is_shown_and_filtered_on(tmp_path: Path) -> None:
    board = _board()
    board["rows"][3]["label"] = "E5 small (mine)"
    page = _parse(_write(board, tmp_path / "site"))
    row = page.tables["measured"][3]
    assert row["cells"][0]["text"].startswith("E5 small (mine) @abc123")


# -------------------------------------------------------------------------------------------- bad input


def _break(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    board = _board()
    target = board
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return board


BAD = [
    (("schema",), 2, "['schema']"),
    (("rows", 1, "name"), KeyError, "['rows'][1]: missing field 'name'"),
    (("rows", 0, "scores", "XQuADR/nope"), 0.5, "column 'XQuADR/nope' is not in board['columns']"),
    (("rows", 2, "scores", "XQuADR/mono"), float("nan"), "['rows'][2]['scores']['XQuADR/mono']"),
    (("rows", 3, "kind"), "guessed", "['rows'][3]['kind']"),
    (("rows", 3, "id"), BASELINE, "appears twice"),
    (("baseline",), "nobody@1", "['baseline']: row 'nobody@1' is not in board['rows']"),
    (("columns", 0, "higher_is_better"), "yes", "['columns'][0]['higher_is_better']"),
    (("heatmaps", 0, "values", 1), [0.1], "['heatmaps'][0]['values']: expected a 3 x 3 matrix"),
    (("heatmaps", 1, "row"), "ghost@0", "['heatmaps'][1]['row']: row 'ghost@0'"),
    (("robustness", 0, "strength"), "10pct", "['robustness'][0]['strength']: expected a finite number"),
    (("alpha_sweep", 2, "value"), True, "['alpha_sweep'][2]['value']"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[m for _, _, m in BAD])
def test_a_bad_board_names_the_field_and_writes_nothing(tmp_path: Path, path, value, message) -> None:
    out = tmp_path / "staged"
    out.mkdir()
    with pytest.raises(BoardFormatError) as info:
        write_site(_break(path, value), out)
    assert message in str(info.value)
    assert list(out.iterdir()) == []


def test_charts_without_plotly_ask_for_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)  # makes `import plotly` raise ImportError
    out = tmp_path / "staged"
    out.mkdir()
    with pytest.raises(HbtBenchError, match=r"hbt-bench\[leaderboard\]"):
        write_site(_board(), out)
    assert list(out.iterdir()) == []


def test_a_missing_out_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BoardFormatError, match="not an existing folder"):
        write_site(_board(), tmp_path / "absent")


# ------------------------------------------------------------------------------------------ in Chromium


def _chromium() -> str | None:
    for candidate in (os.environ.get("HBT_BENCH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


# Networking off: every host resolves to nothing and every request goes to a dead proxy; playwright talks
# to the browser over a pipe, so it needs no port either.
OFFLINE_ARGS = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run"]
# Page-side record of what the Content-Security-Policy blocked (a blocked load never reaches the network log).
CSP_PROBE = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation',"
    " function (e) { window.__csp.push(e.blockedURI + ' ' + e.violatedDirective); });"
)


@pytest.fixture(scope="module")
def site_browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="playwright is not installed (pip install playwright; no browser download)",
    )
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary (apt-get install chromium, or set HBT_BENCH_CHROMIUM to one)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=OFFLINE_ARGS)
        yield browser
        browser.close()


class _Opened:
    """A page opened from disk with every request and console error recorded."""

    def __init__(self, browser: Any, path: Path, wait_for_charts: bool = True) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.add_init_script(CSP_PROBE)
        self.page.goto(path.resolve().as_uri())
        if wait_for_charts:
            self.page.wait_for_function(  # plotly marks a div js-plotly-plot once it has drawn it
                "document.querySelectorAll('.js-plotly-plot').length"
                " === document.querySelectorAll('.plotly-graph-div').length"
            )

    def rows(self, table: str = "measured", visible_only: bool = False) -> list[str]:
        return self.page.evaluate(
            "([t, v]) => Array.from(document.querySelectorAll('#' + t + ' tbody tr'))"
            ".filter(r => !v || r.offsetParent !== null).map(r => r.getAttribute('data-row-id'))",
            [table, visible_only],
        )

    def remote(self) -> list[str]:
        csp = self.page.evaluate("window.__csp")
        return [u for u in self.requests if not u.startswith(("file:", "data:", "blob:", "about:"))] + csp

    def close(self) -> None:
        self.page.close()


def _expected_order(column: str, *, best_first: bool) -> list[str]:
    """Sorted by hand's rule: best first by the column's direction (or worst first), empty last, ties in
    board order."""
    board = _board()
    higher = {c["id"]: c["higher_is_better"] for c in board["columns"]}[column]
    rows = [(i, r) for i, r in enumerate(board["rows"]) if r["kind"] == "measured"]
    have = [(i, r) for i, r in rows if r["scores"].get(column) is not None]
    empty = [r["id"] for i, r in rows if r["scores"].get(column) is None]
    descending = higher == best_first
    ordered = sorted(
        have, key=lambda ir: (-ir[1]["scores"][column] if descending else ir[1]["scores"][column], ir[0])
    )
    return [r["id"] for _, r in ordered] + empty


def _header(opened: _Opened, column: str):
    return opened.page.locator(f'#measured thead th[data-col="{column}"]')


@pytest.fixture(scope="module")
def site_planted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample site with script planted in a model name that has a heatmap and robustness lines."""
    board = _board()
    board["rows"][0]["name"] += PLANTED
    return _write(board, tmp_path_factory.mktemp("planted"))


def test_in_chromium_the_table_sorts_filters_and_marks_the_baseline(
    site_browser, site_planted_dir: Path
) -> None:
    opened = _Opened(site_browser, site_planted_dir / INDEX)
    try:
        assert opened.rows() == MEASURED
        assert opened.rows("reported") == REPORTED
        baseline = opened.page.locator("#measured tr.baseline")
        assert baseline.count() == 1 and baseline.get_attribute("data-row-id") == BASELINE
        assert baseline.locator(".badge.base").is_visible()

        for column in ("XQuADR/cross", "XQuADR/bias", "XQuADR/multi"):
            _header(opened, column).click()
            assert opened.rows() == _expected_order(column, best_first=True), column
            _header(opened, column).click()
            assert opened.rows() == _expected_order(column, best_first=False), column
        opened.page.locator("#measured thead th").first.click()  # by model name, A to Z
        names = {r["id"]: r["name"] for r in _board()["rows"]}
        names[MEASURED[0]] += PLANTED
        assert opened.rows() == sorted(MEASURED, key=lambda i: names[i])

        opened.page.fill("#filter", "STATIC")
        assert opened.rows(visible_only=True) == [i for i in opened.rows() if "static" in names[i].lower()]
        assert opened.rows("reported", visible_only=True) == []
        opened.page.fill("#filter", "")
        assert len(opened.rows(visible_only=True)) == len(MEASURED)

        assert _header(opened, "XQuADR-Adv/multi").is_visible()
        opened.page.get_by_label("adversarial").uncheck()
        assert not _header(opened, "XQuADR-Adv/multi").is_visible()
        assert _header(opened, "XQuADR/mono").is_visible()

        heat = opened.page.evaluate("document.getElementById('heatmap-0').data[0].z")
        assert heat == _board()["heatmaps"][0]["values"]  # query language on rows

        # the planted name is shown as text, in the table and in a chart title, and never ran
        assert opened.page.evaluate("window.__pwned") is None
        shown = opened.page.locator(f'#measured tr[data-row-id="{MEASURED[0]}"] .name').inner_text()
        assert shown == names[MEASURED[0]]
        assert names[MEASURED[0]].split("<img")[0] in opened.page.locator("#heatmap-1 .gtitle").text_content()

        assert opened.remote() == []
        assert opened.errors == []
    finally:
        opened.close()


def test_in_chromium_the_request_check_can_fail(site_browser, tmp_path: Path) -> None:
    # The "nothing leaves the page" check must be able to see a request: once without our policy (the
    # network log sees it) and once planted into a generated page (its Content-Security-Policy blocks it
    # and the page-side probe reports it).
    bare = tmp_path / "bare.html"
    bare.write_text('<img src="http://example.invalid/pixel.png">', encoding="utf-8")
    opened = _Opened(site_browser, bare, wait_for_charts=False)
    try:
        assert "http://example.invalid/pixel.png" in opened.remote()
    finally:
        opened.close()
    board = _board()
    for key in ("heatmaps", "robustness", "alpha_sweep"):
        del board[key]
    site = _write(board, tmp_path / "site")
    page = (site / INDEX).read_text(encoding="utf-8")
    (site / INDEX).write_text(page.replace("</body>", '<img src="https://example.invalid/p.png"></body>'))
    opened = _Opened(site_browser, site / INDEX, wait_for_charts=False)
    try:
        assert opened.page.locator("#measured tbody tr").count() == len(MEASURED)
        assert any("https://example.invalid/p.png" in u for u in opened.remote())
    finally:
        opened.close()
