"""Script-safe TextAttack transformations and constraints, built by :mod:`hbt_bench.adversarial.recipes`.

Importing this module imports TextAttack (through :func:`import_textattack`, 7-10 s), so only the
recipe functions import it, lazily. Why each class exists instead of the TextAttack original:

- :class:`SegmentedText` keeps the word segmentation of the original query. TextAttack re-tokenizes
  every candidate text; for Thai and Chinese (dictionary segmenters) a perturbed word can re-segment
  differently, shifting word indices so that ``RepeatModification`` and stopword protection apply to
  the wrong words; a zero-width character splits a word in two for every script. Re-tokenizing is also
  what makes TextAttack slow on Thai and Chinese (one pythainlp/jieba call per candidate and word).
- :class:`ProtectedWords` is ``StopwordModification`` compared case-insensitively, and applied to
  every transformation: the original skips itself for anything that is not a ``WordSwap`` (so
  ``WordDeletion`` could delete stopwords) and misses capitalised stopwords ("When").
- :class:`GraphemeCharNoise` edits extended grapheme clusters with letters of the edited grapheme's
  script (TextAttack's character swaps work on code points and insert ASCII letters into every script).
- the other word swaps fix a concrete defect each; see their docstrings.

Every random choice uses the global ``random`` module, which the recipes seed per query.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar

from hbt_bench.adversarial.tables import HOMOGLYPHS, INVISIBLE_CHARS
from hbt_bench.adversarial.text import grapheme_script, graphemes, script_of, stable_seed, words
from hbt_bench.adversarial.textattack_adapter import import_textattack

import_textattack()  # patches TextAttack (tokenizer, determinism, homoglyph data) before the imports below

import numpy as np  # noqa: E402
from textattack.constraints import PreTransformationConstraint  # noqa: E402
from textattack.constraints.overlap import MaxWordsPerturbed  # noqa: E402
from textattack.constraints.pre_transformation import StopwordModification  # noqa: E402
from textattack.shared import AttackedText  # noqa: E402
from textattack.shared.data import MORPHONYM_LS  # noqa: E402
from textattack.transformations import (  # noqa: E402
    ChineseMorphonymCharacterSwap,
    WordDeletion,
    WordSwap,
    WordSwapChangeNumber,
    WordSwapHomoglyphSwap,
    WordSwapInvisibleCharacters,
    WordSwapQWERTY,
    WordSwapWordNet,
)

__all__ = [
    "CHAR_OPS",
    "HOMOGLYPHS",
    "INVISIBLE_CHARS",
    "AdjacentWordSwap",
    "ChineseMorphonymSwap",
    "DigitNumberChange",
    "EnglishWordNetSwap",
    "GraphemeCharNoise",
    "GraphemeInvisibleCharacters",
    "MinGraphemes",
    "ProtectedWords",
    "SafeWordDeletion",
    "ScriptHomoglyphSwap",
    "SegmentedText",
    "WordBudget",
    "as_segmented",
]

CHAR_OPS = ("delete", "swap", "substitute", "insert")
_VIRAMA = "\u094d"


@lru_cache(maxsize=1 << 16)
def _clusters(word: str) -> tuple[str, ...]:
    return tuple(graphemes(word))


@lru_cache(maxsize=1 << 16)
def _script(word: str) -> str | None:
    return script_of(word)


@lru_cache(maxsize=1 << 16)
def _edit_script(cluster: str, word: str) -> str | None:
    return grapheme_script(cluster, word)


def _own_script(cluster: str) -> bool:
    """A letter cluster with a script of its own (not a Common/Inherited modifier letter)."""
    return grapheme_script(cluster, "") is not None


# ---------------------------------------------------------------------------------------------------
# Fixed segmentation


class SegmentedText(AttackedText):
    """An ``AttackedText`` whose words are fixed by the edits made to it, never re-tokenized.

    A replacement without whitespace stays exactly one word (``"Chic\\u200bago"``, a Thai word with a
    deleted cluster), ``""`` deletes the word, and a replacement with whitespace becomes its
    :func:`~hbt_bench.adversarial.text.words`. Index bookkeeping (``modified_indices``,
    ``original_index_map``) is exact for any number of replaced words per call.
    """

    def __init__(self, text_input: Any, attack_attrs: dict | None = None, words: Sequence[str] | None = None):
        self._fixed_words = list(words) if words is not None else None
        self._spans: list[tuple[int, int]] | None = None
        super().__init__(text_input, attack_attrs)

    @property
    def words(self) -> list[str]:
        if self._fixed_words is None:
            self._fixed_words = words(self.text)
        return self._fixed_words

    def _word_spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every word in ``text``, found left to right as TextAttack does."""
        if self._spans is None:
            spans, pos = [], 0
            for w in self.words:
                start = text.index(w, pos)
                pos = start + len(w)
                spans.append((start, pos))
            self._spans = spans
        return self._spans

    def generate_new_attacked_text(self, new_words: Iterable[str]) -> AttackedText:
        if len(self._text_input) != 1:
            return super().generate_new_attacked_text(new_words)
        key, text = next(iter(self._text_input.items()))
        old_words = self.words
        new_words = list(new_words)
        if len(new_words) != len(old_words):
            raise ValueError(f"got {len(new_words)} new words for {len(old_words)} words")
        spans = self._word_spans(text)
        changed = [i for i, (old, new) in enumerate(zip(old_words, new_words, strict=True)) if old != new]
        pieces: dict[int, list[str]] = {}
        out: list[str] = []
        pos = 0
        for i in changed:
            start, end = spans[i]
            new = new_words[i]
            pieces[i] = words(new) if any(ch.isspace() for ch in new) else [new] if new else []
            out.append(text[pos:start])
            pos = end
            if pieces[i]:
                out.append(new)
                continue
            # A deleted word takes one adjacent space with it, as in TextAttack: the next one if nothing
            # but blanks precedes it, else the preceding one.
            before = "".join(out)
            if not before.strip():
                if text[pos : pos + 1] == " ":
                    pos += 1
            elif before.endswith(" "):
                out = [before[:-1]]
        out.append(text[pos:])
        attrs: dict[str, Any] = {"previous_attacked_text": self}
        if "label_names" in self.attack_attrs:
            attrs["label_names"] = self.attack_attrs["label_names"]
        if all(len(p) == 1 for p in pieces.values()):  # word count unchanged: indices stay
            result_words = new_words
            newly = set(changed)
            attrs["original_index_map"] = self.attack_attrs["original_index_map"].copy()
            attrs["modified_indices"] = set(self.attack_attrs["modified_indices"]) | newly
        else:
            result_words = []
            old_to_new = np.full(len(old_words), -1, dtype=int)
            newly = set()
            for i, old in enumerate(old_words):
                got = pieces.get(i, [old])
                if got:
                    old_to_new[i] = len(result_words) + (got.index(old) if old in got else 0)
                    if i in pieces:
                        newly.update(range(len(result_words), len(result_words) + len(got)))
                result_words.extend(got)
            index_map = self.attack_attrs["original_index_map"]
            attrs["original_index_map"] = np.where(index_map >= 0, old_to_new[np.maximum(index_map, 0)], -1)
            kept = (int(old_to_new[m]) for m in self.attack_attrs["modified_indices"])
            attrs["modified_indices"] = {m for m in kept if m >= 0} | newly
        attrs["newly_modified_indices"] = newly
        text_input = type(self._text_input)([(key, "".join(out))])
        return SegmentedText(text_input, attrs, words=result_words)


def as_segmented(text: AttackedText) -> AttackedText:
    """``text`` as a :class:`SegmentedText` with the same words and attributes (single input only)."""
    if isinstance(text, SegmentedText) or len(text._text_input) != 1:
        return text
    return SegmentedText(text._text_input, dict(text.attack_attrs), words=text.words)


class _Segmented:
    """Mixin: run the transformation on a :class:`SegmentedText` view of the current text."""

    def __call__(self, current_text: AttackedText, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(as_segmented(current_text), *args, **kwargs)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------------
# Constraints


class ProtectedWords(StopwordModification):
    """Stopwords (case-insensitive) are never modified, whatever the transformation.

    TextAttack's ``StopwordModification`` compares case-sensitively and declares itself incompatible
    with (hence silently skips) every transformation that is not a ``WordSwap``, e.g. ``WordDeletion``.
    """

    def __init__(self, stopwords: Iterable[str]):
        super().__init__(stopwords=sorted({w.casefold() for w in stopwords}))

    def _get_modifiable_indices(self, current_text: AttackedText) -> set[int]:
        return {i for i, w in enumerate(current_text.words) if w.casefold() not in self.stopwords}

    def check_compatibility(self, transformation: Any) -> bool:
        return True


class MinGraphemes(PreTransformationConstraint):
    """Only words of at least ``min_graphemes`` grapheme clusters (``min_graphemes_han`` for Han words).

    TextAttack's ``MinWordLength`` counts code points, so a Thai syllable with two marks counts as
    three "characters" while most Chinese words (two characters) would be excluded by the same bound.
    """

    def __init__(self, min_graphemes: int, min_graphemes_han: int | None = None):
        self.min_graphemes = min_graphemes
        self.min_graphemes_han = min_graphemes if min_graphemes_han is None else min_graphemes_han

    def _get_modifiable_indices(self, current_text: AttackedText) -> set[int]:
        out = set()
        for i, w in enumerate(current_text.words):
            bound = self.min_graphemes_han if _script(w) == "Han" else self.min_graphemes
            if len(_clusters(w)) >= bound:
                out.add(i)
        return out

    def extra_repr_keys(self) -> list[str]:
        return ["min_graphemes", "min_graphemes_han"]


class WordBudget(MaxWordsPerturbed):
    """The ``Augmenter``'s budget for a search: ``max(int(pct * n_words), 1)`` words changed.

    ``MaxWordsPerturbed`` rounds up instead, and counts positional differences, which after a word
    deletion counts every later word. ``mode="deletions"`` counts deleted words; ``mode="swaps"``
    allows one word more, since a swap moves two words and the ``Augmenter`` stops only once the
    budget is reached (one swap for a budget of one).
    """

    MODES = ("words", "deletions", "swaps")

    def __init__(self, pct: float, mode: str = "words"):
        if mode not in self.MODES:
            raise ValueError(f"mode={mode!r}: expected one of {', '.join(self.MODES)}")
        super().__init__(max_percent=pct if pct > 0 else None, max_num_words=1 if pct <= 0 else None)
        self.pct = pct
        self.mode = mode

    def _check_constraint(self, transformed_text: AttackedText, reference_text: AttackedText) -> bool:
        budget = max(int(self.pct * len(reference_text.words)), 1)
        if self.mode == "deletions":
            return len(reference_text.words) - len(transformed_text.words) <= budget
        changed = len(transformed_text.all_words_diff(reference_text))
        return changed <= budget + (self.mode == "swaps")

    def extra_repr_keys(self) -> list[str]:
        return ["pct", "mode"]


# ---------------------------------------------------------------------------------------------------
# Character noise


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "L"


class _CasedPool:
    """Letters of one script split by case, so a substitute matches the case of what it replaces."""

    def __init__(self, letters: str):
        self.all = tuple(letters)
        self.lower = tuple(c for c in letters if c.islower())
        self.upper = tuple(c for c in letters if c.isupper())
        self.caseless = tuple(c for c in letters if not (c.islower() or c.isupper()))

    def like(self, ref: str) -> tuple[str, ...]:
        base = ref[:1]
        if base.isupper() and self.upper:
            return self.upper
        if base.islower() and self.lower:
            return self.lower
        return self.caseless or self.all


class GraphemeCharNoise(_Segmented, WordSwap):
    """One grapheme edit per call: delete, swap neighbours, substitute or insert a letter.

    Works on extended grapheme clusters (a Thai or Devanagari consonant keeps its vowel signs; a
    substitution or deletion replaces or removes the whole cluster). Inserted and substituted letters
    come from ``letters[script]`` (the language's corpus alphabet for its own script, a per-script
    fallback for others; case-matched), where ``script`` is that of the grapheme edited: the one
    substituted, or for an insertion the one before it (:func:`~hbt_bench.adversarial.text.grapheme_script`;
    a hyphen or digit counts as the word's dominant script). So no ASCII letter lands in a Greek,
    Cyrillic, Arabic, Thai or Devanagari word, nor next to the Cyrillic half of ``HD-качестве`` (v1 took
    the script from the word's first letter and appended Latin letters there). For ASCII letters with a
    QWERTY key, substitution uses the neighbouring keys (TextAttack's ``WordSwapQWERTY`` map) and
    insertion a neighbour of the previous key. Han graphemes get only delete and swap; so do words of
    no known script (numbers).

    ``random_one=True`` picks one (operation, position) uniformly; ``False`` returns every candidate,
    deduplicated, in position-then-operation order, with substituted/inserted letters chosen by a
    stable hash of (word, position, operation) so the candidate set is the same in every process.
    """

    def __init__(
        self,
        letters: Mapping[str, str],
        ops: Sequence[str] = CHAR_OPS,
        qwerty: bool = True,
        random_one: bool = True,
    ):
        super().__init__(letters_to_insert="-")  # unused: letters come from ``letters``
        unknown = sorted(set(ops) - set(CHAR_OPS))
        if unknown or not ops:
            raise ValueError(f"ops={tuple(ops)!r}: expected a non-empty subset of {CHAR_OPS}")
        self.ops = tuple(op for op in CHAR_OPS if op in ops)
        self.letters = {script: _CasedPool(chars) for script, chars in sorted(letters.items()) if chars}
        self.qwerty = qwerty
        self.random_one = random_one
        self._adjacency = WordSwapQWERTY()._keyboard_adjacency if qwerty else {}
        self._slot_cache: dict[str, tuple[tuple[str, int], ...]] = {}

    @property
    def deterministic(self) -> bool:
        return not self.random_one

    def extra_repr_keys(self) -> list[str]:
        return ["ops", "qwerty", "random_one"]

    def _neighbours(self, cluster: str) -> list[str]:
        if len(cluster) != 1 or cluster.lower() not in self._adjacency:
            return []
        keys = self._adjacency[cluster.lower()]
        return [k.upper() for k in keys] if cluster.isupper() else list(keys)

    def _pool(self, script: str | None) -> _CasedPool | None:
        """Letters to insert or substitute in ``script``; none for Han or a script without letters."""
        return self.letters.get(script) if script and script != "Han" else None

    @staticmethod
    def _ref(g: tuple[str, ...], op: str, i: int) -> int:
        """The grapheme an edit at slot ``(op, i)`` takes its script and case from: the substituted
        one, or for an insertion the one before it (the first one at position 0)."""
        return i if op == "substitute" or i == 0 else i - 1

    def _slots(self, g: tuple[str, ...], word: str) -> list[tuple[str, int]]:
        n = len(g)
        slots = []
        for i in range(n + 1):
            for op in self.ops:
                if (op == "delete" and i < n and n >= 2) or (op == "swap" and i + 1 < n and g[i] != g[i + 1]):
                    slots.append((op, i))
                elif op == "substitute" and i < n and _is_letter(g[i][0]) and _own_script(g[i]):
                    if self._pool(_edit_script(g[i], word)) is not None or self._neighbours(g[i]):
                        slots.append((op, i))
                elif op == "insert" and n and self._pool(_edit_script(g[self._ref(g, op, i)], word)):
                    slots.append((op, i))
        return slots

    def _letter_choices(self, op: str, g: tuple[str, ...], i: int, word: str) -> list[str]:
        """Letters that may fill slot ``(op, i)``: QWERTY neighbours first, else the pool of the script
        of the grapheme edited (:func:`~hbt_bench.adversarial.text.grapheme_script`)."""
        ref = g[self._ref(g, op, i)]
        script = _edit_script(ref, word)
        if op == "substitute":
            near = self._neighbours(ref)
        else:
            near = self._neighbours(ref) if script == "Latin" else []
        if near:
            return near
        pool = self._pool(script)
        if pool is None:
            return []
        return [c for c in pool.like(ref) if op != "substitute" or c != g[i]]

    @staticmethod
    def _apply(g: tuple[str, ...], op: str, i: int, letter: str = "") -> str:
        if op == "delete":
            return "".join(g[:i] + g[i + 1 :])
        if op == "swap":
            return "".join((*g[:i], g[i + 1], g[i], *g[i + 2 :]))
        if op == "substitute":
            return "".join((*g[:i], letter, *g[i + 1 :]))
        return "".join((*g[:i], letter, *g[i:]))

    def _get_replacement_words(self, word: str) -> list[str]:
        g = _clusters(word)
        cached = self._slot_cache.get(word)
        if cached is None:
            if len(self._slot_cache) > 1 << 16:
                self._slot_cache.clear()
            cached = self._slot_cache[word] = tuple(self._slots(g, word))
        slots = list(cached)
        if self.random_one:
            while slots:
                k = random.randrange(len(slots))
                op, i = slots.pop(k)
                letter = ""
                if op in ("substitute", "insert"):
                    choices = self._letter_choices(op, g, i, word)
                    if not choices:
                        continue
                    letter = random.choice(choices)
                new = self._apply(g, op, i, letter)
                if new != word:
                    return [new]
            return []
        out: list[str] = []
        for op, i in slots:
            letter = ""
            if op in ("substitute", "insert"):
                choices = self._letter_choices(op, g, i, word)
                if not choices:
                    continue
                if op == "substitute" and self._neighbours(g[i]):
                    out.extend(self._apply(g, op, i, c) for c in choices)
                    continue
                letter = choices[stable_seed(word, i, op) % len(choices)]
            out.append(self._apply(g, op, i, letter))
        return [w for w in dict.fromkeys(out) if w != word]


# ---------------------------------------------------------------------------------------------------
# Unicode attacks


class ScriptHomoglyphSwap(_Segmented, WordSwapHomoglyphSwap):
    """Replace one letter of a word with a look-alike from another script (:data:`HOMOGLYPHS`).

    TextAttack's version maps lower-case Latin and digits only, and with ``random_one=True`` draws a
    position first and returns nothing when that position has no homoglyph; here the position is drawn
    among the single-code-point clusters that have one. Thai, Han, Devanagari and Arabic words have
    none and stay unchanged.
    """

    def __init__(self, random_one: bool = True, homoglyphs: Mapping[str, str] | None = None):
        super().__init__(random_one=random_one)
        self.homos = dict(HOMOGLYPHS if homoglyphs is None else homoglyphs)

    def _get_replacement_words(self, word: str) -> list[str]:
        g = _clusters(word)
        slots = [i for i, c in enumerate(g) if c in self.homos]
        if not slots:
            return []
        picks = [random.choice(slots)] if self.random_one else slots
        return ["".join((*g[:i], self.homos[g[i]], *g[i + 1 :])) for i in picks]


class GraphemeInvisibleCharacters(_Segmented, WordSwapInvisibleCharacters):
    """Insert one zero-width character between two grapheme clusters of a word.

    TextAttack's version inserts at a code-point position, which can cut a Thai vowel sign from its
    consonant (U+200B is a grapheme break, so the mark is then orphaned), and uses ZWNJ/ZWJ in
    Arabic and Devanagari, where they change the rendering.
    """

    def __init__(self, random_one: bool = True, chars: Mapping[str, str] | None = None):
        super().__init__(random_one=random_one)
        self.chars = dict(INVISIBLE_CHARS if chars is None else chars)

    def _get_replacement_words(self, word: str) -> list[str]:
        g = _clusters(word)
        chars = self.chars.get(_script(word) or "default", self.chars["default"])
        positions = [i for i in range(1, len(g)) if not g[i - 1].endswith(_VIRAMA)]
        if not positions:
            return []
        if self.random_one:
            i = random.choice(positions)
            return ["".join(g[:i]) + random.choice(chars) + "".join(g[i:])]
        return ["".join(g[:i]) + c + "".join(g[i:]) for i in positions for c in chars]


# ---------------------------------------------------------------------------------------------------
# Word level


def _digit_value(word: str) -> tuple[int, int] | None:
    """(value, code point of the script's zero) for a word made of decimal digits of one script."""
    if not word or len(word) > 15:
        return None
    zeros = set()
    value = 0
    for ch in word:
        d = unicodedata.decimal(ch, None)
        if d is None:
            return None
        zeros.add(ord(ch) - d)
        value = value * 10 + d
    if len(zeros) != 1:
        return None
    return value, zeros.pop()


class DigitNumberChange(_Segmented, WordSwapChangeNumber):
    """Change numbers written in digits, in the same digits (``1990`` -> ``2608``, ``١٩٩٠`` -> ``٢٦٠٨``).

    TextAttack's version also rewrites English number *words* and anything containing "one", "ten" or
    "and" as a substring (merging neighbouring words), writes new numbers in ASCII digits, and
    compares the numpy candidates with the string word (so "unchanged" candidates pass). The new
    values come from its ``_alter_number`` (``np.random``; 0, 2 and 4 are never changed there).
    """

    def _get_transformations(self, current_text: AttackedText, indices_to_modify: set[int]) -> list:
        words_ = current_text.words
        out = []
        for idx in sorted(indices_to_modify):
            parsed = _digit_value(words_[idx])
            if parsed is None:
                continue
            value, zero = parsed
            for r in self._alter_number(float(value)):
                new = "".join(chr(zero + int(d)) for d in str(int(r)))
                if new != words_[idx]:
                    out.append(current_text.replace_word_at_index(idx, new))
        return out


class SafeWordDeletion(_Segmented, WordDeletion):
    """Delete one word; never the last remaining one (TextAttack's guard, kept on segmented text)."""

    def _get_transformations(self, current_text: AttackedText, indices_to_modify: set[int]) -> list:
        if len(current_text.words) <= 1:
            return []
        return [current_text.delete_word_at_index(i) for i in sorted(indices_to_modify)]


class AdjacentWordSwap(_Segmented, WordSwap):
    """Swap a word with the next modifiable word at most ``window`` positions to its right.

    Words in between (stopwords, already moved words) keep their place, so a protected word is
    never moved. TextAttack's ``WordInnerSwapRandom`` swaps with any word of the text (not local),
    moves stopwords, and is not a ``WordSwap`` (so stopword constraints skip it).
    """

    def __init__(self, window: int = 3):
        super().__init__()
        if window < 1:
            raise ValueError(f"window={window}: must be >= 1")
        self.window = window

    def extra_repr_keys(self) -> list[str]:
        return ["window"]

    def __call__(
        self, current_text: AttackedText, pre_transformation_constraints: Any = (), *args: Any, **kw: Any
    ):
        # The partner word must itself be modifiable: remember the allowed set for _get_transformations.
        current_text = as_segmented(current_text)
        allowed = set(range(len(current_text.words)))
        for constraint in pre_transformation_constraints or ():
            allowed &= constraint(current_text, self)
        self._allowed = allowed
        return super().__call__(current_text, pre_transformation_constraints, *args, **kw)

    def _get_transformations(self, current_text: AttackedText, indices_to_modify: set[int]) -> list:
        words_ = current_text.words
        allowed = getattr(self, "_allowed", set(range(len(words_))))
        out = []
        for i in sorted(indices_to_modify):
            for j in range(i + 1, min(i + self.window, len(words_) - 1) + 1):
                if j in allowed:
                    if words_[j] != words_[i]:
                        out.append(current_text.replace_words_at_indices([i, j], [words_[j], words_[i]]))
                    break
        return out


class ChineseMorphonymSwap(_Segmented, ChineseMorphonymCharacterSwap):
    """Replace one Han character with a look-alike from TextAttack's morphonym table.

    TextAttack's ``_get_replacement_words`` aliases the word's character list (``temp_word = word``),
    so its candidates carry several replaced characters, and returns them from a ``set`` (order
    depends on ``PYTHONHASHSEED``). Here: one character per candidate, in table order.
    """

    _TABLE: ClassVar[dict[str, tuple[str, ...]]] = {}

    def _get_replacement_words(self, word: str) -> list[str]:
        table = self._table()
        out = []
        for i, ch in enumerate(word):
            for new in table.get(ch, ()):
                out.append(word[:i] + new + word[i + 1 :])
        return list(dict.fromkeys(out))

    @classmethod
    def _table(cls) -> dict[str, tuple[str, ...]]:
        if not cls._TABLE:
            table: dict[str, list[str]] = {}
            for group in MORPHONYM_LS:
                for ch in group:
                    bucket = table.setdefault(ch, [])
                    bucket.extend(c for c in group if c != ch and c not in bucket)
            cls._TABLE.update({ch: tuple(v) for ch, v in table.items()})
        return cls._TABLE


class EnglishWordNetSwap(_Segmented, WordSwapWordNet):
    """English WordNet synonyms with the word's capitalisation, sorted.

    TextAttack's constructor calls ``nltk.download("omw-1.4")`` every time (a network call); its
    candidates include mere case changes ("University" -> "university").
    """

    def __init__(self) -> None:
        WordSwap.__init__(self)
        self.language = "eng"

    def _get_replacement_words(self, word: str, random: bool = False) -> list[str]:
        out = []
        for syn in super()._get_replacement_words(word):
            if syn.casefold() == word.casefold():
                continue
            if word.isupper() and len(word) > 1:
                syn = syn.upper()
            elif word[:1].isupper():
                syn = syn[:1].upper() + syn[1:]
            out.append(syn)
        return list(dict.fromkeys(out))
