"""Turn another mteb text task into ``<Task>-Adv``: the same task, its texts perturbed by our recipes.

``adversarial_task(XNLI)`` returns ``class XNLI_Adv(AdversarialTaskMixin, XNLI)``, an
``AbsTaskPairClassification`` subclass named ``XNLI-Adv`` that loads XNLI exactly as mteb does, then
scores every subset on the clean texts and once per recipe on perturbed texts (pair classification: both
sentences; retrieval: the queries, the corpus stays clean). The main score is the mean over recipes of the
task's own main score; the subset also reports ``clean_<main>``, ``<main>_drop``, ``relative_robustness``,
``<main>_<recipe id>`` and ``perturbed_fraction_<recipe id>`` (:func:`hbt_bench.adversarial.scoring.
combine_scores`).

Unlike the LAReQA tasks, whose perturbations are frozen files, these are generated on the fly (the
source data is not ours to ship), so evaluating them needs TextAttack (``make attack-deps``). Generation
is deterministic: the seed of each text is derived from (recipe, language, subset, split, column, row).
A non-default recipe list or seed changes the task name (``XNLI-Adv-<hash>``) so results never mix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import mteb
import numpy as np
from mteb.abstasks.pair_classification import AbsTaskPairClassification
from mteb.abstasks.retrieval import AbsTaskRetrieval

from hbt_bench.adversarial.scoring import combine_scores

__all__ = [
    "DEFAULT_RECIPES",
    "ISO639_3_TO_1",
    "AdversarialTaskMixin",
    "adversarial_task",
    "language_of_subset",
]

#: The recipes a wrapped task uses by default: character noise at two strengths, invisible characters
#: and word deletion, all of which apply to every language.
DEFAULT_RECIPES: tuple[str, ...] = (
    "char-noise@10pct",
    "char-noise@30pct",
    "invisible@10pct",
    "word-drop@10pct",
)

# mteb language codes are ISO 639-3; the recipes (stopwords, alphabets) use ISO 639-1.
ISO639_3_TO_1 = {
    "ara": "ar", "arb": "ar", "bul": "bg", "deu": "de", "ell": "el", "eng": "en", "spa": "es", "fra": "fr",
    "hin": "hi", "rus": "ru", "swa": "sw", "tha": "th", "tur": "tr", "vie": "vi", "zho": "zh", "cmn": "zh",
    "urd": "ur", "ita": "it", "por": "pt", "nld": "nl", "pol": "pl", "jpn": "ja", "kor": "ko",
}  # fmt: skip


def language_of_subset(metadata: Any, hf_subset: str) -> str:
    """The ISO 639-1 code of a subset's (first) language, e.g. XNLI ``"bg"`` -> ``"bg"``."""
    langs = metadata.eval_langs
    codes = langs.get(hf_subset, []) if isinstance(langs, Mapping) else langs
    if not codes:
        raise ValueError(f"{metadata.name}: subset {hf_subset!r} has no language in its metadata")
    iso3 = codes[0].split("-")[0]
    return ISO639_3_TO_1.get(iso3, iso3)


def _recipes_key(recipes: Sequence[str], seed: int) -> str:
    return hashlib.sha256(repr((tuple(recipes), seed)).encode()).hexdigest()[:8]


def _perturb_column(
    texts: Sequence[Any], recipe: str, lang: str, scope: str, seed: int
) -> tuple[list[Any], float]:
    """Perturbed copies of the string entries of ``texts`` and the share actually changed."""
    from hbt_bench.adversarial.recipes import perturb

    idx = [i for i, t in enumerate(texts) if isinstance(t, str)]
    results = perturb(recipe, lang, [(f"{scope}/{i}", texts[i]) for i in idx], seed=seed)
    out = list(texts)
    for i, res in zip(idx, results, strict=True):
        out[i] = res.text
    changed = float(np.mean([r.status == "perturbed" for r in results])) if results else 0.0
    return out, changed


class AdversarialTaskMixin:
    """Put before an mteb retrieval or pair-classification task class: each subset is scored on the
    clean data and once per recipe of :attr:`adv_recipes` on perturbed data, through the base class's own
    ``_evaluate_subset``."""

    #: recipe ids and seed of the perturbations (set by :func:`adversarial_task`)
    adv_recipes: ClassVar[tuple[str, ...]] = DEFAULT_RECIPES
    adv_seed: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._adv_cache: dict[tuple[str, str], dict[str, tuple[Any, float]]] = {}

    def _adv_variants(self, data_split: Any, hf_split: str, hf_subset: str) -> dict[str, tuple[Any, float]]:
        """recipe id -> (perturbed copy of data_split, perturbed fraction), cached per subset and split."""
        key = (hf_subset, hf_split)
        if key in self._adv_cache:
            return self._adv_cache[key]
        from hbt_bench.adversarial.textattack_adapter import import_textattack

        import_textattack()
        lang = language_of_subset(self.metadata, hf_subset)  # type: ignore[attr-defined]
        out: dict[str, tuple[Any, float]] = {}
        for rid in self.adv_recipes:
            if isinstance(self, AbsTaskRetrieval):
                queries = data_split["queries"]
                texts, frac = _perturb_column(
                    queries["text"], rid, lang, f"{hf_subset}/{hf_split}/queries", self.adv_seed
                )
                variant = {**data_split, "queries": queries.remove_columns("text").add_column("text", texts)}
            else:
                from datasets import Dataset

                ds = Dataset.from_dict(data_split[0]) if isinstance(data_split, list) else data_split
                fracs = []
                for col in (self.input1_column_name, self.input2_column_name):  # type: ignore[attr-defined]
                    texts, frac = _perturb_column(
                        ds[col], rid, lang, f"{hf_subset}/{hf_split}/{col}", self.adv_seed
                    )
                    ds = ds.remove_columns(col).add_column(col, texts)
                    fracs.append(frac)
                variant, frac = ds, float(np.mean(fracs))
            out[rid] = (variant, frac)
        self._adv_cache[key] = out
        return out

    def _evaluate_subset(
        self, model: Any, data_split: Any, *, hf_split: str, hf_subset: str, **kw: Any
    ) -> dict[str, Any]:
        base = super()._evaluate_subset  # type: ignore[misc]
        clean = base(model, data_split, hf_split=hf_split, hf_subset=hf_subset, **kw)
        per_recipe: dict[str, Mapping[str, Any]] = {}
        fractions: dict[str, float] = {}
        for rid, (variant, frac) in self._adv_variants(data_split, hf_split, hf_subset).items():
            per_recipe[rid] = base(model, variant, hf_split=hf_split, hf_subset=hf_subset, **kw)
            fractions[rid] = frac
        return combine_scores(
            clean,
            per_recipe,
            fractions,
            averaged=list(per_recipe),
            main=self.metadata.main_score,  # type: ignore[attr-defined]
        )


def adversarial_task(
    base: type | str,
    recipes: Sequence[str] = DEFAULT_RECIPES,
    *,
    seed: int = 0,
    name: str | None = None,
) -> type:
    """A ``<Base>-Adv`` task class, ``AdversarialTaskMixin`` + ``base``, for an mteb retrieval or
    pair-classification task (class or name)."""
    base_cls = type(mteb.get_task(base)) if isinstance(base, str) else base
    if not issubclass(base_cls, (AbsTaskPairClassification, AbsTaskRetrieval)):
        raise TypeError(
            f"{base_cls.metadata.name}: only retrieval and pair-classification tasks have an adversarial "
            f"wrapper (got {base_cls.metadata.type})"
        )
    recipes = tuple(recipes)
    if not recipes:
        raise ValueError("recipes is empty")
    default = recipes == DEFAULT_RECIPES and seed == 0
    task_name = name or (
        f"{base_cls.metadata.name}-Adv"
        if default
        else f"{base_cls.metadata.name}-Adv-{_recipes_key(recipes, seed)}"
    )
    is_retrieval = issubclass(base_cls, AbsTaskRetrieval)
    description = (
        f"{base_cls.metadata.name} with its texts perturbed by hbt-bench recipes {', '.join(recipes)} "
        f"(seed {seed}; {'queries' if is_retrieval else 'both sentences'} perturbed). Main score: "
        f"{base_cls.metadata.main_score} averaged over the recipes. {base_cls.metadata.description}"
    )
    metadata = base_cls.metadata.model_copy(update={"name": task_name, "description": description.strip()})
    namespace = {
        "metadata": metadata,
        "adv_recipes": recipes,
        "adv_seed": seed,
        "__doc__": f"{base_cls.metadata.name} with perturbed texts (see {__name__}).",
        "__module__": __name__,
    }
    return type(task_name.replace("-", "_"), (AdversarialTaskMixin, base_cls), namespace)
