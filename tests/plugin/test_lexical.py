"""hbt_bench.plugin.lexical: the per-script tokenizers (hand-written expectations) and ``hbt-bench/bm25``
on XQuADR (scores equal ir_measures on its own runs; Thai and Hindi clearly above mteb's BM25, both
measured here)."""

from __future__ import annotations

import re

import mteb
import pytest

from hbt_bench.plugin.lexical import (
    NAME,
    ScriptAwareBM25,
    bigram_tokenize,
    script_aware_tokenize,
    tokenizer_for,
    word_tokenize,
)
from hbt_bench.plugin.models import mteb_encoder
from hbt_bench.plugin.tasks import XQuADR
from tests.plugin.test_search_models import RecordingSearch, _evaluate, _qrels

# --- tokenizers ---------------------------------------------------------------------------------------


def test_thai_gets_grapheme_bigrams():
    # ภ า ษ า ไ ท ย: seven clusters, six bigrams
    assert bigram_tokenize("ภาษาไทย") == ["ภา", "าษ", "ษา", "าไ", "ไท", "ทย"]
    # ก + sara i (a combining mark) is one cluster, so "กิน" is two clusters and one bigram
    assert bigram_tokenize("กิน") == ["กิน"]


def test_chinese_gets_bigrams_and_single_characters_stay():
    assert bigram_tokenize("我爱北京。") == ["我爱", "爱北", "北京"]
    assert bigram_tokenize("我") == ["我"]


def test_hindi_words_keep_their_marks():
    assert word_tokenize("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    # mteb's default for hin (bm25s's \w\w+ split, no stemmer applied yet) loses both words: vowel signs and
    # viramas are not \w in Python's re, so every run is one letter long
    import bm25s

    assert re.findall(r"\w\w+", "हिन्दी भाषा") == []
    assert bm25s.tokenize(["हिन्दी भाषा"], stopwords=None, show_progress=False, return_ids=False) == [[]]


def test_text_is_nfkc_normalized_and_lowercased():
    assert word_tokenize("ＡＢＣ Straße") == ["abc", "straße"]


def test_script_aware_tokenizer_bigrams_only_the_runs_of_unspaced_scripts():
    assert script_aware_tokenize("北京308 ภาษา Hindi हिन्दी") == [
        "北京",
        "308",
        "ภา",
        "าษ",
        "ษา",
        "hindi",
        "हिन्दी",
    ]


def test_tokenizer_choice_per_index_language():
    assert tokenizer_for(["tha-Thai"])[0] is bigram_tokenize
    assert tokenizer_for(["zho-Hans"])[0] is bigram_tokenize
    assert tokenizer_for(["kor-Hang"])[0] is bigram_tokenize
    hindi, label = tokenizer_for(["hin-Deva"])
    assert "hindi stemmer" in label
    # the Snowball stem of each marked word (PyStemmer directly, not through our tokenizer)
    import Stemmer

    assert hindi("हिन्दी भाषा") == Stemmer.Stemmer("hindi").stemWords(["हिन्दी", "भाषा"])
    assert tokenizer_for(["mar-Deva"]) == (word_tokenize, "words with combining marks")  # no stemmer
    assert tokenizer_for(["eng-Latn"])[0] is None  # mteb's own choice
    assert tokenizer_for(["tha-Thai", "eng-Latn"])[0] is script_aware_tokenize


# --- the model ----------------------------------------------------------------------------------------


def test_registered_and_resolvable_as_a_model_spec():
    assert mteb.get_model_meta(NAME).name == NAME
    for spec in (NAME, "builtin:bm25"):
        model = mteb_encoder(spec)
        assert isinstance(model, ScriptAwareBM25) and model.mteb_model_meta.name == NAME


LANGS = ["th", "hi", "zh", "en"]
MONO = [f"{lang}-{lang}" for lang in LANGS]


@pytest.fixture(scope="module")
def runs(shared_data):
    """hbt-bench/bm25 on the mono subsets and th-multi, mteb's BM25 on the mono subsets (one run each)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HBT_BENCH_DATA_DIR", str(shared_data))
        ours = RecordingSearch(mteb.get_model(NAME))
        task = XQuADR(languages=LANGS).filter_languages(None, hf_subsets=[*MONO, "th-multi"])
        mine = {e["hf_subset"]: e for e in _evaluate(ours, task).task_results[0].scores["test"]}
        task = XQuADR(languages=LANGS).filter_languages(None, hf_subsets=MONO)
        base = _evaluate(mteb.get_model("mteb/baseline-bm25s"), task).task_results[0].scores["test"]
    return ours, mine, {e["hf_subset"]: e for e in base}


def test_scores_equal_ir_measures_on_its_own_runs(runs, shared_data):
    import ir_measures

    recorder, entries, _ = runs
    for name in [*MONO, "th-multi"]:
        qrels = _qrels(name, LANGS, shared_data)
        expected = ir_measures.calc_aggregate(
            [ir_measures.AP, ir_measures.RR], qrels, recorder.tie_free_run(name)
        )
        assert entries[name]["map"] == pytest.approx(expected[ir_measures.AP], abs=1e-6)
        assert entries[name]["mrr"] == pytest.approx(expected[ir_measures.RR], abs=1e-6)
        assert entries[name]["search_depth"] == entries[name]["num_candidates"]
    assert recorder.inner.tokenization == {
        "th-th": "character bigrams",
        "hi-hi": "words with combining marks + Snowball hindi stemmer",
        "zh-zh": "character bigrams",
        "en-en": tokenizer_for(["eng-Latn"])[1],
        "th-multi": tokenizer_for(["tha-Thai", "eng-Latn"])[1],
    }


def test_thai_and_hindi_clearly_beat_mtebs_bm25(runs):
    _, mine, base = runs
    # measured: th .785 vs .238 (char unigrams), hi .762 vs .550 (\w\w+ split), zh .786 vs .777
    assert mine["th-th"]["map"] > base["th-th"]["map"] + 0.3
    assert mine["hi-hi"]["map"] > base["hi-hi"]["map"] + 0.1
    assert mine["zh-zh"]["map"] > base["zh-zh"]["map"]
    # English keeps mteb's tokenizer, stopwords and stemmer: the very same scores
    assert mine["en-en"]["map"] == pytest.approx(base["en-en"]["map"], abs=1e-12)


def test_an_explicit_tokenizer_is_used_for_every_index(shared_data, monkeypatch):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_data))
    model = ScriptAwareBM25(tokenizer=word_tokenize)
    task = XQuADR(languages=["th", "en"]).filter_languages(None, hf_subsets=["th-th"])
    _evaluate(model, task)
    assert model.tokenization == {"th-th": "the tokenizer passed to the model"}
