"""mMARCO-R: MS MARCO web search in the LAReQA settings, read from a dataset built by ``hbt-bench data``.

mMARCO (Bonifacio et al. 2021, arXiv 2108.13897) machine-translates MS MARCO passage ranking into 14 languages
and keeps MS MARCO's query and passage ids, so a query in X and a passage in Y are parallel exactly like an
XQuAD-R question and sentence. mMARCO-R is, per chosen language, the same seeded sample of dev-small
queries and the same pooled passage-id set (their judged passages plus BM25 hard negatives of every chosen
language); see :mod:`hbt_bench.data.mmarco_build` for how it is built and where each input layout comes from.

The built dataset (never shipped: MS MARCO text is for non-commercial research only) is a folder::

    mmarco-r/
      manifest.json          format, build parameters, counts and the sha256 of every file below
      sample.json            the sampled query ids and how they were drawn
      qrels.tsv              "qid 0 pid 1" (TREC-like, as MS MARCO's dev-small qrels) for the sampled queries
      <lang>/queries.jsonl   {"id": qid, "text": ...}, sorted by numeric qid
      <lang>/passages.jsonl  {"id": pid, "text": ...}, the same ids in every language, sorted by numeric pid

It is looked up in an explicit ``data_dir`` (``<data_dir>/mmarco-r``), then ``$HBT_BENCH_DATA_DIR/mmarco-r``,
then the cache (``hbt_bench.resources.cache_dir()/mmarco-r``, where the build writes by default). Every file
is checked against the manifest's sha256 when loaded.

Each sampled query has exactly one judged passage (MS MARCO dev-small judges 6,590 of its 6,980 queries with
one passage, the rest with 2-4): that keeps LAReQA's definition, one relevant candidate per language, so
X-multi has exactly one relevant passage per language per query and the language-bias rank
distance is defined as for XQuAD-R. Passages are their own context (``Candidate.context == text``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hbt_bench.data.lareqa import Candidate, LareqaCorpus, LareqaLanguage, Question
from hbt_bench.data.sources import DATA_DIR_ENV, PinnedFile, file_sha256
from hbt_bench.errors import DataSourceError, HbtBenchError
from hbt_bench.jsonl import iter_jsonl
from hbt_bench.resources import cache_dir

__all__ = [
    "BUILD_COMMAND",
    "DATASET",
    "DEFAULT_LANGUAGES",
    "DEFAULT_NEGATIVES",
    "DEFAULT_QUERIES",
    "DEFAULT_SEED",
    "FORMAT",
    "HUB_REPO",
    "HUB_REVISION",
    "LANGUAGES",
    "QRELS",
    "TOPICS",
    "MMarcoDataError",
    "build_tag",
    "check_languages",
    "dataset_dir",
    "load_mmarco_r",
    "mmarco_stats",
    "read_manifest",
]

DATASET = "mmarco-r"
FORMAT = "hbt-bench/mmarco-r/1"
BUILD_COMMAND = "hbt-bench data build mmarco-r"

#: ISO 639-1 code -> (mMARCO file-name language, mteb language code). The 14 languages of mMARCO v2
#: ("google").
LANGUAGES: Mapping[str, tuple[str, str]] = {
    "ar": ("arabic", "arb-Arab"),
    "de": ("german", "deu-Latn"),
    "en": ("english", "eng-Latn"),
    "es": ("spanish", "spa-Latn"),
    "fr": ("french", "fra-Latn"),
    "hi": ("hindi", "hin-Deva"),
    "id": ("indonesian", "ind-Latn"),
    "it": ("italian", "ita-Latn"),
    "ja": ("japanese", "jpn-Jpan"),
    "nl": ("dutch", "nld-Latn"),
    "pt": ("portuguese", "por-Latn"),
    "ru": ("russian", "rus-Cyrl"),
    "vi": ("vietnamese", "vie-Latn"),
    "zh": ("chinese", "zho-Hans"),
}
#: The 8 languages shared with XQuAD-R, so in-domain and out-of-domain numbers cover the same languages.
DEFAULT_LANGUAGES: tuple[str, ...] = ("ar", "de", "en", "es", "hi", "ru", "vi", "zh")
DEFAULT_QUERIES = 1000
DEFAULT_SEED = 0
#: BM25 hard negatives per query per language (top of mMARCO's run, judged passage skipped), pooled.
DEFAULT_NEGATIVES = 10

HUB_REPO = "unicamp-dl/mmarco"
#: The hub revision the build reads by default. Taken from a public script that pins it; this machine cannot
#: reach the hub to confirm it, so ``--revision`` overrides it and the manifest records the one used.
HUB_REVISION = "6d039c4638c0ba3e46a9cb7b498b145e7edc6230"

#: MS MARCO dev-small qrels (= mMARCO's dev qrels in every language; not in the hub repo).
QRELS = PinnedFile(
    relpath="mmarco/qrels.msmarco-passage.dev-subset.txt",
    url="https://raw.githubusercontent.com/castorini/anserini-tools/"
    "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3/qrels/qrels.msmarco-passage.dev-subset.txt",
    sha256="34ef51a24e049b3dd19b0a448b764f26b0def22ec42f421ecba2db91f82e7042",
)
#: MS MARCO dev-small English queries (``qid<TAB>text``), renamed in the data dir: the source of the shipped
#: English mMARCO-R perturbation reference (mMARCO keeps MS MARCO's query ids).
TOPICS = PinnedFile(
    relpath="mmarco/topics.msmarco-passage.dev-subset.en.tsv",
    url="https://raw.githubusercontent.com/castorini/anserini-tools/"
    "5b819c1a45c8a0a3ec9426f476694f44a29dfaf3/topics/topics.msmarco-passage.dev-subset.txt",
    sha256="f4f71fa87b6be4fb968cca2b8f8554c4ebd003e6c3488af3ac1cc5629c3de189",
)


class MMarcoDataError(DataSourceError):
    """The mMARCO-R dataset is missing, was built without a needed language, or does not match its
    manifest."""


def check_languages(languages: Sequence[str], what: str = "languages") -> tuple[str, ...]:
    """``languages`` as a tuple of known, distinct codes; the error lists the 14 valid ones."""
    if isinstance(languages, str):
        raise HbtBenchError(f"{what} must be a sequence of codes such as [{languages!r}], not a string")
    langs = tuple(languages)
    if not langs:
        raise HbtBenchError(f"{what} is empty; choose from {', '.join(LANGUAGES)}")
    unknown = [x for x in langs if x not in LANGUAGES]
    if unknown:
        raise HbtBenchError(
            f"{what}: unknown mMARCO language {', '.join(map(repr, unknown))}; valid: "
            + ", ".join(f"{code} ({name})" for code, (name, _) in LANGUAGES.items())
        )
    dups = sorted({x for x in langs if langs.count(x) > 1})
    if dups:
        raise HbtBenchError(f"{what} lists {', '.join(dups)} more than once")
    return langs


def dataset_dir(data_dir: str | Path | None = None) -> Path:
    """The built dataset's folder: ``<data_dir>/mmarco-r``, else ``$HBT_BENCH_DATA_DIR/mmarco-r`` if present,
    else the cache's. The error names every place looked at and the build command."""
    if data_dir is not None:
        path = Path(data_dir).expanduser() / DATASET
        if not (path / "manifest.json").is_file():
            raise MMarcoDataError(
                f"mMARCO-R dataset not found: {str(path / 'manifest.json')!r} (from the data_dir argument) "
                f"does not exist. Build it with `{BUILD_COMMAND} --output {path}`."
            )
        return path
    looked = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser() / DATASET
        if (path / "manifest.json").is_file():
            return path
        looked.append(f"{str(path)!r} (from {DATA_DIR_ENV})")
    path = cache_dir() / DATASET
    if (path / "manifest.json").is_file():
        return path
    looked.append(f"{str(path)!r} (the cache)")
    raise MMarcoDataError(
        f"mMARCO-R dataset not built: no manifest.json in {' or '.join(looked)}. Build it with "
        f"`{BUILD_COMMAND} --languages {','.join(DEFAULT_LANGUAGES)}` (it streams the needed rows from the "
        f"hub's {HUB_REPO}, or from a local copy laid out like it with --source DIR)."
    )


def read_manifest(path: Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of a dataset folder (error names the file)."""
    file = path / "manifest.json"
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MMarcoDataError(f"{file}: cannot read the mMARCO-R manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise MMarcoDataError(
            f"{file}: not an mMARCO-R manifest of format {FORMAT!r} (rebuild with `{BUILD_COMMAND}`)"
        )
    return manifest


def build_tag(manifest: Mapping[str, Any]) -> str | None:
    """None for a build with the declared defaults, else a revision tag naming what differs.

    The sample and the pool depend on every build parameter, the languages included (a query is eligible only
    if translated into all of them; every language's run adds negatives), so a non-default build is a
    different task: its results must never stand in for the declared one.
    """
    params = manifest.get("parameters", {})
    parts = []
    if tuple(params.get("languages", ())) != DEFAULT_LANGUAGES:
        parts.append("built-" + "-".join(params.get("languages", ())))
    for key, default, short in (
        ("queries", DEFAULT_QUERIES, "q"),
        ("seed", DEFAULT_SEED, "s"),
        ("negatives", DEFAULT_NEGATIVES, "k"),
    ):
        if params.get(key) != default:
            parts.append(f"{short}{params.get(key)}")
    if params.get("revision") != HUB_REVISION:
        parts.append(f"rev-{str(params.get('revision'))[:12]}")
    return "-".join(parts) if parts else None


def _verified(path: Path, manifest: Mapping[str, Any], relpath: str) -> Path:
    entry = manifest.get("files", {}).get(relpath)
    file = path / relpath
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise MMarcoDataError(
            f"{path / 'manifest.json'}: no sha256 for {relpath} (rebuild with `{BUILD_COMMAND}`)"
        )
    if not file.is_file():
        raise MMarcoDataError(f"mMARCO-R file {str(file)!r} is missing (rebuild with `{BUILD_COMMAND}`)")
    actual = file_sha256(file)
    if actual != entry["sha256"]:
        raise MMarcoDataError(
            f"Checksum mismatch for mMARCO-R file {str(file)!r}: manifest says sha256 {entry['sha256']}, got "
            f"{actual}. The file was edited or is incomplete; rebuild with `{BUILD_COMMAND}`."
        )
    return file


def _read_rows(file: Path) -> list[tuple[str, str]]:
    rows = []
    for where, row in iter_jsonl(file, MMarcoDataError, "mMARCO-R rows"):
        if not (
            isinstance(row, dict) and isinstance(row.get("id"), str) and isinstance(row.get("text"), str)
        ):
            raise MMarcoDataError(f"{where}: expected {{'id': str, 'text': str}}")
        rows.append((row["id"], row["text"]))
    return rows


def _read_qrels(file: Path) -> dict[str, str]:
    """qid -> its one judged pid."""
    out: dict[str, str] = {}
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            cols = line.split()
            if len(cols) != 4 or cols[0] in out:
                raise MMarcoDataError(f"{file}, line {number}: expected one 'qid 0 pid 1' line per query")
            out[cols[0]] = cols[2]
    return out


def load_mmarco_r(languages: Sequence[str] | None = None, data_dir: str | Path | None = None) -> LareqaCorpus:
    """The built mMARCO-R dataset as a :class:`LareqaCorpus` (default: every language it was built with).

    A question's answer in language X is its judged passage in X (uid ``<lang>_<pid>``); every candidate
    language holds the same passage ids, so X-Y and X-multi are parallel as in XQuAD-R.
    """
    path = dataset_dir(data_dir)
    manifest = read_manifest(path)
    built = tuple(manifest.get("parameters", {}).get("languages", ()))
    langs = built if languages is None else check_languages(languages)
    missing = [x for x in langs if x not in built]
    if missing:
        raise MMarcoDataError(
            f"the mMARCO-R dataset in {str(path)!r} was built for {', '.join(built)}, not "
            f"{', '.join(missing)}: rebuild with `{BUILD_COMMAND} --languages {','.join([*built, *missing])}`"
        )
    qrels = _read_qrels(_verified(path, manifest, "qrels.tsv"))
    pool_ids: list[str] | None = None
    out: dict[str, LareqaLanguage] = {}
    for lang in langs:
        queries_file = _verified(path, manifest, f"{lang}/queries.jsonl")
        passages_file = _verified(path, manifest, f"{lang}/passages.jsonl")
        passages = _read_rows(passages_file)
        ids = [pid for pid, _ in passages]
        if pool_ids is None:
            pool_ids = ids
        elif ids != pool_ids:
            raise MMarcoDataError(
                f"{passages_file}: passage ids differ from {langs[0]}'s (rebuild the dataset)"
            )
        known = set(ids)
        questions = []
        for qid, text in _read_rows(queries_file):
            pid = qrels.get(qid)
            if pid is None or pid not in known:
                raise MMarcoDataError(f"{queries_file}: query {qid} has no judged passage in {passages_file}")
            questions.append(Question(qid=qid, lang=lang, text=text, answer_uid=f"{lang}_{pid}"))
        candidates = tuple(
            Candidate(uid=f"{lang}_{pid}", lang=lang, text=t, context=t) for pid, t in passages
        )
        out[lang] = LareqaLanguage(
            lang=lang, source=str(passages_file), questions=tuple(questions), candidates=candidates
        )
    return LareqaCorpus(name=DATASET, languages=out)


def mmarco_stats(data_dir: str | Path | None = None) -> dict[str, Any]:
    """Sizes of the built dataset (queries, passages per language, pooled) and how it was built, from its
    manifest (no text is read)."""
    path = dataset_dir(data_dir)
    manifest = read_manifest(path)
    return {
        "dataset": DATASET,
        "path": str(path),
        "parameters": manifest["parameters"],
        "languages": manifest["counts"]["languages"],
        "queries": manifest["counts"]["queries"],
        "passages_per_language": manifest["counts"]["passages_per_language"],
        "pool": manifest["counts"]["pool"],
        "revision_tag": build_tag(manifest),
    }
