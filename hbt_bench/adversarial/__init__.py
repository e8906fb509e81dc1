"""Adversarial robustness for the LAReQA tasks (and other mteb tasks).

- :mod:`~hbt_bench.adversarial.perturbation_sets`: the frozen, versioned perturbation sets shipped in
  ``tasks/perturbations`` (reading, verifying and applying them needs no TextAttack);
- :mod:`~hbt_bench.adversarial.textattack_adapter`: the only module that imports TextAttack, with its
  offline quirks contained (flair stub, NLTK data, Unicode tokenizer, determinism);
- :mod:`~hbt_bench.adversarial.recipes`: the perturbation recipes built from TextAttack
  transformations and constraints;
- :mod:`~hbt_bench.adversarial.targeted`: model-targeted attacks (a retrieval goal function).

Nothing is imported here: ``import hbt_bench.adversarial`` must stay cheap.
"""
