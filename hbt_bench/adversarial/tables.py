"""Unicode and language tables of the perturbation recipes: pure data, no imports.

They sit below both :mod:`~hbt_bench.adversarial.recipes` (which records them in the recipes' params,
so manifests carry them) and :mod:`~hbt_bench.adversarial.transformations` (which applies them), so
neither imports the other. Changing a value changes the frozen sets' outputs: bump the set version.
"""

from __future__ import annotations

__all__ = ["FALLBACK_SCRIPTS", "HOMOGLYPHS", "INVISIBLE_CHARS", "LANGUAGES", "MAIN_SCRIPT"]

#: The benchmark languages (XQuAD-R / MLQA-R) and the script each is written in.
LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MAIN_SCRIPT = {
    "ar": "Arabic",
    "de": "Latin",
    "el": "Greek",
    "en": "Latin",
    "es": "Latin",
    "hi": "Devanagari",
    "ru": "Cyrillic",
    "th": "Thai",
    "tr": "Latin",
    "vi": "Latin",
    "zh": "Han",
}
#: Scripts with a per-script fallback alphabet, for words outside their language's main script.
FALLBACK_SCRIPTS = ("Latin", "Cyrillic", "Arabic", "Greek", "Devanagari", "Thai")

# TextAttack's Latin map (letters only: its digit entries put letters into numbers, '0' -> 'O'),
# plus capital Latin and Cyrillic/Greek look-alikes from Unicode's confusables.
HOMOGLYPHS: dict[str, str] = {
    **{
        "a": "ɑ", "b": "Ь", "c": "ϲ", "d": "ԁ", "e": "е", "f": "𝚏", "g": "ɡ", "h": "հ", "i": "і",
        "j": "ϳ", "k": "𝒌", "l": "ⅼ", "m": "ｍ", "n": "ո", "o": "о", "p": "р", "q": "ԛ", "r": "ⲅ",
        "s": "ѕ", "t": "𝚝", "u": "ս", "v": "ѵ", "w": "ԝ", "x": "×", "y": "у", "z": "ᴢ",
    },
    **{
        "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "I": "І", "J": "Ј", "K": "К", "M": "М",
        "O": "О", "P": "Р", "S": "Ѕ", "T": "Т", "X": "Х", "Y": "Ү", "Z": "Ζ",
    },
    # Cyrillic -> Latin
    **{
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
        "ѕ": "s", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
        "С": "C", "Т": "T", "Х": "X",
    },
    # Greek -> Latin
    **{
        "ο": "o", "α": "ɑ", "ν": "v", "ρ": "p", "ι": "ɩ", "κ": "ĸ", "υ": "ʋ", "Α": "A", "Β": "B",
        "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
        "Τ": "T", "Υ": "Y", "Χ": "X",
    },
}  # fmt: skip

# Zero-width characters that change nothing visible in that script: ZWNJ breaks Arabic joining and ZWJ /
# ZWNJ after a virama change Devanagari conjuncts, so those scripts get one safe choice each.
INVISIBLE_CHARS: dict[str, str] = {
    "default": "\u200b\u200c\u200d",
    "Arabic": "\u200d",
    "Devanagari": "\u200b",
}
