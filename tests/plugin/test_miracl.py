"""MIRACL through mteb's own loader on a local hub-layout copy (real yo/de dev qrels and topics, synthetic
passages; tests/plugin/miracl_fixture.py), the pooled diagnostic, and the HBT-DomainShift benchmark."""

from __future__ import annotations

import mteb
import pyarrow.parquet as pq
import pytest

import hbt_bench
from hbt_bench.errors import HbtBenchError
from hbt_bench.plugin.miracl import PAPER_LANGUAGES, MIRACLPooled, miracl_task
from hbt_bench.plugin.models import mteb_encoder
from tests.plugin.miracl_fixture import build_hub_copy

LANGS = ("yo", "de")


def _local(task, root):
    dataset = {"path": str(root), "revision": task.metadata.dataset["revision"].replace(
        mteb.get_task("MIRACLRetrievalHardNegatives").metadata.revision, "local")}  # fmt: skip
    task.metadata = task.metadata.model_copy(update={"dataset": dataset})
    return task


def _scores(task, model):
    [tr] = mteb.evaluate(model, [task], cache=None, co2_tracker=False, show_progress_bar=False).task_results
    return {e["hf_subset"]: e for e in tr.scores["dev"]}


@pytest.fixture(scope="module")
def runs(shared_data, tmp_path_factory):
    """mteb's MIRACLRetrievalHardNegatives (yo, de), the pooled task on both and on yo alone."""
    hbt_bench.register()
    root = build_hub_copy(tmp_path_factory.mktemp("miracl"), shared_data, LANGS, max_queries=5)
    model = mteb_encoder("builtin:hash-ngram")
    mono_task = _local(miracl_task(languages=LANGS), root)
    mono = _scores(mono_task, model)
    sizes = {lang: pq.read_metadata(root / f"{lang}-corpus" / "dev.parquet").num_rows for lang in LANGS}
    pooled = _scores(_local(MIRACLPooled(languages=LANGS), root), model)["multi"]
    alone = _scores(_local(MIRACLPooled(languages=["yo"]), root), model)["multi"]
    return mono, sizes, pooled, alone


def test_mteb_loader_reads_the_local_copy_and_reports_recall_at_100(runs):
    mono, sizes, _, _ = runs
    assert set(mono) == set(LANGS)
    for lang in LANGS:
        # fewer than 100 passages: every judged-relevant passage is in the top 100 (stated invariant)
        assert sizes[lang] < 100
        assert mono[lang]["recall_at_100"] == 1.0
        assert 0.0 < mono[lang]["ndcg_at_10"] <= 1.0


def test_pooled_never_beats_mono_and_equals_it_alone(runs):
    mono, _, pooled, alone = runs
    for lang in LANGS:
        # extra (non-relevant) candidates can only push judged passages down
        assert pooled[f"ndcg_at_10_{lang}"] <= mono[lang]["ndcg_at_10"] + 1e-12
        assert 0.0 <= pooled[f"foreign_at_10_{lang}"] <= 1.0
    assert pooled["ndcg_at_10_macro"] == pytest.approx(
        (pooled["ndcg_at_10_yo"] + pooled["ndcg_at_10_de"]) / 2
    )
    # a pool of one language is the monolingual task (ids prefixed, nothing else changes)
    assert alone["ndcg_at_10_yo"] == pytest.approx(mono["yo"]["ndcg_at_10"])
    assert alone["recall_at_100_yo"] == pytest.approx(mono["yo"]["recall_at_100"])
    assert alone["foreign_at_10_yo"] == 0.0


def test_pooled_language_choice_is_recorded():
    assert MIRACLPooled().pool_languages == PAPER_LANGUAGES
    assert MIRACLPooled(languages=["yo"]).metadata.revision.endswith("+yo")
    with pytest.raises(HbtBenchError, match="xx"):
        MIRACLPooled(languages=["xx"])
    with pytest.raises(HbtBenchError, match="MIRACL task"):
        miracl_task("MIRACLReranking")


def test_domain_shift_benchmark():
    from hbt_bench.plugin.benchmark import hbt_domain_shift_benchmark

    hbt_bench.register()
    bench = mteb.get_benchmark("HBT-DomainShift")
    names = [t.metadata.name for t in bench.tasks]
    assert names == ["XQuADR", "MLQAR", "mMARCOR", "mMARCOR-Adv", "MIRACLRetrievalHardNegatives"]
    assert sorted(bench.tasks[-1].hf_subsets) == sorted(PAPER_LANGUAGES) and len(PAPER_LANGUAGES) == 15
    assert "MIRACLRetrievalHardNegatives" in bench.description and "MIRACLRetrieval'" in bench.description
    full = hbt_domain_shift_benchmark(miracl="MIRACLRetrieval")
    assert full.tasks[-1].metadata.name == "MIRACLRetrieval"
    hbt = mteb.get_benchmark("HBT")
    assert [t.metadata.name for t in hbt.tasks] == ["XQuADR", "MLQAR"]
    assert "XQuADR" in hbt.description and "MLQAR" in hbt.description
    assert mteb.get_task("MIRACLHardNegativesPooled").metadata.main_score == "ndcg_at_10_macro"
