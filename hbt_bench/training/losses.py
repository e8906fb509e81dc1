"""The InfoNCE loss of the recipe (arXiv 2408.10536 Eq. 1) on top of sentence-transformers.

``in_batch="all"`` is sentence-transformers' :class:`MultipleNegativesRankingLoss` unchanged: query i is
scored against every passage of the batch (all positives and all hard negatives), the usual InfoNCE with
in-batch negatives. ``in_batch="negatives_only"`` is Eq. 1 exactly as printed: the denominator holds the
query's own positive and the hard negatives ``d_j^-`` of every triplet, but not the other positives (see
paper notes §1.1 [INFERRED]: possibly a typo, so both are offered). Both use ``scale`` = 1 / temperature
on cosine similarities and average over the batch (Eq. 1 sums; that only rescales the learning rate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import Tensor, nn

__all__ = ["IN_BATCH_MODES", "build_loss", "negatives_only_loss_class"]

IN_BATCH_MODES = ("all", "negatives_only")


def negatives_only_loss_class() -> type:
    """The Eq. 1 loss class, built on first use so importing this module needs no torch."""
    global _NegativesOnly
    if _NegativesOnly is not None:
        return _NegativesOnly
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.util import all_gather_with_grad

    class NegativesOnlyRankingLoss(MultipleNegativesRankingLoss):
        """Eq. 1: ``-log e^{s(q_i,d_i^+)} / (e^{s(q_i,d_i^+)} + sum_j e^{s(q_i,d_j^-)})``, scaled cosine.

        Needs (query, positive, negative_1[, ...]) columns; every negative column of every row of the
        batch (all devices with ``gather_across_devices``) is a candidate for every query.
        """

        def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
            if len(embeddings) < 3:
                raise ValueError(
                    "in_batch='negatives_only' (paper Eq. 1) needs a hard-negative column: "
                    "(query, positive, negative) rows"
                )
            queries, positives, negatives = embeddings[0], embeddings[1], embeddings[2:]
            if self.gather_across_devices:  # positives stay local: only the own one is in the denominator
                negatives = [all_gather_with_grad(n) for n in negatives]
            pos = self.similarity_fct(queries, positives).diagonal()[:, None]  # (B, 1)
            neg = self.similarity_fct(queries, torch.cat(negatives, dim=0))  # (B, B * W * n_neg)
            logits = torch.cat([pos, neg], dim=1) * self.scale
            return -(logits[:, 0] - torch.logsumexp(logits, dim=1)).mean()

        def get_config_dict(self) -> dict[str, Any]:
            return {**super().get_config_dict(), "in_batch": "negatives_only"}

    _NegativesOnly = NegativesOnlyRankingLoss
    return _NegativesOnly


_NegativesOnly: type | None = None


def build_loss(
    model: SentenceTransformer,
    *,
    in_batch: str = "all",
    scale: float = 20.0,
    gather_across_devices: bool = False,
) -> nn.Module:
    """The recipe's loss: MNRL (``"all"``) or the Eq. 1 variant (``"negatives_only"``)."""
    if in_batch not in IN_BATCH_MODES:
        raise ValueError(f"in_batch must be one of {', '.join(IN_BATCH_MODES)}, got {in_batch!r}")
    if in_batch == "all":
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        return MultipleNegativesRankingLoss(model, scale=scale, gather_across_devices=gather_across_devices)
    return negatives_only_loss_class()(model, scale=scale, gather_across_devices=gather_across_devices)
