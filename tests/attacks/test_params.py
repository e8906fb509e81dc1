"""Targeted-attack parameters and subset selection (:mod:`hbt_bench.attacks.params`)."""

from __future__ import annotations

import pytest

from hbt_bench.attacks.params import AttackParameters, TargetedAttackError, select_subsets


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


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"limit": 0}, "--limit must be a positive integer, got 0"),
        ({"limit": True}, "--limit must be a positive integer, got True"),
        ({"k": 1.5}, "--k must be a positive integer, got 1.5"),
        ({"beam_width": -1}, "--beam-width must be a positive integer"),
        ({"max_words": 0}, "--max-words must be a positive integer"),
        ({"query_budget": 1}, "--query-budget must be an integer >= 2, got 1"),
        ({"search": "random"}, "--search: unknown search method 'random'; valid: greedy, beam"),
        ({"recipe": ""}, "--recipe must be a non-empty recipe id"),
        ({"seed": "0"}, "--seed must be an integer, got '0'"),
    ],
)
def test_validate_names_the_option(changes: dict, needle: str) -> None:
    params = AttackParameters(**{"limit": 3, **changes})
    with pytest.raises(TargetedAttackError) as info:
        params.validate()
    assert needle in str(info.value)


def test_recorded_parameters() -> None:
    """Greedy records its WIR method and no beam width; beam records its width."""
    greedy = AttackParameters(limit=5).to_dict()
    version = greedy.pop("textattack_version")
    assert version is None or isinstance(version, str)
    assert greedy == {
        "goal": "rank",
        "limit": 5,
        "k": 1,
        "search": "greedy",
        "query_budget": 200,
        "max_words": 3,
        "recipe": "char-noise@30pct",
        "seed": 0,
        "wir_method": "delete",
    }
    beam = AttackParameters(limit=5, search="beam", beam_width=2).to_dict()
    assert beam["beam_width"] == 2 and "wir_method" not in beam
