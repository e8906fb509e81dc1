"""The TextAttack side of a targeted attack: model wrapper, rank goal function, word cap, the ``Attack``.

- ``RetrievalModelWrapper``: a TextAttack ``ModelWrapper`` around any encoder; queries -> one row of
  similarities against a candidate matrix encoded once (through the process-wide
  :class:`~hbt_bench.evaluate.EmbeddingStore` of :mod:`hbt_bench.plugin.tasks`, so candidates, query
  prompts and normalisation are exactly those of ``hbt-bench eval``);
- ``RetrievalRankGoal``: a TextAttack ``GoalFunction`` for several relevant candidates (the pooled
  setting has one per language). The ground truth is the query id; the goal is met once the *best*
  relevant candidate ranks below ``k`` (ranks with :mod:`hbt_bench.ranking`'s tie rule);
- :func:`build_attack`: transformation and constraints from
  :func:`hbt_bench.adversarial.recipes.attack_components`, plus a cap on the words changed
  (``--max-words``, on top of the recipe's own budget); search ``GreedyWordSwapWIR(wir_method="delete")``
  or ``BeamSearch``.

TextAttack is imported only through :func:`~hbt_bench.adversarial.textattack_adapter.import_textattack`:
the classes that subclass TextAttack's are built on first access (module ``__getattr__``), so importing
this module stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np

from hbt_bench.attacks.params import AttackParameters
from hbt_bench.ranking import best_relevant_rank, duplicate_candidates, share_duplicate_scores

__all__ = [
    "MODEL_BATCH_SIZE",
    "build_attack",
    "result_type",
    "textattack_classes",
    "words_changed",
]

#: Texts per call to the wrapper; TextAttack batches a search step's candidates by this.
MODEL_BATCH_SIZE = 64


def _margin(scores: np.ndarray, relevant: np.ndarray, k: int) -> float:
    """``k``-th best non-relevant score minus best relevant score: > 0 roughly when the goal is met."""
    others = np.delete(scores, relevant)
    if others.size < k:
        return float("-inf")
    kth = np.partition(others, others.size - k)[others.size - k]
    return float(kth) - float(scores[relevant].max())


@cache
def textattack_classes() -> dict[str, type]:
    """Define the classes that subclass TextAttack's (imports TextAttack once)."""
    from hbt_bench.adversarial.textattack_adapter import import_textattack

    import_textattack()
    from textattack.constraints.overlap import MaxWordsPerturbed
    from textattack.goal_function_results import GoalFunctionResult
    from textattack.goal_functions import GoalFunction
    from textattack.models.wrappers import ModelWrapper
    from textattack.shared.utils import logger as textattack_logger

    from hbt_bench.evaluate import QUERY, EmbeddingStore

    class _RetrievalModelWrapper(ModelWrapper):
        """Query strings -> ``(len(texts), n_candidates)`` similarities against fixed candidates.

        ``store`` is the model's shared :class:`EmbeddingStore` (which holds the candidates and the clean
        queries). Texts it does not hold, the perturbed queries, go to a scratch store that
        :meth:`begin_example` replaces: thousands of one-off adversarial texts must not pile up in the
        process-wide store. Both stores use the same encode function, so prompts and normalisation match.
        Candidates with identical vectors get the first one's score, as in
        :func:`hbt_bench.ranking.rank_relevant` (BLAS may round the same dot product differently in two
        columns, which must not split a tie).
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
            share_duplicate_scores(s, self._dups, self._reps)
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
        return textattack_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def result_type(result: Any) -> str:
    """The kind of a TextAttack ``AttackResult``: "succeeded", "failed" or "skipped"."""
    from textattack.attack_results import FailedAttackResult, SkippedAttackResult, SuccessfulAttackResult

    if isinstance(result, SuccessfulAttackResult):
        return "succeeded"
    if isinstance(result, SkippedAttackResult):
        return "skipped"
    if isinstance(result, FailedAttackResult):
        return "failed"
    raise TypeError(f"unexpected TextAttack result {type(result).__name__}")  # pragma: no cover


def build_attack(goal: Any, transformation: Any, constraints: list[Any], params: AttackParameters) -> Any:
    """TextAttack's ``Attack``: ``goal`` searched with ``params.search``, capped at ``params.max_words``."""
    from textattack import Attack
    from textattack.search_methods import BeamSearch, GreedyWordSwapWIR

    search = (
        GreedyWordSwapWIR(wir_method="delete")
        if params.search == "greedy"
        else BeamSearch(beam_width=params.beam_width)
    )
    constraints = [*constraints, textattack_classes()["MaxWordsChanged"](params.max_words)]
    return Attack(goal, constraints, transformation, search)
