"""Model-targeted attacks on the LAReQA tasks: ``hbt-bench attack run``.

A TextAttack search perturbs one query at a time, asking the victim model after every edit, until the
query's best relevant candidate leaves the top ``k`` of the subset's full candidate list (or the query
budget, the word cap or the search runs out). An attack found this way is specific to one model, so its
results go to their own mteb task name (``<Task>-TargetedAttack``), never next to the frozen-set
(model-agnostic) adversarial scores of :mod:`hbt_bench.adversarial`.

- :mod:`~hbt_bench.attacks.params`: the parameters, their validation and the subset selection;
- :mod:`~hbt_bench.attacks.tasks`: the source task classes and the ``<Task>-TargetedAttack`` ones;
- :mod:`~hbt_bench.attacks.goal`: the TextAttack pieces (model wrapper, rank goal function, word cap,
  the assembled ``Attack``), built on first use;
- :mod:`~hbt_bench.attacks.run`: running an attack over the selected subsets;
- :mod:`~hbt_bench.attacks.report`: the report, its aggregates, the printed table and the result files.

This layer sits above :mod:`hbt_bench.plugin` (it loads the tasks and wraps models as ``hbt-bench eval``
does) and below :mod:`hbt_bench.cli`. Nothing is imported here, and no module of the package imports
TextAttack, torch or mteb at import time.
"""
