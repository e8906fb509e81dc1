"""Hybrid batch training (arXiv 2408.10536): pairs, batch samplers, loss, the recipe and α sweeps.

* ``pairs`` / ``sources``: training rows (query, passage[, negative] + group / query_lang / passage_lang)
  from LAReQA, a parallel table (JSONL or HF dataset) and mMARCO;
* ``samplers``: the X-X-mono / X-Y / hybrid batch samplers for the sentence-transformers trainer;
* ``losses``: InfoNCE (sentence-transformers' MNRL) and the paper's Eq. 1 variant;
* ``registry``: the one name -> class table of batch samplers (``sampler.kind``, the entry points);
* ``config``: the documented TOML config (pydantic models);
* ``data``: the pairs of a config's sources, limits and the validation hold-out;
* ``lora``: the base model, its prompts and LoRA adapters; ``rundir``: the run folder (staging,
  atomic swap, summary); ``recipe``: ``train(config)``, the trainer call;
* ``evaluation``: mteb evaluation of a trained model; ``sweep``: one run per α, summaries and plot;
* ``hbt_bench.cli.train``: ``hbt-bench train`` / ``hbt-bench sweep``.

Import the submodules directly (``samplers`` and ``recipe`` pull in torch and sentence-transformers),
so that ``import hbt_bench`` and ``hbt-bench --help`` stay light.
"""
