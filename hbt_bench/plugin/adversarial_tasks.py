"""``XQuADR-Adv`` and ``MLQAR-Adv``: the LAReQA tasks with perturbed questions from a frozen set.

Same settings and subsets as the clean tasks; every question is replaced by its perturbed version under
each recipe of the task's perturbation set (``tasks/perturbations/<dataset>/<version>``), the candidates
stay clean. Candidate embeddings, and clean or unchanged questions, come from the model's process-wide
:class:`~hbt_bench.evaluate.EmbeddingStore`, so after a clean run only the changed questions are encoded.

On the first ``evaluate`` call for a model every selected subset is scored under every recipe, one
recipe at a time (its query matrices are dropped before the next), and the score dicts are kept for
the remaining per-subset calls mteb makes. The score dict of a subset is described in
:mod:`hbt_bench.adversarial.scoring`. Each subset's per-query scores (for the leaderboard's paired tests,
:mod:`hbt_bench.per_query`) are combined the same way: a query's AP (and, pooled, rank distance) is its mean
over the core recipes scored for the subset, so their mean over queries is the stored ``map``
(``rank_distance``).

Using these tasks needs no TextAttack: the sets ship as edit scripts applied to the checksummed source.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hbt_bench.adversarial.perturbation_sets import (
    PerturbationSet,
    PerturbationSetError,
    RecipeSet,
    load_external_recipe,
    load_perturbation_set,
)
from hbt_bench.adversarial.scoring import combine_adversarial
from hbt_bench.evaluate import Subset
from hbt_bench.per_query import QueryScores, mean_of
from hbt_bench.plugin.tasks import (
    LareqaTask,
    MtebSearchEngine,
    TaskDefinitionError,
    embedding_store_for,
    task_definition,
)
from hbt_bench.predictions import PredictionsError

__all__ = ["ADVERSARIAL_TASKS", "LareqaAdvTask", "MLQARAdv", "XQuADRAdv"]


class LareqaAdvTask(LareqaTask):
    """A LAReQA task scored on perturbed questions; main score: adversarial mAP (mean over core recipes)."""

    def __init__(
        self,
        *args: Any,
        perturbations: str | None = None,
        external_recipes: Sequence[str | Path] = (),
        **kwargs: Any,
    ) -> None:
        """``perturbations`` picks another set version; ``external_recipes`` adds JSONL recipes made
        elsewhere (reported per recipe, never in the main score). Both are recorded in the revision."""
        if self.definition.fields.perturbations is None:
            raise TaskDefinitionError(f"{self.definition.path}: task.perturbations: required by an -Adv task")
        self.default_perturbations = self.definition.fields.perturbations
        self.perturbations = perturbations or self.default_perturbations
        self.external_recipes = tuple(Path(p) for p in external_recipes)
        self._external_digests = tuple(self._digest(p) for p in self.external_recipes)
        super().__init__(*args, **kwargs)
        self.perturbation_set: PerturbationSet | None = None
        self.recipes: dict[str, RecipeSet] = {}
        self._scores: weakref.WeakKeyDictionary[Any, dict[str, dict[str, Any]]] = weakref.WeakKeyDictionary()
        #: model -> subset -> per-query scores combined over the core recipes (see _combine_per_query)
        self._per_query: weakref.WeakKeyDictionary[Any, dict[str, QueryScores]] = weakref.WeakKeyDictionary()

    @staticmethod
    def _digest(path: Path) -> str:
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        except OSError as exc:
            raise PerturbationSetError(f"external recipe {path}: cannot read: {exc}") from exc

    def _revision_tags(self) -> list[str]:
        tags = super()._revision_tags()
        if self.perturbations != self.default_perturbations:
            tags.append(f"adv-{self.perturbations}")
        tags.extend(f"ext-{d}" for d in self._external_digests)
        return tags

    def _perturbations_root(self) -> Path | None:
        """The root the set is read from; None: the package's (or ``$HBT_BENCH_PERTURBATIONS_DIR``). A task
        whose set is built by the user (mMARCOR-Adv) points into that build and checks it here."""
        return None

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """The clean data, then the perturbation set applied to it (verified record by record)."""
        if self.data_loaded:
            return
        super().load_data(num_proc=num_proc, **kwargs)
        assert self.evaluator is not None
        corpus = self.evaluator.corpus
        self.perturbation_set = load_perturbation_set(
            self.definition.dataset, self.perturbations, corpus, root=self._perturbations_root()
        )
        self.recipes = dict(self.perturbation_set.recipes)
        for path in self.external_recipes:
            # reserved_ids: an external id may not shadow a shipped recipe or an earlier external file
            ext = load_external_recipe(path, corpus, reserved_ids=tuple(self.recipes))
            self.recipes[ext.recipe_id] = ext
        if not self.perturbation_set.core_recipes:
            raise PerturbationSetError(
                f"{self.metadata.name}: perturbation set {self.perturbations} has no core recipe"
            )

    def unload_data(self) -> None:
        self.perturbation_set = None
        self.recipes = {}
        self._scores = weakref.WeakKeyDictionary()
        self._per_query = weakref.WeakKeyDictionary()
        super().unload_data()

    def _score_all(
        self, model: Any, split: str, encode_kwargs: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """Every selected subset under the clean questions and every recipe, recipe by recipe."""
        assert self.evaluator is not None and self.perturbation_set is not None
        ev = self.evaluator
        store = embedding_store_for(model, self.metadata, split, encode_kwargs)
        subsets = self._selected_subsets(None)
        clean = ev.prepare(store, subsets)
        query_langs = {s.query_lang for s in subsets}
        rows = {s.name: ev.relevance(s)[0] for s in subsets}
        clean_scores = {s.name: ev.score_subset(clean, s) for s in subsets}
        by_recipe: dict[str, dict[str, dict[str, float]]] = {s.name: {} for s in subsets}
        per_query: dict[str, dict[str, QueryScores]] = {s.name: {} for s in subsets}
        fraction: dict[str, dict[str, float]] = {s.name: {} for s in subsets}
        recipes = tqdm(
            self.recipes.items(),
            desc=f"{self.metadata.name} recipes",
            unit="recipe",
            disable=not encode_kwargs.get("show_progress_bar", True),
            leave=False,
        )
        for rid, recipe in recipes:
            langs = [lang for lang in recipe.languages if lang in query_langs]
            if not langs:
                continue
            queries = ev.prepare_queries(store, {lang: recipe.texts[lang] for lang in langs})
            prepared = clean.with_queries(queries)
            for s in subsets:
                if s.query_lang not in queries:
                    continue
                by_recipe[s.name][rid] = ev.score_subset(prepared, s)
                per_query[s.name][rid] = ev.per_query[s.name]
                status = np.asarray(recipe.statuses[s.query_lang])[rows[s.name]]
                fraction[s.name][rid] = float(np.mean(status == "perturbed"))
        self._per_query[model] = self._combine_per_query(per_query)
        return self._combine(clean_scores, by_recipe, fraction)

    def _fractions(self, subsets: Sequence[Subset]) -> dict[str, dict[str, float]]:
        """Per subset and recipe, the share of the subset's queries the recipe changed."""
        assert self.evaluator is not None
        query_langs = {s.query_lang for s in subsets}
        out: dict[str, dict[str, float]] = {s.name: {} for s in subsets}
        for rid, recipe in self.recipes.items():
            for s in subsets:
                if s.query_lang in recipe.languages and s.query_lang in query_langs:
                    status = np.asarray(recipe.statuses[s.query_lang])[self.evaluator.relevance(s)[0]]
                    out[s.name][rid] = float(np.mean(status == "perturbed"))
        return out

    def _combine(
        self,
        clean_scores: Mapping[str, dict[str, float]],
        by_recipe: Mapping[str, dict[str, dict[str, float]]],
        fraction: Mapping[str, dict[str, float]],
    ) -> dict[str, dict[str, Any]]:
        assert self.perturbation_set is not None
        core = self.perturbation_set.core_recipes
        return {
            name: combine_adversarial(clean_scores[name], by_recipe[name], core, fraction[name])
            for name in clean_scores
        }

    def _combine_per_query(
        self, by_recipe: Mapping[str, Mapping[str, QueryScores]]
    ) -> dict[str, QueryScores]:
        """Per subset, each query's scores averaged over the core recipes scored for it: the recipes that
        :func:`combine_adversarial` averages (so the mean over queries is the stored score)."""
        assert self.perturbation_set is not None
        core = self.perturbation_set.core_recipes
        out = {}
        for name, recipes in by_recipe.items():
            core_here = [rid for rid in core if rid in recipes]
            if core_here:  # none: combine_adversarial refuses the subset
                out[name] = mean_of([recipes[rid] for rid in core_here], what=f"{self.metadata.name} {name}")
        return out

    def _score_search(self, engine: MtebSearchEngine, on_run: Any) -> dict[str, dict[str, Any]]:
        """A search model: each candidate set indexed once, then searched with the clean questions and
        with every recipe's. ``search_depth`` is the fewest candidates returned over all of a subset's
        runs (clean and perturbed), ``search_unreturned_relevant`` their total of unreturned relevant."""
        assert self.evaluator is not None
        ev = self.evaluator
        subsets = self._selected_subsets(None)
        if "clean" in self.recipes:
            raise ValueError(f"{self.metadata.name}: a recipe may not be called 'clean'")
        query_langs = {s.query_lang for s in subsets}
        query_sets: dict[str, dict[str, list[str]]] = {
            "clean": {lang: ev.query_texts(lang) for lang in query_langs}
        }
        for rid, recipe in self.recipes.items():
            langs = [lang for lang in recipe.languages if lang in query_langs]
            if langs:
                query_sets[rid] = {lang: list(recipe.texts[lang]) for lang in langs}
        scored = ev.score_by_search(engine, subsets, query_sets, on_run=on_run)
        keys = ("search_depth", "search_unreturned_relevant")
        depth = {
            s.name: min(int(q[s.name]["search_depth"]) for q in scored.values() if s.name in q)
            for s in subsets
        }
        missing = {
            s.name: sum(int(q[s.name]["search_unreturned_relevant"]) for q in scored.values() if s.name in q)
            for s in subsets
        }
        strip = {
            name: {sub: {k: v for k, v in sc.items() if k not in keys} for sub, sc in by_sub.items()}
            for name, by_sub in scored.items()
        }
        clean = strip.pop("clean")
        by_recipe = {
            s.name: {rid: strip[rid][s.name] for rid in strip if s.name in strip[rid]} for s in subsets
        }
        out = self._combine(clean, by_recipe, self._fractions(subsets))
        per_query = ev.per_query_by_set
        combined = self._combine_per_query(
            {
                s.name: {rid: per_query[rid][s.name] for rid in strip if s.name in per_query[rid]}
                for s in subsets
            }
        )
        ev.per_query.update(combined)  # what evaluate records for each subset
        for name, scores in out.items():
            scores["search_depth"] = depth[name]
            scores["search_unreturned_relevant"] = missing[name]
        return out

    def _check_predictions_supported(self) -> None:
        raise PredictionsError(
            f"{self.metadata.name}: mteb prediction files hold one run per subset, but this task scores "
            f"{len(self.recipes) + 1} query sets per subset (clean and each recipe); no predictions are "
            f"written. Run the clean task ({self.metadata.name.removesuffix('-Adv')}) with a prediction "
            "folder instead"
        )

    def _score_subset(
        self, model: Any, split: str, encode_kwargs: Mapping[str, Any], subset: Subset
    ) -> dict[str, Any]:
        """One subset's adversarial scores; the first call for a model scores every selected subset."""
        all_scores = self._scores.get(model)
        if all_scores is None:
            all_scores = self._score_all(model, split, encode_kwargs)
            self._scores[model] = all_scores
        assert self.evaluator is not None
        # What evaluate records for the subset: this model's combined per-query scores (the evaluator's
        # own entry holds the last recipe scored).
        self.evaluator.per_query[subset.name] = self._per_query[model][subset.name]
        return dict(all_scores[subset.name])

    def _statistics_query_sets(self, lang: str) -> list[tuple[str, Sequence[str]]]:
        """The queries this task scores: every recipe's version of each question (ids ``<recipe>/...``),
        so ``num_queries`` counts (question, recipe) pairs; the clean questions are XQuADR's/MLQAR's."""
        return [(f"{rid}/", r.texts[lang]) for rid, r in self.recipes.items() if lang in r.texts]

    def to_mteb_dataset(self) -> dict[str, dict[str, dict[str, Any]]]:
        raise NotImplementedError(
            f"{self.metadata.name} has no stock mteb path (it scores several query sets)"
        )


class XQuADRAdv(LareqaAdvTask):
    definition = task_definition("xquadr_adv")
    metadata = definition.metadata()


class MLQARAdv(LareqaAdvTask):
    definition = task_definition("mlqar_adv")
    metadata = definition.metadata()


ADVERSARIAL_TASKS: tuple[type[LareqaAdvTask], ...] = (XQuADRAdv, MLQARAdv)
