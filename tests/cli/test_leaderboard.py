"""``hbt-bench leaderboard add / build / show`` end to end on a tiny run (hash n-gram, two languages)."""

from __future__ import annotations

import tomllib

import pytest

from hbt_bench.cli import main
from hbt_bench.leaderboard import build as build_mod


@pytest.fixture
def data_env(shared_data, monkeypatch):
    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(shared_data))


def test_add_resumes_and_registers_then_build_and_show(data_env, tmp_path, capsys, monkeypatch):
    registry = tmp_path / "registry.toml"
    registry.write_text('# mine\n[[model]]\nname = "hbt-bench/hash-ngram"\nlabel = "my label"\n')
    argv = [
        "leaderboard",
        "add",
        "--model",
        "builtin:hash-ngram",
        "--tasks",
        "XQuADR",
        "--languages",
        "en,de",
    ]
    argv += ["--registry", str(registry), "--quiet"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    results = list(tmp_path.rglob("XQuADR.json"))
    assert len(results) == 1 and "already has a row" in first
    assert results[0].with_name("XQuADR.per_query.json.gz").is_file()
    assert registry.read_text() == '# mine\n[[model]]\nname = "hbt-bench/hash-ngram"\nlabel = "my label"\n'
    mtime = results[0].stat().st_mtime_ns
    assert main(argv) == 0  # resumes: the stored result is reused, not recomputed
    assert "reusing the complete stored result" in capsys.readouterr().out
    assert results[0].stat().st_mtime_ns == mtime

    # a model the registry lacks (a third-party factory here) gets a row appended, the user's text kept
    (tmp_path / "tiny_factory.py").write_text(
        "from hbt_bench.encoders import HashNgramEncoder\n\n"
        "class Tiny:\n    name, revision = 'test/tiny-hash', '1'\n\n"
        "    def encode(self, texts, **kwargs):\n        return HashNgramEncoder(dim=32).encode(texts)\n\n"
        "def make():\n    return Tiny()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    other = [
        "leaderboard",
        "add",
        "--model",
        "tiny_factory:make",
        "--tasks",
        "XQuADR",
        "--languages",
        "en,de",
    ]
    assert main([*other, "--registry", str(registry), "--quiet", "--name", "Tiny"]) == 0
    rows = tomllib.loads(registry.read_text())["model"]
    assert registry.read_text().startswith("# mine\n")
    assert [r["name"] for r in rows] == ["hbt-bench/hash-ngram", "test/tiny-hash"]
    assert rows[1]["spec"] == "tiny_factory:make" and rows[1]["label"] == "Tiny" and rows[1]["revision"]
    capsys.readouterr()

    monkeypatch.setattr(build_mod, "_site_writer", lambda: None)
    assert main(["leaderboard", "build", "--registry", str(registry), "--no-readmes"]) == 0
    assert "my label" in (tmp_path / "LEADERBOARD.md").read_text()
    assert (tmp_path / "site" / "board.json").is_file()
    capsys.readouterr()
    assert main(["leaderboard", "show", "--registry", str(registry), "--plain"]) == 0
    shown = capsys.readouterr().out
    assert "my label" in shown and "Tiny" in shown and "permutation test" in shown


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    registry = tmp_path / "registry.toml"
    registry.write_text('[[model]]\nname = "a/b"\n')
    bad = tmp_path / "results" / "x__y" / "1"
    bad.mkdir(parents=True)
    (bad / "XQuADR.json").write_text("{}")
    assert main(["leaderboard", "show", "--registry", str(registry)]) == 2
    err = capsys.readouterr().err
    assert "hbt-bench: error:" in err and "'x/y'" in err and str(bad) in err


def test_default_tasks_take_mmarcor_only_once_it_is_built(tmp_path, monkeypatch):
    """`leaderboard add` runs HBT-DomainShift's tasks "where its data is present": mMARCOR needs a build."""
    from hbt_bench.cli.leaderboard import default_tasks

    monkeypatch.setenv("HBT_BENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HBT_BENCH_CACHE_DIR", str(tmp_path / "cache"))
    without = default_tasks()
    assert {"XQuADR", "MLQAR", "XQuADR-Adv", "MLQAR-Adv"} <= set(without)
    assert "mMARCOR" not in without
    (tmp_path / "data" / "mmarco-r").mkdir(parents=True)
    (tmp_path / "data" / "mmarco-r" / "manifest.json").write_text("{}", encoding="utf-8")
    assert default_tasks() == [*without, "mMARCOR"]
