from __future__ import annotations

import numpy as np
import pytest

from hbt_bench.runs import relevant_ranks_from_run
from hbt_bench.scale.corpus import Corpus
from hbt_bench.scale.errors import ScaleError
from hbt_bench.scale.index import IndexSpec, SearchResult, ann_recall, build_index, search, to_run
from hbt_bench.scale.shards import Store, encode_corpus
from hbt_bench.scale.trec import write_trec_run
from tests.scale.helpers import CountingEncoder

pytest.importorskip("faiss")


def _store(tmp_path, vectors: np.ndarray, shard_size: int = 7) -> Store:
    """A store of ``vectors`` as given (not normalised), ids d0..d{n-1}."""
    records = [{"id": f"d{i}", "text": f"t{i}"} for i in range(len(vectors))]
    table = {r["text"]: v for r, v in zip(records, vectors, strict=True)}
    encode_corpus(
        Corpus(records),
        tmp_path / "store",
        CountingEncoder(table=table),
        shard_size=shard_size,
        normalize=False,
    )
    return Store(tmp_path / "store")


def _brute_force(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[list[int]]:
    """Independent top-k: float64 products, Python's sort on (-score, position)."""
    scores = queries.astype(np.float64) @ vectors.astype(np.float64).T
    return [sorted(range(len(row)), key=lambda j: (-row[j], j))[:k] for row in scores]


def test_flat_search_equals_numpy_brute_force_ties_by_position(tmp_path):
    rng = np.random.default_rng(0)
    vectors = rng.integers(-2, 3, size=(40, 8)).astype(np.float32)  # small integers: exact sums, many ties
    vectors[25] = vectors[3]  # an exact tie across shards
    queries = rng.integers(-2, 3, size=(6, 8)).astype(np.float32)
    queries[0] = 0  # every score ties at 0: the whole corpus is one tie
    store = _store(tmp_path, vectors)
    result = search(build_index(store), queries, 10)
    assert result.positions.tolist() == _brute_force(vectors, queries, 10)
    np.testing.assert_array_equal(result.scores, np.take_along_axis(queries @ vectors.T, result.positions, 1))
    # k beyond the corpus: everything, ranked
    assert search(build_index(store), queries, 100).positions[:, :40].tolist() == _brute_force(
        vectors, queries, 40
    )


def test_run_is_a_trec_run_ir_measures_and_our_ranks_read(tmp_path):
    ir_measures = pytest.importorskip("ir_measures")
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((30, 6)).astype(np.float32)
    queries = rng.standard_normal((3, 6)).astype(np.float32)
    store = _store(tmp_path, vectors)
    result = search(build_index(store), queries, 5)
    run = to_run(store, ["q0", "q1", "q2"], result)
    assert [list(run[q]) for q in run] == [[f"d{p}" for p in row] for row in result.positions.tolist()]
    path = write_trec_run(run, tmp_path / "run.trec")
    read = {}
    for r in ir_measures.read_trec_run(str(path)):
        read.setdefault(r.query_id, {})[r.doc_id] = r.score
    assert read.keys() == run.keys()
    for q in run:
        assert read[q] == pytest.approx(run[q])
    # scored by the package's own ranks: the top hit of each query is rank 1
    index = {f"d{i}": i for i in range(30)}
    top = [np.array([int(result.positions[i, 0])]) for i in range(3)]
    rr = relevant_ranks_from_run([run[q] for q in ["q0", "q1", "q2"]], index, top)
    assert rr.ranks.ranks[:, 0].tolist() == [1, 1, 1]
    qrels = {q: {f"d{int(result.positions[i, 0])}": 1} for i, q in enumerate(["q0", "q1", "q2"])}
    assert ir_measures.calc_aggregate([ir_measures.RR], qrels, read)[ir_measures.RR] == 1.0


def test_ann_recall_equals_a_hand_count():
    exact = SearchResult(np.zeros((3, 3), np.float32), np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]]))
    approx = SearchResult(np.zeros((3, 3), np.float32), np.array([[0, 2, 9], [7, 8, -1], [8, 7, 6]]))
    report = ann_recall(exact, approx, 3)
    # by hand: {0,2} of {0,1,2} = 2/3; none of {3,4,5} = 0; all of {6,7,8} = 1; mean 5/9
    assert report.per_query.tolist() == pytest.approx([2 / 3, 0.0, 1.0])
    assert report.mean == pytest.approx(5 / 9)
    assert ann_recall(exact, approx, 1).per_query.tolist() == [1.0, 0.0, 0.0]


def test_ivf_is_deterministic_and_exact_when_probing_every_list(tmp_path):
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((300, 16)).astype(np.float32)
    queries = rng.standard_normal((20, 16)).astype(np.float32)
    store = _store(tmp_path, vectors, shard_size=64)
    exact = search(build_index(store), queries, 10)
    spec = IndexSpec(kind="ivf", nlist=8, nprobe=1, seed=3)
    a, b = (search(build_index(store, spec), queries, 10) for _ in range(2))
    np.testing.assert_array_equal(a.positions, b.positions)
    low = ann_recall(exact, a, 10)
    assert 0.0 < low.mean < 1.0  # 1 of 8 lists: some hits are missed on random data
    hand = np.mean(
        [
            len(set(e) & set(x)) / 10
            for e, x in zip(exact.positions.tolist(), a.positions.tolist(), strict=True)
        ]
    )
    assert low.mean == pytest.approx(hand)
    full = search(build_index(store, IndexSpec(kind="ivf", nlist=8, nprobe=8, seed=3)), queries, 10)
    assert ann_recall(exact, full, 10).mean == 1.0  # probing every list is an exhaustive search


def test_hnsw_search_and_recall(tmp_path):
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((200, 8)).astype(np.float32)
    queries = rng.standard_normal((10, 8)).astype(np.float32)
    store = _store(tmp_path, vectors, shard_size=50)
    spec = IndexSpec(kind="hnsw", m=8, ef_construction=40, ef_search=64)
    a, b = (search(build_index(store, spec), queries, 5) for _ in range(2))
    np.testing.assert_array_equal(a.positions, b.positions)
    assert ann_recall(search(build_index(store), queries, 5), a, 5).mean > 0.8


def test_bad_search_input(tmp_path):
    store = _store(tmp_path, np.eye(4, dtype=np.float32), shard_size=2)
    index = build_index(store)
    with pytest.raises(ScaleError, match=r"have 4 dimensions"):
        search(index, np.ones((1, 3), np.float32), 2)
    with pytest.raises(ScaleError, match="--k must be a positive integer"):
        search(index, np.ones((1, 4), np.float32), 0)
    with pytest.raises(ScaleError, match="--index must be flat, ivf or hnsw"):
        build_index(store, IndexSpec(kind="lsh"))  # type: ignore[arg-type]
    with pytest.raises(ScaleError, match="whitespace"):
        write_trec_run({"q 1": {"d0": 1.0}}, tmp_path / "r.trec")
    assert not (tmp_path / "r.trec").exists()
