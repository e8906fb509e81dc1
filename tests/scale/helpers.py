"""Deterministic stub encoders and corpus writers for the scale tests (no mteb, no model files)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hbt_bench.encoders import HashNgramEncoder


class CountingEncoder:
    """A :class:`~hbt_bench.scale.shards.ShardEncoder` counting its calls; it dies on call ``fail_on``."""

    def __init__(
        self,
        *,
        model_name: str = "test/hash",
        revision: str = "r1",
        prompt: str = "",
        dim: int = 64,
        fail_on: int | None = None,
        table: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self.model_name, self.revision, self.spec, self.prompt = model_name, revision, None, prompt
        self.inner = HashNgramEncoder(dim=dim)
        self.calls = 0
        self.fail_on = fail_on
        self.table = table

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise RuntimeError(f"simulated kill on call {self.calls}")
        if self.table is not None:
            return np.asarray([self.table[t] for t in texts], dtype=np.float32)
        return self.inner.encode([self.prompt + t for t in texts])


def write_corpus(path: Path, records: Sequence[Mapping[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def passages(n: int, prefix: str = "p") -> list[dict[str, str]]:
    return [
        {"id": f"{prefix}{i}", "text": f"passage {i} on topic {i % 7} and word{i % 11}"} for i in range(n)
    ]
