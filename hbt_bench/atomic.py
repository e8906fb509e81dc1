"""Crash-safe replacement of a folder or file: one helper for every writer of finished outputs.

A folder (a perturbation set, a trained model) is written completely into a staged sibling, then
swapped in by :func:`replace_dir`. POSIX has no portable atomic exchange of two folders, so the swap
is two renames, ``final -> backup`` then ``staged -> final``, with a window between them where
``final`` is absent. The backup's name, ``.<final>.hbt-old-<pid>-<random>``, is what makes the window
harmless:

- a reader calls :func:`complete_dir`, which returns ``final`` or, inside the window (or after a kill
  in it), the backup: always a complete folder, the old one;
- the next writer calls :func:`recover_dir` (:func:`replace_dir` and :func:`staged_dir` do it first),
  which puts a backup whose writer is dead back at ``final`` if ``final`` is missing, and otherwise
  removes it, together with that writer's staged folders (``.<final>.hbt-new-<pid>-<random>``).

Only names of that form, in ``final``'s own parent folder, whose process is no longer running, are
ever renamed or removed by recovery; the previous set's writer (``.<final>.old-<pid>``) is
recognised too. Stdlib only.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_writer",
    "complete_dir",
    "leftovers",
    "recover_dir",
    "replace_dir",
    "stage_dir",
    "staged_dir",
    "write_bytes_atomic",
    "write_text_atomic",
]

_OLD = "hbt-old"
_NEW = "hbt-new"


def _pattern(final: Path, kind: str) -> re.Pattern[str]:
    name = re.escape(final.name)
    if kind == "legacy-old":  # the set writer before this module: .<name>.old-<pid>
        return re.compile(rf"\.{name}\.old-(?P<pid>\d+)")
    return re.compile(rf"\.{name}\.{kind}-(?P<pid>\d+)-[A-Za-z0-9_]+")


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (then its swap may be in progress: leave its folders)."""
    if pid == os.getpid():
        return False  # ours: a swap of this process is not in progress while we recover
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _leftovers(final: Path, kind: str) -> list[tuple[Path, int]]:
    """(folder, writer pid) of every leftover of ``kind`` next to ``final``, newest first."""
    if not final.parent.is_dir():
        return []
    patterns = [_pattern(final, kind)] + ([_pattern(final, "legacy-old")] if kind == _OLD else [])
    found = []
    for path in final.parent.iterdir():
        match = next((m for pat in patterns if (m := pat.fullmatch(path.name))), None)
        if match and path.is_dir() and not path.is_symlink():
            found.append((path, int(match["pid"])))
    return sorted(found, key=lambda item: item[0].stat().st_mtime_ns, reverse=True)


def leftovers(final: str | Path, kind: str = _OLD) -> list[Path]:
    """Folders an interrupted swap of ``final`` left, newest first: ``kind`` is ``"hbt-old"``
    (backups of the previous ``final``, the legacy ``.<name>.old-<pid>`` included) or ``"hbt-new"``
    (staged folders)."""
    return [path for path, _ in _leftovers(Path(final), kind)]


def complete_dir(final: str | Path) -> Path:
    """``final`` if it exists, else the backup an interrupted swap left (the previous, complete
    folder), else ``final`` (so that the caller's "not found" error names it). Changes nothing."""
    final = Path(final)
    if final.exists():
        return final
    backups = leftovers(final, _OLD)
    return backups[0] if backups else final


def recover_dir(final: str | Path, keep: str | Path | None = None) -> None:
    """Undo what a killed swap of ``final`` left: restore its backup if ``final`` is missing, then
    remove the backups and staged folders of writers that are no longer running (except ``keep``,
    the folder this process is about to swap in)."""
    final = Path(final)
    keep = Path(keep).resolve() if keep is not None else None
    dead_backups = [path for path, pid in _leftovers(final, _OLD) if not _alive(pid)]
    if dead_backups and not (final.exists() or final.is_symlink()):
        os.replace(dead_backups.pop(0), final)
    dead_staged = [
        path for path, pid in _leftovers(final, _NEW) if not _alive(pid) and path.resolve() != keep
    ]
    for path in dead_backups + dead_staged:
        shutil.rmtree(path, ignore_errors=True)


def stage_dir(final: str | Path) -> Path:
    """A fresh, empty staged folder next to ``final`` (same file system, so the swap is a rename)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.{_NEW}-{os.getpid()}-"))
    staged.chmod(0o755)  # mkdtemp's 0700 would make the finished folder private
    return staged


def _fsync_dir(path: Path) -> None:
    """Persist a folder's entries (the renames) where the platform allows it."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def replace_dir(staged: str | Path, final: str | Path) -> Path:
    """Put the complete folder ``staged`` at ``final`` (replacing what is there) crash-safely.

    ``staged`` must be in ``final``'s parent folder. At every instant ``final`` or, for a moment, a
    recognisable backup (see :func:`complete_dir`) is a complete folder; the backup is removed once
    the new folder is in place.
    """
    staged, final = Path(staged), Path(final)
    if staged.parent.resolve() != final.parent.resolve():
        raise ValueError(f"staged folder {staged} is not next to {final}: the swap would not be a rename")
    if not staged.is_dir():
        raise FileNotFoundError(f"staged folder {staged} does not exist")
    recover_dir(final, keep=staged)
    backup = None
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise NotADirectoryError(f"{final} exists and is not a folder: not replacing it")
    if final.exists():
        backup = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.{_OLD}-{os.getpid()}-"))
        os.replace(final, backup)  # onto the empty folder just made: atomic, and the name is ours
    try:
        os.replace(staged, final)
    except BaseException:
        if backup is not None and not final.exists():
            with contextlib.suppress(OSError):
                os.replace(backup, final)
        raise
    _fsync_dir(final.parent)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return final


@contextlib.contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """``with staged_dir(final) as tmp: <write into tmp>``: swapped in at ``final`` on success,
    removed on any error (``final`` is then untouched)."""
    final = Path(final)
    recover_dir(final)
    tmp = stage_dir(final)
    try:
        yield tmp
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, *, exclusive: bool = False) -> Path:
    """Write ``path`` so that it holds either its old content or all of ``data``, never a part (mode 0644,
    as :func:`atomic_writer`); ``exclusive``: fail with FileExistsError rather than replace a file."""
    with atomic_writer(path, "wb", exclusive=exclusive) as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(
    path: str | Path, text: str, encoding: str = "utf-8", *, exclusive: bool = False
) -> Path:
    """:func:`write_bytes_atomic` for text."""
    return write_bytes_atomic(path, text.encode(encoding), exclusive=exclusive)


#: Mode of a file :func:`atomic_writer` puts in place: what ``open()`` gives under the usual umask 022
#: (``mkstemp``'s 0600 would make a shared results file private).
_FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_writer(
    path: str | Path, mode: str = "w", encoding: str | None = "utf-8", *, exclusive: bool = False
) -> Iterator[IO[Any]]:
    """``with atomic_writer(path) as f: <write to f>``: a file written as a stream (too big to hold as
    one string, e.g. a run's predictions) appears at ``path`` whole, or not at all.

    ``f`` is a staged sibling ``.<name>.hbt-new-<pid>-<random>``; on success it is flushed, synced, given
    mode 0644 and renamed onto ``path``; on any error it is removed and ``path`` keeps its old content.
    ``mode`` is ``"w"`` (text, ``encoding``) or ``"wb"``. ``exclusive``: the staged file is hard-linked
    to ``path`` instead of renamed, which fails with FileExistsError if ``path`` exists by then (two
    writers at once: exactly one wins, nothing is replaced).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_writer mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_NEW}-{os.getpid()}-")
    try:
        with os.fdopen(fd, mode, encoding=None if mode == "wb" else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _FILE_MODE)
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
