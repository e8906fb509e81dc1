"""Per-query side files written with the results (hbt_bench.per_query): each query's AP (and, in the pooled
X-multi subsets, rank distance), checked against the stored subset scores, clean and adversarial."""

from __future__ import annotations

import json
import math

import pytest

from hbt_bench import per_query
from hbt_bench.cli import main


@pytest.fixture(scope="module")
def eval_out(shared_data, tmp_path_factory):
    import os

    out = tmp_path_factory.mktemp("pq")
    old = os.environ.get("HBT_BENCH_DATA_DIR")
    os.environ["HBT_BENCH_DATA_DIR"] = str(shared_data)
    try:
        tasks = "XQuADR,MLQAR,XQuADR-Adv"  # the -Adv task on the shipped perturbation set
        argv = ["eval", "--model", "builtin:hash-ngram", "--tasks", tasks, "--languages", "en,de"]
        assert main([*argv, "--output-folder", str(out), "--quiet"]) == 0
    finally:
        if old is None:
            os.environ.pop("HBT_BENCH_DATA_DIR", None)
        else:
            os.environ["HBT_BENCH_DATA_DIR"] = old
    return out


@pytest.mark.parametrize("task", ["XQuADR", "MLQAR"])
def test_every_subset_has_per_query_aps_whose_mean_is_the_stored_map(eval_out, task):
    [result] = list(eval_out.rglob(f"{task}.json"))
    stored = {e["hf_subset"]: e for e in json.loads(result.read_text())["scores"]["test"]}
    side = per_query.decode(per_query.side_path(result))
    assert side["task"] == task and side["measure"] == "ap"
    assert set(side["subsets"]) == set(stored) and len(stored) == 2 * 2 + 2
    for name, sub in side["subsets"].items():
        assert len(sub["ap"]) == stored[name]["num_queries"] == len(set(sub["query_ids"]))
        # mteb writes scores rounded to 6 decimals; the side file keeps every digit
        assert math.fsum(sub["ap"]) / len(sub["ap"]) == pytest.approx(stored[name]["map"], rel=0, abs=5.01e-7)
        assert all(q.startswith(name.split("-")[0] + "_") for q in sub["query_ids"])


def test_a_record_that_does_not_match_the_result_is_not_written():
    class Result:  # what save_results_atomically hands over: an mteb TaskResult's fields
        task_name, dataset_revision = "T", "r"

        def __init__(self) -> None:
            self.scores = {"test": [{"hf_subset": "en-en", "map": 0.5}]}

    per_query.clear()
    per_query.record("T", "r", "en-en", ["en_1", "en_2"], [1.0, 0.5])  # mean 0.75, not 0.5: another model
    assert per_query.side_file_bytes(Result()) is None
    per_query.record("T", "r", "en-en", ["en_1", "en_2"], [1.0, 0.0])
    assert per_query.side_file_bytes(Result()) == per_query.encode(
        "T", "r", "test", {"en-en": (["en_1", "en_2"], [1.0, 0.0])}
    )
    per_query.clear()


def test_a_damaged_side_file_is_named(tmp_path):
    path = tmp_path / "XQuADR.per_query.json.gz"
    path.write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(per_query.PerQueryError, match=r"XQuADR\.per_query\.json\.gz"):
        per_query.decode(path)


def _stored(eval_out, task):
    [result] = list(eval_out.rglob(f"{task}.json"))
    entries = {e["hf_subset"]: e for e in json.loads(result.read_text())["scores"]["test"]}
    return entries, per_query.decode(per_query.side_path(result))


@pytest.mark.parametrize("task", ["XQuADR", "MLQAR", "XQuADR-Adv"])
def test_pooled_subsets_store_per_query_rank_distances_whose_mean_is_the_stored_language_bias(eval_out, task):
    stored, side = _stored(eval_out, task)
    assert side["schema"] == 2 and set(side["subsets"]) == set(stored)
    for name, sub in side["subsets"].items():
        # key names as mteb stores them: "rank_distance" in the X-multi subsets only
        assert ("rank_distance" in sub) == name.endswith("-multi") == ("rank_distance" in stored[name])
        if name.endswith("-multi"):
            rd = sub["rank_distance"]
            assert len(rd) == len(sub["ap"]) == stored[name]["num_queries"]
            # max - min rank of the relevant set: a whole number of places (a mean over recipes for -Adv)
            assert all(0 <= x < stored[name]["num_candidates"] for x in rd)
            assert math.fsum(rd) / len(rd) == pytest.approx(stored[name]["rank_distance"], rel=0, abs=5.01e-7)
    # the board's language-bias column is the macro mean of these subset values
    from hbt_bench.leaderboard.board import _task_scores

    group = "adversarial" if task.endswith("-Adv") else "clean"
    board_value = _task_scores(task, group, stored)[f"{task}/language_bias"]
    multi = [s["rank_distance"] for n, s in side["subsets"].items() if n.endswith("-multi")]
    assert len(multi) == 2
    assert board_value == pytest.approx(sum(math.fsum(v) / len(v) for v in multi) / 2, rel=0, abs=5.01e-7)


def test_adversarial_side_file_means_are_the_adversarial_scores(eval_out):
    stored, side = _stored(eval_out, "XQuADR-Adv")
    _, clean = _stored(eval_out, "XQuADR")
    assert set(side["subsets"]) == set(stored) and len(stored) == 6
    for name, sub in side["subsets"].items():
        e = stored[name]
        assert e["n_core_recipes"] >= 2 and e["map"] != e["clean_map"]  # a real combination over recipes
        # the mean over queries of the per-query adversarial AP is the stored adversarial mAP (main score),
        assert math.fsum(sub["ap"]) / len(sub["ap"]) == pytest.approx(e["map"], rel=0, abs=5.01e-7)
        assert e["main_score"] == e["map"]
        # not the clean mAP; same queries in the same order as the clean task's side file
        assert sub["query_ids"] == clean["subsets"][name]["query_ids"]


def test_a_schema_1_file_is_read_without_rank_distances(tmp_path):
    import gzip

    doc = {
        "schema": 1,
        "task": "XQuADR",
        "dataset_revision": "r",
        "split": "test",
        "measure": "ap",
        "subsets": {"en-multi": {"query_ids": ["en_1", "en_2"], "ap": [1.0, 0.5]}},
    }
    path = tmp_path / "XQuADR.per_query.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    read = per_query.decode(path)
    assert read["subsets"]["en-multi"] == {"query_ids": ["en_1", "en_2"], "ap": [1.0, 0.5]}
    doc["schema"] = 3
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    with pytest.raises(per_query.PerQueryError, match=r"XQuADR\.per_query\.json\.gz.*schema 1 or 2"):
        per_query.decode(path)


def test_a_rank_distance_list_of_another_length_is_named(tmp_path):
    path = tmp_path / "XQuADR.per_query.json.gz"
    data = per_query.encode("XQuADR", "r", "test", {"en-multi": (["en_1", "en_2"], [1.0, 0.5], [3.0, 1.0])})
    import gzip

    doc = json.loads(gzip.decompress(data))
    doc["subsets"]["en-multi"]["rank_distance"] = [3.0]
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    with pytest.raises(per_query.PerQueryError, match=r"'en-multi' has 2 query_ids but a rank_distance list"):
        per_query.decode(path)
    with pytest.raises(ValueError, match=r"XQuADR en-multi: 2 query ids but 2 APs, 1 rank distances"):
        per_query.encode("XQuADR", "r", "test", {"en-multi": (["en_1", "en_2"], [1.0, 0.5], [3.0])})


def test_a_record_whose_rank_distances_do_not_match_is_not_written():
    class Result:
        task_name, dataset_revision = "T", "r"

        def __init__(self) -> None:
            self.scores = {"test": [{"hf_subset": "en-multi", "map": 0.75, "rank_distance": 2.0}]}

    per_query.clear()
    try:
        per_query.record("T", "r", "en-multi", ["en_1", "en_2"], [1.0, 0.5], [3.0, 3.0])  # RD mean 3, not 2
        assert per_query.side_file_bytes(Result()) is None
        per_query.record("T", "r", "en-multi", ["en_1", "en_2"], [1.0, 0.5], [3.0, 1.0])
        data = per_query.side_file_bytes(Result())
        assert data == per_query.encode(
            "T", "r", "test", {"en-multi": (["en_1", "en_2"], [1.0, 0.5], [3.0, 1.0])}
        )
    finally:
        per_query.clear()


def test_mean_of_averages_each_query_over_the_parts():
    a = per_query.QueryScores(["q1", "q2"], [1.0, 0.0], [4.0, 2.0])
    b = per_query.QueryScores(["q1", "q2"], [0.5, 0.25], [0.0, 6.0])
    c = per_query.QueryScores(["q1", "q2"], [0.0, 0.5], None)
    # by hand: AP (1+0.5)/2, (0+0.25)/2; RD (4+0)/2, (2+6)/2
    assert per_query.mean_of([a, b]) == (["q1", "q2"], [0.75, 0.125], [2.0, 4.0])
    assert per_query.mean_of([a, c]).rank_distance is None  # only where every part has it
    with pytest.raises(ValueError, match="different queries"):
        per_query.mean_of([a, per_query.QueryScores(["q2", "q1"], [1.0, 0.0])])
