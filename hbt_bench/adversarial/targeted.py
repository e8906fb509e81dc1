"""Model-targeted attacks on LAReQA retrieval: ``hbt-bench attack run``.

A TextAttack search perturbs one query at a time, asking the victim model after every edit, until the
query's best relevant candidate leaves the top ``k`` of the subset's full candidate list (or the query
budget, the word cap or the search runs out). The pieces:

- :class:`RetrievalModelWrapper`: a TextAttack ``ModelWrapper`` around any encoder; queries -> one row
  of similarities against a candidate matrix encoded once (through the process-wide
  :class:`~hbt_bench.evaluate.EmbeddingStore` of :mod:`hbt_bench.plugin.tasks`, so candidates, query
  prompts and normalisation are exactly those of ``hbt-bench eval``);
- :class:`RetrievalRankGoal`: a TextAttack ``GoalFunction`` for several relevant candidates (the pooled
  setting has one per language). The ground truth is the query id; the goal is met once the *best*
  relevant candidate ranks below ``k`` (ranks with :mod:`hbt_bench.metrics`' tie rule);
- transformation and constraints from :func:`hbt_bench.adversarial.recipes.attack_components`, plus a
  cap on the words changed (``--max-words``, on top of the recipe's own budget); search
  ``GreedyWordSwapWIR(wir_method="delete")`` or ``BeamSearch``.

An attack found this way is specific to one model, so its results go to their own mteb task name
(``<Task>-TargetedAttack``), never next to the frozen-set (model-agnostic) adversarial scores.

TextAttack is imported only through :func:`~hbt_bench.adversarial.textattack_adapter.import_textattack`:
the classes that subclass TextAttack's are built on first access (module ``__getattr__``), so importing
this module stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from hbt_bench.errors import HbtBenchError

__all__ = [
    "ATTACK_TASK_SUFFIX",
    "DEFAULT_RECIPE",
    "SEARCH_METHODS",
    "AttackParameters",
    "TargetedAttackError",
    "TargetedAttackReport",
    "aggregate_scores",
    "attack_task_class",
    "format_report",
    "run_targeted_attack",
    "save_report",
    "select_subsets",
    "source_task_class",
]

ATTACK_TASK_SUFFIX = "-TargetedAttack"
DEFAULT_RECIPE = "char-noise@30pct"
SEARCH_METHODS = ("greedy", "beam")
ATTACK_TASKS = ("XQuADR", "MLQAR")
DEFAULT_SETTINGS = ("mono", "multi")
#: Encoder batch size for the candidates and the attacked queries (recorded with the results).
ENCODE_KWARGS: dict[str, Any] = {"batch_size": 64}
#: Texts per call to the wrapper; TextAttack batches a search step's candidates by this.
MODEL_BATCH_SIZE = 64

#: ``(lang, recipe id) -> (transformation, constraints)``, as :func:`recipes.attack_components`.
ComponentsFn = Callable[[str, str], tuple[Any, list[Any]]]

RESULT_TYPES = ("succeeded", "failed", "skipped")


class TargetedAttackError(HbtBenchError):
    """An argument of a targeted attack is invalid (the message names it)."""


# ---------------------------------------------------------------------------------------------------
# parameters and subset selection (no TextAttack, no mteb)
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# TextAttack classes, built on first access
# ---------------------------------------------------------------------------------------------------


def best_relevant_rank(scores: np.ndarray, relevant: np.ndarray) -> int:
    """Rank of the best relevant candidate in one score row, with :mod:`hbt_bench.metrics`' tie rule.

    ``rank(d) = 1 + #{c : s_c > s_d} + #{c : s_c == s_d and c < d}``, minimised over the relevant ``d``.
    """
    best = int(scores.shape[0]) + 1
    for d in relevant.tolist():
        t = scores[d]
        rank = 1 + int(np.count_nonzero(scores > t)) + int(np.count_nonzero(scores[:d] == t))
        best = min(best, rank)
    return best


def _margin(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """``k``-th best non-relevant score minus best relevant score: > 0 roughly when the goal is met."""
    others = np.delete(scores, relevant)
    if others.size < k:
        return float("-inf")
    kth = np.partition(others, others.size - k)[others.size - k]
    return float(kth) - float(scores[relevant].max())


@cache
def _textattack_classes() -> dict[str, type]:
    """Define the classes that subclass TextAttack's (imports TextAttack once)."""
    from hbt_bench.adversarial.textattack_adapter import import_textattack

    import_textattack()
    from textattack.constraints.overlap import MaxWordsPerturbed
    from textattack.goal_function_results import GoalFunctionResult
    from textattack.goal_functions import GoalFunction
    from textattack.models.wrappers import ModelWrapper
    from textattack.shared.utils import logger as textattack_logger

    from hbt_bench.evaluate import QUERY, EmbeddingStore
    from hbt_bench.metrics import duplicate_candidates

    class _RetrievalModelWrapper(ModelWrapper):
        """Query strings -> ``(len(texts), n_candidates)`` similarities against fixed candidates.

        ``store`` is the model's shared :class:`EmbeddingStore` (which holds the candidates and the clean
        queries). Texts it does not hold, the perturbed queries, go to a scratch store that
        :meth:`begin_example` replaces: thousands of one-off adversarial texts must not pile up in the
        process-wide store. Both stores use the same encode function, so prompts and normalisation match.
        Candidates with identical vectors get the first one's score, as in ``metrics.rank_relevant``
        (BLAS may round the same dot product differently in two columns, which must not split a tie).
        """

        def __init__(self, model: Any, store: EmbeddingStore, candidates: np.ndarray, lang: str) -> None:
            self.model = model  # TextAttack reads .model (its class) to check compatibility
            self.store = store
            self.lang = lang
            self.candidates = np.ascontiguousarray(candidates, dtype=np.float32)
            self._dups, self._reps = duplicate_candidates(self.candidates)
            self._known: dict[str, np.ndarray] = {}
            self._scratch = self._new_scratch()
            self.n_encoded = 0  # texts sent to the encoder (TextAttack's query count includes cache hits)

        def _new_scratch(self) -> EmbeddingStore:
            # Same encode function: the query prompt, language routing, output checks and normalisation
            # stay identical to the shared store's.
            return self.store.empty_like()

        def begin_example(self, text: str) -> None:
            """Start a new example: ``text`` (already in the shared store) keeps its stored vector."""
            self.end_example()
            self._known = {text: self.store.matrix(QUERY, [text])[0]}

        def end_example(self) -> None:
            """Forget the example's perturbed texts (counted in ``n_encoded``)."""
            self.n_encoded += self._scratch.n_encoded
            self._scratch = self._new_scratch()
            self._known = {}

        def embed(self, texts: Sequence[str]) -> np.ndarray:
            """Query embeddings: the clean query's stored row, any other text encoded once per example."""
            texts = list(texts)
            if not texts:
                return np.zeros((0, self.candidates.shape[1]), dtype=np.float32)
            fresh = list(dict.fromkeys(t for t in texts if t not in self._known))
            rows = dict(self._known)
            if fresh:
                self._scratch.ensure(QUERY, fresh, self.lang)
                rows.update(zip(fresh, self._scratch.matrix(QUERY, fresh), strict=True))
            return np.stack([rows[t] for t in texts])

        def scores(self, embeddings: np.ndarray) -> np.ndarray:
            # (C @ Q.T).T, not Q @ C.T: with a few query rows OpenBLAS was ~10x faster this way round.
            q = np.ascontiguousarray(embeddings, dtype=np.float32)
            s = np.ascontiguousarray((self.candidates @ q.T).T)
            if self._dups.size:
                s[:, self._dups] = s[:, self._reps]
            return s

        def __call__(self, text_input_list: list[str], **kwargs: Any) -> np.ndarray:
            return self.scores(self.embed(list(text_input_list)))

    class _RetrievalGoalFunctionResult(GoalFunctionResult):
        """A result whose displayed output is the best relevant candidate's rank."""

        def get_text_color_input(self) -> str:
            return "red"

        def get_text_color_perturbed(self) -> str:
            return "blue"

        def get_colored_output(self, color_method: Any = None) -> str:
            return str(self.output)

    class _RetrievalRankGoal(GoalFunction):
        """Untargeted rank attack with several relevant candidates: push them all out of the top ``k``.

        ``ground_truth_output`` is the query id; ``relevant[qid]`` its relevant candidate indices.
        Goal met when the best relevant rank is > ``k`` (so a query already there is skipped).

        Score to maximise: the ``k``-th best non-relevant similarity minus the best relevant one, i.e.
        the margin to the decision boundary. It moves with every edit, whereas ranks and AP are flat
        for most single-character edits; greedy and beam search keep only edits that raise the score,
        so a flat score would stall them.
        """

        def __init__(
            self,
            model_wrapper: Any,
            relevant: Mapping[str, np.ndarray],
            k: int = 1,
            query_budget: int | float = float("inf"),
        ) -> None:
            self.relevant = {qid: np.asarray(r, dtype=np.int64) for qid, r in relevant.items()}
            self.k = int(k)
            ta_logger = textattack_logger
            level = ta_logger.level
            ta_logger.setLevel(logging.ERROR)  # "No entry found for goal function ...": expected here
            try:
                super().__init__(
                    model_wrapper,
                    maximizable=False,
                    query_budget=query_budget,
                    model_batch_size=MODEL_BATCH_SIZE,
                    model_cache_size=2**14,
                )
            finally:
                ta_logger.setLevel(level)

        def _rel(self) -> np.ndarray:
            return self.relevant[self.ground_truth_output]

        def _process_model_outputs(self, inputs: Any, outputs: Any) -> np.ndarray:
            out = outputs.numpy() if hasattr(outputs, "numpy") else np.asarray(outputs)
            return np.asarray(out, dtype=np.float32).reshape(len(inputs), -1)

        def _is_goal_complete(self, model_output: Any, attacked_text: Any) -> bool:
            return best_relevant_rank(np.asarray(model_output), self._rel()) > self.k

        def _get_score(self, model_output: Any, attacked_text: Any) -> float:
            return _margin(np.asarray(model_output), self._rel(), self.k)

        def _get_displayed_output(self, raw_output: Any) -> str:
            return f"best relevant rank {best_relevant_rank(np.asarray(raw_output), self._rel())}"

        def _goal_function_result_type(self) -> type:
            return _RetrievalGoalFunctionResult

        def extra_repr_keys(self) -> list[str]:
            return ["k", *super().extra_repr_keys()]

    class _MaxWordsChanged(MaxWordsPerturbed):
        """``MaxWordsPerturbed`` counting the words changed as :func:`words_changed` does."""

        def __init__(self, max_num_words: int) -> None:
            super().__init__(max_num_words=max_num_words)

        def _check_constraint(self, transformed_text: Any, reference_text: Any) -> bool:
            return words_changed(transformed_text) <= self.max_num_words

    for cls, name in (
        (_MaxWordsChanged, "MaxWordsChanged"),
        (_RetrievalModelWrapper, "RetrievalModelWrapper"),
        (_RetrievalGoalFunctionResult, "RetrievalGoalFunctionResult"),
        (_RetrievalRankGoal, "RetrievalRankGoal"),
    ):
        cls.__name__ = cls.__qualname__ = name
        cls.__module__ = __name__
    return {
        "MaxWordsChanged": _MaxWordsChanged,
        "RetrievalModelWrapper": _RetrievalModelWrapper,
        "RetrievalGoalFunctionResult": _RetrievalGoalFunctionResult,
        "RetrievalRankGoal": _RetrievalRankGoal,
    }


def __getattr__(name: str) -> Any:
    """``RetrievalModelWrapper`` / ``RetrievalRankGoal`` / ``RetrievalGoalFunctionResult``, built lazily."""
    if name in (
        "MaxWordsChanged",
        "RetrievalModelWrapper",
        "RetrievalRankGoal",
        "RetrievalGoalFunctionResult",
    ):
        return _textattack_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------------
# running an attack
# ---------------------------------------------------------------------------------------------------


@dataclass
class TargetedAttackReport:
    """What :func:`run_targeted_attack` found: per-subset scores and every example, plus how it ran."""

    task_name: str  # "<Task>-TargetedAttack"
    source_task: str  # "XQuADR" / "MLQAR"
    model_meta: Any  # mteb ModelMeta of the attacked model
    parameters: dict[str, Any]
    languages: tuple[str, ...]
    subset_scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    evaluation_time: float = 0.0
    # Per subset, not written to the result files (they vary run to run or say nothing about the model):
    attack_seconds: dict[str, float] = field(default_factory=dict)  # wall time of the attack loop
    encoded_texts: dict[str, int] = field(default_factory=dict)  # perturbed texts sent to the encoder

    def task_result(self) -> Any:
        """The per-subset scores as an mteb ``TaskResult`` of the ``<Task>-TargetedAttack`` task."""
        from mteb.results import TaskResult

        task = attack_task_class(self.source_task)
        split = task.metadata.eval_splits[0]
        return TaskResult.from_task_results(
            task, {split: self.subset_scores}, evaluation_time=self.evaluation_time
        )


def source_task_class(name: str) -> type:
    """The LAReQA task class ``name`` (XQuADR or MLQAR); the error names ``--task``."""
    if name not in ATTACK_TASKS:
        raise TargetedAttackError(
            f"--task: unknown task {name!r}; targeted attacks support {', '.join(ATTACK_TASKS)}"
        )
    import mteb  # noqa: F401  (mteb first: its autoload hook then registers our tasks cleanly)

    from hbt_bench.plugin import tasks

    return getattr(tasks, name)


@cache
def attack_task_class(source_task: str) -> type:
    """An unregistered mteb task class ``<Task>-TargetedAttack``: the source task's metadata renamed.

    Only its metadata is used (to build ``TaskResult`` s: languages per subset, dataset revision), so
    the results sit in their own ``<Task>-TargetedAttack.json`` and never mix with the frozen-set ones.
    Main score: ``map_after_attack`` (higher is better, like every mteb main score, and defined even
    when every query was skipped, unlike the success rate).
    """
    base = source_task_class(source_task)
    description = (
        f"Model-targeted adversarial queries on {source_task}: a TextAttack search perturbs each query "
        "against the model until its best relevant candidate leaves the top k. Scores are per model; "
        "compare them only with the attack parameters recorded in each subset's scores."
    )
    update = {"name": f"{source_task}{ATTACK_TASK_SUFFIX}", "main_score": "map_after_attack"}
    metadata = base.metadata.model_copy(update={**update, "description": description})
    return type(f"{source_task}TargetedAttack", (base,), {"metadata": metadata, "__module__": __name__})


def _default_components() -> ComponentsFn:
    try:
        from hbt_bench.adversarial.recipes import attack_components
    except ImportError as exc:
        raise TargetedAttackError(f"--recipe: the perturbation recipes are unavailable ({exc})") from exc
    return attack_components


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def words_changed(attacked_text: Any) -> int:
    """Words of the original query an attacked text has changed or deleted, from TextAttack's bookkeeping.

    ``modified_indices`` + deleted words (``original_index_map`` < 0). Unlike comparing words position
    by position (``all_words_diff``), this neither counts the words after a deletion nor a Chinese or
    Thai phrase that the segmenter cuts differently once one character changed.
    """
    attrs = attacked_text.attack_attrs
    index_map = attrs.get("original_index_map")
    deleted = int(np.count_nonzero(np.asarray(index_map) < 0)) if index_map is not None else 0
    return len(attrs.get("modified_indices", ())) + deleted


def _result_type(result: Any) -> str:
    from textattack.attack_results import FailedAttackResult, SkippedAttackResult, SuccessfulAttackResult

    if isinstance(result, SuccessfulAttackResult):
        return "succeeded"
    if isinstance(result, SkippedAttackResult):
        return "skipped"
    if isinstance(result, FailedAttackResult):
        return "failed"
    raise TypeError(f"unexpected TextAttack result {type(result).__name__}")  # pragma: no cover


def _build_attack(goal: Any, transformation: Any, constraints: list[Any], params: AttackParameters) -> Any:
    from textattack import Attack
    from textattack.search_methods import BeamSearch, GreedyWordSwapWIR

    search = (
        GreedyWordSwapWIR(wir_method="delete")
        if params.search == "greedy"
        else BeamSearch(beam_width=params.beam_width)
    )
    constraints = [*constraints, _textattack_classes()["MaxWordsChanged"](params.max_words)]
    return Attack(goal, constraints, transformation, search)


def subset_scores_from_examples(
    examples: Sequence[Mapping[str, Any]], num_candidates: int, parameters: Mapping[str, Any]
) -> dict[str, Any]:
    """One subset's score dict from its example records (see :func:`run_targeted_attack`)."""
    types = [e["result"] for e in examples]
    n_succ, n_fail, n_skip = (types.count(t) for t in RESULT_TYPES)
    attacked = [e for e in examples if e["result"] != "skipped"]
    words = [e["words_perturbed"] for e in examples if e["result"] == "succeeded"]
    queries = [e["num_queries"] for e in attacked]
    map_before = float(np.mean([e["ap_before"] for e in examples]))
    map_after = float(np.mean([e["ap_after"] for e in examples]))
    return {
        "main_score": map_after,
        "map_before_attack": map_before,
        "map_after_attack": map_after,
        "map_drop": map_before - map_after,
        "attack_success_rate": n_succ / (n_succ + n_fail) if attacked else None,
        "mean_words_perturbed": float(np.mean(words)) if words else None,
        "mean_queries_per_example": float(np.mean(queries)) if queries else None,
        "n_queries": len(examples),
        "n_attacked": len(attacked),
        "n_skipped": n_skip,
        "n_succeeded": n_succ,
        "n_failed": n_fail,
        "total_words_perturbed": int(sum(words)),
        "total_model_queries": int(sum(queries)),
        "num_candidates": int(num_candidates),
        "attack_parameters": dict(parameters),
    }


def run_targeted_attack(
    model: Any,
    task: str = "XQuADR",
    params: AttackParameters | None = None,
    *,
    subsets: str | Sequence[str] | None = None,
    settings: str | Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    components: ComponentsFn | None = None,
    show_progress: bool = False,
) -> TargetedAttackReport:
    """Attack the first ``params.limit`` queries of each selected subset of ``task`` against ``model``.

    ``model``: a ``--model`` spec, a SentenceTransformer, a TextEncoder or an mteb encoder.
    ``components``: ``(lang, recipe) -> (transformation, constraints)``, default
    :func:`hbt_bench.adversarial.recipes.attack_components`.

    Each query is seeded from ``stable_seed(model name, task, subset, qid, seed)``, so a query's attack
    does not depend on which other queries or subsets run, nor on ``PYTHONHASHSEED``. Queries whose best
    relevant candidate is already below ``k`` are skipped (TextAttack's ``SkippedAttackResult``). After
    the search, every query's AP before and after is recomputed exactly by :mod:`hbt_bench.metrics`
    against the subset's full candidate list (a failed attack's query is the last text the search kept);
    the mAPs cover all ``limit`` queries, skipped ones unchanged, like TextAttack's accuracy under attack.
    """
    params = params if params is not None else AttackParameters(limit=1)
    params.validate()
    task_cls = attack_task_class(task)  # checks the task name first: cheap errors before any loading
    source_cls = source_task_class(task)
    languages = tuple(source_cls.definition.languages)
    chosen = select_subsets(languages, subsets, settings)
    components = components or _default_components()
    parts: dict[str, tuple[Any, list[Any]]] = {}
    for lang in dict.fromkeys(s.query_lang for s in chosen):  # recipe errors before any encoding
        try:
            transformation, constraints = components(lang, params.recipe)
        except (KeyError, ValueError) as exc:
            raise TargetedAttackError(f"--recipe {params.recipe!r}: {exc}") from exc
        parts[lang] = (transformation, list(constraints))

    from hbt_bench.adversarial.text import stable_seed
    from hbt_bench.evaluate import DOCUMENT, QUERY, Setting
    from hbt_bench.metrics import AP, rank_relevant
    from hbt_bench.plugin.models import mteb_encoder
    from hbt_bench.plugin.tasks import embedding_store_for

    start = time.perf_counter()
    source = source_cls(data_dir=data_dir)
    source.load_data()
    ev = source.evaluator
    assert ev is not None
    mteb_model = mteb_encoder(model)
    meta = mteb_model.mteb_model_meta
    model_name = meta.name or type(mteb_model).__name__
    split = source.metadata.eval_splits[0]
    store = embedding_store_for(mteb_model, source.metadata, split, ENCODE_KWARGS)

    classes = _textattack_classes()
    recorded = params.to_dict()
    report = TargetedAttackReport(
        task_name=task_cls.metadata.name,
        source_task=task,
        model_meta=meta,
        parameters=recorded,
        languages=languages,
    )
    _, cand_langs = ev.languages_needed(chosen)
    cand_matrix: dict[str, np.ndarray] = {}
    for lang in ev.languages:  # fixed order: deterministic encoder calls
        if lang in cand_langs:
            texts = ev.candidate_texts(lang)
            store.ensure(DOCUMENT, texts, lang)
            cand_matrix[lang] = store.matrix(DOCUMENT, texts)
    pool = (
        np.concatenate([cand_matrix[lang] for lang in ev.languages])
        if len(cand_langs) == len(ev.languages)
        else None
    )

    for subset in chosen:
        rows, relevant = ev.relevance(subset)
        rows, relevant = rows[: params.limit], relevant[: params.limit]
        questions = [ev.corpus.languages[subset.query_lang].questions[r] for r in rows.tolist()]
        originals = [q.text for q in questions]
        store.ensure(QUERY, originals, subset.query_lang)
        candidates = pool if subset.setting is Setting.MULTI else cand_matrix[subset.candidate_lang]
        assert candidates is not None
        wrapper = classes["RetrievalModelWrapper"](mteb_model, store, candidates, subset.query_lang)
        goal = classes["RetrievalRankGoal"](
            wrapper,
            {q.qid: rel for q, rel in zip(questions, relevant, strict=True)},
            k=params.k,
            query_budget=params.query_budget,
        )
        attack = _build_attack(goal, *parts[subset.query_lang], params)

        iterator: Iterable[Any] = questions
        if show_progress:
            from tqdm.auto import tqdm

            iterator = tqdm(questions, desc=f"{task} {subset.name}", unit="query")
        records: list[dict[str, Any]] = []
        adversarial: list[np.ndarray] = []
        loop_start = time.perf_counter()
        for q in iterator:
            seed = stable_seed(model_name, task, subset.name, q.qid, params.seed)
            _seed_everything(seed)
            wrapper.begin_example(q.text)
            result = attack.attack(q.text, q.qid)
            kind = _result_type(result)
            perturbed = q.text if kind == "skipped" else result.perturbed_result.attacked_text.text
            adversarial.append(wrapper.embed([perturbed])[0])
            records.append(
                {
                    "qid": q.qid,
                    "lang": subset.query_lang,
                    "subset": subset.name,
                    "setting": subset.setting.value,
                    "seed": seed,
                    "result": kind,
                    "original": q.text,
                    "perturbed": perturbed,
                    "words_perturbed": words_changed(result.perturbed_result.attacked_text),
                    "num_queries": int(result.num_queries),
                }
            )
        wrapper.end_example()
        report.attack_seconds[subset.name] = time.perf_counter() - loop_start
        report.encoded_texts[subset.name] = wrapper.n_encoded
        # Exact full-list ranks and AP, before and after, as hbt-bench eval computes them.
        before = rank_relevant(store.matrix(QUERY, originals), candidates, relevant)
        after = rank_relevant(np.stack(adversarial), candidates, relevant)
        ap_before, ap_after = AP().per_query(before), AP().per_query(after)
        for i, rec in enumerate(records):
            rec["gold_rank_before"] = int(before.ranks[i, 0])
            rec["gold_rank_after"] = int(after.ranks[i, 0])
            rec["ap_before"] = float(ap_before[i])
            rec["ap_after"] = float(ap_after[i])
        report.examples.extend(records)
        report.subset_scores[subset.name] = subset_scores_from_examples(
            records, candidates.shape[0], recorded
        )
    report.evaluation_time = time.perf_counter() - start
    return report


# ---------------------------------------------------------------------------------------------------
# aggregates, printing, saving
# ---------------------------------------------------------------------------------------------------


_COUNT_KEYS = (
    "n_queries",
    "n_attacked",
    "n_skipped",
    "n_succeeded",
    "n_failed",
    "total_words_perturbed",
    "total_model_queries",
)


def aggregate_scores(
    subset_scores: Mapping[str, Mapping[str, Any]], languages: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Pooled figures per setting (``mono``/``cross``/``multi``), per query language and ``all``.

    Counts are summed over subsets, so the success rate is succeeded / attacked over the group (not a
    mean of subset rates, which would overweight subsets with few attacked queries); mAPs are means over
    every query of the group.
    """
    from hbt_bench.evaluate import Subset

    groups: dict[str, list[Mapping[str, Any]]] = {}
    for name, scores in subset_scores.items():
        subset = Subset.parse(name, languages)
        for key in (subset.setting.value, subset.query_lang, "all"):
            groups.setdefault(key, []).append(scores)
    order = ["mono", "cross", "multi", *languages, "all"]
    out: dict[str, dict[str, Any]] = {}
    for key in order:
        if key not in groups:
            continue
        members = groups[key]
        total = {c: int(sum(s[c] for s in members)) for c in _COUNT_KEYS}
        n_q = total["n_queries"]
        out[key] = {
            **total,
            "n_subsets": len(members),
            "attack_success_rate": total["n_succeeded"] / total["n_attacked"]
            if total["n_attacked"]
            else None,
            "mean_words_perturbed": (
                total["total_words_perturbed"] / total["n_succeeded"] if total["n_succeeded"] else None
            ),
            "mean_queries_per_example": (
                total["total_model_queries"] / total["n_attacked"] if total["n_attacked"] else None
            ),
            "map_before_attack": sum(s["map_before_attack"] * s["n_queries"] for s in members) / n_q,
            "map_after_attack": sum(s["map_after_attack"] * s["n_queries"] for s in members) / n_q,
        }
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_report(
    task_name: str,
    model_name: str,
    subset_scores: Mapping[str, Mapping[str, Any]],
    languages: Sequence[str],
    parameters: Mapping[str, Any],
) -> str:
    """The per-subset table, then the per-setting, per-language and overall rows."""
    p = parameters
    search = p["search"] + (f" (beam {p['beam_width']})" if p["search"] == "beam" else "")
    lines = [
        f"{task_name}  model {model_name}",
        f"goal: best relevant out of the top {p['k']}; search {search}, query budget {p['query_budget']}, "
        f"at most {p['max_words']} words, recipe {p['recipe']}, seed {p['seed']}, "
        f"{p['limit']} queries/subset",
        f"{'subset':<12}{'n':>5}{'skip':>6}{'succ':>6}{'fail':>6}{'success':>9}{'words':>7}{'queries':>9}"
        f"{'mAP before -> after':>22}",
    ]

    def row(label: str, s: Mapping[str, Any]) -> str:
        return (
            f"{label:<12}{s['n_queries']:>5}{s['n_skipped']:>6}{s['n_succeeded']:>6}{s['n_failed']:>6}"
            f"{_fmt(s['attack_success_rate'], '.3f'):>9}{_fmt(s['mean_words_perturbed'], '.2f'):>7}"
            f"{_fmt(s['mean_queries_per_example'], '.1f'):>9}"
            f"{s['map_before_attack']:>12.4f} -> {s['map_after_attack']:.4f}"
        )

    lines.extend(row(name, s) for name, s in subset_scores.items())
    aggregates = aggregate_scores(subset_scores, languages)
    if len(subset_scores) > 1:
        lines.append("-" * 70)
        # Groups of one subset repeat its row, and a group of every subset is the "all" row.
        n = len(subset_scores)
        shown = [k for k, a in aggregates.items() if 1 < a["n_subsets"] < n or k == "all"]
        lines.extend(row(key, aggregates[key]) for key in shown)
    return "\n".join(lines)


def _write_jsonl_atomically(path: Path, records: Iterable[Mapping[str, Any]]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False, sort_keys=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_report(report: TargetedAttackReport, output_folder: str | Path) -> list[Path]:
    """Write the TaskResult in mteb's layout and the examples as ``<task name>.examples.jsonl`` beside it.

    ``<output>/results/<model>/<revision>/<Task>-TargetedAttack.json`` is written by the same atomic
    writer as ``hbt-bench eval``; the examples file ends in ``.jsonl`` because ``ResultCache`` reads
    every ``*.json`` of that folder as a TaskResult.
    """
    from hbt_bench.results import save_results_atomically

    out = Path(output_folder)
    written = save_results_atomically([report.task_result()], report.model_meta, out, ENCODE_KWARGS)
    result_path = next(p for p in written if p.name == f"{report.task_name}.json")
    examples_path = result_path.with_name(f"{report.task_name}.examples.jsonl")
    _write_jsonl_atomically(examples_path, report.examples)
    return [*written, examples_path]
