"""The package's layering, checked from its source: imports only point down, and no import cycle exists.

The layer table below is the design (README "Layout"), written here by hand; the test reads every module's
imports with ``ast`` (module level and function level alike: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hbt_bench"

#: (layer, module prefixes), bottom first. A module may import its own layer or a lower one.
LAYERS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("errors", "paths", "jsonl", "atomic", "resources", "formatting", "version", "fingerprint")),
    (1, ("data", "metrics", "ranking", "runs", "per_query")),
    (2, ("encoders", "evaluate", "static_ml", "conversion")),
    (3, ("results", "predictions")),
    (4, ("adversarial",)),
    (5, ("plugin",)),
    (6, ("attacks", "training", "leaderboard", "reports", "scale")),
    (7, ("cli",)),
)
#: ``hbt_bench/__init__.py`` is the public facade (``register()``, ``__version__``): it sits above everything,
#: so no module of the package imports it (``__version__`` lives in ``version.py``).
FACADE_LAYER = 8
#: The core never imports these (heavy or optional); the TextAttack layer of adversarial/ and above may.
CORE_FORBIDDEN = ("textattack", "matplotlib", "hbt_bench.training", "sentence_transformers.trainer")
CORE_LAYERS = range(0, 4)


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path  # "" is the package itself
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, int, bool]]:
    """(imported name relative to the package or absolute if outside, line, at module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(["hbt_bench", *base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            # `from hbt_bench.plugin import tasks` imports the submodule hbt_bench.plugin.tasks
            targets = []
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                short = sub.removeprefix("hbt_bench.")
                targets.append(sub if short in MODULES else mod)
        else:
            continue
        for target in targets:
            found.append((target, node.lineno, id(node) in top_level))
    return found


def _layer(module: str) -> int | None:
    if module == "":
        return FACADE_LAYER
    head = module.split(".")[0]
    for layer, prefixes in LAYERS:
        if head in prefixes:
            return layer
    return None


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        deps = set()
        for target, _, _ in _imports(name, path):
            if target == "hbt_bench" or target.startswith("hbt_bench."):
                deps.add(target.removeprefix("hbt_bench").removeprefix("."))
        edges[name] = deps - {name}
    return edges


def test_every_module_has_a_layer():
    unplaced = [name for name in MODULES if _layer(name) is None]
    assert not unplaced, f"modules outside the layer table (add them to README Layout and LAYERS): {unplaced}"


def test_imports_point_down():
    upward = []
    for name, deps in _edges().items():
        for dep in deps:
            if _layer(dep) is not None and _layer(name) is not None and _layer(dep) > _layer(name):
                upward.append(f"{name} (layer {_layer(name)}) imports {dep} (layer {_layer(dep)})")
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycle():
    edges = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    assert not cycles, cycles


def test_only_the_plugin_imports_mteb_at_module_level():
    # Registration relies on it: plugin/__init__ imports mteb first, so mteb's autoload hook never finds one
    # of our modules half-executed (see hbt_bench.plugin.register).
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for name, path in MODULES.items()
        if _layer(name) != 5
        for target, line, top in _imports(name, path)
        if top and (target == "mteb" or target.startswith("mteb."))
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("forbidden", CORE_FORBIDDEN)
def test_the_core_imports_no_heavy_or_optional_layer(forbidden):
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        for name, path in MODULES.items()
        if _layer(name) in CORE_LAYERS
        for target, line, _ in _imports(name, path)
        if target == forbidden or target.startswith(forbidden + ".")
    ]
    assert not offenders, offenders


def test_the_checker_sees_a_planted_upward_import(tmp_path, monkeypatch):
    # The scan itself must be able to fail: an upward import written into a copy of a core module is found.
    fake = tmp_path / "metrics.py"
    fake.write_text("from hbt_bench.plugin import tasks\n\ndef f():\n    import hbt_bench.cli\n")
    found = {t for t, _, _ in _imports("metrics", fake)}
    assert {"hbt_bench.plugin.tasks", "hbt_bench.cli"} <= found
