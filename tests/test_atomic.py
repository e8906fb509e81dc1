"""Crash-safe folder and file replacement (hbt_bench.atomic): a kill between the two renames of a swap
is simulated by an ``os.replace`` that dies after its first call, as a SIGKILL would (no handler runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hbt_bench import atomic


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, and every later rename fails too (the process is gone)."""


def _die_after_first_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.replace
    calls = {"n": 0}

    def replace(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] > 1:
            raise Killed
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def _folder(path: Path, **files: str) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


def _content(path: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(path.iterdir())}


def _dead_pid() -> int:
    """The pid of a process that has exited (so its leftovers may be cleaned)."""
    code = "import os; print(os.getpid())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_replace_dir_swaps_and_leaves_nothing_behind(tmp_path: Path) -> None:
    final = _folder(tmp_path / "v1", a="old", b="old")
    staged = atomic.stage_dir(final)
    (staged / "a").write_text("new", encoding="utf-8")
    assert atomic.replace_dir(staged, final) == final
    assert _content(final) == {"a": "new"}
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]


def test_kill_between_the_renames_leaves_a_complete_set_and_the_next_run_restores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = _folder(tmp_path / "v1", a="old", b="old")
    staged = atomic.stage_dir(final)
    (staged / "a").write_text("new", encoding="utf-8")
    with monkeypatch.context() as m:
        _die_after_first_replace(m)
        with pytest.raises(Killed):
            atomic.replace_dir(staged, final)
    assert not final.exists()  # the window: the old folder is renamed aside, the new one not yet in
    # A reader finds the old, complete folder ...
    assert _content(atomic.complete_dir(final)) == {"a": "old", "b": "old"}
    # ... and the next run puts it back and removes the dead writer's staged folder.
    atomic.recover_dir(final)
    assert _content(final) == {"a": "old", "b": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]
    with atomic.staged_dir(final) as tmp:
        (tmp / "c").write_text("newer", encoding="utf-8")
    assert _content(final) == {"c": "newer"}
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]


def test_an_error_before_the_swap_leaves_the_old_folder(tmp_path: Path) -> None:
    final = _folder(tmp_path / "set", a="old")
    with pytest.raises(OSError, match="disk full"), atomic.staged_dir(final) as tmp:
        (tmp / "a").write_text("half", encoding="utf-8")
        raise OSError("disk full")
    assert _content(final) == {"a": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_recovery_touches_only_its_own_leftovers_of_dead_writers(tmp_path: Path) -> None:
    final = _folder(tmp_path / "v1", a="current")
    dead, live = _dead_pid(), os.getppid()
    stale_backup = _folder(tmp_path / f".v1.hbt-old-{dead}-abc", a="stale")
    stale_staged = _folder(tmp_path / f".v1.hbt-new-{dead}-xyz", a="half")
    legacy = _folder(tmp_path / f".v1.old-{dead}", a="legacy")  # the writer before hbt_bench.atomic
    live_backup = _folder(tmp_path / f".v1.hbt-old-{live}-def", a="in progress")
    others = [
        _folder(tmp_path / name, a="user")
        for name in (".v1.old", f".v2.hbt-old-{dead}-abc", "v1.hbt-old-1-a", ".v1.tmp-abc", "v2")
    ]
    atomic.recover_dir(final)
    assert _content(final) == {"a": "current"}
    assert not stale_backup.exists() and not stale_staged.exists() and not legacy.exists()
    assert live_backup.exists()  # another process may be between its two renames
    assert all(_content(p) == {"a": "user"} for p in others)


def test_a_legacy_backup_is_restored_when_the_set_is_missing(tmp_path: Path) -> None:
    _folder(tmp_path / f".v1.old-{_dead_pid()}", a="old set")  # what the previous writer left after a kill
    assert _content(atomic.complete_dir(tmp_path / "v1")) == {"a": "old set"}
    atomic.recover_dir(tmp_path / "v1")
    assert _content(tmp_path / "v1") == {"a": "old set"}
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]


def test_replace_dir_refuses_what_it_should_not_replace(tmp_path: Path) -> None:
    staged = atomic.stage_dir(tmp_path / "v1")
    (tmp_path / "v1").write_text("a file", encoding="utf-8")
    with pytest.raises(NotADirectoryError, match="v1 exists and is not a folder"):
        atomic.replace_dir(staged, tmp_path / "v1")
    assert (tmp_path / "v1").read_text(encoding="utf-8") == "a file"
    elsewhere = _folder(tmp_path / "other" / "staged")
    with pytest.raises(ValueError, match="not next to"):
        atomic.replace_dir(elsewhere, tmp_path / "v2")


def test_write_bytes_atomic_keeps_the_old_content_on_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.json"
    atomic.write_text_atomic(path, "old")
    with monkeypatch.context() as m:
        _die_after_first_replace(m)
        os.replace(tmp_path / "f.json", tmp_path / "f.json")  # uses up the one allowed call
        with pytest.raises(Killed):
            atomic.write_bytes_atomic(path, b"new")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    atomic.write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new"


@pytest.mark.parametrize(
    "write", [lambda p: atomic.write_text_atomic(p, "x"), lambda p: atomic.write_bytes_atomic(p, b"x")]
)
def test_small_atomic_writes_are_readable_by_others(tmp_path, write):
    # mkstemp's 0600 made shared result files private (seen on the old write_bytes_atomic: 0o600)
    path = tmp_path / "f.json"
    write(path)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.read_bytes() == b"x"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_an_exclusive_write_never_replaces_a_file(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    atomic.write_text_atomic(path, "first", exclusive=True)
    assert path.read_text(encoding="utf-8") == "first"
    assert path.stat().st_mode & 0o777 == 0o644
    with pytest.raises(FileExistsError):
        atomic.write_text_atomic(path, "second", exclusive=True)
    assert path.read_text(encoding="utf-8") == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["f.jsonl"]  # no staged file left behind
