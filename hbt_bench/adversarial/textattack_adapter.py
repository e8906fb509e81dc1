"""The one place that imports TextAttack 0.3.11, with its offline quirks contained.

TextAttack cannot be installed plainly next to transformers 5 / sentence-transformers 6: it depends on
flair, whose releases need transformers < 5. We install it ``--no-deps`` (``make attack-deps``) and here:

- stub out ``flair`` when it is absent or broken (TextAttack subclasses ``flair.data.Tokenizer`` at import
  time; the flair-backed components we never use then raise a clear error);
- give NLTK an ``english`` stopword list from ``stopwordsiso`` (``import textattack`` builds
  ``StopwordModification()`` at import time and dies without it), in our cache, never downloaded;
- pre-create TextAttack's post-install marker so its first import does not try six ``nltk.download()``
  calls (we never set ``TA_CACHE_DIR``: TextAttack would overwrite ``HF_HOME`` and ``XDG_CACHE_HOME``);
- set ``HF_HUB_OFFLINE=1`` unless the caller chose otherwise;
- replace TextAttack's word splitter, which cuts Thai and Devanagari words at their combining marks,
  with :func:`hbt_bench.adversarial.text.words` (letters + marks + digits; Thai via pythainlp, Chinese
  via jieba);
- make the components we use independent of ``PYTHONHASHSEED`` (sorted candidate lists) and give
  ``WordSwapHomoglyphSwap`` the data file the 0.3.11 wheel lacks.

Everything happens once, on the first :func:`import_textattack` call; importing this module is cheap.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from pathlib import Path
from typing import Any

from hbt_bench.atomic import atomic_writer, staged_dir
from hbt_bench.errors import HbtBenchError

__all__ = [
    "TEXTATTACK_VERSION",
    "TextAttackUnavailable",
    "ensure_wordnet",
    "import_textattack",
    "textattack_version",
    "wordnet_available",
]

TEXTATTACK_VERSION = "0.3.11"  # the version the recipes and frozen sets were built and checked with

INSTALL_HINT = (
    "install it with `make attack-deps` (or: pip install 'hbt-bench[attack]' && "
    f"pip install --no-deps textattack=={TEXTATTACK_VERSION}); see README 'Adversarial tasks'"
)


class TextAttackUnavailable(HbtBenchError):
    """TextAttack (or one of the packages it imports) is not installed."""


_LOCK = threading.Lock()
_MODULE: Any = None


def nltk_data_dir() -> Path:
    """Our private NLTK data dir (stopwords only), under the hbt-bench cache dir."""
    from hbt_bench.resources import cache_dir

    return cache_dir() / "nltk_data"


def _ensure_stopwords(nltk_dir: Path) -> None:
    target = nltk_dir / "corpora" / "stopwords" / "english"
    if target.exists():
        return
    import stopwordsiso

    with atomic_writer(target) as f:  # a concurrent process never sees half a file
        f.write("\n".join(sorted(stopwordsiso.stopwords("en"))) + "\n")


# English WordNet 3.0 as Debian ships it (``apt-get install wordnet-base``): the same data as NLTK's
# ``wordnet`` corpus, minus the ``lexnames`` file NLTK needs (regenerated from the lexnames(5WN) man page).
DEBIAN_WORDNET = Path("/usr/share/wordnet")
DEBIAN_LEXNAMES = Path("/usr/share/man/man5/lexnames.5WN.gz")
_WORDNET_FILES = ("data.noun", "index.noun", "data.verb", "index.verb", "data.adj", "data.adv", "lexnames")


def _wordnet_dir() -> Path:
    return nltk_data_dir() / "corpora" / "wordnet"


def _lexnames(man_page: Path) -> str:
    import gzip
    import re

    with gzip.open(man_page, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    category = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
    rows = re.findall(r"^(\d\d)\t(\w+\.\w+)\s*\t", text, flags=re.M)
    return "".join(f"{num}\t{name}\t{category[name.split('.')[0]]}\n" for num, name in rows)


def ensure_wordnet(source: Path = DEBIAN_WORDNET, lexnames_page: Path = DEBIAN_LEXNAMES) -> bool:
    """Build NLTK's ``corpora/wordnet`` in our NLTK dir from Debian's WordNet files; True if present.

    Files are copied, not linked (NLTK 3.10 rejects links leaving the corpus root). Built in a staged
    folder and swapped in (:func:`hbt_bench.atomic.staged_dir`, which also replaces an incomplete corpus
    left by anything else), so a concurrent process never sees half a corpus.
    """
    import shutil

    target = _wordnet_dir()
    if _wordnet_complete(target):
        return True
    if not (source.is_dir() and lexnames_page.is_file()):
        return False
    lexnames = _lexnames(lexnames_page)
    if lexnames.count("\n") < 45:  # 45 lexicographer files in WordNet 3.0
        return False
    try:
        with staged_dir(target) as tmp:
            for item in sorted(source.iterdir()):
                if item.is_file():
                    shutil.copyfile(item, tmp / item.name)
            (tmp / "lexnames").write_text(lexnames, encoding="utf-8")
    except OSError:
        if not _wordnet_complete(target):
            raise
        # Another process swapped in its (complete) corpus while we built ours: use that one.
    return _wordnet_complete(target)


def _wordnet_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in _WORDNET_FILES)


def wordnet_available() -> bool:
    """Whether English WordNet is usable (built from Debian's files if needed); imports no TextAttack."""
    try:
        return ensure_wordnet()
    except OSError:
        return False


def _stub_flair() -> bool:
    """Install a minimal ``flair`` when the real one is absent or fails to import; True if stubbed."""
    try:
        import flair  # real flair that imports fine: keep it

        return False
    except Exception:
        for name in [m for m in sys.modules if m == "flair" or m.startswith("flair.")]:
            del sys.modules[name]

    def _missing(*args: Any, **kwargs: Any) -> Any:
        raise TextAttackUnavailable(
            "this TextAttack component needs flair (POS/NER models), which hbt-bench does not install"
        )

    flair = types.ModuleType("flair")
    data = types.ModuleType("flair.data")
    models = types.ModuleType("flair.models")

    class Tokenizer:  # TextAttack subclasses flair.data.Tokenizer at import time
        def tokenize(self, text: str) -> list[str]:
            raise NotImplementedError

    class Sentence:
        __init__ = _missing

    class SequenceTagger:
        load = staticmethod(_missing)

    data.Tokenizer, data.Sentence, models.SequenceTagger = Tokenizer, Sentence, SequenceTagger  # type: ignore[attr-defined]
    flair.data, flair.models, flair.device = data, models, "cpu"  # type: ignore[attr-defined]
    sys.modules.update({"flair": flair, "flair.data": data, "flair.models": models})
    return True


def _install_tokenizer() -> None:
    """Point every module that bound TextAttack's ``words_from_text`` at our Unicode-aware splitter."""
    import textattack.shared.attacked_text as attacked_text
    import textattack.shared.utils as utils
    import textattack.shared.utils.strings as strings

    from hbt_bench.adversarial.text import textattack_words_from_text

    for mod in (attacked_text, utils, strings):
        mod.words_from_text = textattack_words_from_text


def _patch_determinism() -> None:
    """Sorted candidates wherever TextAttack 0.3.11 returns ``list(set(...))`` of strings."""
    from textattack.transformations import WordSwapWordNet
    from textattack.transformations.word_insertions import WordInsertionRandomSynonym
    from textattack.transformations.word_swaps import ChineseMorphonymCharacterSwap

    for cls, attr in (
        (WordSwapWordNet, "_get_replacement_words"),
        (WordInsertionRandomSynonym, "_get_synonyms"),
        (ChineseMorphonymCharacterSwap, "_get_replacement_words"),
    ):
        original = getattr(cls, attr)
        if getattr(original, "_hbt_sorted", False):
            continue

        def sorted_candidates(self: Any, word: str, *args: Any, _orig: Any = original, **kwargs: Any) -> list:
            return sorted(_orig(self, word, *args, **kwargs))

        sorted_candidates._hbt_sorted = True  # type: ignore[attr-defined]
        setattr(cls, attr, sorted_candidates)


def _patch_homoglyphs() -> None:
    """The 0.3.11 wheel lacks ``shared/intentional_homoglyphs.txt``; the word swap needs only ``homos``."""
    from textattack.transformations import WordSwapHomoglyphSwap

    original = WordSwapHomoglyphSwap.__init__
    if getattr(original, "_hbt_patched", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            original(self, *args, **kwargs)
        except FileNotFoundError:
            # Everything before the file read has run; set what the constructor would have set after.
            self.homos_intentional = {}
            self.random_one = kwargs.get("random_one", args[0] if args else False)

    __init__._hbt_patched = True  # type: ignore[attr-defined]
    WordSwapHomoglyphSwap.__init__ = __init__  # type: ignore[method-assign]


def import_textattack() -> Any:
    """Import TextAttack offline next to transformers 5, with our patches; the module, once per process.

    Raises :class:`TextAttackUnavailable` with the install command when it (or a package it imports)
    is missing.
    """
    global _MODULE
    if _MODULE is not None:
        return _MODULE
    with _LOCK:
        if _MODULE is not None:
            return _MODULE
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            nltk_dir = nltk_data_dir()
            _ensure_stopwords(nltk_dir)
            import nltk

            if str(nltk_dir) not in nltk.data.path:
                nltk.data.path.insert(0, str(nltk_dir))
            marker = Path.home() / ".cache" / "textattack" / "post_install_check_3"
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch(exist_ok=True)
            _stub_flair()
            import textattack
        except ImportError as exc:
            raise TextAttackUnavailable(f"TextAttack cannot be imported ({exc}); {INSTALL_HINT}") from exc
        found = textattack_version()
        if found != TEXTATTACK_VERSION:
            # Other versions may work, but the frozen sets were checked against this one.
            import warnings

            warnings.warn(
                f"TextAttack {found} found; hbt-bench's recipes were built with "
                f"{TEXTATTACK_VERSION}, so regenerated sets may differ from the shipped ones",
                stacklevel=2,
            )
        _install_tokenizer()
        _patch_determinism()
        _patch_homoglyphs()
        _MODULE = textattack
        return textattack


def textattack_version() -> str | None:
    """The installed TextAttack version (from package metadata, no import), or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("textattack")
    except PackageNotFoundError:
        return None
