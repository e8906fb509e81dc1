"""mteb's own caching on our tasks: ``overwrite_strategy``, ``CachedEmbeddingWrapper``, and a stored result
of another dataset revision, which mteb 2.26's ``ResultCache`` would reuse or replace: the plugin's guard
(every ``mteb.ResultCache``, our tasks), ``GuardedResultCache``, ``hbt-bench eval`` and
``hbt_bench.results`` refuse.

Small tasks (``languages=["en"]``: subsets en-en and en-multi) and a hash encoder keep each run to a second.
"""

from __future__ import annotations

import hashlib

import mteb
import numpy as np
import pytest
from mteb.models.cache_wrappers import CachedEmbeddingWrapper

from hbt_bench.data.lareqa import CANDIDATE_TEXT_MODES
from hbt_bench.plugin.models import mteb_encoder
from hbt_bench.plugin.tasks import XQuADR

pytestmark = pytest.mark.usefixtures("shared_data")


class CountingEncoder:
    """Deterministic embeddings from a hash of each text; counts the texts it encodes."""

    name = "test/counting"
    revision = "r1"
    dim = 16

    def __init__(self) -> None:
        self.texts = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], dtype=np.uint8) for t in texts]
        return np.stack(rows).astype(np.float32) + 1.0


def _run(model, task, **kwargs):
    [tr] = mteb.evaluate(model, [task], co2_tracker=False, show_progress_bar=False, **kwargs).task_results
    return tr


def _subset_scores(tr) -> dict:
    return {e["hf_subset"]: e["map"] for e in tr.scores["test"]}


def test_cached_embedding_wrapper_second_evaluation_encodes_nothing(tmp_path):
    """Our tasks encode through embedding_store_for -> model.encode, i.e. the wrapper's encode path."""
    first_encoder = CountingEncoder()
    first = _run(
        CachedEmbeddingWrapper(mteb_encoder(first_encoder), tmp_path), XQuADR(languages=["en"]), cache=None
    )
    assert first_encoder.texts > 0
    assert (tmp_path / "XQuADR").is_dir()  # mteb's layout: <dir>/<task>/<prompt type>/vectors.npy

    second_encoder = CountingEncoder()  # a fresh model and wrapper: only the disk cache can help
    second = _run(
        CachedEmbeddingWrapper(mteb_encoder(second_encoder), tmp_path), XQuADR(languages=["en"]), cache=None
    )
    assert second_encoder.texts == 0
    assert _subset_scores(second) == _subset_scores(first)
    uncached = _run(mteb_encoder(CountingEncoder()), XQuADR(languages=["en"]), cache=None)
    assert _subset_scores(uncached) == pytest.approx(_subset_scores(first), abs=1e-6)


def test_each_overwrite_strategy_on_our_tasks(tmp_path):
    enc = CountingEncoder()
    model = mteb_encoder(enc)
    cache = mteb.ResultCache(tmp_path)
    with pytest.raises(ValueError, match="only-cache"):  # nothing stored yet: mteb refuses, clearly
        _run(model, XQuADR(languages=["en"]), cache=cache, overwrite_strategy="only-cache")
    first = _run(model, XQuADR(languages=["en"]), cache=cache, overwrite_strategy="only-missing")
    path = cache.get_task_result_path("XQuADR", model.mteb_model_meta)
    assert path.is_file()
    for strategy in ("only-missing", "never", "only-cache"):
        enc.texts = 0
        again = _run(
            mteb_encoder(CountingEncoder()),
            XQuADR(languages=["en"]),
            cache=cache,
            overwrite_strategy=strategy,
        )
        assert _subset_scores(again) == pytest.approx(_subset_scores(first), abs=1e-6), strategy
    fresh = CountingEncoder()
    again = _run(mteb_encoder(fresh), XQuADR(languages=["en"]), cache=cache, overwrite_strategy="always")
    assert fresh.texts > 0 and _subset_scores(again) == pytest.approx(_subset_scores(first), abs=1e-6)
    with pytest.raises(ValueError, match="sometimes"):
        _run(model, XQuADR(languages=["en"]), cache=cache, overwrite_strategy="sometimes")


def _stored_en_variant(tmp_path):
    """A ResultCache holding XQuADR(languages=["en"]) of the counting model; returns (cache, path, bytes)."""
    cache = mteb.ResultCache(tmp_path)
    model = mteb_encoder(CountingEncoder())
    _run(model, XQuADR(languages=["en"]), cache=cache)
    path = cache.get_task_result_path("XQuADR", model.mteb_model_meta)
    return cache, path, path.read_bytes()


def test_a_plain_mteb_cache_no_longer_lets_a_variant_stand_in_for_the_stored_result(tmp_path):
    """mteb 2.26's `_check_cache` compares revisions only when subsets are missing: without the plugin's
    guard a sentence+context run silently got the stored sentence-mode scores and ran nothing."""
    from hbt_bench.results import ResultConflictError

    cache, path, before = _stored_en_variant(tmp_path)
    enc = CountingEncoder()
    task = XQuADR(languages=["en"], candidate_mode=CANDIDATE_TEXT_MODES[1])
    with pytest.raises(ResultConflictError, match="revision"):
        _run(mteb_encoder(enc), task, cache=cache)
    assert enc.texts == 0 and path.read_bytes() == before


def test_a_plain_mteb_cache_no_longer_replaces_a_stored_result_of_another_revision(tmp_path):
    """Without the guard, 'always' (or a stored file lacking subsets) made mteb overwrite the other file."""
    from hbt_bench.results import ResultConflictError

    cache, path, before = _stored_en_variant(tmp_path)
    task = XQuADR(languages=["en"], candidate_mode=CANDIDATE_TEXT_MODES[1])
    with pytest.raises(ResultConflictError, match="revision"):
        _run(mteb_encoder(CountingEncoder()), task, cache=cache, overwrite_strategy="always")
    assert path.read_bytes() == before

    cache, path, before = _stored_en_variant(tmp_path / "second")
    wider = XQuADR(languages=["en", "de"])  # needs subsets the stored en-only file lacks
    with pytest.raises(ResultConflictError, match="revision"):
        _run(mteb_encoder(CountingEncoder()), wider, cache=cache)
    assert path.read_bytes() == before


def test_the_guard_covers_our_tasks_and_leaves_mteb_tasks_to_mteb():
    from mteb.cache import ResultCache

    from hbt_bench.plugin.benchmark import ALL_TASKS
    from hbt_bench.plugin.result_cache import _LOAD, _SAVE

    guarded = ResultCache._hbt_bench_guarded
    assert {cls.metadata.name for cls in ALL_TASKS} <= guarded
    assert "XQuADRetrieval" not in guarded and "XNLI" not in guarded
    assert ResultCache.load_task_result is not _LOAD and ResultCache.save_to_cache is not _SAVE


def test_the_guarded_cache_refuses_both_mteb_mixups_and_works_otherwise(tmp_path):
    from hbt_bench.plugin.result_cache import GuardedResultCache
    from hbt_bench.results import ResultConflictError

    cache = GuardedResultCache(tmp_path)
    model = mteb_encoder(CountingEncoder())
    first = _run(model, XQuADR(languages=["en"]), cache=cache)
    path = cache.get_task_result_path("XQuADR", model.mteb_model_meta)
    before = path.read_bytes()
    context = XQuADR(languages=["en"], candidate_mode=CANDIDATE_TEXT_MODES[1])
    for task, strategy in (
        (context, "only-missing"),
        (context, "always"),
        (XQuADR(languages=["en", "de"]), "only-missing"),
    ):
        enc = CountingEncoder()
        with pytest.raises(ResultConflictError, match="revision"):
            _run(mteb_encoder(enc), task, cache=cache, overwrite_strategy=strategy)
        assert path.read_bytes() == before
    enc = CountingEncoder()
    again = _run(mteb_encoder(enc), XQuADR(languages=["en"]), cache=cache)  # same revision: mteb's reuse
    assert enc.texts == 0 and _subset_scores(again) == pytest.approx(_subset_scores(first), abs=1e-6)


def test_mteb_evaluate_into_a_plain_cache_writes_the_per_query_side_file(tmp_path):
    """Results saved by mteb itself (``mteb run``, ``mteb.evaluate(cache=...)``) get the side file the
    leaderboard's paired tests need: each query's AP, whose mean is the stored subset mAP."""
    import json
    import math

    from hbt_bench import per_query

    cache = mteb.ResultCache(tmp_path)
    model = mteb_encoder(CountingEncoder())
    _run(model, XQuADR(languages=["en"]), cache=cache)
    path = cache.get_task_result_path("XQuADR", model.mteb_model_meta)
    stored = {e["hf_subset"]: e for e in json.loads(path.read_text())["scores"]["test"]}
    side = per_query.decode(per_query.side_path(path))
    assert set(side["subsets"]) == set(stored) == {"en-en", "en-multi"}
    for name, sub in side["subsets"].items():
        assert math.fsum(sub["ap"]) / len(sub["ap"]) == pytest.approx(stored[name]["map"], abs=5.01e-7)
    rd = side["subsets"]["en-multi"]["rank_distance"]
    assert math.fsum(rd) / len(rd) == pytest.approx(stored["en-multi"]["rank_distance"], abs=5.01e-7)
