from __future__ import annotations

import json

import numpy as np
import pytest

from hbt_bench.cli import main
from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.scale.shards import Store
from tests.scale.helpers import passages, write_corpus

pytest.importorskip("faiss")


def _encode(corpus, store, *extra: str) -> list[str]:
    """``hbt-bench scale encode`` of ``corpus`` into ``store`` with the built-in lexical encoder."""
    args = ["scale", "encode", "--model", "builtin:hash-ngram", "--corpus", str(corpus), "--out", str(store)]
    return [*args, *extra, "--quiet"]


def _query(command: str, store, queries, *extra: str) -> list[str]:
    """``hbt-bench scale search|recall`` of ``queries`` against ``store``."""
    return ["scale", command, "--store", str(store), "--queries", str(queries), *extra]


def test_encode_search_recall_end_to_end(tmp_path, capsys):
    records = passages(40)
    corpus = write_corpus(tmp_path / "c.jsonl", records)
    queries = write_corpus(
        tmp_path / "q.jsonl", [{"id": "q1", "text": "topic 3 word5"}, {"id": "q2", "text": "x"}]
    )
    store = tmp_path / "store"
    args = _encode(corpus, store, "--shard-size", "16")
    assert main(args) == 0
    assert "40 passages in 3 shards, dim 2048; encoded 3, reused 0" in capsys.readouterr().out
    assert main(args) == 0
    assert "encoded 0, reused 3" in capsys.readouterr().out
    assert Store(store).manifest["model"] == "hbt-bench/hash-ngram"

    run = tmp_path / "run.trec"
    assert main(_query("search", store, queries, "--k", "5", "--run", str(run))) == 0
    lines = [line.split() for line in run.read_text().splitlines()]
    assert len(lines) == 10 and all(len(parts) == 6 and parts[1] == "Q0" for parts in lines)
    # independent check of q1's hits: the built-in encoder over all texts, numpy dot products
    enc = HashNgramEncoder()
    scores = enc.encode(["topic 3 word5"]) @ enc.encode([r["text"] for r in records]).T
    expected = np.sort(scores[0])[::-1][:5]
    got = [(int(p[2][1:]), float(p[4])) for p in lines[:5]]
    np.testing.assert_allclose([s for _, s in got], expected, atol=1e-5)  # the 5 best scores, in order
    np.testing.assert_allclose([s for _, s in got], [scores[0, j] for j, _ in got], atol=1e-5)  # of those ids

    assert main(_query("recall", store, queries, "--k", "5", "--nlist", "4", "--nprobe", "4", "--json")) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["recall@5"] == 1.0 and out["nlist"] == 4  # every list probed: exact


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "store"
    base = ["scale", "encode", "--model", "builtin:hash-ngram", "--out", str(out), "--quiet"]
    assert main([*base, "--corpus", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main([*base, "--corpus", str(empty)]) == 2
    assert "holds no passages" in capsys.readouterr().err
    dup = write_corpus(tmp_path / "dup.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    assert main([*base, "--corpus", str(dup)]) == 2
    assert "'a' appears twice" in capsys.readouterr().err
    assert not out.exists() or not any(out.glob("shard-*"))
    assert main(_query("search", tmp_path / "nostore", dup, "--run", str(tmp_path / "r.trec"))) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert not (tmp_path / "r.trec").exists()


def test_queries_with_another_model_are_refused(tmp_path, capsys):
    store = tmp_path / "store"
    corpus = write_corpus(tmp_path / "c.jsonl", passages(5))
    assert main(_encode(corpus, store)) == 0
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["revision"] = "0.0.0-other"
    (store / "manifest.json").write_text(json.dumps(manifest))
    assert main(_query("search", store, corpus, "--run", str(tmp_path / "r.trec"))) == 2
    assert "revision = '0.0.0-other'" in capsys.readouterr().err
