"""An mMARCO-R fixture build (hub-layout copy, tests/data/mmarco_fixture.py) and recipe-shaped fakes, for
building mMARCO-R perturbation sets without TextAttack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hbt_bench.adversarial.perturbation_sets import status_of
from hbt_bench.data.mmarco_build import build_mmarco_r
from tests.adversarial.test_perturbation_sets import FakeRecipe, Out
from tests.data.mmarco_fixture import write_hub_copy

RECIPES = (
    FakeRecipe("drop-first@all", core=True),
    FakeRecipe("reverse@all", core=True),
    FakeRecipe("upper@all", core=False, languages=("en",)),
)


def edit(recipe_id: str, text: str, variant: str = "a") -> str:
    """The fakes' perturbation, stated once: tests recompute expected texts with it independently of sets."""
    words = text.split()
    if recipe_id == "drop-first@all":
        return " ".join(words[1:] if variant == "a" else words[:-1])
    if recipe_id == "reverse@all":
        return " ".join(reversed(words))
    if recipe_id == "upper@all":
        return text.upper()
    raise KeyError(recipe_id)


def perturb_fn(variant: str = "a") -> Any:
    """A ``perturb`` for build_set; variant "b" drops the last word instead of the first."""

    def perturb(recipe: Any, lang: str, items, *, seed: int = 0, jobs: int = 1) -> list[Out]:
        return [Out(new := edit(recipe.id, text, variant), status_of(text, new)) for _qid, text in items]

    return perturb


def build_data(
    root: Path,
    shared_data: Path,
    languages: tuple[str, ...],
    *,
    queries: int = 6,
    negatives: int = 2,
    seed: int = 0,
) -> Path:
    """A hub-layout copy under ``root/hub`` built into ``root/data/mmarco-r``; returns ``root/data``."""
    hub = root / "hub"
    if not hub.exists():
        write_hub_copy(hub, shared_data / "mmarco", languages)
    build_mmarco_r(
        languages,
        queries=queries,
        negatives=negatives,
        seed=seed,
        source=hub,
        output=root / "data" / "mmarco-r",
        qrels=shared_data,
        progress=False,
    )
    return root / "data"


def build_with_local_set(root: Path, shared_data: Path, variant: str = "a") -> Path:
    """The default 8 languages (6 queries, 2 negatives) built under ``root`` with a local set of the fakes."""
    from hbt_bench.adversarial.mmarco_sets import build_local_set, write_local_set
    from hbt_bench.adversarial.perturbation_sets import SET_VERSION
    from hbt_bench.data.mmarco import DEFAULT_LANGUAGES

    data = build_data(root, shared_data, DEFAULT_LANGUAGES)
    build, built = build_local_set(SET_VERSION, RECIPES, data_dir=data, perturb=perturb_fn(variant))
    write_local_set(build, built)
    return data


def evaluate(task: Any, cache: Path) -> Any:
    """``mteb.evaluate`` of ``task`` with the hashed n-gram encoder into a ResultCache at ``cache``."""
    import mteb

    from hbt_bench.encoders import HashNgramEncoder
    from hbt_bench.plugin.models import to_mteb_model

    return mteb.evaluate(
        to_mteb_model(HashNgramEncoder()),
        task,
        cache=mteb.ResultCache(cache),
        co2_tracker=False,
        show_progress_bar=False,
    )
