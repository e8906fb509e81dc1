"""mteb task classes for the LAReQA benchmarks, built from the declarative files in ``tasks/``.

``XQuADR`` and ``MLQAR`` are ordinary :class:`mteb.abstasks.retrieval.AbsTaskRetrieval` subclasses
(so ``mteb run -t XQuADR``, ``mteb.get_task`` and ``ResultCache`` treat them like any other task),
with two overrides: ``load_data`` reads the LAReQA files through :mod:`hbt_bench.data`, and
``evaluate`` scores from an encode-once :class:`~hbt_bench.evaluate.EmbeddingStore` instead of
re-encoding the corpus per subset. ``mteb.evaluate`` calls ``evaluate`` once per subset; the first
call encodes every text of every selected subset, the others only rank.
"""

from __future__ import annotations

import json
import tomllib
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.languages import LanguageScripts
from pydantic import BaseModel, ConfigDict, ValidationError

from hbt_bench.data.lareqa import CANDIDATE_TEXT_MODES, load_lareqa
from hbt_bench.errors import HbtBenchError, ModelSpecError
from hbt_bench.evaluate import (
    DOCUMENT,
    MULTI,
    EmbeddingStore,
    LareqaEvaluator,
    PreparedEmbeddings,
    Subset,
    lareqa_subsets,
)
from hbt_bench.paths import safe_component
from hbt_bench.resources import tasks_dir as _tasks_dir  # module global: tests monkeypatch it

__all__ = [
    "MLQAR",
    "LareqaTask",
    "TaskDefinition",
    "TaskDefinitionError",
    "TaskFields",
    "UnsupportedModelError",
    "XQuADR",
    "task_definition",
]


class LareqaTaskMetadata(TaskMetadata):
    """mteb's task metadata, with the descriptive statistics kept next to our task files.

    mteb keeps a task's statistics in its own package (``mteb/descriptive_stats/<type>/<name>.json``);
    ``metadata.descriptive_stats``, ``n_samples`` and the dataset card read them from there, and
    ``calculate_descriptive_statistics`` writes there. Ours ship in ``tasks/descriptive_stats/``, so they
    work without the data and computing them never writes into mteb's installation.
    """

    @property
    def descriptive_stat_path(self) -> Path:
        name = safe_component(self.name, "task name")
        return _tasks_dir() / "descriptive_stats" / str(self.type) / f"{name}.json"


class TaskFields(BaseModel):
    """The ``[task]`` table of a ``tasks/<stem>.toml`` file: mteb metadata fields plus our own.

    Unknown keys are refused (a misspelt field would otherwise be ignored silently).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: stem of another definition whose fields and languages this one inherits, overriding some
    extends: str | None = None
    name: str
    dataset: str  # key of hbt_bench.data.sources.SOURCES
    revision: str
    description: str
    reference: str
    license: str
    date: tuple[str, str]
    domains: list[str]
    task_subtypes: list[str]
    annotations_creators: str
    sample_creation: str
    adapted_from: list[str]
    eval_split: str
    main_score: str
    bibtex_citation: str
    #: -Adv tasks: the perturbation set version (folder under tasks/perturbations/<dataset>/)
    perturbations: str | None = None


class _TaskFile(BaseModel):
    """A whole ``tasks/<stem>.toml`` file, after ``extends`` is resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskFields
    languages: dict[str, str]  # LAReQA code -> mteb language code, in subset order


class TaskDefinitionError(HbtBenchError, ValueError):
    """A task definition file that is unreadable or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class TaskDefinition:
    """One ``tasks/<name>.toml`` file: mteb metadata plus the language table."""

    path: str
    fields: TaskFields
    languages: Mapping[str, str]  # LAReQA code -> mteb language code

    @property
    def task(self) -> dict[str, Any]:
        """The ``[task]`` fields as a dict (``extends`` resolved; unset optional fields left out)."""
        return self.fields.model_dump(exclude_none=True)

    @property
    def dataset(self) -> str:
        return self.fields.dataset

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
        t = self.fields
        return LareqaTaskMetadata(
            name=t.name,
            description=" ".join(t.description.split()),
            reference=t.reference,
            dataset={"path": f"hbt-bench/{t.dataset}", "revision": t.revision},
            type="Retrieval",
            category="t2t",
            modalities=["text"],
            eval_splits=[t.eval_split],
            eval_langs=self.eval_langs(),
            main_score=t.main_score,
            date=t.date,
            domains=list(t.domains),
            task_subtypes=list(t.task_subtypes),
            license=t.license,
            annotations_creators=t.annotations_creators,
            dialect=[],
            sample_creation=t.sample_creation,
            bibtex_citation=t.bibtex_citation,
            adapted_from=list(t.adapted_from),
        )


def _validation_message(exc: ValidationError) -> str:
    """``task.dataset: Field required; task.main_scor: Extra inputs are not permitted`` (one line)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "(file)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


@cache
def task_definition(stem: str) -> TaskDefinition:
    """Read and check ``tasks/<stem>.toml``; errors name the file and the field.

    A definition with ``extends = "<base>"`` inherits the base's ``[task]`` fields and, unless it has its
    own, its ``[languages]``; its own ``[task]`` fields override the base's.
    """
    path = _tasks_dir() / f"{stem}.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"task definition {path} not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TaskDefinitionError(f"{path}: cannot read the task definition: {exc}") from exc
    task = raw.get("task")
    if isinstance(task, dict) and isinstance(task.get("extends"), str):
        base = task_definition(safe_component(task["extends"], f"{path}: task.extends"))
        raw = {**raw, "task": {**base.fields.model_dump(exclude_none=True), **task}}
        raw.setdefault("languages", dict(base.languages))
    try:
        parsed = _TaskFile.model_validate(raw)
    except ValidationError as exc:
        raise TaskDefinitionError(f"{path}: invalid task definition: {_validation_message(exc)}") from None
    return TaskDefinition(path=str(path), fields=parsed.task, languages=parsed.languages)


# One EmbeddingStore per model object, shared by every task instance in the process (the adversarial
# tasks reuse the clean candidates' embeddings). Weak keys: the store dies with the model.
_STORES: weakref.WeakKeyDictionary[Any, EmbeddingStore] = weakref.WeakKeyDictionary()
_ENCODE_KWARGS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


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


class UnsupportedModelError(ModelSpecError, TypeError):
    """A model of a kind the LAReQA tasks cannot score (e.g. a cross-encoder)."""


class UnsupportedSplitError(HbtBenchError, ValueError):
    """A split the task's data does not have (the LAReQA files hold one)."""


ENCODER = "encoder"
SEARCH = "search"


def model_kind(model: Any) -> str:
    """``"encoder"`` or ``"search"`` (an mteb ``SearchProtocol`` model that cannot encode).

    Encoders take the exact encode-once path even when they also implement ``search``. Cross-encoders
    are refused: full-list mAP would need ~13k x 13k pair scores per pooled subset, and reranking a
    first-stage run would make the score depend on that run.
    """
    if callable(getattr(model, "encode", None)):
        return ENCODER
    if callable(getattr(model, "index", None)) and callable(getattr(model, "search", None)):
        return SEARCH
    if callable(getattr(model, "predict", None)):
        raise UnsupportedModelError(
            f"model {_model_name(model)} is a cross-encoder (predict(pairs)), which the LAReQA tasks do not "
            "support: they rank every candidate of the pool for every query (full-list mAP). Supported: "
            "encoders (mteb EncoderProtocol, sentence-transformers, encode(texts)) and search models "
            "(mteb SearchProtocol: index/search, e.g. mteb/baseline-bm25s)"
        )
    return ENCODER  # anything else: _as_mteb_encoder explains what is missing


class MtebSearchEngine:
    """:class:`~hbt_bench.evaluate.SearchEngine` over an mteb ``SearchProtocol`` model.

    A candidate language ``Y`` is indexed under ``hf_subset="Y-Y"`` (its own language in the task's
    ``eval_langs``, so a language-aware engine such as mteb's BM25 picks Y's tokenizer and stemmer); the
    pool is indexed under the first pooled subset ranked against it (all languages). Queries are searched
    under their own subset's name.
    """

    def __init__(
        self,
        model: Any,
        task_metadata: TaskMetadata,
        split: str,
        encode_kwargs: Mapping[str, Any],
        num_proc: int | None = None,
    ) -> None:
        self.model = model
        self.name = _model_name(model)
        self.task_metadata = task_metadata
        self.split = split
        self.encode_kwargs = dict(encode_kwargs)
        self.num_proc = num_proc

    def _common(self, hf_subset: str) -> dict[str, Any]:
        return {
            "task_metadata": self.task_metadata,
            "hf_split": self.split,
            "hf_subset": hf_subset,
            "encode_kwargs": self.encode_kwargs,
            "num_proc": self.num_proc,
        }

    def index(self, key: str, ids: list[str], texts: list[str], subset: Subset) -> None:
        from datasets import Dataset

        hf_subset = subset.name if key == MULTI else f"{key}-{key}"
        self.model.index(Dataset.from_dict({"id": ids, "text": texts}), **self._common(hf_subset))

    def search(
        self, key: str, subset: Subset, query_ids: list[str], texts: list[str], top_k: int
    ) -> list[Mapping[str, float]]:
        from datasets import Dataset

        queries = Dataset.from_dict({"id": query_ids, "text": texts})
        out = self.model.search(queries, top_k=top_k, top_ranked=None, **self._common(subset.name))
        if not isinstance(out, Mapping):
            raise ModelSpecError(
                f"model {self.name}: search() returned a {type(out).__name__}, expected a dict query id -> "
                "{candidate id: score} (mteb RetrievalOutputType)"
            )
        return [out.get(q, {}) for q in query_ids]  # a query it left out returned nothing

    def score_rows(
        self, key: str, subset: Subset, query_ids: list[str], texts: list[str]
    ) -> np.ndarray | None:
        """Every candidate's score per query, for mteb's ``BM25Search`` (or a subclass keeping its
        ``search``, like ``hbt-bench/bm25``): the same query preparation and ``bm25s`` ``retrieve`` call
        at full depth that its ``search`` makes, placed in a matrix instead of one dict per query. The
        dicts cost most of a full-depth BM25 run (13k hits per query on the XQuAD-R pool); the scores,
        and with them the ranks, are the same. ``None`` for any other search model, or where this mteb
        lacks the pieces (then the caller takes ``search``)."""
        mteb_bm25 = _mteb_bm25_pieces()
        model = self.model
        if mteb_bm25 is None:
            return None
        bm25, combine_instructions = mteb_bm25
        if not isinstance(model, bm25) or type(model).search is not bm25.search:
            return None
        retriever, tokenizer = getattr(model, "retriever", None), getattr(model, "_tokenizer", None)
        index = getattr(model, "corpus_idx_to_id", None)
        if retriever is None or tokenizer is None or not isinstance(index, Mapping):
            return None
        from datasets import Dataset

        queries = combine_instructions(Dataset.from_dict({"id": query_ids, "text": texts}))
        docs, scores = retriever.retrieve(
            tokenizer.transform(list(queries["text"])), k=len(index)
        )  # as search()
        scores = np.asarray(scores)
        out = np.full(scores.shape, np.nan, dtype=scores.dtype)
        # index() gave the engine the candidates in order, so a bm25s document number is the candidate's
        # index; a row missing a candidate stays NaN and is refused by the ranking.
        np.put_along_axis(out, np.asarray(docs, dtype=np.int64), scores, axis=1)
        return out


@cache
def _mteb_bm25_pieces() -> tuple[type, Callable[[Any], Any]] | None:
    """mteb's ``BM25Search`` class and the query preparation its ``search`` uses (both private to mteb),
    or None where this mteb has them elsewhere or bm25s is missing."""
    try:
        from mteb._create_dataloaders import _combine_queries_with_instruction_text
        from mteb.models.model_implementations.bm25 import BM25Search
    except ImportError:
        return None
    return BM25Search, _combine_queries_with_instruction_text


def embedding_store_for(
    model: Any, task_metadata: TaskMetadata, split: str, encode_kwargs: Mapping
) -> EmbeddingStore:
    """The process-wide store of ``model``, created on first use with an mteb-protocol encode function."""
    store = _STORES.get(model)
    if store is not None:
        # A later run's encode_kwargs (say a smaller batch size) apply to the texts it adds to the store.
        kwargs = _ENCODE_KWARGS[model]
        kwargs.clear()
        kwargs.update(encode_kwargs)
        return store
    import datasets
    from mteb._create_dataloaders import create_dataloader
    from mteb.types import PromptType

    kwargs = dict(encode_kwargs)
    _ENCODE_KWARGS[model] = kwargs  # what encode() below reads at each call

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
            # one bar per encode call (texts or batches done, rate, ETA) unless the caller turned bars off
            # (mteb.evaluate(show_progress_bar=False) sets this key to False)
            **{"show_progress_bar": True, **kwargs},
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
    #: Hits per query in mteb prediction files (``prediction_folder`` / ``mteb run --prediction-folder``):
    #: one of mteb's own k values; full lists (up to 13k per query, 132 subsets) would be gigabytes.
    prediction_top_k: ClassVar[int] = 100
    #: Whether a subset's per-query scores (``evaluator.per_query``, whose means are the subset's stored
    #: ``map`` / ``rank_distance``) are recorded for the leaderboard's paired tests (hbt_bench.per_query).
    records_per_query: ClassVar[bool] = True

    @classmethod
    def data_available(cls) -> bool:
        """Whether the task's data can be had without a build step (the LAReQA files download on first
        use); a task built locally by the user (mMARCOR) says whether its build exists."""
        return True

    def __init__(
        self,
        *args: Any,
        data_dir: str | Path | None = None,
        candidate_mode: str = "sentence",
        languages: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """``candidate_mode="sentence+context-xtreme"`` encodes each candidate with its paragraph, joined as
        XTREME-R does (:func:`hbt_bench.data.lareqa.candidate_text`).
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
        self._search_scores: weakref.WeakKeyDictionary[Any, dict[str, dict[str, Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._predictions_done: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    def filter_languages(
        self,
        languages: Sequence[str] | None,
        script: Sequence[str] | None = None,
        hf_subsets: Sequence[str] | None = None,
        exclusive_language_filter: bool = False,
    ) -> Self:
        """mteb's language filter (``mteb run -l eng deu``, ``get_tasks(languages=...)``) reduces the task to
        the chosen languages, the pooled corpus included, as ``languages=`` does.

        mteb's own rule keeps every subset that *contains* a chosen language, i.e. all ``X-multi`` subsets
        (their pool holds every language), so every query language would still be encoded. Here the task
        becomes the LAReQA task over the chosen languages: X-X, X-Y and X-multi among them, a pool of
        only their candidates, and the reduction recorded in the dataset revision (``+langs-...``), so
        the result never stands in for the full one. ``exclusive_language_filter`` makes no difference:
        every subset of the reduced task holds only chosen languages.
        """
        if languages is None and script is None:
            return super().filter_languages(None, None, hf_subsets, exclusive_language_filter)
        wanted = LanguageScripts.from_languages_and_scripts(languages, script)
        chosen = tuple(
            lang
            for lang in self.corpus_languages
            if wanted.contains_language(self.definition.languages[lang])
            and (not script or wanted.contains_langscript_script(self.definition.languages[lang]))
        )
        if not chosen:
            have = ", ".join(self.definition.languages[x] for x in self.corpus_languages)
            raise ValueError(
                f"No subsets were found for {self.metadata.name} with filters: language code {languages}, "
                f"script {script} (it has {have})"
            )
        if chosen != self.corpus_languages:
            self.corpus_languages = chosen
            if self.data_loaded:
                self.unload_data()  # re-read with only the chosen languages; retags the revision
            else:
                self._tag_revision()
        names = [s.name for s in lareqa_subsets(chosen)]
        if hf_subsets is not None:
            names = [n for n in names if n in hf_subsets]
        if not names:
            raise ValueError(
                f"No subsets were found for {self.metadata.name} with filters: hf subsets {hf_subsets}"
            )
        self.hf_subsets = names
        return self

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
        self._search_scores = weakref.WeakKeyDictionary()
        self._predictions_done = weakref.WeakKeyDictionary()
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
        """Score the requested subsets; the first call for a model encodes every selected subset's texts.

        Encoders are scored exactly from embeddings; search models (mteb ``SearchProtocol``) through
        ``index``/``search`` with the whole candidate list asked for (see :meth:`_search_scores_for`);
        cross-encoders are refused (:func:`model_kind`). With ``prediction_folder``, the first call
        writes mteb's ``<Task>_predictions.json`` with the top :attr:`prediction_top_k` candidates per
        query of every selected subset.
        """
        data_split = self.definition.fields.eval_split
        if split != data_split:
            # The files hold one split; scoring it under another name would file test scores as e.g.
            # "validation" (stock mteb tasks fail with a KeyError here).
            raise UnsupportedSplitError(
                f"{self.metadata.name} has only the {data_split!r} split; cannot evaluate split {split!r}"
            )
        if not self.data_loaded:
            self.load_data(num_proc=num_proc)
        kind = model_kind(model)
        if kind == ENCODER:
            model = _as_mteb_encoder(model)
        encode_kwargs = encode_kwargs or {}
        if prediction_folder is not None:
            self._save_all_predictions(model, kind, split, encode_kwargs, Path(prediction_folder), num_proc)
        scores: dict[str, dict[str, Any]] = {}
        for subset in self._selected_subsets(subsets_to_run):
            if kind == SEARCH:
                scores[subset.name] = dict(
                    self._search_scores_for(model, split, encode_kwargs, num_proc)[subset.name]
                )
            else:
                scores[subset.name] = self._score_subset(model, split, encode_kwargs, subset)
            self._add_main_score(scores[subset.name])
            found = self.evaluator.per_query.get(subset.name) if self.records_per_query else None
            if found is not None:
                from hbt_bench.per_query import record

                record(self.metadata.name, self.metadata.revision, subset.name, *found)
        return scores

    def _prepared_for(self, model: Any, split: str, encode_kwargs: Mapping[str, Any]) -> PreparedEmbeddings:
        """The model's matrices for every selected subset (encoded once, then cached)."""
        assert self.evaluator is not None
        prepared = self._prepared.get(model)
        if prepared is None:
            store = embedding_store_for(model, self.metadata, split, encode_kwargs)
            prepared = self.evaluator.prepare(store, self._selected_subsets(None))
            self._prepared[model] = prepared
        return prepared

    def _score_subset(
        self, model: Any, split: str, encode_kwargs: Mapping[str, Any], subset: Subset
    ) -> dict[str, Any]:
        """One subset's scores; what the model needs for every selected subset is prepared once."""
        assert self.evaluator is not None
        return self.evaluator.score_subset(self._prepared_for(model, split, encode_kwargs), subset)

    def _search_scores_for(
        self,
        model: Any,
        split: str,
        encode_kwargs: Mapping[str, Any],
        num_proc: int | None = None,
        on_run: Any = None,
    ) -> dict[str, dict[str, Any]]:
        """Every selected subset of a search model, scored on its first call: each candidate set is
        indexed once (a SearchProtocol model holds one index at a time, so subsets are visited by
        candidate set). Scores add ``search_depth`` and ``search_unreturned_relevant``."""
        assert self.evaluator is not None
        cached = self._search_scores.get(model)
        if cached is None or on_run is not None:
            engine = MtebSearchEngine(model, self.metadata, split, encode_kwargs, num_proc)
            cached = self._score_search(engine, on_run)
            self._search_scores[model] = cached
        return cached

    def _score_search(self, engine: MtebSearchEngine, on_run: Any) -> dict[str, dict[str, Any]]:
        assert self.evaluator is not None
        return self.evaluator.score_by_search(engine, self._selected_subsets(None), on_run=on_run)["clean"]

    # --- mteb prediction files --------------------------------------------------------------------------

    def _check_predictions_supported(self) -> None:
        """Hook: tasks whose subsets have no single run refuse prediction files."""

    def _save_all_predictions(
        self,
        model: Any,
        kind: str,
        split: str,
        encode_kwargs: Mapping[str, Any],
        folder: Path,
        num_proc: int | None,
    ) -> None:
        """Write the top :attr:`prediction_top_k` hits of every selected subset once per model and folder."""
        from hbt_bench.predictions import PredictionsWriter

        self._check_predictions_supported()
        done = self._predictions_done.setdefault(model, set())
        if str(folder.resolve()) in done:
            return
        assert self.evaluator is not None
        ev = self.evaluator
        safe_component(self.metadata.name, "task name")
        meta = getattr(model, "mteb_model_meta", None)
        path = self._predictions_path(folder)
        k = self.prediction_top_k
        with PredictionsWriter(
            path,
            model_name=str(getattr(meta, "name", None) or _model_name(model)),
            revision=str(getattr(meta, "revision", None)),
            split=split,
        ) as writer:
            if kind == ENCODER:
                prepared = self._prepared_for(model, split, encode_kwargs)
                for subset in self._selected_subsets(None):
                    for qids, hits in ev.top_hits(prepared, subset, k):
                        writer.add(subset.name, qids, hits)
            else:
                positions: dict[str, dict[str, int]] = {}

                def on_run(
                    name: str, subset: Subset, qids: list[str], hits: list[Mapping[str, float]]
                ) -> None:
                    key = ev.candidate_key(subset)
                    if key not in positions:
                        positions[key] = {cid: i for i, cid in enumerate(ev.candidate_set(key)[0])}
                    pos = positions[key]
                    capped = [
                        dict(sorted(row.items(), key=lambda kv: (-kv[1], pos.get(kv[0], -1)))[:k])
                        for row in hits
                    ]
                    writer.add(subset.name, qids, capped)

                self._search_scores_for(model, split, encode_kwargs, num_proc, on_run=on_run)
        done.add(str(folder.resolve()))

    # --- the stock mteb path, for benchmarks and equality checks -------------------------------------

    def to_mteb_dataset(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The same subsets in mteb's v2 retrieval layout (corpus, queries, relevant_docs per subset)."""
        from datasets import Dataset

        assert self.evaluator is not None
        ev = self.evaluator
        split = self.metadata.eval_splits[0]
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for subset in self._selected_subsets(None):
            ids, texts = ev.candidate_set(ev.candidate_key(subset))
            rows, relevant = ev.relevance(subset)
            questions = ev.corpus.languages[subset.query_lang].questions
            qids = ev.query_ids(subset)
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

    # --- mteb's descriptive statistics, from the evaluator's data ------------------------------------

    def calculate_descriptive_statistics(
        self, overwrite_results: bool = False, num_proc: int | None = None
    ) -> dict[str, Any]:
        """mteb's statistics of every split: the whole task, then ``hf_subset_descriptive_stats`` per subset.

        Same numbers and layout as mteb's own retrieval statistics over :meth:`to_mteb_dataset`, but
        counted from the loaded texts: mteb's path builds and concatenates 132 per-subset datasets
        (over a minute and about 1 GB for XQuADR). The declared task's statistics are read from and
        written to ``metadata.descriptive_stat_path`` like mteb's; an instance whose options change the
        data (candidate mode, languages, perturbations: see its revision) is computed and never cached.
        """
        declared = not self._revision_tags()
        if declared and not overwrite_results:
            cached = self.metadata.descriptive_stats
            if cached is not None:
                return cached
        if not self.data_loaded:
            self.load_data(num_proc=num_proc)
        # One split of data: every eval split (there is one) is described by the same numbers.
        parts = {s.name: _subset_statistics(self._statistics_inputs(s)) for s in self._statistics_subsets()}
        overall = _merge_statistics(list(parts.values()))
        per_subset = {name: part.stats for name, part in parts.items()}
        stats = {
            split: {**overall, "hf_subset_descriptive_stats": per_subset}
            for split in self.metadata.eval_splits
        }
        if declared:
            from hbt_bench.atomic import write_text_atomic

            write_text_atomic(self.metadata.descriptive_stat_path, json.dumps(stats, indent=4) + "\n")
        return stats

    def _calculate_descriptive_statistics_from_split(
        self,
        split: str,
        *,
        hf_subset: str | None = None,
        compute_overall: bool = False,
        num_proc: int | None = None,
    ) -> dict[str, Any]:
        """mteb's hook: one subset's ``RetrievalDescriptiveStatistics``, or (no subset) the whole task's,
        which mteb counts over the subsets concatenated (a pooled candidate counts once per subset)."""
        if split not in self.metadata.eval_splits:
            raise DescriptiveStatisticsError(
                f"{self.metadata.name}: no split {split!r} (it has {', '.join(self.metadata.eval_splits)})"
            )
        if not self.data_loaded:
            self.load_data(num_proc=num_proc)
        subsets = {s.name: s for s in self._statistics_subsets()}
        if hf_subset is not None:
            if hf_subset not in subsets:
                raise DescriptiveStatisticsError(
                    f"{self.metadata.name}: no subset {hf_subset!r} in the loaded data "
                    f"(languages {', '.join(self.corpus_languages)})"
                )
            return _subset_statistics(self._statistics_inputs(subsets[hf_subset])).stats
        return _merge_statistics([_subset_statistics(self._statistics_inputs(s)) for s in subsets.values()])

    def _statistics_subsets(self) -> tuple[Subset, ...]:
        """Every subset the loaded data defines: the dataset is described, not a language selection."""
        assert self.evaluator is not None
        return self.evaluator.subsets()

    def _statistics_query_sets(self, lang: str) -> list[tuple[str, Sequence[str]]]:
        """(query id prefix, texts aligned with ``lang``'s questions) for each query set the task scores."""
        assert self.evaluator is not None
        return [("", self.evaluator.query_texts(lang))]

    def _statistics_inputs(self, subset: Subset) -> _StatisticsInputs:
        """The subset's queries, candidates and qrels, as in :meth:`to_mteb_dataset` (ids included)."""
        assert self.evaluator is not None
        ev = self.evaluator
        ids, doc_texts = ev.candidate_set(ev.candidate_key(subset))
        rows, relevant = ev.relevance(subset)
        base_qids = ev.query_ids(subset)
        qids: list[str] = []
        texts: list[str] = []
        qrels: dict[str, dict[str, int]] = {}
        row_qrels = [{ids[j]: 1 for j in rel.tolist()} for rel in relevant]  # shared by the query sets
        for prefix, set_texts in self._statistics_query_sets(subset.query_lang):
            for r, qid, rel in zip(rows.tolist(), base_qids, row_qrels, strict=True):
                qids.append(prefix + qid)
                texts.append(set_texts[r])
                qrels[prefix + qid] = rel
        return _StatisticsInputs(subset.name, qids, texts, ids, doc_texts, qrels)


class DescriptiveStatisticsError(HbtBenchError, ValueError):
    """A split or subset that a task's descriptive statistics cannot describe."""


@dataclass(frozen=True)
class _StatisticsInputs:
    """One subset in mteb's retrieval terms: query ids and texts, corpus ids and texts, qrels."""

    name: str
    query_ids: list[str]
    query_texts: list[str]
    corpus_ids: list[str]
    corpus_texts: list[str]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class _SubsetStatistics:
    """One subset's mteb statistics, with what merging subsets needs: their distinct texts."""

    stats: dict[str, Any]
    corpus_texts: frozenset[str]
    query_texts: frozenset[str]
    n_qrels: int


def _subset_statistics(s: _StatisticsInputs) -> _SubsetStatistics:
    """mteb's ``RetrievalDescriptiveStatistics`` of one subset, from mteb's own counting functions."""
    from mteb.abstasks._statistics_calculation import (
        calculate_relevant_docs_statistics,
        calculate_text_statistics,
    )

    # hashes=texts: mteb's text hash is the string itself; passing it skips a progress bar per call.
    docs = calculate_text_statistics(s.corpus_texts, hashes=s.corpus_texts)
    queries = calculate_text_statistics(s.query_texts, hashes=s.query_texts)
    relevant = calculate_relevant_docs_statistics(s.qrels, s.query_ids, s.corpus_ids)
    stats = _retrieval_statistics(len(s.corpus_ids), len(s.query_ids), docs, queries, relevant)
    return _SubsetStatistics(stats, frozenset(s.corpus_texts), frozenset(s.query_texts), len(s.qrels))


def _merge_text_statistics(parts: Sequence[Mapping[str, Any]], counts: Sequence[int], unique: int) -> dict:
    """mteb's ``TextStatistics`` of the concatenated texts of ``parts`` (``counts`` texts each)."""
    total = sum(p["total_text_length"] for p in parts)
    return {
        "total_text_length": total,
        "min_text_length": min(p["min_text_length"] for p in parts),
        "average_text_length": total / sum(counts),
        "max_text_length": max(p["max_text_length"] for p in parts),
        "unique_texts": unique,
    }


def _merge_statistics(parts: Sequence[_SubsetStatistics]) -> dict[str, Any]:
    """The whole task's statistics as mteb counts them: the subsets concatenated, their ids prefixed by
    the subset (so a pooled candidate counts once per subset, and only texts are shared between them)."""
    stats = [p.stats for p in parts]
    n_docs = [s["num_documents"] for s in stats]
    n_queries = [s["num_queries"] for s in stats]
    docs = _merge_text_statistics(
        [s["documents_text_statistics"] for s in stats],
        n_docs,
        len(frozenset().union(*(p.corpus_texts for p in parts))),
    )
    queries = _merge_text_statistics(
        [s["queries_text_statistics"] for s in stats],
        n_queries,
        len(frozenset().union(*(p.query_texts for p in parts))),
    )
    rel = [s["relevant_docs_statistics"] for s in stats]
    n_rel = sum(r["num_relevant_docs"] for r in rel)
    summed = ("unique_relevant_docs", "num_missing_query_ids", "num_missing_corpus_ids")
    relevant = {
        "num_relevant_docs": n_rel,
        "min_relevant_docs_per_query": min(r["min_relevant_docs_per_query"] for r in rel),
        "average_relevant_docs_per_query": n_rel / sum(p.n_qrels for p in parts),
        "max_relevant_docs_per_query": max(r["max_relevant_docs_per_query"] for r in rel),
        **{key: sum(r[key] for r in rel) for key in summed},
        "queries_with_all_gold_black_or_white": sum(r["queries_with_all_gold_black_or_white"] for r in rel),
    }
    return _retrieval_statistics(sum(n_docs), sum(n_queries), docs, queries, relevant)


def _retrieval_statistics(
    n_docs: int, n_queries: int, docs: Mapping[str, Any], queries: Mapping[str, Any], relevant: Mapping
) -> dict[str, Any]:
    """mteb's ``RetrievalDescriptiveStatistics`` of a text-only task (one subset, or all merged)."""
    return {
        "num_samples": n_docs + n_queries,
        "num_queries": n_queries,
        "num_documents": n_docs,
        "number_of_characters": docs["total_text_length"] + queries["total_text_length"],
        "documents_text_statistics": docs,
        "documents_image_statistics": None,
        "documents_audio_statistics": None,
        "documents_video_statistics": None,
        "queries_text_statistics": queries,
        "queries_image_statistics": None,
        "queries_audio_statistics": None,
        "queries_video_statistics": None,
        "relevant_docs_statistics": relevant,
        "top_ranked_statistics": None,
    }


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
