"""Runs as TREC run files (``qid Q0 docid rank score tag``), the format trec_eval and ir_measures read.

Lines are written per query in the order of the run's ranking (rank 1 first), the query order of the run
dict kept. Ids with whitespace cannot be written (the format is whitespace-separated): refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hbt_bench.atomic import atomic_writer
from hbt_bench.scale.errors import ScaleError

__all__ = ["write_trec_run"]


def _check_id(value: str, what: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise ScaleError(f"{what} {value!r} cannot be written to a TREC run (empty or contains whitespace)")
    return value


def write_trec_run(run: Mapping[str, Mapping[str, float]], path: str | Path, tag: str = "hbt-bench") -> Path:
    """Write ``run`` (``{qid: {docid: score}}``, each row already in rank order) to ``path`` atomically."""
    _check_id(tag, "run tag")
    with atomic_writer(path, "w") as handle:
        for qid, row in run.items():
            _check_id(qid, "query id")
            for rank, (docid, score) in enumerate(row.items(), start=1):
                handle.write(f"{qid} Q0 {_check_id(docid, 'passage id')} {rank} {score!r} {tag}\n")
    return Path(path)
