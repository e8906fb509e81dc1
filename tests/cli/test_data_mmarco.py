"""``hbt-bench data build mmarco-r`` and ``hbt-bench data stats mmarco-r --json`` on a hub-layout copy."""

from __future__ import annotations

import json

import pytest

from hbt_bench.cli import main
from tests.conftest import SHARED_DATA
from tests.data.mmarco_fixture import write_hub_copy


@pytest.fixture
def hub(tmp_path, monkeypatch):
    shared = SHARED_DATA / "mmarco"
    if not (shared / "qrels.msmarco-passage.dev-subset.txt").is_file():
        pytest.skip(f"real MS MARCO dev-small qrels not found under {shared}")
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("HBT_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return write_hub_copy(tmp_path / "hub", shared, ("en", "de"))


def test_build_then_stats_json(hub, tmp_path, capsys):
    args = ["data", "build", "mmarco-r", "--languages", "en,de", "--queries", "7", "--negatives", "2"]
    assert main([*args, "--source", str(hub.root), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "mmarco-r: 7 queries" in out and str(tmp_path / "cache" / "mmarco-r") in out
    # the cache is where the build writes and where stats (and the task) look last
    assert main(["data", "stats", "mMARCOR", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    manifest = json.loads((tmp_path / "cache" / "mmarco-r" / "manifest.json").read_text())
    assert stats["queries"] == 7 and stats["languages"] == {
        lang: {"queries": 7, "passages": manifest["counts"]["passages_per_language"]} for lang in ("en", "de")
    }
    assert stats["pool"] == 2 * stats["passages_per_language"]
    assert stats["parameters"]["languages"] == ["en", "de"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--queries", "0"], "--queries 0: expected an integer >= 1"),
        (["--languages", "en,xx"], "unknown mMARCO language 'xx'"),
        (["--negatives", "-1"], "--negatives -1: expected an integer >= 0"),
    ],
)
def test_bad_arguments_exit_2_with_the_argument_named(hub, capsys, extra, message):
    assert main(["data", "build", "mmarco-r", "--source", str(hub.root), "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


def test_stats_without_a_build_names_the_build_command(hub, tmp_path, capsys):
    assert main(["data", "stats", "mmarco-r", "--data-dir", str(tmp_path)]) == 2
    assert "hbt-bench data build mmarco-r" in capsys.readouterr().err
