"""Peak memory of the scale path: encoding into shards, then building the exact FAISS index.

For each corpus size N, a synthetic JSONL corpus is written, then two child processes run (a fresh
process per phase, so ``ru_maxrss`` is that phase's own peak):

- ``encode``: ``hbt_bench.scale.shards.encode_corpus`` with a cheap deterministic hashing encoder
  (dim 384: each text's blake2b digest expanded by murmur3's fmix64; no model), ``--shard-size``
  passages per shard;
- ``index``: ``build_index`` (``IndexFlatIP``, added shard by shard) plus a 100-query search.

The claim checked: peak RSS does not grow with N beyond the index itself (``N x dim x 4`` bytes), i.e.
``encode`` peak is flat in N and ``index`` peak minus the index bytes is flat in N. A baseline child
(imports only) is measured too.

    .venv/bin/python benchmarks/bench_scale_memory.py --sizes 100000 1000000 [--dim 384] [--shard-size 10000]

Writes one JSON line per (N, phase) to stdout; temporary files go under ``--workdir`` (default: a temp
folder, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class HashStubEncoder:
    """Deterministic, model-free: row i depends only on text i (so any shard split gives the same rows)."""

    model_name = "bench/hash-stub"
    revision = "1"
    spec = None
    prompt = ""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.cols = np.arange(1, dim + 1, dtype=np.uint64) * _GOLDEN

    def encode(self, texts: list[str]) -> np.ndarray:
        import hashlib

        from hbt_bench.encoders import _fmix64

        h = np.fromiter(
            (int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for t in texts),
            dtype=np.uint64,
            count=len(texts),
        )
        bits = _fmix64(h[:, None] ^ self.cols[None, :])
        return ((bits >> np.uint64(40)).astype(np.float32) / np.float32(1 << 23)) - np.float32(1.0)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _child(phase: str, work: Path, n: int, dim: int, shard_size: int) -> dict:
    import faiss  # noqa: F401 - the baseline includes it

    from hbt_bench.scale.corpus import Corpus
    from hbt_bench.scale.index import build_index, search
    from hbt_bench.scale.shards import Store, encode_corpus

    t0 = time.perf_counter()
    out: dict = {"phase": phase, "n": n, "dim": dim, "shard_size": shard_size}
    if phase == "encode":
        report = encode_corpus(
            Corpus(work / "corpus.jsonl"), work / "store", HashStubEncoder(dim), shard_size=shard_size
        )
        out["shards"] = report.n_shards
    elif phase == "index":
        store = Store(work / "store")
        index = build_index(store)
        queries = HashStubEncoder(dim).encode([f"query {i}" for i in range(100)])
        search(index, queries, 100)
        out["index_mb"] = index.ntotal * dim * 4 / 2**20
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["peak_rss_mb"] = round(_peak_mb(), 1)
    if "index_mb" in out:
        out["peak_minus_index_mb"] = round(out["peak_rss_mb"] - out["index_mb"], 1)
        out["index_mb"] = round(out["index_mb"], 1)
    return out


def _write_corpus(path: Path, n: int) -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(words[(i * 7 + j) % 10] for j in range(8 + i % 5))
            f.write(json.dumps({"id": f"doc{i}", "text": f"passage {i}: {text}"}) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--shard-size", type=int, default=10_000)
    ap.add_argument("--workdir")
    ap.add_argument(
        "--child", nargs=5, metavar=("PHASE", "WORK", "N", "DIM", "SHARD"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.child:
        phase, work, n, dim, shard = args.child
        print(json.dumps(_child(phase, Path(work), int(n), int(dim), int(shard))))
        return 0
    root = Path(args.workdir or tempfile.mkdtemp(prefix="hbt-scale-bench-"))
    try:
        for n in args.sizes:
            work = root / f"n{n}"
            work.mkdir(parents=True, exist_ok=True)
            _write_corpus(work / "corpus.jsonl", n)
            for phase in ("baseline", "encode", "index"):
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    phase,
                    str(work),
                    str(n),
                    str(args.dim),
                    str(args.shard_size),
                ]
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                print(done.stdout.strip().splitlines()[-1], flush=True)
            shutil.rmtree(work)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
