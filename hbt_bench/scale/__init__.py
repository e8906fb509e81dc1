"""Corpora that don't fit one machine: sharded, resumable embeddings and FAISS search.

``corpus`` reads and checks a passage collection, ``shards`` writes its embeddings shard by shard into a
resumable store, ``backends`` spreads the encoding (one process, sentence-transformers' multi-process pool,
Ray Data actors), ``index`` searches the store with FAISS (exact by default, IVF / HNSW with their recall
against exact) and ``trec`` writes the runs. faiss and ray are optional (``pip install 'hbt-bench[scale]'``)
and imported only when used, so ``import hbt_bench.scale`` stays cheap.
"""

from __future__ import annotations

__all__: list[str] = []
