"""The hybrid batch training recipe (arXiv 2408.10536): the trainer call that ties data, model and run folder.

:func:`train` runs one :class:`~hbt_bench.training.config.TrainConfig` with sentence-transformers'
``SentenceTransformerTrainer``: pairs from the configured sources (:mod:`~hbt_bench.training.data`; text
columns to the trainer, metadata to the sampler), the sampler registered for ``sampler.kind``
(:mod:`~hbt_bench.training.registry`), ``MultipleNegativesRankingLoss`` (or the Eq. 1 variant), the
"Query: " / "Passage: " prompts, AdamW, and early stopping on the validation loss when a validation set
is configured (the checkpoint with the lowest validation loss is the one saved). The model side (base
model, LoRA) is :mod:`~hbt_bench.training.lora`; the run directory, written atomically, is
:mod:`~hbt_bench.training.rundir`.

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

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hbt_bench.training.config import TrainConfig
from hbt_bench.training.data import build_training_data, languages_of
from hbt_bench.training.errors import TrainingConfigError, TrainingDataError
from hbt_bench.training.lora import add_lora, load_base_model
from hbt_bench.training.pairs import NEGATIVE, SOURCE, text_view
from hbt_bench.training.rundir import (
    check_output_dir,
    finalize,
    staging_dir,
    training_summary,
    write_run,
    write_summary,
)

if TYPE_CHECKING:
    import datasets

__all__ = ["SamplerRouter", "train"]

Log = Callable[[str], None]


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
    from hbt_bench.training.registry import batch_sampler
    from hbt_bench.training.samplers import HybridSamplerFactory

    q, p = languages_of(pairs)
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
    options = {"metadata": pairs, "source_column": SOURCE if one_source else None, "seed": seed}
    return HybridSamplerFactory(alpha, cls=batch_sampler(kind), **options)


def _validation_factory(pairs: datasets.Dataset, alpha: float, seed: int) -> Any:
    """Validation batches: ``alpha`` mono share, or only the type the validation set has."""
    q, p = languages_of(pairs)
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
    check_output_dir(output_dir, overwrite)
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
        summary = training_summary(
            config, trainer, train_factory, stats, output, world_size, n_params, n_trainable
        )
        summary["train_seconds"] = round(train_seconds, 3)
        if state.is_main_process:
            write_run(config, model, staging, summary, log)
            summary["seconds"] = round(time.perf_counter() - started, 3)
            write_summary(staging, summary)
            finalize(staging, output_dir, overwrite)
            log(f"wrote {output_dir}")
        state.wait_for_everyone()
        return summary
    except BaseException:
        if state.is_main_process and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        raise
