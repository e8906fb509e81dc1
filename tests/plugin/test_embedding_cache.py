"""``--embedding-cache``: an -Adv task reuses its clean task's candidates, one writer per folder, and a
save that fails midway leaves the previous index."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from mteb.models.cache_wrappers.cache_backends.numpy_cache import NumpyCache

from hbt_bench.cli import main
from hbt_bench.plugin.embedding_cache import (
    CrashSafeNumpyCache,
    cached_encoder,
    embeds_independently_of_task,
)

SEEN: dict[str, list[str]] = {"texts": []}


class RecordingEncoder:
    """Deterministic 16-d embeddings from a hash of each text; records every text it encodes."""

    name = "test/recording"
    revision = "r1"
    dim = 16

    def encode(self, texts):
        SEEN["texts"].extend(texts)
        rows = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], dtype=np.uint8) for t in texts]
        return np.stack(rows).astype(np.float32) + 1.0


def recording_encoder():
    """For ``--model tests.plugin.test_embedding_cache:recording_encoder``."""
    return RecordingEncoder()


def _eval(shared_data, out, task, *extra):
    SEEN["texts"] = []
    args = ["eval", "--model", "tests.plugin.test_embedding_cache:recording_encoder", "--tasks", task]
    args += ["--quiet", "--data-dir", str(shared_data), "--output-folder", str(out), "--languages", "en"]
    assert main([*args, *extra]) == 0
    return list(SEEN["texts"])


def _scores(out: Path, task: str) -> dict:
    [path] = out.rglob(f"{task}.json")
    return json.loads(path.read_text(encoding="utf-8"))["scores"]


def test_an_adv_task_reuses_the_clean_tasks_candidates_with_the_same_scores(shared_data, tmp_path):
    cache = tmp_path / "emb"
    clean = _eval(shared_data, tmp_path / "a", "XQuADR", "--embedding-cache", str(cache))
    plain = _eval(shared_data, tmp_path / "plain", "XQuADR-Adv")
    cached = _eval(shared_data, tmp_path / "a", "XQuADR-Adv", "--embedding-cache", str(cache))
    # without the cache the -Adv run encodes the 1,190 questions' candidate pool again ...
    candidates = set(plain) & set(clean) - {t for t in clean if t.startswith("query: ")}
    assert len(candidates) > 1000
    # ... with it, none of the clean run's texts: only perturbed questions are new
    assert not set(cached) & set(clean)
    assert 0 < len(cached) < len(plain)
    assert _scores(tmp_path / "a", "XQuADR-Adv") == _scores(tmp_path / "plain", "XQuADR-Adv")
    folders = sorted(p.name for p in (cache / "test__recording" / "r1").iterdir())
    assert folders == ["XQuADR"]


def test_a_task_keyed_prompt_keeps_a_folder_per_task(tmp_path):
    import mteb

    from hbt_bench.plugin.models import TextEncoderAdapter
    from hbt_bench.plugin.register import register

    register()
    tasks = mteb.get_tasks(tasks=["XQuADR", "XQuADR-Adv"])
    plain = TextEncoderAdapter(RecordingEncoder())
    keyed = TextEncoderAdapter(RecordingEncoder(), model_prompts={"XQuADR-Adv": "adversarial: "})
    assert embeds_independently_of_task(plain, ["XQuADR", "XQuADR-Adv"])
    assert not embeds_independently_of_task(keyed, ["XQuADR", "XQuADR-Adv"])
    assert not embeds_independently_of_task(object(), ["XQuADR"])
    with (
        cached_encoder(plain, tmp_path / "p", tasks) as shared,
        cached_encoder(keyed, tmp_path / "k", tasks) as own,
    ):
        assert shared.shared == {"XQuADR-Adv": "XQuADR"} and own.shared == {}


def test_two_runs_on_one_cache_folder_are_refused_before_anything_is_encoded(shared_data, tmp_path, capsys):
    import mteb

    from hbt_bench.plugin.models import TextEncoderAdapter
    from hbt_bench.plugin.register import register

    register()
    cache = tmp_path / "emb"
    holder = cached_encoder(
        TextEncoderAdapter(RecordingEncoder()),
        cache / "test__recording" / "r1",
        mteb.get_tasks(tasks=["MLQAR"]),
    )
    SEEN["texts"] = []
    args = ["eval", "--model", "tests.plugin.test_embedding_cache:recording_encoder", "--tasks", "MLQAR-Adv"]
    args += ["--quiet", "--data-dir", str(shared_data), "--languages", "en", "--embedding-cache", str(cache)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "in use by another run" in err and str(cache / "test__recording" / "r1" / "MLQAR") in err
    assert SEEN["texts"] == []
    holder.release()  # another task's folder was never locked, and a released one can be used again
    assert _eval(shared_data, tmp_path / "out", "MLQAR-Adv", "--embedding-cache", str(cache))


def test_the_index_is_mtebs_format_and_a_failed_save_keeps_the_previous_one(tmp_path, monkeypatch):
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    items = [{"text": t} for t in ("a", "b", "c")]
    ours, theirs = CrashSafeNumpyCache(tmp_path / "ours"), NumpyCache(tmp_path / "theirs")
    for cache in (ours, theirs):
        cache.add(items[:2], rows[:2])
        cache.save()
    assert (ours.index_file.read_bytes(), ours.dimension_file.read_bytes()) == (
        theirs.index_file.read_bytes(),
        theirs.dimension_file.read_bytes(),
    )
    before = ours.index_file.read_bytes()

    def killed(fd):  # Ctrl-C while the new index is being written (its bytes out, not yet in place)
        raise KeyboardInterrupt

    ours.add(items[2:], rows[2:])
    with monkeypatch.context() as m:
        m.setattr(os, "fsync", killed)
        with pytest.raises(KeyboardInterrupt):
            ours.save()
    assert ours.index_file.read_bytes() == before
    assert sorted(p.name for p in ours.directory.iterdir()) == ["dimension", "index.json", "vectors.npy"]
    reloaded = CrashSafeNumpyCache(tmp_path / "ours")
    reloaded.load()
    np.testing.assert_array_equal(reloaded.get_vector(items[1]), rows[1])
    assert reloaded.get_vector(items[2]) is None
