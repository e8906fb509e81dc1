"""XQuADR / MLQAR through mteb's own per-subset retrieval path (not registered; test and benchmark aid).

The equality checks (tests/plugin/test_tasks.py, test_mteb_features.py) and the speed benchmark
(benchmarks/bench_encode_once.py) compare our encode-once tasks with stock mteb on the same data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mteb.abstasks.retrieval import AbsTaskRetrieval

from hbt_bench.plugin.tasks import MLQAR, LareqaTask, XQuADR

__all__ = ["StockMLQAR", "StockXQuADR"]


class _StockMixin:
    """mteb's own per-subset retrieval path over the same data (re-encodes per subset)."""

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:  # type: ignore[attr-defined]
            return
        LareqaTask.load_data(self, num_proc=num_proc)  # type: ignore[arg-type]
        self.dataset = self.to_mteb_dataset()  # type: ignore[attr-defined]
        self.data_loaded = True

    def evaluate(
        self, model: Any, split: str = "test", subsets_to_run: list[str] | None = None, **kwargs: Any
    ):
        return AbsTaskRetrieval.evaluate(self, model, split, subsets_to_run, **kwargs)  # type: ignore[arg-type]

    def task_specific_scores(self, scores, qrels, results, hf_split, hf_subset) -> dict[str, float]:
        """Uncut MAP of mteb's run, which holds only the top max(k_values) candidates per query.

        It equals our full-list ``map`` only when every relevant candidate ranks inside that depth; a
        full-depth run is not an option here (13k x 13k hits as Python dicts would need tens of GB).
        """
        import pytrec_eval

        per_query = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(results)
        return {"map": float(np.mean([v["map"] for v in per_query.values()])) if per_query else 0.0}


class StockXQuADR(_StockMixin, XQuADR):
    metadata = XQuADR.metadata.model_copy(update={"name": "XQuADR-stock"})
    k_values = AbsTaskRetrieval.k_values


class StockMLQAR(_StockMixin, MLQAR):
    metadata = MLQAR.metadata.model_copy(update={"name": "MLQAR-stock"})
    k_values = AbsTaskRetrieval.k_values
