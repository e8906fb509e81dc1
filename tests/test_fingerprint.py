"""A local model directory's revision is a hash of what it holds, not of where it lives."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from hbt_bench import fingerprint
from hbt_bench.errors import HbtBenchError
from hbt_bench.fingerprint import directory_fingerprint
from hbt_bench.resources import CACHE_DIR_ENV


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder / "file-digests.json"


def _model(root, weights=b"\x00\x01weights", config='{"dim": 4}'):
    (root / "sub").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(weights)
    (root / "sub" / "config.json").write_text(config)
    return root


def test_the_fingerprint_is_sha256_over_relative_paths_and_file_digests(tmp_path, cache):
    root = _model(tmp_path / "a" / "model")
    # written out from the definition in the module docstring, with hashlib only
    lines = "".join(
        f"{rel}\0{hashlib.sha256(data).hexdigest()}\n"
        for rel, data in [("model.safetensors", b"\x00\x01weights"), ("sub/config.json", b'{"dim": 4}')]
    )
    assert directory_fingerprint(root) == "sha256-" + hashlib.sha256(lines.encode()).hexdigest()[:16]


def test_copies_agree_and_any_model_file_change_differs(tmp_path, cache):
    a = _model(tmp_path / "a" / "model")
    b = tmp_path / "b" / "model"
    shutil.copytree(a, b)
    assert directory_fingerprint(a) == directory_fingerprint(b)
    (b / "README.md").write_text("a model card edit")  # documentation: same model
    (b / ".cache").mkdir()
    (b / ".cache" / "x").write_text("hidden")
    assert directory_fingerprint(a) == directory_fingerprint(b)
    (b / "model.safetensors").write_bytes(b"\x00\x02weights")
    assert directory_fingerprint(a) != directory_fingerprint(b)
    c = tmp_path / "c" / "model"
    shutil.copytree(a, c)
    (c / "sub" / "config.json").rename(c / "sub" / "config2.json")  # same bytes, another file name
    assert directory_fingerprint(a) != directory_fingerprint(c)


def test_linked_files_count_as_their_content(tmp_path, cache):
    # the hub cache's snapshot folders hold symlinks to blobs
    a = _model(tmp_path / "a")
    linked = tmp_path / "linked"
    (linked / "sub").mkdir(parents=True)
    os.symlink(a / "model.safetensors", linked / "model.safetensors")
    os.symlink(a / "sub" / "config.json", linked / "sub" / "config.json")
    assert directory_fingerprint(linked) == directory_fingerprint(a)


def test_unchanged_files_are_not_read_again(tmp_path, cache, monkeypatch):
    root = _model(tmp_path / "m")
    first = directory_fingerprint(root)
    assert json.loads(cache.read_text())["format"] == 1
    reads = []
    real = fingerprint._file_digest
    monkeypatch.setattr(fingerprint, "_file_digest", lambda p: reads.append(p.name) or real(p))
    assert directory_fingerprint(root) == first and reads == []
    (root / "model.safetensors").write_bytes(b"new weights, new size")
    assert directory_fingerprint(root) != first and reads == ["model.safetensors"]


@pytest.mark.parametrize("content", ["not json", '{"format": 99, "files": {}}', '{"format": 1, "files": []}'])
def test_a_damaged_cache_is_ignored(tmp_path, cache, content):
    root = _model(tmp_path / "m")
    expected = directory_fingerprint(root)
    cache.write_text(content)
    assert directory_fingerprint(root) == expected


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocker / "cache"))
    root = _model(tmp_path / "m")
    assert directory_fingerprint(root).startswith("sha256-")


def test_bad_directories_are_named(tmp_path, cache):
    with pytest.raises(HbtBenchError, match=r"'.*nope' is not an existing directory"):
        directory_fingerprint(tmp_path / "nope")
    (tmp_path / "empty" / ".git").mkdir(parents=True)
    with pytest.raises(HbtBenchError, match="holds no model files"):
        directory_fingerprint(tmp_path / "empty")
