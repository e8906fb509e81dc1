"""A passage collection as a re-iterable stream of ``(id, text)``, checked in one streaming pass.

A store is resumable only if a second run sees the same passages in the same order, so a corpus is read
twice: :meth:`Corpus.scan` counts it, fingerprints it (sha256 over every id and text, independent of
JSON formatting) and refuses an empty corpus or a duplicate id *before* anything is encoded; the shards
then come from a second pass. Memory: the scan keeps 8 bytes per passage (a digest of its id, for the
duplicate check), never the texts; a shard holds ``shard_size`` texts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hbt_bench.jsonl import iter_jsonl
from hbt_bench.scale.errors import CorpusError

__all__ = ["Corpus", "CorpusInfo"]


@dataclass(frozen=True)
class CorpusInfo:
    """What a scan found: the passage count and the content fingerprint (``sha256-<hex>``)."""

    n_passages: int
    fingerprint: str


def _id_digest(pid: str) -> int:
    return int.from_bytes(hashlib.blake2b(pid.encode("utf-8"), digest_size=8).digest(), "little")


class Corpus:
    """``{"id", "text"}`` records from a JSONL file or an in-memory re-iterable (a list of dicts).

    ``id`` must be a non-empty string and ``text`` a string; other fields are ignored. A one-shot
    iterator (a generator) is refused: the scan and the encoding each need a pass.
    """

    def __init__(self, source: str | Path | Iterable[Mapping[str, Any]], *, name: str | None = None):
        if isinstance(source, (str, Path)):
            path = Path(source)
            if not path.is_file():
                raise CorpusError(f"corpus {str(source)!r}: no such file")
            self._path: Path | None = path
            self._records: Iterable[Mapping[str, Any]] | None = None
            self.name = name or str(path)
        else:
            if iter(source) is source:
                raise CorpusError(
                    "corpus: a one-shot iterator cannot be scanned and then encoded; pass a JSONL file, a "
                    "list, or an object whose __iter__ starts over"
                )
            self._path = None
            self._records = source
            self.name = name or "corpus"

    def _raw(self) -> Iterator[tuple[str, Any]]:
        if self._path is not None:
            yield from iter_jsonl(self._path, CorpusError, "corpus")
        else:
            assert self._records is not None
            for number, value in enumerate(self._records, start=1):
                yield f"{self.name}, record {number}", value

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """``(id, text)`` of every record, in order; a malformed record raises naming its line."""
        for where, value in self._raw():
            if not isinstance(value, Mapping):
                raise CorpusError(
                    f"{where}: expected an object with 'id' and 'text', got {type(value).__name__}"
                )
            pid, text = value.get("id"), value.get("text")
            if not isinstance(pid, str) or not pid:
                raise CorpusError(f"{where}: field 'id' must be a non-empty string, got {pid!r}")
            if not isinstance(text, str):
                raise CorpusError(f"{where}: field 'text' of passage {pid!r} must be a string")
            yield pid, text

    def scan(self) -> CorpusInfo:
        """One pass: count, fingerprint; refuse an empty corpus or a repeated id (naming both records)."""
        total = hashlib.sha256()
        digests = np.empty(1 << 16, dtype=np.uint64)
        n = 0
        for pid, text in self:
            pb, tb = pid.encode("utf-8"), text.encode("utf-8")
            total.update(b"%d:%b%d:%b" % (len(pb), pb, len(tb), tb))
            if n == digests.size:
                digests = np.resize(digests, digests.size * 2)
            digests[n] = _id_digest(pid)
            n += 1
        if n == 0:
            raise CorpusError(f"corpus {self.name!r} holds no passages")
        digests = np.sort(digests[:n])
        clash = digests[1:][digests[1:] == digests[:-1]]
        if clash.size:
            self._name_duplicate(set(clash.tolist()))
        return CorpusInfo(n_passages=n, fingerprint=f"sha256-{total.hexdigest()}")

    def _name_duplicate(self, suspects: set[int]) -> None:
        """Second pass over the ids whose 8-byte digests collide: raise on a real duplicate."""
        seen: dict[str, int] = {}
        for number, (pid, _) in enumerate(self, start=1):
            if _id_digest(pid) in suspects:
                if pid in seen:
                    raise CorpusError(
                        f"corpus {self.name!r}: passage id {pid!r} appears twice (records {seen[pid]} and "
                        f"{number}); ids must be unique"
                    )
                seen[pid] = number
        # Only a digest collision of distinct ids: nothing wrong.

    def shards(self, shard_size: int) -> Iterator[tuple[int, list[str], list[str]]]:
        """``(shard index, ids, texts)`` of consecutive blocks of ``shard_size`` passages."""
        ids: list[str] = []
        texts: list[str] = []
        index = 0
        for pid, text in self:
            ids.append(pid)
            texts.append(text)
            if len(ids) == shard_size:
                yield index, ids, texts
                index += 1
                ids, texts = [], []
        if ids:
            yield index, ids, texts
