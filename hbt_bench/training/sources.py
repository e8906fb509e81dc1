"""Pair builders for sources other than LAReQA: a generic parallel table and mMARCO.

Both produce the rows of :func:`hbt_bench.training.pairs.expand_groups` (every ordered (X, Y) language
pair of a group; the hard negative, when present, in the passage's language Y).

* :func:`table_pairs`: rows ``id, language, question, answer[, negative]`` from a JSONL file or a
  ``datasets.Dataset``; rows sharing an ``id`` are translations of each other.
* :func:`mmarco_pairs`: mMARCO (``unicamp-dl/mmarco``) in its published file layout. MS MARCO's train
  triples are ids (``data/triples.train.ids.small.tsv``: ``qid \\t positive pid \\t negative pid``, the
  same for every language); the translations are ``data/google/queries/train/<language>_queries.train.tsv``
  (``qid \\t text``) and ``data/google/collections/<language>_collection.tsv`` (``pid \\t text``). A group
  is an MS MARCO query id, so the parallel versions of a triple share it. Files come from a local copy of
  that layout or from the hub (``huggingface_hub.hf_hub_download``, cached by the hub client).
* :func:`mmarco_triples_pairs`: the per-language text triples (``query, positive, negative``) that the
  dataset's ``<language>`` configs yield, zipped line by line (the configs follow the ids file order), so
  a group is a line number. :func:`load_mmarco_triples` opens them with ``datasets.load_dataset(...,
  streaming=True)``.

The ids triples file has 39,780,811 lines; ``limit`` bounds how many groups are read, and every file
is streamed line by line keeping only the ids that are needed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hbt_bench.jsonl import iter_jsonl
from hbt_bench.training.errors import TrainingDataError
from hbt_bench.training.pairs import ParallelTexts, expand_groups

if TYPE_CHECKING:
    import datasets

__all__ = [
    "MMARCO_LANGUAGES",
    "MMARCO_REPO",
    "TABLE_COLUMNS",
    "load_mmarco_triples",
    "mmarco_files",
    "mmarco_language",
    "mmarco_pairs",
    "mmarco_triples_pairs",
    "table_pairs",
]

#: Our column name -> meaning. ``negative`` is optional.
TABLE_COLUMNS: dict[str, str] = {
    "id": "parallel id: rows sharing it are translations of one question/answer pair",
    "language": "language code of the row (any string; the samplers only compare them)",
    "question": "the query text",
    "answer": "the positive passage text",
    "negative": "optional hard negative passage, in the row's language",
}
_REQUIRED = ("id", "language", "question", "answer")

MMARCO_REPO = "unicamp-dl/mmarco"
#: mMARCO v2 (Google Translate) language names -> the ISO codes our rows carry.
MMARCO_LANGUAGES: dict[str, str] = {
    "arabic": "ar", "chinese": "zh", "dutch": "nl", "english": "en", "french": "fr", "german": "de",
    "hindi": "hi", "indonesian": "id", "italian": "it", "japanese": "ja", "portuguese": "pt",
    "russian": "ru", "spanish": "es", "vietnamese": "vi",
}  # fmt: skip
MMARCO_TRIPLES_IDS = "data/triples.train.ids.small.tsv"
MMARCO_QUERIES = "data/google/queries/train/{language}_queries.train.tsv"
MMARCO_COLLECTION = "data/google/collections/{language}_collection.tsv"


# ---------------------------------------------------------------------------------------------------
# generic table
# ---------------------------------------------------------------------------------------------------


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """``(location, parsed row)`` of a JSONL table; blank lines are skipped."""
    return iter_jsonl(path, TrainingDataError, what="table")


def _dataset_rows(
    dataset: datasets.Dataset, columns: Mapping[str, str], name: str
) -> Iterator[tuple[str, Any]]:
    missing = [columns[c] for c in _REQUIRED if columns[c] not in dataset.column_names]
    if missing:
        raise TrainingDataError(
            f"{name}: no column {', '.join(map(repr, missing))} (it has {', '.join(dataset.column_names)})"
        )
    for i, row in enumerate(dataset):
        yield f"{name}, row {i}", row


def _text(row: Mapping[str, Any], field: str, column: str, where: str, *, required: bool) -> str | None:
    value = row.get(column)
    if value is None and not required:
        return None
    if field == "id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        got = "missing" if column not in row else f"got {json.dumps(value, ensure_ascii=False)[:60]}"
        kind = "a string or an integer" if field == "id" else "a non-empty string"
        label = field if column == field else f"{field} (column {column!r})"
        raise TrainingDataError(f"{where}: field {label} must be {kind} ({got})")
    return value


def table_pairs(
    source: str | Path | datasets.Dataset,
    *,
    columns: Mapping[str, str] | None = None,
    languages: Sequence[str] | None = None,
    name: str | None = None,
) -> datasets.Dataset:
    """Pairs from a parallel table: one row per (id, language) with question, answer and optional negative.

    ``source`` is a JSONL file (one JSON object per line) or a ``datasets.Dataset``. ``columns`` maps our
    names (:data:`TABLE_COLUMNS`) to the source's column names where they differ, e.g. ``{"id": "qid"}``.
    ``languages`` keeps only those languages. Groups are ordered by sorted id. When any row has a
    negative, every kept row needs one. Errors name the file and line (or dataset row) and the field.
    """
    cols = {c: c for c in TABLE_COLUMNS}
    unknown = sorted(set(columns or {}) - set(TABLE_COLUMNS))
    if unknown:
        raise TrainingDataError(
            f"columns: unknown name {', '.join(unknown)} (valid: {', '.join(TABLE_COLUMNS)})"
        )
    cols.update(columns or {})
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise TrainingDataError(f"{path}: table file not found")
        label = str(path)
        rows: Iterable[tuple[str, Any]] = _jsonl_rows(path)
    else:
        label = name or "dataset"
        rows = _dataset_rows(source, cols, label)
    keep = set(languages) if languages is not None else None

    groups: dict[str, dict[str, ParallelTexts]] = {}
    seen_at: dict[tuple[str, str], str] = {}
    first_with, first_without = None, None
    for where, row in rows:
        if not isinstance(row, Mapping):
            raise TrainingDataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        gid = _text(row, "id", cols["id"], where, required=True)
        lang = _text(row, "language", cols["language"], where, required=True)
        assert gid is not None and lang is not None
        if keep is not None and lang not in keep:
            continue
        question = _text(row, "question", cols["question"], where, required=True)
        answer = _text(row, "answer", cols["answer"], where, required=True)
        negative = _text(row, "negative", cols["negative"], where, required=False)
        assert question is not None and answer is not None
        if (gid, lang) in seen_at:
            raise TrainingDataError(
                f"{where}: id {gid!r} already has a {lang!r} row ({seen_at[(gid, lang)]})"
            )
        seen_at[(gid, lang)] = where
        if negative is None:
            first_without = first_without or where
        else:
            first_with = first_with or where
        groups.setdefault(gid, {})[lang] = ParallelTexts(question, answer, negative)
    if not groups:
        langs = f" in languages {', '.join(sorted(keep))}" if keep is not None else ""
        raise TrainingDataError(f"{label}: no rows{langs}")
    if first_with and first_without:
        raise TrainingDataError(
            f"{first_without}: field negative is missing, but other rows have one (e.g. {first_with}); "
            "give every row a hard negative or none"
        )
    return expand_groups(((g, groups[g]) for g in sorted(groups)), with_negative=first_with is not None)


# ---------------------------------------------------------------------------------------------------
# mMARCO
# ---------------------------------------------------------------------------------------------------


def mmarco_language(language: str) -> tuple[str, str]:
    """``(mMARCO name, ISO code)`` of a language given by either ("german" or "de")."""
    lang = language.strip().lower()
    if lang in MMARCO_LANGUAGES:
        return lang, MMARCO_LANGUAGES[lang]
    by_code = {code: name for name, code in MMARCO_LANGUAGES.items()}
    if lang in by_code:
        return by_code[lang], lang
    raise TrainingDataError(
        f"mMARCO has no language {language!r}; valid: "
        + ", ".join(f"{n} ({c})" for n, c in MMARCO_LANGUAGES.items())
    )


def mmarco_files(
    names: Sequence[str],
    root: str | Path | None = None,
    *,
    revision: str | None = None,
    repo: str = MMARCO_REPO,
) -> dict[str, Path]:
    """Paths of the ids triples and of each language's queries and collection (keys: relative names).

    ``root`` is a local directory in the repository's layout; without it the files are fetched from the
    hub dataset ``repo`` at ``revision`` (the collections are 2.7-7.7 GB each).
    """
    wanted = [MMARCO_TRIPLES_IDS]
    for name in names:
        wanted += [MMARCO_QUERIES.format(language=name), MMARCO_COLLECTION.format(language=name)]
    if root is not None:
        base = Path(root).expanduser()
        out = {rel: base / rel for rel in wanted}
        missing = [str(p) for p in out.values() if not p.is_file()]
        if missing:
            raise TrainingDataError(
                f"mMARCO directory {base}: missing {', '.join(missing)} (expected the layout of the hub "
                f"dataset {MMARCO_REPO}: {MMARCO_TRIPLES_IDS}, {MMARCO_QUERIES}, {MMARCO_COLLECTION})"
            )
        return out
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:  # pragma: no cover - a dependency of sentence-transformers
        raise TrainingDataError("downloading mMARCO needs huggingface_hub") from exc
    out = {}
    for rel in wanted:
        try:
            out[rel] = Path(hf_hub_download(repo, rel, repo_type="dataset", revision=revision))
        except Exception as exc:
            raise TrainingDataError(
                f"cannot download {rel} from the hub dataset {repo} ({type(exc).__name__}: {exc}); offline, "
                "pass a local copy of its layout as the source's path"
            ) from exc
    return out


def _tsv(path: Path, n_fields: int) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` of a TSV file; the last field keeps any further tabs."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t", n_fields - 1)
            if len(fields) != n_fields or not all(fields):
                raise TrainingDataError(
                    f"{path}, line {number}: expected {n_fields} tab-separated non-empty fields"
                )
            yield number, fields


def _lookup(path: Path, needed: set[str], what: str) -> dict[str, str]:
    """``id -> text`` for the ``needed`` ids of a two-column TSV; stops once all are found."""
    found: dict[str, str] = {}
    for _, (key, text) in _tsv(path, 2):
        if key in needed and key not in found:
            found[key] = text
            if len(found) == len(needed):
                break
    missing = needed - found.keys()
    if missing:
        example = sorted(missing)[:3]
        raise TrainingDataError(f"{path}: no {what} with id {', '.join(example)} ({len(missing)} missing)")
    return found


def mmarco_pairs(
    languages: Sequence[str],
    *,
    root: str | Path | None = None,
    revision: str | None = None,
    limit: int | None = None,
    negatives: bool = True,
) -> datasets.Dataset:
    """Pairs from mMARCO's ids triples and translations; one group per MS MARCO query id.

    The first triple of each query id is kept (the file has ~75 per query; the samplers use one row
    per group and language pair per epoch anyway), in file order, up to ``limit`` groups. ``languages``
    are mMARCO names or ISO codes; rows carry the codes. ``negatives=False`` drops the hard negatives.
    """
    if limit is not None and limit < 1:
        raise TrainingDataError(f"mMARCO limit must be >= 1, got {limit}")
    langs = [mmarco_language(lang) for lang in languages]
    if not langs:
        raise TrainingDataError("mMARCO: no languages given")
    files = mmarco_files([name for name, _ in langs], root, revision=revision)
    triples_path = files[MMARCO_TRIPLES_IDS]
    triples: dict[str, tuple[str, str]] = {}  # qid -> (positive pid, negative pid), file order
    for _, (qid, pos, neg) in _tsv(triples_path, 3):
        if qid not in triples:
            triples[qid] = (pos, neg)
            if limit is not None and len(triples) >= limit:
                break
    if not triples:
        raise TrainingDataError(f"{triples_path}: no triples")
    pids = {p for pos, neg in triples.values() for p in ((pos, neg) if negatives else (pos,))}
    queries: dict[str, dict[str, str]] = {}
    passages: dict[str, dict[str, str]] = {}
    for name, code in langs:
        queries[code] = _lookup(files[MMARCO_QUERIES.format(language=name)], set(triples), "query")
        passages[code] = _lookup(files[MMARCO_COLLECTION.format(language=name)], pids, "passage")

    def groups() -> Iterator[tuple[str, dict[str, ParallelTexts]]]:
        for qid, (pos, neg) in triples.items():
            yield (
                qid,
                {
                    code: ParallelTexts(
                        queries[code][qid], passages[code][pos], passages[code][neg] if negatives else None
                    )
                    for _, code in langs
                },
            )

    return expand_groups(groups(), with_negative=negatives)


def mmarco_triples_pairs(
    streams: Mapping[str, Iterable[Mapping[str, Any]]], *, limit: int | None = None, negatives: bool = True
) -> datasets.Dataset:
    """Pairs from per-language text triples (``query``, ``positive``, ``negative``) that are parallel by
    line: line ``i`` of every stream is one group (``line-<i>``). ``streams`` maps language codes to the
    rows of that language (e.g. the ``<language>`` configs of ``unicamp-dl/mmarco``); reading stops after
    ``limit`` lines or at the end of the shortest stream.
    """
    if not streams:
        raise TrainingDataError("mMARCO triples: no languages given")
    codes = sorted(streams)
    iterators = [iter(streams[c]) for c in codes]
    lines = zip(*iterators)  # noqa: B905 - streams of unequal length: stop at the shortest
    if limit is not None:
        lines = itertools.islice(lines, limit)

    def groups() -> Iterator[tuple[str, dict[str, ParallelTexts]]]:
        for i, rows in enumerate(lines):
            by_lang = {}
            for code, row in zip(codes, rows, strict=True):
                where = f"mMARCO {code} triples, line {i}"
                texts = [
                    _text(row, f, f, where, required=True)
                    for f in ("query", "positive", "negative")[: 3 if negatives else 2]
                ]
                by_lang[code] = ParallelTexts(texts[0], texts[1], texts[2] if negatives else None)  # type: ignore[arg-type]
            yield f"line-{i}", by_lang

    return expand_groups(groups(), with_negative=negatives)


def load_mmarco_triples(
    languages: Sequence[str], *, repo: str = MMARCO_REPO, revision: str | None = None
) -> dict[str, Iterable[Mapping[str, Any]]]:
    """The ``<language>`` train configs of the hub dataset, streamed (nothing is downloaded up front)."""
    import datasets

    out: dict[str, Iterable[Mapping[str, Any]]] = {}
    for language in languages:
        name, code = mmarco_language(language)
        try:
            out[code] = datasets.load_dataset(repo, name, split="train", streaming=True, revision=revision)
        except Exception as exc:
            raise TrainingDataError(
                f"cannot open the {name!r} triples of {repo} ({type(exc).__name__}: {exc}); use the ids "
                'layout (layout = "ids") with a local copy or hub download instead'
            ) from exc
    return out
