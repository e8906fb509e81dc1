"""Reusable test builders (imported by tests, not collected by pytest)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

# A few sentences in several scripts so the WordPiece vocabulary covers what tests encode.
TINY_CORPUS: tuple[str, ...] = (
    "Where is the Iroquois area in Canada?",
    "The Panthers defense gave up just 308 points, ranking sixth in the league.",
    "Die Panthers-Verteidigung gab nur 308 Punkte ab.",
    "La defensa de los Panthers concedió solo 308 puntos.",
    "Защита Пантер пропустила всего 308 очков.",
    "黑豹队的防守只丢了308分。",
    "Query: what is the capital of France? Passage: Paris is the capital of France.",
    "query: passage: a cat sat on the mat; the dog slept.",
)


def build_tiny_st_model(
    path: str | Path,
    prompts: Mapping[str, str] | None = None,
    *,
    texts: Sequence[str] = TINY_CORPUS,
    seed: int = 0,
) -> Path:
    """Save a tiny random-init sentence-transformers model (BERT, hidden 32, 2 layers) at ``path``.

    The WordPiece tokenizer is trained on ``texts`` with ``tokenizers``, so nothing is downloaded;
    the model is Transformer + mean pooling. ``prompts`` (e.g. ``{"query": "Query: ", "document":
    "Passage: "}``) are saved in ``config_sentence_transformers.json`` like a real prompted model.
    Takes about a second; returns ``path``.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out = Path(path)
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        list(texts),
        trainers.WordPieceTrainer(
            vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        ),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    with tempfile.TemporaryDirectory() as hf_dir:  # the ST directory gets its own copy of everything
        BertModel(config).save_pretrained(hf_dir)
        fast.save_pretrained(hf_dir)
        word = Transformer(hf_dir, max_seq_length=128)
        model = SentenceTransformer(
            modules=[word, Pooling(word.get_embedding_dimension(), pooling_mode="mean")],
            device="cpu",
            prompts=dict(prompts) if prompts else None,
        )
        model.save(str(out))
    return out


def assert_agrees_with_ir_measures(rr, qrels: Mapping, run: Mapping, atol: float = 1e-6) -> dict[str, float]:
    """Our AP, AP@20, R@1, R@10, nDCG@10, RR, RR@10 equal ir_measures' per query and on average.

    ``rr`` are our relevant ranks for queries "0".."n-1" of ``qrels``/``run``; returns our means.
    """
    import ir_measures

    from hbt_bench.metrics import AP, NDCG, RR, Recall, evaluate_ranks

    pairs = [
        (AP(), ir_measures.AP),
        (AP(20), ir_measures.AP @ 20),
        (Recall(1), ir_measures.R @ 1),
        (Recall(10), ir_measures.R @ 10),
        (NDCG(10), ir_measures.nDCG @ 10),
        (RR(), ir_measures.RR),
        (RR(10), ir_measures.RR @ 10),
    ]
    theirs_measures = [p[1] for p in pairs]
    theirs = {
        (str(m.measure), m.query_id): m.value for m in ir_measures.iter_calc(theirs_measures, qrels, run)
    }
    aggregate = ir_measures.calc_aggregate(theirs_measures, qrels, run)
    ours_mean = evaluate_ranks(rr, [p[0] for p in pairs])
    n = len(rr.n_relevant)
    for ours, their_measure in pairs:
        expected = np.array([theirs[(str(their_measure), str(i))] for i in range(n)])
        np.testing.assert_allclose(ours.per_query(rr), expected, rtol=0, atol=atol, err_msg=ours.name)
        assert abs(ours_mean[ours.name] - aggregate[their_measure]) <= atol, ours.name
    return ours_mean


def single_relevant_map_bounds(
    query_vectors: np.ndarray, candidate_vectors: np.ndarray, candidates: Sequence, questions: Sequence
) -> tuple[float, float]:
    """(lowest, highest) mAP of a monolingual subset with one relevant candidate per query, by hand.

    With one relevant candidate, AP = 1 / (1 + candidates scored above it) under cosine similarity;
    candidates within 1e-6 of the relevant score may fall either side, hence bounds. ``candidates`` have
    ``.uid``, ``questions`` have ``.answer_uid`` (a LAReQA or mMARCO-R language of a corpus).
    """
    q = query_vectors / np.maximum(np.linalg.norm(query_vectors, axis=1, keepdims=True), 1e-12)
    c = candidate_vectors / np.linalg.norm(candidate_vectors, axis=1, keepdims=True)
    index = {x.uid: i for i, x in enumerate(candidates)}
    best, worst = [], []
    for i, question in enumerate(questions):
        scores = c @ q[i]
        rel = scores[index[question.answer_uid]]
        above = int(np.sum(scores > rel + 1e-6))
        tied = int(np.sum(np.abs(scores - rel) <= 1e-6)) - 1
        best.append(1.0 / (1 + above))
        worst.append(1.0 / (1 + above + tied))
    return float(np.mean(worst)), float(np.mean(best))
