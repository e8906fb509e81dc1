"""The mteb task classes of a targeted attack: the attacked source task and ``<Task>-TargetedAttack``.

An attack's scores are specific to one model, so they are stored under their own task name, never next
to the clean or frozen-set scores. mteb is imported only when a class is asked for.
"""

from __future__ import annotations

from functools import cache

from hbt_bench.attacks.params import TargetedAttackError

__all__ = ["ATTACK_TASKS", "ATTACK_TASK_SUFFIX", "attack_task_class", "source_task_class"]

ATTACK_TASK_SUFFIX = "-TargetedAttack"
ATTACK_TASKS = ("XQuADR", "MLQAR")


def source_task_class(name: str) -> type:
    """The LAReQA task class ``name`` (XQuADR or MLQAR); the error names ``--task``."""
    if name not in ATTACK_TASKS:
        raise TargetedAttackError(
            f"--task: unknown task {name!r}; targeted attacks support {', '.join(ATTACK_TASKS)}"
        )
    import mteb  # noqa: F401  (mteb first: its autoload hook then registers our tasks cleanly)

    from hbt_bench.plugin import tasks

    return getattr(tasks, name)


@cache
def attack_task_class(source_task: str) -> type:
    """An unregistered mteb task class ``<Task>-TargetedAttack``: the source task's metadata renamed.

    Only its metadata is used (to build ``TaskResult`` s: languages per subset, dataset revision), so
    the results sit in their own ``<Task>-TargetedAttack.json`` and never mix with the frozen-set ones.
    Main score: ``map_after_attack`` (higher is better, like every mteb main score, and defined even
    when every query was skipped, unlike the success rate).
    """
    base = source_task_class(source_task)
    description = (
        f"Model-targeted adversarial queries on {source_task}: a TextAttack search perturbs each query "
        "against the model until its best relevant candidate leaves the top k. Scores are per model; "
        "compare them only with the attack parameters recorded in each subset's scores."
    )
    update = {"name": f"{source_task}{ATTACK_TASK_SUFFIX}", "main_score": "map_after_attack"}
    metadata = base.metadata.model_copy(update={**update, "description": description})
    return type(f"{source_task}TargetedAttack", (base,), {"metadata": metadata, "__module__": __name__})
