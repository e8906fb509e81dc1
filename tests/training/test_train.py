"""``hbt-bench train`` end to end on CPU with a tiny random BERT: output layout, loading in
sentence-transformers, mteb and our tasks, determinism, LoRA, hard negatives, early stopping, and nothing
half-written on failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("accelerate")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from hbt_bench.cli import main  # noqa: E402
from hbt_bench.training.config import config_from_dict, load_config  # noqa: E402
from hbt_bench.training.errors import TrainingConfigError  # noqa: E402
from hbt_bench.training.recipe import train  # noqa: E402
from tests.helpers import build_tiny_st_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "examples" / "train_smoke.toml"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, shared_data: Path) -> Path:
    """A tiny random BERT whose WordPiece vocabulary is trained on MLQA-R / XQuAD-R text (en, de, es)."""
    from hbt_bench.data.lareqa import load_lareqa

    texts = []
    for name in ("mlqa-r", "xquad-r"):
        corpus = load_lareqa(name, ["en", "de", "es"], data_dir=shared_data)
        for data in corpus.languages.values():
            texts += [q.text for q in data.questions[:150]] + [c.text for c in data.candidates[:150]]
    return build_tiny_st_model(tmp_path_factory.mktemp("tiny") / "tiny-bert", texts=texts)


def base_config(tiny_model: Path, shared_data: Path, out: Path, **sections) -> dict:
    cfg = {
        "model": str(tiny_model),
        "output_dir": str(out),
        "seed": 3,
        "data": [
            {
                "kind": "lareqa",
                "dataset": "mlqa-r",
                "data_dir": str(shared_data),
                "languages": ["en", "de"],
                "limit": 80,
            }
        ],
        "training": {"batch_size": 8, "max_steps": 2, "logging_steps": 1, "max_seq_length": 32},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return cfg


def weights(model_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_cli_trains_saves_and_the_model_loads_everywhere(
    tiny_model: Path, shared_data: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    sets = [f"model={tiny_model}", f"output_dir={out}", f"data.0.data_dir={shared_data}"]
    sets.append(f"evaluation.data_dir={shared_data}")
    argv = ["train", "--config", str(SMOKE), "--quiet"] + [a for item in sets for a in ("--set", item)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "trained 3 steps" in printed and "XQuADR" in printed

    # layout: nothing else, no staging or checkpoints left behind
    assert sorted(p.name for p in out.iterdir()) == [
        "config.toml",
        "model",
        "results",
        "training_summary.json",
    ]
    assert not list(tmp_path.glob(".*partial*"))
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["steps"] == 3 and summary["data"]["train"]["languages"] == ["de", "en", "es"]
    assert summary["data"]["validation"]["groups"] == 30  # 20% of the 150 groups held out
    assert any("eval_loss" in h for h in summary["log_history"]) and summary["best_eval_loss"] is not None
    assert set(summary["batch_types_last_epoch"]) <= {"cross", "mono:de", "mono:en", "mono:es"}
    assert load_config(out / "config.toml") == load_config(SMOKE, sets)  # the resolved config reloads

    # sentence-transformers: prompts saved for evaluation
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(out / "model"), device="cpu")
    assert model.prompts == {"query": "Query: ", "document": "Passage: "}

    # our loader and mteb's (hbt-bench's local-directory ModelMeta passes the prompts on)
    import mteb

    import hbt_bench
    from hbt_bench.encoders import load_model

    assert isinstance(load_model(str(out / "model")), SentenceTransformer)
    hbt_bench.register()
    wrapped = mteb.get_model(str(out / "model"))
    assert wrapped.model_prompts == {"query": "Query: ", "document": "Passage: "}

    # our evaluator, fed by the ST model's own prompted encode_query / encode_document, gives the en-en
    # score that the mteb run wrote (so mteb used the saved prompts); en-en only, to keep the test short
    from hbt_bench.data.lareqa import load_lareqa
    from hbt_bench.evaluate import EmbeddingStore, LareqaEvaluator, Subset

    def encode(texts, kind, lang):
        fn = model.encode_query if kind == "query" else model.encode_document
        return fn(texts, batch_size=64, convert_to_numpy=True)

    evaluator = LareqaEvaluator(load_lareqa("xquad-r", ["en", "de"], data_dir=shared_data))
    store = EmbeddingStore(encode, normalize=True, model_name="tiny")
    ours = evaluator.score(store, [Subset.parse("en-en", ["en", "de"])])["en-en"]
    [result_file] = list((out / "results").rglob("XQuADR.json"))
    written = json.loads(result_file.read_text())
    assert written["dataset_revision"].endswith("+langs-de-en")
    scores = {s["hf_subset"]: s for s in written["scores"]["test"]}
    assert set(scores) == {"de-de", "de-en", "en-de", "en-en", "de-multi", "en-multi"}
    assert scores["en-en"]["map"] == pytest.approx(ours["map"], abs=1e-4)
    assert scores["en-en"]["num_candidates"] == ours["num_candidates"] == 1180
    assert scores["en-multi"]["num_candidates"] == 1180 + 1276  # the pool of the two languages
    assert summary["evaluation"]["tasks"]["XQuADR"]["mono"] == pytest.approx(
        np.mean([scores["de-de"]["map"], scores["en-en"]["map"]])
    )


def test_same_seed_same_weights(tiny_model: Path, shared_data: Path, tmp_path: Path) -> None:
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        cfg = config_from_dict(base_config(tiny_model, shared_data, tmp_path / name, seed=seed))
        train(cfg)
        runs[name] = weights(tmp_path / name / "model")
    base = weights(tiny_model)
    assert runs["a"].keys() == runs["b"].keys() == base.keys()
    assert all(np.array_equal(runs["a"][k], runs["b"][k]) for k in base)
    assert any(not np.array_equal(runs["a"][k], base[k]) for k in base)  # it did train
    assert any(not np.array_equal(runs["a"][k], runs["c"][k]) for k in base)  # the seed matters


def test_config_seed_and_epochs_reach_the_sampler(
    tiny_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    """The batch plan is a function of (config seed, epoch): the seed must reach the sampler even where
    the trainer passes none (sentence-transformers 6.0), and every epoch must get its own plan."""
    from collections import Counter

    from hbt_bench.training.data import build_training_data
    from hbt_bench.training.pairs import text_view
    from hbt_bench.training.recipe import _sampler_factory

    cfg = config_from_dict(
        base_config(tiny_model, shared_data, tmp_path / "s", seed=11, training={"max_steps": 14})
    )
    summary = train(cfg)
    assert summary["sampler_seed"] == 11 and summary["steps"] == 14 and summary["train_runtime_s"] > 0

    data = build_training_data(cfg)
    factory = _sampler_factory(data.train, "hybrid", 0.5, "data", seed=11)
    as_st_6_0 = factory(text_view(data.train), batch_size=8, drop_last=False)  # no seed passed
    as_st_6_2 = factory(text_view(data.train), batch_size=8, drop_last=False, seed=0)
    assert as_st_6_0.seed == as_st_6_2.seed == 11
    # the epoch holding step 14 (plans differ in length from epoch to epoch)
    epoch, done = 0, len(as_st_6_0)
    while done < 14:
        epoch += 1
        as_st_6_0.set_epoch(epoch)
        done += len(as_st_6_0)
    assert epoch >= 1 and summary["sampler_last_epoch"] == epoch
    assert summary["batches_per_epoch"] == len(as_st_6_0)
    assert dict(Counter(as_st_6_0.batch_types)) == summary["batch_types_last_epoch"]


def test_lora_trains_only_the_adapter_and_the_merged_model_loads(
    tiny_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file
    from sentence_transformers import SentenceTransformer

    out = tmp_path / "lora"
    lora = {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["query", "value"]}
    cfg = config_from_dict(
        base_config(tiny_model, shared_data, out, lora=lora, training={"learning_rate": 1e-2})
    )
    summary = train(cfg)
    assert 0 < summary["trainable_parameters"] < summary["parameters"] and summary["lora_merged_layers"] == 4

    base, merged = weights(tiny_model), weights(out / "model")
    adapter = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert merged.keys() == base.keys()  # a plain model: no LoRA tensors left
    targets = [k for k in base if k.endswith(("query.weight", "value.weight"))]
    assert len(targets) == 4
    for key in base:
        if key not in targets:
            assert np.array_equal(merged[key], base[key]), f"base weight {key} changed"
    for key in targets:
        stem = key.removesuffix(".weight")
        a = next(v for k, v in adapter.items() if stem in k and "lora_A" in k)
        b = next(v for k, v in adapter.items() if stem in k and "lora_B" in k)
        assert np.abs(b).max() > 0, "the adapter did not train"
        np.testing.assert_allclose(merged[key], base[key] + (8 / 4) * b @ a, atol=1e-6)

    texts = ["Query: Wo liegt Paris?", "Passage: Paris liegt in Frankreich."]
    merged_model = SentenceTransformer(str(out / "model"), device="cpu")
    with_adapter = SentenceTransformer(str(out / "adapter"), device="cpu")  # PEFT layout, base model by path
    np.testing.assert_allclose(merged_model.encode(texts), with_adapter.encode(texts), atol=1e-5)
    assert merged_model.prompts == {"query": "Query: ", "document": "Passage: "}


def test_hard_negatives_from_a_table_and_eq1_loss(
    tiny_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    rows = []
    for i in range(24):
        for lang in ("en", "de"):
            rows.append({"id": f"g{i}", "language": lang, "question": f"question {i} {lang}",
                         "answer": f"answer {i} {lang}", "negative": f"other {i} {lang}"})  # fmt: skip
    table = tmp_path / "table.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = base_config(tiny_model, shared_data, tmp_path / "neg", loss={"in_batch": "negatives_only"})
    cfg["data"] = [{"kind": "table", "path": str(table)}]
    summary = train(config_from_dict(cfg))
    assert summary["data"]["train"]["hard_negatives"] and summary["steps"] == 2

    # two sources: groups are prefixed by source name; negatives must then be off (MLQA-R has none)
    cfg["data"].append({"kind": "lareqa", "name": "mlqa", "dataset": "mlqa-r", "data_dir": str(shared_data),
                        "languages": ["en", "de"], "limit": 10})  # fmt: skip
    cfg["output_dir"] = str(tmp_path / "two")
    with pytest.raises(TrainingConfigError, match="have hard negatives but data\\[1\\] \\(mlqa\\) do not"):
        train(config_from_dict({**cfg, "loss": {}}))
    summary = train(config_from_dict({**cfg, "loss": {"hard_negatives": False}}))
    assert summary["data"]["train"]["groups"] == 24 + 10 and not summary["data"]["train"]["hard_negatives"]
    # each batch from one source (paper: "sampled based on dataset size"): 24 // 8 + 10 // 8 full blocks
    assert summary["batch_sources_last_epoch"] == {"table0": 3, "mlqa": 1}
    cfg["output_dir"] = str(tmp_path / "mixed")
    mixed = train(config_from_dict({**cfg, "loss": {"hard_negatives": False},
                                    "sampler": {"one_source_per_batch": False}}))  # fmt: skip
    assert mixed["batch_sources_last_epoch"] is None and mixed["steps"] == 2
    cfg["data"][1]["name"] = "table0"
    cfg["output_dir"] = str(tmp_path / "clash")
    with pytest.raises(TrainingConfigError, match="two sources share the name"):
        train(config_from_dict({**cfg, "loss": {"hard_negatives": False}}))


def test_early_stopping_on_validation_loss(tiny_model: Path, shared_data: Path, tmp_path: Path) -> None:
    """With a learning rate too small to move any float32 weight the validation loss never improves, so
    training stops after ``patience`` validations without improvement."""
    cfg = base_config(
        tiny_model, shared_data, tmp_path / "es",
        training={"max_steps": 8, "learning_rate": 1e-30},
        validation={"fraction": 0.25, "eval_steps": 1, "patience": 2},
    )  # fmt: skip
    summary = train(config_from_dict(cfg))
    evals = [h["eval_loss"] for h in summary["log_history"] if "eval_loss" in h]
    assert summary["stopped_early"] and summary["steps"] == 3 and len(evals) == 3
    assert summary["best_step"] == 1 and summary["best_eval_loss"] == min(evals)


def test_failures_leave_no_output(tiny_model: Path, shared_data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "fails"
    cfg = config_from_dict(base_config(tiny_model, shared_data, out, evaluation={"tasks": ["NoSuchTask"]}))
    with pytest.raises(TrainingConfigError, match="unknown task 'NoSuchTask'"):
        train(cfg)  # fails after training, while writing the run
    assert not out.exists() and not list(tmp_path.iterdir())

    out.mkdir()
    config = tmp_path / "c.toml"
    config.write_text(
        f'model = "{tiny_model}"\noutput_dir = "{out}"\n[[data]]\nkind = "lareqa"\n', encoding="utf-8"
    )
    assert main(["train", "--config", str(config)]) == 2
    assert f"output_dir {out} exists; choose another or pass --overwrite" in capsys.readouterr().err
    sets = ["sampler.kind=xy", 'data.0.languages=["en"]', f"data.0.data_dir={shared_data}"]
    assert (
        main(["train", "--config", str(config), "--overwrite"] + [a for i in sets for a in ("--set", i)]) == 2
    )
    assert "needs cross-lingual pairs" in capsys.readouterr().err
    assert out.is_dir() and not list(out.iterdir())  # the existing directory was left alone


@pytest.mark.skipif(
    __import__("os").environ.get("HBT_BENCH_TEST_TORCHRUN") != "1",
    reason="~35 s on 2 cores: set HBT_BENCH_TEST_TORCHRUN=1 to run the 2-process torchrun test",
)
def test_torchrun_two_cpu_processes(tiny_model: Path, shared_data: Path, tmp_path: Path) -> None:
    """``torchrun --nproc_per_node 2`` runs the unchanged command as 2-process DDP (gloo on CPU)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    sets = [f"model={tiny_model}", f"output_dir={out}", f"data.0.data_dir={shared_data}"]
    sets.append(f"evaluation.data_dir={shared_data}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "hbt_bench.cli"]
    cmd += ["train", "--config", str(SMOKE), "--quiet"] + [a for item in sets for a in ("--set", item)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "training_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    assert summary["evaluation"]["tasks"]["XQuADR"]["multi"] is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp"]  # no staging left by either rank


def test_too_little_data_for_one_step_is_an_error(
    tiny_model: Path, shared_data: Path, tmp_path: Path
) -> None:
    from hbt_bench.training.data import build_training_data
    from hbt_bench.training.errors import TrainingDataError
    from hbt_bench.training.pairs import text_view
    from hbt_bench.training.recipe import _check_batches, _sampler_factory

    cfg = base_config(tiny_model, shared_data, tmp_path / "x")
    cfg["data"][0]["limit"] = 12
    cfg = config_from_dict(cfg)
    data = build_training_data(cfg)
    factory = _sampler_factory(data.train, "hybrid", 0.5, "data", seed=cfg.seed)
    _check_batches(factory, text_view(data.train), cfg, world_size=1)  # one short batch is fine alone
    with pytest.raises(TrainingDataError, match="12 groups cannot fill one step of 2 x 8 pairs"):
        _check_batches(factory, text_view(data.train), cfg, world_size=2)  # DDP drops short blocks


def test_lora_names_both_packages_when_transformers_wants_a_newer_peft(
    tiny_model: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers 5.24 demanded a peft that was not released; the error must say which pair disagrees."""
    from importlib.metadata import version

    import transformers.integrations.peft as tpeft

    monkeypatch.setattr(tpeft, "MIN_PEFT_VERSION", "999.0.0")
    out = tmp_path / "lora-mismatch"
    lora = {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["query", "value"]}
    cfg = config_from_dict(base_config(tiny_model, shared_data, out, lora=lora))
    with pytest.raises(TrainingConfigError) as info:
        train(cfg)
    message = str(info.value)
    assert f"transformers {version('transformers')}" in message
    assert f"peft {version('peft')}" in message and "peft >= 999.0.0" in message
    assert not (out / "model").exists()


def test_replacing_a_run_never_loses_the_old_one(
    tiny_model: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--overwrite swaps the new run in crash-safely: a failure of the final rename (injected here)
    leaves the previous run complete at output_dir and nothing else behind; a swap that works replaces it."""
    import os

    out = tmp_path / "run"
    out.mkdir()
    (out / "training_summary.json").write_text('{"old": true}\n', encoding="utf-8")
    cfg = config_from_dict(base_config(tiny_model, shared_data, out))
    real_replace = os.replace

    def failing_replace(src, dst, *args, **kwargs):
        # only the move of the finished run onto output_dir fails (moving the old run aside and back works)
        if Path(dst) == out and Path(src).name == ".run.partial":
            raise OSError("injected failure of the final rename")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="injected failure"):
        train(cfg, overwrite=True)
    monkeypatch.setattr(os, "replace", real_replace)
    assert (out / "training_summary.json").read_text(encoding="utf-8") == '{"old": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging or backup left

    summary = train(cfg, overwrite=True)
    assert json.loads((out / "training_summary.json").read_text())["steps"] == summary["steps"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
