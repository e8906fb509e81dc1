"""The TextAttack side of targeted attacks (:mod:`hbt_bench.attacks.goal`) and the ranks its goal uses."""

from __future__ import annotations

import numpy as np

from hbt_bench.attacks.goal import words_changed
from hbt_bench.ranking import best_relevant_rank


def test_best_relevant_rank_ties_follow_metrics() -> None:
    """Exact ties rank by candidate index in the goal's single-row rank, as in rank_relevant."""
    from hbt_bench.ranking import rank_relevant

    rng = np.random.default_rng(0)
    cands = rng.integers(-2, 3, size=(40, 4)).astype(np.float32)  # many identical rows: real ties
    q = rng.integers(-2, 3, size=(1, 4)).astype(np.float32)
    scores = (q @ cands.T)[0]
    for rel in ([0], [5, 17], [39, 3, 20]):
        rel_arr = np.asarray(sorted(rel))
        expected = int(rank_relevant(q, cands, [rel_arr]).ranks[0, 0])
        assert best_relevant_rank(scores, rel_arr) == expected


def test_words_changed_counts_modified_and_deleted_words() -> None:
    """Two words modified and one deleted (index map -1) are three words, whatever the word positions."""
    from types import SimpleNamespace

    text = SimpleNamespace(
        attack_attrs={"modified_indices": {1, 3}, "original_index_map": np.array([0, -1, 1, 2])}
    )
    assert words_changed(text) == 3
    assert words_changed(SimpleNamespace(attack_attrs={})) == 0
