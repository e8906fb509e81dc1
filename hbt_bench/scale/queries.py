"""Query embeddings for a store: the store's own model (checked by name and revision), its query prompt."""

from __future__ import annotations

import numpy as np

from hbt_bench.encoders import validate_embeddings
from hbt_bench.scale.backends import LocalEncoder, load_handle
from hbt_bench.scale.corpus import Corpus
from hbt_bench.scale.errors import ScaleError, StoreMismatchError
from hbt_bench.scale.shards import Store, normalize_rows

__all__ = ["encode_queries"]


def encode_queries(
    store: Store,
    queries: Corpus,
    *,
    spec: str | None = None,
    device: str | None = None,
    batch_size: int = 64,
) -> tuple[list[str], np.ndarray]:
    """``(query ids, (n, dim) float32)``: ``queries`` (``{"id", "text"}``, unique ids) encoded with ``spec``
    (default: the spec the store recorded), which must be the store's model and revision."""
    queries.scan()  # empty file, malformed line, duplicate id: refused here, by name
    manifest = store.manifest
    spec = spec or manifest.get("spec")
    if not spec:
        raise ScaleError(f"store {str(store.folder)!r} records no model spec: pass --model")
    handle = load_handle(spec, device=device)
    for key, have in (("model", handle.model_name), ("revision", handle.revision)):
        if manifest.get(key) != have:
            raise StoreMismatchError(
                f"store {str(store.folder)!r} was written with {key} = {manifest.get(key)!r}, --model "
                f"{spec!r} has {have!r}: query and passage embeddings would not be comparable"
            )
    encoder = LocalEncoder(handle, role="query", batch_size=batch_size)
    ids: list[str] = []
    parts: list[np.ndarray] = []
    for _, chunk_ids, texts in queries.shards(4096):
        emb = validate_embeddings(encoder.encode(texts), len(texts), model_name=handle.model_name)
        parts.append(np.ascontiguousarray(emb, dtype=np.float32))
        ids.extend(chunk_ids)
    emb = np.concatenate(parts)
    if emb.shape[1] != store.dim:
        raise StoreMismatchError(
            f"queries: model {handle.model_name!r} gives {emb.shape[1]} dimensions, store "
            f"{str(store.folder)!r} holds {store.dim}"
        )
    if manifest.get("normalize"):
        normalize_rows(emb)
    return ids, emb
