"""mteb task classes for the LAReQA benchmarks, built from the declarative files in ``tasks/``.

``XQuADR`` and ``MLQAR`` are ordinary :class:`mteb.abstasks.retrieval.AbsTaskRetrieval` subclasses
(so ``mteb run -t XQuADR``, ``mteb.get_task`` and ``ResultCache`` treat them like any other task),
with two overrides: ``load_data`` reads the LAReQA files through :mod:`hbt_bench.data`, and
``evaluate`` scores from an encode-once :class:`~hbt_bench.evaluate.EmbeddingStore` instead of
re-encoding the corpus per subset. ``mteb.evaluate`` calls ``evaluate`` once per subset; the first
call encodes every text of every selected subset, the others only rank.

The ``Stock*`` variants (not registered) evaluate the same data through mteb's own per-subset
retrieval path; they exist for the speed benchmark and the equality checks.
"""

from __future__ import annotations

import tomllib
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata

from hbt_bench.data.lareqa import CANDIDATE_TEXT_MODES, load_lareqa
from hbt_bench.evaluate import (
    DOCUMENT,
    EmbeddingStore,
    LareqaEvaluator,
    PreparedEmbeddings,
    Subset,
    lareqa_subsets,
)
from hbt_bench.resources import tasks_dir as _tasks_dir  # module global: tests monkeypatch it

__all__ = ["MLQAR", "LareqaTask", "StockMLQAR", "StockXQuADR", "TaskDefinition", "XQuADR", "task_definition"]


@dataclass(frozen=True)
class TaskDefinition:
    """One ``tasks/<name>.toml`` file: mteb metadata plus the language table."""

    path: str
    task: Mapping[str, Any]
    languages: Mapping[str, str]  # LAReQA code -> mteb language code

    @property
    def dataset(self) -> str:
        return self.task["dataset"]

    def eval_langs(self) -> dict[str, list[str]]:
        """hf_subset -> languages it contains (query language first; the pool holds all)."""
        codes = self.languages
        langs: dict[str, list[str]] = {}
        for subset in lareqa_subsets(tuple(codes)):
            if subset.candidate_lang is None:
                langs[subset.name] = [codes[subset.query_lang]] + [
                    c for lang, c in codes.items() if lang != subset.query_lang
                ]
            elif subset.candidate_lang == subset.query_lang:
                langs[subset.name] = [codes[subset.query_lang]]
            else:
                langs[subset.name] = [codes[subset.query_lang], codes[subset.candidate_lang]]
        return langs

    def metadata(self) -> TaskMetadata:
        t = self.task
        return TaskMetadata(
            name=t["name"],
            description=" ".join(t["description"].split()),
            reference=t["reference"],
            dataset={"path": f"hbt-bench/{t['dataset']}", "revision": t["revision"]},
            type="Retrieval",
            category="t2t",
            modalities=["text"],
            eval_splits=[t["eval_split"]],
            eval_langs=self.eval_langs(),
            main_score=t["main_score"],
            date=tuple(t["date"]),
            domains=list(t["domains"]),
            task_subtypes=list(t["task_subtypes"]),
            license=t["license"],
            annotations_creators=t["annotations_creators"],
            dialect=[],
            sample_creation=t["sample_creation"],
            bibtex_citation=t["bibtex_citation"],
            adapted_from=list(t["adapted_from"]),
        )


@cache
def task_definition(stem: str) -> TaskDefinition:
    """Read and check ``tasks/<stem>.toml``; errors name the file and the missing field."""
    path = _tasks_dir() / f"{stem}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"task definition {path} not found") from None
    if "task" not in raw:
        raise ValueError(f"{path}: missing [task] table")
    base_stem = raw["task"].get("extends")
    if base_stem is not None:
        # A variant (e.g. XQuADR-Adv) inherits the base task's fields and languages, overriding some.
        base = task_definition(base_stem)
        raw = {**raw, "task": {**base.task, **raw["task"]}}
        raw.setdefault("languages", dict(base.languages))
    if "languages" not in raw:
        raise ValueError(f"{path}: missing [languages] table")
    required = (
        "name",
        "dataset",
        "revision",
        "description",
        "reference",
        "license",
        "date",
        "domains",
        "task_subtypes",
        "annotations_creators",
        "sample_creation",
        "adapted_from",
        "eval_split",
        "main_score",
        "bibtex_citation",
    )
    missing = [k for k in required if k not in raw["task"]]
    if missing:
        raise ValueError(f"{path}: [task] is missing {', '.join(missing)}")
    return TaskDefinition(path=str(path), task=raw["task"], languages=raw["languages"])


# One EmbeddingStore per model object, shared by every task instance in the process (the adversarial
# tasks reuse the clean candidates' embeddings). Weak keys: the store dies with the model.
_STORES: weakref.WeakKeyDictionary[Any, EmbeddingStore] = weakref.WeakKeyDictionary()


def _similarity_normalizes(model: Any) -> bool:
    """True for cosine models (rows are normalised), False for dot-product ones."""
    from mteb.models.model_meta import ScoringFunction

    meta = getattr(model, "mteb_model_meta", None)
    fn = getattr(meta, "similarity_fn_name", None) or ScoringFunction.COSINE
    if fn == ScoringFunction.COSINE:
        return True
    if fn == ScoringFunction.DOT_PRODUCT:
        return False
    name = getattr(meta, "name", type(model).__name__)
    raise ValueError(f"model {name}: similarity {fn!s} is not supported by LAReQA tasks (cosine or dot only)")


def _model_name(model: Any) -> str:
    meta = getattr(model, "mteb_model_meta", None)
    return getattr(meta, "name", None) or type(model).__name__


def embedding_store_for(
    model: Any, task_metadata: TaskMetadata, split: str, encode_kwargs: Mapping
) -> EmbeddingStore:
    """The process-wide store of ``model``, created on first use with an mteb-protocol encode function."""
    store = _STORES.get(model)
    if store is not None:
        return store
    import datasets
    from mteb._create_dataloaders import create_dataloader
    from mteb.types import PromptType

    kwargs = dict(encode_kwargs)

    def encode(texts: list[str], kind: str, lang: str) -> np.ndarray:
        prompt_type = PromptType.document if kind == DOCUMENT else PromptType.query
        data = datasets.Dataset.from_dict({"id": [str(i) for i in range(len(texts))], "text": texts})
        # mteb's loader runs a datasets.map per call; its progress bar is noise here (one per language).
        bars_on = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()
        try:
            loader = create_dataloader(data, task_metadata=task_metadata, prompt_type=prompt_type, **kwargs)
        finally:
            if bars_on:
                datasets.enable_progress_bars()
        out = model.encode(
            loader,
            task_metadata=task_metadata,
            hf_split=split,
            hf_subset=f"{lang}-{lang}",
            prompt_type=prompt_type,
            **kwargs,
        )
        if hasattr(out, "detach"):  # torch tensor
            out = out.detach().float().cpu().numpy()
        return np.asarray(out)

    store = EmbeddingStore(encode, normalize=_similarity_normalizes(model), model_name=_model_name(model))
    _STORES[model] = store
    return store


class LareqaTask(AbsTaskRetrieval):
    """A LAReQA dataset as an mteb retrieval task with encode-once, exact full-list scoring."""

    definition: ClassVar[TaskDefinition]

    def __init__(
        self,
        *args: Any,
        data_dir: str | Path | None = None,
        candidate_mode: str = "sentence",
        languages: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """``candidate_mode="sentence+context"`` encodes each candidate with its paragraph (official LAReQA).
        ``languages`` reduces the dataset to those languages, the pooled corpus included (smoke tests,
        training sweeps): only their files are read.

        Both change the task, so they are recorded in the dataset revision: mteb never merges such
        results with the standard ones.
        """
        super().__init__(*args, **kwargs)
        if candidate_mode not in CANDIDATE_TEXT_MODES:
            raise ValueError(
                f"candidate_mode {candidate_mode!r}: expected one of {', '.join(CANDIDATE_TEXT_MODES)}"
            )
        all_langs = tuple(self.definition.languages)
        if languages is not None:
            unknown = [lang for lang in languages if lang not in all_langs]
            if unknown or not languages:
                raise ValueError(
                    f"languages: {self.metadata.name} has no language {', '.join(unknown) or '(none given)'} "
                    f"(it has {', '.join(all_langs)})"
                )
        chosen = all_langs if languages is None else tuple(x for x in all_langs if x in languages)
        self.corpus_languages = chosen
        self.data_dir = data_dir
        self.candidate_mode = candidate_mode
        self._tag_revision()
        if self.corpus_languages != all_langs:
            self.filter_languages(None, hf_subsets=[s.name for s in lareqa_subsets(self.corpus_languages)])
        self.evaluator: LareqaEvaluator | None = None
        self._prepared: weakref.WeakKeyDictionary[Any, PreparedEmbeddings] = weakref.WeakKeyDictionary()

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """Read every language of the task (the pooled setting needs all of them)."""
        if self.data_loaded:
            return
        corpus = load_lareqa(self.definition.dataset, list(self.corpus_languages), data_dir=self.data_dir)
        self.evaluator = LareqaEvaluator(corpus, candidate_mode=self.candidate_mode)
        self.dataset = {}
        self.data_loaded = True

    def _revision_tags(self) -> list[str]:
        """What makes this instance's task differ from the declared one (none by default)."""
        tags = [self.candidate_mode] if self.candidate_mode != "sentence" else []
        if self.corpus_languages != tuple(self.definition.languages):
            tags.append("langs-" + "-".join(self.corpus_languages))
        return tags

    def _tag_revision(self) -> None:
        """Record non-default options (e.g. the candidate text) in the instance's dataset revision."""
        tags = self._revision_tags()
        if tags:
            revision = "+".join([self.metadata.revision, *tags])
            dataset = {**self.metadata.dataset, "revision": revision}
            self.metadata = self.metadata.model_copy(update={"dataset": dataset})

    def unload_data(self) -> None:
        self.evaluator = None
        self._prepared = weakref.WeakKeyDictionary()
        super().unload_data()  # drops instance metadata, i.e. our revision tag: put it back
        self._tag_revision()

    def _selected_subsets(self, subsets_to_run: list[str] | None) -> list[Subset]:
        assert self.evaluator is not None
        names = list(self.hf_subsets)
        if subsets_to_run is not None:
            names = [s for s in names if s in subsets_to_run]
        return [Subset.parse(n, self.evaluator.languages) for n in names]

    def evaluate(
        self,
        model: Any,
        split: str = "test",
        subsets_to_run: list[str] | None = None,
        *,
        encode_kwargs: Mapping[str, Any] | None = None,
        prediction_folder: Path | None = None,
        num_proc: int | None = None,
        timer: Any = None,
        **kwargs: Any,
    ) -> dict[str, dict[str, Any]]:
        """Score the requested subsets; the first call for a model encodes every selected subset's texts."""
        if not self.data_loaded:
            self.load_data(num_proc=num_proc)
        model = _as_mteb_encoder(model)
        scores: dict[str, dict[str, Any]] = {}
        for subset in self._selected_subsets(subsets_to_run):
            scores[subset.name] = self._score_subset(model, split, encode_kwargs or {}, subset)
            self._add_main_score(scores[subset.name])
        return scores

    def _score_subset(
        self, model: Any, split: str, encode_kwargs: Mapping[str, Any], subset: Subset
    ) -> dict[str, Any]:
        """One subset's scores; what the model needs for every selected subset is prepared once."""
        assert self.evaluator is not None
        prepared = self._prepared.get(model)
        if prepared is None:
            store = embedding_store_for(model, self.metadata, split, encode_kwargs)
            prepared = self.evaluator.prepare(store, self._selected_subsets(None))
            self._prepared[model] = prepared
        return self.evaluator.score_subset(prepared, subset)

    # --- the stock mteb path, for benchmarks and equality checks -------------------------------------

    def to_mteb_dataset(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The same subsets in mteb's v2 retrieval layout (corpus, queries, relevant_docs per subset)."""
        from datasets import Dataset

        assert self.evaluator is not None
        ev = self.evaluator
        split = self.metadata.eval_splits[0]
        cand_ids = {lang: [c.uid for c in ev.corpus.languages[lang].candidates] for lang in ev.languages}
        cand_texts = {lang: ev.candidate_texts(lang) for lang in ev.languages}
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for subset in self._selected_subsets(None):
            langs = ev.languages if subset.candidate_lang is None else (subset.candidate_lang,)
            ids = [i for lang in langs for i in cand_ids[lang]]
            texts = [t for lang in langs for t in cand_texts[lang]]
            rows, relevant = ev.relevance(subset)
            questions = ev.corpus.languages[subset.query_lang].questions
            qids = [f"{subset.query_lang}_{questions[r].qid}" for r in rows]
            qrels = {qid: {ids[j]: 1 for j in rel.tolist()} for qid, rel in zip(qids, relevant, strict=True)}
            out[subset.name] = {
                split: {
                    "corpus": Dataset.from_dict({"id": ids, "text": texts}),
                    "queries": Dataset.from_dict({"id": qids, "text": [questions[r].text for r in rows]}),
                    "relevant_docs": qrels,
                    "top_ranked": None,
                }
            }
        return out


def _as_mteb_encoder(model: Any) -> Any:
    """Accept what ``mteb.evaluate`` passes (an encoder wrapper) and, for direct calls, ST or TextEncoder."""
    from mteb.models.models_protocols import EncoderProtocol

    if isinstance(model, EncoderProtocol):
        return model
    from hbt_bench.plugin.models import to_mteb_model

    return to_mteb_model(model)


class XQuADR(LareqaTask):
    definition = task_definition("xquadr")
    metadata = definition.metadata()


class MLQAR(LareqaTask):
    definition = task_definition("mlqar")
    metadata = definition.metadata()


class _StockMixin:
    """mteb's own per-subset retrieval path over the same data (re-encodes per subset)."""

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if self.data_loaded:  # type: ignore[attr-defined]
            return
        LareqaTask.load_data(self, num_proc=num_proc)  # type: ignore[arg-type]
        self.dataset = self.to_mteb_dataset()  # type: ignore[attr-defined]
        self.data_loaded = True

    def evaluate(
        self, model: Any, split: str = "test", subsets_to_run: list[str] | None = None, **kwargs: Any
    ):
        return AbsTaskRetrieval.evaluate(self, model, split, subsets_to_run, **kwargs)  # type: ignore[arg-type]

    def task_specific_scores(self, scores, qrels, results, hf_split, hf_subset) -> dict[str, float]:
        """Uncut MAP of mteb's run, which holds only the top max(k_values) candidates per query.

        It equals our full-list ``map`` only when every relevant candidate ranks inside that depth; a
        full-depth run is not an option here (13k x 13k hits as Python dicts would need tens of GB).
        """
        import pytrec_eval

        per_query = pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(results)
        return {"map": float(np.mean([v["map"] for v in per_query.values()])) if per_query else 0.0}


class StockXQuADR(_StockMixin, XQuADR):
    metadata = XQuADR.metadata.model_copy(update={"name": "XQuADR-stock"})
    k_values = AbsTaskRetrieval.k_values


class StockMLQAR(_StockMixin, MLQAR):
    metadata = MLQAR.metadata.model_copy(update={"name": "MLQAR-stock"})
    k_values = AbsTaskRetrieval.k_values


# Last line: finish a registration deferred while this module was importing (see plugin/register.py).
from hbt_bench.plugin.register import register_if_pending  # noqa: E402

register_if_pending(__name__)
