"""Encode-once evaluation of LAReQA-style retrieval in its three settings.

Stock mteb re-encodes the corpus of every subset: 132 subsets of XQuAD-R mean ~450k encoder inputs
for ~26k distinct texts. Here every distinct (kind, text) pair is encoded once per model into an
:class:`EmbeddingStore`, which lives as long as the model object and is shared by every task and
subset scored in the process; each subset is then scored exactly over the full candidate list
from the cached matrices (:func:`hbt_bench.ranking.rank_relevant`).

Settings (LAReQA, arXiv 2004.05484; arXiv 2408.10536 section 3.2), for languages L:

- ``mono``  ``X-X``: queries in X against X's candidates.
- ``cross`` ``X-Y`` (X != Y): queries in X against Y's candidates; queries without an answer in Y
  are dropped (this only happens in MLQA-R, whose questions are not all parallel).
- ``multi`` ``X-multi``: queries in X against the pooled candidates of every language of the
  dataset; every language's answer sentence is relevant. Language bias (rank distance) is
  reported here.

The pool is every language's candidates in the corpus's language order (``LareqaCorpus.languages``: the
order given to :func:`~hbt_bench.data.lareqa.load_lareqa`; a task always uses its definition's order, so
``XQuADR(languages=["en", "de"])`` pools de before en). Ranks follow :mod:`hbt_bench.ranking`: float32
scores, exact ties broken by pool position. So an ``X-multi`` score can depend on that order where a
relevant candidate ties another language's candidate (exactly, or after float32 rounding, which also
depends on a candidate's column in the product); mono and cross subsets rank one language and cannot.
To reproduce a task's pooled numbers bit for bit, load the corpus in the task's language order.

This module imports no mteb, torch or encoder code; :mod:`hbt_bench.plugin.tasks` adapts it to mteb.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import numpy as np

from hbt_bench.data.lareqa import CANDIDATE_TEXT_MODES, LareqaCorpus, candidate_text
from hbt_bench.encoders import check_dot_product_range, normalize_embeddings, validate_embeddings
from hbt_bench.metrics import AP, DEFAULT_MEASURES, RankDistance, evaluate_ranks
from hbt_bench.per_query import QueryScores
from hbt_bench.ranking import RelevantRanks, duplicate_candidates, rank_relevant, rank_relevant_scores
from hbt_bench.runs import RunRanks, relevant_ranks_from_run, top_k_indices

MULTI = "multi"
QUERY = "query"
DOCUMENT = "document"

#: ``encode(texts, kind, lang) -> (len(texts), dim) array``; kind is "query" or "document".
EncodeFn = Callable[[list[str], str, str], np.ndarray]


class SearchEngine(Protocol):
    """What :meth:`LareqaEvaluator.score_by_search` needs from a search model (mteb-free).

    ``key`` names the candidate set: a language, or ``"multi"`` for the pool; ``subset`` is the first
    subset ranked against it (index) or the one being ranked (search). ``search`` returns one
    ``{candidate id: score}`` per query text.

    An engine may also define ``score_rows(key, subset, query_ids, texts)``: every candidate's score
    for each query, a ``(len(texts), len(candidate set))`` float array in the indexed order, or
    ``None`` where it cannot. It must give the scores ``search`` would return at full depth; it only
    spares building millions of dict entries per pooled subset (the cost of a full-depth run).
    """

    name: str

    def index(self, key: str, ids: list[str], texts: list[str], subset: Subset) -> None: ...

    def search(
        self, key: str, subset: Subset, query_ids: list[str], texts: list[str], top_k: int
    ) -> list[Mapping[str, float]]: ...


#: ``on_run(query set, subset, query ids, hits)``: receives each chunk of a search run.
RunSink = Callable[[str, "Subset", list[str], list[Mapping[str, float]]], None]


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
        """Encode those of ``texts`` not yet stored, in one encoder call, in first-seen order.

        The output is checked before anything is stored (a bad call leaves the store as it was):
        besides shape and NaN/inf, degenerate output that would score as a plausible ranking is
        refused, naming the model: zero dimensions, all-zero or identical vectors for every non-empty
        text (a zero row for an empty text is fine), and, for dot-product models, vectors so long
        that float32 scores overflow. Cosine rows are normalised without overflow (huge rows rank
        like the same rows scaled down); see :func:`hbt_bench.encoders.normalize_embeddings`.
        """
        missing = list(dict.fromkeys(t for t in texts if (kind, t) not in self._rows))
        if not missing:
            return
        emb = validate_embeddings(
            self._encode(missing, kind, lang), len(missing), model_name=self.model_name, texts=missing
        )
        if self.normalize:
            emb = normalize_embeddings(emb, model_name=self.model_name, texts=missing)
        else:
            check_dot_product_range(emb, model_name=self.model_name)
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
    #: duplicate_candidates() of each candidate matrix, by id, with the matrix it was computed for
    _duplicates: dict[int, tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def duplicates_of(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`~hbt_bench.ranking.duplicate_candidates` of ``matrix``, computed once per matrix: a
        pooled matrix is ranked for every query language (and, in the -Adv tasks, every recipe)."""
        cached = self._duplicates.get(id(matrix))
        if cached is None or cached[0] is not matrix:
            cached = (matrix, duplicate_candidates(np.ascontiguousarray(matrix, dtype=np.float32)))
            self._duplicates[id(matrix)] = cached
        return cached[1]

    def with_queries(self, queries: dict[str, np.ndarray]) -> PreparedEmbeddings:
        """Other query matrices (a perturbed query set) against the same candidates, sharing their
        duplicate-candidate cache."""
        return PreparedEmbeddings(
            queries=queries, candidates=self.candidates, pool=self.pool, _duplicates=self._duplicates
        )

    def candidates_of(self, subset: Subset) -> np.ndarray:
        """The candidate matrix ``subset`` ranks against: its candidate language's, or the pool."""
        matrix = self.pool if subset.candidate_lang is None else self.candidates.get(subset.candidate_lang)
        if matrix is None:
            raise ValueError(
                f"no candidate matrix for subset {subset.name}: it was not among the prepared subsets"
            )
        return matrix


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
        #: subset -> per-query AP (and rank distance where the subset reports it) of its last scoring: the
        #: leaderboard's paired tests need every query's score, mteb's result keeps only the mean
        #: (hbt_bench.per_query writes them beside it). ``per_query_by_set``: the same per query set of the
        #: last :meth:`score_by_search` (which scores several query sets per subset).
        self.per_query: dict[str, QueryScores] = {}
        self.per_query_by_set: dict[str, dict[str, QueryScores]] = {}
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

    def candidate_matrices(self, store: EmbeddingStore, subsets: Sequence[Subset]) -> PreparedEmbeddings:
        """Encode (once) the candidates ``subsets`` rank against and stack them; no queries.

        One matrix per candidate language the subsets need, in the dataset's language order
        (deterministic encoder calls), plus the pool of every language when a pooled subset is among
        them. :meth:`PreparedEmbeddings.candidates_of` picks a subset's matrix.
        """
        _, c_langs = self.languages_needed(subsets)
        prepared = PreparedEmbeddings()
        for lang in self.languages:  # fixed order: deterministic encoder calls
            if lang in c_langs:
                texts = self.candidate_texts(lang)
                store.ensure(DOCUMENT, texts, lang)
                prepared.candidates[lang] = store.matrix(DOCUMENT, texts)
        if any(s.setting is Setting.MULTI for s in subsets):
            prepared.pool = np.concatenate([prepared.candidates[lang] for lang in self.languages])
        return prepared

    def prepare(self, store: EmbeddingStore, subsets: Sequence[Subset]) -> PreparedEmbeddings:
        """Encode (once) every text the subsets need and build the per-language matrices."""
        q_langs, _ = self.languages_needed(subsets)
        prepared = self.candidate_matrices(store, subsets)
        prepared.queries = self.prepare_queries(
            store, {lang: self.query_texts(lang) for lang in self.languages if lang in q_langs}
        )
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
        candidates = prepared.candidates_of(subset)
        ranks = rank_relevant(queries, candidates, relevant, duplicates=prepared.duplicates_of(candidates))
        return self.score_ranks(subset, ranks)

    def score_ranks(self, subset: Subset, ranks: RelevantRanks) -> dict[str, float]:
        """The subset's score dict from its relevant ranks (whatever produced them: embeddings or a run)."""
        measures = DEFAULT_MEASURES
        if subset.candidate_lang is not None:
            measures = tuple(m for m in DEFAULT_MEASURES if not isinstance(m, RankDistance))
        scores = evaluate_ranks(ranks, measures)
        # "map" and "rank_distance" above are the means of these (evaluate_ranks averages per_query)
        pooled = subset.candidate_lang is None
        self.per_query[subset.name] = QueryScores(
            self.query_ids(subset), AP().per_query(ranks), RankDistance().per_query(ranks) if pooled else None
        )
        scores["num_queries"] = ranks.n_queries
        scores["num_candidates"] = int(ranks.n_candidates)
        return scores

    # --- search models (index/search instead of embeddings) -------------------------------------------

    @staticmethod
    def candidate_key(subset: Subset) -> str:
        """The candidate set a subset ranks: its candidate language, or ``"multi"`` for the pool."""
        return MULTI if subset.candidate_lang is None else subset.candidate_lang

    def candidate_set(self, key: str) -> tuple[list[str], list[str]]:
        """(ids, texts) of a candidate set, in the order of the relevance indices (pool: language order)."""
        langs = self.languages if key == MULTI else (key,)
        ids = [c.uid for lang in langs for c in self.corpus.languages[lang].candidates]
        texts = [t for lang in langs for t in self.candidate_texts(lang)]
        return ids, texts

    def query_ids(self, subset: Subset) -> list[str]:
        """``<lang>_<qid>`` of the subset's queries (those with an answer), in relevance order."""
        questions = self.corpus.languages[subset.query_lang].questions
        return [f"{subset.query_lang}_{questions[r].qid}" for r in self.relevance(subset)[0]]

    def score_by_search(
        self,
        engine: SearchEngine,
        subsets: Sequence[Subset],
        query_sets: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        *,
        on_run: RunSink | None = None,
        chunk_size: int = 256,
    ) -> dict[str, dict[str, dict[str, float]]]:
        """``{query set: {subset: scores}}`` of a search model, each candidate set indexed once.

        ``query_sets`` maps a name to replacement question texts per language (aligned with the
        questions, like :meth:`prepare_queries`); default ``{"clean": the questions}``. Candidate sets are
        visited in a fixed order (each language, then the pool): ``engine.index`` once per set, then
        every subset and query set ranked against it, asking for ``top_k`` = the set's size, in chunks of
        ``chunk_size`` queries (a full-depth run of 13k hits per query is big as Python dicts); an engine
        with ``score_rows`` gives score rows instead (not when ``on_run`` wants the hits). Scores
        come from the same metrics as the encoder path, plus ``search_depth`` (the fewest candidates
        returned for any query; below ``num_candidates`` the run was truncated, see
        :mod:`hbt_bench.runs` for how unreturned relevant candidates are ranked) and
        ``search_unreturned_relevant``. ``on_run(query set, subset, query ids, run rows)`` sees every
        run chunk (e.g. to write predictions).
        """
        if query_sets is None:
            query_sets = {"clean": {lang: self.query_texts(lang) for lang in self.languages}}
        for name, by_lang in query_sets.items():
            for lang, texts in by_lang.items():
                n_questions = len(self.corpus.languages[lang].questions)
                if len(texts) != n_questions:
                    raise ValueError(
                        f"query set {name}: {len(texts)} texts for {lang}, but {self.corpus.name} has "
                        f"{n_questions} questions"
                    )
        order = [*self.languages, MULTI]
        by_key = {key: [s for s in subsets if self.candidate_key(s) == key] for key in order}
        out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in query_sets}
        self.per_query_by_set = {name: {} for name in query_sets}
        for key, group in by_key.items():
            if not group:
                continue
            ids, texts = self.candidate_set(key)
            engine.index(key, ids, texts, group[0])
            index = {cid: i for i, cid in enumerate(ids)}
            for subset in group:
                rows, relevant = self.relevance(subset)
                if len(rows) == 0:
                    raise ValueError(
                        f"subset {subset.name} of {self.corpus.name} has no query with an answer"
                    )
                qids = self.query_ids(subset)
                for name, by_lang in query_sets.items():
                    if subset.query_lang not in by_lang:
                        continue
                    q_texts = [by_lang[subset.query_lang][r] for r in rows]
                    what = f"{engine.name} on {subset.name}"
                    width = max(len(r) for r in relevant)
                    ranks = np.zeros((len(rows), width), dtype=np.int64)
                    depth = np.zeros(len(rows), dtype=np.int64)
                    unreturned = 0
                    sink = None if on_run is None else partial(on_run, name, subset)
                    for start in range(0, len(rows), chunk_size):
                        chunk = slice(start, min(start + chunk_size, len(rows)))
                        rr = _search_chunk(
                            engine,
                            key,
                            subset,
                            qids[chunk],
                            q_texts[chunk],
                            index,
                            relevant[chunk],
                            what,
                            sink,
                        )
                        ranks[chunk, : rr.ranks.ranks.shape[1]] = rr.ranks.ranks
                        depth[chunk] = rr.depth
                        unreturned += rr.unreturned
                    n_rel = np.array([len(r) for r in relevant], dtype=np.int64)
                    scores = self.score_ranks(subset, RelevantRanks(ranks, n_rel, len(ids)))
                    self.per_query_by_set[name][subset.name] = self.per_query[subset.name]
                    scores["search_depth"] = int(depth.min())
                    scores["search_unreturned_relevant"] = unreturned
                    out[name][subset.name] = scores
        return out

    def top_hits(
        self, prepared: PreparedEmbeddings, subset: Subset, k: int, *, chunk_size: int = 256
    ) -> Iterator[tuple[list[str], list[dict[str, float]]]]:
        """The ``k`` best candidates per query of an encoder, as runs ``{candidate id: score}`` (tie rule of
        :mod:`hbt_bench.ranking`), chunk by chunk: what mteb's predictions files hold."""
        rows, _ = self.relevance(subset)
        qids = self.query_ids(subset)
        ids, _ = self.candidate_set(self.candidate_key(subset))
        queries = prepared.queries[subset.query_lang][rows]
        candidates = prepared.candidates_of(subset)
        for start in range(0, len(rows), chunk_size):
            scores = queries[start : start + chunk_size] @ candidates.T
            top = top_k_indices(scores, k)
            hits = [{ids[j]: float(scores[i, j]) for j in top[i]} for i in range(top.shape[0])]
            yield qids[start : start + chunk_size], hits

    def score(self, store: EmbeddingStore, subsets: Sequence[Subset] | None = None) -> dict[str, dict]:
        """Score ``subsets`` (default: all) and return ``{subset name: scores}``."""
        subsets = self.subsets() if subsets is None else subsets
        prepared = self.prepare(store, subsets)
        return {s.name: self.score_subset(prepared, s) for s in subsets}


def _search_chunk(
    engine: SearchEngine,
    key: str,
    subset: Subset,
    query_ids: list[str],
    texts: list[str],
    index: Mapping[str, int],
    relevant: Sequence[np.ndarray],
    what: str,
    sink: Callable[[list[str], list[Mapping[str, float]]], None] | None,
) -> RunRanks:
    """Relevant ranks of one chunk of queries from a search engine: from its full score rows where it has
    ``score_rows`` and nobody needs the hits (``sink`` None), else from its run of hits at full depth."""
    score_rows = getattr(engine, "score_rows", None) if sink is None else None
    full = None if score_rows is None else score_rows(key, subset, query_ids, texts)
    if full is not None:
        if full.shape != (len(texts), len(index)):
            raise ValueError(
                f"{what}: score_rows gave shape {full.shape}, expected {(len(texts), len(index))}"
            )
        return RunRanks(rank_relevant_scores(full, relevant), np.full(len(texts), len(index), np.int64), 0)
    hits = engine.search(key, subset, query_ids, texts, len(index))
    if sink is not None:
        sink(query_ids, hits)
    # Ranks chunk by chunk: a whole pooled run (~1.2k x 13k hits as dicts) is ~1 GB.
    return relevant_ranks_from_run(hits, index, relevant, what=what)


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
