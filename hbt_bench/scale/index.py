"""FAISS search over an embedding store: exact by default, IVF-Flat or HNSW as options.

Inner product on the stored vectors (cosine when the store is normalised, the default). The flat index
(``IndexFlatIP``) is exact and is built shard by shard from the store, so memory is the index
(``N x dim x 4`` bytes) plus one shard. The ANN indexes trade recall for speed: :func:`ann_recall`
measures it against the exact top-k of the same queries.

Determinism
    Ties are broken by ascending corpus position, the rule of :mod:`hbt_bench.runs` (``ascending
    candidate index``) with the corpus order as candidate order: the exact search fetches deeper until the
    k-th score's ties are all in hand, then sorts by (score descending, position ascending). IVF's k-means
    runs with a fixed seed on a seeded sample; HNSW is built with one OpenMP thread (its parallel insertion
    depends on thread timing) and its level generator's fixed seed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hbt_bench.scale.errors import ScaleError, require
from hbt_bench.scale.shards import Store

__all__ = ["IndexSpec", "RecallReport", "SearchResult", "ann_recall", "build_index", "search", "to_run"]

IndexKind = Literal["flat", "ivf", "hnsw"]


@dataclass(frozen=True)
class IndexSpec:
    """Which index and its parameters.

    ``ivf``: ``nlist`` lists (default ``4 * sqrt(N)``, at most N), ``nprobe`` probed per query, trained on
    ``train_size`` vectors (default ``min(N, 64 * nlist)``) drawn with ``seed``. ``hnsw``: ``m`` links per
    node, ``ef_construction`` and ``ef_search`` beam widths.
    """

    kind: IndexKind = "flat"
    nlist: int | None = None
    nprobe: int = 8
    train_size: int | None = None
    m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    seed: int = 0

    def check(self) -> None:
        if self.kind not in ("flat", "ivf", "hnsw"):
            raise ScaleError(f"--index must be flat, ivf or hnsw, got {self.kind!r}")
        for name in ("nprobe", "m", "ef_construction", "ef_search"):
            if getattr(self, name) < 1:
                raise ScaleError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("nlist", "train_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ScaleError(f"--{name.replace('_', '-')} must be >= 1, got {value}")

    def describe(self) -> dict[str, Any]:
        if self.kind == "flat":
            return {"index": "flat"}
        if self.kind == "ivf":
            return {"index": "ivf", "nlist": self.nlist, "nprobe": self.nprobe, "seed": self.seed}
        return {
            "index": "hnsw",
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
        }


@contextlib.contextmanager
def _omp_threads(faiss: Any, n: int) -> Iterator[None]:
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def build_index(store: Store, spec: IndexSpec = IndexSpec()) -> Any:
    """A FAISS index of every vector of ``store`` (row ``i`` = corpus position ``i``), added per shard."""
    spec.check()
    store.require_complete()
    faiss: Any = require("faiss", "searching an embedding store")
    d, n = store.dim, store.n_passages
    if spec.kind == "flat":
        index = faiss.IndexFlatIP(d)
        # Reserve the final size once: adding shard by shard would otherwise grow the code vector by
        # doubling, whose reallocation briefly holds old and new buffers (measured: peak 1.6x the index).
        index.codes.resize(n * d * 4)
        index.codes.resize(0)  # std::vector keeps its capacity
    elif spec.kind == "ivf":
        nlist = min(n, spec.nlist or max(1, int(4 * np.sqrt(n))))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = spec.seed
        train_n = min(n, spec.train_size or 64 * nlist)
        rng = np.random.default_rng(spec.seed)
        sample = np.sort(rng.choice(n, size=train_n, replace=False))
        index.train(store.rows(sample))
        index.nprobe = min(spec.nprobe, nlist)
    else:
        index = faiss.IndexHNSWFlat(d, spec.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
    with _omp_threads(faiss, 1) if spec.kind == "hnsw" else contextlib.nullcontext():
        for _, emb in store.iter_embeddings():
            index.add(emb)
            del emb
    return index


@dataclass(frozen=True)
class SearchResult:
    """Top-k per query: ``scores`` float32 and corpus ``positions`` int64, ``(n_queries, k)``; a row may end
    with ``-1`` positions (``nan`` scores) when an ANN index found fewer than k."""

    scores: np.ndarray
    positions: np.ndarray


def search(index: Any, queries: np.ndarray, k: int, *, exact: bool | None = None) -> SearchResult:
    """Top-``k`` of ``queries`` in ``index``, sorted by score then ascending position (see module doc).

    ``exact`` (default: whether ``index`` is a flat index) fetches deeper until ties at the k-th score are
    complete, so the exact top-k is a function of the scores alone.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ScaleError(f"--k must be a positive integer, got {k!r}")
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim != 2 or q.shape[1] != index.d:
        raise ScaleError(
            f"query embeddings have shape {q.shape}; the store's vectors have {index.d} dimensions"
        )
    n = int(index.ntotal)
    if exact is None:
        exact = type(index).__name__ == "IndexFlatIP"
    k_eff = min(k, n)
    fetch = min(n, k_eff + 16)
    while True:
        scores, pos = index.search(q, fetch)
        if not exact or fetch >= n:
            break
        # The k-th score reappears at the deepest fetched rank: its ties may continue beyond; go deeper.
        if not np.any(scores[:, k_eff - 1] == scores[:, fetch - 1]):
            break
        fetch = min(n, fetch * 2)
    out_s = np.full((q.shape[0], k), np.nan, dtype=np.float32)
    out_p = np.full((q.shape[0], k), -1, dtype=np.int64)
    for i in range(q.shape[0]):
        ok = pos[i] >= 0
        s, p = scores[i][ok], pos[i][ok].astype(np.int64)
        order = np.lexsort((p, -s))[:k]
        out_s[i, : order.size] = s[order]
        out_p[i, : order.size] = p[order]
    return SearchResult(out_s, out_p)


def to_run(store: Store, query_ids: list[str], result: SearchResult) -> dict[str, dict[str, float]]:
    """``{query id: {passage id: score}}`` (mteb's ``RetrievalOutputType``, what :mod:`hbt_bench.runs` and
    ir_measures score); passage ids are read from the store's shards that hold the hits."""
    if len(query_ids) != result.positions.shape[0]:
        raise ScaleError(f"{len(query_ids)} query ids for {result.positions.shape[0]} result rows")
    valid = result.positions >= 0
    ids = store.ids_at(result.positions[valid])
    it = iter(ids)
    run: dict[str, dict[str, float]] = {}
    for i, qid in enumerate(query_ids):
        row: dict[str, float] = {}
        for j in np.flatnonzero(valid[i]):
            row[next(it)] = float(result.scores[i, j])
        run[qid] = row
    return run


@dataclass(frozen=True)
class RecallReport:
    """Recall@k of an ANN search against exact: per query ``|ANN top-k & exact top-k| / |exact top-k|``."""

    k: int
    mean: float
    per_query: np.ndarray


def ann_recall(exact: SearchResult, approx: SearchResult, k: int) -> RecallReport:
    """Recall@``k`` of ``approx`` against ``exact`` (same queries, same order)."""
    if exact.positions.shape[0] != approx.positions.shape[0]:
        raise ScaleError("exact and approximate results hold different numbers of queries")
    per = np.zeros(exact.positions.shape[0], dtype=np.float64)
    for i in range(per.size):
        truth = {int(p) for p in exact.positions[i, :k] if p >= 0}
        found = {int(p) for p in approx.positions[i, :k] if p >= 0}
        per[i] = len(truth & found) / len(truth) if truth else 1.0
    return RecallReport(k=k, mean=float(per.mean()) if per.size else 0.0, per_query=per)
