"""X-X-mono, X-Y and hybrid batch samplers (arXiv 2408.10536 §2.2) for the sentence-transformers trainer.

Rows are (query, passage) pairs with metadata columns ``group`` (parallel id), ``query_lang`` and
``passage_lang`` (see ``hbt_bench.training.pairs``). Every batch holds rows of distinct groups, so the
translations of a question or answer never act as in-batch negatives of each other.

Batch types:
  * mono ("mono:<L>"): all rows have query_lang == passage_lang == L, L uniform over the languages that
    still have enough unused groups;
  * cross ("cross"): every row has query_lang != passage_lang, the (X, Y) pair drawn uniformly among the
    cross rows its group has;
  * hybrid(alpha): each step is mono with probability alpha, cross otherwise.

Epoch: the groups are shuffled once per epoch (numpy Generator seeded with ``(seed, epoch)``, never
Python's ``hash``). Batches are built in *blocks* of ``world_size`` batches, one optimizer step under
data parallelism (accelerate gives rank r the batches r, r + W, ...). A block draws one type (and one
mono language), then takes the next ``world_size * batch_size`` unused groups in shuffled order that are
eligible for that type and splits them into the W batches. So the ranks of a step share the type and
see disjoint groups, and no group is used twice in an epoch. A mono language whose unused eligible
groups cannot fill a block is retired for the rest of the epoch (the language is then redrawn among the
others); the epoch ends at the first block whose drawn type (mono or cross) cannot be filled at all.
With ``drop_last=False`` that last block is emitted partially filled (a short last batch, possibly fewer
than W batches); with ``drop_last=True`` it is dropped. With fully parallel data (every group in every
language) an epoch therefore uses all but fewer than ``world_size * batch_size`` groups; with partly
parallel data, groups lacking the languages that remain are left for later epochs.

Several sources (a ``source`` metadata column, as ``hbt-bench train`` adds for several ``[[data]]``
entries): the paper's batches are "sampled based on dataset size", so each block first picks one source
with probability proportional to its unused groups, then its type and groups within that source. A
source whose drawn type cannot be filled is done for the epoch (its leftover groups wait for the next
one); the last source's short block is the epoch's last block, as above. With one source no draw is
made, so the plan is exactly that of data without the column. ``source_column=None`` mixes sources.

The batch plan of an epoch is computed once (cached per epoch), so ``len()`` equals the number of
yielded batches, ``batch_types`` lists the realised type of each batch and ``batch_sources`` its source.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from sentence_transformers.base.sampler import DefaultBatchSampler

from hbt_bench.training.pairs import column

__all__ = [
    "CROSS",
    "HybridBatchSampler",
    "HybridSamplerFactory",
    "XXMonoBatchSampler",
    "XYBatchSampler",
    "hybrid_batch_sampler",
]

CROSS = "cross"
MONO_PREFIX = "mono:"


def _world_size(world_size: int | None) -> int:
    """torch.distributed's world size when initialised (that is what accelerate shards by), else the arg."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1 if world_size is None else int(world_size)


def _codes(values: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique values and the int code of each value (np.unique: deterministic, no hashing)."""
    uniq, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return uniq, inverse.astype(np.int64)


def _has_column(source: Any, name: str) -> bool:
    names = getattr(source, "column_names", None)
    if names is None and isinstance(source, dict):
        names = list(source)
    return name in (names or ())


class HybridBatchSampler(DefaultBatchSampler):
    """Each block of ``world_size`` batches is X-X-mono with probability ``alpha``, X-Y otherwise.

    Accepts the keyword arguments the sentence-transformers trainer passes (``batch_size``,
    ``drop_last``, ``valid_label_columns``, ``generator``, ``seed``); ``generator`` is ignored because
    batches must be reproducible from ``(seed, epoch)`` alone. ``metadata`` holds the ``group`` /
    ``query_lang`` / ``passage_lang`` columns when ``dataset`` (what the collator sees) has only the
    text columns; it must be row-aligned with ``dataset``. ``source_column`` names the column of the
    rows' source (used when present; ``None`` ignores it and mixes sources within batches).
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        drop_last: bool = False,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        alpha: float = 0.5,
        world_size: int | None = None,
        metadata: Dataset | dict[str, Sequence[str]] | None = None,
        group_column: str = "group",
        query_lang_column: str = "query_lang",
        passage_lang_column: str = "passage_lang",
        source_column: str | None = "source",
    ) -> None:
        super().__init__(
            dataset,
            batch_size=batch_size,
            drop_last=drop_last,
            valid_label_columns=valid_label_columns,
            generator=generator,
            seed=seed,
        )
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        self.world_size = _world_size(world_size)
        if self.world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {self.world_size}")

        source = dataset if metadata is None else metadata
        groups = column(source, group_column)
        qlang = column(source, query_lang_column)
        plang = column(source, passage_lang_column)
        n_rows = len(groups)
        if metadata is not None and n_rows != len(dataset):
            raise ValueError(f"metadata has {n_rows} rows but the dataset has {len(dataset)}")
        if not (len(qlang) == len(plang) == n_rows) or n_rows == 0:
            raise ValueError("group / query_lang / passage_lang must be non-empty and of equal length")

        # Pre-index once: group and language codes, the mono row of each (group, language), and the cross
        # rows of each group in CSR form.
        self.group_ids, g = _codes(groups)
        self.languages, lang_codes = _codes(np.concatenate([qlang, plang]))
        q, p = lang_codes[:n_rows], lang_codes[n_rows:]
        n_groups, n_langs = len(self.group_ids), len(self.languages)
        rows = np.arange(n_rows, dtype=np.int64)

        mono = q == p
        self._mono_row = np.full((n_groups, n_langs), -1, dtype=np.int64)
        # Reversed assignment: with duplicate (group, L, L) rows the first one wins, deterministically.
        self._mono_row[g[mono][::-1], q[mono][::-1]] = rows[mono][::-1]

        cross_rows = rows[~mono]
        order = np.argsort(g[~mono], kind="stable")
        self._cross_rows = cross_rows[order]
        self._cross_count = np.bincount(g[~mono], minlength=n_groups).astype(np.int64)
        self._cross_start = np.concatenate([[0], np.cumsum(self._cross_count)[:-1]]).astype(np.int64)

        self._mono_eligible = self._mono_row >= 0  # (group, language)
        self._cross_eligible = self._cross_count > 0
        self._mono_langs = np.flatnonzero(self._mono_eligible.any(axis=0))  # languages with any mono row

        # Sources (several training datasets): every batch comes from one, picked per block.
        self.sources = np.asarray([""], dtype=object)  # one unnamed source
        self._group_source = np.zeros(n_groups, dtype=np.int64)
        if source_column is not None and _has_column(source, source_column):
            self.sources, src = _codes(column(source, source_column))
            self._group_source[g] = src
            if not np.array_equal(self._group_source[g], src):
                raise ValueError(f"a group has rows of several sources in column {source_column!r}")
        self._plan_epoch: int | None = None
        self._plan: list[np.ndarray] = []
        self._types: list[str] = []
        self._batch_sources: list[str] = []

    # -- epoch plan ---------------------------------------------------------------------------------

    def _build_plan(self) -> None:
        """All batches of ``self.epoch`` and their types, from ``default_rng([seed, epoch])`` only."""
        rng = np.random.default_rng([int(self.seed) & 0xFFFFFFFF, int(self.epoch)])
        n_groups = len(self.group_ids)
        perm = rng.permutation(n_groups)
        used = np.zeros(n_groups, dtype=bool)
        block = self.world_size * self.batch_size
        cross_key = -1

        # Per source: one stream per mono language and one for cross, each the shuffled order restricted
        # to that source's eligible groups.
        streams: dict[tuple[int, int], np.ndarray] = {}
        live_langs: dict[int, list[int]] = {}
        remaining: dict[int, int] = {}
        for src in range(len(self.sources)):
            mine = perm[self._group_source[perm] == src]
            remaining[src] = len(mine)
            live_langs[src] = []
            for lang in self._mono_langs:
                stream = mine[self._mono_eligible[mine, lang]]
                if len(stream):
                    streams[(src, int(lang))] = stream
                    live_langs[src].append(int(lang))
            streams[(src, cross_key)] = mine[self._cross_eligible[mine]]
        ptr = dict.fromkeys(streams, 0)
        live_sources = [src for src in range(len(self.sources)) if remaining[src] > 0]

        def take(key: tuple[int, int], n: int) -> tuple[np.ndarray, int]:
            """The next ``n`` (or fewer) unused groups of a stream and the pointer just past them."""
            stream, pos, parts, got = streams[key], ptr[key], [], 0
            while got < n and pos < len(stream):
                window = stream[pos : pos + 2 * (n - got) + 16]
                free = np.flatnonzero(~used[window])
                need = n - got
                if len(free) >= need:
                    parts.append(window[free[:need]])
                    pos += int(free[need - 1]) + 1
                    got = n
                else:
                    parts.append(window[free])
                    pos += len(window)
                    got += len(free)
            return (np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)), pos

        batches: list[np.ndarray] = []
        types: list[str] = []
        sources: list[str] = []
        while live_sources:
            src = live_sources[0]
            if len(live_sources) > 1:  # by dataset size: proportional to the source's unused groups
                weights = np.asarray([remaining[s] for s in live_sources], dtype=np.float64)
                pick = np.searchsorted(np.cumsum(weights), rng.random() * weights.sum(), side="right")
                src = live_sources[min(int(pick), len(live_sources) - 1)]
            if rng.random() < self.alpha:
                # Retire mono languages that cannot fill a block; redraw among the rest.
                key, chosen, pos = (src, cross_key), np.empty(0, dtype=np.int64), 0
                langs = live_langs[src]
                while langs:
                    lang = langs[int(rng.integers(len(langs)))]
                    key = (src, lang)
                    chosen, pos = take(key, block)
                    if len(chosen) == block:
                        break
                    langs.remove(lang)
            else:
                key = (src, cross_key)
                chosen, pos = take(key, block)
            if len(chosen) < block:
                # The drawn type is exhausted in this source: the source is done for the epoch. The last
                # source's short block ends the epoch (emitted unless drop_last); an earlier one's groups
                # wait for the next epoch, so no mid-epoch step is short.
                live_sources.remove(src)
                if not live_sources and not self.drop_last and len(chosen) > 0:
                    self._emit(batches, types, chosen, key[1], cross_key, rng)
                    sources.extend([str(self.sources[src])] * (len(batches) - len(sources)))
                continue
            used[chosen] = True
            ptr[key] = pos
            remaining[src] -= len(chosen)
            self._emit(batches, types, chosen, key[1], cross_key, rng)
            sources.extend([str(self.sources[src])] * (len(batches) - len(sources)))

        self._plan, self._types, self._plan_epoch = batches, types, self.epoch
        self._batch_sources = sources

    def _emit(
        self,
        batches: list[np.ndarray],
        types: list[str],
        groups: np.ndarray,
        key: int,
        cross_key: int,
        rng: np.random.Generator,
    ) -> None:
        """Turn a block's groups into row indices and split them into consecutive batches."""
        if key == cross_key:
            u = rng.random(len(groups))
            pick = self._cross_start[groups] + (u * self._cross_count[groups]).astype(np.int64)
            rows = self._cross_rows[pick]
            label = CROSS
        else:
            rows = self._mono_row[groups, key]
            label = MONO_PREFIX + str(self.languages[key])
        for start in range(0, len(rows), self.batch_size):
            batches.append(rows[start : start + self.batch_size])
            types.append(label)

    def _ensure_plan(self) -> None:
        if self._plan_epoch != self.epoch:
            self._build_plan()

    # -- public API ---------------------------------------------------------------------------------

    @property
    def batch_types(self) -> list[str]:
        """Type of each batch of the current epoch, in yield order: ``"cross"`` or ``"mono:<lang>"``."""
        self._ensure_plan()
        return list(self._types)

    @property
    def batch_sources(self) -> list[str]:
        """Source of each batch of the current epoch ("" when the data has no source column)."""
        self._ensure_plan()
        return list(self._batch_sources)

    def batches(self) -> list[list[int]]:
        """All batches of the current epoch (row indices), as ``__iter__`` yields them."""
        return list(self)

    def __iter__(self) -> Iterator[list[int]]:
        self._ensure_plan()
        for batch in self._plan:
            yield batch.tolist()

    def __len__(self) -> int:
        self._ensure_plan()
        return len(self._plan)


class XXMonoBatchSampler(HybridBatchSampler):
    """X-X-mono: every batch in one language (query and passage), the language uniform per step."""

    def __init__(self, dataset: Dataset, batch_size: int, drop_last: bool = False, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            raise TypeError("XXMonoBatchSampler has alpha=1 fixed; use HybridBatchSampler for other values")
        super().__init__(dataset, batch_size, drop_last, alpha=1.0, **kwargs)


class XYBatchSampler(HybridBatchSampler):
    """X-Y: every pair has query language != passage language, drawn per example."""

    def __init__(self, dataset: Dataset, batch_size: int, drop_last: bool = False, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            raise TypeError("XYBatchSampler has alpha=0 fixed; use HybridBatchSampler for other values")
        super().__init__(dataset, batch_size, drop_last, alpha=0.0, **kwargs)


class HybridSamplerFactory:
    """Callable for ``SentenceTransformerTrainingArguments(batch_sampler=...)`` that fixes ``alpha`` and
    other options; ST calls it as ``factory(dataset, batch_size=..., drop_last=..., valid_label_columns=...,
    generator=..., seed=...)``, and an option given here (``seed=`` included) overrides the trainer's.
    Keeps the samplers it built in ``samplers`` so a trainer can log ``samplers[-1].batch_types``.
    """

    def __init__(
        self, alpha: float = 0.5, cls: type[HybridBatchSampler] = HybridBatchSampler, **options: Any
    ) -> None:
        self.alpha = float(alpha)
        self.cls = cls
        self.options = options
        self.samplers: list[HybridBatchSampler] = []

    def __call__(self, dataset: Dataset, **kwargs: Any) -> HybridBatchSampler:
        # Options fixed here win over the trainer's arguments: sentence-transformers 6.0 does not pass
        # ``seed`` to batch samplers (it arrives as the default 0), so the recipe fixes it here.
        kwargs = {**kwargs, **self.options}
        if self.cls is HybridBatchSampler:
            sampler = self.cls(dataset, **kwargs, alpha=self.alpha)
        else:
            sampler = self.cls(dataset, **kwargs)
        self.samplers.append(sampler)
        return sampler

    def __repr__(self) -> str:  # shows up in the serialised training arguments
        return f"{type(self).__name__}(alpha={self.alpha}, cls={self.cls.__name__})"


def hybrid_batch_sampler(alpha: float = 0.5, **options: Any) -> HybridSamplerFactory:
    """``batch_sampler=hybrid_batch_sampler(0.5, metadata=pairs)`` for the ST training arguments."""
    return HybridSamplerFactory(alpha, **options)
