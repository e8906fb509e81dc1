"""Perturbation recipes: script safety, stopword protection, strengths, determinism, statuses.

The checks are black-box: an output is accepted only if it can be *explained* from the original
text, i.e. the separators between words are unchanged and each changed word is an allowed edit of
the original word (for character noise: one grapheme edit, inserting/substituting only letters of the
edited grapheme's script). Needs TextAttack (``make attack-deps``); uses the real XQuAD-R questions when the
shared data is present, and built-in sample questions in every case.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import regex
import stopwordsiso

from hbt_bench.adversarial import alphabets as A
from hbt_bench.adversarial import recipes as R
from hbt_bench.adversarial import tables as T
from hbt_bench.adversarial.text import graphemes, script_of, words
from hbt_bench.adversarial.textattack_adapter import (
    TextAttackUnavailable,
    import_textattack,
    wordnet_available,
)
from tests.conftest import SHARED_DATA

try:
    import_textattack()
except TextAttackUnavailable as exc:
    pytest.skip(f"TextAttack unavailable: {exc}", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
_MARK = regex.compile(r"\p{M}")
INVISIBLE = {"\u200b", "\u200c", "\u200d"}

# Two questions per language (parallel), so the invariants run even without the shared data.
SAMPLES: dict[str, tuple[str, str]] = {
    "en": ("When was the University of Chicago founded?", "How many people lived in Berlin in 1990?"),
    "es": ("¿Cuándo se fundó la Universidad de Chicago?", "¿Cuántas personas vivían en Berlín en 1990?"),
    "de": ("Wann wurde die Universität von Chicago gegründet?", "Wie viele Menschen lebten 1990 in Berlin?"),
    "el": ("Πότε ιδρύθηκε το Πανεπιστήμιο του Σικάγο;", "Πόσοι άνθρωποι ζούσαν στο Βερολίνο το 1990;"),
    "ru": ("Когда был основан Чикагский университет?", "Сколько людей жило в Берлине в 1990 году?"),
    "tr": ("Chicago Üniversitesi ne zaman kuruldu?", "1990 yılında Berlin'de kaç kişi yaşıyordu?"),
    "ar": ("متى تأسست جامعة شيكاغو؟", "كم عدد الأشخاص الذين عاشوا في برلين عام 1990؟"),
    "vi": ("Đại học Chicago được thành lập khi nào?", "Có bao nhiêu người sống ở Berlin vào năm 1990?"),
    "th": ("มหาวิทยาลัยชิคาโกก่อตั้งขึ้นเมื่อใด", "ในปี 1990 มีคนอาศัยอยู่ในเบอร์ลินกี่คน"),
    "zh": ("芝加哥大学是什么时候成立的？", "1990年有多少人住在柏林？"),
    "hi": ("शिकागो विश्वविद्यालय की स्थापना कब हुई थी?", "1990 में बर्लिन में कितने लोग रहते थे?"),
}
HAVE_DATA = all((SHARED_DATA / d).is_dir() for d in ("xquad-r", "mlqa-r"))


@cache
def _xquad():
    from hbt_bench.data.lareqa import load_lareqa

    return load_lareqa("xquad-r", data_dir=SHARED_DATA)


@cache
def queries(lang: str) -> tuple[tuple[str, str], ...]:
    """The samples plus, with the shared data, 2 real questions and the first one with digits."""
    items = [(f"sample{i}", t) for i, t in enumerate(SAMPLES[lang])]
    if HAVE_DATA:
        qs = _xquad().languages[lang].questions
        items += [(q.qid, q.text) for q in qs[:2]]
        items += [(q.qid, q.text) for q in qs if regex.search(r"\d", q.text)][:1]
    return tuple(items)


def _skip_unavailable(recipe: R.Recipe) -> None:
    if recipe.name == "en-synonym" and not wordnet_available():
        pytest.skip("English WordNet data not available (apt-get install wordnet-base; see textattack.md §4)")


# ---------------------------------------------------------------------------------------------------
# Explaining an output from its original


@cache
def _stop(lang: str) -> frozenset[str]:
    return (
        frozenset(w.casefold() for w in stopwordsiso.stopwords(lang))
        if stopwordsiso.has_lang(lang)
        else frozenset()
    )


def _tokens(text: str) -> tuple[list[str], list[str]]:
    """(separators, words): text == seps[0] + words[0] + seps[1] + ... + seps[-1]."""
    ws = words(text)
    seps, pos = [], 0
    for w in ws:
        i = text.index(w, pos)
        seps.append(text[pos:i])
        pos = i + len(w)
    seps.append(text[pos:])
    return seps, ws


def explain_word_edits(
    orig: str, new: str, lang: str, ok: Callable[[str, str], bool]
) -> list[tuple[str, str]] | None:
    """Fewest (word, replacement) pairs turning ``orig`` into ``new`` with separators and stopwords
    unchanged and ``ok(word, replacement)`` for every pair; None if there is no such explanation."""
    seps, ws = _tokens(orig)
    stop = _stop(lang)

    @cache
    def go(i: int, p: int) -> tuple[tuple[str, str], ...] | None:
        if not new.startswith(seps[i], p):
            return None
        p += len(seps[i])
        if i == len(ws):
            return () if p == len(new) else None
        w, best = ws[i], None
        if new.startswith(w, p):
            best = go(i + 1, p + len(w))
        if w.casefold() in stop:
            return best
        nxt = seps[i + 1]
        for q in range(p + 1, min(len(new), p + 3 * len(w) + 12) + 1):
            if nxt and not new.startswith(nxt, q):
                continue
            cand = new[p:q]
            if cand == w or any(ch.isspace() for ch in cand) or not ok(w, cand):
                continue
            rest = go(i + 1, q)
            if rest is not None and (best is None or len(rest) + 1 < len(best)):
                best = ((w, cand), *rest)
        return best

    found = go(0, 0)
    return None if found is None else list(found)


def explain_drop(orig: str, new: str, lang: str) -> int | None:
    """Fewest deleted non-stopwords explaining ``new`` (one adjacent space may go with each); None if none."""
    seps, ws = _tokens(orig)
    stop = _stop(lang)

    @cache
    def go(i: int, p: int, prev_deleted: bool, kept: bool) -> float:
        sep = seps[i]
        variants = {sep: False} | {sep[:k] + sep[k + 1 :]: True for k, ch in enumerate(sep) if ch == " "}
        best = float("inf")
        for v, stripped in variants.items():
            if not new.startswith(v, p):
                continue
            q = p + len(v)
            if i == len(ws):
                if q == len(new) and kept and (prev_deleted or not stripped):
                    best = 0
                continue
            w = ws[i]
            if new.startswith(w, q) and (prev_deleted or not stripped):
                best = min(best, go(i + 1, q + len(w), False, True))
            if w.casefold() not in stop:
                best = min(best, 1 + go(i + 1, q, True, kept))
        return best

    n = go(0, 0, False, False)
    return None if n == float("inf") else int(n)


def explain_shuffle(orig: str, new: str, lang: str) -> int | None:
    """Fewest displaced words explaining ``new`` as a permutation of the non-stopwords of ``orig``
    (separators and stopwords in place); None if there is none."""
    seps, ws = _tokens(orig)
    stop = _stop(lang)
    movable = Counter(w for w in ws if w.casefold() not in stop)

    def go(i: int, p: int, left: Counter) -> float:
        if not new.startswith(seps[i], p):
            return float("inf")
        p += len(seps[i])
        if i == len(ws):
            return 0 if p == len(new) else float("inf")
        w = ws[i]
        if w.casefold() in stop:
            return go(i + 1, p + len(w), left) if new.startswith(w, p) else float("inf")
        best = float("inf")
        for cand in sorted(left):
            if left[cand] and new.startswith(cand, p):
                left[cand] -= 1
                best = min(best, (cand != w) + go(i + 1, p + len(cand), left))
                left[cand] += 1
        return best

    n = go(0, 0, movable.copy())
    return None if n == float("inf") else int(n)


def grapheme_edit(a: str, b: str) -> tuple[str, str, set[int]] | None:
    """(operation, inserted/substituted cluster or "", indices in ``a`` of the grapheme the edit takes
    its script from) if ``b`` is one grapheme edit of ``a``. For an insertion at ``i`` that grapheme is
    ``a[i-1]`` (``a[0]`` at the start); every position that explains the insertion is returned."""
    ga, gb = graphemes(a), graphemes(b)
    if len(gb) == len(ga) - 1:
        if any(ga[:i] + ga[i + 1 :] == gb for i in range(len(ga))):
            return ("delete", "", set())
    elif len(gb) == len(ga) + 1:
        at = [i for i in range(len(gb)) if gb[:i] + gb[i + 1 :] == ga]
        if at:
            return ("insert", gb[at[0]], {max(i - 1, 0) for i in at})
    elif len(ga) == len(gb):
        diff = [i for i in range(len(ga)) if ga[i] != gb[i]]
        if len(diff) == 1:
            return ("substitute", gb[diff[0]], {diff[0]})
        if (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and (ga[diff[0]], ga[diff[1]]) == (gb[diff[1]], gb[diff[0]])
        ):
            return ("swap", "", set())
    return None


# Script from the Unicode character name ("CYRILLIC SMALL LETTER KA"): independent of the code's
# regex script properties. Letters without a script word (modifier letters) count as the word's.
_NAME_SCRIPT = {
    "LATIN": "Latin",
    "CYRILLIC": "Cyrillic",
    "GREEK": "Greek",
    "ARABIC": "Arabic",
    "DEVANAGARI": "Devanagari",
    "THAI": "Thai",
    "CJK": "Han",
}


def name_script(ch: str) -> str | None:
    if unicodedata.category(ch)[0] != "L":
        return None
    return _NAME_SCRIPT.get(unicodedata.name(ch, "?").split()[0])


def majority_script(word: str) -> str | None:
    counts = Counter(s for s in map(name_script, word) if s)
    return counts.most_common(1)[0][0] if counts else None  # ties: the first seen


def edited_script(word: str, cluster: str) -> str | None:
    """The script an edit of grapheme ``cluster`` of ``word`` must use: the cluster's base letter's,
    else (digit, hyphen, modifier letter) the word's majority script."""
    return name_script(cluster[0]) or majority_script(word)


def char_noise_ok(word: str, cand: str) -> bool:
    script = script_of(word)
    n = len(graphemes(word))
    if n < (2 if script == "Han" else 3):
        return False
    edit = grapheme_edit(word, cand)
    if edit is None:
        return False
    op, cluster, refs = edit
    if op in ("insert", "substitute"):
        # One letter, of the script of the grapheme edited (never ASCII in or next to a Greek, Cyrillic,
        # Arabic, Thai or Hindi grapheme, even in a mixed word like HD-качестве), none next to Han.
        if len(cluster) != 1 or unicodedata.category(cluster)[0] != "L":
            return False
        g = graphemes(word)
        wanted = {edited_script(word, g[i]) for i in refs}
        if name_script(cluster) not in wanted - {None, "Han"}:
            return False
    return True


def homoglyph_ok(word: str, cand: str) -> bool:
    if len(word) != len(cand):
        return False
    diff = [i for i in range(len(word)) if word[i] != cand[i]]
    return len(diff) == 1 and T.HOMOGLYPHS.get(word[diff[0]]) == cand[diff[0]]


def invisible_ok(word: str, cand: str) -> bool:
    if len(cand) != len(word) + 1:
        return False
    k = next((i for i in range(len(word)) if word[i] != cand[i]), len(word))
    ch = cand[k]
    if ch not in INVISIBLE or cand[:k] + cand[k + 1 :] != word or not 0 < k < len(word):
        return False
    allowed = {"Arabic": {"\u200d"}, "Devanagari": {"\u200b"}}.get(script_of(word) or "", INVISIBLE)
    bounds = {sum(map(len, graphemes(word)[:j])) for j in range(len(graphemes(word)) + 1)}
    return ch in allowed and k in bounds  # between two clusters, never inside one


def _digits(word: str) -> int | None:
    """Code point of the zero of ``word``'s digits, or None if it is not all digits of one script."""
    zeros = {ord(c) - unicodedata.decimal(c) for c in word if unicodedata.decimal(c, None) is not None}
    return (
        zeros.pop()
        if len(zeros) == 1 and all(unicodedata.decimal(c, None) is not None for c in word)
        else None
    )


def number_ok(word: str, cand: str) -> bool:
    return _digits(word) is not None and _digits(word) == _digits(cand)


def morphonym_ok(word: str, cand: str) -> bool:
    diff = [i for i in range(len(word)) if len(cand) == len(word) and word[i] != cand[i]]
    return len(diff) == 1 and script_of(word[diff[0]]) == script_of(cand[diff[0]]) == "Han"


def synonym_ok(word: str, cand: str) -> bool:
    return cand.casefold() != word.casefold() and bool(words(cand)) and script_of(cand) == "Latin"


WORD_EDIT_CHECKS: dict[str, Callable[[str, str], bool]] = {
    "char-noise": char_noise_ok,
    "homoglyph": homoglyph_ok,
    "invisible": invisible_ok,
    "number": number_ok,
    "zh-morphonym": morphonym_ok,
    "en-synonym": synonym_ok,
}


def _budget(recipe: R.Recipe, text: str) -> int:
    return max(int(recipe.params["pct_words_to_swap"] * len(words(text))), 1)


def _orphans(text: str) -> Counter:
    return Counter(c for c in graphemes(text) if _MARK.match(c))


# ---------------------------------------------------------------------------------------------------
# Registry


def test_registry_ids_and_leaderboard() -> None:
    assert all(rid == r.id == f"{r.name}@{r.strength}" for rid, r in R.RECIPES.items())
    assert set(R.LEADERBOARD_RECIPES) <= set(R.RECIPES)
    assert len(set(R.LEADERBOARD_RECIPES)) == len(R.LEADERBOARD_RECIPES)
    core = {r.id for r in R.RECIPES.values() if r.core}
    assert core == {
        "char-noise@1edit",
        "char-noise@10pct",
        "char-noise@30pct",
        "invisible@10pct",
        "word-drop@10pct",
        "word-drop@30pct",
        "word-shuffle@10pct",
        "word-shuffle@30pct",
    }
    for r in R.RECIPES.values():
        assert r.family in ("character", "unicode", "word")
        assert r.core <= (r.languages is None)
        json.dumps(r.to_dict())  # manifests can record it
        assert r.to_dict()["params"]["pct_words_to_swap"] == r.params["pct_words_to_swap"]
    assert R.get_recipe("zh-morphonym@10pct").applies_to("zh")
    assert not R.get_recipe("zh-morphonym@10pct").applies_to("en")
    assert R.get_recipe("char-noise@1edit").applies_to("fr")


def test_unknown_recipe_lists_valid_ids() -> None:
    with pytest.raises(ValueError, match=r"'char-noise@20pct'.*char-noise@10pct.*en-synonym@10pct"):
        R.get_recipe("char-noise@20pct")
    with pytest.raises(ValueError, match="unknown recipe"):
        R.perturb("nope", "en", [("q", "text")])


def test_recipe_not_for_language_raises() -> None:
    with pytest.raises(ValueError, match=r"zh-morphonym@10pct.*'en'"):
        R.perturb("zh-morphonym@10pct", "en", [("q", "When was it founded?")])
    with pytest.raises(ValueError, match=r"en-synonym@10pct.*'de'"):
        R.attack_components("de", "en-synonym@10pct")


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(ValueError, match="jobs=0"):
        R.perturb("char-noise@10pct", "en", [("q", "text")], jobs=0)
    with pytest.raises(TypeError, match=r"items\[1\]"):
        R.perturb("char-noise@10pct", "en", [("q", "text"), ("q2", None)])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------------
# Alphabets


def test_alphabets_are_own_script_base_letters() -> None:
    assert A.alphabet("zh") == ""
    for lang, script in T.MAIN_SCRIPT.items():
        letters = A.alphabet(lang)
        if script == "Han":
            continue
        assert len(letters) >= 25, lang
        assert list(letters) == sorted(set(letters)), f"{lang}: not sorted by code point / duplicated"
        for ch in letters:
            assert script_of(ch) == script, f"{lang}: {ch!r} is not {script}"
            assert len(graphemes("a" + ch)) == 2, f"{lang}: {ch!r} attaches to the previous letter"
        if script != "Latin":
            assert not any(ch.isascii() for ch in letters), lang
    for script in T.FALLBACK_SCRIPTS:
        assert A.alphabet(script) and all(script_of(ch) == script for ch in A.alphabet(script))
    with pytest.raises(ValueError, match="'fr'"):
        A.alphabet("fr")


def test_alphabets_rebuild_from_real_data(shared_data: Path) -> None:
    from hbt_bench.data.lareqa import load_lareqa

    shipped = json.loads(A.alphabets_path().read_text(encoding="utf-8"))
    assert R.build_alphabets(load_lareqa("xquad-r", data_dir=shared_data)) == shipped


# ---------------------------------------------------------------------------------------------------
# Every recipe on every applicable language


_CASES = [(rid, lang) for rid, r in R.RECIPES.items() for lang in T.LANGUAGES if r.applies_to(lang)]


@pytest.mark.parametrize(("recipe_id", "lang"), _CASES, ids=[f"{r}-{lang}" for r, lang in _CASES])
def test_recipe_output_is_explained(recipe_id: str, lang: str) -> None:
    recipe = R.get_recipe(recipe_id)
    _skip_unavailable(recipe)
    items = queries(lang)
    out = R.perturb(recipe, lang, items)
    assert len(out) == len(items)
    for (qid, text), p in zip(items, out, strict=True):
        where = f"{recipe_id} {lang} {qid}: {text!r} -> {p.text!r}"
        assert p.status == ("unchanged" if p.text == text else "perturbed"), where
        assert _orphans(p.text) <= _orphans(text), f"orphaned combining mark: {where}"
        if p.status == "unchanged":
            continue
        if recipe.name in WORD_EDIT_CHECKS:
            pairs = explain_word_edits(text, p.text, lang, WORD_EDIT_CHECKS[recipe.name])
            assert pairs, f"not explained as {recipe.name} edits within words: {where}"
            if recipe.strength == "1edit":
                assert len(pairs) == 1, f"1edit changed {pairs}: {where}"
            elif recipe.strength != "all":
                assert len(pairs) <= _budget(recipe, text), f"{pairs}: {where}"
        elif recipe.name == "word-drop":
            n = explain_drop(text, p.text, lang)
            assert n is not None and 1 <= n <= _budget(recipe, text), f"{n} deletions: {where}"
            assert words(p.text), where
        elif recipe.name == "word-shuffle":
            n = explain_shuffle(text, p.text, lang)
            assert n is not None and 2 <= n <= _budget(recipe, text) + 1, f"{n} moved: {where}"
        else:
            raise AssertionError(f"no check for recipe {recipe_id}")


@pytest.mark.parametrize("lang", T.LANGUAGES)
def test_core_recipes_change_most_queries(lang: str) -> None:
    items = queries(lang)
    for rid in ("char-noise@1edit", "char-noise@30pct", "invisible@10pct", "word-drop@10pct"):
        out = R.perturb(rid, lang, items)
        assert sum(p.status == "perturbed" for p in out) >= len(items) - 1, (rid, lang, out)


def test_numbers_change_and_keep_their_digits() -> None:
    out = R.perturb(
        "number@all",
        "ar",
        [("a", "كم عدد سكان برلين عام ١٩٩٠ و 2015؟"), ("b", "متى تأسست جامعة شيكاغو؟")],
    )
    assert out[1] == R.Perturbation("متى تأسست جامعة شيكاغو؟", "unchanged")
    assert out[0].status == "perturbed"
    pairs = explain_word_edits("كم عدد سكان برلين عام ١٩٩٠ و 2015؟", out[0].text, "ar", number_ok)
    assert pairs is not None and len(pairs) == 2  # "all": both numbers, each in its own digits


def test_unchanged_and_empty_are_reported() -> None:
    items = [("a", ""), ("b", "   "), ("c", "Chicago"), ("d", "the of and"), ("e", "What?")]
    for rid in R.RECIPES:
        recipe = R.get_recipe(rid)
        if not recipe.applies_to("en"):
            continue
        _skip_unavailable(recipe)
        out = R.perturb(recipe, "en", items)
        assert [p.status for p in out[:2]] == ["empty", "empty"], rid
        assert out[1].text == "   "
        assert out[3] == R.Perturbation("the of and", "unchanged"), rid  # stopwords only
        if recipe.name == "word-drop":
            assert out[2] == R.Perturbation("Chicago", "unchanged")  # never the last word
    no_digits = R.perturb("number@all", "en", [("q", "When was the University of Chicago founded?")])
    assert no_digits[0].status == "unchanged"


def test_stopwords_are_protected_case_insensitively() -> None:
    text = "When Was The University Of Chicago Founded And Why?"
    for rid in ("char-noise@30pct", "word-drop@30pct", "word-shuffle@30pct", "homoglyph@10pct"):
        for seed in range(5):
            new = R.perturb(rid, "en", [("q", text)], seed=seed)[0].text
            kept = [w for w in words(new) if w.casefold() in _stop("en")]
            assert kept == ["When", "Was", "The", "Of", "And", "Why"], (rid, new)


@pytest.mark.parametrize(
    ("lang", "text", "script"),
    [
        ("bg", "Кога е основан Чикагският университет в България?", "Cyrillic"),
        ("fr", "Quand l'Université de Chicago a-t-elle été fondée?", "Latin"),
        ("ur", "شکاگو یونیورسٹی کب قائم ہوئی تھی؟", "Arabic"),
    ],
)
def test_unknown_language_uses_script_alphabets(lang: str, text: str, script: str) -> None:
    items = [(f"q{i}", text) for i in range(12)]
    inserted = 0
    for p in R.perturb("char-noise@30pct", lang, items):
        assert p.status == "perturbed"
        pairs = explain_word_edits(text, p.text, lang, char_noise_ok)
        assert pairs, p.text
        inserted += sum(len(b) > len(a) for a, b in pairs)
    assert inserted  # insertions happened, all of the word's script (checked by char_noise_ok)


# Words whose graphemes are of several scripts (issue 9: v1 appended Latin letters to HD-качестве).
MIXED_WORDS = [
    ("ru", "HD-качестве"),
    ("ru", "T-клеток"),
    ("ru", "Симанcом"),  # a Latin c inside a Cyrillic word, as in XQuAD-R ru
    ("ar", "بولl"),
    ("en", "Chicago"),
    ("ru", "качестве"),
    ("hi", "विश्वविद्यालय"),
    ("th", "มหาวิทยาลัย"),
    ("zh", "芝加哥大学"),
    ("zh", "iPhone手机"),
    ("el", "COVID-λοίμωξη"),
]


def test_the_v1_mixed_script_defect_is_what_the_checker_rejects() -> None:
    assert not char_noise_ok("HD-качестве", "HD-качествеe")  # the v1 output from the issue
    assert char_noise_ok("HD-качестве", "HD-качествеэ")
    assert char_noise_ok("HD-качестве", "HDF-качестве")  # a QWERTY neighbour of D after D
    assert not char_noise_ok("HD-качестве", "HDф-качестве")
    assert not char_noise_ok("芝加哥大学", "芝加哥大学a")


@pytest.mark.parametrize(("lang", "word"), MIXED_WORDS, ids=[w for _, w in MIXED_WORDS])
def test_char_noise_letters_take_the_script_of_the_edited_grapheme(lang: str, word: str) -> None:
    from hbt_bench.adversarial.transformations import GraphemeCharNoise

    every = GraphemeCharNoise(A.script_letters(lang), random_one=False)._get_replacement_words(word)
    assert every
    for cand in every:
        assert char_noise_ok(word, cand), (word, cand)
    inserted = {grapheme_edit(word, c)[1] for c in every if grapheme_edit(word, c)[0] == "insert"}
    scripts = {name_script(c) for c in inserted}
    if lang == "zh" and word.startswith("iPhone"):
        assert scripts == {"Latin"}  # next to the Latin part only: Han gets no insertions
    elif lang == "zh":
        assert not inserted
    elif word == "HD-качестве":
        assert scripts == {"Latin", "Cyrillic"}
        assert not any(c.startswith("HD-качестве") and name_script(c[-1]) == "Latin" for c in every)
    # random_one=True (what the frozen sets use) draws from the same slots and letters
    for seed in range(40):
        random.seed(seed)
        one = GraphemeCharNoise(A.script_letters(lang))._get_replacement_words(word)
        assert len(one) == 1 and char_noise_ok(word, one[0]), (word, one)


def test_char_noise_on_the_issue_question_keeps_scripts() -> None:
    text = "Какой стандарт используется для большинства трансляций в HD-качестве?"
    items = [(f"q{i}", text) for i in range(30)]
    for rid in ("char-noise@1edit", "char-noise@30pct"):
        for p in R.perturb(rid, "ru", items):
            assert explain_word_edits(text, p.text, "ru", char_noise_ok), (rid, p.text)


# ---------------------------------------------------------------------------------------------------
# Determinism


def _digest_items() -> dict[str, list[tuple[str, str]]]:
    out = {}
    for lang in ("en", "zh"):
        if HAVE_DATA:
            out[lang] = [(q.qid, q.text) for q in _xquad().languages[lang].questions[:50]]
        else:
            out[lang] = [(f"s{i}", SAMPLES[lang][i % 2]) for i in range(50)]
    return out


def outputs_digest(items: dict[str, list[tuple[str, str]]], include_wordnet: bool) -> str:
    h = hashlib.sha256()
    for lang, its in sorted(items.items()):
        for rid, recipe in R.RECIPES.items():
            if not recipe.applies_to(lang) or (recipe.name == "en-synonym" and not include_wordnet):
                continue
            for p in R.perturb(recipe, lang, its, seed=3):
                h.update(f"{rid}\t{lang}\t{p.status}\t{p.text}\n".encode())
    return h.hexdigest()


def test_same_output_in_a_process_with_another_hash_seed(tmp_path: Path) -> None:
    items = _digest_items()
    use_wn = wordnet_available()
    (tmp_path / "items.json").write_text(json.dumps(items), encoding="utf-8")
    here = outputs_digest(items, use_wn)
    hashseed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    code = (
        "import json, sys; from tests.adversarial.test_recipes import outputs_digest;"
        f"print(outputs_digest(json.load(open(sys.argv[1], encoding='utf-8')), {use_wn}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "items.json")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == here


def test_independent_of_order_subset_and_jobs() -> None:
    if HAVE_DATA:
        items = [(q.qid, q.text) for q in _xquad().languages["th"].questions[:80]]
    else:
        items = [(f"s{i}", SAMPLES["th"][i % 2]) for i in range(80)]
    for rid in ("char-noise@30pct", "word-shuffle@30pct"):
        full = R.perturb(rid, "th", items, seed=5)
        assert R.perturb(rid, "th", items[::-1], seed=5)[::-1] == full
        assert R.perturb(rid, "th", items[30:35], seed=5) == full[30:35]
        assert R.perturb(rid, "th", items, seed=5, jobs=2) == full
        assert R.perturb(R.get_recipe(rid), "th", items[:5], seed=5) == full[:5]
        assert R.perturb(rid, "th", items, seed=6) != full  # the seed matters


# ---------------------------------------------------------------------------------------------------
# Components for model-targeted attacks


@pytest.mark.parametrize(
    ("lang", "text"),
    [("ru", SAMPLES["ru"][0]), ("th", SAMPLES["th"][0]), ("en", SAMPLES["en"][0]), ("zh", SAMPLES["zh"][0])],
)
def test_attack_components_are_script_safe(lang: str, text: str) -> None:
    from textattack.constraints import PreTransformationConstraint
    from textattack.shared import AttackedText

    transformation, constraints = R.attack_components(lang, "char-noise@30pct")
    pre = [c for c in constraints if isinstance(c, PreTransformationConstraint)]
    post = [c for c in constraints if not isinstance(c, PreTransformationConstraint)]
    assert post, "a word budget for the search"
    candidates = transformation(AttackedText(text), pre)
    assert len(candidates) > 10
    texts = [c.text for c in candidates]
    assert len(set(texts)) == len(texts)
    again = [c.text for c in R.attack_components(lang, "char-noise@30pct")[0](AttackedText(text), pre)]
    assert again == texts  # the same candidates, in the same order
    for new in texts:
        pairs = explain_word_edits(text, new, lang, char_noise_ok)
        assert pairs is not None and len(pairs) == 1, new
        assert _orphans(new) <= _orphans(text)


@pytest.mark.parametrize(
    "recipe_id", ["word-drop@30pct", "word-shuffle@30pct", "invisible@10pct", "number@all"]
)
def test_attack_components_of_word_and_unicode_recipes(recipe_id: str) -> None:
    from textattack.constraints import PreTransformationConstraint
    from textattack.shared import AttackedText

    text = "How many people lived in the city of Berlin in 1990 and 2015?"
    transformation, constraints = R.attack_components("en", recipe_id)
    pre = [c for c in constraints if isinstance(c, PreTransformationConstraint)]
    original = AttackedText(text)
    candidates = transformation(original, pre)
    assert candidates
    for cand in candidates:
        new = cand.text
        if recipe_id.startswith("word-drop"):
            assert explain_drop(text, new, "en") == 1, new
        elif recipe_id.startswith("word-shuffle"):
            assert explain_shuffle(text, new, "en") == 2, new
        else:
            ok = invisible_ok if recipe_id.startswith("invisible") else number_ok
            assert len(explain_word_edits(text, new, "en", ok) or ()) == 1, new
        assert all(c(cand, original) for c in constraints if c not in pre)


# ---------------------------------------------------------------------------------------------------
# Transformation kinds (the factory) and the module layering

# Each kind builds the transformation class of the same name; the word budget of a targeted attack counts
# deletions for word-drop and allows the two words of one swap for word-shuffle (WordBudget's docstring).
_BUDGETS = {"SafeWordDeletion": "deletions", "AdjacentWordSwap": "swaps"}


@pytest.mark.parametrize("recipe_id", list(R.RECIPES))
def test_every_recipe_kind_builds_its_transformation(recipe_id: str) -> None:
    from hbt_bench.adversarial import transformations as tr

    recipe = R.get_recipe(recipe_id)
    kind = recipe.params["transformation"]
    assert R.TRANSFORMATION_KINDS[kind].name == kind
    if kind == "EnglishWordNetSwap" and not wordnet_available():
        pytest.skip("English WordNet data not available")
    lang = (recipe.languages or ("en",))[0]
    transformation, constraints = R.attack_components(lang, recipe)
    assert type(transformation) is getattr(tr, kind)
    budgets = [c for c in constraints if isinstance(c, tr.WordBudget)]
    if recipe.strength == "all":
        assert not budgets
    else:
        [budget] = budgets
        assert (budget.mode, budget.pct) == (_BUDGETS.get(kind, "words"), recipe.params["pct_words_to_swap"])


def test_unknown_or_duplicate_kind_is_a_clear_error() -> None:
    odd = R.Recipe("odd", "1edit", "word", "test only", None, False, {"transformation": "Nope"})
    with pytest.raises(ValueError, match=r"recipe odd@1edit: unknown transformation 'Nope'"):
        R.attack_components("en", odd)
    with pytest.raises(ValueError, match="'SafeWordDeletion' is already registered"):
        R.transformation_kind("SafeWordDeletion")(lambda recipe, lang, random_one: None)
    assert R.TRANSFORMATION_KINDS["SafeWordDeletion"].budget == "deletions"  # the first one stays


def test_tables_and_transformations_do_not_import_recipes() -> None:
    """The data tables sit below both recipes and transformations: no recipes <-> transformations cycle."""
    code = (
        "import sys\n"
        "import hbt_bench.adversarial.tables, hbt_bench.adversarial.alphabets\n"
        "import hbt_bench.adversarial.transformations\n"
        "assert 'hbt_bench.adversarial.recipes' not in sys.modules, 'transformations imports recipes'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=300)
