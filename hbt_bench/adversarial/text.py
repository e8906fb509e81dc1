"""Script-aware text utilities for the perturbation recipes (no TextAttack import).

A *word* is a run of letters, combining marks and digits (``\\p{L}\\p{M}\\p{N}``), so Devanagari and
Thai vowel signs stay attached to their consonants (Python's ``\\w`` excludes marks and TextAttack's
splitter cuts ``शिकागो`` into ``श``, ``क``, ``ग``). Thai, written without spaces, is segmented with
pythainlp's ``newmm``; Chinese with jieba (both dictionaries ship with their wheels). A *grapheme* is
an extended grapheme cluster (``\\X``), the unit every character edit works on, so a combining mark is
never split from its base.

Seeds come from :func:`stable_seed` (sha256 of the parts), never Python's per-process ``hash()``.
"""

from __future__ import annotations

import hashlib
import unicodedata
from functools import cache, lru_cache

import regex

__all__ = [
    "dominant_script",
    "grapheme_script",
    "graphemes",
    "script_of",
    "stable_seed",
    "textattack_words_from_text",
    "words",
]

_WORD = regex.compile(r"[\p{L}\p{M}\p{N}_'\-*@]+")
_THAI = regex.compile(r"\p{Thai}")
_HAN = regex.compile(r"\p{Han}")
_GRAPHEME = regex.compile(r"\X")
_SCRIPT_PROBES = ("Latin", "Greek", "Cyrillic", "Arabic", "Devanagari", "Thai", "Han")
_SCRIPT_RE = {name: regex.compile(rf"\p{{Script={name}}}") for name in _SCRIPT_PROBES}
# Letters of no script of their own (modifier letters such as U+02BC, ordinal indicators): they take
# the script of the word they are in.
_SHARED_SCRIPT = regex.compile(r"[\p{Script=Common}\p{Script=Inherited}]")


def stable_seed(*parts: object, base: int = 0) -> int:
    """A 32-bit seed from ``parts`` that is the same in every process (whatever ``PYTHONHASHSEED``)."""
    digest = hashlib.sha256(repr((base, *parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little")


def graphemes(text: str) -> list[str]:
    """Extended grapheme clusters of ``text`` (a Thai or Devanagari syllable with its marks is one)."""
    return _GRAPHEME.findall(text)


def script_of(word: str) -> str | None:
    """The script of the first letter of ``word`` among the benchmark's scripts, or None."""
    for ch in word:
        if unicodedata.category(ch).startswith("L"):
            for name, pattern in _SCRIPT_RE.items():
                if pattern.match(ch):
                    return name
            return None
    return None


def _letter_script(ch: str) -> str | None:
    for name, pattern in _SCRIPT_RE.items():
        if pattern.match(ch):
            return name
    return None


def dominant_script(word: str) -> str | None:
    """The benchmark script with the most letters in ``word`` (the first seen wins a tie), or None.

    What a non-letter grapheme of a mixed-script word (the hyphen of ``HD-качестве``) counts as.
    """
    counts: dict[str, int] = {}
    for ch in word:
        if unicodedata.category(ch).startswith("L"):
            name = _letter_script(ch)
            if name is not None:
                counts[name] = counts.get(name, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


def grapheme_script(cluster: str, word: str) -> str | None:
    """The script of the grapheme ``cluster`` of ``word``: that of its base letter, else the word's.

    A cluster that does not start with a letter (digit, hyphen, apostrophe, stray mark) or starts
    with a letter of no script of its own (Common/Inherited) takes :func:`dominant_script` of
    ``word``; a letter of a script outside the benchmark's gives None. Character noise inserts and
    substitutes letters of this script, so a Cyrillic letter edited in ``HD-качестве`` gets a
    Cyrillic neighbour even though the word starts with Latin letters.
    """
    base = cluster[:1]
    if not base or not unicodedata.category(base).startswith("L") or _SHARED_SCRIPT.match(base):
        return dominant_script(word)
    return _letter_script(base)


@cache
def _jieba() -> object:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def _segment(chunk: str) -> list[str]:
    """Split one whitespace-free chunk into words by script (Chinese and Thai need a segmenter)."""
    if _HAN.search(chunk):
        return _jieba().lcut(chunk, cut_all=False)  # type: ignore[attr-defined]
    if _THAI.search(chunk):
        from pythainlp.tokenize import word_tokenize

        return word_tokenize(chunk, engine="newmm", keep_whitespace=False)
    return [chunk]


def words(text: str) -> list[str]:
    """The words of ``text`` in order: letters+marks+digits runs, Thai and Chinese segmented."""
    return list(_words(text))


@lru_cache(maxsize=1 << 17)
def _words(text: str) -> tuple[str, ...]:
    # Cached: every recipe re-tokenizes the same questions, and pythainlp / jieba dominate the cost.
    out: list[str] = []
    for chunk in text.split():
        for part in _segment(chunk):
            out.extend(w.strip("'-_*@") for w in _WORD.findall(part))
    return tuple(w for w in out if w)


def textattack_words_from_text(s: str, words_to_ignore: list[str] | None = None) -> list[str]:
    """Drop-in for ``textattack.shared.utils.words_from_text`` (installed by the adapter)."""
    ignore = set(words_to_ignore or ())
    return [w for w in words(s) if w not in ignore]
