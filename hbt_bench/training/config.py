"""The training config: a TOML file parsed into :class:`TrainConfig` (pydantic models), all fields documented.

TOML has no null, so "not set" is an empty string, an empty list or 0 wherever a field says so. Unknown
keys and wrongly typed values are errors that name the key and the file (or ``--set``): the models are
strict (no ``"100"`` for an integer, no ``1`` for a boolean) and forbid extra keys, and
:func:`config_from_dict` turns pydantic's first error into one line. The defaults are the paper's
(arXiv 2408.10536 §3.1): AdamW, lr 3e-5, weight decay 0.01, batch 100, α = 0.5, "Query: " /
"Passage: " prefixes. The paper gives no temperature; scale 20 (τ = 0.05) is sentence-transformers'
default and inside the E5-style range.

``describe()`` renders every field with its default and documentation from the models' schema
(``hbt-bench train --describe-config``); :func:`dump_toml` writes a resolved config that
:func:`load_config` reads back equal.
"""

from __future__ import annotations

import json
import math
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from hbt_bench.training.errors import TrainingConfigError
from hbt_bench.training.losses import IN_BATCH_MODES
from hbt_bench.training.registry import BATCH_SAMPLERS

__all__ = [
    "SAMPLER_KINDS",
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
    "all_fields",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "describe",
    "dump_toml",
    "load_config",
]

SOURCE_KINDS = ("lareqa", "table", "mmarco")
SAMPLER_KINDS = tuple(BATCH_SAMPLERS)  # the one registry of batch samplers (entry points agree)
_CONFIG_ERROR = "hbt_config"
_RUN = "run"  # validation context key: the config is for a run (model and data required)


def _error(field: str, message: str) -> PydanticCustomError:
    """A validation error whose text is ``message`` about ``field`` (relative to the failing table).

    The message travels in the context rather than the template, so braces in values are harmless.
    """
    return PydanticCustomError(_CONFIG_ERROR, "{message}", {"field": field, "message": message})


def _check(ok: Callable[[Any], bool], text: str) -> AfterValidator:
    """A value check that fails with ``must be <text>, got <value>``."""

    def check(value: Any) -> Any:
        if not ok(value):
            raise _error("", f"must be {text}, got {value}")
        return value

    return AfterValidator(check)


def _choice(choices: Sequence[str]) -> AfterValidator:
    def check(value: str) -> str:
        if value not in choices:
            raise _error("", f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    return AfterValidator(check)


Positive = _check(lambda v: v > 0 and math.isfinite(v), "> 0")
NonNegative = _check(lambda v: v >= 0, ">= 0")
Probability = _check(lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
Fraction = _check(lambda v: 0.0 <= v < 1.0, "in [0, 1)")


class _Table(BaseModel):
    """A TOML table: strict types, no unknown keys, fields documented by ``Field(description=...)``."""

    model_config = ConfigDict(extra="forbid", strict=True)


class SourceConfig(_Table):
    """One training (or validation) data source: ``[[data]]`` / ``[[validation.data]]``."""

    kind: Annotated[str, _choice(SOURCE_KINDS)] = Field(
        default="lareqa",
        description=(
            "lareqa | table | mmarco. lareqa: parallel LAReQA QA (xquad-r, mlqa-r; they are evaluation "
            "sets: smoke tests only); table: a parallel table (id, language, question, answer[, negative]) "
            "from JSONL or a HF dataset; mmarco: unicamp-dl/mmarco train triples with hard negatives"
        ),
    )
    name: str = Field(
        default="",
        description=(
            "label of the source, prefixed to its group ids so that sources never share a group; "
            "'' = '<kind><index>'"
        ),
    )
    dataset: str = Field(default="mlqa-r", description="lareqa: xquad-r or mlqa-r")
    data_dir: str = Field(
        default="",
        description=(
            "lareqa: directory laid out as <dir>/<dataset>/<lang>.json; '' = HBT_BENCH_DATA_DIR or the "
            "pinned download"
        ),
    )
    path: str = Field(
        default="",
        description=(
            "table: a JSONL file or a datasets.save_to_disk directory; mmarco: a local copy of the hub "
            "layout (data/triples.train.ids.small.tsv, data/google/queries/train/..., "
            "data/google/collections/...); '' = download from the hub (mmarco) or use hf_dataset (table)"
        ),
    )
    hf_dataset: str = Field(
        default="", description="table: hub dataset id read with datasets.load_dataset (instead of path)"
    )
    hf_config: str = Field(default="", description="table: config name of hf_dataset; '' = its default")
    split: str = Field(default="train", description="table: split of hf_dataset")
    revision: str = Field(
        default="", description="hub revision of hf_dataset (table) or of unicamp-dl/mmarco; '' = main"
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description=(
            'table: our column name -> the source\'s where they differ, e.g. { id = "qid", answer = "pos" }'
        ),
    )
    layout: str = Field(
        default="ids",
        description=(
            "mmarco: ids (the repository files: ids triples + per-language queries and collections; a "
            "group is an MS MARCO query id) or triples (the <language> configs streamed with datasets; a "
            "group is a line number)"
        ),
    )
    languages: list[str] = Field(
        default_factory=list,
        description=(
            "languages to keep (LAReQA codes; table values; mMARCO names or ISO codes); [] = all "
            "(mmarco: required)"
        ),
    )
    limit: Annotated[int, NonNegative] = Field(
        default=0, description="at most this many groups (parallel ids); 0 = all"
    )

    @model_validator(mode="after")
    def _kind_needs(self) -> SourceConfig:
        """What each kind of source needs (checked once the types are right)."""
        if self.kind == "lareqa" and self.dataset not in ("xquad-r", "mlqa-r"):
            raise _error("dataset", f"must be xquad-r or mlqa-r, got {self.dataset!r}")
        if self.kind == "table" and bool(self.path) == bool(self.hf_dataset):
            raise _error("", "(table) needs exactly one of path and hf_dataset")
        if self.kind == "mmarco":
            if not self.languages:
                raise _error("languages", 'is required for mmarco (e.g. ["english", "german"])')
            if self.layout not in ("ids", "triples"):
                raise _error("layout", f"must be ids or triples, got {self.layout!r}")
        return self


class SamplerConfig(_Table):
    """``[sampler]``: how batches are formed (paper §2.2)."""

    kind: Annotated[str, _choice(SAMPLER_KINDS)] = Field(
        default="hybrid",
        description=(
            "hybrid (mono with probability alpha, cross otherwise), xx-mono (every batch one language) "
            "or xy (query and passage languages differ in every pair)"
        ),
    )
    alpha: Annotated[float, Probability] = Field(
        default=0.5, description="hybrid: probability that a batch is X-X-mono (paper: 0.5)"
    )
    one_source_per_batch: bool = Field(
        default=True,
        description=(
            "with several [[data]] sources: every batch comes from one source, picked in proportion to "
            "its unused groups (paper: batches 'sampled based on dataset size'); false mixes sources "
            "within batches"
        ),
    )


class LossConfig(_Table):
    """``[loss]``: InfoNCE with in-batch negatives (paper Eq. 1)."""

    scale: Annotated[float, Positive] = Field(
        default=20.0, description="1 / temperature on cosine similarities (paper: not given; 20 = τ 0.05)"
    )
    in_batch: Annotated[str, _choice(IN_BATCH_MODES)] = Field(
        default="all",
        description=(
            "all: every passage of the batch is a negative (standard InfoNCE, sentence-transformers' "
            "MultipleNegativesRankingLoss); negatives_only: Eq. 1 as printed, only the batch's hard "
            "negatives (needs hard negatives)"
        ),
    )
    hard_negatives: bool = Field(
        default=True,
        description="use the sources' hard negatives when they have them (one per row, passage language)",
    )
    gather_across_devices: bool = Field(
        default=False,
        description="multi-GPU: gather embeddings from all devices, so each rank sees all negatives",
    )

    @model_validator(mode="after")
    def _eq1_needs_negatives(self) -> LossConfig:
        if self.in_batch == "negatives_only" and not self.hard_negatives:
            raise _error("in_batch", "= 'negatives_only' needs loss.hard_negatives = true")
        return self


class PromptConfig(_Table):
    """``[prompts]``: input prefixes (paper §2.1, after E5), used in training and saved with the model."""

    query: str = Field(default="Query: ", description="prefix of queries; '' = none")
    passage: str = Field(default="Passage: ", description="prefix of passages and negatives; '' = none")


class OptimConfig(_Table):
    """``[training]``: optimisation (AdamW)."""

    batch_size: Annotated[int, Positive] = Field(
        default=100, description="pairs per batch and device (paper: 100)"
    )
    learning_rate: Annotated[float, Positive] = Field(
        default=3e-5, description="AdamW learning rate (paper: 3e-5)"
    )
    weight_decay: Annotated[float, NonNegative] = Field(
        default=0.01, description="AdamW weight decay (paper: 0.01)"
    )
    epochs: Annotated[float, Positive] = Field(
        default=1.0, description="passes over the groups (unused when max_steps > 0)"
    )
    max_steps: Annotated[int, NonNegative] = Field(
        default=0, description="stop after this many optimizer steps; 0 = run the epochs"
    )
    warmup_ratio: Annotated[float, Fraction] = Field(
        default=0.0, description="share of the steps with linear warm-up"
    )
    lr_scheduler: str = Field(default="linear", description="transformers scheduler: linear, constant, ...")
    max_seq_length: Annotated[int, NonNegative] = Field(
        default=0, description="truncate inputs to this many tokens; 0 = model's"
    )
    fp16: bool = Field(default=False, description="mixed precision fp16 (GPU)")
    bf16: bool = Field(default=False, description="mixed precision bf16 (GPU)")
    logging_steps: Annotated[int, Positive] = Field(
        default=50, description="log the training loss every this many steps"
    )

    @model_validator(mode="after")
    def _one_precision(self) -> OptimConfig:
        if self.fp16 and self.bf16:
            raise _error("fp16", "and training.bf16 are exclusive")
        return self


class ValidationConfig(_Table):
    """``[validation]``: validation loss and early stopping (the paper keeps the lowest validation loss)."""

    data: list[SourceConfig] = Field(
        default_factory=list, description="validation sources ([[validation.data]]), built like [[data]]"
    )
    fraction: Annotated[float, Fraction] = Field(
        default=0.0,
        description="without validation sources: hold out this share of the training groups; 0 = none",
    )
    eval_steps: Annotated[int, Positive] = Field(
        default=500, description="compute the validation loss (and checkpoint) every this many steps"
    )
    patience: Annotated[int, NonNegative] = Field(
        default=3, description="stop after this many validations without improvement; 0 = never early"
    )
    alpha: Annotated[float, Probability] = Field(
        default=0.5,
        description=(
            "mono probability of the validation batches (fixed, so losses compare across a sweep); a "
            "validation set with only mono or only cross pairs uses just those"
        ),
    )

    @model_validator(mode="after")
    def _one_validation_set(self) -> ValidationConfig:
        if self.data and self.fraction:
            raise _error("fraction", "and validation.data are exclusive: give one of them")
        return self


class LoraSettings(_Table):
    """``[lora]``: train a LoRA adapter (PEFT) instead of all weights."""

    enabled: bool = Field(
        default=False, description="train only LoRA adapter weights; model/ has them merged, adapter/ alone"
    )
    r: Annotated[int, Positive] = Field(default=8, description="adapter rank")
    alpha: Annotated[int, Positive] = Field(default=16, description="LoRA scaling numerator (lora_alpha)")
    dropout: Annotated[float, Fraction] = Field(default=0.1, description="dropout on the adapter input")
    target_modules: list[str] = Field(
        default_factory=list,
        description='modules to adapt, e.g. ["query", "value"]; [] = PEFT\'s default for the architecture',
    )


class EvalConfig(_Table):
    """``[evaluation]``: mteb tasks scored after training (results in mteb's layout under output_dir)."""

    tasks: list[str] = Field(
        default_factory=list, description='task names, e.g. ["XQuADR", "XQuADR-Adv"]; [] = none'
    )
    languages: list[str] = Field(
        default_factory=list,
        description=(
            "restrict the LAReQA tasks to these languages (the pooled setting too; the dataset revision "
            "is tagged): smoke tests only; [] = all"
        ),
    )
    data_dir: str = Field(
        default="", description="LAReQA data directory; '' = HBT_BENCH_DATA_DIR or the pinned download"
    )
    batch_size: Annotated[int, Positive] = Field(default=64, description="encoding batch size")


class TrainConfig(_Table):
    """A whole training run (``hbt-bench train --config F``)."""

    model: str = Field(
        default="",
        description="base model: hub id, local sentence-transformers directory or package.module:factory",
    )
    output_dir: str = Field(
        default="",
        description=(
            "where the run is written (model/, config.toml, training_summary.json, results/); must not "
            "exist unless --overwrite"
        ),
    )
    seed: int = Field(default=42, description="seed of the trainer, the samplers and the hold-out")
    data: list[SourceConfig] = Field(
        default_factory=list, description="training sources ([[data]]); see sampler.one_source_per_batch"
    )
    sampler: SamplerConfig = Field(default_factory=SamplerConfig, description="batch sampling")
    loss: LossConfig = Field(default_factory=LossConfig, description="loss")
    prompts: PromptConfig = Field(default_factory=PromptConfig, description="input prefixes")
    training: OptimConfig = Field(default_factory=OptimConfig, description="optimisation")
    validation: ValidationConfig = Field(
        default_factory=ValidationConfig, description="validation loss and early stopping"
    )
    lora: LoraSettings = Field(default_factory=LoraSettings, description="LoRA adapters")
    evaluation: EvalConfig = Field(default_factory=EvalConfig, description="evaluation after training")

    @model_validator(mode="after")
    def _required(self, info: ValidationInfo) -> TrainConfig:
        """A config for a run names a model and data; ``TrainConfig()`` alone is just the defaults."""
        if not (info.context or {}).get(_RUN):
            return self
        if not self.model.strip():
            raise _error(
                "model", "is required (a hub id, a local sentence-transformers directory or module:factory)"
            )
        if not self.data:
            raise _error("data", "is required: at least one [[data]] source")
        return self


# ---------------------------------------------------------------------------------------------------
# dict <-> models, with pydantic's errors as one line that names the field and the file
# ---------------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "table"
    origin = typing.get_origin(tp)
    if origin is list:
        (arg,) = typing.get_args(tp)
        return "array of tables" if _is_table(arg) else f"list of {_type_name(arg)}"
    if origin is dict:
        return "table of strings"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _is_table(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _item_type(tp: Any) -> Any:
    """The element type of a ``list[...]`` annotation."""
    return typing.get_args(tp)[0]


def _resolve(loc: Sequence[str | int]) -> tuple[list[str | int], Any, type[BaseModel]]:
    """The part of ``loc`` that names a config field, that field's type and the table holding it.

    A location inside a ``dict[str, str]`` (``columns``) stops at the field: its type is reported whole.
    """
    table: type[BaseModel] = TrainConfig
    tp: Any = TrainConfig
    kept: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            if typing.get_origin(tp) is not list:
                break
            tp = _item_type(tp)
        elif _is_table(tp):
            table = tp
            if part not in tp.model_fields:
                kept.append(part)
                break
            tp = tp.model_fields[part].annotation
        else:
            break
        kept.append(part)
    return kept, tp, table


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _value_at(data: Any, loc: Sequence[str | int]) -> Any:
    for part in loc:
        data = data[part]
    return data


def _message(err: Any, data: Mapping[str, Any]) -> str:
    """One line for pydantic's error ``err`` on the parsed TOML ``data``."""
    loc, tp, table = _resolve(err["loc"])
    name = _dotted(loc)
    if err["type"] == "extra_forbidden":
        return f"unknown key {name!r} (valid in this table: {', '.join(table.model_fields)})"
    if err["type"] == _CONFIG_ERROR:
        field = err["ctx"]["field"]
        where = ".".join(p for p in (name, field) if p)
        return f"{where} {err['msg']}"
    value = _value_at(data, loc)
    if err["type"].endswith("_type"):  # int_type, model_type, list_type, ...: the TOML type is wrong
        shown = json.dumps(value, default=str, ensure_ascii=False)
        return f"{name} must be a {_type_name(tp)}, got {type(value).__name__} {shown[:80]}"
    return f"{name}: {err['msg']}"  # pragma: no cover - every check above raises one of ours


def config_from_dict(data: Mapping[str, Any], where: str = "config") -> TrainConfig:
    """A validated :class:`TrainConfig` from parsed TOML; ``where`` names the file in errors."""
    try:
        return TrainConfig.model_validate(data, context={_RUN: True})
    except ValidationError as exc:
        raise TrainingConfigError(f"{where}: {_message(exc.errors()[0], data)}") from None


def config_to_dict(config: BaseModel) -> dict[str, Any]:
    """Plain dict of a config (tables -> dicts), the inverse of :func:`config_from_dict`."""
    return config.model_dump()


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


def _dump(obj: BaseModel, header: str, out: list[str], array: bool = False) -> None:
    scalars, tables, arrays = [], [], []
    for name in type(obj).model_fields:
        value = getattr(obj, name)
        if isinstance(value, BaseModel):
            tables.append((name, value))
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            arrays.append((name, value))
        else:
            scalars.append((name, value))
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


def describe(cls: type[BaseModel] = TrainConfig, prefix: str = "") -> str:
    """Every field of the config with its type, default and documentation, as text (from the schema)."""
    lines: list[str] = []
    for name, f in cls.model_fields.items():
        key = f"{prefix}{name}"
        tp = f.annotation
        if _is_table(tp):
            lines.append(f"[{key}]  {f.description}")
            lines.append(describe(tp, f"{key}."))
            continue
        if typing.get_origin(tp) is list and _is_table(_item_type(tp)):
            lines.append(f"[[{key}]]  {f.description}")
            lines.append(describe(_item_type(tp), f"{key}[]."))
            continue
        default = f.get_default(call_default_factory=True)
        lines.append(f"  {key} ({_type_name(tp)}, default {_toml_value(default)}): {f.description}")
    return "\n".join(lines)


def all_fields(cls: type[BaseModel] = TrainConfig, prefix: str = "") -> list[tuple[str, FieldInfo]]:
    """``(dotted name, field)`` of every field, nested tables included (for docs and tests)."""
    out = []
    for name, f in cls.model_fields.items():
        key = f"{prefix}{name}"
        out.append((key, f))
        tp = f.annotation
        if _is_table(tp):
            out += all_fields(tp, f"{key}.")
        elif typing.get_origin(tp) is list and _is_table(_item_type(tp)):
            out += all_fields(_item_type(tp), f"{key}[].")
    return out
