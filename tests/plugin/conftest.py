"""The fresh-process ``mteb`` CLI runs, shared by the tests that assert on them.

Each ``mteb run`` pays the interpreter start, ``import mteb`` with our registration and the data loading,
and its tasks share one process-wide embedding store per model: one run of ``-t XQuADR MLQAR
-m hbt-bench/hash-ngram`` serves the CLI tests (all in test_mteb_cli.py, so that pytest-xdist's
``--dist loadfile`` builds this fixture on one worker only). ``mteb run`` takes one ``-m`` model, so
the local sentence-transformers directory gets a second run, and ``-t XQuADR-Adv -l tha deu`` (mteb's
language filter reduces our tasks to those languages) a third; they and ``mteb available-tasks`` run side
by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import build_tiny_st_model

MTEB = shutil.which("mteb", path=str(Path(sys.executable).parent))


@dataclass(frozen=True)
class MtebCliRuns:
    """What the shared CLI processes returned and where they wrote."""

    listed: subprocess.CompletedProcess  # mteb available-tasks -t XQuADR MLQAR
    hash_run: subprocess.CompletedProcess  # mteb run -t XQuADR MLQAR -m hbt-bench/hash-ngram
    hash_out: Path
    adv_run: subprocess.CompletedProcess  # mteb run -t XQuADR-Adv -l tha deu -m hbt-bench/hash-ngram
    adv_out: Path
    st_run: subprocess.CompletedProcess  # mteb run -t XQuADR -m <tiny sentence-transformers dir>
    st_out: Path


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env}
    )


def _finish(proc: subprocess.Popen, timeout: int = 1800) -> subprocess.CompletedProcess:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture(scope="session")
def mteb_cli(shared_data, tmp_path_factory) -> MtebCliRuns:
    """Run the CLI processes once per session (they take minutes on two cores)."""
    if MTEB is None:
        pytest.skip("the mteb console script is not installed next to this Python")
    from hbt_bench.adversarial.build import build_set, write_set
    from hbt_bench.data.lareqa import load_lareqa
    from tests.adversarial.test_perturbation_sets import RECIPES, fake_perturb

    root = tmp_path_factory.mktemp("mteb_cli")
    # A two-recipe set served through HBT_BENCH_PERTURBATIONS_DIR keeps XQuADR-Adv fast; the shipped v2
    # set goes through the same code (and is verified in tests/adversarial/test_perturbation_sets.py).
    corpus = load_lareqa("xquad-r", data_dir=shared_data)
    write_set(build_set("xquad-r", "v2", RECIPES[:2], corpus=corpus, perturb=fake_perturb), root / "sets")
    model_dir = build_tiny_st_model(root / "tiny-st")
    env = {
        "HBT_BENCH_DATA_DIR": str(shared_data),
        "HBT_BENCH_PERTURBATIONS_DIR": str(root / "sets"),
        "HF_HUB_OFFLINE": "1",
    }
    hash_out, st_out, adv_out = root / "hash-out", root / "st-out", root / "adv-out"
    hash_args = ["-t", "XQuADR", "MLQAR", "-m", "hbt-bench/hash-ngram"]
    adv_args = ["-t", "XQuADR-Adv", "-l", "tha", "deu", "-m", "hbt-bench/hash-ngram"]
    st_args = ["-t", "XQuADR", "-m", str(model_dir), "--batch-size", "256"]
    procs = [
        _start([MTEB, "available-tasks", "-t", "XQuADR", "MLQAR"], {}),
        _start([MTEB, "run", *hash_args, "--output-folder", str(hash_out), "--no-co2-tracker"], env),
        _start([MTEB, "run", *st_args, "--output-folder", str(st_out), "--no-co2-tracker"], env),
        _start([MTEB, "run", *adv_args, "--output-folder", str(adv_out), "--no-co2-tracker"], env),
    ]
    listed, hash_run, st_run, adv_run = (_finish(p) for p in procs)
    return MtebCliRuns(listed, hash_run, hash_out, adv_run, adv_out, st_run, st_out)
