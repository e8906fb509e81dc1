"""The leaderboard: a registry of models, their stored results, paired tests against the hybrid baseline.

``registry`` (the rows, as mteb ``ModelMeta``s), ``entry_points`` (third-party encoders), ``stats`` (paired
permutation test, Holm, bootstrap), ``reported`` (the paper's rows as data), ``board`` (the board document),
``tables`` (Markdown / terminal), ``build`` (LEADERBOARD.md, board.json, the site, README tables).
Nothing here is imported by ``import hbt_bench``.
"""
