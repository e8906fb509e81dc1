"""The hybrid batch training recipe (arXiv 2408.10536): data, model, sampler, loss, trainer, atomic output.

:func:`train` runs one :class:`~hbt_bench.training.config.TrainConfig` with sentence-transformers'
``SentenceTransformerTrainer``: pairs from the configured sources (text columns to the trainer, metadata
to the sampler), ``MultipleNegativesRankingLoss`` (or the Eq. 1 variant), the "Query: " / "Passage: "
prompts, AdamW, and early stopping on the validation loss when a validation set is configured (the
checkpoint with the lowest validation loss is the one saved). The run directory is written atomically::

    <output_dir>/model/                  the sentence-transformers model (LoRA merged), prompts in its config
    <output_dir>/adapter/                with [lora]: the adapter alone (PEFT format, needs the base model)
    <output_dir>/config.toml             the resolved config (hbt-bench train --config reads it back)
    <output_dir>/training_summary.json   steps, losses, batch types, timings, versions, evaluation summary
    <output_dir>/results/                with [evaluation]: mteb results (ResultCache layout: the folder
                                         is a cache root, files under results/<model>/<revision>/)

Everything is first written to ``.<name>.partial`` next to it and renamed at the end, so a failed or
interrupted run leaves no half-written ``output_dir``.

Several GPUs: the trainer runs unchanged under ``torchrun`` or ``accelerate launch``::

    torchrun --nproc_per_node 4 -m hbt_bench.cli train --config train.toml
    accelerate launch --num_processes 4 -m hbt_bench.cli train --config train.toml

``training.batch_size`` is then per device (the sampler builds one block of ``world_size`` batches of a
single type per optimizer step, so the ranks of a step agree on mono/cross and see distinct groups),
``dataloader_drop_last`` is switched on (a short last block would give ranks different batch types), only
rank 0 writes files, and ``loss.gather_across_devices = true`` makes every rank's queries see all ranks'
passages as negatives (one global batch of ``world_size * batch_size``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hbt_bench.training.config import SourceConfig, TrainConfig, dump_toml
from hbt_bench.training.errors import TrainingConfigError, TrainingDataError
from hbt_bench.training.pairs import NEGATIVE, SOURCE, has_negatives, text_view

if TYPE_CHECKING:
    import datasets
    from sentence_transformers import SentenceTransformer

__all__ = [
    "SamplerRouter",
    "TrainingData",
    "add_lora",
    "build_pairs",
    "build_source",
    "build_training_data",
    "load_base_model",
    "merge_lora",
    "train",
]

SUMMARY_FILE = "training_summary.json"
CONFIG_FILE = "config.toml"
MODEL_DIR = "model"
ADAPTER_DIR = "adapter"
RESULTS_DIR = "results"

Log = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------


def _limit_groups(pairs: datasets.Dataset, limit: int) -> datasets.Dataset:
    """The rows of the first ``limit`` groups in row order (builders order rows by group)."""
    if not limit:
        return pairs
    from hbt_bench.training.samplers import _column

    groups = _column(pairs, "group").astype(object)
    _, first = np.unique(groups, return_index=True)
    keep = set(groups[np.sort(first)[:limit]].tolist())
    return pairs.select(np.flatnonzero([g in keep for g in groups])).flatten_indices()


def build_source(src: SourceConfig, label: str) -> datasets.Dataset:
    """The pairs of one configured source; errors are prefixed with the source's label."""
    from hbt_bench.training.pairs import parallel_pairs
    from hbt_bench.training.sources import (
        load_mmarco_triples,
        mmarco_pairs,
        mmarco_triples_pairs,
    )

    langs = list(src.languages) or None
    try:
        if src.kind == "lareqa":
            from hbt_bench.data.lareqa import load_lareqa

            corpus = load_lareqa(src.dataset, langs, data_dir=src.data_dir or None)
            return _limit_groups(parallel_pairs(corpus), src.limit)
        if src.kind == "table":
            return _limit_groups(_table_source(src, langs, label), src.limit)
        if src.layout == "triples":
            streams = load_mmarco_triples(src.languages, revision=src.revision or None)
            return mmarco_triples_pairs(streams, limit=src.limit or None)
        return mmarco_pairs(
            src.languages, root=src.path or None, revision=src.revision or None, limit=src.limit or None
        )
    except (TrainingDataError, TrainingConfigError):
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingDataError(f"{label}: {exc}") from exc


def _table_source(src: SourceConfig, langs: list[str] | None, label: str) -> datasets.Dataset:
    from hbt_bench.training.sources import table_pairs

    if src.hf_dataset:
        import datasets

        try:
            ds = datasets.load_dataset(
                src.hf_dataset, src.hf_config or None, split=src.split, revision=src.revision or None
            )
        except Exception as exc:
            raise TrainingDataError(
                f"{label}: cannot load hub dataset {src.hf_dataset!r} ({type(exc).__name__}: {exc})"
            ) from exc
        return table_pairs(ds, columns=src.columns, languages=langs, name=f"{label} ({src.hf_dataset})")
    path = Path(src.path)
    if path.is_dir():
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as exc:
            raise TrainingDataError(
                f"{label}: {path} is not a datasets.save_to_disk directory: {exc}"
            ) from exc
        if isinstance(ds, datasets.DatasetDict):
            if src.split not in ds:
                raise TrainingDataError(f"{label}: {path} has no split {src.split!r} (has {', '.join(ds)})")
            ds = ds[src.split]
        return table_pairs(ds, columns=src.columns, languages=langs, name=str(path))
    return table_pairs(path, columns=src.columns, languages=langs)


def _prefix_groups(pairs: datasets.Dataset, prefix: str) -> datasets.Dataset:
    """Group ids prefixed by the source name, plus a ``source`` column (the sampler's unit of choice)."""
    return pairs.map(
        lambda batch: {
            "group": [f"{prefix}:{g}" for g in batch["group"]],
            SOURCE: [prefix] * len(batch["group"]),
        },
        batched=True,
        desc=None,
        load_from_cache_file=False,
    )


def build_pairs(
    sources: Sequence[SourceConfig], *, hard_negatives: bool, what: str = "data"
) -> datasets.Dataset:
    """The concatenated pairs of ``sources`` (with several: group ids prefixed by source name and a
    ``source`` column, so the sampler can draw each batch from one source).

    Hard negatives are kept when ``hard_negatives`` and every source has them; sources that disagree
    are an error unless ``hard_negatives`` is false (then all negatives are dropped).
    """
    import datasets

    parts, labels = [], []
    for i, src in enumerate(sources):
        label = f"{what}[{i}] ({src.name or src.kind + str(i)})"
        pairs = build_source(src, label)
        if len(pairs) == 0:
            raise TrainingDataError(f"{label}: no pairs")
        parts.append(pairs)
        labels.append(label)
    with_neg = [has_negatives(p) for p in parts]
    if hard_negatives and any(with_neg) and not all(with_neg):
        have = ", ".join(lbl for lbl, n in zip(labels, with_neg, strict=True) if n)
        lack = ", ".join(lbl for lbl, n in zip(labels, with_neg, strict=True) if not n)
        raise TrainingConfigError(
            f"{what}: {have} have hard negatives but {lack} do not; use sources of one kind or set "
            "loss.hard_negatives = false"
        )
    if not hard_negatives:
        parts = [p.remove_columns([NEGATIVE]) if has_negatives(p) else p for p in parts]
    if len(parts) > 1:
        names = [src.name or f"{src.kind}{i}" for i, src in enumerate(sources)]
        if len(set(names)) < len(names):
            raise TrainingConfigError(f"{what}: two sources share the name in {names}; give each a name")
        parts = [_prefix_groups(p, name) for p, name in zip(parts, names, strict=True)]
        return datasets.concatenate_datasets(parts)
    return parts[0]


def _split_holdout(
    pairs: datasets.Dataset, fraction: float, seed: int
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Hold out ``fraction`` of the groups (at least one), chosen by ``seed``."""
    from hbt_bench.training.samplers import _column

    groups = _column(pairs, "group").astype(str)
    uniq = np.unique(groups)
    if len(uniq) < 2:
        raise TrainingDataError("validation.fraction: the training data has fewer than 2 groups to split")
    n_val = min(len(uniq) - 1, max(1, round(fraction * len(uniq))))
    held = uniq[np.random.default_rng([int(seed) & 0xFFFFFFFF, 1]).permutation(len(uniq))[:n_val]]
    is_val = np.isin(groups, held)
    train, val = pairs.select(np.flatnonzero(~is_val)), pairs.select(np.flatnonzero(is_val))
    return train.flatten_indices(), val.flatten_indices()


@dataclass
class TrainingData:
    """Training and validation pairs with their metadata (``group``, ``query_lang``, ``passage_lang``)."""

    train: datasets.Dataset
    validation: datasets.Dataset | None

    def stats(self) -> dict[str, Any]:
        def one(ds: datasets.Dataset | None) -> dict[str, Any] | None:
            if ds is None:
                return None
            q = np.asarray(ds["query_lang"])
            p = np.asarray(ds["passage_lang"])
            return {
                "rows": len(ds),
                "groups": len(set(ds["group"])),
                "mono_rows": int((q == p).sum()),
                "cross_rows": int((q != p).sum()),
                "languages": sorted(set(q.tolist()) | set(p.tolist())),
                "hard_negatives": has_negatives(ds),
            }

        return {"train": one(self.train), "validation": one(self.validation)}


def build_training_data(config: TrainConfig) -> TrainingData:
    """Pairs for training and validation, as configured."""
    hard = config.loss.hard_negatives
    train_pairs = build_pairs(config.data, hard_negatives=hard, what="data")
    validation = None
    if config.validation.data:
        validation = build_pairs(config.validation.data, hard_negatives=hard, what="validation.data")
        if has_negatives(validation) != has_negatives(train_pairs):
            raise TrainingConfigError(
                "validation.data and data disagree on hard negatives; use sources of one kind or set "
                "loss.hard_negatives = false"
            )
    elif config.validation.fraction:
        train_pairs, validation = _split_holdout(train_pairs, config.validation.fraction, config.seed)
    if config.loss.in_batch == "negatives_only" and not has_negatives(train_pairs):
        raise TrainingConfigError("loss.in_batch = 'negatives_only' needs sources with hard negatives")
    return TrainingData(train_pairs, validation)


# ---------------------------------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------------------------------


def _sampler_factory(
    pairs: datasets.Dataset, kind: str, alpha: float, what: str, *, seed: int, one_source: bool = True
) -> Any:
    """A factory for ``pairs`` after checking it has the rows ``kind``/``alpha`` draw from.

    ``seed`` is fixed in the factory (sentence-transformers 6.0 passes none to batch samplers);
    ``one_source``: with a ``source`` column (several sources), every batch comes from one source.
    """
    from hbt_bench.training.samplers import HybridSamplerFactory, XXMonoBatchSampler, XYBatchSampler

    q = np.asarray(pairs["query_lang"])
    p = np.asarray(pairs["passage_lang"])
    has_mono, has_cross = bool((q == p).any()), bool((q != p).any())
    needs_mono = kind == "xx-mono" or (kind == "hybrid" and alpha > 0)
    needs_cross = kind == "xy" or (kind == "hybrid" and alpha < 1)
    if needs_mono and not has_mono:
        raise TrainingDataError(
            f"{what}: sampler {kind} (alpha {alpha}) needs monolingual pairs, there are none"
        )
    if needs_cross and not has_cross:
        raise TrainingDataError(
            f"{what}: sampler {kind} (alpha {alpha}) needs cross-lingual pairs, but every group has one "
            'language; use sampler.kind = "xx-mono" or parallel data'
        )
    cls = {"hybrid": None, "xx-mono": XXMonoBatchSampler, "xy": XYBatchSampler}[kind]
    options = {"metadata": pairs, "source_column": SOURCE if one_source else None, "seed": seed}
    if cls is None:
        return HybridSamplerFactory(alpha, **options)
    return HybridSamplerFactory(alpha, cls=cls, **options)


def _validation_factory(pairs: datasets.Dataset, alpha: float, seed: int) -> Any:
    """Validation batches: ``alpha`` mono share, or only the type the validation set has."""
    q = np.asarray(pairs["query_lang"])
    p = np.asarray(pairs["passage_lang"])
    if not (q != p).any():
        alpha = 1.0
    elif not (q == p).any():
        alpha = 0.0
    return _sampler_factory(pairs, "hybrid", alpha, "validation", seed=seed)


class SamplerRouter:
    """``batch_sampler`` for the trainer: the training factory for the train set, another for the eval set.

    sentence-transformers builds the eval dataloader through the same ``batch_sampler`` argument; each
    dataset needs the sampler whose ``metadata`` is aligned with it, matched by identity or fingerprint.
    Eval batches never drop a short last block: a small validation set would otherwise give a rank no
    batch at all (accelerate evens out eval batches across ranks itself).
    """

    def __init__(
        self, train: tuple[datasets.Dataset, Any], evaluation: tuple[datasets.Dataset, Any] | None
    ) -> None:
        self.train = train
        self.evaluation = evaluation

    @staticmethod
    def _matches(dataset: datasets.Dataset, ds: datasets.Dataset) -> bool:
        return dataset is ds or getattr(dataset, "_fingerprint", None) == getattr(ds, "_fingerprint", "")

    def __call__(self, dataset: datasets.Dataset, **kwargs: Any) -> Any:
        if self._matches(dataset, self.train[0]):
            return self.train[1](dataset, **kwargs)
        if self.evaluation is not None and self._matches(dataset, self.evaluation[0]):
            return self.evaluation[1](dataset, **{**kwargs, "drop_last": False})
        raise ValueError(f"no batch sampler for a dataset of {len(dataset)} rows (not the train or eval set)")

    def __repr__(self) -> str:  # appears in the serialised training arguments
        routes = [self.train] + ([self.evaluation] if self.evaluation is not None else [])
        return f"SamplerRouter({', '.join(repr(f) for _, f in routes)})"


# ---------------------------------------------------------------------------------------------------
# model and adapters
# ---------------------------------------------------------------------------------------------------


def load_base_model(spec: str, *, max_seq_length: int = 0) -> SentenceTransformer:
    """The base model from a ``--model``-style spec; it must be a sentence-transformers model."""
    from sentence_transformers import SentenceTransformer

    from hbt_bench.encoders import load_model

    model = load_model(spec)
    if not isinstance(model, SentenceTransformer):
        raise TrainingConfigError(
            f"model {spec!r} resolves to {type(model).__name__}, which cannot be trained; give a hub id or a "
            "sentence-transformers directory"
        )
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model


def check_peft_compatible() -> None:
    """Fail early, naming both packages, when the installed peft is older than transformers requires.

    transformers raises a bare "The version of PEFT you are using is not compatible" deep inside
    ``add_adapter``; a new transformers release can demand a peft that is not out yet (5.24 wants 0.22).
    """
    from importlib.metadata import version

    from packaging.version import Version

    try:
        from transformers.integrations.peft import MIN_PEFT_VERSION
    except ImportError:  # moved or renamed in a later transformers: let add_adapter decide
        return
    have = version("peft")
    if Version(have) < Version(MIN_PEFT_VERSION):
        raise TrainingConfigError(
            f"lora: transformers {version('transformers')} requires peft >= {MIN_PEFT_VERSION}, "
            f"but peft {have} is installed; install a pair that agrees (the tested pair is pinned in "
            "requirements/lock.txt: `make setup`, or pip install -r requirements/lock.txt)"
        )


def add_lora(
    model: SentenceTransformer, *, r: int, alpha: int, dropout: float, target_modules: Sequence[str]
) -> int:
    """Add a fresh LoRA adapter through sentence-transformers' PEFT support; returns trainable params.

    PEFT freezes every base weight; only the adapter's A/B matrices train.
    """
    try:
        from peft import LoraConfig
    except ImportError as exc:
        raise TrainingConfigError('[lora] needs the "peft" package: pip install "hbt-bench[train]"') from exc
    check_peft_compatible()
    config = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules) or None, bias="none"
    )
    try:
        model.add_adapter(config)
    except ValueError as exc:
        raise TrainingConfigError(f"lora: cannot add an adapter to this model: {exc}") from exc
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n_trainable == 0:
        raise TrainingConfigError(
            f"lora.target_modules {list(target_modules)} matched no module of the model"
        )
    return n_trainable


def merge_lora(model: SentenceTransformer) -> int:
    """Fold the LoRA weights into the base layers and drop the adapter; returns the merged layers.

    The result is a plain transformers model, so the saved directory loads anywhere (mteb, our tasks,
    other libraries) without PEFT or the base checkpoint.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    backbone = model.transformers_model
    merged = 0
    for name, module in list(backbone.named_modules()):
        if isinstance(module, BaseTunerLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = backbone.get_submodule(parent_name) if parent_name else backbone
            setattr(parent, child, module.get_base_layer())
            merged += 1
    if getattr(backbone, "_hf_peft_config_loaded", False):
        backbone._hf_peft_config_loaded = False
        if hasattr(backbone, "peft_config"):
            del backbone.peft_config
    for p in model.parameters():
        p.requires_grad_(True)
    return merged


def _set_prompts(model: SentenceTransformer, query: str, passage: str) -> dict[str, str]:
    """Save the recipe's prefixes as the model's query/document prompts (evaluation picks them up)."""
    prompts = {k: v for k, v in (("query", query), ("document", passage)) if v}
    model.prompts = prompts
    model.default_prompt_name = None
    return prompts


# ---------------------------------------------------------------------------------------------------
# output directory
# ---------------------------------------------------------------------------------------------------


def staging_dir(output_dir: Path) -> Path:
    """Where a run is written before the final rename (the same path on every rank)."""
    return output_dir.parent / f".{output_dir.name}.partial"


def _finalize(staging: Path, output_dir: Path, overwrite: bool) -> None:
    """Replace ``output_dir`` by ``staging`` (the old one moved aside first, then deleted)."""
    old = None
    if output_dir.exists():
        if not overwrite:
            raise TrainingConfigError(f"output_dir {output_dir} appeared during training; left {staging}")
        old = output_dir.parent / f".{output_dir.name}.old"
        if old.exists():
            shutil.rmtree(old)
        os.replace(output_dir, old)
    os.replace(staging, output_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_output_dir(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and not overwrite:
        raise TrainingConfigError(f"output_dir {output_dir} exists; choose another or pass --overwrite")
    if output_dir.exists() and not output_dir.is_dir():
        raise TrainingConfigError(f"output_dir {output_dir} exists and is not a directory")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("hbt-bench", "torch", "sentence-transformers", "transformers", "accelerate", "peft", "mteb"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


# ---------------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------------


def _has_accelerator() -> bool:
    import torch

    if torch.cuda.is_available():
        return True
    xpu = getattr(torch, "xpu", None)
    if xpu is not None and xpu.is_available():
        return True
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _check_batches(factory: Any, train_text: datasets.Dataset, config: TrainConfig, world_size: int) -> None:
    """Fail early, with numbers, when the training pairs cannot fill a single optimizer step."""
    from hbt_bench.training.samplers import HybridBatchSampler

    alpha = {"alpha": factory.alpha} if factory.cls is HybridBatchSampler else {}
    probe = factory.cls(
        train_text,
        batch_size=config.training.batch_size,
        drop_last=world_size > 1,
        world_size=world_size,
        **alpha,
        **factory.options,  # seed included
    )
    if len(probe) == 0:
        raise TrainingDataError(
            f"data: {len(probe.group_ids)} groups cannot fill one step of {world_size} x "
            f"{config.training.batch_size} pairs of one batch type; use more data or a smaller batch_size"
        )


def _training_args(config: TrainConfig, checkpoints: Path, router: SamplerRouter, has_val: bool) -> Any:
    from sentence_transformers import SentenceTransformerTrainingArguments

    t, v = config.training, config.validation
    prompts = {
        "query": config.prompts.query,
        "passage": config.prompts.passage,
        NEGATIVE: config.prompts.passage,
    }
    kwargs: dict[str, Any] = {
        "output_dir": str(checkpoints),
        "per_device_train_batch_size": t.batch_size,
        "per_device_eval_batch_size": t.batch_size,
        "learning_rate": t.learning_rate,
        "weight_decay": t.weight_decay,
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps if t.max_steps > 0 else -1,
        "warmup_steps": t.warmup_ratio,  # a float in [0, 1) is a share of the steps
        "lr_scheduler_type": t.lr_scheduler,
        "fp16": t.fp16,
        "bf16": t.bf16,
        "seed": config.seed,
        "data_seed": config.seed,
        "logging_steps": t.logging_steps,
        "report_to": "none",
        "disable_tqdm": True,
        "batch_sampler": router,
        "prompts": {k: p for k, p in prompts.items() if p} or None,
        "save_strategy": "no",
        "eval_strategy": "no",
        # Without a GPU, say so: accelerate then runs torchrun's processes as multi-CPU DDP (gloo)
        # instead of as independent single processes.
        "use_cpu": not _has_accelerator(),
    }
    if has_val:
        kwargs.update(
            eval_strategy="steps",
            eval_steps=v.eval_steps,
            save_strategy="steps",
            save_steps=v.eval_steps,
            save_total_limit=2,  # the best and the latest
            save_only_model=True,
            load_best_model_at_end=True,
            metric_for_best_model="eval_loss",
            greater_is_better=False,
        )
    try:
        return SentenceTransformerTrainingArguments(**kwargs)
    except ValueError as exc:
        raise TrainingConfigError(f"training arguments: {exc}") from exc


def train(config: TrainConfig, *, overwrite: bool = False, log: Log | None = None) -> dict[str, Any]:
    """Run the recipe and write ``config.output_dir``; returns the training summary (also on every rank).

    ``log`` receives progress lines; without it the run is quiet (no per-step loss lines either).
    """
    quiet = log is None
    log = log or (lambda msg: None)
    if not config.output_dir:
        raise TrainingConfigError("output_dir is required (in the config or with --set output_dir=...)")
    output_dir = Path(config.output_dir).expanduser().resolve()
    _check_output_dir(output_dir, overwrite)
    started = time.perf_counter()

    import transformers
    from accelerate import PartialState
    from sentence_transformers import SentenceTransformerTrainer

    from hbt_bench.training.losses import build_loss

    data = build_training_data(config)
    stats = data.stats()
    log(
        f"training pairs: {stats['train']['rows']} rows, {stats['train']['groups']} groups, languages "
        f"{', '.join(stats['train']['languages'])}; validation: "
        + (f"{stats['validation']['rows']} rows" if data.validation is not None else "none")
    )
    train_text = text_view(data.train)
    eval_text = text_view(data.validation) if data.validation is not None else None
    train_factory = _sampler_factory(
        data.train,
        config.sampler.kind,
        config.sampler.alpha,
        "data",
        seed=config.seed,
        one_source=config.sampler.one_source_per_batch,
    )
    eval_route = None
    if data.validation is not None:
        eval_route = (eval_text, _validation_factory(data.validation, config.validation.alpha, config.seed))
    router = SamplerRouter((train_text, train_factory), eval_route)

    staging = staging_dir(output_dir)
    args = _training_args(config, staging / "checkpoints", router, data.validation is not None)
    state = PartialState()
    world_size = args.world_size
    if world_size > 1:
        args.dataloader_drop_last = True  # every rank's last block must be full (see samplers.py)
    _check_batches(train_factory, train_text, config, world_size)
    if state.is_main_process and staging.exists():
        shutil.rmtree(staging)  # a previous run of ours that died
    state.wait_for_everyone()

    try:
        transformers.set_seed(config.seed)  # model-side randomness (LoRA init, dropout) from the seed
        model = load_base_model(config.model, max_seq_length=config.training.max_seq_length)
        n_params = sum(p.numel() for p in model.parameters())
        n_trainable = n_params
        if config.lora.enabled:
            lora = config.lora
            n_trainable = add_lora(
                model, r=lora.r, alpha=lora.alpha, dropout=lora.dropout, target_modules=lora.target_modules
            )
        loss = build_loss(
            model,
            in_batch=config.loss.in_batch,
            scale=config.loss.scale,
            gather_across_devices=config.loss.gather_across_devices,
        )
        callbacks = []
        if data.validation is not None and config.validation.patience > 0:
            callbacks.append(
                transformers.EarlyStoppingCallback(early_stopping_patience=config.validation.patience)
            )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=train_text,
            eval_dataset=eval_text,
            loss=loss,
            callbacks=callbacks,
        )
        if quiet:  # no per-step loss dicts on stdout
            trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        log(
            f"training {config.model} ({n_trainable:,} of {n_params:,} parameters trainable) with sampler "
            f"{config.sampler.kind} alpha={config.sampler.alpha}, batch {config.training.batch_size} x "
            f"{world_size} device(s)"
        )
        train_start = time.perf_counter()
        output = trainer.train()
        train_seconds = time.perf_counter() - train_start
        summary = _summary(config, trainer, train_factory, stats, output, world_size, n_params, n_trainable)
        summary["train_seconds"] = round(train_seconds, 3)
        if state.is_main_process:
            _write_run(config, model, staging, summary, log)
            summary["seconds"] = round(time.perf_counter() - started, 3)
            (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            _finalize(staging, output_dir, overwrite)
            log(f"wrote {output_dir}")
        state.wait_for_everyone()
        return summary
    except BaseException:
        if state.is_main_process and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_run(
    config: TrainConfig, model: SentenceTransformer, staging: Path, summary: dict, log: Log
) -> None:
    """Model (+ adapter), resolved config and evaluation results into the staging directory (rank 0)."""
    shutil.rmtree(staging / "checkpoints", ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    summary["prompts"] = _set_prompts(model, config.prompts.query, config.prompts.passage)
    if config.lora.enabled:
        model.save(str(staging / ADAPTER_DIR))
        summary["lora_merged_layers"] = merge_lora(model)
    model.save(str(staging / MODEL_DIR))
    (staging / CONFIG_FILE).write_text(dump_toml(config), encoding="utf-8")
    if config.evaluation.tasks:
        from hbt_bench.training.evaluation import evaluate_model

        name = f"local/{Path(config.output_dir).name}"
        summary["evaluation"] = evaluate_model(
            staging / MODEL_DIR, config.evaluation, results_folder=staging, model_name=name, log=log
        )


def _summary(
    config: TrainConfig,
    trainer: Any,
    factory: Any,
    stats: dict[str, Any],
    output: Any,
    world_size: int,
    n_params: int,
    n_trainable: int,
) -> dict[str, Any]:
    state = trainer.state
    sampler = factory.samplers[-1] if factory.samplers else None
    planned = trainer.args.max_steps if trainer.args.max_steps > 0 else None
    history = [
        {k: v for k, v in entry.items() if k in ("step", "epoch", "loss", "eval_loss", "learning_rate")}
        for entry in state.log_history
    ]
    best_step = None
    if state.best_model_checkpoint:
        best_step = int(str(state.best_model_checkpoint).rsplit("-", 1)[-1])
    return {
        "model": config.model,
        "output_dir": config.output_dir,
        "sampler": {"kind": config.sampler.kind, "alpha": config.sampler.alpha},
        "data": stats,
        "steps": state.global_step,
        "epochs": state.epoch,
        "max_steps": planned,
        "stopped_early": bool(
            state.best_model_checkpoint is not None and state.global_step < state.max_steps
        ),
        "train_loss": getattr(output, "training_loss", None),
        "train_runtime_s": (getattr(output, "metrics", None) or {}).get("train_runtime"),
        "best_eval_loss": state.best_metric,
        "best_step": best_step,
        "log_history": history,
        "batches_per_epoch": len(sampler) if sampler is not None else None,
        # What the trainer's sampler really used (seed and epoch are the whole of a batch plan).
        "sampler_seed": int(sampler.seed) if sampler is not None else None,
        "sampler_last_epoch": int(sampler.epoch) if sampler is not None else None,
        "batch_types_last_epoch": dict(Counter(sampler.batch_types)) if sampler is not None else None,
        "batch_sources_last_epoch": (
            dict(Counter(sampler.batch_sources)) if sampler is not None and len(sampler.sources) > 1 else None
        ),
        "world_size": world_size,
        "parameters": n_params,
        "trainable_parameters": n_trainable,
        "lora": config.lora.enabled,
        "versions": _versions(),
    }
