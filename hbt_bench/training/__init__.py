"""Hybrid batch training (arXiv 2408.10536): pairs, batch samplers, loss, the recipe and α sweeps.

* ``pairs`` / ``sources``: training rows (query, passage[, negative] + group / query_lang / passage_lang)
  from LAReQA, a parallel table (JSONL or HF dataset) and mMARCO;
* ``samplers``: the X-X-mono / X-Y / hybrid batch samplers for the sentence-transformers trainer;
* ``losses``: InfoNCE (sentence-transformers' MNRL) and the paper's Eq. 1 variant;
* ``config``: the documented TOML config; ``recipe``: ``train(config)``; ``evaluation``; ``sweep``;
* ``cli``: ``hbt-bench train`` / ``hbt-bench sweep``.

Import the submodules directly (``samplers``, ``recipe`` and ``losses`` pull in torch and
sentence-transformers), so that ``import hbt_bench`` and ``hbt-bench --help`` stay light.
"""
