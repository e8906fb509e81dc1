"""All-or-nothing result writing: mteb's layout, run settings merged per task, nothing left on failure."""

from __future__ import annotations

import json
from pathlib import Path

import mteb
import pytest

import hbt_bench
from hbt_bench.results import LOCK_NAME, save_results_atomically

STORED = Path(__file__).resolve().parents[1] / "leaderboard" / "results" / "hbt-bench__hash-ngram" / "0.1.0"


@pytest.fixture(scope="module")
def stored():
    hbt_bench.register()
    meta = mteb.get_model_meta("hbt-bench/hash-ngram")
    results = {name: mteb.TaskResult.from_disk(STORED / f"{name}.json") for name in ("XQuADR", "MLQAR")}
    return meta, results


def _settings(folder: Path) -> list[str]:
    path = next(folder.rglob("run_settings.jsonl"))
    return [json.loads(line)["task"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_run_settings_of_other_tasks_survive_a_later_write(stored, tmp_path):
    meta, results = stored
    save_results_atomically([results["XQuADR"]], meta, tmp_path, {"batch_size": 8})
    save_results_atomically([results["MLQAR"]], meta, tmp_path, {"batch_size": 8})
    assert _settings(tmp_path) == ["XQuADR", "MLQAR"]
    save_results_atomically([results["XQuADR"]], meta, tmp_path, {"batch_size": 16})  # replaced, not doubled
    assert _settings(tmp_path) == ["MLQAR", "XQuADR"]
    loaded = mteb.ResultCache(tmp_path).load_results(tasks=["XQuADR", "MLQAR"])
    assert {tr.task_name for tr in loaded.model_results[0].task_results} == {"XQuADR", "MLQAR"}


def test_a_failed_write_leaves_nothing(stored, tmp_path, monkeypatch):
    meta, results = stored

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(mteb.ResultCache, "save_to_cache", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_results_atomically([results["XQuADR"]], meta, tmp_path, {})
    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()] == [
        f"results/{LOCK_NAME}"
    ]


def test_written_files_are_byte_identical_to_mtebs_own_and_readable(stored, tmp_path):
    """The staged-then-atomic write must not change a byte of what mteb's save_to_cache writes, nor make
    the files private (a temporary file's 0600 mode would survive the rename)."""
    meta, results = stored
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    written = save_results_atomically([results["XQuADR"]], meta, ours, {"batch_size": 8})
    mteb.ResultCache(theirs).save_to_cache(results["XQuADR"], meta, encode_kwargs={"batch_size": 8})
    expected = {p.relative_to(theirs): p.read_bytes() for p in theirs.rglob("*") if p.is_file()}
    expected = {k: v for k, v in expected.items() if k.name != LOCK_NAME}
    assert {p.relative_to(ours): p.read_bytes() for p in written} == expected
    assert sorted(
        p.relative_to(ours) for p in ours.rglob("*") if p.is_file() and p.name != LOCK_NAME
    ) == sorted(expected)
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o644, path


def _variant(result, tag: str, subsets: set[str] | None = None):
    """A copy of ``result`` as a task variant: revision tagged like LareqaTask does, maybe fewer subsets."""
    scores = {
        split: [e for e in entries if subsets is None or e["hf_subset"] in subsets]
        for split, entries in result.scores.items()
    }
    revision = f"{result.dataset_revision}+{tag}"
    return result.model_copy(update={"dataset_revision": revision, "scores": scores})


@pytest.mark.parametrize("standard_first", [True, False])
def test_a_variant_and_the_standard_result_never_replace_each_other(stored, tmp_path, standard_first):
    """Issue 9, finding 2: XQuADR(languages=["en","de"]) saved over a full run replaced its 132 subsets."""
    from hbt_bench.results import ResultConflictError

    meta, results = stored
    standard = results["XQuADR"]
    variant = _variant(standard, "langs-en-de", {"en-en", "en-de", "de-en", "de-de", "en-multi", "de-multi"})
    first, second = (standard, variant) if standard_first else (variant, standard)
    [path] = [p for p in save_results_atomically([first], meta, tmp_path, {}) if p.name == "XQuADR.json"]
    before = path.read_bytes()
    with pytest.raises(ResultConflictError) as err:
        save_results_atomically([second], meta, tmp_path, {})
    message = str(err.value)
    assert str(path) in message
    assert repr(first.dataset_revision) in message and repr(second.dataset_revision) in message
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".hbt-tmp-*"))
    assert _settings(tmp_path) == ["XQuADR"]


def test_a_same_revision_result_is_replaced_and_other_tasks_are_untouched(stored, tmp_path):
    meta, results = stored
    save_results_atomically([results["XQuADR"], results["MLQAR"]], meta, tmp_path, {})
    fewer = _variant(results["XQuADR"], "x", {"en-en"}).model_copy(
        update={"dataset_revision": results["XQuADR"].dataset_revision}
    )
    save_results_atomically([fewer], meta, tmp_path, {})
    loaded = mteb.ResultCache(tmp_path).load_task_result("XQuADR", meta)
    assert [e["hf_subset"] for e in loaded.scores["test"]] == ["en-en"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("revision", "../../../../escaped"),
        ("revision", "/tmp/hbt-escaped-abs"),
        ("revision", ""),
        ("revision", ".."),
        ("name", "../../escaped"),
        ("name", "/escaped/model"),
        ("name", ""),
        ("name", "org/../../escaped"),
    ],
)
def test_unsafe_model_names_and_revisions_write_nothing(stored, tmp_path, field, value):
    """Issue 9, finding 3: a revision like ../../../../escaped wrote XQuADR.json outside the folder."""
    from hbt_bench.paths import UnsafeNameError

    meta, results = stored
    bad = meta.model_copy(update={field: value})
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(UnsafeNameError, match=r"model name|revision"):
        save_results_atomically([results["XQuADR"]], bad, out, {})
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert not Path("/tmp/hbt-escaped-abs").exists()


def test_an_unsafe_task_name_writes_nothing(stored, tmp_path):
    from hbt_bench.paths import UnsafeNameError

    meta, results = stored
    bad = results["XQuADR"].model_copy(update={"task_name": "../XQuADR"})
    with pytest.raises(UnsafeNameError, match="task name"):
        save_results_atomically([bad], meta, tmp_path / "out", {})
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def _write_repeatedly(folder: str, task: str, times: int, barrier) -> None:
    """A writer process: after the barrier, save ``task``'s result ``times`` times, each as a new task."""
    hbt_bench.register()
    meta = mteb.get_model_meta("hbt-bench/hash-ngram")
    result = mteb.TaskResult.from_disk(STORED / f"{task}.json")
    barrier.wait()
    for k in range(times):
        save_results_atomically([result.model_copy(update={"task_name": f"{task}-{k}"})], meta, folder, {})


def test_concurrent_writers_lose_no_run_settings_line(tmp_path):
    """Issue 9, finding 7: unlocked read-merge-replace of run_settings.jsonl lost other writers' lines.

    Every write adds a new task name, so a line clobbered by another process's replace stays lost.
    """
    import multiprocessing

    tasks, times = ["XQuADR", "MLQAR", "XQuADR-Adv", "MLQAR-Adv"], 15
    ctx = multiprocessing.get_context("fork")  # fork: no re-import of mteb per writer (seconds, not minutes)
    barrier = ctx.Barrier(len(tasks))
    procs = [ctx.Process(target=_write_repeatedly, args=(str(tmp_path), t, times, barrier)) for t in tasks]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * len(tasks)
    expected = sorted(f"{t}-{k}" for t in tasks for k in range(times))
    assert sorted(_settings(tmp_path)) == expected
    assert sorted(p.stem for p in tmp_path.rglob("*.json") if p.stem != "model_meta") == expected


@pytest.mark.parametrize("writer", ["hbt-bench", "mteb-cache"])
def test_model_meta_lists_training_datasets_in_one_order_in_every_process(stored, tmp_path, writer):
    """mteb writes ModelMeta.training_datasets (a set) in string-hash order, which PYTHONHASHSEED changes
    per process; both of our writers (our own, and the guard on mteb's ResultCache that `mteb run` uses)
    store it sorted, so one model's model_meta.json is the same file from every run."""
    meta, results = stored
    names = ["XQuADRetrieval", "MSMARCO", "NQ", "FEVER", "MIRACLReranking", "HotpotQA", "MrTidyRetrieval"]
    meta = meta.model_copy(update={"training_datasets": set(names)})
    if writer == "hbt-bench":
        save_results_atomically([results["XQuADR"]], meta, tmp_path, {})
    else:  # hbt_bench.register() installed the guard for the plugin's task names
        mteb.ResultCache(tmp_path).save_to_cache(results["XQuADR"], meta, encode_kwargs={})
    [path] = tmp_path.rglob("model_meta.json")
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["training_datasets"] == [
        "FEVER",
        "HotpotQA",
        "MIRACLReranking",
        "MSMARCO",
        "MrTidyRetrieval",
        "NQ",
        "XQuADRetrieval",
    ]
    assert written["name"] == meta.name and written["revision"] == meta.revision
