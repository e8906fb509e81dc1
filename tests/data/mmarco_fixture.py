"""A local copy of the hub's ``unicamp-dl/mmarco`` files in their exact layout, for offline build tests.

Real: the MS MARCO dev-small qrels and English queries from ``../shared/data/mmarco``. Synthetic: queries in
the other languages (``[de] query <qid>``), the passages (``[de] passage <pid> ...``) and the BM25 runs
(``qid<TAB>pid<TAB>rank``, as the hub's loading script reads them). File names and columns follow
:mod:`hbt_bench.data.mmarco_build`. The collection holds every judged passage and every run passage, in pid
order,
then :data:`TAIL` passages with larger ids that no query needs, so that stopping early is observable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hbt_bench.data.mmarco_build import collection_relpath, queries_relpath, run_relpath

TAIL = 500
DEPTH = 5


@dataclass(frozen=True)
class HubCopy:
    root: Path
    runs: dict[str, dict[str, list[str]]]  # lang -> qid -> ranked pids
    judged: dict[str, list[str]]  # qid -> judged pids (real qrels)
    collection_lines: int


def real_qrels(shared_mmarco: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (shared_mmarco / "qrels.msmarco-passage.dev-subset.txt").read_text().splitlines():
        qid, _, pid, _ = line.split()
        out.setdefault(qid, []).append(pid)
    return out


def write_hub_copy(
    root: Path, shared_mmarco: Path, languages: tuple[str, ...], *, drop: dict[str, int] | None = None
) -> HubCopy:
    """Write the copy under ``root``; ``drop[lang] = n`` leaves the first n dev-small queries untranslated."""
    judged = real_qrels(shared_mmarco)
    qids = list(judged)
    judged_pids = sorted({p for pids in judged.values() for p in pids}, key=int)
    top = int(judged_pids[-1])
    tail = [str(top + 1 + i) for i in range(TAIL)]
    english = (shared_mmarco / "topics.msmarco-passage.dev-subset.en.tsv").read_text(encoding="utf-8")
    runs: dict[str, dict[str, list[str]]] = {}
    for n, lang in enumerate(languages):
        rng = np.random.default_rng(n)
        q_file = root / queries_relpath(lang)
        q_file.parent.mkdir(parents=True, exist_ok=True)
        extra = "".join(f"{9_000_000 + i}\t[{lang}] a dev query outside dev-small {i}\n" for i in range(3))
        if lang == "en":
            q_file.write_text(english + extra, encoding="utf-8")
        else:
            skip = set(qids[: (drop or {}).get(lang, 0)])
            rows = "".join(f"{q}\t[{lang}] query {q}\n" for q in qids if q not in skip)
            q_file.write_text(rows + extra, encoding="utf-8")
        run: dict[str, list[str]] = {}
        picks = rng.integers(0, len(judged_pids), size=(len(qids), DEPTH))
        for i, q in enumerate(qids):
            ranked = list(dict.fromkeys(judged_pids[j] for j in picks[i]))
            if i % 3 == 0:
                ranked.insert(1, judged[q][0])  # BM25 finds the judged passage for some queries
                ranked = list(dict.fromkeys(ranked))
            run[q] = ranked
        runs[lang] = run
        r_file = root / run_relpath(lang)
        r_file.parent.mkdir(parents=True, exist_ok=True)
        r_file.write_text(
            "".join(f"{q}\t{p}\t{r}\n" for q, ranked in run.items() for r, p in enumerate(ranked, start=1)),
            encoding="utf-8",
        )
        c_file = root / collection_relpath(lang)
        c_file.parent.mkdir(parents=True, exist_ok=True)
        c_file.write_text(
            "".join(f"{p}\t[{lang}] passage {p} about topic {int(p) % 97}\n" for p in [*judged_pids, *tail]),
            encoding="utf-8",
        )
    return HubCopy(root=root, runs=runs, judged=judged, collection_lines=len(judged_pids) + TAIL)
