"""Build (and re-check) the frozen perturbation sets from the recipes: ``hbt-bench attack build``.

The build reads the checksummed source data, runs every recipe over every question of every language it
applies to (:func:`hbt_bench.adversarial.recipes.perturb`, deterministic per query), and writes the set
with :func:`~hbt_bench.adversarial.perturbation_sets.write_perturbation_set`. ``--check`` rebuilds in
memory and compares the content sha256 of every file with the shipped manifest, so anyone can verify
that the shipped sets are what the recipes produce.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from hbt_bench.adversarial.perturbation_sets import (
    FORMAT_VERSION,
    STATUSES,
    PerturbationSetError,
    encode_records,
    perturbations_dir,
    recipe_filename,
    record_line,
    set_folder,
    write_perturbation_set,
)
from hbt_bench.paths import safe_component

__all__ = [
    "PerturbFn",
    "SetBuild",
    "build_set",
    "check_set",
    "generator_versions",
    "recipe_lines",
    "write_set",
]

#: ``perturb(recipe, lang, [(qid, text)], seed=..., jobs=...) -> [obj with .text and .status]``
PerturbFn = Callable[..., Sequence[Any]]

# The packages whose behaviour decides the bytes of a set (tokenizers and TextAttack).
_GENERATOR_PACKAGES = ("hbt-bench", "textattack", "pythainlp", "jieba", "regex", "stopwordsiso", "nltk")


def generator_versions() -> dict[str, str | None]:
    """The versions of the packages (and Python) whose behaviour decides a perturbation's text."""
    out: dict[str, str | None] = {}
    for name in _GENERATOR_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def recipe_lines(
    recipe: Any,
    corpus: Any,
    *,
    seed: int,
    jobs: int = 1,
    limit: int | None = None,
    perturb: PerturbFn | None = None,
) -> list[str]:
    """JSONL lines of ``recipe`` over ``corpus`` (every applicable language, dataset order).

    ``limit`` keeps the first ``limit`` questions of each language: what the sample regeneration test
    compares with the shipped files line by line. ``perturb`` defaults to the TextAttack recipes'
    :func:`hbt_bench.adversarial.recipes.perturb`.
    """
    if perturb is None:
        from hbt_bench.adversarial.recipes import perturb

    lines: list[str] = []
    for lang, data in corpus.languages.items():
        if not recipe.applies_to(lang):
            continue
        questions = data.questions if limit is None else data.questions[:limit]
        items = [(q.qid, q.text) for q in questions]
        results = perturb(recipe, lang, items, seed=seed, jobs=jobs)
        for (qid, text), res in zip(items, results, strict=True):
            lines.append(record_line(qid, lang, text, res.text, res.status))
    return lines


@dataclass(frozen=True)
class SetBuild:
    """A built set held in memory: its manifest and the uncompressed content of each file."""

    manifest: dict[str, Any]
    contents: dict[str, bytes]


def build_set(
    dataset: str,
    version_name: str,
    recipes: Sequence[Any] | None = None,
    *,
    seed: int = 0,
    jobs: int = 1,
    data_dir: str | Path | None = None,
    corpus: Any = None,
    perturb: PerturbFn | None = None,
    progress: bool = False,
    source_info: dict[str, Any] | None = None,
) -> SetBuild:
    """Run ``recipes`` (ids or Recipe objects; default: the leaderboard recipes) over ``dataset``.

    ``corpus`` (a loaded LareqaCorpus of every language) and ``perturb`` can be injected, e.g. by tests
    that build a set without TextAttack. ``source_info`` (with an injected ``corpus``) is the manifest's
    ``source`` for a dataset that is not a pinned download (mMARCO-R: the user's own build), whose
    languages are then whatever the corpus holds.
    """
    import json

    from hbt_bench.data.lareqa import load_lareqa
    from hbt_bench.data.sources import get_source

    safe_component(dataset, "dataset")  # both become folder names: check before hours of work
    safe_component(version_name, "version")
    if perturb is None or recipes is None or any(isinstance(r, str) for r in recipes):
        from hbt_bench.adversarial.recipes import LEADERBOARD_RECIPES, get_recipe
        from hbt_bench.adversarial.textattack_adapter import import_textattack

        import_textattack()
        recipes = [get_recipe(r) if isinstance(r, str) else r for r in (recipes or LEADERBOARD_RECIPES)]
    if source_info is not None and corpus is None:
        raise ValueError("build_set: source_info needs an injected corpus")
    source = get_source(dataset) if source_info is None else None
    corpus = corpus if corpus is not None else load_lareqa(dataset, data_dir=data_dir)
    if source is not None and set(corpus.languages) != set(source.languages):
        raise ValueError(
            f"a {dataset} set covers every language; the corpus has {', '.join(corpus.languages)}"
        )
    entries: list[dict[str, Any]] = []
    contents: dict[str, bytes] = {}
    iterator: Any = recipes
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(recipes, desc=f"{dataset} recipes", unit="recipe")
    for recipe in iterator:
        languages = [lang for lang in corpus.languages if recipe.applies_to(lang)]
        if not languages:
            continue
        lines = recipe_lines(recipe, corpus, seed=seed, jobs=jobs, perturb=perturb)
        content = encode_records(lines)
        counts: dict[str, dict[str, int]] = {lang: dict.fromkeys(STATUSES, 0) for lang in languages}
        for line in lines:
            rec = json.loads(line)
            counts[rec["lang"]][rec["status"]] += 1
        name = recipe_filename(recipe.id)
        contents[name] = content
        entries.append(
            {
                "id": recipe.id,
                "name": recipe.name,
                "strength": recipe.strength,
                "family": recipe.family,
                "description": recipe.description,
                "core": recipe.core,
                "languages": languages,
                "params": dict(recipe.params),
                "file": name,
                "records": len(lines),
                "sha256": hashlib.sha256(content).hexdigest(),
                "counts": counts,
            }
        )
    manifest = {
        "format": FORMAT_VERSION,
        "dataset": dataset,
        "version": version_name,
        "seed": seed,
        "source": dict(source_info)
        if source is None
        else {
            "license": source.license,
            "homepage": source.homepage,
            "files": {lang: source.file(lang).sha256 for lang in corpus.languages},
        },
        "generator": generator_versions(),
        "command": f"hbt-bench attack build --dataset {dataset} --version {version_name} --seed {seed}",
        "note": (
            "Records are edit scripts against the pinned source questions (no question text); "
            "file sha256 values are of the uncompressed content."
        ),
        "recipes": entries,
    }
    return SetBuild(manifest=manifest, contents=contents)


def write_set(build: SetBuild, root: str | Path | None = None) -> Path:
    """Write a built set under ``<root>/<dataset>/<version>`` (default: the package's tasks folder)."""
    folder = set_folder(root if root is not None else perturbations_dir(), *_names(build))
    return write_perturbation_set(folder, build.manifest, build.contents)


def _names(build: SetBuild) -> tuple[Any, Any]:
    return build.manifest.get("dataset"), build.manifest.get("version")


def check_set(build: SetBuild, root: str | Path | None = None) -> list[str]:
    """Differences between a fresh build and the shipped set's manifest (empty list: identical)."""
    import json

    folder = set_folder(root if root is not None else perturbations_dir(), *_names(build))
    path = folder / "manifest.json"
    try:
        shipped = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PerturbationSetError(f"--check: {path} not found (nothing to compare with)") from None
    except ValueError as exc:
        raise PerturbationSetError(f"{path}: invalid JSON: {exc}") from exc
    shipped_by_id = {e["id"]: e for e in shipped["recipes"]}
    problems: list[str] = []
    for entry in build.manifest["recipes"]:
        old = shipped_by_id.pop(entry["id"], None)
        if old is None:
            problems.append(f"{entry['id']}: not in the shipped set")
        elif old["sha256"] != entry["sha256"]:
            problems.append(
                f"{entry['id']}: content differs (shipped {old['sha256']}, rebuilt {entry['sha256']})"
            )
    problems.extend(f"{rid}: shipped but not rebuilt" for rid in shipped_by_id)
    return problems
