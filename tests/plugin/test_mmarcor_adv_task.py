"""The mMARCOR-Adv mteb task on a fixture build with a local perturbation set made by recipe-shaped fakes."""

from __future__ import annotations

import gzip
import shutil

import mteb
import pytest

from hbt_bench.adversarial.local_sets import local_set_folder
from hbt_bench.adversarial.mmarco_sets import build_local_set, write_local_set
from hbt_bench.adversarial.perturbation_sets import SET_VERSION, PerturbationSetError
from hbt_bench.data.mmarco import DEFAULT_LANGUAGES, load_mmarco_r
from hbt_bench.data.mmarco_build import build_mmarco_r
from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.plugin.mmarco import mMARCOR, mMARCORAdv
from tests.adversarial.mmarco_set_fixture import RECIPES, build_with_local_set, edit, evaluate, perturb_fn
from tests.conftest import SHARED_DATA
from tests.helpers import single_relevant_map_bounds


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    if not (SHARED_DATA / "mmarco" / "qrels.msmarco-passage.dev-subset.txt").is_file():
        pytest.skip("real MS MARCO dev-small qrels not found")
    root = tmp_path_factory.mktemp("mmadv")
    build_with_local_set(root, SHARED_DATA)
    return root


@pytest.fixture
def copy(root, tmp_path):
    """A private copy of the fixture build (with its local set), for tests that change it."""
    shutil.copytree(root / "data", tmp_path / "data")
    return tmp_path / "data"


def test_metadata_and_registration():
    md = mMARCORAdv.metadata
    md._validate_metadata()
    assert md.name == "mMARCOR-Adv" and len(md.hf_subsets) == 72 and md.eval_splits == ["dev"]
    assert md.revision == mMARCOR.metadata.revision + "+adv-v2"
    assert type(mteb.get_task("mMARCOR-Adv")).__name__ == "mMARCORAdv"
    names = [t.metadata.name for t in mteb.get_benchmark("HBT-DomainShift").tasks]
    assert names.index("mMARCOR-Adv") == names.index("mMARCOR") + 1


def test_scores_clean_equals_mmarcor_and_recipes_score_the_edited_queries(root, tmp_path):
    data = root / "data"
    task = mMARCORAdv(data_dir=data, languages=["de", "en"])  # 6 subsets: seconds (all 72: the report test)
    assert task.metadata.revision.startswith(mMARCORAdv.metadata.revision + "+langs-de-en+q6-k2+set-")
    [adv] = evaluate(task, tmp_path / "a").task_results
    [clean] = evaluate(mMARCOR(data_dir=data, languages=["de", "en"]), tmp_path / "c").task_results
    adv_by = {e["hf_subset"]: e for e in adv.scores["dev"]}
    clean_by = {e["hf_subset"]: e for e in clean.scores["dev"]}
    assert len(adv_by) == 6 and adv.dataset_revision == task.metadata.revision
    for name, scores in clean_by.items():
        assert adv_by[name]["clean_map"] == pytest.approx(scores["map"], abs=1e-9), name
        assert adv_by[name]["map"] == pytest.approx(
            (adv_by[name]["map_drop-first@all"] + adv_by[name]["map_reverse@all"]) / 2
        )
    assert "map_upper@all" in adv_by["en-de"] and "map_upper@all" not in adv_by["de-en"]
    assert "rank_distance" in adv_by["de-multi"]
    # en-en under reverse@all, recomputed from the query texts (not the set): one relevant passage, so
    # AP = 1 / (1 + candidates above it); near-ties (1e-6) may fall either side
    corpus = load_mmarco_r(["en"], data_dir=data).languages["en"]
    enc = HashNgramEncoder()
    q = enc.encode([edit("reverse@all", x.text) for x in corpus.questions])
    c = enc.encode([x.text for x in corpus.candidates])
    low, high = single_relevant_map_bounds(q, c, corpus.candidates, corpus.questions)
    assert low - 1e-6 <= adv_by["en-en"]["map_reverse@all"] <= high + 1e-6


def test_without_a_local_set_the_error_names_the_attack_build_command(copy, monkeypatch):
    shutil.rmtree(copy / "mmarco-r" / "perturbations")
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(copy))
    assert mMARCOR.data_available() and not mMARCORAdv.data_available()
    task = mMARCORAdv(data_dir=copy)
    assert "+set-" not in task.metadata.revision
    with pytest.raises(PerturbationSetError, match="hbt-bench attack build --dataset mmarco-r"):
        task.load_data()
    build, built = build_local_set(SET_VERSION, RECIPES, data_dir=copy, perturb=perturb_fn())
    write_local_set(build, built)
    assert mMARCORAdv.data_available()


def test_a_set_from_another_build_is_refused(root, copy, tmp_path):
    other = tmp_path / "other"
    build_mmarco_r(
        DEFAULT_LANGUAGES,
        queries=6,
        negatives=2,
        seed=1,
        source=root / "hub",
        output=other / "mmarco-r",
        qrels=SHARED_DATA,
        progress=False,
    )
    build, built = build_local_set(SET_VERSION, RECIPES, data_dir=other, perturb=perturb_fn())
    write_local_set(build, built)
    shutil.rmtree(copy / "mmarco-r" / "perturbations")
    shutil.copytree(other / "mmarco-r" / "perturbations", copy / "mmarco-r" / "perturbations")
    with pytest.raises(PerturbationSetError, match=r"built from another mMARCO-R build .* ar, de, en"):
        mMARCORAdv(data_dir=copy).load_data()


def test_a_tampered_recipe_file_is_refused(copy):
    path = local_set_folder(copy / "mmarco-r", SET_VERSION) / "reverse__all.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    lines[0] = lines[0].replace('"perturbed"', '"unchanged"')
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(
        PerturbationSetError, match=r"reverse__all.jsonl.gz: content sha256 .* does not match"
    ):
        mMARCORAdv(data_dir=copy).load_data()


def test_revision_digest_differs_when_the_set_differs(root, copy):
    before = mMARCORAdv(data_dir=copy).metadata.revision
    assert before == mMARCORAdv(data_dir=root / "data").metadata.revision  # same set bytes, same revision
    build, built = build_local_set(SET_VERSION, RECIPES, data_dir=copy, perturb=perturb_fn("b"))
    write_local_set(build, built)
    after = mMARCORAdv(data_dir=copy).metadata.revision
    assert after != before and after.rsplit("+set-", 1)[0] == before.rsplit("+set-", 1)[0]
