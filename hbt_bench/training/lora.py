"""The model side of the recipe: the base model, its prompts, and LoRA adapters (PEFT) on and off.

:func:`add_lora` adds a fresh adapter through sentence-transformers' PEFT support after
:func:`check_peft_compatible` has made sure the installed peft is one transformers accepts;
:func:`merge_lora` folds it back so the saved model loads without PEFT. torch, transformers and
peft are imported when a function runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hbt_bench.training.errors import TrainingConfigError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["add_lora", "check_peft_compatible", "load_base_model", "merge_lora", "set_prompts"]


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
        try:
            model.max_seq_length = max_seq_length
        except AttributeError as exc:  # e.g. StaticEmbedding (builtin:static-ml): no length to set
            raise TrainingConfigError(
                f"training.max_seq_length = {max_seq_length}: model {spec!r} ({type(model[0]).__name__}) has "
                "no settable sequence length; leave it 0"
            ) from exc
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


def set_prompts(model: SentenceTransformer, query: str, passage: str) -> dict[str, str]:
    """Save the recipe's prefixes as the model's query/document prompts (evaluation picks them up)."""
    prompts = {k: v for k, v in (("query", query), ("document", passage)) if v}
    model.prompts = prompts
    model.default_prompt_name = None
    return prompts
