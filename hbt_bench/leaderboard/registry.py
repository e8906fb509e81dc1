"""The leaderboard registry: one TOML file (``leaderboard/registry.toml``), one ``[[model]]`` table per row.

Why a file of its own: a row says what a model *is* (spec or hub id, revision, languages, size, license,
training data, whether and from which config it was trained here, whether it is the hybrid baseline),
which mteb's result files do not; the board and mteb's own tables (through :func:`register`) read it.

A row's results live in a mteb ``ResultCache`` root: ``results`` names it relative to the registry's folder
(default ``"."``, i.e. ``leaderboard/results/<org>__<model>/<revision>/``), so a training sweep's own
folder (``training/minilm-mlqar``) is read where it is, without copies. ``revision`` pins which stored
revision is the row; without it the model must have exactly one.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbt_bench.atomic import write_text_atomic
from hbt_bench.errors import HbtBenchError
from hbt_bench.paths import safe_relative_path

__all__ = [
    "FIELDS",
    "Registry",
    "RegistryError",
    "Row",
    "append_row",
    "load_registry",
    "register",
    "to_model_meta",
]

#: field -> (accepted types, required). Anything else in a row is an error (a typo would be silently lost).
FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "name": ((str,), True),
    "spec": ((str,), False),
    "label": ((str,), False),
    "revision": ((str,), False),
    "results": ((str,), False),
    "languages": ((list,), False),
    "n_parameters": ((int,), False),
    "license": ((str,), False),
    "training_data": ((str,), False),
    "trained_here": ((bool,), False),
    "config": ((str,), False),
    "is_baseline": ((bool,), False),
    "group": ((str,), False),
    "description": ((str,), False),
    "reference": ((str,), False),
}


class RegistryError(HbtBenchError):
    """The registry file is missing, unreadable or has an invalid row (file and row named)."""


@dataclass(frozen=True)
class Row:
    """One registry row (see :data:`FIELDS`); ``results_root`` is the resolved ResultCache root."""

    name: str
    results_root: Path
    spec: str | None = None
    label: str | None = None
    revision: str | None = None
    languages: tuple[str, ...] = ()
    n_parameters: int | None = None
    license: str | None = None
    training_data: str | None = None
    trained_here: bool = False
    config: str | None = None
    is_baseline: bool = False
    group: str | None = None
    description: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Registry:
    path: Path
    rows: tuple[Row, ...]
    default_root: Path  # the ResultCache root of rows without ``results``; every model there must be listed

    def row(self, name: str) -> Row | None:
        return next((r for r in self.rows if r.name == name), None)

    @property
    def baseline(self) -> Row | None:
        return next((r for r in self.rows if r.is_baseline), None)


def _row(raw: Any, index: int, path: Path, default_root: Path) -> Row:
    where = f"{path}: model #{index + 1}"
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: expected a table, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise RegistryError(f"{where}: unknown field(s) {', '.join(unknown)}; valid: {', '.join(FIELDS)}")
    for key, (types, required) in FIELDS.items():
        if required and key not in raw:
            raise RegistryError(f"{where}: missing required field {key!r}")
        if key in raw and (not isinstance(raw[key], types) or (int in types and isinstance(raw[key], bool))):
            raise RegistryError(f"{where}: field {key!r} must be {types[0].__name__}, got {raw[key]!r}")
    where = f"{path}: model {raw['name']!r}"
    if not all(isinstance(x, str) for x in raw.get("languages", [])):
        raise RegistryError(f"{where}: languages must be strings such as 'eng-Latn'")
    root = default_root
    if "results" in raw:
        try:
            root = path.parent / safe_relative_path(raw["results"], f"{where}: results")
        except HbtBenchError as exc:
            raise RegistryError(str(exc)) from exc
    values = {k: v for k, v in raw.items() if k not in ("results", "languages")}
    return Row(results_root=root, languages=tuple(raw.get("languages", ())), **values)


def load_registry(path: str | Path, results_root: str | Path | None = None) -> Registry:
    """Read and check the registry; ``results_root`` (default: the registry's folder) is the ResultCache
    root of rows without ``results``."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"{path}: no registry file") from exc
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RegistryError(f"{path}: not a readable TOML registry ({exc})") from exc
    models = doc.get("model", [])
    if not isinstance(models, list):
        raise RegistryError(f"{path}: 'model' must be an array of tables ([[model]])")
    default_root = Path(results_root) if results_root is not None else path.parent
    rows = tuple(_row(raw, i, path, default_root) for i, raw in enumerate(models))
    names = [r.name for r in rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RegistryError(f"{path}: model(s) listed twice: {', '.join(dupes)}")
    baselines = [r.name for r in rows if r.is_baseline]
    if len(baselines) > 1:
        raise RegistryError(f"{path}: more than one is_baseline row: {', '.join(baselines)}")
    return Registry(path=path, rows=rows, default_root=default_root)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to the registry")


def append_row(path: str | Path, fields: Mapping[str, Any]) -> None:
    """Append a ``[[model]]`` table to the registry, atomically; existing text (comments, a user's fields)
    is kept byte for byte. Refuses a name already present or a row that would not load."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    registry = load_registry(path) if old else None
    if registry is not None and registry.row(fields["name"]) is not None:
        raise RegistryError(f"{path}: model {fields['name']!r} is already registered; edit its row by hand")
    block = "[[model]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in fields.items() if v is not None)
    new = old + ("" if not old or old.endswith("\n\n") else "\n" if old.endswith("\n") else "\n\n") + block
    _row(tomllib.loads(block)["model"][0], 0, path, path.parent)  # checked before anything is written
    write_text_atomic(path, new)


def to_model_meta(row: Row) -> Any:
    """The row as an mteb ``ModelMeta`` (loader-less: the CLI loads models through its spec)."""
    from mteb.models.model_meta import ModelMeta, ScoringFunction

    try:
        return ModelMeta(
            loader=None,
            name=row.name,
            revision=row.revision or "no_revision_available",
            release_date=None,
            languages=list(row.languages) or None,
            n_parameters=row.n_parameters,
            memory_usage_mb=None,
            max_tokens=None,
            embed_dim=None,
            license=row.license,
            open_weights=None,
            public_training_code=None,
            public_training_data=None,
            framework=[],
            reference=row.reference,
            similarity_fn_name=ScoringFunction.COSINE,
            use_instructions=False,
            training_datasets=None,
        )
    except Exception as exc:  # pydantic's validation error, e.g. a bad language code
        raise RegistryError(f"model {row.name!r}: not a valid mteb ModelMeta ({exc})") from exc


def register(registry: Registry) -> list[str]:
    """Add every row mteb does not know to ``MODEL_REGISTRY`` (as the plugin does for the built-ins), so
    ``mteb.get_model_meta(name)`` and mteb's summary tables (which inner-join on it) include them."""
    from mteb.models.model_implementations import MODEL_REGISTRY

    from hbt_bench.plugin.models import register_models

    register_models()
    added = []
    for row in registry.rows:
        if row.name not in MODEL_REGISTRY:
            MODEL_REGISTRY[row.name] = to_model_meta(row)
            added.append(row.name)
    return added
