"""mMARCO-R perturbation sets: the shipped English reference reproduces from the real topics file, and the
user's local set is written into their build, records its source and must match the reference where pinned."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from hbt_bench.adversarial.build import recipe_lines
from hbt_bench.adversarial.local_sets import local_set_folder
from hbt_bench.adversarial.mmarco_sets import build_local_set, check_pinned, pin_line, write_local_set
from hbt_bench.adversarial.perturbation_sets import SET_VERSION, PerturbationSetError, perturbations_dir
from hbt_bench.adversarial.textattack_adapter import (
    wordnet_available,
)
from hbt_bench.cli import main
from hbt_bench.data.mmarco import DEFAULT_LANGUAGES, HUB_REVISION, load_mmarco_r, read_manifest
from hbt_bench.data.sources import file_sha256
from tests.adversarial.mmarco_set_fixture import RECIPES, build_data, perturb_fn

LANGS = ("en", "de")
REFERENCE = perturbations_dir() / "mmarco-r" / SET_VERSION
SAMPLE = 6  # queries per recipe compared with the shipped reference


@pytest.fixture(scope="module")
def mmarco_shared(shared_data):
    if not (shared_data / "mmarco" / "topics.msmarco-passage.dev-subset.en.tsv").is_file():
        pytest.skip("real MS MARCO dev-small topics/qrels not found")
    return shared_data


@pytest.fixture(scope="module")
def data(mmarco_shared, tmp_path_factory):
    return build_data(tmp_path_factory.mktemp("mm"), mmarco_shared, LANGS)


@pytest.fixture(scope="module")
def english_default(mmarco_shared, tmp_path_factory):
    """The real build path on a hub-layout copy whose English queries are the real topics file: the default
    sample (1,000 queries, seed 0) in English, as a user's default build has it."""
    return build_data(tmp_path_factory.mktemp("en"), mmarco_shared, ("en",), queries=1000, negatives=0)


def _reference_from(folder, tmp_path, data):
    """Turn a local set into a reference pinning English (what build_reference_set ships)."""
    ref = tmp_path / "ref" / "mmarco-r" / SET_VERSION
    ref.mkdir(parents=True)
    for f in folder.iterdir():
        (ref / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((ref / "manifest.json").read_text(encoding="utf-8"))
    en_sha = file_sha256(data / "mmarco-r" / "en" / "queries.jsonl")
    manifest["source"] = {"pinned_languages": ["en"], "files": {"en": en_sha}}
    (ref / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return ref


def test_shipped_reference_pins_english_of_the_real_default_sample(english_default, mmarco_shared):
    """The reference's source queries are, byte for byte, the English queries.jsonl that `data build mmarco-r`
    writes for the default sample from the real English queries: a user's build gets compared with it."""
    manifest = json.loads((REFERENCE / "manifest.json").read_text(encoding="utf-8"))
    src = manifest["source"]
    assert src["pinned_languages"] == ["en"] and manifest["seed"] == 0
    assert src["files"]["en"] == file_sha256(english_default / "mmarco-r" / "en" / "queries.jsonl")
    assert src["topics"]["sha256"] == file_sha256(
        mmarco_shared / "mmarco" / "topics.msmarco-passage.dev-subset.en.tsv"
    )
    assert src["sample"] == {**src["sample"], "queries": 1000, "seed": 0}
    assert "--reference" in manifest["command"]
    assert all(e["languages"] == ["en"] and e["records"] == 1000 for e in manifest["recipes"])


def test_the_shipped_reference_holds_no_ms_marco_text(mmarco_shared):
    """MS MARCO's terms: its text never ships, not even the words an edit script would move or keep. Every
    record is (qid, lang, status, check): a numeric id, a language, a status word and a 16-hex hash."""
    import re

    topics = (mmarco_shared / "mmarco" / "topics.msmarco-passage.dev-subset.en.tsv").read_text(
        encoding="utf-8"
    )
    words = {w for w in re.findall(r"[^\W\d_]{4,}", topics)}
    manifest = json.loads((REFERENCE / "manifest.json").read_text(encoding="utf-8"))
    for entry in manifest["recipes"]:
        for line in gzip.decompress((REFERENCE / entry["file"]).read_bytes()).decode("utf-8").splitlines():
            rec = json.loads(line)
            assert list(rec) == ["qid", "lang", "status", "check"], entry["file"]
            assert rec["lang"] == "en" and rec["status"] in ("perturbed", "unchanged", "empty")
            assert rec["qid"].isdigit() and len(rec["check"]) == 16 and rec["check"] not in words


def test_sample_of_the_shipped_reference_regenerates_from_the_real_topics(textattack, english_default):
    from hbt_bench.adversarial.recipes import get_recipe

    manifest = json.loads((REFERENCE / "manifest.json").read_text(encoding="utf-8"))
    corpus = load_mmarco_r(["en"], data_dir=english_default)
    checked = 0
    for entry in manifest["recipes"]:
        if entry["name"] == "en-synonym" and not wordnet_available():
            continue
        shipped = gzip.decompress((REFERENCE / entry["file"]).read_bytes()).decode("utf-8").splitlines()
        fresh = recipe_lines(get_recipe(entry["id"]), corpus, seed=manifest["seed"], limit=SAMPLE)
        assert [pin_line(x) for x in fresh] == shipped[:SAMPLE], entry["id"]
        checked += 1
    assert checked >= 10


def test_local_set_is_written_inside_the_build_with_its_source(data):
    start = time.perf_counter()
    build, built = build_local_set(SET_VERSION, RECIPES, data_dir=data, perturb=perturb_fn("a"))
    folder = write_local_set(build, built)
    elapsed = time.perf_counter() - start
    print(f"local mmarco-r set on the fixture build: {elapsed:.2f}s")
    assert folder == data / "mmarco-r" / "perturbations" / "mmarco-r" / SET_VERSION
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    src = manifest["source"]
    assert src["files"] == {lang: file_sha256(data / "mmarco-r" / lang / "queries.jsonl") for lang in LANGS}
    assert src["parameters"] == read_manifest(data / "mmarco-r")["parameters"]
    # a 6-query build is not the default sample: English is not compared with the shipped reference
    assert src["pinned"] == {"en": "not compared: the build's queries are not the reference's"}
    ids = [e["id"] for e in manifest["recipes"]]
    assert ids == ["drop-first@all", "reverse@all", "upper@all"]
    assert manifest["recipes"][2]["languages"] == ["en"] and manifest["recipes"][0]["languages"] == list(
        LANGS
    )


def test_pinned_records_are_compared_with_the_reference(data, tmp_path):
    build, built = build_local_set(SET_VERSION, RECIPES, data_dir=data, perturb=perturb_fn("a"))
    folder = write_local_set(build, built)
    ref = _reference_from(folder, tmp_path, data)
    _, same = build_local_set(SET_VERSION, RECIPES, data_dir=data, perturb=perturb_fn("a"), reference=ref)
    assert same.manifest["source"]["pinned"] == {"en": "identical to the shipped reference (3 recipes)"}
    with pytest.raises(PerturbationSetError, match=r"recipe drop-first@all, language en: .* differ"):
        build_local_set(SET_VERSION, RECIPES, data_dir=data, perturb=perturb_fn("b"), reference=ref)


def test_a_default_build_whose_english_is_not_the_references_is_refused(data, tmp_path):
    build, built = build_local_set(SET_VERSION, RECIPES, data_dir=data, perturb=perturb_fn("a"))
    manifest = read_manifest(build)
    default = {
        **manifest,
        "parameters": {
            **manifest["parameters"],
            "languages": list(DEFAULT_LANGUAGES),
            "queries": 1000,
            "seed": 0,
            "negatives": 10,
            "revision": HUB_REVISION,
        },
    }
    with pytest.raises(PerturbationSetError, match=r"default mMARCO-R build's en/queries.jsonl"):
        check_pinned(built, default)


def test_attack_build_cli_for_mmarco_r(textattack, data, capsys, monkeypatch):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(data))  # --data-dir sets it in-process; undone after
    args = [
        "attack",
        "build",
        "--dataset",
        "mmarco-r",
        "--recipes",
        "char-noise@1edit",
        "--data-dir",
        str(data),
    ]
    start = time.perf_counter()
    assert main(args) == 0
    print(f"attack build --dataset mmarco-r (1 recipe, fixture): {time.perf_counter() - start:.2f}s")
    out = capsys.readouterr().out
    folder = local_set_folder(data / "mmarco-r", SET_VERSION)
    assert str(folder) in out and "en: not compared" in out
    assert main([*args, "--check"]) == 0
    assert "identical to the local set" in capsys.readouterr().out
    assert main([*args, "--seed", "1", "--check"]) == 1
    assert "char-noise@1edit: content differs" in capsys.readouterr().out
    assert main([*args, "--out", str(data)]) == 2
    assert "--out and --into-package do not apply" in capsys.readouterr().err


def test_attack_build_without_an_mmarco_build_names_the_build_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HBT_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(tmp_path))  # --data-dir sets it in-process; undone after
    args = ["attack", "build", "--dataset", "mmarco-r", "--recipes", "char-noise@1edit"]
    assert main([*args, "--data-dir", str(tmp_path)]) == 2
    assert "hbt-bench data build mmarco-r" in capsys.readouterr().err


def test_a_version_without_a_shipped_reference_and_a_tampered_reference(data, tmp_path):
    _, built = build_local_set("v9", RECIPES, data_dir=data, perturb=perturb_fn("a"))
    assert built.manifest["source"]["pinned"] == {"en": "no shipped reference v9 to compare with"}
    build, built = build_local_set(SET_VERSION, RECIPES, data_dir=data, perturb=perturb_fn("a"))
    ref = _reference_from(write_local_set(build, built), tmp_path, data)
    (ref / "reverse__all.jsonl.gz").write_bytes(gzip.compress(b'{"lang": "en", "qid": "1"}\n'))
    with pytest.raises(PerturbationSetError, match=r"reverse__all.jsonl.gz: content does not match"):
        check_pinned(built, read_manifest(build), ref)
