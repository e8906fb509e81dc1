"""Sharded, resumable corpus embeddings on disk: a folder of float32 ``.npy`` shards and a manifest.

Layout of a store folder::

    manifest.json              model name + revision (+ the spec it was loaded from), document prompt,
                               normalisation, dim, shard size, corpus fingerprint and size, and per finished
                               shard its files and their sha256
    shard-00000.npy            (count, dim) float32, rows in corpus order
    shard-00000.ids.json       the ids of those rows, as a JSON list
    .hbt-bench-store.lock      held while a run writes

Why not mteb's ``CachedEmbeddingWrapper``: it keys embeddings by text (a hash of each text in one growing
vector file), which is the right cache for re-runs of tasks, but it has no notion of corpus position: it
cannot say which part of a 30M-passage collection is done, split the work into units that separate
processes or machines can finish independently, or hand a FAISS index its vectors shard by shard. This
store is the same idea (embeddings persisted as they are made, nothing recomputed on a re-run) keyed by
corpus position instead: shard ``k`` holds passages ``k * shard_size .. (k + 1) * shard_size - 1``.

Crash safety: a shard's two files are written with :func:`hbt_bench.atomic.atomic_writer` (whole or
absent) and only then recorded in the manifest, itself replaced atomically; the manifest is the commit
point, so a shard whose run was killed before it was recorded never counts, and a re-run writes it again.
A re-run verifies the recorded shards' sha256 and skips them (a damaged one is re-encoded). A run with
another model, revision, prompt, normalisation, shard size or corpus into the same folder is refused with
an error naming the folder and the field. Memory: one shard of texts and embeddings at a time.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hbt_bench.atomic import atomic_writer, write_text_atomic
from hbt_bench.encoders import validate_embeddings
from hbt_bench.paths import safe_component
from hbt_bench.scale.corpus import Corpus, CorpusInfo
from hbt_bench.scale.errors import ScaleError, StoreMismatchError

__all__ = [
    "MANIFEST",
    "EncodeReport",
    "ShardEncoder",
    "Store",
    "encode_corpus",
    "normalize_rows",
]

MANIFEST = "manifest.json"
LOCK = ".hbt-bench-store.lock"
FORMAT = 1
KIND = "hbt-bench embedding store"
#: Fields a resumed run must share with the stored manifest (dim is checked once a shard is encoded).
CONFIG_FIELDS = ("format", "model", "revision", "prompt", "normalize", "dtype", "shard_size")
_STALE = re.compile(r"\.(shard-\d+\.(npy|ids\.json)|manifest\.json)\.hbt-new-\d+-\w+")
_HASH_CHUNK = 1 << 22


class ShardEncoder(Protocol):
    """What the store needs of an encoding backend (see :mod:`hbt_bench.scale.backends`)."""

    model_name: str
    revision: str
    spec: str | None
    prompt: str

    def encode(self, texts: list[str]) -> np.ndarray:
        """Document embeddings of ``texts`` (the prompt is the backend's business), one row per text."""
        ...


def normalize_rows(emb: np.ndarray) -> np.ndarray:
    """L2-normalise rows in place (float32; a zero row stays zero), so every backend normalises alike."""
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    np.divide(emb, norms, out=emb, where=norms > 0)
    return emb


class _HashingWriter:
    """A file wrapper that hashes what passes through (``np.save`` then streams in chunks, no copy)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.handle.write(data)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class EncodeReport:
    """What one :func:`encode_corpus` call did (shard indices)."""

    store: Path
    n_passages: int
    n_shards: int
    dim: int
    encoded: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    repaired: list[int] = field(default_factory=list)
    seconds: float = 0.0


class Store:
    """A finished (or partly finished) store folder, read shard by shard."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        if not path.is_file():
            raise ScaleError(
                f"store {str(folder)!r}: no {MANIFEST} (not an embedding store, or never started)"
            )
        try:
            self.manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ScaleError(f"{path}: not a readable manifest ({exc})") from exc
        if self.manifest.get("kind") != KIND or self.manifest.get("format") != FORMAT:
            raise ScaleError(f"{path}: not a format-{FORMAT} {KIND} manifest")
        for shard in self.manifest.get("shards", []):
            for key in ("embeddings", "ids"):  # file names read back from disk: never a path outside
                safe_component(shard.get(key), f"{path}: shard {shard.get('index')} field {key!r}")
        self._ids_cache: tuple[int, list[str]] | None = None

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def n_passages(self) -> int:
        return int(self.manifest["corpus"]["n_passages"])

    @property
    def shard_size(self) -> int:
        return int(self.manifest["shard_size"])

    def shards(self) -> list[dict[str, Any]]:
        return sorted(self.manifest["shards"], key=lambda s: s["index"])

    def require_complete(self) -> None:
        if not self.complete:
            done, total = len(self.manifest["shards"]), self.manifest["n_shards"]
            raise ScaleError(
                f"store {str(self.folder)!r} is incomplete ({done} of {total} shards): run 'hbt-bench scale "
                "encode' again with the same arguments to finish it"
            )

    def iter_embeddings(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(first corpus position, (count, dim) float32)`` per shard in order, one in memory at a time."""
        self.require_complete()
        for shard in self.shards():
            emb = np.load(self.folder / shard["embeddings"], allow_pickle=False)
            if emb.shape != (shard["count"], self.dim) or emb.dtype != np.float32:
                raise ScaleError(
                    f"{self.folder / shard['embeddings']}: shape {emb.shape} {emb.dtype} "
                    f"does not match the manifest ({shard['count']}, {self.dim}) float32"
                )
            yield int(shard["start"]), emb

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Embeddings at corpus ``positions`` (a sample for IVF training), reading one shard at a time."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((positions.size, self.dim), dtype=np.float32)
        for start, emb in self.iter_embeddings():
            hit = (positions >= start) & (positions < start + emb.shape[0])
            if hit.any():
                out[hit] = emb[positions[hit] - start]
        return out

    def ids_at(self, positions: np.ndarray) -> list[str]:
        """Passage ids at corpus ``positions``, loading only the shards' id lists that are needed."""
        positions = np.asarray(positions, dtype=np.int64).ravel()
        out: list[str] = [""] * positions.size
        size = self.shard_size
        by_shard: dict[int, list[int]] = {}
        for i, p in enumerate(positions.tolist()):
            if not 0 <= p < self.n_passages:
                raise ScaleError(f"store {str(self.folder)!r}: position {p} outside 0..{self.n_passages - 1}")
            by_shard.setdefault(p // size, []).append(i)
        shards = {s["index"]: s for s in self.shards()}
        for k, members in sorted(by_shard.items()):
            if self._ids_cache is None or self._ids_cache[0] != k:
                ids = json.loads((self.folder / shards[k]["ids"]).read_text(encoding="utf-8"))
                self._ids_cache = (k, ids)
            ids = self._ids_cache[1]
            for i in members:
                out[i] = ids[int(positions[i]) - k * size]
        return out


def _config(encoder: ShardEncoder, normalize: bool, shard_size: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "model": encoder.model_name,
        "revision": encoder.revision,
        "prompt": encoder.prompt,
        "normalize": bool(normalize),
        "dtype": "float32",
        "shard_size": int(shard_size),
    }


def _check_same(folder: Path, stored: dict[str, Any], config: dict[str, Any], info: CorpusInfo) -> None:
    """Refuse to resume a store made differently, naming the folder and the first field that differs."""
    wanted = {**config, "corpus.fingerprint": info.fingerprint, "corpus.n_passages": info.n_passages}
    have = {
        **{k: stored.get(k) for k in CONFIG_FIELDS},
        "corpus.fingerprint": stored.get("corpus", {}).get("fingerprint"),
        "corpus.n_passages": stored.get("corpus", {}).get("n_passages"),
    }
    for key, value in wanted.items():
        if have[key] != value:
            raise StoreMismatchError(
                f"store {str(folder)!r} was written with {key} = {have[key]!r}, this run has {value!r}: "
                "refusing to mix them; use another --out folder (or delete this one to start over)"
            )


def _verified(folder: Path, shard: dict[str, Any]) -> bool:
    for key in ("embeddings", "ids"):
        path = folder / shard[key]
        if not path.is_file() or _file_sha256(path) != shard[f"{key}_sha256"]:
            return False
    return True


def _write_shard(folder: Path, index: int, ids: list[str], emb: np.ndarray, start: int) -> dict[str, Any]:
    name = f"shard-{index:05d}"
    with atomic_writer(folder / f"{name}.npy", "wb") as handle:
        hashing = _HashingWriter(handle)
        np.save(hashing, emb, allow_pickle=False)  # type: ignore[arg-type]
    ids_bytes = json.dumps(ids, ensure_ascii=False).encode("utf-8")
    with atomic_writer(folder / f"{name}.ids.json", "wb") as handle:
        handle.write(ids_bytes)
    return {
        "index": index,
        "start": start,
        "count": len(ids),
        "embeddings": f"{name}.npy",
        "embeddings_sha256": hashing.sha256.hexdigest(),
        "ids": f"{name}.ids.json",
        "ids_sha256": hashlib.sha256(ids_bytes).hexdigest(),
    }


def _save_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    manifest["shards"] = sorted(manifest["shards"], key=lambda s: s["index"])
    write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


def _remove_stale(folder: Path) -> None:
    """Staged files of a killed writer (we hold the lock, so no live writer owns them)."""
    for path in folder.iterdir():
        if _STALE.fullmatch(path.name) and path.is_file():
            path.unlink(missing_ok=True)


def encode_corpus(
    corpus: Corpus,
    out: str | Path,
    encoder: ShardEncoder,
    *,
    shard_size: int = 100_000,
    normalize: bool = True,
    progress: Callable[[str], None] | None = None,
) -> EncodeReport:
    """Encode ``corpus`` into the store folder ``out``, resuming what a previous run finished.

    The corpus is scanned first (count, fingerprint, duplicate ids: nothing is written for a bad corpus),
    then each missing shard is encoded with ``encoder`` (one call per shard), checked
    (:func:`~hbt_bench.encoders.validate_embeddings`: rows, NaN, dims), normalised if asked, written and
    recorded. Shards already recorded and intact are skipped without calling the encoder.
    """
    from filelock import FileLock, Timeout

    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ScaleError(f"--shard-size must be a positive integer, got {shard_size!r}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ScaleError(f"--out {str(out)!r} exists and is not a folder")
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    info = corpus.scan()
    config = _config(encoder, normalize, shard_size)
    n_shards = math.ceil(info.n_passages / shard_size)
    manifest_path = folder / MANIFEST
    foreign = (
        [p for p in folder.iterdir() if p.name != LOCK and not _STALE.fullmatch(p.name)]
        if folder.is_dir()
        else []
    )
    if foreign and not manifest_path.is_file():
        raise ScaleError(
            f"--out {str(out)!r} is a non-empty folder without a {MANIFEST}: not an embedding store; "
            "choose an empty or new folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(folder / LOCK, timeout=0)
        lock.acquire()
    except Timeout:
        raise ScaleError(f"store {str(out)!r} is being written by another run (lock {LOCK})") from None
    try:
        _remove_stale(folder)
        if manifest_path.is_file():
            manifest = Store(folder).manifest
            _check_same(folder, manifest, config, info)
        else:
            manifest = {
                "kind": KIND,
                **config,
                "spec": encoder.spec,
                "dim": None,
                "corpus": {
                    "fingerprint": info.fingerprint,
                    "n_passages": info.n_passages,
                    "name": corpus.name,
                },
                "n_shards": n_shards,
                "shards": [],
                "complete": False,
            }
        done = {s["index"]: s for s in manifest["shards"]}
        report = EncodeReport(folder, info.n_passages, n_shards, manifest.get("dim") or 0)
        for index, ids, texts in corpus.shards(shard_size):
            if index in done:
                if _verified(folder, done[index]):
                    report.skipped.append(index)
                    continue
                say(f"shard {index}: files do not match the manifest's sha256, encoding it again")
                report.repaired.append(index)
                manifest["shards"] = [s for s in manifest["shards"] if s["index"] != index]
            emb = validate_embeddings(encoder.encode(texts), len(texts), model_name=encoder.model_name)
            emb = np.ascontiguousarray(emb, dtype=np.float32)
            if manifest["dim"] is None:
                manifest["dim"] = int(emb.shape[1])
            elif emb.shape[1] != manifest["dim"]:
                raise StoreMismatchError(
                    f"store {str(folder)!r} was written with dim = {manifest['dim']}, model "
                    f"{encoder.model_name!r} returned {emb.shape[1]} dimensions for shard {index}"
                )
            if normalize:
                normalize_rows(emb)
            manifest["shards"].append(_write_shard(folder, index, ids, emb, index * shard_size))
            _save_manifest(folder, manifest)
            report.encoded.append(index)
            say(f"shard {index + 1}/{n_shards}: {len(ids)} passages encoded")
            del emb, ids, texts
        manifest["complete"] = len(manifest["shards"]) == n_shards
        _save_manifest(folder, manifest)
        report.dim = int(manifest["dim"])
    finally:
        lock.release()
    report.seconds = time.perf_counter() - t0
    return report
