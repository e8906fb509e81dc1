"""The board document from tiny results folders: scores, paired diffs, and every bad input named."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hbt_bench.leaderboard.board import BoardError, build_board
from hbt_bench.leaderboard.registry import load_registry
from tests.leaderboard.builders import SUBSETS, TASKS, registry_text, two_models, write_result


def _board(registry, **kw):
    return build_board(load_registry(registry), tasks=TASKS, **kw)


def test_scores_diffs_and_schema(tmp_path):
    board = _board(two_models(tmp_path))
    assert board["schema"] == 1 and board["baseline"] == "org/hybrid@1"
    rows = {r["id"]: r for r in board["rows"]}
    base, better = rows["org/hybrid@1"], rows["org/better@1"]
    assert base["is_baseline"] and base["diff"] is None
    # mono = macro over en-en, de-de: (1.0 + 0.5) / 2 for the better model, 0.5 for the baseline
    assert better["scores"]["XQuADR/mono"] == pytest.approx(0.75)
    assert better["scores"]["XQuADR/language_bias"] == pytest.approx(800.0)
    mono = better["diff"]["XQuADR/mono"]
    assert mono["delta"] == pytest.approx(0.25)
    assert mono["significant"] and mono["p_holm"] >= mono["p"] and mono["ci"][0] <= 0.25 <= mono["ci"][1]
    # 8 equal non-zero differences (the other 8 are 0): exactly 2 of the 2^8 sign patterns reach |0.25|, so
    # p = 2/256; 2^16 > 9999 flips, so scipy samples them: within 3 standard errors of the exact value
    assert mono["p"] == pytest.approx(2 / 2**8, abs=3 * np.sqrt(2 / 256 / 9999))
    cross = better["diff"]["XQuADR/cross"]
    assert cross["delta"] == 0 and cross["p"] == pytest.approx(1.0) and not cross["significant"]
    assert better["diff"]["XQuADR/language_bias"] is None  # no per-query rank distances
    ids = [c["id"] for c in board["columns"]]
    assert ids == ["XQuADR/mono", "XQuADR/cross", "XQuADR/multi", "XQuADR/language_bias"]
    [heat] = [h for h in board["heatmaps"] if h["row"] == "org/better@1"]
    assert heat["languages"] == ["en", "de"] and heat["values"] == [[1.0, 0.5], [0.5, 0.5]]


def test_without_per_query_files_the_diff_is_null(tmp_path):
    board = _board(two_models(tmp_path, per_query_file=False))
    better = next(r for r in board["rows"] if r["name"] == "org/better")
    assert better["diff"]["XQuADR/mono"] is None and better["scores"]["XQuADR/mono"] == pytest.approx(0.75)


def test_reported_rows_are_marked_and_never_get_a_diff(tmp_path):
    reported = [
        {"id": "paper/x", "name": "X (paper)", "scores": {"XQuADR/mono": 0.8}, "source": "s", "file": "f"}
    ]
    board = _board(two_models(tmp_path), reported=reported)
    row = board["rows"][-1]
    assert row["kind"] == "reported" and row["diff"] is None and row["scores"] == {"XQuADR/mono": 0.8}


def test_unknown_task_file_is_named(tmp_path):
    registry = two_models(tmp_path)
    bad = write_result(tmp_path, "org/hybrid", "1", "NotATask", {"en-en": [0.1, 0.2]})
    with pytest.raises(BoardError, match=str(bad)) as info:
        _board(registry)
    assert "unknown task 'NotATask'" in str(info.value)


def test_model_missing_from_the_registry_is_named(tmp_path):
    registry = two_models(tmp_path)
    write_result(tmp_path, "org/stranger", "7", "XQuADR", {"en-en": [0.1, 0.2]})
    with pytest.raises(BoardError, match=r"org__stranger.*'org/stranger'.*does not list"):
        _board(registry)


def test_half_written_result_is_named(tmp_path):
    registry = two_models(tmp_path)
    path = tmp_path / "results" / "org__better" / "1" / "XQuADR.json"
    path.write_text(path.read_text()[:50])
    with pytest.raises(BoardError, match=rf"{path}: not a readable mteb result"):
        _board(registry)


def test_two_revisions_are_named_unless_the_registry_pins_one(tmp_path):
    registry = two_models(tmp_path)
    write_result(tmp_path, "org/better", "2", "XQuADR", {name: [0.2] * 8 for name in SUBSETS})
    with pytest.raises(BoardError, match=r"two revisions of 'org/better'.*org__better/1.*org__better/2"):
        _board(registry)
    registry.write_text(
        registry_text({"name": "org/hybrid", "is_baseline": True}, {"name": "org/better", "revision": "2"})
    )
    better = next(r for r in _board(registry)["rows"] if r["name"] == "org/better")
    assert better["revision"] == "2" and better["scores"]["XQuADR/mono"] == pytest.approx(0.2)


def test_rows_may_read_another_result_cache(tmp_path):
    registry = two_models(tmp_path)
    write_result(tmp_path / "sweep", "sweep/alpha-1", "local", "XQuADR", {n: [0.25] * 8 for n in SUBSETS})
    registry.write_text(registry.read_text() + '\n[[model]]\nname = "sweep/alpha-1"\nresults = "sweep"\n')
    row = next(r for r in _board(registry)["rows"] if r["name"] == "sweep/alpha-1")
    assert row["scores"]["XQuADR/cross"] == pytest.approx(0.25)
    assert row["diff"]["XQuADR/cross"]["delta"] == pytest.approx(-0.25)


def test_unequal_subsets_are_weighted_to_the_macro_difference(tmp_path):
    base = {"en-en": [0.0] * 2, "de-de": [0.0] * 6}
    other = {"en-en": [1.0, 0.0], "de-de": [1.0] * 6}
    write_result(tmp_path, "org/hybrid", "1", "MLQAR", base)
    write_result(tmp_path, "org/other", "1", "MLQAR", other)
    (tmp_path / "registry.toml").write_text(
        registry_text({"name": "org/hybrid", "is_baseline": True}, {"name": "org/other"})
    )
    board = _board(tmp_path / "registry.toml")
    diff = board["rows"][1]["diff"]["MLQAR/mono"]
    assert diff["delta"] == pytest.approx(np.mean([0.5, 1.0]))  # macro, not the 7/8 of the pooled queries


def _write_scored(root, model, task, subsets, *, schema1=False):
    """A result whose subset ``map`` / ``rank_distance`` are the means of the given per-query lists, with its
    side file (``subsets``: name -> (APs, rank distances or None)); -Adv entries get a robustness too."""
    import gzip
    import json

    from hbt_bench import per_query

    aps = {name: ap for name, (ap, _) in subsets.items()}
    path = write_result(root, model, "1", task, aps, per_query_file=False)
    doc = json.loads(path.read_text())
    for entry in doc["scores"]["test"]:
        _, rd = subsets[entry["hf_subset"]]
        entry.pop("rank_distance", None)
        if rd is not None:
            entry["rank_distance"] = float(np.mean(rd))
        if task.endswith("-Adv"):
            entry["relative_robustness"] = 0.9
    path.write_text(json.dumps(doc))
    qids = {name: [f"{name.split('-')[0]}_{i}" for i in range(len(ap))] for name, (ap, _) in subsets.items()}
    side = {name: (qids[name], ap, None if schema1 else rd) for name, (ap, rd) in subsets.items()}
    data = per_query.encode(task, "rev1", "test", side)
    if schema1:
        body = json.loads(gzip.decompress(data))
        body["schema"] = 1
        data = gzip.compress(json.dumps(body).encode())
    per_query.side_path(path).write_bytes(data)


def _exact_p(d, w):
    """Two-sided sign-flip p-value of sum(w * d), enumerated independently of scipy."""
    import itertools

    d, w = np.asarray(d, dtype=float), np.asarray(w, dtype=float) / np.sum(w)
    obs = abs(np.dot(w, d))
    null = [abs(np.dot(w, np.array(s) * d)) for s in itertools.product((1, -1), repeat=len(d))]
    return float(np.mean(np.array(null) >= obs - 1e-12))


def _registry(root):
    (root / "registry.toml").write_text(
        registry_text({"name": "org/hybrid", "is_baseline": True}, {"name": "org/model"})
    )
    return root / "registry.toml"


BASE_RD = {"en-multi": [10.0, 20.0, 30.0], "de-multi": [40.0, 50.0, 60.0]}


def _subsets(ap, rd=BASE_RD, n=3):
    return {name: ([ap] * n, rd.get(name) if name.endswith("-multi") else None) for name in SUBSETS}


def test_language_bias_is_tested_on_per_query_rank_distances(tmp_path):
    model_rd = {"en-multi": [4.0, 20.0, 27.0], "de-multi": [40.0, 44.0, 60.0]}
    _write_scored(tmp_path, "org/hybrid", "XQuADR", _subsets(0.5))
    _write_scored(tmp_path, "org/model", "XQuADR", _subsets(0.5, model_rd))
    board = _board(_registry(tmp_path))
    row = next(r for r in board["rows"] if r["name"] == "org/model")
    lb = row["diff"]["XQuADR/language_bias"]
    # by hand: per-query RD differences (de-multi, then en-multi: sorted subsets) 0 -6 0 | -6 0 -3, weights
    # 1/6 each: mean -15/6 = -2.5 = the difference of the shown macro RDs (lower is better: model better)
    assert lb["delta"] == pytest.approx(-2.5)
    assert row["scores"]["XQuADR/language_bias"] - 35.0 == pytest.approx(-2.5)
    assert lb["better"] is True and lb["ci"][0] <= -2.5 <= lb["ci"][1]
    # 2^6 sign flips, enumerated exactly by scipy: only the all-same signs of the three non-zero reach |15|
    d = [0, -6, 0, -6, 0, -3]
    assert lb["p"] == pytest.approx(_exact_p(d, [1] * 6)) == pytest.approx(2 / 8)
    # the three mAP columns are equal (p = 1); Holm over the row's four tested columns
    assert [row["diff"][f"XQuADR/{s}"]["p"] for s in ("mono", "cross", "multi")] == pytest.approx([1, 1, 1])
    assert lb["p_holm"] == pytest.approx(min(1.0, 4 * 0.25)) and not lb["significant"]
    assert row["diff"]["XQuADR/mono"]["better"] is None
    assert "rank distance" in board["tests"] and "Not tested: robustness" in board["tests"]


def test_adversarial_columns_are_tested_and_robustness_is_not(tmp_path):
    for model, mono in (("org/hybrid", 0.25), ("org/model", 0.5)):
        subsets = _subsets(0.25, n=6, rd={"en-multi": [1.0] * 6, "de-multi": [2.0] * 6})
        subsets.update({"en-en": ([mono] * 6, None), "de-de": ([mono] * 6, None)})
        _write_scored(tmp_path, model, "XQuADR-Adv", subsets)
    row = next(r for r in _board(_registry(tmp_path))["rows"] if r["name"] == "org/model")
    mono = row["diff"]["XQuADR-Adv/mono"]
    # 12 equal positive differences of 0.25: only 2 of the 2^12 sign patterns reach |0.25| (exact)
    assert mono["delta"] == pytest.approx(0.25) and mono["better"] is True
    assert mono["p"] == pytest.approx(_exact_p([0.25] * 12, [1] * 12)) == pytest.approx(2 / 2**12)
    tested = ("mono", "cross", "multi", "language_bias")
    assert all(row["diff"][f"XQuADR-Adv/{c}"] is not None for c in tested)
    # Holm over the four tested columns: the smallest p times 4, the others (p = 1) stay 1
    assert mono["p_holm"] == pytest.approx(4 * 2 / 2**12) and mono["significant"]
    assert row["diff"]["XQuADR-Adv/language_bias"]["delta"] == 0
    assert row["scores"]["XQuADR-Adv/robustness"] == pytest.approx(0.9)
    assert row["diff"]["XQuADR-Adv/robustness"] is None  # a ratio of means: no per-query form


def test_schema_1_side_files_test_map_but_not_language_bias(tmp_path):
    _write_scored(tmp_path, "org/hybrid", "XQuADR", _subsets(0.5), schema1=True)
    _write_scored(tmp_path, "org/model", "XQuADR", _subsets(0.75))
    row = next(r for r in _board(_registry(tmp_path))["rows"] if r["name"] == "org/model")
    assert row["diff"]["XQuADR/language_bias"] is None  # the baseline's file has no rank distances
    assert row["diff"]["XQuADR/mono"]["delta"] == pytest.approx(0.25)


def test_alpha_sweep_points_come_from_every_sweep_summary(tmp_path):
    """Each run of each training sweep gives one point per setting, language bias and robustness; the seed
    comes from the summary row (multi-seed sweeps) or else from the run's config.toml (older sweeps)."""
    import json

    from hbt_bench.leaderboard.board import _alpha_sweep

    new = tmp_path / "static-ml-mlqar"
    old = tmp_path / "minilm-mlqar"
    (old / "alpha-1").mkdir(parents=True)
    new.mkdir()
    (old / "alpha-1" / "config.toml").write_text("seed = 42\n", encoding="utf-8")
    scores = {"mono": 0.5, "cross": 0.25, "multi": 0.125, "language_bias": 100.0, "n_mono": 2}
    adv = {**scores, "robustness": 0.75}
    (new / "sweep_summary.json").write_text(
        json.dumps(
            {
                "runs": [
                    {
                        "alpha": 0.5,
                        "seed": 43,
                        "run_dir": "alpha-0.5-seed-43",
                        "tasks": {"XQuADR": scores, "XQuADR-Adv": adv},
                    }
                ]
            }
        ),
        encoding="utf-8",
    )
    (old / "sweep_summary.json").write_text(
        json.dumps({"runs": [{"alpha": 1.0, "run_dir": "alpha-1", "tasks": {"XQuADR": scores}}]}),
        encoding="utf-8",
    )
    points = _alpha_sweep(tmp_path)
    got = {(p["base"], p["alpha"], p["seed"], p["metric"]): p["value"] for p in points}
    assert got == {
        ("minilm-mlqar", 1.0, 42, "XQuADR/mono"): 0.5,
        ("minilm-mlqar", 1.0, 42, "XQuADR/cross"): 0.25,
        ("minilm-mlqar", 1.0, 42, "XQuADR/multi"): 0.125,
        ("minilm-mlqar", 1.0, 42, "XQuADR/language_bias"): 100.0,
        ("static-ml-mlqar", 0.5, 43, "XQuADR/mono"): 0.5,
        ("static-ml-mlqar", 0.5, 43, "XQuADR/cross"): 0.25,
        ("static-ml-mlqar", 0.5, 43, "XQuADR/multi"): 0.125,
        ("static-ml-mlqar", 0.5, 43, "XQuADR/language_bias"): 100.0,
        ("static-ml-mlqar", 0.5, 43, "XQuADR-Adv/mono"): 0.5,
        ("static-ml-mlqar", 0.5, 43, "XQuADR-Adv/cross"): 0.25,
        ("static-ml-mlqar", 0.5, 43, "XQuADR-Adv/multi"): 0.125,
        ("static-ml-mlqar", 0.5, 43, "XQuADR-Adv/language_bias"): 100.0,
        ("static-ml-mlqar", 0.5, 43, "XQuADR-Adv/robustness"): 0.75,
    }


@pytest.mark.parametrize("stale", ["revision", "mean"])
def test_a_stale_side_file_is_named_not_tested(tmp_path, stale):
    """A side file that no longer belongs to the result beside it (another dataset revision, or per-query
    means that are not the stored scores) is refused with its path, never silently tested."""
    import gzip
    import json

    from hbt_bench.per_query import PerQueryError, side_path

    registry = two_models(tmp_path)
    result = tmp_path / "results" / "org__better" / "1" / "XQuADR.json"
    side = side_path(result)
    doc = json.loads(gzip.decompress(side.read_bytes()))
    if stale == "revision":
        doc["dataset_revision"] = "rev0"
    else:
        doc["subsets"]["en-en"]["ap"] = [0.5] * 8  # the stored en-en mAP is 1.0
    side.write_bytes(gzip.compress(json.dumps(doc).encode()))
    with pytest.raises(PerQueryError, match=re.escape(str(side)) + ".*stale"):
        _board(registry)
