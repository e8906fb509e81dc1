"""Constants and helpers shared by the targeted-attack tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hbt_bench.attacks.params import AttackParameters

SUBSETS = "en-en,de-de,en-multi"
PARAMS = AttackParameters(limit=8, query_budget=60, max_words=3, seed=0)


def embed(texts: list[str]) -> np.ndarray:
    """hash-ngram rows normalised as EmbeddingStore does (bit-identical to what the attack scored)."""
    from hbt_bench.encoders import HashNgramEncoder

    emb = HashNgramEncoder().encode(texts)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return np.ascontiguousarray(emb / np.maximum(norms, np.finfo(np.float32).tiny), dtype=np.float32)


def candidates(evaluator: Any, subset_name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The subset's full candidate matrix and ``{qid: relevant indices}``, rebuilt from scratch."""
    from hbt_bench.evaluate import Subset

    subset = Subset.parse(subset_name, evaluator.languages)
    langs = evaluator.languages if subset.candidate_lang is None else (subset.candidate_lang,)
    cands = np.concatenate([embed(evaluator.candidate_texts(lang)) for lang in langs])
    rows, relevant = evaluator.relevance(subset)
    questions = evaluator.corpus.languages[subset.query_lang].questions
    return cands, {questions[r].qid: rel for r, rel in zip(rows.tolist(), relevant, strict=True)}
