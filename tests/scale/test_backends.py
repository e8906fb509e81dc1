from __future__ import annotations

import builtins
import json

import numpy as np
import pytest

from hbt_bench.scale.backends import LocalEncoder, PoolEncoder, RayEncoder, load_handle
from hbt_bench.scale.corpus import Corpus
from hbt_bench.scale.errors import MissingExtraError, ScaleError
from hbt_bench.scale.shards import MANIFEST, Store, encode_corpus
from tests.helpers import build_tiny_st_model
from tests.scale.helpers import passages


def _shards(folder) -> list[dict]:
    return json.loads((folder / MANIFEST).read_text())["shards"]


def test_ray_data_actors_write_the_single_process_shards(tmp_path):
    ray = pytest.importorskip("ray", reason="the optional 'scale' extra (ray[data]) is not installed")
    pytest.importorskip("ray.data")
    corpus = Corpus(passages(23))  # one shard (each shard is one Ray Data job): 6 batches over 2 actors
    single = encode_corpus(
        corpus, tmp_path / "one", LocalEncoder(load_handle("builtin:hash-ngram")), shard_size=32
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        encoder = RayEncoder("builtin:hash-ngram", concurrency=2, batch_size=4)
        spread = encode_corpus(corpus, tmp_path / "ray", encoder, shard_size=32)
    finally:
        ray.shutdown()
    assert single.encoded == spread.encoded == [0]
    # byte-identical shards: same sha256 for every embedding and id file
    assert _shards(tmp_path / "one") == _shards(tmp_path / "ray")
    a = np.concatenate([e for _, e in Store(tmp_path / "one").iter_embeddings()])
    b = np.concatenate([e for _, e in Store(tmp_path / "ray").iter_embeddings()])
    np.testing.assert_array_equal(a, b)


def test_multi_process_pool_equals_single_process(tmp_path):
    model_dir = build_tiny_st_model(tmp_path / "tiny", prompts={"query": "Query: ", "document": "Passage: "})
    handle = load_handle(str(model_dir), device="cpu")
    corpus = Corpus(passages(20))
    encode_corpus(corpus, tmp_path / "one", LocalEncoder(handle, batch_size=4), shard_size=8)
    try:
        pool = PoolEncoder(handle, ["cpu", "cpu"], batch_size=4)
    except Exception as exc:  # pragma: no cover - depends on the platform's process start
        pytest.skip(f"sentence-transformers' multi-process pool cannot start here: {exc}")
    try:
        encode_corpus(corpus, tmp_path / "pool", pool, shard_size=8)
    finally:
        pool.close()
    one, spread = Store(tmp_path / "one"), Store(tmp_path / "pool")
    assert one.manifest["prompt"] == spread.manifest["prompt"] == "Passage: "
    a = np.concatenate([e for _, e in one.iter_embeddings()])
    b = np.concatenate([e for _, e in spread.iter_embeddings()])
    # Same model, same batches of 4, another process: equal up to float32 rounding of the same operations.
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_pool_needs_a_sentence_transformer():
    with pytest.raises(ScaleError, match="need a sentence-transformers model"):
        PoolEncoder(load_handle("builtin:hash-ngram"), ["cpu", "cpu"])


def test_missing_ray_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    monkeypatch.delitem(__import__("sys").modules, "ray", raising=False)
    with pytest.raises(MissingExtraError, match=r"pip install 'hbt-bench\[scale\]'"):
        RayEncoder("builtin:hash-ngram")
