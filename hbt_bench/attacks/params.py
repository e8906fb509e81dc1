"""What determines a targeted attack besides the model and the data: parameters and subsets.

Stdlib only at import time (the CLI reads the defaults from here when it builds its parser); every error
is a :class:`TargetedAttackError` naming the command-line option at fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hbt_bench.errors import HbtBenchError

__all__ = [
    "DEFAULT_RECIPE",
    "DEFAULT_SETTINGS",
    "ENCODE_KWARGS",
    "SEARCH_METHODS",
    "AttackParameters",
    "TargetedAttackError",
    "select_subsets",
]

DEFAULT_RECIPE = "char-noise@30pct"
SEARCH_METHODS = ("greedy", "beam")
DEFAULT_SETTINGS = ("mono", "multi")
#: Encoder batch size for the candidates and the attacked queries (recorded with the results).
ENCODE_KWARGS: dict[str, Any] = {"batch_size": 64}


class TargetedAttackError(HbtBenchError):
    """An argument of a targeted attack is invalid (the message names it)."""


@dataclass(frozen=True)
class AttackParameters:
    """Everything that determines an attack's outcome besides the model and the data.

    ``limit``: queries attacked per subset (the first ones in file order); ``k``: the attack succeeds
    once the best relevant candidate ranks below ``k``; ``query_budget``: model queries per example,
    TextAttack's count (the clean query included, cache hits included); ``max_words``: words an
    adversarial query may differ in; ``seed``: mixed into every query's seed.
    """

    limit: int
    k: int = 1
    search: str = "greedy"
    beam_width: int = 4
    query_budget: int = 200
    max_words: int = 3
    recipe: str = DEFAULT_RECIPE
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`TargetedAttackError` naming the first bad value's command-line option."""
        positive = {
            "--limit": self.limit,
            "--k": self.k,
            "--beam-width": self.beam_width,
            "--max-words": self.max_words,
        }
        for option, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TargetedAttackError(f"{option} must be a positive integer, got {value!r}")
        budget = self.query_budget
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 2:
            # One query goes to the clean text; a search needs at least one more.
            raise TargetedAttackError(f"--query-budget must be an integer >= 2, got {budget!r}")
        if self.search not in SEARCH_METHODS:
            raise TargetedAttackError(
                f"--search: unknown search method {self.search!r}; valid: {', '.join(SEARCH_METHODS)}"
            )
        if not isinstance(self.recipe, str) or not self.recipe:
            raise TargetedAttackError(f"--recipe must be a non-empty recipe id, got {self.recipe!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TargetedAttackError(f"--seed must be an integer, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        """The parameters as recorded with the results (plus the goal, WIR method and TextAttack version)."""
        from hbt_bench.adversarial.textattack_adapter import textattack_version

        out: dict[str, Any] = {"goal": "rank", **asdict(self)}
        if self.search == "greedy":
            out.pop("beam_width")
            out["wir_method"] = "delete"
        out["textattack_version"] = textattack_version()
        return out


def _split_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s and s.strip()]


def select_subsets(
    languages: Sequence[str],
    subsets: str | Sequence[str] | None = None,
    settings: str | Sequence[str] | None = None,
) -> list[Any]:
    """The :class:`~hbt_bench.evaluate.Subset` s to attack, in a fixed order.

    Without ``subsets``: every subset of ``settings`` (default mono and multi: ``X-X`` and ``X-multi``
    for every language). With ``subsets``: those, in the order given; if ``settings`` is given too,
    each must belong to one of them.
    """
    from hbt_bench.evaluate import Setting, Subset, lareqa_subsets

    setting_names = _split_list(settings)
    valid_settings = [s.value for s in Setting]
    if setting_names is not None:
        bad = [s for s in setting_names if s not in valid_settings]
        if bad or not setting_names:
            raise TargetedAttackError(
                f"--settings: unknown setting {', '.join(bad) or repr(settings)}; "
                f"valid: {', '.join(valid_settings)}"
            )
    chosen = {Setting(s) for s in (setting_names or DEFAULT_SETTINGS)}
    names = _split_list(subsets)
    if names is None:
        return [s for s in lareqa_subsets(languages) if s.setting in chosen]
    if not names:
        raise TargetedAttackError(f"--subsets: no subset named in {subsets!r}")
    out: list[Any] = []
    for name in dict.fromkeys(names):
        try:
            subset = Subset.parse(name, languages)
        except ValueError as exc:
            raise TargetedAttackError(f"--subsets: {exc}") from None
        if setting_names is not None and subset.setting not in chosen:
            raise TargetedAttackError(
                f"--subsets: {name} is a {subset.setting.value} subset, but --settings selects "
                f"{', '.join(setting_names)}"
            )
        out.append(subset)
    return out
