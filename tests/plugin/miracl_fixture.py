"""A local copy of ``mteb/MIRACLRetrievalHardNegatives`` laid out like the hub dataset mteb loads.

Layout (taken from mteb 2.26's ``mteb/abstasks/retrieval_dataset_loaders.py``, ``RetrievalDatasetLoader``):
one dataset config per language and part, ``{lang}-corpus`` (``_id``/``id``, ``title``, ``text``),
``{lang}-queries`` (``_id``/``id``, ``text``) and ``{lang}-qrels`` (``query-id``, ``corpus-id``, ``score``),
declared in the ``configs:`` front matter of ``README.md`` (how ``datasets`` finds configs in a folder), each
with one ``dev`` split. The queries and qrels are the REAL MIRACL v1.0 dev topics and qrels
(``/work/shared/data/miracl``, Apache-2.0); the corpus is synthetic: one passage per judged docid, so the
docids are the real judged ones. A relevant passage repeats its query's words (a lexical encoder finds it);
a judged non-relevant one does not.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

SPLIT = "dev"


def read_miracl(data_dir: Path, lang: str) -> tuple[dict[str, str], list[tuple[str, str, int]]]:
    """Real dev topics ``{qid: query}`` and qrels ``[(qid, docid, rel)]`` of one language."""
    base = Path(data_dir) / "miracl"
    with (base / "topics" / f"topics.miracl-v1.0-{lang}-dev.tsv").open(encoding="utf-8") as fh:
        topics = {row[0]: row[1] for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)}
    qrels = []
    with (base / "qrels" / f"qrels.miracl-v1.0-{lang}-dev.tsv").open(encoding="utf-8") as fh:
        for line in fh:
            qid, _, docid, rel = line.split()
            qrels.append((qid, docid, int(rel)))
    return topics, qrels


def build_hub_copy(
    root: Path, data_dir: Path, languages: Sequence[str] = ("yo", "de"), max_queries: int | None = None
) -> Path:
    """Write the hub-layout copy under ``root`` for ``languages``; returns ``root``.

    ``max_queries`` keeps the first n judged queries of each language (in topic-file order).
    """
    from datasets import Dataset

    root.mkdir(parents=True, exist_ok=True)
    configs = []
    for lang in languages:
        topics, qrels = read_miracl(data_dir, lang)
        keep = [q for q in topics if any(r[0] == q for r in qrels)]
        keep = set(keep[:max_queries] if max_queries else keep)
        qrels = [r for r in qrels if r[0] in keep]
        passages: dict[str, str] = {}
        for qid, docid, rel in qrels:
            words = topics[qid] if rel > 0 else f"unrelated filler passage {docid}"
            passages.setdefault(docid, f"{words} ({lang} {docid})")
        parts = {
            "corpus": Dataset.from_dict(
                {
                    "_id": list(passages),
                    "title": [f"Title {d}" for d in passages],
                    "text": list(passages.values()),
                }
            ),
            "queries": Dataset.from_dict(
                {"_id": [q for q in topics if q in keep], "text": [t for q, t in topics.items() if q in keep]}
            ),
            "qrels": Dataset.from_dict(
                {
                    "query-id": [r[0] for r in qrels],
                    "corpus-id": [r[1] for r in qrels],
                    "score": [r[2] for r in qrels],
                }
            ),
        }
        for part, ds in parts.items():
            config = f"{lang}-{part}"
            ds.to_parquet(str(root / config / f"{SPLIT}.parquet"))
            configs.append(
                f"- config_name: {config}\n  data_files:\n"
                f"  - split: {SPLIT}\n    path: {config}/{SPLIT}.parquet"
            )
    (root / "README.md").write_text("---\nconfigs:\n" + "\n".join(configs) + "\n---\n", encoding="utf-8")
    return root
