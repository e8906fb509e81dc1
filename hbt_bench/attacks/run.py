"""Running a targeted attack: load the task, encode the candidates once, attack each selected subset.

Every query's attack is seeded on its own (model, task, subset, query id, seed), so it depends on no other
query or subset; the APs before and after are then recomputed exactly, as ``hbt-bench eval`` does.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hbt_bench.attacks.goal import build_attack, result_type, textattack_classes, words_changed
from hbt_bench.attacks.params import ENCODE_KWARGS, AttackParameters, TargetedAttackError, select_subsets
from hbt_bench.attacks.report import TargetedAttackReport, subset_scores_from_examples
from hbt_bench.attacks.tasks import attack_task_class, source_task_class

__all__ = ["ComponentsFn", "run_targeted_attack"]

#: ``(lang, recipe id) -> (transformation, constraints)``, as :func:`recipes.attack_components`.
ComponentsFn = Callable[[str, str], tuple[Any, list[Any]]]


def run_targeted_attack(
    model: Any,
    task: str = "XQuADR",
    params: AttackParameters | None = None,
    *,
    subsets: str | Sequence[str] | None = None,
    settings: str | Sequence[str] | None = None,
    data_dir: str | Path | None = None,
    components: ComponentsFn | None = None,
    show_progress: bool = False,
) -> TargetedAttackReport:
    """Attack the first ``params.limit`` queries of each selected subset of ``task`` against ``model``.

    ``model``: a ``--model`` spec, a SentenceTransformer, a TextEncoder or an mteb encoder.
    ``components``: ``(lang, recipe) -> (transformation, constraints)``, default
    :func:`hbt_bench.adversarial.recipes.attack_components`.

    Each query is seeded from ``stable_seed(model name, task, subset, qid, seed)``, so a query's attack
    does not depend on which other queries or subsets run, nor on ``PYTHONHASHSEED``. Queries whose best
    relevant candidate is already below ``k`` are skipped (TextAttack's ``SkippedAttackResult``). After
    the search, every query's AP before and after is recomputed exactly (:mod:`hbt_bench.ranking`,
    :mod:`hbt_bench.metrics`) against the subset's full candidate list (a failed attack's query is the
    last text the search kept); the mAPs cover all ``limit`` queries, skipped ones unchanged, like
    TextAttack's accuracy under attack.
    """
    params = params if params is not None else AttackParameters(limit=1)
    params.validate()
    task_cls = attack_task_class(task)  # checks the task name first: cheap errors before any loading
    source_cls = source_task_class(task)
    languages = tuple(source_cls.definition.languages)
    chosen = select_subsets(languages, subsets, settings)
    components = components or _default_components()
    parts: dict[str, tuple[Any, list[Any]]] = {}
    for lang in dict.fromkeys(s.query_lang for s in chosen):  # recipe errors before any encoding
        try:
            transformation, constraints = components(lang, params.recipe)
        except (KeyError, ValueError) as exc:
            raise TargetedAttackError(f"--recipe {params.recipe!r}: {exc}") from exc
        parts[lang] = (transformation, list(constraints))

    from hbt_bench.adversarial.text import stable_seed
    from hbt_bench.evaluate import QUERY
    from hbt_bench.metrics import AP
    from hbt_bench.plugin.models import mteb_encoder
    from hbt_bench.plugin.tasks import embedding_store_for
    from hbt_bench.ranking import rank_relevant

    start = time.perf_counter()
    mteb_model = mteb_encoder(model)
    if not callable(getattr(mteb_model, "encode", None)):
        raise TargetedAttackError(
            f"--model {model!r}: {type(mteb_model).__name__} is a search model, not an encoder: a targeted "
            "attack ranks candidates by embedding similarity, so it needs a model that embeds texts"
        )
    source = source_cls(data_dir=data_dir)
    source.load_data()
    ev = source.evaluator
    assert ev is not None
    meta = mteb_model.mteb_model_meta
    model_name = meta.name or type(mteb_model).__name__
    split = source.metadata.eval_splits[0]
    store = embedding_store_for(mteb_model, source.metadata, split, ENCODE_KWARGS)

    classes = textattack_classes()
    recorded = params.to_dict()
    report = TargetedAttackReport(
        task_name=task_cls.metadata.name,
        source_task=task,
        model_meta=meta,
        parameters=recorded,
        languages=languages,
    )
    prepared = ev.candidate_matrices(store, chosen)  # encoded once, as hbt-bench eval does

    for subset in chosen:
        rows, relevant = ev.relevance(subset)
        rows, relevant = rows[: params.limit], relevant[: params.limit]
        questions = [ev.corpus.languages[subset.query_lang].questions[r] for r in rows.tolist()]
        originals = [q.text for q in questions]
        store.ensure(QUERY, originals, subset.query_lang)
        candidates = prepared.candidates_of(subset)
        wrapper = classes["RetrievalModelWrapper"](mteb_model, store, candidates, subset.query_lang)
        goal = classes["RetrievalRankGoal"](
            wrapper,
            {q.qid: rel for q, rel in zip(questions, relevant, strict=True)},
            k=params.k,
            query_budget=params.query_budget,
        )
        attack = build_attack(goal, *parts[subset.query_lang], params)

        iterator: Iterable[Any] = questions
        if show_progress:
            from tqdm.auto import tqdm

            iterator = tqdm(questions, desc=f"{task} {subset.name}", unit="query")
        records: list[dict[str, Any]] = []
        adversarial: list[np.ndarray] = []
        loop_start = time.perf_counter()
        for q in iterator:
            seed = stable_seed(model_name, task, subset.name, q.qid, params.seed)
            _seed_everything(seed)
            wrapper.begin_example(q.text)
            result = attack.attack(q.text, q.qid)
            kind = result_type(result)
            perturbed = q.text if kind == "skipped" else result.perturbed_result.attacked_text.text
            adversarial.append(wrapper.embed([perturbed])[0])
            records.append(
                {
                    "qid": q.qid,
                    "lang": subset.query_lang,
                    "subset": subset.name,
                    "setting": subset.setting.value,
                    "seed": seed,
                    "result": kind,
                    "original": q.text,
                    "perturbed": perturbed,
                    "words_perturbed": words_changed(result.perturbed_result.attacked_text),
                    "num_queries": int(result.num_queries),
                }
            )
        wrapper.end_example()
        report.attack_seconds[subset.name] = time.perf_counter() - loop_start
        report.encoded_texts[subset.name] = wrapper.n_encoded
        # Exact full-list ranks and AP, before and after, as hbt-bench eval computes them.
        before = rank_relevant(store.matrix(QUERY, originals), candidates, relevant)
        after = rank_relevant(np.stack(adversarial), candidates, relevant)
        ap_before, ap_after = AP().per_query(before), AP().per_query(after)
        for i, rec in enumerate(records):
            rec["gold_rank_before"] = int(before.ranks[i, 0])
            rec["gold_rank_after"] = int(after.ranks[i, 0])
            rec["ap_before"] = float(ap_before[i])
            rec["ap_after"] = float(ap_after[i])
        report.examples.extend(records)
        report.subset_scores[subset.name] = subset_scores_from_examples(
            records, candidates.shape[0], recorded
        )
    report.evaluation_time = time.perf_counter() - start
    return report


def _default_components() -> ComponentsFn:
    try:
        from hbt_bench.adversarial.recipes import attack_components
    except ImportError as exc:
        raise TargetedAttackError(f"--recipe: the perturbation recipes are unavailable ({exc})") from exc
    return attack_components


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
