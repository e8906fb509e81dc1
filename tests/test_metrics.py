"""Measures from relevant ranks: hand-computed values, names and parsing, agreement with ir_measures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from hbt_bench.metrics import (
    AP,
    DEFAULT_MEASURES,
    NDCG,
    RR,
    RankDistance,
    Recall,
    evaluate_ranks,
    parse_measure,
)
from hbt_bench.ranking import RelevantRanks, rank_relevant
from tests.helpers import assert_agrees_with_ir_measures
from tests.test_ranking import random_relevant

REPO_ROOT = Path(__file__).resolve().parents[1]


def _rr(rank_lists: list[list[int]], n_candidates: int = 100) -> RelevantRanks:
    """RelevantRanks from per-query rank lists (sorted and padded here)."""
    width = max(len(r) for r in rank_lists)
    ranks = np.zeros((len(rank_lists), width), dtype=np.int64)
    for i, r in enumerate(rank_lists):
        ranks[i, : len(r)] = sorted(r)
    return RelevantRanks(ranks, np.array([len(r) for r in rank_lists], dtype=np.int64), n_candidates)


# --------------------------------------------------------------------------------------------------
# Measures on hand-computed ranks

# Query 0: relevant at ranks 1, 3, 6. Query 1: one relevant, at rank 12 (beyond every k <= 10).
# Query 2: relevant at ranks 2 and 4.
HAND = _rr([[1, 3, 6], [12], [2, 4]])
L3, L4, L5 = math.log2(3), math.log2(4), math.log2(5)


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        (AP(), [(1 + 2 / 3 + 3 / 6) / 3, 1 / 12, (1 / 2 + 2 / 4) / 2]),
        (AP(5), [(1 + 2 / 3) / 3, 0.0, (1 / 2 + 2 / 4) / 2]),
        (AP(2), [1 / 2, 0.0, (1 / 2) / 2]),  # divides by min(|R|, k)
        (AP(20), [(1 + 2 / 3 + 3 / 6) / 3, 1 / 12, (1 / 2 + 2 / 4) / 2]),
        (Recall(1), [1 / 3, 0.0, 0.0]),
        (Recall(3), [2 / 3, 0.0, 1 / 2]),
        (Recall(10), [1.0, 0.0, 1.0]),
        (NDCG(5), [(1 + 1 / L4) / (1 + 1 / L3 + 1 / L4), 0.0, (1 / L3 + 1 / L5) / (1 + 1 / L3)]),
        (NDCG(3), [(1 + 1 / L4) / (1 + 1 / L3 + 1 / L4), 0.0, (1 / L3) / (1 + 1 / L3)]),
        (NDCG(1), [1.0, 0.0, 0.0]),
        (RR(), [1.0, 1 / 12, 1 / 2]),
        (RR(10), [1.0, 0.0, 1 / 2]),
        (RR(1), [1.0, 0.0, 0.0]),
        (RankDistance(), [5.0, 0.0, 2.0]),
    ],
    ids=lambda x: x.name if hasattr(x, "name") else "",
)
def test_measures_on_hand_computed_ranks(measure, expected):
    values = measure.per_query(HAND)
    assert values.dtype == np.float64
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    assert evaluate_ranks(HAND, [measure]) == pytest.approx(
        {measure.name: float(np.mean(expected))}, abs=1e-12
    )


def test_evaluate_ranks_returns_python_floats_for_default_measures():
    scores = evaluate_ranks(HAND)
    assert list(scores) == [
        "map",
        "map_at_20",
        "recall_at_1",
        "recall_at_10",
        "ndcg_at_10",
        "mrr",
        "mrr_at_10",
        "rank_distance",
    ]
    assert all(type(v) is float for v in scores.values())
    assert scores["rank_distance"] == pytest.approx(7 / 3)


def test_names_round_trip_through_parse_measure():
    for measure in (*DEFAULT_MEASURES, AP(100), Recall(100), NDCG(1), RR(3)):
        assert parse_measure(measure.name) == measure
    assert parse_measure("map_at_20") == AP(20)
    assert AP(np.int64(20)).name == "map_at_20"


@pytest.mark.parametrize(
    "name", ["", "MAP", "map_at_", "map_at_0", "map_at_020", "recall", "ndcg@10", "p_at_5"]
)
def test_parse_measure_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="valid forms: map, map_at_<k>"):
        parse_measure(name)


def test_the_invalid_name_message_lists_every_declared_form():
    """The message is built from the declarations; its text is the one written by hand before them."""
    with pytest.raises(ValueError) as info:
        parse_measure("p_at_5")
    assert str(info.value) == (
        "unknown measure 'p_at_5'; valid forms: map, map_at_<k>, recall_at_<k>, ndcg_at_<k>, mrr, "
        "mrr_at_<k>, rank_distance (k >= 1)"
    )


@pytest.mark.parametrize(
    ("name", "measure"),
    [
        ("map", AP()),
        ("map_at_1", AP(1)),
        ("map_at_20", AP(20)),
        ("recall_at_10", Recall(10)),
        ("ndcg_at_100", NDCG(100)),
        ("mrr", RR()),
        ("mrr_at_10", RR(10)),
        ("rank_distance", RankDistance()),
    ],
)
def test_parse_measure_by_hand(name, measure):
    assert parse_measure(name) == measure
    assert measure.name == name


@pytest.mark.parametrize("name", ["rank_distance_at_5", "ndcg", "mrr_at_10_at_2", "map_at_1.5", "map_at_+3"])
def test_parse_measure_rejects_a_cutoff_where_the_declaration_forbids_or_requires_one(name):
    with pytest.raises(ValueError, match="unknown measure"):
        parse_measure(name)


def test_declarations_require_or_forbid_a_cutoff():
    with pytest.raises(ValueError, match="Recall needs a cutoff"):
        Recall()
    with pytest.raises(ValueError, match="NDCG needs a cutoff"):
        NDCG()
    with pytest.raises(ValueError, match="RankDistance takes no cutoff"):
        RankDistance(5)
    assert Recall(np.int64(3)) == Recall(3) and type(Recall(np.int64(3)).cutoff) is int


def test_stored_leaderboard_keys_are_the_measure_names():
    """The keys of the stored results (written before measures declared their names) parse and format back
    byte-identically, and every default measure's key is among them."""
    stored = REPO_ROOT / "leaderboard" / "results" / "hbt-bench__hash-ngram" / "0.1.0" / "XQuADR.json"
    keys = set(json.loads(stored.read_text(encoding="utf-8"))["scores"]["test"][0])
    measure_keys = keys - {
        "num_queries",
        "num_candidates",
        "main_score",
        "hf_subset",
        "languages",
        "mteb_version",
    }
    assert measure_keys == {
        "map",
        "map_at_20",
        "recall_at_1",
        "recall_at_10",
        "ndcg_at_10",
        "mrr",
        "mrr_at_10",
    }
    for key in measure_keys:
        assert parse_measure(key).name == key
    pooled = [
        row
        for row in json.loads(stored.read_text(encoding="utf-8"))["scores"]["test"]
        if row["hf_subset"].endswith("-multi")
    ]
    assert pooled and all("rank_distance" in row for row in pooled)
    assert {m.name for m in DEFAULT_MEASURES} == measure_keys | {"rank_distance"}


@pytest.mark.parametrize("make", [lambda: AP(0), lambda: Recall(0), lambda: NDCG(-1), lambda: RR(True)])
def test_cutoffs_must_be_positive_ints(make):
    with pytest.raises(ValueError, match="cutoff must be a positive int"):
        make()


def test_evaluate_ranks_rejects_zero_queries_and_duplicate_names():
    empty = RelevantRanks(np.zeros((0, 0), np.int64), np.zeros(0, np.int64), 5)
    with pytest.raises(ValueError, match="zero queries"):
        evaluate_ranks(empty)
    with pytest.raises(ValueError, match="duplicate names"):
        evaluate_ranks(HAND, [AP(), AP()])


# --------------------------------------------------------------------------------------------------
# Agreement with ir_measures (trec_eval)


def test_measures_agree_with_ir_measures_on_random_data():
    """300 queries x 2,000 candidates, 1-11 relevant, full runs. Integer-valued float32 embeddings make
    every dot product exact, so ir_measures sees exactly our scores; no relevant score is tied (asserted),
    since trec_eval breaks ties by doc id, not by our rule."""
    rng = np.random.default_rng(12)  # a seed without tied relevant scores
    q = rng.integers(-1000, 1001, size=(300, 16)).astype(np.float32)
    c = rng.integers(-1000, 1001, size=(2000, 16)).astype(np.float32)
    relevant = random_relevant(rng, len(q), len(c), 11)
    scores = q.astype(np.float64) @ c.astype(np.float64).T  # exact: |score| < 2**24
    for i, rel in enumerate(relevant):
        assert np.isin(scores[i], scores[i, rel]).sum() == len(rel), f"query {i} has a tied relevant score"

    rr = rank_relevant(q, c, relevant)
    qrels = {str(i): {str(d): 1 for d in rel.tolist()} for i, rel in enumerate(relevant)}
    run = {str(i): dict(zip(map(str, range(len(c))), scores[i].tolist(), strict=True)) for i in range(len(q))}
    ours_mean = assert_agrees_with_ir_measures(rr, qrels, run)
    assert 0 < ours_mean["map"] < 0.2  # non-trivial: not everything at rank 1
