"""Build the mMARCO-R dataset (:mod:`hbt_bench.data.mmarco`) by streaming only the rows it needs.

Inputs and where their layouts come from (this machine cannot reach the hub; nothing here was checked against
the live files, so the assumptions are listed):

- Hub dataset ``unicamp-dl/mmarco`` (pinned :data:`~hbt_bench.data.mmarco.HUB_REVISION`), mMARCO v2 ("google")
  paths as in ``../shared/notes/data.md`` section 4 and the dataset's loading script ``mmarco.py``:
  ``data/google/queries/dev/{language}_queries.dev.tsv`` (full dev queries, ``qid<TAB>text``),
  ``data/google/collections/{language}_collection.tsv`` (8,841,823 lines ``pid<TAB>text``, 2.7-7.7 GB) and
  ``data/google/runs/run.bm25_{language}-msmarco.txt``. The loading script parses run lines as
  ``qid<TAB>pid<TAB>rank`` (pyserini's ``--output-format msmarco``, which the unicamp-dl/mMARCO README uses to
  make them); the TREC form ``qid Q0 pid rank score tag`` is accepted too. Assumed: a query's run lines are in
  increasing rank order (pyserini writes them so; checked while reading), ids are decimal integers, and text
  fields hold no tab or newline (the loading script splits each line into exactly two fields).
- Qrels: MS MARCO dev-small (``qid 0 pid 1``), the pinned :data:`~hbt_bench.data.mmarco.QRELS`, taken from
  ``$HBT_BENCH_DATA_DIR/mmarco/`` or downloaded into the cache; they are not in the hub repository.

What is built, for languages L, ``--queries N``, ``--seed S`` and ``--negatives K``:

1. Eligible queries: dev-small queries with exactly one judged passage whose query is in every language of L.
2. Sample: the N eligible qids with the smallest ``sha256(f"{S}:{qid}")`` (hex order), listed by numeric qid.
   Fully specified, independent of any random-number library; a larger N with the same S contains the smaller.
3. Pool: every sampled query's judged passage plus, from each language's BM25 run, its first K passages that
   are not its judged one; the union over L is one passage-id set, fetched in every language.
4. Every collection is read line by line and left as soon as every pooled id was seen (a progress bar counts
   bytes); no collection is ever held in memory.

Resumable: finished steps leave files in a work folder next to the output (``.<output>.build-<key>``, the key
hashes the parameters and the source): each language's dev queries and run extract, and per collection a
partial file of the rows found so far plus a checkpoint (source byte offset, partial file size). A killed
build run again with the same arguments truncates the partial file to its checkpoint and continues from that
offset.
The result is written into a staged folder and swapped in atomically; the work folder is removed after.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hbt_bench.atomic import staged_dir, write_text_atomic
from hbt_bench.data.mmarco import (
    DATASET,
    DEFAULT_LANGUAGES,
    DEFAULT_NEGATIVES,
    DEFAULT_QUERIES,
    DEFAULT_SEED,
    FORMAT,
    HUB_REPO,
    HUB_REVISION,
    LANGUAGES,
    QRELS,
    TOPICS,
    check_languages,
)
from hbt_bench.data.sources import CACHE_DIR_ENV, DATA_DIR_ENV, PinnedFile, file_sha256, verify_sha256
from hbt_bench.errors import DataSourceError, HbtBenchError
from hbt_bench.paths import safe_component
from hbt_bench.resources import cache_dir

__all__ = [
    "BuildReport",
    "HubSource",
    "LocalSource",
    "MMarcoBuildError",
    "MMarcoSourceError",
    "build_mmarco_r",
    "collection_relpath",
    "open_source",
    "queries_relpath",
    "resolve_pinned",
    "resolve_qrels",
    "resolve_topics",
    "run_relpath",
    "sample_qids",
]

#: ``hook(relpath, lines)`` is called after each line read from a source file (``lines``: read so far in this
#: run of the build). Tests raise from it to simulate a kill.
LineHook = Callable[[str, int], None]


class MMarcoBuildError(HbtBenchError, ValueError):
    """A build argument is invalid (unknown language, ``--queries 0``, more queries than are eligible...)."""


class MMarcoSourceError(DataSourceError):
    """A source file is missing, truncated or not in the layout the build expects; the message names it."""


def queries_relpath(lang: str) -> str:
    return f"data/google/queries/dev/{LANGUAGES[lang][0]}_queries.dev.tsv"


def collection_relpath(lang: str) -> str:
    return f"data/google/collections/{LANGUAGES[lang][0]}_collection.tsv"


def run_relpath(lang: str) -> str:
    return f"data/google/runs/run.bm25_{LANGUAGES[lang][0]}-msmarco.txt"


# --- sources -----------------------------------------------------------------------------------------------


class LocalSource:
    """A local folder laid out like the hub repository (how tests and offline users with a copy build)."""

    kind = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.identity = f"local:{self.root}"

    def where(self, relpath: str) -> str:
        return str(self.root / relpath)

    def _file(self, relpath: str) -> Path:
        path = self.root / relpath
        if not path.is_file():
            raise MMarcoSourceError(
                f"source {self.root}: missing file {relpath} (expected {path}; the folder must be laid "
                f"out like the hub's {HUB_REPO})"
            )
        return path

    def size(self, relpath: str) -> int:
        return self._file(relpath).stat().st_size

    def open(self, relpath: str) -> IO[bytes]:
        return self._file(relpath).open("rb")


class HubSource:
    """The hub repository at a revision, read through ``huggingface_hub``'s file system (ranged reads, so a
    resumed build seeks instead of downloading from the start)."""

    kind = "hub"

    def __init__(self, repo: str = HUB_REPO, revision: str = HUB_REVISION) -> None:
        self.repo = repo
        self.revision = revision
        self.identity = f"hub:{repo}@{revision}"
        self._fs: Any = None

    def _path(self, relpath: str) -> str:
        return f"datasets/{self.repo}@{self.revision}/{relpath}"

    def where(self, relpath: str) -> str:
        return f"hf://{self._path(relpath)}"

    def _filesystem(self) -> Any:
        if self._fs is None:
            from huggingface_hub import HfFileSystem  # lazy: only a hub build needs it

            self._fs = HfFileSystem()
        return self._fs

    def size(self, relpath: str) -> int:
        try:
            return int(self._filesystem().size(self._path(relpath)))
        except Exception as exc:  # offline, missing file, unknown revision: all mean "cannot read it"
            raise MMarcoSourceError(
                f"cannot read {self.where(relpath)}: {type(exc).__name__}: {exc}. Offline? Build from a "
                "local copy laid out like the hub with --source DIR."
            ) from exc

    def open(self, relpath: str) -> IO[bytes]:
        try:
            return self._filesystem().open(self._path(relpath), "rb", block_size=8 << 20)
        except Exception as exc:
            raise MMarcoSourceError(
                f"cannot open {self.where(relpath)}: {type(exc).__name__}: {exc}"
            ) from exc


Source = LocalSource | HubSource


def open_source(spec: str | Path | None, revision: str = HUB_REVISION) -> Source:
    """``None`` or a ``https://huggingface.co/datasets/<repo>`` / ``hf://datasets/<repo>`` URL: the hub;
    anything else must be an existing local folder laid out like it."""
    if spec is None:
        return HubSource(HUB_REPO, revision)
    text = str(spec)
    for prefix in ("https://huggingface.co/datasets/", "hf://datasets/"):
        if text.startswith(prefix):
            repo = text.removeprefix(prefix).strip("/")
            if repo.count("/") != 1:
                raise MMarcoBuildError(f"--source {text}: expected {prefix}<owner>/<name>")
            return HubSource(repo, revision)
    if not Path(text).expanduser().is_dir():
        raise MMarcoBuildError(f"--source {text}: not a folder (nor a huggingface.co dataset URL)")
    return LocalSource(text)


def resolve_pinned(pinned: PinnedFile, label: str, data_dir: str | Path | None = None) -> Path:
    """A verified pinned file: ``<data_dir>/<relpath>``, else ``$HBT_BENCH_DATA_DIR``'s, else the cache
    (downloaded from its pinned URL on first use). ``label`` names it in errors."""
    root = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV)
    if root:
        path = Path(root).expanduser() / pinned.relpath
        if path.is_file():
            verify_sha256(path, pinned.sha256, label=label, url=pinned.url)
            return path
        if data_dir is not None:
            raise MMarcoSourceError(f"{label} not found: expected {str(path)!r} (from {pinned.url})")
    target = cache_dir() / pinned.relpath
    if target.is_file():
        verify_sha256(target, pinned.sha256, label=label, downloaded=True)
        return target
    try:
        import pooch

        return Path(
            pooch.retrieve(
                pinned.url,
                known_hash=f"sha256:{pinned.sha256}",
                path=target.parent,
                fname=target.name,
                progressbar=False,
            )
        )
    except Exception as exc:
        raise MMarcoSourceError(
            f"cannot download the {label} from {pinned.url}: {type(exc).__name__}: {exc}. Put the "
            f"file at <dir>/{pinned.relpath} and set {DATA_DIR_ENV}=<dir> (or {CACHE_DIR_ENV})."
        ) from exc


def resolve_qrels(data_dir: str | Path | None = None) -> Path:
    """The verified dev-small qrels (see :func:`resolve_pinned`)."""
    return resolve_pinned(QRELS, "MS MARCO dev-small qrels", data_dir)


def resolve_topics(data_dir: str | Path | None = None) -> Path:
    """The verified MS MARCO dev-small English queries (see :func:`resolve_pinned`): the source of the
    shipped English mMARCO-R perturbation reference."""
    return resolve_pinned(TOPICS, "MS MARCO dev-small English topics", data_dir)


def _read_qrels(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            cols = line.split()
            if len(cols) != 4:
                raise MMarcoSourceError(f"{path}, line {number}: expected 'qid 0 pid rel'")
            if cols[3] != "0":
                out.setdefault(cols[0], []).append(cols[2])
    return out


# --- streaming -------------------------------------------------------------------------------------------


def _bar(total: int, initial: int, desc: str, progress: bool) -> AbstractContextManager[Any]:
    if not progress:
        return nullcontext(None)
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False
    )


def _lines(
    source: Source, relpath: str, start: int, progress: bool, hook: LineHook | None, report: BuildReport
) -> Iterator[tuple[int, bytes]]:
    """``(offset after the line, line)`` from byte ``start``; a last line without a newline is a truncated
    file."""
    size = source.size(relpath)
    report.resumed_from[relpath] = start
    report.sizes[relpath] = size
    count = 0
    with source.open(relpath) as handle, _bar(size, start, Path(relpath).name, progress) as bar:
        if start:
            handle.seek(start)
        offset = start
        try:
            for line in handle:
                offset += len(line)
                count += 1
                if bar is not None and count % 4096 == 0:
                    bar.update(offset - bar.n)
                if line[-1:] != b"\n":
                    raise MMarcoSourceError(
                        f"{source.where(relpath)}: ends mid-line at byte {offset}: the file is truncated"
                    )
                if hook is not None:
                    hook(relpath, count)
                yield offset, line
        finally:
            report.lines_read[relpath] = count


def _id_text(line: bytes, at: tuple[str, int]) -> tuple[str, str]:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MMarcoSourceError(f"{at[0]}, byte {at[1]}: not UTF-8 ({exc})") from exc
    ident, sep, rest = text.rstrip("\n").removesuffix("\r").partition("\t")
    if not sep or not ident.isdigit():
        raise MMarcoSourceError(f"{at[0]}, byte {at[1]}: expected 'id<TAB>text', got {text[:80]!r}")
    return ident, rest


def _run_row(line: bytes, at: tuple[str, int]) -> tuple[str, str, int]:
    cols = line.split()
    if len(cols) == 6 and cols[1] == b"Q0":
        cols = [cols[0], cols[2], cols[3]]
    if len(cols) != 3 or not all(c.isdigit() for c in cols):
        raise MMarcoSourceError(
            f"{at[0]}, byte {at[1]}: expected 'qid<TAB>pid<TAB>rank' (or TREC 'qid Q0 pid rank score tag')"
        )
    return cols[0].decode(), cols[1].decode(), int(cols[2])


# --- the build -------------------------------------------------------------------------------------------


@dataclass
class BuildReport:
    """What a build did (not part of the dataset): lines read and resume offsets per source file."""

    path: Path
    lines_read: dict[str, int] = field(default_factory=dict)
    resumed_from: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)


def sample_qids(eligible: Sequence[str], n: int, seed: int) -> list[str]:
    """The ``n`` qids with the smallest ``sha256(f"{seed}:{qid}")``, sorted by numeric qid."""
    ranked = sorted(eligible, key=lambda q: (hashlib.sha256(f"{seed}:{q}".encode()).hexdigest(), q))
    return sorted(ranked[:n], key=int)


def _json_dump(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, ensure_ascii=False, sort_keys=True) + "\n")


def _json_load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _row(ident: str, text: str) -> str:
    return json.dumps({"id": ident, "text": text}, ensure_ascii=False) + "\n"


def _dev_queries(
    source: Source, lang: str, wanted: set[str], work: Path, progress: bool, hook: Any, report: BuildReport
) -> dict[str, str]:
    marker = work / f"queries-{lang}.json"
    if marker.is_file():
        return _json_load(marker)
    rel = queries_relpath(lang)
    loc = source.where(rel)
    found: dict[str, str] = {}
    for offset, line in _lines(source, rel, 0, progress, hook, report):
        qid, text = _id_text(line, (loc, offset - len(line)))
        if qid in wanted:
            found[qid] = text
            if len(found) == len(wanted):
                break
    _json_dump(marker, found)
    return found


def _negatives(
    source: Source,
    lang: str,
    judged: dict[str, str],
    k: int,
    work: Path,
    progress: bool,
    hook: Any,
    report: BuildReport,
) -> dict[str, list[str]]:
    marker = work / f"run-{lang}.json"
    if marker.is_file():
        return _json_load(marker)
    negs: dict[str, list[str]] = {q: [] for q in judged}
    if k > 0:
        rel = run_relpath(lang)
        loc = source.where(rel)
        last_rank: dict[str, int] = {}
        full = 0
        for offset, line in _lines(source, rel, 0, progress, hook, report):
            qid, pid, rank = _run_row(line, (loc, offset - len(line)))
            if qid not in judged:
                continue
            if rank <= last_rank.get(qid, 0):
                raise MMarcoSourceError(
                    f"{source.where(rel)}, byte {offset - len(line)}: query {qid} rank {rank} after rank "
                    f"{last_rank[qid]}: the run is not in increasing rank order per query"
                )
            last_rank[qid] = rank
            row = negs[qid]
            if len(row) < k and pid != judged[qid] and pid not in row:
                row.append(pid)
                if len(row) == k:
                    full += 1
                    if full == len(judged):
                        break  # every sampled query has its K negatives: the rest of the run is not needed
    _json_dump(marker, negs)
    return negs


def _passages(
    source: Source,
    lang: str,
    pool: list[str],
    work: Path,
    progress: bool,
    hook: Any,
    report: BuildReport,
    checkpoint_every: int,
) -> Path:
    """``work/passages-<lang>.jsonl``: the pooled passages in pool order, streamed out of the collection."""
    done = work / f"passages-{lang}.jsonl"
    if done.is_file():
        return done
    partial = work / f"passages-{lang}.partial.jsonl"
    ckpt = work / f"passages-{lang}.checkpoint.json"
    rel = collection_relpath(lang)
    loc = source.where(rel)
    start, keep = 0, 0
    if ckpt.is_file() and partial.is_file():
        state = _json_load(ckpt)
        start, keep = int(state["offset"]), int(state["bytes"])
    needed = set(pool)
    found: set[str] = set()
    with open(partial, "a+b") as out:
        out.truncate(keep)  # rows written after the last checkpoint are read again from the source
        out.seek(0)
        for line in out:
            found.add(json.loads(line)["id"])
        out.seek(keep)

        def checkpoint(offset: int) -> None:
            out.flush()
            os.fsync(out.fileno())
            _json_dump(ckpt, {"offset": offset, "bytes": out.tell()})

        offset = start
        if len(found) < len(needed):
            for n, (offset, line) in enumerate(_lines(source, rel, start, progress, hook, report), start=1):
                pid, text = _id_text(line, (loc, offset - len(line)))
                if pid in needed and pid not in found:
                    found.add(pid)
                    out.write(_row(pid, text).encode("utf-8"))
                    if len(found) == len(needed):
                        break  # stop early: the rest of the collection holds nothing we need
                if n % checkpoint_every == 0:
                    checkpoint(offset)
        checkpoint(offset)
    if len(found) < len(needed):
        missing = sorted(needed - found, key=int)
        raise MMarcoSourceError(
            f"{source.where(rel)}: ended at byte {offset} before {len(missing)} of the {len(needed)} pooled "
            f"passages were found (e.g. {', '.join(missing[:5])}): the collection is truncated or not "
            "mMARCO's"
        )
    rows = {}
    with open(partial, encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            rows[row["id"]] = row["text"]
    write_text_atomic(done, "".join(_row(pid, rows[pid]) for pid in pool))
    partial.unlink()
    ckpt.unlink()
    return done


def build_mmarco_r(
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    *,
    queries: int = DEFAULT_QUERIES,
    seed: int = DEFAULT_SEED,
    negatives: int = DEFAULT_NEGATIVES,
    source: str | Path | None = None,
    revision: str = HUB_REVISION,
    output: str | Path | None = None,
    qrels: str | Path | None = None,
    progress: bool = True,
    checkpoint_every: int = 100_000,
    hook: LineHook | None = None,
) -> BuildReport:
    """Build mMARCO-R into ``output`` (default ``<cache>/mmarco-r``); re-running a killed build resumes it.

    ``source``: a local folder laid out like the hub repository, or None for the hub at ``revision``.
    ``qrels``: a data dir holding ``mmarco/qrels.msmarco-passage.dev-subset.txt`` (default: see
    :func:`resolve_qrels`).
    """
    try:
        langs = check_languages(languages, "--languages")
    except HbtBenchError as exc:
        raise MMarcoBuildError(str(exc)) from None
    for name, value, low in (("--queries", queries, 1), ("--negatives", negatives, 0), ("--seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise MMarcoBuildError(f"{name} {value!r}: expected an integer >= {low}")
    if checkpoint_every < 1:
        raise MMarcoBuildError(f"checkpoint_every {checkpoint_every!r}: expected an integer >= 1")
    safe_component(revision, "--revision")
    src = open_source(source, revision)
    for lang in langs:  # every file must be there before hours of streaming start
        for rel in (queries_relpath(lang), run_relpath(lang), collection_relpath(lang)):
            src.size(rel)
    out = Path(output).expanduser() if output is not None else cache_dir() / DATASET
    qrels_path = resolve_qrels(qrels)
    qrels_sha = file_sha256(qrels_path)

    params = {
        "languages": list(langs),
        "queries": queries,
        "seed": seed,
        "negatives": negatives,
        "hub_repo": src.repo if isinstance(src, HubSource) else HUB_REPO,
        "revision": revision,
    }
    key = hashlib.sha256(json.dumps([params, src.identity, qrels_sha], sort_keys=True).encode()).hexdigest()[
        :16
    ]
    work = out.parent / f".{out.name}.build-{key}"
    work.mkdir(parents=True, exist_ok=True)
    report = BuildReport(path=out)

    judged_all = _read_qrels(qrels_path)
    dev_small = set(judged_all)
    texts = {lang: _dev_queries(src, lang, dev_small, work, progress, hook, report) for lang in langs}
    single = sorted((q for q, pids in judged_all.items() if len(pids) == 1), key=int)
    eligible = [q for q in single if all(q in texts[lang] for lang in langs)]
    if queries > len(eligible):
        raise MMarcoBuildError(
            f"--queries {queries}: only {len(eligible)} dev-small queries have one judged passage and a "
            f"translation in each of {', '.join(langs)}"
        )
    sample = sample_qids(eligible, queries, seed)
    judged = {q: judged_all[q][0] for q in sample}
    negs = {lang: _negatives(src, lang, judged, negatives, work, progress, hook, report) for lang in langs}
    pool = sorted(
        {*judged.values(), *(p for by_q in negs.values() for row in by_q.values() for p in row)}, key=int
    )
    files = {
        lang: _passages(src, lang, pool, work, progress, hook, report, checkpoint_every) for lang in langs
    }

    with staged_dir(out) as tmp:
        (tmp / "qrels.tsv").write_text("".join(f"{q}\t0\t{judged[q]}\t1\n" for q in sample), encoding="utf-8")
        for lang in langs:
            folder = tmp / safe_component(lang, "language")
            folder.mkdir()
            (folder / "queries.jsonl").write_text(
                "".join(_row(q, texts[lang][q]) for q in sample), encoding="utf-8"
            )
            shutil.copyfile(files[lang], folder / "passages.jsonl")
        sample_info = {
            "method": "the N eligible qids with the smallest sha256(f'{seed}:{qid}'), sorted by numeric qid",
            "eligible": "dev-small queries with exactly one judged passage and a query in every language",
            "n_eligible": len(eligible),
            "seed": seed,
            "queries": queries,
            "qids": sample,
        }
        (tmp / "sample.json").write_text(json.dumps(sample_info, indent=1) + "\n", encoding="utf-8")
        digests = {
            p.relative_to(tmp).as_posix(): {"sha256": file_sha256(p), "bytes": p.stat().st_size}
            for p in sorted(tmp.rglob("*"))
            if p.is_file()
        }
        manifest = {
            "format": FORMAT,
            "dataset": DATASET,
            "license": "MS MARCO terms: non-commercial research only; never ship or commit this folder",
            "parameters": params,
            "qrels": {"file": Path(QRELS.relpath).name, "sha256": qrels_sha},
            "counts": {
                "languages": {lang: {"queries": len(sample), "passages": len(pool)} for lang in langs},
                "queries": len(sample),
                "passages_per_language": len(pool),
                "pool": len(pool) * len(langs),
                "negatives_per_language": {
                    lang: sum(len(row) for row in negs[lang].values()) for lang in langs
                },
            },
            "files": digests,
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
    shutil.rmtree(work, ignore_errors=True)
    report.manifest = manifest
    return report
