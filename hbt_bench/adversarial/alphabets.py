"""The letters character noise may insert or substitute, per language and per script (no TextAttack).

``tasks/perturbations/alphabets.json`` holds, per benchmark language, the base letters of its main script
seen at least :data:`ALPHABET_MIN_COUNT` times in its XQuAD-R questions and sentences ("" for Chinese:
random Han characters are not typos), and per script the letters common to every language written in it
(the fallback for other languages and for words outside a language's main script). The file is shipped,
its sha256 is recorded in the character-noise recipes' params, and :func:`build_alphabets` rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import regex

from hbt_bench.adversarial.tables import FALLBACK_SCRIPTS, MAIN_SCRIPT
from hbt_bench.adversarial.text import graphemes

__all__ = [
    "ALPHABET_MIN_COUNT",
    "alphabet",
    "alphabets_path",
    "alphabets_sha256",
    "build_alphabets",
    "script_letters",
]

ALPHABET_MIN_COUNT = 20


def alphabets_path() -> Path:
    from hbt_bench.resources import tasks_dir

    return tasks_dir() / "perturbations" / "alphabets.json"


def alphabets_sha256() -> str | None:
    """sha256 of the shipped alphabets (recorded in the character-noise params), None if missing."""
    path = alphabets_path()
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@cache
def _alphabets() -> dict[str, Any]:
    with alphabets_path().open(encoding="utf-8") as f:
        return json.load(f)


def alphabet(lang: str) -> str:
    """Letters used for insertion/substitution in ``lang`` ("" for zh); a script name gives its fallback."""
    data = _alphabets()
    if lang in data["languages"]:
        return data["languages"][lang]
    if lang in data["scripts"]:
        return data["scripts"][lang]
    raise ValueError(
        f"no alphabet for {lang!r}; languages: {', '.join(data['languages'])}; "
        f"scripts: {', '.join(data['scripts'])}"
    )


def script_letters(lang: str) -> dict[str, str]:
    """script -> letters for words of that script in ``lang`` (own alphabet for the main script)."""
    data = _alphabets()
    letters = dict(data["scripts"])
    main = MAIN_SCRIPT.get(lang)
    if main is not None:
        letters[main] = data["languages"][lang]
    return letters


_LETTER_CATEGORIES = ("Lu", "Ll", "Lt", "Lo")


def _standalone_letter(ch: str, script_re: Any) -> bool:
    """A base letter of the script that starts its own grapheme (not a spacing/extending mark)."""
    return (
        unicodedata.category(ch) in _LETTER_CATEGORIES
        and script_re.match(ch) is not None
        and len(graphemes("a" + ch)) == 2
    )


def build_alphabets(corpus: Any, min_count: int = ALPHABET_MIN_COUNT) -> dict[str, Any]:
    """The content of ``alphabets.json`` from a :class:`~hbt_bench.data.lareqa.LareqaCorpus` (XQuAD-R).

    Per language: the letters of its main script (base letters only, no marks or modifier letters)
    seen at least ``min_count`` times in its questions and sentences, sorted by code point; "" for
    Chinese (random Han characters are not typos). Per script: the letters common to every language
    written in it, for languages outside the benchmark.
    """
    languages: dict[str, str] = {}
    for lang in sorted(corpus.languages):
        if lang not in MAIN_SCRIPT:
            raise ValueError(f"language {lang!r} of the corpus has no main script in MAIN_SCRIPT")
        script = MAIN_SCRIPT[lang]
        if script == "Han":
            languages[lang] = ""
            continue
        data = corpus.languages[lang]
        counts: Counter[str] = Counter()
        for q in data.questions:
            counts.update(q.text)
        for c in data.candidates:
            counts.update(c.text)
        script_re = regex.compile(rf"\p{{Script={script}}}")
        letters = [ch for ch, n in counts.items() if n >= min_count and _standalone_letter(ch, script_re)]
        languages[lang] = "".join(sorted(letters))
    scripts: dict[str, str] = {}
    for script in FALLBACK_SCRIPTS:
        sets = [set(languages[lang]) for lang in languages if MAIN_SCRIPT[lang] == script]
        if sets:
            scripts[script] = "".join(sorted(set.intersection(*sets)))
    return {
        # The shipped file records this text: it keeps naming the public entry point in recipes.
        "description": (
            "Letters for character-noise insertion/substitution: per language, the base letters of its "
            "main script seen at least min_count times in its XQuAD-R questions and sentences; per script, "
            "the letters common to all benchmark languages written in it (fallback for other languages). "
            "Rebuilt by hbt_bench.adversarial.recipes.build_alphabets."
        ),
        "source": corpus.name,
        "min_count": min_count,
        "languages": languages,
        "scripts": scripts,
    }
