"""What a local model directory *is*: a content hash of its files, used as the model's revision.

A local sentence-transformers directory has no hub revision, and its folder name says nothing about its
weights (every training run's model lives in ``runs/*/model``). Results are stored per model name and
revision, so two different models in folders of the same name would share results; keyed by this
fingerprint they never do, and the folder name stays the readable label.

Hashing reads every file once; the per-file digests are cached on disk keyed by path, size, mtime and
inode, so re-fingerprinting an unchanged 500 MB model costs a few ``stat`` calls.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from hbt_bench.atomic import write_text_atomic
from hbt_bench.errors import HbtBenchError
from hbt_bench.resources import cache_dir

__all__ = ["directory_fingerprint", "fingerprint_cache_path"]

_CACHE_NAME = "file-digests.json"
_CACHE_FORMAT = 1
#: Documentation, not the model: a model card edit must not make a new model.
_IGNORED_SUFFIXES = (".md",)
_CHUNK = 1 << 20


def fingerprint_cache_path() -> Path:
    """``file-digests.json`` in the package's cache (:func:`hbt_bench.resources.cache_dir`)."""
    return cache_dir() / _CACHE_NAME


def _model_files(root: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, file)`` of every file that defines the model, sorted; hidden files and
    folders (``.git``, ``.cache``) and ``*.md`` are skipped. File symlinks are followed (the hub cache's
    snapshot folders are links to blobs)."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in files:
            if name.startswith(".") or name.lower().endswith(_IGNORED_SUFFIXES):
                continue
            path = Path(folder) / name
            if path.is_file():
                out.append((path.relative_to(root).as_posix(), path))
    return sorted(out)


def _load_cache(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or damaged: a cache, rebuilt as needed
    if (
        not isinstance(data, dict)
        or data.get("format") != _CACHE_FORMAT
        or not isinstance(data.get("files"), dict)
    ):
        return {}
    return data["files"]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def directory_fingerprint(path: str | os.PathLike[str]) -> str:
    """``sha256-<16 hex>`` over the relative paths and contents of the model files under ``path``.

    Equal for byte-identical copies in different folders; different as soon as one weight, config or
    tokenizer file differs.
    """
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise HbtBenchError(f"model directory {str(path)!r} is not an existing directory")
    files = _model_files(root)
    if not files:
        raise HbtBenchError(f"model directory {str(path)!r} holds no model files")
    cache_path = fingerprint_cache_path()
    cache = _load_cache(cache_path)
    changed = False
    total = hashlib.sha256()
    for rel, file in files:
        real = file.resolve()
        st = real.stat()
        key = str(real)
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = cache.get(key)
        if isinstance(entry, dict) and entry.get("stat") == stamp and isinstance(entry.get("sha256"), str):
            digest = entry["sha256"]
        else:
            digest = _file_digest(real)
            cache[key] = {"stat": stamp, "sha256": digest}
            changed = True
        total.update(f"{rel}\0{digest}\n".encode())
    if changed:
        cache = {k: v for k, v in cache.items() if os.path.exists(k)}  # forget deleted models
        # Best effort: a read-only home only costs re-hashing next time.
        with contextlib.suppress(OSError):
            write_text_atomic(
                cache_path, json.dumps({"format": _CACHE_FORMAT, "files": cache}, sort_keys=True)
            )
    return f"sha256-{total.hexdigest()[:16]}"
