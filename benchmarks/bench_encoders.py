"""Encoding speed of the built-in encoders on XQuAD-R texts (and static-ml's agreement with its package).

Takes N texts from XQuAD-R, round-robin over the 11 languages, questions and candidate sentences
alternating (the mix an evaluation encodes), and times ``encode`` of each built-in once, after a
warm-up call on a few texts (so the figure is steady-state encoding, the load time printed apart).
E5's texts carry the "query: " / "passage: " prefix its mteb prompts add, so it runs in both modes.
Run by hand; figures go into the session note::

    python benchmarks/bench_encoders.py --n 500
    python benchmarks/bench_encoders.py --models static-ml --n 2000 --compare-static

``--compare-static`` also encodes the texts with the package's own Rust encoder
(``static_model.get_embeddings``) and prints the mean and minimum cosine to ``builtin:static-ml``.
Needs the data (HBT_BENCH_DATA_DIR or the pinned downloads). Prints one JSON line per model.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from itertools import zip_longest

import numpy as np

from hbt_bench.data.lareqa import load_lareqa
from hbt_bench.encoders import BUILTIN_ENCODERS, E5SmallEncoder, load_model


def xquadr_texts(n: int, data_dir: str | None) -> tuple[list[str], list[bool]]:
    """``n`` texts round-robin over languages, question / candidate alternating; and is-question flags."""
    corpus = load_lareqa("xquad-r", data_dir=data_dir)
    streams = []
    for data in corpus.languages.values():
        pairs = zip_longest(data.questions, data.candidates)
        streams.append([(x.text, i == 0) for pair in pairs for i, x in enumerate(pair) if x is not None])
    out = [item for row in zip_longest(*streams) for item in row if item is not None][:n]
    return [t for t, _ in out], [q for _, q in out]


def bench(key: str, texts: list[str], is_query: list[bool], batch_size: int, threads: int | None) -> dict:
    t0 = time.perf_counter()
    if key == "e5-small":
        model = E5SmallEncoder(threads=threads, batch_size=batch_size)
    else:
        model = load_model(f"builtin:{key}", device="cpu")
    load_s = time.perf_counter() - t0
    if key == "e5-small":
        texts = [
            (E5SmallEncoder.QUERY_PREFIX if q else E5SmallEncoder.PASSAGE_PREFIX) + t
            for t, q in zip(texts, is_query, strict=True)
        ]
    info: dict = {"model": f"builtin:{key}", "n_texts": len(texts), "load_s": round(load_s, 2)}
    if hasattr(model, "get_embedding_dimension"):  # a SentenceTransformer
        import torch

        if threads:
            torch.set_num_threads(threads)
        info.update(threads=torch.get_num_threads(), batch_size=batch_size)

        def run(x: list[str]) -> np.ndarray:
            return model.encode(x, batch_size=batch_size, show_progress_bar=False)
    else:
        info.update(threads=getattr(model, "threads", None), batch_size=getattr(model, "batch_size", None))
        run = model.encode
    run(texts[:8])  # warm-up: lazy initialisation, caches
    t0 = time.perf_counter()
    emb = run(texts)
    seconds = time.perf_counter() - t0
    info.update(seconds=round(seconds, 2), texts_per_s=round(len(texts) / seconds, 1), dim=int(emb.shape[1]))
    info["_emb"] = emb
    return info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500, help="number of XQuAD-R texts (default 500)")
    parser.add_argument(
        "--models", default="hash-ngram,use-m,e5-small,static-ml", help="comma-separated built-in keys"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="default: each encoder's own (min(2, cpus) / torch's)")
    parser.add_argument("--data-dir", default=os.environ.get("HBT_BENCH_DATA_DIR"))
    parser.add_argument("--compare-static", action="store_true", help="cosine of static-ml to its package")
    args = parser.parse_args()
    texts, is_query = xquadr_texts(args.n, args.data_dir)
    for key in [k.strip() for k in args.models.split(",") if k.strip()]:
        if key not in BUILTIN_ENCODERS:
            parser.error(f"--models: unknown built-in {key!r}; valid: {', '.join(BUILTIN_ENCODERS)}")
        info = bench(key, texts, is_query, args.batch_size, args.threads)
        emb = info.pop("_emb")
        if key == "static-ml" and args.compare_static:
            import static_model

            ref = np.asarray(static_model.get_embeddings(texts), dtype=np.float32)
            norms = np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1)
            nonzero = norms > 0
            cos = (emb * ref).sum(axis=1)[nonzero] / norms[nonzero]
            info.update(
                cosine_mean=float(cos.mean()), cosine_min=float(cos.min()), cosine_n=int(nonzero.sum())
            )
        print(json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
