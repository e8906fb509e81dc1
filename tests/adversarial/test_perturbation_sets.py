"""Frozen perturbation sets: edit scripts, the file format, verification, atomic writes, external recipes."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from dataclasses import dataclass
from typing import Any

import pytest

from hbt_bench.adversarial import perturbation_sets as ps
from hbt_bench.adversarial.build import build_set, write_set
from hbt_bench.data.lareqa import load_lareqa
from hbt_bench.errors import HbtBenchError

ALPHABET = "abcXYZ éß" + "ศิกาโ" + "शिकागो" + "\u200b\u200d" + "中文?"


@dataclass(frozen=True)
class FakeRecipe:
    """Recipe-shaped object for building sets without TextAttack."""

    id: str
    core: bool
    languages: tuple[str, ...] | None = None
    name: str = "fake"
    strength: str = "all"
    family: str = "word"
    description: str = "test recipe"
    params: dict = dataclasses.field(default_factory=dict)

    def applies_to(self, lang: str) -> bool:
        return self.languages is None or lang in self.languages


@dataclass(frozen=True)
class Out:
    text: str
    status: str


def fake_perturb(recipe: Any, lang: str, items, *, seed: int = 0, jobs: int = 1) -> list[Out]:
    """first-word: keep the first word only; identity: no change; upper: upper-case (en only)."""
    out = []
    for _qid, text in items:
        if recipe.id == "first-word@all":
            new = text.split()[0] if text.split() else ""
        elif recipe.id == "upper@all":
            new = text.upper()
        else:
            new = text
        out.append(Out(new, ps.status_of(text, new)))
    return out


RECIPES = (
    FakeRecipe("first-word@all", core=True),
    FakeRecipe("identity@all", core=True),
    FakeRecipe("upper@all", core=False, languages=("en",)),
)


@pytest.fixture(scope="module")
def xquad(shared_data):
    return load_lareqa("xquad-r", data_dir=shared_data)


@pytest.fixture
def fake_set(xquad, tmp_path):
    build = build_set("xquad-r", "vtest", RECIPES, corpus=xquad, perturb=fake_perturb)
    folder = write_set(build, tmp_path)
    return build, folder


def test_edits_roundtrip_on_random_multiscript_strings():
    rng = random.Random(7)
    for _ in range(500):
        a = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
        b = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
        edits = ps.compute_edits(a, b)
        assert ps.apply_edits(a, edits) == b
        assert all(e[0] <= e[1] for e in edits)
    assert ps.compute_edits("same", "same") == []


def test_apply_edits_rejects_bad_edits_with_location():
    with pytest.raises(ps.PerturbationSetError, match=r"f\.jsonl, line 3.*out of order or out of range"):
        ps.apply_edits("abc", [[2, 9, "x"]], where="f.jsonl, line 3")
    with pytest.raises(ps.PerturbationSetError, match="not \\[start, end, replacement\\]"):
        ps.apply_edits("abc", [[0, "1", "x"]], where="w")


def test_status_and_record_line_are_reproducible():
    assert ps.status_of("a b", "a b") == "unchanged"
    assert ps.status_of("a b", " ") == "empty"
    assert ps.status_of("a b", "a") == "perturbed"
    line = ps.record_line("q1", "th", "ก่อตั้ง", "ก่อ\u200bตั้ง")
    assert line == ps.record_line("q1", "th", "ก่อตั้ง", "ก่อ\u200bตั้ง")
    rec = json.loads(line)
    assert list(rec) == ["qid", "lang", "status", "edits", "check"]
    assert rec["status"] == "perturbed" and rec["edits"] == [[3, 3, "\u200b"]]
    with pytest.raises(ValueError, match="status 'odd'"):
        ps.record_line("q", "en", "a", "b", status="odd")


def test_built_set_loads_back_and_reports_counts(fake_set, xquad, tmp_path):
    _, folder = fake_set
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["dataset"] == "xquad-r" and manifest["version"] == "vtest"
    assert [e["id"] for e in manifest["recipes"]] == [r.id for r in RECIPES]
    upper = manifest["recipes"][2]
    assert upper["languages"] == ["en"] and upper["records"] == 1190
    assert upper["counts"]["en"]["perturbed"] + upper["counts"]["en"]["unchanged"] == 1190
    ident = manifest["recipes"][1]
    assert all(c == {"perturbed": 0, "unchanged": 1190, "empty": 0} for c in ident["counts"].values())
    assert (
        manifest["source"]["files"]["de"]
        == "16fb0f4bf4916154b585a20c24c66074591c9718a1affe764ff4697572328949"
    )

    loaded = ps.load_perturbation_set("xquad-r", "vtest", xquad, root=tmp_path)
    assert loaded.core_recipes == ("first-word@all", "identity@all")
    first = loaded.recipes["first-word@all"]
    de_questions = xquad.languages["de"].questions
    assert first.texts["de"][5] == de_questions[5].text.split()[0]
    assert loaded.recipes["identity@all"].texts["th"] == tuple(
        q.text for q in xquad.languages["th"].questions
    )
    assert loaded.recipes["upper@all"].languages == ("en",)
    assert first.counts("en")["perturbed"] == sum(
        len(q.text.split()) > 1 for q in xquad.languages["en"].questions
    )


def _rewrite(folder, name, transform):
    path = folder / name
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    lines = transform(lines)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))


def test_tampered_file_is_caught_by_the_manifest_hash(fake_set, xquad, tmp_path):
    _, folder = fake_set
    _rewrite(
        folder, "identity__all.jsonl.gz", lambda lines: [*lines[:-1], lines[-1].replace("[]", "[[0,1,'x']]")]
    )
    with pytest.raises(ps.PerturbationSetError, match=r"identity__all\.jsonl\.gz: content sha256"):
        ps.load_perturbation_set("xquad-r", "vtest", xquad, root=tmp_path)


def test_record_mismatching_its_source_names_file_and_line(fake_set, xquad, tmp_path):
    ar = xquad.languages["ar"]
    first = ar.questions[0]
    changed = dataclasses.replace(first, text="X" + first.text[1:])  # same length: the edits still apply
    altered = dataclasses.replace(ar, questions=(changed, *ar.questions[1:]))
    corpus = dataclasses.replace(xquad, languages={**xquad.languages, "ar": altered})
    with pytest.raises(ps.PerturbationSetError, match=r"first-word__all\.jsonl\.gz, line 1: .*differs"):
        ps.load_perturbation_set("xquad-r", "vtest", corpus, root=tmp_path)


def test_missing_set_and_missing_file_errors(fake_set, xquad, tmp_path):
    _, folder = fake_set
    with pytest.raises(ps.PerturbationSetError, match=r"manifest .*v9.* not found"):
        ps.load_perturbation_set("xquad-r", "v9", xquad, root=tmp_path)
    (folder / "upper__all.jsonl.gz").unlink()
    with pytest.raises(ps.PerturbationSetError, match=r"upper__all\.jsonl\.gz: listed in .* but missing"):
        ps.load_perturbation_set("xquad-r", "vtest", xquad, root=tmp_path)


def test_failed_write_leaves_the_previous_set_untouched(fake_set, monkeypatch, tmp_path):
    build, folder = fake_set
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    calls = {"n": 0}
    real_gzip = ps._gzip

    def failing_gzip(content: bytes) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real_gzip(content)

    monkeypatch.setattr(ps, "_gzip", failing_gzip)
    with pytest.raises(OSError, match="disk full"):
        write_set(build, tmp_path)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert [p.name for p in (tmp_path / "xquad-r").iterdir()] == ["vtest"]  # no temp folder left


def test_rebuilding_gives_identical_content(fake_set, xquad):
    build, _ = fake_set
    again = build_set("xquad-r", "vtest", RECIPES, corpus=xquad, perturb=fake_perturb)
    assert again.contents == build.contents and again.manifest == build.manifest


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_external_recipe_loads_with_provenance(xquad, tmp_path):
    rows = [{"recipe": {"id": "llm-paraphrase", "description": "paraphrases", "provenance": {"model": "x"}}}]
    rows += [
        {"qid": q.qid, "lang": "de", "text": q.text + " bitte"}
        for q in reversed(xquad.languages["de"].questions)
    ]
    ext = ps.load_external_recipe(_write_jsonl(tmp_path / "para.jsonl", rows), xquad)
    assert ext.recipe_id == "llm-paraphrase" and not ext.core and ext.languages == ("de",)
    assert ext.texts["de"][0] == xquad.languages["de"].questions[0].text + " bitte"  # source order
    assert ext.info["provenance"] == {"model": "x"}
    assert ext.counts("de") == {"perturbed": 1190, "unchanged": 0, "empty": 0}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows[:-1], "covers de but lacks 1 of its 1190 questions"),
        (lambda rows: [*rows, rows[0]], "duplicate record for \\(de, "),
        (lambda rows: [*rows, {**rows[0], "qid": "nope"}], "1 de query id\\(s\\) not in xquad-r"),
        (lambda rows: [*rows, {**rows[0], "lang": "xx"}], "language 'xx' is not in xquad-r"),
        (lambda rows: [*rows, {"qid": "a", "lang": "de"}], "line 1191: field 'text'"),
    ],
)
def test_external_recipe_errors_name_the_problem(xquad, tmp_path, mutate, message):
    rows = [{"qid": q.qid, "lang": "de", "text": q.text} for q in xquad.languages["de"].questions]
    path = _write_jsonl(tmp_path / "ext.jsonl", mutate(rows))
    with pytest.raises(ps.PerturbationSetError, match=message):
        ps.load_external_recipe(path, xquad)


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("dataset", ["xquad-r", "mlqa-r"])
def test_shipped_sets_verify_against_the_real_data(shared_data, dataset, version):
    corpus = load_lareqa(dataset, data_dir=shared_data)
    pset = ps.load_perturbation_set(dataset, version, corpus)
    assert pset.core_recipes, f"{version} has core recipes"
    for rid in pset.core_recipes:
        recipe = pset.recipes[rid]
        assert recipe.languages == tuple(corpus.languages), f"core recipe {rid} covers every language"
        for lang in recipe.languages:
            counts = recipe.counts(lang)
            assert counts == recipe.info["counts"][lang]
            assert counts["perturbed"] > 0.5 * len(corpus.languages[lang].questions), (rid, lang, counts)


def test_a_corpus_of_fewer_languages_gets_their_records(shared_data, xquad):
    full = ps.load_perturbation_set("xquad-r", "v1", xquad)
    part = ps.load_perturbation_set(
        "xquad-r", "v1", load_lareqa("xquad-r", ["th", "de"], data_dir=shared_data)
    )
    rid = "char-noise@30pct"
    assert part.recipes[rid].languages == ("de", "th")  # dataset order
    assert part.recipes[rid].texts["th"] == full.recipes[rid].texts["th"]
    assert part.recipes["zh-morphonym@10pct"].languages == ()


# --- names that become paths, crash-safe swap (issue 9) ----------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, and every later rename fails too."""


def _die_after_first_replace(monkeypatch):
    import os

    real, calls = os.replace, {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] > 1:
            raise Killed
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_kill_between_the_two_renames_leaves_a_readable_set_and_the_next_write_cleans_up(
    fake_set, xquad, tmp_path, monkeypatch
):
    build, folder = fake_set
    before = _tree(folder)
    other = dataclasses.replace(build, manifest={**build.manifest, "seed": 1})
    with monkeypatch.context() as m:
        _die_after_first_replace(m)
        with pytest.raises(Killed):
            write_set(other, tmp_path)
    # A reader still finds the complete previous set (the old writer left it only as .vtest.old-PID).
    loaded = ps.load_perturbation_set("xquad-r", "vtest", xquad, root=tmp_path)
    assert loaded.manifest["seed"] == 0 and set(loaded.recipes) == {r.id for r in RECIPES}
    write_set(other, tmp_path)  # the next run restores or cleans what the killed one left
    assert [p.name for p in (tmp_path / "xquad-r").iterdir()] == ["vtest"]
    assert json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["seed"] == 1
    assert {k: v for k, v in _tree(folder).items() if k != "manifest.json"} == {
        k: v for k, v in before.items() if k != "manifest.json"
    }


@pytest.mark.parametrize("version", ["", ".", "..", "../mlqa-r", "/abs", "v1/x", ".v1"])
def test_a_version_that_is_not_a_plain_name_is_refused_and_nothing_is_touched(
    fake_set, xquad, tmp_path, version
):
    build, _ = fake_set
    mlqa = tmp_path / "mlqa-r" / "v1"
    mlqa.mkdir(parents=True)
    (mlqa / "manifest.json").write_text("{}", encoding="utf-8")
    before = _tree(tmp_path)
    bad = dataclasses.replace(build, manifest={**build.manifest, "version": version})
    with pytest.raises(HbtBenchError, match="version"):
        write_set(bad, tmp_path)
    assert _tree(tmp_path) == before
    with pytest.raises(HbtBenchError, match="version"):
        ps.load_perturbation_set("xquad-r", version, xquad, root=tmp_path)


def test_the_writer_replaces_only_a_set_of_the_same_dataset_and_version(fake_set, tmp_path):
    build, _ = fake_set
    for name, content in (
        ("v7", {"notes.txt": b"mine"}),
        ("v8", {"manifest.json": b'{"dataset": "mlqa-r"}'}),
    ):
        user = tmp_path / "xquad-r" / name
        user.mkdir()
        for file, data in content.items():
            (user / file).write_bytes(data)
        bad = dataclasses.replace(build, manifest={**build.manifest, "version": name})
        with pytest.raises(ps.PerturbationSetError, match=f"{name} exists and is not the xquad-r {name}"):
            write_set(bad, tmp_path)
        assert {p.name: p.read_bytes() for p in user.iterdir()} == content


def test_a_manifest_file_entry_outside_the_set_is_refused(fake_set, xquad, tmp_path):
    _, folder = fake_set
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["recipes"][0]["file"] = "../../secret.jsonl.gz"
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ps.PerturbationSetError, match=r"recipes\[0\]: file '\.\./\.\./secret"):
        ps.load_perturbation_set("xquad-r", "vtest", xquad, root=tmp_path)


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("header_line", "message"),
    [
        ('{"recipe": {"id": "char-noise@30pct"}}', "recipe id 'char-noise@30pct' is taken"),
        ('{"recipe": {"id": "word-drop@10pct"}}', "recipe id 'word-drop@10pct' is taken"),
        ('{"recipe": {"id": {"a": 1}}}', "recipe id must be a string, got dict"),
        ('{"recipe": {"id": 7}}', "recipe id must be a string, got int"),
        ('{"recipe": {"id": "../x"}}', "recipe id '../x': not usable"),
        ('{"recipe": {"id": "ok", "description": ["a"]}}', "'description' must be a string"),
        ('{"recipe": {"id": "ok", "provenance": "gpt"}}', "'provenance' must be an object"),
        (json.dumps({"recipe": {"provenance": _nested(20)}}), "nested deeper than 8 levels"),
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ('{"recipe": ' + "[" * 100_000 + "]" * 100_000 + "}", "JSON nested too deeply"),
    ],
    ids=["shipped-id", "shipped-id-2", "dict-id", "int-id", "path-id", "description", "provenance",
         "deep-header", "very-deep-line", "very-deep-header"],
)  # fmt: skip
def test_bad_external_headers_are_clean_errors_naming_file_and_line(xquad, tmp_path, header_line, message):
    rows = [json.dumps({"qid": q.qid, "lang": "de", "text": q.text}) for q in xquad.languages["de"].questions]
    path = tmp_path / "ext.jsonl"
    path.write_text("\n".join([header_line, *rows]) + "\n", encoding="utf-8")
    with pytest.raises(ps.PerturbationSetError, match=rf"ext\.jsonl, line 1: .*{message}"):
        ps.load_external_recipe(path, xquad)


def test_external_ids_already_in_the_task_are_refused(xquad, tmp_path):
    rows = [{"recipe": {"id": "paraphrase"}}]
    rows += [{"qid": q.qid, "lang": "de", "text": q.text} for q in xquad.languages["de"].questions]
    path = _write_jsonl(tmp_path / "para.jsonl", rows)
    assert ps.load_external_recipe(path, xquad).recipe_id == "paraphrase"
    with pytest.raises(
        ps.PerturbationSetError, match=r"para\.jsonl, line 1: recipe id 'paraphrase' is taken"
    ):
        ps.load_external_recipe(path, xquad, reserved_ids={"paraphrase"})
    with pytest.raises(ps.PerturbationSetError, match="recipe_id: recipe id must be a string"):
        ps.load_external_recipe(path, xquad, recipe_id=3)


# --- versions -------------------------------------------------------------------------------------------


def test_the_default_version_is_the_one_the_adv_tasks_and_the_build_cli_use():
    import tomllib

    from hbt_bench.cli import attack as cli
    from hbt_bench.resources import tasks_dir

    assert cli._SET_VERSION == ps.SET_VERSION
    for name in ("xquadr_adv", "mlqar_adv"):
        task = tomllib.loads((tasks_dir() / f"{name}.toml").read_text(encoding="utf-8"))["task"]
        assert task["perturbations"] == ps.SET_VERSION, name
        assert task["revision"].endswith(f"+adv-{ps.SET_VERSION}"), name


# sha256 of the shipped v1 manifests as released (they hold every file's content sha256): v1 never changes.
V1_MANIFEST_SHA256 = {
    "xquad-r": "265289b1571d0e5c48789fedf23d70a0ad2e390736865c4e9ddfb3a68c321340",
    "mlqa-r": "b3baeb7b36154a2ff3b656804f05c6a8e1a42a75fd9a36d80b3e22b4e752c1f3",
}


@pytest.mark.parametrize("dataset", ["xquad-r", "mlqa-r"])
def test_v1_stays_loadable_with_its_manifest_checksums(shared_data, dataset):
    import hashlib

    folder = ps.perturbations_dir() / dataset / "v1"
    raw = (folder / "manifest.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == V1_MANIFEST_SHA256[dataset]
    manifest = json.loads(raw)
    assert manifest["version"] == "v1" and len(manifest["recipes"]) == 12
    for entry in manifest["recipes"]:
        content = gzip.decompress((folder / entry["file"]).read_bytes())
        assert hashlib.sha256(content).hexdigest() == entry["sha256"], entry["file"]
    corpus = load_lareqa(dataset, data_dir=shared_data)
    pset = ps.load_perturbation_set(dataset, "v1", corpus)  # verifies every record as well
    assert list(pset.recipes) == [e["id"] for e in manifest["recipes"]]
