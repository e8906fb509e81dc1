"""Shared pytest fixtures. Nothing here is autouse and nothing changes global state."""

from __future__ import annotations

from pathlib import Path

import pytest

# The real data sits next to the checkout (``<repo>/../shared/data``), laid out like HBT_BENCH_DATA_DIR.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real data dir (``xquad-r/ar.json``, ...); skips the test when it is absent."""
    if not all((SHARED_DATA / name).is_dir() for name in ("xquad-r", "mlqa-r")):
        pytest.skip(
            f"real data not found at {SHARED_DATA} (expected <repo>/../shared/data with xquad-r/ and mlqa-r/)"
        )
    return SHARED_DATA
