"""Adversarial perturbations for the LAReQA tasks (and other mteb tasks): the perturbation layer.

Perturbation core (no TextAttack):

- :mod:`~hbt_bench.adversarial.text`: script-aware words, graphemes and stable seeds;
- :mod:`~hbt_bench.adversarial.perturbation_sets`: the frozen, versioned perturbation sets shipped in
  ``tasks/perturbations`` (reading, verifying and applying them);
- :mod:`~hbt_bench.adversarial.local_sets`: where a user-built mMARCO-R set lives and which build it
  belongs to;
- :mod:`~hbt_bench.adversarial.scoring`: combining clean and perturbed scores;
- :mod:`~hbt_bench.adversarial.tables` and :mod:`~hbt_bench.adversarial.alphabets`: the data the
  recipes record and draw letters from.

TextAttack layer (TextAttack imported lazily, on first use):

- :mod:`~hbt_bench.adversarial.textattack_adapter`: the only module that imports TextAttack, with its
  offline quirks contained (flair stub, NLTK data, Unicode tokenizer, determinism);
- :mod:`~hbt_bench.adversarial.transformations`: script-safe transformations and constraints;
- :mod:`~hbt_bench.adversarial.recipes`: the perturbation recipes, one builder per transformation kind;
- :mod:`~hbt_bench.adversarial.build`: building and checking the frozen sets;
- :mod:`~hbt_bench.adversarial.mmarco_sets`: the mMARCO-R reference and the user's local set;
- :mod:`~hbt_bench.adversarial.compose`: recipes chained into an external recipe file.

The mteb-facing task wrapper lives in :mod:`hbt_bench.plugin`, model-targeted attacks in
:mod:`hbt_bench.attacks`. Nothing is imported here: ``import hbt_bench.adversarial`` must stay cheap.
"""
