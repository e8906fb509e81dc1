"""The encode-once evaluator on the real XQuAD-R / MLQA-R files, cross-checked against ir_measures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest

from hbt_bench.data.lareqa import Candidate, LareqaCorpus, LareqaLanguage, Question, load_lareqa
from hbt_bench.encoders import HashNgramEncoder
from hbt_bench.errors import EncoderOutputError
from hbt_bench.evaluate import (
    DOCUMENT,
    QUERY,
    EmbeddingStore,
    LareqaEvaluator,
    Setting,
    Subset,
    lareqa_subsets,
    per_language,
    summarize_settings,
)
from hbt_bench.ranking import rank_relevant
from tests.helpers import assert_agrees_with_ir_measures

XQUADR_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")


class RecordingEncoder:
    """Hash n-gram encoder that records every text it is asked to encode."""

    def __init__(self) -> None:
        self.inner = HashNgramEncoder()
        self.seen: list[tuple[str, str]] = []
        self.calls = 0

    def __call__(self, texts: list[str], kind: str, lang: str) -> np.ndarray:
        self.calls += 1
        self.seen.extend((kind, t) for t in texts)
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def xquadr(shared_data):
    return load_lareqa("xquad-r", data_dir=shared_data)


@pytest.fixture(scope="module")
def mlqar(shared_data):
    return load_lareqa("mlqa-r", data_dir=shared_data)


@pytest.fixture(scope="module")
def full_run(xquadr):
    """All 132 XQuAD-R subsets scored with the hash n-gram encoder, plus the recording encoder."""
    enc = RecordingEncoder()
    store = EmbeddingStore(enc, normalize=True, model_name="test/hash")
    evaluator = LareqaEvaluator(xquadr)
    scores = evaluator.score(store)
    return evaluator, store, enc, scores


def test_subsets_of_every_setting():
    subsets = lareqa_subsets(XQUADR_LANGS)
    counts = Counter(s.setting for s in subsets)
    assert counts == {Setting.MONO: 11, Setting.CROSS: 110, Setting.MULTI: 11}
    assert len({s.name for s in subsets}) == 132
    assert Subset.parse("ar-de", XQUADR_LANGS) == Subset("ar-de", Setting.CROSS, "ar", "de")
    assert Subset.parse("el-el", XQUADR_LANGS).setting is Setting.MONO
    assert Subset.parse("zh-multi", XQUADR_LANGS) == Subset("zh-multi", Setting.MULTI, "zh", None)
    assert len(lareqa_subsets(("ar", "de", "en", "es", "hi", "vi", "zh"))) == 56


@pytest.mark.parametrize("bad", ["ar", "ar-xx", "xx-ar", "ar_de", "multi-ar"])
def test_subset_parse_rejects_unknown(bad):
    with pytest.raises(ValueError, match="unknown subset"):
        Subset.parse(bad, XQUADR_LANGS)


def test_every_distinct_text_is_encoded_exactly_once(full_run, xquadr):
    evaluator, store, enc, scores = full_run
    assert len(scores) == 132
    distinct_queries = {q.text for lang in xquadr.languages.values() for q in lang.questions}
    distinct_candidates = {c.text for lang in xquadr.languages.values() for c in lang.candidates}
    assert len(enc.seen) == len(set(enc.seen)), "a text was sent to the encoder twice"
    assert len(enc.seen) == len(distinct_queries) + len(distinct_candidates) == store.n_encoded
    assert 25_000 < store.n_encoded < 26_200
    # Scoring again (another task or a re-run in the same process) encodes nothing.
    calls = enc.calls
    evaluator.score(store, [Subset.parse("de-multi", XQUADR_LANGS)])
    assert enc.calls == calls and store.n_encoded == len(enc.seen)


def test_subset_shapes_follow_the_paper(full_run):
    _, _, _, scores = full_run
    assert scores["en-en"]["num_queries"] == 1190 and scores["en-en"]["num_candidates"] == 1180
    assert scores["th-de"]["num_candidates"] == 1276
    assert scores["hi-multi"]["num_candidates"] == 13_014
    assert "rank_distance" in scores["hi-multi"] and "rank_distance" not in scores["hi-de"]
    for name, s in scores.items():
        assert 0.0 <= s["map"] <= 1.0, name
    # A lexical encoder finds the answer far more often within a language than across scripts.
    assert scores["en-en"]["map"] > 0.5 > scores["en-zh"]["map"]


def test_relevance_points_at_the_answer_sentences(xquadr):
    evaluator = LareqaEvaluator(xquadr)
    rows, relevant = evaluator.relevance(Subset.parse("de-multi", XQUADR_LANGS))
    assert len(rows) == 1190 and all(len(r) == 11 for r in relevant)
    pool = [c for lang in xquadr.languages.values() for c in lang.candidates]
    q = xquadr.languages["de"].questions[rows[5]]
    answers = xquadr.answers_by_qid()[q.qid]
    assert {pool[i].uid for i in relevant[5]} == set(answers.values())
    rows, relevant = evaluator.relevance(Subset.parse("de-es", XQUADR_LANGS))
    assert rows.tolist() == list(range(1190))  # XQuAD-R is fully parallel: no query is dropped
    assert xquadr.languages["es"].candidates[relevant[5][0]].uid == answers["es"]


def test_mlqar_cross_lingual_drops_queries_without_an_answer(mlqar):
    evaluator = LareqaEvaluator(mlqar)
    langs = tuple(mlqar.languages)
    # Counts of queries with an answer in the candidate language (paper notes section 2.2).
    expected = {"en-ar": 517, "ar-de": 207, "de-zh": 190, "hi-vi": 177, "zh-es": 161, "vi-vi": 511}
    for name, n in expected.items():
        rows, _ = evaluator.relevance(Subset.parse(name, langs))
        assert len(rows) == n, name
    rows, relevant = evaluator.relevance(Subset.parse("ar-multi", langs))
    assert len(rows) == 517
    assert {len(r) for r in relevant} <= {2, 3, 4}


def test_candidate_matrices_hold_the_needed_languages_and_the_pool_only_for_pooled_subsets(mlqar):
    langs = tuple(mlqar.languages)  # ar de en es hi vi zh
    evaluator = LareqaEvaluator(mlqar)
    enc = RecordingEncoder()
    store = EmbeddingStore(enc, normalize=True, model_name="test/hash")
    subsets = [Subset.parse(n, langs) for n in ("zh-es", "vi-vi", "de-ar")]
    prepared = evaluator.candidate_matrices(store, subsets)
    assert list(prepared.candidates) == ["ar", "es", "vi"]  # dataset order, not subset order
    assert prepared.pool is None and prepared.queries == {}
    assert {kind for kind, _ in enc.seen} == {DOCUMENT} and enc.calls == 3
    for lang in ("ar", "es", "vi"):
        texts = [c.text for c in mlqar.languages[lang].candidates]
        expected = HashNgramEncoder().encode(texts)
        expected = expected / np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-12)
        np.testing.assert_allclose(prepared.candidates[lang], expected, atol=1e-6)
    assert prepared.candidates_of(subsets[0]) is prepared.candidates["es"]
    with pytest.raises(ValueError, match="no candidate matrix for subset en-en"):
        prepared.candidates_of(Subset.parse("en-en", langs))

    pooled = evaluator.candidate_matrices(store, [Subset.parse("hi-multi", langs)])
    assert list(pooled.candidates) == list(langs) and pooled.pool is not None
    sizes = [len(mlqar.languages[lang].candidates) for lang in langs]
    assert pooled.pool.shape[0] == sum(sizes)
    ends = np.cumsum(sizes)
    for lang, stop, size in zip(langs, ends, sizes, strict=True):
        np.testing.assert_array_equal(pooled.pool[stop - size : stop], pooled.candidates[lang])
    assert pooled.candidates_of(Subset.parse("hi-multi", langs)) is pooled.pool
    # every candidate language but none pooled: no pool (nothing ranks against it)
    cross = [Subset.parse(f"en-{lang}", langs) for lang in langs]
    assert evaluator.candidate_matrices(store, cross).pool is None


def _reference_ranks(q: np.ndarray, c: np.ndarray, rel: np.ndarray, i: int, eps: float = 1e-5):
    """Brute-force rank bounds of query i's relevant candidates from float64 scores: sorted (lo, hi).

    Our ranking is float32 and BLAS rounding depends on the shape of the product, so a candidate within
    ``eps`` of a relevant score (a tie or a cancellation that float32 leaves as a residue) may land on
    either side: the rank lies in [lo, hi], and lo == hi when no other candidate is that close.
    (The exact tie rule itself is tested with exactly representable scores in tests/test_metrics.py.)
    """
    row = q[i].astype(np.float64) @ c.astype(np.float64).T
    lo = np.sort([1 + int(np.sum(row > row[d] + eps)) for d in rel])
    hi = np.sort([int(np.sum(row >= row[d] - eps)) for d in rel])
    return lo, hi


def _run_from_ranks(ranks: np.ndarray, rel: np.ndarray, n_candidates: int) -> dict[str, float]:
    """A full run (every candidate scored) that puts the relevant candidates exactly at ``ranks``.

    The metrics only depend on the set of relevant ranks, so which relevant id takes which rank is free.
    """
    order = np.full(n_candidates, -1, dtype=np.int64)
    order[ranks - 1] = rel
    order[order < 0] = np.setdiff1d(np.arange(n_candidates), rel)
    return {str(int(d)): float(n_candidates - pos) for pos, d in enumerate(order)}


@pytest.mark.parametrize(("subset_name", "n_queries"), [("de-multi", 60), ("en-de", 300), ("zh-zh", 300)])
def test_metrics_equal_ir_measures_on_real_data(full_run, xquadr, subset_name, n_queries):
    """Same numbers as ir_measures (AP, AP@20, R@k, nDCG@10, RR, RR@10), to 1e-6, per query and mean.

    The ranking is checked against a float64 brute force (exact where no other candidate is within 1e-5);
    ir_measures then scores a full run in our ranking, so that part checks the metric formulas. zh has
    duplicate sentences (exact ties).
    """
    evaluator, store, _, _ = full_run
    subset = Subset.parse(subset_name, XQUADR_LANGS)
    prepared = evaluator.prepare(store, [subset])
    rows, relevant = evaluator.relevance(subset)
    rows, relevant = rows[:n_queries], relevant[:n_queries]
    q = prepared.queries[subset.query_lang][rows]
    c = prepared.pool if subset.candidate_lang is None else prepared.candidates[subset.candidate_lang]
    rr = rank_relevant(q, c, relevant)
    n_exact = n_items = 0
    for i, rel in enumerate(relevant):
        ours = rr.ranks[i, : len(rel)]
        lo, hi = _reference_ranks(q, c, rel, i)
        assert np.all(lo <= ours) and np.all(ours <= hi), (i, ours, lo, hi)  # sorted order statistics
        n_items += len(rel)
        n_exact += int(np.sum(lo == hi))
    if subset.setting is not Setting.MULTI:  # a lexical encoder scores most cross-script pool items ~0
        assert n_exact >= 0.8 * n_items

    qrels = {str(i): {str(d): 1 for d in rel.tolist()} for i, rel in enumerate(relevant)}
    run = {
        str(i): _run_from_ranks(rr.ranks[i, : len(rel)], rel, c.shape[0]) for i, rel in enumerate(relevant)
    }
    assert_agrees_with_ir_measures(rr, qrels, run)


def test_scores_are_identical_in_another_process(full_run, shared_data):
    """Same inputs, same numbers, in any process, whatever PYTHONHASHSEED."""
    _, _, _, scores = full_run
    code = textwrap.dedent(
        f"""
        import json
        from hbt_bench.data.lareqa import load_lareqa
        from hbt_bench.encoders import HashNgramEncoder
        from hbt_bench.evaluate import EmbeddingStore, LareqaEvaluator, Subset
        corpus = load_lareqa("xquad-r", data_dir={str(shared_data)!r})
        enc = HashNgramEncoder()
        store = EmbeddingStore(lambda t, _k, _lang: enc.encode(t), normalize=True, model_name="test/hash")
        ev = LareqaEvaluator(corpus)
        subsets = [Subset.parse(n, ev.languages) for n in ("ar-ar", "th-ru", "zh-multi")]
        print(json.dumps(ev.score(store, subsets), sort_keys=True))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    other = json.loads(out.stdout)
    for name in ("ar-ar", "th-ru", "zh-multi"):
        assert other[name] == json.loads(json.dumps(scores[name])), name


def test_encoder_returning_nan_is_reported(xquadr):
    def bad(texts, kind, lang):
        out = np.ones((len(texts), 8), dtype=np.float32)
        out[3, 2] = np.nan
        return out

    store = EmbeddingStore(bad, normalize=True, model_name="acme/broken")
    with pytest.raises(EncoderOutputError, match="acme/broken"):
        LareqaEvaluator(xquadr).score(store, [Subset.parse("en-en", XQUADR_LANGS)])


def test_encoder_returning_wrong_row_count_is_reported(xquadr):
    store = EmbeddingStore(
        lambda t, _k, _lang: np.ones((len(t) - 1, 8)), normalize=True, model_name="acme/short"
    )
    with pytest.raises(EncoderOutputError, match="acme/short"):
        LareqaEvaluator(xquadr).score(store, [Subset.parse("en-en", XQUADR_LANGS)])


def test_store_encodes_only_missing_texts_and_normalises():
    enc = RecordingEncoder()
    store = EmbeddingStore(enc, normalize=True, model_name="t/x")
    store.ensure(QUERY, ["a b", "c d", "a b"], "en")
    store.ensure(QUERY, ["c d", "e f"], "en")
    store.ensure(DOCUMENT, ["a b"], "en")  # another kind is another text
    assert enc.seen == [(QUERY, "a b"), (QUERY, "c d"), (QUERY, "e f"), (DOCUMENT, "a b")]
    np.testing.assert_allclose(np.linalg.norm(store.matrix(QUERY, ["a b", "e f"]), axis=1), 1.0, rtol=1e-6)


def _store_of(vectors: np.ndarray, *, normalize: bool = True, name: str = "acme/fixed") -> EmbeddingStore:
    """A store whose encoder returns ``vectors[int(text)]`` for each text."""
    return EmbeddingStore(
        lambda texts, _k, _lang: vectors[[int(t) for t in texts]], normalize=normalize, model_name=name
    )


def test_store_ranks_huge_vectors_like_the_same_vectors_scaled_down():
    """Rows ~1e20 (squared norm beyond float32) must rank exactly like the rows / 1e20."""
    rng = np.random.default_rng(7)
    q = rng.standard_normal((30, 24)).astype(np.float32)
    c = rng.standard_normal((200, 24)).astype(np.float32)
    relevant = [np.array([i, 100 + i]) for i in range(30)]
    texts_q = [str(i) for i in range(30)]
    texts_c = [str(i) for i in range(200)]
    ranks = []
    for scale in (np.float32(1), np.float32(1e20)):
        qs, cs = _store_of(q * scale), _store_of(c * scale)
        qs.ensure(QUERY, texts_q, "en")
        cs.ensure(DOCUMENT, texts_c, "en")
        ranks.append(rank_relevant(qs.matrix(QUERY, texts_q), cs.matrix(DOCUMENT, texts_c), relevant).ranks)
    # expected: the ranking of the ordinary-sized copy, checked against a plain float64 argsort
    scores = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float64) @ (
        c / np.linalg.norm(c, axis=1, keepdims=True)
    ).astype(np.float64).T
    order = np.argsort(-scores, axis=1, kind="stable")
    by_hand = np.sort(np.argsort(order, axis=1)[np.arange(30)[:, None], np.stack(relevant)] + 1, axis=1)
    np.testing.assert_array_equal(ranks[0], by_hand)
    np.testing.assert_array_equal(ranks[1], by_hand)


@pytest.mark.parametrize(
    ("vectors", "normalize", "message"),
    [
        (np.zeros((5, 0), np.float32), True, "returned 0 dimensions"),
        (np.zeros((5, 8), np.float32), True, "all-zero vectors for all 5 non-empty texts"),
        (np.tile(np.arange(8, dtype=np.float32), (5, 1)), True, "the same vector for all 5"),
        (np.arange(1, 6, dtype=np.float32)[:, None] * np.ones((5, 8), np.float32), True, "same direction"),
        (np.full((5, 8), 1e19, np.float32) * np.arange(1, 6, dtype=np.float32)[:, None], False, "overflow"),
    ],
    ids=["dim0", "zeros", "constant", "parallel", "dot-overflow"],
)
def test_store_refuses_degenerate_embeddings(vectors, normalize, message):
    store = _store_of(vectors, normalize=normalize, name="acme/degenerate")
    with pytest.raises(EncoderOutputError, match=message) as ei:
        store.ensure(DOCUMENT, [str(i) for i in range(5)], "en")
    assert "acme/degenerate" in str(ei.value)
    assert len(store) == 0 and store.n_encoded == 0  # nothing half-stored


def test_store_accepts_a_zero_row_for_an_empty_text():
    store = EmbeddingStore(lambda t, _k, _l: HashNgramEncoder().encode(t), normalize=True, model_name="t/x")
    store.ensure(QUERY, ["", "a question", "another one"], "en")
    m = store.matrix(QUERY, ["", "a question"])
    assert (m[0] == 0).all() and abs(float(np.linalg.norm(m[1])) - 1) < 1e-6
    store.ensure(QUERY, ["   "], "en")  # a lone blank text: fine too


def test_candidate_text_with_context(xquadr):
    evaluator = LareqaEvaluator(xquadr, candidate_mode="sentence+context-xtreme")
    c = xquadr.languages["en"].candidates[0]
    assert evaluator.candidate_texts("en")[0] == (c.text + c.context).replace("\n", "")
    with pytest.raises(ValueError, match="sentence\\+context"):
        LareqaEvaluator(xquadr, candidate_mode="paragraph")


def test_summaries_macro_average_each_setting():
    langs = ("en", "de")
    scores = {
        "en-en": {"map": 0.8},
        "de-de": {"map": 0.6},
        "en-de": {"map": 0.5},
        "de-en": {"map": 0.3},
        "en-multi": {"map": 0.4, "rank_distance": 10.0},
        "de-multi": {"map": 0.2, "rank_distance": 30.0},
    }
    s = summarize_settings(scores, langs)
    assert s["mono"] == pytest.approx(0.7) and s["cross"] == pytest.approx(0.4)
    assert s["multi"] == pytest.approx(0.3) and s["language_bias"] == pytest.approx(20.0)
    assert (s["n_mono"], s["n_cross"], s["n_multi"]) == (2, 2, 2)
    rows = per_language(scores, langs)
    assert rows["en"] == {"mono": 0.8, "cross": 0.5, "multi": 0.4, "rank_distance": 10.0}
    assert summarize_settings({"en-en": {"map": 1.0}}, langs)["multi"] is None


def test_duplicate_candidates_are_found_once_per_candidate_matrix(mlqar, monkeypatch):
    # The pooled matrix is ranked for every query language (and every recipe of an -Adv task): its
    # duplicate candidates (np.unique over the rows) are computed once, and the scores do not change.
    import hbt_bench.evaluate as evaluate_module
    from hbt_bench import ranking

    langs = tuple(mlqar.languages)
    evaluator = LareqaEvaluator(mlqar)
    store = EmbeddingStore(lambda t, _k, _l: HashNgramEncoder().encode(t), normalize=True, model_name="t/x")
    subsets = [Subset.parse(f"{lang}-multi", langs) for lang in ("de", "zh")]
    prepared = evaluator.prepare(store, subsets)
    calls = []
    real = ranking.duplicate_candidates
    monkeypatch.setattr(evaluate_module, "duplicate_candidates", lambda c: calls.append(c.shape) or real(c))
    scores = {s.name: evaluator.score_subset(prepared, s) for s in subsets}
    again = prepared.with_queries(dict(prepared.queries))
    scores_again = {s.name: evaluator.score_subset(again, s) for s in subsets}
    assert calls == [prepared.pool.shape]  # once for two subsets and a second query set
    expected = {s.name: evaluator.score_ranks(s, ranking.rank_relevant(
        prepared.queries[s.query_lang][evaluator.relevance(s)[0]], prepared.pool, evaluator.relevance(s)[1]
    )) for s in subsets}  # fmt: skip
    assert scores == expected == scores_again


def _toy_corpus(order: tuple[str, ...]) -> LareqaCorpus:
    """One parallel question in en and de; the de answer has the same text as a wrong en sentence.

    Texts index the vectors of :func:`_store_of`: "0" = (1, 0) (both questions and the en answer
    "1" = (1, 0)), "2" = (3, 4) (the de answer and the wrong en sentence: one vector, an exact tie),
    "3" = (0, 1). Query "0" scores the en answer 1.0, both "2" candidates 0.6, "3" 0.0.
    """

    def lang(code: str, cands: tuple[str, str], answer: int) -> LareqaLanguage:
        return LareqaLanguage(
            lang=code,
            source=f"toy/{code}.json",
            questions=(Question(qid="q1", lang=code, text="0", answer_uid=f"{code}_0_{answer}"),),
            candidates=tuple(
                Candidate(uid=f"{code}_0_{i}", lang=code, text=t, context=" ".join(cands))
                for i, t in enumerate(cands)
            ),
        )

    langs = {"en": lang("en", ("1", "2"), 0), "de": lang("de", ("2", "3"), 0)}
    return LareqaCorpus(name="toy", languages={code: langs[code] for code in order})


@pytest.mark.parametrize(
    ("order", "de_answer_rank", "expected_ap"),
    [
        # pool de_0_0 de_0_1 en_0_0 en_0_1, scores .6 0 1 .6: en answer rank 1, de answer 1 + 1 = 2
        (("de", "en"), 2, (1 / 1 + 2 / 2) / 2),
        # pool en_0_0 en_0_1 de_0_0 de_0_1, scores 1 .6 .6 0: de answer 1 + 1 + 1 (tied en_0_1 first) = 3
        (("en", "de"), 3, (1 / 1 + 2 / 3) / 2),
    ],
)
def test_pooled_ties_break_by_pool_position_in_the_corpus_language_order(order, de_answer_rank, expected_ap):
    """Pins the convention: the pool is the corpus's languages in their order, and a candidate tied exactly
    with a relevant one ranks before it when it comes earlier in that pool. So a tie across languages
    makes X-multi scores depend on the language order (the tasks always use their definition's); mono and
    cross subsets rank one language and do not."""
    vectors = np.array([[1, 0], [1, 0], [3, 4], [0, 1]], dtype=np.float32)
    evaluator = LareqaEvaluator(_toy_corpus(order))
    assert evaluator.languages == order
    scores = evaluator.score(_store_of(vectors), [Subset.parse(n, order) for n in ("en-multi", "en-de")])
    assert scores["en-multi"]["map"] == pytest.approx(expected_ap, abs=1e-12)
    assert scores["en-multi"]["rank_distance"] == de_answer_rank - 1  # the en answer ranks first
    assert scores["en-de"]["map"] == 1.0  # the de pool alone: its answer (.6) beats "3" (0)
