"""The mMARCOR mteb task end to end on a fixture build (hub-layout copy, see tests/data/mmarco_fixture.py)."""

from __future__ import annotations

import mteb
import pytest

from hbt_bench.data.mmarco import DEFAULT_LANGUAGES, MMarcoDataError
from hbt_bench.data.mmarco_build import build_mmarco_r
from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.evaluate import Subset
from hbt_bench.plugin.mmarco import mMARCOR
from hbt_bench.plugin.models import to_mteb_model
from tests.conftest import SHARED_DATA
from tests.data.mmarco_fixture import write_hub_copy
from tests.helpers import single_relevant_map_bounds

N_QUERIES = 6


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    shared = SHARED_DATA / "mmarco"
    if not (shared / "qrels.msmarco-passage.dev-subset.txt").is_file():
        pytest.skip(f"real MS MARCO dev-small qrels not found under {shared}")
    root = tmp_path_factory.mktemp("mmarco")
    hub = write_hub_copy(root / "hub", shared, DEFAULT_LANGUAGES)
    mp = pytest.MonkeyPatch()
    mp.setenv("HBT_BENCH_DATA_DIR", str(SHARED_DATA))
    try:
        build_mmarco_r(
            queries=N_QUERIES, negatives=2, source=hub.root, output=root / "data" / "mmarco-r", progress=False
        )
    finally:
        mp.undo()
    return root / "data"


def test_metadata_is_valid_and_registered():
    md = mMARCOR.metadata
    md._validate_metadata()
    assert len(md.hf_subsets) == 8 * 8 + 8
    assert md.eval_langs["ar-zh"] == ["arb-Arab", "zho-Hans"] and len(md.eval_langs["en-multi"]) == 8
    assert md.main_score == "map" and md.eval_splits == ["dev"]
    assert type(mteb.get_task("mMARCOR")).__name__ == "mMARCOR"


def test_without_a_build_the_error_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HBT_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    task = mMARCOR()
    assert task.metadata.revision == mMARCOR.metadata.revision  # nothing built: the declared revision
    with pytest.raises(
        MMarcoDataError, match=r"hbt-bench data build mmarco-r --languages ar,de,en,es,hi,ru,vi,zh"
    ):
        task.load_data()


def test_evaluates_every_subset_with_hash_ngram(built, tmp_path):
    task = mMARCOR(data_dir=built)
    assert task.metadata.revision == mMARCOR.metadata.revision + "+q6-k2"  # a non-default build is tagged
    encoder = HashNgramEncoder()
    result = mteb.evaluate(
        to_mteb_model(encoder),
        task,
        cache=mteb.ResultCache(tmp_path),
        co2_tracker=False,
        show_progress_bar=False,
    )
    [tr] = result.task_results
    entries = {e["hf_subset"]: e for e in tr.scores["dev"]}
    assert len(entries) == 72 and tr.dataset_revision == task.metadata.revision
    task.load_data()  # mteb.evaluate unloads it after scoring
    ev = task.evaluator
    for lang in DEFAULT_LANGUAGES:
        rows, relevant = ev.relevance(Subset.parse(f"{lang}-multi", ev.languages))
        assert len(rows) == N_QUERIES and all(len(r) == 8 for r in relevant)  # one relevant per language
        assert "rank_distance" in entries[f"{lang}-multi"]
    # en-en by hand: one relevant per query, so AP = 1 / (1 + candidates ranked above it), cosine similarity;
    # candidates within 1e-6 of the relevant score may fall either side, so the mean lies between the bounds
    corpus = ev.corpus.languages["en"]
    q = encoder.encode([x.text for x in corpus.questions])
    c = encoder.encode([x.text for x in corpus.candidates])
    low, high = single_relevant_map_bounds(q, c, corpus.candidates, corpus.questions)
    assert low - 1e-6 <= entries["en-en"]["map"] <= high + 1e-6
    stats = task.calculate_descriptive_statistics()["dev"]
    assert stats["hf_subset_descriptive_stats"]["de-de"]["num_queries"] == N_QUERIES


def test_languages_option_reads_only_those_languages(built):
    task = mMARCOR(data_dir=built, languages=["en", "de"])
    task.load_data()
    assert tuple(task.evaluator.languages) == ("de", "en")
    assert task.metadata.revision.endswith("+langs-de-en+q6-k2")
