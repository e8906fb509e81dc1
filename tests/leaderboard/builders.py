"""Tiny results folders for the leaderboard tests (imported by tests, not collected)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hbt_bench import per_query

LANGS = ("en", "de")
SUBSETS = ("en-en", "en-de", "de-de", "de-en", "en-multi", "de-multi")
TASKS = {"XQuADR": "clean", "MLQAR": "clean", "XQuADR-Adv": "adversarial", "MLQAR-Adv": "adversarial"}


def write_result(
    root: Path,
    model: str,
    revision: str,
    task: str,
    aps: Mapping[str, Sequence[float]],
    *,
    per_query_file: bool = True,
) -> Path:
    """``root/results/<model>/<revision>/<task>.json`` with subset mAPs = the means of ``aps``."""
    folder = root / "results" / model.replace("/", "__") / revision
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_meta.json").write_text(json.dumps({"name": model, "revision": revision}))
    qids = {name: [f"{name.split('-')[0]}_{i}" for i in range(len(v))] for name, v in aps.items()}
    entries = []
    for name, values in aps.items():
        entry = {"hf_subset": name, "map": float(np.mean(values)), "main_score": float(np.mean(values))}
        if name.endswith("-multi"):
            entry["rank_distance"] = 100.0 * len(values)
        entries.append(entry)
    doc = {
        "dataset_revision": "rev1",
        "task_name": task,
        "mteb_version": "2.26.24",
        "scores": {"test": entries},
    }
    path = folder / f"{task}.json"
    path.write_text(json.dumps(doc))
    if per_query_file:
        data = per_query.encode(task, "rev1", "test", {n: (qids[n], list(v)) for n, v in aps.items()})
        per_query.side_path(path).write_bytes(data)
    return path


def registry_text(*rows: Mapping[str, object]) -> str:
    out = []
    for row in rows:
        out.append("[[model]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in row.items()))
    return "\n".join(out)


def two_models(root: Path, *, per_query_file: bool = True) -> Path:
    """A baseline (all APs 0.5) and a better model (en-en all 1.0, the rest equal); returns the registry."""
    base = {name: [0.5] * 8 for name in SUBSETS}
    better = {**base, "en-en": [1.0] * 8}
    write_result(root, "org/hybrid", "1", "XQuADR", base, per_query_file=per_query_file)
    write_result(root, "org/better", "1", "XQuADR", better, per_query_file=per_query_file)
    registry = root / "registry.toml"
    registry.write_text(
        registry_text({"name": "org/hybrid", "is_baseline": True, "label": "Hybrid"}, {"name": "org/better"})
    )
    return registry
