from __future__ import annotations

import json

import numpy as np
import pytest

from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.paths import UnsafeNameError
from hbt_bench.scale.corpus import Corpus
from hbt_bench.scale.errors import ScaleError, StoreMismatchError
from hbt_bench.scale.shards import MANIFEST, Store, encode_corpus
from tests.scale.helpers import CountingEncoder, passages, write_corpus


def _all(store: Store) -> np.ndarray:
    return np.concatenate([emb for _, emb in store.iter_embeddings()])


def _expected(records, dim: int = 64) -> np.ndarray:
    """Independent: the whole corpus in one call, L2-normalised here."""
    emb = HashNgramEncoder(dim=dim).encode([r["text"] for r in records]).astype(np.float64)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return (emb / np.where(norms > 0, norms, 1)).astype(np.float32)


def test_resume_after_a_kill_encodes_only_the_missing_shards(tmp_path):
    records = passages(45)
    corpus = Corpus(write_corpus(tmp_path / "c.jsonl", records))
    out = tmp_path / "store"
    dying = CountingEncoder(fail_on=3)  # shards 0 and 1 finish, the run dies inside shard 2
    with pytest.raises(RuntimeError, match="simulated kill"):
        encode_corpus(corpus, out, dying, shard_size=10)
    manifest = json.loads((out / MANIFEST).read_text())
    assert [s["index"] for s in manifest["shards"]] == [0, 1] and not manifest["complete"]
    with pytest.raises(ScaleError, match="incomplete"):
        Store(out).require_complete()

    resumed = CountingEncoder()
    report = encode_corpus(corpus, out, resumed, shard_size=10)
    assert resumed.calls == 3  # shards 2, 3, 4: one call each
    assert (report.skipped, report.encoded) == ([0, 1], [2, 3, 4])
    store = Store(out)
    assert store.complete and store.n_passages == 45 and store.dim == 64
    np.testing.assert_allclose(_all(store), _expected(records), rtol=0, atol=1e-6)
    assert store.ids_at(np.array([44, 0, 13])) == ["p44", "p0", "p13"]

    again = CountingEncoder()
    encode_corpus(corpus, out, again, shard_size=10)
    assert again.calls == 0


def test_a_half_written_shard_never_counts(tmp_path):
    records = passages(30)
    corpus = Corpus(records)
    out = tmp_path / "store"
    with pytest.raises(RuntimeError):
        encode_corpus(corpus, out, CountingEncoder(fail_on=2), shard_size=10)
    # What a kill inside the writer leaves: a staged file and a complete-looking file never recorded.
    (out / ".shard-00001.npy.hbt-new-999999-abc").write_bytes(b"partial")
    (out / "shard-00001.npy").write_bytes(b"garbage")
    enc = CountingEncoder()
    report = encode_corpus(corpus, out, enc, shard_size=10)
    assert report.encoded == [1, 2] and enc.calls == 2
    assert not list(out.glob(".*hbt-new*"))
    np.testing.assert_allclose(_all(Store(out)), _expected(records), rtol=0, atol=1e-6)


def test_a_damaged_finished_shard_is_encoded_again(tmp_path):
    corpus = Corpus(passages(20))
    out = tmp_path / "store"
    encode_corpus(corpus, out, CountingEncoder(), shard_size=10)
    path = out / "shard-00001.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    enc = CountingEncoder()
    report = encode_corpus(corpus, out, enc, shard_size=10)
    assert report.repaired == [1] and report.encoded == [1] and enc.calls == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model_name": "test/other"}, "model"),
        ({"revision": "r2"}, "revision"),
        ({"prompt": "passage: "}, "prompt"),
    ],
)
def test_another_model_into_the_same_folder_is_refused(tmp_path, change, field):
    corpus = Corpus(passages(12))
    out = tmp_path / "store"
    encode_corpus(corpus, out, CountingEncoder(), shard_size=5)
    enc = CountingEncoder(**change)
    with pytest.raises(StoreMismatchError, match=rf"store '{out}' was written with {field} = "):
        encode_corpus(corpus, out, enc, shard_size=5)
    assert enc.calls == 0


def test_another_config_or_corpus_is_refused(tmp_path):
    out = tmp_path / "store"
    encode_corpus(Corpus(passages(12)), out, CountingEncoder(), shard_size=5)
    with pytest.raises(StoreMismatchError, match="shard_size = 5, this run has 4"):
        encode_corpus(Corpus(passages(12)), out, CountingEncoder(), shard_size=4)
    with pytest.raises(StoreMismatchError, match="normalize = True"):
        encode_corpus(Corpus(passages(12)), out, CountingEncoder(), shard_size=5, normalize=False)
    with pytest.raises(StoreMismatchError, match=r"corpus\.fingerprint"):
        encode_corpus(Corpus(passages(12, prefix="x")), out, CountingEncoder(), shard_size=5)


def test_a_dimension_change_mid_store_is_refused(tmp_path):
    out = tmp_path / "store"
    with pytest.raises(RuntimeError):
        encode_corpus(Corpus(passages(12)), out, CountingEncoder(fail_on=2), shard_size=5)
    with pytest.raises(StoreMismatchError, match="dim = 64, model 'test/hash' returned 32"):
        encode_corpus(Corpus(passages(12)), out, CountingEncoder(dim=32), shard_size=5)


def test_bad_folders_and_manifests(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ScaleError, match=r"without a manifest\.json"):
        encode_corpus(Corpus(passages(3)), tmp_path / "other", CountingEncoder(), shard_size=2)
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]
    with pytest.raises(ScaleError, match="positive integer"):
        encode_corpus(Corpus(passages(3)), tmp_path / "s", CountingEncoder(), shard_size=0)
    out = tmp_path / "store"
    encode_corpus(Corpus(passages(3)), out, CountingEncoder(), shard_size=2)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["shards"][0]["embeddings"] = "../../elsewhere.npy"
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(UnsafeNameError, match="field 'embeddings'"):
        Store(out)
    with pytest.raises(ScaleError, match=r"no manifest\.json"):
        Store(tmp_path / "missing")
