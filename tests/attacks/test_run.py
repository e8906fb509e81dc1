"""Running targeted attacks (:mod:`hbt_bench.attacks.run`) with the hash-ngram encoder on real XQuAD-R data.

Every figure is recomputed independently of the attack code: the ranks and APs of the returned texts
(by :mod:`hbt_bench.ranking` and a brute-force sort), the counts, the determinism across processes.
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

from hbt_bench.attacks.params import AttackParameters
from hbt_bench.attacks.run import run_targeted_attack
from tests.attacks.helpers import PARAMS, SUBSETS, candidates, embed

REPO = Path(__file__).resolve().parents[2]


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
    from hbt_bench.ranking import rank_relevant

    by_subset: dict[str, list[dict]] = {}
    for e in examples:
        by_subset.setdefault(e["subset"], []).append(e)
    for name, recs in by_subset.items():
        cands, relevant = candidates(evaluator, name)
        rels = [relevant[e["qid"]] for e in recs]
        for key, text_key in (("before", "original"), ("after", "perturbed")):
            queries = embed([e[text_key] for e in recs])
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


@pytest.mark.parametrize("spec", ["hbt-bench/bm25", "mteb/baseline-bm25s"])
def test_a_search_model_is_refused_by_name(spec: str, shared_data: Path) -> None:
    """A targeted attack ranks by embedding similarity: a lexical search model has no embeddings, and the
    error says so (it was an AttributeError traceback)."""
    from hbt_bench.attacks.params import TargetedAttackError

    with pytest.raises(TargetedAttackError, match=f"--model {spec!r}.*search model"):
        run_targeted_attack(spec, "XQuADR", PARAMS, subsets="en-en", data_dir=shared_data)


_CHILD = """
import json, sys
from hbt_bench.attacks.params import AttackParameters
from hbt_bench.attacks.run import run_targeted_attack
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


def test_imports_stay_lazy() -> None:
    """Building the CLI parser imports only the attack parameters; no attacks module imports TextAttack,
    torch or mteb at import time."""
    code = (
        "import sys; from hbt_bench.cli import build_parser; build_parser()\n"
        "loaded = [m for m in sys.modules if m.startswith('hbt_bench.attacks.')]\n"
        "assert loaded == ['hbt_bench.attacks.params'], loaded\n"
        "from hbt_bench.attacks import goal, params, report, run, tasks\n"
        "heavy = [m for m in ('textattack', 'torch', 'mteb') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
