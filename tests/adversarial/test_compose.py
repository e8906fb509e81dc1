"""Chaining recipes into an external recipe file (``hbt-bench attack compose``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from types import SimpleNamespace

import pytest

from hbt_bench.adversarial.compose import compose_languages, compose_recipe, write_external_recipe
from hbt_bench.adversarial.perturbation_sets import (
    PerturbationSetError,
    load_external_recipe,
    load_perturbation_set,
)
from hbt_bench.cli import main
from hbt_bench.data.lareqa import Candidate, LareqaCorpus, LareqaLanguage, Question, load_lareqa
from hbt_bench.errors import HbtBenchError


def _recipe(rid: str, languages: tuple[str, ...] | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        id=rid,
        description=f"{rid} does things",
        applies_to=lambda lang: languages is None or lang in languages,
    )


def _tag_perturb(recipe, lang, items, *, seed, jobs):
    """A fake recipe: appends its id (and blanks question q2 for the recipe 'blank')."""
    return [
        SimpleNamespace(text="" if recipe.id == "blank" and qid == "q2" else f"{text} <{recipe.id}:{seed}>")
        for qid, text in items
    ]


def _corpus() -> LareqaCorpus:
    def lang(code: str) -> LareqaLanguage:
        questions = tuple(Question(q, code, f"{code} question {q}", f"{code}-c1") for q in ("q1", "q2"))
        candidates = (Candidate(f"{code}-c1", code, "s", "c"),)
        return LareqaLanguage(lang=code, source=f"{code}.json", questions=questions, candidates=candidates)

    return LareqaCorpus(name="toy", languages={"en": lang("en"), "de": lang("de")})


def test_recipes_apply_in_order_each_to_the_previous_output():
    composed = compose_recipe(
        [_recipe("a"), _recipe("b")], _corpus(), recipe_id="chain", seed=7, perturb=_tag_perturb
    )
    texts = {(r["lang"], r["qid"]): r["text"] for r in composed.records}
    assert texts == {
        ("en", "q1"): "en question q1 <a:7> <b:7>",
        ("en", "q2"): "en question q2 <a:7> <b:7>",
        ("de", "q1"): "de question q1 <a:7> <b:7>",
        ("de", "q2"): "de question q2 <a:7> <b:7>",
    }
    assert composed.header["id"] == "chain"
    assert composed.header["provenance"]["recipes"] == ["a", "b"]
    assert composed.counts() == {"en": {"perturbed": 2}, "de": {"perturbed": 2}}


def test_default_languages_are_those_every_recipe_applies_to():
    corpus = _corpus()
    assert compose_languages([_recipe("a"), _recipe("b", ("de",))], corpus, None) == ["de"]
    with pytest.raises(PerturbationSetError, match="no language of toy takes all of them"):
        compose_languages([_recipe("a", ("en",)), _recipe("b", ("de",))], corpus, None)
    with pytest.raises(PerturbationSetError, match="recipe b does not apply to 'en'"):
        compose_languages([_recipe("a"), _recipe("b", ("de",))], corpus, ["en"])
    with pytest.raises(PerturbationSetError, match="'fr' is not in toy"):
        compose_languages([_recipe("a")], corpus, ["fr"])


@pytest.mark.parametrize("bad_id", ["", ".", "..", "/abs", "a/b", "en-synonym@10pct"])
def test_an_id_that_is_not_a_plain_name_without_at_is_refused(bad_id):
    with pytest.raises(HbtBenchError, match="--id"):
        compose_recipe([_recipe("a")], _corpus(), recipe_id=bad_id, perturb=_tag_perturb)


def test_written_file_loads_as_an_external_recipe_and_is_never_overwritten(tmp_path):
    corpus = _corpus()
    composed = compose_recipe(
        [_recipe("a"), _recipe("blank")], corpus, recipe_id="chain", languages=["en"], perturb=_tag_perturb
    )
    path = write_external_recipe(tmp_path / "sub" / "chain.jsonl", composed)
    loaded = load_external_recipe(path, corpus)
    assert loaded.recipe_id == "chain"
    assert loaded.texts == {"en": ("en question q1 <a:0> <blank:0>", "")}
    assert loaded.statuses == {"en": ("perturbed", "empty")}
    assert loaded.info["provenance"]["languages"] == ["en"]
    before = path.read_bytes()
    with pytest.raises(PerturbationSetError, match="exists: not overwriting"):
        write_external_recipe(path, composed)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["chain.jsonl"]
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(PerturbationSetError, match=r"cannot write .*file/chain\.jsonl"):
        write_external_recipe(tmp_path / "file" / "chain.jsonl", composed)  # parent is a file


def test_one_recipe_composed_reproduces_the_frozen_set(textattack, shared_data):
    """The shipped v2 set's en-synonym texts (decoded from its edit scripts) are what compose makes."""
    full = load_lareqa("xquad-r", languages=["en"], data_dir=shared_data)
    frozen = load_perturbation_set("xquad-r", "v2", full).recipes["en-synonym@10pct"].texts["en"]
    en = full.languages["en"]
    small = dataclasses.replace(full, languages={"en": dataclasses.replace(en, questions=en.questions[:12])})
    from hbt_bench.adversarial.recipes import get_recipe

    composed = compose_recipe([get_recipe("en-synonym@10pct")], small, recipe_id="syn")
    assert [r["text"] for r in composed.records] == list(frozen[:12])


def test_cli_writes_the_file_and_refuses_bad_arguments(
    textattack, shared_data, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_data))
    out = tmp_path / "p.jsonl"
    base = ["attack", "compose", "--data-dir", str(shared_data), "--id", "p"]
    assert main([*base, "--recipes", "nope@1", "--out", str(out)]) != 0
    assert "unknown recipe 'nope@1'" in capsys.readouterr().err
    assert main([*base, "--recipes", "en-synonym@10pct", "--languages", "de", "--out", str(out)]) != 0
    assert "en-synonym@10pct does not apply to 'de'" in capsys.readouterr().err
    assert not out.exists()
    out.write_text("mine\n", encoding="utf-8")
    assert main([*base, "--recipes", "word-drop@10pct", "--out", str(out)]) != 0
    assert "exists: not overwriting" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "mine\n"
    out.unlink()
    assert main([*base, "--recipes", "word-drop@10pct", "--languages", "de,en", "--out", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])["recipe"]
    assert header["provenance"]["languages"] == ["de", "en"]
    on_disk = hashlib.sha256((shared_data / "xquad-r" / "en.json").read_bytes()).hexdigest()
    assert header["provenance"]["source_sha256"]["en"] == on_disk
    assert len(lines) == 1 + 2 * 1190  # every XQuAD question of both languages


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--id", "a@b", "--recipes", "word-drop@10pct"], "ids with '@'"),
        (["--id", "..", "--recipes", "word-drop@10pct"], "--id"),
        (["--id", "p", "--recipes", " , "], "give at least one recipe"),
        (["--id", "p", "--recipes", "word-drop@10pct", "--jobs", "0"], "--jobs must be >= 1"),
        (["--id", "p", "--recipes", "word-drop@10pct", "--dataset", "squad"], "--dataset: unknown"),
        (["--id", "p", "--recipes", "word-drop@10pct", "--out", "{tmp}/missing/p.jsonl"], "does not exist"),
    ],
)
def test_cli_refuses_bad_arguments_before_any_work(tmp_path, capsys, args, message):
    out = tmp_path / "p.jsonl"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(out)]
    assert main(["attack", "compose", *args]) != 0
    assert message in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == []
