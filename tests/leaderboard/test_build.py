"""The build: all or nothing, README sections between markers, and the committed outputs are current."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hbt_bench.errors import HbtBenchError
from hbt_bench.leaderboard import build as build_mod
from hbt_bench.leaderboard.board import BoardError
from hbt_bench.leaderboard.build import BEGIN, END, build, render
from tests.leaderboard.builders import TASKS, two_models, write_result

REPO = Path(__file__).resolve().parents[2]


def _stub_site(board, out_dir):
    (Path(out_dir) / "index.html").write_text(f"<table>{len(board['rows'])} rows</table>")


def test_build_writes_everything_and_the_readme_section(tmp_path, monkeypatch):
    monkeypatch.setattr(build_mod, "_site_writer", lambda: _stub_site)
    registry = two_models(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold table\n{END}\noutro\n")
    result = build(registry, readmes=[readme], tasks=TASKS)
    assert (tmp_path / "site" / "index.html").read_text() == "<table>2 rows</table>"
    assert json.loads((tmp_path / "site" / "board.json").read_text()) == json.loads(json.dumps(result.board))
    md = (tmp_path / "LEADERBOARD.md").read_text()
    assert "| org/better | 0.7500 (+0.2500*)" in md and "Hybrid (baseline)" in md
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old table" not in text
    assert "0.7500 (+0.2500*)" in text


def test_a_failing_site_or_bad_input_publishes_nothing(tmp_path, monkeypatch):
    registry = two_models(tmp_path)
    monkeypatch.setattr(build_mod, "_site_writer", lambda: _stub_site)
    build(registry, tasks=TASKS)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def broken(board, out_dir):
        (Path(out_dir) / "index.html").write_text("half")
        raise RuntimeError("site generator crashed")

    monkeypatch.setattr(build_mod, "_site_writer", lambda: broken)
    write_result(tmp_path, "org/better", "1", "XQuADR", {"en-en": [0.9, 0.9]})  # changes the board
    with pytest.raises(RuntimeError, match="crashed"):
        build(registry, tasks=TASKS)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "results" not in p.parts}
    assert after == {p: b for p, b in before.items() if "results" not in p.parts}  # old site and md intact
    (tmp_path / "results" / "org__better" / "1" / "XQuADR.json").write_text("{")
    with pytest.raises(BoardError, match=r"XQuADR\.json"):
        build(registry, tasks=TASKS)
    assert (tmp_path / "site" / "index.html").read_text() == "<table>2 rows</table>"


def test_without_the_site_module_only_board_json_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(build_mod, "_site_writer", lambda: None)
    result = build(two_models(tmp_path), tasks=TASKS)
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == ["board.json"]
    assert any("site" in note for note in result.skipped)


def test_the_committed_leaderboard_is_current(tmp_path):
    # Rebuilt from the committed registry, results and reported rows, in memory: LEADERBOARD.md, board.json
    # and the README sections must equal what is committed (run `hbt-bench leaderboard build` to update).
    # The committed stats_cache.json holds the paired tests, so this recomputes none of them.
    board, text = render(REPO / "leaderboard" / "registry.toml")
    assert (REPO / "leaderboard" / "LEADERBOARD.md").read_text(encoding="utf-8") == text
    committed = json.loads((REPO / "leaderboard" / "site" / "board.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(board))
    section = build_mod.markdown(board, heading_level=3)
    for readme in (REPO / "README.md", REPO / "leaderboard" / "README.md"):
        current = readme.read_text(encoding="utf-8")
        assert BEGIN in current and END in current, readme
        assert build_mod.replace_between_markers(current, section, str(readme)) == current, readme


@pytest.mark.parametrize("foreign", ["site", "LEADERBOARD.md"])
def test_the_build_never_replaces_outputs_it_did_not_write(tmp_path, monkeypatch, foreign):
    monkeypatch.setattr(build_mod, "_site_writer", lambda: _stub_site)
    registry = two_models(tmp_path)
    out = tmp_path / "elsewhere"
    if foreign == "site":
        (out / "site").mkdir(parents=True)
        (out / "site" / "index.html").write_text("my own website")
    else:
        out.mkdir()
        (out / "LEADERBOARD.md").write_text("# my notes\n")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(HbtBenchError, match=re.escape(str(out / foreign)) + ".*not written by"):
        build(registry, out_dir=out, tasks=TASKS)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    with pytest.raises(HbtBenchError, match="is not a folder"):  # a file as the output folder
        build(registry, out_dir=registry, tasks=TASKS)
    with pytest.raises(HbtBenchError, match="cannot create the output folder"):  # under a file
        build(registry, out_dir=registry / "sub", tasks=TASKS)
    with pytest.raises(HbtBenchError, match=r"--results .*missing: no such folder"):  # not an empty board
        build(registry, results_root=tmp_path / "missing", tasks=TASKS)
    assert not (tmp_path / "LEADERBOARD.md").exists()
    # what a build wrote, it may replace: build twice into a fresh folder
    fresh = tmp_path / "fresh"
    build(registry, out_dir=fresh, tasks=TASKS)
    build(registry, out_dir=fresh, tasks=TASKS)
    assert (fresh / "LEADERBOARD.md").read_text().startswith(build_mod.HEADER)
