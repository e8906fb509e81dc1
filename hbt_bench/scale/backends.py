"""Encoding backends for the store: one process, the processes/GPUs of one machine, or a Ray cluster.

Each backend is a :class:`~hbt_bench.scale.shards.ShardEncoder`: the store hands it one shard's texts and
gets one row per text back, so the shard loop, its checks and its resumption are the same whatever spreads
the work. Existing engines do the spreading, no scheduler of ours:

- :class:`LocalEncoder`: the model in this process (any ``--model`` spec);
- :class:`PoolEncoder`: sentence-transformers' multi-process pool (``start_multi_process_pool`` /
  ``encode(..., pool=...)``), one worker per device (``cuda:0``, ``cuda:1``, ... or ``cpu`` N times);
- :class:`RayEncoder`: Ray Data, ``from_items(shard).map_batches(EncoderActor, concurrency=N,
  num_gpus=G)``: N callable-class actors, each loading the model once, spread over the cluster's
  machines. Each shard is one Ray Data job, so the actors start once per shard: use large shards
  (hundreds of thousands of passages) with Ray. ``ray`` is optional and imported only here.

Models are identified as mteb does (:func:`hbt_bench.plugin.models.mteb_encoder`: name and revision, a
content fingerprint for a local directory), and documents get the model's document prompt (queries its
query prompt), as in mteb's evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hbt_bench.scale.errors import ScaleError, require

__all__ = [
    "EncoderActor",
    "LocalEncoder",
    "ModelHandle",
    "PoolEncoder",
    "RayEncoder",
    "encode_texts",
    "load_handle",
]


@dataclass
class ModelHandle:
    """A loaded model with what the store records about it."""

    model: Any  # a SentenceTransformer or a plain TextEncoder
    model_name: str
    revision: str
    spec: str | None
    prompts: dict[str, str]
    is_sentence_transformer: bool


def load_handle(spec: str, *, device: str | None = None) -> ModelHandle:
    """Load a ``--model`` spec and name it (mteb's ModelMeta name and revision)."""
    from hbt_bench.plugin.models import mteb_encoder

    wrapper = mteb_encoder(spec, device=device)
    meta = wrapper.mteb_model_meta
    model = getattr(wrapper, "model", wrapper)
    if not callable(getattr(model, "encode", None)):
        raise ScaleError(f"--model {spec!r}: {type(model).__name__} is not an encoder (a search model?)")
    prompts = {k: v for k, v in (getattr(wrapper, "model_prompts", None) or {}).items() if isinstance(v, str)}
    return ModelHandle(
        model=model,
        model_name=str(meta.name),
        revision=str(meta.revision or "no_revision_available"),
        spec=spec,
        prompts=prompts,
        is_sentence_transformer=_is_st(model),
    )


def _prompt(handle: ModelHandle, role: str) -> str:
    return handle.prompts.get(role, "")


def _is_st(model: Any) -> bool:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:  # pragma: no cover - a dependency
        return False
    return isinstance(model, SentenceTransformer)


def encode_texts(model: Any, texts: list[str], prompt: str, batch_size: int, **st_kwargs: Any) -> np.ndarray:
    """``texts`` through ``model`` with ``prompt`` prepended: ST's own ``prompt=`` (its pooling may exclude
    the prompt) or plain text for a :class:`~hbt_bench.encoders.TextEncoder`, as mteb's wrappers do."""
    if _is_st(model):
        return model.encode(
            texts,
            prompt=prompt or None,
            batch_size=batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
            **st_kwargs,
        )
    return np.asarray(model.encode([prompt + t for t in texts]))


class LocalEncoder:
    """The model in this process; ``role`` ``"document"`` (the corpus) or ``"query"``."""

    def __init__(self, handle: ModelHandle, *, role: str = "document", batch_size: int = 64) -> None:
        self.handle = handle
        self.model_name = handle.model_name
        self.revision = handle.revision
        self.spec = handle.spec
        self.prompt = _prompt(handle, role)
        self.batch_size = int(batch_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_texts(self.handle.model, texts, self.prompt, self.batch_size)

    def close(self) -> None:
        """Nothing to release (the pool and Ray backends have)."""


class PoolEncoder(LocalEncoder):
    """sentence-transformers' multi-process pool over ``devices`` (e.g. ``["cuda:0", "cuda:1"]``)."""

    def __init__(
        self, handle: ModelHandle, devices: Sequence[str], *, role: str = "document", batch_size: int = 64
    ) -> None:
        if not handle.is_sentence_transformer:
            raise ScaleError(
                f"--processes/--devices need a sentence-transformers model; {handle.spec!r} is a "
                f"{type(handle.model).__name__} (run it in one process, or use --ray-address)"
            )
        if not devices:
            raise ScaleError("--processes/--devices: at least one device is needed")
        super().__init__(handle, role=role, batch_size=batch_size)
        self.devices = list(devices)
        self.pool = handle.model.start_multi_process_pool(target_devices=self.devices)

    def encode(self, texts: list[str]) -> np.ndarray:
        return encode_texts(self.handle.model, texts, self.prompt, self.batch_size, pool=self.pool)

    def close(self) -> None:
        self.handle.model.stop_multi_process_pool(self.pool)


class EncoderActor:
    """A Ray Data callable-class actor: loads the model once, then encodes batches ``{"pos", "text"}``.

    It loads the spec with :func:`hbt_bench.encoders.load_model` (no mteb import in the workers); the
    driver resolved the name, revision and ``prompt``.
    """

    def __init__(self, spec: str, prompt: str, batch_size: int, device: str | None) -> None:
        from hbt_bench.encoders import load_model

        self.model = load_model(spec, device=device)
        self.prompt, self.batch_size = prompt, batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        emb = np.asarray(encode_texts(self.model, texts, self.prompt, self.batch_size), dtype=np.float32)
        return {"pos": np.asarray(batch["pos"], dtype=np.int64), "emb": emb}


class RayEncoder:
    """Each shard through Ray Data with ``concurrency`` :class:`EncoderActor` actors (``num_gpus`` each).

    ``address``: an existing cluster (``ray://host:10001`` or ``auto``); ``None`` uses the Ray instance
    this process already started or starts a local one. The driver loads the model once too, on CPU, to
    name it (name and revision go into the manifest).
    """

    def __init__(
        self,
        spec: str,
        *,
        address: str | None = None,
        concurrency: int = 1,
        num_gpus: float = 0.0,
        role: str = "document",
        batch_size: int = 64,
        device: str | None = None,
    ) -> None:
        ray = require("ray", "--ray-address (encoding on a Ray cluster)")
        require("ray.data", "--ray-address (encoding on a Ray cluster)")
        if concurrency < 1:
            raise ScaleError(f"--ray-concurrency must be >= 1, got {concurrency}")
        handle = load_handle(spec, device="cpu" if num_gpus else device)
        self.model_name, self.revision, self.spec = handle.model_name, handle.revision, spec
        self.prompt = _prompt(handle, role)
        del handle
        if not ray.is_initialized():  # type: ignore[attr-defined]
            ray.init(address=address, include_dashboard=False)  # type: ignore[attr-defined]
        self.concurrency, self.num_gpus, self.batch_size = int(concurrency), float(num_gpus), int(batch_size)
        self._kwargs = {"spec": spec, "prompt": self.prompt, "batch_size": self.batch_size, "device": device}

    def encode(self, texts: list[str]) -> np.ndarray:
        import ray.data

        ds = ray.data.from_items([{"pos": i, "text": t} for i, t in enumerate(texts)])
        ds = ds.map_batches(
            EncoderActor,
            fn_constructor_kwargs=self._kwargs,
            concurrency=self.concurrency,
            num_gpus=self.num_gpus or None,
            batch_size=self.batch_size,
            batch_format="numpy",
        )
        out: np.ndarray | None = None
        seen = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            emb = np.asarray(batch["emb"], dtype=np.float32)
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[batch["pos"]] = emb
            seen += emb.shape[0]
        if out is None or seen != len(texts):
            raise ScaleError(f"Ray returned {seen} embeddings for {len(texts)} texts")
        return out

    def close(self) -> None:
        """The Ray instance stays up (it may be the caller's); ``ray.shutdown()`` is theirs to call."""
