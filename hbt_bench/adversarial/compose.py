"""Chain shipped recipes into one external recipe file: ``hbt-bench attack compose``.

Some perturbations the benchmark should measure (LLM-written paraphrases, say) need a generator that is
not available everywhere. Until one is, a stand-in can be made from the project's own recipes: each
recipe is applied to the previous one's output (e.g. WordNet synonyms, then nearby word swaps: a crude,
English-only paraphrase). The result is an *external* recipe file (``{"recipe": {...}}`` header, then one
``{"qid", "lang", "text"}`` line per question), evaluated with ``hbt-bench eval --perturbations FILE``:
kept out of the main score and recorded in the result's revision, like any file made elsewhere.

Deterministic: each stage seeds every query by (recipe, language, query id, seed), as the frozen sets do.
The file holds question text, so it is written wherever the user asks and never shipped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbt_bench.adversarial.perturbation_sets import PerturbationSetError, external_recipe_id, status_of

__all__ = [
    "ComposedRecipe",
    "check_recipe_id",
    "compose_languages",
    "compose_recipe",
    "write_external_recipe",
]


@dataclass(frozen=True)
class ComposedRecipe:
    """The header and the records of an external recipe file, held in memory until written."""

    header: dict[str, Any]
    records: list[dict[str, str]]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per language, how many questions came out perturbed, unchanged or empty."""
        out: dict[str, dict[str, int]] = {}
        for rec in self.records:
            out.setdefault(rec["lang"], {}).setdefault(rec["status"], 0)
            out[rec["lang"]][rec["status"]] += 1
        return out

    def lines(self) -> list[str]:
        """The file's lines: the header, then ``{"qid", "lang", "text"}`` records (status not stored)."""
        dump = json.dumps
        head = dump({"recipe": self.header}, ensure_ascii=False, separators=(",", ":"))
        body = [
            dump({k: rec[k] for k in ("qid", "lang", "text")}, ensure_ascii=False) for rec in self.records
        ]
        return [head, *body]


def compose_languages(recipes: Sequence[Any], corpus: Any, languages: Sequence[str] | None) -> list[str]:
    """The requested languages (default: every language of the corpus that all recipes apply to)."""
    if languages is None:
        chosen = [lang for lang in corpus.languages if all(r.applies_to(lang) for r in recipes)]
        if not chosen:
            ids = ", ".join(r.id for r in recipes)
            raise PerturbationSetError(f"recipes {ids}: no language of {corpus.name} takes all of them")
        return chosen
    for lang in languages:
        if lang not in corpus.languages:
            raise PerturbationSetError(
                f"--languages: {lang!r} is not in {corpus.name} ({', '.join(corpus.languages)})"
            )
        for r in recipes:
            if not r.applies_to(lang):
                raise PerturbationSetError(f"--languages: recipe {r.id} does not apply to {lang!r}")
    return list(dict.fromkeys(languages))


def check_recipe_id(recipe_id: str) -> str:
    """An external recipe's id, checked as every external recipe's is (a plain name without the shipped
    ids' ``@``): :func:`~hbt_bench.adversarial.perturbation_sets.external_recipe_id`."""
    return external_recipe_id(recipe_id, "--id")


def compose_recipe(
    recipes: Sequence[Any],
    corpus: Any,
    *,
    recipe_id: str,
    seed: int = 0,
    languages: Sequence[str] | None = None,
    jobs: int = 1,
    perturb: Any = None,
    provenance: dict[str, Any] | None = None,
) -> ComposedRecipe:
    """Apply ``recipes`` (Recipe objects) in order to every question of ``languages`` of ``corpus``.

    ``perturb`` defaults to :func:`hbt_bench.adversarial.recipes.perturb` (TextAttack); tests inject a
    fake. ``provenance`` is merged into the header's (e.g. the source files' sha256).
    """
    if perturb is None:
        from hbt_bench.adversarial.recipes import perturb
    if not recipes:
        raise PerturbationSetError("compose: give at least one recipe")
    check_recipe_id(recipe_id)
    langs = compose_languages(recipes, corpus, languages)
    records: list[dict[str, str]] = []
    for lang in langs:
        originals = [(q.qid, q.text) for q in corpus.languages[lang].questions]
        items = originals
        for recipe in recipes:
            results = perturb(recipe, lang, items, seed=seed, jobs=jobs)
            items = [(qid, res.text) for (qid, _), res in zip(items, results, strict=True)]
        for (qid, orig), (_, text) in zip(originals, items, strict=True):
            records.append({"qid": qid, "lang": lang, "text": text, "status": status_of(orig, text)})
    chain = " then ".join(r.id for r in recipes)
    header = {
        "id": recipe_id,
        "description": f"{chain} (each applied to the previous one's output; seed {seed}): "
        + "; ".join(f"{r.id}: {r.description}" for r in recipes),
        "provenance": {
            "tool": "hbt-bench attack compose",
            "recipes": [r.id for r in recipes],
            "seed": seed,
            "dataset": corpus.name,
            "languages": langs,
            **(provenance or {}),
        },
    }
    return ComposedRecipe(header=header, records=records)


def write_external_recipe(path: str | Path, composed: ComposedRecipe) -> Path:
    """Write ``composed`` to ``path``, whole or not at all, and never over an existing file."""
    from hbt_bench.atomic import write_text_atomic

    path = Path(path)
    if path.exists() or path.is_symlink():
        raise PerturbationSetError(f"{path} exists: not overwriting it (choose another --out)")
    try:
        return write_text_atomic(path, "\n".join(composed.lines()) + "\n", exclusive=True)
    except FileExistsError as exc:
        if path.exists():  # another writer got there first (the link refuses to replace it)
            raise PerturbationSetError(f"{path} was created meanwhile: not overwriting it") from None
        raise PerturbationSetError(
            f"cannot write {path}: {exc.strerror or exc}"
        ) from exc  # a parent is a file
    except OSError as exc:
        raise PerturbationSetError(f"cannot write {path}: {exc.strerror or exc}") from exc
