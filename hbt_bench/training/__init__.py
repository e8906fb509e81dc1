"""Hybrid batch training (arXiv 2408.10536 §2.2): parallel training pairs and the X-X-mono / X-Y / hybrid
batch samplers. Import the submodules directly (``hbt_bench.training.samplers`` pulls in torch and
sentence-transformers), so that ``import hbt_bench`` stays light."""
