"""Fixtures shared by the targeted-attack tests: one hash-ngram model and one attack run per session.

hash-ngram is deterministic and instant, so every figure can be recomputed independently: the ranks and
APs of the returned texts, the counts, the files. Import cost dominates (TextAttack ~9 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.attacks.helpers import PARAMS, SUBSETS


@pytest.fixture(scope="session")
def hash_model() -> Any:
    """One model object for the session: its EmbeddingStore (candidates encoded once) is shared."""
    import mteb  # noqa: F401  (before hbt_bench.plugin: the autoload hook registers our tasks then)

    from hbt_bench.encoders import load_model
    from hbt_bench.plugin.models import to_mteb_model

    return to_mteb_model(load_model("builtin:hash-ngram"))


@pytest.fixture(scope="session")
def report(hash_model: Any, shared_data: Path) -> Any:
    from hbt_bench.attacks.run import run_targeted_attack

    return run_targeted_attack(hash_model, "XQuADR", PARAMS, subsets=SUBSETS, data_dir=shared_data)


@pytest.fixture(scope="session")
def evaluator(shared_data: Path) -> Any:
    from hbt_bench.data.lareqa import load_lareqa
    from hbt_bench.evaluate import LareqaEvaluator

    return LareqaEvaluator(load_lareqa("xquad-r", data_dir=shared_data))
