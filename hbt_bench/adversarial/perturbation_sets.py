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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbt_bench.atomic import complete_dir, recover_dir, staged_dir
from hbt_bench.errors import HbtBenchError
from hbt_bench.jsonl import iter_jsonl
from hbt_bench.paths import UnsafeNameError, safe_component

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "MAX_HEADER_DEPTH",
    "PERTURBATIONS_DIR_ENV",
    "SET_VERSION",
    "STATUSES",
    "PerturbationSet",
    "PerturbationSetError",
    "RecipeSet",
    "apply_edits",
    "compute_edits",
    "encode_records",
    "external_recipe_id",
    "load_external_recipe",
    "load_perturbation_set",
    "perturbations_dir",
    "read_set_manifest",
    "record_line",
    "set_folder",
    "status_of",
    "text_check",
    "write_perturbation_set",
]

FORMAT_VERSION = 1
STATUSES = ("perturbed", "unchanged", "empty")
MANIFEST = "manifest.json"
#: The set version the -Adv tasks load by default (``perturbations`` in ``tasks/*_adv.toml``, which a
#: test keeps equal to this) and that ``hbt-bench attack build`` writes or checks by default. v1 stays
#: shipped and loadable; v2 changed only character noise in mixed-script words (see recipes).
SET_VERSION = "v2"
#: How deep an external recipe's header may nest (``{"recipe": {"provenance": {...}}}`` is 3).
MAX_HEADER_DEPTH = 8


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
    """File name of a recipe's records (``@`` is avoided in file names); the id must be a safe name."""
    safe_component(recipe_id, "recipe id")
    return recipe_id.replace("@", "__") + ".jsonl.gz"


def set_folder(root: str | Path, dataset: object, version: object) -> Path:
    """``<root>/<dataset>/<version>``, with both names checked: ``""``, ``.``, ``..``, ``../mlqa-r``
    or an absolute path would otherwise point at the dataset folder, its parent or another dataset."""
    return Path(root) / safe_component(dataset, "dataset") / safe_component(version, "version")


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
    if not isinstance(manifest["recipes"], list):
        raise PerturbationSetError(f"{path}: field 'recipes' must be a list")
    for k, entry in enumerate(manifest["recipes"]):
        where = f"{path}: recipes[{k}]"
        if not isinstance(entry, dict):
            raise PerturbationSetError(f"{where}: expected an object")
        fields = (("id", str), ("file", str), ("sha256", str), ("core", bool), ("languages", list))
        for key, kind in (*fields, ("counts", dict)):
            if not isinstance(entry.get(key), kind):
                raise PerturbationSetError(f"{where}: field {key!r} ({kind.__name__}) is missing or invalid")
        try:
            safe_component(entry["file"], "file")
        except UnsafeNameError as exc:
            raise PerturbationSetError(f"{where}: {exc}") from None
    return manifest


def read_set_manifest(folder: str | Path) -> dict[str, Any]:
    """A set's checked manifest (format, required fields, safe file names); errors name the file."""
    return _read_manifest(Path(folder))


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
    folder = set_folder(root if root is not None else perturbations_dir(), dataset, version)
    # A writer killed mid-swap leaves the previous set under a recognisable backup name: read that.
    folder = complete_dir(folder)
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


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def external_recipe_id(value: object, where: str, reserved_ids: Collection[str] = ()) -> str:
    """An external recipe id: a safe name, not a built-in recipe's (``name@strength``) nor reserved."""
    if not isinstance(value, str):
        raise PerturbationSetError(f"{where}: recipe id must be a string, got {type(value).__name__}")
    try:
        safe_component(value, "recipe id")
    except UnsafeNameError as exc:
        raise PerturbationSetError(f"{where}: {exc}") from None
    if "@" in value or value in reserved_ids:
        raise PerturbationSetError(
            f"{where}: recipe id {value!r} is taken: ids with '@' (name@strength) belong to the shipped "
            "recipes, and every recipe of a task needs its own id; rename it"
        )
    return value


def _parse_header(where: str, header: Any, reserved_ids: Collection[str]) -> dict[str, Any]:
    """Check an external recipe's ``{"recipe": {...}}`` header line; errors name ``where``."""
    if not isinstance(header, dict):
        raise PerturbationSetError(f"{where}: 'recipe' header must be an object")
    if _depth(header) > MAX_HEADER_DEPTH - 1:
        raise PerturbationSetError(f"{where}: header nested deeper than {MAX_HEADER_DEPTH} levels")
    if "id" in header:
        external_recipe_id(header["id"], where, reserved_ids)
    if not isinstance(header.get("description", ""), str):
        raise PerturbationSetError(f"{where}: 'description' must be a string")
    if not isinstance(header.get("provenance", {}), dict):
        raise PerturbationSetError(f"{where}: 'provenance' must be an object")
    return header


def load_external_recipe(
    path: str | Path,
    corpus: Any,
    recipe_id: str | None = None,
    *,
    reserved_ids: Collection[str] = (),
) -> RecipeSet:
    """An external recipe: JSONL of ``{"qid", "lang", "text"}`` (optional ``"provenance"`` header line).

    Every language the file mentions must be covered completely (a missing question would silently
    count as unperturbed); records may come in any order. External recipes never enter the main score.
    The header's ``id`` (or ``recipe_id``) must be a safe name without ``@`` (the shipped recipes'
    ``name@strength``) and not in ``reserved_ids`` (the ids already in the task), so it cannot
    replace a shipped recipe's scores.
    """
    path = Path(path)
    sources = _source_texts(corpus)
    header: dict[str, Any] = {}
    header_where = f"{path}, line 1"
    seen: dict[str, dict[str, str]] = {}
    for n, (where, rec) in enumerate(iter_jsonl(path, PerturbationSetError, what="external recipe"), start=1):
        if not isinstance(rec, dict):
            raise PerturbationSetError(f"{where}: expected a JSON object")
        if "recipe" in rec and n == 1:
            header, header_where = _parse_header(where, rec["recipe"], reserved_ids), where
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
    if recipe_id is not None:
        rid = external_recipe_id(recipe_id, f"external recipe {path}: recipe_id", reserved_ids)
    elif "id" in header:
        rid = header["id"]
    else:
        rid = f"external:{path.stem}"
        if rid in reserved_ids:
            raise PerturbationSetError(
                f"{header_where}: recipe id {rid!r} is taken; give the file a header id"
            )
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


def _check_replaceable(folder: Path, dataset: str, version: str) -> None:
    """Refuse to replace anything but an empty folder or a set of the same dataset and version."""
    if not (folder.exists() or folder.is_symlink()):
        return
    if folder.is_symlink() or not folder.is_dir():
        raise PerturbationSetError(f"{folder} exists and is not a folder: not replacing it")
    if not any(folder.iterdir()):
        return
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        ok = isinstance(manifest, dict) and (manifest.get("dataset"), manifest.get("version")) == (
            dataset,
            version,
        )
    except (OSError, ValueError, RecursionError):
        ok = False
    if not ok:
        raise PerturbationSetError(
            f"{folder} exists and is not the {dataset} {version} perturbation set (no matching "
            f"{MANIFEST}): not replacing it; remove it or choose another version or --out"
        )


def write_perturbation_set(
    folder: str | Path, manifest: Mapping[str, Any], contents: Mapping[str, bytes]
) -> Path:
    """Write manifest + recipe files (``contents``: file name -> uncompressed bytes) crash-safely.

    ``folder`` must be ``<root>/<dataset>/<version>`` of the manifest (both safe names), and may only
    replace a set of that dataset and version. Everything goes to a staged sibling folder first, which
    :func:`hbt_bench.atomic.replace_dir` swaps in: a failed or killed build leaves the previous set
    readable (and restored by the next run) and nothing half-written.
    """
    folder = Path(folder)
    try:
        dataset = safe_component(manifest.get("dataset"), "manifest dataset")
        version = safe_component(manifest.get("version"), "manifest version")
        for name in contents:
            safe_component(name, "recipe file name")
    except UnsafeNameError as exc:
        raise PerturbationSetError(f"perturbation set {folder}: {exc}") from None
    if (folder.parent.name, folder.name) != (dataset, version) or MANIFEST in contents:
        raise PerturbationSetError(
            f"perturbation set {folder}: expected a folder <root>/{dataset}/{version} and recipe files "
            f"other than {MANIFEST}"
        )
    recover_dir(folder)
    _check_replaceable(folder, dataset, version)
    with staged_dir(folder) as tmp:
        for name, content in contents.items():
            (tmp / name).write_bytes(_gzip(content))
        (tmp / MANIFEST).write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=False) + "\n", encoding="utf-8"
        )
    return folder
