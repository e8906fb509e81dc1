"""mMARCO-R perturbation sets: a shipped English reference, and the full set each user builds locally.

MS MARCO text may not ship, and mMARCO's translated queries cannot be fetched here, so the package can pin
only English: ``tasks/perturbations/mmarco-r/<version>/`` holds the leaderboard recipes' edit scripts over the
English queries of the default sample (1,000 dev-small queries with one judged passage, seed 0), made from
the real MS MARCO dev-small topics file through the real build path (:func:`build_reference_set`).

Every other language is perturbed by the user, from their own ``hbt-bench data build mmarco-r``, with
``hbt-bench attack build --dataset mmarco-r`` (:func:`build_local_set`). That set lives inside the build
folder (``<build>/perturbations/mmarco-r/<version>/``), its manifest records the sha256 of the build's
query files and the build parameters, and the build checks its records of the pinned languages against the
shipped reference whenever their source queries are the same bytes (always for a default build): a
generator (TextAttack, tokenisers, Python) that does not reproduce the frozen records is an error.

The reference's sample equals the default 8-language build's sample if and only if mMARCO translated every
dev-small query into every default language (eligibility needs a query in every built language), which we
believe but cannot check offline; a default build whose English queries differ from the reference's is
refused with that explanation.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hbt_bench.adversarial.build import PerturbFn, SetBuild, build_set
from hbt_bench.adversarial.local_sets import ATTACK_BUILD_COMMAND, local_set_folder, query_file_shas
from hbt_bench.adversarial.perturbation_sets import (
    MANIFEST,
    PerturbationSetError,
    encode_records,
    perturbations_dir,
    read_set_manifest,
    set_folder,
    write_perturbation_set,
)
from hbt_bench.data.mmarco import (
    DATASET,
    DEFAULT_QUERIES,
    DEFAULT_SEED,
    TOPICS,
    build_tag,
    dataset_dir,
    load_mmarco_r,
    read_manifest,
)
from hbt_bench.data.sources import file_sha256

__all__ = [
    "PINNED_LANGUAGES",
    "REFERENCE_COMMAND",
    "build_local_set",
    "build_reference_set",
    "check_pinned",
    "pin_line",
    "pinned_build",
    "write_local_set",
]

#: The languages whose records the package pins (the only mMARCO queries available offline: MS MARCO's own).
PINNED_LANGUAGES: tuple[str, ...] = ("en",)
REFERENCE_COMMAND = "hbt-bench attack build --dataset mmarco-r --reference --into-package"


#: The source's terms, in every mMARCO-R set manifest.
_SOURCE_TERMS = {
    "license": "MS MARCO terms (non-commercial research); no query text ships in a set",
    "homepage": "https://github.com/unicamp-dl/mMARCO",
}


def _source_of_build(build: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **_SOURCE_TERMS,
        "parameters": dict(manifest.get("parameters", {})),
        "qrels_sha256": manifest.get("qrels", {}).get("sha256"),
        "files": query_file_shas(manifest),
    }


# --- the shipped English reference --------------------------------------------------------------------------

#: What a reference record keeps: no edits, because a word-shuffle edit carries the words it moves (about 15%
#: of the English query characters), and MS MARCO text must not ship, not even in pieces.
PIN_KEYS = ("qid", "lang", "status", "check")


def pin_line(line: str) -> str:
    """A record reduced to what pins it: its query, status and the check hash of the perturbed text."""
    rec = json.loads(line)
    return json.dumps({k: rec[k] for k in PIN_KEYS}, ensure_ascii=False, separators=(",", ":"))


def pinned_build(built: SetBuild) -> SetBuild:
    """``built`` with every record reduced by :func:`pin_line` (manifest sha256s recomputed)."""
    contents = {
        name: encode_records(pin_line(line) for line in content.decode("utf-8").splitlines())
        for name, content in built.contents.items()
    }
    recipes = [
        {**e, "sha256": hashlib.sha256(contents[e["file"]]).hexdigest()} for e in built.manifest["recipes"]
    ]
    return SetBuild(manifest={**built.manifest, "recipes": recipes}, contents=contents)


def _reference_hub_copy(root: Path, topics: Path, qrels: Path) -> None:
    """A hub-layout copy whose English queries are the real topics file; the run is empty and the passages
    are placeholders (query perturbations depend on neither; ``--negatives 0`` never reads the run)."""
    from hbt_bench.data.mmarco_build import collection_relpath, queries_relpath, run_relpath

    pids: set[str] = set()
    for line in qrels.read_text(encoding="utf-8").splitlines():
        cols = line.split()
        if len(cols) == 4:
            pids.add(cols[2])
    files = {
        queries_relpath("en"): topics.read_bytes(),
        run_relpath("en"): b"",
        collection_relpath("en"): "".join(f"{p}\tpassage {p}\n" for p in sorted(pids, key=int)).encode(),
    }
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)


def build_reference_set(
    version: str,
    recipes: Sequence[Any] | None = None,
    *,
    seed: int = 0,
    jobs: int = 1,
    data_dir: str | Path | None = None,
    perturb: PerturbFn | None = None,
    progress: bool = False,
) -> SetBuild:
    """The English reference: ``data build mmarco-r --languages en`` (default sample, no negatives) on a
    hub-layout copy of the real topics file, then the recipes over its queries."""
    from hbt_bench.data.mmarco_build import build_mmarco_r, resolve_qrels, resolve_topics

    topics = resolve_topics(data_dir)
    qrels = resolve_qrels(data_dir)
    with tempfile.TemporaryDirectory(prefix="hbt-mmarco-ref-") as tmp:
        hub, data = Path(tmp) / "hub", Path(tmp) / "data"
        _reference_hub_copy(hub, topics, qrels)
        report = build_mmarco_r(
            PINNED_LANGUAGES,
            queries=DEFAULT_QUERIES,
            seed=DEFAULT_SEED,
            negatives=0,
            source=hub,
            output=data / DATASET,
            qrels=qrels.parent.parent,
            progress=False,
        )
        corpus = load_mmarco_r(PINNED_LANGUAGES, data_dir=data)
        sample = json.loads((data / DATASET / "sample.json").read_text(encoding="utf-8"))
    built = build_set(
        DATASET,
        version,
        recipes,
        seed=seed,
        jobs=jobs,
        corpus=corpus,
        perturb=perturb,
        progress=progress,
        source_info={},
    )
    built.manifest["source"] = {
        **_SOURCE_TERMS,
        "pinned_languages": list(PINNED_LANGUAGES),
        "topics": {"file": Path(TOPICS.relpath).name, "sha256": file_sha256(topics)},
        "qrels_sha256": report.manifest["qrels"]["sha256"],
        "sample": {
            "queries": DEFAULT_QUERIES,
            "seed": DEFAULT_SEED,
            "method": sample["method"],
            "eligible": "dev-small queries with exactly one judged passage",
            "n_eligible": sample["n_eligible"],
        },
        # what a user's build must hold for its records to be compared with these
        "files": {
            lang: report.manifest["files"][f"{lang}/queries.jsonl"]["sha256"] for lang in PINNED_LANGUAGES
        },
    }
    built = pinned_build(built)
    built.manifest["command"] = f"{REFERENCE_COMMAND} --version {version} --seed {seed}"
    built.manifest["note"] = (
        "Reference set: English only (mMARCO's translated queries cannot be pinned offline; the other "
        f"languages are built by each user with `{ATTACK_BUILD_COMMAND}`). The English queries are MS MARCO "
        "dev-small's (topics file above) for the default sample: 1,000 of the dev-small queries with exactly "
        "one judged passage, seed 0. It equals the default 8-language build's sample if and only if mMARCO "
        "translated every dev-small query into every default language (believed, not checked offline). "
        "Records pin each perturbed query by its status and check hash (blake2b-64 of the perturbed text) "
        "and hold no edits: an edit script carries the words a shuffle moves, and no MS MARCO text ships. "
        "A local build compares its English records' (qid, status, check) with these. File sha256 values "
        "are of the uncompressed content."
    )
    return built


# --- the local full set -------------------------------------------------------------------------------------


def _blocks(content: bytes) -> dict[str, list[str]]:
    """lang -> its record lines, in file order."""
    out: dict[str, list[str]] = {}
    for line in content.decode("utf-8").splitlines():
        out.setdefault(json.loads(line)["lang"], []).append(line)
    return out


def check_pinned(
    built: SetBuild, build_manifest: Mapping[str, Any], reference: Path | None = None
) -> dict[str, str]:
    """Compare ``built``'s records of the pinned languages with the shipped reference's.

    Records are compared when the language's query file is the reference's byte for byte (same sample,
    same text) and the seed is the same; a difference names recipe, language and the first query. A
    default build whose pinned query file differs is refused (its sample is not the declared one). Returns
    lang -> what was done, for the manifest.
    """
    folder = (
        reference
        if reference is not None
        else set_folder(perturbations_dir(), DATASET, built.manifest["version"])
    )
    if reference is None and not (folder / MANIFEST).is_file():
        return {lang: f"no shipped reference {folder.name} to compare with" for lang in PINNED_LANGUAGES}
    ref = read_set_manifest(folder)
    ref_files = ref["source"].get("files", {})
    shas = query_file_shas(build_manifest)
    default = build_tag(build_manifest) is None
    outcome: dict[str, str] = {}
    by_id = {e["id"]: e for e in built.manifest["recipes"]}
    for lang in ref["source"].get("pinned_languages", []):
        if lang not in shas:
            outcome[lang] = "not built"
            continue
        if shas[lang] != ref_files.get(lang):
            if default:
                raise PerturbationSetError(
                    f"this default mMARCO-R build's {lang}/queries.jsonl (sha256 {shas[lang]}) is not the "
                    f"one the shipped reference {folder} was built from ({ref_files.get(lang)}): the sample "
                    "differs (did mMARCO not translate every dev-small query into every language?) or the "
                    "query text does. Report it; meanwhile build with other --queries/--seed (a separately "
                    "tagged task)"
                )
            outcome[lang] = "not compared: the build's queries are not the reference's"
            continue
        if built.manifest["seed"] != ref.get("seed"):
            outcome[lang] = f"not compared: seed {built.manifest['seed']}, reference seed {ref.get('seed')}"
            continue
        compared = 0
        for entry in ref["recipes"]:
            mine = by_id.get(entry["id"])
            if mine is None or lang not in entry["languages"]:
                continue
            content = gzip.decompress((folder / entry["file"]).read_bytes())
            if hashlib.sha256(content).hexdigest() != entry["sha256"]:
                raise PerturbationSetError(
                    f"{folder / entry['file']}: content does not match the reference manifest's sha256"
                )
            shipped = [pin_line(x) for x in _blocks(content).get(lang, [])]
            fresh = [pin_line(x) for x in _blocks(built.contents[mine["file"]]).get(lang, [])]
            if shipped != fresh:
                versions = ", ".join(f"{k} {v}" for k, v in built.manifest["generator"].items())
                first = next(
                    (json.loads(a)["qid"] for a, b in zip(shipped, fresh, strict=False) if a != b), "(count)"
                )
                raise PerturbationSetError(
                    f"recipe {entry['id']}, language {lang}: the records built here differ from the shipped "
                    f"reference {folder / entry['file']} (first at query {first}): this TextAttack / "
                    f"tokeniser / Python ({versions}) does not reproduce the frozen set; install the "
                    "versions in the reference manifest's 'generator'"
                )
            compared += 1
        outcome[lang] = f"identical to the shipped reference ({compared} recipes)"
    return outcome


def build_local_set(
    version: str,
    recipes: Sequence[Any] | None = None,
    *,
    seed: int = 0,
    jobs: int = 1,
    data_dir: str | Path | None = None,
    perturb: PerturbFn | None = None,
    reference: Path | None = None,
    progress: bool = False,
) -> tuple[Path, SetBuild]:
    """The recipes over every language of the user's build; (build folder, set). Raises if the pinned
    languages' records differ from the shipped reference (see :func:`check_pinned`)."""
    build = dataset_dir(data_dir)
    manifest = read_manifest(build)
    corpus = load_mmarco_r(data_dir=build.parent)
    built = build_set(
        DATASET,
        version,
        recipes,
        seed=seed,
        jobs=jobs,
        corpus=corpus,
        perturb=perturb,
        progress=progress,
        source_info=_source_of_build(build, manifest),
    )
    built.manifest["source"]["pinned"] = check_pinned(built, manifest, reference)
    built.manifest["command"] = f"{ATTACK_BUILD_COMMAND} --version {version} --seed {seed}"
    built.manifest["note"] = (
        "Local set of one mMARCO-R build (never ship it): edit scripts against the build's queries, whose "
        "sha256s are under source.files; 'source.pinned' says how the pinned languages compare with the "
        "shipped reference. File sha256 values are of the uncompressed content."
    )
    return build, built


def write_local_set(build: Path, built: SetBuild) -> Path:
    """Write into ``<build>/perturbations/mmarco-r/<version>`` (atomic; refuses a foreign folder)."""
    return write_perturbation_set(
        local_set_folder(build, built.manifest["version"]), built.manifest, built.contents
    )
