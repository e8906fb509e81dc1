"""Perturbation recipes: TextAttack ``Augmenter`` s built from explicit, script-safe pieces.

A :class:`Recipe` is a declarative record (name, strength, everything that defines its output in
``params``); :data:`RECIPES` is the registry and :data:`LEADERBOARD_RECIPES` the frozen v1 selection.
:func:`perturb` applies one recipe to ``(query id, text)`` items of one language. Every item gets its
own seed, ``stable_seed(recipe.id, lang, qid, seed)``, and ``random`` / ``numpy.random`` are re-seeded
with it right before the item is augmented, so the output for one item depends on nothing else: not on
the other items or their order, not on ``jobs``, not on ``PYTHONHASHSEED`` (the transformations
iterate over nothing hash-ordered; see :mod:`~hbt_bench.adversarial.transformations`).

Strengths follow TextAttack's ``Augmenter``: ``pct_words_to_swap`` of the words (at least one) are
changed, each at most once (``RepeatModification``); "1edit" is ``pct_words_to_swap=0``, i.e. exactly
one word changed by one edit. Stopwords (``stopwordsiso``, case-insensitive) are never modified.

Character noise inserts and substitutes only letters of the edited grapheme's script, taken from
``tasks/perturbations/alphabets.json`` (letters seen at least ``min_count`` times in that language's
XQuAD-R questions and sentences; rebuilt by :func:`build_alphabets`); Han graphemes get no insertions
or substitutions. Since set v2 the script is that of the grapheme edited (``letter_script="grapheme"``),
so a mixed-script word such as ``HD-качестве`` gets Cyrillic letters next to its Cyrillic part; v1 used
the script of the word's first letter. A language outside the benchmark (``fr``, ``bg``, ``sw``,
``ur``...) works too: every word then uses the per-script fallback alphabet of its script.

Each recipe names the kind of its transformation in ``params["transformation"]``;
:data:`TRANSFORMATION_KINDS` maps that kind to a small builder (one registered function per kind, plus
how a targeted attack's word budget counts its edits), so a new kind is one decorated function. The
data the recipes record (homoglyphs, zero-width characters, scripts) lives in
:mod:`~hbt_bench.adversarial.tables`, the alphabets in :mod:`~hbt_bench.adversarial.alphabets` (both
re-exported here).

A perturbation that leaves a query unchanged, or empty, is returned with that status, never dropped.
Importing this module does not import TextAttack; the first :func:`perturb` call does (7-10 s).
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from hbt_bench.adversarial.alphabets import (
    ALPHABET_MIN_COUNT,
    alphabet,
    alphabets_path,
    alphabets_sha256,
    build_alphabets,
    script_letters,
)
from hbt_bench.adversarial.perturbation_sets import STATUSES, status_of
from hbt_bench.adversarial.tables import FALLBACK_SCRIPTS, HOMOGLYPHS, INVISIBLE_CHARS, LANGUAGES, MAIN_SCRIPT
from hbt_bench.adversarial.text import stable_seed, words
from hbt_bench.adversarial.textattack_adapter import TEXTATTACK_VERSION

__all__ = [
    "ALPHABET_MIN_COUNT",
    "FALLBACK_SCRIPTS",
    "HOMOGLYPHS",
    "INVISIBLE_CHARS",
    "LANGUAGES",
    "LEADERBOARD_RECIPES",
    "MAIN_SCRIPT",
    "RECIPES",
    "STATUSES",
    "TRANSFORMATION_KINDS",
    "Perturbation",
    "Recipe",
    "TransformationKind",
    "alphabet",
    "alphabets_path",
    "attack_components",
    "build_alphabets",
    "get_recipe",
    "perturb",
    "stopwords",
    "transformation_kind",
]

FAMILIES = ("character", "unicode", "word")


# ---------------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class Recipe:
    """One perturbation recipe; ``params`` holds everything that defines its output (for manifests)."""

    name: str
    strength: str
    family: str
    description: str
    languages: tuple[str, ...] | None  # None: every language
    core: bool  # part of the main adversarial score (applies to every language)
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family={self.family!r}: expected one of {', '.join(FAMILIES)}")
        if self.core and self.languages is not None:
            raise ValueError(f"recipe {self.id}: a core recipe must apply to every language (languages=None)")

    @property
    def id(self) -> str:
        return f"{self.name}@{self.strength}"

    def applies_to(self, lang: str) -> bool:
        return self.languages is None or lang in self.languages

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the recipe (for manifests)."""
        return {
            "id": self.id,
            "name": self.name,
            "strength": self.strength,
            "family": self.family,
            "description": self.description,
            "languages": list(self.languages) if self.languages is not None else None,
            "core": self.core,
            "params": json.loads(json.dumps(dict(self.params))),
        }


_PCT = {"1edit": 0.0, "10pct": 0.1, "30pct": 0.3, "all": 1.0}
_COMMON = {
    "stopwords": "stopwordsiso (case-insensitive)",
    "textattack": TEXTATTACK_VERSION,
    "segmentation": "text.words",
}


def _params(strength: str, **kw: Any) -> dict[str, Any]:
    return {"pct_words_to_swap": _PCT[strength], "transformations_per_example": 1, **kw, **_COMMON}


def _build_registry() -> dict[str, Recipe]:
    char_ops = ("delete", "swap", "substitute", "insert")
    recipes: list[Recipe] = []
    for strength, what in (
        ("1edit", "one word, one edit"),
        ("10pct", "10% of words"),
        ("30pct", "30% of words"),
    ):
        recipes.append(
            Recipe(
                "char-noise",
                strength,
                "character",
                f"Typos on {what}: delete, swap neighbours, substitute or insert one grapheme per word "
                "(letters of the edited grapheme's script; QWERTY neighbours for Latin; "
                "Han: delete/swap only).",
                None,
                True,
                _params(
                    strength,
                    transformation="GraphemeCharNoise",
                    ops=char_ops,
                    qwerty=True,
                    min_graphemes=3,
                    min_graphemes_han=2,
                    alphabet_min_count=ALPHABET_MIN_COUNT,
                    alphabets_sha256=alphabets_sha256(),
                    letter_script="grapheme",
                ),
            )
        )
    recipes.append(
        Recipe(
            "homoglyph",
            "10pct",
            "unicode",
            "Replace one letter in 10% of words with a look-alike from another script (Latin <-> "
            "Cyrillic/Greek); scripts without look-alikes (Thai, Han, Devanagari, Arabic) stay unchanged.",
            None,
            False,
            _params("10pct", transformation="ScriptHomoglyphSwap", homoglyphs=dict(HOMOGLYPHS)),
        )
    )
    recipes.append(
        Recipe(
            "invisible",
            "10pct",
            "unicode",
            "Insert a zero-width character between two graphemes of 10% of words.",
            None,
            True,
            _params(
                "10pct",
                transformation="GraphemeInvisibleCharacters",
                chars=dict(INVISIBLE_CHARS),
                min_graphemes=2,
                min_graphemes_han=2,
            ),
        )
    )
    for strength in ("10pct", "30pct"):
        pct = strength[:2]
        recipes.append(
            Recipe(
                "word-drop",
                strength,
                "word",
                f"Delete {pct}% of the words (never a stopword, never the last word).",
                None,
                True,
                _params(strength, transformation="SafeWordDeletion"),
            )
        )
        recipes.append(
            Recipe(
                "word-shuffle",
                strength,
                "word",
                f"Swap {pct}% of the words with a nearby non-stopword (within 3 positions); stopwords stay.",
                None,
                True,
                _params(strength, transformation="AdjacentWordSwap", window=3),
            )
        )
    recipes.append(
        Recipe(
            "number",
            "all",
            "word",
            "Change every number written in digits (TextAttack's WordSwapChangeNumber values, same digits).",
            None,
            False,
            _params("all", transformation="DigitNumberChange", max_change=1, n=3),
        )
    )
    recipes.append(
        Recipe(
            "zh-morphonym",
            "10pct",
            "word",
            "Replace one character in 10% of Chinese words with a look-alike (TextAttack's morphonym table).",
            ("zh",),
            False,
            _params("10pct", transformation="ChineseMorphonymSwap"),
        )
    )
    recipes.append(
        Recipe(
            "en-synonym",
            "10pct",
            "word",
            "Replace 10% of English words with an English WordNet 3.0 synonym.",
            ("en",),
            False,
            _params("10pct", transformation="EnglishWordNetSwap", wordnet="3.0"),
        )
    )
    return {r.id: r for r in recipes}


RECIPES: dict[str, Recipe] = _build_registry()
LEADERBOARD_RECIPES: tuple[str, ...] = (
    "char-noise@1edit",
    "char-noise@10pct",
    "char-noise@30pct",
    "homoglyph@10pct",
    "invisible@10pct",
    "word-drop@10pct",
    "word-drop@30pct",
    "word-shuffle@10pct",
    "word-shuffle@30pct",
    "number@all",
    "zh-morphonym@10pct",
    "en-synonym@10pct",
)


def get_recipe(recipe_id: str) -> Recipe:
    """The registered recipe ``recipe_id`` ("name@strength")."""
    try:
        return RECIPES[recipe_id]
    except (KeyError, TypeError):
        raise ValueError(f"unknown recipe {recipe_id!r}; valid ids: {', '.join(RECIPES)}") from None


def _resolve(recipe: Recipe | str) -> Recipe:
    return recipe if isinstance(recipe, Recipe) else get_recipe(recipe)


def _check_lang(recipe: Recipe, lang: str) -> None:
    if not isinstance(lang, str) or not lang:
        raise ValueError(f"lang={lang!r}: expected a language code such as 'en'")
    if not recipe.applies_to(lang):
        raise ValueError(
            f"recipe {recipe.id} does not apply to language {lang!r} "
            f"(only {', '.join(recipe.languages or ())})"
        )


# ---------------------------------------------------------------------------------------------------
# Stopwords


@cache
def stopwords(lang: str) -> frozenset[str]:
    """``stopwordsiso``'s list for ``lang``, case-folded (empty when it has none)."""
    import stopwordsiso

    if not stopwordsiso.has_lang(lang):
        return frozenset()
    return frozenset(w.casefold() for w in stopwordsiso.stopwords(lang))


# ---------------------------------------------------------------------------------------------------
# Transformation kinds: params["transformation"] -> how to build it (TextAttack imported on first build)

#: ``(recipe, lang, random_one) -> transformation``; ``random_one=False`` returns every candidate.
TransformationBuilder = Callable[["Recipe", str, bool], Any]


@dataclass(frozen=True)
class TransformationKind:
    """One kind of transformation a recipe names in ``params["transformation"]``.

    ``build`` makes it for a language; ``budget`` is the mode of the ``WordBudget`` constraint
    (:mod:`~hbt_bench.adversarial.transformations`) that caps a targeted attack at the recipe's
    strength: it counts changed ``"words"``, ``"deletions"`` (a deletion shifts every later word) or
    ``"swaps"`` (a swap moves two words).
    """

    name: str
    build: TransformationBuilder
    budget: str = "words"


#: The registry: one entry per kind, added by :func:`transformation_kind`.
TRANSFORMATION_KINDS: dict[str, TransformationKind] = {}


def transformation_kind(
    name: str, budget: str = "words"
) -> Callable[[TransformationBuilder], TransformationBuilder]:
    """Register the decorated builder as kind ``name`` (a name may be registered once)."""

    def register(build: TransformationBuilder) -> TransformationBuilder:
        if name in TRANSFORMATION_KINDS:
            raise ValueError(f"transformation kind {name!r} is already registered")
        TRANSFORMATION_KINDS[name] = TransformationKind(name, build, budget)
        return build

    return register


def _kind(recipe: Recipe) -> TransformationKind:
    name = recipe.params["transformation"]
    try:
        return TRANSFORMATION_KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"recipe {recipe.id}: unknown transformation {name!r}") from None


@transformation_kind("GraphemeCharNoise")
def _grapheme_char_noise(recipe: Recipe, lang: str, random_one: bool) -> Any:
    from hbt_bench.adversarial.transformations import GraphemeCharNoise

    p = recipe.params
    return GraphemeCharNoise(script_letters(lang), ops=p["ops"], qwerty=p["qwerty"], random_one=random_one)


@transformation_kind("ScriptHomoglyphSwap")
def _script_homoglyph_swap(recipe: Recipe, lang: str, random_one: bool) -> Any:
    from hbt_bench.adversarial.transformations import ScriptHomoglyphSwap

    return ScriptHomoglyphSwap(random_one=random_one, homoglyphs=recipe.params["homoglyphs"])


@transformation_kind("GraphemeInvisibleCharacters")
def _grapheme_invisible_characters(recipe: Recipe, lang: str, random_one: bool) -> Any:
    from hbt_bench.adversarial.transformations import GraphemeInvisibleCharacters

    return GraphemeInvisibleCharacters(random_one=random_one, chars=recipe.params["chars"])


@transformation_kind("SafeWordDeletion", budget="deletions")
def _safe_word_deletion(recipe: Recipe, lang: str, random_one: bool) -> Any:
    from hbt_bench.adversarial.transformations import SafeWordDeletion

    return SafeWordDeletion()


@transformation_kind("AdjacentWordSwap", budget="swaps")
def _adjacent_word_swap(recipe: Recipe, lang: str, random_one: bool) -> Any:
    from hbt_bench.adversarial.transformations import AdjacentWordSwap

    return AdjacentWordSwap(window=recipe.params["window"])


@transformation_kind("DigitNumberChange")
def _digit_number_change(recipe: Recipe, lang: str, random_one: bool) -> Any:
    from hbt_bench.adversarial.transformations import DigitNumberChange

    return DigitNumberChange(max_change=recipe.params["max_change"], n=recipe.params["n"])


@transformation_kind("ChineseMorphonymSwap")
def _chinese_morphonym_swap(recipe: Recipe, lang: str, random_one: bool) -> Any:
    from hbt_bench.adversarial.transformations import ChineseMorphonymSwap

    return ChineseMorphonymSwap()


@transformation_kind("EnglishWordNetSwap")
def _english_wordnet_swap(recipe: Recipe, lang: str, random_one: bool) -> Any:
    from hbt_bench.adversarial.textattack_adapter import TextAttackUnavailable, ensure_wordnet

    if not ensure_wordnet():
        raise TextAttackUnavailable(
            f"recipe {recipe.id} needs English WordNet 3.0, built from Debian's files "
            "(apt-get install wordnet-base; /usr/share/wordnet), which were not found"
        )
    from hbt_bench.adversarial.transformations import EnglishWordNetSwap

    return EnglishWordNetSwap()


# ---------------------------------------------------------------------------------------------------
# Building TextAttack pieces


def _transformation(recipe: Recipe, lang: str, random_one: bool) -> Any:
    return _kind(recipe).build(recipe, lang, random_one)


def _pre_constraints(recipe: Recipe, lang: str) -> list[Any]:
    from textattack.constraints.pre_transformation import RepeatModification

    from hbt_bench.adversarial import transformations as tr

    out = [RepeatModification(), tr.ProtectedWords(stopwords(lang))]
    if "min_graphemes" in recipe.params:
        out.append(tr.MinGraphemes(recipe.params["min_graphemes"], recipe.params.get("min_graphemes_han")))
    return out


def attack_components(lang: str, recipe: Recipe | str = "char-noise@30pct") -> tuple[Any, list[Any]]:
    """(transformation, constraints) of ``recipe`` for model-targeted attacks (e.g. ``GreedyWordSwapWIR``).

    Same script safety and stopword protection as the recipe, but the transformation returns every
    candidate (``random_one=False``) so the search method chooses; a :class:`WordBudget` constraint
    caps the changed words at the recipe's strength (one word for "1edit"; none for "all").
    """
    r = _resolve(recipe)
    _check_lang(r, lang)
    kind = _kind(r)
    from hbt_bench.adversarial import transformations as tr

    constraints = _pre_constraints(r, lang)
    if r.strength != "all":
        constraints.append(tr.WordBudget(r.params["pct_words_to_swap"], mode=kind.budget))
    return kind.build(r, lang, False), constraints


@cache
def _augmenter(recipe: Recipe, lang: str) -> Any:
    from hbt_bench.adversarial.textattack_adapter import import_textattack

    import_textattack()
    from textattack.augmentation import Augmenter

    return Augmenter(
        transformation=_transformation(recipe, lang, random_one=True),
        constraints=_pre_constraints(recipe, lang),
        pct_words_to_swap=recipe.params["pct_words_to_swap"],
        transformations_per_example=recipe.params["transformations_per_example"],
    )


# ---------------------------------------------------------------------------------------------------
# Applying recipes


@dataclass(frozen=True)
class Perturbation:
    """The perturbed text and whether it differs: "perturbed", "unchanged" or "empty" (blank text)."""

    text: str
    status: str


def _perturb_one(recipe: Recipe, lang: str, qid: str, text: str, seed: int) -> Perturbation:
    import numpy as np

    augmenter = _augmenter(recipe, lang)
    item_seed = stable_seed(recipe.id, lang, qid, seed)
    random.seed(item_seed)
    np.random.seed(item_seed)
    out = augmenter.augment(text)
    new = out[0] if out else text
    return Perturbation(new, status_of(text, new))


_POOL: tuple[int, Any] | None = None  # (jobs, multiprocessing pool), reused across perturb() calls


def _pool(jobs: int) -> Any:
    """A worker pool of ``jobs`` processes, forked once (after TextAttack is imported) and reused.

    Forking per call would cost more than the work for one language's questions (the parent holds
    TextAttack and torch); workers build the augmenters they need on first use.
    """
    global _POOL
    if _POOL is not None and _POOL[0] == jobs:
        return _POOL[1]
    if _POOL is not None:
        _POOL[1].terminate()
    methods = multiprocessing.get_all_start_methods()
    pool = multiprocessing.get_context("fork" if "fork" in methods else "spawn").Pool(jobs)
    atexit.register(pool.terminate)
    _POOL = (jobs, pool)
    return pool


def _perturb_chunk(recipe: Recipe, lang: str, seed: int, chunk: list[tuple[str, str]]) -> list[Perturbation]:
    return [_perturb_one(recipe, lang, qid, text, seed) for qid, text in chunk]


def _items(items: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for k, item in enumerate(items):
        try:
            qid, text = item
        except (TypeError, ValueError):
            raise TypeError(f"items[{k}]={item!r}: expected a (query id, text) pair") from None
        if not isinstance(text, str):
            raise TypeError(f"items[{k}]: text must be a str, got {type(text).__name__}")
        out.append((str(qid), text))
    return out


def perturb(
    recipe: Recipe | str,
    lang: str,
    items: Sequence[tuple[str, str]],
    *,
    seed: int = 0,
    jobs: int = 1,
) -> list[Perturbation]:
    """Apply ``recipe`` to every ``(query id, text)`` of ``lang``; the output is aligned with ``items``.

    Deterministic per item (see the module docstring); ``jobs`` > 1 splits the items over processes
    and gives the same output. A recipe that does not apply to ``lang`` raises ``ValueError``.
    """
    r = _resolve(recipe)
    _check_lang(r, lang)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed={seed!r}: expected an int")
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r}: expected an int >= 1")
    pairs = _items(items)
    _augmenter(r, lang)  # build (and import TextAttack) once, before any worker forks
    if jobs == 1 or len(pairs) < 64:
        return [_perturb_one(r, lang, qid, text, seed) for qid, text in pairs]
    for sample in ("中文", "ภาษาไทย"):  # load jieba / pythainlp dictionaries once, before forking
        words(sample)
    n_chunks = min(len(pairs), jobs * 4)
    size = -(-len(pairs) // n_chunks)
    tasks = [(r, lang, seed, pairs[i : i + size]) for i in range(0, len(pairs), size)]
    results = _pool(jobs).starmap(_perturb_chunk, tasks, chunksize=1)
    return [p for chunk in results for p in chunk]
