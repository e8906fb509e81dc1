"""``hbt-bench attack run`` (:mod:`hbt_bench.cli.attack`): end to end, and errors naming the argument."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hbt_bench.cli import main


def test_cli_end_to_end(tmp_path: Path, shared_data: Path, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("HBT_BENCH_DATA_DIR", raising=False)  # the CLI sets it; undone after the test
    argv = ["attack", "run", "--model", "builtin:hash-ngram", "--task", "XQuADR", "--limit", "3"]
    argv += ["--subsets", "en-en,de-de", "--query-budget", "30", "--output-folder", str(tmp_path)]
    assert main([*argv, "--data-dir", str(shared_data), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "XQuADR-TargetedAttack" in out and "de-de" in out and "\nall " in out and "->" in out
    folder = next((tmp_path / "results").glob("*/*"))
    assert (folder / "XQuADR-TargetedAttack.json").is_file()
    assert len((folder / "XQuADR-TargetedAttack.examples.jsonl").read_text("utf-8").splitlines()) == 6
    saved = json.loads((folder / "XQuADR-TargetedAttack.json").read_text("utf-8"))
    assert saved["task_name"] == "XQuADR-TargetedAttack"
    assert {s["attack_parameters"]["query_budget"] for s in saved["scores"]["test"]} == {30}


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--task", "SQuAD", "--limit", "2"], "--task: unknown task 'SQuAD'"),
        (["--limit", "0"], "--limit must be a positive integer"),
        (["--limit", "2", "--subsets", "en-xx"], "--subsets: unknown subset 'en-xx'"),
        (["--limit", "2", "--settings", "mono,bilingual"], "--settings: unknown setting bilingual"),
        (["--limit", "2", "--subsets", "en-de", "--settings", "mono"], "en-de is a cross subset"),
        (["--limit", "2", "--query-budget", "1"], "--query-budget must be an integer >= 2"),
        (["--limit", "2", "--k", "0"], "--k must be a positive integer"),
        (["--limit", "2", "--recipe", "typo@9pct"], "--recipe 'typo@9pct': unknown recipe"),
        (["--limit", "2", "--subsets", "en-en", "--recipe", "zh-morphonym@10pct"], "does not apply to"),
    ],
)
def test_errors_name_the_argument(extra: list[str], needle: str, capsys: Any) -> None:
    assert main(["attack", "run", "--model", "builtin:hash-ngram", *extra]) == 2
    assert needle in capsys.readouterr().err


def test_run_defaults_are_the_parameters_defaults() -> None:
    """The options' defaults come from AttackParameters (one home): the values documented in its fields."""
    from hbt_bench.cli import build_parser

    args = build_parser().parse_args(["attack", "run", "--model", "builtin:hash-ngram", "--limit", "7"])
    got = {k: getattr(args, k) for k in ("limit", "k", "search", "beam_width", "query_budget", "max_words")}
    assert got == {
        "limit": 7,
        "k": 1,
        "search": "greedy",
        "beam_width": 4,
        "query_budget": 200,
        "max_words": 3,
    }
    assert (args.recipe, args.seed) == ("char-noise@30pct", 0)
