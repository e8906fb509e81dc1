"""The training config: a TOML file parsed into :class:`TrainConfig`, every field documented.

TOML has no null, so "not set" is an empty string, an empty list or 0 wherever a field says so. Unknown
keys and wrongly typed values are errors that name the key and the file (or ``--set``). The defaults
are the paper's (arXiv 2408.10536 §3.1): AdamW, lr 3e-5, weight decay 0.01, batch 100, α = 0.5,
"Query: " / "Passage: " prefixes. The paper gives no temperature; scale 20 (τ = 0.05) is
sentence-transformers' default and inside the E5-style range.

``describe()`` renders every field with its default and documentation (``hbt-bench train
--describe-config``); :func:`dump_toml` writes a resolved config that :func:`load_config` reads back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbt_bench.training.errors import TrainingConfigError

__all__ = [
    "SOURCE_KINDS",
    "EvalConfig",
    "LoraSettings",
    "LossConfig",
    "OptimConfig",
    "PromptConfig",
    "SamplerConfig",
    "SourceConfig",
    "TrainConfig",
    "ValidationConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "describe",
    "dump_toml",
    "load_config",
]

SOURCE_KINDS = ("lareqa", "table", "mmarco")
SAMPLER_KINDS = ("hybrid", "xx-mono", "xy")


def _doc(doc: str) -> dict[str, str]:
    """Field metadata carrying the field's documentation (rendered by :func:`describe`)."""
    return {"doc": doc}


@dataclass
class SourceConfig:
    """One training (or validation) data source: ``[[data]]`` / ``[[validation.data]]``."""

    kind: str = field(
        default="lareqa",
        metadata=_doc(
            "lareqa | table | mmarco. lareqa: parallel LAReQA QA (xquad-r, mlqa-r; they are evaluation "
            "sets: smoke tests only); table: a parallel table (id, language, question, answer[, negative]) "
            "from JSONL or a HF dataset; mmarco: unicamp-dl/mmarco train triples with hard negatives"
        ),
    )
    name: str = field(
        default="",
        metadata=_doc(
            "label of the source, prefixed to its group ids so that sources never share a group; "
            "'' = '<kind><index>'"
        ),
    )
    dataset: str = field(default="mlqa-r", metadata=_doc("lareqa: xquad-r or mlqa-r"))
    data_dir: str = field(
        default="",
        metadata=_doc(
            "lareqa: directory laid out as <dir>/<dataset>/<lang>.json; '' = HBT_BENCH_DATA_DIR or the "
            "pinned download"
        ),
    )
    path: str = field(
        default="",
        metadata=_doc(
            "table: a JSONL file or a datasets.save_to_disk directory; mmarco: a local copy of the hub "
            "layout (data/triples.train.ids.small.tsv, data/google/queries/train/..., "
            "data/google/collections/...); '' = download from the hub (mmarco) or use hf_dataset (table)"
        ),
    )
    hf_dataset: str = field(
        default="", metadata=_doc("table: hub dataset id read with datasets.load_dataset (instead of path)")
    )
    hf_config: str = field(default="", metadata=_doc("table: config name of hf_dataset; '' = its default"))
    split: str = field(default="train", metadata=_doc("table: split of hf_dataset"))
    revision: str = field(
        default="", metadata=_doc("hub revision of hf_dataset (table) or of unicamp-dl/mmarco; '' = main")
    )
    columns: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            'table: our column name -> the source\'s where they differ, e.g. { id = "qid", answer = "pos" }'
        ),
    )
    layout: str = field(
        default="ids",
        metadata=_doc(
            "mmarco: ids (the repository files: ids triples + per-language queries and collections; a "
            "group is an MS MARCO query id) or triples (the <language> configs streamed with datasets; a "
            "group is a line number)"
        ),
    )
    languages: list[str] = field(
        default_factory=list,
        metadata=_doc(
            "languages to keep (LAReQA codes; table values; mMARCO names or ISO codes); [] = all "
            "(mmarco: required)"
        ),
    )
    limit: int = field(default=0, metadata=_doc("at most this many groups (parallel ids); 0 = all"))


@dataclass
class SamplerConfig:
    """``[sampler]``: how batches are formed (paper §2.2)."""

    kind: str = field(
        default="hybrid",
        metadata=_doc(
            "hybrid (mono with probability alpha, cross otherwise), xx-mono (every batch one language) "
            "or xy (query and passage languages differ in every pair)"
        ),
    )
    alpha: float = field(
        default=0.5, metadata=_doc("hybrid: probability that a batch is X-X-mono (paper: 0.5)")
    )
    one_source_per_batch: bool = field(
        default=True,
        metadata=_doc(
            "with several [[data]] sources: every batch comes from one source, picked in proportion to "
            "its unused groups (paper: batches 'sampled based on dataset size'); false mixes sources "
            "within batches"
        ),
    )


@dataclass
class LossConfig:
    """``[loss]``: InfoNCE with in-batch negatives (paper Eq. 1)."""

    scale: float = field(
        default=20.0, metadata=_doc("1 / temperature on cosine similarities (paper: not given; 20 = τ 0.05)")
    )
    in_batch: str = field(
        default="all",
        metadata=_doc(
            "all: every passage of the batch is a negative (standard InfoNCE, sentence-transformers' "
            "MultipleNegativesRankingLoss); negatives_only: Eq. 1 as printed, only the batch's hard "
            "negatives (needs hard negatives)"
        ),
    )
    hard_negatives: bool = field(
        default=True,
        metadata=_doc("use the sources' hard negatives when they have them (one per row, passage language)"),
    )
    gather_across_devices: bool = field(
        default=False,
        metadata=_doc("multi-GPU: gather embeddings from all devices, so each rank sees all negatives"),
    )


@dataclass
class PromptConfig:
    """``[prompts]``: input prefixes (paper §2.1, after E5), used in training and saved with the model."""

    query: str = field(default="Query: ", metadata=_doc("prefix of queries; '' = none"))
    passage: str = field(default="Passage: ", metadata=_doc("prefix of passages and negatives; '' = none"))


@dataclass
class OptimConfig:
    """``[training]``: optimisation (AdamW)."""

    batch_size: int = field(default=100, metadata=_doc("pairs per batch and device (paper: 100)"))
    learning_rate: float = field(default=3e-5, metadata=_doc("AdamW learning rate (paper: 3e-5)"))
    weight_decay: float = field(default=0.01, metadata=_doc("AdamW weight decay (paper: 0.01)"))
    epochs: float = field(default=1.0, metadata=_doc("passes over the groups (unused when max_steps > 0)"))
    max_steps: int = field(
        default=0, metadata=_doc("stop after this many optimizer steps; 0 = run the epochs")
    )
    warmup_ratio: float = field(default=0.0, metadata=_doc("share of the steps with linear warm-up"))
    lr_scheduler: str = field(
        default="linear", metadata=_doc("transformers scheduler: linear, constant, ...")
    )
    max_seq_length: int = field(default=0, metadata=_doc("truncate inputs to this many tokens; 0 = model's"))
    fp16: bool = field(default=False, metadata=_doc("mixed precision fp16 (GPU)"))
    bf16: bool = field(default=False, metadata=_doc("mixed precision bf16 (GPU)"))
    logging_steps: int = field(default=50, metadata=_doc("log the training loss every this many steps"))


@dataclass
class ValidationConfig:
    """``[validation]``: validation loss and early stopping (the paper keeps the lowest validation loss)."""

    data: list[SourceConfig] = field(
        default_factory=list, metadata=_doc("validation sources ([[validation.data]]), built like [[data]]")
    )
    fraction: float = field(
        default=0.0,
        metadata=_doc("without validation sources: hold out this share of the training groups; 0 = none"),
    )
    eval_steps: int = field(
        default=500, metadata=_doc("compute the validation loss (and checkpoint) every this many steps")
    )
    patience: int = field(
        default=3, metadata=_doc("stop after this many validations without improvement; 0 = never early")
    )
    alpha: float = field(
        default=0.5,
        metadata=_doc(
            "mono probability of the validation batches (fixed, so losses compare across a sweep); a "
            "validation set with only mono or only cross pairs uses just those"
        ),
    )


@dataclass
class LoraSettings:
    """``[lora]``: train a LoRA adapter (PEFT) instead of all weights."""

    enabled: bool = field(
        default=False,
        metadata=_doc("train only LoRA adapter weights; model/ has them merged, adapter/ alone"),
    )
    r: int = field(default=8, metadata=_doc("adapter rank"))
    alpha: int = field(default=16, metadata=_doc("LoRA scaling numerator (lora_alpha)"))
    dropout: float = field(default=0.1, metadata=_doc("dropout on the adapter input"))
    target_modules: list[str] = field(
        default_factory=list,
        metadata=_doc('modules to adapt, e.g. ["query", "value"]; [] = PEFT\'s default for the architecture'),
    )


@dataclass
class EvalConfig:
    """``[evaluation]``: mteb tasks scored after training (results in mteb's layout under output_dir)."""

    tasks: list[str] = field(
        default_factory=list, metadata=_doc('task names, e.g. ["XQuADR", "XQuADR-Adv"]; [] = none')
    )
    languages: list[str] = field(
        default_factory=list,
        metadata=_doc(
            "restrict the LAReQA tasks to these languages (the pooled setting too; the dataset revision "
            "is tagged): smoke tests only; [] = all"
        ),
    )
    data_dir: str = field(
        default="", metadata=_doc("LAReQA data directory; '' = HBT_BENCH_DATA_DIR or the pinned download")
    )
    batch_size: int = field(default=64, metadata=_doc("encoding batch size"))


@dataclass
class TrainConfig:
    """A whole training run (``hbt-bench train --config F``)."""

    model: str = field(
        default="",
        metadata=_doc("base model: hub id, local sentence-transformers directory or package.module:factory"),
    )
    output_dir: str = field(
        default="",
        metadata=_doc(
            "where the run is written (model/, config.toml, training_summary.json, results/); must not "
            "exist unless --overwrite"
        ),
    )
    seed: int = field(default=42, metadata=_doc("seed of the trainer, the samplers and the hold-out"))
    data: list[SourceConfig] = field(
        default_factory=list, metadata=_doc("training sources ([[data]]); see sampler.one_source_per_batch")
    )
    sampler: SamplerConfig = field(default_factory=SamplerConfig, metadata=_doc("batch sampling"))
    loss: LossConfig = field(default_factory=LossConfig, metadata=_doc("loss"))
    prompts: PromptConfig = field(default_factory=PromptConfig, metadata=_doc("input prefixes"))
    training: OptimConfig = field(default_factory=OptimConfig, metadata=_doc("optimisation"))
    validation: ValidationConfig = field(
        default_factory=ValidationConfig, metadata=_doc("validation loss and early stopping")
    )
    lora: LoraSettings = field(default_factory=LoraSettings, metadata=_doc("LoRA adapters"))
    evaluation: EvalConfig = field(default_factory=EvalConfig, metadata=_doc("evaluation after training"))

    def validate(self, where: str = "config") -> TrainConfig:
        """Check values that types cannot express; errors name the field. Returns ``self``."""

        def fail(name: str, msg: str) -> TrainingConfigError:
            return TrainingConfigError(f"{where}: {name} {msg}")

        if not self.model.strip():
            raise fail(
                "model", "is required (a hub id, a local sentence-transformers directory or module:factory)"
            )
        if not self.data:
            raise fail("data", "is required: at least one [[data]] source")
        for prefix, sources in (("data", self.data), ("validation.data", self.validation.data)):
            for i, src in enumerate(sources):
                _validate_source(src, f"{prefix}[{i}]", fail)
        if self.sampler.kind not in SAMPLER_KINDS:
            raise fail(
                "sampler.kind", f"must be one of {', '.join(SAMPLER_KINDS)}, got {self.sampler.kind!r}"
            )
        for name, value in (
            ("sampler.alpha", self.sampler.alpha),
            ("validation.alpha", self.validation.alpha),
        ):
            if not 0.0 <= value <= 1.0:
                raise fail(name, f"must be in [0, 1], got {value}")
        from hbt_bench.training.losses import IN_BATCH_MODES

        if self.loss.in_batch not in IN_BATCH_MODES:
            raise fail(
                "loss.in_batch", f"must be one of {', '.join(IN_BATCH_MODES)}, got {self.loss.in_batch!r}"
            )
        if self.loss.in_batch == "negatives_only" and not self.loss.hard_negatives:
            raise fail("loss.in_batch", "= 'negatives_only' needs loss.hard_negatives = true")
        positive = {
            "loss.scale": self.loss.scale,
            "training.batch_size": self.training.batch_size,
            "training.learning_rate": self.training.learning_rate,
            "training.epochs": self.training.epochs,
            "training.logging_steps": self.training.logging_steps,
            "validation.eval_steps": self.validation.eval_steps,
            "lora.r": self.lora.r,
            "lora.alpha": self.lora.alpha,
            "evaluation.batch_size": self.evaluation.batch_size,
        }
        for name, value in positive.items():
            if not (value > 0 and math.isfinite(value)):
                raise fail(name, f"must be > 0, got {value}")
        non_negative = {
            "training.weight_decay": self.training.weight_decay,
            "training.max_steps": self.training.max_steps,
            "training.max_seq_length": self.training.max_seq_length,
            "validation.patience": self.validation.patience,
        }
        for name, value in non_negative.items():
            if value < 0:
                raise fail(name, f"must be >= 0, got {value}")
        for name, value in (
            ("training.warmup_ratio", self.training.warmup_ratio),
            ("lora.dropout", self.lora.dropout),
        ):
            if not 0.0 <= value < 1.0:
                raise fail(name, f"must be in [0, 1), got {value}")
        if not 0.0 <= self.validation.fraction < 1.0:
            raise fail("validation.fraction", f"must be in [0, 1), got {self.validation.fraction}")
        if self.validation.data and self.validation.fraction:
            raise fail("validation.fraction", "and validation.data are exclusive: give one of them")
        if self.training.fp16 and self.training.bf16:
            raise fail("training.fp16", "and training.bf16 are exclusive")
        return self


def _validate_source(src: SourceConfig, name: str, fail: Any) -> None:
    if src.kind not in SOURCE_KINDS:
        raise fail(f"{name}.kind", f"must be one of {', '.join(SOURCE_KINDS)}, got {src.kind!r}")
    if src.limit < 0:
        raise fail(f"{name}.limit", f"must be >= 0, got {src.limit}")
    if src.kind == "lareqa" and src.dataset not in ("xquad-r", "mlqa-r"):
        raise fail(f"{name}.dataset", f"must be xquad-r or mlqa-r, got {src.dataset!r}")
    if src.kind == "table" and bool(src.path) == bool(src.hf_dataset):
        raise fail(f"{name}", "(table) needs exactly one of path and hf_dataset")
    if src.kind == "mmarco":
        if not src.languages:
            raise fail(f"{name}.languages", 'is required for mmarco (e.g. ["english", "german"])')
        if src.layout not in ("ids", "triples"):
            raise fail(f"{name}.layout", f"must be ids or triples, got {src.layout!r}")


# ---------------------------------------------------------------------------------------------------
# dict <-> dataclass
# ---------------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return "table"
    origin = typing.get_origin(tp)
    if origin is list:
        (arg,) = typing.get_args(tp)
        return "array of tables" if dataclasses.is_dataclass(arg) else f"list of {_type_name(arg)}"
    if origin is dict:
        return "table of strings"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _convert(tp: Any, value: Any, name: str, where: str) -> Any:
    """``value`` checked against ``tp`` (and made a dataclass where ``tp`` is one); errors name the field."""

    def wrong() -> TrainingConfigError:
        shown = json.dumps(value, default=str, ensure_ascii=False)
        return TrainingConfigError(
            f"{where}: {name} must be a {_type_name(tp)}, got {type(value).__name__} {shown[:80]}"
        )

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise wrong()
        return _from_mapping(tp, value, name, where)
    origin = typing.get_origin(tp)
    if origin is list:
        (arg,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise wrong()
        return [_convert(arg, v, f"{name}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise wrong()
        return {str(k): v for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    raise TypeError(f"unsupported config type {tp!r} for {name}")  # pragma: no cover - our own schema


def _from_mapping(cls: type, data: Mapping[str, Any], prefix: str, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise TrainingConfigError(f"{where}: unknown key {key!r} (valid in this table: {', '.join(names)})")
    kwargs = {k: _convert(hints[k], v, f"{prefix}.{k}" if prefix else k, where) for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any], where: str = "config") -> TrainConfig:
    """A validated :class:`TrainConfig` from parsed TOML; ``where`` names the file in errors."""
    return _from_mapping(TrainConfig, data, "", where).validate(where)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain dict of a config (dataclasses -> dicts), the inverse of :func:`config_from_dict`."""
    return dataclasses.asdict(config)


def _parse_value(text: str) -> Any:
    """A ``--set`` value parsed as TOML (``3``, ``0.5``, ``true``, ``["en", "de"]``), else the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (list items by index: ``data.0.limit=5``) to parsed TOML in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise TrainingConfigError(f"--set {item!r}: expected key=value, e.g. sampler.alpha=0.25")
        parts = key.strip().split(".")
        node: Any = data
        for i, part in enumerate(parts[:-1]):
            here = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise TrainingConfigError(
                        f"--set {item!r}: {here} is not an index of a list of {len(node)}"
                    )
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, (dict, list)):
                raise TrainingConfigError(f"--set {item!r}: {here} is a value, not a table")
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise TrainingConfigError(f"--set {item!r}: {key} is not an index of a list of {len(node)}")
            node[int(last)] = _parse_value(raw.strip())
        else:
            node[last] = _parse_value(raw.strip())
    return data


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a TOML config, apply ``--set`` overrides and validate; errors name the file."""
    p = Path(path).expanduser()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingConfigError(f"config file {p} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingConfigError(f"config file {p}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TrainingConfigError(f"config file {p}: invalid TOML: {exc}") from exc
    apply_overrides(data, overrides)
    where = str(p) + (" (with --set " + ", ".join(overrides) + ")" if overrides else "")
    config = config_from_dict(data, where)
    _resolve_paths(config, p.parent)
    return config


def _resolve_paths(config: TrainConfig, base: Path) -> None:
    """Relative data paths in a config file are relative to the file (like an include)."""

    def fix(value: str) -> str:
        if not value:
            return value
        p = Path(value).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    for src in [*config.data, *config.validation.data]:
        src.path, src.data_dir = fix(src.path), fix(src.data_dir)
    config.evaluation.data_dir = fix(config.evaluation.data_dir)
    local_model = base / config.model
    if not Path(config.model).is_absolute() and local_model.is_dir():
        config.model = str(local_model.resolve())


# ---------------------------------------------------------------------------------------------------
# TOML out and documentation
# ---------------------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _dump(obj: Any, header: str, out: list[str], array: bool = False) -> None:
    scalars, tables, arrays = [], [], []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            tables.append((f.name, value))
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            arrays.append((f.name, value))
        else:
            scalars.append((f.name, value))
    if header:
        out.append(f"\n[[{header}]]" if array else f"\n[{header}]")
    out.extend(f"{name} = {_toml_value(value)}" for name, value in scalars)
    for name, value in tables:
        _dump(value, f"{header}.{name}" if header else name, out)
    for name, items in arrays:
        for item in items:
            _dump(item, f"{header}.{name}" if header else name, out, array=True)


def dump_toml(config: TrainConfig) -> str:
    """The config as TOML (every field, defaults included) that :func:`load_config` reads back equal."""
    out: list[str] = [
        "# Resolved hbt-bench training config (every field; see `hbt-bench train --describe-config`)."
    ]
    _dump(config, "", out)
    return "\n".join(out) + "\n"


def describe(cls: type = TrainConfig, prefix: str = "") -> str:
    """Every field of the config with its type, default and documentation, as text."""
    lines: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            lines.append(f"[{key}]  {f.metadata['doc']}")
            lines.append(describe(tp, f"{key}."))
            continue
        args = typing.get_args(tp)
        if typing.get_origin(tp) is list and args and dataclasses.is_dataclass(args[0]):
            lines.append(f"[[{key}]]  {f.metadata['doc']}")
            lines.append(describe(args[0], f"{key}[]."))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        lines.append(f"  {key} ({_type_name(tp)}, default {_toml_value(default)}): {f.metadata['doc']}")
    return "\n".join(lines)


def all_fields(cls: type = TrainConfig, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    """``(dotted name, field)`` of every field, nested tables included (for docs and tests)."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        out.append((key, f))
        tp = hints[f.name]
        args = typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            out += all_fields(tp, f"{key}.")
        elif typing.get_origin(tp) is list and args and dataclasses.is_dataclass(args[0]):
            out += all_fields(args[0], f"{key}[].")
    return out
