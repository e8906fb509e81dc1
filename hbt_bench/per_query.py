"""Per-query score side files: what the leaderboard's paired significance tests need, next to mteb's result.

mteb's ``<Task>.json`` keeps only each subset's mean; a paired test over queries needs the score of every
query. The LAReQA tasks record each subset's per-query AP, and in the pooled ``X-multi`` subsets each query's
rank distance (the language-bias measure), while they score (:func:`record`); the results writer turns a
TaskResult whose subsets all have a matching record into ``<Task>.per_query.json.gz`` in the same folder
(:func:`side_file_bytes`), written under the same lock, each file atomically. A record is used only if its
means equal the stored subset ``map`` (and ``rank_distance`` where it has one), so a record of another model
(same task, same process) is never written beside the wrong result.

An ``-Adv`` task's per-query values are combined like its stored scores (each query's AP / rank distance
averaged over the core recipes, :func:`mean_of`), so their mean is again the stored subset score.

File: gzip (mtime 0, deterministic) of JSON ``{"schema": 2, "task", "dataset_revision", "split",
"measure": "ap", "subsets": {name: {"query_ids": [...], "ap": [...], "rank_distance": [...]}}}``;
``rank_distance`` only in the subsets that have it (schema 1 files, AP only, are still read); queries in the
order the task ranks them (relevance order), values as float64 ``repr`` (exact).
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hbt_bench.errors import HbtBenchError

__all__ = [
    "MEASURE_KEYS",
    "SUFFIX",
    "PerQueryError",
    "QueryScores",
    "check_matches_result",
    "clear",
    "decode",
    "encode",
    "mean_of",
    "record",
    "side_file_bytes",
    "side_path",
]

SUFFIX = ".per_query.json.gz"
SCHEMA = 2
#: Schemas :func:`decode` reads (1: AP only).
READABLE_SCHEMAS = (1, 2)
#: Side-file field -> the mteb score key it is the per-query form of (its mean is that subset score).
MEASURE_KEYS = {"ap": "map", "rank_distance": "rank_distance"}
#: Relative tolerance between a record's mean and the stored score (same float64 values, summed in order).
_TOL = 1e-12


class QueryScores(NamedTuple):
    """One subset's per-query scores, aligned with ``query_ids``; ``rank_distance`` only where the subset
    reports language bias (pooled ``X-multi``)."""

    query_ids: Sequence[str]
    ap: Sequence[float]
    rank_distance: Sequence[float] | None = None


# (task name, dataset revision) -> subset -> its scores. Process-wide: mteb hands the writer a TaskResult,
# not the task object that scored it.
_RECORDS: dict[tuple[str, str], dict[str, QueryScores]] = {}


class PerQueryError(HbtBenchError):
    """A per-query side file is unreadable or inconsistent (named in the message)."""


def _checked(what: str, scores: QueryScores) -> QueryScores:
    """Plain tuples/floats, every list as long as ``query_ids`` (else ValueError naming ``what``)."""
    n = len(scores.query_ids)
    rd = scores.rank_distance
    if len(scores.ap) != n or (rd is not None and len(rd) != n):
        lengths = f"{len(scores.ap)} APs" + ("" if rd is None else f", {len(rd)} rank distances")
        raise ValueError(f"{what}: {n} query ids but {lengths}")
    return QueryScores(
        tuple(scores.query_ids),
        tuple(float(x) for x in scores.ap),
        None if rd is None else tuple(float(x) for x in rd),
    )


def record(
    task: str,
    revision: str,
    subset: str,
    query_ids: Sequence[str],
    ap: Sequence[float],
    rank_distance: Sequence[float] | None = None,
) -> None:
    """Keep one subset's per-query scores until the results writer asks for them."""
    scores = _checked(f"{task} {subset}", QueryScores(query_ids, ap, rank_distance))
    _RECORDS.setdefault((task, revision), {})[subset] = scores


def mean_of(parts: Sequence[QueryScores], *, what: str = "per-query scores") -> QueryScores:
    """Each query's mean over ``parts`` (e.g. an -Adv subset's core recipes), so that the mean over queries
    is the mean of the parts' means, as :func:`hbt_bench.adversarial.scoring.combine_adversarial` stores it.
    The parts must score the same queries in the same order; rank distance is kept only if every part has it.
    """
    if not parts:
        raise ValueError(f"{what}: nothing to average")
    ids = list(parts[0].query_ids)
    for part in parts[1:]:
        if list(part.query_ids) != ids:
            raise ValueError(f"{what}: the parts score different queries; cannot average them per query")
    ap = np.mean([np.asarray(p.ap, dtype=np.float64) for p in parts], axis=0)
    rd = None
    if all(p.rank_distance is not None for p in parts):
        rd = np.mean([np.asarray(p.rank_distance, dtype=np.float64) for p in parts], axis=0).tolist()
    return QueryScores(ids, ap.tolist(), rd)


def clear() -> None:
    """Forget every record (tests)."""
    _RECORDS.clear()


def side_path(result_file: str | Path) -> Path:
    """``<folder>/<Task>.per_query.json.gz`` beside ``<folder>/<Task>.json``."""
    result_file = Path(result_file)
    return result_file.with_name(result_file.name.removesuffix(".json") + SUFFIX)


def _matches(values: Sequence[float], stored: Any) -> bool:
    if not isinstance(stored, (int, float)) or isinstance(stored, bool) or not values:
        return False
    return math.isclose(math.fsum(values) / len(values), float(stored), rel_tol=_TOL, abs_tol=_TOL)


def _record_matches(scores: QueryScores, entry: Mapping[str, Any]) -> bool:
    """The record's means are the entry's scores (rank distance: where the record has it)."""
    if not _matches(scores.ap, entry.get("map")):
        return False
    return scores.rank_distance is None or _matches(scores.rank_distance, entry.get("rank_distance"))


def encode(task: str, revision: str, split: str, subsets: Mapping[str, Sequence[Any]]) -> bytes:
    """The side file's bytes (deterministic: sorted subsets, gzip mtime 0). A subset's value is a
    :class:`QueryScores` or a ``(query_ids, ap[, rank_distance])`` tuple."""
    body: dict[str, dict[str, list]] = {}
    for name, value in sorted(subsets.items()):
        scores = _checked(f"{task} {name}", QueryScores(*value))
        body[name] = {"query_ids": list(scores.query_ids), "ap": list(scores.ap)}
        if scores.rank_distance is not None:
            body[name]["rank_distance"] = list(scores.rank_distance)
    doc = {
        "schema": SCHEMA,
        "task": task,
        "dataset_revision": revision,
        "split": split,
        "measure": "ap",
        "subsets": body,
    }
    return gzip.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8"), mtime=0)


def side_file_bytes(result: Any) -> bytes | None:
    """The side file of an mteb TaskResult when every subset of its (single) split has a matching record."""
    found = _RECORDS.get((result.task_name, result.dataset_revision))
    if not found or len(result.scores) != 1:
        return None
    [(split, entries)] = result.scores.items()
    subsets = {}
    for entry in entries:
        rec = found.get(entry.get("hf_subset"))
        if rec is None or not _record_matches(rec, entry):
            return None
        subsets[entry["hf_subset"]] = rec
    return encode(result.task_name, result.dataset_revision, split, subsets) if subsets else None


def check_matches_result(
    doc: Mapping[str, Any], revision: Any, entries: Mapping[str, Mapping[str, Any]], path: str | Path
) -> None:
    """Raise :class:`PerQueryError` naming ``path`` unless the decoded side file ``doc`` belongs to the result
    beside it: the same dataset revision, and every subset's per-query means equal to the stored ``map`` /
    ``rank_distance`` (mteb rounds stored scores to 6 decimals). A side file left behind by an earlier run of
    another revision, or beside a result re-saved without one, would otherwise test numbers that no longer
    stand behind the board's values."""
    if doc.get("dataset_revision") != revision:
        raise PerQueryError(
            f"{path}: per-query file of dataset revision {doc.get('dataset_revision')!r} beside a result of "
            f"{revision!r} (stale); re-run the evaluation or move it away"
        )
    for name, sub in doc["subsets"].items():
        entry = entries.get(name)
        if entry is None:
            raise PerQueryError(f"{path}: subset {name!r} is not in the result beside it (stale)")
        for key, stored_key in MEASURE_KEYS.items():
            values = sub.get(key)
            if values is None or stored_key not in entry or not values:
                continue
            mean, stored = math.fsum(values) / len(values), float(entry[stored_key])
            if abs(mean - stored) > 1e-6 + 1e-9 * abs(stored):
                raise PerQueryError(
                    f"{path}: subset {name!r}: the mean {key} {mean:.6f} is not the stored {stored_key} "
                    f"{stored:.6f} (stale); re-run the evaluation or move it away"
                )


def decode(path: str | Path) -> dict[str, Any]:
    """Read a side file: ``{"schema", "task", "dataset_revision", "split", "subsets": {name: {"query_ids",
    "ap"[, "rank_distance"]}}}`` (schema 1 files have no ``rank_distance``)."""
    path = Path(path)
    try:
        doc = json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))
    except (OSError, EOFError, ValueError) as exc:
        raise PerQueryError(
            f"{path}: not a readable per-query file ({exc}); rebuild it or move it away"
        ) from exc
    if (
        not isinstance(doc, dict)
        or doc.get("schema") not in READABLE_SCHEMAS
        or not isinstance(doc.get("subsets"), dict)
    ):
        schemas = " or ".join(str(s) for s in READABLE_SCHEMAS)
        raise PerQueryError(f"{path}: not a per-query file of schema {schemas}")
    for name, sub in doc["subsets"].items():
        if not isinstance(sub, dict) or not all(isinstance(sub.get(k), list) for k in ("query_ids", "ap")):
            raise PerQueryError(f"{path}: subset {name!r} lacks its query_ids or ap list")
        n = len(sub["query_ids"])
        for key in MEASURE_KEYS:
            if key in sub and (not isinstance(sub[key], list) or len(sub[key]) != n):
                raise PerQueryError(
                    f"{path}: subset {name!r} has {n} query_ids but a {key} list of another length"
                )
    return doc
