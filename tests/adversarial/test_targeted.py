"""Model-targeted attacks (``hbt-bench attack run``) with the hash-ngram encoder on real XQuAD-R data.

hash-ngram is deterministic and instant, so every figure here can be recomputed independently: the
ranks and APs of the returned texts, the counts, the files. Import cost dominates (TextAttack ~9 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hbt_bench.adversarial.targeted import (
    AttackParameters,
    TargetedAttackError,
    aggregate_scores,
    best_relevant_rank,
    run_targeted_attack,
    save_report,
    select_subsets,
)
from hbt_bench.cli import main

REPO = Path(__file__).resolve().parents[2]
SUBSETS = "en-en,de-de,en-multi"
PARAMS = AttackParameters(limit=8, query_budget=60, max_words=3, seed=0)


@pytest.fixture(scope="module")
def hash_model() -> Any:
    """One model object for the module: its EmbeddingStore (candidates encoded once) is shared."""
    import mteb  # noqa: F401  (before hbt_bench.plugin: the autoload hook registers our tasks then)

    from hbt_bench.encoders import load_model
    from hbt_bench.plugin.models import to_mteb_model

    return to_mteb_model(load_model("builtin:hash-ngram"))


@pytest.fixture(scope="module")
def report(hash_model: Any, shared_data: Path) -> Any:
    return run_targeted_attack(hash_model, "XQuADR", PARAMS, subsets=SUBSETS, data_dir=shared_data)


@pytest.fixture(scope="module")
def evaluator(shared_data: Path) -> Any:
    from hbt_bench.data.lareqa import load_lareqa
    from hbt_bench.evaluate import LareqaEvaluator

    return LareqaEvaluator(load_lareqa("xquad-r", data_dir=shared_data))


def _embed(texts: list[str]) -> np.ndarray:
    """hash-ngram rows normalised as EmbeddingStore does (bit-identical to what the attack scored)."""
    from hbt_bench.encoders import HashNgramEncoder

    emb = HashNgramEncoder().encode(texts)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return np.ascontiguousarray(emb / np.maximum(norms, np.finfo(np.float32).tiny), dtype=np.float32)


def _candidates(evaluator: Any, subset_name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The subset's full candidate matrix and ``{qid: relevant indices}``, rebuilt from scratch."""
    from hbt_bench.evaluate import Subset

    subset = Subset.parse(subset_name, evaluator.languages)
    langs = evaluator.languages if subset.candidate_lang is None else (subset.candidate_lang,)
    cands = np.concatenate([_embed(evaluator.candidate_texts(lang)) for lang in langs])
    rows, relevant = evaluator.relevance(subset)
    questions = evaluator.corpus.languages[subset.query_lang].questions
    return cands, {questions[r].qid: rel for r, rel in zip(rows.tolist(), relevant, strict=True)}


def _brute_force_ap(scores: np.ndarray, relevant: np.ndarray) -> float:
    """AP by sorting the whole row: stable on -score, i.e. ties by candidate index."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.sort(np.nonzero(np.isin(order, relevant))[0] + 1)
    return float(np.mean(np.arange(1, len(ranks) + 1) / ranks))


def _check_examples(examples: list[dict], evaluator: Any, k: int) -> None:
    """Goal semantics against hbt_bench.metrics ranks of the returned texts, and the APs recomputed.

    Each subset's queries are ranked in one ``rank_relevant`` call, in the attack's order, so the float32
    scores are bit-identical to the attack's (BLAS rounding depends on the product's shape) and the APs
    must match exactly; a brute-force full sort agrees up to that rounding.
    """
    from hbt_bench.metrics import rank_relevant

    by_subset: dict[str, list[dict]] = {}
    for e in examples:
        by_subset.setdefault(e["subset"], []).append(e)
    for name, recs in by_subset.items():
        cands, relevant = _candidates(evaluator, name)
        rels = [relevant[e["qid"]] for e in recs]
        for key, text_key in (("before", "original"), ("after", "perturbed")):
            queries = _embed([e[text_key] for e in recs])
            ranks = rank_relevant(queries, cands, rels).ranks
            for i, e in enumerate(recs):
                r = ranks[i, : len(rels[i])]
                assert e[f"gold_rank_{key}"] == r[0], e
                assert e[f"ap_{key}"] == float(np.mean(np.arange(1, len(r) + 1) / r)), e
                brute = _brute_force_ap((cands @ queries[i]).astype(np.float32), rels[i])
                assert brute == pytest.approx(e[f"ap_{key}"], abs=1e-5)
        for e in recs:
            if e["result"] == "skipped":
                assert e["gold_rank_before"] > k and e["perturbed"] == e["original"]
                assert e["num_queries"] == 1 and e["words_perturbed"] == 0
            else:
                assert e["gold_rank_before"] <= k
                assert (e["gold_rank_after"] > k) == (e["result"] == "succeeded"), e


def test_goal_semantics_and_exact_ap(report: Any, evaluator: Any) -> None:
    assert list(report.subset_scores) == SUBSETS.split(",")
    assert len(report.examples) == 3 * PARAMS.limit
    _check_examples(report.examples, evaluator, k=1)
    # The first --limit queries of each subset, in file order.
    en = [q.qid for q in evaluator.corpus.languages["en"].questions[: PARAMS.limit]]
    assert [e["qid"] for e in report.examples if e["subset"] == "en-multi"] == en
    kinds = {e["result"] for e in report.examples}
    assert {"succeeded", "skipped"} <= kinds  # the data exercises both paths


def test_counts_and_maps(report: Any) -> None:
    for name, s in report.subset_scores.items():
        recs = [e for e in report.examples if e["subset"] == name]
        kinds = [e["result"] for e in recs]
        assert s["n_queries"] == len(recs) == PARAMS.limit
        assert (s["n_succeeded"], s["n_failed"], s["n_skipped"]) == tuple(
            kinds.count(t) for t in ("succeeded", "failed", "skipped")
        )
        assert s["n_attacked"] == s["n_succeeded"] + s["n_failed"]  # skipped are not attacks
        if s["n_attacked"]:
            assert s["attack_success_rate"] == s["n_succeeded"] / s["n_attacked"]
        succ_words = [e["words_perturbed"] for e in recs if e["result"] == "succeeded"]
        assert s["mean_words_perturbed"] == (np.mean(succ_words) if succ_words else None)
        assert s["map_before_attack"] == pytest.approx(np.mean([e["ap_before"] for e in recs]))
        assert s["map_after_attack"] == pytest.approx(np.mean([e["ap_after"] for e in recs]))
        assert s["main_score"] == s["map_after_attack"] <= s["map_before_attack"]
        assert s["attack_parameters"]["k"] == 1 and s["attack_parameters"]["textattack_version"]
        assert all(1 <= e["words_perturbed"] <= PARAMS.max_words for e in recs if e["result"] != "skipped")
        assert all(e["num_queries"] <= PARAMS.query_budget for e in recs)


def test_query_budget_k_and_beam(hash_model: Any, shared_data: Path, evaluator: Any) -> None:
    """A tiny budget is never exceeded (and is hit); k=2 and beam search keep the goal semantics."""
    tight = AttackParameters(limit=6, query_budget=4, k=2)
    r = run_targeted_attack(hash_model, "XQuADR", tight, subsets="en-en", data_dir=shared_data)
    assert all(e["num_queries"] <= 4 for e in r.examples)
    assert any(e["num_queries"] == 4 for e in r.examples)
    _check_examples(r.examples, evaluator, k=2)

    beam = AttackParameters(limit=4, search="beam", beam_width=2, query_budget=40, max_words=2)
    r = run_targeted_attack(hash_model, "XQuADR", beam, subsets="de-de", data_dir=shared_data)
    assert r.parameters["search"] == "beam" and r.parameters["beam_width"] == 2
    assert all(e["num_queries"] <= 40 and e["words_perturbed"] <= 2 for e in r.examples)
    _check_examples(r.examples, evaluator, k=1)


def test_result_files_load_with_mteb(report: Any, tmp_path: Path) -> None:
    import mteb

    paths = save_report(report, tmp_path)
    result_file = next(p for p in paths if p.name == "XQuADR-TargetedAttack.json")
    assert result_file.parent.parent.parent == tmp_path / "results"
    loaded = mteb.ResultCache(tmp_path).load_results(tasks=["XQuADR-TargetedAttack"], include_remote=False)
    [model_result] = loaded.model_results
    assert model_result.model_name == "hbt-bench/hash-ngram"
    [tr] = model_result.task_results
    scores = {s["hf_subset"]: s for s in tr.scores["test"]}
    assert set(scores) == set(SUBSETS.split(","))
    assert scores["en-en"]["main_score"] == pytest.approx(report.subset_scores["en-en"]["map_after_attack"])
    assert scores["en-multi"]["attack_parameters"]["recipe"] == PARAMS.recipe
    # Kept apart from the clean / frozen-set results.
    assert not mteb.ResultCache(tmp_path).load_results(tasks=["XQuADR"], include_remote=False).model_results
    lines = (result_file.parent / "XQuADR-TargetedAttack.examples.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert records == report.examples
    assert {"qid", "lang", "subset", "original", "perturbed", "result", "gold_rank_before"} <= set(records[0])


_CHILD = """
import json, sys
from hbt_bench.adversarial.targeted import AttackParameters, run_targeted_attack
params = AttackParameters(**json.loads(sys.argv[1]))
r = run_targeted_attack("builtin:hash-ngram", "XQuADR", params, subsets="de-de,en-en", data_dir=sys.argv[2])
print(json.dumps(r.examples))
"""


def test_deterministic_across_processes(report: Any, shared_data: Path) -> None:
    """Another process, another PYTHONHASHSEED, other subsets in another order: same attacks."""
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    params = json.dumps({k: getattr(PARAMS, k) for k in ("limit", "query_budget", "max_words", "seed")})
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, params, str(shared_data)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    child = {(e["subset"], e["qid"]): e for e in json.loads(out.stdout.strip().splitlines()[-1])}
    mine = {(e["subset"], e["qid"]): e for e in report.examples if e["subset"] in ("en-en", "de-de")}
    assert child == mine


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


def test_select_subsets_defaults() -> None:
    langs = ("en", "de", "el")
    assert [s.name for s in select_subsets(langs)] == [
        "en-en",
        "de-de",
        "el-el",
        "en-multi",
        "de-multi",
        "el-multi",
    ]
    assert [s.name for s in select_subsets(langs, settings="cross")] == [
        "en-de", "en-el", "de-en", "de-el", "el-en", "el-de",
    ]  # fmt: skip
    assert [s.name for s in select_subsets(langs, subsets=" de-en , en-multi ")] == ["de-en", "en-multi"]
    with pytest.raises(TargetedAttackError, match="--subsets"):
        select_subsets(langs, subsets=",")


def test_best_relevant_rank_ties_follow_metrics() -> None:
    """Exact ties rank by candidate index, as hbt_bench.metrics.rank_relevant does."""
    from hbt_bench.metrics import rank_relevant

    rng = np.random.default_rng(0)
    cands = rng.integers(-2, 3, size=(40, 4)).astype(np.float32)  # many identical rows: real ties
    q = rng.integers(-2, 3, size=(1, 4)).astype(np.float32)
    scores = (q @ cands.T)[0]
    for rel in ([0], [5, 17], [39, 3, 20]):
        rel_arr = np.asarray(sorted(rel))
        expected = int(rank_relevant(q, cands, [rel_arr]).ranks[0, 0])
        assert best_relevant_rank(scores, rel_arr) == expected


def test_aggregates_pool_counts() -> None:
    base = {"n_queries": 10, "total_words_perturbed": 0, "total_model_queries": 0}
    a = {**base, "n_attacked": 1, "n_skipped": 9, "n_succeeded": 1, "n_failed": 0, "total_words_perturbed": 2}
    b = {**base, "n_attacked": 9, "n_skipped": 1, "n_succeeded": 0, "n_failed": 9, "total_model_queries": 90}
    a.update(map_before_attack=0.5, map_after_attack=0.4)
    b.update(map_before_attack=0.3, map_after_attack=0.3)
    agg = aggregate_scores({"en-en": a, "de-de": b}, ("en", "de"))
    assert list(agg) == ["mono", "en", "de", "all"]
    assert agg["mono"]["attack_success_rate"] == pytest.approx(0.1)  # 1 of 10 attacks, not mean(1.0, 0.0)
    assert agg["mono"]["mean_words_perturbed"] == 2 and agg["mono"]["mean_queries_per_example"] == 9
    assert agg["mono"]["map_after_attack"] == pytest.approx(0.35)


def test_imports_stay_lazy() -> None:
    """Building the CLI parser and importing the module import neither TextAttack nor the attack code."""
    code = (
        "import sys; from hbt_bench.cli import build_parser; build_parser()\n"
        "assert 'hbt_bench.adversarial.targeted' not in sys.modules\n"
        "import hbt_bench.adversarial.targeted\n"
        "assert 'textattack' not in sys.modules and 'torch' not in sys.modules, 'heavy import'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
