"""Models that are not plain encoders on the LAReQA tasks: mteb SearchProtocol models (a hand-written
one, a truncating one and mteb's BM25), cross-encoders, and mteb's prediction files."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import mteb
import numpy as np
import pytest
from mteb.models.model_meta import ModelMeta

from hbt_bench.cli import print_task_summary
from hbt_bench.data.lareqa import load_lareqa
from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.errors import HbtBenchError
from hbt_bench.plugin.adversarial_tasks import XQuADRAdv
from hbt_bench.plugin.models import to_mteb_model
from hbt_bench.plugin.tasks import XQuADR

SUBSETS = ["en-en", "de-de", "en-de", "en-multi"]


def _meta(name: str) -> ModelMeta:
    return ModelMeta(
        loader=None,
        name=name,
        revision="1",
        release_date=None,
        languages=None,
        n_parameters=None,
        memory_usage_mb=None,
        max_tokens=None,
        embed_dim=None,
        license=None,
        open_weights=None,
        public_training_code=None,
        public_training_data=None,
        framework=[],
        similarity_fn_name=None,
        use_instructions=False,
        training_datasets=None,
    )


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


class OverlapSearch:
    """A SearchProtocol model: score = shared words + a tie-breaker favouring earlier corpus rows.

    The tie-breaker (< 1) makes every score distinct and orders equal overlaps by corpus position,
    which is the tie rule of hbt_bench, so ir_measures (which orders ties its own way) sees the same
    ranking. It records every index call and every run it returns. ``cap`` truncates the runs.
    """

    def __init__(self, cap: int | None = None) -> None:
        self.mteb_model_meta = _meta("test/overlap-search" if cap is None else f"test/overlap-search-{cap}")
        self.cap = cap
        self.indexed: list[str] = []
        self.runs: dict[str, dict[str, dict[str, float]]] = {}
        self.top_ks: set[int] = set()

    def index(self, corpus, *, task_metadata, hf_split, hf_subset, encode_kwargs, num_proc=None, **kw):
        self.indexed.append(hf_subset)
        self.ids = list(corpus["id"])
        self.words = [_words(t) for t in corpus["text"]]

    def search(self, queries, *, task_metadata, hf_split, hf_subset, top_k, encode_kwargs, **kw):
        self.top_ks.add(top_k)
        n = len(self.ids)
        out: dict[str, dict[str, float]] = {}
        for qid, text in zip(queries["id"], queries["text"], strict=True):
            q = _words(text)
            scores = {
                d: len(q & w) + (n - i) / (n + 1)
                for i, (d, w) in enumerate(zip(self.ids, self.words, strict=True))
            }
            best = sorted(scores.items(), key=lambda kv: -kv[1])[: min(top_k, self.cap or top_k)]
            out[qid] = dict(best)
        self.runs.setdefault(hf_subset, {}).update(out)
        return out


def _qrels(subset: str, langs: list[str], shared_data) -> dict[str, dict[str, int]]:
    """Relevance straight from the LAReQA files: a question's answer sentence in each target language."""
    corpus = load_lareqa("xquad-r", langs, data_dir=shared_data)
    answer = {(lang, q.qid): q.answer_uid for lang, data in corpus.languages.items() for q in data.questions}
    q_lang, target = subset.split("-")
    targets = langs if target == "multi" else [target]
    return {
        f"{q_lang}_{q.qid}": {answer[(t, q.qid)]: 1 for t in targets}
        for q in corpus.languages[q_lang].questions
    }


@pytest.fixture
def data_env(shared_data, monkeypatch):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_data))
    return shared_data


def _evaluate(model: Any, task: Any, **kwargs: Any) -> Any:
    return mteb.evaluate(model, task, cache=None, co2_tracker=False, show_progress_bar=False, **kwargs)


def test_search_model_scores_equal_ir_measures_on_its_own_runs(data_env):
    import ir_measures

    model = OverlapSearch()
    task = XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=SUBSETS)
    tr = _evaluate(model, task).task_results[0]
    entries = {e["hf_subset"]: e for e in tr.scores["test"]}
    assert set(entries) == set(SUBSETS)
    # one index per candidate set (en, de, the pool), whole lists asked for
    assert sorted(model.indexed) == ["de-de", "en-en", "en-multi"]
    assert model.top_ks == {1180, 1276, 1180 + 1276}
    for name in SUBSETS:
        qrels = _qrels(name, ["en", "de"], data_env)
        run = model.runs[name]
        assert set(run) == set(qrels)
        expected = ir_measures.calc_aggregate(
            [ir_measures.AP, ir_measures.RR, ir_measures.nDCG @ 10, ir_measures.R @ 10], qrels, run
        )
        e = entries[name]
        assert e["map"] == pytest.approx(expected[ir_measures.AP], abs=1e-6)
        assert e["mrr"] == pytest.approx(expected[ir_measures.RR], abs=1e-6)
        assert e["ndcg_at_10"] == pytest.approx(expected[ir_measures.nDCG @ 10], abs=1e-6)
        assert e["recall_at_10"] == pytest.approx(expected[ir_measures.R @ 10], abs=1e-6)
        assert e["search_depth"] == e["num_candidates"] and e["search_unreturned_relevant"] == 0
    assert "depth" not in _table(tr)


def _table(tr) -> str:
    buf = io.StringIO()
    print_task_summary(tr, buf)
    return buf.getvalue()


def test_truncated_runs_record_the_depth_and_show_it_in_the_table(data_env):
    task = XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=SUBSETS)
    full = {e["hf_subset"]: e for e in _evaluate(OverlapSearch(), task).task_results[0].scores["test"]}
    tr = _evaluate(
        OverlapSearch(cap=5), XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=SUBSETS)
    ).task_results[0]
    cut = {e["hf_subset"]: e for e in tr.scores["test"]}
    for name in SUBSETS:
        assert cut[name]["search_depth"] == 5
        assert cut[name]["search_unreturned_relevant"] > 0
        assert cut[name]["map"] <= full[name]["map"] + 1e-9  # a lower bound of the full-list mAP
        assert cut[name]["recall_at_1"] == pytest.approx(full[name]["recall_at_1"])  # top 5 unchanged
    table = _table(tr)
    assert "search depth 5" in table and "truncated" in table


def test_mteb_bm25_on_xquadr_matches_ir_measures(data_env):
    """Issue 9: mteb's BM25 used to fail with ``'BM25Search' object has no attribute 'encode'``."""
    import ir_measures

    bm25 = mteb.get_model("mteb/baseline-bm25s")
    recorder = RecordingSearch(bm25)
    task = XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=SUBSETS)
    entries = {e["hf_subset"]: e for e in _evaluate(recorder, task).task_results[0].scores["test"]}
    for name in SUBSETS:
        qrels = _qrels(name, ["en", "de"], data_env)
        run = recorder.tie_free_run(name)
        expected = ir_measures.calc_aggregate([ir_measures.AP, ir_measures.RR], qrels, run)
        assert entries[name]["map"] == pytest.approx(expected[ir_measures.AP], abs=1e-6)
        assert entries[name]["mrr"] == pytest.approx(expected[ir_measures.RR], abs=1e-6)
        assert entries[name]["search_depth"] == entries[name]["num_candidates"]
    assert entries["en-en"]["map"] > 0.7 and entries["de-de"]["map"] > 0.6  # data.md: .790 / .698
    assert entries["en-multi"]["rank_distance"] > 0


class RecordingSearch:
    """Forwards to a real search model and keeps each run, with the corpus order seen at index time."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.mteb_model_meta = inner.mteb_model_meta
        self.order: dict[str, dict[str, int]] = {}
        self.runs: dict[str, dict[str, dict[str, float]]] = {}

    def index(self, corpus, **kwargs):
        self._position = {d: i for i, d in enumerate(corpus["id"])}
        return self.inner.index(corpus, **kwargs)

    def search(self, queries, **kwargs):
        out = self.inner.search(queries, **kwargs)
        self.order[kwargs["hf_subset"]] = self._position
        self.runs.setdefault(kwargs["hf_subset"], {}).update(out)
        return out

    def tie_free_run(self, subset: str) -> dict[str, dict[str, float]]:
        """Scores replaced by n - position in (descending score, ascending corpus position) order."""
        pos = self.order[subset]
        out = {}
        for qid, hits in self.runs[subset].items():
            order = sorted(hits, key=lambda d: (-hits[d], pos[d]))
            out[qid] = {d: float(len(order) - k) for k, d in enumerate(order)}
        return out


def test_mteb_bm25_on_the_adversarial_task(data_env):
    import ir_measures

    recorder = RecordingSearch(mteb.get_model("mteb/baseline-bm25s"))
    subsets = ["en-en", "en-de", "en-multi"]  # all three settings
    task = XQuADRAdv(languages=["en", "de"]).filter_languages(None, hf_subsets=subsets)
    entries = {e["hf_subset"]: e for e in _evaluate(recorder, task).task_results[0].scores["test"]}
    assert set(entries) == set(subsets)
    # candidate counts: sentences in xquad-r/{en,de}.json (1180 and 1276)
    for name, n_candidates in (("en-de", 1276), ("en-multi", 1180 + 1276)):
        assert entries[name]["search_depth"] == entries[name]["num_candidates"] == n_candidates
        assert 0 < entries[name]["map"] <= entries[name]["clean_map"] + 0.05
    e = entries["en-en"]
    assert e["search_depth"] == e["num_candidates"] == 1180
    assert 0 < e["map"] <= e["clean_map"] + 0.05
    # the clean score equals ir_measures on the clean run (the first run searched for en-en)
    qrels = _qrels("en-en", ["en", "de"], data_env)
    clean = XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=["en-en"])
    ref = RecordingSearch(mteb.get_model("mteb/baseline-bm25s"))
    _evaluate(ref, clean)
    expected = ir_measures.calc_aggregate([ir_measures.AP], qrels, ref.tie_free_run("en-en"))
    assert e["clean_map"] == pytest.approx(expected[ir_measures.AP], abs=1e-6)


@pytest.mark.parametrize("name", ["mteb/baseline-bm25s", "hbt-bench/bm25"])
def test_bm25_score_rows_give_exactly_the_scores_of_its_runs(data_env, monkeypatch, name):
    """mteb's BM25 (and ours, which keeps its ``search``) is scored from full score rows, not 13k-hit
    dicts per query; every entry of every setting equals the dict path's (a wrapper hides the BM25
    class, so RecordingSearch takes mteb's ``search``), ties and zero scores included."""
    from hbt_bench.plugin.tasks import MtebSearchEngine

    calls: list[bool] = []
    score_rows = MtebSearchEngine.score_rows

    def spy(self, *args):
        out = score_rows(self, *args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(MtebSearchEngine, "score_rows", spy)
    langs = ["en", "zh"]
    subsets = ["en-en", "zh-zh", "zh-en", "en-multi", "zh-multi"]

    def entries(model: Any) -> dict[str, dict[str, Any]]:
        task = XQuADR(languages=langs).filter_languages(None, hf_subsets=subsets)
        return {e["hf_subset"]: e for e in _evaluate(model, task).task_results[0].scores["test"]}

    fast = entries(mteb.get_model(name))
    assert calls and all(calls)
    calls.clear()
    slow = entries(RecordingSearch(mteb.get_model(name)))
    assert calls and not any(calls)
    assert set(fast) == set(subsets)
    for subset in subsets:
        assert fast[subset] == slow[subset], subset
        assert fast[subset]["search_depth"] == fast[subset]["num_candidates"]


def test_score_rows_of_the_wrong_shape_are_refused(data_env):
    from hbt_bench.evaluate import LareqaEvaluator, Subset

    class ShortRows:
        name = "short"

        def index(self, key, ids, texts, subset):
            pass

        def search(self, key, subset, query_ids, texts, top_k):
            raise AssertionError("score_rows was given, search must not be called")

        def score_rows(self, key, subset, query_ids, texts):
            return np.zeros((len(texts), 3))

    evaluator = LareqaEvaluator(load_lareqa("xquad-r", ["en"], data_dir=data_env))
    with pytest.raises(ValueError, match=r"short on en-en: score_rows gave shape \(\d+, 3\), expected"):
        evaluator.score_by_search(ShortRows(), [Subset.parse("en-en", ["en"])])


class TinyCrossEncoder:
    def __init__(self) -> None:
        self.mteb_model_meta = _meta("test/tiny-cross-encoder")

    def predict(self, inputs1, inputs2, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kw):
        return np.zeros(len(inputs1.dataset))


def test_cross_encoder_is_refused_with_a_clear_error(data_env):
    task = XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=["en-en"])
    with pytest.raises(HbtBenchError, match=r"test/tiny-cross-encoder.*cross-encoder.*encoder.*search"):
        task.evaluate(TinyCrossEncoder(), "test", encode_kwargs={})


@pytest.mark.parametrize("kind", ["encoder", "search"])
def test_predictions_are_written_in_mteb_format(data_env, tmp_path, kind):
    model = to_mteb_model(HashNgramEncoder()) if kind == "encoder" else OverlapSearch()
    task = XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=SUBSETS)
    tr = _evaluate(model, task, prediction_folder=tmp_path).task_results[0]
    path = tmp_path / "XQuADR_predictions.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["mteb_model_meta"]["model_name"] == model.mteb_model_meta.name
    assert set(data) == {"mteb_model_meta", *SUBSETS}
    entries = {e["hf_subset"]: e for e in tr.scores["test"]}
    for name in SUBSETS:
        run = data[name]["test"]
        qrels = _qrels(name, ["en", "de"], data_env)
        assert set(run) == set(qrels)
        assert all(len(hits) == XQuADR.prediction_top_k for hits in run.values())
        # top-1 accuracy of the written run equals the task's recall@1 (one relevant per query there)
        if not name.endswith("multi"):
            hit1 = np.mean([qrels[q].get(max(h, key=h.get), 0) for q, h in run.items()])
            assert hit1 == pytest.approx(entries[name]["recall_at_1"], abs=1e-6)
    # mteb reads it back for its own reranking conversion
    rerank = XQuADR(languages=["en", "de"]).filter_languages(None, hf_subsets=SUBSETS)
    assert rerank._predictions_path(tmp_path) == path


def test_adversarial_predictions_are_refused(data_env, tmp_path):
    task = XQuADRAdv(languages=["en", "de"]).filter_languages(None, hf_subsets=["en-en"])
    with pytest.raises(HbtBenchError, match=r"XQuADR-Adv.*predictions.*clean task"):
        task.evaluate(OverlapSearch(), "test", encode_kwargs={}, prediction_folder=tmp_path)
    assert not any(tmp_path.iterdir())
