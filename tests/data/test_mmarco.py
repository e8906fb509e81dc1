"""mMARCO-R build and loader on a hub-layout copy (real dev-small qrels and English queries, synthetic
rest)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hbt_bench.data.mmarco import MMarcoDataError, load_mmarco_r, mmarco_stats
from hbt_bench.data.mmarco_build import (
    MMarcoBuildError,
    MMarcoSourceError,
    build_mmarco_r,
    collection_relpath,
    queries_relpath,
    sample_qids,
)
from hbt_bench.errors import HbtBenchError
from tests.data.mmarco_fixture import write_hub_copy

LANGS = ("en", "de", "zh")


class Killed(Exception):
    """Stands for the process being killed in the middle of a collection."""


@pytest.fixture(scope="module")
def shared_mmarco(request) -> Path:
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "mmarco"
    if not (path / "qrels.msmarco-passage.dev-subset.txt").is_file():
        pytest.skip(f"real MS MARCO dev-small qrels not found under {path}")
    return path


@pytest.fixture(scope="module")
def hub(shared_mmarco, tmp_path_factory):
    return write_hub_copy(tmp_path_factory.mktemp("hub"), shared_mmarco, LANGS, drop={"zh": 40})


@pytest.fixture
def env(shared_mmarco, monkeypatch, tmp_path):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_mmarco.parent))
    monkeypatch.setenv("HBT_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _build(hub, out: Path, **kw):
    args = {"queries": 12, "negatives": 3, "seed": 0, "source": hub.root, "output": out, "progress": False}
    return build_mmarco_r(LANGS, **{**args, **kw})


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_killed_build_resumes_to_the_same_bytes_and_stops_early(hub, env):
    whole = _build(hub, env / "a" / "mmarco-r", checkpoint_every=200)
    de = collection_relpath("de")
    # stop early: the collection's tail (no pooled id) is never read
    assert whole.lines_read[de] < hub.collection_lines - 400

    def kill(relpath: str, lines: int) -> None:
        if relpath == de and lines == 1234:
            raise Killed

    out = env / "b" / "mmarco-r"
    with pytest.raises(Killed):
        _build(hub, out, checkpoint_every=200, hook=kill)
    assert not out.exists()  # nothing half-written where the dataset goes
    resumed = _build(hub, out, checkpoint_every=200)
    # the first run's queries, runs and English passages were kept; German continued from its checkpoint
    assert queries_relpath("en") not in resumed.lines_read
    assert collection_relpath("en") not in resumed.lines_read
    assert resumed.resumed_from[de] > 0 and resumed.lines_read[de] < whole.lines_read[de]
    assert _files(out) == _files(env / "a" / "mmarco-r")
    assert not list(out.parent.glob(".mmarco-r.build-*"))  # work folder removed


def test_the_built_dataset_is_parallel_and_has_the_real_qrels(hub, env):
    _build(hub, env / "mmarco-r")
    corpus = load_mmarco_r(data_dir=env)
    ids = {lang: [c.uid.split("_", 1)[1] for c in corpus.languages[lang].candidates] for lang in LANGS}
    assert ids["en"] == ids["de"] == ids["zh"]  # one passage-id set in every language
    for lang in LANGS:
        qs = corpus.languages[lang].questions
        assert len(qs) == 12
        for q in qs:  # the judged passage of the real qrels, in the query's own language
            assert hub.judged[q.qid] == [q.answer_uid.split("_", 1)[1]]
    answers = corpus.answers_by_qid()
    assert all(len(by_lang) == 3 for by_lang in answers.values())  # one relevant per language per query
    en = {q.qid: q.text for q in corpus.languages["en"].questions}
    topics = dict(
        line.split("\t", 1)
        for line in (hub.root / queries_relpath("en")).read_text(encoding="utf-8").splitlines()
    )
    assert en == {q: topics[q] for q in en}  # real English query text, byte for byte
    # negatives: the first K non-judged passages of every language's run (independent recomputation)
    pool = set(ids["en"])
    expected = {hub.judged[q][0] for q in answers}
    for lang in LANGS:
        for q in answers:
            expected.update([p for p in hub.runs[lang][q] if p != hub.judged[q][0]][:3])
    assert pool == expected
    stats = mmarco_stats(data_dir=env)
    assert stats["queries"] == 12 and stats["passages_per_language"] == len(pool)
    assert stats["pool"] == 3 * len(pool) and stats["revision_tag"] == "built-en-de-zh-q12-k3"


def test_sample_is_seeded_deterministic_and_only_from_eligible_queries(hub, env, shared_mmarco):
    a = _build(hub, env / "s0" / "mmarco-r").manifest
    b = _build(hub, env / "s0b" / "mmarco-r").manifest
    _build(hub, env / "s1" / "mmarco-r", seed=1)
    assert a == b
    qids = [line.split("\t")[0] for line in (env / "s0/mmarco-r/qrels.tsv").read_text().splitlines()]
    qids1 = [line.split("\t")[0] for line in (env / "s1/mmarco-r/qrels.tsv").read_text().splitlines()]
    assert qids != qids1
    # independent: single-judged real qids, minus the 40 left untranslated in zh, smallest sha256("0:qid")
    untranslated = set(list(hub.judged)[:40])
    eligible = [q for q, pids in hub.judged.items() if len(pids) == 1 and q not in untranslated]
    by_hash = sorted(eligible, key=lambda q: hashlib.sha256(f"0:{q}".encode()).hexdigest())
    assert qids == sorted(by_hash[:12], key=int)
    assert set(sample_qids(eligible, 5, 0)) <= set(sample_qids(eligible, 12, 0))  # nested samples


def test_bad_arguments_are_refused_before_anything_is_read(hub, env):
    with pytest.raises(MMarcoBuildError, match=r"unknown mMARCO language 'xx'.*zh \(chinese\)"):
        build_mmarco_r(["en", "xx"], source=hub.root, output=env / "o", progress=False)
    with pytest.raises(MMarcoBuildError, match=r"--queries 0: expected an integer >= 1"):
        _build(hub, env / "o", queries=0)
    with pytest.raises(MMarcoBuildError, match=r"only \d+ dev-small queries"):
        _build(hub, env / "o", queries=10**6)
    assert not (env / "o").exists()


def test_missing_source_file_is_named(hub, env, tmp_path):
    import shutil

    copy = tmp_path / "partial-hub"
    shutil.copytree(hub.root, copy)
    (copy / collection_relpath("zh")).unlink()
    with pytest.raises(
        MMarcoSourceError, match=r"missing file data/google/collections/chinese_collection\.tsv"
    ):
        _build(hub, env / "o", source=copy)


def test_truncated_collection_is_reported(hub, env, tmp_path):
    import shutil

    copy = tmp_path / "cut-hub"
    shutil.copytree(hub.root, copy)
    path = copy / collection_relpath("de")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3000]))
    with pytest.raises(
        MMarcoSourceError, match=r"german_collection\.tsv: ended at byte \d+ before \d+ of the"
    ):
        _build(hub, env / "o", source=copy)
    path.write_bytes(b"".join(lines[:3000]) + lines[3000][:9])  # cut mid-line
    with pytest.raises(MMarcoSourceError, match=r"german_collection\.tsv: ends mid-line"):
        _build(hub, env / "o2", source=copy)


def test_loader_errors_name_the_build_command_and_a_tampered_file(hub, env):
    with pytest.raises(MMarcoDataError, match=r"hbt-bench data build mmarco-r"):
        load_mmarco_r(data_dir=env)
    _build(hub, env / "mmarco-r")
    with pytest.raises(MMarcoDataError, match=r"built for en, de, zh, not ar.*--languages en,de,zh,ar"):
        load_mmarco_r(["en", "ar"], data_dir=env)
    with pytest.raises(HbtBenchError, match=r"unknown mMARCO language 'klingon'"):
        load_mmarco_r(["klingon"], data_dir=env)
    passages = env / "mmarco-r" / "de" / "passages.jsonl"
    passages.write_text(
        passages.read_text(encoding="utf-8").replace("passage", "PASSAGE", 1), encoding="utf-8"
    )
    with pytest.raises(MMarcoDataError, match=r"Checksum mismatch.*de/passages\.jsonl"):
        load_mmarco_r(data_dir=env)


@pytest.mark.parametrize("which", ["qrels", "topics"])
def test_pinned_sources_resolve_verified_and_refuse_a_tampered_or_missing_copy(
    shared_mmarco, tmp_path, which
):
    """The qrels and the English topics (the reference set's source) are pinned by the sha256 of the real
    files (computed here from the shared copies), checked wherever they are found."""
    from hbt_bench.data.mmarco_build import resolve_qrels, resolve_topics

    resolve = {"qrels": resolve_qrels, "topics": resolve_topics}[which]
    name = {
        "qrels": "qrels.msmarco-passage.dev-subset.txt",
        "topics": "topics.msmarco-passage.dev-subset.en.tsv",
    }
    real = shared_mmarco / name[which]
    assert resolve(shared_mmarco.parent) == shared_mmarco / name[which]
    copy = tmp_path / "data" / "mmarco" / name[which]
    copy.parent.mkdir(parents=True)
    copy.write_bytes(real.read_bytes().replace(b"1", b"2", 1))
    with pytest.raises(HbtBenchError, match="sha256"):
        resolve(tmp_path / "data")
    copy.unlink()
    with pytest.raises(MMarcoSourceError, match=f"not found: expected .*{name[which]}"):
        resolve(tmp_path / "data")
