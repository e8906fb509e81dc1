"""Pinned data sources for the LAReQA datasets and how to get a verified local copy of each file.

Every file is pinned by a commit-addressed URL *and* a sha256, so a benchmark number always refers to
the same bytes. A file is taken, in this order, from an explicit ``data_dir`` argument, from the
directory in ``HBT_BENCH_DATA_DIR``, or from a download cache (``HBT_BENCH_CACHE_DIR``, default
``pooch.os_cache("hbt-bench")``). Local copies are checked against the pinned hash as well: a stale or
edited file must not silently change results.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from hbt_bench.errors import DataSourceError
from hbt_bench.resources import CACHE_DIR_ENV, cache_dir

__all__ = [
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "SOURCES",
    "DatasetSource",
    "PinnedFile",
    "cache_dir",
    "file_sha256",
    "get_source",
    "resolve_file",
    "verify_sha256",
]

DATA_DIR_ENV = "HBT_BENCH_DATA_DIR"

_CHUNK = 1 << 20  # 1 MiB: bounded memory for hashing, few syscalls


@dataclass(frozen=True)
class PinnedFile:
    """One data file: where it sits in a data dir, where to download it, and its expected sha256."""

    relpath: str
    url: str
    sha256: str


@dataclass(frozen=True)
class DatasetSource:
    """A dataset's files, one per language, plus the facts needed to decide how it may be used."""

    name: str
    languages: tuple[str, ...]
    files: Mapping[str, PinnedFile] = field(hash=False)
    license: str
    homepage: str
    may_bundle: bool  # False: the license forbids shipping the files inside our wheel

    def file(self, lang: str) -> PinnedFile:
        """The pinned file of ``lang``; a clear error lists the valid languages otherwise."""
        try:
            return self.files[lang]
        except KeyError:
            raise DataSourceError(
                f"Unknown language {lang!r} for dataset {self.name!r}; "
                f"valid languages: {', '.join(self.languages)}."
            ) from None


_LAREQA_HOMEPAGE = "https://github.com/google-research-datasets/lareqa"
_LAREQA_RAW = "https://raw.githubusercontent.com/google-research-datasets/lareqa/{commit}/{relpath}"

# XQuAD-R lives at the lareqa repo's HEAD.
_XQUAD_R_COMMIT = "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c"
_XQUAD_R_SHA256 = {
    "ar": "c52922d3b8ac1ae03ed5ac38647ad59870dca3dda2beefe18ecdc30729acb69d",
    "de": "16fb0f4bf4916154b585a20c24c66074591c9718a1affe764ff4697572328949",
    "el": "163fd43ee785a30eb534ae2061e9eaa766a7ee4e8ffce5e4b422480c150f64b6",
    "en": "7b0954f39297c27a31fef610f0883337dd2907fa8699151dc922afdd0fa12ffe",
    "es": "f8e836b2d91009c4363e04315f7ede363eedbbb49c67dda60de6c4aa782f58de",
    "hi": "ea45ba8ae4513d1533b222bebdc02a90bc319c055d3aeea68584a053d2e92872",
    "ru": "7f4dff853538b9a5fcc28c070b8bb983a5c5d190ac747b8e005a1ada9cab18f1",
    "th": "c3a041864c3a9fb0b4dd91cfdf99cf36b411b3e704c58a303c97bc6dc786cfe4",
    "tr": "f3e8c13002bbce154a4578f535f7533cb70f3da08840e6b62735935baec7bd94",
    "vi": "e35926bf5cc6fc6ecbdfca49467aabeb454f08d152d7818143a906bd31dde995",
    "zh": "80c2cde7b9c2fb134c303cbb52f2ba396ead9eb0014aec43993543d2ba9e93ed",
}

# MLQA-R was removed from the lareqa repo (commit b91469b); this is the last commit that has it.
_MLQA_R_COMMIT = "354d67d1cd066854cdfbf5ad0e6105528976141d"
_MLQA_R_SHA256 = {
    "ar": "2132fbc03208535c0fe01f2e2c5121d06f9c2aa799af93b0a719dbc105bdf137",
    "de": "ce9454dc5aa6f2d85c23cd6e49cb367fbb7c4c6e62d7f71e355c6b5dae4d0886",
    "en": "fedd9a5cc0848dda80caf84aa36f482adaae230526a3f6e9e86926a93ef3b1e4",
    "es": "70ecba276b8c96a692b120693a595d076ce94ad21d4b28311538a9fcbfe0f9d7",
    "hi": "4dd0fb3c06f737a5481d705bc1dcac7876712a5815c9265908fbb3a0696cb654",
    "vi": "9d3baff6ba03e6793b25594217265ea59a136b9733833dca8a9582a84a78ff85",
    "zh": "57f01d2fff50cf3392805635b01445339f225ad5bf28ba8443b12f8dbd1e69dc",
}


def _lareqa_source(
    name: str, commit: str, hashes: dict[str, str], license: str, may_bundle: bool
) -> DatasetSource:
    files = {
        lang: PinnedFile(
            relpath=f"{name}/{lang}.json",
            url=_LAREQA_RAW.format(commit=commit, relpath=f"{name}/{lang}.json"),
            sha256=sha,
        )
        for lang, sha in hashes.items()
    }
    return DatasetSource(
        name=name,
        languages=tuple(hashes),
        files=MappingProxyType(files),
        license=license,
        homepage=_LAREQA_HOMEPAGE,
        may_bundle=may_bundle,
    )


SOURCES: dict[str, DatasetSource] = {
    "xquad-r": _lareqa_source("xquad-r", _XQUAD_R_COMMIT, _XQUAD_R_SHA256, "cc-by-sa-4.0", True),
    # CC BY-NC 4.0 at the pinned commit, and withdrawn by its authors: download only, never ship.
    "mlqa-r": _lareqa_source("mlqa-r", _MLQA_R_COMMIT, _MLQA_R_SHA256, "cc-by-nc-4.0", False),
}


def get_source(dataset: str) -> DatasetSource:
    """The :class:`DatasetSource` called ``dataset``; a clear error lists the valid names otherwise."""
    try:
        return SOURCES[dataset]
    except (KeyError, TypeError):
        raise DataSourceError(f"Unknown dataset {dataset!r}; valid datasets: {', '.join(SOURCES)}.") from None


# (resolved path, mtime_ns, size) -> sha256 hex digest. Hashing 3 MB files on every load adds up in
# test suites and sweeps; a changed file gets a new mtime/size and is hashed again.
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """The sha256 of ``path`` (hex), hashed in 1 MiB chunks and memoised per (path, mtime, size)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    digest = _HASH_CACHE.get(key)
    if digest is None:
        h = hashlib.sha256()
        with p.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        digest = h.hexdigest()
        _HASH_CACHE[key] = digest
    return digest


def verify_sha256(
    path: str | Path,
    expected: str,
    *,
    label: str = "",
    origin: str = "",
    url: str = "",
    downloaded: bool = False,
) -> None:
    """Raise :class:`DataSourceError` unless ``path`` hashes to ``expected``.

    ``label`` (e.g. ``"xquad-r/ar"``) and ``origin`` (where the file was taken from) go into the
    message so the user knows which file is meant. The advice depends on where the file lives: a
    ``downloaded`` file (the download cache) is fetched again once deleted; a file the user supplied
    (a data dir) never is, so the advice there is to put the original in its place (from ``url``).
    """
    p = Path(path)
    what = f"{label} " if label else ""
    try:
        actual = file_sha256(p)
    except OSError as exc:
        raise DataSourceError(f"Cannot read {what}data file {str(p)!r}: {exc}") from exc
    if actual != expected.lower():
        if downloaded:
            advice = "delete it to have it downloaded again"
        else:
            where = f", from {url}" if url else ""
            advice = f"replace it with the original file (sha256 {expected.lower()}{where})"
        source = f" (taken from {origin})" if origin else ""
        raise DataSourceError(
            f"Checksum mismatch for {what}data file {str(p)!r}{source}: expected sha256 {expected}, "
            f"got {actual}. The file is corrupt or a different version; {advice}."
        )


def resolve_file(dataset: str, lang: str, data_dir: str | Path | None = None) -> Path:
    """A local, checksum-verified path to ``dataset``'s file for ``lang``.

    Order: the explicit ``data_dir``, else ``HBT_BENCH_DATA_DIR``, else the download cache. A data dir
    is laid out like ``<dir>/xquad-r/ar.json``; when one is given, a missing file is an error rather
    than a silent download, so offline runs fail loudly and reproducibly.
    """
    source = get_source(dataset)
    pinned = source.file(lang)
    label = f"{dataset}/{lang}"

    if data_dir is None:
        env = os.environ.get(DATA_DIR_ENV)
        if env:
            data_dir = env
            origin = f"the directory in {DATA_DIR_ENV}"
        else:
            return _download(source, pinned, lang)
    else:
        origin = "the data_dir argument"

    root = Path(data_dir).expanduser()
    path = root / pinned.relpath
    if not path.is_file():
        hint = "" if root.is_dir() else f" (the directory {str(root)!r} itself does not exist)"
        raise DataSourceError(
            f"Data file for {label} not found: expected {str(path)!r} under {origin}{hint}. "
            f"Put the pinned file there (from {pinned.url}), or unset {DATA_DIR_ENV} and pass no "
            f"data_dir to have it downloaded."
        )
    verify_sha256(path, pinned.sha256, label=label, origin=origin, url=pinned.url)
    return path


def _download(source: DatasetSource, pinned: PinnedFile, lang: str) -> Path:
    """Fetch ``pinned`` into the cache (laid out like a data dir) and return its path.

    pooch streams into a temporary file next to the target and moves it into place only after the
    hash matched; the temporary file is removed on any failure, so the cache never holds a partial
    or unverified file under the real name.
    """
    label = f"{source.name}/{lang}"
    root = cache_dir()
    target = root / pinned.relpath
    # Fast path: a cached copy we (or an earlier process) already fetched; the memoised hash makes
    # repeated loads free, whereas pooch would re-hash the file on every call.
    if target.is_file():
        try:
            verify_sha256(target, pinned.sha256, label=label, downloaded=True)
            return target
        except DataSourceError:
            pass  # stale or corrupt: let pooch replace it

    try:
        import pooch
    except ImportError as exc:  # pragma: no cover - pooch is a hard dependency
        raise DataSourceError(
            f"Cannot download {label} from {pinned.url}: the 'pooch' package is not installed. "
            f"Install it, or set {DATA_DIR_ENV} to a directory holding {pinned.relpath}."
        ) from exc
    try:
        fetched = pooch.retrieve(
            pinned.url,
            known_hash=f"sha256:{pinned.sha256}",
            path=root,
            fname=pinned.relpath,
            progressbar=True,  # a long first step on a slow line: show it (tqdm)
        )
    except Exception as exc:  # network, HTTP status, hash mismatch, disk: all mean "no usable file"
        raise DataSourceError(
            f"Downloading {label} from {pinned.url} into {str(root)!r} failed: "
            f"{type(exc).__name__}: {exc}. If you are offline, download the file yourself and set "
            f"{DATA_DIR_ENV} to a directory holding {pinned.relpath} (or set {CACHE_DIR_ENV} to a "
            f"writable cache directory)."
        ) from exc
    return Path(fetched)
