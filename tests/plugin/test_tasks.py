"""XQuADR / MLQAR as mteb tasks: metadata, mteb.evaluate, results layout, and the stock path."""

from __future__ import annotations

import mteb
import numpy as np
import pytest

from hbt_bench.data.lareqa import load_lareqa
from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.errors import EncoderOutputError
from hbt_bench.evaluate import EmbeddingStore, LareqaEvaluator, Subset
from hbt_bench.paths import UnsafeNameError
from hbt_bench.plugin.benchmark import setting_scores
from hbt_bench.plugin.models import to_mteb_model
from hbt_bench.plugin.tasks import MLQAR, TaskDefinitionError, XQuADR, task_definition
from hbt_bench.resources import tasks_dir as _tasks_dir
from tests.plugin.stock_tasks import StockXQuADR

SUBSETS = ["en-en", "en-de", "de-en", "de-de", "en-multi"]


class CountingHashEncoder:
    """A third-party style encoder (``encode(list[str]) -> array``) that counts what it encodes."""

    def __init__(self) -> None:
        self.inner = HashNgramEncoder()
        self.texts: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.encode(texts)


class NaNEncoder:
    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.ones((len(texts), 4), dtype=np.float32)
        out[-1, 0] = np.inf
        return out


@pytest.mark.parametrize(("cls", "n_subsets"), [(XQuADR, 132), (MLQAR, 56)])
def test_metadata_is_complete_and_valid(cls, n_subsets):
    md = cls.metadata
    md._validate_metadata()
    assert len(md.hf_subsets) == n_subsets
    assert md.main_score == "map"
    assert md.eval_langs["ar-de"] == ["arb-Arab", "deu-Latn"]
    assert md.eval_langs["de-de"] == ["deu-Latn"]
    assert md.eval_langs["zh-multi"][0] == "zho-Hans" and len(md.eval_langs["zh-multi"]) == len(
        cls.definition.languages
    )
    assert md.adapted_from == (["XQuADRetrieval"] if cls is XQuADR else ["MLQARetrieval"])
    assert md.dataset["revision"] == cls.definition.task["revision"]


def test_task_definition_errors_name_the_file(tmp_path, monkeypatch):
    (tmp_path / "broken.toml").write_text('[task]\nname = "X"\n[languages]\nen = "eng-Latn"\n')
    monkeypatch.setattr("hbt_bench.plugin.tasks._tasks_dir", lambda: tmp_path)
    task_definition.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"broken\.toml.*dataset"):
            task_definition("broken")
    finally:
        task_definition.cache_clear()


@pytest.fixture
def definitions_in(tmp_path, monkeypatch):
    """tasks/ replaced by ``tmp_path`` holding a copy of xquadr.toml; the definition cache is cleared."""
    (tmp_path / "xquadr.toml").write_text(_tasks_dir().joinpath("xquadr.toml").read_text(encoding="utf-8"))
    monkeypatch.setattr("hbt_bench.plugin.tasks._tasks_dir", lambda: tmp_path)
    task_definition.cache_clear()
    yield tmp_path
    task_definition.cache_clear()


def test_task_definition_refuses_an_unknown_field_naming_file_and_field(definitions_in):
    # A misspelt optional field used to be ignored silently (the variant ran on the default set).
    (definitions_in / "typo.toml").write_text('[task]\nextends = "xquadr"\nname = "T"\nperturbation = "v1"\n')
    with pytest.raises(TaskDefinitionError, match=r"typo\.toml.*task\.perturbation\b.*not permitted"):
        task_definition("typo")
    (definitions_in / "table.toml").write_text('[task]\nextends = "xquadr"\nname = "T"\n[extra]\na = 1\n')
    with pytest.raises(TaskDefinitionError, match=r"table\.toml.*extra.*not permitted"):
        task_definition("table")


def test_task_definition_checks_field_types(definitions_in):
    (definitions_in / "bad.toml").write_text('[task]\nextends = "xquadr"\nname = "T"\ndate = "2020"\n')
    with pytest.raises(TaskDefinitionError, match=r"bad\.toml.*task\.date"):
        task_definition("bad")
    (definitions_in / "langs.toml").write_text(
        '[task]\nextends = "xquadr"\nname = "T"\n[languages]\nen = 3\n'
    )
    with pytest.raises(TaskDefinitionError, match=r"langs\.toml.*languages\.en"):
        task_definition("langs")


def test_extends_inherits_fields_and_languages_and_overrides_some(definitions_in):
    (definitions_in / "child.toml").write_text(
        '[task]\nextends = "xquadr"\nname = "Child"\nperturbations = "v9"\n'
    )
    (definitions_in / "own.toml").write_text(
        '[task]\nextends = "xquadr"\nname = "Own"\n[languages]\nen = "eng-Latn"\nde = "deu-Latn"\n'
    )
    child, own = task_definition("child"), task_definition("own")
    assert child.task["name"] == "Child" and child.task["perturbations"] == "v9"
    assert child.task["revision"] == "lareqa-9bc8c7f-hbt1" and child.dataset == "xquad-r"  # from xquadr.toml
    assert list(child.languages) == ["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"]
    assert dict(own.languages) == {"en": "eng-Latn", "de": "deu-Latn"}
    (definitions_in / "orphan.toml").write_text('[task]\nextends = "nowhere"\nname = "O"\n')
    with pytest.raises(FileNotFoundError, match=r"nowhere\.toml"):
        task_definition("orphan")
    (definitions_in / "escape.toml").write_text('[task]\nextends = "../xquadr"\nname = "E"\n')
    with pytest.raises(UnsafeNameError, match=r"escape\.toml: task\.extends"):
        task_definition("escape")


@pytest.fixture
def data_env(shared_data, monkeypatch):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_data))
    return shared_data


def test_mteb_evaluate_scores_encode_once_and_saves_in_mteb_layout(data_env, tmp_path):
    encoder = CountingHashEncoder()
    model = to_mteb_model(encoder)
    task = XQuADR().filter_languages(None, hf_subsets=SUBSETS)
    result = mteb.evaluate(
        model, task, cache=mteb.ResultCache(tmp_path), co2_tracker=False, show_progress_bar=False
    )
    tr = result.task_results[0]
    entries = {e["hf_subset"]: e for e in tr.scores["test"]}
    assert set(entries) == set(SUBSETS)
    for entry in entries.values():
        assert entry["main_score"] == entry["map"]

    # Encode once: every distinct text exactly once (en + de queries, the whole 11-language pool).
    assert len(encoder.texts) == len(set(encoder.texts))
    corpus = load_lareqa("xquad-r", data_dir=data_env)
    n_queries = len({q.text for lang in ("en", "de") for q in corpus.languages[lang].questions})
    n_pool = len({c.text for lang in corpus.languages.values() for c in lang.candidates})
    assert len(encoder.texts) == n_queries + n_pool

    # Same numbers as the evaluator driven directly with the same encoder.
    enc = HashNgramEncoder()
    store = EmbeddingStore(lambda t, _k, _lang: enc.encode(t), normalize=True, model_name="x/y")
    evaluator = LareqaEvaluator(corpus)
    direct = evaluator.score(store, [Subset.parse(s, evaluator.languages) for s in SUBSETS])
    for name in SUBSETS:
        assert entries[name]["map"] == pytest.approx(direct[name]["map"], abs=1e-6)
        assert entries[name]["ndcg_at_10"] == pytest.approx(direct[name]["ndcg_at_10"], abs=1e-6)
    assert entries["en-multi"]["rank_distance"] == pytest.approx(
        direct["en-multi"]["rank_distance"], abs=1e-4
    )

    # The file is where mteb puts results and loads back through ResultCache.
    files = list(tmp_path.rglob("XQuADR.json"))
    assert len(files) == 1 and files[0].parts[-4] == "results"
    loaded = mteb.ResultCache(tmp_path).load_results(tasks=["XQuADR"], require_model_meta=False)
    [model_result] = list(loaded)
    [loaded_tr] = model_result.task_results
    assert setting_scores(loaded_tr)["mono"] == pytest.approx(
        np.mean([entries["en-en"]["map"], entries["de-de"]["map"]]), abs=1e-6
    )


def test_bad_encoder_fails_before_any_result_is_written(data_env, tmp_path):
    task = XQuADR().filter_languages(None, hf_subsets=["en-en", "en-de"])
    with pytest.raises(EncoderOutputError, match="inf"):
        mteb.evaluate(
            to_mteb_model(NaNEncoder()),
            task,
            cache=mteb.ResultCache(tmp_path),
            co2_tracker=False,
            show_progress_bar=False,
        )
    assert not list(tmp_path.rglob("*.json"))


def test_stock_mteb_path_agrees_on_top_of_the_ranking(data_env):
    """mteb's own per-subset retrieval gives the same top-10 metrics (en/de have no duplicate sentences)."""
    subsets = ["en-en", "de-en"]
    ours = XQuADR().filter_languages(None, hf_subsets=subsets)
    stock = StockXQuADR().filter_languages(None, hf_subsets=subsets)
    model = to_mteb_model(HashNgramEncoder())
    kw = {"cache": None, "co2_tracker": False, "show_progress_bar": False}
    a = {e["hf_subset"]: e for e in mteb.evaluate(model, ours, **kw).task_results[0].scores["test"]}
    b = {e["hf_subset"]: e for e in mteb.evaluate(model, stock, **kw).task_results[0].scores["test"]}
    for name in subsets:
        for key in ("ndcg_at_10", "recall_at_1", "recall_at_10", "mrr_at_10"):
            assert a[name][key] == pytest.approx(b[name][key], abs=1e-5), (name, key)
        # mteb keeps the top 1000 per query; its uncut MAP over that run can only be <= the full-list one.
        assert b[name]["map"] <= a[name]["map"] + 1e-6


def test_sentence_plus_context_is_a_distinct_revision(data_env):
    task = XQuADR(candidate_mode="sentence+context-xtreme").filter_languages(None, hf_subsets=["en-en"])
    assert task.metadata.revision == XQuADR.metadata.revision + "+sentence+context-xtreme"
    assert XQuADR().metadata.revision == XQuADR.metadata.revision  # the class is untouched
    kw = {"cache": None, "co2_tracker": False, "show_progress_bar": False}
    with_ctx = mteb.evaluate(to_mteb_model(HashNgramEncoder()), task, **kw).task_results[0]
    plain = mteb.evaluate(
        to_mteb_model(HashNgramEncoder()), XQuADR().filter_languages(None, hf_subsets=["en-en"]), **kw
    ).task_results[0]
    assert with_ctx.dataset_revision.endswith("+sentence+context-xtreme")
    # mteb unloads the data after a run (dropping instance metadata); a re-run keeps the tag.
    again = mteb.evaluate(to_mteb_model(HashNgramEncoder()), task, **kw).task_results[0]
    assert again.dataset_revision == with_ctx.dataset_revision
    assert again.scores["test"][0]["map"] == with_ctx.scores["test"][0]["map"]
    assert with_ctx.scores["test"][0]["map"] != plain.scores["test"][0]["map"]
    with pytest.raises(ValueError, match="candidate_mode"):
        XQuADR(candidate_mode="paragraph")


def test_a_second_task_reuses_the_embeddings_of_the_first(data_env):
    """Across tasks in one process (e.g. an adversarial variant after the clean task): nothing re-encoded."""
    encoder = CountingHashEncoder()
    model = to_mteb_model(encoder)
    kw = {"cache": None, "co2_tracker": False, "show_progress_bar": False}
    mteb.evaluate(model, XQuADR().filter_languages(None, hf_subsets=["de-multi"]), **kw)
    first = len(encoder.texts)
    mteb.evaluate(model, XQuADR().filter_languages(None, hf_subsets=["de-en", "de-de", "en-multi"]), **kw)
    corpus = load_lareqa("xquad-r", data_dir=data_env)
    new_queries = {q.text for q in corpus.languages["en"].questions} - {
        q.text for q in corpus.languages["de"].questions
    }
    assert len(encoder.texts) - first == len(new_queries)  # only the en queries were new


def test_languages_option_reduces_the_task_and_tags_the_revision(data_env):
    task = XQuADR(languages=["en", "de"])
    assert sorted(task.hf_subsets) == sorted(["de-de", "de-en", "en-de", "en-en", "de-multi", "en-multi"])
    assert task.metadata.revision.endswith("+langs-de-en")
    scores = task.evaluate(to_mteb_model(HashNgramEncoder()), "test")
    assert scores["en-multi"]["num_candidates"] == 1276 + 1180  # the pool of de and en only
    with pytest.raises(ValueError, match="languages: XQuADR has no language xx"):
        XQuADR(languages=["en", "xx"])


def test_a_split_the_data_does_not_have_is_refused_not_relabelled(shared_data):
    """After filter_eval_splits(["validation"]) mteb asks for "validation"; the files hold only "test"."""
    from hbt_bench.plugin.tasks import UnsupportedSplitError

    task = XQuADR(languages=["en", "de"])
    task.filter_eval_splits(["validation"])
    counting = CountingHashEncoder()
    with pytest.raises(
        UnsupportedSplitError, match="only the 'test' split; cannot evaluate split 'validation'"
    ):
        task.evaluate(to_mteb_model(counting), split="validation")
    assert counting.texts == []  # refused before anything was encoded
