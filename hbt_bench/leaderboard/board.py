"""The board document (``board.json``; contract in the site's module docstring): registry + stored results +
per-query side files + the paper's rows -> one JSON-able dict that the tables and the site render.

Every input is checked before anything is built, with the file named: a result file of an unknown task,
a model in the results folder that the registry lacks, an unreadable (half-written) result file, two stored
revisions of one model that the registry does not choose between.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from hbt_bench.errors import HbtBenchError
from hbt_bench.leaderboard.registry import Registry, Row
from hbt_bench.leaderboard.stats import ALPHA, TEST_DESCRIPTION, TestCache, holm
from hbt_bench.per_query import check_matches_result, decode, side_path

__all__ = ["BoardError", "build_board", "known_tasks", "read_result", "scan_results"]

SCHEMA = 1
CLEAN = ("XQuADR", "MLQAR")
ADV = ("XQuADR-Adv", "MLQAR-Adv")
SETTINGS = ("mono", "cross", "multi")
DOMAIN_SHIFT_BENCHMARK = "HBT-DomainShift"
_NOT_RESULTS = ("model_meta.json",)


class BoardError(HbtBenchError):
    """Bad leaderboard input; the message names the file."""


def known_tasks() -> dict[str, str]:
    """``{task name: group}`` of every task the board understands (the domain-shift benchmark's tasks when
    it is registered)."""
    from hbt_bench.plugin.benchmark import ALL_TASKS, is_adversarial

    tasks = {
        c.metadata.name: "adversarial" if is_adversarial(c.metadata.name) else "clean" for c in ALL_TASKS
    }
    try:
        import mteb

        from hbt_bench.plugin.register import register

        register()
        for task in mteb.get_benchmark(DOMAIN_SHIFT_BENCHMARK).tasks:
            tasks.setdefault(task.metadata.name, "domain-shift")
    except (KeyError, ValueError, ImportError):
        pass  # not registered yet
    return tasks


def read_result(path: Path) -> dict[str, Any]:
    """A stored mteb result file, checked enough to build from: ``{subset: score dict}`` plus its header."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BoardError(f"{path}: not a readable mteb result (half-written or damaged? {exc})") from exc
    scores = doc.get("scores") if isinstance(doc, dict) else None
    if not isinstance(scores, dict) or len(scores) != 1:
        raise BoardError(f"{path}: not an mteb result with one split ('scores' missing or malformed)")
    [entries] = scores.values()
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "hf_subset" in e for e in entries):
        raise BoardError(f"{path}: its scores are not a list of subset score dicts")
    if doc.get("task_name") != path.stem:
        raise BoardError(f"{path}: holds task {doc.get('task_name')!r}, not {path.stem!r} as its name says")
    return {"revision": doc.get("dataset_revision"), "subsets": {e["hf_subset"]: e for e in entries}}


def _model_name(folder: Path) -> str:
    try:
        name = json.loads((folder / "model_meta.json").read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    return name if isinstance(name, str) else folder.parent.name.replace("__", "/", 1)


def scan_results(root: Path) -> dict[str, dict[str, Path]]:
    """``{model name: {revision: folder}}`` of a ResultCache root (``<root>/results/<model>/<revision>/``)."""
    found: dict[str, dict[str, Path]] = {}
    results = root / "results"
    for model_dir in sorted(p for p in results.iterdir() if p.is_dir()) if results.is_dir() else ():
        for rev_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            found.setdefault(_model_name(rev_dir), {})[rev_dir.name] = rev_dir
    return found


def _row_folder(row: Row, models: Mapping[str, Mapping[str, Path]]) -> Path | None:
    revisions = models.get(row.name, {})
    if row.revision is not None:
        if row.revision not in revisions and revisions:
            raise BoardError(
                f"{row.results_root / 'results'}: model {row.name!r} has revision(s) "
                f"{', '.join(sorted(revisions))} but the registry pins {row.revision!r}"
            )
        return revisions.get(row.revision)
    if len(revisions) > 1:
        raise BoardError(
            f"two revisions of {row.name!r} stored: {', '.join(str(p) for p in revisions.values())}; set "
            "`revision` in its registry row to choose one (or move the other away)"
        )
    return next(iter(revisions.values()), None)


def _load_row_results(folder: Path, tasks: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(folder.glob("*.json")):
        if path.name in _NOT_RESULTS:
            continue
        if path.stem not in tasks:
            raise BoardError(f"{path}: result file of unknown task {path.stem!r} (known: {', '.join(tasks)})")
        out[path.stem] = result = read_result(path)
        pq = side_path(path)
        doc = decode(pq) if pq.is_file() else None
        if doc is not None:
            check_matches_result(doc, result["revision"], result["subsets"], pq)
        result["per_query"] = doc["subsets"] if doc is not None else None
    return out


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _setting(subset: str) -> str:
    query, _, target = subset.partition("-")
    return "multi" if target == "multi" else "mono" if query == target else "cross"


def _task_scores(task: str, group: str, subsets: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Column id -> value for one task's result (macro over subsets, as setting_scores)."""
    out: dict[str, float | None] = {}
    if group == "domain-shift":
        return {
            f"{task}/main": _mean([float(s["main_score"]) for s in subsets.values() if "main_score" in s])
        }
    for setting in SETTINGS:
        out[f"{task}/{setting}"] = _mean(
            [float(s["map"]) for n, s in subsets.items() if _setting(n) == setting]
        )
    out[f"{task}/language_bias"] = _mean(
        [
            float(s["rank_distance"])
            for n, s in subsets.items()
            if _setting(n) == "multi" and "rank_distance" in s
        ]
    )
    if group == "adversarial":
        out[f"{task}/robustness"] = _mean([float(s["relative_robustness"]) for s in subsets.values()])
    return out


def _column(cid: str, group: str) -> dict[str, Any]:
    task, _, what = cid.partition("/")
    metric = {"language_bias": "rank_distance", "robustness": "relative_robustness"}.get(what, what)
    if what in SETTINGS:
        metric = "map"
    label = {
        "language_bias": f"{task} language bias (RD)",
        "robustness": f"{task} robustness",
        "main": f"{task} main score",
    }.get(what, f"{task} {what} mAP" if what in SETTINGS else f"{task} {what}")
    return {
        "id": cid,
        "task": task,
        "setting": what,
        "metric": metric,
        "label": label,
        "group": group,
        "higher_is_better": what != "language_bias",
    }


#: Column setting -> (subsets' setting, side-file field whose per-query values the column is the macro mean
#: of). Other columns (robustness, domain shift) have no per-query form and are never tested.
TESTED = {
    **{setting: (setting, "ap") for setting in SETTINGS},
    "language_bias": ("multi", "rank_distance"),
}


def _paired_vectors(
    mine: Mapping[str, Any], base: Mapping[str, Any], setting: str, field: str = "ap"
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Both sides' per-query ``field`` values of a setting's subsets, aligned by (subset, query id), with the
    weights that make the weighted mean the macro mean; ``None`` when the two sides do not cover the same
    queries or a subset lacks the field on a side (e.g. rank distances in a schema-1 file)."""
    names = sorted(n for n in mine if _setting(n) == setting)
    if not names or names != sorted(n for n in base if _setting(n) == setting):
        return None
    xs, ys, ws = [], [], []
    for name in names:
        a, b = mine[name], base[name]
        if field not in a or field not in b:
            return None
        b_values = b[field]
        if list(a["query_ids"]) != list(b["query_ids"]):
            index = {q: i for i, q in enumerate(b["query_ids"])}
            if set(index) != set(a["query_ids"]):
                return None
            b_values = [b_values[index[q]] for q in a["query_ids"]]
        n = len(a[field])
        xs.append(np.asarray(a[field], dtype=np.float64))
        ys.append(np.asarray(b_values, dtype=np.float64))
        ws.append(np.full(n, 1.0 / (len(names) * n)))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def _diffs(
    row: Mapping[str, Any],
    base: Mapping[str, Any],
    row_res: Mapping[str, Any],
    base_res: Mapping[str, Any],
    cache: TestCache,
) -> dict[str, Any]:
    """Per column: paired test against the baseline where both sides have the column's per-query values (mAP
    and -Adv mAP columns: AP; language bias: rank distance), else ``None``. ``delta`` and ``ci`` are model
    minus baseline in the column's unit; ``better`` says whether that favours the model (lower is better
    for language bias), None for no difference. The test is two-sided, so direction does not change p."""
    tested: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for cid, value in row["scores"].items():
        out[cid] = None
        task, _, what = cid.partition("/")
        if value is None or base["scores"].get(cid) is None or what not in TESTED:
            continue
        mine, theirs = row_res.get(task, {}).get("per_query"), base_res.get(task, {}).get("per_query")
        if not mine or not theirs:
            continue
        vectors = _paired_vectors(mine, theirs, *TESTED[what])
        if vectors is not None:
            tested[cid] = cache.test(*vectors)
    adjusted = holm([r.p for r in tested.values()]) if tested else []
    for (cid, res), p_holm in zip(tested.items(), adjusted, strict=True):
        higher_is_better = _column(cid, "")["higher_is_better"]
        out[cid] = {
            "delta": res.delta,
            "ci": list(res.ci),
            "p": res.p,
            "p_holm": p_holm,
            "significant": bool(p_holm < ALPHA),
            "better": None if res.delta == 0 else bool((res.delta > 0) == higher_is_better),
        }
    return out


def _heatmaps(row_id: str, results: Mapping[str, Any]) -> list[dict[str, Any]]:
    maps = []
    for task in CLEAN:
        subsets = results.get(task, {}).get("subsets")
        if not subsets:
            continue
        langs = list(dict.fromkeys(n.partition("-")[0] for n in subsets))
        values = [[subsets.get(f"{q}-{c}", {}).get("map") for c in langs] for q in langs]
        maps.append({"row": row_id, "task": task, "languages": langs, "values": values})
    return maps


def _strength(label: str) -> float | None:
    if label.endswith("pct") and label[:-3].isdigit():
        return int(label[:-3]) / 100
    return 1.0 if label == "all" else None


def _robustness(row_id: str, results: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    prefix = "perturbed_fraction_"
    for task in ADV:
        subsets = results.get(task, {}).get("subsets")
        if not subsets:
            continue
        recipes = sorted({k[len(prefix) :] for s in subsets.values() for k in s if k.startswith(prefix)})
        for rid in recipes:
            having = [s for s in subsets.values() if f"map_{rid}" in s]
            recipe, _, strength = rid.partition("@")
            out.append(
                {
                    "row": row_id,
                    "task": task,
                    "recipe": recipe,
                    "strength": _strength(strength),
                    "strength_label": strength or None,
                    "map": _mean([float(s[f"map_{rid}"]) for s in having]),
                    "clean_map": _mean([float(s["clean_map"]) for s in having if "clean_map" in s]),
                }
            )
    return out


def _alpha_sweep(training: Path) -> list[dict[str, Any]]:
    out = []
    for summary in sorted(training.glob("*/sweep_summary.json")) if training.is_dir() else ():
        try:
            doc = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BoardError(f"{summary}: not readable JSON ({exc})") from exc
        for run in doc.get("runs", []):
            seed = run.get("seed")  # sweeps since --seeds record it; older ones only in the run's config
            config = summary.parent / str(run.get("run_dir", "")) / "config.toml"
            if seed is None and config.is_file():
                seed = tomllib.loads(config.read_text(encoding="utf-8")).get("seed")
            for task, values in (run.get("tasks") or {}).items():
                for key in (*SETTINGS, "language_bias", "robustness"):
                    if isinstance(values, dict) and isinstance(values.get(key), (int, float)):
                        out.append(
                            {
                                "base": summary.parent.name,
                                "alpha": run.get("alpha"),
                                "seed": seed,
                                "metric": f"{task}/{key}",
                                "value": float(values[key]),
                            }
                        )
    return out


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def build_board(
    registry: Registry,
    *,
    reported: Sequence[Mapping[str, Any]] = (),
    results_label: str = "leaderboard/results",
    training_dir: Path | None = None,
    tasks: Mapping[str, str] | None = None,
    test_cache: TestCache | None = None,
) -> dict[str, Any]:
    """The board document from a loaded registry (its rows' ResultCache roots) and the reported rows;
    paired tests come from ``test_cache`` where it holds them (and are added to it)."""
    from hbt_bench.version import __version__

    tasks = dict(tasks) if tasks is not None else known_tasks()
    scanned: dict[Path, dict[str, dict[str, Path]]] = {}
    for row in registry.rows:
        if row.results_root not in scanned:
            scanned[row.results_root] = scan_results(row.results_root)
    if registry.default_root not in scanned:
        scanned[registry.default_root] = scan_results(registry.default_root)
    for name, revisions in scanned[registry.default_root].items():
        if registry.row(name) is None:
            folder = next(iter(revisions.values()))
            raise BoardError(
                f"{folder}: results of model {name!r}, which {registry.path} does not list; add a "
                "[[model]] row for it (hbt-bench leaderboard add does) or move the folder away"
            )
    rows, loaded, columns_seen = [], {}, {}
    for reg in registry.rows:
        folder = _row_folder(reg, scanned[reg.results_root])
        res = _load_row_results(folder, tasks) if folder is not None else {}
        revision = folder.name if folder is not None else reg.revision
        scores: dict[str, float | None] = {}
        for task, r in res.items():
            for cid, v in _task_scores(task, tasks[task], r["subsets"]).items():
                scores[cid] = v
                columns_seen[cid] = tasks[task]
        row_id = f"{reg.name}@{revision}" if revision else reg.name
        loaded[row_id] = res
        rows.append(
            {
                "id": row_id,
                "name": reg.name,
                "label": reg.label or reg.name,
                "revision": revision,
                "kind": "measured",
                "is_baseline": reg.is_baseline,
                "trained_here": reg.trained_here,
                "config": reg.config,
                "group": reg.group,
                "spec": reg.spec,
                "description": reg.description,
                "n_parameters": reg.n_parameters,
                "license": reg.license,
                "training_data": reg.training_data,
                "scores": scores,
                "diff": None,
            }
        )
    for rep in reported:
        for cid in rep["scores"]:
            task = cid.partition("/")[0]
            columns_seen.setdefault(cid, tasks.get(task, "domain-shift"))
    base = next((r for r in rows if r["is_baseline"]), None)
    cache = test_cache if test_cache is not None else TestCache()
    for row in rows:
        if base is not None and row is not base:
            row["diff"] = _diffs(row, base, loaded[row["id"]], loaded[base["id"]], cache)
    for rep in reported:
        rows.append(
            {
                "id": rep["id"],
                "name": rep.get("name", rep["id"]),
                "label": rep.get("name", rep["id"]),
                "revision": None,
                "kind": "reported",
                "is_baseline": False,
                "trained_here": False,
                "spec": None,
                "description": f"reported in {rep['source']} ({rep['file']})",
                "n_parameters": None,
                "license": None,
                "scores": {k: float(v) for k, v in rep["scores"].items()},
                "sources": dict(rep.get("sources", {})),
                "diff": None,
            }
        )
    order = {"clean": 0, "adversarial": 1, "domain-shift": 2}
    col_ids = sorted(columns_seen, key=lambda c: (order.get(columns_seen[c], 3), _column_rank(c)))
    return {
        "schema": SCHEMA,
        "generated": {"hbt_bench": __version__, "mteb": _version("mteb"), "results_dir": results_label},
        "baseline": base["id"] if base is not None else None,
        "tests": TEST_DESCRIPTION,
        "columns": [_column(c, columns_seen[c]) for c in col_ids],
        "rows": rows,
        "heatmaps": [h for row_id, res in loaded.items() for h in _heatmaps(row_id, res)],
        "robustness": [r for row_id, res in loaded.items() for r in _robustness(row_id, res)],
        "alpha_sweep": _alpha_sweep(training_dir) if training_dir is not None else [],
    }


def _column_rank(cid: str) -> tuple[int, int, str]:
    task, _, what = cid.partition("/")
    tasks = (*CLEAN, *ADV)
    whats = (*SETTINGS, "language_bias", "robustness")
    return (
        tasks.index(task) if task in tasks else len(tasks),
        whats.index(what) if what in whats else 9,
        cid,
    )
