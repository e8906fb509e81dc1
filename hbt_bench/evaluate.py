"""Encode-once evaluation of LAReQA-style retrieval in its three settings.

Stock mteb re-encodes the corpus of every subset: 132 subsets of XQuAD-R mean ~450k encoder inputs
for ~26k distinct texts. Here every distinct (kind, text) pair is encoded once per model into an
:class:`EmbeddingStore`, which lives as long as the model object and is shared by every task and
subset scored in the process; each subset is then scored exactly over the full candidate list
from the cached matrices (:func:`hbt_bench.metrics.rank_relevant`).

Settings (LAReQA, arXiv 2004.05484; arXiv 2408.10536 section 3.2), for languages L:

- ``mono``  ``X-X``: queries in X against X's candidates.
- ``cross`` ``X-Y`` (X != Y): queries in X against Y's candidates; queries without an answer in Y
  are dropped (this only happens in MLQA-R, whose questions are not all parallel).
- ``multi`` ``X-multi``: queries in X against the pooled candidates of every language of the
  dataset; every language's answer sentence is relevant. Language bias (rank distance) is
  reported here.

This module imports no mteb, torch or encoder code; :mod:`hbt_bench.plugin.tasks` adapts it to mteb.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hbt_bench.data.lareqa import CANDIDATE_TEXT_MODES, LareqaCorpus, candidate_text
from hbt_bench.encoders import validate_embeddings
from hbt_bench.metrics import DEFAULT_MEASURES, RankDistance, evaluate_ranks, rank_relevant

MULTI = "multi"
QUERY = "query"
DOCUMENT = "document"

#: ``encode(texts, kind, lang) -> (len(texts), dim) array``; kind is "query" or "document".
EncodeFn = Callable[[list[str], str, str], np.ndarray]


class Setting(enum.StrEnum):
    """The three LAReQA retrieval settings."""

    MONO = "mono"
    CROSS = "cross"
    MULTI = "multi"


@dataclass(frozen=True)
class Subset:
    """One scored unit: a query language against one candidate language or the pool."""

    name: str
    setting: Setting
    query_lang: str
    candidate_lang: str | None  # None: the pooled corpus of all languages

    @classmethod
    def parse(cls, name: str, languages: Sequence[str]) -> Subset:
        """Parse ``"ar-de"`` / ``"ar-ar"`` / ``"ar-multi"``; error names the subset and valid languages."""
        query, sep, target = name.partition("-")
        if not sep or query not in languages or (target != MULTI and target not in languages):
            raise ValueError(
                f"unknown subset {name!r}: expected '<q>-<c>' or '<q>-{MULTI}' with languages "
                f"{', '.join(languages)}"
            )
        if target == MULTI:
            return cls(name, Setting.MULTI, query, None)
        return cls(name, Setting.MONO if query == target else Setting.CROSS, query, target)


def lareqa_subsets(languages: Sequence[str]) -> tuple[Subset, ...]:
    """All subsets for ``languages``: every ordered pair (mono and cross), then one pooled per language."""
    pairs = [Subset.parse(f"{q}-{c}", languages) for q in languages for c in languages]
    pooled = [Subset.parse(f"{q}-{MULTI}", languages) for q in languages]
    return (*pairs, *pooled)


class EmbeddingStore:
    """One embedding per distinct (kind, text) for one model, encoded on first request.

    ``normalize=True`` stores unit rows so that dot products are cosine similarities (zero rows,
    e.g. an empty text under a lexical encoder, stay zero). ``n_encoded`` counts the texts sent to
    the encoder, which is what the encode-once benchmark reports.
    """

    def __init__(self, encode: EncodeFn, *, normalize: bool, model_name: str) -> None:
        self._encode = encode
        self.normalize = normalize
        self.model_name = model_name
        self._rows: dict[tuple[str, str], np.ndarray] = {}
        self.n_encoded = 0
        self.n_calls = 0

    def ensure(self, kind: str, texts: Sequence[str], lang: str) -> None:
        """Encode those of ``texts`` not yet stored, in one encoder call, in first-seen order."""
        missing = list(dict.fromkeys(t for t in texts if (kind, t) not in self._rows))
        if not missing:
            return
        emb = validate_embeddings(self._encode(missing, kind, lang), len(missing), model_name=self.model_name)
        if self.normalize:
            norms = np.linalg.norm(emb, axis=1, keepdims=True)
            emb = emb / np.maximum(norms, np.finfo(np.float32).tiny)
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        self.n_calls += 1
        self.n_encoded += len(missing)
        for text, row in zip(missing, emb, strict=True):
            self._rows[(kind, text)] = row

    def empty_like(self) -> EmbeddingStore:
        """A new, empty store with the same encoder, normalisation and name, for throwaway texts
        (e.g. an attack's candidate queries) that must not pile up in the shared store."""
        return EmbeddingStore(self._encode, normalize=self.normalize, model_name=self.model_name)

    def matrix(self, kind: str, texts: Sequence[str]) -> np.ndarray:
        """Stack the stored rows of ``texts`` (all must have been ensured)."""
        if not texts:
            raise ValueError("no texts to stack")
        return np.stack([self._rows[(kind, t)] for t in texts])

    def __len__(self) -> int:
        return len(self._rows)


@dataclass
class PreparedEmbeddings:
    """Per-language query and candidate matrices of one dataset under one model."""

    queries: dict[str, np.ndarray] = field(default_factory=dict)
    candidates: dict[str, np.ndarray] = field(default_factory=dict)
    pool: np.ndarray | None = None


class LareqaEvaluator:
    """Turns a :class:`LareqaCorpus` into scorable subsets and scores them from an EmbeddingStore."""

    def __init__(self, corpus: LareqaCorpus, *, candidate_mode: str = "sentence") -> None:
        self.corpus = corpus
        self.candidate_mode = candidate_mode
        self.languages: tuple[str, ...] = tuple(corpus.languages)
        self._answers = corpus.answers_by_qid()
        self._cand_index = {
            lang: {c.uid: i for i, c in enumerate(data.candidates)} for lang, data in corpus.languages.items()
        }
        self._relevance: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}
        offsets = np.cumsum([0] + [len(d.candidates) for d in corpus.languages.values()])
        self._pool_offset = dict(zip(self.languages, offsets[:-1].tolist(), strict=True))
        if candidate_mode not in CANDIDATE_TEXT_MODES:
            raise ValueError(
                f"unknown candidate text mode {candidate_mode!r}; valid: {', '.join(CANDIDATE_TEXT_MODES)}"
            )

    def subsets(self) -> tuple[Subset, ...]:
        return lareqa_subsets(self.languages)

    def query_texts(self, lang: str) -> list[str]:
        return [q.text for q in self.corpus.languages[lang].questions]

    def candidate_texts(self, lang: str) -> list[str]:
        return [candidate_text(c, self.candidate_mode) for c in self.corpus.languages[lang].candidates]

    def languages_needed(self, subsets: Sequence[Subset]) -> tuple[set[str], set[str]]:
        """(query languages, candidate languages) whose texts the subsets need encoded."""
        q_langs = {s.query_lang for s in subsets}
        c_langs: set[str] = set()
        for s in subsets:
            c_langs.update(self.languages if s.candidate_lang is None else (s.candidate_lang,))
        return q_langs, c_langs

    def prepare(self, store: EmbeddingStore, subsets: Sequence[Subset]) -> PreparedEmbeddings:
        """Encode (once) every text the subsets need and build the per-language matrices."""
        q_langs, c_langs = self.languages_needed(subsets)
        prepared = PreparedEmbeddings()
        for lang in self.languages:  # fixed order: deterministic encoder calls
            if lang in c_langs:
                texts = self.candidate_texts(lang)
                store.ensure(DOCUMENT, texts, lang)
                prepared.candidates[lang] = store.matrix(DOCUMENT, texts)
        prepared.queries = self.prepare_queries(
            store, {lang: self.query_texts(lang) for lang in self.languages if lang in q_langs}
        )
        if any(s.setting is Setting.MULTI for s in subsets):
            prepared.pool = np.concatenate([prepared.candidates[lang] for lang in self.languages])
        return prepared

    def prepare_queries(
        self, store: EmbeddingStore, texts_by_lang: Mapping[str, Sequence[str]]
    ) -> dict[str, np.ndarray]:
        """Query matrices for replacement texts (e.g. perturbed questions), aligned with the questions.

        ``texts_by_lang[lang][i]`` stands for question ``i`` of ``lang``; candidates are untouched, so
        an adversarial variant reuses the clean candidate matrices of :meth:`prepare`.
        """
        out: dict[str, np.ndarray] = {}
        for lang in self.languages:  # fixed order: deterministic encoder calls
            if lang not in texts_by_lang:
                continue
            texts = list(texts_by_lang[lang])
            n_questions = len(self.corpus.languages[lang].questions)
            if len(texts) != n_questions:
                raise ValueError(
                    f"{len(texts)} query texts for {lang}, but {self.corpus.name} has {n_questions}"
                )
            store.ensure(QUERY, texts, lang)
            out[lang] = store.matrix(QUERY, texts)
        return out

    def relevance(self, subset: Subset) -> tuple[np.ndarray, list[np.ndarray]]:
        """Row indices of the subset's queries (into the query language) and their relevant candidates.

        Computed once per subset (an -Adv task scores every subset once per recipe); treat as read-only.
        """
        cached = self._relevance.get(subset.name)
        if cached is None:
            cached = self._relevance[subset.name] = self._compute_relevance(subset)
        return cached

    def _compute_relevance(self, subset: Subset) -> tuple[np.ndarray, list[np.ndarray]]:
        rows: list[int] = []
        relevant: list[np.ndarray] = []
        for i, q in enumerate(self.corpus.languages[subset.query_lang].questions):
            answers = self._answers[q.qid]
            if subset.candidate_lang is None:
                rel = [self._pool_offset[lang] + self._cand_index[lang][uid] for lang, uid in answers.items()]
            elif subset.candidate_lang in answers:
                lang = subset.candidate_lang
                rel = [self._cand_index[lang][answers[lang]]]
            else:
                continue  # no answer in the candidate language (MLQA-R cross-lingual)
            rows.append(i)
            relevant.append(np.asarray(sorted(rel), dtype=np.int64))
        return np.asarray(rows, dtype=np.int64), relevant

    def score_subset(self, prepared: PreparedEmbeddings, subset: Subset) -> dict[str, float]:
        """Exact full-list metrics of one subset; rank distance in the pooled setting only."""
        rows, relevant = self.relevance(subset)
        if len(rows) == 0:
            raise ValueError(f"subset {subset.name} of {self.corpus.name} has no query with an answer")
        queries = prepared.queries[subset.query_lang][rows]
        if subset.candidate_lang is None:
            candidates = prepared.pool
            measures = DEFAULT_MEASURES
        else:
            candidates = prepared.candidates[subset.candidate_lang]
            measures = tuple(m for m in DEFAULT_MEASURES if not isinstance(m, RankDistance))
        assert candidates is not None, "prepare() was not called with this subset"
        ranks = rank_relevant(queries, candidates, relevant)
        scores = evaluate_ranks(ranks, measures)
        scores["num_queries"] = len(rows)
        scores["num_candidates"] = int(candidates.shape[0])
        return scores

    def score(self, store: EmbeddingStore, subsets: Sequence[Subset] | None = None) -> dict[str, dict]:
        """Score ``subsets`` (default: all) and return ``{subset name: scores}``."""
        subsets = self.subsets() if subsets is None else subsets
        prepared = self.prepare(store, subsets)
        return {s.name: self.score_subset(prepared, s) for s in subsets}


def summarize_settings(
    subset_scores: Mapping[str, Mapping[str, float]], languages: Sequence[str], metric: str = "map"
) -> dict[str, float | int | None]:
    """The paper's headline numbers: macro means of ``metric`` per setting, plus the language bias.

    ``mono``/``cross``/``multi`` are unweighted means over the subsets of that setting present in
    ``subset_scores``; ``language_bias`` is the mean over query languages of the mean rank distance
    (arXiv 2408.10536 eq. in section 4.1). Missing settings give ``None``.
    """
    groups: dict[Setting, list[float]] = {s: [] for s in Setting}
    bias: list[float] = []
    for name, scores in subset_scores.items():
        subset = Subset.parse(name, languages)
        groups[subset.setting].append(float(scores[metric]))
        if subset.setting is Setting.MULTI and "rank_distance" in scores:
            bias.append(float(scores["rank_distance"]))
    summary: dict[str, float | int | None] = {
        s.value: (float(np.mean(v)) if v else None) for s, v in groups.items()
    }
    summary["language_bias"] = float(np.mean(bias)) if bias else None
    for s, v in groups.items():
        summary[f"n_{s.value}"] = len(v)
    return summary


def per_language(
    subset_scores: Mapping[str, Mapping[str, float]], languages: Sequence[str], metric: str = "map"
) -> dict[str, dict[str, float | None]]:
    """Per query language: mono, mean over target languages of cross, multi, and rank distance.

    The layout of the paper's per-language Tables 3-8 (rows = query language).
    """
    rows: dict[str, dict[str, list[float]]] = {
        lang: {"mono": [], "cross": [], "multi": [], "rank_distance": []} for lang in languages
    }
    for name, scores in subset_scores.items():
        subset = Subset.parse(name, languages)
        row = rows[subset.query_lang]
        row[subset.setting.value].append(float(scores[metric]))
        if subset.setting is Setting.MULTI and "rank_distance" in scores:
            row["rank_distance"].append(float(scores["rank_distance"]))
    return {
        lang: {k: (float(np.mean(v)) if v else None) for k, v in row.items()}
        for lang, row in rows.items()
        if any(row.values())
    }
