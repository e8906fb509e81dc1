"""Everything mteb-facing: the task classes, the benchmarks, the model metas, the result cache guard and
their registration with mteb (:mod:`hbt_bench.plugin.register`).

mteb is imported here, before any submodule body runs, and only the modules of this package import it at
module level. This ordering is what keeps registration simple: importing mteb fires the ``.pth``
autoload hook, which calls :func:`hbt_bench.plugin.register.register`, which imports our task, benchmark
and model modules. Because the first import of any ``hbt_bench.plugin.*`` module runs this file first,
the hook always fires either here (before any of our submodules has started) or from a plain
``import mteb`` (before any of them is imported at all): it never finds one of our modules half-executed.
"""

import mteb  # noqa: F401  (first, see above)
