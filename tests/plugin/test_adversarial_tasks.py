"""XQuADR-Adv / MLQAR-Adv: metadata, registration, scoring from a perturbation set, external recipes."""

from __future__ import annotations

import json

import mteb
import numpy as np
import pytest

from hbt_bench.adversarial import perturbation_sets as ps
from hbt_bench.adversarial.build import build_set, write_set
from hbt_bench.data.lareqa import load_lareqa
from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.evaluate import EmbeddingStore, LareqaEvaluator, Subset
from hbt_bench.plugin.adversarial_tasks import MLQARAdv, XQuADRAdv
from hbt_bench.plugin.benchmark import robustness, setting_scores
from hbt_bench.plugin.models import to_mteb_model
from hbt_bench.plugin.tasks import XQuADR
from tests.adversarial.test_perturbation_sets import RECIPES, fake_perturb

SUBSETS = ["en-en", "en-de", "de-en", "en-multi", "de-multi"]


class CountingHashEncoder:
    def __init__(self) -> None:
        self.inner = HashNgramEncoder()
        self.n = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.n += len(texts)
        return self.inner.encode(texts)


@pytest.mark.parametrize(("cls", "n_subsets", "base"), [(XQuADRAdv, 132, "XQuADR"), (MLQARAdv, 56, "MLQAR")])
def test_metadata_is_valid_and_inherits_the_clean_task(cls, n_subsets, base):
    md = cls.metadata
    md._validate_metadata()
    assert md.name == f"{base}-Adv" and len(md.hf_subsets) == n_subsets
    assert md.revision.endswith("+adv-v2") and md.adapted_from == [base]
    assert md.eval_langs == mteb.get_task(base).metadata.eval_langs
    assert mteb.get_task(md.name).metadata.name == md.name  # registered with mteb
    assert "HBT-Adv" in mteb.get_benchmarks(names=["HBT-Adv"])[0].name


@pytest.fixture
def fake_v1(shared_data, tmp_path, monkeypatch):
    """A default-version (v2) set of the fake recipes for xquad-r, served instead of the shipped one."""
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_data))
    corpus = load_lareqa("xquad-r", data_dir=shared_data)
    write_set(build_set("xquad-r", "v2", RECIPES, corpus=corpus, perturb=fake_perturb), tmp_path)
    monkeypatch.setattr(ps, "perturbations_dir", lambda: tmp_path)
    return corpus


def _independent_map(corpus, texts_by_lang, subset_name):
    """The subset's mAP recomputed from scratch with the evaluator and a fresh store."""
    ev = LareqaEvaluator(corpus)
    subset = Subset.parse(subset_name, ev.languages)
    store = EmbeddingStore(lambda t, k, lang: HashNgramEncoder().encode(t), normalize=True, model_name="h")
    prepared = ev.prepare(store, [subset])
    prepared.queries = ev.prepare_queries(store, texts_by_lang)
    return ev.score_subset(prepared, subset)


def test_adversarial_scores_match_an_independent_computation(fake_v1, tmp_path):
    corpus = fake_v1
    encoder = CountingHashEncoder()
    model = to_mteb_model(encoder)
    clean = mteb.evaluate(
        model,
        XQuADR().filter_languages(None, hf_subsets=SUBSETS),
        cache=None,
        co2_tracker=False,
        show_progress_bar=False,
    )
    after_clean = encoder.n
    result = mteb.evaluate(
        model,
        XQuADRAdv().filter_languages(None, hf_subsets=SUBSETS),
        cache=mteb.ResultCache(tmp_path / "res"),
        co2_tracker=False,
        show_progress_bar=False,
    )
    # Only the changed questions were encoded again (identity/unchanged texts and candidates are cached).
    first_word = {q.text.split()[0] for lang in ("en", "de") for q in corpus.languages[lang].questions}
    upper = {q.text.upper() for q in corpus.languages["en"].questions} - {
        q.text for q in corpus.languages["en"].questions
    }
    assert encoder.n - after_clean == len(first_word | upper)

    tr = result.task_results[0]
    entries = {e["hf_subset"]: e for e in tr.scores["test"]}
    clean_entries = {e["hf_subset"]: e for e in clean.task_results[0].scores["test"]}
    for name in SUBSETS:
        e = entries[name]
        qlang = name.split("-")[0]
        first = {lang: [q.text.split()[0] for q in corpus.languages[lang].questions] for lang in ("en", "de")}
        expected_first = _independent_map(corpus, {qlang: first[qlang]}, name)["map"]
        assert e["map_first-word@all"] == pytest.approx(expected_first, abs=1e-9)
        assert e["map_identity@all"] == pytest.approx(clean_entries[name]["map"], abs=1e-12)
        assert e["clean_map"] == pytest.approx(clean_entries[name]["map"], abs=1e-12)
        assert e["main_score"] == e["map"] == pytest.approx((expected_first + e["clean_map"]) / 2)
        assert e["relative_robustness"] == pytest.approx(e["map"] / e["clean_map"])
        assert e["perturbed_fraction_identity@all"] == 0.0
        assert ("map_upper@all" in e) == (qlang == "en")  # a non-core recipe, only where it applies
        assert ("rank_distance_first-word@all" in e) == name.endswith("multi")
    assert entries["en-en"]["map"] < entries["en-en"]["clean_map"]

    loaded = mteb.ResultCache(tmp_path / "res").load_results(tasks=["XQuADR-Adv"])
    tr2 = loaded.model_results[0].task_results[0]
    assert setting_scores(tr2)["mono"] == pytest.approx(entries["en-en"]["map"])
    assert robustness(tr2) == pytest.approx(np.mean([entries[n]["relative_robustness"] for n in SUBSETS]))


def test_external_recipe_is_scored_per_recipe_and_tags_the_revision(fake_v1, tmp_path):
    corpus = fake_v1
    path = tmp_path / "para.jsonl"
    rows = [{"recipe": {"id": "llm-para", "provenance": {"generator": "test"}}}]
    rows += [{"qid": q.qid, "lang": "de", "text": f"{q.text} ?"} for q in corpus.languages["de"].questions]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    task = XQuADRAdv(external_recipes=[path]).filter_languages(None, hf_subsets=["de-de", "en-en"])
    assert "+ext-" in task.metadata.revision and task.metadata.revision.startswith(
        XQuADRAdv.metadata.revision
    )
    scores = task.evaluate(to_mteb_model(HashNgramEncoder()), "test")
    assert "map_llm-para" in scores["de-de"] and "map_llm-para" not in scores["en-en"]
    assert scores["de-de"]["perturbed_fraction_llm-para"] == 1.0
    assert scores["de-de"]["n_core_recipes"] == 2  # the external recipe never enters the main score


def test_two_external_recipes_with_one_id_are_refused_naming_the_file(fake_v1, tmp_path):
    from hbt_bench.adversarial.perturbation_sets import PerturbationSetError

    corpus = fake_v1
    rows = [{"recipe": {"id": "llm-para"}}]
    rows += [{"qid": q.qid, "lang": "de", "text": f"{q.text} ?"} for q in corpus.languages["de"].questions]
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path in paths:
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    task = XQuADRAdv(external_recipes=paths)
    with pytest.raises(PerturbationSetError, match=r"b\.jsonl") as info:
        task.load_data()
    assert "llm-para" in str(info.value)
    with pytest.raises(PerturbationSetError, match="cannot read"):
        XQuADRAdv(external_recipes=[tmp_path / "missing.jsonl"])


def test_mteb_run_t_xquadr_adv_in_a_fresh_process(mteb_cli):
    # The shared run (tests/plugin/conftest.py) serves a two-recipe set through HBT_BENCH_PERTURBATIONS_DIR.
    # `-l tha deu` is mteb's language filter: the task over Thai and German, pooled corpus included.
    run = mteb_cli.adv_run
    assert run.returncode == 0, run.stderr[-3000:]
    [path] = list(mteb_cli.adv_out.rglob("XQuADR-Adv.json"))
    stored = json.loads(path.read_text())
    assert stored["dataset_revision"].endswith("+langs-de-th")
    entries = {e["hf_subset"]: e for e in stored["scores"]["test"]}
    assert set(entries) == {"de-de", "de-th", "th-de", "th-th", "de-multi", "th-multi"}
    assert entries["th-multi"]["num_candidates"] == 852 + 1276  # Thai and German sentences (paper Table 10)
    th = entries["th-th"]
    assert th["main_score"] == pytest.approx(
        (th["map_first-word@all"] + th["map_identity@all"]) / 2, abs=2e-6
    )
    assert th["map_identity@all"] == th["clean_map"]
    # a monolingual subset does not depend on the other languages: the full XQuADR run's th-th, same model
    [full] = list(mteb_cli.hash_out.rglob("XQuADR.json"))
    full_th = {e["hf_subset"]: e for e in json.loads(full.read_text())["scores"]["test"]}["th-th"]
    assert th["clean_map"] == full_th["map"]
