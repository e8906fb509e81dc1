"""MIRACL through mteb's own tasks: the paper's 15 languages, and a pooled multilingual diagnostic.

mteb 2.26 ships ``MIRACLRetrieval`` (full corpora, 106M passages: what the paper used),
``MIRACLRetrievalHardNegatives`` (top-250 pools of BM25 / mE5-large / e5-mistral per query, 43k-297k
passages per language) and ``MIRACLReranking``. They are used as they are: :func:`miracl_task` restricts one
to the languages of the paper's Tables 12-13 by hf_subset. Their scores already hold ``recall_at_100`` (mteb's
default ``k_values`` are 1, 3, 5, 10, 20, 100, 1000), the paper's second MIRACL metric, so nothing is added.

What mteb lacks is :class:`MIRACLPooled`: the queries of each chosen language against ONE corpus, the union of
the hard-negative pools of all chosen languages, only the query language's judged passages relevant.

Is it sound? MIRACL judges passages of the query's own language only; every passage of another language is
unjudged and counts as non-relevant, and MIRACL (unlike XQuAD-R / mMARCO) has no parallel relevant passage
in the other languages. So the pooled score is NOT a multilingual retrieval quality (a perfectly aligned model
that ranks a truly relevant German passage first for a Spanish query is penalised), and the LAReQA language
bias (rank distance between same- and other-language relevant items) is undefined: no other-language item is
relevant. What it does measure soundly is interference: adding non-relevant candidates can only push the
judged passages down, so ``mono - pooled`` (per query, hence per language) is >= 0: the loss caused by
other-language passages outranking the query language's relevant ones ("crowding-out"). Since the other
languages' pools were built for other (non-parallel) queries, those passages are mostly off-topic, and a large
crowding-out says the model's space mixes languages regardless of topic. The task also reports
``foreign_at_10_<lang>``, the share of other-language passages in the top 10, which needs no judgment. Read it
as a diagnostic next to the monolingual score, never as a multilingual retrieval score.

The whole pool is one hf_subset (``multi``) so the pooled corpus is encoded once, not once per query language;
per-language scores are computed from mteb's per-query scores in :meth:`MIRACLPooled.task_specific_scores`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.retrieval_dataset_loaders import RetrievalDatasetLoader, RetrievalSplitData
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.tasks.retrieval.multilingual.miracl_retrieval import (
    _LANGUAGES as MIRACL_LANGUAGES,
)
from mteb.tasks.retrieval.multilingual.miracl_retrieval import (
    MIRACLRetrieval,
    MIRACLRetrievalHardNegatives,
)

from hbt_bench.errors import HbtBenchError

__all__ = [
    "MIRACL_FULL",
    "MIRACL_HARD_NEGATIVES",
    "MIRACL_TASKS",
    "PAPER_LANGUAGES",
    "POOLED_SUBSET",
    "MIRACLPooled",
    "miracl_task",
]

#: The default in HBT-DomainShift (practical: pools of 43k-297k passages per language).
MIRACL_HARD_NEGATIVES = MIRACLRetrievalHardNegatives.metadata.name
#: The paper's setting (full corpora, 106M passages): ``hbt_domain_shift_benchmark(miracl=MIRACL_FULL)``.
MIRACL_FULL = MIRACLRetrieval.metadata.name
MIRACL_TASKS = (MIRACL_HARD_NEGATIVES, MIRACL_FULL)
#: arXiv 2408.10536 Tables 12-13 (MIRACL dev), in the paper's row order; en, de and yo are not reported.
PAPER_LANGUAGES: tuple[str, ...] = (
    "sw", "bn", "hi", "ko", "th", "te", "fi", "ja", "es", "fr", "ru", "zh", "fa", "ar", "id",
)  # fmt: skip
POOLED_SUBSET = "multi"
_SPLIT = "dev"


class MiraclLanguageError(HbtBenchError, ValueError):
    """A language MIRACL does not have; the message names the argument and the valid codes."""


def _check_languages(languages: Sequence[str], what: str) -> tuple[str, ...]:
    langs = tuple(dict.fromkeys(languages))
    bad = [lang for lang in langs if lang not in MIRACL_LANGUAGES]
    if bad or not langs:
        raise MiraclLanguageError(
            f"{what}: {', '.join(bad) or '(none)'} not MIRACL languages ({', '.join(MIRACL_LANGUAGES)})"
        )
    return langs


def miracl_task(name: str = MIRACL_HARD_NEGATIVES, languages: Sequence[str] = PAPER_LANGUAGES) -> Any:
    """mteb's MIRACL task ``name`` restricted to ``languages`` (hf_subsets; default the paper's 15)."""
    import mteb

    if name not in MIRACL_TASKS:
        raise HbtBenchError(f"MIRACL task {name!r}: expected one of {', '.join(MIRACL_TASKS)}")
    return mteb.get_task(name, hf_subsets=list(_check_languages(languages, "MIRACL languages")))


def _per_query_mean(values: Mapping[str, float], qids: Sequence[str]) -> float | None:
    got = [values[q] for q in qids if q in values]
    return sum(got) / len(got) if got else None


class MIRACLPooled(AbsTaskRetrieval):
    """Queries of each language against the pooled hard-negative corpora of all chosen languages.

    Doc and query ids get a ``<lang>:`` prefix (MIRACL ids are ``article#passage`` of each language's own
    Wikipedia, so they collide across languages). Scores: mteb's standard ones over all queries, plus per
    query language ``ndcg_at_10_<lang>``, ``recall_at_100_<lang>``, ``map_at_1000_<lang>``,
    ``foreign_at_10_<lang>`` and their macro means (``*_macro``; main score ``ndcg_at_10_macro``).
    """

    metadata = TaskMetadata(
        name="MIRACLHardNegativesPooled",
        description=(
            "MIRACL dev queries of each language against ONE corpus pooling the hard-negative passages "
            "(mteb/MIRACLRetrievalHardNegatives) of all chosen languages; only the query language's judged "
            "passages are relevant. A crowding-out diagnostic (monolingual minus pooled score), not a "
            "multilingual retrieval score: other-language passages are unjudged. Languages: the 15 of "
            "arXiv 2408.10536 Tables 12-13."
        ),
        reference="http://miracl.ai",
        dataset=dict(MIRACLRetrievalHardNegatives.metadata.dataset),
        type="Retrieval",
        category="t2t",
        modalities=["text"],
        eval_splits=[_SPLIT],
        eval_langs={POOLED_SUBSET: [MIRACL_LANGUAGES[lang][0] for lang in PAPER_LANGUAGES]},
        main_score="ndcg_at_10_macro",
        date=MIRACLRetrievalHardNegatives.metadata.date,
        domains=["Encyclopaedic", "Written"],
        task_subtypes=[],
        license="cc-by-sa-4.0",
        annotations_creators="expert-annotated",
        dialect=[],
        sample_creation="created",
        bibtex_citation=MIRACLRetrievalHardNegatives.metadata.bibtex_citation,
        adapted_from=[MIRACL_HARD_NEGATIVES],
    )

    def __init__(self, *args: Any, languages: Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool_languages = _check_languages(languages or PAPER_LANGUAGES, "MIRACLPooled languages")
        if self.pool_languages != PAPER_LANGUAGES:  # another pool is another task: recorded in the revision
            dataset = dict(self.metadata.dataset)
            dataset["revision"] = f"{dataset['revision']}+{'.'.join(self.pool_languages)}"
            langs = {POOLED_SUBSET: [MIRACL_LANGUAGES[lang][0] for lang in self.pool_languages]}
            self.metadata = self.metadata.model_copy(update={"dataset": dataset, "eval_langs": langs})

    @property
    def source_revision(self) -> str:
        """The revision of mteb's hard-negative dataset that is read (without our language tag)."""
        return str(self.metadata.dataset["revision"]).split("+")[0]

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """Load each language's hard-negative split with mteb's loader and pool them (ids prefixed)."""
        if self.data_loaded:
            return
        from datasets import concatenate_datasets

        corpora, queries, qrels = [], [], {}
        for lang in self.pool_languages:
            part = RetrievalDatasetLoader(
                hf_repo=self.metadata.dataset["path"],
                revision=self.source_revision,
                split=_SPLIT,
                config=lang,
            ).load(num_proc=num_proc)
            corpora.append(_prefixed(part["corpus"], lang, ("id", "title", "text")))
            queries.append(_prefixed(part["queries"], lang, ("id", "text")))
            for qid, docs in part["relevant_docs"].items():
                qrels[f"{lang}:{qid}"] = {f"{lang}:{d}": int(s) for d, s in docs.items()}
        split = RetrievalSplitData(
            corpus=concatenate_datasets(corpora),
            queries=concatenate_datasets(queries),
            relevant_docs=qrels,
            top_ranked=None,
        )
        self.dataset = {POOLED_SUBSET: {_SPLIT: split}}
        self.data_loaded = True

    def task_specific_scores(
        self,
        scores: dict[str, dict[str, float]],
        qrels: Any,
        results: dict[str, dict[str, float]],
        hf_split: str,
        hf_subset: str,
    ) -> dict[str, float]:
        """Per query language means of mteb's per-query scores, the foreign share of the top 10, macros."""
        by_lang: dict[str, list[str]] = {}
        for qid in scores:
            by_lang.setdefault(qid.split(":", 1)[0], []).append(qid)
        foreign = {qid: _foreign_at_10(qid, results.get(qid, {})) for qid in scores}
        measures = {
            "ndcg_at_10": {q: s["ndcg_cut_10"] for q, s in scores.items()},
            "recall_at_100": {q: s["recall_100"] for q, s in scores.items()},
            "map_at_1000": {q: s["map_cut_1000"] for q, s in scores.items()},
            "foreign_at_10": foreign,
        }
        out: dict[str, float] = {}
        for key, values in measures.items():
            per_lang = {lang: _per_query_mean(values, qids) for lang, qids in sorted(by_lang.items())}
            kept = [v for v in per_lang.values() if v is not None]
            out.update({f"{key}_{lang}": v for lang, v in per_lang.items() if v is not None})
            out[f"{key}_macro"] = sum(kept) / len(kept) if kept else 0.0
        return out


def _foreign_at_10(qid: str, hits: Mapping[str, float]) -> float:
    """Share of the top 10 (by score, ties by id) whose language differs from the query's."""
    lang = qid.split(":", 1)[0]
    top = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return sum(not d.startswith(f"{lang}:") for d, _ in top) / len(top) if top else 0.0


def _prefixed(ds: Any, lang: str, columns: tuple[str, ...]) -> Any:
    """``ds`` with ``id`` prefixed by ``<lang>:`` and exactly ``columns`` (missing title -> "")."""
    if "title" in columns and "title" not in ds.column_names:
        ds = ds.add_column("title", [""] * len(ds))
    ds = ds.select_columns(list(columns))
    return ds.map(lambda row: {"id": f"{lang}:{row['id']}"}, desc=f"MIRACL {lang} ids")
