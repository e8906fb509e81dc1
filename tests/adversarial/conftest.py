"""Fixtures shared by the perturbation-set tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def textattack():
    """TextAttack, imported the project's way; the test skips (naming the fix) where it is not installed."""
    from hbt_bench.adversarial.textattack_adapter import TextAttackUnavailable, import_textattack

    try:
        return import_textattack()
    except TextAttackUnavailable as exc:
        pytest.skip(f"TextAttack is not installed (`make attack-deps`): {exc}")
