"""Frozen, versioned perturbation sets: their file format, manifest, verification and application.

A set is one folder per dataset and version, shipped with the package::

    tasks/perturbations/<dataset>/<version>/manifest.json
    tasks/perturbations/<dataset>/<version>/<recipe file>.jsonl.gz    (one per recipe)

Each line of a recipe file is one query of the dataset, in dataset order (languages in the dataset's
order, questions in file order)::

    {"qid": "...", "lang": "de", "status": "perturbed", "edits": [[12, 13, "x"]], "check": "<blake2b-64>"}

``edits`` turn the pinned source question into the perturbed one (``[start, end, replacement]`` on
code points, non-overlapping, ascending); ``check`` is the hash of the result. The files hold edit
scripts, not questions: applying them needs the checksummed source data, and the set of a dataset
whose license forbids bundling (MLQA-R) carries no question text beyond the characters an edit moves
or inserts. ``status`` is ``perturbed``, ``unchanged`` (the recipe found nothing to change; the query
is still scored) or ``empty`` (the perturbation left no text; scored as the empty string).

The manifest records the recipe, its parameters, the seed, the TextAttack and hbt-bench versions, the
source files' sha256, per-language counts and the sha256 of every file's *uncompressed* content
(gzip output depends on the zlib build; the content is what must reproduce byte for byte).

Perturbations made elsewhere (for example LLM-written adversarial paraphrases) plug in as an
*external recipe*: a JSONL file whose first line may be a header ``{"recipe": {"id": ...,
"description": ..., "provenance": {...}}}`` followed by ``{"qid", "lang", "text"}`` lines covering every
question of each language they include (see :func:`load_external_recipe`).

Nothing here imports TextAttack: using the adversarial tasks needs none.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbt_bench.errors import HbtBenchError
from hbt_bench.jsonl import iter_jsonl

__all__ = [
    "FORMAT_VERSION",
    "PERTURBATIONS_DIR_ENV",
    "STATUSES",
    "PerturbationSet",
    "PerturbationSetError",
    "RecipeSet",
    "apply_edits",
    "compute_edits",
    "encode_records",
    "load_external_recipe",
    "load_perturbation_set",
    "perturbations_dir",
    "record_line",
    "status_of",
    "text_check",
    "write_perturbation_set",
]

FORMAT_VERSION = 1
STATUSES = ("perturbed", "unchanged", "empty")
MANIFEST = "manifest.json"


class PerturbationSetError(HbtBenchError):
    """A perturbation set or external recipe file is missing, malformed, or does not match its source."""


# --- edit scripts --------------------------------------------------------------------------------


def compute_edits(original: str, perturbed: str) -> list[list[Any]]:
    """The ``[start, end, replacement]`` edits that turn ``original`` into ``perturbed`` (difflib, exact)."""
    matcher = difflib.SequenceMatcher(None, original, perturbed, autojunk=False)
    return [[i1, i2, perturbed[j1:j2]] for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def apply_edits(original: str, edits: Sequence[Sequence[Any]], *, where: str = "") -> str:
    """Apply ``edits`` (ascending, non-overlapping) to ``original``; errors name ``where``."""
    out: list[str] = []
    pos = 0
    for edit in edits:
        if not (
            isinstance(edit, (list, tuple))
            and len(edit) == 3
            and isinstance(edit[0], int)
            and isinstance(edit[1], int)
            and isinstance(edit[2], str)
        ):
            raise PerturbationSetError(f"{where}: edit {edit!r} is not [start, end, replacement]")
        start, end, repl = edit
        if not pos <= start <= end <= len(original):
            raise PerturbationSetError(
                f"{where}: edit {edit!r} is out of order or out of range for a text of {len(original)} "
                "characters (does the source data match the set's manifest?)"
            )
        out.append(original[pos:start])
        out.append(repl)
        pos = end
    out.append(original[pos:])
    return "".join(out)


def text_check(text: str) -> str:
    """Short content hash of a perturbed text, stored per record to catch a mismatched source."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def status_of(original: str, perturbed: str) -> str:
    """``empty`` if nothing but whitespace is left, ``unchanged`` if identical, else ``perturbed``."""
    if not perturbed.strip():
        return "empty"
    return "unchanged" if perturbed == original else "perturbed"


def record_line(qid: str, lang: str, original: str, perturbed: str, status: str | None = None) -> str:
    """One JSONL line of a recipe file (fixed key order, compact, UTF-8: reproducible bytes)."""
    status = status or status_of(original, perturbed)
    if status not in STATUSES:
        raise ValueError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    rec = {
        "qid": qid,
        "lang": lang,
        "status": status,
        "edits": compute_edits(original, perturbed),
        "check": text_check(perturbed),
    }
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


def encode_records(lines: Iterable[str]) -> bytes:
    """The uncompressed content of a recipe file."""
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _gzip(content: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(content)
    return buf.getvalue()


def recipe_filename(recipe_id: str) -> str:
    """File name of a recipe's records (``@`` is avoided in file names)."""
    return recipe_id.replace("@", "__") + ".jsonl.gz"


# --- in-memory sets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecipeSet:
    """The perturbed queries of one recipe on one dataset: ``texts[lang][i]`` replaces question ``i``."""

    recipe_id: str
    description: str
    core: bool  # counted in the task's main adversarial score
    texts: Mapping[str, tuple[str, ...]]  # lang -> perturbed question texts, aligned with the source
    statuses: Mapping[str, tuple[str, ...]]
    info: Mapping[str, Any] = field(default_factory=dict)  # manifest entry or external header

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.texts)

    def counts(self, lang: str) -> dict[str, int]:
        """Queries per status in ``lang``."""
        statuses = self.statuses[lang]
        return {s: statuses.count(s) for s in STATUSES}


@dataclass(frozen=True)
class PerturbationSet:
    """A dataset's frozen set: its manifest and one :class:`RecipeSet` per recipe, in manifest order."""

    dataset: str
    version: str
    manifest: Mapping[str, Any]
    recipes: Mapping[str, RecipeSet]

    @property
    def core_recipes(self) -> tuple[str, ...]:
        return tuple(rid for rid, r in self.recipes.items() if r.core)


PERTURBATIONS_DIR_ENV = "HBT_BENCH_PERTURBATIONS_DIR"


def perturbations_dir() -> Path:
    """Where sets are read and written: ``$HBT_BENCH_PERTURBATIONS_DIR`` if set (e.g. to try a rebuilt
    set before shipping it), else ``tasks/perturbations`` as shipped (in the wheel or the checkout)."""
    env = os.environ.get(PERTURBATIONS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    from hbt_bench.resources import tasks_dir

    return tasks_dir() / "perturbations"


def _source_texts(corpus: Any) -> dict[str, list[tuple[str, str]]]:
    """lang -> [(qid, question text)] in dataset order."""
    return {lang: [(q.qid, q.text) for q in data.questions] for lang, data in corpus.languages.items()}


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PerturbationSetError(f"perturbation set manifest {path} not found") from None
    except ValueError as exc:
        raise PerturbationSetError(f"{path}: invalid JSON: {exc}") from exc
    for key in ("format", "dataset", "version", "recipes", "source"):
        if key not in manifest:
            raise PerturbationSetError(f"{path}: field {key!r} is missing")
    if manifest["format"] != FORMAT_VERSION:
        raise PerturbationSetError(
            f"{path}: format {manifest['format']!r} is not supported (this hbt-bench reads {FORMAT_VERSION})"
        )
    return manifest


def _language_blocks(
    path: Path, content: bytes, entry: Mapping[str, Any]
) -> dict[str, tuple[int, list[str]]]:
    """lang -> (number of its first line, its lines): records come in contiguous per-language blocks
    whose sizes the manifest's counts give."""
    lines = content.decode("utf-8").splitlines()
    blocks: dict[str, tuple[int, list[str]]] = {}
    start = 0
    for lang in entry["languages"]:
        size = sum(entry["counts"][lang].values())
        blocks[lang] = (start + 1, lines[start : start + size])
        start += size
    if start != len(lines):
        raise PerturbationSetError(
            f"{path}: {len(lines)} records, but the manifest's counts add up to {start}"
        )
    return blocks


def _parse_block(
    path: Path, first_line: int, lines: list[str], lang: str, source: list[tuple[str, str]]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Apply one language's records to its source questions, checking order, ids and hashes."""
    if len(lines) != len(source):
        raise PerturbationSetError(
            f"{path}: {len(lines)} {lang} records from line {first_line}, but the source has {len(source)} "
            f"{lang} questions"
        )
    texts: list[str] = []
    statuses: list[str] = []
    for n, (line, (qid, original)) in enumerate(zip(lines, source, strict=True), start=first_line):
        where = f"{path}, line {n}"
        try:
            rec = json.loads(line)
        except ValueError as exc:
            raise PerturbationSetError(f"{where}: invalid JSON: {exc}") from exc
        for key in ("qid", "lang", "status", "edits", "check"):
            if key not in rec:
                raise PerturbationSetError(f"{where}: field {key!r} is missing")
        if (rec["lang"], rec["qid"]) != (lang, qid):
            raise PerturbationSetError(
                f"{where}: record is ({rec['lang']}, {rec['qid']}) but the source has ({lang}, {qid}) here"
            )
        if rec["status"] not in STATUSES:
            raise PerturbationSetError(f"{where}: status {rec['status']!r} not in {', '.join(STATUSES)}")
        text = apply_edits(original, rec["edits"], where=where)
        if text_check(text) != rec["check"]:
            raise PerturbationSetError(
                f"{where}: the edited text does not match its check hash; the source question of "
                f"({lang}, {qid}) differs from the one the set was built from"
            )
        texts.append(text)
        statuses.append(rec["status"])
    return tuple(texts), tuple(statuses)


def load_perturbation_set(
    dataset: str, version: str, corpus: Any, root: str | Path | None = None
) -> PerturbationSet:
    """Read, verify and apply ``<root>/<dataset>/<version>`` to ``corpus`` (a loaded LareqaCorpus).

    Every file is checked against the manifest's sha256, every record against the source question it
    replaces; any mismatch raises :class:`PerturbationSetError` naming the file and line. A corpus of a
    subset of the languages gets the records of those languages.
    """
    folder = Path(root) if root is not None else perturbations_dir()
    folder = folder / dataset / version
    manifest = _read_manifest(folder)
    if manifest["dataset"] != dataset or manifest["version"] != version:
        raise PerturbationSetError(
            f"{folder / MANIFEST}: describes {manifest['dataset']} {manifest['version']}, "
            f"expected {dataset} {version}"
        )
    sources = _source_texts(corpus)
    recipes: dict[str, RecipeSet] = {}
    for entry in manifest["recipes"]:
        path = folder / entry["file"]
        try:
            content = gzip.decompress(path.read_bytes())
        except FileNotFoundError:
            raise PerturbationSetError(f"{path}: listed in {folder / MANIFEST} but missing") from None
        except (OSError, EOFError) as exc:
            raise PerturbationSetError(f"{path}: not a readable gzip file: {exc}") from exc
        digest = hashlib.sha256(content).hexdigest()
        if digest != entry["sha256"]:
            raise PerturbationSetError(
                f"{path}: content sha256 {digest} does not match the manifest ({entry['sha256']})"
            )
        # A corpus of fewer languages (e.g. a smoke test) gets the records of its languages only; the
        # whole file was still checked against its hash above.
        blocks = _language_blocks(path, content, entry)
        texts: dict[str, tuple[str, ...]] = {}
        statuses: dict[str, tuple[str, ...]] = {}
        for lang, (first_line, lines) in blocks.items():
            if lang in sources:
                texts[lang], statuses[lang] = _parse_block(path, first_line, lines, lang, sources[lang])
        recipes[entry["id"]] = RecipeSet(
            recipe_id=entry["id"],
            description=entry.get("description", ""),
            core=bool(entry["core"]),
            texts=texts,
            statuses=statuses,
            info=entry,
        )
    return PerturbationSet(dataset=dataset, version=version, manifest=manifest, recipes=recipes)


def load_external_recipe(path: str | Path, corpus: Any, recipe_id: str | None = None) -> RecipeSet:
    """An external recipe: JSONL of ``{"qid", "lang", "text"}`` (optional ``"provenance"`` header line).

    Every language the file mentions must be covered completely (a missing question would silently
    count as unperturbed); records may come in any order. External recipes never enter the main score.
    """
    path = Path(path)
    sources = _source_texts(corpus)
    header: dict[str, Any] = {}
    seen: dict[str, dict[str, str]] = {}
    for n, (where, rec) in enumerate(iter_jsonl(path, PerturbationSetError, what="external recipe"), start=1):
        if not isinstance(rec, dict):
            raise PerturbationSetError(f"{where}: expected a JSON object")
        if "recipe" in rec and n == 1:
            if not isinstance(rec["recipe"], dict):
                raise PerturbationSetError(f"{where}: 'recipe' header must be an object")
            header = rec["recipe"]
            continue
        for key in ("qid", "lang", "text"):
            if not isinstance(rec.get(key), str):
                raise PerturbationSetError(f"{where}: field {key!r} (a string) is missing")
        lang, qid = rec["lang"], rec["qid"]
        if lang not in sources:
            raise PerturbationSetError(
                f"{where}: language {lang!r} is not in {corpus.name} ({', '.join(sources)})"
            )
        if qid in seen.setdefault(lang, {}):
            raise PerturbationSetError(f"{where}: duplicate record for ({lang}, {qid})")
        seen[lang][qid] = rec["text"]
    if not seen:
        raise PerturbationSetError(f"external recipe {path}: no query records")
    rid = recipe_id or header.get("id") or f"external:{path.stem}"
    texts: dict[str, tuple[str, ...]] = {}
    statuses: dict[str, tuple[str, ...]] = {}
    for lang in sources:  # dataset order
        if lang not in seen:
            continue
        by_qid = seen[lang]
        known = {qid for qid, _ in sources[lang]}
        unknown = sorted(set(by_qid) - known)
        if unknown:
            raise PerturbationSetError(
                f"external recipe {path}: {len(unknown)} {lang} query id(s) not in {corpus.name}, "
                f"e.g. {unknown[:3]}"
            )
        missing = [qid for qid, _ in sources[lang] if qid not in by_qid]
        if missing:
            raise PerturbationSetError(
                f"external recipe {path}: covers {lang} but lacks {len(missing)} of its "
                f"{len(sources[lang])} questions, e.g. {missing[:3]}; include unchanged ones verbatim"
            )
        texts[lang] = tuple(by_qid[qid] for qid, _ in sources[lang])
        statuses[lang] = tuple(status_of(orig, by_qid[qid]) for qid, orig in sources[lang])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return RecipeSet(
        recipe_id=rid,
        description=str(header.get("description", f"external perturbations from {path.name}")),
        core=False,
        texts=texts,
        statuses=statuses,
        info={"id": rid, "file": str(path), "sha256": digest, "provenance": header.get("provenance", {})},
    )


# --- writing ---------------------------------------------------------------------------------------


def write_perturbation_set(
    folder: str | Path, manifest: Mapping[str, Any], contents: Mapping[str, bytes]
) -> Path:
    """Write manifest + recipe files (``contents``: file name -> uncompressed bytes) atomically.

    Everything goes to a temporary sibling folder first, which then replaces ``folder`` in one
    rename: a failed build leaves the previous set untouched and nothing half-written.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        for name, content in contents.items():
            (tmp / name).write_bytes(_gzip(content))
        (tmp / MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=False) + "\n", encoding="utf-8"
        )
        old = None
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
