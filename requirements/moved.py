"""Print which installed packages differ from the lock (``make test-latest``); stdlib only.

Run with the interpreter of the environment to compare: ``.venv-latest/bin/python requirements/moved.py``.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for name in ("lock.txt", "textattack.txt"):
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            m = PIN.match(line)
            if m:
                pins[canonical(m.group(1))] = m.group(2)
    return pins


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


def main() -> int:
    lock, have = locked(), installed()
    have.pop("hbt-bench", None)
    moved = sorted((n, lock[n], v) for n, v in have.items() if n in lock and v != lock[n])
    added = sorted(
        (n, v) for n, v in have.items() if n not in lock and n not in {"pip", "setuptools", "wheel"}
    )
    missing = sorted(n for n in lock if n not in have)
    counts = f"{len(moved)} moved, {len(added)} new, {len(missing)} absent"
    print(f"compared with the lock ({len(lock)} pins): {counts}")
    for name, old, new in moved:
        print(f"  moved   {name}: {old} -> {new}")
    for name, new in added:
        print(f"  new     {name}: {new}")
    for name in missing:
        print(f"  absent  {name} (locked {lock[name]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
