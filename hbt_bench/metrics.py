"""Retrieval measures computed from the ranks of the relevant candidates.

Every measure is a function of :class:`~hbt_bench.ranking.RelevantRanks` (the exact 1-based ranks of each
query's relevant candidates in the full ranking, see :mod:`hbt_bench.ranking` for how they are computed and
the tie rule), so encoders and search models (:mod:`hbt_bench.runs`) share one code path.

Measures are small declarative objects in the spirit of ``ir_measures`` (``measures/ap.py``): a measure
declares its base name and whether it takes a rank cutoff, once (``NAME``, ``CUTOFF``); its score key
(``name``, the MTEB score key: ``map``, ``map_at_20``, ``recall_at_10``, ...) is formatted from that and
parsed back by :func:`parse_measure`, generically for every measure. Only ``per_query`` is written per
measure. This module imports only numpy and the stdlib.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hbt_bench.ranking import RelevantRanks

__all__ = [
    "AP",
    "DEFAULT_MEASURES",
    "MEASURES",
    "NDCG",
    "RR",
    "Cutoff",
    "Measure",
    "RankDistance",
    "Recall",
    "evaluate_ranks",
    "parse_measure",
]


class Cutoff(enum.Enum):
    """Whether a measure takes a rank cutoff ``k`` (ir_measures' ``AT_PARAM``), and so which names it has."""

    NONE = "none"  #: never: the name is ``NAME``
    OPTIONAL = "optional"  #: ``NAME`` over the full list, or ``NAME_at_<k>``
    REQUIRED = "required"  #: always: ``NAME_at_<k>``


#: Joins a measure's base name and its cutoff in a score key (``map_at_20``).
_AT = "_at_"
_POSITIVE_INT = re.compile(r"[1-9][0-9]*")


@dataclass(frozen=True)
class Measure:
    """A per-query retrieval measure. A subclass declares ``NAME`` and ``CUTOFF`` and writes ``per_query``;
    its score key :attr:`name` and :func:`parse_measure` come from those declarations."""

    NAME: ClassVar[str]
    CUTOFF: ClassVar[Cutoff]

    cutoff: int | None = None

    def __post_init__(self) -> None:
        """Validate the cutoff against ``CUTOFF`` and store it as a plain int (names and equality must not
        depend on its type)."""
        kind, cutoff, who = self.CUTOFF, self.cutoff, type(self).__name__
        if cutoff is None:
            if kind is Cutoff.REQUIRED:
                raise ValueError(f"{who} needs a cutoff (a positive int)")
            return
        if kind is Cutoff.NONE:
            raise ValueError(f"{who} takes no cutoff, got {cutoff!r}")
        if isinstance(cutoff, bool) or not isinstance(cutoff, int | np.integer) or cutoff < 1:
            raise ValueError(f"{who} cutoff must be a positive int, got {cutoff!r}")
        object.__setattr__(self, "cutoff", int(cutoff))  # frozen dataclass

    @property
    def name(self) -> str:
        """The MTEB score key: ``NAME``, or ``NAME_at_<cutoff>``."""
        return self.NAME if self.cutoff is None else f"{self.NAME}{_AT}{self.cutoff}"

    @classmethod
    def forms(cls) -> tuple[str, ...]:
        """The name patterns the measure answers to (for error messages)."""
        return {
            Cutoff.NONE: (cls.NAME,),
            Cutoff.OPTIONAL: (cls.NAME, f"{cls.NAME}{_AT}<k>"),
            Cutoff.REQUIRED: (f"{cls.NAME}{_AT}<k>",),
        }[cls.CUTOFF]

    def per_query(self, rr: RelevantRanks) -> np.ndarray:
        """float64 ``(n_queries,)``: the measure of every query."""
        raise NotImplementedError


def _ranks_within(rr: RelevantRanks, cutoff: int | None) -> np.ndarray:
    """Mask of the real relevant entries ranked at or above ``cutoff`` (all of them for None)."""
    mask = rr.valid()
    if cutoff is not None:
        mask &= rr.ranks <= cutoff
    return mask


@dataclass(frozen=True)
class AP(Measure):
    """Average precision (LAReQA / XTREME-R ``average_precision_at_k``).

    ``AP = (1/|R|) * sum over relevant at rank k of (#relevant in top k)/k``. With a cutoff only
    ranks <= k count and the sum is divided by ``min(|R|, k)``. trec_eval's ``map_cut_k`` divides by
    ``|R|`` instead; the two agree whenever ``|R| <= k``, which holds on XQuAD-R and MLQA-R (at most
    11 relevant) for k=20.
    """

    NAME: ClassVar[str] = "map"
    CUTOFF: ClassVar[Cutoff] = Cutoff.OPTIONAL

    def per_query(self, rr: RelevantRanks) -> np.ndarray:
        mask = _ranks_within(rr, self.cutoff)
        position = np.arange(1, rr.ranks.shape[1] + 1, dtype=np.float64)  # ranks are sorted per row
        precision = np.divide(position, rr.ranks, out=np.zeros(rr.ranks.shape), where=mask)
        denom = rr.n_relevant if self.cutoff is None else np.minimum(rr.n_relevant, self.cutoff)
        return precision.sum(axis=1) / denom


@dataclass(frozen=True)
class Recall(Measure):
    """``|relevant in top k| / |R|`` (so R@10 <= 10/11 with 11 relevant)."""

    NAME: ClassVar[str] = "recall"
    CUTOFF: ClassVar[Cutoff] = Cutoff.REQUIRED

    def per_query(self, rr: RelevantRanks) -> np.ndarray:
        return _ranks_within(rr, self.cutoff).sum(axis=1) / rr.n_relevant


@dataclass(frozen=True)
class NDCG(Measure):
    """nDCG@k with binary gains: ``sum 1/log2(rank+1)`` over relevant in the top k, over the ideal."""

    NAME: ClassVar[str] = "ndcg"
    CUTOFF: ClassVar[Cutoff] = Cutoff.REQUIRED

    def per_query(self, rr: RelevantRanks) -> np.ndarray:
        k = self.cutoff
        assert k is not None  # required: checked in __post_init__
        mask = _ranks_within(rr, k)
        gains = np.divide(1.0, np.log2(rr.ranks + 1.0), out=np.zeros(rr.ranks.shape), where=mask)
        ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64)))
        return gains.sum(axis=1) / ideal[np.minimum(rr.n_relevant, k) - 1]


@dataclass(frozen=True)
class RR(Measure):
    """Reciprocal rank of the first relevant candidate; 0 when it is ranked below the cutoff."""

    NAME: ClassVar[str] = "mrr"
    CUTOFF: ClassVar[Cutoff] = Cutoff.OPTIONAL

    def per_query(self, rr: RelevantRanks) -> np.ndarray:
        first = rr.ranks[:, 0].astype(np.float64)
        out = 1.0 / first
        if self.cutoff is not None:
            out[first > self.cutoff] = 0.0
        return out


@dataclass(frozen=True)
class RankDistance(Measure):
    """Max minus min rank of the relevant set: the language-bias metric (arXiv 2408.10536, after
    Huang et al. 2023); 0 when there is one relevant candidate. Lower is better."""

    NAME: ClassVar[str] = "rank_distance"
    CUTOFF: ClassVar[Cutoff] = Cutoff.NONE

    def per_query(self, rr: RelevantRanks) -> np.ndarray:
        last = rr.ranks[np.arange(rr.n_queries), rr.n_relevant - 1]
        return (last - rr.ranks[:, 0]).astype(np.float64)


#: Every measure :func:`parse_measure` knows, by base name.
MEASURES: dict[str, type[Measure]] = {cls.NAME: cls for cls in (AP, Recall, NDCG, RR, RankDistance)}
assert all(_AT not in n for n in MEASURES), "a base name must not contain the cutoff separator"

DEFAULT_MEASURES: tuple[Measure, ...] = (
    AP(),
    AP(20),
    Recall(1),
    Recall(10),
    NDCG(10),
    RR(),
    RR(10),
    RankDistance(),
)


def evaluate_ranks(rr: RelevantRanks, measures: Sequence[Measure] = DEFAULT_MEASURES) -> dict[str, float]:
    """Mean over queries of each measure, keyed by ``measure.name``."""
    if rr.n_queries == 0:
        raise ValueError("cannot average measures over zero queries")
    names = [m.name for m in measures]
    if len(set(names)) != len(names):
        raise ValueError(f"measures have duplicate names: {names}")
    return {m.name: float(np.mean(m.per_query(rr))) for m in measures}


def parse_measure(name: str) -> Measure:
    """The measure whose ``name`` is ``name`` (e.g. ``"map_at_20"`` -> ``AP(20)``), from the declarations."""
    base, at, cutoff = name.partition(_AT)
    cls = MEASURES.get(base)
    if cls is not None:
        if not at and cls.CUTOFF is not Cutoff.REQUIRED:
            return cls()
        if at and cls.CUTOFF is not Cutoff.NONE and _POSITIVE_INT.fullmatch(cutoff):
            return cls(int(cutoff))
    forms = ", ".join(form for c in MEASURES.values() for form in c.forms())
    raise ValueError(f"unknown measure {name!r}; valid forms: {forms} (k >= 1)")
