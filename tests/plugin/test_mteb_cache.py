"""mteb's own caching on our tasks: ``overwrite_strategy``, ``CachedEmbeddingWrapper``, and what mteb 2.26's
``ResultCache`` does with a stored result of another dataset revision (pinned here, so that an mteb upgrade
changing it is noticed); ``GuardedResultCache``, ``hbt-bench eval`` and ``hbt_bench.results`` refuse.

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


def test_mteb_reuses_a_stored_result_of_another_revision_when_its_subsets_cover_the_task(tmp_path):
    """mteb 2.26 `_check_cache` compares revisions only when subsets are missing: a sentence+context
    run silently gets the stored sentence-mode scores (a limitation of mteb.evaluate with a cache)."""
    cache, path, before = _stored_en_variant(tmp_path)
    enc = CountingEncoder()
    task = XQuADR(languages=["en"], candidate_mode=CANDIDATE_TEXT_MODES[1])
    got = _run(mteb_encoder(enc), task, cache=cache)
    assert enc.texts == 0  # nothing evaluated
    assert got.dataset_revision != task.metadata.revision  # the stored revision came back
    assert path.read_bytes() == before


def test_mteb_replaces_a_stored_result_of_another_revision(tmp_path):
    """With 'always', or when the stored file lacks subsets, mteb overwrites another revision's file."""
    cache, path, _ = _stored_en_variant(tmp_path)
    task = XQuADR(languages=["en"], candidate_mode=CANDIDATE_TEXT_MODES[1])
    _run(mteb_encoder(CountingEncoder()), task, cache=cache, overwrite_strategy="always")
    assert mteb.TaskResult.from_disk(path).dataset_revision == task.metadata.revision

    cache, path, _ = _stored_en_variant(tmp_path / "second")
    wider = XQuADR(languages=["en", "de"])  # needs subsets the stored en-only file lacks
    _run(mteb_encoder(CountingEncoder()), wider, cache=cache)
    assert mteb.TaskResult.from_disk(path).dataset_revision == wider.metadata.revision


def test_the_guarded_cache_refuses_both_mteb_mixups_and_works_otherwise(tmp_path):
    from hbt_bench.result_cache import GuardedResultCache
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
