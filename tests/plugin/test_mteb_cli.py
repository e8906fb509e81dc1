"""``mteb`` itself, in fresh processes, on our tasks: listing, running with a built-in and a local
sentence-transformers model, and the adversarial task under mteb's language filter.

The tests share one session fixture (tests/plugin/conftest.py: four CLI processes, minutes on two cores);
they live in one file so that pytest-xdist's ``--dist loadfile`` runs that fixture on one worker only.
"""

from __future__ import annotations

import json

import mteb
import pytest


def test_mteb_cli_lists_and_runs_the_tasks(mteb_cli):
    listed = mteb_cli.listed
    assert listed.returncode == 0, listed.stderr
    assert "XQuADR" in listed.stdout and "MLQAR" in listed.stdout

    run = mteb_cli.hash_run  # mteb run -t XQuADR MLQAR -m hbt-bench/hash-ngram, fresh process
    assert run.returncode == 0, run.stderr[-3000:]
    results = mteb.ResultCache(mteb_cli.hash_out).load_results(tasks=mteb.get_benchmark("HBT"))
    [model_result] = list(results)
    assert {tr.task_name for tr in model_result.task_results} == {"XQuADR", "MLQAR"}
    assert {len(tr.scores["test"]) for tr in model_result.task_results} == {132, 56}
    scores = mteb.get_benchmark("HBT").get_score(results)["hbt-bench/hash-ngram"]
    for key in ("XQuADR::Mono", "XQuADR::Cross", "XQuADR::Multi", "MLQAR::Mono", "MLQAR::LanguageBias"):
        assert scores[key] is not None, key
    assert scores["XQuADR::Mono"] > scores["XQuADR::Cross"]  # a lexical model is no cross-lingual model
    assert scores["XQuADR::LanguageBias"] > 100


def test_mteb_run_with_a_local_sentence_transformers_dir(mteb_cli):
    run = mteb_cli.st_run  # mteb run -t XQuADR -m <tiny sentence-transformers dir>, fresh process
    assert run.returncode == 0, run.stderr[-3000:]
    [path] = list(mteb_cli.st_out.rglob("XQuADR.json"))
    assert path.parent.parent.name == "local__tiny-st"


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
