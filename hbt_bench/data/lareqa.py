"""LAReQA JSON (XQuAD-R, MLQA-R) -> typed questions and sentence candidates, validated on the way in.

The files are SQuAD JSON with two extra keys per paragraph, ``sentences`` and ``sentence_breaks``
(``[start, end)`` offsets into ``context``). Every sentence is a retrieval candidate; a question's
answer in its own language is the sentence whose span holds ``answers[0]["answer_start"]``, exactly as
in the official LAReQA code. Parallel questions share their ``id`` across languages.

Text is kept byte-for-byte (Arabic contexts start with a space, Thai ones with a BOM): stripping would
shift the offsets the answers are defined by.

One known defect in the pinned data is tolerated explicitly (see ``_KNOWN_MISALIGNED_CONTEXTS``): in
XQuAD-R ``tr`` paragraph 48 the context holds a three-character cp1252 mojibake ("â", U+0081, "„")
where the ``sentences`` entry has one character (U+205E), so the last two breaks are 2 characters
short there. The official scorer (google-research/xtreme ``third_party/utils_lareqa.py``) slices
``context[start:end]``, which there cuts "r." off sentence 2 and starts sentence 3 with ". ". We
keep the ``sentences`` entry instead: it is the sentence the dataset's authors split, whole, with
nothing of its neighbours. This changes 2 of XQuAD-R's 13,014 candidates, so scores involving
Turkish candidates can differ slightly from the official code's (use-m's th-tr mAP by 7e-4).
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbt_bench.data.sources import get_source, resolve_file
from hbt_bench.errors import LareqaFormatError

__all__ = [
    "CANDIDATE_TEXT_MODES",
    "Candidate",
    "LareqaCorpus",
    "LareqaLanguage",
    "Question",
    "candidate_text",
    "load_lareqa",
    "parse_lareqa",
]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One retrieval candidate: a sentence, with the paragraph it came from."""

    uid: str  # f"{lang}_{paragraph_index}_{sentence_index}", paragraph index counted over the file
    lang: str
    text: str  # the ``sentences`` entry, == context[start:end] (but for the one known defect, see above)
    context: str  # the whole paragraph


@dataclass(frozen=True, slots=True)
class Question:
    """One question and the uid of the candidate (in its own language) that answers it."""

    qid: str  # shared by parallel questions across languages
    lang: str
    text: str
    answer_uid: str


@dataclass(frozen=True)
class LareqaLanguage:
    """The questions and candidates of one language file, in file order."""

    lang: str
    source: str  # path of the file it was read from (for error messages)
    questions: tuple[Question, ...]
    candidates: tuple[Candidate, ...]
    n_articles: int | None = None  # None when built by hand rather than parsed
    n_paragraphs: int | None = None


@dataclass(frozen=True)
class LareqaCorpus:
    """Several languages of one dataset; the pooled candidates of all of them form the search space."""

    name: str
    languages: dict[str, LareqaLanguage]
    _answers: dict[str, dict[str, str]] | None = field(default=None, init=False, repr=False, compare=False)

    def answers_by_qid(self) -> dict[str, dict[str, str]]:
        """qid -> {lang: answer_uid}: every language's answer is relevant to every parallel question.

        Computed once and cached; the returned dict is shared, so treat it as read-only.
        """
        if self._answers is None:
            answers: dict[str, dict[str, str]] = {}
            for lang, data in self.languages.items():
                for q in data.questions:
                    answers.setdefault(q.qid, {})[lang] = q.answer_uid
            object.__setattr__(self, "_answers", answers)
        assert self._answers is not None
        return self._answers

    def stats(self) -> dict[str, Any]:
        """Counts per language and for the pool, for reports and sanity checks against the paper."""
        per_lang = {
            lang: {
                "questions": len(d.questions),
                "candidates": len(d.candidates),
                "articles": d.n_articles,
                "paragraphs": d.n_paragraphs,
            }
            for lang, d in self.languages.items()
        }
        parallel = Counter(len(by_lang) for by_lang in self.answers_by_qid().values())
        return {
            "dataset": self.name,
            "languages": per_lang,
            "questions": sum(len(d.questions) for d in self.languages.values()),
            "pool": sum(len(d.candidates) for d in self.languages.values()),
            "parallel": dict(sorted(parallel.items())),
        }


#: How a candidate is turned into the text that is encoded. The mode name goes into the task's dataset
#: revision, so a mode whose output changes gets a new name: "sentence+context" (sentence, a space,
#: paragraph) was replaced by "sentence+context-xtreme", which is XTREME-R's exact string.
CANDIDATE_TEXT_MODES = ("sentence", "sentence+context-xtreme")

_RENAMED_MODES = {"sentence+context": "sentence+context-xtreme"}


def candidate_text(c: Candidate, mode: str = "sentence") -> str:
    """The string to encode for ``c``: the sentence alone, or sentence and paragraph as XTREME-R has it.

    ``sentence+context-xtreme`` is XTREME-R's ``(sentence + context).replace("\n", "")``
    (google-research/xtreme, LAReQA candidates): no separator, and every newline dropped from both.
    """
    if mode == "sentence":
        return c.text
    if mode == "sentence+context-xtreme":
        return (c.text + c.context).replace("\n", "")
    hint = ""
    if mode in _RENAMED_MODES:
        hint = (
            f" {mode!r} (sentence, space, paragraph) was replaced by {_RENAMED_MODES[mode]!r}, which joins "
            "them exactly as XTREME-R does."
        )
    raise ValueError(
        f"Unknown candidate text mode {mode!r}; valid modes: {', '.join(CANDIDATE_TEXT_MODES)}.{hint}"
    )


# sha256 (UTF-8) of paragraph contexts whose sentence_breaks are known not to match ``sentences``
# exactly. Keyed by the exact context so the exemption cannot hide a defect anywhere else.
_KNOWN_MISALIGNED_CONTEXTS: dict[str, str] = {
    "a3979d76cb56b321d975f47af27f5a2bb564f29df3cc4531c7ef5499ec9c7a8b": (
        "XQuAD-R tr paragraph 48: mojibake 'â\\x81„' (3 chars) in context vs 1 char in sentences"
    ),
}


def _is_known_misaligned(context: str) -> bool:
    return hashlib.sha256(context.encode("utf-8", "surrogatepass")).hexdigest() in _KNOWN_MISALIGNED_CONTEXTS


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_lareqa(path: str | Path, lang: str) -> LareqaLanguage:
    """Read one LAReQA language file, checking every offset the task depends on.

    Raises :class:`LareqaFormatError` naming the file, language and offending field/article/paragraph/
    question, so a broken or mismatched file is caught before it can skew a metric.
    """
    src = str(path)
    where = f"{src} (lang={lang})"

    def fail(msg: str) -> LareqaFormatError:
        return LareqaFormatError(f"{where}: {msg}")

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise fail(f"cannot read file: {exc}") from exc
    try:
        doc = json.loads(raw)  # bytes: json detects UTF-8/16/32 and a leading BOM itself
    except (ValueError, UnicodeDecodeError) as exc:
        raise fail(f"invalid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise fail("top-level field 'data' (a list of articles) is missing")

    questions: list[Question] = []
    candidates: list[Candidate] = []
    seen_qids: dict[str, str] = {}  # qid -> where it was first seen
    pi = 0  # paragraph index over the whole file

    for ai, article in enumerate(doc["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise fail(f"article {ai}: field 'paragraphs' (a list) is missing")
        for pj, para in enumerate(article["paragraphs"]):
            at = f"article {ai}, paragraph {pj} (paragraph_index {pi})"
            if not isinstance(para, dict):
                raise fail(f"{at}: not a JSON object")
            for key, typ in (("context", str), ("sentences", list), ("sentence_breaks", list), ("qas", list)):
                if key not in para:
                    raise fail(f"{at}: field '{key}' is missing")
                if not isinstance(para[key], typ):
                    raise fail(f"{at}: field '{key}' must be a {typ.__name__}")
            context: str = para["context"]
            sentences: list[Any] = para["sentences"]
            breaks: list[Any] = para["sentence_breaks"]
            if len(sentences) != len(breaks):
                raise fail(
                    f"{at}: 'sentences' has {len(sentences)} items but 'sentence_breaks' has {len(breaks)}"
                )

            starts: list[int] = []
            ends: list[int] = []
            prev_end = 0
            for si, (sent, br) in enumerate(zip(sentences, breaks, strict=True)):
                if not (isinstance(br, list) and len(br) == 2 and _is_int(br[0]) and _is_int(br[1])):
                    raise fail(f"{at}: sentence_breaks[{si}] = {br!r} is not a [start, end] pair of ints")
                start, end = br
                if not 0 <= start < end <= len(context):
                    raise fail(
                        f"{at}: sentence_breaks[{si}] = {br!r} is out of range "
                        f"(need 0 <= start < end <= len(context) = {len(context)})"
                    )
                if start < prev_end:
                    # Overlapping or unordered spans would make "the sentence holding answer_start"
                    # ambiguous; LAReQA asserts exactly one answer sentence per question.
                    raise fail(
                        f"{at}: sentence_breaks[{si}] = {br!r} overlaps or precedes the previous break"
                    )
                if not isinstance(sent, str) or (
                    context[start:end] != sent and not _is_known_misaligned(context)
                ):
                    raise fail(
                        f"{at}: sentences[{si}] = {sent!r} does not equal "
                        f"context[{start}:{end}] = {context[start:end]!r}"
                    )
                starts.append(start)
                ends.append(end)
                prev_end = end
                candidates.append(Candidate(uid=f"{lang}_{pi}_{si}", lang=lang, text=sent, context=context))

            for qk, qa in enumerate(para["qas"]):
                qat = f"{at}, qas[{qk}]"
                if not isinstance(qa, dict):
                    raise fail(f"{qat}: not a JSON object")
                qid = qa.get("id")
                if not isinstance(qid, str):
                    raise fail(f"{qat}: field 'id' (a string) is missing")
                qat = f"{at}, question id {qid!r}"
                if not isinstance(qa.get("question"), str):
                    raise fail(f"{qat}: field 'question' (a string) is missing")
                answers = qa.get("answers")
                if not isinstance(answers, list) or not answers:
                    raise fail(f"{qat}: field 'answers' is missing or empty")
                first = answers[0]
                ans_start = first.get("answer_start") if isinstance(first, dict) else None
                if not _is_int(ans_start):
                    raise fail(f"{qat}: answers[0] has no integer 'answer_start'")
                k = bisect_right(starts, ans_start) - 1
                if k < 0 or ans_start >= ends[k]:
                    raise fail(
                        f"{qat}: answers[0].answer_start = {ans_start} is not inside any sentence "
                        f"(sentence_breaks = {breaks!r})"
                    )
                if qid in seen_qids:
                    raise fail(f"{qat}: duplicate question id (first seen at {seen_qids[qid]})")
                seen_qids[qid] = at
                questions.append(
                    Question(qid=qid, lang=lang, text=qa["question"], answer_uid=f"{lang}_{pi}_{k}")
                )
            pi += 1

    return LareqaLanguage(
        lang=lang,
        source=src,
        questions=tuple(questions),
        candidates=tuple(candidates),
        n_articles=len(doc["data"]),
        n_paragraphs=pi,
    )


def load_lareqa(
    dataset: str,
    languages: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
) -> LareqaCorpus:
    """Load ``dataset`` ("xquad-r" / "mlqa-r") for ``languages`` (default: all), files verified by sha256."""
    source = get_source(dataset)
    if isinstance(languages, str):
        raise TypeError(f"languages must be a sequence of codes such as [{languages!r}], not a string")
    langs = list(source.languages if languages is None else languages)
    if not langs:
        raise ValueError(f"languages is empty; choose from {', '.join(source.languages)}")
    dups = sorted({x for x in langs if langs.count(x) > 1})
    if dups:
        raise ValueError(f"languages lists {', '.join(dups)} more than once")
    for lang in langs:
        source.file(lang)  # fail on a typo before any file is read or downloaded
    return LareqaCorpus(
        name=dataset,
        languages={lang: parse_lareqa(resolve_file(dataset, lang, data_dir), lang) for lang in langs},
    )
