"""mteb's own task features on our tasks: descriptive statistics, task documentation, task filtering and
``encode_kwargs``. Expected values come from the raw LAReQA JSON counted here, from mteb's own statistics
code run on the stock per-subset datasets, from hand counts of subsets, or from the perturbation manifests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mteb
import numpy as np
import pytest

from hbt_bench.errors import HbtBenchError
from hbt_bench.plugin.adversarial_tasks import MLQARAdv, XQuADRAdv
from hbt_bench.plugin.models import TextEncoderAdapter
from hbt_bench.plugin.tasks import MLQAR, XQuADR
from tests.plugin.stock_tasks import StockXQuADR

OURS = ("XQuADR", "MLQAR", "XQuADR-Adv", "MLQAR-Adv", "XNLI-Adv")
LAREQA = ("XQuADR", "MLQAR", "XQuADR-Adv", "MLQAR-Adv")
XQUADR_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
XQUADR_CANDIDATES = {  # candidate sentences per language (paper Table 10; `hbt-bench data stats xquad-r`)
    "ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244,
    "ru": 1219, "th": 852, "tr": 1167, "vi": 1209, "zh": 1196,
}  # fmt: skip


# --- raw-JSON counts, independent of hbt_bench.data -------------------------------------------------


def _raw(data_dir: Path, dataset: str, lang: str) -> dict[str, Any]:
    """Questions (id -> text) and sentences of one LAReQA file, read with json alone."""
    doc = json.loads((data_dir / dataset / f"{lang}.json").read_bytes())
    questions: dict[str, str] = {}
    sentences: list[str] = []
    for article in doc["data"]:
        for para in article["paragraphs"]:
            sentences.extend(para["sentences"])
            for qa in para["qas"]:
                questions[qa["id"]] = qa["question"]
    return {"questions": questions, "sentences": sentences}


def _text_stats(texts: list[str]) -> dict[str, Any]:
    lengths = [len(t) for t in texts]
    return {
        "total_text_length": sum(lengths),
        "min_text_length": min(lengths),
        "average_text_length": sum(lengths) / len(lengths),
        "max_text_length": max(lengths),
        "unique_texts": len(set(texts)),
    }


@pytest.fixture
def data_env(shared_data, monkeypatch):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_data))
    return shared_data


@pytest.fixture
def stats_dir(tmp_path, monkeypatch) -> Path:
    """Statistics are read and written under tmp_path, not the shipped tasks/descriptive_stats."""
    monkeypatch.setattr("hbt_bench.plugin.tasks._tasks_dir", lambda: tmp_path)
    return tmp_path / "descriptive_stats" / "Retrieval"


# --- 1. descriptive statistics -----------------------------------------------------------------------


def test_xquadr_statistics_count_what_the_json_files_hold(data_env, stats_dir):
    raw = {lang: _raw(data_env, "xquad-r", lang) for lang in XQUADR_LANGS}
    en, de = raw["en"], raw["de"]
    assert len(en["questions"]) == 1190  # the XQuAD-R README's count
    pool = [s for lang in XQUADR_LANGS for s in raw[lang]["sentences"]]
    assert len(pool) == 13014

    stats = XQuADR().calculate_descriptive_statistics(overwrite_results=True)
    assert list(stats) == ["test"]
    split = stats["test"]
    subsets = split["hf_subset_descriptive_stats"]
    assert len(subsets) == 132

    en_en = subsets["en-en"]
    assert en_en["num_queries"] == 1190
    assert en_en["num_documents"] == len(en["sentences"]) == 1180
    assert en_en["queries_text_statistics"] == _text_stats(list(en["questions"].values()))
    assert en_en["documents_text_statistics"] == _text_stats(en["sentences"])
    rel = en_en["relevant_docs_statistics"]
    assert (rel["min_relevant_docs_per_query"], rel["max_relevant_docs_per_query"]) == (1, 1)
    assert rel["num_relevant_docs"] == 1190 and rel["num_missing_corpus_ids"] == 0

    en_de = subsets["en-de"]
    assert en_de["num_queries"] == len(set(en["questions"]) & set(de["questions"])) == 1190
    assert en_de["documents_text_statistics"] == _text_stats(de["sentences"])

    multi = subsets["en-multi"]
    assert multi["num_documents"] == 13014
    assert multi["documents_text_statistics"] == _text_stats(pool)
    rel = multi["relevant_docs_statistics"]
    assert (rel["min_relevant_docs_per_query"], rel["max_relevant_docs_per_query"]) == (11, 11)
    assert multi["num_samples"] == 13014 + 1190

    # the whole task as mteb counts it: subsets concatenated, a pooled sentence once per subset
    sizes = {lang: len(raw[lang]["sentences"]) for lang in XQUADR_LANGS}
    assert split["num_queries"] == 132 * 1190
    assert split["num_documents"] == 11 * sum(sizes.values()) + 11 * 13014
    assert split["documents_text_statistics"]["unique_texts"] == len(set(pool))

    # written where metadata looks (ours, not mteb's package), and read back by mteb's metadata API
    path = stats_dir / "XQuADR.json"
    assert XQuADR.metadata.descriptive_stat_path == path
    assert json.loads(path.read_text(encoding="utf-8")) == stats
    assert XQuADR.metadata.n_samples == {"test": split["num_samples"]}
    assert XQuADR().calculate_descriptive_statistics() == stats  # from the file: no data needed
    shipped = Path(__file__).resolve().parents[2] / "tasks/descriptive_stats/Retrieval/XQuADR.json"
    assert json.loads(shipped.read_text(encoding="utf-8")) == stats  # the shipped file is up to date


def test_mlqar_statistics_of_a_language_subset_follow_the_json_and_are_not_cached(data_env, stats_dir):
    langs = ("de", "en", "zh")
    raw = {lang: _raw(data_env, "mlqa-r", lang) for lang in langs}
    task = MLQAR(languages=list(langs))
    subsets = task.calculate_descriptive_statistics()["test"]["hf_subset_descriptive_stats"]
    assert set(subsets) == {f"{q}-{c}" for q in langs for c in (*langs, "multi")}

    en_q = raw["en"]["questions"]
    assert subsets["en-en"]["num_queries"] == len(en_q)
    # MLQA-R is not fully parallel: a cross-lingual subset keeps the questions answered in both files
    assert subsets["en-de"]["num_queries"] == len(set(en_q) & set(raw["de"]["questions"]))
    assert subsets["en-de"]["num_queries"] < len(en_q)
    rel = subsets["en-multi"]["relevant_docs_statistics"]
    per_query = [sum(qid in raw[lang]["questions"] for lang in langs) for qid in en_q]
    assert rel["num_relevant_docs"] == sum(per_query)
    assert rel["average_relevant_docs_per_query"] == pytest.approx(sum(per_query) / len(per_query))
    assert subsets["en-multi"]["num_documents"] == sum(len(raw[lang]["sentences"]) for lang in langs)
    # a reduced task is not the declared one: nothing is written over the declared task's statistics
    assert not stats_dir.exists()


def test_statistics_equal_mteb_own_on_the_stock_datasets(data_env, stats_dir):
    """Reference: mteb's own ``_calculate_descriptive_statistics_from_split`` over ``to_mteb_dataset``."""
    ours = XQuADR(languages=["en", "de"]).calculate_descriptive_statistics()["test"]
    stock = StockXQuADR(languages=["en", "de"])
    stock.load_data()
    # mteb's whole-task count walks metadata.eval_langs: restrict it to the loaded subsets
    langs = stock.metadata.eval_langs
    stock.metadata = stock.metadata.model_copy(update={"eval_langs": {k: langs[k] for k in stock.hf_subsets}})
    for name in stock.hf_subsets:
        expected = stock._calculate_descriptive_statistics_from_split("test", hf_subset=name)
        assert ours["hf_subset_descriptive_stats"][name] == expected, name
    expected = stock._calculate_descriptive_statistics_from_split("test", compute_overall=True)
    assert {k: v for k, v in ours.items() if k != "hf_subset_descriptive_stats"} == expected


def test_adversarial_statistics_count_one_query_per_recipe_and_question(data_env, stats_dir):
    clean = XQuADR(languages=["en", "de"]).calculate_descriptive_statistics()["test"]
    adv = XQuADRAdv(languages=["en", "de"]).calculate_descriptive_statistics()["test"]
    manifest = json.loads(Path("tasks/perturbations/xquad-r/v1/manifest.json").read_text(encoding="utf-8"))
    for name in ("en-en", "en-de", "de-multi"):
        c, a = clean["hf_subset_descriptive_stats"][name], adv["hf_subset_descriptive_stats"][name]
        n_recipes = sum(name.split("-")[0] in r["languages"] for r in manifest["recipes"])
        assert a["num_queries"] == n_recipes * c["num_queries"], name
        assert a["documents_text_statistics"] == c["documents_text_statistics"]  # candidates stay clean
        for key in ("min_relevant_docs_per_query", "average_relevant_docs_per_query"):
            assert a["relevant_docs_statistics"][key] == c["relevant_docs_statistics"][key]
        assert a["queries_text_statistics"] != c["queries_text_statistics"]  # perturbed texts
    assert not stats_dir.exists()


@pytest.mark.parametrize("name", LAREQA)
def test_shipped_statistics_are_readable_without_data(name):
    """``tasks/descriptive_stats`` ships the declared tasks' statistics, so mteb's metadata API reads them."""
    md = mteb.get_task(name).metadata
    stats = md.descriptive_stats
    assert stats is not None, f"{md.descriptive_stat_path} missing"
    n_subsets = len(md.hf_subsets)
    assert len(stats["test"]["hf_subset_descriptive_stats"]) == n_subsets
    assert md.n_samples == {"test": stats["test"]["num_samples"]}


def test_statistics_errors_name_the_split_and_subset(data_env, stats_dir):
    task = XQuADR(languages=["en", "de"])
    with pytest.raises(HbtBenchError, match=r"XQuADR: no split 'validation'.*test"):
        task._calculate_descriptive_statistics_from_split("validation", hf_subset="en-en")
    with pytest.raises(HbtBenchError, match=r"no subset 'th-th'.*de, en"):
        task._calculate_descriptive_statistics_from_split("test", hf_subset="th-th")


# --- 2. task documentation ----------------------------------------------------------------------------


def test_mteb_task_tables_and_dataset_cards_cover_our_tasks():
    tasks = mteb.get_tasks(tasks=list(OURS))
    assert [t.metadata.name for t in tasks] == list(OURS)
    md_table = tasks.to_markdown()
    for name in OURS:
        assert f"| {name} | {name} |" in md_table
    df = tasks.to_dataframe(properties=["name", "type", "category", "license", "main_score", "eval_splits"])
    assert df.set_index("name").loc["XQuADR", "main_score"] == "map"
    assert df.set_index("name").loc["XNLI-Adv", "type"] == "PairClassification"
    # mteb 2.26.24's defaults fail for every task (a bound method joined to a str; a tuple given to
    # pandas' set_index): with a list and no citations the table builds.
    latex = tasks.to_latex(group_indices=["type", "name"], include_citation_in_name=False)
    assert "XQuADR-Adv" in latex
    for task in tasks:
        task.metadata._validate_metadata()
        if task.metadata.name in LAREQA:
            assert task.metadata.is_filled()
            card = str(task.metadata.generate_dataset_card())
            assert task.metadata.name in card and "cc-by" in card
            assert '"num_samples"' in card  # the shipped statistics reach the card


# --- 3. filtering -------------------------------------------------------------------------------------


def _names(tasks) -> set[str]:
    return {t.metadata.name for t in tasks} & set(OURS)


def test_get_tasks_filters_by_language_type_modality_and_category():
    assert _names(mteb.get_tasks(languages=["tha"])) == {"XQuADR", "XQuADR-Adv", "XNLI-Adv"}
    assert _names(mteb.get_tasks(task_types=["Retrieval"])) == set(LAREQA)
    assert _names(mteb.get_tasks(task_types=["PairClassification"])) == {"XNLI-Adv"}
    assert _names(mteb.get_tasks(task_types=["Classification"])) == set()
    assert _names(mteb.get_tasks(modalities=["text"])) == set(OURS)
    assert _names(mteb.get_tasks(modalities=["image"])) == set()
    assert _names(mteb.get_tasks(categories=["t2t"], task_types=["Retrieval"])) == set(LAREQA)


def test_get_tasks_with_names_and_languages_reduces_our_tasks_to_those_languages():
    tasks = {t.metadata.name: t for t in mteb.get_tasks(tasks=list(OURS), languages=["tha"])}
    assert set(tasks) == {"XQuADR", "XQuADR-Adv", "XNLI-Adv"}  # MLQA-R has no Thai: skipped, with a warning
    # the LAReQA task over Thai alone: its mono subset and its (Thai-only) pool
    assert tasks["XQuADR"].hf_subsets == ["th-th", "th-multi"]
    assert tasks["XQuADR-Adv"].hf_subsets == ["th-th", "th-multi"]
    assert tasks["XQuADR"].metadata.dataset["revision"].endswith("+langs-th")
    split = mteb.get_tasks(tasks=["XQuADR"], eval_splits=["test"])[0]
    assert list(split.eval_splits) == ["test"]


def test_get_task_language_and_subset_filters_on_lareqa_subsets():
    task = mteb.get_task("XQuADR", languages=["eng", "deu"])
    # issue 14: mteb's rule kept 40 pairs + all 11 pooled subsets (every query language encoded); now the
    # task over {de, en}: 2 mono, 2 cross, 2 pooled, in the task's subset order
    assert task.hf_subsets == ["de-de", "de-en", "en-de", "en-en", "de-multi", "en-multi"]
    assert task.corpus_languages == ("de", "en")
    assert task.metadata.dataset["revision"] == XQuADR().metadata.dataset["revision"] + "+langs-de-en"
    exclusive = mteb.get_task("XQuADR", languages=["eng", "deu"], exclusive_language_filter=True)
    assert exclusive.hf_subsets == task.hf_subsets  # every subset of the reduced task holds only de/en
    both = mteb.get_task("XQuADR", languages=["eng", "deu"], hf_subsets=["en-en", "en-multi", "th-th"])
    assert both.hf_subsets == ["en-en", "en-multi"]
    picked = mteb.get_task("XQuADR", hf_subsets=["en-en", "en-multi"])  # no language filter: the full task
    assert picked.hf_subsets == ["en-en", "en-multi"] and len(picked.corpus_languages) == 11
    assert mteb.get_task("XQuADR", languages=["eng-Latn"]).hf_subsets == ["en-en", "en-multi"]
    with pytest.raises(ValueError, match="No subsets"):  # English is not written in Cyrillic here
        XQuADR().filter_languages(["eng"], script=["Cyrl"])
    assert XQuADR().filter_languages(None, script=["Cyrl"]).hf_subsets == ["ru-ru", "ru-multi"]
    with pytest.raises(ValueError, match="No subsets"):
        mteb.get_task("MLQAR", languages=["tha"])
    with pytest.raises(ValueError, match=r"language code \['fra'\].*it has arb-Arab"):
        XQuADR().filter_languages(["fra"])


def test_a_language_filter_shrinks_the_pool_and_keeps_the_other_scores(data_env):
    """The reduced task's pool holds only the chosen languages; its mono and cross subsets score exactly as
    in the full task (they never involve another language)."""
    model = TextEncoderAdapter(LengthEncoder())
    reduced = mteb.get_task("XQuADR", languages=["eng", "deu"], hf_subsets=["en-en", "de-en", "en-multi"])
    full = mteb.get_task("XQuADR", hf_subsets=["en-en", "de-en", "en-multi"])
    entries = []
    for task in (reduced, full):
        result = mteb.evaluate(model, task, cache=None, co2_tracker=False, show_progress_bar=False)
        entries.append({e["hf_subset"]: e for e in result.task_results[0].scores["test"]})
    assert set(entries[0]) == {"en-en", "de-en", "en-multi"}
    assert entries[0]["en-multi"]["num_candidates"] == XQUADR_CANDIDATES["en"] + XQUADR_CANDIDATES["de"]
    assert entries[1]["en-multi"]["num_candidates"] == sum(XQUADR_CANDIDATES.values())
    for name in ("en-en", "de-en"):
        assert entries[0][name]["map"] == entries[1][name]["map"]
    assert entries[0]["en-en"]["num_candidates"] == XQUADR_CANDIDATES["en"]


# --- 4. encode_kwargs ---------------------------------------------------------------------------------


class LengthEncoder:
    """A cheap deterministic encoder (length and a character sum): these tests count texts, not rank them."""

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(t) + 1.0, sum(map(ord, t)) % 997 + 1.0] for t in texts], dtype=np.float32)


class RecordingEncoder(TextEncoderAdapter):
    """Records, per encode call, the loader's batch size, the ``batch_size`` kwarg and the largest batch."""

    def __init__(self) -> None:
        super().__init__(LengthEncoder())
        self.calls: list[tuple[int | None, Any, int]] = []

    def encode(self, inputs, **kwargs):
        sizes: list[int] = []

        def batches():
            for batch in inputs:
                sizes.append(len(batch["text"]))
                yield batch

        out = super().encode(batches(), **kwargs)
        self.calls.append((inputs.batch_size, kwargs.get("batch_size"), max(sizes)))
        return out


def _evaluate(model, task, batch_size: int) -> None:
    mteb.evaluate(
        model,
        task,
        encode_kwargs={"batch_size": batch_size},
        cache=None,
        co2_tracker=False,
        show_progress_bar=False,
    )


def test_encode_kwargs_reach_the_encoder_on_clean_and_adversarial_tasks(data_env):
    model = RecordingEncoder()
    _evaluate(model, XQuADR(languages=["en"]), 7)
    assert model.calls and set(model.calls) == {(7, 7, 7)}

    adv_model = RecordingEncoder()
    _evaluate(adv_model, MLQARAdv(languages=["en"]), 7)
    assert adv_model.calls and set(adv_model.calls) == {(7, 7, 7)}


def test_a_later_run_encodes_its_new_texts_with_its_own_encode_kwargs(data_env):
    """The model's embedding store outlives a run; the texts a later run adds use that run's kwargs."""
    model = RecordingEncoder()
    _evaluate(model, XQuADR(languages=["en"]), 7)
    model.calls.clear()
    _evaluate(model, XQuADRAdv(languages=["en"]), 5)  # candidates are cached; perturbed queries are new
    assert model.calls and set(model.calls) == {(5, 5, 5)}
