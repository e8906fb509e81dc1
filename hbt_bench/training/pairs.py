"""Training rows for hybrid batch training: one row per (group, query language, passage language).

A group is a LAReQA question id, shared by the parallel translations of a question; the passage of
(group, Y) is the answer sentence in language Y. The samplers in ``hbt_bench.training.samplers`` pick
rows by these metadata columns so that translations never meet in one batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datasets

    from hbt_bench.data.lareqa import LareqaCorpus

__all__ = ["PAIR_COLUMNS", "TEXT_COLUMNS", "parallel_pairs"]

TEXT_COLUMNS: tuple[str, ...] = ("query", "passage")
PAIR_COLUMNS: tuple[str, ...] = ("query", "passage", "group", "query_lang", "passage_lang")


def parallel_pairs(corpus: LareqaCorpus) -> datasets.Dataset:
    """Every ordered (X, Y) pair per group, X == Y included, where the group has a question in X and an
    answer in Y.

    Rows are ordered by group (sorted qid), then query language, then passage language (both sorted), so
    the row order does not depend on dict or file order. Pass ``dataset.select_columns(list(TEXT_COLUMNS))``
    to the trainer and the full dataset as the sampler's ``metadata``.
    """
    import datasets

    questions: dict[str, dict[str, str]] = {}  # qid -> {lang: question text}
    answers: dict[str, dict[str, str]] = {}  # qid -> {lang: answer sentence text}
    for lang, data in corpus.languages.items():
        cand_text = {c.uid: c.text for c in data.candidates}
        for q in data.questions:
            questions.setdefault(q.qid, {})[lang] = q.text
            answers.setdefault(q.qid, {})[lang] = cand_text[q.answer_uid]

    cols: dict[str, list[str]] = {name: [] for name in PAIR_COLUMNS}
    for qid in sorted(questions):
        q_by_lang, a_by_lang = questions[qid], answers[qid]
        for x in sorted(q_by_lang):
            for y in sorted(a_by_lang):
                cols["query"].append(q_by_lang[x])
                cols["passage"].append(a_by_lang[y])
                cols["group"].append(qid)
                cols["query_lang"].append(x)
                cols["passage_lang"].append(y)
    features = datasets.Features({name: datasets.Value("string") for name in PAIR_COLUMNS})
    return datasets.Dataset.from_dict(cols, features=features)
