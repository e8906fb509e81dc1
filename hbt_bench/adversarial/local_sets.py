"""Where a user's own mMARCO-R perturbation set lives (inside their build) and whether it belongs to it.

What the mMARCO-R-Adv task needs at construction and load time, kept apart from the set *building* code
(:mod:`hbt_bench.adversarial.mmarco_sets`) so that mteb's task import stays light. Stdlib only, plus the
set reader and the build's manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hbt_bench.adversarial.perturbation_sets import (
    MANIFEST,
    PerturbationSetError,
    read_set_manifest,
    set_folder,
)
from hbt_bench.data.mmarco import DATASET, read_manifest

__all__ = [
    "ATTACK_BUILD_COMMAND",
    "local_set_folder",
    "local_sets_root",
    "query_file_shas",
    "set_digest",
    "verify_local_set",
]

ATTACK_BUILD_COMMAND = "hbt-bench attack build --dataset mmarco-r"


def local_sets_root(build: Path) -> Path:
    """Where a build's own perturbation sets live: inside the build (never shipped, like its text)."""
    return build / "perturbations"


def local_set_folder(build: Path, version: str) -> Path:
    return set_folder(local_sets_root(build), DATASET, version)


def query_file_shas(manifest: Mapping[str, Any]) -> dict[str, str]:
    """lang -> sha256 of the build's ``<lang>/queries.jsonl`` (from its manifest, which loading verifies)."""
    files = manifest.get("files", {})
    langs = manifest.get("parameters", {}).get("languages", [])
    return {lang: str(files.get(f"{lang}/queries.jsonl", {}).get("sha256")) for lang in langs}


def set_digest(folder: Path) -> str | None:
    """Short digest of a set's recipe-file sha256s (None when there is no readable manifest): the tag that
    keeps results on different local sets apart."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        pairs = [f"{e['id']}:{e['sha256']}" for e in manifest["recipes"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return hashlib.sha256("\n".join(pairs).encode("utf-8")).hexdigest()[:12]


def verify_local_set(build: Path, version: str) -> Path:
    """The local set's folder, checked to exist and to have been built from this build (query-file sha256s);
    the records themselves are verified when the task loads them."""
    folder = local_set_folder(build, version)
    if not (folder / MANIFEST).is_file():
        raise PerturbationSetError(
            f"no mMARCO-R perturbation set {version} in {folder}: build it from this mMARCO-R build with "
            f"`{ATTACK_BUILD_COMMAND} --version {version}` (needs the attack extra, TextAttack)"
        )
    manifest = read_set_manifest(folder)
    built_from = manifest["source"].get("files") if isinstance(manifest["source"], dict) else None
    current = query_file_shas(read_manifest(build))
    if built_from != current:
        differ = sorted(
            lang
            for lang in {*(built_from or {}), *current}
            if (built_from or {}).get(lang) != current.get(lang)
        )
        raise PerturbationSetError(
            f"{folder / MANIFEST}: the set was built from another mMARCO-R build (query files of "
            f"{', '.join(differ)} differ from {build}'s): rebuild it with `{ATTACK_BUILD_COMMAND} --version "
            f"{version}`"
        )
    return folder
