"""The recipe's InfoNCE losses against a hand computation (numpy) of the paper's Eq. 1 and its usual form."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")

from hbt_bench.training.losses import build_loss  # noqa: E402


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def by_hand(q: np.ndarray, pos: np.ndarray, neg: np.ndarray | None, scale: float, mode: str) -> float:
    """Mean over i of -log(e^{s(q_i,p_i)} / (e^{s(q_i,p_i)} + sum over the negatives of q_i))."""
    losses = []
    for i in range(len(q)):
        s_pos = scale * cosine(q[i : i + 1], pos[i : i + 1])[0, 0]
        if mode == "all":  # every other positive and every hard negative of the batch
            others = [scale * cosine(q[i : i + 1], pos[j : j + 1])[0, 0] for j in range(len(q)) if j != i]
            others += [] if neg is None else list(scale * cosine(q[i : i + 1], neg)[0])
        else:  # Eq. 1 as printed: only the hard negatives d_j^- of every triplet
            others = list(scale * cosine(q[i : i + 1], neg)[0])
        denominator = np.exp(s_pos) + np.sum(np.exp(others))
        losses.append(-np.log(np.exp(s_pos) / denominator))
    return float(np.mean(losses))


@pytest.fixture
def embeddings():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(5, 8)) for _ in range(3)]


@pytest.mark.parametrize("scale", [1.0, 20.0])
@pytest.mark.parametrize("with_negative", [False, True])
def test_in_batch_all_is_standard_infonce(embeddings, scale: float, with_negative: bool) -> None:
    q, pos, neg = embeddings
    loss = build_loss(object(), in_batch="all", scale=scale)  # the model is only used by forward()
    cols = [q, pos, neg] if with_negative else [q, pos]
    got = loss.compute_loss_from_embeddings([torch.tensor(c, dtype=torch.float64) for c in cols], None)
    expected = by_hand(q, pos, neg if with_negative else None, scale, "all")
    assert got.item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_negatives_only_is_eq1_as_printed(embeddings, scale: float) -> None:
    q, pos, neg = embeddings
    loss = build_loss(object(), in_batch="negatives_only", scale=scale)
    got = loss.compute_loss_from_embeddings(
        [torch.tensor(c, dtype=torch.float64) for c in (q, pos, neg)], None
    )
    assert got.item() == pytest.approx(by_hand(q, pos, neg, scale, "negatives_only"), rel=1e-9)
    assert got.item() != pytest.approx(by_hand(q, pos, neg, scale, "all"), rel=1e-3)
    assert loss.get_config_dict()["in_batch"] == "negatives_only"


def test_negatives_only_needs_a_negative_column(embeddings) -> None:
    q, pos, _ = embeddings
    loss = build_loss(object(), in_batch="negatives_only")
    with pytest.raises(ValueError, match="needs a hard-negative column"):
        loss.compute_loss_from_embeddings([torch.tensor(q), torch.tensor(pos)], None)
    with pytest.raises(ValueError, match="in_batch must be one of"):
        build_loss(object(), in_batch="some")


def test_gradients_flow(embeddings) -> None:
    q, pos, neg = (torch.tensor(c, requires_grad=True) for c in embeddings)
    build_loss(object(), in_batch="negatives_only").compute_loss_from_embeddings(
        [q, pos, neg], None
    ).backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (q, pos, neg))
