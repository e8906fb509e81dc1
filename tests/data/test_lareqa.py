"""Tests of the LAReQA parser: exact counts on the real files, and every validation error on tiny files."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from hbt_bench.data.lareqa import (
    CANDIDATE_TEXT_MODES,
    Candidate,
    LareqaCorpus,
    LareqaLanguage,
    Question,
    candidate_text,
    load_lareqa,
    parse_lareqa,
)
from hbt_bench.errors import DataSourceError, LareqaFormatError

XQUAD_R_CANDIDATES = {
    "ar": 1222, "de": 1276, "el": 1234, "en": 1180, "es": 1215, "hi": 1244,
    "ru": 1219, "th": 852, "tr": 1167, "vi": 1209, "zh": 1196,
}  # fmt: skip
MLQA_R_COUNTS = {  # lang: (questions, candidates)
    "ar": (517, 2545), "de": (512, 2362), "en": (1148, 6264), "es": (500, 1787),
    "hi": (507, 2426), "vi": (511, 2828), "zh": (504, 2322),
}  # fmt: skip


@pytest.fixture(scope="module")
def xquad_r(shared_data: Path) -> LareqaCorpus:
    return load_lareqa("xquad-r", data_dir=shared_data)


@pytest.fixture(scope="module")
def mlqa_r(shared_data: Path) -> LareqaCorpus:
    return load_lareqa("mlqa-r", data_dir=shared_data)


def _reference_answer_uids(path: Path, lang: str) -> dict[str, str]:
    """Naive re-implementation of LAReQA's rule: the sentence with start <= answer_start < end."""
    doc = json.loads(path.read_bytes())
    out, pi = {}, 0
    for article in doc["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                a = qa["answers"][0]["answer_start"]
                hits = [i for i, (s, e) in enumerate(para["sentence_breaks"]) if s <= a < e]
                assert len(hits) == 1
                out[qa["id"]] = f"{lang}_{pi}_{hits[0]}"
            pi += 1
    return out


# --- real data -----------------------------------------------------------------------------------------


def test_xquad_r_counts(xquad_r: LareqaCorpus) -> None:
    assert list(xquad_r.languages) == list(XQUAD_R_CANDIDATES)
    for lang, n_cand in XQUAD_R_CANDIDATES.items():
        data = xquad_r.languages[lang]
        assert (len(data.questions), len(data.candidates)) == (1190, n_cand), lang
        assert (data.n_articles, data.n_paragraphs) == (48, 240), lang
    stats = xquad_r.stats()
    assert stats["dataset"] == "xquad-r"
    assert stats["pool"] == 13_014
    assert stats["questions"] == 11 * 1190
    assert stats["parallel"] == {11: 1190}
    assert stats["languages"]["th"] == {
        "questions": 1190,
        "candidates": 852,
        "articles": 48,
        "paragraphs": 240,
    }


def test_xquad_r_ids_identical_across_languages(xquad_r: LareqaCorpus) -> None:
    en_ids = [q.qid for q in xquad_r.languages["en"].questions]
    assert len(set(en_ids)) == 1190
    for lang, data in xquad_r.languages.items():
        assert [q.qid for q in data.questions] == en_ids, lang


def test_mlqa_r_counts_and_parallel_ids(mlqa_r: LareqaCorpus) -> None:
    for lang, counts in MLQA_R_COUNTS.items():
        data = mlqa_r.languages[lang]
        assert (len(data.questions), len(data.candidates)) == counts, lang
    assert (mlqa_r.languages["en"].n_articles, mlqa_r.languages["en"].n_paragraphs) == (520, 978)
    stats = mlqa_r.stats()
    assert stats["pool"] == 20_534
    assert stats["questions"] == sum(q for q, _ in MLQA_R_COUNTS.values())
    assert stats["parallel"] == {2: 65, 3: 263, 4: 820}
    en_ids = {q.qid for q in mlqa_r.languages["en"].questions}
    for lang, data in mlqa_r.languages.items():
        missing = {q.qid for q in data.questions} - en_ids
        assert not missing, (lang, sorted(missing)[:3])


def test_candidates_are_exact_sentences(xquad_r: LareqaCorpus, mlqa_r: LareqaCorpus) -> None:
    for corpus in (xquad_r, mlqa_r):
        for lang, data in corpus.languages.items():
            uids = [c.uid for c in data.candidates]
            assert len(set(uids)) == len(uids), lang
            for c in data.candidates:
                assert c.lang == lang and c.uid.startswith(f"{lang}_")
                if c.uid != "tr_48_2" and c.uid != "tr_48_3":  # the known misaligned paragraph, below
                    assert c.text in c.context
    # Not normalised: Arabic contexts keep their leading space, Thai ones their BOM.
    assert xquad_r.languages["ar"].candidates[0].context.startswith(" ")
    assert xquad_r.languages["th"].candidates[0].context.startswith("\ufeff")
    assert xquad_r.languages["th"].candidates[0].text.startswith("\ufeff")
    # Duplicate sentence strings stay separate candidates (ar: 1222 candidates, 1220 distinct strings).
    assert len({c.text for c in xquad_r.languages["ar"].candidates}) == 1220


def test_uid_paragraph_index_runs_over_the_file(xquad_r: LareqaCorpus) -> None:
    en = xquad_r.languages["en"]
    assert en.candidates[0].uid == "en_0_0"
    assert en.candidates[-1].uid.startswith("en_239_")
    paragraph_ids = {int(c.uid.split("_")[1]) for c in en.candidates}
    assert paragraph_ids == set(range(240))


@pytest.mark.parametrize(("dataset", "lang"), [("xquad-r", "en"), ("xquad-r", "tr"), ("mlqa-r", "hi")])
def test_answer_uids_match_reference(
    shared_data: Path, xquad_r: LareqaCorpus, mlqa_r: LareqaCorpus, dataset: str, lang: str
) -> None:
    corpus = xquad_r if dataset == "xquad-r" else mlqa_r
    data = corpus.languages[lang]
    expected = _reference_answer_uids(shared_data / dataset / f"{lang}.json", lang)
    assert {q.qid: q.answer_uid for q in data.questions} == expected
    cand_uids = {c.uid for c in data.candidates}
    assert all(q.answer_uid in cand_uids for q in data.questions)


def test_known_misaligned_tr_paragraph(xquad_r: LareqaCorpus) -> None:
    """XQuAD-R tr paragraph 48: breaks do not match the mojibake context; the ``sentences`` text is kept."""
    by_uid = {c.uid: c for c in xquad_r.languages["tr"].candidates}
    c = by_uid["tr_48_2"]
    assert "1\u205e2" in c.text and c.text.endswith("dönüştürülmüştür.")
    assert "1\u00e2\x81\u201e2" in c.context and c.text not in c.context
    assert by_uid["tr_48_3"].text.startswith("İki turistik")


def test_answers_by_qid(xquad_r: LareqaCorpus, mlqa_r: LareqaCorpus) -> None:
    answers = xquad_r.answers_by_qid()
    assert answers is xquad_r.answers_by_qid()  # cached
    assert len(answers) == 1190
    q0 = xquad_r.languages["de"].questions[0]
    assert list(answers[q0.qid]) == list(XQUAD_R_CANDIDATES)
    assert answers[q0.qid]["de"] == q0.answer_uid
    assert all(uid.startswith(f"{lang}_") for by in answers.values() for lang, uid in by.items())
    ml = mlqa_r.answers_by_qid()
    assert len(ml) == 1148 and all("en" in by for by in ml.values())


def test_load_subset_keeps_requested_order(shared_data: Path) -> None:
    corpus = load_lareqa("xquad-r", ["zh", "en"], data_dir=shared_data)
    assert list(corpus.languages) == ["zh", "en"]
    assert corpus.name == "xquad-r"
    assert corpus.stats()["pool"] == 1196 + 1180
    assert corpus.languages["zh"].source == str(shared_data / "xquad-r" / "zh.json")


def test_load_argument_errors(shared_data: Path) -> None:
    with pytest.raises(DataSourceError, match=r"'el'.*'mlqa-r'"):
        load_lareqa("mlqa-r", ["en", "el"], data_dir=shared_data)
    with pytest.raises(DataSourceError, match="xquad-r, mlqa-r"):
        load_lareqa("mlqa", data_dir=shared_data)
    with pytest.raises(TypeError, match="not a string"):
        load_lareqa("xquad-r", "en", data_dir=shared_data)
    with pytest.raises(ValueError, match="more than once"):
        load_lareqa("xquad-r", ["en", "de", "en"], data_dir=shared_data)
    with pytest.raises(ValueError, match="empty"):
        load_lareqa("xquad-r", [], data_dir=shared_data)


def test_parse_all_xquad_r_is_fast(shared_data: Path) -> None:
    t0 = time.perf_counter()
    for lang in XQUAD_R_CANDIDATES:
        parse_lareqa(shared_data / "xquad-r" / f"{lang}.json", lang)
    assert time.perf_counter() - t0 < 2.0


# --- candidate text --------------------------------------------------------------------------------------


def test_candidate_text_modes() -> None:
    c = Candidate(uid="en_0_1", lang="en", text="B.", context="A. B.")
    assert CANDIDATE_TEXT_MODES == ("sentence", "sentence+context-xtreme")
    assert candidate_text(c) == "B."
    assert candidate_text(c, "sentence") == "B."
    assert candidate_text(c, "sentence+context-xtreme") == "B.A. B."
    with pytest.raises(ValueError) as ei:
        candidate_text(c, "context")
    assert "'context'" in str(ei.value) and "sentence, sentence+context-xtreme" in str(ei.value)


def test_sentence_plus_context_is_xtreme_r_exactly() -> None:
    """XTREME-R: ``(sentence + context).replace("\\n", "")`` -- no separator, newlines dropped from both."""
    c = Candidate(uid="en_3_1", lang="en", text="Line\ntwo.", context="One.\nLine\ntwo.\n")
    assert candidate_text(c, "sentence+context-xtreme") == "Linetwo.One.Linetwo."


def test_old_sentence_plus_context_mode_names_its_replacement() -> None:
    """The old mode (with a space) is gone; its name must not silently produce the new strings."""
    c = Candidate(uid="en_0_1", lang="en", text="B.", context="A. B.")
    with pytest.raises(ValueError, match=r"'sentence\+context'.*replaced by 'sentence\+context-xtreme'"):
        candidate_text(c, "sentence+context")


def test_tr_paragraph_48_candidates_on_real_data(xquad_r: LareqaCorpus) -> None:
    """The two candidates where our text (``sentences``) and the official ``context[start:end]`` differ."""
    para = {c.uid: c for c in xquad_r.languages["tr"].candidates if c.uid.startswith("tr_48_")}
    ctx = para["tr_48_2"].context
    # sentence_breaks hand-read from xquad-r/tr.json: [265, 426] and [427, 604], context of 606 characters
    assert len(ctx) == 606
    official_2, official_3 = ctx[265:426], ctx[427:604]
    # the official slices are shifted by the 2 extra mojibake characters: "r." moves to the next one
    assert official_2 == para["tr_48_2"].text.replace("\u205e", "\u00e2\x81\u201e")[:-2]
    assert official_3 == ". " + para["tr_48_3"].text[:-2]
    assert para["tr_48_2"].text.endswith("dönüştürülmüştür.")
    assert para["tr_48_3"].text.endswith("göstermektedir.")


def test_dataclasses_are_frozen() -> None:
    q = Question(qid="1", lang="en", text="?", answer_uid="en_0_0")
    with pytest.raises(AttributeError):
        q.text = "!"  # type: ignore[misc]
    lang = LareqaLanguage(lang="en", source="x", questions=(q,), candidates=())
    corpus = LareqaCorpus(name="toy", languages={"en": lang})
    assert corpus.answers_by_qid() == {"1": {"en": "en_0_0"}}
    assert corpus.stats()["languages"]["en"]["articles"] is None  # unknown when built by hand


# --- synthetic files: parsing rules and every validation error --------------------------------------------


def _doc() -> dict[str, Any]:
    """A small valid LAReQA document: 2 articles, 3 paragraphs, a context with leading space and BOM."""
    ctx0 = " One two. Three four."
    ctx1 = "\ufeffFive. Six seven."
    ctx2 = "Eight.Nine."  # contiguous sentences: checks the half-open [start, end) rule
    return {
        "version": "1.1",
        "data": [
            {
                "title": "A",
                "paragraphs": [
                    {
                        "context": ctx0,
                        "sentences": [" One two.", "Three four."],
                        "sentence_breaks": [[0, 9], [10, 21]],
                        "qas": [
                            {
                                "id": "q1",
                                "question": "What one?",
                                "answers": [{"text": "two", "answer_start": 5}],
                            },
                            {
                                "id": "q2",
                                "question": "Three?",
                                "answers": [{"text": "Three", "answer_start": 10}],
                            },
                        ],
                    },
                    {
                        "context": ctx1,
                        "sentences": ["\ufeffFive.", "Six seven."],
                        "sentence_breaks": [[0, 6], [7, 17]],
                        "qas": [
                            {"id": "q3", "question": "Six?", "answers": [{"text": "Six", "answer_start": 7}]}
                        ],
                    },
                ],
            },
            {
                "title": "B",
                "paragraphs": [
                    {
                        "context": ctx2,
                        "sentences": ["Eight.", "Nine."],
                        "sentence_breaks": [[0, 6], [6, 11]],
                        "qas": [
                            # answer_start == end of sentence 0 == start of sentence 1: sentence 1
                            {
                                "id": "q4",
                                "question": "Nine?",
                                "answers": [{"text": "Nine", "answer_start": 6}],
                            }
                        ],
                    }
                ],
            },
        ],
    }


def _write(tmp_path: Path, doc: Any, name: str = "xx.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_parse_synthetic(tmp_path: Path) -> None:
    data = parse_lareqa(_write(tmp_path, _doc()), "xx")
    assert data.lang == "xx" and data.source == str(tmp_path / "xx.json")
    assert [c.uid for c in data.candidates] == ["xx_0_0", "xx_0_1", "xx_1_0", "xx_1_1", "xx_2_0", "xx_2_1"]
    assert [c.text for c in data.candidates] == [
        " One two.",
        "Three four.",
        "\ufeffFive.",
        "Six seven.",
        "Eight.",
        "Nine.",
    ]
    assert data.candidates[2].context == "\ufeffFive. Six seven."
    assert [(q.qid, q.answer_uid) for q in data.questions] == [
        ("q1", "xx_0_0"),
        ("q2", "xx_0_1"),
        ("q3", "xx_1_1"),
        ("q4", "xx_2_1"),
    ]
    assert data.questions[0] == Question(qid="q1", lang="xx", text="What one?", answer_uid="xx_0_0")
    assert (data.n_articles, data.n_paragraphs) == (2, 3)


def test_parse_accepts_utf8_bom_file(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_doc()).encode())
    assert len(parse_lareqa(path, "xx").candidates) == 6


def _mutate(fn: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_doc())
    fn(doc)
    return doc


def _p(doc: dict[str, Any], article: int = 0, paragraph: int = 0) -> dict[str, Any]:
    return doc["data"][article]["paragraphs"][paragraph]


def _dup_qid(doc: dict[str, Any]) -> None:
    doc["data"][1]["paragraphs"][0]["qas"][0]["id"] = "q1"


def _answer_before_first_sentence(doc: dict[str, Any]) -> None:
    para = _p(doc, 0, 1)
    para.update(sentences=["Six seven."], sentence_breaks=[[7, 17]])
    para["qas"][0]["answers"][0]["answer_start"] = 2


BAD_DOCS = [
    pytest.param('{"data": [', ["invalid JSON"], id="invalid-json"),
    pytest.param(_mutate(lambda d: d.pop("data")), ["'data'"], id="no-data"),
    pytest.param(_mutate(lambda d: d.update(data={"x": 1})), ["'data'"], id="data-not-list"),
    pytest.param([1, 2], ["'data'"], id="top-level-list"),
    pytest.param(
        _mutate(lambda d: d["data"][1].pop("paragraphs")), ["article 1", "'paragraphs'"], id="no-paragraphs"
    ),
    pytest.param(
        _mutate(lambda d: _p(d, 1).pop("context")),
        ["article 1, paragraph 0", "paragraph_index 2", "'context'"],
        id="no-context",
    ),
    pytest.param(
        _mutate(lambda d: _p(d, 0, 1).pop("sentences")),
        ["article 0, paragraph 1", "'sentences'"],
        id="no-sentences",
    ),
    pytest.param(
        _mutate(lambda d: _p(d).pop("sentence_breaks")),
        ["article 0, paragraph 0", "'sentence_breaks'"],
        id="no-breaks",
    ),
    pytest.param(
        _mutate(lambda d: _p(d).update(context=None)), ["'context'", "must be a str"], id="context-not-str"
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentences"].pop()),
        ["'sentences' has 1", "'sentence_breaks' has 2"],
        id="len-mismatch",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentence_breaks"].__setitem__(1, [10])),
        ["sentence_breaks[1]", "[10]"],
        id="break-not-pair",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentence_breaks"].__setitem__(1, [10.0, 21])),
        ["sentence_breaks[1]", "ints"],
        id="break-float",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentence_breaks"].__setitem__(0, [False, 9])),
        ["sentence_breaks[0]", "ints"],
        id="break-bool",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentence_breaks"].__setitem__(1, [10, 22])),
        ["sentence_breaks[1]", "out of range"],
        id="break-past-end",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentence_breaks"].__setitem__(0, [-1, 9])),
        ["sentence_breaks[0]", "out of range"],
        id="break-negative",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentence_breaks"].__setitem__(1, [10, 10])),
        ["sentence_breaks[1]", "start < end"],
        id="break-empty",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentence_breaks"].__setitem__(1, [8, 21])),
        ["sentence_breaks[1]", "overlaps"],
        id="break-overlap",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentences"].__setitem__(0, "One two.")),
        ["sentences[0]", "context[0:9]"],
        id="sentence-mismatch",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["sentences"].__setitem__(0, None)), ["sentences[0]"], id="sentence-not-str"
    ),
    pytest.param(_mutate(lambda d: _p(d).pop("qas")), ["article 0, paragraph 0", "'qas'"], id="no-qas"),
    pytest.param(_mutate(lambda d: _p(d)["qas"][1].pop("id")), ["qas[1]", "'id'"], id="no-id"),
    pytest.param(
        _mutate(lambda d: _p(d)["qas"][1].pop("question")), ["'q2'", "'question'"], id="no-question"
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["qas"][1].update(answers=[])), ["'q2'", "'answers'"], id="no-answers"
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["qas"][0].pop("answers")), ["'q1'", "'answers'"], id="answers-missing"
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["qas"][0]["answers"][0].pop("answer_start")),
        ["'q1'", "answer_start"],
        id="no-answer-start",
    ),
    pytest.param(
        _mutate(lambda d: _p(d)["qas"][0]["answers"][0].update(answer_start=9)),
        ["'q1'", "answer_start = 9", "not inside any sentence"],
        id="answer-in-gap",
    ),
    pytest.param(
        _mutate(lambda d: _p(d, 1)["qas"][0]["answers"][0].update(answer_start=99)),
        ["'q4'", "answer_start = 99", "article 1, paragraph 0"],
        id="answer-past-end",
    ),
    pytest.param(
        _mutate(_answer_before_first_sentence), ["'q3'", "not inside any sentence"], id="answer-before-first"
    ),
    pytest.param(
        _mutate(_dup_qid),
        ["'q1'", "duplicate question id", "article 1, paragraph 0", "first seen at article 0, paragraph 0"],
        id="duplicate-qid",
    ),
]


@pytest.mark.parametrize(("doc", "expected"), BAD_DOCS)
def test_validation_errors(tmp_path: Path, doc: Any, expected: list[str]) -> None:
    path = _write(tmp_path, doc)
    with pytest.raises(LareqaFormatError) as ei:
        parse_lareqa(path, "xx")
    msg = str(ei.value)
    assert str(path) in msg and "lang=xx" in msg
    for part in expected:
        assert part in msg, (part, msg)


def test_missing_file_is_a_format_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(LareqaFormatError, match="cannot read file") as ei:
        parse_lareqa(tmp_path / "absent.json", "xx")
    assert str(tmp_path / "absent.json") in str(ei.value)


def test_known_defect_exemption_is_narrow(tmp_path: Path) -> None:
    """The tr exemption is keyed on that exact context: the same kind of misalignment elsewhere fails."""
    ctx = "1\u00e2\x81\u201e2 in. Next one."
    doc = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": ctx,
                        "sentences": ["1\u205e2 in.", "Next one."],
                        "sentence_breaks": [[0, 7], [8, 17]],
                        "qas": [],
                    }
                ]
            }
        ]
    }
    with pytest.raises(LareqaFormatError, match=r"sentences\[0\]"):
        parse_lareqa(_write(tmp_path, doc), "tr")
