"""Tests of the pinned sources and of resolve_file: data dirs, checksums, downloads (simulated, offline)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from pathlib import Path

import pooch
import pooch.core
import pytest
import requests

from hbt_bench.data import sources
from hbt_bench.data.sources import (
    CACHE_DIR_ENV,
    DATA_DIR_ENV,
    SOURCES,
    DatasetSource,
    PinnedFile,
    file_sha256,
    get_source,
    resolve_file,
    verify_sha256,
)
from hbt_bench.errors import DataSourceError

XQUAD_R_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MLQA_R_LANGS = ("ar", "de", "en", "es", "hi", "vi", "zh")


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Run without the user's HBT_BENCH_* settings, so tests do not depend on the caller's shell."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    return monkeypatch


def _copy_into(data_dir: Path, shared_data: Path, relpath: str) -> Path:
    dst = data_dir / relpath
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_data / relpath, dst)
    return dst


# --- the declarative table ---------------------------------------------------------------------------


def test_sources_table() -> None:
    assert set(SOURCES) == {"xquad-r", "mlqa-r"}
    xq, ml = SOURCES["xquad-r"], SOURCES["mlqa-r"]
    assert xq.languages == XQUAD_R_LANGS
    assert ml.languages == MLQA_R_LANGS
    assert (xq.license, xq.may_bundle) == ("cc-by-sa-4.0", True)
    assert (ml.license, ml.may_bundle) == ("cc-by-nc-4.0", False)
    for src, commit in (
        (xq, "9bc8c7fb6dd8d01d72a05a93c2cb96882b0d299c"),
        (ml, "354d67d1cd066854cdfbf5ad0e6105528976141d"),
    ):
        assert src.name in SOURCES and SOURCES[src.name] is src
        assert tuple(src.files) == src.languages
        for lang, pf in src.files.items():
            assert pf.relpath == f"{src.name}/{lang}.json"
            assert pf.url == (
                f"https://raw.githubusercontent.com/google-research-datasets/lareqa/{commit}/{src.name}/{lang}.json"
            )
            assert len(pf.sha256) == 64 and int(pf.sha256, 16) >= 0


def test_sources_are_immutable() -> None:
    src = SOURCES["xquad-r"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        src.license = "mit"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        src.files["en"].sha256 = "0" * 64  # type: ignore[misc]
    with pytest.raises(TypeError):
        src.files["xx"] = src.files["en"]  # type: ignore[index]
    assert isinstance(hash(src), int)  # usable as a dict key despite the mapping field


def test_pinned_hashes_match_shared_sha256sums(shared_data: Path) -> None:
    """The hard-coded hashes are the ones published next to the data (and those hash the real files)."""
    sums = {}
    for line in (shared_data / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.removeprefix("./")] = digest
    checked = 0
    for src in SOURCES.values():
        for pf in src.files.values():
            assert sums[pf.relpath] == pf.sha256, pf.relpath
            checked += 1
    assert checked == 18
    assert file_sha256(shared_data / "xquad-r/en.json") == SOURCES["xquad-r"].files["en"].sha256


def test_get_source_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(DataSourceError) as ei:
        get_source("xquad")
    msg = str(ei.value)
    assert "'xquad'" in msg and "xquad-r" in msg and "mlqa-r" in msg


# --- data dirs ---------------------------------------------------------------------------------------


def test_resolve_from_explicit_data_dir(shared_data: Path, no_env: pytest.MonkeyPatch) -> None:
    for dataset, lang in (("xquad-r", "th"), ("mlqa-r", "hi")):
        path = resolve_file(dataset, lang, data_dir=shared_data)
        assert path == shared_data / dataset / f"{lang}.json"
        assert path.is_file()
    assert resolve_file("xquad-r", "en", data_dir=str(shared_data)) == shared_data / "xquad-r/en.json"


def test_resolve_from_env_data_dir(shared_data: Path, no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv(DATA_DIR_ENV, str(shared_data))
    assert resolve_file("xquad-r", "de") == shared_data / "xquad-r/de.json"


def test_explicit_data_dir_beats_env(shared_data: Path, tmp_path: Path, no_env: pytest.MonkeyPatch) -> None:
    no_env.setenv(DATA_DIR_ENV, str(tmp_path))  # empty dir: would fail if it were used
    assert resolve_file("xquad-r", "en", data_dir=shared_data) == shared_data / "xquad-r/en.json"
    no_env.setenv(DATA_DIR_ENV, str(shared_data))
    with pytest.raises(DataSourceError, match="not found"):
        resolve_file("xquad-r", "en", data_dir=tmp_path)


def test_unknown_dataset_and_language(shared_data: Path) -> None:
    with pytest.raises(DataSourceError) as ei:
        resolve_file("squad", "en", data_dir=shared_data)
    assert "'squad'" in str(ei.value) and "xquad-r, mlqa-r" in str(ei.value)

    with pytest.raises(DataSourceError) as ei:
        resolve_file("mlqa-r", "el", data_dir=shared_data)  # el is XQuAD-R only
    msg = str(ei.value)
    assert "'el'" in msg and "'mlqa-r'" in msg and "ar, de, en, es, hi, vi, zh" in msg


def test_missing_file_names_expected_path(tmp_path: Path, no_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataSourceError) as ei:
        resolve_file("mlqa-r", "vi", data_dir=tmp_path)
    msg = str(ei.value)
    assert "mlqa-r/vi" in msg
    assert str(tmp_path / "mlqa-r" / "vi.json") in msg
    assert "354d67d1cd066854cdfbf5ad0e6105528976141d/mlqa-r/vi.json" in msg  # where to get it

    missing_root = tmp_path / "nope"
    no_env.setenv(DATA_DIR_ENV, str(missing_root))
    with pytest.raises(DataSourceError) as ei:
        resolve_file("xquad-r", "en")
    assert DATA_DIR_ENV in str(ei.value) and "does not exist" in str(ei.value)


def test_data_dir_file_is_verified(shared_data: Path, tmp_path: Path) -> None:
    """A wrong file under the right name is rejected, with both hashes and the path in the message."""
    good = _copy_into(tmp_path, shared_data, "xquad-r/ar.json")
    assert resolve_file("xquad-r", "ar", data_dir=tmp_path) == good

    # Same size, one byte changed: the memo must not hide it. The write changes mtime; bump it explicitly
    # too, so a filesystem with coarse timestamps cannot make this test flaky.
    data = bytearray(good.read_bytes())
    data[100] ^= 0x01
    good.write_bytes(bytes(data))
    st = good.stat()
    os.utime(good, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(DataSourceError) as ei:
        resolve_file("xquad-r", "ar", data_dir=tmp_path)
    msg = str(ei.value)
    assert "Checksum mismatch" in msg and "xquad-r/ar" in msg
    assert SOURCES["xquad-r"].files["ar"].sha256 in msg
    assert actual in msg
    assert str(good) in msg


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


@pytest.mark.parametrize("via", ["argument", "env"])
def test_checksum_advice_for_a_data_dir_is_to_replace_the_file(
    shared_data: Path, tmp_path: Path, no_env: pytest.MonkeyPatch, via: str
) -> None:
    """Nothing is ever downloaded into a data dir, so "delete it" would only lead to "not found"."""
    path = _copy_into(tmp_path, shared_data, "xquad-r/en.json")
    _corrupt(path)
    pinned = SOURCES["xquad-r"].files["en"]
    if via == "env":
        no_env.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(DataSourceError) as ei:
        resolve_file("xquad-r", "en", data_dir=tmp_path if via == "argument" else None)
    msg = str(ei.value)
    assert f"replace it with the original file (sha256 {pinned.sha256}" in msg and pinned.url in msg
    assert "delete it" not in msg and "downloaded again" not in msg
    assert (DATA_DIR_ENV if via == "env" else "data_dir argument") in msg


def test_checksum_advice_for_a_downloaded_file_is_to_delete_it(tmp_path: Path) -> None:
    f = tmp_path / "xquad-r" / "en.json"
    f.parent.mkdir()
    f.write_bytes(b"not the file")
    with pytest.raises(DataSourceError) as ei:
        verify_sha256(f, "0" * 64, label="xquad-r/en", downloaded=True)
    assert "delete it to have it downloaded again" in str(ei.value)
    with pytest.raises(DataSourceError) as ei:
        verify_sha256(f, "0" * 64, label="xquad-r/en")
    assert "replace it with the original file (sha256 " + "0" * 64 in str(ei.value)


def test_other_languages_file_under_wrong_name_is_rejected(shared_data: Path, tmp_path: Path) -> None:
    dst = tmp_path / "xquad-r" / "de.json"
    dst.parent.mkdir()
    shutil.copyfile(shared_data / "xquad-r/en.json", dst)
    with pytest.raises(DataSourceError, match="Checksum mismatch"):
        resolve_file("xquad-r", "de", data_dir=tmp_path)


def test_hash_is_memoised_per_path_mtime_size(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _copy_into(tmp_path, shared_data, "xquad-r/en.json")
    calls = []
    real_sha256 = hashlib.sha256

    def counting_sha256(*args: object) -> object:
        calls.append(1)
        return real_sha256(*args)

    monkeypatch.setattr(sources.hashlib, "sha256", counting_sha256)
    for _ in range(3):
        resolve_file("xquad-r", "en", data_dir=tmp_path)
    assert len(calls) == 1
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(DataSourceError):
        resolve_file("xquad-r", "en", data_dir=tmp_path)
    assert len(calls) == 2


def test_verify_sha256(tmp_path: Path) -> None:
    f = tmp_path / "x.bin"
    payload = b"a" * ((1 << 20) + 17)  # spans two hashing chunks
    f.write_bytes(payload)
    good = hashlib.sha256(payload).hexdigest()
    verify_sha256(f, good)
    verify_sha256(str(f), good.upper())
    with pytest.raises(DataSourceError) as ei:
        verify_sha256(f, "0" * 64, label="xquad-r/en")
    assert "xquad-r/en" in str(ei.value) and good in str(ei.value) and str(f) in str(ei.value)
    with pytest.raises(DataSourceError, match="Cannot read"):
        verify_sha256(tmp_path / "absent.bin", good)


# --- downloads (no network: pooch's downloader or pooch.retrieve is replaced) --------------------------


def _download_env(no_env: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    no_env.setenv(CACHE_DIR_ENV, str(cache))
    return cache


def test_download_failure_names_url(tmp_path: Path, no_env: pytest.MonkeyPatch) -> None:
    cache = _download_env(no_env, tmp_path)

    def failing_retrieve(url: str, **kwargs: object) -> str:
        raise requests.exceptions.ConnectionError("network is unreachable")

    no_env.setattr(pooch, "retrieve", failing_retrieve)
    with pytest.raises(DataSourceError) as ei:
        resolve_file("xquad-r", "el")
    msg = str(ei.value)
    assert SOURCES["xquad-r"].files["el"].url in msg
    assert DATA_DIR_ENV in msg and "network is unreachable" in msg and "xquad-r/el" in msg
    assert isinstance(ei.value.__cause__, requests.exceptions.ConnectionError)
    assert not (cache / "xquad-r" / "el.json").exists()


def test_download_calls_pooch_with_pin_then_uses_cache(
    shared_data: Path, tmp_path: Path, no_env: pytest.MonkeyPatch
) -> None:
    cache = _download_env(no_env, tmp_path)
    calls: list[tuple[str, dict[str, object]]] = []

    def fake_retrieve(url: str, **kwargs: object) -> str:
        calls.append((url, kwargs))
        dst = Path(str(kwargs["path"])) / str(kwargs["fname"])
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data / "xquad-r/es.json", dst)
        return str(dst)

    no_env.setattr(pooch, "retrieve", fake_retrieve)
    pinned = SOURCES["xquad-r"].files["es"]
    path = resolve_file("xquad-r", "es")
    assert path == cache / "xquad-r" / "es.json" and path.is_file()
    assert len(calls) == 1
    url, kwargs = calls[0]
    assert url == pinned.url
    assert kwargs["known_hash"] == f"sha256:{pinned.sha256}"
    assert Path(str(kwargs["path"])) == cache and kwargs["fname"] == "xquad-r/es.json"

    assert resolve_file("xquad-r", "es") == path  # verified cached copy: no second download
    assert len(calls) == 1

    path.write_bytes(b"{}")  # stale/corrupt cache entry: handed back to pooch to replace
    assert resolve_file("xquad-r", "es") == path
    assert len(calls) == 2


class _FakeDownloader:
    """Stands in for pooch's HTTP downloader: writes ``payload`` to pooch's target, then maybe fails."""

    def __init__(self, payload: bytes, error: Exception | None = None) -> None:
        self.payload, self.error, self.targets = payload, error, []

    def __call__(self, url: str, output_file: str, pooch_obj: object) -> None:
        self.targets.append(output_file)
        Path(output_file).write_bytes(self.payload)
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize(
    "payload,error",
    [
        (b'{"data": [', requests.exceptions.ChunkedEncodingError("connection broken mid-file")),
        (b'{"data": []}', None),  # complete download of the wrong bytes: hash mismatch
    ],
    ids=["interrupted", "wrong-bytes"],
)
def test_real_pooch_leaves_no_partial_file(
    tmp_path: Path, no_env: pytest.MonkeyPatch, payload: bytes, error: Exception | None
) -> None:
    """Through the real pooch.retrieve: a failed download leaves nothing in the cache, not even temp files."""
    cache = _download_env(no_env, tmp_path)
    fake = _FakeDownloader(payload, error)
    no_env.setattr(pooch.core, "choose_downloader", lambda url, progressbar=False: fake)
    with pytest.raises(DataSourceError) as ei:
        resolve_file("xquad-r", "vi")
    assert SOURCES["xquad-r"].files["vi"].url in str(ei.value)
    assert len(fake.targets) == 1
    assert Path(fake.targets[0]).name != "vi.json"  # pooch wrote to a temporary name...
    assert [p for p in cache.rglob("*") if p.is_file()] == []  # ...and removed it


def test_real_pooch_success_is_byte_exact(
    shared_data: Path, tmp_path: Path, no_env: pytest.MonkeyPatch
) -> None:
    cache = _download_env(no_env, tmp_path)
    real = (shared_data / "xquad-r/vi.json").read_bytes()
    no_env.setattr(pooch.core, "choose_downloader", lambda url, progressbar=False: _FakeDownloader(real))
    path = resolve_file("xquad-r", "vi")
    assert path == cache / "xquad-r" / "vi.json"
    assert path.read_bytes() == real
    assert [p for p in cache.rglob("*") if p.is_file()] == [path]


def test_dataset_source_file_lookup() -> None:
    src: DatasetSource = SOURCES["mlqa-r"]
    assert isinstance(src.file("zh"), PinnedFile)
    with pytest.raises(DataSourceError, match=r"'th'.*'mlqa-r'.*ar, de, en"):
        src.file("th")
