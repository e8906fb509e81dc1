"""The training and validation pairs of a config: sources loaded, combined, limited and split.

Each ``[[data]]`` / ``[[validation.data]]`` source becomes a ``datasets.Dataset`` of pairs (see
:mod:`hbt_bench.training.pairs`); several sources are concatenated with their group ids prefixed by the
source name and a ``source`` column, so the sampler can draw each batch from one source. Metadata
columns are read through Arrow (:func:`~hbt_bench.training.pairs.column`), never as Python lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hbt_bench.training.config import SourceConfig, TrainConfig
from hbt_bench.training.errors import TrainingConfigError, TrainingDataError
from hbt_bench.training.pairs import NEGATIVE, SOURCE, column, has_negatives

if TYPE_CHECKING:
    import datasets

__all__ = ["TrainingData", "build_pairs", "build_source", "build_training_data", "languages_of"]


def _limit_groups(pairs: datasets.Dataset, limit: int) -> datasets.Dataset:
    """The rows of the first ``limit`` groups in row order (builders order rows by group)."""
    if not limit:
        return pairs
    groups = column(pairs, "group").astype(object)
    _, first = np.unique(groups, return_index=True)
    keep = set(groups[np.sort(first)[:limit]].tolist())
    return pairs.select(np.flatnonzero([g in keep for g in groups])).flatten_indices()


def build_source(src: SourceConfig, label: str) -> datasets.Dataset:
    """The pairs of one configured source; errors are prefixed with the source's label."""
    from hbt_bench.training.pairs import parallel_pairs
    from hbt_bench.training.sources import (
        load_mmarco_triples,
        mmarco_pairs,
        mmarco_triples_pairs,
    )

    langs = list(src.languages) or None
    try:
        if src.kind == "lareqa":
            from hbt_bench.data.lareqa import load_lareqa

            corpus = load_lareqa(src.dataset, langs, data_dir=src.data_dir or None)
            return _limit_groups(parallel_pairs(corpus), src.limit)
        if src.kind == "table":
            return _limit_groups(_table_source(src, langs, label), src.limit)
        if src.layout == "triples":
            streams = load_mmarco_triples(src.languages, revision=src.revision or None)
            return mmarco_triples_pairs(streams, limit=src.limit or None)
        return mmarco_pairs(
            src.languages, root=src.path or None, revision=src.revision or None, limit=src.limit or None
        )
    except (TrainingDataError, TrainingConfigError):
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingDataError(f"{label}: {exc}") from exc


def _table_source(src: SourceConfig, langs: list[str] | None, label: str) -> datasets.Dataset:
    from hbt_bench.training.sources import table_pairs

    if src.hf_dataset:
        import datasets

        try:
            ds = datasets.load_dataset(
                src.hf_dataset, src.hf_config or None, split=src.split, revision=src.revision or None
            )
        except Exception as exc:
            raise TrainingDataError(
                f"{label}: cannot load hub dataset {src.hf_dataset!r} ({type(exc).__name__}: {exc})"
            ) from exc
        return table_pairs(ds, columns=src.columns, languages=langs, name=f"{label} ({src.hf_dataset})")
    path = Path(src.path)
    if path.is_dir():
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as exc:
            raise TrainingDataError(
                f"{label}: {path} is not a datasets.save_to_disk directory: {exc}"
            ) from exc
        if isinstance(ds, datasets.DatasetDict):
            if src.split not in ds:
                raise TrainingDataError(f"{label}: {path} has no split {src.split!r} (has {', '.join(ds)})")
            ds = ds[src.split]
        return table_pairs(ds, columns=src.columns, languages=langs, name=str(path))
    return table_pairs(path, columns=src.columns, languages=langs)


def _prefix_groups(pairs: datasets.Dataset, prefix: str) -> datasets.Dataset:
    """Group ids prefixed by the source name, plus a ``source`` column (the sampler's unit of choice)."""
    return pairs.map(
        lambda batch: {
            "group": [f"{prefix}:{g}" for g in batch["group"]],
            SOURCE: [prefix] * len(batch["group"]),
        },
        batched=True,
        desc=None,
        load_from_cache_file=False,
    )


def build_pairs(
    sources: Sequence[SourceConfig], *, hard_negatives: bool, what: str = "data"
) -> datasets.Dataset:
    """The concatenated pairs of ``sources`` (with several: group ids prefixed by source name and a
    ``source`` column, so the sampler can draw each batch from one source).

    Hard negatives are kept when ``hard_negatives`` and every source has them; sources that disagree
    are an error unless ``hard_negatives`` is false (then all negatives are dropped).
    """
    import datasets

    parts, labels = [], []
    for i, src in enumerate(sources):
        label = f"{what}[{i}] ({src.name or src.kind + str(i)})"
        pairs = build_source(src, label)
        if len(pairs) == 0:
            raise TrainingDataError(f"{label}: no pairs")
        parts.append(pairs)
        labels.append(label)
    with_neg = [has_negatives(p) for p in parts]
    if hard_negatives and any(with_neg) and not all(with_neg):
        have = ", ".join(lbl for lbl, n in zip(labels, with_neg, strict=True) if n)
        lack = ", ".join(lbl for lbl, n in zip(labels, with_neg, strict=True) if not n)
        raise TrainingConfigError(
            f"{what}: {have} have hard negatives but {lack} do not; use sources of one kind or set "
            "loss.hard_negatives = false"
        )
    if not hard_negatives:
        parts = [p.remove_columns([NEGATIVE]) if has_negatives(p) else p for p in parts]
    if len(parts) > 1:
        names = [src.name or f"{src.kind}{i}" for i, src in enumerate(sources)]
        if len(set(names)) < len(names):
            raise TrainingConfigError(f"{what}: two sources share the name in {names}; give each a name")
        parts = [_prefix_groups(p, name) for p, name in zip(parts, names, strict=True)]
        return datasets.concatenate_datasets(parts)
    return parts[0]


def _split_holdout(
    pairs: datasets.Dataset, fraction: float, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Hold out ``fraction`` of the groups (at least one), chosen by ``seed``."""
    groups = column(pairs, "group").astype(str)
    uniq = np.unique(groups)
    if len(uniq) < 2:
        raise TrainingDataError("validation.fraction: the training data has fewer than 2 groups to split")
    n_val = min(len(uniq) - 1, max(1, round(fraction * len(uniq))))
    held = uniq[np.random.default_rng([int(seed) & 0xFFFFFFFF, 1]).permutation(len(uniq))[:n_val]]
    is_val = np.isin(groups, held)
    train, val = pairs.select(np.flatnonzero(~is_val)), pairs.select(np.flatnonzero(is_val))
    return train.flatten_indices(), val.flatten_indices()


def languages_of(pairs: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The query and passage language of every row (Arrow reads: fast on millions of rows)."""
    return column(pairs, "query_lang"), column(pairs, "passage_lang")


@dataclass
class TrainingData:
    """Training and validation pairs with their metadata (``group``, ``query_lang``, ``passage_lang``)."""

    train: datasets.Dataset
    validation: datasets.Dataset | None

    def stats(self) -> dict[str, Any]:
        def one(ds: datasets.Dataset | None) -> dict[str, Any] | None:
            if ds is None:
                return None
            q, p = languages_of(ds)
            return {
                "rows": len(ds),
                "groups": len(set(column(ds, "group").tolist())),
                "mono_rows": int((q == p).sum()),
                "cross_rows": int((q != p).sum()),
                "languages": sorted(set(q.tolist()) | set(p.tolist())),
                "hard_negatives": has_negatives(ds),
            }

        return {"train": one(self.train), "validation": one(self.validation)}


def build_training_data(config: TrainConfig) -> TrainingData:
    """Pairs for training and validation, as configured."""
    hard = config.loss.hard_negatives
    train_pairs = build_pairs(config.data, hard_negatives=hard, what="data")
    validation = None
    if config.validation.data:
        validation = build_pairs(config.validation.data, hard_negatives=hard, what="validation.data")
        if has_negatives(validation) != has_negatives(train_pairs):
            raise TrainingConfigError(
                "validation.data and data disagree on hard negatives; use sources of one kind or set "
                "loss.hard_negatives = false"
            )
    elif config.validation.fraction:
        train_pairs, validation = _split_holdout(train_pairs, config.validation.fraction, config.seed)
    if config.loss.in_batch == "negatives_only" and not has_negatives(train_pairs):
        raise TrainingConfigError("loss.in_batch = 'negatives_only' needs sources with hard negatives")
    return TrainingData(train_pairs, validation)
